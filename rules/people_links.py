"""The people register (人员登记): who each archived document names, in what role, linked by ID number.

One row of ``people`` per person a document names: the role (owner, co_owner,
buyer, seller, tenant, landlord, principal, agent, holder of an ID card,
emergency_contact), the name, the ID number and the phone. Nothing in plain
text: each value is kept as the archive's keyed HMAC (the blind index of
``storage.blind``, the same HMAC the ``fields`` table holds, so a person is the
same person across documents when their ID number matches), a masked copy for
display and AES-GCM ciphertext for an audited reveal.

The register is derived from a document's stored fields, never from OCR again:

- when a file is recorded (:func:`link_document`, in the index's transaction);
- after a correction or a refiling (:func:`relink`, from ``Index.refresh_search``):
  a corrected ID number or name moves the person's link at once;
- for an index made before the register, once, when it is opened (:func:`rebuild`).

Linking by ID number needs an ID number stated with confidence: read surely
(``CONFIDENT``), valid (checksum, area, birth date) and not flagged. A number
read with doubt is kept (masked, encrypted) but marked ``id_unsure`` and links
nothing until a person checks it. A name alone never links two rows: two people
share names.

Filing by person (:func:`file_by_person`): a document whose unit is not printed
and not given by a cover sheet or drop folder (an ID card copy, a contract)
joins the active archive of the person it names, found by the ID number's HMAC
among the archives where that ID number is linked in the same capacity:

- a member of the household (``owner``, ``co_owner``, ``buyer``, ``tenant``,
  ``holder`` of an ID card copy) files by the household roles;
- an ``agent`` files by the archives naming that ID number as agent.

Exactly one such archive: the document is filed there (its ``unit_source`` is
``id_number``: filed by ID number to the archive of its owner). Several: it is
filed nowhere and needs review, its ID number's issue naming the candidate
units. None: as before (no archive). An ID number read with doubt files
nothing; when its HMAC matches an archive, the issue says so and the document
needs review.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    delete,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from schemas.doctypes import SPECS
from schemas.models import CONFIDENT, Extraction, FieldValue
from schemas.validators import check_id_number, mask_phone
from storage.audit import scrub_text
from storage.blind import BlindIndex, canonical_value, mask_value
from storage.tables import MAX_VALUE_CHARS, ArchiveRow, Base, BigId, DataKeyRow, DocumentRow, FieldRow, FileRow

#: Roles of the people who make up a unit's household: an ID number linked in one of them makes the archive theirs.
HOUSEHOLD_ROLES = frozenset({"owner", "co_owner", "buyer", "tenant", "holder"})
#: Roles whose people own the unit (the current owners come from these).
OWNER_ROLES = frozenset({"owner", "co_owner", "buyer"})
#: Roles that file a document without a unit by their ID number, and the roles they are matched against.
FILING_CAPACITY: Mapping[str, frozenset[str]] = {
    **dict.fromkeys(HOUSEHOLD_ROLES, HOUSEHOLD_ROLES), "agent": frozenset({"agent"})}
#: Role labels for clerks.
ROLE_LABELS: Mapping[str, str] = {
    "owner": "业主", "co_owner": "共有人", "buyer": "买受人", "seller": "出卖人", "tenant": "承租人",
    "landlord": "出租人", "principal": "委托人", "agent": "受托人", "holder": "身份证持有人",
    "emergency_contact": "紧急联系人"}
#: How the register says a document was filed by the ID number of a person it names.
FILED_BY_ID = "id_number"
#: Marker in ``index_meta`` once the register holds every document (an older index is filled on open).
LAYOUT_KEY = "people_layout"
LAYOUT = "1"
#: Several names in one field (co-buyers 王伟、李娜): split at these.
_SEVERAL = re.compile(r"[、，,；;/]|\s和\s")


@dataclass(frozen=True)
class Named:
    """A person a document type names: their role and the fields of their name, ID number and phone."""

    role: str
    name_field: str
    id_field: str | None = None
    phone_field: str | None = None


def _people_of_types() -> dict[str, tuple[Named, ...]]:
    """Every doc type's people: its spec's (agreement across the archive) with phones, and a few the spec omits."""
    phones = {("owner_registration", "owner"): "phone"}
    extra = {"owner_registration": (Named("emergency_contact", "emergency_contact", None, "emergency_phone"),),
             "purchase_contract": (Named("seller", "seller_name"),)}
    found: dict[str, tuple[Named, ...]] = {}
    for name, spec in SPECS.items():
        own = tuple(Named(p.role, p.name_field, p.id_field, phones.get((name, p.role))) for p in spec.people)
        found[name] = own + extra.get(name, ())
    return found


#: The people each document type names.
PEOPLE_OF_TYPE: Mapping[str, tuple[Named, ...]] = _people_of_types()


class PersonLinkRow(Base):
    """One person named on one document (人员), values as HMAC + mask + ciphertext; ``id_hmac`` only when sure."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("document_id", "role", "slot", name="uq_people_document_role_slot"),
                      Index("ix_people_id_hmac", "id_hmac"), Index("ix_people_name_hmac", "name_hmac"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(24))
    #: Which of several names in one field (co-buyers): 0 for the first.
    slot: Mapped[int] = mapped_column(Integer, default=0)
    name_hmac: Mapped[str] = mapped_column(String(64))
    name_masked: Mapped[str] = mapped_column(String(MAX_VALUE_CHARS))
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    #: The name was read with doubt (a person has not checked it).
    name_unsure: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The ID number's HMAC: set only when the number was stated with confidence (it links the person).
    id_hmac: Mapped[str | None] = mapped_column(String(64))
    id_masked: Mapped[str | None] = mapped_column(String(32))
    id_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: An ID number was read but not surely (doubtful, failed its checks): kept, linking nothing.
    id_unsure: Mapped[bool] = mapped_column(Boolean, default=False)
    phone_hmac: Mapped[str | None] = mapped_column(String(64))
    phone_masked: Mapped[str | None] = mapped_column(String(32))
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    value_key_id: Mapped[str | None] = mapped_column(String(16))


