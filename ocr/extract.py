"""Field extraction (字段提取): OCR lines -> the export fields of a document type.

How it reads a page:

1. OCR lines are grouped into rows by their boxes (engines split one printed
   row into several boxes, or put label and value in separate table cells).
2. Labels from :data:`LABELS` (synonym -> semantic key) are found in each row,
   tolerating spaces inside labels, full/half-width colons and missing colons.
   A label's value is the text up to the next label on the row; an empty value
   is looked for at the start of the next row and in the cell below (tables).
3. Parties (出卖人 / 买受人 / 甲方 / 乙方 / 紧急联系人 ...) set a *context*, so a
   generic "身份证号码" after "买受人" is the buyer's ID number.
4. The document type's spec (schemas/doctypes/) says which keys in which contexts feed a
   field and how the value is parsed (schemas/validators.py). Pattern
   fallbacks find ID numbers and unit references anywhere.

Invalid values (an ID number whose checksum fails, an impossible date) are
kept with ``valid=False`` and an issue; a field that was not found is absent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ocr.cells import CellKey, Grid
from ocr.confidence import probability
from ocr.idcard import card_fields
from schemas.doctypes import CONTEXT_OF_KEY, LEXICON, DocSpec, FieldSpec, Label, spec_of
from schemas.documents import SEAL_FIELD
from schemas.models import CONFIDENT, Extraction, FieldValue, OcrLine, OcrPage, OcrWord, Unread
from schemas.validators import (
    DIGIT_CONFUSIONS,
    amount_in_words,
    check_id_number,
    cn_numeral_to_int,
    find_dates,
    fix_digit_runs,
    normalize_date,
    normalize_decimal,
    normalize_ethnicity,
    normalize_id_number,
    normalize_phone,
    normalize_sex,
    parse_unit_parts,
)

# ================================================================== label lexicon

#: Every label any document type prints -> its meaning (built from schemas/doctypes/).
LABELS: Mapping[str, Label] = LEXICON
#: Keys that set the context (whose section of the document we are in).
_CONTEXT_OF_KEY = CONTEXT_OF_KEY
#: A signature line: in the label itself (业主签字), or in brackets after it (乙方（签章）).
_SIGNATURE_LABEL = re.compile(r"签字|签名|签章|盖章|签收")
_SIGNATURE_NOTE = re.compile(r"签|章|印")
_NOT_NAMES = frozenset({
    "业主", "住户", "先生", "女士", "客户", "用户", "您好", "本人", "同意", "签字", "签名", "盖章", "日期",
    "姓名", "无", "男", "女", "甲方", "乙方", "丙方", "双方", "各位", "全体", "物业", "承诺", "申请",
    "小姐", "待定", "暂无", "不详", "同上", "见附件", "本人签字",
})

# Confidence factors: how the value was found.
_F_COLON, _F_PLAIN, _F_NEAR, _F_SIGNATURE, _F_PATTERN, _F_INVALID = 1.0, 0.95, 0.85, 0.75, 0.6, 0.5

# ========================================================================== rows


@dataclass(frozen=True)
class Cell:
    """One OCR word (detector box) inside a row; ``start``/``end`` are offsets in the row text."""

    text: str
    start: int
    end: int
    x0: float
    x1: float
    conf: float
    #: Per-character confidences of ``text`` (empty when the engine gave none).
    chars: tuple[float, ...] = ()
    y0: float = 0.0
    y1: float = 0.0


@dataclass(frozen=True)
class Row:
    """Boxes on one printed row, left to right, joined by tabs."""

    page: int
    text: str
    cells: tuple[Cell, ...]
    top: float
    bottom: float

    def x_at(self, offset: int) -> float:
        """Approximate page x of the character at ``offset``."""
        for cell in self.cells:
            if cell.start <= offset <= cell.end:
                frac = (offset - cell.start) / max(1, cell.end - cell.start)
                return cell.x0 + frac * (cell.x1 - cell.x0)
        return self.cells[-1].x1 if offset > 0 else self.cells[0].x0

    def conf(self, start: int, end: int) -> float:
        """Lowest OCR confidence over the characters of ``text[start:end]`` that carry meaning.

        Character confidences are used where the engine gave them (a single
        doubtful digit shows there, not in the mean of its box); punctuation and
        spaces do not count.
        """
        confs: list[float] = []
        for c in self.cells:
            if not (c.start < end and start < c.end):
                continue
            if not c.chars:
                confs.append(c.conf)
                continue
            lo, hi = max(start, c.start) - c.start, min(end, c.end) - c.start
            confs += [p for ch, p in zip(c.text[lo:hi], c.chars[lo:hi], strict=False) if ch.isalnum()]
        if confs:
            return min(confs)
        covered = [c.conf for c in self.cells if c.start < end and start < c.end]
        return min(covered) if covered else min(c.conf for c in self.cells)

    def box(self, start: int, end: int) -> tuple[int, int, int, int]:
        """Page box of ``text[start:end]`` (character positions interpolated inside a word)."""
        x0, x1 = self.x_at(start), self.x_at(max(start, end))
        covered = [c for c in self.cells if c.start < end and start < c.end] or list(self.cells)
        y0 = min(c.y0 for c in covered) if covered[0].y1 else self.top
        y1 = max(c.y1 for c in covered) if covered[0].y1 else self.bottom
        return round(min(x0, x1)), round(y0), round(max(x0, x1)), round(y1)

    @property
    def height(self) -> float:
        """Row height in pixels."""
        return max(1.0, self.bottom - self.top)


def clean_text(text: str) -> str:
    """NFKC-fold an OCR line and collapse runs of spaces."""
    text = unicodedata.normalize("NFKC", text.replace("㎡", "平方米"))
    return re.sub(r"\s+", " ", text).strip()


def build_rows(pages: Sequence[OcrPage]) -> list[Row]:
    """Group every page's OCR lines into rows (same vertical band), top to bottom."""
    rows: list[Row] = []
    for page in pages:
        lines = sorted((ln for ln in page.lines if clean_text(ln.text)), key=_y_center)
        band: list[OcrLine] = []
        for line in lines:
            if band and not _same_row(band, line):
                rows.append(_make_row(page.index, band))
                band = []
            band.append(line)
        if band:
            rows.append(_make_row(page.index, band))
    return rows


def _y_center(line: OcrLine) -> float:
    """Vertical centre of a box."""
    return (line.box[1] + line.box[3]) / 2


def _same_row(band: list[OcrLine], line: OcrLine) -> bool:
    """Whether ``line`` sits on the row formed by ``band`` (centres within half a line height)."""
    top = sum(ln.box[1] for ln in band) / len(band)
    bottom = sum(ln.box[3] for ln in band) / len(band)
    height = min(bottom - top, line.box[3] - line.box[1])
    return abs(_y_center(line) - (top + bottom) / 2) <= max(1.0, 0.5 * height)


