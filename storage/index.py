"""The SQL index (索引): documents, pages, fields, data keys, blind search tokens, audit log.

Works on SQLite (default; WAL, foreign keys, busy timeout, secure delete) and
PostgreSQL (``postgresql+psycopg://``). ID numbers, phones and addresses are
never written in plain text: lookups use an HMAC column, display a masked
copy, and an audited reveal decrypts an AES-GCM column. OCR text is searchable
only through HMACs of its tokens (see :mod:`storage.blind`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateIndex

from rules import people_links
from rules import tables as _rules_tables  # noqa: F401 - so do the registers of requests and loans
from schemas.doctypes import spec_of
from schemas.documents import SENSITIVE_FIELDS
from schemas.errors import ConfigError, IndexUnavailable, InvalidRequest, KeyDestroyed, NotFound, WrongMasterKey
from schemas.models import (
    MAX_ESTATE_CHARS,
    Extraction,
    FieldValue,
    OcrPage,
    SourceFile,
    StoredObject,
    UnitRef,
    ValueSource,
    estate_name,
)
from schemas.validators import check_id_number
from storage.audit import AuditEntry, scrub_detail, scrub_text
from storage.auditlog import BATCH as AUDIT_BATCH
from storage.auditlog import (
    Anchor,
    AnchorFile,
    ChainReport,
    append_audit,
    chain_head,
    chain_key,
    chain_unchained,
    read_anchors,
    read_marker,
    verify_chain,
    write_anchor,
)
from storage.blind import (
    BlindIndex,
    canonical_value,
    estate_token,
    field_tokens,
    legacy_search_token,
    mask_value,
    text_tokens,
    unit_tokens,
)
from storage.corrections import forget as forget_corrections
from storage.corrections import reapply as reapply_corrections
from storage.crypto import DataKey, WrappedKey, unwrap_key
from storage.dbapi import Db
from storage.keys import MasterKey, bind_archive_keys, check_master_is_current, read_archive_keys, rewrap_archive
from storage.search import (
    ArchiveSummary,
    BrowseItem,
    BrowseResult,
    Completeness,
    DocumentSummary,
    Needs,
    QueryFilters,
    SearchResult,
    natural_key,
    understand,
)
from storage.searchsql import Searcher, unit_ref
from storage.shred import ShreddingKek
from storage.tables import (
    ARCHIVE_ACTIVE_UNIT_INDEX,
    ARCHIVE_PLACE_INDEX,
    ARCHIVE_UNIT_INDEX,
    MAX_VALUE_CHARS,
    SCHEMA_VERSION,
    SEARCH_LAYOUT,
    SQLITE_SEARCH_DDL,
    ArchiveKeyRow,
    ArchiveRow,
    AuditRow,
    Base,
    DataKeyRow,
    DocumentRow,
    FieldRow,
    FileRow,
    IngestRunRow,
    MetaRow,
    PageRow,
    SearchDocRow,
    SearchTokenRow,
    add_missing_columns,
    as_utc,
    purge_old_row_versions,
    utcnow,
)
from storage.unitpath import unit_source as fields_unit_source
from web import tables as _web_tables

if TYPE_CHECKING:
    from storage.keyring import Keyring

_BATCH = 200
#: Documents read at a time when an older index is upgraded.
_UPGRADE_BATCH = 2000
_RECORD_ATTEMPTS = 3
#: PostgreSQL advisory lock held while ``uq_archives_active_unit`` is replaced (any constant of dangan's own).
_ARCHIVE_INDEX_LOCK = 0x64616E67616E0001



class RunRecord(BaseModel):
    """One ingest run as ``dangan runs`` lists it."""

    model_config = ConfigDict(frozen=True)

    id: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    counts: dict[str, Any]

class PageInfo(BaseModel):
    """What the index knows about one page of a document."""

    model_config = ConfigDict(frozen=True)

    #: Page index (0-based) in the file.
    index: int
    rotation: int
    skew: float
    blank: bool
    engine: str
    mean_confidence: float
    width: int
    height: int
    line_count: int


class DocumentDetail(BaseModel):
    """A document as the index shows it: sensitive fields masked."""

    model_config = ConfigDict(frozen=True)

    id: str
    file_id: str
    source_name: str
    sha256: str
    kind: str
    size: int
    doc_type: str
    doc_type_confidence: float
    unit: UnitRef | None
    #: Where ``unit`` came from: ``ocr`` (read from the page), ``path`` (the drop folder) or ``cover_sheet``.
    unit_source: str | None = None
    archive_id: str | None
    #: The estate (小区) of the archive it is filed in, when known.
    estate: str | None = None
    first_page: int
    pages: int
    page_info: list[PageInfo]
    #: Plain value, or the masked value for sensitive fields.
    fields: dict[str, str]
    confidence: dict[str, float]
    #: Fields a person must check, with the reason (never contains the value).
    issues: dict[str, str]
    #: Where each field was read: {"page": index in the file, "box": [x0, y0, x1, y1]}.
    regions: dict[str, dict[str, Any]] = {}
    status: str
    original_key: str
    ocr_key: str
    dek_id: str
    run_id: str | None
    created_at: dt.datetime

    def export_record(self, revealed: dict[str, str] | None = None) -> dict[str, Any]:
        """Return the DESIGN.md export line; ``revealed`` replaces masked values (audited by the caller).

        ``first_page`` is the document's first page in its file (several documents may share one
        file), ``page_indices`` all its pages (blank pages between them belong to no document).
        ``issues`` (beyond the DESIGN.md keys) names each field a person must check, with the
        reason, so an invalid or uncertain value is never exported as if it were sure.
        ``unit_source`` says where ``unit`` came from (``path``, ``ocr``, ``cover_sheet``; None without a unit).
        """
        unit = self.unit.model_dump() if self.unit else None
        return {"id": self.id, "source_name": self.source_name, "sha256": self.sha256,
                "doc_type": self.doc_type, "unit": unit, "unit_source": self.unit_source if unit else None,
                "first_page": self.first_page, "pages": self.pages,
                "page_indices": [p.index for p in self.page_info],
                "fields": {**self.fields, **(revealed or {})}, "confidence": dict(self.confidence),
                "status": self.status, "issues": dict(self.issues)}


# --------------------------------------------------------------------------- engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN, so writers can ask for BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000",
                   "secure_delete=ON", "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: no read-then-write upgrade deadlock (SQLITE_BUSY).
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def _make_engine(url: str) -> tuple[Engine, Engine]:
    """Make the engine for reads and the one for write transactions."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as e:
        raise ConfigError("DANGAN_DB_URL is not a valid SQLAlchemy URL (e.g. "
                          "postgresql+psycopg://user@host/db or sqlite:///path).") from e
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we ship
    if parsed.get_backend_name() != "sqlite":
        args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
        engine = create_engine(parsed, pool_pre_ping=True, connect_args=args)
        return engine, engine
    if parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).parent
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise IndexUnavailable(f"Cannot create the index folder {folder}: {e.strerror}. Check "
                                   "DANGAN_HOME / DANGAN_DB_URL and permissions.") from e
    engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine, engine.execution_options(sqlite_begin="IMMEDIATE")


@contextmanager
def db_errors(action: str) -> Iterator[None]:
    """Turn driver failures into IndexUnavailable (message without the URL or row values)."""
    try:
        yield
    except sa_exc.IntegrityError:
        raise
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DBAPIError) as e:
        raise IndexUnavailable(f"The index could not {action} ({type(e.orig).__name__}): check that the "
                               "database is running and DANGAN_DB_URL is right.") from e


# --------------------------------------------------------------------------- index


