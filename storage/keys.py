"""The master key (主密钥): where it comes from, how the archive recognises it, how it is rotated.

Key hierarchy::

    master key (32 bytes; a file, a systemd credential or a command's output; never in the index)
      └─ key-encryption key (HKDF-SHA256 of the master key)
           ├─ wraps every per-file data key            (index table ``data_keys``)
           ├─ wraps the field-encryption key           (index table ``archive_keys``)
           ├─ wraps the blind-index HMAC key           (index table ``archive_keys``)
           ├─ wraps each backup's own key              (the backup's manifest)
           ├─ wraps each keyring entry                 (the keyring, storage/keyring.py: NOT in the index)
           └─ + a file's keyring entry (HKDF of both) wraps that file's data key (``data_keys.keyring_id``)
    archive field key + a file's keyring entry (HKDF) encrypts that file's sensitive field values

A file stored since the keyring exists depends on its keyring entry, which is
neither in the index nor in the bucket: erasing the entry (destruction,
:mod:`rules.destruction`) leaves every earlier copy of the index, the bucket
and their backups unable to open the file's objects or its field values, even
with the master key. What such a copy still holds of a destroyed document:
the masked values (``110101********7578``), the keyed hashes of its ID numbers
and phones and its search tokens (only testable against a guessed value with
the archive's HMAC key), its doc type, page count and unit. Files stored
before the keyring (``keyring_id`` NULL) keep the master-key-only wrapping; the
destruction record says how many such files an earlier copy still opens.

The field-encryption key and the blind-index HMAC key are random keys of the
archive, kept in the index wrapped by the master key. Their wrapped copies
are also how the archive recognises its master key: a wrong key fails
AES-GCM authentication (and its key id differs from the one recorded). An
index written before these records existed used keys derived from the master
key (HKDF); on first open with the right key those derived keys are stored
wrapped, so no HMAC or field value is recomputed.

Only ``dangan keys init`` creates a master key (:func:`create_key_file`).
A missing, unreadable, wrong or exposed key stops every command with a
ConfigError; nothing is ever created in its place.

Rotation (:func:`rotate`) re-wraps the data keys and the archive keys under a
new master key in ONE index transaction; objects are not touched. For a key
file it is crash-safe: the new key is first written beside the file
(``master.key.new``), then the index is re-wrapped, then the new file replaces
the old one. A crash before the commit leaves the old key working (the file
beside is stale and removed by the next rotation); a crash after it leaves the
new key beside the old one, and the next command that opens the archive
finishes the swap (:func:`finish_rotation`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from schemas.errors import (
    ConfigError,
    IntegrityError,
    KeyDestroyed,
    MasterKeyExposed,
    MasterKeyMissing,
    WrongMasterKey,
)
from storage.crypto import ALGORITHM, KEY_BYTES, WrappedKey, rewrap_key, unwrap_key, unwrap_secret, wrap_secret
from storage.files import atomic_write, fsync_path
from storage.shred import ShreddingKek, is_entry_id

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from schemas.settings import Settings
    from storage.keyring import Keyring

# The functions taking a Session import SQLAlchemy and the tables when called: a cold
# ``dangan search`` reads its key records through the driver (storage/searchsql.py) and
# never loads the ORM.

__all__ = ["KEY_BYTES", "ArchiveKeys", "KeySource", "MasterKey", "Rotation", "create_key_file",
           "key_id_of", "key_source", "rotate"]

_INFO_KEK = b"dangan/v1/key-wrapping"
_INFO_INDEX_HMAC = b"dangan/v1/index-hmac"
_INFO_FIELD_ENC = b"dangan/v1/field-encryption"

#: Purposes of the archive keys kept in the index (``archive_keys.purpose``).
FIELD_KEY = "field-encryption"
HMAC_KEY = "index-hmac"
_PURPOSES = (FIELD_KEY, HMAC_KEY)

#: Name of the systemd credential holding the master key (``LoadCredential=dangan-master-key:...``).
CREDENTIAL_NAME = "dangan-master-key"
#: Suffix of the new key file written beside the key file during a rotation.
PENDING_SUFFIX = ".new"
_COMMAND_TIMEOUT = 60.0
_REWRAP_BATCH = 500


def key_id_of(key: bytes) -> str:
    """Public identifier of a key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:16]


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(key)


# --------------------------------------------------------------------------- the master key


