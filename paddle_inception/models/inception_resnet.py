"""Inception-ResNet-v1 and -v2 (Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning").

Residual blocks (`Block35` / `Block17` / `Block8`, TF-slim names; aliases `InceptionResNetA/B/C`
after the paper): parallel branches are concatenated, a linear 1x1 conv (bias, no BN, no ReLU)
projects them back to the input width, the result is scaled by `scale` (paper section 3.3:
scaling the residuals by 0.1-0.3 stabilises training) and added to the input, then ReLU.

Inception-ResNet-v1 follows the paper: Figure 14 stem (-> 35x35x256), 5x Inception-ResNet-A
(Fig. 10), Reduction-A with (k, l, m, n) = (192, 192, 256, 384) (Fig. 7, Table 1) -> 17x17x896,
10x Inception-ResNet-B (Fig. 11), Reduction-B (Fig. 12) -> 8x8x1792, 5x Inception-ResNet-C
(Fig. 13), average pool, dropout (keep 0.8), FC. The paper gives no scale values per block; the
ones of TF-slim / FaceNet (0.17, 0.10, 0.20) are used.

Inception-ResNet-v2 follows TF-slim's `inception_resnet_v2` (as do timm and Cadene, so their
ImageNet weights convert by name), which deviates from the paper in these ways:
- stem: the paper's v2 uses the Inception-v4 stem (Figure 3, -> 35x35x384). TF-slim instead keeps
  the simpler Inception-ResNet-v1-like stem (conv2d_1a .. conv2d_4a, max pool) and ends it with an
  Inception block `mixed_5b` (1x1 96 | 1x1 48 -> 5x5 64 | 1x1 64 -> 3x3 96 -> 3x3 96 | avg pool
  -> 1x1 64) giving 35x35x320 instead of 384;
- the residual widths therefore are 320 / 1088 / 2080 (the paper's Figures 16, 17, 19 write
  384 / 1154 / 2048, which are not even consistent with its own reductions), there are
  10 / 20 / 9+1 residual blocks (Figure 15: 5 / 10 / 5), the last Block8 has no ReLU, and a
  1x1 conv `conv2d_7b` (2080 -> 1536) precedes the pooling.
This is the layout every published v2 checkpoint uses (timm: 55,843,464 parameters), which is
why it was chosen over the figure.

Sub-layer names follow timm (`conv2d_1a`, ..., `mixed_5b`, `repeat`, `mixed_6a`, `repeat_1`,
`mixed_7a`, `repeat_2`, `block8`, `conv2d_7b`); v1 uses the same scheme (`conv2d_4b` is its last
stem conv, as in FaceNet).
"""

from __future__ import annotations

import paddle
import paddle.nn as nn

from ..layers import ConvBNAct, MaxPool2D, avg_pool_3x3
from ..registry import TF_SLIM_299, register_model
from .base import InceptionModel, build_model
from .inception_v4 import ReductionA

__all__ = [
    "Mixed5b",
    "Block35",
    "Block17",
    "Block8",
    "Mixed7a",
    "InceptionResNetA",
    "InceptionResNetB",
    "InceptionResNetC",
    "InceptionResNetV1",
    "InceptionResNetV2",
    "inception_resnet_v1",
    "inception_resnet_v2",
]

_PAPER = (
    "Szegedy et al. 2016, Inception-v4, Inception-ResNet and the Impact of Residual "
    "Connections on Learning"
)


class _Residual(nn.Layer):
    """Shared residual tail: x + scale * conv2d(concat(branches(x))), then ReLU (if `act`)."""

    def _init_tail(self, branch_channels: int, in_channels: int, scale: float, act: bool):
        self.scale = float(scale)
        # linear 1x1 projection back to the input width: conv with bias, no BN, no ReLU
        self.conv2d = ConvBNAct(branch_channels, in_channels, 1, batch_norm=False, act=False)
        self.act = nn.ReLU() if act else None
        self.out_channels = in_channels

    def _branches(self, x) -> list:
        raise NotImplementedError

    def forward(self, x):
        out = self.conv2d(paddle.concat(self._branches(x), axis=1))
        out = x + self.scale * out
        return self.act(out) if self.act is not None else out


