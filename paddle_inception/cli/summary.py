"""`paddle-inception summary` (tools/summary.py): a model's paddle.summary table, MACs/FLOPs,
trainable vs non-trainable parameters and stage table; or one line per registered model."""

from __future__ import annotations

import argparse
import json
import sys

from ..analysis.summary import (
    BLOCK_NAME,
    format_all,
    format_report,
    summarize,
    summarize_all,
)
from ..registry import list_models
from . import common

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = common.command_parser(
        "summary",
        "Print a model's paddle.summary table, MACs/FLOPs, trainable vs "
        "non-trainable parameters and its stage table; or (--all) one line per "
        f"registered model. --model {BLOCK_NAME} gives seed 002's Inception block.",
    )
    common.add_model_args(p, weights=False, required=False)
    p.add_argument(
        "--all",
        action="store_true",
        help="one line per registered model (params, MACs, input and min size)",
    )
    p.add_argument("--list", action="store_true", help="list the registered model names")
    p.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help="output format (markdown: --all only)",
    )
    p.add_argument(
        "--no-table", action="store_true", help="skip the per-layer table (numbers and stages only)"
    )
    p.add_argument(
        "--backend",
        choices=("auto", "paddle", "hooks"),
        default="auto",
        help="table backend: paddle.summary, our hooks, or auto (paddle.summary, "
        "hooks if it fails)",
    )
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.list:
            print("\n".join(list_models() + [BLOCK_NAME]))
            return 0
        if args.all:
            if args.model or args.config:
                raise common.ToolError("--all summarises every registered model; drop --model / -c")
            size = common.parse_input_size(args.input_size)
            print(format_all(summarize_all(input_size=size), args.format))
            return 0
        if args.format == "markdown":
            raise common.ToolError("--format markdown is for --all; use text or json")
        if not (args.model or args.config):
            raise common.ToolError("give --model NAME, -c config.yaml, --all or --list")
        if args.model == BLOCK_NAME:
            if args.num_classes is not None or args.in_channels is not None:
                raise common.ToolError(
                    f"{BLOCK_NAME} has no classifier and takes 192 input channels"
                )
            size = common.parse_input_size(args.input_size) or (192, 224, 224)
            shape = size if len(size) == 3 else (192,) + size
            if shape[0] != 192:
                raise common.ToolError(f"{BLOCK_NAME} takes 192 input channels, got {shape[0]}")
            info = summarize(BLOCK_NAME, shape, table=not args.no_table, backend=args.backend)
        else:
            spec = common.resolve_model_spec(args)
            model = common.build_model(spec, fresh_names=True)
            info = summarize(model, spec.input_shape, table=not args.no_table, backend=args.backend)
            info["model"] = spec.name
    except ValueError as e:  # arguments, model construction, a size below the minimum...
        return common.error_exit(str(e))
    if args.format == "json":
        print(json.dumps(info, indent=1))
    else:
        print(format_report(info))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
