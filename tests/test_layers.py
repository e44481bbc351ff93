"""The eager fast paths of layers.Conv2D / MaxPool2D / max_pool2d give Paddle's stock results,
forward and backward, and static graphs (export) get the stock ops."""

import numpy as np
import paddle
import paddle.nn as nn
import pytest

from paddle_inception import layers as L
from paddle_inception.layers import (
    AdaptiveAvgPool2D,
    Conv2D,
    ConvBNAct,
    MaxPool2D,
    adaptive_avg_pool2d,
    max_pool2d,
)


def _forward_backward(layer, x, g):
    x = x.detach()
    x.stop_gradient = False
    y = layer(x)
    (y * g).sum().backward()
    grads = [x.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()]
    layer.clear_gradients()
    return y.numpy(), grads


@pytest.mark.parametrize(
    "kernel,stride,padding,groups",
    [
        (1, 1, 0, 1),
        (3, 1, 1, 1),
        (7, 2, 3, 1),
        (5, 1, 2, 1),
        ((1, 7), 1, (0, 3), 1),
        ((3, 1), 2, (1, 0), 1),
        (3, 1, 1, 4),
    ],
)
def test_conv2d_matches_paddle_forward_and_backward(kernel, stride, padding, groups):
    paddle.seed(1)
    ours = Conv2D(8, 16, kernel, stride=stride, padding=padding, groups=groups)
    stock = nn.Conv2D(8, 16, kernel, stride=stride, padding=padding, groups=groups)
    stock.set_state_dict(ours.state_dict())
    assert list(ours.state_dict()) == ["weight", "bias"]
    x = paddle.randn([3, 8, 17, 13])
    y_ours, g_ours = _forward_backward(ours, x, 1.0)
    y_stock, g_stock = _forward_backward(stock, x, 1.0)
    assert y_ours.shape == y_stock.shape
    np.testing.assert_allclose(y_ours, y_stock, rtol=0, atol=1e-5)
    for a, b in zip(g_ours, g_stock):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def _pair(v):
    return (v, v) if isinstance(v, int) else v


# (map size, kernel, padding, stride) with a non-empty output (Paddle's conv kernel crashes,
# rather than raising, on the others)
_SMALL_MAP_CASES = [
    (hw, k, p, s)
    for hw in [(1, 1), (2, 2), (1, 2), (2, 1), (1, 4), (3, 3), (4, 4), (5, 3), (9, 9)]
    for k, p in [(1, 0), (3, 1), (5, 2), ((1, 7), (0, 3)), ((7, 1), (3, 0)), (3, 0)]
    for s in (1, 2)
    if all(hw[i] + 2 * _pair(p)[i] >= _pair(k)[i] for i in (0, 1))
]


