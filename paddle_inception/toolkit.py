"""Shared pieces of the inspection and deployment tools (summary, export, infer).

A tool names its model either with `--model NAME` (a registry or PaddleClas name) or with
`-c config.yaml` (the `Arch` section, `Global.image_shape` and, for weights,
`Global.pretrained_model`); `--num-classes`, `--in-channels` and `--input-size` override both.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys

__all__ = ["ToolError", "setup_tool_logging", "configure_cpu_quietly", "add_model_args",
           "parse_input_size", "ModelSpec", "resolve_model_spec", "build_model",
           "load_model_weights", "error_exit"]

#: the tools' logger: its own stderr handler, independent of the trainer's stdout console
logger = logging.getLogger("paddle_inception.tools")


class ToolError(ValueError):
    """A user-facing error of a tool (bad argument, missing file): printed without traceback."""


class _StderrHandler(logging.StreamHandler):
    """Writes to the current sys.stderr (looked up at each record, so redirections work)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def setup_tool_logging(level=logging.INFO) -> None:
    """Log the tools' progress to stderr (stdout carries their results: text or JSON)."""
    logger.setLevel(level)
    if not any(getattr(h, "_pi_tool", False) for h in logger.handlers):
        h = _StderrHandler()
        h.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(message)s",
                                         "%Y-%m-%d %H:%M:%S"))
        h._pi_tool = True
        logger.addHandler(h)
    logger.propagate = False


def configure_cpu_quietly(verbose: bool = True) -> dict:
    """`runtime.configure_cpu()`, its log lines sent to the tools' stderr log (or dropped)."""
    from .runtime import configure_cpu, logger as rt_logger
    saved = (rt_logger.handlers[:], rt_logger.propagate, rt_logger.level)
    rt_logger.handlers = [h for h in logger.handlers] if verbose else []
    rt_logger.propagate = False
    rt_logger.setLevel(logging.INFO if verbose else logging.CRITICAL)
    try:
        return configure_cpu()
    finally:
        rt_logger.handlers, rt_logger.propagate = saved[0], saved[1]
        rt_logger.setLevel(saved[2])


def error_exit(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def add_model_args(p: argparse.ArgumentParser, weights: bool = False, required: bool = True):
    """--model / -c (one of them), -o overrides, --num-classes, --in-channels, --input-size."""
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--model", "-m", metavar="NAME",
                   help="registered model name, e.g. googlenet (list: tools/summary.py --list)")
    g.add_argument("-c", "--config", metavar="YAML",
                   help="PaddleClas-style config: Arch, Global.image_shape"
                        + (", Global.pretrained_model" if weights else ""))
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (with -c), e.g. -o Arch.class_num=10")
    p.add_argument("--num-classes", type=int, default=None, metavar="N",
                   help="classifier outputs (default: config Arch.class_num or 1000)")
    p.add_argument("--in-channels", type=int, default=None, metavar="C",
                   help="input channels, 1 for grayscale (default: config or 3)")
    p.add_argument("--input-size", default=None, metavar="S|HxW|CxHxW",
                   help="input size: 224, 299x299 or 1x64x64 (default: config "
                        "Global.image_shape or the model's default)")
    if weights:
        p.add_argument("--weights", "-w", default=None, metavar="PATH",
                       help="weights: a .pdparams file or a checkpoint directory "
                            "(output/<model>/best); default: config Global.pretrained_model")
    return p


def parse_input_size(text) -> tuple:
    """'224' -> (224, 224); '299x320' -> (299, 320); '1x64x64' -> (1, 64, 64).

    Tuples/lists/ints pass through (ints become (s, s)). Raises ToolError on bad input.
    """
    if text is None:
        return None
    if isinstance(text, int) and not isinstance(text, bool):
        vals = [text, text]
    elif isinstance(text, (list, tuple)):
        vals = list(text)
    else:
        parts = [t for t in re.split(r"[x,\s*]+", str(text).strip().lower()) if t]
        try:
            vals = [int(t) for t in parts]
        except ValueError:
            vals = []
        if len(vals) == 1:
            vals = vals * 2
    if len(vals) not in (2, 3) or not all(isinstance(v, int) and v > 0 for v in vals):
        raise ToolError(f"--input-size: expected S, HxW or CxHxW with positive integers "
                        f"(e.g. 224, 299x299, 1x64x64), got {text!r}")
    return tuple(vals)


class ModelSpec:
    """What a tool needs to build a model: name, constructor kwargs, input shape, config."""

    def __init__(self, name, kwargs, input_shape, cfg=None, weights=None):
        self.name = name                    # registry name
        self.kwargs = dict(kwargs)          # num_classes, in_channels, other Arch kwargs
        self.input_shape = tuple(input_shape) if input_shape else None   # (C, H, W) or None
        self.cfg = cfg                      # the loaded config (or None)
        self.weights = weights              # weights path or None

    def __repr__(self):
        return (f"ModelSpec({self.name!r}, kwargs={self.kwargs}, input_shape={self.input_shape},"
                f" weights={self.weights!r})")


def _load_config(path, overrides):
    from .config import ConfigError, load_config
    try:
        return load_config(path, overrides)
    except FileNotFoundError as e:
        raise ToolError(f"config file not found: {e.filename or path}") from None
    except ConfigError as e:
        raise ToolError(str(e)) from None


