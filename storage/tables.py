"""SQL tables of the index (SQLAlchemy 2 declarative mapping; SQLite and PostgreSQL).

No column holds an ID number, a phone number, an address or OCR text in
plain text: sensitive field values live as HMAC + mask + ciphertext, and
search tokens only as truncated HMACs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import (
    ARRAY,
    DDL,
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    func,
    inspect,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

# The layout versions live in storage/layout.py (a cold search reads them without SQLAlchemy).
from schemas.models import place_text
from storage.layout import SCHEMA_VERSION as SCHEMA_VERSION
from storage.layout import SEARCH_LAYOUT as SEARCH_LAYOUT
from storage.layout import as_utc as as_utc

#: Longest plain field value kept (a btree index entry must stay under ~2.7 kB in PostgreSQL).
MAX_VALUE_CHARS = 400
#: Auto-increment big integer that SQLite also accepts as ROWID alias.
BigId = BigInteger().with_variant(Integer, "sqlite")
#: Timezone-aware timestamp (stored as UTC).
Stamp = DateTime(timezone=True)


def utcnow() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


def add_missing_columns(engine: Engine, table: Table) -> list[str]:
    """Add to ``table`` in the database the (nullable) columns its declaration has and the database lacks.

    How an index made by an older dangan gains a newer column when opened.
    Safe when two processes open it at once (the one that loses the race
    finds the column there). Returns the names of the columns that were missing.
    """
    present = {c["name"] for c in inspect(engine).get_columns(table.name)}
    missing = [c for c in table.columns if c.name not in present]
    for column in missing:
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} "
                                     f"{column.type.compile(dialect=engine.dialect)}")
        except sa_exc.DBAPIError:
            if column.name not in {c["name"] for c in inspect(engine).get_columns(table.name)}:
                raise
            # another process added it first
    return [c.name for c in missing]


def create_missing_tables(engine: Engine, rows: Sequence[type[Any]]) -> None:
    """Create the tables of the declarations ``rows`` that the database lacks (idempotent).

    How an index made before a register existed gains it. Safe when two
    processes open it at once (the one that loses the race finds the table there).
    """
    for row in rows:
        table: Table = row.__table__
        try:
            table.create(engine, checkfirst=True)
        except sa_exc.DBAPIError:
            if not inspect(engine).has_table(table.name):
                raise
            # another process created it first


def purge_old_row_versions(engine: Engine, tables: Sequence[str]) -> None:
    """Best effort: make the database drop the old copies of shredded rows now, not some day.

    SQLite: a checkpoint that truncates the write-ahead log (``secure_delete`` has zeroed the pages);
    PostgreSQL: a VACUUM of ``tables``. A failure leaves it to autovacuum or the next checkpoint.
    """
    with contextlib.suppress(sa_exc.DBAPIError):
        if engine.dialect.name == "sqlite":
            with engine.connect() as c:
                c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql(f"VACUUM {', '.join(tables)}")


class Base(DeclarativeBase):
    """Declarative base of the index tables."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, dt.datetime: Stamp}


class ArchiveRow(Base):
    """One archive per household unit of an estate (分户档案); a former owner's archive is set aside.

    One active archive per (estate, building, unit, room): see :data:`ARCHIVE_ACTIVE_UNIT_INDEX`.
    """

    __tablename__ = "archives"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(64))
    room: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]
    #: The estate (小区) the unit belongs to, when known (a cover sheet or the drop folder names it).
    #: Added after layout version 2: an older index gets the column when it is opened.
    estate: Mapped[str | None] = mapped_column(String(64), nullable=True)

    @property
    def place(self) -> str:
        """``锦绣花园 3-2-1201`` (the unit alone when the archive has no estate)."""
        return place_text(self.estate, f"{self.building}-{self.unit}-{self.room}")


class IngestRunRow(Base):
    """One ingest run with its counts."""

    __tablename__ = "ingest_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="running")
    counts: Mapped[dict[str, Any] | None]


class DataKeyRow(Base):
    """A wrapped per-document data key; destroying it shreds the document's objects."""

    __tablename__ = "data_keys"

    dek_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(16))
    algorithm: Mapped[str] = mapped_column(String(32))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    destroyed_at: Mapped[dt.datetime | None]
    #: The keyring entry the wrapping key is derived from too (``storage.keyring``); NULL: wrapped by the
    #: master key alone (stored before the keyring). Added later: an older index gets the column on open.
    keyring_id: Mapped[str | None] = mapped_column(String(16), nullable=True)


class ArchiveKeyRow(Base):
    """One of the archive's own keys (field encryption, blind-index HMAC), wrapped by the master key.

    Also how the archive recognises its master key: a wrong key fails to
    unwrap these (see :mod:`storage.keys`).
    """

    __tablename__ = "archive_keys"

    #: ``field-encryption`` or ``index-hmac``: one key each.
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16))
    master_key_id: Mapped[str] = mapped_column(String(16))
    algorithm: Mapped[str] = mapped_column(String(32))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rewrapped_at: Mapped[dt.datetime | None]


