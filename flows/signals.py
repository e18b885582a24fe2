"""Signals of a running batch: Ctrl-C and SIGTERM stop it cleanly, a second one at once.

Python runs signal handlers only in the main thread, which sits blocked inside
Prefect while a batch runs; the handlers therefore wake a watcher thread
through ``signal.set_wakeup_fd``, and that thread asks the batch to stop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from flows.context import RunControl
from schemas.errors import ExitCode

#: Seconds a stopped batch waits for the file being stored to settle before it exits anyway.
STOP_WAIT_SECONDS = 20.0


@contextmanager
def stop_on_signals(control: RunControl) -> Iterator[None]:
    """SIGINT and SIGTERM stop the batch cleanly; a second one exits at once (installed from the main thread).

    Python runs signal handlers in the main thread only, and only between
    bytecodes: while the main thread waits on a lock inside Prefect's engine, a
    signal the kernel gave to a worker thread waits too. So the handlers only
    wake a watcher thread through ``signal.set_wakeup_fd``, and it acts at once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    receive, send = socket.socketpair()
    send.setblocking(False)
    signals = (signal.SIGINT, signal.SIGTERM)
    watcher = threading.Thread(target=_watch_signals, args=(receive, control, {int(s) for s in signals}),
                               name="dangan-signals", daemon=True)
    try:
        with wake_on_signals(send, _note_signal, signals):
            watcher.start()
            yield
    finally:
        send.close()
        receive.close()


@contextmanager
def wake_on_signals(wake: socket.socket, handler: Callable[[int, FrameType | None], None],
                    signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """For the block, ``signals`` go to ``handler`` and also write their number to ``wake``.

    The main thread may be blocked in a library while a signal arrives; a
    thread (or loop) reading the other end of ``wake`` learns of it at once.
    The previous handlers and wakeup descriptor are restored afterwards.
    """
    previous = {s: signal.signal(s, handler) for s in signals}
    previous_fd = signal.set_wakeup_fd(wake.fileno(), warn_on_full_buffer=False)
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        for s, old in previous.items():
            signal.signal(s, old)


def _note_signal(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: nothing to do, the watcher thread acts (this only replaces KeyboardInterrupt)."""


def _watch_signals(receive: socket.socket, control: RunControl, wanted: set[int]) -> None:
    """First SIGINT/SIGTERM: stop after the stores under way; the next one: exit at once."""
    while True:
        try:
            data = receive.recv(64)
        except OSError:
            return
        if not data:
            return
        for signum in data:
            if signum not in wanted:
                continue
            if not control.request_stop():
                exit_now(ExitCode.INTERRUPTED, "stopped at once; run the same command again to finish the batch")
            threading.Thread(target=_stop_after_settling, args=(control,), name="dangan-stop", daemon=True).start()


def _stop_after_settling(control: RunControl) -> None:
    """Let the stores under way finish, close the run record, and leave."""
    with contextlib.suppress(Exception):
        print("dangan: interrupted; finishing the file being stored, then stopping (press Ctrl-C again to stop "
              "at once). Run the same command again to finish the batch.", file=sys.stderr, flush=True)
    if control.wait_settled(STOP_WAIT_SECONDS):  # else a store hangs: leave its record to the next run
        for callback in control.stop_callbacks():
            with contextlib.suppress(Exception):
                callback()
    exit_now(ExitCode.INTERRUPTED)


def exit_now(code: int, message: str | None = None) -> None:
    """Leave at once with ``code``: kill our child processes, restore the cursor, skip every other clean-up.

    Used once the stores under way have settled (or on a second Ctrl-C):
    waiting for the OCR under way and for Prefect's shutdown is what made a
    stop slow and noisy, and a file cut short is simply done again next time.
    """
    with contextlib.suppress(OSError):
        text = (f"\ndangan: {message}\n" if message else "")
        if sys.stderr.isatty():
            text += "\x1b[?25h"  # the progress bar hides the cursor
        if text:
            os.write(2, text.encode())
    for pid in _children():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    os._exit(code)


def _children() -> list[int]:
    """Pids of this process's children (from /proc; empty elsewhere)."""
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/children") as f:
                pids += [int(p) for p in f.read().split()]
    return pids