def resolve_model_spec(args) -> ModelSpec:
    """Turn parsed `add_model_args` arguments into a ModelSpec (no model built yet)."""
    from .ppcls import resolve_arch_name
    from .registry import get_model_cfg
    cfg = None
    if getattr(args, "config", None):
        cfg = _load_config(args.config, args.override)
        arch = dict(cfg["Arch"])
        name = resolve_arch_name(arch.pop("name"))
        class_num = arch.pop("class_num", None)
        arch.pop("pretrained", None)
        kwargs = dict(arch)
        if class_num is not None:
            kwargs.setdefault("num_classes", int(class_num))
        shape = (cfg.get("Global") or {}).get("image_shape")
        input_shape = tuple(int(s) for s in shape) if shape else None
        if input_shape:
            kwargs.setdefault("in_channels", input_shape[0])
        weights = (cfg.get("Global") or {}).get("pretrained_model")
    else:
        if getattr(args, "override", None):
            raise ToolError("-o/--override needs a config (-c); with --model use "
                            "--num-classes / --in-channels / --input-size")
        name = resolve_arch_name(args.model)
        kwargs, input_shape, weights = {}, None, None
    try:
        default = get_model_cfg(name)
    except ValueError as e:
        raise ToolError(str(e)) from None
    name = default["name"]
    if args.num_classes is not None:
        if args.num_classes < 0:
            raise ToolError(f"--num-classes: must be >= 0, got {args.num_classes}")
        kwargs["num_classes"] = args.num_classes
    if args.in_channels is not None:
        if args.in_channels < 1:
            raise ToolError(f"--in-channels: must be >= 1, got {args.in_channels}")
        kwargs["in_channels"] = args.in_channels
    size = parse_input_size(args.input_size)
    if size is not None:
        if len(size) == 3:
            if args.in_channels is not None and size[0] != args.in_channels:
                raise ToolError(f"--input-size {args.input_size} has {size[0]} channels but "
                                f"--in-channels is {args.in_channels}")
            kwargs["in_channels"] = size[0]
            input_shape = size
        else:
            input_shape = (kwargs.get("in_channels", default["in_channels"]),) + size
    if input_shape is None:
        c = kwargs.get("in_channels", default["in_channels"])
        input_shape = (c,) + tuple(default["input_size"][1:])
    elif input_shape[0] != kwargs.get("in_channels", input_shape[0]):
        input_shape = (kwargs["in_channels"],) + tuple(input_shape[1:])
    if getattr(args, "weights", None):
        weights = args.weights
    return ModelSpec(name, kwargs, input_shape, cfg, weights)


def build_model(spec: ModelSpec, fresh_names: bool = False):
    """Create the model of `spec` (eval mode). `fresh_names`: restart Paddle's layer-name
    counters, so that paddle.summary numbers the layers from 1 as in a fresh process."""
    import paddle
    from .registry import create_model
    try:
        if fresh_names:
            with paddle.utils.unique_name.guard():
                model = create_model(spec.name, **spec.kwargs)
        else:
            model = create_model(spec.name, **spec.kwargs)
    except TypeError as e:
        raise ToolError(f"{spec.name}: bad model argument ({e})") from None
    model.eval()
    return model


def load_model_weights(model, path: str) -> str:
    """Strictly load weights (a .pdparams file or a checkpoint dir); returns the file used.

    Unlike fine-tuning, inference and export refuse weights that do not fit the model (a
    classifier for another class count would silently give random predictions).
    """
    import paddle
    from .engine.checkpoint import resolve_checkpoint
    p = os.fspath(path)
    if os.path.isdir(p):
        try:
            p = os.path.join(resolve_checkpoint(p), "model.pdparams")
        except FileNotFoundError:
            raise ToolError(f"--weights: no model.pdparams in directory {path!r} (expected a "
                            f"checkpoint directory such as output/<model>/best)") from None
    elif not p.endswith(".pdparams") and os.path.isfile(p + ".pdparams"):
        p = p + ".pdparams"
    if not os.path.isfile(p):
        raise ToolError(f"--weights: file not found: {p!r}")
    try:
        state = paddle.load(p)
    except Exception as e:   # a corrupt/truncated file: pickle, zip or OS errors
        raise ToolError(f"--weights: cannot read {p!r} ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict):
        raise ToolError(f"--weights: {p!r} does not hold a state dict")
    own = model.state_dict()
    bad = [f"{k}: file {list(v.shape)} vs model {list(own[k].shape)}"
           for k, v in state.items() if k in own and list(v.shape) != list(own[k].shape)]
    missing = [k for k in own if k not in state]
    if bad or missing:
        detail = "; ".join(bad[:3] + ([f"missing {missing[:5]}"] if missing else []))
        raise ToolError(f"--weights: {p} does not fit model {getattr(model, 'model_name', '')} "
                        f"({len(bad)} shape mismatches, {len(missing)} missing keys: {detail}); "
                        f"check --num-classes / --in-channels / the model name")
    unexpected = [k for k in state if k not in own]
    if unexpected:
        logger.warning("--weights: %d keys in %s are not used by the model: %s", len(unexpected),
                       p, unexpected[:5])
    model.set_state_dict({k: v for k, v in state.items() if k in own})
    return p
