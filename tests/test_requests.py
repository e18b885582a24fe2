"""Owners' requests under PIPL: the register (CLI and API, SQLite and PostgreSQL) and the owner's encrypted copy.

A real archive home (master key, index, embedded encrypted store) holds two
documents of the owner's unit with sealed originals (one with a correction)
and one of another unit; a user of every role signs in. Commands run in this
process (``flows.cli.main``); the API through FastAPI's TestClient.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pyzipper
from fastapi.testclient import TestClient

from flows import cli
from rules.requests import RequestRegister
from rules.workdays import company_today, load_calendar
from schemas.documents import DocType
from schemas.errors import ExitCode
from schemas.models import UnitRef
from schemas.settings import Settings
from storage.audit import AuditEntry
from storage.corrections import Corrections
from storage.vault import Vault
from tests.e2e import ensure_master_key
from tests.test_index import make_doc
from web.access import PERMISSIONS, Action, Role, local_operator
from web.app import create_app
from web.users import Users

PASSWORD = "a long test password"
ZIP_PASSWORD = "zip password for the owner"
OWN = UnitRef(building="3", unit="2", room="1201")
OTHER = UnitRef(building="5", unit="1", room="502")
OWNER = "王伟"
USERS = {Role.LEADERSHIP: "lingdao", Role.ARCHIVE_MANAGER: "guanliyuan", Role.CLERK: "qiantai",
         Role.AUDITOR: "shenji", Role.EXTERNAL_AUTHORITY: "jingcha", Role.OWNER: "yezhu"}


@dataclass
class Archive:
    """A home with stored documents and users, and what the tests compare the export with."""

    home: Path
    db_url: str | None
    own_docs: list[str]
    other_doc: str
    #: SHA-256 of each original filed under the owner's unit, and the owner's full ID number.
    own_sha256: set[str]
    id_number: str
    correction_id: int
    work: Path

    @property
    def settings(self) -> Settings:
        return Settings(home=self.home, db_url=self.db_url)


def _store(vault: Vault, seed: int, unit: UnitRef, folder: Path, run_id: str,
           doc_type: DocType = DocType.OWNER_REGISTRATION) -> tuple[str, str, str]:
    """A small file stored as a real sealed original holding one document filed under ``unit``."""
    doc = make_doc(seed, owner=OWNER, doc_type=doc_type, unit=unit)
    path = folder / f"{OWNER}_scan_{seed}.pdf"
    path.write_bytes(f"%PDF-1.4 scan {seed}\n".encode() * 40 + bytes(range(256)))
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    source = doc.source.model_copy(update={"path": path, "name": path.name, "sha256": sha, "size": len(data)})
    extraction = doc.extraction.model_copy(update={"page_indices": (0,)})
    doc_id = vault.store_file(source=source, pages=list(doc.pages), documents=[extraction], run_id=run_id,
                              unit=unit, unit_source="path")[0]
    return doc_id, sha, doc.id_number


def _make_archive(root: Path, db_url: str | None) -> Archive:
    home = root / "home"
    ensure_master_key({"DANGAN_HOME": str(home)})
    scans = root / "scans"
    scans.mkdir()
    with closing(Vault.open(Settings(home=home, db_url=db_url))) as vault:
        run_id = vault.begin_run()
        reg, reg_sha, id_number = _store(vault, 71, OWN, scans, run_id)
        card, card_sha, _ = _store(vault, 72, OWN, scans, run_id, DocType.ID_CARD)
        other, _, _ = _store(vault, 73, OTHER, scans, run_id)
        vault.finish_run(run_id, {"stored": 3}, "completed")
        vault.export_record(reg)  # a view, in the document's audit trail
        correction = Corrections.open(vault.index, vault.keys).apply(reg, "emergency_contact", "王芳",
                                                                     actor="guanliyuan", role="archive_manager")
        users = Users.of_index(vault.index)
        for role, name in USERS.items():
            users.add(name, role, PASSWORD, unit=OWN if role is Role.OWNER else None)
    work = root / "work"
    work.mkdir()
    return Archive(home=home, db_url=db_url, own_docs=[reg, card], other_doc=other, own_sha256={reg_sha, card_sha},
                   id_number=id_number, correction_id=correction.id, work=work)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Archive:
    """The archive on SQLite, and on PostgreSQL (127.0.0.1:5432)."""
    db_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return _make_archive(tmp_path, db_url)


@pytest.fixture
def sqlite_archive(tmp_path: Path) -> Archive:
    return _make_archive(tmp_path, None)


@dataclass
class Cli:
    """``dangan`` in this process, as one of the archive's users."""

    archive: Archive
    env: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def __call__(self, role: Role, *argv: str, stdin: str = "") -> tuple[int, str, str]:
        if role is Role.LOCAL_OPERATOR:
            self.env.delenv("DANGAN_USER", raising=False)
            self.env.delenv("DANGAN_PASSWORD", raising=False)
        else:
            self.env.setenv("DANGAN_USER", USERS[role])
            self.env.setenv("DANGAN_PASSWORD", PASSWORD)
        self.env.setattr(sys, "stdin", io.StringIO(stdin))
        self.capsys.readouterr()
        code = cli.main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err


