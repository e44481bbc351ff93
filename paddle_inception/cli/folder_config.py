"""`paddle-inception train --data DIR --model NAME --weights W.pdparams`: the shipped
`configs/finetune_folder.yaml` filled in from the command line (the YAML stays the reference:
the run's config.yaml is that file with these values, and `-o KEY=VALUE` still applies)."""

from __future__ import annotations

import argparse
import os

from ..config import ConfigError, apply_overrides, read_yaml, validate_config
from ..data.folder import class_folders
from ..models.pretrained import read_sidecar, sidecar_path
from ..registry import get_model_cfg, resolve_name
from .common import ToolError, parse_input_size, resolve_config_path

__all__ = ["FOLDER_CONFIG", "add_folder_args", "folder_config"]

#: the config `--data` fills in (shipped with the package)
FOLDER_CONFIG = "finetune_folder.yaml"


def add_folder_args(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    g = p.add_argument_group(
        "fine-tune on a folder of images (instead of -c; fills in configs/finetune_folder.yaml)"
    )
    g.add_argument(
        "--data", metavar="DIR", help="training images: one sub-folder per class (cat/, dog/, ...)"
    )
    g.add_argument(
        "--val",
        metavar="DIR",
        help="validation images, the same class sub-folders (default: hold out --val-split "
        "of --data)",
    )
    g.add_argument(
        "--val-split",
        type=float,
        default=0.1,
        metavar="F",
        help="without --val: the fraction of every class held out for evaluation, the same "
        "files every run (default 0.1)",
    )
    g.add_argument("--model", "-m", metavar="NAME", help="model name, e.g. googlenet_bn")
    g.add_argument(
        "--weights",
        "-w",
        metavar="W.pdparams",
        help="pretrained weights (from `paddle-inception convert`); its classifier is "
        "re-created for your classes. Without it the model starts from random weights",
    )
    g.add_argument("--epochs", type=int, default=None, metavar="N", help="default 10")
    g.add_argument(
        "--input-size",
        default=None,
        metavar="S|HxW",
        help="input size (default: the model's, 224 or 299)",
    )
    g.add_argument("--batch-size", type=int, default=None, metavar="N", help="default 32")
    g.add_argument(
        "--lr", type=float, default=None, metavar="LR", help="classifier learning rate (0.01)"
    )
    g.add_argument(
        "--backbone-lr-mult",
        type=float,
        default=None,
        metavar="F",
        help="the pretrained body learns at F x --lr (default 0.1; 1 for a full fine-tune)",
    )
    g.add_argument(
        "--freeze-before",
        metavar="BLOCK",
        help="freeze the body up to and including BLOCK (Arch.freeze_befor), e.g. inception4e",
    )
    g.add_argument(
        "--output-dir", metavar="DIR", help="runs go to DIR/<model> (default ./output/finetune)"
    )
    g.add_argument("--device", default=None, help="cpu (default) or gpu")
    g.add_argument(
        "--workers", type=int, default=None, metavar="N", help="data loading processes (2)"
    )
    return p


def _positive(value, flag: str, kind=int):
    if value is not None and (not isinstance(value, kind) or value <= 0):
        raise ToolError(f"{flag}: must be a positive {kind.__name__}, got {value!r}")
    return value


def _converted(weights) -> dict | None:
    """The sidecar `convert` wrote next to `weights` (its arch, model kwargs, preprocessing)."""
    if not weights or not os.path.isfile(sidecar_path(weights)):
        return None
    try:
        return read_sidecar(weights)
    except (ValueError, FileNotFoundError) as e:
        raise ToolError(f"--weights: {e}") from None


def folder_config(args) -> dict:
    """The validated config of a `--data` run."""
    meta = _converted(args.weights)
    if not args.model and meta is None:
        raise ToolError("--data needs --model NAME (e.g. googlenet_bn; `summary --all` lists them)")
    try:
        name = resolve_name(args.model or meta["arch"])
    except ValueError as e:
        raise ToolError(f"--model: {e}") from None
    if meta is not None and name != resolve_name(meta["arch"]):
        raise ToolError(
            f"--weights {args.weights} were converted for {meta['arch']}, not --model {name}"
        )
    if not os.path.isdir(args.data):
        raise ToolError(f"--data: directory not found: {args.data}")
    if args.val is not None and not os.path.isdir(args.val):
        raise ToolError(f"--val: directory not found: {args.val}")
    if args.weights is not None and not os.path.exists(args.weights):
        raise ToolError(
            f"--weights: file not found: {args.weights} (convert a torchvision/timm checkpoint "
            f"with `paddle-inception convert`, docs/finetune.md)"
        )
    _positive(args.epochs, "--epochs")
    _positive(args.batch_size, "--batch-size")
    _positive(args.lr, "--lr", float)
    if args.workers is not None and args.workers < 0:
        raise ToolError(f"--workers: must be >= 0, got {args.workers}")
    if args.val is None and not 0.0 < args.val_split < 1.0:
        raise ToolError(f"--val-split: a fraction between 0 and 1 (e.g. 0.1), got {args.val_split}")
    default = get_model_cfg(name)
    if meta is not None and (meta.get("preprocessing") or {}).get("input_size"):
        default["input_size"] = meta["preprocessing"]["input_size"]
    size = parse_input_size(args.input_size) if args.input_size else None
    if size is not None and len(size) == 3:
        shape = list(size)
    else:
        shape = [3] + list(size or default["input_size"][1:])

    cfg = read_yaml(resolve_config_path(FOLDER_CONFIG))
    g = cfg["Global"]
    g["pretrained_model"] = args.weights
    g["image_shape"] = shape
    if args.epochs:
        g["epochs"] = args.epochs
    if args.output_dir:
        g["output_dir"] = args.output_dir
    if args.device:
        g["device"] = args.device
    # class_num: the folder's class count (a single class or a mismatch between --data and
    # --val is reported by the data checks, naming the folders)
    cfg["Arch"] = {"name": name, "class_num": max(1, len(class_folders(args.data)))}
    if meta is not None:  # the options the weights were converted with (transform_input, ...)
        kwargs = dict(meta.get("model_kwargs") or {})
        kwargs.pop("num_classes", None)
        cfg["Arch"].update(kwargs)
    if args.freeze_before:
        cfg["Arch"]["freeze_befor"] = args.freeze_before
    opt = cfg["Optimizer"]
    if args.lr:
        opt["lr"]["learning_rate"] = args.lr
        opt["lr"]["warmup_start_lr"] = args.lr / 10
    if args.backbone_lr_mult is not None:
        opt["backbone_lr_mult"] = args.backbone_lr_mult
    train, ev = cfg["DataLoader"]["Train"], cfg["DataLoader"]["Eval"]
    train["dataset"]["root"] = args.data
    ev["dataset"]["root"] = args.val or args.data
    for section in (train, ev):
        if args.val is not None:
            section["dataset"].pop("val_split", None)
            section["dataset"].pop("split_seed", None)
        else:
            section["dataset"]["val_split"] = args.val_split
        if args.workers is not None:
            section["loader"]["num_workers"] = args.workers
    if args.batch_size:
        train["sampler"]["batch_size"] = args.batch_size
        ev["sampler"]["batch_size"] = args.batch_size
    try:
        apply_overrides(cfg, args.override)
        return validate_config(cfg, f"train --data (configs/{FOLDER_CONFIG} filled in)")
    except ConfigError as e:
        raise ToolError(str(e)) from None
