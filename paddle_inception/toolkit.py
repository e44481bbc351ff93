"""Alias kept since 0.2, when this module moved: `paddle_inception.cli.common`."""

import warnings

from .cli.common import *  # noqa: F401,F403

warnings.warn(
    "paddle_inception.toolkit moved to paddle_inception.cli.common; import from there",
    DeprecationWarning,
    stacklevel=2,
)
