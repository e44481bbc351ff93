"""Inception-v4: the shapes of seed 003 / the paper, timm's parameter count, the minimum size."""

import numpy as np
import paddle
import pytest
from conftest import block_shapes, n_trainable, too_small_layers

import paddle_inception as pi
from paddle_inception.models.inception_v4 import (
    InceptionA,
    InceptionB,
    InceptionC,
    ReductionA,
    ReductionB,
)

# (C, H, W) after each named layer at 299x299, from seed 003 (which writes H x W x C)
SEED_003_SHAPES = {
    # the stem, step by step
    "Conv2d_1a_3x3": (32, 149, 149),
    "Conv2d_2a_3x3": (32, 147, 147),
    "Conv2d_2b_3x3": (64, 147, 147),
    "Mixed_3a": (160, 73, 73),
    "Mixed_4a": (192, 71, 71),
    "Mixed_5a": (384, 35, 35),  # Stem = 35x35x384
    "Mixed_5e": (384, 35, 35),  # 4x Inception-A
    "Mixed_6a": (1024, 17, 17),  # Reduction-A
    "Mixed_6h": (1024, 17, 17),  # 7x Inception-B
    "Mixed_7a": (1536, 8, 8),  # Reduction-B
    "Mixed_7d": (1536, 8, 8),  # 3x Inception-C
}

TF_SLIM_NAMES = (
    ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Mixed_3a", "Mixed_4a", "Mixed_5a"]
    + [f"Mixed_5{c}" for c in "bcde"]
    + ["Mixed_6a"]
    + [f"Mixed_6{c}" for c in "bcdefgh"]
    + ["Mixed_7a"]
    + [f"Mixed_7{c}" for c in "bcd"]
)


MODEL_NAME = "inception_v4"  # the `model` fixture of conftest


def test_layout_follows_tf_slim(model):
    assert model.block_names == TF_SLIM_NAMES
    kinds = {"Mixed_5": InceptionA, "Mixed_6": InceptionB, "Mixed_7": InceptionC}
    for name in TF_SLIM_NAMES[6:]:
        expected = {"Mixed_6a": ReductionA, "Mixed_7a": ReductionB}.get(name, kinds[name[:7]])
        assert type(getattr(model, name)) is expected, name
    assert isinstance(model.head, pi.models.ClassifierHead)
    assert model.head.dropout.p == pytest.approx(0.2)  # keep 0.8


def test_shapes_at_299_match_seed_003(model):
    shapes = block_shapes(model, 299)
    for name, shape in SEED_003_SHAPES.items():
        assert shapes[name] == shape, (name, shapes[name], shape)
    # every Inception block keeps its grid and width
    for name in TF_SLIM_NAMES[6:]:
        if not name.endswith("a"):
            assert shapes[name] == shapes[name[:-1] + "a"], name
    assert shapes["pooled"] == (1536,)  # average pooling: 1x1x1536
    assert shapes["logits"] == (1000,)
    assert model.num_features == 1536
    for f in model.feature_info:
        c, h, w = shapes[f["name"]]
        # valid padding loses up to 2 px against 299 / reduction (147 vs 149, 73 vs 74, ...)
        assert f["num_chs"] == c and 299 // f["reduction"] - 2 <= h <= 299 // f["reduction"]
    assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 16, 32]


def test_trainable_parameter_count_is_timms(model):
    # Trainable parameters (conv weights, BN gamma/beta, fc) with 1000 classes. 42,679,816 is
    # what timm's `inception_v4` reports (sum of requires_grad params, timm 1.0.31, counted in a
    # throwaway script). Paddle lists BN running mean/variance as parameters with
    # stop_gradient=True: they are the only non-trainable ones, 2 per BN channel.
    assert n_trainable(model) == 42_679_816
    bn_channels = sum(
        bn.weight.shape[0] for bn in model.sublayers() if isinstance(bn, paddle.nn.BatchNorm2D)
    )
    frozen = [n for n, p in model.named_parameters() if p.stop_gradient]
    assert all(n.endswith(("._mean", "._variance")) for n in frozen)
    assert (
        sum(int(np.prod(p.shape)) for p in model.parameters() if p.stop_gradient) == 2 * bn_channels
    )
    # no conv has a bias: every conv is followed by BN
    assert all(c.bias is None for c in model.sublayers() if isinstance(c, paddle.nn.Conv2D))


def test_classifier_size_follows_num_classes(model):
    small = pi.create_model("inception_v4", num_classes=10)
    assert n_trainable(model) - n_trainable(small) == 1536 * (1000 - 10) + (1000 - 10)


def test_min_input_size_is_tight(model):
    m = model.min_input_size
    assert m == 75 == pi.get_model_cfg("inception_v4")["min_input_size"][-1]
    bad, out = too_small_layers(model, m)
    assert not bad and out.shape == [1, 1536, 1, 1]
    bad, _ = too_small_layers(model, m - 1)
    assert bad  # Reduction-B's valid 3x3/2 layers get 2x2
    with pytest.raises(ValueError, match="74x74"):
        model(paddle.randn([1, 3, m - 1, m - 1]))


def test_inception_avg_pool_ignores_padding():
    # count_include_pad=False (timm) == TF 'SAME' avg pool: a constant map stays constant at
    # the border instead of being diluted by the zero padding (which changes converted logits)
    block = InceptionA(8)
    pool = block.branch3[0]
    out = pool(paddle.ones([1, 2, 5, 5]))
    np.testing.assert_allclose(out.numpy(), np.ones([1, 2, 5, 5]), rtol=0, atol=1e-6)


def test_blocks_work_on_any_grid():
    x = paddle.randn([2, 384, 9, 7])
    assert InceptionA()(x).shape == [2, 384, 9, 7]
    y = ReductionA()(x)
    assert y.shape == [2, 1024, 4, 3]
    assert InceptionB()(y).shape == [2, 1024, 4, 3]
    z = ReductionB()(paddle.randn([2, 1024, 7, 7]))
    assert z.shape == [2, 1536, 3, 3]
    assert InceptionC()(z).shape == [2, 1536, 3, 3]


def test_registry_config():
    cfg = pi.get_model_cfg("inception_v4")
    assert cfg["input_size"] == (3, 299, 299)
    assert cfg["crop_pct"] == 0.875 and cfg["interpolation"] == "bicubic"
    assert cfg["mean"] == pi.registry.INCEPTION_MEAN and cfg["std"] == pi.registry.INCEPTION_STD
    assert "Inception-v4" in cfg["paper"]
