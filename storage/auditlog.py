"""The tamper-evident audit log (审计日志): every event hash-chained, the chain's head anchored outside the database.

Each event (who, role, what, which document, when, purpose, outcome, a
scrubbed detail) is one row of ``audit_log`` that records the hash of the
event before it (``prev_hash``) and its own ``hash``: an HMAC-SHA256 over a
canonical encoding of its id, its contents and ``prev_hash``
(:func:`event_hash`). Changing, removing, inserting or reordering a row
breaks the chain at that row, and :func:`verify_chain` names the first one.

Why a keyed hash (HMAC) and not a plain SHA-256 chain: anyone who can write
to the database can recompute a plain chain after editing it, and then only
the anchors could tell. The HMAC key is derived from the archive's own HMAC
key (:func:`chain_key`), which the index holds only wrapped by the master
key: without the master key a valid chain cannot be recomputed, so an edit
is caught even after the last anchor. The price is that verifying needs the
master key too (``dangan audit verify`` runs with it); the anchors, plain
JSON, still let anyone see that the head they recorded is in the log. What a
keyed chain cannot catch alone is the newest events removed from its end;
that is what the anchors are for.

Anchors: the chain's head (last id, its hash, when) written to a file the
operator chooses outside the database (``DANGAN_AUDIT_ANCHOR``), one JSON line
each, fsynced (:func:`write_anchor`). Every anchor is checked by
:func:`verify_chain`: the anchored event must still be there with the same
hash.

Appends are serialised so that two processes never fork the chain: the last
row is read and the new one inserted under PostgreSQL's transaction-level
advisory lock, or inside SQLite's ``BEGIN IMMEDIATE`` (the write lock).

No SQLAlchemy here: a cold ``dangan search`` appends through the database
driver alone (:mod:`storage.searchsql`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.errors import DanganError, OutputUnwritable
from storage.audit import scrub_detail, scrub_text
from storage.keys import ArchiveKeys

if TYPE_CHECKING:
    from storage.dbapi import Db

#: ``prev_hash`` of the first event.
GENESIS = "0" * 64
#: PostgreSQL advisory lock held while an event is appended (any constant of dangan's own).
CHAIN_LOCK = 0x64616E67616E0002
#: ``index_meta`` key recording that the log is chained, and the last event written before it was.
MARKER = "audit_chain"
#: Events read at once while verifying or chaining.
BATCH = 5000
#: Longest stored purpose and outcome; the columns' lengths.
MAX_PURPOSE = 500
MAX_OUTCOME = 64
#: Lengths of the other text columns (PostgreSQL refuses longer values).
_LIMITS = {"actor": 128, "role": 32, "action": 64, "document_id": 36}
#: How far from its own id an event is looked for when it does not match its hash (a swapped event).
_MOVED_WINDOW = 64

_COLUMNS = "id, at, actor, role, action, document_id, purpose, outcome, detail, prev_hash, hash"
_log = logging.getLogger(__name__)

ProblemKind = Literal["altered", "removed", "inserted", "out_of_order", "truncated"]


def chain_key(keys: ArchiveKeys) -> bytes:
    """The audit chain's HMAC key, derived from the archive's HMAC key (the blind index uses other labels)."""
    return hmac.digest(keys.hmac_key, b"audit-chain|v1", "sha256")


def chain_id(key: bytes) -> str:
    """A short public name of the chain's key, written in every anchor (which archive's chain it is)."""
    return hmac.digest(key, b"audit-chain-id|v1", "sha256")[:8].hex()


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class StoredEvent:
    """One row of ``audit_log`` as stored (``detail`` parsed from its JSON)."""

    id: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    document_id: str | None
    purpose: str | None
    outcome: str | None
    detail: Any
    prev_hash: str | None
    hash: str | None


def canonical(event: StoredEvent, *, event_id: int | None = None) -> bytes:
    """The bytes an event's hash covers: its id, contents and ``prev_hash`` as one compact JSON array."""
    at = event.at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    fields = ["dangan-audit-event/v1", event.id if event_id is None else event_id, at, event.actor, event.role,
              event.action, event.document_id, event.purpose, event.outcome, event.detail, event.prev_hash]
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def event_hash(key: bytes, event: StoredEvent, *, event_id: int | None = None) -> str:
    """HMAC-SHA256 (hex) of the event's canonical bytes (``event_id``: as if it had that id)."""
    return hmac.new(key, canonical(event, event_id=event_id), hashlib.sha256).hexdigest()


