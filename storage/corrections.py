"""Corrections (更正) of extracted field values by a person: who, when, old and new; they outlive re-ingest.

A correction is keyed by the document's place in its file (the file's SHA-256,
the document's first page) and the field's name, not by the document id: when
the same file is read again (an index rebuilt from ``done/``, a restore of an
older index), :func:`reapply` puts the corrected values back before the new
reading is recorded, so a person's word wins over a later re-extraction.

Applying a correction (:meth:`Corrections.apply`) changes the field row (plain
value, or HMAC + mask + ciphertext for ID numbers, phones and addresses), the
document's status and the correction row in ONE transaction, then the
document's field search tokens are recomputed (``Index.refresh_search``), so
search finds the corrected value at once and no longer finds the old one. Old
and new values of sensitive fields are kept encrypted (AES-GCM under the
archive's field key) and masked, never in plain text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import JSON, Engine, Integer, LargeBinary, String, delete, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from schemas.documents import (
    DATE_FIELDS,
    DECIMAL_FIELDS,
    ID_NUMBER_FIELDS,
    PHONE_FIELDS,
    SENSITIVE_FIELDS,
)
from schemas.errors import InvalidRequest, NotFound
from schemas.models import CONFIDENT, Extraction, FieldValue
from schemas.validators import check_id_number, normalize_date, normalize_decimal, normalize_phone, normalize_sex
from storage.blind import BlindIndex, canonical_value, mask_value
from storage.keys import MasterKey, read_archive_keys
from storage.tables import (
    MAX_VALUE_CHARS,
    Base,
    BigId,
    DataKeyRow,
    DocumentRow,
    FieldRow,
    FileRow,
    PageRow,
    utcnow,
)


class Index(Protocol):
    """What corrections need of the archive's index (:class:`storage.index.Index`)."""

    @property
    def engine(self) -> Engine:
        """The engine for reads."""
        ...

    @property
    def write_engine(self) -> Engine:
        """The engine for writes."""
        ...

    def refresh_search(self, doc_id: str) -> None:
        """Recompute the search tokens of one document."""
        ...

    def entry_secret(self, entry_id: str) -> bytes:
        """The secret of a keyring entry (values of files stored since the keyring are encrypted under it)."""
        ...

_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")

#: Confidence recorded for a value a person typed or confirmed.
PERSON_CONFIDENCE = 1.0


