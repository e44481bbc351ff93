"""CPU runtime setup, done visibly (logged) by the tools and on request by library users.

Two settings dominate Paddle's eager speed on CPUs like ours (measured on a 2-core AMD EPYC):

- Paddle's CPU wheel bundles an MKL that dispatches to its slow generic code path on non-Intel
  CPUs. `MKL_DEBUG_CPU_TYPE=5` makes it use the AVX2 kernels: `paddle.matmul` 2048x2048 went
  from 43 to 118 GFLOP/s, a GoogLeNet-BN train step at 64x64 from 14 to 120 images/s. MKL reads
  the variable at its first call, so it must be set before any Paddle computation runs. It is
  set only on AMD CPUs and only when the user has not set it; results agree to float rounding.
- Eager Paddle uses one intra-op thread unless told otherwise: we set it to the CPUs available.
"""
from __future__ import annotations

import logging
import os

logger = logging.getLogger("paddle_inception")

__all__ = ["cpuinfo_field", "cpu_vendor", "configure_cpu", "available_cpus"]


def cpuinfo_field(key: str) -> str:
    """The first `key` line of /proc/cpuinfo ('vendor_id', 'model name'), or ''."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_vendor() -> str:
    """'AuthenticAMD', 'GenuineIntel', ... or '' where /proc/cpuinfo is not readable."""
    return cpuinfo_field("vendor_id")


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def configure_cpu(num_threads: int | None = None, mkl_amd_fix: bool = True) -> dict:
    """Apply the CPU settings above; returns what was set. Call before the first computation.

    Opt out of the MKL setting with `mkl_amd_fix=False` or `PADDLE_INCEPTION_MKL_FIX=0`.
    """
    done = {}
    vendor = cpu_vendor()
    wanted = mkl_amd_fix and os.environ.get("PADDLE_INCEPTION_MKL_FIX", "1") != "0"
    if wanted and vendor == "AuthenticAMD" and "MKL_DEBUG_CPU_TYPE" not in os.environ:
        os.environ["MKL_DEBUG_CPU_TYPE"] = "5"
        done["MKL_DEBUG_CPU_TYPE"] = "5"
        logger.info("AMD CPU detected: set MKL_DEBUG_CPU_TYPE=5 so Paddle's bundled MKL uses "
                    "its AVX2 kernels (opt out: PADDLE_INCEPTION_MKL_FIX=0)")
    import paddle

    if not paddle.is_compiled_with_cuda() or paddle.device.get_device() == "cpu":
        threads = num_threads or available_cpus()
        paddle.base.core.set_num_threads(int(threads))
        done["num_threads"] = int(threads)
        logger.info("Paddle CPU threads: %d", threads)
    return done