class Index:
    """The SQL index of the archive."""

    def __init__(self, url: str, keys: MasterKey, keyring: Keyring | None = None) -> None:
        self._keys = keys
        #: The shredding keys of files (storage/keyring.py); None: files are wrapped by the master key alone.
        self.keyring = keyring
        self._blind_index: BlindIndex | None = None
        #: The search's queries (storage/searchsql.py), with the PostgreSQL token statistics they keep.
        self._search: Searcher | None = None
        #: What an archive must hold, for the completeness the search and browse show (the company's
        #: checklist, set by ``Vault.open``); None: the built-in seven papers.
        self.needs: Needs | None = None
        #: The audit chain's HMAC key (storage/auditlog.py), derived from the archive's keys on unlock.
        self._audit_key: bytes | None = None
        self._engine, self._write_engine = _make_engine(url)
        self.dialect = self._engine.dialect.name

    def __repr__(self) -> str:
        return f"Index(dialect={self.dialect!r})"

    def close(self) -> None:
        """Release pooled connections."""
        self._engine.dispose()

    @property
    def engine(self) -> Engine:
        """The engine of the index, for whole-index tools (backup, restore)."""
        return self._engine

    @property
    def write_engine(self) -> Engine:
        """The engine for write transactions (on SQLite they take the write lock at once)."""
        return self._write_engine

    def _read(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    def _write(self) -> Session:
        return Session(self._write_engine, expire_on_commit=False)

    def create_schema(self) -> None:
        """Create missing tables and indexes (idempotent); refuse an index of an older layout."""
        with db_errors("create its tables"):
            existing = inspect(self._write_engine)
            if existing.has_table("documents") and "file_id" not in {
                    c["name"] for c in existing.get_columns("documents")}:
                raise ConfigError("The index was created by an older dangan (one document per file). "
                                  "Point DANGAN_DB_URL (or DANGAN_HOME) at a new index and ingest the "
                                  "files in done/ again; the old index is left untouched.")
            Base.metadata.create_all(self._write_engine)
            self._add_missing_columns()
            self._upgrade_search()
            self._upgrade_archive_unit_index()
            self._upgrade_audit_columns()
            with self._write() as s, s.begin():
                if s.get(MetaRow, "schema_version") is None:
                    s.add(MetaRow(key="schema_version", value=SCHEMA_VERSION))

    def _add_missing_columns(self) -> None:
        """Add the nullable columns that came after layout version 2 to an index made before them.

        (The archives' estate: :meth:`_upgrade_archive_unit_index`, with the index it changes.)
        """
        for row in (DocumentRow, DataKeyRow, _web_tables.UserRow):
            add_missing_columns(self._write_engine, cast(Table, row.__table__))

    def _upgrade_archive_unit_index(self) -> None:
        """Make ``uq_archives_active_unit`` of an index made before it covered the estate cover it.

        Cheap when current (one catalogue read). The index is replaced in one
        transaction holding SQLite's write lock or a PostgreSQL advisory lock,
        which looks again once it holds the lock: two processes opening the
        same index at once replace it once, and a writer never sees the table
        without it. The new index allows more than the old one, so building it
        over the old rows cannot fail. An index without it at all (a
        bulk-loaded benchmark database) is left so.
        """
        name = str(ARCHIVE_ACTIVE_UNIT_INDEX.name)
        with self._engine.connect() as conn:
            if not _needs_estate(conn, name):
                return
        with self._write_engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ARCHIVE_INDEX_LOCK})
            if not _needs_estate(conn, name):
                return  # another process replaced it meanwhile
            conn.exec_driver_sql(f"DROP INDEX {name}")
            ARCHIVE_ACTIVE_UNIT_INDEX.create(conn)

    # ----------------------------------------------------------------- master key

    @property
    def _blind(self) -> BlindIndex:
        if self._blind_index is None:
            self.unlock()
        assert self._blind_index is not None
        return self._blind_index

    def unlock(self) -> None:
        """Check the master key against the archive's key records and load the archive's keys.

        WrongMasterKey (exit 6) when the archive is locked by another master
        key. An index without key records is bound to this master key (see
        :func:`storage.keys.bind_archive_keys`). An audit log written before
        the hash chain existed is chained here (it needs the archive's keys).
        """
        with db_errors("read the archive's keys"):
            with self._read() as s:
                keys = read_archive_keys(s, self._keys)
            if keys is None:
                try:
                    with self._write() as s, s.begin():
                        keys = bind_archive_keys(s, self._keys)
                except sa_exc.IntegrityError:  # another process bound it first: use its keys
                    with self._read() as s:
                        keys = read_archive_keys(s, self._keys)
                    if keys is None:
                        raise IndexUnavailable("The index's key records could not be written or read; "
                                               "run the command again.") from None
        self._blind_index = BlindIndex(keys, self._entry_secret)
        self._audit_key = chain_key(keys)
        self._upgrade_audit_chain()
        if self.keyring is not None or self.keyring_id() is None:  # else: once the keyring is bound (bind_keyring)
            self._upgrade_people()

    def entry_secret(self, entry_id: str) -> bytes:
        """The secret of a keyring entry (KeyDestroyed once erased; ConfigError without a keyring)."""
        return self._entry_secret(entry_id)

    def _entry_secret(self, entry_id: str) -> bytes:
        """The secret of a keyring entry (KeyDestroyed once erased; ConfigError without a keyring)."""
        if self.keyring is None:
            raise ConfigError("A document of this archive is protected by the keyring, which was not opened: "
                              "open the archive through dangan (DANGAN_KEYRING_URL).")
        return self.keyring.secret(entry_id, self._keys)

    def wrapping_key(self, wrapped: WrappedKey) -> MasterKey | ShreddingKek:
        """The key that unwraps ``wrapped``: the master key, or the master key with the file's keyring entry."""
        if wrapped.keyring_id is None:
            return self._keys
        return ShreddingKek(self._keys, wrapped.keyring_id, self._entry_secret(wrapped.keyring_id))

    def bind_keyring(self, keyring: Keyring) -> None:
        """Record which keyring this index belongs to (once), or check ``keyring`` is the one recorded.

        KeyringMissing when the index names another keyring.
        """
        from storage.keyring import KeyringMissing

        with db_errors("bind the keyring"):
            with self._read() as s:
                meta = s.get(MetaRow, "keyring_id")
                recorded = meta.value if meta is not None else None
            if recorded is None:
                try:
                    with self._write() as s, s.begin():
                        s.add(MetaRow(key="keyring_id", value=keyring.keyring_id))
                    recorded = keyring.keyring_id
                except sa_exc.IntegrityError:
                    with self._read() as s:
                        meta = s.get(MetaRow, "keyring_id")
                        recorded = meta.value if meta is not None else None
        if recorded != keyring.keyring_id:
            raise KeyringMissing(f"The keyring {keyring.where} (keyring {keyring.keyring_id}) is not this archive's: "
                                 f"the index belongs to keyring {recorded}. Put the archive's keyring back.")
        self.keyring = keyring
        if self._blind_index is not None:
            self._upgrade_people()  # reads values its entries seal (one read when done)

    def keyring_id(self) -> str | None:
        """Id of the keyring the index was bound to (None: not yet)."""
        with db_errors("read the index"), self._read() as s:
            meta = s.get(MetaRow, "keyring_id")
            return meta.value if meta is not None else None

    def unlocks(self, master: MasterKey) -> bool:
        """Tell whether ``master`` is the key this archive is locked by (nothing is written)."""
        try:
            with db_errors("read the archive's keys"), self._read() as s:
                return read_archive_keys(s, master) is not None
        except WrongMasterKey:
            return False

    def rotate_master_key(self, new: MasterKey) -> tuple[int, int]:
        """Re-wrap every data key and archive key under ``new`` in ONE transaction; (data keys, archive keys).

        Objects are not touched. Afterwards this Index (which holds the old
        key) refuses to write; open a new one with ``new``.
        """
        with db_errors("re-wrap the archive's keys"), self._write() as s, s.begin():
            return rewrap_archive(s, self._keys, new, self.keyring)

    def holds_data(self) -> bool:
        """True when the index holds any document, data key, archive key or audit entry (an archive exists)."""
        with db_errors("look at the index"), self._read() as s:
            for table in (ArchiveKeyRow, DataKeyRow, FileRow, DocumentRow, AuditRow, IngestRunRow):
                if s.scalar(select(table).limit(1)) is not None:
                    return True
        return False

    # ----------------------------------------------------------------- runs

    def begin_run(self, run_id: str | None = None) -> str:
        """Open an ingest run (with ``run_id``, or a new id); returns its id."""
        run_id = run_id or str(uuid.uuid4())
        with db_errors("start an ingest run"), self._write() as s, s.begin():
            s.add(IngestRunRow(id=run_id, status="running"))
        return run_id

    def interrupt_runs(self, run_ids: Sequence[str]) -> int:
        """Mark those of ``run_ids`` still ``running`` as ``interrupted`` (their process died); returns how many."""
        if not run_ids:
            return 0
        with db_errors("close an interrupted ingest run"), self._write() as s, s.begin():
            result = s.execute(update(IngestRunRow)
                               .where(IngestRunRow.id.in_(list(run_ids)), IngestRunRow.status == "running")
                               .values(finished_at=utcnow(), status="interrupted"))
            return int(getattr(result, "rowcount", 0) or 0)

    def object_keys(self) -> set[str]:
        """Every object key an index row refers to (originals and OCR results of archived files)."""
        with db_errors("list stored objects"), self._read() as s:
            rows = s.execute(select(FileRow.original_key, FileRow.ocr_key)).all()
        return {key for row in rows for key in row if key}

    def runs(self, limit: int = 50) -> list[RunRecord]:
        """The newest ingest runs first."""
        stmt = select(IngestRunRow).order_by(IngestRunRow.started_at.desc()).limit(limit)
        with db_errors("list ingest runs"), self._read() as s:
            return [RunRecord(id=r.id, started_at=as_utc(r.started_at),
                              finished_at=as_utc(r.finished_at) if r.finished_at else None,
                              status=r.status, counts=r.counts or {}) for r in s.scalars(stmt)]

    def finish_run(self, run_id: str, counts: dict[str, Any], status: str) -> None:
        """Close an ingest run with its counts (no personal data in ``counts``)."""
        with db_errors("finish an ingest run"), self._write() as s, s.begin():
            s.execute(update(IngestRunRow).where(IngestRunRow.id == run_id)
                      .values(finished_at=utcnow(), status=status, counts=scrub_detail(counts)))

    # ----------------------------------------------------------------- writing

    def find_by_sha256(self, sha256: str) -> list[str]:
        """Ids of the documents of the file whose original has this SHA-256 (empty: not archived)."""
        with db_errors("look up a document"), self._read() as s:
            return list(s.scalars(select(DocumentRow.id).join(FileRow, DocumentRow.file_id == FileRow.id)
                                  .where(FileRow.sha256 == sha256).order_by(DocumentRow.first_page)))

    def record_file(self, *, source: SourceFile, documents: Sequence[Extraction], pages: Sequence[OcrPage],
                    original: StoredObject, ocr: StoredObject, data_key: WrappedKey, run_id: str,
                    statuses: Sequence[str], unit: UnitRef | None = None,
                    unit_source: ValueSource = "path",
                    filed: Sequence[tuple[UnitRef | None, ValueSource]] | None = None) -> list[str]:
        """Insert a file with its documents, pages, fields, data key and search tokens in ONE transaction.

        Each document is filed in the active archive of ``unit`` (e.g. from the
        drop folder's path; ``unit_source`` says where it came from), else of
        the unit printed on it, if any. ``filed`` gives each document its own
        unit and its source instead (a cover sheet before it).

        An archive is one unit of one estate (小区): (estate, building, unit,
        room). A unit with its estate goes to that estate's archive of the unit,
        opened when there is none; an archive of the unit without an estate is
        not taken over (that one may belong to any estate: a person files it
        under its estate, :meth:`set_archive_estate`). A unit without an estate
        (the clerk named none) goes to the unit's active archive when it has
        exactly one, whatever its estate (a scan filed under 3-2-1201 belongs to
        the one 3-2-1201 there is); else to the unit's archive without an
        estate, opened when there is none. A document filed under an estate is
        found by it (``小区:锦绣花园``, ``锦绣花园3栋2单元1201``).

        Idempotent on ``source.sha256``: when the file exists (also when a
        concurrent writer commits it first) its document ids are returned and
        nothing is inserted. If that file's ``dek_id`` differs from
        ``data_key``'s, the caller lost a race and may have overwritten the
        content-addressed objects: it must re-seal them with :meth:`data_key` of
        the stored key (see :meth:`file_data_key_id`).
        """
        if len(statuses) != len(documents):
            raise ValueError("one status per document")
        _ = self._blind  # the archive's keys, read before the write transaction
        for _ in range(_RECORD_ATTEMPTS):
            existing = self.find_by_sha256(source.sha256)
            if existing:
                return existing
            try:
                with db_errors("record a document"), self._write() as s, s.begin():
                    return self._insert_file(s, source=source, documents=documents, pages=pages,
                                             original=original, ocr=ocr, data_key=data_key, run_id=run_id,
                                             statuses=statuses, unit=unit, unit_source=unit_source,
                                             filed=filed)
            except sa_exc.IntegrityError:
                continue  # a concurrent writer took this sha256 or opened this unit's archive first
        existing = self.find_by_sha256(source.sha256)
        if existing:
            return existing
        raise IndexUnavailable("The index refused the document's rows after retries (conflicting "
                               "rows); run the ingest again.")

    def record_document(self, *, source: SourceFile, extraction: Extraction, pages: Sequence[OcrPage],
                        original: StoredObject, ocr: StoredObject, data_key: WrappedKey, run_id: str,
                        status: str, unit: UnitRef | None = None) -> str:
        """Insert a file holding one document (all its pages); see :meth:`record_file`."""
        if not extraction.page_indices:
            extraction = extraction.model_copy(update={"page_indices": tuple(p.index for p in pages)})
        return self.record_file(source=source, documents=[extraction], pages=pages, original=original,
                                ocr=ocr, data_key=data_key, run_id=run_id, statuses=[status], unit=unit)[0]

    def file_data_key_id(self, sha256: str) -> str | None:
        """Id of the data key sealing the file with this SHA-256."""
        with db_errors("look up a file"), self._read() as s:
            return s.scalar(select(FileRow.dek_id).where(FileRow.sha256 == sha256))

    def _insert_file(self, s: Session, *, source: SourceFile, documents: Sequence[Extraction],
                     pages: Sequence[OcrPage], original: StoredObject, ocr: StoredObject, data_key: WrappedKey,
                     run_id: str, statuses: Sequence[str], unit: UnitRef | None,
                     unit_source: ValueSource = "path",
                     filed: Sequence[tuple[UnitRef | None, ValueSource]] | None = None) -> list[str]:
        found = s.scalars(select(DocumentRow.id).join(FileRow, DocumentRow.file_id == FileRow.id)
                          .where(FileRow.sha256 == source.sha256)).all()
        if found:
            return list(found)
        check_master_is_current(s, self._keys)
        file_id = str(uuid.uuid4())
        s.add(DataKeyRow(dek_id=data_key.dek_id, master_key_id=data_key.master_key_id,
                         algorithm=data_key.algorithm, wrapped=data_key.wrapped, keyring_id=data_key.keyring_id))
        s.add(FileRow(id=file_id, sha256=source.sha256, source_name=source.name, kind=str(source.kind),
                      size=source.size, page_count=len(pages), original_key=original.key, ocr_key=ocr.key,
                      dek_id=data_key.dek_id, run_id=run_id))
        s.flush()
        by_index = {p.index: p for p in pages}
        owner: dict[int, str] = {}
        doc_ids: list[str] = []
        where = list(filed) if filed is not None else [(unit, unit_source)] * len(documents)
        for extraction, status, (doc_unit, doc_unit_source) in zip(documents, statuses, where, strict=True):
            doc_id = str(uuid.uuid4())
            doc_ids.append(doc_id)
            indices = extraction.page_indices or tuple(by_index)
            owner.update(dict.fromkeys(indices, doc_id))
            extraction, status = reapply_corrections(s, self._blind, source.sha256, extraction, status)
            archive = self._archive_for(s, doc_unit or extraction.unit_ref)
            source_of_unit: str | None = doc_unit_source if doc_unit is not None else fields_unit_source(extraction)
            if archive is None:  # no unit printed nor given: the archive of the person it names (rules/people_links)
                filing = people_links.file_by_person(s, self._blind, extraction.doc_type,
                                                     people_links.readings_of(extraction))
                archive, source_of_unit = filing.archive, people_links.FILED_BY_ID
                if filing.issue is not None:
                    extraction, status = people_links.flag(extraction, filing), "needs_review"
                if archive is not None:
                    doc_unit = unit_ref(archive.building, archive.unit, archive.room)
            archive_id = archive.id if archive is not None else None
            checked = self._cross_check(s, extraction, archive_id, file_id)
            if checked.fields != extraction.fields:
                extraction, status = checked, "needs_review"
            s.add(DocumentRow(
                id=doc_id, file_id=file_id, first_page=extraction.first_page, pages=len(indices),
                doc_type=str(extraction.doc_type), doc_type_confidence=extraction.doc_type_confidence,
                archive_id=archive_id, status=status, unit_source=source_of_unit if archive_id else None))
            s.flush()
            if extraction.fields:
                s.execute(insert(FieldRow), [self._field_row(doc_id, f, entry=data_key.keyring_id)
                                             for f in extraction.fields.values()])
            people_links.link_document(s, self._blind, doc_id, extraction.doc_type,
                                       people_links.readings_of(extraction), entry=data_key.keyring_id)
            doc_pages = [by_index[i] for i in indices if i in by_index]
            s.add(SearchDocRow(document_id=doc_id,
                               text_tokens=" ".join(sorted(self._document_tokens(source, extraction, doc_pages))),
                               field_tokens=self._field_token_text(
                                   [(f.name, f.value) for f in extraction.fields.values()],
                                   _unit_parts(doc_unit or extraction.unit_ref if archive_id else None,
                                               extraction), archive.estate if archive is not None else None)))
        if pages:
            s.execute(insert(PageRow), [_page_row(file_id, owner.get(p.index), p) for p in pages])
        return doc_ids

    def _cross_check(self, s: Session, extraction: Extraction, archive_id: str | None, file_id: str) -> Extraction:
        """Check the people a new document names against documents already archived (see ``ocr.agree``).

        The same ID number (anywhere in the index) must carry the same name; the
        same name in the same unit archive must carry the same ID number. A
        disagreement is flagged on the new document's field and on the archived
        one's (whose document then needs review). Compared through keyed hashes:
        no ID number is read back in plain.
        """
        spec = spec_of(extraction.doc_type)
        fields = dict(extraction.fields)
        for person in spec.people:
            name = fields.get(person.name_field)
            number = fields.get(person.id_field) if person.id_field else None
            id_hmac = None
            if number is not None and number.valid and not check_id_number(number.value):
                id_hmac = self._blind.value_hmac(canonical_value(number.name, number.value))
            for other in self._people_like(s, name.value if name else None, id_hmac, archive_id, file_id):
                same_id = id_hmac is not None and other.id_hmac == id_hmac
                if same_id and name is not None and other.name is not None and other.name.value != name.value:
                    fields[name.name] = _disagreeing(name, f"the same ID number names '{other.name.value}' on "
                                                           f"an archived {other.label}")
                    _flag_archived(s, other.name, f"the same ID number names '{name.value}' on a newer "
                                                  f"{spec.label}")
                elif (not same_id and id_hmac and other.id_hmac and name is not None and other.name is not None
                      and other.name.value == name.value and number is not None and other.number is not None):
                    fields[number.name] = _disagreeing(number, f"'{name.value}' has another ID number on an "
                                                               f"archived {other.label}")
                    _flag_archived(s, other.number, f"'{name.value}' has another ID number on a newer {spec.label}")
        return extraction.model_copy(update={"fields": fields})

    def _people_like(self, s: Session, name: str | None, id_hmac: str | None, archive_id: str | None,
                     file_id: str) -> list[_ArchivedPerson]:
        """Archived people (other files) with this ID number anywhere, or this name in this archive."""
        if id_hmac is None and (name is None or archive_id is None):
            return []
        conds = []
        if id_hmac is not None:
            conds.append(FieldRow.value_hmac == id_hmac)
        if name is not None and archive_id is not None:
            conds.append((FieldRow.value == name) & (DocumentRow.archive_id == archive_id))
        docs = s.execute(select(DocumentRow.id, DocumentRow.doc_type).join(FieldRow, FieldRow.document_id ==
                                                                           DocumentRow.id)
                         .where(or_(*conds), DocumentRow.file_id != file_id).distinct()).all()
        found: list[_ArchivedPerson] = []
        for doc_id, doc_type in docs[:50]:
            rows = {f.name: f for f in s.scalars(select(FieldRow).where(FieldRow.document_id == doc_id))}
            other_spec = spec_of(doc_type)
            for person in other_spec.people:
                found.append(_ArchivedPerson(
                    label=other_spec.label, name=rows.get(person.name_field),
                    number=rows.get(person.id_field) if person.id_field else None))
        return found

    def _archive_for(self, s: Session, unit: UnitRef | None) -> ArchiveRow | None:
        """The active archive a document of ``unit`` is filed in, opened now if there is none.

        By the unit's estate when it names one, else the unit's only archive or
        its archive without an estate (see :meth:`record_file`).
        """
        if unit is None:
            return None
        active = list(s.scalars(select(ArchiveRow).where(
            ArchiveRow.building == unit.building, ArchiveRow.unit == unit.unit,
            ArchiveRow.room == unit.room, ArchiveRow.status == "active")))
        if unit.estate is None and len(active) == 1:
            return active[0]
        found = next((a for a in active if a.estate == unit.estate), None)
        if found is not None:
            return found
        archive = ArchiveRow(id=str(uuid.uuid4()), building=unit.building, unit=unit.unit, room=unit.room,
                             estate=unit.estate, status="active")
        s.add(archive)
        s.flush()
        return archive

    def _field_row(self, doc_id: str, f: FieldValue, *, entry: str | None = None) -> dict[str, Any]:
        row: dict[str, Any] = {"document_id": doc_id, "name": f.name, "confidence": f.confidence,
                               "valid": f.valid, "value": None, "value_masked": None, "value_hmac": None,
                               "value_enc": None, "value_key_id": None, "page": f.page,
                               "box": list(f.box) if f.box else None}
        issue = f.issue
        if f.name in SENSITIVE_FIELDS:
            masked = mask_value(f.name, f.value)
            enc, key_id = self._blind.encrypt_value(f.value, context=_field_context(doc_id, f.name), entry=entry)
            row.update(value_masked=masked[:MAX_VALUE_CHARS], value_enc=enc, value_key_id=key_id,
                       value_hmac=self._blind.value_hmac(canonical_value(f.name, f.value)))
            if issue and f.value:
                issue = issue.replace(f.value, masked)
        else:
            row["value"] = f.value[:MAX_VALUE_CHARS]
            if len(f.value) > MAX_VALUE_CHARS:
                issue = f"{issue + '; ' if issue else ''}value truncated to {MAX_VALUE_CHARS} characters"
        row["issue"] = scrub_text(issue) if issue else None
        return row

    def _document_tokens(self, source: SourceFile, extraction: Extraction,
                         pages: Sequence[OcrPage]) -> set[str]:
        """Stored search tokens of a document's OCR text and its file's name (fields: :meth:`_field_token_text`)."""
        texts = [p.text for p in pages]
        texts.append(Path(source.name).stem)
        return {self._blind.search_token(t) for t in text_tokens("\n".join(texts))}

    def _field_token_text(self, fields: Sequence[tuple[str, str]], unit: dict[str, str],
                          estate: str | None = None) -> str:
        """Stored search tokens of a document's field values and the (partial) unit it is filed under."""
        tokens: set[str] = set()
        for name, value in fields:
            tokens |= field_tokens(name, value)
        tokens |= unit_tokens(unit.get("building"), unit.get("unit"), unit.get("room"))
        if estate:
            tokens.add(estate_token(estate))
        return self._blind.search_tokens(tokens)

    # ----------------------------------------------------------------- reading

    # ----------------------------------------------------------------- search (see storage/search.py)

    def search(self, query: str, *, doc_type: str | None = None, unit: UnitRef | None = None,
               limit: int = 50) -> list[DocumentSummary]:
        """Find documents matching every part of ``query``, each read any way it can be (:func:`understand`).

        Documents matching as whole field values (a name, an ID number, a unit
        ...) come first, then newest first. An empty query lists the documents
        matching the filters. See :meth:`search_archives` for grouped results.
        The queries are :mod:`storage.searchsql`'s, which a cold ``dangan search`` runs too.
        """
        with db_errors("search"), self._raw() as db:
            return self._searcher.documents(db, query, doc_type=doc_type, unit=unit, limit=limit)

    def search_archives(self, query: str, *, doc_type: str | Sequence[str] | None = None,
                        estate: str | None = None, building: str | None = None, unit: UnitRef | None = None,
                        date_from: dt.date | None = None, date_to: dt.date | None = None,
                        status: str | None = None, limit: int = 50) -> SearchResult:
        """Search for the page: hits grouped by unit archive, with masked values, matched terms, completeness.

        ``query`` is the one search box (:mod:`storage.search`); the keyword
        filters are the page's controls and win over filters typed in the box.
        ``unit`` confines the search to one unit (an owner's own). Dates are
        filing dates (归档日期, China time). At most ``limit`` documents, newest
        first after the exact matches; groups come in the order of their first hit.
        """
        types = (doc_type,) if isinstance(doc_type, str) else tuple(doc_type) if doc_type else None
        parsed = understand(query, filters=QueryFilters(doc_types=types, estate=estate, building=building,
                                                        date_from=date_from, date_to=date_to, status=status))
        with db_errors("search"), self._raw() as db:
            return self._searcher.archives(db, parsed, unit=unit, limit=limit, needs=self.needs)

    @property
    def _searcher(self) -> Searcher:
        if self._search is None:
            self._search = Searcher(self._blind)
        return self._search

    @contextmanager
    def _raw_write(self) -> Iterator[Db]:
        """A driver connection of the write engine, committed when the block ends without an error."""
        raw = self._write_engine.raw_connection()
        try:
            db = Db(raw.driver_connection, self.dialect)
            yield db
            db.commit()
        finally:
            raw.close()

    @contextmanager
    def _raw(self) -> Iterator[Db]:
        """A driver connection of the read engine (for :mod:`storage.searchsql`), rolled back when returned."""
        raw = self._engine.raw_connection()
        try:
            yield Db(raw.driver_connection, self.dialect)
        finally:
            raw.close()

    def browse(self, estate: str | None = None, building: str | None = None,
               unit: str | None = None) -> BrowseResult:
        """One level of estate → building → unit → archive (active archives only).

        No argument: the estates (``""`` stands for archives without one).
        ``estate``: its buildings. ``building`` too: its units. ``unit`` too:
        the archives of that unit (one per room) with their completeness.
        ``estate=None`` with a building means any estate.
        """
        a = ArchiveRow
        conds = [a.status == "active"]
        if estate is not None:
            conds.append(a.estate.is_(None) if estate == "" else a.estate == estate)
        if building is not None:
            conds.append(a.building == building)
        if unit is not None:
            conds.append(a.unit == unit)
        if building is not None and unit is not None:
            with db_errors("browse"), self._read() as s:
                rows = list(s.scalars(select(a).where(*conds)))
            with db_errors("browse"), self._raw() as db:
                holdings = self._searcher.holdings(db, {r.id for r in rows})
            rows.sort(key=lambda r: (natural_key(r.estate), natural_key(r.room)))
            summaries = tuple(ArchiveSummary(
                id=r.id, estate=r.estate, building=r.building, unit=r.unit, room=r.room, status=r.status,
                documents=sum(holdings.get(r.id, {}).values()),
                completeness=Completeness.of(holdings.get(r.id, {}), self.needs)) for r in rows)
            return BrowseResult(level="archive", estate=estate, building=building, unit=unit, archives=summaries)
        level: Any = "unit" if building is not None else "building" if estate is not None else "estate"
        column = {"estate": a.estate, "building": a.building, "unit": a.unit}[level]
        with db_errors("browse"), self._read() as s:
            counts = s.execute(select(column, func.count()).where(*conds).group_by(column)).all()
        suffix = {"estate": "", "building": "栋", "unit": "单元"}[level]
        items = sorted((BrowseItem(value=v or "", label=(f"{v}{suffix}" if v else "未填小区"), archives=n)
                        for v, n in counts), key=lambda i: natural_key(i.value))
        return BrowseResult(level=level, estate=estate, building=building, items=tuple(items))

    def refresh_search(self, doc_id: str) -> None:
        """Recompute a document's field tokens from its fields and archive now (after a correction or refiling)."""
        with db_errors("update the search index"), self._write() as s, s.begin():
            row = s.get(DocumentRow, doc_id)
            if row is None:
                raise NotFound(f"No document with id {doc_id}.")
            self._relink_people(s, row)
            self._reindex_documents(s, [row], full=True)

    @property
    def blind(self) -> BlindIndex:
        """The archive's keyed hashes and field encryption (loads the archive's keys on first use)."""
        return self._blind

    def _relink_people(self, s: Session, row: DocumentRow) -> None:
        """Bring the people register in step with a document's fields; file it by person when it has no archive."""
        people_links.relink(s, self._blind, [row], self._plain_value)
        if row.archive_id is not None:
            return
        fields = list(s.scalars(select(FieldRow).where(FieldRow.document_id == row.id)))
        readings = people_links.stored_readings(fields, lambda f: self._plain_value(row.id, f))
        filing = people_links.file_by_person(s, self._blind, row.doc_type, readings)
        if filing.archive is not None:
            row.archive_id, row.unit_source = filing.archive.id, people_links.FILED_BY_ID
            s.flush()

    def _upgrade_people(self) -> None:
        """Fill the people register of an index made before it, from the stored fields (once; no OCR).

        Cheap when done (one read). The rebuild runs in one transaction holding
        SQLite's write lock or a PostgreSQL advisory lock and looks again once
        it holds it: two processes opening the index at once fill it once.
        """
        with db_errors("read the people register"), self._read() as s:
            if s.get(MetaRow, people_links.LAYOUT_KEY) is not None:
                return
        with db_errors("fill the people register"), self._write() as s, s.begin():
            if self.dialect == "postgresql":
                s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ARCHIVE_INDEX_LOCK + 1})
            if s.get(MetaRow, people_links.LAYOUT_KEY) is not None:
                return
            after = ""
            while True:  # a batch at a time, none kept: an index of a million documents is filled in bounded memory
                documents = list(s.scalars(select(DocumentRow).where(DocumentRow.id > after)
                                           .order_by(DocumentRow.id).limit(_UPGRADE_BATCH)))
                if not documents:
                    break
                people_links.relink(s, self._blind, documents, self._plain_value)
                after = documents[-1].id
                s.expunge_all()
            s.add(MetaRow(key=people_links.LAYOUT_KEY, value=people_links.LAYOUT))

    def set_archive_estate(self, archive_id: str, estate: str | None) -> None:
        """File a unit archive under an estate (小区); its documents are found by the estate at once.

        InvalidRequest when that estate has another active archive of the unit
        (an estate holds one active archive per unit).
        """
        estate = estate_name(estate)
        if estate is not None and len(estate) > MAX_ESTATE_CHARS:
            raise InvalidRequest(f"An estate name has at most {MAX_ESTATE_CHARS} characters.")
        with db_errors("update an archive"), self._write() as s, s.begin():
            archive = s.get(ArchiveRow, archive_id)
            if archive is None:
                raise NotFound(f"No archive with id {archive_id}.")
            if archive.status == "active":
                other = s.scalar(select(ArchiveRow.id).where(
                    ArchiveRow.id != archive.id, ArchiveRow.status == "active",
                    ArchiveRow.building == archive.building, ArchiveRow.unit == archive.unit,
                    ArchiveRow.room == archive.room,
                    ArchiveRow.estate.is_(None) if estate is None else ArchiveRow.estate == estate))
                if other is not None:
                    raise InvalidRequest(
                        f"{estate or 'No estate'} has an active archive of unit {archive.building}-{archive.unit}-"
                        f"{archive.room} already (archive {other}): set one of the two aside first.")
            archive.estate = estate
            s.flush()
            self._reindex_documents(s, list(s.scalars(select(DocumentRow).where(
                DocumentRow.archive_id == archive_id))), full=True)

    def reindex_search(self, *, full: bool = False, batch: int = 500) -> int:
        """Give documents their search row (layout 2); returns how many documents were (re)indexed.

        Without ``full``: the documents that have none (an index made before
        layout 2; also run by :meth:`create_schema`). Their text tokens come
        from their layout-1 tokens: the same HMACs, shortened, so no plain text
        (nor the object store) is needed; those rows are then deleted. Field
        tokens are computed from the stored fields (ID numbers and phones
        decrypted in memory, never written) and the archive. With ``full``,
        every document's field tokens are recomputed and its text tokens kept.
        """
        done = 0
        after: tuple[dt.datetime, str] | None = None
        while True:
            with db_errors("rebuild the search index"), self._write() as s, s.begin():
                stmt = select(DocumentRow).order_by(DocumentRow.created_at, DocumentRow.id).limit(batch)
                if full:
                    if after is not None:
                        stmt = stmt.where(tuple_(DocumentRow.created_at, DocumentRow.id) >
                                          tuple_(literal(after[0]), literal(after[1])))
                else:
                    stmt = stmt.where(~select(SearchDocRow.doc_no).where(
                        SearchDocRow.document_id == DocumentRow.id).exists())
                rows = list(s.scalars(stmt))
                if rows:
                    self._reindex_documents(s, rows, full=full)
                    after = (rows[-1].created_at, rows[-1].id)
                done += len(rows)
            if len(rows) < batch:
                break
        with db_errors("rebuild the search index"), self._write() as s, s.begin():
            meta = s.get(MetaRow, "search_layout")
            if meta is None:
                s.add(MetaRow(key="search_layout", value=SEARCH_LAYOUT))
            else:
                meta.value = SEARCH_LAYOUT
        return done

    def _reindex_documents(self, s: Session, rows: Sequence[DocumentRow], *, full: bool) -> None:
        """Write the search rows of ``rows`` (inside the caller's write transaction)."""
        ids = [r.id for r in rows]
        fields: dict[str, list[FieldRow]] = {i: [] for i in ids}
        for f in s.scalars(select(FieldRow).where(FieldRow.document_id.in_(ids)).order_by(FieldRow.id)):
            fields[f.document_id].append(f)
        legacy: dict[str, list[str]] = {i: [] for i in ids}
        for doc_id, token in s.execute(select(SearchTokenRow.document_id, SearchTokenRow.token_hmac)
                                       .where(SearchTokenRow.document_id.in_(ids))):
            legacy[doc_id].append(legacy_search_token(token))
        existing = {r.document_id: r for r in s.scalars(select(SearchDocRow).where(
            SearchDocRow.document_id.in_(ids)))}
        archive_ids = {r.archive_id for r in rows if r.archive_id}
        archives = {a.id: a for a in s.scalars(select(ArchiveRow).where(ArchiveRow.id.in_(archive_ids)))}
        for row in rows:
            values = [(f.name, self._plain_value(row.id, f)) for f in fields[row.id]]
            archive = archives.get(row.archive_id or "")
            if archive is not None:
                unit = {"building": archive.building, "unit": archive.unit, "room": archive.room}
            else:
                unit = {name: value for name, value in values if name in ("building", "unit", "room")}
            field_text = self._field_token_text(values, unit, archive.estate if archive else None)
            current = existing.get(row.id)
            if current is not None:
                current.field_tokens = field_text
                if legacy[row.id]:
                    current.text_tokens = " ".join(sorted(set(current.text_tokens.split()) | set(legacy[row.id])))
            else:
                s.add(SearchDocRow(document_id=row.id, text_tokens=" ".join(sorted(set(legacy[row.id]))),
                                   field_tokens=field_text))
        s.flush()
        s.execute(delete(SearchTokenRow).where(SearchTokenRow.document_id.in_(ids)))

    def _plain_value(self, doc_id: str, f: FieldRow) -> str:
        if f.value is not None:
            return f.value
        if f.value_enc is None:
            return ""
        return self._blind.decrypt_value(f.value_enc, key_id=f.value_key_id or "",
                                         context=_field_context(doc_id, f.name))

    def _upgrade_search(self) -> None:
        """Bring an index made before search layout 2 up to it (see :meth:`reindex_search`); cheap when current."""
        with self._read() as s:
            meta = s.get(MetaRow, "search_layout")
            if meta is not None and meta.value == SEARCH_LAYOUT:
                return
            has_documents = s.scalar(select(DocumentRow.id).limit(1)) is not None
        engine = self._write_engine
        if "estate" not in {c["name"] for c in inspect(engine).get_columns("archives")}:
            try:
                with engine.begin() as conn:
                    conn.execute(text("ALTER TABLE archives ADD COLUMN estate VARCHAR(64)"))
            except sa_exc.DBAPIError:
                if "estate" not in {c["name"] for c in inspect(engine).get_columns("archives")}:
                    raise
        for archive_index in (ARCHIVE_PLACE_INDEX, ARCHIVE_UNIT_INDEX):
            try:  # not checkfirst: reflecting the table's indexes warns about the expression one (SQLite)
                with engine.begin() as conn:
                    conn.execute(CreateIndex(archive_index, if_not_exists=True))
            except sa_exc.DBAPIError:
                pass  # another process made it first
        if self.dialect == "sqlite":
            with engine.begin() as conn:
                for ddl in SQLITE_SEARCH_DDL:
                    conn.exec_driver_sql(ddl)
        if has_documents:
            self.reindex_search()
            return
        try:
            with self._write() as s, s.begin():
                if s.get(MetaRow, "search_layout") is None:
                    s.add(MetaRow(key="search_layout", value=SEARCH_LAYOUT))
        except sa_exc.IntegrityError:
            pass  # another process recorded it first

    def _merge_search_index(self) -> None:
        """SQLite: merge the FTS index so entries of deleted documents are gone from the file, not just marked."""
        if self.dialect != "sqlite":
            return
        try:
            with self._write_engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
            with self._engine.connect() as c:
                c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except sa_exc.DBAPIError:
            return

    def get_document(self, doc_id: str) -> DocumentDetail:
        """Return the document with masked sensitive fields; NotFound if there is none."""
        with db_errors("read a document"), self._read() as s:
            row = s.get(DocumentRow, doc_id)
            if row is None:
                raise NotFound(f"No document with id {doc_id}.")
            return self._details(s, [row])[0]

    def get_documents(self, doc_ids: Sequence[str]) -> dict[str, DocumentDetail]:
        """The documents ``doc_ids`` with masked sensitive fields, read together (by id; unknown ids left out)."""
        wanted = list(dict.fromkeys(doc_ids))
        if not wanted:
            return {}
        with db_errors("read documents"), self._read() as s:
            rows = list(s.scalars(select(DocumentRow).where(DocumentRow.id.in_(wanted))))
            return {d.id: d for d in self._details(s, rows)}

    def iter_documents(self) -> Iterator[DocumentDetail]:
        """Every document, oldest first (a file's documents in page order), read in batches."""
        after: tuple[dt.datetime, str, int] | None = None
        order = (DocumentRow.created_at, DocumentRow.file_id, DocumentRow.first_page)
        while True:
            stmt = select(DocumentRow).order_by(*order).limit(_BATCH)
            if after is not None:
                stmt = stmt.where(tuple_(*order) > tuple_(*(literal(v) for v in after)))
            with db_errors("list documents"), self._read() as s:
                rows = list(s.scalars(stmt))
                details = self._details(s, rows)
            yield from details
            if len(rows) < _BATCH:
                return
            after = (rows[-1].created_at, rows[-1].file_id, rows[-1].first_page)

    def _details(self, s: Session, rows: Sequence[DocumentRow]) -> list[DocumentDetail]:
        ids = [r.id for r in rows]
        if not ids:
            return []
        fields: dict[str, list[FieldRow]] = {i: [] for i in ids}
        for f in s.scalars(select(FieldRow).where(FieldRow.document_id.in_(ids)).order_by(FieldRow.id)):
            fields[f.document_id].append(f)
        pages: dict[str, list[PageRow]] = {i: [] for i in ids}
        for p in s.scalars(select(PageRow).where(PageRow.document_id.in_(ids)).order_by(PageRow.index)):
            pages[p.document_id or ""].append(p)
        files = {f.id: f for f in s.scalars(select(FileRow).where(FileRow.id.in_({r.file_id for r in rows})))}
        archive_ids = {r.archive_id for r in rows if r.archive_id}
        archives = {a.id: a for a in s.scalars(select(ArchiveRow).where(ArchiveRow.id.in_(archive_ids)))}
        return [_detail(r, files[r.file_id], fields[r.id], pages[r.id], archives.get(r.archive_id or ""))
                for r in rows]

    def reveal_fields(self, doc_id: str) -> dict[str, str]:
        """Plain values of the document's sensitive fields (callers must check the role and audit)."""
        with db_errors("read a document"), self._read() as s:
            if s.get(DocumentRow, doc_id) is None:
                raise NotFound(f"No document with id {doc_id}.")
            rows = s.scalars(select(FieldRow).where(FieldRow.document_id == doc_id,
                                                    FieldRow.value_enc.is_not(None)))
            return {f.name: self._blind.decrypt_value(f.value_enc or b"", key_id=f.value_key_id or "",
                                                      context=_field_context(doc_id, f.name))
                    for f in rows}

    # ----------------------------------------------------------------- keys

    def wrapped_key(self, dek_id: str) -> WrappedKey:
        """Return the wrapped data key; KeyDestroyed once it was shredded, NotFound if unknown."""
        with db_errors("read a data key"), self._read() as s:
            row = s.get(DataKeyRow, dek_id)
        if row is None:
            raise NotFound(f"No data key with id {dek_id}.")
        if row.destroyed_at is not None or not row.wrapped:
            raise KeyDestroyed(f"Data key {dek_id} was destroyed; the document's objects cannot be "
                               "decrypted any more.")
        return WrappedKey(dek_id=row.dek_id, master_key_id=row.master_key_id, algorithm=row.algorithm,
                          wrapped=row.wrapped, keyring_id=row.keyring_id)

    def data_key(self, dek_id: str) -> DataKey:
        """Return the unwrapped data key (KeyDestroyed once shredded, in the index or in the keyring)."""
        wrapped = self.wrapped_key(dek_id)
        return unwrap_key(wrapped, self.wrapping_key(wrapped))

    def destroy_data_key(self, dek_id: str) -> None:
        """Crypto-shred: erase the wrapped key bytes and mark the key destroyed (irreversible)."""
        with db_errors("destroy a data key"), self._write() as s, s.begin():
            s.execute(update(DataKeyRow).where(DataKeyRow.dek_id == dek_id)
                      .values(wrapped=None, destroyed_at=utcnow()))
        self._purge_old_row_versions()

    def destroy_document(self, doc_id: str, *, actor: str, role: str, approved_by: str,
                         reason: str) -> list[str]:
        """Destroy a document and every other document of its file; returns the destroyed ids.

        The documents of one file share its sealed original and data key, so
        they are destroyed together: the key is shredded, their rows deleted,
        and each destruction recorded (who, why, approved by whom). The objects
        become undecryptable everywhere (store, backups, replicas); deleting
        them from the store is the caller's (optional) clean-up.
        """
        audit_key = self._chain_key  # before the transaction: unlocking may write in its own
        with db_errors("destroy a document"), self._write() as s, s.begin():
            row = s.get(DocumentRow, doc_id)
            if row is None:
                raise NotFound(f"No document with id {doc_id}.")
            file = s.get(FileRow, row.file_id)
            assert file is not None  # a foreign key
            siblings = list(s.scalars(select(DocumentRow.id).where(DocumentRow.file_id == file.id)
                                      .order_by(DocumentRow.first_page)))
            entry = s.scalar(select(DataKeyRow.keyring_id).where(DataKeyRow.dek_id == file.dek_id))
            if entry is not None and self.keyring is not None:
                self.keyring.destroy([entry])  # first: from now on no copy of the index opens the file
            detail = {"method": "crypto-shred", "dek_id": file.dek_id, "sha256": file.sha256,
                      "keyring": entry is not None,
                      "approved_by": approved_by, "reason": reason, "documents_of_file": len(siblings)}
            dek_id = file.dek_id
            delete_file_rows(s, [file.id])
            s.execute(update(DataKeyRow).where(DataKeyRow.dek_id == dek_id)
                      .values(wrapped=None, destroyed_at=utcnow()))
            log = Db(s.connection().connection.driver_connection, self.dialect)  # this transaction's
            for sibling in siblings:
                append_audit(log, audit_key, actor, role, "destroy", sibling, detail, outcome="destroyed")
        self.purge_shredded()
        return siblings

    def purge_shredded(self) -> None:
        """After rows were shredded: make the database drop their old copies and merge the search index now."""
        self._purge_old_row_versions()
        self._merge_search_index()

    def audit_in(self, s: Session, actor: str, role: str, action: str, document_id: str | None = None,
                 detail: dict[str, Any] | None = None, *, outcome: str | None = None) -> None:
        """Append an audit event inside the write transaction of ``s`` (it commits or rolls back with it).

        Read :attr:`_chain_key` (``self.unlock()``) before opening ``s``: unlocking may write.
        """
        log = Db(s.connection().connection.driver_connection, self.dialect)
        append_audit(log, self._chain_key, actor, role, action, document_id, detail, outcome=outcome)

    def _purge_old_row_versions(self) -> None:
        """Best effort: make the database drop old copies of shredded rows now, not some day."""
        purge_old_row_versions(self._engine, ("data_keys", "fields", "search_tokens", "search_docs", "people"))

    # ----------------------------------------------------------------- audit

    @property
    def _chain_key(self) -> bytes:
        if self._audit_key is None:
            self.unlock()
        assert self._audit_key is not None
        return self._audit_key

    def audit(self, actor: str, role: str, action: str, document_id: str | None = None,
              detail: dict[str, Any] | None = None, *, purpose: str | None = None,
              outcome: str | None = None) -> None:
        """Append one event to the audit chain (ID numbers and phones in ``detail`` and ``purpose`` are masked).

        ``purpose`` and ``outcome`` default to the detail's keys of those names, the outcome to ``done``.
        """
        key = self._chain_key
        with db_errors("write the audit log"), self._raw_write() as db:
            append_audit(db, key, actor, role, action, document_id, detail, purpose=purpose, outcome=outcome)

    def audit_entries(self, *, document_id: str | None = None, actor: str | None = None, action: str | None = None,
                      outcome: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                      limit: int = 1000) -> list[AuditEntry]:
        """Newest audit entries first, those of the given document, actor, action, outcome and time only.

        Time: ``since <= at < until``.
        """
        stmt = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        for column, wanted in ((AuditRow.document_id, document_id), (AuditRow.actor, actor),
                               (AuditRow.action, action), (AuditRow.outcome, outcome)):
            if wanted is not None:
                stmt = stmt.where(column == wanted)
        if since is not None:  # SQLite compares the stored UTC text: give it UTC
            stmt = stmt.where(AuditRow.at >= since.astimezone(dt.UTC))
        if until is not None:
            stmt = stmt.where(AuditRow.at < until.astimezone(dt.UTC))
        with db_errors("read the audit log"), self._read() as s:
            return [AuditEntry(id=a.id, at=as_utc(a.at), actor=a.actor, role=a.role, action=a.action,
                               document_id=a.document_id, detail=a.detail, purpose=a.purpose, outcome=a.outcome,
                               prev_hash=a.prev_hash, hash=a.hash) for a in s.scalars(stmt)]

    def audit_head(self) -> Anchor:
        """The audit chain's head now (its last event and that event's hash), as an anchor to write."""
        key = self._chain_key
        with db_errors("read the audit log"), self._raw() as db:
            return chain_head(db, key)

    def anchor_audit(self, path: Path) -> Anchor:
        """Write the audit chain's head to the anchor file ``path`` (:func:`storage.auditlog.write_anchor`)."""
        return write_anchor(path, self.audit_head())

    def verify_audit(self, anchor_file: Path | None = None, *, batch: int = AUDIT_BATCH) -> ChainReport:
        """Walk the whole audit chain and check the anchors in ``anchor_file`` (see ``auditlog.verify_chain``)."""
        key = self._chain_key
        anchors = read_anchors(anchor_file, key) if anchor_file is not None else AnchorFile(anchors=())
        with db_errors("read the audit log"), self._raw() as db:
            report = verify_chain(db, key, anchors.anchors, batch=batch)
        return report.model_copy(update={"anchors_of_other_chains": anchors.other_chains,
                                         "anchors_unreadable": anchors.unreadable,
                                         "anchor_file_found": None if anchor_file is None else not anchors.missing})

    def _upgrade_audit_columns(self) -> None:
        """Add the hash chain's columns and indexes to an audit log made before them (its rows: see unlock)."""
        engine = self._write_engine
        table = cast(Table, AuditRow.__table__)
        if not add_missing_columns(engine, table):
            return
        for audit_index in table.indexes:
            try:
                with engine.begin() as conn:
                    conn.execute(CreateIndex(audit_index, if_not_exists=True))
            except sa_exc.DBAPIError:
                pass  # another process made it first

    def _upgrade_audit_chain(self) -> None:
        """Chain an audit log written before the hash chain existed, once (:func:`storage.auditlog.chain_unchained`).

        Cheap when chained (one read). Safe when two processes open the index
        at once: the chaining runs under the chain's lock and looks again.
        """
        key = self._audit_key
        assert key is not None
        with db_errors("chain the audit log"):
            with self._raw() as db:
                if read_marker(db) is not None:
                    return
            with self._raw_write() as db:
                chain_unchained(db, key)


