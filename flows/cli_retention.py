"""``dangan owner-change``, ``retention``, ``hold``, ``destroy`` (:mod:`rules.retention`, :mod:`rules.destruction`).

``owner-change UNIT`` sets the unit's archive aside (kept 3 years) and opens
one for the new owner; ``retention list`` shows set-aside archives
(``--due``: retention passed, no legal hold); ``hold place|release|list``;
``destroy request ARCHIVE_OR_UNIT --reason``, ``destroy approve ID`` (another
archive manager; carries it out), ``destroy run ID`` (finishes one that was
interrupted), ``destroy list`` (the records).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from schemas.errors import ExitCode, InvalidRequest
from schemas.settings import Settings
from schemas.validators import require_unit_ref
from web.access import Action


def register(sub: Any) -> None:
    """Add the owner-change, retention, hold and destroy commands."""
    change = sub.add_parser("owner-change", help="set a unit's archive aside (kept 3 years) and open a new one "
                                                 "for the new owner (业主变更)")
    change.add_argument("unit", help="building-unit-room, e.g. 3-2-1201")
    change.add_argument("--estate", help="the estate (小区), when the unit number is in more than one")
    change.add_argument("--date", help="the day of the change, YYYY-MM-DD (default: today, China time)")
    change.add_argument("--note", help="a note (e.g. the transfer)")
    change.set_defaults(handler=cmd_owner_change, actions=(Action.OWNER_CHANGE,))

    retention = sub.add_parser("retention", help="set-aside archives and their retention")
    retention_sub = retention.add_subparsers(dest="retention_command", required=True)
    listing = retention_sub.add_parser("list", help="set-aside archives, retention end first")
    listing.add_argument("--due", action="store_true", help="only those due for destruction (retention passed, "
                                                            "no legal hold)")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--report", type=Path, metavar="FOLDER",
                         help="also write the list as HTML and CSV (保管期限到期清单) into FOLDER")
    listing.set_defaults(handler=cmd_retention_list, actions=(Action.VIEW_RETENTION,))

    hold = sub.add_parser("hold", help="legal holds (诉讼保全): they block destruction")
    hold_sub = hold.add_subparsers(dest="hold_command", required=True)
    place = hold_sub.add_parser("place", help="place a legal hold on an archive")
    place.add_argument("archive", metavar="ARCHIVE_OR_UNIT")
    place.add_argument("--reason", required=True)
    place.add_argument("--estate")
    place.set_defaults(handler=cmd_hold_place, actions=(Action.LEGAL_HOLD,))
    release = hold_sub.add_parser("release", help="release a legal hold (by its number)")
    release.add_argument("hold_id", type=int, metavar="ID")
    release.set_defaults(handler=cmd_hold_release, actions=(Action.LEGAL_HOLD,))
    holds = hold_sub.add_parser("list", help="legal holds in force")
    holds.set_defaults(handler=cmd_hold_list, actions=(Action.VIEW_RETENTION,))

    destroy = sub.add_parser("destroy", help="destruction of set-aside archives (档案销毁)")
    destroy_sub = destroy.add_subparsers(dest="destroy_command", required=True)
    request = destroy_sub.add_parser("request", help="ask to destroy a set-aside archive")
    request.add_argument("archive", metavar="ARCHIVE_OR_UNIT")
    request.add_argument("--reason", required=True)
    request.add_argument("--estate")
    request.set_defaults(handler=cmd_destroy_request, actions=(Action.REQUEST_DESTRUCTION,))
    approve = destroy_sub.add_parser("approve", help="approve a request (another archive manager) and carry it out")
    approve.add_argument("request_id", type=int, metavar="ID")
    approve.set_defaults(handler=cmd_destroy_approve, actions=(Action.APPROVE_DESTRUCTION,))
    resume = destroy_sub.add_parser("run", help="carry out an approved destruction, or finish an interrupted one")
    resume.add_argument("request_id", type=int, metavar="ID")
    resume.set_defaults(handler=cmd_destroy_run, actions=(Action.APPROVE_DESTRUCTION,))
    records = destroy_sub.add_parser("list", help="the destruction records (销毁记录)")
    records.add_argument("--json", action="store_true")
    records.set_defaults(handler=cmd_destroy_list, actions=(Action.VIEW_DESTRUCTIONS,))


def cmd_owner_change(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Record an owner change."""
    from rules.retention import Retention

    on = _day(args.date) if args.date else None
    with _vault(args, settings) as vault:
        change = Retention.open(vault.index, args.identity).owner_change(
            require_unit_ref(args.unit), estate=args.estate, on=on, note=args.note)
    print(f"owner change of {change.unit}: archive {change.set_aside_archive} ({change.documents_set_aside} "
          f"document(s)) set aside, kept until {change.retention_until.date()}; new archive {change.new_archive}")
    return ExitCode.OK


