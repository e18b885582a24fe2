"""Bordered tables found by their ruled lines: cells, merged cells, digit boxes, on clean and worn scans."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr import grid
from schemas.models import TableCell
from tests.test_engines import cjk_font_file

#: Table rules (mm): rows and columns of a 5 x 4 form.
ROWS = [40.0, 52.0, 64.0, 76.0, 88.0, 100.0]
COLS = [20.0, 50.0, 100.0, 140.0, 190.0]
#: Digit boxes for an ID number: a label cell, then 18 boxes.
DIGITS_Y = (115.0, 123.0)
DIGITS_X0, DIGIT_W = 50.0, 7.5
LABELS = [
    ["业主姓名", "王伟", "性别", "男"],
    ["房屋地址", "翠湖花园3栋2单元1201室", "", ""],  # one cell over three columns
    ["紧急联系人", "李娜", "联系电话", "13987654321"],
    ["", "张强", "联系电话", "13812345678"],  # the first cell reaches down from the row above
    ["入住日期", "2021年5月18日", "钥匙", "5把"],
]


def mm(dpi: int, value: float) -> int:
    return round(value * dpi / 25.4)


Rule = tuple[float, float, float, float]


def form_rules() -> list[Rule]:
    """Ruled lines (x0, y0, x1, y1 in mm) of the form: a table with merged cells and a digit-box row."""
    rules: list[Rule] = [(COLS[0], y, COLS[-1], y) for y in ROWS if y != ROWS[3]]
    rules.append((COLS[1], ROWS[3], COLS[-1], ROWS[3]))  # no rule under the merged first cell of rows 2-3
    for k, x in enumerate(COLS):
        for r in range(len(ROWS) - 1):
            if r == 1 and k in (2, 3):
                continue  # row 1: columns 1..3 merged
            rules.append((x, ROWS[r], x, ROWS[r + 1]))
    y0, y1 = DIGITS_Y
    x1 = DIGITS_X0 + 18 * DIGIT_W
    rules += [(COLS[0], y0, x1, y0), (COLS[0], y1, x1, y1), (COLS[0], y0, COLS[0], y1)]
    rules += [(DIGITS_X0 + k * DIGIT_W, y0, DIGITS_X0 + k * DIGIT_W, y1) for k in range(19)]
    return rules


def draw_form(
    dpi: int, *, rules: list[Rule] | None = None, ink: int = 0, width_mm: float = 0.3
) -> np.ndarray:
    """A4 gray page with the form's rules and text, and a fill-in line and heading outside it."""
    image = Image.new("L", (mm(dpi, 210), mm(dpi, 297)), 255)
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1 in rules if rules is not None else form_rules():
        draw.line([(mm(dpi, x0), mm(dpi, y0)), (mm(dpi, x1), mm(dpi, y1))], fill=ink, width=max(1, mm(dpi, width_mm)))
    font = ImageFont.truetype(cjk_font_file(), round(11 * dpi / 72))
    heading = ImageFont.truetype(cjk_font_file(), round(20 * dpi / 72))
    draw.text((mm(dpi, 105), mm(dpi, 25)), "业主入住登记表", font=heading, fill=0, anchor="mm")
    for r, row in enumerate(LABELS):
        for c, text in enumerate(row):
            if text:
                draw.text((mm(dpi, COLS[c] + 2), mm(dpi, (ROWS[r] + ROWS[r + 1]) / 2)), text, font=font, fill=0,
                          anchor="lm")
    draw.text((mm(dpi, 22), mm(dpi, sum(DIGITS_Y) / 2)), "身份证号码", font=font, fill=0, anchor="lm")
    for k, digit in enumerate("11010119900307757X"):
        x = DIGITS_X0 + (k + 0.5) * DIGIT_W
        draw.text((mm(dpi, x), mm(dpi, sum(DIGITS_Y) / 2)), digit, font=font, fill=0, anchor="mm")
    draw.text((mm(dpi, 20), mm(dpi, 140)), "业主签字：______________    日期：____年__月__日", font=font, fill=0)
    return np.asarray(image).copy()


