"""Short excerpts of a document's OCR text around the words a search found (摘录), for the result list.

Pure functions, no database and no object store. :func:`excerpt_terms` turns
the understood query (:func:`storage.search.understand`) into what to look for:
each part typed as words or a name, as it may be written (spaces between the
characters, full-width letters), and a unit as forms print it (``3栋2单元1201室``,
``3-2-1201``); ID numbers, their tails and phones are never looked for.
:func:`make_excerpt` finds those in the text of a document's pages and cuts
one snippet (two when two parts of the query lie apart) of about
:data:`EXCERPT_CHARS` characters around the first of them, as pieces of plain
and matched text, so a page can mark the matches without building markup from
the text itself.

Every ID number, phone number or other long run of digits in an excerpt is
masked (``110101********1234``, ``151 **** 9384``), whoever reads it: a result
list reveals nothing; revealing is the document page's audited act.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from schemas.validators import mask_id_number, mask_phone
from storage.search import SECRET_KINDS, ParsedQuery

#: Characters of text an excerpt shows (one snippet, or two of half as many each).
EXCERPT_CHARS = 100
#: Characters a snippet shows before the word it was cut around.
LEAD_CHARS = 18
#: Digits of a run (single spaces or dashes inside allowed) from which it is masked as an ID number, phone
#: or account number: mobiles and landlines with their area code have 10-12, ID numbers 15 or 18.
SECRET_DIGITS = 10

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
#: A run of digits, single spaces or dashes between them, an ID number's final X, a +86 in front.
_DIGIT_RUN = re.compile(r"\+?\d(?:[ \-]?\d)*(?:[ \-]?[Xx](?![0-9A-Za-z]))?")
_ASCII_WORD = re.compile(r"[0-9A-Za-z]")
#: Where a snippet may begin: after a space or a punctuation mark that ends a phrase.
_BREAK = re.compile(r"[ ，。；：、,;:]")
#: How forms print the step from a building to its unit or room (3栋, 3号楼, 3幢, A座, 3-).
_AFTER_BUILDING = r"\s?(?:号楼|号|栋|幢|座|楼|#|-)\s?"
_AFTER_UNIT = r"\s?(?:单元|-)\s?"


class ExcerptPiece(BaseModel):
    """A stretch of an excerpt: plain text, or a word of the query found there (``mark``)."""

    model_config = ConfigDict(frozen=True)

    text: str
    mark: bool = False


class Snippet(BaseModel):
    """One cut of a page's text around a word of the query."""

    model_config = ConfigDict(frozen=True)

    #: Index of the page in its file (as a document's pages are numbered in the API), and its
    #: number within the document (1-based).
    page: int
    number: int
    pieces: tuple[ExcerptPiece, ...]
    #: The page's text goes on before / after the snippet (a page shows "…").
    cut_before: bool
    cut_after: bool

    @property
    def text(self) -> str:
        """The snippet as plain text."""
        return "".join(p.text for p in self.pieces)


class Excerpt(BaseModel):
    """What a result list shows of a document's text: one or two snippets, ID numbers and phones masked."""

    model_config = ConfigDict(frozen=True)

    snippets: tuple[Snippet, ...]


@dataclass(frozen=True)
class Term:
    """One part of the query as it may be written in a text."""

    #: The part as typed (folded).
    label: str
    pattern: re.Pattern[str]


def excerpt_terms(parsed: ParsedQuery) -> tuple[Term, ...]:
    """What to look for in the text: the parts of the query typed as words, names or units.

    A part that may be an ID number, its tail or a phone is left out: such a
    number is masked in every excerpt, so there is nothing to mark.
    """
    terms: list[Term] = []
    for part in parsed.parts:
        kinds = {r.kind for r in part.readings}
        if kinds & SECRET_KINDS:
            continue
        unit = next((r for r in part.readings if r.kind == "unit"), None)
        pattern = _unit_pattern(unit.value) if unit is not None else _word_pattern(part.text)
        if pattern is not None:
            terms.append(Term(label=part.text, pattern=pattern))
    return tuple(terms)


