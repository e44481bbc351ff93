"""`paddle-inception quantize`: INT8 (calibrated) or BF16 model for CPU deployment, from an
FP32 export (`--inference-model`) or from weights (`--model`/`-c`, exported first), with an
optional accuracy check of float vs low precision on an eval set (`--eval`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from ..data.classmap import default_class_map_path, load_class_map
from ..deploy.export import export_inference_model, export_onnx
from ..deploy.files import model_files, read_meta
from ..deploy.imagesets import image_set_from_config, image_set_from_path
from ..deploy.predictor import InferencePredictor
from ..deploy.preprocess import build_preprocess, config_transform_ops, default_transforms
from ..deploy.quantize import CALIB_METHODS, ROUTES, compare_predictors, quantize_export
from ..deploy.runtimes import check_precision, open_predictor
from .common import (
    ToolError,
    add_model_args,
    build_model,
    command_parser,
    configure_cpu_quietly,
    load_model_weights,
    logger,
    resolve_model_spec,
    run_tool,
    setup_tool_logging,
)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "quantize",
        "Post-training INT8 (calibrated on images, as the model preprocesses them) "
        "or BF16 model for CPU deployment, with _meta.json (precision, calibration set, date). "
        "Source: an FP32 export (--inference-model) or weights (--model/-c, --weights).",
    )
    add_model_args(p, weights=True, required=False)
    p.add_argument(
        "--inference-model",
        metavar="PREFIX|DIR",
        help="an FP32 export (tools/export_model.py) to quantize",
    )
    p.add_argument(
        "--output-dir", required=True, metavar="DIR", help="where to write inference.* + meta"
    )
    p.add_argument("--precision", choices=("int8", "bf16"), default="int8")
    p.add_argument(
        "--route",
        choices=ROUTES,
        default="onnxruntime",
        help="INT8 quantizer and runtime: onnxruntime (default: ONNX QDQ, the fastest "
        "measured, docs/deploy.md) or openvino (NNCF, OpenVINO IR)",
    )
    p.add_argument(
        "--calib",
        metavar="DIR|LIST.txt|config",
        default=None,
        help="calibration images: a folder, a list file, or 'config' for the -c config's "
        "Train images with its Eval transforms (default: 'config' with -c)",
    )
    p.add_argument(
        "--num-calib", type=int, default=256, metavar="N", help="calibration images (default 256)"
    )
    p.add_argument("--calib-method", choices=CALIB_METHODS, default="minmax")
    p.add_argument(
        "--eval",
        nargs="?",
        const="config",
        default=None,
        metavar="DIR|LIST.txt|config",
        help="top-1 of float and quantized on a labelled set: a folder of class sub-folders, "
        "a 'path label' list file, or the -c config's Eval set (the default with -c)",
    )
    p.add_argument(
        "--num-eval", type=int, default=None, metavar="N", help="eval images (default: all)"
    )
    p.add_argument("--batch-size", type=int, default=64, help="eval batch size (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the image subsets")
    p.add_argument("--format", choices=("text", "json"), default="text")
    return p


@contextlib.contextmanager
def _quiet_stdout():
    """paddle2onnx prints its progress on stdout from C++ and Python: keep only our lines."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _source_export(args, spec) -> str:
    """The FP32 export's prefix: --inference-model, or a fresh export of the weights."""
    if args.inference_model:
        if args.weights:
            raise ToolError("--weights is for --model/-c; an inference model holds its weights")
        try:
            program, _ = model_files(args.inference_model)
        except FileNotFoundError as e:
            raise ToolError(f"--inference-model: {e}") from None
        return os.path.splitext(program)[0]
    if spec is None:
        raise ToolError("give --inference-model PREFIX, or --model NAME / -c config.yaml")
    model = build_model(spec)
    if spec.weights:
        logger.info("weights: %s", load_model_weights(model, spec.weights, args.trusted_weights))
    else:
        logger.warning("no --weights (nor Global.pretrained_model): quantizing random weights")
    prefix = os.path.join(args.output_dir, "fp32", "inference")
    transforms = config_transform_ops(spec.cfg) if spec.cfg and not args.input_size else None
    map_path = default_class_map_path(model.num_classes, spec.cfg)
    names = None
    if map_path:
        cmap = load_class_map(map_path)
        names = [cmap.get(i, str(i)) for i in range(model.num_classes)]
    export_inference_model(
        model, prefix, spec.input_shape, transforms=transforms, class_names=names
    )
    with _quiet_stdout():
        export_onnx(prefix, opset=13)
    logger.info("FP32 export: %s", prefix)
    return prefix


