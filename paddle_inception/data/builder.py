"""Build a paddle.io.DataLoader from a PaddleClas-style ``DataLoader.<Mode>`` config section::

    dataset: {name: FashionMNIST | ImageNetDataset | ImageFolder, <dataset args>,
              transform_ops: [...], batch_transform_ops: [...]}
    sampler: {name: DistributedBatchSampler | BatchSampler, batch_size, drop_last, shuffle}
    loader:  {num_workers, use_shared_memory, ...}

Batches are ``[images float32 [N, C, H, W], labels]`` with labels int64 [N, 1], or float32
[N, class_num] soft labels when batch_transform_ops are given. Every error names its key path.
"""
from __future__ import annotations

import difflib
import inspect

import numpy as np
import paddle

from . import transforms as T
from .datasets import FashionMNIST, ImageFolder, ImageNetDataset

__all__ = ["build_dataloader", "dataset_from_config", "Collate", "DATASETS", "SAMPLERS"]

DATASETS = {"FashionMNIST": FashionMNIST, "ImageNetDataset": ImageNetDataset,
            "ImageFolder": ImageFolder}
SAMPLERS = ("DistributedBatchSampler", "BatchSampler")
_SECTION_KEYS = ("dataset", "sampler", "loader")
_SAMPLER_KEYS = ("name", "batch_size", "drop_last", "shuffle")
_LOADER_KEYS = ("num_workers", "use_shared_memory", "persistent_workers", "prefetch_factor",
                "timeout")


def _suggest(name, valid) -> str:
    close = difflib.get_close_matches(str(name), list(valid), 1, cutoff=0.4)
    return f" Did you mean {close[0]!r}?" if close else ""


def _check_keys(cfg: dict, valid, where: str):
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(cfg).__name__}")
    for k in cfg:
        if k not in valid:
            raise ValueError(f"{where}: unknown key {k!r}.{_suggest(k, valid)} "
                             f"Valid keys: {list(valid)}")


def _split_mode(mode: str) -> str:
    m = str(mode).lower()
    return "train" if m == "train" else "test"


def dataset_from_config(dataset_cfg: dict, mode: str = "Train", class_num: int | None = None,
                        key_path: str = "DataLoader.Train.dataset"):
    """Build the dataset of a ``dataset:`` section (``batch_transform_ops`` is ignored here).

    ``class_num`` is passed to the dataset for label validation. FashionMNIST's ``mode``
    defaults to 'train' for mode 'Train' and 'test' otherwise.
    """
    if not isinstance(dataset_cfg, dict):
        raise ValueError(f"{key_path}: expected a mapping, got {type(dataset_cfg).__name__}")
    cfg = dict(dataset_cfg)
    cfg.pop("batch_transform_ops", None)
    name = cfg.pop("name", None)
    if name not in DATASETS:
        raise ValueError(f"{key_path}.name: unknown dataset {name!r}.{_suggest(name, DATASETS)} "
                         f"Valid: {', '.join(DATASETS)}")
    cls = DATASETS[name]
    params = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self",
                                                                                  "key_path")]
    _check_keys(cfg, params + ["name", "batch_transform_ops"], key_path)
    if cls is FashionMNIST:
        cfg.setdefault("mode", _split_mode(mode))
    if class_num is not None:
        cfg.setdefault("class_num", class_num)
    try:
        return cls(**cfg, key_path=key_path)
    except TypeError as e:
        raise ValueError(f"{key_path}: {name}: {e}") from None


class Collate:
    """Stack ``(image, label)`` samples into ``[images [N,C,H,W] float32, labels]``; with
    batch ops, labels become soft ``[N, class_num]`` float32, else int64 ``[N, 1]``."""

    def __init__(self, batch_ops: T.BatchCompose | None = None):
        self.batch_ops = batch_ops

    def __call__(self, batch):
        images = np.stack([b[0] for b in batch]).astype(np.float32, copy=False)
        labels = np.asarray([b[1] for b in batch], np.int64)
        if self.batch_ops is not None:
            images, labels = self.batch_ops(images, labels)
            return [np.ascontiguousarray(images, np.float32), labels.astype(np.float32)]
        return [images, labels.reshape(-1, 1)]


