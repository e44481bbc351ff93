"""paddle_inception: the Inception family of image classifiers as paddle.nn.Layer models."""

from . import models
from ._version import __version__
from .models import *  # noqa: F401,F403  (model classes and factory functions)
from .models import __all__ as _model_names
from .registry import create_model, get_model_cfg, list_models

__all__ = ["__version__", "create_model", "get_model_cfg", "list_models", "models", *_model_names]
