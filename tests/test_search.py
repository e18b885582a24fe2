"""Search: the one box understood, and found on a real index (SQLite and PostgreSQL), blind and grouped."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, inspect, select, text, update

from schemas.documents import DocType
from schemas.errors import IntegrityError
from schemas.models import Extraction, FieldValue, FileKind, OcrLine, OcrPage, SourceFile, StoredObject, UnitRef
from schemas.settings import Settings
from schemas.validators import id_check_digit
from storage.blind import BlindIndex, text_tokens, tokenize
from storage.crypto import DataKey, wrap_key
from storage.index import Index
from storage.keys import MasterKey
from storage.objects import ocr_key, original_key
from storage.search import ARCHIVE_CONTENTS, Completeness, QueryFilters, date_span, understand
from storage.searchsql import open_reader
from storage.tables import SEARCH_LAYOUT, FieldRow, MetaRow, SearchDocRow, SearchTokenRow
from storage.vault import Vault
from tests.e2e import run_dangan

# --------------------------------------------------------------------------- the box, understood

ID = "11010519491231002X"
_KINDS = [
    ("王伟", [["name", "text"]]),
    ("欧阳娜娜", [["name", "text"]]),
    ("承重墙施工单位", [["text"]]),
    (ID, [["id_number"]]),
    (ID.lower(), [["id_number"]]),
    ("110105 19491231 002X", [["id_number"]]),
    ("110105-19491231-002X", [["id_number"]]),
    ("110105491231002", [["id_number"]]),
    ("002X", [["id_tail", "text"]]),
    ("1002X", [["id_tail", "text"]]),
    ("31002X", [["id_tail", "text"]]),
    ("1234", [["id_tail", "text"]]),
    ("13812345678", [["phone"]]),
    ("138 1234 5678", [["phone"]]),
    ("+86 138-1234-5678", [["phone"]]),
    ("010-87654321", [["phone"]]),
    ("3-2-1201", [["unit"]]),
    ("3栋2单元1201", [["unit"]]),
    ("3栋2单元1201室", [["unit"]]),
    ("3号楼1201室", [["unit"]]),
    ("3幢2单元1201", [["unit"]]),
    ("３栋２单元１２０１", [["unit"]]),
    ("三栋二单元1201", [["unit"]]),
    ("A座1201", [["unit"]]),
    ("1201室", [["unit"]]),
    ("3栋", [["unit"]]),
    ("锦绣花园3栋2单元1201", [["name", "estate", "text"], ["unit"]]),
    ("锦绣花园 3-2-1201", [["name", "estate", "text"], ["unit"]]),
    ("王伟3-2-1201", [["name", "text"], ["unit"]]),
    ("HT-2023-0012", [["contract", "text"]]),
    ("GF2023001", [["contract", "text"]]),
    ("物业管理", [["name", "text"]]),
    ("王伟 承重墙", [["name", "text"], ["name", "text"]]),
    ("王", [["text"]]),
    ("", []),
]


@pytest.mark.parametrize(("query", "kinds"), _KINDS, ids=[q or "empty" for q, _ in _KINDS])
def test_query_kinds(query: str, kinds: list[list[str]]) -> None:
    assert understand(query).kinds == kinds


@pytest.mark.parametrize(("query", "kind", "value"), [
    (ID.lower(), "id_number", ID), ("110105 19491231 002X", "id_number", ID), ("002x", "id_tail", "002X"),
    ("+86 13812345678", "phone", "13812345678"), ("010-87654321", "phone", "01087654321"),
    ("3栋2单元1201", "unit", "3-2-1201"), ("３栋２单元１２０１", "unit", "3-2-1201"),
    ("三栋二单元1201室", "unit", "3-2-1201"), ("3号楼1201室", "unit", "3--1201"), ("1201室", "unit", "--1201"),
    ("3栋", "unit", "3"), ("HT-2023-0012", "contract", "HT20230012"), ("ht 2023 0012", "text", "ht"),
])
def test_canonical_values(query: str, kind: str, value: str) -> None:
    readings = [r for p in understand(query).parts for r in p.readings if r.kind == kind]
    assert readings and readings[0].value == value


def test_filters_in_the_box() -> None:
    parsed = understand("身份证 王伟 待审核 2023-05 小区:锦绣花园 楼栋:3栋")
    assert parsed.kinds == [["name", "text"]]
    f = parsed.filters
    assert (f.doc_types, f.status, f.estate, f.building) == (("id_card",), "needs_review", "锦绣花园", "3")
    assert (f.date_from, f.date_to) == (dt.date(2023, 5, 1), dt.date(2023, 5, 31))
    assert understand("合同").filters.doc_types == ("purchase_contract", "lease_contract")
    assert understand("类型:handover_form").filters.doc_types == ("handover_form",)
    assert date_span("2023-01-01~2023-06-30") == (dt.date(2023, 1, 1), dt.date(2023, 6, 30))
    assert date_span("2023年2月") == (dt.date(2023, 2, 1), dt.date(2023, 2, 28))
    assert date_span("2024") is None  # a bare number is an ID tail
    assert understand("2024").kinds == [["id_tail", "text"]]


def test_masked_descriptions() -> None:
    part = understand(ID).parts[0]
    assert part.display == "110105********002X" and part.readings[0].display == "110105********002X"
    assert understand("13812345678").parts[0].display == "138****5678"
    assert ID not in repr([p.display for p in understand(f"王伟 {ID}").parts])


def test_completeness() -> None:
    c = Completeness.of({"id_card": 1, "owner_registration": 1, "other": 1})
    assert c.present == ("owner_registration", "id_card") and c.count == 2 and c.total == len(ARCHIVE_CONTENTS)
    assert "purchase_contract" in c.missing


def test_completeness_by_the_checklist() -> None:
    """A let unit needs the lease and a second ID card copy; a company's own list replaces the seven."""
    from rules.checklist import Checklist

    let = {"owner_registration": 1, "id_card": 1, "lease_contract": 1}
    c = Completeness.of(let, Checklist().needed)
    assert c.required[-1] == "lease_contract" and c.total == len(ARCHIVE_CONTENTS) + 1
    assert "id_card" in c.missing and "lease_contract" in c.present  # one ID card copy of the two
    assert "id_card" in Completeness.of({**let, "id_card": 2}, Checklist().needed).present
    own = Checklist(required={"owner_registration": 1, "fire_safety_agreement": 1}, when_let={})
    c = Completeness.of(let, own.needed)
    assert (c.required, c.present, c.missing) == (("owner_registration", "fire_safety_agreement"),
                                                  ("owner_registration",), ("fire_safety_agreement",))


