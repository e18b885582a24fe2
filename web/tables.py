"""SQL tables of users, sessions, script tokens and sign-in throttling (in the archive's index).

Declared on the index's own declarative base, so ``Index.create_schema``
creates them and backups carry them. No password, session id or token is
stored as given: passwords as argon2id hashes, session ids, CSRF tokens and
script tokens as SHA-256 digests.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables import Base, BigId, utcnow


class UserRow(Base):
    """A person who signs in (用户), with one role; an owner's row names their unit."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    building: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(64))
    room: Mapped[str | None] = mapped_column(String(64))
    #: An owner's estate (小区), when the company has several: 3-2-1201 of another estate is not theirs.
    #: Added after the first users were made: an older index gets the column when it is opened.
    estate: Mapped[str | None] = mapped_column(String(64), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[dt.datetime | None]


class SessionRow(Base):
    """A signed-in browser session: idle and absolute expiry, its CSRF token."""

    __tablename__ = "user_sessions"

    #: SHA-256 (hex) of the session id the browser holds.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name", ondelete="CASCADE"), index=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TokenRow(Base):
    """A token a script proves a user with (``dangan user token NAME``)."""

    __tablename__ = "user_tokens"

    #: SHA-256 (hex) of the token.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]


class SignInFailureRow(Base):
    """One failed sign-in, counted against the name and against the address it came from."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: ``name:<user name>`` or ``address:<client address>``.
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SignInLockRow(Base):
    """A name or address refused sign-in until a time, after too many failures."""

    __tablename__ = "sign_in_locks"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    until: Mapped[dt.datetime]
