"""Alias kept since 0.2, when this module moved: the library is `paddle_inception.analysis`, the
command `paddle_inception.cli.summary`."""

import warnings

from .analysis.summary import *  # noqa: F401,F403
from .analysis.summary import _inference_pass  # noqa: F401
from .cli.summary import build_parser, main  # noqa: F401
from .models import has_aux_heads  # noqa: F401

warnings.warn(
    "paddle_inception.summary moved to paddle_inception.analysis; import from there",
    DeprecationWarning,
    stacklevel=2,
)
