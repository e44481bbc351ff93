"""Inception-v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture for Computer Vision").

The widely used layout of TF-slim and torchvision: factorised 5x5 -> 3x3 convolutions
(Mixed_5x, `InceptionA`), grid reduction 35 -> 17 (`InceptionB`), factorised 7x7 -> 1x7 + 7x1
(Mixed_6x, `InceptionC`), grid reduction 17 -> 8 (`InceptionD`), expanded-filter-bank blocks on
the 8x8 grid (Mixed_7b/7c, `InceptionE`), one auxiliary classifier on Mixed_6e, BN (eps 1e-3)
after every convolution.

Every sub-layer carries torchvision's name (`Mixed_6e.branch7x7dbl_3.conv`, `AuxLogits.conv1.bn`
...), and the classifier is `head.fc`, so a weight converter maps names one to one.
Pooling follows torchvision exactly, so converted weights give the same logits:
- the pool branch of the Mixed blocks is a 3x3/1 average pool with padding 1 that *includes* the
  zero padding in the average (torch's `count_include_pad=True`). Paddle's default
  `exclusive=True` divides by the number of real cells instead, so we pass `exclusive=False`.
- the reductions use floor-mode 3x3/2 max pools without padding.
"""

from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..layers import (
    ConvBNAct,
    MaxPool2D,
    adaptive_avg_pool2d,
    avg_pool_3x3,
    batchnorm_eps,
    max_pool2d,
)
from ..registry import TF_SLIM_299, register_model
from .base import AuxClassifier, InceptionModel, build_model

__all__ = [
    "InceptionA",
    "InceptionB",
    "InceptionC",
    "InceptionD",
    "InceptionE",
    "InceptionAux",
    "InceptionV3",
    "inception_v3",
]


# torchvision's F.avg_pool2d(x, 3, 1, 1) counts the zero padding (count_include_pad=True)
_avg_pool_3x3 = avg_pool_3x3(count_include_pad=True)


