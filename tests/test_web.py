"""The archive service through FastAPI's TestClient: a real SQLite index and real stored scans.

The archive is made once by the real ``dangan ingest`` of rendered scans (see
``tests/webarchive.py``) and copied for this module. Users of several roles
sign in through the login form; every page and API call goes through the
real permission matrix, audit log, blind index and encrypted store.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from schemas.documents import DocType
from schemas.errors import AccessDenied, StorageError
from schemas.models import Extraction, FieldValue, FileKind, OcrLine, OcrPage, SourceFile, UnitRef
from schemas.settings import Settings
from storage.audit import AuditEntry
from storage.objects import ObjectStore
from storage.vault import Vault
from tests.e2e import ensure_master_key
from tests.webarchive import UNIT, WebArchive, copy_archive, scan_image, template_archive
from web.access import Identity, Role
from web.app import create_app
from web.excerpts import Excerpts
from web.render import BAND_SHARE

pytestmark = pytest.mark.integration

PASSWORD = "a long test password"
USERS = {"lingdao": ("leadership", None), "guanli": ("archive_manager", None), "qiantai": ("clerk", None),
         "shenji": ("auditor", None), "jingcha": ("external_authority", None), "yezhu": ("owner", UNIT)}


@dataclass
class Site:
    """The service of a copied test archive, and clients signed in as its users."""

    app: FastAPI
    archive: WebArchive

    def client(self, name: str | None = None, *, address: str = "testclient") -> TestClient:
        """A browser of its own (cookies, client ``address``), signed in as ``name`` when given."""
        client = TestClient(self.app, base_url="http://testserver", client=(address, 50000))
        if name is not None:
            response = sign_in(client, name)
            assert response.status_code == 303, response.text
        return client

    def audit(self, after: int = 0) -> list[AuditEntry]:
        """Audit entries newer than ``after``, oldest first."""
        return sorted((e for e in self.app.state.service.index.audit_entries(limit=2000) if e.id > after),
                      key=lambda e: e.id)

    def last_audit_id(self) -> int:
        entries = self.app.state.service.index.audit_entries(limit=1)
        return entries[0].id if entries else 0

    def doc_id(self, client: TestClient, query: str, doc_type: str = "owner_registration") -> str:
        """The id of the document of ``doc_type`` a search for ``query`` finds first."""
        result = client.get("/api/search", params={"q": query}).json()
        return next(d["id"] for g in result["groups"] for d in g["documents"] if d["doc_type"] == doc_type)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> object:
    """Sign in through the login form, as a browser does (its double-submit token included)."""
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, form.text
    return client.post("/login", data={"name": name, "password": password, "login_token": token.group(1),
                                       "next": "/search"}, follow_redirects=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    archive = copy_archive(template_archive(tmp_path_factory), tmp_path_factory.mktemp("web"))
    app = create_app(Settings(home=archive.home))
    with TestClient(app):  # runs the app's start-up (opens the archive) and shut-down
        from schemas.validators import parse_unit_ref

        for name, (role, unit) in USERS.items():
            app.state.users.add(name, role, PASSWORD, unit=parse_unit_ref(unit) if unit else None)
        yield Site(app=app, archive=archive)


# --------------------------------------------------------------------------- the boundary


def test_nothing_but_sign_in_health_and_static_files_answers_without_a_session(site: Site) -> None:
    anonymous = site.client()
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/static/style.css").status_code == 200
    assert anonymous.get("/login").status_code == 200
    page = anonymous.get("/search?q=周敏", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    for path in ("/api/search?q=周敏", "/openapi.json", "/docs", "/api/me", "/api/review"):
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 401, path
        assert response.json()["error"] == "not_signed_in"
    assert anonymous.post("/api/documents/x/fields/owner_name", json={"value": "x"}).status_code == 401
    assert anonymous.get("/api/search", headers={"Authorization": "Bearer dgt_not-a-token"}).status_code == 401

    assert anonymous.get("/docs/assets/swagger-ui-bundle.js").status_code == 401

    clerk = site.client("qiantai")
    spec = clerk.get("/openapi.json")
    assert spec.status_code == 200 and "/api/search" in spec.json()["paths"]
    assert clerk.get("/docs").status_code == 200


def test_the_api_docs_are_served_by_the_service_itself(site: Site) -> None:
    clerk = site.client("qiantai")
    docs = clerk.get("/docs")
    assert docs.status_code == 200 and "default-src 'self'" in docs.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert "/docs/assets/swagger-ui-bundle.js" in sources and "/static/docs.js" in sources
    for path in sources:
        asset = clerk.get(path)
        assert asset.status_code == 200 and len(asset.content) > 100, path
    assert clerk.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
    # Only the files the page needs.
    assert clerk.get("/docs/assets/redoc.standalone.js").status_code == 404
    assert clerk.get("/docs/assets/..%2Fcore.py").status_code == 404
    assert clerk.get("/redoc").status_code == 404  # FastAPI's would load its script from a CDN


#: An address outside the service: http(s)://..., or //host (the page's own scheme).
_OUTSIDE = re.compile(r"https?://|(?:src|href|action)\s*=\s*[\"']?//|url\(\s*[\"']?(?:https?:)?//", re.IGNORECASE)


def test_no_page_or_template_refers_to_an_address_outside_the_service(site: Site) -> None:
    web = Path(__file__).resolve().parent.parent / "web"
    own = [*sorted((web / "templates").glob("*.html")), *sorted((web / "static").iterdir())]
    assert len(own) > 10
    for path in own:
        assert not _OUTSIDE.search(path.read_text("utf-8")), path

    clerk, manager = site.client("qiantai"), site.client("guanli")
    doc = site.doc_id(clerk, site.archive.owner)
    pages = [(site.client(), "/login"), (clerk, f"/search?q={site.archive.owner}"), (clerk, "/browse"),
             (clerk, f"/documents/{doc}"), (clerk, f"/documents/{doc}?purpose=业务办理"), (clerk, "/upload"),
             (clerk, "/docs"), (clerk, "/documents/no-such-document?purpose=业务办理"), (manager, "/review"),
             (manager, f"/review/{doc}")]
    for client, path in pages:
        page = client.get(path)
        assert page.headers["content-type"].startswith("text/html"), path
        assert not _OUTSIDE.search(page.text), path
        for target in re.findall(r'(?:src|href|action)="([^"]*)"', page.text):
            assert target.startswith(("/", "?", "#")) and not target.startswith("//"), (path, target)


def test_sign_in_cookies_are_strict_and_sign_out_ends_the_session(site: Site) -> None:
    client = site.client()
    response = sign_in(client, "qiantai")
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("dangan_session="))
    assert "HttpOnly" in session and "samesite=strict" in session.lower() and "Secure" not in session
    assert client.get("/api/me").json()["role"] == "clerk"
    over_https = TestClient(site.app, base_url="https://testserver")
    secure = sign_in(over_https, "qiantai").headers.get_list("set-cookie")
    assert all("Secure" in c for c in secure if c.startswith(("dangan_session=", "dangan_csrf=")))

    stolen = client.cookies.get("dangan_session")
    out = client.post("/logout", data={"csrf_token": client.cookies.get("dangan_csrf")}, follow_redirects=False)
    assert out.status_code == 303
    replay = site.client()
    replay.cookies.set("dangan_session", stolen)
    assert replay.get("/api/me").status_code == 401  # the session ended on the server, not just in the browser


def test_a_wrong_password_is_refused_and_sign_in_is_throttled(site: Site) -> None:
    site.app.state.users.add("throttled", "clerk", PASSWORD)
    client = site.client(address="192.0.2.7")  # its own address: the lock of this address stays with it
    before = site.last_audit_id()
    for _ in range(5):
        assert sign_in(client, "throttled", "wrong password!").status_code == 401
    locked = sign_in(client, "throttled")  # the right password, too late
    assert locked.status_code == 429 and "登录" in locked.text
    refused = [e for e in site.audit(before) if e.action == "sign_in"]
    assert len(refused) == 6 and all((e.detail or {}).get("outcome") == "refused" for e in refused)


def test_a_post_without_the_sessions_csrf_token_is_refused(site: Site) -> None:
    manager = site.client("guanli")
    doc = site.doc_id(manager, "周敏", "fire_safety_agreement")
    forged = manager.post(f"/api/documents/{doc}/fields/seal_text", json={"value": None})
    assert forged.status_code == 403 and forged.json()["error"] == "csrf_rejected"
    other = site.client("qiantai")  # another session's token does not do either
    wrong = manager.post(f"/api/documents/{doc}/fields/seal_text", json={"value": None},
                         headers={"X-CSRF-Token": other.cookies.get("dangan_csrf")})
    assert wrong.status_code == 403
    page_form = manager.post(f"/review/{doc}", data={"field": "seal_text", "decision": "accept"},
                             follow_redirects=False)
    assert page_form.status_code == 403 and "页面已过期" in page_form.text
    # A script with a token has no ambient credential: no CSRF token needed.
    token = site.app.state.users.create_token("guanli")
    scripted = site.client().post(f"/api/documents/{doc}/fields/seal_text", json={"value": None},
                                  headers={"Authorization": f"Bearer {token}"})
    assert scripted.status_code == 200 and scripted.json()["kind"] == "accepted"


# --------------------------------------------------------------------------- search and browse


def test_search_a_two_character_name_groups_by_archive_with_masked_values(site: Site) -> None:
    clerk = site.client("qiantai")
    result = clerk.get("/api/search", params={"q": site.archive.owner}).json()
    assert result["count"] == 2
    (group,) = result["groups"]
    assert (group["building"], group["unit"], group["room"]) == ("3", "2", "1201")
    assert group["completeness"]["present"] == ["owner_registration", "fire_safety_agreement"]
    registration = next(d for d in group["documents"] if d["doc_type"] == "owner_registration")
    assert registration["fields"]["owner_name"] == site.archive.owner
    assert "*" in registration["fields"]["id_number"]

    page = clerk.get("/search", params={"q": site.archive.owner})
    assert page.status_code == 200
    assert f"<mark>{site.archive.owner}</mark>" in page.text and "齐全度 2/7" in page.text
    assert site.archive.misprinted_id not in page.text and site.archive.owner_id not in page.text

    by_tail = clerk.get("/api/search", params={"q": site.archive.misprinted_id[-4:]}).json()
    assert any(d["fields"].get("owner_name") == site.archive.owner for g in by_tail["groups"] for d in g["documents"])
    by_unit = clerk.get("/api/search", params={"q": "3栋2单元1201室"}).json()
    assert by_unit["count"] == 2
    filtered = clerk.get("/api/search", params={"q": site.archive.owner, "doc_type": "fire_safety_agreement"}).json()
    assert [d["doc_type"] for g in filtered["groups"] for d in g["documents"]] == ["fire_safety_agreement"]
    assert clerk.get("/api/search", params={"q": "x", "doc_type": "no_such_type"}).status_code == 400


# --------------------------------------------------------------------------- excerpts of the hits' text


def _store_page(vault: Vault, folder: Path, seed: int, page: OcrPage, *, owner: str, unit: UnitRef | None,
                run_id: str) -> str:
    """Archive a file of one page whose OCR result is ``page`` (sealed and indexed as ingest does)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"scan_{seed}.pdf"
    path.write_bytes(f"%PDF-1.4\n% scan {seed} of {owner}\n".encode())
    data = path.read_bytes()
    source = SourceFile(path=path, name=path.name, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                        kind=FileKind.PDF, page_count=1)
    extraction = Extraction(doc_type=DocType.OWNER_REGISTRATION, doc_type_confidence=0.95, page_indices=(page.index,),
                            fields={"owner_name": FieldValue(name="owner_name", value=owner, confidence=0.99)})
    return vault.store_file(source=source, pages=[page], documents=[extraction], run_id=run_id, unit=unit)[0]


