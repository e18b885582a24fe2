"""Building blocks of hard documents: pages that remember where each field's value sits.

A layout draws on a :class:`Sheet` (printed text, handwriting, ruled grids,
digit boxes, tick boxes, seals) and registers a :class:`Spot` for every field
value it puts on the paper. After marks are added, ``field_conditions`` works
out which conditions touch each field from geometry: a seal or thumbprint over
the value's box, a fold through it, handwriting, a grid cell, and so on.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from schemas.documents import DocType
from tests.synth.handwriting import HANDS, PEN_COLORS, Handwriting, text_extent
from tests.synth.hard.marks import Crease, Mark, Seal, Thumbprint, Tick
from tests.synth.items import (
    BLACK,
    PAGE_W,
    PT_MM,
    Align,
    Color,
    Family,
    Item,
    Line,
    Rect,
    Text,
    text_width,
    wrap,
)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Group:
    """Printed items drawn together and turned by ``angle`` degrees about (cx, cy): a card lying crooked."""

    items: tuple[Item, ...]
    box: Box
    angle: float


PageItem = Item | Handwriting | Mark | Group

#: Every condition name a truth line may carry.
CONDITIONS = (
    "folder",
    "long_contract",
    "amount_in_words",
    "handwritten",
    "digit_boxes",
    "seal_over_text",
    "thumbprint",
    "punch_holes",
    "staple",
    "crease",
    "ticks",
    "page_stamp",
    "grid_form",
    "merged_cells",
    "id_true_size",
    "overlay_line",
    "id_two_pages",
    "distractor",
    "low_dpi",
    "fax",
    "photocopy",
    "phone",
    "skew",
    "rotated",
    "blank_pages",
)
#: Conditions of a page's scan (they touch every field on that page).
SCAN_CONDITIONS = frozenset({"low_dpi", "fax", "photocopy", "phone", "skew", "rotated"})


@dataclass(frozen=True)
class Spot:
    """Where a field's value is on a page (mm box) and what touches it there."""

    fields: tuple[str, ...]
    box: Box
    conditions: frozenset[str] = frozenset()
    #: False for a second place of a value (a signature repeating a printed name).
    primary: bool = True


@dataclass(frozen=True)
class HardPage:
    """One page: items in painting order, the field spots, page-wide conditions."""

    items: tuple[PageItem, ...]
    spots: tuple[Spot, ...] = ()
    conditions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HardDoc:
    """A laid-out document with its truth."""

    doc_type: DocType
    layout: str
    holdout: bool
    pages: tuple[HardPage, ...]
    fields: dict[str, str]
    flags: dict[str, str] = field(default_factory=dict)
    conditions: frozenset[str] = frozenset()
    #: Printed on a colour copier (False: grey).
    color: bool = True
    title: str = ""
    #: Conditions a field carries wherever it is (e.g. a distractor printed next to it).
    field_extra: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class Writer:
    """The person filling a form in by hand: one hand, one pen, a writing size in mm."""

    hand: str
    color: Color
    size: float
    rng: random.Random

    def seed(self) -> int:
        """A fresh seed for the next written item."""
        return self.rng.randrange(1 << 30)


def make_writer(rng: random.Random, *, holdout: bool, size: float | None = None) -> Writer:
    """A writer drawn from the ordinary (or held-out) hands."""
    names = sorted(n for n, h in HANDS.items() if h.holdout == holdout)
    return Writer(rng.choice(names), rng.choice(PEN_COLORS), size or rng.uniform(4.2, 5.4), rng)


