"""Owner change (业主变更), retention of set-aside archives, and legal holds.

The company's rule: owner archives are kept permanently; when the owner
changes, a new archive is opened for the new owner and the former owner's
archive is set aside (status ``set_aside``) and may be destroyed after 3
years (:mod:`rules.destruction`). A legal hold (诉讼保全) blocks destruction
while it is in force.

From the owner change on, new filings of the unit go to the new active
archive (the index files a document in the unit's active archive); the
set-aside archive keeps what it held.

Every change and every refusal is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.requests import unit_archive
from rules.retention_tables import ArchiveRetentionRow, LegalHoldRow, ensure_retention_tables
from rules.workdays import COMPANY_TZ
from schemas.errors import InvalidRequest, NotFound
from schemas.models import UnitRef, estate_name
from storage.audit import scrub_text
from storage.index import Index, db_errors
from storage.tables import ArchiveRow, DocumentRow, as_utc, utcnow
from web.access import Action, Identity, require

#: Years a former owner's archive is kept after it was set aside.
RETENTION_YEARS = 3
#: Longest note or reason kept.
MAX_TEXT_CHARS = 200
_ARCHIVE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class OwnerChange(BaseModel):
    """What an owner change did."""

    model_config = ConfigDict(frozen=True)

    unit: str
    estate: str | None
    set_aside_archive: str
    new_archive: str
    set_aside_at: dt.datetime
    retention_until: dt.datetime
    documents_set_aside: int


class SetAside(BaseModel):
    """A set-aside archive as the retention list shows it."""

    model_config = ConfigDict(frozen=True)

    archive_id: str
    unit: str
    estate: str | None
    status: str
    set_aside_at: dt.datetime | None
    retention_until: dt.datetime | None
    documents: int
    held: bool
    #: Retention passed, no legal hold, not destroyed: destruction may be approved.
    due: bool


class Hold(BaseModel):
    """A legal hold."""

    model_config = ConfigDict(frozen=True)

    id: int
    archive_id: str
    reason: str
    placed_by: str
    placed_at: dt.datetime
    released_by: str | None = None
    released_at: dt.datetime | None = None


def retention_end(set_aside_at: dt.datetime) -> dt.datetime:
    """``set_aside_at`` plus :data:`RETENTION_YEARS` years (29 February becomes 28 February)."""
    try:
        return set_aside_at.replace(year=set_aside_at.year + RETENTION_YEARS)
    except ValueError:
        return set_aside_at.replace(year=set_aside_at.year + RETENTION_YEARS, day=28)


def kept_until(retention: ArchiveRetentionRow | None, archive: ArchiveRow) -> dt.datetime | None:
    """When a set-aside archive's retention ends (None: it was never closed).

    As recorded at its owner change, else 3 years after it was closed (an archive set aside before
    retention was recorded).
    """
    if retention is not None:
        return as_utc(retention.retention_until)
    return retention_end(as_utc(archive.closed_at)) if archive.closed_at else None


def day_start(day: dt.date) -> dt.datetime:
    """The first moment of ``day`` in China time, in UTC."""
    return dt.datetime.combine(day, dt.time(0, 0), COMPANY_TZ).astimezone(dt.UTC)


def clean_text(text: str | None, what: str, *, required: bool) -> str | None:
    """A note or reason as kept: one line, at most :data:`MAX_TEXT_CHARS`, ID numbers and phones masked."""
    value = " ".join((text or "").split())
    if not value:
        if required:
            raise InvalidRequest(f"Give the {what}.")
        return None
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidRequest(f"The {what} may have at most {MAX_TEXT_CHARS} characters.")
    return scrub_text(value)


class Retention:
    """Owner changes, the retention list and legal holds of one archive's index, used by one identity."""

    def __init__(self, index: Index, identity: Identity) -> None:
        self._index = index
        self.identity = identity

    @classmethod
    def open(cls, index: Index, identity: Identity) -> Retention:
        """The rules, their tables created first in an index made before them."""
        with db_errors("create the retention tables"):
            ensure_retention_tables(index.write_engine)
        return cls(index, identity)

    # --- owner change -----------------------------------------------------------------------------------

    def owner_change(self, unit: UnitRef, *, estate: str | None = None, on: dt.date | None = None,
                     note: str | None = None, now: dt.datetime | None = None) -> OwnerChange:
        """Set the unit's active archive aside (retention 3 years from ``on``) and open a new one.

        ``on`` is the day of the change (default today, China time); it may not be in the future.
        """
        require(self.identity, Action.OWNER_CHANGE, self._index.audit)
        now = now or utcnow()
        day = on or now.astimezone(COMPANY_TZ).date()
        if day > now.astimezone(COMPANY_TZ).date():
            raise InvalidRequest(f"The owner change date {day} is in the future.")
        text = clean_text(note, "note", required=False)
        at = day_start(day)
        with db_errors("record an owner change"), Session(self._index.write_engine, expire_on_commit=False) as s, \
                s.begin():
            old = unit_archive(s, unit, estate_name(estate), required=True)
            assert old is not None
            documents = len(list(s.scalars(select(DocumentRow.id).where(DocumentRow.archive_id == old.id))))
            old.status, old.closed_at = "set_aside", at
            s.flush()
            new = ArchiveRow(id=str(uuid.uuid4()), building=old.building, unit=old.unit, room=old.room,
                             estate=old.estate, status="active", opened_at=at)
            s.add(new)
            until = retention_end(at)
            s.add(ArchiveRetentionRow(archive_id=old.id, successor_id=new.id, set_aside_at=at, retention_until=until,
                                      note=text, set_aside_by=self.identity.name,
                                      set_aside_role=str(self.identity.role)))
            s.flush()
            change = OwnerChange(unit=f"{old.building}-{old.unit}-{old.room}", estate=old.estate,
                                 set_aside_archive=old.id, new_archive=new.id, set_aside_at=at,
                                 retention_until=until, documents_set_aside=documents)
        self._audit("owner_change", archive=change.set_aside_archive, new_archive=change.new_archive,
                    unit=change.unit, on=day.isoformat(), retention_until=until.date().isoformat(),
                    documents=documents, note=text)
        return change

    # --- retention list ---------------------------------------------------------------------------------

    def set_aside(self, *, due_only: bool = False, now: dt.datetime | None = None) -> list[SetAside]:
        """Set-aside archives (oldest retention end first); ``due_only``: retention passed and no hold."""
        require(self.identity, Action.VIEW_RETENTION, self._index.audit)
        found = self.listing(now=now)
        if due_only:
            found = [a for a in found if a.due]
        self._audit("view_retention", archives=len(found), due_only=due_only)
        return found

    def listing(self, *, now: dt.datetime | None = None) -> list[SetAside]:
        """The retention list without a permission check or audit (for the flow that writes the report)."""
        now = now or utcnow()
        with db_errors("read the retention list"), Session(self._index.engine) as s:
            archives = list(s.scalars(select(ArchiveRow).where(ArchiveRow.status.in_(("set_aside", "destroyed")))))
            ids = [a.id for a in archives]
            retention = {r.archive_id: r for r in s.scalars(select(ArchiveRetentionRow)
                                                            .where(ArchiveRetentionRow.archive_id.in_(ids)))}
            held = set(s.scalars(select(LegalHoldRow.archive_id).where(LegalHoldRow.archive_id.in_(ids),
                                                                       LegalHoldRow.released_at.is_(None))))
            counts: dict[str, int] = {}
            for archive_id in s.scalars(select(DocumentRow.archive_id).where(DocumentRow.archive_id.in_(ids))):
                counts[archive_id or ""] = counts.get(archive_id or "", 0) + 1
        rows = []
        for a in archives:
            r = retention.get(a.id)
            set_at = as_utc(r.set_aside_at) if r else (as_utc(a.closed_at) if a.closed_at else None)
            until = kept_until(r, a)
            due = a.status == "set_aside" and until is not None and until <= now and a.id not in held
            rows.append(SetAside(archive_id=a.id, unit=f"{a.building}-{a.unit}-{a.room}", estate=a.estate,
                                 status=a.status, set_aside_at=set_at, retention_until=until,
                                 documents=counts.get(a.id, 0), held=a.id in held, due=due))
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        return sorted(rows, key=lambda r: (r.retention_until or far, r.archive_id))

    # --- legal holds ------------------------------------------------------------------------------------

    def place_hold(self, target: str, *, reason: str, estate: str | None = None) -> Hold:
        """Place a legal hold on an archive (its id, or a unit: its active or only set-aside archive)."""
        require(self.identity, Action.LEGAL_HOLD, self._index.audit)
        text = clean_text(reason, "reason for the hold", required=True)
        assert text is not None
        with db_errors("place a legal hold"), Session(self._index.write_engine, expire_on_commit=False) as s, \
                s.begin():
            archive = find_archive(s, target, estate)
            if archive.status == "destroyed":
                raise InvalidRequest(f"Archive {archive.id} was destroyed already.")
            row = LegalHoldRow(archive_id=archive.id, reason=text, placed_by=self.identity.name,
                               placed_role=str(self.identity.role), placed_at=utcnow())
            s.add(row)
            s.flush()
            hold = _hold(row)
        self._audit("legal_hold_place", hold=hold.id, archive=hold.archive_id, reason=text)
        return hold

    def release_hold(self, hold_id: int) -> Hold:
        """Release a legal hold in force."""
        require(self.identity, Action.LEGAL_HOLD, self._index.audit)
        with db_errors("release a legal hold"), Session(self._index.write_engine, expire_on_commit=False) as s, \
                s.begin():
            row = s.get(LegalHoldRow, hold_id, with_for_update=True)
            if row is None:
                raise NotFound(f"No legal hold {hold_id}.")
            if row.released_at is not None:
                raise InvalidRequest(f"Legal hold {hold_id} was released already, by {row.released_by}.")
            row.released_by, row.released_at = self.identity.name, utcnow()
            s.flush()
            hold = _hold(row)
        self._audit("legal_hold_release", hold=hold.id, archive=hold.archive_id)
        return hold

    def holds(self, *, in_force: bool = True) -> list[Hold]:
        """Legal holds, newest first (``in_force``: not released)."""
        require(self.identity, Action.VIEW_RETENTION, self._index.audit)
        stmt = select(LegalHoldRow).order_by(LegalHoldRow.id.desc())
        if in_force:
            stmt = stmt.where(LegalHoldRow.released_at.is_(None))
        with db_errors("read the legal holds"), Session(self._index.engine) as s:
            return [_hold(r) for r in s.scalars(stmt)]

    def _audit(self, action: str, **detail: Any) -> None:
        self._index.audit(self.identity.name, str(self.identity.role), action, detail=detail)


