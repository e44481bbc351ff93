"""Build a paddle.io.DataLoader from a PaddleClas-style ``DataLoader.<Mode>`` config section::

    dataset: {name: FashionMNIST | ImageNetDataset | ImageFolder, <dataset args>,
              transform_ops: [...], batch_transform_ops: [...]}
    sampler: {name: DistributedBatchSampler | BatchSampler, batch_size, drop_last, shuffle}
    loader:  {num_workers, use_shared_memory, ...}

Batches are ``[images float32 [N, C, H, W], labels]`` with labels int64 [N, 1], or float32
[N, class_num] soft labels when batch_transform_ops are given. Every error names its key path.
"""

from __future__ import annotations

import inspect

import numpy as np
import paddle

from .._util import did_you_mean
from ..config import check_section
from . import transforms as T
from .datasets import BadImageError, FashionMNIST, ImageFolder, ImageNetDataset

__all__ = [
    "build_dataloader",
    "dataset_from_config",
    "Collate",
    "DataLoader",
    "SampleError",
    "DATASETS",
]

DATASETS = {
    "FashionMNIST": FashionMNIST,
    "ImageNetDataset": ImageNetDataset,
    "ImageFolder": ImageFolder,
}


def _check_keys(cfg: dict, valid, where: str):
    for k in cfg:
        if k not in valid:
            raise ValueError(
                f"{where}: unknown key {k!r}{did_you_mean(k, valid)}; "
                f"valid keys: {', '.join(valid)}"
            )


def _split_mode(mode: str) -> str:
    m = str(mode).lower()
    return "train" if m == "train" else "test"


def dataset_from_config(
    dataset_cfg: dict,
    mode: str = "Train",
    class_num: int | None = None,
    key_path: str = "DataLoader.Train.dataset",
):
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
        raise ValueError(
            f"{key_path}.name: unknown dataset {name!r}"
            f"{did_you_mean(name, DATASETS, cutoff=0.4)}; valid: "
            f"{', '.join(DATASETS)}"
        )
    cls = DATASETS[name]
    params = [
        p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "key_path")
    ]
    _check_keys(cfg, params + ["name", "batch_transform_ops"], key_path)
    if cls is FashionMNIST:
        cfg.setdefault("mode", _split_mode(mode))
    if cls is ImageFolder and cfg.get("val_split"):
        # one folder, two halves: the Train loader takes the rest, the Eval one the held-out part
        cfg.setdefault("subset", "train" if _split_mode(mode) == "train" else "val")
    if class_num is not None:
        cfg.setdefault("class_num", class_num)
    try:
        return cls(**cfg, key_path=key_path)
    except TypeError as e:
        raise ValueError(f"{key_path}: {name}: {e}") from None


class Collate:
    """Stack ``(image, label)`` samples into ``[images [N,C,H,W] float32, labels]``; with
    batch ops, labels become soft ``[N, class_num]`` float32, else int64 ``[N, 1]``. Images of
    different shapes are a ValueError naming `key_path` and the shapes."""

    def __init__(self, batch_ops: T.BatchCompose | None = None, key_path: str = "DataLoader"):
        self.batch_ops = batch_ops
        self.key_path = key_path

    def __call__(self, batch):
        shapes = {np.shape(b[0]) for b in batch}
        if len(shapes) > 1:
            a, b = sorted(shapes)[:2]
            raise ValueError(
                f"{self.key_path}: cannot batch images of different shapes {a} and {b}; give "
                f"the dataset's transform_ops a ResizeImage / CropImage to one size"
            )
        images = np.stack([b[0] for b in batch]).astype(np.float32, copy=False)
        labels = np.asarray([b[1] for b in batch], np.int64)
        if self.batch_ops is not None:
            images, labels = self.batch_ops(images, labels)
            return [np.ascontiguousarray(images, np.float32), labels.astype(np.float32)]
        return [images, labels.reshape(-1, 1)]


class SampleError(ValueError):
    """A sample could not be loaded in a DataLoader worker (the message is the worker's error:
    the file, and the list line where known)."""


_FAILED_MARK = -(2**62)  # the label slot of a failure record (never a class id)
_MAX_MESSAGE = 4000


class _SampleFailed:
    """What `_GuardedDataset` returns instead of raising: the error's type and message."""

    __slots__ = ("kind", "message")

    def __init__(self, kind: str, message: str):
        self.kind, self.message = kind, message

    def as_batch(self) -> list:
        """A batch that crosses Paddle's worker queues like any other: the message as uint8
        bytes where the images go, a marker where the labels go."""
        text = f"{self.kind}\n{self.message}".encode("utf-8", "replace")[:_MAX_MESSAGE]
        return [np.frombuffer(text, np.uint8).copy(), np.full((1,), _FAILED_MARK, np.int64)]


def _failure_in(batch):
    """(kind, message) if `batch` is a failure record from `_SampleFailed.as_batch`, else None."""
    if not (isinstance(batch, (list, tuple)) and len(batch) == 2):
        return None
    data, mark = batch
    if getattr(data, "ndim", None) != 1 or tuple(getattr(mark, "shape", ())) != (1,):
        return None
    if data.dtype != paddle.uint8 or int(mark.numpy()[0]) != _FAILED_MARK:
        return None
    kind, _, message = bytes(data.numpy()).decode("utf-8", "replace").partition("\n")
    return kind, message


