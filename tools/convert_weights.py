"""python tools/convert_weights.py --from {torchvision,timm,paddleclas} --arch NAME SRC DST.pdparams

Converts a peer checkpoint (.pth/.pt, .safetensors, .pdparams) into weights for this package and
writes DST.json (model kwargs + preprocessing) next to DST.pdparams; see paddle_inception.convert.

The same command as `paddle-inception convert ...` (paddle_inception/cli/convert.py).
"""

import sys

from paddle_inception.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("convert"))
