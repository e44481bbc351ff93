"""python tools/infer.py --model googlenet --weights output/googlenet/best img.jpg dir/ list.txt
python tools/infer.py -c configs/googlenet.yaml
    -o Global.pretrained_model=output/googlenet_bn/best shirt.png
python tools/infer.py --inference-model inference/googlenet images/ --format json

Top-k class ids, names (class-id map file) and scores per image; exit status 1 if any failed.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddle_inception.infer import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