# --------------------------------------------------------------------------- helpers


class _ArchivedPerson:
    """A person named on an archived document: the field rows of their name and ID number."""

    def __init__(self, *, label: str, name: FieldRow | None, number: FieldRow | None) -> None:
        self.label = label
        self.name = name
        self.number = number

    @property
    def id_hmac(self) -> str | None:
        """Keyed hash of the ID number, when one was read and passed its checks."""
        return self.number.value_hmac if self.number is not None and self.number.valid else None


def _disagreeing(value: FieldValue, reason: str) -> FieldValue:
    """A new field that disagrees with the archive: flagged, with the reason (the first one wins)."""
    evidence = {**(value.evidence or {}), "agree": -1.0}
    return value.model_copy(update={"issue": value.issue or f"disagrees: {reason}", "evidence": evidence})


def _flag_archived(s: Session, row: FieldRow | None, reason: str) -> None:
    """Flag an archived field that a new document contradicts; its document needs review again."""
    if row is None:
        return
    if not row.issue:
        row.issue = scrub_text(f"disagrees: {reason}")
    s.execute(update(DocumentRow).where(DocumentRow.id == row.document_id).values(status="needs_review"))


def _field_context(doc_id: str, name: str) -> str:
    return f"field|{doc_id}|{name}"


def _page_row(file_id: str, doc_id: str | None, p: OcrPage) -> dict[str, Any]:
    return {"file_id": file_id, "document_id": doc_id, "index": p.index, "rotation": p.rotation, "skew": p.skew,
            "blank": p.blank, "engine": p.engine, "mean_confidence": p.mean_confidence,
            "width": p.width, "height": p.height, "line_count": len(p.lines)}


