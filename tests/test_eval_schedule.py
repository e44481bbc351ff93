"""Which epochs a training run evaluates (Global.eval_interval, Global.start_eval_epoch), and
that paddle.Model.fit follows that schedule (engine.trainer.eval_schedule / _EvalFreq)."""

import paddle
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


class _Evals(paddle.callbacks.Callback):
    """Records after which (0-based, of this fit) epochs paddle.Model.fit evaluated."""

    def __init__(self):
        self.epoch, self.evaluated = None, []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_eval_end(self, logs=None):
        self.evaluated.append(self.epoch)


@pytest.mark.parametrize("epochs, interval, start_epoch", [(10, 3, 0), (10, 4, 5), (7, 1, 2)])
def test_fit_evaluates_exactly_the_scheduled_epochs(epochs, interval, start_epoch):
    """paddle.Model.fit itself, given `_EvalFreq`, evaluates after the scheduled epochs only
    (a resumed run's fit counts its epochs from 0)."""
    data = paddle.io.TensorDataset(
        [paddle.randn([8, 4]), paddle.randint(0, 2, [8, 1]).astype("int64")]
    )
    net = paddle.nn.Linear(4, 2)
    model = paddle.Model(net)
    model.prepare(
        paddle.optimizer.SGD(0.01, parameters=net.parameters()), paddle.nn.CrossEntropyLoss()
    )
    sched = eval_schedule(epochs, interval, 0, start_epoch)
    evals = _Evals()
    model.fit(
        data,
        data,
        batch_size=8,
        epochs=epochs - start_epoch,
        eval_freq=_EvalFreq(sched, start_epoch),
        verbose=0,
        callbacks=[evals],
    )
    assert [start_epoch + e + 1 for e in evals.evaluated] == sched
