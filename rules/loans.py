"""The borrowing register (借阅登记): who borrows which unit archive, why, until when, and when it came back.

The company's rule: access is need to know. A clerk, an auditor or the police
and courts (``external_authority``) open the documents of a unit archive only
while they hold an approved loan of it: they request one with a purpose (查阅
目的); an archive manager (or leadership) approves it, until the end of that
day in China time unless the approver sets another due time, or refuses it
with the reason; access ends at the due time or when the loan is returned,
whichever comes first. Leadership, archive managers, an owner (their own unit)
and the local operator need no loan.

What a borrower does without a loan (by design, so that filing never waits
for an approval):

- search and browse: listings with masked values, including the short masked
  excerpts of a search hit's text (:meth:`storage.vault.Vault.page_texts`); no
  document is opened;
- the review of a document still in status ``needs_review`` (filing QA right
  after ingest): a role that reviews (a clerk) opens it, its pages and crops,
  and corrects its flagged values without a loan; once reviewed it is lent like
  any other.

Police and courts never download, export or print: the permission matrix
gives them no download or export, and their document page prints as a blank
sheet with a notice (:meth:`web.service.ArchiveService.may_print`); their
watermark names them.

:func:`require_loan` is the one check: both :class:`storage.vault.Vault`
(the command line) and :class:`web.service.ArchiveService` (pages and API) call
it after the permission matrix, before any document is opened. A refusal is
audited and raised as :class:`LoanRequired` (an ``AccessDenied``, exit 4,
HTTP 403) saying plainly what is missing and how to ask.

A loan of the paper folder too (``paper``) must come back to the archive room:
an archive manager records its return, and a paper loan not returned after its
due time is overdue (逾期未还; ``dangan loan list --overdue``, the monthly
reconciliation report). A loan without paper simply ends at its due time
(已到期): nothing is overdue.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import Engine, Select, func, inspect, or_, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from rules.requests import unit_archive
from rules.tables import LoanRow, ensure_tables
from rules.workdays import COMPANY_TZ
from schemas.errors import AccessDenied, InvalidRequest, NotFound
from schemas.models import UnitRef, estate_name, place_text
from storage.audit import scrub_text
from storage.index import Index, db_errors
from storage.tables import ArchiveRow, DocumentRow, as_utc, utcnow
from web.access import Action, Identity, Role, allowed, require

LoanStatus = Literal["requested", "approved", "refused", "returned"]
#: A loan as of now: waiting, in effect, ended at its due time, paper not back after it, refused, returned.
LoanState = Literal["requested", "active", "expired", "overdue", "refused", "returned"]

#: Roles that open a unit archive's documents only while they hold an approved loan of it.
LOAN_ROLES = frozenset({Role.CLERK, Role.AUDITOR, Role.EXTERNAL_AUTHORITY})
#: Actions that open a document (or act on one opened): the ones a loan is needed for.
LOAN_ACTIONS = frozenset({Action.VIEW_DOCUMENT, Action.VIEW_PAGE_IMAGE, Action.CORRECT_FIELD, Action.REVEAL_PII,
                          Action.DOWNLOAD_ORIGINAL})
#: What the review of a document waiting for it (``needs_review``) takes: open it, see where a value was read,
#: correct it. A role that reviews does these without a loan.
REVIEW_ACTIONS = frozenset({Action.VIEW_DOCUMENT, Action.VIEW_PAGE_IMAGE, Action.CORRECT_FIELD})

STATE_LABELS: dict[str, str] = {"requested": "待审批", "active": "借阅中", "expired": "已到期", "overdue": "逾期未还",
                                "refused": "未批准", "returned": "已归还"}
#: Longest reason for refusing kept.
MAX_REASON_CHARS = 200


class LoanRequired(AccessDenied):
    """A borrower's role may open documents, but holds no approved loan of this document's archive now."""

    code = "loan_required"

    def __init__(self, message: str, *, archive_id: str | None, place: str | None) -> None:
        super().__init__(message)
        #: The archive to borrow (None: the document is filed under no unit archive), and how it is named.
        self.archive_id = archive_id
        self.place = place


class Loan(BaseModel):
    """One loan as the register shows it."""

    model_config = ConfigDict(frozen=True)

    id: int
    archive_id: str
    #: building-unit-room, e.g. ``3-2-1201``, and the estate (小区) when known.
    unit: str
    estate: str | None
    borrower: str
    borrower_role: str
    purpose: str
    paper: bool
    status: LoanStatus
    #: As of the moment the register was read.
    state: LoanState
    requested_at: dt.datetime
    due_at: dt.datetime | None = None
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    refusal_reason: str | None = None
    returned_by: str | None = None
    returned_at: dt.datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def place(self) -> str:
        """``锦绣花园 3-2-1201`` (the unit alone when the estate is not known)."""
        return place_text(self.estate, self.unit)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def state_label(self) -> str:
        """The state in Chinese (待审批, 借阅中, 已到期, 逾期未还, 未批准, 已归还)."""
        return STATE_LABELS[self.state]


class LoanRegister:
    """The borrowing register of one archive's index, used by one identity (the command's or the request's)."""

    def __init__(self, index: Index, identity: Identity) -> None:
        self._index = index
        self._engine: Engine = index.engine
        self._write_engine: Engine = index.write_engine
        self.identity = identity

    @classmethod
    def open(cls, index: Index, identity: Identity) -> LoanRegister:
        """The register, its table created first in an index made before it existed."""
        with db_errors("create the borrowing register"):
            ensure_tables(index.write_engine)
        return cls(index, identity)

    # --- request, decide, return ------------------------------------------------------------------------

    def request(self, purpose: str, *, unit: UnitRef | None = None, estate: str | None = None,
                archive_id: str | None = None, paper: bool = False) -> Loan:
        """Ask to borrow the active archive of ``unit`` (of ``estate``), or the archive ``archive_id``, for ``purpose``.

        InvalidRequest when the same person already waits for a decision on a loan of that archive.
        """
        self._require(Action.REQUEST_LOAN)
        from web.service import check_purpose

        text = scrub_text(check_purpose(purpose))
        with db_errors("request a loan"), Session(self._write_engine, expire_on_commit=False) as s, s.begin():
            archive = self._archive(s, unit, estate, archive_id)
            waiting = s.scalar(select(LoanRow.id).where(
                LoanRow.archive_id == archive.id, LoanRow.borrower == self.identity.name,
                LoanRow.status == "requested").limit(1))
            if waiting is not None:
                raise InvalidRequest(f"Loan {waiting} of archive {archive.place} waits for a decision "
                                     "already.")
            row = LoanRow(archive_id=archive.id, estate=archive.estate, building=archive.building, unit=archive.unit,
                          room=archive.room, borrower=self.identity.name, borrower_role=str(self.identity.role),
                          purpose=text, paper=paper, status="requested", requested_at=utcnow())
            s.add(row)
            s.flush()
            loan = _loan(row, utcnow())
        self._audit("loan_request", loan, purpose=loan.purpose, paper=paper)
        return loan

    def approve(self, loan_id: int, *, until: dt.datetime | None = None) -> Loan:
        """Approve a requested loan until ``until`` (default: the end of today, China time)."""
        self._require(Action.DECIDE_LOAN)
        now = utcnow()
        due = end_of_day(now) if until is None else until.astimezone(dt.UTC)
        if due <= now:
            raise InvalidRequest(f"The due time {local_time(due)} has passed already; give a later one.")
        self._not_own(loan_id)
        with db_errors("approve a loan"), Session(self._write_engine, expire_on_commit=False) as s, s.begin():
            row = self._to_decide(s, loan_id)
            row.status, row.due_at = "approved", due
            row.decided_by, row.decided_role, row.decided_at = self.identity.name, str(self.identity.role), now
            s.flush()
            loan = _loan(row, now)
        self._audit("loan_approve", loan, due=local_time(due))
        return loan

    def refuse(self, loan_id: int, *, reason: str) -> Loan:
        """Refuse a requested loan, saying why (the borrower sees the reason)."""
        self._require(Action.DECIDE_LOAN)
        text = " ".join((reason or "").split())
        if not text:
            raise InvalidRequest("Give the reason for refusing the loan.")
        if len(text) > MAX_REASON_CHARS:
            raise InvalidRequest(f"The reason may have at most {MAX_REASON_CHARS} characters.")
        self._not_own(loan_id)
        now = utcnow()
        with db_errors("refuse a loan"), Session(self._write_engine, expire_on_commit=False) as s, s.begin():
            row = self._to_decide(s, loan_id)
            row.status, row.refusal_reason = "refused", scrub_text(text)
            row.decided_by, row.decided_role, row.decided_at = self.identity.name, str(self.identity.role), now
            s.flush()
            loan = _loan(row, now)
        self._audit("loan_refuse", loan)
        return loan

    def return_loan(self, loan_id: int) -> Loan:
        """End an approved loan now (returned).

        Its borrower may return their own loan without paper; a paper loan, or
        someone else's, is returned by a role that decides loans (the folder is back).
        """
        self._require(Action.REQUEST_LOAN)
        borrower, paper = self._peek(loan_id)
        if paper or borrower != self.identity.name:
            self._require(Action.DECIDE_LOAN)
        now = utcnow()
        with db_errors("return a loan"), Session(self._write_engine, expire_on_commit=False) as s, s.begin():
            row = self._row(s, loan_id)
            if row.status != "approved":
                raise InvalidRequest(f"Loan {loan_id} is {row.status}, not lent: there is nothing to return.")
            row.status, row.returned_by, row.returned_at = "returned", self.identity.name, now
            s.flush()
            loan = _loan(row, now)
        self._audit("loan_return", loan, late=bool(row.due_at and now > as_utc(row.due_at)))
        return loan

    # --- read -------------------------------------------------------------------------------------------

    def list_loans(self, *, open_only: bool = False, overdue_only: bool = False, mine: bool = False,
                   limit: int = 200) -> list[Loan]:
        """Loans, newest first: all, ``open`` ones (waiting, in effect, paper not back), or ``overdue`` ones.

        ``mine``: the identity's own loans (a borrower's view); the whole register needs ``view_loans``.
        """
        self._require(Action.REQUEST_LOAN if mine else Action.VIEW_LOANS)
        now = utcnow()
        stmt = select(LoanRow).order_by(LoanRow.id.desc())
        if mine:
            stmt = stmt.where(LoanRow.borrower == self.identity.name)
        if overdue_only:
            stmt = _overdue(stmt, now)
        elif open_only:
            stmt = stmt.where(or_(LoanRow.status == "requested",
                                  (LoanRow.status == "approved") & (LoanRow.due_at >= now),
                                  (LoanRow.status == "approved") & LoanRow.paper.is_(True)))
        with db_errors("read the borrowing register"), Session(self._engine) as s:
            found = [_loan(r, now) for r in s.scalars(stmt.limit(max(1, limit)))]
        self._index.audit(self.identity.name, str(self.identity.role), "view_loans",
                          detail={"loans": len(found), "open": open_only, "overdue": overdue_only, "mine": mine})
        return found

    def overdue_count(self) -> int:
        """How many paper loans are not back after their due time (for a report; not audited: it names no one)."""
        self._require(Action.VIEW_LOANS)
        stmt = _overdue(select(func.count()).select_from(LoanRow), utcnow())
        with db_errors("read the borrowing register"), Session(self._engine) as s:
            return int(s.scalar(stmt) or 0)

    # --- helpers ----------------------------------------------------------------------------------------

    def _archive(self, s: Session, unit: UnitRef | None, estate: str | None, archive_id: str | None) -> ArchiveRow:
        if archive_id is not None:
            archive = s.get(ArchiveRow, archive_id)
            if archive is None:
                raise NotFound(f"No archive with id {archive_id}.")
            return archive
        if unit is None:
            raise InvalidRequest("Name the unit whose archive to borrow (building-unit-room, e.g. 3-2-1201).")
        found = unit_archive(s, unit, estate_name(estate), required=True)
        assert found is not None
        return found

    def _row(self, s: Session, loan_id: int) -> LoanRow:
        row = s.get(LoanRow, loan_id, with_for_update=True)
        if row is None:
            raise NotFound(f"No loan with number {loan_id} in the borrowing register.")
        return row

    def _to_decide(self, s: Session, loan_id: int) -> LoanRow:
        row = self._row(s, loan_id)
        if row.status != "requested":
            raise InvalidRequest(f"Loan {loan_id} was {row.status} already, by {row.decided_by} "
                                 f"at {local_time(row.decided_at)}.")
        return row

    def _peek(self, loan_id: int) -> tuple[str, bool]:
        """The loan's borrower and whether its paper folder is out.

        Read before any write transaction, so that a refusal can be audited (on
        SQLite the audit log would wait for the write lock the transaction holds).
        """
        with db_errors("read the borrowing register"), Session(self._engine) as s:
            found = s.execute(select(LoanRow.borrower, LoanRow.paper).where(LoanRow.id == loan_id)).first()
        if found is None:
            raise NotFound(f"No loan with number {loan_id} in the borrowing register.")
        return str(found[0]), bool(found[1])

    def _not_own(self, loan_id: int) -> None:
        """Refuse (audited) deciding one's own request: a loan is decided by someone other than its borrower."""
        borrower, _ = self._peek(loan_id)
        if borrower != self.identity.name:
            return
        self._index.audit(self.identity.name, str(self.identity.role), str(Action.DECIDE_LOAN),
                          detail={"outcome": "refused", "via": self.identity.via, "reason": "own_loan",
                                  "loan": loan_id})
        raise AccessDenied(f"{_who(self.identity)} may not decide loan {loan_id}: it is their own request; "
                           "someone else who decides loans (an archive manager or leadership) does.")

    def _require(self, action: Action) -> None:
        require(self.identity, action, self._index.audit)

    def _audit(self, action: str, loan: Loan, **detail: Any) -> None:
        self._index.audit(self.identity.name, str(self.identity.role), action,
                          detail={"loan": loan.id, "archive": loan.archive_id, "unit": loan.unit,
                                  "borrower": loan.borrower, **detail})


