"""PaddleClas-style YAML configs: the schema (every rule, `schema.py`) and reading, overriding
and writing them (`io.py`). See `load_config`. The package exports what its two modules do."""

from . import io, schema
from .io import *  # noqa: F403
from .schema import *  # noqa: F403

__all__ = [*schema.__all__, *io.__all__]
