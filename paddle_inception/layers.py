"""Building blocks shared by every model in the zoo.

`ConvBNAct` is the one conv -> [BatchNorm] -> [ReLU] block; every convolution of every model goes
through it, so the normalisation, bias and activation policy is configured in one place.

`Conv2D`, `MaxPool2D` and `AdaptiveAvgPool2D` (and their functional forms) are Paddle's, with
the same parameters, names and results, but faster in eager mode on CPU (forward + backward;
figures and the CPUs they were measured on: docs/cpu_speed.md):
- Conv2D adds its bias with shape (C, 1, 1); nn.Conv2D adds it as (1, C, 1, 1), which Paddle's
  broadcast kernel runs on a slow generic path. The bias gradient is a matmul with ones
  (`add_bias`) instead of Paddle's reduction over N, H, W.
- Conv2D runs convs with output maps of <= 16 pixels as one GEMM over the batch
  (`_conv2d_folded`): the 4x4, 2x2 and 1x1 maps of a 32x32 GoogLeNet input.
- `concat_branches` runs an Inception block's branches on channels-last GEMM rows where their
  convs fold, so a block copies activations between layouts once in and once out instead of
  around every conv.
- max pooling while gradients are recorded keeps the argmax mask, so the backward scatters
  through it instead of searching every window again. The mask is int32 (one per output),
  freed with the graph. A pool whose every window covers the whole map (3x3 'same' of a 2x2
  map) takes one window per map and spreads it with a matmul.
- adaptive average pooling to 1x1 is a mean, and on small maps a matmul with the constant
  pooling matrix (Paddle's pool kernel is slow on the aux heads' 2x2 -> 4x4 at 32 px).
Static graphs (to_static / export) get the stock ops: the patterns Paddle Inference's oneDNN
fusion passes match, and no mask where no backward runs.
"""

from __future__ import annotations

import contextlib

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

__all__ = [
    "FOLD_MAX_PIXELS",
    "SMALL_MAP_PIXELS",
    "Conv2D",
    "MaxPool2D",
    "max_pool2d",
    "AdaptiveAvgPool2D",
    "adaptive_avg_pool2d",
    "ConvBNAct",
    "concat_branches",
    "avg_pool_3x3",
    "batchnorm_eps",
    "init_weights",
    "DEFAULT_BN_EPS",
]

# TF-slim / torchvision / timm all use eps=1e-3 for the Inception family; BN-Inception uses 1e-5.
DEFAULT_BN_EPS = 1e-3
_BN_EPS = [DEFAULT_BN_EPS]


@contextlib.contextmanager
def batchnorm_eps(eps: float):
    """Build the ConvBNAct blocks created inside the `with` with BatchNorm epsilon `eps`:
    a model sets it once around its construction (`with batchnorm_eps(1e-5): ...`) instead of
    threading it through every block's constructor."""
    _BN_EPS.append(float(eps))
    try:
        yield
    finally:
        _BN_EPS.pop()


# Conv2D's batch-folded GEMM path (`_conv2d_folded`) is taken when the output map has at most
# FOLD_MAX_PIXELS pixels (4x4). Chosen by measurement on MKL's AVX2 path (the slowest CPUs this
# runs on) and checked on its AVX-512 path; `python benchmarks/conv_paths.py` prints the table
# (docs/cpu_speed.md).
FOLD_MAX_PIXELS = 16
SMALL_MAP_PIXELS = FOLD_MAX_PIXELS  # the name before 0.2
# ... and up to FOLD_ROWS_MAX_PIXELS output pixels (8x8) when the input map has no more pixels
# than the conv has output channels: a larger kernel's im2col then goes through `_im2col_rows` at
# a fraction of the conv's cost (GoogLeNet's 3x3 conv2 of an 8x8 map at a 32 px input: 43 -> 29
# ms forward+backward on an Intel Xeon, AVX-512; its 3x3/5x5 convs of 7x7 maps at 224 px,
# batch 16: 1.5-1.7x), and 1x1 convs of such maps gain 1.2-1.4x (8x8, 7x7). A grayscale 7x7
# first conv (1024 input pixels, 64 channels) stays stock.
FOLD_ROWS_MAX_PIXELS = 64


