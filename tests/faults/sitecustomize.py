"""Fault injection for the drills: Python loads this at start-up when its folder is on PYTHONPATH.

Only the ``dangan`` command's own process is touched (not the Prefect server
it starts), and only when ``DANGAN_FAULT`` says what to break:

``enospc:N``
    the embedded object store's writes fail with ENOSPC ("No space left on
    device") after N successful ones, as on a disk that fills up mid-run.
``vanish:NAME``
    just before the source named NAME is read, it is moved to the folder
    ``DANGAN_FAULT_AWAY``, as another process taking it would.
``slow-store:SECONDS``
    every store of a file first waits SECONDS (a slow object store), after
    creating the file ``DANGAN_FAULT_MARK`` to say a store has begun.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
import threading
from pathlib import Path


def _enospc_after(count: int) -> None:
    import storage.objects

    real = storage.objects.atomic_write
    lock = threading.Lock()
    done = [0]

    def failing_write(path: Path, data: bytes, *, exclusive: bool = False) -> bool:
        with lock:
            done[0] += 1
            full = done[0] > count
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data, exclusive=exclusive)

    storage.objects.atomic_write = failing_write  # type: ignore[assignment]


def _vanish(name: str) -> None:
    import ocr.load

    real = ocr.load.preflight
    away = Path(os.environ["DANGAN_FAULT_AWAY"])

    def taken_first(path: Path, *args: object, **kwargs: object) -> object:
        if Path(path).name == name and Path(path).exists():
            away.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), away / name)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    ocr.load.preflight = taken_first  # type: ignore[assignment]


def _slow_store(seconds: float) -> None:
    import time

    from storage.vault import Vault

    real = Vault.store_file
    mark = Path(os.environ["DANGAN_FAULT_MARK"])

    def slow_store_file(self: Vault, **kwargs: object) -> list[str]:
        mark.touch()
        time.sleep(seconds)
        return real(self, **kwargs)  # type: ignore[arg-type]

    Vault.store_file = slow_store_file  # type: ignore[method-assign]


def _install() -> None:
    fault = os.environ.get("DANGAN_FAULT", "")
    if not fault or Path(sys.argv[0]).name != "dangan":
        return
    kind, _, arg = fault.partition(":")
    if kind == "enospc":
        _enospc_after(int(arg))
    elif kind == "vanish":
        _vanish(arg)
    elif kind == "slow-store":
        _slow_store(float(arg))


_install()
