"""Safe loading of `paddle.save` weights and checkpoints, and one rule for putting them into a
model.

`paddle.load` is `pickle.load`: a `.pdparams`/`.pdopt` file whose pickle calls `os.system(...)` runs
it. This module is the package's single door for such files (the equivalent of torch's
`weights_only=True`):

* `load_state_file(path)` reads a file written by `paddle.save` with a *restricted* unpickler that
  can build nothing but numpy arrays, numpy scalars/dtypes and plain containers; every other global
  is refused with `UnsafeWeightsError`. `trusted=True` falls back to the full `paddle.load` (which
  runs whatever code the file contains: for trusted legacy files only).
* `resolve_weights_file(path)` turns a file, a PaddleClas-style prefix or a checkpoint directory
  into the `.pdparams` file to read.
* `load_weights(model, path_or_state, mode=...)` puts a state dict into a `paddle.nn.Layer`:
  `"strict"` (inference, export, eval, resume, `create_model(pretrained=...)`) refuses anything that
  does not fit exactly and loads nothing; `"finetune"` skips tensors of another shape (a classifier
  for another class count) but refuses a file that matches less than half of the model.

What `paddle.save` writes (checked on paddle 3.3 / numpy 2; see `tests/test_weights.py`)
----------------------------------------------------------------------------------------
`paddle.save(obj, path, protocol=2|3|4)` (4 is the default; 5 is refused by paddle.save) pickles:

* a state dict (`model.state_dict()`, `optimizer.state_dict()`) as a plain dict of numpy arrays plus
  a `"StructuredToParameterName@@"` dict of str -> str (dropped by `paddle.load`, and here too);
  optimizer states add an `"LR_Scheduler"` dict of ints/floats/bools (nested for `LinearWarmup`);
* an array as `numpy._core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')` followed by BUILD
  state `(1, shape, dtype, is_fortran, raw_bytes)`; a dtype as `numpy.dtype('f4', False, True)` with
  BUILD state `(3, '<', None, None, None, -1, -1, 0)`; a numpy scalar as
  `numpy._core.multiarray.scalar(dtype, raw_bytes)`. numpy 1.x spells the module
  `numpy.core.multiarray`;
* under protocol 2 (no bytes opcode) every bytes object becomes `_codecs.encode(str, 'latin1')`;
* a tensor nested deeper than the top level (e.g. `{"master_weights": {name: tensor}}`) becomes
  `builtins.tuple((name, array))` (`__builtin__.tuple` under protocol 2), and files without the name
  table get those `(name, array)` pairs turned back into arrays by `paddle.load`: we do the same;
* tensors over 1 GiB under protocol 2/3 are split into `key@@.0, key@@.1, ...` slices described by
  an `"UnpackBigParamInfor@@"` entry, re-joined by `paddle.load`: we do the same.
bfloat16 tensors are saved as uint16 arrays (paddle's convention; `set_state_dict` maps them back).

The restricted unpickler itself, and why it is pure Python: `paddle_inception._safe_pickle`.
"""

from __future__ import annotations

import collections
import logging
import os
import warnings

import numpy as np

from ._safe_files import check_file, open_regular
from ._safe_pickle import (
    ALLOWED_GLOBALS,
    MAX_DEPTH,
    OPS_BASE,
    OPS_PER_BYTE,
    BoundedReader,
    Malformed,
    Refused,
    RestrictedUnpickler,
    check_shape,
    describe,
    finish,
    nelements,
    shorten,
)

__all__ = [
    "WeightsError",
    "UnsafeWeightsError",
    "load_state_file",
    "resolve_weights_file",
    "load_weights",
    "ALLOWED_GLOBALS",
    "MAX_DEPTH",
]

_LOGGER_NAME = "paddle_inception"
_NAME_TABLE = "StructuredToParameterName@@"  # written by paddle.save, dropped by paddle.load
_BIG_PARAMS = "UnpackBigParamInfor@@"  # paddle's spelling (sic): >1 GiB tensors, protocol 2/3


