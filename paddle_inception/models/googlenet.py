"""GoogLeNet / Inception-v1 (Szegedy et al. 2014, "Going deeper with convolutions").

Paper-faithful by default: every conv is conv+bias+ReLU with no BatchNorm, the third branch is a
real 5x5, and the two auxiliary classifiers sit on inception 4a and 4d. Deliberate deviations:
- LRN (after conv1 and conv3 in the paper) is omitted, as in torchvision, PaddleClas and the
  seeds: it has no parameters and no measurable benefit.
- Max pools use ceil mode without padding (as Caffe and torchvision), giving the paper's
  112/56/28/14/7 maps at 224 and valid shapes at any size >= `min_input_size`.
- The aux heads pool adaptively to 4x4. At 224 the paper's 5x5/3 average pool also gives 4x4
  from the 14x14 map; a fixed 5x5/3 pool would make the 2048-wide FC depend on the input size
  (PaddleClas' GoogLeNet only runs at 189-236 px for this reason).

Options for compatibility with torchvision's variant (used by the weight converter):
`batch_norm=True` (BN after every conv, conv without bias), `branch3_kernel_size=3`
(torchvision's "5x5" branch is actually 3x3), `maxpool4_kernel_size=2` (torchvision pools
inception 4e -> 5a with a 2x2/2 window, the paper with 3x3/2; both give 7x7 at 224 but different
values) and `transform_input=True`.
"""

from __future__ import annotations

import paddle.nn as nn

from ..layers import AdaptiveAvgPool2D, ConvBNAct, MaxPool2D, concat_branches
from ..registry import register_model
from .base import AuxClassifier, InceptionModel, build_model

__all__ = ["Inception", "InceptionAux", "GoogLeNet", "googlenet", "googlenet_bn"]