def expected_form() -> set[tuple[int, int, int, int, int]]:
    """(table, row, col, row_span, col_span) of every cell of the form."""
    first = {(0, r, c, 1, 1) for r in range(5) for c in range(4)}
    first -= {(0, 1, c, 1, 1) for c in (1, 2, 3)} | {(0, 2, 0, 1, 1), (0, 3, 0, 1, 1)}
    first |= {(0, 1, 1, 1, 3), (0, 2, 0, 2, 1)}
    digits = {(1, 0, c, 1, 1) for c in range(19)}
    return first | digits


def structure(cells: tuple[TableCell, ...]) -> set[tuple[int, int, int, int, int]]:
    return {(c.table, c.row, c.col, c.row_span, c.col_span) for c in cells}


def cell_at(cells: tuple[TableCell, ...], table: int, row: int, col: int) -> TableCell:
    return next(c for c in cells if (c.table, c.row, c.col) == (table, row, col))


# --- clean forms ---


@pytest.mark.parametrize("dpi", [150, 200, 300])
def test_form_cells_spans_and_boxes(dpi: int) -> None:
    cells = grid.find_cells(draw_form(dpi), dpi)
    assert structure(cells) == expected_form()
    merged = cell_at(cells, 0, 1, 1)
    tol = mm(dpi, 1.0)
    assert merged.box == pytest.approx(tuple(mm(dpi, v) for v in (COLS[1], ROWS[1], COLS[4], ROWS[2])), abs=tol)
    tall = cell_at(cells, 0, 2, 0)
    assert tall.box == pytest.approx(tuple(mm(dpi, v) for v in (COLS[0], ROWS[2], COLS[1], ROWS[4])), abs=tol)
    assert [c.table for c in cells] == sorted(c.table for c in cells), "listed by table, row, column"


def test_digit_boxes_are_eighteen_equal_cells() -> None:
    dpi = 300
    cells = [c for c in grid.find_cells(draw_form(dpi), dpi) if c.table == 1]
    boxes = sorted(cells, key=lambda c: c.col)[1:]
    assert len(boxes) == 18
    widths = [c.box[2] - c.box[0] for c in boxes]
    assert max(widths) - min(widths) <= mm(dpi, 0.5)
    assert np.mean(widths) == pytest.approx(mm(dpi, DIGIT_W), abs=mm(dpi, 0.3))


def test_text_headings_and_fill_in_lines_make_no_cells() -> None:
    dpi = 200
    page = draw_form(dpi, rules=[])
    image = Image.fromarray(page)
    draw = ImageDraw.Draw(image)
    bold = ImageFont.truetype(cjk_font_file(), round(28 * dpi / 72))
    draw.text((mm(dpi, 105), mm(dpi, 200)), "房屋交接验收表 回田国", font=bold, fill=0, anchor="mm", stroke_width=2)
    draw.line([(mm(dpi, 20), mm(dpi, 230)), (mm(dpi, 190), mm(dpi, 230))], fill=0, width=2)  # a lone rule
    assert grid.find_cells(np.asarray(image), dpi) == ()


def test_inset_digit_boxes_with_handwriting_are_a_table_of_their_own() -> None:
    dpi = 300
    page = np.full((mm(dpi, 297), mm(dpi, 210)), 255, np.uint8)
    for y in (60, 77):  # the form's cell around the boxes
        cv2.line(page, (mm(dpi, 20), mm(dpi, y)), (mm(dpi, 190), mm(dpi, y)), 0, 3)
    for x in (20, 190):
        cv2.line(page, (mm(dpi, x), mm(dpi, 60)), (mm(dpi, x), mm(dpi, 77)), 0, 3)
    x0, y0, y1, w = 25.0, 65.0, 70.5, 4.5  # 18 boxes inset in the cell, 4.5 x 5.5 mm
    for y in (y0, y1):
        cv2.line(page, (mm(dpi, x0), mm(dpi, y)), (mm(dpi, x0 + 18 * w), mm(dpi, y)), 0, 2)
    for k in range(19):
        cv2.line(page, (mm(dpi, x0 + k * w), mm(dpi, y0)), (mm(dpi, x0 + k * w), mm(dpi, y1)), 0, 2)
    for k, digit in enumerate("31011519641227510X"):  # pen digits crossing the box rules
        cv2.putText(page, digit, (mm(dpi, x0 + k * w + 0.4), mm(dpi, y1 + 0.6)), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
                    1.9, 30, 5)
    cells = grid.find_cells(page, dpi)
    boxes = [c for c in cells if c.table == 1]
    assert sorted((c.row, c.col) for c in boxes) == [(0, k) for k in range(18)]
    assert [c for c in cells if c.table == 0] == [cells[0]], "the cell around them"


