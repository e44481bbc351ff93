"""Inception-v4 (Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", Figures 3-9).

stem (Figures 3: Conv2d_1a_3x3 .. Mixed_5a) -> 4x Inception-A -> Reduction-A (k=192, l=224,
m=256, n=384) -> 7x Inception-B -> Reduction-B -> 3x Inception-C -> global average pool ->
dropout (keep 0.8) -> FC. At 299x299 the maps are 35x35x384, 17x17x1024 and 8x8x1536.

Layout and sub-layer names follow TF-slim (`Conv2d_1a_3x3` ... `Mixed_7d`); inside the blocks the
branch names are those of timm / Cadene (`branch0`, `branch1_1a`, ...), whose `features.<i>` map
one to one onto the TF-slim names, so converted weights load by name. Every conv is
conv -> BN (eps 1e-3) -> ReLU; "V" convs of the paper are valid-padded (padding 0), the others are
same-padded (odd kernels, padding k // 2, stride 1). Where the paper's figure and TF-slim differ
in the order of factorised convs (stem branch 1x7/7x1), TF-slim / timm order is used.

Options for converted weights (see `paddle_inception.convert`):
- `kernel_order="paper"` swaps the three factorised chains where TF-slim departs from the paper's
  figures (stem 7x1 -> 1x7 instead of 1x7 -> 7x1; Inception-B's double 7x7 branch 1x7 -> 7x1 ->
  1x7 -> 7x1 instead of 7x1 -> 1x7 -> 7x1 -> 1x7; Inception-C's 1x3 448 -> 3x1 512 instead of
  3x1 448 -> 1x3 512). PaddleClas' InceptionV4 is built this way. Names and widths are unchanged.
- `bn_eps`: BatchNorm epsilon (1e-3 as TF-slim / timm; PaddleClas uses Paddle's default 1e-5).
"""

from __future__ import annotations

import paddle
import paddle.nn as nn

from ..layers import ConvBNAct, MaxPool2D, avg_pool_3x3, batchnorm_eps
from ..registry import TF_SLIM_299, register_model
from .base import InceptionModel, build_model

__all__ = [
    "Mixed3a",
    "Mixed4a",
    "Mixed5a",
    "InceptionA",
    "ReductionA",
    "InceptionB",
    "ReductionB",
    "InceptionC",
    "InceptionV4",
    "inception_v4",
]

KERNEL_ORDERS = ("tf", "paper")


# The pool branches average over real pixels only at the border (TF-slim's SAME padding, timm's
# count_include_pad=False): converted TF-slim/timm weights then give the same logits (~1e-5).


def _check_kernel_order(kernel_order: str, where: str) -> None:
    if kernel_order not in KERNEL_ORDERS:
        raise ValueError(
            f"{where}: kernel_order must be one of {KERNEL_ORDERS}, got {kernel_order!r}"
        )


def _cat(*xs):
    return paddle.concat(list(xs), axis=1)


class Mixed3a(nn.Layer):
    """Stem, part 1 (147x147x64 -> 73x73x160): 3x3/2 max pool (V) | 3x3/2 conv 96 (V)."""

    def __init__(self, in_channels: int = 64):
        super().__init__()
        self.maxpool = MaxPool2D(3, stride=2)
        self.conv = ConvBNAct(in_channels, 96, 3, stride=2)
        self.out_channels = in_channels + 96

    def forward(self, x):
        return _cat(self.maxpool(x), self.conv(x))


