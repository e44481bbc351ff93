"""python tools/infer.py --model googlenet --weights output/googlenet/best img.jpg dir/ list.txt
python tools/infer.py -c configs/googlenet.yaml
    -o Global.pretrained_model=output/googlenet_bn/best shirt.png
python tools/infer.py --inference-model inference/googlenet images/ --format json

Top-k class ids, names (class-id map file) and scores per image; exit status 1 if any failed.

The same command as `paddle-inception infer ...` (paddle_inception/cli/infer.py).
"""

import sys

from paddle_inception.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("infer"))
