"""What a person typed into the one search box (查询理解): pure functions, no database.

The box takes, in any order and separated by spaces or commas:

* a name (2-4 Chinese characters: 王伟, 欧阳娜娜), also found as words of the text;
* an ID number, 18 or 15 characters (spaces and dashes ignored), or its last 4-6 characters (``1234``,
  ``02315X``);
* a mobile or landline phone (``138 1234 5678``, ``+86 13812345678``, ``010-87654321``);
* a unit in any common form: ``3-2-1201``, ``3栋2单元1201``, ``3号楼1201室``, ``3幢2单元1201``,
  ``A座1201``, ``三栋二单元1201``, ``1201室``, ``3栋``, full-width digits, or after an estate name
  (``锦绣花园3栋2单元1201``);
* a contract number (``HT-2023-0012``, ``GF2023001``: letters and digits);
* any words of the OCR text (``承重墙``, ``物业管理``);
* filters: a document type by its name (``身份证``, ``合同``, ``登记表`` ...), a status word
  (``待审核``), a filing date or range (``2023-05``, ``2023-01-01~2023-06-30``, ``2023年5月``), or
  ``key:value`` (``类型:id_card``, ``状态:needs_review``, ``小区:锦绣花园``, ``楼栋:3``).

:func:`understand` turns the text into a :class:`ParsedQuery`: parts that must
ALL match, each with one or more readings (any one may match), and filters.
A reading carries the plain search tokens it needs (all of them); the index
turns them into keyed hashes (:mod:`storage.blind`). A part that reads as a
name, an ID number's tail or a contract also reads as words of the text; a unit
reads only as a unit (its digits as loose words would match meter readings and
amounts), a full ID number or phone only as itself (it is a token of its own
wherever it is written).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from schemas.documents import DOC_LABELS, DOC_TYPES
from schemas.lazyre import LazyPattern
from schemas.models import UnitRef, estate_name
from storage.blind import (
    ID_TAIL_LENGTHS,
    contract_token,
    estate_token,
    name_token,
    phone_token,
    query_tokens,
    unit_token,
)
from storage.unitpath import read_component

Kind = Literal["name", "id_number", "id_tail", "phone", "unit", "contract", "estate", "text"]
#: Kinds matched against a whole field value (they rank before words of the text).
EXACT_KINDS: frozenset[str] = frozenset({"name", "id_number", "id_tail", "phone", "unit", "contract", "estate"})
#: Kinds whose value is never shown in full (masked in every description).
SECRET_KINDS: frozenset[str] = frozenset({"id_number", "id_tail", "phone"})
STATUSES = ("indexed", "needs_review")


class Reading(BaseModel):
    """One way to read a part of the query."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    kind: Kind
    #: Canonical value (an ID number upper-case, a phone's digits, a unit ``3-2-1201``, a name).
    value: str
    #: Plain search tokens a document must all have (hashed by the index before use).
    tokens: tuple[str, ...]

    @property
    def exact(self) -> bool:
        """Whether this reading matches a whole field value (not words of the text)."""
        return self.kind in EXACT_KINDS

    @property
    def display(self) -> str:
        """The value as a page may show it: ID numbers and phones masked."""
        return mask_typed(self.kind, self.value)


class QueryPart(BaseModel):
    """One thing the person typed; a document matches it when it matches any of its readings."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    #: What was typed (NFKC-folded); for highlighting words of the text.
    text: str
    readings: tuple[Reading, ...]

    @property
    def display(self) -> str:
        """What was typed, with ID numbers and phones masked."""
        secret = next((r for r in self.readings if r.kind in SECRET_KINDS), None)
        return secret.display if secret is not None and secret.kind != "id_tail" else self.text


class QueryFilters(BaseModel):
    """Filters from the box or the page's controls; None: not filtered."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    doc_types: tuple[str, ...] | None = None
    estate: str | None = None
    building: str | None = None
    #: Filing dates (归档日期), inclusive.
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    status: str | None = None

    @field_validator("estate")
    @classmethod
    def _estate_as_filed(cls, value: str | None) -> str | None:
        """An estate as archives are filed by it (``锦绣 花园`` finds ``锦绣花园``)."""
        return estate_name(value)


