"""Building blocks shared by every model in the zoo.

`ConvBNAct` is the one conv -> [BatchNorm] -> [ReLU] block; every convolution of every model goes
through it, so the normalisation, bias and activation policy is configured in one place.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn

__all__ = ["ConvBNAct", "init_weights", "set_bn_eps"]

# TF-slim / torchvision / timm all use eps=1e-3 for the Inception family; BN-Inception uses 1e-5.
DEFAULT_BN_EPS = 1e-3


class ConvBNAct(nn.Layer):
    """Conv2D, then BatchNorm2D (if `batch_norm`), then ReLU (if `act`).

    The conv carries a bias only when there is no BN after it (BN's shift makes it redundant),
    unless `bias` is given explicitly. Sub-layer names (`conv`, `bn`, `act`) match torchvision's
    `BasicConv2d`, so ported weights map by name.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 *, batch_norm: bool = True, act: bool = True, bias: bool | None = None,
                 bn_eps: float = DEFAULT_BN_EPS):
        super().__init__()
        if bias is None:
            bias = not batch_norm
        self.conv = nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias_attr=None if bias else False)
        # paddle's momentum is the weight of the running average: 0.9 == torch's momentum=0.1
        self.bn = nn.BatchNorm2D(out_channels, epsilon=bn_eps) if batch_norm else None
        self.act = nn.ReLU() if act else None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.act is not None:
            x = self.act(x)
        return x


def init_weights(model: nn.Layer, linear_std: float = 0.01) -> None:
    """He-normal (fan_in, ReLU gain) convolutions, N(0, linear_std) linears, zero biases.

    He init keeps activations at unit scale through deep ReLU stacks *without* BN (the
    paper-faithful GoogLeNet has none), where Paddle's default Xavier-uniform init shrinks them.
    """
    conv_init = nn.initializer.KaimingNormal(nonlinearity="relu")
    zeros = nn.initializer.Constant(0.0)
    lin_init = nn.initializer.Normal(0.0, linear_std)
    for layer in model.sublayers(include_self=True):
        if isinstance(layer, nn.Conv2D):
            conv_init(layer.weight)
            if layer.bias is not None:
                zeros(layer.bias)
        elif isinstance(layer, nn.Linear):
            lin_init(layer.weight)
            zeros(layer.bias)


def set_bn_eps(model: nn.Layer, eps: float) -> None:
    """Set every BatchNorm's epsilon (peers differ: TF-slim/torchvision 1e-3, Paddle 1e-5)."""
    for layer in model.sublayers():
        if isinstance(layer, nn.BatchNorm2D):
            layer._epsilon = float(eps)