def overlaps(a: Box, b: Box, min_frac: float = 0.12) -> bool:
    """Whether box ``b`` covers at least ``min_frac`` of box ``a``."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return False
    area = max((a[2] - a[0]) * (a[3] - a[1]), 1e-6)
    return w * h / area >= min_frac


def crosses(box: Box, cr: Crease, margin: float = 1.5) -> bool:
    """Whether a fold line passes through ``box`` (or within ``margin`` mm: its shading is that wide)."""
    x0, y0, x1, y1 = box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin
    corners = [(x0, y0), (x1, y0), (x0, y1), (x1, y1)]
    nx, ny = cr.y1 - cr.y0, -(cr.x1 - cr.x0)
    sides = {(x - cr.x0) * nx + (y - cr.y0) * ny > 0 for x, y in corners}
    return len(sides) == 2


def page_field_conditions(page: HardPage, *, primary: bool = True) -> dict[str, set[str]]:
    """Conditions per field on one page (of its primary, or secondary, spots): own, marks over it, the scan."""
    out: dict[str, set[str]] = {}
    marks = [it for it in page.items if isinstance(it, Seal | Thumbprint | Crease)]
    for spot in page.spots:
        if spot.primary != primary:
            continue
        conds = set(spot.conditions) | (set(page.conditions) & SCAN_CONDITIONS)
        for m in marks:
            if isinstance(m, Seal) and overlaps(spot.box, m.box()):
                conds.add("seal_over_text")
            elif isinstance(m, Thumbprint) and overlaps(spot.box, m.box(), 0.08):
                conds.add("thumbprint")
            elif isinstance(m, Crease) and crosses(spot.box, m):
                conds.add("crease")
        for f in spot.fields:
            out.setdefault(f, set()).update(conds)
    return out


# ------------------------------------------------------------------ the sheet


@dataclass
class Sheet:
    """A page under construction: a cursor ``y`` and the items and spots placed so far."""

    rng: random.Random
    family: Family = "sans"
    size: float = 11.0
    left: float = 20.0
    right: float = 190.0
    y: float = 20.0
    items: list[PageItem] = field(default_factory=list)
    spots: list[Spot] = field(default_factory=list)

    # -- printed

    def add(self, *items: PageItem) -> None:
        """Append raw items."""
        self.items.extend(items)

    def gap(self, mm: float) -> None:
        """Move the cursor down."""
        self.y += mm

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float | None = None,
        *,
        bold: bool = False,
        align: Align = "left",
        color: Color = BLACK,
        family: Family | None = None,
    ) -> Box:
        """Print one line; returns its box."""
        size = size or self.size
        self.items.append(Text(x, y, text, size, bold, align, family or self.family, color))
        w = text_width(text, size)
        x0 = x - w / 2 if align == "center" else x - w if align == "right" else x
        h = size * PT_MM
        return (x0, y - h * 0.6, x0 + w, y + h * 0.6)

    def title(self, text: str, size: float, after: float = 5.0) -> None:
        """A centred bold title line, then advance."""
        self.y += size * PT_MM * 0.8
        self.text(PAGE_W / 2, self.y, text, size, bold=True, align="center")
        self.y += size * PT_MM * 0.8 + after

    def pitch(self, size: float | None = None) -> float:
        """Line pitch in mm for a text size."""
        return (size or self.size) * PT_MM * 1.75

    def paragraph(self, text: str, *, indent: float = 2.0, size: float | None = None, x: float | None = None) -> None:
        """A wrapped paragraph at the cursor (``indent`` in characters)."""
        size = size or self.size
        x0 = self.left if x is None else x
        em = size * PT_MM
        for i, line in enumerate(wrap([text], size, self.right - x0, indent * em)):
            self.y += self.pitch(size) / 2
            self.text(x0 + (indent * em if i == 0 else 0.0), self.y, line, size)
            self.y += self.pitch(size) / 2

    def hline(self, x0: float, x1: float, y: float, width: float = 0.25) -> None:
        """A ruled line (underline of a blank)."""
        self.items.append(Line(x0, y, x1, y, width))

    # -- values

    def spot(self, fields: str | Sequence[str], box: Box, conds: Iterable[str] = (), *, primary: bool = True) -> None:
        """Register where ``fields`` are on this page (``primary=False``: a second place of the value)."""
        names = (fields,) if isinstance(fields, str) else tuple(fields)
        if names:
            self.spots.append(Spot(names, box, frozenset(conds), primary))

    def write(
        self,
        writer: Writer,
        x: float,
        y: float,
        text: str,
        *,
        size: float | None = None,
        align: str = "left",
        angle: float = 0.0,
    ) -> Box:
        """Handwrite ``text`` with its vertical middle at ``y``; returns its box."""
        size = size or writer.size
        baseline = y + size * 0.36
        self.items.append(Handwriting(x, baseline, text, size, writer.seed(), writer.hand, writer.color, align, angle))
        w = text_extent(text, size, writer.hand)
        x0 = x - w / 2 if align == "center" else x
        return (x0, y - size * 0.62, x0 + w, y + size * 0.62)

    def value(
        self,
        fields: str | Sequence[str],
        x: float,
        y: float,
        text: str,
        *,
        writer: Writer | None = None,
        size: float | None = None,
        conds: Iterable[str] = (),
        align: Align = "left",
        color: Color = BLACK,
    ) -> Box:
        """A field value, handwritten when ``writer`` is given, else printed; registers its spot."""
        if writer is not None:
            box = self.write(writer, x, y, text, size=size, align=align)
            conds = {*conds, "handwritten"}
        else:
            box = self.text(x, y, text, size, align=align, color=color)
        self.spot(fields, box, conds)
        return box

    def labelled(
        self,
        x: float,
        label: str,
        fields: str | Sequence[str],
        text: str,
        *,
        writer: Writer | None = None,
        sep: str = "：",
        underline_to: float | None = None,
        conds: Iterable[str] = (),
    ) -> Box:
        """``label：value`` on the cursor line; the value optionally on an underline ending at ``underline_to``."""
        self.text(x, self.y, label + sep)
        vx = x + text_width(label + sep, self.size) + 1.0
        if underline_to is not None:
            self.hline(vx - 0.5, max(underline_to, vx + 20), self.y + self.size * PT_MM * 0.75)
        jitter = self.rng.uniform(-0.6, 0.4) if writer else 0.0
        return self.value(fields, vx + (1.5 if writer else 0), self.y + jitter, text, writer=writer, conds=conds)

    def digit_boxes(self, x: float, y: float, fields: str, number: str, writer: Writer, *, cell: float = 5.2) -> Box:
        """18 ruled boxes, one handwritten digit in each (sometimes over a box edge)."""
        h = cell * 1.25
        for i in range(len(number) + 1):
            self.items.append(Line(x + i * cell, y - h / 2, x + i * cell, y + h / 2, 0.3))
        self.items.append(Rect(x, y - h / 2, x + cell * len(number), y + h / 2, 0.35))
        for i, ch in enumerate(number):
            over = self.rng.random() < 0.05
            dx = self.rng.uniform(-0.45, 0.45) + (self.rng.choice((-1.1, 1.1)) if over else 0.0)
            dy = self.rng.uniform(-0.5, 0.5)
            self.write(writer, x + (i + 0.5) * cell + dx, y + dy, ch, size=cell * 1.05, align="center")
        box = (x, y - h / 2, x + cell * len(number), y + h / 2)
        self.spot(fields, box, {"handwritten", "digit_boxes"})
        return box

    def options(
        self,
        x: float,
        y: float,
        choices: Sequence[str],
        chosen: int,
        fields: str | Sequence[str],
        writer: Writer | None,
        *,
        size: float | None = None,
        printed_tick: bool = False,
    ) -> Box:
        """``□男  □女``: printed boxes, the chosen one ticked by hand (or printed ☑ when ``printed_tick``)."""
        size = size or self.size
        em = size * PT_MM
        cx = x
        x_end = x
        for i, label in enumerate(choices):
            self.items.append(Rect(cx, y - em * 0.42, cx + em * 0.84, y + em * 0.42, 0.25))
            if i == chosen:
                if printed_tick or writer is None:
                    self.items.append(Text(cx + em * 0.42, y, "√", size * 0.9, True, "center", "sans"))
                else:
                    kind = self.rng.choice(("check", "check", "root"))
                    self.items.append(Tick(cx + em * 0.5, y - em * 0.15, em * 1.5, writer.seed(), kind, writer.color))
            self.text(cx + em * 1.05, y, label, size)
            x_end = cx + em * 1.05 + text_width(label, size)
            cx = x_end + em * 1.3
        box = (x, y - em * 0.6, x_end, y + em * 0.6)
        self.spot(fields, box, {"ticks"})
        return box

    def page(self, conditions: Iterable[str] = ()) -> HardPage:
        """Freeze the items and spots into a page."""
        return HardPage(tuple(self.items), tuple(self.spots), frozenset(conditions))


# ------------------------------------------------------------------ ruled grids


@dataclass(frozen=True)
class Cell:
    """A grid cell: a printed label, a value (printed or handwritten), a tick group, a photo box or nothing."""

    text: str = ""
    fields: tuple[str, ...] = ()
    kind: str = "label"  # label | value | digits | header | section | photo | options | blank
    cols: int = 1
    rows: int = 1
    choices: tuple[str, ...] = ()
    chosen: int = 0
    align: Align = "center"


def label(text: str, cols: int = 1, rows: int = 1, align: Align = "center") -> Cell:
    """A printed label cell."""
    return Cell(text, kind="label", cols=cols, rows=rows, align=align)


def val(fields: str | Sequence[str], text: str, cols: int = 1, rows: int = 1) -> Cell:
    """A value cell (handwritten when the grid has a writer)."""
    names = (fields,) if isinstance(fields, str) else tuple(fields)
    return Cell(text, names, "value", cols, rows, align="left")


def grid(
    sheet: Sheet,
    col_w: Sequence[float],
    row_h: float | Sequence[float],
    rows: Sequence[Sequence[Cell]],
    *,
    writer: Writer | None,
    x: float | None = None,
    label_size: float | None = None,
) -> None:
    """Draw a ruled table with merged cells at the cursor; values are handwritten when ``writer`` is set.

    Cells are placed left to right into the next free slot, skipping slots
    covered by a cell above that spans rows (as in a real table).
    """
    x0 = sheet.left if x is None else x
    heights = [row_h] * len(rows) if isinstance(row_h, int | float) else list(row_h)
    tops = [sheet.y + sum(heights[:i]) for i in range(len(rows) + 1)]
    lefts = [x0 + sum(col_w[:i]) for i in range(len(col_w) + 1)]
    taken: set[tuple[int, int]] = set()
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while (r, c) in taken:
                c += 1
            if c >= len(col_w):
                break
            c1, r1 = min(len(col_w), c + cell.cols), min(len(rows), r + cell.rows)
            taken.update((rr, cc) for rr in range(r, r1) for cc in range(c, c1))
            box = (lefts[c], tops[r], lefts[c1], tops[r1])
            _cell(sheet, cell, box, writer, label_size, merged=cell.cols > 1 or cell.rows > 1)
            c = c1
    outer = Rect(x0, tops[0], lefts[-1], tops[-1], 0.55)
    sheet.add(outer)
    sheet.y = tops[-1]


def _cell(sheet: Sheet, cell: Cell, box: Box, writer: Writer | None, label_size: float | None, merged: bool) -> None:
    """Borders and contents of one grid cell."""
    x0, y0, x1, y1 = box
    sheet.add(Rect(x0, y0, x1, y1, 0.3))
    cy = (y0 + y1) / 2
    conds = {"grid_form", *(["merged_cells"] if merged else [])}
    size = label_size or sheet.size
    if cell.kind in {"label", "header", "section"}:
        while text_width(cell.text, size) > (x1 - x0) - 2.5 and size > 6.5:
            size -= 0.5
        bold = cell.kind == "section"
        if cell.align == "left" or cell.kind == "section":
            sheet.text(x0 + 2, cy, cell.text, size, bold=bold)
        else:
            sheet.text((x0 + x1) / 2, cy, cell.text, size, bold=bold, align="center")
    elif cell.kind == "photo":
        sheet.text((x0 + x1) / 2, cy, cell.text or "照片", size * 0.9, align="center", color=(110, 110, 110))
    elif cell.kind == "options":
        sheet.options(x0 + 2.5, cy, cell.choices, cell.chosen, cell.fields, writer)
        sheet.spots[-1] = replace(sheet.spots[-1], conditions=sheet.spots[-1].conditions | conds)
    elif cell.kind == "digits" and writer is not None:
        w = min(5.4, (x1 - x0 - 4) / len(cell.text))
        sheet.digit_boxes(x0 + 2, cy, cell.fields[0], cell.text, writer, cell=w)
        sheet.spots[-1] = replace(sheet.spots[-1], conditions=sheet.spots[-1].conditions | conds)
    elif cell.kind in {"value", "digits"} and cell.text:
        if writer is not None:
            # People write low in a tall cell and start a little in from the rule.
            y = cy + sheet.rng.uniform(-0.8, 1.2)
            sz = min(writer.size, (y1 - y0) * 0.62)
            room = text_extent(cell.text, sz, writer.hand)
            if room > (x1 - x0) - 3 and sheet.rng.random() < 0.7:
                sz = max(2.8, sz * ((x1 - x0) - 3) / room)  # squeeze to fit, as people do
            sheet.value(
                cell.fields, x0 + sheet.rng.uniform(1.5, 4.0), y, cell.text, writer=writer, size=sz, conds=conds
            )
        else:
            sz = size
            while text_width(cell.text, sz) > (x1 - x0) - 3 and sz > 6.5:
                sz -= 0.5
            sheet.value(cell.fields, x0 + 1.8, cy, cell.text, size=sz, conds=conds)


# ------------------------------------------------------------------ dates written by hand


def hand_date(rng: random.Random, d: date) -> str:
    """A date the way people write it into a form."""
    return rng.choice(
        (
            f"{d.year}.{d.month}.{d.day}",
            f"{d.year}年{d.month}月{d.day}日",
            f"{d.year}-{d.month:02d}-{d.day:02d}",
            f"{d.year}/{d.month}/{d.day}",
            f"{d.year}.{d.month:02d}.{d.day:02d}",
        )
    )


def date_blanks(
    sheet: Sheet,
    x: float,
    y: float,
    d: date,
    fields: str | Sequence[str],
    writer: Writer | None,
    *,
    size: float | None = None,
) -> float:
    """Printed ``____年__月__日`` with the numbers handwritten on the underlines; returns the end x."""
    size = size or sheet.size
    em = size * PT_MM
    lift = em * 0.72
    parts = ((str(d.year), 4.2, "年"), (str(d.month), 2.6, "月"), (str(d.day), 2.6, "日"))
    cx = x
    x0 = x
    for number, width_em, unit in parts:
        w = width_em * em
        sheet.hline(cx, cx + w, y + lift)
        if writer is not None:
            jitter = sheet.rng.uniform(-0.3, 0.3) * em
            over = em * 0.7 if sheet.rng.random() < 0.1 else 0.0  # the pen runs over the line
            sheet.write(
                writer, cx + w / 2 + jitter + over, y - em * 0.05, number, align="center", size=writer.size * 0.95
            )
        else:
            sheet.text(cx + w / 2, y, number, size, align="center")
        cx += w + 0.6
        sheet.text(cx, y, unit, size)
        cx += em * 1.1
    conds = {"handwritten"} if writer is not None else set()
    sheet.spot(fields, (x0, y - em * 0.9, cx, y + em * 0.9), conds)
    return cx
