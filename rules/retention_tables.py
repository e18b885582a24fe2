"""SQL tables of owner change, retention, legal holds and destruction (in the archive's index).

Declared on the index's base and imported by :mod:`rules.tables`, so
``Index.create_schema`` and backups know them; :func:`ensure_retention_tables`
creates them in an index opened before they existed. Destruction records are
never deleted: they outlive what they describe.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Engine, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables import Base, BigId, create_missing_tables, utcnow


class ArchiveRetentionRow(Base):
    """A former owner's archive set aside at an owner change (业主变更), and until when it must be kept."""

    __tablename__ = "archive_retention"

    #: The archive set aside (not a foreign key: the record outlives its destruction).
    archive_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: The archive opened for the new owner.
    successor_id: Mapped[str | None] = mapped_column(String(36))
    set_aside_at: Mapped[dt.datetime]
    #: Set aside plus the retention period (3 years); destruction may be approved from then on.
    retention_until: Mapped[dt.datetime] = mapped_column(index=True)
    note: Mapped[str | None] = mapped_column(Text)
    set_aside_by: Mapped[str] = mapped_column(String(128))
    set_aside_role: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LegalHoldRow(Base):
    """A legal hold (诉讼保全) on an archive: while one is in force, the archive is not destroyed."""

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_archive", "archive_id", "released_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    archive_id: Mapped[str] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(128))
    placed_role: Mapped[str] = mapped_column(String(32))
    placed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    released_by: Mapped[str | None] = mapped_column(String(128))
    released_at: Mapped[dt.datetime | None]


class DestructionRequestRow(Base):
    """A request to destroy a set-aside archive: ``requested``, ``approved`` (being carried out) or ``done``."""

    __tablename__ = "destruction_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    archive_id: Mapped[str] = mapped_column(String(36), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_role: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(128))
    approved_role: Mapped[str | None] = mapped_column(String(32))
    approved_at: Mapped[dt.datetime | None]


class DestructionRecordRow(Base):
    """What was destroyed, when, how, by whom, approved by whom (销毁记录). Never deleted.

    Written when the destruction starts (``in_progress``, with what it will
    destroy) and completed in the transaction that deletes the rows
    (``done``): a destruction interrupted is finished by running it again,
    and has exactly one record.
    """

    __tablename__ = "destruction_records"
    __table_args__ = (UniqueConstraint("request_id", name="uq_destruction_records_request"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(Integer)
    archive_id: Mapped[str] = mapped_column(String(36))
    estate: Mapped[str | None] = mapped_column(String(64))
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(64))
    room: Mapped[str] = mapped_column(String(64))
    documents: Mapped[int] = mapped_column(Integer)
    #: doc type -> how many.
    doc_types: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: SHA-256 of every original destroyed.
    sha256s: Mapped[list[str]] = mapped_column(JSON)
    #: Files stored before the keyring: copies taken before the destruction can still open them.
    legacy_files: Mapped[int] = mapped_column(Integer, default=0)
    method: Mapped[str] = mapped_column(String(200))
    #: What is left anywhere (copies, backups), in words.
    residual: Mapped[str | None] = mapped_column(Text)
    #: What the destruction works through: file ids, data key ids, keyring entry ids, object keys.
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(128))
    approved_by: Mapped[str] = mapped_column(String(128))
    executed_by: Mapped[str] = mapped_column(String(128))
    executed_role: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    executed_at: Mapped[dt.datetime | None]


RETENTION_TABLES = (ArchiveRetentionRow, LegalHoldRow, DestructionRequestRow, DestructionRecordRow)


def ensure_retention_tables(engine: Engine) -> None:
    """Create these tables in an index that lacks them (idempotent; another process may race us)."""
    create_missing_tables(engine, RETENTION_TABLES)
