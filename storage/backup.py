"""Backup and restore (备份与恢复) of a whole archive: index, objects, and a manifest that proves both.

A backup folder ``DEST`` holds::

    manifest.json               what the backup holds: SHA-256 and size of every file, row counts; HMAC-authenticated
    index-<backup id>.dgb       every table of the index as JSON lines, zlib-compressed, AES-256-GCM in 1 MiB chunks
    objects/<object key>        the sealed objects, byte for byte (they are encrypted already)

Each backup has its own random key, wrapped in the manifest by the master
key's key-encryption key (AES-GCM, bound to the backup id and master key
id). It encrypts the index file, and the manifest's HMAC key is derived from
it: without the master key nothing in a backup can be read, and no file (the
manifest included) can be changed, swapped, cut short or left out unnoticed.
A backup opens only with the master key it was made under; after a key
rotation, older backups need the old key.

Backups are incremental per folder: an object already in ``DEST`` with the
size and data key the previous manifest recorded is not copied again. The
index file and the manifest are replaced on every run, the manifest last and
atomically, so an interrupted run leaves the previous backup intact.

The master key is NOT in the backup; keep it apart (see README, Keys). The
keyring entries of the live files ARE (storage/keyring.py), inside the index
file under the backup key: a restore needs them. Documents destroyed before a
backup stay undecryptable in it: their keyring entry is gone and their data
key shredded. A backup taken BEFORE a destruction still holds the entry, so
it can bring the document back: that is the one window left, and it closes
when those backups are deleted (keep backups for a fixed period; the
destruction record says since when its documents are gone from new backups).
Files stored before the keyring depend on the master key alone: rotating it
after a destruction and discarding the old key with its old backups closes
that door too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import DateTime, LargeBinary, Table, delete, func, insert, inspect, select, text
from sqlalchemy.orm import Session

from schemas.errors import ArchiveExists, BackupDamaged, ConfigError, IntegrityError, StorageError, WrongMasterKey
from storage.crypto import ALGORITHM, KEY_BYTES, read_header, unwrap_secret, wrap_secret
from storage.files import atomic_write, file_sha256, fsync_path
from storage.objects import check_key
from storage.tables import DERIVED_TABLES, SCHEMA_VERSION, ArchiveKeyRow, Base, MetaRow

if TYPE_CHECKING:
    from schemas.settings import Settings
    from storage.index import Index
    from storage.keys import MasterKey
    from storage.objects import ObjectStore

MANIFEST = "manifest.json"
OBJECTS = "objects"
FORMAT = "dangan-backup"
VERSION = 1
#: Name of the index file's lines that carry a keyring entry (not a table).
KEYRING_LINE = "@keyring"
#: Left in DANGAN_HOME while a restore runs; a restore of the same backup may then resume.
RESTORE_MARKER = ".restore-in-progress"

_MAGIC = b"DGNB"
_FILE_HEADER = struct.Struct(">4sB16s")
_FRAME = struct.Struct(">I")
_CHUNK = 1 << 20
_ROWS_PER_INSERT = 1000
_INFO_MANIFEST = b"dangan/v1/backup-manifest"
#: Tables a fresh home may already fill before a restore (schema version, key records); restore replaces them.
_SETUP_TABLES = frozenset({MetaRow.__tablename__, ArchiveKeyRow.__tablename__})


@dataclass
class BackupReport:
    """What ``backup`` wrote."""

    dest: Path
    backup_id: str
    objects: int = 0
    copied: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    #: Objects the index refers to that the store does not hold, or holds sealed with another data key
    #: (re-archived while the backup ran): the backup cannot restore those documents.
    missing: list[str] = field(default_factory=list)
    #: Tables in the database that dangan does not know (not backed up).
    unknown_tables: list[str] = field(default_factory=list)


@dataclass
class VerifyReport:
    """What a verified backup holds."""

    backup_id: str
    created_at: str
    master_key_id: str
    objects: int
    rows: dict[str, int]


@dataclass
class RestoreReport:
    """What ``restore`` put back."""

    backup_id: str
    objects: int
    rows: dict[str, int]
    resumed: bool = False


# --------------------------------------------------------------------------- backup


def backup(index: Index, store: ObjectStore, master: MasterKey, dest: Path) -> BackupReport:
    """Write a backup of the archive (index ``index``, objects in ``store``) into the folder ``dest``."""
    root = getattr(store, "root", None)
    if isinstance(root, Path) and dest.resolve().is_relative_to(root.resolve()):
        raise ConfigError(f"The backup folder {dest} lies inside the object store {root}; choose a folder outside "
                          "DANGAN_HOME, ideally on another disk.")
    try:
        dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        (dest / OBJECTS).mkdir(mode=0o700, exist_ok=True)
    except OSError as e:
        raise StorageError(f"Cannot create the backup folder {dest}: {e.strerror}.") from e
    previous = _previous_entries(dest, master)
    backup_id = uuid.uuid4().hex
    backup_key = os.urandom(KEY_BYTES)
    report = BackupReport(dest=dest, backup_id=backup_id)
    index_name = f"index-{backup_id}.dgb"

    tmp = dest / f".tmp-{index_name}"
    try:
        with tmp.open("wb") as f:
            os.fchmod(f.fileno(), 0o600)
            snapshot = _dump_index(index, f, backup_key, backup_id, master)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(dest / index_name)
        fsync_path(dest)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"Cannot write the index backup in {dest}: {e.strerror}.") from e
    report.rows = snapshot.rows
    report.unknown_tables = snapshot.unknown_tables

    objects: dict[str, dict[str, Any]] = {}
    for key in sorted(store.list("")):
        entry, copied = _backup_object(store, key, dest, previous.get(key), snapshot.referenced.get(key))
        objects[key] = entry
        report.copied += copied
    report.objects = len(objects)
    # an object the index refers to must be in the backup, sealed with the data key the index holds for it
    report.missing = sorted(key for key, dek_id in snapshot.referenced.items()
                            if key not in objects or objects[key]["dek_id"] != dek_id)

    manifest: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "backup_id": backup_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "master_key_id": master.key_id, "algorithm": ALGORITHM,
        "wrapped_key": base64.b64encode(wrap_secret(backup_key, master, label=_key_label(backup_id,
                                                                                         master.key_id))).decode(),
        "index": {"file": index_name, "sha256": snapshot.sha256, "size": snapshot.size, "rows": snapshot.rows,
                  "schema_version": snapshot.schema_version, "dialect": index.dialect,
                  "keyring_id": index.keyring.keyring_id if index.keyring is not None else None,
                  "keyring_entries": snapshot.keyring_entries},
        "objects": objects,
    }
    manifest["mac"] = _mac(backup_key, manifest)
    try:
        atomic_write(dest / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode())
    except OSError as e:
        raise StorageError(f"Cannot write {dest / MANIFEST}: {e.strerror}.") from e
    for old in dest.glob("index-*.dgb"):
        if old.name != index_name:
            old.unlink(missing_ok=True)
    return report


def _backup_object(store: ObjectStore, key: str, dest: Path, before: Mapping[str, Any] | None,
                   dek_id: str | None) -> tuple[dict[str, Any], int]:
    """The manifest entry of one object; copies it unless the previous backup holds the same one."""
    path = _object_path(dest, key)
    if (before is not None and path.is_file() and path.stat().st_size == before.get("size")
            and (dek_id is None or before.get("dek_id") == dek_id)):
        return dict(before), 0
    blob = store.get(key)
    header = read_header(blob)
    metadata_of = getattr(store, "metadata", None)
    metadata = dict(metadata_of(key)) if callable(metadata_of) else {}
    metadata = metadata or {"dek-id": header.dek_id, "master-key-id": header.master_key_id,
                            "algorithm": header.algorithm}
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, blob)
    except OSError as e:
        raise StorageError(f"Cannot write {path}: {e.strerror}. Check free space in the backup folder.") from e
    return {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob), "dek_id": header.dek_id,
            "metadata": metadata}, 1


def _previous_entries(dest: Path, master: MasterKey) -> dict[str, dict[str, Any]]:
    """Object entries of the backup already in ``dest`` (empty when there is none or it does not authenticate)."""
    if not (dest / MANIFEST).exists():
        return {}
    try:
        manifest = _read_manifest(dest)
        if manifest.get("master_key_id") != master.key_id:
            raise ConfigError(f"{dest} holds a backup made under another master key "
                              f"({manifest.get('master_key_id')}); back up into another folder.")
        _authenticate(manifest, master)
    except BackupDamaged:
        return {}  # copy everything again: the new manifest replaces the damaged one
    return dict(manifest["objects"])


# --------------------------------------------------------------------------- index snapshot


@dataclass
class _Snapshot:
    sha256: str
    size: int
    rows: dict[str, int]
    schema_version: str
    #: Object key -> id of the data key the index says seals it.
    referenced: dict[str, str]
    unknown_tables: list[str]
    #: Keyring entries of the files the snapshot holds (their secrets are in the index file).
    keyring_entries: int = 0


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def _dump_index(index: Index, out: IO[bytes], key: bytes, backup_id: str, master: MasterKey) -> _Snapshot:
    """Write every table, read in ONE transaction (a consistent snapshot), as an encrypted stream.

    Then the keyring entries of the snapshot's live data keys (:data:`KEYRING_LINE` lines): a restore needs
    them, and the backup key protects them like the rest of the file. An entry erased since the snapshot
    (a destruction meanwhile) is left out: that file stays shredded in this backup too.
    """
    writer = _SealedWriter(out, key, backup_id)
    rows: dict[str, int] = {}
    referenced: dict[str, str] = {}
    entries: set[str] = set()
    schema_version = SCHEMA_VERSION
    with index.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            present = set(inspect(conn).get_table_names())
            tables = [t for t in _tables() if t.name in present]
            unknown = sorted(present - {t.name for t in _tables()} - DERIVED_TABLES)  # FTS5: rebuilt on restore
            writer.write_line({"format": FORMAT, "version": VERSION,
                               "tables": {t.name: [c.name for c in t.columns] for t in tables}})
            for table in tables:
                count = 0
                order = list(table.primary_key.columns) or list(table.columns)
                result = conn.execution_options(yield_per=_ROWS_PER_INSERT).execute(select(table).order_by(*order))
                for row in result:
                    mapping = row._mapping
                    writer.write_line([table.name, [_encode(mapping[c]) for c in table.columns]])
                    count += 1
                    if table.name == "files":
                        referenced[mapping["original_key"]] = mapping["dek_id"]
                        referenced[mapping["ocr_key"]] = mapping["dek_id"]
                    elif table.name == MetaRow.__tablename__ and mapping["key"] == "schema_version":
                        schema_version = mapping["value"]
                    elif table.name == "data_keys" and mapping.get("keyring_id") and mapping["wrapped"]:
                        entries.add(mapping["keyring_id"])
                rows[table.name] = count
    if entries and index.keyring is None:
        raise ConfigError("The archive's keyring must be open to back it up.")
    kept = 0
    if index.keyring is not None:
        for entry_id, secret in index.keyring.export(entries, master):
            writer.write_line([KEYRING_LINE, [entry_id, base64.b64encode(secret).decode()]])
            kept += 1
    writer.close()
    return _Snapshot(writer.sha256.hexdigest(), writer.size, rows, schema_version, referenced, unknown, kept)


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _decoders(table: Table) -> dict[str, Callable[[Any], Any]]:
    """Column name -> function turning its JSON value back into what the column takes."""
    def binary(v: Any) -> Any:
        return None if v is None else base64.b64decode(v)

    def stamp(v: Any) -> Any:
        if v is None:
            return None
        at = dt.datetime.fromisoformat(v)
        return at if at.tzinfo else at.replace(tzinfo=dt.UTC)  # SQLite keeps UTC without a zone

    def same(v: Any) -> Any:
        return v

    return {c.name: binary if isinstance(c.type, LargeBinary) else stamp if isinstance(c.type, DateTime) else same
            for c in table.columns}


class _SealedWriter:
    """zlib-compressed lines, sealed in AES-256-GCM chunks; the last chunk is marked final."""

    def __init__(self, out: IO[bytes], key: bytes, backup_id: str) -> None:
        self._out = out
        self._aead = AESGCM(key)
        self._header = _FILE_HEADER.pack(_MAGIC, VERSION, uuid.UUID(hex=backup_id).bytes)
        self._zip = zlib.compressobj(6)
        self._buffer = bytearray()
        self._counter = 0
        self.sha256 = hashlib.sha256()
        self.size = 0
        self._emit(self._header)

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self.sha256.update(data)
        self.size += len(data)

    def write_line(self, value: Any) -> None:
        self._buffer += self._zip.compress(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
                                           + b"\n")
        while len(self._buffer) >= _CHUNK:
            self._seal(bytes(self._buffer[:_CHUNK]), final=False)
            del self._buffer[:_CHUNK]

    def close(self) -> None:
        self._buffer += self._zip.flush()
        self._seal(bytes(self._buffer), final=True)
        self._buffer.clear()

    def _seal(self, chunk: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._counter), chunk, _chunk_aad(self._header, self._counter, final))
        self._emit(_FRAME.pack(len(sealed)) + sealed)
        self._counter += 1


def _nonce(counter: int) -> bytes:
    return struct.pack(">Q", counter) + b"\0\0\0\0"  # a fresh key per backup: a counter nonce never repeats


def _chunk_aad(header: bytes, counter: int, final: bool) -> bytes:
    return header + struct.pack(">QB", counter, int(final))


def _read_index(path: Path, key: bytes, backup_id: str) -> Iterator[Any]:
    """The lines of an index file; BackupDamaged when any chunk fails authentication or the end is missing."""
    name = path.name
    header = _FILE_HEADER.pack(_MAGIC, VERSION, uuid.UUID(hex=backup_id).bytes)
    unzip = zlib.decompressobj()
    pending = b""
    with path.open("rb") as f:
        if f.read(len(header)) != header:
            raise BackupDamaged(f"Backup file {name} is not the index of this backup (bad header).")
        counter, final = 0, False
        while not final:
            size_bytes = f.read(_FRAME.size)
            if len(size_bytes) < _FRAME.size:
                raise BackupDamaged(f"Backup file {name} is cut short.")
            (size,) = _FRAME.unpack(size_bytes)
            sealed = f.read(size)
            if len(sealed) < size:
                raise BackupDamaged(f"Backup file {name} is cut short.")
            chunk = None
            for last in (False, True):
                try:
                    chunk = AESGCM(key).decrypt(_nonce(counter), sealed, _chunk_aad(header, counter, last))
                    final = last
                    break
                except InvalidTag:
                    continue
            if chunk is None:
                raise BackupDamaged(f"Backup file {name} failed authentication (altered) at chunk {counter}.")
            counter += 1
            pending += unzip.decompress(chunk)
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield json.loads(line)
        if f.read(1):
            raise BackupDamaged(f"Backup file {name} has data after its end.")
    if pending.strip() or not unzip.eof:
        raise BackupDamaged(f"Backup file {name} does not end where it should.")


# --------------------------------------------------------------------------- manifest


def _key_label(backup_id: str, master_key_id: str) -> str:
    return f"dangan-backup/v1|{backup_id}|{master_key_id}"


def _mac(backup_key: bytes, manifest: Mapping[str, Any]) -> str:
    mac_key = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_INFO_MANIFEST).derive(backup_key)
    body = json.dumps({k: v for k, v in manifest.items() if k != "mac"}, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()
    return hmac.new(mac_key, body, hashlib.sha256).hexdigest()


def _read_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise BackupDamaged(f"{src} holds no backup ({MANIFEST} is missing).") from None
    except (OSError, ValueError) as e:
        raise BackupDamaged(f"{path} cannot be read as a backup manifest ({type(e).__name__}).") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupDamaged(f"{path} is not a dangan backup manifest.")
    if manifest.get("version") != VERSION:
        raise BackupDamaged(f"{path} is a version {manifest.get('version')} backup; this dangan reads version "
                            f"{VERSION}.")
    return manifest


def _authenticate(manifest: Mapping[str, Any], master: MasterKey) -> bytes:
    """The backup key, once the manifest is proven authentic under ``master``."""
    made_under = manifest.get("master_key_id")
    if made_under != master.key_id:
        raise WrongMasterKey(f"This backup was made under master key {made_under}; the loaded master key is "
                             f"{master.key_id}. Use the key the backup was made under (from your key backup).")
    try:
        wrapped = base64.b64decode(str(manifest.get("wrapped_key", "")), validate=True)
        backup_id = str(manifest["backup_id"])
    except (ValueError, KeyError) as e:
        raise BackupDamaged("The backup manifest was altered (its key record is unreadable).") from e
    key = unwrap_secret(wrapped, master, label=_key_label(backup_id, master.key_id))
    if key is None or not hmac.compare_digest(_mac(key, manifest), str(manifest.get("mac", ""))):
        raise BackupDamaged("The backup manifest was altered: it does not authenticate under the master key.")
    return key


def _object_path(root: Path, key: str) -> Path:
    try:
        return root / OBJECTS / Path(*check_key(key).split("/"))
    except ValueError as e:
        raise BackupDamaged(f"The backup names an invalid object key {key!r}.") from e


# --------------------------------------------------------------------------- verify


def verify(src: Path, master: MasterKey) -> VerifyReport:
    """Check a backup completely: manifest authenticity, every file's SHA-256, the index decrypts whole.

    WrongMasterKey (exit 6) when ``master`` is not the key it was made
    under; BackupDamaged (exit 10) naming the first problem otherwise.
    """
    manifest = _read_manifest(src)
    key = _authenticate(manifest, master)
    problems: list[str] = []
    info = manifest["index"]
    index_path = src / Path(str(info["file"])).name
    if not index_path.is_file():
        problems.append(f"{index_path.name} is missing")
    elif index_path.stat().st_size != info["size"] or file_sha256(index_path) != info["sha256"]:
        problems.append(f"{index_path.name} does not match its SHA-256")
    else:
        counts: dict[str, int] = {}
        for line in _read_index(index_path, key, manifest["backup_id"]):
            if isinstance(line, list) and line[0] != KEYRING_LINE:
                counts[line[0]] = counts.get(line[0], 0) + 1
        if {k: v for k, v in counts.items() if v} != {k: v for k, v in info["rows"].items() if v}:
            problems.append(f"{index_path.name} holds other rows than the manifest lists")
    for key_name, entry in sorted(manifest["objects"].items()):
        path = _object_path(src, key_name)
        if not path.is_file():
            problems.append(f"{OBJECTS}/{key_name} is missing")
        elif path.stat().st_size != entry["size"] or file_sha256(path) != entry["sha256"]:
            problems.append(f"{OBJECTS}/{key_name} does not match its SHA-256")
        else:
            with path.open("rb") as f:
                head = f.read(64)
            try:
                ok = read_header(head + b"\0" * 16).dek_id == entry["dek_id"]
            except IntegrityError:
                ok = False
            if not ok:
                problems.append(f"{OBJECTS}/{key_name} is not the sealed object the manifest lists")
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise BackupDamaged(f"Backup {src} is damaged: {problems[0]}{more}.")
    return VerifyReport(backup_id=manifest["backup_id"], created_at=manifest["created_at"],
                        master_key_id=manifest["master_key_id"], objects=len(manifest["objects"]),
                        rows=dict(info["rows"]))


# --------------------------------------------------------------------------- restore


def restore(src: Path, settings: Settings, master: MasterKey) -> RestoreReport:
    """Restore the backup in ``src`` into the EMPTY archive ``settings`` describes, under the same master key.

    The backup is verified in full first. Objects are put back first, the
    index last in ONE transaction. A restore that is interrupted leaves a
    marker in DANGAN_HOME; running the same restore again finishes it.
    """
    from storage.index import Index
    from storage.stores import make_object_store

    checked = verify(src, master)
    manifest = _read_manifest(src)
    key = _authenticate(manifest, master)
    if manifest["index"].get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(f"The backup's index has layout version {manifest['index'].get('schema_version')}; "
                          f"this dangan uses {SCHEMA_VERSION}. Restore it with the dangan that made it.")
    marker = settings.home / RESTORE_MARKER
    resuming = marker.is_file() and marker.read_text("utf-8").strip() == checked.backup_id
    store = make_object_store(settings)
    keyring = None
    if manifest["index"].get("keyring_id"):
        from storage.keyring import Keyring

        keyring = Keyring.open(settings.keyring_database_url, create=True, keyring_id=manifest["index"]["keyring_id"])
    index = Index(settings.database_url, master, keyring)
    try:
        index.create_schema()
        filled = _filled_tables(index)
        if resuming and filled:
            if _row_counts(index) == {k: v for k, v in checked.rows.items() if v}:
                marker.unlink()  # the index was committed; only the marker was left
                return RestoreReport(checked.backup_id, checked.objects, checked.rows, resumed=True)
            raise ArchiveExists(f"The archive in {settings.home} changed since the restore was interrupted; "
                                "restore into a new, empty home.")
        if not resuming:
            if filled:
                raise ArchiveExists(f"Restore needs an empty archive, but the index already holds "
                                    f"{', '.join(sorted(filled))}; use a new DANGAN_HOME / DANGAN_DB_URL.")
            if next(iter(store.list("")), None) is not None:
                raise ArchiveExists(f"Restore needs an empty archive, but the object store ({store!r}) already "
                                    "holds objects; use a new, empty bucket or home.")
            settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(marker, checked.backup_id.encode())
        for name, entry in sorted(manifest["objects"].items()):
            if resuming and store.exists(name):
                continue
            blob = _object_path(src, name).read_bytes()
            if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
                raise BackupDamaged(f"{OBJECTS}/{name} changed while the backup was being restored.")
            store.put(name, blob, metadata={str(k): str(v) for k, v in (entry.get("metadata") or {}).items()})
        rows = _load_index(index, src / Path(manifest["index"]["file"]).name, key, checked.backup_id, master)
        index.unlock()  # the restored key records open with this master key
    finally:
        index.close()
        if keyring is not None:
            keyring.close()
    marker.unlink(missing_ok=True)
    return RestoreReport(checked.backup_id, checked.objects, rows, resumed=resuming)


def _filled_tables(index: Index) -> list[str]:
    """Tables of the target index that hold rows (besides those a fresh home fills at setup)."""
    with Session(index.engine) as s:
        return [t.name for t in _tables() if t.name not in _SETUP_TABLES
                and s.execute(select(text("1")).select_from(t).limit(1)).first() is not None]


def _row_counts(index: Index) -> dict[str, int]:
    with Session(index.engine) as s:
        counts = {t.name: int(s.scalar(select(func.count()).select_from(t)) or 0) for t in _tables()}
    return {k: v for k, v in counts.items() if v}


def _load_index(index: Index, path: Path, key: bytes, backup_id: str, master: MasterKey) -> dict[str, int]:
    """Insert every row of the index file in ONE transaction (tables in foreign-key order).

    Its keyring entries go into the archive's keyring before the transaction commits.
    """
    known = {t.name: t for t in _tables()}
    rows: dict[str, int] = {}
    with index.write_engine.connect() as conn, conn.begin():
        for table in reversed(_tables()):
            conn.execute(delete(table))
        lines = _read_index(path, key, backup_id)
        head = next(lines)
        columns: dict[str, list[str]] = head["tables"]
        extra = {name: set(cols) - {c.name for c in known[name].columns}
                 for name, cols in columns.items() if name in known}
        if set(columns) - set(known) or any(extra.values()):
            raise ConfigError("The backup's index has tables or columns this dangan does not know; restore it "
                              "with the dangan that made it.")
        decoders = {name: _decoders(known[name]) for name in columns}
        batch: list[dict[str, Any]] = []
        current: str | None = None
        for name, values in lines:
            if name == KEYRING_LINE:
                if index.keyring is None:
                    raise ConfigError("The backup holds keyring entries but the backup names no keyring.")
                index.keyring.put(values[0], base64.b64decode(values[1]), master)
                continue
            if name != current:
                _flush(conn, known, current, batch)
                current = name
            decode = decoders[name]
            batch.append({col: decode[col](v) for col, v in zip(columns[name], values, strict=True)})
            rows[name] = rows.get(name, 0) + 1
            if len(batch) >= _ROWS_PER_INSERT:
                _flush(conn, known, current, batch)
        _flush(conn, known, current, batch)
        if conn.dialect.name == "postgresql":
            _reset_sequences(conn)
    return rows


def _flush(conn: Any, known: Mapping[str, Table], name: str | None, batch: list[dict[str, Any]]) -> None:
    if name is not None and batch:
        conn.execute(insert(known[name]), batch)
    batch.clear()


def _reset_sequences(conn: Any) -> None:
    """Move PostgreSQL's id sequences past the restored ids (explicit ids do not advance them)."""
    for table in _tables():
        for column in table.primary_key.columns:
            seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                               {"t": table.name, "c": column.name}).scalar()
            if seq:
                highest = select(func.max(column)).scalar_subquery()
                conn.execute(select(func.setval(seq, func.coalesce(highest, 0) + 1, False)))
