"""BN-Inception: per-stage shapes at 224, a parameter count derived from the paper's table,
the stride-2 blocks at odd sizes, the minimum input size."""

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest
from conftest import block_shapes, n_trainable

import paddle_inception as pi
from paddle_inception.models.bninception import (
    BNInception,
    InceptionBN,
    InceptionBNReduction,
)

# The appendix table of Ioffe & Szegedy 2015 (Figure 5), typed from the paper:
# name: (#1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, pool proj)
# 0 in #1x1 / pool proj = no such branch ("max + pass through" in the stride-2 rows).
PAPER_TABLE = {
    "inception_3a": (64, 64, 64, 64, 96, "avg", 32),
    "inception_3b": (64, 64, 96, 64, 96, "avg", 64),
    "inception_3c": (0, 128, 160, 64, 96, "max", 0),
    "inception_4a": (224, 64, 96, 96, 128, "avg", 128),
    "inception_4b": (192, 96, 128, 96, 128, "avg", 128),
    "inception_4c": (160, 128, 160, 128, 160, "avg", 128),
    "inception_4d": (96, 128, 192, 160, 192, "avg", 128),
    "inception_4e": (0, 128, 192, 192, 256, "max", 0),
    "inception_5a": (352, 192, 320, 160, 224, "avg", 128),
    "inception_5b": (352, 192, 320, 192, 224, "max", 128),
}
STRIDE_2 = ("inception_3c", "inception_4e")

# (C, H, W) after each layer at 224x224. The table prints 576 for 4c/4d and 1024 for 4e, but
# its own branch widths add up to 608 / 608 / 1056 (as in the Caffe model): see
# test_table_branch_widths_give_the_channel_counts.
SHAPES_224 = {
    "conv1": (64, 112, 112),
    "pool1": (64, 56, 56),
    "conv2_reduce": (64, 56, 56),
    "conv2": (192, 56, 56),
    "pool2": (192, 28, 28),
    "inception_3a": (256, 28, 28),
    "inception_3b": (320, 28, 28),
    "inception_3c": (576, 14, 14),
    "inception_4a": (576, 14, 14),
    "inception_4b": (576, 14, 14),
    "inception_4c": (608, 14, 14),
    "inception_4d": (608, 14, 14),
    "inception_4e": (1056, 7, 7),
    "inception_5a": (1024, 7, 7),
    "inception_5b": (1024, 7, 7),
}


def table_out_channels():
    """Output channels of each Inception block, summed from the table's branch widths."""
    out, c = {}, 192
    for name, (c1, _, c3, _, cd, _, cp) in PAPER_TABLE.items():
        c = c1 + c3 + cd + (cp if name not in STRIDE_2 else c)  # pass-through keeps c
        out[name] = c
    return out


def paper_param_count(num_classes=1000):
    """Sum over convs of k*k*cin*cout + BN (gamma, beta) 2*cout, plus the fc."""

    def conv(k, cin, cout):
        return k * k * cin * cout + 2 * cout

    total = conv(7, 3, 64) + conv(1, 64, 64) + conv(3, 64, 192)  # stem
    cin = 192
    for name, (c1, r3, c3, rd, cd, _, cp) in PAPER_TABLE.items():
        if c1:
            total += conv(1, cin, c1)
        total += conv(1, cin, r3) + conv(3, r3, c3)  # 3x3 branch
        total += conv(1, cin, rd) + conv(3, rd, cd) + conv(3, cd, cd)  # double 3x3 branch
        if cp:
            total += conv(1, cin, cp)
        cin = table_out_channels()[name]
    return total + cin * num_classes + num_classes


MODEL_NAME = "bninception"  # the `model` fixture of conftest


def test_table_branch_widths_give_the_channel_counts():
    out = table_out_channels()
    assert out == {k: SHAPES_224[k][0] for k in PAPER_TABLE}
    # the printed "output size" column disagrees for 4c, 4d and 4e (documented deviation)
    assert (out["inception_4c"], out["inception_4d"], out["inception_4e"]) == (608, 608, 1056)


