"""Keys derived from a keyring entry (see :mod:`storage.keyring`); plain Python, no database.

A cold ``dangan search`` imports this (through :mod:`storage.blind`) without SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.crypto import KEY_BYTES, MasterKey

#: Prefix of every keyring entry id: field ciphertexts name their key by it (archive key ids are hex).
ENTRY_PREFIX = "k"


def _derive(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(ikm)


@dataclass(frozen=True)
class ShreddingKek:
    """The key that wraps one file's data key: derived from the master key's KEK AND the file's keyring entry.

    Satisfies :class:`storage.crypto.MasterKey`, so wrapping and unwrapping
    are :func:`storage.crypto.wrap_key` / ``unwrap_key`` as before.
    """

    master: MasterKey
    entry_id: str
    secret: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        """The master key's id (recorded beside the wrapped key, as for any data key)."""
        return self.master.key_id

    def kek(self, key_id: str | None = None) -> bytes:
        """HKDF of the master KEK and the entry's secret (WrongMasterKey when ``key_id`` names another master)."""
        return _derive(self.master.kek(key_id) + self.secret, b"dangan/v2/dek-wrap|" + self.entry_id.encode())


def entry_field_key(field_key: bytes, entry_id: str, secret: bytes) -> bytes:
    """The key of the sensitive field values of the file whose keyring entry is ``entry_id``."""
    return _derive(field_key + secret, b"dangan/v2/field|" + entry_id.encode())


def is_entry_id(key_id: str) -> bool:
    """Whether a recorded key id names a keyring entry (else an archive key or a master key)."""
    return key_id.startswith(ENTRY_PREFIX)