# --- the one check -------------------------------------------------------------------------------------------


def loan_needed(identity: Identity, action: Action) -> bool:
    """Whether ``action`` by ``identity`` on a document needs an approved loan of its archive (pure)."""
    return identity.role in LOAN_ROLES and action in LOAN_ACTIONS


def require_loan(index: Index, identity: Identity, action: Action, document_id: str) -> None:
    """Return when ``identity`` may take ``action`` on the document as far as loans go; else audit and raise.

    Called after the permission matrix allowed the action. Raises
    :class:`LoanRequired` (audited as a refusal of ``action``, with the reason
    ``no_loan``) when the identity's role needs a loan and holds no approved
    loan of the document's archive that is neither past due nor returned. An
    unknown document passes: the caller's lookup says it does not exist.
    """
    refusal = loan_refusal(index, identity, action, document_id)
    if refusal is None:
        return
    detail: dict[str, Any] = {"outcome": "refused", "via": identity.via, "reason": "no_loan",
                              "archive": refusal.archive_id}
    index.audit(identity.name, str(identity.role), str(action), document_id=document_id, detail=detail)
    raise refusal


def loan_refusal(index: Index, identity: Identity, action: Action, document_id: str) -> LoanRequired | None:
    """The refusal :func:`require_loan` would raise, without auditing it (None: allowed); e.g. to pick a page."""
    if not loan_needed(identity, action):
        return None
    now = utcnow()
    with db_errors("check the borrowing register"), Session(index.engine) as s:
        doc = s.execute(select(DocumentRow.archive_id, DocumentRow.status, ArchiveRow.estate, ArchiveRow.building,
                               ArchiveRow.unit, ArchiveRow.room)
                        .outerjoin(ArchiveRow, ArchiveRow.id == DocumentRow.archive_id)
                        .where(DocumentRow.id == document_id)).first()
        if doc is None:
            return None
        archive_id, status, estate, *unit = doc
        if status == "needs_review" and action in REVIEW_ACTIONS and allowed(identity, Action.REVIEW):
            return None  # filing QA right after ingest does not wait for an approval
        if archive_id is None or unit[0] is None:
            return LoanRequired(f"{_who(identity)} may not open document {document_id}: it is filed under no unit "
                                "archive, so it cannot be lent; an archive manager files it first.",
                                archive_id=None, place=None)
        loans = [_loan(row, now) for row in _loans_of(s, index, archive_id, identity.name)]
    if any(loan.state == "active" for loan in loans):
        return None
    where = "-".join(unit)
    return LoanRequired(_no_loan_message(identity, where, estate, loans[0] if loans else None),
                        archive_id=archive_id, place=place_text(estate, where))


