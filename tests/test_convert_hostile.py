"""Hostile inputs for the weight converter's readers (paddle_inception.convert.readers).

Every file is built here, in a temp dir, by hand: torch-style pickles with a small pure-Python
pickle writer (`_dumps`: GLOBAL / REDUCE / BUILD / BINPERSID spelled out, so no torch is needed),
zip archives with a minimal zip writer (`_zip`: sizes and names can lie), safetensors headers as
raw JSON. Each must end in a one-line `ConversionError` naming the file and what is wrong, in
bounded time and memory, with nothing executed. Cases that used to kill the process (segfault) or
to allocate gigabytes run in a subprocess under a timeout (and, for memory, an address-space
limit), so that a regression fails the test instead of taking pytest or the machine down.
"""

import io
import json
import pickle
import re
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from conftest import checkout_env

from paddle_inception.convert import readers as R

MiB = 1 << 20


# ---------------------------------------------------------------------------------------------
# a tiny pickle writer for hand-made torch / numpy pickles
# ---------------------------------------------------------------------------------------------
class Glob:
    """A global reference (GLOBAL opcode) to module.name, whatever is installed here."""

    def __init__(self, module, name):
        self.module, self.name = module, name


class Call:
    """fn(*args) as the REDUCE opcode writes it."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args


class Build:
    """obj with BUILD state."""

    def __init__(self, obj, state):
        self.obj, self.state = obj, state


class Pers:
    """A persistent id (BINPERSID): torch's storage references."""

    def __init__(self, *pid):
        self.pid = pid


class Raw:
    """Opcodes written as they are."""

    def __init__(self, data: bytes):
        self.data = data


