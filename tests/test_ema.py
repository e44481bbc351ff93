"""Weight averaging (the `EMA:` section): engine.ema.ModelEMA's arithmetic and weight swaps.
The end-to-end run (checkpoints, eval, resume) is in tests/test_train.py."""

import numpy as np
import paddle
import pytest

from paddle_inception.engine.ema import ModelEMA


def _net():
    paddle.seed(0)
    return paddle.nn.Sequential(paddle.nn.Conv2D(1, 3, 3), paddle.nn.BatchNorm2D(3))


def _state(net):
    return {k: v.numpy().copy() for k, v in net.state_dict().items()}


def test_average_follows_the_formula_with_the_decay_warm_up():
    net = _net()
    ema = ModelEMA(net, decay=0.9)
    expect = _state(net)
    rng = np.random.default_rng(0)
    decays = []
    for n in range(100):
        # new weights, as an optimizer step and BN statistics would leave them (in place)
        for k, v in net.state_dict().items():
            v.set_value(rng.standard_normal(v.shape).astype("float32"))
        d = min(0.9, (1 + n) / (10 + n))
        decays.append(ema.current_decay())
        ema.update()
        for k, v in _state(net).items():
            expect[k] = d * expect[k] + (1 - d) * v
    assert decays[0] == pytest.approx(0.1) and decays[-1] == pytest.approx(0.9)
    assert decays[7] == pytest.approx(8 / 17)
    assert ema.updates == 100
    for k, v in ema.averaged_state().items():  # BN running mean and variance included
        np.testing.assert_allclose(v.numpy(), expect[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert set(ema.averaged_state()) == set(net.state_dict())


def test_swap_in_and_out_restores_the_training_weights_exactly():
    net = _net()
    ema = ModelEMA(net, decay=0.5)
    for _ in range(3):
        for v in net.parameters():
            v.set_value(v.numpy() + 1.0)
        ema.update()
    training = _state(net)
    averaged = {k: v.numpy().copy() for k, v in ema.averaged_state().items()}
    assert any(not np.array_equal(training[k], averaged[k]) for k in training)
    ema.on_eval_begin()
    for k, v in _state(net).items():
        np.testing.assert_array_equal(v, averaged[k], err_msg=k)
    # while swapped in, the training weights are still what a checkpoint saves as such
    for k, v in ema.training_state().items():
        np.testing.assert_array_equal(v.numpy(), training[k], err_msg=k)
    ema.on_eval_begin()  # a second swap-in keeps the training weights, not the averaged ones
    ema.on_eval_end()
    for k, v in _state(net).items():
        np.testing.assert_array_equal(v, training[k], err_msg=k)
    ema.on_eval_end()  # nothing swapped in: no-op
    for k, v in _state(net).items():
        np.testing.assert_array_equal(v, training[k], err_msg=k)


def test_a_trained_net_average_lags_its_weights():
    # real optimizer steps and BN statistics updated in place by the forward pass reach the
    # average through the live tensors ModelEMA holds
    net = _net()
    opt = paddle.optimizer.Momentum(0.1, parameters=net.parameters())
    ema = ModelEMA(net, decay=0.99)
    start = _state(net)
    target = paddle.randn([4, 3, 4, 4])
    for _ in range(5):
        loss = (net(paddle.randn([4, 1, 6, 6])) * target).sum()
        loss.backward()
        opt.step()
        opt.clear_grad()
        ema.update()
    now = _state(net)
    avg = {k: v.numpy() for k, v in ema.averaged_state().items()}
    for k in ("0.weight", "1._mean", "1._variance"):
        assert not np.allclose(now[k], start[k]), k
        assert not np.allclose(avg[k], start[k]), k  # it moved ...
        assert not np.allclose(avg[k], now[k]), k  # ... but lags


def test_decay_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="EMA.decay"):
        ModelEMA(_net(), decay=1.0)
