"""Moved in 0.2: `paddle_inception.analysis.flops`. This alias keeps `paddle_inception.flops` imports working."""
import warnings

from .analysis.flops import *  # noqa: F401,F403

warnings.warn("paddle_inception.flops moved to paddle_inception.analysis.flops; import from there", DeprecationWarning,
              stacklevel=2)