class FileRow(Base):
    """One archived input file (the original), content-addressed by SHA-256; it holds one or more documents.

    The original and the OCR result are sealed once per file under one data
    key: destroying that key shreds every document of the file.
    """

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source_name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigInteger)
    page_count: Mapped[int] = mapped_column(Integer)
    original_key: Mapped[str] = mapped_column(String(200))
    ocr_key: Mapped[str] = mapped_column(String(200))
    dek_id: Mapped[str] = mapped_column(ForeignKey("data_keys.dek_id"))
    #: Id from Index.begin_run (not a foreign key: runs may be pruned).
    run_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)




class DocumentRow(Base):
    """One document: a run of pages of a file (a whole-folder scan holds several)."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("file_id", "first_page", name="uq_documents_file_first_page"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), index=True)
    #: Index (0-based) of the document's first page in its file.
    first_page: Mapped[int] = mapped_column(Integer)
    #: Number of (non-blank) pages of the document.
    pages: Mapped[int] = mapped_column(Integer)
    doc_type: Mapped[str] = mapped_column(String(40), index=True)
    doc_type_confidence: Mapped[float] = mapped_column(Float)
    archive_id: Mapped[str | None] = mapped_column(ForeignKey("archives.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    #: Where the unit it is filed under came from: ``ocr``, ``path`` (its drop folder) or ``cover_sheet``.
    #: Added after layout version 2 was fixed: an older index gets the column when it is opened.
    unit_source: Mapped[str | None] = mapped_column(String(16), nullable=True)


class PageRow(Base):
    """What OCR saw on one page of a file (no text: that lives encrypted in the object store).

    ``document_id`` is empty for pages that belong to no document (blank duplex backs).
    """

    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("file_id", "index", name="uq_pages_file_index"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    document_id: Mapped[str | None] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column("index", Integer)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    skew: Mapped[float] = mapped_column(Float, default=0.0)
    blank: Mapped[bool] = mapped_column(Boolean, default=False)
    engine: Mapped[str] = mapped_column(String(32))
    mean_confidence: Mapped[float] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    line_count: Mapped[int] = mapped_column(Integer)


class MetaRow(Base):
    """Facts about the index itself (its schema version)."""

    __tablename__ = "index_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class FieldRow(Base):
    """One extracted field; sensitive ones have value NULL and hmac/mask/ciphertext set."""

    __tablename__ = "fields"
    __table_args__ = (
        Index("ix_fields_name_value", "name", "value"),
        Index("ix_fields_value", "value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(String(MAX_VALUE_CHARS))
    value_masked: Mapped[str | None] = mapped_column(String(MAX_VALUE_CHARS))
    value_hmac: Mapped[str | None] = mapped_column(String(64), index=True)
    value_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    value_key_id: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    issue: Mapped[str | None] = mapped_column(Text)
    #: Where the value was read: page index in the file and box (x0, y0, x1, y1) in its pixels.
    page: Mapped[int | None] = mapped_column(Integer)
    box: Mapped[list[int] | None] = mapped_column(JSON)


class SearchTokenRow(Base):
    """Blind search index: one truncated HMAC per distinct token of a document."""

    __tablename__ = "search_tokens"
    __table_args__ = (Index("ix_search_tokens_token", "token_hmac", "document_id"),)

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"),
                                             primary_key=True)
    token_hmac: Mapped[str] = mapped_column(String(32), primary_key=True)


class AuditRow(Base):
    """Audit log: who did what to which document, when, why and how it ended; detail holds no personal data.

    A hash chain (see :mod:`storage.auditlog`): rows are appended only by
    :func:`storage.auditlog.append_audit`, never through the ORM, which would
    leave them out of the chain. One row per ``prev_hash``: the chain cannot fork.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("uq_audit_log_prev_hash", "prev_hash", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    #: Not a foreign key: the log outlives destroyed documents.
    document_id: Mapped[str | None] = mapped_column(String(36), index=True)
    detail: Mapped[dict[str, Any] | None]
    #: Why it was done (查阅目的), as the person gave it; outcome: done, refused, completed ...
    purpose: Mapped[str | None] = mapped_column(String(500))
    outcome: Mapped[str | None] = mapped_column(String(64))
    #: HMAC-SHA256 (hex) of the event before (the first: 64 zeros) and of this event.
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))




#: PostgreSQL: every token of a ``search_docs`` row, the expression its GIN index covers.
SEARCH_TOKEN_ARRAY = "(text_tokens || field_tokens)"  # noqa: S105 - SQL, not a secret


