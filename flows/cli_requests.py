"""``dangan request`` and ``dangan subject-export``: owners' requests under PIPL (个人信息权利请求).

``request add`` registers a request to see, copy, correct or delete one's data
with the day it was received and the day it is due (5 working days, counted
on the company's holiday calendar, :mod:`rules.workdays`); ``request list``
shows the register (``--overdue``: open after their due day); ``request
close`` answers or refuses one. ``subject-export`` writes the owner's copy:
an AES-256 encrypted ZIP of the unit's originals and data
(:mod:`rules.subject_export`).

Overdue requests are reported by ``request list --overdue`` (and
``GET /api/requests?overdue=true``); no scheduled report lists them yet: run
it each working morning (a cron job or a Prefect deployment may), it prints
nothing but the count when none is overdue.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.errors import ExitCode, InvalidRequest
from schemas.settings import Settings
from schemas.validators import require_unit_ref
from web.access import Action

if TYPE_CHECKING:
    from rules.requests import RequestRegister, SubjectRequest
    from storage.vault import Vault

_KINDS = ("see", "copy", "correct", "delete")


def register(sub: Any) -> None:
    """Add ``dangan request add|list|close`` and ``dangan subject-export``."""
    request = sub.add_parser("request", help="owners' requests under PIPL (see, copy, correct, delete their data): "
                                             "add, list, close")
    request_sub = request.add_subparsers(dest="request_command", required=True)

    add = request_sub.add_parser("add", help="register an owner's request; prints its number and due day",
                                 description="The due day is 5 working days after the day received (that day "
                                             "does not count), on the holiday calendar of DANGAN_HOME/holidays.toml "
                                             "or the one shipped.")
    add.add_argument("unit", help="building-unit-room, e.g. 3-2-1201 or 3栋2单元1201")
    add.add_argument("--kind", required=True, choices=_KINDS,
                     help="see (查阅), copy (复制), correct (更正) or delete (删除)")
    add.add_argument("--requester", required=True, help="the owner's name as they gave it")
    add.add_argument("--received", metavar="YYYY-MM-DD", help="the day the request reached the company (default today)")
    add.add_argument("--estate", help="the estate (小区), when the unit number is in more than one")
    add.add_argument("--note", help="a note (ID numbers and phones in it are masked)")
    add.set_defaults(handler=cmd_add, actions=(Action.REGISTER_REQUEST,))

    listing = request_sub.add_parser("list", help="the register: newest first, or open ones by due day")
    listing.add_argument("--open", dest="open_only", action="store_true", help="only requests not answered yet")
    listing.add_argument("--overdue", action="store_true", help="only open requests past their due day")
    listing.add_argument("--limit", type=int, default=200)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list, actions=(Action.VIEW_REQUESTS,))

    close = request_sub.add_parser("close", help="answer or refuse a request (by its number)")
    close.add_argument("request_id", type=int, metavar="ID")
    outcome = close.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--answer", nargs="?", const="", metavar="NOTE", help="answered (optionally: how)")
    outcome.add_argument("--refuse", metavar="REASON", help="refused, and why (the owner is told the reason)")
    close.add_argument("--correction", dest="corrections", type=int, action="append", default=[], metavar="N",
                       help="a correction that answers a correct request (repeatable; default: those made on the "
                            "unit's documents since the request was received)")
    close.set_defaults(handler=cmd_close, actions=(Action.CLOSE_REQUEST,))

    export = sub.add_parser(
        "subject-export", help="an owner's copy of their data: an encrypted ZIP of the unit's originals and data",
        description="Writes an AES-256 encrypted ZIP holding every original scan of the unit's archive, each "
                    "document's fields (ID numbers and phones in full), the corrections with their history and "
                    "the audit events about the documents, with a README.txt in Chinese. The password is read "
                    "from standard input with --password-stdin; without it a password is made and printed once "
                    "on standard output: give it to the owner apart from the file. Audited.")
    export.add_argument("unit", help="building-unit-room, e.g. 3-2-1201")
    export.add_argument("-o", "--output", type=Path, required=True, help="the ZIP file to write")
    export.add_argument("--estate", help="the estate (小区), when the unit number is in more than one")
    export.add_argument("--request", dest="request_id", type=int, metavar="ID",
                        help="the register's number of the request this answers (named in the audit log)")
    export.add_argument("--password-stdin", action="store_true",
                        help="read the ZIP password from standard input (at least 12 characters); without it one "
                             "is made and printed once")
    export.set_defaults(handler=cmd_subject_export, actions=(Action.SUBJECT_EXPORT,))


def cmd_add(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Register a request."""
    unit = require_unit_ref(args.unit)
    received = _day(args.received, "--received") if args.received else None
    with _register(args, settings) as register:
        request = register.add(unit, kind=args.kind, requester=args.requester, received=received,
                               estate=args.estate, notes=args.note)
        calendar = register.calendar
    print(f"registered request {request.id}: {_kind(request)} for {request.unit}, received {request.received_on}, "
          f"due {request.due_on} (5 working days)")
    if not request.archive_id:
        print(f"dangan: note: no active archive of unit {request.unit} holds documents yet", file=sys.stderr)
    missing = calendar.uncovered_years(request.received_on, request.due_on)
    if missing:
        print(f"dangan: warning: the holiday calendar ({calendar.source}) has no holidays of "
              f"{', '.join(map(str, missing))}: the due day counts weekends only. Add that year's dates from the "
              "State Council notice to DANGAN_HOME/holidays.toml.", file=sys.stderr)
    return ExitCode.OK


