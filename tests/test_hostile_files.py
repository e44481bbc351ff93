"""Special files, absurd sizes, full disks, signals and tampered exports (issue 30).

Every case is built here: FIFOs with os.mkfifo, /dev/zero behind symlinks, a gzip bomb, a write
that fails with ENOSPC (monkeypatched), signals sent to a training subprocess. Each asserts the
message, the exit status and that nothing written before is lost. A call that could block on a
FIFO runs in a thread with a deadline, so a regression fails instead of hanging the suite.
"""

import errno
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
import zlib

import numpy as np
import paddle
import pytest
from conftest import ROOT, checkout_env, needs_fmnist

import paddle_inception as pi
from paddle_inception._safe_files import (
    FileTooLargeError,
    NotRegularFileError,
    file_problem,
    gunzip_bounded,
    open_regular,
    read_bounded,
)
from paddle_inception.cli import main as cli_main
from paddle_inception.config import ConfigError, load_config

DEFAULT = os.path.join(ROOT, "paddle_inception", "configs", "googlenet.yaml")


def within(fn, seconds=30):
    """fn() run in a thread that must finish within `seconds` (a blocking open fails the test
    instead of hanging it); returns its result or re-raises its exception."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"blocked for over {seconds} s (an open or read that waits)"
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return str(path)


# ====================================================================== the safe-open rule
def test_fifo_and_devices_are_refused_without_blocking(tmp_path, fifo):
    zero = tmp_path / "zero.png"
    zero.symlink_to("/dev/zero")
    for path, kind in ((fifo, "a FIFO"), (str(zero), "a character device")):
        with pytest.raises(NotRegularFileError, match=kind):
            within(lambda p=path: open_regular(p, "thing"))
        with pytest.raises(NotRegularFileError, match=kind):
            within(lambda p=path: read_bounded(p, 1024))
        assert file_problem(path).startswith(kind)
    assert "a symlink to /dev/zero" in str(
        pytest.raises(NotRegularFileError, open_regular, str(zero)).value
    )
    assert file_problem(str(tmp_path / "missing")) == "file not found"
    with pytest.raises(FileNotFoundError, match="file not found"):
        open_regular(str(tmp_path / "missing"))
    with pytest.raises(NotRegularFileError, match="a directory"):
        read_bounded(str(tmp_path), 10)


def test_byte_bounds_and_gzip_bombs(tmp_path):
    small = tmp_path / "list.txt"
    small.write_bytes(b"x" * 100)
    assert read_bounded(str(small), 100) == b"x" * 100
    with pytest.raises(FileTooLargeError, match="larger than 99 bytes"):
        read_bounded(str(small), 99)
    # 8 MiB of zeros in an 8 KiB gzip: refused after limit + 1 decompressed bytes
    bomb = tmp_path / "bomb.gz"
    with gzip.open(bomb, "wb") as f:
        f.write(bytes(8 * 2**20))
    assert bomb.stat().st_size < 64 * 1024
    with pytest.raises(FileTooLargeError, match="decompresses to more than 1 MiB"):
        gunzip_bounded(str(bomb), 2**20)
    assert len(gunzip_bounded(str(bomb), 8 * 2**20)) == 8 * 2**20
    bomb.write_bytes(bomb.read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        gunzip_bounded(str(bomb), 2**20)


@pytest.mark.parametrize("command", ["train", "eval", "summary"])
def test_cli_config_that_is_a_fifo_or_dev_zero_is_one_line(command, tmp_path, fifo, capsys):
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    for path, kind in ((fifo, "is a FIFO"), (str(zero), "is a character device")):
        assert within(lambda p=path: cli_main([command, "-c", p])) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("error: ") and kind in err, err
        assert "not found" not in err


def test_weights_state_json_and_list_files_that_are_fifos(tmp_path, fifo):
    from paddle_inception.data.datasets import ImageNetDataset
    from paddle_inception.engine.checkpoint import read_state_json
    from paddle_inception.weights import load_state_file, resolve_weights_file

    with pytest.raises(NotRegularFileError, match="weights file: .* is a FIFO"):
        within(lambda: load_state_file(fifo))
    with pytest.raises(NotRegularFileError, match="is a FIFO"):
        within(lambda: resolve_weights_file(fifo, "--weights"))
    with pytest.raises(NotRegularFileError, match="Global.checkpoints: .* is a FIFO"):
        within(lambda: read_state_json(fifo))
    from paddle_inception.engine.checkpoint import resolve_checkpoint

    with pytest.raises(NotRegularFileError, match="Global.checkpoints: .* is a FIFO .*directory"):
        within(lambda: resolve_checkpoint(fifo))
    with pytest.raises(NotRegularFileError, match="cls_label_path: .* is a FIFO"):
        within(lambda: ImageNetDataset(str(tmp_path), fifo))
    # a list naming a FIFO: the pre-flight check names it as such, not as missing
    (tmp_path / "list.txt").write_text("pipe.yaml 0\n")
    with pytest.raises(FileNotFoundError, match=r"list.txt:1: .*pipe.yaml \(a FIFO"):
        within(lambda: ImageNetDataset(str(tmp_path), str(tmp_path / "list.txt")))


def _png(path, value=0):
    from PIL import Image

    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)


def test_image_folder_skips_fifos_and_devices_and_refuses_a_looping_class(tmp_path):
    from paddle_inception.data.datasets import ImageFolder

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        _png(tmp_path / c / "x.png")
    os.mkfifo(tmp_path / "a" / "fifo.png")
    (tmp_path / "b" / "zero.png").symlink_to("/dev/zero")
    with pytest.warns(RuntimeWarning, match=r"skipped 2 image name.*fifo.png \(a FIFO"):
        ds = within(lambda: ImageFolder(str(tmp_path)))
    assert [os.path.basename(p) for p, _ in ds.samples] == ["x.png", "x.png"]
    assert [label for _, label in ds.samples] == [0, 1]
    image, label = within(lambda: ds[1])
    assert image.shape == (3, 8, 8) and label == 1
    # a class folder linked to its parent would file every image under its own label
    (tmp_path / "loop").symlink_to(".")
    with pytest.raises(ValueError, match=r"class folder .*loop is a link to"):
        ImageFolder(str(tmp_path))


def test_infer_inputs_report_fifos_and_devices_per_item(tmp_path):
    from paddle_inception.deploy.infer import collect_images, load_image

    folder = tmp_path / "imgs"
    folder.mkdir()
    _png(folder / "a.png")
    os.mkfifo(folder / "b.png")
    (folder / "c.png").symlink_to("/dev/urandom")
    (tmp_path / "list.txt").write_text("imgs/a.png\nimgs/b.png\n")
    got = within(lambda: collect_images([str(folder), str(tmp_path / "list.txt")]))
    errors = {os.path.basename(p): e for p, e in got}
    assert errors["a.png"] is None
    assert errors["b.png"].startswith("a FIFO") and errors["c.png"].startswith("a character")
    assert [e for p, e in got if p.endswith("b.png")] == [errors["b.png"]] * 2  # folder, list
    data, err = within(lambda: load_image(str(folder / "b.png"), lambda b: b))
    assert data is None and "a FIFO" in err


def test_fashion_mnist_root_without_the_files_is_an_error_naming_them(tmp_path):
    from paddle_inception.data import datasets as D

    with pytest.raises(FileNotFoundError) as e:
        D.FashionMNIST(root=str(tmp_path / "typo"), mode="train")
    msg = str(e.value)
    assert "train-images-idx3-ubyte" in msg and str(tmp_path / "typo") in msg
    assert "no such directory" in msg
    # a gzip bomb as the images file: refused after 64 MiB, not a MemoryError
    root = tmp_path / "bomb"
    root.mkdir()
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    with open(root / "t10k-images-idx3-ubyte.gz", "wb") as f:
        chunk = bytes(2**20)
        for _ in range(65):
            f.write(comp.compress(chunk))
        f.write(comp.flush())
    with gzip.open(root / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write((2049).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"\0")
    with pytest.raises(FileTooLargeError, match="decompresses to more than 64 MiB"):
        D.FashionMNIST(root=str(root), mode="test")


# ====================================================================== config bounds
@pytest.mark.parametrize(
    "override, message",
    [
        ("Arch.class_num=1000000000", "Arch.class_num: must be <= 100000"),
        ("Global.epochs=1000000000000", "Global.epochs: must be <= 100000"),
        ("Global.image_shape=[1, 100000, 100000]", r"Global.image_shape\[1\]: must be <= 8192"),
        ("DataLoader.Train.sampler.batch_size=1000000000", "batch_size: must be <= 65536"),
        ("DataLoader.Train.loader.num_workers=10000", "num_workers: must be <= 256"),
        ("Global.seed=-1", "Global.seed: must be >= 0"),
        ("Global.seed=1000000000000000000000000000000", "Global.seed: must be <= 4294967295"),
        ("Optimizer.lr.warmup_start_lr=0.2", "warmup_start_lr: .* must be below it"),
    ],
)
def test_absurd_and_odd_values_are_one_config_error(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(DEFAULT, [override])


def test_num_workers_are_bounded_by_the_cores(monkeypatch):
    from paddle_inception.config import schema

    monkeypatch.setattr(schema, "_cpu_cores", lambda: 2)
    with pytest.raises(ConfigError, match=r"num_workers: must be <= 16 \(4 x the 2 CPU cores"):
        load_config(DEFAULT, ["DataLoader.Eval.loader.num_workers=17"])
    load_config(DEFAULT, ["DataLoader.Eval.loader.num_workers=16"])


@needs_fmnist
def test_eval_null_means_no_eval_loader():
    from paddle_inception.engine.trainer import build_context

    cfg = load_config(DEFAULT, ["DataLoader.Eval=null", "Global.eval_during_train=False"])
    assert cfg["DataLoader"]["Eval"] is None
    assert build_context(cfg).eval_loader is None  # was: TypeError 'NoneType' ... subscriptable


def test_lr_schedule_holds_no_per_step_lists():
    from paddle_inception.engine.optim import build_lr

    # 100,000 epochs of 100,000 steps: 1e10 steps; a per-step list would be 80 GB
    sched = build_lr({"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 1}, 100_000, 100_000)
    big = [
        k
        for k, v in vars(sched).items()
        if isinstance(v, (list, tuple, np.ndarray)) and len(v) > 1000
    ]
    assert big == []


# ====================================================================== checkpoints
def _net():
    return pi.create_model("googlenet_bn", num_classes=3, in_channels=1)


def test_nonfinite_weights_are_never_saved_and_latest_stays_good(tmp_path):
    from paddle_inception.engine.callbacks import CheckpointSaver, TrainingDiverged
    from paddle_inception.engine.checkpoint import NonFiniteWeights, save_checkpoint

    net = _net()
    save_checkpoint(str(tmp_path), 1, net, state={"x": 1}, links=("latest", "best"))
    p = net.parameters()[5]
    p.set_value(paddle.full(p.shape, float("nan"), p.dtype))
    with pytest.raises(NonFiniteWeights, match="epoch 2: the weights are not finite"):
        save_checkpoint(str(tmp_path), 2, net, links=("latest",))
    assert sorted(os.listdir(tmp_path)) == ["best", "epoch_0001", "latest"]
    assert os.readlink(tmp_path / "latest") == "epoch_0001"
    # through the callback: the message names the real last good epoch
    saver = CheckpointSaver(str(tmp_path), start_epoch=2, eval_epochs=[3])
    saver.model = types.SimpleNamespace(network=net, _optimizer=None)
    saver.epoch = 3
    with pytest.raises(TrainingDiverged, match=r"epoch_0001 \(epoch 1\)"):
        saver._save({"top1": float("nan")})
    assert saver.best is None  # a nan score never becomes `best`
    assert os.readlink(tmp_path / "best") == "epoch_0001"


def test_disk_full_while_saving_removes_the_partial_directory(tmp_path, monkeypatch):
    from paddle_inception.engine import checkpoint as C

    net = _net()
    C.save_checkpoint(str(tmp_path), 1, net, state={})
    before = (tmp_path / "epoch_0001" / "model.pdparams").read_bytes()
    real = paddle.save
    calls = {"n": 0}

    def full(obj, path, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # the second file: after a partial write
            with open(path, "wb") as f:
                f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, path, *a, **k)

    monkeypatch.setattr(C.paddle, "save", full)
    opt = paddle.optimizer.SGD(parameters=net.parameters())
    with pytest.raises(OSError) as e:
        C.save_checkpoint(str(tmp_path), 2, net, opt, state={})
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "epoch_0002")
    assert sorted(os.listdir(tmp_path)) == ["epoch_0001", "latest"]  # no .epoch_0002.tmp-*
    assert (tmp_path / "latest" / "model.pdparams").read_bytes() == before


def test_leftovers_of_killed_saves_are_cleaned_when_the_run_dir_is_locked(tmp_path):
    from paddle_inception.engine.runlock import run_lock

    (tmp_path / "epoch_0001").mkdir()
    (tmp_path / "epoch_0001" / "model.pdparams").write_bytes(b"1")
    os.symlink("epoch_0001", tmp_path / "latest")
    for name in (".epoch_0002.tmp-4242", ".epoch_0003.tmp-1"):  # any pid, dead or alive
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.pdparams").write_bytes(b"x" * 1000)
    os.symlink("epoch_0001", tmp_path / ".latest.tmp-77")
    # killed between the two renames of a rewrite: the set-aside copy is put back
    (tmp_path / ".epoch_0004.old-99").mkdir()
    (tmp_path / ".epoch_0004.old-99" / "model.pdparams").write_bytes(b"4")
    (tmp_path / "notes.tmp-1").write_text("not ours")
    with run_lock(str(tmp_path)):
        names = sorted(os.listdir(tmp_path))
    assert names == [".lock", "epoch_0001", "epoch_0004", "latest", "notes.tmp-1"]
    assert (tmp_path / "epoch_0004" / "model.pdparams").read_bytes() == b"4"
    assert (tmp_path / "latest" / "model.pdparams").read_bytes() == b"1"


# ====================================================================== the command line
def test_unexpected_errors_are_one_line_and_verbose_shows_the_traceback(capsys):
    from paddle_inception.cli.common import run_guarded

    def boom(argv):
        assert "--verbose" not in argv
        raise RuntimeError("something\nbroke")

    assert run_guarded(boom, ["-x"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "error: RuntimeError: something broke (rerun with --verbose for the traceback)\n"
    )
    with pytest.raises(RuntimeError, match="broke"):
        run_guarded(boom, ["--verbose"])

    def disk_full(argv):
        raise OSError(errno.ENOSPC, "No space left on device", "/out/epoch_0002")

    assert run_guarded(disk_full, []) == 1
    err = capsys.readouterr().err
    assert "error: OSError: /out/epoch_0002: No space left on device [Errno 28 ENOSPC]" in err
    assert err.count("\n") == 1

    def ctrl_c(argv):
        raise KeyboardInterrupt

    assert run_guarded(ctrl_c, []) == 130
    assert capsys.readouterr().err == "error: interrupted\n"

    def not_a_dir(argv):  # (as root, EACCES cannot be provoked; ENOTDIR always can)
        open(os.path.join(__file__, "out.txt"), "w")

    assert run_guarded(not_a_dir, []) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: NotADirectoryError: {__file__}/out.txt: Not a directory")
    assert "[Errno 20 ENOTDIR]" in err and err.count("\n") == 1


def test_export_under_an_existing_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("keep me")
    args = ["export", "--model", "googlenet_bn", "--num-classes", "3", "--input-size", "1x32x32"]
    assert cli_main(args + ["--output-dir", str(target / "sub"), "--no-check"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"error: NotADirectoryError: {target}/sub: Not a directory [Errno 20 ENOTDIR] "
        f"(rerun with --verbose for the traceback)"
    )
    assert target.read_text() == "keep me"


def test_non_utf8_file_names_print_on_a_utf8_console(tmp_path):
    code = (
        "import sys; from paddle_inception.cli.common import run_guarded;"
        "sys.exit(run_guarded(lambda a: print('img', 'x\\udcff.png') or 0, []))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        timeout=120,
        env=checkout_env(PYTHONIOENCODING="utf-8"),
    )
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    assert res.stdout == b"img x\\udcff.png\n"


# ====================================================================== signals
def _train_cmd(tmp_path, epochs=30):
    overrides = [
        f"Global.output_dir={tmp_path}",
        f"Global.epochs={epochs}",
        "Global.image_shape=[1, 32, 32]",
        "Global.print_batch_step=1",
        "Global.use_visualdl=False",
        "Global.eval_during_train=False",
        "DataLoader.Train.dataset.num_samples=64",
        "DataLoader.Eval.dataset.num_samples=32",
        "DataLoader.Train.sampler.batch_size=32",
        "DataLoader.Train.loader.num_workers=0",
    ]
    return [sys.executable, "-m", "paddle_inception", "train", "-c", DEFAULT] + sum(
        (["-o", o] for o in overrides), []
    )


@pytest.mark.slow
@needs_fmnist
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_ends_training_with_the_last_checkpoint_and_how_to_resume(tmp_path, sig, code):
    proc = subprocess.Popen(
        _train_cmd(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=checkout_env(),
    )
    latest = tmp_path / "googlenet_bn" / "latest"
    deadline = time.time() + 240
    try:
        while time.time() < deadline and not latest.exists():
            time.sleep(0.05)
        assert latest.exists(), "no checkpoint before the deadline"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    err = err.decode()
    assert proc.returncode == code, err[-2000:]
    last = err.strip().splitlines()[-1]
    name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
    assert last.startswith(f"error: interrupted ({name}); the last checkpoint is "), err[-2000:]
    assert f"-o Global.checkpoints={latest}" in last and "Traceback" not in err
    # what was written is complete: every epoch directory loads, no temporary one is left
    run = tmp_path / "googlenet_bn"
    assert not [n for n in os.listdir(run) if ".tmp-" in n or n == ".lock"]
    from paddle_inception.engine.checkpoint import load_checkpoint

    for d in run.glob("epoch_*"):
        net = pi.create_model("googlenet_bn", num_classes=10, in_channels=1)
        assert load_checkpoint(str(d), net)["epoch"] == int(d.name.split("_")[1])
    assert json.loads((latest / "state.json").read_text())["epoch"] >= 1


@pytest.mark.slow
@needs_fmnist
def test_disk_full_in_epoch_2_is_one_line_naming_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    from paddle_inception.engine import checkpoint as C

    real = paddle.save

    def full_from_epoch_2(obj, path, *a, **k):
        if ".epoch_0002.tmp-" in path:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, path, *a, **k)

    monkeypatch.setattr(C.paddle, "save", full_from_epoch_2)
    argv = _train_cmd(tmp_path, epochs=2)[3:]  # after `python -m paddle_inception`
    assert cli_main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    run = tmp_path / "googlenet_bn"
    assert err[-1] == (
        f"error: OSError: {run}/epoch_0002: No space left on device [Errno 28 ENOSPC]; the "
        f"last checkpoint is {run}/epoch_0001 (epoch 0001); resume with: paddle-inception "
        f"train -c {DEFAULT} -o Global.checkpoints={run}/latest and the same -o overrides"
    )
    assert sorted(n for n in os.listdir(run) if "epoch" in n) == ["epoch_0001"]
    assert not (run / ".lock").exists()
    net = pi.create_model("googlenet_bn", num_classes=10, in_channels=1)
    from paddle_inception.engine.checkpoint import load_checkpoint

    assert load_checkpoint(str(run / "latest"), net)["epoch"] == 1


def test_plot_run_on_damaged_records_is_one_line(tmp_path, capsys):
    vdl = tmp_path / "vdl"
    vdl.mkdir()
    rec = vdl / "vdlrecords.1.log"
    # a length field claiming 2**62 bytes (random bytes look like this)
    rec.write_bytes((2**62).to_bytes(8, "little") + os.urandom(100))
    assert cli_main(["plot-run", str(vdl), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"error: {rec}: damaged VisualDL record file (the record at offset 0 claims "
        f"{2**62} bytes, 100 are left)"
    )
    rec.write_bytes((5).to_bytes(8, "little") + b"\xff" * 5)  # framed, not a protobuf record
    assert cli_main(["plot-run", str(vdl), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {rec}: damaged VisualDL record file (") and err.count("\n") == 1
    rec.unlink()
    os.mkfifo(rec)
    assert within(lambda: cli_main(["plot-run", str(vdl), "-o", str(tmp_path / "x.png")])) == 2
    assert "is a FIFO" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


# ====================================================================== exports and infer
@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    from paddle_inception.deploy.export import export_inference_model

    out = tmp_path_factory.mktemp("export")
    model = pi.create_model("googlenet_bn", num_classes=3, in_channels=1)
    export_inference_model(model, str(out / "inference"), input_shape=[1, 32, 32])
    return out


def _copy_export(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def _edit_input_shape(program, shape):
    prog = json.loads(program.read_text())
    for op in prog["program"]["regions"][0]["blocks"][0]["ops"]:
        if op["#"].endswith(".data"):
            for a in op["A"]:
                if a["N"] == "shape":
                    a["AT"]["D"] = shape
            op["O"][0]["TT"]["D"][1] = shape
    program.write_text(json.dumps(prog))


def test_tampered_exports_are_refused_before_paddle_reads_them(export_dir, tmp_path):
    from paddle_inception.deploy.predictor import InferencePredictor

    good = InferencePredictor(str(export_dir))  # the untouched export loads and runs
    assert good(np.zeros((1, 1, 32, 32), np.float32)).shape == (1, 3)

    d = _copy_export(export_dir, tmp_path / "shape")
    _edit_input_shape(d / "inference.json", [-1, 1, 100000, 100000])
    with pytest.raises(ValueError, match=r"input shape \[-1, 1, 100000, 100000\] is not"):
        InferencePredictor(str(d))

    d = _copy_export(export_dir, tmp_path / "meta")
    meta = json.loads((d / "inference_meta.json").read_text())
    (d / "inference_meta.json").write_text(json.dumps(dict(meta, input_shape=[1, 64, 64])))
    with pytest.raises(ValueError, match=r"does not match input_shape \[1, 64, 64\]"):
        InferencePredictor(str(d))
    (d / "inference_meta.json").write_text(json.dumps(dict(meta, input_shape=[1, 10**9, 2])))
    with pytest.raises(ValueError, match=r"inference_meta.json: input_shape .* is not \[C, H, W\]"):
        InferencePredictor(str(d))
    (d / "inference_meta.json").write_text(json.dumps(meta)[:50])
    with pytest.raises(ValueError, match="inference_meta.json: not valid JSON"):
        InferencePredictor(str(d))

    d = _copy_export(export_dir, tmp_path / "params")
    raw = (d / "inference.pdiparams").read_bytes()
    (d / "inference.pdiparams").write_bytes(raw[: len(raw) - 7])
    with pytest.raises(ValueError, match=r"not a complete parameter file \(tensor \d+ .* left"):
        InferencePredictor(str(d))

    d = _copy_export(export_dir, tmp_path / "program")
    text = (d / "inference.json").read_text()
    (d / "inference.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="inference.json: not valid JSON .* truncated or edited"):
        InferencePredictor(str(d))


def test_infer_on_a_tampered_export_is_one_line(export_dir, tmp_path, capsys):
    d = _copy_export(export_dir, tmp_path / "shape")
    _edit_input_shape(d / "inference.json", [-1, 1, 100000, 100000])
    _png(tmp_path / "a.png")
    assert within(lambda: cli_main(["infer", "--inference-model", str(d), str(tmp_path)])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: inference model: ") and "100000" in err[-1], err
    assert not [line for line in err if "Traceback" in line]


def test_classify_streams_results_in_order_as_batches_finish():
    from paddle_inception.deploy.infer import classify

    events = []

    def predictor(batch):
        events.append(("batch", len(batch)))
        return np.tile(np.array([[0.0, 1.0, 0.0]], np.float32), (len(batch), 1))

    items = [("a", None), ("b", "file not found"), ("c", None), ("d", None), ("e", None)]
    arrays = {p: np.zeros((1, 4, 4), np.float32) for p, _ in items}

    import paddle_inception.deploy.infer as I

    real = I.load_image
    I.load_image = lambda path, preprocess: (arrays[path], None)
    try:
        out = classify(
            predictor, None, items, k=1, batch_size=2, on_result=lambda i, r: events.append(i)
        )
    finally:
        I.load_image = real
    # a, b come out once the first batch (a, c) is done; c too; d, e after the second batch
    assert events == [("batch", 2), 0, 1, 2, ("batch", 2), 3, 4]
    assert [r["file_name"] for r in out] == list("abcde") and out[1]["error"]
    assert out[0]["class_ids"] == [1]


def test_infer_progress_on_stderr_for_long_inputs(capsys, monkeypatch):
    from paddle_inception.cli import infer as cli_infer

    clock = iter([0.0, 5.0, 12.0, 30.0, 40.0, 41.0])
    monkeypatch.setattr(cli_infer.time, "monotonic", lambda: next(clock))
    progress = cli_infer._Progress(1000, every=10.0, min_items=200)
    progress(100)  # 5 s: under `every`, quiet
    progress(200)  # 12 s
    progress(1000)  # the end is always shown
    assert capsys.readouterr().err.splitlines() == [
        "infer: 200 of 1,000 images (20.0%), 12 s, ~48 s left",
        "infer: 1,000 of 1,000 images (100.0%), 30 s, ~0 s left",
    ]
    quiet = cli_infer._Progress(199, every=0.0, min_items=200)
    quiet(199)
    assert capsys.readouterr().err == ""


def test_convert_source_that_is_a_fifo_or_device(tmp_path, fifo):
    from paddle_inception.convert.readers import read_checkpoint

    zero = tmp_path / "zero.pth"
    zero.symlink_to("/dev/zero")
    with pytest.raises(NotRegularFileError, match="checkpoint: .* is a FIFO"):
        within(lambda: read_checkpoint(fifo))
    with pytest.raises(NotRegularFileError, match="checkpoint: .* is a character device"):
        within(lambda: read_checkpoint(str(zero)))
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        read_checkpoint(str(tmp_path / "missing.pth"))


def test_class_map_lock_file_and_sidecar_that_are_fifos(tmp_path, fifo, caplog):
    from paddle_inception.data.classmap import load_class_map
    from paddle_inception.engine.runlock import RunDirLocked, run_lock
    from paddle_inception.models.pretrained import load_converted

    with pytest.raises(NotRegularFileError, match="class map: .* is a FIFO"):
        within(lambda: load_class_map(fifo))
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / ".lock")
    with pytest.raises(RunDirLocked, match="does not say which process holds it"):
        within(lambda: run_lock(str(run)).__enter__())
    side = tmp_path / "w.json"
    os.mkfifo(side)
    with pytest.raises(ValueError, match="unreadable sidecar .* is a FIFO"):
        within(lambda: load_converted(str(tmp_path / "w.pdparams")))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--input-size", "100000"], "--input-size: each side must be <= 8192, got '100000'"),
        (["--input-size", "1x9x9000"], "--input-size: each side must be <= 8192, got '1x9x9000'"),
        (["--num-classes", "1000000000"], "--num-classes: must be in 0..100,000, got 1000000000"),
    ],
)
def test_absurd_sizes_on_the_command_line(args, message, capsys):
    assert cli_main(["summary", "--model", "googlenet_bn", *args]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_non_utf8_image_names_in_messages_are_printable(tmp_path):
    from paddle_inception.data.datasets import BadImageError, ImageFolder

    (tmp_path / "a").mkdir()
    name = os.fsdecode(b"\xffbad.png")  # surrogate-escaped, as os.listdir gives it
    (tmp_path / "a" / name).write_bytes(b"not an image")
    _png(tmp_path / "a" / "good.png")
    ds = ImageFolder(str(tmp_path))
    bad = [os.path.basename(p) for p, _ in ds.samples].index(name)
    with pytest.raises(BadImageError) as e:
        ds[bad]
    msg = str(e.value)
    msg.encode("utf-8")  # no lone surrogate left: printing or logging it cannot fail
    assert "\\udcffbad.png" in msg
    skip = ImageFolder(str(tmp_path), on_bad_image="skip")
    with pytest.warns(RuntimeWarning, match=r"skipping unreadable image .*\\udcffbad.png"):
        image, _ = skip[bad]
    assert image.shape == (3, 8, 8)


def test_a_run_that_cannot_fit_in_memory_is_refused_before_anything_is_built(tmp_path, capsys):
    from paddle_inception.engine import memory

    est = memory.estimate_training_memory([1, 32, 32], 128)  # the default job: 25 MiB
    assert est.need_bytes == 128 * 32 * 32 * 50 * 4
    assert est.available_bytes is None or est.available_bytes > est.need_bytes
    argv = [
        "train",
        "-c",
        DEFAULT,
        "-o",
        f"Global.output_dir={tmp_path}",
        "-o",
        "Global.image_shape=[1, 8192, 8192]",
        "-o",
        "DataLoader.Train.sampler.batch_size=60000",
    ]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "error: Global.image_shape [1, 8192, 8192] with DataLoader.Train.sampler.batch_size "
        "60000: a training step keeps at least 750,000.0 GiB of activations, and this machine "
        "has "
    ), err
    assert err.count("\n") == 1 and os.listdir(tmp_path) == []


def test_memory_check_uses_the_cgroup_limit(monkeypatch):
    from paddle_inception.engine import memory

    files = {"/sys/fs/cgroup/memory.max": 2**30, "/sys/fs/cgroup/memory.current": 2**29}
    monkeypatch.setattr(memory, "_read_int_file", files.get)
    assert memory.available_memory() == 2**29  # below MemAvailable of any test machine
    cfg = {"Global": {"image_shape": [3, 224, 224]}}
    cfg["DataLoader"] = {"Train": {"sampler": {"batch_size": 64}}}  # 0.6 GiB at least
    with pytest.raises(ValueError, match=r"at least 0.6 GiB .* has 0.5 GiB available"):
        memory.check_training_memory(cfg)
    cfg["DataLoader"]["Train"]["sampler"]["batch_size"] = 32
    assert memory.check_training_memory(cfg).need_bytes == 32 * 224 * 224 * 200


def test_ctrl_c_during_a_checkpoint_write_leaves_the_previous_one(tmp_path, monkeypatch):
    from paddle_inception.engine import checkpoint as C

    net = _net()
    C.save_checkpoint(str(tmp_path), 1, net, state={})

    def interrupted(obj, path, *a, **k):
        with open(path, "wb") as f:
            f.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(C.paddle, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        C.save_checkpoint(str(tmp_path), 2, net, state={})
    assert sorted(os.listdir(tmp_path)) == ["epoch_0001", "latest"]
    monkeypatch.undo()
    assert C.load_checkpoint(str(tmp_path / "latest"), _net())["epoch"] == 1


@needs_fmnist
def test_output_dir_that_is_a_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "out"
    target.write_text("keep me")
    argv = _train_cmd(target, epochs=1)[3:]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"error: NotADirectoryError: {target}/googlenet_bn: Not a directory [Errno 20 ENOTDIR]; "
        f"no checkpoint was written yet"
    ), err
    assert target.read_text() == "keep me"