class ParsedQuery(BaseModel):
    """The query understood: parts that must all match, and filters."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    parts: tuple[QueryPart, ...] = ()
    filters: QueryFilters = QueryFilters()

    @property
    def kinds(self) -> list[list[str]]:
        """The kinds each part may be read as (for tests and the page)."""
        return [[r.kind for r in p.readings] for p in self.parts]


# --------------------------------------------------------------------------- vocabularies

#: Words that name a document type (the labels printed on the forms, and what clerks call them).
DOC_TYPE_WORDS: dict[str, tuple[str, ...]] = {
    **{label: (name,) for name, label in DOC_LABELS.items() if name != "other"},
    "身份证": ("id_card",), "身份证复印件": ("id_card",), "身份证件": ("id_card",),
    "登记表": ("owner_registration",), "业主登记表": ("owner_registration",), "入住登记表": ("owner_registration",),
    "业主档案表": ("owner_registration",),
    "合同": ("purchase_contract", "lease_contract"), "购房合同": ("purchase_contract",),
    "买卖合同": ("purchase_contract",), "商品房合同": ("purchase_contract",), "租赁合同": ("lease_contract",),
    "租房合同": ("lease_contract",), "入住通知": ("move_in_notice",), "入住通知书": ("move_in_notice",),
    "交接表": ("handover_form",), "收楼单": ("handover_form",), "交接单": ("handover_form",),
    "验收表": ("handover_form",), "装修申请": ("renovation_application",),
    "装修申请表": ("renovation_application",), "消防协议": ("fire_safety_agreement",),
    "消防安全协议": ("fire_safety_agreement",), "承诺书": ("commitment_letter",), "公约": ("commitment_letter",),
    "委托书": ("power_of_attorney",), "授权委托书": ("power_of_attorney",),
}
#: Words that name a status.
STATUS_WORDS: dict[str, str] = {
    "待审核": "needs_review", "待复核": "needs_review", "需复核": "needs_review", "需审核": "needs_review",
    "待核对": "needs_review", "已入库": "indexed", "已归档": "indexed", "已索引": "indexed",
}
_FILTER_KEYS: dict[str, str] = {
    "type": "type", "类型": "type", "类别": "type", "status": "status", "状态": "status",
    "estate": "estate", "小区": "estate", "楼盘": "estate", "building": "building", "楼栋": "building",
    "楼": "building", "date": "date", "日期": "date", "归档日期": "date",
}
#: Endings of an estate's name (小区名).
_ESTATE_ENDINGS = ("花园", "小区", "家园", "苑", "府", "城", "公寓", "大厦", "园", "庭", "湾", "郡", "里", "居",
                   "广场", "公馆", "山庄", "新村", "名都", "华庭", "雅居", "中心")

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CN_NUM = "一二三四五六七八九十两"
_SEPARATORS = LazyPattern(r"[\s,，;；、/|]+")
_KEY_VALUE = LazyPattern(r"^([A-Za-z\u4e00-\u9fff]{1,6})[:：=](.+)$")
_ID_FULL = LazyPattern(r"\d{17}[\dX]|\d{15}")
_ID_TAIL = LazyPattern(r"\d{3,5}[\dX]")
_MOBILE = LazyPattern(r"(?:\+?86)?(1[3-9]\d{9})")
_LANDLINE = LazyPattern(r"(0\d{2,3})-?(\d{7,8})")
_CONTRACT = LazyPattern(r"(?=[A-Z0-9\-_/]*\d{2})(?=[A-Z0-9\-_/]*[A-Z])[A-Z][A-Z0-9]*(?:[\-_/][A-Z0-9]+)*|"
                        r"\d{2,}(?:[\-_/][A-Z0-9]+)*[\-_/]?[A-Z]{1,6}(?:[\-_/]?[A-Z0-9]+)*")
_DATE = LazyPattern(r"(\d{4})(?:[-./年](\d{1,2})(?:[-./月](\d{1,2})日?)?月?)?")
_DATE_RANGE = LazyPattern(r"(.+?)(?:~|～|至|到|--)(.+)")
_RUNS = LazyPattern(rf"[{_CJK}]+|[^{_CJK}]+")
_UNIT_START = LazyPattern(rf"(?:第)?(?:\d|[A-Za-z](?:\d|座|栋|幢|#)|[{_CN_NUM}]{{1,3}}(?:号楼|号栋|栋|幢|座|单元))")


def fold(text: str) -> str:
    """NFKC (full-width digits and letters become ASCII), upper-case ASCII letters, trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def mask_typed(kind: str, value: str) -> str:
    """An ID number or phone as a page shows it (``110105********1234``, ``138****5678``); others as is."""
    if kind == "id_number":
        return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)
    if kind == "phone":
        return value[:3] + "*" * (len(value) - 7) + value[-4:] if len(value) > 7 else "*" * len(value)
    if kind == "id_tail":
        return "*" * len(value)
    return value


