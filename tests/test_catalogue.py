"""档案目录 and folder labels: real archives (SQLite and PostgreSQL), the PDFs read back with poppler.

Archives in several estates, buildings, units and rooms are filed through the
archive's own API (``Vault.store_file``); the catalogue and the labels are
printed through ``dangan catalogue`` / ``dangan labels`` (a real subprocess and
``flows.cli.main``) and the service's API, then checked with ``pdfinfo``
(A4, page count), ``pdffonts`` (every font embedded, with a ToUnicode map) and
``pdftotext -layout`` (the Chinese text, the cabinet order, the missing
papers, no name, ID number or phone). The end-to-end test at the bottom prints
the catalogue of an archive made by the real ``dangan ingest``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import update

from flows import cli
from ocr import coversheet_print
from ocr.coversheet import CoverSheet, classify_sheet
from ocr.coversheet_print import order_sheets
from rules import printing
from rules.catalogue import ArchiveCatalogue, cabinet_key
from schemas.errors import ExitCode
from schemas.models import Extraction, FieldValue, FileKind, OcrLine, OcrPage, SourceFile, UnitRef
from schemas.settings import Settings
from storage.tables import ArchiveRow
from storage.vault import Vault
from tests.e2e import ensure_master_key, run_dangan
from tests.pgdb import fresh_database
from web.access import PERMISSIONS, Action, Role
from web.app import create_app
from web.users import Users

PASSWORD = "a long test password"
USERS = {Role.LEADERSHIP: "lingdao", Role.ARCHIVE_MANAGER: "guanliyuan", Role.CLERK: "qiantai",
         Role.AUDITOR: "shenji", Role.EXTERNAL_AUTHORITY: "jingcha", Role.OWNER: "yezhu"}
JX, CQ, YG = "锦绣花园", "长青苑", "阳光小区"
OWNER_NAME, OWNER_ID, OWNER_PHONE = "王伟", "11010119900307123X", "13812345678"
REQUIRED = ("owner_registration", "id_card", "purchase_contract", "move_in_notice", "handover_form",
            "fire_safety_agreement", "commitment_letter")
#: The cabinet order of the active archives filed below (estate, building, unit, room; natural order).
CABINET = [(JX, "2-1-201"), (JX, "2-1-1201"), (JX, "2-1-B101"), (JX, "2-2-301"), (JX, "2-10-301"),
           (JX, "10-1-201"), (YG, "1-1-101")]
#: An archive of many documents: its catalogue runs over two pages.
LONG = (CQ, "1-1-1")
LONG_DOCS = 41


# --------------------------------------------------------------------------- the order, the font


def _cat(estate: str | None, ref: str, status: str = "active") -> ArchiveCatalogue:
    b, u, r = ref.split("-")
    return ArchiveCatalogue(archive_id=ref, estate=estate, building=b, unit=u, room=r, status=status,
                            opened_on="2024-01-01", entries=())


def test_cabinet_order_is_natural_and_the_cover_sheets_order() -> None:
    shuffled = [(YG, "1-1-101"), (JX, "10-1-201"), (JX, "2-1-B101"), (JX, "2-10-301"), (JX, "2-1-1201"),
                (JX, "2-2-301"), (JX, "2-1-201")]
    ordered = sorted((_cat(e, r) for e, r in shuffled), key=cabinet_key)
    assert [(a.estate, a.unit_ref) for a in ordered] == CABINET
    # The cabinet's cover sheets come out in the same order.
    sheets = order_sheets(CoverSheet(estate=e, building=r.split("-")[0], unit=r.split("-")[1], room=r.split("-")[2],
                                     batch="T1") for e, r in shuffled)
    assert [(s.estate, str(s.unit_ref)) for s in sheets] == CABINET
    # A former owner's archive comes right after the unit's archive in use.
    former = _cat(JX, "2-1-1201", "set_aside")
    assert sorted([former, *ordered], key=cabinet_key).index(former) == 2


def test_no_truetype_chinese_font_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    from ocr.coversheet_print import FontsMissing

    noto = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
    if noto.is_file():  # Noto CJK holds PostScript outlines: reportlab cannot embed them
        with pytest.raises(TTFError):
            TTFont("NotoTry", str(noto), subfontIndex=2)
    monkeypatch.setattr(printing, "_PREFERRED", ((str(noto), 2),))
    monkeypatch.setattr(coversheet_print, "listed_fonts", lambda: [noto, Path("/nonexistent/wqy-zenhei.ttc")])
    printing.cjk_font.cache_clear()
    try:
        with pytest.raises(FontsMissing, match="fonts-wqy-zenhei"):
            printing.render_pdf("x", lambda c: 0)
    finally:
        printing.cjk_font.cache_clear()


# --------------------------------------------------------------------------- a real archive


@dataclass
class Archive:
    home: Path
    db_url: str | None
    work: Path
    #: Archive ids by (estate, unit ref, status).
    ids: dict[tuple[str, str, str], str]

    @property
    def settings(self) -> Settings:
        return Settings(home=self.home, db_url=self.db_url)

    @property
    def env(self) -> dict[str, str]:
        env = {"DANGAN_HOME": str(self.home)}
        if self.db_url:
            env["DANGAN_DB_URL"] = self.db_url
        return env


def _field(name: str, value: str, issue: str | None = None) -> FieldValue:
    return FieldValue(name=name, value=value, confidence=0.5 if issue else 0.99, valid=issue is None, issue=issue)


def _store(vault: Vault, folder: Path, unit: UnitRef, doc_type: str, fields: dict[str, FieldValue] | None = None,
           *, copies: int = 1) -> list[str]:
    """Archive one file of ``copies`` one-page documents of ``doc_type`` under ``unit`` (with its estate); their ids."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{os.urandom(6).hex()}.pdf"
    path.write_bytes(b"%PDF-1.4\n" + os.urandom(400))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    source = SourceFile(path=path, name=path.name, size=path.stat().st_size, sha256=sha, kind=FileKind.PDF,
                        page_count=copies)
    line = OcrLine(text="物业管理", box=(100, 100, 900, 160), confidence=0.9)
    pages = [OcrPage(index=n, engine="rapidocr", width=2480, height=3508, lines=(line,)) for n in range(copies)]
    extractions = [Extraction(doc_type=doc_type, doc_type_confidence=0.9, page_indices=(n,), fields=fields or {})
                   for n in range(copies)]
    return vault.store_file(source=source, pages=pages, documents=extractions, run_id=vault.begin_run(), unit=unit)


