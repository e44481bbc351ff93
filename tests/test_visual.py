"""VisualDL beyond scalars (issue 14): statistics and rendering as pure functions, then one tiny
training run whose records are read back with visualdl.LogReader and served by a real VisualDL
server, tools/eval.py's report, the README figure script, and the same training results with
and without the pictures."""

import glob
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np
import paddle
import pytest
from conftest import FMNIST, ROOT, checkout_env, needs_fmnist

from paddle_inception.analysis import visual as V
from paddle_inception.config import ConfigError, load_config
from paddle_inception.data.datasets import FASHION_MNIST_CLASSES
from paddle_inception.engine.visual_callbacks import visualdl_options

DEFAULT = os.path.join(ROOT, "configs", "googlenet.yaml")
MISTAKES = 6  # worst-mistakes grid size in the training run below
EMBEDDINGS = 40


def tiny(out, *extra, epochs=2):
    """The default job shrunk to seconds (as tests/test_train.py does)."""
    return [
        f"Global.output_dir={out}",
        f"Global.epochs={epochs}",
        "Global.print_batch_step=1",
        "DataLoader.Train.dataset.num_samples=256",
        "DataLoader.Eval.dataset.num_samples=128",
        "DataLoader.Train.sampler.batch_size=64",
        "DataLoader.Eval.sampler.batch_size=64",
        *extra,
    ]


# ======================================================================= pure functions
def test_confusion_matrix_per_class_metrics_and_table():
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    preds = [0, 0, 1, 1, 0, 1, 1, 1, 1]  # class 2 is never predicted right
    cm = V.confusion_matrix(labels, preds, 4)
    assert cm.tolist() == [[2, 1, 0, 0], [1, 1, 0, 0], [0, 4, 0, 0], [0, 0, 0, 0]]
    m = V.per_class_metrics(cm)
    assert m["support"].tolist() == [3, 2, 4, 0]
    assert m["accuracy"][:3] == pytest.approx([2 / 3, 1 / 2, 0.0])
    assert np.isnan(m["accuracy"][3])  # no images of class 3
    assert m["precision"][:2] == pytest.approx([2 / 3, 1 / 6])
    assert np.isnan(m["precision"][2])  # class 2 never predicted
    assert m["confused_with"].tolist() == [1, 0, 1, -1]
    assert m["overall_accuracy"] == pytest.approx(3 / 9)
    macro = V.macro_averages(m)  # classes with images; unpredicted -> 0
    assert macro["accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert macro["precision"] == pytest.approx((2 / 3 + 1 / 6 + 0) / 3)
    names = ["cat", "dog", "T-shirt/top", "empty"]
    table = V.format_class_table(cm, names)
    rows = table.splitlines()
    assert rows[0].split()[:2] == ["class", "images"] and len(rows) == 2 + 4 + 1 + 2
    assert rows[2].split()[:3] == ["cat", "3", "66.7"] and rows[2].endswith("dog (1)")
    assert rows[4].startswith("T-shirt/top") and rows[4].endswith("dog (4)")
    assert rows[-1] == "overall accuracy 33.3% (3/9)"
    with pytest.raises(ValueError, match="0..3"):
        V.confusion_matrix([4], [0], 4)


def _brute_force_pr(probs, labels, c, t):
    """PR points by definition: threshold k keeps images whose score bucket is >= k."""
    bucket = np.clip(np.floor(probs[:, c] * (t - 1)).astype(int), 0, t - 1)
    pos = labels == c
    tp = np.array([(pos & (bucket >= k)).sum() for k in range(t)])
    fp = np.array([(~pos & (bucket >= k)).sum() for k in range(t)])
    return tp, fp


def test_collector_accumulates_like_one_pass_and_keeps_the_worst_mistakes():
    rng = np.random.default_rng(0)
    n, c, k = 300, 5, 7
    logits = rng.normal(size=(n, c)).astype(np.float32) * 3
    labels = rng.integers(0, c, n)
    images = np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 4, 4))
    col = V.EvalCollector(c, mistakes=k, embeddings=50, num_thresholds=11)
    for s in range(0, n, 64):  # batches of 64, last one short
        feats = rng.normal(size=(min(64, n - s), 8))
        col.add_batch(logits[s : s + 64], labels[s : s + 64, None], images[s : s + 64], feats)
    probs = V._softmax(logits)
    preds = probs.argmax(1)
    assert col.seen == n
    assert (col.cm == V.confusion_matrix(labels, preds, c)).all()
    for cls, cur in enumerate(col.pr_curves()):
        tp, fp = _brute_force_pr(probs, labels, cls, 11)
        assert cur["tp"] == tp.tolist() and cur["fp"] == fp.tolist()
        assert cur["tp"][0] == (labels == cls).sum()  # threshold 0: every image
        assert cur["fn"][0] == 0 and cur["tn"][0] == 0
    # the K most confident wrong predictions, in order, with their own images
    wrong = np.nonzero(preds != labels)[0]
    score = probs[np.arange(n), preds]
    expect = wrong[np.argsort(-score[wrong], kind="stable")][:k]
    got = col.mistakes()
    assert [m["index"] for m in got] == expect.tolist()
    assert [m["true"] for m in got] == labels[expect].tolist()
    assert [m["pred"] for m in got] == preds[expect].tolist()
    assert all(m["image"].shape == (1, 4, 4) and (m["image"] == m["index"]).all() for m in got)
    assert [m["score"] for m in got] == pytest.approx(score[expect].tolist())
    assert len(col._heap) == k  # bounded memory
    assert col.embedding_matrix().shape == (50, 8) and len(col.feature_labels) == 50
    col.reset()
    assert col.seen == 0 and not col.cm.any() and not col.mistakes()