def _loans_of(s: Session, index: Index, archive_id: str, borrower: str) -> list[LoanRow]:
    """The borrower's loans of the archive, newest first (none when the register was never made)."""
    stmt = select(LoanRow).where(LoanRow.archive_id == archive_id, LoanRow.borrower == borrower) \
        .order_by(LoanRow.id.desc()).limit(20)
    try:
        return list(s.scalars(stmt))
    except sa_exc.DBAPIError:
        s.rollback()
        if inspect(index.engine).has_table(LoanRow.__tablename__):
            raise
        return []


def _no_loan_message(identity: Identity, unit: str, estate: str | None, latest: Loan | None) -> str:
    place = place_text(estate, unit)
    named = f" --estate {estate}" if estate else ""
    how = (f"request one with `dangan loan request {unit}{named} --purpose TEXT` or on the document's page "
           "(借阅申请), and an archive manager approves it")
    who = _who(identity)
    if latest is None:
        return f"{who} has no approved loan of archive {place}: {how}."
    if latest.status == "requested":
        return (f"{who}: loan {latest.id} of archive {place} waits for an archive manager's approval; "
                "its documents open once it is approved.")
    if latest.status == "refused":
        return (f"{who}: loan {latest.id} of archive {place} was refused ({latest.refusal_reason}); "
                f"there is no approved loan: {how}.")
    if latest.status == "returned":
        return (f"{who}: loan {latest.id} of archive {place} was returned at {local_time(latest.returned_at)}; "
                f"there is no approved loan now: {how}.")
    return (f"{who}: loan {latest.id} of archive {place} ended at its due time {local_time(latest.due_at)}; "
            f"there is no approved loan now: {how}.")


