"""The whole-run ETA: one start-up projection after the first measured steps, an ETA on every
progress and checkpoint line (engine.callbacks.RunClock)."""

import logging

import pytest

from paddle_inception.engine import callbacks as cb


class FakeTime:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture()
def fake_time(monkeypatch):
    t = FakeTime()
    monkeypatch.setattr(cb.time, "perf_counter", t)
    return t


def _run_epoch(clock, t, epoch, steps, step_s, evaluate=False, eval_s=0.0):
    clock.on_epoch_begin(epoch)
    for s in range(steps):
        clock.on_train_batch_begin(s)
        t.now += step_s
        clock.on_train_batch_end(s)
    if evaluate:
        clock.on_eval_begin()
        t.now += eval_s
        clock.on_eval_end()


def test_projection_and_eta_follow_the_measured_speed(fake_time, caplog):
    clock = cb.RunClock(3, 10, eval_epochs=[1, 2, 3], eval_steps=6, warmup=2, probe=5)
    with caplog.at_level(logging.INFO, logger="paddle_inception"):
        clock.on_epoch_begin(0)
        for s in range(7):  # 2 warm-up steps (slow, not counted), then 5 at 0.5 s
            clock.on_train_batch_begin(s)
            fake_time.now += 3.0 if s < 2 else 0.5
            clock.on_train_batch_end(s)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("time:")]
    assert len(lines) == 1  # said once, after the 5 measured steps
    assert clock.step_seconds() == pytest.approx(0.5)
    assert clock.epoch_seconds() == pytest.approx(5.0)
    # eval not measured yet: 6 eval batches at a third of a training step each
    assert clock._eval_estimate() == pytest.approx(1.0)
    # 3 steps of epoch 1 and 2 whole epochs left, 3 evals
    assert clock.remaining_seconds() == pytest.approx(3 * 0.5 + 20 * 0.5 + 3 * 1.0)
    assert "3 epochs of 10 steps" in lines[0] and "0.500 s/step" in lines[0]
    assert "estimated" in lines[0] and "~18 s in all" in lines[0]

    for s in range(7, 10):
        clock.on_train_batch_begin(s)
        fake_time.now += 0.5
        clock.on_train_batch_end(s)
    clock.on_eval_begin()
    fake_time.now += 2.0  # the real eval is slower than estimated
    clock.on_eval_end()
    assert clock.remaining_seconds() == pytest.approx(20 * 0.5 + 2 * 2.0)
    _run_epoch(clock, fake_time, 1, 10, 0.5, evaluate=True, eval_s=2.0)
    _run_epoch(clock, fake_time, 2, 10, 0.5, evaluate=True, eval_s=2.0)
    assert clock.remaining_seconds() == pytest.approx(0.0)
    assert clock.eta().startswith("0 s left, ends ~")


def test_a_step_is_timed_with_its_data_loading_and_every_callback(fake_time, caplog):
    """What passes between one step's end and the next one's (loading the batch, callbacks
    after the clock such as an EMA update) is part of the step: the run pays for it."""
    clock = cb.RunClock(2, 10, warmup=0, probe=5)
    with caplog.at_level(logging.INFO, logger="paddle_inception"):
        clock.on_epoch_begin(0)
        for s in range(10):
            fake_time.now += 0.1  # loading the batch
            clock.on_train_batch_begin(s)
            fake_time.now += 0.4  # forward, backward, optimizer
            clock.on_train_batch_end(s)
            fake_time.now += 0.05  # the callbacks placed after the clock
    # the first step from the epoch's start (0.5 s), the others from the previous end
    assert clock.step_times == pytest.approx([0.5] + [0.55] * 9)
    assert clock.step_seconds() == pytest.approx(0.55)
    assert clock.remaining_seconds() == pytest.approx(10 * 0.55)
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("time:")]
    assert "0.550 s/step" in line
    fake_time.now += 30.0  # an eval and a checkpoint between the epochs are not a step
    clock.on_epoch_begin(1)
    fake_time.now += 0.5
    clock.on_train_batch_end(0)
    assert clock.step_times[-1] == pytest.approx(0.5)


def test_resumed_run_counts_only_what_is_left(fake_time):
    clock = cb.RunClock(12, 100, start_epoch=10, eval_epochs=[11, 12], warmup=0, probe=1)
    _run_epoch(clock, fake_time, 0, 1, 2.0)  # absolute epoch 11, one step done
    assert clock.epoch == 11
    assert clock.remaining_seconds() == pytest.approx(99 * 2.0 + 100 * 2.0 + 2 * 0.0)
    assert "2 epochs of 100 steps" in clock.projection()


def test_a_long_run_says_how_many_epochs_fit(fake_time):
    clock = cb.RunClock(
        12, 468, eval_epochs=range(1, 13), eval_steps=79, warmup=0, probe=1, hint_over_s=3600
    )
    _run_epoch(clock, fake_time, 0, 1, 1.14)  # the slow CPU of the README: 1.14 s per step
    msg = clock.projection()
    per_epoch = 468 * 1.14 + 79 * 1.14 / 3
    assert "~8.9 min each" in msg and "over 1 h 00 min" in msg
    assert f"-o Global.epochs={int(3600 // per_epoch)} fits" in msg


@pytest.mark.parametrize("seconds,text", [(42, "42 s"), (542, "9.0 min"), (6480, "1 h 48 min")])
def test_format_duration(seconds, text):
    assert cb.format_duration(seconds) == text