# --------------------------------------------------------------------------- a small real index


def _id_number(first17: str) -> str:
    return first17 + id_check_digit(first17)


WANG_ID = _id_number("11010519850312051")
LI_ID = _id_number("44030519900101123")
WANG_PHONE, LI_PHONE = "13812345678", "13987654321"
UNIT = UnitRef(building="3", unit="2", room="1201")
OTHER_UNIT = UnitRef(building="5", unit="1", room="302")


def _doc(seed: int, doc_type: DocType, fields: dict[str, str], lines: list[str]) -> tuple[SourceFile, Extraction,
                                                                                         OcrPage]:
    page = OcrPage(index=0, engine="rapidocr", width=2480, height=3508, lines=tuple(
        OcrLine(text=t, box=(100, 100 + 80 * i, 2000, 160 + 80 * i), confidence=0.95) for i, t in enumerate(lines)))
    sha = hashlib.sha256(f"search-{seed}".encode()).hexdigest()
    name = f"scan_{seed:04d}.pdf"
    source = SourceFile(path=Path(name), name=name, size=1000 + seed, sha256=sha, kind=FileKind.PDF, page_count=1)
    extraction = Extraction(doc_type=doc_type, doc_type_confidence=0.9,
                            fields={k: FieldValue(name=k, value=v, confidence=0.95) for k, v in fields.items()})
    return source, extraction, page


