"""Document classification (文档分类) from OCR text.

A document's type is decided by keyword scores: a form title near the top
of the first page counts most (with one wrong, missing or extra character
tolerated in titles of four characters or more, since OCR garbles titles
too), title words further down count a little, and body words typical of each
form add up. Nothing scoring means ``other``.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ocr.idcard import looks_like_card_back, looks_like_card_front
from schemas.doctypes import OTHER, SPECS
from schemas.models import OcrLine, OcrPage

#: Printed titles per type (from the specs); longer titles win over titles they contain.
TITLES: dict[str, tuple[str, ...]] = {name: spec.titles for name, spec in SPECS.items() if spec.titles}
#: Words typical of each type's body, with weights; each counts once per document.
BODY_WORDS: dict[str, tuple[tuple[str, float], ...]] = {
    name: spec.body_words for name, spec in SPECS.items() if spec.body_words
}

TITLE_WEIGHT = 10.0
FUZZY_TITLE_WEIGHT = 8.0
TITLE_IN_BODY_WEIGHT = 2.0
#: Below this best score a document is ``other`` (a title alone scores more).
MIN_SCORE = 2.5
#: Without a recognised title, body words must add up to this much.
MIN_BODY_SCORE = 6.0
#: Lines of page 1 always searched for a title (company letterheads come first).
TITLE_LINES = 5
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class _TitleHit:
    doc_type: str
    start: int
    end: int
    fuzzy: bool


def normalize_text(text: str) -> str:
    """Fold width, drop spaces and punctuation: the form keywords are matched on."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text))


def fuzzy_pattern(word: str) -> re.Pattern[str]:
    """Compile ``word`` allowing one wrong or extra character, or (5+ chars) one missing."""
    esc = [re.escape(c) for c in word]
    alts = ["".join([*esc[:i], ".", *esc[i + 1:]]) for i in range(len(esc))]
    alts += ["".join([*esc[:i], ".", *esc[i:]]) for i in range(1, len(esc))]
    if len(word) >= 5:
        alts += ["".join(esc[:i] + esc[i + 1:]) for i in range(len(esc))]
    return re.compile("|".join(alts))


_EXACT_TITLES = tuple((t, w, re.compile(re.escape(w))) for t, ws in TITLES.items() for w in ws)
_FUZZY_TITLES = tuple((t, w, fuzzy_pattern(w)) for t, ws in TITLES.items() for w in ws if len(w) >= 4)


def title_rows(page: OcrPage, *, raw: bool = False) -> list[str]:
    """Normalised text of the rows where a title is printed: the first few, and large text near the top.

    ``raw`` gives the rows' text as read (width-folded only), punctuation kept.
    """
    texts = ["".join(ln.text for ln in row) for row in _title_bands(page)]
    return [unicodedata.normalize("NFKC", t) if raw else normalize_text(t) for t in texts]


def _title_bands(page: OcrPage) -> list[list[OcrLine]]:
    """The lines of the rows a title may be printed on, grouped by row, left to right (specks left out)."""
    lines = [ln for ln in page.lines if normalize_text(ln.text)]
    if not lines:
        return []
    heights = [ln.box[3] - ln.box[1] for ln in lines]
    median = statistics.median(heights)
    top = page.height * 0.25 if page.height else float("inf")
    picked = lines[:TITLE_LINES]
    picked += [ln for ln, h in zip(lines[TITLE_LINES:], heights[TITLE_LINES:], strict=True)
               if ln.box[1] < top and h >= 1.25 * median]
    rows: list[list[OcrLine]] = []
    for line in picked:
        if rows and _same_band(rows[-1][-1], line):
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda ln: ln.box[0]) for row in rows]


#: How a printed document title ends (登记表, 确认单, 协议书, 买卖合同, 通知, 公约 ...).
_TITLE_END = re.compile(r"(表|单|书|卡|合同|协议|通知|公约|规约|证明|清单|声明|复印件|须知|收据|凭证)$")
#: Titles of attachments and continuations belong to the document before them.
_ATTACHMENT = re.compile(r"^(附件|附表|附页|补充|续)")
#: Least title-word weight that names a type from a title nobody listed.
MIN_TITLE_WORDS = 2.5


def generic_title(page: OcrPage) -> str | None:
    """A printed document title, listed or not, as normalised text.

    A short row near the top that ends like a title (表, 单, 书, 合同 ...),
    printed larger than the text of the page or centred on it.
    """
    lines = list(page.lines)
    if not lines:
        return None
    median = statistics.median(ln.box[3] - ln.box[1] for ln in lines)
    width = page.width or max(ln.box[2] for ln in lines)
    for band in _title_bands(page):
        raw = unicodedata.normalize("NFKC", "".join(ln.text for ln in band))
        text = normalize_text(re.sub(r"\([^()]*\)", "", raw))
        if ":" in raw or not 2 <= len(text) <= 20 or not _TITLE_END.search(text):
            continue
        x0, x1 = min(ln.box[0] for ln in band), max(ln.box[2] for ln in band)
        height = max(ln.box[3] - ln.box[1] for ln in band)
        centred = abs((x0 + x1) / 2 - width / 2) < 0.12 * width and x1 - x0 < 0.6 * width
        if height >= 1.2 * median or centred:
            return text
    return None


