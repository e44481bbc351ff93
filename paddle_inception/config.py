"""PaddleClas-style YAML configs: load, override from the command line, check, dump.

    cfg = load_config("configs/imagenet/inception_v3.yaml",
                      ["Global.epochs=2", "DataLoader.Train.sampler.batch_size=8"])

`load_config` returns plain nested dicts/lists (YAML-safe, picklable, deep-copyable) with the
schema's defaults filled in. Every problem found (unknown key, wrong type, missing required
key, inconsistent values) is collected and raised together as one `ConfigError` whose message
names each key by its full path (``DataLoader.Train.sampler.batch_size``; list items as
``Loss.Train[0]``) and suggests the nearest valid key.

The schema covers the sections PaddleClas' ImageNet configs use: Global, AMP, EMA, Arch, Loss,
Optimizer, DataLoader, Metric, Infer. Free-form maps (model kwargs under ``Arch``, dataset
options, transform/loss/metric op arguments, ``Infer.PostProcess``) accept any extra key; known
keys inside them are still type-checked. Op *names* (transforms, losses, metrics) and the model
name are not resolved here: their builders do that.

Overrides (``-o Section.key.sub=value``, repeatable): the value is parsed as a YAML scalar or
flow collection with ``yaml.safe_load`` (``3``, ``0.1``, ``true``, ``null``, ``[1, 5]``,
``{alpha: 0.2}``; anything else stays a string). List items are addressed by index
(``DataLoader.Train.dataset.transform_ops.1.RandCropImage.size=96``; ``transform_ops[1]``
works too, the form error messages use).

Numbers: fields that expect a number also accept numeric strings - PyYAML reads ``1e-4``
(no dot) as a string - and fractions ``"1.0/255.0"``; they are converted to float with
`parse_number`, which never evaluates code. Transform arguments are kept as written
(``NormalizeImage.scale: 1.0/255.0`` stays a string, only checked) for the transform ops.
"""
from __future__ import annotations

import copy
import difflib
import math
import numbers
import os
import re
import tempfile
from typing import Any, Callable, Iterable, Mapping

import yaml

__all__ = ["ConfigError", "load_config", "read_yaml", "apply_overrides", "parse_override",
           "validate_config", "parse_number", "dump_config", "dumps_config", "SECTIONS",
           "DEVICES", "OPTIMIZERS", "LR_SCHEDULES"]


class ConfigError(ValueError):
    """A config problem. `errors` lists every problem found (one message each)."""

    def __init__(self, message: str, errors: Iterable[str] | None = None,
                 source: str | None = None):
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
                raise ConfigError(f"{key_path}: expected a number or a fraction like "
                                  f"'1.0/255.0', got {value!r}")
            den = float(m.group(2))
            if den == 0.0:
                raise ConfigError(f"{key_path}: division by zero in {value!r}")
            out = float(m.group(1)) / den
        if not math.isfinite(out):
            raise ConfigError(f"{key_path}: {value!r} is not a finite number")
        return out
    raise ConfigError(f"{key_path}: expected a number or a fraction like '1.0/255.0', got "
                      f"{_type_name(value)} {value!r}")


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


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _suggest(key: Any, candidates: Iterable[str]) -> str | None:
    """Nearest valid key for a misspelt one (case-insensitive match first, then difflib)."""
    candidates = [str(c) for c in candidates]
    key = str(key)
    lowered = {c.lower(): c for c in candidates}
    if key.lower() in lowered:
        return lowered[key.lower()]
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if not close:
        close = [lowered[c] for c in difflib.get_close_matches(key.lower(), list(lowered),
                                                                n=1, cutoff=0.6)]
    return close[0] if close else None


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

    def check(self, value: Any, path: str, errors: list[str]) -> Any:   # pragma: no cover
        raise NotImplementedError


