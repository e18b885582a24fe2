"""Grid forms: a label's value is read from the table cell beside or below it, by structure, not position."""

from __future__ import annotations

from ocr.extract import extract
from schemas.models import OcrLine, OcrPage, OcrWord, TableCell

CELL_W, CELL_H = 400, 100


def _page(grid: list[list[str]], merged: dict[tuple[int, int], tuple[int, int]] | None = None) -> OcrPage:
    """A one-table page: ``grid[r][c]`` is the text written in cell (r, c); ``merged`` spans (rows, cols)."""
    merged = merged or {}
    covered: set[tuple[int, int]] = set()
    cells, lines = [], []
    top = 300
    for r, row in enumerate(grid):
        words = []
        for c, text in enumerate(row):
            if (r, c) in covered:
                continue
            rs, cs = merged.get((r, c), (1, 1))
            covered |= {(r + i, c + j) for i in range(rs) for j in range(cs)}
            box = (100 + c * CELL_W, top + r * CELL_H, 100 + (c + cs) * CELL_W, top + (r + rs) * CELL_H)
            cells.append(TableCell(box=box, table=0, row=r, col=c, row_span=rs, col_span=cs))
            if text:
                x0, y0 = box[0] + 20, box[1] + 30
                words.append(OcrWord(text=text, box=(x0, y0, x0 + 40 * len(text), y0 + 40), confidence=0.97))
        if words:
            lines.append(OcrLine(text=" ".join(w.text for w in words),
                                 box=(words[0].box[0], words[0].box[1], words[-1].box[2], words[-1].box[3]),
                                 confidence=0.97, words=tuple(words)))
    title = OcrWord(text="业主入住登记表", box=(700, 100, 1300, 180), confidence=0.99)
    lines.insert(0, OcrLine(text=title.text, box=title.box, confidence=0.99, words=(title,)))
    return OcrPage(index=0, engine="test", width=2480, height=3508, lines=tuple(lines), cells=tuple(cells))


def test_value_in_the_cell_right_of_its_label() -> None:
    page = _page([["业主姓名", "王伟", "联系电话", "13812345678"],
                  ["入住日期", "2019年10月18日", "紧急联系人", "李娜"]])
    fields = {k: v.value for k, v in extract("owner_registration", [page]).fields.items()}
    assert fields["owner_name"] == "王伟" and fields["phone"] == "13812345678"
    assert fields["move_in_date"] == "2019-10-18" and fields["emergency_contact"] == "李娜"
    assert extract("owner_registration", [page]).fields["owner_name"].box == (500, 300, 900, 400)


def test_empty_value_cell_gives_no_value_not_the_next_label_s() -> None:
    page = _page([["业主姓名", "王伟", "联系电话", ""], ["紧急联系人", "李娜", "紧急联系电话", "13912345678"]])
    fields = extract("owner_registration", [page]).fields
    assert "phone" not in fields and fields["emergency_phone"].value == "13912345678"


def test_values_under_a_header_row_of_labels() -> None:
    page = _page([["业主姓名", "联系电话", "入住日期"], ["赵敏", "13612345678", "2020-08-06"]])
    fields = {k: v.value for k, v in extract("owner_registration", [page]).fields.items()}
    assert fields == {"owner_name": "赵敏", "phone": "13612345678", "move_in_date": "2020-08-06"}


def test_merged_value_cell_and_moved_columns() -> None:
    # the address-like 房屋坐落 value spans three columns; the name pair moved to the right end
    page = _page([["房屋坐落", "锦绣花园3栋2单元1201室", "", "", "业主姓名", "孙丽"]], merged={(0, 1): (1, 3)})
    fields = {k: v.value for k, v in extract("owner_registration", [page]).fields.items()}
    assert fields["owner_name"] == "孙丽"
    assert (fields["building"], fields["unit"], fields["room"]) == ("3", "2", "1201")
