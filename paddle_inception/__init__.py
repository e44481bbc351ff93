"""paddle_inception: the Inception family of image classifiers as paddle.nn.Layer models."""
from .registry import create_model, get_model_cfg, list_models
from . import models
from .models import *  # noqa: F401,F403  (model classes and factory functions)

__version__ = "0.1.0"
