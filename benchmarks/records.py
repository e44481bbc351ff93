"""Run records: one JSON file per measured run under docs/records/, the source of
docs/results.md and docs/benchmark.md (`benchmarks/results.py` writes those pages).

Two kinds, told apart by "record":

- "train-run" (docs/records/runs/): a training run. Its keys are a superset of the
  `summary.json` a run writes into its run directory (arch, epochs, seconds, final_eval,
  best_metric, history, output_dir), plus where and how it ran: date, cpu, matmul_gflops,
  commit, command, source, notes. `import_run` turns a run directory into one.
- "benchmark" (docs/records/benchmarks/): rows of `tools/benchmark.py --json` (its "results",
  "meta" and "peak" kept as they are) plus the same where-and-how keys and `env` (variables
  set on the command line). `import_benchmark` turns such a JSON file into one.

Figures copied from older write-ups say so in "source"; a figure that was estimated, not
measured, has no record.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time

from benchmarks.common import ROOT

RECORDS = os.path.join(ROOT, "docs", "records")
KINDS = {"train-run": "runs", "benchmark": "benchmarks"}
MAX_RECORD_BYTES = 4 << 20  # a record is a few KiB; refuse anything absurd

# key -> (accepted types, what the key is: shown when it is missing or wrong)
_COMMON = {
    "record": (str, "the record kind, 'train-run' or 'benchmark'"),
    "date": (str, "the day of the run, YYYY-MM-DD"),
    "cpu": (dict, "the CPU: {model, family, model_id, flags, ...} (machine.describe_cpu)"),
    "matmul_gflops": (
        (int, float, list, type(None)),
        "paddle.matmul 2048^2 GFLOP/s, [lo, hi] or null",
    ),
    "commit": ((str, type(None)), "the commit the code was at, or null when not recorded"),
    "command": (str, "the command that ran, as typed"),
    "source": (str, "where the figures come from (a measured file, or the write-up copied)"),
    "notes": (str, "what a reader needs beside the numbers ('' for nothing)"),
}
_CPU = {
    "model": (str, "the CPU's model name (/proc/cpuinfo)"),
    "family": ((int, type(None)), "cpu family (/proc/cpuinfo), or null"),
    "model_id": ((int, type(None)), "model number (/proc/cpuinfo), or null"),
    "flags": (list, "the flags of machine.FLAGS_THAT_MATTER the CPU has"),
}
_TRAIN = {
    "arch": (str, "the model's registry name (summary.json)"),
    "epochs": (int, "epochs trained (summary.json)"),
    "seconds": ((int, float, type(None)), "wall time in seconds (summary.json), or null"),
    "final_eval": (dict, "eval metrics after the last epoch, top1 as a fraction (summary.json)"),
    "history": (list, "[{epoch, eval: {top1, ...}}] per evaluated epoch (summary.json)"),
}
_BENCH = {
    "env": (dict, "environment variables set on the command line ({} for none)"),
    "results": (list, "the rows of tools/benchmark.py --json"),
}
_ROW = {
    "model": (str, "registry name"),
    "input": ((list, type(None)), "[C, H, W]"),
    "task": (str, "infer, export, onnx, train or data"),
    "framework": (str, "ours, paddleclas, paddleclas-stock, torchvision or timm (or -bf16)"),
    "batch": ((int, type(None)), "batch size"),
    "status": (str, "ok, skipped or error"),
}
_OK_ROW = {"images_per_s": ((int, float, type(None)), "images/s")}  # a skipped row has none


class RecordError(ValueError):
    """A record that is not readable or lacks a key; the message names the file and the key."""


def _check(obj: dict, spec: dict, where: str) -> None:
    for key, (types, what) in spec.items():
        if key not in obj:
            raise RecordError(f"{where}: missing '{key}' ({what})")
        if not isinstance(obj[key], types) or isinstance(obj[key], bool):
            got = type(obj[key]).__name__
            raise RecordError(f"{where}: '{key}' is a {got}; expected {what}")


def validate(rec: dict, where: str = "record") -> dict:
    """`rec` itself when it is a complete record of its kind; RecordError naming the key if not."""
    if not isinstance(rec, dict):
        raise RecordError(f"{where}: not a JSON object")
    _check(rec, _COMMON, where)
    if rec["record"] not in KINDS:
        raise RecordError(
            f"{where}: 'record' is {rec['record']!r}; expected {_COMMON['record'][1]}"
        )
    if not re.fullmatch(r"\d{4}-\d\d-\d\d", rec["date"]):
        raise RecordError(f"{where}: 'date' is {rec['date']!r}; expected YYYY-MM-DD")
    _check(rec["cpu"], _CPU, f"{where}: cpu")
    g = rec["matmul_gflops"]
    if isinstance(g, list) and not (len(g) == 2 and all(isinstance(v, (int, float)) for v in g)):
        raise RecordError(f"{where}: 'matmul_gflops' list must be [lo, hi], got {g!r}")
    if rec["record"] == "train-run":
        _check(rec, _TRAIN, where)
        top1 = rec["final_eval"].get("top1")
        if not isinstance(top1, (int, float)) or not 0 <= top1 <= 1:
            raise RecordError(
                f"{where}: 'final_eval.top1' must be a fraction in [0, 1], got {top1!r}"
            )
        for i, h in enumerate(rec["history"]):
            if not isinstance(h, dict) or not isinstance(h.get("epoch"), int):
                raise RecordError(f"{where}: history[{i}] needs an integer 'epoch'")
        last = [h for h in rec["history"] if h["epoch"] == rec["epochs"] and h.get("eval")]
        if last and last[0]["eval"].get("top1") != top1:  # summary.json: final_eval = last eval
            raise RecordError(
                f"{where}: 'final_eval.top1' {top1} differs from epoch {rec['epochs']}'s "
                f"{last[0]['eval'].get('top1')} in 'history'"
            )
    else:
        _check(rec, _BENCH, where)
        for i, row in enumerate(rec["results"]):
            _check(row, _ROW, f"{where}: results[{i}]")
            if row["status"] == "ok":
                _check(row, _OK_ROW, f"{where}: results[{i}]")
    return rec


def load(path: str) -> dict:
    """One record, read with a size bound and validated."""
    try:
        if os.path.getsize(path) > MAX_RECORD_BYTES:
            raise RecordError(f"{path}: larger than {MAX_RECORD_BYTES >> 20} MiB; not a record")
        with open(path, encoding="utf-8") as f:
            rec = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(f"{path}: not readable as JSON ({e})") from None
    return validate(rec, os.path.relpath(path, ROOT) if path.startswith(ROOT) else path)


def load_all(root: str | None = None) -> dict:
    """{"train-run": [...], "benchmark": [...]}, each sorted by date then file name; every
    record gains "_file" (its path relative to `root`'s parent's parent, for links)."""
    out = {kind: [] for kind in KINDS}
    for kind, folder in KINDS.items():
        d = os.path.join(root or RECORDS, folder)
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if name.endswith(".json"):
                rec = load(os.path.join(d, name))
                if rec["record"] != kind:
                    raise RecordError(f"{folder}/{name}: a '{rec['record']}' record in {folder}/")
                out[kind].append(dict(rec, _file=f"records/{folder}/{name}"))
        out[kind].sort(key=lambda r: (r["date"], r["_file"]))
    return out


def write(rec: dict, root: str | None = None, name: str | None = None) -> str:
    """Validate `rec` and write it as docs/records/<kind folder>/<name>.json; returns the path.
    An existing file is not overwritten (a record is a fact: correct it by hand)."""
    validate(rec)
    stem = (
        name
        or f"{rec['date']}_{rec.get('cpu', {}).get('label') or 'cpu'}_{rec.get('arch', 'bench')}"
    )
    path = os.path.join(
        root or RECORDS, KINDS[rec["record"]], re.sub(r"[^A-Za-z0-9_.-]+", "-", stem) + ".json"
    )
    if os.path.exists(path):
        raise RecordError(f"{path} exists; give another --name")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    body = {k: v for k, v in rec.items() if not k.startswith("_")}
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(body, indent=1) + "\n")
    return path


def _head_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def _where(
    command: str,
    notes: str,
    source: str,
    commit: str | None,
    cpu: dict | None,
    gflops,
    date: str | None,
) -> dict:
    from benchmarks.machine import describe_cpu

    return {
        "date": date or time.strftime("%Y-%m-%d"),
        "cpu": cpu or describe_cpu(),
        "matmul_gflops": gflops,
        "commit": commit if commit is not None else _head_commit(),
        "command": command,
        "source": source,
        "notes": notes,
    }


def import_run(
    run_dir: str,
    command: str,
    notes: str = "",
    commit: str | None = None,
    cpu: dict | None = None,
    gflops=None,
    date: str | None = None,
) -> dict:
    """A train-run record from a run directory's summary.json (every key kept) and this
    machine's description; `date` defaults to summary.json's modification day."""
    path = os.path.join(run_dir, "summary.json")
    if not os.path.isfile(path):
        raise RecordError(
            f"{path} not found: point at the run directory (output_dir/<arch>/) "
            "of a run that finished"
        )
    summary = load_json_bounded(path)
    day = date or time.strftime("%Y-%m-%d", time.localtime(os.path.getmtime(path)))
    rec = dict(
        summary,
        record="train-run",
        **_where(command, notes, f"measured: {path}", commit, cpu, gflops, day),
    )
    return validate(rec, path)


def import_benchmark(
    json_path: str,
    command: str,
    notes: str = "",
    env: dict | None = None,
    commit: str | None = None,
    cpu: dict | None = None,
) -> dict:
    """A benchmark record from `tools/benchmark.py --json` output: its meta, peak and results
    kept; the CPU from its meta (cpu_detail), the day from its time."""
    rep = load_json_bounded(json_path)
    if not isinstance(rep, dict) or not {"meta", "peak", "results"} <= set(rep):
        raise RecordError(
            f"{json_path}: not tools/benchmark.py --json output (meta, peak, results)"
        )
    meta = rep["meta"]
    cpu = (
        cpu
        or meta.get("cpu_detail")
        or {"model": meta.get("cpu", "?"), "family": None, "model_id": None, "flags": []}
    )
    rec = dict(
        rep,
        record="benchmark",
        env=env or {},
        **_where(
            command,
            notes,
            f"measured: tools/benchmark.py --json ({os.path.basename(json_path)})",
            commit,
            cpu,
            rep["peak"].get("paddle_gflops"),
            str(meta.get("time", ""))[:10],
        ),
    )
    return validate(rec, json_path)


def load_json_bounded(path: str):
    if os.path.getsize(path) > MAX_RECORD_BYTES:
        raise RecordError(f"{path}: larger than {MAX_RECORD_BYTES >> 20} MiB")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(f"{path}: not readable as JSON ({e})") from None


def split_env(command: str) -> tuple[dict, str]:
    """('VAR=1 python x.py' ->) ({'VAR': '1'}, 'python x.py')."""
    words, env = shlex.split(command), {}
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        k, _, v = words.pop(0).partition("=")
        env[k] = v
    return env, " ".join(words)
