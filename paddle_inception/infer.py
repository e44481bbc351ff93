"""Moved in 0.2: the library to `paddle_inception.deploy`, the command to `paddle_inception.cli.infer`. This alias keeps `paddle_inception.infer` imports working."""
import warnings

from .cli.infer import build_parser, main  # noqa: F401
from .deploy import *  # noqa: F401,F403
from .deploy.infer import *  # noqa: F401,F403

warnings.warn("paddle_inception.infer moved to paddle_inception.deploy (command: paddle_inception.cli.infer); import from there", DeprecationWarning,
              stacklevel=2)
