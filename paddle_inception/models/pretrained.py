"""Weights for a model from a local file: `create_model(name, pretrained=path)` and weights
converted from another framework (`tools/convert_weights.py`), whose `.json` sidecar names the
model options and preprocessing they need (`load_converted`). Nothing is downloaded, and files
are read with the package's restricted loader (`paddle_inception.weights`): no code in them runs.
"""

from __future__ import annotations

import json
import os

from .._safe_files import MAX_JSON_BYTES, read_bounded
from ..registry import create_model, get_model_cfg
from ..weights import load_weights

__all__ = ["load_pretrained", "SIDECAR_FORMAT", "sidecar_path", "read_sidecar", "load_converted"]

SIDECAR_FORMAT = "paddle_inception.converted/1"


def load_pretrained(model, pretrained, name: str) -> None:
    """Load `pretrained` (False, or a local `.pdparams` path / checkpoint directory) into
    `model`, strictly: weights that do not fit (another class count, another model) are an
    error listing the offending tensors, never a silently half-loaded model."""
    if not pretrained:
        return
    if pretrained is True:
        raise ValueError(
            f"{name}: pretrained=True needs weights that cannot be downloaded here (offline "
            f"package). Convert or download them yourself (see tools/convert_weights.py) and "
            f"pass the file: pretrained='/path/to/{name}.pdparams'"
        )
    load_weights(model, pretrained, mode="strict", what=f"{name}: pretrained weights")


def sidecar_path(path: str) -> str:
    """`x/name.pdparams` -> `x/name.json`."""
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    return (root if ext in (".pdparams", ".json") else path) + ".json"


def read_sidecar(path: str) -> dict:
    """The sidecar of converted weights `path` (the `.pdparams` or the `.json`)."""
    side = sidecar_path(path)
    weights = os.path.splitext(side)[0] + ".pdparams"
    if not os.path.lexists(side):
        raise FileNotFoundError(
            f"no sidecar {side} next to the weights; convert with "
            f"tools/convert_weights.py, or build the model yourself and use "
            f"create_model(name, pretrained={weights!r}, ...)"
        )
    try:  # a FIFO or a device: refused on the open; a sidecar is a few KiB
        meta = json.loads(read_bounded(side, MAX_JSON_BYTES, kind="sidecar").decode("utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        raise ValueError(f"{side}: unreadable sidecar ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{side}: not a paddle_inception conversion sidecar (format {got!r})")
    return meta


def load_converted(path: str, **overrides):
    """Build the model described by a converted checkpoint's sidecar and load its weights.

    `path` is the `.pdparams` file (or its `.json` sidecar). Returns `(model, preprocessing)`;
    the model is in eval mode and its `default_cfg` carries the checkpoint's preprocessing
    (input_size, crop_pct, interpolation, mean, std; plus resize_short). `overrides` go to the
    constructor (e.g. `dropout=0.3` for fine-tuning; changing num_classes needs
    `model.reset_classifier` after loading instead).
    """
    meta = read_sidecar(path)
    weights = os.path.splitext(sidecar_path(path))[0] + ".pdparams"
    kwargs = dict(meta["model_kwargs"], **overrides)
    model = create_model(meta["arch"], pretrained=weights, **kwargs)
    pre = dict(meta["preprocessing"])
    cfg = dict(getattr(model, "default_cfg", None) or get_model_cfg(meta["arch"]))
    cfg.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in pre.items()})
    cfg["converted_from"] = meta.get("source", {})
    model.default_cfg = cfg
    model.eval()
    return model, pre
