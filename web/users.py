"""Users, passwords, sessions and script tokens of the archive (用户与会话), kept in the index.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 defaults). After
``MAX_FAILURES`` failed sign-ins for a name or for an address within
``FAILURE_WINDOW``, that name or address is refused for ``LOCK_TIME``
whatever the password. A browser session ends after ``SESSION_IDLE`` without
use and ``SESSION_MAX`` after sign-in; the database holds only SHA-256 digests
of session ids, CSRF tokens and script tokens, never the values themselves.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from schemas.errors import InvalidRequest, NotFound, SignInFailed, SignInThrottled
from schemas.models import UnitRef
from storage.index import db_errors
from storage.tables import as_utc, utcnow
from web.access import USER_ROLES, Identity, Role
from web.tables import SessionRow, SignInFailureRow, SignInLockRow, TokenRow, UserRow

MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
LOCK_TIME = dt.timedelta(minutes=15)
SESSION_IDLE = dt.timedelta(minutes=30)
SESSION_MAX = dt.timedelta(hours=12)
#: A session's last use is written at most this often (not on every request).
_TOUCH_EVERY = dt.timedelta(seconds=60)
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
TOKEN_PREFIX = "dgt_"  # noqa: S105 - marks a script token, not a secret
#: Letters (Chinese too), digits and ``. _ - @``; no ``:`` (``local:<login>`` names the local operator).
_NAME = re.compile(r"^[\w.@-]{1,64}$")

Audit = Callable[..., None]


@dataclass(frozen=True)
class UserInfo:
    """What ``dangan user list`` shows of a user (never the password hash)."""

    name: str
    role: Role
    unit: UnitRef | None
    disabled: bool
    created_at: dt.datetime
    last_sign_in_at: dt.datetime | None
    tokens: int


class Users:
    """The users of one archive, over its index database.

    ``engine`` reads; ``write_engine`` (default: ``engine``) writes, so that on
    SQLite a write takes the lock at once (``Index.write_engine``). ``audit``,
    when given, records refused sign-ins (``Index.audit``'s signature).
    """

    def __init__(self, engine: Engine, *, write_engine: Engine | None = None, audit: Audit | None = None,
                 hasher: PasswordHasher | None = None, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._engine = engine
        self._write_engine = write_engine or engine
        self._audit = audit
        self._hasher = hasher or PasswordHasher()
        self._now = clock
        self._dummy_hash: str | None = None

    @classmethod
    def of_index(cls, index: Any, **kwargs: Any) -> Users:
        """The users of the archive whose ``storage.index.Index`` is ``index``, audited into it."""
        kwargs.setdefault("audit", index.audit)
        return cls(index.engine, write_engine=index.write_engine, **kwargs)

    # ----------------------------------------------------------------- accounts

    def add(self, name: str, role: Role | str, password: str, unit: UnitRef | None = None) -> UserInfo:
        """Add a user; an owner must name their unit, no other role may."""
        role = _user_role(role)
        _check_name(name)
        _check_password(password)
        if role is Role.OWNER and unit is None:
            raise InvalidRequest(f"an owner needs their unit (building-unit-room, e.g. 3-2-1201) to add {name}")
        if role is not Role.OWNER and unit is not None:
            raise InvalidRequest(f"only an owner is bound to a unit; {role} {name} sees every unit")
        row = UserRow(name=name, role=str(role), password_hash=self._hasher.hash(password),
                      building=unit.building if unit else None, unit=unit.unit if unit else None,
                      room=unit.room if unit else None, estate=unit.estate if unit else None, disabled=False,
                      created_at=self._now(), password_changed_at=self._now())
        try:
            with self._write() as s, s.begin():
                s.add(row)
        except sa_exc.IntegrityError:
            raise InvalidRequest(f"a user named {name} already exists") from None
        return self.get(name)

    def get(self, name: str) -> UserInfo:
        """One user; NotFound when there is none of that name."""
        with self._read() as s:
            row = s.get(UserRow, name)
            if row is None:
                raise NotFound(f"no user named {name}; see dangan user list")
            tokens = s.scalar(select(func.count()).select_from(TokenRow).where(TokenRow.user_name == name))
            return _info(row, tokens or 0)

    def list(self) -> builtins.list[UserInfo]:
        """Every user, by name."""
        with self._read() as s:
            counts = dict(s.execute(select(TokenRow.user_name, func.count()).group_by(TokenRow.user_name)).all())
            return [_info(r, counts.get(r.name, 0)) for r in s.scalars(select(UserRow).order_by(UserRow.name))]

    def disable(self, name: str) -> None:
        """Stop a user from signing in; their sessions end at once (their tokens stop working)."""
        self._set_disabled(name, True)

    def enable(self, name: str) -> None:
        """Let a disabled user sign in again."""
        self._set_disabled(name, False)

    def reset(self, name: str, password: str) -> None:
        """Give a user a new password; their sessions and script tokens end (a reset answers a leak)."""
        _check_password(password)
        hashed = self._hasher.hash(password)
        with self._write() as s, s.begin():
            row = _existing(s, name)
            row.password_hash = hashed
            row.password_changed_at = self._now()
            s.execute(delete(SessionRow).where(SessionRow.user_name == name))
            s.execute(delete(TokenRow).where(TokenRow.user_name == name))
            s.execute(delete(SignInLockRow).where(SignInLockRow.key == _name_key(name)))

    def _set_disabled(self, name: str, disabled: bool) -> None:
        with self._write() as s, s.begin():
            _existing(s, name).disabled = disabled
            if disabled:
                s.execute(delete(SessionRow).where(SessionRow.user_name == name))

    # ----------------------------------------------------------------- passwords

    def verify(self, name: str, password: str, *, address: str | None = None) -> Identity:
        """The identity of ``name`` when ``password`` is theirs; SignInFailed or SignInThrottled otherwise.

        ``address`` (the client's address, for the web) is throttled like the name.
        The message never says whether the name exists or the account is disabled.
        """
        keys = [_name_key(name)] + ([f"address:{address}"] if address else [])
        now = self._now()
        with self._read() as s:
            until = s.scalar(select(func.max(SignInLockRow.until)).where(SignInLockRow.key.in_(keys)))
            row = s.get(UserRow, name)
        if until is not None and as_utc(until) > now:
            minutes = max(1, int((as_utc(until) - now).total_seconds() // 60) + 1)
            self._refused(name, row, "throttled", address)
            raise SignInThrottled(f"too many failed sign-ins for {name} or from this address; "
                                  f"try again in {minutes} minute(s)")
        if row is None or row.disabled or not self._password_matches(row.password_hash if row else None, password):
            self._record_failure(keys)
            self._refused(name, row, "wrong password, unknown user or disabled account", address)
            raise SignInFailed("sign-in refused: wrong user name or password, or the account is disabled")
        self._signed_in(row, password)
        return _identity(row, via="password")

    def _password_matches(self, hashed: str | None, password: str) -> bool:
        if hashed is None:  # spend the same time as for a real user, so names cannot be probed by timing
            self._dummy_hash = self._dummy_hash or self._hasher.hash(secrets.token_hex(16))
            hashed = self._dummy_hash
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def _signed_in(self, row: UserRow, password: str) -> None:
        rehash = self._hasher.check_needs_rehash(row.password_hash)
        new_hash = self._hasher.hash(password) if rehash else None
        with self._write() as s, s.begin():
            s.execute(delete(SignInFailureRow).where(SignInFailureRow.key == _name_key(row.name)))
            values: dict[str, Any] = {"last_sign_in_at": self._now()}
            if new_hash:
                values["password_hash"] = new_hash
            s.execute(update(UserRow).where(UserRow.name == row.name).values(**values))

    def _record_failure(self, keys: builtins.list[str]) -> None:
        now = self._now()
        with self._write() as s, s.begin():
            s.execute(delete(SignInFailureRow).where(SignInFailureRow.at < now - FAILURE_WINDOW))
            for key in keys:
                s.add(SignInFailureRow(key=key, at=now))
            s.flush()
            for key in keys:
                recent = s.scalar(select(func.count()).select_from(SignInFailureRow).where(
                    SignInFailureRow.key == key, SignInFailureRow.at >= now - FAILURE_WINDOW)) or 0
                if recent >= MAX_FAILURES:
                    lock = s.get(SignInLockRow, key)
                    if lock is None:
                        s.add(SignInLockRow(key=key, until=now + LOCK_TIME))
                    else:
                        lock.until = now + LOCK_TIME
                    s.execute(delete(SignInFailureRow).where(SignInFailureRow.key == key))

    def _refused(self, name: str, row: UserRow | None, reason: str, address: str | None) -> None:
        if self._audit is None:
            return
        detail: dict[str, Any] = {"outcome": "refused", "reason": reason}
        if address:
            detail["address"] = address
        self._audit(name[:128], row.role if row else "", "sign_in", document_id=None, detail=detail)

    # ----------------------------------------------------------------- sessions

    def create_session(self, identity: Identity) -> tuple[str, str]:
        """Open a browser session for a signed-in user; returns (session id, CSRF token) to hand out."""
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self._now()
        with self._write() as s, s.begin():
            _existing(s, identity.name)
            s.execute(delete(SessionRow).where(
                (SessionRow.created_at < now - SESSION_MAX) | (SessionRow.last_seen_at < now - SESSION_IDLE)))
            s.add(SessionRow(id_hash=_digest(session_id), user_name=identity.name, csrf_hash=_digest(csrf),
                             created_at=now, last_seen_at=now))
        return session_id, csrf

    def session(self, session_id: str) -> Identity | None:
        """The identity of a live session (its use is noted); None when unknown, expired or its user disabled."""
        if not session_id:
            return None
        now = self._now()
        key = _digest(session_id)
        with self._read() as s:
            found = s.execute(select(SessionRow, UserRow).join(UserRow, UserRow.name == SessionRow.user_name)
                              .where(SessionRow.id_hash == key)).first()
        if found is None:
            return None
        row, user = found
        if (user.disabled or now - as_utc(row.created_at) >= SESSION_MAX
                or now - as_utc(row.last_seen_at) >= SESSION_IDLE):
            self.end_session(session_id)
            return None
        if now - as_utc(row.last_seen_at) >= _TOUCH_EVERY:
            with self._write() as s, s.begin():
                s.execute(update(SessionRow).where(SessionRow.id_hash == key).values(last_seen_at=now))
        return _identity(user, via="session")

    def csrf_ok(self, session_id: str, csrf_token: str) -> bool:
        """True when ``csrf_token`` is the one handed out with this session."""
        if not session_id or not csrf_token:
            return False
        with self._read() as s:
            stored = s.scalar(select(SessionRow.csrf_hash).where(SessionRow.id_hash == _digest(session_id)))
        return stored is not None and hmac.compare_digest(stored, _digest(csrf_token))

    def end_session(self, session_id: str) -> None:
        """Sign out: the session id stops working at once."""
        with self._write() as s, s.begin():
            s.execute(delete(SessionRow).where(SessionRow.id_hash == _digest(session_id)))

    # ----------------------------------------------------------------- script tokens

    def create_token(self, name: str) -> str:
        """A new token proving ``name`` to the service or the command line (shown once; only its digest is kept)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write() as s, s.begin():
            _existing(s, name)
            s.add(TokenRow(id_hash=_digest(token), user_name=name, created_at=self._now()))
        return token

    def verify_token(self, token: str) -> Identity:
        """The identity a token proves; SignInFailed when it is unknown, revoked or its user disabled."""
        with self._read() as s:
            found = s.execute(select(TokenRow, UserRow).join(UserRow, UserRow.name == TokenRow.user_name)
                              .where(TokenRow.id_hash == _digest(token or ""))).first()
        if found is None or found[1].disabled:
            self._refused("token", found[1] if found else None, "unknown token or disabled account", None)
            raise SignInFailed("sign-in refused: the token is unknown or revoked, or its account is disabled")
        row, user = found
        with self._write() as s, s.begin():
            s.execute(update(TokenRow).where(TokenRow.id_hash == row.id_hash).values(last_used_at=self._now()))
        return _identity(user, via="token")

    def revoke_tokens(self, name: str) -> int:
        """Revoke every script token of ``name``; returns how many there were."""
        with self._write() as s, s.begin():
            _existing(s, name)
            result = s.execute(delete(TokenRow).where(TokenRow.user_name == name))
            return int(getattr(result, "rowcount", 0) or 0)

    # ----------------------------------------------------------------- database

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with db_errors("read or write the users"), Session(self._engine, expire_on_commit=False) as s:
            yield s

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with db_errors("read or write the users"), Session(self._write_engine, expire_on_commit=False) as s:
            yield s


def _user_role(role: Role | str) -> Role:
    try:
        value = Role(role)
    except ValueError:
        value = None
    if value is None or value not in USER_ROLES:
        raise InvalidRequest(f"unknown role {role!r}; one of {', '.join(USER_ROLES)}")
    return value


def _check_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise InvalidRequest(f"{name!r} is not a user name: 1-64 letters, digits, '.', '_', '-' or '@'")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidRequest(f"the password is too short: at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidRequest(f"the password is too long: at most {MAX_PASSWORD_CHARS} characters")


def _existing(s: Session, name: str) -> UserRow:
    row = s.get(UserRow, name)
    if row is None:
        raise NotFound(f"no user named {name}; see dangan user list")
    return row


def _name_key(name: str) -> str:
    return f"name:{name.casefold()}"[:200]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _unit(row: UserRow) -> UnitRef | None:
    if row.building is None or row.unit is None or row.room is None:
        return None
    return UnitRef(building=row.building, unit=row.unit, room=row.room, estate=row.estate)


def _identity(row: UserRow, *, via: str) -> Identity:
    return Identity(name=row.name, role=Role(row.role), unit=_unit(row), via=via)  # type: ignore[arg-type]


def _info(row: UserRow, tokens: int) -> UserInfo:
    return UserInfo(name=row.name, role=Role(row.role), unit=_unit(row), disabled=row.disabled,
                    created_at=as_utc(row.created_at),
                    last_sign_in_at=as_utc(row.last_sign_in_at) if row.last_sign_in_at else None, tokens=tokens)
