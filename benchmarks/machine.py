"""The machine a benchmark ran on: CPU model and the flags that decide kernel paths, the
matmul peak measured in the same run, the load before it started, and what MKL was told."""

from __future__ import annotations

import importlib.util
import os
import platform
import time

import numpy as np

from benchmarks.common import first_line, time_iterations

#: /proc/cpuinfo flags that change which kernels run (MKL/oneDNN paths, low precision units)
FLAGS_THAT_MATTER = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def cpu_model() -> str:
    from paddle_inception.runtime import cpuinfo_field

    return cpuinfo_field("model name") or platform.processor() or platform.machine()


def describe_cpu() -> dict:
    """{"model", "vendor", "family", "model_id", "flags", "cpus"} of this machine; `flags` keeps
    only FLAGS_THAT_MATTER (what a reader needs to compare two rows)."""
    from paddle_inception.runtime import available_cpus, cpuinfo_field

    def number(key):
        text = cpuinfo_field(key)
        return int(text) if text.isdigit() else None

    have = set(cpuinfo_field("flags").split())
    return {
        "model": cpu_model(),
        "vendor": cpuinfo_field("vendor_id") or None,
        "family": number("cpu family"),
        "model_id": number("model\t"),  # not "model name"
        "flags": [f for f in FLAGS_THAT_MATTER if f in have],
        "cpus": available_cpus(),
    }


def _ort_matmul(n: int, threads: int):
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = min(model.ir_version, 8)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return lambda a, b: sess.run(None, {"a": a, "b": b})


def measure_peak(
    n: int = 2048, threads: int | None = None, with_torch: bool = False, repeats: int = 3
) -> dict:
    """Float32 n x n matmul GFLOP/s (best time of at least `repeats` runs and 0.5 s) of
    paddle.matmul and numpy, plus onnxruntime's MatMul and torch.matmul (`with_torch`) with
    `threads` threads; `peak_gflops` is the largest. numpy's BLAS uses its own thread count."""
    import paddle

    out = {"n": int(n)}
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flop = 2.0 * n**3
    threads = threads or 1
    pa, pb = paddle.to_tensor(a), paddle.to_tensor(b)
    candidates = [
        ("paddle", lambda: lambda: paddle.matmul(pa, pb)),
        ("numpy", lambda: lambda: a @ b),
    ]
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        candidates.append(
            ("onnxruntime", lambda: (lambda run: lambda: run(a, b))(_ort_matmul(n, threads)))
        )
    if with_torch and importlib.util.find_spec("torch"):

        def torch_fn():
            import torch

            torch.set_num_threads(threads)
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            return lambda: torch.matmul(ta, tb)

        candidates.append(("torch", torch_fn))
    for name, make in candidates:
        try:
            fn = make()
            fn()
            times, t_end = [], time.perf_counter() + 0.5
            while len(times) < repeats or (time.perf_counter() < t_end and len(times) < 50):
                times += time_iterations(fn, 1, 0)
            out[f"{name}_gflops"] = flop / min(times) / 1e9
        except Exception as e:
            out[f"{name}_gflops"] = None
            out[f"{name}_error"] = first_line(e)
    vals = {k[: -len("_gflops")]: v for k, v in out.items() if k.endswith("_gflops") and v}
    out["peak_gflops"] = max(vals.values()) if vals else None
    out["peak_from"] = max(vals, key=vals.get) if vals else None
    return out


def loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def cpu_busy(seconds: float = 0.5) -> float | None:
    """Fraction of all CPUs busy over `seconds` (from /proc/stat), or None."""

    def snap():
        with open("/proc/stat", encoding="ascii") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals[:8]), idle

    try:
        t0, i0 = snap()
        time.sleep(seconds)
        t1, i1 = snap()
    except (OSError, ValueError, IndexError):
        return None
    return round(1.0 - (i1 - i0) / (t1 - t0), 3) if t1 > t0 else None


def mkl_status(done: dict) -> str:
    """One line on MKL's code path, from what configure_cpu returned (`done`)."""
    from paddle_inception.runtime import cpu_vendor

    vendor = cpu_vendor() or "unknown"
    if "MKL_DEBUG_CPU_TYPE" in done:
        return (
            f"applied: configure_cpu set MKL_DEBUG_CPU_TYPE={done['MKL_DEBUG_CPU_TYPE']} "
            f"({vendor} CPU)"
        )
    if "MKL_DEBUG_CPU_TYPE" in os.environ:
        return (
            f"MKL_DEBUG_CPU_TYPE={os.environ['MKL_DEBUG_CPU_TYPE']} already in the "
            f"environment (left as is)"
        )
    if vendor != "AuthenticAMD":
        return f"not applied: not needed on a {vendor} CPU"
    return "not applied: opted out (PADDLE_INCEPTION_MKL_FIX=0)"
