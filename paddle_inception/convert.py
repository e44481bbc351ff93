"""Convert torchvision / timm / PaddleClas checkpoints into weights for this zoo.

    python tools/convert_weights.py --from timm --arch inception_v4 model.safetensors v4.pdparams

writes `v4.pdparams` (loads into our model with `set_state_dict`, no missing or unexpected keys:
the converter checks this before writing) and `v4.json` next to it, the sidecar with the model
name, its constructor kwargs and the preprocessing the checkpoint expects. Load both with

    model, cfg = paddle_inception.convert.load_converted("v4.pdparams")

or `create_model(cfg_json["arch"], pretrained="v4.pdparams", **cfg_json["model_kwargs"])`.

Supported pairs (`SUPPORTED`):

=============  =====================================  ===========================================
source         arch                                   what the converter does
=============  =====================================  ===========================================
torchvision    googlenet                              `googlenet_bn`, branch3_kernel_size=3,
                                                      maxpool4_kernel_size=2, transform_input
                                                      (default on, as the published weights),
                                                      aux heads if present
torchvision    inception_v3                           transform_input (default on), aux if present
timm           inception_v3                           names map 1:1; aux head if present (tv_in1k)
timm           inception_v4                           `features.<i>` -> TF-slim block names
timm           inception_resnet_v2                    `<block>.conv2d` -> `<block>.conv2d.conv`
paddleclas     InceptionV3                            bn_eps=1e-5, no aux head, inference dropout
                                                      scale folded into head.fc
paddleclas     InceptionV4                            bn_eps=1e-5, kernel_order="paper", concat
                                                      order folded into the next layer's weights,
                                                      dropout scale folded into head.fc
paddleclas     GoogLeNet                              refused: not expressible (see
                                                      `PADDLECLAS_GOOGLENET_WHY`)
=============  =====================================  ===========================================

Readers work without torch or safetensors installed:

- `.pth` / `.pt` (torch's zip format, and the legacy pre-1.6 format) are read with a restricted
  unpickler that resolves only the handful of globals a state dict needs (torch's tensor rebuild
  functions and storage classes, mapped to numpy; `collections.OrderedDict`; numpy scalars) and
  rejects everything else (`UnsafeCheckpointError`), so a checkpoint cannot run code;
- `.safetensors` by a small own reader (8-byte header length, JSON header, raw buffers);
- `.pdparams` (a pickle of numpy arrays) by the same restricted unpickler.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import math
import os
import pickle
import re
import sys
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .registry import (IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN, INCEPTION_STD,
                       create_model, get_model_cfg)

__all__ = ["ConversionError", "UnsafeCheckpointError", "SUPPORTED", "PADDLECLAS_GOOGLENET_WHY",
           "read_checkpoint", "read_torch_checkpoint", "read_safetensors", "read_pickle_file",
           "extract_state_dict",
           "convert_state_dict", "convert_checkpoint", "ConversionResult", "load_converted",
           "sidecar_path", "preprocessing_transform_ops", "main"]

SIDECAR_FORMAT = "paddle_inception.converted/1"


class ConversionError(ValueError):
    """The checkpoint cannot be converted (wrong arch, unknown format, corrupt file...)."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The pickle inside a checkpoint references a global that a state dict never needs."""


# =============================================================================================
# restricted unpickling
# =============================================================================================
# torch storage classes -> numpy dtype ("bfloat16" is kept as raw uint16 and widened later)
_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128", "UntypedStorage": "uint8",
}
# torch dtype objects (pickled by _rebuild_tensor_v3) -> numpy dtype
_TORCH_DTYPES = {
    "float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
    "float16": "float16", "half": "float16", "bfloat16": "bfloat16", "int64": "int64",
    "long": "int64", "int32": "int32", "int": "int32", "int16": "int16", "short": "int16",
    "int8": "int8", "uint8": "uint8", "bool": "bool", "complex64": "complex64",
    "complex128": "complex128", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
}
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001


def _no_build(self, *args):
    raise UnsafeCheckpointError(f"refusing to set state on {type(self).__name__} while "
                                f"unpickling")


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
            raise ConversionError(f"corrupt checkpoint: tensor built on {type(storage).__name__}, "
                                  f"not on a storage")
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


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    if not isinstance(dtype, _StorageType):
        raise ConversionError("corrupt checkpoint: _rebuild_tensor_v3 without a dtype")
    return _LazyTensor(storage, storage_offset, size, stride, dtype=dtype.dtype)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *state):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    if not (isinstance(func, _SafeCall) and func.fn in (
            _rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter)):
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
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice, ("builtins", "complex"): complex,
    ("_codecs", "encode"): _codecs_encode,
    ("argparse", "Namespace"): _Opaque,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch._tensor", "Tensor"): _Opaque, ("torch", "Tensor"): _Opaque,
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
_SAFE_GLOBALS = {k: (_SafeCall(v) if type(v).__name__ == "function" else v)
                 for k, v in _SAFE_GLOBALS.items()}


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
                f"with torch.save(model.state_dict(), path))")
        if isinstance(obj, _StorageType):
            return type(obj)(obj.dtype)      # a fresh marker: nothing shared between loads
        return obj

    def load(self):
        try:
            return super().load()
        except (UnsafeCheckpointError, ConversionError, MemoryError):
            raise
        except Exception as e:          # truncated / corrupt / malformed pickles
            raise ConversionError(f"corrupt or unsupported checkpoint pickle "
                                  f"({type(e).__name__}: {e})") from e

    def persistent_load(self, pid):
        if self._storage_loader is None:
            raise UnsafeCheckpointError(f"unexpected persistent id {pid!r} in a plain pickle")
        return self._storage_loader(pid)


def _check_storage_pid(pid) -> tuple:
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
            and isinstance(pid[1], _StorageType) and isinstance(pid[4], int)):
        raise ConversionError(f"corrupt checkpoint: unexpected persistent id {pid!r}")
    return pid


