"""Your own images (issue 28): a folder of class sub-folders -> fine-tune through
`paddle-inception train --data` -> eval -> export -> classify with the exported model; the
held-out split; the decoder's EXIF orientation and colour modes; one clear line per bad folder.

The folder is built here from Fashion-MNIST's test split (/usr/share/datasets/fashion-mnist):
three easy classes written as RGB JPEG/PNG files at varied sizes, some stored sideways with an
EXIF orientation tag, one RGBA, one grayscale, one palette, one CMYK. The "pretrained" weights
are a random googlenet_bn with a 1000-class head written by the test (no download), so that
the run must skip and re-create the classifier as it would for converted ImageNet weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = {"bag": 8, "sneaker": 7, "trouser": 1}  # folder name -> Fashion-MNIST label
PER_CLASS = 24
SIZE = 32  # googlenet_bn's smallest comfortable input: quick on a 2-core CPU
_ORIENT = 0x0112


def _fashion(label: int, n: int, offset: int = 0) -> np.ndarray:
    from paddle_inception.data import FashionMNIST

    ds = FashionMNIST(mode="test")
    idx = np.flatnonzero(ds.labels == label)[offset : offset + n]
    return ds.images[idx]  # (n, 28, 28) uint8


def _save_sideways(img, path):
    """Store `img` turned 90 degrees counter-clockwise with EXIF orientation 6 ('turn 90
    degrees clockwise to show'): a viewer, and our decoder, show it upright."""
    from PIL import Image

    exif = Image.Exif()
    exif[_ORIENT] = 6
    img.transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)


def make_folder(root, per_class: int = PER_CLASS, offset: int = 0) -> dict:
    """The test's photo folder; returns {kind: path} of the special files."""
    from PIL import Image

    special = {}
    for c, (name, label) in enumerate(CLASSES.items()):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i, arr in enumerate(_fashion(label, per_class, offset)):
            side = 28 + 4 * ((i + c) % 5)  # 28..44 px
            img = Image.fromarray(arr).resize((side, side), Image.BILINEAR).convert("RGB")
            stem = os.path.join(root, name, f"{name}_{i:03d}")
            kind = i % 8
            if kind == 0:
                _save_sideways(img, stem + ".jpg")
                special.setdefault("exif", stem + ".jpg")
            elif kind == 1 and c == 0:
                img.convert("RGBA").save(stem + ".png")
                special["rgba"] = stem + ".png"
            elif kind == 2 and c == 0:
                img.convert("L").save(stem + ".png")
                special["gray"] = stem + ".png"
            elif kind == 3 and c == 0:
                img.convert("P").save(stem + ".png")
                special["palette"] = stem + ".png"
            elif kind == 4 and c == 0:
                img.convert("CMYK").save(stem + ".jpg", quality=95)
                special["cmyk"] = stem + ".jpg"
            elif i % 2:
                img.save(stem + ".png")
            else:
                img.save(stem + ".jpg", quality=92)
    return special


def _random_pretrained(path):
    """A googlenet_bn checkpoint with random weights and ImageNet's 1000-class head."""
    import paddle

    from paddle_inception import create_model

    paddle.seed(0)
    paddle.save(create_model("googlenet_bn").state_dict(), str(path))