class MasterKey:
    """One 32-byte master key. Its key-encryption key wraps everything else; it encrypts nothing itself."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigError(f"A master key must be {KEY_BYTES} bytes long, not {len(key)}.")
        self._key = key
        self._key_id = key_id_of(key)
        self._kek = _derive(key, _INFO_KEK)

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self._key_id!r})"

    @classmethod
    def generate(cls) -> MasterKey:
        """A new random master key (in memory only)."""
        return cls(os.urandom(KEY_BYTES))

    @classmethod
    def load(cls, path: Path) -> MasterKey:
        """Load a key file: it must exist, hold 32 bytes, belong to this user and be private (0600)."""
        return cls(_read_key_file(path))

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        """Load the key file at ``path``, creating it first when absent: for throwaway keys in tests.

        No dangan command calls this; an archive's key is made only by
        ``dangan keys init`` (:func:`create_key_file`).
        """
        if not path.exists():
            create_key_file(path)
        return cls.load(path)

    @property
    def key_id(self) -> str:
        """Public id of this key (recorded beside everything it wraps)."""
        return self._key_id

    def secret_bytes(self) -> bytes:
        """The key itself (to write a key file)."""
        return self._key

    def kek(self, key_id: str | None = None) -> bytes:
        """Key-encryption key; WrongMasterKey when ``key_id`` names another master key."""
        if key_id is not None and key_id != self._key_id:
            raise WrongMasterKey(
                f"A data key is wrapped by master key {key_id}, but the loaded master key is {self._key_id}: "
                "the key was rotated while this command ran (run it again), or it is not this archive's key.")
        return self._kek


def legacy_field_key(master: MasterKey) -> bytes:
    """Field-encryption key of an index written before archive keys were stored (HKDF of the master key)."""
    return _derive(master.secret_bytes(), _INFO_FIELD_ENC)


def legacy_index_hmac_key(master: MasterKey) -> bytes:
    """Blind-index HMAC key of an index written before archive keys were stored."""
    return _derive(master.secret_bytes(), _INFO_INDEX_HMAC)


# --------------------------------------------------------------------------- key files


def _read_key_file(path: Path) -> bytes:
    """The bytes of a key file after checking it is a private regular file of the current user."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise MasterKeyMissing(
            f"No master key at {path}. For a new archive run `dangan keys init`; for an existing one put its "
            "key file back from your key backup (or point DANGAN_MASTER_KEY_FILE at it). A new key is never "
            "made in its place.") from None
    except OSError as e:
        raise ConfigError(f"Cannot read the master key file {path}: {e.strerror}. "
                          "Check DANGAN_MASTER_KEY_FILE and the file's owner.") from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"The master key file {path} is not a regular file.")
        if info.st_uid != os.geteuid():
            raise MasterKeyExposed(
                f"The master key file {path} belongs to user id {info.st_uid}, not to the user running dangan "
                f"(user id {os.geteuid()}); give it to that user (chown) and keep it private (chmod 600).")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise MasterKeyExposed(
                f"The master key file {path} can be read or changed by other users (mode {mode:04o}); run "
                f"`chmod 600 {path}` and find out who may have copied it.")
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read(4 * KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"The master key file {path} holds {len(raw)} bytes, not {KEY_BYTES}: it is damaged "
                          "or not a dangan key file. Put the archive's key back from your key backup.")
    return raw


def create_key_file(path: Path) -> MasterKey:
    """Write a new random master key to ``path`` (mode 0600, a new folder 0700); never replaces a file."""
    key = MasterKey.generate()
    if not _write_key_file(path, key, exclusive=True):
        raise ConfigError(f"A master key file already exists at {path}; it was left as it is.")
    return key


def _write_key_file(path: Path, key: MasterKey, *, exclusive: bool) -> bool:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return atomic_write(path, key.secret_bytes(), exclusive=exclusive)
    except OSError as e:
        raise ConfigError(f"Cannot write the key file {path}: {e.strerror}.") from e


def pending_path(path: Path) -> Path:
    """Where a rotation writes the new key before it replaces ``path``."""
    return path.with_name(path.name + PENDING_SUFFIX)


def _parse_key_text(data: bytes, where: str) -> bytes:
    """A key given as 32 raw bytes, 64 hex digits or base64 of 32 bytes."""
    if len(data) == KEY_BYTES:
        return data
    text = data.strip()
    if len(text) == 2 * KEY_BYTES:
        with contextlib.suppress(ValueError):
            return bytes.fromhex(text.decode("ascii"))
    if len(text) == 44:
        import base64
        import binascii

        with contextlib.suppress(binascii.Error, ValueError):
            decoded = base64.b64decode(text, validate=True)
            if len(decoded) == KEY_BYTES:
                return decoded
    raise ConfigError(f"{where} gave {len(data)} bytes that are not a master key: expected {KEY_BYTES} raw bytes, "
                      f"{2 * KEY_BYTES} hex digits or base64 of {KEY_BYTES} bytes.")


