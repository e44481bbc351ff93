"""The training engine: paddle.Model + our loss/metric/callbacks, on small real data."""

import json
import logging
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import paddle
import pytest
from conftest import DEFAULT_CONFIG, ROOT, checkout_env, needs_fmnist, small_job

import paddle_inception as pi
from paddle_inception import runtime
from paddle_inception.cli.train import main as train_main
from paddle_inception.config import load_config
from paddle_inception.engine import callbacks as cb
from paddle_inception.engine.checkpoint import load_checkpoint, resolve_checkpoint
from paddle_inception.engine.losses import GoogLeNetLoss, build_loss
from paddle_inception.engine.metrics import TopkAcc
from paddle_inception.engine.trainer import train

# trains (tiny runs), resumes, starts training processes
pytestmark = pytest.mark.slow


# ---------------------------------------------------------------- loss and metric, unit level
def test_googlenet_loss_weights_aux_heads_by_0_3():
    logits = [paddle.randn([4, 10]) for _ in range(3)]
    label = paddle.to_tensor([[1], [2], [3], [4]], "int64")
    ce = [paddle.nn.functional.cross_entropy(x, label.reshape([-1])).item() for x in logits]
    assert GoogLeNetLoss()(*logits, label).item() == pytest.approx(
        ce[0] + 0.3 * (ce[1] + ce[2]), rel=1e-5
    )
    # eval mode: one output -> plain CE
    assert GoogLeNetLoss()(logits[0], label).item() == pytest.approx(ce[0], rel=1e-5)
    # label smoothing and soft labels agree with the explicit formula
    soft = paddle.nn.functional.one_hot(label.reshape([-1]), 10) * 0.9 + 0.01
    lsm = paddle.nn.functional.log_softmax(logits[0], -1)
    expect = -(soft * lsm).sum(-1).mean().item()
    assert build_loss([{"CELoss": {"epsilon": 0.1}}])(logits[0], label).item() == pytest.approx(
        expect, rel=1e-5
    )
    with pytest.raises(ValueError, match=r"Loss.Train\[0\].*'CELoss'"):
        build_loss([{"CELos": {}}])


def test_topk_accuracy_scores_main_logits_against_labels_not_aux():
    main = paddle.to_tensor([[5.0, 1, 0], [0, 5.0, 1], [1, 0, 5.0], [5.0, 0, 1]])
    aux = paddle.to_tensor([[0, 0, 5.0]] * 4)
    label = paddle.to_tensor([[0], [1], [2], [1]], "int64")  # main is right on 3 of 4
    m = TopkAcc(topk=(1, 2))
    top1, top2 = m.update(m.compute(main, aux, aux, label))
    assert top1 == 0.75 and top2 == 0.75
    # the paddle.metric.Accuracy pitfall our metric avoids: it takes aux1 as the label
    acc = paddle.metric.Accuracy()
    wrong = acc.update(acc.compute(main, aux, aux, label))
    assert wrong != 0.75
    # soft labels (Mixup) are scored by their arg-max
    soft = paddle.nn.functional.one_hot(label.reshape([-1]), 3) * 0.8 + 0.2 / 3
    m2 = TopkAcc(topk=(1,))
    assert m2.update(m2.compute(main, aux, aux, soft)) == 0.75


def test_train_time_accuracy_of_the_three_output_model_is_correct():
    net = pi.create_model(
        "googlenet_bn", num_classes=4, in_channels=1, dropout=0.0, aux_dropout=0.0
    )
    model = paddle.Model(
        net,
        [paddle.static.InputSpec([None, 1, 32, 32], "float32", "image")],
        [paddle.static.InputSpec([None, 1], "int64", "label")],
    )
    opt = paddle.optimizer.SGD(learning_rate=0.0, parameters=net.parameters())  # weights fixed
    model.prepare(opt, build_loss([{"GoogLeNetLoss": {}}]), TopkAcc(topk=(1, 2)))
    x = np.random.rand(16, 1, 32, 32).astype("float32")
    y = np.random.randint(0, 4, (16, 1)).astype("int64")
    loss, (metrics,) = model.train_batch([x], [y])
    net.train()
    main, aux1, aux2 = net(paddle.to_tensor(x))  # same batch, same BN batch stats
    pred = main.numpy().argsort(-1)[:, ::-1]
    expect1 = float((pred[:, 0] == y[:, 0]).mean())
    expect2 = float((pred[:, :2] == y).any(-1).mean())
    assert metrics == pytest.approx([expect1, expect2])


