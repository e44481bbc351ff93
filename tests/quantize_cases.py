"""`paddle-inception quantize` and the low-precision predictors (deploy.quantize, runtimes).

A tiny CNN keeps the file fast: random weights scaled so that the logits are O(1) for the
calibration and loading tests, and the same network trained for 300 steps on Fashion-MNIST
for the accuracy bound. Bounds:
- random weights, INT8 (ONNX Runtime QDQ, calibrated on 32 images made here) vs FP32 on other
  images: Pearson correlation of the logits >= 0.99;
- trained on Fashion-MNIST (~85% top-1), 2000 test images: top-1 changes on <= 2% of them and
  INT8 top-1 is within 1 point of FP32 (the issue's target for the full model is <= 1% and
  <= 0.3 points on 10,000 images; a 300-step model with 2000 images is noisier).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import paddle
import paddle.nn as nn
import pytest

from paddle_inception.cli import infer as infer_cli
from paddle_inception.cli import quantize as quantize_cli
from paddle_inception.deploy import runtimes
from paddle_inception.deploy.export import export_inference_model
from paddle_inception.deploy.imagesets import image_set_from_config, image_set_from_path
from paddle_inception.deploy.predictor import InferencePredictor
from paddle_inception.deploy.preprocess import build_preprocess
from paddle_inception.deploy.quantize import compare_predictors, quantize_export

pytest.importorskip("onnxruntime", reason='needs onnxruntime: pip install ".[deploy]"')
pytest.importorskip("paddle2onnx", reason='needs paddle2onnx: pip install ".[deploy]"')
pytest.importorskip("ml_dtypes", reason='ONNX Runtime\'s quantizer needs ml_dtypes: ".[deploy]"')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION_OPS = [
    {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.286], "std": [0.353], "order": ""}}
]


class TinyNet(nn.Layer):
    """Three convs with BN and pooling, then a classifier: the op kinds of an Inception stem."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(  # 28x28 -> 14x14 -> 7x7 -> 3x3 -> 1x1
            nn.Conv2D(1, 16, 3, stride=2, padding=1),
            nn.BatchNorm2D(16),
            nn.ReLU(),
            nn.Conv2D(16, 32, 3, stride=2, padding=1),
            nn.BatchNorm2D(32),
            nn.ReLU(),
            nn.MaxPool2D(2),
            nn.Conv2D(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2D(1),
        )
        self.fc = nn.Linear(32, classes)
        self.num_classes = classes

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


def _write_pngs(folder, n: int, seed: int) -> None:
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):  # smooth blobs, not white noise: closer to what a camera sees
        small = rng.integers(0, 256, (7, 7), dtype=np.uint8)
        img = Image.fromarray(small).resize((28, 28), Image.BILINEAR)
        img.save(os.path.join(folder, f"{i:03d}.png"))


def _export(net, path) -> str:
    net.eval()
    prefix = os.path.join(path, "fp32", "inference")
    export_inference_model(net, prefix, input_shape=[1, 28, 28], transforms=FASHION_OPS)
    return prefix


def _preprocess():
    return build_preprocess(FASHION_OPS, 1)


@pytest.fixture(scope="module")
def random_export(tmp_path_factory):
    """FP32 export of TinyNet with random weights (classifier scaled: logit std ~1), and a
    folder of calibration PNGs and one of other PNGs."""
    path = tmp_path_factory.mktemp("q_random")
    paddle.seed(1)
    net = TinyNet()
    net.eval()
    _write_pngs(path / "calib", 32, seed=1)
    _write_pngs(path / "other", 64, seed=2)
    x = next(image_set_from_path(path / "calib", _preprocess()).batches(32))[0]  # [32, 1, 28, 28]
    with paddle.no_grad():
        s = float(net(paddle.to_tensor(x)).numpy().std())
        net.fc.weight.set_value(net.fc.weight / s)
        net.fc.bias.set_value(net.fc.bias / s)
    return path, _export(net, path)


@pytest.fixture(scope="module")
def random_int8(random_export):
    path, prefix = random_export
    calib = image_set_from_path(path / "calib", _preprocess(), n=32)
    res = quantize_export(prefix, str(path / "int8"), "int8", "onnxruntime", calib)
    return path, prefix, res