#: key -> (doc type, fields, OCR lines, unit it is filed under)
CORPUS: dict[str, tuple[DocType, dict[str, str], list[str], UnitRef | None]] = {
    "wang_reg": (DocType.OWNER_REGISTRATION,
                 {"owner_name": "王伟", "id_number": WANG_ID, "phone": WANG_PHONE, "building": "3", "unit": "2",
                  "room": "1201"},
                 ["业主入住登记表", "业主姓名：王伟", f"身份证号码：{WANG_ID}", f"联系电话：{WANG_PHONE}",
                  "房号：3栋2单元1201室", "本人承诺遵守物业管理公约。"], UNIT),
    "wang_id": (DocType.ID_CARD, {"name": "王伟", "id_number": WANG_ID, "sex": "男"},
                ["居民身份证", "姓名 王伟", f"公民身份号码 {WANG_ID}"], UNIT),
    "wang_contract": (DocType.PURCHASE_CONTRACT,
                      {"contract_number": "HT-2023-0012", "buyer_name": "王伟", "buyer_id_number": WANG_ID,
                       "building": "3", "unit": "2", "room": "1201"},
                      ["商品房买卖合同", "合同编号：HT-2023-0012", "买受人：王伟",
                       "装修押金在竣工验收合格后无息退还。"],
                      UNIT),
    "li_reg": (DocType.OWNER_REGISTRATION,
               {"owner_name": "李娜", "id_number": LI_ID, "phone": LI_PHONE, "building": "5", "unit": "1",
                "room": "302", "emergency_contact": "王伟明"},
               ["业主入住登记表", "业主姓名：李娜", "紧急联系人：王伟明", "严禁高空抛物。"], OTHER_UNIT),
    "loose": (DocType.OTHER, {}, ["物业服务中心通知", "电梯维修期间请走楼梯，装修押金另行通知。"], None),
}


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> MasterKey:
    return MasterKey.load_or_create(tmp_path_factory.mktemp("keys") / "master.key")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'index.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


def _record(index: Index, master: MasterKey) -> dict[str, str]:
    run_id = index.begin_run()
    ids = {}
    for seed, (key, (doc_type, fields, lines, unit)) in enumerate(CORPUS.items()):
        source, extraction, page = _doc(seed, doc_type, fields, lines)
        wrapped = wrap_key(DataKey.generate(master), master)
        ids[key] = index.record_file(
            source=source, documents=[extraction.model_copy(update={"page_indices": (0,)})], pages=[page],
            original=StoredObject(key=original_key(source.sha256), size=100, key_id=wrapped.dek_id),
            ocr=StoredObject(key=ocr_key(source.sha256), size=100, key_id=wrapped.dek_id), data_key=wrapped,
            run_id=run_id, statuses=["indexed"], unit=unit)[0]
    return ids


@pytest.fixture
def indexed(db_url: str, master: MasterKey) -> Iterator[tuple[Index, dict[str, str]]]:
    index = Index(db_url, master)
    index.create_schema()
    ids = _record(index, master)
    yield index, ids
    index.close()


def _found(index: Index, query: str, **kw: object) -> list[str]:
    return [d.id for g in index.search_archives(query, **kw).groups for d in g.documents]  # type: ignore[arg-type]


