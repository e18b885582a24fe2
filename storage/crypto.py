"""Envelope encryption (信封加密) of stored objects.

Every document gets its own data key (DEK). Objects are sealed with the DEK
(AES-256-GCM); the DEK is wrapped by a key-encryption key and kept in the SQL
index, never beside the object. Since the keyring exists that key is derived
from the master key AND the file's keyring entry (``storage.keyring``), so
erasing the entry (crypto-shredding) makes every copy of the document's
objects undecryptable, even with a copy of the index taken before.

Rotating the master key re-wraps the DEKs (:func:`rewrap_key`) and leaves the
objects alone: the master key id in a blob's header (and in the object's
metadata) then names the key that wrapped its DEK when it was sealed, not
the current one. The index is authoritative for which master key wraps what.

Sealed blob layout (version 1, all integers big-endian)::

    b"DGNE" | version u8 | algorithm u8 | dek_id 16 B | master key id 8 B | nonce 12 B
    | ciphertext + 16-byte GCM tag

The 42-byte header and the object key are the GCM associated data, so a
header cannot be edited and a blob cannot be moved under another object key.
Sealing works in memory: fine up to ~200 MB (measured: 200 MiB sealed in ~1 s,
opened in ~1.7 s, peak ~3-4x the object size in RAM); larger originals would
need chunked sealing (a version 2 blob).
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass, field, replace
from typing import Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from schemas.errors import IntegrityError


class MasterKey(Protocol):
    """What sealing needs of a master key (``storage.keys.MasterKey`` is the one implementation)."""

    @property
    def key_id(self) -> str:
        """Id of the key that wraps new data keys."""
        ...

    def kek(self, key_id: str | None = None) -> bytes:
        """Key-encryption key of the master key ``key_id`` (the current one by default)."""
        ...

#: Length of every key: master keys, data keys, archive keys (AES-256, HMAC-SHA256).
KEY_BYTES = 32

MAGIC = b"DGNE"
VERSION = 1
ALGORITHM: Final = "AES-256-GCM"
_ALG_CODES = {ALGORITHM: 1}
_HEADER = struct.Struct(">4sBB16s8s12s")
HEADER_BYTES = _HEADER.size
NONCE_BYTES = 12
TAG_BYTES = 16


@dataclass(frozen=True)
class DataKey:
    """A plaintext data key (DEK) and the master key that wraps it; lives only in memory."""

    dek_id: str
    master_key_id: str
    key: bytes = field(repr=False)

    @classmethod
    def generate(cls, master: MasterKey) -> DataKey:
        """Make a fresh random 256-bit data key, to be wrapped by the newest key of ``master``."""
        return cls(dek_id=uuid.uuid4().hex, master_key_id=master.key_id, key=os.urandom(KEY_BYTES))


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under a master key (what the index stores)."""

    dek_id: str
    master_key_id: str
    algorithm: str
    wrapped: bytes = field(repr=False)
    #: The keyring entry the wrapping key is derived from too (``storage.keyring``); None: the master key alone.
    keyring_id: str | None = None


@dataclass(frozen=True)
class SealedHeader:
    """The readable header of a sealed blob."""

    version: int
    algorithm: str
    dek_id: str
    master_key_id: str
    nonce: bytes


def _wrap_aad(dek_id: str, master_key_id: str) -> bytes:
    return f"dangan-dek/v1|{dek_id}|{master_key_id}".encode()


def wrap_key(dek: DataKey, master: MasterKey) -> WrappedKey:
    """Wrap ``dek`` with its master key (AES-256-GCM, dek and master key ids as associated data)."""
    nonce = os.urandom(NONCE_BYTES)
    aad = _wrap_aad(dek.dek_id, dek.master_key_id)
    ct = AESGCM(master.kek(dek.master_key_id)).encrypt(nonce, dek.key, aad)
    return WrappedKey(dek_id=dek.dek_id, master_key_id=dek.master_key_id, algorithm=ALGORITHM,
                      wrapped=nonce + ct)


