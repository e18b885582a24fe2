"""The register of owners' requests under PIPL (个人信息权利请求登记): see, copy, correct, delete.

An owner may see their data, have it corrected and get a copy (个人信息保护法
arts. 45-47); the company answers within 5 working days
(:mod:`rules.workdays`). A request is registered with the day it was received
and its due day; it stays ``open`` until it is ``answered`` or ``refused``
(with the reason). A request open after its due day is overdue: ``dangan
request list --overdue`` and ``GET /api/requests?overdue=true`` list them.

A ``correct`` request is answered by the corrections themselves (the review
page, ``storage.corrections``): closing it links the corrections made on the
unit's documents since the request was received (or the ones named), so the
register points at the history the corrections keep. A ``copy`` request is
answered with ``dangan subject-export`` (:mod:`rules.subject_export`). A
``delete`` request is recorded and answered like the others: owner archives
are kept permanently, and any destruction goes through the archive's
destruction procedure, never through this register.

Every call asks the permission matrix first (a refusal is audited) and is
audited under the acting identity; the audit rows name the request, its kind
and unit, never the requester. Notes and reasons are stored with ID numbers
and phones masked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from rules.tables import SubjectRequestRow, ensure_tables
from rules.workdays import COMPANY_TZ, WorkdayCalendar, company_today
from schemas.errors import InvalidRequest, NotFound
from schemas.models import UnitRef, estate_name
from storage.audit import scrub_text
from storage.corrections import CorrectionRow
from storage.index import Index, db_errors
from storage.tables import ArchiveRow, DocumentRow, as_utc, utcnow
from web.access import Action, Identity, require

RequestKind = Literal["see", "copy", "correct", "delete"]
RequestStatus = Literal["open", "answered", "refused"]

#: The kinds of request, as the register and the clerks name them.
KIND_LABELS: dict[str, str] = {"see": "查阅", "copy": "复制", "correct": "更正", "delete": "删除"}
STATUS_LABELS: dict[str, str] = {"open": "待答复", "answered": "已答复", "refused": "已拒绝"}
#: Longest requester name, note and reason kept.
MAX_NAME_CHARS = 128
MAX_NOTE_CHARS = 1000


class SubjectRequest(BaseModel):
    """One registered request, as the register shows it."""

    model_config = ConfigDict(frozen=True)

    id: int
    #: building-unit-room, e.g. ``3-2-1201``.
    unit: str
    estate: str | None
    archive_id: str | None
    requester: str
    kind: RequestKind
    received_on: dt.date
    #: The last day to answer (5 working days after ``received_on``).
    due_on: dt.date
    status: RequestStatus
    #: Open after its due day (as of the day the register was read).
    overdue: bool
    registered_by: str
    registered_at: dt.datetime
    answered_by: str | None = None
    answered_at: dt.datetime | None = None
    #: The answer given, or why the request was refused.
    outcome_note: str | None = None
    notes: str | None = None
    #: Corrections (``storage.corrections``) that answered a ``correct`` request.
    correction_ids: list[int] = []

    @property
    def unit_ref(self) -> UnitRef:
        """The unit as a reference."""
        building, unit, room = self.unit.split("-", 2)
        return UnitRef(building=building, unit=unit, room=room)


class RequestRegister:
    """The register of one archive's index, used by one identity (the command's or the request's)."""

    def __init__(self, index: Index, identity: Identity, calendar: WorkdayCalendar) -> None:
        self._index = index
        self._engine: Engine = index.engine
        self._write_engine: Engine = index.write_engine
        self.identity = identity
        self.calendar = calendar

    @classmethod
    def open(cls, index: Index, identity: Identity, calendar: WorkdayCalendar) -> RequestRegister:
        """The register, its table created first in an index made before it existed."""
        with db_errors("create the request register"):
            ensure_tables(index.write_engine)
        return cls(index, identity, calendar)

    # --- register, list, close -------------------------------------------------------------------------

    def add(self, unit: UnitRef, *, kind: str, requester: str, received: dt.date | None = None,
            estate: str | None = None, notes: str | None = None) -> SubjectRequest:
        """Register a request about ``unit`` (of ``estate``) received on ``received`` (default: today).

        Its due day is 5 working days later on the company's calendar.
        """
        self._require(Action.REGISTER_REQUEST)
        kind = _kind(kind)
        name = _text(requester, "the requester's name", MAX_NAME_CHARS, required=True)
        today = company_today()
        received = received or today
        if received > today:
            raise InvalidRequest(f"The request cannot be received on {received}, after today ({today}).")
        due = self.calendar.due_date(received)
        with db_errors("register a request"), Session(self._write_engine, expire_on_commit=False) as s, s.begin():
            archive = unit_archive(s, unit, estate, required=False)
            row = SubjectRequestRow(
                building=unit.building, unit=unit.unit, room=unit.room,
                estate=archive.estate if archive is not None else estate_name(estate),
                archive_id=archive.id if archive is not None else None, requester=name, kind=kind,
                received_on=received.isoformat(), due_on=due.isoformat(), status="open",
                registered_by=self.identity.name, registered_role=str(self.identity.role), registered_at=utcnow(),
                notes=_text(notes, "the note", MAX_NOTE_CHARS), correction_ids=[])
            s.add(row)
            s.flush()
            request = _request(row, today)
        self._audit("request_add", request, due=due.isoformat())
        return request

    def list_requests(self, *, open_only: bool = False, overdue_only: bool = False,
                      limit: int = 200) -> list[SubjectRequest]:
        """Registered requests: open ones by due day (oldest due first), else newest first (audited)."""
        self._require(Action.VIEW_REQUESTS)
        today = company_today()
        stmt = select(SubjectRequestRow)
        if open_only or overdue_only:
            stmt = stmt.where(SubjectRequestRow.status == "open").order_by(SubjectRequestRow.due_on,
                                                                           SubjectRequestRow.id)
        else:
            stmt = stmt.order_by(SubjectRequestRow.id.desc())
        if overdue_only:
            stmt = stmt.where(SubjectRequestRow.due_on < today.isoformat())
        with db_errors("read the request register"), Session(self._engine) as s:
            found = [_request(r, today) for r in s.scalars(stmt.limit(max(1, limit)))]
        self._index.audit(self.identity.name, str(self.identity.role), "view_requests",
                          detail={"requests": len(found), "open": open_only, "overdue": overdue_only})
        return found

    def overdue_count(self) -> int:
        """How many requests are open after their due day (for a report; not audited: it names no one)."""
        self._require(Action.VIEW_REQUESTS)
        stmt = select(func.count()).select_from(SubjectRequestRow).where(
            SubjectRequestRow.status == "open", SubjectRequestRow.due_on < company_today().isoformat())
        with db_errors("read the request register"), Session(self._engine) as s:
            return int(s.scalar(stmt) or 0)

    def close(self, request_id: int, *, refuse: str | None = None, answer: str | None = None,
              corrections: Sequence[int] = ()) -> SubjectRequest:
        """Answer a request (``answer``: what was given, may be empty) or refuse it (``refuse``: the reason).

        A ``correct`` request answered without ``corrections`` is linked to
        the corrections made on its unit's documents since the day it was
        received. InvalidRequest when it is not open any more, or a named
        correction is not of its unit's archive.
        """
        self._require(Action.CLOSE_REQUEST)
        refused = refuse is not None
        reason = _text(refuse, "the reason for refusing", MAX_NOTE_CHARS, required=True) if refused else None
        note = reason if refused else _text(answer, "the answer", MAX_NOTE_CHARS)
        today = company_today()
        with db_errors("close a request"), Session(self._write_engine, expire_on_commit=False) as s, s.begin():
            row = s.get(SubjectRequestRow, request_id, with_for_update=True)
            if row is None:
                raise NotFound(f"No request with number {request_id} in the register.")
            if row.status != "open":
                raise InvalidRequest(f"Request {request_id} was {row.status} already, by {row.answered_by} "
                                     f"on {_local_day(row.answered_at)}.")
            linked = [] if refused else self._corrections(s, row, corrections)
            row.status = "refused" if refused else "answered"
            row.answered_by, row.answered_role = self.identity.name, str(self.identity.role)
            row.answered_at, row.outcome_note, row.correction_ids = utcnow(), note, linked
            s.flush()
            request = _request(row, today)
        self._audit("request_close", request, outcome=request.status, late=today > request.due_on,
                    corrections=linked)
        return request

    # --- helpers ---------------------------------------------------------------------------------------

    def _corrections(self, s: Session, row: SubjectRequestRow, named: Sequence[int]) -> list[int]:
        """The corrections answering a request: the ones named (checked), or those made since it was received."""
        if row.kind != "correct" and not named:
            return []
        docs = select(DocumentRow.id).join(ArchiveRow, DocumentRow.archive_id == ArchiveRow.id).where(
            ArchiveRow.building == row.building, ArchiveRow.unit == row.unit, ArchiveRow.room == row.room)
        if row.archive_id is not None:
            docs = docs.where(ArchiveRow.id == row.archive_id)
        stmt = select(CorrectionRow.id).where(CorrectionRow.document_id.in_(docs))
        if named:
            wanted = sorted(set(named))
            found = set(s.scalars(stmt.where(CorrectionRow.id.in_(wanted))))
            missing = [str(i) for i in wanted if i not in found]
            if missing:
                raise InvalidRequest(f"Correction(s) {', '.join(missing)} were not made on the documents of unit "
                                     f"{row.building}-{row.unit}-{row.room}.")
            return wanted
        since = dt.datetime.combine(dt.date.fromisoformat(row.received_on), dt.time(), COMPANY_TZ).astimezone(dt.UTC)
        return list(s.scalars(stmt.where(CorrectionRow.at >= since).order_by(CorrectionRow.id)))

    def _require(self, action: Action) -> None:
        require(self.identity, action, self._index.audit)

    def _audit(self, action: str, request: SubjectRequest, **detail: Any) -> None:
        self._index.audit(self.identity.name, str(self.identity.role), action,
                          detail={"request": request.id, "kind": request.kind, "unit": request.unit, **detail})


