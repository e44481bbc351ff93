"""Inference preprocessing as PaddleClas op lists (`paddle_inception.data.transforms`).

Which list applies, first that exists: the config's `Infer.transforms`, else its
`DataLoader.Eval.dataset.transform_ops` (`config_transform_ops`); the exported model's recorded
list; the preprocessing recorded with converted weights (`preprocessing_transform_ops`); else
the model's default cfg (`default_transforms`: resize the shorter side to `size / crop_pct`,
center-crop `size`, scale to [0, 1], normalise with mean/std). `build_preprocess` completes a
list for inference: a decode op in front when missing, conversion to the model's channel count
(grayscale <-> RGB), and a final ToCHWImage when needed.
"""

from __future__ import annotations

import math

from ..data.transforms import create_operators

__all__ = [
    "default_transforms",
    "config_transform_ops",
    "preprocessing_transform_ops",
    "build_preprocess",
]


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
    if len(mean) != c:  # a grayscale model built from an RGB default: average the channels
        mean, std = [sum(mean) / len(mean)], [sum(std) / len(std)]
    return [
        {"DecodeImage": {"to_rgb": True, "channel_first": False}},
        {"ResizeImage": dict(resize, interpolation=interp)},
        {"CropImage": {"size": [w, h]}},
        {"NormalizeImage": {"scale": "1.0/255.0", "mean": mean, "std": std, "order": ""}},
        {"ToCHWImage": None},
    ]


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
    ops = list(op_list or [])
    names = [_op_name(e) for e in ops]
    if "DecodeImage" not in names:
        ops.insert(0, {"DecodeImage": {"to_rgb": True, "channel_first": False}})
        names.insert(0, "DecodeImage")
    dec = names.index("DecodeImage")
    args = ops[dec]["DecodeImage"] if isinstance(ops[dec], dict) else None
    if args and args.get("channel_first"):
        raise ValueError(
            f"{key_path}: DecodeImage(channel_first=True) is not supported for "
            f"inference; the resize/crop ops need HWC images"
        )
    if not any(n in ("ToChannels", "GrayToRGB") for n in names):
        if in_channels not in (1, 3):
            raise ValueError(
                f"images can be converted to 1 or 3 channels, but the model takes {in_channels}"
            )
        ops.insert(dec + 1, {"ToChannels": {"channels": int(in_channels)}})
    compose = create_operators(ops, key_path)
    if compose.layout == "hwc":
        ops.append({"ToCHWImage": None})
        compose = create_operators(ops, key_path)
    return compose


def config_transform_ops(cfg: dict):
    """A config's inference op list: `Infer.transforms`, else the Eval dataset's
    `transform_ops`; None when it has neither."""
    infer = cfg.get("Infer") or {}
    if infer.get("transforms"):
        return infer["transforms"]
    ev = ((cfg.get("DataLoader") or {}).get("Eval") or {}).get("dataset") or {}
    ops = ev.get("transform_ops") or None
    # `auto`: the model's default preprocessing, which is what callers fall back to on None
    return None if ops == "auto" else ops


def preprocessing_transform_ops(pre: dict) -> list:
    """The eval op list for a preprocessing record (`input_size`, `resize_short`,
    `interpolation`, `mean`, `std`), as converted weights carry in their sidecar."""
    size = list(pre["input_size"])[-1]
    return [
        {"DecodeImage": {"to_rgb": True, "channel_first": False}},
        {
            "ResizeImage": {
                "resize_short": int(pre["resize_short"]),
                "interpolation": pre["interpolation"],
            }
        },
        {"CropImage": {"size": int(size)}},
        {
            "NormalizeImage": {
                "scale": 1.0 / 255.0,
                "mean": list(pre["mean"]),
                "std": list(pre["std"]),
                "order": "",
            }
        },
        {"ToCHWImage": None},
    ]
