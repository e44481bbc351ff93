"""PaddleClas' TheseusLayer backbone methods on every model of the zoo (issue 12):
`update_res` / `return_patterns` / `return_stages`, `freeze_befor`, `stop_after`.

No PaddleClas needed: the contracts are those of ppcls/arch/backbone/base/theseus_layer.py
(`{"logits": output, pattern: layer output}`; BackboneStopLayer: the forward returns the stop
layer's output), checked against our own forward_stages / forward_head. tests/test_ppcls_engine.py
runs them inside PaddleClas' RecModel.
"""

import copy

import numpy as np
import paddle
import pytest
from conftest import zoo_params

import paddle_inception as pi
from paddle_inception.models.theseus import HEAD_STOP_POINTS, Identity

MODELS = pi.list_models()


def _size(name):
    """The smallest convenient valid input: 32 px, or the model's minimum (75 for the 299 ones)."""
    return max(pi.get_model_cfg(name)["min_input_size"][-1], 32)


def _close(a, b):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def _sequence_block(model):
    """A body block that is a sequence of blocks (Inception-ResNet's repeat_1), or None."""
    for name in model.block_names:
        if isinstance(getattr(model, name), paddle.nn.Sequential):
            return name
    return None


@pytest.mark.parametrize("name", zoo_params(MODELS))
def test_theseus_methods(name):
    paddle.seed(0)
    model = pi.create_model(name, num_classes=5)
    model.eval()
    x = paddle.randn([2, 3, _size(name), _size(name)])
    stages = model.stages_pattern
    assert stages == [f["name"] for f in model.feature_info]
    seq = _sequence_block(model)
    with paddle.no_grad():
        logits = model(x)
        ref_stages = model.forward_stages(x)

    # --- update_res: TheseusLayer's dict, on a deep copy (PaddleClas' export deep-copies too)
    res_model = copy.deepcopy(model)
    patterns = stages + ([f"{seq}[1]"] if seq else [])
    assert res_model.update_res(patterns) == patterns
    for _ in range(2):  # emptied between calls
        with paddle.no_grad():
            out = res_model(x)
        assert list(out)[0] == "logits" and sorted(out) == sorted(["logits"] + patterns)
        _close(out["logits"], logits)
        for stage, ref in zip(stages, ref_stages):
            _close(out[stage], ref)
    if seq:
        assert out[f"{seq}[1]"].shape[1] == out[seq].shape[1]
    with pytest.raises(ValueError, match="no layer 'nope'"):
        res_model.update_res(["nope"])
    with paddle.no_grad():  # a failed call leaves the earlier patterns in place
        assert sorted(res_model(x)) == sorted(["logits"] + patterns)
    with paddle.no_grad():
        assert not isinstance(model(x), dict)  # the original is untouched
    del res_model

    # --- freeze_befor: the named block and everything before it get no gradient
    frozen_at = stages[2]
    # BN running statistics are stop-gradient parameters in Paddle 3: compare trainable ones
    trainable = {id(p) for p in model.parameters() if not p.stop_gradient}
    assert model.freeze_befor(frozen_at)
    model.train()
    out = model(x)
    loss = sum(o.sum() for o in (out if isinstance(out, tuple) else (out,)))
    loss.backward()
    idx = model.block_names.index(frozen_at)
    for block in model.block_names[: idx + 1]:
        for p in getattr(model, block).parameters():
            assert p.stop_gradient and p.grad is None, (block, p.name)
    for block in model.block_names[idx + 1 :]:
        params = [p for p in getattr(model, block).parameters() if id(p) in trainable]
        assert all(not p.stop_gradient and p.grad is not None for p in params), block
    for head in ["head"] + [h for _, h in model.aux_taps]:  # aux: side heads stay trainable
        params = [p for p in getattr(model, head).parameters() if id(p) in trainable]
        assert params and all(p.grad is not None for p in params), head
    model.clear_gradients()
    if seq:
        other = pi.create_model(name, num_classes=5)
        blocks = getattr(other, seq)
        before = [p.stop_gradient for p in blocks[4].parameters()]
        other.freeze_befor(f"{seq}[3]")
        assert all(p.stop_gradient for p in blocks[3].parameters())
        assert [p.stop_gradient for p in blocks[4].parameters()] == before
        assert not all(before)
        del other

    # --- stop_after: pooled features, then a stage's map; bad names raise
    model.eval()
    with paddle.no_grad():
        ref_stages = model.forward_stages(x)  # BN statistics moved in train mode
        pooled = model.forward_head(model.forward_features(x), pre_logits=True)
    block = next(
        b
        for b in reversed(model.block_names)  # a multi-layer, non-sequence block
        if getattr(model, b)._sub_layers and not isinstance(getattr(model, b), paddle.nn.Sequential)
    )
    inner = next(iter(getattr(model, block)._sub_layers))
    with pytest.raises(ValueError, match="not a stop point"):
        model.stop_after(f"{block}.{inner}")
    with pytest.raises(ValueError, match="no layer"):
        model.stop_after("nope")
    assert model.stop_after("head.global_pool")
    assert model.aux_logits is False
    assert isinstance(model.head.fc, Identity) and isinstance(model.head.dropout, Identity)
    assert not any(k.startswith("head.fc") for k in model.state_dict())
    with paddle.no_grad():
        feats = model(x)
    assert list(feats.shape) == [2, model.num_features]
    _close(feats, pooled)
    assert model.stop_after(stages[3])
    with paddle.no_grad():
        _close(model(x), ref_stages[3])
    later = model.block_names[model.block_names.index(stages[3]) + 1 :]
    assert all(isinstance(getattr(model, b), Identity) for b in later)
    model.train()  # one tensor in training mode too (no aux outputs)
    assert list(model(x).shape) == list(ref_stages[3].shape)


