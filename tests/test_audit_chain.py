"""The audit log's hash chain and its anchors, on SQLite and PostgreSQL.

The attacker of these tests holds the database (any row, column or index of
it) but not the master key. Every change they can make (alter a value,
remove, insert or reorder events, recompute the chain without the key, clear
the hashes so that an upgrade chains them again) is caught by ``audit
verify``, which names the first bad event; removing the newest events is
caught by the anchors. Appends from two processes keep one chain, and a log
written before the chain existed is chained when its index is opened.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from schemas.errors import ExitCode, OutputUnwritable
from schemas.settings import Settings
from storage.auditlog import (
    GENESIS,
    MARKER,
    Anchor,
    ChainReport,
    StoredEvent,
    anchor_after_batch,
    canonical,
    chain_key,
    chain_unchained,
    read_anchors,
    write_anchor,
)
from storage.dbapi import Db
from storage.index import Index
from storage.keys import MasterKey, read_archive_keys
from storage.searchsql import open_reader
from storage.vault import Vault
from tests.e2e import ensure_master_key, run_dangan
from tests.test_index import db_url as db_url  # the fixture: SQLite, and PostgreSQL (integration)
from tests.test_index import make_doc
from web.access import Role
from web.app import create_app

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "a long test password"
#: Events of the test log; it is anchored at its last one.
EVENTS = 12
ACTIONS = ("search", "view_document", "download_original", "export", "correct_field", "view_page_image")


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "master.key"
    MasterKey.load_or_create(path)
    return path


@pytest.fixture
def index(db_url: str, key_file: Path) -> Iterator[Index]:
    idx = Index(db_url, MasterKey.load(key_file))
    idx.create_schema()
    idx.unlock()
    yield idx
    idx.close()


@pytest.fixture
def anchors(tmp_path: Path) -> Path:
    return tmp_path / "anchors.jsonl"


@pytest.fixture
def log(index: Index, anchors: Path) -> list[int]:
    """A log of :data:`EVENTS` varied events, anchored at its last; their ids."""
    for i in range(EVENTS):
        index.audit(f"user{i % 3}", ("clerk", "auditor", "leadership")[i % 3], ACTIONS[i % len(ACTIONS)],
                    f"doc-{i:04d}", {"n": i, "purpose": f"核对 {i}", "phone": "13812345678"},
                    outcome="refused" if i % 5 == 4 else None)
    index.anchor_audit(anchors)
    ids = [e.id for e in reversed(index.audit_entries(limit=EVENTS))]
    assert ids == list(range(1, EVENTS + 1))
    return ids


def sql(index: Index, statement: str, **params: Any) -> None:
    """Change the database as someone with access to it (outside dangan)."""
    with index.write_engine.begin() as conn:
        conn.execute(text(statement), params)


def json_value(index: Index) -> str:
    return "CAST(:detail AS JSON)" if index.dialect == "postgresql" else ":detail"


def stamp(index: Index, at: dt.datetime) -> Any:
    """A time as the database takes it (SQLite: the UTC text dangan writes)."""
    if index.dialect == "sqlite":
        return at.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return at


def verify(index: Index, anchors: Path | None = None) -> ChainReport:
    """Verify five events at a time, so that every walk crosses batches."""
    return index.verify_audit(anchors, batch=5)


def stored(index: Index) -> list[StoredEvent]:
    """Every event as stored, in id order (what an attacker reads to recompute hashes)."""
    return [StoredEvent(id=e.id, at=e.at, actor=e.actor, role=e.role, action=e.action, document_id=e.document_id,
                        purpose=e.purpose, outcome=e.outcome, detail=e.detail, prev_hash=e.prev_hash, hash=e.hash)
            for e in reversed(index.audit_entries(limit=100_000))]


def assert_broken_at(report: ChainReport, event_id: int, kind: str) -> None:
    assert not report.intact, report
    assert report.problem is not None
    assert (report.problem.event_id, report.problem.kind) == (event_id, kind), report.problem
    assert f"BROKEN at event {event_id} " in report.summary()


# --------------------------------------------------------------------------- an intact log


def test_an_intact_log_verifies_with_its_anchor(index: Index, log: list[int], anchors: Path) -> None:
    report = verify(index, anchors)
    assert report.intact and report.problem is None
    assert (report.events, report.last_id, report.anchors_checked) == (EVENTS, EVENTS, 1)
    assert report.summary().startswith(f"audit log intact: {EVENTS} events (up to event {EVENTS}, head ")
    entries = index.audit_entries(limit=EVENTS)
    assert entries[0].hash == report.head_hash and entries[-1].prev_hash == GENESIS
    assert all(a.prev_hash == b.hash for a, b in itertools.pairwise(entries))
    # who, role, what, when, purpose and outcome; no phone number anywhere
    first = entries[-1]
    assert (first.actor, first.role, first.action, first.purpose, first.outcome) == (
        "user0", "clerk", "search", "核对 0", "done")
    assert entries[EVENTS - 5].outcome == "refused"
    assert "13812345678" not in json.dumps([e.model_dump(mode="json") for e in entries], ensure_ascii=False)


def test_an_empty_log_verifies(index: Index, anchors: Path) -> None:
    index.anchor_audit(anchors)
    report = verify(index, anchors)
    assert report.intact and report.events == 0 and report.anchors_checked == 1
    assert "no events yet" in report.summary()


# --------------------------------------------------------------------------- every tampering, at every event


def _alter(column: str, value: str) -> Callable[[Index, int], tuple[int, str]]:
    def attack(index: Index, p: int) -> tuple[int, str]:
        sql(index, f"UPDATE audit_log SET {column} = :value WHERE id = :id", value=value, id=p)
        return p, "altered"
    return attack


def _alter_time(index: Index, p: int) -> tuple[int, str]:
    (event,) = [e for e in stored(index) if e.id == p]
    sql(index, "UPDATE audit_log SET at = :at WHERE id = :id", at=stamp(index, event.at + dt.timedelta(seconds=1)),
        id=p)
    return p, "altered"


def _alter_detail(index: Index, p: int) -> tuple[int, str]:
    sql(index, f"UPDATE audit_log SET detail = {json_value(index)} WHERE id = :id", detail='{"n": 999}', id=p)
    return p, "altered"


def _remove(index: Index, p: int) -> tuple[int, str]:
    sql(index, "DELETE FROM audit_log WHERE id = :id", id=p)
    return p, "truncated" if p == EVENTS else "removed"


def _swap_with_next(index: Index, p: int) -> tuple[int, str]:
    q = p + 1 if p < EVENTS else p - 1
    for old, new in ((p, -1), (q, p), (-1, q)):
        sql(index, "UPDATE audit_log SET id = :new WHERE id = :old", old=old, new=new)
    return min(p, q), "out_of_order"


def _insert_forged(index: Index, p: int) -> tuple[int, str]:
    """Make room at ``p`` and insert an event linked to the one before, hashed without the key (SHA-256)."""
    events = {e.id: e for e in stored(index)}
    sql(index, "DROP INDEX uq_audit_log_prev_hash")  # one row per prev_hash would stop the forger
    sql(index, "UPDATE audit_log SET id = id + 1000 WHERE id >= :p", p=p)
    _forge(index, replace(events[p], actor="intruder", prev_hash=events[p - 1].hash if p > 1 else GENESIS))
    return p, "inserted"


def _forge(index: Index, event: StoredEvent) -> None:
    forged = replace(event, hash=hashlib.sha256(canonical(event)).hexdigest())
    sql(index, "INSERT INTO audit_log (id, at, actor, role, action, document_id, purpose, outcome, detail, "
               f"prev_hash, hash) VALUES (:id, :at, :actor, :role, :action, :document_id, :purpose, :outcome, "
               f"{json_value(index)}, :prev_hash, :hash)",
        **{**vars(forged), "at": stamp(index, forged.at), "detail": json.dumps(forged.detail)})


ATTACKS: dict[str, Callable[[Index, int], tuple[int, str]]] = {
    "actor": _alter("actor", "someone else"),
    "role": _alter("role", "nobody"),
    "action": _alter("action", "nothing"),
    "document": _alter("document_id", "doc-9999"),
    "purpose": _alter("purpose", "例行检查"),
    "outcome": _alter("outcome", "completed"),
    "time": _alter_time,
    "detail": _alter_detail,
    "hash": _alter("hash", "f" * 64),
    "prev_hash": _alter("prev_hash", "e" * 64),
    "remove": _remove,
    "reorder": _swap_with_next,
    "insert": _insert_forged,
}


def _snapshot(index: Index) -> list[dict[str, Any]]:
    with index.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY id"))]


def _restore(index: Index, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    values = ", ".join(json_value(index) if c == "detail" else f":{c}" for c in columns)
    with index.write_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
        conn.execute(text("CREATE UNIQUE INDEX IF NOT EXISTS uq_audit_log_prev_hash ON audit_log (prev_hash)"))
        for row in rows:
            detail = row["detail"]
            conn.execute(text(f"INSERT INTO audit_log ({', '.join(columns)}) VALUES ({values})"),
                         {**row, "detail": detail if isinstance(detail, str) or detail is None else json.dumps(detail)})


def test_every_tampering_at_every_event_is_caught_and_named(index: Index, log: list[int], anchors: Path) -> None:
    """100%: each attack at each of the events is detected, and the first bad event is named with its kind."""
    original = _snapshot(index)
    missed = []
    for name, attack in ATTACKS.items():
        for p in log:
            expected = attack(index, p)
            report = verify(index, anchors)
            got = (report.problem.event_id, report.problem.kind) if report.problem else None
            if got != expected:
                missed.append((name, p, expected, got))
            _restore(index, original)
    assert not missed, missed
    assert verify(index, anchors).intact


# --------------------------------------------------------------------------- each kind, named


def test_altering_a_row_names_it(index: Index, log: list[int], anchors: Path) -> None:
    sql(index, "UPDATE audit_log SET actor = 'someone else' WHERE id = 7")
    report = verify(index, anchors)
    assert_broken_at(report, 7, "altered")
    assert "does not match its hash" in report.summary()


def test_removing_a_middle_event_names_it(index: Index, log: list[int], anchors: Path) -> None:
    sql(index, "DELETE FROM audit_log WHERE id IN (5, 6)")
    report = verify(index, anchors)
    assert_broken_at(report, 5, "removed")
    assert "were removed" in report.summary()


def test_removing_the_newest_events_is_caught_by_the_anchor(index: Index, log: list[int], anchors: Path) -> None:
    sql(index, "DELETE FROM audit_log WHERE id >= 11")
    assert verify(index).intact  # without its anchor a shortened chain is still a chain: that is what anchors are for
    report = verify(index, anchors)
    assert_broken_at(report, EVENTS, "truncated")
    assert f"the log ends at event 10, before event {EVENTS}, the head anchored at" in report.summary()


def test_the_newest_event_removed_then_others_appended_is_caught(index: Index, log: list[int],
                                                                anchors: Path) -> None:
    sql(index, "DELETE FROM audit_log WHERE id = :id", id=EVENTS)
    index.audit("user1", "clerk", "search")  # dangan goes on appending after the removal
    index.audit("user1", "clerk", "search")
    report = verify(index, anchors)
    assert not report.intact and report.problem is not None
    # SQLite gives the id again (another event, another hash); PostgreSQL's sequence moves on (the id is missing).
    assert report.problem.event_id == EVENTS
    assert report.problem.kind == ("altered" if index.dialect == "sqlite" else "removed")


def test_an_inserted_event_is_named(index: Index, log: list[int], anchors: Path) -> None:
    _insert_forged(index, 4)
    assert_broken_at(verify(index, anchors), 4, "inserted")


def test_a_forged_event_appended_at_the_end_is_named(index: Index, log: list[int], anchors: Path) -> None:
    (last,) = [e for e in stored(index) if e.id == EVENTS]
    _forge(index, replace(last, id=EVENTS + 1, actor="intruder", prev_hash=last.hash))
    index.audit("user1", "clerk", "search")  # dangan appends after it: the forged event is now inside the chain
    report = verify(index, anchors)
    assert_broken_at(report, EVENTS + 1, "altered")
    assert "forged" in report.summary()


def test_reordered_events_are_named(index: Index, log: list[int], anchors: Path) -> None:
    for old, new in ((3, -1), (8, 3), (-1, 8)):
        sql(index, "UPDATE audit_log SET id = :new WHERE id = :old", old=old, new=new)
    report = verify(index, anchors)
    assert_broken_at(report, 3, "out_of_order")
    assert "holds the event written as event 8" in report.summary()


def test_swapped_contents_are_named(index: Index, log: list[int], anchors: Path) -> None:
    events = {e.id: e for e in stored(index)}
    for here, there in ((2, 9), (9, 2)):
        sql(index, "UPDATE audit_log SET actor = :actor, action = :action WHERE id = :id",
            actor=events[there].actor, action=events[there].action, id=here)
    assert_broken_at(verify(index, anchors), 2, "altered")


# --------------------------------------------------------------------------- recomputing without the key


def _recompute_from(index: Index, start: int, mac: Callable[[bytes], str]) -> None:
    """Re-hash and re-link every event from ``start`` on, as a forger without the key can."""
    prev = GENESIS
    for event in stored(index):
        if event.id >= start:
            linked = replace(event, prev_hash=prev)
            sql(index, "UPDATE audit_log SET prev_hash = :prev_hash, hash = :hash WHERE id = :id",
                prev_hash=prev, hash=mac(canonical(linked)), id=event.id)
            prev = mac(canonical(linked))
        else:
            prev = event.hash or GENESIS


def _wrapped_key_bytes(index: Index) -> bytes:
    with index.engine.connect() as conn:
        return bytes(conn.execute(text("SELECT wrapped FROM archive_keys ORDER BY purpose LIMIT 1")).scalar_one())


@pytest.mark.parametrize("forger", ["sha256", "hmac-empty-key", "hmac-wrapped-key", "hmac-other-archive"])
def test_a_chain_recomputed_without_the_key_is_caught(forger: str, index: Index, log: list[int],
                                                      anchors: Path) -> None:
    keys = {"hmac-empty-key": b"", "hmac-wrapped-key": _wrapped_key_bytes(index),
            "hmac-other-archive": hmac.digest(b"another archive", b"audit-chain|v1", "sha256")}
    mac: Callable[[bytes], str] = (
        (lambda b: hashlib.sha256(b).hexdigest()) if forger == "sha256"
        else (lambda b: hmac.new(keys[forger], b, hashlib.sha256).hexdigest()))
    sql(index, "UPDATE audit_log SET actor = 'someone else', outcome = 'done' WHERE id = 6")
    _recompute_from(index, 6, mac)
    assert_broken_at(verify(index), 6, "altered")
    assert_broken_at(verify(index, anchors), 6, "altered")


def test_clearing_the_hashes_to_have_the_chain_rebuilt_is_caught_by_the_anchor(
        index: Index, log: list[int], anchors: Path, db_url: str, key_file: Path) -> None:
    """Hashes cleared and the chain's marker removed: the next open chains the log again, as if it were old."""
    sql(index, "UPDATE audit_log SET actor = 'someone else' WHERE id = 6")
    sql(index, "UPDATE audit_log SET prev_hash = NULL, hash = NULL")
    sql(index, "DELETE FROM index_meta WHERE key = :key", key=MARKER)
    with closing(Index(db_url, MasterKey.load(key_file))) as reopened:
        reopened.create_schema()
        reopened.unlock()
        plain = verify(reopened)
        assert plain.intact and plain.legacy_events == EVENTS  # what it looks like without an anchor: said, at least
        report = verify(reopened, anchors)
    assert_broken_at(report, 1, "altered")
    assert "the chain was started over" in report.summary()


