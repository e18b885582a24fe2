"""Drawable page items of a synthetic document and a small layout helper.

Coordinates are millimetres on an A4 page (210 x 297), origin top-left.
Text sizes are in points (1 pt = 0.3528 mm). Templates build pages from these
items; ``render.py`` turns them into pixels at any DPI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from schemas.documents import DocType

PAGE_W = 210.0
PAGE_H = 297.0
PT_MM = 0.3528

Color = tuple[int, int, int]
BLACK: Color = (20, 20, 20)
INK_BLUE: Color = (25, 40, 120)
STAMP_RED: Color = (215, 35, 40)
CARD_LABEL: Color = (70, 110, 160)

Align = Literal["left", "center", "right"]
Family = Literal["sans", "serif", "hei"]


@dataclass(frozen=True)
class Text:
    """One line of text; ``y`` is the vertical centre of the line."""

    x: float
    y: float
    text: str
    size: float
    bold: bool = False
    align: Align = "left"
    family: Family = "sans"
    color: Color = BLACK


@dataclass(frozen=True)
class Line:
    """A straight ruled line."""

    x0: float
    y0: float
    x1: float
    y1: float
    width: float = 0.3
    color: Color = BLACK


@dataclass(frozen=True)
class Rect:
    """A rectangle, optionally rounded and filled."""

    x0: float
    y0: float
    x1: float
    y1: float
    width: float = 0.3
    radius: float = 0.0
    fill: Color | None = None
    color: Color = BLACK


@dataclass(frozen=True)
class Ellipse:
    """An ellipse inside the box (x0, y0, x1, y1)."""

    x0: float
    y0: float
    x1: float
    y1: float
    width: float = 0.3
    fill: Color | None = None
    color: Color = BLACK


@dataclass(frozen=True)
class Stamp:
    """A red company seal: circle, text along the upper arc, a star, a bottom label."""

    cx: float
    cy: float
    r: float
    text: str
    label: str = ""
    color: Color = STAMP_RED


@dataclass(frozen=True)
class Scribble:
    """A handwritten-looking signature flourish drawn from ``seed``."""

    x: float
    y: float
    w: float
    h: float
    seed: int
    color: Color = INK_BLUE


Item = Text | Line | Rect | Ellipse | Stamp | Scribble


@dataclass(frozen=True)
class Page:
    """One A4 page: its drawable items in painting order."""

    items: tuple[Item, ...]


@dataclass(frozen=True)
class SynthDoc:
    """A synthetic document: pages to draw and the ground-truth fields."""

    doc_type: DocType
    title: str
    pages: tuple[Page, ...]
    truth: dict[str, str]
    #: Whole document printed on a colour copier (False: gray photocopy).
    color: bool = True


def is_wide(ch: str) -> bool:
    """Whether ``ch`` takes a full em (CJK characters and full-width punctuation)."""
    return ord(ch) >= 0x2E80


def text_width(text: str, size: float) -> float:
    """Estimated width in mm of ``text`` at ``size`` pt (slightly generous)."""
    em = size * PT_MM
    total = 0.0
    for ch in text:
        if is_wide(ch):
            total += 1.0
        elif ch in " .,:;-/()|'":
            total += 0.38
        elif ch.isupper() or ch in "mwMW%@":
            total += 0.78
        else:
            total += 0.62
    return total * em


@dataclass(frozen=True)
class Keep:
    """A run of text that must not be broken across lines (a field value)."""

    text: str


Segment = str | Keep

_NO_LINE_START = set("，。、；：！？）》”’,.;:!?)")


def _tokens(parts: Sequence[Segment]) -> list[str]:
    """Split paragraph parts into unbreakable tokens (CJK chars, ASCII runs, kept runs)."""
    tokens: list[str] = []
    for part in parts:
        if isinstance(part, Keep):
            tokens.append(part.text)
            continue
        run = ""
        for ch in part:
            if is_wide(ch):
                if run:
                    tokens.append(run)
                    run = ""
                tokens.append(ch)
            else:
                run += ch
        if run:
            tokens.append(run)
    return tokens


def wrap(parts: Sequence[Segment], size: float, width: float, indent: float = 0.0) -> list[str]:
    """Wrap paragraph parts into lines no wider than ``width`` mm (first line indented)."""
    lines: list[str] = []
    cur = ""
    avail = width - indent
    for tok in _tokens(parts):
        trial = cur + tok
        fits = text_width(trial, size) <= avail
        if fits or not cur or tok[0] in _NO_LINE_START:
            cur = trial
            continue
        lines.append(cur)
        cur = tok.lstrip()
        avail = width
    if cur:
        lines.append(cur)
    return lines


@dataclass
class PageBuilder:
    """Stacks items down a page with a cursor ``y`` (mm)."""

    family: Family = "sans"
    size: float = 11.0
    left: float = 22.0
    right: float = 188.0
    y: float = 22.0
    items: list[Item] = field(default_factory=list)

    @property
    def width(self) -> float:
        """Usable text width in mm."""
        return self.right - self.left

    def add(self, *items: Item) -> None:
        """Append raw items."""
        self.items.extend(items)

    def text(self, x: float, y: float, text: str, size: float | None = None, **kw: object) -> None:
        """Place one line of text at (x, y) in the page's family."""
        kw.setdefault("family", self.family)
        self.items.append(Text(x, y, text, size or self.size, **kw))  # type: ignore[arg-type]

    def gap(self, mm: float) -> None:
        """Move the cursor down."""
        self.y += mm

    def line_height(self, size: float | None = None) -> float:
        """Line pitch in mm for a text size."""
        return (size or self.size) * PT_MM * 1.75

    def centered(self, text: str, size: float, bold: bool = True, after: float = 4.0) -> None:
        """A centred line (titles), then advance."""
        self.y += size * PT_MM * 0.8
        self.text(PAGE_W / 2, self.y, text, size, bold=bold, align="center")
        self.y += size * PT_MM * 0.8 + after

    def paragraph(
        self,
        parts: Sequence[Segment],
        indent_chars: float = 2.0,
        size: float | None = None,
        x: float | None = None,
    ) -> None:
        """A wrapped paragraph starting at the cursor."""
        size = size or self.size
        x0 = self.left if x is None else x
        em = size * PT_MM
        lines = wrap(parts, size, self.right - x0, indent_chars * em)
        pitch = self.line_height(size)
        for i, line in enumerate(lines):
            self.y += pitch / 2
            self.text(x0 + (indent_chars * em if i == 0 else 0.0), self.y, line, size)
            self.y += pitch / 2

    def kv_row(
        self,
        pairs: Sequence[tuple[str, str]],
        sep: str = "：",
        underline: bool = False,
        cols: int | None = None,
        value_color: Color = BLACK,
    ) -> None:
        """Label-value pairs on one row in equal columns (wraps to a new row when too wide)."""
        cols = cols or len(pairs)
        col_w = self.width / cols
        pitch = self.line_height() * 1.15
        self.y += pitch / 2
        col = 0
        for label, value in pairs:
            need = text_width(label + sep + value, self.size) + 4
            span = max(1, min(cols, int(need // col_w) + (1 if need % col_w else 0)))
            if col + span > cols:
                self.y += pitch
                col = 0
            x = self.left + col * col_w
            self._pair(x, label + sep, value, underline, value_color, x + span * col_w - 3)
            col += span
        self.y += pitch / 2

    def _pair(self, x: float, label: str, value: str, underline: bool, color: Color, x_end: float) -> None:
        """Draw ``label`` then ``value`` (optionally on an underline reaching ``x_end``)."""
        self.text(x, self.y, label)
        vx = x + text_width(label, self.size) + 0.8
        self.text(vx, self.y, value, color=color)
        if underline:
            lift = self.size * PT_MM * 0.75
            self.add(
                Line(
                    vx - 0.5,
                    self.y + lift,
                    max(x_end, vx + text_width(value, self.size) + 2),
                    self.y + lift,
                    0.25,
                )
            )

    def table(
        self,
        rows: Sequence[Sequence[str]],
        col_w: Sequence[float],
        row_h: float,
        label_cols: frozenset[int] = frozenset(),
        spans: dict[tuple[int, int], int] | None = None,
        value_color: Color = BLACK,
    ) -> None:
        """A ruled table; cells are centred for labels and left-aligned for values.

        ``spans`` maps (row, col) to the number of columns that cell covers.
        """
        spans = spans or {}
        x0, top = self.left, self.y
        total_w = sum(col_w)
        self.add(Rect(x0, top, x0 + total_w, top + row_h * len(rows), 0.5))
        for r, row in enumerate(rows):
            y0 = top + r * row_h
            if r:
                self.add(Line(x0, y0, x0 + total_w, y0, 0.3))
            self._table_row(row, r, x0, y0, col_w, row_h, label_cols, spans, value_color)
        self.y = top + row_h * len(rows)

    def _table_row(
        self,
        row: Sequence[str],
        r: int,
        x0: float,
        y0: float,
        col_w: Sequence[float],
        row_h: float,
        label_cols: frozenset[int],
        spans: dict[tuple[int, int], int],
        value_color: Color,
    ) -> None:
        """Cells and vertical rules of one table row."""
        x, c = x0, 0
        for cell in row:
            span = spans.get((r, c), 1)
            w = sum(col_w[c : c + span])
            if c:
                self.add(Line(x, y0, x, y0 + row_h, 0.3))
            if cell:
                size = self.size
                while text_width(cell, size) > w - 3 and size > 7:
                    size -= 0.5
                if c in label_cols:
                    self.text(x + w / 2, y0 + row_h / 2, cell, size, align="center")
                else:
                    self.text(x + 1.8, y0 + row_h / 2, cell, size, color=value_color)
            x += w
            c += span

    def page(self) -> Page:
        """Freeze the items into a page."""
        return Page(tuple(self.items))