def _needs_estate(conn: Connection, name: str) -> bool:
    """Whether the index ``name`` exists in the shape made before estates: columns only, no ``coalesce(estate, '')``.

    PostgreSQL: read from ``pg_index`` itself, never through ``pg_get_indexdef``,
    which fails on an index another process drops meanwhile.
    """
    if conn.dialect.name == "postgresql":
        return bool(conn.scalar(text(
            "SELECT i.indexprs IS NULL FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = :name AND n.nspname = current_schema()"),
            {"name": name}))
    definition = conn.scalar(text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"),
                             {"name": name})
    return definition is not None and "estate" not in str(definition).lower()


def delete_file_rows(s: Session, file_ids: Sequence[str]) -> list[str]:
    """Delete the rows of the files ``file_ids`` and of their documents (inside the caller's transaction).

    Their search rows, fields, corrections, pages, documents and the files themselves go (the people
    register with its documents, by cascade); their data keys stay, for the caller to shred. Returns the
    documents' ids.
    """
    files = list(s.execute(select(FileRow.id, FileRow.sha256).where(FileRow.id.in_(file_ids))))
    ids = [f.id for f in files]
    docs = list(s.scalars(select(DocumentRow.id).where(DocumentRow.file_id.in_(ids))))
    for table in (SearchDocRow, SearchTokenRow, FieldRow):
        s.execute(delete(table).where(table.document_id.in_(docs)))
    for f in files:
        forget_corrections(s, f.sha256)
    s.execute(delete(PageRow).where(PageRow.file_id.in_(ids)))
    s.execute(delete(DocumentRow).where(DocumentRow.file_id.in_(ids)))
    s.execute(delete(FileRow).where(FileRow.id.in_(ids)))
    return docs


