"""PaddleClas-style factories, so a PaddleClas `Arch: {name: GoogLeNet, class_num: N}` section
(or code calling `GoogLeNet(pretrained=False, class_num=1000)`) maps onto this zoo.

They live in their own module because PaddleClas' factory names collide with our class names
(`GoogLeNet` is both PaddleClas' factory and our model class).
"""
from __future__ import annotations

from .registry import create_model

__all__ = ["PADDLECLAS_NAMES", "resolve_arch_name", "GoogLeNet", "GoogLeNet_BN", "BNInception",
           "InceptionV3", "InceptionV4", "InceptionResNetV1", "InceptionResNetV2"]

#: PaddleClas / common CamelCase names -> registry names
PADDLECLAS_NAMES = {
    "GoogLeNet": "googlenet",
    "GoogLeNet_BN": "googlenet_bn",
    "BNInception": "bninception",
    "InceptionV3": "inception_v3",
    "InceptionV4": "inception_v4",
    "InceptionResNetV1": "inception_resnet_v1",
    "InceptionResNetV2": "inception_resnet_v2",
}


def resolve_arch_name(name: str) -> str:
    """A registry name or a PaddleClas factory name -> the registry name."""
    if name in PADDLECLAS_NAMES:
        return PADDLECLAS_NAMES[name]
    return name   # create_model validates it and suggests close names


def _factory(ppcls_name: str):
    registry_name = PADDLECLAS_NAMES[ppcls_name]

    def factory(pretrained=False, use_ssld=False, class_num=1000, **kwargs):
        if use_ssld:
            raise ValueError(f"{ppcls_name}: use_ssld weights are PaddleClas downloads and are "
                             f"not available offline; pass pretrained='/path/to/weights.pdparams'")
        kwargs.setdefault("num_classes", class_num)
        return create_model(registry_name, pretrained=pretrained, **kwargs)

    factory.__name__ = factory.__qualname__ = ppcls_name
    factory.__doc__ = (f"PaddleClas-style factory for `{registry_name}`: "
                       f"`{ppcls_name}(pretrained=False, class_num=1000, **model_kwargs)`.")
    return factory


GoogLeNet = _factory("GoogLeNet")
GoogLeNet_BN = _factory("GoogLeNet_BN")
BNInception = _factory("BNInception")
InceptionV3 = _factory("InceptionV3")
InceptionV4 = _factory("InceptionV4")
InceptionResNetV1 = _factory("InceptionResNetV1")
InceptionResNetV2 = _factory("InceptionResNetV2")
