"""Inception-ResNet-v1 (paper) and -v2 (TF-slim / timm layout): shapes, parameter counts,
the residual connection, the minimum input size."""

import numpy as np
import paddle
import pytest
from conftest import block_shapes, n_trainable, too_small_layers

import paddle_inception as pi
from paddle_inception.models.inception_resnet import Block8, Block17, Block35, Mixed7a
from paddle_inception.models.inception_v4 import ReductionA


@pytest.fixture(scope="module")
def v1():
    m = pi.create_model("inception_resnet_v1")
    m.eval()
    return m


@pytest.fixture(scope="module")
def v2():
    m = pi.create_model("inception_resnet_v2")
    m.eval()
    return m


def test_v1_shapes_at_299_follow_the_paper(v1):
    s = block_shapes(v1, 299)
    # (C, H, W): Figure 14 stem, then Figures 10, 7, 11, 12, 13
    assert s["conv2d_1a"] == (32, 149, 149) and s["conv2d_2a"] == (32, 147, 147)
    assert s["conv2d_2b"] == (64, 147, 147) and s["maxpool_3a"] == (64, 73, 73)
    assert s["conv2d_3b"] == (80, 73, 73) and s["conv2d_4a"] == (192, 71, 71)
    assert s["conv2d_4b"] == (256, 35, 35)  # stem
    assert s["repeat"] == (256, 35, 35)  # 5x Inception-ResNet-A
    assert s["mixed_6a"] == (896, 17, 17)  # Reduction-A
    assert s["repeat_1"] == (896, 17, 17)  # 10x Inception-ResNet-B
    assert s["mixed_7a"] == (1792, 8, 8)  # Reduction-B
    assert s["repeat_2"] == (1792, 8, 8)  # 5x Inception-ResNet-C
    assert s["pooled"] == (1792,) and v1.num_features == 1792
    assert [len(v1.repeat), len(v1.repeat_1), len(v1.repeat_2)] == [5, 10, 5]
    for f in v1.feature_info:
        assert f["num_chs"] == s[f["name"]][0]


def test_v2_shapes_at_299_follow_tf_slim(v2):
    assert v2.block_names == [
        "conv2d_1a",
        "conv2d_2a",
        "conv2d_2b",
        "maxpool_3a",
        "conv2d_3b",
        "conv2d_4a",
        "maxpool_5a",
        "mixed_5b",
        "repeat",
        "mixed_6a",
        "repeat_1",
        "mixed_7a",
        "repeat_2",
        "block8",
        "conv2d_7b",
    ]
    s = block_shapes(v2, 299)
    assert s["conv2d_4a"] == (192, 71, 71) and s["maxpool_5a"] == (192, 35, 35)
    assert s["mixed_5b"] == (320, 35, 35) and s["repeat"] == (320, 35, 35)
    assert s["mixed_6a"] == (1088, 17, 17) and s["repeat_1"] == (1088, 17, 17)
    assert s["mixed_7a"] == (2080, 8, 8) and s["repeat_2"] == (2080, 8, 8)
    assert s["block8"] == (2080, 8, 8)
    assert s["conv2d_7b"] == (1536, 8, 8)
    assert s["pooled"] == (1536,) and v2.num_features == 1536
    for f in v2.feature_info:
        assert f["num_chs"] == s[f["name"]][0]


def test_v2_block_counts_and_scales(v2):
    assert [b.scale for b in v2.repeat] == [pytest.approx(0.17)] * 10
    assert [b.scale for b in v2.repeat_1] == [pytest.approx(0.10)] * 20
    assert [b.scale for b in v2.repeat_2] == [pytest.approx(0.20)] * 9
    assert all(b.act is not None for b in list(v2.repeat) + list(v2.repeat_1) + list(v2.repeat_2))
    assert v2.block8.scale == 1.0 and v2.block8.act is None  # TF-slim's last Block8: no ReLU


def test_v2_trainable_parameter_count_is_timms(v2):
    # trainable parameters with 1000 classes; timm's inception_resnet_v2 reports 55,843,464
    # (counted with timm 1.0.31); BN running statistics are non-trainable buffers in paddle
    assert n_trainable(v2) == 55_843_464


def _conv_bn(cin, cout, kh, kw=None):
    """conv without bias + BN gamma/beta"""
    return kh * (kw or kh) * cin * cout + 2 * cout


def _linear_1x1(cin, cout):
    """the residual projection: 1x1 conv with bias, no BN"""
    return cin * cout + cout


