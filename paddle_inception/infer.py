"""Alias kept since 0.2, when this module moved: the library is `paddle_inception.deploy`, the
command `paddle_inception.cli.infer`."""

import warnings

from .cli.infer import build_parser, main  # noqa: F401
from .deploy import *  # noqa: F401,F403
from .deploy.infer import *  # noqa: F401,F403

warnings.warn(
    "paddle_inception.infer moved to paddle_inception.deploy; import from there",
    DeprecationWarning,
    stacklevel=2,
)
