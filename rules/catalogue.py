"""The catalogue of each unit archive (档案目录) as a printable A4 PDF, in cabinet order.

A catalogue lists what an archive holds, one row per document: 序号, 文件名称
(the document type's Chinese label), 份数/页数, 归档日期 (the day it was
filed), 状态 (待复核 for a document still waiting for a person's check) and
备注 (the document's own date, when read: 签订日期 ...). Under the table, what
the company's checklist (:mod:`rules.checklist`) says the archive still lacks.
The header names the unit as the cabinet cover sheets print it (小区, 楼栋,
单元, 房号 and ``3-2-1201``), the archive's status and opening day, and the
day it was printed.

Archives come in cabinet order: estate, building, unit, room, each in natural
order (2 before 10, room 201 before 1201; rooms with letters or basement
marks such as ``B101`` or ``-101`` after the numbered rooms of their unit),
the order the cover sheets of a cabinet are printed in
(:func:`ocr.coversheet_print.natural_key`). Each archive starts on a new page,
and its pages are numbered 第 x 页 / 共 y 页 on their own, so each catalogue
goes into its folder.

Nothing personal is printed: no name, ID number, phone or address; only
document types, counts, dates and statuses (need to know: the catalogue lies
in the folder and on the archive room's desk).

:func:`print_catalogues` is the one entry: the permission matrix
(``print_catalogue``), the archives selected, the PDF, and the print as an
event of the audit log. The command line (:mod:`flows.cli_catalogue`) and the
API (:mod:`web.api_catalogue`) both call it; folder labels
(:mod:`rules.labels`) are printed through it too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ocr.coversheet import LABELS
from ocr.coversheet_print import natural_key
from rules.checklist import Checklist, Gap
from rules.printing import FONT, Sheet, china_date, render_pdf, today
from schemas.documents import DOC_LABELS, DOC_TYPES
from schemas.errors import InvalidRequest, NotFound
from schemas.models import UnitRef, estate_name
from storage.index import Index, db_errors
from storage.tables import ArchiveRow, DocumentRow, FieldRow
from web.access import Action, require
from web.labels import STATUS_LABELS, field_label

if TYPE_CHECKING:
    from storage.vault import Vault

Kind = Literal["catalogue", "labels"]

#: How an archive's status is printed; any status not listed prints as set aside.
ARCHIVE_STATUS_LABELS: dict[str, str] = {"active": "在用", "set_aside": "已封存（原业主档案）"}
#: Archives never printed: nothing of theirs is left to catalogue.
NOT_PRINTED = frozenset({"destroyed"})
#: A document's own dates printed in 备注 (none of them personal: no birth date, no ID card validity).
DOC_DATE_FIELDS = ("signing_date", "notice_date", "handover_date", "move_in_date", "lease_start", "start_date")
_CHUNK = 500


class Selection(BaseModel):
    """Which archives to print: every active one, narrowed by estate, building, unit (单元), room or id."""

    model_config = ConfigDict(frozen=True)

    #: The estate (小区); ``""``: archives filed under no estate.
    estate: str | None = None
    building: str | None = None
    #: The unit (单元) number, as in browse; with ``room``, one unit archive.
    unit: str | None = None
    room: str | None = None
    archive_id: str | None = None
    #: Former owners' archives (set aside, 已封存) too.
    include_set_aside: bool = False

    @classmethod
    def of_unit(cls, ref: UnitRef, *, estate: str | None = None, include_set_aside: bool = False) -> Selection:
        """One unit's archive (``3-2-1201``), and its set-aside ones when asked."""
        return cls(estate=estate, building=ref.building, unit=ref.unit, room=ref.room,
                   include_set_aside=include_set_aside)

    def describe(self) -> dict[str, str | bool]:
        """The selection as the audit log records it (only what was given)."""
        return {k: v for k, v in self.model_dump().items() if v not in (None, False)}


class Entry(BaseModel):
    """One document of an archive as its catalogue lists it."""

    model_config = ConfigDict(frozen=True)

    document_id: str
    doc_type: str
    pages: int
    filed_on: str
    status: str
    #: The document's own date, when read (``签订日期 2023-05-01``).
    remark: str = ""

    @property
    def label(self) -> str:
        """The document type's Chinese label (文件名称)."""
        return DOC_LABELS.get(self.doc_type, self.doc_type)

    @property
    def status_label(self) -> str:
        """待复核 for a document waiting for a person's check, 已入库 otherwise."""
        return STATUS_LABELS.get(self.status, self.status)


