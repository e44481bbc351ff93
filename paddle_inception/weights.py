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

Why a pure-Python unpickler
---------------------------
The C unpickler (`pickle.Unpickler`) allocates what the stream *claims* before reading it: a 12-byte
pickle with `LONG_BINPUT 0xffffffff` makes it zero a 64 GiB memo table, and `BINBYTES8 <2**40>`
makes it allocate the bytes before finding the file short. `pickle._Unpickler` (the same class in
pure Python, shipped with CPython) reads through the file object we give it, keeps its memo in a
dict and lets us replace individual opcodes, so every read is bounded by what the file holds.
"""

from __future__ import annotations

import collections
import logging
import os
import pickle
import warnings

import numpy as np

__all__ = [
    "WeightsError",
    "UnsafeWeightsError",
    "load_state_file",
    "resolve_weights_file",
    "load_weights",
    "ALLOWED_GLOBALS",
]

_LOGGER_NAME = "paddle_inception"
_NAME_TABLE = "StructuredToParameterName@@"  # written by paddle.save, dropped by paddle.load
_BIG_PARAMS = "UnpackBigParamInfor@@"  # paddle's spelling (sic): >1 GiB tensors, protocol 2/3

MAX_DEPTH = 100  # containers nested deeper than this are refused (state dicts use ~4)
_MAX_NDIM = 64  # numpy's own limit on array dimensions
_SHARED_PAYLOAD_MIN = 16  # str/bytes payloads this long may feed one array only (see _claim)
# Opcode budget: every opcode costs at most ~70 bytes of Python objects (a memo entry, an empty
# dict), so this keeps a hostile stream of tiny opcodes to ~4x the file size (plus ~17 MiB). Real
# state dicts spend ~20 opcodes per tensor: 4-14 KB per opcode for the package's models.
_OPS_BASE = 250_000
_OPS_PER_BYTE = 1 / 16


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


class _Bad(Exception):
    """Internal: the stream is malformed or asks for something a weights file never needs."""


class _Unsafe(Exception):
    """Internal: the stream references a global outside the allow-list (args[0] = "module.name")."""


def _short(text: str, n: int = 120) -> str:
    return text if len(text) <= n else text[:n] + "..."


def _kind(x) -> str:
    """A short, safe description of an untrusted object (never its repr: it may be huge or deep)."""
    if type(x) is _PendingArray:
        return "numpy array"
    if type(x) is _PendingDtype:
        return "numpy dtype"
    return type(x).__name__


# --------------------------------------------------------------------------------------------------
# Stand-ins for the allowed globals. The unpickler hands these out instead of the real numpy /
# builtins objects, so nothing from the file ever reaches numpy's own pickle machinery: each
# stand-in validates its arguments (and, for arrays and dtypes, the BUILD state) and builds the
# real object itself from plain bytes.
# --------------------------------------------------------------------------------------------------

# Plain numeric/bool dtypes, as numpy's dtype.__reduce__ spells them ('f4', not 'float32').
# No object ('O'), void/structured ('V'), strings ('S', 'U'), datetimes ('M', 'm') or long doubles:
# paddle.save never writes them (bfloat16 is stored as 'u2').
_DTYPE_CODES = frozenset(
    ["b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"]
)


class _PendingDtype:
    """What `numpy.dtype(code, align, copy)` returns: the real dtype is built once BUILD brings the
    byte order (and we have checked that the state describes no fields / sub-array)."""

    __slots__ = ("code", "dtype")

    def __init__(self, code: str):
        self.code = code
        self.dtype = None

    def set_state(self, state) -> None:
        if self.dtype is not None:
            raise _Bad("a numpy dtype receives its state twice")
        # numpy writes (3, endian, subarray, names, fields, elsize, alignment, flags), or version 4
        # with a trailing metadata dict.
        if type(state) is not tuple or len(state) not in (8, 9):
            raise _Bad(f"numpy dtype state must be an 8- or 9-tuple, got {_kind(state)}")
        version, endian, subarray, names, fields, elsize, alignment, flags = state[:8]
        if type(version) is not int or version != len(state) - 5:
            raise _Bad("numpy dtype state has an unknown version")
        if subarray is not None or names is not None or fields is not None:
            raise _Bad("structured or sub-array numpy dtypes are not allowed in a weights file")
        if type(endian) is not str or endian not in ("<", ">", "|", "="):
            raise _Bad("numpy dtype state has an invalid byte order")
        if not all(type(v) is int for v in (elsize, alignment, flags)):
            raise _Bad("numpy dtype state has non-integer sizes or flags")
        if len(state) == 9 and state[8] is not None and type(state[8]) is not dict:
            raise _Bad("numpy dtype metadata must be a dict")  # ignored: paddle never sets it
        dt = np.dtype(self.code)
        if dt.itemsize > 1 and endian in "<>":
            dt = dt.newbyteorder(endian)
        self.dtype = dt


class _PendingArray:
    """What `_reconstruct(numpy.ndarray, (0,), b'b')` returns; BUILD brings shape, dtype, order and
    the raw bytes, which are checked before the real array is made with np.frombuffer."""

    __slots__ = ("array",)

    def __init__(self):
        self.array = None


def _check_shape(shape, what: str = "array shape") -> tuple:
    if type(shape) is not tuple or len(shape) > _MAX_NDIM:
        raise _Bad(f"{what} must be a tuple of at most {_MAX_NDIM} ints, got {_kind(shape)}")
    for d in shape:
        # type(d) is int excludes bools (True is an int to isinstance) and int subclasses
        if type(d) is not int or not 0 <= d < 2**63:
            shown = (
                repr(d)
                if type(d) is bool or (type(d) is int and d.bit_length() < 64)
                else f"an int of {d.bit_length()} bits"
                if type(d) is int
                else _kind(d)
            )
            raise _Bad(f"{what} entries must be non-negative ints below 2**63, got {shown}")
    return shape


def _nelements(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _refused_opcode(opname):
    def op(self):
        raise _Bad(f"pickle opcode {opname} is not used by paddle.save and is not allowed")

    return op


def _counted(fn):
    """Charge one opcode against the unpickler's budget (see _OPS_BASE), then run it."""

    def op(self):
        self._ops_left -= 1
        if self._ops_left < 0:
            raise _Bad("too many pickle operations for the file size (not a paddle.save file)")
        fn(self)

    return op


