"""Unit archives as records (分户档案) with the people their documents name, and a person's archives.

:class:`PeopleRegister` answers two questions for one identity (the command's
or the request's):

- :meth:`~PeopleRegister.archive`: one unit archive: estate / building / unit /
  room, status, opened and closed, its current owners, every person its
  documents name with their roles, and its documents;
- :meth:`~PeopleRegister.find`: the archives and documents a person appears in,
  looked up by ID number (exactly, through its keyed HMAC) or by name.

The register itself (who each document names, linked by ID number) is kept by
the index: :mod:`rules.people_links`.

Current owners (现业主): the owners named by the archive's newest owner
registration (``owner_registration``: its owner) or purchase contract
(``purchase_contract``: its buyers), newest by the document's own date (the
contract's signing date, the registration's move-in date; its filing day when
that date was not read), a later filing winning a tie. A document naming no
owner is passed over. Several buyers on one contract are co-owners (共有人).

Access follows viewing the archive: the permission matrix's ``view_document``
on the archive's unit (an owner: their own unit only), and for a role that
borrows (clerk, auditor, police and courts) an approved loan of the archive
that is in effect (:mod:`rules.loans`). Values are masked; ``reveal`` shows
full names, ID numbers and phones and needs ``reveal_pii``. Looking a person
up needs ``find_person`` (a search that reveals where someone's data is). Every
view, reveal and lookup is audited; every refusal too. No ID number or phone
is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.loans import LOAN_ROLES, LoanRequired
from rules.people_links import OWNER_ROLES, ROLE_LABELS, PersonLinkRow, name_hmac, person_context
from rules.requests import unit_archive
from rules.tables import LoanRow
from schemas.documents import DOC_LABELS
from schemas.errors import InvalidRequest, NotFound
from schemas.models import UnitRef, estate_name, place_text
from schemas.validators import check_id_number
from storage.blind import canonical_value
from storage.index import Index, db_errors
from storage.tables import ArchiveRow, DocumentRow, FieldRow, as_utc, utcnow
from web.access import Action, Identity, require

#: The documents current owners come from, and the field holding each one's own date.
OWNER_SOURCES: dict[str, str] = {"owner_registration": "move_in_date", "purchase_contract": "signing_date"}
#: Most people a name lookup returns.
MAX_PEOPLE = 50


class ArchiveDocument(BaseModel):
    """One document of an archive, as the archive's record lists it (no values)."""

    model_config = ConfigDict(frozen=True)

    id: str
    doc_type: str
    label: str
    status: str
    created_at: dt.datetime
    #: How it came to be filed here: ``path``, ``ocr``, ``cover_sheet``, ``id_number`` (the person it names).
    unit_source: str | None = None


class PersonEntry(BaseModel):
    """One person as an archive (or a lookup) shows them: values masked unless revealed."""

    model_config = ConfigDict(frozen=True)

    name: str
    id_number: str | None = None
    phone: str | None = None
    roles: list[str]
    role_labels: list[str]
    #: The documents naming them.
    documents: list[str]
    #: Whether an ID number links them across documents (read surely on at least one).
    linked_by_id: bool
    #: An ID number was read on one of their documents, but not surely: it links nothing until checked.
    id_unsure: bool = False
    revealed: bool = False


class ArchiveRecord(BaseModel):
    """A unit archive as a record: place, status, current owners, people and documents."""

    model_config = ConfigDict(frozen=True)

    id: str
    estate: str | None
    building: str
    unit: str
    room: str
    status: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    current_owners: list[PersonEntry]
    #: The document the current owners come from (None: no document names an owner).
    owners_from: str | None
    people: list[PersonEntry]
    documents: list[ArchiveDocument]
    revealed: bool

    @property
    def place(self) -> str:
        """``锦绣花园 3-2-1201``."""
        return place_text(self.estate, f"{self.building}-{self.unit}-{self.room}")


class PersonArchive(BaseModel):
    """One archive a person appears in, their roles there and the documents naming them."""

    model_config = ConfigDict(frozen=True)

    archive_id: str | None
    #: ``锦绣花园 3-2-1201``; None for documents filed in no archive.
    place: str | None
    status: str | None
    roles: list[str]
    documents: list[ArchiveDocument]


