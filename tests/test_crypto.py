"""Master keys and envelope encryption: round trip, tampering, crypto-shredding, key files."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from schemas.documents import DocType
from schemas.errors import ConfigError, IntegrityError, KeyDestroyed, MasterKeyMissing, WrongMasterKey
from schemas.models import Extraction, FileKind, SourceFile, StoredObject
from storage.crypto import (
    HEADER_BYTES,
    MAGIC,
    DataKey,
    WrappedKey,
    open_sealed,
    read_header,
    rewrap_key,
    seal,
    unwrap_key,
    unwrap_secret,
    wrap_key,
    wrap_secret,
)
from storage.index import Index
from storage.keys import (
    KEY_BYTES,
    ArchiveKeys,
    MasterKey,
    create_key_file,
    key_id_of,
    legacy_field_key,
    legacy_index_hmac_key,
)

OBJECT_KEY = "originals/ab/" + "ab" * 32
PLAINTEXT = "业主姓名 王伟 身份证号码 11010519491231002X 电话 13812345678".encode() * 50


@pytest.fixture
def master(tmp_path: Path) -> MasterKey:
    return create_key_file(tmp_path / "keys" / "master.key")


def test_round_trip(master: MasterKey) -> None:
    dek = DataKey.generate(master)
    blob = seal(PLAINTEXT, dek, object_key=OBJECT_KEY)
    assert blob.startswith(MAGIC)
    assert open_sealed(blob, dek, object_key=OBJECT_KEY) == PLAINTEXT
    header = read_header(blob)
    assert header.algorithm == "AES-256-GCM"
    assert header.dek_id == dek.dek_id
    assert header.master_key_id == master.key_id
    assert len(header.nonce) == 12
    assert len(blob) == HEADER_BYTES + len(PLAINTEXT) + 16


def test_same_plaintext_seals_differently(master: MasterKey) -> None:
    dek = DataKey.generate(master)
    assert seal(PLAINTEXT, dek, object_key=OBJECT_KEY) != seal(PLAINTEXT, dek, object_key=OBJECT_KEY)


def test_blob_holds_no_plaintext(master: MasterKey) -> None:
    blob = seal(PLAINTEXT, DataKey.generate(master), object_key=OBJECT_KEY)
    for secret in ("王伟", "11010519491231002X", "13812345678"):
        assert secret.encode() not in blob
        assert secret.encode("utf-16-le") not in blob


@pytest.mark.parametrize("offset", [0, 4, 5, 6, 20, 30, HEADER_BYTES - 1, HEADER_BYTES, -1])
def test_any_tampered_byte_is_refused(master: MasterKey, offset: int) -> None:
    dek = DataKey.generate(master)
    blob = bytearray(seal(PLAINTEXT, dek, object_key=OBJECT_KEY))
    blob[offset] ^= 0x01
    with pytest.raises(IntegrityError):
        open_sealed(bytes(blob), dek, object_key=OBJECT_KEY)


def test_truncated_blob_is_refused(master: MasterKey) -> None:
    dek = DataKey.generate(master)
    blob = seal(PLAINTEXT, dek, object_key=OBJECT_KEY)
    for cut in (3, HEADER_BYTES, len(blob) - 1):
        with pytest.raises(IntegrityError):
            open_sealed(blob[:cut], dek, object_key=OBJECT_KEY)


def test_blob_moved_under_another_key_is_refused(master: MasterKey) -> None:
    dek = DataKey.generate(master)
    blob = seal(PLAINTEXT, dek, object_key=OBJECT_KEY)
    with pytest.raises(IntegrityError):
        open_sealed(blob, dek, object_key="originals/cd/" + "cd" * 32)


def test_wrong_data_key_is_refused(master: MasterKey) -> None:
    dek = DataKey.generate(master)
    blob = seal(PLAINTEXT, dek, object_key=OBJECT_KEY)
    impostor = DataKey(dek_id=dek.dek_id, master_key_id=dek.master_key_id, key=b"\x00" * KEY_BYTES)
    with pytest.raises(IntegrityError):
        open_sealed(blob, impostor, object_key=OBJECT_KEY)
    with pytest.raises(IntegrityError):
        open_sealed(blob, DataKey.generate(master), object_key=OBJECT_KEY)


def test_wrap_unwrap_and_tampered_wrap(master: MasterKey) -> None:
    dek = DataKey.generate(master)
    wrapped = wrap_key(dek, master)
    assert wrapped.master_key_id == master.key_id
    assert dek.key not in wrapped.wrapped
    assert unwrap_key(wrapped, master) == dek
    bad = bytearray(wrapped.wrapped)
    bad[-1] ^= 1
    with pytest.raises(IntegrityError):
        unwrap_key(replace(wrapped, wrapped=bytes(bad)), master)
    # the dek id is associated data: a wrapped key cannot be re-labelled as another document's key
    with pytest.raises(IntegrityError):
        unwrap_key(replace(wrapped, dek_id="0" * 32), master)


def test_destroyed_key_cannot_open_objects(tmp_path: Path, master: MasterKey) -> None:
    index = Index(f"sqlite:///{tmp_path / 'index.sqlite3'}", master)
    index.create_schema()
    dek = DataKey.generate(master)
    blob = seal(PLAINTEXT, dek, object_key=OBJECT_KEY)
    wrapped = wrap_key(dek, master)
    _record_minimal(index, wrapped)
    reopened = index.data_key(dek.dek_id)
    assert open_sealed(blob, reopened, object_key=OBJECT_KEY) == PLAINTEXT
    assert wrapped.wrapped in _database_bytes(tmp_path)

    index.destroy_data_key(dek.dek_id)
    with pytest.raises(KeyDestroyed):
        index.wrapped_key(dek.dek_id)
    with pytest.raises(KeyDestroyed):
        index.data_key(dek.dek_id)
    # the wrapped bytes are erased from the database files, not just flagged
    assert wrapped.wrapped not in _database_bytes(tmp_path)
    index.close()


def _database_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.glob("index.sqlite3*")))


def _record_minimal(index: Index, wrapped: WrappedKey) -> None:
    sha = "ab" * 32
    source = SourceFile(path=Path("x.pdf"), name="x.pdf", size=1, sha256=sha, kind=FileKind.PDF, page_count=1)
    obj = StoredObject(key=OBJECT_KEY, size=1, key_id=wrapped.dek_id)
    extraction = Extraction(doc_type=DocType.OTHER, doc_type_confidence=0.1)
    index.record_document(source=source, extraction=extraction, pages=[], original=obj, ocr=obj,
                          data_key=wrapped, run_id=index.begin_run(), status="needs_review")


# --------------------------------------------------------------------------- key files


def test_master_key_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "home" / "keys" / "master.key"
    key = create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.stat().st_size == KEY_BYTES
    assert key.key_id == key_id_of(path.read_bytes())
    assert len(key.key_id) == 16
    assert MasterKey.load(path).key_id == key.key_id
    with pytest.raises(ConfigError):
        create_key_file(path)  # never replaced
    assert MasterKey.load(path).key_id == key.key_id
    assert path.read_bytes().hex() not in repr(key)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 63, 64])
def test_key_file_of_wrong_length_is_refused(tmp_path: Path, size: int) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"\x01" * size)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="not 32"):
        MasterKey.load(path)


def test_missing_key_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    with pytest.raises(MasterKeyMissing, match="dangan keys init"):
        MasterKey.load(path)
    assert not path.exists()


def test_rewrap_moves_a_data_key_to_the_new_master_key(master: MasterKey) -> None:
    dek = DataKey.generate(master)
    blob = seal(PLAINTEXT, dek, object_key=OBJECT_KEY)
    new = MasterKey.generate()
    moved = rewrap_key(wrap_key(dek, master), master, new)
    assert moved.master_key_id == new.key_id and moved.dek_id == dek.dek_id
    reopened = unwrap_key(moved, new)
    assert open_sealed(blob, reopened, object_key=OBJECT_KEY) == PLAINTEXT  # the object is untouched
    with pytest.raises(WrongMasterKey):
        unwrap_key(moved, master)  # the old key does not open it


def test_wrapped_secrets_are_bound_to_key_and_label(master: MasterKey) -> None:
    secret = b"s" * KEY_BYTES
    blob = wrap_secret(secret, master, label="a")
    assert secret not in blob
    assert unwrap_secret(blob, master, label="a") == secret
    assert unwrap_secret(blob, master, label="b") is None
    assert unwrap_secret(blob, MasterKey.generate(), label="a") is None


def test_sub_keys_are_distinct(master: MasterKey) -> None:
    derived = {master.kek(), legacy_field_key(master), legacy_index_hmac_key(master)}
    assert len(derived) == 3
    assert all(len(k) == KEY_BYTES for k in derived)
    fresh = ArchiveKeys.generate()
    assert len({fresh.field_key, fresh.hmac_key, *derived}) == 5
