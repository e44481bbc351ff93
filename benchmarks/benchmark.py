"""Speed benchmark (`python benchmarks/benchmark.py`, or `tools/benchmark.py`): our models
against PaddleClas, torchvision and timm implementations of the same architectures, on the same
inputs, in one run.

    python tools/benchmark.py                       # everything (long: tens of minutes on 2 cores)
    python tools/benchmark.py --quick               # a smoke run: few iterations, small inputs
    python tools/benchmark.py --models googlenet_bn --tasks infer,train --sizes config --json

What is measured, per model x input size x task x framework:

- tasks: `infer` (eager, eval mode, no grad), `export` (Paddle Inference with oneDNN for the
  Paddle models, a frozen TorchScript trace for the torch models), `onnx` (ONNX Runtime on the
  CPU; paddle2onnx / torch.onnx), `train` (forward, backward, SGD-momentum step; models with
  auxiliary heads are trained through them: GoogLeNet's three outputs with the 1/0.3/0.3 loss,
  Inception-v3's two with 1/0.3); and `data`: the config's Train DataLoader alone.
- sizes: `config` is `Global.image_shape` and `Arch.class_num` of the config (default
  configs/googlenet.yaml: Fashion-MNIST, 1x32x32, 10 classes; a 3-channel peer gets its first
  conv swapped for one taking the config's channels), `default` the model's ImageNet size
  (224 for GoogLeNet, 299 for Inception-v3/v4; 3 channels, 1000 classes), or a number.
- timing: the median of `--iters` timed iterations after `--warmup` untimed ones; images/s =
  batch / median. Every framework gets the same numpy arrays (same seed, same checksum),
  converted to its tensor type; torch's intra-op threads and ONNX Runtime's are set to
  Paddle's (`--threads`). Peers are built with random weights (no downloads).
- MACs per image: Conv2D and Linear multiply-accumulates of each framework's own model
  (`flops.count_flops` convention), in the mode the task runs (train: with the aux heads).
  Achieved GFLOP/s = 2 * MACs * images/s for inference and 6 * MACs * images/s for training
  (backward ~ 2x forward), as a fraction of the matmul peak measured in the same run (the
  largest of a big `paddle.matmul`, a numpy matmul, an ONNX Runtime matmul and a torch one).
- peak RSS: the process's VmHWM. By default (not `--quick`) every measurement runs in its own
  subprocess, so it is that measurement's alone, a crashing peer cannot take the run down, and
  one framework's thread pools do not linger into another's timing; `--no-isolate` runs
  everything in this process (RSS is then the process peak so far). `--repeat N` runs each
  measurement in N processes and keeps the median one: on a shared cloud CPU a whole process can
  run 1.5x faster or slower than the next one while steady within itself.
- settings: `runtime.configure_cpu` is called before any Paddle computation (the report says
  what it set: MKL code path, malloc, threads) and applies to ours and `paddleclas` alike (the
  malloc setting to the torch workers too), so those ratios compare implementations.
  `paddleclas-stock` runs PaddleClas' models in a process with Paddle's defaults instead
  (threads aside): what a PaddleClas user gets.

Layout: this file is the command line; `runner.py` the shared runner (one measurement, in a
process of its own, the whole run), `tasks/` one module per task, `models.py` the peers and
how they are built, `machine.py` the CPU and its matmul peak, `report.py` the table and JSON,
`common.py` the options and helpers. Nothing here imports Paddle or torch at module import
time, so a torch worker never loads Paddle.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

if not __package__:  # run as a script: its folder off sys.path (tasks/onnx.py is no `onnx`)
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    sys.path.insert(0, os.path.dirname(_HERE))

from benchmarks.common import (  # noqa: E402  (re-exported: the tests' and scripts' API)
    DEFAULT_CONFIG,
    DEFAULT_MODELS,
    FRAMEWORKS,
    KNOWN_FRAMEWORKS,
    STOCK,
    TASKS,
    BenchOptions,
    checksum,
    make_inputs,
    rss_mib,
)
from benchmarks.machine import describe_cpu, measure_peak  # noqa: E402
from benchmarks.models import PEERS, peer_skip_reason, plan_cases  # noqa: E402
from benchmarks.report import add_ratios, format_table, to_json  # noqa: E402
from benchmarks.runner import (  # noqa: E402
    call_isolated,
    measure,
    median_run,
    run_benchmark,
    run_isolated,
)

__all__ = [
    "BenchOptions",
    "TASKS",
    "FRAMEWORKS",
    "PEERS",
    "STOCK",
    "DEFAULT_CONFIG",
    "build_parser",
    "parse_options",
    "plan_cases",
    "peer_skip_reason",
    "make_inputs",
    "checksum",
    "rss_mib",
    "describe_cpu",
    "measure_peak",
    "measure",
    "run_isolated",
    "median_run",
    "call_isolated",
    "run_benchmark",
    "add_ratios",
    "format_table",
    "to_json",
    "main",
]


def _csv(text: str) -> list:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tools/benchmark.py",
        description="Images/s of our models against PaddleClas / torchvision / timm on the same "
        "inputs: eager inference, exported inference (Paddle Inference oneDNN / "
        "TorchScript), ONNX Runtime, a training step, and the config's data loader.",
    )
    p.add_argument(
        "--models",
        default=None,
        metavar="A,B",
        help=f"registry names (default: {','.join(DEFAULT_MODELS)})",
    )
    p.add_argument(
        "--tasks", default=None, metavar="A,B", help=f"subset of {','.join(TASKS)} (default: all)"
    )
    p.add_argument(
        "--frameworks",
        default=None,
        metavar="A,B",
        help=f"subset of {','.join(KNOWN_FRAMEWORKS)} (default: all installed but the "
        "-bf16 rows: the train step in bfloat16, ours where the trainer would use it)",
    )
    p.add_argument(
        "--sizes",
        default=None,
        metavar="A,B",
        help="input sizes: 'config' (Global.image_shape and Arch.class_num of "
        "--config), 'default' (the model's: 224 / 299), or numbers "
        "(3 channels, 1000 classes). Default: config,default (--quick: config)",
    )
    p.add_argument("--batch", type=int, default=None, help="batch size (default 16; --quick 2)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for Paddle, torch and ONNX Runtime (default: all available)",
    )
    p.add_argument(
        "--iters",
        type=int,
        default=None,
        help="timed iterations, the median is reported (default 5; --quick 2)",
    )
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed iterations first (default 2; --quick 1)"
    )
    p.add_argument(
        "--data-batches",
        type=int,
        default=None,
        metavar="N",
        help="data task: time N batches of the Train loader (default 0 = a full pass; --quick 2)",
    )
    p.add_argument(
        "-c",
        "--config",
        default=DEFAULT_CONFIG,
        help="config giving the 'config' size, class count and Train loader "
        "(default configs/googlenet.yaml)",
    )
    p.add_argument(
        "--peak-size",
        type=int,
        default=None,
        metavar="N",
        help="N x N matmul for the peak (default 2048; --quick 512)",
    )
    iso = p.add_mutually_exclusive_group()
    iso.add_argument(
        "--isolate",
        dest="isolate",
        action="store_true",
        default=None,
        help="one subprocess per measurement (default, except with --quick)",
    )
    iso.add_argument(
        "--no-isolate",
        dest="isolate",
        action="store_false",
        help="everything in this process (faster start; RSS is the process peak)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds allowed to one isolated measurement (default 1800)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs and weights")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: batch 2, 2 iterations after 1 warm-up, the config size only, "
        "2 loader batches, a 512 matmul peak, in-process (explicit options win)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each isolated measurement in N processes and keep the median "
        "one (default 1); the table notes the range",
    )
    p.add_argument(
        "--no-malloc-tune",
        dest="malloc_tune",
        action="store_false",
        help="leave glibc's allocator as it is (default: runtime.tune_malloc in "
        "every framework's process alike)",
    )
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="PATH",
        help="write the results as JSON: to stdout instead of the table (bare "
        "--json), or to PATH besides the table",
    )
    return p


def parse_options(argv=None) -> tuple[BenchOptions, argparse.Namespace]:
    args = build_parser().parse_args(argv)
    q = args.quick

    def pick(value, normal, quick):
        return value if value is not None else (quick if q else normal)

    opts = BenchOptions(
        models=_csv(args.models) if args.models else list(DEFAULT_MODELS),
        tasks=_csv(args.tasks) if args.tasks else list(TASKS),
        frameworks=_csv(args.frameworks) if args.frameworks else list(FRAMEWORKS),
        sizes=_csv(args.sizes) if args.sizes else (["config"] if q else ["config", "default"]),
        batch=pick(args.batch, 16, 2),
        threads=args.threads or 0,
        iters=pick(args.iters, 5, 2),
        warmup=pick(args.warmup, 2, 1),
        data_batches=pick(args.data_batches, 0, 2),
        peak_n=pick(args.peak_size, 2048, 512),
        config=args.config,
        isolate=pick(args.isolate, True, False),
        timeout=args.timeout,
        seed=args.seed,
        quick=q,
        malloc_tune=args.malloc_tune,
        repeat=args.repeat,
    )
    bad = [t for t in opts.tasks if t not in TASKS]
    if bad:
        raise ValueError(f"--tasks: unknown {bad}; choose from {', '.join(TASKS)}")
    bad = [f for f in opts.frameworks if f not in KNOWN_FRAMEWORKS]
    if bad:
        raise ValueError(f"--frameworks: unknown {bad}; choose from {', '.join(KNOWN_FRAMEWORKS)}")
    for s in opts.sizes:
        if s not in ("config", "default") and not (s.isdigit() and int(s) > 0):
            raise ValueError(
                f"--sizes: expected 'config', 'default' or a positive integer, got {s!r}"
            )
    opts.sizes = [s if s in ("config", "default") else str(int(s)) for s in opts.sizes]
    for name in ("batch", "iters", "repeat"):
        if getattr(opts, name) < 1:
            raise ValueError(f"--{name}: must be >= 1")
    if opts.warmup < 0 or opts.data_batches < 0 or (args.threads is not None and args.threads < 1):
        raise ValueError("--warmup / --data-batches must be >= 0 and --threads >= 1")
    from paddle_inception import get_model_cfg  # the root registers the models

    opts.models = [get_model_cfg(m)["name"] for m in opts.models]  # unknown: ValueError
    return opts, args


@contextlib.contextmanager
def _stdout_to_stderr():
    """Send everything written to stdout (Python and C++ alike) to stderr meanwhile, so that
    stdout carries only the table or the JSON."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1: nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv=None) -> int:
    try:
        opts, args = parse_options(argv)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from paddle_inception.cli.common import logger, setup_tool_logging

    setup_tool_logging()
    try:
        with _stdout_to_stderr():  # paddle2onnx and others print to stdout (fd 1)
            report = run_benchmark(opts, log=lambda m: logger.info("benchmark: %s", m))
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json == "-":
        print(to_json(report))
    else:
        print(format_table(report))
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                f.write(to_json(report) + "\n")
            print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