def unwrap_key(wrapped: WrappedKey, master: MasterKey) -> DataKey:
    """Recover the data key; IntegrityError when the wrapped bytes or ids were altered."""
    if wrapped.algorithm != ALGORITHM:
        raise IntegrityError(f"Data key {wrapped.dek_id} uses unknown algorithm {wrapped.algorithm!r}.")
    kek = master.kek(wrapped.master_key_id)
    nonce, ct = wrapped.wrapped[:NONCE_BYTES], wrapped.wrapped[NONCE_BYTES:]
    try:
        key = AESGCM(kek).decrypt(nonce, ct, _wrap_aad(wrapped.dek_id, wrapped.master_key_id))
    except (InvalidTag, ValueError) as e:
        raise IntegrityError(f"Data key {wrapped.dek_id} failed authentication: the key ring or the "
                             "index row was altered.") from e
    return DataKey(dek_id=wrapped.dek_id, master_key_id=wrapped.master_key_id, key=key)


def rewrap_key(wrapped: WrappedKey, old: MasterKey, new: MasterKey) -> WrappedKey:
    """The same data key wrapped by ``new`` instead of ``old`` (the objects it seals stay as they are)."""
    dek = unwrap_key(wrapped, old)
    fresh = wrap_key(DataKey(dek_id=dek.dek_id, master_key_id=new.key_id, key=dek.key), new)
    return replace(fresh, keyring_id=wrapped.keyring_id)


def wrap_secret(secret: bytes, master: MasterKey, *, label: str) -> bytes:
    """Encrypt a small secret (an archive key, a backup key) under the master key; ``label`` is bound to it.

    The label should name what the secret is and the master key id, so a
    wrapped secret cannot be passed off as another.
    """
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master.kek()).encrypt(nonce, secret, label.encode())


def unwrap_secret(blob: bytes, master: MasterKey, *, label: str) -> bytes | None:
    """Decrypt a :func:`wrap_secret` blob; None when the master key or the label do not match it."""
    try:
        return AESGCM(master.kek()).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], label.encode())
    except (InvalidTag, ValueError):
        return None


def _pack_header(dek: DataKey, nonce: bytes) -> bytes:
    return _HEADER.pack(MAGIC, VERSION, _ALG_CODES[ALGORITHM], uuid.UUID(hex=dek.dek_id).bytes,
                        bytes.fromhex(dek.master_key_id), nonce)


def read_header(blob: bytes) -> SealedHeader:
    """Parse the header of a sealed blob (not yet authenticated)."""
    if len(blob) < HEADER_BYTES + TAG_BYTES or blob[:4] != MAGIC:
        raise IntegrityError("The object is not a dangan sealed blob (bad magic or too short).")
    _magic, version, alg, dek_id, mk_id, nonce = _HEADER.unpack_from(blob)
    if version != VERSION or alg not in _ALG_CODES.values():
        raise IntegrityError(f"Sealed blob version {version}/algorithm {alg} is not supported; "
                             "upgrade dangan.")
    return SealedHeader(version=version, algorithm=ALGORITHM, dek_id=uuid.UUID(bytes=dek_id).hex,
                        master_key_id=mk_id.hex(), nonce=nonce)


def _aad(header: bytes, object_key: str) -> bytes:
    return header + object_key.encode("utf-8")


def seal(plaintext: bytes, dek: DataKey, *, object_key: str) -> bytes:
    """Encrypt ``plaintext`` for storage under ``object_key``; returns a self-describing blob."""
    nonce = os.urandom(NONCE_BYTES)
    header = _pack_header(dek, nonce)
    return header + AESGCM(dek.key).encrypt(nonce, plaintext, _aad(header, object_key))


def open_sealed(blob: bytes, dek: DataKey, *, object_key: str) -> bytes:
    """Decrypt a blob made by :func:`seal`; IntegrityError on any tampering, wrong key or wrong object key."""
    info = read_header(blob)
    if info.dek_id != dek.dek_id:
        raise IntegrityError(f"Object {object_key} was sealed with data key {info.dek_id}, "
                             f"not {dek.dek_id}.")
    header = blob[:HEADER_BYTES]
    try:
        body = memoryview(blob)[HEADER_BYTES:]  # no 2nd copy of a large blob
        return AESGCM(dek.key).decrypt(info.nonce, body, _aad(header, object_key))
    except InvalidTag as e:
        raise IntegrityError(f"Object {object_key} failed authentication: it was altered, "
                             "moved from another key, or the data key is wrong.") from e
