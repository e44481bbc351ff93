"""python tools/export_model.py -c configs/imagenet/googlenet.yaml [-o Global.pretrained_model=...]
python tools/export_model.py --model googlenet --weights output/googlenet/best
    --output-dir inference/googlenet [--softmax] [--onnx]

paddle.jit.save of the main-logits network (aux heads dropped) for Paddle Inference, input
[None, C, H, W]; optional ONNX through paddle2onnx. Checks the export against the eager model.

The same command as `paddle-inception export ...` (paddle_inception/cli/export.py).
"""

import sys

from paddle_inception.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("export"))
