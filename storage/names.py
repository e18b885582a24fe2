"""File names as dangan stores and shows them: ID numbers and phones masked, control characters escaped.

Scanner users often name a file after its owner (``王伟_110105199003071234_13800138000.png``).
The original file keeps its name in ``done/`` and ``quarantine/``; everywhere
else (the index, exports, the console, the batch summary, reason files) the
name goes through :func:`safe_name`, which masks ID numbers and phones the way
the index masks field values, and escapes characters that would break a line
or a terminal (newlines, escape sequences, bidirectional overrides, bytes that
are not UTF-8).
"""

from __future__ import annotations

import re
import unicodedata

from schemas.validators import mask_id_number, mask_phone

#: An 18-character ID number (the last may be X) or a 15-digit one, alone or split 6-8-4 by a space or dash.
_ID_NUMBER = re.compile(r"(?<!\d)(?:\d{6}[ -]?\d{8}[ -]?\d{3}[\dXxＸｘ]|\d{15})(?![\dXxＸｘ])")
#: A landline with its area code and dash, or an 11-digit number (a mobile when it starts 13-19),
#: optionally after +86 / 0086 / 86. Full-width digits count.
_PHONE = re.compile(
    r"(?<!\d)(?P<landline>0\d{2,3}-\d{7,8})(?!\d)"
    r"|(?<!\d)(?P<prefix>(?:\+|00)?86[ -]?)?(?P<number>\d{3}[ -]?\d{4}[ -]?\d{4})(?!\d)"
)
#: Unicode categories escaped when a name is shown or stored: controls, format characters
#: (bidirectional overrides, zero-width joiners), surrogates (bytes that were not UTF-8), line separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def mask_name(name: str) -> str:
    """``name`` with every ID number and phone number in it masked (``110105********1234``, ``138****8000``)."""
    masked = _ID_NUMBER.sub(lambda m: mask_id_number(_digits_only(m.group())), name)
    return _PHONE.sub(_mask_phone_match, masked)


def escape_controls(text: str) -> str:
    r"""``text`` with control and invisible format characters written as ``\n``, ``\x1b``, ``\u202e`` ...

    A surrogate left by a file name that is not valid UTF-8 is written as the
    byte it stands for (``\xff``).
    """
    if not any(unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in text):
        return text
    return "".join(_escape_char(ch) if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in text)


def safe_name(name: str) -> str:
    """A file name (or path) fit to store, print or export: ID numbers and phones masked, controls escaped."""
    return escape_controls(mask_name(name))


def one_line(text: str) -> str:
    """``text`` on one printable line: runs of whitespace (newlines too) become one space, controls escaped."""
    return escape_controls(" ".join(text.split()))


def _digits_only(value: str) -> str:
    return "".join(ch for ch in value if ch not in " -")


def _mask_phone_match(match: re.Match[str]) -> str:
    if match.group("landline"):
        return mask_phone(match.group("landline"))
    number = _digits_only(match.group("number"))
    if unicodedata.digit(number[0]) != 1 or unicodedata.digit(number[1]) < 3:
        return match.group()
    return (match.group("prefix") or "") + mask_phone(number)


def _escape_char(ch: str) -> str:
    code = ord(ch)
    simple = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch)
    if simple:
        return simple
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: a raw byte of a name that is not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