class ArchiveCatalogue(BaseModel):
    """One unit archive's catalogue: where it is filed, its status, its documents and what it lacks."""

    model_config = ConfigDict(frozen=True)

    archive_id: str
    estate: str | None
    building: str
    unit: str
    room: str
    status: str
    opened_on: str
    closed_on: str = ""
    entries: tuple[Entry, ...]
    #: What the checklist says it lacks (active archives only: a former owner's archive is not completed).
    gaps: tuple[Gap, ...] = ()

    @property
    def unit_ref(self) -> str:
        """The unit as the cover sheet prints it in large type: ``3-2-1201``."""
        return str(UnitRef(building=self.building, unit=self.unit, room=self.room))

    @property
    def active(self) -> bool:
        """Whether it is the unit's archive in use (not a former owner's, set aside)."""
        return self.status == "active"

    @property
    def status_label(self) -> str:
        """在用, or 已封存（原业主档案）."""
        return ARCHIVE_STATUS_LABELS.get(self.status, ARCHIVE_STATUS_LABELS["set_aside"])

    @property
    def fields(self) -> list[tuple[str, str]]:
        """(label, value) as the cover sheet prints them: 小区, 楼栋, 单元, 房号."""
        return [(LABELS["estate"], self.estate or "—"), (LABELS["building"], self.building),
                (LABELS["unit"], self.unit), (LABELS["room"], self.room)]


def cabinet_key(a: ArchiveCatalogue) -> tuple[object, ...]:
    """Cabinet order (the cover sheets' order): estate, building, unit, room; then the archive in use first."""
    return (natural_key(a.estate), natural_key(a.building), natural_key(a.unit), natural_key(a.room),
            not a.active, a.opened_on, a.archive_id)


# --------------------------------------------------------------------------- what to print


def load_catalogues(index: Index, checklist: Checklist, selection: Selection) -> list[ArchiveCatalogue]:
    """The catalogues of the selected archives, in cabinet order (NotFound when none is selected)."""
    a = ArchiveRow
    stmt = select(a)
    if selection.archive_id is not None:
        stmt = stmt.where(a.id == selection.archive_id)
    elif not selection.include_set_aside:
        stmt = stmt.where(a.status == "active")
    estate = estate_name(selection.estate)
    if selection.estate is not None and estate is None:
        stmt = stmt.where(a.estate.is_(None))  # "": the archives filed under no estate (as browse names them)
    for column, value in ((a.estate, estate), (a.building, selection.building), (a.unit, selection.unit),
                          (a.room, selection.room)):
        if value is not None:
            stmt = stmt.where(column == value.strip())
    with db_errors("read the archives"), index.engine.connect() as c:
        archives = [r for r in c.execute(stmt.with_only_columns(
            a.id, a.estate, a.building, a.unit, a.room, a.status, a.opened_at, a.closed_at))
            if r.status not in NOT_PRINTED]
        entries = _entries(c, [r.id for r in archives])
    if not archives:
        raise NotFound(f"No archive to print{_where(selection)}.")
    out = []
    for r in archives:
        held = entries.get(r.id, [])
        holdings: dict[str, int] = {}
        for e in held:
            holdings[e.doc_type] = holdings.get(e.doc_type, 0) + 1
        out.append(ArchiveCatalogue(
            archive_id=r.id, estate=r.estate, building=r.building, unit=r.unit, room=r.room, status=r.status,
            opened_on=china_date(r.opened_at), closed_on=china_date(r.closed_at), entries=tuple(held),
            gaps=checklist.gaps(holdings) if r.status == "active" else ()))
    return sorted(out, key=cabinet_key)


def _where(selection: Selection) -> str:
    given = selection.describe()
    given.pop("include_set_aside", None)
    return " for " + ", ".join(f"{k} {v}" for k, v in given.items()) if given else ""


