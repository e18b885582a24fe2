"""Normalisers and validators for extracted field values (pure functions, no I/O).

They read what OCR produced (full-width characters, spaces inside numbers,
letters confused with digits) and return the canonical export form from
DESIGN.md, or ``None`` when the text holds no such value. Issue strings
never contain the checked value itself, so they are safe to log.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from schemas.lazyre import LazyPattern
from schemas.models import UnitRef

# --- shared text helpers -------------------------------------------------------

#: Letters OCR engines put where a digit was printed.
DIGIT_CONFUSIONS: dict[str, str] = {
    "O": "0", "o": "0", "D": "0", "Q": "0", "〇": "0",
    "I": "1", "l": "1", "|": "1", "i": "1", "!": "1",
    "Z": "2", "z": "2",
    "S": "5", "s": "5",
    "B": "8",
    "G": "6", "b": "6",
}
_CONFUSABLE = "".join(re.escape(c) for c in DIGIT_CONFUSIONS)
_DIGITISH_RUN = LazyPattern(rf"[0-9{_CONFUSABLE}]+")
#: Dash-like characters (OCR reads "-" as 一 or a long dash), escaped for use in a [class].
_DASHES = r"\-－—–一―‐‑─"


def to_halfwidth(text: str) -> str:
    """NFKC-fold full-width letters, digits and punctuation (``１２：３`` -> ``12:3``)."""
    # ㎡ folds to "m2", which would add a digit to an area; spell it out first.
    return unicodedata.normalize("NFKC", text.replace("㎡", "平方米").replace("m²", "平方米"))


def fix_digit_runs(text: str) -> str:
    """Replace confusable letters by digits inside runs that are mostly digits."""

    def fix(match: re.Match[str]) -> str:
        run = match.group(0)
        digits = sum(ch.isdigit() for ch in run)
        if digits == 0 or digits * 2 < len(run):
            return run
        return "".join(DIGIT_CONFUSIONS.get(ch, ch) for ch in run)

    return _DIGITISH_RUN.sub(fix, text)


def _join_digit_gaps(text: str) -> str:
    """Remove spaces between digits (OCR splits long numbers into groups)."""
    return re.sub(r"(?<=\d)\s+(?=\d)", "", text)


# --- resident ID numbers (GB 11643-1999) ------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83", "91",
})
_ID_SHAPE = LazyPattern(r"\d{17}[\dX]")
_X_LIKE = {"x": "X", "X": "X", "×": "X", "乂": "X", "✕": "X", "Ⅹ": "X"}


def normalize_id_number(raw: str | None) -> str | None:
    """Return an 18-character ID number (upper-case ``X``) read from ``raw``, or None.

    Spaces are dropped and letters OCR confuses with digits (O, I, l, S, B, Z, G)
    are mapped back; only the last character may be ``X``.
    """
    if not raw:
        return None
    text = re.sub(r"[\s\-_.·]", "", to_halfwidth(raw))
    if len(text) != 18:
        return None
    last = _X_LIKE.get(text[-1], DIGIT_CONFUSIONS.get(text[-1], text[-1]))
    body = "".join(DIGIT_CONFUSIONS.get(ch, ch) for ch in text[:-1])
    value = body + last
    return value if _ID_SHAPE.fullmatch(value) else None


def id_check_digit(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def id_number_birth_date(value: str) -> str | None:
    """Birth date (YYYY-MM-DD) encoded in an 18-digit ID number, or None if impossible."""
    if not _ID_SHAPE.fullmatch(value or ""):
        return None
    return _checked_date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def id_number_sex(value: str) -> str | None:
    """``男`` for an odd 17th digit, ``女`` for an even one; None for a malformed number."""
    if not _ID_SHAPE.fullmatch(value or ""):
        return None
    return "男" if int(value[16]) % 2 else "女"


def check_id_number(value: str, *, birth_date: str | None = None, sex: str | None = None) -> list[str]:
    """Issues found in an ID number (empty list: valid).

    Checks shape, area code, the embedded birth date, the MOD 11-2 checksum and,
    when given, the printed birth date (YYYY-MM-DD) and sex (男/女).
    """
    if not _ID_SHAPE.fullmatch(value or ""):
        return ["ID number must be 17 digits and a digit or X"]
    issues: list[str] = []
    if value[:2] not in _PROVINCES:
        issues.append("ID number area code is not valid")
    born = id_number_birth_date(value)
    if born is None:
        issues.append("ID number birth date is not a valid date")
    if id_check_digit(value[:17]) != value[17]:
        issues.append("ID number checksum fails")
    printed = normalize_date(birth_date) if birth_date else None
    if printed and born and printed != born:
        issues.append("ID number birth date does not match the printed birth date")
    printed_sex = normalize_sex(sex) if sex else None
    if printed_sex and printed_sex != id_number_sex(value):
        issues.append("ID number sex digit does not match the printed sex")
    return issues


# --- dates ------------------------------------------------------------------------

_MIN_YEAR, _MAX_YEAR = 1900, 2100
_DATE_SEP = rf"[年./{_DASHES}\\]"
_DATE_PATTERNS = (
    LazyPattern(rf"(?<!\d)(\d{{4}})\s*{_DATE_SEP}\s*(\d{{1,2}})\s*(?:月|{_DATE_SEP})\s*(\d{{1,2}})(?!\d)"),
    LazyPattern(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)"),
)
_CN_DIGITS = {
    "零": 0, "〇": 0, "○": 0, "O": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
    "六": 6, "七": 7, "八": 8, "九": 9,
    "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5, "陆": 6, "柒": 7, "捌": 8, "玖": 9,
}
_CN_DATE = LazyPattern(
    r"([零〇○O一二三四五六七八九]{4})年([一二三四五六七八九十]{1,3})月([一二三四五六七八九十]{1,3})日"
)


def _checked_date(year: int, month: int, day: int) -> str | None:
    """``YYYY-MM-DD`` when the date exists and the year is plausible."""
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        return None
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _clean_date_text(raw: str) -> str:
    """Half-width, digit-fixed text with OCR's spaces inside numbers removed."""
    text = fix_digit_runs(to_halfwidth(raw))
    return _join_digit_gaps(text)


