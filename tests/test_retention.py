"""Owner change, retention list, legal holds and destruction through the command line and the API.

The archive of the borrowing-register tests (SQLite and PostgreSQL; users of
every role, plus a second archive manager for the four-eyes rule). Commands
run in this process (``flows.cli.main``) as those users; the API through
FastAPI's TestClient with their script tokens. Every refusal is checked in
the audit log.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from contextlib import closing

import pytest
from fastapi.testclient import TestClient

from rules.workdays import COMPANY_TZ
from storage.vault import Vault
from tests.test_loans import Archive, Service, _make_archive, _store
from tests.test_requests import OTHER, PASSWORD, USERS, Cli, _audit, _cli, _last_audit_id
from web.access import PERMISSIONS, Action, Role
from web.app import create_app
from web.users import Users

SECOND = "guanliyuan2"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def archive(request: pytest.FixtureRequest, tmp_path) -> Archive:
    db_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    made = _make_archive(tmp_path, db_url)
    with closing(Vault.open(made.settings)) as vault:
        Users.of_index(vault.index).add(SECOND, Role.ARCHIVE_MANAGER, PASSWORD)
    return made


@pytest.fixture
def run(archive: Archive, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return _cli(archive, monkeypatch, capsys)  # type: ignore[arg-type]


def _refusals(archive: Archive, after: int) -> list[tuple[str, str, str | None]]:
    return [(e.actor, e.action, (e.detail or {}).get("reason")) for e in _audit(archive, after)  # type: ignore[arg-type]
            if (e.detail or {}).get("outcome") == "refused"]


def test_who_may_change_owners_hold_and_destroy() -> None:
    who_may = {a: {r for r in Role if a in PERMISSIONS[r]} for a in Action}
    managers = {Role.LEADERSHIP, Role.ARCHIVE_MANAGER, Role.LOCAL_OPERATOR}
    for action in (Action.OWNER_CHANGE, Action.LEGAL_HOLD, Action.REQUEST_DESTRUCTION):
        assert who_may[action] == managers
    assert who_may[Action.APPROVE_DESTRUCTION] == {Role.ARCHIVE_MANAGER, Role.LOCAL_OPERATOR}
    assert who_may[Action.VIEW_RETENTION] == who_may[Action.VIEW_DESTRUCTIONS] == managers | {Role.AUDITOR}


def test_owner_change_hold_and_destruction_through_the_command_line(archive: Archive, run: Cli,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    before = _last_audit_id(archive)
    assert run(Role.CLERK, "owner-change", "3-2-1201")[0] == 4
    four_years_ago = (dt.datetime.now(COMPANY_TZ).date() - dt.timedelta(days=4 * 366)).isoformat()
    code, out, err = run(Role.ARCHIVE_MANAGER, "owner-change", "3-2-1201", "--date", four_years_ago,
                         "--note", "过户")
    assert code == 0, err
    old = re.search(r"archive (\S+) \(2 document", out)
    assert old, out
    archive_id = old.group(1)
    listed = json.loads(run(Role.AUDITOR, "retention", "list", "--due", "--json")[1])
    assert [a["archive_id"] for a in listed] == [archive_id] and listed[0]["documents"] == 2
    reports = archive.settings.home / "retention-reports"
    code, _, err = run(Role.AUDITOR, "retention", "list", "--report", str(reports))
    assert code == 0 and "1 due for destruction, 0 under legal hold" in err, err
    (page,), (sheet,) = reports.glob("retention-*.html"), reports.glob("retention-*.csv")
    due_part = page.read_text(encoding="utf-8").split("<h2>法律保全中")[0]
    assert "保管期满待销毁 1 份" in due_part and archive_id in due_part and "3-2-1201" in due_part
    rows = list(csv.reader(io.StringIO(sheet.read_text(encoding="utf-8-sig"))))
    assert rows[1][:3] == ["到期待销毁", "", "3-2-1201"] and rows[1][-1] == archive_id and len(rows) == 2

    code, out, _ = run(Role.ARCHIVE_MANAGER, "hold", "place", archive_id, "--reason", "法院调查")
    hold_id = re.search(r"legal hold (\d+)", out).group(1)  # type: ignore[union-attr]
    assert run(Role.AUDITOR, "retention", "list", "--due", "--json")[1].strip() == "[]"
    assert run(Role.AUDITOR, "retention", "list", "--report", str(reports))[0] == 0
    rows = list(csv.reader(io.StringIO(sheet.read_text(encoding="utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["法律保全中"]  # held: listed, not due
    code, out, err = run(Role.LEADERSHIP, "destroy", "request", "3-2-1201", "--reason", "保管期满")
    assert code == 4 and "legal hold" in err  # a held archive is not even put up for destruction
    assert run(Role.ARCHIVE_MANAGER, "hold", "release", hold_id)[0] == 0
    code, out, err = run(Role.LEADERSHIP, "destroy", "request", "3-2-1201", "--reason", "保管期满")
    assert code == 0, err
    request_id = re.search(r"destruction request (\d+)", out).group(1)  # type: ignore[union-attr]
    assert run(Role.LEADERSHIP, "destroy", "approve", request_id)[0] == 4  # leadership does not approve

    out = run(Role.ARCHIVE_MANAGER, "hold", "place", archive_id, "--reason", "复议")[1]
    second_hold = re.search(r"legal hold (\d+)", out).group(1)  # type: ignore[union-attr]
    code, _, err = run(Role.ARCHIVE_MANAGER, "destroy", "approve", request_id)
    assert code == 4 and "legal hold" in err
    held = json.loads(run(Role.ARCHIVE_MANAGER, "retention", "list", "--json")[1])
    assert held[0]["held"] is True and held[0]["due"] is False
    assert run(Role.ARCHIVE_MANAGER, "hold", "release", second_hold)[0] == 0

    code, out, err = run(Role.ARCHIVE_MANAGER, "destroy", "approve", request_id)
    assert code == 0, err
    assert "2 document(s)" in out and "crypto-shred + object deletion" in out and "approved by guanliyuan" in out
    records = json.loads(run(Role.AUDITOR, "destroy", "list", "--json")[1])
    assert len(records) == 1 and records[0]["requested_by"] == USERS[Role.LEADERSHIP]
    assert run(Role.ARCHIVE_MANAGER, "show", archive.doc)[0] == 5  # the document is gone
    assert run(Role.LOCAL_OPERATOR, "audit", "verify")[0] == 0
    assert _refusals(archive, before) == [
        (USERS[Role.CLERK], "owner_change", None),
        (USERS[Role.LEADERSHIP], "request_destruction", "legal_hold"),
        (USERS[Role.LEADERSHIP], "approve_destruction", None),
        (USERS[Role.ARCHIVE_MANAGER], "approve_destruction", "legal_hold"),
    ]


@pytest.fixture
def service(archive: Archive) -> Iterator[Service]:
    app = create_app(archive.settings)
    with TestClient(app, base_url="http://testserver") as client:
        users = app.state.users
        tokens = {role: users.create_token(name) for role, name in USERS.items()}
        tokens[Role.LOCAL_OPERATOR] = users.create_token(SECOND)  # the second archive manager
        yield Service(app=app, client=client, tokens=tokens, archive=archive)


def test_owner_change_and_destruction_through_the_api(service: Service) -> None:
    archive = service.archive
    before = _last_audit_id(archive)
    assert service.call(Role.CLERK, "POST", "/api/owner-change", body={"unit": "5-1-502"}).status_code == 403
    changed = service.call(Role.ARCHIVE_MANAGER, "POST", "/api/owner-change", body={"unit": "5-1-502"})
    assert changed.status_code == 201, changed.text
    old = changed.json()["set_aside_archive"]
    assert service.call(Role.AUDITOR, "GET", "/api/retention?due=true").json() == []
    asked = service.call(Role.ARCHIVE_MANAGER, "POST", "/api/destructions", body={"archive": old, "reason": "期满"})
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    own = service.call(Role.ARCHIVE_MANAGER, "POST", f"/api/destructions/{request_id}/approve")
    assert own.status_code == 403 and own.json()["error"] == "destruction_refused"
    early = service.call(Role.LOCAL_OPERATOR, "POST", f"/api/destructions/{request_id}/approve")
    assert early.status_code == 403 and "retention" in early.json()["message"]
    assert service.call(Role.AUDITOR, "GET", "/api/destructions").json() == []
    assert _refusals(archive, before) == [
        (USERS[Role.CLERK], "owner_change", None),
        (USERS[Role.ARCHIVE_MANAGER], "approve_destruction", "own_request"),
        (SECOND, "approve_destruction", "not_due"),
    ]
    # what it held stays in the set-aside archive; new filings of the unit go to the new one
    with closing(Vault.open(archive.settings)) as vault:
        assert vault.index.get_document(archive.other_doc).archive_id == old
        run_id = vault.begin_run()
        new_doc = _store(vault, 97, "赵新", OTHER, archive.work, run_id, reviewed=True)
        assert vault.index.get_document(new_doc).archive_id == changed.json()["new_archive"]