# --------------------------------------------------------------------------- the whole query


def understand(query: str, *, filters: QueryFilters | None = None) -> ParsedQuery:
    """Read the search box (see the module docstring); explicit ``filters`` win over the box's."""
    text = fold(query)
    found: dict[str, object] = {}
    parts: list[QueryPart] = []
    whole = _whole_number(text)
    if whole is not None:
        parts.append(whole)
        chunks: list[str] = []
    else:
        chunks = _join_digit_groups([c for c in _SEPARATORS.split(text) if c])
    for chunk in chunks:
        if _read_filter(chunk, found):
            continue
        parts.extend(read_chunk(chunk))
    box = QueryFilters(**found)  # type: ignore[arg-type]
    if filters is not None:
        box = box.model_copy(update={k: v for k, v in filters.model_dump().items() if v is not None})
    return ParsedQuery(parts=tuple(p for p in parts if p.readings), filters=box)


def _whole_number(text: str) -> QueryPart | None:
    """The whole box as one ID number or phone typed with spaces, dashes or brackets."""
    compact = re.sub(r"[\s\-()（）]", "", text).upper()
    if not re.fullmatch(r"\+?[\dX]+", compact) or not re.search(r"[\s\-()（）]", text):
        return None
    for reading in (_id_number(compact), _phone(compact)):
        if reading is not None:
            return QueryPart(text=compact, readings=(reading,))
    return None


def _join_digit_groups(chunks: list[str]) -> list[str]:
    """Join runs of digit groups that together make an ID number or a phone (``138 1234 5678``)."""
    out: list[str] = []
    i = 0
    while i < len(chunks):
        joined = None
        for j in range(min(len(chunks), i + 5), i + 1, -1):
            group = chunks[i:j]
            if all(re.fullmatch(r"\+?[\dXx]+", c) for c in group):
                candidate = "".join(group).upper()
                if _id_number(candidate) or _phone(candidate):
                    joined, i = candidate, j
                    break
        if joined is None:
            joined = chunks[i]
            i += 1
        out.append(joined)
    return out


