"""The Inception-v3 of the Frechet Inception Distance: TensorFlow's graph of 2015-12-05
(`inception-2015-12-05.tgz`), as pytorch-fid ports it (`pytorch_fid.inception.fid_inception_v3`).

FID, KID and the Inception Score are only comparable across papers when measured with this one
network and weights; torchvision's Inception-v3 gives other numbers. The graph is our
`InceptionV3` (torchvision's layout, BN eps 1e-3, no aux head) except, block by block:

- Mixed_5b/5c/5d (`FIDInceptionA`), Mixed_6b-6e (`FIDInceptionC`) and Mixed_7b
  (`FIDInceptionE_1`): the 3x3/1 average pool of the pool branch divides by the number of real
  pixels under the window (TF's SAME padding; torch `count_include_pad=False`, Paddle
  `exclusive=True`); torchvision's counts the zero padding.
- Mixed_7c (`FIDInceptionE_2`): the pool branch is a 3x3/1 *max* pool with padding 1 (the
  padding never wins), where the paper and torchvision average.
- Mixed_6a, Mixed_7a, the stem and its max pools are torchvision's.
- the classifier has 1008 outputs (TF's 1001 ImageNet classes + 7 unused); there is no
  auxiliary head and no dropout that matters (eval only).
- input: images in [0, 1], resized to 299x299 bilinearly (torch `F.interpolate(...,
  align_corners=False)`, no antialiasing: Paddle's `align_mode=0` is the same formula), then
  scaled to [-1, 1] (`fid_resize`, `fid_input`).

The FID feature taps (pytorch-fid's `BLOCK_INDEX_BY_DIM`) are `feature_info`, so
`forward_stages` returns them as maps: 64 = the first max pool (maxpool1), 192 = the second
(maxpool2), 768 = Mixed_6e (what the aux classifier would see), 2048 = Mixed_7c; pytorch-fid
global-average-pools each to a vector (`fid_features`).
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F

from ..layers import MaxPool2D, avg_pool_3x3
from ..registry import INCEPTION_MEAN, INCEPTION_STD, register_model
from .base import build_model
from .inception_v3 import InceptionA, InceptionC, InceptionE, InceptionV3

__all__ = [
    "FID_DIMS",
    "FID_INPUT_SIZE",
    "FIDInceptionA",
    "FIDInceptionC",
    "FIDInceptionE_1",
    "FIDInceptionE_2",
    "FIDInceptionV3",
    "fid_inception_v3",
]

#: feature dims -> the block whose output pytorch-fid pools into that feature vector
FID_DIMS = {64: "maxpool1", 192: "maxpool2", 768: "Mixed_6e", 2048: "Mixed_7c"}
#: pytorch-fid resizes every image to this size (`resize_input=True`)
FID_INPUT_SIZE = 299

# TF's SAME-padded average pool: the border windows average only the real pixels
_tf_avg_pool_3x3 = avg_pool_3x3(count_include_pad=False)


class FIDInceptionA(InceptionA):
    """Mixed_5b-5d of the TF graph: InceptionA with a padding-excluding pool branch."""

    pool = _tf_avg_pool_3x3


class FIDInceptionC(InceptionC):
    """Mixed_6b-6e of the TF graph: InceptionC with a padding-excluding pool branch."""

    pool = _tf_avg_pool_3x3


class FIDInceptionE_1(InceptionE):
    """Mixed_7b of the TF graph: InceptionE with a padding-excluding pool branch."""

    pool = _tf_avg_pool_3x3


class FIDInceptionE_2(InceptionE):
    """Mixed_7c of the TF graph: InceptionE whose pool branch is a 3x3/1 max pool, padding 1."""

    pool = MaxPool2D(3, stride=1, padding=1)


class FIDInceptionV3(InceptionV3):
    """The FID network (see the module docstring). `num_classes` defaults to the graph's 1008;
    `forward` takes [-1, 1] input of any size >= 75 like InceptionV3; `fid_resize`, `fid_input`
    and `fid_features` are pytorch-fid's pipeline from [0, 1] or uint8 images."""

    aux_taps = ()  # the TF graph has no auxiliary classifier
    block_a, block_c, block_e1, block_e2 = (
        FIDInceptionA,
        FIDInceptionC,
        FIDInceptionE_1,
        FIDInceptionE_2,
    )

    def __init__(
        self,
        num_classes: int = 1008,
        in_channels: int = 3,
        dropout: float = 0.0,
        bn_eps: float = 1e-3,
    ):
        super().__init__(
            num_classes,
            in_channels,
            dropout,
            aux_logits=False,
            transform_input=False,
            bn_eps=bn_eps,
        )
        # the four FID taps (pytorch-fid's blocks 0-3), shallow to deep
        self.feature_info = [
            dict(name="maxpool1", num_chs=64, reduction=4),
            dict(name="maxpool2", num_chs=192, reduction=8),
            dict(name="Mixed_6e", num_chs=768, reduction=16),
            dict(name="Mixed_7c", num_chs=2048, reduction=32),
        ]

    @staticmethod
    def fid_resize(images):
        """(N, 3, H, W) uint8 in [0, 255] or float in [0, 1] -> (N, 3, 299, 299) float32 in
        [0, 1], as pytorch-fid: uint8 / 255 (torchvision's ToTensor), then a bilinear resize
        (half-pixel centres, no antialiasing). A 299x299 image is not resampled (the bilinear
        map is then the identity)."""
        x = paddle.to_tensor(images) if not isinstance(images, paddle.Tensor) else images
        if x.dtype == paddle.uint8:
            x = x.astype("float32") / 255.0
        elif x.dtype != paddle.float32:
            x = x.astype("float32")
        s = FID_INPUT_SIZE
        if tuple(x.shape[2:]) != (s, s):
            x = F.interpolate(x, size=[s, s], mode="bilinear", align_corners=False, align_mode=0)
        return x

    @classmethod
    def fid_input(cls, images):
        """`fid_resize`, then [0, 1] -> [-1, 1] (2x - 1): the network's input."""
        return 2.0 * cls.fid_resize(images) - 1.0

    def fid_features(self, images, dims=(2048,), logits: bool = False) -> dict:
        """{dim: (N, dim) float32 tensor} for each of `dims` (keys of `FID_DIMS`): the tap's map
        global-average-pooled as pytorch-fid does; with `logits`, also "logits_unbiased":
        (N, num_classes) = pool features @ fc weight, *without* the bias, as the original
        Inception Score code and torch-fidelity take them. Runs the body only as far as the
        deepest tap needs. `images`: see `fid_input`."""
        bad = [d for d in dims if d not in FID_DIMS]
        if bad:
            raise ValueError(f"fid_features: dims must be among {sorted(FID_DIMS)}, got {bad}")
        if logits and self.num_classes == 0:
            raise ValueError("fid_features: logits need the classifier (num_classes > 0)")
        x = self.fid_input(images)
        self.check_input(x)
        wanted = {FID_DIMS[d]: d for d in dims}
        if logits:
            wanted.setdefault("Mixed_7c", None)
        last = max(self.block_names.index(b) for b in wanted)
        out = {}
        for name in self.block_names[: last + 1]:
            x = getattr(self, name)(x)
            if name in wanted:
                pooled = x.mean(axis=[2, 3])  # (N, C): adaptive_avg_pool2d(x, 1) squeezed
                if wanted[name] is not None:
                    out[wanted[name]] = pooled
                if logits and name == "Mixed_7c":
                    out["logits_unbiased"] = paddle.matmul(pooled, self.head.fc.weight)
        return out


@register_model(
    arch=FIDInceptionV3,
    input_size=(3, 299, 299),
    crop_pct=1.0,
    interpolation="bilinear",
    mean=INCEPTION_MEAN,
    std=INCEPTION_STD,
    paper="Heusel et al. 2017, GANs Trained by a Two Time-Scale Update Rule Converge to a "
    "Local Nash Equilibrium (FID); network: TF Inception-v3 graph 2015-12-05 as pytorch-fid",
)
def fid_inception_v3(pretrained=False, **kwargs):
    """The FID Inception-v3 (TF graph 2015-12-05, pytorch-fid's port): 23.9 M params with the
    1008-way classifier. Weights: `paddle-inception convert --from pytorch-fid`."""
    return build_model("fid_inception_v3", pretrained, **kwargs)
