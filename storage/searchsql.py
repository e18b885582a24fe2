"""The search's queries, written once in the database driver's own SQL (sqlite3, psycopg or psycopg2).

:class:`storage.index.Index` runs them on a raw connection of its engine, and a
cold ``dangan search`` process runs them on a connection it opens itself
(:func:`open_reader`), so that it answers without importing SQLAlchemy or
building the ORM: that import alone costs longer than the whole search.

SQL is written with ``:name`` parameters; :class:`Db` turns them into the
driver's style. How the queries are shaped (FTS5 on SQLite; on PostgreSQL a
GIN index over the token arrays, or a walk down ``doc_no`` chosen from the
index's own token statistics) is explained in ``bench/RESULTS.md`` ("Search
latency on 1,000,000 documents").
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from schemas.documents import DOC_LABELS, ID_NUMBER_FIELDS, PHONE_FIELDS
from schemas.errors import IndexUnavailable, WrongMasterKey
from schemas.models import UnitRef, estate_name
from storage.auditlog import MARKER, append_audit, chain_key
from storage.blind import CODE_FIELDS, NAME_FIELDS, BlindIndex
from storage.dbapi import Db, in_list
from storage.keys import MasterKey, archive_keys_from_rows
from storage.layout import SCHEMA_VERSION, SEARCH_LAYOUT, as_utc
from storage.search import (
    SECRET_KINDS,
    ArchiveGroup,
    Completeness,
    DocumentHit,
    DocumentSummary,
    MatchedTerm,
    Needs,
    ParsedQuery,
    QueryFilters,
    Reading,
    SearchResult,
    understand,
)

if TYPE_CHECKING:
    from schemas.settings import Settings
    from web.access import Identity

#: PostgreSQL: a query whose tokens match at least this share of documents walks doc_no down.
PG_WALK_SHARE = 0.02
#: SQLite: filters passing at least this share of documents are checked on a walk down doc_no.
WALK_FILTER_SHARE = 0.01
#: PostgreSQL: how long the token statistics are trusted before they are read again.
PG_STATS_SECONDS = 600.0
#: China time: filing-date filters name days there.
CHINA = dt.timezone(dt.timedelta(hours=8))

#: Fields each kind of reading matches, for marking them on the page.
_KIND_FIELDS: dict[str, frozenset[str]] = {
    "id_number": ID_NUMBER_FIELDS, "id_tail": ID_NUMBER_FIELDS, "phone": PHONE_FIELDS,
    "contract": CODE_FIELDS, "unit": frozenset({"building", "unit", "room"}),
}


def aware(at: dt.datetime | str) -> dt.datetime:
    """A stored time (SQLite: text; both: naive, written as UTC) as an aware UTC datetime."""
    return as_utc(dt.datetime.fromisoformat(at) if isinstance(at, str) else at)


def unit_ref(building: str | None, unit: str | None, room: str | None,
             estate: str | None = None) -> UnitRef | None:
    """The unit an archive is filed under, with its estate when known (None when a part is unknown)."""
    if building is None or unit is None or room is None:
        return None
    return UnitRef(building=building, unit=unit, room=room, estate=estate)


# --------------------------------------------------------------------------- search


@dataclass
class PgStats:
    """PostgreSQL: the GIN index's most common tokens and their shares, read at most every few minutes."""

    read_at: float = -1e9
    freqs: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _HitRow:
    id: str
    doc_type: str
    first_page: int
    pages: int
    status: str
    created_at: dt.datetime
    source_name: str
    sha256: str
    archive_id: str | None
    estate: str | None
    building: str | None
    unit: str | None
    room: str | None
    archive_status: str | None
    text_tokens: frozenset[str]
    field_tokens: frozenset[str]


