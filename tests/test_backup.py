"""Backups: encrypted, verifiable, incremental; restore into an empty home; the restore drill.

The fast tests build archives through the vault (no OCR) and drive the real
command line in-process. The drill ingests generated scans for real through
the ``dangan`` command; its PostgreSQL + S3 variant is marked slow.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from schemas.errors import KeyDestroyed
from schemas.settings import Settings, load_settings
from storage.backup import MANIFEST, _authenticate, _read_index, _read_manifest
from storage.keys import MasterKey
from storage.vault import Vault
from tests.e2e import copy_scans, run_dangan
from tests.test_keys import SmallDoc, add_documents, dangan

# --------------------------------------------------------------------------- fixtures and helpers


def _clean_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name in list(os.environ):
        if name.startswith("DANGAN_") or name == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(name)
    monkeypatch.setenv("DANGAN_HOME", str(home))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home set up by ``dangan keys init`` (the command line acts on it)."""
    path = tmp_path / "home"
    _clean_env(monkeypatch, path)
    from flows.cli import main

    assert main(["keys", "init"]) == 0
    return path


def _new_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_from: Path, name: str = "restored") -> Path:
    """An empty home holding only a copy of the archive's key (as an operator restores it from key backup)."""
    target = tmp_path / name
    target.mkdir(mode=0o700)
    shutil.copy2(key_from / "master.key", target / "master.key")
    monkeypatch.setenv("DANGAN_HOME", str(target))
    return target


def _destroy(settings: Settings, doc: SmallDoc) -> str:
    """Destroy a document (crypto-shredding); returns its data key id."""
    vault = Vault.open(settings)
    try:
        dek_id = vault.index.get_document(doc.doc_id).dek_id
        vault.index.destroy_document(doc.doc_id, actor="test", role="admin", approved_by="manager", reason="test")
        return dek_id
    finally:
        vault.close()


def _answers(settings: Settings, queries: list[str]) -> dict[str, list[dict]]:
    vault = Vault.open(settings)
    try:
        return {q: [h.model_dump(mode="json") for h in vault.index.search(q)] for q in queries}
    finally:
        vault.close()


def _check_documents(settings: Settings, docs: list[SmallDoc]) -> None:
    """Every document decrypts to the SHA-256 the index recorded."""
    vault = Vault.open(settings)
    try:
        for doc in docs:
            assert hashlib.sha256(vault.read_original(doc.doc_id)).hexdigest() == doc.sha256
            assert vault.read_ocr(doc.doc_id)
    finally:
        vault.close()


def _backup_rows(dest: Path, master: MasterKey, table: str) -> list[list]:
    manifest = _read_manifest(dest)
    key = _authenticate(manifest, master)
    return [line[1] for line in _read_index(dest / manifest["index"]["file"], key, manifest["backup_id"])
            if isinstance(line, list) and line[0] == table]


# --------------------------------------------------------------------------- round trip


