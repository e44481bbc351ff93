"""The benchmark's output: the table a person reads (`format_table`) and the JSON a script
reads (`to_json`; every row of the table, with its times, plus the run's meta and peak), and
the ratios between rows (`add_ratios`)."""

from __future__ import annotations

import json

from benchmarks.common import json_default


def add_ratios(results: list, peak_gflops: float | None = None) -> list:
    """Set `ratio_ours_over_this` (ours images/s / this images/s) on each successful peer
    result of the same model, input and task, and `peak_fraction` from `gflops`."""
    ours = {}
    for r in results:
        if r.get("framework") == "ours" and r.get("status") == "ok" and r.get("images_per_s"):
            ours[(r["model"], tuple(r.get("input") or ()), r["task"])] = r["images_per_s"]
    for r in results:
        r["ratio_ours_over_this"] = None
        if r.get("framework") != "ours" and r.get("status") == "ok" and r.get("images_per_s"):
            mine = ours.get((r["model"], tuple(r.get("input") or ()), r["task"]))
            if mine:
                r["ratio_ours_over_this"] = mine / r["images_per_s"]
        if peak_gflops and r.get("gflops"):
            r["peak_fraction"] = r["gflops"] / peak_gflops
    return results


def _fmt(v, spec="{:.1f}", empty="-"):
    return empty if v is None else spec.format(v)


def format_table(report: dict) -> str:
    meta, peak = report["meta"], report["peak"]
    o = meta["options"]
    v = meta["versions"]
    lines = [
        f"paddle_inception benchmark  {meta['time']}  {meta['cpu']}, {meta['threads']} "
        f"thread(s) of {meta['cpus_available']}",
        f"paddle {v.get('paddlepaddle')}, onnxruntime {v.get('onnxruntime')}, torch "
        f"{v.get('torch') or '-'}, torchvision {v.get('torchvision') or '-'}, timm "
        f"{v.get('timm') or '-'}, paddleclas {v.get('paddleclas') or '-'}",
        f"MKL: {meta['mkl']}",
        f"malloc: {meta.get('malloc', '-')}",
        f"matmul peak {peak['n']}x{peak['n']} fp32 GFLOP/s: "
        + ", ".join(
            f"{k} {_fmt(peak.get(k + '_gflops'))}"
            for k in ("paddle", "numpy", "onnxruntime", "torch")
            if k + "_gflops" in peak
        )
        + f" -> peak {_fmt(peak.get('peak_gflops'))}",
        f"batch {o['batch']} (data: the config's), median of {o['iters']} iterations after "
        f"{o['warmup']} warm-up; same seeded inputs for every framework"
        + (f"; each row the median of {o['repeat']} processes" if o.get("repeat", 1) > 1 else "")
        + ("; quick mode" if o.get("quick") else ""),
    ]
    busy = meta.get("cpu_busy_at_start")
    if busy is not None and busy > 0.2:
        lines.append(
            f"WARNING: {100 * busy:.0f}% of the CPUs were busy before the benchmark "
            f"started (1-min load {meta.get('loadavg_1min_at_start')}): timings are "
            f"low and noisy; OpenMP thread teams suffer most when oversubscribed"
        )
    for s in report.get("skipped", []):
        what = (
            s.get("model")
            and f"{s['model']} {s.get('size')} {'x'.join(map(str, s.get('input') or []))}"
            or s["framework"]
        )
        lines.append(f"skipped: {what}: {s['reason']}")
    head = [
        "model",
        "input",
        "task",
        "framework",
        "impl",
        "img/s",
        "ours/this",
        "MMAC/img",
        "GFLOP/s",
        "%peak",
        "RSS MiB",
        "note",
    ]
    rows = []
    for r in report["results"]:
        inp = "x".join(map(str, r["input"])) if r.get("input") else "-"
        if r.get("num_classes") and r["num_classes"] != 1000:
            inp += f"/{r['num_classes']}"
        note = r.get("note") or ""
        if r.get("status") != "ok":
            note = f"{r['status'].upper()}: {r.get('error')}"
        ratio = r.get("ratio_ours_over_this")
        rows.append(
            [
                r.get("model", "-"),
                inp,
                r["task"],
                r["framework"],
                r.get("impl", ""),
                _fmt(r.get("images_per_s")) if r.get("status") == "ok" else "-",
                f"{ratio:.2f}x" if ratio else "",
                _fmt(r["macs_per_image"] / 1e6 if r.get("macs_per_image") else None),
                _fmt(r.get("gflops")),
                _fmt(100 * r["peak_fraction"] if r.get("peak_fraction") else None, "{:.0f}%"),
                _fmt(r.get("rss_mib"), "{:.0f}"),
                note[:90],
            ]
        )
    widths = (
        [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        if rows
        else [len(h) for h in head]
    )
    right = {5, 6, 7, 8, 9, 10}

    def line(cells):
        return "  ".join(
            (str(c).rjust(w) if i in right else str(c).ljust(w))
            for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    lines += ["", line(head), line(["-" * w for w in widths])]
    prev = None
    for cells in rows:
        key = tuple(cells[:3])
        shown = [
            c if prev is None or i > 2 or key[: i + 1] != prev[: i + 1] else ""
            for i, c in enumerate(cells)
        ]
        lines.append(line(shown))
        prev = key
    lines += [
        "",
        "img/s: batch / median iteration time (data: images / loader time). ours/this: "
        "our img/s over this framework's (> 1: ours is faster).",
        "MMAC/img: conv + linear multiply-accumulates of each framework's own model "
        "(train: with aux heads). GFLOP/s = 2 x MACs x img/s (train: 6 x).",
        "%peak: GFLOP/s over the matmul peak above. RSS: peak resident memory of "
        + (
            "that measurement's process."
            if meta.get("rss_scope") == "measurement"
            else "this process so far (--isolate: per measurement)."
        ),
    ]
    return "\n".join(lines)


def to_json(report: dict) -> str:
    return json.dumps(report, indent=1, default=json_default)