def _read_filter(chunk: str, found: dict[str, object]) -> bool:
    """Record a filter the chunk names (``身份证``, ``待审核``, ``2023-05``, ``小区:锦绣花园``); False if none."""
    m = _KEY_VALUE.match(chunk)
    if m and m.group(1).lower() in _FILTER_KEYS:
        key, value = _FILTER_KEYS[m.group(1).lower()], m.group(2).strip()
        if key == "type":
            types = DOC_TYPE_WORDS.get(value) or ((value,) if value in DOC_TYPES else None)
            if types:
                found["doc_types"] = types
        elif key == "status":
            status = STATUS_WORDS.get(value, value if value in STATUSES else None)
            if status:
                found["status"] = status
        elif key == "estate":
            found["estate"] = value
        elif key == "building":
            found["building"] = unit_value(re.sub(r"(号楼|栋|幢|座|号)$", "", value))
        elif key == "date":
            span = date_span(value)
            if span:
                found["date_from"], found["date_to"] = span
        return True
    if chunk in DOC_TYPE_WORDS:
        found["doc_types"] = DOC_TYPE_WORDS[chunk]
        return True
    if chunk in STATUS_WORDS:
        found["status"] = STATUS_WORDS[chunk]
        return True
    span = date_span(chunk) if not chunk.isdigit() else None
    if span:
        found["date_from"], found["date_to"] = span
        return True
    return False


def date_span(text: str) -> tuple[dt.date, dt.date] | None:
    """First and last day of ``2023-05-01``, ``2023-05``, ``2023年5月``, or a range ``A~B`` / ``A至B``."""
    text = text.strip()
    m = _DATE_RANGE.fullmatch(text)
    if m:
        a, b = _one_date(m.group(1)), _one_date(m.group(2))
        return (a[0], b[1]) if a and b and a[0] <= b[1] else None
    return _one_date(text)


def _one_date(text: str) -> tuple[dt.date, dt.date] | None:
    m = _DATE.fullmatch(text.strip())
    if not m or (m.group(2) is None and not text.strip().endswith("年")):
        return None  # a bare 4-digit number is an ID tail, not a year
    year, month, day = int(m.group(1)), m.group(2), m.group(3)
    try:
        if day:
            d = dt.date(year, int(month), int(day))
            return d, d
        if month:
            first = dt.date(year, int(month), 1)
            nxt = dt.date(year + (first.month == 12), first.month % 12 + 1, 1)
            return first, nxt - dt.timedelta(days=1)
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    except ValueError:
        return None


# --------------------------------------------------------------------------- one chunk


def read_chunk(chunk: str) -> list[QueryPart]:
    """The parts one whitespace-free chunk of the box holds (``王伟3-2-1201`` holds two)."""
    upper = chunk.upper()
    for reader in (_id_number, _phone):
        reading = reader(re.sub(r"[\-()（）]", "", upper))
        if reading is not None:
            return [QueryPart(text=chunk, readings=(reading,))]
    tail = _id_tail(upper)
    if tail is not None:
        return [QueryPart(text=chunk, readings=(tail, *_text(chunk)))]
    unit = _unit(chunk)
    if unit is not None:
        return [QueryPart(text=chunk, readings=(unit,))]
    contract = _contract(upper)
    if contract is not None:
        return [QueryPart(text=chunk, readings=(contract, *_text(chunk)))]
    split = _split_place(chunk)
    if split is not None:
        return split
    runs = _RUNS.findall(chunk)
    if len(runs) > 1:
        return [part for run in runs for part in read_chunk(run)]
    if re.fullmatch(rf"[{_CJK}]+", chunk):
        return [_cjk_part(chunk)]
    return [QueryPart(text=chunk, readings=_text(chunk))]


def _cjk_part(chunk: str) -> QueryPart:
    readings: list[Reading] = []
    if 2 <= len(chunk) <= 4:
        readings.append(Reading(kind="name", value=chunk, tokens=(name_token(chunk),)))
    if chunk.endswith(_ESTATE_ENDINGS) and len(chunk) >= 3:
        readings.append(Reading(kind="estate", value=chunk, tokens=(estate_token(chunk),)))
    readings.extend(_text(chunk))
    return QueryPart(text=chunk, readings=tuple(readings))


