"""A regular (non-editable) install works away from the checkout: the wheel carries the default
configs and class maps as package data, and the `paddle-inception` console script runs `summary`
and `infer` from a folder outside the repository."""

import json
import os
import site
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import FASHION_MNIST_NAMES, ROOT

pytestmark = pytest.mark.slow


#: no PYTHONPATH: the subprocesses must see only what was installed
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _run(cmd, cwd, timeout=300):
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV)
    assert res.returncode == 0, f"{cmd} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    return res


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A wheel built from the checkout, pip-installed into a new venv that borrows this
    interpreter's site-packages for paddle and numpy (not its editable paddle_inception)."""
    tmp = tmp_path_factory.mktemp("pkg")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(tmp / "dist"),
            ROOT,
        ],
        cwd=str(tmp),
    )
    wheels = list((tmp / "dist").glob("paddle_inception-*.whl"))
    assert len(wheels) == 1
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=str(tmp))
    py = venv / "bin" / "python"
    _run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheels[0])],
        cwd=str(tmp),
    )
    # then paddle & co. from this interpreter, as a plain path in a .pth file: the borrowed
    # dir's own .pth files (the checkout's editable install) are not processed
    purelib = _run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=str(tmp)
    ).stdout.strip()
    with open(os.path.join(purelib, "borrowed.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    outside = tmp / "elsewhere"
    outside.mkdir()
    return dict(
        wheel=wheels[0],
        venv=venv,
        py=py,
        cwd=str(outside),
        script=str(venv / "bin" / "paddle-inception"),
    )


def test_wheel_ships_configs_and_class_maps(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    for f in (
        "paddle_inception/configs/googlenet.yaml",
        "paddle_inception/configs/imagenet/inception_v3.yaml",
        "paddle_inception/configs/class_maps/fashion_mnist.txt",
        "paddle_inception/configs/class_maps/imagenet1k.txt",
    ):
        assert f in names, f
    assert not any(n.startswith(("tests/", "benchmarks/", "tools/")) for n in names)


def test_installed_package_is_not_the_checkout(installed):
    out = _run(
        [str(installed["py"]), "-c", "import paddle_inception as p; print(p.__file__)"],
        installed["cwd"],
    ).stdout.strip()
    assert out.startswith(str(installed["venv"])) and not out.startswith(ROOT)


def test_console_script_summary_outside_the_repo(installed):
    res = _run(
        [installed["script"], "summary", "--model", "googlenet", "--no-table", "--format", "json"],
        installed["cwd"],
    )
    info = json.loads(res.stdout)
    assert info["params"]["trainable"] == 13_378_280 and info["model"] == "googlenet"


def test_console_script_infer_with_a_packaged_config(installed, tmp_path):
    from PIL import Image

    img = tmp_path / "shirt.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (28, 28), np.uint8)).save(img)
    # `-c googlenet.yaml` is the config shipped in the package; its class map (Fashion-MNIST
    # names) is package data too
    res = _run(
        [
            installed["script"],
            "infer",
            "-c",
            "googlenet.yaml",
            str(img),
            "--format",
            "json",
            "-k",
            "10",
        ],
        installed["cwd"],
    )
    out = json.loads(res.stdout)
    names = out["results"][0]["label_names"]
    assert sorted(names) == sorted(FASHION_MNIST_NAMES)
