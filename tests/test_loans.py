"""The borrowing register (借阅登记): each rule through the command line and the API, SQLite and PostgreSQL.

A real archive home (master key, index, embedded encrypted store) holds two
reviewed documents (one of unit 3-2-1201, one of 5-1-502) and one of
3-2-1201 still waiting for review, with sealed originals; a user of every
role signs in. Commands run in this process (``flows.cli.main``) as those
users (DANGAN_USER / DANGAN_PASSWORD); the API and the pages through
FastAPI's TestClient. Every refusal is checked in the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import update

from rules.loans import LOAN_ROLES, LoanRegister, end_of_day
from rules.tables import LoanRow
from schemas.errors import ExitCode
from schemas.models import FileKind, UnitRef
from schemas.settings import Settings
from storage.vault import Vault
from tests.e2e import ensure_master_key
from tests.test_index import make_doc
from tests.test_requests import OTHER, OWN, PASSWORD, USERS, Cli, _audit, _cli, _last_audit_id
from tests.test_web import sign_in
from web.access import PERMISSIONS, Action, Identity, Role
from web.app import create_app
from web.users import Users

PURPOSE = "核对业主信息"


@dataclass
class Archive:
    """A home with documents and users."""

    home: Path
    db_url: str | None
    #: Reviewed (``indexed``) documents of 3-2-1201 and of 5-1-502, and one of 3-2-1201 waiting for review.
    doc: str
    other_doc: str
    pending_doc: str
    work: Path

    @property
    def settings(self) -> Settings:
        return Settings(home=self.home, db_url=self.db_url)


def _store(vault: Vault, seed: int, owner: str, unit: UnitRef, folder: Path, run_id: str, *, reviewed: bool) -> str:
    """A small file stored as a sealed original with one document filed under ``unit`` (read surely if ``reviewed``)."""
    doc = make_doc(seed, owner=owner, unit=unit)
    path = folder / f"scan_{seed}.png"
    Image.new("RGB", (620, 877), (255, 255, 255 - seed)).save(path)  # a real page to draw
    data = path.read_bytes()
    source = doc.source.model_copy(update={"path": path, "name": path.name, "kind": FileKind.PNG,
                                           "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    fields = {k: f.model_copy(update={"confidence": 0.99 if reviewed else f.confidence})
              for k, f in doc.extraction.fields.items()}
    extraction = doc.extraction.model_copy(update={"page_indices": (0,), "fields": fields})
    return vault.store_file(source=source, pages=list(doc.pages), documents=[extraction], run_id=run_id,
                            unit=unit, unit_source="path")[0]


def _make_archive(root: Path, db_url: str | None) -> Archive:
    home = root / "home"
    ensure_master_key({"DANGAN_HOME": str(home)})
    scans = root / "scans"
    scans.mkdir()
    with closing(Vault.open(Settings(home=home, db_url=db_url))) as vault:
        run_id = vault.begin_run()
        doc = _store(vault, 81, "王伟", OWN, scans, run_id, reviewed=True)
        other = _store(vault, 82, "王伟", OTHER, scans, run_id, reviewed=True)
        pending = _store(vault, 83, "张敏", OWN, scans, run_id, reviewed=False)
        vault.finish_run(run_id, {"stored": 3}, "completed")
        assert [vault.index.get_document(d).status for d in (doc, other, pending)] == [
            "indexed", "indexed", "needs_review"]
        users = Users.of_index(vault.index)
        for role, name in USERS.items():
            users.add(name, role, PASSWORD, unit=OWN if role is Role.OWNER else None)
    work = root / "work"
    work.mkdir()
    return Archive(home=home, db_url=db_url, doc=doc, other_doc=other, pending_doc=pending, work=work)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Archive:
    """The archive on SQLite, and on PostgreSQL (127.0.0.1:5432)."""
    db_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return _make_archive(tmp_path, db_url)


@pytest.fixture
def run(archive: Archive, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``dangan`` in this process as one of the archive's users (the same runner as the owners' requests)."""
    return _cli(archive, monkeypatch, capsys)  # type: ignore[arg-type]


