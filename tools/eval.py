"""python tools/eval.py -c configs/googlenet.yaml \
    -o Global.pretrained_model=output/googlenet_bn/best

The same command as `paddle-inception eval ...` (paddle_inception/cli/eval.py).
"""

import sys

from paddle_inception.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("eval"))