# --------------------------------------------------------------------------- key sources


@dataclass(frozen=True)
class KeySource:
    """Where the master key comes from: a key file, a systemd credential, or a command's output."""

    kind: Literal["file", "credential", "command"]
    path: Path | None = None
    command: str | None = None

    def describe(self) -> str:
        """Return the source in words, for messages."""
        if self.kind == "command":
            return "the output of DANGAN_MASTER_KEY_COMMAND"
        if self.kind == "credential":
            return f"the systemd credential {self.path}"
        return f"the key file {self.path}"

    @property
    def is_file(self) -> bool:
        """True for a key file dangan may write (init, rotation)."""
        return self.kind == "file"

    def exists(self) -> bool:
        """Tell whether a key is already there (a command source always counts as present)."""
        if self.kind == "command":
            return True
        assert self.path is not None
        return os.path.lexists(self.path)

    def load(self) -> MasterKey:
        """Read the key; ConfigError (exit 6) when it is missing, unreadable, exposed or malformed."""
        if self.kind == "command":
            return MasterKey(_parse_key_text(_run_key_command(self.command or ""), "DANGAN_MASTER_KEY_COMMAND"))
        assert self.path is not None
        if self.kind == "credential":
            # systemd makes the credentials folder readable by the service's user only
            try:
                raw = self.path.read_bytes()
            except OSError as e:
                raise ConfigError(f"Cannot read the systemd credential {self.path}: {e.strerror}.") from e
            return MasterKey(_parse_key_text(raw, f"The systemd credential {self.path}"))
        return MasterKey.load(self.path)

    def load_pending(self) -> MasterKey | None:
        """The new key an interrupted rotation left beside the key file, if any."""
        if not self.is_file or self.path is None or not pending_path(self.path).exists():
            return None
        return MasterKey.load(pending_path(self.path))


def key_source(settings: Settings) -> KeySource:
    """The configured source of the master key (ConfigError when two are set at once)."""
    if settings.master_key_command:
        if settings.master_key_file is not None:
            raise ConfigError("Both DANGAN_MASTER_KEY_COMMAND and DANGAN_MASTER_KEY_FILE are set; set only one.")
        return KeySource("command", command=settings.master_key_command)
    if settings.master_key_file is None and settings.credentials_directory is not None:
        credential = settings.credentials_directory / CREDENTIAL_NAME
        if credential.exists():
            return KeySource("credential", path=credential)
    return KeySource("file", path=settings.master_key_path)


def _run_key_command(command: str) -> bytes:
    import shlex
    import subprocess  # here: a key read from a file (a cold search) needs neither

    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise ConfigError(f"DANGAN_MASTER_KEY_COMMAND cannot be split into words: {e}.") from e
    if not argv:
        raise ConfigError("DANGAN_MASTER_KEY_COMMAND is empty.")
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=_COMMAND_TIMEOUT,
                              check=False)
    except FileNotFoundError:
        raise ConfigError(f"DANGAN_MASTER_KEY_COMMAND: program {argv[0]!r} not found.") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"DANGAN_MASTER_KEY_COMMAND did not answer within {_COMMAND_TIMEOUT:.0f} s.") from None
    except OSError as e:
        raise ConfigError(f"DANGAN_MASTER_KEY_COMMAND could not be run: {e.strerror}.") from e
    if done.returncode != 0:
        last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or [""])[-1][:200]
        raise ConfigError(f"DANGAN_MASTER_KEY_COMMAND failed (exit status {done.returncode})"
                          f"{': ' + last if last else ''}.")
    return done.stdout


# --------------------------------------------------------------------------- archive keys in the index