class Inception(nn.Layer):
    """The Inception-v1 block: four parallel branches concatenated on channels, H x W kept.

    Branches: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max-pool -> 1x1. `ch3x3` and `ch5x5` are
    (reduce, out) pairs, as in seed 002: `Inception(192, 64, (96, 128), (16, 32), 32)`.
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3,
        ch5x5,
        pool_proj: int,
        *,
        batch_norm: bool = False,
        branch3_kernel_size: int = 5,
    ):
        super().__init__()
        k = branch3_kernel_size
        self.branch1 = ConvBNAct(in_channels, ch1x1, 1, batch_norm=batch_norm)
        self.branch2 = nn.Sequential(
            ConvBNAct(in_channels, ch3x3[0], 1, batch_norm=batch_norm),
            ConvBNAct(ch3x3[0], ch3x3[1], 3, padding=1, batch_norm=batch_norm),
        )
        self.branch3 = nn.Sequential(
            ConvBNAct(in_channels, ch5x5[0], 1, batch_norm=batch_norm),
            ConvBNAct(ch5x5[0], ch5x5[1], k, padding=k // 2, batch_norm=batch_norm),
        )
        self.branch4 = nn.Sequential(
            MaxPool2D(3, stride=1, padding=1, ceil_mode=True),
            ConvBNAct(in_channels, pool_proj, 1, batch_norm=batch_norm),
        )
        self.out_channels = ch1x1 + ch3x3[1] + ch5x5[1] + pool_proj

    def forward(self, x):
        # (N, C_in, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)
        # (concat_branches: on small maps the branches run on channels-last rows, one copy in
        # and one out; the same result as concatenating each branch(x))
        return concat_branches(x, [self.branch1, self.branch2, self.branch3, self.branch4])


class InceptionAux(AuxClassifier):
    """Auxiliary classifier: avg-pool to 4x4, 1x1 conv 128 + ReLU, FC 1024 + ReLU,
    dropout 0.7, FC num_classes (paper section 5)."""

    classifier = "fc2"

    def __init__(
        self, in_channels: int, num_classes: int, dropout: float = 0.7, *, batch_norm: bool = False
    ):
        super().__init__()
        self.pool = AdaptiveAvgPool2D(4)  # paper: 5x5 stride 3 -> 4x4 on the 14x14 map
        self.conv = ConvBNAct(in_channels, 128, 1, batch_norm=batch_norm)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.conv(self.pool(x))  # (N, 128, 4, 4)
        x = self.act(self.fc1(x.flatten(1)))  # (N, 1024)
        return self.fc2(self.dropout(x))  # (N, num_classes)


# (in, 1x1, (3x3 reduce, 3x3), (5x5 reduce, 5x5), pool proj): Table 1 of the paper
_BLOCKS = {
    "inception3a": (192, 64, (96, 128), (16, 32), 32),
    "inception3b": (256, 128, (128, 192), (32, 96), 64),
    "inception4a": (480, 192, (96, 208), (16, 48), 64),
    "inception4b": (512, 160, (112, 224), (24, 64), 64),
    "inception4c": (512, 128, (128, 256), (24, 64), 64),
    "inception4d": (512, 112, (144, 288), (32, 64), 64),
    "inception4e": (528, 256, (160, 320), (32, 128), 128),
    "inception5a": (832, 256, (160, 320), (32, 128), 128),
    "inception5b": (832, 384, (192, 384), (48, 128), 128),
}


class GoogLeNet(InceptionModel):
    """GoogLeNet with three outputs.

    Training mode returns `(logits, aux1, aux2)` (aux1 from inception 4a, aux2 from 4d); eval
    mode returns only `logits`, unless `forward(x, return_aux=True)`. `aux_logits=False` builds
    no auxiliary heads and always returns the logits alone.
    """

    # Below 31 px maxpool4 gets a 1x1 map, for which the ceil-mode output-size formula
    # ceil((1 - 3) / 2) + 1 is 0: torchvision raises there, Paddle silently clamps to 1x1.
    min_input_size = 31
    aux_taps = (("inception4a", "aux1"), ("inception4d", "aux2"))  # 4a: 512 ch, 4d: 528 ch

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.4,
        aux_logits: bool = True,
        aux_dropout: float = 0.7,
        batch_norm: bool = False,
        branch3_kernel_size: int = 5,
        transform_input: bool = False,
        maxpool4_kernel_size: int = 3,
    ):
        super().__init__(num_classes, in_channels, dropout)
        if branch3_kernel_size not in (3, 5):
            raise ValueError(
                f"GoogLeNet: branch3_kernel_size must be 5 (paper) or 3 "
                f"(torchvision), got {branch3_kernel_size!r}"
            )
        if maxpool4_kernel_size not in (2, 3):
            raise ValueError(
                f"GoogLeNet: maxpool4_kernel_size must be 3 (paper) or 2 "
                f"(torchvision), got {maxpool4_kernel_size!r}"
            )
        self._set_aux_logits(aux_logits)
        self._set_transform_input(transform_input)
        bn = dict(batch_norm=batch_norm)
        pool = dict(stride=2, ceil_mode=True)

        self.add_block("conv1", ConvBNAct(in_channels, 64, 7, stride=2, padding=3, **bn))
        self.add_block("maxpool1", MaxPool2D(3, **pool))
        self.add_block("conv2", ConvBNAct(64, 64, 1, **bn))
        self.add_block("conv3", ConvBNAct(64, 192, 3, padding=1, **bn))
        self.add_block("maxpool2", MaxPool2D(3, **pool))
        for name, args in _BLOCKS.items():
            self.add_block(name, Inception(*args, **bn, branch3_kernel_size=branch3_kernel_size))
            if name == "inception3b":
                self.add_block("maxpool3", MaxPool2D(3, **pool))
            elif name == "inception4e":
                self.add_block("maxpool4", MaxPool2D(maxpool4_kernel_size, **pool))
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, aux_dropout, **bn)
            self.aux2 = InceptionAux(528, num_classes, aux_dropout, **bn)
        else:
            self.aux1 = self.aux2 = None
        self._finish(
            "conv1:64/2 conv3:192/4 inception3b:480/8 inception4e:832/16 inception5b:1024/32",
            dropout,
        )


# the registry's defaults: 224 px, crop 0.875, bilinear, ImageNet mean/std
_CFG = dict(paper="Szegedy et al. 2014, Going deeper with convolutions")


@register_model(arch=GoogLeNet, aliases=("GoogLeNet",), **_CFG)
def googlenet(pretrained=False, **kwargs):
    """GoogLeNet as in the paper: no BN, real 5x5 branch, both aux heads (13.4 M params)."""
    return build_model("googlenet", pretrained, **kwargs)


@register_model(arch=GoogLeNet, aliases=("GoogLeNet_BN",), **_CFG)
def googlenet_bn(pretrained=False, **kwargs):
    """GoogLeNet with BatchNorm after every convolution (as torchvision and seed 001)."""
    kwargs.setdefault("batch_norm", True)
    return build_model("googlenet_bn", pretrained, **kwargs)
