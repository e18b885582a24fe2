"""Object stores for sealed blobs: embedded local store and any S3 API (MinIO in production).

Stores only ever receive sealed blobs (see :mod:`storage.crypto`); ``put``
refuses anything without the ``DGNE`` magic. Keys are content-addressed by
the SHA-256 of the plaintext original (:func:`original_key`, :func:`ocr_key`).
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from schemas.errors import DiskFull, DiskUnwritable, NotFound, PlaintextRefused, StorageError
from schemas.models import StoredObject
from storage.crypto import ALGORITHM, MAGIC, DataKey, open_sealed, seal
from storage.files import atomic_write, fsync_path

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")
_META_SUFFIX = ".meta.json"

def original_key(sha256: str) -> str:
    """Object key of an original: ``originals/ab/<sha256>``."""
    return f"originals/{_check_sha(sha256)[:2]}/{sha256}"


def ocr_key(sha256: str) -> str:
    """Object key of a document's OCR result: ``ocr/ab/<sha256>.json``."""
    return f"ocr/{_check_sha(sha256)[:2]}/{sha256}.json"


def _check_sha(sha256: str) -> str:
    if not _SHA256_RE.match(sha256):
        raise ValueError("sha256 must be 64 lower-case hex digits")
    return sha256


def check_key(key: str) -> str:
    """Return ``key`` when it is a safe object key (no ``..``, no sidecar suffix), else ValueError."""
    if not _KEY_RE.match(key) or ".." in key or key.endswith(_META_SUFFIX):
        raise ValueError(f"invalid object key {key!r}")
    return key


def check_sealed(key: str, data: bytes) -> None:
    """Refuse ``data`` that is not a sealed blob (PlaintextRefused)."""
    if data[:4] != MAGIC:
        raise PlaintextRefused(f"Refusing to store {key}: the data is not sealed. Seal it with "
                               "storage.crypto.seal before handing it to an object store.")


#: errno values of a disk that is full or over quota.
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_error(error: OSError, where: Path) -> DiskUnwritable | None:
    """The StorageError for a write refused because the disk under ``where`` is full or read-only, else None.

    Such a failure is not retried within a run and never blames the file: it
    waits in the drop folder until the disk has room again.
    """
    if error.errno in _DISK_FULL_ERRNOS:
        return DiskFull(f"disk full under {where} ({error.strerror}): free some space, then run the same "
                        "command again; the files wait in the drop folder.")
    if error.errno == errno.EROFS:
        return DiskUnwritable(f"the disk under {where} is read-only: make it writable, then run the same "
                              "command again; the files wait in the drop folder.")
    return None


@runtime_checkable
class ObjectStore(Protocol):
    """Where sealed blobs live. Every method raises StorageError when the store fails."""

    def put(self, key: str, data: bytes, *, metadata: dict[str, str]) -> None:
        """Store ``data`` under ``key``, replacing any previous object (idempotent)."""
        ...

    def get(self, key: str) -> bytes:
        """Return the object's bytes; NotFound if absent."""
        ...

    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; no error if it is absent."""
        ...

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix``, in no guaranteed order."""
        ...

    def ready(self) -> None:
        """Check the store can be written now (StorageError / ConfigError when not)."""
        ...


# --------------------------------------------------------------------------- local


class LocalObjectStore:
    """Embedded store: one file per object under ``root`` plus a JSON metadata sidecar.

    Writes go to a hidden temp file, are fsynced and renamed into place, then the
    directory is fsynced: after a crash a key holds the old or the new blob,
    never a partial one. Left-over temp files are hidden from :meth:`list`.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"Cannot create the object store folder {root}: {e.strerror}.") from e

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    def ready(self) -> None:
        """Check the folder is writable."""
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"The object store folder {self.root} is not writable; check DANGAN_HOME.")

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes, *, metadata: dict[str, str]) -> None:
        """Atomically store ``data`` (metadata sidecar first, then the blob)."""
        path = self._path(key)
        check_sealed(key, data)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            meta = json.dumps(metadata, ensure_ascii=False, sort_keys=True).encode()
            atomic_write(path.with_name(path.name + _META_SUFFIX), meta)
            atomic_write(path, data)
        except OSError as e:
            raise disk_error(e, self.root) or StorageError(
                f"Cannot write object {key} under {self.root}: {e.strerror}. "
                "Check free disk space and permissions.") from e

    def get(self, key: str) -> bytes:
        """Read the blob stored under ``key``."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as e:
            raise NotFound(f"Object {key} is not in the store {self.root}.") from e
        except OSError as e:
            raise StorageError(f"Cannot read object {key}: {e.strerror}.") from e

    def metadata(self, key: str) -> dict[str, str]:
        """Return the metadata stored with ``key`` (empty when the sidecar is missing)."""
        path = self._path(key)
        try:
            return dict(json.loads(path.with_name(path.name + _META_SUFFIX).read_text("utf-8")))
        except FileNotFoundError:
            if not path.exists():
                raise NotFound(f"Object {key} is not in the store {self.root}.") from None
            return {}

    def exists(self, key: str) -> bool:
        """Tell whether the blob file exists."""
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove the blob, then its sidecar."""
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
            path.with_name(path.name + _META_SUFFIX).unlink(missing_ok=True)
            fsync_path(path.parent)
        except FileNotFoundError:
            return
        except OSError as e:
            raise disk_error(e, self.root) or StorageError(f"Cannot delete object {key}: {e.strerror}.") from e

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix``, skipping sidecars and temp files."""
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if rel == "." else rel + "/"
            if not (base.startswith(prefix) or prefix.startswith(base)):
                dirnames[:] = []
                continue
            for name in sorted(filenames):
                key = base + name
                if name.startswith(".") or name.endswith(_META_SUFFIX) or not key.startswith(prefix):
                    continue
                yield key


# --------------------------------------------------------------------------- sealed I/O


def store_sealed(store: ObjectStore, key: str, plaintext: bytes, dek: DataKey, *,
                 metadata: dict[str, str] | None = None) -> StoredObject:
    """Seal ``plaintext`` with ``dek`` for ``key`` and put it; returns what the index records."""
    blob = seal(plaintext, dek, object_key=key)
    meta = {"dek-id": dek.dek_id, "master-key-id": dek.master_key_id, "algorithm": ALGORITHM,
            **(metadata or {})}
    store.put(key, blob, metadata=meta)
    return StoredObject(key=key, size=len(blob), key_id=dek.dek_id, algorithm=ALGORITHM)


def load_sealed(store: ObjectStore, key: str, dek: DataKey) -> bytes:
    """Get the blob under ``key`` and open it (IntegrityError when it was altered)."""
    return open_sealed(store.get(key), dek, object_key=key)