@dataclass(frozen=True)
class Reading:
    """A field's value and whether it is stated with confidence (read surely, valid, not flagged)."""

    value: str
    sure: bool


def readings_of(extraction: Extraction) -> dict[str, Reading]:
    """The readings of a new document's fields."""
    return {name: _reading(f) for name, f in extraction.fields.items()}


def _reading(f: FieldValue) -> Reading:
    return Reading(f.value, not f.needs_review)


def stored_readings(rows: Iterable[FieldRow], plain: Callable[[FieldRow], str]) -> dict[str, Reading]:
    """The readings of a document's stored field rows (``plain`` decrypts a sensitive one, in memory)."""
    return {r.name: Reading(plain(r), bool(r.valid) and r.issue is None and r.confidence >= CONFIDENT)
            for r in rows}


def sure_id_number(reading: Reading | None) -> str | None:
    """The canonical ID number when it is stated with confidence and passes its checks; else None."""
    if reading is None or not reading.sure:
        return None
    number = canonical_value("id_number", reading.value)
    return None if check_id_number(number) else number


def mask_name(name: str) -> str:
    """A name for display: its first character and one ``*`` per other (``王*``, ``欧阳**``: ``欧***``)."""
    text = "".join(name.split())
    return text[:1] + "*" * max(1, len(text) - 1) if text else "*"


def name_hmac(blind: BlindIndex, name: str) -> str:
    """The keyed hash a name is looked up by (NFKC, without spaces)."""
    return blind.value_hmac("name|" + "".join(canonical_value("name", name).split()))


def person_context(doc_id: str, role: str, slot: int, what: str) -> str:
    """The AES-GCM context of one value of the register (binds the ciphertext to its row)."""
    return f"person|{doc_id}|{role}|{slot}|{what}"