def _unit(estate: str, ref: str) -> UnitRef:
    b, u, r = ref.split("-")
    return UnitRef(estate=estate, building=b, unit=u, room=r)


def _make_archive(root: Path, db_url: str | None) -> Archive:
    home = root / "home"
    ensure_master_key({"DANGAN_HOME": str(home)})
    scans = root / "scans"
    settings = Settings(home=home, db_url=db_url)
    with closing(Vault.open(settings)) as vault:
        # 2-1-201: everything but the fire-safety agreement; the owner's name, ID number and phone are read;
        # the ID card copy waits for review.
        unit = _unit(JX, "2-1-201")
        _store(vault, scans, unit, "owner_registration", {
            "owner_name": _field("owner_name", OWNER_NAME), "id_number": _field("id_number", OWNER_ID),
            "phone": _field("phone", OWNER_PHONE), "move_in_date": _field("move_in_date", "2020-01-02")})
        _store(vault, scans, unit, "id_card", {"name": _field("name", OWNER_NAME),
                                               "id_number": _field("id_number", OWNER_ID, "bad check digit"),
                                               "birth_date": _field("birth_date", "1990-03-07")})
        _store(vault, scans, unit, "purchase_contract", {"signing_date": _field("signing_date", "2019-11-30"),
                                                         "buyer_name": _field("buyer_name", OWNER_NAME)})
        for doc_type in ("move_in_notice", "handover_form", "commitment_letter"):
            _store(vault, scans, unit, doc_type)
        # 2-1-1201: a former owner's archive, set aside (as an owner change does), and the new owner's.
        _store(vault, scans, _unit(JX, "2-1-1201"), "owner_registration")
        _store(vault, scans, _unit(JX, "2-1-1201"), "purchase_contract")
        with vault.index.write_engine.begin() as c:
            c.execute(update(ArchiveRow).where(ArchiveRow.room == "1201").values(
                status="set_aside", closed_at=dt.datetime(2025, 3, 1, 2, tzinfo=dt.UTC)))
        for estate, ref in CABINET[1:]:
            for doc_type in REQUIRED if ref == "10-1-201" else ("owner_registration",):
                _store(vault, scans, _unit(estate, ref), doc_type)
        _store(vault, scans, _unit(*LONG), "other", copies=LONG_DOCS)
        with vault.index.engine.connect() as c:
            ids = {(r.estate, f"{r.building}-{r.unit}-{r.room}", r.status): r.id
                   for r in c.execute(ArchiveRow.__table__.select())}
        users = Users.of_index(vault.index)
        for role, name in USERS.items():
            users.add(name, role, PASSWORD, unit=_unit(JX, "2-1-201") if role is Role.OWNER else None)
    work = root / "work"
    work.mkdir()
    return Archive(home=home, db_url=db_url, work=work, ids=ids)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def archive(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """The archive on SQLite, and on PostgreSQL (127.0.0.1:5432); the tests only add audit events to it."""
    root = tmp_path_factory.mktemp("catalogue")
    if request.param == "sqlite":
        yield _make_archive(root, None)
        return
    with fresh_database() as db_url:
        yield _make_archive(root, db_url)


# --------------------------------------------------------------------------- reading PDFs back


def _poppler(*args: str) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=True, timeout=60).stdout


