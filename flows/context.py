"""What the caller of a flow hands it besides parameters: settings and a progress reporter.

Both travel in context variables: Prefect's thread-pool task runner copies
the context into each task, and neither secrets (database URLs, S3 keys) nor
unserialisable objects become flow parameters stored by the Prefect API.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from schemas.settings import Settings


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


_reporter: ContextVar[Reporter | None] = ContextVar("dangan_reporter", default=None)
_settings: ContextVar[Settings | None] = ContextVar("dangan_settings", default=None)


def current_reporter() -> Reporter:
    """The reporter of the running batch."""
    return _reporter.get() or NullReporter()


def current_settings() -> Settings:
    """Settings handed over by the caller, else loaded from the environment (deployments)."""
    return _settings.get() or Settings()


@contextmanager
def flow_context(settings: Settings, reporter: Reporter | None = None) -> Iterator[None]:
    """Run flows started inside this block with ``settings``, reporting to ``reporter``."""
    tokens = (_settings.set(settings), _reporter.set(reporter or NullReporter()))
    try:
        yield
    finally:
        _settings.reset(tokens[0])
        _reporter.reset(tokens[1])
