"""Reading an ID-card copy whose labels did not come out (居民身份证复印件).

On a photocopy the card's light-blue labels (姓名, 性别, 民族, 出生, 住址,
公民身份号码 ...) often fade away, and a line written across the card hides
some of them. The card itself is printed to a national standard, though: on
the front, the name, then sex and ethnicity, the birth date, the address (one
to three lines) and the 18-character number; on the back, 中华人民共和国,
居民身份证, the issuing police office and the validity period. When a field
was not found by its label, it is read from that order and from the shape of
its value, never from page coordinates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.models import OcrLine, OcrPage
from schemas.validators import find_dates, normalize_ethnicity, normalize_id_number

_SEX_ROW = re.compile(r"^(?:性别)?\s*([男女])\s*(?:民族)?\s*([\u4e00-\u9fff]{1,4}?)族?$")
_BIRTH = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?")
_AUTHORITY = re.compile(
    r"[\u4e00-\u9fff]{1,6}?(?:省|市|自治区|州|县|盟)[\u4e00-\u9fff]*?公安[\u4e00-\u9fff]*(?:分局|局)")
_NAME = re.compile(r"[\u4e00-\u9fff]{2,4}|[\u4e00-\u9fff]{1,6}·[\u4e00-\u9fff]{1,8}")
#: Words of the line written across a copy: their pieces are not part of the card.
_OVERLAY = re.compile(r"仅|供|使用|无效|复印|他用|存档|限|办理|手续|登记")
_CARD_WORDS = re.compile(r"中华人民共和国|居民身份证|签发机关|有效期限|公民身份号码|姓名|性别|民族|出生|住址")
_ID18 = re.compile(r"\d{17}[\dXx]")


@dataclass(frozen=True)
class CardRead:
    """A value read from the card's layout, with the line it came from."""

    value: str
    line: OcrLine
    page: int


def _clean(line: OcrLine) -> str:
    text = unicodedata.normalize("NFKC", line.text)
    return re.sub(r"\s+", " ", text).strip()


def _lines(pages: Sequence[OcrPage]) -> list[tuple[int, OcrLine, str]]:
    return [(p.index, ln, _clean(ln)) for p in pages for ln in p.lines if _clean(ln)]


def card_fields(pages: Sequence[OcrPage]) -> dict[str, CardRead]:
    """Card values read from the card's order and the shape of its values.

    Name, ethnicity, address, issuing authority and validity period; the
    number, birth date and sex have patterns of their own elsewhere.
    """
    lines = _lines(pages)
    out: dict[str, CardRead] = {}
    sex_at = next((i for i, (_, _, t) in enumerate(lines) if _SEX_ROW.match(t.replace(" ", ""))), None)
    if sex_at is not None:
        page, line, text = lines[sex_at]
        m = _SEX_ROW.match(text.replace(" ", ""))
        assert m is not None
        ethnicity = normalize_ethnicity(m.group(2))
        if ethnicity:
            out["ethnicity"] = CardRead(ethnicity, line, page)
        for back in range(1, 3):  # the name stands on the line above (a stray mark may come between)
            if sex_at - back < 0:
                break
            page_n, line_n, text_n = lines[sex_at - back]
            name = re.sub(r"^(?:姓名)|[^\u4e00-\u9fff·]", "", text_n.split(" ")[-1])
            if _NAME.fullmatch(name) and not _CARD_WORDS.search(name):
                out["name"] = CardRead(name, line_n, page_n)
                break
    birth_at = next((i for i, (_, _, t) in enumerate(lines) if _BIRTH.search(t) and len(find_dates(t)) < 2), None)
    id_at = next((i for i, (_, _, t) in enumerate(lines) if _ID18.search(t.replace(" ", ""))), None)
    if birth_at is not None and id_at is not None and birth_at < id_at:
        parts: list[tuple[str, OcrLine, int]] = []
        for page, line, text in lines[birth_at + 1:id_at]:
            if (_OVERLAY.search(text) and len(parts) > 0) or _CARD_WORDS.search(text) or "公安" in text:
                continue
            piece = re.sub(r"^(?:住址)", "", text.replace(" ", ""))
            piece = re.sub(r"[^\u4e00-\u9fff0-9A-Za-z\-]", "", piece)
            if piece and not _OVERLAY.search(piece):
                parts.append((piece, line, page))
        if parts and len("".join(p for p, _, _ in parts)) >= 5:
            out["address"] = CardRead("".join(p for p, _, _ in parts), parts[0][1], parts[0][2])
    for page, line, text in lines:
        compact = text.replace(" ", "")
        m = _AUTHORITY.search(compact)
        if m and "issuing_authority" not in out:
            out["issuing_authority"] = CardRead(m.group(0), line, page)
        dates = find_dates(compact)
        if len(dates) >= 2 and "valid_from" not in out and dates[0] < dates[1]:
            out["valid_from"] = CardRead(dates[0], line, page)
            out["valid_to"] = CardRead(dates[1], line, page)
    return out


def looks_like_card_front(text: str) -> bool:
    """Whether short page text shows a card's front even without its labels: a number and a sex or birth line."""
    compact = unicodedata.normalize("NFKC", text).replace(" ", "")
    numbers = [t for t in _ID18.findall(compact) if normalize_id_number(t)]
    return bool(numbers) and (bool(_BIRTH.search(compact)) or bool(re.search(r"(?:^|\n)[男女]", compact)))


def looks_like_card_back(text: str) -> bool:
    """Whether page text shows a card's back: 居民身份证 with a police office or a validity period."""
    compact = unicodedata.normalize("NFKC", text).replace(" ", "")
    return "居民身份证" in compact and (bool(_AUTHORITY.search(compact)) or len(find_dates(compact)) >= 2)