def cmd_retention_list(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Print the set-aside archives."""
    from rules.retention import Retention
    from storage.tables import utcnow

    now = utcnow()
    with _vault(args, settings) as vault:
        found = Retention.open(vault.index, args.identity).set_aside(due_only=args.due, now=now)
    if args.report is not None:
        from rules.retention_report import summary_line, write_reports

        html_path, csv_path = write_reports(found, args.report, now)
        print(f"{summary_line(found, now)}; report: {html_path} and {csv_path}", file=sys.stderr)
    if args.json:
        _json([a.model_dump(mode="json") for a in found])
        return ExitCode.OK
    for a in found:
        until = a.retention_until.date() if a.retention_until else "?"
        flags = " DUE" if a.due else (" HELD" if a.held else "")
        print(f"{a.archive_id}  {(a.estate + ' ') if a.estate else ''}{a.unit:<12} {a.status:<10} "
              f"{a.documents:>4} doc(s)  kept until {until}{flags}")
    print(f"{len(found)} archive(s), {sum(a.due for a in found)} due")
    return ExitCode.OK


def cmd_hold_place(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Place a legal hold."""
    from rules.retention import Retention

    with _vault(args, settings) as vault:
        hold = Retention.open(vault.index, args.identity).place_hold(args.archive, reason=args.reason,
                                                                      estate=args.estate)
    print(f"legal hold {hold.id} placed on archive {hold.archive_id}")
    return ExitCode.OK


def cmd_hold_release(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Release a legal hold."""
    from rules.retention import Retention

    with _vault(args, settings) as vault:
        hold = Retention.open(vault.index, args.identity).release_hold(args.hold_id)
    print(f"legal hold {hold.id} on archive {hold.archive_id} released")
    return ExitCode.OK


def cmd_hold_list(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Print the legal holds in force."""
    from rules.retention import Retention

    with _vault(args, settings) as vault:
        for hold in Retention.open(vault.index, args.identity).holds():
            print(f"{hold.id:>5}  {hold.archive_id}  {hold.reason}  by {hold.placed_by}")
    return ExitCode.OK


def cmd_destroy_request(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Ask to destroy an archive."""
    from rules.destruction import Destruction

    with _vault(args, settings) as vault:
        found = Destruction.open(vault.index, vault.store, args.identity).request(
            args.archive, reason=args.reason, estate=args.estate)
    print(f"destruction request {found.id} of archive {found.archive_id}; another archive manager approves it "
          f"(dangan destroy approve {found.id})")
    return ExitCode.OK


def cmd_destroy_approve(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Approve and carry out a destruction."""
    from rules.destruction import Destruction

    with _vault(args, settings) as vault:
        record = Destruction.open(vault.index, vault.store, args.identity).approve(args.request_id)
    _print_record(record)
    return ExitCode.OK


def cmd_destroy_run(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Carry out (or finish) an approved destruction."""
    from rules.destruction import Destruction

    with _vault(args, settings) as vault:
        record = Destruction.open(vault.index, vault.store, args.identity).run(args.request_id)
    _print_record(record)
    return ExitCode.OK


def cmd_destroy_list(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Print the destruction records."""
    from rules.destruction import Destruction

    with _vault(args, settings) as vault:
        records = Destruction.open(vault.index, vault.store, args.identity).records()
    if args.json:
        _json([r.model_dump(mode="json") for r in records])
        return ExitCode.OK
    for r in records:
        _print_record(r)
    print(f"{len(records)} record(s)")
    return ExitCode.OK


# --- helpers -----------------------------------------------------------------------------------------------


def _print_record(r: Any) -> None:
    when = r.executed_at.isoformat(timespec="seconds") if r.executed_at else "not finished"
    types = ", ".join(f"{t} {n}" for t, n in sorted(r.doc_types.items()))
    print(f"destruction record {r.id} (request {r.request_id}): archive {r.archive_id} {r.unit}, "
          f"{r.documents} document(s) ({types}), {len(r.sha256s)} file(s); {r.method}; {when}; requested by "
          f"{r.requested_by}, approved by {r.approved_by}, carried out by {r.executed_by}; {r.status}")
    if r.residual:
        print(f"  {r.residual}")


def _json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequest(f"{text!r} is not a day such as 2026-05-08.") from None


class _vault:
    """The archive opened for the command's identity (a context manager)."""

    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        from storage.vault import Vault

        self._vault = Vault.open(settings, identity=args.identity)

    def __enter__(self) -> Any:
        return self._vault

    def __exit__(self, *exc: object) -> None:
        self._vault.close()
