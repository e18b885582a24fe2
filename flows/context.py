"""What the caller of a flow hands it besides parameters: settings, a progress reporter, run control.

All travel in context variables: Prefect's thread-pool task runner copies
the context into each task, and neither secrets (database URLs, S3 keys) nor
unserialisable objects become flow parameters stored by the Prefect API.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

from schemas.errors import DanganError, ExitCode, IngestInterrupted
from schemas.settings import Settings

if TYPE_CHECKING:
    from flows.services import HomeLock
    from flows.summary import IngestSummary


class Reporter(Protocol):
    """Receives batch progress."""

    def start(self, total: int) -> None:
        """The batch holds ``total`` files."""

    def advance(self, name: str) -> None:
        """One more file was handled."""


class NullReporter:
    """Reports nothing (deployments, tests)."""

    def start(self, total: int) -> None:
        """Ignore the total."""

    def advance(self, name: str) -> None:
        """Ignore progress."""


class RunControl:
    """How a batch is stopped, and how it ended: shared by the caller, the flow and its tasks (thread-safe).

    * :meth:`request_stop` (Ctrl-C, SIGTERM): no new file is begun and no new
      store starts; :meth:`wait_settled` waits for the stores under way.
    * :meth:`halt`: an outside system failed in a way the next files would meet
      too (wrong S3 keys, disk full, store or index down after retries): the
      files not begun yet are not tried and wait in the drop folder.
    * Every step that changes the archive or moves a source runs inside
      :meth:`settling`, so stopping never leaves one half done.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._stopping = False
        self._settling = 0
        self._halted_by: DanganError | None = None
        self._on_stop: list[Callable[[], None]] = []
        #: The summary of the batch, as soon as the flow has made it.
        self.summary: IngestSummary | None = None

    @property
    def stopping(self) -> bool:
        """True once a stop was asked for."""
        return self._stopping

    @property
    def halted_by(self) -> DanganError | None:
        """The failure that stopped the batch early, if any."""
        return self._halted_by

    def request_stop(self) -> bool:
        """Ask the batch to stop; returns False when a stop had already been asked for."""
        with self._cond:
            first = not self._stopping
            self._stopping = True
            self._cond.notify_all()
            return first

    def wait_for_stop(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a stop to be asked for; True if one was."""
        with self._cond:
            return self._cond.wait_for(lambda: self._stopping, timeout=timeout)

    def halt(self, error: DanganError) -> None:
        """Do not begin further files: ``error`` would meet them too."""
        with self._cond:
            if self._halted_by is None:
                self._halted_by = error

    @contextmanager
    def settling(self) -> Iterator[None]:
        """Run a store, index or move step; refused (IngestInterrupted) once a stop was asked for."""
        with self._cond:
            if self._stopping:
                raise IngestInterrupted("The run was stopped before this file was stored; it stays in the "
                                        "drop folder for the next run.")
            self._settling += 1
        try:
            yield
        finally:
            with self._cond:
                self._settling -= 1
                self._cond.notify_all()

    def wait_settled(self, timeout: float) -> bool:
        """Wait until no step runs inside :meth:`settling`; False when ``timeout`` seconds passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._settling == 0, timeout=timeout)

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (best effort) once the stores under way have settled after a stop."""
        with self._cond:
            self._on_stop.append(callback)

    def stop_callbacks(self) -> list[Callable[[], None]]:
        """The callbacks registered with :meth:`on_stop`."""
        with self._cond:
            return list(self._on_stop)

    def exit_code(self, summary: IngestSummary) -> ExitCode:
        """The command's exit code for ``summary``: OK, the halting error's own code, or INCOMPLETE."""
        if summary.status == "completed":
            return ExitCode.OK
        halted = self._halted_by
        if halted is not None and not halted.retryable and halted.exit_code != ExitCode.INTERNAL:
            return halted.exit_code
        return ExitCode.INCOMPLETE


_reporter: ContextVar[Reporter | None] = ContextVar("dangan_reporter", default=None)
_settings: ContextVar[Settings | None] = ContextVar("dangan_settings", default=None)
_control: ContextVar[RunControl | None] = ContextVar("dangan_run_control", default=None)
_home_lock: ContextVar[HomeLock | None] = ContextVar("dangan_home_lock", default=None)


def current_reporter() -> Reporter:
    """The reporter of the running batch."""
    return _reporter.get() or NullReporter()


def current_settings() -> Settings:
    """Settings handed over by the caller, else loaded from the environment (deployments)."""
    return _settings.get() or Settings()


def current_control() -> RunControl:
    """The run control handed over by the caller; a fresh one (never stopped) otherwise."""
    control = _control.get()
    if control is None:
        control = RunControl()
        _control.set(control)
    return control


def current_home_lock() -> HomeLock | None:
    """The archive lock the caller already holds for this run, if any."""
    return _home_lock.get()


@contextmanager
def flow_context(settings: Settings, reporter: Reporter | None = None, *, control: RunControl | None = None,
                 home_lock: HomeLock | None = None) -> Iterator[None]:
    """Run flows started inside this block with ``settings``, reporting to ``reporter``, stopped by ``control``."""
    tokens = (_settings.set(settings), _reporter.set(reporter or NullReporter()),
              _control.set(control or RunControl()), _home_lock.set(home_lock))
    try:
        yield
    finally:
        _settings.reset(tokens[0])
        _reporter.reset(tokens[1])
        _control.reset(tokens[2])
        _home_lock.reset(tokens[3])
