"""paddle_inception.weights: the restricted loader for paddle.save files and load_weights.

Every file is built here (tmp_path) from small real layers or by hand-written pickles.
"""

import collections
import logging
import os
import pickle
import pickletools
import re
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import paddle
import pytest

from paddle_inception.weights import (
    ALLOWED_GLOBALS,
    MAX_DEPTH,
    UnsafeWeightsError,
    WeightsError,
    load_state_file,
    load_weights,
    resolve_weights_file,
)

_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's _reconstruct (1.x or 2.x module)
_SCALAR = np.float32(1).__reduce__()[0]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _net(num_classes=5, in_channels=3):
    """8 state tensors: conv (2), BN (4: weight, bias, _mean, _variance), classifier (2)."""
    return paddle.nn.Sequential(
        paddle.nn.Conv2D(in_channels, 4, 3, padding=1),
        paddle.nn.BatchNorm2D(4),
        paddle.nn.ReLU(),
        paddle.nn.AdaptiveAvgPool2D(1),
        paddle.nn.Flatten(),
        paddle.nn.Linear(4, num_classes),
    )


def _randomized(model, seed=1):
    """Every parameter and buffer (BN statistics too) set to distinct random values, so a load
    that silently skipped a tensor would show."""
    rng = np.random.default_rng(seed)
    for v in model.state_dict().values():
        v.set_value(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
    model.eval()
    return model


def _snapshot(model):
    return {k: np.array(v.numpy()) for k, v in model.state_dict().items()}


def _assert_same_state(model, snap):
    now = _snapshot(model)
    assert list(now) == list(snap)
    for k in snap:
        np.testing.assert_array_equal(now[k], snap[k], err_msg=k)


def _deep_equal(a, b, path="root"):
    """Exact structural equality; arrays must match in type, dtype, shape and values."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, (
            f"{path}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        )
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys {list(a)} vs {list(b)}"
        for k in a:
            _deep_equal(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _deep_equal(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


class _Reduce:
    """Pickles as the given __reduce__ tuple: how a hostile (or hand-made) file is written."""

    def __init__(self, *rv):
        self.rv = rv

    def __reduce__(self):
        return self.rv


def _array_pickle(state, args=(np.ndarray, (0,), b"b")):
    """An 'array' exactly as numpy pickles one, but with any BUILD state."""
    return _Reduce(_RECONSTRUCT, args, state)


def _write(path, data):
    path.write_bytes(data)
    return path


def _dump(path, obj, protocol=4):
    return _write(path, pickle.dumps(obj, protocol=protocol))


def _globals_in(path):
    """Every global a pickle file references, listed with pickletools.genops: GLOBAL carries
    "module name"; STACK_GLOBAL (protocol 4) takes the last two pushed strings, which may come from
    the memo (MEMOIZE after a string, BINGET later)."""
    found, pushes, memo = set(), [], {}
    for op, arg, _ in pickletools.genops(path.read_bytes()):
        if op.name == "GLOBAL":
            found.add(arg.replace(" ", "."))
            pushes.append(None)
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            pushes.append(arg)
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushes[-1] if pushes else None
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            pushes.append(memo.get(arg))
        elif op.name == "STACK_GLOBAL":
            found.add(f"{pushes[-2]}.{pushes[-1]}")
            pushes.append(None)
        else:
            pushes.append(None)
    return found


def _rewrite_to_numpy1(data: bytes) -> bytes:
    """Rename numpy._core.* globals to numpy 1's numpy.core.* in a pickle of any protocol (frames
    dropped so the lengths stay consistent; memo indices are unchanged)."""
    ops = list(pickletools.genops(data))
    out = bytearray()
    for (op, arg, pos), nxt in zip(ops, ops[1:] + [(None, None, len(data))]):
        raw = data[pos : nxt[2]]
        if op.name == "FRAME":
            continue
        if op.name == "SHORT_BINUNICODE" and arg.startswith("numpy._core"):
            s = arg.replace("numpy._core", "numpy.core").encode()
            raw = b"\x8c" + bytes([len(s)]) + s
        elif op.name == "GLOBAL":
            raw = raw.replace(b"numpy._core", b"numpy.core")
        out += raw
    return bytes(out)


@pytest.fixture
def saved(tmp_path):
    """A randomized model and its paddle.save'd state dict."""
    model = _randomized(_net())
    path = tmp_path / "net.pdparams"
    paddle.save(model.state_dict(), str(path))
    return model, path


def _expect(exc_type, path, *fragments):
    """pytest.raises that also checks the message names the file and contains `fragments`."""

    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(exc_type)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            msg = str(self.info.value)
            assert str(path) in msg, msg
            rest = msg.replace(str(path), "")  # fragments must not match the file name itself
            for frag in fragments:
                assert frag in rest, f"{frag!r} not in {msg!r}"
            err = self.info.value  # no chained traceback from inside pickle/numpy
            assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
            return handled

    return _Check()