def _detail(r: DocumentRow, file: FileRow, fields: list[FieldRow], pages: list[PageRow],
            archive: ArchiveRow | None) -> DocumentDetail:
    return DocumentDetail(
        id=r.id, file_id=file.id, source_name=file.source_name, sha256=file.sha256, kind=file.kind,
        size=file.size, doc_type=r.doc_type, doc_type_confidence=r.doc_type_confidence,
        unit=unit_ref(archive.building, archive.unit, archive.room, archive.estate) if archive else None,
        # Before the column existed, every filed unit was read from the page.
        unit_source=(r.unit_source or "ocr") if archive else None,
        archive_id=r.archive_id, estate=archive.estate if archive else None, first_page=r.first_page, pages=r.pages,
        page_info=[PageInfo(index=p.index, rotation=p.rotation, skew=p.skew, blank=p.blank, engine=p.engine,
                            mean_confidence=p.mean_confidence, width=p.width, height=p.height,
                            line_count=p.line_count) for p in pages],
        fields={f.name: (f.value_masked if f.value is None else f.value) or "" for f in fields},
        confidence={f.name: f.confidence for f in fields},
        issues={f.name: f.issue or "invalid" for f in fields if not f.valid or f.issue},
        regions={f.name: {"page": f.page, "box": f.box} for f in fields if f.page is not None and f.box},
        status=r.status, original_key=file.original_key, ocr_key=file.ocr_key, dek_id=file.dek_id,
        run_id=file.run_id, created_at=as_utc(r.created_at))


def _unit_parts(unit: UnitRef | None, extraction: Extraction) -> dict[str, str]:
    """The (partial) unit a new document is found by: its archive's, else the unit fields it has."""
    if unit is not None:
        return unit.model_dump()
    return {p: f.value for p in ("building", "unit", "room") if (f := extraction.fields.get(p)) is not None}


