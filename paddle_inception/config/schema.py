"""The config schema: every rule a PaddleClas-style config must follow, in one place.

Builders (data loaders, optimizer, losses, metrics) take their key names, choices and defaults
from here (`SAMPLERS`, `LOADER_DEFAULTS`, `OPTIMIZERS`, `LR_SCHEDULES`, `check_section`) instead
of keeping their own lists. Op *names* (transforms, losses, metrics) and the model name are not
resolved here: their builders do that, naming the key path.

Numbers: fields that expect a number also accept numeric strings - PyYAML reads ``1e-4``
(no dot) as a string - and fractions ``"1.0/255.0"``; they are converted to float with
`parse_number`, which never evaluates code. Transform arguments are kept as written
(``NormalizeImage.scale: 1.0/255.0`` stays a string, only checked) for the transform ops.
"""

from __future__ import annotations

import copy
import math
import numbers
import os
import re
from typing import Any, Callable, Iterable, Mapping

from .._util import closest

__all__ = [
    "ConfigError",
    "validate_config",
    "check_config_bounds",
    "MAX_CONFIG_VALUES",
    "MAX_CONFIG_DEPTH",
    "check_section",
    "parse_named_entry",
    "parse_number",
    "SECTIONS",
    "DEVICES",
    "OPTIMIZERS",
    "LR_SCHEDULES",
    "SAMPLERS",
    "LOADER_DEFAULTS",
]


class ConfigError(ValueError):
    """A config problem. `errors` lists every problem found (one message each)."""

    def __init__(
        self, message: str, errors: Iterable[str] | None = None, source: str | None = None
    ):
        self.errors = list(errors) if errors is not None else [message]
        self.source = source
        super().__init__(message)

    @classmethod
    def collect(cls, errors: list[str], source: str | None = None) -> "ConfigError":
        where = f"{source}: " if source else ""
        if len(errors) == 1:
            return cls(f"{where}{errors[0]}", errors, source)
        lines = "\n".join(f"  - {e}" for e in errors)
        return cls(f"{where}{len(errors)} problems in the config:\n{lines}", errors, source)


# ============================================================================ bounds
#: Limits that keep a hostile or broken config from hanging or crashing the tools. Real configs
#: have a few hundred values nested at most ~8 deep. "Values" are counted as the config reads
#: once YAML aliases are expanded (an alias counts as the whole value it repeats), and a long
#: string counts one extra value per 100 characters, so that what is written back (config.yaml)
#: and what error messages show stay bounded too.
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 64
MAX_CONFIG_BYTES = 16 * 2**20


def _value_cost(value: Any) -> int:
    return 1 + len(value) // 100 if isinstance(value, (str, bytes)) else 1


def check_config_bounds(cfg: Any, source: str | None = None, what: str = "the config") -> None:
    """Raise ConfigError if `cfg` nests deeper than MAX_CONFIG_DEPTH, holds more than
    MAX_CONFIG_VALUES values (shared sub-values counted at every place they appear, as YAML
    aliases expand) or contains itself. Iterative, and linear in the number of distinct
    containers, so it is safe on any input (a YAML alias bomb, 100,000-deep lists)."""
    if not isinstance(cfg, (dict, list, tuple)):
        return
    where = f"{source}: " if source else ""
    deep = f"{where}{what} is nested more than {MAX_CONFIG_DEPTH} levels deep"
    done: dict[int, tuple[int, int]] = {}  # id of a walked container -> (cost, height)
    open_ids = {id(cfg)}  # containers being walked: meeting one again inside itself is a cycle
    # frames: [container, iterator over its children, cost so far, height of its subtree]
    stack = [[cfg, _children(cfg), 1, 1]]
    while stack:
        frame = stack[-1]
        child = next(frame[1], _MISSING)
        if child is _MISSING:
            stack.pop()
            open_ids.discard(id(frame[0]))
            done[id(frame[0])] = (frame[2], frame[3])
            if not stack:
                return
            add, height, frame = frame[2], frame[3], stack[-1]
        elif isinstance(child, (dict, list, tuple)):
            cid = id(child)
            if cid in open_ids:
                raise ConfigError(f"{where}{what} contains itself (a recursive YAML alias)")
            if cid not in done:
                if len(stack) >= MAX_CONFIG_DEPTH:
                    raise ConfigError(deep)
                stack.append([child, _children(child), 1, 1])
                open_ids.add(cid)
                continue
            add, height = done[cid]
            if len(stack) + height > MAX_CONFIG_DEPTH:
                raise ConfigError(deep)
        else:
            add, height = _value_cost(child), 0
        frame[2] += add
        frame[3] = max(frame[3], height + 1)
        if frame[2] > MAX_CONFIG_VALUES:
            raise ConfigError(
                f"{where}{what} holds more than {MAX_CONFIG_VALUES:,} values (counting YAML "
                f"aliases expanded); refusing it"
            )