def _materialize(t: _LazyTensor) -> np.ndarray:
    st = t.storage
    if st.data is None:
        raise ConversionError(f"corrupt checkpoint: storage {st.key!r} has no data")
    data = st.data
    dtype = t.dtype or st.dtype
    if dtype != st.dtype:       # typed view of an untyped (byte) storage
        dt = _storage_numpy_dtype(dtype, st.byteorder)
        if data.nbytes % dt.itemsize:
            raise ConversionError(f"corrupt checkpoint: storage {st.key!r} is not a whole "
                                  f"number of {dtype} elements")
        data = data.view(np.uint8).view(dt)
    size, stride, offset = tuple(t.size), tuple(t.stride), t.offset
    ints = size + stride + (offset,)
    if not all(isinstance(v, int) and v >= 0 for v in ints) or len(size) != len(stride):
        raise ConversionError(f"corrupt checkpoint: bad tensor geometry size={size} "
                              f"stride={stride} offset={offset}")
    n = math.prod(size)
    if n == 0:
        arr = np.zeros(size, dtype=data.dtype)
    else:
        last = offset + sum((s - 1) * k for s, k in zip(size, stride))
        if last >= data.shape[0]:
            raise ConversionError(f"corrupt checkpoint: tensor of size {size} reads past the "
                                  f"end of storage {st.key!r} ({data.shape[0]} elements)")
        view = np.lib.stride_tricks.as_strided(
            data[offset:], shape=size, strides=[k * data.itemsize for k in stride],
            writeable=False)
        arr = np.array(view, order="C")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if dtype == "bfloat16":     # widen exactly: bf16 is the top half of a float32
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
            hint = (" (this is a TorchScript archive: load it with torch.jit.load and save "
                    "model.state_dict() with torch.save)" if any(
                        n.endswith("constants.pkl") for n in names) else "")
            raise ConversionError(f"{path}: a zip file without data.pkl, not a torch "
                                  f"checkpoint{hint}")
        pkl = min(pkls, key=len)
        prefix = pkl[:-len("data.pkl")]
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
                st.data = np.frombuffer(zf.read(rec),
                                        dtype=_storage_numpy_dtype(stype.dtype, byteorder))
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
            raise ConversionError(f"{path}: contains a whole pickled nn.Module; save its "
                                  f"state_dict() instead")
        _, stype, key, _location, numel = _check_storage_pid(pid)[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise ConversionError(f"{path}: legacy storage views are not supported; re-save "
                                  f"the file with a current torch")
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
        raise ConversionError(f"{path}: torch's pre-0.4 tar format is not supported; load and "
                              f"re-save it with a current torch")
    if not head.startswith(b"\x80"):
        raise ConversionError(f"{path}: not a torch checkpoint (neither zip nor pickle)")
    return read_pickle_file(path)


_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
              "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U64": "uint64",
              "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool"}


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
        if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)
                and isinstance(begin, int) and isinstance(end, int)
                and 0 <= begin <= end <= len(buf)
                and end - begin == math.prod(shape) * dt.itemsize):
            raise ConversionError(f"{path}: tensor {name!r} has bad offsets/shape")
        count = math.prod(shape)
        arr = np.frombuffer(buf, dtype=dt, count=count, offset=begin).reshape(shape)
        arr = arr.astype(arr.dtype.newbyteorder("="))      # a native, writable copy
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
    return read_torch_checkpoint(path)   # raises a clear error for tar / unknown files


# =============================================================================================
# state-dict extraction
# =============================================================================================
_WRAPPER_KEYS = ("state_dict", "model", "model_state", "model_state_dict", "net", "params",
                 "module")


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
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


# =============================================================================================
# what each peer checkpoint expects
# =============================================================================================
def _pre(size, crop_pct, interpolation, mean, std, resize_short=None):
    """Eval preprocessing: resize the shorter side to `resize_short` (default
    floor(size / crop_pct), as timm), center-crop `size`, normalise with mean/std."""
    if resize_short is None:
        resize_short = int(math.floor(size / crop_pct))
    else:
        crop_pct = round(size / resize_short, 6)
    return dict(input_size=[3, size, size], crop_pct=crop_pct, resize_short=resize_short,
                interpolation=interpolation, mean=list(mean), std=list(std))


# torchvision: transforms of the published weights (GoogLeNet_Weights.IMAGENET1K_V1,
# Inception_V3_Weights.IMAGENET1K_V1): resize_size / crop_size, bilinear, ImageNet mean/std.
_TV_PRE = {"googlenet": _pre(224, 0.875, "bilinear", IMAGENET_MEAN, IMAGENET_STD, 256),
           "inception_v3": _pre(299, 0.875, "bilinear", IMAGENET_MEAN, IMAGENET_STD, 342)}
# timm pretrained_cfg per tag; resize = floor(size / crop_pct) as timm's eval transform
_TIMM_PRE = {
    "inception_v3": {"tv_in1k": _pre(299, 0.875, "bicubic", INCEPTION_MEAN, INCEPTION_STD),
                     "tf_in1k": _pre(299, 0.875, "bicubic", INCEPTION_MEAN, INCEPTION_STD),
                     "tf_adv_in1k": _pre(299, 0.875, "bicubic", INCEPTION_MEAN, INCEPTION_STD),
                     "gluon_in1k": _pre(299, 0.875, "bicubic", IMAGENET_MEAN, IMAGENET_STD)},
    "inception_v4": {"tf_in1k": _pre(299, 0.875, "bicubic", INCEPTION_MEAN, INCEPTION_STD)},
    "inception_resnet_v2": {
        "tf_in1k": _pre(299, 0.8975, "bicubic", INCEPTION_MEAN, INCEPTION_STD),
        "tf_ens_adv_in1k": _pre(299, 0.8975, "bicubic", INCEPTION_MEAN, INCEPTION_STD)},
}
_TIMM_DEFAULT_TAG = {"inception_v3": "tv_in1k", "inception_v4": "tf_in1k",
                     "inception_resnet_v2": "tf_in1k"}
