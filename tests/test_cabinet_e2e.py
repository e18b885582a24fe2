"""A cabinet batch scan through the real ``dangan ingest``: cut at its cover sheets, filed under their units."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from PIL import Image

from ocr.coversheet_print import render_cover_sheet, sheet_for_unit
from schemas.documents import DocType
from tests.e2e import run_dangan
from tests.synth.render import FontBook, render_document
from tests.synth.templates import make_document

pytestmark = pytest.mark.integration

DPI = 200


def _page(doc_type: DocType, seed: int, fonts: FontBook) -> Image.Image:
    return render_document(make_document(doc_type, random.Random(seed)), DPI, fonts)[0].convert("RGB")


def test_batch_scan_is_cut_at_cover_sheets_and_filed_under_their_units(tmp_path: Path) -> None:
    fonts = FontBook()
    first = sheet_for_unit("3-2-1201", batch="T1", estate="锦绣花园", pages=2)  # one page will be missing
    second = sheet_for_unit("10-1-101", batch="T1", doc_type="fire_safety_agreement", pages=1)
    blank = Image.new("RGB", render_cover_sheet(first, DPI).size, "white")
    pages = [
        render_cover_sheet(first, DPI).convert("RGB"),
        _page(DocType.OWNER_REGISTRATION, 7, fonts),
        blank,  # the blank back of a duplex scan
        render_cover_sheet(second, DPI).convert("RGB"),
        _page(DocType.FIRE_SAFETY_AGREEMENT, 8, fonts),
    ]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pages[0].save(inbox / "cabinet.pdf", save_all=True, append_images=pages[1:], resolution=DPI)

    env = {"DANGAN_HOME": str(tmp_path / "home"), "DANGAN_SETTLE_SECONDS": "0"}
    run = run_dangan(["ingest", str(inbox)], env)
    assert run.code == 0, run.stderr
    assert "says 2 page(s); 1 were scanned" in run.stdout, run.stdout

    export = tmp_path / "export.jsonl"
    assert run_dangan(["export", "--jsonl", str(export)], env).code == 0
    records = sorted((json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()),
                     key=lambda r: r["first_page"])
    assert [r["page_indices"] for r in records] == [[1], [4]]  # the sheets and the blank back belong to none
    registration, fire = records
    assert registration["unit"] == {"building": "3", "unit": "2", "room": "1201"}
    assert registration["unit_source"] == "cover_sheet"
    assert fire["doc_type"] == "fire_safety_agreement"
    assert fire["unit"] == {"building": "10", "unit": "1", "room": "101"}
    assert fire["unit_source"] == "cover_sheet"

    # The batch's digitisation quality report: every scanned page but the sheets, listed by `dangan runs`.
    runs = run_dangan(["runs", "--json"], env)
    assert runs.code == 0, runs.stderr
    (latest,) = json.loads(runs.stdout)
    assert latest["status"] == "completed" and latest["report"], latest
    html = Path(latest["report"])
    assert html.name in run.stdout
    text = html.read_text(encoding="utf-8")
    assert "数字化质量检查报告" in text and "says 2 page(s); 1 were scanned" in text
    rows = html.with_suffix(".csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 1 + 3  # header, then the registration form, the blank back and the agreement


# --- the cabinet bar: a 60-page batch of several units ------------------------------------------------------

#: One-page document types that print their unit, read in each owner folder.
FOLDER_TYPES = (DocType.OWNER_REGISTRATION, DocType.MOVE_IN_NOTICE, DocType.FIRE_SAFETY_AGREEMENT,
                DocType.HANDOVER_FORM, DocType.COMMITMENT_LETTER)


@pytest.mark.slow
def test_sixty_page_cabinet_batch_lands_every_document_in_its_unit(tmp_path: Path) -> None:
    """Two batch files (200 and 150 dpi) of eleven owner folders behind cover sheets, blank backs between
    pages, one sheet whose code is blacked out, one folder typed on its sheet and holding an ID copy."""
    import numpy as np

    from tests.synth.hard.scan import blank_back
    from tests.synth.templates import make_household

    fonts = FontBook()
    rng = random.Random(61)
    noise = np.random.default_rng(61)
    expected: list[tuple[str, str, str]] = []  # (file, doc_type, building-unit-room) in page order
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for file_no, (dpi, folders) in enumerate(((200, 6), (150, 5))):
        pages: list[Image.Image] = []
        name = f"cabinet-{file_no + 1}.pdf"
        for folder in range(folders):
            hh = make_household(rng)
            unit = f"{hh.unit.building}-{hh.unit.unit}-{hh.unit.room}"
            typed = file_no == 1 and folder == 0
            sheet = sheet_for_unit(unit, batch="CAB", doc_type="id_card" if typed else None)
            image = render_cover_sheet(sheet, dpi).convert("RGB")
            if file_no == 1 and folder == 2:  # a strip of tape across the code: read from its print
                from ocr.coversheet import PAGE_MM, QR_MM

                px = image.size[0] / PAGE_MM[0]
                qr_x0 = PAGE_MM[0] - 15.0 - QR_MM
                box = (int((qr_x0 - 5) * px), int((50 + QR_MM * 0.3) * px), int((PAGE_MM[0] - 5) * px),
                       int((50 + QR_MM * 0.7) * px))
                image.paste((0, 0, 0), box)
            pages.append(image)
            types = (DocType.ID_CARD,) if typed else tuple(rng.sample(FOLDER_TYPES, 3))
            for doc_type in types:
                doc = make_document(doc_type, random.Random(rng.random()), hh)
                front = render_document(doc, dpi, fonts)[0].convert("RGB")
                pages.append(front)
                expected.append((name, doc_type.value, unit))
                if rng.random() < 0.6:  # duplex: the blank back
                    gray = np.asarray(front.convert("L"))
                    pages.append(Image.fromarray(blank_back(gray, gray.shape, noise)).convert("RGB"))
        pages[0].save(inbox / name, save_all=True, append_images=pages[1:], resolution=dpi)
    total = sum(len(_pdf_pages(p)) for p in inbox.iterdir())
    assert total >= 60, total

    env = {"DANGAN_HOME": str(tmp_path / "home"), "DANGAN_SETTLE_SECONDS": "0"}
    run = run_dangan(["ingest", str(inbox)], env, timeout=1500)
    assert run.code == 0, run.stderr
    export = tmp_path / "export.jsonl"
    assert run_dangan(["export", "--jsonl", str(export)], env).code == 0
    records = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    got = sorted((r["source_name"], r["first_page"], r["doc_type"],
                  "-".join(r["unit"][k] for k in ("building", "unit", "room")) if r.get("unit") else None)
                 for r in records)
    assert [(f, t, u) for f, _, t, u in got] == expected  # every document, its type and its unit, in order

    runs = json.loads(run_dangan(["runs", "--json"], env).stdout)
    html = Path(runs[0]["report"])
    report = html.read_text(encoding="utf-8")
    assert "code could not be read" in report  # the taped sheet is named
    assert "低于 200 dpi" in report  # the 150 dpi pages are flagged
    rows = html.with_suffix(".csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    flagged = [row for row in rows if "低于 200 dpi" in row]
    assert flagged and all("cabinet-2.pdf" in row for row in flagged)

def _pdf_pages(path: Path) -> list[object]:
    import pikepdf

    with pikepdf.open(path) as pdf:
        return list(pdf.pages)



# --- cover sheets scanned as files of their own ---------------------------------------------------------------


def test_cover_sheet_files_lead_the_files_after_them(tmp_path: Path) -> None:
    """A scanner that writes one file per press: the sheet arrives alone and files the ones after it.

    The sheet's type and page count go to the next file only, its unit to every file up to the next sheet;
    a sheet with no file after it waits in the drop folder and files what arrives next.
    """
    fonts = FontBook()
    inbox = tmp_path / "inbox"
    inbox.mkdir()

    def save(name: str, *pages: Image.Image) -> None:
        pages[0].save(inbox / name, save_all=True, append_images=list(pages[1:]), resolution=DPI)

    typed = sheet_for_unit("3-2-1201", batch="F1", doc_type="fire_safety_agreement", pages=1)
    sheet = render_cover_sheet(typed, DPI).convert("RGB")
    save("001.pdf", sheet, Image.new("RGB", sheet.size, "white"))  # duplex: the blank back comes along
    save("002.pdf", _page(DocType.FIRE_SAFETY_AGREEMENT, 21, fonts))
    save("003.pdf", _page(DocType.OWNER_REGISTRATION, 22, fonts))
    save("004.pdf", render_cover_sheet(sheet_for_unit("10-1-101", batch="F1"), DPI).convert("RGB"))
    save("005.pdf", _page(DocType.MOVE_IN_NOTICE, 23, fonts))
    save("006.pdf", render_cover_sheet(sheet_for_unit("5-1-501", batch="F1"), DPI).convert("RGB"))

    env = {"DANGAN_HOME": str(tmp_path / "home"), "DANGAN_SETTLE_SECONDS": "0"}
    run = run_dangan(["ingest", str(inbox)], env)
    assert run.code == 0, run.stderr
    assert "3 cover sheet file(s)" in run.stdout, run.stdout
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["006.pdf"]  # nothing came after it yet
    assert sorted(p.name for p in (inbox.parent / "done").rglob("*.pdf")) == [
        "001.pdf", "002.pdf", "003.pdf", "004.pdf", "005.pdf"]

    save("007.pdf", _page(DocType.HANDOVER_FORM, 24, fonts))
    again = run_dangan(["ingest", str(inbox)], env)
    assert again.code == 0, again.stderr
    assert not [p for p in inbox.iterdir() if p.is_file()]

    export = tmp_path / "export.jsonl"
    assert run_dangan(["export", "--jsonl", str(export)], env).code == 0
    records = {r["source_name"]: r for r in map(json.loads, export.read_text(encoding="utf-8").splitlines())}
    assert sorted(records) == ["002.pdf", "003.pdf", "005.pdf", "007.pdf"]  # sheets are not archived

    def unit(name: str) -> str:
        return "-".join(records[name]["unit"][k] for k in ("building", "unit", "room"))

    assert [unit(n) for n in ("002.pdf", "003.pdf", "005.pdf", "007.pdf")] == [
        "3-2-1201", "3-2-1201", "10-1-101", "5-1-501"]
    assert all(r["unit_source"] == "cover_sheet" for r in records.values())
    assert records["002.pdf"]["doc_type"] == "fire_safety_agreement"
    assert records["003.pdf"]["doc_type"] == "owner_registration"  # the sheet's type went to 002 only
