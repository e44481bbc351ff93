"""Which epochs a training run evaluates (Global.eval_interval, Global.start_eval_epoch), and
that paddle.Model.fit follows that schedule (engine.trainer.eval_schedule / _EvalFreq)."""

import pytest

from paddle_inception.engine.trainer import _EvalFreq, eval_schedule


@pytest.mark.parametrize(
    "epochs, interval, start_eval, start_epoch, expect",
    [
        (5, 1, 0, 0, [1, 2, 3, 4, 5]),
        (10, 3, 0, 0, [3, 6, 9, 10]),  # PaddleClas' rule, plus the last epoch
        (9, 3, 0, 0, [3, 6, 9]),  # the last epoch is not evaluated twice
        (10, 3, 6, 0, [6, 9, 10]),  # start_eval_epoch: from epoch 6 on (PaddleClas' rule)
        (10, 4, 0, 5, [8, 10]),  # resumed after epoch 5: only epochs still to train
        (3, 5, 0, 0, [3]),  # interval longer than the run: the last epoch still is
        (10, 1, 20, 0, [10]),
    ],
)
def test_eval_schedule(epochs, interval, start_eval, start_epoch, expect):
    assert eval_schedule(epochs, interval, start_eval, start_epoch) == expect


@pytest.mark.parametrize("epochs, interval, start_epoch", [(10, 3, 0), (10, 4, 5), (7, 1, 2)])
def test_fit_evaluates_exactly_the_scheduled_epochs(epochs, interval, start_epoch):
    # paddle.Model.fit's own test, with fit's 0-based epoch index i of the epochs left to train
    # (paddle/hapi/model.py: `if do_eval and epoch % eval_freq == 0`)
    sched = eval_schedule(epochs, interval, 0, start_epoch)
    freq = _EvalFreq(sched, start_epoch)
    fit_evals = [start_epoch + i + 1 for i in range(epochs - start_epoch) if i % freq == 0]
    assert fit_evals == sched
    assert isinstance(freq, int) and int(freq) == 1