_TIMM_ALIASES = {"tf_inception_v3": ("inception_v3", "tf_in1k"),
                 "adv_inception_v3": ("inception_v3", "tf_adv_in1k"),
                 "gluon_inception_v3": ("inception_v3", "gluon_in1k"),
                 "ens_adv_inception_resnet_v2": ("inception_resnet_v2", "tf_ens_adv_in1k")}
# PaddleClas ImageNet/Inception/*.yaml eval transforms: ResizeImage resize_short 320 (cv2
# bilinear), CropImage 299, NormalizeImage ImageNet mean/std.
_PPCLS_PRE = _pre(299, 0.934375, "bilinear", IMAGENET_MEAN, IMAGENET_STD, 320)
# PaddleClas' InceptionV3 / InceptionV4 end in Dropout(p=0.2, mode="downscale_in_infer"): at
# inference the features are multiplied by 0.8 before the fc; we fold that into the fc weight.
_PPCLS_DROPOUT = 0.2

PADDLECLAS_GOOGLENET_WHY = (
    "PaddleClas' GoogLeNet (ppcls/arch/backbone/model_zoo/googlenet.py) is a different network "
    "from every GoogLeNet this package can build, so its weights cannot give the same outputs: "
    "(1) none of its convolutions has an activation of its own (ConvLayer is conv without bias "
    "or BN, its act argument is ignored): the stem conv1 -> conv2_1x1 -> conv2_3x3 is purely "
    "linear, and inside each Inception block the 3x3/5x5 reduce convs feed the 3x3/5x5 convs "
    "with no ReLU in between; the only ReLU is one after each block's concatenation (ours: "
    "conv -> ReLU after every conv, as the paper); "
    "(2) its max pools are floor-mode without padding, giving 112 -> 55 -> 27 -> 13 -> 6 maps "
    "at 224 (ours and torchvision's: ceil mode, 112/56/28/14/7); "
    "(3) its aux heads use a fixed 5x5/3 average pool on the 13x13 maps -> 3x3x128 = 1152 "
    "features into fc_o1/fc_o2 (ours: adaptive 4x4 -> 2048), so the aux FC shapes differ and "
    "the model only runs at input sizes whose 4a/4d maps give exactly 3x3 (about 189-236 px); "
    "the second aux head also has no ReLU after fc_o2; "
    "(4) its final Dropout(0.4) is downscale_in_infer and eval-mode forward still returns the "
    "three outputs. (4) could be folded into the weights, (1)-(3) change the function itself.")


# =============================================================================================
# mapping helpers
# =============================================================================================
def _torch_bn_names(key: str) -> str:
    key = re.sub(r"\.running_mean$", "._mean", key)
    return re.sub(r"\.running_var$", "._variance", key)


def _rename(sd: dict, rules) -> dict:
    out = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        k2 = _torch_bn_names(k)
        for pat, rep in rules:
            k2 = re.sub(pat, rep, k2)
        out[k2] = v
    return out


def _shape(sd, key):
    v = sd.get(key)
    return tuple(v.shape) if v is not None else None


def _has_prefix(sd, prefix):
    return any(k.startswith(prefix) for k in sd)


def _num_classes(sd, fc_weight_key, torch_layout=True):
    shape = _shape(sd, fc_weight_key)
    if shape is None or len(shape) != 2:
        return None
    return shape[0] if torch_layout else shape[1]


def _in_channels(sd, key):
    shape = _shape(sd, key)
    return shape[1] if shape is not None and len(shape) == 4 else None


def _common_kwargs(sd, fc_key, first_conv_key, torch_layout=True) -> dict:
    kw = {}
    nc = _num_classes(sd, fc_key, torch_layout)
    if nc is not None:
        kw["num_classes"] = int(nc)
    ic = _in_channels(sd, first_conv_key)
    if ic is not None:
        kw["in_channels"] = int(ic)
    return kw


def _identify(sd) -> str | None:
    """Best guess of what a checkpoint is, for error messages."""
    probes = [("_ince5b.", "PaddleClas GoogLeNet"),
              ("_inceptionC_3.", "PaddleClas InceptionV4"),
              ("inception_block_list.10.", "PaddleClas InceptionV3"),
              ("inception5b.", "torchvision googlenet (or this package's googlenet)"),
              ("features.21.", "timm inception_v4"),
              ("Mixed_7d.", "this package's inception_v4"),
              ("block8.", "timm inception_resnet_v2"),
              ("Mixed_7c.", "torchvision / timm inception_v3"),
              ("conv2d_4b.", "inception_resnet_v1")]
    for prefix, what in probes:
        if _has_prefix(sd, prefix):
            return what
    return None


# ---- per-source converters: (state dict) -> (arch, kwargs, state in our names, notes) --------
@dataclass
class _Plan:
    arch: str
    kwargs: dict
    state: dict
    preprocessing: dict
    layout: str = "torch"          # "torch": Linear weights are (out, in) and get transposed
    notes: list = field(default_factory=list)
    fold_fc_scale: float = 1.0


