"""Documents inside files (文件拆分): a whole owner folder scanned into one PDF becomes several documents.

A file is cut where a new document starts:

* a page headed by a document title (登记表, 合同, 通知书 ...) starts one, unless
  it says it continues the one before (续, 续表) or its printed page number
  carries on the page count of the document before;
* a page numbered "第 1 页" starts one; a page numbered 2, 3 ... of the same
  count continues one;
* an ID-card copy (a page showing a card) is a document of its own, except
  the back of a card right after its front;
* a page without a title continues the document before when that type runs
  over several pages (contracts, agreements, forms with a second page) and
  nothing on the page says otherwise; only strong body evidence of another type
  (and none of the current one) starts a new document there.

Blank pages (duplex backs) belong to no document. Each part is then
classified and read on its own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ocr.classify import MIN_BODY_SCORE, normalize_text, page_body_scores, page_title
from ocr.idcard import looks_like_card_back, looks_like_card_front
from schemas.doctypes import spec_of
from schemas.models import OcrPage

#: A title row saying the page continues a document (续表, 续页, （续）).
_CONTINUED = re.compile(r"续表|续页|\(续\)|接上页")
#: Body score of another type that starts a new document on a page without a title.
STRONG_BODY = 1.5 * MIN_BODY_SCORE
_CARD_NUMBER = ("公民身份号码", "公民身份证号码", "身份号码")
_CARD_FRONT_LABELS = ("姓名", "性别", "民族", "出生", "住址")
_CARD_BACK = ("中华人民共和国", "居民身份证", "签发机关", "有效期限")
#: A copy of a card holds little text; a form or contract quoting card labels holds much more.
_CARD_PAGE_CHARS = 320
_ID_LIKE = re.compile(r"\d{17}[\dXx]")


@dataclass(frozen=True)
class PageSignals:
    """What one page says about where it belongs."""

    index: int
    title: str | None
    continued: bool
    number: int | None
    total: int | None
    card_front: bool
    card_back: bool
    body: dict[str, float]

    @property
    def card(self) -> bool:
        """Whether the page shows an ID card (either side)."""
        return self.card_front or self.card_back


def page_signals(page: OcrPage) -> PageSignals:
    """Read the signals of one non-blank page."""
    titled = page_title(page)
    title = titled[0] if titled else None
    head = unicodedata.normalize("NFKC", "".join(line.text for line in page.lines[:6])).replace(" ", "")
    text = normalize_text(page.text)
    body = page_body_scores(page)
    others = max((score for doc_type, score in body.items() if doc_type != "id_card"), default=0.0)
    card_like = title in (None, "id_card") and len(text) <= _CARD_PAGE_CHARS and others < MIN_BODY_SCORE / 2
    front_labels = sum(w in text for w in _CARD_FRONT_LABELS)
    number = any(w in text for w in _CARD_NUMBER) or bool(_ID_LIKE.search(text))
    front = (number and front_labels >= 3) or looks_like_card_front(page.text)
    back = (sum(w in text for w in _CARD_BACK) >= 2 and ("签发机关" in text or "有效期限" in text)) \
        or looks_like_card_back(page.text)
    return PageSignals(
        index=page.index, title=title, continued=bool(_CONTINUED.search(head)),
        number=page.page_number, total=page.page_total,
        card_front=card_like and front, card_back=card_like and back, body=body,
    )


@dataclass
class _Part:
    """A document being assembled."""

    pages: list[int]
    signals: list[PageSignals]

    @property
    def title(self) -> str | None:
        return self.signals[0].title

    @property
    def kind(self) -> str | None:
        """The type the part looks like so far: its title, or an ID card."""
        if self.title:
            return self.title
        return "id_card" if self.signals[0].card else None


def split_documents(pages: Sequence[OcrPage]) -> list[tuple[int, ...]]:
    """Page indices of each document in ``pages`` (a file's pages in order), blank pages left out.

    A file without any readable page gives one part holding all its pages, so
    nothing is dropped silently.
    """
    parts: list[_Part] = []
    for page in pages:
        if page.blank:
            continue
        signals = page_signals(page)
        if parts and _continues(parts[-1], signals):
            parts[-1].pages.append(page.index)
            parts[-1].signals.append(signals)
        else:
            parts.append(_Part([page.index], [signals]))
    if not parts:
        return [tuple(p.index for p in pages)] if pages else []
    return [tuple(p.pages) for p in parts]


def _continues(part: _Part, page: PageSignals) -> bool:
    """Whether ``page`` continues ``part`` rather than starting a new document."""
    last = part.signals[-1]
    if page.number is not None and last.number is not None and page.number == last.number + 1:
        # "第 2 页 共 8 页" after "第 1 页 共 8 页" continues; a bare running number does not outweigh a title
        counted = page.total is not None and page.total == last.total
        if counted or not (page.title and not page.continued):
            return True
    if page.number == 1:
        return False
    if page.card:
        return _other_side(part, page)
    if page.title and not page.continued:
        return False
    if page.continued:
        return True
    kind = part.kind
    if kind == "id_card" or (kind is not None and not spec_of(kind).multi_page):
        return False
    return not _strongly_other(part, page)


def _other_side(part: _Part, page: PageSignals) -> bool:
    """The back of a card right after a page showing only its front (one document of two pages)."""
    last = part.signals[-1]
    return (part.kind == "id_card" and len(part.pages) == 1 and last.card_front and not last.card_back
            and page.card_back and not page.card_front)


def _strongly_other(part: _Part, page: PageSignals) -> bool:
    """Whether a page without a title clearly belongs to another type than the part."""
    best, score = max(page.body.items(), key=lambda kv: kv[1])
    if score < STRONG_BODY:
        return False
    kind = part.kind or max(_part_body(part).items(), key=lambda kv: kv[1])[0]
    return best != kind and page.body.get(kind, 0.0) < MIN_BODY_SCORE / 2


def _part_body(part: _Part) -> dict[str, float]:
    totals: dict[str, float] = {}
    for s in part.signals:
        for doc_type, score in s.body.items():
            totals[doc_type] = totals.get(doc_type, 0.0) + score
    return totals