def title_type(title: str) -> str | None:
    """The type a title names by its words (装修 -> renovation_application), or None."""
    scores = {name: sum(w for word, w in spec.title_words if word in title) for name, spec in SPECS.items()}
    best = max(scores, key=lambda name: scores[name])
    return best if scores[best] >= MIN_TITLE_WORDS else None


def _same_band(a: OcrLine, b: OcrLine) -> bool:
    """Whether two boxes sit on the same printed row (a title split into two boxes)."""
    height = min(a.box[3] - a.box[1], b.box[3] - b.box[1])
    return abs((a.box[1] + a.box[3]) - (b.box[1] + b.box[3])) / 2 <= max(1, height) / 2


def _title_hits(row: str) -> list[_TitleHit]:
    """Title matches in one title row: exact before fuzzy, longer before shorter, no overlaps.

    A title stands nearly alone on its row: a title word inside a long row
    is a sentence mentioning it, and a fuzzy match needs an even shorter row.
    """
    hits = [_TitleHit(t, m.start(), m.end(), False) for t, w, p in _EXACT_TITLES
            if len(row) <= 3 * len(w) + 10 for m in p.finditer(row)]
    hits += [_TitleHit(t, m.start(), m.end(), True) for t, w, p in _FUZZY_TITLES
             if len(row) <= len(w) + 6 for m in p.finditer(row)]
    hits.sort(key=lambda h: (h.fuzzy, h.start - h.end))
    kept: list[_TitleHit] = []
    for hit in hits:
        if all(hit.end <= k.start or k.end <= hit.start for k in kept):
            kept.append(hit)
    return kept


def score_types(pages: Sequence[OcrPage]) -> dict[str, float]:
    """Keyword score of every document type (higher: more likely)."""
    scores = dict.fromkeys(BODY_WORDS, 0.0)
    for row in title_rows(pages[0]) if pages else []:
        for hit in _title_hits(row):
            weight = FUZZY_TITLE_WEIGHT if hit.fuzzy else TITLE_WEIGHT
            scores[hit.doc_type] = max(scores[hit.doc_type], weight)
    if pages and not any(scores.values()):
        title = generic_title(pages[0])
        named = title_type(title) if title else None
        if named in scores:
            scores[named] = FUZZY_TITLE_WEIGHT
    titled = {t for t, s in scores.items() if s > 0}
    body = normalize_text("".join(p.text for p in pages))
    for doc_type, words in BODY_WORDS.items():
        body_score = _body_score(body, words)
        if any(w in body for w in TITLES[doc_type]):
            body_score += TITLE_IN_BODY_WEIGHT
        if doc_type in titled or body_score >= MIN_BODY_SCORE:
            scores[doc_type] += body_score
    return scores


def _body_score(body: str, words: Iterable[tuple[str, float]]) -> float:
    """Sum of the weights of the body words present."""
    return sum(weight for word, weight in words if word in body)


def classify(pages: Sequence[OcrPage]) -> tuple[str, float]:
    """Return the document type of ``pages`` and a confidence in 0..1."""
    scores = score_types(pages)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, s1), (_, s2) = ranked[0], ranked[1]
    if s1 < MIN_SCORE:
        text = "\n".join(p.text for p in pages)
        if looks_like_card_front(text) or looks_like_card_back(text):  # a card copy whose labels faded
            return "id_card", 0.6
        return OTHER.name, round(0.9 - 0.2 * s1, 3)
    margin = (s1 - s2) / s1
    strength = min(1.0, s1 / (TITLE_WEIGHT + 4.0))
    return best, round(max(0.05, min(1.0, 0.5 * strength + 0.5 * margin)), 3)


#: Characters a title row may hold beyond the title itself ("（预售）", "（正反面）", a form number).
TITLE_ROW_SLACK = 8


def page_title(page: OcrPage) -> tuple[str, bool] | None:
    """The type whose printed title heads ``page``, and whether the title was read exactly; None without one.

    A title nobody listed ("装修报建登记表") names its type by its words; a
    title of no known type gives ``other`` (it still starts a document).

    Stricter than classifying a whole document: the title must stand (nearly)
    alone on its row, so a continuation page whose first sentence mentions
    "临时管理规约" does not look like the start of a 管理规约.
    """
    best: _TitleHit | None = None
    for row, raw in zip(title_rows(page), title_rows(page, raw=True), strict=True):
        for hit in _title_hits(row):
            if len(row) > hit.end - hit.start + TITLE_ROW_SLACK or (hit.start > 0 and ":" in raw):
                continue  # a sentence, or a label and its value ("证件类型：居民身份证")
            if best is None or (hit.fuzzy, hit.start - hit.end) < (best.fuzzy, best.start - best.end):
                best = hit
    if best is not None:
        return best.doc_type, not best.fuzzy
    title = generic_title(page)
    if title is None or _ATTACHMENT.match(title):
        return None
    return title_type(title) or OTHER.name, False


def page_body_scores(page: OcrPage) -> dict[str, float]:
    """Body-word score of every type on one page alone."""
    body = normalize_text(page.text)
    return {doc_type: _body_score(body, words) for doc_type, words in BODY_WORDS.items()}
