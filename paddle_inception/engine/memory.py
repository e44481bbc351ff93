"""A memory estimate before the first large allocation of a training run (issue 30 §2).

`Global.image_shape: [1, 8192, 8192]` with a batch of 128, or a batch of 60000 at 224 px, passes
the config's bounds but cannot fit in memory: without a check, the first epoch ends in a
MemoryError (or the kernel's OOM killer) after minutes of data loading. `check_training_memory`
compares a lower bound of what the run needs with what the machine has and refuses it in one
line naming the keys, before any model or loader is built.

The bound counts only the forward activations kept for the backward pass, in float32:
`batch x H x W x ACTIVATIONS_PER_PIXEL`. Measured with forward hooks on every leaf layer (batch 1,
96 and 192 px), the zoo keeps 157-221 values per input pixel (GoogLeNet, BN-Inception) to
495-619 (Inception-v4, Inception-ResNet-v2); 50 is below all of them, so the check never refuses
a run that would fit: it only catches sizes off by orders of magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MemoryEstimate",
    "available_memory",
    "estimate_training_memory",
    "check_training_memory",
]

#: float32 activations kept per input pixel and image: a lower bound for every zoo model
ACTIVATIONS_PER_PIXEL = 50


@dataclass
class MemoryEstimate:
    need_bytes: int  # lower bound of the activations one training step keeps
    available_bytes: int | None  # what this machine (or its cgroup) has free; None: unknown


def _read_int_file(path: str) -> int | None:
    try:
        with open(path, "rb") as f:  # procfs / cgroupfs files: small, never block
            text = f.read(4096).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_memory() -> int | None:
    """Bytes free for this process: MemAvailable of /proc/meminfo, lowered to the cgroup v2
    limit's headroom (memory.max - memory.current) where one is set. None where unknown."""
    found = []
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f.read(65536).decode("ascii", "replace").splitlines():
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    limit = _read_int_file("/sys/fs/cgroup/memory.max")  # 'max' (no limit) reads as None
    used = _read_int_file("/sys/fs/cgroup/memory.current")
    if limit is not None and used is not None:
        found.append(max(0, limit - used))
    return min(found) if found else None


def estimate_training_memory(image_shape, batch_size: int) -> MemoryEstimate:
    _, h, w = (int(v) for v in image_shape)
    need = int(batch_size) * h * w * ACTIVATIONS_PER_PIXEL * 4
    return MemoryEstimate(need, available_memory())


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_training_memory(cfg: dict) -> MemoryEstimate:
    """ValueError naming Global.image_shape and the Train batch size when the run cannot fit
    (see the module docstring); returns the estimate otherwise."""
    shape = (cfg.get("Global") or {}).get("image_shape") or [3, 224, 224]
    train = ((cfg.get("DataLoader") or {}).get("Train") or {}).get("sampler") or {}
    batch = int(train.get("batch_size") or 1)
    est = estimate_training_memory(shape, batch)
    if est.available_bytes is not None and est.need_bytes > est.available_bytes:
        raise ValueError(
            f"Global.image_shape {list(shape)} with DataLoader.Train.sampler.batch_size {batch}: "
            f"a training step keeps at least {_gib(est.need_bytes)} of activations, and this "
            f"machine has {_gib(est.available_bytes)} available; lower the batch size or the "
            f"image size"
        )
    return est
