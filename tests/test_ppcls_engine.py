"""Our models inside PaddleClas' own Engine, YAMLs, losses, metrics, RecModel and export (issue 12).

PaddleClas' engine is not on the package index (the `paddleclas` wheel ships only ppcls/arch and
ppcls/utils), so its unmodified source is used from a checkout: $PADDLECLAS_PEER_DIR, else
<repo>/../shared/peers/PaddleClas, else /work/shared/peers/PaddleClas (the folder holding ppcls/).
Importing it needs `scikit-learn opencv-python-headless prettytable easydict ujson faiss-cpu tqdm
scipy` (installed by .ci/run); without them or the checkout these tests skip, saying which.

Everything that imports `ppcls` runs in a subprocess: this file re-run as a script through our
launcher, `python -m paddle_inception ppcls tests/test_ppcls_engine.py MODE ARGS`, which registers
our models in `ppcls.arch` as a PaddleClas user's command line does. That keeps the checkout's
`ppcls` out of this pytest process, where tests/test_convert.py may load the pip wheel's model
files. Data: at most 14 generated images of 40-72 px; PaddleClas' YAML transforms resize them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "paddleclas")
DEPS = {
    "sklearn": "scikit-learn",
    "cv2": "opencv-python-headless",
    "prettytable": "prettytable",
    "easydict": "easydict",
    "ujson": "ujson",
    "faiss": "faiss-cpu",
    "tqdm": "tqdm",
    "scipy": "scipy",
    "visualdl": "visualdl",
}
CLASS_NUM = 6  # >= 5: the YAMLs' metrics include top-5
TIMEOUT = 600


def peer_dir():
    """The PaddleClas checkout (the folder holding ppcls/), or None. $PADDLECLAS_PEER_DIR, when
    set, is the only place looked at."""
    env = os.environ.get("PADDLECLAS_PEER_DIR")
    cands = [env] if env else [os.path.join(os.path.dirname(ROOT), "shared", "peers", "PaddleClas")]
    for cand in cands:
        if os.path.isfile(os.path.join(cand, "ppcls", "engine", "engine.py")):
            return os.path.abspath(cand)
    return None


def _skip_reason():
    if peer_dir() is None:
        where = os.environ.get("PADDLECLAS_PEER_DIR") or "<repo>/../shared/peers/PaddleClas"
        return (
            f"PaddleClas source (ppcls/engine/engine.py) not found in {where}; set "
            f"PADDLECLAS_PEER_DIR to the checkout holding ppcls/"
        )
    missing = [pip for mod, pip in DEPS.items() if importlib.util.find_spec(mod) is None]
    if missing:
        return f"PaddleClas' import dependencies missing: pip install {' '.join(missing)}"
    return None


needs_peer = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


def run_driver(mode: str, args: dict, cwd, timeout: int = TIMEOUT) -> dict:
    """Run this file's driver MODE through our launcher in a fresh process; its JSON result."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT, peer_dir()] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    env.setdefault("OMP_NUM_THREADS", "2")
    cmd = [
        sys.executable,
        "-m",
        "paddle_inception",
        "ppcls",
        os.path.abspath(__file__),
        mode,
        json.dumps(args),
    ]
    proc = subprocess.run(
        cmd, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout
    )
    out = proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"driver {mode} failed (rc {proc.returncode}):\n{out[-6000:]}"
    )
    return json.loads(lines[-1][len("RESULT ") :])