def test_rendered_images_and_captions():
    cm = np.array([[5, 1], [2, 7]])
    img = V.render_confusion_matrix(cm, ["a", "b"], "title")
    assert (
        img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) > 200
    )
    items = [
        dict(
            index=i,
            true=0,
            pred=1,
            score=0.9 - i / 10,
            image=np.random.rand(1, 8, 8).astype(np.float32),
        )
        for i in range(5)
    ]
    grid = V.render_mistakes(items, ["T-shirt/top", "Bag"], cols=4)
    assert grid.dtype == np.uint8 and grid.shape[2] == 3
    assert grid.shape[0] > grid.shape[1] / 4 * 1.5  # two rows of four
    assert V.mistake_captions(items[:1], ["T-shirt/top", "Bag"]) == [
        "true T-shirt/top / pred Bag (0.90)"
    ]
    rgb = [dict(items[0], image=np.random.rand(3, 8, 8))]
    assert V.render_mistakes(rgb, ["x", "y"]).shape[2] == 3
    assert V.render_mistakes([], ["x"]).shape[2] == 3  # "no mistakes"
    curves = [V.pr_curve_counts([0, 1, 3], [4, 1, 0]) for _ in range(2)]
    assert curves[0]["precision"][2] == 1.0 and curves[0]["recall"][0] == 1.0
    assert V.render_pr_curves(curves, ["a", "b"]).shape[2] == 3


def test_tags_hparams_and_class_names():
    tags = V.pr_curve_tags(FASHION_MNIST_CLASSES)
    assert tags[0] == "eval_pr/0_T-shirt_top" and tags[9] == "eval_pr/9_Ankle boot"
    assert len(set(tags)) == 10 and not any("%" in t or t.count("/") != 1 for t in tags)
    assert V.pr_curve_tags([str(i) for i in range(12)])[3] == "eval_pr/03_3"
    cfg = load_config(DEFAULT)
    hp = V.hparams_from_config(cfg)
    assert all(type(v) in (int, float, str) for v in hp.values())  # VisualDL rejects bool
    assert hp["arch"] == "googlenet_bn" and hp["batch_size"] == 128 and hp["lr"] == 0.1
    assert hp["nesterov"] == "True" and hp["label_smoothing"] == 0.1
    assert hp["image_shape"] == "1x32x32" and hp["weight_decay"] == 0.0001
    assert V.class_names_for(10, cfg) == FASHION_MNIST_CLASSES  # the shipped class map
    assert V.class_names_for(3) == ["0", "1", "2"]


