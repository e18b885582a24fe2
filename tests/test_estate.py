"""Unit archives know their estate (小区), through the real ``dangan ingest``: filed by the drop folder or a
cover sheet, found by ``dangan search 小区:…`` and browsed under the estate (SQLite and PostgreSQL).

How a document finds its archive and how an older index is upgraded: tests/test_index.py.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
from PIL import Image

from schemas.documents import DocType
from storage.index import Index
from storage.keys import MasterKey
from tests.test_index import make_unit_index_old, unit_index_sql

pytestmark = pytest.mark.integration

JINXIU = "锦绣花园"
YANGGUANG = "阳光花园"


# --------------------------------------------------------------------------- through the real ingest

DPI = 200


def _page(doc_type: DocType, seed: int, unit: tuple[str, str, str], estate: str) -> Image.Image:
    from tests.synth.fake import UnitRef as SynthUnit
    from tests.synth.render import FontBook, render_document
    from tests.synth.templates import make_document, make_household

    household = dataclasses.replace(make_household(random.Random(seed)), unit=SynthUnit(*unit), estate=estate)
    doc = make_document(doc_type, random.Random(seed), household)
    return render_document(doc, DPI, FontBook())[0].convert("RGB")


# PostgreSQL ingests end to end in CI through test_ingest_e2e; this drill's PostgreSQL run is in the slow set.
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def test_ingest_files_archives_under_their_estate(backend: str, tmp_path: Path,
                                                  request: pytest.FixtureRequest) -> None:
    """Two estates' 3-2-1201 in estate folders and a cabinet batch whose cover sheet names the estate,
    ingested into an index made before estates (its old unique index would refuse the second 3-2-1201)."""
    from ocr.coversheet_print import render_cover_sheet, sheet_for_unit
    from tests.e2e import ensure_master_key, run_dangan

    home = tmp_path / "home"
    env = {"DANGAN_HOME": str(home), "DANGAN_SETTLE_SECONDS": "0"}
    url = f"sqlite:///{home / 'index.sqlite3'}"
    if backend == "postgresql":
        url = str(request.getfixturevalue("pg_url"))
        env["DANGAN_DB_URL"] = url
    ensure_master_key(env)
    master = MasterKey.load(home / "master.key")
    index = Index(url, master)
    index.create_schema()
    index.close()
    make_unit_index_old(url)

    unit = ("3", "2", "1201")
    inbox = tmp_path / "inbox"
    scans = {
        f"{JINXIU}/3栋/2单元/1201/登记表.png": _page(DocType.OWNER_REGISTRATION, 21, unit, JINXIU),
        f"{YANGGUANG}/3-2-1201/登记表.png": _page(DocType.OWNER_REGISTRATION, 22, unit, YANGGUANG),
    }
    for name, page in scans.items():
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        page.save(inbox / name, dpi=(DPI, DPI))
    sheet = sheet_for_unit("3-2-1201", batch="E1", estate=JINXIU, pages=1)
    cover = render_cover_sheet(sheet, DPI).convert("RGB")
    cover.save(inbox / "cabinet.pdf", save_all=True, resolution=DPI,
               append_images=[_page(DocType.FIRE_SAFETY_AGREEMENT, 23, unit, JINXIU)])

    run = run_dangan(["ingest", "--quiet", str(inbox)], env)
    assert run.code == 0, run.stdout + run.stderr
    assert "coalesce(estate" in unit_index_sql(url).lower()

    found = run_dangan(["search", "小区:锦绣花园", "--json"], env)
    assert found.code == 0, found.stderr
    hits = json.loads(found.stdout)
    assert sorted(h["source_name"] for h in hits) == ["cabinet.pdf", "登记表.png"]
    assert {h["estate"] for h in hits} == {JINXIU}
    assert {(h["unit"]["building"], h["unit"]["unit"], h["unit"]["room"]) for h in hits} == {unit}
    (jinxiu,) = {h["archive_id"] for h in hits}  # the folder's scan and the cover sheet's: one archive
    by_text = json.loads(run_dangan(["search", "锦绣花园3栋2单元1201", "--json"], env).stdout)
    assert {h["archive_id"] for h in by_text} == {jinxiu}
    other = json.loads(run_dangan(["search", "小区:阳光花园", "--json"], env).stdout)
    assert [h["estate"] for h in other] == [YANGGUANG] and other[0]["archive_id"] != jinxiu

    index = Index(url, master)
    try:
        assert {(i.value, i.archives) for i in index.browse().items} == {(JINXIU, 1), (YANGGUANG, 1)}
        leaf = index.browse(estate=JINXIU, building="3", unit="2")
        assert [(a.id, a.room, a.documents) for a in leaf.archives] == [(jinxiu, "1201", 2)]
        sources = {d.source_name: d.unit_source for d in index.iter_documents() if d.estate == JINXIU}
        assert sources == {"登记表.png": "path", "cabinet.pdf": "cover_sheet"}
    finally:
        index.close()
