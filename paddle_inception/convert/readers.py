"""Checkpoint readers that need neither torch nor safetensors, and run no code from the file.

- `.pth` / `.pt` (torch's zip format, and the legacy pre-1.6 format) are read with a restricted
  unpickler that resolves only the handful of globals a state dict needs (torch's tensor rebuild
  functions and storage classes, mapped to numpy; `collections.OrderedDict`; numpy scalars) and
  rejects everything else (`UnsafeCheckpointError`);
- `.safetensors` by a small own reader (8-byte header length, JSON header, raw buffers);
- `.pdparams` (a pickle of numpy arrays) by the same restricted unpickler.
"""

from __future__ import annotations

import collections
import json
import math
import os
import pickle
import zipfile

import numpy as np

__all__ = [
    "ConversionError",
    "UnsafeCheckpointError",
    "read_checkpoint",
    "read_torch_checkpoint",
    "read_safetensors",
    "read_pickle_file",
    "extract_state_dict",
]


class ConversionError(ValueError):
    """The checkpoint cannot be converted (wrong arch, unknown format, corrupt file...)."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The pickle inside a checkpoint references a global that a state dict never needs."""


# =============================================================================================
# restricted unpickling
# =============================================================================================
# torch storage classes -> numpy dtype ("bfloat16" is kept as raw uint16 and widened later)
_STORAGE_DTYPES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "UntypedStorage": "uint8",
}
# torch dtype objects (pickled by _rebuild_tensor_v3) -> numpy dtype
_TORCH_DTYPES = {
    "float32": "float32",
    "float": "float32",
    "float64": "float64",
    "double": "float64",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "int": "int32",
    "int16": "int16",
    "short": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
    "complex64": "complex64",
    "complex128": "complex128",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


def _no_build(self, *args):
    raise UnsafeCheckpointError(f"refusing to set state on {type(self).__name__} while unpickling")


class _StorageType:
    """Marker for a torch storage class / dtype (a fresh one per lookup)."""

    __slots__ = ("dtype",)
    __setstate__ = _no_build

    def __init__(self, dtype: str):
        self.dtype = dtype


class _TorchDType(_StorageType):
    __slots__ = ()


class _Storage:
    """One torch storage: raw 1-D numpy data (filled when read), its element dtype."""

    __slots__ = ("key", "dtype", "numel", "data", "byteorder")

    def __init__(self, key, dtype: str, numel: int, byteorder: str = "little"):
        self.key, self.dtype, self.numel, self.data = key, dtype, numel, None
        self.byteorder = byteorder


class _LazyTensor:
    """A tensor whose storage may not be read yet (legacy format): materialised at the end."""

    __slots__ = ("storage", "offset", "size", "stride", "dtype")

    def __init__(self, storage, offset, size, stride, dtype=None):
        if not isinstance(storage, _Storage):
            raise ConversionError(
                f"corrupt checkpoint: tensor built on {type(storage).__name__}, not on a storage"
            )
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride
        self.dtype = dtype


class _FrozenClass(type):
    def __setattr__(cls, name, value):
        raise UnsafeCheckpointError("refusing to modify a class while unpickling")


class _Opaque(metaclass=_FrozenClass):
    """Harmless stand-in for classes some training checkpoints pickle alongside the weights
    (argparse.Namespace, torch.Tensor / Parameter type markers): keeps whatever state it is
    given and never runs foreign code."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(
    storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None
):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(
    storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None
):
    if not isinstance(dtype, _StorageType):
        raise ConversionError("corrupt checkpoint: _rebuild_tensor_v3 without a dtype")
    return _LazyTensor(storage, storage_offset, size, stride, dtype=dtype.dtype)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *state):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    if not (
        isinstance(func, _SafeCall)
        and func.fn in (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter)
    ):
        raise UnsafeCheckpointError("refusing _rebuild_from_type_v2 with a foreign function")
    return func(*args)


def _codecs_encode(obj, encoding="utf-8"):
    # protocol-2 pickles store bytes as _codecs.encode(str, "latin1")
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError("refusing _codecs.encode other than str -> latin1 bytes")
    return obj.encode("latin1")


def _np_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise UnsafeCheckpointError("refusing numpy _reconstruct of a non-ndarray type")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _np_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafeCheckpointError("refusing a numpy object scalar")
    return np.frombuffer(data, dtype=dtype, count=1)[0] if data is not None else dtype.type()


def _np_dtype(*args):
    dt = np.dtype(*args)
    return dt


class _SafeCall:
    """An allowed function, wrapped so that a pickle cannot modify it (BUILD on a plain function
    could rewrite its defaults for later loads)."""

    __slots__ = ("fn",)
    __setstate__ = _no_build

    def __init__(self, fn):
        object.__setattr__(self, "fn", fn)

    def __setattr__(self, name, value):
        _no_build(self)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


_SAFE_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _codecs_encode,
    ("argparse", "Namespace"): _Opaque,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch._tensor", "Tensor"): _Opaque,
    ("torch", "Tensor"): _Opaque,
    ("torch.nn.parameter", "Parameter"): _Opaque,
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _SAFE_GLOBALS[(_mod, "_reconstruct")] = _np_reconstruct
    _SAFE_GLOBALS[(_mod, "scalar")] = _np_scalar
_SAFE_GLOBALS[("numpy", "ndarray")] = np.ndarray
_SAFE_GLOBALS[("numpy", "dtype")] = _np_dtype
for _name, _dt in _STORAGE_DTYPES.items():
    _SAFE_GLOBALS[("torch", _name)] = _StorageType(_dt)
for _name, _dt in _TORCH_DTYPES.items():
    _SAFE_GLOBALS[("torch", _name)] = _TorchDType(_dt)
_SAFE_GLOBALS[("torch.storage", "UntypedStorage")] = _StorageType("uint8")
_SAFE_GLOBALS = {
    k: (_SafeCall(v) if type(v).__name__ == "function" else v) for k, v in _SAFE_GLOBALS.items()
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only `_SAFE_GLOBALS`; torch storages come through `persistent_load`."""

    def __init__(self, file, storage_loader=None):
        super().__init__(file)
        self._storage_loader = storage_loader

    def find_class(self, module, name):
        obj = _SAFE_GLOBALS.get((module, name))
        if obj is None:
            raise UnsafeCheckpointError(
                f"refusing to unpickle global '{module}.{name}': a weights file needs only "
                f"tensors, numbers, strings and dicts (this file may run code when opened "
                f"with torch.load / pickle; if you trust it, re-save it as a plain state dict "
                f"with torch.save(model.state_dict(), path))"
            )
        if isinstance(obj, _StorageType):
            return type(obj)(obj.dtype)  # a fresh marker: nothing shared between loads
        return obj

    def load(self):
        try:
            return super().load()
        except (UnsafeCheckpointError, ConversionError, MemoryError):
            raise
        except Exception as e:  # truncated / corrupt / malformed pickles
            raise ConversionError(
                f"corrupt or unsupported checkpoint pickle ({type(e).__name__}: {e})"
            ) from e

    def persistent_load(self, pid):
        if self._storage_loader is None:
            raise UnsafeCheckpointError(f"unexpected persistent id {pid!r} in a plain pickle")
        return self._storage_loader(pid)


def _check_storage_pid(pid) -> tuple:
    if not (
        isinstance(pid, tuple)
        and len(pid) >= 5
        and pid[0] == "storage"
        and isinstance(pid[1], _StorageType)
        and isinstance(pid[4], int)
    ):
        raise ConversionError(f"corrupt checkpoint: unexpected persistent id {pid!r}")
    return pid


def _materialize(t: _LazyTensor) -> np.ndarray:
    st = t.storage
    if st.data is None:
        raise ConversionError(f"corrupt checkpoint: storage {st.key!r} has no data")
    data = st.data
    dtype = t.dtype or st.dtype
    if dtype != st.dtype:  # typed view of an untyped (byte) storage
        dt = _storage_numpy_dtype(dtype, st.byteorder)
        if data.nbytes % dt.itemsize:
            raise ConversionError(
                f"corrupt checkpoint: storage {st.key!r} is not a whole number of {dtype} elements"
            )
        data = data.view(np.uint8).view(dt)
    size, stride, offset = tuple(t.size), tuple(t.stride), t.offset
    ints = size + stride + (offset,)
    if not all(isinstance(v, int) and v >= 0 for v in ints) or len(size) != len(stride):
        raise ConversionError(
            f"corrupt checkpoint: bad tensor geometry size={size} stride={stride} offset={offset}"
        )
    n = math.prod(size)
    if n == 0:
        arr = np.zeros(size, dtype=data.dtype)
    else:
        last = offset + sum((s - 1) * k for s, k in zip(size, stride))
        if last >= data.shape[0]:
            raise ConversionError(
                f"corrupt checkpoint: tensor of size {size} reads past the "
                f"end of storage {st.key!r} ({data.shape[0]} elements)"
            )
        view = np.lib.stride_tricks.as_strided(
            data[offset:], shape=size, strides=[k * data.itemsize for k in stride], writeable=False
        )
        arr = np.array(view, order="C")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if dtype == "bfloat16":  # widen exactly: bf16 is the top half of a float32
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr


def _resolve(obj, depth=0):
    """Replace every _LazyTensor in a dict/list/tuple tree by its numpy array."""
    if depth > 100:
        raise ConversionError("checkpoint nests containers more than 100 deep")
    if isinstance(obj, _LazyTensor):
        return _materialize(obj)
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _resolve(v, depth + 1)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, depth + 1) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise UnsafeCheckpointError("refusing a numpy object array")
    return obj