class WeightsError(ValueError):
    """A weights/checkpoint file that cannot be used; the message names the file and what is
    wrong."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class UnsafeWeightsError(WeightsError):
    """Refused: the pickle references a global outside the allow-list; message names the global
    ("module.name") and the file, and says how to opt in for a trusted file (trusted=True / the CLI
    flag --trusted-weights)."""

    def __init__(self, message: str, path: str | None = None, global_name: str | None = None):
        super().__init__(message, path)
        self.global_name = global_name


def _join_big_params(state: dict) -> None:
    """paddle.save (protocol 2/3) splits tensors over 1 GiB into 1-D slices; join them back as
    paddle.load does (validated: slices are 1-D arrays of one dtype adding up to the shape)."""
    info = state.pop(_BIG_PARAMS)
    if type(info) is not dict:
        raise Malformed(f"{_BIG_PARAMS} is not a dict")
    removed = []
    for key, spec in info.items():
        if type(spec) is not dict or type(spec.get("slices")) is not list:
            raise Malformed(f"{_BIG_PARAMS} entry for {shorten(str(key))!r} is malformed")
        shape = spec.get("OriginShape")
        shape = check_shape(tuple(shape) if type(shape) is list else shape, "OriginShape")
        parts = []
        for name in spec["slices"]:
            part = state.get(name) if type(name) is str else None
            if type(part) is not np.ndarray or part.ndim != 1:
                raise Malformed(f"{_BIG_PARAMS}: slice {shorten(str(name))!r} is not a 1-D array")
            parts.append(part)
        if (
            not parts
            or len({p.dtype for p in parts}) != 1
            or sum(p.size for p in parts) != nelements(shape)
        ):
            raise Malformed(
                f"{_BIG_PARAMS}: slices of {shorten(str(key))!r} do not add up to {list(shape)}"
            )
        state[key] = np.concatenate(parts).reshape(shape)
        removed += spec["slices"]
    for name in removed:
        state.pop(name, None)


def _load_restricted(path: str) -> dict:
    with open_regular(path, "weights file") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(4)
        f.seek(0)
        if size == 0:
            raise Malformed("the file is empty")
        if head[:2] == b"PK":
            raise Malformed(
                "it is a zip archive (torch.save / numpy .npz format?), not a paddle.save pickle"
            )
        if len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= 5:
            raise Malformed(
                f"not a paddle.save file: it does not start with a pickle protocol 2-5 "
                f"header (first bytes {head.hex()})"
            )
        max_ops = OPS_BASE + int(size * OPS_PER_BYTE)
        obj = RestrictedUnpickler(BoundedReader(f, size), max_ops).load()
    if type(obj) not in (dict, collections.OrderedDict):
        raise Malformed(f"the top level is a {describe(obj)}, not a dict (a state dict)")
    obj = finish(obj, tuples_to_arrays=_NAME_TABLE not in obj)
    if _BIG_PARAMS in obj:
        _join_big_params(obj)
    obj.pop(_NAME_TABLE, None)
    return obj


def _load_trusted(path: str) -> dict:
    import paddle

    try:
        obj = paddle.load(path, return_numpy=True)  # full pickle: runs any code in the file
    except Exception as e:  # noqa: BLE001 - whatever a corrupt file makes paddle.load raise
        raise WeightsError(
            f"cannot load '{path}' (trusted): {type(e).__name__}: {shorten(str(e), 200)}", path
        ) from None
    if not isinstance(obj, dict):
        raise WeightsError(
            f"cannot load '{path}': the top level is a {type(obj).__name__}, not a "
            f"dict (a state dict)",
            path,
        )
    return obj


def load_state_file(path, *, trusted: bool = False) -> dict:
    """Read a .pdparams/.pdopt written by paddle.save.

    Default: a restricted unpickler that can only build numpy arrays (plain bool/int/uint/float/
    complex dtypes), numpy scalars and plain containers (dict, OrderedDict, list, tuple, str, bytes,
    int, float, bool, None); anything else raises UnsafeWeightsError naming the global. The result
    equals `paddle.load(path, return_numpy=True)`: the `StructuredToParameterName@@` table is
    dropped, tensors split by protocol 2/3 are re-joined, and in files without the table
    `(name, array)` pairs (nested tensors) become arrays. Arrays are writeable.

    trusted=True: plain `paddle.load(path, return_numpy=True)` - a full pickle that RUNS ANY CODE
    the file contains; only for trusted legacy files that the restricted loader refuses.

    The top level must be a dict. Raises FileNotFoundError (names the path), WeightsError (message
    names the file and what is wrong) or UnsafeWeightsError.
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        # (errno, strerror, filename): str() reads "[Errno 2] weights file not found: '<p>'"
        raise FileNotFoundError(2, "weights file not found", p)
    if os.path.isdir(p):
        raise WeightsError(
            f"cannot load '{p}': it is a directory, not a weights file "
            f"(resolve_weights_file finds model.pdparams in checkpoint directories)",
            p,
        )
    check_file(p, "weights file")  # a FIFO or a device: one line, never a blocking open
    if trusted:
        return _load_trusted(p)
    try:
        return _load_restricted(p)
    except Refused as e:
        name = shorten(e.args[0], 200)
        raise UnsafeWeightsError(
            f"refusing to load '{p}': its pickle references {name}, which is not on the "
            f"allow-list for weights files (numpy arrays, numpy scalars and plain containers "
            f"only); loading it would let the file run code. If you trust this file, load it "
            f"with trusted=True (CLI: --trusted-weights).",
            p,
            name,
        ) from None
    except Malformed as e:
        raise WeightsError(f"cannot load '{p}': {e}", p) from None
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - any other failure of a malformed pickle
        try:
            detail = shorten(str(e), 200)
        except Exception:  # noqa: BLE001 - str() of a hostile exception argument
            detail = ""
        reason = (
            "the file ends before the pickle does (truncated)"
            if isinstance(e, EOFError)
            else f"not a valid paddle.save pickle ({type(e).__name__}: {detail})"
        )
        raise WeightsError(f"cannot load '{p}': {reason}", p) from None


def resolve_weights_file(path, what: str = "weights") -> str:
    """The .pdparams file for `path`, which may be:

    * a file (returned as given);
    * a path without the '.pdparams' suffix (PaddleClas prefix style: 'output/best_model');
    * a checkpoint directory holding model.pdparams, including symlinks such as output/<arch>/latest
      (returned as '<realpath of the directory>/model.pdparams', so a later re-pointed link does not
      change what is read);
    * '<checkpoint dir>.pdparams' (a prefix naming a checkpoint directory).

    Raises FileNotFoundError whose message starts with `what`, names the path and says what was
    expected.
    """
    p = os.fspath(path)
    expected = (
        "expected a .pdparams file, a path prefix without '.pdparams', or a checkpoint "
        "directory holding model.pdparams such as output/<arch>/latest"
    )
    if os.path.isdir(p):
        cand = os.path.join(os.path.realpath(p), "model.pdparams")
        if os.path.isfile(cand):
            return cand
        raise FileNotFoundError(f"{what}: no model.pdparams in directory '{p}' ({expected})")
    if os.path.isfile(p):
        return p
    if not p.endswith(".pdparams") and os.path.isfile(p + ".pdparams"):
        return p + ".pdparams"
    if p.endswith(".pdparams"):
        base = p[: -len(".pdparams")]
        if base and os.path.isdir(base) and os.path.isfile(os.path.join(base, "model.pdparams")):
            return os.path.join(os.path.realpath(base), "model.pdparams")
    if os.path.exists(p):  # a FIFO, a device, a socket: there, but not a file
        check_file(p, what)
    raise FileNotFoundError(f"{what}: file not found: '{p}' ({expected})")


# --------------------------------------------------------------------------------------------------
# Putting a state dict into a model
# --------------------------------------------------------------------------------------------------

_SHOW = 5  # names listed in messages


def _shape_of(v):
    """The shape of a tensor-like value as a list, or None if it is not an array/tensor."""
    shape = getattr(v, "shape", None)
    if shape is None or isinstance(v, (str, bytes)) or not hasattr(v, "dtype"):
        return None
    try:
        return [int(d) for d in shape]
    except (TypeError, ValueError):
        return None


def _fmt_shape(v) -> str:
    s = _shape_of(v)
    return str(s) if s is not None else f"<{type(v).__name__}>"


def _numpy_dtype_of(pdtype):
    import paddle

    table = {
        paddle.float32: np.float32,
        paddle.float64: np.float64,
        paddle.float16: np.float16,
        paddle.bfloat16: np.uint16,  # paddle's numpy convention for bfloat16
        paddle.int8: np.int8,
        paddle.int16: np.int16,
        paddle.int32: np.int32,
        paddle.int64: np.int64,
        paddle.uint8: np.uint8,
        paddle.bool: np.bool_,
        paddle.complex64: np.complex64,
        paddle.complex128: np.complex128,
    }
    t = table.get(pdtype)
    return np.dtype(t) if t is not None else None


def _to_param_value(value, param):
    """`value` in the dtype of `param`, ready for set_value: ndarrays of the right (native-order)
    dtype pass through; anything else is converted with paddle.to_tensor and cast."""
    import paddle

    if isinstance(value, np.ndarray):
        want = _numpy_dtype_of(param.dtype)
        if not value.dtype.isnative:
            value = value.astype(value.dtype.newbyteorder("="))
        if want is not None and value.dtype == want:
            return np.ascontiguousarray(value)
        value = paddle.to_tensor(value)  # uint16 arrays become bfloat16 (paddle's convention)
    elif not isinstance(value, paddle.Tensor):
        value = paddle.to_tensor(np.asarray(value))
    if value.dtype != param.dtype:
        value = value.astype(param.dtype)
    return value


