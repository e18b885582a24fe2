"""``dangan reconcile``: the monthly check (每月校对) of every archive's completeness and every stored object."""

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


def register(sub: Any) -> None:
    """Add ``dangan reconcile [--out DIR] [--no-objects] [--json]``."""
    p = sub.add_parser(
        "reconcile", help="check every archive against the checklist and every stored object against its hash; "
                          "write an HTML and CSV report (每月校对)",
        description="Lists the unit archives that lack documents the checklist requires (DANGAN_HOME/checklist.toml, "
                    "or the default), and decrypts every stored original to check it against its recorded SHA-256. "
                    "Exit 0 when every object is intact (archives may still lack documents: see the report), "
                    "10 when an object is missing or altered.")
    p.add_argument("--out", type=Path, help="folder for the report (default: DANGAN_HOME/reports)")
    p.add_argument("--no-objects", action="store_true",
                   help="only the checklist: do not read the stored objects (fast)")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.set_defaults(handler=cmd_reconcile, actions=(Action.RECONCILE,))


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Run the reconciliation, write its reports, say what it found."""
    from rules.reconcile import run_reconcile, summary_lines
    from storage.vault import Vault

    with closing(Vault.open(settings, identity=args.identity)) as vault:
        report, (html_path, csv_path) = run_reconcile(vault, args.out or settings.home / "reports",
                                                      objects=not args.no_objects)
    if args.json:
        json.dump(report.model_dump(mode="json"), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        for line in summary_lines(report, html_path, csv_path):
            print(line)
    return ExitCode.INTEGRITY if report.problems else ExitCode.OK
