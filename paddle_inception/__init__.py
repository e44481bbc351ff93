"""paddle_inception: the Inception family of image classifiers as paddle.nn.Layer models.

The package root imports Paddle only when a model or the registry is first used
(`pi.create_model`, `pi.googlenet`, ...), so that the command line can set up its quiet output
before Paddle's import-time messages (see `cli/__init__.py`)."""

import importlib
import os

from ._version import __version__ as __version__

#: the root's API besides the model classes and factories (`paddle_inception.models`)
_REGISTRY_API = ("create_model", "get_model_cfg", "list_models")


def _models():
    return importlib.import_module(".models", __name__)


def __getattr__(name):
    if name in _REGISTRY_API:
        _models()  # the model modules register themselves on import
        return getattr(importlib.import_module(".registry", __name__), name)
    if name == "models":
        return _models()
    if name == "__all__":
        return ["__version__", *_REGISTRY_API, "models", *_models().__all__]
    # a sub-module not imported yet (`from paddle_inception import cli`) is the import system's
    # to load: answering it here would import the zoo, and Paddle, first
    if not name.startswith("__") and not _is_submodule(name) and name in _models().__all__:
        return getattr(_models(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _is_submodule(name: str) -> bool:
    here = os.path.dirname(__file__)
    return os.path.isdir(os.path.join(here, name)) or os.path.isfile(
        os.path.join(here, name + ".py")
    )


def __dir__():
    return sorted(set(globals()) | set(__getattr__("__all__")))
