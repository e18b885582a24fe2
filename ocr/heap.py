"""Keeping a long batch's native heap from growing: fewer malloc arenas, freed pages handed back.

Pages are decoded, cleaned and read by several threads at once (the page
workers, ONNX Runtime's and OpenCV's own). glibc gives busy threads arenas of
their own, up to eight per core, and memory freed in an arena stays with the
process; over a batch of a few hundred pages of varying size the resident set
grew by a gigabyte with nothing in use. Two arenas and a trim after each file
keep it near the working set. Elsewhere than glibc both calls do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

#: ``mallopt`` parameter number of the arena limit (glibc's malloc.h).
M_ARENA_MAX = -8
#: Arenas allowed: one for the main thread, one shared by the worker threads.
ARENAS = 2


@cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None  # not musl


@cache
def limit_arenas() -> bool:
    """Cap the process at :data:`ARENAS` malloc arenas (once per process); False where that is not glibc."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, ARENAS))


def give_back_free_memory() -> None:
    """Hand the heap's free pages back to the system (after a file is done)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
