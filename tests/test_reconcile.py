"""入档检查 and 每月校对: the checklist, and `dangan reconcile` on a real archive (SQLite + files, PostgreSQL + S3)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from rules.checklist import Checklist, load_checklist
from schemas.errors import ConfigError, ExitCode
from schemas.models import Extraction, FileKind, OcrLine, OcrPage, SourceFile, UnitRef
from schemas.settings import Settings, load_settings
from storage.objects import load_sealed, store_sealed
from storage.vault import Vault
from tests.e2e import run_dangan

REQUIRED = ("owner_registration", "id_card", "purchase_contract", "move_in_notice", "handover_form",
            "fire_safety_agreement", "commitment_letter")
UNIT_A = UnitRef(building="3", unit="2", room="1201")  # lacks its fire-safety agreement
UNIT_B = UnitRef(building="3", unit="2", room="1202")  # complete
UNIT_C = UnitRef(building="5", unit="1", room="302")  # let: a lease, but only the owner's ID card


# --------------------------------------------------------------------------- the checklist


def test_default_checklist_and_a_let_unit() -> None:
    checklist = Checklist()
    assert [g.doc_type for g in checklist.gaps({})] == list(REQUIRED)
    full = dict.fromkeys(REQUIRED, 1)
    assert checklist.gaps(full) == ()
    (gap,) = checklist.gaps({**full, "fire_safety_agreement": 0})
    assert gap.label == "消防安全协议书"
    (gap,) = checklist.gaps({**full, "lease_contract": 1})
    assert (gap.doc_type, gap.needed, gap.held) == ("id_card", 2, 1)
    assert gap.label == "居民身份证复印件（2份，现有1份）"
    assert checklist.gaps({**full, "lease_contract": 1, "id_card": 2}) == ()


def test_the_company_writes_its_own_checklist(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert load_checklist(settings) == Checklist()
    (tmp_path / "checklist.toml").write_text(
        "[required]\nowner_registration = 1\nid_card = 1\n\n[when_let]\nlease_contract = 1\n", encoding="utf-8")
    checklist = load_checklist(settings)
    assert [g.doc_type for g in checklist.gaps({})] == ["owner_registration", "id_card"]
    (tmp_path / "checklist.toml").write_text("[required]\npassport = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown document type"):
        load_checklist(settings)
    (tmp_path / "checklist.toml").write_text("[required]\nid_card = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="at least 1"):
        load_checklist(settings)
    (tmp_path / "checklist.toml").write_text("[required\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_checklist(settings)
    with pytest.raises(ConfigError, match="does not exist"):
        load_checklist(Settings(home=tmp_path, checklist_file=tmp_path / "nowhere.toml"))


# --------------------------------------------------------------------------- a real archive


def _store(vault: Vault, folder: Path, unit: UnitRef, doc_type: str, n: int) -> tuple[str, str]:
    """Archive one one-page document of ``doc_type`` under ``unit``; (document id, the file's SHA-256)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{unit}-{doc_type}-{n}.pdf"
    path.write_bytes(b"%PDF-1.4\n" + os.urandom(500))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    source = SourceFile(path=path, name=path.name, size=path.stat().st_size, sha256=sha, kind=FileKind.PDF,
                        page_count=1)
    page = OcrPage(index=0, engine="rapidocr", width=2480, height=3508,
                   lines=(OcrLine(text="物业管理", box=(100, 100, 900, 160), confidence=0.9),))
    extraction = Extraction(doc_type=doc_type, doc_type_confidence=0.9, page_indices=(0,))
    (doc_id,) = vault.store_file(source=source, pages=[page], documents=[extraction], run_id=vault.begin_run(),
                                 unit=unit)
    return doc_id, sha


@pytest.fixture(params=["sqlite-files", pytest.param("postgresql-s3", marks=pytest.mark.integration)])
def home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith("DANGAN_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("DANGAN_HOME", str(home))
    if request.param == "postgresql-s3":
        s3 = request.getfixturevalue("s3_server")
        monkeypatch.setenv("DANGAN_DB_URL", request.getfixturevalue("pg_url"))
        monkeypatch.setenv("DANGAN_S3_ENDPOINT", s3.endpoint)
        monkeypatch.setenv("DANGAN_S3_ACCESS_KEY", s3.access_key)
        monkeypatch.setenv("DANGAN_S3_SECRET_KEY", s3.secret_key)
        monkeypatch.setenv("DANGAN_S3_BUCKET", f"reconcile-{os.getpid()}-{id(tmp_path) % 100000}")
    assert run_dangan(["keys", "init"], {}).code == 0
    yield home


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("DANGAN_")}


def _csv_rows(folder: Path) -> list[list[str]]:
    (path,) = folder.glob("reconcile-*.csv")
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))[1:]


