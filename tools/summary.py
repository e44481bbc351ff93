"""python tools/summary.py --model googlenet | -c configs/imagenet/googlenet.yaml | --all

Prints the paddle.summary table, MACs/FLOPs, trainable vs non-trainable parameters and the
stage table of a model (--format json for scripts); --all: one line per registered model.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddle_inception.summary import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