def _word_pattern(text: str) -> re.Pattern[str] | None:
    """``text`` as written in OCR text: any one space or punctuation mark may stand between its characters."""
    chars = [c for c in _fold(text) if c.isalnum()]
    if not chars:
        return None
    body = r"\W?".join(re.escape(c) for c in chars)
    before = r"(?<![0-9A-Za-z])" if _ASCII_WORD.match(chars[0]) else ""
    after = r"(?![0-9A-Za-z])" if _ASCII_WORD.match(chars[-1]) else ""
    return re.compile(before + body + after, re.IGNORECASE)


def _unit_pattern(value: str) -> re.Pattern[str] | None:
    """A unit ``3-2-1201`` (or ``3--1201``, ``3-2``, ``3``, ``--1201``) as forms print it."""
    building, unit, room = [*value.split("-"), "", ""][:3]

    def number(v: str) -> str:
        return r"0*" + re.escape(v)

    start, end, room_mark = r"(?<![0-9A-Za-z])", r"(?!\d)", r"(?:\s?室)?"
    if building and unit and room:
        body = number(building) + _AFTER_BUILDING + number(unit) + _AFTER_UNIT + number(room) + end + room_mark
    elif building and unit:
        body = number(building) + _AFTER_BUILDING + number(unit) + r"\s?单元"
    elif building and room:
        body = (number(building) + _AFTER_BUILDING + r"(?:\d+" + _AFTER_UNIT + r")?" + number(room) + end
                + room_mark)
    elif building:
        body = number(building) + r"\s?(?:号楼|栋|幢|座)"
    elif room:
        body = number(room) + r"\s?室"
    else:
        return None
    return re.compile(start + body, re.IGNORECASE)


# --------------------------------------------------------------------------- one document


@dataclass(frozen=True)
class _Span:
    """A stretch of a page's flattened text that is a match (``mark``) or a number to mask (``shown``)."""

    start: int
    end: int
    term: int = -1
    shown: str | None = None


@dataclass(frozen=True)
class _Page:
    index: int
    number: int
    text: str
    #: Matches and masked numbers, in order, never overlapping.
    spans: tuple[_Span, ...]


def make_excerpt(pages: Sequence[tuple[int, str]], terms: Sequence[Term], *,
                 chars: int = EXCERPT_CHARS) -> Excerpt | None:
    """The excerpt of a document whose pages are ``(index in the file, OCR text)``; None when no term is found.

    The first match of the query's first-found part anchors a snippet of about
    ``chars`` characters; when another part is found only outside it, each gets
    a snippet of half as many. Numbers are masked before the text is cut, so a
    cut never splits one into pieces too short to be recognised.
    """
    if not terms:
        return None
    laid = [_lay_out(index, number, text, terms) for number, (index, text) in enumerate(pages, start=1)]
    marks = [(page, span) for page in laid for span in page.spans if span.shown is None]
    if not marks:
        return None
    first_page, first = marks[0]
    whole = _window(first_page, first, chars)
    seen = {s.term for s in first_page.spans if s.shown is None and whole[0] <= s.start and s.end <= whole[1]}
    other = next(((p, s) for p, s in marks if s.term not in seen), None)
    if other is None:
        return Excerpt(snippets=(_snippet(first_page, *whole),))
    half = chars // 2
    second_page, second = other
    return Excerpt(snippets=(_snippet(first_page, *_window(first_page, first, half)),
                             _snippet(second_page, *_window(second_page, second, half))))


