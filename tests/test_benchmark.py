"""tools/benchmark.py: tiny --quick runs (googlenet, 32 px, batch 2) and the bookkeeping around
them. Peers (torchvision, timm, PaddleClas) are measured when installed and skipped otherwise."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from dataclasses import asdict

import pytest
from conftest import ROOT, checkout_env

from benchmarks import benchmark as B
from benchmarks import runner
from benchmarks.models import framework_status
from paddle_inception.config import load_config

TINY = [
    "--quick",
    "--models",
    "googlenet",
    "--sizes",
    "32",
    "--batch",
    "2",
    "--iters",
    "1",
    "--warmup",
    "0",
    "--threads",
    "1",
    "--peak-size",
    "128",
    "--no-isolate",
]
_KEYS = {
    "model",
    "size",
    "input",
    "num_classes",
    "task",
    "framework",
    "impl",
    "batch",
    "status",
    "error",
    "note",
    "times_s",
    "median_s",
    "images_per_s",
    "macs_per_image",
    "flops_per_image",
    "gflops",
    "peak_fraction",
    "rss_mib",
    "rss_scope",
    "ratio_ours_over_this",
    "input_sha1",
}


def _torchvision_present():
    return all(importlib.util.find_spec(n) for n in ("torch", "torchvision"))


@pytest.fixture(scope="module")
def quick_report():
    opts, _ = B.parse_options(TINY + ["--tasks", "infer,train"])
    return B.run_benchmark(opts)


@pytest.mark.slow
def test_quick_run_is_well_formed(quick_report):
    rep = quick_report
    assert {"meta", "peak", "results", "skipped"} <= set(rep)
    assert rep["peak"]["peak_gflops"] > 0 and rep["peak"]["paddle_gflops"] > 0
    assert rep["peak"]["numpy_gflops"] > 0
    meta = rep["meta"]
    assert meta["threads"] == 1 and meta["mkl"]
    ours = [r for r in rep["results"] if r["framework"] == "ours"]
    assert {r["task"] for r in ours} == {"infer", "train"}
    for r in ours:
        assert r["status"] == "ok", r.get("error")
        assert _KEYS <= set(r), _KEYS - set(r)
        assert r["input"] == [3, 32, 32] and r["batch"] == 2 and len(r["times_s"]) == 1
        assert r["images_per_s"] > 0 and r["macs_per_image"] > 0 and r["rss_mib"] > 0
        assert r["ratio_ours_over_this"] is None
        factor = 6 if r["task"] == "train" else 2
        assert math.isclose(r["gflops"], factor * r["macs_per_image"] * r["images_per_s"] / 1e9)
        assert math.isclose(r["peak_fraction"], r["gflops"] / rep["peak"]["peak_gflops"])
    train = next(r for r in ours if r["task"] == "train")
    assert train["outputs"] == 3  # logits + two aux heads
    infer = next(r for r in ours if r["task"] == "infer")
    assert train["macs_per_image"] > infer["macs_per_image"]  # the aux heads count in train


@pytest.mark.slow
def test_peers_are_measured_on_the_same_inputs_or_skipped(quick_report):
    rep = quick_report
    by = {(r["framework"], r["task"]): r for r in rep["results"]}
    if not _torchvision_present():
        assert not any(r["framework"] == "torchvision" for r in rep["results"])
        assert any(s["framework"] == "torchvision" for s in rep["skipped"])
        pytest.skip("torchvision not installed")
    for task in ("infer", "train"):
        ours, peer = by[("ours", task)], by[("torchvision", task)]
        assert peer["status"] == "ok", peer.get("error")
        assert peer["input_sha1"] == ours["input_sha1"]
        assert peer["images_per_s"] > 0 and peer["macs_per_image"] > 0
        assert math.isclose(
            peer["ratio_ours_over_this"], ours["images_per_s"] / peer["images_per_s"]
        )
    assert by[("torchvision", "train")]["outputs"] == 3
    assert by[("torchvision", "infer")]["torch_threads"] == 1
    table = B.format_table(rep)
    assert (
        "ours/this" in table
        and f"{by[('torchvision', 'infer')]['ratio_ours_over_this']:.2f}x" in table
    )


@pytest.mark.slow
def test_table_and_json_round_trip(quick_report):
    table = B.format_table(quick_report)
    for col in ("img/s", "ours/this", "MMAC/img", "GFLOP/s", "%peak", "RSS MiB"):
        assert col in table
    assert "matmul peak" in table and "MKL:" in table
    back = json.loads(B.to_json(quick_report))
    assert len(back["results"]) == len(quick_report["results"])


def test_add_ratios_is_ours_over_peer():
    rows = [
        {
            "model": "m",
            "input": [3, 8, 8],
            "task": "infer",
            "framework": "ours",
            "status": "ok",
            "images_per_s": 30.0,
            "gflops": 3.0,
        },
        {
            "model": "m",
            "input": [3, 8, 8],
            "task": "infer",
            "framework": "timm",
            "status": "ok",
            "images_per_s": 10.0,
        },
        {
            "model": "m",
            "input": [3, 8, 8],
            "task": "train",
            "framework": "timm",
            "status": "ok",
            "images_per_s": 5.0,
        },  # no "ours" row for train
        {
            "model": "m",
            "input": [3, 8, 8],
            "task": "infer",
            "framework": "paddleclas",
            "status": "error",
            "error": "boom",
        },
    ]
    B.add_ratios(rows, peak_gflops=6.0)
    assert rows[0]["ratio_ours_over_this"] is None and rows[0]["peak_fraction"] == 0.5
    assert rows[1]["ratio_ours_over_this"] == 3.0
    assert rows[2]["ratio_ours_over_this"] is None
    assert rows[3]["ratio_ours_over_this"] is None


def test_sizes_come_from_the_config():
    cfg = load_config(B.DEFAULT_CONFIG)
    shape = [int(s) for s in cfg["Global"]["image_shape"]]
    opts = B.BenchOptions(models=["googlenet_bn", "inception_v3"], sizes=["config", "default"])
    cases, skipped = B.plan_cases(opts)
    got = {(c["model"], c["size"]): c for c in cases}
    assert got[("googlenet_bn", "config")]["input"] == shape
    assert got[("googlenet_bn", "config")]["num_classes"] == cfg["Arch"]["class_num"]
    assert got[("googlenet_bn", "default")]["input"] == [3, 224, 224]
    assert got[("inception_v3", "default")]["input"] == [3, 299, 299]
    if shape[1] < 75:  # Inception-v3 cannot take a Fashion-MNIST-sized input
        assert ("inception_v3", "config") not in got
        assert any(s["model"] == "inception_v3" and "75" in s["reason"] for s in skipped)


def test_a_failing_framework_is_recorded_not_raised(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("peer exploded")

    monkeypatch.setattr(runner, "_measure_torch", boom)
    opts = B.BenchOptions(batch=2, iters=1, warmup=0, threads=1)
    case = {"model": "googlenet", "size": "32", "input": [3, 32, 32], "num_classes": 1000}
    rec = B.measure(case, "torchvision", "infer", opts, workdir=".")
    assert rec["status"] == "error" and "peer exploded" in rec["error"]
    assert (
        B.format_table(
            {
                "meta": {
                    "options": asdict(opts),
                    "versions": {},
                    "time": "",
                    "cpu": "",
                    "threads": 1,
                    "cpus_available": 1,
                    "mkl": "",
                },
                "peak": {"n": 1},
                "results": B.add_ratios([rec]),
                "skipped": [],
            }
        ).count("ERROR: RuntimeError: peer exploded")
        == 1
    )


def test_bf16_rows_run_the_train_step_or_say_why_not():
    """`ours-bf16` takes the trainer's own precision choice (skipped with its reason where the
    trainer stays in float32); `torchvision-bf16` trains under torch.autocast; both measure
    the train step only."""
    from paddle_inception.engine.precision import choose_precision

    opts = B.BenchOptions(batch=2, iters=1, warmup=0, threads=1)
    case = {"model": "googlenet_bn", "size": "32", "input": [1, 32, 32], "num_classes": 10}
    plan = choose_precision({"use_amp": True, "dtype": "bfloat16"}, "cpu")
    ours = B.measure(case, "ours-bf16", "train", opts, workdir=".")
    if plan.dtype == "bfloat16":
        assert ours["status"] == "ok" and "precision: bfloat16" in ours["note"]
    else:
        assert ours["status"] == "skipped" and ours["error"] == plan.reason
    assert B.measure(case, "ours-bf16", "infer", opts, workdir=".")["status"] == "skipped"
    assert B.main(["--frameworks", "ours,torch-bf16", "--quick"]) == 2
    status = framework_status(["ours-bf16", "torchvision-bf16"])
    assert status["ours-bf16"]["available"]
    assert status["torchvision-bf16"]["available"] == _torchvision_present()
    if not _torchvision_present():
        pytest.skip("torchvision not installed")
    tv = B.measure(case, "torchvision-bf16", "train", opts, workdir=".")
    assert tv["status"] == "ok" and tv["outputs"] == 3, tv.get("error")
    assert "torch.autocast cpu bfloat16" in tv["note"] and "first conv takes 1 ch" in tv["note"]


def test_known_peer_limits_are_skipped():
    case = {"model": "googlenet", "size": "config", "input": [1, 48, 48], "num_classes": 10}
    assert "189-236" in B.peer_skip_reason(case, "paddleclas")
    assert B.peer_skip_reason(dict(case, input=[3, 224, 224]), "paddleclas") is None


def test_bad_options_are_refused(capsys):
    assert B.main(["--tasks", "infer,fly"]) == 2
    assert "--tasks" in capsys.readouterr().err
    assert B.main(["--models", "googlenett", "--quick"]) == 2
    assert "googlenet" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_json_ours_only_with_data(capsys):
    from paddle_inception.data.datasets import FASHION_MNIST_DIRS

    have_data = any(os.path.isdir(os.path.expanduser(d)) for d in FASHION_MNIST_DIRS)
    # the [onnx] extra is optional: the README's test command runs without it
    have_onnx = all(importlib.util.find_spec(n) for n in ("paddle2onnx", "onnxruntime"))
    tasks = [t for t, ok in (("onnx", have_onnx), ("data", have_data)) if ok]
    if not tasks:
        pytest.skip("needs the [onnx] extra (pip install '.[onnx]') or Fashion-MNIST")
    argv = ["--frameworks", "ours", "--tasks", ",".join(tasks), "--data-batches", "1", "--json"]
    assert B.main(TINY + argv) == 0
    out = capsys.readouterr().out
    rep = json.loads(out)  # stdout carries the JSON alone
    rows = {r["task"]: r for r in rep["results"]}
    if have_onnx:
        assert rows["onnx"]["status"] == "ok" and rows["onnx"]["images_per_s"] > 0
    if have_data:
        data = rows["data"]
        assert data["status"] == "ok", data.get("error")
        cfg = load_config(B.DEFAULT_CONFIG)
        assert data["batch"] == cfg["DataLoader"]["Train"]["sampler"]["batch_size"]
        assert data["input"] == [int(s) for s in cfg["Global"]["image_shape"]]
        assert data["images"] == data["batch"] and data["images_per_s"] > 0


@pytest.mark.slow
def test_isolated_measurement_runs_in_a_subprocess(tmp_path):
    opts = B.BenchOptions(batch=2, iters=1, warmup=0, threads=1, timeout=120)
    case = {"model": "googlenet", "size": "32", "input": [3, 32, 32], "num_classes": 1000}
    rec = B.run_isolated(case, "ours", "infer", opts, str(tmp_path))
    assert rec["status"] == "ok", rec.get("error")
    assert rec["rss_scope"] == "measurement" and rec["images_per_s"] > 0
    x, _ = B.make_inputs(case, 2, 0)
    assert rec["input_sha1"] == B.checksum(x)  # the worker made the same inputs


def test_tool_script_help():
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "benchmark.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=checkout_env(),
    )
    assert out.returncode == 0 and "--quick" in out.stdout and "--tasks" in out.stdout


def test_stock_paddleclas_runs_with_paddle_defaults(monkeypatch, tmp_path):
    """'paddleclas-stock' is PaddleClas' model in a process without our MKL variable (when our
    configure_cpu set it, not the user) and, in the worker, without the malloc setting."""
    seen = {}

    class Done:
        stdout, stderr, returncode = "", "", 1

    def fake_run(cmd, **kw):
        seen[json.loads(cmd[-1])["framework"]] = kw["env"].get("MKL_DEBUG_CPU_TYPE")
        return Done()

    monkeypatch.setattr(runner.subprocess, "run", fake_run)
    monkeypatch.setenv("MKL_DEBUG_CPU_TYPE", "6")
    case = {"model": "googlenet", "size": "224", "input": [3, 224, 224], "num_classes": 1000}
    opts = B.BenchOptions(batch=2, iters=1, warmup=0, threads=1)
    for fw in ("paddleclas", B.STOCK):
        B.run_isolated(case, fw, "infer", opts, str(tmp_path), mkl_set_by_us=True)
    assert seen == {"paddleclas": "6", B.STOCK: None}
    B.run_isolated(case, B.STOCK, "infer", opts, str(tmp_path))  # the user's own value stays
    assert seen[B.STOCK] == "6"

    calls = []
    from paddle_inception import runtime

    monkeypatch.setattr(runtime, "configure_cpu", lambda **kw: calls.append(kw) or {})
    monkeypatch.setattr(runtime, "tune_malloc", lambda: calls.append("malloc"))
    monkeypatch.setattr(runner, "measure", lambda *a, **k: {})
    spec = {
        "case": case,
        "framework": B.STOCK,
        "task": "infer",
        "workdir": str(tmp_path),
        "options": asdict(opts),
    }
    runner._worker_main(json.dumps(spec))
    assert calls == [dict(num_threads=1, mkl_amd_fix=False, malloc=False)]
    assert B.peer_skip_reason(dict(case, input=[1, 32, 32]), B.STOCK).startswith("paddleclas")


def test_repeated_rows_keep_the_median_process():
    recs = [
        {"status": "ok", "images_per_s": v, "note": "n", "times_s": [1.0 / v]}
        for v in (30.0, 10.0, 20.0)
    ] + [{"status": "error", "error": "x"}]
    rec = B.median_run(recs)
    assert rec["images_per_s"] == 20.0 and rec["runs_images_per_s"] == [10.0, 20.0, 30.0]
    assert rec["note"] == "n; 3 runs 10.0-30.0"
    assert B.median_run([{"status": "error", "error": "x"}])["status"] == "error"
    opts, _ = B.parse_options(["--repeat", "3"])
    assert opts.repeat == 3
    with pytest.raises(ValueError, match="--repeat"):
        B.parse_options(["--repeat", "0"])


@pytest.mark.slow
def test_worker_rss_is_its_own(tmp_path):
    """An isolated worker reports its own peak RSS, not its (larger) parent's."""
    import numpy as np

    ballast = np.ones(300 << 17)  # 300 MiB resident in this (parent) process
    opts = B.BenchOptions(batch=2, iters=1, warmup=0, threads=1, timeout=120)
    case = {"model": "googlenet", "size": "32", "input": [3, 32, 32], "num_classes": 1000}
    rec = B.run_isolated(case, "ours", "infer", opts, str(tmp_path))
    assert rec["status"] == "ok", rec.get("error")
    assert rec["rss_mib"] < B.rss_mib(), (rec["rss_mib"], B.rss_mib())
    del ballast


