"""Checkpoint readers that need neither torch nor safetensors, run no code from the file, and
allocate no more than the file can hold.

- `.pth` / `.pt` (torch's zip format, and the legacy pre-1.6 format) and `.pdparams` (a pickle of
  numpy arrays) are read with `_TorchUnpickler`: `paddle_inception._safe_pickle`'s pure-Python
  restricted unpickler (bounded reads, an opcode budget, validating stand-ins for numpy arrays /
  dtypes / scalars, scalar-only dict keys, no object-building opcodes) extended with torch's
  tensor rebuild functions, storage classes and dtypes (mapped to numpy), `argparse.Namespace`
  (training checkpoints) and sets; every other global is refused (`UnsafeCheckpointError`);
- `.safetensors` by a small own reader (8-byte header length, JSON header, raw buffers) that
  checks the header as strictly as the `safetensors` package does (and refuses duplicate names).

Bounds (each a `ConversionError` naming the file and what is wrong, checked before allocating):

- memory: everything the reader decompresses or builds (zip records, the tensors it returns) is
  charged to a budget of `MEMORY_FACTOR` x the file size + `MEMORY_SLACK` (4x + 16 MiB). A stored
  torch checkpoint needs ~2x (its records, then the arrays), a bfloat16 one ~3x (widened to
  float32); a zip record that inflates beyond that, or a view that broadcasts a small storage into
  a huge tensor (stride 0), is refused;
- geometry: a tensor view (storage, offset, size, stride) must consist of plain non-negative ints
  (no bools), and every element it reaches must lie inside its storage; a storage record must hold
  exactly the bytes its storage claims (numel x element size), and a zip record exactly the bytes
  its header declares;
- structure: containers at most `MAX_DEPTH` deep, no self references (a shared sub-tree is
  converted once), dict keys and set members scalars only; safetensors ranges must tile the data
  section exactly (no overlap, duplicate, gap or trailing bytes), shapes lists of ints below 2**63,
  the header at most `SAFETENSORS_MAX_HEADER` bytes of UTF-8 JSON with integers of at most 19
  digits.

Why not the `safetensors` package (paddlepaddle 3 installs it; this package does not declare
it): its numpy API cannot read bfloat16 (numpy has no such dtype) and keeps the last of two
entries with one name; the tests check that it refuses the same hostile headers as this reader.
"""

from __future__ import annotations

import collections
import copy
import json
import os
import pickle
import re
import types
import zipfile

import numpy as np

from .._safe_files import NotRegularFileError, check_file
from .._safe_pickle import (
    MAX_DEPTH,
    OPS_BASE,
    OPS_PER_BYTE,
    BoundedReader,
    Malformed,
    PendingArray,
    PendingDtype,
    Refused,
    check_key,
    check_shape,
    counted,
    nelements,
    shorten,
)
from .._safe_pickle import RestrictedUnpickler as _ArrayUnpickler

__all__ = [
    "ConversionError",
    "UnsafeCheckpointError",
    "MEMORY_FACTOR",
    "MEMORY_SLACK",
    "SAFETENSORS_MAX_HEADER",
    "read_checkpoint",
    "read_torch_checkpoint",
    "read_safetensors",
    "read_pickle_file",
    "extract_state_dict",
]

#: the reader decompresses and builds at most MEMORY_FACTOR x file size + MEMORY_SLACK bytes
MEMORY_FACTOR = 4
MEMORY_SLACK = 16 << 20
#: safetensors headers hold ~150 bytes per tensor: 16 MiB is ~100k tensors (the package's own
#: limit is 100 MB); parsed JSON costs up to ~25x its text, so this also bounds the parse
SAFETENSORS_MAX_HEADER = 16 << 20


class ConversionError(ValueError):
    """The checkpoint cannot be converted (wrong arch, unknown format, corrupt or hostile
    file...); the message names the file (or key) and what is wrong."""


class UnsafeCheckpointError(ConversionError, pickle.UnpicklingError):
    """The pickle inside a checkpoint references a global that a state dict never needs."""


def _fmt_bytes(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} bytes"


def _kind(x) -> str:
    """A short, safe description of an untrusted object (never its repr)."""
    names = {
        PendingArray: "numpy array",
        PendingDtype: "numpy dtype",
        _LazyTensor: "torch tensor",
        _Storage: "torch storage",
        _StorageType: "torch storage class",
        _TorchDType: "torch dtype",
        _TensorType: "torch tensor class",
        _Namespace: "argparse.Namespace",
    }
    return names.get(type(x), type(x).__name__)


def _name(x, n: int = 80) -> str:
    """A name from the file (a dict key, a record name) for a one-line message."""
    return shorten(repr(x), n) if type(x) in (str, bytes, int, float, bool) else _kind(x)


