"""What every benchmark module shares: the task and framework names, the options, the seeded
inputs, the timing loop and small helpers. Imports nothing heavy (no Paddle, no torch)."""

from __future__ import annotations

import gc
import hashlib
import os
import resource
import time
from dataclasses import dataclass, field

import numpy as np

#: the repository root (the benchmarks live in benchmarks/, outside the package)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(ROOT, "configs", "googlenet.yaml")

TASKS = ("infer", "export", "onnx", "train", "data")
FRAMEWORKS = ("ours", "paddleclas", "paddleclas-stock", "torchvision", "timm")
# PaddleClas' models again, in a process left with Paddle's defaults (threads aside): no
# configure_cpu MKL path, no malloc setting. What a PaddleClas user runs unless they tune it.
STOCK = "paddleclas-stock"
# Opt-in rows: a framework's train step in bfloat16 ('ours-bf16': the trainer's own precision
# choice, skipped with its reason where it stays float32; 'torchvision-bf16' / 'timm-bf16':
# under torch.autocast("cpu", torch.bfloat16), fp32 master weights, as a torch user would).
BF16 = "-bf16"
BF16_FRAMEWORKS = ("ours-bf16", "torchvision-bf16", "timm-bf16")
KNOWN_FRAMEWORKS = FRAMEWORKS + BF16_FRAMEWORKS
DEFAULT_MODELS = ("googlenet", "googlenet_bn", "inception_v3", "inception_v4")


@dataclass
class BenchOptions:
    models: list = field(default_factory=lambda: list(DEFAULT_MODELS))
    tasks: list = field(default_factory=lambda: list(TASKS))
    frameworks: list = field(default_factory=lambda: list(FRAMEWORKS))
    sizes: list = field(default_factory=lambda: ["config", "default"])
    batch: int = 16
    threads: int = 0  # 0: all available CPUs
    iters: int = 5
    repeat: int = 1  # isolated measurements: processes per row, median kept
    warmup: int = 2
    data_batches: int = 0  # 0: a full pass of the Train loader
    peak_n: int = 2048  # matmul size for the peak
    config: str = DEFAULT_CONFIG
    isolate: bool = True
    timeout: float = 1800.0  # per isolated measurement
    seed: int = 0
    quick: bool = False
    workdir: str | None = None  # exported models go here (default: a temporary folder)
    malloc_tune: bool = True  # runtime.tune_malloc in every worker, whatever framework


class Skip(Exception):
    """A measurement that does not apply (not an error)."""


def source(framework: str) -> str:
    """Whose model a framework entry runs ('paddleclas-stock' runs PaddleClas', 'ours-bf16'
    ours)."""
    framework = framework.removesuffix(BF16)
    return "paddleclas" if framework == STOCK else framework


def is_bf16(framework: str) -> bool:
    return framework.endswith(BF16)


def rss_mib() -> float:
    """Peak RSS of this process. VmHWM (Linux) rather than ru_maxrss: Linux carries ru_maxrss
    over an exec, so an isolated worker would report its parent's peak when that is larger."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def first_line(e: BaseException, limit: int = 300) -> str:
    text = f"{type(e).__name__}: {e}".strip().splitlines()
    return (text[0] if text else type(e).__name__)[:limit]


def version(dist: str) -> str | None:
    try:
        from importlib.metadata import version as _v

        return _v(dist)
    except Exception:
        return None


def make_inputs(case: dict, batch: int, seed: int):
    """The batch every framework gets: float32 N(0, 1) images and int64 labels, seeded."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *case["input"]), dtype=np.float32)
    y = rng.integers(0, case["num_classes"], size=(batch,), dtype=np.int64)
    return x, y


def checksum(x: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest()[:12]


def time_iterations(fn, iters: int, warmup: int) -> list:
    """Seconds of each of `iters` calls of `fn` after `warmup` untimed ones."""
    for _ in range(max(0, warmup)):
        fn()
    gc.collect()
    times = []
    for _ in range(max(1, iters)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def load_cfg(path: str) -> dict:
    from paddle_inception.config import load_config

    if not os.path.isfile(path):
        raise FileNotFoundError(f"--config: {path} not found")
    return load_config(path)


def case_tag(case: dict, framework: str) -> str:
    """A folder name for one model x input x framework (exported files go there)."""
    shape = "x".join(map(str, case["input"]))
    return f"{case['model']}_{shape}_{case['num_classes']}_{framework}"


def base_record(case: dict, framework: str, task: str, batch: int) -> dict:
    """The keys every result row has, before it is measured."""
    return {
        "model": case.get("model", "-"),
        "size": case.get("size"),
        "input": case.get("input"),
        "num_classes": case.get("num_classes"),
        "task": task,
        "framework": framework,
        "batch": batch,
        "status": "ok",
        "error": None,
        "note": "",
    }


def json_default(o):
    """json.dumps' fallback for numpy scalars and arrays (anything else: its str)."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
