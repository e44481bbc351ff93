"""The shared runner: one measurement (`measure`), the same in a fresh interpreter
(`run_isolated`, built on the general `call_isolated`), the median of repeated processes, and
the whole run (`run_benchmark`: matmul peak, every model x size x task x framework, ratios).

For another benchmark module (benchmarks/deploy.py, ...): `call_isolated("pkg.mod:fn",
payload, timeout)` runs `fn(payload) -> dict` in its own process and returns that dict (or an
error row); `common.time_iterations` times a step; `machine.describe_cpu` / `measure_peak`
describe the machine; `report.add_ratios` and `report.format_table` work on any rows with the
keys of `common.base_record`.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, replace

from benchmarks import machine
from benchmarks.common import (
    ROOT,
    STOCK,
    BenchOptions,
    Skip,
    base_record,
    checksum,
    first_line,
    is_bf16,
    json_default,
    make_inputs,
    rss_mib,
    source,
    time_iterations,
    version,
)
from benchmarks.models import (
    PEERS,
    build_paddle,
    build_torch,
    framework_status,
    paddle_macs,
    peer_skip_reason,
    plan_cases,
    torch_macs,
)
from benchmarks.report import add_ratios
from benchmarks.tasks import MODEL_TASKS, data

_RESULT_MARK = "@@PI_BENCH_RESULT@@"
_VERSIONS = ("paddlepaddle", "numpy", "onnxruntime", "paddle2onnx", "paddleclas", "torch")
_VERSIONS += ("torchvision", "timm")


# ================================================================================ in process
def _measure_paddle(case, framework, task, x, y, opts: BenchOptions, workdir: str) -> dict:
    import paddle

    paddle.seed(opts.seed)
    train = task == "train"
    t0 = time.perf_counter()
    model, note = build_paddle(case, framework)
    res = {"note": note, "macs_per_image": paddle_macs(model, case["input"], train)}
    step = MODEL_TASKS[task].paddle_step(model, case, framework, x, y, opts, workdir, res)
    res["prepare_s"] = round(time.perf_counter() - t0, 2)
    res["times_s"] = time_iterations(step, opts.iters, opts.warmup)
    return res


def _measure_torch(case, framework, task, x, y, opts: BenchOptions, workdir: str) -> dict:
    import torch

    torch.manual_seed(opts.seed)
    if torch.get_num_threads() != opts.threads:
        torch.set_num_threads(opts.threads)
    train = task == "train"
    t0 = time.perf_counter()
    model, note = build_torch(case, framework, train)
    res = {
        "note": note,
        "macs_per_image": torch_macs(model, case["input"], train),
        "torch_threads": torch.get_num_threads(),
    }
    step = MODEL_TASKS[task].torch_step(model, case, framework, x, y, opts, workdir, res)
    res["prepare_s"] = round(time.perf_counter() - t0, 2)
    res["times_s"] = time_iterations(step, opts.iters, opts.warmup)
    return res


def measure(
    case: dict, framework: str, task: str, opts: BenchOptions, workdir: str, inputs=None
) -> dict:
    """One measurement in this process; never raises: errors land in the result."""
    rec = base_record(case, framework, task, opts.batch)
    try:
        if task == "data":
            res = data.measure(opts)
            rec.update(model="-", impl=data.IMPL, iters=len(res["times_s"]), warmup=0)
            rec.update(res)
            rec["median_s"] = statistics.median(res["times_s"]) if res["times_s"] else None
        elif task not in MODEL_TASKS:
            raise ValueError(f"unknown task {task!r}")
        elif is_bf16(framework) and task != "train":
            raise Skip("the -bf16 rows measure the train step only")
        else:
            x, y = inputs if inputs is not None else make_inputs(case, opts.batch, opts.seed)
            rec["input_sha1"] = checksum(x)
            kind = "paddle" if source(framework) in ("ours", "paddleclas") else "torch"
            rec["impl"] = MODEL_TASKS[task].IMPL[kind]
            fn = _measure_paddle if kind == "paddle" else _measure_torch
            res = fn(case, framework, task, x, y, opts, workdir)
            rec.update(res)
            rec.update(iters=len(res["times_s"]), warmup=opts.warmup)
            med = statistics.median(res["times_s"])
            rec["median_s"] = med
            rec["images_per_s"] = opts.batch / med if med > 0 else None
            macs = rec.get("macs_per_image")
            if macs and rec["images_per_s"]:
                rec["flops_per_image"] = (6 if task == "train" else 2) * macs
                rec["gflops"] = rec["flops_per_image"] * rec["images_per_s"] / 1e9
    except Skip as e:
        rec.update(status="skipped", error=str(e))
    except Exception as e:  # one failing framework must not end the run
        rec.update(status="error", error=first_line(e), traceback=traceback.format_exc(limit=6))
        if isinstance(e, ImportError):
            rec["import_error"] = True
    gc.collect()  # the model and its graphs go before the next one
    rec["rss_mib"] = rss_mib()
    return rec


# ================================================================================ in a process
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from benchmarks.runner import _child_main; "
    "sys.exit(_child_main(sys.argv[2], sys.argv[3]))"
)


def call_isolated(target: str, payload: dict, timeout: float, env: dict | None = None) -> dict:
    """`target(payload)` ("package.module:function", returning a JSON-able dict) in a fresh
    interpreter with the repository root on sys.path. Returns its dict, or {"status":
    "error", "error": ...} when it timed out, crashed or printed no result."""
    cmd = [sys.executable, "-c", _BOOT, ROOT, target, json.dumps(payload)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "error", "error": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(_RESULT_MARK):
            return json.loads(line[len(_RESULT_MARK) :])
    tail = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
    error = f"worker exited with code {proc.returncode}" + (f": {tail[-1][:200]}" if tail else "")
    return {"status": "error", "error": error}


def _child_main(target: str, payload_json: str) -> int:
    """The isolated side of `call_isolated`: the result goes to stdout behind a marker (the
    libraries may print there too)."""
    module, _, name = target.partition(":")
    result = getattr(importlib.import_module(module), name)(json.loads(payload_json))
    sys.stdout.write(_RESULT_MARK + json.dumps(result, default=json_default) + "\n")
    sys.stdout.flush()
    return 0


def measure_worker(spec: dict) -> dict:
    """One measurement as an isolated worker: process settings first, then `measure`."""
    opts = BenchOptions(**spec["options"])
    from paddle_inception.runtime import configure_cpu, tune_malloc

    if spec["framework"] == STOCK:  # threads only (the parent dropped the MKL variable)
        configure_cpu(num_threads=opts.threads, mkl_amd_fix=False, malloc=False)
    elif source(spec["framework"]) in ("ours", "paddleclas") or spec["task"] == "data":
        configure_cpu(num_threads=opts.threads, malloc=opts.malloc_tune)
    elif opts.malloc_tune:
        tune_malloc()  # torch workers: the same process-wide allocator setting
    rec = measure(spec["case"], spec["framework"], spec["task"], opts, spec["workdir"])
    rec["rss_scope"] = "measurement"
    rec["paddle_loaded"] = "paddle" in sys.modules
    rec["torch_loaded"] = "torch" in sys.modules
    return rec


def _worker_main(spec_json: str) -> int:
    """`measure_worker` with its result on stdout (what `run_isolated`'s process runs)."""
    return _child_main("benchmarks.runner:measure_worker", spec_json)


def run_isolated(
    case, framework, task, opts: BenchOptions, workdir: str, mkl_set_by_us: bool = False
) -> dict:
    """`measure` in a fresh interpreter (the package loads there only if the task needs it, so
    a torch worker never imports Paddle). `mkl_set_by_us`: MKL_DEBUG_CPU_TYPE in the
    environment is configure_cpu's, not the user's, and is left out of a stock worker's."""
    spec = {
        "case": case,
        "framework": framework,
        "task": task,
        "workdir": workdir,
        "options": asdict(opts),
    }
    env = dict(os.environ)
    if framework == STOCK and mkl_set_by_us:
        env.pop("MKL_DEBUG_CPU_TYPE", None)  # ours, not the user's: stock runs without it
    rec = call_isolated("benchmarks.runner:measure_worker", spec, opts.timeout, env)
    if "task" not in rec:  # the worker gave no row: make one
        rec = dict(base_record(case, framework, task, opts.batch), rss_scope="measurement", **rec)
    return rec


def median_run(recs: list) -> dict:
    """The record of the median-speed process among repeated isolated runs of one row, with
    every run's images/s in `runs_images_per_s`. (On shared cloud CPUs the speed of a whole
    process can differ by 1.5x from the next one's while each is steady within itself.)"""
    ok = sorted(
        (r for r in recs if r.get("status") == "ok" and r.get("images_per_s")),
        key=lambda r: r["images_per_s"],
    )
    if not ok:
        return recs[-1]
    rec = dict(ok[(len(ok) - 1) // 2])
    rec["runs_images_per_s"] = [round(r["images_per_s"], 2) for r in ok]
    spread = "-".join(f"{r['images_per_s']:.1f}" for r in (ok[0], ok[-1]))
    rec["note"] = "; ".join(n for n in (rec.get("note"), f"{len(ok)} runs {spread}") if n)
    return rec


# ================================================================================ the run
def _skipped(case, fw, task, opts, reason) -> dict:
    rec = base_record(case, fw, task, opts.batch)
    return dict(rec, status="skipped", error=reason, rss_mib=None)


def _rows(opts, status, cases, workdir, mkl_set_by_us, log) -> list:
    """Every row the options ask for, in table order; a framework that fails to import is
    skipped for the rest of the run."""
    broken = {}  # framework -> import error

    def one(case, fw, task):
        if fw in broken:
            return _skipped(case, fw, task, opts, f"not importable: {broken[fw]}")
        reason = peer_skip_reason(case, fw) if task != "data" else None
        if fw == STOCK and not opts.isolate:
            reason = "needs --isolate: Paddle's defaults need a process of their own"
        if reason:
            return _skipped(case, fw, task, opts, reason)
        log(f"{case.get('model', '-')} {case.get('size')} {task} {fw}")
        if opts.isolate:
            runs = [
                run_isolated(case, fw, task, opts, workdir, mkl_set_by_us)
                for _ in range(opts.repeat)
            ]
            rec = median_run(runs) if opts.repeat > 1 else runs[0]
        else:
            inputs = make_inputs(case, opts.batch, opts.seed) if task != "data" else None
            rec = measure(case, fw, task, opts, workdir, inputs)
            rec["rss_scope"] = "process"
        if rec.get("import_error"):
            broken[fw] = rec["error"]
        return rec

    results = []
    for case in cases:
        fws = [
            fw
            for fw in opts.frameworks
            if fw != "ours"
            and status.get(fw, {}).get("available")
            and (source(fw) == "ours" or source(fw) in PEERS.get(case["model"], {}))
        ]
        fws = (["ours"] if "ours" in opts.frameworks else []) + fws
        for task in (t for t in opts.tasks if t != "data"):
            results += [one(case, fw, task) for fw in fws]
    if "data" in opts.tasks:
        data_case = {"model": "-", "size": "config", "input": None, "num_classes": None}
        results.append(one(data_case, "ours", "data"))
    return results


def run_benchmark(opts: BenchOptions, log=None) -> dict:
    """Run everything `opts` asks for; returns {"meta", "peak", "results", "skipped"}."""
    log = log or (lambda msg: None)
    paddle_before = "paddle" in sys.modules
    load_before = machine.loadavg()
    busy_before = machine.cpu_busy(0.5)  # other processes' CPU use, before we add ours
    from paddle_inception.runtime import available_cpus, configure_cpu

    if not opts.threads:
        opts = replace(opts, threads=available_cpus())
    done = configure_cpu(num_threads=opts.threads, malloc=opts.malloc_tune)  # before Paddle runs
    status = framework_status(opts.frameworks)
    skipped = [
        {"framework": fw, "reason": s["note"]} for fw, s in status.items() if not s["available"]
    ]
    has_model_tasks = any(t != "data" for t in opts.tasks)
    cases, case_skips = plan_cases(opts) if has_model_tasks else ([], [])
    skipped += [dict(s, framework="all") for s in case_skips]

    own_workdir = opts.workdir is None
    workdir = opts.workdir or tempfile.mkdtemp(prefix="pi_bench_")
    os.makedirs(workdir, exist_ok=True)
    try:
        log(f"matmul peak ({opts.peak_n}x{opts.peak_n} float32)")
        torch_peers = [
            fw
            for fw in opts.frameworks
            if source(fw) in ("torchvision", "timm") and status.get(fw, {}).get("available")
        ]
        peak = machine.measure_peak(opts.peak_n, opts.threads, with_torch=bool(torch_peers))
        mkl_set_by_us = "MKL_DEBUG_CPU_TYPE" in done
        results = _rows(opts, status, cases, workdir, mkl_set_by_us, log)
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    add_ratios(results, peak.get("peak_gflops"))
    meta = {
        "tool": "tools/benchmark.py",
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "loadavg_1min_at_start": load_before,
        "cpu_busy_at_start": busy_before,
        "cpu": machine.cpu_model(),
        "cpu_detail": machine.describe_cpu(),
        "cpus_available": available_cpus(),
        "threads": opts.threads,
        "mkl": machine.mkl_status(done),
        "configure_cpu": done,
        "malloc": (
            "glibc keeps freed memory (runtime.tune_malloc), in every framework's worker alike"
            if "malloc" in done
            else "default allocator settings"
        ),
        "paddle_imported_before_configure_cpu": paddle_before,
        "python": platform.python_version(),
        "versions": {d: version(d) for d in _VERSIONS},
        "frameworks": status,
        "options": asdict(opts),
        "rss_scope": "measurement" if opts.isolate else "process",
    }
    return {"meta": meta, "peak": peak, "results": results, "skipped": skipped}