def test_visualdl_config_section_defaults_and_errors():
    cfg = load_config(DEFAULT)
    assert cfg["VisualDL"] == visualdl_options(None)
    assert cfg["VisualDL"]["worst_mistakes"] == 16 and cfg["VisualDL"]["embeddings"] == 0
    cfg = load_config(DEFAULT, ["VisualDL.worst_mistakes=4", "VisualDL.histogram_interval=2"])
    assert cfg["VisualDL"]["worst_mistakes"] == 4 and cfg["VisualDL"]["graph"] is True
    with pytest.raises(ConfigError, match="did you mean 'worst_mistakes'"):
        load_config(DEFAULT, ["VisualDL.worst_mistake=4"])
    with pytest.raises(ConfigError, match="VisualDL.embeddings: must be >= 0"):
        load_config(DEFAULT, ["VisualDL.embeddings=-1"])


@pytest.mark.slow
def test_log_graph_works_on_a_copy_and_leaves_the_network_untouched(tmp_path, caplog):
    from visualdl import LogWriter

    import paddle_inception as pi
    from paddle_inception.engine.visual_callbacks import log_graph

    net = pi.create_model("googlenet_bn", num_classes=10, in_channels=1)
    layers = [net] + list(net.sublayers())

    def hooks():
        return sum(len(x._forward_pre_hooks) + len(x._forward_post_hooks) for x in layers)

    names, modes = [x.full_name() for x in layers], [x.training for x in layers]
    flags = paddle.get_flags(["FLAGS_enable_pir_api"])
    rng, np_state = paddle.get_rng_state(), np.random.get_state()
    expect = paddle.rand([4]).numpy(), np.random.rand(4)  # the next draws ...
    paddle.set_rng_state(rng)
    np.random.set_state(np_state)
    with LogWriter(logdir=str(tmp_path)) as w:
        assert log_graph(w, net, [1, 32, 32]) is not None
    assert np.array_equal(paddle.rand([4]).numpy(), expect[0])  # ... are still the next ones
    assert np.array_equal(np.random.rand(4), expect[1])
    assert len(glob.glob(str(tmp_path / "vdlgraph.*.log"))) == 1
    assert [x.full_name() for x in layers] == names and [x.training for x in layers] == modes
    assert hooks() == 0 and paddle.get_flags(["FLAGS_enable_pir_api"]) == flags
    assert not hasattr(net.forward, "concrete_program")  # still eager, not to_static
    log = logging.getLogger("paddle_inception")  # (train() stops its propagation)
    log.addHandler(caplog.handler)
    try:
        with LogWriter(logdir=str(tmp_path / "bad")) as w:  # a failed trace only warns
            assert log_graph(w, net, [7]) is None
    finally:
        log.removeHandler(caplog.handler)
    assert "graph was not written" in caplog.text


