"""`paddle-inception eval` (tools/eval.py): evaluate trained weights on `DataLoader.Eval`."""

from __future__ import annotations

import argparse
import json
import sys

from ..engine.trainer import evaluate
from . import common

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    return common.add_config_args(
        common.command_parser(
            "eval",
            "Evaluate trained weights (-o Global.pretrained_model=output/<Arch.name>/"
            "best) on the config's DataLoader.Eval; prints the metrics as JSON.",
        )
    )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    common.setup_logging("stdout")
    try:
        cfg = common.load_tool_config(args.config, args.override)
        common.configure_cpu_quietly()
        res = evaluate(cfg)
    except (ValueError, FileNotFoundError) as e:
        return common.error_exit(str(e))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
