"""Bordered tables (grid forms, 表格) found by their ruled lines, as cells with row and column spans.

:func:`find_cells` works on the upright, deskewed gray page::

    binarise -> ruled segments (morphological opening) -> tables (segments that cross)
             -> grid positions -> borders present between grid positions -> merged cells

A vertical segment only counts when both its ends meet horizontal rules and a
horizontal one when at least two verticals meet it, so text strokes, underlines
and fill-in lines (姓名：______) never make cells. Digit boxes for an ID number
(a row of ~18 small boxes) are cells like any other.

:func:`remove_rules` paints the ruled lines white for engines that stumble on
them (Tesseract drops whole rows of a form when its rules stay).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from schemas.models import TableCell

MM_PER_INCH = 25.4
#: Resolution tables are looked for at (by halving: 150 dpi for a 300-dpi page, 100 for 200).
GRID_DPI = 120
#: Least length (mm) of a ruled segment: longer than the strokes of body text, shorter than a digit box.
MIN_RULE_MM = 4.0
#: Breaks (mm) in faded or broken rules that are bridged.
RULE_GAP_MM = 2.0
#: Rules at least this long (mm; longer than body-text strokes) reach on to stubs beyond a break.
LONG_RULE_MM = 5.0
#: How far (mm) a rule may stop short of the rule it should meet.
MEET_MM = 1.0
#: Rules closer than this (mm) are one grid position (a double outer border is one).
SAME_POSITION_MM = 1.2
#: Share of a grid step a rule must cover to count as a border there.
BORDER_COVERAGE = 0.6
#: Smallest table (mm): a boxed character in a heading (回, 田) is no table.
MIN_TABLE_MM = (20.0, 5.0)
#: A "table" whose cells are narrower than this (mm, median) and either uneven (median deviation
#: over this share of the median width) or fuller of ink than this share is a heading's strokes
#: (handwritten digits fill about a third of a digit box).
HEADING_CELL_MM, HEADING_UNEVEN, HEADING_FILL = 8.0, 0.15, 0.45
#: Narrow cells are digit boxes only in a row of at least this many (a postcode has six).
MIN_DIGIT_BOXES = 6
#: Least distance (mm) between grid lines: a digit box is wider, a stroke beside a rule is closer.
MIN_STEP_MM = 2.5
#: Least median row height (mm): strokes inside bold heading characters line up like a grid,
#: but their "rows" are only a few millimetres tall.
MIN_ROW_MM = 4.5


@dataclass(frozen=True)
class Segment:
    """A ruled segment: ``pos`` across the rule, ``lo``..``hi`` along it (pixels of the analysis copy)."""

    pos: float
    lo: float
    hi: float


def find_cells(gray: np.ndarray, dpi: int) -> tuple[TableCell, ...]:
    """Cells of the bordered tables on an upright, deskewed gray page, in page pixels.

    Tables are numbered top to bottom; cells are listed by table, row, column.
    Merged cells carry their ``row_span`` / ``col_span``.
    """
    small, scale = shrink(gray, GRID_DPI / max(dpi, 1))
    px_per_mm = dpi * scale / MM_PER_INCH
    ink = binarise(small, px_per_mm)
    # Thickened by a pixel each way, so a rule with a little skew left stays one straight run.
    bw = cv2.dilate(ink, np.ones((3, 3), np.uint8))
    horizontal = ruled_segments(bw, px_per_mm, axis=0)
    vertical = ruled_segments(bw, px_per_mm, axis=1)
    cells: list[TableCell] = []
    tables = sorted(group_tables(horizontal, vertical, px_per_mm), key=lambda t: min(s.pos for s in t[0]))
    for hs, vs in tables:
        found = grid_cells(hs, vs, px_per_mm, table=len({c.table for c in cells}))
        if found and not _is_heading(found, ink, px_per_mm):
            cells.extend(_to_page(c, scale, gray.shape) for c in found)
    return tuple(cells)


def _is_heading(cells: list[TableCell], ink: np.ndarray, px_per_mm: float) -> bool:
    """Whether a "table" is the strokes of heading characters or a signature.

    Narrow cells occur in real tables as digit boxes, which come in rows of
    ``MIN_DIGIT_BOXES`` or more, equal in width, a digit each. The gaps between the strokes of heading
    characters are narrow too, but uneven or crowded with ink. A lone small
    cell is a loop of a signature or a boxed character.
    """
    widths = np.array([(c.box[2] - c.box[0]) / px_per_mm for c in cells])
    if len(cells) == 1:
        x0, y0, x1, y1 = cells[0].box
        return min(x1 - x0, y1 - y0) < HEADING_CELL_MM * px_per_mm
    median = float(np.median(widths))
    if median >= HEADING_CELL_MM:
        return False
    per_row = np.bincount([c.row for c in cells])
    if per_row.max() < MIN_DIGIT_BOXES:
        return True
    uneven = float(np.median(np.abs(widths - median))) > HEADING_UNEVEN * median
    fills = []
    for cell in cells:
        x0, y0, x1, y1 = cell.box
        mx, my = max(1, (x1 - x0) // 6), max(1, (y1 - y0) // 6)
        inner = ink[y0 + my : y1 - my, x0 + mx : x1 - mx]
        fills.append(float(np.count_nonzero(inner)) / max(1, inner.size))
    return uneven or float(np.median(fills)) > HEADING_FILL


def binarise(gray: np.ndarray, px_per_mm: float) -> np.ndarray:
    """Ink mask (255 = ink) by a local mean threshold: faded rules and uneven paper still come out."""
    block = max(3, round(3 * px_per_mm)) | 1
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12)


def ruled_segments(bw: np.ndarray, px_per_mm: float, *, axis: int) -> list[Segment]:
    """Straight ink runs of at least ``MIN_RULE_MM``: horizontal (``axis=0``) or vertical (``axis=1``).

    Collinear runs with breaks up to ``RULE_GAP_MM`` (a faded or broken rule)
    are joined, and runs reach on to the stubs beyond such breaks.
    """
    length = max(5, round(MIN_RULE_MM * px_per_mm))
    along = (length, 1) if axis == 0 else (1, length)
    runs = cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, along))
    # Contours are several times faster than labelling with statistics on a whole page.
    contours, _ = cv2.findContours(runs, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    segments = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        if axis == 0:
            segments.append(Segment(pos=y + (h - 1) / 2, lo=float(x), hi=float(x + w - 1)))
        else:
            segments.append(Segment(pos=x + (w - 1) / 2, lo=float(y), hi=float(y + h - 1)))
    joined = join_collinear(segments, gap=RULE_GAP_MM * px_per_mm, tol=0.5 * px_per_mm)
    lines = bw if axis == 0 else bw.T
    return [_reach_stubs(seg, lines, px_per_mm) if seg.hi - seg.lo >= LONG_RULE_MM * px_per_mm else seg
            for seg in joined]


def _reach_stubs(seg: Segment, lines: np.ndarray, px_per_mm: float) -> Segment:
    """Extend a rule over breaks of up to ``RULE_GAP_MM`` to a thin stub further along its line.

    A break close to a junction leaves a stub too short to count as a rule;
    without it the rule would stop short of the rule it meets. Only thin ink
    counts (paper half a millimetre to either side), so a rule never reaches
    on into text. ``lines`` holds the rules along its rows (the transposed
    mask for verticals).
    """
    gap = RULE_GAP_MM * px_per_mm
    window = round(gap + MIN_RULE_MM * px_per_mm)
    row, away = round(seg.pos), max(2, round(0.5 * px_per_mm))
    if row - away < 0 or row + away >= lines.shape[0]:
        return seg
    thin = lines[row - 1 : row + 2].any(axis=0) & ~lines[row - away] & ~lines[row + away]
    lo, hi = int(seg.lo), int(seg.hi)
    ahead = np.flatnonzero(thin[hi + 1 : hi + 1 + window])
    behind = np.flatnonzero(thin[max(0, lo - window) : lo][::-1])
    return Segment(pos=seg.pos, lo=float(lo - _run_end(behind, gap)), hi=float(hi + _run_end(ahead, gap)))


def _run_end(ink: np.ndarray, gap: float) -> int:
    """How far ink continues from a rule's end (offsets of ink pixels past it), with breaks up to ``gap``."""
    if not len(ink) or ink[0] > gap:
        return 0
    breaks = np.flatnonzero(np.diff(ink) > gap + 1)
    return int(ink[breaks[0]] if len(breaks) else ink[-1]) + 1