@dataclass(frozen=True)
class ArchiveKeys:
    """The archive's own keys (field encryption, blind-index HMAC), unwrapped; they live only in memory."""

    field_key_id: str
    field_key: bytes = field(repr=False)
    hmac_key_id: str
    hmac_key: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> ArchiveKeys:
        """New random keys, for a new archive."""
        return cls(field_key_id=os.urandom(8).hex(), field_key=os.urandom(KEY_BYTES),
                   hmac_key_id=os.urandom(8).hex(), hmac_key=os.urandom(KEY_BYTES))

    @classmethod
    def legacy(cls, master: MasterKey) -> ArchiveKeys:
        """The keys an index written before archive keys were stored derived from ``master``.

        Their ids are the master key's id: that is what such an index recorded
        beside each encrypted field value.
        """
        return cls(field_key_id=master.key_id, field_key=legacy_field_key(master),
                   hmac_key_id=master.key_id, hmac_key=legacy_index_hmac_key(master))

    def by_purpose(self) -> Mapping[str, tuple[str, bytes]]:
        """``purpose -> (key id, key)``."""
        return MappingProxyType({FIELD_KEY: (self.field_key_id, self.field_key),
                                 HMAC_KEY: (self.hmac_key_id, self.hmac_key)})


def _label(purpose: str, key_id: str, master_key_id: str) -> str:
    return f"dangan-archive-key/v1|{purpose}|{key_id}|{master_key_id}"


def _wrong_key(master: MasterKey, locked_by: str) -> WrongMasterKey:
    return WrongMasterKey(
        f"The master key (key id {master.key_id}) does not unlock this archive, which is locked by master key "
        f"{locked_by}. Put the archive's own key back from your key backup; dangan never replaces it.")


def archive_master_key_id(s: Session) -> str | None:
    """Id of the master key the index's archive keys are wrapped by (None: not bound to a key yet)."""
    from sqlalchemy import select

    from storage.tables import ArchiveKeyRow

    ids = sorted(set(s.scalars(select(ArchiveKeyRow.master_key_id))))
    return ",".join(ids) if ids else None


def read_archive_keys(s: Session, master: MasterKey) -> ArchiveKeys | None:
    """Unwrap the archive keys with ``master``; None when the index has none yet.

    WrongMasterKey when they are wrapped by another master key; IntegrityError
    when a record fails authentication although the key id matches (the index
    was altered).
    """
    from sqlalchemy import select

    from storage.tables import ArchiveKeyRow

    rows = [(r.purpose, r.key_id, r.master_key_id, r.wrapped) for r in s.scalars(select(ArchiveKeyRow))]
    return archive_keys_from_rows(rows, master) if rows else None


def archive_keys_from_rows(rows: Sequence[tuple[str, str, str, bytes]], master: MasterKey) -> ArchiveKeys:
    """The archive keys from their records ``(purpose, key_id, master_key_id, wrapped)``, unwrapped by ``master``.

    WrongMasterKey when they are wrapped by another master key; IntegrityError
    when one is missing or fails authentication (the index was altered).
    """
    by_purpose = {purpose: (key_id, master_id, wrapped) for purpose, key_id, master_id, wrapped in rows}
    missing = [p for p in _PURPOSES if p not in by_purpose]
    if missing:
        raise IntegrityError(f"The index lacks its {', '.join(missing)} key record: it was altered or damaged; "
                             "restore it from a backup.")
    locked_by = {master_id for _, master_id, _ in by_purpose.values()}
    if locked_by != {master.key_id}:
        raise _wrong_key(master, ",".join(sorted(locked_by)))
    keys: dict[str, tuple[str, bytes]] = {}
    for purpose in _PURPOSES:
        key_id, master_id, wrapped = by_purpose[purpose]
        secret = unwrap_secret(wrapped, master, label=_label(purpose, key_id, master_id))
        if secret is None:
            raise IntegrityError(f"The index's {purpose} key record failed authentication: the index was "
                                 "altered. Restore it from a backup.")
        keys[purpose] = (key_id, secret)
    return ArchiveKeys(field_key_id=keys[FIELD_KEY][0], field_key=keys[FIELD_KEY][1],
                       hmac_key_id=keys[HMAC_KEY][0], hmac_key=keys[HMAC_KEY][1])


def bind_archive_keys(s: Session, master: MasterKey) -> ArchiveKeys:
    """Store the archive keys wrapped by ``master`` (call in a write transaction); return them.

    An index that already holds data from before archive keys were stored is
    checked against ``master`` (its data keys must be wrapped by it and
    unwrap) and gets its derived keys stored, so nothing is recomputed. An
    empty index gets new random keys.
    """
    from storage.tables import ArchiveKeyRow

    found = read_archive_keys(s, master)
    if found is not None:
        return found
    keys = ArchiveKeys.legacy(master) if _check_legacy_data(s, master) else ArchiveKeys.generate()
    for purpose, (key_id, secret) in keys.by_purpose().items():
        s.add(ArchiveKeyRow(purpose=purpose, key_id=key_id, master_key_id=master.key_id, algorithm=ALGORITHM,
                            wrapped=wrap_secret(secret, master, label=_label(purpose, key_id, master.key_id))))
    s.flush()
    return keys