def _split_place(chunk: str) -> list[QueryPart] | None:
    """``锦绣花园3栋2单元1201`` / ``王伟3-2-1201``: Chinese words, then a unit."""
    m = re.match(rf"([{_CJK}]{{2,}}?)(?=[^{_CJK}]|[{_CN_NUM}])", chunk)
    if not m:
        return None
    for start in range(len(m.group(1)), len(chunk)):
        rest = chunk[start:]
        if not _UNIT_START.match(rest):
            continue
        unit = _unit(rest)
        if unit is not None:
            return [_cjk_part(chunk[:start]), QueryPart(text=rest, readings=(unit,))]
    return None


def _id_number(compact: str) -> Reading | None:
    if not _ID_FULL.fullmatch(compact):
        return None
    return Reading(kind="id_number", value=compact, tokens=(f"id:{compact}",))


def _id_tail(compact: str) -> Reading | None:
    if len(compact) not in ID_TAIL_LENGTHS or not _ID_TAIL.fullmatch(compact):
        return None
    return Reading(kind="id_tail", value=compact, tokens=(f"idtail{len(compact)}:{compact}",))


def _phone(compact: str) -> Reading | None:
    m = _MOBILE.fullmatch(compact)
    if m:
        return Reading(kind="phone", value=m.group(1), tokens=(phone_token(m.group(1)),))
    m = _LANDLINE.fullmatch(compact)
    if m:
        digits = m.group(1) + m.group(2)
        return Reading(kind="phone", value=digits, tokens=(phone_token(digits),))
    return None


def _unit(chunk: str) -> Reading | None:
    """A unit reference in one of the strict forms of :func:`storage.unitpath.read_component`."""
    reading = read_component(chunk, is_file=True)
    parts = reading.parts
    if reading.unclear or reading.bare_room or not parts or set(parts) == {"unit"}:
        return None
    token = unit_token(parts.get("building"), parts.get("unit"), parts.get("room"))
    if token is None:
        return None
    value = "-".join(unit_value(parts[p]) if p in parts else "" for p in ("building", "unit", "room")).strip("-")
    return Reading(kind="unit", value=token.removeprefix("unit:") or value, tokens=(token,))


def unit_value(value: str) -> str:
    """A building, unit or room as the index compares it (half-width, upper-case, no leading zeros)."""
    text = fold(value).upper()
    return text.lstrip("0") or text


def _contract(upper: str) -> Reading | None:
    if not _CONTRACT.fullmatch(upper) or sum(c.isdigit() for c in upper) < 3:
        return None
    token = contract_token(upper)
    return Reading(kind="contract", value=token.removeprefix("contract:"), tokens=(token,))


def _text(chunk: str) -> tuple[Reading, ...]:
    tokens = tuple(sorted(query_tokens(chunk)))
    return (Reading(kind="text", value=chunk, tokens=tokens),) if tokens else ()


# --------------------------------------------------------------------------- results (for the page and the API)

#: What a complete owner archive holds (业主档案的必备材料), in catalogue order.
ARCHIVE_CONTENTS: tuple[str, ...] = ("owner_registration", "id_card", "purchase_contract", "move_in_notice",
                                     "handover_form", "fire_safety_agreement", "commitment_letter")