def test_call_isolated_returns_the_childs_dict_or_an_error_row():
    """The runner's general API (what benchmarks/deploy.py and others build on): a function run
    in a fresh interpreter, its dict back; a crash becomes an error row naming the exception."""
    payload = {"a": 1, "b": [2.5, "x"]}
    assert runner.call_isolated("builtins:dict", payload, timeout=60) == payload
    rec = runner.call_isolated("json:loads", payload, timeout=60)  # TypeError: not a str
    assert rec["status"] == "error" and "exited with code 1" in rec["error"]
    assert "TypeError" in rec["error"]


def test_benchmark_files_stay_small():
    """The benchmark was one 1,468-line file; each part of the split now reads at once."""
    parts = ["benchmark", "common", "machine", "models", "report", "runner"]
    parts += [f"tasks/{t}" for t in ("__init__", "infer", "export", "onnx", "train", "data")]
    sizes = {}
    for part in parts:
        with open(os.path.join(ROOT, "benchmarks", part + ".py"), encoding="utf-8") as fh:
            sizes[part] = sum(1 for _ in fh)
    assert max(sizes.values()) <= 400, sizes


def test_conv_paths_table_covers_every_conv_of_the_model(capsys):
    """benchmarks/conv_paths.py (the table behind layers.FOLD_MAX_PIXELS) still runs against
    the layers' private rule, and its table counts each conv the train step runs once."""
    import paddle

    import paddle_inception as pi
    from benchmarks import conv_paths

    argv = ["--model", "googlenet_bn", "--size", "32", "--batch", "2", "--repeats", "1"]
    assert conv_paths.main(argv) == 0
    rows = [ln.split() for ln in capsys.readouterr().out.splitlines()]
    rows = [r for r in rows if r and r[-1] in ("folded", "stock")]  # one per conv shape
    model = pi.create_model("googlenet_bn", num_classes=10, in_channels=1)
    convs = [m for m in model.sublayers() if isinstance(m, paddle.nn.Conv2D)]
    assert sum(int(r[-5]) for r in rows) == len(convs)  # column n: how many convs share a shape
