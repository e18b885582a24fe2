"""``dangan worker``: keep Prefect and the OCR pipeline loaded for this archive, so ``dangan ingest`` starts at once.

``dangan worker`` runs in the foreground (a terminal, or a service unit)
until SIGTERM or Ctrl-C; ``dangan worker --status`` says whether one runs for
the archive in DANGAN_HOME. See :mod:`flows.worker` for how batches reach it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from schemas.errors import ExitCode
from schemas.settings import Settings
from web.access import Action


def register(sub: Any) -> None:
    """Add ``dangan worker [--engine E] [--workers N] [--status]``."""
    worker = sub.add_parser("worker", help="keep the ingest pipeline loaded so `dangan ingest` starts at once")
    worker.add_argument("--engine", choices=["rapidocr", "tesseract"],
                        help="OCR engine to warm up (default from settings; each batch uses its own settings)")
    worker.add_argument("--workers", type=int, help="documents read in parallel while warming up")
    worker.add_argument("--status", action="store_true",
                        help="only say whether a warm worker runs for this archive (exit 5 when none does)")
    worker.set_defaults(handler=cmd_worker, actions=(Action.INGEST,))


def cmd_worker(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Run the warm worker of the archive, or report on it."""
    from flows.worker import serve, worker_status

    if args.status:
        status = worker_status(settings.home)
        if status is None:
            print(f"no warm worker runs for the archive in {settings.home}")
            return ExitCode.NOT_FOUND
        state = "running a batch" if status.get("busy") else "idle"
        print(f"warm worker pid {status.get('pid')} serves the archive in {status.get('home')} ({state}); "
              f"Prefect API {status.get('api_url')}")
        return ExitCode.OK
    overrides = {k: v for k, v in (("ocr_engine", args.engine), ("workers", args.workers)) if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)
    return serve(settings, sys.stdout)
