"""The command line: `paddle-inception <command> ...` (console script) and the `tools/*.py`
wrappers. One module per command, each with `build_parser()` and `main(argv)`; `common` holds
what they share. Only this layer parses arguments, prints, sets up logging handlers and
changes process-wide settings (`configure_cpu`)."""

from __future__ import annotations

import importlib
import sys

__all__ = ["COMMANDS", "main", "train_main", "eval_main"]

#: command -> (module, one-line description)
COMMANDS = {
    "train": ("train", "train a model as a PaddleClas-style config says"),
    "eval": ("eval", "evaluate trained weights on the config's DataLoader.Eval"),
    "infer": ("infer", "classify images with an eager or an exported model"),
    "export": ("export", "export for Paddle Inference (and ONNX), checked against eager"),
    "summary": ("summary", "paddle.summary table, MACs, parameters and stages of a model"),
    "convert": ("convert", "convert torchvision / timm / PaddleClas weights"),
    "ppcls": ("ppcls", "run a PaddleClas script with this zoo registered in ppcls.arch"),
    "plot-run": ("plot_run", "draw a run's VisualDL records into one PNG"),
}

_USAGE = (
    "usage: paddle-inception <command> [options]\n\ncommands:\n"
    + "".join(f"  {name:<8} {desc}\n" for name, (_, desc) in COMMANDS.items())
    + "\n'paddle-inception <command> --help' describes a command's options."
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
    command = argv[0]
    if command not in COMMANDS:
        from .._util import did_you_mean

        print(
            f"error: unknown command {command!r}{did_you_mean(command, COMMANDS)}\n\n{_USAGE}",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(f"{__name__}.{COMMANDS[command][0]}")
    return module.main(argv[1:])


def train_main(argv=None) -> int:
    """`paddle-inception train` (kept under its earlier name)."""
    from .train import main as train

    return train(argv)


def eval_main(argv=None) -> int:
    """`paddle-inception eval` (kept under its earlier name)."""
    from .eval import main as evaluate

    return evaluate(argv)
