"""Run the ingest flow from the command line, quietly and with its own Prefect home.

Without ``PREFECT_API_URL`` Prefect starts a temporary local server; its
state goes under ``DANGAN_HOME/prefect`` and its chatter stays below WARNING.
A configured Prefect server (``PREFECT_API_URL``) is used as it is.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flows.context import Reporter, flow_context
from flows.summary import IngestSummary
from schemas.settings import Settings


@contextmanager
def quiet_prefect(settings: Settings) -> Iterator[None]:
    """Prefect settings for a command-line process: private home, no analytics, warnings only."""
    from prefect.settings import temporary_settings

    home = settings.home / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "home": home,
        "server.database.connection_url": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "server.analytics_enabled": False,
        "server.ephemeral.enabled": True,
        "server.ephemeral.startup_timeout_seconds": 90,
        "logging.to_api.enabled": False,
    }
    # Levels stay raised after the block: the temporary server logs its shutdown at process exit.
    # Failures reach the user through the batch summary and the CLI's one-line errors, not as
    # Prefect's run-failure tracebacks.
    for name in ("prefect", "httpx", "uvicorn", "docket"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with temporary_settings(set_defaults=defaults), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def run_ingest(paths: list[str], *, settings: Settings, keep: bool, reporter: Reporter | None = None) -> IngestSummary:
    """Run the ingest flow over ``paths`` with ``settings``; returns its summary."""
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.ingest import ingest

    settings.home.mkdir(parents=True, exist_ok=True)
    runner: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(max_workers=max(1, settings.workers))
    flow = ingest.with_options(task_runner=runner)  # type: ignore[arg-type]  # Prefect's generic
    with quiet_prefect(settings), flow_context(settings, reporter):
        return flow(paths=paths, keep=keep)
