"""python tools/summary.py --model googlenet | -c configs/imagenet/googlenet.yaml | --all

Prints the paddle.summary table, MACs/FLOPs, trainable vs non-trainable parameters and the
stage table of a model (--format json for scripts); --all: one line per registered model.

The same command as `paddle-inception summary ...` (paddle_inception/cli/summary.py).
"""

import sys

from paddle_inception.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("summary"))
