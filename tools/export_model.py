"""python tools/export_model.py -c configs/imagenet/googlenet.yaml [-o Global.pretrained_model=...]
python tools/export_model.py --model googlenet --weights output/googlenet/best
    --output-dir inference/googlenet [--softmax] [--onnx]

paddle.jit.save of the main-logits network (aux heads dropped) for Paddle Inference, input
[None, C, H, W]; optional ONNX through paddle2onnx. Checks the export against the eager model.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddle_inception.export import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
