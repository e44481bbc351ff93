"""Model registry: `list_models`, `create_model`, `get_model_cfg`.

Each registered name maps to a factory function and a default config (input size, mean/std,
crop ratio, minimum input size) that tools and tests read instead of hard-coding numbers.
"""

from __future__ import annotations

import fnmatch
from copy import deepcopy
from typing import Callable

from ._util import did_you_mean

__all__ = [
    "register_model",
    "list_models",
    "create_model",
    "get_model_cfg",
    "model_class",
    "resolve_name",
    "aliases",
    "arch_kwargs",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INCEPTION_MEAN",
    "INCEPTION_STD",
    "TF_SLIM_299",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# TF-slim Inception preprocessing maps [0, 1] to [-1, 1].
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)
#: the evaluation preprocessing of Google's 299 px Inceptions (TF-slim, timm): resize to
#: 299 / 0.875, centre crop 299, bicubic, [-1, 1]
TF_SLIM_299 = dict(
    input_size=(3, 299, 299),
    crop_pct=0.875,
    interpolation="bicubic",
    mean=INCEPTION_MEAN,
    std=INCEPTION_STD,
)

_MODELS: dict[str, Callable] = {}
_CFGS: dict[str, dict] = {}
#: name -> the model class its factory builds (the class holds the architecture's facts)
_ARCHS: dict[str, type] = {}
#: other names a model answers to (PaddleClas' factory names: "InceptionV3" -> "inception_v3")
_ALIASES: dict[str, str] = {}

_CFG_DEFAULTS = dict(
    num_classes=1000,
    in_channels=3,
    input_size=(3, 224, 224),
    min_input_size=None,  # from the class: (in_channels, arch.min_input_size, same)
    crop_pct=0.875,
    interpolation="bilinear",
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    paper="",
)


def register_model(arch: type, aliases: tuple = (), **cfg):
    """Decorator: register a factory `fn(pretrained=False, **kwargs) -> Layer` under its name
    (and `aliases`, e.g. its PaddleClas name), building class `arch`, with its default config
    `cfg`. The minimum input size is the class's `min_input_size`, its one source."""
    unknown = set(cfg) - set(_CFG_DEFAULTS) | ({"min_input_size"} & set(cfg))
    if unknown:
        raise TypeError(
            f"register_model: unknown default-config keys {sorted(unknown)} (the minimum input "
            "size comes from the model class's min_input_size)"
        )
    side = getattr(arch, "min_input_size", None)
    if not isinstance(side, int) or side < 1:
        raise TypeError(f"register_model: {arch.__name__}.min_input_size must be an int >= 1")

    def wrap(fn):
        name = fn.__name__
        for n in (name, *aliases):
            if n in _MODELS or n in _ALIASES:
                raise ValueError(
                    f"register_model: the name {n!r} is already registered "
                    f"(by {_ALIASES.get(n, n)!r})"
                )
        full = dict(_CFG_DEFAULTS, **cfg, name=name)
        full["min_input_size"] = (full["in_channels"], side, side)
        _MODELS[name] = fn
        _CFGS[name] = full
        _ARCHS[name] = arch
        _ALIASES.update({a: name for a in aliases})
        fn.default_cfg = full
        return fn

    return wrap


def model_class(name: str) -> type:
    """The class the factory of model `name` builds (`GoogLeNet` for "googlenet_bn")."""
    return _ARCHS[resolve_name(name)]


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names, sorted; `pattern` is a shell-style wildcard ("inception_v*")."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def aliases() -> dict:
    """{alias: registry name}, e.g. PaddleClas' factory names ("InceptionV3": "inception_v3")."""
    return dict(_ALIASES)


def resolve_name(name: str) -> str:
    """The registry name of `name`: a registered name, one of its aliases (PaddleClas' factory
    names such as "InceptionV3"), either in any letter case. Unknown: ValueError with the
    nearest name and the list."""
    if name in _MODELS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    lowered = {n.lower(): n for n in _MODELS}
    lowered.update({a.lower(): n for a, n in _ALIASES.items()})
    if str(name).lower() in lowered:
        return lowered[str(name).lower()]
    raise ValueError(
        f"Unknown model {name!r}{did_you_mean(name, list(_MODELS))}; available: "
        f"{', '.join(list_models())}"
    )


def get_model_cfg(name: str) -> dict:
    """A copy of the default config of model `name` (input_size, mean, std, min_input_size...)."""
    return deepcopy(_CFGS[resolve_name(name)])


def create_model(name: str, pretrained: bool | str = False, **kwargs):
    """Build a registered model by name; kwargs go to the model's constructor."""
    return _MODELS[resolve_name(name)](pretrained=pretrained, **kwargs)


def arch_kwargs(arch: dict, image_shape=None) -> tuple[str, dict]:
    """A PaddleClas `Arch` section (and `Global.image_shape`) -> (registry name, constructor
    kwargs): `name` resolved (PaddleClas names work), `class_num` -> `num_classes`, the image's
    channels -> `in_channels`; `pretrained` is dropped (weights come from
    `Global.pretrained_model`)."""
    kwargs = dict(arch)
    name = resolve_name(kwargs.pop("name"))
    class_num = kwargs.pop("class_num", None)
    kwargs.pop("pretrained", None)
    if class_num is not None:
        kwargs.setdefault("num_classes", int(class_num))
    if image_shape:
        kwargs.setdefault("in_channels", int(image_shape[0]))
    return name, kwargs
