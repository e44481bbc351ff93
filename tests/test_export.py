"""Export for deployment: paddle.jit.save of the main-logits network (every model), Paddle
Inference, ONNX (when paddle2onnx/onnxruntime are installed) and the two CLIs."""

import json
import os

import numpy as np
import paddle
import pytest

import paddle_inception as pi
from paddle_inception import deploy as D
from paddle_inception.analysis.summary import _inference_pass, param_counts
from paddle_inception.cli import export as export_cli
from paddle_inception.cli import infer as infer_cli

# exports every model and runs Paddle Inference / ONNX Runtime
pytestmark = pytest.mark.slow

MODELS = pi.list_models()
SOFTMAX = ("googlenet", "inception_v3")  # exported with a softmax
IN_CHANNELS = {"googlenet_bn": 1}  # one grayscale export
_EXPORTS = {}  # name -> (model, prefix, x), for reuse


def _size(name):
    return max(pi.get_model_cfg(name)["min_input_size"][-1], 64)


def _export(name, tmp_dir):
    if name not in _EXPORTS:
        c = IN_CHANNELS.get(name, 3)
        model = pi.create_model(name, num_classes=10, in_channels=c)
        model.train()  # export must use eval behaviour and leave the mode as it was
        s = _size(name)
        prefix = os.path.join(str(tmp_dir), name, "inference")
        res = D.export_inference_model(model, prefix, (c, s, s), softmax=name in SOFTMAX)
        assert model.training
        model.eval()
        x = np.random.default_rng(1).standard_normal((2, c, s, s)).astype(np.float32)
        _EXPORTS[name] = (model, prefix, x, res)
    return _EXPORTS[name]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    yield tmp_path_factory.mktemp("exports")
    _EXPORTS.clear()


def _eager(model, x, softmax):
    with paddle.no_grad():
        out = model(paddle.to_tensor(x))
        return (paddle.nn.functional.softmax(out, -1) if softmax else out).numpy()


@pytest.mark.parametrize("name", MODELS)
def test_exported_model_equals_eager_and_drops_aux_heads(name, export_dir):
    model, prefix, x, res = _export(name, export_dir)
    c, s = x.shape[1], x.shape[2]
    assert res["input_spec"] == [None, c, s, s]
    assert os.path.isfile(res["program"]) and os.path.isfile(res["params"])
    loaded = paddle.jit.load(prefix)
    loaded.eval()
    out = loaded(paddle.to_tensor(x)).numpy()
    softmax = name in SOFTMAX
    ref = _eager(model, x, softmax)
    assert out.shape == (2, 10)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    if softmax:
        np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)
    # only the parameters of the inference path are saved: aux heads dropped
    saved = sum(int(np.prod(v.shape)) for v in loaded.state_dict().values())
    assert saved == _inference_pass(model, (c, s, s))["inference_params_all"]
    if name in ("googlenet", "googlenet_bn", "inception_v3"):
        assert saved < param_counts(model)["total"]
    else:
        assert saved == param_counts(model)["total"]
    meta = D.read_meta(prefix)
    assert meta["model"] == name and meta["input_shape"] == [c, s, s]
    assert meta["softmax"] is softmax and meta["num_classes"] == 10


@pytest.mark.parametrize("name", ["googlenet", "googlenet_bn", "inception_v3"])
def test_paddle_inference_predictor_matches_eager(name, export_dir):
    model, prefix, x, _ = _export(name, export_dir)
    pred = D.create_predictor(os.path.dirname(prefix))  # a directory works too
    out = pred(x)
    np.testing.assert_allclose(out, _eager(model, x, name in SOFTMAX), rtol=1e-5, atol=1e-5)
    assert pred(x[:1]).shape == (1, 10)  # dynamic batch


def test_model_files_and_errors(export_dir, tmp_path):
    _, prefix, _, res = _export("googlenet", export_dir)
    for given in (prefix, os.path.dirname(prefix), res["program"], res["meta"]):
        assert D.model_files(given) == (res["program"], res["params"])
    with pytest.raises(FileNotFoundError, match="no .*json or .*pdmodel"):
        D.model_files(str(tmp_path / "nothing" / "inference"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no program files"):
        D.model_files(str(tmp_path / "empty"))
    assert D.read_meta(str(tmp_path / "nothing")) is None
    model = pi.create_model("googlenet", num_classes=10)
    with pytest.raises(ValueError, match="smaller than the minimum"):
        D.export_inference_model(model, str(tmp_path / "x" / "inference"), (3, 16, 16))
    with pytest.raises(ValueError, match="channels"):
        D.export_inference_model(model, str(tmp_path / "x" / "inference"), (1, 64, 64))


def test_onnx_export_matches_eager(export_dir):
    pytest.importorskip("paddle2onnx")
    pytest.importorskip("onnxruntime")
    model, prefix, x, _ = _export("googlenet", export_dir)
    path = D.export_onnx(prefix)
    assert path.endswith("inference.onnx") and os.path.isfile(path)
    out = D.onnx_predict(path, x)
    np.testing.assert_allclose(out, _eager(model, x, True), rtol=1e-5, atol=1e-5)


def test_export_and_infer_clis(tmp_path, capsys):
    from PIL import Image

    img = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(
        img
    )
    model = pi.create_model("googlenet", num_classes=10)
    w = tmp_path / "w.pdparams"
    paddle.save(model.state_dict(), str(w))
    fm = os.path.join(D.CLASS_MAPS_DIR, "fashion_mnist.txt")
    out_dir = tmp_path / "inference"
    assert (
        export_cli.main(
            [
                "--model",
                "googlenet",
                "--num-classes",
                "10",
                "--input-size",
                "64",
                "--weights",
                str(w),
                "--output-dir",
                str(out_dir),
                "--softmax",
                "--class-map",
                fm,
            ]
        )
        == 0
    )
    cap = capsys.readouterr().out
    assert "exported googlenet (softmax, input [None, 3, 64, 64])" in cap
    assert "inference max |diff|" in cap
    meta = D.read_meta(str(out_dir))
    assert meta["class_names"][9] == "Ankle boot" and meta["aux_heads_dropped"] is True
    # the exported model through Paddle Inference = the eager model, scores not softmaxed twice
    assert (
        infer_cli.main(
            [
                "--inference-model",
                str(out_dir),
                "--format",
                "json",
                "-k",
                "3",
                str(img),
                str(tmp_path / "missing.png"),
            ]
        )
        == 1
    )
    res = json.loads(capsys.readouterr().out)["results"]
    assert res[1] == {"file_name": str(tmp_path / "missing.png"), "error": "file not found"}
    pre = D.build_preprocess(D.default_transforms(model.default_cfg, (3, 64, 64)), 3)
    ref = D.classify(D.EagerPredictor(model), pre, [str(img)], k=3)[0]
    assert res[0]["class_ids"] == ref["class_ids"]
    np.testing.assert_allclose(res[0]["scores"], ref["scores"], atol=1e-5)
    assert res[0]["label_names"][0] == meta["class_names"][ref["class_ids"][0]]
    # errors: weights that do not fit, an inference model that is not there
    assert (
        export_cli.main(
            ["--model", "googlenet", "--weights", str(w), "--output-dir", str(tmp_path / "bad")]
        )
        == 2
    )
    assert "does not fit" in capsys.readouterr().err
    assert infer_cli.main(["--inference-model", str(tmp_path / "nope"), str(img)]) == 2
    assert "nope" in capsys.readouterr().err
