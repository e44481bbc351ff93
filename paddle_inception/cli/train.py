"""`paddle-inception train` (tools/train.py): train as a PaddleClas-style config says."""

from __future__ import annotations

import argparse
import sys

from ..engine.callbacks import TrainingDiverged
from ..engine.trainer import train
from .common import (
    add_config_args,
    configure_cpu_quietly,
    error_exit,
    load_tool_config,
    setup_logging,
)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    return add_config_args(
        argparse.ArgumentParser(
            prog="paddle-inception train",
            description="Train an Inception-family model (paddle.Model.fit) as a PaddleClas-style "
            "YAML config says.",
        )
    )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("stdout")
    try:
        cfg = load_tool_config(args.config, args.override)
        configure_cpu_quietly()
        train(cfg)
    except TrainingDiverged as e:
        return error_exit(str(e), 1)
    except (ValueError, FileNotFoundError) as e:
        return error_exit(str(e))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
