"""Reading, overriding and writing PaddleClas-style YAML configs.

    cfg = load_config("configs/imagenet/inception_v3.yaml",
                      ["Global.epochs=2", "DataLoader.Train.sampler.batch_size=8"])

`load_config` returns plain nested dicts/lists (YAML-safe, picklable, deep-copyable) with the
schema's defaults filled in. Every problem found (unknown key, wrong type, missing required
key, inconsistent values) is collected and raised together as one `ConfigError` whose message
names each key by its full path (``DataLoader.Train.sampler.batch_size``; list items as
``Loss.Train[0]``) and suggests the nearest valid key.

Overrides (``-o Section.key.sub=value``, repeatable): the value is parsed as a YAML scalar or
flow collection with ``yaml.safe_load`` (``3``, ``0.1``, ``true``, ``null``, ``[1, 5]``,
``{alpha: 0.2}``; anything else stays a string). List items are addressed by index
(``DataLoader.Train.dataset.transform_ops.1.RandCropImage.size=96``; ``transform_ops[1]``
works too, the form error messages use).
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, Mapping

import yaml

from .._safe_files import NotRegularFileError, open_regular
from .._util import write_text_atomic
from .schema import (
    _ROOT,
    FREE,
    MAX_CONFIG_BYTES,
    MAX_CONFIG_DEPTH,
    MAX_CONFIG_VALUES,
    ConfigError,
    Map,
    OpList,
    Value,
    _join,
    _show,
    _type_name,
    _unknown_key_msg,
    _value_cost,
    validate_config,
)

__all__ = [
    "load_config",
    "read_yaml",
    "apply_overrides",
    "parse_override",
    "dump_config",
    "dumps_config",
]


# ============================================================================ YAML reading
class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys in a mapping (PyYAML keeps the last silently)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            continue
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r} (first at line {seen[key].line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_error(err: yaml.YAMLError, source: str) -> ConfigError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    detail = f"{context}: {problem}" if context and problem else problem
    if mark is not None:
        msg = f"{source}:{mark.line + 1}:{mark.column + 1}: invalid YAML ({detail})"
        snippet = getattr(mark, "get_snippet", lambda: None)()
        if snippet:
            msg += "\n" + snippet
        err_line = f"line {mark.line + 1}, column {mark.column + 1}: invalid YAML ({detail})"
    else:
        msg = f"{source}: invalid YAML ({detail})"
        err_line = msg
    return ConfigError(msg, [err_line], source)


class _YamlTooBig(Exception):
    """Internal: the YAML text is over a limit (args: message, line number or None)."""


def _check_yaml_events(text: str, aliases: bool = True) -> None:
    """Walk the YAML *events* (PyYAML's parser is iterative; its composer and constructor are
    recursive) and refuse, before anything is built: nesting deeper than MAX_CONFIG_DEPTH, more
    than MAX_CONFIG_VALUES values once aliases are expanded (a "billion laughs" alias bomb), an
    alias inside the node it names, and, with aliases=False, any anchor or alias. Raises
    _YamlTooBig(message, line) or yaml.YAMLError (invalid YAML)."""
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (expanded cost, height) of its node
    # open collections: [anchor, expanded cost so far, height of the highest child so far];
    # heights count collections (a scalar is 0, a flat list 1)
    stack: list[list] = []
    total = 0
    for ev in yaml.parse(text, Loader=_Loader):
        line = ev.start_mark.line + 1 if ev.start_mark is not None else None
        if not isinstance(ev, (yaml.NodeEvent, yaml.CollectionEndEvent)):
            continue
        if not aliases and isinstance(ev, yaml.NodeEvent) and ev.anchor is not None:
            raise _YamlTooBig(
                "YAML anchors and aliases (&name, *name) are not allowed here; write the value out",
                line,
            )
        if isinstance(ev, yaml.CollectionStartEvent):
            if len(stack) >= MAX_CONFIG_DEPTH:
                raise _YamlTooBig(f"nested more than {MAX_CONFIG_DEPTH} levels deep", line)
            stack.append([ev.anchor, 1, 0])
            total += 1
            cost = height = None
        elif isinstance(ev, yaml.CollectionEndEvent):
            anchor, cost, height = stack.pop()  # its values were counted as they came
            height += 1
            if anchor is not None:
                anchors[anchor] = (cost, height)
        elif isinstance(ev, yaml.AliasEvent):
            if any(frame[0] == ev.anchor for frame in stack):
                raise _YamlTooBig(f"the alias *{ev.anchor} is inside the value it names", line)
            cost, height = anchors.get(ev.anchor, (1, 0))
            if len(stack) + height > MAX_CONFIG_DEPTH:
                raise _YamlTooBig(
                    f"the alias *{ev.anchor} makes the config nested more than "
                    f"{MAX_CONFIG_DEPTH} levels deep",
                    line,
                )
            total += cost
            if total > MAX_CONFIG_VALUES:
                raise _YamlTooBig(
                    f"the alias *{ev.anchor} expands the config to more than "
                    f"{MAX_CONFIG_VALUES:,} values (a YAML alias bomb?)",
                    line,
                )
        else:  # a scalar
            cost, height = _value_cost(ev.value), 0
            if ev.anchor is not None:
                anchors[ev.anchor] = (cost, height)
            total += cost
        if total > MAX_CONFIG_VALUES:
            raise _YamlTooBig(f"more than {MAX_CONFIG_VALUES:,} values", line)
        if cost is not None and stack and not isinstance(ev, yaml.CollectionStartEvent):
            frame = stack[-1]
            frame[1] += cost
            frame[2] = max(frame[2], height)


def read_yaml(path: str | os.PathLike) -> dict:
    """Parse a YAML config file into plain dicts (safe loader, duplicate keys rejected)."""
    path = os.fspath(path)
    try:
        # a regular file only (a FIFO or /dev/zero would block or never end), bounded
        with open_regular(path, "config file") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}", source=path) from None
    except NotRegularFileError as e:
        raise ConfigError(str(e), source=path) from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e}", source=path) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_CONFIG_BYTES // 2**20} MiB; not a config file", source=path
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x} at offset {e.start})",
            source=path,
        ) from None
    try:
        # bounds first: the loader itself recurses and expands aliases
        _check_yaml_events(text)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except _YamlTooBig as e:
        message, line = e.args
        where = f"{path}:{line}" if line else path
        raise ConfigError(f"{where}: {message}", source=path) from None
    except yaml.YAMLError as e:
        raise _yaml_error(e, path) from None
    if data is None:
        raise ConfigError(f"{path}: the config file is empty", source=path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level of a config must be a mapping of sections "
            f"(Global, Arch, ...), got {_type_name(data)}",
            source=path,
        )
    return data


# ============================================================================ overrides
def _brief(item) -> str:
    """An override as error messages show it (cut: a -o value may be long)."""
    return _show(item, 160)


def parse_override(item: str) -> tuple[list[str], Any]:
    """'A.b.0.c=value' -> (['A', 'b', '0', 'c'], parsed value). The value is read with
    yaml.safe_load (scalars and flow collections); text YAML cannot read stays a string."""
    if not isinstance(item, str):
        raise ConfigError(f"override {_brief(item)}: expected a string 'Section.key=value'")
    key, sep, raw = item.partition("=")
    key = re.sub(r"\[\s*(-?\d+)\s*\]", r".\1", key.strip())  # a[1].b -> a.1.b
    parts = key.split(".")
    if not sep or not key or any(not p.strip() for p in parts):
        raise ConfigError(
            f"override {_brief(item)}: expected 'Section.key=value' (e.g. Global.epochs=10)"
        )
    parts = [p.strip() for p in parts]
    if len(parts) > MAX_CONFIG_DEPTH:
        raise ConfigError(
            f"override {_brief(item)}: the key is {len(parts)} levels deep (a config nests at "
            f"most {MAX_CONFIG_DEPTH})"
        )
    text = raw.strip()
    try:
        if text:
            _check_yaml_events(text, aliases=False)  # before the recursive loader runs
        value = yaml.load(text, Loader=_Loader) if text else None  # noqa: S506 (safe)
    except _YamlTooBig as e:
        raise ConfigError(f"override {_brief(item)}: {e.args[0]}") from None
    except yaml.YAMLError as e:
        if text[:1] in "[{":
            problem = getattr(e, "problem", None) or str(e)
            raise ConfigError(f"override {_brief(item)}: invalid YAML value ({problem})") from None
        value = text
    if isinstance(value, (dict, list)) and text[:1] not in "[{":
        value = text  # e.g. 'a: b' or '- x' typed without brackets: keep the text
    return parts, value


def _set_path(cfg: dict, parts: list[str], value: Any, item: str) -> None:
    node: Any = cfg
    spec: Any = _ROOT
    done: list[str] = []

    def where() -> str:
        return ".".join(done)

    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not re.fullmatch(r"-?\d+", part):
                raise ConfigError(
                    f"override {_brief(item)}: {where()} is a list; index it with an "
                    f"integer, not {part!r}"
                )
            idx = int(part)
            if not -len(node) <= idx < len(node):
                raise ConfigError(
                    f"override {_brief(item)}: index {idx} is out of range for "
                    f"{where()} ({len(node)} items)"
                )
            done.append(part)
            if last:
                node[idx] = value
                return
            child_spec = ("op", spec) if isinstance(spec, OpList) else FREE
            if node[idx] is None and not isinstance(spec, OpList):
                node[idx] = {}
            node, spec = node[idx], child_spec
            continue
        if not isinstance(node, dict):
            raise ConfigError(
                f"override {_brief(item)}: {where()} is {_type_name(node)} "
                f"{_show(node)}, so it has no key {part!r}"
            )
        if isinstance(spec, tuple):  # one-key op mapping in an OpList
            oplist = spec[1]
            if part not in node:
                have = next(iter(node), None)
                raise ConfigError(
                    f"override {_brief(item)}: {where()} is the op {have!r}, not {part!r}"
                )
            child_spec = oplist.args_spec(part)
        elif isinstance(spec, Map):
            child_spec = spec.child(part)
            if child_spec is None:
                raise ConfigError(
                    f"override {_brief(item)}: "
                    + _unknown_key_msg(_join(where(), part), part, spec.fields)
                )
        else:
            child_spec = FREE
        done.append(part)
        if last:
            node[part] = value
            return
        if node.get(part) is None:
            if isinstance(child_spec, OpList):
                raise ConfigError(
                    f"override {_brief(item)}: {where()} is empty; set the whole list "
                    f"(e.g. {where()}=[{{Name: {{arg: 1}}}}])"
                )
            if isinstance(child_spec, Value):
                raise ConfigError(
                    f"override {_brief(item)}: {where()} is a single value, so it has "
                    f"no key {parts[i + 1]!r}"
                )
            node[part] = {}
        node, spec = node[part], child_spec


def apply_overrides(cfg: dict, overrides: Iterable[str] | None) -> dict:
    """Apply '-o' style overrides to `cfg` in place (and return it). Unknown keys outside
    free-form maps raise ConfigError with a suggestion; all bad overrides are reported."""
    if overrides is None:
        return cfg
    if isinstance(overrides, str):
        overrides = [overrides]
    errors = []
    for item in overrides:
        if isinstance(item, (list, tuple)) and not isinstance(item, str):
            try:
                apply_overrides(cfg, item)
            except ConfigError as e:
                errors.extend(e.errors)
            continue
        try:
            parts, value = parse_override(item)
            _set_path(cfg, parts, value, item)
        except ConfigError as e:
            errors.extend(e.errors)
    if errors:
        raise ConfigError.collect(errors)
    return cfg


def load_config(path: str | os.PathLike, overrides: Iterable[str] | None = ()) -> dict:
    """Read a PaddleClas-style YAML config, apply `overrides`, fill defaults and validate.

    Returns plain nested dicts/lists. Raises ConfigError (a ValueError) for a missing file,
    invalid YAML (with file:line:column), bad overrides, or schema problems (all at once).
    """
    source = os.fspath(path)
    cfg = read_yaml(source)
    try:
        apply_overrides(cfg, overrides)
    except ConfigError as e:
        raise ConfigError.collect(e.errors, source) from None
    return validate_config(cfg, source)


class _Dumper(yaml.SafeDumper):
    """Block style for mappings, flow style for short lists of scalars ([3, 224, 224])."""


def _represent_list(dumper: _Dumper, data):
    flow = len(data) <= 8 and all(isinstance(x, (int, float, str, bool)) or x is None for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_str(dumper: _Dumper, data: str):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(tuple, _represent_list)
_Dumper.add_representer(str, _represent_str)
_Dumper.add_multi_representer(dict, lambda d, data: d.represent_dict(dict(data)))


def dumps_config(cfg: Mapping, header: str | None = None) -> str:
    """The config as YAML text (keys in their order; `header` lines become # comments)."""
    text = yaml.dump(
        cfg,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    if header:
        text = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) + text
    return text


def dump_config(cfg: Mapping, path: str | os.PathLike, header: str | None = None) -> str:
    """Write `cfg` as YAML to `path` (parent folders created, written atomically); returns
    the path. `load_config(path)` gives back an equal dict for a config from load_config."""
    return write_text_atomic(path, dumps_config(cfg, header))
