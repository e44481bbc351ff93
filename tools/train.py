"""python tools/train.py -c configs/googlenet.yaml [-o Section.key=value ...]"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddle_inception.cli import train_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(train_main())