# --- time ----------------------------------------------------------------------------------------------------


def end_of_day(at: dt.datetime) -> dt.datetime:
    """The last second of ``at``'s day in China time (Asia/Shanghai), in UTC: a loan's default due time."""
    day = at.astimezone(COMPANY_TZ).date()
    return dt.datetime.combine(day, dt.time(23, 59, 59), COMPANY_TZ).astimezone(dt.UTC)


def parse_due(text: str) -> dt.datetime:
    """A due time as typed: ``YYYY-MM-DD HH:MM`` (or with ``T``, as a browser sends it), China time unless it says."""
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequest(f"{text!r} is not a time such as 2026-05-08 17:30 (China time).") from None
    return at if at.tzinfo else at.replace(tzinfo=COMPANY_TZ)


def local_time(at: dt.datetime | None) -> str:
    """``YYYY-MM-DD HH:MM`` in China time (``?`` for none)."""
    return as_utc(at).astimezone(COMPANY_TZ).strftime("%Y-%m-%d %H:%M") if at else "?"


# --- rows ----------------------------------------------------------------------------------------------------


def _overdue(stmt: Select[Any], now: dt.datetime) -> Select[Any]:
    return stmt.where(LoanRow.status == "approved", LoanRow.paper.is_(True), LoanRow.due_at < now)


def _state(row: LoanRow, now: dt.datetime) -> LoanState:
    if row.status != "approved":
        return row.status  # type: ignore[return-value]
    if row.due_at is None or as_utc(row.due_at) >= now:
        return "active"
    return "overdue" if row.paper else "expired"


def _loan(row: LoanRow, now: dt.datetime) -> Loan:
    def aware(at: dt.datetime | None) -> dt.datetime | None:
        return as_utc(at) if at else None

    return Loan(id=row.id, archive_id=row.archive_id, unit=f"{row.building}-{row.unit}-{row.room}", estate=row.estate,
                borrower=row.borrower, borrower_role=row.borrower_role, purpose=row.purpose, paper=bool(row.paper),
                status=row.status, state=_state(row, now), requested_at=as_utc(row.requested_at),  # type: ignore[arg-type]
                due_at=aware(row.due_at), decided_by=row.decided_by, decided_at=aware(row.decided_at),
                refusal_reason=row.refusal_reason, returned_by=row.returned_by, returned_at=aware(row.returned_at))


def _who(identity: Identity) -> str:
    return f"{identity.name} ({identity.role})"


