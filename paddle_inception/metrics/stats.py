"""Activation statistics (mean and covariance) streamed over batches in float64, and the `.npz`
files of pytorch-fid (`mu`, `sigma`), so that statistics written by either tool compare.

The streamed result equals `np.mean(act, 0)` and `np.cov(act, rowvar=False)` of all the
activations at once (pytorch-fid's `calculate_activation_statistics`) to float64 rounding: each
batch's mean and centred scatter matrix are merged with the running ones (Chan et al.'s pairwise
update), which never forms the cancellation-prone sum of squares.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass

import numpy as np

__all__ = ["ActivationStats", "StatsAccumulator", "StatsFileError", "load_stats", "save_stats"]

logger = logging.getLogger("paddle_inception.metrics")

#: the largest statistics file read (2048 dims: mu 16 KiB + sigma 32 MiB, uncompressed)
MAX_STATS_DIMS = 8192


class StatsFileError(ValueError):
    """A statistics file that cannot be used: missing keys, wrong shapes, NaN/inf."""


@dataclass
class ActivationStats:
    """mu (D,) and sigma (D, D), float64; `n` samples (0 where a file does not record it)."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int = 0

    @property
    def dims(self) -> int:
        return int(self.mu.shape[0])


class StatsAccumulator:
    """Feed (B, D) activation batches with `update`; `result()` gives mean and covariance
    (ddof 1, as np.cov) of everything fed."""

    def __init__(self, dims: int):
        self.dims = int(dims)
        self.n = 0
        self.mean = np.zeros(self.dims, np.float64)
        self.scatter = np.zeros((self.dims, self.dims), np.float64)  # sum of (x - mean)(x - mean)^T

    def update(self, batch) -> None:
        x = np.asarray(batch, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dims:
            raise ValueError(f"activation batch must be (B, {self.dims}), got {x.shape}")
        b = x.shape[0]
        if b == 0:
            return
        mean_b = x.mean(axis=0)
        centred = x - mean_b
        scatter_b = centred.T @ centred
        n = self.n + b
        delta = mean_b - self.mean
        self.scatter += scatter_b + np.outer(delta, delta) * (self.n * b / n)
        self.mean += delta * (b / n)
        self.n = n

    def result(self) -> ActivationStats:
        if self.n < 2:
            raise ValueError(
                f"a covariance needs at least 2 samples, got {self.n}; give more images"
            )
        if self.n < self.dims:
            logger.warning(
                "%d samples for %d feature dims: the covariance is singular (rank <= %d), "
                "FID is biased and its matrix square root may need the eps offset; use at "
                "least %d images (10,000+ is the usual practice)",
                self.n,
                self.dims,
                self.n - 1,
                self.dims,
            )
        return ActivationStats(self.mean.copy(), self.scatter / (self.n - 1), self.n)


def save_stats(path: str, stats: ActivationStats) -> None:
    """Write pytorch-fid's format: `np.savez_compressed(path, mu=..., sigma=...)` (+ `n`, which
    pytorch-fid ignores). Written to a temporary file first, then renamed."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise ValueError(f"statistics file must end in .npz, got {path!r}")
    tmp = path[: -len(".npz")] + ".tmp.npz"
    np.savez_compressed(tmp, mu=stats.mu, sigma=stats.sigma, n=np.int64(stats.n))
    os.replace(tmp, path)


def _read_array(zf: zipfile.ZipFile, key: str, path: str, max_elems: int) -> np.ndarray:
    name = f"{key}.npy"
    if name not in zf.namelist():
        raise StatsFileError(
            f"{path}: no {key!r} array (found {sorted(n[:-4] for n in zf.namelist())}); "
            f"a FID statistics file holds 'mu' (D,) and 'sigma' (D, D) as pytorch-fid writes"
        )
    with zf.open(name) as f:
        try:  # the header first: shape and dtype checked before anything is allocated
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f)
        except ValueError as e:
            raise StatsFileError(f"{path}: {key!r} is not a .npy array ({e})") from None
        count = int(np.prod(shape, dtype=np.int64))
        if dtype.hasobject or count > max_elems:
            raise StatsFileError(
                f"{path}: {key!r} is {dtype} of shape {list(shape)}: not a numeric array of "
                f"at most {max_elems} values ({MAX_STATS_DIMS} dims at most)"
            )
        data = f.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise StatsFileError(f"{path}: {key!r} is truncated")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise StatsFileError(f"{path}: {key!r} has dtype {arr.dtype}, expected real floats")
    return arr.astype(np.float64)


def load_stats(path: str, dims: int | None = None) -> ActivationStats:
    """Read a pytorch-fid `.npz` (`mu` (D,), `sigma` (D, D)); no pickle. Raises StatsFileError
    naming the file and the problem: a missing key, shapes that do not fit each other or `dims`,
    NaN/inf, an asymmetric sigma."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"statistics file not found: {path}")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise StatsFileError(f"{path}: not an .npz archive ({e})") from None
    with zf:
        try:
            mu = _read_array(zf, "mu", path, MAX_STATS_DIMS)
            sigma = _read_array(zf, "sigma", path, MAX_STATS_DIMS**2)
            n = 0
            if "n.npy" in zf.namelist():
                n_arr = _read_array(zf, "n", path, 1)
                n = int(n_arr.reshape(-1)[0]) if n_arr.size == 1 else 0
        except (zipfile.BadZipFile, EOFError, OSError) as e:  # a bad CRC, a cut-off member
            raise StatsFileError(f"{path}: damaged .npz archive ({e})") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise StatsFileError(
            f"{path}: mu has shape {list(mu.shape)} and sigma {list(sigma.shape)}; expected "
            f"mu (D,) and sigma (D, D)"
        )
    if dims is not None and mu.shape[0] != dims:
        raise StatsFileError(
            f"{path}: statistics of {mu.shape[0]}-dim features, but {dims} dims were asked "
            f"for; pass --dims {mu.shape[0]} or recompute the statistics"
        )
    for key, arr in (("mu", mu), ("sigma", sigma)):
        bad = int(np.size(arr) - np.isfinite(arr).sum())
        if bad:
            raise StatsFileError(f"{path}: {key!r} has {bad} NaN/inf values")
    if not np.allclose(sigma, sigma.T, rtol=1e-6, atol=1e-9 * max(1.0, np.abs(sigma).max())):
        raise StatsFileError(f"{path}: 'sigma' is not symmetric, so not a covariance matrix")
    return ActivationStats(mu, sigma, n)