def test_a_hash_cleared_inside_a_chained_log_is_never_rebuilt(index: Index, log: list[int], db_url: str,
                                                                key_file: Path) -> None:
    sql(index, "UPDATE audit_log SET actor = 'someone else', prev_hash = NULL, hash = NULL WHERE id = 5")
    sql(index, "DELETE FROM index_meta WHERE key = :key", key=MARKER)
    with closing(Index(db_url, MasterKey.load(key_file))) as reopened:
        reopened.unlock()
        report = verify(reopened)
    assert_broken_at(report, 5, "altered")
    assert "has no hash" in report.summary()


def test_the_newest_hashes_cleared_to_have_them_rebuilt_is_caught_by_the_anchor(
        index: Index, log: list[int], anchors: Path, db_url: str, key_file: Path) -> None:
    sql(index, "UPDATE audit_log SET actor = 'someone else' WHERE id = 9")
    sql(index, "UPDATE audit_log SET prev_hash = NULL, hash = NULL WHERE id >= 9")
    sql(index, "DELETE FROM index_meta WHERE key = :key", key=MARKER)
    with closing(Index(db_url, MasterKey.load(key_file))) as reopened:
        reopened.unlock()
        assert verify(reopened).legacy_events == EVENTS  # every event now counts as older than the chain
        report = verify(reopened, anchors)
    assert not report.intact and report.problem is not None and report.problem.kind == "altered"
    assert "the chain was started over" in report.summary()