# ---------------------------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_state_dict_round_trip_equals_paddle_load(tmp_path, protocol):
    model = _randomized(_net())
    path = tmp_path / f"p{protocol}.pdparams"
    paddle.save(model.state_dict(), str(path), protocol=protocol)
    ours = load_state_file(path)
    _deep_equal(ours, paddle.load(str(path), return_numpy=True))
    assert list(ours) == list(model.state_dict())  # name table dropped, order kept
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(ours[k], v.numpy())
        assert ours[k].flags.writeable
    ours["0.weight"][...] = 0  # really writeable, not a view of bytes


@pytest.mark.parametrize("protocol", [0, 1, 5])
def test_pickles_paddle_save_cannot_write_are_refused_in_one_line(tmp_path, protocol):
    """paddle.save writes protocols 2-4; a file of another protocol (0/1: text or old binary
    pickles, 5: numpy's out-of-band-capable reconstructor) is not a paddle.save file and gets
    one error naming the file, never an unpickled object."""
    path = tmp_path / f"p{protocol}.pdparams"
    path.write_bytes(pickle.dumps({"w": np.ones((2, 2), np.float32)}, protocol=protocol))
    with pytest.raises(WeightsError, match=re.escape(str(path))) as e:
        load_state_file(path)
    assert len(str(e.value).splitlines()) == 1


def test_globals_written_by_paddle_save_are_exactly_allowed(tmp_path):
    """What paddle.save writes for every kind of object we read, listed with pickletools."""
    model = _randomized(_net())
    seen = set()
    objects = {
        "state": model.state_dict(),
        "nested_tensor": {
            "master_weights": {"a": paddle.ones([2])},
            "x": [1, 2.5, None, "s", (1, 2)],
        },
        "scalars": {"f": np.float32(1.5), "i": np.int64(3), "b": np.bool_(True)},
        "fortran": {"x": np.asfortranarray(np.ones((2, 3), "float32"))},
        "empty": {"x": np.zeros((0, 3), "float32")},  # protocol 2: b'' is bytes() (no args)
    }
    for protocol in (2, 3, 4):
        for name, obj in objects.items():
            path = tmp_path / f"{name}{protocol}.pdparams"
            paddle.save(obj, str(path), protocol=protocol)
            found = _globals_in(path)
            assert found <= set(ALLOWED_GLOBALS), (name, protocol, found - set(ALLOWED_GLOBALS))
            seen |= found
            load_state_file(path)
    numpy_mod = _RECONSTRUCT.__module__
    assert seen == {
        f"{numpy_mod}._reconstruct",
        "numpy.ndarray",
        "numpy.dtype",
        f"{numpy_mod}.scalar",
        "_codecs.encode",
        "builtins.tuple",
        "__builtin__.tuple",
        "__builtin__.bytes",
    }


