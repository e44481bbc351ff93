"""Issue 11: nothing a user loads can run code, crash, hang or silently lie.

Each test builds a hostile (or careless) file in a temp dir and checks the outcome: one clear
error naming the file or key, in bounded time and memory, nothing executed, nothing lost. Every
subprocess runs under a timeout, so a regression fails instead of hanging CI.
"""

import os
import subprocess
import sys
import time

import pytest
from conftest import ROOT, checkout_env

from paddle_inception.config import ConfigError, load_config, validate_config

DEFAULT = os.path.join(ROOT, "configs", "googlenet.yaml")
TOOLS = os.path.join(ROOT, "tools")


def run_tool(tool, *args, timeout=120, cwd=None):
    """tools/<tool>.py with args: (returncode, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, os.path.join(TOOLS, tool), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=checkout_env(),
        cwd=cwd,
    )
    return proc.returncode, proc.stdout, proc.stderr


def error_line(stderr: str) -> str:
    """The `error: ...` line a tool printed (and no traceback)."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error: ")]
    assert lines, stderr[-3000:]
    return lines[0]


# ============================================================ 3. configs: bounded, no traceback
def _bomb_lines(levels=10, width=9):
    """A 'billion laughs': each anchor is a list of `width` aliases of the previous one."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return lines


def _default_with(extra_yaml: str, tmp_path, name="cfg.yaml"):
    text = open(DEFAULT, encoding="utf-8").read()
    path = tmp_path / name
    path.write_text(text + extra_yaml, encoding="utf-8")
    return path


def test_alias_bomb_in_a_file_is_refused_quickly(tmp_path):
    # 9**10 = 3.5e9 strings once expanded, in under 1 KB, put where the schema shows values
    body = "".join(f"  {ln}\n" for ln in _bomb_lines())
    path = tmp_path / "bomb.yaml"
    path.write_text("Bombs:\n" + body + "Global:\n  epochs: *l9\n", encoding="utf-8")
    assert path.stat().st_size < 3000
    t0 = time.time()
    with pytest.raises(ConfigError, match=r"bomb\.yaml:\d+: the alias \*l\d expands the config"):
        load_config(path)
    assert time.time() - t0 < 5


def test_alias_bomb_under_a_free_form_key_is_refused(tmp_path):
    body = "".join(f"    {ln}\n" for ln in _bomb_lines())
    path = _default_with("", tmp_path)
    text = path.read_text().replace("Arch:\n", "Arch:\n  x:\n" + body, 1)
    path.write_text(text)
    with pytest.raises(ConfigError, match="alias bomb"):
        load_config(path)


def test_modest_aliases_still_work(tmp_path):
    path = _default_with("", tmp_path)
    text = path.read_text().replace("      mean: [0.2860]\n", "      mean: &m [0.2860]\n", 1)
    text = text.replace("      mean: [0.2860]\n", "      mean: *m\n", 1)
    path.write_text(text)
    cfg = load_config(path)
    assert cfg["DataLoader"]["Eval"]["dataset"]["transform_ops"][1]["NormalizeImage"]["mean"] == [
        0.286
    ]


def test_alias_in_an_override_value_is_refused():
    value = "[&a [x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a]]"
    with pytest.raises(ConfigError, match="anchors and aliases .* are not allowed"):
        load_config(DEFAULT, [f"Global.epochs={value}"])
    # text that merely looks like an alias stays a string
    cfg = load_config(DEFAULT, ["Global.output_dir=*.out"])
    assert cfg["Global"]["output_dir"] == "*.out"


def test_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "rec.yaml"
    path.write_text("Global: &g\n  x: *g\n")
    with pytest.raises(ConfigError, match=r"rec\.yaml:2: the alias \*g is inside the value"):
        load_config(path)


def test_deep_nesting_in_a_file_is_a_config_error(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("Global:\n  x: " + "[" * 20000 + "]" * 20000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.yaml:2: nested more than 64 levels deep"):
        load_config(path)


def test_deep_override_value_and_key_are_config_errors():
    with pytest.raises(ConfigError, match="nested more than 64 levels deep"):
        load_config(DEFAULT, ["Arch.x=" + "[" * 3000 + "]" * 3000])
    with pytest.raises(ConfigError, match="the key is 3002 levels deep") as e:
        load_config(DEFAULT, ["Arch." + "a." * 3000 + "x=1"])
    assert len(str(e.value)) < 400  # the override is cut in the message
    # each part within limits, together too deep: found by the whole-config check
    with pytest.raises(ConfigError, match="nested more than 64 levels deep"):
        load_config(DEFAULT, ["Arch." + "a." * 40 + "x=" + "[" * 40 + "]" * 40])


def test_programmatic_configs_are_bounded_too():
    cfg = load_config(DEFAULT)
    shared = ["x"] * 10
    for _ in range(8):
        shared = [shared] * 10  # 10**9 leaves, ~90 objects
    cfg["Arch"]["x"] = shared
    with pytest.raises(ConfigError, match="more than 100,000 values"):
        validate_config(cfg)
    cyclic = []
    cyclic.append(cyclic)
    cfg["Arch"]["x"] = cyclic
    with pytest.raises(ConfigError, match="contains itself"):
        validate_config(cfg)


def test_error_messages_show_values_boundedly():
    from paddle_inception.config.schema import _show

    big = ["x" * 1000]
    for _ in range(30):
        big = [big] * 10
    t0 = time.time()
    shown = _show(big)
    assert time.time() - t0 < 1 and len(shown) == 80 and shown.endswith("...")
    deep = []
    for _ in range(100000):
        deep = [deep]
    assert _show(deep) == "[" * 77 + "..."
    assert _show({"a": (1,), "b": [None, 2.5, "s"]}) == repr({"a": (1,), "b": [None, 2.5, "s"]})


def test_oversized_and_non_utf8_config_files(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(17 * 2**20)
    with pytest.raises(ConfigError, match=r"big\.yaml: larger than 16 MiB"):
        load_config(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"Global:\n  output_dir: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin\.yaml:2: not UTF-8 text"):
        load_config(latin)


def test_cli_reports_config_problems_in_one_line(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("Global:\n  x: " + "[" * 20000 + "]" * 20000 + "\n")
    rc, _, err = run_tool("train.py", "-c", path, timeout=60)
    assert rc == 2 and "nested more than 64 levels deep" in error_line(err)
    rc, _, err = run_tool("eval.py", "-c", DEFAULT, "-o", "Arch." + "a." * 3000 + "x=1")
    assert rc == 2 and "levels deep" in error_line(err)