def test_backup_verify_restore_round_trip(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings()
    docs = add_documents(settings, tmp_path / "scans", 4, seed=2)
    gone, kept = docs[0], docs[1:]
    dek_gone = _destroy(settings, gone)
    queries = [d.id_number for d in docs] + [d.owner for d in docs] + ["登记表", ""]
    before = _answers(settings, queries)
    dest = tmp_path / "backup"

    code, out, err = dangan(["backup", str(dest)], capsys)
    assert code == 0, err
    assert "3 document(s)" in out and "8 object(s) (8 copied" in out  # the destroyed file's objects too
    assert stat_mode(dest) == 0o700 and stat_mode(dest / MANIFEST) == 0o600
    code, out, err = dangan(["backup", "--verify", str(dest)], capsys)
    assert code == 0 and "is intact" in out, err
    master = MasterKey.load(home / "master.key")
    assert not [r for r in _backup_rows(dest, master, "data_keys") if r[0] == dek_gone and r[3] is not None]

    restored = _new_home(tmp_path, monkeypatch, home)
    code, out, err = dangan(["restore", str(dest)], capsys)
    assert code == 0, err
    assert "restored backup" in out and "3 document(s)" in out
    target = load_settings()
    assert target.home == restored
    _check_documents(target, kept)
    assert _answers(target, queries) == before
    vault = Vault.open(target)
    try:
        with pytest.raises(KeyDestroyed):  # destroyed before the backup: stays undecryptable
            vault.index.data_key(dek_gone)
        assert vault.index.find_by_sha256(gone.sha256) == []
        actions = [e.action for e in vault.index.audit_entries()]
        assert "destroy" in actions and "restore" in actions and "backup" not in actions
        assert vault.export_record(kept[0].doc_id, reveal=True)["fields"]["id_number"] == kept[0].id_number
    finally:
        vault.close()
    code, out, _ = dangan(["search", kept[1].id_number, "--json"], capsys)
    assert code == 0 and [h["id"] for h in json.loads(out)] == [kept[1].doc_id]
    assert not (restored / ".restore-in-progress").exists()
    # the restored archive takes new documents (ids and sequences continue)
    add_documents(target, tmp_path / "more", 1, seed=50)


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_backup_is_incremental(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings()
    docs = add_documents(settings, tmp_path / "scans", 2, seed=3)
    dest = tmp_path / "backup"
    assert "4 copied" in dangan(["backup", str(dest)], capsys)[1]
    assert "(0 copied, 4 already there)" in dangan(["backup", str(dest)], capsys)[1]
    add_documents(settings, tmp_path / "more", 1, seed=30)
    assert "(2 copied, 4 already there)" in dangan(["backup", str(dest)], capsys)[1]
    # destroyed, then the same bytes archived again: same object keys, a new data key -> copied again
    _destroy(settings, docs[0])
    again = _rearchive(settings, tmp_path / "scans" / docs[0].name)
    code, out, err = dangan(["backup", str(dest)], capsys)
    assert code == 0 and "(2 copied, 4 already there)" in out, out + err
    assert dangan(["backup", "--verify", str(dest)], capsys)[0] == 0
    assert len(list(dest.glob("index-*.dgb"))) == 1
    _new_home(tmp_path, monkeypatch, home)
    assert dangan(["restore", str(dest)], capsys)[0] == 0
    _check_documents(load_settings(), [again, *docs[1:]])


def _rearchive(settings: Settings, path: Path) -> SmallDoc:
    """Archive a file again (after its destruction) as ingest would: a new data key."""
    from schemas.documents import DocType
    from schemas.models import Extraction, FileKind, OcrPage, SourceFile

    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    vault = Vault.open(settings)
    try:
        source = SourceFile(path=path, name=path.name, size=path.stat().st_size, sha256=sha, kind=FileKind.PDF,
                            page_count=1)
        (doc_id,) = vault.store_file(source=source, pages=[OcrPage(index=0, engine="rapidocr", width=9, height=9)],
                                     documents=[Extraction(doc_type=DocType.OTHER, doc_type_confidence=0.5)],
                                     run_id=vault.begin_run())
    finally:
        vault.close()
    return SmallDoc(doc_id, path.name, "", "", sha)


def test_backup_says_when_the_store_lacks_an_object(home: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    add_documents(load_settings(), tmp_path / "scans", 2, seed=13)
    lost = sorted(p for p in (home / "objects" / "originals").rglob("*") if p.is_file()
                  and not p.name.endswith(".meta.json"))[0]
    lost.unlink()
    dest = tmp_path / "backup"
    code, out, err = dangan(["backup", str(dest)], capsys)
    assert code == 10 and lost.name in err and err.count("\n") == 1, err
    assert "backup" in out and dangan(["backup", "--verify", str(dest)], capsys)[0] == 0  # the rest is kept


def test_backup_folder_inside_the_store_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = dangan(["backup", str(home / "objects" / "backup")], capsys)
    assert code == 6 and "inside the object store" in err


# --------------------------------------------------------------------------- tampering, wrong key, refusals


def _first_object(dest: Path) -> Path:
    return sorted(p for p in (dest / "objects").rglob("*") if p.is_file())[0]


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _cut(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:-size])


def _edit_manifest(dest: Path, change: object) -> None:
    manifest = json.loads((dest / MANIFEST).read_text())
    change(manifest)  # type: ignore[operator]
    (dest / MANIFEST).write_text(json.dumps(manifest))


def _swap_objects(dest: Path) -> None:
    """Swap two objects and their manifest entries: every SHA-256 still matches its file."""
    objects = sorted(p for p in (dest / "objects").rglob("*") if p.is_file())
    a, b = objects[0], objects[-1]
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)

    def swap(m: dict) -> None:
        ka, kb = (str(p.relative_to(dest / "objects")) for p in (a, b))
        m["objects"][ka], m["objects"][kb] = m["objects"][kb], m["objects"][ka]
    _edit_manifest(dest, swap)


TAMPERING = {
    "object byte": lambda d: _flip(_first_object(d), 100),
    "object header": lambda d: _flip(_first_object(d), 8),
    "object removed": lambda d: _first_object(d).unlink(),
    "object cut short": lambda d: _cut(_first_object(d), 1),
    "index byte": lambda d: _flip(next(d.glob("index-*.dgb")), 40),
    "index cut short": lambda d: _cut(next(d.glob("index-*.dgb")), 20),
    "index removed": lambda d: next(d.glob("index-*.dgb")).unlink(),
    "manifest hash of an object": lambda d: _edit_manifest(
        d, lambda m: next(iter(m["objects"].values())).update(sha256="0" * 64)),
    "manifest hash and file together": lambda d: (_flip(_first_object(d), 100), _edit_manifest(
        d, lambda m: m["objects"][str(_first_object(d).relative_to(d / "objects"))].update(
            sha256=hashlib.sha256(_first_object(d).read_bytes()).hexdigest()))),
    "manifest object dropped": lambda d: _edit_manifest(d, lambda m: m["objects"].popitem()),
    "manifest row count": lambda d: _edit_manifest(d, lambda m: m["index"]["rows"].update(documents=99)),
    "manifest mac": lambda d: _edit_manifest(d, lambda m: m.update(mac="0" * 64)),
    "manifest wrapped key": lambda d: _edit_manifest(d, lambda m: m.update(wrapped_key=m["wrapped_key"][::-1])),
    "objects swapped": _swap_objects,
    "manifest removed": lambda d: (d / MANIFEST).unlink(),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_tampering_is_detected(home: Path, tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    add_documents(load_settings(), tmp_path / "scans", 2, seed=5)
    dest = tmp_path / "backup"
    assert dangan(["backup", str(dest)], capsys)[0] == 0
    TAMPERING[how](dest)
    code, _, err = dangan(["backup", "--verify", str(dest)], capsys)
    assert code == 10, err
    assert err.count("\n") == 1 and "dangan:" in err
    restored = _new_home(tmp_path, monkeypatch, home)
    code, _, err = dangan(["restore", str(dest)], capsys)
    assert code == 10, err
    assert sorted(p.name for p in restored.iterdir()) == ["master.key"], "a damaged backup was partly restored"


def test_backup_needs_the_key_it_was_made_under(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    add_documents(load_settings(), tmp_path / "scans", 1, seed=6)
    dest = tmp_path / "backup"
    assert dangan(["backup", str(dest)], capsys)[0] == 0
    other = tmp_path / "other"
    monkeypatch.setenv("DANGAN_HOME", str(other))
    assert dangan(["keys", "init"], capsys)[0] == 0
    for args in (["backup", "--verify", str(dest)], ["restore", "--verify-only", str(dest)], ["restore", str(dest)]):
        code, _, err = dangan(args, capsys)
        assert code == 6 and "made under master key" in err, (args, err)
    code, _, err = dangan(["backup", str(dest)], capsys)  # another archive's backup folder is left alone
    assert code == 6 and "another master key" in err


def test_backup_after_rotation_needs_the_new_key(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    docs = add_documents(load_settings(), tmp_path / "scans", 2, seed=7)
    old = tmp_path / "old-backup"
    assert dangan(["backup", str(old)], capsys)[0] == 0
    assert dangan(["keys", "rotate"], capsys)[0] == 0
    code, _, err = dangan(["backup", "--verify", str(old)], capsys)
    assert code == 6 and "made under master key" in err
    new = tmp_path / "new-backup"
    assert dangan(["backup", str(new)], capsys)[0] == 0
    _new_home(tmp_path, monkeypatch, home)
    assert dangan(["restore", str(new)], capsys)[0] == 0
    _check_documents(load_settings(), docs)


def test_restore_refuses_a_home_that_is_not_empty(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    add_documents(load_settings(), tmp_path / "scans", 1, seed=8)
    dest = tmp_path / "backup"
    assert dangan(["backup", str(dest)], capsys)[0] == 0
    code, _, err = dangan(["restore", str(dest)], capsys)  # into the archive itself
    assert code == 6 and "empty" in err
    target = _new_home(tmp_path, monkeypatch, home)
    (target / "objects" / "ocr").mkdir(parents=True)
    (target / "objects" / "ocr" / "stray").write_bytes(b"DGNE" + b"\0" * 60)
    code, _, err = dangan(["restore", str(dest)], capsys)
    assert code == 6 and "object store" in err


def test_interrupted_restore_is_finished_by_running_it_again(home: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from storage.objects import LocalObjectStore

    docs = add_documents(load_settings(), tmp_path / "scans", 2, seed=9)
    dest = tmp_path / "backup"
    assert dangan(["backup", str(dest)], capsys)[0] == 0
    target = _new_home(tmp_path, monkeypatch, home)
    real_put = LocalObjectStore.put
    calls = {"n": 0}

    def dying_put(self: LocalObjectStore, key: str, data: bytes, *, metadata: dict[str, str]) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the operator pressed Ctrl-C
        real_put(self, key, data, metadata=metadata)

    monkeypatch.setattr(LocalObjectStore, "put", dying_put)
    assert dangan(["restore", str(dest)], capsys)[0] == 130
    assert (target / ".restore-in-progress").exists()
    monkeypatch.setattr(LocalObjectStore, "put", real_put)
    code, _, err = dangan(["restore", str(dest)], capsys)
    assert code == 0, err
    _check_documents(load_settings(), docs)


# --------------------------------------------------------------------------- other stacks


@pytest.mark.integration
def test_restore_from_sqlite_and_local_store_into_postgresql_and_s3(
        home: Path, tmp_path: Path, pg_url: str, s3_server, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    docs = add_documents(load_settings(), tmp_path / "scans", 3, seed=11)
    gone = docs.pop()
    _destroy(load_settings(), gone)
    queries = [d.id_number for d in docs] + [d.owner for d in docs]
    before = _answers(load_settings(), queries)
    dest = tmp_path / "backup"
    assert dangan(["backup", str(dest)], capsys)[0] == 0
    _new_home(tmp_path, monkeypatch, home)
    _use_postgresql_and_s3(monkeypatch, pg_url, s3_server, "restored-bucket")
    code, _, err = dangan(["restore", str(dest)], capsys)
    assert code == 0, err
    target = load_settings()
    assert target.uses_s3 and target.db_url == pg_url
    _check_documents(target, docs)
    assert _answers(target, queries) == before
    add_documents(target, tmp_path / "more", 1, seed=60)  # PostgreSQL's id sequences were moved on


@pytest.mark.integration
def test_backup_of_postgresql_and_s3(tmp_path: Path, pg_url: str, s3_server, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    source_home = tmp_path / "home"
    _clean_env(monkeypatch, source_home)
    _use_postgresql_and_s3(monkeypatch, pg_url, s3_server, "backup-source")
    assert dangan(["keys", "init"], capsys)[0] == 0
    docs = add_documents(load_settings(), tmp_path / "scans", 3, seed=12)
    queries = [d.id_number for d in docs] + [d.owner for d in docs]
    before = _answers(load_settings(), queries)
    dest = tmp_path / "backup"
    code, out, err = dangan(["backup", str(dest)], capsys)
    assert code == 0 and "6 copied" in out, err
    assert "(0 copied, 6 already there)" in dangan(["backup", str(dest)], capsys)[1]
    for name in ("DANGAN_DB_URL", "DANGAN_S3_ENDPOINT", "DANGAN_S3_ACCESS_KEY", "DANGAN_S3_SECRET_KEY",
                 "DANGAN_S3_BUCKET"):
        monkeypatch.delenv(name)
    _new_home(tmp_path, monkeypatch, source_home)
    assert dangan(["restore", str(dest)], capsys)[0] == 0
    _check_documents(load_settings(), docs)
    assert _answers(load_settings(), queries) == before


def _use_postgresql_and_s3(monkeypatch: pytest.MonkeyPatch, pg_url: str, s3_server, bucket: str) -> None:
    monkeypatch.setenv("DANGAN_DB_URL", pg_url)
    monkeypatch.setenv("DANGAN_S3_ENDPOINT", s3_server.endpoint)
    monkeypatch.setenv("DANGAN_S3_ACCESS_KEY", s3_server.access_key)
    monkeypatch.setenv("DANGAN_S3_SECRET_KEY", s3_server.secret_key)
    monkeypatch.setenv("DANGAN_S3_BUCKET", bucket)


# --------------------------------------------------------------------------- the drill: real ingest, real commands


def _drill(tmp_path: Path, corpus: list, stack: dict[str, str], restore_stack: dict[str, str]) -> None:
    """Ingest real scans, destroy one, back up, restore into an empty home, and prove nothing was lost.

    The first scan of ``corpus`` is the one destroyed before the backup.
    """
    inbox = tmp_path / "inbox"
    copy_scans(corpus, inbox)
    env = {"DANGAN_HOME": str(tmp_path / "home"), **stack}
    assert run_dangan(["keys", "init"], env).code == 0
    r = run_dangan(["ingest", str(inbox), "--keep", "--quiet"], env)
    assert r.code == 0, r.stderr
    settings = Settings(home=Path(env["DANGAN_HOME"]), **_settings_of(stack))
    shas = {hashlib.sha256(item.path.read_bytes()).hexdigest(): item for item in corpus}
    gone_sha = hashlib.sha256(corpus[0].path.read_bytes()).hexdigest()
    vault = Vault.open(settings)
    try:
        docs = list(vault.index.iter_documents())
        assert {d.sha256 for d in docs} == set(shas)
        (gone,) = [d for d in docs if d.sha256 == gone_sha]
        vault.index.destroy_document(gone.id, actor="drill", role="admin", approved_by="manager", reason="drill")
        kept = [d for d in docs if d.sha256 != gone_sha]
    finally:
        vault.close()
    id_numbers = [v for item in corpus[1:] for k, v in item.fields.items() if "id_number" in k]
    names = sorted({v for d in kept for k, v in d.fields.items() if k in ("owner_name", "name", "buyer_name")})
    queries = [*id_numbers, *names, "登记", ""]
    in_process = _answers(settings, queries)
    found = [q for q in id_numbers if in_process[q]]
    assert found, "no ID number search found anything: the drill would prove nothing"
    cli_queries = [found[0], *names[:1]]  # through the real command; every query through the vault
    answers = {q: json.loads(run_dangan(["search", q, "--json"], env).stdout) for q in cli_queries}
    assert answers[found[0]] == in_process[found[0]]

    dest = tmp_path / "backup"
    r = run_dangan(["backup", str(dest)], env)
    assert r.code == 0, r.stderr
    assert run_dangan(["backup", "--verify", str(dest)], env).code == 0

    target = tmp_path / "restored"
    target.mkdir(mode=0o700)
    shutil.copy2(tmp_path / "home" / "master.key", target / "master.key")
    env2 = {k: v for k, v in {**env, "DANGAN_HOME": str(target), **restore_stack}.items() if v}
    r = run_dangan(["restore", str(dest)], env2)
    assert r.code == 0, r.stderr
    for q, expected in answers.items():
        assert json.loads(run_dangan(["search", q, "--json"], env2).stdout) == expected, q
    restored_settings = Settings(home=target, **_settings_of(restore_stack))
    assert _answers(restored_settings, queries) == in_process
    restored = Vault.open(restored_settings)
    try:
        for d in kept:
            assert hashlib.sha256(restored.read_original(d.id)).hexdigest() == d.sha256
        with pytest.raises(KeyDestroyed):
            restored.index.data_key(gone.dek_id)
        assert restored.index.find_by_sha256(gone_sha) == []
    finally:
        restored.close()


def _settings_of(stack: dict[str, str]) -> dict[str, str]:
    names = {"DANGAN_DB_URL": "db_url", "DANGAN_S3_ENDPOINT": "s3_endpoint", "DANGAN_S3_ACCESS_KEY": "s3_access_key",
             "DANGAN_S3_SECRET_KEY": "s3_secret_key", "DANGAN_S3_BUCKET": "s3_bucket"}
    return {names[k]: v for k, v in stack.items() if v and k in names}


@pytest.fixture(scope="module")
def drill_corpus(tmp_path_factory: pytest.TempPathFactory) -> list:
    """Six generated scans (one multi-page contract); clean, so OCR reads them quickly."""
    from tests.synth.corpus import generate_corpus

    return generate_corpus(tmp_path_factory.mktemp("drill"), 6, seed=21, degrade=False)


@pytest.mark.integration
def test_restore_drill(tmp_path: Path, drill_corpus: list) -> None:
    """Three one-page scans (two carry ID numbers); the first, without one, is destroyed."""
    plain = [i for i in drill_corpus if i.pages == 1 and not any("id_number" in k for k in i.fields)]
    with_id = [i for i in drill_corpus if i.pages == 1 and any("id_number" in k for k in i.fields)]
    _drill(tmp_path, [plain[0], *with_id[:2]], {}, {})


@pytest.mark.slow
@pytest.mark.integration
def test_restore_drill_postgresql_and_s3(tmp_path: Path, drill_corpus: list, pg_url: str, s3_server) -> None:
    """Every scan, on PostgreSQL and S3, restored into SQLite and the embedded store."""
    stack = {"DANGAN_DB_URL": pg_url, "DANGAN_S3_ENDPOINT": s3_server.endpoint,
             "DANGAN_S3_ACCESS_KEY": s3_server.access_key, "DANGAN_S3_SECRET_KEY": s3_server.secret_key,
             "DANGAN_S3_BUCKET": "drill-source"}
    _drill(tmp_path, drill_corpus, stack, dict.fromkeys(stack, ""))
