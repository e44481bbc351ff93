"""`paddle-inception plot-run LOGDIR -o docs/main_job.png` (tools/plot_run.py): the README
figure from a training run's VisualDL records: loss curves, eval accuracy per epoch and the last
epoch's confusion matrix. Prints the numbers it drew as JSON."""

from __future__ import annotations

import argparse
import json
import sys

from ..analysis.run_figure import plot_run
from . import common

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = common.command_parser(
        "plot-run",
        "Draw a run's VisualDL records (loss, eval accuracy, confusion matrix) "
        "into one PNG; prints the numbers drawn as JSON.",
    )
    p.add_argument("logdir", help="the run's VisualDL folder (<output_dir>/<Arch.name>/vdl)")
    p.add_argument("-o", "--output", default="docs/main_job.png", help="PNG to write")
    p.add_argument("--title", default=None, help="figure title")
    return p


def _plot(args) -> int:
    print(json.dumps(plot_run(args.logdir, args.output, args.title)))
    return 0


def main(argv=None) -> int:
    return common.run_tool(_plot, build_parser().parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