class PersonRecord(BaseModel):
    """A person found by ID number or name: who, and where their data is."""

    model_config = ConfigDict(frozen=True)

    name: str
    id_number: str | None
    phone: str | None
    archives: list[PersonArchive]
    revealed: bool


class PeopleRegister:
    """Unit archives and the people they name, read by one identity (see the module docstring)."""

    def __init__(self, index: Index, identity: Identity) -> None:
        self._index = index
        self.identity = identity

    # --- one archive ------------------------------------------------------------------------------------

    def archive(self, *, archive_id: str | None = None, unit: UnitRef | None = None, estate: str | None = None,
                reveal: bool = False) -> ArchiveRecord:
        """The archive ``archive_id``, or the active archive of ``unit`` (of ``estate``), as a record."""
        with db_errors("read an archive"), Session(self._index.engine) as s:
            row = self._find_archive(s, archive_id, unit, estate)
        where = UnitRef(building=row.building, unit=row.unit, room=row.room)
        self._require(Action.VIEW_DOCUMENT, unit=where, archive=row)
        if reveal:
            self._require(Action.REVEAL_PII, unit=where, archive=row)
        self._require_loan(row)
        with db_errors("read an archive"), Session(self._index.engine) as s:
            documents = list(s.scalars(select(DocumentRow).where(DocumentRow.archive_id == row.id)
                                       .order_by(DocumentRow.created_at, DocumentRow.id)))
            links = self._links(s, [d.id for d in documents])
            owners_from = self._owner_document(s, documents, links)
        people = self._people(links, reveal)
        owners = [p for p in self._people([ln for ln in links if ln.document_id == owners_from
                                           and ln.role in OWNER_ROLES], reveal)] if owners_from else []
        record = ArchiveRecord(
            id=row.id, estate=row.estate, building=row.building, unit=row.unit, room=row.room, status=row.status,
            opened_at=as_utc(row.opened_at), closed_at=as_utc(row.closed_at) if row.closed_at else None,
            current_owners=owners, owners_from=owners_from, people=people,
            documents=[_document(d) for d in documents], revealed=reveal)
        action = Action.REVEAL_PII if reveal else "view_archive"
        self._audit(str(action), {"archive": row.id, "unit": str(where), "people": len(people),
                                  "documents": len(documents), "revealed": reveal})
        return record

    # --- one person -------------------------------------------------------------------------------------

    def find(self, *, id_number: str | None = None, name: str | None = None,
             reveal: bool = False) -> list[PersonRecord]:
        """The people with this ID number (exactly; at most one) or this name, and where they appear."""
        self._require(Action.FIND_PERSON)
        if reveal:
            self._require(Action.REVEAL_PII)
        if (id_number is None) == (name is None):
            raise InvalidRequest("Look a person up by an ID number or by a name (one of the two).")
        blind = self._index.blind
        if id_number is not None:
            number = canonical_value("id_number", id_number)
            if check_id_number(number):
                raise InvalidRequest("That is not a valid ID number (18 characters, the last a digit or X, with a "
                                     "right check digit); check it and look it up again.")
            where: Any = PersonLinkRow.id_hmac == blind.value_hmac(number)
        else:
            text = "".join((name or "").split())
            if not text:
                raise InvalidRequest("Give the name to look up.")
            where = PersonLinkRow.name_hmac == name_hmac(blind, text)
        with db_errors("look a person up"), Session(self._index.engine) as s:
            links = list(s.scalars(select(PersonLinkRow).where(where).order_by(PersonLinkRow.id).limit(2000)))
            docs = {d.id: d for d in s.scalars(select(DocumentRow).where(
                DocumentRow.id.in_({ln.document_id for ln in links})))}
            archives = {a.id: a for a in s.scalars(select(ArchiveRow).where(
                ArchiveRow.id.in_({d.archive_id for d in docs.values() if d.archive_id})))}
        groups = _group(links)[:MAX_PEOPLE]
        found = [self._person_record(group, docs, archives, reveal) for group in groups]
        self._audit("find_person", {"by": "id_number" if id_number is not None else "name", "people": len(found),
                                    "archives": len({a.archive_id for p in found for a in p.archives}),
                                    "revealed": reveal, "outcome": "done"})
        return found

    # --- helpers ----------------------------------------------------------------------------------------

    def _find_archive(self, s: Session, archive_id: str | None, unit: UnitRef | None,
                      estate: str | None) -> ArchiveRow:
        if archive_id is not None:
            row = s.get(ArchiveRow, archive_id)
            if row is None:
                self._require(Action.VIEW_DOCUMENT)  # an owner learns nothing from a missing id
                raise NotFound(f"No archive with id {archive_id}.")
            return row
        if unit is None:
            raise InvalidRequest("Name the unit (building-unit-room, e.g. 3-2-1201) or the archive's id.")
        self._require(Action.VIEW_DOCUMENT, unit=unit)  # before saying whether the unit has an archive
        found = unit_archive(s, unit, estate_name(estate), required=True)
        assert found is not None
        return found

    def _links(self, s: Session, doc_ids: Sequence[str]) -> list[PersonLinkRow]:
        if not doc_ids:
            return []
        return list(s.scalars(select(PersonLinkRow).where(PersonLinkRow.document_id.in_(list(doc_ids)))
                              .order_by(PersonLinkRow.id)))

    @staticmethod
    def _owner_document(s: Session, documents: Sequence[DocumentRow], links: Sequence[PersonLinkRow]) -> str | None:
        """The newest owner registration or purchase contract naming an owner (the rule in the module docstring)."""
        naming = {ln.document_id for ln in links if ln.role in OWNER_ROLES}
        candidates = [d for d in documents if d.doc_type in OWNER_SOURCES and d.id in naming]
        if not candidates:
            return None
        dates = {f.document_id: f.value for f in s.scalars(select(FieldRow).where(
            FieldRow.document_id.in_([d.id for d in candidates]),
            FieldRow.name.in_(sorted(set(OWNER_SOURCES.values())))))
            if f.valid and f.value and f.name == OWNER_SOURCES.get(_type_of(candidates, f.document_id), "")}

        def newest(d: DocumentRow) -> tuple[str, str]:
            filed = as_utc(d.created_at)
            return dates.get(d.id) or filed.date().isoformat(), filed.isoformat()

        return max(candidates, key=newest).id

    def _people(self, links: Sequence[PersonLinkRow], reveal: bool) -> list[PersonEntry]:
        return [self._entry(group, reveal) for group in _group(links)]

    def _entry(self, group: Sequence[PersonLinkRow], reveal: bool) -> PersonEntry:
        name, number, phone = self._values(group, reveal)
        roles = list(dict.fromkeys(ln.role for ln in group))
        return PersonEntry(name=name, id_number=number, phone=phone, roles=roles,
                           role_labels=[ROLE_LABELS.get(r, r) for r in roles],
                           documents=list(dict.fromkeys(ln.document_id for ln in group)),
                           linked_by_id=any(ln.id_hmac for ln in group),
                           id_unsure=any(ln.id_unsure for ln in group), revealed=reveal)

    def _values(self, group: Sequence[PersonLinkRow], reveal: bool) -> tuple[str, str | None, str | None]:
        """Name, ID number and phone of a person (from the surest of their rows), masked unless revealed."""
        best = sorted(group, key=lambda ln: (ln.id_hmac is None, ln.name_unsure, -ln.id))[0]
        with_id = next((ln for ln in group if ln.id_hmac), None) or next((ln for ln in group if ln.id_masked), None)
        with_phone = next((ln for ln in group if ln.phone_masked), None)
        if not reveal:
            return (best.name_masked, with_id.id_masked if with_id else None,
                    with_phone.phone_masked if with_phone else None)
        return (self._open(best, "name", best.name_enc) or best.name_masked,
                self._open(with_id, "id_number", with_id.id_enc) if with_id else None,
                self._open(with_phone, "phone", with_phone.phone_enc) if with_phone else None)

    def _open(self, row: PersonLinkRow, what: str, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        return self._index.blind.decrypt_value(blob, key_id=row.value_key_id or "",
                                               context=person_context(row.document_id, row.role, row.slot, what))

    def _person_record(self, group: Sequence[PersonLinkRow], docs: dict[str, DocumentRow],
                       archives: dict[str, ArchiveRow], reveal: bool) -> PersonRecord:
        name, number, phone = self._values(group, reveal)
        by_archive: dict[str | None, list[PersonLinkRow]] = defaultdict(list)
        for ln in group:
            doc = docs.get(ln.document_id)
            if doc is not None:
                by_archive[doc.archive_id].append(ln)
        places = []
        for archive_id, rows in by_archive.items():
            archive = archives.get(archive_id or "")
            doc_rows = [docs[i] for i in dict.fromkeys(ln.document_id for ln in rows)]
            places.append(PersonArchive(archive_id=archive_id, place=archive.place if archive else None,
                                        status=archive.status if archive else None,
                                        roles=list(dict.fromkeys(ln.role for ln in rows)),
                                        documents=[_document(d) for d in doc_rows]))
        places.sort(key=lambda p: (p.place is None, p.status != "active", p.place or ""))
        return PersonRecord(name=name, id_number=number, phone=phone, archives=places, revealed=reveal)

    def _require(self, action: Action, *, unit: UnitRef | None = None, archive: ArchiveRow | None = None) -> None:
        def audit(*args: Any, **kwargs: Any) -> None:
            if archive is not None:  # say which archive was refused
                kwargs["detail"] = {**(kwargs.get("detail") or {}), "archive": archive.id}
            self._index.audit(*args, **kwargs)

        require(self.identity, action, audit, unit=unit)

    def _require_loan(self, archive: ArchiveRow) -> None:
        """A borrowing role sees an archive's people only while it holds an approved loan of it (rules/loans.py)."""
        if self.identity.role not in LOAN_ROLES:
            return
        now = utcnow()
        with db_errors("check the borrowing register"), Session(self._index.engine) as s:
            dues = list(s.scalars(select(LoanRow.due_at).where(
                LoanRow.archive_id == archive.id, LoanRow.borrower == self.identity.name,
                LoanRow.status == "approved")))
        if any(due is None or as_utc(due) >= now for due in dues):
            return
        place = archive.place
        self._index.audit(self.identity.name, str(self.identity.role), "view_archive",
                          detail={"outcome": "refused", "via": self.identity.via, "reason": "no_loan",
                                  "archive": archive.id})
        named = f" --estate {archive.estate}" if archive.estate else ""
        raise LoanRequired(
            f"{self.identity.name} ({self.identity.role}) has no approved loan of archive {place}: request one with "
            f"`dangan loan request {archive.building}-{archive.unit}-{archive.room}{named} --purpose TEXT`, and an "
            "archive manager approves it.", archive_id=archive.id, place=place)

    def _audit(self, action: str, detail: dict[str, Any]) -> None:
        self._index.audit(self.identity.name, str(self.identity.role), action,
                          detail={"outcome": "done", "via": self.identity.via, **detail})


def _group(links: Sequence[PersonLinkRow]) -> list[list[PersonLinkRow]]:
    """The links of one person together: by ID number when linked by one; else by name.

    A row without a linking ID number joins the one person of its name who has
    one (the owner named on a handover form is the owner of the registration),
    never several: two people share names.
    """
    by_id: dict[str, list[PersonLinkRow]] = defaultdict(list)
    loose: dict[str, list[PersonLinkRow]] = defaultdict(list)
    for ln in links:
        (by_id[ln.id_hmac] if ln.id_hmac else loose[ln.name_hmac]).append(ln)
    names: dict[str, list[str]] = defaultdict(list)
    for key, rows in by_id.items():
        for name in dict.fromkeys(r.name_hmac for r in rows):
            names[name].append(key)
    groups = list(by_id.values())
    for name, rows in loose.items():
        keys = names.get(name, [])
        if len(keys) == 1:
            by_id[keys[0]].extend(rows)
        else:
            groups.append(rows)
    return sorted(groups, key=lambda g: min(r.id for r in g))


def _type_of(documents: Sequence[DocumentRow], doc_id: str) -> str:
    return next((d.doc_type for d in documents if d.id == doc_id), "")


def _document(d: DocumentRow) -> ArchiveDocument:
    return ArchiveDocument(id=d.id, doc_type=d.doc_type, label=DOC_LABELS.get(d.doc_type, d.doc_type),
                           status=d.status, created_at=as_utc(d.created_at), unit_source=d.unit_source)
