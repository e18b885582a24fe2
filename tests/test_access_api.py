"""The permission matrix through the service's JSON API: every action the API takes, as every role.

The API's side of ``tests/test_access.py`` (which walks the same matrix through
the command line). Each user of the real test archive (real scans through the
real ingest, ``tests/webarchive.py``) calls the API with a script token; a try
works when the role may take all of its actions on the unit it concerns, and
is otherwise refused with 403, a message saying who may, and an audit entry
of the refusal under the user's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from schemas.models import UnitRef
from schemas.settings import Settings
from tests.access_matrix import (
    AUDIT_API_CALLS,
    AUDIT_NOT_IN_API,
    CATALOGUE_API_CALLS,
    CLI_TRIES,
    LOAN_API_CALLS,
    PEOPLE_API_CALLS,
    REQUEST_API_CALLS,
    RETENTION_API_CALLS,
    USERS,
    lend_to_borrowers,
)
from tests.e2e import run_dangan
from tests.webarchive import OTHER_UNIT, UNIT, WebArchive, copy_archive, template_archive
from web.access import USER_ROLES, Action, Identity, Role, allowed
from web.app import create_app

pytestmark = pytest.mark.integration

PASSWORD = "a long test password"
OWN = UnitRef(building="3", unit="2", room="1201")
OTHER = UnitRef(building="5", unit="1", room="502")
PURPOSE = "权限检查"


@dataclass(frozen=True)
class Docs:
    """The test archive's documents the tries act on: one of the owner's unit, one of another unit."""

    own: str
    other: str


@dataclass(frozen=True)
class ApiTry:
    """One API call and the actions of the matrix it takes, on the archive of ``unit`` (None: no one unit)."""

    name: str
    actions: tuple[Action, ...]
    method: str
    path: Callable[[Docs], str]
    unit: UnitRef | None = None
    #: The status when the role may (a try that only proves the check was passed says so in ``notes``).
    ok: int = 200
    json: Any = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    data: Mapping[str, str] | None = None
    notes: str = field(default="", compare=False)


API_TRIES: tuple[ApiTry, ...] = (
    ApiTry("search", (Action.SEARCH,), "GET", lambda d: "/api/search?q=周敏"),
    ApiTry("browse", (Action.BROWSE,), "GET", lambda d: "/api/browse"),
    ApiTry("document", (Action.VIEW_DOCUMENT,), "GET", lambda d: f"/api/documents/{d.own}?purpose={PURPOSE}", OWN),
    ApiTry("document of another unit", (Action.VIEW_DOCUMENT,), "GET",
           lambda d: f"/api/documents/{d.other}?purpose={PURPOSE}", OTHER),
    ApiTry("document revealed", (Action.VIEW_DOCUMENT, Action.REVEAL_PII), "GET",
           lambda d: f"/api/documents/{d.own}?purpose={PURPOSE}&reveal=true", OWN),
    ApiTry("page image", (Action.VIEW_PAGE_IMAGE,), "GET",
           lambda d: f"/api/documents/{d.own}/pages/0.png?purpose={PURPOSE}", OWN),
    ApiTry("page image of another unit", (Action.VIEW_PAGE_IMAGE,), "GET",
           lambda d: f"/api/documents/{d.other}/pages/0.png?purpose={PURPOSE}", OTHER),
    ApiTry("field crop", (Action.VIEW_PAGE_IMAGE,), "GET",
           lambda d: f"/api/documents/{d.own}/fields/owner_name/crop.png?purpose={PURPOSE}", OWN),
    ApiTry("original", (Action.DOWNLOAD_ORIGINAL,), "GET",
           lambda d: f"/api/documents/{d.own}/original?purpose={PURPOSE}", OWN),
    ApiTry("original of another unit", (Action.DOWNLOAD_ORIGINAL,), "GET",
           lambda d: f"/api/documents/{d.other}/original?purpose={PURPOSE}", OTHER),
    ApiTry("export", (Action.EXPORT,), "GET", lambda d: "/api/export"),
    ApiTry("export revealed", (Action.EXPORT, Action.REVEAL_PII), "GET", lambda d: "/api/export?reveal=true"),
    ApiTry("correct a field", (Action.CORRECT_FIELD,), "POST", lambda d: f"/api/documents/{d.own}/fields/owner_name",
           OWN, json={"value": None}, notes="accepts the value read: nothing changes but the record"),
    ApiTry("review list", (Action.REVIEW,), "GET", lambda d: "/api/review"),
    ApiTry("upload", (Action.UPLOAD,), "POST", lambda d: "/api/uploads", OWN, ok=400,
           data={"unit": UNIT}, files={"file": ("notes.txt", b"not a scan", "text/plain")},
           notes="passes the check, then is refused as not a scan (no ingest runs)"),
    ApiTry("audit log", (Action.VIEW_AUDIT,), "GET", lambda d: "/api/audit?limit=3"),
    *(ApiTry(c.name, c.actions, c.method, lambda d, path=c.path: path, c.unit, c.ok, c.json, notes=c.notes)
      for c in (*REQUEST_API_CALLS, *AUDIT_API_CALLS, *LOAN_API_CALLS, *CATALOGUE_API_CALLS,
                *PEOPLE_API_CALLS, *RETENTION_API_CALLS)),
    ApiTry("reconcile", (Action.RECONCILE,), "POST", lambda d: "/api/reconcile"),
)

#: Actions the API does not offer, and where the access tests try them instead.
NOT_IN_API: Mapping[Action, str] = {
    Action.INGEST: "dangan ingest, watch, runs, worker, coversheets (tests/test_access.py)",
    Action.MANAGE_USERS: "dangan user (tests/test_access.py)",
    Action.MANAGE_KEYS: "dangan keys (tests/test_access.py)",
    Action.BACKUP_RESTORE: "dangan backup, restore (tests/test_access.py)",
    Action.GC: "dangan gc (tests/test_access.py)",
    Action.SERVE: "dangan serve (below)",
    **AUDIT_NOT_IN_API,
}


@dataclass
class Api:
    app: FastAPI
    client: TestClient
    docs: Docs
    tokens: dict[Role, str]
    archive: WebArchive

    def last_audit_id(self) -> int:
        entries = self.app.state.service.index.audit_entries(limit=1)
        return entries[0].id if entries else 0

    def refusals_since(self, after: int) -> list[tuple[str, str, str]]:
        entries = self.app.state.service.index.audit_entries(limit=200)
        return [(e.actor, e.role, e.action) for e in sorted(entries, key=lambda e: e.id)
                if e.id > after and (e.detail or {}).get("outcome") == "refused"]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    archive = copy_archive(template_archive(tmp_path_factory), tmp_path_factory.mktemp("access-api"))
    app = create_app(Settings(home=archive.home))
    with TestClient(app, base_url="http://testserver") as client:
        users = app.state.users
        tokens = {}
        for role, name in USERS.items():
            users.add(name, role, PASSWORD, unit=OWN if role is Role.OWNER else None)
            tokens[role] = users.create_token(name)
        lend_to_borrowers(app.state.service.index, (OWN, OTHER))  # the matrix alone: loans in tests/test_loans.py
        admin = {"Authorization": f"Bearer {tokens[Role.LEADERSHIP]}"}

        def first(query: str) -> str:
            result = client.get("/api/search", params={"q": query, "doc_type": "owner_registration"},
                                headers=admin).json()
            return str(result["groups"][0]["documents"][0]["id"])

        yield Api(app=app, client=client, docs=Docs(own=first(UNIT), other=first(OTHER_UNIT)), tokens=tokens,
                  archive=archive)


def _identity(role: Role) -> Identity:
    return Identity(name=USERS[role], role=role, unit=OWN if role is Role.OWNER else None, via="token")


def test_every_action_is_tried_through_the_api_or_the_command_line() -> None:
    in_api = {a for t in API_TRIES for a in t.actions}
    assert not in_api & set(NOT_IN_API)
    assert in_api | set(NOT_IN_API) == set(Action)
    on_the_command_line = {a for t in CLI_TRIES for a in t.actions}
    assert set(NOT_IN_API) - {Action.SERVE} <= on_the_command_line


@pytest.mark.parametrize(("role", "attempt"), [pytest.param(r, t, id=f"{r}-{t.name}") for r in USER_ROLES
                                               for t in API_TRIES])
def test_api_call_as_role(role: Role, attempt: ApiTry, api: Api) -> None:
    identity = _identity(role)
    may = all(allowed(identity, a, unit=attempt.unit) for a in attempt.actions)
    before = api.last_audit_id()
    response = api.client.request(attempt.method, attempt.path(api.docs), json=attempt.json, data=attempt.data,
                                  files=attempt.files, headers={"Authorization": f"Bearer {api.tokens[role]}"})
    refusals = api.refusals_since(before)
    if may:
        assert response.status_code == attempt.ok, response.text
        assert not refusals
        return
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "access_denied"
    assert f"{USERS[role]} ({role}) may " in body["message"]
    refused = next(a for a in attempt.actions if not allowed(identity, a, unit=attempt.unit))
    assert refusals == [(USERS[role], str(role), str(refused))]


@pytest.mark.parametrize("role", USER_ROLES)
def test_only_the_local_operator_may_serve(role: Role, api: Api) -> None:
    run = run_dangan(["serve", "--port", "9"], {**api.archive.env, "DANGAN_USER": USERS[role],
                                                "DANGAN_PASSWORD": PASSWORD})
    assert run.code == 4, run.stdout + run.stderr
    assert f"{USERS[role]} ({role}) may not" in run.stderr, run.stderr


@pytest.mark.parametrize("role", USER_ROLES)
def test_every_role_that_may_search_gets_excerpts_with_id_numbers_and_phones_masked(role: Role, api: Api) -> None:
    """A hit's excerpt is read as the searcher (checked like viewing it, not audited as a view), masked for all."""
    before = api.last_audit_id()
    result = api.client.get("/api/search", params={"q": f"{api.archive.owner} 锦绣花园"},
                            headers={"Authorization": f"Bearer {api.tokens[role]}"}).json()
    hits = [d for g in result["groups"] for d in g["documents"]]
    assert len(hits) == 2 and all(d["excerpt"] for d in hits)
    texts = ["".join(p["text"] for s in d["excerpt"]["snippets"] for p in s["pieces"]) for d in hits]
    assert all(api.archive.owner in t for t in texts)
    assert not any(re.search(r"\d{7}", t.replace(" ", "")) for t in texts), texts
    assert api.archive.misprinted_id not in str(result)
    entries = [e for e in api.app.state.service.index.audit_entries(limit=50) if e.id > before]
    assert [(e.actor, e.action, (e.detail or {}).get("excerpts")) for e in entries] == [(USERS[role], "search", 2)]