def find_dates(raw: str | None) -> list[str]:
    """All valid dates in ``raw`` in order of appearance, as YYYY-MM-DD."""
    if not raw:
        return []
    text = _clean_date_text(raw)
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            value = _checked_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            if value:
                found.append((m.start(), value))
                taken.append((m.start(), m.end()))
    for m in _CN_DATE.finditer(to_halfwidth(raw).replace(" ", "")):
        year = int("".join(str(_CN_DIGITS[c]) for c in m.group(1)))
        value = _checked_date(year, cn_numeral_to_int(m.group(2)) or 0, cn_numeral_to_int(m.group(3)) or 0)
        if value:
            found.append((len(text) + m.start(), value))
    return [v for _, v in sorted(found)]


def normalize_date(raw: str | None) -> str | None:
    """First valid date in ``raw`` as YYYY-MM-DD (2019年10月18日, 2019.10.18, 20191018 ...)."""
    dates = find_dates(raw)
    return dates[0] if dates else None


# --- sex and ethnicity -------------------------------------------------------------


#: A ticked box before one of the options: "☑男 □女", "√女".
_TICKED_SEX = LazyPattern(r"[☑✓✔√■☒●▣]\s*([男女])")


def normalize_sex(raw: str | None) -> str | None:
    """Return ``男`` or ``女`` from ``性别：男``, ``☑男 □女`` or ``M``/``F``; None otherwise."""
    if not raw:
        return None
    text = to_halfwidth(raw).strip()
    ticked = _TICKED_SEX.search(text)
    if ticked:
        return ticked.group(1)
    has_m, has_f = "男" in text, "女" in text
    if has_m != has_f:
        return "男" if has_m else "女"
    upper = text.upper()
    if upper in {"M", "MALE"}:
        return "男"
    if upper in {"F", "FEMALE"}:
        return "女"
    return None


# --- phone numbers ---------------------------------------------------------------

_MOBILE = LazyPattern(r"(?<!\d)(?:86)?(1[3-9]\d{9})(?!\d)")
_LANDLINE = LazyPattern(rf"(?<!\d)[(（]?(0\d{{2,3}})\s*(?:[)）]|[{_DASHES}])\s*(\d{{7,8}})(?!\d)")


def normalize_phone(raw: str | None) -> str | None:
    """Return the mobile (11 digits) or landline (``0755-1234567``) number in ``raw``, or None."""
    if not raw:
        return None
    text = fix_digit_runs(to_halfwidth(raw))
    m = _LANDLINE.search(text)
    if m:
        return f"{m.group(1)}-{m.group(2)}"
    compact = re.sub(rf"(?<=\d)[\s{_DASHES}]+(?=\d)", "", text)
    m = _MOBILE.search(compact)
    if m:
        return m.group(1)
    return _split_landline(compact)


def _split_landline(compact: str) -> str | None:
    """Split an undashed landline: 01x/02x area codes have 3 digits, the others 4."""
    m = re.search(r"(?<!\d)0\d{9,11}(?!\d)", compact)
    if not m:
        return None
    digits = m.group(0)
    area_len = 3 if digits[1] in "12" else 4
    local = digits[area_len:]
    return f"{digits[:area_len]}-{local}" if 7 <= len(local) <= 8 else None


# --- unit references ----------------------------------------------------------------