def _cli(archive: Archive, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    for name in list(os.environ):
        if name.startswith("DANGAN_") or name in ("CREDENTIALS_DIRECTORY", "PREFECT_API_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DANGAN_HOME", str(archive.home))
    if archive.db_url:
        monkeypatch.setenv("DANGAN_DB_URL", archive.db_url)
    return Cli(archive, monkeypatch, capsys)


@pytest.fixture
def run(archive: Archive, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return _cli(archive, monkeypatch, capsys)


@pytest.fixture
def run_sqlite(sqlite_archive: Archive, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return _cli(sqlite_archive, monkeypatch, capsys)


def _audit(archive: Archive, after: int = 0) -> list[AuditEntry]:
    with closing(Vault.open(archive.settings)) as vault:
        return sorted((e for e in vault.index.audit_entries(limit=1000) if e.id > after), key=lambda e: e.id)


def _last_audit_id(archive: Archive) -> int:
    entries = _audit(archive)
    return entries[-1].id if entries else 0


def _refusals(archive: Archive, after: int) -> list[tuple[str, str, str]]:
    return [(e.actor, e.role, e.action) for e in _audit(archive, after) if (e.detail or {}).get("outcome") == "refused"]


# --------------------------------------------------------------------------- the matrix


def test_who_may_handle_owners_requests() -> None:
    who_may = {a: {r for r in Role if a in PERMISSIONS[r]} for a in Action}
    managers = {Role.LEADERSHIP, Role.ARCHIVE_MANAGER, Role.LOCAL_OPERATOR}
    assert who_may[Action.REGISTER_REQUEST] == managers | {Role.CLERK}
    assert who_may[Action.CLOSE_REQUEST] == managers
    assert who_may[Action.SUBJECT_EXPORT] == managers
    assert who_may[Action.VIEW_REQUESTS] == managers | {Role.AUDITOR}


# --------------------------------------------------------------------------- the register through the CLI


def test_the_register_through_the_command_line(archive: Archive, run: Cli) -> None:
    code, out, err = run(Role.CLERK, "request", "add", "3栋2单元1201", "--kind", "copy", "--requester", OWNER,
                         "--received", "2026-09-30", "--note", "本人来电 13812345678，身份证 110101199003071234")
    assert code == 0, err
    assert "registered request 1: copy (复制) for 3-2-1201, received 2026-09-30, due 2026-10-13" in out
    code, out, err = run(Role.CLERK, "request", "add", "3-2-1201", "--kind", "see", "--requester", OWNER)
    assert code == 0, err
    today = company_today()
    assert f"received {today}" in out

    code, out, err = run(Role.AUDITOR, "request", "list", "--json")
    assert code == 0, err
    listed = {r["id"]: r for r in json.loads(out)}
    assert sorted(listed) == [1, 2]
    first = listed[1]
    assert (first["unit"], first["kind"], first["requester"], first["status"]) == ("3-2-1201", "copy", OWNER, "open")
    assert (first["received_on"], first["due_on"], first["overdue"]) == ("2026-09-30", "2026-10-13", True)
    assert first["registered_by"] == "qiantai" and first["archive_id"]
    assert "13812345678" not in out and "110101199003071234" not in out  # notes keep them masked
    assert "138****5678" in first["notes"]
    assert listed[2]["overdue"] is False and listed[2]["due_on"] == load_calendar(archive.home).due_date(
        today).isoformat()

    code, out, err = run(Role.ARCHIVE_MANAGER, "request", "close", "1", "--answer", "已当面交付副本")
    assert code == 0 and "request 1 answered (after its due day)" in out, err
    code, _, err = run(Role.ARCHIVE_MANAGER, "request", "close", "1", "--refuse", "again")
    assert code == ExitCode.BAD_INPUT and "was answered already, by guanliyuan" in err, err
    code, out, err = run(Role.LEADERSHIP, "request", "close", "2", "--refuse", "无法核实申请人身份")
    assert code == 0 and "request 2 refused" in out, err
    code, out, _ = run(Role.ARCHIVE_MANAGER, "request", "list", "--json")
    closed = {r["id"]: r for r in json.loads(out)}
    assert (closed[1]["status"], closed[1]["answered_by"], closed[1]["outcome_note"]) == (
        "answered", "guanliyuan", "已当面交付副本")
    assert (closed[2]["status"], closed[2]["outcome_note"]) == ("refused", "无法核实申请人身份")
    assert closed[1]["overdue"] is False  # answered: no longer overdue

    done = [(e.actor, e.action, (e.detail or {}).get("request")) for e in _audit(archive)
            if e.action.startswith("request_")]
    assert done == [("qiantai", "request_add", 1), ("qiantai", "request_add", 2),
                    ("guanliyuan", "request_close", 1), ("lingdao", "request_close", 2)]
    assert all(OWNER not in json.dumps(e.detail, ensure_ascii=False) for e in _audit(archive))


def test_register_refusals_are_audited(archive: Archive, run: Cli) -> None:
    tries = [(Role.OWNER, ["request", "add", "3-2-1201", "--kind", "copy", "--requester", OWNER], "register_request"),
             (Role.EXTERNAL_AUTHORITY, ["request", "list"], "view_requests"),
             (Role.CLERK, ["request", "list", "--overdue"], "view_requests"),
             (Role.AUDITOR, ["request", "close", "1", "--answer"], "close_request"),
             (Role.CLERK, ["request", "close", "1", "--refuse", "no"], "close_request")]
    for role, argv, action in tries:
        before = _last_audit_id(archive)
        code, _, err = run(role, *argv)
        assert code == ExitCode.ACCESS_DENIED, err
        assert f"{USERS[role]} ({role}) may not" in err, err
        assert _refusals(archive, before) == [(USERS[role], str(role), action)]


def test_register_input_is_checked(archive: Archive, run: Cli) -> None:
    tomorrow = (company_today() + dt.timedelta(days=1)).isoformat()
    for argv, says in [(["request", "add", "3-2", "--kind", "copy", "--requester", OWNER], "not building-unit-room"),
                       (["request", "add", "3-2-1201", "--kind", "copy", "--requester", " "], "Give the requester"),
                       (["request", "add", "3-2-1201", "--kind", "copy", "--requester", OWNER, "--received",
                         tomorrow], "after today"),
                       (["request", "add", "3-2-1201", "--kind", "copy", "--requester", OWNER, "--received",
                         "2026-02-30"], "not a day")]:
        code, _, err = run(Role.ARCHIVE_MANAGER, *argv)
        assert code == ExitCode.BAD_INPUT and says in err, err
    code, _, err = run(Role.ARCHIVE_MANAGER, "request", "close", "42", "--answer")
    assert code == ExitCode.NOT_FOUND and "No request with number 42" in err
    code, _, err = run(Role.ARCHIVE_MANAGER, "request", "add", "9-9-909", "--kind", "see", "--requester", OWNER)
    assert code == 0 and "no active archive of unit 9-9-909" in err, err


def test_overdue_requests_are_reported(archive: Archive, run: Cli) -> None:
    for received in ("2026-09-30", "2026-10-09"):  # due 10-13 and 10-16: both past
        assert run(Role.CLERK, "request", "add", "3-2-1201", "--kind", "copy", "--requester", OWNER,
                   "--received", received)[0] == 0
    assert run(Role.CLERK, "request", "add", "3-2-1201", "--kind", "see", "--requester", OWNER)[0] == 0  # due later
    assert run(Role.ARCHIVE_MANAGER, "request", "close", "1", "--answer")[0] == 0

    code, out, err = run(Role.AUDITOR, "request", "list", "--overdue")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].split()[0] == "2" and "逾期 OVERDUE" in lines[0]
    assert lines[-1] == "1 request(s), 1 overdue (逾期未答复)"
    code, out, _ = run(Role.AUDITOR, "request", "list", "--open", "--json")
    assert [(r["id"], r["overdue"]) for r in json.loads(out)] == [(2, True), (3, False)]  # by due day
    with closing(Vault.open(archive.settings)) as vault:
        register = RequestRegister(vault.index, local_operator(), load_calendar(archive.home))
        assert register.overdue_count() == 1


def test_a_correction_request_is_answered_by_the_corrections(archive: Archive, run: Cli) -> None:
    assert run(Role.CLERK, "request", "add", "3-2-1201", "--kind", "correct", "--requester", OWNER)[0] == 0
    with closing(Vault.open(archive.settings)) as vault:
        corrections = Corrections.open(vault.index, vault.keys)
        fixed = corrections.apply(archive.own_docs[0], "owner_name", "王伟明", actor="qiantai", role="clerk")
        elsewhere = corrections.apply(archive.other_doc, "owner_name", "李四", actor="qiantai", role="clerk")
    code, out, err = run(Role.ARCHIVE_MANAGER, "request", "close", "1", "--answer", "--correction",
                         str(elsewhere.id))
    assert code == ExitCode.BAD_INPUT and f"Correction(s) {elsewhere.id} were not made" in err, err
    code, out, err = run(Role.ARCHIVE_MANAGER, "request", "close", "1", "--answer", "已更正业主姓名")
    assert code == 0, err
    # Made since the request was received, on the unit's documents: the one of the fixture (made today) too.
    assert f"corrections linked: {archive.correction_id}, {fixed.id}" in out, out
    code, out, _ = run(Role.AUDITOR, "request", "list", "--json")
    assert json.loads(out)[0]["correction_ids"] == [archive.correction_id, fixed.id]


# --------------------------------------------------------------------------- the register through the API


@pytest.fixture
def api(archive: Archive) -> Iterator[tuple[TestClient, dict[Role, dict[str, str]]]]:
    app = create_app(archive.settings)
    with TestClient(app, base_url="http://testserver") as client:
        users = app.state.users
        headers = {role: {"Authorization": f"Bearer {users.create_token(name)}"} for role, name in USERS.items()}
        yield client, headers


def test_the_register_through_the_api(archive: Archive, api: tuple[TestClient, dict[Role, dict[str, str]]]) -> None:
    client, headers = api
    body = {"unit": "3-2-1201", "kind": "copy", "requester": OWNER, "received": "2026-03-08"}  # a Sunday
    made = client.post("/api/requests", json=body, headers=headers[Role.CLERK])
    assert made.status_code == 201, made.text
    assert (made.json()["id"], made.json()["due_on"], made.json()["overdue"]) == (1, "2026-03-13", True)
    assert client.post("/api/requests", json={**body, "received": None, "kind": "delete"},
                       headers=headers[Role.LEADERSHIP]).status_code == 201

    listed = client.get("/api/requests", params={"overdue": "true"}, headers=headers[Role.AUDITOR])
    assert listed.status_code == 200 and [r["id"] for r in listed.json()] == [1]
    assert [r["id"] for r in client.get("/api/requests", headers=headers[Role.AUDITOR]).json()] == [2, 1]
    assert [r["id"] for r in client.get("/api/requests", params={"open": "true"},
                                        headers=headers[Role.AUDITOR]).json()] == [1, 2]

    refused = client.post("/api/requests/2/close", json={"outcome": "refused"}, headers=headers[Role.LEADERSHIP])
    assert refused.status_code == 400 and "reason" in refused.json()["message"]
    refused = client.post("/api/requests/2/close", json={"outcome": "refused", "note": "业主档案须永久保存"},
                          headers=headers[Role.LEADERSHIP])
    assert refused.status_code == 200 and refused.json()["status"] == "refused", refused.text
    answered = client.post("/api/requests/1/close", json={"outcome": "answered"}, headers=headers[Role.ARCHIVE_MANAGER])
    assert answered.status_code == 200 and answered.json()["answered_by"] == "guanliyuan"

    before = _last_audit_id(archive)
    for role, method, path in [(Role.CLERK, "GET", "/api/requests"), (Role.OWNER, "POST", "/api/requests"),
                               (Role.AUDITOR, "POST", "/api/requests/1/close")]:
        response = client.request(method, path, json=body if path == "/api/requests" else {"outcome": "answered"},
                                  headers=headers[role])
        assert response.status_code == 403 and response.json()["error"] == "access_denied", response.text
    assert _refusals(archive, before) == [("qiantai", "clerk", "view_requests"), ("yezhu", "owner", "register_request"),
                                          ("shenji", "auditor", "close_request")]


# --------------------------------------------------------------------------- the owner's copy


def _open_zip(data: bytes, password: str) -> dict[str, bytes]:
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf:
        zf.setpassword(password.encode())
        return {name: zf.read(name) for name in zf.namelist()}


def _check_copy(archive: Archive, data: bytes, password: str) -> dict[str, Any]:
    """The ZIP opens with ``password`` only and holds the unit's originals (byte-identical) and its data."""
    assert archive.id_number.encode() not in data and OWNER.encode() not in data  # nothing in plain
    with pytest.raises(RuntimeError, match=r"[Bb]ad password"):
        _open_zip(data, "not the password at all")
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf, pytest.raises(RuntimeError, match="requires a password"):
        zf.read(zf.namelist()[0])
    entries = _open_zip(data, password)
    originals = {n: b for n, b in entries.items() if n.startswith("originals/")}
    assert sorted(originals) == ["originals/01.pdf", "originals/02.pdf"]
    assert {hashlib.sha256(b).hexdigest() for b in originals.values()} == archive.own_sha256
    info = json.loads(entries["data.json"])
    assert info["unit"] == OWN.model_dump()
    docs = {d["id"]: d for d in info["documents"]}
    assert sorted(docs) == sorted(archive.own_docs)
    registration = docs[archive.own_docs[0]]
    assert registration["fields"]["id_number"] == archive.id_number  # revealed: the subject's own data
    assert registration["source_name"] == f"{OWNER}_scan_71.pdf"
    assert hashlib.sha256(entries[registration["original"]]).hexdigest() == registration["sha256"]
    assert [(c["field"], c["new_value"], c["by"]) for c in registration["corrections"]] == [
        ("emergency_contact", "王芳", "guanliyuan")]
    assert [(e["actor"], e["action"]) for e in registration["audit"]] == [(local_operator().name, "view")]
    readme = entries["README.txt"].decode("utf-8")
    assert "业主个人信息副本" in readme and "3栋2单元1201室" in readme and "AES-256" in readme
    assert archive.id_number in entries["data.txt"].decode("utf-8")
    return info


def test_subject_export_through_the_command_line(archive: Archive, run: Cli) -> None:
    assert run(Role.CLERK, "request", "add", "3-2-1201", "--kind", "copy", "--requester", OWNER)[0] == 0
    target = archive.work / "copies" / "3-2-1201.zip"
    before = _last_audit_id(archive)
    code, out, err = run(Role.ARCHIVE_MANAGER, "subject-export", "3-2-1201", "-o", str(target), "--request", "1",
                         "--password-stdin", stdin=ZIP_PASSWORD + "\n")
    assert code == 0, err
    assert out == "" and ZIP_PASSWORD not in err and "2 document(s), 2 original(s)" in err
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in target.parent.iterdir()) == ["3-2-1201.zip"]  # no temporary file left
    info = _check_copy(archive, target.read_bytes(), ZIP_PASSWORD)
    assert info["request"]["id"] == 1 and info["request"]["kind"] == "copy"
    events = [e for e in _audit(archive, before) if e.action == "subject_export"]
    assert len(events) == 1
    assert (events[0].actor, events[0].role) == ("guanliyuan", "archive_manager")
    assert {k: events[0].detail[k] for k in ("unit", "request", "documents", "originals", "outcome")} == {
        "unit": "3-2-1201", "request": 1, "documents": 2, "originals": 2, "outcome": "completed"}
    assert not [e for e in _audit(archive, before) if e.action in ("download", "download_original")]


def test_subject_export_makes_a_password_when_none_is_given(sqlite_archive: Archive, run_sqlite: Cli) -> None:
    target = sqlite_archive.work / "copy.zip"
    code, out, err = run_sqlite(Role.LOCAL_OPERATOR, "subject-export", "3-2-1201", "-o", str(target))
    assert code == 0, err
    password = out.strip()
    assert len(out.strip().splitlines()) == 1 and len(password) == 23 and "shown only now" in err
    _check_copy(sqlite_archive, target.read_bytes(), password)


def test_subject_export_refusals_and_failures_leave_nothing(sqlite_archive: Archive, run_sqlite: Cli) -> None:
    archive, run = sqlite_archive, run_sqlite
    target = archive.work / "copy.zip"
    for role in (Role.CLERK, Role.AUDITOR, Role.EXTERNAL_AUTHORITY, Role.OWNER):
        before = _last_audit_id(archive)
        code, out, err = run(role, "subject-export", "3-2-1201", "-o", str(target))
        assert code == ExitCode.ACCESS_DENIED and "may not export an owner's copy" in err, err
        assert out == ""  # no password made or shown
        assert _refusals(archive, before) == [(USERS[role], str(role), "subject_export")]
    for argv, code_wanted, says in [
            (["9-9-909"], ExitCode.NOT_FOUND, "No active archive of unit 9-9-909"),
            (["3-2-1201", "--password-stdin"], ExitCode.BAD_INPUT, "at least 12 characters"),
            (["3-2-1201", "--request", "7"], ExitCode.NOT_FOUND, "No request with number 7")]:
        code, _, err = run(Role.ARCHIVE_MANAGER, "subject-export", *argv, "-o", str(target), stdin="short\n")
        assert code == code_wanted and says in err, err
    assert run(Role.CLERK, "request", "add", "5-1-502", "--kind", "copy", "--requester", "李四")[0] == 0
    code, _, err = run(Role.ARCHIVE_MANAGER, "subject-export", "3-2-1201", "-o", str(target), "--request", "1")
    assert code == ExitCode.BAD_INPUT and "is about unit 5-1-502" in err, err

    # An original that cannot be decrypted any more stops the export half-way: no ZIP, no temporary file.
    with closing(Vault.open(archive.settings)) as vault:
        vault.index.destroy_data_key(vault.index.get_document(archive.own_docs[1]).dek_id)
    before = _last_audit_id(archive)
    code, _, err = run(Role.LEADERSHIP, "subject-export", "3-2-1201", "-o", str(target))
    assert code == ExitCode.INTEGRITY, err
    assert list(archive.work.iterdir()) == []
    stopped = [e.detail for e in _audit(archive, before) if e.action == "subject_export"]
    assert stopped and stopped[0] is not None and stopped[0]["outcome"] == "stopped (KeyDestroyed)"


def test_subject_export_through_the_api(archive: Archive, api: tuple[TestClient, dict[Role, dict[str, str]]]) -> None:
    client, headers = api
    response = client.post("/api/subject-export/3-2-1201", json={"password": ZIP_PASSWORD},
                           headers=headers[Role.LEADERSHIP])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    _check_copy(archive, response.content, ZIP_PASSWORD)
    short = client.post("/api/subject-export/3-2-1201", json={"password": "short"}, headers=headers[Role.LEADERSHIP])
    assert short.status_code == 422
    before = _last_audit_id(archive)
    for role in (Role.CLERK, Role.OWNER):
        refused = client.post("/api/subject-export/3-2-1201", json={"password": ZIP_PASSWORD}, headers=headers[role])
        assert refused.status_code == 403 and refused.json()["error"] == "access_denied"
    assert _refusals(archive, before) == [("qiantai", "clerk", "subject_export"), ("yezhu", "owner", "subject_export")]


def test_the_register_is_backed_up_and_restored(sqlite_archive: Archive, run_sqlite: Cli) -> None:
    archive, run = sqlite_archive, run_sqlite
    assert run(Role.CLERK, "request", "add", "3-2-1201", "--kind", "copy", "--requester", OWNER,
               "--received", "2026-09-30", "--note", "电话 13812345678")[0] == 0
    backup = archive.work / "backup"
    code, _, err = run(Role.LOCAL_OPERATOR, "backup", str(backup))
    assert code == 0 and "not backed up" not in err, err
    run.env.setenv("DANGAN_MASTER_KEY_FILE", str(archive.home / "master.key"))
    run.env.setenv("DANGAN_HOME", str(archive.work / "restored"))
    code, _, err = run(Role.LOCAL_OPERATOR, "restore", str(backup))
    assert code == 0, err
    code, out, err = run(Role.LOCAL_OPERATOR, "request", "list", "--json")
    assert code == 0, err
    restored = json.loads(out)
    assert [(r["id"], r["received_on"], r["due_on"], r["requester"], r["notes"]) for r in restored] == [
        (1, "2026-09-30", "2026-10-13", OWNER, "电话 138****5678")]
