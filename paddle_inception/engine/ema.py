"""An exponential moving average of the weights: the `EMA:` section (PaddleClas' key).

    EMA:
      decay: 0.999

After every optimizer step, each floating-point entry of the state dict (parameters and the
BN running statistics, as PaddleClas and timm average them) moves toward the training weights:
`avg = d * avg + (1 - d) * w`, with `d = min(decay, (1 + n) / (10 + n))` after `n` updates.

Deliberate deviation from PaddleClas: that warm-up of `d` (TensorFlow's `num_updates` rule).
PaddleClas applies `decay` from the first step, so with its usual 0.9999 an average over a
run of 10,000 steps still holds 37% of the random initial weights; with the warm-up the
average follows the weights early and `decay` governs once `n` is large (from n = 90,000 at
0.9999, n = 9,000 at 0.999).

Evaluation during training, the `best` checkpoint, and each checkpoint's `model.pdparams`
(what tools/eval.py, export and fine-tuning load) are the averaged weights, as in PaddleClas;
the training weights, needed to resume, are saved beside them as `train.pdparams`.
"""

from __future__ import annotations

import paddle

__all__ = ["ModelEMA"]


class ModelEMA(paddle.callbacks.Callback):
    """Keeps the averaged weights of `network` and swaps them in for each evaluation pass of
    `paddle.Model.fit`. Place it last among the callbacks: the others then see the averaged
    weights during the whole eval pass, including its end (checkpoints, reports)."""

    def __init__(self, network, decay: float, updates: int = 0):
        super().__init__()
        if not 0.0 <= float(decay) < 1.0:
            raise ValueError(f"EMA.decay: {decay!r} is not in [0, 1)")
        self.decay, self.updates = float(decay), int(updates)
        live = network.state_dict()
        # the live tensors themselves (the optimizer and BN update them in place), paired with
        # their averages; integer buffers, if any, are copied rather than averaged
        self._live = list(live.items())
        self.averaged = {k: v.detach().clone() for k, v in self._live}
        self._float = [(self.averaged[k], v) for k, v in self._live if v.is_floating_point()]
        self._other = [(self.averaged[k], v) for k, v in self._live if not v.is_floating_point()]
        self._training = None  # the training weights while the averaged ones are swapped in

    def current_decay(self) -> float:
        n = self.updates
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @paddle.no_grad()
    def update(self) -> None:
        d = self.current_decay()
        self.updates += 1
        for avg, w in self._float:
            # avg + (1 - d) * (w - avg); Paddle's lerp_ computes the same at 4x the time (CPU,
            # googlenet_bn's 305 tensors: 38 ms against 9 ms, a tenth of a 44 px train step)
            avg.add_((w - avg).scale_(1.0 - d))
        for avg, w in self._other:
            paddle.assign(w, avg)

    # ---- paddle.Model.fit hooks
    def on_train_batch_end(self, step, logs=None):
        self.update()

    def on_eval_begin(self, logs=None):
        self.swap_in()

    def on_eval_end(self, logs=None):
        self.swap_out()

    # ---- the two sets of weights
    @paddle.no_grad()
    def swap_in(self) -> None:
        """Put the averaged weights into the network (the training ones are kept aside)."""
        if self._training is not None:
            return
        self._training = {k: v.detach().clone() for k, v in self._live}
        for k, v in self._live:
            paddle.assign(self.averaged[k], v)

    @paddle.no_grad()
    def swap_out(self) -> None:
        """Put the training weights back."""
        if self._training is None:
            return
        for k, v in self._live:
            paddle.assign(self._training[k], v)
        self._training = None

    def averaged_state(self) -> dict:
        return dict(self.averaged)

    def training_state(self) -> dict:
        """The training weights, whether or not the averaged ones are swapped in right now."""
        return dict(self._training) if self._training is not None else dict(self._live)
