"""``dangan watch``: ingest drop folders continuously, one batch of settled files at a time.

How a file goes from a scanner to the archive:

1. **Seen.** Every ``--interval`` seconds (``DANGAN_WATCH_INTERVAL``, 10 s)
   the watched folders are listed with the drop-folder rules
   (:func:`storage.dropfolder.discover`: hidden and partial names, ``done/``,
   ``quarantine/`` and links inside the folder are skipped). Where the file
   system gives file events (inotify on a local disk), a change wakes the
   watcher at once. Network shares (NFS, SMB/CIFS, sshfs ...) give no events
   for files written by another machine, so their folders are only listed:
   that is chosen per folder from the kind of file system it is on, and
   ``--poll`` (``DANGAN_WATCH_POLL``) lists every folder. A folder whose events
   cannot be had (the inotify watch limit) falls back to listing, with a line
   in the log. Events are never the only source: what a listing finds counts.
2. **Settled.** A file is taken only once its size, times and inode have
   stayed the same for ``DANGAN_SETTLE_SECONDS``, timed by this process from
   when it first saw the file (clocks of other machines never matter). With
   file events, a file written to and not yet closed by its writer waits
   longer still, however long the writer pauses (up to
   :data:`WRITER_PAUSE_LIMIT`, in case the closing event was lost). Preflight
   checks again, and the store checks that the bytes it seals are the bytes
   it read.
3. **Batched.** Files arriving together go in one batch: a batch starts when
   every file seen has settled, or when the first settled file has waited
   ``DANGAN_WATCH_BATCH_SECONDS`` (30 s) for a stream that does not stop.
4. **Ingested.** The batch runs the ordinary ingest
   (:func:`flows.runner.run_ingest`) over its files, each named as
   ``FOLDER/./PATH/BELOW`` (:attr:`storage.dropfolder.DropItem.argument`), so
   that, as if their folders had been given to ``dangan ingest``, they move to
   ``done/`` or ``quarantine/`` beside their watched folder and their path
   below it names their unit.
   One batch at a time. When another ingest holds the archive (exit code 11
   for ``dangan ingest``), the watcher waits and tries again. A file the
   batch left in place (the object store was down ...) is tried again later,
   after a pause that grows with each failure. One line is logged per batch.
5. **Stopped.** Ctrl-C or SIGTERM stops the batch in progress the way
   ``dangan ingest`` stops (the files being stored finish; the others stay in
   the folder), then the watcher exits with 130. A second signal exits at once.

Without ``PREFECT_API_URL`` or a warm worker (``dangan worker``, to which
the ingest hands its batches), the watcher starts one temporary Prefect
server for its batches, keeps it while batches come, and stops it after
:data:`SERVER_IDLE_SECONDS` without one. It keeps its state in
``DANGAN_HOME/prefect-watch``, apart from the server a ``dangan ingest`` run
starts, so the two never share a database.

Nothing here imports Prefect or watchdog at module level.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from schemas.errors import (
    ConfigError,
    DanganError,
    ExitCode,
    IngestBusy,
    IntegrityError,
    OrchestrationError,
    UnexpectedError,
)
from schemas.settings import Settings
from storage.dropfolder import DropItem, discover
from storage.names import safe_name

if TYPE_CHECKING:
    from flows.context import RunControl
    from flows.runner import PrefectServer
    from flows.summary import IngestSummary

#: A file written to and not closed waits at most this long after its last change (a lost closing event).
WRITER_PAUSE_LIMIT = 120.0
#: Pauses before a file left in place by a batch is tried again: doubled after each failure up to the last.
RETRY_DELAYS = (30.0, 60.0, 120.0, 300.0, 900.0)
#: Pauses before a batch refused because another ingest holds the archive is tried again.
BUSY_DELAYS = (5.0, 10.0, 20.0, 30.0, 60.0)
#: The watcher's own Prefect server is stopped after this long without a batch.
SERVER_IDLE_SECONDS = 600.0
#: After a stop, how long the batch may take to return once its stores have settled (OCR under way is abandoned).
STOP_GRACE_SECONDS = 5.0
#: File systems that give no file events for changes made by other machines: their folders are listed.
NETWORK_FILE_SYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "coda", "9p", "ceph", "glusterfs", "lustre", "gpfs",
    "beegfs", "ocfs2", "davfs", "vboxsf", "vmhgfs", "fuse.sshfs", "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse",
    "fuse.davfs2", "fuse.smbnetfs", "fuse.glusterfs", "fuse.cephfs", "fuse.vmhgfs-fuse",
})

Signature = tuple[int, int, int, int]
"""What identifies one state of a file: size, modification and change time (ns), inode."""

Clock = Callable[[], float]


# =========================================================================== which files have settled


@dataclass
class Tracked:
    """A file the watcher has seen in a drop folder."""

    item: DropItem
    signature: Signature
    #: Monotonic time the signature was last seen to change (or the file was first seen).
    changed_at: float
    #: Monotonic time of the last listing that saw the file (with this signature).
    checked_at: float = 0.0
    #: A file event said it was written to and not yet closed.
    writing: bool = False
    #: Left in place by a batch: not tried again before this monotonic time.
    not_before: float = 0.0
    failures: int = 0


@dataclass
class FolderState:
    """The files in the watched folders and which have settled. Plain logic: the clock is given."""

    roots: list[Path]
    settle_seconds: float
    clock: Clock = time.monotonic
    files: dict[str, Tracked] = field(default_factory=dict)
    #: Files handed to the batch now running: never handed out twice.
    in_batch: set[str] = field(default_factory=set)

    def scan(self) -> None:
        """List the folders again: new files are tracked, changed ones start settling anew, gone ones forgotten."""
        now = self.clock()
        seen: dict[str, Tracked] = {}
        for item in discover(self.roots):
            key = str(item.path)
            signature = _signature(item.path)
            if signature is None:
                continue
            known = self.files.get(key)
            if known is None:
                known = Tracked(item, signature, now)
            elif known.signature != signature:
                known.signature, known.changed_at = signature, now
                known.not_before = 0.0  # changed by someone: worth a new try once settled
            known.checked_at = now
            seen[key] = known
        self.files = seen

    def note_event(self, path: str, *, writing: bool | None) -> None:
        """A file event: ``writing`` True after a write, False once its writer closed it, None otherwise."""
        tracked = self.files.get(path)
        if tracked is None:
            return  # the next listing finds it (events only say when to look)
        if writing is not None:
            tracked.writing = writing
        if writing:
            tracked.changed_at = self.clock()

    def is_settled(self, tracked: Tracked, now: float) -> bool:
        """Seen unchanged for the settle time, closed by its writer (or silent for WRITER_PAUSE_LIMIT), not held back.

        "Seen": a listing at least the settle time after the change found the
        same signature; the time passing alone is not enough (a change between
        listings would go unnoticed).
        """
        return tracked.checked_at - tracked.changed_at >= self._quiet_needed(tracked) and now >= tracked.not_before

    def _quiet_needed(self, tracked: Tracked) -> float:
        return max(WRITER_PAUSE_LIMIT, self.settle_seconds) if tracked.writing else self.settle_seconds

    def due_for_a_look(self) -> bool:
        """True when a file may have settled since the last listing: list again to make sure."""
        now = self.clock()
        for key, t in self.files.items():
            needed = self._quiet_needed(t)
            if key not in self.in_batch and now >= t.not_before and now - t.changed_at >= needed \
                    and t.checked_at - t.changed_at < needed:
                return True
        return False

    def settled(self) -> list[Tracked]:
        """Files ready for a batch, in listing order."""
        now = self.clock()
        return [t for k, t in self.files.items() if k not in self.in_batch and self.is_settled(t, now)]

    def settling(self) -> list[Tracked]:
        """Files still changing or waiting for the settle time (not those held back after a failure)."""
        now = self.clock()
        return [t for k, t in self.files.items()
                if k not in self.in_batch and now >= t.not_before and not self.is_settled(t, now)]

    def next_batch(self, batch_seconds: float, *, force: bool = False) -> list[DropItem]:
        """The files of the batch to start now: none until every file has settled or the first waited long enough.

        ``force`` takes whatever has settled (``--once`` when its wait is over).
        """
        ready = self.settled()
        if not ready:
            return []
        waited = self.clock() - min(t.changed_at + self.settle_seconds for t in ready)
        if force or not self.settling() or waited >= batch_seconds:
            return [t.item for t in ready]
        return []

    def next_change(self, batch_seconds: float) -> float | None:
        """The monotonic time something may become due (a file settling, a retry, a batch's wait), if any."""
        times: list[float] = []
        ready_since: list[float] = []
        now = self.clock()
        for key, t in self.files.items():
            if key in self.in_batch:
                continue
            due = max(t.changed_at + self._quiet_needed(t), t.not_before)
            if due > now:
                times.append(due)
            elif self.is_settled(t, now):
                ready_since.append(t.changed_at + self.settle_seconds)
        if ready_since:
            times.append(min(ready_since) + batch_seconds)
        return min(times) if times else None

    def hand_out(self, items: Sequence[DropItem]) -> None:
        """These files go to the batch starting now."""
        self.in_batch = {str(i.path) for i in items}

    def batch_done(self, items: Sequence[DropItem], *, failed: bool) -> int:
        """The batch ended: files it left in place wait before another try. Returns how many were left."""
        self.in_batch = set()
        now, left = self.clock(), 0
        for item in items:
            tracked = self.files.get(str(item.path))
            if tracked is None or _signature(item.path) is None:
                self.files.pop(str(item.path), None)
                continue
            left += 1
            if failed:
                tracked.failures += 1
                tracked.not_before = now + RETRY_DELAYS[min(tracked.failures, len(RETRY_DELAYS)) - 1]
        return left


def _signature(path: Path) -> Signature | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


# =========================================================================== file events


def file_system_type(path: Path, *, mountinfo: Path = Path("/proc/self/mountinfo")) -> str | None:
    """The kind of file system ``path`` is on (``ext4``, ``nfs4``, ``cifs`` ...), from /proc; None elsewhere."""
    try:
        real = os.path.realpath(path)
        with open(mountinfo, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    best, best_type = "", None
    for line in lines:
        head, sep, tail = line.partition(" - ")
        fields = head.split()
        if not sep or len(fields) < 5 or not tail.split():
            continue
        mount = _unescape_mount(fields[4])
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, best_type = mount, tail.split()[0]
    return best_type


def _unescape_mount(text: str) -> str:
    """Mount points in /proc escape space, tab, newline and backslash as octal (backslash, three digits)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        text = text.replace(code, char)
    return text


def events_unreliable(path: Path) -> str | None:
    """The file system's name when it gives no events for changes made elsewhere (a network share), else None."""
    kind = file_system_type(path)
    return kind if kind in NETWORK_FILE_SYSTEMS else None


class FileEvents:
    """File events of the watched folders (watchdog: inotify on Linux), queued for the watcher's loop."""

    def __init__(self, wake: threading.Event) -> None:
        self._wake = wake
        self._lock = threading.Lock()
        self._queue: list[tuple[str, bool | None]] = []
        self._observer: Any = None

    def start(self, roots: Sequence[Path]) -> dict[Path, str]:
        """Watch ``roots`` recursively; returns the roots that could not be watched, with the reason."""
        from watchdog.events import (
            DirCreatedEvent,
            DirDeletedEvent,
            DirMovedEvent,
            FileAttribEvent,
            FileClosedEvent,
            FileCreatedEvent,
            FileDeletedEvent,
            FileModifiedEvent,
            FileMovedEvent,
            FileSystemEventHandler,
        )
        from watchdog.observers import Observer

        events = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                writing: bool | None = None
                if isinstance(event, FileModifiedEvent):
                    writing = True
                elif isinstance(event, FileClosedEvent | FileMovedEvent):
                    writing = False
                path = getattr(event, "dest_path", "") or event.src_path
                events.put(os.fsdecode(path), None if event.is_directory else writing)

        wanted = [FileCreatedEvent, FileModifiedEvent, FileAttribEvent, FileClosedEvent, FileMovedEvent,
                  FileDeletedEvent, DirCreatedEvent, DirMovedEvent, DirDeletedEvent]
        failed: dict[Path, str] = {}
        try:
            observer = Observer()
            observer.start()
        except OSError as e:
            return {root: _event_failure(e) for root in roots}
        for root in roots:
            try:
                observer.schedule(Handler(), str(root), recursive=True, event_filter=wanted)
            except OSError as e:
                failed[root] = _event_failure(e)
        self._observer = observer
        return failed

    def put(self, path: str, writing: bool | None) -> None:
        """Queue one event and wake the watcher (called from the observer's thread)."""
        with self._lock:
            self._queue.append((path, writing))
        self._wake.set()

    def drain(self) -> list[tuple[str, bool | None]]:
        """The events since the last call, oldest first."""
        with self._lock:
            queued, self._queue = self._queue, []
        return queued

    def stop(self) -> None:
        """Stop the observer thread."""
        if self._observer is None:
            return
        log = logging.getLogger("watchdog")
        level = log.level
        log.setLevel(logging.CRITICAL)  # stopping races its emitter threads, which then log a harmless error
        try:
            with contextlib.suppress(Exception):
                self._observer.stop()
                self._observer.join(timeout=5)
        finally:
            log.setLevel(level)
            self._observer = None


def _event_failure(error: OSError) -> str:
    if error.errno == 28:  # ENOSPC from inotify_add_watch: the per-user watch limit
        return "the inotify watch limit is reached (raise fs.inotify.max_user_watches)"
    return f"file events are not available ({error.strerror or type(error).__name__})"


# =========================================================================== Prefect for the batches


class PrefectForBatches:
    """Prefect's API for the batches: a configured server as it is, or one temporary server kept between batches.

    The server is launched from the main thread (it dies with the thread that
    started it) and waited for by the batch, which talks to it.
    """

    def __init__(self, settings: Settings) -> None:
        self.archive_home = settings.home
        self.home = settings.home / "prefect-watch"
        self.server: PrefectServer | None = None
        self.last_used = time.monotonic()
        self._configured: bool | None = None

    def configured(self) -> bool:
        """True when ``PREFECT_API_URL`` names a server (then nothing is started)."""
        if self._configured is None:
            from prefect.settings import get_current_settings

            self._configured = bool(get_current_settings().api.url)
        return self._configured

    def launch(self) -> None:
        """Start the temporary server unless one runs or a server is configured (call from the main thread)."""
        self.last_used = time.monotonic()
        if self.server is not None or _warm_worker_runs(self.archive_home) or self.configured():
            return
        from prefect.settings import get_current_settings, temporary_settings

        from flows.process import quiet_loggers
        from flows.runner import PrefectServer

        quiet_loggers()
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        defaults = {
            "home": self.home,
            "server.database.connection_url": f"sqlite+aiosqlite:///{self.home / 'prefect.db'}",
            "server.analytics_enabled": False,
            "server.ephemeral.enabled": True,
            "server.ephemeral.startup_timeout_seconds": 90,
            "logging.to_api.enabled": False,
        }
        with temporary_settings(set_defaults=defaults):
            env = get_current_settings().to_environment_variables(exclude_unset=True)
        server = PrefectServer(self.home, env)
        server.launch()
        self.server = server

    @contextmanager
    def api(self) -> Iterator[None]:
        """Point the batch (this thread) at the server, once it answers."""
        server = self.server
        if server is None:
            yield
            return
        from prefect.settings import temporary_settings

        server.wait_ready()
        with temporary_settings(updates={"api.url": server.api_url}):
            yield

    def stop(self) -> None:
        """Stop the temporary server, if one runs."""
        server, self.server = self.server, None
        if server is not None:
            server.stop()


def _warm_worker_runs(home: Path) -> bool:
    """True when the archive's warm worker (``dangan worker``) runs: the ingest hands batches to it."""
    try:
        from flows.worker_client import find_worker
    except ImportError:
        return False
    return find_worker(home) is not None


# =========================================================================== the watcher


@dataclass
class BatchResult:
    """How one batch ended."""

    items: list[DropItem]
    seconds: float = 0.0
    summary: IngestSummary | None = None
    exit_code: ExitCode = ExitCode.OK
    #: The archive was held by another ingest: nothing was done, try again.
    busy: IngestBusy | None = None
    #: The batch failed as a whole (index, store, Prefect ...): its files wait.
    error: DanganError | None = None


#: Runs one batch: ``(paths, settings, control) -> summary``; raises like :func:`flows.runner.run_ingest`.
IngestFunction = Callable[[list[str], Settings, "RunControl"], "IngestSummary"]


def _run_ingest(paths: list[str], settings: Settings, control: RunControl) -> IngestSummary:
    from flows.runner import run_ingest

    return run_ingest(paths, settings=settings, keep=False, control=control)


class Watcher:
    """Watches drop folders and ingests their settled files in batches (see the module docstring)."""

    def __init__(self, roots: Sequence[Path], settings: Settings, *, interval: float | None = None,
                 poll: bool | None = None, once: bool = False, ingest: IngestFunction | None = None,
                 prefect: PrefectForBatches | None = None, out: Callable[[str], None] | None = None) -> None:
        self.roots = [Path(r).expanduser().absolute() for r in roots]
        self.settings = settings
        self.interval = interval if interval is not None else settings.watch_interval
        self.poll = settings.watch_poll if poll is None else poll
        self.once = once
        self.batch_seconds = settings.watch_batch_seconds
        self.folders = FolderState(self.roots, settings.settle_seconds)
        self._wake = threading.Event()
        self._events = FileEvents(self._wake)
        self._ingest = ingest or _run_ingest
        self._prefect = prefect if prefect is not None else (PrefectForBatches(settings) if ingest is None else None)
        self._out = out or _print_line
        self._stop_requested = threading.Event()
        self._stop_at: float | None = None
        self._batch: threading.Thread | None = None
        self._result: BatchResult | None = None
        self._control: RunControl | None = None
        self._busy_until = 0.0
        self._busy_failures = 0
        self._count = 0
        self._left_unsettled = 0

    # ------------------------------------------------------------------ entry

    def run(self) -> ExitCode:
        """Watch until stopped (or, with ``once``, until one batch ran); returns the exit code."""
        with self._signals():
            try:
                return self._loop()
            finally:
                self._events.stop()
                if self._prefect is not None:
                    self._prefect.stop()

    def request_stop(self) -> bool:
        """Stop after the batch in progress; False when a stop had been asked for already."""
        if self._stop_requested.is_set():
            return False
        self._stop_requested.set()
        self._stop_at = time.monotonic()
        control = self._control
        if control is not None:
            control.request_stop()
        self._wake.set()
        return True

    # ------------------------------------------------------------------ the loop

    def _loop(self) -> ExitCode:
        self._start_events()
        started = time.monotonic()
        once_deadline = started + self.folders.settle_seconds + self.batch_seconds
        next_scan = 0.0
        while True:
            now = time.monotonic()
            if self._batch is not None and not self._batch.is_alive():
                code = self._finish_batch()
                if code is not None:
                    return code
            if self._stop_requested.is_set():
                if self._batch is None:
                    self._out("stopped; files not yet ingested wait in the drop folders")
                    return ExitCode.INTERRUPTED
                self._abandon_if_stuck()
            events = self._events.drain()
            if now >= next_scan or events or self.folders.due_for_a_look():
                self.folders.scan()
                for path, writing in events:
                    self.folders.note_event(path, writing=writing)
                next_scan = now + self.interval
            if self.once and self._batch is None and self._count == 0 and not self._stop_requested.is_set():
                if not self.folders.files:
                    self._out("nothing to ingest")
                    return ExitCode.OK
            if self._batch is None and not self._stop_requested.is_set() and now >= self._busy_until:
                force = self.once and now >= once_deadline
                items = self.folders.next_batch(self.batch_seconds, force=force)
                if items:
                    if self.once:
                        self._left_unsettled = len(self.folders.settling())
                    self._start_batch(items)
                elif force:
                    self._out(f"{len(self.folders.files)} file(s) still being written; nothing ingested")
                    return ExitCode.INCOMPLETE
            self._stop_idle_server(now)
            self._sleep(now, next_scan, once_deadline)

    def _sleep(self, now: float, next_scan: float, once_deadline: float) -> None:
        wakes = [next_scan]
        change = self.folders.next_change(self.batch_seconds)
        if change is not None:
            wakes.append(change)
        if self._busy_until > now:
            wakes.append(self._busy_until)
        if self.once:
            wakes.append(once_deadline)
        if self._batch is not None or self._stop_requested.is_set():
            wakes.append(now + 0.5)
        # what was due has been done in this round (or waits for the batch running): sleep until the next thing
        timeout = max(0.05, min((w for w in wakes if w > now), default=now + 0.5) - now)
        if self._wake.wait(timeout):
            self._wake.clear()
            time.sleep(0.05)  # let a burst of events arrive together

    def _start_events(self) -> None:
        listed: dict[Path, str] = {}
        watched = []
        for root in self.roots:
            network = events_unreliable(root)
            if self.poll:
                listed[root] = "--poll"
            elif network:
                listed[root] = f"{network} share: no events for files written elsewhere"
            else:
                watched.append(root)
        failed = self._events.start(watched) if watched else {}
        listed.update(failed)
        for root, reason in listed.items():
            if reason != "--poll":
                self._out(f"listing {safe_name(str(root))} every {self.interval:g} s ({reason})")
        events = len(self.roots) - len(listed)
        how = (f"file events for {events}, listing every {self.interval:g} s" if events
               else f"listing every {self.interval:g} s")
        self._out(f"watching {len(self.roots)} folder(s) ({how}); a file is taken once unchanged for "
                  f"{self.folders.settle_seconds:g} s; Ctrl-C stops")

    def _stop_idle_server(self, now: float) -> None:
        prefect = self._prefect
        if prefect is not None and prefect.server is not None and self._batch is None \
                and now - prefect.last_used > SERVER_IDLE_SECONDS:
            prefect.stop()

    # ------------------------------------------------------------------ batches

    def _start_batch(self, items: list[DropItem]) -> None:
        from flows.context import RunControl

        self.folders.hand_out(items)
        self._count += 1
        control = RunControl()
        self._control = control
        self._result = None
        if self._prefect is not None:
            try:
                self._prefect.launch()
            except (OSError, DanganError) as e:
                self._result = BatchResult(items, error=e if isinstance(e, DanganError) else OrchestrationError(
                    f"the temporary Prefect server could not be started ({e})"))
        context = contextvars.copy_context()
        self._batch = threading.Thread(target=context.run, args=(self._run_batch, items, control),
                                       name="dangan-watch-batch", daemon=True)
        self._batch.start()

    def _run_batch(self, items: list[DropItem], control: RunControl) -> None:
        """The batch thread: ingest the files, note how it ended, wake the loop."""
        started = time.monotonic()
        result = self._result or BatchResult(items)
        try:
            if result.error is None:
                with self._prefect.api() if self._prefect is not None else contextlib.nullcontext():
                    summary = self._ingest([i.argument for i in items], self.settings, control)
                result.summary = summary
                result.exit_code = control.exit_code(summary)
        except IngestBusy as e:
            result.busy = e
        except DanganError as e:
            result.error = e
        except Exception as e:  # noqa: BLE001 - a bug must not end the watcher; the files wait
            from flows.errorlog import record_error

            error_id = record_error(e, self.settings.home, context="watch")
            result.error = UnexpectedError(f"internal error {error_id} ({type(e).__name__}); the files wait in the "
                                           f"drop folders")
        finally:
            result.seconds = time.monotonic() - started
            if self._prefect is not None:
                self._prefect.last_used = time.monotonic()
            self._result = result
            self._wake.set()

    def _finish_batch(self) -> ExitCode | None:
        """Log the batch that ended and decide what follows; an exit code ends the watcher."""
        result = self._result or BatchResult([])
        self._batch, self._control = None, None
        if result.busy is not None:
            self.folders.batch_done(result.items, failed=False)
            delay = BUSY_DELAYS[min(self._busy_failures, len(BUSY_DELAYS) - 1)]
            if self._busy_failures == 0:
                self._out(f"the archive is busy: {result.busy.message.split(';')[0]}; waiting, trying again "
                          f"every {delay:g} s or so")
            self._busy_failures += 1
            self._busy_until = time.monotonic() + delay
            self._count -= 1
            return None
        self._busy_failures = 0
        summary = result.summary
        failed = result.error is not None or (summary is not None and summary.count("failed") > 0)
        left = self.folders.batch_done(result.items, failed=failed and not self._stop_requested.is_set())
        self._out(batch_line(self._count, result, left))
        if result.error is not None:
            if isinstance(result.error, OrchestrationError) and self._prefect is not None:
                self._prefect.stop()  # a server that failed is started anew for the next batch
            if isinstance(result.error, ConfigError | IntegrityError):
                self._out("stopping: fix the setting or key above, then start the watcher again")
                return result.error.exit_code
            delay = RETRY_DELAYS[0]
            self._busy_until = time.monotonic() + delay
        if self._stop_requested.is_set():
            self._out("stopped; files not yet ingested wait in the drop folders")
            return ExitCode.INTERRUPTED
        if self.once:
            if result.error is not None:
                return result.error.exit_code
            if result.exit_code == ExitCode.OK and self._left_unsettled:
                return ExitCode.INCOMPLETE
            return result.exit_code
        return None

    def _abandon_if_stuck(self) -> None:
        """After a stop: once the stores under way settled, do not wait long for OCR under way; leave."""
        from flows.signals import STOP_WAIT_SECONDS, exit_now

        control, started = self._control, self._stop_at
        if control is None or started is None:
            return
        waited = time.monotonic() - started
        settled = control.wait_settled(0)
        if (not settled and waited < STOP_WAIT_SECONDS) or (settled and waited < STOP_GRACE_SECONDS):
            return  # the stores under way finish first; then the batch gets a moment to return by itself
        if settled:  # else a store hangs: its run record is left to the next run, as ``dangan ingest`` does
            for callback in control.stop_callbacks():
                with contextlib.suppress(Exception):
                    callback()
        self._out("stopped during a batch; files not yet stored wait in the drop folders")
        self._events.stop()
        exit_now(ExitCode.INTERRUPTED)

    # ------------------------------------------------------------------ signals

    @contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM stop after the batch in progress; a second one exits at once (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            if not self.request_stop():
                from flows.signals import exit_now

                exit_now(ExitCode.INTERRUPTED, "stopped at once; run the watcher again to finish")
            elif self._batch is not None:
                self._out("stopping after the files being stored (press Ctrl-C again to stop at once)")

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def batch_line(number: int, result: BatchResult, left: int) -> str:
    """The one log line of a batch: what became of its files, how long it took, how many wait."""
    files = len(result.items)
    head = f"batch {number}: {files} file(s) in {result.seconds:.0f} s"
    summary = result.summary
    if result.error is not None:
        return f"{head}: not ingested: {result.error.message}; {left} file(s) wait in the drop folders"
    if summary is None:
        return f"{head}: nothing done"
    parts = [f"{summary.count('stored')} stored ({summary.documents} document(s), "
             f"{summary.documents_to_review} to review)"]
    if summary.count("duplicate"):
        parts.append(f"{summary.count('duplicate')} already archived")
    quarantined = [f for f in summary.files if f.outcome == "quarantined"]
    if quarantined:
        codes = ", ".join(sorted({f.reason_code or "refused" for f in quarantined}))
        parts.append(f"{len(quarantined)} quarantined ({codes})")
    if summary.count("failed"):
        reasons = sorted({(f.reason or "").split(";")[0] for f in summary.files if f.outcome == "failed"})
        parts.append(f"{summary.count('failed')} left for a later try ({'; '.join(r for r in reasons if r)})")
    tail = f"; {left} file(s) wait in the drop folders" if left else ""
    return f"{head}: {', '.join(parts)}{tail}"


def _print_line(text: str) -> None:
    """One timestamped log line on standard output (one line, whatever the text holds)."""
    line = " ".join(str(text).split())
    with contextlib.suppress(OSError):
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} dangan watch: {line}", file=sys.stdout, flush=True)
