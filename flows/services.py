"""The long-lived parts one run shares: OCR engine, encrypted vault, locks."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ocr.engine_factory import make_engine
from ocr.engines import OcrEngine
from ocr.reread import Reader
from schemas.settings import Settings
from storage.vault import Vault


class ShaLocks:
    """One lock per content hash, so two copies of a file in one batch are stored once."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, sha256: str) -> Iterator[None]:
        """Hold the lock of ``sha256`` for the block."""
        with self._guard:
            lock = self._locks.setdefault(sha256, threading.Lock())
        with lock:
            yield


class EnginePool:
    """One OCR engine per worker: an engine serves one page at a time, workers never wait on each other."""

    def __init__(self, settings: Settings) -> None:
        self._free: queue.Queue[OcrEngine] = queue.Queue()
        for _ in range(max(1, settings.workers)):
            self._free.put(make_engine(settings.ocr_engine, settings))

    def rereaders(self, engine: OcrEngine) -> list[Reader]:
        """Who re-reads doubtful fields for a worker holding ``engine``: the engine itself, on the field's crop."""
        return [engine.recognize_crops]

    @contextmanager
    def engine(self) -> Iterator[OcrEngine]:
        """Borrow an engine for the block."""
        engine = self._free.get()
        try:
            yield engine
        finally:
            self._free.put(engine)


@dataclass
class Services:
    """Engines, vault and locks of one run."""

    settings: Settings
    vault: Vault
    engines: EnginePool
    locks: ShaLocks = field(default_factory=ShaLocks)


@contextmanager
def open_services(settings: Settings) -> Iterator[Services]:
    """Open the vault (index + object store + keys) for one run and close it afterwards.

    The object store is checked first, so a batch fails at once, not file by
    file, when storage is down.
    """
    vault = Vault.open(settings)
    try:
        vault.store.ready()
        yield Services(settings=settings, vault=vault, engines=EnginePool(settings))
    finally:
        vault.close()