def test_v1_trainable_parameter_count_from_the_paper_figures(v1):
    # Figure 14 (stem, 299x299x3 -> 35x35x256)
    stem = (
        _conv_bn(3, 32, 3)
        + _conv_bn(32, 32, 3)
        + _conv_bn(32, 64, 3)
        + _conv_bn(64, 80, 1)
        + _conv_bn(80, 192, 3)
        + _conv_bn(192, 256, 3)
    )
    # Figure 10: 1x1 32 | 1x1 32, 3x3 32 | 1x1 32, 3x3 32, 3x3 32 -> 1x1 256 linear
    block_a = (
        _conv_bn(256, 32, 1)
        + _conv_bn(256, 32, 1)
        + _conv_bn(32, 32, 3)
        + _conv_bn(256, 32, 1)
        + 2 * _conv_bn(32, 32, 3)
        + _linear_1x1(96, 256)
    )
    # Figure 7 with Table 1's k=192, l=192, m=256, n=384: 384 + 256 + 256 (pool) = 896
    red_a = (
        _conv_bn(256, 384, 3)
        + _conv_bn(256, 192, 1)
        + _conv_bn(192, 192, 3)
        + _conv_bn(192, 256, 3)
    )
    # Figure 11: 1x1 128 | 1x1 128, 1x7 128, 7x1 128 -> 1x1 896 linear
    block_b = (
        _conv_bn(896, 128, 1)
        + _conv_bn(896, 128, 1)
        + _conv_bn(128, 128, 1, 7)
        + _conv_bn(128, 128, 7, 1)
        + _linear_1x1(256, 896)
    )
    # Figure 12: 1x1 256, 3x3/2 384 | 1x1 256, 3x3/2 256 | 1x1 256, 3x3 256, 3x3/2 256 | pool
    # -> 384 + 256 + 256 + 896 = 1792
    red_b = (
        _conv_bn(896, 256, 1)
        + _conv_bn(256, 384, 3)
        + _conv_bn(896, 256, 1)
        + _conv_bn(256, 256, 3)
        + _conv_bn(896, 256, 1)
        + 2 * _conv_bn(256, 256, 3)
    )
    # Figure 13: 1x1 192 | 1x1 192, 1x3 192, 3x1 192 -> 1x1 1792 linear
    block_c = (
        _conv_bn(1792, 192, 1)
        + _conv_bn(1792, 192, 1)
        + _conv_bn(192, 192, 1, 3)
        + _conv_bn(192, 192, 3, 1)
        + _linear_1x1(384, 1792)
    )
    fc = 1792 * 1000 + 1000
    expected = stem + 5 * block_a + red_a + 10 * block_b + red_b + 5 * block_c + fc
    assert n_trainable(v1) == expected


# ---- the residual connection ---------------------------------------------------------------

SMALL_BLOCKS = [
    lambda s, a: Block35(16, 4, (4, 4), (4, 6, 8), scale=s, act=a),
    lambda s, a: Block17(24, 8, (4, 6, 8), scale=s, act=a),
    lambda s, a: Block8(32, 8, (8, 8, 8), scale=s, act=a),
]


def _zero_projection(block):
    block.conv2d.conv.weight.set_value(paddle.zeros_like(block.conv2d.conv.weight))
    block.conv2d.conv.bias.set_value(paddle.zeros_like(block.conv2d.conv.bias))


@pytest.mark.parametrize("make", SMALL_BLOCKS)
def test_residual_projection_is_linear_with_bias(make):
    block = make(0.5, True)
    proj = block.conv2d
    assert proj.bn is None and proj.act is None and proj.conv.bias is not None
    branches = block._branches(paddle.randn([1, block.out_channels, 3, 3]))
    width = sum(b.shape[1] for b in branches)
    assert proj.conv.weight.shape == [block.out_channels, width, 1, 1]


@pytest.mark.parametrize("make", SMALL_BLOCKS)
def test_zeroed_residual_branch_gives_relu_of_identity(make):
    block = make(0.3, True)
    block.eval()
    c = block.out_channels
    x = paddle.randn([2, c, 5, 5])
    before = block(x).numpy()
    assert not np.allclose(before, np.maximum(x.numpy(), 0), atol=1e-4)  # the branch adds
    _zero_projection(block)
    np.testing.assert_allclose(block(x).numpy(), np.maximum(x.numpy(), 0), rtol=0, atol=1e-6)


@pytest.mark.parametrize("make", SMALL_BLOCKS)
def test_residual_is_scaled_and_added(make):
    block = make(0.1, False)  # no final ReLU: out = x + scale * branch(x)
    block.eval()
    x = paddle.randn([2, block.out_channels, 5, 5])
    r1 = block(x).numpy() - x.numpy()
    block.scale = 0.3
    r3 = block(x).numpy() - x.numpy()
    assert np.abs(r1).max() > 1e-3
    np.testing.assert_allclose(r3, 3 * r1, rtol=1e-4, atol=1e-5)
    _zero_projection(block)
    np.testing.assert_allclose(block(x).numpy(), x.numpy(), rtol=0, atol=1e-6)


def test_v2_default_block_reduces_to_relu_of_identity_when_zeroed():
    x = paddle.randn([1, 320, 6, 6])
    block = Block35(scale=0.17)  # v2 default widths
    block.eval()
    _zero_projection(block)
    np.testing.assert_allclose(block(x).numpy(), np.maximum(x.numpy(), 0), atol=1e-6)


def test_reductions_widths():
    # v1: Reduction-A (192, 192, 256, 384) and Figure 12; v2: TF-slim mixed_6a / mixed_7a
    assert ReductionA(256, 192, 192, 256, 384)(paddle.randn([1, 256, 9, 9])).shape == [1, 896, 4, 4]
    assert Mixed7a(896, (256, 384), (256, 256), (256, 256, 256))(
        paddle.randn([1, 896, 7, 7])
    ).shape == [1, 1792, 3, 3]
    assert Mixed7a()(paddle.randn([1, 1088, 7, 7])).shape == [1, 2080, 3, 3]


# ---- minimum input size --------------------------------------------------------------------


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_min_input_size_is_tight(which, request):
    model = request.getfixturevalue(which)
    m = model.min_input_size
    assert m == 75 == pi.get_model_cfg(f"inception_resnet_{which}")["min_input_size"][-1]
    bad, out = too_small_layers(model, m)
    assert not bad and out.shape[2:] == [1, 1]
    bad, _ = too_small_layers(model, m - 1)
    assert bad


def test_registry_configs():
    for name, crop in (("inception_resnet_v1", 0.875), ("inception_resnet_v2", 0.8975)):
        cfg = pi.get_model_cfg(name)
        assert cfg["input_size"] == (3, 299, 299) and cfg["crop_pct"] == crop
        assert cfg["mean"] == pi.registry.INCEPTION_MEAN
        assert cfg["std"] == pi.registry.INCEPTION_STD
        assert "Inception-ResNet" in cfg["paper"]