def test_each_kind_finds_its_document(indexed: tuple[Index, dict[str, str]]) -> None:
    index, ids = indexed
    wang = {ids["wang_reg"], ids["wang_id"], ids["wang_contract"]}
    assert set(_found(index, "王伟")[:3]) == wang  # the exact name first ...
    assert _found(index, "王伟")[3:] == [ids["li_reg"]]  # ... then 王伟明, a word of the text
    assert set(_found(index, WANG_ID)) == wang
    assert set(_found(index, "110105 19850312 " + WANG_ID[-4:])) == wang
    for tail in (WANG_ID[-4:], WANG_ID[-5:], WANG_ID[-6:]):
        assert set(_found(index, tail)) == wang, tail
    assert _found(index, LI_ID[-4:]) == [ids["li_reg"]]
    assert _found(index, "7777") == []
    assert _found(index, "138 1234 5678") == [ids["wang_reg"]]
    for unit in ("3-2-1201", "3栋2单元1201", "3号楼1201室", "３栋２单元１２０１", "三栋二单元1201室", "3幢2单元1201"):
        assert set(_found(index, unit)) == wang, unit
    assert _found(index, "5-1-302") == [ids["li_reg"]]
    assert _found(index, "HT-2023-0012") == [ids["wang_contract"]]
    assert _found(index, "ht20230012") == [ids["wang_contract"]]
    assert _found(index, "高空抛物") == [ids["li_reg"]]
    assert set(_found(index, "装修押金")) == {ids["wang_contract"], ids["loose"]}
    assert _found(index, "王伟 高空抛物") == [ids["li_reg"]]  # parts are AND-ed
    assert _found(index, "王伟 5-1-302") == [ids["li_reg"]]
    assert _found(index, "李娜 3-2-1201") == []
    assert _found(index, "不存在的词") == []


def test_grouped_by_archive_with_completeness_and_masks(indexed: tuple[Index, dict[str, str]]) -> None:
    index, ids = indexed
    result = index.search_archives("装修押金")
    labels = [g.label for g in result.groups]
    assert sorted(labels) == ["3栋2单元1201", "未归户"]
    loose = next(g for g in result.groups if g.archive_id is None)
    assert [d.id for d in loose.documents] == [ids["loose"]] and loose.completeness is None
    (term,) = loose.documents[0].matched
    assert (term.kind, term.text, term.highlight) == ("text", "装修押金", True)

    result = index.search_archives("王伟")
    first = result.groups[0]
    assert (first.building, first.unit, first.room) == ("3", "2", "1201")
    assert first.completeness is not None
    assert first.completeness.present == ("owner_registration", "id_card", "purchase_contract")
    assert first.completeness.count == 3 and "move_in_notice" in first.completeness.missing
    docs = first.documents
    assert [d.created_at for d in docs] == sorted((d.created_at for d in docs), reverse=True)  # newest first
    reg = next(d for d in docs if d.id == ids["wang_reg"])
    assert reg.exact_match
    assert reg.fields["id_number"] == WANG_ID[:6] + "********" + WANG_ID[-4:]
    assert reg.fields["phone"] == "138****5678"
    assert {(m.kind, m.highlight) for m in reg.matched} == {("name", True)}
    assert reg.matched[0].fields == ("owner_name",)

    by_id = index.search_archives(WANG_ID)
    dumped = by_id.model_dump_json()
    assert WANG_ID not in dumped and WANG_PHONE not in dumped
    assert by_id.understood == ((("id_number", WANG_ID[:6] + "********" + WANG_ID[-4:]),),)
    hit = by_id.groups[0].documents[0]
    assert hit.matched[0].kind == "id_number" and not hit.matched[0].highlight
    tail = index.search_archives(WANG_ID[-6:]).groups[0].documents[0].matched[0]
    assert (tail.kind, tail.highlight) == ("id_tail", False)
    phone = index.search_archives(WANG_PHONE).groups[0].documents[0].matched[0]
    assert (phone.text, phone.fields) == ("138****5678", ("phone",))


def test_the_search_and_browse_count_completeness_by_the_companys_checklist(
        indexed: tuple[Index, dict[str, str]], tmp_path: Path) -> None:
    from storage.vault import checklist_needs

    index, _ = indexed
    checklist = tmp_path / "checklist.toml"
    checklist.write_text("[required]\nowner_registration = 1\nfire_safety_agreement = 1\n"
                         "[when_let]\n", encoding="utf-8")
    index.needs = checklist_needs(Settings(home=tmp_path, checklist_file=checklist))
    first = index.search_archives("王伟").groups[0]
    assert first.completeness is not None
    assert first.completeness.required == ("owner_registration", "fire_safety_agreement")
    assert (first.completeness.count, first.completeness.total) == (1, 2)
    browsed = index.browse(building="3", unit="2")
    (archive,) = [a for a in browsed.archives if a.room == "1201"]
    assert archive.completeness.missing == ("fire_safety_agreement",)


