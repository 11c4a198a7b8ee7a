"""Pick numba's code-generation target before numba is imported.

On x86-64 CPUs with AVX-512, numba compiles for the host and emits 512-bit vector code; the
negative-sampling kernels ran 10-25 % faster on one thread and up to 45 % faster on two when
compiled for AVX2 instead (measured on the reference machine, an AVX-512 Xeon; see README,
Performance), which points at the clock penalty of 512-bit instructions. So, unless the user
chose a target (NUMBA_CPU_NAME / NUMBA_CPU_FEATURES) or asked for the host
(MT2ST_NUMBA_HOST_CPU=1), mt2st sets NUMBA_CPU_NAME=haswell (AVX2 + FMA) on such CPUs. It only
takes effect when mt2st is imported before numba, and it is process-wide.
"""

from __future__ import annotations

import os
import platform
import sys


def prefer_avx2() -> str | None:
    """Set NUMBA_CPU_NAME=haswell where it helps; returns the value set, or None."""
    if any(k in os.environ for k in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")):
        return None
    if os.environ.get("MT2ST_NUMBA_HOST_CPU") == "1" or "numba" in sys.modules:
        return None
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return None
    if "avx512f" in flags and "avx2" in flags and "fma" in flags:
        os.environ["NUMBA_CPU_NAME"] = "haswell"
        return "haswell"
    return None