def append_audit(db: Db, key: bytes, actor: str, role: str, action: str, document_id: str | None = None,
                 detail: dict[str, Any] | None = None, *, purpose: str | None = None,
                 outcome: str | None = None) -> int:
    """Append one event to the chain; returns its id.

    ID numbers and phones in ``detail`` and ``purpose`` are masked. Without
    ``purpose`` or ``outcome`` the detail's own keys of those names are used;
    the outcome defaults to ``done``. On SQLite outside a transaction the
    append commits itself; otherwise (PostgreSQL, or inside the caller's
    transaction) the caller commits, and the chain's lock is held until then.
    """
    payload = json.dumps(scrub_detail(detail), ensure_ascii=False) if detail is not None else None
    given = detail or {}
    purpose = purpose if purpose is not None else _text_or_none(given.get("purpose"))
    outcome = outcome if outcome is not None else _text_or_none(given.get("outcome"))
    event = StoredEvent(id=0, at=dt.datetime.min, actor=actor[:_LIMITS["actor"]],
                        role=role[:_LIMITS["role"]], action=action[:_LIMITS["action"]],
                        document_id=document_id[:_LIMITS["document_id"]] if document_id else document_id,
                        purpose=scrub_text(purpose)[:MAX_PURPOSE] if purpose else None,
                        outcome=(outcome or "done")[:MAX_OUTCOME],
                        detail=json.loads(payload) if payload is not None else None, prev_hash=None, hash=None)
    with _serialised(db):
        event_id, prev = _next_id_and_prev(db)
        # stamped under the lock: the events' times run in the order of their ids
        linked = replace(event, id=event_id, at=dt.datetime.now(dt.UTC), prev_hash=prev)
        value = "CAST(:detail AS JSON)" if db.dialect == "postgresql" else ":detail"
        db.execute(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (:id, :at, :actor, :role, :action, "  # noqa: S608
                   f":document_id, :purpose, :outcome, {value}, :prev_hash, :hash)",  # constants; values bound
                   {**vars(linked), "at": db.timestamp(linked.at), "detail": payload,
                    "hash": event_hash(key, linked)})
    return event_id


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


@contextmanager
def _serialised(db: Db) -> Iterator[None]:
    """Hold the chain's lock: PostgreSQL's advisory lock until the caller's transaction ends; SQLite's write lock.

    On SQLite inside the caller's transaction (the index's write transactions
    begin IMMEDIATE, so they hold the write lock already) nothing more is
    needed; outside one (a connection in autocommit mode) the block is its own
    ``BEGIN IMMEDIATE`` ... ``COMMIT``.
    """
    if db.dialect == "postgresql":
        db.execute("SELECT pg_advisory_xact_lock(:key)", {"key": CHAIN_LOCK})
        yield
        return
    connection = db.connection
    if connection.in_transaction:
        yield
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.rollback()
        raise
    connection.commit()


def _next_id_and_prev(db: Db) -> tuple[int, str]:
    """The new event's id (after the last one; on PostgreSQL from the table's sequence, kept in step) and prev_hash."""
    if db.dialect == "postgresql":
        ((seq_next, last_id, last_hash),) = db.rows(
            "SELECT nextval(pg_get_serial_sequence('audit_log', 'id')), last.id, last.hash FROM (SELECT 1) AS one "
            "LEFT JOIN LATERAL (SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1) AS last ON true")
    else:
        found = db.rows("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
        seq_next, (last_id, last_hash) = None, found[0] if found else (None, None)
    if last_id is not None and last_hash is None:
        # The last event has no hash (written past the chain): link to a stand-in of its own, so that one
        # such row neither stops the audit log (one row per prev_hash) nor hides (verify names it).
        last_hash = hashlib.sha256(f"dangan-audit-unchained|{last_id}".encode()).hexdigest()
    after = int(last_id or 0) + 1
    return max(after, int(seq_next or 0)), last_hash or GENESIS


# --------------------------------------------------------------------------- reading rows


def _read_events(db: Db, after: int, limit: int) -> list[StoredEvent]:
    """Up to ``limit`` events with ids above ``after``, in id order."""
    rows = db.rows(f"SELECT {_COLUMNS} FROM audit_log WHERE id > :after ORDER BY id LIMIT :limit",  # noqa: S608
                   {"after": after, "limit": int(limit)})
    return [_event(db, r) for r in rows]


def _event(db: Db, row: Sequence[Any]) -> StoredEvent:
    (event_id, at, actor, role, action, document_id, purpose, outcome, detail, prev_hash, event_hash_) = row
    if isinstance(detail, str) and db.dialect == "sqlite":
        detail = json.loads(detail)
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    return StoredEvent(id=int(event_id), at=at if at.tzinfo else at.replace(tzinfo=dt.UTC), actor=actor, role=role,
                       action=action, document_id=document_id, purpose=purpose, outcome=outcome, detail=detail,
                       prev_hash=prev_hash, hash=event_hash_)


def read_marker(db: Db) -> int | None:
    """The last event written before the log was chained (0: none); None when the log is not chained yet."""
    found = db.rows("SELECT value FROM index_meta WHERE key = :key", {"key": MARKER})
    return int(found[0][0]) if found else None


# --------------------------------------------------------------------------- chaining an older log


def chain_unchained(db: Db, key: bytes, *, batch: int = BATCH) -> int:
    """Chain the events of a log written before the chain existed, in id order; how many this call chained.

    Events are chained ``batch`` at a time, each batch in its own
    transaction under the chain's lock, after the last event that has a hash:
    other writers wait for one batch, not for the whole log, and an upgrade
    cut short goes on where it stopped. When nothing is left, the marker
    records the last event chained so (0: none). Every step looks at the
    marker again once it holds the lock, so two processes opening the same
    index at once chain it once. Once the marker exists nothing is chained
    again: an event without a hash is reported by :func:`verify_chain`.
    Someone who clears the hashes and the marker has them chained again,
    but the anchors written before say so (the chain began after another
    event), and so does every report (the events "written before the chain").
    """
    chained = 0
    while True:
        with _serialised(db):
            if read_marker(db) is not None:
                return chained
            last = db.rows("SELECT id, hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1")
            after, prev = (int(last[0][0]), str(last[0][1])) if last else (0, GENESIS)
            events = _read_events(db, after, batch)
            if not events:
                db.execute("INSERT INTO index_meta (key, value) VALUES (:key, :value)",
                           {"key": MARKER, "value": str(after)})
            updates = []
            for e in events:
                linked = replace(e, prev_hash=prev)
                prev = event_hash(key, linked)
                updates.append({"id": e.id, "prev_hash": linked.prev_hash, "hash": prev})
            if updates:
                _execute_many(db, "UPDATE audit_log SET prev_hash = :prev_hash, hash = :hash WHERE id = :id",
                              updates)
        db.commit()  # PostgreSQL: end the step (SQLite: each step committed itself)
        chained += len(events)
        if not events:
            return chained


def _execute_many(db: Db, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
    if db.dialect == "postgresql":
        sql = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)
    cursor = db.connection.cursor()
    try:
        cursor.executemany(sql, [dict(r) for r in rows])
    finally:
        cursor.close()


# --------------------------------------------------------------------------- anchors


class Anchor(BaseModel):
    """The chain's head at one moment, as written to the anchor file (one JSON line)."""

    model_config = ConfigDict(frozen=True)

    anchored_at: dt.datetime
    #: Which archive's chain (:func:`chain_id`).
    chain: str
    #: The last event then (0: the log was empty) and its hash.
    last_id: int
    hash: str
    event_at: dt.datetime | None = None
    #: The last event written before the log was chained (0: none).
    legacy_through: int = 0


def chain_head(db: Db, key: bytes) -> Anchor:
    """The chain's head now, as an anchor to write."""
    found = db.rows("SELECT id, hash, at FROM audit_log ORDER BY id DESC LIMIT 1")
    last_id, last_hash, at = found[0] if found else (0, GENESIS, None)
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return Anchor(anchored_at=dt.datetime.now(dt.UTC), chain=chain_id(key), last_id=int(last_id),
                  hash=last_hash or "", event_at=at, legacy_through=read_marker(db) or 0)


def write_anchor(path: Path, anchor: Anchor) -> Anchor:
    """Append ``anchor`` to the anchor file (created 0600; fsynced); the anchor the file now ends with.

    When the file already ends with the same head (same chain, event and
    hash), nothing is written and that anchor is returned. The folder must
    exist (it may be a share that is not mounted: it is never created).
    OutputUnwritable (exit 7) when the file cannot be written.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as e:
        raise OutputUnwritable(f"Cannot open the audit anchor file {path}: {e.strerror}. Check "
                               "DANGAN_AUDIT_ANCHOR and that its folder exists and is writable.") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        created = os.fstat(fd).st_size == 0
        last = _parse_anchor(_last_line(fd))
        if last is not None and (last.chain, last.last_id, last.hash) == (anchor.chain, anchor.last_id, anchor.hash):
            return last
        os.write(fd, (anchor.model_dump_json() + "\n").encode("utf-8"))
        os.fsync(fd)
    except OSError as e:
        raise OutputUnwritable(f"Cannot write the audit anchor file {path}: {e.strerror}.") from None
    finally:
        os.close(fd)
    if created:
        _fsync_folder(path.parent)
    return anchor


def _last_line(fd: int, *, tail: int = 4096) -> str:
    size = os.fstat(fd).st_size
    data = os.pread(fd, min(size, tail), max(0, size - tail))
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-1] if lines else ""


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _parse_anchor(line: str) -> Anchor | None:
    try:
        return Anchor.model_validate_json(line) if line.strip() else None
    except ValidationError:
        return None


@dataclass(frozen=True)
class AnchorFile:
    """The anchors of one file: those of this chain, and how many lines were someone else's or unreadable."""

    anchors: tuple[Anchor, ...]
    other_chains: int = 0
    unreadable: int = 0
    missing: bool = False


def read_anchors(path: Path, key: bytes) -> AnchorFile:
    """The anchors of this chain in ``path`` (a missing file: none). OutputUnwritable when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return AnchorFile(anchors=(), missing=True)
    except OSError as e:
        raise OutputUnwritable(f"Cannot read the audit anchor file {path}: {e.strerror}.") from None
    ours, other, bad = [], 0, 0
    mine = chain_id(key)
    for line in text.splitlines():
        if not line.strip():
            continue
        anchor = _parse_anchor(line)
        if anchor is None:
            bad += 1
        elif anchor.chain != mine:
            other += 1
        else:
            ours.append(anchor)
    return AnchorFile(anchors=tuple(ours), other_chains=other, unreadable=bad)


def anchor_after_batch(write: Callable[[Path], object], path: Path | None) -> None:
    """At the end of a batch: anchor the chain's head when an anchor file is set (``write(path)``).

    A failure is logged, never raised: the batch's files are stored whatever
    happens to the anchor, and the next batch or ``dangan audit anchor``
    writes one.
    """
    if path is None:
        return
    try:
        write(path)
    except DanganError as e:
        _log.warning("the audit chain was not anchored: %s", e.message)


# --------------------------------------------------------------------------- verifying


class ChainProblem(BaseModel):
    """The first bad event of a chain: its id, what is wrong with it, and how that was seen."""

    model_config = ConfigDict(frozen=True)

    event_id: int
    kind: ProblemKind
    message: str


class ChainReport(BaseModel):
    """What :func:`verify_chain` found."""

    model_config = ConfigDict(frozen=True)

    intact: bool
    #: Events read (all of them when intact; up to the first bad one otherwise).
    events: int
    last_id: int | None = None
    head_hash: str | None = None
    #: Events written before the log was chained (chained when the index was upgraded).
    legacy_events: int = 0
    anchors_checked: int = 0
    #: Lines of the anchor file that belong to another archive's chain, or could not be read.
    anchors_of_other_chains: int = 0
    anchors_unreadable: int = 0
    #: Whether the anchor file was there (None: no anchor file was given).
    anchor_file_found: bool | None = None
    problem: ChainProblem | None = None

    def audit_detail(self) -> dict[str, Any]:
        """What the audit event of this verification records."""
        problem = self.problem
        return {"outcome": "intact" if self.intact else "broken", "events": self.events,
                "anchors": self.anchors_checked, "first_bad": problem.event_id if problem else None,
                "kind": problem.kind if problem else None}

    def summary(self) -> str:
        """One line saying whether the chain is intact, or its first bad event."""
        anchors = f"{self.anchors_checked} anchor{'' if self.anchors_checked == 1 else 's'} checked"
        if self.problem is not None:
            return (f"audit log BROKEN at event {self.problem.event_id} ({self.problem.kind.replace('_', ' ')}): "
                    f"{self.problem.message}")
        head = f"up to event {self.last_id}, head {(self.head_hash or '')[:12]}" if self.last_id else "no events yet"
        legacy = f"; {self.legacy_events} written before the chain existed" if self.legacy_events else ""
        if self.anchor_file_found is None:
            anchors = "no anchor file set (DANGAN_AUDIT_ANCHOR)"
        elif not self.anchor_file_found:
            anchors = "the anchor file does not exist yet"
        return f"audit log intact: {self.events} event{'' if self.events == 1 else 's'} ({head}){legacy}; {anchors}"


@dataclass
class _Walk:
    """State of one walk along the chain."""

    key: bytes
    anchors: list[Anchor]
    prev: str = GENESIS
    last_good: int = 0
    events: int = 0
    problem: ChainProblem | None = None


def verify_chain(db: Db, key: bytes, anchors: Sequence[Anchor] = (), *, batch: int = BATCH) -> ChainReport:
    """Walk the whole chain in id order, ``batch`` events at a time, and check every anchor.

    Stops at the first bad event and says what is wrong with it: ``altered``
    (it does not match its hash, or differs from its anchor), ``removed``
    (events before it are gone), ``inserted`` (the chain runs on without it),
    ``out_of_order`` (it holds an event written under another id), or
    ``truncated`` (the log ends before an anchored head).
    """
    walk = _Walk(key=key, anchors=sorted(anchors, key=lambda a: a.last_id))
    legacy = read_marker(db) or 0
    while walk.problem is None:
        events = _read_events(db, walk.last_good, batch)
        if not events:
            break
        for i, e in enumerate(events):
            walk.problem = _check(db, walk, e, events[i + 1] if i + 1 < len(events) else None)
            if walk.problem is not None:
                break
            walk.prev, walk.last_good = e.hash or "", e.id
            walk.events += 1
    if walk.problem is None:
        walk.problem = _truncated(walk)
    problem = min((p for p in (walk.problem, _restarted(walk.anchors, legacy)) if p is not None),
                  key=lambda p: p.event_id, default=None)
    return ChainReport(intact=problem is None, events=walk.events, last_id=walk.last_good or None,
                       head_hash=walk.prev if walk.last_good else None, legacy_events=legacy,
                       anchors_checked=len(walk.anchors), problem=problem)


def _check(db: Db, walk: _Walk, e: StoredEvent, following: StoredEvent | None) -> ChainProblem | None:
    """The problem of event ``e`` (the next after the last good one), or None."""
    genuine = e.hash is not None and hmac.compare_digest(e.hash, event_hash(walk.key, e))
    linked = e.prev_hash == walk.prev
    if genuine and not linked:
        first = walk.last_good + 1 if e.id > walk.last_good + 1 else e.id
        return ChainProblem(event_id=first, kind="removed", message=(
            f"the event{'s' if e.id - first > 1 else ''} before event {e.id} "
            f"(after event {walk.last_good or 'none'}) were removed: event {e.id} follows an event that is gone"))
    if not genuine:
        return _not_genuine(db, walk, e, following)
    return _anchored(walk, e)


def _not_genuine(db: Db, walk: _Walk, e: StoredEvent, following: StoredEvent | None) -> ChainProblem:
    """Why event ``e`` does not match its hash: moved from another id, inserted, or altered."""
    if e.hash is not None:
        for other in _candidate_ids(db, e):
            if other != e.id and hmac.compare_digest(e.hash, event_hash(walk.key, e, event_id=other)):
                return ChainProblem(event_id=e.id, kind="out_of_order", message=(
                    f"event {e.id} holds the event written as event {other}: rows were moved or swapped"))
    if following is None:
        following = next(iter(_read_events(db, e.id, 1)), None)
    if following is not None and following.prev_hash == walk.prev:
        return ChainProblem(event_id=e.id, kind="inserted", message=(
            f"event {e.id} is not part of the chain: the event after it follows event {walk.last_good or 'none'} "
            "directly, so it was inserted"))
    if e.hash is None:
        return ChainProblem(event_id=e.id, kind="altered", message=(
            f"event {e.id} has no hash: it was written into the database past dangan, or its hash was removed"))
    return ChainProblem(event_id=e.id, kind="altered", message=(
        f"event {e.id} does not match its hash: its contents were changed (or it was forged) after it was written"))


def _candidate_ids(db: Db, e: StoredEvent) -> list[int]:
    """Ids event ``e`` may have been written under: near its own, and just after the event its prev_hash names."""
    if e.prev_hash == GENESIS:
        before = [0]
    elif e.prev_hash:
        before = [int(r[0]) for r in db.rows("SELECT id FROM audit_log WHERE hash = :hash", {"hash": e.prev_hash})]
    else:
        before = []
    after_before = [i + step for i in before for step in range(1, _MOVED_WINDOW + 1)]
    near = range(max(1, e.id - _MOVED_WINDOW), e.id + _MOVED_WINDOW + 1)
    return list(dict.fromkeys([*after_before, *near]))


def _anchored(walk: _Walk, e: StoredEvent) -> ChainProblem | None:
    """Check the anchors at or before event ``e``: each anchored event is there with the anchored hash."""
    for anchor in walk.anchors:
        if anchor.last_id <= walk.last_good or anchor.last_id > e.id:
            continue
        when = anchor.anchored_at.isoformat(timespec="seconds")
        if anchor.last_id < e.id:
            return ChainProblem(event_id=anchor.last_id, kind="removed", message=(
                f"event {anchor.last_id}, the head anchored at {when}, is missing: it was removed"))
        if anchor.hash != e.hash:
            return ChainProblem(event_id=e.id, kind="altered", message=(
                f"event {e.id} is not the event anchored at {when} (its hash differs): the log was rewritten "
                "or the anchored event replaced"))
    return None


def _truncated(walk: _Walk) -> ChainProblem | None:
    """After the walk: an anchor beyond the last event says the newest events were removed."""
    beyond = [a for a in walk.anchors if a.last_id > walk.last_good]
    if not beyond:
        return None
    anchor = beyond[0]
    return ChainProblem(event_id=anchor.last_id, kind="truncated", message=(
        f"the log ends at event {walk.last_good or 'none'}, before event {anchor.last_id}, the head anchored at "
        f"{anchor.anchored_at.isoformat(timespec='seconds')}: the newest events were removed"))


def _restarted(anchors: Sequence[Anchor], legacy: int) -> ChainProblem | None:
    """An anchor that saw the chain begin after another event than it does now: the chain was started over."""
    for anchor in anchors:
        if anchor.legacy_through != legacy:
            first = min(anchor.legacy_through, legacy) + 1
            return ChainProblem(event_id=first, kind="altered", message=(
                f"the chain was started over: when anchored at {anchor.anchored_at.isoformat(timespec='seconds')} "
                f"it began after event {anchor.legacy_through}, now after event {legacy}"))
    return None
