"""``dangan runs``: past ingest runs, how they ended, and their digitisation quality reports."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from schemas.errors import ExitCode
from schemas.settings import Settings
from web.access import Action


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dangan runs``."""
    runs = sub.add_parser("runs", help="list past ingest runs and their quality reports")
    runs.add_argument("--limit", type=int, default=20, help="how many runs, newest first (default 20)")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(handler=_cmd_runs, actions=(Action.INGEST,))


def report_of(home: Path, run_id: str) -> Path | None:
    """The HTML quality report of a run, when one was written (the flow names a batch by its run's id)."""
    from flows.qa_report import batch_id_of, report_paths, reports_folder

    path, _ = report_paths(reports_folder(home), batch_id_of(run_id))
    return path if path.is_file() else None


def _cmd_runs(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from storage.vault import Vault

    with closing(Vault.open(settings, identity=args.identity)) as vault:
        runs = vault.index.runs(limit=max(1, args.limit))
    rows: list[dict[str, Any]] = []
    for run in runs:
        report = report_of(settings.home, run.id)
        rows.append({"id": run.id, "started": run.started_at.isoformat(timespec="seconds"),
                     "finished": run.finished_at.isoformat(timespec="seconds") if run.finished_at else None,
                     "status": run.status, "counts": run.counts, "report": str(report) if report else None})
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return ExitCode.OK
    if not rows:
        print("no ingest runs yet")
        return ExitCode.OK
    for row in rows:
        counts = ", ".join(f"{k} {v}" for k, v in row["counts"].items()) or "-"
        print(f"{row['id'][:8]}  {row['started']}  {row['status']:<11}  {counts}")
        if row["report"]:
            print(f"          report: {row['report']}")
    return ExitCode.OK
