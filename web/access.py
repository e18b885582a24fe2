"""Who may do what: the one permission matrix of the archive (权限矩阵).

Every action of the API, the pages and the command line is decided here and
nowhere else: callers name the :class:`Action` they are about to take and call
:func:`require`, which audits a refusal before raising ``AccessDenied``.

Plain Python (no web framework), so the command line imports it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from schemas.errors import AccessDenied
from schemas.models import UnitRef, estate_name


class Role(StrEnum):
    """Roles of the people (and the one machine account) that act on the archive."""

    LEADERSHIP = "leadership"  # 公司领导: reads everything, full ID numbers and phones
    ARCHIVE_MANAGER = "archive_manager"  # 档案管理员: keeps the archive, manages users
    CLERK = "clerk"  # 前台/客服: files, finds and corrects; masked values only
    AUDITOR = "auditor"  # 审计: reads the audit log and what it refers to, masked
    EXTERNAL_AUTHORITY = "external_authority"  # 公安/法院: views only, never takes a copy
    OWNER = "owner"  # 业主: their own unit's archive only
    LOCAL_OPERATOR = "local_operator"  # the OS account that owns DANGAN_HOME and its master key


#: Roles a person can be given (``dangan user add --role``); the local operator is built in.
USER_ROLES: tuple[Role, ...] = tuple(r for r in Role if r is not Role.LOCAL_OPERATOR)


class Action(StrEnum):
    """Everything someone can do to the archive, as the permission matrix names it."""

    SEARCH = "search"
    BROWSE = "browse"  # estate → building → unit → archive
    VIEW_DOCUMENT = "view_document"  # fields (masked), status, issues
    VIEW_PAGE_IMAGE = "view_page_image"  # a page rendered from the original, watermarked
    REVEAL_PII = "reveal_pii"  # full ID numbers and phones
    DOWNLOAD_ORIGINAL = "download_original"  # the decrypted original file
    EXPORT = "export"  # every document as JSON lines
    CORRECT_FIELD = "correct_field"
    REVIEW = "review"  # the needs_review list
    UPLOAD = "upload"  # one scan into an archive from the page
    INGEST = "ingest"  # batches from drop folders, watchers, cover sheets, run reports
    MANAGE_USERS = "manage_users"
    VIEW_AUDIT = "view_audit"
    VERIFY_AUDIT = "verify_audit"  # walk the audit log's hash chain and check its anchors
    ANCHOR_AUDIT = "anchor_audit"  # write the audit chain's head to the anchor file
    MANAGE_KEYS = "manage_keys"
    BACKUP_RESTORE = "backup_restore"
    GC = "gc"  # objects no index row refers to
    SERVE = "serve"  # run the archive service itself (it reads the master key)
    # Owners' requests under PIPL (个人信息权利请求, rules/requests.py) and their copy (rules/subject_export.py).
    REGISTER_REQUEST = "register_request"
    VIEW_REQUESTS = "view_requests"
    CLOSE_REQUEST = "close_request"  # answer or refuse a request
    SUBJECT_EXPORT = "subject_export"  # an owner's copy: originals and data, revealed, in an encrypted ZIP
    RECONCILE = "reconcile"  # check every archive's completeness and every stored object (每月校对)
    # The borrowing register (借阅登记, rules/loans.py): clerks, auditors, police and courts open an archive's
    # documents only while they hold an approved loan of it.
    REQUEST_LOAN = "request_loan"  # ask to borrow an archive; see and return one's own loans
    DECIDE_LOAN = "decide_loan"  # approve or refuse a request; record any loan's return
    VIEW_LOANS = "view_loans"  # the whole register
    PRINT_CATALOGUE = "print_catalogue"  # catalogues (档案目录) and folder labels as PDF (rules/catalogue.py)
    # Unit archives and the people they name (rules/people.py): where a person's data is, by ID number or name.
    FIND_PERSON = "find_person"
    # Owner change, retention and destruction (rules/retention.py, rules/destruction.py).
    OWNER_CHANGE = "owner_change"  # set a unit's archive aside and open one for the new owner (业主变更)
    VIEW_RETENTION = "view_retention"  # the set-aside archives, their retention and holds, what is due
    LEGAL_HOLD = "legal_hold"  # place or release a legal hold (it blocks destruction)
    REQUEST_DESTRUCTION = "request_destruction"
    APPROVE_DESTRUCTION = "approve_destruction"  # approve (four eyes) and carry out a destruction
    VIEW_DESTRUCTIONS = "view_destructions"  # the destruction records and requests


_READ = frozenset({Action.SEARCH, Action.BROWSE, Action.VIEW_DOCUMENT, Action.VIEW_PAGE_IMAGE})
_FILE = frozenset({Action.CORRECT_FIELD, Action.REVIEW, Action.UPLOAD, Action.INGEST})
_KEEP = frozenset({Action.REVEAL_PII, Action.DOWNLOAD_ORIGINAL, Action.EXPORT, Action.MANAGE_USERS,
                   Action.VIEW_AUDIT, Action.RECONCILE, Action.VERIFY_AUDIT, Action.ANCHOR_AUDIT})
_REQUESTS = frozenset({Action.REGISTER_REQUEST, Action.VIEW_REQUESTS, Action.CLOSE_REQUEST, Action.SUBJECT_EXPORT})
_LOANS = frozenset({Action.REQUEST_LOAN, Action.DECIDE_LOAN, Action.VIEW_LOANS})
#: Looking a person up across archives: staff who file, find and check; not police or courts (they view one
#: archive with approval), not owners (other archives are not theirs).
_PEOPLE = frozenset({Action.FIND_PERSON})
_RETAIN = frozenset({Action.OWNER_CHANGE, Action.VIEW_RETENTION, Action.LEGAL_HOLD, Action.REQUEST_DESTRUCTION,
                     Action.VIEW_DESTRUCTIONS})

#: The one matrix: what each role may do. Read it as the company's access rules:
#: need to know; full ID numbers and phones for leadership and archive managers only;
#: police and courts view without taking copies; an owner sees their own unit's archive
#: (and may have a copy of its originals); keys, backups and clean-up belong to the
#: machine account that holds the master key. Owners' requests (PIPL) are registered by the front
#: desk too, answered (and the owner's copy exported) by leadership and archive managers, read by auditors.
#: Staff borrow an archive (借阅) with a manager's approval; auditors read the borrowing register.
#: Catalogues and folder labels are the archive room's working papers: printed by the staff who keep the
#: folders (leadership, archive managers, clerks); police and courts never print, owners see their archive online.
#: An owner change, legal holds and destruction requests are for leadership and archive managers; a
#: destruction is approved (and carried out) by an archive manager other than the one who asked; auditors read
#: the retention list and the destruction records.
PERMISSIONS: Mapping[Role, frozenset[Action]] = MappingProxyType({
    Role.LEADERSHIP: _READ | _FILE | _KEEP | _REQUESTS | _LOANS | _PEOPLE | _RETAIN | {Action.PRINT_CATALOGUE},
    Role.ARCHIVE_MANAGER: _READ | _FILE | _KEEP | _REQUESTS | _LOANS | _PEOPLE | _RETAIN
                          | {Action.PRINT_CATALOGUE, Action.APPROVE_DESTRUCTION},
    Role.CLERK: _READ | _FILE | _PEOPLE | {Action.REGISTER_REQUEST, Action.REQUEST_LOAN, Action.PRINT_CATALOGUE},
    Role.AUDITOR: _READ | _PEOPLE | {Action.VIEW_AUDIT, Action.VIEW_REQUESTS, Action.VERIFY_AUDIT,
                                     Action.REQUEST_LOAN, Action.VIEW_LOANS, Action.VIEW_RETENTION,
                                     Action.VIEW_DESTRUCTIONS},
    Role.EXTERNAL_AUTHORITY: _READ | {Action.REQUEST_LOAN},
    Role.OWNER: _READ | {Action.DOWNLOAD_ORIGINAL},
    Role.LOCAL_OPERATOR: frozenset(Action),
})

#: Roles limited to one unit's archive (their ``Identity.unit``).
UNIT_BOUND_ROLES = frozenset({Role.OWNER})
#: Actions over many archives at once: a unit-bound role may take them, limited to its unit
#: (see :func:`unit_scope`); every other action of a unit-bound role must name its unit.
LISTING_ACTIONS = frozenset({Action.SEARCH, Action.BROWSE})

Via = Literal["session", "password", "token", "local_operator"]


@dataclass(frozen=True)
class Identity:
    """Who acts: a signed-in user, a script's token, or the built-in local operator."""

    name: str
    role: Role
    #: An owner's own unit; None for every other role.
    unit: UnitRef | None = None
    #: How the identity was proven.
    via: Via = "password"