def _train(model, opt, sched, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = paddle.to_tensor(rng.standard_normal((2, 3, 6, 6)).astype("float32"))
        model(x).mean().backward()
        opt.step()
        opt.clear_grad()
        sched.step()


@pytest.mark.parametrize("kind", ["momentum_nesterov", "adam"])
def test_optimizer_state_restores_like_paddle_load(tmp_path, kind):
    model = _net()
    model.train()
    sched = paddle.optimizer.lr.LinearWarmup(
        paddle.optimizer.lr.CosineAnnealingDecay(0.1, T_max=20),
        warmup_steps=3,
        start_lr=0.0,
        end_lr=0.1,
    )
    if kind == "adam":
        opt = paddle.optimizer.Adam(learning_rate=sched, parameters=model.parameters())
    else:
        opt = paddle.optimizer.Momentum(
            learning_rate=sched,
            momentum=0.9,
            use_nesterov=True,
            parameters=model.parameters(),
            weight_decay=1e-4,
        )
    _train(model, opt, sched, 5, seed=0)
    path = tmp_path / "model.pdopt"
    paddle.save(opt.state_dict(), str(path))
    ours = load_state_file(path)
    theirs = paddle.load(str(path), return_numpy=True)
    _deep_equal(ours, theirs)
    assert isinstance(ours["LR_Scheduler"], dict) and ours["LR_Scheduler"]["last_epoch"] == 5

    def state_now():
        return {
            k: (v.numpy().copy() if isinstance(v, paddle.Tensor) else v)
            for k, v in opt.state_dict().items()
        }

    saved_state, saved_lr = state_now(), opt.get_lr()
    restored = []
    for loaded in (ours, theirs):
        _train(model, opt, sched, 2, seed=1)  # move away from the saved state ...
        assert opt.get_lr() != saved_lr
        opt.set_state_dict(loaded)  # ... and back
        restored.append((state_now(), opt.get_lr(), sched.last_epoch))
    for state, lr, epoch in restored:
        assert lr == saved_lr and epoch == 5
        _deep_equal(state, saved_state)


@pytest.mark.parametrize("protocol", [2, 4])
def test_numpy1_global_names_load(tmp_path, protocol):
    obj = {
        "w": np.arange(6, dtype="float32").reshape(2, 3),
        "s": np.float32(2.5),
        "LR_Scheduler": {"last_epoch": 3},
    }
    data = pickle.dumps(obj, protocol=protocol)
    old = _rewrite_to_numpy1(data)
    assert b"numpy.core.multiarray" in old and b"numpy._core" not in old
    path = _write(tmp_path / "np1.pdparams", old)
    assert {"numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar"} <= _globals_in(
        path
    )
    got = load_state_file(path)
    _deep_equal(got, obj)
    assert type(got["s"]) is np.float32


def test_dtypes_orders_scalars_and_nesting_equal_paddle_load(tmp_path):
    obj = {
        "f32": np.arange(12, dtype="float32").reshape(3, 4),
        "fortran": np.asfortranarray(np.arange(6, dtype="float64").reshape(2, 3)),
        "big_endian": np.arange(4, dtype=">f4"),
        "zero_d": np.array(3.5, dtype="float32"),
        "empty": np.zeros((0, 7), dtype="int64"),
        "bool": np.array([True, False]),
        "i8": np.array([-3, 4], "int8"),
        "u8": np.array([255], "uint8"),
        "f16": np.array([1.5], "float16"),
        "c64": np.array([1 + 2j], "complex64"),
        "bf16_bits": paddle.to_tensor([1.5, 2.0]).astype("bfloat16").numpy(),  # uint16
        "scalars": [np.float32(0.25), np.int64(7), np.float64(1e300), np.bool_(False)],
        "plain": {"list": [1, 2.5, None, "s", (1, 2), True], "neg": -(2**40)},  # (paddle.load
        # itself refuses bytes values)
    }
    for protocol in (2, 3, 4):
        path = tmp_path / f"mix{protocol}.pdparams"
        paddle.save(obj, str(path), protocol=protocol)
        ours = load_state_file(path)
        _deep_equal(ours, paddle.load(str(path), return_numpy=True))
        assert ours["fortran"].flags.f_contiguous
        assert ours["big_endian"].dtype == np.dtype("float32")  # numpy swaps to native order
        ours["big_endian"] = ours["big_endian"].astype(">f4")
        _deep_equal(ours, obj)


def test_python2_str_payloads(tmp_path):
    """Python 2 pickles hold raw data as str (BINSTRING, decoded latin-1 as paddle.load does);
    numpy maps them back byte for byte, and so do we."""
    raw = np.array([1.5, -2.0], "float32").tobytes().decode("latin-1")
    obj = {
        "w": _array_pickle((1, (2,), np.dtype("f4"), False, raw)),
        "s": _Reduce(_SCALAR, (np.dtype("f4"), np.float32(3).tobytes().decode("latin-1"))),
    }
    path = _dump(tmp_path / "py2.pdparams", obj, protocol=2)
    ours = load_state_file(path)
    _deep_equal(ours, paddle.load(str(path), return_numpy=True))
    np.testing.assert_array_equal(ours["w"], [1.5, -2.0])
    assert ours["s"] == np.float32(3)


def test_nested_tensors_become_arrays_like_paddle_load(tmp_path):
    """paddle.save writes a tensor below the top level as tuple((name, array)); paddle.load gives
    back the array when the file has no name table, and so do we."""
    path = tmp_path / "mw.pdopt"
    paddle.save({"master_weights": {"a": paddle.ones([2])}, "x": paddle.full([1], 3.0)}, str(path))
    assert "builtins.tuple" in _globals_in(path)
    ours = load_state_file(path)
    _deep_equal(ours, paddle.load(str(path), return_numpy=True))
    np.testing.assert_array_equal(ours["master_weights"]["a"], [1, 1])


def test_split_big_params_are_joined_like_paddle_load(tmp_path):
    """Tensors over 1 GiB are split by paddle.save under protocol 2/3; hand-made small version."""
    full = np.arange(10, dtype="float32")
    obj = {
        "w@@.0": full[:6],
        "w@@.1": full[6:],
        "b": np.ones(2, "float32"),
        "UnpackBigParamInfor@@": {"w": {"OriginShape": (2, 5), "slices": ["w@@.0", "w@@.1"]}},
    }
    path = _dump(tmp_path / "big.pdparams", obj, protocol=2)
    ours = load_state_file(path)
    _deep_equal(ours, paddle.load(str(path), return_numpy=True))
    np.testing.assert_array_equal(ours["w"], full.reshape(2, 5))
    assert sorted(ours) == ["b", "w"]
    obj["UnpackBigParamInfor@@"]["w"]["OriginShape"] = (3, 5)  # slices do not add up
    with _expect(WeightsError, _dump(tmp_path / "bad.pdparams", obj, protocol=2), "do not add up"):
        load_state_file(tmp_path / "bad.pdparams")


def test_ordered_dict_pickled_directly(tmp_path):
    sd = _randomized(_net()).state_dict()
    obj = collections.OrderedDict((k, v.numpy()) for k, v in sd.items())
    path = _dump(tmp_path / "od.pdparams", obj, protocol=2)
    assert "collections.OrderedDict" in _globals_in(path)
    ours = load_state_file(path)
    _deep_equal(ours, paddle.load(str(path), return_numpy=True))
    assert type(ours) is collections.OrderedDict


# ---------------------------------------------------------------------------------------------
# hostile and malformed files
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 4])
def test_os_system_is_refused_and_not_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    evil = {"0.weight": np.ones(2, "float32"), "x": _Reduce(os.system, (f"touch {marker}",))}
    path = _dump(tmp_path / "evil.pdparams", evil, protocol=protocol)
    with _expect(UnsafeWeightsError, path, "trusted=True", "--trusted-weights") as info:
        load_state_file(path)
    assert not marker.exists()
    assert info.value.global_name in ("posix.system", "os.system", "nt.system")
    assert info.value.global_name in str(info.value)
    assert isinstance(info.value, WeightsError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "func,args",
    [(eval, ("1 + 1",)), (exec, ("x = 1",)), (getattr, ("abc", "upper")), (__import__, ("os",))],
)
def test_builtins_that_run_code_are_refused(tmp_path, func, args):
    path = _dump(tmp_path / f"{func.__name__}.pdparams", {"x": _Reduce(func, args)})
    with _expect(UnsafeWeightsError, path, f"builtins.{func.__name__}"):
        load_state_file(path)


