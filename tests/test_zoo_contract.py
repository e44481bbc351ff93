"""The contract every registered model keeps (parametrised over the whole registry)."""

import re
import subprocess
import sys

import numpy as np
import paddle
import pytest
from conftest import FAMILY, ROOT, checkout_env, zoo_params

import paddle_inception as pi
from paddle_inception.models.base import InceptionModel

MODELS = pi.list_models()
ZOO = zoo_params(MODELS)


def _small_size(name):
    """A small but valid input size for quick tests (the model's minimum, at least 64)."""
    return max(pi.get_model_cfg(name)["min_input_size"][-1], 64)


def _main(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def test_registry_lists_the_whole_family():
    for required in FAMILY:
        assert required in MODELS
    assert pi.list_models("inception_v*") == [m for m in MODELS if m.startswith("inception_v")]


@pytest.mark.parametrize(
    "code",
    [
        "import paddle; print(sorted(paddle.hub.list(ROOT, source='local')))",
        "import paddle_inception as pi; print(pi.list_models())",
        "from paddle_inception.cli import common; print(common.resolve_model_spec("
        "common.add_model_args(common.command_parser('x', '')).parse_args("
        "['--model', 'GoogLeNet'])).name)",
    ],
    ids=["hub", "root", "cli"],
)
def test_every_entry_point_sees_the_zoo_in_a_fresh_process(code):
    """The package root imports the zoo lazily: each door that names models by string (paddle.hub,
    `pi.list_models`, a command's --model) must still find every registered model."""
    r = subprocess.run(
        [sys.executable, "-c", f"ROOT = {ROOT!r}\n" + code],
        capture_output=True,
        text=True,
        timeout=120,
        env=checkout_env(),
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip()
    assert out == ("googlenet" if "cli" in code else str(MODELS)), out


def test_unknown_model_suggests_a_name():
    with pytest.raises(ValueError, match="inception_v3"):
        pi.create_model("inception_v33")


@pytest.mark.parametrize("name", ZOO)
def test_default_cfg_is_complete_and_consistent(name):
    cfg = pi.get_model_cfg(name)
    for key in (
        "input_size",
        "min_input_size",
        "mean",
        "std",
        "crop_pct",
        "interpolation",
        "num_classes",
        "paper",
    ):
        assert cfg[key] not in (None, ""), key
    model = pi.create_model(name)
    assert isinstance(model, InceptionModel)
    assert model.default_cfg["min_input_size"] == cfg["min_input_size"]
    assert model.default_cfg["input_size"] == cfg["input_size"]
    assert len(cfg["mean"]) == len(cfg["std"]) == cfg["input_size"][0] == 3


@pytest.mark.parametrize("name", ZOO)
def test_train_forward_backward_every_parameter_gets_a_gradient(name):
    model = pi.create_model(name, num_classes=7)
    model.train()
    s = _small_size(name)
    out = model(paddle.randn([2, 3, s, s]))
    outs = out if isinstance(out, (tuple, list)) else [out]
    for o in outs:
        assert o.shape == [2, 7]  # batch preserved, class override honoured
        assert np.isfinite(o.numpy()).all()
    paddle.add_n([o.mean() for o in outs]).backward()
    missing = [
        n
        for n, p in model.named_parameters()
        if not p.stop_gradient and (p.grad is None or not np.isfinite(p.grad.numpy()).all())
    ]
    assert not missing, f"parameters without a finite gradient: {missing[:10]}"


@pytest.mark.parametrize("name", ZOO)
def test_eval_returns_main_logits_features_and_stages(name):
    model = pi.create_model(name, num_classes=5, in_channels=1)
    model.eval()
    s = _small_size(name)
    x = paddle.randn([3, 1, s, s])
    logits = model(x)
    assert not isinstance(logits, (tuple, list)) and logits.shape == [3, 5]
    feats = model.forward_features(x)
    assert feats.shape[:2] == [3, model.num_features]
    np.testing.assert_allclose(
        model.forward_head(feats).numpy(), logits.numpy(), rtol=1e-5, atol=1e-5
    )
    assert model.forward_head(feats, pre_logits=True).shape == [3, model.num_features]
    stages = model.forward_stages(x)
    assert len(stages) == len(model.feature_info) >= 3
    for f, info in zip(stages, model.feature_info):
        assert f.shape[1] == info["num_chs"], info
    assert stages[-1].shape == feats.shape
    # the per-stage resolution halves (at most) from stage to stage
    reds = [i["reduction"] for i in model.feature_info]
    assert reds == sorted(reds)


@pytest.mark.parametrize("name", ZOO)
def test_num_classes_zero_returns_pooled_features(name):
    kwargs = {"aux_logits": False} if "aux_logits" in _init_args(name) else {}
    model = pi.create_model(name, num_classes=0, **kwargs)
    model.eval()
    s = _small_size(name)
    out = model(paddle.randn([2, 3, s, s]))
    assert out.shape == [2, model.num_features]
    model.reset_classifier(4)
    assert model(paddle.randn([2, 3, s, s])).shape == [2, 4]


def _init_args(name):
    import inspect

    model_cls = type(pi.create_model(name))
    return inspect.signature(model_cls.__init__).parameters


@pytest.mark.parametrize("name", ZOO)
def test_bad_inputs_raise_clear_errors(name):
    model = pi.create_model(name, num_classes=3)
    model.eval()
    m = pi.get_model_cfg(name)["min_input_size"][-1]
    # the documented minimum works, one pixel less is rejected with both sizes in the message
    assert model(paddle.randn([1, 3, m, m])).shape == [1, 3]
    with pytest.raises(ValueError, match=rf"{type(model).__name__}.*{m - 1}x{m - 1}.*{m}x{m}"):
        model(paddle.randn([1, 3, m - 1, m - 1]))
    with pytest.raises(ValueError, match="expected 3 input channels, got 1"):
        model(paddle.randn([1, 1, m, m]))
    with pytest.raises(ValueError, match="4-D"):
        model(paddle.randn([3, m, m]))


@pytest.mark.parametrize("name", ZOO)
def test_bad_options_raise(name):
    with pytest.raises(ValueError, match="num_classes"):
        pi.create_model(name, num_classes=-1)
    with pytest.raises(ValueError, match="in_channels"):
        pi.create_model(name, in_channels=0)
    with pytest.raises(ValueError, match="pretrained=True"):
        pi.create_model(name, pretrained=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_export_round_trip_gives_the_same_logits(name, tmp_path):
    model = pi.create_model(name, num_classes=6)
    model.eval()
    s = _small_size(name)
    x = paddle.randn([2, 3, s, s])
    ref = model(x).numpy()
    spec = [paddle.static.InputSpec([None, 3, s, s], "float32", "x")]
    static = paddle.jit.to_static(model, input_spec=spec, full_graph=True)
    path = str(tmp_path / name)
    paddle.jit.save(static, path)
    loaded = paddle.jit.load(path)
    loaded.eval()
    np.testing.assert_allclose(loaded(x).numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_pretrained_local_path_round_trip(name, tmp_path):
    model = pi.create_model(name, num_classes=4)
    path = str(tmp_path / "w.pdparams")
    paddle.save(model.state_dict(), path)
    clone = pi.create_model(name, num_classes=4, pretrained=path)
    for (k, a), (k2, b) in zip(model.state_dict().items(), clone.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # strict: a classifier for another class count is refused, naming the tensors and shapes
    with pytest.raises(
        ValueError,
        match=r"does not fit model .*fc\S*\.weight: file \[\d+, 4\] "
        r"vs model \[\d+, 9\]",
    ):
        pi.create_model(name, num_classes=9, pretrained=path)
    with pytest.raises(FileNotFoundError, match="nope.pdparams"):
        pi.create_model(name, pretrained=str(tmp_path / "nope.pdparams"))


@pytest.mark.parametrize("name", ZOO)
def test_state_dict_keys_are_clean(name):
    """Structured names (no static-graph ParamAttr names leaking into keys)."""
    keys = list(pi.create_model(name).state_dict())
    auto = [k for k in keys if re.search(r"(^|\.)(conv2d|batch_norm2d|batch_norm|linear)_\d+\.", k)]
    assert not auto, auto[:5]