def local_operator(login: str | None = None) -> Identity:
    """The built-in local operator acting through the OS account ``login`` (audited as ``local:<login>``).

    Without ``login``: the account running this process.
    """
    return Identity(name=f"local:{login or os_login()}", role=Role.LOCAL_OPERATOR, via="local_operator")


def os_login() -> str:
    """The login name of the OS account running this process."""
    import getpass
    import os

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return f"uid{os.geteuid()}"


def allowed(identity: Identity, action: Action, *, unit: UnitRef | None = None) -> bool:
    """True when ``identity`` may take ``action`` (on the archive of ``unit``, when it concerns one).

    A unit-bound role (an owner) may act only on its own unit: a document
    action with no unit, or another unit, is refused; a listing (search,
    browse) without a unit is allowed and must be limited to :func:`unit_scope`.
    """
    if action not in PERMISSIONS.get(identity.role, frozenset()):
        return False
    if identity.role not in UNIT_BOUND_ROLES:
        return True
    if identity.unit is None:
        return False
    if unit is None:
        return action in LISTING_ACTIONS
    return same_unit(unit, identity.unit)


def unit_scope(identity: Identity) -> UnitRef | None:
    """The unit every listing for ``identity`` must be limited to (None: no limit)."""
    return identity.unit if identity.role in UNIT_BOUND_ROLES else None