class InceptionA(nn.Layer):
    """Mixed_5b/5c/5d (35x35): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg-pool -> 1x1.

    Output channels: 64 + 64 + 96 + pool_features.
    """

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = ConvBNAct(in_channels, 64, 1)
        self.branch5x5_1 = ConvBNAct(in_channels, 48, 1)
        self.branch5x5_2 = ConvBNAct(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBNAct(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBNAct(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBNAct(96, 96, 3, padding=1)
        self.branch_pool = ConvBNAct(in_channels, pool_features, 1)
        self.out_channels = 64 + 64 + 96 + pool_features

    #: the pool in front of `branch_pool` (a class attribute: the FID variants swap it)
    pool = _avg_pool_3x3

    def forward(self, x):
        # (N, C_in, H, W) -> (N, 224 + pool_features, H, W)
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(self.pool(x))
        return paddle.concat([b1, b5, b3, bp], axis=1)


class InceptionB(nn.Layer):
    """Mixed_6a, the 35 -> 17 grid reduction: 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max-pool 3x3/2.

    Output channels: 384 + 96 + in_channels.
    """

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = ConvBNAct(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBNAct(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBNAct(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBNAct(96, 96, 3, stride=2)
        self.out_channels = 384 + 96 + in_channels

    def forward(self, x):
        # (N, C_in, H, W) -> (N, 480 + C_in, (H - 3) // 2 + 1, (W - 3) // 2 + 1)
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = max_pool2d(x, kernel_size=3, stride=2)
        return paddle.concat([b3, bd, bp], axis=1)


class InceptionC(nn.Layer):
    """Mixed_6b-6e (17x17), 7x7 factorised into 1x7 and 7x1:
    1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 | avg-pool -> 1x1.

    `channels_7x7` is the width inside the 7x7 branches; output channels: 4 * 192 = 768.
    """

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = ConvBNAct(in_channels, 192, 1)
        self.branch7x7_1 = ConvBNAct(in_channels, c7, 1)
        self.branch7x7_2 = ConvBNAct(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBNAct(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBNAct(in_channels, c7, 1)
        self.branch7x7dbl_2 = ConvBNAct(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBNAct(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBNAct(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBNAct(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBNAct(in_channels, 192, 1)
        self.out_channels = 768

    pool = _avg_pool_3x3  # see InceptionA.pool

    def forward(self, x):
        # (N, C_in, H, W) -> (N, 768, H, W)
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            bd = layer(bd)
        bp = self.branch_pool(self.pool(x))
        return paddle.concat([b1, b7, bd, bp], axis=1)


class InceptionD(nn.Layer):
    """Mixed_7a, the 17 -> 8 grid reduction:
    1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max-pool 3x3/2.

    Output channels: 320 + 192 + in_channels.
    """

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = ConvBNAct(in_channels, 192, 1)
        self.branch3x3_2 = ConvBNAct(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBNAct(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBNAct(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBNAct(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBNAct(192, 192, 3, stride=2)
        self.out_channels = 320 + 192 + in_channels

    def forward(self, x):
        # (N, C_in, H, W) -> (N, 512 + C_in, (H - 3) // 2 + 1, (W - 3) // 2 + 1)
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        bp = max_pool2d(x, kernel_size=3, stride=2)
        return paddle.concat([b3, b7, bp], axis=1)


class InceptionE(nn.Layer):
    """Mixed_7b/7c (8x8), expanded filter banks (paper Figure 7):
    1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) | avg-pool -> 1x1.

    Output channels: 320 + 2 * 384 + 2 * 384 + 192 = 2048.
    """

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch1x1 = ConvBNAct(in_channels, 320, 1)
        self.branch3x3_1 = ConvBNAct(in_channels, 384, 1)
        self.branch3x3_2a = ConvBNAct(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBNAct(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBNAct(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBNAct(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBNAct(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBNAct(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBNAct(in_channels, 192, 1)
        self.out_channels = 2048

    pool = _avg_pool_3x3  # see InceptionA.pool

    def forward(self, x):
        # (N, C_in, H, W) -> (N, 2048, H, W)
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = paddle.concat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], axis=1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = paddle.concat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], axis=1)
        bp = self.branch_pool(self.pool(x))
        return paddle.concat([b1, b3, bd, bp], axis=1)


class InceptionAux(AuxClassifier):
    """Auxiliary classifier on Mixed_6e: avg-pool 5x5/3 -> conv0 1x1 128 -> conv1 5x5 768 ->
    global avg-pool -> fc (no dropout, as torchvision).

    Pooling choice: on maps of 17x17 or more (inputs from about 299 px up) this is torchvision's
    fixed 5x5 stride-3 average pool, so converted weights give identical aux logits. On smaller
    maps that pool would leave less than the 5x5 window conv1 needs (and below 5x5 nothing at
    all, where torchvision raises), so there we pool *adaptively* to 5x5 instead; conv1 then
    always sees at least 5x5 and the final adaptive pool makes the fc input 768 at any size.
    """

    #: Mixed_6e map size from which the fixed 5x5/3 pool leaves >= 5x5 for conv1
    FIXED_POOL_MIN = 17

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.conv0 = ConvBNAct(in_channels, 128, 1)
        self.conv1 = ConvBNAct(128, 768, 5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        small = (0 < h < self.FIXED_POOL_MIN) or (0 < w < self.FIXED_POOL_MIN)
        if small:
            x = adaptive_avg_pool2d(x, 5)  # (N, C, 5, 5)
        else:
            x = F.avg_pool2d(x, kernel_size=5, stride=3)  # (N, C, >= 5, >= 5)
        x = self.conv1(self.conv0(x))  # (N, 768, h', w')
        x = adaptive_avg_pool2d(x, 1).flatten(1)  # (N, 768)
        return self.fc(x)  # (N, num_classes)


class InceptionV3(InceptionModel):
    """Inception-v3 with torchvision's layout and names.

    Training mode returns `(logits, aux)` (aux from Mixed_6e); eval mode returns only `logits`,
    unless `forward(x, return_aux=True)`. `aux_logits=False` builds no auxiliary head.
    `transform_input=True` re-scales ImageNet-normalised input to the [-1, 1] range (as
    torchvision, for its ported Google weights). `bn_eps` is the BatchNorm epsilon (1e-3 as
    torchvision / timm / TF-slim; PaddleClas' InceptionV3 uses Paddle's default 1e-5).
    """

    # Every reduction (Conv2d_1a 3x3/2, Conv2d_2a 3x3, maxpool1, Conv2d_4a 3x3, maxpool2, Mixed_6a,
    # Mixed_7a) is unpadded, so the size chain is
    #   H -> (H-3)//2+1 -> -2 -> (.-3)//2+1 -> -2 -> (.-3)//2+1 -> (.-3)//2+1 -> (.-3)//2+1.
    # Mixed_7a needs a 3x3 Mixed_6e map, which needs 7 at Mixed_5x, 15 after Conv2d_4a, 17 after
    # Conv2d_3b, 35 after Conv2d_2b, 37 after Conv2d_1a, i.e. H >= 75. At 74 Mixed_7a's output
    # is empty (torchvision raises there).
    min_input_size = 75
    aux_taps = (("Mixed_6e", "AuxLogits"),)  # Mixed_6e: (N, 768, ~H/16, ~W/16)
    #: the classes of Mixed_5b-5d, 6b-6e, 7b and 7c (FIDInceptionV3 puts the TF graph's in)
    block_a, block_c, block_e1, block_e2 = InceptionA, InceptionC, InceptionE, InceptionE

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.5,
        aux_logits: bool = True,
        transform_input: bool = False,
        bn_eps: float = 1e-3,
    ):
        super().__init__(num_classes, in_channels, dropout)
        self._set_aux_logits(aux_logits)
        self._set_transform_input(transform_input)

        with batchnorm_eps(bn_eps):
            add = self.add_block
            add("Conv2d_1a_3x3", ConvBNAct(in_channels, 32, 3, stride=2))
            add("Conv2d_2a_3x3", ConvBNAct(32, 32, 3))
            add("Conv2d_2b_3x3", ConvBNAct(32, 64, 3, padding=1))
            add("maxpool1", MaxPool2D(3, stride=2))
            add("Conv2d_3b_1x1", ConvBNAct(64, 80, 1))
            add("Conv2d_4a_3x3", ConvBNAct(80, 192, 3))
            add("maxpool2", MaxPool2D(3, stride=2))
            add("Mixed_5b", self.block_a(192, pool_features=32))
            add("Mixed_5c", self.block_a(256, pool_features=64))
            add("Mixed_5d", self.block_a(288, pool_features=64))
            add("Mixed_6a", InceptionB(288))
            add("Mixed_6b", self.block_c(768, channels_7x7=128))
            add("Mixed_6c", self.block_c(768, channels_7x7=160))
            add("Mixed_6d", self.block_c(768, channels_7x7=160))
            add("Mixed_6e", self.block_c(768, channels_7x7=192))
            self.AuxLogits = InceptionAux(768, num_classes) if aux_logits else None
            add("Mixed_7a", InceptionD(768))
            add("Mixed_7b", self.block_e1(1280))
            add("Mixed_7c", self.block_e2(2048))
        self._finish(
            "Conv2d_2b_3x3:64/2 Conv2d_4a_3x3:192/4 Mixed_5d:288/8 Mixed_6e:768/16 "
            "Mixed_7c:2048/32",
            dropout,
        )


@register_model(
    arch=InceptionV3,
    aliases=("InceptionV3",),
    paper="Szegedy et al. 2015, Rethinking the Inception Architecture for Computer Vision",
    **TF_SLIM_299,
)
def inception_v3(pretrained=False, **kwargs):
    """Inception-v3 (torchvision/TF-slim layout): 23.8 M params, 27.2 M with the aux head."""
    return build_model("inception_v3", pretrained, **kwargs)