def _tv_googlenet(sd, opts) -> _Plan:
    kw = _common_kwargs(sd, "fc.weight", "conv1.conv.weight")
    kw["batch_norm"] = _has_prefix(sd, "conv1.bn.")
    k = _shape(sd, "inception3a.branch3.1.conv.weight")
    kw["branch3_kernel_size"] = int(k[-1]) if k else 3
    kw["maxpool4_kernel_size"] = 2                      # torchvision: MaxPool2d(2, 2, ceil)
    kw["aux_logits"] = _has_prefix(sd, "aux1.") and not opts.get("drop_aux")
    kw["transform_input"] = _transform_input(opts, default=True)
    kw["dropout"], kw["aux_dropout"] = 0.2, 0.7         # torchvision's defaults
    state = _rename(sd, [(r"^fc\.", "head.fc.")])
    if not kw["aux_logits"]:
        state = {k: v for k, v in state.items() if not k.startswith(("aux1.", "aux2."))}
    arch = "googlenet_bn" if kw["batch_norm"] else "googlenet"
    plan = _Plan(arch, kw, state, dict(_TV_PRE["googlenet"]))
    if kw["aux_logits"]:
        plan.notes.append("torchvision's published GoogLeNet weights carry untrained aux heads "
                          "(torchvision warns about it); train them or convert with --no-aux")
    return plan


def _transform_input(opts, default: bool) -> bool:
    v = opts.get("transform_input")
    return default if v is None else bool(v)


def _v3_plan(sd, opts, transform_default, pre) -> _Plan:
    kw = _common_kwargs(sd, "fc.weight", "Conv2d_1a_3x3.conv.weight")
    kw["aux_logits"] = _has_prefix(sd, "AuxLogits.") and not opts.get("drop_aux")
    kw["transform_input"] = _transform_input(opts, transform_default)
    state = _rename(sd, [(r"^fc\.", "head.fc.")])
    if not kw["aux_logits"]:
        state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
    return _Plan("inception_v3", kw, state, pre)


def _tv_inception_v3(sd, opts) -> _Plan:
    return _v3_plan(sd, opts, True, dict(_TV_PRE["inception_v3"]))


def _timm_pre(arch, opts):
    """(preprocessing, note) for a timm tag; no tag: timm's default tag for the arch."""
    tag = opts.get("tag")
    note = f"timm tag {tag}"
    if not tag:
        tag = _TIMM_DEFAULT_TAG[arch]
        note = (f"timm tag not given, assumed {tag} (timm's default; known tags: "
                f"{', '.join(sorted(_TIMM_PRE[arch]))})")
        opts["tag"] = tag
    if tag not in _TIMM_PRE[arch]:
        raise ConversionError(f"timm {arch}: unknown pretrained tag {tag!r}; known: "
                              f"{sorted(_TIMM_PRE[arch])}")
    return dict(_TIMM_PRE[arch][tag]), note


def _timm_inception_v3(sd, opts) -> _Plan:
    pre, note = _timm_pre("inception_v3", opts)
    plan = _v3_plan(sd, opts, False, pre)
    plan.notes.append(note)
    return plan


_V4_BLOCKS = (["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Mixed_3a", "Mixed_4a",
               "Mixed_5a"] + [f"Mixed_5{c}" for c in "bcde"] + ["Mixed_6a"]
              + [f"Mixed_6{c}" for c in "bcdefgh"] + ["Mixed_7a"] + [f"Mixed_7{c}" for c in "bcd"])


def _timm_inception_v4(sd, opts) -> _Plan:
    pre, note = _timm_pre("inception_v4", opts)
    kw = _common_kwargs(sd, "last_linear.weight", "features.0.conv.weight")
    rules = [(r"^features\.(\d+)\.",
              lambda m: (_V4_BLOCKS[int(m.group(1))] if int(m.group(1)) < len(_V4_BLOCKS)
                         else f"features_{m.group(1)}") + "."),
             (r"^last_linear\.", "head.fc.")]
    return _Plan("inception_v4", kw, _rename(sd, rules), pre, notes=[note])


def _timm_inception_resnet_v2(sd, opts) -> _Plan:
    pre, note = _timm_pre("inception_resnet_v2", opts)
    kw = _common_kwargs(sd, "classif.weight", "conv2d_1a.conv.weight")
    rules = [(r"^((?:repeat(?:_\d)?\.\d+)|block8)\.conv2d\.(weight|bias)$", r"\1.conv2d.conv.\2"),
             (r"^classif\.", "head.fc.")]
    return _Plan("inception_resnet_v2", kw, _rename(sd, rules), pre, notes=[note])


_PPV3_STEM = {"conv_1a_3x3": "Conv2d_1a_3x3", "conv_2a_3x3": "Conv2d_2a_3x3",
              "conv_2b_3x3": "Conv2d_2b_3x3", "conv_3b_1x1": "Conv2d_3b_1x1",
              "conv_4a_3x3": "Conv2d_4a_3x3"}
_PPV3_BLOCKS = ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]


def _ppcls_inception_v3(sd, opts) -> _Plan:
    kw = _common_kwargs(sd, "fc.weight", "inception_stem.conv_1a_3x3.conv.weight",
                        torch_layout=False)
    kw.update(aux_logits=False, bn_eps=1e-5, dropout=_PPCLS_DROPOUT)

    def block(m):
        i = int(m.group(1))
        return (_PPV3_BLOCKS[i] if i < len(_PPV3_BLOCKS) else f"block_{i}") + "."
    rules = [(r"^inception_stem\.(\w+?)\.",
              lambda m: _PPV3_STEM.get(m.group(1), "stem_" + m.group(1)) + "."),
             (r"^inception_block_list\.(\d+)\.", block),
             (r"\.branch_pool_conv\.", ".branch_pool."),
             (r"^fc\.", "head.fc.")]
    plan = _Plan("inception_v3", kw, _rename(sd, rules), dict(_PPCLS_PRE), layout="paddle",
                 fold_fc_scale=1.0 - _PPCLS_DROPOUT)
    plan.notes.append("PaddleClas Dropout(p=0.2, downscale_in_infer) folded into head.fc.weight "
                      "(x0.8)")
    return plan