def test_int8_random_weights_runs_and_correlates(random_int8):
    path, prefix, res = random_int8
    assert res.model_file.endswith("inference.onnx") and os.path.isfile(res.model_file)
    pred, model, desc = runtimes.open_predictor(str(path / "int8"))
    assert model.kind == "onnx" and "ONNX Runtime int8" in desc
    other = image_set_from_path(path / "other", _preprocess())
    out = compare_predictors(InferencePredictor(prefix), pred, other, batch_size=16)
    assert out.images == 64 and out.float_top1 is None  # no class folders: no labels
    x = next(other.batches(8))[0]
    f32, i8 = InferencePredictor(prefix)(x), pred(x)
    assert i8.shape == f32.shape == (8, 10)
    assert 0.3 < f32.std() < 3  # the logits are O(1), so the bound below means something
    assert out.logit_corr >= 0.99, out
    assert np.abs(i8 - f32).max() > 0  # it is not the float model under another name


def test_int8_meta_records_precision_and_calibration(random_int8):
    path, prefix, res = random_int8
    with open(res.meta_file, encoding="utf-8") as f:
        meta = json.load(f)
    assert meta["precision"] == "int8" and meta["runtime"] == "onnxruntime"
    assert meta["model_file"] == "inference.onnx"
    assert meta["calibration"]["num_images"] == 32 and "calib" in meta["calibration"]["set"]
    assert meta["calibration"]["method"] == "minmax"
    assert "quantize_static" in meta["route"]
    assert meta["float_model"] == os.path.abspath(prefix)
    age = datetime.datetime.now(datetime.timezone.utc) - datetime.datetime.fromisoformat(
        meta["date"]
    )
    assert datetime.timedelta(0) <= age < datetime.timedelta(hours=1)
    assert meta["input_shape"] == [1, 28, 28] and meta["transforms"] == FASHION_OPS


def test_paddle_backend_refuses_an_int8_onnx_model(random_int8):
    path, _, _ = random_int8
    with pytest.raises(ValueError, match="runs in onnxruntime, not Paddle Inference"):
        runtimes.open_predictor(str(path / "int8"), backend="paddle")