def _entries(c: Connection, archive_ids: Sequence[str]) -> dict[str, list[Entry]]:
    """The documents of each archive, in checklist order (document type), then as filed."""
    d, f = DocumentRow, FieldRow
    order = {t: n for n, t in enumerate(DOC_TYPES)}
    rows = []
    dates: dict[str, tuple[str, str]] = {}
    for start in range(0, len(archive_ids), _CHUNK):
        chunk = list(archive_ids[start:start + _CHUNK])
        docs = list(c.execute(select(d.id, d.archive_id, d.doc_type, d.pages, d.status, d.created_at)
                              .where(d.archive_id.in_(chunk))))
        rows += docs
        doc_ids = [r.id for r in docs]
        for s in range(0, len(doc_ids), _CHUNK):
            for doc_id, name, value in c.execute(select(f.document_id, f.name, f.value).where(
                    f.document_id.in_(doc_ids[s:s + _CHUNK]), f.name.in_(DOC_DATE_FIELDS), f.value.is_not(None))):
                if doc_id not in dates or DOC_DATE_FIELDS.index(name) < DOC_DATE_FIELDS.index(dates[doc_id][0]):
                    dates[doc_id] = (name, str(value))
    out: dict[str, list[Entry]] = {}
    for r in sorted(rows, key=lambda r: (order.get(r.doc_type, len(order)), china_date(r.created_at), r.id)):
        date = dates.get(r.id)
        remark = f"{field_label(date[0])} {date[1]}" if date else ""
        out.setdefault(r.archive_id, []).append(Entry(
            document_id=r.id, doc_type=r.doc_type, pages=int(r.pages), filed_on=china_date(r.created_at),
            status=r.status, remark=remark))
    return out


# --------------------------------------------------------------------------- the PDF

#: Table columns: (heading, left edge mm, width mm).
_COLUMNS = (("序号", 15.0, 12.0), ("文件名称", 27.0, 58.0), ("份数/页数", 85.0, 22.0), ("归档日期", 107.0, 26.0),
            ("状态", 133.0, 20.0), ("备注", 153.0, 42.0))
_LEFT, _RIGHT = 15.0, 195.0
_TABLE_TOP = 60.0
_HEAD_H = 9.0
_ROW_H = 8.0
_BOTTOM = 272.0
_FOOTER_Y = 287.0
_GAP_LINE_H = 6.0


