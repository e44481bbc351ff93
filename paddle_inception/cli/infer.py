"""`paddle-inception infer` (tools/infer.py): classify images (files, folders, list files)
with an eager model (`--model` / `-c`, weights from `--weights`), weights converted with
`convert` (their sidecar brings model options and preprocessing) or an exported model
(`--inference-model`, Paddle Inference with oneDNN); prints top-k ids, names and scores.

Preprocessing, first that applies: `--input-size` given -> the model's default preprocessing
at that size; the config's `Infer.transforms`, else its Eval `transform_ops`; the exported
model's or the converted weights' recorded preprocessing; else the model's default cfg (see
`deploy.preprocess`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from ..data.classmap import default_class_map_path, load_class_map, run_class_map_path
from ..deploy.infer import classify, collect_images, format_results
from ..deploy.predictor import EagerPredictor
from ..deploy.preprocess import (
    build_preprocess,
    config_transform_ops,
    default_transforms,
    preprocessing_transform_ops,
)
from ..deploy.runtimes import BACKENDS, find_deployed_model, open_predictor
from ..models.pretrained import load_converted, sidecar_path
from ..registry import get_model_cfg
from .common import (
    ToolError,
    add_model_args,
    build_model,
    command_parser,
    configure_cpu_quietly,
    error_exit,
    load_model_weights,
    logger,
    resolve_model_spec,
    setup_tool_logging,
)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "infer",
        "Classify images (files, folders, .txt list files) with an eager model "
        "(--model/-c, --weights) or an exported one (--inference-model); prints "
        "top-k class ids, names and scores. Exit status 1 if any image failed.",
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="IMAGE|DIR|LIST.txt",
        help="images to classify (default: the config's Infer.infer_imgs)",
    )
    p.add_argument(
        "--image",
        "-i",
        action="append",
        default=[],
        metavar="PATH",
        help="an image, folder or list file (repeatable; same as positional)",
    )
    add_model_args(p, weights=True, required=False)
    p.add_argument(
        "--inference-model",
        metavar="PREFIX|DIR",
        help="an exported model (tools/export_model.py): run it with Paddle "
        "Inference instead of the eager model",
    )
    p.add_argument(
        "--no-mkldnn", action="store_true", help="Paddle Inference on the CPU without oneDNN"
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="runtime of --inference-model (default: what its files call for: paddle for an "
        "export, onnxruntime for an INT8 .onnx, openvino for an .xml); onnxruntime and "
        "openvino run an FP32 export's .onnx (export --onnx), docs/deploy.md",
    )
    p.add_argument(
        "--topk",
        "-k",
        type=int,
        default=None,
        help="classes per image (default: config Infer.PostProcess.topk or 5)",
    )
    p.add_argument(
        "--class-map",
        default=None,
        metavar="FILE",
        help="'class_id name' file (default: config "
        "Infer.PostProcess.class_id_map_file, else a shipped map: "
        "configs/class_maps/imagenet1k.txt for 1000 classes, "
        "fashion_mnist.txt for Fashion-MNIST configs)",
    )
    p.add_argument(
        "--batch-size",
        "-b",
        type=int,
        default=None,
        help="images per forward (default: config Infer.batch_size or 8)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    return p


def _setup(args) -> dict:
    """predictor, preprocess, num_classes, cfg, probs (outputs are probabilities), desc,
    class_names (recorded in an exported model's meta)."""
    spec = None
    if args.backend and not args.inference_model:
        raise ToolError(f"--backend {args.backend} runs an --inference-model (an export)")
    if args.model or args.config:
        spec = resolve_model_spec(args)
    cfg = spec.cfg if spec else None
    if args.inference_model:
        if args.weights:
            raise ToolError(
                "--weights is for the eager model; an inference model holds its weights"
            )
        try:
            meta = find_deployed_model(args.inference_model).meta
        except FileNotFoundError as e:
            raise ToolError(str(e)) from None
        if spec is not None:
            default_cfg = get_model_cfg(spec.name)
            input_shape = spec.input_shape
            in_ch = input_shape[0]
            num_classes = spec.kwargs.get("num_classes", default_cfg["num_classes"])
        elif meta:
            default_cfg = meta.get("default_cfg") or {}
            input_shape = tuple(meta["input_shape"])
            in_ch = input_shape[0]
            num_classes = meta.get("num_classes")
        else:
            raise ToolError(
                f"--inference-model {args.inference_model}: no _meta.json next to "
                f"it (not exported by tools/export_model.py); give --model NAME "
                f"or -c config so that the preprocessing is known"
            )
        if args.input_size and spec is None:
            raise ToolError("--input-size with --inference-model needs --model or -c")
        if cfg is None and not args.input_size and meta.get("transforms"):
            ops = meta["transforms"]
        else:
            ops = config_transform_ops(cfg) if (cfg and not args.input_size) else None
        ops = ops or default_transforms(default_cfg, input_shape)
        predictor, _, desc = open_predictor(
            args.inference_model, backend=args.backend, use_mkldnn=not args.no_mkldnn
        )
        probs = meta.get("softmax") if meta else None
        return dict(
            predictor=predictor,
            preprocess=build_preprocess(ops, in_ch),
            num_classes=num_classes,
            cfg=cfg,
            probs=probs,
            desc=desc,
            class_names=meta.get("class_names"),
        )
    converted = _load_converted(args.weights or (spec.weights if spec else None))
    if converted is not None:
        # weights from tools/convert_weights.py: the sidecar names the model options and the
        # preprocessing the weights expect (a config's transforms still take precedence)
        model, pre = converted
        if spec is not None and spec.name != model.model_name:
            raise ToolError(f"--weights: converted for {model.model_name}, not {spec.name}")
        ops = config_transform_ops(cfg) if cfg else None
        ops = ops or preprocessing_transform_ops(pre)
        return dict(
            predictor=EagerPredictor(model),
            preprocess=build_preprocess(ops, model.in_channels),
            num_classes=model.num_classes,
            cfg=cfg,
            probs=False,
            desc=f"eager {model.model_name} (converted weights {args.weights or spec.weights})",
            class_names=None,
        )
    if spec is None:
        raise ToolError("give --model NAME, -c config.yaml or --inference-model PREFIX")
    model = build_model(spec)
    if spec.weights:
        used = load_model_weights(model, spec.weights, trusted=args.trusted_weights)
        desc = f"eager {spec.name} ({used})"
    else:
        logger.warning(
            "no --weights (nor Global.pretrained_model): %s has random weights, its "
            "predictions are meaningless",
            spec.name,
        )
        desc = f"eager {spec.name} (random weights)"
    ops = config_transform_ops(cfg) if (cfg and not args.input_size) else None
    ops = ops or default_transforms(model.default_cfg, spec.input_shape)
    return dict(
        predictor=EagerPredictor(model),
        preprocess=build_preprocess(ops, spec.input_shape[0]),
        num_classes=model.num_classes,
        cfg=cfg,
        probs=False,
        desc=desc,
        class_names=None,
    )


def _load_converted(weights):
    """(model, preprocessing) when `weights` is a converted checkpoint with its sidecar JSON."""
    if not weights or os.path.isdir(weights):
        return None
    if not os.path.isfile(sidecar_path(weights)):
        return None
    try:
        return load_converted(weights)
    except (ValueError, FileNotFoundError) as e:
        raise ToolError(f"--weights: {e}") from None


class _Progress:
    """`infer: 2,000 of 1,000,000 images (0.2%), 10 s, ~83 min left` on stderr, at most every
    `every` seconds, for inputs of at least `min_items` images (a long list showed nothing for
    what would be an hour)."""

    def __init__(self, total: int, every: float = 10.0, min_items: int = 200):
        self.total, self.every, self.on = total, every, total >= min_items
        self.t0 = self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if not self.on or (now - self.last < self.every and done < self.total):
            return
        self.last, elapsed = now, now - self.t0
        left = elapsed / done * (self.total - done) if done else 0.0
        print(
            f"infer: {done:,} of {self.total:,} images ({100 * done / self.total:.1f}%), "
            f"{elapsed:.0f} s, ~{f'{left / 60:.0f} min' if left >= 60 else f'{left:.0f} s'} left",
            file=sys.stderr,
            flush=True,
        )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_tool_logging(level=logging.WARNING if args.format == "json" else logging.INFO)
    configure_cpu_quietly(verbose=args.format != "json")
    try:
        run = _setup(args)
        cfg, num_classes = run["cfg"], run["num_classes"]
        logger.info("model: %s", run["desc"])
        inputs = list(args.inputs) + list(args.image)
        if not inputs and cfg and (cfg.get("Infer") or {}).get("infer_imgs"):
            inputs = [cfg["Infer"]["infer_imgs"]]
        if not inputs:
            raise ToolError(
                "no images given (positional paths, --image, or the config's Infer.infer_imgs)"
            )
        infer_cfg = (cfg or {}).get("Infer") or {}
        k = args.topk or ((infer_cfg.get("PostProcess") or {}).get("topk")) or 5
        if k < 1:
            raise ToolError(f"--topk: must be >= 1, got {k}")
        bs = args.batch_size or infer_cfg.get("batch_size") or 8
        if bs < 1:
            raise ToolError(f"--batch-size: must be >= 1, got {bs}")
        class_map = None
        if args.class_map is None and run["class_names"]:
            class_map = dict(enumerate(run["class_names"]))
        else:
            path = (
                args.class_map
                or run_class_map_path(args.weights, args.config, num_classes=num_classes)
                or default_class_map_path(num_classes, cfg)
            )
            if path:
                class_map = load_class_map(path)
                if num_classes and len(class_map) < num_classes:
                    logger.warning(
                        "class map %s names %d classes but the model has %d",
                        path,
                        len(class_map),
                        num_classes,
                    )
        items = collect_images(inputs)
        progress = _Progress(len(items))

        def on_result(i, result):  # text results stream out as they come
            if args.format == "text":
                print(format_results([result]), flush=True)
            progress(i + 1)

        results = classify(
            run["predictor"],
            run["preprocess"],
            items,
            k=k,
            class_map=class_map,
            batch_size=bs,
            outputs_are_probs=run["probs"],
            on_result=on_result,
        )
    except (ValueError, FileNotFoundError) as e:
        return error_exit(str(e))
    failed = [r for r in results if "error" in r]
    if args.format == "json":
        print(
            json.dumps(
                {
                    "backend": run["desc"],
                    "results": results,
                    "num_images": len(results),
                    "num_failed": len(failed),
                },
                indent=1,
            )
        )
    for r in failed:
        print(f"error: {r['file_name']}: {r['error']}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(results)} input(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
