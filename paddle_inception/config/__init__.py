"""PaddleClas-style YAML configs: the schema (every rule, `schema.py`) and reading, overriding
and writing them (`io.py`). See `load_config`."""

from .io import (
    apply_overrides,
    dump_config,
    dumps_config,
    load_config,
    parse_override,
    read_yaml,
)
from .schema import (
    DEVICES,
    LOADER_DEFAULTS,
    LR_SCHEDULES,
    OPTIMIZERS,
    SAMPLERS,
    SECTIONS,
    ConfigError,
    check_config_bounds,
    check_section,
    parse_number,
    validate_config,
)

__all__ = [
    "ConfigError",
    "load_config",
    "read_yaml",
    "apply_overrides",
    "parse_override",
    "validate_config",
    "check_section",
    "check_config_bounds",
    "parse_number",
    "dump_config",
    "dumps_config",
    "SECTIONS",
    "DEVICES",
    "OPTIMIZERS",
    "LR_SCHEDULES",
    "SAMPLERS",
    "LOADER_DEFAULTS",
]