def _check_legacy_data(s: Session, master: MasterKey) -> bool:
    """True when the index holds data written under keys derived from a master key; check it is ``master``."""
    from sqlalchemy import func, select

    from storage.tables import DataKeyRow, FieldRow, FileRow, SearchTokenRow

    dek_masters = set(s.scalars(select(DataKeyRow.master_key_id).where(DataKeyRow.wrapped.is_not(None)).distinct()))
    field_keys = {k for k in s.scalars(select(FieldRow.value_key_id).where(FieldRow.value_key_id.is_not(None))
                                      .distinct()) if k and not is_entry_id(k)}
    others = (dek_masters | field_keys) - {master.key_id}
    if others:
        raise _wrong_key(master, ",".join(sorted(others)))
    row = s.scalars(select(DataKeyRow).where(DataKeyRow.wrapped.is_not(None), DataKeyRow.keyring_id.is_(None))
                    .limit(1)).first()
    if row is not None:
        unwrap_key(WrappedKey(dek_id=row.dek_id, master_key_id=row.master_key_id, algorithm=row.algorithm,
                              wrapped=row.wrapped or b""), master)
    has_rows = any(s.scalar(select(func.count()).select_from(t)) for t in (FileRow, FieldRow, SearchTokenRow))
    return bool(dek_masters or field_keys or has_rows)


def check_master_is_current(s: Session, master: MasterKey) -> None:
    """Refuse to write data wrapped by ``master`` once the archive is locked by another key.

    Takes a share lock on the key records (PostgreSQL), so a rotation commits
    either before (and this refuses) or after this transaction (and re-wraps
    what it writes).
    """
    from sqlalchemy import select

    from storage.tables import ArchiveKeyRow

    ids = set(s.scalars(select(ArchiveKeyRow.master_key_id).with_for_update(read=True)))
    if ids and ids != {master.key_id}:
        raise WrongMasterKey("The master key was rotated while this command ran; run the command again "
                             "(nothing was written).")


def rewrap_archive(s: Session, old: MasterKey, new: MasterKey, keyring: Keyring | None = None) -> tuple[int, int]:
    """Re-wrap every archive key and data key from ``old`` to ``new`` (call in ONE write transaction).

    Returns (data keys, archive keys) re-wrapped. Any key that ``old`` does
    not unwrap aborts the whole transaction: the archive stays as it was. A
    data key that depends on a keyring entry too is re-wrapped under ``new``
    and the same entry, whose copy under ``new`` is written to the keyring
    first (the copies under ``old`` are erased once the new key replaced it:
    :func:`retire_old_entries`). A data key whose entry was erased (a
    destruction under way) is left: it opens nothing any more.
    """
    from sqlalchemy import select, update

    from storage.tables import ArchiveKeyRow, DataKeyRow, utcnow

    rows = list(s.scalars(select(ArchiveKeyRow).with_for_update()))  # blocks writers wrapping with ``old``
    keys = read_archive_keys(s, old)
    if keys is None:
        raise ConfigError("This archive's index has no key records yet; open it once (e.g. `dangan keys check`) "
                          "before rotating its key.")
    now = utcnow()
    for row in rows:
        _, secret = keys.by_purpose()[row.purpose]
        row.wrapped = wrap_secret(secret, new, label=_label(row.purpose, row.key_id, new.key_id))
        row.master_key_id = new.key_id
        row.rewrapped_at = now
    s.flush()
    count, after = 0, ""
    while True:
        batch = s.execute(select(DataKeyRow.dek_id, DataKeyRow.master_key_id, DataKeyRow.algorithm,
                                 DataKeyRow.wrapped, DataKeyRow.keyring_id)
                          .where(DataKeyRow.wrapped.is_not(None), DataKeyRow.dek_id > after)
                          .order_by(DataKeyRow.dek_id).limit(_REWRAP_BATCH)).all()
        if not batch:
            break
        entries = {entry for *_, entry in batch if entry}
        if entries:
            if keyring is None:
                raise ConfigError("The archive's keyring must be open to rotate its master key.")
            keyring.rewrap(entries, old, new)
        changes = []
        for dek_id, master_key_id, algorithm, wrapped, entry in batch:
            was = WrappedKey(dek_id=dek_id, master_key_id=master_key_id, algorithm=algorithm,
                             wrapped=wrapped or b"", keyring_id=entry)
            if entry:
                try:
                    secret = keyring.secret(entry, new) if keyring is not None else b""
                except KeyDestroyed:
                    continue
                fresh = rewrap_key(was, ShreddingKek(old, entry, secret), ShreddingKek(new, entry, secret))
            else:
                fresh = rewrap_key(was, old, new)
            changes.append({"dek_id": dek_id, "master_key_id": fresh.master_key_id, "wrapped": fresh.wrapped})
        if changes:
            s.execute(update(DataKeyRow), changes)
        count += len(changes)
        after = batch[-1][0]
    return count, len(rows)