class Foo:  # a plain class instance: pickled through copyreg.__newobj__ + the class global
    pass


def test_arbitrary_class_is_refused(tmp_path):
    path = _dump(tmp_path / "cls.pdparams", {"x": Foo()})
    with _expect(UnsafeWeightsError, path) as info:
        load_state_file(path)
    assert info.value.global_name in ("copyreg.__newobj__", f"{__name__}.Foo")


def test_object_dtype_from_raw_bytes_is_refused(tmp_path):
    state = (1, (2,), np.dtype("O"), False, b"\x00" * 16)  # would be 2 object pointers
    path = _dump(tmp_path / "obj.pdparams", {"x": _array_pickle(state)})
    with _expect(WeightsError, path, "dtype", "not allowed"):
        load_state_file(path)


@pytest.mark.parametrize(
    "dtype",
    [
        np.dtype([("a", "O"), ("b", "f4")]),
        np.dtype(("f4", (2,))),
        np.dtype("U3"),
        np.dtype("M8[s]"),
    ],
)
def test_structured_subarray_string_dtypes_are_refused(tmp_path, dtype):
    state = (1, (1,), dtype, False, b"\x00" * dtype.itemsize)
    path = _dump(tmp_path / "st.pdparams", {"x": _array_pickle(state)})
    with _expect(WeightsError, path, "dtype"):
        load_state_file(path)


def test_dtype_state_with_fields_is_refused(tmp_path):
    """A plain 'f4' code whose BUILD state smuggles in fields (hand-made dtype pickle)."""
    fake = _Reduce(
        np.dtype, ("f4", False, True), (3, "|", None, ("a",), {"a": (np.dtype("f4"), 0)}, 4, 1, 0)
    )
    path = _dump(tmp_path / "df.pdparams", {"x": _array_pickle((1, (1,), fake, False, b"\0" * 4))})
    with _expect(WeightsError, path, "structured"):
        load_state_file(path)


def test_object_payload_list_is_refused(tmp_path):
    state = (1, (2,), np.dtype("f4"), False, [1.0, 2.0])  # object-array style payload
    path = _dump(tmp_path / "lst.pdparams", {"x": _array_pickle(state)})
    with _expect(WeightsError, path, "raw bytes"):
        load_state_file(path)


def test_shape_claim_larger_than_payload_is_refused_without_allocating(tmp_path):
    state = (1, (32768, 16384), np.dtype("f4"), False, b"\x00" * 4)  # claims 2 GiB
    path = _dump(tmp_path / "claim.pdparams", {"x": _array_pickle(state)})
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with _expect(WeightsError, path, "2147483648 bytes", "holds 4"):
            load_state_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 2
    assert peak < 4 * 2**20, peak