def test_an_event_written_past_the_chain_is_named_and_the_log_goes_on(index: Index, log: list[int],
                                                                       anchors: Path) -> None:
    """As an older dangan still running would write it: no hash. Auditing goes on after it."""
    sql(index, "INSERT INTO audit_log (id, at, actor, role, action) VALUES (:id, :at, 'old', 'clerk', 'view')",
        id=EVENTS + 1, at=stamp(index, dt.datetime.now(dt.UTC)))
    index.audit("user1", "clerk", "search")
    index.audit("user1", "clerk", "search")
    report = verify(index, anchors)
    assert_broken_at(report, EVENTS + 1, "altered")
    assert "has no hash" in report.summary()
    assert [e.id for e in index.audit_entries(limit=2)] == [EVENTS + 3, EVENTS + 2]


# --------------------------------------------------------------------------- anchors


def test_anchors_are_appended_once_per_head_and_other_lines_are_skipped(index: Index, log: list[int],
                                                                         anchors: Path) -> None:
    first = index.anchor_audit(anchors)
    assert index.anchor_audit(anchors) == first  # an unchanged head is not written again
    assert len(anchors.read_text().splitlines()) == 1
    index.audit("user1", "clerk", "search")
    second = index.anchor_audit(anchors)
    assert second.last_id == EVENTS + 1 and second.hash != first.hash
    other = Anchor(anchored_at=dt.datetime.now(dt.UTC), chain="0123456789abcdef", last_id=99, hash="0" * 64)
    with anchors.open("a") as f:
        f.write(other.model_dump_json() + "\n" + '{"cut short\n')
    found = read_anchors(anchors, b"unused")
    assert found.unreadable == 1 and len(found.anchors) == 0 and found.other_chains == 3
    report = verify(index, anchors)
    assert report.intact and report.anchors_checked == 2
    assert (report.anchors_of_other_chains, report.anchors_unreadable) == (1, 1)
    assert anchors.stat().st_mode & 0o777 == 0o600