_CN_NUM = "零〇一二三四五六七八九十百两"
_BUILDING_WORDS = r"(?:号楼|号幢|号栋|栋楼|楼栋|栋|幢|楝|座|号|#)"
_NUM = rf"(?:\d+|[{_CN_NUM}]+)"
_BUILDING = LazyPattern(
    rf"(?:第\s*)?({_NUM}|[A-Za-z](?=\s*座)|[A-Za-z]\d*(?=\s*(?:栋|幢|号楼)))\s*{_BUILDING_WORDS}"
)
_UNIT = LazyPattern(rf"(?:第\s*)?({_NUM}|[A-Za-z])\s*(?:单元|單元|単元|单无)")
_ROOM = LazyPattern(r"(?<![0-9A-Za-z])([A-Za-z]?\d{1,5}[A-Za-z]?)(?![0-9A-Za-z]|\s*(?:层|楼|F\b))")
# "3-2-1201"; OCR also reads the dashes as dots ("7.3-503").
_UNIT_SEP = rf"[{_DASHES}.·]"
_DASHED = LazyPattern(
    rf"(?<![0-9A-Za-z.])([0-9]+|[A-Za-z])\s*{_UNIT_SEP}\s*(\d{{1,2}})\s*{_UNIT_SEP}\s*(\d{{3,5}})(?![\d.])"
)


def cn_numeral_to_int(text: str) -> int | None:
    """Value of a Chinese numeral below 1000 (``三`` 3, ``十二`` 12, ``二十一`` 21, ``一百零一`` 101)."""
    if not text:
        return None
    if all(c in _CN_DIGITS for c in text):
        return int("".join(str(_CN_DIGITS[c]) for c in text))
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


def _unit_number(token: str) -> str:
    """Digits as printed; Chinese numerals converted; a letter upper-cased."""
    if token.isascii():
        return token.upper()
    value = cn_numeral_to_int(token)
    return str(value) if value is not None else token


def _clean_unit_text(raw: str) -> str:
    """Half-width text with confusable digits fixed and spaces dropped."""
    text = fix_digit_runs(to_halfwidth(raw))
    return re.sub(r"\s+", "", text)


def parse_unit_parts(raw: str | None, *, dashed: bool = True) -> dict[str, str]:
    """Read whatever of building / unit / room ``raw`` names (possibly only some of them).

    ``dashed=False`` ignores the short form ``3-2-1201``, which in running text
    is more often a date or a time (``10-08-06 11:23``) than a unit.
    """
    if not raw:
        return {}
    text = _clean_unit_text(raw)
    m = _DASHED.search(text) if dashed else None
    if m:
        return {"building": _unit_number(m.group(1)), "unit": m.group(2), "room": m.group(3)}
    parts: dict[str, str] = {}
    rest = text
    unit = _UNIT.search(text)
    if unit:
        parts["unit"] = _unit_number(unit.group(1))
        building = _last_match(_BUILDING, text[: unit.start()])
        rest = text[unit.end():]
    else:
        building = _BUILDING.search(text)
        if building and building.group(0).endswith("号") and not building.group(0).endswith("号楼"):
            building = None  # "1201号" names a room, not a building
        if building:
            rest = text[building.end():]
    if building:
        parts["building"] = _unit_number(building.group(1))
    room = _ROOM.search(rest) if (unit or building) else None
    if room:
        parts["room"] = room.group(1).upper()
    return parts


def _last_match(pattern: LazyPattern, text: str) -> re.Match[str] | None:
    """Return the last non-overlapping match of ``pattern`` in ``text``."""
    last = None
    for m in pattern.finditer(text):
        last = m
    return last


def require_unit_ref(text: str) -> UnitRef:
    """:func:`parse_unit_ref` of a unit a person typed; InvalidRequest when it names no whole unit."""
    from schemas.errors import InvalidRequest

    unit = parse_unit_ref(text)
    if unit is None:
        raise InvalidRequest(f"{text!r} is not building-unit-room, e.g. 3-2-1201 or 3栋2单元1201")
    return unit


def parse_unit_ref(raw: str | None) -> UnitRef | None:
    """Read building / unit / room from ``3栋2单元1201室``, ``3-2-1201``, ``三栋二单元1201``...

    Returns None unless all three parts are present.
    """
    parts = parse_unit_parts(raw)
    if len(parts) != 3:
        return None
    return UnitRef(**parts)


# --- money and areas ------------------------------------------------------------------

_NUMBER = LazyPattern(r"(?<![\d.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")
_CN_AMOUNT_CHARS = "零〇壹贰叁肆伍陆柒捌玖一二三四五六七八九两拾十佰百仟千万亿元圆角分整正"
_CN_AMOUNT = LazyPattern(rf"[{_CN_AMOUNT_CHARS}]{{2,}}")
_CN_SMALL_UNITS = {"拾": 10, "十": 10, "佰": 100, "百": 100, "仟": 1000, "千": 1000}
_CN_BIG_UNITS = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}


