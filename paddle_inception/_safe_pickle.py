"""The restricted unpickler behind every loader of untrusted pickles in the package
(`weights.load_state_file` for `paddle.save` files, `convert.readers` for torch checkpoints): it
builds nothing but numpy arrays, numpy scalars/dtypes and plain containers, through validating
stand-ins, and refuses every other global.

Why a pure-Python unpickler
---------------------------
The C unpickler (`pickle.Unpickler`) allocates what the stream *claims* before reading it: a 12-byte
pickle with `LONG_BINPUT 0xffffffff` makes it zero a 64 GiB memo table, and `BINBYTES8 <2**40>`
makes it allocate the bytes before finding the file short. `pickle._Unpickler` (the same class in
pure Python, shipped with CPython) reads through the file object we give it, keeps its memo in a
dict and lets us replace individual opcodes, so every read is bounded by what the file holds.

`Malformed` and `Refused` are raised inside; each loader turns them into its own public error
naming the file (`WeightsError` / `UnsafeWeightsError`, `ConversionError` /
`UnsafeCheckpointError`).
"""

from __future__ import annotations

import collections
import pickle

import numpy as np

MAX_DEPTH = 100  # containers nested deeper than this are refused (state dicts use ~4)
_MAX_NDIM = 64  # numpy's own limit on array dimensions
_SHARED_PAYLOAD_MIN = 16  # str/bytes payloads this long may feed one array only (see _claim)
# Opcode budget: every opcode costs at most ~70 bytes of Python objects (a memo entry, an empty
# dict), so this keeps a hostile stream of tiny opcodes to ~4x the file size (plus ~17 MiB). Real
# state dicts spend ~20 opcodes per tensor: 4-14 KB per opcode for the package's models.
OPS_BASE = 250_000
OPS_PER_BYTE = 1 / 16


class Malformed(Exception):
    """Internal: the stream is malformed or asks for something a weights file never needs."""


class Refused(Exception):
    """Internal: the stream references a global outside the allow-list (args[0] = "module.name")."""


def shorten(text: str, n: int = 120) -> str:
    return text if len(text) <= n else text[:n] + "..."


def describe(x) -> str:
    """A short, safe description of an untrusted object (never its repr: it may be huge or deep)."""
    if type(x) is PendingArray:
        return "numpy array"
    if type(x) is PendingDtype:
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


class PendingDtype:
    """What `numpy.dtype(code, align, copy)` returns: the real dtype is built once BUILD brings the
    byte order (and we have checked that the state describes no fields / sub-array)."""

    __slots__ = ("code", "dtype")

    def __init__(self, code: str):
        self.code = code
        self.dtype = None

    def set_state(self, state) -> None:
        if self.dtype is not None:
            raise Malformed("a numpy dtype receives its state twice")
        # numpy writes (3, endian, subarray, names, fields, elsize, alignment, flags), or version 4
        # with a trailing metadata dict.
        if type(state) is not tuple or len(state) not in (8, 9):
            raise Malformed(f"numpy dtype state must be an 8- or 9-tuple, got {describe(state)}")
        version, endian, subarray, names, fields, elsize, alignment, flags = state[:8]
        if type(version) is not int or version != len(state) - 5:
            raise Malformed("numpy dtype state has an unknown version")
        if subarray is not None or names is not None or fields is not None:
            raise Malformed(
                "structured or sub-array numpy dtypes are not allowed in a weights file"
            )
        if type(endian) is not str or endian not in ("<", ">", "|", "="):
            raise Malformed("numpy dtype state has an invalid byte order")
        if not all(type(v) is int for v in (elsize, alignment, flags)):
            raise Malformed("numpy dtype state has non-integer sizes or flags")
        if len(state) == 9 and state[8] is not None and type(state[8]) is not dict:
            raise Malformed("numpy dtype metadata must be a dict")  # ignored: paddle never sets it
        dt = np.dtype(self.code)
        if dt.itemsize > 1 and endian in "<>":
            dt = dt.newbyteorder(endian)
        self.dtype = dt