def _make_row(page: int, band: list[OcrLine]) -> Row:
    """Join a band's words left to right into one row (cells separated by tabs)."""
    cells: list[Cell] = []
    text = ""
    for line in sorted(band, key=lambda ln: ln.box[0]):
        for word in line.words or (OcrWord(text=line.text, box=line.box, confidence=line.confidence),):
            piece = clean_text(word.text)
            if not piece:
                continue
            if text:
                text += "\t"
            start = len(text)
            chars = word.chars if len(word.chars) == len(piece) else ()
            cells.append(Cell(piece, start, start + len(piece), word.box[0], word.box[2], word.confidence,
                              chars, word.box[1], word.box[3]))
            text += piece
    return Row(page, text, tuple(cells), min(ln.box[1] for ln in band), max(ln.box[3] for ln in band))


# ======================================================================== labels


@dataclass(frozen=True)
class Hit:
    """A label found on a row."""

    row: int
    start: int
    end: int
    value_start: int
    key: str
    text: str
    colon: bool
    signature: bool
    context: str | None = None
    value_end: int = 0
    last: bool = False


_CJK = re.compile(r"[\u3400-\u9fff]")


def _label_regex(texts: Sequence[str]) -> re.Pattern[str]:
    """One alternation of all labels, longest first, allowing spaces between characters."""
    ordered = sorted(texts, key=len, reverse=True)
    return re.compile("|".join(r"\s*".join(re.escape(ch) for ch in t) for t in ordered))


_FUZZY_MIN = 3


