"""The archive service in a real browser: Debian's chromium, headless, driven by Playwright.

``dangan serve`` runs as a child process on a free port over a copy of the
test archive (real scans through the real ingest, ``tests/webarchive.py``).
People of several roles sign in and use the pages as they would: search a
two-character name, be refused a document without a loan and request one on
the page, approve it as an archive manager, open the document with a purpose
and see the watermark, correct a flagged value and find the document by it,
fail to download as a clerk, fail to open another owner's archive as an owner. Screenshots of each
step are saved under the test's temporary folder.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from schemas.settings import Settings
from schemas.validators import parse_unit_ref
from storage.vault import Vault
from tests.e2e import DANGAN
from tests.webarchive import UNIT, WebArchive, copy_archive, template_archive
from web.users import Users

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "a long test password"
USERS = {"qiantai": ("clerk", None), "guanli": ("archive_manager", None), "yezhu": ("owner", UNIT)}

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists() or shutil.which("chromium") is None,
                       reason="Debian's chromium is not installed (bootstrap.sh installs it)"),
]


def _free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, WebArchive]]:
    """``dangan serve`` over a copy of the test archive with a clerk, a manager and an owner; its base URL."""
    archive = copy_archive(template_archive(tmp_path_factory), tmp_path_factory.mktemp("browser"))
    with closing(Vault.open(Settings(home=archive.home))) as vault:
        users = Users.of_index(vault.index)
        for name, (role, unit) in USERS.items():
            users.add(name, role, PASSWORD, unit=parse_unit_ref(unit) if unit else None)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANGAN_")} | archive.env
    log = (archive.home.parent / "serve.log").open("wb")
    server = subprocess.Popen([str(DANGAN), "serve", "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("dangan serve did not start: "
                                         + (archive.home.parent / "serve.log").read_text()) from None
                time.sleep(0.2)
        yield base, archive
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # No sandbox: the tests may run as root in a container, where chromium's sandbox cannot start.
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _page(browser: object, base: str, name: str, requests: list[str] | None = None) -> object:
    """A new browser context (its own cookies) signed in as ``name`` through the login page.

    With ``requests``, the address of every request the context makes is added to it.
    """
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, locale="zh-CN")  # type: ignore[attr-defined]
    if requests is not None:
        context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.goto(f"{base}/search")
    assert "/login" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/search")
    return page


def _wait_for_images(page: object, selector: str) -> None:
    """Wait until every image matching ``selector`` has loaded (polled: the pages' CSP forbids eval)."""
    script = "(s) => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)"
    deadline = time.monotonic() + 30
    while not page.evaluate(script, selector):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"{selector} did not load"
        time.sleep(0.1)


def _red_share(png: bytes) -> tuple[float, float]:
    """Share of reddish pixels in the band below the page and in the page's top half (the watermark)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)
    height, width = pixels.shape[:2]
    band = pixels[height - max(24, round(width * 0.03)):]
    in_band = ((band[..., 0] > 120) & (band[..., 1] < 90) & (band[..., 2] < 90)).mean()
    tint = ((pixels[: height // 2, ..., 0] - pixels[: height // 2, ..., 1]) > 25).mean()
    return float(in_band), float(tint)


def test_find_view_correct_and_refusals_in_a_browser(served: tuple[str, WebArchive], browser: object,
                                                     tmp_path: Path) -> None:
    base, archive = served

    # A clerk searches a two-character name and opens the registration form with a purpose.
    clerk = _page(browser, base, "qiantai")
    clerk.fill("input[name=q]", archive.owner)
    clerk.click(".searchbar button")
    clerk.wait_for_selector("article.group")
    assert clerk.locator("mark", has_text=archive.owner).count() >= 1
    assert archive.misprinted_id not in clerk.content()
    # Each hit shows an excerpt of its text, the name marked in it, the ID number masked.
    excerpts = clerk.locator("p.excerpt")
    assert excerpts.count() == 2
    for i in range(2):
        marked = excerpts.nth(i).locator("mark")
        assert marked.first.inner_text() == archive.owner and marked.first.is_visible()
        background = marked.first.evaluate("m => getComputedStyle(m).backgroundColor")
        assert background not in ("rgba(0, 0, 0, 0)", "transparent"), background
    assert f"{archive.misprinted_id[:6]}********{archive.misprinted_id[-4:]}" in excerpts.all_inner_texts()[
        ["身份证号码" in t for t in excerpts.all_inner_texts()].index(True)]
    clerk.screenshot(path=str(tmp_path / "1-search.png"), full_page=True)
    # 周敏's registration form waits for review (a misprinted ID number): the manager corrects it below.
    doc_id = clerk.get_attribute("a.doc-link:has-text('业主入住登记表')", "href").split("/documents/")[1]

    # A reviewed document of another archive: the clerk is refused without a loan and requests one on the page.
    clerk.fill("input[name=q]", archive.other_owner)
    clerk.click(".searchbar button")
    clerk.wait_for_selector("article.group a.borrow")
    clerk.click("a.doc-link:has-text('业主入住登记表')")
    clerk.wait_for_selector("form.purpose")
    clerk.screenshot(path=str(tmp_path / "2-purpose.png"))
    clerk.check("input[value='业务办理']")
    clerk.click("form.purpose button[type=submit]")
    clerk.wait_for_selector("form.loan-request")
    doc_url = clerk.url
    other_id = doc_url.split("/documents/")[1].split("?")[0]
    assert "需要借阅" in clerk.content() and "no approved loan of archive 锦绣花园 5-1-502" in clerk.content()
    assert clerk.input_value("form.loan-request input[name=purpose]") == "业务办理"
    clerk.screenshot(path=str(tmp_path / "3-loan-needed.png"))
    clerk.click("form.loan-request button[type=submit]")
    clerk.wait_for_selector("p.notice")
    assert "已提交借阅申请" in clerk.inner_text("p.notice")
    assert clerk.locator("section.mine tr.loan[data-state='requested']").count() == 1
    clerk.screenshot(path=str(tmp_path / "3b-loan-requested.png"), full_page=True)

    # An archive manager approves it on the 借阅 page (until the end of the day).
    manager = _page(browser, base, "guanli")
    manager.click("header nav a:has-text('借阅')")
    row = manager.locator("section.register tr.loan[data-state='requested']")
    assert row.count() == 1 and "qiantai" in row.inner_text() and "业务办理" in row.inner_text()
    manager.screenshot(path=str(tmp_path / "4-loan-to-approve.png"), full_page=True)
    row.locator("form.approve button[type=submit]").click()
    manager.wait_for_selector("p.notice")
    assert manager.locator("section.register tr.loan[data-state='active']").count() == 1

    # Now the clerk opens it: the pages drawn with the watermark, the fields beside them.
    clerk.goto(doc_url)
    clerk.wait_for_selector("img.page-image")
    _wait_for_images(clerk, "img.page-image")
    assert clerk.locator(".box[data-field='owner_name']").count() == 1
    assert clerk.locator("text=下载原件").count() == 0
    clerk.screenshot(path=str(tmp_path / "5-document.png"), full_page=True)
    image = clerk.request.get(base + clerk.get_attribute("img.page-image", "src"))
    in_band, tint = _red_share(image.body())
    assert in_band > 0.002 and tint > 0.01, (in_band, tint)

    # The clerk may not download the original, even by typing its address.
    refused = clerk.goto(f"{base}/documents/{other_id}/original?purpose=业务办理")
    assert refused is not None and refused.status == 403
    assert "无权操作" in clerk.content()
    clerk.screenshot(path=str(tmp_path / "6-download-refused.png"))

    # An archive manager corrects the flagged ID number; search finds the document by it at once.
    manager.goto(f"{base}/review")
    manager.click(f"a[href='/review/{doc_id}']")
    item = manager.locator("section.review-item[data-field='id_number']")
    item.locator("img.crop").wait_for()
    _wait_for_images(manager, "img.crop")
    manager.screenshot(path=str(tmp_path / "7-review.png"), full_page=True)
    item.locator("input[name=value]").fill(archive.owner_id)
    item.locator("button[value=correct]").click()
    manager.wait_for_selector("p.notice")
    manager.goto(f"{base}/search")
    manager.fill("input[name=q]", archive.owner_id)
    manager.click(".searchbar button")
    manager.wait_for_selector("article.group")
    assert manager.locator(f"a.doc-link[href='/documents/{doc_id}']").count() == 1
    manager.screenshot(path=str(tmp_path / "8-found-by-correction.png"), full_page=True)

    # The unit archive as a record: its current owner and the people its documents name, masked until
    # the manager asks for the full values (audited), with the catalogue and labels of the unit to print.
    archive_id = manager.evaluate("""async (number) => (await (await fetch(
        '/api/search?q=' + encodeURIComponent(number))).json()).groups[0].archive_id""", archive.owner_id)
    assert archive_id, "the document is filed in no archive"
    manager.goto(f"{base}/archives/{archive_id}")
    manager.wait_for_selector("section.archive-record table.people")
    assert manager.locator("ul.owners li.owner").count() >= 1
    assert manager.locator("table.people tr.person").count() >= 1
    assert archive.owner_id not in manager.content()
    manager.screenshot(path=str(tmp_path / "8b-archive.png"), full_page=True)
    manager.click("a:has-text('显示完整信息')")
    manager.wait_for_selector("section.archive-record table.people")
    assert archive.owner_id in manager.inner_text("section.archive-record")
    catalogue = manager.request.get(f"{base}/api/archives/{archive_id}/catalogue.pdf")
    assert catalogue.status == 200 and catalogue.body().startswith(b"%PDF")

    # An owner sees their own unit and may not open another owner's archive.
    owner = _page(browser, base, "yezhu")
    owner.fill("input[name=q]", archive.other_owner)
    owner.click(".searchbar button")
    owner.wait_for_selector("p.summary")
    assert "共找到 0 份文件" in owner.inner_text("p.summary")
    other = manager.evaluate("""async (name) => {
        const r = await fetch('/api/search?q=' + encodeURIComponent(name));
        return (await r.json()).groups[0].documents[0].id; }""", archive.other_owner)
    answer = owner.goto(f"{base}/documents/{other}?purpose=业主查询")
    assert answer is not None and answer.status == 403
    assert "无权操作" in owner.content() and "own unit" in owner.content()
    owner.screenshot(path=str(tmp_path / "9-owner-refused.png"))
    image_answer = owner.request.get(f"{base}/api/documents/{other}/pages/0.png?purpose=业主查询")
    assert image_answer.status == 403


def test_the_pages_and_the_api_docs_load_nothing_from_elsewhere(served: tuple[str, WebArchive], browser: object,
                                                                 tmp_path: Path) -> None:
    """Swagger UI at /docs comes from the service itself, runs under the pages' CSP and lists the API."""
    base, archive = served
    requests: list[str] = []
    clerk = _page(browser, base, "qiantai", requests)
    clerk.set_default_timeout(90_000)  # Swagger UI's script is large for a loaded test machine
    refused: list[str] = []
    clerk.on("console", lambda message: refused.append(message.text) if message.type == "error" else None)
    clerk.goto(f"{base}/search?q={archive.owner}")
    clerk.wait_for_selector("p.excerpt mark")
    clerk.goto(f"{base}/docs")
    clerk.wait_for_selector(".swagger-ui .opblock-summary-path")
    paths = clerk.locator(".swagger-ui .opblock-summary-path").all_inner_texts()
    assert "/api/search" in [p.replace("\u200b", "") for p in paths] and len(paths) >= 10
    assert "dangan 档案服务" in clerk.inner_text(".swagger-ui .info .title")
    clerk.screenshot(path=str(tmp_path / "docs.png"), full_page=False)

    # Try a call from the page: it goes to this service, with the session.
    clerk.locator(".opblock-summary-path", has_text="/api/me").first.click()
    clerk.click(".opblock.is-open button.try-out__btn")
    clerk.click(".opblock.is-open button.execute")
    answer = clerk.locator(".opblock.is-open .live-responses-table", has_text="qiantai")
    answer.wait_for()
    assert answer.locator("tr.response .response-col_status").first.inner_text().strip() == "200"

    outside = [url for url in requests if not url.startswith((base + "/", "data:"))]
    assert not outside, outside
    assert any(url.startswith(f"{base}/docs/assets/swagger-ui-bundle.js") for url in requests)
    assert not [m for m in refused if "Content Security Policy" in m], refused
