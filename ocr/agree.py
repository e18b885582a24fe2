"""Agreement across documents (交叉核对): the same person must read the same on every document.

An owner folder names the owner on the registration form, the ID-card copy,
the purchase contract and the agreements; a tenant on the lease and their ID
copy. Two readings that agree make both more certain; two that cannot both be
right are flagged on both documents:

* the same valid ID number with different names: one name is misread;
* the same name with two different valid ID numbers: one number is misread;
* two names of one household that differ in exactly one character: most
  likely one person, one misread.

Works on plain values inside one file; :mod:`storage.index` applies the same
rules against the archive's earlier documents through keyed hashes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.doctypes import spec_of
from schemas.documents import SEAL_FIELD
from schemas.models import Extraction, FieldValue, OcrPage
from schemas.validators import check_id_number


@dataclass(frozen=True)
class PersonRead:
    """A person named on one document: where, and the name and ID number fields read."""

    doc: int
    role: str
    name: FieldValue | None
    id_number: FieldValue | None

    @property
    def valid_id(self) -> str | None:
        """The ID number when it was read and passes its checksum."""
        if self.id_number is None or not self.id_number.valid or check_id_number(self.id_number.value):
            return None
        return self.id_number.value


def people_of(doc: int, extraction: Extraction) -> list[PersonRead]:
    """The people a document names (from its type's spec)."""
    out = []
    for person in spec_of(extraction.doc_type).people:
        name = extraction.fields.get(person.name_field)
        number = extraction.fields.get(person.id_field) if person.id_field else None
        if name is not None or number is not None:
            out.append(PersonRead(doc, person.role, name, number))
    return out


def one_char_apart(a: str, b: str) -> bool:
    """Whether two names of equal length differ in exactly one character."""
    return len(a) == len(b) >= 2 and sum(x != y for x, y in zip(a, b, strict=True)) == 1


@dataclass
class Verdicts:
    """Per document and field: agreement seen (+1) and disagreement reasons."""

    agree: dict[tuple[int, str], int]
    disagree: dict[tuple[int, str], str]


def compare(a: PersonRead, b: PersonRead, labels: Sequence[str], verdicts: Verdicts) -> None:
    """Record what two readings of people on documents ``a.doc`` and ``b.doc`` say about each other."""
    ida, idb = a.valid_id, b.valid_id
    name_a = a.name.value if a.name else None
    name_b = b.name.value if b.name else None
    where_a, where_b = labels[a.doc], labels[b.doc]
    if ida and idb and ida == idb:
        _agree(verdicts, a, "id_number", b)
        if name_a and name_b:
            if name_a == name_b:
                _agree(verdicts, a, "name", b)
            else:
                _disagree(verdicts, a, "name", f"the same ID number names '{name_b}' on the {where_b}")
                _disagree(verdicts, b, "name", f"the same ID number names '{name_a}' on the {where_a}")
        return
    if name_a and name_b and name_a == name_b:
        _agree(verdicts, a, "name", b)
        if ida and idb:  # same name, two valid numbers: one of them is misread
            _disagree(verdicts, a, "id_number", f"'{name_a}' has another ID number on the {where_b}")
            _disagree(verdicts, b, "id_number", f"'{name_b}' has another ID number on the {where_a}")
        return
    if name_a and name_b and one_char_apart(name_a, name_b) and not (ida and idb):
        _disagree(verdicts, a, "name", f"differs in one character from '{name_b}' on the {where_b}")
        _disagree(verdicts, b, "name", f"differs in one character from '{name_a}' on the {where_a}")


def _field(person: PersonRead, which: str) -> FieldValue | None:
    return person.name if which == "name" else person.id_number


def _agree(verdicts: Verdicts, a: PersonRead, which: str, b: PersonRead) -> None:
    for p in (a, b):
        f = _field(p, which)
        if f is not None:
            verdicts.agree[(p.doc, f.name)] = verdicts.agree.get((p.doc, f.name), 0) + 1


def _disagree(verdicts: Verdicts, p: PersonRead, which: str, reason: str) -> None:
    f = _field(p, which)
    if f is not None:
        verdicts.disagree.setdefault((p.doc, f.name), reason)


def agree_within(documents: Sequence[Extraction]) -> list[Extraction]:
    """Cross-check the people named by the documents of one file; returns the documents with verdicts applied.

    A field that agrees with another document gets ``agree`` evidence; one that
    disagrees gets an issue naming the other document (and is counted as
    disagreeing evidence).
    """
    people = [p for i, ex in enumerate(documents) for p in people_of(i, ex)]
    labels = [f"{spec_of(ex.doc_type).label} (page {ex.first_page + 1})" for ex in documents]
    verdicts = Verdicts({}, {})
    for k, a in enumerate(people):
        for b in people[k + 1:]:
            if a.doc != b.doc:
                compare(a, b, labels, verdicts)
    return [apply_verdicts(i, ex, verdicts) for i, ex in enumerate(documents)]


def apply_verdicts(doc: int, extraction: Extraction, verdicts: Verdicts) -> Extraction:
    """Write the agreement evidence and disagreement issues into a document's fields."""
    fields = dict(extraction.fields)
    changed = False
    for name, value in extraction.fields.items():
        agree, reason = verdicts.agree.get((doc, name), 0), verdicts.disagree.get((doc, name))
        if not agree and reason is None:
            continue
        evidence = dict(value.evidence or {})
        evidence["agree"] = -1.0 if reason else float(min(agree, 3))
        update: dict[str, object] = {"evidence": evidence}
        if reason and value.issue is None:
            update["issue"] = f"disagrees: {reason}"
        fields[name] = value.model_copy(update=update)
        changed = True
    return extraction.model_copy(update={"fields": fields}) if changed else extraction


# --- seals against the names printed on the pages ---

#: How an organisation's name ends (公司, 中心 ...): printed names of this shape are what seals say.
_ORG_NAME = re.compile(
    r"[\u3400-\u9fff（）()]{4,30}?(?:有限责任公司|有限公司|分公司|公司|服务中心|管理处|委员会|办事处)")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two short strings."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def printed_org_names(pages: Sequence[OcrPage], *, min_confidence: float = 0.9) -> dict[str, int]:
    """Organisation names printed (read with confidence) on the pages, with how often each was seen."""
    seen: dict[str, int] = {}
    for page in pages:
        for line in page.lines:
            if line.confidence < min_confidence:
                continue
            text = re.sub(r"\s+", "", line.text)
            for m in _ORG_NAME.finditer(text):
                name = m.group(0)
                seen[name] = seen.get(name, 0) + 1
    return seen


def agree_seal(value: FieldValue, names: dict[str, int]) -> FieldValue:
    """Check a seal's text against the organisation names printed in the file.

    The rim of a seal reads worse than print: a reading within a couple of
    characters of a printed name is that name (``agree`` +1, ``replaced``
    when it changed); a reading near no printed name keeps its own evidence.
    """
    if not names:
        return value
    best = min(names, key=lambda n: (edit_distance(value.value, n), -names[n]))
    distance = edit_distance(value.value, best)
    if distance > max(2, len(best) // 5):
        return value
    evidence = {**(value.evidence or {}), "agree": float(min(names[best], 3))}
    if best != value.value:
        evidence["replaced"] = 1.0
    return value.model_copy(update={"value": best, "evidence": evidence})


def agree_seals(documents: Sequence[Extraction], pages: Sequence[OcrPage]) -> list[Extraction]:
    """Check every document's seal text against the organisation names printed anywhere in the file."""
    names = printed_org_names(pages)
    out = []
    for extraction in documents:
        seal = extraction.fields.get(SEAL_FIELD)
        if seal is None:
            out.append(extraction)
            continue
        fields = {**extraction.fields, SEAL_FIELD: agree_seal(seal, names)}
        out.append(extraction.model_copy(update={"fields": fields}))
    return out


# --- one household, one file: the unit and the owner read the same on every document ---

#: Fields that name the owner of the unit on the documents of an owner folder.
OWNER_NAME_FIELDS = ("owner_name", "buyer_name", "principal_name", "landlord_name")
OWNER_ID_FIELDS = ("id_number", "buyer_id_number")
UNIT_PARTS = ("building", "unit", "room")


def _consensus(values: Sequence[str]) -> str | None:
    """The value at least two documents read alike, when no other value has as much support."""
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < 2 or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return None
    return ranked[0][0]


def _near(a: str, b: str, limit: int) -> bool:
    return edit_distance(a, b) <= limit


def settle_household(documents: Sequence[Extraction]) -> list[Extraction]:
    """Fill and mend the unit and the owner's name and ID number from what the file's other documents agree on.

    In a whole-folder scan every document belongs to one unit and one owner.
    When two or more documents read the unit (or the owner's name, or a valid ID
    number) alike, a document that read it a character off takes the agreed
    value (``replaced``), one that could not read it at all gets it
    (``derived``), and one that read it alike is confirmed (``agree``). A value
    far from the agreed one is left alone: it may be another unit or person.
    """
    units = ["-".join(ex.fields[p].value for p in UNIT_PARTS) for ex in documents
             if all(p in ex.fields and ex.fields[p].valid for p in UNIT_PARTS)]
    names = [ex.fields[f].value for ex in documents for f in OWNER_NAME_FIELDS if f in ex.fields]
    ids = [ex.fields[f].value for ex in documents for f in OWNER_ID_FIELDS
           if f in ex.fields and not check_id_number(ex.fields[f].value)]
    unit, name, number = _consensus(units), _consensus(names), _consensus(ids)
    return [_settle(ex, unit, name, number) for ex in documents]


def _settle(extraction: Extraction, unit: str | None, name: str | None, number: str | None) -> Extraction:
    spec = spec_of(extraction.doc_type)
    fields = dict(extraction.fields)
    if unit and spec.field_spec("building") is not None:
        agreed = dict(zip(UNIT_PARTS, unit.split("-"), strict=True))
        mine = {p: fields[p].value for p in UNIT_PARTS if p in fields}
        if all(_near(mine[p], agreed[p], 1) for p in mine):  # the same unit, read less well or not at all
            source = next((fields[p] for p in UNIT_PARTS if p in fields), None)
            for part in UNIT_PARTS:
                fields[part] = _agreed(fields.get(part), part, agreed[part], source)
    if name:
        for f in OWNER_NAME_FIELDS:
            if f in fields and fields[f].value != name and _near(fields[f].value, name, 1) \
                    and len(fields[f].value) == len(name):
                fields[f] = _agreed(fields[f], f, name, fields[f])
            elif f in fields and fields[f].value == name:
                fields[f] = _agreed(fields[f], f, name, fields[f])
    if number:
        for f in OWNER_ID_FIELDS:
            if spec.field_spec(f) is None:
                continue
            value = fields.get(f)
            if value is not None and (value.value == number or _near(value.value, number, 2)):
                fields[f] = _agreed(value, f, number, value)
    return extraction.model_copy(update={"fields": fields})


def _agreed(value: FieldValue | None, name: str, agreed: str, source: FieldValue | None) -> FieldValue:
    """``value`` confirmed, mended or filled by the value the file's documents agree on."""
    if value is not None and value.value == agreed:
        evidence = {**(value.evidence or {}), "agree": max(1.0, (value.evidence or {}).get("agree", 0.0))}
        return value.model_copy(update={"evidence": evidence})
    if value is not None:
        evidence = {**(value.evidence or {}), "agree": 1.0, "replaced": 1.0}
        return value.model_copy(update={"value": agreed, "valid": True, "issue": None, "evidence": evidence})
    evidence = {"ocr": (source.evidence or {}).get("ocr", 0.9) if source else 0.9, "how": 1.0, "agree": 1.0,
                "derived": 1.0}
    return FieldValue(name=name, value=agreed, confidence=0.9, page=source.page if source else None,
                      box=source.box if source else None, evidence=evidence)
