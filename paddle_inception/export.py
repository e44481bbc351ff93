"""Alias kept since 0.2, when this module moved: the library is `paddle_inception.deploy`, the
command `paddle_inception.cli.export`."""

import warnings

from .cli.export import build_parser, main  # noqa: F401
from .deploy.export import *  # noqa: F401,F403
from .deploy.files import META_SUFFIX, model_files, read_meta  # noqa: F401
from .deploy.predictor import InferencePredictor, create_predictor, onnx_predict  # noqa: F401

warnings.warn(
    "paddle_inception.export moved to paddle_inception.deploy; import from there",
    DeprecationWarning,
    stacklevel=2,
)
