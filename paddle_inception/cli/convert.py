"""`paddle-inception convert` (tools/convert_weights.py): a torchvision / timm / PaddleClas /
pytorch-fid checkpoint into weights for this zoo plus the sidecar with model options and
preprocessing."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from ..convert.api import convert_checkpoint
from ..convert.mappings import SUPPORTED
from ..convert.readers import ConversionError, UnsafeCheckpointError
from ..models.pretrained import sidecar_path
from . import common

__all__ = ["build_parser", "main"]


def _bool(text: str):
    t = text.lower()
    if t in ("auto", ""):
        return None
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true / false / auto, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = common.command_parser(
        "convert",
        "Convert a torchvision / timm / PaddleClas checkpoint (.pth/.pt, "
        ".safetensors, .pdparams) into paddle_inception weights (DST.pdparams) "
        "plus a sidecar DST.json with the model kwargs and preprocessing.",
        epilog="supported: "
        + "; ".join(f"--from {s}: {', '.join(a)}" for s, a in SUPPORTED.items())
        + ". Load the result with paddle_inception.models.load_converted(DST).",
    )
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        choices=sorted(SUPPORTED),
        help="framework the checkpoint comes from",
    )
    p.add_argument(
        "--arch",
        default=None,
        help="the peer's model name (timm may carry a tag: inception_v3.gluon_in1k); "
        "optional where the source has one (pytorch-fid: fid_inception_v3)",
    )
    p.add_argument("src", help="input checkpoint")
    p.add_argument("dst", help="output .pdparams (the sidecar goes next to it as .json)")
    p.add_argument(
        "--tag",
        default=None,
        help="timm pretrained tag, picks the preprocessing (e.g. tf_in1k, gluon_in1k)",
    )
    p.add_argument(
        "--transform-input",
        type=_bool,
        default=None,
        metavar="{auto,true,false}",
        help="torchvision only: build with transform_input (auto: true, as the "
        "published torchvision weights, with a warning; false for a model trained from scratch, "
        "torchvision's default with weights=None)",
    )
    p.add_argument(
        "--no-aux", dest="drop_aux", action="store_true", help="leave the auxiliary classifiers out"
    )
    p.add_argument(
        "--ema",
        dest="use_ema",
        action="store_true",
        help="use the EMA weights of a timm training checkpoint (state_dict_ema)",
    )
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.arch is None:
        if len(SUPPORTED[args.source]) != 1:
            parser.error(f"--from {args.source} needs --arch ({', '.join(SUPPORTED[args.source])})")
        args.arch = SUPPORTED[args.source][0]
    try:
        res = convert_checkpoint(
            args.src,
            args.dst,
            args.source,
            args.arch,
            tag=args.tag,
            transform_input=args.transform_input,
            drop_aux=args.drop_aux,
            use_ema=args.use_ema,
        )
    except (ConversionError, UnsafeCheckpointError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    n = sum(int(np.prod(v.shape)) for v in res.state_dict.values())
    print(
        f"wrote {args.dst} ({len(res.state_dict)} tensors, {n:,} values) and "
        f"{sidecar_path(args.dst)}"
    )
    kwargs = ", ".join(f"{k}={v!r}" for k, v in res.model_kwargs.items())
    print(f"model: create_model({res.arch!r}, {kwargs})")
    print(f"preprocessing: {json.dumps(res.preprocessing)}")
    for note in res.notes:
        print(f"note: {note}")
    for warning in res.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