def _out_pixels(hw, kernel, padding, stride):
    k, p = _pair(kernel), _pair(padding)
    return ((hw[0] + 2 * p[0] - k[0]) // stride + 1) * ((hw[1] + 2 * p[1] - k[1]) // stride + 1)


@pytest.mark.parametrize("hw,kernel,padding,stride", _SMALL_MAP_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_small_maps_match_paddle(hw, kernel, padding, stride, bias):
    """Output maps of <= FOLD_MAX_PIXELS pixels take the batch-folded GEMM path (maps no larger
    than the kernel: the dense matrix), larger ones the stock kernel. Both must equal nn.Conv2D,
    forward and backward, for any kernel, padding and stride."""
    paddle.seed(2)
    ours = Conv2D(6, 5, kernel, stride=stride, padding=padding, bias_attr=None if bias else False)
    stock = nn.Conv2D(
        6, 5, kernel, stride=stride, padding=padding, bias_attr=None if bias else False
    )
    x = paddle.randn([3, 6, *hw])
    assert ours._folded(x) == (_out_pixels(hw, kernel, padding, stride) <= L.FOLD_MAX_PIXELS)
    _assert_same_as_stock(ours, stock, x)


def _assert_same_as_stock(ours, stock, x, rtol=1e-6):
    """Forward and backward equal nn.Conv2D's up to float32 rounding (rtol 1e-6 covers a
    bias gradient summed in another order: 25.0 +- 1.1e-5)."""
    stock.set_state_dict(ours.state_dict())
    g = paddle.randn(stock(x).shape)
    y_ours, g_ours = _forward_backward(ours, x, g)
    y_stock, g_stock = _forward_backward(stock, x, g)
    np.testing.assert_allclose(y_ours, y_stock, rtol=rtol, atol=1e-5)
    for a, b in zip(g_ours, g_stock):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-5)


# maps of 17-64 output pixels and no more input pixels than output channels: the folded path
# (`_im2col_rows` for kernels > 1); with fewer output channels than input pixels, stock
_ROWS_CASES = [
    (hw, k, p, s, o)
    for hw in [(8, 8), (6, 7), (9, 9), (5, 12)]
    for k, p in [(3, 1), ((1, 7), (0, 3)), ((7, 1), (3, 0)), (3, 0), (5, 2), (1, 0)]
    for s in (1, 2)
    for o in (90, 30)
    if 16 < _out_pixels(hw, k, p, s) <= 64
]


@pytest.mark.parametrize("hw,kernel,padding,stride,out_channels", _ROWS_CASES)
def test_conv2d_im2col_rows_path_matches_paddle(hw, kernel, padding, stride, out_channels):
    paddle.seed(3)
    ours = Conv2D(5, out_channels, kernel, stride=stride, padding=padding)
    stock = nn.Conv2D(5, out_channels, kernel, stride=stride, padding=padding)
    x = paddle.randn([3, 5, *hw])
    assert ours._folded(x) == (hw[0] * hw[1] <= out_channels)
    # weight gradients here are sums over 3 samples x up to 64 pixels, of magnitude ~30
    _assert_same_as_stock(ours, stock, x, rtol=1e-5)


@pytest.mark.parametrize(
    "hw,kernel,padding,stride",
    [c for c in _SMALL_MAP_CASES if c[0][0] * c[0][1] <= 5]
    + [((8, 8), 3, 1, 1), ((6, 7), 1, 0, 1)],
)
def test_conv2d_forward_rows_matches_paddle(hw, kernel, padding, stride):
    """Conv2D.forward_rows (channels-last rows in and out, for concat_branches) gives the stock
    conv's result wherever takes_rows() says it applies: the dense, pointwise and shift forms;
    the unfold form (more input pixels than output channels) is refused."""
    paddle.seed(4)
    ours = Conv2D(6, 40, kernel, stride=stride, padding=padding)
    stock = nn.Conv2D(6, 40, kernel, stride=stride, padding=padding)
    x = paddle.randn([3, 6, *hw])
    assert ours.takes_rows(*hw) == ours._folded(x)  # 40 channels: never the unfold form here
    if not ours.takes_rows(*hw):
        return

    class Rows(nn.Layer):  # NCHW in and out, through forward_rows
        def __init__(self, conv):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            y, ho, wo = self.conv.forward_rows(L.to_rows(x), *x.shape[2:])
            return L.from_rows(y, ho, wo)

    stock.set_state_dict(ours.state_dict())
    g = paddle.randn(stock(x).shape)
    (y, grads), (y0, grads0) = _forward_backward(Rows(ours), x, g), _forward_backward(stock, x, g)
    np.testing.assert_allclose(y, y0, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads, grads0):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    conv = Conv2D(6, 2, 3, padding=1)  # 16 input pixels > 2 channels: the unfold form
    assert conv._folded(paddle.zeros([1, 6, 4, 4])) and not conv.takes_rows(4, 4)


def _branches(concat, blk, x):
    return concat(x, [blk.branch1, blk.branch2, blk.branch3, blk.branch4])


def _plain_concat(x, branches):
    return paddle.concat([b(x) for b in branches], axis=1)


@pytest.mark.parametrize("hw", [1, 2, 3, 4, 5, 8, 12])
@pytest.mark.parametrize("batch_norm,k", [(True, 5), (True, 3), (False, 5)])
def test_concat_branches_matches_the_plain_concat(hw, batch_norm, k):
    """An Inception block through concat_branches (branches on channels-last rows where the
    convs fold) against the same block's branches run one by one and concatenated: output,
    input and parameter gradients, and the BN running statistics, in training and in eval."""
    from paddle_inception.models.googlenet import Inception

    paddle.seed(5)
    blk = Inception(96, 32, (24, 40), (8, 16), 16, batch_norm=batch_norm, branch3_kernel_size=k)
    start = {name: t.clone() for name, t in blk.state_dict().items()}
    x = paddle.randn([3, 96, hw, hw])
    g = paddle.randn([3, 104, hw, hw])
    results = []
    for concat in (L.concat_branches, _plain_concat):
        blk.set_state_dict(start)
        blk.train()
        xg = x.detach()
        xg.stop_gradient = False
        y = _branches(concat, blk, xg)
        (y * g).sum().backward()
        grads = [xg.grad.numpy()] + [p.grad.numpy() for p in blk.parameters() if p.grad is not None]
        assert len(grads) == 1 + len([p for p in blk.parameters() if not p.stop_gradient])
        blk.clear_gradients()
        y = y.numpy()
        stats = [
            t.numpy() for name, t in blk.state_dict().items() if "_mean" in name or "_var" in name
        ]
        blk.eval()
        results.append((y, grads, stats, _branches(concat, blk, x).numpy()))
    (y, grads, stats, y_eval), (y0, grads0, stats0, y_eval0) = results
    np.testing.assert_allclose(y, y0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y_eval, y_eval0, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads + stats, grads0 + stats0):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(b).max()))


