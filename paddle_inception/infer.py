"""Image classification inference behind `tools/infer.py`.

Inputs: image files, folders (searched recursively for image extensions) and list files
(`.txt`: one image path per line, optionally followed by a label, relative paths taken from
the list file's folder). Each image gives the top-k class ids, names (from a class-id map
file) and softmax scores; a missing or unreadable image gives an error entry naming the path,
and the other images' results are still produced (the CLI then exits with status 1).

Backends: the eager model (`--model NAME` or `-c config`, weights from `--weights`) or an
exported inference model (`--inference-model PREFIX|DIR`, Paddle Inference with oneDNN).

Preprocessing (PaddleClas ops from `paddle_inception.data.transforms`), first that applies:
`--input-size` given -> the model's default preprocessing at that size; the config's
`Infer.transforms`, else its `DataLoader.Eval.dataset.transform_ops`; the exported model's
recorded preprocessing; else the model's default cfg: resize the shorter side to
`size / crop_pct`, center-crop `size`, scale to [0, 1], normalise with mean/std. A decode op is
added in front when missing, then images are converted to the model's channel count
(grayscale <-> RGB), and a final ToCHWImage is added when needed.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys

import numpy as np

from .toolkit import (ToolError, add_model_args, build_model, error_exit, load_model_weights,
                      logger, resolve_model_spec)

__all__ = ["load_class_map", "default_class_map_path", "CLASS_MAPS_DIR", "default_transforms",
           "build_preprocess", "collect_images", "EagerPredictor", "classify", "topk",
           "format_results", "main"]

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the class-id map files shipped with the repository (configs/class_maps)
CLASS_MAPS_DIR = os.path.join(_REPO_ROOT, "configs", "class_maps")
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


# ------------------------------------------------------------------------------ class maps
def load_class_map(path: str) -> dict[int, str]:
    """Read a PaddleClas class-id map: one `class_id name` per line (the name may contain
    spaces and commas; blank lines and lines starting with '#' are skipped)."""
    if not os.path.isfile(path):
        raise ToolError(f"class map file not found: {path}")
    out: dict[int, str] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            try:
                cid = int(parts[0])
            except ValueError:
                raise ToolError(f"{path}:{lineno}: expected 'class_id name', got {line!r}") \
                    from None
            if cid < 0:
                raise ToolError(f"{path}:{lineno}: negative class id {cid}")
            if cid in out:
                raise ToolError(f"{path}:{lineno}: class id {cid} appears twice")
            out[cid] = parts[1].strip() if len(parts) > 1 else str(cid)
    if not out:
        raise ToolError(f"class map {path} has no entries")
    return out


def default_class_map_path(num_classes: int | None, cfg: dict | None = None) -> str | None:
    """The config's Infer.PostProcess.class_id_map_file; else a shipped map: Fashion-MNIST
    when the config trains on it, ImageNet-1k for 1000 classes; else None."""
    if cfg:
        post = ((cfg.get("Infer") or {}).get("PostProcess") or {})
        if post.get("class_id_map_file"):
            return post["class_id_map_file"]
        names = [((cfg.get("DataLoader") or {}).get(m) or {}).get("dataset", {}) or {}
                 for m in ("Train", "Eval")]
        if any(d.get("name") == "FashionMNIST" for d in names if isinstance(d, dict)):
            path = os.path.join(CLASS_MAPS_DIR, "fashion_mnist.txt")
            return path if os.path.isfile(path) else None
    if num_classes == 1000:
        path = os.path.join(CLASS_MAPS_DIR, "imagenet1k.txt")
        return path if os.path.isfile(path) else None
    return None


# ------------------------------------------------------------------------------ preprocessing
def default_transforms(default_cfg: dict, input_shape) -> list:
    """The model's default evaluation preprocessing as a PaddleClas op list."""
    c, h, w = (int(s) for s in input_shape)
    crop = float(default_cfg.get("crop_pct") or 1.0)
    interp = default_cfg.get("interpolation") or "bilinear"
    if h == w:
        resize = {"resize_short": int(math.floor(h / crop))}
    else:
        resize = {"size": [int(math.floor(w / crop)), int(math.floor(h / crop))]}
    mean = list(default_cfg.get("mean") or (0.485, 0.456, 0.406))
    std = list(default_cfg.get("std") or (0.229, 0.224, 0.225))
    if len(mean) != c:   # a grayscale model built from an RGB default: average the channels
        mean, std = [sum(mean) / len(mean)], [sum(std) / len(std)]
    return [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
            {"ResizeImage": dict(resize, interpolation=interp)},
            {"CropImage": {"size": [w, h]}},
            {"NormalizeImage": {"scale": "1.0/255.0", "mean": mean, "std": std, "order": ""}},
            {"ToCHWImage": None}]


