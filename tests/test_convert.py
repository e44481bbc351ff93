"""Weight conversion (paddle_inception.convert, tools/convert_weights.py).

Parity tests build the peer model with random weights (torchvision / timm in torch on CPU,
PaddleClas in Paddle): He-normal convolutions, random BatchNorm parameters and running
statistics. They scale the classifier so that the peer's logits have unit standard deviation,
save the peer checkpoint the way its users do (torch.save(state_dict) / safetensors /
paddle.save), convert it and compare eval-mode logits: max |ours - peer| <= 1e-4.

PaddleClas is not pip-installed next to paddlepaddle 3.3.1 here: paddleclas 2.6.0 pins
numpy==1.24.4 (we have numpy 2.x), gast==0.3.3 and opencv-python<=4.6.0.66. Its model files
only need paddle, so the PaddleClas tests use an installed `ppcls` / `paddleclas` when there is
one, or else the model files of an unpacked PaddleClas source tree or wheel named by
PADDLECLAS_SRC (the folder holding `ppcls/`), e.g.
    pip download --no-deps paddleclas==2.6.0 -d /tmp/pc && cd /tmp/pc && unzip -q *.whl
    PADDLECLAS_SRC=/tmp/pc/paddleclas python -m pytest tests/test_convert.py
and are skipped otherwise.
"""

import importlib
import json
import os
import pickle
import sys
import types
import zipfile

import numpy as np
import paddle
import pytest

from paddle_inception import convert as C
from paddle_inception import create_model
from paddle_inception.cli import convert as convert_cli
from paddle_inception.convert.mappings import _TIMM_PRE
from paddle_inception.deploy.preprocess import preprocessing_transform_ops

# converts peers' weights (torch, timm, PaddleClas) with logit parity
pytestmark = pytest.mark.slow

TOL = 1e-4  # max |ours - peer| on logits of unit standard deviation