def cmd_list(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Print the register (or its open or overdue requests)."""
    with _register(args, settings) as register:
        found = register.list_requests(open_only=args.open_only, overdue_only=args.overdue, limit=args.limit)
    if args.json:
        json.dump([r.model_dump(mode="json") for r in found], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return ExitCode.OK
    from storage.names import one_line

    for r in found:
        flag = "  逾期 OVERDUE" if r.overdue else ""
        print(f"{r.id:>5}  {r.unit:<12} {_kind(r):<12} {one_line(r.requester):<12} received {r.received_on}  "
              f"due {r.due_on}  {_status(r)}{flag}")
    overdue = sum(r.overdue for r in found)
    print(f"{len(found)} request(s)" + (f", {overdue} overdue (逾期未答复)" if overdue or args.overdue else ""))
    return ExitCode.OK


def cmd_close(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Answer or refuse a request."""
    with _register(args, settings) as register:
        request = register.close(args.request_id, refuse=args.refuse, answer=args.answer,
                                 corrections=args.corrections)
    late = " (after its due day)" if request.answered_at and _local_day(request.answered_at) > request.due_on else ""
    print(f"request {request.id} {request.status}{late}")
    if request.kind == "correct" and request.status == "answered":
        linked = ", ".join(map(str, request.correction_ids)) or "none"
        print(f"corrections linked: {linked}")
    return ExitCode.OK


def cmd_subject_export(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Write the owner's encrypted copy (through a private temporary file beside the target, renamed when done)."""
    from rules.subject_export import check_password, generate_password, write_subject_export
    from storage.names import safe_name
    from storage.vault import Vault

    unit = require_unit_ref(args.unit)
    password = check_password(_password_stdin()) if args.password_stdin else generate_password()
    with closing(Vault.open(settings, identity=args.identity)) as vault, _private_output(args.output) as out:
        summary = write_subject_export(vault, unit, out, password=password, estate=args.estate,
                                       request_id=args.request_id)
    print(f"wrote the owner's copy of {summary.unit}: {summary.documents} document(s), {summary.originals} "
          f"original(s), to {safe_name(str(args.output))} (AES-256 ZIP)", file=sys.stderr)
    if not args.password_stdin:
        print(password)
        print("This is the ZIP's password, shown only now: give it to the owner apart from the file "
              "(in person or by another channel).", file=sys.stderr)
    return ExitCode.OK


# --- helpers -----------------------------------------------------------------------------------------------


@contextmanager
def _register(args: argparse.Namespace, settings: Settings) -> Iterator[RequestRegister]:
    """The register of the archive, used by the command's identity, with the company's holiday calendar."""
    from rules.requests import RequestRegister
    from rules.workdays import load_calendar

    calendar = load_calendar(settings.home)
    with closing(_open_vault(args, settings)) as vault:
        yield RequestRegister.open(vault.index, args.identity, calendar)


def _open_vault(args: argparse.Namespace, settings: Settings) -> Vault:
    from storage.vault import Vault

    return Vault.open(settings, identity=args.identity)


@contextmanager
def _private_output(path: Path) -> Iterator[Any]:
    """A private (0600) temporary file beside ``path``, renamed to it when the block ends well, else deleted.

    The ZIP is encrypted as it is written, so even the temporary file never
    holds plain data; a crash leaves at most that encrypted temporary file.
    """
    import os
    import secrets

    from schemas.errors import OutputUnwritable
    from storage.files import fsync_path
    from storage.names import safe_name

    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise OutputUnwritable(f"cannot write the ZIP to {safe_name(str(path))}: "
                               f"{e.strerror or type(e).__name__}") from None
    try:
        with os.fdopen(fd, "w+b") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        fsync_path(path.parent)
    except OSError as e:
        raise OutputUnwritable(f"cannot write the ZIP to {safe_name(str(path))}: "
                               f"{e.strerror or type(e).__name__}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _password_stdin() -> str:
    """The ZIP password: the first line of standard input."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InvalidRequest("no password on standard input")
    return password




def _day(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{option} {text!r} is not a day such as 2026-10-09") from None


def _kind(request: SubjectRequest) -> str:
    from rules.requests import KIND_LABELS

    return f"{request.kind} ({KIND_LABELS[request.kind]})"


def _status(request: SubjectRequest) -> str:
    from rules.requests import STATUS_LABELS

    return f"{request.status} ({STATUS_LABELS[request.status]})"


def _local_day(at: dt.datetime) -> dt.date:
    from rules.workdays import COMPANY_TZ

    return at.astimezone(COMPANY_TZ).date()