def test_concat_branches_copies_once_in_and_once_out(monkeypatch):
    """On a 2x2 map (Inception 4a-4e at 32 px) the block copies its input to rows once for the
    three branches that start with a conv, the pool branch's output once, and the concatenated
    rows back once; hooks and a BatchNorm swapped for another layer make their branch use NCHW."""
    from paddle_inception.models.googlenet import Inception

    calls = {"to_rows": 0, "from_rows": 0}
    for name in calls:
        real = getattr(L, name)
        monkeypatch.setattr(
            L, name, lambda *a, _f=real, _n=name: calls.__setitem__(_n, calls[_n] + 1) or _f(*a)
        )
    blk = Inception(96, 32, (24, 40), (8, 16), 16, batch_norm=True)
    blk.eval()
    x = paddle.randn([4, 96, 2, 2])
    y = blk(x)
    assert y.shape == [4, 104, 2, 2] and calls == {"to_rows": 2, "from_rows": 1}
    # forward hooks (paddle.summary's) see every layer: a hooked layer or branch gets NCHW
    seen = []
    blk.branch2[1].conv.register_forward_post_hook(lambda layer, i, o: seen.append(o.shape))
    blk.branch3.register_forward_post_hook(lambda layer, i, o: seen.append(o.shape))
    assert not blk.branch2[1].takes_rows(2, 2) and blk.branch2[0].takes_rows(2, 2)
    np.testing.assert_allclose(blk(x).numpy(), y.numpy(), rtol=1e-5, atol=1e-5)
    assert seen == [[4, 40, 2, 2], [4, 16, 2, 2]]
    blk.branch1.bn = nn.SyncBatchNorm(32)
    assert not blk.branch1.takes_rows(2, 2)


def test_conv2d_without_bias_and_convbnact_use_it():
    ours = Conv2D(4, 6, 3, padding=1, bias_attr=False)
    assert ours.bias is None and ours(paddle.randn([1, 4, 5, 5])).shape == [1, 6, 5, 5]
    assert isinstance(ConvBNAct(4, 6, 3, batch_norm=False).conv, Conv2D)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("x_grad,b_grad", [(True, True), (True, False), (False, True)])
def test_add_bias_matches_the_broadcast_add(channels_last, x_grad, b_grad):
    """add_bias (the bias gradient as a matmul with ones) gives the broadcast add's values and
    gradients on NCHW maps and on channels-last rows; a frozen bias or input gets none."""
    paddle.seed(2)
    shape = [3 * 5 * 7, 6] if channels_last else [3, 6, 5, 7]
    x0, b0, g = paddle.randn(shape), paddle.randn([6]), paddle.randn(shape)
    results = []
    for fn in (L.add_bias, None):  # None: Paddle's broadcast add, written out
        x, b = x0.detach(), b0.detach()
        x.stop_gradient, b.stop_gradient = not x_grad, not b_grad
        y = fn(x, b, channels_last) if fn else x + (b if channels_last else b.reshape([6, 1, 1]))
        (y * g).sum().backward()
        results.append((y.numpy(), x.grad, b.grad))
    (y, gx, gb), (y0, gx0, gb0) = results
    np.testing.assert_allclose(y, y0, rtol=0, atol=1e-6)
    for a, a0, wanted in ((gx, gx0, x_grad), (gb, gb0, b_grad)):
        assert (a is None) == (a0 is None) == (not wanted)
        if wanted:
            np.testing.assert_allclose(a.numpy(), a0.numpy(), rtol=1e-5, atol=1e-5)
    with paddle.no_grad():  # nothing recorded: the plain add
        np.testing.assert_allclose(L.add_bias(x0, b0, channels_last).numpy(), y0, atol=1e-6)


