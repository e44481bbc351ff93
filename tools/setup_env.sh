#!/usr/bin/env bash
# Set up a fresh machine: Fashion-MNIST from Debian (when root) and a virtualenv in .venv with
# this package and its test dependencies. Safe to run again (it only installs what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
    else
        echo "note: Fashion-MNIST not found; run 'sudo apt-get install dataset-fashion-mnist'" >&2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip "setuptools>=77" >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/python -c "import paddle, paddle_inception; print('paddle', paddle.__version__, '| models:', ', '.join(paddle_inception.list_models()))"
