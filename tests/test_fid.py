"""FID / KID / Inception Score (issue 32): the FID network `fid_inception_v3` against
pytorch-fid's (random weights: the published file is not downloadable here), the scores against
pytorch-fid's and torch-fidelity's on the same feature arrays, pytorch-fid's `.npz` files both
ways, and `paddle-inception fid` on bad input. The peers are the `fid` extra
(`pip install ".[fid]"`; .ci/run installs them); tests needing them skip naming it."""

import io
import json
import os
import re
import zipfile
from unittest import mock

import numpy as np
import paddle
import pytest
from PIL import Image

import paddle_inception as pi
from paddle_inception.cli import fid as fid_cli
from paddle_inception.metrics import (
    StatsAccumulator,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    load_stats,
    measure_folder,
    save_stats,
)
from paddle_inception.metrics.stats import ActivationStats

FID_EXTRA = 'the FID parity peers: pip install ".[fid]" (pytorch-fid, torch-fidelity)'
TAPS = (64, 192, 768, 2048)


def _peer(name):
    return pytest.importorskip(name, reason=f"{name} missing: {FID_EXTRA}")


# ------------------------------------------------------------------------------ helpers
def _random_torch_state(seed=0):
    """A state dict of pytorch-fid's FID Inception (torchvision Inception3 names, 1008 classes,
    no aux head) with random weights scaled so that activations stay O(1) through all 94 convs:
    He-normal convs, BN gamma ~ U(0.6, 1.4), running stats near (0, 1), fc ~ N(0, 0.05)."""
    torch = _peer("torch")
    torchvision = _peer("torchvision")
    g = np.random.default_rng(seed)
    net = torchvision.models.inception_v3(
        num_classes=1008, aux_logits=False, init_weights=False, weights=None
    )
    draw = {
        "conv.weight": lambda s: g.normal(0, np.sqrt(2.0 / np.prod(s[1:])), s),
        "bn.weight": lambda s: g.uniform(0.6, 1.4, s),
        "bn.bias": lambda s: g.uniform(-0.2, 0.2, s),
        "running_mean": lambda s: g.uniform(-0.1, 0.1, s),
        "running_var": lambda s: g.uniform(0.6, 1.5, s),
        "fc.weight": lambda s: g.normal(0, 0.05, s),
        "fc.bias": lambda s: g.uniform(-0.1, 0.1, s),
    }
    sd = {}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            sd[k] = v
            continue
        (fn,) = [f for suffix, f in draw.items() if k.endswith(suffix)]
        sd[k] = torch.from_numpy(fn(tuple(v.shape)).astype(np.float32))
    return sd


def _pytorch_fid_net(state, blocks=(0, 1, 2, 3)):
    """pytorch-fid's InceptionV3 wrapper around its own fid_inception_v3(), with the weight
    download patched to hand it `state` (it then loads it strictly itself)."""
    inception = _peer("pytorch_fid.inception")
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state):
        return inception.InceptionV3(list(blocks)).eval()


@pytest.fixture(scope="module")
def peer_weights(tmp_path_factory):
    """(torch state dict, its .pth file, our converted model)."""
    torch = _peer("torch")
    _peer("pytorch_fid")
    state = _random_torch_state()
    d = tmp_path_factory.mktemp("fidw")
    pth = d / "pt_inception-2015-12-05-random.pth"
    torch.save(state, pth)
    dst = d / "fid.pdparams"
    assert pi.cli.main(["convert", "--from", "pytorch-fid", str(pth), str(dst)]) == 0
    sidecar = json.loads((d / "fid.json").read_text())
    assert sidecar["arch"] == "fid_inception_v3"
    model = pi.create_model("fid_inception_v3", pretrained=str(dst))
    model.eval()
    return state, pth, dst, model


@pytest.fixture(scope="module")
def own_weights(tmp_path_factory):
    """Weights of our own randomly initialised FID network (for the tests without peers)."""
    paddle.seed(3)
    path = tmp_path_factory.mktemp("own") / "fid.pdparams"
    paddle.save(pi.create_model("fid_inception_v3").state_dict(), str(path))
    return str(path)


