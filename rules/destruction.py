"""Destruction of a set-aside archive (档案销毁): requested, approved by an archive manager, carried out, recorded.

Rules: an archive is destroyed only when it was set aside at an owner change
(:mod:`rules.retention`), its retention (3 years) has passed, no legal hold is
in force, and an archive manager other than the person who asked approved it
(four eyes). Files of the archive that also hold documents of another archive
are not destroyed: the request is refused until they are re-filed.

How (``crypto-shred + object deletion``): the keyring entries of its files are
erased first (:mod:`storage.keyring`): from that moment no copy of the index,
the bucket or a backup taken before can open their objects or their field
values. Then their data keys are erased in the index, their objects deleted
from the store, and their rows deleted; the destruction record (what, when,
how, requested, approved and carried out by whom) is written when the
destruction starts and completed in the transaction that deletes the rows,
with one audit event per document and one for the archive. The record and the
audit log are never deleted.

Crash-safe: a destruction interrupted at any step is finished by running it
again (``dangan destroy run ID`` or approving again); every step is idempotent,
nothing half-done stays readable once the keyring entries are gone, and the
record exists once (unique per request).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rules.retention import clean_text, find_archive, kept_until
from rules.retention_tables import (
    ArchiveRetentionRow,
    DestructionRecordRow,
    DestructionRequestRow,
    LegalHoldRow,
    ensure_retention_tables,
)
from schemas.errors import AccessDenied, InvalidRequest, NotFound
from storage.index import Index, db_errors, delete_file_rows
from storage.objects import ObjectStore
from storage.tables import (
    ArchiveRow,
    DataKeyRow,
    DocumentRow,
    FileRow,
    as_utc,
    utcnow,
)
from web.access import Action, Identity, require

METHOD = "crypto-shred + object deletion"


class DestructionRefused(AccessDenied):
    """A destruction the archive's rules do not allow now (not due, held, not set aside, one's own request ...)."""

    code = "destruction_refused"


class DestructionRequest(BaseModel):
    """A request to destroy an archive."""

    model_config = ConfigDict(frozen=True)

    id: int
    archive_id: str
    reason: str
    status: str
    requested_by: str
    requested_at: dt.datetime
    approved_by: str | None = None
    approved_at: dt.datetime | None = None


class DestructionRecord(BaseModel):
    """A destruction record (销毁记录): what, when, how, by whom, approved by whom."""

    model_config = ConfigDict(frozen=True)

    id: int
    request_id: int
    archive_id: str
    unit: str
    estate: str | None
    documents: int
    doc_types: dict[str, int]
    sha256s: list[str]
    legacy_files: int
    method: str
    residual: str | None
    status: str
    reason: str
    requested_by: str
    approved_by: str
    executed_by: str
    started_at: dt.datetime
    executed_at: dt.datetime | None


class Destruction:
    """Destruction requests, approvals, their execution and the records, for one identity."""

    def __init__(self, index: Index, store: ObjectStore, identity: Identity) -> None:
        self._index = index
        self._store = store
        self.identity = identity

    @classmethod
    def open(cls, index: Index, store: ObjectStore, identity: Identity) -> Destruction:
        """The rules, their tables created first in an index made before them."""
        with db_errors("create the retention tables"):
            ensure_retention_tables(index.write_engine)
        return cls(index, store, identity)

    # --- request, approve, run --------------------------------------------------------------------------

    def request(self, target: str, *, reason: str, estate: str | None = None,
                now: dt.datetime | None = None) -> DestructionRequest:
        """Ask to destroy the archive ``target`` (its id, or a unit: its set-aside archive)."""
        require(self.identity, Action.REQUEST_DESTRUCTION, self._index.audit)
        text = clean_text(reason, "reason for the destruction", required=True)
        assert text is not None
        with db_errors("read an archive"), Session(self._index.engine) as s:
            archive = find_archive(s, target, estate)
            refusal = _refusal(s, archive, now or utcnow(), due_needed=False)
        if refusal is not None:
            self._refuse(Action.REQUEST_DESTRUCTION, refusal, archive=archive.id)
        with db_errors("request a destruction"), Session(self._index.write_engine, expire_on_commit=False) as s, \
                s.begin():
            waiting = s.scalar(select(DestructionRequestRow.id).where(
                DestructionRequestRow.archive_id == archive.id,
                DestructionRequestRow.status.in_(("requested", "approved"))).limit(1))
            if waiting is not None:
                raise InvalidRequest(f"Destruction request {waiting} of archive {archive.id} is open already.")
            row = DestructionRequestRow(archive_id=archive.id, reason=text, status="requested",
                                        requested_by=self.identity.name, requested_role=str(self.identity.role),
                                        requested_at=utcnow())
            s.add(row)
            s.flush()
            found = _request(row)
        self._audit("destruction_request", request=found.id, archive=archive.id, reason=text)
        return found

    def approve(self, request_id: int, *, now: dt.datetime | None = None) -> DestructionRecord:
        """Approve a request (an archive manager who did not ask for it) and carry the destruction out."""
        require(self.identity, Action.APPROVE_DESTRUCTION, self._index.audit)
        now = now or utcnow()
        row = self._read_request(request_id)
        if row.status == "requested":
            if row.requested_by == self.identity.name:
                self._refuse(Action.APPROVE_DESTRUCTION, "own_request", archive=row.archive_id, request=request_id)
            self._check(Action.APPROVE_DESTRUCTION, row, now)
            with db_errors("approve a destruction"), Session(self._index.write_engine) as s, s.begin():
                changed = s.execute(update(DestructionRequestRow).where(
                    DestructionRequestRow.id == request_id, DestructionRequestRow.status == "requested").values(
                    status="approved", approved_by=self.identity.name, approved_role=str(self.identity.role),
                    approved_at=utcnow()))
                if not getattr(changed, "rowcount", 1):
                    raise InvalidRequest(f"Destruction request {request_id} was decided meanwhile.")
            self._audit("destruction_approve", request=request_id, archive=row.archive_id)
        return self.run(request_id, now=now)

    def run(self, request_id: int, *, now: dt.datetime | None = None) -> DestructionRecord:
        """Carry out an approved destruction, or finish one that was interrupted; returns its record."""
        require(self.identity, Action.APPROVE_DESTRUCTION, self._index.audit)
        now = now or utcnow()
        row = self._read_request(request_id)
        if row.status == "requested":
            self._refuse(Action.APPROVE_DESTRUCTION, "not_approved", archive=row.archive_id, request=request_id)
        record = self._record_row(request_id)
        if record is not None and record.status == "done":
            return _record(record)
        if record is None:
            self._check(Action.APPROVE_DESTRUCTION, row, now)
            record = self._start(row)
        plan = record.plan
        if self._index.keyring is not None:
            self._index.keyring.destroy(plan["keyring_ids"])  # from here on no copy opens these files
        with db_errors("shred data keys"), Session(self._index.write_engine) as s, s.begin():
            s.execute(update(DataKeyRow).where(DataKeyRow.dek_id.in_(plan["dek_ids"]),
                                               DataKeyRow.destroyed_at.is_(None))
                      .values(wrapped=None, destroyed_at=utcnow()))
        for key in plan["object_keys"]:
            self._store.delete(key)
        self._finish(record.id, row, plan)
        self._index.purge_shredded()
        done = self._record_row(request_id)
        assert done is not None
        return _record(done)

    # --- read -------------------------------------------------------------------------------------------

    def requests(self) -> list[DestructionRequest]:
        """Destruction requests, newest first."""
        require(self.identity, Action.VIEW_DESTRUCTIONS, self._index.audit)
        with db_errors("read the destruction requests"), Session(self._index.engine) as s:
            return [_request(r) for r in s.scalars(select(DestructionRequestRow)
                                                   .order_by(DestructionRequestRow.id.desc()))]

    def records(self) -> list[DestructionRecord]:
        """Destruction records, newest first (audited as read)."""
        require(self.identity, Action.VIEW_DESTRUCTIONS, self._index.audit)
        with db_errors("read the destruction records"), Session(self._index.engine) as s:
            found = [_record(r) for r in s.scalars(select(DestructionRecordRow)
                                                   .order_by(DestructionRecordRow.id.desc()))]
        self._audit("view_destructions", records=len(found))
        return found

    # --- steps ------------------------------------------------------------------------------------------

    def _start(self, row: DestructionRequestRow) -> DestructionRecordRow:
        """Write the record ``in_progress`` with what will be destroyed (once per request)."""
        try:
            with db_errors("start a destruction"), Session(self._index.write_engine, expire_on_commit=False) as s, \
                    s.begin():
                archive = s.get(ArchiveRow, row.archive_id)
                assert archive is not None
                plan, documents, doc_types, sha256s, legacy = _plan(s, archive.id)
                record = DestructionRecordRow(
                    request_id=row.id, archive_id=archive.id, estate=archive.estate, building=archive.building,
                    unit=archive.unit, room=archive.room, documents=documents, doc_types=doc_types,
                    sha256s=sha256s, legacy_files=legacy, method=METHOD,
                    residual=_residual(len(sha256s), legacy, utcnow()), plan=plan, status="in_progress",
                    reason=row.reason, requested_by=row.requested_by, approved_by=row.approved_by or "",
                    executed_by=self.identity.name, executed_role=str(self.identity.role), started_at=utcnow())
                s.add(record)
                s.flush()
        except sa_exc.IntegrityError:  # another process started it first
            again = self._record_row(row.id)
            assert again is not None
            return again
        self._audit("destruction_start", request=row.id, archive=row.archive_id, documents=documents,
                    files=len(sha256s), legacy_files=legacy)
        return record

    def _finish(self, record_id: int, row: DestructionRequestRow, plan: dict[str, Any]) -> None:
        """Delete the rows, mark the archive destroyed, complete the record and audit, in ONE transaction."""
        self._index.audit_head()  # the audit chain's key is read (unlocking may write) before the transaction
        actor, role = self.identity.name, str(self.identity.role)
        with db_errors("finish a destruction"), Session(self._index.write_engine) as s, s.begin():
            record = s.get(DestructionRecordRow, record_id, with_for_update=True)
            assert record is not None
            if record.status == "done":
                return
            delete_file_rows(s, plan["file_ids"])
            s.execute(update(ArchiveRow).where(ArchiveRow.id == row.archive_id).values(status="destroyed"))
            now = utcnow()
            record.status, record.executed_at = "done", now
            s.execute(update(DestructionRequestRow).where(DestructionRequestRow.id == row.id).values(status="done"))
            detail = {"method": METHOD, "request": row.id, "record": record_id, "archive": row.archive_id,
                      "approved_by": row.approved_by, "requested_by": row.requested_by}
            for doc_id in plan["document_ids"]:
                self._index.audit_in(s, actor, role, "destroy", doc_id, detail, outcome="destroyed")
            self._index.audit_in(s, actor, role, "destroy_archive", None,
                                 {**detail, "documents": record.documents, "files": len(record.sha256s),
                                  "legacy_files": record.legacy_files}, outcome="destroyed")

    def _check(self, action: Action, row: DestructionRequestRow, now: dt.datetime) -> None:
        with db_errors("read an archive"), Session(self._index.engine) as s:
            archive = s.get(ArchiveRow, row.archive_id)
            if archive is None:
                raise NotFound(f"No archive with id {row.archive_id}.")
            refusal = _refusal(s, archive, now, due_needed=True)
        if refusal is not None:
            self._refuse(action, refusal, archive=row.archive_id, request=row.id)

    def _refuse(self, action: Action, reason: str, **detail: Any) -> None:
        """Audit the refusal, then raise it with what to do."""
        self._index.audit(self.identity.name, str(self.identity.role), str(action),
                          detail={"outcome": "refused", "via": self.identity.via, "reason": reason, **detail})
        raise DestructionRefused(_REFUSALS[reason].format(who=f"{self.identity.name} ({self.identity.role})",
                                                          **detail))

    def _read_request(self, request_id: int) -> DestructionRequestRow:
        with db_errors("read a destruction request"), Session(self._index.engine, expire_on_commit=False) as s:
            row = s.get(DestructionRequestRow, request_id)
        if row is None:
            raise NotFound(f"No destruction request {request_id}.")
        return row

    def _record_row(self, request_id: int) -> DestructionRecordRow | None:
        with db_errors("read the destruction records"), Session(self._index.engine, expire_on_commit=False) as s:
            return s.scalar(select(DestructionRecordRow).where(DestructionRecordRow.request_id == request_id))

    def _audit(self, action: str, **detail: Any) -> None:
        self._index.audit(self.identity.name, str(self.identity.role), action, detail=detail)


_REFUSALS: dict[str, str] = {
    "not_set_aside": "{who}: archive {archive} is not set aside (only a former owner's archive, set aside at an "
                     "owner change, may be destroyed).",
    "not_due": "{who}: archive {archive} is still within its retention period; it may be destroyed once that "
               "has passed (dangan retention list).",
    "legal_hold": "{who}: archive {archive} is under a legal hold; it is not destroyed while the hold is in force.",
    "shared_files": "{who}: files of archive {archive} also hold documents of another archive; re-file those "
                    "documents first.",
    "destroyed": "{who}: archive {archive} was destroyed already.",
    "own_request": "{who} may not approve destruction request {request}: it is their own; another archive "
                   "manager approves it.",
    "not_approved": "{who}: destruction request {request} is not approved yet; an archive manager approves it "
                    "(dangan destroy approve).",
}


def _refusal(s: Session, archive: ArchiveRow, now: dt.datetime, *, due_needed: bool) -> str | None:
    """Why ``archive`` may not be destroyed now (None: it may)."""
    if archive.status == "destroyed":
        return "destroyed"
    if archive.status != "set_aside":
        return "not_set_aside"
    if due_needed:
        until = kept_until(s.get(ArchiveRetentionRow, archive.id), archive)
        if until is None or until > now:
            return "not_due"
    held = s.scalar(select(LegalHoldRow.id).where(LegalHoldRow.archive_id == archive.id,
                                                  LegalHoldRow.released_at.is_(None)).limit(1))
    if held is not None:
        return "legal_hold"
    file_ids = select(DocumentRow.file_id).where(DocumentRow.archive_id == archive.id)
    shared = s.scalar(select(DocumentRow.id).where(DocumentRow.file_id.in_(file_ids),
                                                   DocumentRow.archive_id.is_not(None),
                                                   DocumentRow.archive_id != archive.id).limit(1))
    return "shared_files" if shared is not None else None


def _plan(s: Session, archive_id: str) -> tuple[dict[str, Any], int, dict[str, int], list[str], int]:
    """What destroying the archive touches: (plan, documents, doc types, SHA-256s, files before the keyring)."""
    file_ids = sorted(set(s.scalars(select(DocumentRow.file_id).where(DocumentRow.archive_id == archive_id))))
    files = list(s.scalars(select(FileRow).where(FileRow.id.in_(file_ids)).order_by(FileRow.sha256)))
    keys = {k.dek_id: k.keyring_id for k in s.scalars(select(DataKeyRow).where(
        DataKeyRow.dek_id.in_([f.dek_id for f in files])))}
    docs = list(s.execute(select(DocumentRow.id, DocumentRow.doc_type).where(DocumentRow.file_id.in_(file_ids))
                          .order_by(DocumentRow.id)))
    plan = {"file_ids": [f.id for f in files], "dek_ids": [f.dek_id for f in files],
            "keyring_ids": sorted(k for k in keys.values() if k),
            "object_keys": sorted({key for f in files for key in (f.original_key, f.ocr_key) if key}),
            "document_ids": [d for d, _ in docs]}
    legacy = sum(1 for f in files if not keys.get(f.dek_id))
    return plan, len(docs), dict(Counter(t for _, t in docs)), [f.sha256 for f in files], legacy


def _residual(files: int, legacy: int, at: dt.datetime) -> str:
    day = at.date().isoformat()
    text = (f"The keyring entries of {files - legacy} file(s) were erased: no copy of the index or the object "
            f"store, and no backup, taken before {day} can decrypt them any more, with or without the master key; "
            f"backups taken before {day} still hold those entries until they are deleted. Copies from before keep "
            "masked values, keyed hashes and search tokens, document types, page counts and the unit.")
    if legacy:
        text += (f" {legacy} file(s) were stored before the keyring existed: a copy of the index and the object "
                 f"store taken before {day} still decrypts them with the master key. Rotate the master key and "
                 "discard the old key with the backups made under it to close that.")
    return text


def _request(row: DestructionRequestRow) -> DestructionRequest:
    return DestructionRequest(id=row.id, archive_id=row.archive_id, reason=row.reason, status=row.status,
                              requested_by=row.requested_by, requested_at=as_utc(row.requested_at),
                              approved_by=row.approved_by,
                              approved_at=as_utc(row.approved_at) if row.approved_at else None)


def _record(row: DestructionRecordRow) -> DestructionRecord:
    return DestructionRecord(
        id=row.id, request_id=row.request_id, archive_id=row.archive_id,
        unit=f"{row.building}-{row.unit}-{row.room}", estate=row.estate, documents=row.documents,
        doc_types=dict(row.doc_types), sha256s=list(row.sha256s), legacy_files=row.legacy_files, method=row.method,
        residual=row.residual, status=row.status, reason=row.reason, requested_by=row.requested_by,
        approved_by=row.approved_by, executed_by=row.executed_by, started_at=as_utc(row.started_at),
        executed_at=as_utc(row.executed_at) if row.executed_at else None)