def _op_name(entry) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and len(entry) == 1:
        return next(iter(entry))
    return None


def build_preprocess(op_list, in_channels: int, key_path: str = "transforms"):
    """A callable `bytes -> float32 CHW` from a PaddleClas op list, completed for inference:
    DecodeImage in front if missing, conversion to `in_channels` (1 or 3) right after it unless
    the list converts itself, and ToCHWImage at the end when the list ends in HWC."""
    from .data.transforms import create_operators
    ops = list(op_list or [])
    names = [_op_name(e) for e in ops]
    if "DecodeImage" not in names:
        ops.insert(0, {"DecodeImage": {"to_rgb": True, "channel_first": False}})
        names.insert(0, "DecodeImage")
    dec = names.index("DecodeImage")
    args = ops[dec]["DecodeImage"] if isinstance(ops[dec], dict) else None
    if args and args.get("channel_first"):
        raise ToolError(f"{key_path}: DecodeImage(channel_first=True) is not supported for "
                        f"inference; the resize/crop ops need HWC images")
    if not any(n in ("ToChannels", "GrayToRGB") for n in names):
        if in_channels not in (1, 3):
            raise ToolError(f"images can be converted to 1 or 3 channels, but the model takes "
                            f"{in_channels}")
        ops.insert(dec + 1, {"ToChannels": {"channels": int(in_channels)}})
    try:
        compose = create_operators(ops, key_path)
        if compose.layout == "hwc":
            ops.append({"ToCHWImage": None})
            compose = create_operators(ops, key_path)
    except ValueError as e:
        raise ToolError(str(e)) from None
    return compose


# ------------------------------------------------------------------------------ inputs
def _is_image_name(path: str) -> bool:
    return path.lower().endswith(IMG_EXTENSIONS)


def collect_images(inputs) -> list[tuple[str, str | None]]:
    """Expand files, folders and list files into [(path, error or None)], in order.

    A path that does not exist, a folder without images or an unreadable list file gives an
    entry with an error message (never an exception), so that other inputs still run.
    """
    out: list[tuple[str, str | None]] = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            found = []
            for dirpath, dirnames, filenames in os.walk(item):
                dirnames.sort()
                found += [os.path.join(dirpath, f) for f in sorted(filenames) if _is_image_name(f)]
            if not found:
                out.append((item, f"no image files ({', '.join(IMG_EXTENSIONS)}) in folder"))
            out += [(f, None) for f in found]
        elif not os.path.exists(item):
            out.append((item, "file not found"))
        elif item.lower().endswith(".txt"):
            base = os.path.dirname(os.path.abspath(item))
            try:
                with open(item, encoding="utf-8") as f:
                    lines = [ln.strip() for ln in f]
            except (OSError, UnicodeDecodeError) as e:
                out.append((item, f"cannot read list file ({type(e).__name__}: {e})"))
                continue
            n0 = len(out)
            for ln in lines:
                if not ln or ln.startswith("#"):
                    continue
                parts = ln.rsplit(None, 1)
                path = parts[0] if len(parts) == 2 and parts[1].lstrip("-").isdigit() else ln
                path = path if os.path.isabs(path) else os.path.join(base, path)
                out.append((path, None if os.path.isfile(path) else "file not found"))
            if len(out) == n0:
                out.append((item, "list file names no images"))
        else:
            out.append((item, None))
    return out


def _load_one(path: str, preprocess):
    """(array, None) or (None, error message)."""
    from .data.transforms import ImageDecodeError
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return None, f"cannot read file ({e.strerror or type(e).__name__})"
    if not data:
        return None, "empty file (0 bytes)"
    try:
        return np.asarray(preprocess(data), dtype=np.float32), None
    except ImageDecodeError as e:
        return None, f"not a readable image: {e}"
    except (ValueError, OSError) as e:
        return None, f"preprocessing failed: {e}"


# ------------------------------------------------------------------------------ prediction
class EagerPredictor:
    """`predictor(batch float32 [N, C, H, W]) -> logits ndarray` with a dygraph model."""

    def __init__(self, model):
        self.model = model
        model.eval()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import paddle
        with paddle.no_grad():
            out = self.model(paddle.to_tensor(np.ascontiguousarray(batch, np.float32)))
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.numpy()


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _looks_like_probs(x: np.ndarray) -> bool:
    return bool(x.size and (x >= 0).all() and (x <= 1).all() and
                np.allclose(x.sum(axis=-1), 1.0, atol=1e-3))