class _Budget:
    """Bytes the reader may still decompress or allocate for one file (see MEMORY_FACTOR)."""

    def __init__(self, file_size: int):
        self.file_size = file_size
        self.left = MEMORY_FACTOR * file_size + MEMORY_SLACK

    def take(self, nbytes: int, what) -> None:
        """Charge `nbytes`; `what` (a str, or a function giving one) names it in the error."""
        if nbytes > self.left:
            what = what() if callable(what) else what
            raise Malformed(
                f"{what} needs {_fmt_bytes(nbytes)}, more than a {self.file_size}-byte file can "
                f"hold (the reader decompresses and builds at most {MEMORY_FACTOR}x the file size "
                f"+ {MEMORY_SLACK >> 20} MiB)"
            )
        self.left -= nbytes


# =============================================================================================
# dtypes
# =============================================================================================
# torch storage classes -> dtype name ("bfloat16" is kept as raw uint16 and widened to float32)
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
# torch dtype objects (pickled by _rebuild_tensor_v3) -> dtype name
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


def _src_dtype(name: str, byteorder: str = "little") -> np.dtype:
    """The numpy dtype of the raw elements as stored (bfloat16 as uint16, bool as uint8)."""
    dt = np.dtype({"bfloat16": "uint16", "bool": "uint8"}.get(name, name))
    if dt.itemsize > 1:
        dt = dt.newbyteorder("<" if byteorder == "little" else ">")
    return dt


def _out_dtype(name: str) -> np.dtype:
    """The native numpy dtype of the array returned (bfloat16 widened exactly to float32)."""
    return np.dtype("float32" if name == "bfloat16" else name)


def _convert_elements(src: np.ndarray, name: str, out: np.ndarray) -> np.ndarray:
    """Copy raw elements `src` (any strides, file byte order) into the preallocated native
    array `out` (its byte size was charged to the budget), converting bfloat16 / bool."""
    if name == "bfloat16":  # bf16 is the top half of a float32
        wide = out.view(np.uint32)
        wide[...] = src
        wide <<= 16
    elif name == "bool":  # any non-zero byte is True (numpy bools must be 0 or 1)
        np.not_equal(src, 0, out=out)
    else:
        out[...] = src  # byte-swaps when the file's order is not native
    return out


# =============================================================================================
# stand-ins for torch objects
# =============================================================================================
class _StorageType:
    """Marker for a torch storage class (FloatStorage...); immutable, never built on."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: str):
        self.dtype = dtype


class _TorchDType(_StorageType):
    """Marker for a torch dtype (torch.float32...)."""

    __slots__ = ()


class _TensorType:
    """Marker for torch.Tensor / torch.nn.Parameter (only as _rebuild_from_type_v2's type)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class _Storage:
    """One torch storage: its key, element dtype name, numel, byte order, raw bytes (once read)."""

    __slots__ = ("key", "dtype", "numel", "byteorder", "data")

    def __init__(self, key: str, dtype: str, numel: int, byteorder: str, data=None):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.byteorder, self.data = byteorder, data


class _LazyTensor:
    """A checked tensor view of a storage whose data may not be read yet (legacy format)."""

    __slots__ = ("storage", "offset", "size", "stride", "dtype")

    def __init__(self, storage, offset, size, stride, dtype):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride
        self.dtype = dtype


class _Namespace:
    """argparse.Namespace in a training checkpoint; becomes a types.SimpleNamespace."""

    __slots__ = ("state",)

    def __init__(self):
        self.state = None


_STORAGE_MARKERS = {name: _StorageType(dt) for name, dt in _STORAGE_DTYPES.items()}
_DTYPE_MARKERS = {name: _TorchDType(dt) for name, dt in _TORCH_DTYPES.items()}
_TENSOR_TYPES = {
    "torch.Tensor": _TensorType("torch.Tensor"),
    "torch._tensor.Tensor": _TensorType("torch.Tensor"),
    "torch.nn.parameter.Parameter": _TensorType("torch.nn.Parameter"),
}
_STORAGE_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,128}\Z")


def _dims(shape) -> str:
    return shorten(str(list(shape)), 80)


def _check_int(v, what: str) -> int:
    if type(v) is not int or not 0 <= v < 2**63:
        if type(v) in (bool, int) and abs(int(v)).bit_length() < 64:
            shown = repr(v)
        else:
            shown = f"an int of {v.bit_length()} bits" if type(v) is int else f"a {_kind(v)}"
        raise Malformed(f"{what} must be a non-negative int below 2**63, got {shown}")
    return v


