"""Image sets for calibration and evaluation of a deployed model, preprocessed as the model
expects: a folder (class sub-folders give labels, sorted names -> 0..K-1, as ImageFolder), a
list file (`path [label]` per line) or a config's dataset (Train for calibration, with the Eval
transforms, so that no random crop or flip enters the statistics; Eval for evaluation).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..data.builder import dataset_from_config
from .infer import _LABEL_RE, collect_images, load_image

__all__ = ["ImageSet", "image_set_from_path", "image_set_from_config"]


@dataclass
class ImageSet:
    """`size` images read on demand by `get(i) -> (float32 [C, H, W], label or -1)`."""

    description: str
    size: int
    labeled: bool
    get: Callable[[int], tuple]

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(x float32 [B, C, H, W], labels int64 [B], -1 where unknown) in order."""
        for start in range(0, self.size, batch_size):
            items = [self.get(i) for i in range(start, min(self.size, start + batch_size))]
            yield (
                np.stack([a for a, _ in items]).astype(np.float32),
                np.array([y for _, y in items], np.int64),
            )


def _subset(total: int, n: int | None, seed: int) -> np.ndarray:
    """The first `n` of a seeded permutation (all, in order, when n is None or >= total)."""
    if n is None or n >= total:
        return np.arange(total)
    if n < 1:
        raise ValueError(f"number of images must be >= 1, got {n}")
    return np.random.default_rng(seed).permutation(total)[:n]


def _list_file_entries(path: str) -> list[tuple[str, int]]:
    """(path, label or -1) of a list file, relative paths from its folder."""
    base = os.path.dirname(os.path.abspath(path))
    out = []
    for (p, err), line in zip(collect_images([path]), _list_lines(path)):
        if err is not None:
            raise FileNotFoundError(f"{path}: {p}: {err}")
        parts = line.rsplit(None, 1)
        label = int(parts[1]) if len(parts) == 2 and _LABEL_RE.fullmatch(parts[1]) else -1
        out.append((p if os.path.isabs(p) else os.path.join(base, p), label))
    return out


def _list_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8-sig") as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.strip().startswith("#")]


def _folder_entries(root: str) -> list[tuple[str, int]]:
    """Images under `root`; labelled by class sub-folder when every image is inside one."""
    found = collect_images([root])
    bad = [(p, e) for p, e in found if e is not None]
    if bad:
        raise FileNotFoundError(f"{bad[0][0]}: {bad[0][1]}")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    rel = [os.path.relpath(p, root).split(os.sep) for p, _ in found]
    if classes and all(len(r) > 1 for r in rel):
        index = {c: i for i, c in enumerate(classes)}
        return [(p, index[r[0]]) for (p, _), r in zip(found, rel)]
    return [(p, -1) for p, _ in found]


def image_set_from_path(
    path: str, preprocess, n: int | None = None, seed: int = 0, what: str = "images"
) -> ImageSet:
    """Up to `n` images (a seeded random subset) of a folder or a `.txt` list file, through
    `preprocess` (bytes -> float32 CHW, `deploy.preprocess.build_preprocess`)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        entries = _folder_entries(path)
    elif path.lower().endswith(".txt") and os.path.isfile(path):
        entries = _list_file_entries(path)
    elif not os.path.exists(path):
        raise FileNotFoundError(f"{what}: {path} does not exist (a folder or a .txt list file)")
    else:
        raise ValueError(f"{what}: {path} is neither a folder nor a .txt list file")
    if not entries:
        raise ValueError(f"{what}: {path} names no images")
    idx = _subset(len(entries), n, seed)
    chosen = [entries[i] for i in idx]

    def get(i):
        p, label = chosen[i]
        arr, err = load_image(p, preprocess)
        if err is not None:
            raise ValueError(f"{what}: {p}: {err}")
        return arr, label

    labeled = all(label >= 0 for _, label in chosen)
    return ImageSet(f"{path} ({len(chosen)} of {len(entries)} images)", len(chosen), labeled, get)


def image_set_from_config(
    cfg: dict,
    split: str = "eval",
    n: int | None = None,
    seed: int = 0,
    what: str = "images",
) -> ImageSet:
    """Up to `n` images of a config's dataset: split 'eval' (DataLoader.Eval) or 'train'
    (DataLoader.Train's images with DataLoader.Eval's transforms)."""
    loaders = cfg.get("DataLoader") or {}
    ev = ((loaders.get("Eval") or {}).get("dataset")) or None
    if not ev:
        raise ValueError(f"{what}: the config has no DataLoader.Eval.dataset")
    if split == "eval":
        ds_cfg, mode, key = dict(ev), "Eval", "DataLoader.Eval.dataset"
    elif split == "train":
        tr = ((loaders.get("Train") or {}).get("dataset")) or None
        if not tr:
            raise ValueError(f"{what}: the config has no DataLoader.Train.dataset")
        ds_cfg, mode, key = dict(tr), "Train", "DataLoader.Train.dataset"
        ds_cfg["transform_ops"] = ev.get("transform_ops")  # deterministic preprocessing
    else:
        raise ValueError(f"{what}: split must be 'train' or 'eval', got {split!r}")
    class_num = (cfg.get("Arch") or {}).get("class_num")
    dataset = dataset_from_config(ds_cfg, mode, class_num=class_num, key_path=key)
    idx = _subset(len(dataset), n, seed)

    def get(i):
        x, y = dataset[int(idx[i])]
        return np.asarray(x, np.float32), int(np.asarray(y).reshape(-1)[0])

    name = ds_cfg.get("name", "dataset")
    desc = f"{name} {split} split ({len(idx)} of {len(dataset)} images, config {key})"
    return ImageSet(desc, len(idx), True, get)