# PaddleClas InceptionV4: per block, (PaddleClas layer, our layer, ParamAttr name, consumes the
# block input?) and the concatenation order (PaddleClas order, ours) with segment widths.
def _ppv4_layout():
    L = []   # (pc_prefix, our_prefix, param_name, input_perm_of_block or None)
    stem = [("_conv_1", "Conv2d_1a_3x3", "conv1_3x3_s2"),
            ("_conv_2", "Conv2d_2a_3x3", "conv2_3x3_s1"),
            ("_conv_3", "Conv2d_2b_3x3", "conv3_3x3_s1"),
            ("_conv2", "Mixed_3a.conv", "inception_stem1_3x3_s2"),
            ("_conv1_1", "Mixed_4a.branch0.0", "inception_stem2_3x3_reduce"),
            ("_conv1_2", "Mixed_4a.branch0.1", "inception_stem2_3x3"),
            ("_conv2_1", "Mixed_4a.branch1.0", "inception_stem2_1x7_reduce"),
            ("_conv2_2", "Mixed_4a.branch1.1", "inception_stem2_1x7"),
            ("_conv2_3", "Mixed_4a.branch1.2", "inception_stem2_7x1"),
            ("_conv2_4", "Mixed_4a.branch1.3", "inception_stem2_3x3_2"),
            ("_conv3", "Mixed_5a.conv", "inception_stem3_3x3_s2")]
    blocks = [("_inception_stem", None, [(a, b, c, False) for a, b, c in stem], None)]
    a_convs = [("_conv1", "branch3.1", "_1x1", True), ("_conv2", "branch0", "_1x1_2", True),
               ("_conv3_1", "branch1.0", "_3x3_reduce", True),
               ("_conv3_2", "branch1.1", "_3x3", False),
               ("_conv4_1", "branch2.0", "_3x3_2_reduce", True),
               ("_conv4_2", "branch2.1", "_3x3_2", False),
               ("_conv4_3", "branch2.2", "_3x3_3", False)]
    a_cat = (["pool", "b0", "b1", "b2"], ["b0", "b1", "b2", "pool"],
             dict(pool=96, b0=96, b1=96, b2=96))
    for k, c in enumerate("bcde", 1):
        blocks.append((f"_inceptionA_{k}", f"Mixed_5{c}",
                       [(p, o, f"inception_a{k}{n}", i) for p, o, n, i in a_convs], a_cat))
    blocks.append(("_reductionA", "Mixed_6a",
                   [("_conv2", "branch0", "reduction_a_3x3", True),
                    ("_conv3_1", "branch1.0", "reduction_a_3x3_2_reduce", True),
                    ("_conv3_2", "branch1.1", "reduction_a_3x3_2", False),
                    ("_conv3_3", "branch1.2", "reduction_a_3x3_3", False)],
                   (["in", "b0", "b1"], ["b0", "b1", "in"], dict(b0=384, b1=256))))
    b_convs = [("_conv1", "branch3.1", "_1x1", True), ("_conv2", "branch0", "_1x1_2", True),
               ("_conv3_1", "branch1.0", "_1x7_reduce", True),
               ("_conv3_2", "branch1.1", "_1x7", False), ("_conv3_3", "branch1.2", "_7x1", False),
               ("_conv4_1", "branch2.0", "_7x1_2_reduce", True),
               ("_conv4_2", "branch2.1", "_1x7_2", False),
               ("_conv4_3", "branch2.2", "_7x1_2", False),
               ("_conv4_4", "branch2.3", "_1x7_3", False),
               ("_conv4_5", "branch2.4", "_7x1_3", False)]
    b_cat = (["pool", "b0", "b1", "b2"], ["b0", "b1", "b2", "pool"],
             dict(pool=128, b0=384, b1=256, b2=256))
    for k, c in enumerate("bcdefgh", 1):
        blocks.append((f"_inceptionB_{k}", f"Mixed_6{c}",
                       [(p, o, f"inception_b{k}{n}", i) for p, o, n, i in b_convs], b_cat))
    blocks.append(("_reductionB", "Mixed_7a",
                   [("_conv2_1", "branch0.0", "reduction_b_3x3_reduce", True),
                    ("_conv2_2", "branch0.1", "reduction_b_3x3", False),
                    ("_conv3_1", "branch1.0", "reduction_b_1x7_reduce", True),
                    ("_conv3_2", "branch1.1", "reduction_b_1x7", False),
                    ("_conv3_3", "branch1.2", "reduction_b_7x1", False),
                    ("_conv3_4", "branch1.3", "reduction_b_3x3_2", False)],
                   (["in", "b0", "b1"], ["b0", "b1", "in"], dict(b0=192, b1=320))))
    c_convs = [("_conv1", "branch3.1", "_1x1", True), ("_conv2", "branch0", "_1x1_2", True),
               ("_conv3_0", "branch1_0", "_1x1_3", True),
               ("_conv3_1", "branch1_1a", "_1x3", False),
               ("_conv3_2", "branch1_1b", "_3x1", False),
               ("_conv4_0", "branch2_0", "_1x1_4", True),
               ("_conv4_00", "branch2_1", "_1x3_2", False),
               ("_conv4_000", "branch2_2", "_3x1_2", False),
               ("_conv4_1", "branch2_3a", "_1x3_3", False),
               ("_conv4_2", "branch2_3b", "_3x1_3", False)]
    c_cat = (["pool", "b0", "b1a", "b1b", "b2a", "b2b"], ["b0", "b1a", "b1b", "b2a", "b2b", "pool"],
             dict(pool=256, b0=256, b1a=256, b1b=256, b2a=256, b2b=256))
    for k, c in enumerate("bcd", 1):
        blocks.append((f"_inceptionC_{k}", f"Mixed_7{c}",
                       [(p, o, f"inception_c{k}{n}", i) for p, o, n, i in c_convs], c_cat))
    return blocks