def format_decimal(value: Decimal) -> str:
    """Plain decimal string: no exponent, no trailing zeros after the point."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def normalize_decimal(raw: str | None) -> str | None:
    """First amount or area in ``raw`` as a plain decimal string (``"6832000"``, ``"56.62"``).

    Units, currency signs and thousands separators are dropped; ``万`` multiplies.
    Chinese upper-case amounts (陆佰捌拾叁万贰仟元整) are read when no digits are present.
    """
    if not raw:
        return None
    text = re.sub(r"RMB|CNY", "", to_halfwidth(raw), flags=re.IGNORECASE)
    text = fix_digit_runs(text)
    text = re.sub(r"(?<=\d)\s+(?=[\d.,])|(?<=[.,])\s+(?=\d)", "", text)
    text = re.sub(r"(?<=\d)，(?=\d{3})", ",", text)
    m = _NUMBER.search(text)
    if m:
        try:
            value = Decimal(m.group(1).replace(",", "") + (m.group(2) or ""))
        except InvalidOperation:
            return None
        if text[m.end():].lstrip().startswith("万"):
            value *= 10_000
        return format_decimal(value)
    return _cn_amount(text)


_UPPER_AMOUNT = LazyPattern(r"[零壹贰贰叁肆伍陆柒捌玖拾佰仟万亿元圆角分整正]{3,}")


def amount_in_words(raw: str | None) -> str | None:
    """Read an amount written in financial capitals (大写: ``陆佰捌拾叁万贰仟元整``) as a plain decimal.

    Only the capital digits count (壹贰叁...), so ordinary numerals in prose are not taken for an amount.
    """
    if not raw:
        return None
    m = _UPPER_AMOUNT.search(re.sub(r"\s+", "", unicodedata.normalize("NFKC", raw)))
    if not m or not re.search(r"[壹贰叁肆伍陆柒捌玖]", m.group(0)):
        return None
    return _cn_amount(m.group(0))


def _cn_amount(text: str) -> str | None:
    """Read a Chinese upper-case money amount (``陆佰捌拾叁万贰仟元整``)."""
    m = _CN_AMOUNT.search(text)
    if not m or not any(c in _CN_DIGITS for c in m.group(0)):
        return None
    total, section, digit = Decimal(0), Decimal(0), 0
    for ch in m.group(0):
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_SMALL_UNITS:
            section += (digit or 1) * _CN_SMALL_UNITS[ch]
            digit = 0
        elif ch in _CN_BIG_UNITS:
            total += (section + digit) * _CN_BIG_UNITS[ch]
            section, digit = Decimal(0), 0
        elif ch in "元圆":
            total, section, digit = total + section + digit, Decimal(0), 0
        elif ch == "角":
            total += Decimal(digit) / 10
            digit = 0
        elif ch == "分":
            total += Decimal(digit) / 100
            digit = 0
    total += section + digit
    return format_decimal(total) if total else None


# --- masking -----------------------------------------------------------------------------


def mask_id_number(value: str) -> str:
    """Keep the first 6 and last 4 characters: ``110101********7578``."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """Keep the first 3 and last 4 digits: ``138****5678`` (a landline keeps its dash)."""
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if len(digits) <= 7:
        return "".join("*" if ch.isdigit() else ch for ch in value)
    hidden = set(digits[3:-4])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(value))


def mask_address(value: str) -> str:
    """Keep the first 6 characters: ``北京市东城区****``."""
    keep = 6 if len(value) > 6 else len(value) // 2
    return value[:keep] + "****"


#: The 56 ethnic groups of China as printed on ID cards (without 族).
ETHNIC_GROUPS = (
    "汉", "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白", "土家", "哈尼",
    "哈萨克", "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水", "东乡", "纳西", "景颇", "柯尔克孜", "土",
    "达斡尔", "仫佬", "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌", "普米", "塔吉克", "怒", "乌孜别克",
    "俄罗斯", "鄂温克", "德昂", "保安", "裕固", "京", "塔塔尔", "独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺",
)
_ETHNIC_BY_LENGTH = sorted(ETHNIC_GROUPS, key=len, reverse=True)


def normalize_ethnicity(raw: str | None) -> str | None:
    """The ethnic group a text ends with (``民族汉`` -> ``汉``, ``蒙古族`` -> ``蒙古``), or None."""
    if not raw:
        return None
    text = re.sub(r"[^\u4e00-\u9fff]", "", raw)
    text = text[:-1] if text.endswith("族") and len(text) > 1 else text
    return next((g for g in _ETHNIC_BY_LENGTH if text.endswith(g)), None)