@dataclass(frozen=True)
class Pdf:
    pages: list[str]  # pdftotext -layout, one string per page
    info: str
    fonts: str

    @property
    def text(self) -> str:
        return "\n".join(self.pages)


def read_pdf(path: Path) -> Pdf:
    """Read a PDF back with poppler, checking what every printout must be: A4, fonts embedded with ToUnicode."""
    info = _poppler("pdfinfo", str(path))
    assert re.search(r"Page size:\s+595\.\d* x 841\.\d* pts \(A4\)", info), info
    fonts = _poppler("pdffonts", str(path))
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows, fonts
    for row in rows:  # name type encoding emb sub uni object ID: every font embedded, subset, with ToUnicode
        assert row[-5:-2] == ["yes", "yes", "yes"], fonts
    pages = _poppler("pdftotext", "-layout", str(path), "-").split("\f")
    count = int(re.search(r"Pages:\s+(\d+)", info).group(1))  # type: ignore[union-attr]
    assert len([p for p in pages if p.strip()]) == count
    text = "\n".join(pages)
    # Nothing personal: no name, no ID number (no run of 15+ digits), no phone.
    assert OWNER_NAME not in text and "周敏" not in text
    assert not re.search(r"\d{15,}|\d{17}[\dX]", text.replace(" ", "")), text
    assert not re.search(r"1[3-9]\d{9}", text.replace(" ", "")), text
    return Pdf(pages=pages[:count], info=info, fonts=fonts)


def _flat(text: str) -> str:
    """``text`` without white space (pdftotext keeps or drops the narrow spaces between Chinese words)."""
    return re.sub(r"\s+", "", text)


