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

from schemas.documents import DocType
from schemas.models import OcrLine, OcrPage

#: Printed titles per type; extend freely (longer titles win over titles they contain).
TITLES: dict[DocType, tuple[str, ...]] = {
    DocType.OWNER_REGISTRATION: (
        "业主入住登记表", "业主档案表", "业主登记表", "业主信息登记表", "业主资料登记表", "住户登记表",
        "业主入伙登记表", "业主档案", "业主信息表", "入住登记表",
    ),
    DocType.ID_CARD: ("居民身份证复印件", "居民身份证", "身份证复印件", "中华人民共和国居民身份证"),
    DocType.PURCHASE_CONTRACT: (
        "商品房买卖合同", "商品房预售合同", "商品房现售合同", "房屋买卖合同", "购房合同",
    ),
    DocType.LEASE_CONTRACT: (
        "房屋租赁合同", "租赁合同", "租房合同", "租户档案", "租户登记表", "房屋出租合同", "租户信息登记表",
        "租户信息表", "住房租赁合同",
    ),
    DocType.MOVE_IN_NOTICE: ("入住通知书", "入伙通知书", "收楼通知书", "交房通知书", "入住通知"),
    DocType.HANDOVER_FORM: (
        "收楼单", "房屋交接验收表", "水电表底数确认单", "房屋交接单", "收楼确认书", "房屋验收交接表",
        "交房验收表", "收楼验收表", "房屋交接书",
    ),
    DocType.RENOVATION_APPLICATION: (
        "装修申请表", "装修责任书", "竣工验收表", "装修竣工验收表", "装修施工申请表", "装修管理协议",
        "装饰装修申请表", "装修申请书", "装修协议书",
    ),
    DocType.FIRE_SAFETY_AGREEMENT: (
        "消防安全协议书", "消防安全责任书", "消防安全协议", "消防安全承诺书", "防火安全协议书",
    ),
    DocType.COMMITMENT_LETTER: (
        "承诺书", "物业管理公约", "业主公约", "临时管理规约", "管理规约", "业主承诺书",
    ),
    DocType.POWER_OF_ATTORNEY: ("委托书", "授权委托书", "收楼委托书", "委托授权书"),
}

#: Words typical of each type's body, with weights; each counts once per document.
BODY_WORDS: dict[DocType, tuple[tuple[str, float], ...]] = {
    DocType.OWNER_REGISTRATION: (
        ("业主姓名", 1.5), ("入住日期", 2.0), ("入住时间", 2.0), ("紧急联系人", 2.0), ("紧急联络人", 2.0),
        ("工作单位", 1.0), ("家庭成员", 1.0), ("与业主关系", 1.0), ("车牌号", 1.0), ("入住人数", 1.0),
        ("登记", 0.5),
    ),
    DocType.ID_CARD: (
        ("公民身份号码", 4.0), ("签发机关", 4.0), ("有效期限", 3.0), ("民族", 1.5), ("住址", 1.5),
        ("出生", 1.0), ("性别", 0.5), ("居民身份证", 1.0),
    ),
    DocType.PURCHASE_CONTRACT: (
        ("出卖人", 3.0), ("买受人", 3.0), ("商品房", 2.0), ("预售许可", 2.0), ("总价款", 2.0),
        ("建筑面积", 1.0), ("合同编号", 1.0), ("付款方式", 1.0),
    ),
    DocType.LEASE_CONTRACT: (
        ("出租方", 3.0), ("承租方", 3.0), ("出租人", 3.0), ("承租人", 3.0), ("租金", 2.0), ("租赁期限", 2.0),
        ("押金", 1.0), ("租期", 1.0), ("租户", 2.0),
    ),
    DocType.MOVE_IN_NOTICE: (
        ("入住手续", 2.5), ("办理入住", 2.5), ("特此通知", 2.0), ("通知书", 1.0), ("交付使用", 1.0),
        ("收楼手续", 1.5),
    ),
    DocType.HANDOVER_FORM: (
        ("水表", 2.0), ("电表", 2.0), ("燃气表", 1.0), ("底数", 1.5), ("读数", 1.0), ("交接", 1.5),
        ("验收", 1.0), ("钥匙", 1.0), ("收楼", 1.0),
    ),
    DocType.RENOVATION_APPLICATION: (
        ("装修", 2.5), ("施工单位", 2.0), ("装修单位", 2.0), ("装修公司", 1.5), ("开工日期", 1.5),
        ("竣工", 1.5), ("施工", 1.0), ("装修押金", 1.0), ("承重", 1.0), ("装修期限", 1.5), ("垃圾清运", 1.0),
    ),
    DocType.FIRE_SAFETY_AGREEMENT: (
        ("消防", 3.0), ("消防安全", 2.0), ("防火", 1.5), ("灭火器", 1.5), ("消防通道", 1.0), ("易燃易爆", 1.0),
        ("火灾", 1.0), ("火情", 1.0), ("消防设施", 1.5), ("消防法", 1.5), ("疏散通道", 1.0), ("安全出口", 1.0),
        ("私拉乱接", 1.0), ("119", 1.0),
    ),
    DocType.COMMITMENT_LETTER: (
        ("承诺", 2.0), ("本人承诺", 2.0), ("郑重承诺", 2.0), ("承诺人", 2.0), ("遵守", 1.0), ("公约", 1.0),
        ("规约", 1.0), ("本公约", 2.0), ("物业服务费", 0.5), ("违章搭建", 1.0), ("高空抛物", 1.0),
        ("物业管理条例", 1.0), ("饲养宠物", 1.0), ("公共部位", 1.0),
    ),
    DocType.POWER_OF_ATTORNEY: (
        ("委托人", 3.0), ("受托人", 3.0), ("代为办理", 2.0), ("委托事项", 2.0), ("委托期限", 1.5),
        ("授权", 1.0), ("代理人", 1.0), ("全权代表", 2.0), ("转委托", 1.0),
    ),
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
    doc_type: DocType
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


def title_rows(page: OcrPage) -> list[str]:
    """Normalised text of the rows where a title is printed: the first few, and large text near the top."""
    lines = list(page.lines)
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
    return [normalize_text("".join(ln.text for ln in sorted(row, key=lambda ln: ln.box[0]))) for row in rows]


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


def score_types(pages: Sequence[OcrPage]) -> dict[DocType, float]:
    """Keyword score of every document type (higher: more likely)."""
    scores = dict.fromkeys(BODY_WORDS, 0.0)
    for row in title_rows(pages[0]) if pages else []:
        for hit in _title_hits(row):
            weight = FUZZY_TITLE_WEIGHT if hit.fuzzy else TITLE_WEIGHT
            scores[hit.doc_type] = max(scores[hit.doc_type], weight)
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


def classify(pages: Sequence[OcrPage]) -> tuple[DocType, float]:
    """Return the document type of ``pages`` and a confidence in 0..1."""
    scores = score_types(pages)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, s1), (_, s2) = ranked[0], ranked[1]
    if s1 < MIN_SCORE:
        return DocType.OTHER, round(0.9 - 0.2 * s1, 3)
    margin = (s1 - s2) / s1
    strength = min(1.0, s1 / (TITLE_WEIGHT + 4.0))
    return best, round(max(0.05, min(1.0, 0.5 * strength + 0.5 * margin)), 3)
