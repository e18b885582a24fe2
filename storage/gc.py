"""Orphan objects: what the object store holds that no index row refers to, and collecting it.

An ingest seals and stores a file's objects first and commits its index rows
after; a run that dies in between leaves objects no row refers to (the next
run of the same file writes the same content-addressed keys again, so they
only stay orphaned when the file never comes back). A run killed inside a
write of the embedded store leaves a hidden temp file. Destroyed documents
leave their objects behind, undecryptable.

Collecting never races a running ingest, here or on another machine sharing
the store: nothing younger than the grace period is deleted, whatever the
index says, and an object whose age cannot be told is never deleted.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from schemas.errors import StorageError
from storage.files import TMP_PREFIX
from storage.objects import LocalObjectStore, ObjectStore

if TYPE_CHECKING:
    from storage.s3 import S3ObjectStore

#: Default grace period: an ingest commits its rows seconds after writing its objects.
DEFAULT_GRACE = dt.timedelta(hours=24)
_META_SUFFIX = ".meta.json"

OrphanKind = Literal["object", "temp"]


@dataclass(frozen=True)
class Orphan:
    """One stored object (or a left-over temp file of the embedded store) no index row refers to."""

    key: str
    kind: OrphanKind
    size: int | None
    modified: dt.datetime | None


@dataclass(frozen=True)
class OrphanReport:
    """Orphans old enough to collect, and those kept because they are younger than the grace period."""

    collectable: list[Orphan] = field(default_factory=list)
    kept: list[Orphan] = field(default_factory=list)

    @property
    def collectable_bytes(self) -> int:
        """Bytes the collectable orphans take (where known)."""
        return sum(o.size or 0 for o in self.collectable)


def find_orphans(store: ObjectStore, referenced: set[str], *, grace: dt.timedelta = DEFAULT_GRACE,
                 now: dt.datetime | None = None) -> OrphanReport:
    """Orphans in ``store``: keys not in ``referenced`` (the index's :meth:`Index.object_keys`).

    Read the index *before* calling this: an object written after that read
    is young and therefore kept.
    """
    if grace < dt.timedelta(0):
        raise ValueError("the grace period cannot be negative")
    cutoff = (now or dt.datetime.now(dt.UTC)) - grace
    report = OrphanReport()
    for orphan in _entries(store):
        if orphan.kind == "object" and orphan.key in referenced:
            continue
        old = orphan.modified is not None and orphan.modified <= cutoff
        (report.collectable if old else report.kept).append(orphan)
    return report


def delete_orphans(store: ObjectStore, orphans: Iterable[Orphan]) -> int:
    """Delete ``orphans`` (from :func:`find_orphans`); returns how many were deleted."""
    deleted = 0
    for orphan in orphans:
        if orphan.kind == "temp" and isinstance(store, LocalObjectStore):
            try:
                (store.root / orphan.key).unlink(missing_ok=True)
            except OSError as e:
                raise StorageError(f"Cannot delete {orphan.key} under {store.root}: {e.strerror}.") from e
        else:
            store.delete(orphan.key)
        deleted += 1
    return deleted


def _entries(store: ObjectStore) -> Iterator[Orphan]:
    """Every object of ``store`` with its size and time (temp files too, for the embedded store)."""
    if isinstance(store, LocalObjectStore):
        yield from _local_entries(store.root)
        return
    from storage.s3 import S3ObjectStore

    if isinstance(store, S3ObjectStore):
        yield from _s3_entries(store)
        return
    for key in store.list(""):  # an unknown store: no age, so nothing is ever collectable
        yield Orphan(key=key, kind="object", size=None, modified=None)


def _local_entries(root: Path) -> Iterator[Orphan]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        folder = Path(dirpath)
        for name in sorted(filenames):
            path = folder / name
            kind: OrphanKind
            if name.startswith(TMP_PREFIX):
                kind = "temp"
            elif name.endswith(_META_SUFFIX) and path.with_name(name[: -len(_META_SUFFIX)]).exists():
                continue  # the sidecar of a blob: goes with it
            elif name.endswith(_META_SUFFIX) or name.startswith("."):
                kind = "temp"  # a sidecar whose blob write never finished
            else:
                kind = "object"
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            yield Orphan(key=path.relative_to(root).as_posix(), kind=kind, size=st.st_size,
                         modified=dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))


def _s3_entries(store: S3ObjectStore) -> Iterator[Orphan]:
    from minio.error import MinioException
    from urllib3.exceptions import HTTPError

    store.ensure_bucket()
    try:
        for obj in store._client.list_objects(store.bucket, recursive=True):  # listing with times and sizes
            if obj.object_name is None:
                continue
            modified = obj.last_modified
            if modified is not None and modified.tzinfo is None:
                modified = modified.replace(tzinfo=dt.UTC)
            yield Orphan(key=obj.object_name, kind="object", size=obj.size, modified=modified)
    except (MinioException, HTTPError) as e:
        raise StorageError(f"Cannot list bucket {store.bucket!r} at {store.endpoint} ({type(e).__name__}): "
                           "check that the server is up and reachable.") from e