def require(identity: Identity, action: Action, audit: Callable[..., None], *, unit: UnitRef | None = None,
            document_id: str | None = None) -> None:
    """Return when ``identity`` may take ``action``; otherwise audit the refusal and raise AccessDenied.

    ``audit`` is called like ``Index.audit(actor, role, action, document_id=..., detail=...)``.
    """
    if allowed(identity, action, unit=unit):
        return
    detail: dict[str, Any] = {"outcome": "refused", "via": identity.via}
    if unit is not None:
        detail["unit"] = str(unit)
    audit(identity.name, str(identity.role), str(action), document_id=document_id, detail=detail)
    raise AccessDenied(refusal_message(identity, action, unit=unit))


def refusal_message(identity: Identity, action: Action, *, unit: UnitRef | None = None) -> str:
    """Why ``identity`` may not take ``action``, and who may, in plain words."""
    if action in PERMISSIONS.get(identity.role, frozenset()) and identity.role in UNIT_BOUND_ROLES:
        own = f"unit {identity.unit}" if identity.unit else "no unit on record"
        # The other archive's unit is never named: it would tell an owner whose archive the document is.
        return (f"{identity.name} ({identity.role}) may {_WORDS[action]} only for their own unit ({own}); "
                "this is not in that unit's archive.")
    who = [str(r) for r in Role if action in PERMISSIONS[r] and r is not Role.LOCAL_OPERATOR]
    if who:
        whom = f"ask someone whose role is {' or '.join(who) if len(who) < 3 else ', '.join(who)}"
    else:
        whom = "only the local operator (the OS account that owns the archive and its master key) may"
    return f"{identity.name} ({identity.role}) may not {_WORDS[action]}; {whom}."


def same_unit(unit: UnitRef, own: UnitRef) -> bool:
    """``unit`` is the owner's own unit ``own``: the same building, unit and room, and estate when theirs is known.

    An owner recorded without an estate (a company with one estate) matches the unit in any estate.
    """
    if (unit.building, unit.unit, unit.room) != (own.building, own.unit, own.room):
        return False
    return own.estate is None or estate_name(unit.estate) == estate_name(own.estate)


#: What each action is, in words a refusal can use ("may not ...").
_WORDS: Mapping[Action, str] = MappingProxyType({
    Action.SEARCH: "search the archive",
    Action.BROWSE: "browse the archive",
    Action.VIEW_DOCUMENT: "view documents",
    Action.VIEW_PAGE_IMAGE: "view page images",
    Action.REVEAL_PII: "see full ID numbers and phones",
    Action.DOWNLOAD_ORIGINAL: "download originals",
    Action.EXPORT: "export the archive",
    Action.CORRECT_FIELD: "correct field values",
    Action.REVIEW: "review documents that need checking",
    Action.UPLOAD: "upload scans",
    Action.INGEST: "ingest scans",
    Action.MANAGE_USERS: "manage users",
    Action.VIEW_AUDIT: "read the audit log",
    Action.VERIFY_AUDIT: "verify the audit log",
    Action.ANCHOR_AUDIT: "anchor the audit log",
    Action.MANAGE_KEYS: "manage the master key",
    Action.BACKUP_RESTORE: "back up or restore the archive",
    Action.GC: "clean up the object store",
    Action.SERVE: "run the archive service",
    Action.RECONCILE: "reconcile the archive (completeness and stored objects)",
    Action.REGISTER_REQUEST: "register owners' requests",
    Action.VIEW_REQUESTS: "read the register of owners' requests",
    Action.CLOSE_REQUEST: "answer or refuse owners' requests",
    Action.SUBJECT_EXPORT: "export an owner's copy of their data",
    Action.REQUEST_LOAN: "borrow archives (借阅)",
    Action.DECIDE_LOAN: "approve or refuse loans, or record the return of someone else's or a paper loan",
    Action.VIEW_LOANS: "read the whole borrowing register (their own loans are listed with --mine)",
    Action.PRINT_CATALOGUE: "print archive catalogues (档案目录) or folder labels",
    Action.FIND_PERSON: "look a person up across archives (by ID number or name)",
    Action.OWNER_CHANGE: "record an owner change (业主变更)",
    Action.VIEW_RETENTION: "read the retention list of set-aside archives",
    Action.LEGAL_HOLD: "place or release legal holds",
    Action.REQUEST_DESTRUCTION: "request the destruction of an archive",
    Action.APPROVE_DESTRUCTION: "approve and carry out the destruction of an archive",
    Action.VIEW_DESTRUCTIONS: "read the destruction records",
})
