"""``dangan audit``: read, verify and anchor the audit log (审计日志): who did what, to which document, when, why.

``dangan audit`` lists events newest first, filtered by actor, action,
document, outcome and time; ``dangan audit verify`` walks the log's hash chain
and checks its anchors (exit 12 naming the first bad event when it is broken);
``dangan audit anchor`` writes the chain's head to the anchor file
(``DANGAN_AUDIT_ANCHOR``). Reading and verifying are audited themselves.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.errors import ExitCode
from schemas.settings import Settings
from web.access import Action

if TYPE_CHECKING:
    from storage.audit import AuditEntry

#: A day or time given without an offset is one of China (the archive's own time; search dates read the same).
CHINA = dt.timezone(dt.timedelta(hours=8))


def register(sub: Any) -> None:
    """Add ``dangan audit [filters] [--json]``, ``dangan audit verify`` and ``dangan audit anchor``."""
    audit = sub.add_parser("audit", help="read the audit log, newest first (auditors, managers, leadership); "
                                         "verify or anchor it")
    audit.add_argument("--actor", help="only the events of this user (local:<login> for the local operator)")
    audit.add_argument("--action", help="only events of this action (view, search, export, verify_audit ...)")
    audit.add_argument("--document", help="only the events of this document")
    audit.add_argument("--outcome", help="only events with this outcome (done, refused, completed ...)")
    audit.add_argument("--from", dest="since", metavar="WHEN",
                       help="events at or after this day or time (YYYY-MM-DD or an ISO time; China time unless "
                            "it says otherwise)")
    audit.add_argument("--to", dest="until", metavar="WHEN", help="events up to the end of this day, or before "
                                                                  "this time")
    audit.add_argument("--limit", type=int, default=50, help="how many entries (default 50)")
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(handler=cmd_audit, actions=(Action.VIEW_AUDIT,))
    steps = audit.add_subparsers(dest="audit_command", metavar="{verify,anchor}")

    verify = steps.add_parser("verify", help="check the audit log's hash chain and anchors (exit 12 if broken)")
    verify.add_argument("--anchor-file", type=Path, help="the anchor file to check (default DANGAN_AUDIT_ANCHOR)")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(handler=cmd_verify, actions=(Action.VERIFY_AUDIT,))

    anchor = steps.add_parser("anchor", help="write the audit chain's head to the anchor file")
    anchor.add_argument("--anchor-file", type=Path, help="the anchor file (default DANGAN_AUDIT_ANCHOR)")
    anchor.add_argument("--json", action="store_true")
    anchor.set_defaults(handler=cmd_anchor, actions=(Action.ANCHOR_AUDIT,))


def cmd_audit(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Print the newest audit entries matching the filters (reading the log is itself audited)."""
    from storage.vault import Vault

    window = _window(args.since, args.until)
    if window is None:
        return ExitCode.USAGE
    since, until = window
    filters = {"document_id": args.document, "actor": args.actor, "action": args.action, "outcome": args.outcome}
    with closing(Vault.open(settings, identity=args.identity)) as vault:
        entries = vault.index.audit_entries(**filters, since=since, until=until, limit=max(1, args.limit))
        asked = {k: v for k, v in {**filters, "since": args.since, "until": args.until}.items() if v is not None}
        vault.audit(str(Action.VIEW_AUDIT), document_id=args.document, detail={"entries": len(entries), **asked})
    if args.json:
        _dump([e.model_dump(mode="json") for e in entries])
        return ExitCode.OK
    for e in entries:
        print(_line(e))
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    return ExitCode.OK


def cmd_verify(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Walk the whole chain and check every anchor; exit 12 naming the first bad event (audited either way)."""
    from storage.vault import Vault

    with closing(Vault.open(settings, identity=args.identity)) as vault:
        report = vault.index.verify_audit(args.anchor_file or settings.audit_anchor)
        vault.audit(str(Action.VERIFY_AUDIT), detail=report.audit_detail())
    if args.json:
        _dump(report.model_dump(mode="json"))
    else:
        print(report.summary())
    return ExitCode.OK if report.intact else ExitCode.AUDIT_BROKEN


def cmd_anchor(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Write the chain's head (its last event and hash) to the anchor file, after recording that it was anchored."""
    from storage.vault import Vault

    path = args.anchor_file or settings.audit_anchor
    if path is None:
        print("dangan: no anchor file: set DANGAN_AUDIT_ANCHOR (an absolute path outside the database) or give "
              "--anchor-file", file=sys.stderr)
        return ExitCode.USAGE
    with closing(Vault.open(settings, identity=args.identity)) as vault:
        vault.audit(str(Action.ANCHOR_AUDIT), detail={"file": path.name})
        anchor = vault.index.anchor_audit(path.absolute())
    if args.json:
        _dump(anchor.model_dump(mode="json"))
    else:
        print(f"anchored the audit log at event {anchor.last_id} (hash {anchor.hash[:12]}) in {path}")
    return ExitCode.OK


def _line(e: AuditEntry) -> str:
    outcome = e.outcome or str((e.detail or {}).get("outcome", ""))
    purpose = f"  purpose: {e.purpose}" if e.purpose else ""
    return (f"{e.id:>8}  {e.at.isoformat(timespec='seconds')}  {e.actor:<20} {e.role:<18} {e.action:<16} "
            f"{e.document_id or '-':<36}  {outcome}{purpose}")


def _window(since: str | None, until: str | None) -> tuple[dt.datetime | None, dt.datetime | None] | None:
    """``--from`` and ``--to`` as times (a day: from its start, to its end); None after saying what is wrong."""
    out: list[dt.datetime | None] = []
    for given, end_of_day in ((since, False), (until, True)):
        if given is None:
            out.append(None)
            continue
        try:
            out.append(_when(given, end_of_day=end_of_day))
        except ValueError:
            print(f"dangan: {given!r} is not a day or time, e.g. 2024-05-01 or 2024-05-01T08:30", file=sys.stderr)
            return None
    return out[0], out[1]


def _when(text: str, *, end_of_day: bool) -> dt.datetime:
    if len(text) == 10:
        day = dt.date.fromisoformat(text)
        start = dt.datetime.combine(day, dt.time(), tzinfo=CHINA)
        return start + dt.timedelta(days=1) if end_of_day else start
    at = dt.datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=CHINA)


def _dump(value: object) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