def _refusals(archive: Archive, after: int) -> list[tuple[str, str, str | None, str | None]]:
    """(actor, action, document, reason) of each refusal audited after ``after``."""
    return [(e.actor, e.action, e.document_id, (e.detail or {}).get("reason")) for e in _audit(archive, after)
            if (e.detail or {}).get("outcome") == "refused"]


def _loan_id(out: str) -> str:
    found = re.search(r"loan (\d+)", out)
    assert found, out
    return found.group(1)


def _set_due(archive: Archive, loan_id: int | str, due: dt.datetime) -> None:
    """Move a loan's due time, as if time had passed (straight in the database)."""
    with closing(Vault.open(archive.settings)) as vault, vault.index.write_engine.begin() as c:
        c.execute(update(LoanRow).where(LoanRow.id == int(loan_id)).values(due_at=due.astimezone(dt.UTC)))


def _ago(**delta: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(**delta)


# --------------------------------------------------------------------------- the matrix


def test_who_may_borrow_decide_and_read_the_register() -> None:
    who_may = {a: {r for r in Role if a in PERMISSIONS[r]} for a in Action}
    managers = {Role.LEADERSHIP, Role.ARCHIVE_MANAGER, Role.LOCAL_OPERATOR}
    assert who_may[Action.REQUEST_LOAN] == managers | {Role.CLERK, Role.AUDITOR, Role.EXTERNAL_AUTHORITY}
    assert who_may[Action.DECIDE_LOAN] == managers
    assert who_may[Action.VIEW_LOANS] == managers | {Role.AUDITOR}
    # Those who borrow may open documents at all (the matrix), and only with a loan (rules/loans.py).
    assert LOAN_ROLES == {Role.CLERK, Role.AUDITOR, Role.EXTERNAL_AUTHORITY}
    assert all(Action.VIEW_DOCUMENT in PERMISSIONS[r] for r in LOAN_ROLES)


# --------------------------------------------------------------------------- the command line


def test_request_approve_open_and_return_through_the_command_line(archive: Archive, run: Cli) -> None:
    before = _last_audit_id(archive)
    code, _, err = run(Role.CLERK, "show", archive.doc)
    assert code == ExitCode.ACCESS_DENIED
    assert "qiantai (clerk) has no approved loan of archive 3-2-1201: request one with `dangan loan request" in err
    assert len(err.strip().splitlines()) == 1

    code, out, err = run(Role.CLERK, "loan", "request", "3栋2单元1201", "--purpose", PURPOSE)
    assert code == 0, err
    loan = _loan_id(out)
    assert f"requested loan {loan} of archive 3-2-1201" in out
    code, _, err = run(Role.CLERK, "show", archive.doc)
    assert code == ExitCode.ACCESS_DENIED and f"loan {loan} of archive 3-2-1201 waits for an archive manager" in err

    start = dt.datetime.now(dt.UTC)
    code, out, err = run(Role.ARCHIVE_MANAGER, "loan", "approve", loan)
    assert code == 0, err
    assert f"approved loan {loan} of archive 3-2-1201 to qiantai until " in out
    with closing(Vault.open(archive.settings)) as vault:
        (approved,) = LoanRegister(vault.index, Identity(name="qiantai", role=Role.CLERK)).list_loans(mine=True)
    # Same day by default: until the end of the day in China time.
    assert approved.state == "active"
    assert approved.due_at in {end_of_day(start), end_of_day(dt.datetime.now(dt.UTC))}
    assert approved.due_at is not None and approved.due_at.astimezone(dt.timezone(dt.timedelta(hours=8))).time() \
        == dt.time(23, 59, 59)

    code, out, err = run(Role.CLERK, "show", archive.doc)
    assert code == 0, err
    assert archive.doc in out and "owner_name" in out
    code, _, err = run(Role.CLERK, "show", archive.other_doc)  # a loan of one archive opens no other
    assert code == ExitCode.ACCESS_DENIED and "no approved loan of archive 5-1-502" in err

    code, out, err = run(Role.CLERK, "loan", "return", loan)
    assert code == 0, err
    code, _, err = run(Role.CLERK, "show", archive.doc)
    assert code == ExitCode.ACCESS_DENIED and f"loan {loan} of archive 3-2-1201 was returned at" in err

    events = [(e.actor, e.action) for e in _audit(archive, before) if (e.detail or {}).get("outcome") != "refused"]
    assert ("qiantai", "loan_request") in events and ("guanliyuan", "loan_approve") in events
    assert ("qiantai", "view") in events and ("qiantai", "loan_return") in events
    assert _refusals(archive, before) == [
        ("qiantai", "view_document", archive.doc, "no_loan"),  # no loan at all
        ("qiantai", "view_document", archive.doc, "no_loan"),  # requested, not approved yet
        ("qiantai", "view_document", archive.other_doc, "no_loan"),
        ("qiantai", "view_document", archive.doc, "no_loan"),  # returned
    ]


def test_a_refused_loan_opens_nothing_and_no_one_decides_their_own(archive: Archive, run: Cli) -> None:
    code, out, err = run(Role.AUDITOR, "loan", "request", "3-2-1201", "--purpose", "年度审计抽查")
    assert code == 0, err
    loan = _loan_id(out)
    before = _last_audit_id(archive)
    code, _, err = run(Role.AUDITOR, "loan", "approve", loan)  # an auditor decides nothing
    assert code == ExitCode.ACCESS_DENIED and "shenji (auditor) may not approve or refuse loans" in err
    with pytest.raises(SystemExit):  # the reason is required
        run(Role.ARCHIVE_MANAGER, "loan", "refuse", loan)
    code, out, err = run(Role.ARCHIVE_MANAGER, "loan", "refuse", loan, "--reason", "审计范围不含此户")
    assert code == 0 and f"refused loan {loan}" in out, err
    code, _, err = run(Role.AUDITOR, "show", archive.doc)
    assert code == ExitCode.ACCESS_DENIED
    assert f"loan {loan} of archive 3-2-1201 was refused (审计范围不含此户)" in err
    code, _, err = run(Role.ARCHIVE_MANAGER, "loan", "approve", loan)  # decided already
    assert code == ExitCode.BAD_INPUT and "was refused already, by guanliyuan" in err

    code, out, err = run(Role.ARCHIVE_MANAGER, "loan", "request", "3-2-1201", "--purpose", "整理档案", "--paper")
    assert code == 0, err
    own = _loan_id(out)
    code, _, err = run(Role.ARCHIVE_MANAGER, "loan", "approve", own)
    assert code == ExitCode.ACCESS_DENIED and "it is their own request" in err
    code, _, err = run(Role.LEADERSHIP, "loan", "approve", own)
    assert code == 0, err
    assert _refusals(archive, before) == [("shenji", "decide_loan", None, None),
                                          ("shenji", "view_document", archive.doc, "no_loan"),
                                          ("guanliyuan", "decide_loan", None, "own_loan")]


def test_access_ends_at_the_due_time(archive: Archive, run: Cli) -> None:
    code, out, err = run(Role.CLERK, "loan", "request", "3-2-1201", "--purpose", PURPOSE)
    loan = _loan_id(out)
    code, _, err = run(Role.ARCHIVE_MANAGER, "loan", "approve", loan, "--until", "2020-01-01 10:00")
    assert code == ExitCode.BAD_INPUT and "has passed already" in err
    code, out, err = run(Role.ARCHIVE_MANAGER, "loan", "approve", loan, "--until", "2099-12-31 17:30")
    assert code == 0 and "until 2099-12-31 17:30 (China time)" in out, err
    assert run(Role.CLERK, "show", archive.doc)[0] == 0

    _set_due(archive, loan, _ago(minutes=1))
    before = _last_audit_id(archive)
    code, _, err = run(Role.CLERK, "show", archive.doc)
    assert code == ExitCode.ACCESS_DENIED and f"loan {loan} of archive 3-2-1201 ended at its due time" in err
    assert _refusals(archive, before) == [("qiantai", "view_document", archive.doc, "no_loan")]
    # An ended loan without paper is not overdue: access simply ended.
    code, out, _ = run(Role.ARCHIVE_MANAGER, "loan", "list", "--overdue")
    assert code == 0 and out.strip().endswith("0 loan(s), 0 overdue (逾期未还)")
    code, out, _ = run(Role.ARCHIVE_MANAGER, "loan", "list")
    assert "expired (已到期)" in out


def test_leadership_managers_the_owner_and_the_local_operator_need_no_loan(archive: Archive, run: Cli) -> None:
    before = _last_audit_id(archive)
    for role in (Role.LEADERSHIP, Role.ARCHIVE_MANAGER, Role.OWNER, Role.LOCAL_OPERATOR):
        code, out, err = run(role, "show", archive.doc)
        assert code == 0 and archive.doc in out, (role, err)
    assert run(Role.LEADERSHIP, "download", archive.doc, "-o", str(archive.work / "x.pdf"))[0] == 0
    assert not _refusals(archive, before)


def test_search_and_review_need_no_loan(archive: Archive, run: Cli) -> None:
    """Filing work does not wait for approvals: listings (masked) and documents still waiting for review."""
    before = _last_audit_id(archive)
    code, out, err = run(Role.CLERK, "search", "王伟")
    assert code == 0 and archive.doc in out and archive.other_doc in out, err
    code, out, err = run(Role.CLERK, "show", archive.pending_doc)  # needs_review: the clerk checks it
    assert code == 0 and "needs_review" in out, err
    for role in (Role.AUDITOR, Role.EXTERNAL_AUTHORITY):  # they review nothing: no exception for them
        code, _, err = run(role, "show", archive.pending_doc)
        assert code == ExitCode.ACCESS_DENIED and "no approved loan of archive 3-2-1201" in err
    assert [r[0] for r in _refusals(archive, before)] == ["shenji", "jingcha"]


def test_police_view_with_a_loan_but_never_download_or_export(archive: Archive, run: Cli) -> None:
    code, out, err = run(Role.EXTERNAL_AUTHORITY, "loan", "request", "3-2-1201", "--purpose", "案件调查（协查函）")
    assert code == 0, err
    assert run(Role.ARCHIVE_MANAGER, "loan", "approve", _loan_id(out))[0] == 0
    code, out, err = run(Role.EXTERNAL_AUTHORITY, "show", archive.doc)
    assert code == 0 and archive.doc in out, err
    before = _last_audit_id(archive)
    target = archive.work / "copy.pdf"
    for argv in (["download", archive.doc, "-o", str(target)], ["export", "--jsonl", str(archive.work / "x.jsonl")],
                 ["show", archive.doc, "--reveal"]):
        code, _, err = run(Role.EXTERNAL_AUTHORITY, *argv)
        assert code == ExitCode.ACCESS_DENIED and "jingcha (external_authority) may not" in err
    assert not target.exists()
    assert [(a, act) for a, act, _, _ in _refusals(archive, before)] == [
        ("jingcha", "download_original"), ("jingcha", "export"), ("jingcha", "reveal_pii")]


def test_open_and_overdue_loans_are_reported(archive: Archive, run: Cli) -> None:
    code, out, _ = run(Role.CLERK, "loan", "request", "3-2-1201", "--purpose", "借出原件核对", "--paper")
    paper = _loan_id(out)
    run(Role.ARCHIVE_MANAGER, "loan", "approve", paper)
    code, out, _ = run(Role.AUDITOR, "loan", "request", "5-1-502", "--purpose", "年度审计抽查")
    waiting = _loan_id(out)
    code, out, _ = run(Role.EXTERNAL_AUTHORITY, "loan", "request", "5-1-502", "--purpose", "协查")
    ended = _loan_id(out)
    run(Role.ARCHIVE_MANAGER, "loan", "approve", ended)
    _set_due(archive, ended, _ago(hours=1))

    code, out, err = run(Role.ARCHIVE_MANAGER, "loan", "list", "--open")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[:-1]] == [waiting, paper]
    _set_due(archive, paper, _ago(hours=2))
    code, out, _ = run(Role.AUDITOR, "loan", "list", "--overdue")
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].split()[0] == paper and "overdue (逾期未还) 纸质  OVERDUE" in lines[0]
    assert lines[1] == "1 loan(s), 1 overdue (逾期未还)"
    code, out, _ = run(Role.ARCHIVE_MANAGER, "loan", "list", "--open", "--json")
    assert {(loan["id"], loan["state"]) for loan in json.loads(out)} == {(int(waiting), "requested"),
                                                                          (int(paper), "overdue")}

    # A paper loan comes back to the archive room: an archive manager records it, not the borrower.
    before = _last_audit_id(archive)
    code, _, err = run(Role.CLERK, "loan", "return", paper)
    assert code == ExitCode.ACCESS_DENIED, err
    assert _refusals(archive, before) == [("qiantai", "decide_loan", None, None)]
    assert run(Role.ARCHIVE_MANAGER, "loan", "return", paper)[0] == 0
    code, out, _ = run(Role.ARCHIVE_MANAGER, "loan", "list", "--overdue")
    assert out.strip() == "0 loan(s), 0 overdue (逾期未还)"

    # The whole register is for those who keep or audit it; a borrower lists their own.
    before = _last_audit_id(archive)
    code, _, err = run(Role.CLERK, "loan", "list")
    assert code == ExitCode.ACCESS_DENIED and "(their own loans are listed with --mine)" in err
    code, out, _ = run(Role.CLERK, "loan", "list", "--mine")
    assert code == 0 and paper in out and waiting not in out.split()
    assert _refusals(archive, before) == [("qiantai", "view_loans", None, None)]