def test_an_anchor_that_cannot_be_written_fails_loudly_but_never_fails_a_batch(
        index: Index, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    nowhere = tmp_path / "not mounted" / "anchors.jsonl"
    with pytest.raises(OutputUnwritable, match="folder exists"):
        write_anchor(nowhere, index.audit_head())
    anchor_after_batch(index.anchor_audit, nowhere)
    assert "the audit chain was not anchored" in caplog.text
    anchor_after_batch(index.anchor_audit, None)  # no anchor file set: nothing to do


# --------------------------------------------------------------------------- writers


_APPENDER = """
import sys
from pathlib import Path
from storage.index import Index
from storage.keys import MasterKey
index = Index(sys.argv[1], MasterKey.load(Path(sys.argv[2])))
index.create_schema()
index.unlock()
for i in range(int(sys.argv[3])):
    index.audit(sys.argv[4], "clerk", "view_document", f"doc-{i}", {"n": i})
index.close()
"""


def _append_in_processes(db_url: str, key_file: Path, names: tuple[str, ...], count: int) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, db_url, str(key_file), str(count), name], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err


def test_appends_from_two_processes_keep_one_chain(index: Index, log: list[int], anchors: Path, db_url: str,
                                                   key_file: Path) -> None:
    _append_in_processes(db_url, key_file, ("one", "two"), 60)
    report = verify(index, anchors)
    assert report.intact, report.summary()
    assert report.events == EVENTS + 120
    actors = [e.actor for e in index.audit_entries(limit=120)]
    assert actors.count("one") == actors.count("two") == 60


