"""Printing cabinet cover sheets and PATCH-T separator sheets as an A4 PDF.

One sheet per owner folder (or per document): a black title band (档案封面),
a large QR code with the payload of :class:`ocr.coversheet.CoverSheet`, the
same fields as large labelled text for the clerk, and the unit in very large
digits so a pile can be checked by eye. Pages are drawn with Pillow at 300 dpi
in black and white and written as a PDF (CCITT G4 images, about 60 KB a page).

The reader and the payload format live in :mod:`ocr.coversheet`; this module
only draws. Nothing here touches the archive.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
import pikepdf
import segno
from PIL import Image, ImageDraw, ImageFont

from ocr.coversheet import (
    BAND_MM,
    BATCH_ID,
    LABELS,
    PAGE_MM,
    PATCH_NARROW_MM,
    PATCH_T_BARS,
    QR_MM,
    SHEET_TITLE,
    CoverSheet,
)
from schemas.documents import DOC_LABELS, DOC_TYPES
from schemas.errors import ConfigError, DanganError, ExitCode, OutputUnwritable
from schemas.validators import parse_unit_ref

#: Resolution the sheets are drawn at.
PRINT_DPI = 300
#: Debian packages that provide the Chinese fonts the sheets are printed with.
FONT_PACKAGES = "fonts-noto-cjk or fonts-wqy-zenhei"
#: Preferred font files (bold first: the sheet is read from a distance), by file name.
_FONT_FILES = ("NotoSansCJK-Bold.ttc", "NotoSansCJK-Black.ttc", "NotoSansCJK-Medium.ttc",
               "NotoSansCJK-Regular.ttc", "wqy-zenhei.ttc", "wqy-microhei.ttc")
_FONT_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/wqy", "/usr/share/fonts/truetype/noto")
_CSV_COLUMNS = ("estate", "building", "unit", "room", "doc_type", "pages")
_CSV_HEADER_NAMES = {
    "estate": "estate", "小区": "estate", "building": "building", "楼栋": "building", "unit": "unit",
    "单元": "unit", "room": "room", "房号": "room", "doc_type": "doc_type", "type": "doc_type",
    "文件类型": "doc_type", "pages": "pages", "页数": "pages",
}
_MAX_BAD_LINES = 10


class FontsMissing(ConfigError):
    """No Chinese font to print the sheets with."""

    code = "fonts_missing"


class SheetRequestError(DanganError):
    """A unit, document type, page count or units CSV that cannot be printed as asked."""

    code = "bad_sheet_request"
    exit_code = ExitCode.USAGE


# --- what to print -----------------------------------------------------------------------------


def new_batch_id(today: date | None = None) -> str:
    """A print run's id: the date and four random characters (``20250301-K7F3``)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: nothing to misread
    suffix = "".join(secrets.choice(alphabet) for _ in range(4))
    return f"{(today or date.today()).strftime('%Y%m%d')}-{suffix}"


def batch_id(value: str | None = None) -> str:
    """``value`` checked as a print run id, or a new one when None."""
    if value is None:
        return new_batch_id()
    if not BATCH_ID.match(value):
        raise SheetRequestError(f"the print run id '{value}' must be 1 to 32 letters, digits or '-'")
    return value


def doc_type_name(value: str, *, list_types: bool = True) -> str:
    """The document type name for ``value``: a name of DOC_TYPES or its Chinese label (身份证复印件)."""
    text = value.strip()
    if text in DOC_TYPES:
        return text
    for name, label in DOC_LABELS.items():
        if text and text == label:
            return name
    choices = f"; use one of: {', '.join(DOC_TYPES)}" if list_types else ""
    raise SheetRequestError(f"unknown document type '{text}'{choices}")


def sheet_for_unit(
    unit: str, *, batch: str, estate: str | None = None, doc_type: str | None = None, pages: int | None = None
) -> CoverSheet:
    """One sheet for a unit written ``3-2-1201`` or ``3栋2单元1201室``."""
    ref = parse_unit_ref(unit)
    if ref is None:
        raise SheetRequestError(f"'{unit}' is not a unit; write building-unit-room, for example 3-2-1201 "
                                "or 3栋2单元1201室")
    try:
        return CoverSheet(estate=estate, building=ref.building, unit=ref.unit, room=ref.room,
                          doc_type=doc_type_name(doc_type) if doc_type else None, pages=pages, batch=batch,
                          seq=1, of=1)
    except ValueError as e:
        raise SheetRequestError(f"cannot print a sheet for {unit}: {_plain(e)}") from e


