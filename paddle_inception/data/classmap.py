"""Class-id maps: PaddleClas' `class_id name` files, and the ones shipped as package data
(`paddle_inception/configs/class_maps/`: ImageNet-1k, Fashion-MNIST)."""

from __future__ import annotations

import os

from .._safe_files import MAX_TEXT_BYTES, read_bounded
from .._util import package_path

__all__ = [
    "CLASS_MAPS_DIR",
    "RUN_CLASS_MAP",
    "load_class_map",
    "default_class_map_path",
    "run_class_map_path",
]

#: the class map a training run writes into its run directory (`class_id name` lines)
RUN_CLASS_MAP = "class_names.txt"

#: the class-id map files shipped with the package
CLASS_MAPS_DIR = package_path("configs", "class_maps")


def load_class_map(path: str) -> dict[int, str]:
    """Read a PaddleClas class-id map: one `class_id name` per line (the name may contain
    spaces and commas; blank lines and lines starting with '#' are skipped)."""
    if not os.path.lexists(path):
        raise FileNotFoundError(f"class map file not found: {path}")
    # a regular file of at most MAX_TEXT_BYTES (a FIFO or /dev/zero: one line, no hang)
    text = read_bounded(path, MAX_TEXT_BYTES, "class map", kind="class map").decode("utf-8")
    out: dict[int, str] = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        try:
            cid = int(parts[0])
        except ValueError:
            raise ValueError(f"{path}:{lineno}: expected 'class_id name', got {line!r}") from None
        if cid < 0:
            raise ValueError(f"{path}:{lineno}: negative class id {cid}")
        if cid in out:
            raise ValueError(f"{path}:{lineno}: class id {cid} appears twice")
        out[cid] = parts[1].strip() if len(parts) > 1 else str(cid)
    if not out:
        raise ValueError(f"class map {path} has no entries")
    return out


def default_class_map_path(num_classes: int | None, cfg: dict | None = None) -> str | None:
    """The config's Infer.PostProcess.class_id_map_file; else a shipped map: Fashion-MNIST
    when the config trains on it, ImageNet-1k for 1000 classes; else None."""
    if cfg:
        post = (cfg.get("Infer") or {}).get("PostProcess") or {}
        if post.get("class_id_map_file"):
            return post["class_id_map_file"]
        names = [
            ((cfg.get("DataLoader") or {}).get(m) or {}).get("dataset", {}) or {}
            for m in ("Train", "Eval")
        ]
        if any(d.get("name") == "FashionMNIST" for d in names if isinstance(d, dict)):
            path = os.path.join(CLASS_MAPS_DIR, "fashion_mnist.txt")
            return path if os.path.isfile(path) else None
    if num_classes == 1000:
        path = os.path.join(CLASS_MAPS_DIR, "imagenet1k.txt")
        return path if os.path.isfile(path) else None
    return None


def run_class_map_path(*paths, num_classes: int | None = None) -> str | None:
    """The `class_names.txt` a training run wrote, found from its weights or its config: next
    to each given path (a file or a checkpoint folder), in its folder or up to two folders up
    (`output/<model>/best/model.pdparams` -> `output/<model>/class_names.txt`); one naming
    another number of classes than `num_classes` is passed over. None when there is none."""
    for path in paths:
        if not path:
            continue
        here = os.path.abspath(os.fspath(path))
        start = here if os.path.isdir(here) else os.path.dirname(here)
        for folder in (start, os.path.dirname(start), os.path.dirname(os.path.dirname(start))):
            cand = os.path.join(folder, RUN_CLASS_MAP)
            if os.path.isfile(cand):
                try:
                    n = len(load_class_map(cand))
                except (OSError, ValueError):
                    continue
                if num_classes is None or n == num_classes:
                    return cand
    return None