def _refs(text: str) -> list[str]:
    """The units written ``B-U-R`` in ``text``, in reading order (dates left out)."""
    return [m for m in re.findall(r"(?<![\w-])(\d+-\d+-[0-9A-Z]+)(?![\w-])", text)
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", m)]


def _big_refs(pdf: Pdf) -> list[str]:
    """The unit printed in large type on each catalogue page (beside 楼栋 / 单元 / 房号)."""
    refs = []
    for page in pdf.pages:
        found = re.search(r"房号：\S+\s+(\S+)", page)
        assert found, page
        refs.append(found.group(1))
    return refs


def _audit(archive: Archive, after: int = 0) -> list[tuple[str, str, str]]:
    """(actor, action, outcome) of the audit events after id ``after``."""
    with closing(Vault.open(archive.settings)) as vault:
        return [(e.actor, e.action, str((e.detail or {}).get("outcome"))) for e in
                reversed(vault.index.audit_entries(limit=500)) if e.id > after]


def _last_id(archive: Archive) -> int:
    with closing(Vault.open(archive.settings)) as vault:
        entries = vault.index.audit_entries(limit=1)
    return entries[0].id if entries else 0


@pytest.fixture
def as_user(archive: Archive, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``dangan ARGS`` in this process as the user of a role: (exit code, stdout, stderr)."""
    for name in list(os.environ):
        if name.startswith("DANGAN_"):
            monkeypatch.delenv(name)
    for key, value in archive.env.items():
        monkeypatch.setenv(key, value)

    def run(role: Role, argv: list[str]) -> tuple[int, str, str]:
        monkeypatch.setenv("DANGAN_USER", USERS[role])
        monkeypatch.setenv("DANGAN_PASSWORD", PASSWORD)
        capsys.readouterr()
        code = cli.main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run


# --------------------------------------------------------------------------- through the command line


def test_catalogue_of_every_archive_through_the_cli(archive: Archive) -> None:
    out = archive.work / "目录.pdf"
    env = {**archive.env, "DANGAN_USER": USERS[Role.CLERK], "DANGAN_PASSWORD": PASSWORD}
    before = _last_id(archive)
    result = run_dangan(["catalogue", "--out", str(out)], env)
    assert result.code == 0, result.stderr
    assert "catalogue of 8 archive(s), 9 A4 page(s)" in result.stdout
    pdf = read_pdf(out)
    assert _big_refs(pdf) == [ref for _, ref in CABINET[:6]] + ["1-1-1", "1-1-1", "1-1-101"]
    first = pdf.pages[0]
    assert "档案目录" in first and "小区：锦绣花园" in first
    assert re.search(r"楼栋：2\s+单元：1\s+房号：201", first)
    assert "档案状态：在用" in first and "第1页/共1页" in _flat(first)
    for heading in ("序号", "文件名称", "份数/页数", "归档日期", "状态", "备注"):
        assert heading in first
    # One row per document, in the checklist's order, the ID copy waiting for review.
    rows = [line for line in first.splitlines() if re.match(r"\s*\d+\s+\S", line) and re.search(r"1\s*/\s*1", line)]
    labels = [re.match(r"\s*\d+\s+(\S+)", r).group(1) for r in rows]  # type: ignore[union-attr]
    assert labels == ["业主入住登记表", "居民身份证复印件", "商品房买卖合同", "入住通知书", "房屋交接验收表", "承诺书"]
    assert "待复核" in rows[1] and "待复核" not in rows[0]
    assert "入住日期2020-01-02" in _flat(rows[0]) and "签订日期2019-11-30" in _flat(rows[2])
    assert "1990-03-07" not in first  # a birth date is personal: never a remark
    assert "缺少以下材料：消防安全协议书" in first
    assert "材料齐全" in pdf.pages[5]  # 10-1-201 holds every paper
    assert "set_aside" not in pdf.text and "已封存" not in pdf.text  # former owners' archives only when asked
    assert _audit(archive, before)[-1] == (USERS[Role.CLERK], "print_catalogue", "done")


def test_one_unit_with_its_former_owners_archive(archive: Archive, as_user) -> None:
    out = archive.work / "2-1-1201.pdf"
    code, _, err = as_user(Role.ARCHIVE_MANAGER, ["catalogue", "2-1-1201", "--estate", JX,
                                                   "--include-set-aside", "-o", str(out)])
    assert code == 0, err
    pdf = read_pdf(out)
    assert len(pdf.pages) == 2 and _big_refs(pdf) == ["2-1-1201", "2-1-1201"]
    assert "档案状态：在用" in pdf.pages[0]
    assert "档案状态：已封存（原业主档案）" in pdf.pages[1] and "封存日期：2025-03-01" in pdf.pages[1]
    assert "原业主档案已封存，不再补齐材料" in pdf.pages[1]
    # A building's unit (单元) alone.
    code, _, err = as_user(Role.LEADERSHIP, ["catalogue", "--estate", JX, "--building", "2", "--unit-no", "1",
                                              "-o", str(out)])
    assert code == 0, err
    assert _big_refs(read_pdf(out)) == ["2-1-201", "2-1-1201", "2-1-B101"]
    code, _, err = as_user(Role.CLERK, ["catalogue", "9-9-909", "-o", str(out)])
    assert code == ExitCode.NOT_FOUND and "No archive to print" in err


def test_a_long_archive_runs_over_pages_numbered_per_archive(archive: Archive, as_user) -> None:
    out = archive.work / "long.pdf"
    code, _, err = as_user(Role.CLERK, ["catalogue", "--estate", CQ, "-o", str(out)])
    assert code == 0, err
    pdf = read_pdf(out)
    assert len(pdf.pages) == 2
    assert "第1页/共2页" in _flat(pdf.pages[0]) and "第2页/共2页" in _flat(pdf.pages[1])
    assert "档案目录（续）" in pdf.pages[1] and _big_refs(pdf) == ["1-1-1", "1-1-1"]
    numbers = [int(m) for page in pdf.pages for m in re.findall(r"^\s*(\d+)\s+其他", page, re.M)]
    assert numbers == list(range(1, LONG_DOCS + 1))
    assert "缺少以下材料" in pdf.pages[1] and "缺少以下材料" not in pdf.pages[0]


def test_labels_through_the_cli(archive: Archive, as_user, tmp_path: Path) -> None:
    out = archive.work / "labels.pdf"
    code, stdout, err = as_user(Role.CLERK, ["labels", "--include-set-aside", "--out", str(out)])
    assert code == 0, err
    assert "label sheet(s) of 9 archive(s), 1 A4 page(s)" in stdout
    pdf = read_pdf(out)
    text = pdf.pages[0]
    assert "90×50毫米" in _flat(text)
    # Two labels a row, in cabinet order: the unit in large type as the cover sheet prints it.
    assert _refs(text) == ["2-1-201", "2-1-1201", "2-1-1201", "2-1-B101", "2-2-301", "2-10-301", "10-1-201",
                           "1-1-1", "1-1-101"]
    assert _flat(text).count("已封存·原业主档案") == 1 and "封存2025-03-01" in _flat(text)
    assert "楼栋2单元1房号201" in _flat(text) and "建档" in text
    assert text.count(JX) == 7 and text.count(CQ) == 1 and text.count(YG) == 1
    # A label sheet is never read as a cabinet cover sheet when a folder is scanned with it.
    png = tmp_path / "labels"
    subprocess.run(["pdftoppm", "-r", "200", "-gray", "-png", str(out), str(png)], check=True, timeout=60)
    (page,) = tmp_path.glob("labels*.png")
    assert classify_sheet(np.asarray(Image.open(page).convert("L"))) is None


def test_who_may_print(archive: Archive, as_user) -> None:
    who_may = {r for r in Role if Action.PRINT_CATALOGUE in PERMISSIONS[r]}
    assert who_may == {Role.LEADERSHIP, Role.ARCHIVE_MANAGER, Role.CLERK, Role.LOCAL_OPERATOR}
    out = archive.work / "refused.pdf"
    for role, command in ((Role.EXTERNAL_AUTHORITY, "catalogue"), (Role.EXTERNAL_AUTHORITY, "labels"),
                          (Role.OWNER, "catalogue"), (Role.AUDITOR, "labels")):
        before = _last_id(archive)
        code, _, err = as_user(role, [command, "-o", str(out)])
        assert code == ExitCode.ACCESS_DENIED, err
        assert f"{USERS[role]} ({role}) may not print archive catalogues" in err
        assert _audit(archive, before) == [(USERS[role], "print_catalogue", "refused")]
    assert not out.exists()


# --------------------------------------------------------------------------- through the API


@pytest.fixture
def api(archive: Archive) -> Iterator[tuple[TestClient, dict[Role, str]]]:
    app = create_app(archive.settings)
    with TestClient(app, base_url="http://testserver") as client:
        tokens = {role: app.state.users.create_token(name) for role, name in USERS.items()}
        yield client, tokens


def test_catalogue_and_labels_through_the_api(archive: Archive, api) -> None:
    client, tokens = api

    def get(role: Role, path: str) -> object:
        return client.get(path, headers={"Authorization": f"Bearer {tokens[role]}"})

    before = _last_id(archive)
    answer = get(Role.CLERK, f"/api/catalogue.pdf?estate={JX}&building=2")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf" and answer.headers["x-archives"] == "5"
    path = archive.work / "api.pdf"
    path.write_bytes(answer.content)
    assert _big_refs(read_pdf(path)) == ["2-1-201", "2-1-1201", "2-1-B101", "2-2-301", "2-10-301"]

    former = archive.ids[(JX, "2-1-1201", "set_aside")]
    answer = get(Role.LEADERSHIP, f"/api/archives/{former}/catalogue.pdf")
    assert answer.status_code == 200
    path.write_bytes(answer.content)
    (page,) = read_pdf(path).pages
    assert "已封存（原业主档案）" in page and "业主入住登记表" in page and "商品房买卖合同" in page

    answer = get(Role.ARCHIVE_MANAGER, "/api/labels.pdf?unit_ref=2-1-201")
    assert answer.status_code == 200 and answer.headers["x-archives"] == "1"
    path.write_bytes(answer.content)
    assert "2-1-201" in read_pdf(path).pages[0]
    assert get(Role.CLERK, "/api/archives/no-such-archive/labels.pdf").status_code == 404
    assert get(Role.CLERK, "/api/catalogue.pdf?estate=").status_code == 404  # "": archives of no estate (none here)

    prints = [a for a in _audit(archive, before) if a[1].startswith("print_")]
    assert prints == [(USERS[Role.CLERK], "print_catalogue", "done"), (USERS[Role.LEADERSHIP], "print_catalogue",
                                                                      "done"),
                      (USERS[Role.ARCHIVE_MANAGER], "print_labels", "done")]

    # Police and courts never print; the refusal is audited.
    for url in ("/api/catalogue.pdf", f"/api/archives/{former}/catalogue.pdf", "/api/labels.pdf"):
        before = _last_id(archive)
        refused = get(Role.EXTERNAL_AUTHORITY, url)
        assert refused.status_code == 403 and refused.json()["error"] == "access_denied"
        assert _audit(archive, before) == [(USERS[Role.EXTERNAL_AUTHORITY], "print_catalogue", "refused")]


def test_the_browse_page_links_to_the_printouts(archive: Archive, api) -> None:
    client, tokens = api
    url = f"/browse?estate={JX}&building=2&unit=1"
    page = client.get(url, headers={"Authorization": f"Bearer {tokens[Role.CLERK]}"})
    assert page.status_code == 200
    assert "/api/catalogue.pdf?estate=%E9%94%A6%E7%BB%A3%E8%8A%B1%E5%9B%AD&amp;building=2&amp;unit=1" in page.text
    assert f"/api/archives/{archive.ids[(JX, '2-1-201', 'active')]}/labels.pdf" in page.text
    page = client.get(url, headers={"Authorization": f"Bearer {tokens[Role.EXTERNAL_AUTHORITY]}"})
    assert page.status_code == 200 and "catalogue.pdf" not in page.text


# --------------------------------------------------------------------------- end to end, real ingest


@pytest.mark.slow  # one real ingest of three scans: about two minutes on a busy machine
@pytest.mark.integration
def test_catalogue_of_an_ingested_archive(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    from tests.webarchive import copy_archive, template_archive

    web = copy_archive(template_archive(tmp_path_factory), tmp_path)
    out = tmp_path / "目录.pdf"
    result = run_dangan(["catalogue", "--out", str(out)], web.env)
    assert result.code == 0, result.stderr
    pdf = read_pdf(out)
    assert _big_refs(pdf) == ["3-2-1201", "5-1-502"]
    first = pdf.pages[0]
    assert "小区：锦绣花园" in first and "业主入住登记表" in first and "消防安全协议书" in first
    registration = next(line for line in first.splitlines() if "业主入住登记表" in line)
    assert "待复核" in registration  # its ID number was misprinted
    assert "缺少以下材料：居民身份证复印件、商品房买卖合同" in first.replace("\n", "")
    assert web.owner not in pdf.text and web.other_owner not in pdf.text
    assert web.owner_id[-6:] not in pdf.text.replace(" ", "")
    labels = tmp_path / "labels.pdf"
    assert run_dangan(["labels", "--out", str(labels)], web.env).code == 0
    assert _refs(read_pdf(labels).pages[0]) == ["3-2-1201", "5-1-502"]
