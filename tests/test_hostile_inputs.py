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
import paddle
import pytest
from conftest import ROOT, checkout_env, needs_fmnist

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
root, lst, workers, resize = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
ops = [{"DecodeImage": {}}] + ([{"ResizeImage": {"size": 8}}] if resize else [])
cfg = {
    "dataset": {"name": "ImageNetDataset", "image_root": root, "cls_label_path": lst,
                "check_files": False, "transform_ops": ops},
    "sampler": {"name": "BatchSampler", "batch_size": 2},
    "loader": {"num_workers": workers},
}
n = 0
for images, labels in build_dataloader(cfg, "Eval", class_num=2):
    n += images.shape[0]
print("read", n)
"""


def _read_all(root, lst, workers, resize=True):
    return subprocess.run(
        [sys.executable, "-c", LOADER_SCRIPT, str(root), str(lst), str(workers), str(int(resize))],
        capture_output=True,
        text=True,
        timeout=60,
        env=checkout_env(),
    )


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.slow
def test_a_failing_sample_ends_the_loader_with_its_error(tmp_path, workers):
    root, lst = _image_list(tmp_path, lines_extra=["c1/missing.png 1", "c0/corrupt.png 0"])
    (root / "c0" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    proc = _read_all(root, lst, workers)
    assert proc.returncode != 0
    assert "BadImageError" in proc.stderr and f"missing.png (listed at {lst}:5)" in proc.stderr
    assert "Blocking queue is killed" not in proc.stderr
    # the good ones alone: all read
    lst.write_text("\n".join(lst.read_text().splitlines()[:4]) + "\n")
    proc = _read_all(root, lst, workers)
    assert proc.returncode == 0 and "read 4" in proc.stdout, proc.stderr[-2000:]
    # images of two sizes and no resize: the batch cannot be made; said, not hung
    _save(str(root / "c1" / "1.png"), np.zeros((30, 30, 3), np.uint8))
    proc = _read_all(root, lst, workers, resize=False)
    assert proc.returncode != 0 and "Blocking queue is killed" not in proc.stderr
    assert "cannot batch images of different shapes (3, 20, 24) and (3, 30, 30)" in proc.stderr


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


# ============================================================ 1. weights never run code


class _RunsCode:
    """Pickles as a call of os.system(cmd): what a hostile .pdparams holds."""

    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def _evil_file(path, marker):
    """A .pdparams/.pdopt whose pickle would create `marker` when loaded by pickle."""
    import pickle

    with open(path, "wb") as f:
        pickle.dump({"conv.weight": _RunsCode(f"touch {marker}")}, f, protocol=4)
    return str(path)


def cli(*argv, capsys):
    """`paddle-inception <argv>` in this process: (exit status, stdout, stderr)."""
    from paddle_inception.cli import main

    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def tiny(tmp_path, *extra, n=8, epochs=1):
    """The default Fashion-MNIST job shrunk to two steps of 4 images."""
    return [
        f"Global.output_dir={tmp_path / 'out'}",
        f"Global.epochs={epochs}",
        "Global.print_batch_step=1",
        "Global.eval_during_train=False",
        "Global.use_visualdl=False",
        f"DataLoader.Train.dataset.num_samples={n}",
        "DataLoader.Eval.dataset.num_samples=8",
        "DataLoader.Train.sampler.batch_size=4",
        "DataLoader.Eval.sampler.batch_size=4",
        *extra,
    ]


def _o(overrides):
    return sum((["-o", o] for o in overrides), [])


def _refused(result, path, marker):
    """`result` of `cli`: exit status 2, one error line naming the refused global and the file,
    and the file's code did not run."""
    rc, _, err = result
    assert rc == 2, err[-2000:]
    line = error_line(err)
    assert "posix.system" in line and str(path) in line, line
    assert not marker.exists(), "the file's code ran"


