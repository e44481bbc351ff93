"""PaddleClas' per-parameter weight-decay switches (`no_weight_decay_name`,
`one_dim_param_no_weight_decay`): a parameter they pick is not decayed, every other one is."""

import logging

import numpy as np
import paddle
import pytest

from paddle_inception import create_model
from paddle_inception.engine.optim import build_optimizer

REG = {"name": "L2", "coeff": 0.5}
MOMENTUM = {"name": "Momentum", "momentum": 0.9, "lr": 0.1, "regularizer": REG}


def _net():
    paddle.seed(0)
    net = create_model("googlenet_bn", num_classes=3, in_channels=1, aux_logits=False)
    for p in net.parameters():  # no parameter at zero, where decay could not move it
        p.set_value(p.numpy() + 1.0)
    return net


def _trained(net):
    """name -> rank of the parameters an optimizer updates (not BN's running statistics)"""
    return {n: len(p.shape) for n, p in net.named_parameters() if not p.stop_gradient}


def _one_step_without_gradient(cfg, net):
    """One optimizer step with all gradients zero: only weight decay moves a parameter.
    Returns the names of the parameters that moved."""
    opt, _ = build_optimizer(cfg, net, epochs=1, steps_per_epoch=1)
    before = {n: p.numpy().copy() for n, p in net.named_parameters()}
    (sum(p.sum() for p in net.parameters()) * 0.0).backward()
    opt.step()
    opt.clear_grad()
    return {n for n, p in net.named_parameters() if not np.array_equal(p.numpy(), before[n])}


@pytest.mark.parametrize("name", ["Momentum", "SGD", "Adam", "AdamW", "RMSProp"])
def test_one_dim_parameters_are_not_decayed(name, caplog):
    net = _net()
    names = _trained(net)
    cfg = {"name": name, "lr": 0.1, "one_dim_param_no_weight_decay": True}
    cfg.update({"weight_decay": 0.5} if name == "AdamW" else {"regularizer": REG})
    with caplog.at_level(logging.INFO, logger="paddle_inception"):
        moved = _one_step_without_gradient(cfg, net)
    one_dim = {n for n, d in names.items() if d == 1}
    assert one_dim and moved == set(names) - one_dim
    (line,) = [r.getMessage() for r in caplog.records if "without weight decay" in r.getMessage()]
    assert f"{len(one_dim)} of {len(names)} parameter tensors" in line


def test_the_one_dim_switch_alone_works_for_momentum_too():
    """PaddleClas' Momentum ignores one_dim_param_no_weight_decay unless no_weight_decay_name
    is set as well; here the switch means what it says for every optimizer."""
    net = _net()
    all_moved = _one_step_without_gradient(dict(MOMENTUM), net)
    trained = _trained(net)
    assert all_moved == set(trained)  # decay reaches every trained parameter
    moved = _one_step_without_gradient(dict(MOMENTUM, one_dim_param_no_weight_decay=True), net)
    assert moved == {n for n, rank in trained.items() if rank > 1}


def test_names_pick_parameters_by_substring():
    net = _net()
    cfg = dict(MOMENTUM, no_weight_decay_name="fc. bn.")
    moved = _one_step_without_gradient(cfg, net)
    trained = set(_trained(net))
    kept = {n for n in trained if "fc." in n or "bn." in n}
    assert {"head.fc.weight", "conv1.bn.weight"} <= kept
    assert moved == trained - kept


def test_a_name_that_matches_nothing_is_an_error():
    net = _net()
    cfg = dict(MOMENTUM, no_weight_decay_name="fc. bnn")
    with pytest.raises(ValueError, match=r"Optimizer.no_weight_decay_name: 'bnn' matches no"):
        build_optimizer(cfg, net, 1, 1)


def test_switches_without_any_decay_warn(caplog):
    net = _net()
    cfg = {"name": "Momentum", "lr": 0.1, "one_dim_param_no_weight_decay": True}
    with caplog.at_level(logging.WARNING, logger="paddle_inception"):
        build_optimizer(cfg, net, 1, 1)
    assert any("without any weight decay" in r.getMessage() for r in caplog.records)


def test_groups_train_through_paddle_model():
    """paddle.Model calls optimizer.minimize(loss), which in Paddle's dygraph mode fails on
    parameter groups; the optimizer built here steps them, decay only where configured."""
    net = _net()
    cfg = dict(MOMENTUM, one_dim_param_no_weight_decay=True)
    opt, _ = build_optimizer(cfg, net, 1, 1)
    spec = paddle.static.InputSpec
    model = paddle.Model(
        net, [spec([None, 1, 32, 32], "float32", "image")], [spec([None, 1], "int64", "label")]
    )
    model.prepare(opt, paddle.nn.CrossEntropyLoss())
    bias = net.head.fc.bias.numpy().copy()
    weight = net.head.fc.weight.numpy().copy()
    x = np.random.default_rng(0).standard_normal((4, 1, 32, 32)).astype("float32")
    model.train_batch([x], [np.zeros((4, 1), "int64")])
    assert not np.array_equal(net.head.fc.weight.numpy(), weight)
    assert not np.array_equal(net.head.fc.bias.numpy(), bias)  # the gradient moved it
