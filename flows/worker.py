"""The warm pipeline: ``dangan worker`` keeps Prefect and the OCR pipeline loaded, ``dangan ingest`` hands it batches.

A one-file ``dangan ingest`` on its own spends 15-20 s starting Prefect's
temporary server and a few more loading Prefect and the OCR models. A warm
worker pays that once:

* It starts (or, with ``PREFECT_API_URL``, uses) a Prefect server, loads the
  ingest flow and reads a generated page once, so the models are in memory and
  on the page cache. Then it listens on ``DANGAN_HOME/worker.sock`` (a Unix
  socket, 0600, in the 0700 home; only processes of the same user are served)
  and writes ``DANGAN_HOME/worker.json`` (0600: pid, socket, Prefect API URL).
* ``dangan ingest`` finds it through that file (the pid must be alive and the
  socket must answer from that pid), sends the paths, ``--keep`` and its own
  settings, and gets progress, the batch summary and how it ended back; it
  prints the same summary and exits with the same code as a run of its own.
  When no worker answers, it runs the batch itself as before.
* The worker runs each batch in-process through the same code path as the
  command line (:func:`flows.runner.run_ingest`): the archive lock is taken
  only while a batch runs (a second batch, the nightly deployment or a
  ``dangan ingest`` without the worker meets exit code 11), the master key and
  index are checked, and the ingest flow runs against the worker's Prefect server.
* Stops: Ctrl-C on ``dangan ingest`` asks the worker to stop that batch (the
  stores under way finish, no new file begins), and the command exits 130 as
  usual; a second Ctrl-C, or the command dying, leaves the worker to stop the
  batch alone. SIGTERM or SIGINT to the worker stops the running batch the same
  way, tells its client, removes the state file and socket, stops the Prefect
  server it started, and exits 0.

Settings travel over the socket, never as flow parameters: nothing secret is
written to Prefect's database. This module imports Prefect only inside the
worker, so the command line's side stays fast.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import select
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from flows.context import RunControl
from flows.worker_client import (
    ACCEPT_TIMEOUT,
    LOCK_FILE,
    PROTOCOL,
    SERVER_WAIT_SECONDS,
    SOCKET_FILE,
    STOP_WAIT_SECONDS,
    Channel,
    _connect,
    _peer,
    _socket_address,
    error_payload,
    find_worker,
    read_state,
    state_path,
)
from schemas.errors import (
    DanganError,
    ExitCode,
    IngestBusy,
    OrchestrationError,
    UnexpectedError,
)
from schemas.settings import Settings

# --------------------------------------------------------------------------- the worker


@dataclass(eq=False)
class _Batch:
    """One batch the worker is running, and the connection of the command that sent it."""

    channel: Channel
    control: RunControl
    client_pid: int
    finished: bool = False


class WarmWorker:
    """Serves ``dangan ingest`` batches for one archive home from a process that stays loaded."""

    def __init__(self, settings: Settings, out: TextIO) -> None:
        self.settings = settings
        self.home = settings.home
        self.out = out
        self.api_url = ""
        self._batches: set[_Batch] = set()  # guarded by _lock
        self._closing = False  # guarded by _lock: no batch is accepted once the worker is stopping
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._signals = 0
        self._cleanup: list[Callable[[], None]] = []

    # --- the life of the worker

    def run(self) -> ExitCode:
        """Start, serve until SIGTERM or SIGINT, stop cleanly; the command's exit code."""
        from flows.process import private_home
        from flows.runner import check_archive, quiet_prefect
        from flows.services import check_room

        os.umask(0o077)
        private_home(self.home)
        with self._signals_watched(), self._single_worker():
            check_room(self.home)
            check_archive(self.settings)
            started = time.monotonic()
            with quiet_prefect(self.settings) as server:
                if server is not None:
                    self._cleanup.append(server.stop)
                    self._log(f"starting Prefect's server for {self.home}")
                with server.ready() if server is not None else contextlib.nullcontext():
                    from prefect.settings import get_current_settings

                    self.api_url = str(get_current_settings().api.url)
                    if server is None:
                        self._wait_for_server()
                    if self._signalled():
                        return ExitCode.OK
                    self._warm_up()
                    if self._signalled():
                        return ExitCode.OK
                    with self._listening() as listener:
                        self._log(f"ready in {time.monotonic() - started:.1f} s: pid {os.getpid()}, archive "
                                  f"{self.home}, Prefect API {self.api_url}")
                        self._serve(listener)
        return ExitCode.OK

    def _wait_for_server(self) -> None:
        """Wait until the configured Prefect server answers; OrchestrationError when it never does.

        Systemd may start the worker and the server together, so the server may still be starting.
        """
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + SERVER_WAIT_SECONDS
        while not self._signalled():
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                with urllib.request.urlopen(f"{self.api_url.rstrip('/')}/health", timeout=5) as r:  # noqa: S310
                    if r.status == 200:
                        return
            if time.monotonic() > deadline:
                raise OrchestrationError(f"the Prefect server at {self.api_url} (PREFECT_API_URL) does not answer; "
                                         "start it, or unset PREFECT_API_URL to let the worker start its own.")
            time.sleep(1)

    def _log(self, line: str) -> None:
        stamp = datetime.now(UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        with contextlib.suppress(OSError, ValueError):
            print(f"{stamp} dangan worker: {line}", file=self.out, flush=True)

    @contextmanager
    def _single_worker(self) -> Iterator[None]:
        """Hold ``worker.lock`` for the worker's life: one warm worker per archive (else exit 11)."""
        path = self.home / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            other = read_state(self.home)
            pid = f"pid {other.pid}" if other else "pid unknown"
            raise IngestBusy(f"a warm worker already runs for the archive in {self.home} ({pid}); stop it "
                             "first (kill -TERM PID) or use it as it is.") from None
        try:
            yield
        finally:
            for path_ in (state_path(self.home), self.home / SOCKET_FILE):
                with contextlib.suppress(OSError):
                    path_.unlink()
            os.close(fd)

    @contextmanager
    def _signals_watched(self) -> Iterator[None]:
        """SIGTERM and SIGINT only wake the serving loop (through a wakeup socket); it stops the worker."""
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        from flows.signals import wake_on_signals

        with wake_on_signals(self._wake_w, _ignore_here):
            yield

    def _signalled(self) -> bool:
        """Count the signals received so far (non-blocking); True once there was one."""
        while True:
            try:
                data = self._wake_r.recv(64)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if not data:
                break
            self._signals += sum(1 for b in data if b in (signal.SIGTERM, signal.SIGINT))
        return self._signals > 0

    @contextmanager
    def _listening(self) -> Iterator[socket.socket]:
        """Listen on ``worker.sock`` and publish ``worker.json``; both are removed on the way out."""
        path = self.home / SOCKET_FILE
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by a worker that was killed; we hold the worker lock
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            with _socket_address(path) as address:
                listener.bind(address)
            os.chmod(path, 0o600)
            listener.listen(16)
            listener.setblocking(False)
            _write_private(state_path(self.home), json.dumps({
                "pid": os.getpid(), "home": str(self.home), "socket": str(path), "api_url": self.api_url,
                "started": datetime.now(UTC).isoformat(), "protocol": PROTOCOL}))
            yield listener
        finally:
            with contextlib.suppress(OSError):
                state_path(self.home).unlink()
            listener.close()
            with contextlib.suppress(OSError):
                path.unlink()

    def _serve(self, listener: socket.socket) -> None:
        """Accept batches until a signal arrives, then stop."""
        while not self._signalled():
            readable, _, _ = select.select([listener, self._wake_r], [], [])
            if listener in readable:
                with contextlib.suppress(BlockingIOError, InterruptedError):
                    conn, _ = listener.accept()
                    conn.setblocking(True)
                    threading.Thread(target=self._handle, args=(conn,), name="dangan-batch", daemon=True).start()
        listener.close()
        self._stop()

    def _stop(self) -> None:
        """Stop the running batch as a Ctrl-C would, tell its command, and leave (a second signal: at once)."""
        with self._lock:
            self._closing = True
            batches = list(self._batches)
        if not batches:
            self._log("stopped")
            return
        self._log("stopping: the running batch finishes the files being stored; no new file begins")
        for batch in batches:
            batch.control.request_stop()
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        settled = False
        while time.monotonic() < deadline and self._signals < 2:
            if all(b.control.wait_settled(0.1) for b in batches):
                settled = True
                break
            self._signalled()
        for batch in batches:
            if settled:  # else a store hangs: leave its run record to the next run, as a killed run does
                for callback in batch.control.stop_callbacks():
                    with contextlib.suppress(Exception):
                        callback()
            with contextlib.suppress(OSError):
                batch.channel.send({"event": "interrupted", "message": (
                    "interrupted: the warm worker was stopped while it ran this batch; the files not stored yet "
                    "wait in the drop folder. Run the same command again to finish the batch.")})
        self._log("stopped")
        self._leave()

    def _leave(self) -> None:
        """Exit now without waiting for the OCR under way: files, socket and server are cleaned up first."""
        from flows.signals import _children

        for path in (state_path(self.home), self.home / SOCKET_FILE):
            with contextlib.suppress(OSError):
                path.unlink()
        for step in self._cleanup:
            with contextlib.suppress(Exception):
                step()
        for pid in _children():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.out.flush()
        os._exit(ExitCode.OK)

    # --- warming up

    def _warm_up(self) -> None:
        """Load the ingest flow and Prefect's task machinery, and read one generated page with the OCR engine."""
        started = time.monotonic()
        try:
            _warm_prefect()
        except Exception as e:  # noqa: BLE001 - warming up is only an optimisation
            self._log(f"warming up Prefect failed ({type(e).__name__}); batches still run")
        except BaseException as e:
            if not _is_termination(e):  # Prefect's flow turns a SIGTERM into TerminationSignal; we stop anyway
                raise
        try:
            _warm_engine(self.settings)
        except Exception as e:  # noqa: BLE001 - the first batch meets a real engine failure itself
            self._log(f"warming up the OCR engine failed ({type(e).__name__}: {e}); batches still run")
        self._log(f"warmed up in {time.monotonic() - started:.1f} s ({self.settings.ocr_engine})")

    # --- one batch

    def _handle(self, conn: socket.socket) -> None:
        """Serve one connection: a batch (or a status question) from a process of this user."""
        channel = Channel(conn)
        try:
            pid, uid = _peer(conn)
            if uid != os.geteuid():
                return
            try:
                request = channel.receive(ACCEPT_TIMEOUT)
            except (TimeoutError, ValueError):
                return
            if request is None:
                return
            if request.get("op") == "status":
                channel.send({"event": "status", "pid": os.getpid(), "home": str(self.home),
                              "api_url": self.api_url, "busy": bool(self._batches)})
                return
            refusal, settings = self._check_request(request)
            if settings is None:
                channel.send({"event": "refused", "reason": refusal})
                return
            self._run_batch(channel, request, settings, pid)
        except OSError:
            return
        finally:
            channel.close()

    def _check_request(self, request: dict[str, Any]) -> tuple[str, Settings | None]:
        if request.get("op") != "ingest" or request.get("protocol") != PROTOCOL:
            return f"this worker speaks version {PROTOCOL}", None
        paths, keep = request.get("paths"), request.get("keep")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths) or not isinstance(keep, bool):
            return "malformed request", None
        try:
            settings = Settings.model_validate(request.get("settings") or {})
        except ValueError:
            return "settings this worker cannot read", None
        try:
            same = os.path.samefile(settings.home, self.home)
        except OSError:
            same = False
        if not same:
            return f"this worker serves the archive in {self.home}", None
        return "", settings

    def _run_batch(self, channel: Channel, request: dict[str, Any], settings: Settings, client_pid: int) -> None:
        from prefect.settings import temporary_settings

        from flows.errorlog import error_log_path, record_error
        from flows.runner import run_ingest

        batch = _Batch(channel=channel, control=RunControl(), client_pid=client_pid)
        with self._lock:
            if self._closing:
                channel.send({"event": "refused", "reason": "the worker is stopping"})
                return
            self._batches.add(batch)
        channel.send({"event": "accepted", "pid": os.getpid()})
        threading.Thread(target=self._listen, args=(batch,), name="dangan-batch-stop", daemon=True).start()
        started = time.monotonic()
        try:
            with temporary_settings(updates={"api.url": self.api_url}):
                summary = run_ingest(request["paths"], settings=settings, keep=request["keep"],
                                     reporter=_SocketReporter(batch), control=batch.control, warm=False)
            halted = batch.control.halted_by
            batch.finished = True
            counts = summary.counts()
            self._log(f"batch from pid {client_pid}: {counts['files']} file(s), {counts['stored']} stored, "
                      f"{counts['duplicate']} already archived, {counts['quarantined']} quarantined, "
                      f"{counts['failed']} failed ({time.monotonic() - started:.1f} s)")
            with contextlib.suppress(OSError):
                channel.send({"event": "done", "summary": summary.model_dump(mode="json"),
                              "halted": error_payload(halted) if halted is not None else None})
        except DanganError as e:
            batch.finished = True
            self._log(f"batch from pid {client_pid}: {e.code}")
            with contextlib.suppress(OSError):
                channel.send({"event": "error", "error": error_payload(e)})
        except Exception as e:  # noqa: BLE001 - reported to the command as its own bug report would be
            batch.finished = True
            error_id = record_error(e, settings.home, context="ingest (warm worker)")
            self._log(f"batch from pid {client_pid}: internal error {error_id}")
            error = UnexpectedError(f"internal error {error_id} ({type(e).__name__}); the details are in "
                                    f"{error_log_path(settings.home)}. Please report the error id.")
            with contextlib.suppress(OSError):
                channel.send({"event": "error", "error": error_payload(error)})
        finally:
            with self._lock:
                self._batches.discard(batch)

    def _listen(self, batch: _Batch) -> None:
        """Stop the batch when its command asks (Ctrl-C) or goes away; answer once the stores have settled."""
        try:
            message = batch.channel.receive(None)
        except (OSError, ValueError):
            message = None
        if batch.finished:
            return
        batch.control.request_stop()
        if message is not None and message.get("op") == "stop":
            batch.control.wait_settled(STOP_WAIT_SECONDS)
            with contextlib.suppress(OSError):
                batch.channel.send({"event": "stopped"})