def _cat_perm(cat, p_in):
    """Our block output channel c is PaddleClas' channel perm[c]."""
    pc_order, our_order, widths = cat
    widths = dict(widths, **{"in": len(p_in)})
    offs, o = {}, 0
    for name in pc_order:
        offs[name] = o
        o += widths[name]
    return np.concatenate([offs[n] + (p_in if n == "in" else np.arange(widths[n]))
                           for n in our_order])


_PP_BN = [("_batch_norm.weight", "bn.weight", "_bn_scale"),
          ("_batch_norm.bias", "bn.bias", "_bn_offset"),
          ("_batch_norm._mean", "bn._mean", "_bn_mean"),
          ("_batch_norm._variance", "bn._variance", "_bn_variance")]


def _ppcls_inception_v4(sd, opts) -> _Plan:
    by_param_name = "final_fc_weights" in sd or "conv1_3x3_s2_weights" in sd
    fc_w, fc_b = ("final_fc_weights", "final_fc_offset") if by_param_name else ("out.weight",
                                                                                  "out.bias")
    first = "conv1_3x3_s2_weights" if by_param_name else "_inception_stem._conv_1._conv.weight"
    kw = _common_kwargs(sd, fc_w, first, torch_layout=False)
    kw.update(kernel_order="paper", bn_eps=1e-5, dropout=_PPCLS_DROPOUT)
    src = dict(sd)
    state = {}
    perm = None                                     # stem input: the image, unpermuted
    for pc_block, our_block, convs, cat in _ppv4_layout():
        for pc_layer, our_layer, pname, permute_in in convs:
            our = our_layer if our_block is None else f"{our_block}.{our_layer}"
            pairs = [(f"{pname}_weights" if by_param_name else
                      f"{pc_block}.{pc_layer}._conv.weight", f"{our}.conv.weight")]
            pairs += [(pname + pn if by_param_name else f"{pc_block}.{pc_layer}.{sk}",
                       f"{our}.{ok}") for sk, ok, pn in _PP_BN]
            for skey, okey in pairs:
                if skey not in src:
                    continue                        # reported by the strict key check
                v = src.pop(skey)
                if permute_in and perm is not None and okey.endswith("conv.weight"):
                    if v.ndim != 4 or v.shape[1] != len(perm):
                        raise ConversionError(f"PaddleClas InceptionV4: {skey} has shape "
                                              f"{tuple(v.shape)}, expected {len(perm)} input "
                                              f"channels")
                    v = v[:, perm]
                state[okey] = v
        perm = np.arange(384) if cat is None else _cat_perm(cat, perm)
    for skey, okey in ((fc_w, "head.fc.weight"), (fc_b, "head.fc.bias")):
        if skey in src:
            v = src.pop(skey)
            if okey == "head.fc.weight" and v.ndim == 2 and v.shape[0] == len(perm):
                v = v[perm]
            state[okey] = v
    # leftovers keep their names so that the strict check lists them as unexpected
    state.update({k: v for k, v in src.items() if k != "StructuredToParameterName@@"})
    plan = _Plan("inception_v4", kw, state, dict(_PPCLS_PRE), layout="paddle",
                 fold_fc_scale=1.0 - _PPCLS_DROPOUT)
    plan.notes += ["PaddleClas concat orders folded into the consuming convs' input channels",
                   "PaddleClas Dropout(p=0.2, downscale_in_infer) folded into head.fc.weight "
                   "(x0.8)"]
    if by_param_name:
        plan.notes.append("read PaddleClas parameter names (conv1_3x3_s2_weights, ...)")
    return plan


def _ppcls_googlenet(sd, opts):
    raise ConversionError("paddleclas GoogLeNet cannot be converted: " + PADDLECLAS_GOOGLENET_WHY)


# source -> {accepted arch name (lower case): (converter, canonical peer name)}
_CONVERTERS = {
    "torchvision": {"googlenet": (_tv_googlenet, "googlenet"),
                    "inception_v3": (_tv_inception_v3, "inception_v3")},
    "timm": {"inception_v3": (_timm_inception_v3, "inception_v3"),
             "inception_v4": (_timm_inception_v4, "inception_v4"),
             "inception_resnet_v2": (_timm_inception_resnet_v2, "inception_resnet_v2")},
    "paddleclas": {"inceptionv3": (_ppcls_inception_v3, "InceptionV3"),
                   "inception_v3": (_ppcls_inception_v3, "InceptionV3"),
                   "inceptionv4": (_ppcls_inception_v4, "InceptionV4"),
                   "inception_v4": (_ppcls_inception_v4, "InceptionV4"),
                   "googlenet": (_ppcls_googlenet, "GoogLeNet")},
}
#: the (source, peer arch) pairs `convert_checkpoint` accepts
SUPPORTED = {"torchvision": ("googlenet", "inception_v3"),
             "timm": ("inception_v3", "inception_v4", "inception_resnet_v2"),
             "paddleclas": ("InceptionV3", "InceptionV4")}


def _lookup(source: str, arch: str):
    src = str(source).lower()
    if src not in _CONVERTERS:
        raise ConversionError(f"unknown source {source!r}; choose one of "
                              f"{sorted(_CONVERTERS)}")
    name, tag = str(arch), None
    if src == "timm":
        if name in _TIMM_ALIASES:
            name, tag = _TIMM_ALIASES[name]
        elif "." in name:
            name, tag = name.split(".", 1)
    table = _CONVERTERS[src]
    if name.lower() not in table:
        raise ConversionError(f"{source} arch {arch!r} is not supported; supported: "
                              f"{', '.join(SUPPORTED[src])}"
                              + (" (GoogLeNet is refused, see PADDLECLAS_GOOGLENET_WHY)"
                                 if src == "paddleclas" else ""))
    fn, peer = table[name.lower()]
    return fn, peer, tag


