"""Moved in 0.2: `paddle_inception.cli.common`. This alias keeps `paddle_inception.toolkit` imports working."""
import warnings

from .cli.common import *  # noqa: F401,F403

warnings.warn("paddle_inception.toolkit moved to paddle_inception.cli.common; import from there", DeprecationWarning,
              stacklevel=2)
