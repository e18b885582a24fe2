"""The unit a drop-folder path names (storage/unitpath.py), and how it overrides the page's reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.models import Extraction, FieldValue, UnitRef
from storage.dropfolder import DropItem, discover
from storage.unitpath import (
    UnitHint,
    apply_unit_hint,
    filed_unit,
    read_component,
    sheet_hint,
    unit_from_path,
    unit_source,
)

FULL = ("3", "2", "1201")


@pytest.mark.parametrize(("path", "want"), [
    # the forms clerks use
    ("锦绣花园/3栋/2单元/1201/scan0001.pdf", FULL),
    ("3-2-1201/scan0001.pdf", FULL),
    ("锦绣花园/3-2-1201/xxx.pdf", FULL),
    ("3栋2单元1201/scan.pdf", FULL),
    ("3栋2单元1201室/scan.pdf", FULL),
    ("3号楼2单元1201室/scan.pdf", FULL),
    ("3幢/2单元/1201室/scan.pdf", FULL),
    ("3栋-2单元-1201/scan.pdf", FULL),
    ("3#楼/2单元/1201/scan.pdf", FULL),
    ("第3栋/第2单元/1201/scan.pdf", FULL),
    ("三栋/二单元/1201/scan.pdf", FULL),
    ("３栋２单元１２０１/scan.pdf", FULL),  # full-width digits
    ("3 栋 2 单元 1201/scan.pdf", FULL),
    ("A座/2单元/1201/scan.pdf", ("A", "2", "1201")),
    ("b-1-302/scan.pdf", ("B", "1", "302")),
    ("28幢4单元3204室/x.tif", ("28", "4", "3204")),
    ("3栋2单元/1201/x.pdf", FULL),  # a bare number right below a unit's folder is its room
    ("3-2-1201.pdf", FULL),  # the file's own name, in an explicit form
    ("3栋/2单元/1201室.pdf", FULL),
    # building and room, no 单元: the parts still count
    ("3号楼/1201室/scan.pdf", ("3", None, "1201")),
    ("3栋/scan.pdf", ("3", None, None)),
    # the deepest complete unit wins
    ("3-2-1201/5-1-802/x.pdf", ("5", "1", "802")),
    ("3栋/2单元/1201/1202室/x.pdf", ("3", "2", "1202")),
    ("5栋/3栋/2单元/1201/x.pdf", FULL),  # a level named again starts anew
    # a file name that agrees with its folders is fine
    ("3栋/2单元/1201/3栋2单元1201室登记表.pdf", FULL),
    # folders above or below that name nothing
    ("锦绣花园/3-2-1201/2024-05-01/0001.pdf", FULL),
    ("2024-05-01/3-2-1201/0001.pdf", FULL),
    ("扫描/3栋/2单元/1201/0001/0001.pdf", FULL),
])
def test_unit_from_path(path: str, want: tuple[str | None, str | None, str | None]) -> None:
    hint = unit_from_path(path)
    assert hint is not None, path
    assert (hint.building, hint.unit, hint.room) == want


@pytest.mark.parametrize("path", [
    # dates
    "2024-05-01/scan.pdf",
    "2024/05/01/scan.pdf",
    "20240501/scan.pdf",
    "2024年5月/scan.pdf",
    "5-1-2024/scan.pdf",  # building 5, unit 1, room 2024 or 1 May 2024: ambiguous
    "12-25-2023/scan.pdf",
    # a scanner's numbered folders and files
    "0001/scan.pdf",
    "0001/0002/0003.pdf",
    "scan_0001.pdf",
    "1201.pdf",  # a bare number as a file name is a counter
    "1201/scan.pdf",  # a bare number not below a unit's folder names nothing
    "3楼/scan.pdf",  # a floor
    "3号/scan.pdf",  # a cabinet, or a room: not clearly a building
    "1号柜/scan.pdf",
    "第3批/scan.pdf",
    # names with digits
    "王伟1201/scan.pdf",
    "张三13912345678/scan.pdf",
    "扫描件0003.pdf",
    "锦绣花园二期/scan.pdf",
    # ambiguous: a component below the unit names another one
    "3-2-1201/5栋/x.pdf",
    "3栋/2单元/1201/5栋2单元1201室登记表.pdf",
    "王伟5栋2单元1201/3-2-1201/x.pdf",  # an unclear folder that disagrees
    "",
])
def test_no_unit_from_path(path: str) -> None:
    assert unit_from_path(path) is None


def test_date_folders_below_a_unit_leave_it_incomplete() -> None:
    # 2024 below a unit's folder may be a year or a room: no room from it
    hint = unit_from_path("3栋/2单元/2024/scan.pdf")
    assert hint is not None and hint.parts == {"building": "3", "unit": "2"} and hint.unit_ref is None
    hint = unit_from_path("3栋/2单元/0001/scan.pdf")
    assert hint is not None and hint.parts == {"building": "3", "unit": "2"}


def test_estate_is_the_first_folder_when_it_is_not_a_unit() -> None:
    assert unit_from_path("锦绣花园/3栋/2单元/1201/a.pdf") == UnitHint("3", "2", "1201", estate="锦绣花园")
    assert unit_from_path("锦绣花园/3-2-1201/a.pdf") == UnitHint("3", "2", "1201", estate="锦绣花园")
    assert unit_from_path("3-2-1201/a.pdf") == UnitHint("3", "2", "1201")
    assert unit_from_path("2024-05-01/3-2-1201/a.pdf") == UnitHint("3", "2", "1201")  # a date is no estate
    assert unit_from_path("扫描件/3-2-1201/a.pdf") == UnitHint("3", "2", "1201")
    assert unit_from_path("锦绣花园/a.pdf") is None  # an estate alone names no unit
    assert unit_from_path("锦绣 花园/3-2-1201/a.pdf") == UnitHint("3", "2", "1201", estate="锦绣花园")
    assert unit_from_path(f"{'花园' * 21}/3-2-1201/a.pdf") == UnitHint("3", "2", "1201")  # a description


def test_components() -> None:
    assert read_component("3-2-1201").parts == {"building": "3", "unit": "2", "room": "1201"}
    assert read_component("1201").bare_room
    assert read_component("1201", is_file=True).parts == {}
    assert read_component("0001").parts == {}
    assert read_component("王伟3栋2单元1201").unclear
    assert read_component(".hidden").parts == {}


def test_drop_item_hint_is_read_below_the_drop_folder(tmp_path: Path) -> None:
    root = tmp_path / "3-2-1201"  # the drop folder's own name does not count
    (root / "锦绣花园" / "5-1-802").mkdir(parents=True)
    (root / "锦绣花园" / "5-1-802" / "a.pdf").write_bytes(b"%PDF")
    (root / "b.pdf").write_bytes(b"%PDF")
    by_name = {i.path.name: i for i in discover([root])}
    assert by_name["a.pdf"].unit_hint == UnitHint("5", "1", "802", estate="锦绣花园")
    assert by_name["b.pdf"].unit_hint is None
    # a file handed over on its own keeps the drop folder its argument marks with /./
    marked = by_name["a.pdf"].argument
    assert marked == f"{root}/./锦绣花园/5-1-802/a.pdf"
    (item,) = discover([marked])
    assert item == by_name["a.pdf"] and item.unit_hint == UnitHint("5", "1", "802", estate="锦绣花园")
    (alone,) = discover([root / "锦绣花园" / "5-1-802" / "a.pdf"])
    assert alone.root == root / "锦绣花园" / "5-1-802" and alone.unit_hint is None
    (escaping,) = discover([f"{root}/./../{root.name}/b.pdf"])  # a mark that would lead out is not taken
    assert escaping.root == root.parent / root.name / ".." / root.name
    assert DropItem(root / "x" / "3栋2单元1201.pdf", root).unit_hint == UnitHint("3", "2", "1201")


# --- the page's reading ----------------------------------------------------------------------


def _registration(**unit: str) -> Extraction:
    fields = {"owner_name": FieldValue(name="owner_name", value="王伟", confidence=0.99)}
    for name, value in unit.items():
        fields[name] = FieldValue(name=name, value=value, confidence=0.95, page=0, box=(1, 2, 3, 4))
    return Extraction(doc_type="owner_registration", doc_type_confidence=0.9, fields=fields, page_indices=(0,))


def test_path_confirms_fills_and_overrides_the_page() -> None:
    hint = unit_from_path("3栋/2单元/1201/a.pdf")
    (same,) = apply_unit_hint([_registration(building="3", unit="2", room="1201")], hint)
    assert same.unit_ref == UnitRef(building="3", unit="2", room="1201")
    assert not same.flagged_fields and unit_source(same) == "path"
    assert all(same.fields[p].confidence == 1.0 for p in ("building", "unit", "room"))

    (filled,) = apply_unit_hint([_registration(building="3")], hint)
    assert filled.unit_ref == UnitRef(building="3", unit="2", room="1201") and not filled.flagged_fields

    (other,) = apply_unit_hint([_registration(building="5", unit="1", room="802")], hint)
    assert other.unit_ref == UnitRef(building="3", unit="2", room="1201")
    assert set(other.flagged_fields) == {"building", "unit", "room"}
    room = other.fields["room"]
    assert room.source == "path" and room.box == (1, 2, 3, 4)  # where the page said otherwise
    assert room.issue is not None and "1201" in room.issue and "802" in room.issue  # the page's reading is kept
    assert other.fields["owner_name"] == _registration().fields["owner_name"]


def test_partial_path_leaves_the_rest_to_the_page() -> None:
    hint = unit_from_path("3号楼/1201室/a.pdf")
    (doc,) = apply_unit_hint([_registration(building="3", unit="2", room="1201")], hint)
    assert doc.unit_ref == UnitRef(building="3", unit="2", room="1201")
    assert unit_source(doc) == "ocr"  # pieced together from the path and the page: as sure as the page
    assert doc.fields["unit"].source == "ocr" and doc.fields["room"].source == "path"


def test_documents_without_unit_fields_are_left_alone() -> None:
    card = Extraction(doc_type="id_card", doc_type_confidence=0.9,
                      fields={"name": FieldValue(name="name", value="王伟", confidence=0.99)})
    assert apply_unit_hint([card], unit_from_path("3-2-1201/a.pdf")) == [card]
    assert apply_unit_hint([card], None) == [card]
    assert unit_source(card) is None


def test_filed_unit_carries_the_estate() -> None:
    jinxiu = UnitRef(building="3", unit="2", room="1201", estate="锦绣花园")
    hint = unit_from_path("锦绣花园/3栋/2单元/1201/a.pdf")
    assert hint is not None and hint.unit_ref == jinxiu and str(hint.unit_ref) == "3-2-1201"
    (doc,) = apply_unit_hint([_registration(building="5", unit="1", room="802")], hint)
    assert filed_unit(doc, hint) == (jinxiu, "path")
    assert doc.unit_ref == UnitRef(building="3", unit="2", room="1201")  # the page's fields hold no estate
    # a path naming part of the unit: the page completes it, the folder still names the estate
    partial = unit_from_path("锦绣花园/3号楼/1201室/a.pdf")
    (doc,) = apply_unit_hint([_registration(building="3", unit="2", room="1201")], partial)
    assert filed_unit(doc, partial) == (jinxiu, "ocr")
    card = Extraction(doc_type="id_card", doc_type_confidence=0.9,
                      fields={"name": FieldValue(name="name", value="王伟", confidence=0.99)})
    assert filed_unit(card, partial) == (None, "ocr")  # no whole unit anywhere: filed in no archive
    assert filed_unit(card, hint) == (jinxiu, "path")
    # no hint: the page's own unit, no estate
    assert filed_unit(_registration(building="5", unit="1", room="802"), None) == (
        UnitRef(building="5", unit="1", room="802"), "ocr")
    # a cover sheet names its own estate, or none
    from ocr.coversheet import CoverSheet

    sheet = CoverSheet(estate="阳光花园", building="3", unit="2", room="1201", batch="T1")
    (doc,) = apply_unit_hint([_registration()], sheet_hint(sheet))
    assert filed_unit(doc, sheet_hint(sheet)) == (jinxiu.model_copy(update={"estate": "阳光花园"}), "cover_sheet")
    bare = sheet.model_copy(update={"estate": None})
    assert filed_unit(doc, sheet_hint(bare)) == (UnitRef(building="3", unit="2", room="1201"), "cover_sheet")


def test_unit_ref_keeps_its_estate_out_of_dumps_and_names() -> None:
    unit = UnitRef(building="3", unit="2", room="1201", estate=" 锦绣\u3000花园 ")
    assert unit.estate == "锦绣花园" and str(unit) == "3-2-1201"
    assert unit.model_dump() == {"building": "3", "unit": "2", "room": "1201"}  # the export's unit keys
    assert unit != UnitRef(building="3", unit="2", room="1201")  # another estate's 3-2-1201 is another archive
    assert UnitRef(building="3", unit="2", room="1201", estate=" ").estate is None


# --- the index records where the unit came from ------------------------------------------------


def test_index_records_the_unit_source_and_adds_its_column_to_an_older_index(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, inspect, text

    from schemas.models import StoredObject
    from storage.crypto import DataKey, wrap_key
    from storage.index import Index
    from storage.keys import MasterKey
    from storage.objects import ocr_key, original_key
    from tests.test_index import make_doc

    master = MasterKey.load_or_create(tmp_path / "master.key")
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    index = Index(url, master)
    index.create_schema()
    run_id = index.begin_run()
    read = make_doc(1, owner="王伟", unit=UnitRef(building="3", unit="2", room="1201")).record(index, master, run_id)
    index.close()
    engine = create_engine(url)
    with engine.begin() as conn:  # the layout before the column: rows without it
        conn.execute(text("ALTER TABLE documents DROP COLUMN unit_source"))
    engine.dispose()

    index = Index(url, master)
    index.create_schema()
    try:
        assert index.get_document(read).unit_source == "ocr"  # older rows: every filed unit was read
        doc = make_doc(2, owner="李娜")
        sha = doc.source.sha256
        wrapped = wrap_key(DataKey.generate(master), master)
        original = StoredObject(key=original_key(sha), size=10, key_id=wrapped.dek_id)
        ocr = StoredObject(key=ocr_key(sha), size=10, key_id=wrapped.dek_id)
        (by_path,) = index.record_file(source=doc.source, documents=[doc.extraction], pages=doc.pages,
                                       original=original, ocr=ocr, data_key=wrapped, run_id=run_id,
                                       statuses=["indexed"], unit=UnitRef(building="9", unit="1", room="101"))
        record = index.get_document(by_path).export_record()
        assert record["unit"] == {"building": "9", "unit": "1", "room": "101"} and record["unit_source"] == "path"
    finally:
        index.close()
    engine = create_engine(url)
    assert "unit_source" in {c["name"] for c in inspect(engine).get_columns("documents")}
    engine.dispose()