class _WorkerInit:
    """Give each DataLoader worker its own transform RNG (derived from `seed` if given)."""

    def __init__(self, seed):
        self.seed = seed

    def __call__(self, worker_id):
        # Paddle seeds numpy's global state per worker (and per epoch) before this runs.
        entropy = [int(np.random.randint(0, 2 ** 31 - 1)), worker_id]
        if self.seed is not None:
            entropy.append(int(self.seed))
        T.seed_transforms(np.random.SeedSequence(entropy).generate_state(1)[0])


def build_dataloader(loader_cfg: dict, mode: str, class_num: int,
                     key_path: str | None = None, seed: int | None = None,
                     dataset=None) -> paddle.io.DataLoader:
    """A paddle.io.DataLoader for one ``DataLoader.<Mode>`` section.

    Args:
        loader_cfg: the section, ``{dataset: ..., sampler: ..., loader: ...}``.
        mode: 'Train', 'Eval' or 'Test' (FashionMNIST's default split follows it).
        class_num: the model's class count (label validation, batch ops).
        key_path: where the section sits in the YAML, for error messages
            (default ``DataLoader.<mode>``).
        seed: seeds the transforms' RNG (and the workers' RNGs derive from it).
        dataset: an already built dataset to use instead of ``loader_cfg['dataset']``.
    The DataLoader's ``dataset`` is reachable as ``loader.dataset``; call
    ``loader.batch_sampler.set_epoch(epoch)`` for a reproducible shuffle per epoch.
    """
    key_path = key_path or f"DataLoader.{mode}"
    _check_keys(loader_cfg, _SECTION_KEYS, key_path)
    if "dataset" not in loader_cfg and dataset is None:
        raise ValueError(f"{key_path}.dataset is required")
    ds_cfg = loader_cfg.get("dataset") or {}
    if dataset is None:
        dataset = dataset_from_config(ds_cfg, mode, class_num, f"{key_path}.dataset")
    batch_ops = T.create_batch_operators(ds_cfg.get("batch_transform_ops"), class_num,
                                         f"{key_path}.dataset.batch_transform_ops")

    s_cfg = dict(loader_cfg.get("sampler") or {})
    _check_keys(s_cfg, _SAMPLER_KEYS, f"{key_path}.sampler")
    s_name = s_cfg.pop("name", "DistributedBatchSampler")
    if s_name not in SAMPLERS:
        raise ValueError(f"{key_path}.sampler.name: unknown sampler {s_name!r}."
                         f"{_suggest(s_name, SAMPLERS)} Valid: {', '.join(SAMPLERS)}")
    batch_size = s_cfg.get("batch_size")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ValueError(f"{key_path}.sampler.batch_size: expected a positive int, "
                         f"got {batch_size!r}")
    for flag in ("shuffle", "drop_last"):
        if not isinstance(s_cfg.get(flag, False), bool):
            raise ValueError(f"{key_path}.sampler.{flag}: expected true/false, "
                             f"got {s_cfg[flag]!r}")
    shuffle = s_cfg.get("shuffle", str(mode).lower() == "train")
    drop_last = s_cfg.get("drop_last", False)
    if s_name == "DistributedBatchSampler":
        sampler = paddle.io.DistributedBatchSampler(dataset, batch_size=batch_size,
                                                    shuffle=shuffle, drop_last=drop_last)
    else:
        sampler = paddle.io.BatchSampler(dataset, batch_size=batch_size, shuffle=shuffle,
                                         drop_last=drop_last)

    l_cfg = dict(loader_cfg.get("loader") or {})
    _check_keys(l_cfg, _LOADER_KEYS, f"{key_path}.loader")
    num_workers = l_cfg.pop("num_workers", 0)
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
        raise ValueError(f"{key_path}.loader.num_workers: expected an int >= 0, "
                         f"got {num_workers!r}")
    if seed is not None:
        T.seed_transforms(seed)
    return paddle.io.DataLoader(dataset, batch_sampler=sampler, collate_fn=Collate(batch_ops),
                                num_workers=num_workers,
                                use_shared_memory=bool(l_cfg.pop("use_shared_memory", True)),
                                worker_init_fn=_WorkerInit(seed) if num_workers else None,
                                **l_cfg)