def find_archive(s: Session, target: str, estate: str | None = None) -> ArchiveRow:
    """The archive ``target`` names: its id, or a unit (its one set-aside archive, else its active one).

    InvalidRequest when a unit has several set-aside archives (name the archive by its id).
    """
    target = target.strip()
    if _ARCHIVE_ID.match(target):
        archive = s.get(ArchiveRow, target)
        if archive is None:
            raise NotFound(f"No archive with id {target}.")
        return archive
    from schemas.validators import require_unit_ref

    unit = require_unit_ref(target)
    stmt = select(ArchiveRow).where(ArchiveRow.building == unit.building, ArchiveRow.unit == unit.unit,
                                    ArchiveRow.room == unit.room, ArchiveRow.status == "set_aside")
    if estate_name(estate) is not None:
        stmt = stmt.where(ArchiveRow.estate == estate_name(estate))
    aside = list(s.scalars(stmt))
    if len(aside) > 1:
        raise InvalidRequest(f"Unit {unit} has {len(aside)} set-aside archives ({', '.join(a.id for a in aside)}); "
                             "name one by its id.")
    if aside:
        return aside[0]
    found = unit_archive(s, unit, estate_name(estate), required=True)
    assert found is not None
    return found


def _hold(row: LegalHoldRow) -> Hold:
    return Hold(id=row.id, archive_id=row.archive_id, reason=row.reason, placed_by=row.placed_by,
                placed_at=as_utc(row.placed_at), released_by=row.released_by,
                released_at=as_utc(row.released_at) if row.released_at else None)