def test_filters_and_limits(indexed: tuple[Index, dict[str, str]]) -> None:
    index, ids = indexed
    assert _found(index, "王伟", doc_type="id_card") == [ids["wang_id"]]
    assert _found(index, "身份证 王伟") == [ids["wang_id"]]
    assert set(_found(index, "", unit=UNIT)) == {ids["wang_reg"], ids["wang_id"], ids["wang_contract"]}
    assert _found(index, "王伟", unit=OTHER_UNIT) == [ids["li_reg"]]
    assert _found(index, "王伟", building="5") == [ids["li_reg"]]
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    assert len(_found(index, "", date_from=today, date_to=today)) == 5
    assert _found(index, "", date_to=today - dt.timedelta(days=1)) == []
    assert _found(index, "待审核") == []
    result = index.search_archives("", limit=2)
    assert result.count == 2 and result.truncated
    assert len(index.search("", limit=3)) == 3


def test_estate_and_browse(indexed: tuple[Index, dict[str, str]]) -> None:
    index, ids = indexed
    archive = index.get_document(ids["wang_reg"]).archive_id
    assert archive is not None
    index.set_archive_estate(archive, "锦绣花园")
    assert set(_found(index, "锦绣花园3栋2单元1201")) == {ids["wang_reg"], ids["wang_id"], ids["wang_contract"]}
    assert _found(index, "锦绣花园 5-1-302") == []
    assert set(_found(index, "王伟", estate="锦绣花园")) == {ids["wang_reg"], ids["wang_id"], ids["wang_contract"]}

    top = index.browse()
    assert top.level == "estate"
    assert {(i.value, i.label, i.archives) for i in top.items} == {("锦绣花园", "锦绣花园", 1), ("", "未填小区", 1)}
    assert [i.value for i in index.browse(estate="锦绣花园").items] == ["3"]
    assert [i.label for i in index.browse(estate="锦绣花园", building="3").items] == ["2单元"]
    leaf = index.browse(estate="锦绣花园", building="3", unit="2")
    assert leaf.level == "archive" and [a.room for a in leaf.archives] == ["1201"]
    assert leaf.archives[0].documents == 3 and leaf.archives[0].completeness.count == 3
    assert [a.room for a in index.browse(estate="", building="5", unit="1").archives] == ["302"]


def test_corrected_field_is_found_at_once(indexed: tuple[Index, dict[str, str]]) -> None:
    index, ids = indexed
    with index.write_engine.begin() as c:
        c.execute(update(FieldRow).where(FieldRow.document_id == ids["li_reg"], FieldRow.name == "owner_name")
                  .values(value="李娜娜"))
    index.refresh_search(ids["li_reg"])
    (hit,) = index.search("李娜娜")
    assert hit.id == ids["li_reg"] and hit.exact_match
    (hit,) = index.search("李娜")
    assert not hit.exact_match  # no field holds the old name any more; the page's text still does


def test_destroyed_document_leaves_no_search_row(indexed: tuple[Index, dict[str, str]]) -> None:
    index, ids = indexed
    index.destroy_document(ids["li_reg"], actor="a", role="archive_manager", approved_by="b", reason="test")
    assert _found(index, LI_ID[-4:]) == [] and _found(index, "高空抛物") == []
    with index.engine.connect() as c:
        assert c.scalar(select(SearchDocRow.doc_no).where(SearchDocRow.document_id == ids["li_reg"])) is None