def test_a_destruction_is_recorded_in_the_chain(index: Index, key_file: Path, anchors: Path) -> None:
    master = MasterKey.load(key_file)
    doc_id = make_doc(50, owner="吴刚").record(index, master, index.begin_run())
    index.audit("user1", "clerk", "view_document", doc_id)
    index.destroy_document(doc_id, actor="guanliyuan", role="archive_manager", approved_by="lingdao",
                           reason="former owner, kept 3 years")
    index.audit("user1", "clerk", "search")
    (destroyed,) = index.audit_entries(action="destroy")
    assert (destroyed.document_id, destroyed.outcome, destroyed.detail and destroyed.detail["approved_by"]) == (
        doc_id, "destroyed", "lingdao")
    assert verify(index, anchors).intact


def test_entries_are_filtered(index: Index, log: list[int]) -> None:
    assert {e.actor for e in index.audit_entries(actor="user1")} == {"user1"}
    assert len(index.audit_entries(action="export")) == 2
    assert [e.id for e in index.audit_entries(outcome="refused")] == [10, 5]
    assert [e.id for e in index.audit_entries(document_id="doc-0003")] == [4]
    middle = index.audit_entries(document_id="doc-0005")[0].at
    assert [e.id for e in index.audit_entries(since=middle, limit=3)] == [12, 11, 10]
    assert [e.id for e in index.audit_entries(until=middle)] == [5, 4, 3, 2, 1]
    assert index.audit_entries(since=middle + dt.timedelta(days=1)) == []


