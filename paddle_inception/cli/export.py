"""`paddle-inception export` (tools/export_model.py): paddle.jit.save of the main-logits
network (aux heads dropped; input [None, C, H, W]) for Paddle Inference, optionally ONNX, and
a parity check of the exported model against the eager one."""

from __future__ import annotations

import argparse
import os
import sys

from ..data.classmap import default_class_map_path, load_class_map, run_class_map_path
from ..deploy.export import check_export, export_inference_model, export_onnx
from ..deploy.preprocess import config_transform_ops
from . import common

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = common.command_parser(
        "export",
        "Export a model for Paddle Inference (paddle.jit.save of the main-logits "
        "network: aux heads dropped; input [None, C, H, W]) and optionally to ONNX.",
    )
    common.add_model_args(p, weights=True)
    p.add_argument(
        "--output-dir",
        "--save-dir",
        dest="output_dir",
        default=None,
        metavar="DIR",
        help="where to write inference.json/.pdiparams/_meta.json "
        "(default: config Global.save_inference_dir, else ./inference/<model>)",
    )
    p.add_argument(
        "--prefix-name",
        default="inference",
        help="file name prefix inside the output dir (default: inference)",
    )
    p.add_argument("--softmax", action="store_true", help="append a softmax to the network")
    p.add_argument(
        "--class-map",
        default=None,
        metavar="FILE",
        help="'class_id name' file whose names are recorded in the _meta.json "
        "(default: as tools/infer.py chooses it)",
    )
    p.add_argument(
        "--onnx",
        action="store_true",
        help="also convert to ONNX with paddle2onnx (<dir>/<prefix>.onnx)",
    )
    p.add_argument("--opset", type=int, default=11, help="ONNX opset (default 11)")
    p.add_argument(
        "--no-check",
        action="store_true",
        help="skip the parity check of the exported model against the eager one",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="max |exported - eager| the check accepts (default 1e-4)",
    )
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    common.setup_tool_logging()
    common.configure_cpu_quietly()
    return common.run_tool(_export, args)


def _export(args) -> int:
    spec = common.resolve_model_spec(args)
    model = common.build_model(spec)
    if spec.weights:
        used = common.load_model_weights(model, spec.weights, trusted=args.trusted_weights)
        common.logger.info("weights: %s", used)
    else:
        common.logger.warning(
            "no --weights (nor Global.pretrained_model): exporting randomly initialised weights"
        )
    out_dir = args.output_dir
    if out_dir is None:
        out_dir = (
            ((spec.cfg or {}).get("Global") or {}).get("save_inference_dir") if spec.cfg else None
        )
        out_dir = out_dir or os.path.join("inference", spec.name)
    prefix = os.path.join(out_dir, args.prefix_name)
    transforms = class_names = None
    if spec.cfg and not args.input_size:
        transforms = config_transform_ops(spec.cfg)
    # a run's class names (class_names.txt next to its weights or config) go into _meta.json
    map_path = (
        args.class_map
        or run_class_map_path(spec.weights, args.config, num_classes=model.num_classes)
        or default_class_map_path(model.num_classes, spec.cfg)
    )
    if map_path:
        cmap = load_class_map(map_path)
        class_names = [cmap.get(i, str(i)) for i in range(model.num_classes)]
    res = export_inference_model(
        model,
        prefix,
        spec.input_shape,
        softmax=args.softmax,
        transforms=transforms,
        class_names=class_names,
    )
    print(
        f"exported {spec.name} ({'softmax' if args.softmax else 'logits'}, input "
        f"{res['input_spec']}) to {res['program']} + {res['params']} "
        f"(+ {os.path.basename(res['meta'])})"
    )
    onnx_path = export_onnx(prefix, opset=args.opset) if args.onnx else None
    if onnx_path:
        print(f"exported ONNX (opset {args.opset}) to {onnx_path}")
    if not args.no_check:
        check = check_export(model, prefix, softmax=args.softmax, onnx_path=onnx_path)
        diffs = {k: v for k, v in check.items() if k.startswith("max_abs_diff")}
        print(
            "check (random batch of 2, eager vs exported): "
            + ", ".join(f"{k[len('max_abs_diff_') :]} max |diff| {v:.2e}" for k, v in diffs.items())
        )
        worst = max(diffs.values())
        if worst > args.tolerance:
            return common.error_exit(
                f"exported model differs from the eager one by {worst:.2e} "
                f"(> --tolerance {args.tolerance})",
                1,
            )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