def _make_tensor(storage, offset, size, stride, dtype=None) -> _LazyTensor:
    """Check a view's geometry against its storage, before anything is read or allocated."""
    if type(storage) is not _Storage:
        raise Malformed(f"a tensor is built on a {_kind(storage)}, not on a storage")
    offset = _check_int(offset, "a tensor's storage offset")
    size = check_shape(size, "a tensor's size")
    stride = check_shape(stride, "a tensor's stride")
    if len(size) != len(stride):
        raise Malformed(f"a tensor has size {_dims(size)} but stride {_dims(stride)}")
    dtype = dtype or storage.dtype
    src = _src_dtype(dtype)
    nbytes = storage.numel * _src_dtype(storage.dtype).itemsize
    if nbytes % src.itemsize:
        raise Malformed(f"storage {storage.key!r} is not a whole number of {dtype} elements")
    elements = nbytes // src.itemsize
    if nelements([d for d in size if d]) * _out_dtype(dtype).itemsize >= 2**63:
        raise Malformed(f"tensor size {_dims(size)} is too large")
    if nelements(size):
        last = offset + sum((s - 1) * k for s, k in zip(size, stride))
        if last >= elements:
            raise Malformed(
                f"a tensor of size {_dims(size)}, stride {_dims(stride)} and offset {offset} reads "
                f"element {last} of storage {storage.key!r}, which has {elements}"
            )
    return _LazyTensor(storage, offset, size, stride, dtype)


def _materialize(t: _LazyTensor, budget: _Budget, where) -> np.ndarray:
    """The tensor as a new native array; `where()` names it in errors."""
    st = t.storage
    if st.data is None:
        raise Malformed(f"storage {st.key!r} (used by {where()}) has no data")
    out_dt = _out_dtype(t.dtype)
    numel = nelements(t.size)
    budget.take(numel * out_dt.itemsize, lambda: f"{where()} (size {_dims(t.size)}, {t.dtype})")
    out = np.empty(t.size, dtype=out_dt)
    if numel:
        if len(st.data) != st.numel * _src_dtype(st.dtype).itemsize:  # the readers ensure it
            raise Malformed(f"storage {st.key!r} holds {len(st.data)} bytes, not its declared size")
        src_dt = _src_dtype(t.dtype, st.byteorder)
        data = np.frombuffer(st.data, dtype=src_dt)  # _make_tensor checked the bounds
        strides = [k * src_dt.itemsize if s > 1 else 0 for s, k in zip(t.size, t.stride)]
        view = np.lib.stride_tricks.as_strided(
            data[t.offset :], shape=t.size, strides=strides, writeable=False
        )
        _convert_elements(view, t.dtype, out)
    return out


# =============================================================================================
# the unpickler
# =============================================================================================
def _ops_for(nbytes: int) -> int:
    return OPS_BASE + int(nbytes * OPS_PER_BYTE)


