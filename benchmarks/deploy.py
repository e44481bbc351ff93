"""Deployment speed on the CPU: the same network in Paddle Inference (oneDNN) FP32 / BF16 /
INT8, ONNX Runtime FP32 / INT8 and OpenVINO FP32 / INT8, one process per row, rows alternated
round by round, median of `--repeat` processes (img/s).

    python -m benchmarks.deploy [--quick] [--json] [--batches 1 16] [--threads 2]

Every model has random weights (speed does not depend on them); INT8 models are calibrated on
32 standard-normal images (what the preprocessing's normalisation gives on average), through the
library's own `quantize_export`. The ONNX file is our paddle2onnx export (opset 13), the same
one for both peers; OpenVINO INT8 is NNCF's IR of it ("openvino int8"), and ONNX Runtime's QDQ
file is also run in OpenVINO ("openvino int8-qdq"). A row a runtime cannot run says why.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

from benchmarks.common import json_default, time_iterations
from benchmarks.machine import describe_cpu
from benchmarks.runner import call_isolated

#: (model, [C, H, W], classes)
CASES = (
    ("googlenet", [3, 224, 224], 1000),
    ("inception_v3", [3, 299, 299], 1000),
    ("googlenet_bn", [1, 32, 32], 10),
)
QUICK_CASES = (("googlenet_bn", [1, 32, 32], 10),)
#: (runtime, precision, which files): the rows of each case and batch
ROWS = (
    ("paddle", "fp32", "fp32"),
    ("paddle", "bf16", "bf16"),
    ("paddle", "int8", None),
    ("onnxruntime", "fp32", "fp32"),
    ("onnxruntime", "int8", "int8_ort"),
    ("openvino", "fp32", "fp32"),
    ("openvino", "int8", "int8_ov"),
    ("openvino", "int8-qdq", "int8_ort"),
)
PADDLE_INT8_WHY = (
    "Paddle 3.3 PTQ: the converted model fails jit.to_static with a dynamic batch; "
    "with a fixed one Paddle Inference's oneDNN INT8 run stops (docs/deploy.md)"
)


def _tag(case) -> str:
    return f"{case[0]}_{'x'.join(map(str, case[1]))}"


def prepare(payload: dict) -> dict:
    """Export FP32 (+ ONNX), ORT INT8, NNCF INT8 and BF16 copies of each case into
    `workdir` (kept between runs). Returns {tag: {kind: folder or error}}."""
    import paddle

    from paddle_inception.deploy.export import export_inference_model, export_onnx
    from paddle_inception.deploy.imagesets import ImageSet
    from paddle_inception.deploy.quantize import quantize_export
    from paddle_inception.registry import create_model

    out = {}
    for model, shape, classes in payload["cases"]:
        tag = _tag((model, shape))
        base = os.path.join(payload["workdir"], tag)
        fp32 = os.path.join(base, "fp32", "inference")
        res = {"fp32": os.path.dirname(fp32)}
        if not os.path.isfile(fp32 + ".onnx"):
            paddle.seed(0)
            net = create_model(model, num_classes=classes, in_channels=shape[0])
            net.eval()
            export_inference_model(net, fp32, input_shape=shape)
            export_onnx(fp32, opset=13)
        rng = np.random.default_rng(0)
        calib = [rng.standard_normal(shape).astype(np.float32) for _ in range(32)]
        images = ImageSet("32 standard-normal images", 32, False, lambda i: (calib[i], -1))
        for kind, precision, route in (
            ("int8_ort", "int8", "onnxruntime"),
            ("int8_ov", "int8", "openvino"),
            ("bf16", "bf16", None),
        ):
            folder = os.path.join(base, kind)
            if os.path.isfile(os.path.join(folder, "inference_meta.json")):
                res[kind] = folder
                continue
            try:
                quantize_export(fp32, folder, precision, route or "onnxruntime", images)
                res[kind] = folder
            except (ImportError, ValueError) as e:
                res[kind] = {"error": str(e).splitlines()[0]}
        out[tag] = res
    return out


def measure_row(payload: dict) -> dict:
    """One row in this process: open the predictor, time `iters` batches."""
    from paddle_inception.deploy.runtimes import open_predictor
    from paddle_inception.runtime import configure_cpu

    configure_cpu(payload["threads"])  # as the command line does before it runs a model
    pred, _, desc = open_predictor(
        payload["folder"], backend=payload["backend"], threads=payload["threads"]
    )
    x = np.random.default_rng(1).standard_normal([payload["batch"]] + payload["shape"])
    x = x.astype(np.float32)
    times = time_iterations(lambda: pred(x), payload["iters"], payload["warmup"])
    return {"status": "ok", "desc": desc, "times_s": times}


def _row_skip(files: dict, runtime: str, precision: str, kind: str | None) -> str | None:
    from paddle_inception.deploy.runtimes import UnsupportedPrecisionError, check_precision

    if kind is None:
        return PADDLE_INT8_WHY
    if precision == "bf16":
        try:
            check_precision("bf16")
        except UnsupportedPrecisionError as e:
            return str(e)
    entry = files.get(kind)
    if isinstance(entry, dict):
        return entry["error"]
    mod = {"onnxruntime": "onnxruntime", "openvino": "openvino"}.get(runtime)
    if mod:
        import importlib.util

        if importlib.util.find_spec(mod) is None:
            return f'{mod} is not installed: pip install ".[deploy]"'
    return None


def run(opts) -> dict:
    cases = QUICK_CASES if opts.quick else CASES
    if opts.models:
        cases = tuple(c for c in cases if c[0] in opts.models)
    workdir = opts.workdir or os.path.join(tempfile.gettempdir(), "paddle_inception_deploy_bench")
    os.makedirs(workdir, exist_ok=True)
    prep = call_isolated(
        "benchmarks.deploy:prepare",
        {"cases": [list(c) for c in cases], "workdir": workdir},
        opts.timeout * 4,
    )
    if prep.get("status") == "error":
        raise SystemExit(f"error: preparing the models failed: {prep['error']}")
    rows = []
    for case in cases:
        for batch in opts.batches:
            for runtime, precision, kind in ROWS:
                if opts.rows and f"{runtime}:{precision}" not in opts.rows:
                    continue
                row = {
                    "model": case[0],
                    "input": case[1],
                    "batch": batch,
                    "runtime": runtime,
                    "precision": precision,
                    "threads": opts.threads,
                    "times_s": [],
                    "img_s_runs": [],
                }
                why = _row_skip(prep[_tag(case)], runtime, precision, kind)
                row["status"], row["why"] = ("skipped", why) if why else ("ok", None)
                row["folder"] = None if why else prep[_tag(case)][kind]
                rows.append(row)
    for _ in range(opts.repeat):  # round by round: the machine's load hits every row alike
        for row in rows:
            if row["status"] != "ok":
                continue
            res = call_isolated(
                "benchmarks.deploy:measure_row",
                {
                    "folder": row["folder"],
                    "backend": row["runtime"],
                    "threads": opts.threads,
                    "batch": row["batch"],
                    "shape": row["input"],
                    "iters": opts.iters,
                    "warmup": opts.warmup,
                },
                opts.timeout,
            )
            if res.get("status") != "ok":
                row.update(status="error", why=res.get("error"))
                continue
            row["desc"] = res["desc"]
            row["img_s_runs"].append(row["batch"] / statistics.median(res["times_s"]))
    for row in rows:
        if row["img_s_runs"]:
            row["img_s"] = round(statistics.median(row["img_s_runs"]), 2)
        row.pop("times_s", None)
    _add_ratios(rows)
    return {
        "cpu": describe_cpu(),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "threads": opts.threads,
        "repeat": opts.repeat,
        "iters": opts.iters,
        "rows": rows,
    }


def _add_ratios(rows: list) -> None:
    """x Paddle FP32: each row's img/s over the Paddle Inference FP32 row of its case/batch."""
    base = {
        (r["model"], r["batch"]): r.get("img_s")
        for r in rows
        if r["runtime"] == "paddle" and r["precision"] == "fp32"
    }
    for r in rows:
        b = base.get((r["model"], r["batch"]))
        if r.get("img_s") and b:
            r["x_paddle_fp32"] = round(r["img_s"] / b, 2)


