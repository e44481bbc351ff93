"""The inspection and inference tools: summary (seed 002's numbers), infer, class maps, hub."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import paddle
import pytest
from conftest import FASHION_MNIST_NAMES, ROOT, SEED_002_TABLES, checkout_env

import paddle_inception as pi
from paddle_inception import analysis as S
from paddle_inception import deploy as D
from paddle_inception.cli import infer as infer_cli
from paddle_inception.cli import summary as summary_cli
from paddle_inception.cli.common import ToolError, parse_input_size
from paddle_inception.config import load_config

_ROW = re.compile(r"([A-Za-z][A-Za-z0-9]*-\d+)\s*(\[\[[\d, ]+\]\])\s*(\[[\d, ]+\])\s*([\d,]+)")


def _rows(text):
    """{layer key: (input shape, output shape, params)} of a paddle.summary table."""
    return {k: (i, o, int(p.replace(",", ""))) for k, i, o, p in _ROW.findall(text)}


def _seed_002():
    text = open(SEED_002_TABLES, encoding="utf-8").read()
    cut = text.find("paddle.summary(googlenet")
    return text[:cut], text[cut:]


# ------------------------------------------------------------------------------ summary
def test_googlenet_summary_is_the_three_output_network_of_seed_002():
    info = S.summarize("googlenet")
    s = info["summary"]
    assert s["total_params"] == 13_378_280 == info["params"]["total"]
    assert s["trainable_params"] == 13_378_280 == info["params"]["trainable"]
    assert info["params"]["non_trainable"] == 0
    assert "Total params: 13,378,280" in s["text"]
    assert "[[1, 1000], [1, 1000], [1, 1000]]" in s["text"]  # main + both aux outputs
    ours = _rows(s["text"])
    _, seed_text = _seed_002()
    seed = _rows(seed_text)
    assert sum(r[2] for r in seed.values()) == 13_378_280
    compared = 0
    for key, row in seed.items():
        if key.split("-")[0] in ("Conv2D", "MaxPool2D", "Inception"):
            assert ours[key] == row, key  # same input, output shape and params
            compared += 1
    assert compared == 59 + 13 + 9
    lin = lambda rows: sorted(r[2] for k, r in rows.items() if k.startswith("Linear"))  # noqa
    assert lin(ours) == lin(seed) == [1_025_000] * 3 + [2_098_176] * 2
    # inference uses the main path only; MACs stated for the eval forward
    assert info["params"]["inference"] == 13_378_280 - 6_379_728
    assert 1.5e9 < info["macs"] < 1.7e9 and info["flops"] > info["macs"]


def test_inception_block_summary_matches_seed_002():
    info = S.summarize(S.BLOCK_NAME)
    assert info["input_shape"] == [192, 224, 224]
    assert info["summary"]["total_params"] == 163_696 == info["params"]["total"]
    block_text, _ = _seed_002()
    seed, ours = _rows(block_text), _rows(info["summary"]["text"])
    for key, row in seed.items():
        if key.startswith(("Conv2D", "MaxPool2D")):
            assert ours[key] == row, key
    assert info["stages"] == []


def test_stage_table_matches_feature_info():
    model = pi.create_model("googlenet_bn", num_classes=10)
    rows = S.stage_table(model, (3, 224, 224))
    assert [r["name"] for r in rows] == [f["name"] for f in model.feature_info]
    cum = [r["cum_params"] for r in rows]
    assert cum == sorted(cum) and 0 < cum[0] and cum[-1] < S.param_counts(model)["total"]
    for r, f in zip(rows, model.feature_info):
        assert r["shape"] == [1, f["num_chs"], 224 // f["reduction"], 224 // f["reduction"]]
        assert r["num_chs"] == f["num_chs"] and r["reduction"] == f["reduction"]
    # cumulative params of the last stage = the whole body (head and aux heads excluded)
    body = sum(
        int(np.prod(p.shape)) for n in model.block_names for p in getattr(model, n).parameters()
    )
    assert cum[-1] == body
    # inspection leaves the model's mode alone
    model.train()
    info = S.summarize(model, (3, 64, 64))
    assert model.training and info["summary"]["total_params"] == S.param_counts(model)["total"]
    model.eval()
    S.summary_table(model, (3, 64, 64))
    assert not model.training


def test_bn_running_stats_are_non_trainable_and_hook_table_equals_paddle_summary():
    model = pi.create_model("googlenet_bn", num_classes=10, in_channels=1)
    model.eval()
    p = S.param_counts(model)
    bn = sum(
        int(np.prod(layer._mean.shape)) * 2
        for layer in model.sublayers()
        if isinstance(layer, paddle.nn.BatchNorm2D)
    )
    assert p["non_trainable"] == bn > 0 and p["trainable"] + bn == p["total"]
    a = S.summary_table(model, (1, 64, 64), backend="paddle")
    b = S.summary_table(model, (1, 64, 64), backend="hooks")
    assert a["backend"] == "paddle.summary" and b["backend"] == "hooks"
    assert a["text"] == b["text"]  # our fallback reproduces paddle.summary exactly
    assert a["total_params"] == b["total_params"] == p["total"]
    assert a["trainable_params"] == p["trainable"]


def test_summary_main_json_and_errors(capsys):
    assert (
        summary_cli.main(
            ["--model", "googlenet", "--input-size", "64", "--format", "json", "--no-table"]
        )
        == 0
    )
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == "googlenet" and info["input_shape"] == [3, 64, 64]
    assert info["params"]["total"] == 13_378_280
    assert [s["name"] for s in info["stages"]] == [
        "conv1",
        "conv3",
        "inception3b",
        "inception4e",
        "inception5b",
    ]
    assert "summary" not in info
    # config: Arch + Global.image_shape (Fashion-MNIST job: 1x48x48, 10 classes)
    assert (
        summary_cli.main(
            [
                "-c",
                os.path.join(ROOT, "configs", "googlenet.yaml"),
                "--format",
                "json",
                "--no-table",
            ]
        )
        == 0
    )
    info = json.loads(capsys.readouterr().out)
    shape = load_config(os.path.join(ROOT, "configs", "googlenet.yaml"))["Global"]["image_shape"]
    assert info["model"] == "googlenet_bn" and info["input_shape"] == shape
    assert info["num_classes"] == 10
    assert summary_cli.main(["--model", "googlenet", "--input-size", "16"]) == 2
    assert "smaller than the minimum" in capsys.readouterr().err
    assert summary_cli.main(["--model", "googlenett"]) == 2
    assert "did you mean 'googlenet'" in capsys.readouterr().err
    assert summary_cli.main([]) == 2


def test_summary_all_rows_and_formats(capsys):
    rows = S.summarize_all(["googlenet", "inception_v3"], input_size=(75, 75))
    assert [r["model"] for r in rows] == ["googlenet", "inception_v3"]
    g = rows[0]
    assert g["params"] == 13_378_280 and g["inference_params"] < g["params"]
    assert g["input_size"] == [3, 75, 75] and g["min_input_size"] == [3, 31, 31]
    md = S.format_all(rows, "markdown")
    assert md.splitlines()[0].startswith("| model | params") and "| googlenet | 13,378,280 |" in md
    assert json.loads(S.format_all(rows, "json"))[1]["model"] == "inception_v3"
    assert "inception_v3" in S.format_all(rows, "text")
    assert summary_cli.main(["--list"]) == 0
    assert capsys.readouterr().out.split() == pi.list_models() + [S.BLOCK_NAME]


def test_summary_script_subprocess_smoke():
    env = checkout_env()
    res = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "tools", "summary.py"),
            "--model",
            "googlenet",
            "--input-size",
            "64",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.dirname(ROOT),
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "Total params: 13,378,280" in res.stdout
    assert "MACs:" in res.stdout and "inception5b" in res.stdout


def test_parse_input_size():
    assert parse_input_size("224") == (224, 224)
    assert parse_input_size("299x320") == (299, 320)
    assert parse_input_size("1x64x64") == (1, 64, 64)
    assert parse_input_size(None) is None
    for bad in ("0", "axb", "1x2x3x4", "-5"):
        with pytest.raises(ToolError, match="input-size"):
            parse_input_size(bad)


# ------------------------------------------------------------------------------ class maps
def test_shipped_class_maps():
    fm = D.load_class_map(os.path.join(D.CLASS_MAPS_DIR, "fashion_mnist.txt"))
    assert fm == dict(enumerate(FASHION_MNIST_NAMES))
    inet = D.load_class_map(os.path.join(D.CLASS_MAPS_DIR, "imagenet1k.txt"))
    assert sorted(inet) == list(range(1000))
    assert inet[0] == "tench, Tinca tinca" and inet[999].startswith("toilet tissue")
    assert D.default_class_map_path(1000).endswith("imagenet1k.txt")
    assert D.default_class_map_path(7) is None


def test_class_map_errors(tmp_path):
    good = tmp_path / "m.txt"
    good.write_text("# comment\n0 cat\n\n2 big dog, hound\n")
    assert D.load_class_map(str(good)) == {0: "cat", 2: "big dog, hound"}
    for content, msg in (
        ("x cat\n", "expected 'class_id name'"),
        ("0 a\n0 b\n", "twice"),
        ("", "no entries"),
    ):
        bad = tmp_path / "bad.txt"
        bad.write_text(content)
        with pytest.raises(ValueError, match=msg):  # the library raises ValueError
            D.load_class_map(str(bad))
    with pytest.raises(FileNotFoundError, match="not found"):
        D.load_class_map(str(tmp_path / "nope.txt"))


# ------------------------------------------------------------------------------ infer
@pytest.fixture()
def images(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    d = tmp_path / "imgs"
    d.mkdir()
    Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(d / "a_rgb.png")
    Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8), "L").save(d / "b_gray.png")
    (d / "c_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n definitely not a png")
    (d / "d_empty.jpg").write_bytes(b"")
    (tmp_path / "list.txt").write_text("imgs/a_rgb.png 3\nimgs/b_gray.png\nimgs/missing.png 1\n")
    return d


def test_preprocess_converts_channels_and_uses_the_default_cfg(images):
    cfg = pi.get_model_cfg("inception_v3")
    ops = D.default_transforms(cfg, (3, 299, 299))
    assert ops[1] == {"ResizeImage": {"resize_short": 341, "interpolation": "bicubic"}}
    rgb = D.build_preprocess(D.default_transforms(cfg, (3, 75, 75)), 3)
    gray = D.build_preprocess(D.default_transforms(cfg, (1, 75, 75)), 1)
    for f in ("a_rgb.png", "b_gray.png"):
        data = (images / f).read_bytes()
        a, b = rgb(data), gray(data)
        assert a.shape == (3, 75, 75) and b.shape == (1, 75, 75)
        assert a.dtype == np.float32 and -1.01 <= a.min() and a.max() <= 1.01  # mean/std 0.5
    # a config op list without decode / channel conversion / CHW gets them added
    ops = [
        {"ResizeImage": {"size": 48}},
        {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.286], "std": [0.353], "order": ""}},
    ]
    out = D.build_preprocess(ops, 1)((images / "a_rgb.png").read_bytes())
    assert out.shape == (1, 48, 48)


def test_collect_and_classify_keep_going_past_bad_images(images, tmp_path):
    items = D.collect_images(
        [
            str(images),
            str(tmp_path / "list.txt"),
            str(tmp_path / "nothere.jpg"),
            str(tmp_path / "emptydir"),
        ]
    )
    names = [os.path.basename(p) for p, _ in items]
    assert names == [
        "a_rgb.png",
        "b_gray.png",
        "c_corrupt.png",
        "d_empty.jpg",
        "a_rgb.png",
        "b_gray.png",
        "missing.png",
        "nothere.jpg",
        "emptydir",
    ]
    assert [e is None for _, e in items] == [True] * 6 + [False] * 3
    model = pi.create_model("googlenet", num_classes=10)
    fm = D.load_class_map(os.path.join(D.CLASS_MAPS_DIR, "fashion_mnist.txt"))
    pre = D.build_preprocess(D.default_transforms(model.default_cfg, (3, 64, 64)), 3)
    res = D.classify(D.EagerPredictor(model), pre, items, k=3, class_map=fm, batch_size=3)
    assert len(res) == len(items)
    ok = [r for r in res if "error" not in r]
    assert len(ok) == 4
    for r in ok:
        assert len(r["class_ids"]) == 3 and r["scores"] == sorted(r["scores"], reverse=True)
        assert 0 < sum(r["scores"]) <= 1.0 + 1e-5
        assert r["label_names"] == [fm[c] for c in r["class_ids"]]
    assert res[0] == res[4]  # same image via the folder and the list file
    errors = {os.path.basename(r["file_name"]): r["error"] for r in res if "error" in r}
    assert "not a readable image" in errors["c_corrupt.png"]
    assert "empty file" in errors["d_empty.jpg"]
    assert errors["missing.png"] == errors["nothere.jpg"] == "file not found"
    # the eager model's own softmax, for the first image
    x = pre((images / "a_rgb.png").read_bytes())[None]
    with paddle.no_grad():
        probs = paddle.nn.functional.softmax(model(paddle.to_tensor(x))).numpy()[0]
    np.testing.assert_allclose(res[0]["scores"], np.sort(probs)[::-1][:3], atol=1e-5)


def test_infer_main_json_exit_codes_and_weights(images, tmp_path, capsys):
    model = pi.create_model("googlenet", num_classes=10)
    ckpt = tmp_path / "ckpt" / "epoch_0001"
    ckpt.mkdir(parents=True)
    paddle.save(model.state_dict(), str(ckpt / "model.pdparams"))
    fm = os.path.join(D.CLASS_MAPS_DIR, "fashion_mnist.txt")
    base = [
        "--model",
        "googlenet",
        "--num-classes",
        "10",
        "--input-size",
        "64",
        "--weights",
        str(ckpt),
        "--class-map",
        fm,
        "-k",
        "2",
        "--format",
        "json",
    ]
    assert infer_cli.main(base + [str(images / "a_rgb.png"), str(images / "b_gray.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["num_images"] == 2 and out["num_failed"] == 0
    first = out["results"][0]
    # the same weights through the API give the same answer
    pre = D.build_preprocess(D.default_transforms(model.default_cfg, (3, 64, 64)), 3)
    ref = D.classify(D.EagerPredictor(model), pre, [str(images / "a_rgb.png")], k=2)[0]
    assert first["class_ids"] == ref["class_ids"]
    np.testing.assert_allclose(first["scores"], ref["scores"], atol=1e-5)
    assert first["label_names"][0] in FASHION_MNIST_NAMES
    # one bad image: reported, the others kept, exit status 1
    assert infer_cli.main(base + [str(images)]) == 1
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert out["num_images"] == 4 and out["num_failed"] == 2
    assert "c_corrupt.png" in cap.err and "d_empty.jpg" in cap.err
    # text output
    assert infer_cli.main(base[:-2] + [str(images / "a_rgb.png")]) == 0
    assert "a_rgb.png:" in capsys.readouterr().out
    # weights that do not fit, missing weights, no model
    assert (
        infer_cli.main(
            [
                "--model",
                "googlenet",
                "--input-size",
                "64",
                "--weights",
                str(ckpt),
                str(images / "a_rgb.png"),
            ]
        )
        == 2
    )
    assert "does not fit" in capsys.readouterr().err
    assert (
        infer_cli.main(
            [
                "--model",
                "googlenet",
                "--weights",
                str(tmp_path / "no.pdparams"),
                str(images / "a_rgb.png"),
            ]
        )
        == 2
    )
    assert "no.pdparams" in capsys.readouterr().err
    assert infer_cli.main([str(images / "a_rgb.png")]) == 2


def test_infer_main_with_the_fashion_mnist_config(images, tmp_path, capsys):
    model = pi.create_model("googlenet_bn", num_classes=10, in_channels=1)
    w = tmp_path / "fm.pdparams"
    paddle.save(model.state_dict(), str(w))
    cfg = os.path.join(ROOT, "configs", "googlenet.yaml")
    assert (
        infer_cli.main(
            [
                "-c",
                cfg,
                "-o",
                f"Global.pretrained_model={w}",
                "--format",
                "json",
                str(images / "a_rgb.png"),
                str(images / "b_gray.png"),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    fm = D.load_class_map(os.path.join(D.CLASS_MAPS_DIR, "fashion_mnist.txt"))
    for r in out["results"]:
        assert len(r["class_ids"]) == 5 and r["label_names"] == [fm[c] for c in r["class_ids"]]


# ------------------------------------------------------------------------------ hub
@pytest.mark.slow
def test_paddle_hub_lists_and_loads_every_model():
    names = paddle.hub.list(ROOT, source="local")
    assert sorted(names) == pi.list_models()
    for name in names:
        model = paddle.hub.load(ROOT, name, source="local", num_classes=3)
        assert isinstance(model, pi.models.InceptionModel)
        assert model.num_classes == 3 and model.model_name == name
    assert "Szegedy" in paddle.hub.help(ROOT, "googlenet", source="local")
    with pytest.raises(RuntimeError, match="Cannot find callable"):
        paddle.hub.load(ROOT, "resnet50", source="local")
