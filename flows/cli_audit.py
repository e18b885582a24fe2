"""``dangan audit``: read the audit log (审计日志): who did what, to which document, when."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing
from typing import Any

from schemas.errors import ExitCode
from schemas.settings import Settings
from web.access import Action


def register(sub: Any) -> None:
    """Add ``dangan audit [--document ID] [--limit N] [--json]``."""
    audit = sub.add_parser("audit", help="read the audit log, newest first (auditors, managers, leadership)")
    audit.add_argument("--document", help="only the entries of this document")
    audit.add_argument("--limit", type=int, default=50, help="how many entries (default 50)")
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(handler=cmd_audit, actions=(Action.VIEW_AUDIT,))


def cmd_audit(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Print the newest audit entries (reading the log is itself audited)."""
    from storage.vault import Vault

    with closing(Vault.open(settings, identity=args.identity)) as vault:
        entries = vault.index.audit_entries(document_id=args.document, limit=max(1, args.limit))
        vault.audit("view_audit", document_id=args.document, detail={"entries": len(entries)})
    if args.json:
        json.dump([e.model_dump(mode="json") for e in entries], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return ExitCode.OK
    for e in entries:
        outcome = (e.detail or {}).get("outcome", "")
        print(f"{e.at.isoformat(timespec='seconds')}  {e.actor:<20} {e.role:<18} {e.action:<16} "
              f"{e.document_id or '-':<36}  {outcome}")
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    return ExitCode.OK