def _storage_numpy_dtype(dtype: str, byteorder: str) -> np.dtype:
    dt = np.dtype("uint16") if dtype == "bfloat16" else np.dtype(dtype)
    if dt.itemsize > 1:
        dt = dt.newbyteorder("<" if byteorder == "little" else ">")
    return dt


def _read_torch_zip(path: str):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkls = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
        if not pkls:
            hint = (
                " (this is a TorchScript archive: load it with torch.jit.load and save "
                "model.state_dict() with torch.save)"
                if any(n.endswith("constants.pkl") for n in names)
                else ""
            )
            raise ConversionError(
                f"{path}: a zip file without data.pkl, not a torch checkpoint{hint}"
            )
        pkl = min(pkls, key=len)
        prefix = pkl[: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = zf.read(prefix + "byteorder").decode("ascii").strip()
            if byteorder not in ("little", "big"):
                raise ConversionError(f"{path}: unknown byteorder {byteorder!r}")
        storages: dict = {}

        def load_storage(pid):
            _, stype, key, _location, numel = _check_storage_pid(pid)[:5]
            key = str(key)
            if key not in storages:
                rec = f"{prefix}data/{key}"
                if rec not in names:
                    raise ConversionError(f"{path}: missing tensor data record {rec!r}")
                st = _Storage(key, stype.dtype, numel, byteorder)
                st.data = np.frombuffer(
                    zf.read(rec), dtype=_storage_numpy_dtype(stype.dtype, byteorder)
                )
                storages[key] = st
            return storages[key]

        with zf.open(pkl) as f:
            obj = _RestrictedUnpickler(f, load_storage).load()
    return _resolve(obj)


def _read_torch_legacy(f, path: str):
    """torch's pre-1.6 format: magic, protocol, sys_info, the object pickle (storages as
    persistent ids), the list of storage keys, then each storage's raw data."""
    protocol = _RestrictedUnpickler(f).load()
    if protocol != _LEGACY_PROTOCOL:
        raise ConversionError(f"{path}: unsupported legacy torch protocol {protocol!r}")
    sys_info = _RestrictedUnpickler(f).load()
    little = bool(sys_info.get("little_endian", True)) if isinstance(sys_info, dict) else True
    storages: dict = {}

    def load_storage(pid):
        if isinstance(pid, tuple) and pid and pid[0] == "module":
            raise ConversionError(
                f"{path}: contains a whole pickled nn.Module; save its state_dict() instead"
            )
        _, stype, key, _location, numel = _check_storage_pid(pid)[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise ConversionError(
                f"{path}: legacy storage views are not supported; re-save "
                f"the file with a current torch"
            )
        key = str(key)
        if key not in storages:
            storages[key] = _Storage(key, stype.dtype, numel, "little" if little else "big")
        return storages[key]

    obj = _RestrictedUnpickler(f, load_storage).load()
    keys = _RestrictedUnpickler(f).load()
    if not isinstance(keys, list):
        raise ConversionError(f"{path}: corrupt legacy checkpoint (no storage key list)")
    for key in keys:
        st = storages.get(str(key))
        if st is None:
            raise ConversionError(f"{path}: corrupt legacy checkpoint (unknown storage {key!r})")
        head = f.read(8)
        if len(head) != 8:
            raise ConversionError(f"{path}: truncated legacy checkpoint")
        numel = int.from_bytes(head, "little" if little else "big", signed=True)
        dt = _storage_numpy_dtype(st.dtype, "little" if little else "big")
        nbytes = numel * dt.itemsize
        buf = f.read(nbytes)
        if numel < 0 or len(buf) != nbytes:
            raise ConversionError(f"{path}: truncated legacy checkpoint (storage {key!r})")
        st.data = np.frombuffer(buf, dtype=dt)
    return _resolve(obj)


def read_pickle_file(path: str):
    """A pickle-based file: torch's legacy format, or a plain pickle (`.pdparams`)."""
    with open(path, "rb") as f:
        first = _RestrictedUnpickler(f).load()
        if isinstance(first, int) and first == _LEGACY_MAGIC:
            return _read_torch_legacy(f, path)
    return _resolve(first)


def read_torch_checkpoint(path: str):
    """What `torch.load(path, map_location="cpu")` returns, with numpy arrays for tensors
    (bfloat16 is widened to float32), without importing torch and without running code."""
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        return _read_torch_zip(path)
    with open(path, "rb") as f:
        head = f.read(512)
    if head[:2] == b"\x1f\x8b" or (len(head) > 262 and head[257:262] == b"ustar"):
        raise ConversionError(
            f"{path}: torch's pre-0.4 tar format is not supported; load and "
            f"re-save it with a current torch"
        )
    if not head.startswith(b"\x80"):
        raise ConversionError(f"{path}: not a torch checkpoint (neither zip nor pickle)")
    return read_pickle_file(path)


_ST_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U64": "uint64",
    "U32": "uint32",
    "U16": "uint16",
    "U8": "uint8",
    "BOOL": "bool",
}


def read_safetensors(path: str) -> dict:
    """A `.safetensors` file -> {name: numpy array} (own reader; bfloat16 widened to float32)."""
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ConversionError(f"{path}: not a safetensors file (too short)")
        n = int.from_bytes(head, "little")
        if not 2 <= n <= min(size - 8, 100 << 20):
            raise ConversionError(f"{path}: not a safetensors file (header length {n})")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConversionError(f"{path}: not a safetensors file ({e})") from None
        buf = f.read()
    if not isinstance(header, dict):
        raise ConversionError(f"{path}: safetensors header is not a JSON object")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ConversionError(f"{path}: bad safetensors entry for {name!r}") from None
        if dtype not in _ST_DTYPES:
            raise ConversionError(f"{path}: tensor {name!r} has unsupported dtype {dtype}")
        dt = _storage_numpy_dtype(_ST_DTYPES[dtype], "little")
        if not (
            isinstance(shape, list)
            and all(isinstance(s, int) and s >= 0 for s in shape)
            and isinstance(begin, int)
            and isinstance(end, int)
            and 0 <= begin <= end <= len(buf)
            and end - begin == math.prod(shape) * dt.itemsize
        ):
            raise ConversionError(f"{path}: tensor {name!r} has bad offsets/shape")
        count = math.prod(shape)
        arr = np.frombuffer(buf, dtype=dt, count=count, offset=begin).reshape(shape)
        arr = arr.astype(arr.dtype.newbyteorder("="))  # a native, writable copy
        if _ST_DTYPES[dtype] == "bfloat16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr
    return out


def read_checkpoint(path: str):
    """Read any supported weights file, by content: torch zip / legacy pickle, safetensors,
    `.pdparams` pickle. Returns the unpickled object (usually a dict of numpy arrays)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if zipfile.is_zipfile(path):
        return _read_torch_zip(path)
    with open(path, "rb") as f:
        head = f.read(9)
    if head.startswith(b"\x80"):
        return read_pickle_file(path)
    if len(head) == 9 and head[8:9] == b"{":
        return read_safetensors(path)
    return read_torch_checkpoint(path)  # raises a clear error for tar / unknown files


# =============================================================================================
# state-dict extraction
# =============================================================================================
_WRAPPER_KEYS = (
    "state_dict",
    "model",
    "model_state",
    "model_state_dict",
    "net",
    "params",
    "module",
)


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and any(isinstance(v, np.ndarray) for v in obj.values())


def extract_state_dict(obj, use_ema: bool = False, path: str = "checkpoint") -> dict:
    """The {name: array} mapping inside a loaded checkpoint (unwraps training checkpoints'
    `state_dict` / `model` / `state_dict_ema` entries and DataParallel's `module.` prefix)."""
    if isinstance(obj, dict) and not _is_state_dict(obj):
        keys = (("state_dict_ema", "model_ema") if use_ema else ()) + _WRAPPER_KEYS
        for k in keys:
            if _is_state_dict(obj.get(k)):
                obj = obj[k]
                break
        else:
            top = list(obj)[:12] if isinstance(obj, dict) else type(obj).__name__
            want = "an EMA state dict (state_dict_ema)" if use_ema else "a state dict"
            raise ConversionError(f"{path}: could not find {want}; top-level entries: {top}")
    elif use_ema:
        raise ConversionError(f"{path}: use_ema requested but the file holds a plain state dict")
    if not _is_state_dict(obj):
        raise ConversionError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    sd = {str(k): v for k, v in obj.items() if isinstance(v, np.ndarray)}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd
