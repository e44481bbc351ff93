"""Where an exported model's files are: the program, its parameters and our `_meta.json`."""

from __future__ import annotations

import json
import os

from .._safe_files import check_file, open_regular, read_bounded

__all__ = ["META_SUFFIX", "model_files", "read_meta", "check_export", "params_shapes"]

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


def _sane_chw(chw) -> bool:
    """[C, H, W] of ints, each side in 1..MAX_INPUT_SIDE and C*H*W <= MAX_INPUT_ELEMENTS: the
    bound an export's recorded and programmed input shapes are both held to."""
    return (
        len(chw) == 3
        and all(type(v) is int and 1 <= v <= MAX_INPUT_SIDE for v in chw)
        and chw[0] * chw[1] * chw[2] <= MAX_INPUT_ELEMENTS
    )


def _check_meta(meta: dict, path: str) -> None:
    """The fields the tools use, with sane bounds: an edited `input_shape` is one line naming
    the file, not an allocation of terabytes inside Paddle."""
    shape = meta.get("input_shape")
    if shape is not None:
        if not (isinstance(shape, list) and _sane_chw(shape)):
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


# ------------------------------------------------------------------ checking an export's files
#: an exported program (.json) of the zoo is 0.2-0.5 MB
MAX_PROGRAM_BYTES = 256 * 2**20
#: bytes per element of Paddle's VarType data types (framework.proto)
_DTYPE_BYTES = {0: 1, 1: 2, 2: 4, 3: 8, 4: 2, 5: 4, 6: 8, 20: 1, 21: 1, 22: 2, 23: 8, 24: 16}
_MAX_TENSORS = 100_000


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, i
        shift += 7


def _tensor_desc(buf: bytes) -> tuple[int | None, list]:
    """(data_type, dims) of a serialized VarType.TensorDesc (protobuf fields 1 and 2)."""
    dtype, dims, i = None, [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            if field == 1:
                dtype = value
            elif field == 2:
                dims.append(value - 2**64 if value >= 2**63 else value)
        elif wire == 2:  # packed dims
            length, i = _varint(buf, i)
            chunk, i = buf[i : i + length], i + length
            j = 0
            while j < len(chunk):
                value, j = _varint(chunk, j)
                dims.append(value - 2**64 if value >= 2**63 else value)
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
    return dtype, dims


def params_shapes(path: str) -> list[tuple]:
    """The shapes of the tensors in a `.pdiparams` file (Paddle's save_combine format: per
    tensor a version, LoD levels, a TensorDesc and the raw data), walking the headers with
    bounds and seeking over the data. A truncated or edited file is a ValueError naming it
    and the offset."""
    import struct

    shapes = []
    with open_regular(path, "inference model") as f:
        size = os.fstat(f.fileno()).st_size

        def read(n: int) -> bytes:
            data = f.read(n)
            if len(data) != n:
                raise ValueError(f"ends inside tensor {len(shapes) + 1}'s header")
            return data

        try:
            while f.tell() < size and len(shapes) < _MAX_TENSORS:
                start = f.tell()
                read(4)  # version
                (levels,) = struct.unpack("<Q", read(8))
                if levels > 8:
                    raise ValueError(f"tensor {len(shapes) + 1} claims {levels} LoD levels")
                for _ in range(levels):
                    (n,) = struct.unpack("<Q", read(8))
                    if n > size - f.tell():
                        raise ValueError(f"tensor {len(shapes) + 1}'s LoD runs past the end")
                    f.seek(n, os.SEEK_CUR)
                read(4)  # tensor version
                (desc_size,) = struct.unpack("<i", read(4))
                if not 0 <= desc_size <= 4096:
                    raise ValueError(f"tensor {len(shapes) + 1}: bad header at offset {start}")
                dtype, dims = _tensor_desc(read(desc_size))
                if dtype not in _DTYPE_BYTES or any(d < 0 for d in dims):
                    raise ValueError(f"tensor {len(shapes) + 1}: bad header at offset {start}")
                nbytes = _DTYPE_BYTES[dtype]
                for d in dims:
                    nbytes *= d
                if nbytes > size - f.tell():
                    raise ValueError(
                        f"tensor {len(shapes) + 1} {dims} needs {nbytes} bytes at offset "
                        f"{f.tell()}, {size - f.tell()} are left (truncated?)"
                    )
                f.seek(nbytes, os.SEEK_CUR)
                shapes.append(tuple(dims))
        except (ValueError, struct.error) as e:
            raise ValueError(
                f"inference model: {path}: not a complete parameter file ({e}); re-export it"
            ) from None
    return shapes


def _program_facts(program: str) -> tuple[list | None, list | None]:
    """(input shapes, parameter shapes) of an exported PIR program (.json), None where the
    layout is not the one Paddle 3 writes. A truncated or edited file is a ValueError."""
    raw = read_bounded(program, MAX_PROGRAM_BYTES, "inference model", kind="program file")
    try:
        prog = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError(f"inference model: {program}: JSON nested too deeply") from None
    except ValueError as e:
        raise ValueError(
            f"inference model: {program}: not valid JSON ({e}); truncated or edited? re-export it"
        ) from None
    try:
        ops = prog["program"]["regions"][0]["blocks"][0]["ops"]
    except (KeyError, IndexError, TypeError):
        return None, None
    inputs, params = [], []
    for op in ops if isinstance(ops, list) else []:
        if not isinstance(op, dict):
            continue
        name = op.get("#")
        try:
            if isinstance(name, str) and name.endswith(".data"):
                attrs = {a["N"]: a["AT"]["D"] for a in op["A"]}
                inputs.append(list(attrs["shape"]))
            elif name == "p":
                params.append(tuple(op["O"]["TT"]["D"][1]))
        except (KeyError, IndexError, TypeError):
            return None, None
    return inputs, params


def check_export(program: str, params: str, meta: dict | None) -> None:
    """Before Paddle reads an export: the program's input shape within bounds and equal to the
    `_meta.json`'s, the parameter file complete and holding the program's parameters. An
    edited shape would make Paddle allocate terabytes; a truncated file fails deep inside it."""
    file_shapes = params_shapes(params)
    if not program.endswith(".json"):
        return  # a legacy protobuf .pdmodel: the parameter file walk is what is checked
    inputs, wanted = _program_facts(program)
    for shape in inputs or []:
        chw = shape[1:]
        if not _sane_chw(chw):
            raise ValueError(
                f"inference model: {program}: input shape {shape} is not [N, C, H, W] with "
                f"each side in 1..{MAX_INPUT_SIDE} and C*H*W <= {MAX_INPUT_ELEMENTS:,}; "
                f"edited? re-export the model"
            )
        expected = (meta or {}).get("input_shape")
        if expected is not None and list(chw) != list(expected):
            raise ValueError(
                f"inference model: {program}: input shape {shape} does not match "
                f"input_shape {expected} of its _meta.json; one of them was edited: re-export"
            )
    if wanted is not None and sorted(wanted) != sorted(file_shapes):
        raise ValueError(
            f"inference model: {params} holds {len(file_shapes)} tensors that do not match "
            f"the {len(wanted)} parameters of {program}; the two files are not from one export"
        )