class Any_(_Spec):
    """Anything (free-form values inside free-form maps)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def check(self, value, path, errors):
        return value


FREE = Any_(nullable=True)

_DESC = {
    "int": "an integer", "number": "a number", "numberlike": "a number or a fraction string",
    "bool": "a boolean (true/false)", "str": "a string", "int_list": "a list of integers",
    "number_list": "a list of numbers", "int_or_int_list": "an integer or a list of integers",
    "device": "a device name",
}


class Value(_Spec):
    """A leaf value.

    kind: int | number (int/float; numeric and fraction strings are converted to float) |
    numberlike (as number but strings are kept as written) | bool | str | int_list |
    number_list | int_or_int_list | device. Options: required, default, nullable, choices,
    min/max (numbers and list items), length (lists), nonempty (strings).
    """

    def __init__(self, kind: str, *, required=False, default=_MISSING, nullable=False,
                 choices=None, min=None, max=None, length=None, nonempty=False):
        assert kind in _DESC, kind
        self.kind, self.required, self.default, self.nullable = kind, required, default, nullable
        self.choices, self.min, self.max = choices, min, max
        self.length, self.nonempty = length, nonempty

    def _bad(self, value, path, errors, desc=None):
        errors.append(f"{path}: expected {desc or _DESC[self.kind]}, got {_type_name(value)} "
                      f"{_show(value)}")
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
            errors.append(f"{path}: expected {_DESC[self.kind]} of length {self.length}, got "
                          f"{len(value)} items {_show(value)}")
            return list(value)
        out = []
        for i, item in enumerate(value):
            ipath = f"{path}[{i}]"
            if item_kind == "int":
                if not _is_int(item):
                    errors.append(f"{ipath}: expected an integer, got {_type_name(item)} "
                                  f"{_show(item)}")
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
                        errors.append(f"{ipath}: expected a number, got {_type_name(item)} "
                                      f"{_show(item)}")
                else:
                    errors.append(f"{ipath}: expected a number, got {_type_name(item)} "
                                  f"{_show(item)}")
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
            errors.append(f"{path}: expected one of {', '.join(map(str, self.choices))}; got "
                          f"{value!r}{hint}")
        return value


class Map(_Spec):
    """A mapping with known `fields`.

    extra: False -> unknown keys are errors (with a suggestion); True -> free-form map, other
    keys pass unchecked. `null_is_empty`: a null value counts as {} (defaults are filled).
    `check_fn(value, path, errors)` runs after the fields (cross-field checks; may fill).
    A non-required Map with `default={}` is created (and filled) when absent.
    """

    def __init__(self, fields: Mapping[str, _Spec], *, extra=False, required=False,
                 nullable=False, default=_MISSING, null_is_empty=False,
                 check_fn: Callable | None = None, doc: str = ""):
        self.fields = dict(fields)
        self.extra, self.required, self.nullable = extra, required, nullable
        self.default, self.null_is_empty, self.check_fn, self.doc = (default, null_is_empty,
                                                                     check_fn, doc)

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
            errors.append(f"{path or 'config'}: expected a mapping, got {_type_name(value)} "
                          f"{_show(value)}")
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
                out[key] = spec.check(default, _join(path, key), errors) if isinstance(
                    spec, Map) else default
        if self.check_fn is not None:
            self.check_fn(out, path, errors)
        return out


class OpList(_Spec):
    """A list of one-key mappings ``- OpName: {arg: value}`` (PaddleClas op lists).

    Known op names get their argument Map checked (free-form: extra arguments pass); unknown
    names are left to the builder. Arguments may be null (``- ToCHWImage:``); a bare string
    item is an op without arguments.
    """

    def __init__(self, ops: Mapping[str, Map] | None = None, *, required=False,
                 nullable=False, default=_MISSING, min_len=0, what="op"):
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
            errors.append(f"{path}: expected a list of one-key mappings like '- OpName: "
                          f"{{arg: value}}', got {_type_name(value)} {_show(value)}")
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
                errors.append(f"{ipath}: expected a one-key mapping '{self.what} name: "
                              f"{{arg: value}}', got {_type_name(item)} {_show(item)}")
                out.append(item)
                continue
            (name, args), = item.items()
            if not isinstance(name, str) or not name:
                errors.append(f"{ipath}: {self.what} name must be a non-empty string, got "
                              f"{_show(name)}")
                out.append(item)
                continue
            npath = f"{ipath}.{name}"
            if args is not None and not isinstance(args, dict):
                errors.append(f"{npath}: arguments must be a mapping (or empty), got "
                              f"{_type_name(args)} {_show(args)}")
                out.append(item)
                continue
            spec = self.ops.get(name)
            if spec is not None and (args is not None or any(
                    f.has_default() or f.required for f in spec.fields.values())):
                args = spec.check(args, npath, errors)
            out.append({name: args})
        return out


# ---------------------------------------------------------------------------- leaf specs
DEVICES = ("cpu", "gpu", "xpu", "npu", "mlu", "ipu", "dcu", "gcu", "ascend", "intel_gpu",
           "mps")
_DEVICE_RE = re.compile(rf"^({'|'.join(DEVICES)})(:\d+)?$")


def _check_device(value, path, errors):
    if isinstance(value, str) and _DEVICE_RE.match(value):
        return value
    hint = ""
    if isinstance(value, str):
        base = value.split(":")[0].lower()
        best = "gpu" if base == "cuda" else _suggest(base, DEVICES)
        hint = f" (did you mean {best!r}?)" if best else ""
    errors.append(f"{path}: expected a device ({', '.join(DEVICES)}, optionally with ':N'); "
                  f"got {_type_name(value)} {_show(value)}{hint}")
    return value


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
_OPT_COMMON = ("name", "lr", "regularizer", "weight_decay", "clip_norm", "multi_precision",
               "no_weight_decay_name", "one_dim_param_no_weight_decay")
_LR_KEYS = {
    "Constant": (),
    "Cosine": ("eta_min",),
    "Linear": ("end_lr", "power"),
    "Piecewise": ("decay_epochs", "values"),
    "Step": ("step_size", "gamma"),
    "OneCycle": ("phase_pct", "divide_factor", "end_learning_rate"),
}
_LR_COMMON = ("name", "learning_rate", "warmup_epoch", "warmup_start_lr", "by_epoch")
_LR_NEEDS = {"Constant": ("learning_rate",), "Cosine": ("learning_rate",),
             "Linear": ("learning_rate",), "Step": ("learning_rate", "step_size"),
             "Piecewise": ("decay_epochs", "values"), "OneCycle": ("learning_rate",)}


def _check_lr(lr: dict, path: str, errors: list[str]) -> None:
    name = lr.get("name")
    if name not in _LR_KEYS:
        return                                           # bad name already reported
    allowed = set(_LR_COMMON) | set(_LR_KEYS[name])
    for key in lr:
        if key not in allowed and isinstance(key, str):
            errors.append(f"{_join(path, key)}: not used by the {name} schedule (its keys: "
                          f"{', '.join(sorted(allowed))})")
    for key in _LR_NEEDS[name]:
        if key not in lr:
            errors.append(f"{_join(path, key)}: required by the {name} schedule but missing")
    if name == "Piecewise":
        bounds, values = lr.get("decay_epochs"), lr.get("values")
        if isinstance(bounds, list) and isinstance(values, list):
            if len(values) != len(bounds) + 1:
                errors.append(f"{path}.values: the Piecewise schedule needs "
                              f"len(decay_epochs) + 1 = {len(bounds) + 1} values, got "
                              f"{len(values)}")
            if any(_is_num(a) and _is_num(b) and a >= b for a, b in zip(bounds, bounds[1:])):
                errors.append(f"{path}.decay_epochs: must be strictly increasing, got {bounds}")


def _check_optimizer(opt: dict, path: str, errors: list[str]) -> None:
    name = opt.get("name")
    if name not in _OPT_KEYS:
        return
    allowed = set(_OPT_COMMON) | set(_OPT_KEYS[name])
    for key in opt:
        if key not in allowed and isinstance(key, str):
            errors.append(f"{_join(path, key)}: not used by the {name} optimizer (its keys: "
                          f"{', '.join(sorted(allowed))})")
    if name == "Momentum" and "momentum" not in opt:
        opt["momentum"] = 0.9
    if opt.get("regularizer") and opt.get("weight_decay") is not None:
        errors.append(f"{path}: give either weight_decay or regularizer, not both")


_LR = Map({
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
}, required=True, check_fn=_check_lr)

_REGULARIZER = Map({
    "name": V("str", required=True, choices=("L2", "L1")),
    "coeff": V("number", required=True, min=0),
}, nullable=True)

_OPTIMIZER = Map({
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
}, required=True, check_fn=_check_optimizer)

_GLOBAL = Map({
    "checkpoints": V("str", nullable=True, default=None),
    "pretrained_model": V("str", nullable=True, default=None),
    "output_dir": V("str", default="./output/"),
    "device": V("device", default="cpu"),
    "class_num": V("int", min=1),                  # deprecated in PaddleClas: Arch.class_num
    "save_interval": V("int", min=1, default=1),
    "eval_during_train": V("bool", default=True),
    "eval_interval": V("int", min=1, default=1),
    "start_eval_epoch": V("int", min=0),
    "epochs": V("int", min=1, required=True),
    "print_batch_step": V("int", min=1, default=10),
    "use_visualdl": V("bool", default=False),
    "image_shape": V("int_list", min=1, length=3, default=[3, 224, 224]),
    "image_channel": V("int", min=1),
    "save_inference_dir": V("str", default="./inference"),
    "seed": V("int", nullable=True, default=None),
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
}, required=True)

_AMP = Map({
    "use_amp": V("bool", default=True),
    "use_fp16_test": V("bool", default=False),
    "scale_loss": V("number", min=0, default=1.0),
    "use_dynamic_loss_scaling": V("bool", default=False),
    "use_promote": V("bool", default=False),
    "level": V("str", choices=("O0", "O1", "O2"), default="O1"),
    "dtype": V("str", choices=("float16", "bfloat16")),
}, null_is_empty=True)

_EMA = Map({"decay": V("number", min=0, max=1, required=True)})

_ARCH = Map({
    "name": V("str", required=True, nonempty=True),
    "class_num": V("int", min=1),
}, extra=True, required=True)

_LOSS_ARGS = Map({"weight": V("number", min=0, default=1.0),
                  "epsilon": V("number", min=0, max=1, nullable=True)}, extra=True)
_LOSS_OPS = {"CELoss": _LOSS_ARGS, "GoogLeNetLoss": _LOSS_ARGS, "MixCELoss": _LOSS_ARGS}
_LOSS = Map({
    "Train": OpList(_LOSS_OPS, required=True, min_len=1, what="loss"),
    "Eval": OpList(_LOSS_OPS, nullable=True, what="loss"),
}, required=True)

_SIZE = V("int_or_int_list", min=1)
_TRANSFORM_OPS = {
    "DecodeImage": Map({"to_rgb": V("bool"), "channel_first": V("bool"),
                        "backend": V("str")}, extra=True),
    "ResizeImage": Map({"size": _SIZE, "resize_short": V("int", min=1),
                        "interpolation": V("str", nullable=True),
                        "backend": V("str")}, extra=True),
    "RandCropImage": Map({"size": _SIZE, "scale": V("number_list", length=2, min=0),
                          "ratio": V("number_list", length=2, min=0),
                          "interpolation": V("str", nullable=True),
                          "backend": V("str")}, extra=True),
    "CropImage": Map({"size": _SIZE}, extra=True),
    "RandFlipImage": Map({"flip_code": V("int", min=-1, max=1)}, extra=True),
    "NormalizeImage": Map({"scale": V("numberlike", min=0, nullable=True),
                           "mean": V("number_list", nullable=True),
                           "std": V("number_list", nullable=True),
                           "order": V("str", choices=("", "chw", "hwc")),
                           "output_fp16": V("bool"), "channel_num": V("int", min=1)},
                          extra=True),
}
_BATCH_OPS = {
    "MixupOperator": Map({"alpha": V("number", min=0)}, extra=True),
    "CutmixOperator": Map({"alpha": V("number", min=0)}, extra=True),
}

_DATASET = Map({
    "name": V("str", required=True, nonempty=True),
    "image_root": V("str"),
    "cls_label_path": V("str"),
    "transform_ops": OpList(_TRANSFORM_OPS, nullable=True, what="transform op"),
    "batch_transform_ops": OpList(_BATCH_OPS, nullable=True, what="batch op"),
    "delimiter": V("str", nullable=True),
}, extra=True, required=True)


def _sampler(train: bool) -> Map:
    return Map({
        "name": V("str", nonempty=True, default="DistributedBatchSampler"),
        "batch_size": V("int", min=1, required=True),
        "drop_last": V("bool", default=False),
        "shuffle": V("bool", default=train),
        # MultiScaleSampler (some PaddleClas ImageNet recipes)
        "scales": V("int_list", min=1),
        "first_bs": V("int", min=1),
        "divided_factor": V("int_list", min=1),
        "is_training": V("bool"),
    }, required=True)


_LOADER = Map({
    "num_workers": V("int", min=0, default=4),
    "use_shared_memory": V("bool", default=True),
}, default={}, null_is_empty=True)


def _split(train: bool) -> Map:
    return Map({"dataset": _DATASET, "sampler": _sampler(train), "loader": _LOADER},
               required=train, nullable=not train)


_DATALOADER = Map({"Train": _split(True), "Eval": _split(False)}, required=True)

_METRIC_ARGS = Map({"topk": V("int_or_int_list", min=1)}, extra=True)
_METRIC_OPS = {"TopkAcc": _METRIC_ARGS, "GoogLeNetTopkAcc": _METRIC_ARGS}
_METRIC = Map({
    "Train": OpList(_METRIC_OPS, nullable=True, what="metric"),
    "Eval": OpList(_METRIC_OPS, nullable=True, what="metric"),
}, nullable=True)

_INFER = Map({
    "infer_imgs": V("str"),
    "batch_size": V("int", min=1, default=1),
    "transforms": OpList(_TRANSFORM_OPS, nullable=True, what="transform op"),
    "PostProcess": Map({"name": V("str", required=True, nonempty=True),
                        "topk": V("int", min=1),
                        "class_id_map_file": V("str", nullable=True)},
                       extra=True, nullable=True),
}, nullable=True)


def _check_top(cfg: dict, path: str, errors: list[str]) -> None:
    """Cross-section checks and defaults that depend on several sections."""
    glob, arch = cfg.get("Global"), cfg.get("Arch")
    if isinstance(glob, dict) and isinstance(arch, dict):
        g_num, a_num = glob.get("class_num"), arch.get("class_num")
        if "class_num" not in arch:
            # PaddleClas moved class_num from Global to Arch; honour the old place.
            arch["class_num"] = g_num if _is_int(g_num) else 1000
        elif _is_int(g_num) and _is_int(a_num) and g_num != a_num:
            errors.append(f"Global.class_num ({g_num}) and Arch.class_num ({a_num}) disagree; "
                          f"keep only Arch.class_num")
    loader = cfg.get("DataLoader")
    if isinstance(glob, dict) and glob.get("eval_during_train") is True and \
            isinstance(loader, dict) and "Train" in loader and not loader.get("Eval"):
        errors.append("DataLoader.Eval: required when Global.eval_during_train is true "
                      "(or set Global.eval_during_train=False)")
    # (a warm-up longer than Global.epochs is allowed: short smoke runs of a recipe,
    # `-o Global.epochs=1`, must not fail on it.)


SECTIONS: dict[str, _Spec] = {
    "Global": _GLOBAL, "AMP": _AMP, "EMA": _EMA, "Arch": _ARCH, "Loss": _LOSS,
    "Optimizer": _OPTIMIZER, "DataLoader": _DATALOADER, "Metric": _METRIC, "Infer": _INFER,
}
_ROOT = Map(SECTIONS, check_fn=_check_top)


# ============================================================================ YAML reading
class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys in a mapping (PyYAML keeps the last silently)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node,
                                                                      yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            continue
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r} (first at line {seen[key].line + 1})",
                key_node.start_mark)
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


def read_yaml(path: str | os.PathLike) -> dict:
    """Parse a YAML config file into plain dicts (safe loader, duplicate keys rejected)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}", source=path) from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e}", source=path) from None
    try:
        data = yaml.load(text, Loader=_Loader)   # noqa: S506 - _Loader derives from SafeLoader
    except yaml.YAMLError as e:
        raise _yaml_error(e, path) from None
    if data is None:
        raise ConfigError(f"{path}: the config file is empty", source=path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level of a config must be a mapping of sections "
                          f"(Global, Arch, ...), got {_type_name(data)}", source=path)
    return data


