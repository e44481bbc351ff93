"""python tools/train.py -c configs/googlenet.yaml [-o Section.key=value ...]

The same command as `paddle-inception train ...` (paddle_inception/cli/train.py).
"""

import sys

from paddle_inception.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("train"))
