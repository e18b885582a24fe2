"""The master key: made only by ``dangan keys init``, never replaced, checked by every command, rotated safely.

Most tests drive the real command line in-process (``flows.cli.main``) on an
archive built through the vault (no OCR), so they take seconds.
"""

from __future__ import annotations

import hashlib
import os
import random
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from flows.cli import main
from schemas.documents import DocType
from schemas.errors import WrongMasterKey
from schemas.models import Extraction, FieldValue, FileKind, OcrLine, OcrPage, SourceFile
from schemas.settings import Settings, load_settings
from schemas.validators import id_check_digit
from storage.index import Index
from storage.keys import (
    ArchiveKeys,
    MasterKey,
    create_key_file,
    finish_rotation,
    key_source,
    pending_path,
    rotate,
)
from storage.tables import ArchiveKeyRow, DataKeyRow, FieldRow, SearchDocRow
from storage.vault import Vault, open_keyring

# --------------------------------------------------------------------------- a small archive, no OCR


@dataclass(frozen=True)
class SmallDoc:
    """One archived test document: what it holds and what the archive recorded."""

    doc_id: str
    name: str
    owner: str
    id_number: str
    sha256: str


def _id_number(rng: random.Random) -> str:
    born = f"{rng.randint(1950, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    first17 = f"110105{born}{rng.randint(0, 999):03d}"
    return first17 + id_check_digit(first17)


def add_documents(settings: Settings, folder: Path, count: int, *, seed: int) -> list[SmallDoc]:
    """Archive ``count`` one-page registration forms through the vault (sealed, indexed), as ingest does."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    owners = ["王伟", "李娜", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "黄丽"]
    docs = []
    vault = Vault.open(settings)
    try:
        run_id = vault.begin_run()
        for i in range(count):
            owner, id_number = owners[(seed + i) % len(owners)] + "明"[: i % 2], _id_number(rng)
            name = f"scan_{seed}_{i}.pdf"
            path = folder / name
            path.write_bytes(b"%PDF-1.4\n" + os.urandom(2000) + f"\n{owner}\n".encode())
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            lines = (f"业主入住登记表 {owner}", f"身份证号码：{id_number}", "本人承诺遵守物业管理公约")
            page = OcrPage(index=0, engine="rapidocr", width=2480, height=3508,
                           lines=tuple(OcrLine(text=t, box=(100, 100 + 80 * j, 2000, 160 + 80 * j), confidence=0.9)
                                       for j, t in enumerate(lines)))
            fields = {k: FieldValue(name=k, value=v, confidence=0.9)
                      for k, v in {"owner_name": owner, "id_number": id_number}.items()}
            source = SourceFile(path=path, name=name, size=path.stat().st_size, sha256=sha, kind=FileKind.PDF,
                                page_count=1)
            extraction = Extraction(doc_type=DocType.OWNER_REGISTRATION, doc_type_confidence=0.9, fields=fields)
            (doc_id,) = vault.store_file(source=source, pages=[page], documents=[extraction], run_id=run_id)
            docs.append(SmallDoc(doc_id, name, owner, id_number, sha))
        vault.finish_run(run_id, {"stored": count}, "completed")
    finally:
        vault.close()
    return docs


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean dangan environment (nothing of the caller's), home at ``tmp_path/home``; returns the home."""
    for name in list(os.environ):
        if name.startswith("DANGAN_") or name == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("DANGAN_HOME", str(home))
    return home


@pytest.fixture
def archive(env: Path, tmp_path: Path) -> list[SmallDoc]:
    """An archive made by ``dangan keys init`` holding three documents."""
    assert main(["keys", "init"]) == 0
    return add_documents(load_settings(), tmp_path / "scans", 3, seed=1)