def test_conv2d_adds_its_bias_through_add_bias(monkeypatch):
    """Both eager paths of a biased Conv2D (stock conv on a 9x9 map, folded on 2x2) add the
    bias with add_bias, where the faster bias gradient lives."""
    calls = []
    monkeypatch.setattr(L, "add_bias", lambda x, b, *a: calls.append(x.shape) or x + 0)
    conv = Conv2D(4, 6, 3, padding=1)
    for hw in (9, 2):
        conv(paddle.randn([2, 4, hw, hw]))
    assert calls == [[2, 6, 9, 9], [2, 6, 2, 2]]


@pytest.mark.parametrize(
    "kernel,stride,padding,ceil",
    [(3, 1, 1, True), (3, 2, 0, True), (3, 2, 0, False), (2, 2, 0, True), (3, 2, 1, False)],
)
def test_maxpool_matches_paddle_forward_and_backward(kernel, stride, padding, ceil):
    # inputs after a ReLU: many ties at 0, where a gradient could land on another element
    x = paddle.nn.functional.relu(paddle.randn([2, 5, 15, 14]))
    stock = nn.MaxPool2D(kernel, stride=stride, padding=padding, ceil_mode=ceil)
    ours = MaxPool2D(kernel, stride=stride, padding=padding, ceil_mode=ceil)
    g = paddle.randn(stock(x).shape)
    y_ours, (gx_ours,) = _forward_backward(ours, x, g)
    y_stock, (gx_stock,) = _forward_backward(stock, x, g)
    np.testing.assert_array_equal(y_ours, y_stock)
    np.testing.assert_array_equal(gx_ours, gx_stock)


def test_max_pool2d_asymmetric_padding_and_no_grad():
    x = paddle.randn([1, 2, 9, 9])
    ref = paddle.nn.functional.max_pool2d(x, 3, 2, [0, 2, 0, 2])
    x.stop_gradient = False
    np.testing.assert_array_equal(max_pool2d(x, 3, 2, [0, 2, 0, 2]).numpy(), ref.numpy())
    with paddle.no_grad():
        np.testing.assert_array_equal(max_pool2d(x, 3, 2, [0, 2, 0, 2]).numpy(), ref.numpy())


def _static_ops(net):
    static = paddle.jit.to_static(
        net, input_spec=[paddle.static.InputSpec([None, 3, 9, 9])], full_graph=True
    )
    program = static.forward.concrete_program.main_program
    return [op.name() for op in program.global_block().ops]