class Block35(_Residual):
    """Inception-ResNet-A, 35x35 grid: 1x1 b0 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3, then the linear
    1x1 back to `in_channels`.

    Defaults: TF-slim v2 (320; 32 | 32, 32 | 32, 48, 64; paper Fig. 16). v1 (Fig. 10):
    `Block35(256, 32, (32, 32), (32, 32, 32))`.
    """

    def __init__(
        self,
        in_channels: int = 320,
        b0: int = 32,
        b1=(32, 32),
        b2=(32, 48, 64),
        scale: float = 1.0,
        act: bool = True,
    ):
        super().__init__()
        self.branch0 = ConvBNAct(in_channels, b0, 1)
        self.branch1 = nn.Sequential(
            ConvBNAct(in_channels, b1[0], 1), ConvBNAct(b1[0], b1[1], 3, padding=1)
        )
        self.branch2 = nn.Sequential(
            ConvBNAct(in_channels, b2[0], 1),
            ConvBNAct(b2[0], b2[1], 3, padding=1),
            ConvBNAct(b2[1], b2[2], 3, padding=1),
        )
        self._init_tail(b0 + b1[1] + b2[2], in_channels, scale, act)

    def _branches(self, x):
        return [self.branch0(x), self.branch1(x), self.branch2(x)]


class _Factorized(_Residual):
    """1x1 b0 | 1x1 -> 1xk -> kx1 (b1: the three widths), then the linear 1x1: Inception-ResNet-B
    (k=7) and -C (k=3). A subclass gives `k` and its TF-slim v2 defaults `(in_channels, b0,
    b1)`; the constructor's arguments override them."""

    k = 7
    defaults = (1088, 192, (128, 160, 192))

    def __init__(self, in_channels=None, b0=None, b1=None, scale: float = 1.0, act: bool = True):
        super().__init__()
        d_in, d_b0, d_b1 = self.defaults
        in_channels, b0, b1 = in_channels or d_in, b0 or d_b0, tuple(b1 or d_b1)
        k, pad = self.k, self.k // 2
        self.branch0 = ConvBNAct(in_channels, b0, 1)
        self.branch1 = nn.Sequential(
            ConvBNAct(in_channels, b1[0], 1),
            ConvBNAct(b1[0], b1[1], (1, k), padding=(0, pad)),
            ConvBNAct(b1[1], b1[2], (k, 1), padding=(pad, 0)),
        )
        self._init_tail(b0 + b1[2], in_channels, scale, act)

    def _branches(self, x):
        return [self.branch0(x), self.branch1(x)]


class Block17(_Factorized):
    """Inception-ResNet-B, 17x17 grid: 1x1 b0 | 1x1 -> 1x7 -> 7x1, then the linear 1x1.

    Defaults: TF-slim v2 (1088; 192 | 128, 160, 192; paper Fig. 17). v1 (Fig. 11):
    `Block17(896, 128, (128, 128, 128))`.
    """

    k, defaults = 7, (1088, 192, (128, 160, 192))


class Block8(_Factorized):
    """Inception-ResNet-C, 8x8 grid: 1x1 b0 | 1x1 -> 1x3 -> 3x1, then the linear 1x1.

    Defaults: TF-slim v2 (2080; 192 | 192, 224, 256; paper Fig. 19). v1 (Fig. 13):
    `Block8(1792, 192, (192, 192, 192))`. `act=False` is TF-slim's last, ReLU-less Block8.
    """

    k, defaults = 3, (2080, 192, (192, 224, 256))


# paper names
InceptionResNetA = Block35
InceptionResNetB = Block17
InceptionResNetC = Block8