# =============================================================================================
# conversion
# =============================================================================================
def _linear_weight_keys(model) -> set:
    import paddle.nn as nn
    return {f"{name}.weight" for name, layer in model.named_sublayers()
            if isinstance(layer, nn.Linear)}


def _fmt_keys(keys, limit=10) -> str:
    keys = sorted(keys)
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return "[" + ", ".join(keys[:limit]) + "]" + more


def _mismatch_message(what, missing, unexpected, shapes, sd_hint):
    parts = [f"{what}:"]
    if missing:
        parts.append(f"{len(missing)} missing keys {_fmt_keys(missing)};")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys {_fmt_keys(unexpected)};")
    if missing or unexpected:
        parts.append("(keys as named after mapping to this package's layout, BN running stats "
                     "as _mean/_variance);")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatch{'es' if len(shapes) > 1 else ''}: "
                     + "; ".join(
            f"{k}: checkpoint {a} vs model {b}" for k, a, b in shapes[:10]) + ";")
    if sd_hint:
        parts.append(f"the checkpoint looks like {sd_hint}.")
    parts.append("Check --from / --arch.")
    return " ".join(parts)


@dataclass
class ConversionResult:
    arch: str                    #: registry name of our model
    model_kwargs: dict           #: constructor kwargs (with `create_model(arch, **kwargs)`)
    preprocessing: dict          #: input_size, resize_short, crop_pct, interpolation, mean, std
    state_dict: dict             #: {our key: float32 numpy array}
    model: object = None         #: our model with the weights loaded (eval mode)
    notes: list = field(default_factory=list)
    source: dict = field(default_factory=dict)

    def sidecar(self) -> dict:
        return {"format": SIDECAR_FORMAT, "arch": self.arch, "model_kwargs": self.model_kwargs,
                "preprocessing": self.preprocessing, "source": self.source, "notes": self.notes}


def convert_state_dict(state_dict: dict, source: str, arch: str, *, tag: str | None = None,
                       transform_input: bool | None = None, drop_aux: bool = False,
                       what: str = "checkpoint") -> ConversionResult:
    """Map a peer state dict ({name: numpy array}) onto our model.

    Builds our model, checks that every key and shape matches (raises `ConversionError` that
    lists the missing / unexpected / mis-shaped keys otherwise), loads it with
    `set_state_dict` and checks that Paddle reports nothing missing or unexpected either.
    `transform_input` (torchvision only) defaults to True as the published weights expect;
    `drop_aux` leaves the auxiliary classifiers out; `tag` picks timm's preprocessing
    (e.g. "gluon_in1k"). `what` names the checkpoint in error messages.
    """
    fn, peer, arch_tag = _lookup(source, arch)
    opts = dict(tag=tag or arch_tag, transform_input=transform_input, drop_aux=drop_aux)
    if str(source).lower() != "torchvision" and transform_input:
        raise ConversionError(f"transform_input applies to torchvision checkpoints only "
                              f"({source} weights expect the preprocessing in the sidecar)")
    if str(source).lower() != "timm" and tag:
        raise ConversionError(f"tag applies to timm checkpoints only, got tag={tag!r} for "
                              f"{source}")
    sd = {k: np.asarray(v) for k, v in state_dict.items()}
    plan = fn(sd, opts)
    kwargs = dict(plan.kwargs)
    import paddle
    model = create_model(plan.arch, **kwargs)
    target = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    linear = _linear_weight_keys(model)
    state = {}
    shapes = []
    for k, v in plan.state.items():
        if plan.layout == "torch" and k in linear and v.ndim == 2:
            v = v.T
        if k == "head.fc.weight" and plan.fold_fc_scale != 1.0:
            v = v * plan.fold_fc_scale
        if k in target and tuple(v.shape) != target[k]:
            shapes.append((k, tuple(v.shape), target[k]))
        if np.issubdtype(v.dtype, np.floating):
            v = np.ascontiguousarray(v, dtype=np.float32)
        state[k] = v
    missing = set(target) - set(state)
    unexpected = set(state) - set(target)
    if missing or unexpected or shapes:
        raise ConversionError(_mismatch_message(
            f"{what} does not match {source} {peer} -> {plan.arch}({_kwargs_str(kwargs)})",
            missing, unexpected, shapes, _identify(sd)))
    # the real check: Paddle's own loader
    miss, unexp = model.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})
    if miss or unexp:
        raise ConversionError(_mismatch_message(
            f"{what}: set_state_dict on {plan.arch} reported", list(miss), list(unexp), [], None))
    for k, p in model.state_dict().items():
        if not np.array_equal(p.numpy(), state[k]):
            raise ConversionError(f"{what}: {k} did not load correctly")
    model.eval()
    pre = dict(plan.preprocessing)
    if kwargs.get("in_channels", 3) != 3:
        c = kwargs["in_channels"]
        pre["input_size"] = [c] + list(pre["input_size"][1:])
        pre["mean"] = [sum(pre["mean"]) / 3] * c
        pre["std"] = [sum(pre["std"]) / 3] * c
    result = ConversionResult(arch=plan.arch, model_kwargs=kwargs, preprocessing=pre,
                              state_dict=state, model=model,
                              notes=list(plan.notes),
                              source=dict(framework=str(source).lower(), arch=peer,
                                          tag=opts["tag"]))
    return result


