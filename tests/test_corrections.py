"""Corrections of field values on the real index, SQLite and PostgreSQL: the field, the search and the record.

A correction changes the field row (plain, or HMAC + mask + ciphertext), the
document's status and its search tokens at once; it keeps who, when, old and
new (sensitive values masked, encrypted); it is put back when the same file is
recorded again; it goes with a destroyed file.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from schemas.errors import InvalidRequest, NotFound
from storage.corrections import CorrectionRow, Corrections
from storage.index import Index
from storage.keys import MasterKey
from storage.tables import DocumentRow, FileRow, PageRow
from tests.test_index import make_doc, make_id_number


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> MasterKey:
    return MasterKey.load_or_create(tmp_path_factory.mktemp("keys") / "master.key")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def index(request: pytest.FixtureRequest, tmp_path: Path, master: MasterKey) -> Iterator[Index]:
    url = (f"sqlite:///{tmp_path / 'home' / 'index.sqlite3'}" if request.param == "sqlite"
           else str(request.getfixturevalue("pg_url")))
    idx = Index(url, master)
    idx.create_schema()
    yield idx
    idx.close()


def _ids(index: Index, query: str) -> list[str]:
    return [d.id for d in index.search(query)]


def test_a_corrected_id_number_is_found_at_once_and_the_old_one_is_not(index: Index, master: MasterKey) -> None:
    doc = make_doc(31, owner="周敏")
    run = index.begin_run()
    doc_id = doc.record(index, master, run, status="needs_review")
    corrections = Corrections.open(index, master)
    right = make_id_number(random.Random(99))
    assert _ids(index, right) == []

    record = corrections.apply(doc_id, "id_number", f" {right[:6]} {right[6:]} ", actor="guanli",
                               role="archive_manager")
    assert record.kind == "corrected" and record.actor == "guanli"
    assert "*" in record.new_value and record.new_value.endswith(right[-4:])
    assert "*" in (record.old_value or "") and (record.old_value or "").endswith(doc.id_number[-4:])
    assert _ids(index, right) == [doc_id]
    assert index.reveal_fields(doc_id)["id_number"] == right
    detail = index.get_document(doc_id)
    assert "id_number" not in detail.issues and detail.confidence["id_number"] == 1.0

    with Session(index.engine) as s:  # no plain ID number anywhere in the record
        row = s.scalars(select(CorrectionRow)).one()
        assert right not in (row.new_value + (row.old_value or "")) and row.new_enc and row.old_enc

    with pytest.raises(InvalidRequest):
        corrections.apply(doc_id, "id_number", right[:17] + ("0" if right[17] != "0" else "1"), actor="guanli",
                          role="archive_manager")
    with pytest.raises(NotFound):
        corrections.apply("no-such-document", "owner_name", None, actor="guanli", role="archive_manager")


def test_accepting_every_doubtful_value_settles_the_document(index: Index, master: MasterKey) -> None:
    doc = make_doc(32, owner="李娜")  # every value read with confidence 0.9 or less: all doubtful
    doc_id = doc.record(index, master, index.begin_run(), status="needs_review")
    corrections = Corrections.open(index, master)
    names = list(index.get_document(doc_id).fields)
    for name in names:
        assert index.get_document(doc_id).status == "needs_review"
        assert corrections.apply(doc_id, name, None, actor="qiantai", role="clerk").kind == "accepted"
    assert index.get_document(doc_id).status == "indexed"
    assert [c.field for c in corrections.for_document(doc_id)] == names


def test_a_correction_is_put_back_when_the_file_is_recorded_again_and_goes_with_it(
        index: Index, master: MasterKey) -> None:
    doc = make_doc(33, owner="王芳")
    doc_id = doc.record(index, master, index.begin_run())
    Corrections.open(index, master).apply(doc_id, "owner_name", "王 芳芳", actor="guanli", role="archive_manager")
    with Session(index.write_engine) as s, s.begin():  # an index that lost the file's rows
        file_id = s.scalar(select(DocumentRow.file_id).where(DocumentRow.id == doc_id))
        s.execute(delete(PageRow).where(PageRow.file_id == file_id))
        s.execute(delete(DocumentRow).where(DocumentRow.file_id == file_id))
        s.execute(delete(FileRow).where(FileRow.id == file_id))
    again = doc.record(index, master, index.begin_run())
    assert again != doc_id
    assert index.get_document(again).fields["owner_name"] == "王芳芳"
    assert _ids(index, "王芳芳") == [again]

    index.destroy_document(again, actor="guanli", role="archive_manager", approved_by="lingdao", reason="test")
    with Session(index.engine) as s:
        assert s.scalars(select(CorrectionRow)).all() == []