class Mixed5b(nn.Layer):
    """End of TF-slim's v2 stem (35x35x192 -> 35x35x320): 1x1 96 | 1x1 48 -> 5x5 64 |
    1x1 64 -> 3x3 96 -> 3x3 96 | avg pool -> 1x1 64."""

    def __init__(self, in_channels: int = 192):
        super().__init__()
        self.branch0 = ConvBNAct(in_channels, 96, 1)
        self.branch1 = nn.Sequential(ConvBNAct(in_channels, 48, 1), ConvBNAct(48, 64, 5, padding=2))
        self.branch2 = nn.Sequential(
            ConvBNAct(in_channels, 64, 1),
            ConvBNAct(64, 96, 3, padding=1),
            ConvBNAct(96, 96, 3, padding=1),
        )
        self.branch3 = nn.Sequential(
            avg_pool_3x3(count_include_pad=False), ConvBNAct(in_channels, 64, 1)
        )
        self.out_channels = 320

    def forward(self, x):
        return paddle.concat(
            [self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], axis=1
        )


class Mixed7a(nn.Layer):
    """Inception-ResNet Reduction-B (17x17 -> 8x8): 1x1 -> 3x3/2 (V) | 1x1 -> 3x3/2 (V) |
    1x1 -> 3x3 -> 3x3/2 (V) | 3x3/2 max pool (V).

    Defaults: TF-slim v2 (256, 384 | 256, 288 | 256, 288, 320; 1088 -> 2080). v1 (Fig. 12):
    `Mixed7a(896, (256, 384), (256, 256), (256, 256, 256))` (896 -> 1792).
    """

    def __init__(self, in_channels: int = 1088, b0=(256, 384), b1=(256, 288), b2=(256, 288, 320)):
        super().__init__()
        self.branch0 = nn.Sequential(
            ConvBNAct(in_channels, b0[0], 1), ConvBNAct(b0[0], b0[1], 3, stride=2)
        )
        self.branch1 = nn.Sequential(
            ConvBNAct(in_channels, b1[0], 1), ConvBNAct(b1[0], b1[1], 3, stride=2)
        )
        self.branch2 = nn.Sequential(
            ConvBNAct(in_channels, b2[0], 1),
            ConvBNAct(b2[0], b2[1], 3, padding=1),
            ConvBNAct(b2[1], b2[2], 3, stride=2),
        )
        self.branch3 = MaxPool2D(3, stride=2)
        self.out_channels = b0[1] + b1[1] + b2[2] + in_channels

    def forward(self, x):
        return paddle.concat(
            [self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], axis=1
        )


# Both stems end in a chain of valid 3x3 layers like Inception-v4's (3x3/2, 3x3, pool 3x3/2,
# 3x3, 3x3/2, then Reduction-A and -B with valid 3x3/2): Reduction-B needs a >= 3 px map, which
# needs >= 75 px input (grids 37/35/17/15/7/3/1); at 74 torch raises in mixed_7a.
_MIN_INPUT = 75


class _InceptionResNet(InceptionModel):
    """The two networks share the stem's head (`_add_stem_head`) and this constructor; each
    adds the rest of its body (`_add_body`) and names its stages (`stages`, see `_finish`)."""

    min_input_size = _MIN_INPUT
    stages = ""

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.2,
        scales=(0.17, 0.10, 0.20),
    ):
        super().__init__(num_classes, in_channels, dropout)
        self._add_stem_head(in_channels)
        self._add_body(*scales)
        self._finish(self.stages, dropout)

    def _add_body(self, scale_a: float, scale_b: float, scale_c: float) -> None:
        raise NotImplementedError

    def _add_stem_head(self, in_channels: int) -> None:
        """conv2d_1a .. conv2d_4a, shared by v1 (Fig. 14) and TF-slim's v2: -> 71x71x192."""
        add = self.add_block
        add("conv2d_1a", ConvBNAct(in_channels, 32, 3, stride=2))  # 149x149x32 (V)
        add("conv2d_2a", ConvBNAct(32, 32, 3))  # 147x147x32 (V)
        add("conv2d_2b", ConvBNAct(32, 64, 3, padding=1))  # 147x147x64
        add("maxpool_3a", MaxPool2D(3, stride=2))  # 73x73x64 (V)
        add("conv2d_3b", ConvBNAct(64, 80, 1))  # 73x73x80
        add("conv2d_4a", ConvBNAct(80, 192, 3))  # 71x71x192 (V)


