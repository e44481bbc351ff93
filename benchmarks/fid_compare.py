"""Our FID pipeline beside pytorch-fid's on the same CPU (the figures of docs/fid.md).

    python benchmarks/fid_compare.py weights --out /tmp/fid_random.pth
    python benchmarks/fid_compare.py speed --tool paddle --weights /tmp/fid_random.pth
    python benchmarks/fid_compare.py speed --tool torch --weights /tmp/fid_random.pth
    python benchmarks/fid_compare.py fmnist --tool paddle --weights /tmp/fid_random.pth -n 2000

`weights` writes a pytorch-fid state dict with random weights (the published
pt_inception-2015-12-05 file cannot be downloaded here; with it, pass it instead). `speed`
prints features/s of the 2048-dim tap (28x28 Fashion-MNIST images as uint8 RGB, resized to 299
inside the timed region, as both tools do), one process per run: alternate the tools and take
medians. `fmnist` prints the FID of two disjoint halves of the Fashion-MNIST test set and of
Fashion-MNIST against uniform noise images, with the tool's own pipeline end to end (features,
statistics, FID). Threads: `--threads` (2 by default) for both.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np

FMNIST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def fashion_mnist(n: int, offset: int = 0) -> np.ndarray:
    """(n, 3, 28, 28) uint8: test images offset .. offset + n, gray repeated to RGB."""
    with gzip.open(FMNIST) as f:
        imgs = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    if offset + n > len(imgs):
        raise SystemExit(f"error: {offset + n} images asked for, the test set has {len(imgs)}")
    return np.repeat(imgs[offset : offset + n, None], 3, axis=1)


def noise(n: int, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    return np.repeat(g.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8), 3, axis=1)


def random_weights(out: str) -> None:
    import torch

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from test_fid import _random_torch_state  # the parity tests' random weights

    torch.save(_random_torch_state(), out)
    print(f"wrote {out}")


class Paddle:
    def __init__(self, weights: str, threads: int):
        from paddle_inception.convert import convert_state_dict, extract_state_dict, read_checkpoint
        from paddle_inception.runtime import configure_cpu

        configure_cpu(num_threads=threads)
        sd = extract_state_dict(read_checkpoint(weights), path=weights)
        self.model = convert_state_dict(sd, "pytorch-fid", "fid_inception_v3").model

    def features(self, batch: np.ndarray) -> np.ndarray:
        import paddle

        with paddle.no_grad():
            return self.model.fid_features(batch, dims=(2048,))[2048].numpy()


class Torch:
    def __init__(self, weights: str, threads: int):
        from unittest import mock

        import pytorch_fid.inception as inception
        import torch

        torch.set_num_threads(threads)
        state = torch.load(weights, weights_only=True)
        with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state):
            self.model = inception.InceptionV3([3]).eval()
        self.torch = torch

    def features(self, batch: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            x = self.torch.from_numpy(batch).float() / 255  # ToTensor's scaling
            return self.model(x)[0][:, :, 0, 0].numpy()


def _features(tool, images: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate(
        [tool.features(images[i : i + batch]) for i in range(0, len(images), batch)]
    )


def _fid(act_a: np.ndarray, act_b: np.ndarray, name: str) -> float:
    a, b = act_a.astype(np.float64), act_b.astype(np.float64)
    if name == "paddle":
        from paddle_inception.metrics import StatsAccumulator, frechet_distance

        sa, sb = StatsAccumulator(a.shape[1]), StatsAccumulator(b.shape[1])
        sa.update(a), sb.update(b)
        ra, rb = sa.result(), sb.result()
        return frechet_distance(ra.mu, ra.sigma, rb.mu, rb.sigma)
    from pytorch_fid.fid_score import calculate_frechet_distance

    return float(
        calculate_frechet_distance(
            a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
        )
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=("weights", "speed", "fmnist"))
    p.add_argument("--tool", choices=("paddle", "torch"), default="paddle")
    p.add_argument("--weights", default="/tmp/fid_random.pth")
    p.add_argument("--out", default="/tmp/fid_random.pth")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--batches", type=int, default=4, help="speed: timed batches (after 1 warm-up)")
    p.add_argument("-n", type=int, default=2000, help="fmnist: images per side")
    args = p.parse_args(argv)
    if args.mode == "weights":
        random_weights(args.out)
        return 0
    tool = (Paddle if args.tool == "paddle" else Torch)(args.weights, args.threads)
    if args.mode == "speed":
        images = fashion_mnist(args.batch_size * (args.batches + 1))
        tool.features(images[: args.batch_size])  # warm-up
        t0 = time.perf_counter()
        _features(tool, images[args.batch_size :], args.batch_size)
        dt = time.perf_counter() - t0
        n = args.batch_size * args.batches
        print(json.dumps(dict(tool=args.tool, images=n, seconds=dt, per_s=n / dt)))
        return 0
    n = args.n
    a = _features(tool, fashion_mnist(n, 0), args.batch_size)
    b = _features(tool, fashion_mnist(n, n), args.batch_size)
    z = _features(tool, noise(n), args.batch_size)
    out = dict(
        tool=args.tool, n=n, fid_halves=_fid(a, b, args.tool), fid_noise=_fid(a, z, args.tool)
    )
    np.savez(f"/tmp/fid_feats_{args.tool}.npz", a=a, b=b, z=z)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
