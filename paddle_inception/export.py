"""Moved in 0.2: the library to `paddle_inception.deploy.export`, the command to `paddle_inception.cli.export`. This alias keeps `paddle_inception.export` imports working."""
import warnings

from .cli.export import build_parser, main  # noqa: F401
from .deploy.export import *  # noqa: F401,F403
from .deploy.files import META_SUFFIX, model_files, read_meta  # noqa: F401
from .deploy.predictor import InferencePredictor, create_predictor, onnx_predict  # noqa: F401

warnings.warn("paddle_inception.export moved to paddle_inception.deploy (command: paddle_inception.cli.export); import from there", DeprecationWarning,
              stacklevel=2)
