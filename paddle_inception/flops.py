"""Alias kept since 0.2, when this module moved: `paddle_inception.analysis.flops`."""

import warnings

from .analysis.flops import *  # noqa: F401,F403

warnings.warn(
    "paddle_inception.flops moved to paddle_inception.analysis.flops; import from there",
    DeprecationWarning,
    stacklevel=2,
)