# ============================================================================ overrides
def parse_override(item: str) -> tuple[list[str], Any]:
    """'A.b.0.c=value' -> (['A', 'b', '0', 'c'], parsed value). The value is read with
    yaml.safe_load (scalars and flow collections); text YAML cannot read stays a string."""
    if not isinstance(item, str):
        raise ConfigError(f"override {item!r}: expected a string 'Section.key=value'")
    key, sep, raw = item.partition("=")
    key = re.sub(r"\[\s*(-?\d+)\s*\]", r".\1", key.strip())   # a[1].b -> a.1.b
    parts = key.split(".")
    if not sep or not key or any(not p.strip() for p in parts):
        raise ConfigError(f"override {item!r}: expected 'Section.key=value' "
                          f"(e.g. Global.epochs=10)")
    parts = [p.strip() for p in parts]
    text = raw.strip()
    try:
        value = yaml.load(text, Loader=_Loader) if text else None   # noqa: S506 (safe)
    except yaml.YAMLError as e:
        if text[:1] in "[{":
            problem = getattr(e, "problem", None) or str(e)
            raise ConfigError(f"override {item!r}: invalid YAML value ({problem})") from None
        value = text
    if isinstance(value, (dict, list)) and text[:1] not in "[{":
        value = text      # e.g. 'a: b' or '- x' typed without brackets: keep the text
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
                raise ConfigError(f"override {item!r}: {where()} is a list; index it with an "
                                  f"integer, not {part!r}")
            idx = int(part)
            if not -len(node) <= idx < len(node):
                raise ConfigError(f"override {item!r}: index {idx} is out of range for "
                                  f"{where()} ({len(node)} items)")
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
            raise ConfigError(f"override {item!r}: {where()} is {_type_name(node)} "
                              f"{_show(node)}, so it has no key {part!r}")
        if isinstance(spec, tuple):                     # one-key op mapping in an OpList
            oplist = spec[1]
            if part not in node:
                have = next(iter(node), None)
                raise ConfigError(f"override {item!r}: {where()} is the op {have!r}, not "
                                  f"{part!r}")
            child_spec = oplist.args_spec(part)
        elif isinstance(spec, Map):
            child_spec = spec.child(part)
            if child_spec is None:
                raise ConfigError(f"override {item!r}: "
                                  + _unknown_key_msg(_join(where(), part), part, spec.fields))
        else:
            child_spec = FREE
        done.append(part)
        if last:
            node[part] = value
            return
        if node.get(part) is None:
            if isinstance(child_spec, OpList):
                raise ConfigError(f"override {item!r}: {where()} is empty; set the whole list "
                                  f"(e.g. {where()}=[{{Name: {{arg: 1}}}}])")
            if isinstance(child_spec, Value):
                raise ConfigError(f"override {item!r}: {where()} is a single value, so it has "
                                  f"no key {parts[i + 1]!r}")
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


# ============================================================================ public API
def validate_config(cfg: Mapping, source: str | None = None) -> dict:
    """Check `cfg` against the schema and return a normalized deep copy with defaults filled.

    Raises ConfigError listing every problem found (full key paths, suggestions)."""
    errors: list[str] = []
    out = _ROOT.check(copy.deepcopy(dict(cfg)), "", errors)
    if errors:
        raise ConfigError.collect(errors, source)
    return out


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
    flow = len(data) <= 8 and all(isinstance(x, (int, float, str, bool)) or x is None
                                  for x in data)
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
    text = yaml.dump(cfg, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
    if header:
        text = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) + text
    return text


def dump_config(cfg: Mapping, path: str | os.PathLike, header: str | None = None) -> str:
    """Write `cfg` as YAML to `path` (parent folders created, written atomically); returns
    the path. `load_config(path)` gives back an equal dict for a config from load_config."""
    path = os.fspath(path)
    text = dumps_config(cfg, header)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".yaml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)                     # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