def test_layout_follows_the_paper(model):
    assert model.block_names == ["conv1", "pool1", "conv2_reduce", "conv2", "pool2", *PAPER_TABLE]
    for name, (c1, r3, c3, rd, cd, pool, cp) in PAPER_TABLE.items():
        block = getattr(model, name)
        if name in STRIDE_2:
            assert type(block) is InceptionBNReduction
            assert not hasattr(block, "branch1x1") and not hasattr(block, "branch_pool")
            assert list(block.branch3x3.conv._stride) == [2, 2]
            assert list(block.branch3x3dbl_2.conv._stride) == [2, 2]
        else:
            assert type(block) is InceptionBN
            assert block.pool_type == pool
            assert block.branch1x1.conv.weight.shape[0] == c1
            assert block.branch_pool.conv.weight.shape[0] == cp
        assert block.branch3x3_reduce.conv.weight.shape[0] == r3
        assert list(block.branch3x3.conv.weight.shape) == [c3, r3, 3, 3]
        assert block.branch3x3dbl_reduce.conv.weight.shape[0] == rd
        assert block.branch3x3dbl_1.conv.weight.shape[0] == cd
        assert list(block.branch3x3dbl_2.conv.weight.shape) == [cd, cd, 3, 3]
    assert model.inception_5b.pool_type == "max" and model.inception_5a.pool_type == "avg"
    bns = [m for m in model.sublayers() if isinstance(m, paddle.nn.BatchNorm2D)]
    assert bns and all(bn._epsilon == pytest.approx(1e-5) for bn in bns)
    convs = [m for m in model.sublayers() if isinstance(m, paddle.nn.Conv2D)]
    assert len(convs) == len(bns) == 3 + 8 * 7 + 2 * 5  # BN after every conv
    assert model.head.fc.weight.shape == [1024, 1000]
    assert isinstance(model.head.dropout, paddle.nn.Identity)  # the paper removes dropout


def test_shapes_at_224(model):
    shapes = block_shapes(model, 224)
    assert shapes.pop("pooled") == (1024,) and shapes.pop("logits") == (1000,)
    assert shapes == SHAPES_224


def test_parameter_count_matches_the_paper_table(model):
    assert n_trainable(model) == paper_param_count(1000)
    assert n_trainable(BNInception(num_classes=10)) == paper_param_count(10)


def test_feature_info_and_stages(model):
    assert [(f["name"], f["num_chs"], f["reduction"]) for f in model.feature_info] == [
        ("conv1", 64, 2),
        ("conv2", 192, 4),
        ("inception_3b", 320, 8),
        ("inception_4d", 608, 16),
        ("inception_5b", 1024, 32),
    ]
    stages = model.forward_stages(paddle.randn([1, 3, 64, 64]))
    assert [tuple(s.shape[1:]) for s in stages] == [
        (64, 32, 32),
        (192, 16, 16),
        (320, 8, 8),
        (608, 4, 4),
        (1024, 2, 2),
    ]


def _numpy_max_pool_3x3_s2(x, out_size):
    """Max over windows starting at 0, 2, 4, ..., clipped to the map."""
    n, c, h, w = x.shape
    out = np.empty((n, c, out_size, out_size), x.dtype)
    for i in range(out_size):
        for j in range(out_size):
            out[:, :, i, j] = x[:, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max(axis=(2, 3))
    return out


@pytest.mark.parametrize("size", [14, 15, 7, 1])
def test_stride_2_block_at_even_and_odd_sizes(size):
    block = InceptionBNReduction(8, (4, 6), (4, 5))
    block.eval()
    x = paddle.randn([2, 8, size, size]) - 3.0  # negative: padding must not win the max
    y = block(x)
    half = (size + 1) // 2
    assert y.shape == [2, 6 + 5 + 8, half, half]
    pooled = y.numpy()[:, 11:]  # the pass-through max-pool branch
    np.testing.assert_allclose(pooled, _numpy_max_pool_3x3_s2(x.numpy(), half))
    if size % 2 == 0 and size > 1:  # Caffe's ceil-mode pool, where it runs
        caffe = F.max_pool2d(x, 3, stride=2, ceil_mode=True)
        np.testing.assert_allclose(pooled, caffe.numpy())


def test_avg_pool_branch_averages_over_zero_padding():
    """Caffe (and torch's count_include_pad=True): a corner averages 4 ones over 9 cells."""
    block = InceptionBN(4, 2, (2, 2), (2, 2), "avg", 2)
    block.eval()
    seen = {}
    block.branch_pool.register_forward_pre_hook(lambda layer, inp: seen.setdefault("x", inp[0]))
    block(paddle.ones([1, 4, 4, 4]))
    assert seen["x"].numpy()[0, 0, 0, 0] == pytest.approx(4 / 9)


def test_odd_and_non_square_inputs(model):
    for h, w in ((97, 97), (65, 120)):
        assert model(paddle.randn([1, 3, h, w])).shape == [1, 1000]


def test_min_input_size_is_tight(model):
    m = model.min_input_size
    assert m == 7 == pi.get_model_cfg("bninception")["min_input_size"][-1]

    def pool2_input(size):
        x = paddle.randn([1, 3, size, size])
        for name in ("conv1", "pool1", "conv2_reduce", "conv2"):
            x = getattr(model, name)(x)
        return x.shape[-1]

    # pool2 (ceil-mode 3x3/2, no padding) needs 2 rows; with 1 torch raises
    assert pool2_input(7) == 2 and pool2_input(6) == 1
    assert model(paddle.randn([1, 3, 7, 7])).shape == [1, 1000]
    with pytest.raises(ValueError, match="6x6.*7x7"):
        model(paddle.randn([1, 3, 6, 6]))
