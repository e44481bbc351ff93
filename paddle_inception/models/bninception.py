"""BN-Inception / Inception-v2 (Ioffe & Szegedy 2015, "Batch Normalization: Accelerating Deep
Network Training by Reducing Internal Covariate Shift", Figure 5 and its appendix table).

GoogLeNet with (paper section 4.2 / appendix): BatchNorm after every convolution, the 5x5
branch replaced by two stacked 3x3 convolutions ("double 3x3"), a 3x3 stem conv after a 1x1
reduction, and stride-2 Inception blocks (3c, 4e) instead of separate max pools between stages.
The channel numbers are those of the paper's table, which are also those of the Caffe model
ported by Cadene's `pretrainedmodels` ("bninception"); BN eps is 1e-5 as there.

Note on the table: its branch widths for 4c (160 + 160 + 160 + 128) and 4d (96 + 192 + 192 + 128)
add up to 608 channels, not the 576 printed in its "output size" column, and 4e then outputs
192 + 256 + 608 = 1056 (not 1024). We follow the branch widths (as the Caffe model does), so
4c/4d give 608 and 4e 1056 channels; 5a/5b give 1024 as printed.

Deviations, each keeping the network valid at every input size >= `min_input_size`:
- the stride-2 blocks' max-pool branch has windows at 0, 2, 4, ... with out-of-range cells
  ignored, giving ceil(H/2) rows like their stride-2 convs. At even sizes (e.g. 28 and 14 at a
  224 input, the only sizes the Caffe model runs at) this is exactly Caffe's ceil-mode 3x3/2
  pool; at odd sizes Caffe's pool gives one row fewer than the convs and the concat fails.
- global average pooling is adaptive (Caffe: a fixed 7x7 window, valid at 224 only).
- the conv layers carry no bias (BN follows each; Caffe's conv biases fold into BN's mean).
- dropout defaults to 0: the paper removes it from the BN network (section 4.2.1).
"""

from __future__ import annotations

import paddle
import paddle.nn as nn

from ..layers import (
    ConvBNAct,
    MaxPool2D,
    avg_pool_3x3,
    batchnorm_eps,
    max_pool2d,
)
from ..registry import register_model
from .base import InceptionModel, build_model

__all__ = ["InceptionBN", "InceptionBNReduction", "BNInception", "bninception"]

BN_EPS = 1e-5  # the Caffe/Cadene BN-Inception value (the rest of the zoo uses 1e-3)


# Caffe averages over the zero padding too (torch's count_include_pad=True)
_avg_pool_3x3 = avg_pool_3x3(count_include_pad=True)


def _conv(in_channels, out_channels, kernel_size, stride=1, padding=0):
    with batchnorm_eps(BN_EPS):
        return ConvBNAct(in_channels, out_channels, kernel_size, stride=stride, padding=padding)