def _lay_out(index: int, number: int, text: str, terms: Sequence[Term]) -> _Page:
    """A page's text on one line, with its masked numbers and the matches that do not touch them."""
    flat = " ".join(text.split())
    folded, origin = _fold_mapped(flat)
    secrets = [_Span(origin[m.start()], origin[m.end() - 1] + 1, shown=_masked(m.group()))
               for m in _DIGIT_RUN.finditer(folded) if sum(c.isdigit() for c in m.group()) >= SECRET_DIGITS]
    matches: list[_Span] = []
    for i, term in enumerate(terms):
        for m in term.pattern.finditer(folded):
            if m.end() == m.start():
                continue
            span = _Span(origin[m.start()], origin[m.end() - 1] + 1, term=i)
            if not any(_overlap(span, other) for other in (*secrets, *matches)):
                matches.append(span)
    return _Page(index=index, number=number, text=flat,
                 spans=tuple(sorted((*secrets, *matches), key=lambda s: s.start)))


def _window(page: _Page, anchor: _Span, size: int) -> tuple[int, int]:
    """Start and end of a cut of about ``size`` characters of ``page`` that begins a little before ``anchor``."""
    text = page.text
    start = max(0, anchor.start - min(LEAD_CHARS, size // 4))
    end = min(len(text), max(start + size, anchor.end))
    start = max(0, min(start, end - size))
    if start > 0:  # begin after a space or a stop, not in the middle of a word
        found = _BREAK.search(text, start, max(start, anchor.start - 4))
        start = found.end() if found else start
    if end < len(text):
        space = text.rfind(" ", max(anchor.end, end - 8), end)
        end = space if space >= 0 else end
    for span in page.spans:  # never cut through a match or a masked number
        if span.start < start < span.end:
            start = span.start
        if span.start < end < span.end:
            end = span.end
    return start, end


def _snippet(page: _Page, start: int, end: int) -> Snippet:
    pieces: list[ExcerptPiece] = []
    at = start
    for span in page.spans:
        if span.end <= start or span.start >= end:
            continue
        if span.start > at:
            pieces.append(ExcerptPiece(text=page.text[at:span.start]))
        if span.shown is not None:
            pieces.append(ExcerptPiece(text=span.shown))
        else:
            pieces.append(ExcerptPiece(text=page.text[span.start:span.end], mark=True))
        at = span.end
    if at < end:
        pieces.append(ExcerptPiece(text=page.text[at:end]))
    return Snippet(page=page.index, number=page.number, pieces=_merged(pieces), cut_before=start > 0,
                   cut_after=end < len(page.text))


def _merged(pieces: list[ExcerptPiece]) -> tuple[ExcerptPiece, ...]:
    """Adjacent plain pieces (a masked number and the text around it) as one."""
    out: list[ExcerptPiece] = []
    for piece in pieces:
        if out and not piece.mark and not out[-1].mark:
            out[-1] = ExcerptPiece(text=out[-1].text + piece.text)
        else:
            out.append(piece)
    return tuple(out)


def _masked(run: str) -> str:
    """A long run of digits as an excerpt shows it: an ID number's first 6 and last 4, else first 3 and last 4."""
    compact = re.sub(r"[ \-]", "", run).upper()
    digits = compact.lstrip("+")
    if len(digits) in (15, 18):
        return mask_id_number(digits)
    return mask_phone(run)


def _overlap(a: _Span, b: _Span) -> bool:
    return a.start < b.end and b.start < a.end


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


class _FoldTable(dict[int, str]):
    """Each character's NFKC form, for ``str.translate``, filled in as characters are met."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = _fold(chr(code))
        return folded


_FOLD_TABLE = _FoldTable()


def _fold_mapped(text: str) -> tuple[str, Sequence[int]]:
    """``text`` NFKC-folded character by character, and for each folded character the index it came from."""
    folded = text.translate(_FOLD_TABLE)
    if len(folded) == len(text):  # each character folds to at least one: here to exactly one
        return folded, range(len(text))
    origin: list[int] = []
    for i, ch in enumerate(text):
        origin.extend([i] * len(_FOLD_TABLE[ord(ch)]))
    return folded, origin