class _GuardedCollate:
    """Inside DataLoader workers: the batch of a failed sample, or of a collate function that
    raises, becomes a failure record (`_SampleFailed.as_batch`)."""

    def __init__(self, collate_fn, key_path: str):
        self.collate_fn, self.key_path = collate_fn, key_path

    def __call__(self, batch):
        for b in batch:
            if isinstance(b, _SampleFailed):
                return b.as_batch()
        try:
            return self.collate_fn(batch)
        except Exception as e:  # noqa: BLE001 - reported by the main process
            kind, text = type(e).__name__, str(e)
            if not text.startswith(self.key_path):
                text = f"{self.key_path}: making a batch: {kind}: {text}"
            return _SampleFailed(kind, text).as_batch()


class _GuardedDataset(paddle.io.Dataset):
    """Inside DataLoader workers: a sample that raises becomes a `_SampleFailed` record, so the
    error travels to the main process as data and is raised there (see `DataLoader`)."""

    def __init__(self, dataset, key_path: str):
        super().__init__()
        self.dataset, self.key_path = dataset, key_path

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, idx):
        try:
            return self.dataset[idx]
        except Exception as e:  # noqa: BLE001 - reported by the main process, naming the sample
            kind = type(e).__name__
            if kind == "BadImageError":  # its message already names the file and list line
                return _SampleFailed(kind, str(e))
            return _SampleFailed(kind, f"{self.key_path}: sample {idx}: {kind}: {e}")


class DataLoader(paddle.io.DataLoader):
    """paddle.io.DataLoader that never hangs on a sample that raises.

    Paddle's single-process loader (``num_workers=0``) reads in a helper thread; when a sample
    raises (a missing or corrupt image) that thread dies without waking the consumer, and
    training hangs forever with no message. Here batches are read in the calling thread
    instead, so the exception reaches the caller as it was raised. With workers, a failing
    sample comes back as a failure record (`_GuardedDataset`) and its error is raised in the
    main process (`BadImageError`, else `SampleError`), where Paddle's own worker error
    handling leaves the main thread a bare SystemError and the process unable to exit.
    `loader.dataset` is the dataset given, as with paddle.io.DataLoader."""

    key_path = "DataLoader"

    def __iter__(self):
        if self.batch_sampler is None or self.collate_fn is None:
            return super().__iter__()  # (build_dataloader always gives both)
        if self.num_workers == 0:
            return self._iter_in_this_thread()
        return self._iter_workers()

    def _iter_in_this_thread(self):
        for indices in self.batch_sampler:
            batch = self.collate_fn([self.dataset[i] for i in indices])
            yield [paddle.to_tensor(x) for x in batch]

    def _iter_workers(self):
        # Paddle's iterator reads `self.dataset` and `self.collate_fn` when it starts the
        # workers: give it the guarded versions for that moment only.
        dataset, collate_fn = self.dataset, self.collate_fn
        self.dataset = _GuardedDataset(dataset, self.key_path)
        self.collate_fn = _GuardedCollate(collate_fn, self.key_path)
        try:
            it = super().__iter__()
        finally:
            self.dataset, self.collate_fn = dataset, collate_fn
        for batch in it:
            failed = _failure_in(batch)
            if failed is not None:
                # raising ends this generator, which releases Paddle's iterator: that stops
                # its workers (the process exits normally)
                kind, message = failed
                if kind == "BadImageError":
                    raise BadImageError(message)
                raise SampleError(message)
            yield batch


class _WorkerInit:
    """Give each DataLoader worker its own transform RNG (derived from `seed` if given)."""

    def __init__(self, seed):
        self.seed = seed

    def __call__(self, worker_id):
        # Paddle seeds numpy's global state per worker (and per epoch) before this runs.
        entropy = [int(np.random.randint(0, 2**31 - 1)), worker_id]
        if self.seed is not None:
            entropy.append(int(self.seed))
        T.seed_transforms(np.random.SeedSequence(entropy).generate_state(1)[0])


def build_dataloader(
    loader_cfg: dict,
    mode: str,
    class_num: int,
    key_path: str | None = None,
    seed: int | None = None,
    dataset=None,
) -> paddle.io.DataLoader:
    """A paddle.io.DataLoader (our `DataLoader` subclass) for one ``DataLoader.<Mode>`` section.

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
    section = "DataLoader.Train" if str(mode).lower() == "train" else "DataLoader.Eval"
    if dataset is not None:
        loader_cfg = dict(loader_cfg, dataset=loader_cfg.get("dataset") or {"name": "given"})
    # the schema is the one source of the section's keys, types and defaults
    loader_cfg = check_section(section, loader_cfg, key_path)
    ds_cfg = loader_cfg["dataset"]
    if dataset is None:
        dataset = dataset_from_config(ds_cfg, mode, class_num, f"{key_path}.dataset")
    batch_ops = T.create_batch_operators(
        ds_cfg.get("batch_transform_ops"), class_num, f"{key_path}.dataset.batch_transform_ops"
    )

    s_cfg = loader_cfg["sampler"]
    sampler_cls = getattr(paddle.io, s_cfg["name"])
    sampler = sampler_cls(
        dataset,
        batch_size=s_cfg["batch_size"],
        shuffle=s_cfg["shuffle"],
        drop_last=s_cfg["drop_last"],
    )
    l_cfg = dict(loader_cfg["loader"])
    num_workers = l_cfg.pop("num_workers")
    if seed is not None:
        T.seed_transforms(seed)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=Collate(batch_ops, key_path),
        num_workers=num_workers,
        worker_init_fn=_WorkerInit(seed) if num_workers else None,
        **l_cfg,
    )
    loader.key_path = key_path
    return loader