# the dense matrix of `_conv2d_dense` is built only up to this many elements (64 MiB in float32)
DENSE_MAX_ELEMENTS = 1 << 24

_CONSTANTS = {}


def _constant(key: tuple, build, like):
    """A constant tensor (no gradient) with `like`'s dtype and place, built once from the numpy
    array `build()` returns and cached under `key`."""
    key = (*key, str(like.dtype), str(like.place))
    if key not in _CONSTANTS:
        t = paddle.to_tensor(build()).astype(like.dtype)
        t.stop_gradient = True
        _CONSTANTS[key] = t
    return _CONSTANTS[key]


def _conv_links(h, w, kh, kw, stride, padding, ho, wo):
    """Every (output pixel p, kernel tap k, input pixel q) a convolution of an h x w map links
    (taps on the padding left out): three index arrays, p-major."""
    (sh, sw), (ph, pw) = stride, padding
    p, k = np.divmod(np.arange(ho * wo * kh * kw), kh * kw)
    (py, px), (ty, tx) = np.divmod(p, wo), np.divmod(k, kw)
    iy, ix = py * sh - ph + ty, px * sw - pw + tx
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    return p[inside], k[inside], (iy * w + ix)[inside]


def _tap_matrix(h, w, kh, kw, stride, padding, ho, wo, like):
    """(kh*kw, h*w * ho*wo) 0/1 matrix: column (q, p) (input pixel q, output pixel p, q-major)
    selects the kernel tap linking them, or is all zero where none does (a cached constant)."""

    def build():
        p, k, q = _conv_links(h, w, kh, kw, stride, padding, ho, wo)
        mat = np.zeros((kh * kw, h * w * ho * wo), np.float32)
        mat[k, q * (ho * wo) + p] = 1.0
        return mat

    key = ("taps", h, w, kh, kw, tuple(stride), tuple(padding))
    return _constant(key, build, like)


def _shift_matrix(h, w, kh, kw, stride, padding, ho, wo, like):
    """(Ho*Wo*kh*kw, H*W) 0/1 matrix: row (p, k) (output pixel p, kernel tap k) picks the input
    pixel tap k of output p sees, or is all zero where that tap falls on the padding (a cached
    constant)."""

    def build():
        p, k, q = _conv_links(h, w, kh, kw, stride, padding, ho, wo)
        mat = np.zeros((ho * wo * kh * kw, h * w), np.float32)
        mat[p * (kh * kw) + k, q] = 1.0
        return mat

    key = ("shift", h, w, kh, kw, tuple(stride), tuple(padding))
    return _constant(key, build, like)


def to_rows(x):
    """(N, C, H, W) -> channels-last GEMM rows (N*H*W, C): one copy, none for a 1x1 map."""
    n, c, h, w = x.shape
    if h * w == 1:
        return x.reshape([n, c])
    return x.transpose([0, 2, 3, 1]).reshape([n * h * w, c])


def from_rows(rows, h: int, w: int):
    """Channels-last rows (N*H*W, C) of an h x w map -> (N, C, H, W)."""
    m, c = rows.shape
    n = m // (h * w)
    if h * w == 1:
        return rows.reshape([n, c, 1, 1])
    return rows.reshape([n, h * w, c]).transpose([0, 2, 1]).reshape([n, c, h, w])


def _im2col_rows(rows, h, w, kh, kw, stride, padding, ho, wo):
    """im2col of channels-last rows (N*H*W, C) straight into GEMM rows (N*Ho*Wo, kh*kw*C),
    tap-major, by a batched matmul with the constant `_shift_matrix` (its backward a matmul
    too), instead of F.unfold's (N, C*kh*kw, Ho*Wo) and a transpose of all of it."""
    m, c = rows.shape
    n = m // (h * w)
    shift = _shift_matrix(h, w, kh, kw, stride, padding, ho, wo, rows)  # (P*K, Q)
    return paddle.matmul(shift, rows.reshape([n, h * w, c])).reshape([n * ho * wo, kh * kw * c])