def read_request(index: Index, request_id: int) -> SubjectRequest:
    """One request, for a caller that has checked its own action (the subject export); NotFound if none."""
    with db_errors("read the request register"), Session(index.engine) as s:
        row = s.get(SubjectRequestRow, request_id)
        if row is None:
            raise NotFound(f"No request with number {request_id} in the register.")
        return _request(row, company_today())


def unit_archive(s: Session, unit: UnitRef, estate: str | None, *, required: bool) -> ArchiveRow | None:
    """The active archive of ``unit`` (of ``estate``, when named); None, or NotFound when ``required``.

    InvalidRequest when the unit has active archives in several estates and
    none is named: the register must not guess whose data it is.
    """
    stmt = select(ArchiveRow).where(ArchiveRow.building == unit.building, ArchiveRow.unit == unit.unit,
                                    ArchiveRow.room == unit.room, ArchiveRow.status == "active")
    estate = estate_name(estate)
    if estate is not None:
        stmt = stmt.where(ArchiveRow.estate == estate)
    found = list(s.scalars(stmt))
    if len(found) > 1:
        estates = ", ".join(sorted(a.estate or "(no estate)" for a in found))
        raise InvalidRequest(f"Unit {unit} has archives in several estates ({estates}); name the estate (小区).")
    if not found and required:
        where = f"{estate} {unit}" if estate else str(unit)
        raise NotFound(f"No active archive of unit {where}.")
    return found[0] if found else None


