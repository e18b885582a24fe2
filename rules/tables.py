"""SQL tables of the archive rules, in the archive's index (same declarative base as ``storage/tables.py``).

Declared on the index's own base, so ``Index.create_schema`` creates them once
this module is imported, and :func:`ensure_tables` creates them for an index
opened before it was. No column holds an ID number or a phone in plain text:
notes and refusal reasons are stored with them masked.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Engine, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables import Base, BigId, create_missing_tables, utcnow


class SubjectRequestRow(Base):
    """An owner's request to see, copy, correct or delete their data (个人信息权利请求登记), PIPL."""

    __tablename__ = "subject_requests"
    __table_args__ = (Index("ix_subject_requests_status_due", "status", "due_on"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The unit the request concerns, and the estate when named.
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(64))
    room: Mapped[str] = mapped_column(String(64))
    estate: Mapped[str | None] = mapped_column(String(64))
    #: The unit's active archive when the request was registered (not a foreign key: the register outlives it).
    archive_id: Mapped[str | None] = mapped_column(String(36))
    #: The person asking (the owner), as they gave their name; ID numbers and phones typed here are masked.
    requester: Mapped[str] = mapped_column(String(128))
    #: ``see``, ``copy``, ``correct`` or ``delete``.
    kind: Mapped[str] = mapped_column(String(16))
    #: The day the request reached the company (its time zone), and the last day to answer it, as
    #: ``YYYY-MM-DD`` (text: it sorts and compares as the day does, and backups carry it as it is).
    received_on: Mapped[str] = mapped_column(String(10))
    due_on: Mapped[str] = mapped_column(String(10))
    #: ``open``, ``answered`` or ``refused``.
    status: Mapped[str] = mapped_column(String(16), default="open")
    registered_by: Mapped[str] = mapped_column(String(128))
    registered_role: Mapped[str] = mapped_column(String(32))
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answered_by: Mapped[str | None] = mapped_column(String(128))
    answered_role: Mapped[str | None] = mapped_column(String(32))
    answered_at: Mapped[dt.datetime | None]
    #: Why a request was refused, or what the answer was (masked like ``notes``).
    outcome_note: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    #: Ids of the corrections (``storage.corrections``) that answered a ``correct`` request.
    correction_ids: Mapped[list[int] | None] = mapped_column(JSON)


class LoanRow(Base):
    """One loan of a unit archive (借阅登记): who borrows it, why, until when, who decided, when it came back.

    ``status`` is ``requested``, then ``approved`` or ``refused``; an approved
    loan ends at ``due_at`` or when it is ``returned``. Rows are never deleted.
    """

    __tablename__ = "loans"
    __table_args__ = (Index("ix_loans_archive_borrower", "archive_id", "borrower", "status"),
                      Index("ix_loans_status_due", "status", "due_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The archive lent (not a foreign key: the register outlives it), and where it is filed.
    archive_id: Mapped[str] = mapped_column(String(36))
    estate: Mapped[str | None] = mapped_column(String(64))
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(64))
    room: Mapped[str] = mapped_column(String(64))
    #: The user who borrows it, and their role when they asked.
    borrower: Mapped[str] = mapped_column(String(128))
    borrower_role: Mapped[str] = mapped_column(String(32))
    #: Why (查阅目的), with ID numbers and phones masked.
    purpose: Mapped[str] = mapped_column(String(200))
    #: The paper folder leaves the archive room too: it must come back (an archive manager records it).
    paper: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: When access ends (set on approval; UTC).
    due_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_role: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[dt.datetime | None]
    #: Why a request was refused (masked like ``purpose``).
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    returned_by: Mapped[str | None] = mapped_column(String(128))
    returned_at: Mapped[dt.datetime | None]


def ensure_tables(engine: Engine) -> None:
    """Create the rules' tables in an index that lacks them (idempotent; another process may race us)."""
    create_missing_tables(engine, (SubjectRequestRow, LoanRow))


# Owner change, retention, legal holds and destruction: their tables live beside the rules that use them.
from rules.retention_tables import RETENTION_TABLES as RETENTION_TABLES  # noqa: E402