def test_the_monthly_report_counts_overdue_paper_loans(archive: Archive, run: Cli) -> None:
    code, out, _ = run(Role.CLERK, "loan", "request", "3-2-1201", "--purpose", "借出原件核对", "--paper")
    paper = _loan_id(out)
    run(Role.ARCHIVE_MANAGER, "loan", "approve", paper)
    _set_due(archive, paper, _ago(days=1))
    code, out, err = run(Role.ARCHIVE_MANAGER, "reconcile", "--no-objects", "--out", str(archive.work / "r"))
    assert code == 0 and "paper loans overdue: 1 (dangan loan list --overdue)" in out, err
    (html,) = (archive.work / "r").glob("*.html")
    assert "逾期未归还的借阅（纸质档案）：1 件（dangan loan list --overdue）" in html.read_text("utf-8")
    assert run(Role.ARCHIVE_MANAGER, "loan", "return", paper)[0] == 0
    code, out, _ = run(Role.ARCHIVE_MANAGER, "reconcile", "--no-objects", "--out", str(archive.work / "r2"))
    assert "没有逾期未归还的借阅" in next((archive.work / "r2").glob("*.html")).read_text("utf-8")


# --------------------------------------------------------------------------- the API and the pages


@dataclass
class Service:
    """The archive service over the archive, a script token per user."""

    app: FastAPI
    client: TestClient
    tokens: dict[Role, str]
    archive: Archive

    def call(self, role: Role, method: str, path: str, body: object = None) -> httpx.Response:
        """Call the API as the user of ``role`` (with their token), with ``body`` as JSON."""
        return self.client.request(method, path, json=body, headers={"Authorization": f"Bearer {self.tokens[role]}"})

    def browser(self, name: str) -> TestClient:
        """A browser of its own, signed in as ``name`` through the login form."""
        client = TestClient(self.app, base_url="http://testserver")
        assert sign_in(client, name).status_code == 303
        return client


