"""GoogLeNet and the Inception block against the documented shapes and counts of the seeds.

Seed 002 (`paddle.summary` of a Paddle GoogLeNet with three outputs) is parsed from the seed file
itself, so every Conv2D / Linear / MaxPool2D row of its table is compared with ours, in order.
"""

import re

import numpy as np
import paddle
import paddle.nn as nn
import pytest
from conftest import SEED_000_TABLE, SEED_002_TABLES, n_non_trainable, n_trainable

import paddle_inception as pi
from paddle_inception.models.googlenet import GoogLeNet, Inception

SEED_002 = SEED_002_TABLES
SEED_000 = SEED_000_TABLE
ROW = re.compile(r"(Conv2D|Linear|MaxPool2D)-\d+\s*\[\[([\d, ]+)\]\]\s*\[([\d, ]+)\]\s*([\d,]+)")


def _shape(s):
    return [int(v) for v in s.split(",")]


def _seed_rows(path, upto=None):
    text = open(path, encoding="utf-8").read()
    if upto:
        text = text[text.index(upto) :]
    return [(t, _shape(i), _shape(o), int(p.replace(",", ""))) for t, i, o, p in ROW.findall(text)]


def _trace(model, x, **kw):
    """(type, input shape, output shape, params) of every Conv2D/Linear/MaxPool2D, in call order."""
    rows, hooks = [], []

    def hook(layer, inputs, output):
        n = sum(int(np.prod(p.shape)) for p in layer.parameters(include_sublayers=False))
        rows.append((type(layer).__name__, list(inputs[0].shape), list(output.shape), n))

    for layer in model.sublayers():
        if isinstance(layer, (nn.Conv2D, nn.Linear, nn.MaxPool2D)):
            hooks.append(layer.register_forward_post_hook(hook))
    out = model(x, **kw)
    for h in hooks:
        h.remove()
    return rows, out


def test_inception_block_matches_seed_002():
    block = Inception(192, 64, (96, 128), (16, 32), 32)
    assert n_trainable(block) == 163_696  # seed 002: Total params 163,696
    seed = _seed_rows(SEED_002)[:7]  # the block's own table (its first 7 rows)
    rows, out = _trace(block, paddle.randn([1, 192, 224, 224]))
    assert out.shape == [1, 256, 224, 224]
    assert rows == seed


def test_googlenet_every_layer_matches_seed_002_table():
    model = GoogLeNet(num_classes=1000)
    model.train()
    seed = _seed_rows(SEED_002, upto="Total params: 163,696")
    assert len(seed) == 59 + 13 + 5  # 59 convs, 13 max pools, 5 linears
    rows, out = _trace(model, paddle.randn([1, 3, 224, 224]))
    # ours: main path, main head, aux1 (4a), aux2 (4d), the order paddle.summary lists them
    assert [r[0] for r in rows] == [r[0] for r in seed]
    for ours, theirs in zip(rows, seed):
        assert ours[1:] == theirs[1:], (ours, theirs)
    assert [o.shape for o in out] == [[1, 1000]] * 3


def test_googlenet_parameter_counts():
    # trainable == total here: the paper-faithful network has no BN (no running statistics)
    assert n_trainable(GoogLeNet()) == 13_378_280  # seed 002, with aux heads
    assert n_trainable(GoogLeNet(aux_logits=False)) == 6_998_552  # seed 000, main path only
    assert n_non_trainable(GoogLeNet()) == 0


def test_googlenet_main_path_matches_seed_000_per_layer_table():
    """Seed 000's torchstat table: every conv's (in, out shape, params), main path only."""
    text = open(SEED_000, encoding="utf-8").read()
    conv = re.compile(
        r"^\s*\d+\s+(\S+)\.conv\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)"
        r"\s+([\d.]+)\s+[\d.]+\s+[\d,.]+\s+([\d,.]+)",
        re.M,
    )
    seed = conv.findall(text)
    assert len(seed) == 57
    model = GoogLeNet(aux_logits=False)
    model.eval()
    rows, out = _trace(model, paddle.randn([1, 3, 224, 224]))
    convs = [r for r in rows if r[0] == "Conv2D"]
    assert len(convs) == 57
    for (name, ci, hi, wi, co, ho, wo, params, _), r in zip(seed, convs):
        assert r[1][1:] == [int(ci), int(hi), int(wi)], name
        assert r[2][1:] == [int(co), int(ho), int(wo)], name
        assert r[3] == int(float(params)), name
    assert out.shape == [1, 1000]