def _conv2d_dense(x, weight, stride=(1, 1), padding=(0, 0), rows_hw=None):
    """A convolution of a tiny map as one matmul with the dense (C*H*W, O*Ho*Wo) matrix the
    kernel amounts to on that map: no im2col and no transposes of activations, and fewer
    multiply-adds than im2col whenever the map has fewer pixels than the kernel has taps (taps
    falling on the padding are never multiplied; on a 1x1 map only the centre tap is left).
    The matrix is gathered from the weight by a matmul with a constant 0/1 tap matrix, whose
    backward is a matmul too (an index_select's backward was 10x slower on large weights).
    `_conv2d_folded` uses it where it pays (see there).

    With `rows_hw=(h, w)`, `x` is channels-last rows (N*H*W, C) of an h x w map and so is the
    result, (N*Ho*Wo, O): the matrix is laid out (H*W*C, Ho*Wo*O) instead."""
    o, c, kh, kw = weight.shape
    if rows_hw:
        (h, w), n = rows_hw, x.shape[0] // (rows_hw[0] * rows_hw[1])
    else:
        n, _, h, w = x.shape
    ho, wo = _conv_out(h, w, (kh, kw), stride, padding)
    tap_matrix = _tap_matrix(h, w, kh, kw, stride, padding, ho, wo, weight)  # (K, Q*P)
    if rows_hw:  # laid out (Q, C, P, O), gathered as (C, Q*P, O): its last axis stays whole
        taps = weight.reshape([o, c, kh * kw]).transpose([1, 2, 0])  # (C, K, O)
        dense = paddle.matmul(tap_matrix, taps, transpose_x=True)  # (C, Q*P, O)
        dense = dense.reshape([c, h * w, ho * wo * o]).transpose([1, 0, 2])
        dense = dense.reshape([h * w * c, ho * wo * o])
        return paddle.matmul(x.reshape([n, h * w * c]), dense).reshape([n * ho * wo, o])
    taps = weight.reshape([o * c, kh * kw])
    dense = paddle.matmul(taps, tap_matrix).reshape([o, c, h * w, ho * wo])
    dense = dense.transpose([1, 2, 0, 3]).reshape([c * h * w, o * ho * wo])  # (C, Q, O, P)
    return paddle.matmul(x.reshape([n, c * h * w]), dense).reshape([n, o, ho, wo])