def _kwargs_str(kwargs) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def sidecar_path(path: str) -> str:
    """`x/name.pdparams` -> `x/name.json`."""
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    return (root if ext in (".pdparams", ".json") else path) + ".json"


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def convert_checkpoint(src: str, dst: str, source: str, arch: str, *, tag: str | None = None,
                       transform_input: bool | None = None, drop_aux: bool = False,
                       use_ema: bool = False, overwrite: bool = True) -> ConversionResult:
    """Read `src` (.pth/.pt, .safetensors, .pdparams), convert it, and write `dst` (.pdparams)
    plus the sidecar `sidecar_path(dst)`. Nothing is written unless the weights load into our
    model with no missing or unexpected keys. Returns the `ConversionResult` (its `model` is our
    model with the converted weights, in eval mode)."""
    import paddle
    src, dst = os.fspath(src), os.fspath(dst)
    if not dst.endswith(".pdparams"):
        raise ConversionError(f"destination must end in .pdparams, got {dst!r}")
    if not overwrite and os.path.exists(dst):
        raise FileExistsError(dst)
    obj = read_checkpoint(src)
    sd = extract_state_dict(obj, use_ema=use_ema, path=src)
    result = convert_state_dict(sd, source, arch, tag=tag, transform_input=transform_input,
                                drop_aux=drop_aux, what=os.path.basename(src))
    result.source.update(file=os.path.basename(src), sha256=_sha256(src), ema=bool(use_ema))
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    tmp = dst + ".tmp"
    paddle.save({k: paddle.to_tensor(v) for k, v in result.state_dict.items()}, tmp)
    os.replace(tmp, dst)
    side = sidecar_path(dst)
    with open(side + ".tmp", "w", encoding="utf-8") as f:
        json.dump(result.sidecar(), f, indent=2)
        f.write("\n")
    os.replace(side + ".tmp", side)
    return result


def load_converted(path: str, **overrides):
    """Build the model described by a converted checkpoint's sidecar and load its weights.

    `path` is the `.pdparams` file (or its `.json` sidecar). Returns `(model, preprocessing)`;
    the model is in eval mode and its `default_cfg` carries the checkpoint's preprocessing
    (input_size, crop_pct, interpolation, mean, std; plus resize_short). `overrides` go to the
    constructor (e.g. `dropout=0.3` for fine-tuning; changing num_classes needs
    `model.reset_classifier` after loading instead).
    """
    path = os.fspath(path)
    side = sidecar_path(path)
    weights = os.path.splitext(side)[0] + ".pdparams"
    if not os.path.isfile(side):
        raise FileNotFoundError(f"no sidecar {side} next to the weights; convert with "
                                f"tools/convert_weights.py, or build the model yourself and use "
                                f"create_model(name, pretrained={weights!r}, ...)")
    with open(side, encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"{side}: not a paddle_inception conversion sidecar "
                         f"(format {meta.get('format')!r})")
    kwargs = dict(meta["model_kwargs"], **overrides)
    model = create_model(meta["arch"], pretrained=weights, **kwargs)
    pre = dict(meta["preprocessing"])
    cfg = dict(getattr(model, "default_cfg", None) or get_model_cfg(meta["arch"]))
    cfg.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in pre.items()})
    cfg["converted_from"] = meta.get("source", {})
    model.default_cfg = cfg
    model.eval()
    return model, pre


def preprocessing_transform_ops(pre: dict) -> list:
    """PaddleClas-style eval `transform_ops` for a preprocessing cfg (for YAML configs)."""
    size = list(pre["input_size"])[-1]
    return [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
            {"ResizeImage": {"resize_short": int(pre["resize_short"]),
                             "interpolation": pre["interpolation"]}},
            {"CropImage": {"size": int(size)}},
            {"NormalizeImage": {"scale": 1.0 / 255.0, "mean": list(pre["mean"]),
                                "std": list(pre["std"]), "order": ""}},
            {"ToCHWImage": None}]


# =============================================================================================
# command line
# =============================================================================================
def _bool(text: str):
    t = text.lower()
    if t in ("auto", ""):
        return None
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true / false / auto, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="convert_weights.py",
        description="Convert a torchvision / timm / PaddleClas checkpoint (.pth/.pt, "
                    ".safetensors, .pdparams) into paddle_inception weights (DST.pdparams) "
                    "plus a sidecar DST.json with the model kwargs and preprocessing.",
        epilog="supported: " + "; ".join(f"--from {s}: {', '.join(a)}"
                                         for s, a in SUPPORTED.items())
               + ". Load the result with paddle_inception.convert.load_converted(DST).")
    p.add_argument("--from", dest="source", required=True, choices=sorted(_CONVERTERS),
                   help="framework the checkpoint comes from")
    p.add_argument("--arch", required=True,
                   help="the peer's model name (timm may carry a tag: inception_v3.gluon_in1k)")
    p.add_argument("src", help="input checkpoint")
    p.add_argument("dst", help="output .pdparams (the sidecar goes next to it as .json)")
    p.add_argument("--tag", default=None,
                   help="timm pretrained tag, picks the preprocessing (e.g. tf_in1k, gluon_in1k)")
    p.add_argument("--transform-input", type=_bool, default=None, metavar="{auto,true,false}",
                   help="torchvision only: build with transform_input (auto: true, as the "
                        "published torchvision weights)")
    p.add_argument("--no-aux", dest="drop_aux", action="store_true",
                   help="leave the auxiliary classifiers out")
    p.add_argument("--ema", dest="use_ema", action="store_true",
                   help="use the EMA weights of a timm training checkpoint (state_dict_ema)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        res = convert_checkpoint(args.src, args.dst, args.source, args.arch, tag=args.tag,
                                 transform_input=args.transform_input, drop_aux=args.drop_aux,
                                 use_ema=args.use_ema)
    except (ConversionError, UnsafeCheckpointError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    n = sum(int(np.prod(v.shape)) for v in res.state_dict.values())
    print(f"wrote {args.dst} ({len(res.state_dict)} tensors, {n:,} values) and "
          f"{sidecar_path(args.dst)}")
    print(f"model: create_model({res.arch!r}, {_kwargs_str(res.model_kwargs)})")
    print(f"preprocessing: {json.dumps(res.preprocessing)}")
    for note in res.notes:
        print(f"note: {note}")
    return 0