# --------------------------------------------------------------------------- an older log


def _make_old_log(index: Index, count: int) -> None:
    """Turn the index into one written before the chain: no chain columns or marker, events as they were written."""
    with index.write_engine.begin() as conn:
        conn.execute(text("DROP INDEX uq_audit_log_prev_hash"))
        for column in ("purpose", "outcome", "prev_hash", "hash"):
            conn.execute(text(f"ALTER TABLE audit_log DROP COLUMN {column}"))
        conn.execute(text("DELETE FROM audit_log"))
        conn.execute(text("DELETE FROM index_meta WHERE key = :key"), {"key": MARKER})
        start = dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.UTC)
        for i in range(count):
            conn.execute(text("INSERT INTO audit_log (at, actor, role, action, document_id, detail) VALUES "
                              f"(:at, :actor, 'clerk', 'view', :document_id, {json_value(index)})"),
                         {"at": stamp(index, start + dt.timedelta(minutes=i, microseconds=i)), "actor": f"old{i}",
                          "document_id": f"doc-{i}", "detail": json.dumps({"n": i, "outcome": "done"})})


def test_an_older_log_is_chained_once_when_two_processes_open_it(index: Index, db_url: str, key_file: Path,
                                                                  tmp_path: Path, anchors: Path) -> None:
    _make_old_log(index, 30)
    index.close()
    # the search without SQLAlchemy leaves a log not chained yet to the full open
    assert open_reader(Settings(home=tmp_path, db_url=db_url), lambda: MasterKey.load(key_file)) is None
    _append_in_processes(db_url, key_file, ("one", "two"), 1)
    with closing(Index(db_url, MasterKey.load(key_file))) as upgraded:
        upgraded.create_schema()
        upgraded.unlock()
        upgraded.anchor_audit(anchors)
        report = verify(upgraded, anchors)
        assert report.intact, report.summary()
        assert (report.events, report.legacy_events) == (32, 30)
        assert "30 written before the chain existed" in report.summary()
        old = upgraded.audit_entries(actor="old7")[0]
        assert (old.detail, old.outcome, old.hash is not None) == ({"n": 7, "outcome": "done"}, None, True)
        sql(upgraded, "UPDATE audit_log SET actor = 'someone else' WHERE id = 8")
        assert_broken_at(verify(upgraded, anchors), 8, "altered")