class Completeness(BaseModel):
    """Which of the required document types an archive holds (counted from the index)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    present: tuple[str, ...]
    missing: tuple[str, ...]
    #: The types the archive must hold, in the checklist's order (the built-in seven by default).
    required: tuple[str, ...] = ARCHIVE_CONTENTS

    @property
    def count(self) -> int:
        """How many of the required types are present."""
        return len(self.present)

    @property
    def total(self) -> int:
        """How many types are required."""
        return len(self.required)

    @classmethod
    def of(cls, holdings: Mapping[str, int], needs: Needs | None = None) -> Completeness:
        """Completeness of an archive holding ``holdings`` (document type -> how many).

        ``needs`` says how many of each type an archive holding that much must hold (the company's
        checklist, ``rules.checklist.Checklist.needed``); without it, one of each built-in type.
        """
        needed = needs(holdings) if needs is not None else dict.fromkeys(ARCHIVE_CONTENTS, 1)
        return cls(present=tuple(t for t, n in needed.items() if holdings.get(t, 0) >= n),
                   missing=tuple(t for t, n in needed.items() if holdings.get(t, 0) < n),
                   required=tuple(needed))


#: How many of each document type an archive holding (type -> count) must hold.
Needs = Callable[[Mapping[str, int]], Mapping[str, int]]


class MatchedTerm(BaseModel):
    """What made a document a hit: one part of the query, and how it matched."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    #: What was typed; ID numbers and phones masked, ID tails as ``****``.
    text: str
    kind: Kind
    #: The typed words occur in the document's OCR text: a page may highlight ``text`` there.
    highlight: bool
    #: Fields whose value matched (the page may mark the row; masked values stay masked).
    fields: tuple[str, ...] = ()


class DocumentHit(BaseModel):
    """One document found, as a result page lists it (sensitive values masked)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    doc_type: str
    doc_label: str
    source_name: str
    first_page: int
    pages: int
    status: str
    created_at: dt.datetime
    #: Field values; ID numbers, phones and addresses masked.
    fields: dict[str, str]
    matched: tuple[MatchedTerm, ...] = ()
    #: Every part matched a whole field value (a name, an ID number ...), not just words of the text.
    exact_match: bool = False


class DocumentSummary(BaseModel):
    """One search hit."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    source_name: str
    sha256: str
    doc_type: str
    unit: UnitRef | None
    first_page: int
    pages: int
    status: str
    created_at: dt.datetime
    #: True when a field equals the query (exact name, ID number or phone).
    exact_match: bool
    #: The unit archive it is filed in, and that archive's estate (小区), when known.
    archive_id: str | None = None
    estate: str | None = None
    #: How each part of the query matched (ID numbers and phones masked).
    matched: tuple[MatchedTerm, ...] = ()


class ArchiveGroup(BaseModel):
    """The hits of one unit archive (分户档案), or of documents filed under no unit (``archive_id`` None)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    archive_id: str | None
    estate: str | None = None
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    status: str | None = None
    documents: tuple[DocumentHit, ...]
    completeness: Completeness | None = None

    @property
    def label(self) -> str:
        """``锦绣花园 3栋2单元1201`` (``未归户`` for documents without a unit)."""
        if self.archive_id is None:
            return "未归户"
        place = f"{self.building}栋{self.unit}单元{self.room}"
        return f"{self.estate} {place}" if self.estate else place


class SearchResult(BaseModel):
    """Hits grouped by unit archive; groups in the order of their newest hit."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    #: The parts understood, masked: [(kind, display) per reading] per part.
    understood: tuple[tuple[tuple[str, str], ...], ...]
    filters: QueryFilters
    groups: tuple[ArchiveGroup, ...]
    #: Documents returned (at most ``limit``).
    count: int
    #: More documents matched than ``limit``.
    truncated: bool


class BrowseItem(BaseModel):
    """One estate, building or unit in the browse tree, with the number of archives below it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    value: str
    label: str
    archives: int


class ArchiveSummary(BaseModel):
    """One unit archive in a listing."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    estate: str | None
    building: str
    unit: str
    room: str
    status: str
    documents: int
    completeness: Completeness


class BrowseResult(BaseModel):
    """One level of estate → building → unit → archive."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    level: Literal["estate", "building", "unit", "archive"]
    estate: str | None = None
    building: str | None = None
    unit: str | None = None
    items: tuple[BrowseItem, ...] = ()
    archives: tuple[ArchiveSummary, ...] = ()


def natural_key(value: str | None) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting ``2`` before ``10`` and numbers before letters."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.findall(r"\d+|\D+", value or ""))