class _Writer(pickle._Pickler):
    dispatch = dict(pickle._Pickler.dispatch)

    def persistent_id(self, obj):
        return obj.pid if type(obj) is Pers else None

    def _glob(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

    def _call(self, obj):
        self.save(obj.fn)
        self.save(obj.args)
        self.write(pickle.REDUCE)

    def _build(self, obj):
        self.save(obj.obj)
        self.save(obj.state)
        self.write(pickle.BUILD)

    def _raw(self, obj):
        self.write(obj.data)

    dispatch[Glob] = _glob
    dispatch[Call] = _call
    dispatch[Build] = _build
    dispatch[Raw] = _raw


def _dumps(obj, protocol=2) -> bytes:
    buf = io.BytesIO()
    _Writer(buf, protocol).dump(obj)
    return buf.getvalue()


def _storage(key, numel, kind="FloatStorage"):
    return Pers("storage", Glob("torch", kind), str(key), "cpu", numel)


def _tensor(storage, offset, size, stride):
    return Call(
        Glob("torch._utils", "_rebuild_tensor_v2"),
        storage,
        offset,
        tuple(size),
        tuple(stride),
        False,
        Call(Glob("collections", "OrderedDict")),
    )


def _ndarray_obj(shape=(4,), buffer=b"A" * 32):
    """numpy.ndarray(shape, dtype('O'), buffer): an object array whose 'pointers' are the bytes."""
    dtype = Build(
        Call(Glob("numpy", "dtype"), "O8", False, True), (3, "|", None, None, None, -1, -1, 63)
    )
    return Call(Glob("numpy", "ndarray"), shape, dtype, buffer)


# ---------------------------------------------------------------------------------------------
# a minimal zip writer: entries are (name, data) or (name, data, overrides)
# ---------------------------------------------------------------------------------------------
def _zip(path, entries):
    """Write a zip archive. An entry is (name, data) stored as is, or (name, data, opts) with opts
    "compressed": (raw deflate bytes, crc, uncompressed size) used instead of data, and
    "file_size" / "crc": values to declare whatever the data is."""
    out = bytearray()
    central = bytearray()
    for entry in entries:
        name, data = entry[0], entry[1]
        opts = entry[2] if len(entry) > 2 else {}
        if "compressed" in opts:
            payload, crc, usize = opts["compressed"]
            method = 8
        else:
            payload, crc, usize, method = data, zlib.crc32(data), len(data), 0
        crc = opts.get("crc", crc)
        usize = opts.get("file_size", usize)
        bname = name.encode()
        fields = (20, 0, method, 0, 0, crc, len(payload), usize, len(bname))
        offset = len(out)
        out += struct.pack("<4s5HIIIHH", b"PK\x03\x04", *fields, 0) + bname + payload
        central += (
            struct.pack("<4s6HIIIHHHHHII", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset)
            + bname
        )
    n = len(entries)
    eocd = struct.pack("<4s4HIIH", b"PK\x05\x06", 0, 0, n, n, len(central), len(out), 0)
    with open(path, "wb") as f:
        f.write(bytes(out + central + eocd))
    return str(path)


def _torch_zip(path, obj, records, byteorder=b"little"):
    """torch's zip layout: archive/data.pkl, archive/byteorder, archive/data/<key>, version."""
    entries = [("archive/data.pkl", _dumps(obj))]
    if byteorder is not None:
        entries.append(("archive/byteorder", byteorder))
    for key, rec in records.items():
        entries.append((f"archive/data/{key}",) + (rec if isinstance(rec, tuple) else (rec,)))
    entries.append(("archive/version", b"3\n"))
    return _zip(path, entries)


def _zeros_deflated(nbytes, chunk=MiB):
    """(raw deflate stream, crc32, size) of `nbytes` zero bytes, made from one compressed chunk
    repeated (each chunk is self-contained after a full flush), so 1 GiB costs ~0.3 s (the crc)."""
    assert nbytes % chunk == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    crc, z = 0, bytes(chunk)
    for _ in range(nbytes // chunk):
        crc = zlib.crc32(z, crc)
    return block * (nbytes // chunk) + b"\x03\x00", crc, nbytes


def _legacy(path, obj, keys, storages, little=True):
    """torch's pre-1.6 format: magic, protocol, sys_info, object, storage keys, then each
    storage as (int64 numel, raw bytes)."""
    order = "little" if little else "big"
    parts = [
        _dumps(0x1950A86A20F9469CFC6C),
        _dumps(1001),
        _dumps({"protocol_version": 1001, "little_endian": little, "type_sizes": {}}),
        _dumps(obj),
        _dumps(list(keys)),
    ]
    for numel, data in storages:
        parts.append(numel.to_bytes(8, order, signed=True) + data)
    with open(path, "wb") as f:
        f.write(b"".join(parts))
    return str(path)


def _safetensors(path, header, data=b""):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + data)
    return str(path)


def _st(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def _dtype(code="<f4"):
    """numpy.dtype(code) as numpy pickles it (REDUCE + BUILD state)."""
    dt = np.dtype(code)
    order = dt.byteorder if dt.byteorder in "<>" else "|"
    return Build(
        Call(Glob("numpy", "dtype"), dt.str[1:], False, True),
        (3, order, None, None, None, -1, -1, 0),
    )


def _obj_array():
    """numpy.ndarray((4,), dtype('O'), buffer): an object array whose 'pointers' are the buffer's
    bytes; set() of it dereferences them (segfault with the C unpickler's plain numpy)."""
    obj_dtype = Build(
        Call(Glob("numpy", "dtype"), "O8", False, True), (3, "|", None, None, None, -1, -1, 63)
    )
    return Call(Glob("builtins", "set"), Call(Glob("numpy", "ndarray"), (4,), obj_dtype, b"A" * 32))


def _w(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


F1 = {"0": b"\0" * 4}  # one float32 element


def _one(size=(1,), stride=(1,), offset=0, numel=1, kind="FloatStorage"):
    return {"w": _tensor(_storage(0, numel, kind), offset, size, stride)}


def _legacy_pid(key="0", numel=1, view=None, kind="FloatStorage"):
    return Pers("storage", Glob("torch", kind), key, "cpu", numel, view)


def _self_ref_list():
    # EMPTY_LIST, LONG_BINPUT 9999, LONG_BINGET 9999, APPEND: a list that holds itself
    return Raw(b"]r\x0f\x27\x00\x00j\x0f\x27\x00\x00a")


def _nested(depth):
    obj = 1.0
    for _ in range(depth):
        obj = [obj]
    return obj


# name -> (builder(tmp_path) -> path, regex the message must match)
TORCH_CASES = {
    "bad byteorder record": (
        lambda t: _torch_zip(t / "a.pth", _one(), F1, byteorder=b"\xff\xfe"),
        r"byteorder record holds b'\\xff\\xfe', not little or big",
    ),
    "oversized byteorder record": (
        lambda t: _torch_zip(t / "a.pth", _one(), F1, byteorder=b"little" * 10),
        r"'archive/byteorder' declares 60 bytes, at most 16 expected",
    ),
    "record smaller than its storage": (
        lambda t: _torch_zip(t / "a.pth", _one(numel=2), F1),
        r"'archive/data/0' declares 4 bytes but its storage holds 2 float32 elements \(8 bytes\)",
    ),
    "missing record": (
        lambda t: _torch_zip(t / "a.pth", _one(), {}),
        r"missing tensor data record 'archive/data/0'",
    ),
    "duplicate zip entry": (
        lambda t: _zip(
            t / "a.pth",
            [
                ("archive/data.pkl", _dumps(_one())),
                ("archive/data/0", F1["0"]),
                ("archive/data/0", F1["0"]),
            ],
        ),
        r"holds 'archive/data/0' twice",
    ),
    "stored record shorter than declared": (
        lambda t: _torch_zip(t / "a.pth", _one(numel=2), {"0": (b"\0" * 4, {"file_size": 8})}),
        r"'archive/data/0' is stored with 4 bytes but declares 8",
    ),
    "deflated record longer than declared": (
        lambda t: _torch_zip(
            t / "a.pth",
            _one(),
            {"0": (b"", {"compressed": (_deflate(bytes(16)), zlib.crc32(bytes(4)), 4)})},
        ),
        r"'archive/data/0' fails its check \(Bad CRC-32 for file 'archive/data/0'\): corrupt, "
        r"or longer than the 4 bytes its header declares",
    ),
    "deflated record shorter than declared": (
        lambda t: _torch_zip(
            t / "a.pth",
            _one(numel=2),
            {"0": (b"", {"compressed": (_deflate(bytes(4)), zlib.crc32(bytes(4)), 8)})},
        ),
        r"'archive/data/0' holds 4 bytes, not the 8 its header declares",
    ),
    "bad crc": (
        lambda t: _torch_zip(t / "a.pth", _one(), {"0": (F1["0"], {"crc": 1234})}),
        r"zip record 'archive/data/0' fails its check \(Bad CRC-32",
    ),
    "view past the storage": (
        lambda t: _torch_zip(t / "a.pth", _one((2, 2), (2, 1), 1, numel=4), {"0": bytes(16)}),
        r"a tensor of size \[2, 2\], stride \[2, 1\] and offset 1 reads element 4 of storage "
        r"'0', which has 4",
    ),
    "negative stride": (
        lambda t: _torch_zip(t / "a.pth", _one((2,), (-1,), 1, numel=2), {"0": bytes(8)}),
        r"a tensor's stride entries must be non-negative ints below 2\*\*63, got -1",
    ),
    "bool in size": (
        lambda t: _torch_zip(t / "a.pth", _one((True, 1), (1, 1)), F1),
        r"a tensor's size entries must be non-negative ints below 2\*\*63, got True",
    ),
    "float in size": (
        lambda t: _torch_zip(t / "a.pth", _one((1.0,), (1,)), F1),
        r"a tensor's size entries must be non-negative ints below 2\*\*63, got float",
    ),
    "size and stride of different lengths": (
        lambda t: _torch_zip(t / "a.pth", _one((1, 1), (1,)), F1),
        r"a tensor has size \[1, 1\] but stride \[1\]",
    ),
    "offset of 65 bits": (
        lambda t: _torch_zip(t / "a.pth", _one(offset=2**64), F1),
        r"storage offset must be a non-negative int below 2\*\*63, got an int of 65 bits",
    ),
    "bare storage": (
        lambda t: _torch_zip(t / "a.pth", {"w": _storage(0, 1)}, F1),
        r"unexpected torch storage in the checkpoint",
    ),
    "storage key with a path": (
        lambda t: _torch_zip(t / "a.pth", {"w": _tensor(_storage("../x", 1), 0, (1,), (1,))}, {}),
        r"storage key '\.\./x' is not a short name",
    ),
    "one storage with two types": (
        lambda t: _torch_zip(
            t / "a.pth",
            {
                "a": _tensor(_storage(0, 1), 0, (1,), (1,)),
                "b": _tensor(_storage(0, 1, "LongStorage"), 0, (1,), (1,)),
            },
            F1,
        ),
        r"storage '0' is declared twice, with different types or sizes",
    ),
    "short persistent id": (
        lambda t: _torch_zip(
            t / "a.pth",
            {"w": Pers("storage", Glob("torch", "FloatStorage"), "0", "cpu")},
            F1,
        ),
        r"unexpected persistent id \(a tuple of 4; torch writes a 5-tuple",
    ),
    "persistent id in a plain pickle": (
        lambda t: _w(t, "a.pdparams", _dumps(_one())),
        r"a persistent id \(a tuple\) in a plain pickle",
    ),
    "code execution": (
        lambda t: _torch_zip(t / "a.pth", {"w": Call(Glob("posix", "system"), "true")}, {}),
        r"refusing to unpickle global 'posix\.system'",
    ),
    "sparse tensor": (
        lambda t: _torch_zip(
            t / "a.pth", {"w": Call(Glob("torch._utils", "_rebuild_sparse_tensor"), 0)}, {}
        ),
        r"torch\._utils\._rebuild_sparse_tensor: this kind of tensor .* is not supported",
    ),
    "NEWOBJ of another class": (
        lambda t: _torch_zip(
            t / "a.pth",
            {"w": Raw(pickle.GLOBAL + b"collections\nOrderedDict\n" + b")\x81")},
            {},
        ),
        r"NEWOBJ \(object creation\) of collections\.OrderedDict: only an empty "
        r"argparse\.Namespace",
    ),
    "BUILD on a dict": (
        lambda t: _torch_zip(t / "a.pth", {"w": Build({}, {"x": 1})}, {}),
        r"BUILD \(object state\) on a dict",
    ),
    "self-referencing list": (
        lambda t: _torch_zip(t / "a.pth", {"w": _self_ref_list()}, {}),
        r"self-referencing structure",
    ),
    "200-deep nesting": (
        lambda t: _torch_zip(t / "a.pth", {"w": _nested(200)}, {}),
        r"containers nested more than 100 deep",
    ),
    "tuple as a dict key": (
        lambda t: _w(t, "a.pdparams", _dumps({(1, 2): 3})),
        r"a tuple cannot be a dict key",
    ),
    "ndarray from a raw buffer": (
        lambda t: _w(
            t, "a.pdparams", _dumps({"w": Call(Glob("numpy", "ndarray"), (2,), _dtype(), bytes(8))})
        ),
        r"numpy\.ndarray may only appear as the first argument of numpy's _reconstruct",
    ),
    "object dtype": (
        lambda t: _w(
            t, "a.pdparams", _dumps({"w": Call(Glob("numpy", "dtype"), "O8", False, True)})
        ),
        r"numpy dtype 'O8' is not allowed",
    ),
    "array state larger than its bytes": (
        lambda t: _w(
            t,
            "a.pdparams",
            _dumps(
                {
                    "w": Build(
                        Call(
                            Glob("numpy.core.multiarray", "_reconstruct"),
                            Glob("numpy", "ndarray"),
                            (0,),
                            b"b",
                        ),
                        (1, (2**40,), _dtype(), False, bytes(8)),
                    )
                }
            ),
        ),
        r"numpy array of shape \[1099511627776\] and dtype float32 needs 4398046511104 bytes "
        r"but the file holds 8",
    ),
    "truncated pickle": (
        lambda t: _zip(t / "a.pth", [("archive/data.pkl", _dumps({"w": [1, 2, 3]})[:-3])]),
        r"truncated",
    ),
    "not a checkpoint": (
        lambda t: _w(t, "a.pth", b"hello world, not a checkpoint"),
        r"not a torch checkpoint \(neither zip nor pickle\)",
    ),
    "legacy: numel header disagrees": (
        lambda t: _legacy(
            t / "a.pt", {"w": _tensor(_legacy_pid(numel=2), 0, (2,), (1,))}, ["0"], [(3, bytes(12))]
        ),
        r"legacy storage '0' holds 3 elements but the pickle says 2",
    ),
    "legacy: truncated data": (
        lambda t: _legacy(
            t / "a.pt", {"w": _tensor(_legacy_pid(numel=4), 0, (4,), (1,))}, ["0"], [(4, bytes(8))]
        ),
        r"truncated: legacy storage '0' needs 16 bytes, the file has 8 left",
    ),
    "legacy: unknown storage key": (
        lambda t: _legacy(
            t / "a.pt", {"w": _tensor(_legacy_pid(), 0, (1,), (1,))}, ["7"], [(1, bytes(4))]
        ),
        r"unknown storage '7'",
    ),
    "legacy: storage without data": (
        lambda t: _legacy(t / "a.pt", {"w": _tensor(_legacy_pid(), 0, (1,), (1,))}, [], []),
        r"storage '0' \(used by tensor 'w'\) has no data",
    ),
    "legacy: pickled module": (
        lambda t: _legacy(t / "a.pt", {"w": Pers("module", Glob("torch", "FloatStorage"))}, [], []),
        r"contains a whole pickled nn\.Module",
    ),
    "legacy: storage view": (
        lambda t: _legacy(
            t / "a.pt",
            {"w": _tensor(_legacy_pid(view=("1", 0, 1)), 0, (1,), (1,))},
            ["0"],
            [(1, bytes(4))],
        ),
        r"legacy storage views are not supported",
    ),
}


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _check_message(msg: str, path: str, pattern: str) -> None:
    assert "\n" not in msg, msg
    assert msg.startswith(f"{path}: "), msg
    assert len(msg) < len(path) + 400, msg
    assert re.search(pattern, msg), (pattern, msg)


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_hostile_torch_and_pickle_files(tmp_path, case):
    build, pattern = TORCH_CASES[case]
    path = build(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(R.ConversionError) as e:
        R.read_checkpoint(path)
    assert time.perf_counter() - t0 < 5
    _check_message(str(e.value), path, pattern)


# ---------------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------------
def _deep_json(depth):
    return b'{"a":' + b"[" * depth + b"]" * depth + b"}"


# name -> (header (dict or raw bytes), data, regex); `lenient` marks the ones the safetensors
# package itself accepts (we are stricter there)
ST_CASES = {
    "list dtype": ({"a": _st(dtype=["F32"])}, bytes(8), r"tensor 'a': unsupported dtype list"),
    "unsupported dtype": (
        {"a": _st(dtype="F8_E4M3", shape=(1,), offsets=(0, 1))},
        bytes(1),
        r"tensor 'a': unsupported dtype 'F8_E4M3' \(supported: F64, F32",
    ),
    "shape [0, 2**70]": (
        {"a": _st(shape=(0, 2**70), offsets=(0, 0))},
        b"",
        r"the safetensors header holds an integer of 22 digits",
    ),
    "shape entry 2**63": (
        {"a": _st(shape=(0, 2**63), offsets=(0, 0))},
        b"",
        r"tensor 'a': shape entries must be non-negative ints below 2\*\*63, got an int of 64",
    ),
    "shape [true, 4]": (
        {"a": _st(shape=(True, 4), offsets=(0, 16))},
        bytes(16),
        r"tensor 'a': shape entries must be non-negative ints below 2\*\*63, got True",
    ),
    "float in shape": (
        b'{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}',
        bytes(8),
        r"the safetensors header holds the number 2\.0 \(only integers\)",
    ),
    "NaN in shape": (
        b'{"a":{"dtype":"F32","shape":[NaN],"data_offsets":[0,8]}}',
        bytes(8),
        r"the safetensors header holds the number NaN",
    ),
    "shape not a list": (
        {"a": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}},
        bytes(8),
        r"tensor 'a': its shape is a JSON int, not a list",
    ),
    "100k-deep JSON": (_deep_json(100_000), b"", r"the safetensors header nests too deep"),
    "5000-digit integer": (
        b'{"a":{"dtype":"F32","shape":[' + b"9" * 5000 + b'],"data_offsets":[0,4]}}',
        bytes(4),
        r"the safetensors header holds an integer of 5000 digits",
    ),
    "overlapping ranges": (
        {"a": _st(), "b": _st(offsets=(4, 12))},
        bytes(12),
        r"tensor 'b' \(bytes 4-12\) overlaps tensor 'a' \(bytes 0-8\)",
    ),
    "duplicate ranges": (
        {"a": _st(), "b": _st()},
        bytes(8),
        r"tensor 'b' \(bytes 0-8\) overlaps tensor 'a' \(bytes 0-8\)",
    ),
    "gap before a tensor": (
        {"a": _st(shape=(1,), offsets=(4, 8))},
        bytes(8),
        r"4 unused bytes before tensor 'a' \(at 0\)",
    ),
    "trailing bytes": (
        {"a": _st(shape=(1,), offsets=(0, 4))},
        bytes(8),
        r"4 bytes after the last tensor are not part of any tensor",
    ),
    "offsets past the data": (
        {"a": _st(shape=(4,), offsets=(0, 16))},
        bytes(8),
        r"tensor 'a': data_offsets \[0, 16\] are not \[begin, end\] within the 8-byte data section",
    ),
    "offsets not a pair": (
        {"a": _st(offsets=(0, 4, 8))},
        bytes(8),
        r"tensor 'a': data_offsets a JSON list are not \[begin, end\]",
    ),
    "size disagrees with shape": (
        {"a": _st(shape=(3,), offsets=(0, 8))},
        bytes(8),
        r"tensor 'a': shape \[3\] of F32 needs 12 bytes, its data_offsets \[0, 8\] hold 8",
    ),
    "huge shape, few bytes": (
        {"a": _st(shape=(2**31, 2**31), offsets=(0, 8))},
        bytes(8),
        r"tensor 'a': shape \[2147483648, 2147483648\] of F32 needs 18446744073709551616 bytes",
    ),
    "entry not an object": ({"a": [1, 2]}, b"", r"tensor 'a': its entry is a JSON list"),
    "entry without offsets": (
        {"a": {"dtype": "F32", "shape": [0]}},
        b"",
        r"tensor 'a': its entry has no data_offsets",
    ),
    "metadata not strings": (
        {"__metadata__": {"a": 1}, "x": _st(shape=(0,), offsets=(0, 0))},
        b"",
        r"__metadata__ must map strings to strings",
    ),
    "entry a number": (b'{"a": 1}', b"", r"tensor 'a': its entry is a JSON int"),
    "header not UTF-8": (b'{"\xff": 1}', b"", r"the safetensors header is not UTF-8"),
    "header not JSON": (b"{nope}", b"", r"the safetensors header is not JSON"),
}
ST_LENIENT = {"duplicate name"}  # the safetensors package keeps the last entry


def _st_case_file(tmp_path, case):
    header, data, _ = ST_CASES[case]
    return _safetensors(tmp_path / "x.safetensors", header, data)


ST_CASES["duplicate name"] = (
    b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
    b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
    bytes(4),
    r"the safetensors header names 'a' twice",
)


@pytest.mark.parametrize("case", list(ST_CASES))
def test_hostile_safetensors(tmp_path, case):
    path = _st_case_file(tmp_path, case)
    with pytest.raises(R.ConversionError) as e:
        R.read_checkpoint(path)
    _check_message(str(e.value), path, ST_CASES[case][2])
    with pytest.raises(R.ConversionError):
        R.read_safetensors(path)


def test_safetensors_package_refuses_the_same_headers(tmp_path):
    """The reader is at least as strict as the safetensors package (where installed)."""
    st = pytest.importorskip("safetensors.numpy", reason="safetensors not installed")
    for case in ST_CASES:
        if case in ST_LENIENT:
            continue
        path = _st_case_file(tmp_path, case)
        with pytest.raises(Exception):  # noqa: B017 - SafetensorError, or numpy's for F8
            st.load_file(path)


def test_safetensors_header_limits(tmp_path):
    over = _safetensors(tmp_path / "a.safetensors", b"{" + b" " * R.SAFETENSORS_MAX_HEADER + b"}")
    with pytest.raises(R.ConversionError, match=r"header of \d+ bytes is over 16777216"):
        R.read_safetensors(over)
    lst = _safetensors(tmp_path / "l.safetensors", b"[1, 2]")
    with pytest.raises(R.ConversionError, match="header is a JSON list, not an object"):
        R.read_safetensors(lst)
    path = tmp_path / "b.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b'{"a": 1}')
    with pytest.raises(R.ConversionError, match=r"header length 1099511627776, file size 16"):
        R.read_checkpoint(path)


def test_safetensors_reader_round_trip(tmp_path):
    """Files written by the safetensors package (every dtype it has in numpy, empty tensors, no
    tensors at all) read back exactly; bfloat16 is widened to float32."""
    st = pytest.importorskip("safetensors.numpy", reason="safetensors not installed")
    rng = np.random.default_rng(0)
    arrays = {
        "f32": rng.standard_normal((3, 4)).astype(np.float32),
        "f16": rng.standard_normal(5).astype(np.float16),
        "f64": rng.standard_normal((2, 1, 2)),
        "i64": np.arange(6, dtype=np.int64).reshape(2, 3),
        "u8": np.arange(7, dtype=np.uint8),
        "bool": np.array([True, False, True]),
        "empty": np.zeros((0, 3), np.float32),
        "scalar": np.array(2.5, np.float32),
    }
    path = tmp_path / "w.safetensors"
    st.save_file(arrays, str(path), metadata={"format": "np"})
    got = R.read_checkpoint(path)
    assert set(got) == set(arrays)
    for k, v in arrays.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        assert np.array_equal(got[k], v) and got[k].flags.writeable, k
    st.save_file({}, str(tmp_path / "none.safetensors"))
    assert R.read_checkpoint(tmp_path / "none.safetensors") == {}


def test_safetensors_bfloat16_and_bool(tmp_path):
    """Without the package: bfloat16 widens exactly to float32, any non-zero bool byte is True."""
    bf16 = np.array([1.0, -2.5, 2.0**100], np.float32)  # exact in bfloat16
    raw = (bf16.view(np.uint32) >> 16).astype("<u2").tobytes() + bytes([0, 1, 5])
    header = {"b": _st("BF16", (3,), (0, 6)), "f": _st("BOOL", (3,), (6, 9))}
    got = R.read_checkpoint(_safetensors(tmp_path / "bf.safetensors", header, raw))
    assert got["b"].dtype == np.float32 and np.array_equal(got["b"], bf16)
    assert got["f"].dtype == np.bool_ and got["f"].tolist() == [False, True, True]


# ---------------------------------------------------------------------------------------------
# what a published checkpoint may do and the bounds must let through
# ---------------------------------------------------------------------------------------------
def test_small_broadcast_views_and_byte_orders_are_read(tmp_path):
    """A stride-0 view within the memory budget is fine (torch writes one for an expanded
    tensor); big-endian files (byteorder record) and bool / bfloat16 storages convert exactly."""
    vals = np.array([1.5, -2.0, 3.25, 4.0], np.float32)
    obj = {
        "bcast": _tensor(_storage(0, 4), 0, (3, 4), (0, 1)),
        "col": _tensor(_storage(0, 4), 0, (2, 2), (1, 2)),
        "flags": _tensor(_storage(1, 3, "BoolStorage"), 0, (3,), (1,)),
        "bf": _tensor(_storage(2, 2, "BFloat16Storage"), 0, (2,), (1,)),
        "empty": _tensor(_storage(0, 4), 99, (0, 5), (5, 1)),
        "scalar": _tensor(_storage(0, 4), 3, (), ()),
    }
    bf = np.array([1.0, -3.0], np.float32)
    for order, code in (("little", "<"), ("big", ">")):
        records = {
            "0": vals.astype(code + "f4").tobytes(),
            "1": bytes([1, 0, 7]),
            "2": (bf.view(np.uint32) >> 16).astype(code + "u2").tobytes(),
        }
        path = _torch_zip(tmp_path / f"{order}.pth", obj, records, byteorder=order.encode())
        got = R.read_checkpoint(path)
        assert np.array_equal(got["bcast"], np.broadcast_to(vals, (3, 4)))
        assert np.array_equal(got["col"], vals.reshape(2, 2).T)
        assert got["flags"].tolist() == [True, False, True]
        assert np.array_equal(got["bf"], bf)
        assert got["empty"].shape == (0, 5) and got["scalar"] == np.float32(4.0)
        assert all(v.dtype.isnative and v.flags.writeable for v in got.values())


def _dag(depth):
    """A pickle whose list at each level holds the one below twice: 2**depth paths."""
    body = bytearray(b"K\x01")  # BININT1 1
    for i in range(depth):  # x -> [x, x]: LONG_BINPUT, POP, MARK, LONG_BINGET x2, LIST
        memo = struct.pack("<I", 100 + i)
        body += b"r" + memo + b"0(j" + memo + b"j" + memo + b"l"
    return _dumps({"w": Raw(bytes(body))})


def test_shared_subtrees_keep_their_structure(tmp_path):
    """A shared sub-tree stays shared (it is converted once: see the 60-level case, with 2**60
    paths, in test_huge_claims_stay_small_in_memory)."""
    got = R.read_checkpoint(_w(tmp_path, "dag.pdparams", _dag(10)))
    x = got["w"]
    for _ in range(10):
        assert type(x) is list and len(x) == 2 and x[0] is x[1]
        x = x[0]
    assert x == 1


# ---------------------------------------------------------------------------------------------
# huge claims: bounded memory, checked in a subprocess with an address-space limit
# ---------------------------------------------------------------------------------------------
_MEMORY_DRIVER = r"""
import json, resource, sys, time, tracemalloc
from paddle_inception.convert import readers

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

with open("/proc/self/status") as f:
    vm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize"))
limit = vm + (1 << 30)  # a regression fails with MemoryError instead of taking gigabytes
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
rss0 = rss()
for path in sys.argv[1:]:
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        readers.read_checkpoint(path)
        kind, msg = "ok", ""
    except Exception as e:
        kind, msg = type(e).__name__, str(e)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps(dict(path=path, kind=kind, msg=msg, peak=peak,
                          seconds=time.perf_counter() - t0)), flush=True)
print(json.dumps(dict(rss_growth=rss() - rss0)), flush=True)
"""


def _memory_cases(t):
    """name -> (path, regex of the ConversionError, or None: reads fine) for files that claim
    gigabytes (terabytes) they do not hold, or would take exponential time."""
    huge = 1 << 40
    reconstruct = Call(
        Glob("numpy.core.multiarray", "_reconstruct"), Glob("numpy", "ndarray"), (huge,), b"b"
    )
    return {
        # 620 bytes: one float viewed as (32768, 16384) with stride (0, 0) -> 2 GiB
        "stride-0 view": (
            _torch_zip(t / "stride0.pth", _one((32768, 16384), (0, 0)), F1),
            r"tensor 'w' \(size \[32768, 16384\], float32\) needs 2\.0 GiB, more than a "
            r"\d+-byte file can hold \(the reader decompresses and builds at most 4x the file "
            r"size \+ 16 MiB\)",
        ),
        # 1 GiB of zeros deflated into a ~1 MB zip, claimed consistently by the pickle
        "1 GiB record in a 1 MB zip": (
            _torch_zip(
                t / "bomb.pth",
                _one((1 << 28,), (1,), numel=1 << 28),
                {"0": (b"", {"compressed": _zeros_deflated(1 << 30)})},
            ),
            r"zip record 'archive/data/0' needs 1\.0 GiB, more than a \d+-byte file can hold",
        ),
        "1 GiB data.pkl in a 1 MB zip": (
            _zip(
                t / "pklbomb.pth",
                [("archive/data.pkl", b"", {"compressed": _zeros_deflated(1 << 30)})],
            ),
            r"zip record 'archive/data\.pkl' needs 1\.0 GiB",
        ),
        "legacy: 2**40 elements claimed": (
            _legacy(
                t / "legacy.pt",
                {"w": _tensor(_legacy_pid(numel=huge), 0, (huge,), (1,))},
                ["0"],
                [(huge, bytes(64))],
            ),
            r"legacy storage '0' needs 4096\.0 GiB, more than a \d+-byte file can hold",
        ),
        "legacy: stride-0 view": (
            _legacy(
                t / "legacy_bcast.pt",
                {"w": _tensor(_legacy_pid(), 0, (1 << 20, 1 << 12), (0, 0))},
                ["0"],
                [(1, bytes(4))],
            ),
            r"tensor 'w' \(size \[1048576, 4096\], float32\) needs 16\.0 GiB",
        ),
        "numpy _reconstruct of 2**40 elements": (
            _w(t, "reconstruct.pdparams", _dumps({"w": reconstruct})),
            r"a numpy array never received its data",
        ),
        "BINBYTES8 of 2**40 bytes": (
            _w(t, "binbytes8.pdparams", b"\x80\x04\x8e" + struct.pack("<Q", huge) + b"abc."),
            r"truncated: the pickle asks for 1099511627776 more bytes but only 4 are left",
        ),
        # the C unpickler zeroes a 32 GiB memo table for this 13-byte pickle
        "LONG_BINPUT 0xffffffff": (
            _w(t, "memo.pdparams", b"\x80\x02}r\xff\xff\xff\xff."),
            None,
        ),
        # and one of time: a list that holds the one below twice, 60 levels (2**60 paths)
        "shared sub-trees": (_w(t, "dag.pdparams", _dag(60)), None),
        "safetensors: 2**62 elements claimed": (
            _safetensors(
                t / "huge.safetensors", {"a": _st(shape=(2**31, 2**31), offsets=(0, 8))}, bytes(8)
            ),
            r"needs 18446744073709551616 bytes, its data_offsets \[0, 8\] hold 8",
        ),
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and RLIMIT_AS")
def test_huge_claims_stay_small_in_memory(tmp_path):
    cases = _memory_cases(tmp_path)
    paths = [p for p, _ in cases.values()]
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY_DRIVER, *paths],
        env=checkout_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    results = {r["path"]: r for r in lines if "path" in r}
    for name, (path, pattern) in cases.items():
        r = results[path]
        print(f"{name}: {r['kind']} in {r['seconds']:.3f} s, peak {r['peak'] / MiB:.2f} MiB")
        if pattern is None:
            assert r["kind"] == "ok", (name, r)
        else:
            assert r["kind"] == "ConversionError", (name, r)
            _check_message(r["msg"], path, pattern)
        assert r["peak"] < 8 * MiB, (name, r)
        assert r["seconds"] < 5, (name, r)
    assert lines[-1]["rss_growth"] < 64 * MiB, lines[-1]


# ---------------------------------------------------------------------------------------------
# the command line: a file that used to segfault the process is a one-line error, exit 1
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("container", ["pickle", "zip"])
def test_cli_object_array_is_an_error_not_a_crash(tmp_path, container):
    if container == "zip":
        src = _torch_zip(tmp_path / "objarr.pth", {"w": _obj_array()}, {})
    else:
        src = _w(tmp_path, "objarr.pth", _dumps({"w": _obj_array()}))
    dst = tmp_path / "out.pdparams"
    proc = subprocess.run(
        [sys.executable, "-m", "paddle_inception", "convert", "--from", "timm"]
        + ["--arch", "inception_v4", src, str(dst)],
        env=checkout_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])  # not -11 / 139
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-2000:]
    assert errors[0].startswith(f"error: {src}: numpy dtype 'O8' is not allowed"), errors
    assert "Traceback" not in proc.stderr
    assert not dst.exists() and not (tmp_path / "out.json").exists()


# ---------------------------------------------------------------------------------------------
# torchvision's transform_input: an assumption, said as a warning
# ---------------------------------------------------------------------------------------------
def test_torchvision_transform_input_assumption_is_a_warning():
    from paddle_inception.convert.mappings import _lookup

    for arch in ("googlenet", "inception_v3"):
        fn, _, _ = _lookup("torchvision", arch)
        plan = fn({}, {"transform_input": None})
        assert plan.kwargs["transform_input"] is True
        (warning,) = plan.warnings
        assert "assumed transform_input=True" in warning
        assert "--transform-input false" in warning and "weights=None" in warning
        for chosen in (True, False):
            plan = fn({}, {"transform_input": chosen})
            assert plan.kwargs["transform_input"] is chosen and not plan.warnings
    fn, _, _ = _lookup("timm", "inception_v3")
    assert not fn({}, {}).warnings


@pytest.mark.slow
def test_cli_prints_the_transform_input_warning(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    from paddle_inception.cli import convert as convert_cli

    src = tmp_path / "googlenet.pth"
    model = tv.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    torch.save(model.state_dict(), str(src))
    args = ["--from", "torchvision", "--arch", "googlenet", str(src)]
    assert convert_cli.main(args + [str(tmp_path / "a.pdparams")]) == 0
    err = capsys.readouterr().err
    assert "warning: assumed transform_input=True for torchvision googlenet" in err
    assert "--transform-input false" in err
    meta = json.loads((tmp_path / "a.json").read_text())
    assert meta["warnings"] and meta["model_kwargs"]["transform_input"] is True
    dst = tmp_path / "b.pdparams"
    assert convert_cli.main(args + [str(dst), "--transform-input", "false"]) == 0
    assert "warning:" not in capsys.readouterr().err
    assert json.loads((tmp_path / "b.json").read_text())["model_kwargs"]["transform_input"] is False
