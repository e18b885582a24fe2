"""Crash-safe file writes shared by the key file and the embedded object store."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

#: Prefix of in-flight temp files (hidden from listings).
TMP_PREFIX = ".tmp-"


def atomic_write(path: Path, data: bytes, *, exclusive: bool = False) -> bool:
    """Write ``data`` to ``path`` (mode 0600) via a fsynced temp file, rename and directory fsync.

    After a crash ``path`` holds the old or the new bytes, never a part. With
    ``exclusive`` an existing file is left alone and False is returned.
    """
    tmp = path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            try:
                os.link(tmp, path)  # fails if the file exists: never overwrite it
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_path(path.parent)
    return True


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a directory's entry changes (rename, unlink), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path, *, block: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file's bytes, read in blocks (1 MiB by default) so a large scan is never held whole."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()