class _StopAfterOneStep(Db):
    """A connection whose first commit is cut short (the process dies during an upgrade)."""

    def commit(self) -> None:
        raise KeyboardInterrupt


def test_an_upgrade_cut_short_goes_on_where_it_stopped(index: Index, db_url: str, key_file: Path) -> None:
    _make_old_log(index, 30)
    index.create_schema()  # the chain's columns are added; the events are chained on unlock, here by hand
    master = MasterKey.load(key_file)
    with Session(index.engine) as s:
        archive_keys = read_archive_keys(s, master)
    assert archive_keys is not None
    key = chain_key(archive_keys)
    with closing(index.write_engine.raw_connection()) as raw, pytest.raises(KeyboardInterrupt):
        chain_unchained(_StopAfterOneStep(raw.driver_connection, index.dialect), key, batch=7)
    with closing(index.write_engine.raw_connection()) as raw:
        db = Db(raw.driver_connection, index.dialect)
        done = chain_unchained(db, key, batch=7)
        db.commit()
    assert done == (23 if index.dialect == "sqlite" else 30)  # SQLite had committed the first step
    with closing(Index(db_url, master)) as upgraded:
        upgraded.unlock()
        report = verify(upgraded)
    assert report.intact and (report.events, report.legacy_events) == (30, 30)


# --------------------------------------------------------------------------- the command line


def _home(tmp_path: Path, db_url: str) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "home"
    anchor_file = tmp_path / "anchors" / "dangan-audit.jsonl"
    anchor_file.parent.mkdir()
    env = {"DANGAN_HOME": str(home), "DANGAN_DB_URL": db_url, "DANGAN_AUDIT_ANCHOR": str(anchor_file)}
    assert run_dangan(["keys", "init"], env).code == 0
    return anchor_file, env


def test_dangan_audit_verify_anchor_and_list(tmp_path: Path, db_url: str) -> None:
    _, env = _home(tmp_path, db_url)
    for _ in range(3):
        assert run_dangan(["audit", "--limit", "1"], env).code == 0  # each reading is an event
    anchored = run_dangan(["audit", "anchor"], env)
    assert anchored.code == 0, anchored.stderr
    assert anchored.stdout.startswith("anchored the audit log at event 4 ")
    intact = run_dangan(["audit", "verify"], env)
    assert intact.code == ExitCode.OK, intact.stdout + intact.stderr
    assert intact.stdout.count("\n") == 1 and intact.stdout.startswith("audit log intact: 4 events")
    assert "1 anchor checked" in intact.stdout
    with closing(Vault.open(Settings(home=Path(env["DANGAN_HOME"]), db_url=db_url))) as vault:
        sql(vault.index, "UPDATE audit_log SET action = 'search' WHERE id = 2")
    broken = run_dangan(["audit", "verify"], env)
    assert broken.code == ExitCode.AUDIT_BROKEN == 12
    assert broken.stdout.startswith("audit log BROKEN at event 2 (altered): event 2 does not match its hash")
    report = json.loads(run_dangan(["audit", "verify", "--json"], env).stdout)
    assert (report["intact"], report["problem"]["event_id"]) == (False, 2)
    listed = run_dangan(["audit", "--action", "verify_audit", "--json"], env)
    assert listed.code == 0, listed.stderr
    verifications = json.loads(listed.stdout)
    assert [e["outcome"] for e in verifications] == ["broken", "broken", "intact"]
    assert verifications[0]["detail"]["first_bad"] == 2 and verifications[0]["hash"]
    refused = run_dangan(["audit", "--outcome", "intact", "--json"], env)
    assert [e["action"] for e in json.loads(refused.stdout)] == ["verify_audit"]
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    assert json.loads(run_dangan(["audit", "--from", tomorrow, "--json"], env).stdout) == []
    assert json.loads(run_dangan(["audit", "--to", "2020-01-01", "--json"], env).stdout) == []
    text_list = run_dangan(["audit", "--action", "anchor_audit"], env)
    assert "anchor_audit" in text_list.stdout and text_list.stdout.rstrip().endswith("1 entry")
    assert run_dangan(["audit", "--from", "yesterday"], env).code == ExitCode.USAGE


