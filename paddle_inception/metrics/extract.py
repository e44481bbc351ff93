"""FID features of an image folder with `fid_inception_v3`, as pytorch-fid reads them: the
folder's files with an image extension (not recursive, sorted), each decoded to 8-bit RGB
(grayscale repeated to 3 channels, alpha dropped: Pillow's convert("RGB")), scaled to [0, 1],
resized to 299x299 and scaled to [-1, 1] (`FIDInceptionV3.fid_input`).

Images of different sizes are resized one by one (the resize is per image anyway, so the result
is the same as pytorch-fid's on a folder of one size, where pytorch-fid itself fails to batch
mixed sizes). One deliberate difference: 16/32-bit grayscale images are scaled from their real
range (`data.transforms`' decoder) where Pillow's convert("RGB") clips them to 255.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..data.datasets import IMG_EXTENSIONS
from ..data.transforms import ImageDecodeError, _decode_rgb
from .stats import ActivationStats, StatsAccumulator

__all__ = [
    "FolderMeasure",
    "ImageFolderError",
    "list_images",
    "read_rgb",
    "measure_folder",
    "MAX_IMAGE_FILE_BYTES",
]

#: the largest image file read (a 100 MP 16-bit TIFF is 600 MiB: anything above is refused)
MAX_IMAGE_FILE_BYTES = 1 << 30


class ImageFolderError(ValueError):
    """A folder that gives no usable images, or an image that cannot be read."""


@dataclass
class FolderMeasure:
    """What `measure_folder` measured: statistics of the `dims` features of `n` images, and,
    when asked for, the features themselves (N, dims) and the unbiased logits (N, classes)."""

    path: str
    n: int
    stats: ActivationStats
    features: np.ndarray | None = None
    logits: np.ndarray | None = None


def list_images(folder: str) -> list[str]:
    """The image files directly in `folder` (extensions of `IMG_EXTENSIONS`, any case), sorted.
    Raises FileNotFoundError for a missing folder, ImageFolderError for one without images."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(
        os.path.join(folder, f)
        for f in os.listdir(folder)
        if f.lower().endswith(IMG_EXTENSIONS) and os.path.isfile(os.path.join(folder, f))
    )
    if not files:
        raise ImageFolderError(
            f"no image files ({', '.join(IMG_EXTENSIONS)}) directly in folder {folder} "
            f"(subfolders are not searched, as pytorch-fid)"
        )
    return files


def read_rgb(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file; ImageFolderError naming the file otherwise."""
    try:
        size = os.path.getsize(path)
        if size > MAX_IMAGE_FILE_BYTES:
            raise ImageFolderError(
                f"{path}: {size:,} bytes, over the {MAX_IMAGE_FILE_BYTES:,} bytes read for "
                f"one image"
            )
        with open(path, "rb") as f:
            data = f.read(MAX_IMAGE_FILE_BYTES + 1)
    except OSError as e:
        raise ImageFolderError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    if not data:
        raise ImageFolderError(f"{path}: empty file (0 bytes)")
    try:
        return _decode_rgb(data)
    except ImageDecodeError as e:
        raise ImageFolderError(f"{path}: not a readable image ({e})") from None


def _batch_input(model, images: list):
    """A list of (H, W, 3) uint8 images -> (B, 3, 299, 299) float32 in [0, 1]."""
    import paddle

    if all(im.shape == images[0].shape for im in images):
        return model.fid_resize(np.stack(images).transpose(0, 3, 1, 2))
    # mixed sizes: each image resized on its own (the same result a per-size batch gives)
    parts = [model.fid_resize(im.transpose(2, 0, 1)[None]) for im in images]
    return paddle.concat(parts, axis=0)


def measure_folder(
    model,
    folder: str,
    dims: int = 2048,
    batch_size: int = 50,
    keep_features: bool = False,
    logits: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> FolderMeasure:
    """Feature statistics (float64, streamed over batches) of the images in `folder` with the
    FID network `model` (a `FIDInceptionV3` with its weights); `keep_features` also returns the
    (N, dims) features (KID), `logits` the (N, classes) unbiased logits (Inception Score).
    `progress(done_batches, total_batches)` is called after each batch."""
    import paddle

    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    files = list_images(folder)
    total = (len(files) + batch_size - 1) // batch_size
    acc = StatsAccumulator(dims)
    feats, logit_parts = [], []
    model.eval()
    with paddle.no_grad():
        for i in range(total):
            images = [read_rgb(f) for f in files[i * batch_size : (i + 1) * batch_size]]
            out = model.fid_features(_batch_input(model, images), dims=(dims,), logits=logits)
            batch = out[dims].numpy()  # (B, dims) float32
            acc.update(batch)
            if keep_features:
                feats.append(batch)
            if logits:
                logit_parts.append(out["logits_unbiased"].numpy())
            if progress is not None:
                progress(i + 1, total)
    return FolderMeasure(
        path=os.fspath(folder),
        n=len(files),
        stats=acc.result(),
        features=np.concatenate(feats) if keep_features else None,
        logits=np.concatenate(logit_parts) if logits else None,
    )