def _wildcard_keys(texts: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each label of 3+ characters under every key with one character blanked ("业主?名")."""
    keys: dict[str, list[str]] = {}
    for t in sorted(texts):
        for i in range(len(t) if len(t) >= _FUZZY_MIN else 0):
            keys.setdefault(t[:i] + "\0" + t[i + 1:], []).append(t)
    return {k: tuple(v) for k, v in keys.items()}


_LABEL_RE = _label_regex(list(LABELS))
_WILDCARD_KEYS = _wildcard_keys(list(LABELS))
_FUZZY_MAX = max(len(t) for t in LABELS)
#: Where a misread label may end: before a colon, a bracket or a gap.
_LABEL_END = re.compile(r"(?<=\S)(?=\s*[:;(]|[ \t])")
_AFTER_LABEL = re.compile(r"\s*(?:\(([^()]{1,12})\))?\s*([:;.])?\s*")


def find_hits(rows: Sequence[Row]) -> list[Hit]:
    """All label occurrences in document order, each with its context and value span."""
    hits: list[Hit] = []
    context: str | None = None
    before: str | None = None  # the context to return to after a row-scoped one
    row_scoped = False
    for i, row in enumerate(rows):
        if context in _ROW_SCOPED and row_scoped:
            context = before
        row_scoped = False
        row_hits = _row_hits(i, row, _seam_prefix(rows, i))
        for k, hit in enumerate(row_hits):
            end = row_hits[k + 1].start if k + 1 < len(row_hits) else len(row.text)
            opens, own = _context_of(hit)
            if opens and own != context:
                if own in _ROW_SCOPED:
                    before = context if context not in _ROW_SCOPED else before
                    # "紧急联系人：王凯 电话：…" holds for its row; a label alone heads a block of rows
                    row_scoped = _blank_free(row.text[hit.value_start:end])
                context = own
            hits.append(replace(hit, context=context, value_end=max(hit.value_start, end),
                                last=k + 1 == len(row_hits)))
    return hits


#: Contexts opened by a label with its value on the same row that end with the row (the emergency contact
#: and their phone share a row; the owner's mobile on the next row is the owner's again).
_ROW_SCOPED = frozenset({"emergency"})


def _context_of(hit: Hit) -> tuple[bool, str | None]:
    """Whether a label opens a context (a party, the owner, the emergency contact), and which."""
    if hit.key.startswith("party:"):
        return True, hit.key.split(":", 1)[1]
    if hit.key in _CONTEXT_OF_KEY:
        return True, _CONTEXT_OF_KEY[hit.key]
    return False, None


_SEAM = 6


def _seam_prefix(rows: Sequence[Row], i: int) -> str:
    """Return the end of the row above when it runs on into row ``i`` (wrapped mid-label)."""
    if i == 0:
        return ""
    prev, row = rows[i - 1], rows[i]
    if prev.page != row.page or row.top - prev.bottom > 1.5 * row.height or not _CJK.match(prev.text[-1]):
        return ""
    return prev.text[-_SEAM:]


def _row_hits(index: int, row: Row, prefix: str = "") -> list[Hit]:
    """Find the accepted labels of one row, left to right, without overlaps.

    ``prefix`` is the end of the row above: a label split by a line break
    ("总" / "价款为...") becomes a hit at the start of this row.
    """
    hits: list[Hit] = []
    text = prefix + row.text
    pos = 0
    while True:
        m = _LABEL_RE.search(text, pos)
        if not m:
            return _with_fuzzy_hits(index, row.text, hits)
        label_text = re.sub(r"\s+", "", m.group(0))
        hit = _accept(index, text, m.span(), label_text, len(prefix)) if m.end() > len(prefix) else None
        if hit is None:
            pos = m.start() + 1
            continue
        shift = len(prefix)
        hits.append(replace(hit, start=max(0, hit.start - shift), end=hit.end - shift,
                            value_start=hit.value_start - shift))
        pos = hit.value_start if hit.value_start > m.start() else m.end()


def _with_fuzzy_hits(index: int, text: str, exact: list[Hit]) -> list[Hit]:
    """Add labels with one misread character ("业主娃名："); they replace exact labels inside them."""
    hits = list(exact)
    for m in _LABEL_END.finditer(text):
        found = _misread_label(text, m.start())
        if found is None:
            continue
        start, label_text = found
        end = m.start()
        # an exact label glued to the text before it ("联大电话") may be part of a misread longer one
        inside = [h for h in hits if start < h.start and h.end <= end and _CJK.match(text[h.start - 1])]
        if any(h.start < end and start < h.value_start for h in hits if h not in inside):
            continue
        hit = _accept(index, text, (start, end), label_text)
        if hit is None or (start and _CJK.match(text[start - 1])):
            continue
        if not hit.colon and (len(label_text) < 4 or LABELS[label_text].weak):
            continue
        hits = [h for h in hits if h not in inside] + [hit]
    return sorted(hits, key=lambda h: h.start)


_NOT_IN_LABEL = re.compile(r"[\d:;.,，。、()]")


def _misread_label(text: str, end: int) -> tuple[int, str] | None:
    """The longest label ending at ``end`` with exactly one character misread: (start, label)."""
    positions = [i for i in range(max(0, end - 2 * _FUZZY_MAX), end) if not text[i].isspace()]
    positions = [i for i in positions if "\t" not in text[i:end]][-_FUZZY_MAX:]
    seen = "".join(text[i] for i in positions)
    for n in range(len(seen), _FUZZY_MIN - 1, -1):
        window = seen[-n:]
        if window in LABELS or _NOT_IN_LABEL.search(window):
            return None
        labels = {t for i in range(n) for t in _WILDCARD_KEYS.get(window[:i] + "\0" + window[i + 1:], ())}
        if len({LABELS[t].key for t in labels}) == 1:
            return positions[-n], min(labels)
        if labels:
            return None  # "承X人" could be 承租人 or 承诺人: leave it
    return None




def _accept(index: int, text: str, span: tuple[int, int], label_text: str, floor: int = 0) -> Hit | None:
    """Turn a label found at ``span`` into a hit when it really is a label where it stands."""
    start, end = span
    label = LABELS[label_text]
    after = _AFTER_LABEL.match(text, end)
    assert after is not None  # the pattern matches the empty string
    paren, colon = after.group(1), after.group(2)
    if label.not_before and re.match(label.not_before, text[end:]):
        return None
    before = text[start - 1] if start and start != floor else ""
    boundary_before = not before or not (before.isalnum() or _CJK.match(before))
    if label.weak and not colon:
        sep_after = after.end() == len(text) or text[end:end + 1] in " \t(" or paren is not None
        if not (boundary_before and sep_after):
            return None
    key = _paren_key(label.key, paren)
    signature = bool(_SIGNATURE_LABEL.search(label_text) or (paren and _SIGNATURE_NOTE.search(paren)))
    return Hit(index, start, end, after.end(), key, label_text, bool(colon), signature)


def _paren_key(key: str, paren: str | None) -> str:
    """``乙方（业主）``, ``丙方（施工单位）``: a role in brackets makes a generic party specific."""
    if not paren or key not in {"party:a", "party:b", "party:c"}:
        return key
    inner = LABELS.get(re.sub(r"\s+", "", paren))
    return inner.key if inner and inner.key not in {"stop", "section"} else key


# ====================================================================== values


@dataclass(frozen=True)
class Piece:
    """Text offered as a field value, with its OCR confidence, how it was found and where."""

    text: str
    conf: float
    factor: float
    page: int | None = None
    box: tuple[int, int, int, int] | None = None


def _union(a: tuple[int, int, int, int] | None, b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return b if a is None else (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


@dataclass
class Doc:
    """Rows and labels of one document, with helpers to read values near a label."""

    rows: list[Row]
    hits: list[Hit]
    #: Table cells of the pages (grid forms) and the words inside them.
    grid: Grid = field(default_factory=Grid)
    #: The OCR pages the rows come from.
    pages: Sequence[OcrPage] = ()
    by_row: dict[int, list[Hit]] = field(default_factory=dict)
    #: Per page: left and right edge of the text.
    edges: dict[int, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for hit in self.hits:
            self.by_row.setdefault(hit.row, []).append(hit)
        for row in self.rows:
            lo, hi = self.edges.get(row.page, (row.cells[0].x0, row.cells[-1].x1))
            self.edges[row.page] = (min(lo, row.cells[0].x0), max(hi, row.cells[-1].x1))

    def wraps(self, hit: Hit) -> bool:
        """Whether the label's value runs into a wrapped line of running text (prose, not a form)."""
        row = self.rows[hit.row]
        nxt = self.next_row(hit.row)
        if not hit.last or nxt is None or nxt.top - row.bottom > 1.2 * row.height:
            return False
        if len(self.by_row.get(hit.row, ())) >= 2 and len(row.cells) >= 2:
            return False  # a header row of labels, not a sentence
        lo, hi = self.edges[row.page]
        a, b = self.lead(hit.row + 1)
        wide = row.cells[-1].x1 - row.cells[0].x0 >= 0.7 * (hi - lo)
        return wide and b > a and bool(_CJK.match(nxt.text[a:a + 1]))

    def next_row(self, i: int) -> Row | None:
        """Return the row after ``i`` when it is on the same page and close below."""
        if i + 1 >= len(self.rows):
            return None
        row, nxt = self.rows[i], self.rows[i + 1]
        if nxt.page != row.page or nxt.top - row.bottom > 2.5 * row.height:
            return None
        return nxt

    def lead(self, i: int) -> tuple[int, int]:
        """Span of row ``i`` before its first label."""
        hits = self.by_row.get(i, [])
        return 0, hits[0].start if hits else len(self.rows[i].text)

    def pieces(self, hit: Hit, *, continuation: bool = False, run_on: bool = True) -> list[Piece]:
        """Candidate values of ``hit``: same row, then next row / cell below (best first).

        ``run_on``: a value may start on the label's row and go on at the start
        of the next (prose); otherwise the next row counts only when the
        label's own row holds nothing after it.
        """
        row = self.rows[hit.row]
        factor = _F_SIGNATURE if hit.signature else (_F_COLON if hit.colon else _F_PLAIN)
        in_grid = self._grid_value(hit)
        if in_grid is not None:  # a form's table says where the value is (an empty cell: no value)
            return [in_grid] if in_grid.text else []
        same = row.text[hit.value_start:hit.value_end]
        if (hit.colon and _UNKNOWN_LABEL.match(same)) or _LABEL_SHAPED.fullmatch(same.strip(" \t:")):
            same = ""  # "姓名：  班别：", "业主姓名 | 确认日期": blank value, then a label we do not know
        here = row.box(hit.value_start, hit.value_end)
        out = [Piece(same, row.conf(hit.value_start, hit.value_end), factor, row.page, here)] \
            if _blank_free(same) else []
        nxt = self.next_row(hit.row)
        if nxt is None:
            return out
        if not _blank_free(same) and len(self.by_row.get(hit.row, ())) >= 2 and len(row.cells) >= 2:
            below = self._below(hit, row, nxt)  # a header row of labels: values sit under them
            return [below] if below else []
        if hit.last and (run_on or not _blank_free(same)):
            a, b = self.lead(hit.row + 1)
            if b > a:
                conf = min(row.conf(hit.value_start, hit.value_end), nxt.conf(a, b))
                box = _union(here if _blank_free(same) else None, nxt.box(a, b))
                out.append(Piece(same + nxt.text[a:b], conf, min(factor, _F_NEAR), row.page, box))
        if not _blank_free(same):
            below = self._below(hit, row, nxt)
            if below:
                out.append(below)
        if continuation and out:
            out.insert(0, self._continued(hit, out[0]))
        return out

    def _grid_value(self, hit: Hit) -> Piece | None:
        """The value of a label standing alone in a table cell: the cell right of it, else the one below.

        Returns None when the label is not in a table or has its value in its
        own cell, and a piece with empty text when the value cell is empty.
        """
        if not self.grid.cells:
            return None
        row = self.rows[hit.row]
        key = self.grid.cell_of(hit.row, hit.start, [c.start for c in row.cells])
        if key is None or _blank_free(self._cell_text(key, after=(hit.row, hit.value_start))[0]):
            return None
        empty: Piece | None = None
        for neighbour in (self.grid.right_of(key), self.grid.below(key)):
            if neighbour is None:
                continue
            text, conf, page = self._cell_text(neighbour)
            spans = self.grid.spans.get(neighbour, [])
            if (spans and any(h.start == spans[0].start for h in self.by_row.get(spans[0].row, []))) \
                    or _LABEL_SHAPED.fullmatch(text.strip(" \t:")):
                continue  # a label cell (a header row of labels): the value is further on
            if _blank_free(text):
                return Piece(text, conf, _F_COLON, page, self.grid.box(neighbour))
            # an empty cell right of a label: no value, unless the label heads a column with its value below
            empty = empty or Piece("", conf, _F_COLON, page, self.grid.box(neighbour))
        return empty

    def _cell_text(self, key: CellKey, after: tuple[int, int] | None = None) -> tuple[str, float, int]:
        """Text of a table cell (words in reading order, rows joined), its lowest confidence, its page."""
        parts: list[str] = []
        confs: list[float] = []
        for span in self.grid.spans.get(key, []):
            start = span.start
            if after is not None:
                if span.row < after[0] or (span.row == after[0] and span.end <= after[1]):
                    continue
                if span.row == after[0]:
                    start = max(span.start, after[1])
            row = self.rows[span.row]
            parts.append(row.text[start:span.end])
            confs.append(row.conf(start, span.end))
        return "\t".join(parts), min(confs, default=0.0), key[0]

    def _below(self, hit: Hit, row: Row, nxt: Row) -> Piece | None:
        """Return the cell under a label whose own value is blank (a header row of labels).

        Each cell of the next row belongs to the header cell it lies closest to
        (overlap first, then the gap between them): header labels are centred over
        their columns while handwritten values may start at the column's left edge.
        The label's value is the first cell that belongs to the label's own cell.
        """
        own = next((c for c in row.cells if c.start <= hit.start < c.end), None)
        if own is None:
            return None
        lead_end = self.lead(hit.row + 1)[1]
        for cell in nxt.cells:
            if cell.start >= lead_end:
                continue
            if min(row.cells, key=lambda h: _column_distance(h, cell)) is own:
                return Piece(nxt.text[cell.start:cell.end], nxt.conf(cell.start, cell.end), _F_NEAR, nxt.page,
                             nxt.box(cell.start, cell.end))
        return None

    def _continued(self, hit: Hit, first: Piece) -> Piece:
        """Extend a value over following rows aligned with it (wrapped addresses)."""
        text, conf, box = first.text, first.conf, first.box
        x_value = self.rows[hit.row].x_at(hit.value_start)
        i = hit.row
        for _ in range(3):
            nxt = self.next_row(i)
            if nxt is None or (i + 1) in self.by_row or id_tokens(nxt.text):
                break
            if nxt.cells[0].x0 < x_value - 2 * nxt.height:
                break
            text += nxt.text
            conf = min(conf, nxt.conf(0, len(nxt.text)))
            box = _union(box, nxt.box(0, len(nxt.text)))
            i += 1
        return Piece(text, conf, first.factor, first.page, box)


def _column_distance(header: Cell, cell: Cell) -> tuple[float, float]:
    """How far a cell lies from a header cell's column: the gap, then the distance of the centres."""
    gap = max(0.0, max(header.x0, cell.x0) - min(header.x1, cell.x1))
    return gap, abs((header.x0 + header.x1) - (cell.x0 + cell.x1)) / 2


#: Text shaped like a form label this module does not know ("确认日期", "抄表人"), standing as a whole cell.
_LABEL_SHAPED = re.compile(r"[\u3400-\u9fff]{0,5}(?:日期|时间|签字|签名|电话|号码|地址|编号|底数|读数|情况|意见|关系"
                           r"|负责人|经办人|代表人|接待人|抄表人|审核人|审批人|联系人|代理人|委托人|受托人|签收人"
                           r"|见证人)")

#: A label this module does not know, at the start of a value: "班别：".
_UNKNOWN_LABEL = re.compile(r"\s*[\u3400-\u9fff]{2,6}\s*[：:]")


def _blank_free(text: str) -> bool:
    """Whether ``text`` holds something besides blanks, underscores and punctuation."""
    return bool(re.sub(r"[\s_\-—–一…·.,:;()/|~、。，：；]+", "", text)) and not re.fullmatch(
        r"[\s_\-—–一…·.,:;()/|~、。，：；]*一[\s_\-—–一…·.,:;()/|~、。，：；]*", text
    )


# ===================================================================== parsers


@dataclass(frozen=True)
class Parsed:
    """A parsed field value; ``issue`` set when it is kept but invalid."""

    value: str
    issue: str | None = None


# Chinese names; minority names with a middle dot; Latin names only as two or more real words
# ("John Smith", "JOHN SMITH"), since OCR turns smudges into short Latin strings.
_NAME = re.compile(
    r"[\u3400-\u9fff]{2,4}|[\u3400-\u9fff]{1,6}[·•.][\u3400-\u9fff]{1,8}"
    r"|[A-Z][a-z]+(?: [A-Z][a-z]+)+|[A-Z]{3,}(?: [A-Z]{3,})+"
)
_ORG_SUFFIX = re.compile(r"(公司|中心|局|所|厂|店|部|院|会|社|行|处|队|集团|工作室|事务所|委员会)$")
_HONORIFIC = re.compile(r"(先生/女士|先生|女士|小姐|同志|老师|业主|阁下)$")
_EDGE_PUNCT = " \t\n_:;.,，。；：、·•!！?？\"'“”‘’《》<>|/\\-—"


def _squeeze(text: str) -> str:
    """Remove bracketed asides, spaces next to CJK characters and edge punctuation."""
    text = re.sub(r"\([^()]*\)", "", text)
    text = re.sub(r"(?<=[\u3400-\u9fff])\s+|\s+(?=[\u3400-\u9fff])", "", text)
    return text.strip(_EDGE_PUNCT)


def _first_word(text: str) -> str:
    """Return the text before the first space when little follows it (a name, then a mark)."""
    head, _, rest = text.strip().partition(" ")
    return head if len(_squeeze(rest)) <= 3 else ""


def parse_name(text: str) -> Parsed | None:
    """Read a person's name filling the whole value (honorifics and bracketed notes removed)."""
    for chunk in (text, text.split("\t")[0], _first_word(text)):
        name = _squeeze(chunk)
        name = _HONORIFIC.sub("", name).strip(_EDGE_PUNCT)
        if _NAME.fullmatch(name) and name not in _NOT_NAMES:
            return Parsed(name)
    return None


def parse_party(text: str) -> Parsed | None:
    """Read an organisation's name (公司, 中心, 局 ...) or a person's name."""
    for chunk in (text, text.split("\t")[0]):
        org = _squeeze(chunk.replace("\t", ""))
        if 4 <= len(org) <= 40 and _ORG_SUFFIX.search(org) and not re.search(r"[，。；:;,]", org):
            return Parsed(org)
    return parse_name(text)


_ID_LOOSE = re.compile(r"(?<![0-9])\d{15,19}[Xx]?(?![0-9])")


_ALNUM_RUN = re.compile(r"[0-9A-Za-z|×]+(?:[ \t][0-9A-Za-z|×]+)*")


def id_tokens(text: str) -> list[str]:
    """Find ID numbers (normalised) in ``text``; a number printed in space-separated groups counts."""
    found = []
    for run in _ALNUM_RUN.finditer(unicodedata.normalize("NFKC", text)):
        words = run.group(0).split()
        joined = "".join(words)
        for candidate in ([joined] if len(joined) == 18 else []) + [w for w in words if len(w) == 18]:
            value = normalize_id_number(candidate)
            if value and sum(ch.isdigit() for ch in candidate) >= 14 and value not in found:
                found.append(value)
    return found


def parse_id(text: str) -> Parsed | None:
    """Read an ID number; a near miss (wrong length) is kept and flagged."""
    text = re.sub(r"(?<=\d)[.,·:'`](?=\d)", "", text)  # specks read between the digits of a box row
    tokens = id_tokens(text)
    if tokens:
        valid = [t for t in tokens if not check_id_number(t)]
        value = (valid or tokens)[0]
        issues = check_id_number(value)
        return Parsed(value, "; ".join(issues) if issues else None)
    loose = _ID_LOOSE.search(re.sub(r"\s", "", fix_digit_runs(text)))
    if loose:
        return Parsed(loose.group(0).upper(), "ID number must be 17 digits and a digit or X")
    return None


def parse_phone(text: str) -> Parsed | None:
    """Read a mobile or landline number (specks read between its digits are dropped)."""
    value = normalize_phone(re.sub(r"(?<=\d)[.,·'`](?=\d)", "", text))
    return Parsed(value) if value else None


_DATE_LIKE = re.compile(r"(\d{4})\s*[年./\-]\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})")


def parse_date(text: str) -> Parsed | None:
    """Read a date as YYYY-MM-DD; an impossible printed date is kept and flagged."""
    value = normalize_date(text)
    if value:
        return Parsed(value)
    m = _DATE_LIKE.search(fix_digit_runs(unicodedata.normalize("NFKC", text)))
    if m:
        raw = f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
        return Parsed(raw, "date does not exist")
    return None


def parse_range_start(text: str) -> Parsed | None:
    """Read the first date of a period printed with two dates."""
    dates = find_dates(text)
    if len(dates) < 2:
        return None
    return Parsed(dates[0], None if dates[0] <= dates[1] else "period ends before it starts")


def parse_range_end(text: str) -> Parsed | None:
    """Read the second date of a period printed with two dates."""
    dates = find_dates(text)
    if len(dates) < 2:
        return None
    return Parsed(dates[1], None if dates[0] <= dates[1] else "period ends before it starts")


_NUMBER_START = re.compile(r"[0-9OoIlSB¥￥零壹贰叁肆伍陆柒捌玖一二三四五六七八九十]")


def parse_decimal(text: str) -> Parsed | None:
    """Read a money amount or area as a plain decimal string starting right after its label."""
    head = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    m = _NUMBER_START.search(head)
    if m is None or m.start() > 10:
        return None  # "面积发生误差的...3%": prose, not this label's value
    value = normalize_decimal(text)
    return Parsed(value) if value else None


def parse_meter(text: str) -> Parsed | None:
    """Read a meter reading: the first number that is not a long serial number (表号)."""
    for chunk in re.split(r"[\t ]+(?=\S*\d)", text):
        if re.fullmatch(r"\d{7,}", fix_digit_runs(chunk.strip())):
            continue
        value = normalize_decimal(chunk)
        if value:
            return Parsed(value)
    return None


def parse_sex(text: str) -> Parsed | None:
    """Read 男 or 女 (a ticked box counts)."""
    value = normalize_sex(_squeeze(text)[:8])
    return Parsed(value) if value else None


def parse_ethnicity(text: str) -> Parsed | None:
    """Read an ethnic group (one of the 56) without the trailing 族."""
    value = normalize_ethnicity(_squeeze(text.split("\t")[0])[:6])
    return Parsed(value) if value else None


def parse_address(text: str) -> Parsed | None:
    """Read free text of at least five characters holding Chinese text (an address).

    A few stray marks after the final 号 / 室 / 房 (a table rule read as ``|``) are dropped.
    """
    value = fix_digit_runs(_squeeze(text.replace("\t", "")))
    value = re.sub(r"(?<=[号室房])[^\u3400-\u9fff]{1,5}$", "", value)
    return Parsed(value) if len(value) >= 5 and _CJK.search(value) else None


def parse_text(text: str) -> Parsed | None:
    """Read a short free-text value (an issuing authority)."""
    value = _squeeze(text.replace("\t", " ")).replace(" ", "")
    return Parsed(value) if 2 <= len(value) <= 40 and _CJK.search(value) else None


def parse_code(text: str) -> Parsed | None:
    """Read a contract number: letters, digits and dashes."""
    value = unicodedata.normalize("NFKC", text)
    value = re.sub(r"[—–一－‐]", "-", value)
    for _ in range(3):  # letters read for digits between digits (2O19), or O/I ending a number
        value = re.sub(r"(?<=\d)[OoDQIl|ZSBG](?=\d)|(?<=\d{3})[OoIl|](?![0-9A-Za-z])",
                       lambda m: DIGIT_CONFUSIONS[m.group(0)], value)
    value = re.sub(r"^\s*(?:No|NO|no)\s*[.:]?\s*", "", value.strip(_EDGE_PUNCT))
    value = re.sub(r"(?<=[0-9A-Za-z-])\s+(?=[0-9A-Za-z-])", "", value)
    m = re.match(r"[A-Za-z0-9][A-Za-z0-9\-/]{3,39}", value)
    return Parsed(m.group(0)) if m and any(ch.isdigit() for ch in m.group(0)) else None


def parse_amount_words(text: str) -> Parsed | None:
    """Read the amount in financial capitals (大写) printed with a sum of money."""
    value = amount_in_words(text)
    return Parsed(value) if value else None


PARSERS: dict[str, Callable[[str], Parsed | None]] = {
    "name": parse_name, "party": parse_party, "id": parse_id, "phone": parse_phone, "date": parse_date,
    "range_start": parse_range_start, "range_end": parse_range_end, "decimal": parse_decimal,
    "meter": parse_meter, "sex": parse_sex, "ethnicity": parse_ethnicity, "address": parse_address,
    "text": parse_text, "code": parse_code, "amount_words": parse_amount_words,
    "name_before": parse_name,
}
_CONTINUED_KINDS = frozenset({"address", "text"})
#: Kinds whose value may start at the end of the label's row and go on in the next row.
_RUN_ON_KINDS = frozenset({"date", "range_start", "range_end", "decimal", "meter", "address", "text"})


# ================================================================== resolution


@dataclass(frozen=True)
class Found:
    """A candidate value of one field, with where it was read."""

    parsed: Parsed
    conf: float
    rank: tuple[int, ...]
    page: int | None = None
    box: tuple[int, int, int, int] | None = None
    #: OCR confidence of the value's characters, and how it was found (a label with a colon: 1.0 ...).
    ocr: float = 1.0
    how: float = 1.0
    #: Other values the document offered for the same field (ambiguity).
    rivals: int = 0
    #: How the value was parsed (re-reads parse a crop the same way).
    parse: str = ""


def _hit_value(doc: Doc, hit: Hit, kind: str) -> tuple[Parsed, Piece] | None:
    """Parse the best candidate text near ``hit`` as ``kind``."""
    if kind == "name_before":  # "李倩 先生/女士：": the name stands before the salutation
        return _name_before(doc, hit)
    parser = PARSERS[kind]
    run_on = kind in _RUN_ON_KINDS
    if not run_on and doc.wraps(hit):
        return None  # "...保障业主生命财" / "产安全": a name cut out of a sentence
    for piece in doc.pieces(hit, continuation=kind in _CONTINUED_KINDS, run_on=run_on):
        text = piece.text
        if kind == "meter":
            text = _meter_column(doc, hit) or text
        parsed = parser(text)
        if parsed:
            return parsed, piece
    return None


def _name_before(doc: Doc, hit: Hit) -> tuple[Parsed, Piece] | None:
    """The name written just before a salutation (``李倩 先生/女士：``), after any label before it."""
    row = doc.rows[hit.row]
    start = max((h.value_end for h in doc.by_row.get(hit.row, []) if h.end <= hit.start), default=0)
    text = row.text[start:hit.start]
    parsed = parse_name(text.split("\t")[-1] if "\t" in text.strip() else text)
    if parsed is None:
        return None
    return parsed, Piece(text, row.conf(start, hit.start), _F_PLAIN, row.page, row.box(start, hit.start))


_METER_HEADER = re.compile(r"(?:本期|起始|初始|表)?(?:底数|读数|示数|起数|行度)(?:\(.*\))?")


def _meter_column(doc: Doc, hit: Hit) -> str | None:
    """In a meter table, return this row's value under the 底数 / 读数 column header."""
    row = doc.rows[hit.row]
    for back in range(1, 6):
        i = hit.row - back
        if i < 0 or doc.rows[i].page != row.page:
            return None
        above = doc.rows[i]
        header = next((c for c in above.cells if _METER_HEADER.fullmatch(c.text.replace(" ", ""))), None)
        if header is not None and len(above.cells) > 1:
            for cell in row.cells:
                inside = hit.value_start <= cell.start < hit.value_end
                if inside and min(cell.x1, header.x1) - max(cell.x0, header.x0) > 0:
                    return cell.text
            return None
        tokens = above.text.split()
        column = next((k for k, t in enumerate(tokens) if _METER_HEADER.fullmatch(t)), None)
        if column is not None:
            # One box per row (engines join a row's pieces with spaces): match columns by position.
            values = row.text[hit.start:].split()
            return values[column] if len(values) == len(tokens) else None
    return None


def unread_place(doc: Doc, rule: FieldSpec) -> Unread | None:
    """Where the first labelled value of ``rule`` stands when none could be parsed (to be read again)."""
    for source in rule.sources:
        for hit in doc.hits:
            if hit.key != source.key or (source.contexts is not None and hit.context not in source.contexts):
                continue
            for piece in doc.pieces(hit, run_on=False)[:1]:
                if piece.box is not None and piece.page is not None and _blank_free(piece.text):
                    return Unread(page=piece.page, box=piece.box, parse=source.parse)
    return None


def _resolve(doc: Doc, rule: FieldSpec) -> Found | None:
    """Pick the best value for ``rule``.

    Valid before invalid, then values on the label's row before values below
    it, labels with a colon before weak labels without one, printed values
    before signature lines, better source, document order.
    """
    found: list[Found] = []
    for s_index, source in enumerate(rule.sources):
        for order, hit in enumerate(doc.hits):
            if hit.key != source.key or (source.contexts is not None and hit.context not in source.contexts):
                continue
            got = _hit_value(doc, hit, source.parse)
            if got:
                parsed, piece = got
                loose = LABELS[hit.text].weak and not hit.colon
                far = piece.factor <= _F_NEAR
                rank = (parsed.issue is not None, far, loose, hit.signature, s_index, order)
                found.append(Found(parsed, piece.conf * piece.factor, rank, piece.page, piece.box,
                                   ocr=piece.conf, how=piece.factor, parse=source.parse))
    if not found:
        return None
    best = min(found, key=lambda f: f.rank)
    rivals = {f.parsed.value for f in found if f.parsed.issue is None} - {best.parsed.value}
    return replace(best, rivals=len(rivals))


def _field_value(name: str, found: Found, line_height: float = 0.0) -> FieldValue:
    """Wrap a resolved value, flagging invalid ones."""
    valid = found.parsed.issue is None
    conf = found.conf * (1.0 if valid else _F_INVALID)
    evidence = {"ocr": round(found.ocr, 4), "how": found.how, "rivals": float(found.rivals),
                "line_height": round(line_height, 1)}
    return FieldValue(name=name, value=found.parsed.value, confidence=round(max(0.0, min(1.0, conf)), 3),
                      valid=valid, issue=found.parsed.issue, page=found.page, box=found.box, evidence=evidence,
                      read_as=found.parse or None)


# --------------------------------------------------------------- fallbacks


def _context_at(doc: Doc, row: int) -> str | None:
    """Context in force at the start of ``row``."""
    context = None
    for hit in doc.hits:
        if hit.row >= row:
            break
        context = hit.context
    return context


def _id_fallback(doc: Doc, rule: FieldSpec) -> Found | None:
    """Find an ID-like token anywhere, in an allowed context; valid ones first."""
    contexts = rule.sources[0].contexts
    found: list[Found] = []
    for i, row in enumerate(doc.rows):
        context = _context_at(doc, i) if contexts is not None else None
        if contexts is not None and context not in contexts:
            row_hits = doc.by_row.get(i, [])
            if not any(h.context in contexts for h in row_hits):
                continue
        for token in id_tokens(row.text):
            issues = check_id_number(token)
            parsed = Parsed(token, "; ".join(issues) if issues else None)
            conf = row.conf(0, len(row.text)) * _F_PATTERN
            found.append(Found(parsed, conf, (bool(issues), 1, 0, i), row.page, row.box(0, len(row.text)),
                               ocr=conf / _F_PATTERN, how=_F_PATTERN, parse="id"))
    return min(found, key=lambda f: f.rank) if found else None


_UNIT_CUES = re.compile(r"位于|坐落|座落|房号|房屋|购买|所购|出租|业主|系|的")
_ROOM_LABELS = frozenset({"房号", "房间号", "室号", "房间", "装修房号", "单元房号"})
_BARE_UNIT = re.compile(r"^(?:第)?([A-Za-z]?\d{1,5}[A-Za-z]?|[A-Za-z]|[零〇一二三四五六七八九十百两]{1,4})"
                        r"(?:号楼|栋|幢|座|号|单元|室|房|#)?$")


def _bare_unit_token(text: str) -> str | None:
    """Read a bare building / unit / room value such as ``3``, ``A``, ``1201``, ``三``."""
    value = _squeeze(fix_digit_runs(text.split("\t")[0]))
    m = _BARE_UNIT.match(value)
    if not m:
        return None
    token = m.group(1)
    if token.isascii():
        return token.upper()
    number = cn_numeral_to_int(token)
    return str(number) if number is not None else None


UnitPart = Piece
"""One of building / unit / room: its text is the value."""


def _unit_fields(doc: Doc) -> dict[str, UnitPart]:
    """Find building / unit / room as (value, OCR confidence, factor), from labels then prose."""
    full, single = _labelled_unit(doc)
    result = dict(full)
    for name, part in single.items():
        result.setdefault(name, part)
    if len(result) < 3:
        for name, part in _unit_prose(doc).items():
            result.setdefault(name, part)
    return result


def _labelled_unit(doc: Doc) -> tuple[dict[str, UnitPart], dict[str, UnitPart]]:
    """The first complete unit reference after a label, and single parts from labels."""
    full: dict[str, UnitPart] = {}
    single: dict[str, UnitPart] = {}
    for hit in doc.hits:
        if hit.key not in {"location", "building", "unit", "room", "unit_room"}:
            continue
        if hit.key == "unit_room":
            for piece in doc.pieces(hit):
                pair = _unit_room_pair(piece.text)
                if pair:
                    for name, value in zip(("unit", "room"), pair, strict=True):
                        single.setdefault(name, UnitPart(value, piece.conf, piece.factor, piece.page, piece.box))
                    break
            continue
        for piece in doc.pieces(hit):
            conf, factor, where = piece.conf, piece.factor, (piece.page, piece.box)
            parts = parse_unit_parts(piece.text) if hit.key == "location" else {}
            if len(parts) == 3:
                full = full or {name: UnitPart(value, conf, factor, *where) for name, value in parts.items()}
                break
            bare = _bare_unit_token(piece.text)
            key = hit.key if hit.key != "location" else ("room" if hit.text in _ROOM_LABELS else "")
            if bare and key:
                single.setdefault(key, UnitPart(bare, conf, factor, *where))
                break
            for name, value in parts.items():
                single.setdefault(name, UnitPart(value, conf, factor * 0.9, *where))
    return full, single


def _unit_room_pair(text: str) -> tuple[str, str] | None:
    """Read a value printed under 单元-房号: ``4-3103`` or ``4单元3103``."""
    parts = parse_unit_parts(text)
    if "unit" in parts and "room" in parts:
        return parts["unit"], parts["room"]
    m = re.fullmatch(r"\s*([A-Za-z]|\d{1,2})\s*[-—–一/]\s*([A-Za-z]?\d{2,5}[A-Za-z]?)\s*", fix_digit_runs(text))
    return (m.group(1).upper(), m.group(2).upper()) if m else None


def _unit_prose(doc: Doc) -> dict[str, UnitPart]:
    """Find a complete unit reference in running text (not in addresses); cue words first."""
    best: tuple[int, int, dict[str, str], float, tuple[int, int]] | None = None
    for i, row in enumerate(doc.rows):
        for start, end in _free_spans(doc, i):
            text = row.text[start:end]
            parts = parse_unit_parts(text, dashed=False)
            if len(parts) != 3:
                continue
            rank = 0 if _UNIT_CUES.search(text) else 1
            if best is None or (rank, i) < best[:2]:
                best = (rank, i, parts, row.conf(start, end), (start, end))
    if best is None:
        return {}
    row = doc.rows[best[1]]
    box = row.box(*best[4])
    return {k: UnitPart(v, best[3], _F_PATTERN, row.page, box) for k, v in best[2].items()}


def _free_spans(doc: Doc, i: int) -> list[tuple[int, int]]:
    """Parts of row ``i`` that are not the value of an address-like label."""
    spans, pos = [], 0
    for hit in doc.by_row.get(i, []):
        if hit.key == "address":
            spans.append((pos, hit.start))
            pos = hit.value_end
    spans.append((pos, len(doc.rows[i].text)))
    return [(a, b) for a, b in spans if b > a]


def _standalone_date(doc: Doc) -> Found | None:
    """Find the date under a letter's signature: the last row that is a date, or ends with one."""
    ending: Found | None = None
    for i in range(len(doc.rows) - 1, -1, -1):
        row = doc.rows[i]
        compact = re.sub(r"\s", "", row.text)
        dates = find_dates(compact)
        if not dates:
            continue
        conf = row.conf(0, len(row.text))
        where = row.page, row.box(0, len(row.text))
        if len(compact) <= 14:
            return Found(Parsed(dates[-1]), conf * _F_NEAR, (0,), *where, ocr=conf, how=_F_NEAR, parse="date")
        tail = re.search(r"[\d日]$", compact) and not re.search(r"[，。,;；]", compact)
        if ending is None and tail and normalize_date(compact[-12:]) == dates[-1]:
            ending = Found(Parsed(dates[-1]), conf * _F_PATTERN, (1,), *where, ocr=conf, how=_F_PATTERN,
                           parse="date")
    return ending


# ====================================================================== extract


def extract(doc_type: str, pages: Sequence[OcrPage], *, doc_type_confidence: float = 1.0,
            finish: bool = True) -> Extraction:
    """Extract the fields of ``doc_type`` (see its spec in schemas/doctypes/) from OCR ``pages``.

    With ``finish`` the type's rules are applied and confidences settled (see
    :func:`finish_fields`); without, the raw readings come back (the pipeline
    re-reads doubtful ones first).
    """
    spec = spec_of(doc_type)
    rows = build_rows(pages)
    doc = Doc(rows, find_hits(rows), Grid.build(pages, rows), pages)
    fields: dict[str, FieldValue] = {}
    unread: dict[str, Unread] = {}
    for fspec in spec.fields:
        if fspec.kind == "unit_part" or not (fspec.sources or fspec.fallback):
            continue
        found = (_resolve(doc, fspec) if fspec.sources else None) or _fallback(doc, fspec)
        if found:
            fields[fspec.name] = _field_value(fspec.name, found, _line_height(doc, found))
        elif fspec.sources and (place := unread_place(doc, fspec)) is not None:
            unread[fspec.name] = place
    if spec.field_spec("building") is not None:
        for name, part in _unit_fields(doc).items():
            zero = bool(re.fullmatch(r"0+", part.text))  # buildings, units and rooms are counted from 1
            fields[name] = FieldValue(name=name, value=part.text, confidence=round(part.conf * part.factor, 3),
                                      valid=not zero, issue=f"there is no {name} {part.text}" if zero else None,
                                      page=part.page, box=part.box,
                                      evidence={"ocr": round(part.conf, 4), "how": part.factor, "rivals": 0.0})
    seal = seal_field(pages)
    if seal is not None:
        fields[SEAL_FIELD] = seal
    quality = page_quality(pages)
    fields = {name: _with_page_quality(value, quality) for name, value in fields.items()}
    extraction = Extraction(doc_type=spec.name, doc_type_confidence=doc_type_confidence, fields=fields,
                            page_indices=tuple(p.index for p in pages), unread=unread)
    return finish_fields(extraction) if finish else extraction


def page_quality(pages: Sequence[OcrPage]) -> dict[int, float]:
    """Median word confidence of each page: how well the page as a whole was read (fax, faint copy ...)."""
    out = {}
    for page in pages:
        confs = sorted(w.confidence for line in page.lines for w in line.words)
        if confs:
            out[page.index] = confs[len(confs) // 2]
    return out


def _with_page_quality(value: FieldValue, quality: dict[int, float]) -> FieldValue:
    if value.page is None or value.page not in quality:
        return value
    return value.model_copy(update={"evidence": {**(value.evidence or {}), "page": round(quality[value.page], 4)}})


def finish_fields(extraction: Extraction) -> Extraction:
    """Apply the type's rules, settle each field's confidence, keep only export fields in export order."""
    spec = spec_of(extraction.doc_type)
    fields = apply_rules(spec, dict(extraction.fields))
    order = [f.name for f in spec.fields if f.export] + [SEAL_FIELD]
    settled = {name: settle(fields[name], spec) for name in order if name in fields}
    number = settled.get("id_number")
    for name, value in settled.items():  # what follows from the ID number is no surer than the number
        if number is not None and (value.evidence or {}).get("from_id"):
            settled[name] = value.model_copy(update={"confidence": min(value.confidence, number.confidence)})
    return extraction.model_copy(update={"fields": {n: mark_uncertain(v) for n, v in settled.items()}})


def _line_height(doc: Doc, found: Found) -> float:
    """Height of the text the value was read from (re-reads skip values spanning several lines)."""
    if found.box is None:
        return 0.0
    heights = [r.height for r in doc.rows
               if r.page == found.page and r.top <= found.box[3] and found.box[1] <= r.bottom]
    return float(min(heights)) if heights else 0.0


def seal_field(pages: Sequence[OcrPage]) -> FieldValue | None:
    """The text of the document's seal: the name read most often over its pages (best reading first)."""
    seals = [(seal, page.index) for page in pages for seal in page.seals]
    if not seals:
        return None
    votes: dict[str, list[float]] = {}
    for seal, _ in seals:
        votes.setdefault(seal.text, []).append(seal.confidence)
    text = max(votes, key=lambda t: (len(votes[t]), max(votes[t])))
    seal, page = next((s, p) for s, p in seals if s.text == text)
    agreeing = len(votes[text]) / len(seals)
    return FieldValue(name=SEAL_FIELD, value=text, confidence=round(max(votes[text]) * agreeing, 3), page=page,
                      box=seal.box, evidence={"ocr": max(votes[text]), "how": agreeing, "rivals": 0.0})


def settle(value: FieldValue, spec: DocSpec) -> FieldValue:
    """Replace the reading's raw confidence by the calibrated probability that the value is right."""
    if value.evidence is None:
        return value
    fspec = spec.field_spec(value.name)
    kind = "seal" if value.name == SEAL_FIELD else (fspec.kind if fspec else "text")
    p = probability(kind, value.evidence, valid=value.valid, length=len(value.value))
    return value.model_copy(update={"confidence": round(p, 3)})


def mark_uncertain(value: FieldValue) -> FieldValue:
    """Give a valid value below the confidence threshold its issue: a person must check it."""
    if value.valid and value.issue is None and value.confidence < CONFIDENT:
        return value.model_copy(update={"issue": f"uncertain reading (confidence {value.confidence:.2f}); check it"})
    return value


def _fallback(doc: Doc, fspec: FieldSpec) -> Found | None:
    """Pattern fallbacks when no label gave a value."""
    if fspec.fallback == "id_anywhere":
        return _id_fallback(doc, fspec)
    if fspec.fallback == "standalone_date":
        return _standalone_date(doc)
    if fspec.fallback == "overlay":
        return _overlay_text(doc.pages)
    if fspec.fallback == "card":
        read = card_fields(doc.pages).get(fspec.name)
        if read is None:
            return None
        conf = read.line.confidence
        return Found(Parsed(read.value), conf * _F_PATTERN, (1,), read.page, read.line.box, ocr=conf,
                     how=_F_PATTERN, parse=fspec.kind if fspec.kind in PARSERS else "text")
    return None


def _overlay_text(pages: Sequence[OcrPage]) -> Found | None:
    """The line written across a copy (its stated purpose), as read along its slant."""
    for page in pages:
        for word in page.overlays:
            text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", word.text))
            if len(text) >= 4:
                return Found(Parsed(text), word.confidence, (0,), page.index, word.box,
                             ocr=word.min_char_confidence, how=_F_PLAIN, parse="text")
    return None


def apply_rules(spec: DocSpec, fields: dict[str, FieldValue]) -> dict[str, FieldValue]:
    """Run the type's checks (flagging the fields they name) and fill fields derivable from others."""
    out = dict(fields)
    values = {name: f.value for name, f in fields.items() if f.valid}
    for check in spec.checks:
        for name, reason in check(values).items():
            if name in out:
                evidence = {**(out[name].evidence or {}), "rule": -1.0}
                out[name] = out[name].model_copy(update={"valid": False, "issue": reason, "evidence": evidence})
    for derive in spec.derive:
        for name, value in derive(values).items():
            source = out.get("id_number")
            if name not in out and source is not None and source.valid:
                out[name] = FieldValue(name=name, value=value, confidence=source.confidence, page=source.page,
                                       box=source.box,
                                       evidence={**(source.evidence or {}), "derived": 1.0, "from_id": 1.0})
    return out
