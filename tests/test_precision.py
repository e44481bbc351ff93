"""Training precision (issue 31): what `AMP` asks for, what runs, why; the bfloat16 path keeps
float32 master weights."""

import contextlib
import json

import paddle
import pytest
from conftest import DEFAULT_CONFIG, needs_fmnist, small_job

from paddle_inception.cli.train import main as train_main
from paddle_inception.engine import precision as prec
from paddle_inception.engine import trainer
from paddle_inception.engine.precision import Precision, autocast_forward, choose_precision
from paddle_inception.runtime import BF16_FLAGS

BF16_CPU = {"avx512f", "avx512_bf16"}
NO_BF16_CPU = {"avx2", "fma", "avx512f", "avx512_vnni"}
BF16 = {"use_amp": True, "dtype": "bfloat16"}


def test_precision_follows_the_amp_section_and_the_device():
    assert choose_precision(None, "cpu").dtype == "float32"
    assert choose_precision({"use_amp": False, "dtype": "bfloat16"}, "cpu").dtype == "float32"
    assert choose_precision({"use_amp": True, "level": "O0"}, "gpu:0").dtype == "float32"
    gpu16 = choose_precision({"use_amp": True}, "gpu:0")
    assert (gpu16.dtype, gpu16.level) == ("float16", "O1")
    gpu_bf16 = choose_precision(BF16, "gpu:0")
    assert (gpu_bf16.dtype, gpu_bf16.level) == ("bfloat16", "O1")
    gpu_bf16_o2 = choose_precision(dict(BF16, level="O2"), "gpu:0")
    assert (gpu_bf16_o2.dtype, gpu_bf16_o2.level) == ("bfloat16", "O1")
    assert "O2 asked" in gpu_bf16_o2.reason
    cpu16 = choose_precision({"use_amp": True}, "cpu")
    assert cpu16.dtype == "float32" and "needs a GPU" in cpu16.reason


def test_bfloat16_on_a_cpu_without_the_instructions_stays_float32_naming_them():
    p = choose_precision(BF16, "cpu", flags=NO_BF16_CPU)
    assert p.dtype == "float32" and not p.low
    assert all(f in p.reason for f in BF16_FLAGS) and "emulated" in p.reason
    assert p.describe().startswith("precision: float32: AMP.dtype bfloat16 asked")


def test_bfloat16_on_a_bf16_cpu_depends_on_paddles_kernels(monkeypatch):
    monkeypatch.setattr(prec, "missing_cpu_bf16_kernels", lambda ops=prec.BF16_OPS: [])
    p = choose_precision(BF16, "cpu", flags=BF16_CPU)
    assert (p.dtype, p.level) == ("bfloat16", "O1")
    monkeypatch.setattr(prec, "missing_cpu_bf16_kernels", lambda ops=prec.BF16_OPS: ["conv2d"])
    p = choose_precision(BF16, "cpu", flags=BF16_CPU)
    assert p.dtype == "float32" and "conv2d" in p.reason and paddle.__version__ in p.reason


def test_the_kernel_check_agrees_with_what_dynamic_mode_runs():
    """Each op the check calls missing really fails in bfloat16 on the CPU, and each it calls
    present really runs: the check reads the registry, this runs the ops."""
    missing = prec.missing_cpu_bf16_kernels()
    x = paddle.randn([2, 4, 5, 5]).astype("bfloat16")
    w = paddle.randn([3, 4, 3, 3]).astype("bfloat16")
    runs = {
        "conv2d": lambda: paddle.nn.functional.conv2d(x, w),
        "matmul": lambda: paddle.matmul(x.reshape([2, 100]), x.reshape([100, 2])),
    }
    for op, fn in runs.items():
        if op in missing:
            with pytest.raises(RuntimeError, match="bfloat16"):
                fn()
        else:
            assert fn().dtype == paddle.bfloat16


class _RecordingAutocast:
    """Stands in for paddle.amp.auto_cast: records each entry's dtype and level."""

    def __init__(self):
        self.calls = []

    def __call__(self, enable=True, custom_white_list=None, custom_black_list=None, **kw):
        self.calls.append((kw.get("dtype"), kw.get("level")))
        return contextlib.nullcontext()


def test_autocast_forward_casts_the_forward_only_and_returns_float32(monkeypatch):
    rec = _RecordingAutocast()
    monkeypatch.setattr(paddle.amp, "auto_cast", rec)
    net = paddle.nn.Sequential(paddle.nn.Linear(4, 3))
    with autocast_forward(net, Precision("bfloat16", "O1", "test")):
        out = net(paddle.randn([2, 4]))
        assert "forward" in vars(net)  # the instance's wrapper
        net.eval()
        net(paddle.randn([2, 4]))  # evaluation: float32, no auto_cast
        net.train()
    assert rec.calls == [("bfloat16", "O1")] and out.dtype == paddle.float32
    assert "forward" not in vars(net)  # the class's forward again
    with autocast_forward(net, Precision("float32", "O0", "test")):
        net(paddle.randn([2, 4]))
    assert len(rec.calls) == 1


@needs_fmnist
def test_a_bfloat16_run_enters_autocast_every_step_and_keeps_float32_weights(
    tmp_path, monkeypatch, capsys
):
    """The trainer's bfloat16 plumbing on any CPU: the plan forced to bfloat16, Paddle's
    auto_cast recorded (this CPU may not compute in bfloat16)."""
    rec = _RecordingAutocast()
    monkeypatch.setattr(paddle.amp, "auto_cast", rec)
    forced = Precision("bfloat16", "O1", "forced by the test")
    monkeypatch.setattr(trainer, "choose_precision", lambda amp, device: forced)
    args = small_job(tmp_path, "AMP.use_amp=True", "AMP.dtype=bfloat16", epochs=1, n_train=128)
    assert train_main(["-c", DEFAULT_CONFIG] + sum((["-o", o] for o in args), [])) == 0
    out = capsys.readouterr().out
    assert "precision: bfloat16 (auto_cast O1): forced by the test" in out
    steps = 128 // 64  # the eval passes stay float32
    ours = [c for c in rec.calls if c[0] is not None]  # paddle.Model's own O0 calls aside
    assert ours == [("bfloat16", "O1")] * steps
    weights = paddle.load(str(tmp_path / "googlenet_bn" / "latest" / "model.pdparams"))
    assert weights and all(v.dtype == paddle.float32 for v in weights.values())


@needs_fmnist
def test_bfloat16_training_on_this_cpu(tmp_path, capsys):
    """Where this CPU and this Paddle compute in bfloat16: the run trains (loss falls, top-1
    above chance) and the saved weights are float32. Elsewhere: skipped, with the reason the
    trainer's start-up line gives."""
    plan = choose_precision(BF16, "cpu")
    if plan.dtype != "bfloat16":
        pytest.skip(plan.reason)
    args = small_job(tmp_path, "AMP.use_amp=True", "AMP.dtype=bfloat16", epochs=2, n_train=512)
    assert train_main(["-c", DEFAULT_CONFIG] + sum((["-o", o] for o in args), [])) == 0
    out = capsys.readouterr().out
    assert "precision: bfloat16" in out
    weights = paddle.load(str(tmp_path / "googlenet_bn" / "latest" / "model.pdparams"))
    assert all(v.dtype == paddle.float32 for v in weights.values())
    summary = json.load(open(tmp_path / "googlenet_bn" / "summary.json"))
    hist = summary["history"]
    assert hist[-1]["train"]["loss"] < hist[0]["train"]["loss"]
    assert summary["final_eval"]["top1"] > 0.2
