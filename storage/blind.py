"""Blind index (盲索引) and field encryption for the SQL index.

Nothing searchable is stored in plain text: search tokens and sensitive
values are stored as keyed HMACs, sensitive values additionally as AES-GCM
ciphertext (for display after an audited reveal).

Tokens: the text is NFKC-folded and lower-cased; runs of CJK ideographs give
unigrams and bigrams, runs of ASCII letters and digits give one word each.

Search tokens (layout 2, :class:`storage.tables.SearchDocRow`): a document's
OCR text gives CJK bigrams (a lone ideograph between digits gives itself) and
ASCII words; its field values give all of :func:`tokenize` plus kind tokens
whose prefix keeps them apart from words (``name:王伟``, ``id:<ID number>``,
``idtail4:1234`` / ``idtail5:`` / ``idtail6:`` for the last 4-6 characters of
every ID number, ``phone:<digits>``, ``contract:HT20230012``,
``unit:3-2-1201`` with its coarser forms, ``estate:锦绣花园``). Each is stored
as the first 5 bytes of its keyed HMAC in base32 (8 characters): the same
HMAC as :meth:`BlindIndex.token_hmac`, so an index of layout 1 converts without
the plain text.

The HMAC key and the field-encryption key are the archive's own random keys,
kept in the index wrapped by the master key (:class:`storage.keys.ArchiveKeys`):
rotating the master key re-wraps them and changes no hash and no ciphertext.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Callable
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from schemas.doctypes import fields_of_kind
from schemas.documents import ADDRESS_FIELDS, ID_NUMBER_FIELDS, PHONE_FIELDS
from schemas.errors import IntegrityError
from schemas.lazyre import LazyPattern
from schemas.validators import mask_address, mask_id_number, mask_phone
from storage.keys import ArchiveKeys
from storage.shred import entry_field_key, is_entry_id

#: Bytes of HMAC kept per search token (hex-encoded: 32 characters).
TOKEN_HMAC_BYTES = 16
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = LazyPattern(rf"[{_CJK}]+|[0-9a-z]+")
_QUERY_JUNK = LazyPattern(r"[\s\-()（）+]")
_ID_QUERY = LazyPattern(r"\d{17}[\dX]|\d{15}")
_PHONE_QUERY = LazyPattern(r"(?:86)?1[3-9]\d{9}|0\d{9,11}")

QueryKind = Literal["id_number", "phone"]

#: Bytes of HMAC kept per search token of layout 2 (base32: 8 characters).
SEARCH_TOKEN_BYTES = 5
#: Fields holding a person's or a party's name (a ``name:`` token each).
NAME_FIELDS = fields_of_kind("name", "party")
#: Fields holding a code such as a contract number (a ``contract:`` token each).
CODE_FIELDS = fields_of_kind("code")
#: How many trailing characters of an ID number get a tail token.
ID_TAIL_LENGTHS = (4, 5, 6)
_ID_WORD = LazyPattern(r"\d{17}[\dx]|\d{15}")
_MOBILE_WORD = LazyPattern(r"1[3-9]\d{9}")
_SPACES = LazyPattern(r"\s+")
_HAS_DIGIT = LazyPattern(r"\d")
_TOKEN_CACHE_SIZE = 200_000
_NOT_CODE = LazyPattern(r"[^0-9A-Z]")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def tokenize(text: str) -> set[str]:
    """Every search token of ``text``: CJK unigrams and bigrams, ASCII words."""
    tokens: set[str] = set()
    for run in _TOKEN_RE.findall(_fold(text)):
        if run[0].isascii():
            tokens.add(run)
            continue
        tokens.update(run)
        tokens.update(run[i:i + 2] for i in range(len(run) - 1))
    return tokens


def text_tokens(text: str) -> set[str]:
    """Search tokens of OCR text: CJK bigrams (a lone ideograph gives itself) and ASCII words.

    ID numbers and mobile numbers written in the text also give their kind tokens.
    """
    tokens: set[str] = set()
    for run in _TOKEN_RE.findall(_fold(text)):
        if run[0].isascii():
            tokens.add(run)
            if _ID_WORD.fullmatch(run):
                tokens |= id_number_tokens(run)
            elif _MOBILE_WORD.fullmatch(run):
                tokens.add(phone_token(run))
        elif len(run) == 1:
            tokens.add(run)
        else:
            tokens.update(run[i:i + 2] for i in range(len(run) - 1))
    return tokens


def id_number_tokens(value: str) -> set[str]:
    """``id:`` and ``idtail4/5/6:`` tokens of one ID number."""
    canonical = canonical_value("id_number", value)
    return {f"id:{canonical}", *(f"idtail{n}:{canonical[-n:]}" for n in ID_TAIL_LENGTHS if len(canonical) > n)}


def phone_token(value: str) -> str:
    """The ``phone:`` token of a phone number (digits only, without +86)."""
    return f"phone:{canonical_value('phone', value)}"


def name_token(value: str) -> str:
    """The ``name:`` token of a name as printed (NFKC, without spaces)."""
    return "name:" + _SPACES.sub("", _fold(value))


def contract_token(value: str) -> str:
    """The ``contract:`` token of a contract number: its letters and digits, upper-case."""
    return "contract:" + _NOT_CODE.sub("", unicodedata.normalize("NFKC", value).upper())


def estate_token(value: str) -> str:
    """The ``estate:`` token of an estate (小区) name."""
    return "estate:" + _SPACES.sub("", _fold(value))


def unit_part(value: str) -> str:
    """A building, unit or room as tokens compare it: half-width, upper-case, no leading zeros."""
    text = unicodedata.normalize("NFKC", value).strip().upper()
    return text.lstrip("0") or text


def unit_token(building: str | None = None, unit: str | None = None, room: str | None = None) -> str | None:
    """The one ``unit:`` token a (partial) unit reference is found by; None for a unit alone."""
    b, u, r = (unit_part(v) if v else "" for v in (building, unit, room))
    if b and u and r:
        return f"unit:{b}-{u}-{r}"
    if b and u:
        return f"unit:{b}-{u}"
    if b and r:
        return f"unit:{b}--{r}"
    if b:
        return f"unit:{b}"
    if r:
        return f"unit:--{r}"
    return None


def unit_tokens(building: str | None, unit: str | None, room: str | None) -> set[str]:
    """Every ``unit:`` token a document filed under this (partial) unit is found by."""
    forms = [(building, unit, room), (building, unit, None), (building, None, room), (building, None, None),
             (None, None, room)]
    return {t for b, u, r in forms if (t := unit_token(b, u, r)) is not None}


def field_tokens(name: str, value: str) -> set[str]:
    """Search tokens of one field value: its words (:func:`tokenize`) and the kind tokens of its field."""
    tokens = tokenize(value)
    if not value.strip():
        return tokens
    if name in ID_NUMBER_FIELDS:
        tokens |= id_number_tokens(value)
    elif name in PHONE_FIELDS:
        tokens.add(phone_token(value))
    elif name in NAME_FIELDS:
        tokens.add(name_token(value))
    elif name in CODE_FIELDS:
        tokens.add(contract_token(value))
    return tokens


def legacy_search_token(token_hmac_hex: str) -> str:
    """The layout-2 search token of a layout-1 ``search_tokens.token_hmac`` (same HMAC, shorter)."""
    return _b32(bytes.fromhex(token_hmac_hex[:2 * SEARCH_TOKEN_BYTES]))


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().lower()


def query_tokens(text: str) -> set[str]:
    """Return the tokens a query must all match: bigrams for CJK runs of 2+ (they imply the unigrams)."""
    tokens: set[str] = set()
    for run in _TOKEN_RE.findall(_fold(text)):
        if run[0].isascii() or len(run) == 1:
            tokens.add(run)
        else:
            tokens.update(run[i:i + 2] for i in range(len(run) - 1))
    return tokens


def classify_query(query: str) -> tuple[QueryKind, str] | None:
    """``("id_number"|"phone", canonical value)`` when the whole query is one, else None."""
    compact = _QUERY_JUNK.sub("", unicodedata.normalize("NFKC", query)).upper()
    if _ID_QUERY.fullmatch(compact):
        return "id_number", compact
    if _PHONE_QUERY.fullmatch(compact):
        return "phone", canonical_value("phone", compact)
    return None


def canonical_value(name: str, value: str) -> str:
    """Return the form of a sensitive value that is hashed (so lookups ignore spacing and dashes)."""
    text = unicodedata.normalize("NFKC", value).strip()
    if name in ID_NUMBER_FIELDS:
        return re.sub(r"\s", "", text).upper()
    if name in PHONE_FIELDS or name == "phone":
        digits = re.sub(r"\D", "", text)
        if len(digits) == 13 and digits.startswith("86"):
            digits = digits[2:]
        return digits or text
    return re.sub(r"\s+", " ", text)


def mask_value(name: str, value: str) -> str:
    """Return the display form of a sensitive value (``110101********7578``, ``138****5678``)."""
    if name in ID_NUMBER_FIELDS:
        return mask_id_number(value)
    if name in PHONE_FIELDS:
        return mask_phone(value)
    if name in ADDRESS_FIELDS:
        return mask_address(value)
    return "****"


class BlindIndex:
    """Keyed hashes and field encryption under the archive's keys."""

    def __init__(self, keys: ArchiveKeys, entry_secret: Callable[[str], bytes] | None = None) -> None:
        self._keys = keys
        self._token_cache: dict[str, str] = {}
        #: The secret of a keyring entry (``storage.keyring``), for values encrypted under a file's entry.
        self._entry_secret = entry_secret

    def __repr__(self) -> str:
        return f"BlindIndex(hmac_key_id={self._keys.hmac_key_id!r}, field_key_id={self._keys.field_key_id!r})"

    @property
    def hmac_key_id(self) -> str:
        """Id of the HMAC key."""
        return self._keys.hmac_key_id

    def token_hmac(self, token: str) -> str:
        """Return the truncated HMAC-SHA256 of one search token (32 hex digits)."""
        mac = hmac.new(self._keys.hmac_key, b"token|" + token.encode(), hashlib.sha256)
        return mac.digest()[:TOKEN_HMAC_BYTES].hex()

    def search_token(self, token: str) -> str:
        """Return the stored form of one search token: 5 bytes of its HMAC in base32 (8 characters).

        Tokens without digits (words, CJK bigrams: most of them recur from document to document)
        are remembered; tokens with digits (ID numbers, phones) never are.
        """
        cached = self._token_cache.get(token)
        if cached is not None:
            return cached
        mac = hmac.digest(self._keys.hmac_key, b"token|" + token.encode(), "sha256")
        stored = _b32(mac[:SEARCH_TOKEN_BYTES])
        if not _HAS_DIGIT.search(token):
            if len(self._token_cache) >= _TOKEN_CACHE_SIZE:
                self._token_cache.clear()
            self._token_cache[token] = stored
        return stored

    def search_tokens(self, tokens: set[str] | frozenset[str]) -> str:
        """The stored form of a set of search tokens: sorted, space-separated."""
        return " ".join(sorted({self.search_token(t) for t in tokens}))

    def value_hmac(self, canonical: str) -> str:
        """Return the full HMAC-SHA256 of a canonical sensitive value (64 hex digits)."""
        return hmac.new(self._keys.hmac_key, b"value|" + canonical.encode(), hashlib.sha256).hexdigest()

    def encrypt_value(self, value: str, *, context: str, entry: str | None = None) -> tuple[bytes, str]:
        """AES-256-GCM ciphertext (nonce first) of ``value`` bound to ``context``; and the key id.

        With ``entry`` (the keyring entry of the value's file) the key is derived
        from the archive's field key and that entry, and its id is the entry's:
        erasing the entry shreds the value in every copy of the index.
        """
        nonce = os.urandom(12)
        ct = AESGCM(self._field_key(entry or self._keys.field_key_id)).encrypt(nonce, value.encode(),
                                                                               context.encode())
        return nonce + ct, entry or self._keys.field_key_id

    def _field_key(self, key_id: str) -> bytes:
        if key_id == self._keys.field_key_id:
            return self._keys.field_key
        if is_entry_id(key_id) and self._entry_secret is not None:
            return entry_field_key(self._keys.field_key, key_id, self._entry_secret(key_id))
        raise IntegrityError(f"An encrypted field value names field key {key_id}, which this archive does not "
                             "hold (or whose keyring is not open).")

    def decrypt_value(self, blob: bytes, *, key_id: str, context: str) -> str:
        """Decrypt a value made by :meth:`encrypt_value`; IntegrityError if altered, moved or of another key.

        KeyDestroyed when the value's keyring entry was erased (its file destroyed).
        """
        key = self._field_key(key_id)
        try:
            plain = AESGCM(key).decrypt(blob[:12], blob[12:], context.encode())
        except (InvalidTag, ValueError) as e:
            raise IntegrityError(f"An encrypted field value failed authentication ({context}).") from e
        return plain.decode()