class Searcher:
    """The search of one index: the query understood, matched, its hits read (see :meth:`archives`)."""

    def __init__(self, blind: BlindIndex, pg_stats: PgStats | None = None) -> None:
        self.blind = blind
        self.pg_stats = pg_stats or PgStats()

    def stored(self, tokens: Sequence[str]) -> tuple[str, ...]:
        """The keyed tokens the index holds for plain search tokens."""
        return tuple(sorted({self.blind.search_token(t) for t in tokens}))

    def documents(self, db: Db, query: str, *, doc_type: str | None = None, unit: UnitRef | None = None,
                  limit: int = 50) -> list[DocumentSummary]:
        """Documents matching every part of ``query``: whole field values first, then newest first."""
        parsed = understand(query, filters=QueryFilters(doc_types=(str(doc_type),) if doc_type else None))
        found, _ = self.find(db, parsed, unit=unit, limit=limit)
        rows = self.hit_rows(db, [doc_id for _, doc_id, _ in found])
        fields = self.masked_fields(db, list(rows))
        stored = self._stored_readings(parsed)
        out = []
        for _, doc_id, exact in found:
            r = rows.get(doc_id)
            if r is None:
                continue  # destroyed between the two reads
            out.append(DocumentSummary(
                id=r.id, source_name=r.source_name, sha256=r.sha256, doc_type=r.doc_type,
                unit=unit_ref(r.building, r.unit, r.room, r.estate), first_page=r.first_page, pages=r.pages,
                status=r.status, created_at=r.created_at, exact_match=exact, archive_id=r.archive_id,
                estate=r.estate,
                matched=matched_terms(parsed, stored, r.text_tokens, r.field_tokens, fields.get(doc_id, {}))))
        return out

    def archives(self, db: Db, parsed: ParsedQuery, *, unit: UnitRef | None = None,
                 limit: int = 50, needs: Needs | None = None) -> SearchResult:
        """Hits grouped by unit archive, with masked values, matched terms and completeness.

        ``needs``: what an archive must hold (the company's checklist); None: the built-in seven papers.
        """
        found, more = self.find(db, parsed, unit=unit, limit=limit)
        rows = self.hit_rows(db, [doc_id for _, doc_id, _ in found])
        fields = self.masked_fields(db, list(rows))
        holdings = self.holdings(db, {r.archive_id for r in rows.values() if r.archive_id is not None})
        stored = self._stored_readings(parsed)
        groups: dict[str | None, list[DocumentHit]] = {}
        archives: dict[str, _HitRow] = {}
        for _, doc_id, exact in found:
            r = rows.get(doc_id)
            if r is None:
                continue
            hit = DocumentHit(
                id=r.id, doc_type=r.doc_type, doc_label=DOC_LABELS.get(r.doc_type, r.doc_type),
                source_name=r.source_name, first_page=r.first_page, pages=r.pages, status=r.status,
                created_at=r.created_at, fields=fields.get(doc_id, {}), exact_match=exact,
                matched=matched_terms(parsed, stored, r.text_tokens, r.field_tokens, fields.get(doc_id, {})))
            groups.setdefault(r.archive_id, []).append(hit)
            if r.archive_id is not None:
                archives[r.archive_id] = r
        result_groups = []
        for archive_id, hits in groups.items():
            a = archives.get(archive_id or "")
            result_groups.append(ArchiveGroup(
                archive_id=archive_id, estate=a.estate if a else None, building=a.building if a else None,
                unit=a.unit if a else None, room=a.room if a else None, status=a.archive_status if a else None,
                documents=tuple(hits),
                completeness=Completeness.of(holdings.get(archive_id, {}), needs) if archive_id else None))
        understood = tuple(tuple((r.kind, r.display) for r in p.readings) for p in parsed.parts)
        return SearchResult(understood=understood, filters=parsed.filters, groups=tuple(result_groups),
                            count=sum(len(g.documents) for g in result_groups), truncated=more)

    def _stored_readings(self, parsed: ParsedQuery) -> dict[int, list[tuple[Reading, tuple[str, ...]]]]:
        return {id(p): [(r, self.stored(r.tokens)) for r in p.readings] for p in parsed.parts}

    # ------------------------------------------------------------------ matching

    def find(self, db: Db, parsed: ParsedQuery, *, unit: UnitRef | None,
             limit: int) -> tuple[list[tuple[int, str, bool]], bool]:
        """(doc_no, document id, exact) of the hits, exact matches first; and whether there were more."""
        full = [[self.stored(r.tokens) for r in p.readings] for p in parsed.parts]
        exact = [[self.stored(r.tokens) for r in p.readings if r.exact] or alts
                 for p, alts in zip(parsed.parts, full, strict=True)]
        found: list[tuple[int, str, bool]] = []
        has_exact = any(r.exact for p in parsed.parts for r in p.readings)
        if has_exact:
            found = [(no, i, True) for no, i in self.match(db, exact, parsed.filters, unit, limit + 1, ())]
        if not has_exact or (len(found) <= limit and exact != full):
            rest = self.match(db, full, parsed.filters, unit, limit + 1 - len(found), [no for no, _, _ in found])
            found += [(no, i, False) for no, i in rest]
        return found[:limit], len(found) > limit

    def match(self, db: Db, groups: list[list[tuple[str, ...]]], filters: QueryFilters,
              unit: UnitRef | None, limit: int, exclude: Sequence[int]) -> list[tuple[int, str]]:
        """Doc numbers and ids of documents having, for every group, all tokens of one of its alternatives."""
        params: dict[str, Any] = {}
        where: list[str] = []
        if groups and db.dialect == "sqlite":
            params["fts_query"] = " AND ".join(
                "(" + " OR ".join("(" + " AND ".join(f'"{t}"' for t in alt) + ")" for alt in alts) + ")"
                for alts in groups)
            source = "search_fts JOIN search_docs ON search_docs.doc_no = search_fts.rowid"
            where.append("search_fts MATCH :fts_query")
            order = "search_fts.rowid DESC"
        else:
            # PostgreSQL: walking doc_no down and checking each row pays off only when the tokens are
            # common; its planner cannot tell (it prices the array check as nearly free), so the index's
            # own statistics decide: rarer tokens go through the GIN index and a sort of the few hits.
            walk = not groups or self._pg_token_share(db, groups) * filter_share(filters, unit) >= PG_WALK_SHARE
            source = "search_docs"
            order = "search_docs.doc_no DESC" if walk else "search_docs.doc_no + 0 DESC"
            for g, alts in enumerate(groups):
                ors = []
                for a, alt in enumerate(alts):
                    params[f"tok_{g}_{a}"] = list(alt)
                    ors.append(f"(search_docs.text_tokens || search_docs.field_tokens) @> CAST(:tok_{g}_{a} AS TEXT[])")
                where.append("(" + " OR ".join(ors) + ")")
        conds = filter_conditions(db, filters, unit, params, walk=db.dialect == "sqlite"
                                  and filter_share(filters, unit) >= WALK_FILTER_SHARE)
        if conds:
            source += (" JOIN documents ON documents.id = search_docs.document_id"
                       " LEFT OUTER JOIN archives ON archives.id = documents.archive_id")
            where += conds
            if (filters.date_from is not None or filters.date_to is not None) and not groups and unit is None:
                order = "documents.created_at DESC, search_docs.doc_no DESC"  # filing order: walk those days only
        if exclude:
            where.append("search_docs.doc_no NOT IN " + in_list("ex", list(exclude), params))
        params["lim"] = max(limit, 0)
        sql = (f"SELECT search_docs.doc_no, search_docs.document_id FROM {source}"
               + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {order} LIMIT :lim")
        return [(int(no), str(doc_id)) for no, doc_id in db.rows(sql, params)]

    def _pg_token_share(self, db: Db, groups: list[list[tuple[str, ...]]]) -> float:
        """Estimated share of documents matching ``groups``, from the GIN index's most common tokens.

        A token not among them is rarer than all of them (counted as 0). Parts are taken as
        independent; a reading matches as often as its rarest token.
        """
        stats = self.pg_stats
        if time.monotonic() - stats.read_at > PG_STATS_SECONDS:
            found = db.rows("SELECT CAST(CAST(most_common_elems AS TEXT) AS TEXT[]), most_common_elem_freqs "
                            "FROM pg_stats WHERE schemaname = current_schema() "
                            "AND tablename = 'ix_search_docs_tokens'")
            row = found[0] if found else None
            stats.freqs = dict(zip(row[0], row[1], strict=False)) if row and row[0] else {}
            stats.read_at = time.monotonic()
        share = 1.0
        for alts in groups:
            share *= min(1.0, sum(min((stats.freqs.get(t, 0.0) for t in alt), default=0.0) for alt in alts))
        return share

    # ------------------------------------------------------------------ reading the hits

    def hit_rows(self, db: Db, ids: Sequence[str]) -> dict[str, _HitRow]:
        """The documents, files, archives and search rows of the hits, by document id."""
        if not ids:
            return {}
        params: dict[str, Any] = {}
        sql = ("SELECT d.id, d.doc_type, d.first_page, d.pages, d.status, d.created_at, f.source_name, f.sha256, "
               "a.id, a.estate, a.building, a.unit, a.room, a.status, s.text_tokens, s.field_tokens "
               "FROM documents d JOIN files f ON d.file_id = f.id "
               "LEFT OUTER JOIN archives a ON d.archive_id = a.id "
               "JOIN search_docs s ON s.document_id = d.id WHERE d.id IN " + in_list("id", list(ids), params))
        out = {}
        for row in db.rows(sql, params):
            text_tokens, field_tokens = (_tokens(t) for t in row[14:16])
            out[row[0]] = _HitRow(*row[:5], aware(row[5]), *row[6:14], text_tokens, field_tokens)  # type: ignore[call-arg]
        return out

    def masked_fields(self, db: Db, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Per document: field name -> value (ID numbers, phones and addresses masked)."""
        out: dict[str, dict[str, str]] = {i: {} for i in ids}
        if ids:
            params: dict[str, Any] = {}
            sql = ("SELECT document_id, name, value, value_masked FROM fields WHERE document_id IN "
                   + in_list("id", list(ids), params) + " ORDER BY id")
            for doc_id, name, value, masked in db.rows(sql, params):
                out[doc_id][name] = (masked if value is None else value) or ""
        return out

    def holdings(self, db: Db, archive_ids: set[str]) -> dict[str | None, dict[str, int]]:
        """Per archive: document type -> how many documents of it it holds."""
        out: dict[str | None, dict[str, int]] = {}
        if archive_ids:
            params: dict[str, Any] = {}
            sql = ("SELECT archive_id, doc_type, count(*) FROM documents WHERE archive_id IN "
                   + in_list("a", sorted(archive_ids), params) + " GROUP BY archive_id, doc_type")
            for archive_id, doc_type, n in db.rows(sql, params):
                out.setdefault(archive_id, {})[doc_type] = int(n)
        return out


def _tokens(stored: Any) -> frozenset[str]:
    """A search row's tokens: a space-separated string on SQLite, an array on PostgreSQL."""
    if stored is None:
        return frozenset()
    return frozenset(stored.split() if isinstance(stored, str) else stored)


def filter_share(filters: QueryFilters, unit: UnitRef | None) -> float:
    """Rough share of documents passing the filters (a unit: a handful; an estate: a twentieth ...)."""
    share = 1.0
    if unit is not None:
        share *= 1e-5
    if filters.doc_types:
        share *= min(1.0, 0.1 * len(filters.doc_types))
    if filters.status:
        share *= 0.1 if filters.status == "needs_review" else 0.9
    if filters.estate:
        share *= 0.05
    if filters.building:
        share *= 0.03
    if filters.date_from is not None or filters.date_to is not None:
        share *= 0.1
    return share


def filter_conditions(db: Db, filters: QueryFilters, unit: UnitRef | None, params: dict[str, Any], *,
                      walk: bool = False) -> list[str]:
    """SQL conditions of the filters (over ``documents`` and ``archives``), their values put into ``params``.

    With ``walk``, the broad ones (type, status, estate, building) are written
    so that SQLite uses no index for them and walks doc_no down instead of
    sorting all the rows they pass.
    """
    plus = "+" if walk else ""
    conds: list[str] = []
    if filters.doc_types:
        conds.append(f"{plus}documents.doc_type IN " + in_list("type", list(filters.doc_types), params))
    if filters.status:
        params["status"] = filters.status
        conds.append(f"{plus}documents.status = :status")
    if filters.estate:
        params["estate"] = filters.estate
        conds.append(f"{plus}archives.estate = :estate")
    if filters.building:
        params["building"] = filters.building
        conds.append(f"{plus}archives.building = :building")
    if unit is not None:
        params.update(u_building=unit.building, u_unit=unit.unit, u_room=unit.room)
        conds += ["archives.building = :u_building", "archives.unit = :u_unit", "archives.room = :u_room"]
        if unit.estate:  # one unit of one estate: 3-2-1201 of another estate is another archive
            params["u_estate"] = estate_name(unit.estate)
            conds.append("archives.estate = :u_estate")
    if filters.date_from:
        params["date_from"] = db.timestamp(dt.datetime.combine(filters.date_from, dt.time(), tzinfo=CHINA))
        conds.append("documents.created_at >= :date_from")
    if filters.date_to:
        end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time(), tzinfo=CHINA)
        params["date_to"] = db.timestamp(end)
        conds.append("documents.created_at < :date_to")
    return conds


def matched_terms(parsed: ParsedQuery, stored: dict[int, list[tuple[Reading, tuple[str, ...]]]],
                  text_set: frozenset[str], field_set: frozenset[str],
                  fields: dict[str, str]) -> tuple[MatchedTerm, ...]:
    """How each part of the query matched one document (which reading; whether its words are in the OCR text)."""
    every = text_set | field_set
    out: list[MatchedTerm] = []
    for part in parsed.parts:
        readings = [(r, toks) for r, toks in stored[id(part)] if set(toks) <= every]
        if not readings:
            continue
        reading = next((r for r, _ in readings if r.exact), readings[0][0])
        words = next((toks for r, toks in stored[id(part)] if r.kind == "text"), ())
        secret = reading.kind in SECRET_KINDS
        in_text = bool(words) and set(words) <= text_set and not secret
        if reading.kind == "name":
            named = tuple(n for n, v in fields.items() if n in NAME_FIELDS and v.replace(" ", "") == reading.value)
        else:
            named = tuple(n for n in fields if n in _KIND_FIELDS.get(reading.kind, frozenset()))
        out.append(MatchedTerm(text=part.display if secret else part.text, kind=reading.kind,
                               highlight=in_text, fields=named))
    return tuple(out)


# --------------------------------------------------------------------------- a cold search process


class SearchReader:
    """An index opened by the database driver alone, for one search: its keys checked, nothing created.

    :func:`open_reader` gives one only for an index that needs nothing done
    to it first (current layout, archive keys bound); otherwise the caller
    opens the archive the full way (:meth:`storage.vault.Vault.open`), which
    creates, upgrades and binds.
    """

    def __init__(self, db: Db, searcher: Searcher, audit_key: bytes) -> None:
        self.db = db
        self.searcher = searcher
        self._audit_key = audit_key

    def close(self) -> None:
        """Close the connection."""
        with suppress(Exception):
            self.db.connection.close()

    def audit(self, actor: str, role: str, action: str, document_id: str | None = None,
              detail: dict[str, Any] | None = None) -> None:
        """Append to the audit log now (like :meth:`storage.index.Index.audit`)."""
        with self.errors("write the audit log"):
            append_audit(self.db, self._audit_key, actor, role, action, document_id, detail)
            self.db.commit()

    def search(self, identity: Identity, query: str, *, doc_type: str | None = None,
               unit: UnitRef | None = None, limit: int = 50) -> list[DocumentSummary]:
        """:meth:`storage.vault.Vault.search`: the same permission, scope and audit."""
        from web.access import Action, require, unit_scope

        scope = unit_scope(identity)
        require(identity, Action.SEARCH, self.audit, unit=unit or scope)
        with self.errors("search"):
            hits = self.searcher.documents(self.db, query, doc_type=doc_type, unit=unit or scope, limit=limit)
            self.db.commit()  # PostgreSQL: end the read transaction
        unit = unit or scope
        self.audit(identity.name, str(identity.role), "search",
                   detail={"hits": len(hits), "doc_type": doc_type, "unit": str(unit) if unit else None})
        return hits

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Driver failures as IndexUnavailable (no URL, no values), as :func:`storage.index.db_errors` says them."""
        try:
            yield
        except _driver_errors(self.db) as e:
            raise IndexUnavailable(f"The index could not {action} ({type(e).__name__}): check that the "
                                   "database is running and DANGAN_DB_URL is right.") from e


def _driver_errors(db: Db) -> tuple[type[Exception], ...]:
    if db.dialect == "sqlite":
        import sqlite3

        return (sqlite3.Error,)
    import psycopg2

    return (psycopg2.Error,)


def open_reader(settings: Settings, keys_loader: Callable[[], MasterKey]) -> SearchReader | None:
    """The index of ``settings`` opened by its driver for a search, or None: open it the full way instead.

    None when the URL is not a plain SQLite file or PostgreSQL database, the
    file does not exist, the index's layout is not the current one, its
    archive keys are not bound yet, or they are locked by another master key
    (the full way finishes an interrupted rotation or says what is wrong).
    A wrong or tampered key record raises, as the full way would.
    """
    url = settings.database_url
    db = _connect(url)
    if db is None:
        return None
    try:
        meta = dict(db.rows("SELECT key, value FROM index_meta WHERE key IN ('schema_version', 'search_layout', "
                            ":marker)", {"marker": MARKER}))
        if (meta.get("schema_version") != SCHEMA_VERSION or meta.get("search_layout") != SEARCH_LAYOUT
                or MARKER not in meta):  # an audit log not chained yet: the full open chains it
            db.connection.close()
            return None
        rows = db.rows("SELECT purpose, key_id, master_key_id, wrapped FROM archive_keys")
        if db.dialect == "postgresql":
            db.commit()
    except _driver_errors(db):
        with suppress(Exception):
            db.connection.close()
        return None  # no such table yet, a database that is down ...: the full way says what is wrong
    if not rows:
        db.connection.close()
        return None
    try:
        archive_keys = archive_keys_from_rows([(p, k, m, bytes(w)) for p, k, m, w in rows], keys_loader())
    except WrongMasterKey:
        db.connection.close()
        return None
    except BaseException:
        db.connection.close()
        raise
    return SearchReader(db, Searcher(BlindIndex(archive_keys)), chain_key(archive_keys))


def _connect(url: str) -> Db | None:
    """A connection by the driver alone, for the URL forms dangan writes; None for any other."""
    if url.startswith("sqlite:///") and "?" not in url:
        import sqlite3

        path = Path(url[len("sqlite:///"):])
        if not path.is_file():
            return None
        try:
            conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=30,
                                   isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error:
            return None
        return Db(conn, "sqlite")
    for prefix in ("postgresql+psycopg://", "postgresql://"):
        if url.startswith(prefix):
            # psycopg2, not psycopg: importing psycopg (asyncio, its adapters, an exception class per
            # SQLSTATE) costs a cold search more than everything else it does; psycopg2's C module, little.
            # Both take the same parameters and give the same values for these queries
            # (tests/test_search.py compares the answers with the index's, which reads through psycopg).
            import psycopg2

            try:
                pg = psycopg2.connect("postgresql://" + url[len(prefix):], connect_timeout=5)
            except psycopg2.Error:
                return None
            return Db(pg, "postgresql")
    return None
