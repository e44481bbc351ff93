"""CPU runtime setup, done visibly (logged) by the tools and on request by library users.

Three settings dominate Paddle's eager speed on CPUs (the measurements behind them, with the
CPUs they were taken on, are in docs/cpu_speed.md):

- Paddle's CPU wheel bundles an MKL that dispatches to its slow generic code path on non-Intel
  CPUs. `MKL_DEBUG_CPU_TYPE` picks the code path instead: 5 is AVX2, 7 is AVX-512 for Xeon
  (Skylake-SP level), which AMD Zen 4/5 also have. (6 is Xeon Phi's AVX-512: its sgemm runs
  too, but Paddle Inference then dies of SIGILL on an instruction only Xeon Phi has.) We pick 7
  where /proc/cpuinfo lists AVX-512 F/CD/BW/DQ/VL, else 5 where it lists AVX2 and FMA, else
  nothing (a path the CPU lacks would crash). MKL reads the variable at its first call, so it
  must be set before any Paddle computation runs. It is set only on AMD CPUs and only when the
  user has not set it; results agree to float rounding.
- Eager Paddle uses one intra-op thread unless told otherwise: we set it to the CPUs available.
- Eager Paddle allocates every op's output with plain malloc, and glibc serves blocks above
  128 KiB (up to 32 MiB, adaptively) with a fresh mmap that is unmapped again on free: every
  output is page-faulted in anew. `mallopt` (glibc only) makes malloc keep freed memory for
  reuse instead: no mmap, and up to 2 GiB of freed heap kept before trimming. It changes no
  result, only where buffers come from; peak RSS can stay higher after a large transient.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("paddle_inception.runtime")

__all__ = [
    "BF16_FLAGS",
    "cpu_flags",
    "cpuinfo_field",
    "cpu_vendor",
    "mkl_code_path",
    "configure_cpu",
    "available_cpus",
    "local_ranks",
    "threads_per_process",
    "tune_malloc",
]

# glibc mallopt parameters (malloc.h): no mmap, trim above 2 GiB, grow the heap 64 MiB at a time
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4
_MALLOC_SETTINGS = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_TOP_PAD, 64 << 20))
_malloc_tuned = False


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


#: /proc/cpuinfo flags of the instructions that compute in bfloat16 (either is enough): AVX512_BF16
#: (Xeon Cooper Lake and later, AMD Zen 4/5) and AMX-BF16 (Xeon Sapphire Rapids and later)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set | None:
    """The CPU's feature flags (Linux /proc/cpuinfo), or None where they cannot be read."""
    line = cpuinfo_field("flags")
    return set(line.split()) if line else None


def cpu_vendor() -> str:
    """'AuthenticAMD', 'GenuineIntel', ... or '' where /proc/cpuinfo is not readable."""
    return cpuinfo_field("vendor_id")


_AVX512_SKX = ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")


def mkl_code_path(flags: str | None = None) -> tuple[str, str] | None:
    """(MKL_DEBUG_CPU_TYPE value, name) of the widest MKL code path this CPU can run:
    ("7", "AVX-512") or ("5", "AVX2"); None when it has neither. `flags`: a /proc/cpuinfo
    'flags' line (default: this machine's)."""
    have = set((cpuinfo_field("flags") if flags is None else flags).split())
    if all(f in have for f in _AVX512_SKX):
        return ("7", "AVX-512")
    if {"avx2", "fma"} <= have:
        return ("5", "AVX2")
    return None


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def local_ranks() -> int:
    """Processes `paddle.distributed.launch` started on this machine (PADDLE_LOCAL_SIZE), else 1."""
    try:
        return max(1, int(os.environ.get("PADDLE_LOCAL_SIZE", "1")))
    except ValueError:
        return 1


def threads_per_process() -> int:
    """The cores available here, shared out among the local data-parallel ranks: two ranks on a
    2-core machine get one thread each, not two each (four threads fighting over two cores)."""
    return max(1, available_cpus() // local_ranks())


def tune_malloc() -> bool:
    """Make glibc keep freed memory for reuse (see the module docstring). True if applied, False
    where the C library is not glibc or refuses a setting. Idempotent."""
    global _malloc_tuned
    if _malloc_tuned:
        return True
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _malloc_tuned = all([mallopt(param, value) == 1 for param, value in _MALLOC_SETTINGS])
    return _malloc_tuned


def configure_cpu(
    num_threads: int | None = None, mkl_amd_fix: bool = True, malloc: bool = True
) -> dict:
    """Apply the CPU settings above; returns what was set. Call before the first computation.

    Opt out of the MKL setting with `mkl_amd_fix=False` or `PADDLE_INCEPTION_MKL_FIX=0`, of the
    allocator setting with `malloc=False` or `PADDLE_INCEPTION_MALLOC_TUNE=0`.
    """
    done = {}
    if malloc and os.environ.get("PADDLE_INCEPTION_MALLOC_TUNE", "1") != "0" and tune_malloc():
        done["malloc"] = "glibc: no mmap, trim above 2 GiB"
        logger.info(
            "glibc malloc set to keep freed memory for reuse: no page faults on every "
            "op output (opt out: PADDLE_INCEPTION_MALLOC_TUNE=0)"
        )
    wanted = mkl_amd_fix and os.environ.get("PADDLE_INCEPTION_MKL_FIX", "1") != "0"
    path = (
        mkl_code_path()
        if wanted and "MKL_DEBUG_CPU_TYPE" not in os.environ and cpu_vendor() == "AuthenticAMD"
        else None
    )
    if path:
        os.environ["MKL_DEBUG_CPU_TYPE"] = path[0]
        done["MKL_DEBUG_CPU_TYPE"] = path[0]
        logger.info(
            "AMD CPU detected: set MKL_DEBUG_CPU_TYPE=%s so Paddle's bundled MKL uses "
            "its %s kernels (opt out: PADDLE_INCEPTION_MKL_FIX=0)",
            *path,
        )
    import paddle

    if not paddle.is_compiled_with_cuda() or paddle.device.get_device() == "cpu":
        threads = num_threads or threads_per_process()
        paddle.base.core.set_num_threads(int(threads))
        done["num_threads"] = int(threads)
        ranks = local_ranks()
        logger.info(
            "Paddle CPU threads: %d%s",
            threads,
            f" ({available_cpus()} cores shared by {ranks} local ranks)" if ranks > 1 else "",
        )
    return done