def test_create_model_and_paddle_hub_refuse_code_in_weights(tmp_path):
    import paddle_inception as pi
    from paddle_inception.weights import UnsafeWeightsError

    marker = tmp_path / "pwned"
    evil = _evil_file(tmp_path / "evil.pdparams", marker)
    with pytest.raises(UnsafeWeightsError, match=r"references posix\.system") as e:
        pi.create_model("googlenet", pretrained=evil)
    assert evil in str(e.value) and e.value.global_name == "posix.system"
    with pytest.raises(UnsafeWeightsError, match=r"posix\.system"):
        paddle.hub.load(ROOT, "googlenet", source="local", pretrained=evil)
    assert not marker.exists()


def test_infer_and_export_refuse_code_in_weights_and_trusted_is_explicit(tmp_path, capsys):
    import paddle_inception as pi

    marker = tmp_path / "pwned"
    evil = _evil_file(tmp_path / "evil.pdparams", marker)
    img = _save(str(tmp_path / "x.png"), np.zeros((40, 40, 3), np.uint8))
    model = ["--model", "googlenet_bn", "--num-classes", "3", "--input-size", "32"]
    _refused(cli("infer", *model, "--weights", evil, img, capsys=capsys), evil, marker)
    exp = tmp_path / "exp"
    _refused(
        cli("export", *model, "--weights", evil, "--output-dir", exp, capsys=capsys), evil, marker
    )
    assert not exp.exists()
    # legit weights written by paddle.save load through the same door
    good = tmp_path / "good.pdparams"
    paddle.save(pi.create_model("googlenet_bn", num_classes=3).state_dict(), str(good))
    rc, out, err = cli("infer", *model, "--weights", good, img, capsys=capsys)
    assert rc == 0 and "x.png" in out, err[-2000:]
    # the documented opt-in really is a full pickle: only for files one trusts
    rc, out, err = cli("infer", *model, "--weights", evil, "--trusted-weights", img, capsys=capsys)
    assert marker.exists() and rc == 2  # it ran the code, then found no tensors in the file