# --------------------------------------------------------------------------- rotation


class Rewrappable(Protocol):
    """What rotation needs from the index (``storage.index.Index``)."""

    keyring: Keyring | None

    def unlocks(self, master: MasterKey) -> bool:
        """Tell whether ``master`` unlocks the archive."""
        ...

    def rotate_master_key(self, new: MasterKey) -> tuple[int, int]:
        """Re-wrap everything under ``new`` in one transaction; (data keys, archive keys)."""
        ...


@dataclass(frozen=True)
class Rotation:
    """What a rotation did."""

    old_key_id: str
    new_key_id: str
    data_keys: int
    archive_keys: int
    #: Where the new key is now: the key file, or the file named by ``--new-key-out``.
    new_key_file: Path
    source: KeySource


def rotate(source: KeySource, index: Rewrappable, current: MasterKey, *,
           new_key_out: Path | None = None) -> Rotation:
    """Rotate the master key: a new key, every key re-wrapped under it in one transaction, the old one gone.

    With a key file the new key replaces the file (crash-safe, see the module
    notes). A key from a credential or a command cannot be replaced by
    dangan: the new key is written to ``new_key_out`` for the operator to put
    where the key comes from.
    """
    if not source.is_file:
        if new_key_out is None:
            raise ConfigError(f"The master key comes from {source.describe()}, which dangan cannot change. Run "
                              "`dangan keys rotate --new-key-out FILE`, then put FILE's key where the key comes "
                              "from (see README, Keys).")
        new, data_keys, archive_keys = _rotate_to(new_key_out, index)
        retire_old_entries(index.keyring, current)
        return Rotation(current.key_id, new.key_id, data_keys, archive_keys, new_key_out, source)
    assert source.path is not None
    if new_key_out is not None:
        raise ConfigError(f"The master key is the key file {source.path}; rotation replaces it there. "
                          "Leave out --new-key-out.")
    path = source.path
    pending = pending_path(path)
    with _rotation_lock(path):
        if pending.exists():
            pending.unlink()  # left by a rotation that crashed before its commit (else opening would have used it)
        new, data_keys, archive_keys = _rotate_to(pending, index)
        finish_rotation(path, new)
        retire_old_entries(index.keyring, current)
    return Rotation(current.key_id, new.key_id, data_keys, archive_keys, path, source)


def _rotate_to(target: Path, index: Rewrappable) -> tuple[MasterKey, int, int]:
    """Write a new key to ``target`` (never over a file), then re-wrap the index under it."""
    new = MasterKey.generate()
    if not _write_key_file(target, new, exclusive=True):
        raise ConfigError(f"{target} already exists; choose a new file for the new key.")
    try:
        data_keys, archive_keys = index.rotate_master_key(new)
    except BaseException:
        with contextlib.suppress(Exception):  # when the index cannot tell, the new key stays: it may be needed
            if not index.unlocks(new):
                target.unlink(missing_ok=True)
        raise
    return new, data_keys, archive_keys


def retire_old_entries(keyring: Keyring | None, old: MasterKey) -> None:
    """Erase the keyring's copies under the master key rotated away from (the index no longer uses it)."""
    if keyring is not None:
        keyring.retire(old.key_id)


def finish_rotation(path: Path, new: MasterKey) -> None:
    """Replace the key file by the new key written beside it (atomic rename, then a folder fsync)."""
    pending = pending_path(path)
    try:
        os.replace(pending, path)
    except FileNotFoundError:
        if MasterKey.load(path).key_id != new.key_id:  # another process finished it: the file holds ``new``
            raise
    fsync_path(path.parent)


@contextlib.contextmanager
def _rotation_lock(path: Path) -> Iterator[None]:
    """One rotation at a time for this key file (an advisory lock on ``<key file>.lock``)."""
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"Another key rotation is running for {path}; wait for it to finish.") from None
        yield
    finally:
        os.close(fd)