def natural_key(text: str | None) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting numbers in numeric order (2 before 10), text case-insensitively."""
    parts = re.split(r"(\d+)", text or "")
    return tuple((0, int(p)) if p.isdigit() else (1, p.casefold()) for p in parts if p)


def order_sheets(sheets: Iterable[CoverSheet]) -> list[CoverSheet]:
    """Sheets in cabinet order: estate, building, unit, room (natural order); numbered 1..n in that order.

    Sheets of one unit (one per document) keep the order they were given in.
    """
    ordered = sorted(sheets, key=lambda s: (natural_key(s.estate), natural_key(s.building),
                                            natural_key(s.unit), natural_key(s.room)))
    total = len(ordered)
    return [s.model_copy(update={"seq": n, "of": total}) for n, s in enumerate(ordered, 1)]


def sheets_from_csv(path: Path, *, batch: str, estate: str | None = None) -> list[CoverSheet]:
    """Read a cabinet's units from a CSV file and return its sheets in cabinet order.

    Columns: ``estate,building,unit,room[,doc_type,pages]``, with or without
    a header row (a header may name the columns in English or Chinese, in any
    order). ``estate`` applies to rows whose estate cell is empty. Excel's
    UTF-8 (with BOM) and GB18030 files are read. Every bad row is named by
    its line number in one error.
    """
    rows = _read_csv_rows(path)
    if not rows:
        raise SheetRequestError(f"{path.name}: no units in the file")
    columns, start = _csv_columns(rows[0])
    sheets: list[CoverSheet] = []
    bad: list[str] = []
    seen: dict[tuple[str | None, str, str, str, str | None], int] = {}
    for line_no, row in rows[start:]:
        try:
            sheet = _csv_sheet(row, columns, batch=batch, estate=estate)
        except SheetRequestError as e:
            bad.append(f"line {line_no}: {e.message}")
            continue
        key = (sheet.estate, sheet.building, sheet.unit, sheet.room, sheet.doc_type)
        if key in seen:
            bad.append(f"line {line_no}: repeats line {seen[key]} ({sheet.describe()})")
            continue
        seen[key] = line_no
        sheets.append(sheet)
    if bad:
        more = f" (and {len(bad) - _MAX_BAD_LINES} more)" if len(bad) > _MAX_BAD_LINES else ""
        types = (f". Document types: {', '.join(DOC_TYPES)} (or their Chinese labels)"
                 if any("unknown document type" in b for b in bad) else "")
        raise SheetRequestError(f"{path.name}: {len(bad)} bad row(s), nothing printed: "
                                f"{'; '.join(bad[:_MAX_BAD_LINES])}{more}{types}")
    if not sheets:
        raise SheetRequestError(f"{path.name}: no units in the file")
    return order_sheets(sheets)


def _read_csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-empty, non-comment rows with their line numbers."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SheetRequestError(f"cannot read {path}: {e.strerror or e}") from e
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly anything
        raise SheetRequestError(f"{path.name}: not a text file (UTF-8 or GB18030 expected)")
    rows: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            rows.append((reader.line_num, cells))
    except csv.Error as e:
        raise SheetRequestError(f"{path.name} line {reader.line_num}: {e}") from e
    return rows


def _csv_columns(first: tuple[int, list[str]]) -> tuple[dict[str, int], int]:
    """Column positions, and how many rows to skip (1 when the first row is a header)."""
    line_no, cells = first
    names = [_CSV_HEADER_NAMES.get(c.casefold()) for c in cells]
    if any(names):
        unknown = [c for c, n in zip(cells, names, strict=True) if n is None and c]
        if unknown:
            raise SheetRequestError(f"line {line_no}: unknown column(s) {', '.join(unknown)}; the columns are "
                                    f"{','.join(_CSV_COLUMNS)}")
        columns = {n: i for i, n in enumerate(names) if n}
        missing = [c for c in ("building", "unit", "room") if c not in columns]
        if missing:
            raise SheetRequestError(f"line {line_no}: the header lacks column(s) {', '.join(missing)}")
        return columns, 1
    return {name: i for i, name in enumerate(_CSV_COLUMNS)}, 0


def _csv_sheet(row: Sequence[str], columns: dict[str, int], *, batch: str, estate: str | None) -> CoverSheet:
    needed = max(columns[c] for c in ("building", "unit", "room")) + 1
    if len(row) < needed:
        raise SheetRequestError(f"expected at least {needed} columns ({','.join(_CSV_COLUMNS[:4])}), "
                                f"found {len(row)}")

    def cell(name: str) -> str:
        i = columns.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    for name in ("building", "unit", "room"):
        if not cell(name):
            raise SheetRequestError(f"{name} is empty")
    pages_text = cell("pages")
    if pages_text and not (pages_text.isdigit() and int(pages_text) >= 1):
        raise SheetRequestError(f"pages must be a whole number of at least 1, not '{pages_text}'")
    doc_type = doc_type_name(cell("doc_type"), list_types=False) if cell("doc_type") else None
    try:
        return CoverSheet(estate=cell("estate") or estate, building=cell("building"), unit=cell("unit"),
                          room=cell("room"), doc_type=doc_type, pages=int(pages_text) if pages_text else None,
                          batch=batch)
    except ValueError as e:
        raise SheetRequestError(_plain(e)) from e


def _plain(e: ValueError) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        return "; ".join(str(err.get("msg", "")).removeprefix("Value error, ") for err in errors())
    return str(e)


# --- fonts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FontFile:
    path: Path
    index: int


@cache
def cjk_font() -> _FontFile:
    """The Chinese font the sheets are printed with; :class:`FontsMissing` when none is installed."""
    candidates = listed_fonts() + [Path(d) / n for d in _FONT_DIRS for n in _FONT_FILES]
    by_name: dict[str, Path] = {}
    for path in candidates:
        if path.is_file():
            by_name.setdefault(path.name, path)
    for name in _FONT_FILES:
        if name in by_name:
            return _FontFile(by_name[name], _sc_face(by_name[name]))
    others = [p for p in candidates if p.is_file() and p.suffix.lower() in {".ttc", ".ttf", ".otf"}]
    if others:
        return _FontFile(others[0], _sc_face(others[0]))
    raise FontsMissing(f"no Chinese font is installed to print the cover sheets with; install the Debian "
                       f"package {FONT_PACKAGES} (bootstrap.sh does)")


def listed_fonts() -> list[Path]:
    """Fonts covering Chinese as fontconfig lists them (none when fontconfig is missing)."""
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(Path(line.split(":")[0].strip()) for line in out.splitlines() if line.strip())


def _sc_face(path: Path) -> int:
    """Index of the Simplified Chinese face in a Noto CJK collection (0 otherwise)."""
    if "CJK" not in path.name or path.suffix.lower() != ".ttc":
        return 0
    for i in range(16):
        try:
            name = ImageFont.truetype(str(path), 10, index=i).getname()[0]
        except OSError:
            break
        if name and name.endswith(" SC"):
            return i
    return 0


@cache
def _font(px: int) -> ImageFont.FreeTypeFont:
    f = cjk_font()
    return ImageFont.truetype(str(f.path), px, index=f.index)


# --- drawing --------------------------------------------------------------------------------------------


class _Page:
    """An A4 page being drawn, in millimetres."""

    def __init__(self, dpi: int) -> None:
        self.dpi = dpi
        self.image = Image.new("L", (self.px(PAGE_MM[0]), self.px(PAGE_MM[1])), 255)
        self.draw = ImageDraw.Draw(self.image)

    def px(self, mm: float) -> int:
        return round(mm * self.dpi / 25.4)

    def text(self, x_mm: float, y_mm: float, text: str, size_mm: float, *, max_mm: float | None = None,
             fill: int = 0, anchor: str = "la") -> None:
        """Draw ``text`` with glyphs ``size_mm`` high at (x, y); shrunk to fit ``max_mm`` wide."""
        px = self.px(size_mm)
        font = _font(px)
        if max_mm is not None:
            limit = self.px(max_mm)
            while px > 8 and self.draw.textlength(text, font=font) > limit:
                px = int(px * 0.92)
                font = _font(px)
        self.draw.text((self.px(x_mm), self.px(y_mm)), text, font=font, fill=fill, anchor=anchor)

    def box(self, x0: float, y0: float, x1: float, y1: float, fill: int = 0) -> None:
        self.draw.rectangle((self.px(x0), self.px(y0), self.px(x1) - 1, self.px(y1) - 1), fill=fill)

    def bilevel(self) -> Image.Image:
        return self.image.point(lambda v: 255 if v >= 128 else 0).convert("1", dither=Image.Dither.NONE)


def sheet_text_lines(sheet: CoverSheet) -> list[tuple[str, str]]:
    """The labelled fields as printed: (label, value), in order."""
    doc = f"{sheet.doc_label}（{sheet.doc_type}）" if sheet.doc_type else "整份业主档案"
    pages = f"{sheet.pages}（不含空白页）" if sheet.pages else "—"
    batch = sheet.batch + (f"（第 {sheet.seq} 张，共 {sheet.of} 张）" if sheet.seq and sheet.of else "")
    return [(LABELS["estate"], sheet.estate or "—"), (LABELS["building"], sheet.building),
            (LABELS["unit"], sheet.unit), (LABELS["room"], sheet.room), (LABELS["doc_type"], doc),
            (LABELS["pages"], pages), (LABELS["batch"], batch)]


def render_cover_sheet(sheet: CoverSheet, dpi: int = PRINT_DPI) -> Image.Image:
    """Draw one cover sheet (black and white, A4 at ``dpi``)."""
    page = _Page(dpi)
    x0, y0, x1, y1 = BAND_MM
    page.box(x0, y0, x1, y1)
    page.text((x0 + x1) / 2, (y0 + y1) / 2, SHEET_TITLE, 15.0, fill=255, anchor="mm")

    qr = segno.make_qr(sheet.payload(), error="q", boost_error=False)
    matrix = np.array([list(row) for row in qr.matrix], dtype=np.uint8)
    modules = matrix.shape[0]
    module_px = max(2, round(QR_MM / modules * dpi / 25.4))
    code = Image.fromarray(((1 - matrix) * 255).astype(np.uint8), "L").resize(
        (modules * module_px, modules * module_px), Image.Resampling.NEAREST)
    qr_x = PAGE_MM[0] - 15.0 - modules * module_px * 25.4 / dpi
    page.image.paste(code, (page.px(qr_x), page.px(50.0)))

    lines = sheet_text_lines(sheet)
    left_width = qr_x - 6.0 - 18.0  # the quiet zone (4 modules) stays clear
    for n, (label, value) in enumerate(lines[:4]):
        page.text(18.0, 52.0 + 16.0 * n, f"{label}：{value}", 10.0, max_mm=left_width)
    for n, (label, value) in enumerate(lines[4:]):
        page.text(18.0, 134.0 + 15.0 * n, f"{label}：{value}", 9.0, max_mm=174.0)

    page.text(PAGE_MM[0] / 2, 212.0, str(sheet.unit_ref), 34.0, max_mm=174.0, anchor="mm")
    if sheet.doc_label:
        page.text(PAGE_MM[0] / 2, 243.0, sheet.doc_label, 12.0, max_mm=174.0, anchor="mm")
    page.text(18.0, 262.0, "本页放在该户档案（或该份文件）最上面，与档案一起连续扫描；", 4.2, max_mm=174.0)
    page.text(18.0, 269.0, "本页及空白背面不存档。页数指有内容的页，不含空白页。", 4.2, max_mm=174.0)
    page.text(18.0, 278.0, f"dangan cover sheet, format {sheet.version}", 3.2, max_mm=174.0)
    return page.bilevel()


def render_patch_t_sheet(dpi: int = PRINT_DPI) -> Image.Image:
    """Draw a full-page PATCH-T separator sheet: the bar pattern repeated across the page, bars full length."""
    page = _Page(dpi)
    pattern_mm = sum(PATCH_T_BARS) + 3 * PATCH_NARROW_MM
    gap_mm = 20.0  # quiet zone between repeats: ten narrow widths
    usable = PAGE_MM[0] - 2 * 15.0
    repeats = int((usable + gap_mm) // (pattern_mm + gap_mm))
    x = (PAGE_MM[0] - repeats * pattern_mm - (repeats - 1) * gap_mm) / 2
    for _ in range(repeats):
        for width in PATCH_T_BARS:
            page.box(x, 22.0, x + width, PAGE_MM[1] - 15.0)
            x += width + PATCH_NARROW_MM
        x += gap_mm - PATCH_NARROW_MM
    page.text(20.0, 10.0, "PATCH T  分隔页（放在两批文件之间）", 5.0, max_mm=170.0)
    return page.bilevel()


# --- writing ------------------------------------------------------------------------------------------------


def write_pdf(pages: Iterable[Image.Image], path: Path, dpi: int = PRINT_DPI) -> int:
    """Write the pages as one PDF (page size from ``dpi``), atomically; returns the page count.

    Pages are converted one at a time, so a cabinet of a thousand sheets does not sit in memory.
    """
    out = pikepdf.Pdf.new()
    count = 0
    for image in pages:
        buffer = io.BytesIO()
        image.save(buffer, "PDF", resolution=float(dpi))
        single = pikepdf.Pdf.open(io.BytesIO(buffer.getvalue()))
        out.pages.extend(single.pages)
        count += 1
    out.docinfo["/Title"] = "dangan cover sheets"
    target = path
    tmp = target.with_name(f".{target.name}.partial")
    try:
        out.save(tmp)
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputUnwritable(f"cannot write {path}: {e.strerror or e}") from e
    return count


def print_cover_sheets(sheets: Sequence[CoverSheet], path: Path, dpi: int = PRINT_DPI) -> int:
    """Draw the sheets and write them to ``path`` as a PDF; returns the page count."""
    cjk_font()  # fail before any drawing when no font is installed
    return write_pdf((render_cover_sheet(s, dpi) for s in sheets), path, dpi)
