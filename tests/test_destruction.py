"""Destruction (档案销毁): a destroyed document cannot be decrypted even from copies taken before, and its record stays.

A real archive (master key, keyring, index, object store) holds documents of
two units. Before anything is destroyed the database is copied (SQLite: the
file through SQLite's backup API; PostgreSQL: ``CREATE DATABASE ... TEMPLATE``)
and every object of the bucket downloaded. Then the owner of 3-2-1201
changes, the clock moves past the retention period, a second archive manager
approves, and the archive is destroyed. With the master key and the live
keyring, every object of the copied bucket is tried with the copied
database's wrapped data keys and every copied field ciphertext with the
copied archive keys: each fails (KeyDestroyed, or authentication with the
master key alone), while the other unit's documents in the same copies still
open, so the check can fail. The live store no longer holds the objects; the
destruction record and the audit events remain and the chain verifies.
SQLite + the embedded store, and PostgreSQL + a real S3 server (SeaweedFS).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from rules.destruction import Destruction, DestructionRefused
from rules.people_links import PersonLinkRow, person_context
from rules.retention import Retention
from schemas.errors import IntegrityError, KeyDestroyed
from schemas.settings import Settings
from storage.blind import BlindIndex
from storage.crypto import WrappedKey, open_sealed, unwrap_key
from storage.index import Index
from storage.keys import read_archive_keys
from storage.tables import DataKeyRow, DocumentRow, FieldRow, FileRow
from storage.vault import Vault
from tests.e2e import ensure_master_key
from tests.test_loans import _store
from tests.test_requests import OTHER, OWN
from web.access import Identity, Role

#: An encrypted value as the index holds it: ciphertext, the id of its key, the context it is bound to.
Sealed = tuple[bytes, str, str]

MANAGER = Identity("guanliyuan", Role.ARCHIVE_MANAGER)
SECOND = Identity("guanliyuan2", Role.ARCHIVE_MANAGER)
LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=3 * 366 + 2)


@dataclass
class Stack:
    settings: Settings
    copy_db: str
    #: Object key -> sealed bytes, downloaded before the destruction.
    copy_bucket: dict[str, bytes]
    own_docs: list[str]
    other_doc: str


def _copy_database(settings: Settings, pg_copy: str | None) -> str:
    """A copy of the index as it is now; returns its URL."""
    if settings.db_url is None:
        target = settings.home.parent / "copy.sqlite3"
        with closing(sqlite3.connect(settings.home / "index.sqlite3")) as src, closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
        return f"sqlite:///{target}"
    assert pg_copy is not None
    import psycopg

    source = settings.db_url.rsplit("/", 1)[1]
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{pg_copy}" TEMPLATE "{source}"')
    return settings.db_url.rsplit("/", 1)[0] + "/" + pg_copy


def _make(tmp_path: Path, settings: Settings, pg_copy: str | None) -> Stack:
    ensure_master_key({"DANGAN_HOME": str(settings.home)})
    scans = tmp_path / "scans"
    scans.mkdir()
    with closing(Vault.open(settings)) as vault:
        run_id = vault.begin_run()
        own = [_store(vault, 91, "王伟", OWN, scans, run_id, reviewed=True),
               _store(vault, 92, "王伟", OWN, scans, run_id, reviewed=True)]
        other = _store(vault, 93, "李娜", OTHER, scans, run_id, reviewed=True)
        bucket = {key: vault.store.get(key) for key in vault.store.list("")}
    assert len(bucket) == 6  # an original and an OCR result per file
    return Stack(settings, _copy_database(settings, pg_copy), bucket, own, other)


@pytest.fixture(params=["sqlite+embedded", pytest.param("postgresql+s3", marks=pytest.mark.integration)])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    if request.param == "sqlite+embedded":
        yield _make(tmp_path, Settings(home=tmp_path / "home"), None)
        return
    pg_url: str = request.getfixturevalue("pg_url")
    s3 = request.getfixturevalue("s3_server")
    copy_name = pg_url.rsplit("/", 1)[1] + "_copy"
    settings = Settings(home=tmp_path / "home", db_url=pg_url, s3_endpoint=s3.endpoint, s3_access_key=s3.access_key,
                        s3_secret_key=s3.secret_key, s3_bucket=f"destroy-{pg_url.rsplit('_', 1)[1]}")
    try:
        yield _make(tmp_path, settings, copy_name)
    finally:
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{copy_name}" WITH (FORCE)')


def _copied(stack: Stack) -> tuple[dict[str, tuple[FileRow, DataKeyRow]], dict[str, list[Sealed]]]:
    """The copy's files with their data keys (by document), and its encrypted values (by document): those of
    the fields and of the people register, as ``(ciphertext, key id, context)``."""
    engine = create_engine(stack.copy_db.replace("postgresql+psycopg", "postgresql+psycopg"))
    try:
        with Session(engine) as s:
            files = {d.id: (s.get(FileRow, d.file_id), s.get(DataKeyRow, s.get(FileRow, d.file_id).dek_id))
                     for d in s.scalars(select(DocumentRow))}
            fields: dict[str, list[Sealed]] = {}
            for f in s.scalars(select(FieldRow).where(FieldRow.value_enc.is_not(None))):
                fields.setdefault(f.document_id, []).append(
                    (f.value_enc, f.value_key_id, f"field|{f.document_id}|{f.name}"))
            for p in s.scalars(select(PersonLinkRow)):
                for what, blob in (("name", p.name_enc), ("id_number", p.id_enc), ("phone", p.phone_enc)):
                    if blob is not None:
                        fields.setdefault(p.document_id, []).append(
                            (blob, p.value_key_id, person_context(p.document_id, p.role, p.slot, what)))
            s.expunge_all()
    finally:
        engine.dispose()
    return files, fields  # type: ignore[return-value]


def _open_from_copy(stack: Stack, vault: Vault, doc_id: str, files: dict, fields: dict) -> None:
    """Decrypt a document's objects and fields from the copies with the master key and the LIVE keyring."""
    file, key = files[doc_id]
    wrapped = WrappedKey(dek_id=key.dek_id, master_key_id=key.master_key_id, algorithm=key.algorithm,
                         wrapped=key.wrapped, keyring_id=key.keyring_id)
    copy_index = Index(stack.copy_db, vault.keys, vault.index.keyring)
    try:
        dek = unwrap_key(wrapped, copy_index.wrapping_key(wrapped))
        for object_key in (file.original_key, file.ocr_key):
            open_sealed(stack.copy_bucket[object_key], dek, object_key=object_key)
        with Session(copy_index.engine) as s:
            archive_keys = read_archive_keys(s, vault.keys)
        assert archive_keys is not None
        blind = BlindIndex(archive_keys, copy_index.entry_secret)
        for blob, key_id, context in fields[doc_id]:
            blind.decrypt_value(blob, key_id=key_id, context=context)
    finally:
        copy_index.close()