def test_no_plaintext_id_numbers_or_phones_in_any_table(indexed: tuple[Index, dict[str, str]]) -> None:
    index, _ = indexed
    secrets = [WANG_ID, WANG_ID.lower(), LI_ID, WANG_PHONE, LI_PHONE, WANG_ID[-6:], LI_ID[-6:]]
    dump: list[str] = []
    with index.engine.connect() as c:
        for name in inspect(c).get_table_names():
            dump.extend(repr(row) for row in c.execute(text(f'SELECT * FROM "{name}"')))  # FTS tables too
    everything = "\n".join(dump)
    assert "search_docs" in inspect(index.engine).get_table_names()
    for secret in secrets:
        assert secret not in everything, secret
        assert secret.encode().hex() not in everything
    if index.dialect == "sqlite":
        index.close()
        path = Path(index.engine.url.database or "")
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        for secret in secrets:
            assert secret.encode() not in raw, secret


def test_an_index_of_search_layout_1_is_converted_on_open(db_url: str, master: MasterKey) -> None:
    index = Index(db_url, master)
    index.create_schema()
    ids = _record(index, master)
    blind: BlindIndex = index._blind
    with index.write_engine.begin() as c:  # what layout 1 wrote: one row per token, field values tokenized too
        c.execute(delete(SearchDocRow))
        c.execute(delete(MetaRow).where(MetaRow.key == "search_layout"))
        for seed, (key, (_doc_type, fields, lines, _)) in enumerate(CORPUS.items()):
            words = tokenize("\n".join([*lines, *fields.values(), f"scan_{seed:04d}"]))
            c.execute(insert(SearchTokenRow), [{"document_id": ids[key], "token_hmac": blind.token_hmac(t)}
                                               for t in words])
    index.close()
    assert not set(_found_fresh(db_url, master, "王伟"))  # nothing found before the upgrade runs

    upgraded = Index(db_url, master)
    upgraded.create_schema()  # converts: text tokens from the old HMACs, field tokens from the fields
    try:
        wang = {ids["wang_reg"], ids["wang_id"], ids["wang_contract"]}
        assert set(_found(upgraded, WANG_ID[-4:])) == wang
        assert set(_found(upgraded, "3栋2单元1201")) == wang
        assert set(_found(upgraded, "装修押金")) == {ids["wang_contract"], ids["loose"]}
        assert set(_found(upgraded, "王伟")[:3]) == wang
        with upgraded.engine.connect() as c:
            assert c.scalar(select(SearchTokenRow.document_id).limit(1)) is None
            assert c.scalar(select(MetaRow.value).where(MetaRow.key == "search_layout")) == SEARCH_LAYOUT
    finally:
        upgraded.close()


def _found_fresh(db_url: str, master: MasterKey, query: str) -> list[str]:
    """Search without create_schema (an older layout stays as it is)."""
    index = Index(db_url, master)
    try:
        return _found(index, query)
    finally:
        index.close()


def test_fts_entries_follow_their_rows(tmp_path: Path, master: MasterKey) -> None:
    index = Index(f"sqlite:///{tmp_path / 'index.sqlite3'}", master)
    index.create_schema()
    ids = _record(index, master)
    index.close()
    with closing(sqlite3.connect(tmp_path / "index.sqlite3")) as c:
        c.execute("INSERT INTO search_fts(search_fts, rank) VALUES ('integrity-check', 1)")
        assert c.execute("SELECT count(*) FROM search_docs").fetchone() == (len(ids),)


def test_text_tokens_of_ocr_text() -> None:
    tokens = text_tokens(f"身份证号码：{WANG_ID} 电话{WANG_PHONE} 3栋2单元")
    assert {"身份", "份证", f"idtail4:{WANG_ID[-4:]}", f"id:{WANG_ID}", f"phone:{WANG_PHONE}", "栋", "单元"} <= tokens
    assert "身" not in tokens  # no unigrams inside longer runs


# --------------------------------------------------------------------------- the command line


