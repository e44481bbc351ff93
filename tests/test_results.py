"""docs/results.md and docs/benchmark.md are generated from docs/records/ (tools/results.py):
the committed pages are exactly what the records give, a record is validated with an error
naming the file and the key, and what a run and the benchmark write import as records."""

import json
import os
import shutil

import pytest
from conftest import FMNIST, ROOT

from benchmarks import records, results

DOCS = os.path.join(ROOT, "docs")


@pytest.fixture
def docs_copy(tmp_path):
    """docs/'s two pages and its records, copied: (docs dir, records dir)."""
    d = tmp_path / "docs"
    d.mkdir()
    for page in results.PAGES.values():
        shutil.copy(os.path.join(DOCS, page), d / page)
    shutil.copytree(records.RECORDS, d / "records")
    return str(d), str(d / "records")


def _record(kind="runs", name="2026-12-05_F_default.json"):
    with open(os.path.join(records.RECORDS, kind, name), encoding="utf-8") as f:
        return json.load(f)


def test_committed_pages_are_what_the_records_give():
    assert results.stale() == [], "run python tools/results.py and commit the pages"
    assert results.main(["--check"]) == 0
    # issue 27's run is a row: its CPU, wall time, curve and final figure, from its record
    page = open(os.path.join(DOCS, "results.md"), encoding="utf-8").read()
    row = next(line for line in page.splitlines() if "(6/207)" in line and "24.4 min" in line)
    assert "82.49 86.68 89.81 88.48 91.19 91.98 92.29 92.30" in row and "**92.30**" in row
    assert "AVX-512 VNNI BF16 AMX" in row


def test_every_record_has_its_row():
    recs = records.load_all()
    page = open(os.path.join(DOCS, "results.md"), encoding="utf-8").read()
    bench = open(os.path.join(DOCS, "benchmark.md"), encoding="utf-8").read()
    assert len(recs["train-run"]) >= 18 and len(recs["benchmark"]) >= 12
    for r in recs["train-run"]:
        assert f"[json]({r['_file']})" in page and os.path.isfile(os.path.join(DOCS, r["_file"]))
    for r in recs["benchmark"]:
        assert bench.count(f"[json]({r['_file']})") == 2  # the list and its full block


def test_a_record_without_its_page_and_a_hand_edit_are_caught(docs_copy):
    docs, root = docs_copy
    rec = dict(_record(), date="2026-12-07", notes="a new run")
    records.write(rec, root=root, name="2026-12-07_new")
    assert results.stale(docs, root) == [os.path.join(docs, "results.md")]
    results.write_pages(docs, root)
    assert results.stale(docs, root) == []
    page = os.path.join(docs, "results.md")
    text = open(page, encoding="utf-8").read()
    assert "| 2026-12-07 |" in text and "a new run" in text
    # a figure changed by hand between the markers: caught; prose outside them: kept
    open(page, "w", encoding="utf-8").write(text.replace("**92.30**", "**92.50**", 1))
    assert results.stale(docs, root) == [page]
    edited = text.replace("# Results: every measured training run", "# Results (edited)")
    open(page, "w", encoding="utf-8").write(edited)
    assert results.stale(docs, root) == []
    results.write_pages(docs, root)
    assert open(page, encoding="utf-8").read() == edited


@pytest.mark.parametrize(
    "kind, key",
    [
        ("runs", "date"),
        ("runs", "cpu"),
        ("runs", "command"),
        ("runs", "commit"),
        ("runs", "final_eval"),
        ("runs", "history"),
        ("benchmarks", "results"),
        ("benchmarks", "env"),
    ],
)
def test_a_missing_field_is_named_with_the_file(tmp_path, kind, key):
    name = "2026-12-05_F_default.json" if kind == "runs" else "2026-12-03_D_train.json"
    rec = _record(kind, name)
    del rec[key]
    (tmp_path / kind).mkdir()
    (tmp_path / kind / "broken.json").write_text(json.dumps(rec))
    with pytest.raises(records.RecordError, match=rf"broken\.json: missing '{key}' \(") as e:
        records.load_all(str(tmp_path))
    assert "\n" not in str(e.value)