# ===================================================================== one training run
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Two tiny runs with the same seed: with every picture on (histograms and embeddings
    too) and with VisualDL off. (Tests using it are marked slow: `-m "not slow"` leaves the
    pure-function tests, a few seconds.)"""
    from paddle_inception.engine.trainer import train

    if not os.path.exists(FMNIST):
        pytest.skip("apt-get install dataset-fashion-mnist")
    root = tmp_path_factory.mktemp("vdl")
    on = train(
        load_config(
            DEFAULT,
            tiny(
                root / "on",
                f"VisualDL.worst_mistakes={MISTAKES}",
                "VisualDL.histogram_interval=1",
                f"VisualDL.embeddings={EMBEDDINGS}",
            ),
        )
    )
    off = train(load_config(DEFAULT, tiny(root / "off", "Global.use_visualdl=False")))
    vdl = root / "on" / "googlenet_bn" / "vdl"
    return dict(
        root=root, on=on, off=off, vdl=vdl, records=sorted(glob.glob(str(vdl / "vdlrecords.*.log")))
    )


def _png_shape(rec):
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(rec.image.encoded_image_string))).shape


@needs_fmnist
@pytest.mark.slow
def test_logging_does_not_change_training_results(run):
    on, off = run["on"], run["off"]
    assert on["history"] == off["history"]  # every train and eval metric, exactly
    a = paddle.load(str(run["root"] / "on" / "googlenet_bn" / "latest" / "model.pdparams"))
    b = paddle.load(str(run["root"] / "off" / "googlenet_bn" / "latest" / "model.pdparams"))
    assert a.keys() == b.keys()
    for k in a:  # weights and BN statistics
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k


@needs_fmnist
@pytest.mark.slow
def test_training_records_read_back(run):
    from visualdl import LogReader

    assert len(run["records"]) == 1  # one run = one record file
    reader = LogReader(file_path=run["records"][0])
    tags = reader.get_tags()
    assert {
        "scalar",
        "image",
        "text",
        "pr_curve",
        "hyper_parameters",
        "histogram",
        "embeddings",
    } <= set(tags)
    assert set(tags["image"]) == {"eval/confusion_matrix", "eval/worst_mistakes"}
    assert set(tags["text"]) == {
        "eval/confusion_matrix_counts",
        "eval/per_class",
        "eval/worst_mistakes_list",
    }
    # confusion matrix: one image per eval epoch, its counts add up to the eval set
    cms = reader.get_data("image", "eval/confusion_matrix")
    assert [r.id for r in cms] == [1, 2]
    h, w, ch = _png_shape(cms[-1])
    assert ch in (3, 4) and h >= 400 and w >= 400
    counts = json.loads(
        reader.get_data("text", "eval/confusion_matrix_counts")[-1].text.encoded_text_string
    )
    cm = np.array(counts["matrix"])
    assert counts["classes"] == FASHION_MNIST_CLASSES and cm.shape == (10, 10)
    assert cm.sum() == 128
    top1 = reader.get_data("scalar", "eval/top1")[-1].value
    assert np.trace(cm) / cm.sum() == pytest.approx(top1, abs=1e-6)
    assert run["on"]["history"][-1]["eval"]["top1"] == pytest.approx(top1, abs=1e-6)
    # per-class accuracy: one scalar per class with images, equal to the matrix's diagonal
    support = cm.sum(1)
    acc_tags = V.class_tags("eval_class_acc", FASHION_MNIST_CLASSES)
    assert acc_tags[0] == "eval_class_acc/0_T-shirt_top"
    assert {t for t in tags["scalar"] if t.startswith("eval_class_acc/")} == {
        t for t, s in zip(acc_tags, support) if s
    }
    for i, tag in enumerate(acc_tags):
        if support[i]:
            recs = reader.get_data("scalar", tag)
            assert [r.id for r in recs] == [1, 2]
            assert recs[-1].value == pytest.approx(cm[i, i] / support[i], abs=1e-6)
    table = reader.get_data("text", "eval/per_class")[-1].text.encoded_text_string
    assert all(name in table for name in FASHION_MNIST_CLASSES)
    # PR curves: one tag per class, each at both epochs; at threshold 0 every image counts
    assert sorted(tags["pr_curve"]) == sorted(V.pr_curve_tags(FASHION_MNIST_CLASSES))
    for i, tag in enumerate(V.pr_curve_tags(FASHION_MNIST_CLASSES)):
        recs = reader.get_data("pr_curve", tag)
        assert [r.id for r in recs] == [1, 2]
        pr = recs[-1].pr_curve
        assert len(pr.TP) == V.PR_THRESHOLDS
        assert pr.TP[0] + pr.FN[0] == support[i] and pr.TP[0] + pr.FP[0] == 128
    # worst mistakes: the configured count, each caption a real confusion of the matrix
    grid = reader.get_data("image", "eval/worst_mistakes")
    assert [r.id for r in grid] == [1, 2] and _png_shape(grid[-1])[0] > 100
    lines = reader.get_data("text", "eval/worst_mistakes_list")[
        -1
    ].text.encoded_text_string.splitlines()
    assert len(lines) == MISTAKES
    for line in lines:
        true, pred = line.split(": ", 1)[1].rsplit(" (", 1)[0].split(" / pred ")
        true = true[len("true ") :]
        assert (
            true != pred
            and cm[FASHION_MNIST_CLASSES.index(true), FASHION_MNIST_CLASSES.index(pred)] > 0
        )
    scores = [float(line.rsplit("(", 1)[1].rstrip(")")) for line in lines]
    assert scores == sorted(scores, reverse=True)
    # hparams: the key hyperparameters and the final metrics' tags
    hp = reader.get_data("hyper_parameters", "hparam")[0].hparam
    names = {i.name for i in hp.hparamInfos}
    assert {"arch", "epochs", "batch_size", "optimizer", "lr", "seed", "train_samples"} <= names
    assert [m.name for m in hp.metricInfos] == ["eval/loss", "eval/top1", "eval/top5", "train/loss"]
    # optional: histograms of weights and gradients every epoch, embeddings at the end
    hist = tags["histogram"]
    assert "weights/conv1.conv.weight" in hist and "grads/conv1.conv.weight" in hist
    assert "grads/aux1.fc2.weight" in hist
    assert [r.id for r in reader.get_data("histogram", "grads/head.fc.weight")] == [1, 2]
    emb = reader.get_data("embeddings", "eval/embeddings")
    assert len(emb) == 1 and len(emb[0].embeddings.embeddings) == EMBEDDINGS
    assert emb[0].embeddings.embeddings[0].label[0] in FASHION_MNIST_CLASSES


@needs_fmnist
@pytest.mark.slow
def test_graph_shows_the_three_output_network(run):
    graphs = glob.glob(str(run["vdl"] / "vdlgraph.*.log"))
    assert len(graphs) == 1
    g = json.load(open(graphs[0]))
    names = [n["name"] for n in g["nodes"]]
    assert sum(n.rsplit("/", 1)[-1].startswith("fetch_") for n in names) == 3  # main, 2 aux
    assert "/GoogLeNet[model]/InceptionAux[aux1]" in names
    assert "/GoogLeNet[model]/InceptionAux[aux2]" in names
    assert "/GoogLeNet[model]/ClassifierHead[head]" in names


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, timeout=20):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def _api(base, path, **query):
    q = ("?" + urllib.parse.urlencode(query)) if query else ""
    status, body = _get(f"{base}/app/api/{path}{q}")
    assert status == 200
    out = json.loads(body)
    assert out["status"] == 0, out
    return out["data"]


@needs_fmnist
@pytest.mark.slow
def test_eval_report_and_visualdl_server(run, capsys):
    """tools/eval.py's report for a checkpoint, an export in the legacy program format, and a
    real VisualDL server (127.0.0.1, free port) listing the runs, components and graph."""
    from paddle_inception.cli.eval import main as eval_main

    root = run["root"]
    best = root / "on" / "googlenet_bn" / "best"
    args = [
        "-c",
        DEFAULT,
        "-o",
        f"Global.output_dir={root / 'on'}",
        "-o",
        f"Global.pretrained_model={best}",
        "-o",
        "DataLoader.Eval.dataset.num_samples=128",
        "-o",
        "DataLoader.Eval.sampler.batch_size=64",
        "-o",
        "VisualDL.worst_mistakes=4",
    ]
    assert eval_main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    res = json.loads(out[-1])  # the JSON result is still the last line
    table = "\n".join(out)
    assert "most often mistaken for" in table and all(n in table for n in FASHION_MNIST_CLASSES)
    report = root / "on" / "googlenet_bn" / "eval"
    for png in ("confusion_matrix.png", "pr_curves.png", "worst_mistakes.png"):
        assert (report / png).stat().st_size > 5000, png
    text = (report / "per_class.txt").read_text()
    assert text.strip().endswith(f"({round(res['top1'] * 128)}/128)")
    from visualdl import LogReader

    reader = LogReader(file_path=glob.glob(str(report / "vdl" / "vdlrecords.*.log"))[0])
    tags = reader.get_tags()
    assert "eval/confusion_matrix" in tags["image"]
    assert sorted(tags["pr_curve"]) == sorted(V.pr_curve_tags(FASHION_MNIST_CLASSES))
    epoch = json.load(open(best / "state.json"))["epoch"]
    assert [r.id for r in reader.get_data("image", "eval/confusion_matrix")] == [epoch]

    # an exported model in the program format VisualDL 2.5.3 draws (README: visualdl --model)
    exported = root / "inference"
    env = dict(checkout_env(), FLAGS_enable_pir_api="0")
    subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "tools", "export_model.py"),
            "-c",
            DEFAULT,
            "-o",
            f"Global.pretrained_model={best}",
            "--output-dir",
            str(exported),
            "--no-check",
        ],
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
    )
    pdmodel = exported / "inference.pdmodel"
    assert pdmodel.stat().st_size > 10000

    logdir = str(root / "on" / "googlenet_bn")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-c",
        "from visualdl.server.app import main; main()",
        "--logdir",
        logdir,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model",
        str(pdmodel),
        "--disable-telemetry",
    ]
    proc = subprocess.Popen(
        cmd, env=checkout_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 90
        while True:
            try:
                if _get(f"{base}/alive", timeout=2)[0] == 204:
                    break
            except OSError:
                pass
            assert proc.poll() is None, "the VisualDL server exited"
            assert time.time() < deadline, "the VisualDL server did not come up in 90 s"
            time.sleep(0.5)
        runs = _api(base, "runs")  # the training run and the eval report
        assert sorted(os.path.relpath(r, logdir) for r in runs) == ["eval/vdl", "vdl"], runs
        vdl = next(r for r in runs if os.path.relpath(r, logdir) == "vdl")
        components = set(_api(base, "components"))
        assert {
            "scalar",
            "image",
            "text",
            "pr_curve",
            "hyper_parameters",
            "histogram",
            "embeddings",
        } <= components, components
        tabs = _api(base, "component_tabs")
        assert {"dynamic_graph", "static_graph", "pr_curve", "image", "hyper_parameters"} <= set(
            tabs
        ), tabs
        scalars = _api(base, "scalar/tags")  # per-class charts, no extra runs
        assert sorted(os.path.relpath(r, logdir) for r in scalars["runs"]) == ["eval/vdl", "vdl"]
        assert set(V.class_tags("eval_class_acc", FASHION_MNIST_CLASSES)) <= set(
            scalars["tags"][scalars["runs"].index(vdl)]
        )
        images = _api(base, "image/tags")
        assert "eval/confusion_matrix" in images["tags"][images["runs"].index(vdl)]
        pr = _api(base, "pr-curve/tags")
        assert len(pr["tags"][pr["runs"].index(vdl)]) == 10
        data = _api(base, "pr-curve/list", run=vdl, tag=V.pr_curve_tags(FASHION_MNIST_CLASSES)[8])
        assert [step[1] for step in data] == [1, 2]  # [walltime, step, points]
        hp = _api(base, "hparams/list")
        assert [h["name"] for h in hp] == [vdl] and hp[0]["hparams"]["arch"] == "googlenet_bn"
        assert hp[0]["metrics"]["eval/top1"] == pytest.approx(
            run["on"]["history"][-1]["eval"]["top1"], abs=1e-6
        )
        graph_runs = _api(base, "graph_runs")  # GRAPHS tab: the training run's graph
        assert [os.path.relpath(r, logdir) for r in graph_runs] == ["vdl"], graph_runs
        status, body = _get(f"{base}/app/api/graph/static_graph")
        assert status == 200 and body == pdmodel.read_bytes()
    finally:
        proc.kill()
        proc.wait(timeout=30)


@needs_fmnist
@pytest.mark.slow
def test_readme_figure_from_the_records(run, tmp_path):
    from paddle_inception.cli import plot_run

    png = tmp_path / "figure.png"
    assert plot_run.main([str(run["vdl"]), "-o", str(png), "--title", "tiny"]) == 0
    from PIL import Image

    h, w = np.asarray(Image.open(png)).shape[:2]
    assert w > 2 * h > 800
    from paddle_inception.analysis.run_figure import plot_run as plot

    shown = plot(str(run["vdl"]), str(tmp_path / "again.png"))
    last = run["on"]["history"][-1]["eval"]
    assert shown["epochs"] == 2 and shown["final_top1"] == pytest.approx(last["top1"], abs=1e-6)
    assert shown["confusion_epoch"] == 2 and shown["confusion_images"] == 128
    assert shown["confusion_accuracy"] == pytest.approx(last["top1"], abs=1e-6)
    assert plot_run.main([str(tmp_path), "-o", str(png)]) == 2  # no records there
