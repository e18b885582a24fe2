"""The command line's side of the warm pipeline: find the archive's warm worker and hand it a batch.

The worker itself (:mod:`flows.worker`) keeps Prefect and the OCR pipeline
loaded. This module holds what both sides share (where the worker is, the
messages between them) and ``submit``, which ``dangan ingest`` calls before
running a batch itself; it never imports Prefect or the runner.
"""


from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from flows.context import NullReporter, Reporter, RunControl
from flows.summary import IngestSummary
from schemas.errors import (
    DanganError,
    ExitCode,
    IngestInterrupted,
    OrchestrationError,
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
    from flows.signals import stop_on_signals

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
