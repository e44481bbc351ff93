"""Quiet by default (issue 27): a command prints our lines only. Paddle's import-time and
first-call messages (Python warnings, glog INFO lines) are filtered at the command-line entry;
`--verbose` shows them; library users keep Python's normal warning behaviour."""

import re
import subprocess
import sys

import pytest
from conftest import ROOT, checkout_env

#: what must not reach a user's stderr: a Python warning, or a glog line ('I1206 04:50:33.3 ...')
NOISE = re.compile(r"Warning|^[IWE]\d{4} \d\d:\d\d:\d\d", re.M)


def _run(args, timeout=300, **env):
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={k: v for k, v in checkout_env(**env).items() if v is not None},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["-m", "paddle_inception", "--help"],
        ["-m", "paddle_inception", "infer", "--help"],
        ["-m", "paddle_inception", "summary", "--model", "googlenet"],
    ],
    ids=["help", "infer-help", "summary"],
)
def test_commands_print_no_warning(args):
    r = _run(args)
    assert r.returncode == 0, r.stderr
    assert not NOISE.search(r.stderr), r.stderr


@pytest.mark.slow
def test_one_step_of_the_main_job_prints_only_our_lines(tmp_path):
    r = _run(
        [
            "tools/train.py",
            "-c",
            "configs/googlenet.yaml",
            "-o",
            "Global.epochs=1",
            "-o",
            "DataLoader.Train.dataset.num_samples=128",
            "-o",
            "DataLoader.Eval.dataset.num_samples=128",
            "-o",
            f"Global.output_dir={tmp_path}",
        ]
    )
    assert r.returncode == 0, r.stderr
    assert not NOISE.search(r.stderr), r.stderr
    assert not NOISE.search(r.stdout), r.stdout
    assert "The loss value printed in the log" not in r.stdout  # paddle.hapi's reading note
    assert "done: 1 epochs" in r.stdout


_FILTERS = (
    "import sys, warnings; sys.argv[1:] = {argv!r}; import paddle_inception{mod}; "
    "print(sum('ccache' in (f[1].pattern if f[1] else '') for f in warnings.filters), "
    "__import__('os').environ.get('GLOG_minloglevel'))"
)


@pytest.mark.parametrize(
    "argv, mod, env, expected",
    [
        (["summary"], ".cli", {}, "1 1"),  # the command line: filtered
        (["summary", "--verbose"], ".cli", {}, "0 None"),  # --verbose: everything shown
        (["summary"], ".cli", {"PADDLE_INCEPTION_VERBOSE": "1"}, "0 None"),
        (["summary"], "", {}, "0 None"),  # the library alone changes nothing process-wide
    ],
    ids=["cli", "cli-verbose", "cli-verbose-env", "library"],
)
def test_filters_only_at_the_command_line(argv, mod, env, expected):
    environ = {"GLOG_minloglevel": None, **env}
    r = _run(["-c", _FILTERS.format(argv=argv, mod=mod)], timeout=120, **environ)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == expected.split()


@pytest.mark.parametrize(
    "statement",
    ["import paddle_inception", "from paddle_inception import cli", "import paddle_inception.cli"],
)
def test_the_package_root_imports_paddle_lazily(statement):
    r = _run(["-c", f"import sys; {statement}; print('paddle' in sys.modules)"], timeout=120)
    assert r.stdout.strip() == "False", r.stderr


def test_the_zoo_is_one_attribute_away():
    r = _run(["-c", "import paddle_inception as pi; print(pi.list_models()[0])"], timeout=120)
    assert r.stdout.strip() == "bninception", r.stderr