def _write_folder(folder, images, fmt="png"):
    os.makedirs(folder, exist_ok=True)
    for i, im in enumerate(images):
        im.save(os.path.join(folder, f"{i:04d}.{fmt}"))
    return str(folder)


def _fashion_like(n, seed, size=32, modes=("L", "RGB", "RGBA")):
    """Smooth random images in turns of grayscale, RGB and RGBA (pytorch-fid and we both read
    them through Pillow's convert("RGB"))."""
    g = np.random.default_rng(seed)
    out = []
    for i in range(n):
        base = g.integers(0, 256, (size // 4, size // 4, 4), dtype=np.uint8)
        big = np.asarray(Image.fromarray(base, "RGBA").resize((size, size), Image.BILINEAR))
        mode = modes[i % len(modes)]
        out.append(Image.fromarray(big, "RGBA").convert(mode))
    return out


# ------------------------------------------------------------------------------ network
def test_features_equal_pytorch_fid_at_all_taps(peer_weights):
    torch = _peer("torch")
    state, _, _, model = peer_weights
    ref_net = _pytorch_fid_net(state)
    g = np.random.default_rng(1)
    # upsampled (64x80 -> 299) and downsampled (331x310 -> 299) inputs, uint8 as from files
    for shape in ((3, 3, 64, 80), (2, 3, 331, 310)):
        imgs = g.integers(0, 256, shape, dtype=np.uint8)
        with torch.no_grad():
            outs = ref_net(torch.from_numpy(imgs).float() / 255)  # ToTensor's scaling
        ref = {d: o.mean(dim=(2, 3)).numpy() for d, o in zip(TAPS, outs)}
        ref["logits_unbiased"] = ref[2048] @ state["fc.weight"].numpy().T
        with paddle.no_grad():
            ours = model.fid_features(paddle.to_tensor(imgs), dims=TAPS, logits=True)
        for key, r in ref.items():
            a = ours[key].numpy()
            assert a.shape == r.shape
            # float32 rounding through 94 convs: measured <= 2.2e-6 of the largest value
            err = np.abs(a - r).max() / np.abs(r).max()
            assert err < 2e-5, (shape, key, err)
            assert r.std() > 0.1  # the random weights keep the activations O(1)
    # the check can fail: torchvision's Inception-v3 blocks with the same weights differ
    tv = pi.create_model("inception_v3", num_classes=1008, aux_logits=False)
    tv.set_state_dict(model.state_dict())
    tv.eval()
    with paddle.no_grad():
        x = model.fid_input(paddle.to_tensor(imgs))
        plain = tv.forward_head(tv.forward_features(x), pre_logits=True).numpy()
    assert np.abs(plain - ref[2048]).max() / np.abs(ref[2048]).max() > 1e-3


def test_forward_stages_are_the_fid_taps():
    model = pi.create_model("fid_inception_v3")
    model.eval()
    images = paddle.rand([1, 3, 40, 40])  # [0, 1]
    x = model.fid_input(images)
    assert x.shape == [1, 3, 299, 299] and float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    with paddle.no_grad():
        stages = model.forward_stages(x)
        feats = model.fid_features(images, dims=TAPS)
    maps = [[64, 73, 73], [192, 35, 35], [768, 17, 17], [2048, 8, 8]]
    assert [s.shape[1:] for s in stages] == maps
    for s, d in zip(stages, TAPS):
        np.testing.assert_allclose(feats[d].numpy(), s.mean(axis=[2, 3]).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"dims must be among \[64, 192, 768, 2048\]"):
        model.fid_features(x, dims=(100,))


def test_convert_refuses_a_torchvision_state_with_aux_head(tmp_path):
    torch = _peer("torch")
    state = {"AuxLogits.fc.weight": torch.zeros(1000, 768), "fc.weight": torch.zeros(1008, 2048)}
    torch.save(state, tmp_path / "tv.pth")
    code = pi.cli.main(["convert", "--from", "pytorch-fid", str(tmp_path / "tv.pth"), "x.pdparams"])
    assert code == 1 and not (tmp_path / "x.pdparams").exists()


# ------------------------------------------------------------------------------ scores
def _features(n, d, seed, shift=0.0):
    g = np.random.default_rng(seed)
    mix = g.normal(0, 1, (d, d)) / np.sqrt(d)
    return (g.normal(shift, 1, (n, d)) @ mix + np.abs(g.normal(0, 1, (n, d)))).astype(np.float32)


def test_streamed_statistics_equal_numpy():
    act = _features(301, 48, 0).astype(np.float64) * 100 + 1e4  # large offset: no cancellation
    acc = StatsAccumulator(48)
    for i in range(0, 301, 37):
        acc.update(act[i : i + 37])
    st = acc.result()
    np.testing.assert_allclose(st.mu, act.mean(0), rtol=1e-12)
    np.testing.assert_allclose(st.sigma, np.cov(act, rowvar=False), rtol=1e-9, atol=1e-9)
    assert st.n == 301


def test_fid_equals_pytorch_fid(caplog):
    fid_score = _peer("pytorch_fid.fid_score")
    for n, d in ((400, 64), (40, 64)):  # 40 < 64: singular covariances
        a, b = _features(n, d, 1), _features(n, d, 2, shift=0.3)
        sa, sb = StatsAccumulator(d), StatsAccumulator(d)
        sa.update(a), sb.update(b)
        with caplog.at_level("WARNING", logger="paddle_inception.metrics"):
            ra, rb = sa.result(), sb.result()
        assert ("samples for 64 feature dims" in caplog.text) == (n < d)
        ours = frechet_distance(ra.mu, ra.sigma, rb.mu, rb.sigma)
        ref = fid_score.calculate_frechet_distance(
            a.astype(np.float64).mean(0),
            np.cov(a.astype(np.float64), rowvar=False),
            b.astype(np.float64).mean(0),
            np.cov(b.astype(np.float64), rowvar=False),
        )
        assert ours == pytest.approx(ref, rel=1e-6), (n, d)
        assert ours > 0.1


def test_kid_and_isc_equal_torch_fidelity():
    torch = _peer("torch")
    kid_mod = _peer("torch_fidelity.metric_kid")
    isc_mod = _peer("torch_fidelity.metric_isc")
    a, b = _features(260, 32, 3).astype(np.float64), _features(240, 32, 4, 0.2).astype(np.float64)
    ref = kid_mod.kid_features_to_metric(
        torch.from_numpy(a), torch.from_numpy(b), kid_subsets=20, kid_subset_size=100, verbose=False
    )
    ours = kernel_inception_distance(a, b, subsets=20, subset_size=100)
    assert ours.mean == pytest.approx(ref[kid_mod.KEY_METRIC_KID_MEAN], rel=1e-6)
    assert ours.std == pytest.approx(ref[kid_mod.KEY_METRIC_KID_STD], rel=1e-6)
    assert ours.mean > 10 * ours.std / np.sqrt(20)  # the shifted sets are told apart
    logits = _features(503, 40, 5).astype(np.float64) * 3
    ref = isc_mod.isc_features_to_metric(torch.from_numpy(logits), splits=10)
    ours = inception_score(logits, splits=10)
    assert ours.mean == pytest.approx(ref[isc_mod.KEY_METRIC_ISC_MEAN], rel=1e-6)
    assert ours.std == pytest.approx(ref[isc_mod.KEY_METRIC_ISC_STD], rel=1e-6)
    with pytest.raises(ValueError, match="subset size 1000 is larger than the samples"):
        kernel_inception_distance(a, b)


# ------------------------------------------------------------------------------ files
def test_stats_npz_round_trip_with_pytorch_fid(tmp_path):
    fid_score = _peer("pytorch_fid.fid_score")
    a = _features(100, 16, 6).astype(np.float64)
    ours = ActivationStats(a.mean(0), np.cov(a, rowvar=False), 100)
    save_stats(tmp_path / "ours.npz", ours)
    m, s = fid_score.compute_statistics_of_path(str(tmp_path / "ours.npz"), None, 1, 16, "cpu")
    np.testing.assert_array_equal(m, ours.mu)
    np.testing.assert_array_equal(s, ours.sigma)
    b = _features(100, 16, 7).astype(np.float64)
    np.savez_compressed(tmp_path / "theirs.npz", mu=b.mean(0), sigma=np.cov(b, rowvar=False))
    back = load_stats(tmp_path / "theirs.npz", dims=16)
    np.testing.assert_array_equal(back.sigma, np.cov(b, rowvar=False))
    assert back.n == 0  # pytorch-fid does not record it


def test_cli_on_two_npz_files_prints_pytorch_fids_value(tmp_path, capsys):
    fid_score = _peer("pytorch_fid.fid_score")
    paths = []
    for i in range(2):
        x = _features(200, 16, 10 + i, shift=0.2 * i).astype(np.float64)
        paths.append(str(tmp_path / f"{i}.npz"))
        np.savez_compressed(paths[-1], mu=x.mean(0), sigma=np.cov(x, rowvar=False))
    assert fid_cli.main(paths + ["--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (m1, s1), (m2, s2) = [
        fid_score.compute_statistics_of_path(p, None, 1, 16, "cpu") for p in paths
    ]
    ref = fid_score.calculate_frechet_distance(m1, s1, m2, s2)
    assert out["dims"] == 16 and out["fid"] == pytest.approx(ref, rel=1e-6)


@pytest.mark.slow
def test_folders_end_to_end_equal_pytorch_fid(peer_weights, tmp_path, capsys):
    """The same image folders (grayscale, RGB and RGBA PNGs) through both tools at the 64-dim
    tap; the FID agrees to 1e-4 relative (measured: float32 rounding of the features only)."""
    fid_score = _peer("pytorch_fid.fid_score")
    state, pth, dst, _ = peer_weights
    a = _write_folder(tmp_path / "a", _fashion_like(70, 0))
    b = _write_folder(tmp_path / "b", _fashion_like(70, 1))
    inception = _peer("pytorch_fid.inception")
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state):
        ref = fid_score.calculate_fid_given_paths([a, b], 20, "cpu", 64, num_workers=0)
    args = [a, b, "--dims", "64", "--batch-size", "20", "--format", "json"]
    assert (
        fid_cli.main(args + ["--weights", str(pth), "--save-stats", str(tmp_path / "a.npz")]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["fid"] == pytest.approx(ref, rel=1e-4)
    assert [p["n"] for p in out["paths"]] == [70, 70]
    # the saved statistics reproduce the FID with pytorch-fid's reader
    m, s = fid_score.compute_statistics_of_path(str(tmp_path / "a.npz"), None, 1, 64, "cpu")
    again = [str(tmp_path / "a.npz"), b, "--dims", "64", "--weights", str(dst), "--format", "json"]
    assert fid_cli.main(again) == 0 and m.shape == (64,) and s.shape == (64, 64)
    assert json.loads(capsys.readouterr().out)["fid"] == pytest.approx(out["fid"], rel=1e-6)


def test_mixed_sizes_are_resized_one_by_one(peer_weights, tmp_path):
    """pytorch-fid cannot batch images of different sizes (batch size 1 works); we resize them
    one by one inside a batch: the same features as its batch size 1."""
    fid_score = _peer("pytorch_fid.fid_score")
    state, _, _, model = peer_weights
    imgs = _fashion_like(5, 2, size=32) + _fashion_like(4, 3, size=48)
    folder = _write_folder(tmp_path / "mixed", imgs)
    ours = measure_folder(model, folder, dims=64, batch_size=4, keep_features=True)
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    ref = fid_score.get_activations(files, _pytorch_fid_net(state, blocks=(0,)), 1, 64, "cpu", 0)
    assert ours.n == 9 and ours.features.shape == ref.shape
    assert np.abs(ours.features - ref).max() < 2e-5 * np.abs(ref).max()


# ------------------------------------------------------------------------------ bad input
def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _err(capsys):
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_bad_inputs_are_one_clear_line(own_weights, tmp_path, capsys):
    good = np.eye(8)
    cases = {
        "wrong_shape.npz": dict(mu=np.zeros(8), sigma=np.eye(7)),
        "nan.npz": dict(mu=np.full(8, np.nan), sigma=good),
        "no_sigma.npz": dict(mu=np.zeros(8)),
        "ok.npz": dict(mu=np.zeros(8), sigma=good),
        "other_dims.npz": dict(mu=np.zeros(4), sigma=np.eye(4)),
    }
    for name, arrays in cases.items():
        np.savez(tmp_path / name, **arrays)
    ok = str(tmp_path / "ok.npz")
    # a header claiming a 10^5 x 10^5 sigma (80 GB) with no data behind it; not a zip at all
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**5, 10**5)}
    )
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as zf:
        zf.writestr("mu.npy", _npy(np.zeros(8)))
        zf.writestr("sigma.npy", header.getvalue())
    (tmp_path / "text.npz").write_text("mu, sigma")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    broken = _write_folder(tmp_path / "broken", _fashion_like(2, 0))
    (tmp_path / "broken" / "0002.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    w = ["--weights", own_weights]
    expect = [
        ([str(tmp_path / "wrong_shape.npz"), ok], r"mu has shape \[8\] and sigma \[7, 7\]"),
        ([str(tmp_path / "nan.npz"), ok], r"'mu' has 8 NaN/inf values"),
        ([str(tmp_path / "no_sigma.npz"), ok], r"no 'sigma' array"),
        ([ok, str(tmp_path / "other_dims.npz")], r"other_dims.npz: statistics of 4-dim"),
        ([str(tmp_path / "huge.npz"), ok], r"'sigma' is float64 of shape \[100000, 100000\]"),
        ([str(tmp_path / "text.npz"), ok], r"text.npz: not an .npz archive"),
        ([str(empty), "--save-stats", str(tmp_path / "e.npz")] + w, r"no image files .*empty"),
        ([str(broken), "--save-stats", str(tmp_path / "b.npz")] + w, r"0002.png: not a readable"),
        ([str(broken), ok] + w, r"ok.npz: 8-dim statistics cannot be compared with image"),
        ([ok, str(tmp_path / "nope")], r"nope: no such file or folder"),
        ([ok, ok, "--kid"], r"--kid needs two image folders"),
        ([str(broken), "--save-stats", str(tmp_path / "b.npz")], r"needs its weights: pass"),
    ]
    for args, pattern in expect:
        with mock.patch.dict(os.environ, {fid_cli.WEIGHTS_ENV: ""}):
            assert fid_cli.main(args) == 2, args
        line = _err(capsys)
        assert re.search(pattern, line), (pattern, line)


def test_fewer_samples_than_dims_warns_but_measures(own_weights, tmp_path, capsys):
    a = _write_folder(tmp_path / "a", _fashion_like(6, 0))
    b = _write_folder(tmp_path / "b", _fashion_like(6, 1))
    out_npz = str(tmp_path / "a.npz")
    assert (
        fid_cli.main([a, b, "--dims", "64", "--weights", own_weights, "--save-stats", out_npz]) == 0
    )
    cap = capsys.readouterr()
    assert "WARNING 6 samples for 64 feature dims" in cap.err
    assert cap.out.startswith("FID: ") and np.isfinite(float(cap.out.split()[1]))
    assert load_stats(out_npz).n == 6


def test_cli_kid_and_isc_are_the_library_scores_of_the_folders(own_weights, tmp_path, capsys):
    a = _write_folder(tmp_path / "a", _fashion_like(8, 0))
    b = _write_folder(tmp_path / "b", _fashion_like(8, 1, modes=("RGB",)))
    args = [a, b, "--weights", own_weights, "--kid", "--kid-subset-size", "6", "--kid-subsets"]
    args += ["5", "--isc", "--isc-splits", "2", "--dims", "192", "--format", "json"]
    assert fid_cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    model = pi.create_model("fid_inception_v3", pretrained=own_weights)
    ma, mb = (measure_folder(model, f, 192, 3, keep_features=True, logits=True) for f in (a, b))
    kid = kernel_inception_distance(ma.features, mb.features, subsets=5, subset_size=6)
    assert out["kid"]["mean"] == pytest.approx(kid.mean, rel=1e-4, abs=1e-9)
    assert out["kid"]["subsets"] == 5 and out["kid"]["subset_size"] == 6
    for entry, m in zip(out["isc"], (ma, mb)):
        assert m.logits.shape == (8, 1008) and entry["path"] == m.path
        assert entry["mean"] == pytest.approx(inception_score(m.logits, splits=2).mean, rel=1e-5)
    assert out["isc"][0]["mean"] > 1.0  # the random classifier is not constant
