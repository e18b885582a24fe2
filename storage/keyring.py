"""The keyring (密钥环): shredding keys kept apart from the index and the object store.

A copy of the index and the bucket taken before a destruction must stay
undecryptable after it, although the master key is still in use. So every
file stored since the keyring exists depends on a secret that is in neither
of them: its keyring entry (32 random bytes). Its data key is wrapped by a key
derived from BOTH the master key's key-encryption key and the entry
(:class:`ShreddingKek`), and the full values of its sensitive fields are
encrypted by a key derived from the archive's field key and the entry
(:func:`entry_field_key`). ``data_keys.keyring_id`` names the entry (NULL: a
file stored before the keyring, wrapped by the master key alone).

Destroying a file erases its entry (:meth:`Keyring.destroy`): the row is
overwritten and deleted (SQLite ``secure_delete``, a WAL checkpoint that
truncates the log; PostgreSQL: a VACUUM of the table). From then on no copy of
the index, the bucket or a backup taken before can open the file's objects or
its field values, with or without the master key.

The keyring is a small database of its own (``DANGAN_KEYRING_URL``; default
the SQLite file ``DANGAN_HOME/keyring.sqlite3``, mode 0600). Entries are
stored wrapped by the master key (bound to the entry id, the master key id
and the keyring's id). A missing keyring stops every command like a missing
master key once the index was bound to one (``index_meta.keyring_id``);
nothing is recreated in its place. A keyring is created only for an index not
yet bound to one (a new archive, or one written before the keyring existed).

The keyring must be kept like the index: on a disk that is backed up (the
backup carries the live entries, see :mod:`storage.backup`), and every host
that stores documents of the archive must reach the same keyring (a shared
PostgreSQL database through ``DANGAN_KEYRING_URL`` when several hosts do).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from sqlalchemy import Column, Engine, LargeBinary, MetaData, String, Table, create_engine, delete, event, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from schemas.errors import ConfigError, IntegrityError, KeyDestroyed, MasterKeyExposed
from storage.crypto import KEY_BYTES, MasterKey, unwrap_secret, wrap_secret
from storage.shred import ENTRY_PREFIX, ShreddingKek, entry_field_key, is_entry_id
from storage.tables import purge_old_row_versions

__all__ = ["ENTRY_PREFIX", "KEYRING_FILE", "Keyring", "KeyringMissing", "ShreddingKek", "entry_field_key",
           "is_entry_id", "keyring_path"]

#: File name of the default keyring under DANGAN_HOME.
KEYRING_FILE = "keyring.sqlite3"

_metadata = MetaData()
_entries = Table("keyring_entries", _metadata,
                 Column("entry_id", String(16), primary_key=True),
                 Column("master_key_id", String(16), primary_key=True),
                 Column("wrapped", LargeBinary, nullable=False))
_info = Table("keyring_info", _metadata,
              Column("key", String(32), primary_key=True),
              Column("value", String(64), nullable=False))


class KeyringMissing(ConfigError):
    """The archive's keyring is missing or is not this archive's."""

    code = "keyring_missing"


def keyring_path(url: str) -> Path | None:
    """The file of a SQLite keyring URL (None for another database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


class Keyring:
    """The keyring of one archive (see the module notes)."""

    def __init__(self, engine: Engine, keyring_id: str, where: str) -> None:
        self._engine = engine
        self.keyring_id = keyring_id
        self.where = where

    def __repr__(self) -> str:
        return f"Keyring(id={self.keyring_id!r}, where={self.where!r})"

    # ------------------------------------------------------------------ open

    @classmethod
    def open(cls, url: str, *, create: bool = False, keyring_id: str | None = None) -> Keyring:
        """Open the keyring at ``url``; with ``create``, make it first when absent (with ``keyring_id`` if given).

        KeyringMissing (exit 6) when it is absent and ``create`` is False, or
        when it lacks its id (damaged); MasterKeyExposed when a keyring file can
        be read by others.
        """
        path = keyring_path(url)
        where = str(path) if path is not None else "the keyring database (DANGAN_KEYRING_URL)"
        if path is not None:
            _prepare_file(path, create=create)
        engine = _make_engine(url)
        try:
            if create:
                with contextlib.suppress(sa_exc.IntegrityError, sa_exc.ProgrammingError):
                    _metadata.create_all(engine)  # another process may create them at the same moment
            found = _read_id(engine)
            if found is None and create:
                with contextlib.suppress(sa_exc.IntegrityError), engine.begin() as conn:
                    conn.execute(_info.insert().values(key="keyring_id", value=keyring_id or secrets.token_hex(8)))
                found = _read_id(engine)
        except sa_exc.DBAPIError as e:
            engine.dispose()
            raise KeyringMissing(f"The keyring {where} cannot be read ({type(e.orig).__name__}): it is missing or "
                                 "damaged. Put it back from the backup of the keyring; it is never made anew for "
                                 "an archive that has one.") from e
        if found is None:
            engine.dispose()
            raise KeyringMissing(f"The keyring {where} holds no keyring id: it is damaged or not a dangan keyring.")
        if keyring_id is not None and found != keyring_id:
            engine.dispose()
            raise KeyringMissing(f"The keyring {where} is keyring {found}, not {keyring_id}.")
        return cls(engine, found, where)

    def close(self) -> None:
        """Release its connections."""
        self._engine.dispose()

    # ------------------------------------------------------------------ entries

    def new_entry(self, master: MasterKey) -> tuple[str, bytes]:
        """A new entry (id, secret), durably stored wrapped by ``master`` before it is returned."""
        entry_id = ENTRY_PREFIX + secrets.token_hex(8)[:15]
        secret = os.urandom(KEY_BYTES)
        self.put(entry_id, secret, master)
        return entry_id, secret

    def put(self, entry_id: str, secret: bytes, master: MasterKey) -> None:
        """Store ``secret`` as entry ``entry_id`` under ``master`` (a restore; a rotation's new copies)."""
        wrapped = wrap_secret(secret, master, label=self._label(entry_id, master.key_id))
        with self._engine.begin() as conn:
            conn.execute(delete(_entries).where(_entries.c.entry_id == entry_id,
                                                _entries.c.master_key_id == master.key_id))
            conn.execute(_entries.insert().values(entry_id=entry_id, master_key_id=master.key_id, wrapped=wrapped))

    def secret(self, entry_id: str, master: MasterKey) -> bytes:
        """The entry's secret; KeyDestroyed when it was destroyed, IntegrityError when it was altered."""
        with self._engine.connect() as conn:
            wrapped = conn.scalar(select(_entries.c.wrapped).where(_entries.c.entry_id == entry_id,
                                                                   _entries.c.master_key_id == master.key_id))
        if wrapped is None:
            raise KeyDestroyed(f"Keyring entry {entry_id} was destroyed (or never stored under master key "
                               f"{master.key_id}): what it protects cannot be decrypted any more.")
        secret = unwrap_secret(bytes(wrapped), master, label=self._label(entry_id, master.key_id))
        if secret is None:
            raise IntegrityError(f"Keyring entry {entry_id} failed authentication: the keyring was altered. "
                                 "Restore it from its backup.")
        return secret

    def has(self, entry_id: str) -> bool:
        """Whether the entry exists (under any master key)."""
        with self._engine.connect() as conn:
            return conn.scalar(select(_entries.c.entry_id).where(_entries.c.entry_id == entry_id).limit(1)) is not None

    def entry_ids(self) -> set[str]:
        """Ids of every entry."""
        with self._engine.connect() as conn:
            return set(conn.scalars(select(_entries.c.entry_id).distinct()))

    def export(self, entry_ids: Iterable[str], master: MasterKey) -> Iterator[tuple[str, bytes]]:
        """``(entry id, secret)`` of those of ``entry_ids`` that exist (for a backup)."""
        for entry_id in sorted(set(entry_ids)):
            with contextlib.suppress(KeyDestroyed):
                yield entry_id, self.secret(entry_id, master)

    def destroy(self, entry_ids: Sequence[str]) -> int:
        """Erase these entries under every master key: overwritten, deleted, the database's old copies purged.

        Idempotent (an entry already gone counts nothing). Returns how many rows were erased.
        """
        if not entry_ids:
            return 0
        ids = sorted(set(entry_ids))
        erased = 0
        with self._engine.begin() as conn:
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                rows = list(conn.execute(select(_entries.c.entry_id, _entries.c.master_key_id)
                                         .where(_entries.c.entry_id.in_(part))))
                for entry_id, master_key_id in rows:  # overwrite first: no old page keeps the bytes
                    conn.execute(_entries.update().where(_entries.c.entry_id == entry_id,
                                                         _entries.c.master_key_id == master_key_id)
                                 .values(wrapped=bytes(60)))
                conn.execute(delete(_entries).where(_entries.c.entry_id.in_(part)))
                erased += len(rows)
        self._purge()
        return erased

    # ------------------------------------------------------------------ rotation

    def rewrap(self, entry_ids: Iterable[str], old: MasterKey, new: MasterKey) -> int:
        """Give each of ``entry_ids`` (held under ``old``) a copy under ``new``; returns how many were added."""
        added = 0
        for entry_id in sorted(set(entry_ids)):
            with self._engine.connect() as conn:
                have = conn.scalar(select(_entries.c.entry_id).where(_entries.c.entry_id == entry_id,
                                                                     _entries.c.master_key_id == new.key_id))
            if have is not None:
                continue
            try:
                secret = self.secret(entry_id, old)
            except KeyDestroyed:
                continue
            self.put(entry_id, secret, new)
            added += 1
        return added

    def retire(self, master_key_id: str) -> int:
        """Erase every copy wrapped by the master key ``master_key_id`` (after a rotation away from it)."""
        with self._engine.begin() as conn:
            result = conn.execute(delete(_entries).where(_entries.c.master_key_id == master_key_id))
            count = int(getattr(result, "rowcount", 0) or 0)
        self._purge()
        return count

    # ------------------------------------------------------------------ helpers

    def _label(self, entry_id: str, master_key_id: str) -> str:
        return f"dangan-keyring/v1|{self.keyring_id}|{entry_id}|{master_key_id}"

    def _purge(self) -> None:
        """Make the database drop old copies of erased rows now (a checkpoint that truncates the WAL; a VACUUM)."""
        purge_old_row_versions(self._engine, ("keyring_entries",))


def _prepare_file(path: Path, *, create: bool) -> None:
    """A keyring file must exist (unless created now, 0600) and be private to this user."""
    if not path.exists():
        if not create:
            raise KeyringMissing(
                f"No keyring at {path}, but this archive's index was bound to one: without it no document stored "
                "since cannot be read. Put the keyring file back from its backup (or point DANGAN_KEYRING_URL at "
                "it); a new one is never made in its place.")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as e:
            raise ConfigError(f"Cannot create the keyring {path}: {e.strerror}.") from e
    info = path.stat()
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise MasterKeyExposed(f"The keyring {path} must belong to the user running dangan and be private "
                               f"(mode {stat.S_IMODE(info.st_mode):04o}): run `chmod 600 {path}`.")


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})

    def on_connect(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    event.listen(engine, "connect", on_connect)
    return engine


def _read_id(engine: Engine) -> str | None:
    with engine.connect() as conn:
        value = conn.scalar(select(_info.c.value).where(_info.c.key == "keyring_id"))
    return str(value) if value is not None else None
