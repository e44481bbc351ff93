"""FID, KID and Inception Score from features, with the reference implementations' numerics:

- FID: pytorch-fid's `calculate_frechet_distance` (Dougal Sutherland's stable form):
  ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrtm(S1 S2)), `scipy.linalg.sqrtm` of the product;
  if that is not finite, `eps` (1e-6) is added to both diagonals and the root taken again; a
  complex root is accepted only when its diagonal's imaginary parts are within 1e-3 of 0 (the
  real part is then used), else ValueError.
- KID: torch-fidelity's `kid_features_to_metric`: the unbiased MMD^2 estimate with the
  polynomial kernel k(x, y) = (gamma x.y + coef0)^degree (degree 3, gamma 1/D, coef0 1), over
  100 random subsets of 1000 samples from each side (np.random.RandomState(2020).choice without
  replacement, drawn side 1 then side 2 per subset); mean and std (ddof 0) over the subsets.
  Computed in float64 (torch-fidelity computes in the dtype of its features, float32).
- Inception Score: the original (Salimans et al. 2016) over 10 splits: exp(E_x KL(p(y|x) ||
  p(y))) per split, mean and std (ddof 0); the samples shuffled first with
  RandomState(2020).permutation as torch-fidelity (`shuffle=False`: the original's order).
  Softmax in float64 of the *unbiased* logits (pool features @ fc weight, no bias).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["MeanStd", "frechet_distance", "kernel_inception_distance", "inception_score"]

logger = logging.getLogger("paddle_inception.metrics")


@dataclass
class MeanStd:
    """A score over subsets or splits: their mean and standard deviation (ddof 0)."""

    mean: float
    std: float


def _sqrtm(a: np.ndarray) -> np.ndarray:
    from scipy import linalg

    with warnings.catch_warnings():
        # singular / ill-conditioned products are handled below, as pytorch-fid does
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        return linalg.sqrtm(a)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """The Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (see the module
    docstring). Shapes: mu (D,), sigma (D, D), both sides the same D."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1 = np.atleast_2d(sigma1).astype(np.float64)
    sigma2 = np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"FID: the two sides have different dims: mu {list(mu1.shape)} vs "
            f"{list(mu2.shape)}, sigma {list(sigma1.shape)} vs {list(sigma2.shape)}"
        )
    if sigma1.shape != (mu1.shape[0], mu1.shape[0]):
        raise ValueError(f"FID: sigma {list(sigma1.shape)} does not fit mu {list(mu1.shape)}")
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        logger.warning(
            "FID: the product of the covariances is singular; adding %g to their diagonals "
            "(as pytorch-fid)",
            eps,
        )
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            m = float(np.max(np.abs(covmean.imag)))
            raise ValueError(
                f"FID: the matrix square root has an imaginary component of {m:.3g} (the "
                f"covariances are too singular: use more samples than feature dims)"
            )
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _poly_kernel(x, y, degree, gamma, coef0):
    return (x @ y.T * gamma + coef0) ** degree


def _mmd2_unbiased(kxx, kxy, kyy) -> float:
    m = kxx.shape[0]
    off_xx = kxx.sum() - np.trace(kxx)  # sum over i != j
    off_yy = kyy.sum() - np.trace(kyy)
    return float((off_xx + off_yy) / (m * (m - 1)) - 2 * kxy.sum() / (m * m))


def kernel_inception_distance(
    features1,
    features2,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 2020,
) -> MeanStd:
    """KID of (N1, D) and (N2, D) features (see the module docstring)."""
    f1 = np.asarray(features1, dtype=np.float64)
    f2 = np.asarray(features2, dtype=np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"KID: features must be (N, D) on both sides, got {f1.shape}, {f2.shape}")
    n1, n2 = len(f1), len(f2)
    if min(n1, n2) < subset_size:
        raise ValueError(
            f"KID: subset size {subset_size} is larger than the samples ({n1} and {n2}); "
            f"give more images or a smaller --kid-subset-size"
        )
    if subset_size < 2:
        raise ValueError(f"KID: subset size must be >= 2, got {subset_size}")
    g = 1.0 / f1.shape[1] if gamma is None else float(gamma)
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        x = f1[rng.choice(n1, subset_size, replace=False)]
        y = f2[rng.choice(n2, subset_size, replace=False)]
        mmds[i] = _mmd2_unbiased(
            _poly_kernel(x, x, degree, g, coef0),
            _poly_kernel(x, y, degree, g, coef0),
            _poly_kernel(y, y, degree, g, coef0),
        )
    return MeanStd(float(np.mean(mmds)), float(np.std(mmds)))


def inception_score(logits, splits: int = 10, shuffle: bool = True, seed: int = 2020) -> MeanStd:
    """Inception Score of (N, C) unbiased logits (see the module docstring)."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"IS: logits must be (N, C), got {z.shape}")
    n = len(z)
    if n < splits:
        raise ValueError(f"IS: {n} samples for {splits} splits; give at least {splits} images")
    if shuffle:
        z = z[np.random.RandomState(seed).permutation(n)]
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))  # log softmax
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        p_s, log_p_s = p[lo:hi], log_p[lo:hi]
        log_q = np.log(p_s.mean(axis=0, keepdims=True))  # log p(y) over the split
        kl = (p_s * (log_p_s - log_q)).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return MeanStd(float(np.mean(scores)), float(np.std(scores)))
