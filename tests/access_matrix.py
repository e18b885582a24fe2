"""How to try each action of the permission matrix, as data the access tests walk over.

``CLI_TRIES`` lists commands of ``dangan``: each names the actions it takes
(``web.access.Action``) and builds its arguments from an :class:`ArchiveUnderTest`
(a real home with users of every role and documents). A try is expected to
work when the role may take all of its actions, and to be refused (exit 4,
audited) otherwise.

``WEB_ONLY`` names the actions no command here takes, and where they are
tried. To add the service's side, give it a table of the same shape (action,
how to try it through the API) and check that it covers every ``Action``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.errors import ExitCode
from schemas.models import UnitRef
from web.access import Action, Identity, Role

if TYPE_CHECKING:
    from storage.index import Index

PASSWORD = "a long test password"
#: The owner's unit, and another one.
OWN_UNIT = UnitRef(building="3", unit="2", room="1201")
OTHER_UNIT = UnitRef(building="3", unit="2", room="1202")
#: One user per role that signs in (the local operator is the OS account itself).
USERS: Mapping[Role, str] = {
    Role.LEADERSHIP: "lingdao",
    Role.ARCHIVE_MANAGER: "guanliyuan",
    Role.CLERK: "qiantai",
    Role.AUDITOR: "shenji",
    Role.EXTERNAL_AUTHORITY: "jingcha",
    Role.OWNER: "yezhu",
}


@dataclass(frozen=True)
class ArchiveUnderTest:
    """A real archive home with a user of every role and two documents with stored originals."""

    home: Path
    #: A document filed under ``OWN_UNIT`` (the owner's) and one under ``OTHER_UNIT``.
    own_doc: str
    other_doc: str
    #: Where a try may write its output files.
    work: Path


@dataclass(frozen=True)
class CliTry:
    """One ``dangan`` command and the actions of the matrix it takes."""

    name: str
    actions: tuple[Action, ...]
    argv: Callable[[ArchiveUnderTest, str], list[str]]  # (archive, a name unique to this run) -> arguments
    #: The exit code when the command may run (a try that only proves the check was passed says so).
    ok: int = ExitCode.OK
    notes: str = field(default="", compare=False)


CLI_TRIES: tuple[CliTry, ...] = (
    CliTry("search", (Action.SEARCH,), lambda a, _: ["search", "王伟"]),
    CliTry("show", (Action.VIEW_DOCUMENT,), lambda a, _: ["show", a.own_doc]),
    CliTry("show --reveal", (Action.VIEW_DOCUMENT, Action.REVEAL_PII),
           lambda a, _: ["show", a.own_doc, "--reveal"]),
    CliTry("download", (Action.DOWNLOAD_ORIGINAL,),
           lambda a, run: ["download", a.own_doc, "-o", str(a.work / f"{run}.pdf")]),
    CliTry("export", (Action.EXPORT,), lambda a, run: ["export", "--jsonl", str(a.work / f"{run}.jsonl")]),
    CliTry("export --reveal", (Action.EXPORT, Action.REVEAL_PII),
           lambda a, run: ["export", "--jsonl", str(a.work / f"{run}.jsonl"), "--reveal"]),
    CliTry("ingest", (Action.INGEST,), lambda a, run: ["ingest", str(a.work / f"{run}-no-such-folder")],
           ok=ExitCode.USAGE, notes="passes the check, then finds no such folder (no OCR run)"),
    CliTry("watch", (Action.INGEST,), lambda a, run: ["watch", str(a.work / f"{run}-no-such-folder"), "--once"],
           ok=ExitCode.USAGE, notes="passes the check, then finds no such folder"),
    CliTry("runs", (Action.INGEST,), lambda a, _: ["runs"]),
    CliTry("worker --status", (Action.INGEST,), lambda a, _: ["worker", "--status"], ok=ExitCode.NOT_FOUND,
           notes="passes the check, then says no warm worker runs"),
    CliTry("coversheets", (Action.INGEST,),
           lambda a, run: ["coversheets", "--unit", "3-2-1201", "-o", str(a.work / f"{run}-sheet.pdf")]),
    CliTry("user list", (Action.MANAGE_USERS,), lambda a, _: ["user", "list"]),
    CliTry("audit", (Action.VIEW_AUDIT,), lambda a, _: ["audit", "--limit", "3"]),
    CliTry("keys check", (Action.MANAGE_KEYS,), lambda a, _: ["keys", "check"]),
    CliTry("backup", (Action.BACKUP_RESTORE,), lambda a, run: ["backup", str(a.work / f"{run}-backup")]),
    CliTry("restore --verify-only", (Action.BACKUP_RESTORE,),
           lambda a, run: ["restore", str(a.work / f"{run}-no-backup"), "--verify-only"],
           ok=ExitCode.INTEGRITY, notes="passes the check, then finds no backup there"),
    CliTry("gc", (Action.GC,), lambda a, _: ["gc"]),
    *(CliTry(f"loan {name}", actions, argv, ok, notes) for name, actions, argv, ok, notes in (
        ("request", (Action.REQUEST_LOAN,), lambda a, _: ["loan", "request", str(OWN_UNIT), "--purpose", "权限检查"],
         ExitCode.OK, ""),
        ("list", (Action.VIEW_LOANS,), lambda a, _: ["loan", "list", "--overdue"], ExitCode.OK, ""),
        ("list --mine", (Action.REQUEST_LOAN,), lambda a, _: ["loan", "list", "--mine"], ExitCode.OK, ""),
        ("approve", (Action.DECIDE_LOAN,), lambda a, _: ["loan", "approve", "999999"], ExitCode.NOT_FOUND,
         "passes the check, then finds no such loan"),
        ("refuse", (Action.DECIDE_LOAN,), lambda a, _: ["loan", "refuse", "999999", "--reason", "不需要"],
         ExitCode.NOT_FOUND, "passes the check, then finds no such loan"),
        ("return", (Action.REQUEST_LOAN,), lambda a, _: ["loan", "return", "999999"], ExitCode.NOT_FOUND,
         "passes the check, then finds no such loan"),
    )),
)

#: Actions no command above takes, and where they are tried instead.
WEB_ONLY: Mapping[Action, str] = {
    Action.BROWSE: "the service's pages and API",
    Action.VIEW_PAGE_IMAGE: "the service's pages and API",
    Action.CORRECT_FIELD: "the service's pages and API",
    Action.REVIEW: "the service's pages and API",
    Action.UPLOAD: "the service's pages and API",
    Action.SERVE: "`dangan serve` (it runs until stopped): the service's own tests",
}


def lend_to_borrowers(index: Index, units: Sequence[UnitRef]) -> None:
    """Approved loans of the archives of ``units``, for two days, to the user of every role that needs one.

    The access tests walk the permission matrix alone with them: a clerk, an
    auditor or the police open a document only while they hold a loan of its
    archive (rules/loans.py, tried in tests/test_loans.py).
    """
    from rules.loans import LOAN_ROLES, LoanRegister

    manager = LoanRegister.open(index, Identity(name=USERS[Role.ARCHIVE_MANAGER], role=Role.ARCHIVE_MANAGER))
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    for role in sorted(LOAN_ROLES):
        borrower = LoanRegister(index, Identity(name=USERS[role], role=role))
        for unit in units:
            manager.approve(borrower.request("权限检查", unit=unit).id, until=until)