def test_stop_points_and_head_stops():
    model = pi.create_model("inception_resnet_v1", num_classes=3)
    points = model.stop_points()
    assert points[:6] == model.block_names[:6]
    assert "repeat_1[9]" in points and "repeat_1[10]" not in points
    assert points[-4:] == ["head"] + list(HEAD_STOP_POINTS)
    assert model.stop_after("repeat_1.4")  # Paddle's spelling of repeat_1[4]
    assert all(isinstance(model.repeat_1[j], Identity) for j in range(5, 10))
    assert not isinstance(model.repeat_1[4], Identity)
    assert model.stop_layer_name == "repeat_1.4"
    with pytest.raises(ValueError, match="not a stop point"):
        pi.create_model("bninception").stop_after("inception_3a.branch1x1")


def test_stop_after_head_fc_keeps_logits_and_drops_aux():
    model = pi.create_model("googlenet", num_classes=4)
    x = paddle.randn([3, 3, 32, 32])
    model.eval()
    with paddle.no_grad():
        ref = model(x)
    model.stop_after("head.fc")
    assert model.aux1 is None and model.aux2 is None and not model.aux_logits
    assert not any(k.startswith("aux") for k in model.state_dict())
    model.train()
    out = model(x)
    assert not isinstance(out, (tuple, list)) and list(out.shape) == [3, 4]
    model.eval()
    with paddle.no_grad():
        _close(model(x), ref)


def test_init_net_options():
    model = pi.create_model("bninception", num_classes=3)
    model.init_net(return_stages=[0, 4])
    model.eval()
    with paddle.no_grad():
        out = model(paddle.randn([1, 3, 32, 32]))
    assert list(out) == ["logits", "conv1", "inception_5b"]
    with pytest.raises(ValueError, match="out of range"):
        pi.create_model("bninception").init_net(return_stages=[5])
    model = pi.create_model("bninception", num_classes=3)
    model.init_net(return_stages=True, return_patterns=["conv2"])  # stages win, as PaddleClas
    model.eval()
    with paddle.no_grad():
        assert list(model(paddle.randn([1, 3, 32, 32]))) == ["logits"] + model.stages_pattern
