"""The model zoo: one module per family, all keeping the contract of `base.InceptionModel`."""

from .base import ClassifierHead, InceptionModel, has_aux_heads
from .bninception import BNInception, bninception
from .fid_inception import FIDInceptionV3, fid_inception_v3
from .googlenet import GoogLeNet, Inception, InceptionAux, googlenet, googlenet_bn
from .inception_resnet import (
    InceptionResNetV1,
    InceptionResNetV2,
    inception_resnet_v1,
    inception_resnet_v2,
)
from .inception_v3 import InceptionV3, inception_v3
from .inception_v4 import InceptionV4, inception_v4
from .pretrained import load_converted, load_pretrained, read_sidecar, sidecar_path

__all__ = [
    "ClassifierHead",
    "InceptionModel",
    "has_aux_heads",
    "BNInception",
    "FIDInceptionV3",
    "fid_inception_v3",
    "bninception",
    "GoogLeNet",
    "Inception",
    "InceptionAux",
    "googlenet",
    "googlenet_bn",
    "InceptionResNetV1",
    "InceptionResNetV2",
    "inception_resnet_v1",
    "inception_resnet_v2",
    "InceptionV3",
    "inception_v3",
    "InceptionV4",
    "inception_v4",
    "load_converted",
    "load_pretrained",
    "read_sidecar",
    "sidecar_path",
]