def test_reconcile_finds_gaps_and_altered_objects(home: Path, tmp_path: Path) -> None:
    settings: Settings = load_settings()
    scans = tmp_path / "scans"
    with closing(Vault.open(settings)) as vault:
        stored = {}
        for unit, types in ((UNIT_A, [t for t in REQUIRED if t != "fire_safety_agreement"]),
                            (UNIT_B, list(REQUIRED)), (UNIT_C, [*REQUIRED, "lease_contract"])):
            for n, doc_type in enumerate(types):
                stored[(str(unit), doc_type)] = _store(vault, scans, unit, doc_type, n)

    reports = tmp_path / "reports"
    result = run_dangan(["reconcile", "--out", str(reports)], _env())
    assert result.code == 0, result.stdout + result.stderr
    assert "3 archive(s): 1 complete, 2 lacking documents" in result.stdout
    assert "3栋2单元1201: 缺 消防安全协议书" in result.stdout
    assert "5栋1单元302: 缺 居民身份证复印件（2份，现有1份）" in result.stdout
    assert f"{2 * len(stored)} of {len(stored)} file(s) checked, 0 problem(s)" in result.stdout
    rows = _csv_rows(reports)
    assert ["缺件", "", "3", "2", "1201", "消防安全协议书", "", ""] in rows
    assert not any(r[4] == "1202" for r in rows)
    page = next(reports.glob("reconcile-*.html")).read_text(encoding="utf-8")
    assert "消防安全协议书" in page and "全部完好" in page and "http" not in page

    assert "requests overdue" not in result.stdout

    # An owner's request left unanswered past its due day shows in the report.
    received = (dt.date.today() - dt.timedelta(days=30)).isoformat()
    added = run_dangan(["request", "add", "3-2-1201", "--kind", "see", "--requester", "王伟",
                        "--received", received], _env())
    assert added.code == 0, added.stdout + added.stderr
    result = run_dangan(["reconcile", "--no-objects", "--out", str(reports)], _env())
    assert "owners' requests overdue: 1" in result.stdout, result.stdout + result.stderr
    assert "逾期未答复的个人信息权利请求：1 件" in next(reports.glob("reconcile-*.html")).read_text(encoding="utf-8")

    # The missing agreement arrives: the archive is complete at the next check.
    with closing(Vault.open(settings)) as vault:
        _store(vault, scans, UNIT_A, "fire_safety_agreement", 99)
    result = run_dangan(["reconcile", "--no-objects", "--out", str(reports)], _env())
    assert result.code == 0 and "3栋2单元1201" not in result.stdout, result.stdout
    assert "stored objects: not checked" in result.stdout

    # One original altered in the store, one re-sealed with other bytes, one removed: each is named.
    with closing(Vault.open(settings)) as vault:
        docs = {key: vault.index.get_document(doc_id) for key, (doc_id, _) in stored.items()}
        altered = docs[(str(UNIT_B), "id_card")]
        blob = bytearray(vault.store.get(altered.original_key))
        blob[-5] ^= 1
        vault.store.put(altered.original_key, bytes(blob), metadata={})
        swapped = docs[(str(UNIT_B), "handover_form")]
        store_sealed(vault.store, swapped.original_key, b"%PDF-1.4 other bytes",
                     vault.index.data_key(swapped.dek_id))
        removed = docs[(str(UNIT_C), "lease_contract")]
        vault.store.delete(removed.ocr_key)
        intact = docs[(str(UNIT_A), "id_card")]
        assert hashlib.sha256(load_sealed(vault.store, intact.original_key,
                                          vault.index.data_key(intact.dek_id))).hexdigest() == intact.sha256
    result = run_dangan(["reconcile", "--out", str(reports)], _env())
    assert result.code == ExitCode.INTEGRITY, result.stdout + result.stderr
    assert "3 problem(s)" in result.stdout
    problems = {r[6]: r[5] for r in _csv_rows(reports) if r[0] == "完整性"}
    assert problems == {altered.source_name: "校验失败（密文被改动或损坏）",
                        swapped.source_name: "校验失败（解密后的 SHA-256 与登记不符）",
                        removed.source_name: "对象缺失（存储中找不到）"}
    with closing(Vault.open(settings)) as vault:
        entry = vault.index.audit_entries(limit=1)[0]
    assert entry.action == "reconcile" and entry.detail is not None
    assert entry.detail["outcome"] == "problems" and entry.detail["problems"] == 3


@pytest.mark.integration
def test_a_missing_fire_safety_agreement_is_reported_at_ingest_and_monthly_until_it_arrives(tmp_path: Path) -> None:
    """The bar: reported by the batch that filed the archive and by the monthly report; the document clears it."""
    import random

    from ocr.coversheet_print import render_cover_sheet, sheet_for_unit
    from schemas.documents import DocType
    from tests.synth.render import FontBook, render_document
    from tests.synth.templates import make_document

    dpi, fonts = 200, FontBook()
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "checklist.toml").write_text(
        "[required]\nowner_registration = 1\nfire_safety_agreement = 1\n", encoding="utf-8")
    env = {"DANGAN_HOME": str(home), "DANGAN_SETTLE_SECONDS": "0"}

    def batch(name: str, doc_type: DocType, seed: int) -> Path:
        inbox = tmp_path / name
        inbox.mkdir()
        sheet = render_cover_sheet(sheet_for_unit("3-2-1201", batch=name, doc_type=doc_type.value, pages=1), dpi)
        page = render_document(make_document(doc_type, random.Random(seed)), dpi, fonts)[0].convert("RGB")
        sheet.convert("RGB").save(inbox / "cabinet.pdf", save_all=True, append_images=[page], resolution=dpi)
        return inbox

    first = run_dangan(["ingest", str(batch("b1", DocType.OWNER_REGISTRATION, 31))], env)
    assert first.code == 0, first.stdout + first.stderr
    assert "incomplete   3栋2单元1201: 缺 消防安全协议书" in first.stdout, first.stdout
    monthly = run_dangan(["reconcile", "--out", str(tmp_path / "reports")], env)
    assert monthly.code == 0 and "3栋2单元1201: 缺 消防安全协议书" in monthly.stdout, monthly.stdout

    second = run_dangan(["ingest", str(batch("b2", DocType.FIRE_SAFETY_AGREEMENT, 32))], env)
    assert second.code == 0, second.stdout + second.stderr
    assert "incomplete" not in second.stdout, second.stdout
    monthly = run_dangan(["reconcile", "--out", str(tmp_path / "reports")], env)
    assert monthly.code == 0 and "1 archive(s): 1 complete, 0 lacking documents" in monthly.stdout, monthly.stdout
