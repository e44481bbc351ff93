"""The command line: `paddle-inception <command> ...` (console script) and the `tools/*.py`
wrappers. One module per command, each with `build_parser()` and `main(argv)`; `common` holds
what they share. Only this layer parses arguments, prints, sets up logging handlers and
changes process-wide settings (`configure_cpu`)."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings

#: what Paddle and its helpers say at import or on a first call that a user of the command line
#: did not ask for; shown with `--verbose` (or PADDLE_INCEPTION_VERBOSE=1). Library users keep
#: Python's normal warning behaviour: only importing `paddle_inception.cli` installs these.
_PADDLE_NOISE = (
    r"No ccache found",  # paddle.utils.cpp_extension, at `import paddle`
    # paddle.nn.BatchNorm2D.forward, on every train-mode call since Paddle 3.0
    r"When training, we now always track global mean and variance",
    # paddle.Model.train_batch/eval_batch re-wrap the labels its own DataLoader yields as tensors
    r"To copy construct from a tensor",
)


def _verbose_requested(argv) -> bool:
    return "--verbose" in argv or os.environ.get("PADDLE_INCEPTION_VERBOSE", "") not in ("", "0")


def _quiet_by_default() -> None:
    """Before Paddle is imported (the package root imports it lazily): Paddle's glog INFO lines
    ('New Executor is Running') and the warnings above stay out of a command's output."""
    if _verbose_requested(sys.argv[1:]):
        return
    os.environ.setdefault("GLOG_minloglevel", "1")
    for message in _PADDLE_NOISE:
        warnings.filterwarnings("ignore", message=message)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # 'generated new fontManager'


_quiet_by_default()


def _show_everything() -> None:
    """`main([..., "--verbose"])` called in a process that started without it."""
    warnings.filters[:] = [
        f for f in warnings.filters if not (f[1] is not None and f[1].pattern in _PADDLE_NOISE)
    ]
    logging.getLogger("matplotlib").setLevel(logging.NOTSET)


__all__ = ["COMMANDS", "main", "run_command"]

#: command -> (module, one-line description)
COMMANDS = {
    "train": ("train", "train a model as a PaddleClas-style config says"),
    "eval": ("eval", "evaluate trained weights on the config's DataLoader.Eval"),
    "infer": ("infer", "classify images with an eager or an exported model"),
    "export": ("export", "export for Paddle Inference (and ONNX), checked against eager"),
    "quantize": ("quantize", "INT8 / BF16 model for CPU deployment, calibrated, with --eval"),
    "summary": ("summary", "paddle.summary table, MACs, parameters and stages of a model"),
    "convert": ("convert", "convert torchvision / timm / PaddleClas weights"),
    "ppcls": ("ppcls", "run a PaddleClas script with this zoo registered in ppcls.arch"),
    "plot-run": ("plot_run", "draw a run's VisualDL records into one PNG"),
    "fid": ("fid", "FID / KID / Inception Score of image folders or .npz statistics"),
}

_USAGE = (
    "usage: paddle-inception <command> [options]\n\ncommands:\n"
    + "".join(f"  {name:<8} {desc}\n" for name, (_, desc) in COMMANDS.items())
    + "\n'paddle-inception <command> --help' describes a command's options.\n"
    "'--verbose' with any command shows the traceback of an unexpected error."
)


def main(argv=None) -> int:
    """`paddle-inception <command> [options]`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_USAGE)
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from .._version import __version__

        print(f"paddle-inception {__version__}")
        return 0
    if _verbose_requested(argv):
        _show_everything()
    command = argv[0]
    if command not in COMMANDS:
        from .._util import did_you_mean

        print(
            f"error: unknown command {command!r}{did_you_mean(command, COMMANDS)}\n\n{_USAGE}",
            file=sys.stderr,
        )
        return 2
    return run_command(COMMANDS[command][0], argv[1:])


def run_command(module: str, argv=None) -> int:
    """`main(argv)` of the command module `cli/<module>.py` behind the command line's last-resort
    handler (`common.run_guarded`): the `tools/*.py` wrappers."""
    from .common import run_guarded

    def command(args):  # imported inside the handler: a failing import is one line too
        return importlib.import_module(f"{__name__}.{module}").main(args)

    return run_guarded(command, list(sys.argv[1:] if argv is None else argv))
