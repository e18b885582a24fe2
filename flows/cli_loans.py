"""``dangan loan``: the borrowing register (借阅登记, :mod:`rules.loans`).

``loan request`` asks to borrow a unit's archive for a purpose (``--paper``:
the folder leaves the archive room too); ``loan approve`` (until the end of
today, China time, unless ``--until`` says) and ``loan refuse`` decide it;
``loan return`` ends it; ``loan list`` shows the register (``--open``,
``--overdue``: paper loans not back after their due time; ``--mine``: one's
own loans). Clerks, auditors and police or courts open an archive's documents
only while they hold an approved loan of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any

from schemas.errors import ExitCode
from schemas.settings import Settings
from schemas.validators import require_unit_ref
from web.access import Action

if TYPE_CHECKING:
    from rules.loans import Loan, LoanRegister


def register(sub: Any) -> None:
    """Add ``dangan loan request|approve|refuse|return|list``."""
    loan = sub.add_parser("loan", help="the borrowing register (借阅登记): request, approve, refuse, return, list")
    loan_sub = loan.add_subparsers(dest="loan_command", required=True)

    request = loan_sub.add_parser(
        "request", help="ask to borrow a unit's archive; prints the loan's number",
        description="Clerks, auditors and police or courts open an archive's documents only while they hold an "
                    "approved loan of it. An archive manager (or leadership) approves or refuses the request.")
    request.add_argument("unit", help="building-unit-room, e.g. 3-2-1201 or 3栋2单元1201")
    request.add_argument("--purpose", required=True, help="why (查阅目的), 2 to 60 characters")
    request.add_argument("--estate", help="the estate (小区), when the unit number is in more than one")
    request.add_argument("--paper", action="store_true",
                         help="the paper folder leaves the archive room too (an archive manager records its return)")
    request.set_defaults(handler=cmd_request, actions=(Action.REQUEST_LOAN,))

    approve = loan_sub.add_parser("approve", help="approve a requested loan (by its number)")
    approve.add_argument("loan_id", type=int, metavar="ID")
    approve.add_argument("--until", metavar="'YYYY-MM-DD HH:MM'",
                         help="when access ends, China time (default: the end of today)")
    approve.set_defaults(handler=cmd_approve, actions=(Action.DECIDE_LOAN,))

    refuse = loan_sub.add_parser("refuse", help="refuse a requested loan, saying why")
    refuse.add_argument("loan_id", type=int, metavar="ID")
    refuse.add_argument("--reason", required=True, help="why (the borrower sees it)")
    refuse.set_defaults(handler=cmd_refuse, actions=(Action.DECIDE_LOAN,))

    give_back = loan_sub.add_parser("return", help="end a loan now: one's own, or (archive managers) any, "
                                                   "a paper loan once its folder is back")
    give_back.add_argument("loan_id", type=int, metavar="ID")
    give_back.set_defaults(handler=cmd_return, actions=(Action.REQUEST_LOAN,))

    listing = loan_sub.add_parser("list", help="the register, newest first")
    listing.add_argument("--open", dest="open_only", action="store_true",
                         help="only loans waiting for a decision, in effect, or paper not back yet")
    listing.add_argument("--overdue", action="store_true", help="only paper loans not back after their due time")
    listing.add_argument("--mine", action="store_true", help="only my own loans (any borrower may list theirs)")
    listing.add_argument("--limit", type=int, default=200)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list,
                         actions=lambda args: (Action.REQUEST_LOAN,) if args.mine else (Action.VIEW_LOANS,))


def cmd_request(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Ask to borrow an archive."""
    with _register(args, settings) as register:
        loan = register.request(args.purpose, unit=require_unit_ref(args.unit), estate=args.estate, paper=args.paper)
    paper = " with its paper folder" if loan.paper else ""
    print(f"requested loan {loan.id} of archive {loan.place}{paper}; an archive manager approves or refuses it "
          f"(dangan loan list --mine)")
    return ExitCode.OK


def cmd_approve(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Approve a loan."""
    from rules.loans import local_time, parse_due

    until = parse_due(args.until) if args.until else None
    with _register(args, settings) as register:
        loan = register.approve(args.loan_id, until=until)
    print(f"approved loan {loan.id} of archive {loan.place} to {loan.borrower} until {local_time(loan.due_at)} "
          "(China time)")
    return ExitCode.OK


def cmd_refuse(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Refuse a loan."""
    with _register(args, settings) as register:
        loan = register.refuse(args.loan_id, reason=args.reason)
    print(f"refused loan {loan.id} of archive {loan.place} to {loan.borrower}")
    return ExitCode.OK


def cmd_return(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Return a loan."""
    with _register(args, settings) as register:
        loan = register.return_loan(args.loan_id)
    print(f"returned loan {loan.id} of archive {loan.place}; access ended")
    return ExitCode.OK


def cmd_list(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Print the register (or its open or overdue loans, or one's own)."""
    with _register(args, settings) as register:
        found = register.list_loans(open_only=args.open_only, overdue_only=args.overdue, mine=args.mine,
                                    limit=args.limit)
    if args.json:
        json.dump([loan.model_dump(mode="json") for loan in found], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return ExitCode.OK
    for loan in found:
        print(_line(loan))
    overdue = sum(loan.state == "overdue" for loan in found)
    print(f"{len(found)} loan(s)" + (f", {overdue} overdue (逾期未还)" if overdue or args.overdue else ""))
    return ExitCode.OK


# --- helpers -----------------------------------------------------------------------------------------------


def _line(loan: Loan) -> str:
    from rules.loans import local_time
    from storage.names import one_line

    due = f"due {local_time(loan.due_at)}" if loan.due_at else "due -"
    paper = " 纸质" if loan.paper else ""
    flag = "  OVERDUE" if loan.state == "overdue" else ""
    return (f"{loan.id:>5}  {loan.place:<18} {one_line(loan.borrower)} ({loan.borrower_role})  "
            f"{one_line(loan.purpose)}  requested {local_time(loan.requested_at)}  {due}  "
            f"{loan.state} ({loan.state_label}){paper}{flag}")


@contextmanager
def _register(args: argparse.Namespace, settings: Settings) -> Iterator[LoanRegister]:
    """The borrowing register of the archive, used by the command's identity."""
    from rules.loans import LoanRegister
    from storage.vault import Vault

    with closing(Vault.open(settings, identity=args.identity)) as vault:
        yield LoanRegister.open(vault.index, args.identity)


