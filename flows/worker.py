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
import struct
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

from pydantic import SecretStr

from flows.context import NullReporter, Reporter, RunControl
from flows.summary import IngestSummary
from schemas.errors import (
    DanganError,
    ExitCode,
    IngestBusy,
    IngestInterrupted,
    OrchestrationError,
    UnexpectedError,
)
from schemas.settings import Settings

#: Files of the warm worker under DANGAN_HOME.
STATE_FILE = "worker.json"
SOCKET_FILE = "worker.sock"
LOCK_FILE = "worker.lock"
#: Version of the messages between ``dangan ingest`` and the worker; a worker of another version is not used.
PROTOCOL = 1
#: Seconds ``dangan ingest`` waits for the worker to accept a batch before running it itself.
ACCEPT_TIMEOUT = 10.0
#: Longest wait, after a stop, for the stores under way to finish (as the command line's own runs).
STOP_WAIT_SECONDS = 20.0
#: Longest wait for a configured Prefect server (PREFECT_API_URL) to answer when the worker starts.
SERVER_WAIT_SECONDS = 60.0
#: Longest request line accepted (paths and settings of one batch).
MAX_LINE = 16 * 1024 * 1024
_PEERCRED = struct.Struct("3i")  # pid, uid, gid


# --------------------------------------------------------------------------- where the worker is


@dataclass(frozen=True)
class WorkerInfo:
    """What ``worker.json`` says about the warm worker of an archive."""

    pid: int
    home: Path
    socket: Path
    api_url: str
    started: str


def state_path(home: Path) -> Path:
    """The state file of the warm worker of the archive at ``home``."""
    return home / STATE_FILE