def join_collinear(segments: list[Segment], *, gap: float, tol: float) -> list[Segment]:
    """Join segments on one line (positions within ``tol`` of the neighbour) whose ends are at most ``gap`` apart."""
    out: list[Segment] = []
    ordered = sorted(segments, key=lambda s: s.pos)
    start = 0
    for k in range(1, len(ordered) + 1):
        if k == len(ordered) or ordered[k].pos - ordered[k - 1].pos > tol:
            out.extend(_join_runs(ordered[start:k], gap))
            start = k
    return out


def _join_runs(line: list[Segment], gap: float) -> list[Segment]:
    """Join segments of one line whose ends are at most ``gap`` apart (length-weighted position)."""
    out: list[Segment] = []
    for seg in sorted(line, key=lambda s: s.lo):
        prev = out[-1] if out else None
        if prev is not None and seg.lo - prev.hi <= gap:
            a, b = prev.hi - prev.lo + 1, seg.hi - seg.lo + 1
            out[-1] = Segment(pos=(prev.pos * a + seg.pos * b) / (a + b), lo=prev.lo, hi=max(prev.hi, seg.hi))
        else:
            out.append(seg)
    return out


def group_tables(
    horizontal: list[Segment], vertical: list[Segment], px_per_mm: float
) -> list[tuple[list[Segment], list[Segment]]]:
    """Tables as (horizontal, vertical) rules that meet one another.

    Rules that cannot belong to a grid are pruned first: a vertical must meet
    a horizontal at both ends, a horizontal must meet two verticals.
    """
    tol = MEET_MM * px_per_mm
    hs, vs = list(horizontal), list(vertical)
    for _ in range(3):
        vs = [v for v in vs if _spans_rows(v, hs, tol, min_step=MIN_STEP_MM * px_per_mm)]
        hs = [h for h in hs if sum(_crosses(h, v, tol) for v in vs) >= 2]
    parent = list(range(len(hs) + len(vs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, h in enumerate(hs):
        for j, v in enumerate(vs):
            if _crosses(h, v, tol):
                parent[find(i)] = find(len(hs) + j)
    groups: dict[int, tuple[list[Segment], list[Segment]]] = {}
    for i, h in enumerate(hs):
        groups.setdefault(find(i), ([], []))[0].append(h)
    for j, v in enumerate(vs):
        groups.setdefault(find(len(hs) + j), ([], []))[1].append(v)
    min_w, min_h = (m * px_per_mm for m in MIN_TABLE_MM)
    tables = []
    for g_hs, g_vs in groups.values():
        if len(g_hs) < 2 or len(g_vs) < 2:
            continue
        width = max(h.hi for h in g_hs) - min(h.lo for h in g_hs)
        height = max(v.hi for v in g_vs) - min(v.lo for v in g_vs)
        if width >= min_w and height >= min_h:
            tables.append((g_hs, g_vs))
    return tables


def _crosses(h: Segment, v: Segment, tol: float) -> bool:
    """Whether two rules cross or their ends come within reach of the other rule."""
    return h.lo - tol <= v.pos <= h.hi + tol and v.lo - tol <= h.pos <= v.hi + tol


def _spans_rows(v: Segment, hs: list[Segment], tol: float, *, min_step: float) -> bool:
    """Whether a vertical crosses (or comes within ``tol`` of) two horizontal rules ``min_step`` apart.

    A text stroke inside a cell reaches neither rule; one touching a rule
    reaches only that one.
    """
    crossing = [h.pos for h in hs if _crosses(h, v, tol)]
    return bool(crossing) and max(crossing) - min(crossing) >= min_step


def grid_cells(hs: list[Segment], vs: list[Segment], px_per_mm: float, *, table: int) -> list[TableCell]:
    """Cells of one table (analysis pixels): grid positions, borders between them, merged regions.

    Neighbouring grid squares with no rule between them belong to one cell;
    squares open to the outside of the table (a row shorter than the others)
    are no cell.
    """
    tol = MEET_MM * px_per_mm
    row_lines = _grid_lines(hs, SAME_POSITION_MM * px_per_mm, MIN_STEP_MM * px_per_mm)
    col_lines = _grid_lines(vs, SAME_POSITION_MM * px_per_mm, MIN_STEP_MM * px_per_mm)
    rows, cols = [pos for pos, _ in row_lines], [pos for pos, _ in col_lines]
    n_rows, n_cols = len(rows) - 1, len(cols) - 1
    if n_rows < 1 or n_cols < 1 or np.median(np.diff(rows)) < MIN_ROW_MM * px_per_mm:
        return []
    # h_border[i, j]: a rule on row line i over column step j; v_border[i, j]: on column line j over row step i.
    h_border = np.zeros((n_rows + 1, n_cols), bool)
    v_border = np.zeros((n_rows, n_cols + 1), bool)
    for i, (_, pieces) in enumerate(row_lines):
        for j in range(n_cols):
            h_border[i, j] = _covered(pieces, cols[j], cols[j + 1], tol) >= BORDER_COVERAGE
    for j, (_, pieces) in enumerate(col_lines):
        for i in range(n_rows):
            v_border[i, j] = _covered(pieces, rows[i], rows[i + 1], tol) >= BORDER_COVERAGE
    regions = _merge_squares(h_border, v_border)
    cells = []
    for squares in regions:
        r0, r1 = min(r for r, _ in squares), max(r for r, _ in squares)
        c0, c1 = min(c for _, c in squares), max(c for _, c in squares)
        box = (round(cols[c0]), round(rows[r0]), round(cols[c1 + 1]), round(rows[r1 + 1]))
        cells.append(TableCell(box=box, table=table, row=r0, col=c0, row_span=r1 - r0 + 1, col_span=c1 - c0 + 1))
    return sorted(cells, key=lambda c: (c.row, c.col))


def _grid_lines(segments: list[Segment], same: float, min_step: float) -> list[tuple[float, list[Segment]]]:
    """Grid positions (mean position, the segments on it), sorted.

    Segments closer than ``same`` share a position. Where two positions are
    closer than ``min_step``, the one with less rule length goes: a text
    stroke next to a rule (讲, 门 in a narrow cell) is no grid line.
    """
    groups: list[list[Segment]] = []
    for seg in sorted(segments, key=lambda s: s.pos):
        if groups and seg.pos - groups[-1][-1].pos <= same:
            groups[-1].append(seg)
        else:
            groups.append([seg])
    while len(groups) > 1:
        pos = [_mean_pos(g) for g in groups]
        steps = np.diff(pos)
        k = int(np.argmin(steps))
        if steps[k] >= min_step:
            break
        del groups[k if _length(groups[k]) < _length(groups[k + 1]) else k + 1]
    return [(_mean_pos(g), g) for g in groups]


def _mean_pos(group: list[Segment]) -> float:
    """Position of a grid line: weighted by length, so a stroke touching a rule hardly moves it."""
    return float(np.average([s.pos for s in group], weights=[s.hi - s.lo + 1 for s in group]))


def _length(group: list[Segment]) -> float:
    return sum(s.hi - s.lo for s in group)


def _covered(pieces: list[Segment], lo: float, hi: float, tol: float) -> float:
    """Share of ``lo``..``hi`` covered by the pieces (each stretched by ``tol`` at its ends)."""
    span = max(hi - lo, 1e-6)
    marks = np.zeros(max(1, round(span)), bool)
    for p in pieces:
        a, b = max(lo, p.lo - tol) - lo, min(hi, p.hi + tol) - lo
        if b > a:
            marks[int(a) : int(np.ceil(b))] = True
    return float(marks.mean())


def _merge_squares(h_border: np.ndarray, v_border: np.ndarray) -> list[list[tuple[int, int]]]:
    """Regions of grid squares joined where no border separates them; regions open to the outside dropped."""
    n_rows, n_cols = v_border.shape[0], h_border.shape[1]
    outside = n_rows * n_cols
    parent = list(range(outside + 1))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    for r in range(n_rows):
        for c in range(n_cols):
            here = r * n_cols + c
            if not v_border[r, c + 1]:
                join(here, here + 1 if c + 1 < n_cols else outside)
            if not h_border[r + 1, c]:
                join(here, here + n_cols if r + 1 < n_rows else outside)
            if c == 0 and not v_border[r, 0]:
                join(here, outside)
            if r == 0 and not h_border[0, c]:
                join(here, outside)
    regions: dict[int, list[tuple[int, int]]] = {}
    for r in range(n_rows):
        for c in range(n_cols):
            root = find(r * n_cols + c)
            if root != find(outside):
                regions.setdefault(root, []).append((r, c))
    return list(regions.values())


def remove_rules(gray: np.ndarray, cells: tuple[TableCell, ...], dpi: int) -> np.ndarray:
    """Paint the ruled lines of the found tables white; text inside the cells is kept.

    Only long straight runs inside the tables' boxes are removed, so text
    elsewhere on the page is never touched.
    """
    if not cells:
        return gray
    out = gray.copy()
    px_per_mm = dpi / MM_PER_INCH
    pad = max(2, round(MEET_MM * px_per_mm))
    for table in {c.table for c in cells}:
        boxes = [c.box for c in cells if c.table == table]
        x0, y0 = max(0, min(b[0] for b in boxes) - pad), max(0, min(b[1] for b in boxes) - pad)
        x1 = min(gray.shape[1], max(b[2] for b in boxes) + pad)
        y1 = min(gray.shape[0], max(b[3] for b in boxes) + pad)
        tile = out[y0:y1, x0:x1]
        bw = binarise(tile, px_per_mm)
        length = max(5, round(MIN_RULE_MM * px_per_mm))
        rules = cv2.bitwise_or(
            cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))),
            cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, length))),
        )
        rules = cv2.dilate(rules, np.ones((3, 3), np.uint8))
        tile[rules > 0] = 255
    return out


def _to_page(cell: TableCell, scale: float, shape: tuple[int, ...]) -> TableCell:
    height, width = shape[:2]
    x0, y0, x1, y1 = cell.box
    box = (
        max(0, round(x0 / scale)), max(0, round(y0 / scale)),
        min(width, round(x1 / scale)), min(height, round(y1 / scale)),
    )
    return cell.model_copy(update={"box": box})


def shrink(image: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """Downscale to about ``scale`` (0.75 to 1.5 times it) by halving; returns the copy and its exact scale.

    OpenCV averages 2:1 an order of magnitude faster than any other ratio, so
    repeated halving costs a few milliseconds on a 300-dpi page where one
    resize to an odd ratio costs tens. An odd last row or column is dropped
    before each halving. Shared by the page analysis steps (also in
    :mod:`ocr.marks` and :mod:`ocr.preprocess`).
    """
    actual = 1.0
    small = image
    while actual / 2 >= 0.75 * scale and min(small.shape[:2]) >= 4:
        height, width = small.shape[:2]
        small = small[: height - height % 2, : width - width % 2]
        small = cv2.resize(small, (small.shape[1] // 2, small.shape[0] // 2), interpolation=cv2.INTER_AREA)
        actual /= 2
    return small, actual