class InceptionBN(nn.Layer):
    """Regular BN-Inception block, H x W kept:
    1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 ("double 3x3") | 3x3/1 pool (avg or max) -> 1x1.

    `ch3x3` and `ch3x3dbl` are (reduce, out) pairs; `pool` is "avg" or "max".
    Output channels: ch1x1 + ch3x3[1] + ch3x3dbl[1] + pool_proj.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3, ch3x3dbl, pool: str, pool_proj: int):
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"InceptionBN: pool must be 'avg' or 'max', got {pool!r}")
        self.pool_type = pool
        self.branch1x1 = _conv(in_channels, ch1x1, 1)
        self.branch3x3_reduce = _conv(in_channels, ch3x3[0], 1)
        self.branch3x3 = _conv(ch3x3[0], ch3x3[1], 3, padding=1)
        self.branch3x3dbl_reduce = _conv(in_channels, ch3x3dbl[0], 1)
        self.branch3x3dbl_1 = _conv(ch3x3dbl[0], ch3x3dbl[1], 3, padding=1)
        self.branch3x3dbl_2 = _conv(ch3x3dbl[1], ch3x3dbl[1], 3, padding=1)
        self.branch_pool = _conv(in_channels, pool_proj, 1)
        self.out_channels = ch1x1 + ch3x3[1] + ch3x3dbl[1] + pool_proj

    def forward(self, x):
        # (N, C_in, H, W) -> (N, out_channels, H, W)
        b1 = self.branch1x1(x)
        b3 = self.branch3x3(self.branch3x3_reduce(x))
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(self.branch3x3dbl_reduce(x)))
        if self.pool_type == "avg":
            p = _avg_pool_3x3(x)
        else:
            p = max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return paddle.concat([b1, b3, bd, self.branch_pool(p)], axis=1)


class InceptionBNReduction(nn.Layer):
    """Stride-2 BN-Inception block (3c, 4e): no 1x1 branch, the pool branch passes through.
    1x1 -> 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | 3x3/2 max pool.

    Output: (N, ch3x3[1] + ch3x3dbl[1] + in_channels, ceil(H/2), ceil(W/2)).
    """

    def __init__(self, in_channels: int, ch3x3, ch3x3dbl):
        super().__init__()
        self.branch3x3_reduce = _conv(in_channels, ch3x3[0], 1)
        self.branch3x3 = _conv(ch3x3[0], ch3x3[1], 3, stride=2, padding=1)
        self.branch3x3dbl_reduce = _conv(in_channels, ch3x3dbl[0], 1)
        self.branch3x3dbl_1 = _conv(ch3x3dbl[0], ch3x3dbl[1], 3, padding=1)
        self.branch3x3dbl_2 = _conv(ch3x3dbl[1], ch3x3dbl[1], 3, stride=2, padding=1)
        self.out_channels = ch3x3[1] + ch3x3dbl[1] + in_channels

    def forward(self, x):
        b3 = self.branch3x3(self.branch3x3_reduce(x))  # ceil(H/2) rows
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(self.branch3x3dbl_reduce(x)))
        # windows at 0, 2, 4, ...; the two bottom/right padding cells are ignored by the max
        # and only let an odd map's last row start a window: ceil(H/2) rows, like the convs
        # (at even H, identical to Caffe's ceil-mode 3x3/2 pool).
        p = max_pool2d(x, kernel_size=3, stride=2, padding=[0, 2, 0, 2])
        return paddle.concat([b3, bd, p], axis=1)


# Appendix table of the paper: (#1x1, (#3x3 reduce, #3x3), (double #3x3 reduce, double #3x3),
# pool, pool proj). Reduction blocks (stride 2) have no 1x1 branch and a pass-through max pool.
_BLOCKS = {
    "inception_3a": (64, (64, 64), (64, 96), "avg", 32),
    "inception_3b": (64, (64, 96), (64, 96), "avg", 64),
    "inception_3c": (None, (128, 160), (64, 96), "max", None),
    "inception_4a": (224, (64, 96), (96, 128), "avg", 128),
    "inception_4b": (192, (96, 128), (96, 128), "avg", 128),
    "inception_4c": (160, (128, 160), (128, 160), "avg", 128),
    "inception_4d": (96, (128, 192), (160, 192), "avg", 128),
    "inception_4e": (None, (128, 192), (192, 256), "max", None),
    "inception_5a": (352, (192, 320), (160, 224), "avg", 128),
    "inception_5b": (352, (192, 320), (192, 224), "max", 128),
}


class BNInception(InceptionModel):
    """BN-Inception: stem, Inception 3a-3c, 4a-4e, 5a-5b, global average pool, fc."""

    # Size chain: conv1 7x7/2 p3 gives (H-1)//2+1; pool1 and pool2 are ceil-mode 3x3/2 pools
    # without padding (as Caffe), which need at least 2 input rows (with 1 the window lies
    # mostly beyond the map and torch raises); the stride-2 blocks give ceil(h/2) >= 1.
    # pool2 needs pool1's output >= 2, i.e. conv1's output >= 4, i.e. H >= 7.
    min_input_size = 7

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.0):
        super().__init__(num_classes, in_channels, dropout)
        self.add_block("conv1", _conv(in_channels, 64, 7, stride=2, padding=3))
        self.add_block("pool1", MaxPool2D(3, stride=2, ceil_mode=True))
        self.add_block("conv2_reduce", _conv(64, 64, 1))
        self.add_block("conv2", _conv(64, 192, 3, padding=1))
        self.add_block("pool2", MaxPool2D(3, stride=2, ceil_mode=True))
        channels = 192
        for name, (ch1x1, ch3x3, ch3x3dbl, pool, pool_proj) in _BLOCKS.items():
            if ch1x1 is None:
                block = InceptionBNReduction(channels, ch3x3, ch3x3dbl)
            else:
                block = InceptionBN(channels, ch1x1, ch3x3, ch3x3dbl, pool, pool_proj)
            self.add_block(name, block)
            channels = block.out_channels
        self._finish(
            "conv1:64/2 conv2:192/4 inception_3b:320/8 inception_4d:608/16 inception_5b:1024/32",
            dropout,
        )


# the registry's defaults: 224 px, crop 0.875, bilinear, ImageNet mean/std
@register_model(
    arch=BNInception,
    aliases=("BNInception",),
    paper="Ioffe & Szegedy 2015, Batch Normalization: Accelerating Deep Network "
    "Training by Reducing Internal Covariate Shift",
)
def bninception(pretrained=False, **kwargs):
    """BN-Inception (Inception-v2 of the Batch Normalization paper), 11.3 M params."""
    return build_model("bninception", pretrained, **kwargs)
