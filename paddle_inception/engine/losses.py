"""Losses with PaddleClas' names: `CELoss` and `GoogLeNetLoss`, combined by `build_loss`.

`paddle.Model` calls the loss as `loss(*outputs, *labels)`: a three-output GoogLeNet in training
gives `(logits, aux1, aux2, label)`, the same model in eval mode `(logits, label)`. Labels are
hard `(N, 1)` int64 or soft `(N, C)` float (Mixup/CutMix); both are handled.
"""

from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..config import parse_named_entry

__all__ = ["CELoss", "GoogLeNetLoss", "CombinedLoss", "build_loss", "soft_cross_entropy"]


def soft_cross_entropy(logits, label, epsilon: float = 0.0):
    """Mean cross entropy of `logits` against hard or soft `label`, with label smoothing."""
    num_classes = logits.shape[-1]
    if label.dtype in (paddle.int32, paddle.int64):
        label = label.reshape([-1])  # (N,) class ids
        if not epsilon:
            return F.cross_entropy(logits, label)
        label = F.one_hot(label, num_classes)
    label = label.astype(logits.dtype)
    if epsilon:
        label = label * (1.0 - epsilon) + epsilon / num_classes
    return -(label * F.log_softmax(logits, axis=-1)).sum(axis=-1).mean()


class CELoss(nn.Layer):
    """Cross entropy on the main logits (extra outputs such as aux heads are ignored)."""

    def __init__(self, epsilon: float | None = None):
        super().__init__()
        self.epsilon = float(epsilon or 0.0)

    def forward(self, *inputs):
        return soft_cross_entropy(inputs[0], inputs[-1], self.epsilon)


class GoogLeNetLoss(nn.Layer):
    """Paper's weighting: 1.0 * CE(main) + 0.3 * CE(aux1) + 0.3 * CE(aux2).

    Given a single output (eval mode), it is plain CE on the main logits.
    """

    def __init__(self, epsilon: float | None = None, aux_weight: float = 0.3):
        super().__init__()
        self.epsilon = float(epsilon or 0.0)
        self.aux_weight = float(aux_weight)

    def forward(self, *inputs):
        *outputs, label = inputs
        loss = soft_cross_entropy(outputs[0], label, self.epsilon)
        for aux in outputs[1:]:
            loss = loss + self.aux_weight * soft_cross_entropy(aux, label, self.epsilon)
        return loss


_LOSSES = {"CELoss": CELoss, "GoogLeNetLoss": GoogLeNetLoss, "MixCELoss": CELoss}


class CombinedLoss(nn.Layer):
    """Weighted sum of the losses of a PaddleClas `Loss.Train` / `Loss.Eval` list."""

    def __init__(self, losses, weights):
        super().__init__()
        self.losses = nn.LayerList(losses)
        self.weights = list(weights)

    def forward(self, *inputs):
        total = None
        for weight, loss in zip(self.weights, self.losses):
            value = weight * loss(*inputs)
            total = value if total is None else total + value
        return total


def build_loss(items, key_path: str = "Loss.Train") -> CombinedLoss:
    """`[{CELoss: {weight: 1.0, epsilon: 0.1}}, ...]` -> CombinedLoss; errors name the key."""
    if not items:
        raise ValueError(
            f"{key_path}: at least one loss is required, e.g. [{{CELoss: {{weight: 1.0}}}}]"
        )
    losses, weights = [], []
    for i, item in enumerate(items):
        where = f"{key_path}[{i}]"
        cls, args = parse_named_entry(item, where, _LOSSES, "loss")
        weights.append(float(args.pop("weight", 1.0)))
        try:
            losses.append(cls(**args))
        except TypeError as e:
            raise ValueError(f"{where}: bad arguments {args}: {e}") from None
    return CombinedLoss(losses, weights)