class _TorchUnpickler(_ArrayUnpickler):
    """weights' restricted unpickler plus torch's tensor globals; storages come through
    `persistent_load` (the format's storage loader), tensors are checked `_LazyTensor`s."""

    dispatch = dict(_ArrayUnpickler.dispatch)

    def __init__(self, reader, max_ops: int, storage_loader=None):
        super().__init__(reader, max_ops)
        self._storage_loader = storage_loader
        allowed = self._allowed
        for module in ("torch", "torch.storage"):
            for name, marker in _STORAGE_MARKERS.items():
                if module == "torch" or name == "UntypedStorage":
                    allowed[f"{module}.{name}"] = marker
        for name, marker in _DTYPE_MARKERS.items():
            allowed[f"torch.{name}"] = marker
        allowed.update(_TENSOR_TYPES)
        self._rebuilders = {
            "torch._utils._rebuild_tensor": self._rebuild_tensor,
            "torch._utils._rebuild_tensor_v2": self._rebuild_tensor_v2,
            "torch._utils._rebuild_tensor_v3": self._rebuild_tensor_v3,
            "torch._utils._rebuild_parameter": self._rebuild_parameter,
            "torch._utils._rebuild_parameter_with_state": self._rebuild_parameter,
        }
        allowed.update(self._rebuilders)
        allowed["torch._tensor._rebuild_from_type_v2"] = self._rebuild_from_type_v2
        allowed["torch._utils._rebuild_from_type_v2"] = self._rebuild_from_type_v2
        allowed["argparse.Namespace"] = self._namespace
        for module in ("builtins", "__builtin__"):
            allowed[f"{module}.set"] = self._set
            allowed[f"{module}.frozenset"] = self._frozenset
            allowed[f"{module}.complex"] = self._complex

    def _global_name(self, x) -> str:
        """The name of an allowed global's stand-in, else a description of `x`."""
        for name, stand_in in self._allowed.items():
            if x is stand_in:
                return name
        return f"a {_kind(x)}"

    def find_class(self, module, name):
        full = f"{module}.{name}"
        if full not in self._allowed and module.startswith("torch") and "_rebuild" in name:
            raise Malformed(
                f"{shorten(full, 100)}: this kind of tensor (quantized, sparse, nested, on a "
                f"device or meta) is not supported; save dense CPU tensors"
            )
        return super().find_class(module, name)

    def persistent_load(self, pid):
        if self._storage_loader is None:
            raise Malformed(f"a persistent id (a {_kind(pid)}) in a plain pickle")
        return self._storage_loader(pid)

    # ---- torch's rebuild functions ----------------------------------------------------------
    def _rebuild_tensor(self, *args):
        if len(args) != 4:
            raise Malformed("_rebuild_tensor takes (storage, offset, size, stride)")
        return _make_tensor(*args)

    def _rebuild_tensor_v2(self, *args):
        # (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
        if not 6 <= len(args) <= 7:
            raise Malformed("_rebuild_tensor_v2 takes 6 or 7 arguments")
        return _make_tensor(*args[:4])

    def _rebuild_tensor_v3(self, *args):
        # (storage, offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
        if not 7 <= len(args) <= 8 or type(args[6]) is not _TorchDType:
            raise Malformed("_rebuild_tensor_v3 takes 7 or 8 arguments, the 7th a torch dtype")
        return _make_tensor(*args[:4], dtype=args[6].dtype)

    def _rebuild_parameter(self, *args):
        # (data, requires_grad, backward_hooks[, state])
        if not 3 <= len(args) <= 4 or type(args[0]) is not _LazyTensor:
            raise Malformed("_rebuild_parameter takes a tensor, requires_grad, hooks (and state)")
        return args[0]

    def _rebuild_from_type_v2(self, *args):
        if len(args) != 4:
            raise Malformed("_rebuild_from_type_v2 takes (func, type, args, state)")
        func, new_type, fargs, _state = args
        if not any(func is f for f in self._rebuilders.values()):
            raise Malformed(
                f"_rebuild_from_type_v2 with {self._global_name(func)} instead of a tensor "
                f"rebuild function"
            )
        if type(new_type) is not _TensorType or type(fargs) is not tuple:
            raise Malformed("_rebuild_from_type_v2 takes a tensor type and an argument tuple")
        return func(*fargs)

    # ---- other globals ----------------------------------------------------------------------
    def _namespace(self, *args, **kwargs):
        if args or kwargs:
            raise Malformed("argparse.Namespace is only rebuilt empty, then given its state")
        return _Namespace()

    def _members(self, args, what):
        if not args:
            return ()
        if len(args) != 1 or type(args[0]) not in (list, tuple):
            raise Malformed(f"{what}() is only allowed on a list or tuple")
        for item in args[0]:
            check_key(item)
        return args[0]

    def _set(self, *args):
        return set(self._members(args, "set"))

    def _frozenset(self, *args):
        return frozenset(self._members(args, "frozenset"))

    def _complex(self, *args):
        if not 1 <= len(args) <= 2 or any(type(a) not in (int, float) for a in args):
            raise Malformed("complex() is only allowed on one or two numbers")
        if any(type(a) is int and a.bit_length() > 64 for a in args):
            raise Malformed("complex() argument out of range")
        return complex(*args)

    # ---- opcodes ----------------------------------------------------------------------------
    def _load_build(self):
        if len(self.stack) < 2:
            raise Malformed("BUILD without an object")
        inst = self.stack[-2]
        if type(inst) in (PendingArray, PendingDtype):
            return _ArrayUnpickler._load_build(self)
        state = self.stack.pop()
        if type(inst) is _Namespace:
            if inst.state is not None or type(state) is not dict:
                raise Malformed("argparse.Namespace state must be one dict")
            for key in state:
                if type(key) is not str:
                    raise Malformed("argparse.Namespace attribute names must be strings")
            inst.state = state
        elif type(inst) is collections.OrderedDict:
            # a state_dict's `_metadata` (module versions): dropped, as it is never needed
            if type(state) is not dict:
                raise Malformed("OrderedDict state must be a dict")
        else:
            raise Malformed(
                f"BUILD (object state) on a {_kind(inst)}: only numpy arrays and dtypes, "
                f"OrderedDicts and argparse.Namespace take state in a checkpoint"
            )

    def _load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        if cls is not self._allowed["argparse.Namespace"] or type(args) is not tuple or args:
            raise Malformed(
                f"NEWOBJ (object creation) of {self._global_name(cls)}: only an empty "
                f"argparse.Namespace is created that way in a checkpoint"
            )
        self.append(_Namespace())

    dispatch[pickle.BUILD[0]] = counted(_load_build)
    dispatch[pickle.NEWOBJ[0]] = counted(_load_newobj)


def _check_pid(pid, length: int):
    """('storage', storage class, key, location, numel[, view]) -> (marker, key, numel)."""
    if type(pid) is not tuple or len(pid) != length or pid[0] != "storage":
        shown = f"a tuple of {len(pid)}" if type(pid) is tuple else f"a {_kind(pid)}"
        raise Malformed(
            f"unexpected persistent id ({shown}; torch writes a {length}-tuple "
            f"('storage', storage class, key, location, numel{', view' if length == 6 else ''}))"
        )
    stype, key, location, numel = pid[1:5]
    if type(stype) is not _StorageType:
        raise Malformed(f"a storage of a {_kind(stype)} instead of a torch storage class")
    if type(key) is not str or not _STORAGE_KEY.match(key):
        raise Malformed(f"storage key {_name(key, 40)} is not a short name")
    if type(location) is not str:
        raise Malformed(f"storage {key!r} has a location that is not a string")
    _check_int(numel, f"storage {key!r} element count")
    return stype, key, numel


