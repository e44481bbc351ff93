"""Issue 11: nothing a user loads can run code, crash, hang or silently lie.

Each test builds a hostile (or careless) file in a temp dir and checks the outcome: one clear
error naming the file or key, in bounded time and memory, nothing executed, nothing lost. Every
subprocess runs under a timeout, so a regression fails instead of hanging CI.
"""

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
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


# ============================================================ 4. images and lists: bad samples
def _png_header_bomb(w=20000, h=20000) -> bytes:
    """A 'decompression bomb': a PNG header claiming w x h pixels (the data is never there)."""
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def _save(path, arr, **kw):
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


def _image_list(tmp_path, n=4, size=(20, 24), lines_extra=(), bom=False):
    """n random RGB PNGs under tmp_path/data/c*/ and a list file naming them (+ extra lines)."""
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        _save(str(root / f"c{i % 2}" / f"{i}.png"), rng.integers(0, 255, (*size, 3), np.uint8))
        lines.append(f"c{i % 2}/{i}.png {i % 2}")
    lines += list(lines_extra)
    lst = root / "list.txt"
    lst.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\n".join(lines) + "\n").encode())
    return root, lst


def test_decompression_bomb_header_is_a_bad_image():
    from paddle_inception.data.transforms import DecodeImage, ImageTooLargeError

    data = _png_header_bomb()
    assert len(data) < 100
    t0 = time.time()
    with pytest.raises(ImageTooLargeError, match="400000000 pixels|400,000,000 pixels"):
        DecodeImage()(data)
    # between Pillow's warning and error thresholds: refused by our own check, no warning
    with pytest.raises(ImageTooLargeError, match=r"10000x10000 \(w x h\) = 100,000,000 pixels"):
        DecodeImage()(_png_header_bomb(10000, 10000))
    assert time.time() - t0 < 2


def test_extreme_aspect_ratio_is_refused_before_resizing():
    from paddle_inception.data.transforms import ImageTooLargeError, ResizeImage

    wide = np.zeros((1, 200000), np.uint8)
    with pytest.raises(ImageTooLargeError, match=r"200000x1 .*resize_short 85 would make it "):
        ResizeImage(resize_short=85)(wide)
    assert ResizeImage(resize_short=8)(np.zeros((20, 400), np.uint8)).shape == (8, 160)
    with pytest.raises(ValueError, match=r"ResizeImage.size: 100000x100000 is over the limit"):
        ResizeImage(size=100000)


def test_16_bit_and_float_images_keep_their_range(tmp_path):
    from paddle_inception.data.transforms import DecodeImage, ImageDecodeError

    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    png16 = open(_save(str(tmp_path / "g16.png"), ramp), "rb").read()
    out = DecodeImage()(png16)
    assert out.dtype == np.uint8 and out.shape == (64, 64, 3)
    np.testing.assert_array_equal(out[:, :, 0], np.round(ramp / 257).astype(np.uint8))
    assert (out == 255).mean() < 0.01  # was 99.6% before

    unit = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    tif = open(_save(str(tmp_path / "f.tif"), unit), "rb").read()
    out = DecodeImage()(tif)
    np.testing.assert_array_equal(out[:, :, 1], np.rint(unit * 255).astype(np.uint8))
    assert out.max() == 255  # was all 0

    bytes_range = (unit * 255).astype(np.float32)
    out = DecodeImage()(open(_save(str(tmp_path / "f255.tif"), bytes_range), "rb").read())
    np.testing.assert_array_equal(out[:, :, 2], np.rint(bytes_range).astype(np.uint8))
    weird = unit * 1000 - 500
    with pytest.raises(ImageDecodeError, match=r"float image with values in \[-500, 500\]"):
        DecodeImage()(open(_save(str(tmp_path / "fw.tif"), weird), "rb").read())


def test_list_file_with_bom_and_ascii_labels(tmp_path):
    from paddle_inception.data import ImageNetDataset

    root, lst = _image_list(tmp_path, bom=True)
    ds = ImageNetDataset(str(root), str(lst), class_num=2)
    assert ds.samples[0][0] == str(root / "c0" / "0.png") and len(ds) == 4
    for label in ("1_0", "\u0661", "\uff11", "+1", "1.0"):
        bad = tmp_path / "bad.txt"
        bad.write_text(f"c0/0.png 0\nc1/1.png {label}\n", encoding="utf-8")
        with pytest.raises(ValueError, match=rf"bad\.txt:2: label '{re.escape(label)}' is not an"):
            ImageNetDataset(str(root), str(bad), class_num=20)
    bad.write_bytes(b"c0/0.png 0\nc1/caf\xe9.png 1\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2: not UTF-8 text"):
        ImageNetDataset(str(root), str(bad))


