"""docs/results.md and docs/benchmark.md from the run records in docs/records/
(`python tools/results.py`). Each page keeps its hand-written prose; what lies between a
`<!-- BEGIN generated: NAME -->` and its `<!-- END generated: NAME -->` line is rewritten.

    python tools/results.py                       # rewrite both pages from the records
    python tools/results.py --check               # exit 1 if a page is not what the records give
    python tools/results.py import-run output/googlenet_bn --command "python tools/train.py ..."
    python tools/results.py import-bench bench.json --command "python tools/benchmark.py ..."
"""

from __future__ import annotations

import argparse
import os
import re
import sys

if not __package__:  # run as a script: import the siblings as benchmarks.*
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import records  # noqa: E402
from benchmarks.common import ROOT  # noqa: E402

DOCS = os.path.join(ROOT, "docs")
PAGES = {"results": "results.md", "benchmark": "benchmark.md"}
_FLAG_NAMES = (  # cpuinfo flag -> what the tables show, in this order
    ("avx512f", "AVX-512"),
    ("avx512_vnni", "VNNI"),
    ("avx512_bf16", "BF16"),
    ("amx_tile", "AMX"),
)


# ================================================================================ cells
def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _gflops(g) -> str:
    if g is None:
        return "-"
    if isinstance(g, list):
        return f"{g[0]:g}-{g[1]:g}"
    return f"{g:.0f}" if isinstance(g, float) else str(g)


def _flags(flags: list) -> str:
    names = [name for flag, name in _FLAG_NAMES if flag in flags]
    if not names and "avx2" in flags:
        names = ["AVX2 only"]
    return " ".join(names) or "-"


def _cpu(cpu: dict) -> str:
    label = f"{cpu['label']}: " if cpu.get("label") else ""
    fam = f" ({cpu['family']}/{cpu['model_id']})" if cpu.get("family") is not None else ""
    return f"{label}{cpu['model']}{fam}"


def _pct(v) -> str:
    return f"{100 * v:.2f}"


def _epochs(history: list, epochs: int) -> str:
    """'82.49 86.68 ...' when every epoch was evaluated, else 'epoch: top-1' pairs."""
    done = [(h["epoch"], h["eval"]["top1"]) for h in history if (h.get("eval") or {}).get("top1")]
    if not done:
        return "-"
    if [e for e, _ in done] == list(range(1, epochs + 1)):
        return " ".join(_pct(v) for _, v in done)
    return ", ".join(f"{e}: {_pct(v)}" for e, v in done)


def _config_of(command: str) -> str:
    m = re.search(r"(?:-c|--config)\s+(\S+)", command)
    return m.group(1) if m else "other"


def _table(head: list, rows: list) -> list:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


# ================================================================================ sections
def runs_section(runs: list) -> str:
    """Every train-run record as table rows, one table per config, oldest first."""
    by_config = {}
    for r in runs:
        by_config.setdefault(_config_of(r["command"]), []).append(r)
    out = [f"{len(runs)} runs from {len(by_config)} configs.", ""]
    head = ["date", "CPU", "flags", "GFLOP/s", "commit", "command", "wall", "epochs"]
    head += ["top-1 per epoch", "final top-1 (top-5)", "notes", "record"]
    for config, recs in sorted(by_config.items()):
        rows = []
        for r in recs:
            fe = r["final_eval"]
            final = _pct(fe["top1"]) + (f" ({_pct(fe['top5'])})" if fe.get("top5") else "")
            wall = f"{r['seconds'] / 60:.1f} min" if r["seconds"] else "-"
            rows.append(
                [
                    r["date"],
                    _cpu(r["cpu"]),
                    _flags(r["cpu"]["flags"]),
                    _gflops(r["matmul_gflops"]),
                    f"`{r['commit']}`" if r["commit"] else "-",
                    f"`{r['command']}`",
                    wall,
                    r["epochs"],
                    _epochs(r["history"], r["epochs"]),
                    f"**{final}**",
                    r["notes"] or "-",
                    f"[json]({r['_file']})",
                ]
            )
        out += [f"### `{config}`", ""] + _table(head, rows) + [""]
    return "\n".join(out).rstrip() + "\n"


def _bench_rows(rec: dict) -> list:
    rows = []
    for row in rec["results"]:
        inp = "x".join(map(str, row["input"])) if row.get("input") else "-"
        ok = row["status"] == "ok" and row.get("images_per_s")
        ratio = row.get("ratio_ours_over_this")
        note = row.get("note") or ""
        if row["status"] != "ok":
            note = f"{row['status']}: {row.get('error') or ''}"
        rows.append(
            [
                row["model"],
                inp,
                row["task"],
                row["batch"] if row["batch"] is not None else "-",
                row["framework"],
                f"{row['images_per_s']:.1f}" if ok else "-",
                f"{ratio:.2f}x" if ratio else "",
                note or "",
            ]
        )
    return rows


def _bench_block(rec: dict, level: str = "####") -> list:
    env = " ".join(f"{k}={v}" for k, v in rec["env"].items())
    lines = [
        f"{level} {rec['date']}, CPU {_cpu(rec['cpu'])}" + (f", `{env}`" if env else ""),
        "",
        f"Flags {_flags(rec['cpu']['flags'])}; `paddle.matmul` {_gflops(rec['matmul_gflops'])} "
        f"GFLOP/s; commit {rec['commit'] or 'not recorded'}; {rec['source']} "
        f"([json]({rec['_file']})).",
        f"Command: `{(env + ' ' if env else '') + rec['command']}`.",
    ]
    if rec["notes"]:
        lines.append(f"Notes: {rec['notes']}.")
    meta = rec.get("meta") or {}
    if meta.get("cpu_busy_at_start") is not None:  # a measured record: the load it ran under
        lines.append(
            f"CPUs busy before it started: {100 * meta['cpu_busy_at_start']:.0f}% (1-min load "
            f"{meta.get('loadavg_1min_at_start')}); {meta.get('threads')} threads."
        )
    head = ["model", "input", "task", "batch", "framework", "img/s", "ours/this", "note"]
    return lines + [""] + _table(head, _bench_rows(rec)) + [""]