class Mixed4a(nn.Layer):
    """Stem, part 2 (73x73x160 -> 71x71x192): 1x1 64 -> 3x3 96 (V) | 1x1 64 -> 1x7 64 -> 7x1 64
    -> 3x3 96 (V). `kernel_order="paper"`: 7x1 then 1x7 (Figure 3, PaddleClas)."""

    def __init__(self, in_channels: int = 160, *, kernel_order: str = "tf"):
        super().__init__()
        _check_kernel_order(kernel_order, "Mixed4a")
        k1, k2 = ((1, 7), (7, 1)) if kernel_order == "tf" else ((7, 1), (1, 7))
        self.branch0 = nn.Sequential(ConvBNAct(in_channels, 64, 1), ConvBNAct(64, 96, 3))
        self.branch1 = nn.Sequential(
            ConvBNAct(in_channels, 64, 1),
            ConvBNAct(64, 64, k1, padding=(k1[0] // 2, k1[1] // 2)),
            ConvBNAct(64, 64, k2, padding=(k2[0] // 2, k2[1] // 2)),
            ConvBNAct(64, 96, 3),
        )
        self.out_channels = 192

    def forward(self, x):
        return _cat(self.branch0(x), self.branch1(x))


class Mixed5a(nn.Layer):
    """Stem, part 3 (71x71x192 -> 35x35x384): 3x3/2 conv 192 (V) | 3x3/2 max pool (V)."""

    def __init__(self, in_channels: int = 192):
        super().__init__()
        self.conv = ConvBNAct(in_channels, 192, 3, stride=2)
        self.maxpool = MaxPool2D(3, stride=2)
        self.out_channels = 192 + in_channels

    def forward(self, x):
        return _cat(self.conv(x), self.maxpool(x))


class InceptionA(nn.Layer):
    """Figure 4 (35x35x384 -> 35x35x384): 1x1 96 | 1x1 64 -> 3x3 96 | 1x1 64 -> 3x3 96 -> 3x3 96
    | avg pool -> 1x1 96."""

    def __init__(self, in_channels: int = 384):
        super().__init__()
        self.branch0 = ConvBNAct(in_channels, 96, 1)
        self.branch1 = nn.Sequential(ConvBNAct(in_channels, 64, 1), ConvBNAct(64, 96, 3, padding=1))
        self.branch2 = nn.Sequential(
            ConvBNAct(in_channels, 64, 1),
            ConvBNAct(64, 96, 3, padding=1),
            ConvBNAct(96, 96, 3, padding=1),
        )
        self.branch3 = nn.Sequential(
            avg_pool_3x3(count_include_pad=False), ConvBNAct(in_channels, 96, 1)
        )
        self.out_channels = 384

    def forward(self, x):
        return _cat(self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x))


class ReductionA(nn.Layer):
    """Figure 7, the 35x35 -> 17x17 reduction shared by Inception-v4 and Inception-ResNet:
    3x3/2 conv n (V) | 1x1 k -> 3x3 l -> 3x3/2 m (V) | 3x3/2 max pool (V).

    Table 1 of the paper: Inception-v4 (k, l, m, n) = (192, 224, 256, 384) (the default),
    Inception-ResNet-v1 (192, 192, 256, 384), Inception-ResNet-v2 (256, 256, 384, 384).
    Output channels: n + m + in_channels.
    """

    # k, l, m, n: the paper's names for the filter counts (its Table 1)
    def __init__(
        self,
        in_channels: int = 384,
        k: int = 192,
        l: int = 224,  # noqa: E741
        m: int = 256,
        n: int = 384,
    ):
        super().__init__()
        self.branch0 = ConvBNAct(in_channels, n, 3, stride=2)
        self.branch1 = nn.Sequential(
            ConvBNAct(in_channels, k, 1),
            ConvBNAct(k, l, 3, padding=1),
            ConvBNAct(l, m, 3, stride=2),
        )
        self.branch2 = MaxPool2D(3, stride=2)
        self.out_channels = n + m + in_channels

    def forward(self, x):
        return _cat(self.branch0(x), self.branch1(x), self.branch2(x))


class InceptionB(nn.Layer):
    """Figure 5 (17x17x1024 -> 17x17x1024): 1x1 384 | 1x1 192 -> 1x7 224 -> 7x1 256 |
    1x1 192 -> 7x1 192 -> 1x7 224 -> 7x1 224 -> 1x7 256 | avg pool -> 1x1 128.

    `kernel_order="paper"`: the double branch is 1x7 -> 7x1 -> 1x7 -> 7x1 (Figure 5, PaddleClas).
    """

    def __init__(self, in_channels: int = 1024, *, kernel_order: str = "tf"):
        super().__init__()
        _check_kernel_order(kernel_order, "InceptionB")
        a, b = ((7, 1), (1, 7)) if kernel_order == "tf" else ((1, 7), (7, 1))
        pa, pb = (a[0] // 2, a[1] // 2), (b[0] // 2, b[1] // 2)
        self.branch0 = ConvBNAct(in_channels, 384, 1)
        self.branch1 = nn.Sequential(
            ConvBNAct(in_channels, 192, 1),
            ConvBNAct(192, 224, (1, 7), padding=(0, 3)),
            ConvBNAct(224, 256, (7, 1), padding=(3, 0)),
        )
        self.branch2 = nn.Sequential(
            ConvBNAct(in_channels, 192, 1),
            ConvBNAct(192, 192, a, padding=pa),
            ConvBNAct(192, 224, b, padding=pb),
            ConvBNAct(224, 224, a, padding=pa),
            ConvBNAct(224, 256, b, padding=pb),
        )
        self.branch3 = nn.Sequential(
            avg_pool_3x3(count_include_pad=False), ConvBNAct(in_channels, 128, 1)
        )
        self.out_channels = 1024

    def forward(self, x):
        return _cat(self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x))


class ReductionB(nn.Layer):
    """Figure 8 (17x17x1024 -> 8x8x1536): 1x1 192 -> 3x3/2 192 (V) | 1x1 256 -> 1x7 256 ->
    7x1 320 -> 3x3/2 320 (V) | 3x3/2 max pool (V)."""

    def __init__(self, in_channels: int = 1024):
        super().__init__()
        self.branch0 = nn.Sequential(
            ConvBNAct(in_channels, 192, 1), ConvBNAct(192, 192, 3, stride=2)
        )
        self.branch1 = nn.Sequential(
            ConvBNAct(in_channels, 256, 1),
            ConvBNAct(256, 256, (1, 7), padding=(0, 3)),
            ConvBNAct(256, 320, (7, 1), padding=(3, 0)),
            ConvBNAct(320, 320, 3, stride=2),
        )
        self.branch2 = MaxPool2D(3, stride=2)
        self.out_channels = 192 + 320 + in_channels

    def forward(self, x):
        return _cat(self.branch0(x), self.branch1(x), self.branch2(x))


class InceptionC(nn.Layer):
    """Figure 6 (8x8x1536 -> 8x8x1536): 1x1 256 | 1x1 384 -> (1x3 256 | 3x1 256) |
    1x1 384 -> 3x1 448 -> 1x3 512 -> (1x3 256 | 3x1 256) | avg pool -> 1x1 256.

    (The figure labels the 2nd and 3rd convs of the last-but-one branch 1x3 448 and 3x1 512;
    TF-slim, whose weights we convert, applies 3x1 first. Both give the same shapes/params.
    `kernel_order="paper"` follows the figure, as PaddleClas does.)
    """

    def __init__(self, in_channels: int = 1536, *, kernel_order: str = "tf"):
        super().__init__()
        _check_kernel_order(kernel_order, "InceptionC")
        a, b = ((3, 1), (1, 3)) if kernel_order == "tf" else ((1, 3), (3, 1))
        self.branch0 = ConvBNAct(in_channels, 256, 1)
        self.branch1_0 = ConvBNAct(in_channels, 384, 1)
        self.branch1_1a = ConvBNAct(384, 256, (1, 3), padding=(0, 1))
        self.branch1_1b = ConvBNAct(384, 256, (3, 1), padding=(1, 0))
        self.branch2_0 = ConvBNAct(in_channels, 384, 1)
        self.branch2_1 = ConvBNAct(384, 448, a, padding=(a[0] // 2, a[1] // 2))
        self.branch2_2 = ConvBNAct(448, 512, b, padding=(b[0] // 2, b[1] // 2))
        self.branch2_3a = ConvBNAct(512, 256, (1, 3), padding=(0, 1))
        self.branch2_3b = ConvBNAct(512, 256, (3, 1), padding=(1, 0))
        self.branch3 = nn.Sequential(
            avg_pool_3x3(count_include_pad=False), ConvBNAct(in_channels, 256, 1)
        )
        self.out_channels = 1536

    def forward(self, x):
        x1 = self.branch1_0(x)
        x2 = self.branch2_2(self.branch2_1(self.branch2_0(x)))
        return _cat(
            self.branch0(x),
            self.branch1_1a(x1),
            self.branch1_1b(x1),
            self.branch2_3a(x2),
            self.branch2_3b(x2),
            self.branch3(x),
        )


class InceptionV4(InceptionModel):
    """Inception-v4. `forward` returns logits (N, num_classes), or pooled features (N, 1536) when
    `num_classes == 0`."""

    # Every "V" conv/pool needs an input of at least 3 px. Walking the valid 3x3 layers back from
    # Reduction-B (needs >= 3 px at 17x17-level, i.e. >= 7 at 35x35-level, >= 15 at 71x71-level,
    # >= 17 at 73x73-level, >= 35 at 147x147-level, >= 37 at 149x149-level) gives 75: at 75 the
    # grids are 37/35/17/15/7/3/1, at 74 Reduction-B gets a 2x2 map and torch raises.
    min_input_size = 75

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.2,
        kernel_order: str = "tf",
        bn_eps: float = 1e-3,
    ):
        super().__init__(num_classes, in_channels, dropout)
        _check_kernel_order(kernel_order, "InceptionV4")
        ko = dict(kernel_order=kernel_order)
        add = self.add_block
        with batchnorm_eps(bn_eps):
            add("Conv2d_1a_3x3", ConvBNAct(in_channels, 32, 3, stride=2))  # 149x149x32 (V)
            add("Conv2d_2a_3x3", ConvBNAct(32, 32, 3))  # 147x147x32 (V)
            add("Conv2d_2b_3x3", ConvBNAct(32, 64, 3, padding=1))  # 147x147x64
            add("Mixed_3a", Mixed3a(64))  # 73x73x160
            add("Mixed_4a", Mixed4a(160, **ko))  # 71x71x192
            add("Mixed_5a", Mixed5a(192))  # 35x35x384
            for suffix in "bcde":  # 4x Inception-A
                add(f"Mixed_5{suffix}", InceptionA(384))
            add("Mixed_6a", ReductionA(384, k=192, l=224, m=256, n=384))  # 17x17x1024
            for suffix in "bcdefgh":  # 7x Inception-B
                add(f"Mixed_6{suffix}", InceptionB(1024, **ko))
            add("Mixed_7a", ReductionB(1024))  # 8x8x1536
            for suffix in "bcd":  # 3x Inception-C
                add(f"Mixed_7{suffix}", InceptionC(1536, **ko))
        self._finish(
            "Conv2d_2b_3x3:64/2 Mixed_3a:160/4 Mixed_5e:384/8 Mixed_6h:1024/16 Mixed_7d:1536/32",
            dropout,
        )


@register_model(
    arch=InceptionV4,
    aliases=("InceptionV4",),
    paper="Szegedy et al. 2016, Inception-v4, Inception-ResNet and the Impact of "
    "Residual Connections on Learning",
    **TF_SLIM_299,
)
def inception_v4(pretrained=False, **kwargs):
    """Inception-v4 (42.7 M trainable parameters with 1000 classes, as timm's inception_v4)."""
    return build_model("inception_v4", pretrained, **kwargs)
