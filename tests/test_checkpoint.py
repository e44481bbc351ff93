"""Optimizer state through a checkpoint: the learning-rate schedule after a resume."""

import logging

import paddle
import pytest

from paddle_inception import create_model
from paddle_inception.engine.checkpoint import portable_optimizer_state, restore_optimizer_state
from paddle_inception.engine.optim import build_optimizer

STEPS = 10  # iterations per epoch


def _optimizer(model, lr_cfg, epochs):
    cfg = {"name": "Momentum", "momentum": 0.9, "lr": dict(lr_cfg)}
    opt, sched = build_optimizer(cfg, model.parameters(), epochs, STEPS)
    return opt, sched


def _stepped(sched, n):
    for _ in range(n):
        sched.step()
    return sched


@pytest.mark.parametrize(
    "lr_cfg",
    [
        {"name": "Cosine", "learning_rate": 0.1},
        {"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 0.5, "warmup_start_lr": 0.01},
        {"name": "Linear", "learning_rate": 0.1, "warmup_epoch": 1},
    ],
    ids=["cosine", "cosine+warmup", "linear+warmup"],
)
def test_resume_with_more_epochs_continues_on_the_new_schedule(lr_cfg, caplog):
    """A run of 2 epochs checkpointed after 15 steps, resumed with epochs=4: the next step's
    rate is the 4-epoch schedule's at step 15, not the 2-epoch one's, and later steps follow
    the 4-epoch schedule."""
    model = create_model("googlenet_bn", num_classes=3, in_channels=1, aux_logits=False)
    opt, sched = _optimizer(model, lr_cfg, epochs=2)
    _stepped(sched, 15)
    old_lr = sched.last_lr
    state = portable_optimizer_state(opt, model)

    opt4, sched4 = _optimizer(model, lr_cfg, epochs=4)
    with caplog.at_level(logging.INFO, logger="paddle_inception"):
        restore_optimizer_state(opt4, model, state, source="ckpt/model.pdopt")
    reference = _stepped(_optimizer(model, lr_cfg, epochs=4)[1], 15)
    assert sched4.last_epoch == 15
    assert sched4.last_lr == pytest.approx(reference.last_lr, rel=1e-9)
    assert abs(sched4.last_lr - old_lr) > 1e-4  # the two schedules do differ at step 15
    assert "ckpt/model.pdopt was written on another learning-rate schedule" in caplog.text
    for _ in range(12):
        sched4.step()
        reference.step()
        assert sched4.last_lr == pytest.approx(reference.last_lr, rel=1e-9)


def test_resume_on_the_same_schedule_restores_the_state_bit_for_bit(caplog):
    lr_cfg = {"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 0.5}
    model = create_model("googlenet_bn", num_classes=3, in_channels=1, aux_logits=False)
    opt, sched = _optimizer(model, lr_cfg, epochs=3)
    _stepped(sched, 17)
    state = portable_optimizer_state(opt, model)
    opt2, sched2 = _optimizer(model, lr_cfg, epochs=3)
    with caplog.at_level(logging.INFO, logger="paddle_inception"):
        restore_optimizer_state(opt2, model, state)
    assert sched2.state_dict() == sched.state_dict()
    assert "another learning-rate schedule" not in caplog.text
    sched.step()
    sched2.step()
    assert sched2.last_lr == sched.last_lr


def test_a_constant_rate_restores_without_a_scheduler():
    model = paddle.nn.Linear(3, 2)
    opt = paddle.optimizer.Momentum(learning_rate=0.05, parameters=model.parameters())
    restore_optimizer_state(opt, model, opt.state_dict())
    assert opt.get_lr() == pytest.approx(0.05)
