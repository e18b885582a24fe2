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

    env = {"DANGAN_HOME": str(tmp_path / "home"), "DANGAN_SETTLE_SECONDS": "0", "DANGAN_ROLE": "leader"}
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
