"""runtime.configure_cpu: what it sets, that it says so, and that each setting can be refused."""

import logging
import os
import platform
import subprocess
import sys

import pytest
from conftest import checkout_env

from paddle_inception import runtime

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's"
)

# Page faults of allocating, touching and freeing a 64 MiB numpy array 10 times (8 MiB would be
# enough for glibc's default to mmap it; 64 MiB is past its adaptive threshold for sure).
_FAULTS = """
import resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from paddle_inception.runtime import tune_malloc
    assert tune_malloc()
np.ones(8 << 20)                                    # warm: the heap grows once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    a = np.ones(8 << 20)                            # 64 MiB, every page written
    del a
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode],
        capture_output=True,
        text=True,
        check=True,
        env=checkout_env(PYTHONWARNINGS="ignore"),
        timeout=120,
    )
    return int(out.stdout.split()[-1])


@glibc
def test_tuned_malloc_reuses_freed_memory_instead_of_faulting_it_in_again():
    default, tuned = _faults("default"), _faults("tuned")
    huge_pages = 10 * (64 << 20) // (2 << 20)  # >= one fault per 2 MiB (huge) page
    assert default >= huge_pages, default  # glibc default: mmap + unmap every time
    assert tuned * 20 < default, (tuned, default)  # tuned: the freed heap is reused


@glibc
def test_configure_cpu_reports_and_logs_each_setting(caplog):
    with caplog.at_level(logging.INFO, logger="paddle_inception"):
        done = runtime.configure_cpu(num_threads=1)
    assert done["num_threads"] == 1 and "malloc" in done
    assert "PADDLE_INCEPTION_MALLOC_TUNE=0" in caplog.text
    assert runtime.tune_malloc() is True  # idempotent


def test_configure_cpu_opt_outs(monkeypatch):
    assert "malloc" not in runtime.configure_cpu(num_threads=1, malloc=False)
    monkeypatch.setenv("PADDLE_INCEPTION_MALLOC_TUNE", "0")
    monkeypatch.setenv("PADDLE_INCEPTION_MKL_FIX", "0")
    done = runtime.configure_cpu(num_threads=1)
    assert "malloc" not in done and "MKL_DEBUG_CPU_TYPE" not in done


@pytest.mark.parametrize(
    "flags,expected",
    [
        (
            "fpu sse2 avx avx2 fma avx512f avx512cd avx512bw avx512dq avx512vl avx512_bf16",
            ("7", "AVX-512"),
        ),
        ("fpu sse2 avx avx2 fma avx512f", ("5", "AVX2")),  # AVX-512 F alone: not SKX level
        ("fpu sse2 avx avx2 fma", ("5", "AVX2")),
        ("fpu sse2 avx", None),  # no path it could run: unset
    ],
)
def test_mkl_code_path_is_the_widest_the_cpu_lists(flags, expected):
    assert runtime.mkl_code_path(flags) == expected


def test_mkl_setting_is_amd_only_and_respects_the_user(monkeypatch):
    monkeypatch.delenv("MKL_DEBUG_CPU_TYPE", raising=False)
    monkeypatch.setattr(runtime, "cpu_vendor", lambda: "GenuineIntel")
    assert "MKL_DEBUG_CPU_TYPE" not in runtime.configure_cpu(num_threads=1)
    assert "MKL_DEBUG_CPU_TYPE" not in os.environ
    monkeypatch.setattr(runtime, "cpu_vendor", lambda: "AuthenticAMD")
    monkeypatch.setattr(runtime, "mkl_code_path", lambda: ("5", "AVX2"))
    assert runtime.configure_cpu(num_threads=1)["MKL_DEBUG_CPU_TYPE"] == "5"
    assert os.environ["MKL_DEBUG_CPU_TYPE"] == "5"
    monkeypatch.setenv("MKL_DEBUG_CPU_TYPE", "4")  # the user's value wins
    assert "MKL_DEBUG_CPU_TYPE" not in runtime.configure_cpu(num_threads=1)
    assert os.environ["MKL_DEBUG_CPU_TYPE"] == "4"


@pytest.mark.parametrize(
    "cores,local,expected", [(2, None, 2), (2, "2", 1), (8, "3", 2), (2, "4", 1)]
)
def test_data_parallel_ranks_share_the_cores(monkeypatch, cores, local, expected):
    """paddle.distributed.launch's ranks on one machine split its cores between them: two ranks
    with two threads each on a 2-core CPU would fight over the cores."""
    monkeypatch.setattr(runtime, "available_cpus", lambda: cores)
    if local is None:
        monkeypatch.delenv("PADDLE_LOCAL_SIZE", raising=False)
    else:
        monkeypatch.setenv("PADDLE_LOCAL_SIZE", local)
    assert runtime.threads_per_process() == expected
    assert runtime.configure_cpu(malloc=False, mkl_amd_fix=False)["num_threads"] == expected
    monkeypatch.setenv("PADDLE_LOCAL_SIZE", "two")  # not a count: no sharing assumed
    assert runtime.threads_per_process() == cores