def make_dataset(root, n_train: int = 8, n_eval: int = 6, seed: int = 0) -> dict:
    """ImageNet-style folder: JPEGs of 40-72 px, `path label` lists; classes differ in colour."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "img"), exist_ok=True)
    paths = {}
    for split, n in (("train", n_train), ("val", n_eval)):
        lines = []
        for i in range(n):
            label = i % CLASS_NUM
            h, w = rng.integers(40, 73, size=2)
            base = rng.uniform(0, 255, size=3) * 0.3 + 150 * (np.arange(3) == label % 3)
            img = np.clip(base + rng.normal(0, 30, size=(h, w, 3)), 0, 255).astype("uint8")
            rel = f"img/{split}_{i}.jpg"
            Image.fromarray(img).save(os.path.join(root, rel), quality=95)
            lines.append(f"{rel} {label}")
        path = os.path.join(root, f"{split}_list.txt")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        paths[split] = path
    return {"root": str(root), "train_list": paths["train"], "val_list": paths["val"]}


# ------------------------------------------------------- PaddleClas mode, no PaddleClas needed
def test_paddleclas_mode_output_contract_batch_of_3():
    """GoogLeNet in PaddleClas mode: a list of three (3, C) outputs in train AND eval mode, so
    a batch of 3 can never be unpacked as three outputs; our create_model contract unchanged."""
    import paddle

    from paddle_inception import create_model, ppcls
    from paddle_inception.models import GoogLeNet

    x = paddle.randn([3, 3, 32, 32])
    model = ppcls.GoogLeNet(class_num=CLASS_NUM)
    assert isinstance(model, GoogLeNet) and isinstance(model, ppcls._PaddleClasOutputs)
    for mode in ("train", "eval"):
        getattr(model, mode)()
        out = model(x)
        assert type(out) is list and [list(o.shape) for o in out] == [[3, CLASS_NUM]] * 3
    ours = create_model("googlenet", num_classes=CLASS_NUM)
    assert sorted(ours.state_dict()) == sorted(model.state_dict())
    ours.eval()
    assert not isinstance(ours(x), (list, tuple))
    ours.train()
    assert type(ours(x)) is tuple
    # switching a create_model model in place keeps its weights; idempotent
    assert ppcls.paddleclas_mode(ours) is ours and ppcls.paddleclas_mode(ours) is ours
    ours.eval()
    assert type(ours(x)) is list
    # without aux heads, or stopped (BackboneStopLayer): one tensor
    single = ppcls.GoogLeNet_BN(class_num=CLASS_NUM, aux_logits=False)
    single.eval()
    assert list(single(x).shape) == [3, CLASS_NUM]
    stopped = ppcls.GoogLeNet(class_num=CLASS_NUM, stop_after="head.global_pool")
    stopped.train()
    assert list(stopped(x).shape) == [3, 1024]


def test_paddleclas_mode_other_models_return_logits():
    import paddle

    from paddle_inception import ppcls

    x = paddle.randn([2, 3, 75, 75])
    v3 = ppcls.InceptionV3(class_num=CLASS_NUM)  # no aux head, as PaddleClas' InceptionV3
    assert v3.aux_logits is False and v3.AuxLogits is None
    v3_aux = ppcls.InceptionV3(class_num=CLASS_NUM, aux_logits=True)  # built, unused
    assert any(k.startswith("AuxLogits.") for k in v3_aux.state_dict())
    for model in (v3, v3_aux, ppcls.BNInception(class_num=CLASS_NUM)):
        for mode in ("train", "eval"):
            getattr(model, mode)()
            out = model(x)
            assert not isinstance(out, (list, tuple)) and list(out.shape) == [2, CLASS_NUM]
    # Arch keys PaddleClas' Engine reads and its build_model passes on are ignored
    ppcls.BNInception(
        class_num=3,
        infer_add_softmax=False,
        is_rec=False,
        infer_output_key="features",
        data_format="NCHW",
    )
    with pytest.raises(ValueError, match="data_format"):
        ppcls.BNInception(class_num=3, data_format="NHWC")
    with pytest.raises(TypeError):
        ppcls.BNInception(class_num=3, not_an_option=1)
    with pytest.raises(TypeError, match="zoo"):
        ppcls.paddleclas_mode(paddle.nn.Linear(2, 2))


def test_register_into_a_namespace():
    import types

    from paddle_inception import ppcls

    ns = types.ModuleType("fake_ppcls_arch")
    assert ppcls.register(ns) == ppcls.REGISTERED_NAMES
    assert ppcls.register(ns) == ppcls.REGISTERED_NAMES  # idempotent
    assert ns.PaddleInception_GoogLeNet is ppcls.GoogLeNet
    assert sorted(ppcls.REGISTERED_NAMES) == sorted(
        [
            "PaddleInception_GoogLeNet",
            "PaddleInception_GoogLeNet_BN",
            "PaddleInception_BNInception",
            "PaddleInception_InceptionV3",
            "PaddleInception_InceptionV4",
            "PaddleInception_InceptionResNetV1",
            "PaddleInception_InceptionResNetV2",
        ]
    )
    assert "PI_GoogLeNet" in ppcls.register(ns, prefix="PI_")
    taken = types.ModuleType("taken")
    taken.PaddleInception_InceptionV4 = object()
    with pytest.raises(ValueError, match="already exists"):
        ppcls.register(taken)
    assert not hasattr(taken, "PaddleInception_GoogLeNet")  # nothing half-registered
    with pytest.raises(ValueError, match="identifier"):
        ppcls.register(ns, prefix="paddle-inception.")


def test_launcher_usage_errors(capsys):
    from paddle_inception.cli import ppcls as launcher

    assert launcher.main([]) == 2 and "SCRIPT" in capsys.readouterr().out
    assert launcher.main(["no/such/train.py"]) == 2
    assert "no such script: no/such/train.py" in capsys.readouterr().err


# ------------------------------------------------------------- with PaddleClas' own code
ENGINE_CASES = [
    # (fixture YAML, registered name, model kwargs for the manual recomputation,
    #  train images, eval images, batch size). GoogLeNet evaluates batches of exactly 3, where
    #  a tensor output would be unpacked row by row by GoogLeNetLoss; the 299 px models (the
    #  YAMLs' crop size) get one step of 2 images each, as they are the slow part.
    pytest.param(
        "GoogLeNet.yaml",
        "PaddleInception_GoogLeNet",
        dict(name="googlenet"),
        8,
        6,
        3,
        id="GoogLeNet",
    ),
    pytest.param(
        "InceptionV3.yaml",
        "PaddleInception_InceptionV3",
        dict(name="inception_v3", aux_logits=False),
        2,
        2,
        2,
        id="InceptionV3",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "InceptionV4.yaml",
        "PaddleInception_InceptionV4",
        dict(name="inception_v4"),
        2,
        2,
        2,
        id="InceptionV4",
        marks=pytest.mark.slow,
    ),
]


@needs_peer
@pytest.mark.parametrize("yaml_name,arch,ours,n_train,n_eval,batch", ENGINE_CASES)
@pytest.mark.slow
def test_engine_train_then_eval_on_paddleclas_yaml(
    tmp_path, yaml_name, arch, ours, n_train, n_eval, batch
):
    """PaddleClas' Engine, train then eval, on its own YAML: only Arch.name, data paths,
    class_num, epochs, batch sizes, device (cpu) and output paths are overridden."""
    data = make_dataset(tmp_path / "data", n_train, n_eval)
    res = run_driver(
        "engine",
        dict(
            yaml=os.path.join(FIXTURES, yaml_name),
            arch=arch,
            ours=ours,
            data=data,
            out=str(tmp_path / "output"),
            train_batch=min(batch, 4),
            eval_batch=batch,
        ),
        tmp_path,
    )
    assert res["train_losses"] and all(np.isfinite(res["train_losses"])), res
    assert "latest.pdparams" in res["checkpoint_files"], res
    assert len(res["params_changed"]) == 2 and all(res["params_changed"].values()), res
    assert 0.0 <= res["eval_top1"] <= 1.0
    assert res["eval_top1"] == pytest.approx(res["manual_top1"], abs=1e-6), res
    assert res["n_eval"] == n_eval
    expected = "list3" if arch.endswith("GoogLeNet") else "tensor"
    assert set(res["train_output_kinds"]) == {expected}, res
    assert set(res["eval_output_kinds"]) == {expected}, res


@needs_peer
@pytest.mark.slow
def test_contract_loss_metric_recmodel(tmp_path):
    """Registration, the three-output contract with a batch of exactly 3 (GoogLeNetLoss and
    GoogLeNetTopkAcc against a manual computation, train and eval mode), and a RecModel with our
    backbone, BackboneStopLayer and an FC neck."""
    res = run_driver("contract", {}, tmp_path)
    assert sorted(res["registered"]) == sorted(
        f"PaddleInception_{n}"
        for n in (
            "GoogLeNet",
            "GoogLeNet_BN",
            "BNInception",
            "InceptionV3",
            "InceptionV4",
            "InceptionResNetV1",
            "InceptionResNetV2",
        )
    )
    assert res["paddleclas_googlenet_untouched"] and res["registered_is_imported_module"]
    for mode in ("train", "eval"):
        r = res[mode]
        assert r["kind"] == "list" and r["shapes"] == [[3, CLASS_NUM]] * 3, r
        assert r["loss"] == pytest.approx(r["manual_loss"], rel=1e-5), r
        assert r["top1"] == pytest.approx(r["manual_top1"], abs=1e-6), r
    assert res["eval"]["top1"] == pytest.approx(2 / 3, abs=1e-6)
    assert res["ours_eval_kind"] == "tensor"
    assert res["embedding_shape"] == [3, 128]
    assert res["backbone_shape"] == [3, 1024]
    assert res["rec_logits_shape"] == [3, CLASS_NUM]
    assert res["embedding_matches_manual"]
    assert res["readme_rec_shapes"] == {
        "backbone": [2, 2048],
        "features": [2, 512],
        "logits": [2, 1000],
    }


PROBE = """
import json, sys
import ppcls.arch
from ppcls.arch import build_model
model = build_model({"Arch": {"name": "PaddleInception_BNInception", "class_num": 3}})
print("RESULT " + json.dumps(dict(argv=sys.argv[1:], ppcls=ppcls.arch.__file__,
                                  model=type(model).__name__, classes=model.num_classes)))