def topk(probs: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    """Indices and values of the k largest entries of a 1-D array (ties: lower id first)."""
    k = max(1, min(int(k), probs.shape[-1]))
    idx = np.argsort(-probs, kind="stable")[:k]
    return [int(i) for i in idx], [float(probs[i]) for i in idx]


def classify(predictor, preprocess, images, k: int = 5, class_map: dict | None = None,
             batch_size: int = 8, outputs_are_probs: bool | None = None) -> list[dict]:
    """Run `predictor` on `images` ([(path, error or None)] from `collect_images`, or paths).

    Returns one dict per input, in order: {"file_name", "class_ids", "scores", "label_names"}
    or {"file_name", "error"}. Scores are softmax probabilities (`outputs_are_probs`: the
    network already applies a softmax; None: detect it).
    """
    items = [(p, None) if isinstance(p, (str, os.PathLike)) else p for p in images]
    results: list[dict | None] = [None] * len(items)
    pending: list[tuple[int, np.ndarray]] = []

    def flush():
        if not pending:
            return
        batch = np.stack([a for _, a in pending])
        try:
            out = np.asarray(predictor(batch))
        except Exception as e:   # noqa: BLE001 - reported per image, the run goes on
            for i, _ in pending:
                results[i] = {"file_name": os.fspath(items[i][0]),
                              "error": f"prediction failed: {type(e).__name__}: {e}"}
            pending.clear()
            return
        out = out.reshape(out.shape[0], -1)
        is_probs = _looks_like_probs(out) if outputs_are_probs is None else outputs_are_probs
        probs = out if is_probs else _softmax(out)
        for (i, _), p in zip(pending, probs):
            ids, scores = topk(p, k)
            results[i] = {"file_name": os.fspath(items[i][0]), "class_ids": ids,
                          "scores": [round(s, 6) for s in scores],
                          "label_names": [class_map.get(c, str(c)) for c in ids]
                          if class_map else []}
        pending.clear()

    for i, (path, err) in enumerate(items):
        if err is None:
            arr, err = _load_one(os.fspath(path), preprocess)
        if err is not None:
            results[i] = {"file_name": os.fspath(path), "error": err}
            continue
        if pending and pending[0][1].shape != arr.shape:
            flush()     # list-defined ops may give different sizes: never stack across them
        pending.append((i, arr))
        if len(pending) >= batch_size:
            flush()
    flush()
    return results


def format_results(results: list[dict]) -> str:
    """Human-readable text: one block per image, errors on one line."""
    lines = []
    for r in results:
        if "error" in r:
            lines.append(f"{r['file_name']}: ERROR {r['error']}")
            continue
        lines.append(f"{r['file_name']}:")
        names = r.get("label_names") or [""] * len(r["class_ids"])
        for cid, score, name in zip(r["class_ids"], r["scores"], names):
            lines.append(f"  {cid:>5}  {score:.4f}  {name}".rstrip())
    return "\n".join(lines)


# ------------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tools/infer.py",
        description="Classify images (files, folders, .txt list files) with an eager model "
                    "(--model/-c, --weights) or an exported one (--inference-model); prints "
                    "top-k class ids, names and scores. Exit status 1 if any image failed.")
    p.add_argument("inputs", nargs="*", metavar="IMAGE|DIR|LIST.txt",
                   help="images to classify (default: the config's Infer.infer_imgs)")
    p.add_argument("--image", "-i", action="append", default=[], metavar="PATH",
                   help="an image, folder or list file (repeatable; same as positional)")
    add_model_args(p, weights=True, required=False)
    p.add_argument("--inference-model", metavar="PREFIX|DIR",
                   help="an exported model (tools/export_model.py): run it with Paddle "
                        "Inference instead of the eager model")
    p.add_argument("--no-mkldnn", action="store_true",
                   help="Paddle Inference on the CPU without oneDNN")
    p.add_argument("--topk", "-k", type=int, default=None,
                   help="classes per image (default: config Infer.PostProcess.topk or 5)")
    p.add_argument("--class-map", default=None, metavar="FILE",
                   help="'class_id name' file (default: config "
                        "Infer.PostProcess.class_id_map_file, else a shipped map: "
                        "configs/class_maps/imagenet1k.txt for 1000 classes, "
                        "fashion_mnist.txt for Fashion-MNIST configs)")
    p.add_argument("--batch-size", "-b", type=int, default=None,
                   help="images per forward (default: config Infer.batch_size or 8)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    return p


def _setup(args) -> dict:
    """predictor, preprocess, num_classes, cfg, probs (outputs are probabilities), desc,
    class_names (recorded in an exported model's meta)."""
    spec = None
    if args.model or args.config:
        spec = resolve_model_spec(args)
    cfg = spec.cfg if spec else None
    if args.inference_model:
        from .export import InferencePredictor, model_files, read_meta
        if args.weights:
            raise ToolError("--weights is for the eager model; an inference model holds its "
                            "weights")
        try:
            model_files(args.inference_model)
        except FileNotFoundError as e:
            raise ToolError(str(e)) from None
        meta = read_meta(args.inference_model) or {}
        if spec is not None:
            from .registry import get_model_cfg
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
            raise ToolError(f"--inference-model {args.inference_model}: no _meta.json next to "
                            f"it (not exported by tools/export_model.py); give --model NAME "
                            f"or -c config so that the preprocessing is known")
        if args.input_size and spec is None:
            raise ToolError("--input-size with --inference-model needs --model or -c")
        if cfg is None and not args.input_size and meta.get("transforms"):
            ops = meta["transforms"]
        else:
            ops = _config_ops(cfg) if (cfg and not args.input_size) else None
        ops = ops or default_transforms(default_cfg, input_shape)
        predictor = InferencePredictor(args.inference_model, use_mkldnn=not args.no_mkldnn)
        probs = meta.get("softmax") if meta else None
        desc = f"Paddle Inference ({predictor.program}{', oneDNN' if not args.no_mkldnn else ''})"
        return dict(predictor=predictor, preprocess=build_preprocess(ops, in_ch),
                    num_classes=num_classes, cfg=cfg, probs=probs, desc=desc,
                    class_names=meta.get("class_names"))
    converted = _load_converted(args.weights or (spec.weights if spec else None))
    if converted is not None:
        # weights from tools/convert_weights.py: the sidecar names the model options and the
        # preprocessing the weights expect (a config's transforms still take precedence)
        model, pre = converted
        if spec is not None and spec.name != model.model_name:
            raise ToolError(f"--weights: converted for {model.model_name}, not {spec.name}")
        from .convert import preprocessing_transform_ops
        ops = _config_ops(cfg) if cfg else None
        ops = ops or preprocessing_transform_ops(pre)
        return dict(predictor=EagerPredictor(model),
                    preprocess=build_preprocess(ops, model.in_channels),
                    num_classes=model.num_classes, cfg=cfg, probs=False,
                    desc=f"eager {model.model_name} (converted weights "
                         f"{args.weights or spec.weights})", class_names=None)
    if spec is None:
        raise ToolError("give --model NAME, -c config.yaml or --inference-model PREFIX")
    model = build_model(spec)
    if spec.weights:
        used = load_model_weights(model, spec.weights)
        desc = f"eager {spec.name} ({used})"
    else:
        logger.warning("no --weights (nor Global.pretrained_model): %s has random weights, its "
                       "predictions are meaningless", spec.name)
        desc = f"eager {spec.name} (random weights)"
    ops = _config_ops(cfg) if (cfg and not args.input_size) else None
    ops = ops or default_transforms(model.default_cfg, spec.input_shape)
    return dict(predictor=EagerPredictor(model),
                preprocess=build_preprocess(ops, spec.input_shape[0]),
                num_classes=model.num_classes, cfg=cfg, probs=False, desc=desc,
                class_names=None)


def _load_converted(weights):
    """(model, preprocessing) when `weights` is a converted checkpoint with its sidecar JSON."""
    if not weights or os.path.isdir(weights):
        return None
    from .convert import load_converted, sidecar_path
    if not os.path.isfile(sidecar_path(weights)):
        return None
    try:
        return load_converted(weights)
    except (ValueError, FileNotFoundError) as e:
        raise ToolError(f"--weights: {e}") from None


def _config_ops(cfg: dict):
    infer = cfg.get("Infer") or {}
    if infer.get("transforms"):
        return infer["transforms"]
    ev = ((cfg.get("DataLoader") or {}).get("Eval") or {}).get("dataset") or {}
    return ev.get("transform_ops") or None


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .toolkit import configure_cpu_quietly, setup_tool_logging
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
            raise ToolError("no images given (positional paths, --image, or the config's "
                            "Infer.infer_imgs)")
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
            path = args.class_map or default_class_map_path(num_classes, cfg)
            if path:
                class_map = load_class_map(path)
                if num_classes and len(class_map) < num_classes:
                    logger.warning("class map %s names %d classes but the model has %d", path,
                                   len(class_map), num_classes)
        results = classify(run["predictor"], run["preprocess"], collect_images(inputs), k=k,
                           class_map=class_map, batch_size=bs, outputs_are_probs=run["probs"])
    except ToolError as e:
        return error_exit(str(e))
    except (ValueError, FileNotFoundError) as e:
        return error_exit(str(e))
    failed = [r for r in results if "error" in r]
    if args.format == "json":
        print(json.dumps({"backend": run["desc"], "results": results, "num_images": len(results),
                          "num_failed": len(failed)}, indent=1))
    else:
        print(format_results(results))
    for r in failed:
        print(f"error: {r['file_name']}: {r['error']}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(results)} input(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
