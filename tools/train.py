"""python tools/train.py -c configs/googlenet.yaml [-o Section.key=value ...]

The same command as `paddle-inception train ...` (paddle_inception/cli/train.py).
"""

import sys

from paddle_inception.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