class CorrectionRow(Base):
    """One correction or confirmation of a field value by a person (复核记录)."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The file (its original's SHA-256) and the document's first page in it: stable across re-ingest.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    first_page: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(64))
    #: The document the correction was made on (not a foreign key: the record outlives the row).
    document_id: Mapped[str] = mapped_column(String(36), index=True)
    #: ``corrected`` (a new value typed) or ``accepted`` (the value read was confirmed).
    kind: Mapped[str] = mapped_column(String(16))
    #: Plain old and new values of ordinary fields; masked ones of sensitive fields (their plain values
    #: are only in the ``*_enc`` columns).
    old_value: Mapped[str | None] = mapped_column(String(MAX_VALUE_CHARS))
    new_value: Mapped[str] = mapped_column(String(MAX_VALUE_CHARS))
    old_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    new_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    value_key_id: Mapped[str | None] = mapped_column(String(16))
    #: Where the value stands on the page (page index in the file, box), for a field the reading missed.
    page: Mapped[int | None] = mapped_column(Integer)
    box: Mapped[list[int] | None] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


@dataclass(frozen=True)
class Correction:
    """A correction as shown to people: values masked for sensitive fields."""

    id: int
    document_id: str
    field: str
    kind: str
    old_value: str | None
    new_value: str
    actor: str
    role: str
    at: dt.datetime


def _context(sha256: str, first_page: int, field: str, which: str) -> str:
    return f"correction|{sha256}|{first_page}|{field}|{which}"


def _field_context(doc_id: str, name: str) -> str:
    # The same context as the index's field ciphertexts (storage.index).
    return f"field|{doc_id}|{name}"


def seal_field(blind: BlindIndex, doc_id: str, name: str, value: str, *, entry: str | None = None) -> dict[str, Any]:
    """Column values of a field row holding ``value``: plain, or HMAC + mask + ciphertext when sensitive.

    ``entry``: the keyring entry of the document's file (its values are encrypted under it).
    """
    if name not in SENSITIVE_FIELDS:
        return {"value": value[:MAX_VALUE_CHARS], "value_masked": None, "value_hmac": None, "value_enc": None,
                "value_key_id": None}
    enc, key_id = blind.encrypt_value(value, context=_field_context(doc_id, name), entry=entry)
    return {"value": None, "value_masked": mask_value(name, value)[:MAX_VALUE_CHARS], "value_enc": enc,
            "value_key_id": key_id, "value_hmac": blind.value_hmac(canonical_value(name, value))}


def clean_value(name: str, value: str) -> str:
    """A typed value in the form the archive keeps (DESIGN.md value formats); InvalidRequest when it is not one.

    Dates become YYYY-MM-DD, money and areas plain decimals, sex 男/女, phones
    their digits; an ID number must pass its checks (a person's correction is
    trusted, so it must at least be a possible number).
    """
    text = _CJK_GAP.sub("", " ".join(value.split()))  # 周 敏 -> 周敏
    if not text:
        raise InvalidRequest(f"Type the right value of {name}, or accept the value read.")
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidRequest(f"A value of {name} may have at most {MAX_VALUE_CHARS} characters.")
    if name in ID_NUMBER_FIELDS:
        number = canonical_value(name, text)
        problems = check_id_number(number)
        if problems:
            raise InvalidRequest(f"The ID number typed is not valid ({problems[0]}); check it against the paper.")
        return number
    normalizers = ((DATE_FIELDS, normalize_date, "a date such as 2017-06-28"),
                   (DECIMAL_FIELDS, normalize_decimal, "an amount or area such as 6832000 or 56.62"),
                   (PHONE_FIELDS, normalize_phone, "a phone number"),
                   (frozenset({"sex"}), normalize_sex, "男 or 女"))
    for names, normalize, what in normalizers:
        if name in names:
            normal = normalize(text)
            if normal is None:
                raise InvalidRequest(f"{text!r} is not {what}; type the value of {name} again.")
            return normal
    return text


class Corrections:
    """Apply and list the corrections of one archive's index."""

    def __init__(self, index: Index, blind: BlindIndex) -> None:
        self._index = index
        self._blind = blind

    @classmethod
    def open(cls, index: Index, master: MasterKey) -> Corrections:
        """The corrections of ``index``, whose archive keys ``master`` unwraps."""
        with Session(index.engine) as s:
            keys = read_archive_keys(s, master)
        if keys is None:
            raise NotFound("The archive has no keys yet: nothing was ever stored in it.")
        return cls(index, BlindIndex(keys, index.entry_secret))

    def apply(self, doc_id: str, name: str, value: str | None, *, actor: str, role: str) -> Correction:
        """Correct (``value``) or accept (None) field ``name`` of a document; returns the record.

        The field row, the document's status (``indexed`` once no field needs
        review and its pages hold text) and the correction row change in ONE
        transaction; then the document's field search tokens are recomputed.
        NotFound for an unknown document or (when accepting) a field the
        document does not have.
        """
        with Session(self._index.write_engine, expire_on_commit=False) as s, s.begin():
            doc = s.get(DocumentRow, doc_id)
            if doc is None:
                raise NotFound(f"No document with id {doc_id}.")
            file = s.get(FileRow, doc.file_id)
            assert file is not None  # a foreign key
            rows = {f.name: f for f in s.scalars(select(FieldRow).where(FieldRow.document_id == doc_id))}
            row = rows.get(name)
            old = self._plain(row, doc_id) if row is not None else None
            if value is None and old is None:
                raise NotFound(f"The document has no value of {name} to accept; type the right value.")
            # Accepting is saying the value read is right: it must be a possible value too.
            new = clean_value(name, value if value is not None else old or "")
            kind = "accepted" if value is None or new == old else "corrected"
            entry = s.scalar(select(DataKeyRow.keyring_id).where(DataKeyRow.dek_id == file.dek_id))
            sealed = seal_field(self._blind, doc_id, name, new, entry=entry)
            if row is None:
                s.execute(insert(FieldRow).values(document_id=doc_id, name=name, confidence=PERSON_CONFIDENCE,
                                                  valid=True, issue=None, page=None, box=None, **sealed))
            else:
                s.execute(update(FieldRow).where(FieldRow.id == row.id).values(
                    confidence=PERSON_CONFIDENCE, valid=True, issue=None, **sealed))
            record = self._record(s, file.sha256, doc, name, kind, old, new, row, actor=actor, role=role,
                                  entry=entry)
            self._settle_status(s, doc)
        self._index.refresh_search(doc_id)
        return record

    def for_document(self, doc_id: str) -> list[Correction]:
        """Corrections made on this document's file and page, oldest first (values masked when sensitive)."""
        with Session(self._index.engine) as s:
            doc = s.get(DocumentRow, doc_id)
            if doc is None:
                raise NotFound(f"No document with id {doc_id}.")
            file = s.get(FileRow, doc.file_id)
            assert file is not None
            rows = s.scalars(select(CorrectionRow).where(CorrectionRow.sha256 == file.sha256,
                                                         CorrectionRow.first_page == doc.first_page)
                             .order_by(CorrectionRow.id))
            return [Correction(id=r.id, document_id=r.document_id, field=r.field, kind=r.kind,
                               old_value=r.old_value, new_value=r.new_value, actor=r.actor, role=r.role,
                               at=r.at if r.at.tzinfo else r.at.replace(tzinfo=dt.UTC)) for r in rows]

    def _plain(self, row: FieldRow, doc_id: str) -> str | None:
        if row.value is not None:
            return row.value
        if row.value_enc is None:
            return None
        return self._blind.decrypt_value(row.value_enc, key_id=row.value_key_id or "",
                                         context=_field_context(doc_id, row.name))

    def _record(self, s: Session, sha256: str, doc: DocumentRow, name: str, kind: str, old: str | None,
                new: str, row: FieldRow | None, *, actor: str, role: str, entry: str | None = None) -> Correction:
        sensitive = name in SENSITIVE_FIELDS
        shown_old = (mask_value(name, old) if sensitive else old) if old is not None else None
        shown_new = mask_value(name, new) if sensitive else new
        columns: dict[str, Any] = {"old_enc": None, "new_enc": None, "value_key_id": None}
        if sensitive:
            if old is not None:
                columns["old_enc"], _ = self._blind.encrypt_value(
                    old, context=_context(sha256, doc.first_page, name, "old"), entry=entry)
            columns["new_enc"], columns["value_key_id"] = self._blind.encrypt_value(
                new, context=_context(sha256, doc.first_page, name, "new"), entry=entry)
        at = utcnow()
        record = CorrectionRow(
            sha256=sha256, first_page=doc.first_page, field=name, document_id=doc.id, kind=kind,
            old_value=shown_old[:MAX_VALUE_CHARS] if shown_old is not None else None,
            new_value=shown_new[:MAX_VALUE_CHARS], page=row.page if row is not None else None,
            box=row.box if row is not None else None, actor=actor, role=role, at=at, **columns)
        s.add(record)
        s.flush()
        return Correction(id=record.id, document_id=doc.id, field=name, kind=kind, old_value=shown_old,
                          new_value=shown_new, actor=actor, role=role, at=at)

    @staticmethod
    def _settle_status(s: Session, doc: DocumentRow) -> None:
        has_text = s.scalar(select(PageRow.id).where(PageRow.document_id == doc.id, PageRow.line_count > 0)
                            .limit(1)) is not None
        flagged = s.scalar(select(FieldRow.id).where(
            FieldRow.document_id == doc.id,
            (FieldRow.valid.is_(False)) | (FieldRow.issue.is_not(None)) | (FieldRow.confidence < CONFIDENT))
            .limit(1))
        status = "indexed" if flagged is None and has_text else "needs_review"
        if status != doc.status:
            s.execute(update(DocumentRow).where(DocumentRow.id == doc.id).values(status=status))