def _cpu_key(cpu: dict) -> tuple:
    # the flags too: hosts of one CPU model can expose different units (BF16, AMX) to a VM
    flags = tuple(cpu["flags"])
    return (cpu.get("label") or "", cpu["model"], cpu.get("family"), cpu.get("model_id"), flags)


def _latest(benches: list) -> list:
    """Per CPU, the records of its latest day, in CPU order."""
    latest = {}
    for r in benches:  # sorted by date: the last day seen wins
        key = _cpu_key(r["cpu"])
        if key not in latest or latest[key][0]["date"] < r["date"]:
            latest[key] = [r]
        elif latest[key][0]["date"] == r["date"]:
            latest[key].append(r)
    return [rec for key in sorted(latest) for rec in latest[key]]


def latest_section(benches: list) -> str:
    out = [line for rec in _latest(benches) for line in _bench_block(rec)]
    return "\n".join(out).rstrip() + "\n"


def all_benchmarks_section(benches: list) -> str:
    """A line per record, then the records not among the latest in full."""
    head = ["date", "CPU", "flags", "GFLOP/s", "env", "rows", "command", "record"]
    rows = [
        [
            r["date"],
            _cpu(r["cpu"]),
            _flags(r["cpu"]["flags"]),
            _gflops(r["matmul_gflops"]),
            " ".join(f"{k}={v}" for k, v in r["env"].items()) or "-",
            len(r["results"]),
            f"`{r['command']}`",
            f"[json]({r['_file']})",
        ]
        for r in benches
    ]
    shown = {r["_file"] for r in _latest(benches)}
    earlier = [line for r in benches if r["_file"] not in shown for line in _bench_block(r)]
    out = _table(head, rows) + ["", "### Earlier records", ""] + earlier
    return "\n".join(out).rstrip() + "\n"


# ================================================================================ pages
def _fill(text: str, name: str, body: str, page: str) -> str:
    begin, end = f"<!-- BEGIN generated: {name} -->", f"<!-- END generated: {name} -->"
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise records.RecordError(f"{page}: no '{begin}' ... '{end}' markers to fill")
    return text[: i + len(begin)] + "\n" + body + text[j:]


def render(docs: str | None = None, root: str | None = None) -> dict:
    """{page path: the text it should have} for both pages in `docs` (default docs/), from
    the records under `root` (default docs/records/)."""
    docs = docs or DOCS
    recs = records.load_all(root or records.RECORDS)
    sections = {
        "results": {"runs": runs_section(recs["train-run"])},
        "benchmark": {
            "latest": latest_section(recs["benchmark"]),
            "all": all_benchmarks_section(recs["benchmark"]),
        },
    }
    out = {}
    for page, fname in PAGES.items():
        path = os.path.join(docs, fname)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise records.RecordError(f"{path}: not readable ({e.strerror})") from None
        for name, body in sections[page].items():
            text = _fill(text, name, body, path)
        out[path] = text
    return out


def stale(docs: str | None = None, root: str | None = None) -> list:
    """The pages whose text differs from what the records give."""
    bad = []
    for path, text in render(docs, root).items():
        with open(path, encoding="utf-8") as f:
            if f.read() != text:
                bad.append(path)
    return bad


def write_pages(docs: str | None = None, root: str | None = None) -> list:
    pages = render(docs, root)
    for path, text in pages.items():
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return list(pages)


# ================================================================================ CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tools/results.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only say whether the pages are current")
    sub = p.add_subparsers(dest="action")
    for name, what in (
        ("import-run", "a run directory (its summary.json)"),
        ("import-bench", "a tools/benchmark.py --json file"),
    ):
        s = sub.add_parser(name, help=f"add {what} as a record, then rewrite the pages")
        s.add_argument("path")
        s.add_argument("--command", required=True, help="the command that ran, as typed")
        s.add_argument("--notes", default="", help="what a reader needs beside the numbers")
        s.add_argument("--commit", default=None, help="default: this checkout's HEAD")
        s.add_argument("--name", default=None, help="file name of the record (no .json)")
        s.add_argument("--cpu-label", default=None, help="a short CPU name used in the docs")
        if name == "import-run":
            s.add_argument(
                "--gflops",
                type=float,
                default=None,
                help="paddle.matmul GFLOP/s measured in the same session",
            )
            s.add_argument("--date", default=None, help="YYYY-MM-DD (default: summary.json's)")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.action:
            kw = dict(command=args.command, notes=args.notes, commit=args.commit)
            if args.action == "import-run":
                rec = records.import_run(args.path, gflops=args.gflops, date=args.date, **kw)
            else:
                env, cmd = records.split_env(args.command)
                rec = records.import_benchmark(args.path, env=env, **dict(kw, command=cmd))
            if args.cpu_label:
                rec["cpu"] = dict(rec["cpu"], label=args.cpu_label)
            print(f"record {os.path.relpath(records.write(rec, name=args.name), ROOT)}")
        if args.check:
            bad = stale()
            for path in bad:
                print(
                    f"{os.path.relpath(path, ROOT)} is not what docs/records/ gives: "
                    "run python tools/results.py",
                    file=sys.stderr,
                )
            return 1 if bad else 0
        for path in write_pages():
            print(f"wrote {os.path.relpath(path, ROOT)}")
    except records.RecordError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