def _image_set(source: str, cfg, preprocess, n, seed, split: str, what: str):
    if source == "config":
        if cfg is None:
            raise ToolError(f"{what} config: needs -c config.yaml (or give a folder/list file)")
        return image_set_from_config(cfg, split, n, seed, what=what)
    return image_set_from_path(source, preprocess, n, seed, what=what)


def _quantize(args) -> int:
    for name in ("num_calib", "batch_size", "num_eval"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ToolError(f"--{name.replace('_', '-')}: must be >= 1, got {v}")
    spec = resolve_model_spec(args) if (args.model or args.config) else None
    cfg = spec.cfg if spec else None
    check_precision(args.precision)  # before any work: a BF16 request on a CPU without it
    prefix = _source_export(args, spec)
    meta = read_meta(prefix) or {}
    shape = meta.get("input_shape") or (list(spec.input_shape) if spec else None)
    if not shape:
        raise ToolError(f"{prefix}: no _meta.json input_shape; give --model or -c")
    ops = (config_transform_ops(cfg) if cfg else None) or meta.get("transforms")
    ops = ops or default_transforms(meta.get("default_cfg") or {}, shape)
    preprocess = build_preprocess(ops, shape[0])
    images = None
    if args.precision == "int8":
        calib = args.calib or ("config" if cfg else None)
        if calib is None:
            raise ToolError("--calib: give a folder or list file of calibration images")
        images = _image_set(calib, cfg, preprocess, args.num_calib, args.seed, "train", "--calib")
    with _quiet_stdout():  # paddle2onnx, when the export has no ONNX file yet
        res = quantize_export(
            prefix,
            args.output_dir,
            precision=args.precision,
            route=args.route,
            images=images,
            method=args.calib_method,
            seed=args.seed,
        )
    out = {"quantized": res.model_file, "meta": res.meta_file, "precision": res.precision}
    if images is not None:
        out["calibration"] = f"{images.size} images of {images.description}"
    if args.eval:
        ev = _image_set(args.eval, cfg, preprocess, args.num_eval, args.seed, "eval", "--eval")
        quant, _, desc = open_predictor(res.meta_file)
        result = compare_predictors(InferencePredictor(prefix), quant, ev, args.batch_size)
        out["eval"] = dict(result.as_dict(), set=ev.description, float="Paddle Inference fp32")
        out["eval"]["quantized"] = desc
    if args.format == "json":
        print(json.dumps(out, indent=1))
        return 0
    print(f"wrote {res.precision} model {res.model_file} (+ {os.path.basename(res.meta_file)})")
    if "calibration" in out:
        print(f"calibrated on {out['calibration']}")
    if "eval" in out:
        e = out["eval"]
        if e["float_top1"] is not None:
            print(
                f"eval on {e['set']}: top-1 float {e['float_top1']:.2f}%, "
                f"{res.precision} {e['quant_top1']:.2f}% "
                f"({e['quant_top1'] - e['float_top1']:+.2f} points)"
            )
        print(
            f"top-1 changed on {e['changed']} of {e['images']} images ({e['changed_pct']:.2f}%); "
            f"logit correlation {e['logit_corr']:.4f}"
        )
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_tool_logging()
    configure_cpu_quietly(verbose=False)
    return run_tool(_quantize, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