def _request(row: SubjectRequestRow, today: dt.date) -> SubjectRequest:
    due = dt.date.fromisoformat(row.due_on)
    return SubjectRequest(
        id=row.id, unit=f"{row.building}-{row.unit}-{row.room}", estate=row.estate, archive_id=row.archive_id,
        requester=row.requester, kind=row.kind, received_on=dt.date.fromisoformat(row.received_on),  # type: ignore[arg-type]
        due_on=due, status=row.status, overdue=row.status == "open" and today > due,  # type: ignore[arg-type]
        registered_by=row.registered_by, registered_at=as_utc(row.registered_at), answered_by=row.answered_by,
        answered_at=as_utc(row.answered_at) if row.answered_at else None, outcome_note=row.outcome_note,
        notes=row.notes, correction_ids=list(row.correction_ids or []))


def _kind(kind: str) -> str:
    if kind not in KIND_LABELS:
        raise InvalidRequest(f"A request is one of {', '.join(KIND_LABELS)}, not {kind!r}.")
    return kind


def _text(value: str | None, what: str, limit: int, *, required: bool = False) -> str | None:
    """``value`` on one line with ID numbers and phones masked; None when empty (InvalidRequest if required)."""
    text = " ".join((value or "").split())
    if not text:
        if required:
            raise InvalidRequest(f"Give {what}.")
        return None
    if len(text) > limit:
        raise InvalidRequest(f"{what[0].upper()}{what[1:]} may have at most {limit} characters.")
    return scrub_text(text)




def _local_day(at: dt.datetime | None) -> str:
    return as_utc(at).astimezone(COMPANY_TZ).date().isoformat() if at else "?"