def _rows_per_page() -> int:
    return int((_BOTTOM - _TABLE_TOP - _HEAD_H) // _ROW_H)


def wrap(text: str, size: float, width_mm: float) -> list[str]:
    """``text`` cut into lines no wider than ``width_mm`` at ``size`` points (at 、 where it can)."""
    from reportlab.lib.units import mm

    lines: list[str] = []
    current = ""
    for ch in text:
        if pdfmetrics.stringWidth(current + ch, FONT, size) > width_mm * mm and current:
            lines.append(current)
            current = ""
        current += ch
    return [*lines, current] if current else lines


def _gap_lines(archive: ArchiveCatalogue) -> list[str]:
    if not archive.active:
        return ["入档检查：原业主档案已封存，不再补齐材料。"]
    if not archive.gaps:
        return ["入档检查：材料齐全。"]
    return wrap("入档检查，缺少以下材料：" + "、".join(g.label for g in archive.gaps), 10.5, _RIGHT - _LEFT)


def plan_pages(archive: ArchiveCatalogue) -> list[tuple[Sequence[Entry], bool]]:
    """The archive's pages: the table rows each holds, and whether the missing papers are on it (the last)."""
    per_page = _rows_per_page()
    entries = list(archive.entries)
    chunks = [entries[i:i + per_page] for i in range(0, len(entries), per_page)] or [[]]
    used = _TABLE_TOP + _HEAD_H + _ROW_H * max(1, len(chunks[-1]))
    gaps_fit = used + 6.0 + _GAP_LINE_H * len(_gap_lines(archive)) <= _BOTTOM
    pages: list[tuple[Sequence[Entry], bool]] = [(chunk, False) for chunk in chunks]
    if gaps_fit:
        pages[-1] = (chunks[-1], True)
    else:
        pages.append(([], True))
    return pages


def catalogue_pdf(archives: Sequence[ArchiveCatalogue], *, printed_on: dt.date | None = None) -> tuple[bytes, int]:
    """The catalogues as one A4 PDF (each archive from a new page) and its page count."""
    day = (printed_on or today()).isoformat()

    def draw(canvas: Canvas) -> int:
        sheet = Sheet(canvas)
        count = 0
        for archive in archives:
            pages = plan_pages(archive)
            first = 1
            for n, (rows, gaps_here) in enumerate(pages, 1):
                _draw_page(sheet, archive, rows, first, n, len(pages), day, gaps_here, continued=n > 1)
                first += len(rows)
                canvas.showPage()
                count += 1
        return count

    return render_pdf("档案目录", draw)


def _draw_page(sheet: Sheet, archive: ArchiveCatalogue, rows: Sequence[Entry], first: int, page: int, pages: int,
               day: str, gaps_here: bool, *, continued: bool) -> None:
    sheet.text(_LEFT, 14, "业主档案", 9)
    sheet.text(_RIGHT, 14, f"打印日期：{day}", 9, align="right")
    sheet.text(105, 25, "档案目录（续）" if continued else "档案目录", 20, align="center", bold=True)
    sheet.rect(_LEFT, 30, _RIGHT - _LEFT, 24, line=0.6)
    estate = archive.fields[0]
    sheet.text(_LEFT + 3, 37.5, f"{estate[0]}：{estate[1]}", 11, max_mm=100)
    sheet.text(_LEFT + 3, 44.5, "　　".join(f"{k}：{v}" for k, v in archive.fields[1:]), 11, max_mm=110)
    status = f"档案状态：{archive.status_label}　　建档日期：{archive.opened_on}"
    if archive.closed_on and not archive.active:
        status += f"　　封存日期：{archive.closed_on}"
    sheet.text(_LEFT + 3, 51.5, status, 10, max_mm=_RIGHT - _LEFT - 6)
    sheet.text(_RIGHT - 3, 44, archive.unit_ref, 24, align="right", bold=True, max_mm=60)

    top = _TABLE_TOP
    sheet.rect(_LEFT, top, _RIGHT - _LEFT, _HEAD_H, fill=0.88, line=0.4)
    for heading, x, w in _COLUMNS:
        sheet.text(x + w / 2, top + 6.2, heading, 10.5, align="center", bold=True)
    y = top + _HEAD_H
    if not rows and first == 1:
        sheet.rect(_LEFT, y, _RIGHT - _LEFT, _ROW_H, line=0.3)
        sheet.text(105, y + 5.5, "（暂无已归档的文件）", 10, align="center")
        y += _ROW_H
    for n, entry in enumerate(rows, first):
        cells = (str(n), entry.label, f"1 / {entry.pages}", entry.filed_on, entry.status_label, entry.remark)
        for (_, x, w), text in zip(_COLUMNS, cells, strict=True):
            sheet.rect(x, y, w, _ROW_H, line=0.3)
            align = "left" if x in (27.0, 153.0) else "center"
            sheet.text(x + 1.5 if align == "left" else x + w / 2, y + 5.5, text, 10 if x != 153.0 else 8.5,
                       align=align, max_mm=w - 3, bold=entry.status == "needs_review" and x == 133.0)
        y += _ROW_H
    if gaps_here:
        y += 7.0
        for line in _gap_lines(archive):
            sheet.text(_LEFT, y, line, 10.5, bold=archive.active and bool(archive.gaps))
            y += _GAP_LINE_H
    footer = f"{archive.estate + ' ' if archive.estate else ''}{archive.unit_ref}（{archive.status_label}）"
    sheet.line(_LEFT, _FOOTER_Y - 5, _RIGHT, _FOOTER_Y - 5, width=0.3)
    sheet.text(_LEFT, _FOOTER_Y, footer, 8, max_mm=70)
    sheet.text(105, _FOOTER_Y, f"第 {page} 页 / 共 {pages} 页", 9, align="center")
    sheet.text(_RIGHT, _FOOTER_Y, "dangan", 7, align="right")


# --------------------------------------------------------------------------- the one entry


class Printout(BaseModel):
    """A printed PDF: its bytes, pages, and the archives it covers (in the order printed)."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    pdf: bytes
    pages: int
    archives: tuple[str, ...]


def print_catalogues(vault: Vault, selection: Selection, kind: Kind = "catalogue") -> Printout:
    """The catalogue (or the folder labels) of the selected archives, for an identity that may print them.

    The permission matrix first (a refusal is audited); the print itself is an audit event naming the
    selection, the archives and the pages.
    """
    from rules.checklist import load_checklist
    from rules.labels import labels_pdf

    require(vault.identity, Action.PRINT_CATALOGUE, vault.index.audit)
    if selection.room is not None and (selection.building is None or selection.unit is None):
        raise InvalidRequest("A room is printed with its building and unit (e.g. 3-2-1201).")
    archives = load_catalogues(vault.index, load_checklist(vault.settings), selection)
    pdf, pages = catalogue_pdf(archives) if kind == "catalogue" else labels_pdf(archives)
    vault.audit(f"print_{kind}", detail={"selection": selection.describe(), "archives": len(archives),
                                         "pages": pages, "outcome": "done"})
    return Printout(kind=kind, pdf=pdf, pages=pages, archives=tuple(a.archive_id for a in archives))