def _storage_nbytes(stype: _StorageType, numel: int) -> int:
    return numel * _src_dtype(stype.dtype).itemsize


# =============================================================================================
# after unpickling: turn the tree into plain Python + numpy
# =============================================================================================
_LEAVES = frozenset([str, bytes, int, float, bool, complex, type(None), set, frozenset])


class _Resolver:
    """Replaces stand-ins by the real objects: tensors are materialised (charged to the budget),
    containers rebuilt; nesting deeper than MAX_DEPTH and self references are refused, and a
    shared sub-tree is converted once (a memoised DAG would otherwise cost exponential time)."""

    def __init__(self, budget: _Budget):
        self.budget = budget
        self.done = {}  # id -> (object, result): keeps both alive
        self.active = set()
        self.path = []

    def where(self) -> str:
        if not self.path:
            return "the top-level tensor"
        return "tensor " + _name("/".join(str(k) for k in self.path), 100)

    def resolve(self, obj):
        t = type(obj)
        if t in _LEAVES or isinstance(obj, np.generic):
            return obj
        key = id(obj)
        if key in self.done:
            return self.done[key][1]
        if t is _LazyTensor:
            out = _materialize(obj, self.budget, self.where)
        elif t is PendingArray:
            if obj.array is None:
                raise Malformed("a numpy array never received its data (incomplete pickle)")
            out = obj.array
        elif t is PendingDtype:
            if obj.dtype is None:
                raise Malformed("a numpy dtype never received its state (incomplete pickle)")
            out = obj.dtype
        elif t in (dict, collections.OrderedDict, list, tuple, _Namespace):
            if key in self.active:
                raise Malformed("the file holds a self-referencing structure")
            if len(self.active) >= MAX_DEPTH:
                raise Malformed(f"containers nested more than {MAX_DEPTH} deep")
            self.active.add(key)
            out = self._container(obj, t)
            self.active.discard(key)
        else:
            raise Malformed(f"unexpected {_kind(obj)} in the checkpoint (not part of a state dict)")
        self.done[key] = (obj, out)
        return out

    def _container(self, obj, t):
        if t is _Namespace:
            if obj.state is None:
                return types.SimpleNamespace()
            return types.SimpleNamespace(**self._container(obj.state, dict))
        if t in (dict, collections.OrderedDict):
            out = t()
            for k, v in obj.items():
                self.path.append(k)
                out[k] = self.resolve(v)
                self.path.pop()
            return out
        items = []
        for i, v in enumerate(obj):
            self.path.append(i)
            items.append(self.resolve(v))
            self.path.pop()
        return items if t is list else tuple(items)


# =============================================================================================
# torch zip format
# =============================================================================================
def _read_record(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget, limit=None):
    """The bytes of one zip entry: its declared size checked (against `limit` and the budget)
    before anything is read, the read bounded, and the actual size checked against the
    declared one (a stream longer than declared is refused, not cut)."""
    name = _name(info.filename)
    if limit is not None and info.file_size > limit:
        raise Malformed(
            f"zip record {name} declares {info.file_size} bytes, at most {limit} expected"
        )
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise Malformed(
            f"zip record {name} is stored with {info.compress_size} bytes but declares "
            f"{info.file_size}"
        )
    budget.take(info.file_size, f"zip record {name}")
    probe = copy.copy(info)
    probe.file_size = info.file_size + 1  # lets one byte more through, to see it
    try:
        with zf.open(probe) as f:
            data = f.read(info.file_size + 1)
    except zipfile.BadZipFile as e:  # a stream longer than declared fails the CRC here
        raise Malformed(
            f"zip record {name} fails its check ({_detail(e)}): corrupt, or longer than the "
            f"{info.file_size} bytes its header declares"
        ) from None
    if len(data) != info.file_size:
        raise Malformed(
            f"zip record {name} holds {'more than' if len(data) > info.file_size else len(data)} "
            f"bytes, not the {info.file_size} its header declares"
        )
    return data