def test_googlenet_flops_match_seed_000():
    """Seed 000's torchstat "Flops" column counts a conv as MACs + one add per output (bias) and
    the fc as its MACs: compared layer by layer with our counter."""
    from paddle_inception.analysis.flops import count_flops

    text = open(SEED_000, encoding="utf-8").read()
    rows = re.findall(
        r"^\s*\d+\s+(\S+)\s.*?\s([\d,]+\.0)\s+([\d,]+\.0)\s+\d+\.0\s+\d+\.0\s+"
        r"[\d.]+%",
        text,
        re.M,
    )
    seed_conv = [int(float(fl.replace(",", ""))) for name, _, fl in rows if name.endswith(".conv")]
    seed_fc = [int(float(fl.replace(",", ""))) for name, _, fl in rows if name == "fc"]
    assert len(seed_conv) == 57 and seed_fc == [1_024_000]
    info = count_flops(GoogLeNet(aux_logits=False), [1, 3, 224, 224])
    convs = [r for r in info["per_layer"] if "conv" in r[0]]
    assert [r[2] for r in convs] == seed_conv
    assert info["per_layer"][-1][1] == seed_fc[0]  # fc: MACs
    # headline: 1.5 G multiply-accumulates per 224x224 image; the seed's 1.59 G total also
    # counts ReLU/pool element-wise ops and bias adds
    assert info["macs"] == sum(seed_conv) - sum(r[2] - r[1] for r in convs) + seed_fc[0]
    assert 1.50e9 < info["macs"] < 1.59e9


def test_feature_maps_112_56_28_14_7_and_other_sizes():
    model = GoogLeNet(aux_logits=False)
    model.eval()
    for size, maps in (
        (224, [112, 56, 28, 14, 7]),
        (299, [150, 75, 37, 18, 9]),
        (31, [16, 8, 4, 2, 1]),
    ):
        stages = model.forward_stages(paddle.randn([1, 3, size, size]))
        assert [s.shape[-1] for s in stages] == maps, size
        assert [s.shape[1] for s in stages] == [64, 192, 480, 832, 1024]


def test_three_outputs_train_eval_and_aux_options():
    model = GoogLeNet(num_classes=10)
    x = paddle.randn([2, 3, 96, 96])
    model.train()
    out = model(x)
    assert isinstance(out, tuple) and [o.shape for o in out] == [[2, 10]] * 3
    model.eval()
    logits = model(x)
    assert logits.shape == [2, 10]
    main, aux1, aux2 = model(x, return_aux=True)
    np.testing.assert_allclose(main.numpy(), logits.numpy(), rtol=1e-6, atol=1e-6)
    # aux1 reads inception4a, aux2 inception4d: different inputs, different logits
    assert not np.allclose(aux1.numpy(), aux2.numpy())
    no_aux = GoogLeNet(num_classes=10, aux_logits=False)
    no_aux.train()
    assert no_aux(x).shape == [2, 10] and no_aux.aux1 is None
    assert not any("aux" in k for k in no_aux.state_dict())
    with pytest.raises(ValueError, match="aux_logits=True needs num_classes > 0"):
        GoogLeNet(num_classes=0)


def test_googlenet_at_299_where_paddle_vision_crashes():
    model = GoogLeNet(num_classes=5)
    model.train()
    outs = model(paddle.randn([1, 3, 299, 299]))
    assert [o.shape for o in outs] == [[1, 5]] * 3


def test_batch_norm_variant_and_torchvision_options():
    bn = pi.create_model("googlenet_bn", num_classes=1000)
    assert isinstance(bn.conv1.bn, nn.BatchNorm2D) and bn.conv1.conv.bias is None
    assert isinstance(bn.aux1.conv.bn, nn.BatchNorm2D)
    # torchvision's GoogLeNet (BN, 3x3 "5x5" branch): 13,004,888 trainable params (with aux)
    tv = pi.create_model("googlenet", batch_norm=True, branch3_kernel_size=3)
    assert n_trainable(tv) == 13_004_888
    assert tv.inception3a.branch3[1].conv.weight.shape[-1] == 3
    with pytest.raises(ValueError, match="branch3_kernel_size"):
        GoogLeNet(branch3_kernel_size=7)


def test_transform_input_matches_torchvision_formula():
    model = GoogLeNet(transform_input=True, aux_logits=False)
    x = paddle.rand([1, 3, 8, 8])
    y = model._transform_input(x).numpy()
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    for c in range(3):
        expect = x.numpy()[:, c] * std[c] / 0.5 + (mean[c] - 0.5) / 0.5
        np.testing.assert_allclose(y[:, c], expect, rtol=1e-6, atol=1e-6)


def test_paddleclas_style_factory():
    from paddle_inception import ppcls

    m = ppcls.GoogLeNet(pretrained=False, class_num=17)
    assert isinstance(m, GoogLeNet) and m.num_classes == 17
    v3 = ppcls.InceptionV3(class_num=3)
    assert v3.num_classes == 3
    with pytest.raises(ValueError, match="use_ssld"):
        ppcls.InceptionV4(use_ssld=True)