"""


@needs_peer
@pytest.mark.slow
def test_launcher_runs_a_paddleclas_script_from_its_checkout(tmp_path):
    """`python -m paddle_inception ppcls tools/<script>.py ARGS` from a PaddleClas checkout
    (ppcls/ next to tools/, nothing on PYTHONPATH but our package): the names are registered
    before the script runs, and the script gets its arguments."""
    checkout = tmp_path / "PaddleClas"
    (checkout / "tools").mkdir(parents=True)
    os.symlink(os.path.join(peer_dir(), "ppcls"), checkout / "ppcls")
    (checkout / "tools" / "probe.py").write_text(PROBE)
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "paddle_inception",
            "ppcls",
            "tools/probe.py",
            "-c",
            "x.yaml",
            "-o",
            "Arch.name=PaddleInception_BNInception",
        ],
        cwd=str(checkout),
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(lines[-1][len("RESULT ") :])
    assert res["argv"] == ["-c", "x.yaml", "-o", "Arch.name=PaddleInception_BNInception"]
    assert res["ppcls"].startswith(str(checkout))
    assert res["model"] == "BNInception" and res["classes"] == 3


@needs_peer
@pytest.mark.slow
def test_engine_export_matches_eager(tmp_path):
    """PaddleClas' Engine in export mode (ExportModel + paddle.jit.to_static with its
    InputSpec) on GoogLeNet.yaml; the exported model's single output vs eager logits."""
    res = run_driver(
        "export", dict(yaml=os.path.join(FIXTURES, "GoogLeNet.yaml"), out=str(tmp_path)), tmp_path
    )
    assert res["n_outputs"] == 1 and res["shape"] == [3, CLASS_NUM], res
    assert res["exported_params"] == res["main_path_params"], res  # aux heads pruned
    assert res["max_abs_diff"] <= 1e-5, res
    assert res["softmax_max_abs_diff"] <= 1e-5, res