def _run(args, cwd, timeout=300):
    env = dict(os.environ, PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, "-m", "paddle_inception", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ------------------------------------------------------------------------------- decoding
def test_exif_orientation_and_colour_modes_decode_upright_rgb(tmp_path):
    from PIL import Image

    from paddle_inception.data.transforms import DecodeImage

    # an asymmetric picture: a bright top-left block on a dark ground
    up = np.zeros((20, 30, 3), np.uint8)
    up[:8, :12] = 250
    _save_sideways(Image.fromarray(up), tmp_path / "side.jpg")
    with Image.open(tmp_path / "side.jpg") as raw:
        assert raw.size == (20, 30)  # stored sideways: 20 wide, 30 high
    got = DecodeImage()((tmp_path / "side.jpg").read_bytes())
    assert got.shape == (20, 30, 3)
    assert np.abs(got.astype(int) - up).mean() < 6  # upright (JPEG: a few levels of noise)
    assert got[:8, :12].mean() > 200 and got[12:, 18:].mean() < 30

    rgb = np.dstack([np.full((6, 7), v, np.uint8) for v in (200, 100, 50)])
    img = Image.fromarray(rgb)
    cases = {
        "RGBA": (img.convert("RGBA"), rgb),
        "L": (img.convert("L"), np.repeat(np.asarray(img.convert("L"))[:, :, None], 3, 2)),
        "P": (img.convert("P"), np.asarray(img.convert("P").convert("RGB"))),  # web palette
        "CMYK": (img.convert("CMYK"), np.asarray(img.convert("CMYK").convert("RGB"))),
    }
    for mode, (pic, want) in cases.items():
        ext = "jpg" if mode == "CMYK" else "png"
        pic.save(tmp_path / f"x.{ext}", **({"quality": 100} if ext == "jpg" else {}))
        out = DecodeImage()((tmp_path / f"x.{ext}").read_bytes())
        assert out.shape == (6, 7, 3) and out.dtype == np.uint8, mode
        assert np.abs(out.astype(int) - want.astype(int)).max() <= 3, mode
    # a palette image with a transparent colour: RGB, without Pillow's warning
    pal = img.convert("P")
    pal.info["transparency"] = 0
    pal.save(tmp_path / "t.png", transparency=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert DecodeImage()((tmp_path / "t.png").read_bytes()).shape == (6, 7, 3)


# ------------------------------------------------------------------------------- the split
def test_split_is_stratified_deterministic_and_disjoint(tmp_path):
    from paddle_inception.data import ImageFolder

    make_folder(tmp_path / "photos", per_class=10)
    root = str(tmp_path / "photos")
    tr = ImageFolder(root, val_split=0.2, split_seed=3, subset="train")
    va = ImageFolder(root, val_split=0.2, split_seed=3, subset="val")
    tr_paths, va_paths = {p for p, _ in tr.samples}, {p for p, _ in va.samples}
    assert not tr_paths & va_paths and len(tr_paths | va_paths) == 30
    assert np.bincount(va.labels).tolist() == [2, 2, 2]  # 20% of every class
    assert np.bincount(tr.labels).tolist() == [8, 8, 8]
    again = ImageFolder(root, val_split=0.2, split_seed=3, subset="val")
    assert again.samples == va.samples  # the same every time
    other = ImageFolder(root, val_split=0.2, split_seed=4, subset="val")
    assert other.samples != va.samples  # the seed picks them
    # adding an image to a class moves no other image between the halves
    from PIL import Image

    Image.new("RGB", (30, 30)).save(tmp_path / "photos" / "bag" / "zzz_new.png")
    grown = ImageFolder(root, val_split=0.2, split_seed=3, subset="val")
    assert {p for p, _ in grown.samples} - {str(tmp_path / "photos/bag/zzz_new.png")} <= va_paths


# ------------------------------------------------------------------------------- the path
@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """One short fine-tuning run through the command line shortcut."""
    work = tmp_path_factory.mktemp("finetune")
    special = make_folder(str(work / "photos"))
    _random_pretrained(work / "imagenet_random.pdparams")
    args = [
        "train",
        "--data",
        "photos",
        "--model",
        "googlenet_bn",
        "--weights",
        "imagenet_random.pdparams",
        "--input-size",
        str(SIZE),
        "--epochs",
        "6",
        "--batch-size",
        "8",
        "--lr",
        "0.02",
        "--backbone-lr-mult",
        "0.5",
        "--val-split",
        "0.25",
        "--workers",
        "0",
        "--output-dir",
        "out",
        "-o",
        "Global.use_visualdl=False",
    ]
    res = _run(args, work, timeout=400)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return dict(work=work, special=special, run=work / "out" / "googlenet_bn", log=res.stdout)


@pytest.mark.slow
def test_the_run_says_what_it_loaded_skipped_and_writes_its_classes(finetuned):
    run, log = finetuned["run"], finetuned["log"]
    # the classifier (and the two aux heads' last layers) re-created for 3 classes
    assert (
        "imagenet_random.pdparams: 299 tensors loaded, 6 re-initialised (aux1.fc2.weight, "
        "aux1.fc2.bias, aux2.fc2.weight, aux2.fc2.bias, head.fc.weight, head.fc.bias)" in log
    )
    assert "transform_ops: auto -> googlenet_bn's preprocessing at 3x32x32: bilinear" in log
    assert "backbone_lr_mult: " in log and "at 0.5 x the learning rate" in log
    names = (run / "class_names.txt").read_text().split("\n")
    assert names[:3] == ["0 bag", "1 sneaker", "2 trouser"]
    tr = [ln for ln in (run / "train_list.txt").read_text().splitlines() if ln[0] != "#"]
    va = [ln for ln in (run / "val_list.txt").read_text().splitlines() if ln[0] != "#"]
    assert len(tr) == 54 and len(va) == 18 and not set(tr) & set(va)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final_eval"]["top1"] > 0.5  # chance is 1/3 (12 of 18 on that Xeon)


@pytest.mark.slow
def test_export_and_classify_the_folder_with_the_exported_model(finetuned):
    work, run = finetuned["work"], finetuned["run"]
    res = _run(
        [
            "export",
            "-c",
            str(run / "config.yaml"),
            "--weights",
            str(run / "best"),
            "--output-dir",
            "exported",
        ],
        work,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    meta = json.loads((work / "exported" / "inference_meta.json").read_text())
    assert meta["class_names"] == list(CLASSES) and meta["input_shape"] == [3, SIZE, SIZE]

    def classify():
        out = _run(["infer", "--inference-model", "exported", "--format", "json", "photos"], work)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout)["results"]

    results = classify()
    assert len(results) == len(CLASSES) * PER_CLASS
    truth = [os.path.basename(os.path.dirname(r["file_name"])) for r in results]
    pred = [r["label_names"][0] for r in results]
    assert set(pred) <= set(CLASSES)  # the folder names, not ids
    accuracy = np.mean([p == t for p, t in zip(pred, truth)])
    assert accuracy > 0.55, accuracy  # chance: 1/3 (0.74 on the Xeon of 2026-12-06)
    assert [r["scores"] for r in classify()] == [r["scores"] for r in results]  # reproducible

    # the sideways phone photo is classified as its upright pixels are (saved losslessly)
    from PIL import Image, ImageOps

    side = finetuned["special"]["exif"]
    (work / "check").mkdir()
    with Image.open(work / side) as im:
        assert im.getexif()[_ORIENT] == 6
        ImageOps.exif_transpose(im).save(work / "check" / "upright.png")
    out = _run(
        ["infer", "--inference-model", "exported", "--format", "json", side, "check/upright.png"],
        work,
    )
    a, b = json.loads(out.stdout)["results"]
    assert a["class_ids"] == b["class_ids"] and a["scores"] == b["scores"]


@pytest.mark.slow
def test_eval_and_eager_infer_on_the_run_use_its_class_names(finetuned):
    work, run = finetuned["work"], finetuned["run"]
    res = _run(
        ["eval", "-c", str(run / "config.yaml"), "-o", f"Global.pretrained_model={run}/latest"],
        work,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    final = json.loads((run / "summary.json").read_text())["final_eval"]
    assert json.loads(res.stdout.strip().splitlines()[-1])["top1"] == pytest.approx(final["top1"])
    assert "bag " in res.stdout and "sneaker " in res.stdout  # the per-class table's names
    assert (run / "eval" / "confusion_matrix.png").is_file()
    out = _run(
        [
            "infer",
            "--model",
            "googlenet_bn",
            "--num-classes",
            "3",
            "--input-size",
            str(SIZE),
            "--weights",
            str(run / "best"),
            "--format",
            "json",
            "photos/trouser",
        ],
        work,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    names = {r["label_names"][0] for r in json.loads(out.stdout)["results"]}
    assert names <= set(CLASSES) and names  # class_names.txt found from the weights


# ------------------------------------------------------------------------------- bad folders
def _small_folder(root, classes=("bag", "sneaker", "trouser"), per_class: int = 4, shade=0):
    from PIL import Image

    for c, name in enumerate(classes):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            value = 40 * c + 10 * i + shade  # every file different
            Image.new("RGB", (30 + i, 30), (value, value, value)).save(
                os.path.join(root, name, f"{i}.png")
            )


def _train_line(args, capsys, cwd):
    """`train --data ...` in this process; its exit status and the error line."""
    from paddle_inception.cli import main as cli_main

    old = os.getcwd()
    os.chdir(cwd)
    try:
        code = cli_main(
            [
                "train",
                "--model",
                "googlenet_bn",
                "--input-size",
                "32",
                "--workers",
                "0",
                "--epochs",
                "1",
                "--output-dir",
                "out",
                *args,
            ]
        )
    finally:
        os.chdir(old)
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines(), captured.out


def test_bad_folders_are_one_line_each_naming_the_folder_and_the_fix(tmp_path, capsys):
    _small_folder(tmp_path / "ok")
    cases = []

    (tmp_path / "ok" / "empty_class").mkdir()
    cases.append(
        (
            ["--data", "ok"],
            r"DataLoader.Train.dataset.root: 1 class folder\(s\) without images: "
            r"ok/empty_class; add images .* or remove the folder",
        )
    )
    _small_folder(tmp_path / "one", classes=("bag",))
    cases.append(
        (
            ["--data", "one"],
            r"DataLoader.Train.dataset.root: one has a single class folder "
            r"\(bag\); a classifier needs at least two classes",
        )
    )
    _small_folder(tmp_path / "train3")
    _small_folder(tmp_path / "val4", classes=("bag", "coat", "sneaker", "trouser"))
    cases.append(
        (
            ["--data", "train3", "--val", "val4"],
            r"DataLoader.Eval.dataset.root: the class "
            r"folders of val4 differ from those of train3 \(only in eval: coat\); give both",
        )
    )
    _small_folder(tmp_path / "t")
    _small_folder(tmp_path / "v", shade=3)
    import shutil

    shutil.copy(tmp_path / "t" / "bag" / "2.png", tmp_path / "v" / "bag" / "copy.png")
    cases.append(
        (
            ["--data", "t", "--val", "v"],
            r"DataLoader.Eval.dataset: 1 image\(s\) are both in the "
            r"training and the evaluation images \(same file or same content\): t/bag/2.png = "
            r"v/bag/copy.png; remove them from one side",
        )
    )
    cases.append(
        (
            ["--data", "t", "--val", "t"],
            r"DataLoader.Eval.dataset: 12 image\(s\) are both in the training and the evaluation",
        )
    )
    cases.append(
        (
            ["--data", "t", "--weights", "missing.pdparams"],
            r"--weights: file not found: "
            r"missing.pdparams \(convert a torchvision/timm checkpoint",
        )
    )
    cases.append((["--data", "nowhere"], r"--data: directory not found: nowhere"))
    _small_folder(tmp_path / "web")
    (tmp_path / "web" / "bag" / "saved_page.jpg").write_text("<html>Forbidden</html>")
    cases.append(
        (
            ["--data", "web"],
            r"DataLoader.Train.dataset.root: 1 of 13 images cannot be read: "
            r"web/bag/saved_page.jpg \(not an image Pillow can read\); remove or replace them, "
            r"or set DataLoader.Train.dataset.on_bad_image: skip to leave them out",
        )
    )
    import re

    for args, pattern in cases:
        code, err, _ = _train_line(args, capsys, tmp_path)
        assert code == 2 and len(err) == 1, (args, err)
        assert re.fullmatch(r"error: " + pattern + r".*", err[0]), (args, err[0])
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_class_num_disagreeing_with_the_folder_via_the_yaml(tmp_path, capsys):
    from paddle_inception.cli import main as cli_main

    _small_folder(tmp_path / "photos")
    base = [
        "train",
        "-c",
        "finetune_folder.yaml",
        "-o",
        "Global.pretrained_model=null",
        "-o",
        "Global.image_shape=[3,32,32]",
        "-o",
        "DataLoader.Train.loader.num_workers=0",
        "-o",
        "DataLoader.Eval.loader.num_workers=0",
        "-o",
        "Global.output_dir=out",
    ]
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        for roots in (
            [
                "-o",
                "DataLoader.Train.dataset.root=photos",
                "-o",
                "DataLoader.Eval.dataset.root=photos",
            ],
        ):
            assert cli_main(base + roots + ["-o", "Arch.class_num=5"]) == 2
            err = capsys.readouterr().err.strip()
            assert err == (
                "error: DataLoader.Train.dataset.root: photos has 3 class folders (bag, sneaker, "
                "trouser) but Arch.class_num is 5; set Arch.class_num: 3 (`paddle-inception "
                "train --data` sets it)"
            )
            assert cli_main(base + roots + ["-o", "Arch.class_num=2"]) == 2
            err = capsys.readouterr().err.strip()
            assert err == (
                "error: DataLoader.Train.dataset.root: photos has 3 class folders but "
                "class_num=2; set Arch.class_num: 3"
            )
    finally:
        os.chdir(old)


def test_non_images_are_skipped_and_counted_unreadable_images_named(tmp_path, capsys):
    from paddle_inception.data import BadImageError, ImageFolder

    _small_folder(tmp_path / "p")
    (tmp_path / "p" / "bag" / "notes.txt").write_text("shot on a phone")
    (tmp_path / "p" / "bag" / "meta.json").write_text("{}")
    (tmp_path / "p" / "bag" / ".DS_Store").write_bytes(b"\0")  # hidden: ignored silently
    (tmp_path / "p" / ".ipynb_checkpoints").mkdir()  # hidden: not a class
    with pytest.warns(RuntimeWarning) as rec:
        ds = ImageFolder(str(tmp_path / "p"))
    msgs = [str(w.message) for w in rec]
    assert len(msgs) == 1 and msgs[0].startswith(
        "dataset.root: skipped 2 file(s) that are not images (by their extension: .json, .txt;"
    )
    assert ds.classes == ["bag", "sneaker", "trouser"] and len(ds) == 12
    assert len(ds.skipped_files) == 2
    (tmp_path / "p" / "sneaker" / "empty.png").write_bytes(b"")
    with pytest.warns(RuntimeWarning, match=r"1 of 13 images cannot be read: .*empty.png"):
        checked = ImageFolder(str(tmp_path / "p"), check_images=True, on_bad_image="skip")
    assert len(checked) == 12 and "empty.png" not in str(checked.samples)
    (tmp_path / "p" / "bag" / "0.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(BadImageError) as e:
        ds[0]
    assert str(e.value).startswith(f"dataset: cannot read image {tmp_path}/p/bag/0.png (")
    assert str(e.value).endswith("; remove or replace the file, or set dataset.on_bad_image: skip")


# ------------------------------------------------------------------------------- recipe parts
def test_auto_transforms_follow_the_models_default_config():
    from paddle_inception import get_model_cfg
    from paddle_inception.data.folder import TRAIN_CROP_SCALE, auto_transform_ops

    cfg = get_model_cfg("inception_v3")  # TF-slim: bicubic, [-1, 1], crop 0.875
    ev = auto_transform_ops(cfg, (3, 299, 299), train=False)
    assert ev[1] == {"ResizeImage": {"resize_short": 341, "interpolation": "bicubic"}}
    assert ev[2] == {"CropImage": {"size": [299, 299]}}
    assert ev[-1]["NormalizeImage"]["mean"] == [0.5, 0.5, 0.5]
    assert ev[-1]["NormalizeImage"]["std"] == [0.5, 0.5, 0.5]
    tr = auto_transform_ops(cfg, (3, 299, 299), train=True)
    assert tr[1]["RandCropImage"] == {
        "size": [299, 299],
        "scale": list(TRAIN_CROP_SCALE),
        "interpolation": "bicubic",
    }
    assert tr[2] == {"RandFlipImage": {"flip_code": 1}}
    g = get_model_cfg("googlenet_bn")  # ImageNet mean/std, bilinear
    gray = auto_transform_ops(g, (1, 64, 64), train=False)
    assert gray[1]["ResizeImage"] == {"resize_short": 73, "interpolation": "bilinear"}
    assert gray[3] == {"ToChannels": {"channels": 1}}
    assert gray[4]["NormalizeImage"]["mean"] == pytest.approx([sum(g["mean"]) / 3])


def test_freeze_befor_freezes_the_body_up_to_the_block_and_says_so(caplog):
    import logging

    from paddle_inception.engine.trainer import build_network

    cfg = {"Arch": {"name": "googlenet_bn", "class_num": 3, "freeze_befor": "inception4e"}}
    with caplog.at_level(logging.INFO, logger="paddle_inception"):
        net, _ = build_network(cfg)
    frozen = {n.split(".")[0] for n, p in net.named_parameters() if p.stop_gradient}
    trainable = {n.split(".")[0] for n, p in net.named_parameters() if not p.stop_gradient}
    assert "inception4e" in frozen and "inception3a" in frozen and "conv1" in frozen
    assert trainable == {"inception5a", "inception5b", "head", "aux1", "aux2"}
    assert "Arch.freeze_befor 'inception4e': froze " in caplog.text
    with pytest.raises(ValueError, match=r"^Arch.freeze_befor: GoogLeNet: no layer 'inception9'"):
        build_network(
            {"Arch": {"name": "googlenet_bn", "class_num": 3, "freeze_befor": "inception9"}}
        )


def test_backbone_lr_mult_scales_the_body_update_not_the_heads():
    import paddle

    from paddle_inception import create_model
    from paddle_inception.engine.optim import build_optimizer

    paddle.seed(1)
    net = create_model("googlenet_bn", num_classes=3)
    net.train()
    opt_cfg = {
        "name": "SGD",
        "lr": {"name": "Constant", "learning_rate": 0.5},
        "backbone_lr_mult": 0.1,
    }
    opt, _ = build_optimizer(opt_cfg, net, epochs=1, steps_per_epoch=1)
    out = net(paddle.randn([2, 3, 40, 40]))
    sum(o.square().mean() for o in out).backward()
    params = dict(net.named_parameters())
    before = {
        n: (p.numpy().copy(), p.grad.numpy().copy())
        for n, p in params.items()
        if p.grad is not None
    }
    opt.step()
    for name in (
        "conv1.conv.weight",
        "inception5b.branch1.conv.weight",
        "head.fc.weight",
        "aux1.fc2.weight",
    ):
        w0, g = before[name]
        mult = 1.0 if name.startswith(("head.", "aux1.")) else 0.1
        np.testing.assert_allclose(w0 - params[name].numpy(), 0.5 * mult * g, rtol=1e-4, atol=1e-7)


@pytest.mark.slow
def test_a_converted_torchvision_checkpoint_brings_its_model_options(tmp_path):
    """The documented path's first step: torchvision GoogLeNet (random weights here) ->
    `convert` -> `train --data` without --model: the conversion sidecar names the model, its
    options (transform_input) and its preprocessing."""
    why = "the torchvision peer: pip install torch torchvision (as .ci/run installs them)"
    torch = pytest.importorskip("torch", reason=why)
    torchvision = pytest.importorskip("torchvision", reason=why)
    import yaml

    torch.manual_seed(0)
    tv = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    torch.save(tv.state_dict(), tmp_path / "tv.pth")
    make_folder(str(tmp_path / "photos"), per_class=8)
    res = _run(
        ["convert", "--from", "torchvision", "--arch", "googlenet", "tv.pth", "tv.pdparams"],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    res = _run(
        [
            "train",
            "--data",
            "photos",
            "--weights",
            "tv.pdparams",
            "--input-size",
            "32",
            "--epochs",
            "1",
            "--workers",
            "0",
            "--output-dir",
            "out",
            "-o",
            "Global.use_visualdl=False",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert (
        "transform_ops: auto -> the converted checkpoint's preprocessing at 3x32x32" in res.stdout
    )
    run_cfg = yaml.safe_load((tmp_path / "out" / "googlenet_bn" / "config.yaml").read_text())
    assert run_cfg["Arch"]["transform_input"] is True and run_cfg["Arch"]["class_num"] == 3


@pytest.mark.slow
def test_weights_of_other_classes_with_the_same_count_get_a_new_classifier(tmp_path):
    """A run's best weights fine-tuned on three other classes: the shapes fit, but the
    classifier's rows are the old classes; the run re-creates it (and says so). Continuing on
    the same classes keeps it."""
    _small_folder(tmp_path / "first")
    _small_folder(tmp_path / "second", classes=("coat", "dress", "shirt"), shade=5)
    common = [
        "--model",
        "googlenet_bn",
        "--input-size",
        "32",
        "--epochs",
        "1",
        "--workers",
        "0",
        "-o",
        "Global.use_visualdl=False",
    ]
    res = _run(["train", "--data", "first", "--output-dir", "a", *common], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    best = "a/googlenet_bn/best"
    res = _run(
        ["train", "--data", "second", "--weights", best, "--output-dir", "b", *common], tmp_path
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert (
        "Global.pretrained_model: its classifier is for other classes "
        "(a/googlenet_bn/class_names.txt: bag, sneaker, trouser), not this run's (coat, dress, "
        "shirt): re-initialised it" in res.stdout.replace(str(tmp_path) + os.sep, "")
    )
    assert (
        "299 tensors loaded, 6 re-initialised (aux1.fc2.weight, aux1.fc2.bias, aux2.fc2.weight, "
        "aux2.fc2.bias, head.fc.weight, head.fc.bias)" in res.stdout
    )
    res = _run(
        ["train", "--data", "first", "--weights", best, "--output-dir", "c", *common], tmp_path
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "its classifier is for other classes" not in res.stdout
    assert "0 re-initialised" in res.stdout


@pytest.mark.slow
def test_the_same_command_twice_gives_the_same_run(tmp_path):
    """Seeded split, shuffle, crops and initial classifier: two runs of one command end with
    the same weights (on one machine: float rounding may differ between CPUs)."""
    import paddle

    _small_folder(tmp_path / "photos", per_class=6)
    common = [
        "train",
        "--data",
        "photos",
        "--model",
        "googlenet_bn",
        "--input-size",
        "32",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--workers",
        "0",
        "--val-split",
        "0.34",
        "-o",
        "Global.use_visualdl=False",
    ]
    runs = []
    for out in ("r1", "r2"):
        res = _run([*common, "--output-dir", out], tmp_path)
        assert res.returncode == 0, res.stderr[-2000:]
        run = tmp_path / out / "googlenet_bn"
        runs.append(
            (
                paddle.load(str(run / "latest" / "model.pdparams")),
                (run / "val_list.txt").read_text().split("\n", 1)[1],
            )
        )
    (w1, v1), (w2, v2) = runs
    assert v1 == v2 and len(v1.splitlines()) == 6  # 2 of 6 per class held out, the same files
    assert w1.keys() == w2.keys()
    for k in w1:
        np.testing.assert_array_equal(np.asarray(w1[k]), np.asarray(w2[k]), err_msg=k)
