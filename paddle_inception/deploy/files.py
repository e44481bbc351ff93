"""Where an exported model's files are: the program, its parameters and our `_meta.json`."""

from __future__ import annotations

import json
import os

from .._safe_files import check_file, read_bounded

__all__ = ["META_SUFFIX", "model_files", "read_meta"]

# Not "<prefix>.meta.json": paddle.jit.load reads every "<prefix>.<name>.json" beside the model
# as the program of a method <name>.
META_SUFFIX = "_meta.json"


def model_files(prefix: str) -> tuple[str, str]:
    """(program file, params file) of an exported model given its prefix or its directory.

    A directory is taken to hold `inference.json`/`inference.pdmodel` (PaddleClas' layout), or
    a single program file. Raises FileNotFoundError naming what was looked for.
    """
    p = os.fspath(prefix)
    for ext in (META_SUFFIX, ".json", ".pdmodel", ".pdiparams", ".onnx"):
        if p.endswith(ext) and not os.path.isdir(p):
            p = p[: -len(ext)]
            break
    if os.path.isdir(p):
        found = sorted(
            f
            for f in os.listdir(p)
            if f.endswith((".pdmodel", ".json")) and not f.endswith(META_SUFFIX)
        )
        if os.path.exists(os.path.join(p, "inference.json")) or os.path.exists(
            os.path.join(p, "inference.pdmodel")
        ):
            p = os.path.join(p, "inference")
        elif len(found) == 1:
            p = os.path.join(p, os.path.splitext(found[0])[0])
        else:
            listed = f": {', '.join(found)}" if found else ""
            raise FileNotFoundError(
                f"inference model: directory {prefix!r} holds "
                f"{'no' if not found else 'several'} program files "
                f"(*.json / *.pdmodel){listed}; pass the prefix, e.g. "
                f"{os.path.join(p, 'inference')}"
            )
    for ext in (".json", ".pdmodel"):
        if os.path.lexists(p + ext):
            check_file(p + ext, "inference model")  # a FIFO or a device: never opened
            params = p + ".pdiparams"
            if not os.path.lexists(params):
                raise FileNotFoundError(
                    f"inference model: {p + ext} has no parameter file {params}"
                )
            check_file(params, "inference model")
            return p + ext, params
    raise FileNotFoundError(
        f"inference model: no {p}.json or {p}.pdmodel (export one with tools/export_model.py)"
    )


def read_meta(prefix: str) -> dict | None:
    """The `<prefix>_meta.json` written by `export_inference_model`, or None."""
    try:
        program, _ = model_files(prefix)
    except FileNotFoundError:
        return None
    meta = os.path.splitext(program)[0] + META_SUFFIX
    if not os.path.lexists(meta):
        return None
    raw = read_bounded(meta, MAX_META_BYTES, "inference model", kind="_meta.json file")
    try:
        out = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError(f"inference model: {meta}: JSON nested too deeply") from None
    except ValueError as e:  # truncated or edited: JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"inference model: {meta}: not valid JSON ({e})") from None
    if not isinstance(out, dict):
        raise ValueError(f"inference model: {meta}: expected a JSON object")
    _check_meta(out, meta)
    return out


#: an export's side file is a few KiB (class names of 1000 classes included)
MAX_META_BYTES = 16 * 2**20
#: per input dimension and in all (C x H x W): far above any model of the zoo (299 px, 3 ch)
MAX_INPUT_SIDE = 16384
MAX_INPUT_ELEMENTS = 3 * 8192 * 8192


def _check_meta(meta: dict, path: str) -> None:
    """The fields the tools use, with sane bounds: an edited `input_shape` is one line naming
    the file, not an allocation of terabytes inside Paddle."""
    shape = meta.get("input_shape")
    if shape is not None:
        ok = (
            isinstance(shape, list)
            and len(shape) == 3
            and all(type(v) is int and 1 <= v <= MAX_INPUT_SIDE for v in shape)
            and shape[0] * shape[1] * shape[2] <= MAX_INPUT_ELEMENTS
        )
        if not ok:
            raise ValueError(
                f"inference model: {path}: input_shape {shape!r} is not [C, H, W] with each "
                f"side in 1..{MAX_INPUT_SIDE} and C*H*W <= {MAX_INPUT_ELEMENTS:,}; re-export "
                f"the model (tools/export_model.py)"
            )
    classes = meta.get("num_classes")
    if classes is not None and (type(classes) is not int or not 0 <= classes <= 10**6):
        raise ValueError(
            f"inference model: {path}: num_classes {classes!r} is not an integer in 0..1000000"
        )
    names = meta.get("class_names")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) for n in names)
    ):
        raise ValueError(f"inference model: {path}: class_names must be a list of strings")
