"""Where Conv2D's batch-folded GEMM path pays: forward + backward time of every convolution of a
model at a given input size and batch, through Paddle's conv kernel ("stock") and through
`layers._conv2d_folded` ("folded"), measured interleaved in one process (this CPU's speed
drifts between processes) and reported as medians, with the path `layers.Conv2D` takes.

    python benchmarks/conv_paths.py --model googlenet_bn --in-channels 1 --size 32 --batch 128
    MKL_DEBUG_CPU_TYPE=5 python benchmarks/conv_paths.py ...   # MKL's AVX2 kernels (AMD)
    MKL_ENABLE_INSTRUCTIONS=AVX2 python benchmarks/conv_paths.py ...   # the same on Intel

The thresholds `layers.FOLD_MAX_PIXELS` and `FOLD_ROWS_MAX_PIXELS` were chosen from these tables.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

import numpy as np


def conv_shapes(model, x):
    """{(input shape, weight shape, stride, padding): count} of the convs `model(x)` runs."""
    import paddle

    found = collections.Counter()

    def hook(layer, inputs):
        found[
            (
                tuple(inputs[0].shape),
                tuple(layer.weight.shape),
                tuple(layer._stride),
                tuple(layer._updated_padding),
            )
        ] += 1

    hooks = [
        m.register_forward_pre_hook(hook)
        for m in model.sublayers()
        if isinstance(m, paddle.nn.Conv2D)
    ]
    with paddle.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return found


def time_paths(xs, ws, stride, padding, repeats: int = 7) -> tuple[float, float]:
    """Median ms of forward + backward through the stock and the folded path, interleaved."""
    import paddle
    import paddle.nn.functional as F

    from paddle_inception.layers import _conv2d_folded

    x = paddle.randn(list(xs))
    x.stop_gradient = False
    w = paddle.randn(list(ws)) * 0.05
    w.stop_gradient = False
    paths = {
        "stock": lambda: F.conv2d(x, w, None, list(stride), list(padding)),
        "folded": lambda: _conv2d_folded(x, w, stride, padding),
    }
    times = {k: [] for k in paths}
    for i in range(repeats + 2):
        for name, fn in paths.items():
            t = time.perf_counter()
            fn().sum().backward()
            if i >= 2:  # warm-up
                times[name].append(time.perf_counter() - t)
            x.clear_gradient()
            w.clear_gradient()
    return tuple(float(np.median(times[k])) * 1e3 for k in ("stock", "folded"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="googlenet_bn")
    p.add_argument("--in-channels", type=int, default=1)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from paddle_inception.runtime import configure_cpu

    configure_cpu()
    import paddle

    import paddle_inception as pi
    from paddle_inception.layers import Conv2D

    model = pi.create_model(args.model, num_classes=10, in_channels=args.in_channels)
    model.train()
    shapes = conv_shapes(model, paddle.randn([args.batch, args.in_channels, args.size, args.size]))
    probe = Conv2D(1, 1, 1)
    print(
        f"MKL_DEBUG_CPU_TYPE={os.environ.get('MKL_DEBUG_CPU_TYPE')}, "
        f"MKL_ENABLE_INSTRUCTIONS={os.environ.get('MKL_ENABLE_INSTRUCTIONS')}, {args.model}, input "
        f"{args.in_channels}x{args.size}x{args.size}, batch {args.batch}; ms fwd+bwd, median"
    )
    print(
        f"{'input':>20} {'weight':>18} {'s':>2} {'n':>2} {'stock':>8} {'folded':>8} "
        f"{'ratio':>6}  path"
    )
    total = {"stock": 0.0, "folded": 0.0, "chosen": 0.0}
    for (xs, ws, st, pd), n in sorted(shapes.items(), key=lambda kv: -kv[0][0][2]):
        s, f = time_paths(xs, ws, st, pd, args.repeats)
        probe._kernel_size, probe._stride, probe._updated_padding = list(ws[2:]), list(st), list(pd)
        probe._groups, probe._dilation, probe._padding_algorithm = 1, [1, 1], "EXPLICIT"
        probe._out_channels = ws[0]
        folded = probe._folded(paddle.zeros([1, *xs[1:]]))
        total["stock"] += s * n
        total["folded"] += f * n
        total["chosen"] += (f if folded else s) * n
        print(
            f"{str(list(xs)):>20} {str(list(ws)):>18} {st[0]:>2} {n:>2} {s:8.2f} {f:8.2f} "
            f"{s / f:6.2f}  {'folded' if folded else 'stock'}",
            flush=True,
        )
    print(
        f"total (x count): stock {total['stock']:.1f} ms, folded {total['folded']:.1f} ms, "
        f"as Conv2D chooses {total['chosen']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