# ----------------------------------------------------------------------------- helpers
def _randomise_torch(torch, model):
    """He-normal convolutions (activations stay of order 1 through the whole network, whatever
    the peer's own init) and random BN parameters and running statistics; eval mode."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.empty(n).uniform_(0.8, 1.2, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(torch.empty(n).uniform_(0.5, 1.5, generator=g))
    model.eval()


def _randomise_paddle(model):
    rng = np.random.default_rng(1)
    for m in model.sublayers():
        if isinstance(m, paddle.nn.Conv2D):
            fan_in = int(np.prod(m.weight.shape[1:]))
            m.weight.set_value(
                (rng.standard_normal(m.weight.shape) * (2.0 / fan_in) ** 0.5).astype("float32")
            )
        elif isinstance(m, (paddle.nn.BatchNorm, paddle.nn.BatchNorm2D)):
            n = m.weight.shape[0]
            m.weight.set_value(rng.uniform(0.8, 1.2, n).astype("float32"))
            m.bias.set_value((0.1 * rng.standard_normal(n)).astype("float32"))
            m._mean.set_value((0.1 * rng.standard_normal(n)).astype("float32"))
            m._variance.set_value(rng.uniform(0.5, 1.5, n).astype("float32"))
    model.eval()


def _unit_logits(weight, bias, ref):
    """Scale the classifier (in place) so the logits `ref` get unit std; logits are linear in
    (weight, bias), so the scaled logits are ref * s without another forward pass."""
    s = float(1.0 / ref.std())
    weight *= s
    bias *= s
    return ref * s


def _max_diff(model, x_np, ref):
    with paddle.no_grad():
        out = model(paddle.to_tensor(x_np)).numpy()
    assert out.shape == ref.shape
    return float(np.abs(out - ref).max())


def _save_torch(torch, model, path, fmt):
    sd = model.state_dict()
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    else:
        torch.save(sd, str(path))


# ----------------------------------------------------------------------------- torch peers
def _tv_googlenet(torch):
    tv = pytest.importorskip("torchvision")
    m = tv.models.googlenet(weights=None, aux_logits=True, init_weights=True, transform_input=True)
    return m, m.fc


def _tv_inception_v3(torch):
    tv = pytest.importorskip("torchvision")
    m = tv.models.inception_v3(
        weights=None, aux_logits=True, init_weights=True, transform_input=False
    )
    return m, m.fc


def _timm(name):
    def build(torch):
        timm = pytest.importorskip("timm")
        m = timm.create_model(name)
        return m, m.get_classifier()

    return build


# (source, arch, peer builder, input size, file format, convert kwargs, expected kwargs)
TORCH_CASES = [
    (
        "torchvision",
        "googlenet",
        _tv_googlenet,
        224,
        "pth",
        {},
        dict(
            batch_norm=True,
            branch3_kernel_size=3,
            maxpool4_kernel_size=2,
            aux_logits=True,
            transform_input=True,
        ),
    ),
    (
        "torchvision",
        "inception_v3",
        _tv_inception_v3,
        299,
        "pth",
        dict(transform_input=False),
        dict(aux_logits=True, transform_input=False),
    ),
    (
        "timm",
        "inception_v3",
        _timm("inception_v3"),
        203,
        "safetensors",
        {},
        dict(aux_logits=False, transform_input=False),
    ),
    ("timm", "inception_v4", _timm("inception_v4"), 147, "safetensors", {}, {}),
    ("timm", "inception_resnet_v2", _timm("inception_resnet_v2"), 147, "pth", {}, {}),
]


@pytest.mark.parametrize(
    "source,arch,build,size,fmt,kwargs,expect",
    TORCH_CASES,
    ids=[f"{c[0]}-{c[1]}" for c in TORCH_CASES],
)
def test_torch_peer_parity(tmp_path, source, arch, build, size, fmt, kwargs, expect):
    torch = pytest.importorskip("torch")
    if fmt == "safetensors":
        pytest.importorskip("safetensors")
    torch.manual_seed(0)
    peer, fc = build(torch)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    _randomise_torch(torch, peer)
    with torch.no_grad():
        ref = peer(x).numpy()
        ref = _unit_logits(fc.weight, fc.bias, ref)
    src = tmp_path / f"{arch}.{fmt}"
    _save_torch(torch, peer, src, fmt)
    dst = tmp_path / f"{arch}.pdparams"
    res = C.convert_checkpoint(src, dst, source, arch, **kwargs)
    for k, v in expect.items():
        assert res.model_kwargs[k] == v, (k, res.model_kwargs)
    diff = _max_diff(res.model, x.numpy(), ref)
    print(f"{source} {arch} @{size}: max |diff| = {diff:.3g} (logit std 1)")
    assert diff <= TOL

    # the written file + sidecar reproduce the verified model
    meta = json.loads((tmp_path / f"{arch}.json").read_text())
    assert meta["arch"] == res.arch and meta["model_kwargs"] == res.model_kwargs
    assert meta["source"]["framework"] == source and len(meta["source"]["sha256"]) == 64
    pre = meta["preprocessing"]
    assert set(pre) == {"input_size", "crop_pct", "resize_short", "interpolation", "mean", "std"}

    if arch == "googlenet":
        # load_converted and create_model(pretrained=...) give the same model
        model, pre2 = C.load_converted(dst)
        assert pre2 == pre and not model.training
        assert model.default_cfg["interpolation"] == "bilinear"
        assert _max_diff(model, x.numpy(), ref) <= TOL
        again = create_model(meta["arch"], pretrained=str(dst), **meta["model_kwargs"])
        again.eval()
        assert _max_diff(again, x.numpy(), ref) <= TOL
        # tools/infer.py picks up the sidecar: model options and the recorded preprocessing
        from PIL import Image

        from paddle_inception.cli import infer

        img = tmp_path / "cat.png"
        Image.fromarray((np.random.rand(300, 400, 3) * 255).astype("uint8")).save(img)
        setup = infer._setup(infer.build_parser().parse_args([str(img), "--weights", str(dst)]))
        assert "converted weights" in setup["desc"]
        with open(img, "rb") as f:
            chw = setup["preprocess"](f.read())
        assert list(chw.shape) == [3] + list(pre["input_size"][-2:])
    # auxiliary heads (only run in training mode, so compared directly on a random map)
    aux = {
        "googlenet": [("aux1", 512, 14), ("aux2", 528, 14)],
        "inception_v3": [("AuxLogits", 768, 17)] if res.model_kwargs.get("aux_logits") else [],
    }
    for name, ch, hw in aux.get(arch, []):
        a = torch.randn(1, ch, hw, hw, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            ra = getattr(peer, name)(a).numpy()
        with paddle.no_grad():
            oa = getattr(res.model, name)(paddle.to_tensor(a.numpy())).numpy()
        assert np.abs(oa - ra).max() <= TOL * max(1.0, float(ra.std())), name


# ----------------------------------------------------------------------------- PaddleClas peers
_PPCLS_ALIAS = "_ppcls_src_for_tests"


def _ppcls_module(rel: str):
    """PaddleClas model file `rel` (e.g. "arch.backbone.model_zoo.inception_v4")."""
    for root in ("paddleclas.ppcls", "ppcls"):
        try:
            return importlib.import_module(f"{root}.{rel}")
        except ImportError:
            pass
    src = os.environ.get("PADDLECLAS_SRC")
    if not src or not os.path.isdir(os.path.join(src, "ppcls")):
        pytest.skip("PaddleClas not importable and PADDLECLAS_SRC not set (see module doc)")
    base = os.path.join(src, "ppcls")
    # package shells whose __path__ points at the real folders, so that only the model file,
    # its `base.theseus_layer` and two stubbed utils get imported (not all of ppcls)
    for sub in (
        "",
        ".arch",
        ".arch.backbone",
        ".arch.backbone.model_zoo",
        ".arch.backbone.legendary_models",
        ".arch.backbone.base",
        ".utils",
    ):
        name = _PPCLS_ALIAS + sub
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.__path__ = [os.path.join(base, *sub.split(".")[1:])]
            sys.modules[name] = mod
    utils = sys.modules[_PPCLS_ALIAS + ".utils"]

    def no_download(*args, **kwargs):
        raise RuntimeError("no pretrained downloads in tests")

    save_load = types.ModuleType(_PPCLS_ALIAS + ".utils.save_load")
    save_load.load_dygraph_pretrain = save_load.load_dygraph_pretrain_from_url = no_download
    logger = types.ModuleType(_PPCLS_ALIAS + ".utils.logger")
    for fn in ("info", "warning", "error", "debug"):
        setattr(logger, fn, lambda *a, **k: None)
    for m in (save_load, logger):
        sys.modules[m.__name__] = m
        setattr(utils, m.__name__.rsplit(".", 1)[1], m)
    return importlib.import_module(f"{_PPCLS_ALIAS}.{rel}")


PPCLS_CASES = [
    ("InceptionV3", "arch.backbone.legendary_models.inception_v3", "fc", 235),
    ("InceptionV4", "arch.backbone.model_zoo.inception_v4", "out", 147),
]


@pytest.mark.parametrize("arch,rel,fc_name,size", PPCLS_CASES, ids=[c[0] for c in PPCLS_CASES])
def test_paddleclas_parity(tmp_path, arch, rel, fc_name, size):
    mod = _ppcls_module(rel)
    paddle.seed(0)
    peer = getattr(mod, arch)()
    x = paddle.to_tensor(
        np.random.default_rng(2).standard_normal((2, 3, size, size)).astype("float32")
    )
    _randomise_paddle(peer)
    with paddle.no_grad():
        ref = peer(x).numpy()
    fc = getattr(peer, fc_name)
    w, b = fc.weight.numpy(), fc.bias.numpy()
    ref = _unit_logits(w, b, ref)
    fc.weight.set_value(w)
    fc.bias.set_value(b)
    src = tmp_path / f"{arch}.pdparams"
    paddle.save(peer.state_dict(), str(src))
    res = C.convert_checkpoint(src, tmp_path / "ours.pdparams", "paddleclas", arch)
    assert res.model_kwargs["bn_eps"] == 1e-5
    diff = _max_diff(res.model, x.numpy(), ref)
    print(f"paddleclas {arch} @{size}: max |diff| = {diff:.3g} (logit std 1)")
    assert diff <= TOL
    assert res.preprocessing["resize_short"] == 320
    if arch == "InceptionV4":
        assert res.model_kwargs["kernel_order"] == "paper"
        # older PaddleClas files are keyed by ParamAttr names (conv1_3x3_s2_weights, ...)
        by_name = {t.name: t.numpy() for t in peer.state_dict().values()}
        assert "conv1_3x3_s2_weights" in by_name
        res2 = C.convert_state_dict(by_name, "paddleclas", arch)
        assert _max_diff(res2.model, x.numpy(), ref) <= TOL


def test_paddleclas_googlenet_is_refused_with_reasons():
    with pytest.raises(C.ConversionError) as e:
        C.convert_state_dict({}, "paddleclas", "GoogLeNet")
    msg = str(e.value)
    for part in ("ReLU", "floor-mode", "1152", "189-236"):
        assert part in msg


# ----------------------------------------------------------------------------- readers
def test_pth_reader_equals_torch_load(tmp_path):
    torch = pytest.importorskip("torch")
    base = torch.randn(6, 8)
    sd = {
        "f32": torch.randn(3, 4),
        "f16": torch.randn(5).half(),
        "bf16": torch.randn(7).bfloat16(),
        "f64": torch.randn(2, 2).double(),
        "i64": torch.arange(10),
        "i32": torch.arange(4, dtype=torch.int32),
        "u8": torch.arange(5, dtype=torch.uint8),
        "bool": torch.tensor([True, False]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "transposed": base.t(),
        "strided_view": base[2:5, 1::3],
        "shares_storage": base,
        "param": torch.nn.Parameter(torch.randn(3)),
        "nested": {"x": [torch.ones(2), 3, "text"]},
    }
    for legacy in (False, True):
        path = tmp_path / f"sd_{legacy}.pth"
        torch.save(sd, str(path), _use_new_zipfile_serialization=not legacy)
        ref = torch.load(str(path), weights_only=True)
        got = C.read_torch_checkpoint(path)
        assert set(got) == set(ref)
        assert got["nested"]["x"][1:] == [3, "text"]
        assert np.array_equal(got["nested"]["x"][0], ref["nested"]["x"][0].numpy())
        for k, v in ref.items():
            if k == "nested":
                continue
            want = v.detach().float().numpy() if v.dtype == torch.bfloat16 else v.detach().numpy()
            assert got[k].dtype == want.dtype and got[k].shape == want.shape, k
            assert np.array_equal(got[k], want), k


def test_safetensors_reader(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    sd = {
        "a": torch.randn(3, 5),
        "b": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "c": torch.randn(4).half(),
        "d": torch.randn(2, 2).bfloat16(),
    }
    path = tmp_path / "w.safetensors"
    st.save_file(sd, str(path), metadata={"format": "pt"})
    got = C.read_checkpoint(path)
    assert set(got) == set(sd)
    for k, v in sd.items():
        assert np.array_equal(got[k], v.float().numpy() if k == "d" else v.numpy()), k


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickles_are_rejected(tmp_path):
    marker = tmp_path / "pwned"
    evil = _Evil()
    evil.marker = str(marker)
    # a plain pickle (.pdparams / legacy-style) and the pickle inside a torch zip
    plain = tmp_path / "evil.pdparams"
    plain.write_bytes(pickle.dumps({"w": np.zeros(2, np.float32), "x": evil}, protocol=2))
    zipped = tmp_path / "evil.pth"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"x": evil}, protocol=2))
        zf.writestr("archive/version", "3\n")
    for path in (plain, zipped):
        with pytest.raises(C.UnsafeCheckpointError, match="system"):
            C.read_checkpoint(path)
        with pytest.raises(pickle.UnpicklingError):
            C.convert_checkpoint(path, tmp_path / "out.pdparams", "timm", "inception_v4")
        assert (
            convert_cli.main(
                [
                    "--from",
                    "timm",
                    "--arch",
                    "inception_v4",
                    str(path),
                    str(tmp_path / "out.pdparams"),
                ]
            )
            == 1
        )
    assert not marker.exists()
    assert not (tmp_path / "out.pdparams").exists()

    torch = pytest.importorskip("torch")
    saved = tmp_path / "evil_torch.pth"
    torch.save({"w": torch.zeros(2), "x": evil}, str(saved))
    with pytest.raises(C.UnsafeCheckpointError):
        C.read_checkpoint(saved)
    assert not marker.exists()


def test_pdparams_reader_matches_paddle_load(tmp_path):
    layer = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.BatchNorm2D(4))
    path = tmp_path / "w.pdparams"
    paddle.save(layer.state_dict(), str(path))
    got = C.extract_state_dict(C.read_checkpoint(path))
    ref = paddle.load(str(path))
    assert set(got) == {k for k in ref if k != "StructuredToParameterName@@"}
    for k, v in got.items():
        assert np.array_equal(v, np.asarray(ref[k])), k


# ----------------------------------------------------------------------------- errors, CLI
def test_wrong_arch_fails_with_key_lists(tmp_path):
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    src = tmp_path / "googlenet.pth"
    torch.save(
        tv.models.googlenet(weights=None, aux_logits=False, init_weights=False).state_dict(),
        str(src),
    )
    dst = tmp_path / "out.pdparams"
    with pytest.raises(C.ConversionError) as e:
        C.convert_checkpoint(src, dst, "torchvision", "inception_v3")
    msg = str(e.value)
    assert "missing keys [" in msg and "Conv2d_1a_3x3.conv.weight" in msg
    assert "unexpected keys [" in msg and "conv1.conv.weight" in msg
    assert "looks like torchvision googlenet" in msg
    assert not dst.exists() and not (tmp_path / "out.json").exists()
    # the right arch works through the command line
    assert (
        convert_cli.main(["--from", "torchvision", "--arch", "googlenet", str(src), str(dst)]) == 0
    )
    meta = json.loads((tmp_path / "out.json").read_text())
    assert meta["arch"] == "googlenet_bn"
    assert meta["model_kwargs"]["aux_logits"] is False
    assert meta["model_kwargs"]["transform_input"] is True  # torchvision's published weights


def test_unsupported_names_and_preprocessing_ops():
    with pytest.raises(C.ConversionError, match="supported"):
        C.convert_state_dict({}, "timm", "inception_v9")
    with pytest.raises(C.ConversionError, match="unknown source"):
        C.convert_state_dict({}, "keras", "inception_v3")
    from paddle_inception.data.transforms import create_operators

    pre = _TIMM_PRE["inception_resnet_v2"]["tf_in1k"]
    ops = create_operators(preprocessing_transform_ops(pre)[1:])  # without DecodeImage
    img = np.random.default_rng(0).integers(0, 256, (360, 420, 3), dtype=np.uint8)
    assert ops(img).shape == (3, 299, 299)


def test_training_checkpoint_wrapper(tmp_path):
    """timm-style training checkpoints: weights under state_dict / state_dict_ema next to an
    argparse.Namespace and numpy metrics; DataParallel's module. prefix is stripped."""
    torch = pytest.importorskip("torch")
    import argparse

    sd = {"module.a.weight": torch.randn(2, 3), "module.a.bias": torch.zeros(2)}
    ema = {"module.a.weight": torch.ones(2, 3), "module.a.bias": torch.ones(2)}
    path = tmp_path / "checkpoint-3.pth.tar"
    torch.save(
        {
            "epoch": 3,
            "arch": "inception_v4",
            "state_dict": sd,
            "state_dict_ema": ema,
            "args": argparse.Namespace(lr=0.1, model="inception_v4"),
            "metric": np.float64(0.75),
        },
        str(path),
    )
    obj = C.read_checkpoint(path)
    assert obj["epoch"] == 3 and obj["metric"] == 0.75
    got = C.extract_state_dict(obj)
    assert set(got) == {"a.weight", "a.bias"}
    assert np.array_equal(got["a.weight"], sd["module.a.weight"].numpy())
    assert np.array_equal(C.extract_state_dict(obj, use_ema=True)["a.weight"], np.ones((2, 3)))
    with pytest.raises(C.ConversionError, match="top-level entries"):
        C.extract_state_dict({"epoch": 3})