def link_rows(blind: BlindIndex, doc_id: str, doc_type: str, readings: Mapping[str, Reading], *,
              entry: str | None = None) -> list[dict[str, Any]]:
    """The register's rows for one document (pure apart from encryption).

    ``entry``: the keyring entry of the document's file (:mod:`storage.keyring`). Its values are sealed
    under it as its fields are, so destroying the file shreds them in every copy of the index too.
    """
    rows: list[dict[str, Any]] = []
    for named in PEOPLE_OF_TYPE.get(doc_type, ()):
        name = readings.get(named.name_field)
        if name is None or not name.value.strip():
            continue
        names = [n.strip() for n in _SEVERAL.split(name.value) if n.strip()] or [name.value.strip()]
        number = readings.get(named.id_field) if named.id_field else None
        phone = readings.get(named.phone_field) if named.phone_field else None
        for slot, one in enumerate(names):
            role = "co_owner" if slot and named.role in OWNER_ROLES else named.role
            # An ID number or phone printed beside several names is no one's in particular.
            own_number = number if len(names) == 1 else None
            own_phone = phone if len(names) == 1 else None
            rows.append(_row(blind, doc_id, role, slot, one, name.sure, own_number, own_phone, entry))
    return rows


def _row(blind: BlindIndex, doc_id: str, role: str, slot: int, name: str, name_sure: bool,
         number: Reading | None, phone: Reading | None, entry: str | None) -> dict[str, Any]:
    def seal(what: str, value: str) -> bytes:
        return blind.encrypt_value(value, context=person_context(doc_id, role, slot, what), entry=entry)[0]

    name_enc, key_id = blind.encrypt_value(name, context=person_context(doc_id, role, slot, "name"), entry=entry)
    row: dict[str, Any] = {
        "document_id": doc_id, "role": role, "slot": slot, "name_hmac": name_hmac(blind, name),
        "name_masked": mask_name(name)[:MAX_VALUE_CHARS], "name_enc": name_enc, "name_unsure": not name_sure,
        "id_hmac": None, "id_masked": None, "id_enc": None, "id_unsure": False,
        "phone_hmac": None, "phone_masked": None, "phone_enc": None, "value_key_id": key_id}
    if number is not None and number.value.strip():
        canonical = canonical_value("id_number", number.value)
        sure = sure_id_number(number)
        row.update(id_masked=mask_value("id_number", canonical)[:32], id_enc=seal("id_number", canonical),
                   id_hmac=blind.value_hmac(sure) if sure else None, id_unsure=sure is None)
    if phone is not None and phone.value.strip():
        canonical = canonical_value("phone", phone.value)
        row.update(phone_masked=mask_phone(canonical)[:32], phone_enc=seal("phone", canonical),
                   phone_hmac=blind.value_hmac(canonical))
    return row


def link_document(s: Session, blind: BlindIndex, doc_id: str, doc_type: str,
                  readings: Mapping[str, Reading], *, entry: str | None = None) -> int:
    """(Re)write the register's rows of one document (inside the caller's transaction); how many people.

    ``entry``: the keyring entry of the document's file (see :func:`link_rows`).
    """
    s.execute(delete(PersonLinkRow).where(PersonLinkRow.document_id == doc_id),
              execution_options={"synchronize_session": False})  # the session holds no register rows
    rows = link_rows(blind, doc_id, doc_type, readings, entry=entry)
    if rows:
        s.execute(insert(PersonLinkRow), rows)
    return len(rows)


def relink(s: Session, blind: BlindIndex, documents: Sequence[DocumentRow],
           plain: Callable[[str, FieldRow], str]) -> None:
    """Rewrite the register's rows of ``documents`` from their stored fields (after a correction, on upgrade)."""
    ids = [d.id for d in documents]
    fields: dict[str, list[FieldRow]] = {i: [] for i in ids}
    for f in s.scalars(select(FieldRow).where(FieldRow.document_id.in_(ids)).order_by(FieldRow.id)):
        fields[f.document_id].append(f)
    entries = dict(s.execute(select(FileRow.id, DataKeyRow.keyring_id)
                             .join(DataKeyRow, DataKeyRow.dek_id == FileRow.dek_id)
                             .where(FileRow.id.in_({d.file_id for d in documents}))).all())
    s.execute(delete(PersonLinkRow).where(PersonLinkRow.document_id.in_(ids)),
              execution_options={"synchronize_session": False})
    rows = []
    for doc in documents:
        readings = stored_readings(fields[doc.id], lambda r, d=doc.id: plain(d, r))  # type: ignore[misc]
        rows += link_rows(blind, doc.id, doc.doc_type, readings, entry=entries.get(doc.file_id))
    if rows:
        s.execute(insert(PersonLinkRow), rows)