def _text_page(lines: Sequence[str]) -> OcrPage:
    return OcrPage(index=0, engine="rapidocr", width=1654, height=2339,
                   lines=tuple(OcrLine(text=t, box=(100, 100 + 60 * i, 1500, 150 + 60 * i), confidence=0.95)
                               for i, t in enumerate(lines)))


#: A registration form whose OCR text holds markup, an ID number read with spaces and a mobile number.
MARKUP_OWNER = "尹晓"
MARKUP_ID = "3201 0219 8805 0612 34"
MARKUP_PHONE = "139 1234 5678"


@pytest.fixture(scope="module")
def markup_doc(site: Site, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A document filed under no unit whose text would run as a script if a page did not escape it."""
    vault = site.app.state.service.vault
    page = _text_page(["业主入住登记表", f"业主姓名：{MARKUP_OWNER} <script>alert('x')</script><b>粗</b>",
                       f"身份证号码：{MARKUP_ID} 手机：{MARKUP_PHONE}", "本人承诺以上所填信息真实有效"])
    run_id = vault.begin_run()
    doc = _store_page(vault, tmp_path_factory.mktemp("markup"), 1, page, owner=MARKUP_OWNER, unit=None,
                      run_id=run_id)
    vault.finish_run(run_id, {"stored": 1}, "completed")
    return doc


def _excerpts(result: dict) -> dict[str, dict]:
    """The excerpt of each document of an API search result (None: none), by document id."""
    return {d["id"]: d["excerpt"] for g in result["groups"] for d in g["documents"]}


def _excerpt_text(excerpt: dict) -> str:
    return " ".join("".join(p["text"] for p in s["pieces"]) for s in excerpt["snippets"])


def test_a_search_shows_an_excerpt_of_each_hits_text_with_the_words_marked(site: Site) -> None:
    clerk = site.client("qiantai")
    before = site.last_audit_id()
    page = clerk.get("/search", params={"q": f"{site.archive.owner} 3-2-1201"})
    assert page.status_code == 200
    excerpts = re.findall(r'<p class="excerpt">(.*?)</p>', page.text)
    assert len(excerpts) == 2, page.text
    for excerpt in excerpts:
        assert f"<mark>{site.archive.owner}</mark>" in excerpt
        assert re.search(r"<mark>3栋2单元1201室?</mark>", excerpt), excerpt  # the unit as the form prints it
        assert 60 <= len(re.sub(r"<[^>]+>", "", excerpt)) <= 130
    # The registration form prints the ID number and phones: masked in the excerpt, never in full.
    registration = next(e for e in excerpts if "身份证号码" in e)
    assert f"{site.archive.misprinted_id[:6]}********{site.archive.misprinted_id[-4:]}" in registration
    assert site.archive.misprinted_id not in page.text and site.archive.owner_id not in page.text
    assert not re.search(r"\d{7}", re.sub(r"<[^>]+>", "", registration).replace("*", " ")), registration

    # The search is audited once, with the number of excerpts; showing them is not a view of the documents.
    entries = site.audit(before)
    assert [(e.action, (e.detail or {}).get("excerpts")) for e in entries] == [("search", 2)]

    result = clerk.get("/api/search", params={"q": site.archive.owner}).json()
    for excerpt in _excerpts(result).values():
        (snippet,) = excerpt["snippets"]
        assert [p["text"] for p in snippet["pieces"] if p["mark"]] == [site.archive.owner]
        assert snippet["page"] == 0 and snippet["number"] == 1 and snippet["cut_after"]
        assert site.archive.misprinted_id not in _excerpt_text(excerpt)
    # Words of the text found apart get a snippet each.
    apart = _excerpts(clerk.get("/api/search", params={"q": "消防 电动车"}).json())
    (snippets,) = [e["snippets"] for e in apart.values()]
    assert [next(p["text"] for p in s["pieces"] if p["mark"]) for s in snippets] == ["消防", "电动车"]
    # A search by ID number or by filters alone has no words to show around.
    for params in ({"q": site.archive.misprinted_id}, {"doc_type": "owner_registration"}):
        found = _excerpts(clerk.get("/api/search", params=params).json())
        assert found and not any(found.values()), params


def test_an_excerpt_is_escaped_and_masked_for_every_role(site: Site, markup_doc: str) -> None:
    for name in ("qiantai", "guanli", "lingdao"):  # a search reveals nothing, even to those who may reveal
        client = site.client(name)
        page = client.get("/search", params={"q": MARKUP_OWNER})
        (excerpt,) = re.findall(r'<p class="excerpt">(.*?)</p>', page.text)
        assert f"<mark>{MARKUP_OWNER}</mark>" in excerpt
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;b&gt;粗&lt;/b&gt;" in excerpt
        assert "<script>alert" not in page.text and "<b>" not in page.text
        assert "320102********1234" in excerpt and "139 **** 5678" in excerpt
        api = client.get("/api/search", params={"q": MARKUP_OWNER}).text
        for shown in (page.text, api):
            for secret in (MARKUP_ID, MARKUP_ID.replace(" ", ""), "0219 8805 0612", "1234 5678", "13912345678"):
                assert secret not in shown, (name, secret)


def test_an_owner_gets_excerpts_of_their_own_unit_only(site: Site) -> None:
    owner = site.client("yezhu")
    page = owner.get("/search", params={"q": "锦绣花园"})
    assert page.text.count('<p class="excerpt">') == 2 and site.archive.other_owner not in page.text
    service = site.app.state.service
    other = site.doc_id(site.client("qiantai"), site.archive.other_owner)
    own = site.doc_id(owner, "登记表")
    me = Identity(name="yezhu", role=Role.OWNER, unit=UnitRef(building="3", unit="2", room="1201"), via="session")
    before = site.last_audit_id()
    assert service.vault.acting_as(me).page_texts(own)[0][0] == 0
    with pytest.raises(AccessDenied):
        service.vault.acting_as(me).page_texts(other)
    assert [(e.actor, e.action, e.document_id, (e.detail or {}).get("outcome")) for e in site.audit(before)] == [
        ("yezhu", "view_document", other, "refused")]


class _FlakyStore:
    """The archive's object store, but reading one object fails and reading another takes ``delay`` seconds."""

    def __init__(self, store: ObjectStore, *, failing: str, slow: str, delay: float) -> None:
        self.store, self.failing, self.slow, self.delay = store, failing, slow, delay

    def get(self, key: str) -> bytes:
        if key == self.failing:
            raise StorageError(f"Cannot read object {key}: the store did not answer.")
        if key == self.slow:
            time.sleep(self.delay)
        return self.store.get(key)

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def test_a_hit_whose_text_cannot_be_read_in_time_is_shown_without_an_excerpt(
        site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    clerk, service = site.client("qiantai"), site.app.state.service
    registration = site.doc_id(clerk, site.archive.owner)
    agreement = site.doc_id(clerk, site.archive.owner, "fire_safety_agreement")
    other = site.doc_id(clerk, site.archive.other_owner)
    keys = {doc: service.index.get_document(doc).ocr_key for doc in (registration, agreement)}
    monkeypatch.setattr(service.vault, "store", _FlakyStore(service.vault.store, failing=keys[registration],
                                                            slow=keys[agreement], delay=3.0))
    impatient = Excerpts(wait_seconds=0.5)
    monkeypatch.setattr(service, "excerpts", impatient)
    try:
        with caplog.at_level(logging.WARNING, logger="web.excerpts"):
            started = time.monotonic()
            page = clerk.get("/search", params={"q": "锦绣花园"})
            took = time.monotonic() - started
    finally:
        impatient.close()
    assert page.status_code == 200 and took < 2.5
    assert page.text.count('<p class="excerpt">') == 1 and site.archive.other_owner in page.text
    assert f"/documents/{registration}" in page.text and f"/documents/{agreement}" in page.text
    logged = caplog.text
    assert f"no excerpt of document {registration}: StorageError" in logged
    assert f"no excerpt of document {agreement}: its text was not read within 0.5 s" in logged
    assert other not in logged


def test_a_page_of_50_hits_reads_its_excerpts_from_s3(site: Site, s3_server, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """The texts of a full result page come from a real S3 server (SeaweedFS), read in parallel."""
    service = site.app.state.service
    registration = site.doc_id(site.client("qiantai"), site.archive.owner)
    (page,) = [p for p in service.vault.read_ocr(registration) if p.index == 0]  # a real page's OCR result
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    ensure_master_key({"DANGAN_HOME": str(home)})
    settings = Settings(home=home, s3_endpoint=s3_server.endpoint, s3_access_key=s3_server.access_key,
                        s3_secret_key=s3_server.secret_key, s3_bucket="excerpts")
    with closing(Vault.open(settings)) as vault:
        run_id = vault.begin_run()
        docs = [_store_page(vault, tmp_path / "scans", i, page, owner=site.archive.owner,
                            unit=UnitRef(building="8", unit="1", room="801"), run_id=run_id) for i in range(50)]
        vault.finish_run(run_id, {"stored": 50}, "completed")
        lost = docs[7]
        lost_key = vault.index.get_document(lost).ocr_key
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as client:
        app.state.users.add("qiantai", "clerk", PASSWORD)
        assert sign_in(client, "qiantai").status_code == 303
        result = client.get("/api/search", params={"q": site.archive.owner, "limit": 50}).json()
        assert result["count"] == 50
        excerpts = _excerpts(result)
        assert set(excerpts) == set(docs) and all(excerpts.values())
        assert all(site.archive.misprinted_id not in _excerpt_text(e) for e in excerpts.values())

        s3_server.client().remove_object("excerpts", lost_key)  # an object the store lost
        with caplog.at_level(logging.WARNING, logger="web.excerpts"):
            shown = client.get("/search", params={"q": site.archive.owner})
        assert shown.status_code == 200 and shown.text.count(f"<mark>{site.archive.owner}</mark>") >= 49
        assert shown.text.count('<p class="excerpt">') == 49 and f"/documents/{lost}" in shown.text
        assert f"no excerpt of document {lost}: NotFound" in caplog.text


def test_browse_goes_from_estate_to_the_unit_archives(site: Site) -> None:
    clerk = site.client("qiantai")
    top = clerk.get("/api/browse").json()
    assert top["level"] == "estate" and sum(i["archives"] for i in top["items"]) == 2
    estate = top["items"][0]["value"]
    units = clerk.get("/api/browse", params={"estate": estate, "building": "3", "unit": "2"}).json()
    assert [(a["room"], a["documents"]) for a in units["archives"]] == [("1201", 2)]
    assert "3栋" in clerk.get("/browse", params={"estate": estate}).text


# --------------------------------------------------------------------------- one document


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int16)


def test_a_document_asks_the_purpose_and_its_pages_carry_the_watermark(site: Site) -> None:
    clerk = site.client("qiantai")
    doc = site.doc_id(clerk, site.archive.owner)
    ask = clerk.get(f"/documents/{doc}")
    assert ask.status_code == 200 and "查阅目的" in ask.text and "page-image" not in ask.text
    before = site.last_audit_id()
    page = clerk.get(f"/documents/{doc}", params={"purpose": "业务办理"})
    assert page.status_code == 200 and "page-image" in page.text and 'data-field="owner_name"' in page.text
    assert "下载原件" not in page.text  # a clerk may not
    image_url = re.search(r'src="(/api/documents/[^"]+\.png[^"]*)"', page.text).group(1).replace("&amp;", "&")
    image = clerk.get(image_url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"] == "no-store"
    pixels = _png(image.content)
    height, width = pixels.shape[:2]
    band = pixels[height - round(width * BAND_SHARE):]
    red = (band[..., 0] > 120) & (band[..., 1] < 90) & (band[..., 2] < 90)
    assert red.sum() > 200, "the band naming viewer, time and purpose is drawn"
    tint = (pixels[: height // 2, ..., 0] - pixels[: height // 2, ..., 1]) > 25
    assert tint.mean() > 0.01, "the watermark is tiled across the page"
    views = [(e.action, (e.detail or {}).get("purpose")) for e in site.audit(before) if e.document_id == doc]
    assert ("view_document", "业务办理") in views and ("view_page_image", "业务办理") in views
    assert clerk.get(f"/documents/{doc}", params={"purpose": "x"}).status_code == 400  # a purpose says something


def test_only_leadership_and_managers_see_full_id_numbers_on_fields_and_pages(site: Site) -> None:
    clerk, manager = site.client("qiantai"), site.client("guanli")
    doc = site.doc_id(clerk, site.archive.owner)
    fields = {f["name"]: f for f in clerk.get(f"/api/documents/{doc}", params={"purpose": "业务办理"}).json()["fields"]}
    assert "*" in fields["id_number"]["value"]
    refused = clerk.get(f"/api/documents/{doc}", params={"purpose": "业务办理", "reveal": True})
    assert refused.status_code == 403
    revealed = manager.get(f"/api/documents/{doc}", params={"purpose": "业务办理", "reveal": True}).json()
    assert {f["name"]: f["value"] for f in revealed["fields"]}["id_number"] == site.archive.misprinted_id

    left, top, box_w, box_h = fields["id_number"]["box"]
    def region(client: TestClient) -> np.ndarray:
        pixels = _png(client.get(f"/api/documents/{doc}/pages/0.png", params={"purpose": "业务办理"}).content)
        h, w = pixels.shape[:2]
        return pixels[int(top * h) + 3:int((top + box_h) * h) - 3, int(left * w) + 3:int((left + box_w) * w) - 3]
    hidden, shown = region(clerk), region(manager)
    assert (np.abs(hidden - 150) < 12).all(axis=2).mean() > 0.8, "the clerk's page hides the ID number"
    assert (shown < 100).any(axis=2).mean() > 0.02, "the manager's page shows its print"


def test_download_of_the_original_only_for_roles_that_may(site: Site) -> None:
    manager = site.client("guanli")
    doc = site.doc_id(manager, site.archive.owner)
    got = manager.get(f"/documents/{doc}/original", params={"purpose": "业主查询"})
    assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
    stored = site.archive.inbox / "锦绣花园" / UNIT / "登记表.png"
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(stored.read_bytes()).hexdigest()
    for name in ("qiantai", "jingcha", "shenji"):
        client = site.client(name)
        before = site.last_audit_id()
        refused = client.get(f"/documents/{doc}/original", params={"purpose": "业主查询"})
        assert refused.status_code == 403 and "无权操作" in refused.text
        assert [(e.actor, e.action, (e.detail or {}).get("outcome")) for e in site.audit(before)] == [
            (name, "download_original", "refused")]


def test_an_owner_sees_only_their_own_archive(site: Site) -> None:
    owner, clerk = site.client("yezhu"), site.client("qiantai")
    other_doc = site.doc_id(clerk, site.archive.other_owner)
    own = owner.get("/api/search", params={"q": "登记表"}).json()
    assert {(g["building"], g["unit"], g["room"]) for g in own["groups"]} == {("3", "2", "1201")}
    assert owner.get("/api/search", params={"q": site.archive.other_owner}).json()["count"] == 0
    before = site.last_audit_id()
    refused = owner.get(f"/documents/{other_doc}", params={"purpose": "业主查询"})
    assert refused.status_code == 403 and "own unit" in refused.text
    assert owner.get(f"/api/documents/{other_doc}/pages/0.png", params={"purpose": "业主查询"}).status_code == 403
    assert [(e.action, e.document_id) for e in site.audit(before)] == [
        ("view_document", other_doc), ("view_page_image", other_doc)]
    archives = owner.get("/api/browse", params={"estate": "", "building": "5", "unit": "1"}).json()["archives"]
    assert all((a["building"], a["unit"], a["room"]) == ("3", "2", "1201") for a in archives)


# --------------------------------------------------------------------------- review and corrections


def test_a_correction_reaches_search_at_once_and_keeps_who_when_old_and_new(site: Site) -> None:
    manager = site.client("guanli")
    doc = site.doc_id(manager, site.archive.owner)
    review = manager.get("/review")
    assert doc in review.text
    page = manager.get(f"/review/{doc}")
    assert page.status_code == 200 and f"/api/documents/{doc}/fields/id_number/crop.png" in page.text
    crop = manager.get(f"/api/documents/{doc}/fields/id_number/crop.png", params={"purpose": "复核更正"})
    assert crop.status_code == 200 and _png(crop.content).shape[1] > 200
    assert manager.get("/api/search", params={"q": site.archive.owner_id}).json()["count"] == 0

    bad = manager.post(f"/review/{doc}", data={"field": "id_number", "decision": "correct", "value": "12345",
                                               "csrf_token": manager.cookies.get("dangan_csrf")})
    assert bad.status_code == 400 and "not valid" in bad.text
    saved = manager.post(f"/review/{doc}", data={"field": "id_number", "decision": "correct",
                                                 "value": site.archive.owner_id,
                                                 "csrf_token": manager.cookies.get("dangan_csrf")},
                         follow_redirects=False)
    assert saved.status_code == 303
    # The paper prints the old number (its text still has it); the new one is found only through the field.
    found = manager.get("/api/search", params={"q": site.archive.owner_id}).json()
    assert [d["id"] for g in found["groups"] for d in g["documents"]] == [doc]
    detail = manager.get(f"/api/documents/{doc}", params={"purpose": "复核更正"}).json()
    assert detail["status"] == "indexed"
    (correction,) = detail["corrections"]
    assert correction["actor"] == "guanli" and correction["kind"] == "corrected"
    assert correction["old_value"].endswith(site.archive.misprinted_id[-4:]) and "*" in correction["old_value"]
    assert correction["new_value"].endswith(site.archive.owner_id[-4:]) and "*" in correction["new_value"]
    assert site.archive.owner_id not in str(site.audit())  # the audit row names the field, never the value


def test_a_clerk_may_correct_but_an_auditor_and_the_police_may_not(site: Site) -> None:
    clerk = site.client("qiantai")
    doc = site.doc_id(clerk, site.archive.owner, "fire_safety_agreement")
    token = {"X-CSRF-Token": clerk.cookies.get("dangan_csrf")}
    done = clerk.post(f"/api/documents/{doc}/fields/signing_date", json={"value": "2017年6月28日"}, headers=token)
    assert done.status_code == 200 and done.json()["new_value"] == "2017-06-28"
    for name in ("shenji", "jingcha", "yezhu"):
        client = site.client(name)
        refused = client.post(f"/api/documents/{doc}/fields/signing_date", json={"value": "2017-06-29"},
                              headers={"X-CSRF-Token": client.cookies.get("dangan_csrf")})
        assert refused.status_code == 403, name


def test_a_new_reading_of_a_corrected_document_gets_the_persons_values_back(site: Site) -> None:
    """What the index does while it records a file read again: the corrections of its documents are put back."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from schemas.models import Extraction, FieldValue
    from storage.corrections import Corrections, reapply
    from storage.tables import DocumentRow, FileRow

    manager = site.client("guanli")
    doc = site.doc_id(manager, site.archive.owner, "fire_safety_agreement")
    token = {"X-CSRF-Token": manager.cookies.get("dangan_csrf")}
    assert manager.post(f"/api/documents/{doc}/fields/contractor", json={"value": "新增 的值"},
                        headers=token).status_code == 200  # a field the reading missed: added
    service = site.app.state.service
    blind = Corrections.open(service.index, service.vault.keys)._blind
    with Session(service.index.engine) as s:
        sha, first = s.execute(select(FileRow.sha256, DocumentRow.first_page).join(
            DocumentRow, DocumentRow.file_id == FileRow.id).where(DocumentRow.id == doc)).one()
        reading = Extraction(doc_type="fire_safety_agreement", doc_type_confidence=0.9, page_indices=(first,),
                             fields={"owner_name": FieldValue(name="owner_name", value="周敏", confidence=0.99),
                                     "signing_date": FieldValue(name="signing_date", value="2017-06-23",
                                                                confidence=0.5, issue="uncertain")})
        again, status = reapply(s, blind, sha, reading, "needs_review")
    assert again.fields["signing_date"].value == "2017-06-28" and again.fields["signing_date"].issue is None
    assert again.fields["contractor"].value == "新增的值"
    assert again.fields["owner_name"].value == "周敏"
    assert status == "indexed"  # nothing doubtful is left in this reading


@pytest.mark.slow
def test_a_correction_wins_over_a_later_reading_of_the_same_file(site: Site, tmp_path: Path) -> None:
    """An index that lost the file's rows (rebuilt) reads the file again: the person's value is put back."""
    from sqlalchemy import delete, select
    from sqlalchemy.orm import Session

    from storage.tables import DocumentRow, FileRow, PageRow
    from tests.e2e import run_dangan

    manager = site.client("guanli")
    doc = site.doc_id(manager, site.archive.owner, "fire_safety_agreement")
    token = {"X-CSRF-Token": manager.cookies.get("dangan_csrf")}
    assert manager.post(f"/api/documents/{doc}/fields/seal_text", json={"value": "锦绣物业服务中心"},
                        headers=token).status_code == 200
    index = site.app.state.service.index
    with Session(index.write_engine) as s, s.begin():
        file_id = s.scalar(select(DocumentRow.file_id).where(DocumentRow.id == doc))
        s.execute(delete(PageRow).where(PageRow.file_id == file_id))
        s.execute(delete(DocumentRow).where(DocumentRow.file_id == file_id))
        s.execute(delete(FileRow).where(FileRow.id == file_id))
    inbox = tmp_path / "inbox" / UNIT
    inbox.mkdir(parents=True)
    source = site.archive.inbox / "锦绣花园" / UNIT / "消防协议.png"
    shutil.copy2(source, inbox / source.name)
    run = run_dangan(["ingest", "--keep", "--quiet", str(tmp_path / "inbox")], site.archive.env)
    assert run.code == 0, run.stderr
    again = site.doc_id(manager, "锦绣物业服务中心", "fire_safety_agreement")
    assert again != doc
    fields = {f["name"]: f for f in manager.get(f"/api/documents/{again}", params={"purpose": "复核更正"})
              .json()["fields"]}
    assert fields["seal_text"]["value"] == "锦绣物业服务中心" and fields["seal_text"]["issue"] is None


# --------------------------------------------------------------------------- upload


def test_a_clerk_uploads_a_photo_into_an_archive_through_the_ingest(site: Site) -> None:
    clerk = site.client("qiantai")
    photo = io.BytesIO()
    scan_image(41).save(photo, format="JPEG", quality=90)
    form = clerk.get("/upload")
    assert form.status_code == 200 and 'type="file"' in form.text
    sent = clerk.post("/upload", data={"unit": "7栋1单元701", "estate": "锦绣花园",
                                       "csrf_token": clerk.cookies.get("dangan_csrf")},
                      files={"file": ("手机拍照.jpg", photo.getvalue(), "image/jpeg")}, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    job_id = sent.headers["location"].rsplit("/", 1)[1]
    job = site.app.state.service.uploads.wait(job_id, timeout=600)
    assert job.state == "done" and job.outcome == "stored", job
    status = clerk.get(f"/upload/{job_id}")
    assert "已入库" in status.text and job.documents[0]["id"] in status.text
    found = clerk.get("/api/search", params={"q": "7-1-701"}).json()
    assert [d["id"] for g in found["groups"] for d in g["documents"]] == [job.documents[0]["id"]]
    folder = site.archive.home / "uploads" / job_id
    assert (folder.stat().st_mode & 0o077) == 0 and not (folder / "inbox").exists()  # no plain copy left
    assert site.client("shenji").get(f"/upload/{job_id}").status_code == 403  # another user's upload
    wrong = clerk.post("/upload", data={"unit": "nowhere", "csrf_token": clerk.cookies.get("dangan_csrf")},
                       files={"file": ("a.jpg", photo.getvalue(), "image/jpeg")})
    assert wrong.status_code == 400 and "building-unit-room" in wrong.text


def test_an_upload_of_a_file_that_is_not_a_scan_is_refused(site: Site) -> None:
    clerk = site.client("qiantai")
    sent = clerk.post("/api/uploads", data={"unit": "3-2-1201"}, files={"file": ("notes.txt", b"hello", "text/plain")},
                      headers={"X-CSRF-Token": clerk.cookies.get("dangan_csrf")})
    assert sent.status_code == 400 and "PDF, TIFF" in sent.json()["message"]
    auditor = site.client("shenji")
    refused = auditor.post("/api/uploads", data={"unit": "3-2-1201"}, files={"file": ("a.jpg", b"x", "image/jpeg")},
                           headers={"X-CSRF-Token": auditor.cookies.get("dangan_csrf")})
    assert refused.status_code == 403 and refused.json()["error"] == "access_denied"


# --------------------------------------------------------------------------- scripts


def test_a_script_token_works_and_the_audit_names_its_user(site: Site) -> None:
    token = site.app.state.users.create_token("shenji")
    script = site.client()
    headers = {"Authorization": f"Bearer {token}"}
    me = script.get("/api/me", headers=headers).json()
    assert me["name"] == "shenji" and me["via"] == "token" and "view_audit" in me["may"]
    entries = script.get("/api/audit", params={"limit": 5}, headers=headers)
    assert entries.status_code == 200 and len(entries.json()) == 5
    assert script.get("/api/export", headers=headers).status_code == 403

