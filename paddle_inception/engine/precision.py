"""Training precision: what the config's `AMP` section asks for, what runs, and why.

`choose_precision(amp_cfg, device)` returns a `Precision` the trainer acts on and logs as one
start-up line. The facts it weighs:

- float16 (GPU only) runs through `paddle.Model`'s own AMP with loss scaling, as PaddleClas does.
- bfloat16 keeps the master weights, the optimizer and BatchNorm's statistics in float32
  (`auto_cast` level O1: the white-listed ops - convolutions, matmuls - compute in bfloat16,
  BatchNorm and the losses stay in float32) and needs no loss scaling (bfloat16 has float32's
  exponent range). `paddle.Model` casts only to float16, so the trainer enters
  `auto_cast(dtype="bfloat16")` itself around the network's forward (`autocast_forward`).
- On the CPU, bfloat16 pays only where the CPU computes in it (AVX512_BF16 or AMX-BF16) *and*
  Paddle's dynamic mode has bfloat16 CPU kernels for the convolutions and matmuls. Paddle 3.3.1
  registers its CPU bfloat16 conv2d/matmul kernels only for the oneDNN backend, which dynamic
  mode never dispatches to (its plain CPU kernels are float32/float64): `auto_cast` would leave
  every conv in float32. So on such a Paddle the run stays in float32 and the line says why;
  a Paddle that adds the kernels gets the bfloat16 path without a change here
  (`missing_cpu_bf16_kernels` reads Paddle's kernel registry, not its version).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from ..runtime import BF16_FLAGS, cpu_flags

logger = logging.getLogger("paddle_inception.engine")

__all__ = ["Precision", "choose_precision", "missing_cpu_bf16_kernels", "autocast_forward"]

#: the ops that carry a GoogLeNet-style train step (forward and backward); bfloat16 pays
#: only if dynamic mode can run these in it
BF16_OPS = ("conv2d", "conv2d_grad", "matmul", "matmul_grad")


@dataclass(frozen=True)
class Precision:
    """What the training step computes in. `dtype`: 'float32', 'float16' or 'bfloat16';
    `level`: auto_cast level ('O0' for float32); `reason`: the start-up line's why."""

    dtype: str
    level: str
    reason: str

    @property
    def low(self) -> bool:
        return self.dtype != "float32"

    def describe(self) -> str:
        what = self.dtype if not self.low else f"{self.dtype} (auto_cast {self.level})"
        return f"precision: {what}: {self.reason}"


def missing_cpu_bf16_kernels(ops=BF16_OPS) -> list:
    """The ops among `ops` without a bfloat16 kernel that Paddle's dynamic mode runs on the
    CPU (a plain-layout CPU kernel; oneDNN-only kernels do not count)."""
    import paddle

    registry = paddle.base.core._get_all_register_op_kernels("phi")
    missing = []
    for op in ops:
        keys = registry.get(op, [])
        if not any("bfloat16" in k and "PLAIN" in k and "cpu" in k.lower() for k in keys):
            missing.append(op)
    return missing


def choose_precision(amp_cfg: dict | None, device: str, flags: set | None = None) -> Precision:
    """The precision a run with this `AMP` section trains in on `device` ('cpu' or 'gpu...')."""
    amp = amp_cfg or {}
    if not amp.get("use_amp", False):
        return Precision("float32", "O0", "AMP.use_amp is off")
    dtype = str(amp.get("dtype") or "float16")
    level = str(amp.get("level", "O1")).upper()
    if level == "O0":
        return Precision("float32", "O0", "AMP.level is O0")
    note = ""
    if dtype == "bfloat16" and level == "O2":
        # O2 would need the network cast to bfloat16 (paddle.amp.decorate) and master weights
        # kept beside it; O1 keeps the parameters float32 and casts per op
        level, note = "O1", "; AMP.level O2 asked, bfloat16 runs O1 (float32 weights)"
    if device != "cpu":
        why = "AMP.dtype bfloat16, no loss scaling" if dtype == "bfloat16" else "AMP.dtype"
        return Precision(dtype, level, f"{why} on {device}{note}")
    if dtype == "float16":
        return Precision(
            "float32", "O0", "AMP.dtype float16 needs a GPU; on the CPU use dtype: bfloat16"
        )
    flags = cpu_flags() if flags is None else flags
    if flags is not None and not any(f in flags for f in BF16_FLAGS):
        return Precision(
            "float32",
            "O0",
            "AMP.dtype bfloat16 asked, but this CPU has neither avx512_bf16 nor amx_bf16 "
            "(bfloat16 would be emulated, slower than float32)",
        )
    missing = missing_cpu_bf16_kernels()
    if missing:
        import paddle

        return Precision(
            "float32",
            "O0",
            f"AMP.dtype bfloat16 asked; Paddle {paddle.__version__} has no bfloat16 CPU kernel "
            f"for {', '.join(missing)} in dynamic mode (only oneDNN ones, which it never runs), "
            "so nothing would compute in bfloat16",
        )
    return Precision("bfloat16", level, f"AMP.dtype bfloat16; this CPU computes in it{note}")


@contextlib.contextmanager
def autocast_forward(network, precision: Precision):
    """While inside: `network`'s forward in training mode runs under `paddle.amp.auto_cast`
    with the precision's dtype and level (parameters stay float32; evaluation stays float32).
    For precisions `paddle.Model` cannot apply itself (bfloat16); a no-op otherwise."""
    if precision.dtype != "bfloat16":
        yield
        return
    import paddle

    inner = network.forward

    def forward(*args, **kwargs):
        if not network.training:  # eval in float32, as PaddleClas' AMP.use_fp16_test: False
            return inner(*args, **kwargs)
        with paddle.amp.auto_cast(level=precision.level, dtype="bfloat16"):
            out = inner(*args, **kwargs)
        # the losses and metrics take float32 (bfloat16 logits lose ~3 digits in softmax)
        if isinstance(out, (list, tuple)):
            cast = [o.astype("float32") for o in out]
            return type(out)(*cast) if hasattr(out, "_fields") else type(out)(cast)
        return out.astype("float32")

    network.forward = forward
    try:
        yield
    finally:
        del network.forward