def test_nan_guard_names_the_step():
    guard = cb.NaNGuard(start_epoch=2)
    guard.on_epoch_begin(0)
    guard.on_train_batch_end(0, {"loss": [1.0]})
    with pytest.raises(cb.TrainingDiverged, match="nan at epoch 3, step 5"):
        guard.on_train_batch_end(4, {"loss": [float("nan")]})


# ---------------------------------------------------------------- end to end on Fashion-MNIST
@needs_fmnist
def test_training_reduces_loss_and_writes_checkpoints_and_visualdl(tmp_path):
    cfg = load_config(DEFAULT_CONFIG, small_job(tmp_path, epochs=3, n_train=384))
    summary = train(cfg)
    root = tmp_path / "googlenet_bn"
    hist = summary["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert hist[-1]["train"]["loss"] < hist[0]["train"]["loss"]
    assert 0.0 <= hist[-1]["eval"]["top1"] <= 1.0
    state = json.load(open(root / "latest" / "state.json"))
    assert state["epoch"] == 3 and state["eval"]["top1"] == hist[-1]["eval"]["top1"]
    best = json.load(open(root / "best" / "state.json"))
    assert best["eval"]["top1"] == max(h["eval"]["top1"] for h in hist)
    assert (root / "config.yaml").exists() and (root / "train.log").exists()
    # VisualDL: per-step train scalars and lr, per-epoch eval scalars
    from visualdl import LogReader

    reader = LogReader(file_path=str(next((root / "vdl").glob("vdlrecords.*.log"))))
    tags = reader.get_tags()["scalar"]
    for tag in (
        "train/loss",
        "train/top1",
        "train/top5",
        "train/lr",
        "eval/loss",
        "eval/top1",
        "eval/top5",
    ):
        assert tag in tags, tags
    evals = reader.get_data("scalar", "eval/top1")
    assert [e.id for e in evals] == [1, 2, 3]
    assert evals[-1].value == pytest.approx(hist[-1]["eval"]["top1"], abs=1e-6)
    lrs = [e.value for e in reader.get_data("scalar", "train/lr")]
    assert len(lrs) == 3 * 6 and lrs[-1] < max(lrs)  # 6 steps/epoch, cosine decays
    # tools/eval.py on the best checkpoint reproduces its recorded eval accuracy
    from paddle_inception.engine.trainer import evaluate

    res = evaluate(
        load_config(DEFAULT_CONFIG, small_job(tmp_path, f"Global.pretrained_model={root / 'best'}"))
    )
    assert res["top1"] == pytest.approx(best["eval"]["top1"], abs=1e-6)


@needs_fmnist
def test_resume_continues_exactly_where_it_stopped(tmp_path):
    # run b is trained for one epoch, then resumed with epochs=2: its first epoch is the full
    # run's only if the schedule's first epoch does not depend on the epoch count, i.e. the
    # warm-up spans it exactly (the cosine after it is sized by the epochs)
    one = "Optimizer.lr.warmup_epoch=1"
    full = train(load_config(DEFAULT_CONFIG, small_job(tmp_path / "a", one, epochs=2)))
    first = train(load_config(DEFAULT_CONFIG, small_job(tmp_path / "b", one, epochs=1)))
    assert first["history"][-1]["epoch"] == 1
    # same config but epochs=2, resumed from the epoch-1 checkpoint
    resumed = train(
        load_config(
            DEFAULT_CONFIG,
            small_job(
                tmp_path / "b",
                one,
                f"Global.checkpoints={tmp_path / 'b' / 'googlenet_bn' / 'latest'}",
                epochs=2,
            ),
        )
    )
    assert [h["epoch"] for h in resumed["history"]] == [2]
    a = paddle.load(str(tmp_path / "a" / "googlenet_bn" / "latest" / "model.pdparams"))
    b = paddle.load(str(tmp_path / "b" / "googlenet_bn" / "latest" / "model.pdparams"))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
    assert resumed["history"][-1]["eval"]["top1"] == pytest.approx(
        full["history"][-1]["eval"]["top1"], abs=1e-6
    )


@needs_fmnist
def test_eval_interval_evaluates_every_nth_epoch_and_always_the_last(tmp_path):
    # paddle.Model.fit alone would evaluate epochs 1 and 3 of 3 at eval_freq 2, and skip the
    # last of 4: the run's final accuracy would be that of older weights (or missing)
    summary = train(
        load_config(
            DEFAULT_CONFIG,
            small_job(tmp_path, "Global.eval_interval=2", epochs=3, n_train=128, n_eval=64),
        )
    )
    assert [(h["epoch"], h["eval"] is not None) for h in summary["history"]] == [
        (1, False),
        (2, True),
        (3, True),
    ]
    assert summary["final_eval"] == summary["history"][-1]["eval"]


@needs_fmnist
def test_ema_evaluates_and_saves_the_average_and_resumes_both_weight_sets(tmp_path):
    # warm-up spanning epoch 1: the 1-epoch run's first epoch is the 2-epoch run's (see
    # test_resume_continues_exactly_where_it_stopped)
    ema = ["EMA.decay=0.9", "Optimizer.lr.warmup_epoch=1"]
    full = train(
        load_config(DEFAULT_CONFIG, small_job(tmp_path / "a", *ema, epochs=2, n_train=192))
    )
    root = tmp_path / "a" / "googlenet_bn"
    latest = root / "latest"
    avg = paddle.load(str(latest / "model.pdparams"))
    trn = paddle.load(str(latest / "train.pdparams"))
    assert avg.keys() == trn.keys()
    assert any(not np.allclose(avg[k].numpy(), trn[k].numpy()) for k in avg)
    assert json.load(open(latest / "state.json"))["ema_updates"] == 2 * 3  # 3 steps/epoch
    # the recorded eval accuracy is the averaged weights' (tools/eval.py loads model.pdparams)
    from paddle_inception.engine.trainer import evaluate

    res = evaluate(
        load_config(DEFAULT_CONFIG, small_job(tmp_path, f"Global.pretrained_model={latest}"))
    )
    assert res["top1"] == pytest.approx(full["history"][-1]["eval"]["top1"], abs=1e-6)
    # 1 epoch, then resumed to 2: the same training weights and the same average
    train(load_config(DEFAULT_CONFIG, small_job(tmp_path / "b", *ema, epochs=1, n_train=192)))
    b = tmp_path / "b" / "googlenet_bn"
    train(
        load_config(
            DEFAULT_CONFIG,
            small_job(tmp_path / "b", *ema, f"Global.checkpoints={b / 'latest'}", n_train=192),
        )
    )
    for name in ("model.pdparams", "train.pdparams"):
        x = paddle.load(str(latest / name))
        y = paddle.load(str(b / "latest" / name))
        for k in x:
            np.testing.assert_allclose(
                x[k].numpy(), y[k].numpy(), rtol=1e-4, atol=1e-5, err_msg=f"{name} {k}"
            )


@needs_fmnist
def test_sigkill_then_resume_reaches_the_same_epochs_without_corruption(tmp_path):
    args = [sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", DEFAULT_CONFIG]
    overrides = small_job(tmp_path, epochs=4, n_train=256, n_eval=64)
    cmd = args + sum((["-o", o] for o in overrides), [])
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=checkout_env()
    )
    latest = tmp_path / "googlenet_bn" / "latest"
    deadline = time.time() + 240
    while time.time() < deadline and not (latest.exists() and os.readlink(latest) == "epoch_0002"):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-epoch 3 (or while saving it)
    proc.wait()
    assert latest.exists(), "no checkpoint appeared before the deadline"
    done = load_checkpoint(
        str(latest), pi.create_model("googlenet_bn", num_classes=10, in_channels=1)
    )["epoch"]
    assert done in (2, 3)
    rc = subprocess.run(
        cmd + ["-o", f"Global.checkpoints={latest}"],
        capture_output=True,
        text=True,
        timeout=600,
        env=checkout_env(),
    )
    assert rc.returncode == 0, rc.stderr[-2000:]
    state = json.load(open(latest / "state.json"))
    assert state["epoch"] == 4
    # every checkpoint directory left behind is complete and loadable
    for d in (tmp_path / "googlenet_bn").glob("epoch_*"):
        net = pi.create_model("googlenet_bn", num_classes=10, in_channels=1)
        assert load_checkpoint(str(d), net)["epoch"] == int(d.name.split("_")[1])


@needs_fmnist
def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from paddle_inception.engine import losses

    real = losses.CombinedLoss.forward
    calls = {"n": 0}

    def flaky(self, *inputs):
        calls["n"] += 1
        out = real(self, *inputs)
        return out * float("nan") if calls["n"] > 5 else out  # 4 train + 1 eval step, then NaN

    monkeypatch.setattr(losses.CombinedLoss, "forward", flaky)
    cfg = load_config(DEFAULT_CONFIG, small_job(tmp_path, n_train=256, n_eval=64, epochs=3))
    with pytest.raises(cb.TrainingDiverged, match=r"nan at epoch 2, step 1.*epoch_0001"):
        train(cfg)
    ckpt = resolve_checkpoint(str(tmp_path / "googlenet_bn" / "latest"))
    assert ckpt.endswith("epoch_0001")
    weights = paddle.load(os.path.join(ckpt, "model.pdparams"))
    assert all(np.isfinite(v.numpy()).all() for v in weights.values())


@needs_fmnist
def test_finetune_skips_a_classifier_of_another_size(tmp_path):
    net = pi.create_model("googlenet_bn", num_classes=7, in_channels=1)
    path = str(tmp_path / "w.pdparams")
    paddle.save(net.state_dict(), path)
    cfg = load_config(
        DEFAULT_CONFIG,
        small_job(tmp_path, f"Global.pretrained_model={path}", epochs=1, n_train=64, n_eval=64),
    )
    logs = []
    handler = _ListHandler(logs)
    logging.getLogger("paddle_inception").addHandler(handler)
    try:
        train(cfg)
    finally:
        logging.getLogger("paddle_inception").removeHandler(handler)
    skipped = [m for m in logs if "skipping head.fc.weight" in m]
    assert skipped and "[1024, 7]" in skipped[0] and "[1024, 10]" in skipped[0]
    assert any("skipping aux1.fc2.weight" in m for m in logs)


class _ListHandler(logging.Handler):
    def __init__(self, sink):
        super().__init__()
        self.sink = sink

    def emit(self, record):
        self.sink.append(record.getMessage())


@needs_fmnist
def test_gpu_and_amp_requests_fall_back_to_cpu_with_a_message(tmp_path, capsys):
    if paddle.is_compiled_with_cuda():
        pytest.skip("a CUDA build would really use the GPU")
    rc = train_main(
        ["-c", DEFAULT_CONFIG]
        + sum(
            (
                ["-o", o]
                for o in small_job(
                    tmp_path,
                    "Global.device=gpu",
                    "AMP.use_amp=True",
                    epochs=1,
                    n_train=64,
                    n_eval=64,
                )
            ),
            [],
        )
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "Global.device is 'gpu'" in out and "running on the CPU" in out
    assert "precision: float32: AMP.dtype float16 needs a GPU" in out


def test_cli_rejects_a_bad_override_before_training(tmp_path, capsys):
    assert (
        train_main(["-c", DEFAULT_CONFIG, "-o", "Global.epoch=3"]) == 2
    )  # exit status, no traceback
    err = capsys.readouterr().err
    assert "Global.epoch" in err and "did you mean 'epochs'" in err


def _write_imagenet_like(root, n_per_class=4, classes=3, size=40):
    from PIL import Image

    lines = []
    for c in range(classes):
        os.makedirs(root / f"c{c}", exist_ok=True)
        for i in range(n_per_class):
            arr = (np.random.rand(size, size + 8, 3) * 255).astype("uint8")
            Image.fromarray(arr).save(root / f"c{c}" / f"{i}.png")
            lines.append(f"c{c}/{i}.png {c}")
    (root / "train_list.txt").write_text("\n".join(lines) + "\n")
    return root / "train_list.txt"


@pytest.mark.parametrize(
    "fixture,arch", [("GoogLeNet.yaml", "googlenet"), ("InceptionV3.yaml", "inception_v3")]
)
def test_paddleclas_configs_run_with_only_data_path_overrides(tmp_path, fixture, arch):
    lst = _write_imagenet_like(tmp_path / "data")
    data = [
        f"DataLoader.{m}.dataset.{k}={v}"
        for m in ("Train", "Eval")
        for k, v in (("image_root", tmp_path / "data"), ("cls_label_path", lst))
    ]
    path = os.path.join(ROOT, "tests", "fixtures", "paddleclas", fixture)
    cfg = load_config(
        path,
        data
        + [
            "Arch.class_num=3",
            "Global.epochs=1",
            f"Global.output_dir={tmp_path / 'out'}",
            "DataLoader.Train.sampler.batch_size=4",
            "DataLoader.Eval.sampler.batch_size=4",
            "DataLoader.Train.loader.num_workers=0",
            "DataLoader.Eval.loader.num_workers=0",
        ],
    )
    summary = train(cfg)
    assert summary["arch"] == arch
    assert summary["history"][-1]["epoch"] == 1
    assert math.isfinite(summary["history"][-1]["train"]["loss"])


def _fashion_mnist_configs() -> list:
    """The shipped configs that train on Fashion-MNIST (not finetune_folder.yaml's folders)."""
    folder = os.path.join(ROOT, "configs")
    paths = [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".yaml")]
    return [p for p in paths if "name: FashionMNIST" in open(p, encoding="utf-8").read()]


@pytest.mark.parametrize("path", _fashion_mnist_configs())
def test_shipped_fashion_mnist_configs_load_and_build(path):
    from paddle_inception.engine.trainer import build_network

    cfg = load_config(path)
    net, name = build_network(cfg)
    assert net.num_classes == 10 and net.in_channels == cfg["Global"]["image_shape"][0] == 1
    assert name.startswith("googlenet")


@needs_fmnist
def test_data_parallel_on_cpu_with_two_processes(tmp_path):
    """paddle.distributed.launch with 2 CPU processes (gloo): each rank trains on its shard,
    rank 0 alone writes checkpoints, which load into a plain model. With EMA on: each rank
    averages its (all-reduced, identical) weights; rank 0's checkpoint holds both sets."""
    overrides = small_job(tmp_path / "out", "EMA.decay=0.9", epochs=2, n_train=256, n_eval=64)
    cmd = [
        sys.executable,
        "-m",
        "paddle.distributed.launch",
        "--nproc_per_node",
        "2",
        "--log_dir",
        str(tmp_path / "log"),
        os.path.join(ROOT, "tools", "train.py"),
        "-c",
        DEFAULT_CONFIG,
    ] + sum((["-o", o] for o in overrides), [])
    rc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, cwd=str(tmp_path), env=checkout_env()
    )
    logs = [(tmp_path / "log" / f"workerlog.{r}").read_text() for r in (0, 1)]
    assert rc.returncode == 0, logs[0][-3000:] + logs[1][-3000:]
    threads = max(1, runtime.available_cpus() // 2)  # the two ranks share the cores
    for log in logs:  # 256 images / (2 ranks x batch 64) = 2 steps each
        assert "2 steps/epoch" in log
        assert f"Paddle CPU threads: {threads}" in log, log[-3000:]
    root = tmp_path / "out" / "googlenet_bn"
    state = json.load(open(root / "latest" / "state.json"))
    assert state["epoch"] == 2 and state["ema_updates"] == 4  # 2 epochs x 2 steps
    net = pi.create_model("googlenet_bn", num_classes=10, in_channels=1)
    resumed = load_checkpoint(str(root / "latest"), net, ema_decay=0.9)
    assert resumed["epoch"] == 2 and resumed["ema"].updates == 4
    averaged, trained = resumed["ema"].averaged_state(), net.state_dict()
    name = next(k for k in trained if k.endswith("weight"))  # the stem conv's
    assert not np.allclose(averaged[name].numpy(), trained[name].numpy())
