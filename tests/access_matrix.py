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
    CliTry("audit verify", (Action.VERIFY_AUDIT,), lambda a, _: ["audit", "verify"]),
    CliTry("audit anchor", (Action.ANCHOR_AUDIT,),
           lambda a, run: ["audit", "anchor", "--anchor-file", str(a.work / f"{run}-anchors.jsonl")]),
    CliTry("keys check", (Action.MANAGE_KEYS,), lambda a, _: ["keys", "check"]),
    CliTry("backup", (Action.BACKUP_RESTORE,), lambda a, run: ["backup", str(a.work / f"{run}-backup")]),
    CliTry("restore --verify-only", (Action.BACKUP_RESTORE,),
           lambda a, run: ["restore", str(a.work / f"{run}-no-backup"), "--verify-only"],
           ok=ExitCode.INTEGRITY, notes="passes the check, then finds no backup there"),
    CliTry("gc", (Action.GC,), lambda a, _: ["gc"]),
    CliTry("request add", (Action.REGISTER_REQUEST,),
           lambda a, _: ["request", "add", str(OWN_UNIT), "--kind", "copy", "--requester", "王伟"]),
    CliTry("request list", (Action.VIEW_REQUESTS,), lambda a, _: ["request", "list", "--overdue"]),
    CliTry("request close", (Action.CLOSE_REQUEST,), lambda a, _: ["request", "close", "999999", "--answer"],
           ok=ExitCode.NOT_FOUND, notes="passes the check, then finds no such request"),
    CliTry("subject-export", (Action.SUBJECT_EXPORT,),
           lambda a, run: ["subject-export", str(OWN_UNIT), "-o", str(a.work / f"{run}.zip")]),
    CliTry("reconcile", (Action.RECONCILE,),
           lambda a, run: ["reconcile", "--no-objects", "--out", str(a.work / f"{run}-reports")]),
    CliTry("catalogue", (Action.PRINT_CATALOGUE,),
           lambda a, run: ["catalogue", "--out", str(a.work / f"{run}-catalogue.pdf")]),
    CliTry("labels", (Action.PRINT_CATALOGUE,),
           lambda a, run: ["labels", str(OWN_UNIT), "--out", str(a.work / f"{run}-labels.pdf")]),
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
    # Owner change, retention, legal holds and destruction: a unit with no archive and numbers no record has, so
    # that the try only proves the check was passed and changes nothing.
    CliTry("owner-change", (Action.OWNER_CHANGE,), lambda a, _: ["owner-change", "9-9-909"], ok=ExitCode.NOT_FOUND,
           notes="passes the check, then finds no archive of the unit"),
    CliTry("retention list", (Action.VIEW_RETENTION,), lambda a, _: ["retention", "list", "--due"]),
    CliTry("hold list", (Action.VIEW_RETENTION,), lambda a, _: ["hold", "list"]),
    CliTry("hold place", (Action.LEGAL_HOLD,), lambda a, _: ["hold", "place", "9-9-909", "--reason", "权限检查"],
           ok=ExitCode.NOT_FOUND, notes="passes the check, then finds no archive of the unit"),
    CliTry("hold release", (Action.LEGAL_HOLD,), lambda a, _: ["hold", "release", "999999"], ok=ExitCode.NOT_FOUND,
           notes="passes the check, then finds no such hold"),
    CliTry("destroy request", (Action.REQUEST_DESTRUCTION,),
           lambda a, _: ["destroy", "request", "9-9-909", "--reason", "权限检查"], ok=ExitCode.NOT_FOUND,
           notes="passes the check, then finds no archive of the unit"),
    CliTry("destroy approve", (Action.APPROVE_DESTRUCTION,), lambda a, _: ["destroy", "approve", "999999"],
           ok=ExitCode.NOT_FOUND, notes="passes the check, then finds no such request"),
    CliTry("destroy run", (Action.APPROVE_DESTRUCTION,), lambda a, _: ["destroy", "run", "999999"],
           ok=ExitCode.NOT_FOUND, notes="passes the check, then finds no such request"),
    CliTry("destroy list", (Action.VIEW_DESTRUCTIONS,), lambda a, _: ["destroy", "list"]),
)

#: A valid ID number no document names (a person lookup that finds no one still takes its action).
SOME_ID_NUMBER = "11010519491231002X"
#: Unit archives and the people they name (rules/people.py) on the command line.
PEOPLE_TRIES: tuple[CliTry, ...] = (
    CliTry("archive show", (Action.VIEW_DOCUMENT,), lambda a, _: ["archive", "show", str(OWN_UNIT)]),
    CliTry("archive show --reveal", (Action.VIEW_DOCUMENT, Action.REVEAL_PII),
           lambda a, _: ["archive", "show", str(OWN_UNIT), "--reveal", "--json"]),
    CliTry("person", (Action.FIND_PERSON,), lambda a, _: ["person", SOME_ID_NUMBER]),
    CliTry("person --reveal", (Action.FIND_PERSON, Action.REVEAL_PII),
           lambda a, _: ["person", "--name", "王伟", "--reveal"]),
)
CLI_TRIES = (*CLI_TRIES, *PEOPLE_TRIES)

#: Actions no command above takes, and where they are tried instead.
WEB_ONLY: Mapping[Action, str] = {
    Action.BROWSE: "the service's pages and API",
    Action.VIEW_PAGE_IMAGE: "the service's pages and API",
    Action.CORRECT_FIELD: "the service's pages and API",
    Action.REVIEW: "the service's pages and API",
    Action.UPLOAD: "the service's pages and API",
    Action.SERVE: "`dangan serve` (it runs until stopped): the service's own tests",
}


