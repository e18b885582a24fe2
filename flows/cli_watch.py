"""``dangan watch DIR... [--interval SECONDS] [--poll] [--once]``: ingest drop folders continuously.

See :mod:`flows.watch` for how files are seen, settled, batched and
ingested. Prefect and watchdog are loaded only when the command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from schemas.errors import ExitCode
from schemas.settings import Settings
from web.access import Action


def register(sub: Any) -> None:
    """Add ``dangan watch``."""
    watch = sub.add_parser(
        "watch", help="ingest drop folders continuously: each file once it is complete, in batches",
        description="Watch drop folders and ingest every file in them once it has stopped changing, in batches, "
                    "one batch at a time, until Ctrl-C or SIGTERM (exit 130 after the batch in progress). "
                    "Files go to done/ or quarantine/ beside their folder, as with `dangan ingest`.")
    watch.add_argument("folders", nargs="+", type=Path, metavar="DIR", help="drop folder to watch (recursive)")
    watch.add_argument("--interval", type=float, metavar="SECONDS",
                       help="seconds between listings of the folders (default DANGAN_WATCH_INTERVAL, 10)")
    watch.add_argument("--poll", action="store_true", default=None,
                       help="only list the folders, never use file events (network shares: SMB, NFS); chosen "
                            "automatically for folders on such shares")
    watch.add_argument("--once", action="store_true",
                       help="ingest the files there now once they have settled, then exit with ingest's code")
    watch.add_argument("--engine", choices=["rapidocr", "tesseract"], help="OCR engine (default from settings)")
    watch.add_argument("--workers", type=int, help="documents read in parallel")
    watch.set_defaults(handler=cmd_watch, actions=(Action.INGEST,))


def cmd_watch(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Check the folders and the archive, then watch until stopped."""
    from flows.runner import private_home
    from storage.vault import Vault

    os.umask(0o077)  # Prefect's state and the logs under DANGAN_HOME are private to their owner
    overrides = {k: v for k, v in (("ocr_engine", args.engine), ("workers", args.workers)) if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)
    if args.interval is not None and args.interval <= 0:
        print("dangan: --interval must be more than 0 seconds", file=sys.stderr)
        return ExitCode.USAGE
    not_folders = [str(p) for p in args.folders if not p.is_dir()]
    if not_folders:
        print(f"dangan: not a folder: {', '.join(not_folders)} (watch takes drop folders; use `dangan ingest` "
              "for single files)", file=sys.stderr)
        return ExitCode.USAGE
    private_home(settings.home)
    Vault.open(settings, identity=args.identity).close()  # a missing or wrong key stops here, not at the first batch

    from flows.watch import Watcher

    watcher = Watcher(args.folders, settings, interval=args.interval, poll=args.poll, once=args.once)
    return watcher.run()
