"""python tools/eval.py -c configs/googlenet.yaml -o Global.pretrained_model=output/googlenet_bn/best"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddle_inception.cli import eval_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(eval_main())