def read_state(home: Path) -> WorkerInfo | None:
    """The warm worker's record, if there is a well-formed one owned by this user and private to them."""
    path = state_path(home)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o077 or st.st_size > 64 * 1024:
            return None
        data = json.loads(os.read(fd, 64 * 1024) or b"{}")
        return WorkerInfo(pid=int(data["pid"]), home=Path(data["home"]), socket=Path(data["socket"]),
                          api_url=str(data["api_url"]), started=str(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    finally:
        os.close(fd)


def find_worker(home: Path) -> WorkerInfo | None:
    """The warm worker of the archive at ``home`` if its record names a live process (it may still not answer)."""
    info = read_state(home)
    if info is None or not _alive(info.pid):
        return None
    return info


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours: not our worker
    return True


@contextmanager
def _socket_address(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits a Unix socket's 108 bytes (a deep home goes through /proc/self/fd)."""
    if len(os.fsencode(path)) < 100:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def _peer(sock: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end of a Unix socket."""
    pid, uid, _gid = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
    return pid, uid


# --------------------------------------------------------------------------- messages


class Channel:
    """JSON messages, one per line, over a connected Unix socket (sending is thread-safe)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""
        self._send_lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        """Send one message (OSError when the other end is gone)."""
        data = json.dumps(message, ensure_ascii=False).encode() + b"\n"
        with self._send_lock:
            self.sock.sendall(data)

    def receive(self, timeout: float | None) -> dict[str, Any] | None:
        """The next message; None when the other end closed. TimeoutError after ``timeout`` seconds without one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE:
                raise ValueError("message too long")
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise
            except OSError:
                return None
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("not a message")
        return message

    def close(self) -> None:
        """Shut the connection down (wakes a thread blocked receiving on it) and close it."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def error_payload(error: DanganError) -> dict[str, Any]:
    """A dangan error as a message field."""
    return {"code": error.code, "message": error.message, "exit_code": int(error.exit_code),
            "retryable": error.retryable}


def _error_classes() -> dict[str, type[DanganError]]:
    found: dict[str, type[DanganError]] = {}
    todo: list[type[DanganError]] = [DanganError]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.code, cls)
        todo.extend(cls.__subclasses__())
    return found


def rebuild_error(payload: dict[str, Any]) -> DanganError:
    """The error a message field describes, of the same class (so the same exit code and retry decision)."""
    message = str(payload.get("message") or "the warm worker failed")
    cls = _error_classes().get(str(payload.get("code")))
    if cls is not None and cls is not DanganError:
        return cls(message)
    error = DanganError(message)
    with contextlib.suppress(ValueError, TypeError):
        error.exit_code = ExitCode(int(payload.get("exit_code", ExitCode.INTERNAL)))
    error.retryable = bool(payload.get("retryable", False))
    return error


def settings_payload(settings: Settings) -> dict[str, Any]:
    """``settings`` as plain values for the worker: secrets readable, relative paths made absolute here."""
    data: dict[str, Any] = {}
    for name, value in settings.model_dump().items():
        data[name] = _plain(value)
    url = data.get("db_url")
    if isinstance(url, str) and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        data["db_url"] = "sqlite:///" + str(Path.cwd() / url[len("sqlite:///"):])
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value if value.is_absolute() else Path.cwd() / value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- the command line's side


def submit(paths: list[str], *, settings: Settings, keep: bool, reporter: Reporter | None,
           control: RunControl) -> IngestSummary | None:
    """Have the archive's warm worker run this batch; its summary, or None when no worker takes it.

    None (nothing was begun) when no worker runs for ``settings.home``, it does
    not answer, or it refuses the batch (another archive, another version).
    Once the worker has accepted the batch, its outcome is the command's: the
    summary (``control`` learns what halted the batch), or the error it raised.
    """
    info = find_worker(settings.home)
    if info is None:
        return None
    absolute = [p if os.path.isabs(p) else str(Path.cwd() / p) for p in paths]
    request = {"op": "ingest", "protocol": PROTOCOL, "paths": absolute, "keep": keep,
               "settings": settings_payload(settings)}
    channel = _connect(info)
    if channel is None:
        return None
    try:
        try:
            channel.send(request)
            reply = channel.receive(ACCEPT_TIMEOUT)
        except (OSError, ValueError):
            return None
        if reply is None or reply.get("event") != "accepted":
            return None
        summary = _follow(channel, info, reporter or NullReporter(), control)
    finally:
        channel.close()
    return _as_given(summary, paths, absolute)


def _connect(info: WorkerInfo) -> Channel | None:
    """A connection to the worker's socket, if the process listening there is that worker and ours."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(ACCEPT_TIMEOUT)
        with _socket_address(info.socket) as address:
            sock.connect(address)
        pid, uid = _peer(sock)
        if pid != info.pid or uid != os.geteuid():
            sock.close()
            return None
    except OSError:
        sock.close()
        return None
    return Channel(sock)


def _follow(channel: Channel, info: WorkerInfo, reporter: Reporter, control: RunControl) -> IngestSummary:
    """Relay the worker's progress until the batch ends; Ctrl-C and SIGTERM ask the worker to stop it.

    While the worker has the batch, this process counts as settling
    (:meth:`RunControl.settling`): a first signal waits (as a run of its own
    would) until the worker says the stores under way finished, then the
    command exits 130; a second exits at once.
    """
    from flows.runner import stop_on_signals

    stop_sent = False
    summary: IngestSummary | None = None
    with stop_on_signals(control), control.settling():
        while True:
            if control.stopping and not stop_sent:
                stop_sent = True
                with contextlib.suppress(OSError):
                    channel.send({"op": "stop"})
            try:
                message = channel.receive(0.2)
            except TimeoutError:
                continue
            except ValueError:
                message = None
            if message is None:
                raise OrchestrationError(
                    f"the warm worker (pid {info.pid}) stopped while it ran this batch; the files not stored yet "
                    "wait in the drop folder. Run the same command again.")
            event = message.get("event")
            if event == "start":
                reporter.start(int(message.get("total", 0)))
            elif event == "advance":
                reporter.advance(str(message.get("name", "")))
            elif event == "stopped":
                break
            elif event == "interrupted":
                raise IngestInterrupted(str(message.get("message") or "the warm worker was stopped"))
            elif event == "error":
                raise rebuild_error(message.get("error") or {})
            elif event == "done":
                summary = IngestSummary.model_validate(message["summary"])
                halted = message.get("halted")
                if halted:
                    control.halt(rebuild_error(halted))
                break
    if control.stopping:  # the signal watcher ends the process with 130 now that the batch has settled
        time.sleep(STOP_WAIT_SECONDS + 5)
        raise IngestInterrupted("interrupted; run the same command again to finish the batch")
    assert summary is not None
    return summary


def _as_given(summary: IngestSummary, given: list[str], absolute: list[str]) -> IngestSummary:
    """The summary with each file's path written from the argument as the user gave it (relative stays relative)."""
    from storage.names import safe_name

    prefixes = sorted(((safe_name(a), safe_name(g)) for g, a in zip(given, absolute, strict=True) if g != a),
                      key=lambda pair: len(pair[0]), reverse=True)
    if not prefixes:
        return summary
    files = []
    for f in summary.files:
        path = f.path
        for long, short in prefixes:
            if path == long or path.startswith(long.rstrip("/") + "/"):
                path = short + path[len(long):]
                break
        files.append(f if path == f.path else f.model_copy(update={"path": path}))
    return summary.model_copy(update={"files": tuple(files)})


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
        from flows.runner import check_archive, private_home, quiet_prefect
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
        handled = (signal.SIGTERM, signal.SIGINT)
        previous = {s: signal.signal(s, _ignore_here) for s in handled}
        previous_fd = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        try:
            yield
        finally:
            signal.set_wakeup_fd(previous_fd)
            for s, handler in previous.items():
                signal.signal(s, handler)

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
        from flows.runner import _children

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
    from flows.runner import quiet_loggers

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