@pytest.fixture
def service(archive: Archive) -> Iterator[Service]:
    app = create_app(archive.settings)
    with TestClient(app, base_url="http://testserver") as client:
        users = app.state.users
        tokens = {role: users.create_token(name) for role, name in USERS.items()}
        yield Service(app=app, client=client, tokens=tokens, archive=archive)


def test_the_rules_through_the_api(service: Service) -> None:
    archive = service.archive
    doc = f"/api/documents/{archive.doc}?purpose={PURPOSE}"
    before = _last_audit_id(archive)
    refused = service.call(Role.CLERK, "GET", doc)
    assert refused.status_code == 403
    body = refused.json()
    assert body["error"] == "loan_required" and "no approved loan of archive 3-2-1201" in body["message"]

    asked = service.call(Role.CLERK, "POST", "/api/loans", body={"unit": "3-2-1201", "purpose": PURPOSE})
    assert asked.status_code == 201, asked.text
    loan = asked.json()
    assert (loan["state"], loan["state_label"], loan["place"]) == ("requested", "待审批", "3-2-1201")
    again = service.call(Role.CLERK, "POST", "/api/loans", body={"unit": "3-2-1201", "purpose": PURPOSE})
    assert again.status_code == 400 and "waits for a decision already" in again.text
    assert service.call(Role.CLERK, "POST", f"/api/loans/{loan['id']}/approve",
                        body={}).status_code == 403
    approved = service.call(Role.ARCHIVE_MANAGER, "POST", f"/api/loans/{loan['id']}/approve",
                            body={"until": "2099-01-01 12:00"}).json()
    assert approved["state"] == "active" and approved["due_at"].startswith("2099-01-01T04:00:00")
    assert service.call(Role.CLERK, "GET", doc).status_code == 200
    image = service.call(Role.CLERK, "GET", f"/api/documents/{archive.doc}/pages/0.png?purpose={PURPOSE}")
    assert image.status_code == 200
    assert service.call(Role.CLERK, "GET", f"/api/documents/{archive.other_doc}?purpose={PURPOSE}"
                        ).status_code == 403

    mine = service.call(Role.CLERK, "GET", "/api/loans?mine=true").json()
    assert [m["id"] for m in mine] == [loan["id"]]
    assert service.call(Role.CLERK, "GET", "/api/loans").status_code == 403
    register = service.call(Role.AUDITOR, "GET", "/api/loans?open=true").json()
    assert [(r["id"], r["borrower"]) for r in register] == [(loan["id"], "qiantai")]

    _set_due(archive, loan["id"], _ago(seconds=1))
    assert service.call(Role.CLERK, "GET", doc).status_code == 403
    _set_due(archive, loan["id"], dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
    returned = service.call(Role.CLERK, "POST", f"/api/loans/{loan['id']}/return")
    assert returned.json()["state"] == "returned"
    assert service.call(Role.CLERK, "GET", doc).status_code == 403

    asked = service.call(Role.CLERK, "POST", "/api/loans", body={"unit": "3-2-1201", "purpose": "再次核对"}).json()
    no = service.call(Role.ARCHIVE_MANAGER, "POST", f"/api/loans/{asked['id']}/refuse", body={"reason": "已核对过"})
    assert no.json()["state"] == "refused"
    assert service.call(Role.CLERK, "GET", doc).status_code == 403
    assert service.call(Role.LEADERSHIP, "GET", doc).status_code == 200

    assert [(a, act, reason) for a, act, _, reason in _refusals(archive, before)] == [
        ("qiantai", "view_document", "no_loan"),
        ("qiantai", "decide_loan", None),
        ("qiantai", "view_document", "no_loan"),  # another archive
        ("qiantai", "view_loans", None),
        ("qiantai", "view_document", "no_loan"),  # past due
        ("qiantai", "view_document", "no_loan"),  # returned
        ("qiantai", "view_document", "no_loan"),  # refused
    ]


def test_police_view_pages_through_the_api_but_never_download_export_or_print(service: Service) -> None:
    archive = service.archive
    loan = service.call(Role.EXTERNAL_AUTHORITY, "POST", "/api/loans",
                        body={"unit": "3-2-1201", "purpose": "案件调查"}).json()
    service.call(Role.ARCHIVE_MANAGER, "POST", f"/api/loans/{loan['id']}/approve")
    q = "?purpose=案件调查"
    assert service.call(Role.EXTERNAL_AUTHORITY, "GET", f"/api/documents/{archive.doc}{q}"
                        ).status_code == 200
    assert service.call(Role.EXTERNAL_AUTHORITY, "GET", f"/api/documents/{archive.doc}/pages/0.png{q}"
                        ).status_code == 200
    before = _last_audit_id(archive)
    for path in (f"/api/documents/{archive.doc}/original{q}", "/api/export"):
        assert service.call(Role.EXTERNAL_AUTHORITY, "GET", path).status_code == 403
    assert [act for _, act, _, _ in _refusals(archive, before)] == ["download_original", "export"]
    police = Identity(name="jingcha", role=Role.EXTERNAL_AUTHORITY)
    police_mark = service.app.state.service.watermark(police, "案件调查")
    assert police_mark.line.startswith("jingcha（外部机关） · ")  # burned into every page they view

    page = service.browser("jingcha").get(f"/documents/{archive.doc}{q}")
    assert page.status_code == 200 and 'class="viewer no-print"' in page.text and "下载原件" not in page.text
    assert "打印不允许" in page.text and "打印不允许" in service.client.get("/static/style.css").text
    assert 'class="viewer"' in service.browser("lingdao").get(f"/documents/{archive.doc}{q}").text  # may print


def test_the_pages_request_approve_and_open(service: Service) -> None:
    archive = service.archive
    clerk, manager = service.browser("qiantai"), service.browser("guanliyuan")
    url = f"/documents/{archive.doc}?purpose=业务办理"
    refused = clerk.get(url)
    assert refused.status_code == 403 and "需要借阅" in refused.text and 'class="loan-request"' in refused.text
    archive_id = re.search(r'name="archive_id" value="([^"]+)"', refused.text).group(1)
    sent = clerk.post("/loans", data={"archive_id": archive_id, "purpose": "业务办理", "next": url,
                                      "csrf_token": clerk.cookies.get("dangan_csrf")}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].startswith("/loans?done=requested")
    mine = clerk.get(sent.headers["location"])
    assert "已提交借阅申请" in mine.text and "待审批" in mine.text and "/loans/1/approve" not in mine.text
    assert "借阅登记" not in mine.text  # the whole register is not the clerk's

    register = manager.get("/loans")
    assert register.status_code == 200 and 'action="/loans/1/approve"' in register.text
    approved = manager.post("/loans/1/approve", data={"until": "", "csrf_token": manager.cookies.get("dangan_csrf")},
                            follow_redirects=False)
    assert approved.status_code == 303
    assert "借阅中" in manager.get("/loans?show=all").text
    opened = clerk.get(url)
    assert opened.status_code == 200 and "page-image" in opened.text
    back = clerk.post("/loans/1/return", data={"csrf_token": clerk.cookies.get("dangan_csrf")},
                      follow_redirects=False)
    assert back.status_code == 303 and clerk.get(url).status_code == 403
    bad = clerk.post("/loans", data={"unit": "nowhere", "purpose": "业务办理",
                                     "csrf_token": clerk.cookies.get("dangan_csrf")})
    assert bad.status_code == 400 and "building-unit-room" in bad.text
    search = clerk.get("/search", params={"q": "王伟"})
    assert "申请借阅" in search.text  # each archive found offers a loan request
    assert "申请借阅" not in manager.get("/search", params={"q": "王伟"}).text


def test_a_clerk_reviews_a_new_document_without_a_loan(service: Service) -> None:
    """Filing QA: the review page and its corrections need no loan; once reviewed, the document is lent."""
    pending = service.archive.pending_doc
    clerk = service.browser("qiantai")
    page = clerk.get(f"/review/{pending}")
    assert page.status_code == 200
    flagged = re.findall(r'class="review-item card" data-field="([^"]+)"', page.text)
    assert len(flagged) >= 2
    assert clerk.get(f"/api/documents/{pending}/pages/0.png?purpose=复核更正").status_code == 200
    for i, field in enumerate(flagged):
        saved = clerk.post(f"/review/{pending}", follow_redirects=False,
                           data={"field": field, "decision": "accept", "purpose": "复核更正",
                                 "csrf_token": clerk.cookies.get("dangan_csrf")})
        assert saved.status_code == 303, saved.text
        if i < len(flagged) - 1:
            assert saved.headers["location"].startswith(f"/review/{pending}?")
    # The last one finished the review: back to the queue, with a notice, not to a page that now needs a loan.
    assert saved.headers["location"] == f"/review?saved={flagged[-1]}"
    assert "已复核完毕" in clerk.get(saved.headers["location"]).text
    assert clerk.get(f"/documents/{pending}?purpose=复核更正").status_code == 403
    assert service.browser("guanliyuan").get(f"/documents/{pending}?purpose=复核更正").status_code == 200