def test_wrong_values_are_refused_with_the_key():
    good = _record()
    cases = [
        (dict(good, epochs="8"), "'epochs' is a str; expected epochs trained"),
        (dict(good, date="12/05/2026"), "'date' is '12/05/2026'; expected YYYY-MM-DD"),
        (dict(good, final_eval={"top1": 92.3}), "'final_eval.top1' must be a fraction"),
        (dict(good, final_eval={"top1": 0.9229}), "differs from epoch 8's 0.923"),
        (dict(good, matmul_gflops=[1, 2, 3]), "'matmul_gflops' list must be"),
        (dict(good, cpu={"model": "x", "family": 6, "model_id": 1}), "cpu: missing 'flags'"),
        (dict(good, record="run"), "'record' is 'run'"),
    ]
    for rec, msg in cases:
        with pytest.raises(records.RecordError, match=msg.replace("(", r"\(")):
            records.validate(rec, "r.json")


def test_cli_errors_are_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "bad.json").write_text("{not json")
    monkeypatch.setattr(records, "RECORDS", str(tmp_path))
    assert results.main(["--check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.json: not readable as JSON" in err
    assert err.count("\n") == 1
    assert results.main(["import-run", str(tmp_path), "--command", "x"]) == 2
    assert "summary.json not found" in capsys.readouterr().err


def test_a_record_is_not_overwritten(tmp_path):
    rec = _record()
    records.write(rec, root=str(tmp_path), name="one")
    with pytest.raises(records.RecordError, match="exists"):
        records.write(rec, root=str(tmp_path), name="one")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(FMNIST), reason="apt-get install dataset-fashion-mnist")
def test_a_training_runs_summary_imports_as_a_record(tmp_path, docs_copy):
    """What engine.trainer writes (summary.json) is a record once where-and-how is added."""
    from paddle_inception.config import load_config
    from paddle_inception.engine.trainer import train

    overrides = [
        f"Global.output_dir={tmp_path / 'out'}",
        "Global.epochs=1",
        "DataLoader.Train.dataset.num_samples=64",
        "DataLoader.Eval.dataset.num_samples=64",
        "DataLoader.Train.sampler.batch_size=64",
        "DataLoader.Eval.sampler.batch_size=64",
    ]
    summary = train(load_config(os.path.join(ROOT, "configs", "googlenet.yaml"), overrides))
    run_dir = str(tmp_path / "out" / summary["arch"])
    rec = records.import_run(run_dir, command="python tools/train.py -c configs/googlenet.yaml")
    written = json.load(open(os.path.join(run_dir, "summary.json")))
    assert {k: rec[k] for k in written} == written  # a superset of summary.json
    assert rec["cpu"]["family"] is not None and rec["record"] == "train-run"
    docs, root = docs_copy
    records.write(rec, root=root, name="tiny")
    results.write_pages(docs, root)
    page = open(os.path.join(docs, "results.md"), encoding="utf-8").read()
    row = next(line for line in page.splitlines() if "records/runs/tiny.json" in line)
    assert f"**{100 * written['final_eval']['top1']:.2f}" in row
    assert f"{written['seconds'] / 60:.1f} min" in row


@pytest.mark.slow
def test_benchmark_json_imports_as_a_record(tmp_path):
    from benchmarks import benchmark as B

    argv = ["--quick", "--models", "googlenet", "--sizes", "32", "--frameworks", "ours"]
    argv += ["--tasks", "infer", "--iters", "1", "--warmup", "0", "--threads", "1"]
    opts, _ = B.parse_options(argv + ["--peak-size", "128"])
    path = tmp_path / "bench.json"
    path.write_text(B.to_json(B.run_benchmark(opts)))
    rec = records.import_benchmark(str(path), command="python tools/benchmark.py " + " ".join(argv))
    assert rec["matmul_gflops"] == rec["peak"]["paddle_gflops"] > 0
    assert rec["cpu"] == rec["meta"]["cpu_detail"] and rec["results"][0]["status"] == "ok"
    block = "\n".join(results._bench_block(dict(rec, _file="x.json")))
    assert (
        f"| googlenet | 3x32x32 | infer | 2 | ours | {rec['results'][0]['images_per_s']:.1f} |"
        in block
    )


def test_env_is_split_from_the_command():
    env, cmd = records.split_env("MKL_DEBUG_CPU_TYPE=5 A=b python tools/benchmark.py --x 1")
    assert env == {"MKL_DEBUG_CPU_TYPE": "5", "A": "b"} and cmd == "python tools/benchmark.py --x 1"