@pytest.mark.parametrize(
    "shape", [(-1,), (True,), (2**70,), (2**70, 0), [1], (1.0,), ("1",), (2,) * 65]
)
def test_bad_shape_entries_are_refused(tmp_path, shape):
    state = (1, shape, np.dtype("f4"), False, b"\x00" * 4)
    path = _dump(tmp_path / "shape.pdparams", {"x": _array_pickle(state)})
    with _expect(WeightsError, path, "array shape"):
        load_state_file(path)


def test_array_without_state_is_refused(tmp_path):
    path = _dump(
        tmp_path / "nostate.pdparams", {"x": _Reduce(_RECONSTRUCT, (np.ndarray, (0,), b"b"))}
    )
    with _expect(WeightsError, path, "never received"):
        load_state_file(path)


def test_reconstruct_of_other_type_is_refused(tmp_path):
    path = _dump(
        tmp_path / "sub.pdparams",
        {"x": _array_pickle((1, (1,), np.dtype("f4"), False, b"\0" * 4), args=(tuple, (0,), b"b"))},
    )
    with _expect(WeightsError, path, "_reconstruct"):
        load_state_file(path)


def test_one_payload_feeding_two_arrays_is_refused(tmp_path):
    """A memoised payload referenced again would make a copy per reference (amplification)."""
    raw = b"\x01" * 64
    arrays = [_array_pickle((1, (16,), np.dtype("f4"), False, raw)) for _ in range(2)]
    data = pickle.dumps({"a": arrays[0], "b": arrays[1]}, protocol=4)
    assert data.count(b"\x01" * 64) == 1  # really shared in the file
    path = _write(tmp_path / "shared.pdparams", data)
    with _expect(WeightsError, path, "used several times"):
        load_state_file(path)


def test_scalar_with_wrong_payload_is_refused(tmp_path):
    path = _dump(tmp_path / "sc.pdparams", {"x": _Reduce(_SCALAR, (np.dtype("f4"), b"\0" * 5))})
    with _expect(WeightsError, path, "needs 4 bytes"):
        load_state_file(path)


def test_deep_nesting_is_a_clean_error(tmp_path):
    depth = 100_000
    data = b"\x80\x04}\x8c\x01k" + b"]" * depth + b"a" * (depth - 1) + b"s."
    path = _write(tmp_path / "deep.pdparams", data)
    with _expect(WeightsError, path, f"nested more than {MAX_DEPTH} deep"):
        load_state_file(path)
    # just over the limit is refused, just under loads
    for d, ok in ((MAX_DEPTH - 2, True), (MAX_DEPTH + 1, False)):
        p = _write(
            tmp_path / f"d{d}.pdparams", b"\x80\x04}\x8c\x01k" + b"]" * d + b"a" * (d - 1) + b"s."
        )
        if ok:
            assert isinstance(load_state_file(p)["k"], list)
        else:
            with pytest.raises(WeightsError):
                load_state_file(p)


def test_self_reference_is_refused(tmp_path):
    path = _write(tmp_path / "cycle.pdparams", b"\x80\x04}\x8c\x01k]\x94h\x00as.")  # L = [L]
    with _expect(WeightsError, path, "self-referencing"):
        load_state_file(path)


def test_shared_subtrees_are_walked_once(tmp_path):
    """60 levels of [x, x] through the memo: 2**60 paths, but one object per level."""
    data = bytearray(b"\x80\x04}\x8c\x01k]\x940")  # memo[0] = [], POP
    for i in range(1, 61):  # memo[i] = [memo[i-1]] * 2, POP
        data += b"(h" + bytes([i - 1]) + b"h" + bytes([i - 1]) + b"l\x940"
    data += b"h" + bytes([60]) + b"s."
    t0 = time.perf_counter()
    got = load_state_file(_write(tmp_path / "dag.pdparams", bytes(data)))["k"]
    assert time.perf_counter() - t0 < 5
    assert got[0] is got[1] and len(got) == 2


def test_deep_tuple_key_is_refused_before_hashing(tmp_path):
    """Hashing a ~1e6-deep tuple crashes CPython (C recursion); keys must be scalars."""
    data = b"\x80\x04}" + b")" + b"\x85" * 1000 + b"Ns."
    path = _write(tmp_path / "key.pdparams", data)
    with _expect(WeightsError, path, "dict key"):
        load_state_file(path)