# ----------------------------------------------------------------------------------- driver
# Runs in the subprocess, after `python -m paddle_inception ppcls` has registered our models.
def _result(obj) -> None:
    print("RESULT " + json.dumps(obj), flush=True)


def _engine_config(yaml_path: str, overrides: list):
    from ppcls.utils import config as ppcls_config

    cfg = ppcls_config.get_config(yaml_path, overrides=overrides, show=False)
    cfg["profiler_options"] = None  # as PaddleClas' tools/train.py
    return cfg


def _kind(out) -> str:
    if isinstance(out, list):
        return f"list{len(out)}"
    return "tensor" if hasattr(out, "shape") else type(out).__name__


def _drive_engine(a: dict) -> None:
    import paddle
    from ppcls.engine.engine import Engine

    from paddle_inception import create_model

    d = a["data"]
    common = [
        f"Arch.name={a['arch']}",
        f"Arch.class_num={CLASS_NUM}",
        "Global.device=cpu",
        f"Global.output_dir={a['out']}",
        "Global.epochs=1",
        f"DataLoader.Train.dataset.image_root={d['root']}",
        f"DataLoader.Train.dataset.cls_label_path={d['train_list']}",
        f"DataLoader.Eval.dataset.image_root={d['root']}",
        f"DataLoader.Eval.dataset.cls_label_path={d['val_list']}",
        f"DataLoader.Train.sampler.batch_size={a['train_batch']}",
        f"DataLoader.Eval.sampler.batch_size={a['eval_batch']}",
    ]
    kinds = {"train": [], "eval": []}

    def record_kind(layer, inputs, out):
        kinds["train" if layer.training else "eval"].append(_kind(out))

    engine = Engine(_engine_config(a["yaml"], common), mode="train")
    losses = []  # CombinedLoss overrides __call__ (no hooks): hook the losses it holds
    for loss_layer in engine.train_loss_func.loss_func:
        loss_layer.register_forward_post_hook(
            lambda layer, inputs, out: losses.append(sum(float(v) for v in out.values()))
        )
    engine.model.register_forward_post_hook(record_kind)
    # the stem's first conv and the classifier, to see that the optimizer updated both
    watch = [
        next(n for n, p in engine.model.named_parameters() if not p.stop_gradient),
        "head.fc.weight",
    ]
    initial = {n: p.numpy().copy() for n, p in engine.model.named_parameters() if n in watch}
    engine.train()
    ckpts = sorted(f for f in os.listdir(a["out"]) if f.endswith(".pdparams"))
    latest = os.path.join(a["out"], "latest")
    saved = paddle.load(latest + ".pdparams")
    changed = {n: bool(np.abs(np.asarray(saved[n]) - v).max() > 0) for n, v in initial.items()}

    ev = Engine(
        _engine_config(a["yaml"], common + [f"Global.pretrained_model={latest}"]), mode="eval"
    )
    ev.model.register_forward_post_hook(record_kind)
    top1 = float(ev.eval())

    # manual: our model (our contract, strict load), argmax of the logits vs the labels
    kw = dict(a["ours"])
    model = create_model(kw.pop("name"), num_classes=CLASS_NUM, **kw)
    missing, unexpected = model.set_state_dict(saved)
    assert not missing and not unexpected, (missing, unexpected)
    model.eval()
    correct = n = 0
    with paddle.no_grad():
        for batch in ev.eval_dataloader:
            logits = model(paddle.to_tensor(batch[0]))
            label = np.asarray(batch[1]).reshape(-1)
            correct += int((logits.numpy().argmax(1) == label).sum())
            n += len(label)
    _result(
        dict(
            train_losses=losses,
            checkpoint_files=ckpts,
            params_changed=changed,
            eval_top1=top1,
            manual_top1=correct / n,
            n_eval=n,
            train_output_kinds=kinds["train"],
            eval_output_kinds=kinds["eval"],
        )
    )