@needs_fmnist
def test_train_and_eval_refuse_code_in_pretrained_model(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = _evil_file(tmp_path / "evil.pdparams", marker)
    over = tiny(tmp_path, f"Global.pretrained_model={evil}")
    _refused(cli("train", "-c", DEFAULT, *_o(over), capsys=capsys), evil, marker)
    _refused(cli("eval", "-c", DEFAULT, *_o(over), capsys=capsys), evil, marker)
    assert not (tmp_path / "out" / "googlenet_bn" / "epoch_0001").exists()


def _checkpoint(root, epoch=1, num_classes=10, state=None):
    """A checkpoint directory as training writes it (model, optimizer with LR scheduler)."""
    import paddle_inception as pi
    from paddle_inception.engine.checkpoint import save_checkpoint

    net = pi.create_model("googlenet_bn", num_classes=num_classes, in_channels=1)
    lr = paddle.optimizer.lr.CosineAnnealingDecay(0.1, 10)
    opt = paddle.optimizer.Momentum(lr, parameters=net.parameters())
    return save_checkpoint(str(root), epoch, net, opt, state or {"best_metric": 0.1})


@needs_fmnist
@pytest.mark.slow
def test_resume_refuses_code_in_checkpoint_files_and_loads_real_ones(tmp_path, capsys):
    import shutil

    marker = tmp_path / "pwned"
    # a real checkpoint: one epoch of training (paddle.save of the model and of the optimizer
    # state with its LinearWarmup(Cosine) scheduler)
    rc, _, err = cli("train", "-c", DEFAULT, *_o(tiny(tmp_path)), capsys=capsys)
    assert rc == 0, err[-2000:]
    real = tmp_path / "out" / "googlenet_bn" / "epoch_0001"
    ckpt = tmp_path / "ckpt"
    shutil.copytree(real, ckpt)
    over = tiny(tmp_path, f"Global.checkpoints={ckpt}", epochs=2)
    for name in ("model.pdopt", "model.pdparams"):
        path = str(ckpt / name)
        os.replace(path, path + ".real")
        _evil_file(path, marker)
        _refused(cli("train", "-c", DEFAULT, *_o(over), capsys=capsys), path, marker)
        os.replace(path + ".real", path)
    # the real files resume through the same door
    rc, out, err = cli("train", "-c", DEFAULT, *_o(over), capsys=capsys)
    assert rc == 0, err[-2000:]
    assert "1 of 2 epochs done" in out
    state = json.loads((tmp_path / "out" / "googlenet_bn" / "latest" / "state.json").read_text())
    assert state["epoch"] == 2
    # an optimizer state written for another LR schedule: a clear error, not a KeyError
    other = _checkpoint(tmp_path / "other")
    over = tiny(tmp_path, f"Global.checkpoints={other}", epochs=2)
    rc, _, err = cli("train", "-c", DEFAULT, *_o(over), capsys=capsys)
    assert rc == 2 and "does not fit the configured optimizer" in error_line(err)
    assert "model.pdopt" in error_line(err)


# ============================================================ 5. loading that does not fit
@needs_fmnist
def test_resume_from_another_class_count_or_model_is_an_error(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "ckpts", num_classes=7)
    over = tiny(tmp_path, f"Global.checkpoints={ckpt}", epochs=2)
    rc, out, err = cli("train", "-c", DEFAULT, *_o(over), capsys=capsys)
    assert rc == 2
    line = error_line(err)
    assert "Global.checkpoints:" in line and "head.fc.weight: file [1024, 7] vs model [1024, 10]"
    assert "Nothing was loaded" in line
    assert not (tmp_path / "out" / "googlenet_bn" / "epoch_0002").exists()
    # no matching keys at all
    paddle.save({"fc.w": paddle.zeros([2, 2])}, os.path.join(ckpt, "model.pdparams"))
    rc, out, err = cli("train", "-c", DEFAULT, *_o(over), capsys=capsys)
    assert rc == 2 and "0 of " in error_line(err) and "tensors match" in error_line(err)


@needs_fmnist
def test_eval_with_weights_of_another_model_is_an_error(tmp_path, capsys):
    import paddle_inception as pi

    path = str(tmp_path / "other.pdparams")
    paddle.save(pi.create_model("googlenet", num_classes=10, in_channels=1).state_dict(), path)
    over = tiny(tmp_path, f"Global.pretrained_model={path}")
    rc, out, err = cli("eval", "-c", DEFAULT, *_o(over), capsys=capsys)
    assert rc == 2 and "does not fit model googlenet_bn" in error_line(err)
    assert "top1" not in out


@needs_fmnist
def test_finetune_refuses_weights_of_which_less_than_half_match(tmp_path, capsys):
    import paddle_inception as pi

    state = pi.create_model("googlenet_bn", num_classes=10, in_channels=1).state_dict()
    path = str(tmp_path / "few.pdparams")
    paddle.save(dict(list(state.items())[:20]), path)
    over = tiny(tmp_path, f"Global.pretrained_model={path}")
    rc, out, err = cli("train", "-c", DEFAULT, *_o(over), capsys=capsys)
    assert rc == 2 and f"matches only 20 of {len(state)} tensors" in error_line(err)


def test_state_json_from_disk_is_checked(tmp_path):
    from paddle_inception.engine.checkpoint import load_checkpoint

    ckpt = _checkpoint(tmp_path / "ckpts")
    state = os.path.join(ckpt, "state.json")
    for text, match in (
        ("[" * 100000 + "]" * 100000, "JSON nested too deeply"),
        ("{not json", "not valid JSON"),
        ('{"epoch": "5"}', "non-negative integer 'epoch'"),
        ('{"epoch": 1, "elapsed_s": [1]}', "'elapsed_s' must be a number"),
    ):
        with open(state, "w") as f:
            f.write(text)
        net = __import__("paddle_inception").create_model("googlenet_bn", in_channels=1)
        with pytest.raises(ValueError, match=match) as e:
            load_checkpoint(ckpt, net)
        assert "state.json" in str(e.value)
    os.remove(state)
    with pytest.raises(FileNotFoundError, match="state.json is missing"):
        load_checkpoint(ckpt, net)


# ============================================================ 3. validate before writing
@needs_fmnist
def test_unknown_arch_name_writes_nothing(tmp_path, capsys):
    out = tmp_path / "a" / "b" / "out"
    for bad in ("Arch.name=../../x", "Arch.no_such_arg=1"):
        over = tiny(tmp_path, f"Global.output_dir={out}", bad)
        rc, _, err = cli("train", "-c", DEFAULT, *_o(over), capsys=capsys)
        assert rc == 2 and error_line(err).startswith("error: Arch")
        assert not (tmp_path / "a").exists() and not (tmp_path / "x").exists()


# ============================================================ 4. a bad sample in a training run
FILE_CFG = """
Global: {{output_dir: {out}, epochs: 1, image_shape: [3, 32, 32], eval_during_train: false,
          print_batch_step: 1, use_visualdl: false}}
Arch: {{name: googlenet_bn, class_num: 2}}
Loss: {{Train: [{{CELoss: {{}}}}]}}
Optimizer: {{name: SGD, lr: {{name: Constant, learning_rate: 0.01}}}}
DataLoader:
  Train: &split
    dataset:
      name: ImageNetDataset
      image_root: {root}
      cls_label_path: {lst}
      on_bad_image: {policy}
      check_files: {check}
      transform_ops: [DecodeImage: {{}}, ResizeImage: {{size: 32}}]
    sampler: {{name: BatchSampler, batch_size: 3, shuffle: false}}
    loader: {{num_workers: {workers}, use_shared_memory: false}}
  Eval: *split
"""


def _file_cfg(tmp_path, root, lst, policy="raise", check=True, workers=0):
    path = tmp_path / "files.yaml"
    path.write_text(
        FILE_CFG.format(
            out=tmp_path / "out", root=root, lst=lst, policy=policy, check=check, workers=workers
        )
    )
    return path


@pytest.mark.slow
def test_train_reports_missing_listed_files_before_starting(tmp_path):
    root, lst = _image_list(tmp_path, lines_extra=["c1/missing.png 1"], bom=True)
    rc, out, err = run_tool("train.py", "-c", _file_cfg(tmp_path, root, lst), timeout=120)
    line = error_line(err)
    assert rc == 2 and f"1 of 5 listed images do not exist: {lst}:5: " in line, line
    assert not (tmp_path / "out").exists()  # found before anything was written


@pytest.mark.slow
def test_train_and_eval_with_a_corrupt_image_exit_naming_it(tmp_path):
    import paddle_inception as pi

    root, lst = _image_list(tmp_path, lines_extra=["c0/corrupt.png 0"])
    (root / "c0" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    cfg = _file_cfg(tmp_path, root, lst, check=False)
    rc, out, err = run_tool("train.py", "-c", cfg, timeout=120)
    line = error_line(err)
    assert rc == 2 and f"corrupt.png (listed at {lst}:5)" in line, line
    weights = str(tmp_path / "w.pdparams")
    paddle.save(pi.create_model("googlenet_bn", num_classes=2).state_dict(), weights)
    rc, out, err = run_tool(
        "eval.py", "-c", cfg, "-o", f"Global.pretrained_model={weights}", timeout=120
    )
    line = error_line(err)
    assert rc == 2 and f"corrupt.png (listed at {lst}:5)" in line, line


@pytest.mark.slow
def test_train_skips_and_counts_bombs_with_a_bom_list(tmp_path):
    root, lst = _image_list(tmp_path, lines_extra=["c0/bomb.png 0", "c1/wide.png 1"], bom=True)
    (root / "c0" / "bomb.png").write_bytes(_png_header_bomb())
    _save(str(root / "c1" / "wide.png"), np.zeros((1, 200000), np.uint8))
    path = _file_cfg(tmp_path, root, lst, policy="skip")
    ops = "ResizeImage: {resize_short: 85}, CropImage: {size: 32}"
    path.write_text(path.read_text().replace("ResizeImage: {size: 32}", ops))
    rc, out, err = run_tool("train.py", "-c", path, timeout=180)
    assert rc == 0, err[-3000:]
    assert "skipping unreadable image" in err and "bomb.png" in err and "wide.png" in err
    assert (tmp_path / "out" / "googlenet_bn" / "latest" / "model.pdparams").exists()


# ============================================================ 6. one run per output directory
def test_run_lock_unit(tmp_path, caplog):
    from paddle_inception.engine.runlock import RunDirLocked, run_lock

    root = tmp_path / "run"
    with run_lock(str(root)) as path:
        info = json.loads(open(path).read())
        assert info["pid"] == os.getpid()
        busy = rf"in use by another training run \(pid {os.getpid()} on "
        with pytest.raises(RunDirLocked, match=busy):
            with run_lock(str(root)):
                pass
    assert not os.path.exists(path)  # released
    with pytest.raises(KeyError):  # released on an exception too
        with run_lock(str(root)):
            raise KeyError("boom")
    assert not os.path.exists(path)
    # a dead process's lock is stale: taken over with a warning
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with open(path, "w") as f:
        json.dump({"pid": dead.pid, "host": __import__("socket").gethostname()}, f)
    with run_lock(str(root)):
        assert json.loads(open(path).read())["pid"] == os.getpid()
    assert "taking over the stale lock" in caplog.text and f"pid {dead.pid}" in caplog.text
    # another machine's lock cannot be checked: refused, saying how to clear it
    with open(path, "w") as f:
        json.dump({"pid": 1, "host": "elsewhere", "command": ["train.py"]}, f)
    with pytest.raises(RunDirLocked, match=r"pid 1 on elsewhere.*another machine.*delete"):
        with run_lock(str(root)):
            pass
    with open(path, "w") as f:
        f.write("garbage")
    with pytest.raises(RunDirLocked, match="does not say which process"):
        with run_lock(str(root)):
            pass


@needs_fmnist
@pytest.mark.slow
def test_a_second_run_into_a_running_runs_directory_is_refused(tmp_path, capsys):
    import signal

    lock = tmp_path / "out" / "googlenet_bn" / ".lock"
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(
        [sys.executable, os.path.join(TOOLS, "train.py"), "-c", DEFAULT]
        + _o(tiny(tmp_path, n=4096, epochs=50)),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=checkout_env(),
    )
    try:
        deadline = time.time() + 120
        while not lock.exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert lock.exists(), open(tmp_path / "first.log").read()[-2000:]
        config_yaml = tmp_path / "out" / "googlenet_bn" / "config.yaml"
        rc, out, err = cli("train", "-c", DEFAULT, *_o(tiny(tmp_path)), capsys=capsys)
        line = error_line(err)
        assert rc == 2 and f"in use by another training run (pid {first.pid} on " in line, line
        assert "tools/train.py" in line and "use another Global.output_dir" in line
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
        log.close()
    assert lock.exists()  # SIGKILL left it behind: stale
    mtime = config_yaml.stat().st_mtime if config_yaml.exists() else None
    rc, out, err = cli("train", "-c", DEFAULT, *_o(tiny(tmp_path)), capsys=capsys)
    assert rc == 0, err[-2000:]
    assert f"taking over the stale lock {lock}" in out and f"pid {first.pid}" in out
    assert not lock.exists()  # released at the end of the run
    assert mtime is None or config_yaml.stat().st_mtime >= mtime