def dangan(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command line in-process; (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _search_ids(query: str) -> set[str]:
    vault = Vault.open(load_settings())
    try:
        return {h.id for h in vault.search(query)}
    finally:
        vault.close()


# --------------------------------------------------------------------------- the defect: no silent key


def test_a_command_without_a_key_stops_and_creates_nothing(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = dangan(["search", "x"], capsys)
    assert code == 6
    assert err.count("\n") == 1 and "dangan keys init" in err
    assert not (env / "master.key").exists()


def test_moved_key_stops_every_command_and_is_never_recreated(
        archive: list[SmallDoc], env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = env / "master.key"
    aside = tmp_path / "aside.key"
    key.rename(aside)
    doc = archive[0]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for args in (["search", doc.id_number], ["search", "x"], ["show", doc.doc_id], ["export", "--jsonl", "-"],
                 ["ingest", str(inbox)], ["keys", "check"], ["keys", "rotate"], ["backup", str(tmp_path / "b")],
                 ["backup", "--verify", str(tmp_path / "b")]):
        code, _, err = dangan(args, capsys)
        assert code == 6, (args, err)
        assert err.count("\n") == 1 and "master key" in err, (args, err)
        assert not key.exists(), f"{args} made a new key"
    code, _, err = dangan(["keys", "init"], capsys)  # an archive exists: init refuses
    assert code == 6 and "already holds an archive" in err
    assert not key.exists()
    aside.rename(key)
    assert _search_ids(doc.id_number) == {doc.doc_id}


def test_key_of_the_right_length_but_wrong_is_refused(archive: list[SmallDoc], env: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    key = env / "master.key"
    real = key.read_bytes()
    key.write_bytes(os.urandom(32))
    for args in (["search", archive[0].id_number], ["show", archive[0].doc_id], ["keys", "check"]):
        code, _, err = dangan(args, capsys)
        assert code == 6 and "does not unlock this archive" in err, (args, err)
    key.write_bytes(real)
    assert _search_ids(archive[0].id_number) == {archive[0].doc_id}


def test_wrong_key_is_refused_by_an_archive_without_documents(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dangan(["keys", "init"], capsys)[0] == 0
    (env / "master.key").write_bytes(os.urandom(32))
    code, _, err = dangan(["search", "x"], capsys)
    assert code == 6 and "does not unlock" in err


@pytest.mark.parametrize("mode", [0o644, 0o666, 0o640, 0o604, 0o660, 0o700])
def test_key_file_others_may_read_or_change_is_refused(archive: list[SmallDoc], env: Path, mode: int,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    key = env / "master.key"
    key.chmod(mode)
    code, _, err = dangan(["search", archive[0].owner], capsys)
    if mode & 0o077:
        assert code == 6 and "chmod 600" in err and err.count("\n") == 1
    else:  # 0700: the owner only (execute is odd but exposes nothing)
        assert code == 0, err


def test_key_file_of_another_user_is_refused(archive: list[SmallDoc], env: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    key = env / "master.key"
    if os.geteuid() == 0:
        os.chown(key, 65534, -1)  # nobody
    else:
        monkeypatch.setattr(os, "geteuid", lambda: key.stat().st_uid + 1)
    code, _, err = dangan(["search", "x"], capsys)
    assert code == 6 and "belongs to user id" in err


def test_keys_init_makes_a_private_key_and_binds_the_index(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = dangan(["keys", "init"], capsys)
    assert code == 0 and "offline" in out
    key = env / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_size == 32
    assert stat.S_IMODE(env.stat().st_mode) == 0o700
    master = MasterKey.load(key)
    assert master.key_id in out
    with Session(create_engine(load_settings().database_url)) as s:
        rows = list(s.scalars(select(ArchiveKeyRow)))
    assert {r.purpose for r in rows} == {"field-encryption", "index-hmac"}
    assert {r.master_key_id for r in rows} == {master.key_id}
    code, _, err = dangan(["keys", "init"], capsys)
    assert code == 6 and "already exists" in err
    assert MasterKey.load(key).key_id == master.key_id


def test_keys_init_refuses_a_store_that_holds_objects(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (env / "objects" / "originals" / "ab").mkdir(parents=True)
    (env / "objects" / "originals" / "ab" / ("ab" * 32)).write_bytes(b"DGNE" + b"\0" * 80)
    code, _, err = dangan(["keys", "init"], capsys)
    assert code == 6 and "object store" in err
    assert not (env / "master.key").exists()


def test_no_code_path_makes_a_key_on_the_fly() -> None:
    root = Path(__file__).resolve().parent.parent
    callers = [p for d in ("flows", "storage", "schemas", "ocr") for p in (root / d).rglob("*.py")
               if "load_or_create(" in p.read_text(encoding="utf-8") and p.name != "keys.py"]
    assert callers == []


# --------------------------------------------------------------------------- archives written before key records


def test_archive_from_before_key_records_is_adopted_without_recomputing(env: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """An index whose sub-keys were derived from the master key keeps every hash and ciphertext as it is."""
    settings = Settings(home=env)
    master = create_key_file(env / "master.key")
    with monkeypatch.context() as m:  # write documents as the old build did: keys derived from the master key
        m.setattr(ArchiveKeys, "generate", classmethod(lambda cls: ArchiveKeys.legacy(master)))
        docs = add_documents(settings, tmp_path / "scans", 2, seed=4)
    engine = create_engine(settings.database_url)
    with engine.begin() as c:  # and drop the key records the old build did not have
        c.execute(ArchiveKeyRow.__table__.delete())
    before = _rows(settings)

    with pytest.raises(WrongMasterKey):  # another key is refused, also before adoption
        _ = Index(settings.database_url, MasterKey.generate())._blind
    vault = Vault.open(settings)
    try:
        assert {h.id for h in vault.search(docs[0].id_number)} == {docs[0].doc_id}
        assert vault.export_record(docs[1].doc_id, reveal=True)["fields"]["id_number"] == docs[1].id_number
        assert hashlib.sha256(vault.read_original(docs[0].doc_id)).hexdigest() == docs[0].sha256
    finally:
        vault.close()
    assert _rows(settings) == before  # no field value, HMAC or token was recomputed
    with Session(engine) as s:
        assert {r.key_id for r in s.scalars(select(ArchiveKeyRow))} == {master.key_id}


def _rows(settings: Settings) -> tuple[list[tuple[object, ...]], ...]:
    engine = create_engine(settings.database_url)
    with Session(engine) as s:
        return (sorted(s.execute(select(FieldRow.value_hmac, FieldRow.value_enc, FieldRow.value_key_id)).all(),
                       key=repr),
                sorted(s.execute(select(SearchDocRow.text_tokens, SearchDocRow.field_tokens)).all()),
                sorted(s.execute(select(DataKeyRow.dek_id, DataKeyRow.wrapped)).all(), key=repr))


# --------------------------------------------------------------------------- rotation


def _object_bytes(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted((home / "objects").rglob("*")) if p.is_file()}


def test_rotate_rewraps_every_key_and_retires_the_old_one(archive: list[SmallDoc], env: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings()
    old_key = (env / "master.key").read_bytes()
    objects = _object_bytes(env)
    fields_before, tokens_before, deks_before = _rows(settings)

    code, out, _ = dangan(["keys", "rotate"], capsys)
    assert code == 0, out
    assert "3 data key(s) and 2 archive key(s)" in out
    new_key = (env / "master.key").read_bytes()
    assert len(new_key) == 32 and new_key != old_key
    assert stat.S_IMODE((env / "master.key").stat().st_mode) == 0o600
    assert not pending_path(env / "master.key").exists()
    assert _object_bytes(env) == objects, "an object was rewritten"
    fields_after, tokens_after, deks_after = _rows(settings)
    assert (fields_after, tokens_after) == (fields_before, tokens_before)
    assert {d for d, _ in deks_after} == {d for d, _ in deks_before}
    assert not {w for _, w in deks_after} & {w for _, w in deks_before}, "a data key was not re-wrapped"
    new_id = MasterKey(new_key).key_id
    with Session(create_engine(settings.database_url)) as s:
        assert set(s.scalars(select(DataKeyRow.master_key_id))) == {new_id}
        assert set(s.scalars(select(ArchiveKeyRow.master_key_id))) == {new_id}

    vault = Vault.open(settings)
    try:
        for doc in archive:
            assert hashlib.sha256(vault.read_original(doc.doc_id)).hexdigest() == doc.sha256
        assert {h.id for h in vault.search(archive[1].id_number)} == {archive[1].doc_id}
        assert vault.export_record(archive[2].doc_id, reveal=True)["fields"]["id_number"] == archive[2].id_number
    finally:
        vault.close()

    (env / "master.key").write_bytes(old_key)  # the old key no longer opens anything
    code, _, err = dangan(["search", archive[0].owner], capsys)
    assert code == 6 and "does not unlock" in err


def test_crash_after_the_new_key_is_written_leaves_the_old_key_working(
        archive: list[SmallDoc], env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = env / "master.key"
    old = key.read_bytes()
    create_key_file(pending_path(key))  # the rotation died here, before its transaction
    code, out, err = dangan(["search", archive[0].id_number, "--json"], capsys)
    assert code == 0 and archive[0].doc_id in out, err
    assert key.read_bytes() == old
    code, out, _ = dangan(["keys", "rotate"], capsys)  # the next rotation clears the stale file and works
    assert code == 0, out
    assert not pending_path(key).exists() and key.read_bytes() != old
    assert _search_ids(archive[0].id_number) == {archive[0].doc_id}


def test_crash_after_the_index_was_rewrapped_is_finished_by_the_next_command(
        archive: list[SmallDoc], env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = env / "master.key"
    settings = load_settings()
    old = MasterKey.load(key)
    new = create_key_file(pending_path(key))
    index = Index(settings.database_url, old)
    keyring = open_keyring(settings, index)  # the files' keyring entries get copies under the new key
    index.rotate_master_key(new)  # committed; the process died before the file swap
    index.close()
    keyring.close()
    assert key.read_bytes() == old.secret_bytes()
    code, out, err = dangan(["search", archive[0].id_number, "--json"], capsys)
    assert code == 0 and archive[0].doc_id in out, err
    assert key.read_bytes() == new.secret_bytes() and not pending_path(key).exists()


def test_a_failure_inside_the_rewrap_changes_nothing(archive: list[SmallDoc], env: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import storage.keys as keys_module

    key = env / "master.key"
    old = key.read_bytes()
    settings = load_settings()
    before = _rows(settings)
    real = keys_module.rewrap_key
    calls = {"n": 0}

    def failing(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("simulated crash in the middle of the re-wrap")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(keys_module, "rewrap_key", failing)
    vault = Vault.open(settings)
    try:
        with pytest.raises(OSError, match="simulated"):
            rotate(key_source(settings), vault.index, vault.keys)
    finally:
        vault.close()
    assert key.read_bytes() == old and not pending_path(key).exists()
    assert _rows(settings) == before
    assert _search_ids(archive[0].id_number) == {archive[0].doc_id}


def test_a_writer_holding_the_old_key_cannot_write_after_a_rotation(archive: list[SmallDoc], env: Path,
                                                                   tmp_path: Path) -> None:
    settings = load_settings()
    stale = Vault.open(settings)  # e.g. an ingest that started before the rotation
    try:
        fresh = Vault.open(settings)
        try:
            rotate(key_source(settings), fresh.index, fresh.keys)
        finally:
            fresh.close()
        with pytest.raises(WrongMasterKey, match="rotated while this command ran"):
            add_documents_with(stale, tmp_path / "late")
    finally:
        stale.close()
    with Session(create_engine(settings.database_url)) as s:
        assert len(list(s.scalars(select(DataKeyRow)))) == len(archive)


def add_documents_with(vault: Vault, folder: Path) -> None:
    folder.mkdir()
    path = folder / "late.pdf"
    path.write_bytes(b"%PDF-1.4 late")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    source = SourceFile(path=path, name=path.name, size=path.stat().st_size, sha256=sha, kind=FileKind.PDF,
                        page_count=1)
    extraction = Extraction(doc_type=DocType.OTHER, doc_type_confidence=0.5)
    page = OcrPage(index=0, engine="rapidocr", width=10, height=10)
    vault.store_file(source=source, pages=[page], documents=[extraction], run_id=vault.begin_run())


def test_finishing_a_rotation_twice_is_harmless(tmp_path: Path) -> None:
    key = tmp_path / "master.key"
    create_key_file(key)
    new = create_key_file(pending_path(key))
    finish_rotation(key, new)
    finish_rotation(key, new)  # another process got there first
    assert MasterKey.load(key).key_id == new.key_id


# --------------------------------------------------------------------------- key sources


@pytest.fixture
def key_hex(env: Path, tmp_path: Path) -> Iterator[str]:
    """A key held outside dangan (a secret store), as hex."""
    yield os.urandom(32).hex()


@pytest.mark.parametrize("form", ["hex", "base64", "raw"])
def test_key_from_a_command(env: Path, tmp_path: Path, key_hex: str, form: str,
                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import base64

    raw = bytes.fromhex(key_hex)
    secret = tmp_path / "secret"
    secret.write_bytes({"hex": key_hex.encode() + b"\n", "base64": base64.b64encode(raw) + b"\n", "raw": raw}[form])
    monkeypatch.setenv("DANGAN_MASTER_KEY_COMMAND", f"cat {secret}")
    code, out, err = dangan(["keys", "init"], capsys)  # adopts the key for the new archive; writes no key file
    assert code == 0, err
    assert MasterKey(raw).key_id in out and not (env / "master.key").exists()
    add_documents(load_settings(), tmp_path / "scans", 1, seed=9)
    code, out, _ = dangan(["keys", "check"], capsys)
    assert code == 0 and "DANGAN_MASTER_KEY_COMMAND" in out
    secret.write_bytes(os.urandom(32).hex().encode())
    code, _, err = dangan(["search", "x"], capsys)
    assert code == 6 and "does not unlock" in err


@pytest.mark.parametrize(("command", "message"), [
    ("false", "failed (exit status 1)"),
    ("/nonexistent/kms-client", "not found"),
    ("echo tooshort", "not a master key"),
])
def test_a_failing_key_command_stops_with_one_line(env: Path, command: str, message: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DANGAN_MASTER_KEY_COMMAND", command)
    code, _, err = dangan(["search", "x"], capsys)
    assert code == 6 and message in err and err.count("\n") == 1


def test_command_and_key_file_together_are_refused(env: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DANGAN_MASTER_KEY_COMMAND", "cat /dev/null")
    monkeypatch.setenv("DANGAN_MASTER_KEY_FILE", str(env / "k"))
    code, _, err = dangan(["search", "x"], capsys)
    assert code == 6 and "set only one" in err


def test_key_from_a_systemd_credential(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    raw = os.urandom(32)
    (creds / "dangan-master-key").write_bytes(raw)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert dangan(["keys", "init"], capsys)[0] == 0
    code, out, _ = dangan(["keys", "check"], capsys)
    assert code == 0 and "systemd credential" in out and MasterKey(raw).key_id in out
    (creds / "dangan-master-key").unlink()  # the credential is gone: the key file is looked for, and missing
    code, _, err = dangan(["search", "x"], capsys)
    assert code == 6 and "No master key" in err


def test_rotation_with_a_key_from_a_command_writes_the_new_key_out(
        env: Path, tmp_path: Path, key_hex: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "secret"
    secret.write_text(key_hex)
    monkeypatch.setenv("DANGAN_MASTER_KEY_COMMAND", f"cat {secret}")
    assert dangan(["keys", "init"], capsys)[0] == 0
    docs = add_documents(load_settings(), tmp_path / "scans", 2, seed=3)
    code, _, err = dangan(["keys", "rotate"], capsys)
    assert code == 6 and "--new-key-out" in err
    out_file = tmp_path / "handover" / "new.key"
    code, out, err = dangan(["keys", "rotate", "--new-key-out", str(out_file)], capsys)
    assert code == 0, err
    assert "put it where the key comes from" in out
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    code, _, err = dangan(["search", "x"], capsys)  # the secret store still gives the old key
    assert code == 6 and "does not unlock" in err
    secret.write_text(out_file.read_bytes().hex())  # the operator updates the secret store
    assert _search_ids(docs[0].id_number) == {docs[0].doc_id}


@pytest.mark.integration
def test_rotation_on_postgresql(env: Path, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DANGAN_DB_URL", pg_url)
    assert dangan(["keys", "init"], capsys)[0] == 0
    settings = load_settings()
    docs = add_documents(settings, tmp_path / "scans", 3, seed=14)
    stale = Vault.open(settings)
    try:
        code, out, err = dangan(["keys", "rotate"], capsys)
        assert code == 0 and "3 data key(s)" in out, err
        with pytest.raises(WrongMasterKey, match="rotated while this command ran"):
            add_documents_with(stale, tmp_path / "late")
    finally:
        stale.close()
    vault = Vault.open(settings)
    try:
        for doc in docs:
            assert hashlib.sha256(vault.read_original(doc.doc_id)).hexdigest() == doc.sha256
        assert {h.id for h in vault.search(docs[0].id_number)} == {docs[0].doc_id}
    finally:
        vault.close()
    new = MasterKey.load(env / "master.key")
    with Session(create_engine(pg_url)) as s:
        assert set(s.scalars(select(DataKeyRow.master_key_id))) == {new.key_id}
