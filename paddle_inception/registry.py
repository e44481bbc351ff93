"""Model registry: `list_models`, `create_model`, `get_model_cfg`.

Each registered name maps to a factory function and a default config (input size, mean/std,
crop ratio, minimum input size) that tools and tests read instead of hard-coding numbers.
"""
from __future__ import annotations

import difflib
import fnmatch
from copy import deepcopy
from typing import Callable

__all__ = ["register_model", "list_models", "create_model", "get_model_cfg", "IMAGENET_MEAN",
           "IMAGENET_STD", "INCEPTION_MEAN", "INCEPTION_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# TF-slim Inception preprocessing maps [0, 1] to [-1, 1].
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)

_MODELS: dict[str, Callable] = {}
_CFGS: dict[str, dict] = {}

_CFG_DEFAULTS = dict(num_classes=1000, in_channels=3, input_size=(3, 224, 224),
                     min_input_size=None, crop_pct=0.875, interpolation="bilinear",
                     mean=IMAGENET_MEAN, std=IMAGENET_STD, paper="")


def register_model(**cfg):
    """Decorator: register a factory `fn(pretrained=False, **kwargs) -> Layer` under its name."""
    unknown = set(cfg) - set(_CFG_DEFAULTS)
    if unknown:
        raise TypeError(f"register_model: unknown default-config keys {sorted(unknown)}")
    if cfg.get("min_input_size") is None:
        raise TypeError("register_model: every model must declare its min_input_size")

    def wrap(fn):
        full = dict(_CFG_DEFAULTS, **cfg, name=fn.__name__)
        _MODELS[fn.__name__] = fn
        _CFGS[fn.__name__] = full
        fn.default_cfg = full
        return fn
    return wrap


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names, sorted; `pattern` is a shell-style wildcard ("inception_v*")."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def _lookup(name: str) -> str:
    if name in _MODELS:
        return name
    lowered = {n.lower(): n for n in _MODELS}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name.lower(), list(_MODELS), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"Unknown model {name!r}.{hint} Available: {', '.join(list_models())}")


def get_model_cfg(name: str) -> dict:
    """A copy of the default config of model `name` (input_size, mean, std, min_input_size...)."""
    return deepcopy(_CFGS[_lookup(name)])


def create_model(name: str, pretrained: bool | str = False, **kwargs):
    """Build a registered model by name; kwargs go to the model's constructor."""
    return _MODELS[_lookup(name)](pretrained=pretrained, **kwargs)