def reapply(s: Session, blind: BlindIndex, sha256: str, extraction: Extraction,
            status: str) -> tuple[Extraction, str]:
    """Put the corrections made on this file's document back into a new reading of it; returns it and its status.

    Called by the index while it records a file (in its write transaction):
    the newest correction of each field wins over the value read now.
    """
    rows = list(s.scalars(select(CorrectionRow).where(CorrectionRow.sha256 == sha256,
                                                      CorrectionRow.first_page == extraction.first_page)
                          .order_by(CorrectionRow.id)))
    if not rows:
        return extraction, status
    fields = dict(extraction.fields)
    for r in rows:
        if r.new_enc is not None:
            value = blind.decrypt_value(r.new_enc, key_id=r.value_key_id or "",
                                        context=_context(sha256, r.first_page, r.field, "new"))
        else:
            value = r.new_value
        read = fields.get(r.field)
        box = tuple(r.box) if r.box and len(r.box) == 4 else None
        fields[r.field] = FieldValue(
            name=r.field, value=value, confidence=PERSON_CONFIDENCE, valid=True, issue=None,
            page=read.page if read is not None else r.page,
            box=read.box if read is not None else box,  # type: ignore[arg-type]
        )
    corrected = extraction.model_copy(update={"fields": fields})
    if status == "needs_review" and extraction.fields and not corrected.flagged_fields:
        status = "indexed"  # every doubtful value was settled by a person (fields read: the pages hold text)
    return corrected, status


def forget(s: Session, sha256: str) -> None:
    """Delete the corrections of a destroyed file (their values must go with it)."""
    s.execute(delete(CorrectionRow).where(CorrectionRow.sha256 == sha256))