def test_dangan_audit_anchor_needs_an_anchor_file(tmp_path: Path, db_url: str) -> None:
    _, env = _home(tmp_path, db_url)
    run = run_dangan(["audit", "anchor"], {**env, "DANGAN_AUDIT_ANCHOR": ""})
    assert run.code == ExitCode.USAGE and "DANGAN_AUDIT_ANCHOR" in run.stderr
    run = run_dangan(["audit", "verify"], {**env, "DANGAN_AUDIT_ANCHOR": "relative.jsonl"})
    assert run.code == ExitCode.CONFIG and "absolute path" in run.stderr


def test_a_cold_search_appends_to_the_chain(tmp_path: Path, db_url: str) -> None:
    _, env = _home(tmp_path, db_url)
    assert run_dangan(["audit", "anchor"], env).code == 0  # the full open: the log is chained
    assert run_dangan(["search", "王伟"], env).code == 0
    assert run_dangan(["search", "1201"], env).code == 0
    run = run_dangan(["audit", "verify"], env)
    assert run.code == 0, run.stdout + run.stderr
    assert run.stdout.startswith("audit log intact: 3 events")


@pytest.mark.slow
def test_every_ingest_batch_anchors_the_chain(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'home' / 'index.sqlite3'}"
    anchor_file, env = _home(tmp_path, db_url)
    assert run_dangan(["audit", "--limit", "1"], env).code == 0
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    run = run_dangan(["ingest", str(inbox), "--quiet"], env)
    assert run.code == 0, run.stderr
    (anchor,) = [Anchor.model_validate_json(line) for line in anchor_file.read_text().splitlines()]
    with closing(Vault.open(Settings(home=Path(env["DANGAN_HOME"]), db_url=db_url))) as vault:
        head = vault.index.audit_head()
    assert (anchor.last_id, anchor.hash) == (head.last_id, head.hash) and anchor.last_id >= 1
    verified = run_dangan(["audit", "verify"], env)
    assert verified.code == 0 and "1 anchor checked" in verified.stdout, verified.stdout + verified.stderr


# --------------------------------------------------------------------------- the API


def test_the_api_verifies_for_the_roles_that_may(tmp_path: Path, db_url: str) -> None:
    home, anchor_file = tmp_path / "home", tmp_path / "anchors.jsonl"
    ensure_master_key({"DANGAN_HOME": str(home)})
    settings = Settings(home=home, db_url=db_url, audit_anchor=anchor_file)
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as client:
        users = app.state.users
        tokens = {}
        for name, role in (("shenji", Role.AUDITOR), ("qiantai", Role.CLERK)):
            users.add(name, role, PASSWORD)
            tokens[role] = {"Authorization": f"Bearer {users.create_token(name)}"}
        index: Index = app.state.service.index
        index.anchor_audit(anchor_file)
        ok = client.get("/api/audit/verify", headers=tokens[Role.AUDITOR])
        assert ok.status_code == 200, ok.text
        assert (ok.json()["intact"], ok.json()["anchors_checked"]) == (True, 1)
        refused = client.get("/api/audit/verify", headers=tokens[Role.CLERK])
        assert refused.status_code == 403 and "auditor" in refused.json()["message"]
        sql(index, "DELETE FROM audit_log WHERE id = 1")
        broken = client.get("/api/audit/verify", headers=tokens[Role.AUDITOR]).json()
        assert (broken["intact"], broken["problem"]["event_id"], broken["problem"]["kind"]) == (False, 1, "removed")
        (refusal,) = index.audit_entries(actor="qiantai")
        assert (refusal.action, refusal.outcome) == ("verify_audit", "refused")
        (last,) = index.audit_entries(action="verify_audit", actor="shenji", limit=1)
        assert (last.outcome, last.detail and last.detail["first_bad"]) == ("broken", 1)