def load_weights(
    model,
    path_or_state,
    *,
    mode: str = "strict",
    trusted: bool = False,
    what: str = "weights",
    logger=None,
) -> dict:
    """Load weights into a paddle.nn.Layer.

    path_or_state: a path (resolved with resolve_weights_file, read with load_state_file) or an
    already-loaded dict of arrays/tensors. Modes:

    "strict"   (inference, export, eval, resume, create_model(pretrained=...)): any missing,
               unexpected or mis-shaped tensor is a WeightsError listing them (counts and the first
               few names with shapes) and naming the file; nothing is loaded in that case.
    "finetune" (training from pretrained weights): tensors whose shape differs are skipped with a
               warning each (e.g. a classifier for another class count); unexpected keys are ignored
               with one warning, missing ones reported with one warning; but if fewer than half of
               the model's tensors would be loaded, WeightsError (the file is probably for another
               model) naming the file, the matched/total counts and a few examples; nothing loaded.

    dtype differences (a float64 array into a float32 parameter) are cast, not errors. Returns
    {"file": path or None, "loaded": n, "skipped": [names], "missing": [names],
    "unexpected": [names]}. Warnings go to `logger.warning`, else
    logging.getLogger("paddle_inception").
    """
    if mode not in ("strict", "finetune"):
        raise ValueError(f"load_weights: mode must be 'strict' or 'finetune', not {mode!r}")
    log = logger if logger is not None else logging.getLogger(_LOGGER_NAME)
    if isinstance(path_or_state, dict):
        file, state = None, path_or_state
    else:
        file = resolve_weights_file(path_or_state, what)
        state = load_state_file(file, trusted=trusted)
    src = f"'{file}'" if file else "the given state dict"
    model_name = getattr(model, "model_name", None) or type(model).__name__

    own = model.state_dict()
    matched, skipped, missing = [], [], []
    for k, param in own.items():
        if k not in state:
            missing.append(k)
        elif _shape_of(state[k]) != [int(d) for d in param.shape]:
            skipped.append(k)
        else:
            matched.append(k)
    unexpected = [k for k in state if k not in own and k != _NAME_TABLE]

    def mismatch_list(keys):
        return ", ".join(
            f"{k}: file {_fmt_shape(state[k])} vs model {list(own[k].shape)}" for k in keys[:_SHOW]
        ) + (", ..." if len(keys) > _SHOW else "")

    def names(keys, where):
        src_of = own if where == "model" else state
        return ", ".join(f"{k} {_fmt_shape(src_of[k])}" for k in keys[:_SHOW]) + (
            ", ..." if len(keys) > _SHOW else ""
        )

    # what does not fit, e.g. "2 with another shape (fc.weight: file [4, 10] vs model [4, 5])"
    parts = [
        f"{len(keys)} {label} ({show(keys)})"
        for keys, label, show in (
            (skipped, "with another shape", mismatch_list),
            (missing, "missing from the file", lambda k: names(k, "model")),
            (unexpected, "not in the model", lambda k: names(k, "file")),
        )
        if keys
    ]
    if mode == "strict":
        if parts:
            raise WeightsError(
                f"{what}: {src} does not fit model {model_name}: {'; '.join(parts)}; "
                f"{len(matched)} of {len(own)} tensors match. Nothing was loaded; check the model "
                f"name / num_classes / in_channels (fine-tuning skips mismatched tensors).",
                file,
            )
    else:
        if 2 * len(matched) < len(own):
            raise WeightsError(
                f"{what}: {src} matches only {len(matched)} of {len(own)} tensors of model "
                f"{model_name} (fewer than half: is it a file for another model?): "
                f"{'; '.join(parts)}. Nothing was loaded.",
                file,
            )
        for k in skipped:
            log.warning(
                "%s: skipping %s: shape %s in %s, model has %s (re-initialised; e.g. a "
                "classifier for another class count)",
                what,
                k,
                _fmt_shape(state[k]),
                src,
                list(own[k].shape),
            )
        if unexpected:
            log.warning(
                "%s: ignoring %d tensors of %s that the model does not have: %s",
                what,
                len(unexpected),
                src,
                names(unexpected, "file"),
            )
        if missing:
            log.warning(
                "%s: %d tensors of the model are not in %s and keep their initial values: %s",
                what,
                len(missing),
                src,
                names(missing, "model"),
            )

    # Convert everything first (a failure here leaves the model untouched), then load in one go.
    values = {k: _to_param_value(state[k], own[k]) for k in matched}
    with warnings.catch_warnings():
        # set_state_dict warns "Skip loading for <key>" about every key we did not pass
        warnings.filterwarnings("ignore", message="Skip loading for")
        model.set_state_dict(values)
    return {
        "file": file,
        "loaded": len(matched),
        "skipped": skipped,
        "missing": missing,
        "unexpected": unexpected,
    }