@pytest.mark.parametrize(
    "name,data,fragment",
    [
        # LONG_BINPUT 0xffffffff: the C unpickler would zero a 64 GiB memo table
        ("memo", b"\x80\x04}r\xff\xff\xff\xff.", None),
        # BINBYTES8 / FRAME claiming a terabyte in an 18-byte file
        ("bytes8", b"\x80\x04}\x8c\x01k\x8e" + struct.pack("<Q", 2**40) + b"abc", "truncated"),
        ("frame", b"\x80\x04\x95" + struct.pack("<Q", 2**40) + b"}.", "truncated"),
        ("bytearray8", b"\x80\x05}\x8c\x01k\x96" + struct.pack("<Q", 2**40) + b"abc", "BYTEARRAY8"),
    ],
)
def test_length_claims_do_not_allocate(tmp_path, name, data, fragment):
    path = _write(tmp_path / f"{name}.pdparams", data)
    tracemalloc.start()
    try:
        if fragment is None:
            assert load_state_file(path) == {}
        else:
            with _expect(WeightsError, path, fragment):
                load_state_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, peak


def test_many_tiny_opcodes_hit_the_budget(tmp_path):
    """~1.2 MB of MEMOIZE would build ~70 MB of memo entries; refused early instead."""
    path = _write(tmp_path / "ops.pdparams", b"\x80\x04}" + b"N\x94" * 600_000 + b".")
    with _expect(WeightsError, path, "too many pickle operations"):
        load_state_file(path)


def test_persistent_ids_are_refused(tmp_path):
    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return "ext" if obj == "payload" else None

    import io

    buf = io.BytesIO()
    P(buf, protocol=4).dump({"x": "payload"})
    path = _write(tmp_path / "pid.pdparams", buf.getvalue())
    with _expect(WeightsError, path, "persistent"):
        load_state_file(path)


def test_build_on_a_plain_object_is_refused(tmp_path):
    path = _write(tmp_path / "build.pdparams", b"\x80\x04}}\x8c\x01k\x8c\x01vs" + b"b.")
    with _expect(WeightsError, path, "BUILD"):
        load_state_file(path)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, -1])
def test_truncated_file(tmp_path, saved, cut):
    _, good = saved
    data = good.read_bytes()
    n = len(data) - 1 if cut == -1 else int(len(data) * cut)
    path = _write(tmp_path / "cut.pdparams", data[:n])
    with _expect(WeightsError, path):
        load_state_file(path)


def test_file_cut_inside_a_global_name(tmp_path):
    """Protocol 2 names globals in text lines; a cut one is truncation, not an unknown global."""
    data = pickle.dumps({"w": np.ones(2, "float32")}, protocol=2)
    cut = data.index(b"multiarray")
    path = _write(tmp_path / "cutname.pdparams", data[:cut])
    with _expect(WeightsError, path, "truncated") as info:
        load_state_file(path)
    assert not isinstance(info.value, UnsafeWeightsError)


def test_empty_file(tmp_path):
    path = _write(tmp_path / "empty.pdparams", b"")
    with _expect(WeightsError, path, "empty"):
        load_state_file(path)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("header", [b"", b"\x80\x04", b"\x80\x02"])
def test_random_bytes(tmp_path, seed, header):
    data = header + np.random.default_rng(seed).bytes(4096)
    path = _write(tmp_path / "random.pdparams", data)
    with _expect(WeightsError, path):
        load_state_file(path)


def test_zip_file(tmp_path):
    path = tmp_path / "torch_style.pdparams"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"a": 1}))
    with _expect(WeightsError, path, "zip"):
        load_state_file(path)


def test_text_file(tmp_path):
    path = _write(tmp_path / "notes.pdparams", b"model: googlenet\n")
    with _expect(WeightsError, path, "not a paddle.save file"):
        load_state_file(path)