def test_infer_cli_runs_the_int8_model(random_int8, capsys):
    path, _, _ = random_int8
    img = str(path / "other" / "000.png")
    assert infer_cli.main(["--inference-model", str(path / "int8"), img, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "ONNX Runtime int8" in out["backend"] and out["num_failed"] == 0
    assert len(out["results"][0]["class_ids"]) == 5
    code = infer_cli.main(["--inference-model", str(path / "int8"), "--backend", "paddle", img])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and "--backend onnxruntime" in err[-1]


def test_fp32_export_without_onnx_names_the_fix(random_export, tmp_path):
    _, prefix = random_export
    for ext in (".json", ".pdiparams", "_meta.json"):  # a copy without the ONNX file
        shutil.copyfile(prefix + ext, str(tmp_path / ("inference" + ext)))
    with pytest.raises(FileNotFoundError, match="export with --onnx"):
        runtimes.open_predictor(str(tmp_path), backend="onnxruntime")


def test_quantize_cli_bad_input_is_one_error_line(random_export, tmp_path, capsys):
    _, prefix = random_export
    base = ["--inference-model", prefix, "--output-dir", str(tmp_path / "o")]
    assert quantize_cli.main(base + ["--calib", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: --calib: {tmp_path / 'nope'} does not exist (a folder or a .txt list file)"
    ]
    assert quantize_cli.main(base + ["--calib", str(tmp_path), "--num-calib", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --num-calib: must be >= 1, got 0"
    assert quantize_cli.main(base) == 2  # no calibration images named, no config
    assert "--calib: give a folder" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "o" / "inference.onnx")


def test_openvino_route_runs_and_correlates(random_export, tmp_path):
    pytest.importorskip("openvino", reason='needs openvino: pip install ".[deploy]"')
    pytest.importorskip("nncf", reason='needs nncf: pip install ".[deploy]"')
    path, prefix = random_export
    calib = image_set_from_path(path / "calib", _preprocess(), n=32)
    res = quantize_export(prefix, str(tmp_path / "ov"), "int8", "openvino", calib)
    assert res.model_file.endswith("inference.xml")
    pred, model, desc = runtimes.open_predictor(str(tmp_path / "ov"))
    assert model.kind == "openvino" and desc.startswith("OpenVINO int8")
    other = image_set_from_path(path / "other", _preprocess())
    assert compare_predictors(InferencePredictor(prefix), pred, other).logit_corr >= 0.99
    # the FP32 export's ONNX file (written by quantize_export) through --backend openvino
    fp32_ov, _, desc = runtimes.open_predictor(prefix, backend="openvino")
    x = next(other.batches(8))[0]
    assert desc.startswith("OpenVINO fp32")
    np.testing.assert_allclose(fp32_ov(x), InferencePredictor(prefix)(x), atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------------------ bf16
def test_bf16_refused_without_the_cpu_flag_naming_it_and_the_alternative():
    with pytest.raises(runtimes.UnsupportedPrecisionError) as e:
        runtimes.check_precision("bf16", flags={"avx512f", "avx512_vnni"})
    assert "avx512_bf16 or amx_bf16" in str(e.value) and "use precision int8" in str(e.value)
    with pytest.raises(runtimes.UnsupportedPrecisionError, match="use precision fp32"):
        runtimes.check_precision("bf16", flags={"avx2", "fma"})
    assert runtimes.check_precision("bf16", flags={"avx512_bf16"}) is None
    assert "no VNNI" in runtimes.check_precision("int8", flags={"avx2"})


def test_bf16_cli_on_a_cpu_without_it_exits_2(random_export, tmp_path, capsys, monkeypatch):
    _, prefix = random_export
    monkeypatch.setattr(runtimes, "cpu_flags", lambda cpuinfo="": {"avx512f", "avx512_vnni"})
    argv = ["--inference-model", prefix, "--output-dir", str(tmp_path), "--precision", "bf16"]
    assert quantize_cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: bf16 needs a CPU with avx512_bf16")
    assert not os.listdir(tmp_path)


_FLAGS = runtimes.cpu_flags() or set()


@pytest.mark.skipif(
    not ({"avx512_bf16", "amx_bf16"} & _FLAGS),
    reason="this CPU has neither avx512_bf16 nor amx_bf16 (Paddle's oneDNN BF16 kernels)",
)
def test_bf16_runs_close_to_fp32(random_export, tmp_path):
    path, prefix = random_export
    res = quantize_export(prefix, str(tmp_path / "bf16"), "bf16")
    pred, model, desc = runtimes.open_predictor(str(tmp_path / "bf16"))
    assert model.precision == "bf16" and "Paddle Inference bf16" in desc
    other = image_set_from_path(path / "other", _preprocess())
    assert compare_predictors(InferencePredictor(prefix), pred, other).logit_corr >= 0.995
    assert res.calibration is None


# ------------------------------------------------------------------------------ accuracy
def _fashion_cfg(num_train: int, num_eval: int) -> dict:
    ds = {"name": "FashionMNIST", "transform_ops": FASHION_OPS}
    return {
        "Arch": {"class_num": 10},
        "DataLoader": {
            "Train": {"dataset": dict(ds, num_samples=num_train)},
            "Eval": {"dataset": dict(ds, num_samples=num_eval)},
        },
    }


@pytest.mark.slow
def test_int8_agrees_with_fp32_on_a_model_trained_on_fashion_mnist(tmp_path):
    from paddle_inception.data.datasets import FashionMNIST

    train = FashionMNIST(mode="train", num_samples=25600)
    x_all = ((train.images.astype(np.float32) / 255 - 0.286) / 0.353)[:, None]  # FASHION_OPS
    paddle.seed(0)
    net = TinyNet()
    opt = paddle.optimizer.Adam(learning_rate=5e-3, parameters=net.parameters())
    net.train()
    for i in range(0, 25600, 64):  # 400 steps of 64
        logits = net(paddle.to_tensor(x_all[i : i + 64]))
        loss = nn.functional.cross_entropy(logits, paddle.to_tensor(train.labels[i : i + 64]))
        loss.backward()
        opt.step()
        opt.clear_grad()
    prefix = _export(net, tmp_path)
    cfg = _fashion_cfg(60000, 2000)
    calib = image_set_from_config(cfg, "train", n=128, seed=1)  # Eval transforms, no flips
    quantize_export(prefix, str(tmp_path / "int8"), "int8", "onnxruntime", calib)
    pred, _, _ = runtimes.open_predictor(str(tmp_path / "int8"))
    out = compare_predictors(InferencePredictor(prefix), pred, image_set_from_config(cfg, "eval"))
    assert out.images == 2000
    assert out.float_top1 >= 75.0, out  # it did learn: the bound below is about a real model
    assert out.changed_pct <= 2.0, out
    assert abs(out.quant_top1 - out.float_top1) <= 1.0, out


@pytest.mark.slow
def test_quantize_cli_eval_on_a_folder(random_export, tmp_path):
    """The command end to end in its own process: an export as the source, `--eval` on a
    labelled folder (class sub-folders), nothing printed but our lines."""
    path, prefix = random_export
    for c in ("a", "b"):
        _write_pngs(tmp_path / "eval" / c, 6, seed=ord(c))
    cmd = [sys.executable, "-m", "paddle_inception.cli", "quantize", "--inference-model", prefix]
    cmd += ["--output-dir", str(tmp_path / "o"), "--calib", str(path / "calib")]
    cmd += ["--num-calib", "16", "--eval", str(tmp_path / "eval")]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert (
        lines[0] == f"wrote int8 model {tmp_path / 'o' / 'inference.onnx'} (+ inference_meta.json)"
    )
    assert lines[1].startswith("calibrated on 16 images of")
    assert lines[2].startswith("eval on ") and "top-1 float" in lines[2]
    assert lines[3].startswith("top-1 changed on ") and "of 12 images" in lines[3]
    assert len(lines) == 4


@pytest.mark.slow
def test_deploy_benchmark_quick_rows(tmp_path):
    """`python -m benchmarks.deploy --quick`: every row of the table is measured or says why
    not, and the ratios are against the Paddle FP32 row of the same batch."""
    cmd = [sys.executable, "-m", "benchmarks.deploy", "--quick", "--batches", "2", "--json"]
    cmd += ["--workdir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    rows = {(r["runtime"], r["precision"]): r for r in report["rows"]}
    assert len(rows) == 8 and {r["batch"] for r in report["rows"]} == {2}
    assert rows[("paddle", "fp32")]["x_paddle_fp32"] == 1.0
    assert rows[("onnxruntime", "int8")]["img_s"] > 0
    assert "jit.to_static" in rows[("paddle", "int8")]["why"]
    bf16 = rows[("paddle", "bf16")]
    if {"avx512_bf16", "amx_bf16"} & _FLAGS:
        assert bf16["img_s"] > 0
    else:
        assert bf16["status"] == "skipped" and "avx512_bf16" in bf16["why"]
    for key in [("openvino", "fp32"), ("openvino", "int8"), ("openvino", "int8-qdq")]:
        r = rows[key]
        assert r.get("img_s", 0) > 0 or '".[deploy]"' in r["why"], r
    assert "family" in report["cpu"] and report["threads"] == 2


def test_image_sets_from_a_list_file_and_class_folders(random_export, tmp_path):
    path, _ = random_export
    lst = tmp_path / "list.txt"
    lst.write_text(f"# comment\n{path / 'other' / '000.png'} 3\n\n{path / 'other' / '001.png'} 7\n")
    s = image_set_from_path(str(lst), _preprocess())
    x, y = next(s.batches(8))
    assert s.labeled and x.shape == (2, 1, 28, 28) and y.tolist() == [3, 7]
    for c in ("cat", "ant"):  # sorted names give the ids: ant 0, cat 1
        _write_pngs(tmp_path / "f" / c, 2, seed=len(c))
    s = image_set_from_path(str(tmp_path / "f"), _preprocess())
    assert s.labeled and next(s.batches(8))[1].tolist() == [0, 0, 1, 1]
    sub = image_set_from_path(str(tmp_path / "f"), _preprocess(), n=3, seed=0)
    assert sub.size == 3
    (tmp_path / "bad.txt").write_text(f"{tmp_path / 'missing.png'} 1\n")
    with pytest.raises(FileNotFoundError, match="missing.png: file not found"):
        image_set_from_path(str(tmp_path / "bad.txt"), _preprocess())


def test_infer_backend_without_an_inference_model_is_refused(random_export, capsys):
    path, _ = random_export
    argv = ["--model", "googlenet", "--backend", "onnxruntime", str(path / "other" / "000.png")]
    assert infer_cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: --backend onnxruntime runs an --inference-model (an export)"