@dataclass(frozen=True)
class ApiCall:
    """One call of the service's JSON API and the actions of the matrix it takes (tried by tests/test_access_api.py).

    ``path`` is fixed (the calls below need no document id); ``unit`` is the
    archive the call concerns (None: no one unit).
    """

    name: str
    actions: tuple[Action, ...]
    method: str
    path: str
    unit: UnitRef | None = None
    #: The status when the role may (a call that only proves the check was passed says so in ``notes``).
    ok: int = 200
    json: object = None
    notes: str = field(default="", compare=False)


#: The owners' requests (PIPL) through the API: the register and the owner's copy of their data.
REQUEST_API_CALLS: tuple[ApiCall, ...] = (
    ApiCall("request register", (Action.VIEW_REQUESTS,), "GET", "/api/requests?overdue=true"),
    ApiCall("request add", (Action.REGISTER_REQUEST,), "POST", "/api/requests", ok=201,
            json={"unit": str(OWN_UNIT), "kind": "see", "requester": "周敏"}),
    ApiCall("request close", (Action.CLOSE_REQUEST,), "POST", "/api/requests/999999/close", ok=404,
            json={"outcome": "answered"}, notes="passes the check, then finds no such request"),
    ApiCall("subject export", (Action.SUBJECT_EXPORT,), "POST", f"/api/subject-export/{OWN_UNIT}", OWN_UNIT,
            json={"password": "a long zip password"}),
)

#: The audit log's hash chain through the API: verifying it (anchoring is done on the command line).
AUDIT_API_CALLS: tuple[ApiCall, ...] = (
    ApiCall("audit verify", (Action.VERIFY_AUDIT,), "GET", "/api/audit/verify"),
)
#: Actions of the audit chain the API does not offer, and where they are tried instead.
AUDIT_NOT_IN_API: Mapping[Action, str] = {
    Action.ANCHOR_AUDIT: "dangan audit anchor (tests/test_access.py)",
}

#: The borrowing register (借阅登记) through the API.
LOAN_API_CALLS: tuple[ApiCall, ...] = (
    ApiCall("loan register", (Action.VIEW_LOANS,), "GET", "/api/loans?overdue=true"),
    ApiCall("my loans", (Action.REQUEST_LOAN,), "GET", "/api/loans?mine=true"),
    ApiCall("loan request", (Action.REQUEST_LOAN,), "POST", "/api/loans", ok=201,
            json={"unit": str(OWN_UNIT), "purpose": "权限检查"}),
    ApiCall("loan approve", (Action.DECIDE_LOAN,), "POST", "/api/loans/999999/approve", ok=404, json={},
            notes="passes the check, then finds no such loan"),
    ApiCall("loan refuse", (Action.DECIDE_LOAN,), "POST", "/api/loans/999999/refuse", ok=404,
            json={"reason": "不需要"}, notes="passes the check, then finds no such loan"),
    ApiCall("loan return", (Action.REQUEST_LOAN,), "POST", "/api/loans/999999/return", ok=404,
            notes="passes the check, then finds no such loan"),
)


#: Catalogues (档案目录) and folder labels through the API.
CATALOGUE_API_CALLS: tuple[ApiCall, ...] = (
    ApiCall("catalogue", (Action.PRINT_CATALOGUE,), "GET", "/api/catalogue.pdf"),
    ApiCall("labels", (Action.PRINT_CATALOGUE,), "GET", "/api/labels.pdf"),
)

#: Unit archives and the people they name through the API.
PEOPLE_API_CALLS: tuple[ApiCall, ...] = (
    ApiCall("archive", (Action.VIEW_DOCUMENT,), "GET", f"/api/archives?unit={OWN_UNIT}", OWN_UNIT),
    ApiCall("archive revealed", (Action.VIEW_DOCUMENT, Action.REVEAL_PII), "GET",
            f"/api/archives?unit={OWN_UNIT}&reveal=true", OWN_UNIT),
    ApiCall("person", (Action.FIND_PERSON,), "GET", f"/api/people?id_number={SOME_ID_NUMBER}"),
    ApiCall("person revealed", (Action.FIND_PERSON, Action.REVEAL_PII), "GET", "/api/people?name=王伟&reveal=true"),
)

#: Owner change, retention, legal holds and destruction through the API (nothing is changed: no such unit or number).
RETENTION_API_CALLS: tuple[ApiCall, ...] = (
    ApiCall("owner change", (Action.OWNER_CHANGE,), "POST", "/api/owner-change", ok=404, json={"unit": "9-9-909"},
            notes="passes the check, then finds no archive of the unit"),
    ApiCall("retention list", (Action.VIEW_RETENTION,), "GET", "/api/retention?due=true"),
    ApiCall("hold place", (Action.LEGAL_HOLD,), "POST", "/api/holds", ok=404,
            json={"archive": "9-9-909", "reason": "权限检查"}, notes="passes the check, then finds no archive"),
    ApiCall("hold release", (Action.LEGAL_HOLD,), "POST", "/api/holds/999999/release", ok=404,
            notes="passes the check, then finds no such hold"),
    ApiCall("destruction request", (Action.REQUEST_DESTRUCTION,), "POST", "/api/destructions", ok=404,
            json={"archive": "9-9-909", "reason": "权限检查"}, notes="passes the check, then finds no archive"),
    ApiCall("destruction approve", (Action.APPROVE_DESTRUCTION,), "POST", "/api/destructions/999999/approve",
            ok=404, notes="passes the check, then finds no such request"),
    ApiCall("destruction records", (Action.VIEW_DESTRUCTIONS,), "GET", "/api/destructions"),
)


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