class TokenList(TypeDecorator[str]):
    """Search tokens: one space-separated string in Python; ``text`` on SQLite, ``text[]`` on PostgreSQL.

    PostgreSQL's GIN index and row checks then work on arrays as stored (no
    string splitting per row); a backup holds the same string from either.
    """

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """``text[]`` on PostgreSQL, ``text`` elsewhere."""
        return dialect.type_descriptor(ARRAY(Text()) if dialect.name == "postgresql" else Text())

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        """The string as the database keeps it."""
        if value is None or dialect.name != "postgresql":
            return value
        return value.split()

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """The space-separated string."""
        if value is None or dialect.name != "postgresql":
            return value
        return " ".join(value)


class SearchDocRow(Base):
    """Blind search index, layout 2: a document's search tokens (see :mod:`storage.blind`).

    ``doc_no`` numbers documents in the order they were indexed, so "newest
    first" is a walk down one integer. ``text_tokens`` come from the OCR text
    (fixed once read), ``field_tokens`` from the fields and the archive's unit
    (recomputed when a field is corrected). Both hold truncated HMACs only,
    space-separated. The inverted index over them is derived: an FTS5 table
    ``search_fts`` kept by triggers on SQLite, a GIN index on PostgreSQL.
    """

    __tablename__ = "search_docs"
    __table_args__ = (
        Index("ix_search_docs_tokens", text(SEARCH_TOKEN_ARRAY), postgresql_using="gin").ddl_if(
            dialect="postgresql"),
    )

    doc_no: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), unique=True)
    text_tokens: Mapped[str] = mapped_column(TokenList, default="")
    field_tokens: Mapped[str] = mapped_column(TokenList, default="")


#: One active archive per unit of an estate; archives without an estate count as one more estate (``''``).
#: An index made before archives were filed by estate covers building, unit and room only: opening it
#: replaces that one (``Index.create_schema``).
ARCHIVE_ACTIVE_UNIT_INDEX = Index("uq_archives_active_unit", func.coalesce(ArchiveRow.estate, ""), ArchiveRow.building,
                                  ArchiveRow.unit, ArchiveRow.room, unique=True,
                                  sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'"))


#: Index of archives by status and place, for browsing estate → building → unit → room (it covers the counts).
ARCHIVE_PLACE_INDEX = Index("ix_archives_active_place", ArchiveRow.status, ArchiveRow.estate, ArchiveRow.building,
                            ArchiveRow.unit, ArchiveRow.room)
#: Index of archives by unit, whatever their status (a unit filter, an owner's own unit).
ARCHIVE_UNIT_INDEX = Index("ix_archives_unit", ArchiveRow.building, ArchiveRow.unit, ArchiveRow.room)

#: SQLite: the FTS5 table over ``search_docs`` (rowid = doc_no) and the triggers that keep it.
SQLITE_SEARCH_DDL: tuple[str, ...] = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(text_tokens, field_tokens, content='search_docs', "
    "content_rowid='doc_no', detail=none, columnsize=0)",
    "CREATE TRIGGER IF NOT EXISTS search_docs_ai AFTER INSERT ON search_docs BEGIN "
    "INSERT INTO search_fts(rowid, text_tokens, field_tokens) VALUES (new.doc_no, new.text_tokens, new.field_tokens); "
    "END",
    "CREATE TRIGGER IF NOT EXISTS search_docs_ad AFTER DELETE ON search_docs BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, text_tokens, field_tokens) "
    "VALUES ('delete', old.doc_no, old.text_tokens, old.field_tokens); END",
    "CREATE TRIGGER IF NOT EXISTS search_docs_au AFTER UPDATE ON search_docs BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, text_tokens, field_tokens) "
    "VALUES ('delete', old.doc_no, old.text_tokens, old.field_tokens); "
    "INSERT INTO search_fts(rowid, text_tokens, field_tokens) VALUES (new.doc_no, new.text_tokens, new.field_tokens); "
    "END",
)
for _ddl in SQLITE_SEARCH_DDL:
    event.listen(SearchDocRow.__table__, "after_create", DDL(_ddl).execute_if(dialect="sqlite"))
#: PostgreSQL: finer statistics of the tokens, so the planner knows a rare token from a common one.
PG_SEARCH_DDL = "ALTER INDEX ix_search_docs_tokens ALTER COLUMN 1 SET STATISTICS 1000"
event.listen(SearchDocRow.__table__, "after_create", DDL(PG_SEARCH_DDL).execute_if(dialect="postgresql"))

#: Tables SQLite's FTS5 makes for ``search_fts`` (derived from ``search_docs``; not backed up).
DERIVED_TABLES = frozenset({"search_fts", "search_fts_data", "search_fts_idx", "search_fts_config",
                            "search_fts_docsize", "search_fts_content"})
