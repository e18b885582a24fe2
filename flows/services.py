"""The long-lived parts one run shares: OCR engine, encrypted vault, locks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from ocr.engines import OcrEngine, make_engine
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


@dataclass
class Services:
    """Engine, vault and locks of one run. The engine is loaded on first use."""

    settings: Settings
    vault: Vault
    locks: ShaLocks = field(default_factory=ShaLocks)

    @cached_property
    def engine(self) -> OcrEngine:
        """The configured OCR engine (model loading is expensive: once per run)."""
        return make_engine(self.settings.ocr_engine, self.settings)


@contextmanager
def open_services(settings: Settings) -> Iterator[Services]:
    """Open the vault (index + object store + keys) for one run and close it afterwards.

    The object store is checked first, so a batch fails at once, not file by
    file, when storage is down.
    """
    vault = Vault.open(settings)
    try:
        vault.store.ready()
        services = Services(settings=settings, vault=vault)
        _ = services.engine  # load models before the threads start, not twice in parallel
        yield services
    finally:
        vault.close()
