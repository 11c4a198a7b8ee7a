"""Numba's kernels compiled once per machine, not once per process.

Each sweep worker compiles (or loads from numba's on-disk cache) the kernels a run calls
before its first timed step. Two workers that start together on an empty cache both compiled
all of them, about 5 CPU seconds each on the 2-core reference machine. Under
:func:`compiled_once`, the first process to need a group of kernels compiles it while the
others wait on a file lock, then load what it wrote to the cache (0.01-0.4 s).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mt2st.data.files import exclusive

F = TypeVar("F", bound=Callable[..., None])

_done: set[tuple[str, str, str]] = set()  # (module, function, repr of the arguments)


def lock_path() -> Path:
    """The lock the processes that share numba's cache take turns on: beside that cache
    (``NUMBA_CACHE_DIR``), else in mt2st's cache folder."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"]) / "mt2st-compile.lock"
    from mt2st.data.sources import cache_dir

    return cache_dir() / "numba-compile.lock"


def compiled_once(compile_fn: F) -> F:
    """``compile_fn`` (it compiles kernels by calling them on tiny inputs) run under the
    machine-wide lock the first time this process calls it with these arguments; later
    calls run it bare (each kernel is then compiled in this process, so a call costs
    microseconds)."""

    @functools.wraps(compile_fn)
    def wrapper(*args, **kwargs):
        key = (compile_fn.__module__, compile_fn.__qualname__, repr((args, sorted(kwargs.items()))))
        if key in _done:
            return compile_fn(*args, **kwargs)
        with exclusive(lock_path()):
            out = compile_fn(*args, **kwargs)
        _done.add(key)
        return out

    return wrapper  # type: ignore[return-value]
