"""The unit (楼栋 / 单元 / 房号) a drop-folder path names, and how it overrides the page's reading.

Clerks and scanners often file scans in folders named after the unit::

    锦绣花园/3栋/2单元/1201/scan0001.pdf     one folder per level
    3-2-1201/scan0001.pdf                    the short form
    3号楼/1201室/scan0001.pdf                 a building without 单元: building and room only
    锦绣花园/3-2-1201/xxx.pdf                 the estate first
    3栋2单元1201/scan0001.pdf                 the whole unit in one name

Only the path BELOW the drop folder counts (``DropItem.relative``: the drop
folder's own name is the operator's choice, not the clerk's filing). Reading
is strict, because a wrong unit files an owner's papers into another owner's
archive:

* A component counts only when ALL of it is a unit reference in one of the
  forms above (``3栋``, ``2单元``, ``1201室``, ``3-2-1201``, ``3栋2单元1201``,
  ``A座``, ``三栋二单元1201`` ...). A bare number (``1201``) is a room only in a
  folder directly below a unit's folder (``3栋/2单元/1201``); bare numbers are
  never a building or a unit, so date folders (``2024/05/01``,
  ``2024-05-01``), a scanner's counters (``0001``, ``scan_0003``) and names
  with digits (``王伟1201``) name nothing. A short form that is also a date
  (``5-1-2024``: building 5, unit 1, room 2024, or 1 May 2024) names nothing.
* A file's own name counts too, in the explicit forms only (``3-2-1201.pdf``,
  ``1201室.pdf``; never a bare number: scanners number their files).
* Components combine from the top: ``3栋`` then ``2单元`` then ``1201``. A
  component that names a level again starts that level anew (``5栋`` below
  ``3栋/2单元`` forgets unit 2). The deepest complete unit wins
  (``3-2-1201/5-1-802/x.pdf`` is 5-1-802); a component below it that names
  another building, unit or room makes the path ambiguous: no hint.
* A component that reads like a unit but is not strictly one
  (``王伟3栋2单元1201``, ``3栋2单元1201室登记表``) never gives a part, and makes
  the path ambiguous when what it names disagrees with the result.
* Without a complete unit, the parts found (``3号楼/1201室``: building 3,
  room 1201) still override the page's reading of those parts; the unit a
  document is filed under then comes from both.
* The estate (小区) is the first component when it is not a unit, a date or a
  number, nor a folder name that says what is inside (``扫描件``). An estate
  alone names no unit (``锦绣花园/a.pdf`` gives no hint).

How the hint overrides the page (:func:`apply_unit_hint`): the building /
unit / room fields of a document that has them take the path's values
(``source="path"``); a value the page reads alike is confirmed; a value the
page reads otherwise is kept as evidence in the field's issue ("the folder
says room 1201 but the page reads 802") and its document goes to review,
because one of the two is wrong and only a person can tell which: a clerk
may have put the scan in the wrong folder, or the form may name another unit.
The documents are filed under the path's unit either way (the ingest passes
:func:`filed_unit` to the index), also those whose type has no unit fields
(ID copies).

Where a document is filed (:func:`filed_unit`): a unit archive is one unit of
one estate. The path's (or cover sheet's) unit with its estate when it names
all three parts; else the unit the document's own fields name, pieced
together with the path's parts, under the path's estate; nothing when
neither names a whole unit. A cover sheet speaks for the documents behind it
alone: its estate, or none, never the folder's. How the index picks the
archive of a unit when the estate is not known: :meth:`storage.index.Index.record_file`.
No document type has an estate field of its own: the estate comes from the
path or a cover sheet only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Literal

from schemas.doctypes import spec_of
from schemas.lazyre import LazyPattern
from schemas.models import Extraction, FieldValue, UnitRef, ValueSource, estate_name
from schemas.validators import cn_numeral_to_int, find_dates, parse_unit_parts, to_halfwidth

if TYPE_CHECKING:
    from ocr.coversheet import CoverSheet

#: The parts of a unit reference, from the top.
PARTS = ("building", "unit", "room")
_LEVEL = {name: i for i, name in enumerate(PARTS)}

_CN = "一二三四五六七八九十两"
_BUILDING_VALUE = rf"[1-9]\d{{0,2}}|[A-Za-z][1-9]\d?|[A-Za-z]|[{_CN}]{{1,3}}"
# "3楼" is a floor and "3号" may be a room: neither names a building.
_BUILDING = rf"(?:第)?(?P<b>{_BUILDING_VALUE})(?:号楼|号栋|号幢|栋楼|栋|幢|座|#楼|#)"
_UNIT = rf"(?:第)?(?P<u>[1-9]\d?|[A-Za-z]|[{_CN}]{{1,3}})单元"
_ROOM_VALUE = r"[A-Za-z]?[1-9]\d{2,4}[A-Za-z]?"
_SEP = r"[-_]?"
_EXPLICIT = LazyPattern(
    rf"(?:{_BUILDING}{_SEP})?(?:{_UNIT}{_SEP})?(?:(?P<r>{_ROOM_VALUE})(?P<rs>号房|室|房|号)?)?")
_DASHED = LazyPattern(rf"(?P<b>[1-9]\d{{0,2}}|[A-Za-z][1-9]\d?|[A-Za-z])[-_](?P<u>[1-9]\d?)[-_]"
                        rf"(?P<r>{_ROOM_VALUE})(?:室|房|号)?")
_BARE_ROOM = LazyPattern(r"[1-9]\d{2,3}")
_CJK = LazyPattern(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class UnitHint:
    """What a drop-folder path says about the unit of the files below it (any part may be missing)."""

    building: str | None = None
    unit: str | None = None
    room: str | None = None
    estate: str | None = None
    #: Where the hint comes from: the drop folder's ``path`` or a ``cover_sheet`` scanned before the document.
    source: Literal["path", "cover_sheet"] = "path"

    @property
    def parts(self) -> dict[str, str]:
        """The parts the path names (building / unit / room)."""
        return {name: value for name in PARTS if (value := getattr(self, name)) is not None}

    @property
    def unit_ref(self) -> UnitRef | None:
        """The unit, with the estate when one is named, when the path names all three parts."""
        parts = self.parts
        return UnitRef(**parts, estate=self.estate) if len(parts) == 3 else None

    def __str__(self) -> str:
        return "-".join(self.parts.get(p, "?") for p in PARTS)


@dataclass(frozen=True)
class _Reading:
    """What one path component says: strict parts, a bare room, or an unclear reading."""

    parts: dict[str, str]
    bare_room: bool = False
    #: Looks like a unit reference but is not strictly one; ``parts`` is then the lenient reading.
    unclear: bool = False


_NOTHING = _Reading({})


def unit_from_path(relative: PurePath | str) -> UnitHint | None:
    """The unit the path below a drop folder names (``锦绣花园/3栋/2单元/1201/a.pdf``), or None.

    ``relative`` ends with the file's name. See the module docstring for the
    rules; None when the path names no part of a unit or is ambiguous.
    """
    path = PurePath(relative)
    if not path.parts:
        return None
    folders = [p for p in path.parts[:-1] if p not in ("", ".", "..")]
    components = [(name, False) for name in folders] + [(path.stem, True)]
    state: dict[str, str] = {}
    best: dict[str, str] | None = None
    previous_level: int | None = None
    unclear: list[dict[str, str]] = []
    for name, is_file in components:
        reading = read_component(name, is_file=is_file)
        if reading.unclear:
            unclear.append(reading.parts)
            previous_level = None
            continue
        if reading.bare_room:
            if previous_level != _LEVEL["unit"]:
                previous_level = None
                continue  # a number not directly below a unit's folder names nothing
        if not reading.parts:
            previous_level = None
            continue
        top = min(_LEVEL[p] for p in reading.parts)
        state = {p: v for p, v in state.items() if _LEVEL[p] < top}
        state.update(reading.parts)
        previous_level = max(_LEVEL[p] for p in reading.parts)
        if len(state) == 3:
            best = dict(state)
    result = best if best is not None else state
    if not result:
        return None
    if best is not None and any(best.get(p) != v for p, v in state.items()):
        return None  # a component below the deepest complete unit names another one
    if any(_disagree(result, parts) for parts in unclear):
        return None
    first = components[0][0]
    estate = _estate(first) if len(components) > 1 and read_component(first) == _NOTHING else None
    return UnitHint(building=result.get("building"), unit=result.get("unit"), room=result.get("room"),
                    estate=estate)


def read_component(name: str, *, is_file: bool = False) -> _Reading:
    """What one folder name (or a file's name without its extension) says about the unit."""
    text = re.sub(r"\s+", "", to_halfwidth(name))
    if not text or text.startswith("."):
        return _NOTHING
    m = _DASHED.fullmatch(text)
    if m:
        b, u, r = m.group("b").upper(), m.group("u"), m.group("r").upper()
        if _date_like(b, u, r):
            return _Reading({"building": b, "unit": u, "room": r}, unclear=True)
        return _Reading({"building": b, "unit": u, "room": r})
    m = _EXPLICIT.fullmatch(text)
    if m and any(m.group(g) for g in ("b", "u", "r")):
        parts: dict[str, str] = {}
        if m.group("b"):
            parts["building"] = _number(m.group("b"))
        if m.group("u"):
            parts["unit"] = _number(m.group("u"))
        if m.group("r"):
            parts["room"] = m.group("r").upper()
        if set(parts) == {"room"} and not m.group("rs"):
            if is_file or not _BARE_ROOM.fullmatch(text) or _year_like(text):
                return _NOTHING  # a scanner's counter, a year, a long number
            return _Reading(parts, bare_room=True)
        return _Reading(parts)
    lenient = parse_unit_parts(text)
    return _Reading(lenient, unclear=True) if lenient else _NOTHING


def _number(token: str) -> str:
    """A building or unit as the index keeps it: digits without leading zeros, numerals as digits."""
    if token.isascii():
        return token.upper()
    value = cn_numeral_to_int(token)
    return str(value) if value is not None else token


def _year_like(digits: str) -> bool:
    return len(digits) == 4 and 1900 <= int(digits) <= 2099


def _date_like(b: str, u: str, r: str) -> bool:
    """``5-1-2024``, ``12-25-2023``: day and month (either order) and a year."""
    if not (b.isdigit() and _year_like(r)):
        return False
    first, second = int(b), int(u)
    return (1 <= first <= 31 and 1 <= second <= 12) or (1 <= first <= 12 and 1 <= second <= 31)


def _disagree(result: dict[str, str], other: dict[str, str]) -> bool:
    return any(p in result and not same_part(result[p], v) for p, v in other.items())


#: Folder names that say what is inside, not where it is from.
_GENERIC_FOLDERS = frozenset({"扫描", "扫描件", "新建文件夹", "文档", "档案", "业主档案", "资料", "待处理", "收件箱"})


#: Longest folder name taken for an estate's (a cover sheet allows as many characters).
_MAX_ESTATE_CHARS = 40


def _estate(name: str) -> str | None:
    """The first folder as the estate's name: some Chinese in it, no digits (dates, floors, counters)."""
    text = estate_name(to_halfwidth(name))
    if not text or text.startswith(".") or not _CJK.search(text) or re.search(r"\d", text):
        return None
    if len(text) > _MAX_ESTATE_CHARS:
        return None  # a description, not a name
    if text in _GENERIC_FOLDERS or find_dates(text):
        return None
    return text


def same_part(a: str, b: str) -> bool:
    """Whether two readings of a building, unit or room name the same (``03`` and ``3``, ``a`` and ``A``)."""
    def norm(v: str) -> str:
        v = to_halfwidth(v).strip().upper()
        return v.lstrip("0") or v

    return norm(a) == norm(b)


# --------------------------------------------------------------------------- the page's reading


def apply_unit_hint(documents: Sequence[Extraction], hint: UnitHint | None) -> list[Extraction]:
    """The documents of one file with the path's unit parts in place of the page's (see the module docstring)."""
    if hint is None or not hint.parts:
        return list(documents)
    return [_apply(extraction, hint) for extraction in documents]


def _apply(extraction: Extraction, hint: UnitHint) -> Extraction:
    if spec_of(extraction.doc_type).field_spec("building") is None:
        return extraction  # no unit fields (an ID copy): filed under the path's unit all the same
    fields = dict(extraction.fields)
    for part, value in hint.parts.items():
        read = fields.get(part)
        if read is None:
            fields[part] = FieldValue(name=part, value=value, confidence=1.0, source=hint.source)
            continue
        if same_part(read.value, value):
            fields[part] = read.model_copy(update={"value": value, "confidence": 1.0, "valid": True,
                                                   "issue": None, "source": hint.source})
            continue
        where = "the folder" if hint.source == "path" else "the cover sheet"
        issue = (f"{where} says {part} {value} but the page reads {read.value}; the document was filed "
                 f"under {where}'s unit: check which is right")
        fields[part] = read.model_copy(update={"value": value, "confidence": 1.0, "valid": True, "issue": issue,
                                               "source": hint.source})
    return extraction.model_copy(update={"fields": fields})


def unit_source(extraction: Extraction) -> ValueSource | None:
    """Where the unit a document is filed under by its own fields came from (None: it names no complete unit).

    ``path`` or ``cover_sheet`` only when all three parts came from there;
    a unit pieced together from the path and the page counts as read
    (``ocr``): the page's part is as sure as its reading.
    """
    parts = [extraction.fields.get(p) for p in PARTS]
    if any(p is None for p in parts):
        return None
    sources = {p.source for p in parts if p is not None}
    return sources.pop() if len(sources) == 1 else "ocr"


def filed_unit(extraction: Extraction, hint: UnitHint | None) -> tuple[UnitRef | None, ValueSource]:
    """The unit (with its estate) a document is filed under, and where that unit came from.

    ``extraction`` has the hint's parts in place already (:func:`apply_unit_hint`).
    The hint's whole unit and estate (source: the hint's); else the unit the
    document's own fields name, under the hint's estate (source:
    :func:`unit_source`); else None: the document is filed in no archive.
    """
    if hint is not None and (whole := hint.unit_ref) is not None:
        return whole, hint.source
    own = extraction.unit_ref
    if own is None:
        return None, "ocr"
    estate = hint.estate if hint is not None else None
    return UnitRef(building=own.building, unit=own.unit, room=own.room, estate=estate), unit_source(extraction) or "ocr"


def sheet_hint(sheet: CoverSheet) -> UnitHint:
    """The unit a cover sheet names, as a hint that overrides what the page reads (source ``cover_sheet``)."""
    return UnitHint(building=sheet.building, unit=sheet.unit, room=sheet.room, estate=sheet.estate,
                    source="cover_sheet")
