"""End to end through the real ``dangan`` command, on both stacks.

SQLite + embedded store, and PostgreSQL + a real S3 server (SeaweedFS) on
127.0.0.1. Real OCR (RapidOCR, the default engine), real encryption.
"""

from __future__ import annotations

import hashlib
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from schemas.settings import Settings
from storage.vault import Vault
from tests.e2e import (
    FRESH_PREFECT,
    copy_scans,
    plaintext_hits,
    read_export,
    run_dangan,
    sensitive_values,
    write_bad_inputs,
)
from tests.synth.corpus import CorpusItem, generate_corpus
from web.access import Role
from web.users import Users

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[CorpusItem]:
    """Five degraded synthetic documents in mixed formats (multi-page PDF among them)."""
    return generate_corpus(tmp_path_factory.mktemp("corpus"), 5, seed=3)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _table_dump(url: str) -> str:
    """Every row of every table of the index, as one string."""
    engine = create_engine(url)
    parts = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            parts += [repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{table}"'))]
    engine.dispose()
    return "\n".join(parts)


def _ocr_lines(settings: Settings) -> set[str]:
    """Long OCR lines of every stored document (decrypted through the vault).

    Lines that hold nothing but a plain field value (a seller's company name)
    are left out: names are indexed in plain text by design.
    """
    vault = Vault.open(settings)
    try:
        docs = list(vault.index.iter_documents())
        plain = {v for d in docs for v in d.fields.values() if "*" not in v}
        return {ln.text for d in docs for p in vault.read_ocr(d.id) for ln in p.lines
                if len(ln.text) >= 8 and ln.text not in plain}
    finally:
        vault.close()


def _check_results(items: list[CorpusItem], export: dict[str, dict], *, revealed: bool) -> None:
    for item in items:
        doc = export[item.file]
        assert set(doc) >= {"id", "source_name", "sha256", "doc_type", "unit", "pages", "fields", "confidence",
                            "status"}
        assert doc["sha256"] == _sha(item.path)
        assert doc["pages"] == item.pages
        assert doc["doc_type"] == item.doc_type.value
        assert all(v != "" for v in doc["fields"].values())
        for key, value in doc["fields"].items():
            if ("id_number" in key or "phone" in key) and not revealed:
                assert "*" in value, f"{key} not masked"


def test_sqlite_embedded_store_end_to_end(tmp_path: Path, corpus: list[CorpusItem]) -> None:
    inbox = tmp_path / "scans" / "inbox"
    copy_scans(corpus, inbox)
    expected_bad = write_bad_inputs(inbox / "bad")
    bad_hashes = {name: _sha(inbox / "bad" / name) for name in expected_bad}
    env = {"DANGAN_HOME": str(tmp_path / "home"), FRESH_PREFECT: "1"}  # the first run migrates Prefect's database

    r = run_dangan(["ingest", str(inbox)], env)
    assert r.code == 0, r.stderr
    assert f"{len(corpus) + len(expected_bad)} file(s): {len(corpus)} stored" in r.stdout
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr, r.stderr

    done = tmp_path / "scans" / "done" / "inbox"
    quarantine = tmp_path / "scans" / "quarantine" / "inbox" / "bad"
    assert sorted(p.name for p in done.iterdir()) == sorted(i.file for i in corpus)
    for name, code in expected_bad.items():
        assert _sha(quarantine / name) == bad_hashes[name], f"{name} changed"
        reason = (quarantine / f"{name}.reason.txt").read_text(encoding="utf-8")
        assert reason.startswith(f"{code}: ") and len(reason.splitlines()) == 1, reason
    assert not any(p.is_file() for p in inbox.rglob("*"))

    export_file = tmp_path / "export.jsonl"
    assert run_dangan(["export", "--jsonl", str(export_file)], env).code == 0
    export = read_export(export_file)
    _check_results(corpus, export, revealed=False)

    # search: a name and an exact ID number
    owner = next(i for i in corpus if "id_number" in i.fields or "buyer_id_number" in i.fields)
    id_key = "id_number" if "id_number" in owner.fields else "buyer_id_number"
    r = run_dangan(["search", owner.fields[id_key], "--json"], env)
    assert r.code == 0 and export[owner.file]["id"] in r.stdout
    name = next(v for i in corpus for k, v in i.fields.items() if k in ("owner_name", "buyer_name", "name"))
    r = run_dangan(["search", name], env)
    assert r.code == 0 and "document(s)" in r.stdout

    # reveal needs a role: a clerk is refused, leadership sees the values (audited)
    with closing(Vault.open(Settings(home=tmp_path / "home"))) as vault:
        users = Users.of_index(vault.index)
        users.add("clerk1", Role.CLERK, "clerk1 password")
        users.add("boss", Role.LEADERSHIP, "boss password")
    clerk = {**env, "DANGAN_USER": "clerk1", "DANGAN_PASSWORD": "clerk1 password"}
    assert run_dangan(["export", "--jsonl", str(export_file), "--reveal"], clerk).code == 4
    leader = {**env, "DANGAN_USER": "boss", "DANGAN_PASSWORD": "boss password"}
    assert run_dangan(["export", "--jsonl", str(export_file), "--reveal"], leader).code == 0
    revealed = read_export(export_file)
    assert revealed[owner.file]["fields"][id_key] == owner.fields[id_key]

    # a re-scan of the same files is recognised: nothing stored or indexed twice
    copy_scans(corpus, inbox)
    r = run_dangan(["ingest", str(inbox)], env)
    assert r.code == 0 and f"{len(corpus)} already archived" in r.stdout, r.stdout
    settings = Settings(home=tmp_path / "home")
    dump = _table_dump(settings.database_url)
    objects = [p for p in (tmp_path / "home" / "objects").rglob("*")
               if p.is_file() and not p.name.endswith(".meta.json")]
    assert len(objects) == 2 * len(corpus)

    # no stored object and no index table holds plaintext
    secrets_ = sensitive_values(corpus)
    lines = _ocr_lines(settings)
    assert lines, "OCR produced no lines"
    for obj in objects:
        assert plaintext_hits(obj.read_bytes(), secrets_, lines) == [], obj
    assert plaintext_hits(dump.encode(), secrets_, lines) == []
    db_bytes = b"".join(p.read_bytes() for p in (tmp_path / "home").glob("index.sqlite3*"))
    assert plaintext_hits(db_bytes, secrets_, set()) == []


def test_postgresql_and_s3_end_to_end(tmp_path: Path, corpus: list[CorpusItem], pg_url: str, s3_server) -> None:
    items = corpus[:3]
    inbox = tmp_path / "inbox"
    copy_scans(items, inbox)
    env = {
        "DANGAN_HOME": str(tmp_path / "home"),
        "DANGAN_DB_URL": pg_url,
        "DANGAN_S3_ENDPOINT": s3_server.endpoint,
        "DANGAN_S3_ACCESS_KEY": s3_server.access_key,
        "DANGAN_S3_SECRET_KEY": s3_server.secret_key,
        "DANGAN_S3_BUCKET": "dangan-e2e",
    }
    r = run_dangan(["ingest", str(inbox), "--keep"], env)
    assert r.code == 0, r.stderr
    assert f"{len(items)} stored" in r.stdout
    export_file = tmp_path / "export.jsonl"
    assert run_dangan(["export", "--jsonl", str(export_file)], env).code == 0
    _check_results(items, read_export(export_file), revealed=False)
    assert not (tmp_path / "home" / "objects").exists(), "embedded store used although S3 is configured"

    client = s3_server.client()
    keys = [o.object_name for o in client.list_objects("dangan-e2e", recursive=True)]
    assert len(keys) == 2 * len(items)
    settings = Settings(home=tmp_path / "home", db_url=pg_url, s3_endpoint=s3_server.endpoint,
                        s3_access_key=s3_server.access_key, s3_secret_key=s3_server.secret_key,
                        s3_bucket="dangan-e2e")
    secrets_ = sensitive_values(items)
    lines = _ocr_lines(settings)
    for key in keys:
        resp = client.get_object("dangan-e2e", key)
        try:
            assert plaintext_hits(resp.read(), secrets_, lines) == [], key
        finally:
            resp.close()
            resp.release_conn()
    assert plaintext_hits(_table_dump(pg_url).encode(), secrets_, lines) == []

    # the same bytes again: recognised, nothing new in the bucket
    r = run_dangan(["ingest", str(inbox), "--keep"], env)
    assert r.code == 0 and f"{len(items)} already archived" in r.stdout
    assert len(list(client.list_objects("dangan-e2e", recursive=True))) == 2 * len(items)


def test_storage_down_leaves_files_in_place(tmp_path: Path, corpus: list[CorpusItem]) -> None:
    inbox = tmp_path / "inbox"
    copy_scans(corpus[:1], inbox)
    env = {"DANGAN_HOME": str(tmp_path / "home"), "DANGAN_S3_ENDPOINT": "127.0.0.1:9",  # nothing listens
           "DANGAN_S3_ACCESS_KEY": "x", "DANGAN_S3_SECRET_KEY": "y", "DANGAN_S3_BUCKET": "dangan-down"}
    r = run_dangan(["ingest", str(inbox)], env)
    assert r.code in (3, 7), r.stdout + r.stderr
    assert (inbox / corpus[0].file).exists()
    assert not (tmp_path / "done").exists() and not (tmp_path / "quarantine").exists()


def test_tesseract_engine_end_to_end(tmp_path: Path, corpus: list[CorpusItem]) -> None:
    """The second engine stays working through the whole command."""
    items = corpus[:2]
    inbox = tmp_path / "inbox"
    copy_scans(items, inbox)
    env = {"DANGAN_HOME": str(tmp_path / "home")}
    r = run_dangan(["ingest", str(inbox), "--engine", "tesseract"], env)
    assert r.code == 0, r.stderr
    assert f"{len(items)} stored" in r.stdout
    export_file = tmp_path / "export.jsonl"
    assert run_dangan(["export", "--jsonl", str(export_file)], env).code == 0
    export = read_export(export_file)
    for item in items:
        assert export[item.file]["doc_type"] == item.doc_type.value
        assert export[item.file]["pages"] == item.pages