class InceptionResNetV1(_InceptionResNet):
    """Inception-ResNet-v1 as in the paper (Figures 10-14): 8x8x1792 features."""

    stages = "conv2d_2b:64/2 conv2d_4a:192/4 repeat:256/8 repeat_1:896/16 repeat_2:1792/32"

    def _add_body(self, scale_a, scale_b, scale_c):
        add = self.add_block
        add("conv2d_4b", ConvBNAct(192, 256, 3, stride=2))  # 35x35x256 (V), Fig. 14
        add(
            "repeat",
            nn.Sequential(
                *[Block35(256, 32, (32, 32), (32, 32, 32), scale=scale_a) for _ in range(5)]
            ),
        )
        add("mixed_6a", ReductionA(256, k=192, l=192, m=256, n=384))  # 17x17x896
        add(
            "repeat_1",
            nn.Sequential(*[Block17(896, 128, (128, 128, 128), scale=scale_b) for _ in range(10)]),
        )
        add("mixed_7a", Mixed7a(896, (256, 384), (256, 256), (256, 256, 256)))  # 8x8x1792
        add(
            "repeat_2",
            nn.Sequential(*[Block8(1792, 192, (192, 192, 192), scale=scale_c) for _ in range(5)]),
        )


class InceptionResNetV2(_InceptionResNet):
    """Inception-ResNet-v2 in TF-slim's layout (see the module docstring): 8x8x1536 features."""

    stages = "conv2d_2b:64/2 conv2d_4a:192/4 repeat:320/8 repeat_1:1088/16 conv2d_7b:1536/32"

    def _add_body(self, scale_a, scale_b, scale_c):
        add = self.add_block
        add("maxpool_5a", MaxPool2D(3, stride=2))  # 35x35x192 (V)
        add("mixed_5b", Mixed5b(192))  # 35x35x320
        add("repeat", nn.Sequential(*[Block35(320, scale=scale_a) for _ in range(10)]))
        add("mixed_6a", ReductionA(320, k=256, l=256, m=384, n=384))  # 17x17x1088
        add("repeat_1", nn.Sequential(*[Block17(1088, scale=scale_b) for _ in range(20)]))
        add("mixed_7a", Mixed7a(1088))  # 8x8x2080
        add("repeat_2", nn.Sequential(*[Block8(2080, scale=scale_c) for _ in range(9)]))
        add("block8", Block8(2080, scale=1.0, act=False))  # TF-slim: no ReLU
        add("conv2d_7b", ConvBNAct(2080, 1536, 1))  # 8x8x1536


@register_model(
    arch=InceptionResNetV1,
    aliases=("InceptionResNetV1",),
    paper=_PAPER,
    **TF_SLIM_299,
)
def inception_resnet_v1(pretrained=False, **kwargs):
    """Inception-ResNet-v1 as in the paper's Figures 10-14 (no public ImageNet weights)."""
    return build_model("inception_resnet_v1", pretrained, **kwargs)


@register_model(
    arch=InceptionResNetV2,
    aliases=("InceptionResNetV2",),
    paper=_PAPER,
    **dict(TF_SLIM_299, crop_pct=0.8975),
)
def inception_resnet_v2(pretrained=False, **kwargs):
    """Inception-ResNet-v2, TF-slim / timm layout (55.8 M trainable parameters)."""
    return build_model("inception_resnet_v2", pretrained, **kwargs)
