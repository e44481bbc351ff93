"""`paddle-inception train` (tools/train.py): train as a PaddleClas-style config says."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from ..engine.callbacks import TrainingDiverged
from ..engine.memory import check_training_memory
from ..engine.trainer import train
from . import common
from .folder_config import FOLDER_CONFIG, add_folder_args, folder_config

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = common.add_config_args(
        common.command_parser(
            "train",
            "Train an Inception-family model (paddle.Model.fit) as a PaddleClas-style "
            "YAML config says (-c), or fine-tune one on a folder of images (--data DIR "
            "--model NAME --weights W.pdparams; docs/finetune.md).",
        ),
        required=False,
    )
    return add_folder_args(p)


def _config(args) -> dict:
    """The run's config: -c (with -o), or configs/finetune_folder.yaml filled in by --data."""
    if args.data is not None:
        if args.config:
            raise common.ToolError(
                "give either -c CONFIG or --data DIR (which fills in configs/"
                f"{FOLDER_CONFIG}; use -c {FOLDER_CONFIG} to edit that file instead)"
            )
        return folder_config(args)
    if not args.config:
        raise common.ToolError(
            "give -c CONFIG.yaml, or --data DIR --model NAME [--weights W.pdparams] to "
            "fine-tune on a folder of images"
        )
    return common.load_tool_config(args.config, args.override)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that it unwinds like Ctrl-C: a checkpoint being
    written is abandoned (its temporary directory removed), the run lock released."""


def _raise_terminated(signum, frame):
    raise _Terminated()


def _interrupted_line(cfg: dict | None, args, e: KeyboardInterrupt) -> str:
    """`error: interrupted (SIGINT); the last checkpoint is ...; resume with: ...`."""
    sig = "SIGTERM" if isinstance(e, _Terminated) else "SIGINT"
    return _checkpoint_hint(f"error: interrupted ({sig})", cfg, args)


def _checkpoint_hint(msg: str, cfg: dict | None, args) -> str:
    """`msg` + the run's last checkpoint and the command that resumes from it."""
    if cfg is None:
        return msg
    g = cfg.get("Global") or {}
    root = os.path.join(str(g.get("output_dir", "./output")), str(cfg["Arch"]["name"]))
    latest = os.path.join(root, "latest")
    if os.path.lexists(latest) and os.path.isdir(latest):
        done = os.path.basename(os.path.realpath(latest))
        config = args.config or os.path.join(root, "config.yaml")  # --data: the run's config
        msg += (
            f"; the last checkpoint is {os.path.realpath(latest)} ({done.replace('_', ' ')}); "
            f"resume with: paddle-inception train -c {config} "
            f"-o Global.checkpoints={latest}"
            + (" and the same -o overrides" if args.override else "")
        )
    else:
        msg += "; no checkpoint was written yet"
    return msg


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    common.setup_logging("stdout")
    cfg = None
    # SIGTERM (kill, a scheduler's stop) ends the run like Ctrl-C: one line, exit 128 + 15
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: signals are not ours to handle
        previous = None
    try:
        cfg = _config(args)
        check_training_memory(cfg)  # a batch or image size off by orders of magnitude: one line
        common.configure_cpu_quietly()
        train(cfg)
    except TrainingDiverged as e:
        return common.error_exit(str(e), 1)
    except (ValueError, FileNotFoundError) as e:
        return common.error_exit(str(e))
    except KeyboardInterrupt as e:
        print(_interrupted_line(cfg, args, e), file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(e, _Terminated) else signal.SIGINT)
    except OSError as e:  # a full disk, a read-only or vanished output folder
        line = _checkpoint_hint(f"error: {common.describe_exception(e)}", cfg, args)
        print(line, file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
