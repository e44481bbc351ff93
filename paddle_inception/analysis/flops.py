"""Counting multiply-accumulates (MACs) and FLOPs of a model for one input.

`paddle.flops` (Paddle 3.3) crashes with NumPy >= 2 (`int()` of a 1-element array), so we count
with our own forward hooks. Conventions, stated plainly:
- `macs`: multiply-accumulates of Conv2D and Linear layers (k*k*C_in/groups per output value,
  in_features per output value). This is what `paddle.flops` and most papers call "FLOPs".
- `flops`: `macs` plus one add per output value for layers with a bias: the same convention as
  the torchstat "Flops" column of seed 000.
BN, activations, pooling and concatenation are not counted (a few percent at most).
"""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn as nn

__all__ = ["count_flops"]


def count_flops(model: nn.Layer, input_shape, **forward_kwargs) -> dict:
    """Run one no-grad eval-mode forward of zeros; return {"macs", "flops", "per_layer"}."""
    per_layer, hooks = [], []

    def hook(layer, inputs, output):
        n_out = int(np.prod(output.shape))
        if isinstance(layer, nn.Conv2D):
            w = layer.weight.shape  # (C_out, C_in/groups, kh, kw)
            macs = n_out * int(np.prod(w[1:]))
        else:
            macs = n_out * layer.weight.shape[0]  # Linear weight: (in, out)
        bias = n_out if getattr(layer, "bias", None) is not None else 0
        per_layer.append((layer.full_name(), macs, macs + bias))

    for layer in model.sublayers():
        if isinstance(layer, (nn.Conv2D, nn.Linear)):
            hooks.append(layer.register_forward_post_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            model(paddle.zeros(list(input_shape), "float32"), **forward_kwargs)
    finally:
        for h in hooks:
            h.remove()
        if was_training:
            model.train()
    return {
        "macs": sum(r[1] for r in per_layer),
        "flops": sum(r[2] for r in per_layer),
        "per_layer": per_layer,
    }
