"""Table cells for the reader: which OCR words lie in which cell of a bordered form, and the cell beside.

Grid forms (表格式登记表) print a label in one cell and its value in the cell to
its right, or in the cell below a header cell; merged cells span several grid
positions. :class:`Grid` maps the words of the reader's rows onto the cells
found by :mod:`ocr.grid` and answers "what is written in the cell next to
this label", by the table's structure, never by page position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from schemas.models import Box, OcrPage, TableCell

CellKey = tuple[int, int]
"""(page index, position of the cell in that page's ``cells``)."""


@dataclass(frozen=True)
class Span:
    """Characters ``start:end`` of reader row ``row`` (one OCR word) lying in a cell."""

    row: int
    start: int
    end: int


class RowLike:
    """What the grid needs of a reader row (``ocr.extract.Row``)."""

    page: int
    text: str


@dataclass
class Grid:
    """Table cells of a document's pages and the reader's words inside them."""

    cells: dict[CellKey, TableCell] = field(default_factory=dict)
    #: Words of each cell, in reading order.
    spans: dict[CellKey, list[Span]] = field(default_factory=dict)
    #: (row, start) of each word inside a cell -> its cell.
    where: dict[tuple[int, int], CellKey] = field(default_factory=dict)

    @classmethod
    def build(cls, pages: Sequence[OcrPage], rows: Sequence[object]) -> Grid:
        """Assign every word of ``rows`` (reader rows with ``page`` and ``cells``) to the table cell holding it."""
        grid = cls()
        by_page: dict[int, list[tuple[CellKey, TableCell]]] = {}
        for page in pages:
            for k, cell in enumerate(page.cells):
                key = (page.index, k)
                grid.cells[key] = cell
                by_page.setdefault(page.index, []).append((key, cell))
        if not grid.cells:
            return grid
        for i, row in enumerate(rows):
            candidates = by_page.get(row.page, [])  # type: ignore[attr-defined]
            for word in row.cells:  # type: ignore[attr-defined]
                key = _holder(candidates, (word.x0, word.y0 or row.top, word.x1, word.y1 or row.bottom))  # type: ignore[attr-defined,assignment]
                if key is not None:
                    grid.where[(i, word.start)] = key
                    grid.spans.setdefault(key, []).append(Span(i, word.start, word.end))
        return grid

    def cell_of(self, row: int, offset: int, word_starts: Sequence[int]) -> CellKey | None:
        """The cell holding the character at ``offset`` of ``row`` (``word_starts``: the row's word starts)."""
        start = max((s for s in word_starts if s <= offset), default=None)
        return None if start is None else self.where.get((row, start))

    def right_of(self, key: CellKey) -> CellKey | None:
        """The cell right of ``key`` in the same table that shares most of its rows."""
        cell = self.cells[key]
        col = cell.col + cell.col_span
        return self._best(key, lambda c: c.col == col, lambda c: _overlap(c.row, c.row_span,
                                                                           cell.row, cell.row_span))

    def below(self, key: CellKey) -> CellKey | None:
        """The cell under ``key`` in the same table that shares most of its columns."""
        cell = self.cells[key]
        row = cell.row + cell.row_span
        return self._best(key, lambda c: c.row == row, lambda c: _overlap(c.col, c.col_span,
                                                                           cell.col, cell.col_span))

    def _best(self, key: CellKey, where: object, score: object) -> CellKey | None:
        page, _ = key
        table = self.cells[key].table
        best: tuple[int, CellKey] | None = None
        for other, cell in self.cells.items():
            if other[0] != page or cell.table != table or not where(cell):  # type: ignore[operator]
                continue
            shared = score(cell)  # type: ignore[operator]
            if shared > 0 and (best is None or shared > best[0]):
                best = (shared, other)
        return best[1] if best else None

    def box(self, key: CellKey) -> Box:
        """The cell's box on its page."""
        return self.cells[key].box


def _holder(candidates: Sequence[tuple[CellKey, TableCell]], box: tuple[float, float, float, float]) -> CellKey | None:
    """The smallest cell holding most of a word's box (its centre, and at least 60% of its area).

    A number written over a row of digit boxes lies in the form's cell that
    holds the whole row, not in the one digit box its centre falls in.
    """
    x0, y0, x1, y1 = box
    x, y = (x0 + x1) / 2, (y0 + y1) / 2
    area = max(1.0, (x1 - x0) * (y1 - y0))
    inside = []
    for k, c in candidates:
        if not (c.box[0] <= x <= c.box[2] and c.box[1] <= y <= c.box[3]):
            continue
        shared = max(0.0, min(x1, c.box[2]) - max(x0, c.box[0])) * max(0.0, min(y1, c.box[3]) - max(y0, c.box[1]))
        if shared >= 0.6 * area:
            inside.append((k, c))
    if not inside:
        return None
    return min(inside, key=lambda kc: (kc[1].box[2] - kc[1].box[0]) * (kc[1].box[3] - kc[1].box[1]))[0]


def _overlap(a: int, a_span: int, b: int, b_span: int) -> int:
    """How many grid positions two ranges share."""
    return max(0, min(a + a_span, b + b_span) - max(a, b))
