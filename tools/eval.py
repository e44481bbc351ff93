"""python tools/eval.py -c configs/googlenet.yaml \
    -o Global.pretrained_model=output/googlenet_bn/best

The same command as `paddle-inception eval ...` (paddle_inception/cli/eval.py).
"""

import sys

from paddle_inception.cli.eval import main

if __name__ == "__main__":
    sys.exit(main())