def _conv_out(h, w, kernel, stride, padding):
    """Output (ho, wo) of a convolution of an h x w map."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _fold_form(h, w, c, o, kernel, stride, padding) -> str:
    """How `_conv2d_folded` forms the GEMM for this conv of an h x w map:
    'dense' (the map is no larger than the kernel, a 3x3 or 5x5 conv of a 2x2 or 1x1 map or a
    5x5 conv of a 4x4 map: the dense matrix needs fewer multiply-adds than im2col and no
    activation transposes, 2-9x faster forward+backward, benchmarks/conv_paths.py), 'pointwise'
    (1x1 stride 1: the rows are the GEMM's), 'shift' (`_im2col_rows`, where its matmul costs
    at most the conv's own multiply-adds) or 'unfold' (F.unfold and a transpose)."""
    (kh, kw), (ho, wo) = kernel, _conv_out(h, w, kernel, stride, padding)
    if 1 < kh * kw and h * w <= kh * kw and c * h * w * o * ho * wo <= DENSE_MAX_ELEMENTS:
        return "dense"
    if kh == kw == 1 and tuple(stride) == (1, 1) and tuple(padding) == (0, 0):
        return "pointwise"
    return "shift" if h * w <= o else "unfold"


def _conv2d_rows(rows, h, w, weight, stride=(1, 1), padding=(0, 0)):
    """The batch-folded convolution on channels-last rows (N*H*W, C) of an h x w map:
    returns (rows (N*Ho*Wo, O), ho, wo). Callers keep the 'unfold' form (more input pixels
    than output channels) in NCHW; here it would run as 'shift', right but slower."""
    o, c, kh, kw = weight.shape
    ho, wo = _conv_out(h, w, (kh, kw), stride, padding)
    form = _fold_form(h, w, c, o, (kh, kw), stride, padding)
    if form == "dense":
        return _conv2d_dense(rows, weight, stride, padding, rows_hw=(h, w)), ho, wo
    if form == "pointwise":
        cols, taps = rows, weight.reshape([o, c])
    else:  # (N*Ho*Wo, K*C), tap-major
        cols = _im2col_rows(rows, h, w, kh, kw, stride, padding, ho, wo)
        taps = weight.transpose([0, 2, 3, 1]).reshape([o, kh * kw * c])
    return paddle.matmul(cols, taps, transpose_y=True), ho, wo  # (N*Ho*Wo, O)


def _conv2d_folded(x, weight, stride=(1, 1), padding=None):
    """A convolution as ONE GEMM over the whole batch: (N*Ho*Wo, C*kh*kw) @ (C*kh*kw, O).

    Paddle's CPU conv kernel runs one GEMM per sample, hopelessly small on the 4x4, 2x2 and
    1x1 maps GoogLeNet reaches from a 32x32 input (a 2x2 map gives 4 columns): folding the
    batch into the GEMM is much faster forward+backward there (`benchmarks/conv_paths.py`).
    `padding` is (ph, pw), symmetric; default 'same' for an odd kernel. The GEMM's form:
    `_fold_form`."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    ph, pw = ((kh - 1) // 2, (kw - 1) // 2) if padding is None else padding
    form = _fold_form(h, w, c, o, (kh, kw), stride, (ph, pw))
    if form == "dense":  # NCHW in and out: no transposes at all
        return _conv2d_dense(x, weight, stride, (ph, pw))
    if form == "unfold":  # im2col: (N, C*kh*kw, Ho*Wo)
        ho, wo = _conv_out(h, w, (kh, kw), stride, (ph, pw))
        cols = F.unfold(x, [kh, kw], strides=list(stride), paddings=[ph, pw])
        cols = cols.transpose([0, 2, 1]).reshape([n * ho * wo, c * kh * kw])
        y = paddle.matmul(cols, weight.reshape([o, -1]), transpose_y=True)
    else:
        y, ho, wo = _conv2d_rows(to_rows(x), h, w, weight, stride, (ph, pw))
    return from_rows(y, ho, wo)


def _conv2d_small_map(x, weight):
    """A stride-1 'same' convolution through `_conv2d_folded` (the name before 0.2)."""
    return _conv2d_folded(x, weight)


def _broadcast_bias(x, bias, channels_last: bool):
    """Paddle's `x + bias` over the channels of an NCHW map or of channels-last rows."""
    return x + (bias if channels_last else bias.reshape([-1, 1, 1]))


class _BiasAdd(paddle.autograd.PyLayer):
    """x + bias, the bias along the channels of an NCHW map (`channels_last=False`) or of
    channels-last rows (N*H*W, C). Paddle's broadcast add computes the bias gradient as a sum
    over N, H, W on its generic reduction path; here it is a matmul with a column of ones:
    GoogLeNet's 112x112x64 map, batch 16, 30 -> 20 ms forward + backward, 1.4-1.7x on every
    map size of its 224 and 32 px steps (docs/cpu_speed.md)."""

    @staticmethod
    def forward(ctx, x, bias, channels_last: bool):
        ctx.channels_last = channels_last
        return _broadcast_bias(x, bias, channels_last)

    @staticmethod
    def backward(ctx, grad):
        if ctx.channels_last:  # (M, C): ones (1, M) @ grad
            m = grad.shape[0]
            ones = _constant(("ones", 1, m), lambda: np.ones((1, m), np.float32), grad)
            return grad, paddle.matmul(ones, grad).reshape([-1])
        n, c, h, w = grad.shape  # (N*C, H*W) @ ones (H*W, 1), then the sum over N
        ones = _constant(("ones", h * w, 1), lambda: np.ones((h * w, 1), np.float32), grad)
        per_sample = paddle.matmul(grad.reshape([n * c, h * w]), ones)
        return grad, per_sample.reshape([n, c]).sum(0)


def add_bias(x, bias, channels_last: bool = False):
    """`x + bias` over the channels of an NCHW map (or of channels-last rows), with the bias
    gradient computed by `_BiasAdd` where one is recorded."""
    if paddle.is_grad_enabled() and not (x.stop_gradient or bias.stop_gradient):
        return _BiasAdd.apply(x, bias, channels_last)
    return _broadcast_bias(x, bias, channels_last)


class Conv2D(nn.Conv2D):
    """nn.Conv2D with two eager fast paths (same parameters, names and results up to float
    rounding): the bias added as (C, 1, 1), and tiny maps convolved as one batch-wide GEMM."""

    def _folded(self, x) -> bool:
        """Take the batch-folded GEMM path (see FOLD_MAX_PIXELS, FOLD_ROWS_MAX_PIXELS)?"""
        return self._folds(x.shape[2], x.shape[3])

    def _folds(self, h: int, w: int) -> bool:
        """`_folded` for an h x w input map."""
        if (
            self._groups != 1
            or self._dilation != [1, 1]
            or self._padding_algorithm != "EXPLICIT"
            or len(self._updated_padding) != 2
        ):
            return False
        ho, wo = _conv_out(h, w, self._kernel_size, self._stride, self._updated_padding)
        if ho < 1 or wo < 1:
            return False  # no output: the stock op reports it
        if ho * wo <= FOLD_MAX_PIXELS:
            return True
        return ho * wo <= FOLD_ROWS_MAX_PIXELS and h * w <= self._out_channels

    def _eager_fast_path(self) -> bool:
        """Are this layer's eager fast paths open (dynamic mode, NCHW, zero padding)?"""
        return (
            paddle.in_dynamic_mode()
            and self._data_format == "NCHW"
            and self._padding_mode == "zeros"
        )

    def takes_rows(self, h: int, w: int) -> bool:
        """Can `forward_rows` run this conv on the rows of an h x w map? (Where it takes the
        batch-folded path in a form that needs no NCHW copy.)"""
        if not (self._eager_fast_path() and self._folds(h, w)):
            return False
        o, c, kh, kw = self.weight.shape
        form = _fold_form(h, w, c, o, (kh, kw), self._stride, self._updated_padding)
        return form != "unfold"

    def forward_rows(self, rows, h: int, w: int):
        """This conv on channels-last rows (N*H*W, C) of an h x w map (`to_rows`), where
        `takes_rows(h, w)`: returns (rows (N*Ho*Wo, O), ho, wo), bias added."""
        y, ho, wo = _conv2d_rows(rows, h, w, self.weight, self._stride, self._updated_padding)
        return (y if self.bias is None else add_bias(y, self.bias, channels_last=True)), ho, wo

    def forward(self, x):
        if not self._eager_fast_path():
            return super().forward(x)
        if self._folded(x):
            x = _conv2d_folded(x, self.weight, self._stride, self._updated_padding)
        elif self.bias is None:
            return super().forward(x)
        else:
            x = F.conv2d(
                x,
                self.weight,
                None,
                self._stride,
                self._updated_padding,
                self._dilation,
                self._groups,
                self._data_format,
            )
        return x if self.bias is None else add_bias(x, self.bias)


def _pool_geometry(kernel_size, stride, padding):
    """((kh, kw), (sh, sw), (ph, pw)) of a pool's arguments, or None for a padding Paddle's pool
    takes in another form (4 values, per-side lists, 'SAME')."""
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    s = k if stride is None else ((stride, stride) if isinstance(stride, int) else tuple(stride))
    if isinstance(padding, int):
        return k, s, (padding, padding)
    if len(padding) == 2 and all(isinstance(v, int) for v in padding):
        return k, s, tuple(padding)
    return None


def _pool_out(size, kernel_size, stride, padding, ceil_mode: bool):
    """Output (h, w) of a max pool over a size x size (or (h, w)) map, or None for a padding
    Paddle's pool takes in another form."""
    geometry = _pool_geometry(kernel_size, stride, padding)
    if geometry is None:
        return None
    k, s, p = geometry
    hw = (size, size) if isinstance(size, int) else tuple(size)
    out = []
    for i in range(2):
        span = hw[i] + 2 * p[i] - k[i]
        n = (-(-span // s[i]) if ceil_mode else span // s[i]) + 1
        if ceil_mode and (n - 1) * s[i] >= hw[i] + p[i]:
            n -= 1  # the last window must start inside the map or its left padding
        out.append(n)
    return tuple(out)


def _windows_cover_map(h: int, w: int, kernel_size, stride, padding, ceil_mode: bool):
    """Output (ho, wo) of a max pool of an h x w map when every window covers the whole map
    (a 3x3/1 'same' pool of a 2x2 map, a 2x2/2 pool of a 2x2 map), else None."""
    out = _pool_out((h, w), kernel_size, stride, padding, ceil_mode)
    if out is None:
        return None
    k, s, p = _pool_geometry(kernel_size, stride, padding)
    for size, n, ki, si, pi in zip((h, w), out, k, s, p):
        if size + 2 * pi < ki or n < 1:
            return None  # no window fits the padded map: the stock op's (degenerate) result
        # window i spans [i*s - p, i*s - p + k): the first must reach the map's end, the last
        # must start at or before its beginning
        if ki - pi < size or (n - 1) * si - pi > 0:
            return None
    return out


def _whole_map_max(x, ho: int, wo: int, grad: bool):
    """Every window covers the whole map: each output is the map's maximum, found by one
    window per map (Paddle's kernel, so ties resolve as the stock op resolves them: the
    gradient lands on the same element) and spread over the ho x wo outputs by a matmul with
    ones (whose backward, a matmul too, sums them; `expand`'s backward was 2x slower)."""
    n, c, h, w = x.shape
    peak = F.max_pool2d(x, (h, w), 1, 0, return_mask=grad)
    peak = peak[0] if grad else peak  # (N, C, 1, 1)
    if (ho, wo) == (1, 1):
        return peak
    ones = _constant(("ones", 1, ho * wo), lambda: np.ones((1, ho * wo), np.float32), x)
    return paddle.matmul(peak.reshape([n * c, 1]), ones).reshape([n, c, ho, wo])


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
    """F.max_pool2d (NCHW); keeps the argmax mask for the backward when one will run.
    (Paddle's masked pool takes only symmetric padding: an int or one (h, w) pair.)"""
    symmetric = isinstance(padding, int) or len(padding) == 2
    if (
        paddle.in_dynamic_mode()
        and tuple(x.shape[2:]) == (1, 1)
        and _pool_out(1, kernel_size, stride, padding, ceil_mode) == (1, 1)
    ):
        return x  # a 1x1 map pooled to 1x1 (GoogLeNet's pool branches at 32 px): the pixel itself
    if symmetric and paddle.in_dynamic_mode():
        grad = not x.stop_gradient and paddle.is_grad_enabled()
        out = _windows_cover_map(*x.shape[2:], kernel_size, stride, padding, ceil_mode)
        if out is not None:
            # the 2x2 maps of GoogLeNet's 4a-4e pool branches at 32 px: Paddle's pool kernel
            # pays per output window (4 windows of 9 taps here, 1 window of 4 taps this way)
            return _whole_map_max(x, *out, grad)
        if grad:
            pooled = F.max_pool2d(
                x, kernel_size, stride, padding, ceil_mode=ceil_mode, return_mask=True
            )
            return pooled[0]
    return F.max_pool2d(x, kernel_size, stride, padding, ceil_mode=ceil_mode)


class MaxPool2D(nn.MaxPool2D):
    """nn.MaxPool2D (NCHW) whose backward goes through the argmax mask (see module docstring)."""

    def forward(self, x):
        if self.return_mask or self.data_format != "NCHW":
            return super().forward(x)
        return max_pool2d(x, self.ksize, self.stride, self.padding, self.ceil_mode)


def _adaptive_pool_matrix(h: int, w: int, oh: int, ow: int, like):
    """(h*w, oh*ow) matrix of adaptive average pooling (Paddle's and torch's bins: output i of n
    averages input rows floor(i*h/n) .. ceil((i+1)*h/n)-1), a cached constant."""

    def bins(n_in, n_out):
        m = np.zeros((n_in, n_out), np.float64)
        for i in range(n_out):
            lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
            m[lo:hi, i] = 1.0 / (hi - lo)
        return m

    def build():  # row-major pixels
        return np.kron(bins(h, oh), bins(w, ow)).astype(np.float32)

    return _constant(("adaptive_pool", h, w, oh, ow), build, like)


def adaptive_avg_pool2d(x, output_size):
    """F.adaptive_avg_pool2d (NCHW), eager fast paths: to 1x1 a mean over H and W, and on maps
    of <= 64 pixels a matmul with the constant pooling matrix (the aux heads' 2x2 -> 4x4 at a
    32x32 GoogLeNet input). Same values, same bins; static graphs keep the stock op."""
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    n, c, h, w = x.shape
    oh, ow = (h if size[0] is None else size[0]), (w if size[1] is None else size[1])
    if not paddle.in_dynamic_mode() or min(n, c, h, w) < 1:
        return F.adaptive_avg_pool2d(x, output_size)
    if (oh, ow) == (h, w):
        return x
    if (oh, ow) == (1, 1):
        return x.mean(axis=[2, 3], keepdim=True)
    if h * w <= 64:
        y = paddle.matmul(x.reshape([n * c, h * w]), _adaptive_pool_matrix(h, w, oh, ow, x))
        return y.reshape([n, c, oh, ow])
    return F.adaptive_avg_pool2d(x, output_size)


class AdaptiveAvgPool2D(nn.AdaptiveAvgPool2D):
    """nn.AdaptiveAvgPool2D (NCHW) with the eager fast paths of `adaptive_avg_pool2d`."""

    def forward(self, x):
        if self._data_format != "NCHW":
            return super().forward(x)
        return adaptive_avg_pool2d(x, self._output_size)


class ConvBNAct(nn.Layer):
    """Conv2D, then BatchNorm2D (if `batch_norm`), then ReLU (if `act`).

    The conv carries a bias only when there is no BN after it (BN's shift makes it redundant),
    unless `bias` is given explicitly. BatchNorm's epsilon is `DEFAULT_BN_EPS` unless the block
    is built inside `with batchnorm_eps(...)`. Sub-layer names (`conv`, `bn`, `act`) match
    torchvision's `BasicConv2d`, so ported weights map by name.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        *,
        batch_norm: bool = True,
        act: bool = True,
        bias: bool | None = None,
    ):
        super().__init__()
        if bias is None:
            bias = not batch_norm
        self.conv = Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            bias_attr=None if bias else False,
        )
        # paddle's momentum is the weight of the running average: 0.9 == torch's momentum=0.1
        self.bn = nn.BatchNorm2D(out_channels, epsilon=_BN_EPS[-1]) if batch_norm else None
        self.act = nn.ReLU() if act else None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.act is not None:
            x = self.act(x)
        return x

    def takes_rows(self, h: int, w: int) -> bool:
        """Can `forward_rows` run this block on the rows of an h x w map? Its conv must (see
        Conv2D.takes_rows), and its BN and activation must be the plain layers it was built
        with (a SyncBatchNorm or a per-channel activation swapped in needs NCHW)."""
        bn = self.bn
        return (
            (bn is None or (type(bn) is nn.BatchNorm2D and bn._data_format == "NCHW"))
            and (self.act is None or type(self.act) is nn.ReLU)
            and not any(_hooked(m) for m in (self, self.conv, bn, self.act) if m is not None)
            and self.conv.takes_rows(h, w)
        )

    def forward_rows(self, rows, h: int, w: int):
        """`forward` on channels-last rows (N*H*W, C) of an h x w map, for `concat_branches`:
        (rows (N*Ho*Wo, O), ho, wo), where `takes_rows(h, w)`. BatchNorm normalises
        the rows' last axis with the layer's own parameters and running statistics, which is
        what it does to NCHW's channel axis."""
        y, ho, wo = self.conv.forward_rows(rows, h, w)
        bn = self.bn
        if bn is not None:
            y = F.batch_norm(
                y,
                bn._mean,
                bn._variance,
                weight=bn.weight,
                bias=bn.bias,
                training=bn.training,
                momentum=bn._momentum,
                epsilon=bn._epsilon,
                data_format="NC",
                use_global_stats=bn._use_global_stats,
            )
        if self.act is not None:
            y = self.act(y)
        return y, ho, wo


def _hooked(layer) -> bool:
    """Has `layer` forward hooks (paddle.summary's, a user's)? Code that runs its sublayers'
    work without calling them must leave it alone then, or the hooks would not see it."""
    return bool(layer._forward_pre_hooks or layer._forward_post_hooks)


def concat_branches(x, branches):
    """`paddle.concat([branch(x) for branch in branches], axis=1)` for an Inception block whose
    branches are `ConvBNAct`s, pools, or `nn.Sequential`s of them.

    Where the convs take the batch-folded GEMM path (small maps: every Inception block of a
    32x32 GoogLeNet), each would copy its input to channels-last rows and its output back to
    NCHW. Here a run of such convs stays in rows: the input is copied once for all branches
    that start with a conv, BatchNorm and ReLU work on the rows, and the branches' rows are
    concatenated on channels and copied back once. A pool or a conv that needs NCHW gets it,
    and so does a layer with forward hooks (paddle.summary's), which are called as usual.
    Same parameters, results up to float rounding, and gradients; static graphs (export) get
    the plain concat."""
    if not paddle.in_dynamic_mode() or x.shape[2] * x.shape[3] > FOLD_ROWS_MAX_PIXELS:
        return paddle.concat([branch(x) for branch in branches], axis=1)
    x_rows = None  # the block input's rows, shared by the branches that start with a conv
    outs = []  # (tensor, (h, w) if it is rows else None)
    for branch in branches:
        t, hw = x, None
        opened = isinstance(branch, nn.Sequential) and not _hooked(branch)
        for layer in branch if opened else [branch]:
            h, w = hw or t.shape[2:]
            if isinstance(layer, ConvBNAct) and layer.takes_rows(h, w):
                if hw is None:
                    if t is x and x_rows is None:
                        x_rows = to_rows(x)
                    t = x_rows if t is x else to_rows(t)
                t, *hw = layer.forward_rows(t, h, w)
            else:
                t, hw = layer(t if hw is None else from_rows(t, *hw)), None
        outs.append((t, hw))
    shapes = {tuple(hw) for _, hw in outs if hw is not None}
    n_rows = sum(hw is not None for _, hw in outs)
    # back to NCHW once for the whole concat, unless fewer copies convert the rows instead
    if len(shapes) == 1 and n_rows > len(outs) - n_rows:
        ((h, w),) = shapes
        cat = paddle.concat([t if hw else to_rows(t) for t, hw in outs], axis=1)
        return from_rows(cat, h, w)
    return paddle.concat([t if hw is None else from_rows(t, *hw) for t, hw in outs], axis=1)


def avg_pool_3x3(count_include_pad: bool) -> nn.AvgPool2D:
    """The 3x3 stride-1 'same' average pool of the Inception pool branches.

    Peers disagree on the border: `count_include_pad=True` divides by 9 everywhere, counting
    the zero padding (Caffe and torch's default: BN-Inception, torchvision's Inception-v3);
    False divides by the number of real pixels under the window (TF-slim's SAME padding:
    Inception-v4 and Inception-ResNet as in timm). Each model passes its peer's choice, so
    ported weights give the same logits.
    """
    return nn.AvgPool2D(3, stride=1, padding=1, exclusive=not count_include_pad)


def init_weights(model: nn.Layer, linear_std: float = 0.01) -> None:
    """He-normal (fan_in, ReLU gain) convolutions, N(0, linear_std) linears, zero biases.

    He init keeps activations at unit scale through deep ReLU stacks *without* BN (the
    paper-faithful GoogLeNet has none), where Paddle's default Xavier-uniform init shrinks them.
    """
    conv_init = nn.initializer.KaimingNormal(nonlinearity="relu")
    zeros = nn.initializer.Constant(0.0)
    lin_init = nn.initializer.Normal(0.0, linear_std)
    for layer in model.sublayers(include_self=True):
        if isinstance(layer, nn.Conv2D):
            conv_init(layer.weight)
            if layer.bias is not None:
                zeros(layer.bias)
        elif isinstance(layer, nn.Linear):
            lin_init(layer.weight)
            zeros(layer.bias)