def test_missing_listed_files_are_reported_before_training(tmp_path):
    from paddle_inception.data import ImageNetDataset

    missing = [f"c0/gone{i}.png 0" for i in range(7)]
    root, lst = _image_list(tmp_path, lines_extra=missing)
    kp = "DataLoader.Train.dataset"
    with pytest.raises(FileNotFoundError) as e:
        ImageNetDataset(str(root), str(lst), key_path=kp)
    msg = str(e.value)
    assert msg.startswith(f"{kp}.cls_label_path: 7 of 11 listed images do not exist: ")
    assert f"{lst}:5: {root / 'c0' / 'gone0.png'}" in msg and f"{lst}:9:" in msg
    assert "(2 more)" in msg and f"{lst}:10:" not in msg
    with pytest.warns(RuntimeWarning, match="7 of 11 listed images do not exist"):
        ds = ImageNetDataset(str(root), str(lst), on_bad_image="skip", key_path=kp)
    assert len(ds) == 11
    assert len(ImageNetDataset(str(root), str(lst), check_files=False)) == 11


def test_bombs_and_extreme_images_are_skipped_and_counted(tmp_path):
    from paddle_inception.data import BadImageError, ImageNetDataset

    root, lst = _image_list(tmp_path, lines_extra=["c0/bomb.png 0", "c1/wide.png 1"])
    (root / "c0" / "bomb.png").write_bytes(_png_header_bomb())
    _save(str(root / "c1" / "wide.png"), np.zeros((1, 200000), np.uint8))
    ops = [{"DecodeImage": {}}, {"ResizeImage": {"resize_short": 85}}, {"CropImage": {"size": 16}}]
    strict = ImageNetDataset(str(root), str(lst), ops)
    with pytest.raises(BadImageError, match=rf"bomb\.png \(listed at {lst}:5\).*pixels"):
        strict[4]
    with pytest.raises(BadImageError, match=rf"wide\.png \(listed at {lst}:6\).*aspect ratio"):
        strict[5]
    lenient = ImageNetDataset(str(root), str(lst), ops, on_bad_image="skip")
    with pytest.warns(RuntimeWarning):
        images = [lenient[i][0] for i in range(len(lenient))]
    assert all(img.shape == (3, 16, 16) for img in images)
    assert lenient.num_bad_images == 2


LOADER_SCRIPT = """
import sys
from paddle_inception.data import build_dataloader
root, lst, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = {
    "dataset": {"name": "ImageNetDataset", "image_root": root, "cls_label_path": lst,
                "check_files": False,
                "transform_ops": [{"DecodeImage": {}}, {"ResizeImage": {"size": 8}}]},
    "sampler": {"name": "BatchSampler", "batch_size": 2},
    "loader": {"num_workers": workers},
}
n = 0
for images, labels in build_dataloader(cfg, "Eval", class_num=2):
    n += images.shape[0]
print("read", n)
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_a_failing_sample_ends_the_loader_with_its_error(tmp_path, workers):
    root, lst = _image_list(tmp_path, lines_extra=["c1/missing.png 1", "c0/corrupt.png 0"])
    (root / "c0" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    proc = subprocess.run(
        [sys.executable, "-c", LOADER_SCRIPT, str(root), str(lst), str(workers)],
        capture_output=True,
        text=True,
        timeout=60,
        env=checkout_env(),
    )
    assert proc.returncode != 0
    assert "BadImageError" in proc.stderr and f"missing.png (listed at {lst}:5)" in proc.stderr
    assert "Blocking queue is killed" not in proc.stderr
    # the good ones alone: all read
    lst.write_text("\n".join(lst.read_text().splitlines()[:4]) + "\n")
    proc = subprocess.run(
        [sys.executable, "-c", LOADER_SCRIPT, str(root), str(lst), str(workers)],
        capture_output=True,
        text=True,
        timeout=60,
        env=checkout_env(),
    )
    assert proc.returncode == 0 and "read 4" in proc.stdout, proc.stderr[-2000:]


def test_infer_reports_bombs_per_image_and_classifies_the_rest(tmp_path):
    imgs = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    _save(str(imgs / "a_good.png"), rng.integers(0, 255, (40, 40, 3), np.uint8))
    (imgs / "b_bomb.png").write_bytes(_png_header_bomb())
    _save(str(imgs / "c_wide.png"), np.zeros((1, 200000), np.uint8))
    _save(str(imgs / "d_g16.png"), (rng.random((40, 40)) * 65535).astype(np.uint16))
    rc, out, err = run_tool(
        "infer.py", "--model", "googlenet_bn", "--num-classes", "3", "--input-size", "32",
        "--format", "json", imgs, timeout=120,
    )  # fmt: skip
    assert rc == 1 and "Traceback" not in err
    res = {os.path.basename(r["file_name"]): r for r in json.loads(out)["results"]}
    assert "class_ids" in res["a_good.png"] and "class_ids" in res["d_g16.png"]
    assert res["b_bomb.png"]["error"].startswith("image too large:")
    assert "aspect ratio too extreme" in res["c_wide.png"]["error"]
    # a list file with a BOM and a full-width "label" (part of the path, not a label)
    lst = tmp_path / "list.txt"
    lst.write_bytes(b"\xef\xbb\xbfimgs/a_good.png 0\n")
    rc, out, err = run_tool(
        "infer.py", "--model", "googlenet_bn", "--num-classes", "3", "--input-size", "32",
        "--format", "json", lst, timeout=120,
    )  # fmt: skip
    assert rc == 0, err[-2000:]
    assert json.loads(out)["results"][0]["file_name"].endswith("a_good.png")