def format_table(report: dict) -> str:
    cpu = report["cpu"]
    lines = [
        f"CPU: {cpu['model']} (family {cpu['family']} model {cpu['model_id']}; "
        f"{' '.join(cpu['flags'])}), {report['threads']} threads, median of "
        f"{report['repeat']} processes, {report['date']}, load {report['load_avg_1min']}",
        "",
        f"{'model':<13} {'input':<10} {'batch':>5}  {'runtime':<12} {'precision':<9} "
        f"{'img/s':>8} {'x paddle fp32':>13}",
    ]
    for r in report["rows"]:
        shape = "x".join(map(str, r["input"]))
        head = f"{r['model']:<13} {shape:<10} {r['batch']:>5}  {r['runtime']:<12} "
        head += f"{r['precision']:<9} "
        if r.get("img_s"):
            ratio = r.get("x_paddle_fp32")
            lines.append(head + f"{r['img_s']:>8.1f} {ratio if ratio else '-':>13}")
        else:
            lines.append(head + f"{'-':>8} {'-':>13}  {r['status']}: {r['why']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.deploy", description=__doc__)
    p.add_argument("--quick", action="store_true", help="googlenet_bn 1x32x32 only, 1 round")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3, help="processes per row (median kept)")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per process")
    p.add_argument("--workdir", default=None, help="exported models (kept between runs)")
    p.add_argument("--models", nargs="+", default=None, help="only these models of CASES")
    p.add_argument(
        "--rows", nargs="+", default=None, help="only these rows, e.g. paddle:fp32 openvino:int8"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def main(argv=None) -> int:
    opts = build_parser().parse_args(argv)
    if opts.quick:
        opts.repeat, opts.iters, opts.warmup = 1, 3, 1
    if opts.threads < 1 or opts.repeat < 1 or opts.iters < 1 or min(opts.batches) < 1:
        print("error: --threads, --repeat, --iters and --batches must be >= 1", file=sys.stderr)
        return 2
    report = run(opts)
    if opts.json:
        print(json.dumps(report, indent=1, default=json_default))
    else:
        print(format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