def _read_torch_zip(path: str, size: int):
    budget = _Budget(size)
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        by_name = {}
        for info in infos:
            if info.filename in by_name:
                raise Malformed(f"the zip archive holds {_name(info.filename)} twice")
            by_name[info.filename] = info
        pkls = [n for n in by_name if n == "data.pkl" or n.endswith("/data.pkl")]
        if not pkls:
            hint = (
                " (this is a TorchScript archive: load it with torch.jit.load and save "
                "model.state_dict() with torch.save)"
                if any(n.endswith("constants.pkl") for n in by_name)
                else ""
            )
            raise Malformed(f"a zip file without data.pkl, not a torch checkpoint{hint}")
        pkl = min(pkls, key=len)
        prefix = pkl[: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in by_name:
            raw = _read_record(zf, by_name[prefix + "byteorder"], budget, limit=16)
            byteorder = raw.decode("latin-1").strip()
            if byteorder not in ("little", "big"):
                raise Malformed(f"the byteorder record holds {_name(raw, 40)}, not little or big")
        storages: dict = {}

        def load_storage(pid):
            stype, key, numel = _check_pid(pid, 5)
            st = storages.get(key)
            if st is not None:
                if (st.dtype, st.numel) != (stype.dtype, numel):
                    raise Malformed(
                        f"storage {key!r} is declared twice, with different types or sizes"
                    )
                return st
            rec = f"{prefix}data/{key}"
            info = by_name.get(rec)
            if info is None:
                raise Malformed(f"missing tensor data record {rec!r}")
            want = _storage_nbytes(stype, numel)
            if info.file_size != want:
                raise Malformed(
                    f"record {rec!r} declares {info.file_size} bytes but its storage holds "
                    f"{numel} {stype.dtype} elements ({want} bytes)"
                )
            st = _Storage(key, stype.dtype, numel, byteorder, _read_record(zf, info, budget))
            storages[key] = st
            return st

        info = by_name[pkl]
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise Malformed(
                f"zip record {pkl!r} is stored with a size that differs from its header"
            )
        budget.take(info.file_size, f"zip record {pkl!r}")
        with zf.open(info) as f:
            unpickler = _TorchUnpickler(
                BoundedReader(f, info.file_size), _ops_for(info.file_size), load_storage
            )
            obj = unpickler.load()
    return _Resolver(budget).resolve(obj)


# =============================================================================================
# plain pickles and torch's legacy format
# =============================================================================================
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


def _read_pickles(path: str, size: int):
    """A plain pickle (`.pdparams`), or torch's legacy format (which starts with a magic
    number pickle)."""
    budget = _Budget(size)
    with open(path, "rb") as f:
        reader = BoundedReader(f, size)
        first = _TorchUnpickler(reader, _ops_for(size)).load()
        if type(first) is int and first == _LEGACY_MAGIC:
            obj = _read_legacy(reader, size, budget)
        else:
            obj = first
    return _Resolver(budget).resolve(obj)


def _read_legacy(reader: BoundedReader, size: int, budget: _Budget):
    """torch's pre-1.6 format: magic, protocol, sys_info, the object pickle (storages as
    persistent ids), the list of storage keys, then each storage as (numel, raw data)."""
    protocol = _TorchUnpickler(reader, _ops_for(size)).load()
    if type(protocol) is not int or protocol != _LEGACY_PROTOCOL:
        raise Malformed(f"unsupported legacy torch protocol {_name(protocol, 40)}")
    sys_info = _TorchUnpickler(reader, _ops_for(size)).load()
    if type(sys_info) is not dict:
        raise Malformed("corrupt legacy checkpoint (sys_info is not a dict)")
    little = sys_info.get("little_endian", True)
    if type(little) is not bool:
        raise Malformed("corrupt legacy checkpoint (little_endian is not a bool)")
    order = "little" if little else "big"
    storages: dict = {}

    def load_storage(pid):
        if type(pid) is tuple and pid and pid[0] == "module":
            raise Malformed("contains a whole pickled nn.Module; save its state_dict() instead")
        if type(pid) is tuple and len(pid) == 6 and pid[5] is not None:
            raise Malformed(
                "legacy storage views are not supported; re-save it with a current torch"
            )
        stype, key, numel = _check_pid(pid, 6)
        st = storages.get(key)
        if st is None:
            st = storages[key] = _Storage(key, stype.dtype, numel, order)
        elif (st.dtype, st.numel) != (stype.dtype, numel):
            raise Malformed(f"storage {key!r} is declared twice, with different types or sizes")
        return st

    obj = _TorchUnpickler(reader, _ops_for(size), load_storage).load()
    keys = _TorchUnpickler(reader, _ops_for(size)).load()
    if type(keys) is not list:
        raise Malformed("corrupt legacy checkpoint (no storage key list)")
    for key in keys:
        st = storages.get(key) if type(key) is str else None
        if st is None:
            raise Malformed(f"corrupt legacy checkpoint (unknown storage {_name(key, 40)})")
        if st.data is not None:
            raise Malformed(f"corrupt legacy checkpoint (storage {key!r} listed twice)")
        numel = int.from_bytes(reader.read(8), order, signed=True)
        if numel != st.numel:
            raise Malformed(
                f"legacy storage {key!r} holds {numel} elements but the pickle says {st.numel}"
            )
        nbytes = numel * _src_dtype(st.dtype).itemsize
        budget.take(nbytes, f"legacy storage {key!r}")
        if nbytes > reader._left:  # checked before reading (and allocating)
            raise Malformed(
                f"truncated: legacy storage {key!r} needs {nbytes} bytes, the file has "
                f"{reader._left} left"
            )
        st.data = reader.read(nbytes)
    return obj


# =============================================================================================
# safetensors
# =============================================================================================
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


def _json_pairs(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise Malformed(f"the safetensors header names {_name(k)} twice")
        out[k] = v
    return out


def _json_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > 19:
        raise Malformed(f"the safetensors header holds an integer of {digits} digits")
    return int(text)


def _json_refused(text: str):
    raise Malformed(f"the safetensors header holds the number {shorten(text, 30)} (only integers)")


def _parse_st_header(raw: bytes) -> dict:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Malformed(
            f"the safetensors header is not UTF-8 ({e.reason} at byte {e.start})"
        ) from None
    try:
        header = json.loads(
            text,
            object_pairs_hook=_json_pairs,
            parse_int=_json_int,
            parse_float=_json_refused,
            parse_constant=_json_refused,
        )
    except RecursionError:
        raise Malformed("the safetensors header nests too deep (a header nests 3 levels)") from None
    except json.JSONDecodeError as e:
        raise Malformed(
            f"the safetensors header is not JSON ({e.msg} at character {e.pos})"
        ) from None
    if type(header) is not dict:
        raise Malformed(f"the safetensors header is a JSON {type(header).__name__}, not an object")
    return header


def _st_entries(header: dict, data_len: int) -> list:
    """Checked (begin, end, name, dtype name, shape) of every tensor, sorted by offset."""
    meta = header.pop("__metadata__", None)
    if meta is not None and (
        type(meta) is not dict or any(type(v) is not str for v in meta.values())
    ):
        raise Malformed("the safetensors __metadata__ must map strings to strings")
    entries = []
    for name, info in header.items():
        what = f"tensor {_name(name)}"
        if type(info) is not dict:
            raise Malformed(f"{what}: its entry is a JSON {type(info).__name__}, not an object")
        missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
        if missing:
            raise Malformed(f"{what}: its entry has no {', '.join(missing)}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if type(dtype) is not str or dtype not in _ST_DTYPES:
            raise Malformed(
                f"{what}: unsupported dtype {_name(dtype, 30)} (supported: {', '.join(_ST_DTYPES)})"
            )
        if type(shape) is not list:
            raise Malformed(f"{what}: its shape is a JSON {type(shape).__name__}, not a list")
        shape = check_shape(tuple(shape), f"{what}: shape")
        if (
            type(offsets) is not list
            or len(offsets) != 2
            or any(type(v) is not int for v in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_len
        ):
            shown = (
                str(offsets)
                if type(offsets) is list
                and len(offsets) <= 2
                and all(type(v) is int for v in offsets)
                else f"a JSON {type(offsets).__name__}"
            )
            raise Malformed(
                f"{what}: data_offsets {shown} are not [begin, end] within the "
                f"{data_len}-byte data section"
            )
        begin, end = offsets
        dt_name = _ST_DTYPES[dtype]
        nbytes = nelements(shape) * _src_dtype(dt_name).itemsize
        if end - begin != nbytes:
            raise Malformed(
                f"{what}: shape {_dims(shape)} of {dtype} needs {nbytes} bytes, its data_offsets "
                f"[{begin}, {end}] hold {end - begin}"
            )
        entries.append((begin, end, name, dt_name, shape))
    entries.sort(key=lambda e: (e[0], e[1]))
    pos, prev = 0, None
    for begin, end, name, _, _ in entries:
        if begin < pos:
            raise Malformed(
                f"tensor {_name(name)} (bytes {begin}-{end}) overlaps tensor {_name(prev[2])} "
                f"(bytes {prev[0]}-{prev[1]})"
            )
        if begin > pos:
            raise Malformed(f"{begin - pos} unused bytes before tensor {_name(name)} (at {pos})")
        pos, prev = end, (begin, end, name)
    if pos != data_len:
        raise Malformed(f"{data_len - pos} bytes after the last tensor are not part of any tensor")
    return entries


def _read_safetensors(path: str, size: int) -> dict:
    budget = _Budget(size)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise Malformed("not a safetensors file (shorter than 8 bytes)")
        n = int.from_bytes(head, "little")
        if not 2 <= n <= size - 8:
            raise Malformed(f"not a safetensors file (header length {n}, file size {size})")
        if n > SAFETENSORS_MAX_HEADER:
            raise Malformed(f"the safetensors header of {n} bytes is over {SAFETENSORS_MAX_HEADER}")
        raw = f.read(n)
        if len(raw) != n:
            raise Malformed("truncated: the file shrank while being read")
        start = 8 + n
        entries = _st_entries(_parse_st_header(raw), size - start)
        out = {}
        for begin, end, name, dt_name, shape in entries:
            src_dt = _src_dtype(dt_name, "little")
            out_dt = _out_dtype(dt_name)
            count = nelements(shape)
            extra = 0 if (src_dt == out_dt and src_dt.isnative) else count * out_dt.itemsize
            budget.take(end - begin + extra, f"tensor {_name(name)}")
            src = np.empty(count, dtype=src_dt)
            if count:
                f.seek(start + begin)
                if f.readinto(memoryview(src).cast("B")) != end - begin:
                    raise Malformed("truncated: the file shrank while being read")
            if extra:
                src = _convert_elements(src, dt_name, np.empty(count, dtype=out_dt))
            out[name] = src.reshape(shape)
    return out


# =============================================================================================
# entry points: every failure is a one-line ConversionError naming the file
# =============================================================================================
def _guarded(path: str, fn, *args):
    try:
        return fn(path, *args)
    except Refused as e:
        raise UnsafeCheckpointError(
            f"{path}: refusing to unpickle global '{shorten(e.args[0], 200)}': a weights file "
            f"needs only tensors, numbers, strings and dicts (this file may run code when opened "
            f"with torch.load / pickle; if you trust it, re-save it as a plain state dict with "
            f"torch.save(model.state_dict(), path))"
        ) from None
    except Malformed as e:
        raise ConversionError(f"{path}: {e}") from None
    except (ConversionError, FileNotFoundError, MemoryError, NotRegularFileError):
        raise
    except (EOFError, pickle.UnpicklingError) as e:
        what = "truncated" if isinstance(e, EOFError) else "corrupt pickle"
        raise ConversionError(f"{path}: {what} ({_detail(e)})") from None
    except zipfile.BadZipFile as e:
        raise ConversionError(f"{path}: corrupt zip archive ({_detail(e)})") from None
    except Exception as e:  # noqa: BLE001 - whatever else a malformed file makes the stdlib raise
        raise ConversionError(
            f"{path}: corrupt or unsupported checkpoint ({type(e).__name__}: {_detail(e)})"
        ) from None


def _detail(e: BaseException) -> str:
    try:
        text = str(e)
    except Exception:  # noqa: BLE001 - str() of a hostile exception argument
        text = ""
    return shorten(" ".join(text.split()), 200) or type(e).__name__


def _file_size(path: str) -> int:
    """The size of a regular checkpoint file (every reader starts here): a FIFO or a device is
    one line, never an open that blocks or a read that never ends."""
    if not os.path.lexists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return check_file(path, "checkpoint").st_size


def _read_torch(path: str):
    size = _file_size(path)
    if zipfile.is_zipfile(path):
        return _read_torch_zip(path, size)
    with open(path, "rb") as f:
        head = f.read(512)
    if head[:2] == b"\x1f\x8b" or (len(head) > 262 and head[257:262] == b"ustar"):
        raise Malformed(
            "torch's pre-0.4 tar format is not supported; load and re-save it with a current torch"
        )
    if not head.startswith(b"\x80"):
        raise Malformed("not a torch checkpoint (neither zip nor pickle)")
    return _read_pickles(path, size)


def _read_any(path: str):
    size = _file_size(path)
    if zipfile.is_zipfile(path):
        return _read_torch_zip(path, size)
    with open(path, "rb") as f:
        head = f.read(9)
    if head.startswith(b"\x80"):
        return _read_pickles(path, size)
    if len(head) == 9 and head[8:9] == b"{":
        return _read_safetensors(path, size)
    return _read_torch(path)  # a clear error for tar / unknown files


def read_torch_checkpoint(path: str):
    """What `torch.load(path, map_location="cpu", weights_only=True)` returns, with numpy
    arrays for tensors (bfloat16 widened to float32), without importing torch, running code or
    allocating more than the file can hold (see the module doc)."""
    path = os.fspath(path)
    return _guarded(path, _read_torch)


def read_pickle_file(path: str):
    """A pickle-based file: torch's legacy format, or a plain pickle (`.pdparams`)."""
    path = os.fspath(path)
    return _guarded(path, lambda p: _read_pickles(p, _file_size(p)))


def read_safetensors(path: str) -> dict:
    """A `.safetensors` file -> {name: numpy array} (own reader; bfloat16 widened to float32)."""
    path = os.fspath(path)
    return _guarded(path, lambda p: _read_safetensors(p, _file_size(p)))


def read_checkpoint(path: str):
    """Read any supported weights file, by content: torch zip / legacy pickle, safetensors,
    `.pdparams` pickle. Returns the unpickled object (usually a dict of numpy arrays). Raises
    FileNotFoundError, or ConversionError (UnsafeCheckpointError for a pickle that references a
    global a state dict never needs) whose one-line message names the file and what is wrong."""
    path = os.fspath(path)
    return _guarded(path, _read_any)


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
            top = (
                ", ".join(_name(k, 40) for k in list(obj)[:12])
                if isinstance(obj, dict)
                else _kind(obj)
            )
            want = "an EMA state dict (state_dict_ema)" if use_ema else "a state dict"
            raise ConversionError(f"{path}: could not find {want}; top-level entries: {top}")
    elif use_ema:
        raise ConversionError(f"{path}: use_ema requested but the file holds a plain state dict")
    if not _is_state_dict(obj):
        raise ConversionError(f"{path}: expected a dict of tensors, got {_kind(obj)}")
    sd = {str(k): v for k, v in obj.items() if isinstance(v, np.ndarray)}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd
