"""Master keys (主密钥) and the sub-keys derived from them.

The master key file holds one or more 32-byte keys, concatenated, oldest
first. The newest key wraps new data keys and encrypts new field values; the
older ones still decrypt what they wrapped. Rotation appends a key
(:meth:`MasterKey.add_key`); nothing is ever re-ordered or removed by code.

Sub-keys come from HKDF-SHA256 with a distinct ``info`` per purpose, so a key
used for wrapping is never also used for hashing or field encryption.

The blind-index key (HMAC of ID numbers, phones and search tokens) is derived
from the *oldest* key in the ring: hashes must stay comparable across
rotations, and replacing it means re-indexing every document.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from schemas.errors import ConfigError
from storage.files import atomic_write

KEY_BYTES = 32

_INFO_KEK = b"dangan/v1/key-wrapping"
_INFO_INDEX_HMAC = b"dangan/v1/index-hmac"
_INFO_FIELD_ENC = b"dangan/v1/field-encryption"


def key_id_of(key: bytes) -> str:
    """Public identifier of a key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:16]


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(key)


class MasterKey:
    """A keyring of master keys; the newest one is used for new data."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ConfigError("The master key ring is empty; create a key file first.")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise ConfigError(f"A master key must be {KEY_BYTES} bytes long.")
        ring = {key_id_of(k): k for k in keys}
        self._ring: Mapping[str, bytes] = MappingProxyType(ring)
        self._newest_id = key_id_of(keys[-1])
        self._index_id = key_id_of(keys[0])

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self._newest_id!r}, keys={len(self._ring)})"

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        """Load the key file at ``path``; create it (0600, parent 0700) with one new key if absent."""
        if not path.exists():
            _write_key_file(path, os.urandom(KEY_BYTES), exclusive=True)
        return cls.load(path)

    @classmethod
    def load(cls, path: Path) -> MasterKey:
        """Load an existing key file; refuse one whose length is not a multiple of 32 bytes."""
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise ConfigError(f"Cannot read the master key file {path}: {e.strerror}. "
                              "Check DANGAN_MASTER_KEY_FILE and its permissions.") from e
        if not raw or len(raw) % KEY_BYTES:
            raise ConfigError(f"The master key file {path} has {len(raw)} bytes; expected a multiple "
                              f"of {KEY_BYTES}. It is damaged or not a dangan key file; "
                              "restore it from backup.")
        return cls([raw[i:i + KEY_BYTES] for i in range(0, len(raw), KEY_BYTES)])

    @classmethod
    def add_key(cls, path: Path) -> MasterKey:
        """Rotate: append a new random key to the key file (atomically) and return the new ring."""
        current = cls.load(path)
        raw = b"".join(current._ring.values()) + os.urandom(KEY_BYTES)
        _write_key_file(path, raw, exclusive=False)
        return cls.load(path)

    @property
    def key_id(self) -> str:
        """Id of the newest key (used for new data)."""
        return self._newest_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Ids of every key in the ring, oldest first."""
        return tuple(self._ring)

    @property
    def index_key_id(self) -> str:
        """Id of the key the blind index is derived from (the oldest)."""
        return self._index_id

    def _key(self, key_id: str) -> bytes:
        try:
            return self._ring[key_id]
        except KeyError:
            raise ConfigError(f"Master key {key_id} is not in the key ring; restore the key file "
                              "that contains it (DANGAN_MASTER_KEY_FILE).") from None

    def kek(self, key_id: str | None = None) -> bytes:
        """Key-encryption key for wrapping data keys (newest master key by default)."""
        return _derive(self._key(key_id or self._newest_id), _INFO_KEK)

    def field_key(self, key_id: str | None = None) -> bytes:
        """Key encrypting sensitive field values in the index (newest master key by default)."""
        return _derive(self._key(key_id or self._newest_id), _INFO_FIELD_ENC)

    def index_hmac_key(self) -> bytes:
        """HMAC key of the blind index (stable across rotations)."""
        return _derive(self._key(self._index_id), _INFO_INDEX_HMAC)


def _write_key_file(path: Path, raw: bytes, *, exclusive: bool) -> None:
    """Write the key file (mode 0600, parent 0700) atomically; ``exclusive`` never replaces one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, raw, exclusive=exclusive)
