"""python tools/convert_weights.py --from {torchvision,timm,paddleclas} --arch NAME SRC DST.pdparams

Converts a peer checkpoint (.pth/.pt, .safetensors, .pdparams) into weights for this package and
writes DST.json (model kwargs + preprocessing) next to DST.pdparams; see paddle_inception.convert.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddle_inception.convert import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
