"""Where an exported model's files are: the program, its parameters and our `_meta.json`."""

from __future__ import annotations

import json
import os

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
        if os.path.isfile(p + ext):
            params = p + ".pdiparams"
            if not os.path.isfile(params):
                raise FileNotFoundError(
                    f"inference model: {p + ext} has no parameter file {params}"
                )
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
    if not os.path.isfile(meta):
        return None
    with open(meta, encoding="utf-8") as f:
        return json.load(f)
