"""What every command shares: errors, logging, CPU set-up, config loading, model arguments.

A tool names its model either with `--model NAME` (a registry or PaddleClas name) or with
`-c config.yaml` (the `Arch` section, `Global.image_shape` and, for weights,
`Global.pretrained_model`); `--num-classes`, `--in-channels` and `--input-size` override both.
This is the only layer that configures logging handlers and process-wide CPU settings.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import re
import sys

from .. import models as _zoo  # noqa: F401  (the zoo registers itself; --model needs it)
from .._util import package_path
from ..config import ConfigError, load_config
from ..config.schema import MAX_CLASSES, MAX_IMAGE_SIDE
from ..registry import arch_kwargs, create_model, get_model_cfg, resolve_name
from ..runtime import configure_cpu
from ..weights import load_weights

__all__ = [
    "ToolError",
    "setup_logging",
    "setup_tool_logging",
    "configure_cpu_quietly",
    "load_tool_config",
    "resolve_config_path",
    "command_parser",
    "add_config_args",
    "add_model_args",
    "parse_input_size",
    "ModelSpec",
    "resolve_model_spec",
    "build_model",
    "load_model_weights",
    "error_exit",
    "run_tool",
    "run_guarded",
    "describe_exception",
    "logger",
]

#: the package's logger (every module logs under "paddle_inception.*")
package_logger = logging.getLogger("paddle_inception")
#: the tools' own progress messages
logger = logging.getLogger("paddle_inception.tools")


class ToolError(ValueError):
    """A user-facing error of a tool (bad argument, missing file): printed without traceback."""


class _ConsoleHandler(logging.StreamHandler):
    """Writes to the current sys.stdout or sys.stderr (looked up at each record, so that
    redirections made after set-up, as pytest's capsys does, are honoured)."""

    def __init__(self, stream_name: str):
        super().__init__()
        self.stream_name = stream_name

    @property
    def stream(self):
        return getattr(sys, self.stream_name)

    @stream.setter
    def stream(self, value):
        pass


def setup_logging(stream: str = "stdout", level=logging.INFO) -> None:
    """Print the package's log records on the console: stdout for training and evaluation,
    stderr for tools whose stdout carries results (text or JSON). Replaces a handler set up
    before, so calling it again switches the stream."""
    package_logger.setLevel(level)
    for h in [h for h in package_logger.handlers if isinstance(h, _ConsoleHandler)]:
        package_logger.removeHandler(h)
    h = _ConsoleHandler(stream)
    h.setFormatter(
        logging.Formatter("[%(asctime)s] %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    package_logger.addHandler(h)
    package_logger.propagate = False


def setup_tool_logging(level=logging.INFO) -> None:
    """`setup_logging` on stderr (inspection and deployment tools)."""
    setup_logging("stderr", level)


def configure_cpu_quietly(verbose: bool = True) -> dict:
    """`runtime.configure_cpu()`; its log lines shown only when `verbose`."""
    rt_logger = logging.getLogger("paddle_inception.runtime")
    saved = rt_logger.level
    if not verbose:
        rt_logger.setLevel(logging.CRITICAL)
    try:
        return configure_cpu()
    finally:
        rt_logger.setLevel(saved)


def resolve_config_path(path: str) -> str:
    """`path` as given when it exists; else the config of that name shipped with the package
    (`-c googlenet.yaml` or `-c configs/googlenet.yaml` work after a pip install, outside a
    checkout); else `path` (so the error names what the user typed)."""
    p = os.fspath(path)
    if os.path.exists(p):
        return p
    rel = p[len("configs/") :] if p.startswith("configs/") else p
    packaged = package_path("configs", *rel.split("/"))
    return packaged if os.path.isfile(packaged) else p


def load_tool_config(path: str, overrides=()) -> dict:
    """`load_config` for a command line: the packaged configs are found by name, problems
    become a ToolError (one message, no traceback)."""
    try:
        return load_config(resolve_config_path(path), overrides)
    except FileNotFoundError as e:
        raise ToolError(f"config file not found: {e.filename or path}") from None
    except ConfigError as e:
        raise ToolError(str(e)) from None


def command_parser(command: str, description: str, **kwargs) -> argparse.ArgumentParser:
    """The parser of `paddle-inception <command>` (and of its tools/*.py wrapper), with
    `--verbose` listed: the command line's entry takes it out of the arguments before they are
    parsed (`run_guarded`) and shows Paddle's warnings, its log lines and tracebacks."""
    p = argparse.ArgumentParser(
        prog=f"paddle-inception {command}", description=description, **kwargs
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show Paddle's own warnings and log lines, and the traceback of an unexpected error",
    )
    return p


def add_config_args(p: argparse.ArgumentParser, required: bool = True):
    """-c/--config and repeatable -o overrides (train, eval)."""
    p.add_argument(
        "-c",
        "--config",
        required=required,
        metavar="YAML",
        help="PaddleClas-style YAML config (a path, or the name of a config shipped "
        "with the package, e.g. googlenet.yaml)",
    )
    _add_overrides(
        p, "e.g. -o Global.epochs=2 -o DataLoader.Train.sampler.batch_size=64 (repeatable)"
    )
    return p


def _add_overrides(p: argparse.ArgumentParser, example: str) -> None:
    p.add_argument(
        "-o",
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config value, {example}",
    )


def error_exit(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def add_model_args(p: argparse.ArgumentParser, weights: bool = False, required: bool = True):
    """--model / -c (one of them), -o overrides, --num-classes, --in-channels, --input-size."""
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument(
        "--model",
        "-m",
        metavar="NAME",
        help="registered model name, e.g. googlenet (list: tools/summary.py --list)",
    )
    g.add_argument(
        "-c",
        "--config",
        metavar="YAML",
        help="PaddleClas-style config: Arch, Global.image_shape"
        + (", Global.pretrained_model" if weights else ""),
    )
    _add_overrides(p, "with -c, e.g. -o Arch.class_num=10")
    p.add_argument(
        "--num-classes",
        type=int,
        default=None,
        metavar="N",
        help="classifier outputs (default: config Arch.class_num or 1000)",
    )
    p.add_argument(
        "--in-channels",
        type=int,
        default=None,
        metavar="C",
        help="input channels, 1 for grayscale (default: config or 3)",
    )
    p.add_argument(
        "--input-size",
        default=None,
        metavar="S|HxW|CxHxW",
        help="input size: 224, 299x299 or 1x64x64 (default: config "
        "Global.image_shape or the model's default)",
    )
    if weights:
        p.add_argument(
            "--weights",
            "-w",
            default=None,
            metavar="PATH",
            help="weights: a .pdparams file or a checkpoint directory "
            "(output/<model>/best); default: config Global.pretrained_model",
        )
        p.add_argument(
            "--trusted-weights",
            action="store_true",
            help="read --weights with Paddle's full unpickler (paddle.load), for a "
            "trusted legacy file the safe loader refuses: a pickle can run code",
        )
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
        raise ToolError(
            f"--input-size: expected S, HxW or CxHxW with positive integers "
            f"(e.g. 224, 299x299, 1x64x64), got {text!r}"
        )
    if max(vals) > MAX_IMAGE_SIDE:  # as Global.image_shape: a typo, not a GB allocation
        raise ToolError(f"--input-size: each side must be <= {MAX_IMAGE_SIDE}, got {text!r}")
    return tuple(vals)


class ModelSpec:
    """What a tool needs to build a model: name, constructor kwargs, input shape, config."""

    def __init__(self, name, kwargs, input_shape, cfg=None, weights=None):
        self.name = name  # registry name
        self.kwargs = dict(kwargs)  # num_classes, in_channels, other Arch kwargs
        self.input_shape = tuple(input_shape) if input_shape else None  # (C, H, W) or None
        self.cfg = cfg  # the loaded config (or None)
        self.weights = weights  # weights path or None

    def __repr__(self):
        return (
            f"ModelSpec({self.name!r}, kwargs={self.kwargs}, input_shape={self.input_shape},"
            f" weights={self.weights!r})"
        )


def resolve_model_spec(args) -> ModelSpec:
    """Turn parsed `add_model_args` arguments into a ModelSpec (no model built yet)."""
    cfg = None
    if getattr(args, "config", None):
        cfg = load_tool_config(args.config, args.override)
        shape = (cfg.get("Global") or {}).get("image_shape")
        input_shape = tuple(int(s) for s in shape) if shape else None
        try:
            name, kwargs = arch_kwargs(cfg["Arch"], input_shape)
        except ValueError as e:
            raise ToolError(f"Arch.name: {e}") from None
        weights = (cfg.get("Global") or {}).get("pretrained_model")
    else:
        if getattr(args, "override", None):
            raise ToolError(
                "-o/--override needs a config (-c); with --model use "
                "--num-classes / --in-channels / --input-size"
            )
        try:
            name = resolve_name(args.model)
        except ValueError as e:
            raise ToolError(f"--model: {e}") from None
        kwargs, input_shape, weights = {}, None, None
    default = get_model_cfg(name)
    name = default["name"]
    if args.num_classes is not None:
        if not 0 <= args.num_classes <= MAX_CLASSES:
            raise ToolError(f"--num-classes: must be in 0..{MAX_CLASSES:,}, got {args.num_classes}")
        kwargs["num_classes"] = args.num_classes
    if args.in_channels is not None:
        if args.in_channels < 1:
            raise ToolError(f"--in-channels: must be >= 1, got {args.in_channels}")
        kwargs["in_channels"] = args.in_channels
    size = parse_input_size(args.input_size)
    if size is not None:
        if len(size) == 3:
            if args.in_channels is not None and size[0] != args.in_channels:
                raise ToolError(
                    f"--input-size {args.input_size} has {size[0]} channels but "
                    f"--in-channels is {args.in_channels}"
                )
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


def load_model_weights(model, path: str, trusted: bool = False) -> str:
    """Strictly load weights (a .pdparams file or a checkpoint dir); returns the file used.

    Unlike fine-tuning, inference and export refuse weights that do not fit the model (a
    classifier for another class count would silently give random predictions)."""
    return load_weights(model, path, mode="strict", trusted=trusted, what="--weights")["file"]


def _os_error_line(e: OSError) -> str:
    """'PermissionError: /out/x: Permission denied [Errno 13 EACCES]': the path(s) and the errno
    by name, so that a full disk or a read-only folder is recognised at a glance."""
    paths = [os.fsdecode(p) for p in (e.filename, e.filename2) if p is not None]
    where = " -> ".join(paths)
    name = errno.errorcode.get(e.errno, "") if e.errno is not None else ""
    code = f" [Errno {e.errno}{' ' + name if name else ''}]" if e.errno is not None else ""
    text = e.strerror or str(e)
    return f"{type(e).__name__}: {where + ': ' if where else ''}{text}{code}"


def describe_exception(e: BaseException) -> str:
    """The one line the command line prints for an exception no command handled."""
    if isinstance(e, OSError) and (e.errno is not None or e.filename is not None):
        return _os_error_line(e)
    text = " ".join(str(e).split()) or "(no message)"
    if len(text) > 1000:
        text = text[:997] + "..."
    return f"{type(e).__name__}: {text}"


def _tolerant_streams() -> None:
    """Undecodable file names (surrogate escapes of non-UTF-8 bytes) are printed as backslash
    escapes instead of raising UnicodeEncodeError on a UTF-8 (or ASCII) console."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError, AttributeError):
                pass


def run_guarded(fn, argv: list) -> int:
    """Run a command's `main(argv)` with the last-resort handler of the command line: an
    exception that escapes the command's own handlers is one line, `error: <Type>: <message>
    (rerun with --verbose for the traceback)`, and exit status 1; an OSError names its path and
    errno; Ctrl-C is `error: interrupted` and 130. `--verbose` (anywhere before `--`) is taken
    out of `argv` and shows the traceback instead."""
    cut = argv.index("--") if "--" in argv else len(argv)
    verbose = "--verbose" in argv[:cut]
    if verbose:
        argv = [a for a in argv[:cut] if a != "--verbose"] + argv[cut:]
    verbose = verbose or os.environ.get("PADDLE_INCEPTION_VERBOSE", "") not in ("", "0")
    _tolerant_streams()
    try:
        return fn(argv)
    except KeyboardInterrupt:
        if verbose:
            raise
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; nothing more to say
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:
        if verbose:
            raise
        print(
            f"error: {describe_exception(e)} (rerun with --verbose for the traceback)",
            file=sys.stderr,
        )
        return 1


def run_tool(fn, *args, **kwargs) -> int:
    """Run a command's body: a user error (bad argument, config, file, weights; a missing
    optional dependency) is one `error: ...` line on stderr and exit status 2, never a
    traceback. `fn` returns the exit status."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, FileNotFoundError, ImportError) as e:
        return error_exit(str(e))