def test_dangan_search_json_keeps_its_keys(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_dangan(["keys", "init"], {"DANGAN_HOME": str(home)}).code == 0
    (home / "checklist.toml").write_text("[required]\nowner_registration = 1\n", encoding="utf-8")
    with closing(Vault.open(Settings(home=home))) as vault:
        ids = _record(vault.index, vault.keys)
        group = vault.index.search_archives("王伟").groups[0]  # the opened archive counts by its checklist
        assert group.completeness is not None and group.completeness.required == ("owner_registration",)
    env = {"DANGAN_HOME": str(home)}
    result = run_dangan(["search", WANG_ID[-4:], "--json"], env)
    assert result.code == 0, result.stderr
    hits = json.loads(result.stdout)
    assert {h["id"] for h in hits} == {ids["wang_reg"], ids["wang_id"], ids["wang_contract"]}
    old_keys = {"id", "source_name", "sha256", "doc_type", "unit", "first_page", "pages", "status", "created_at",
                "exact_match"}
    assert all(old_keys <= set(h) for h in hits)
    assert all(h["matched"][0]["kind"] == "id_tail" for h in hits)
    assert WANG_ID not in result.stdout
    result = run_dangan(["search", "王伟", "--type", "id_card", "--estate", "锦绣花园"], env)
    assert result.code == 0 and "no documents found" in result.stdout
    result = run_dangan(["search", "3栋2单元1201", "--status", "indexed", "--from", "2000-01-01"], env)
    assert result.code == 0 and "3 document(s)" in result.stdout, result.stdout
    assert run_dangan(["search", "x", "--from", "May"], env).code == 2


# --------------------------------------------------------------------------- a cold search process

#: Queries the quick path and the index must answer alike (box text, keyword filters).
_SAME_ANSWER: list[tuple[str, dict[str, object]]] = [
    ("王伟", {}), (WANG_ID, {}), (WANG_ID[-4:], {}), (WANG_PHONE, {}), ("3栋2单元1201", {}), ("3-2-1201", {}),
    ("HT-2023-0012", {}), ("装修押金", {}), ("王伟 承重墙", {}), ("", {}), ("身份证", {}), ("待审核", {}),
    ("王伟", {"doc_type": "id_card"}), ("", {"unit": OTHER_UNIT}), ("王伟", {"limit": 1}),
    ("物业", {"date_from": dt.date(2000, 1, 1), "date_to": dt.date(2999, 1, 1)}),
    ("", {"date_from": dt.date(2999, 1, 1)}), ("小区:锦绣花园", {}),
]


def test_the_driver_alone_answers_like_the_index(indexed: tuple[Index, dict[str, str]], db_url: str,
                                                 master: MasterKey, tmp_path: Path) -> None:
    index, _ = indexed
    settings = Settings(home=tmp_path, db_url=db_url)
    reader = open_reader(settings, lambda: master)
    assert reader is not None
    try:
        for query, kw in _SAME_ANSWER:
            if set(kw) <= {"doc_type", "unit", "limit"}:
                quick = reader.searcher.documents(reader.db, query, **kw)  # type: ignore[arg-type]
                assert quick == index.search(query, **kw), query  # type: ignore[arg-type]
            parsed = understand(query, filters=QueryFilters(
                date_from=kw.get("date_from"), date_to=kw.get("date_to")))  # type: ignore[arg-type]
            unit = kw.get("unit")
            grouped = reader.searcher.archives(reader.db, parsed, unit=unit)  # type: ignore[arg-type]
            assert grouped == index.search_archives(query, unit=unit, date_from=kw.get("date_from"),  # type: ignore[arg-type]
                                                    date_to=kw.get("date_to")), query  # type: ignore[arg-type]
    finally:
        reader.close()


def test_cold_search_loads_no_orm_and_is_audited(db_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"DANGAN_HOME": str(home), "DANGAN_DB_URL": db_url}
    assert run_dangan(["keys", "init"], env).code == 0
    settings = Settings(home=home, db_url=db_url)
    with closing(Vault.open(settings)) as vault:
        ids = _record(vault.index, vault.keys)
    probe = ("import sys; from flows.cli import main; rc = main(sys.argv[1:]); "
             "print('MODULES', *sorted(sys.modules), file=sys.stderr); "
             "from schemas.lazyre import LazyPattern; "
             "print('COMPILED', *(n for n, o in vars(sys.modules['schemas.validators']).items() "
             "if isinstance(o, LazyPattern) and o._compiled is not None), file=sys.stderr); "
             "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", probe, "search", WANG_ID[-4:], "--json"],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = set(next(line for line in proc.stderr.splitlines() if line.startswith("MODULES ")).split()[1:])
    # What a cold search leaves alone: the ORM, pydantic-settings, the other commands' modules and parsers.
    assert not {m for m in loaded if m.split(".")[0] in {"sqlalchemy", "pydantic_settings", "dotenv", "prefect"}}
    assert not {m for m in loaded if m.startswith("flows.cli_")}
    assert "asyncio" not in loaded and "psycopg" not in loaded  # PostgreSQL: read through psycopg2
    # Patterns are compiled when first used: none of those only reading pages need (dates, amounts, ticks).
    compiled = set(next(line for line in proc.stderr.splitlines() if line.startswith("COMPILED")).split()[1:])
    assert not compiled & {"_CN_DATE", "_TICKED_SEX", "_NUMBER", "_CN_AMOUNT", "_UPPER_AMOUNT", "_DIGITISH_RUN"}
    assert {h["id"] for h in json.loads(proc.stdout)} == {ids["wang_reg"], ids["wang_id"], ids["wang_contract"]}
    assert WANG_ID not in proc.stdout
    with closing(Vault.open(settings)) as vault:
        last = vault.index.audit_entries(limit=1)[0]
    assert (last.action, last.role, last.detail) == ("search", "local_operator",
                                                     {"hits": 3, "doc_type": None, "unit": None})


def test_the_driver_path_steps_aside_when_the_index_needs_the_full_open(tmp_path: Path) -> None:
    master = MasterKey.load_or_create(tmp_path / "master.key")
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    settings = Settings(home=tmp_path, db_url=url)
    assert open_reader(settings, lambda: master) is None  # no index yet: the full open creates it
    index = Index(url, master)
    index.create_schema()
    index.close()
    with sqlite3.connect(tmp_path / "index.sqlite3") as conn:
        keys = conn.execute("SELECT count(*) FROM archive_keys").fetchone()[0]
    if not keys:
        assert open_reader(settings, lambda: master) is None  # keys not bound yet
    index = Index(url, master)
    index.unlock()
    index.close()
    reader = open_reader(settings, lambda: master)
    assert reader is not None
    reader.close()
    other = MasterKey.generate()
    assert open_reader(settings, lambda: other) is None  # another key: the full open says what is wrong
    with closing(sqlite3.connect(tmp_path / "index.sqlite3")) as conn:
        conn.execute("UPDATE index_meta SET value = '2' WHERE key = 'search_layout'")
        conn.commit()
    assert open_reader(settings, lambda: master) is None  # an older layout: the full open upgrades it
    with closing(sqlite3.connect(tmp_path / "index.sqlite3")) as conn:
        conn.execute("UPDATE index_meta SET value = ? WHERE key = 'search_layout'", (SEARCH_LAYOUT,))
        purpose, wrapped = conn.execute("SELECT purpose, wrapped FROM archive_keys LIMIT 1").fetchone()
        conn.execute("UPDATE archive_keys SET wrapped = ? WHERE purpose = ?",
                     (wrapped[:-1] + bytes([wrapped[-1] ^ 1]), purpose))
        conn.commit()
    with pytest.raises(IntegrityError):
        open_reader(settings, lambda: master)  # an altered key record stops, as the full open does


def test_an_estate_filter_is_compared_as_archives_are_filed() -> None:
    assert QueryFilters(estate=" 锦绣 花园 ").estate == "锦绣花园"
    assert QueryFilters(estate="  ").estate is None