def test_a_destroyed_archive_cannot_be_decrypted_from_copies_taken_before(stack: Stack) -> None:
    with closing(Vault.open(stack.settings)) as vault:
        files, fields = _copied(stack)
        for doc in [*stack.own_docs, stack.other_doc]:  # before: the copies open with the live keyring
            _open_from_copy(stack, vault, doc, files, fields)
        assert all(fields[d] for d in stack.own_docs)  # ID numbers and phones are there to try
        assert all(any(c.startswith("person|") for _, _, c in fields[d]) for d in stack.own_docs)  # and people

        change = Retention.open(vault.index, MANAGER).owner_change(OWN, note="过户给新业主")
        rules = Destruction.open(vault.index, vault.store, MANAGER)
        request = rules.request(change.set_aside_archive, reason="保管期满")
        with pytest.raises(DestructionRefused, match="own"):  # four eyes
            rules.approve(request.id, now=LATER)
        second = Destruction(vault.index, vault.store, SECOND)
        with pytest.raises(DestructionRefused, match="retention"):  # not due yet
            second.approve(request.id)
        record = second.approve(request.id, now=LATER)

        assert record.status == "done" and record.documents == 2 and record.legacy_files == 0
        assert record.approved_by == SECOND.name and record.requested_by == MANAGER.name
        assert sorted(record.sha256s) == sorted(files[d][0].sha256 for d in stack.own_docs)
        assert record.method == "crypto-shred + object deletion"
        for doc in stack.own_docs:  # after: nothing of it opens, with the live keyring or the master key alone
            with pytest.raises(KeyDestroyed):
                _open_from_copy(stack, vault, doc, files, fields)
            file, key = files[doc]
            with pytest.raises(IntegrityError):
                unwrap_key(WrappedKey(dek_id=key.dek_id, master_key_id=key.master_key_id, algorithm=key.algorithm,
                                      wrapped=key.wrapped), vault.keys)
            copy_index = Index(stack.copy_db, vault.keys, vault.index.keyring)
            try:
                with Session(copy_index.engine) as s:
                    keys = read_archive_keys(s, vault.keys)
                assert keys is not None
                for blob, key_id, context in fields[doc]:
                    with pytest.raises(KeyDestroyed):
                        BlindIndex(keys, copy_index.entry_secret).decrypt_value(blob, key_id=key_id,
                                                                                context=context)
                    with pytest.raises(IntegrityError):  # nor with the archive's field key alone
                        BlindIndex(keys).decrypt_value(blob, key_id=keys.field_key_id, context=context)
            finally:
                copy_index.close()
            assert not vault.store.exists(file.original_key) and not vault.store.exists(file.ocr_key)
        _open_from_copy(stack, vault, stack.other_doc, files, fields)  # the other unit is untouched
        assert hashlib.sha256(vault.read_original(stack.other_doc)).hexdigest() == files[stack.other_doc][0].sha256

        assert [r.id for r in second.records()] == [record.id]
        events = vault.index.audit_entries(limit=200)
        assert {e.document_id for e in events if e.action == "destroy"} == set(stack.own_docs)
        assert any(e.action == "destroy_archive" for e in events)
        refusals = [(e.actor, (e.detail or {}).get("reason")) for e in events
                    if (e.detail or {}).get("outcome") == "refused"]
        assert (MANAGER.name, "own_request") in refusals and (SECOND.name, "not_due") in refusals
        assert vault.index.verify_audit().intact