# The allow-list, "module.qualname" as the pickle names it: exactly the globals paddle.save writes
# (protocols 2-4, numpy 1 and 2 spellings). _RestrictedUnpickler maps each to a validating stand-in.
ALLOWED_GLOBALS = (
    "numpy._core.multiarray._reconstruct",  # arrays (numpy 2): _reconstruct(ndarray, (0,), b'b')
    "numpy.core.multiarray._reconstruct",  # arrays (numpy 1)
    "numpy.ndarray",  # only as _reconstruct's first argument
    "numpy.dtype",  # dtype('f4', False, True) + BUILD state
    "numpy._core.multiarray.scalar",  # numpy scalars (numpy 2): scalar(dtype, bytes)
    "numpy.core.multiarray.scalar",  # numpy scalars (numpy 1)
    "_codecs.encode",  # protocol 2 bytes: encode(str, 'latin1')
    "__builtin__.bytes",  # protocol 2 empty bytes (empty arrays): bytes()
    "builtins.bytes",  # the same when written with fix_imports=False
    "builtins.tuple",  # nested tensors: tuple((name, array))
    "__builtin__.tuple",  # the same under protocol 2
    "collections.OrderedDict",  # OrderedDict state dicts pickled directly
)


class _RestrictedUnpickler(pickle._Unpickler):
    """pickle's pure-Python unpickler with an allow-list of globals, validating stand-ins for them,
    bounded reads (through _BoundedReader), an opcode budget and the opcodes paddle.save never
    writes refused."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, reader, max_ops: int):
        # encoding='latin1' as paddle.load: Python 2 `str` payloads decode byte for byte.
        super().__init__(reader, encoding="latin1")
        self._ops_left = max_ops
        self._claimed = set()  # ids of payloads already used by a stand-in (see _claim)
        self._keep = []
        # Allow-list: "module.qualname" -> stand-in. Exactly what paddle.save writes (protocols 2-4,
        # numpy 1 and 2 spellings); nothing here can run code or touch anything outside the file.
        self._allowed = {
            # arrays: _reconstruct(ndarray, (0,), b'b') + BUILD (1, shape, dtype, fortran, bytes)
            "numpy._core.multiarray._reconstruct": self._reconstruct,  # numpy 2
            "numpy.core.multiarray._reconstruct": self._reconstruct,  # numpy 1
            # only ever the first argument of _reconstruct (a marker, never called)
            "numpy.ndarray": self._ndarray,
            # dtype('f4', False, True) + BUILD (3, '<', None, None, None, -1, -1, 0)
            "numpy.dtype": self._dtype,
            # numpy scalars (np.float32(0.1) in a dict): scalar(dtype, raw_bytes)
            "numpy._core.multiarray.scalar": self._scalar,  # numpy 2
            "numpy.core.multiarray.scalar": self._scalar,  # numpy 1
            # protocol 2 has no bytes opcode: bytes are written as _codecs.encode(str, 'latin1')
            "_codecs.encode": self._latin1_encode,
            # protocol 2 writes b'' (the payload of an empty array) as bytes() with no arguments
            "__builtin__.bytes": self._empty_bytes,
            "builtins.bytes": self._empty_bytes,
            # paddle.save turns a nested tensor into tuple((name, array)) (paddle 2.1 format)
            "builtins.tuple": self._tuple,
            "__builtin__.tuple": self._tuple,  # protocol 2 spelling
            # OrderedDict state dicts pickled directly (pickle.dump of model.state_dict())
            "collections.OrderedDict": self._ordered_dict,
        }
        assert set(self._allowed) == set(ALLOWED_GLOBALS)

    # ---- globals -------------------------------------------------------------------------------

    def find_class(self, module, name):
        stand_in = self._allowed.get(f"{module}.{name}")
        if stand_in is None:
            raise _Unsafe(f"{module}.{name}")
        return stand_in

    def persistent_load(self, pid):
        raise _Bad(
            "the pickle uses persistent ids (an external object store), which paddle.save "
            "never writes"
        )

    def _claim(self, payload) -> None:
        """Each payload may feed one stand-in call only: a memoised 1 MiB str referenced by a
        thousand 5-byte opcodes would otherwise make a thousand 1 MiB arrays. paddle.save never
        reuses one (every array pickles a fresh bytes object). str/bytes shorter than
        _SHARED_PAYLOAD_MIN are exempt, as CPython hands out cached objects for b'', 1-char strings
        etc.; lists and tuples are always fresh objects."""
        if type(payload) in (str, bytes, bytearray) and len(payload) < _SHARED_PAYLOAD_MIN:
            return
        if not len(payload):
            return
        if id(payload) in self._claimed:
            raise _Bad("one data block is used several times (paddle.save never does this)")
        self._claimed.add(id(payload))
        self._keep.append(payload)  # keep it alive so its id cannot be reused

    def _ndarray(self, *args):
        raise _Bad("numpy.ndarray may only appear as the first argument of numpy's _reconstruct")

    def _reconstruct(self, *args):
        if len(args) != 3 or args[0] is not self._allowed["numpy.ndarray"]:
            raise _Bad("_reconstruct may only build a numpy.ndarray")
        if type(args[1]) is not tuple or type(args[2]) not in (bytes, str):
            raise _Bad("_reconstruct arguments are not (ndarray, shape tuple, typecode)")
        # numpy would allocate an empty array of args[1] here; we build nothing until BUILD.
        return _PendingArray()

    def _dtype(self, *args):
        if not 1 <= len(args) <= 3:
            raise _Bad("numpy.dtype takes (code, align, copy)")
        code = args[0]
        if type(code) is not str or code not in _DTYPE_CODES:
            shown = repr(_short(code, 20)) if type(code) is str else _kind(code)
            raise _Bad(
                f"numpy dtype {shown} is not allowed in a weights file (only bool, int, "
                f"uint, float and complex)"
            )
        for flag in args[1:]:
            if type(flag) not in (bool, int) or flag not in (0, 1):
                raise _Bad("numpy.dtype align/copy flags must be booleans")
        return _PendingDtype(code)

    def _payload(self, raw, what: str) -> bytes:
        if type(raw) is str:  # Python 2 pickles hold raw bytes as a str; latin-1 maps them back 1:1
            self._claim(raw)
            raw = raw.encode("latin-1")
        if type(raw) not in (bytes, bytearray):
            raise _Bad(
                f"{what} data must be raw bytes, got {_kind(raw)} (object arrays are not allowed)"
            )
        return raw

    def _scalar(self, *args):
        if len(args) != 2:
            raise _Bad("numpy scalar takes (dtype, bytes)")
        pdt, raw = args
        if type(pdt) is not _PendingDtype or pdt.dtype is None:
            raise _Bad("numpy scalar needs a plain numpy dtype")
        raw = self._payload(raw, "numpy scalar")
        if len(raw) != pdt.dtype.itemsize:
            raise _Bad(
                f"numpy scalar of dtype {pdt.dtype} needs {pdt.dtype.itemsize} bytes, "
                f"got {len(raw)}"
            )
        return np.frombuffer(raw, dtype=pdt.dtype, count=1)[0]

    def _set_array_state(self, pa: _PendingArray, state) -> None:
        if pa.array is not None:
            raise _Bad("a numpy array receives its state twice")
        # (version, shape, dtype, is_fortran, raw) as numpy writes it; numpy also reads the 4-tuple
        if type(state) is not tuple or len(state) not in (4, 5):
            raise _Bad(f"numpy array state must be a 5-tuple, got {_kind(state)}")
        if len(state) == 5:
            if type(state[0]) is not int or state[0] != 1:
                raise _Bad("numpy array state has an unknown version")
            state = state[1:]
        shape, pdt, fortran, raw = state
        shape = _check_shape(shape)
        if type(pdt) is not _PendingDtype or pdt.dtype is None:
            raise _Bad(f"numpy array dtype must be a plain numpy dtype, got {_kind(pdt)}")
        if type(fortran) not in (bool, int) or fortran not in (0, 1):
            raise _Bad("numpy array order flag must be a boolean")
        raw = self._payload(raw, "numpy array")
        dt = pdt.dtype
        n = _nelements(shape)
        # Exact size check before anything is allocated: the claimed shape can never make us
        # allocate more than the payload the file actually holds.
        if n * dt.itemsize != len(raw):
            raise _Bad(
                f"numpy array of shape {list(shape)} and dtype {dt} needs "
                f"{n * dt.itemsize} bytes but the file holds {len(raw)}"
            )
        if _nelements([d for d in shape if d]) * dt.itemsize >= 2**63:
            raise _Bad(f"numpy array shape {list(shape)} is too large")
        self._claim(raw)
        arr = np.frombuffer(raw, dtype=dt, count=n).reshape(shape, order="F" if fortran else "C")
        if not dt.isnative:  # numpy's own unpickling byte-swaps to native order
            arr = arr.astype(dt.newbyteorder("="), order="K")
        elif not arr.flags.writeable:  # a view of an immutable bytes object: take a copy
            arr = arr.copy(order="K")
        pa.array = arr

    def _latin1_encode(self, *args):
        if (
            len(args) != 2
            or type(args[0]) is not str
            or type(args[1]) is not str
            or args[1] not in ("latin1", "latin-1")
        ):
            raise _Bad("_codecs.encode is only allowed as encode(str, 'latin1') (protocol-2 bytes)")
        self._claim(args[0])
        return args[0].encode("latin-1")

    def _empty_bytes(self, *args):
        if args:
            raise _Bad("bytes() is only allowed without arguments (protocol-2 empty bytes)")
        return b""

    def _tuple(self, *args):
        if not args:
            return ()
        if len(args) != 1 or type(args[0]) not in (list, tuple):
            raise _Bad("tuple() is only allowed on a list or tuple")
        if type(args[0]) is list:  # tuple(a_tuple) is the same object: nothing is copied
            self._claim(args[0])
        return tuple(args[0])

    def _ordered_dict(self, *args):
        od = collections.OrderedDict()
        if args:
            if len(args) != 1 or type(args[0]) not in (list, tuple):
                raise _Bad("OrderedDict() is only allowed on a list of pairs")
            self._claim(args[0])
            for pair in args[0]:
                if type(pair) not in (list, tuple) or len(pair) != 2:
                    raise _Bad("OrderedDict() is only allowed on a list of pairs")
                _check_key(pair[0])
                od[pair[0]] = pair[1]
        return od

    # ---- opcodes -------------------------------------------------------------------------------
    # BUILD: only our array/dtype stand-ins take state. The stock BUILD would update the __dict__ of
    # (or setattr on) whatever object is on the stack.
    def _load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is _PendingArray:
            self._set_array_state(inst, state)
        elif type(inst) is _PendingDtype:
            inst.set_state(state)
        else:
            raise _Bad(
                f"BUILD (object state) on a {_kind(inst)}: only numpy arrays and dtypes take "
                f"state in a weights file"
            )

    dispatch[pickle.BUILD[0]] = _load_build

    # Dict keys and set members are hashed: a deeply nested tuple key would crash CPython's hash
    # (C recursion) and a big reused tuple/int would make every SETITEM slow, so keys are limited to
    # scalars (paddle writes str keys only). Targets must really be dicts / lists / sets.
    def _load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        target = self.stack[-1]
        if type(target) not in (dict, collections.OrderedDict):
            raise _Bad(f"SETITEM on a {_kind(target)}")
        _check_key(key)
        target[key] = value

    dispatch[pickle.SETITEM[0]] = _load_setitem

    def _load_setitems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) not in (dict, collections.OrderedDict) or len(items) % 2:
            raise _Bad(f"SETITEMS on a {_kind(target)}")
        for i in range(0, len(items), 2):
            _check_key(items[i])
            target[items[i]] = items[i + 1]

    dispatch[pickle.SETITEMS[0]] = _load_setitems

    def _load_dict(self):
        items = self.pop_mark()
        if len(items) % 2:
            raise _Bad("DICT with an odd number of items")
        d = {}
        for i in range(0, len(items), 2):
            _check_key(items[i])
            d[items[i]] = items[i + 1]
        self.append(d)

    dispatch[pickle.DICT[0]] = _load_dict

    def _load_additems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            raise _Bad(f"ADDITEMS on a {_kind(target)}")
        for item in items:
            _check_key(item)
        target.update(items)

    dispatch[pickle.ADDITEMS[0]] = _load_additems

    def _load_frozenset(self):
        items = self.pop_mark()
        for item in items:
            _check_key(item)
        self.append(frozenset(items))

    dispatch[pickle.FROZENSET[0]] = _load_frozenset

    def _load_append(self):
        value = self.stack.pop()
        target = self.stack[-1]
        if type(target) is not list:
            raise _Bad(f"APPEND on a {_kind(target)}")
        target.append(value)

    dispatch[pickle.APPEND[0]] = _load_append

    def _load_appends(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not list:
            raise _Bad(f"APPENDS on a {_kind(target)}")
        target.extend(items)

    dispatch[pickle.APPENDS[0]] = _load_appends

    # Opcodes paddle.save never writes and whose only use is building arbitrary objects: class
    # instantiation (INST/OBJ/NEWOBJ*), the copyreg extension registry (EXT*, which also caches in a
    # process-wide table) and protocol-5 buffers (paddle.save refuses protocol 5; BYTEARRAY8 would
    # allocate its claimed length before reading).
    for _op in (
        "INST",
        "OBJ",
        "NEWOBJ",
        "NEWOBJ_EX",
        "EXT1",
        "EXT2",
        "EXT4",
        "BYTEARRAY8",
        "NEXT_BUFFER",
        "READONLY_BUFFER",
    ):
        dispatch[getattr(pickle, _op)[0]] = _refused_opcode(_op)
    del _op

    # Every opcode is charged against the budget (see _OPS_BASE).
    dispatch = dict(zip(dispatch.keys(), map(_counted, dispatch.values())))


_KEY_TYPES = (str, bytes, float, bool, type(None))


def _check_key(key) -> None:
    t = type(key)
    if t is int:
        if not -(2**63) <= key < 2**64:
            raise _Bad("integer dict key out of range")
    elif t not in _KEY_TYPES:
        raise _Bad(
            f"a {_kind(key)} cannot be a dict key or set member in a weights file "
            f"(str, bytes, int, float, bool or None only)"
        )


class _BoundedReader:
    """The file object the unpickler reads from: a read longer than what is left in the file is
    refused before anything is read or allocated."""

    def __init__(self, f, size: int):
        self._f = f
        self._left = size

    def read(self, n: int) -> bytes:
        if n < 0 or n > self._left:
            raise _Bad(
                f"truncated: the pickle asks for {n} more bytes but only {self._left} are left"
                if self._left
                else "truncated: the file ends before the pickle does"
            )
        data = self._f.read(n)
        self._left -= len(data)
        if len(data) != n:
            raise _Bad("truncated: the file shrank while being read")
        return data

    def readline(self) -> bytes:
        line = self._f.readline(self._left)
        self._left -= len(line)
        if not line.endswith(b"\n"):  # else a cut GLOBAL line would name a shortened module
            raise _Bad("truncated: the file ends inside a text line of the pickle")
        return line


# --------------------------------------------------------------------------------------------------
# After unpickling: replace stand-ins by the real objects, check what the tree holds, and apply
# paddle.load's post-processing so the result equals paddle.load(path, return_numpy=True).
# --------------------------------------------------------------------------------------------------

_LEAF_TYPES = frozenset([str, bytes, int, float, bool, complex, type(None), set, frozenset])


def _leaf(x):
    t = type(x)
    if t is _PendingArray:
        if x.array is None:
            raise _Bad("a numpy array never received its data (incomplete pickle)")
        return x.array
    if t is _PendingDtype:
        if x.dtype is None:
            raise _Bad("a numpy dtype never received its state (incomplete pickle)")
        return x.dtype
    if t in _LEAF_TYPES or isinstance(x, np.generic):  # sets: members were checked when added
        return x
    raise _Bad(f"unexpected {_kind(x)} object in the file")


def _finish(root, tuples_to_arrays: bool):
    """Resolve stand-ins in place (lists/dicts) or by rebuilding (tuples), iteratively. Refuses
    nesting deeper than MAX_DEPTH and self-references; shared sub-objects are visited once (a
    memoised DAG would otherwise cost exponential time). With `tuples_to_arrays`, (str, ndarray)
    pairs become the array, as paddle.load does for files without a name table."""
    done = {}  # id(container) -> (container, final object); keeps both alive
    active = set()  # ids on the current path

    def frame(c):
        keys = list(c.keys()) if type(c) in (dict, collections.OrderedDict) else range(len(c))
        return [c, keys, 0, [] if type(c) is tuple else None]

    stack = [frame(root)]
    active.add(id(root))
    while stack:
        top = stack[-1]
        c, keys, i, items = top
        if i == len(keys):  # container finished
            stack.pop()
            active.discard(id(c))
            final = c
            if items is not None:  # a tuple: rebuild only if something changed
                if any(a is not b for a, b in zip(items, c)):
                    final = tuple(items)
                if (
                    tuples_to_arrays
                    and len(final) == 2
                    and type(final[0]) is str
                    and type(final[1]) is np.ndarray
                ):
                    final = final[1]
            done[id(c)] = (c, final)
            if stack:
                _store(stack[-1], final)
            continue
        child = c[keys[i]]
        if type(child) in (dict, collections.OrderedDict, list, tuple):
            if id(child) in active:
                raise _Bad("the file holds a self-referencing structure")
            if id(child) in done:
                _store(top, done[id(child)][1])
            elif len(stack) >= MAX_DEPTH:
                raise _Bad(f"containers nested more than {MAX_DEPTH} deep")
            else:
                active.add(id(child))
                stack.append(frame(child))
        else:
            _store(top, _leaf(child))
    return done[id(root)][1]


def _store(top, value) -> None:
    """Put the resolved value of the current child into its container frame and advance."""
    c, keys, i, items = top
    if items is not None:
        items.append(value)
    elif c[keys[i]] is not value:
        c[keys[i]] = value
    top[2] = i + 1


def _join_big_params(state: dict) -> None:
    """paddle.save (protocol 2/3) splits tensors over 1 GiB into 1-D slices; join them back as
    paddle.load does (validated: slices are 1-D arrays of one dtype adding up to the shape)."""
    info = state.pop(_BIG_PARAMS)
    if type(info) is not dict:
        raise _Bad(f"{_BIG_PARAMS} is not a dict")
    removed = []
    for key, spec in info.items():
        if type(spec) is not dict or type(spec.get("slices")) is not list:
            raise _Bad(f"{_BIG_PARAMS} entry for {_short(str(key))!r} is malformed")
        shape = spec.get("OriginShape")
        shape = _check_shape(tuple(shape) if type(shape) is list else shape, "OriginShape")
        parts = []
        for name in spec["slices"]:
            part = state.get(name) if type(name) is str else None
            if type(part) is not np.ndarray or part.ndim != 1:
                raise _Bad(f"{_BIG_PARAMS}: slice {_short(str(name))!r} is not a 1-D array")
            parts.append(part)
        if (
            not parts
            or len({p.dtype for p in parts}) != 1
            or sum(p.size for p in parts) != _nelements(shape)
        ):
            raise _Bad(
                f"{_BIG_PARAMS}: slices of {_short(str(key))!r} do not add up to {list(shape)}"
            )
        state[key] = np.concatenate(parts).reshape(shape)
        removed += spec["slices"]
    for name in removed:
        state.pop(name, None)


def _load_restricted(path: str) -> dict:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(4)
        f.seek(0)
        if size == 0:
            raise _Bad("the file is empty")
        if head[:2] == b"PK":
            raise _Bad(
                "it is a zip archive (torch.save / numpy .npz format?), not a paddle.save pickle"
            )
        if len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= 5:
            raise _Bad(
                f"not a paddle.save file: it does not start with a pickle protocol 2-5 "
                f"header (first bytes {head.hex()})"
            )
        max_ops = _OPS_BASE + int(size * _OPS_PER_BYTE)
        obj = _RestrictedUnpickler(_BoundedReader(f, size), max_ops).load()
    if type(obj) not in (dict, collections.OrderedDict):
        raise _Bad(f"the top level is a {_kind(obj)}, not a dict (a state dict)")
    obj = _finish(obj, tuples_to_arrays=_NAME_TABLE not in obj)
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
            f"cannot load '{path}' (trusted): {type(e).__name__}: {_short(str(e), 200)}", path
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
    if trusted:
        return _load_trusted(p)
    try:
        return _load_restricted(p)
    except _Unsafe as e:
        name = _short(e.args[0], 200)
        raise UnsafeWeightsError(
            f"refusing to load '{p}': its pickle references {name}, which is not on the "
            f"allow-list for weights files (numpy arrays, numpy scalars and plain containers "
            f"only); loading it would let the file run code. If you trust this file, load it "
            f"with trusted=True (CLI: --trusted-weights).",
            p,
            name,
        ) from None
    except _Bad as e:
        raise WeightsError(f"cannot load '{p}': {e}", p) from None
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - any other failure of a malformed pickle
        try:
            detail = _short(str(e), 200)
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

    if mode == "strict":
        if skipped or missing or unexpected:
            parts = []
            if skipped:
                parts.append(f"{len(skipped)} with another shape ({mismatch_list(skipped)})")
            if missing:
                parts.append(f"{len(missing)} missing from the file ({names(missing, 'model')})")
            if unexpected:
                parts.append(f"{len(unexpected)} not in the model ({names(unexpected, 'file')})")
            raise WeightsError(
                f"{what}: {src} does not fit model {model_name}: {'; '.join(parts)}; "
                f"{len(matched)} of {len(own)} tensors match. Nothing was loaded; check the model "
                f"name / num_classes / in_channels (fine-tuning skips mismatched tensors).",
                file,
            )
    else:
        if 2 * len(matched) < len(own):
            examples = []
            if missing:
                examples.append(f"missing {names(missing, 'model')}")
            if skipped:
                examples.append(f"other shape {mismatch_list(skipped)}")
            if unexpected:
                examples.append(f"not in the model {names(unexpected, 'file')}")
            raise WeightsError(
                f"{what}: {src} matches only {len(matched)} of {len(own)} tensors of model "
                f"{model_name} (fewer than half: is it a file for another model?); e.g. "
                f"{'; '.join(examples)}. Nothing was loaded.",
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