def _drive_contract(a: dict) -> None:
    import paddle
    import paddle.nn.functional as F
    import ppcls.arch as arch
    from ppcls.arch import build_model
    from ppcls.arch.backbone.model_zoo import googlenet as ppcls_googlenet
    from ppcls.loss.googlenetloss import GoogLeNetLoss
    from ppcls.metric.metrics import GoogLeNetTopkAcc

    from paddle_inception import create_model
    from paddle_inception import ppcls as ours_ppcls

    res = {
        "registered": [n for n in ours_ppcls.REGISTERED_NAMES if callable(getattr(arch, n, None))],
        # the launcher registered the factories of the module scripts import (not a copy)
        "registered_is_imported_module": arch.PaddleInception_GoogLeNet is ours_ppcls.GoogLeNet,
        "paddleclas_googlenet_untouched": arch.GoogLeNet is ppcls_googlenet.GoogLeNet,
    }
    paddle.seed(0)
    model = build_model({"Arch": {"name": "PaddleInception_GoogLeNet", "class_num": CLASS_NUM}})
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype("float32"))
    # labels: the main head's eval prediction for two samples, not for the third (top-1 2/3)
    model.eval()
    pred = model(x)[0].numpy().argmax(1)
    label = paddle.to_tensor([[pred[0]], [pred[1]], [(pred[2] + 1) % CLASS_NUM]], dtype="int64")
    for mode in ("train", "eval"):
        getattr(model, mode)()
        paddle.seed(1)
        out = model(x)
        loss = float(GoogLeNetLoss()(out, label)["GooleNetLoss"])
        top1 = float(GoogLeNetTopkAcc(topk=[1, 5])(out, label)["top1"])
        main, aux1, aux2 = (o.numpy() for o in out)
        manual = sum(
            w * float(F.cross_entropy(paddle.to_tensor(o), label).mean())
            for w, o in ((1.0, main), (0.3, aux1), (0.3, aux2))
        )
        res[mode] = dict(
            kind=type(out).__name__,
            shapes=[list(o.shape) for o in out],
            loss=loss,
            manual_loss=manual,
            top1=top1,
            manual_top1=float((main.argmax(1) == label.numpy()[:, 0]).mean()),
        )
    ours = create_model("googlenet", num_classes=CLASS_NUM)
    ours.eval()
    res["ours_eval_kind"] = _kind(ours(x))

    # PP-ShiTu-style retrieval model: our backbone stopped at the pooled features + FC neck
    rec = build_model(
        {
            "Arch": {
                "name": "RecModel",
                "Backbone": {"name": "PaddleInception_GoogLeNet", "class_num": CLASS_NUM},
                "BackboneStopLayer": {"name": "head.global_pool"},
                "Neck": {"name": "FC", "embedding_size": 1024, "class_num": 128},
                "Head": {"name": "FC", "embedding_size": 128, "class_num": CLASS_NUM},
            }
        }
    )
    rec.eval()
    with paddle.no_grad():
        out = rec(x, label)
        feats = create_model("googlenet", num_classes=0, aux_logits=False)
        feats.set_state_dict({k: v for k, v in rec.backbone.state_dict().items()})
        feats.eval()
        manual = rec.neck(feats(x))
    res.update(
        embedding_shape=list(out["features"].shape),
        backbone_shape=list(out["backbone"].shape),
        rec_logits_shape=list(out["logits"].shape),
        embedding_matches_manual=bool(
            np.allclose(out["features"].numpy(), manual.numpy(), atol=1e-5)
        ),
    )
    # the README's example: Inception-v3 backbone, 512-d embeddings, ArcMargin head
    readme = build_model(
        {
            "Arch": {
                "name": "RecModel",
                "Backbone": {"name": "PaddleInception_InceptionV3", "class_num": 1000},
                "BackboneStopLayer": {"name": "head.global_pool"},
                "Neck": {"name": "FC", "embedding_size": 2048, "class_num": 512},
                "Head": {"name": "ArcMargin", "embedding_size": 512, "class_num": 1000},
            }
        }
    )
    readme.train()
    out = readme(paddle.randn([2, 3, 75, 75]), paddle.to_tensor([[1], [2]], dtype="int64"))
    res["readme_rec_shapes"] = {k: list(out[k].shape) for k in ("backbone", "features", "logits")}
    _result(res)


def _drive_export(a: dict) -> None:
    import paddle
    from ppcls.engine.engine import Engine

    from paddle_inception import create_model

    paddle.seed(0)
    ours = create_model("googlenet", num_classes=CLASS_NUM)
    weights = os.path.join(a["out"], "weights")
    paddle.save(ours.state_dict(), weights + ".pdparams")
    out_dir = os.path.join(a["out"], "inference")
    results = {}
    for softmax in (False, True):
        save_dir = os.path.join(out_dir, "softmax" if softmax else "logits")
        cfg = _engine_config(
            a["yaml"],
            [
                "Arch.name=PaddleInception_GoogLeNet",
                f"Arch.class_num={CLASS_NUM}",
                f"Arch.infer_add_softmax={softmax}",
                "Global.device=cpu",
                f"Global.output_dir={a['out']}",
                f"Global.pretrained_model={weights}",
                f"Global.save_inference_dir={save_dir}",
            ],
        )
        engine = Engine(cfg, mode="export")
        engine.export()
        results[softmax] = paddle.jit.load(os.path.join(save_dir, "inference"))
    x = paddle.to_tensor(
        np.random.default_rng(3).standard_normal((3, 3, 224, 224)).astype("float32")
    )
    ours.eval()
    with paddle.no_grad():
        eager = ours(x)
        exported = results[False](x)
        probs = results[True](x)
    outs = exported if isinstance(exported, (list, tuple)) else [exported]
    size = lambda params: int(sum(np.prod(p.shape) for p in params))  # noqa: E731
    _result(
        dict(
            n_outputs=len(outs),
            shape=list(outs[0].shape),
            exported_params=size(results[False].parameters()),
            main_path_params=size(
                p for n, p in ours.named_parameters() if not n.startswith(("aux1.", "aux2."))
            ),
            max_abs_diff=float(np.abs(outs[0].numpy() - eager.numpy()).max()),
            softmax_max_abs_diff=float(
                np.abs(
                    (probs[0] if isinstance(probs, (list, tuple)) else probs).numpy()
                    - paddle.nn.functional.softmax(eager, axis=-1).numpy()
                ).max()
            ),
        )
    )


if __name__ == "__main__":
    _mode, _args = sys.argv[1], json.loads(sys.argv[2])
    {"engine": _drive_engine, "contract": _drive_contract, "export": _drive_export}[_mode](_args)
