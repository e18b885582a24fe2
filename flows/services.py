"""The long-lived parts one run shares: OCR engine, encrypted vault, locks, and the room it needs on disk."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ocr.engine_factory import make_engine
from ocr.engines import OcrEngine
from ocr.reread import Reader
from schemas.errors import DiskFull, DiskUnwritable, IngestBusy
from schemas.models import OcrWord
from schemas.settings import Settings
from storage.objects import disk_error
from storage.vault import Vault

#: Name of the ingest lock file under DANGAN_HOME.
LOCK_FILE = "ingest.lock"
#: Free space an ingest keeps under DANGAN_HOME: Prefect's database, the index's journal and the error
#: log must always be able to finish their writes, or the run could not even report what went wrong.
DISK_RESERVE_BYTES = 32 * 1024 * 1024
_MB = 1024 * 1024


class ShaLocks:
    """One lock per content hash, so two copies of a file in one batch are stored once."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, sha256: str, *, before_waiting: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the lock of ``sha256`` for the block; ``before_waiting`` runs first when another file holds it."""
        with self._guard:
            lock = self._locks.setdefault(sha256, threading.Lock())
        if not lock.acquire(blocking=False):
            if before_waiting is not None:
                before_waiting()
            lock.acquire()
        try:
            yield
        finally:
            lock.release()


class EnginePool:
    """One OCR engine per worker (``settings.workers``), lent to one page at a time.

    The pages of every file being read share the pool, so the batch never
    runs more engines than it has, however many files and pages are under
    way; each engine uses ``cores / workers`` threads.
    """

    def __init__(self, settings: Settings) -> None:
        self._free: queue.Queue[OcrEngine] = queue.Queue()
        self.size = max(1, settings.workers)
        for _ in range(self.size):
            self._free.put(make_engine(settings.ocr_engine, settings))

    def rereaders(self) -> list[Reader]:
        """Who re-reads doubtful fields: an engine of the pool, on the field's crop."""
        def reread(crops: Sequence[np.ndarray]) -> list[OcrWord]:
            with self.borrow() as engine:
                return engine.recognize_crops(crops)
        return [reread]

    @contextmanager
    def borrow(self) -> Iterator[OcrEngine]:
        """An engine for the block, waiting until one is free."""
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


# --------------------------------------------------------------------------- one run per archive


class HomeLock:
    """The ingest lock of one archive home (``DANGAN_HOME/ingest.lock``, ``fcntl.flock``).

    One ingest runs per archive home at a time: a second one is refused at once
    with IngestBusy (exit code 11) naming the holder's pid, before it starts
    Prefect or touches a file. The kernel releases the lock when its holder
    dies, even by SIGKILL, so a killed run never blocks the next one. The file
    records the holder's pid and the ingest runs not yet closed; whoever takes
    the lock next finds there the runs of a holder that died and marks their
    records interrupted.
    """

    def __init__(self, path: Path, fd: int, open_runs: list[str]) -> None:
        self.path = path
        self._fd: int | None = fd
        self._open_runs = open_runs

    @classmethod
    def acquire(cls, home: Path) -> HomeLock:
        """Take the lock of ``home`` (created 0700) or raise IngestBusy."""
        path = home / LOCK_FILE
        try:
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise disk_error(e, home) or DiskUnwritable(
                f"Cannot create the ingest lock {path}: {e.strerror}. Check DANGAN_HOME and its permissions.") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_record(fd).get("pid")
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DiskUnwritable(f"Cannot lock {path}: {e.strerror}.") from e
            pid = f"pid {holder}" if isinstance(holder, int) else "pid unknown"
            raise IngestBusy(f"another ingest is running ({pid}) on the archive in {home}; wait until it has "
                             "finished, then run this command again.") from None
        runs = _read_record(fd).get("runs")
        lock = cls(path, fd, [r for r in runs if isinstance(r, str)] if isinstance(runs, list) else [])
        lock._write(lock._open_runs)
        return lock

    @property
    def stale_run_ids(self) -> list[str]:
        """Ingest runs an earlier holder left open (it was killed): to be marked interrupted."""
        return list(self._open_runs)

    def record(self, run_id: str | None) -> None:
        """Note the run this holder has open (None: none); call once the stale runs are closed."""
        self._open_runs = [run_id] if run_id else []
        self._write(self._open_runs)

    def _write(self, runs: list[str]) -> None:
        if self._fd is None:
            return
        data = json.dumps({"pid": os.getpid(), "runs": runs}).encode()
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
        except OSError:
            return  # the record only helps the next run; the lock itself holds

    def release(self) -> None:
        """Give the lock up (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HomeLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_record(fd: int) -> dict[str, object]:
    try:
        raw = os.pread(fd, 4096, 0)
        record = json.loads(raw) if raw.strip() else {}
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


# --------------------------------------------------------------------------- room on disk


def free_bytes(folder: Path) -> int | None:
    """Bytes available to this user on the file system of ``folder`` (None when it cannot be told)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def check_room(folder: Path, needed: int = 0) -> None:
    """DiskFull unless the disk of ``folder`` has ``needed`` bytes free beyond :data:`DISK_RESERVE_BYTES`."""
    free = free_bytes(folder)
    if free is not None and free < needed + DISK_RESERVE_BYTES:
        raise DiskFull(f"disk full under {folder}: {free // _MB} MB free, and an ingest needs "
                       f"{(needed + DISK_RESERVE_BYTES + _MB - 1) // _MB} MB. Free some space, then run the "
                       "same command again; the files wait in the drop folder.")


def disk_failure(error: BaseException, folders: Iterable[Path]) -> DiskUnwritable | None:
    """The disk error behind ``error``, if a full, over-quota or read-only disk caused it; else None.

    Looks through the chain of causes for an OSError of a full or read-only
    disk, or SQLite's "database or disk is full"; failing that, a disk of
    ``folders`` with less than the reserve free is taken as the cause. Such a
    failure never blames the file: it waits in the drop folder.
    """
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, DiskUnwritable):
            return cause
        if isinstance(cause, OSError):
            where = Path(cause.filename).parent if isinstance(cause.filename, str) else next(iter(folders), Path())
            found = disk_error(cause, where)
            if found is not None:
                return found
        if _sqlite_full(cause):
            return DiskFull(f"disk full under {next(iter(folders), Path())}: the index could not write. Free "
                            "some space, then run the same command again; the files wait in the drop folder.")
        cause = cause.__cause__ or cause.__context__
    for folder in folders:
        try:
            check_room(folder)
        except DiskFull as full:
            return full
    return None


def _sqlite_full(error: BaseException) -> bool:
    """SQLite's "database or disk is full" (its primary result code, whatever the extended one)."""
    code = getattr(error, "sqlite_errorcode", None) if isinstance(error, sqlite3.Error) else None
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_FULL