class PendingArray:
    """What `_reconstruct(numpy.ndarray, (0,), b'b')` returns; BUILD brings shape, dtype, order and
    the raw bytes, which are checked before the real array is made with np.frombuffer."""

    __slots__ = ("array",)

    def __init__(self):
        self.array = None


def check_shape(shape, what: str = "array shape") -> tuple:
    if type(shape) is not tuple or len(shape) > _MAX_NDIM:
        raise Malformed(
            f"{what} must be a tuple of at most {_MAX_NDIM} ints, got {describe(shape)}"
        )
    for d in shape:
        # type(d) is int excludes bools (True is an int to isinstance) and int subclasses
        if type(d) is not int or not 0 <= d < 2**63:
            shown = (
                repr(d)
                if type(d) is bool or (type(d) is int and d.bit_length() < 64)
                else f"an int of {d.bit_length()} bits"
                if type(d) is int
                else describe(d)
            )
            raise Malformed(f"{what} entries must be non-negative ints below 2**63, got {shown}")
    return shape


def nelements(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _refused_opcode(opname):
    def op(self):
        raise Malformed(f"pickle opcode {opname} is not used by paddle.save and is not allowed")

    return op


def counted(fn):
    """Charge one opcode against the unpickler's budget (see OPS_BASE), then run it."""

    def op(self):
        self._ops_left -= 1
        if self._ops_left < 0:
            raise Malformed("too many pickle operations for the file size (not a paddle.save file)")
        fn(self)

    return op


# The allow-list, "module.qualname" as the pickle names it: exactly the globals paddle.save writes
# (protocols 2-4, numpy 1 and 2 spellings). RestrictedUnpickler maps each to a validating stand-in.
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


class RestrictedUnpickler(pickle._Unpickler):
    """pickle's pure-Python unpickler with an allow-list of globals, validating stand-ins for them,
    bounded reads (through BoundedReader), an opcode budget and the opcodes paddle.save never
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
            raise Refused(f"{module}.{name}")
        return stand_in

    def persistent_load(self, pid):
        raise Malformed(
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
            raise Malformed("one data block is used several times (paddle.save never does this)")
        self._claimed.add(id(payload))
        self._keep.append(payload)  # keep it alive so its id cannot be reused

    def _ndarray(self, *args):
        raise Malformed(
            "numpy.ndarray may only appear as the first argument of numpy's _reconstruct"
        )

    def _reconstruct(self, *args):
        if len(args) != 3 or args[0] is not self._allowed["numpy.ndarray"]:
            raise Malformed("_reconstruct may only build a numpy.ndarray")
        if type(args[1]) is not tuple or type(args[2]) not in (bytes, str):
            raise Malformed("_reconstruct arguments are not (ndarray, shape tuple, typecode)")
        # numpy would allocate an empty array of args[1] here; we build nothing until BUILD.
        return PendingArray()

    def _dtype(self, *args):
        if not 1 <= len(args) <= 3:
            raise Malformed("numpy.dtype takes (code, align, copy)")
        code = args[0]
        if type(code) is not str or code not in _DTYPE_CODES:
            shown = repr(shorten(code, 20)) if type(code) is str else describe(code)
            raise Malformed(
                f"numpy dtype {shown} is not allowed in a weights file (only bool, int, "
                f"uint, float and complex)"
            )
        for flag in args[1:]:
            if type(flag) not in (bool, int) or flag not in (0, 1):
                raise Malformed("numpy.dtype align/copy flags must be booleans")
        return PendingDtype(code)

    def _payload(self, raw, what: str) -> bytes:
        if type(raw) is str:  # Python 2 pickles hold raw bytes as a str; latin-1 maps them back 1:1
            self._claim(raw)
            raw = raw.encode("latin-1")
        if type(raw) not in (bytes, bytearray):
            raise Malformed(
                f"{what} data must be raw bytes, got {describe(raw)} "
                "(object arrays are not allowed)"
            )
        return raw

    def _scalar(self, *args):
        if len(args) != 2:
            raise Malformed("numpy scalar takes (dtype, bytes)")
        pdt, raw = args
        if type(pdt) is not PendingDtype or pdt.dtype is None:
            raise Malformed("numpy scalar needs a plain numpy dtype")
        raw = self._payload(raw, "numpy scalar")
        if len(raw) != pdt.dtype.itemsize:
            raise Malformed(
                f"numpy scalar of dtype {pdt.dtype} needs {pdt.dtype.itemsize} bytes, "
                f"got {len(raw)}"
            )
        return np.frombuffer(raw, dtype=pdt.dtype, count=1)[0]

    def _set_array_state(self, pa: PendingArray, state) -> None:
        if pa.array is not None:
            raise Malformed("a numpy array receives its state twice")
        # (version, shape, dtype, is_fortran, raw) as numpy writes it; numpy also reads the 4-tuple
        if type(state) is not tuple or len(state) not in (4, 5):
            raise Malformed(f"numpy array state must be a 5-tuple, got {describe(state)}")
        if len(state) == 5:
            if type(state[0]) is not int or state[0] != 1:
                raise Malformed("numpy array state has an unknown version")
            state = state[1:]
        shape, pdt, fortran, raw = state
        shape = check_shape(shape)
        if type(pdt) is not PendingDtype or pdt.dtype is None:
            raise Malformed(f"numpy array dtype must be a plain numpy dtype, got {describe(pdt)}")
        if type(fortran) not in (bool, int) or fortran not in (0, 1):
            raise Malformed("numpy array order flag must be a boolean")
        raw = self._payload(raw, "numpy array")
        dt = pdt.dtype
        n = nelements(shape)
        # Exact size check before anything is allocated: the claimed shape can never make us
        # allocate more than the payload the file actually holds.
        if n * dt.itemsize != len(raw):
            raise Malformed(
                f"numpy array of shape {list(shape)} and dtype {dt} needs "
                f"{n * dt.itemsize} bytes but the file holds {len(raw)}"
            )
        if nelements([d for d in shape if d]) * dt.itemsize >= 2**63:
            raise Malformed(f"numpy array shape {list(shape)} is too large")
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
            raise Malformed(
                "_codecs.encode is only allowed as encode(str, 'latin1') (protocol-2 bytes)"
            )
        self._claim(args[0])
        return args[0].encode("latin-1")

    def _empty_bytes(self, *args):
        if args:
            raise Malformed("bytes() is only allowed without arguments (protocol-2 empty bytes)")
        return b""

    def _tuple(self, *args):
        if not args:
            return ()
        if len(args) != 1 or type(args[0]) not in (list, tuple):
            raise Malformed("tuple() is only allowed on a list or tuple")
        if type(args[0]) is list:  # tuple(a_tuple) is the same object: nothing is copied
            self._claim(args[0])
        return tuple(args[0])

    def _ordered_dict(self, *args):
        od = collections.OrderedDict()
        if args:
            if len(args) != 1 or type(args[0]) not in (list, tuple):
                raise Malformed("OrderedDict() is only allowed on a list of pairs")
            self._claim(args[0])
            for pair in args[0]:
                if type(pair) not in (list, tuple) or len(pair) != 2:
                    raise Malformed("OrderedDict() is only allowed on a list of pairs")
                check_key(pair[0])
                od[pair[0]] = pair[1]
        return od

    # ---- opcodes -------------------------------------------------------------------------------
    # BUILD: only our array/dtype stand-ins take state. The stock BUILD would update the __dict__ of
    # (or setattr on) whatever object is on the stack.
    def _load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is PendingArray:
            self._set_array_state(inst, state)
        elif type(inst) is PendingDtype:
            inst.set_state(state)
        else:
            raise Malformed(
                f"BUILD (object state) on a {describe(inst)}: only numpy arrays and dtypes take "
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
            raise Malformed(f"SETITEM on a {describe(target)}")
        check_key(key)
        target[key] = value

    dispatch[pickle.SETITEM[0]] = _load_setitem

    def _load_setitems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) not in (dict, collections.OrderedDict) or len(items) % 2:
            raise Malformed(f"SETITEMS on a {describe(target)}")
        for i in range(0, len(items), 2):
            check_key(items[i])
            target[items[i]] = items[i + 1]

    dispatch[pickle.SETITEMS[0]] = _load_setitems

    def _load_dict(self):
        items = self.pop_mark()
        if len(items) % 2:
            raise Malformed("DICT with an odd number of items")
        d = {}
        for i in range(0, len(items), 2):
            check_key(items[i])
            d[items[i]] = items[i + 1]
        self.append(d)

    dispatch[pickle.DICT[0]] = _load_dict

    def _load_additems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            raise Malformed(f"ADDITEMS on a {describe(target)}")
        for item in items:
            check_key(item)
        target.update(items)

    dispatch[pickle.ADDITEMS[0]] = _load_additems

    def _load_frozenset(self):
        items = self.pop_mark()
        for item in items:
            check_key(item)
        self.append(frozenset(items))

    dispatch[pickle.FROZENSET[0]] = _load_frozenset

    def _load_append(self):
        value = self.stack.pop()
        target = self.stack[-1]
        if type(target) is not list:
            raise Malformed(f"APPEND on a {describe(target)}")
        target.append(value)

    dispatch[pickle.APPEND[0]] = _load_append

    def _load_appends(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not list:
            raise Malformed(f"APPENDS on a {describe(target)}")
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

    # Every opcode is charged against the budget (see OPS_BASE).
    dispatch = dict(zip(dispatch.keys(), map(counted, dispatch.values())))


_KEY_TYPES = (str, bytes, float, bool, type(None))


def check_key(key) -> None:
    t = type(key)
    if t is int:
        if not -(2**63) <= key < 2**64:
            raise Malformed("integer dict key out of range")
    elif t not in _KEY_TYPES:
        raise Malformed(
            f"a {describe(key)} cannot be a dict key or set member in a weights file "
            f"(str, bytes, int, float, bool or None only)"
        )


class BoundedReader:
    """The file object the unpickler reads from: a read longer than what is left in the file is
    refused before anything is read or allocated."""

    def __init__(self, f, size: int):
        self._f = f
        self._left = size

    def read(self, n: int) -> bytes:
        if n < 0 or n > self._left:
            raise Malformed(
                f"truncated: the pickle asks for {n} more bytes but only {self._left} are left"
                if self._left
                else "truncated: the file ends before the pickle does"
            )
        data = self._f.read(n)
        self._left -= len(data)
        if len(data) != n:
            raise Malformed("truncated: the file shrank while being read")
        return data

    def readline(self) -> bytes:
        line = self._f.readline(self._left)
        self._left -= len(line)
        if not line.endswith(b"\n"):  # else a cut GLOBAL line would name a shortened module
            raise Malformed("truncated: the file ends inside a text line of the pickle")
        return line


# --------------------------------------------------------------------------------------------------
# After unpickling: replace stand-ins by the real objects, check what the tree holds, and apply
# paddle.load's post-processing so the result equals paddle.load(path, return_numpy=True).
# --------------------------------------------------------------------------------------------------

_LEAF_TYPES = frozenset([str, bytes, int, float, bool, complex, type(None), set, frozenset])


def _leaf(x):
    t = type(x)
    if t is PendingArray:
        if x.array is None:
            raise Malformed("a numpy array never received its data (incomplete pickle)")
        return x.array
    if t is PendingDtype:
        if x.dtype is None:
            raise Malformed("a numpy dtype never received its state (incomplete pickle)")
        return x.dtype
    if t in _LEAF_TYPES or isinstance(x, np.generic):  # sets: members were checked when added
        return x
    raise Malformed(f"unexpected {describe(x)} object in the file")


def finish(root, tuples_to_arrays: bool):
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
                raise Malformed("the file holds a self-referencing structure")
            if id(child) in done:
                _store(top, done[id(child)][1])
            elif len(stack) >= MAX_DEPTH:
                raise Malformed(f"containers nested more than {MAX_DEPTH} deep")
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