def test_static_graph_gets_the_stock_ops():
    ours = _static_ops(
        nn.Sequential(
            ConvBNAct(3, 4, 3, padding=1, batch_norm=False), MaxPool2D(3, stride=2, ceil_mode=True)
        )
    )
    stock = _static_ops(
        nn.Sequential(
            nn.Conv2D(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2D(3, stride=2, ceil_mode=True)
        )
    )
    assert ours == stock
    assert "pd_op.conv2d" in ours and "pd_op.pool2d" in ours, ours


@pytest.mark.parametrize(
    "hw,out",
    [
        ((2, 2), 4),
        ((14, 14), 4),
        ((5, 7), (3, 2)),
        ((3, 3), 1),
        ((17, 17), 5),
        ((8, 8), (None, 3)),
        ((1, 1), 4),
        ((4, 4), 4),
    ],
)
def test_adaptive_avg_pool_matches_paddle_forward_and_backward(hw, out):
    """Means (to 1x1), the pooling-matrix matmul (maps of <= 64 pixels) and the stock kernel
    (larger maps) all give Paddle's values and gradients, with its bins."""
    x = paddle.randn([3, 4, *hw])
    ours, stock = AdaptiveAvgPool2D(out), nn.AdaptiveAvgPool2D(out)
    g = paddle.randn(stock(x).shape)
    y_ours, (gx_ours,) = _forward_backward(ours, x, g)
    y_stock, (gx_stock,) = _forward_backward(stock, x, g)
    assert y_ours.shape == y_stock.shape
    np.testing.assert_allclose(y_ours, y_stock, rtol=0, atol=1e-5)
    np.testing.assert_allclose(gx_ours, gx_stock, rtol=0, atol=1e-5)


def test_adaptive_avg_pool_static_graph_gets_the_stock_op():
    net = paddle.jit.to_static(
        AdaptiveAvgPool2D(4),
        input_spec=[paddle.static.InputSpec([None, 3, 2, 2])],
        full_graph=True,
    )
    ops = [op.name() for op in net.forward.concrete_program.main_program.global_block().ops]
    assert "pd_op.pool2d" in ops and "pd_op.matmul" not in ops, ops
    x = paddle.randn([2, 3, 2, 2])
    np.testing.assert_allclose(
        adaptive_avg_pool2d(x, 4).numpy(),
        nn.functional.adaptive_avg_pool2d(x, 4).numpy(),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "kernel,stride,padding,ceil",
    [(3, 1, 1, True), (3, 1, 1, False), (2, 2, 0, True), (3, 2, 1, False), (1, 1, 0, False)],
)
def test_maxpool_of_a_1x1_map_is_the_pixel_itself(kernel, stride, padding, ceil):
    x = paddle.randn([2, 5, 1, 1])
    stock = nn.MaxPool2D(kernel, stride=stride, padding=padding, ceil_mode=ceil)
    ours = MaxPool2D(kernel, stride=stride, padding=padding, ceil_mode=ceil)
    g = paddle.randn(stock(x).shape)
    y_ours, (gx_ours,) = _forward_backward(ours, x, g)
    y_stock, (gx_stock,) = _forward_backward(stock, x, g)
    assert y_ours.shape == y_stock.shape == (2, 5, 1, 1)
    np.testing.assert_array_equal(y_ours, y_stock)
    np.testing.assert_array_equal(gx_ours, gx_stock)


@pytest.mark.parametrize(
    "hw,kernel,stride,padding,ceil,whole",
    [
        ((2, 2), 3, 1, 1, True, True),  # GoogLeNet 4a-4e pool branches at 32 px
        ((2, 2), 3, 1, 1, False, True),
        ((2, 2), 2, 2, 0, True, True),  # maxpool4 at 32 px
        ((2, 2), 3, 2, 0, True, False),  # no window fits: Paddle's degenerate 1x1 result kept
        ((2, 2), 3, 2, 0, False, False),
        ((1, 2), 3, 1, 1, True, True),
        ((3, 3), 3, 2, 0, True, True),
        ((2, 3), 3, 1, 1, True, False),  # the middle column's windows miss an edge
        ((3, 3), 3, 1, 1, True, False),
        ((3, 3), 2, 2, 0, True, False),
        ((4, 4), 3, 2, 0, True, False),
    ],
)
def test_maxpool_whose_windows_cover_the_map(hw, kernel, stride, padding, ceil, whole):
    """Where every window covers the whole map the pool is the map's maximum, taken where the
    stock kernel takes it: inputs after a ReLU tie at 0 in most windows and the gradient must
    land on the same element. Windows that miss part of the map keep the stock kernel."""
    out = L._windows_cover_map(*hw, kernel, stride, padding, ceil)
    assert (out is not None) == whole
    x = paddle.nn.functional.relu(paddle.randn([4, 6, *hw]))
    x[0, 0] = 1.0  # a plane of positive ties
    stock = nn.MaxPool2D(kernel, stride=stride, padding=padding, ceil_mode=ceil)
    ours = MaxPool2D(kernel, stride=stride, padding=padding, ceil_mode=ceil)
    g = paddle.randn(stock(x).shape)
    y_ours, (gx_ours,) = _forward_backward(ours, x, g)
    y_stock, (gx_stock,) = _forward_backward(stock, x, g)
    assert y_ours.shape == y_stock.shape
    if whole:
        assert tuple(y_stock.shape[2:]) == out
    np.testing.assert_array_equal(y_ours, y_stock)
    # the same elements get a gradient; its value is a sum over windows in another order
    np.testing.assert_array_equal(gx_ours != 0, gx_stock != 0)
    np.testing.assert_allclose(gx_ours, gx_stock, rtol=1e-6, atol=1e-6)
    with paddle.no_grad():
        np.testing.assert_array_equal(ours(x).numpy(), y_stock)


@pytest.mark.parametrize(
    "size,kernel,stride,padding,ceil",
    [
        (size, *case)
        for size in (1, 2, 3, 7, 8, 15)
        for case in [(3, 1, 1, True), (3, 2, 0, True), (3, 2, 0, False), (2, 2, 0, True)]
        + [(3, 2, 1, True)]
        if size + 2 * case[2] >= case[0]  # a window fits
    ],
)
def test_pool_output_size_matches_paddle(size, kernel, stride, padding, ceil):
    y = paddle.nn.functional.max_pool2d(
        paddle.zeros([1, 1, size, size]), kernel, stride, padding, ceil_mode=ceil
    )
    assert L._pool_out(size, kernel, stride, padding, ceil) == tuple(y.shape[2:])
