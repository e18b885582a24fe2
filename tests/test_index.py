"""SQL index on SQLite and PostgreSQL: record, idempotency, blind search, no plaintext, races, estates."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from schemas.documents import DocType
from schemas.errors import ConfigError, IndexUnavailable, InvalidRequest, KeyDestroyed, NotFound
from schemas.models import (
    Extraction,
    FieldValue,
    FileKind,
    OcrLine,
    OcrPage,
    SourceFile,
    StoredObject,
    UnitRef,
)
from schemas.validators import id_check_digit
from storage.crypto import DataKey, WrappedKey, wrap_key
from storage.index import Index
from storage.keys import MasterKey
from storage.objects import ocr_key, original_key
from storage.tables import ArchiveRow, Base, DataKeyRow, DocumentRow, FieldRow, PageRow, SearchTokenRow

# --------------------------------------------------------------------------- synthetic documents


def make_id_number(rng: random.Random) -> str:
    """A checksum-valid 18-character resident ID number."""
    born = f"{rng.randint(1950, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    first17 = f"110105{born}{rng.randint(0, 999):03d}"
    return first17 + id_check_digit(first17)


def make_phone(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}"


@dataclass(frozen=True)
class Doc:
    """One synthetic document and the values recorded from it."""

    source: SourceFile
    extraction: Extraction
    pages: tuple[OcrPage, ...]
    owner: str
    id_number: str
    phone: str
    address: str
    lines: tuple[str, ...]
    #: The unit a clerk filed it under (ID cards print none).
    filed_unit: UnitRef | None = None

    def record(self, index: Index, master: MasterKey, run_id: str, *, status: str = "indexed") -> str:
        wrapped = wrap_key(DataKey.generate(master), master)
        return self.record_with(index, wrapped, run_id, status=status)

    def record_with(self, index: Index, wrapped: WrappedKey, run_id: str, *, status: str = "indexed") -> str:
        sha = self.source.sha256
        original = StoredObject(key=original_key(sha), size=self.source.size + 58, key_id=wrapped.dek_id)
        ocr = StoredObject(key=ocr_key(sha), size=1000, key_id=wrapped.dek_id)
        return index.record_document(source=self.source, extraction=self.extraction, pages=self.pages,
                                     original=original, ocr=ocr, data_key=wrapped, run_id=run_id,
                                     status=status, unit=self.filed_unit)


def make_doc(seed: int, *, owner: str, doc_type: DocType = DocType.OWNER_REGISTRATION,
             unit: UnitRef | None = None, extra_line: str = "") -> Doc:
    rng = random.Random(seed)
    id_number, phone = make_id_number(rng), make_phone(rng)
    address = f"北京市东城区和平里街道{rng.randint(1, 99)}号院{rng.randint(1, 9)}号楼"
    unit = unit or UnitRef(building=str(rng.randint(1, 20)), unit=str(rng.randint(1, 4)),
                           room=str(rng.randint(101, 2804)))
    lines = (
        f"业主入住登记表 编号{seed:06d}",
        f"业主姓名：{owner}  联系电话：{phone}",
        f"身份证号码：{id_number}",
        f"户籍地址：{address}",
        f"房号：{unit.building}栋{unit.unit}单元{unit.room}室  入住日期：2019年5月{rng.randint(1, 28)}日",
        extra_line or "本人承诺遵守物业管理公约，按时缴纳物业服务费。",
    )
    page = OcrPage(index=0, engine="rapidocr", width=2480, height=3508,
                   lines=tuple(OcrLine(text=t, box=(100, 100 + 80 * i, 2000, 160 + 80 * i), confidence=0.93)
                               for i, t in enumerate(lines)))
    values = {"owner_name": owner, "id_number": id_number, "phone": phone, "building": unit.building,
              "unit": unit.unit, "room": unit.room, "move_in_date": "2019-05-01"}
    if doc_type == DocType.ID_CARD:
        values = {"name": owner, "id_number": id_number, "address": address, "sex": "男"}
    fields = {k: FieldValue(name=k, value=v, confidence=0.6 if k == "phone" else 0.9)
              for k, v in values.items()}
    sha = hashlib.sha256(f"doc-{seed}".encode()).hexdigest()
    name = f"scan_{seed:05d}.pdf"
    source = SourceFile(path=Path("scans") / name, name=name, size=100_000 + seed, sha256=sha,
                        kind=FileKind.PDF, page_count=1)
    extraction = Extraction(doc_type=doc_type, doc_type_confidence=0.88, fields=fields)
    return Doc(source=source, extraction=extraction, pages=(page,), owner=owner, id_number=id_number,
               phone=phone, address=address, lines=lines,
               filed_unit=unit if doc_type == DocType.ID_CARD else None)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> MasterKey:
    return MasterKey.load_or_create(tmp_path_factory.mktemp("keys") / "master.key")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'index.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def index(db_url: str, master: MasterKey) -> Iterator[Index]:
    idx = Index(db_url, master)
    idx.create_schema()
    yield idx
    idx.close()


def count(index: Index, table: type[Base]) -> int:
    engine = create_engine(_url_of(index))
    try:
        with engine.connect() as c:
            return int(c.scalar(select(func.count()).select_from(table)) or 0)
    finally:
        engine.dispose()


def _url_of(index: Index) -> str:
    return index._engine.url.render_as_string(hide_password=False)


# --------------------------------------------------------------------------- record and read


def test_record_and_read_back(index: Index, master: MasterKey) -> None:
    unit = UnitRef(building="3", unit="2", room="1201")
    doc = make_doc(1, owner="王伟", unit=unit)
    run_id = index.begin_run()
    doc_id = doc.record(index, master, run_id)

    detail = index.get_document(doc_id)
    assert detail.sha256 == doc.source.sha256
    assert detail.source_name == "scan_00001.pdf"
    assert detail.doc_type == "owner_registration"
    assert detail.unit == unit
    assert detail.pages == 1
    assert detail.page_info[0].line_count == len(doc.lines)
    assert detail.fields["owner_name"] == "王伟"
    assert detail.fields["id_number"] == doc.id_number[:6] + "********" + doc.id_number[-4:]
    assert detail.fields["phone"] == doc.phone[:3] + "****" + doc.phone[-4:]
    assert detail.confidence["phone"] == pytest.approx(0.6)
    assert detail.status == "indexed"
    assert detail.original_key == original_key(doc.source.sha256)
    assert detail.run_id == run_id
    assert index.wrapped_key(detail.dek_id).dek_id == detail.dek_id

    assert index.reveal_fields(doc_id) == {"id_number": doc.id_number, "phone": doc.phone}
    record = detail.export_record(index.reveal_fields(doc_id))
    assert set(record) == {"id", "source_name", "sha256", "doc_type", "unit", "unit_source", "first_page", "pages",
                           "page_indices", "fields",
                           "confidence", "status", "issues"}
    assert record["issues"] == detail.issues
    assert record["unit"] == {"building": "3", "unit": "2", "room": "1201"}
    assert record["unit_source"] == "ocr"  # read from the page, not given by a folder path
    assert record["fields"]["id_number"] == doc.id_number

    index.finish_run(run_id, {"documents": 1, "pages": 1}, "completed")
    assert [d.id for d in index.iter_documents()] == [doc_id]
    with pytest.raises(NotFound):
        index.get_document("no-such-id")


def test_record_is_idempotent_on_sha256(index: Index, master: MasterKey) -> None:
    doc = make_doc(2, owner="李娜")
    run_id = index.begin_run()
    first = doc.record(index, master, run_id)
    assert index.find_by_sha256(doc.source.sha256) == [first]
    assert doc.record(index, master, run_id) == first
    assert count(index, DocumentRow) == 1
    assert count(index, DataKeyRow) == 1  # the second data key was not stored
    assert index.find_by_sha256("0" * 64) == []


def test_one_active_archive_per_unit(index: Index, master: MasterKey) -> None:
    unit = UnitRef(building="5", unit="1", room="0302")
    run_id = index.begin_run()
    a = make_doc(3, owner="张敏", unit=unit).record(index, master, run_id)
    b = make_doc(4, owner="张敏", unit=unit, doc_type=DocType.ID_CARD).record(index, master, run_id)
    assert index.get_document(a).archive_id == index.get_document(b).archive_id is not None


def test_documents_are_read_together_as_one_by_one(index: Index, master: MasterKey) -> None:
    run_id = index.begin_run()
    ids = [make_doc(20 + i, owner=owner).record(index, master, run_id) for i, owner in enumerate(("王芳", "刘洋"))]
    together = index.get_documents([*reversed(ids), "no-such-id", ids[0]])
    assert set(together) == set(ids)  # the unknown id is left out, a repeated one read once
    assert all(together[i] == index.get_document(i) for i in ids)
    assert index.get_documents([]) == {}


# --------------------------------------------------------------------------- search


@pytest.fixture
def corpus(index: Index, master: MasterKey) -> dict[str, Doc]:
    docs = {
        "wangwei": make_doc(10, owner="王伟", unit=UnitRef(building="3", unit="2", room="1201")),
        "wangweiming": make_doc(11, owner="王伟明", unit=UnitRef(building="3", unit="2", room="1202")),
        "wangwei_id": make_doc(12, owner="王伟", doc_type=DocType.ID_CARD,
                               unit=UnitRef(building="3", unit="2", room="1201")),
        "liuyang": make_doc(13, owner="刘洋", extra_line="装修期间不得改动承重墙 施工单位：鑫达装饰"),
        "chenjing": make_doc(14, owner="陈静"),
    }
    run_id = index.begin_run()
    for doc in docs.values():
        doc.record(index, master, run_id)
    return docs


def _ids(index: Index, docs: dict[str, Doc], *names: str) -> set[str]:
    return {(index.find_by_sha256(docs[n].source.sha256) or [""])[0] for n in names}


def test_search_name_ranks_exact_match_first(index: Index, corpus: dict[str, Doc]) -> None:
    hits = index.search("王伟")
    exact = _ids(index, corpus, "wangwei", "wangwei_id")
    assert {h.id for h in hits[:2]} == exact
    assert all(h.exact_match for h in hits[:2])
    assert [h.exact_match for h in hits[2:]] == [False] * (len(hits) - 2)
    assert {h.id for h in hits} == exact | _ids(index, corpus, "wangweiming")

    assert {h.id for h in index.search("王伟明")} == _ids(index, corpus, "wangweiming")
    assert index.search("王伟明")[0].exact_match


def test_search_id_number_exactly(index: Index, corpus: dict[str, Doc]) -> None:
    number = corpus["liuyang"].id_number
    for query in (number, number.lower(), f"{number[:6]} {number[6:14]} {number[14:]}"):
        hits = index.search(query)
        assert [h.id for h in hits] == list(_ids(index, corpus, "liuyang")), query
        assert hits[0].exact_match
    assert index.search(number[:-1] + ("0" if number[-1] != "0" else "1")) == []


def test_search_phone_exactly(index: Index, corpus: dict[str, Doc]) -> None:
    phone = corpus["chenjing"].phone
    for query in (phone, f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", f"+86 {phone}"):
        assert [h.id for h in index.search(query)] == list(_ids(index, corpus, "chenjing")), query


def test_search_ocr_text_and_filters(index: Index, corpus: dict[str, Doc]) -> None:
    assert {h.id for h in index.search("承重墙")} == _ids(index, corpus, "liuyang")
    assert {h.id for h in index.search("鑫达装饰 承重墙")} == _ids(index, corpus, "liuyang")
    assert index.search("承重墙 王伟") == []  # tokens are AND-ed
    assert index.search("不存在的词") == []

    id_cards = index.search("王伟", doc_type="id_card")
    assert {h.id for h in id_cards} == _ids(index, corpus, "wangwei_id")
    unit = UnitRef(building="3", unit="2", room="1201")
    in_unit = index.search("王伟", unit=unit)
    assert {h.id for h in in_unit} == _ids(index, corpus, "wangwei", "wangwei_id")
    assert all(h.unit == unit for h in in_unit)
    assert {h.id for h in index.search("", unit=unit)} == _ids(index, corpus, "wangwei", "wangwei_id")
    assert len(index.search("", limit=3)) == 3


# --------------------------------------------------------------------------- no plaintext anywhere


def test_no_sensitive_value_or_ocr_line_in_any_table(index: Index, corpus: dict[str, Doc],
                                                     master: MasterKey) -> None:
    doc_id = index.find_by_sha256(corpus["wangwei"].source.sha256)[0]
    index.audit("clerk1", "clerk", "reveal", doc_id,
                {"note": f"owner asked; phone {corpus['wangwei'].phone}", "id": corpus["wangwei"].id_number})
    from storage.corrections import Corrections

    corrected = make_id_number(random.Random(77))  # a correction keeps the old and the new number, never in plain
    Corrections.open(index, master).apply(doc_id, "id_number", corrected, actor="guanli", role="archive_manager")
    engine = create_engine(_url_of(index))
    dump: list[str] = []
    with engine.connect() as c:
        for table in Base.metadata.sorted_tables:
            rows = c.execute(select(table)).all()
            # search_tokens: layout-1 search rows, only in indexes made before search layout 2
            # users, sessions and sign-ins: the service's, empty in an archive that only ingested;
            # the registers of owners' requests and loans (tests/test_requests.py, tests/test_loans.py);
            # retention, holds and destruction (tests/test_destruction.py, tests/test_retention.py)
            assert rows or table.name in {"ingest_runs", "audit_log", "search_tokens", "users", "user_sessions",
                                          "user_tokens", "sign_in_failures", "sign_in_locks", "subject_requests",
                                          "loans", "archive_retention", "legal_holds", "destruction_requests",
                                          "destruction_records"}, table.name
            dump.extend(f"{table.name}: {row!r}" for row in rows)
    engine.dispose()
    everything = "\n".join(dump)
    for doc in corpus.values():
        for secret in (doc.id_number, doc.id_number.lower(), doc.phone, doc.address, *doc.lines, corrected):
            assert secret not in everything
            assert secret.encode().hex() not in everything  # nor as a bytes literal
    assert "王伟" in everything  # the scan itself works: non-sensitive names are stored plainly


def test_sqlite_file_holds_no_sensitive_bytes(tmp_path: Path, master: MasterKey) -> None:
    index = Index(f"sqlite:///{tmp_path / 'index.sqlite3'}", master)
    index.create_schema()
    doc = make_doc(20, owner="赵磊")
    doc.record(index, master, index.begin_run())
    index.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("index.sqlite3*"))
    for secret in (doc.id_number, doc.phone, doc.address, *doc.lines):
        assert secret.encode() not in raw
    assert "赵磊".encode() in raw


# --------------------------------------------------------------------------- races


def test_concurrent_record_of_same_file_gives_one_row(index: Index, master: MasterKey) -> None:
    doc = make_doc(30, owner="孙丽", unit=UnitRef(building="9", unit="1", room="101"))
    run_id = index.begin_run()
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        wrapped = wrap_key(DataKey.generate(master), master)
        barrier.wait()
        try:
            results.append(doc.record_with(index, wrapped, run_id))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(results) == 2 and results[0] == results[1]
    assert count(index, DocumentRow) == 1
    assert count(index, DataKeyRow) == 1
    detail = index.get_document(results[0])
    index.wrapped_key(detail.dek_id)  # the surviving document points at the stored key


def test_concurrent_documents_of_one_unit_share_one_archive(index: Index, master: MasterKey) -> None:
    unit = UnitRef(building="8", unit="2", room="602")
    docs = [make_doc(40 + i, owner="周杰", unit=unit) for i in range(4)]
    run_id = index.begin_run()
    barrier = threading.Barrier(len(docs))
    ids: list[str] = []

    def worker(doc: Doc) -> None:
        barrier.wait()
        ids.append(doc.record(index, master, run_id))

    threads = [threading.Thread(target=worker, args=(d,)) for d in docs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(set(ids)) == 4
    assert len({index.get_document(i).archive_id for i in ids}) == 1


def test_failure_mid_record_leaves_nothing_behind(index: Index, master: MasterKey,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    doc = make_doc(35, owner="郑爽", unit=UnitRef(building="7", unit="1", room="701"))

    def crash(*args: object, **kwargs: object) -> set[str]:
        raise IndexUnavailable("connection lost (injected)")

    # documents, archive, data key, pages and fields are already flushed when tokens are computed
    monkeypatch.setattr(Index, "_document_tokens", crash)
    with pytest.raises(IndexUnavailable):
        doc.record(index, master, index.begin_run())
    monkeypatch.undo()
    for table in (DocumentRow, DataKeyRow, SearchTokenRow, ArchiveRow, FieldRow, PageRow):
        assert count(index, table) == 0, table.__tablename__
    assert doc.record(index, master, index.begin_run())  # and the retry succeeds


# --------------------------------------------------------------------------- audit, destruction, failures


def test_audit_log_masks_personal_data(index: Index) -> None:
    index.audit("alice", "leader", "export", None, {"query": "13812345678", "count": 3,
                                                    "ids": ["11010519491231002X"]})
    (entry,) = index.audit_entries()
    assert entry.actor == "alice" and entry.action == "export"
    assert entry.detail == {"query": "138****5678", "count": 3, "ids": ["110105********002X"]}


def test_destroy_document_shreds_key_and_rows(index: Index, master: MasterKey) -> None:
    doc = make_doc(50, owner="吴刚")
    doc_id = doc.record(index, master, index.begin_run())
    dek_id = index.get_document(doc_id).dek_id
    index.destroy_document(doc_id, actor="admin1", role="admin", approved_by="manager1",
                           reason="former owner, kept 3 years")
    with pytest.raises(KeyDestroyed):
        index.data_key(dek_id)
    with pytest.raises(NotFound):
        index.get_document(doc_id)
    assert index.search("吴刚") == []
    assert count(index, SearchTokenRow) == 0
    (entry,) = index.audit_entries(document_id=doc_id)
    assert entry.action == "destroy"
    assert entry.detail is not None and entry.detail["approved_by"] == "manager1"


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "postgresql"])
def test_unreachable_postgres_is_index_unavailable(master: MasterKey, scheme: str) -> None:
    index = Index(f"{scheme}://postgres@127.0.0.1:1/nothing", master)
    started = time.monotonic()
    with pytest.raises(IndexUnavailable) as info:
        index.find_by_sha256("0" * 64)
    assert time.monotonic() - started < 10
    assert info.value.retryable
    assert "DANGAN_DB_URL" in info.value.message


def test_unwritable_sqlite_is_index_unavailable(tmp_path: Path, master: MasterKey) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(IndexUnavailable):
        Index(f"sqlite:///{blocker / 'index.sqlite3'}", master).create_schema()


# --------------------------------------------------------------------------- scale


def _fill(index: Index, master: MasterKey, n: int) -> float:
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
    rng = random.Random(7)
    run_id = index.begin_run()
    started = time.perf_counter()
    for i in range(n):
        owner = rng.choice(surnames) + rng.choice(given) + (rng.choice(given) if rng.random() < 0.5 else "")
        make_doc(1000 + i, owner=owner, doc_type=rng.choice([DocType.OWNER_REGISTRATION, DocType.ID_CARD])
                 ).record(index, master, run_id)
    return time.perf_counter() - started


def _search_latency(index: Index, queries: list[str], rounds: int = 5) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        for q in queries:
            index.search(q)
    return (time.perf_counter() - started) / (rounds * len(queries))


@pytest.mark.parametrize("n", [200, pytest.param(1000, marks=pytest.mark.slow)])
def test_search_latency(index: Index, master: MasterKey, n: int) -> None:
    fill_s = _fill(index, master, n)
    probe = make_doc(1000 + n // 2, owner="x")
    queries = ["王伟", "李娜", "物业管理公约", "和平里 3号楼", probe.id_number, probe.phone, "王"]
    latency = _search_latency(index, queries)
    print(f"\n{index.dialect}: {n} documents recorded in {fill_s:.1f} s "
          f"({fill_s / n * 1000:.1f} ms each); search mean {latency * 1000:.1f} ms")
    assert [h.exact_match for h in index.search(probe.id_number)] == [True]
    assert latency < 0.5


def test_flagged_field_is_exported_with_its_issue(index: Index, master: MasterKey) -> None:
    doc = make_doc(77, owner="李娜")
    bad_id = doc.id_number[:-1] + ("0" if doc.id_number[-1] != "0" else "1")
    fields = {**doc.extraction.fields, "id_number": FieldValue(
        name="id_number", value=bad_id, confidence=0.9, valid=False, issue="ID number checksum fails")}
    flagged = Doc(**{**doc.__dict__, "extraction": doc.extraction.model_copy(update={"fields": fields})})
    doc_id = flagged.record(index, master, index.begin_run(), status="needs_review")
    record = index.get_document(doc_id).export_record()
    assert record["status"] == "needs_review"
    assert record["issues"] == {"id_number": "ID number checksum fails"}
    assert bad_id not in str(record)


def _folder_file(seed: int) -> tuple[SourceFile, list[Extraction], tuple[OcrPage, ...]]:
    """A 4-page owner folder: registration (page 0), a blank back (page 1), an ID copy (pages 2-3)."""
    reg, card = make_doc(seed, owner="郑爽"), make_doc(seed + 1, owner="郑爽", doc_type=DocType.ID_CARD)
    pages = (reg.pages[0], OcrPage(index=1, engine="rapidocr", width=2480, height=3508, blank=True),
             card.pages[0].model_copy(update={"index": 2}), card.pages[0].model_copy(update={"index": 3}))
    source = reg.source.model_copy(update={"page_count": 4})
    documents = [reg.extraction.model_copy(update={"page_indices": (0,)}),
                 card.extraction.model_copy(update={"page_indices": (2, 3)})]
    return source, documents, pages


def test_file_with_several_documents(index: Index, master: MasterKey) -> None:
    source, documents, pages = _folder_file(60)
    wrapped = wrap_key(DataKey.generate(master), master)
    sha = source.sha256
    original = StoredObject(key=original_key(sha), size=5000, key_id=wrapped.dek_id)
    ocr = StoredObject(key=ocr_key(sha), size=1000, key_id=wrapped.dek_id)
    run_id = index.begin_run()
    ids = index.record_file(source=source, documents=documents, pages=pages, original=original, ocr=ocr,
                            data_key=wrapped, run_id=run_id, statuses=["indexed", "needs_review"])
    assert len(ids) == 2 and index.find_by_sha256(sha) == ids
    again = index.record_file(source=source, documents=documents, pages=pages, original=original, ocr=ocr,
                              data_key=wrap_key(DataKey.generate(master), master), run_id=run_id,
                              statuses=["indexed", "needs_review"])
    assert again == ids and count(index, DocumentRow) == 2 and count(index, DataKeyRow) == 1
    reg, card = (index.get_document(i) for i in ids)
    assert (reg.first_page, reg.pages, [p.index for p in reg.page_info]) == (0, 1, [0])
    assert (card.first_page, card.pages, [p.index for p in card.page_info]) == (2, 2, [2, 3])
    assert reg.sha256 == card.sha256 == sha and reg.source_name == card.source_name
    assert reg.dek_id == card.dek_id and card.status == "needs_review"
    assert [d.export_record()["first_page"] for d in index.iter_documents()] == [0, 2]
    assert count(index, PageRow) == 4  # the blank page is kept, in no document
    hits = index.search("郑爽", doc_type="id_card")
    assert [h.id for h in hits] == [ids[1]] and hits[0].first_page == 2


def test_destroying_a_document_destroys_its_file(index: Index, master: MasterKey) -> None:
    source, documents, pages = _folder_file(70)
    wrapped = wrap_key(DataKey.generate(master), master)
    sha = source.sha256
    ids = index.record_file(
        source=source, documents=documents, pages=pages, data_key=wrapped, run_id=index.begin_run(),
        original=StoredObject(key=original_key(sha), size=5000, key_id=wrapped.dek_id),
        ocr=StoredObject(key=ocr_key(sha), size=1000, key_id=wrapped.dek_id), statuses=["indexed", "indexed"])
    destroyed = index.destroy_document(ids[1], actor="admin1", role="admin", approved_by="manager1",
                                       reason="owner changed")
    assert destroyed == ids
    for doc_id in ids:
        with pytest.raises(NotFound):
            index.get_document(doc_id)
        (entry,) = index.audit_entries(document_id=doc_id)
        assert entry.action == "destroy" and entry.detail is not None
        assert entry.detail["documents_of_file"] == 2
    with pytest.raises(KeyDestroyed):
        index.data_key(wrapped.dek_id)
    assert count(index, PageRow) == 0 and count(index, FieldRow) == 0


def test_index_of_an_older_layout_is_refused(tmp_path: Path, master: MasterKey) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE documents (id VARCHAR(36) PRIMARY KEY, sha256 VARCHAR(64) UNIQUE)")
    engine.dispose()
    with pytest.raises(ConfigError, match="older dangan"):
        Index(url, master).create_schema()


def _registration_then_card(index: Index, master: MasterKey, seed: int, owner: str, card_name: str,
                            room: str) -> tuple[Doc, str, str]:
    """A registration form, then an ID copy of the same ID number read as ``card_name``, in one unit."""
    unit = UnitRef(building="8", unit="1", room=room)
    run_id = index.begin_run()
    reg = make_doc(seed, owner=owner, unit=unit)
    first = reg.record(index, master, run_id)
    card = make_doc(seed + 1, owner=card_name, doc_type=DocType.ID_CARD, unit=unit)
    card_fields = dict(card.extraction.fields)
    card_fields["id_number"] = card_fields["id_number"].model_copy(update={"value": reg.id_number})
    card = Doc(**{**card.__dict__, "extraction": card.extraction.model_copy(update={"fields": card_fields})})
    return reg, first, card.record(index, master, run_id)


def test_archive_cross_check_flags_both_documents(index: Index, master: MasterKey) -> None:
    reg, first, second = _registration_then_card(index, master, 80, "钱进", "钱近", "0501")
    new, old = index.get_document(second), index.get_document(first)
    assert new.status == "needs_review" and new.issues["name"].startswith("disagrees")
    assert old.status == "needs_review" and old.issues["owner_name"].startswith("disagrees")
    assert reg.id_number not in str(old.issues) + str(new.issues)


def test_archive_cross_check_agreeing_documents_stay_indexed(index: Index, master: MasterKey) -> None:
    _, first, second = _registration_then_card(index, master, 82, "孙悦", "孙悦", "0502")
    assert index.get_document(first).status == index.get_document(second).status == "indexed"


# --------------------------------------------------------------------------- archives by estate (小区)

JINXIU = "锦绣花园"
YANGGUANG = "阳光花园"
#: The index's own unique index as dangan made it before archives were filed by estate.
OLD_UNIT_INDEX = ("CREATE UNIQUE INDEX uq_archives_active_unit ON archives (building, unit, room) "
                  "WHERE status = 'active'")


def _unit(estate: str | None = None, room: str = "1201") -> UnitRef:
    return UnitRef(building="3", unit="2", room=room, estate=estate)


class Filer:
    """Records synthetic registration forms under a given unit, as the ingest does after reading them."""

    def __init__(self, index: Index, master: MasterKey) -> None:
        self.index = index
        self.master = master
        self.run_id = index.begin_run()
        self.seed = 100

    def file(self, unit: UnitRef, owner: str = "王伟") -> str:
        """Record one document filed under ``unit`` (its estate included); returns its archive id."""
        self.seed += 1
        doc = Doc(**{**make_doc(self.seed, owner=owner, unit=unit).__dict__, "filed_unit": unit})
        doc_id = doc.record(self.index, self.master, self.run_id)
        archive = self.index.get_document(doc_id).archive_id
        assert archive is not None
        return archive


def unit_index_sql(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            if engine.dialect.name == "postgresql":
                sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_archives_active_unit'"
            else:
                sql = "SELECT sql FROM sqlite_master WHERE name = 'uq_archives_active_unit'"
            return str(c.scalar(text(sql)))
    finally:
        engine.dispose()


def make_unit_index_old(url: str) -> None:
    """Give an index the unique index of the layout before estates (one active archive per building-unit-room)."""
    engine = create_engine(url)
    try:
        with engine.begin() as c:
            c.exec_driver_sql("DROP INDEX uq_archives_active_unit")
            c.exec_driver_sql(OLD_UNIT_INDEX)
    finally:
        engine.dispose()
    assert "estate" not in unit_index_sql(url).lower()


# --------------------------------------------------------------------------- which archive


def test_two_estates_with_the_same_unit_get_two_archives(index: Index, master: MasterKey) -> None:
    filer = Filer(index, master)
    jinxiu = filer.file(_unit(JINXIU), owner="王伟")
    yangguang = filer.file(_unit(YANGGUANG), owner="李娜")
    assert jinxiu != yangguang
    assert filer.file(_unit(" 锦绣 花园 ")) == jinxiu  # spaces in the name are no other estate

    hits = index.search("小区:锦绣花园")
    assert len(hits) == 2 and {(h.archive_id, h.estate) for h in hits} == {(jinxiu, JINXIU)}
    assert str(hits[0].unit) == "3-2-1201" and index.get_document(hits[0].id).estate == JINXIU
    assert {h.archive_id for h in index.search("锦绣花园3栋2单元1201")} == {jinxiu}
    assert {h.archive_id for h in index.search("李娜")} == {yangguang}

    top = index.browse()
    assert {(i.value, i.archives) for i in top.items} == {(JINXIU, 1), (YANGGUANG, 1)}
    leaf = index.browse(estate=JINXIU, building="3", unit="2")
    assert [(a.id, a.room, a.estate, a.documents) for a in leaf.archives] == [(jinxiu, "1201", JINXIU, 2)]


def test_a_unit_without_estate_goes_to_the_units_only_archive(index: Index, master: MasterKey) -> None:
    filer = Filer(index, master)
    jinxiu = filer.file(_unit(JINXIU))
    # the one 3-2-1201 there is, whatever its estate; found by that estate
    assert filer.file(_unit(None), owner="赵磊") == jinxiu
    assert {h.archive_id for h in index.search("赵磊 小区:锦绣花园")} == {jinxiu}
    # two estates hold a 3-2-1201: a scan that names none cannot say which, so it goes to the archive without one
    yangguang = filer.file(_unit(YANGGUANG))
    nowhere = filer.file(_unit(None), owner="孙丽")
    assert nowhere not in (jinxiu, yangguang)
    assert filer.file(_unit(None), owner="孙丽") == nowhere
    assert filer.file(_unit(JINXIU)) == jinxiu
    assert [i.value for i in index.browse().items if i.value == ""] == [""]  # 未填小区 lists it
    # another unit of the same building is another archive
    assert filer.file(_unit(None, room="1202")) not in (jinxiu, yangguang, nowhere)


def test_an_estate_does_not_take_over_the_units_archive_without_one(index: Index, master: MasterKey) -> None:
    filer = Filer(index, master)
    before = filer.file(_unit(None))  # e.g. filed before the folders named the estate
    jinxiu = filer.file(_unit(JINXIU))
    assert jinxiu != before
    assert filer.file(_unit(None)) == before  # two archives of the unit now: the one without an estate
    assert index.get_document(index.search("小区:锦绣花园")[0].id).archive_id == jinxiu

    # a person files the older archive under its estate; it may not become the estate's second 3-2-1201
    with pytest.raises(InvalidRequest, match="set one of the two aside"):
        index.set_archive_estate(before, JINXIU)
    index.set_archive_estate(before, f" {YANGGUANG}")
    assert {h.archive_id for h in index.search("小区:阳光花园")} == {before}
    assert filer.file(_unit(YANGGUANG)) == before


# --------------------------------------------------------------------------- an index made before estates


def test_an_index_made_before_estates_is_upgraded_on_open(db_url: str, master: MasterKey) -> None:
    index = Index(db_url, master)
    index.create_schema()
    try:
        filer = Filer(index, master)
        before = filer.file(_unit(None))
    finally:
        index.close()
    make_unit_index_old(db_url)

    # three processes open it at once: each may find the old index; it is replaced once, and all open
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def open_it() -> None:
        idx = Index(db_url, master)
        try:
            start.wait()
            idx.create_schema()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            idx.close()

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert "coalesce(estate" in unit_index_sql(db_url).lower()

    index = Index(db_url, master)
    index.create_schema()  # current now: nothing to do
    try:
        filer = Filer(index, master)
        assert filer.file(_unit(None)) == before  # the older archive keeps its documents and its unit
        jinxiu = filer.file(_unit(JINXIU))
        yangguang = filer.file(_unit(YANGGUANG))
        assert len({before, jinxiu, yangguang}) == 3
    finally:
        index.close()


def test_a_benchmark_index_without_the_unique_index_is_left_so(db_url: str, master: MasterKey) -> None:
    index = Index(db_url, master)
    index.create_schema()
    index.close()
    engine = create_engine(db_url)
    with engine.begin() as c:
        c.exec_driver_sql("DROP INDEX uq_archives_active_unit")
    engine.dispose()
    index = Index(db_url, master)
    try:
        index.create_schema()
    finally:
        index.close()
    assert unit_index_sql(db_url) == "None"