def test_a_destruction_cut_short_is_unreadable_at_once_and_finished_by_running_it_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from schemas.errors import StorageError

    stack = _make(tmp_path, Settings(home=tmp_path / "home"), None)
    with closing(Vault.open(stack.settings)) as vault:
        change = Retention.open(vault.index, MANAGER).owner_change(OWN)
        request = Destruction.open(vault.index, vault.store, MANAGER).request(change.set_aside_archive, reason="期满")
        second = Destruction(vault.index, vault.store, SECOND)

        def store_down(key: str) -> None:
            raise StorageError("the object store is down")

        with monkeypatch.context() as m:  # the crash: after the keys were shredded, before objects and rows went
            m.setattr(vault.store, "delete", store_down)
            with pytest.raises(StorageError):
                second.approve(request.id, now=LATER)
        for doc in stack.own_docs:  # nothing half-done stays readable
            detail = vault.index.get_document(doc)
            with pytest.raises(KeyDestroyed):
                vault.index.data_key(detail.dek_id)
            with pytest.raises(KeyDestroyed):
                vault.index.reveal_fields(doc)
        assert [r.status for r in second.records()] == ["in_progress"]

        record = second.run(request.id, now=LATER)  # run again: it completes
        assert record.status == "done" and record.documents == 2
        assert second.run(request.id, now=LATER).id == record.id  # and stays done
        assert [r.id for r in second.records()] == [record.id]  # exactly one record
        live = {k for k in stack.copy_bucket if vault.store.exists(k)}
        assert live == vault.index.object_keys() and len(live) == 2  # only the other unit's objects remain
        assert sum(e.action == "destroy_archive" for e in vault.index.audit_entries(limit=500)) == 1
        assert vault.index.verify_audit().intact