class _SocketReporter:
    """Sends the batch's progress to its command; a command that went away stops the batch."""

    def __init__(self, batch: _Batch) -> None:
        self._batch = batch

    def start(self, total: int) -> None:
        """The batch holds ``total`` files."""
        self._send({"event": "start", "total": total})

    def advance(self, name: str) -> None:
        """One more file was handled."""
        self._send({"event": "advance", "name": name})

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self._batch.channel.send(message)
        except OSError:
            self._batch.control.request_stop()


def _ignore_here(signum: int, frame: FrameType | None) -> None:
    """Python-level handler: the serving loop learns of the signal through the wakeup socket."""


def _is_termination(error: BaseException) -> bool:
    from prefect.exceptions import TerminationSignal

    return isinstance(error, TerminationSignal)


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` (0600) atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _warm_prefect() -> None:
    """Run a tiny flow with one submitted task, so the first batch finds Prefect's client and engine loaded."""
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    import flows.ingest  # noqa: F401 - loads the ingest flow and everything it imports
    from flows.process import quiet_loggers

    quiet_loggers()  # again: loading the flow machinery set Prefect's logging up anew

    @task(name="worker-warm-up-task", persist_result=False)
    def _one() -> int:
        return 1

    runner: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(max_workers=1)

    @flow(name="dangan-worker-warm-up", persist_result=False, task_runner=runner)  # type: ignore[arg-type]
    def _warm_up() -> int:
        return int(_one.submit().result())

    _warm_up()


def _warm_engine(settings: Settings) -> None:
    """Read one generated page through the whole reading pipeline (models into memory and the page cache)."""
    from PIL import Image, ImageDraw

    from ocr.engine_factory import make_engine
    from ocr.load import preflight
    from ocr.pipeline import read_file

    work = settings.home / "work"
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    quick = settings.model_copy(update={"settle_seconds": 0.0})
    engine = make_engine(settings.ocr_engine, settings)
    with tempfile.TemporaryDirectory(prefix="warm-up-", dir=work) as tmp:
        page = Image.new("L", (900, 300), 255)
        draw = ImageDraw.Draw(page)
        draw.text((40, 60), "dangan warm-up page 2024-01-01", fill=0, font_size=40)
        draw.text((40, 160), "No. 0123456789", fill=0, font_size=40)
        path = Path(tmp) / "warm-up.png"
        page.save(path, dpi=(200, 200))
        source = preflight(path, quick)
        read_file(source, engine=engine, settings=quick, workdir=Path(tmp), rereaders=[engine.recognize_crops])


def worker_status(home: Path) -> dict[str, Any] | None:
    """What the warm worker of ``home`` says about itself, or None when none answers."""
    info = find_worker(home)
    if info is None:
        return None
    channel = _connect(info)
    if channel is None:
        return None
    try:
        channel.send({"op": "status", "protocol": PROTOCOL})
        reply = channel.receive(ACCEPT_TIMEOUT)
    except (OSError, ValueError):
        return None
    finally:
        channel.close()
    return reply if reply is not None and reply.get("event") == "status" else None


def serve(settings: Settings, out: TextIO = sys.stdout) -> ExitCode:
    """Run the warm worker of ``settings.home`` in this process until SIGTERM or SIGINT."""
    return WarmWorker(settings, out).run()