def _children(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield v
    else:
        yield from value


# ============================================================================ numbers
_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(rf"^\s*({_NUM})\s*$")
_FRACTION_RE = re.compile(rf"^\s*({_NUM})\s*/\s*({_NUM})\s*$")


def parse_number(value: Any, key_path: str = "value") -> int | float:
    """A number given as int/float, a numeric string ("1e-4") or a fraction ("1.0/255.0").

    Numbers are returned unchanged; strings become float. Strings are matched with a regex and
    converted with float() - never evaluated - so "__import__('os')" is a ConfigError naming
    `key_path`, as are booleans, non-finite values and division by zero.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not math.isfinite(float(value)):
            raise ConfigError(f"{key_path}: expected a finite number, got {value!r}")
        return value
    if isinstance(value, str):
        m = _NUMBER_RE.match(value)
        if m:
            out = float(m.group(1))
        else:
            m = _FRACTION_RE.match(value)
            if not m:
                raise ConfigError(
                    f"{key_path}: expected a number or a fraction like '1.0/255.0', got {value!r}"
                )
            den = float(m.group(2))
            if den == 0.0:
                raise ConfigError(f"{key_path}: division by zero in {value!r}")
            out = float(m.group(1)) / den
        if not math.isfinite(out):
            raise ConfigError(f"{key_path}: {value!r} is not a finite number")
        return out
    raise ConfigError(
        f"{key_path}: expected a number or a fraction like '1.0/255.0', got "
        f"{_type_name(value)} {value!r}"
    )


# ============================================================================ helpers
_MISSING = object()


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def _repr_chunks(value: Any, limit: int):
    """repr(value) in pieces, for plain YAML data (dicts, lists, tuples, scalars). The caller
    stops reading after `limit` characters, so a value shared thousands of times through YAML
    aliases, or nested thousands deep, costs no more than those characters to show."""
    if isinstance(value, dict):
        yield "{"
        for i, (k, v) in enumerate(value.items()):
            if i:
                yield ", "
            yield from _repr_chunks(k, limit)
            yield ": "
            yield from _repr_chunks(v, limit)
        yield "}"
    elif isinstance(value, (list, tuple)):
        yield "[" if isinstance(value, list) else "("
        for i, v in enumerate(value):
            if i:
                yield ", "
            yield from _repr_chunks(v, limit)
        if isinstance(value, tuple) and len(value) == 1:
            yield ","
        yield "]" if isinstance(value, list) else ")"
    elif isinstance(value, (str, bytes)) and len(value) > limit:
        yield repr(value[: limit + 1])  # cut: the caller shows at most `limit` characters
    else:
        yield repr(value)


def _show(value: Any, limit: int = 80) -> str:
    """A value as repr() writes it, cut to `limit` characters; bounded in time and memory."""
    parts, n = [], 0
    for chunk in _repr_chunks(value, limit):
        parts.append(chunk)
        n += len(chunk)
        if n > limit:
            break
    text = "".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _suggest(key: Any, candidates: Iterable[str]) -> str | None:
    """Nearest valid key for a misspelt one (see `_util.closest`)."""
    return closest(key, candidates)


def _unknown_key_msg(path: str, key: Any, candidates: Iterable[str]) -> str:
    candidates = list(candidates)
    best = _suggest(key, candidates)
    if best is not None:
        return f"{path}: unknown key (did you mean {best!r}?)"
    return f"{path}: unknown key (valid keys: {', '.join(sorted(candidates))})"


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


# ============================================================================ schema
class _Spec:
    """Base of schema nodes: `check(value, path, errors)` returns the normalized value."""

    required = False
    nullable = False
    default: Any = _MISSING

    def has_default(self) -> bool:
        return self.default is not _MISSING

    def make_default(self) -> Any:
        return copy.deepcopy(self.default)

    def check(self, value: Any, path: str, errors: list[str]) -> Any:  # pragma: no cover
        raise NotImplementedError


class Any_(_Spec):
    """Anything (free-form values inside free-form maps)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def check(self, value, path, errors):
        return value


FREE = Any_(nullable=True)

_DESC = {
    "int": "an integer",
    "number": "a number",
    "numberlike": "a number or a fraction string",
    "bool": "a boolean (true/false)",
    "str": "a string",
    "int_list": "a list of integers",
    "number_list": "a list of numbers",
    "int_or_int_list": "an integer or a list of integers",
    "device": "a device name",
}


class Value(_Spec):
    """A leaf value.

    kind: int | number (int/float; numeric and fraction strings are converted to float) |
    numberlike (as number but strings are kept as written) | bool | str | int_list |
    number_list | int_or_int_list | device. Options: required, default, nullable, choices,
    min/max (numbers and list items), length (lists), nonempty (strings).
    """

    def __init__(
        self,
        kind: str,
        *,
        required=False,
        default=_MISSING,
        nullable=False,
        choices=None,
        min=None,
        max=None,
        length=None,
        nonempty=False,
    ):
        assert kind in _DESC, kind
        self.kind, self.required, self.default, self.nullable = kind, required, default, nullable
        self.choices, self.min, self.max = choices, min, max
        self.length, self.nonempty = length, nonempty

    def _bad(self, value, path, errors, desc=None):
        errors.append(
            f"{path}: expected {desc or _DESC[self.kind]}, got {_type_name(value)} {_show(value)}"
        )
        return value

    def _range(self, v, path, errors, shown=None) -> bool:
        shown = _show(v) if shown is None else shown
        if self.min is not None and v < self.min:
            errors.append(f"{path}: must be >= {self.min}, got {shown}")
            return False
        if self.max is not None and v > self.max:
            errors.append(f"{path}: must be <= {self.max}, got {shown}")
            return False
        return True

    def _number(self, value, path, errors, keep_str: bool):
        if not (_is_num(value) or isinstance(value, str)):
            return self._bad(value, path, errors)
        try:
            num = parse_number(value, path)
        except ConfigError:
            return self._bad(value, path, errors)
        self._range(num, path, errors, _show(value))
        if isinstance(value, str) and keep_str:
            return value
        return num if isinstance(value, str) else value

    def _list(self, value, path, errors, item_kind):
        if not isinstance(value, (list, tuple)):
            return self._bad(value, path, errors)
        if self.length is not None and len(value) != self.length:
            errors.append(
                f"{path}: expected {_DESC[self.kind]} of length {self.length}, got "
                f"{len(value)} items {_show(value)}"
            )
            return list(value)
        out = []
        for i, item in enumerate(value):
            ipath = f"{path}[{i}]"
            if item_kind == "int":
                if not _is_int(item):
                    errors.append(
                        f"{ipath}: expected an integer, got {_type_name(item)} {_show(item)}"
                    )
                else:
                    self._range(item, ipath, errors)
                out.append(item)
            else:
                if _is_num(item) or isinstance(item, str):
                    try:
                        num = parse_number(item, ipath)
                        self._range(num, ipath, errors, _show(item))
                        item = num
                    except ConfigError:
                        errors.append(
                            f"{ipath}: expected a number, got {_type_name(item)} {_show(item)}"
                        )
                else:
                    errors.append(
                        f"{ipath}: expected a number, got {_type_name(item)} {_show(item)}"
                    )
                out.append(item)
        return out

    def check(self, value, path, errors):
        if value is None:
            if self.nullable:
                return None
            return self._bad(value, path, errors)
        kind = self.kind
        if kind == "int":
            if not _is_int(value):
                return self._bad(value, path, errors)
            self._range(value, path, errors)
        elif kind in ("number", "numberlike"):
            value = self._number(value, path, errors, keep_str=(kind == "numberlike"))
        elif kind == "bool":
            if not isinstance(value, bool):
                return self._bad(value, path, errors)
        elif kind == "str":
            if not isinstance(value, str):
                return self._bad(value, path, errors)
            if self.nonempty and not value.strip():
                errors.append(f"{path}: must be a non-empty string")
        elif kind == "device":
            return _check_device(value, path, errors)
        elif kind == "int_list":
            value = self._list(value, path, errors, "int")
        elif kind == "number_list":
            value = self._list(value, path, errors, "number")
        elif kind == "int_or_int_list":
            if _is_int(value):
                self._range(value, path, errors)
            else:
                value = self._list(value, path, errors, "int")
        if self.choices is not None and isinstance(value, str) and value not in self.choices:
            best = _suggest(value, self.choices)
            hint = f" (did you mean {best!r}?)" if best else ""
            errors.append(
                f"{path}: expected one of {', '.join(map(str, self.choices))}; got {value!r}{hint}"
            )
        return value


class Map(_Spec):
    """A mapping with known `fields`.

    extra: False -> unknown keys are errors (with a suggestion); True -> free-form map, other
    keys pass unchecked. `null_is_empty`: a null value counts as {} (defaults are filled).
    `check_fn(value, path, errors)` runs after the fields (cross-field checks; may fill).
    A non-required Map with `default={}` is created (and filled) when absent.
    """

    def __init__(
        self,
        fields: Mapping[str, _Spec],
        *,
        extra=False,
        required=False,
        nullable=False,
        default=_MISSING,
        null_is_empty=False,
        check_fn: Callable | None = None,
        doc: str = "",
    ):
        self.fields = dict(fields)
        self.extra, self.required, self.nullable = extra, required, nullable
        self.default, self.null_is_empty, self.check_fn, self.doc = (
            default,
            null_is_empty,
            check_fn,
            doc,
        )

    def child(self, key: str) -> _Spec | None:
        """Spec of `key`; FREE inside a free-form map; None when the key is not allowed."""
        if key in self.fields:
            return self.fields[key]
        return FREE if self.extra else None

    def check(self, value, path, errors):
        if value is None:
            if self.null_is_empty:
                value = {}
            elif self.nullable:
                return None
            else:
                errors.append(f"{path or 'config'}: expected a mapping, got null")
                return value
        if not isinstance(value, dict):
            errors.append(
                f"{path or 'config'}: expected a mapping, got {_type_name(value)} {_show(value)}"
            )
            return value
        out = {}
        for key, val in value.items():
            kpath = _join(path, key)
            spec = self.child(key) if isinstance(key, str) else None
            if spec is None:
                errors.append(_unknown_key_msg(kpath, key, self.fields))
                out[key] = val
                continue
            out[key] = spec.check(val, kpath, errors)
        for key, spec in self.fields.items():
            if key in out:
                continue
            if spec.required:
                errors.append(f"{_join(path, key)}: required key is missing")
            elif spec.has_default():
                default = spec.make_default()
                out[key] = (
                    spec.check(default, _join(path, key), errors)
                    if isinstance(spec, Map)
                    else default
                )
        if self.check_fn is not None:
            self.check_fn(out, path, errors)
        return out


def parse_named_entry(entry, where: str, registry: Mapping, kind: str) -> tuple:
    """One entry of a PaddleClas list of one-key mappings (`- CELoss: {weight: 1.0}`, a
    transform op, a metric; a bare string is an entry without arguments) -> (the registry's
    value for the name, the arguments as a new dict). Errors are ValueErrors that start with
    `where`, name the bad entry and suggest the nearest known name."""
    if isinstance(entry, str):
        name, args = entry, None
    elif isinstance(entry, dict) and len(entry) == 1:
        ((name, args),) = entry.items()
    else:
        raise ValueError(
            f"{where}: each {kind} entry must be a one-key mapping "
            f"'Name: {{arg: value}}', got {entry!r}"
        )
    if name not in registry:
        known = [str(k) for k in registry]
        best = closest(name, known, cutoff=0.4)
        hint = f" (did you mean {best!r}?)" if best is not None else ""
        raise ValueError(
            f"{where}: unknown {kind} {name!r}{hint}; valid: {', '.join(sorted(known))}"
        )
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ValueError(f"{where}: arguments of {name} must be a mapping, got {args!r}")
    return registry[name], dict(args)


class OpList(_Spec):
    """A list of one-key mappings ``- OpName: {arg: value}`` (PaddleClas op lists).

    Known op names get their argument Map checked (free-form: extra arguments pass); unknown
    names are left to the builder. Arguments may be null (``- ToCHWImage:``); a bare string
    item is an op without arguments.
    """

    def __init__(
        self,
        ops: Mapping[str, Map] | None = None,
        *,
        required=False,
        nullable=False,
        default=_MISSING,
        min_len=0,
        what="op",
    ):
        self.ops = dict(ops or {})
        self.required, self.nullable, self.default = required, nullable, default
        self.min_len, self.what = min_len, what

    def args_spec(self, name: str) -> _Spec:
        return self.ops.get(name, FREE)

    def check(self, value, path, errors):
        if value is None:
            if self.nullable:
                return None
            errors.append(f"{path}: expected a list of {self.what}s, got null")
            return value
        if not isinstance(value, (list, tuple)):
            errors.append(
                f"{path}: expected a list of one-key mappings like '- OpName: "
                f"{{arg: value}}', got {_type_name(value)} {_show(value)}"
            )
            return value
        if len(value) < self.min_len:
            errors.append(f"{path}: needs at least {self.min_len} {self.what}(s), got none")
        out = []
        for i, item in enumerate(value):
            ipath = f"{path}[{i}]"
            if isinstance(item, str) and item:
                out.append(item)
                continue
            if not isinstance(item, dict) or len(item) != 1:
                errors.append(
                    f"{ipath}: expected a one-key mapping '{self.what} name: "
                    f"{{arg: value}}', got {_type_name(item)} {_show(item)}"
                )
                out.append(item)
                continue
            ((name, args),) = item.items()
            if not isinstance(name, str) or not name:
                errors.append(
                    f"{ipath}: {self.what} name must be a non-empty string, got {_show(name)}"
                )
                out.append(item)
                continue
            npath = f"{ipath}.{name}"
            if args is not None and not isinstance(args, dict):
                errors.append(
                    f"{npath}: arguments must be a mapping (or empty), got "
                    f"{_type_name(args)} {_show(args)}"
                )
                out.append(item)
                continue
            spec = self.ops.get(name)
            if spec is not None and (
                args is not None or any(f.has_default() or f.required for f in spec.fields.values())
            ):
                args = spec.check(args, npath, errors)
            out.append({name: args})
        return out


# ---------------------------------------------------------------------------- leaf specs
DEVICES = ("cpu", "gpu", "xpu", "npu", "mlu", "ipu", "dcu", "gcu", "ascend", "intel_gpu", "mps")
_DEVICE_RE = re.compile(rf"^({'|'.join(DEVICES)})(:\d+)?$")


def _check_device(value, path, errors):
    if isinstance(value, str) and _DEVICE_RE.match(value):
        return value
    hint = ""
    if isinstance(value, str):
        base = value.split(":")[0].lower()
        best = "gpu" if base == "cuda" else _suggest(base, DEVICES)
        hint = f" (did you mean {best!r}?)" if best else ""
    errors.append(
        f"{path}: expected a device ({', '.join(DEVICES)}, optionally with ':N'); "
        f"got {_type_name(value)} {_show(value)}{hint}"
    )
    return value


# Bounds far above any real run, so that a typo (1e9 classes, 1e12 epochs, a 100000 px image,
# a batch of 1e9, 10000 workers) is one line at load time, not a MemoryError or a fork storm
# minutes later (issue 30). Each is in the message.
MAX_CLASSES = 100_000  # ImageNet-21k has 21,841; a 2048 x 100,000 classifier is 0.8 GB
MAX_EPOCHS = 100_000
MAX_IMAGE_SIDE = 8192  # Global.image_shape: channels, height, width each
MAX_BATCH_SIZE = 65_536
MAX_WORKERS = 256  # DataLoader.*.loader.num_workers (processes); also <= 4 x the CPU cores


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def V(kind, **kw) -> Value:
    return Value(kind, **kw)


OPTIMIZERS = ("Momentum", "SGD", "Adam", "AdamW", "RMSProp")
LR_SCHEDULES = ("Constant", "Cosine", "Piecewise", "Step", "Linear", "OneCycle")

# keys each optimizer / schedule uses besides the common ones (unused keys are errors, so a
# misplaced `gamma` under a Cosine schedule is caught here rather than silently ignored)
_OPT_KEYS = {
    "Momentum": ("momentum", "use_nesterov"),
    "SGD": (),
    "Adam": ("beta1", "beta2", "epsilon"),
    "AdamW": ("beta1", "beta2", "epsilon"),
    "RMSProp": ("rho", "epsilon", "momentum"),
}
_OPT_COMMON = (
    "name",
    "lr",
    "regularizer",
    "weight_decay",
    "clip_norm",
    "multi_precision",
    "no_weight_decay_name",
    "one_dim_param_no_weight_decay",
    "backbone_lr_mult",
)
_LR_KEYS = {
    "Constant": (),
    "Cosine": ("eta_min",),
    "Linear": ("end_lr", "power"),
    "Piecewise": ("decay_epochs", "values"),
    "Step": ("step_size", "gamma"),
    "OneCycle": ("phase_pct", "divide_factor", "end_learning_rate"),
}
_LR_COMMON = ("name", "learning_rate", "warmup_epoch", "warmup_start_lr", "by_epoch")
_LR_NEEDS = {
    "Constant": ("learning_rate",),
    "Cosine": ("learning_rate",),
    "Linear": ("learning_rate",),
    "Step": ("learning_rate", "step_size"),
    "Piecewise": ("decay_epochs", "values"),
    "OneCycle": ("learning_rate",),
}


def _unused_keys(section: dict, allowed: set, user: str, path: str, errors: list[str]) -> None:
    """A key of `section` that `user` (e.g. "the Cosine schedule") does not take is an error
    listing the keys it does take."""
    for key in section:
        if key not in allowed and isinstance(key, str):
            errors.append(
                f"{_join(path, key)}: not used by {user} (its keys: {', '.join(sorted(allowed))})"
            )


def _check_lr(lr: dict, path: str, errors: list[str]) -> None:
    name = lr.get("name")
    if name not in _LR_KEYS:
        return  # bad name already reported
    _unused_keys(lr, set(_LR_COMMON) | set(_LR_KEYS[name]), f"the {name} schedule", path, errors)
    for key in _LR_NEEDS[name]:
        if key not in lr:
            errors.append(f"{_join(path, key)}: required by the {name} schedule but missing")
    warm, start = lr.get("warmup_epoch"), lr.get("warmup_start_lr")
    peak = lr.get("learning_rate")
    if name == "Piecewise" and isinstance(lr.get("values"), list) and lr["values"]:
        peak = lr["values"][0]
    if _is_num(warm) and warm > 0 and _is_num(start) and _is_num(peak) and start >= peak:
        # paddle's LinearWarmup asserts this deep inside the optimizer's construction
        errors.append(
            f"{path}.warmup_start_lr: the warm-up rises from warmup_start_lr to the schedule's "
            f"rate, so it must be below it ({_show(peak)}), got {_show(start)}"
        )
    if name == "Piecewise":
        bounds, values = lr.get("decay_epochs"), lr.get("values")
        if isinstance(bounds, list) and isinstance(values, list):
            if len(values) != len(bounds) + 1:
                errors.append(
                    f"{path}.values: the Piecewise schedule needs "
                    f"len(decay_epochs) + 1 = {len(bounds) + 1} values, got "
                    f"{len(values)}"
                )
            if any(_is_num(a) and _is_num(b) and a >= b for a, b in zip(bounds, bounds[1:])):
                errors.append(f"{path}.decay_epochs: must be strictly increasing, got {bounds}")


def _check_optimizer(opt: dict, path: str, errors: list[str]) -> None:
    name = opt.get("name")
    if name not in _OPT_KEYS:
        return
    _unused_keys(
        opt, set(_OPT_COMMON) | set(_OPT_KEYS[name]), f"the {name} optimizer", path, errors
    )
    if name == "Momentum" and "momentum" not in opt:
        opt["momentum"] = 0.9
    if opt.get("regularizer") and opt.get("weight_decay") is not None:
        errors.append(f"{path}: give either weight_decay or regularizer, not both")


_LR = Map(
    {
        "name": V("str", required=True, choices=LR_SCHEDULES),
        "learning_rate": V("number", min=0),
        "warmup_epoch": V("number", min=0, default=0),
        "warmup_start_lr": V("number", min=0, default=0.0),
        "by_epoch": V("bool"),
        "eta_min": V("number", min=0),
        "end_lr": V("number", min=0),
        "power": V("number", min=0),
        "decay_epochs": V("int_list", min=0),
        "values": V("number_list", min=0),
        "step_size": V("int", min=1),
        "gamma": V("number", min=0),
        "phase_pct": V("number", min=0, max=1),
        "divide_factor": V("number", min=0),
        "end_learning_rate": V("number", min=0),
    },
    required=True,
    check_fn=_check_lr,
)

_REGULARIZER = Map(
    {
        "name": V("str", required=True, choices=("L2", "L1")),
        "coeff": V("number", required=True, min=0),
    },
    nullable=True,
)

_OPTIMIZER = Map(
    {
        "name": V("str", required=True, choices=OPTIMIZERS),
        "lr": _LR,
        "regularizer": _REGULARIZER,
        "weight_decay": V("number", min=0, nullable=True),
        "momentum": V("number", min=0, max=1),
        "use_nesterov": V("bool"),
        "beta1": V("number", min=0, max=1),
        "beta2": V("number", min=0, max=1),
        "epsilon": V("number", min=0),
        "rho": V("number", min=0, max=1),
        "clip_norm": V("number", min=0, nullable=True),
        "multi_precision": V("bool"),
        "no_weight_decay_name": V("str", nullable=True),
        "one_dim_param_no_weight_decay": V("bool"),
        # fine-tuning: the pretrained body learns at this fraction of the rate of the new
        # classifier (head and auxiliary heads); not a PaddleClas key
        "backbone_lr_mult": V("number", min=0, max=1),
    },
    required=True,
    check_fn=_check_optimizer,
)

_GLOBAL = Map(
    {
        "checkpoints": V("str", nullable=True, default=None),
        "pretrained_model": V("str", nullable=True, default=None),
        "output_dir": V("str", default="./output/"),
        "device": V("device", default="cpu"),
        "class_num": V("int", min=1, max=MAX_CLASSES),  # deprecated: Arch.class_num
        "save_interval": V("int", min=1, default=1),
        "eval_during_train": V("bool", default=True),
        "eval_interval": V("int", min=1, default=1),
        "start_eval_epoch": V("int", min=0),
        "epochs": V("int", min=1, max=MAX_EPOCHS, required=True),
        "print_batch_step": V("int", min=1, default=10),
        "use_visualdl": V("bool", default=False),
        "image_shape": V("int_list", min=1, max=MAX_IMAGE_SIDE, length=3, default=[3, 224, 224]),
        "image_channel": V("int", min=1),
        "save_inference_dir": V("str", default="./inference"),
        # numpy's seeds are 0 .. 2**32 - 1 (-1 or 1e30 failed deep inside the first epoch)
        "seed": V("int", min=0, max=2**32 - 1, nullable=True, default=None),
        "to_static": V("bool", default=False),
        "eval_mode": V("str", choices=("classification", "retrieval"), default="classification"),
        "use_dali": V("bool", default=False),
        "use_multilabel": V("bool"),
        "use_sync_bn": V("bool"),
        "distributed": V("bool"),
        "model_name": V("str", nullable=True),
        "pdx_model_name": V("str", nullable=True),
        "uniform_output_enabled": V("bool"),
        "export_with_pir": V("bool"),
    },
    required=True,
)

_AMP = Map(
    {
        "use_amp": V("bool", default=True),
        "use_fp16_test": V("bool", default=False),
        "scale_loss": V("number", min=0, default=1.0),
        "use_dynamic_loss_scaling": V("bool", default=False),
        "use_promote": V("bool", default=False),
        "level": V("str", choices=("O0", "O1", "O2"), default="O1"),
        "dtype": V("str", choices=("float16", "bfloat16")),
    },
    null_is_empty=True,
)

_EMA = Map({"decay": V("number", min=0, max=1, required=True)})

_ARCH = Map(
    {
        "name": V("str", required=True, nonempty=True),
        "class_num": V("int", min=1, max=MAX_CLASSES),
    },
    extra=True,
    required=True,
)

_LOSS_ARGS = Map(
    {
        "weight": V("number", min=0, default=1.0),
        "epsilon": V("number", min=0, max=1, nullable=True),
    },
    extra=True,
)
_LOSS_OPS = {"CELoss": _LOSS_ARGS, "GoogLeNetLoss": _LOSS_ARGS, "MixCELoss": _LOSS_ARGS}
_LOSS = Map(
    {
        "Train": OpList(_LOSS_OPS, required=True, min_len=1, what="loss"),
        "Eval": OpList(_LOSS_OPS, nullable=True, what="loss"),
    },
    required=True,
)

_SIZE = V("int_or_int_list", min=1)
_TRANSFORM_OPS = {
    "DecodeImage": Map(
        {"to_rgb": V("bool"), "channel_first": V("bool"), "backend": V("str")}, extra=True
    ),
    "ResizeImage": Map(
        {
            "size": _SIZE,
            "resize_short": V("int", min=1),
            "interpolation": V("str", nullable=True),
            "backend": V("str"),
        },
        extra=True,
    ),
    "RandCropImage": Map(
        {
            "size": _SIZE,
            "scale": V("number_list", length=2, min=0),
            "ratio": V("number_list", length=2, min=0),
            "interpolation": V("str", nullable=True),
            "backend": V("str"),
        },
        extra=True,
    ),
    "CropImage": Map({"size": _SIZE}, extra=True),
    "RandFlipImage": Map({"flip_code": V("int", min=-1, max=1)}, extra=True),
    "NormalizeImage": Map(
        {
            "scale": V("numberlike", min=0, nullable=True),
            "mean": V("number_list", nullable=True),
            "std": V("number_list", nullable=True),
            "order": V("str", choices=("", "chw", "hwc")),
            "output_fp16": V("bool"),
            "channel_num": V("int", min=1),
        },
        extra=True,
    ),
}
_BATCH_OPS = {
    "MixupOperator": Map({"alpha": V("number", min=0)}, extra=True),
    "CutmixOperator": Map({"alpha": V("number", min=0)}, extra=True),
}


class _OpsOrAuto(OpList):
    """An op list, or "auto": the model's own preprocessing, filled in by training and
    evaluation from its default config (`data.folder.auto_transform_ops`)."""

    def check(self, value, path, errors):
        return value if value == "auto" else super().check(value, path, errors)


_DATASET = Map(
    {
        "name": V("str", required=True, nonempty=True),
        "image_root": V("str"),
        "cls_label_path": V("str"),
        "transform_ops": _OpsOrAuto(_TRANSFORM_OPS, nullable=True, what="transform op"),
        "batch_transform_ops": OpList(_BATCH_OPS, nullable=True, what="batch op"),
        "delimiter": V("str", nullable=True),
    },
    extra=True,
    required=True,
)


#: batch samplers the data builder provides (PaddleClas' MultiScaleSampler is not one of them)
SAMPLERS = ("DistributedBatchSampler", "BatchSampler")


def _sampler(train: bool) -> Map:
    return Map(
        {
            "name": V("str", default="DistributedBatchSampler", choices=SAMPLERS),
            "batch_size": V("int", min=1, max=MAX_BATCH_SIZE, required=True),
            "drop_last": V("bool", default=False),
            "shuffle": V("bool", default=train),
        },
        required=True,
    )


#: paddle.io.DataLoader options a `loader:` section may set, with their defaults
LOADER_DEFAULTS = {"num_workers": 4, "use_shared_memory": True}
_LOADER = Map(
    {
        "num_workers": V("int", min=0, max=MAX_WORKERS, default=LOADER_DEFAULTS["num_workers"]),
        "use_shared_memory": V("bool", default=LOADER_DEFAULTS["use_shared_memory"]),
        "persistent_workers": V("bool"),
        "prefetch_factor": V("int", min=1),
        "timeout": V("int", min=0),
    },
    default={},
    null_is_empty=True,
)


def _split(train: bool) -> Map:
    return Map(
        {"dataset": _DATASET, "sampler": _sampler(train), "loader": _LOADER},
        required=train,
        nullable=not train,
    )


_DATALOADER = Map({"Train": _split(True), "Eval": _split(False)}, required=True)

_METRIC_ARGS = Map({"topk": V("int_or_int_list", min=1)}, extra=True)
_METRIC_OPS = {"TopkAcc": _METRIC_ARGS, "GoogLeNetTopkAcc": _METRIC_ARGS}
_METRIC = Map(
    {
        "Train": OpList(_METRIC_OPS, nullable=True, what="metric"),
        "Eval": OpList(_METRIC_OPS, nullable=True, what="metric"),
    },
    nullable=True,
)

_INFER = Map(
    {
        "infer_imgs": V("str"),
        "batch_size": V("int", min=1, default=1),
        "transforms": OpList(_TRANSFORM_OPS, nullable=True, what="transform op"),
        "PostProcess": Map(
            {
                "name": V("str", required=True, nonempty=True),
                "topk": V("int", min=1),
                "class_id_map_file": V("str", nullable=True),
            },
            extra=True,
            nullable=True,
        ),
    },
    nullable=True,
)


def _check_top(cfg: dict, path: str, errors: list[str]) -> None:
    """Cross-section checks and defaults that depend on several sections."""
    glob, arch = cfg.get("Global"), cfg.get("Arch")
    if isinstance(glob, dict) and isinstance(arch, dict):
        g_num, a_num = glob.get("class_num"), arch.get("class_num")
        if "class_num" not in arch:
            # PaddleClas moved class_num from Global to Arch; honour the old place.
            arch["class_num"] = g_num if _is_int(g_num) else 1000
        elif _is_int(g_num) and _is_int(a_num) and g_num != a_num:
            errors.append(
                f"Global.class_num ({g_num}) and Arch.class_num ({a_num}) disagree; "
                f"keep only Arch.class_num"
            )
    loader = cfg.get("DataLoader")
    if (
        isinstance(glob, dict)
        and glob.get("eval_during_train") is True
        and isinstance(loader, dict)
        and "Train" in loader
        and not loader.get("Eval")
    ):
        errors.append(
            "DataLoader.Eval: required when Global.eval_during_train is true "
            "(or set Global.eval_during_train=False)"
        )
    if isinstance(loader, dict):
        cores = _cpu_cores()
        for split in ("Train", "Eval"):
            workers = ((loader.get(split) or {}).get("loader") or {}).get("num_workers")
            if _is_int(workers) and workers > max(16, 4 * cores):
                errors.append(
                    f"DataLoader.{split}.loader.num_workers: must be <= {max(16, 4 * cores)} "
                    f"(4 x the {cores} CPU cores of this machine, at least 16), got {workers}"
                )
    # (a warm-up longer than Global.epochs is allowed: short smoke runs of a recipe,
    # `-o Global.epochs=1`, must not fail on it.)


# Optional section (not in PaddleClas; absent means these defaults): VisualDL pictures, see
# paddle_inception/analysis/visual.py. The training-run switches apply when Global.use_visualdl
# is true; eval_report* apply to tools/eval.py.
_VISUALDL = Map(
    {
        "graph": V("bool", default=True),  # network graph once per run (GRAPHS tab)
        "confusion_matrix": V("bool", default=True),  # per eval: image + per-class metrics
        "pr_curves": V("bool", default=True),  # per eval: one PR curve per class
        "worst_mistakes": V("int", min=0, default=16),  # per eval: the N most confident errors
        "hparams": V("bool", default=True),  # per run: HPARAMS tab
        "histogram_interval": V("int", min=0, default=0),  # weights+grads every N epochs
        "embeddings": V("int", min=0, default=0),  # features of N eval images (0: off)
        "eval_report": V("bool", default=True),  # tools/eval.py: table, PNGs, records
        "eval_report_dir": V("str", nullable=True, default=None),  # <output>/<arch>/eval
    },
    default={},
    null_is_empty=True,
)

SECTIONS: dict[str, _Spec] = {
    "Global": _GLOBAL,
    "AMP": _AMP,
    "EMA": _EMA,
    "Arch": _ARCH,
    "Loss": _LOSS,
    "Optimizer": _OPTIMIZER,
    "DataLoader": _DATALOADER,
    "Metric": _METRIC,
    "Infer": _INFER,
    "VisualDL": _VISUALDL,
}
_ROOT = Map(SECTIONS, check_fn=_check_top)


# ============================================================================ public API
def validate_config(cfg: Mapping, source: str | None = None) -> dict:
    """Check `cfg` against the schema and return a normalized deep copy with defaults filled.

    Raises ConfigError listing every problem found (full key paths, suggestions)."""
    check_config_bounds(cfg, source)  # before anything below walks or copies it recursively
    errors: list[str] = []
    out = _ROOT.check(copy.deepcopy(dict(cfg)), "", errors)
    if errors:
        raise ConfigError.collect(errors, source)
    return out


def _spec_at(section: str) -> _Spec:
    spec: Any = _ROOT
    for part in section.split("."):
        spec = spec.child(part) if isinstance(spec, Map) else None
        if spec is None:
            raise KeyError(f"the config schema has no section {section!r}")
    return spec


def check_section(section: str, value: Any, key_path: str | None = None) -> Any:
    """Check one section (``"DataLoader.Train"``, ``"Optimizer"``...) on its own, as
    `validate_config` would inside a whole config; returns a normalized copy with defaults
    filled. Problems name their keys from `key_path` (default: `section`)."""
    check_config_bounds(value, what=key_path or section)
    errors: list[str] = []
    out = _spec_at(section).check(copy.deepcopy(value), key_path or section, errors)
    if errors:
        raise ConfigError.collect(errors)
    return out
