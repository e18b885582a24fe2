"""Blind index (盲索引) and field encryption for the SQL index.

Nothing searchable is stored in plain text: search tokens and sensitive
values are stored as keyed HMACs, sensitive values additionally as AES-GCM
ciphertext (for display after an audited reveal).

Tokens: the text is NFKC-folded and lower-cased; runs of CJK ideographs give
unigrams and bigrams, runs of ASCII letters and digits give one word each.

The HMAC key and the field-encryption key are the archive's own random keys,
kept in the index wrapped by the master key (:class:`storage.keys.ArchiveKeys`):
rotating the master key re-wraps them and changes no hash and no ciphertext.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from schemas.documents import ADDRESS_FIELDS, ID_NUMBER_FIELDS, PHONE_FIELDS
from schemas.errors import IntegrityError
from schemas.validators import mask_address, mask_id_number, mask_phone
from storage.keys import ArchiveKeys

#: Bytes of HMAC kept per search token (hex-encoded: 32 characters).
TOKEN_HMAC_BYTES = 16
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]+|[0-9a-z]+")
_QUERY_JUNK = re.compile(r"[\s\-()（）+]")
_ID_QUERY = re.compile(r"\d{17}[\dX]|\d{15}")
_PHONE_QUERY = re.compile(r"(?:86)?1[3-9]\d{9}|0\d{9,11}")

QueryKind = Literal["id_number", "phone"]


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

    def __init__(self, keys: ArchiveKeys) -> None:
        self._keys = keys

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

    def value_hmac(self, canonical: str) -> str:
        """Return the full HMAC-SHA256 of a canonical sensitive value (64 hex digits)."""
        return hmac.new(self._keys.hmac_key, b"value|" + canonical.encode(), hashlib.sha256).hexdigest()

    def encrypt_value(self, value: str, *, context: str) -> tuple[bytes, str]:
        """AES-256-GCM ciphertext (nonce first) of ``value`` bound to ``context``; and the key id."""
        nonce = os.urandom(12)
        ct = AESGCM(self._keys.field_key).encrypt(nonce, value.encode(), context.encode())
        return nonce + ct, self._keys.field_key_id

    def decrypt_value(self, blob: bytes, *, key_id: str, context: str) -> str:
        """Decrypt a value made by :meth:`encrypt_value`; IntegrityError if altered, moved or of another key."""
        if key_id != self._keys.field_key_id:
            raise IntegrityError(f"An encrypted field value ({context}) names field key {key_id}, which this "
                                 "archive does not hold.")
        try:
            plain = AESGCM(self._keys.field_key).decrypt(blob[:12], blob[12:], context.encode())
        except (InvalidTag, ValueError) as e:
            raise IntegrityError(f"An encrypted field value failed authentication ({context}).") from e
        return plain.decode()
