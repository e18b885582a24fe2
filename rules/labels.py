"""Folder labels (档案盒/卷脊标签): A4 sheets of labels to cut out, one per unit archive, in cabinet order.

Each label is 90 × 50 mm, ten to an A4 sheet (two columns of five) inside
thin dashed frames to cut along; stuck on the front or the spine of an
archive box or folder. It carries what a clerk matches a folder by, written
as the cabinet cover sheet writes it (:mod:`ocr.coversheet_print`): the estate
(小区), the unit in large type (``3-2-1201``), 楼栋 / 单元 / 房号, the day the
archive was opened, and its status: a former owner's archive is marked 已封存
· 原业主档案 in white on black, with the day it was set aside.

A label has no QR code. The cover sheet's code is an instruction to the
scanner (this print run's sheet n of m: the pages after it belong to the
unit), not a name for the unit; a label scanned with its folder must never
be taken for a cover sheet. What identifies a unit on the cover sheet, its
notation, is printed the same here. No name, ID number or phone is printed.
"""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.pdfgen.canvas import Canvas

from rules.catalogue import ArchiveCatalogue
from rules.printing import Sheet, render_pdf

#: Size of one label (mm) and the grid of an A4 sheet (columns, rows).
LABEL_MM = (90.0, 50.0)
GRID = (2, 5)
_LEFT = (210.0 - GRID[0] * LABEL_MM[0]) / 2
_TOP = 25.0


def labels_pdf(archives: Sequence[ArchiveCatalogue]) -> tuple[bytes, int]:
    """The labels of ``archives`` (in the order given) as A4 sheets, and the number of sheets."""
    per_sheet = GRID[0] * GRID[1]

    def draw(canvas: Canvas) -> int:
        sheet = Sheet(canvas)
        sheets = 0
        for start in range(0, len(archives), per_sheet):
            sheets += 1
            total = (len(archives) + per_sheet - 1) // per_sheet
            sheet.text(_LEFT, 15, f"档案盒标签：沿虚线剪下，每张 {LABEL_MM[0]:.0f} × {LABEL_MM[1]:.0f} 毫米", 9)
            sheet.text(210 - _LEFT, 15, f"第 {sheets} 页 / 共 {total} 页", 9, align="right")
            for n, archive in enumerate(archives[start:start + per_sheet]):
                col, row = n % GRID[0], n // GRID[0]
                _label(sheet, _LEFT + col * LABEL_MM[0], _TOP + row * LABEL_MM[1], archive)
            canvas.showPage()
        return sheets

    return render_pdf("档案盒标签", draw)


def _label(sheet: Sheet, x: float, y: float, archive: ArchiveCatalogue) -> None:
    """One label with its top left corner at (x, y) mm."""
    w, h = LABEL_MM
    sheet.rect(x, y, w, h, line=0.4, stroke=0.55, dash=(3, 2))
    inner = w - 10
    sheet.text(x + 5, y + 8, "业主档案", 8.5)
    if archive.active:
        sheet.text(x + w - 5, y + 8, "在用", 8.5, align="right")
    else:
        sheet.rect(x + w - 40, y + 3, 35, 7, fill=0, line=0)
        sheet.text(x + w - 22.5, y + 8.2, "已封存 · 原业主档案", 8.5, align="center", white=True, bold=True, max_mm=33)
    estate = archive.estate or "未填小区"
    sheet.text(x + w / 2, y + 18, estate, 13, align="center", bold=True, max_mm=inner)
    sheet.text(x + w / 2, y + 32, archive.unit_ref, 30, align="center", bold=True, max_mm=inner)
    parts = "　".join(f"{k} {v}" for k, v in archive.fields[1:])
    sheet.text(x + w / 2, y + 39.5, parts, 10, align="center", max_mm=inner)
    sheet.text(x + 5, y + h - 4, f"建档 {archive.opened_on}", 8.5)
    if not archive.active and archive.closed_on:
        sheet.text(x + w - 5, y + h - 4, f"封存 {archive.closed_on}", 8.5, align="right")