# --- filing a document without a unit by the person it names ---------------------------------------------


@dataclass(frozen=True)
class PersonFiling:
    """Where a document without a unit goes by the people it names: one archive, or a reason to review it."""

    archive: ArchiveRow | None = None
    #: The field to flag and why (several archives, or a doubtful ID number matching one); None: nothing to say.
    issue: tuple[str, str] | None = None


def file_by_person(s: Session, blind: BlindIndex, doc_type: str, readings: Mapping[str, Reading]) -> PersonFiling:
    """The active archive a document without a unit joins by the ID number of a person it names (see the module)."""
    sure: dict[str, set[str]] = {}  # id field -> archive ids
    doubtful: dict[str, set[str]] = {}
    for named in PEOPLE_OF_TYPE.get(doc_type, ()):
        capacity = FILING_CAPACITY.get(named.role)
        number = readings.get(named.id_field) if named.id_field else None
        if capacity is None or number is None or named.id_field is None or not number.value.strip():
            continue
        canonical = sure_id_number(number)
        if canonical is not None:
            sure[named.id_field] = _archives_naming(s, blind.value_hmac(canonical), capacity)
        else:
            read = canonical_value("id_number", number.value)
            doubtful[named.id_field] = _archives_naming(s, blind.value_hmac(read), capacity)
    found = set().union(*sure.values()) if sure else set()
    if len(found) == 1:
        archive = s.get(ArchiveRow, found.pop())
        return PersonFiling(archive=archive)
    if len(found) > 1:
        field = next(f for f, ids in sure.items() if ids)
        places = ", ".join(_places(s, sorted(found)))
        return PersonFiling(issue=(field, f"filed in no archive: this ID number is named in the active archives of "
                                          f"{places}; a person files it in the right one"))
    for field, ids in doubtful.items():
        if ids:
            places = ", ".join(_places(s, sorted(ids)))
            return PersonFiling(issue=(field, f"filed in no archive: the ID number as read matches the archive of "
                                              f"{places}, but it was not read surely; check it (once confirmed, "
                                              "the document is filed there)"))
    return PersonFiling()


def _archives_naming(s: Session, id_hmac: str, roles: frozenset[str]) -> set[str]:
    """Ids of the active archives holding a document that names this ID number in one of ``roles``."""
    stmt = (select(ArchiveRow.id).join(DocumentRow, DocumentRow.archive_id == ArchiveRow.id)
            .join(PersonLinkRow, PersonLinkRow.document_id == DocumentRow.id)
            .where(PersonLinkRow.id_hmac == id_hmac, PersonLinkRow.role.in_(sorted(roles)),
                   ArchiveRow.status == "active").distinct())
    return set(s.scalars(stmt))


def _places(s: Session, archive_ids: Sequence[str]) -> list[str]:
    rows = s.scalars(select(ArchiveRow).where(ArchiveRow.id.in_(archive_ids)))
    return sorted(a.place for a in rows)


def flag(extraction: Extraction, filing: PersonFiling) -> Extraction:
    """The new document with the filing's issue on its field (it then needs review)."""
    if filing.issue is None:
        return extraction
    name, reason = filing.issue
    value = extraction.fields[name]
    issue = scrub_text(f"{value.issue}; {reason}" if value.issue else reason)
    return extraction.model_copy(update={"fields": {**extraction.fields, name: value.model_copy(
        update={"issue": issue})}})