@pytest.mark.parametrize(
    "obj,kind",
    [([np.ones(2, "float32")], "list"), (np.ones(2, "float32"), "numpy array"), (3, "int")],
)
def test_top_level_must_be_a_dict(tmp_path, obj, kind):
    path = tmp_path / "top.pdparams"
    paddle.save(obj, str(path))
    with _expect(WeightsError, path, f"top level is a {kind}"):
        load_state_file(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pdparams"):
        load_state_file(tmp_path / "nope.pdparams")
    with _expect(WeightsError, tmp_path, "is a directory"):
        load_state_file(tmp_path)


# ---------------------------------------------------------------------------------------------
# trusted=True
# ---------------------------------------------------------------------------------------------


def test_trusted_uses_paddle_load(tmp_path, saved):
    _, path = saved
    _deep_equal(load_state_file(path, trusted=True), paddle.load(str(path), return_numpy=True))
    _deep_equal(load_state_file(path, trusted=True), load_state_file(path))


def test_trusted_runs_code_in_the_file(tmp_path):
    """The documented danger of trusted=True: the file's code runs (here: makes a directory)."""
    marker = tmp_path / "ran"
    path = _dump(tmp_path / "legacy.pdparams", {"x": _Reduce(os.makedirs, (str(marker),))})
    with pytest.raises(UnsafeWeightsError):
        load_state_file(path)
    assert not marker.exists()
    assert load_state_file(path, trusted=True) == {"x": None}
    assert marker.is_dir()


def test_trusted_corrupt_file_is_weights_error(tmp_path):
    path = _write(tmp_path / "bad.pdparams", b"\x80\x04}\x8c\x01k")
    with _expect(WeightsError, path, "(trusted)"):
        load_state_file(path, trusted=True)


# ---------------------------------------------------------------------------------------------
# resolve_weights_file
# ---------------------------------------------------------------------------------------------


def test_resolve_weights_file(tmp_path, saved):
    _, path = saved
    assert resolve_weights_file(path) == str(path)
    assert resolve_weights_file(str(path)[: -len(".pdparams")]) == str(path)  # prefix
    ckpt = tmp_path / "out" / "epoch_0003"
    ckpt.mkdir(parents=True)
    (ckpt / "model.pdparams").write_bytes(path.read_bytes())
    want = os.path.join(os.path.realpath(ckpt), "model.pdparams")
    assert resolve_weights_file(ckpt) == want  # directory
    assert resolve_weights_file(ckpt / "model.pdparams") == str(ckpt / "model.pdparams")
    latest = tmp_path / "out" / "latest"
    latest.symlink_to("epoch_0003")
    assert resolve_weights_file(latest) == want  # symlinked dir
    assert resolve_weights_file(str(latest) + ".pdparams") == want  # prefix of a dir


def test_resolve_weights_file_errors(tmp_path):
    empty = tmp_path / "ckpt"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as info:
        resolve_weights_file(empty, what="--weights")
    msg = str(info.value)
    assert msg.startswith("--weights:") and str(empty) in msg and "model.pdparams" in msg
    with pytest.raises(FileNotFoundError) as info:
        resolve_weights_file(tmp_path / "missing", what="Global.pretrained_model")
    msg = str(info.value)
    assert msg.startswith("Global.pretrained_model:") and str(tmp_path / "missing") in msg
    assert ".pdparams" in msg


# ---------------------------------------------------------------------------------------------
# load_weights
# ---------------------------------------------------------------------------------------------


def _outputs(model, seed=0):
    model.eval()
    x = paddle.to_tensor(
        np.random.default_rng(seed).standard_normal((2, 3, 8, 8)).astype("float32")
    )
    with paddle.no_grad():
        return model(x).numpy()


def test_strict_exact_fit(tmp_path, saved):
    src, path = saved
    model = _net()
    assert not np.allclose(_outputs(model), _outputs(src))
    report = load_weights(model, path)
    np.testing.assert_array_equal(_outputs(model), _outputs(src))
    _assert_same_state(model, _snapshot(src))
    assert report == {
        "file": str(path),
        "loaded": 8,
        "skipped": [],
        "missing": [],
        "unexpected": [],
    }


def test_strict_from_checkpoint_dir_and_dict(tmp_path, saved):
    src, path = saved
    ckpt = tmp_path / "epoch_0001"
    ckpt.mkdir()
    (ckpt / "model.pdparams").write_bytes(path.read_bytes())
    model = _net()
    assert load_weights(model, ckpt)["file"] == os.path.join(
        os.path.realpath(ckpt), "model.pdparams"
    )
    _assert_same_state(model, _snapshot(src))
    # an already-loaded dict: arrays or another model's tensors
    for state in (load_state_file(path), src.state_dict()):
        other = _net()
        assert load_weights(other, state)["file"] is None
        _assert_same_state(other, _snapshot(src))


def test_strict_other_class_count_lists_classifier_and_loads_nothing(tmp_path):
    src = _randomized(_net(num_classes=10))
    path = tmp_path / "ten.pdparams"
    paddle.save(src.state_dict(), str(path))
    model = _net(num_classes=5)
    before = _snapshot(model)
    with _expect(
        WeightsError,
        path,
        "2 with another shape",
        "5.weight: file [4, 10] vs model [4, 5]",
        "5.bias: file [10] vs model [5]",
        "6 of 8",
    ):
        load_weights(model, path)
    _assert_same_state(model, before)


def test_strict_missing_and_unexpected(tmp_path, saved):
    src, path = saved
    full = load_state_file(path)
    cases = {
        "missing": (
            {k: v for k, v in full.items() if k != "1._mean"},
            ["1 missing", "1._mean [4]"],
        ),
        "unexpected": (
            dict(full, **{"head.fc.weight": np.ones((3, 3), "float32")}),
            ["1 not in the model", "head.fc.weight [3, 3]"],
        ),
        "no_match": (
            {"backbone." + k: v for k, v in full.items()},
            ["8 missing", "8 not in the model", "0 of 8"],
        ),
    }
    for name, (state, fragments) in cases.items():
        p = tmp_path / f"{name}.pdparams"
        paddle.save(state, str(p))
        model = _net()
        before = _snapshot(model)
        with _expect(WeightsError, p, *fragments):
            load_weights(model, p, what="--weights")
        assert str(
            pytest.raises(WeightsError, load_weights, model, p, what="--weights").value
        ).startswith("--weights:")
        _assert_same_state(model, before)


def test_dtype_and_byte_order_are_cast(tmp_path, saved):
    src, path = saved
    ref = _snapshot(src)
    for name, conv in (
        ("f64", lambda a: a.astype("float64")),
        ("big", lambda a: a.astype(">f4")),
        ("fortran", lambda a: np.asfortranarray(a)),
        ("bf16", lambda a: paddle.to_tensor(a).astype("bfloat16").numpy()),
    ):
        p = tmp_path / f"{name}.pdparams"
        paddle.save({k: conv(v) for k, v in ref.items()}, str(p))
        for source in (p, {k: conv(v) for k, v in ref.items()}):  # a file, or a dict as given
            model = _net()
            load_weights(model, source)
            for k, v in model.state_dict().items():
                assert v.dtype == paddle.float32, (name, k)
                np.testing.assert_allclose(
                    v.numpy(), ref[k], rtol=1e-2 if name == "bf16" else 0, err_msg=f"{name} {k}"
                )


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_finetune_skips_classifier_with_warnings(tmp_path):
    src = _randomized(_net(num_classes=10))
    path = tmp_path / "ten.pdparams"
    paddle.save(dict(src.state_dict(), extra=paddle.ones([1])), str(path))
    model = _net(num_classes=5)
    init = _snapshot(model)
    log = logging.getLogger("test_weights.finetune")
    handler = _ListHandler()
    log.addHandler(handler)
    try:
        report = load_weights(model, path, mode="finetune", logger=log, what="pretrained_model")
    finally:
        log.removeHandler(handler)
    assert report == {
        "file": str(path),
        "loaded": 6,
        "skipped": ["5.weight", "5.bias"],
        "missing": [],
        "unexpected": ["extra"],
    }
    skip = [m for m in handler.messages if "skipping" in m]
    assert len(skip) == 2 and "5.weight" in skip[0] and "[4, 10]" in skip[0] and "[4, 5]" in skip[0]
    assert sum("extra" in m for m in handler.messages) == 1
    assert all(m.startswith("pretrained_model:") for m in handler.messages)
    now, ref = _snapshot(model), _snapshot(src)
    for k in now:
        np.testing.assert_array_equal(now[k], init[k] if k.startswith("5.") else ref[k], err_msg=k)


def test_finetune_default_logger(tmp_path, caplog):
    src = _randomized(_net(num_classes=10))
    path = tmp_path / "ten.pdparams"
    paddle.save(src.state_dict(), str(path))
    with caplog.at_level(logging.WARNING, logger="paddle_inception"):
        load_weights(_net(num_classes=5), path, mode="finetune")
    assert (
        sum("skipping" in r.getMessage() and r.name == "paddle_inception" for r in caplog.records)
        == 2
    )


def test_finetune_unrelated_model_is_refused(tmp_path):
    other = paddle.nn.Sequential(
        paddle.nn.Conv2D(3, 4, 3, padding=1), paddle.nn.Conv2D(4, 8, 1), paddle.nn.Linear(8, 8)
    )
    path = tmp_path / "other.pdparams"
    paddle.save(other.state_dict(), str(path))  # shares only conv 0 (2 of 8 tensors)
    model = _net()
    before = _snapshot(model)
    with _expect(WeightsError, path, "matches only 2 of 8", "another model"):
        load_weights(model, path, mode="finetune")
    _assert_same_state(model, before)


def test_finetune_half_is_enough(tmp_path, saved):
    src, path = saved
    state = load_state_file(path)
    for k in ("5.weight", "5.bias", "1._mean", "1._variance"):  # exactly half left
        del state[k]
    model = _net()
    report = load_weights(model, state, mode="finetune")
    assert report["loaded"] == 4 and len(report["missing"]) == 4


def test_bad_mode(saved):
    with pytest.raises(ValueError, match="mode"):
        load_weights(_net(), saved[1], mode="lenient")


def test_unsafe_file_through_load_weights(tmp_path):
    marker = tmp_path / "pwned"
    path = _dump(tmp_path / "evil.pdparams", {"x": _Reduce(os.system, (f"touch {marker}",))})
    for mode in ("strict", "finetune"):
        with _expect(UnsafeWeightsError, path, "system"):
            load_weights(_net(), path, mode=mode)
    assert not marker.exists()
