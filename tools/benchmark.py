"""python tools/benchmark.py [--quick] [--models googlenet,inception_v3,inception_v4]
[--tasks infer,export,onnx,train,data] [--batch 16] [--threads 2] [--iters N --warmup M] [--json]

Images/s of our models against PaddleClas / torchvision / timm on the same inputs; see
paddle_inception/benchmark.py for what is measured and how.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddle_inception.benchmark import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
