"""Building blocks shared by every model in the zoo.

`ConvBNAct` is the one conv -> [BatchNorm] -> [ReLU] block; every convolution of every model goes
through it, so the normalisation, bias and activation policy is configured in one place.

`Conv2D` and `MaxPool2D` (and `max_pool2d`) are Paddle's, with the same parameters, names and
results, but faster in eager mode on CPU (measured on the 2-core AMD EPYC, forward + backward):
- Conv2D adds its bias with shape (C, 1, 1); nn.Conv2D adds it as (1, C, 1, 1), which Paddle's
  broadcast kernel runs on a slow generic path: 24 ms vs 3 ms on a 16x192x28x28 output.
- max pooling while gradients are recorded keeps the argmax mask, so the backward scatters
  through it instead of searching every window again: 30 -> 15 ms on a 3x3/1 pool over
  16x192x28x28, 50 -> 23 ms on GoogLeNet's first 3x3/2 pool at 224. The mask is int32 (one per
  output), freed with the graph.
Static graphs (to_static / export) get the stock ops: the patterns Paddle Inference's oneDNN
fusion passes match, and no mask where no backward runs.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

__all__ = ["Conv2D", "MaxPool2D", "max_pool2d", "ConvBNAct", "init_weights", "set_bn_eps"]

# TF-slim / torchvision / timm all use eps=1e-3 for the Inception family; BN-Inception uses 1e-5.
DEFAULT_BN_EPS = 1e-3


class Conv2D(nn.Conv2D):
    """nn.Conv2D whose eager forward adds the bias as (C, 1, 1) (see the module docstring)."""

    def forward(self, x):
        if (self.bias is None or not paddle.in_dynamic_mode() or self._data_format != "NCHW"
                or self._padding_mode != "zeros"):
            return super().forward(x)
        x = F.conv2d(x, self.weight, None, self._stride, self._updated_padding, self._dilation,
                     self._groups, self._data_format)
        return x + self.bias.reshape([-1, 1, 1])


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
    """F.max_pool2d (NCHW); keeps the argmax mask for the backward when one will run.
    (Paddle's masked pool takes only symmetric padding: an int or one (h, w) pair.)"""
    symmetric = isinstance(padding, int) or len(padding) == 2
    if (symmetric and paddle.in_dynamic_mode() and not x.stop_gradient
            and paddle.is_grad_enabled()):
        return F.max_pool2d(x, kernel_size, stride, padding, ceil_mode=ceil_mode,
                            return_mask=True)[0]
    return F.max_pool2d(x, kernel_size, stride, padding, ceil_mode=ceil_mode)


class MaxPool2D(nn.MaxPool2D):
    """nn.MaxPool2D (NCHW) whose backward goes through the argmax mask (see module docstring)."""

    def forward(self, x):
        if self.return_mask or self.data_format != "NCHW":
            return super().forward(x)
        return max_pool2d(x, self.ksize, self.stride, self.padding, self.ceil_mode)


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
        self.conv = Conv2D(in_channels, out_channels, kernel_size, stride=stride,
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