# --- worn scans ---


def skewed(page: np.ndarray, degrees: float = 0.4) -> np.ndarray:
    """Skew residue left after deskewing."""
    height, width = page.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(page, matrix, (width, height), borderValue=255)


def photocopied(page: np.ndarray) -> np.ndarray:
    """Gray paper, toner grain and specks."""
    rng = np.random.default_rng(3)
    out = 40 + page.astype(np.float32) * 0.8 + rng.normal(0, 10, page.shape)
    specks = rng.random(page.shape) < 0.001
    out[specks] = 30
    return out.clip(0, 255).astype(np.uint8)


def broken_rules(period: float = 9.0, gap: float = 1.0) -> list[Rule]:
    """Every rule broken by ``gap`` mm every ``period`` mm of the page (a worn or badly copied form)."""
    out: list[Rule] = []
    for x0, y0, x1, y1 in form_rules():
        axis = 0 if y0 == y1 else 1
        lo, hi = (x0, x1) if axis == 0 else (y0, y1)
        start = lo
        while start < hi:
            end = min(hi, (start // period + 1) * period - gap)
            if end > start:
                out.append((start, y0, end, y1) if axis == 0 else (x0, start, x1, end))
            start = (start // period + 1) * period
    return out


def short_rules() -> list[Rule]:
    """Vertical rules stopping 0.7 mm short of the horizontal ones (lines that do not quite meet)."""
    return [(x0, y0 + 0.7, x1, y1 - 0.7) if x0 == x1 else (x0, y0, x1, y1) for x0, y0, x1, y1 in form_rules()]


WORN: dict[str, Callable[[int], np.ndarray]] = {
    "skew-residue": lambda dpi: skewed(draw_form(dpi)),
    "faded": lambda dpi: draw_form(dpi, ink=175, width_mm=0.15),
    "broken": lambda dpi: draw_form(dpi, rules=broken_rules()),
    "not-meeting": lambda dpi: draw_form(dpi, rules=short_rules()),
    "photocopy": lambda dpi: photocopied(draw_form(dpi)),
    "blurred-150dpi": lambda dpi: cv2.GaussianBlur(draw_form(150), (0, 0), 0.8),
}


@pytest.mark.parametrize("wear", list(WORN))
def test_worn_forms_keep_their_structure(wear: str) -> None:
    dpi = 150 if wear.endswith("150dpi") else 300
    assert structure(grid.find_cells(WORN[wear](dpi), dpi)) == expected_form()


# --- rule removal ---


def test_remove_rules_keeps_the_text() -> None:
    dpi = 200
    page = draw_form(dpi)
    cells = grid.find_cells(page, dpi)
    cleaned = grid.remove_rules(page, cells, dpi)
    text_only = draw_form(dpi, rules=[])
    assert cleaned[mm(dpi, ROWS[0]), mm(dpi, 80)] == 255 and cleaned[mm(dpi, 58), mm(dpi, COLS[0])] == 255
    assert (cleaned < 128).sum() == pytest.approx((text_only < 128).sum(), rel=0.1)
    assert grid.remove_rules(page, (), dpi) is page


# --- cost ---


def test_find_cells_is_cheap() -> None:
    page = photocopied(draw_form(300))
    grid.find_cells(page, 300)
    start = time.perf_counter()
    grid.find_cells(page, 300)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.3, f"{elapsed:.2f} s (about 0.04 s on an idle core)"
