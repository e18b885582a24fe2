"""The native heap of a long batch: arenas capped, free pages handed back after each file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ocr import heap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc tuning is Linux-only")
def test_arenas_are_capped_and_free_memory_goes_back() -> None:
    """Memory freed between blocks still in use stays with the process until the trim hands it back."""
    code = r"""
import threading, sys
from ocr import heap
assert heap.limit_arenas()
def rss_kb():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
kept = []
def churn():
    # blocks below the mmap threshold live in the arenas; every other one stays in use,
    # so the freed ones are holes that only a trim hands back
    blocks = [bytearray(64_000) for _ in range(600)]
    kept.append(blocks[::2])
    del blocks
threads = [threading.Thread(target=churn) for _ in range(6)]
[t.start() for t in threads]; [t.join() for t in threads]
before = rss_kb()
heap.give_back_free_memory()
after = rss_kb()
print(before, after)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1])).stdout.split()
    before, after = int(out[0]), int(out[1])
    assert after < before - 20_000, (before, after)  # of 6 x 300 freed blocks of 64 kB, more than 20 MB back


def test_without_glibc_both_calls_do_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_libc", lambda: None)
    heap.limit_arenas.cache_clear()
    try:
        assert heap.limit_arenas() is False
        heap.give_back_free_memory()
    finally:
        heap.limit_arenas.cache_clear()
