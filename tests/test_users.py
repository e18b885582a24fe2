"""Users of the archive on SQLite and PostgreSQL: argon2id passwords, throttling, sessions, tokens."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.errors import InvalidRequest, NotFound, SignInFailed, SignInThrottled
from schemas.models import UnitRef
from storage.index import Index
from storage.keys import MasterKey
from web.access import Role
from web.tables import SessionRow, TokenRow, UserRow
from web.users import FAILURE_WINDOW, LOCK_TIME, MAX_FAILURES, SESSION_IDLE, SESSION_MAX, Users

PASSWORD = "correct horse battery"
UNIT = UnitRef(building="3", unit="2", room="1201")
#: Cheap argon2id parameters: these tests are about the bookkeeping, not the cost.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class Clock:
    """A clock the test moves by hand (injected the way the real one is)."""

    def __init__(self) -> None:
        self.now = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture(params=["sqlite", "postgresql"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Index]:
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}" if request.param == "sqlite" \
        else request.getfixturevalue("pg_url")
    idx = Index(url, MasterKey.generate())
    idx.create_schema()
    try:
        yield idx
    finally:
        idx.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def users(index: Index, clock: Clock) -> Users:
    return Users.of_index(index, hasher=FAST, clock=clock)


def test_create_schema_makes_the_user_tables_and_passwords_are_argon2id(index: Index) -> None:
    users = Users.of_index(index)  # the real parameters
    users.add("wang.li", Role.CLERK, PASSWORD)
    with Session(index.engine) as s:
        row = s.scalars(select(UserRow)).one()
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    who = users.verify("wang.li", PASSWORD)
    assert (who.name, who.role, who.unit, who.via) == ("wang.li", Role.CLERK, None, "password")


def test_add_checks_name_role_password_and_unit(users: Users) -> None:
    with pytest.raises(InvalidRequest, match="too short"):
        users.add("a", Role.CLERK, "short")
    with pytest.raises(InvalidRequest, match="unknown role"):
        users.add("a", "admin", PASSWORD)
    with pytest.raises(InvalidRequest, match="unknown role"):
        users.add("a", Role.LOCAL_OPERATOR, PASSWORD)
    with pytest.raises(InvalidRequest, match="not a user name"):
        users.add("local:root", Role.CLERK, PASSWORD)
    with pytest.raises(InvalidRequest, match="needs their unit"):
        users.add("owner1", Role.OWNER, PASSWORD)
    with pytest.raises(InvalidRequest, match="only an owner"):
        users.add("clerk1", Role.CLERK, PASSWORD, unit=UNIT)
    users.add("王伟", Role.OWNER, PASSWORD, unit=UNIT)
    with pytest.raises(InvalidRequest, match="already exists"):
        users.add("王伟", Role.CLERK, PASSWORD)
    owner = users.verify("王伟", PASSWORD)
    assert owner.role is Role.OWNER and owner.unit == UNIT
    assert [(u.name, u.role, u.unit, u.disabled) for u in users.list()] == [("王伟", Role.OWNER, UNIT, False)]


def test_wrong_password_unknown_and_disabled_users_get_one_message(users: Users, index: Index) -> None:
    users.add("li", Role.AUDITOR, PASSWORD)
    messages = set()
    for name, password in (("li", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(SignInFailed) as refused:
            users.verify(name, password)
        messages.add(refused.value.message)
    users.disable("li")
    with pytest.raises(SignInFailed) as refused:
        users.verify("li", PASSWORD)
    messages.add(refused.value.message)
    assert len(messages) == 1
    users.enable("li")
    assert users.verify("li", PASSWORD).role is Role.AUDITOR
    refusals = [e for e in index.audit_entries() if e.action == "sign_in"]
    assert len(refusals) == 3 and all(e.detail and e.detail["outcome"] == "refused" for e in refusals)
    assert PASSWORD not in str([e.detail for e in refusals])


def test_five_failures_lock_the_name_for_fifteen_minutes(users: Users, clock: Clock) -> None:
    users.add("zhao", Role.CLERK, PASSWORD)
    for _ in range(MAX_FAILURES):
        with pytest.raises(SignInFailed):
            users.verify("zhao", "not the password")
        clock.advance(seconds=30)
    with pytest.raises(SignInThrottled, match="try again in"):
        users.verify("zhao", PASSWORD)  # even the right password
    clock.advance(seconds=LOCK_TIME.total_seconds() - 60)
    with pytest.raises(SignInThrottled):
        users.verify("zhao", PASSWORD)
    clock.advance(seconds=61)
    assert users.verify("zhao", PASSWORD).name == "zhao"


def test_failures_spread_beyond_the_window_do_not_lock(users: Users, clock: Clock) -> None:
    users.add("qian", Role.CLERK, PASSWORD)
    for _ in range(MAX_FAILURES * 2):
        with pytest.raises(SignInFailed):
            users.verify("qian", "not the password")
        clock.advance(seconds=FAILURE_WINDOW.total_seconds() / (MAX_FAILURES - 1) + 1)
    assert users.verify("qian", PASSWORD).name == "qian"


def test_one_address_trying_many_names_is_locked(users: Users) -> None:
    users.add("sun", Role.CLERK, PASSWORD)
    for i in range(MAX_FAILURES):
        with pytest.raises(SignInFailed):
            users.verify(f"guess{i}", "not the password", address="10.0.0.9")
    with pytest.raises(SignInThrottled):
        users.verify("sun", PASSWORD, address="10.0.0.9")
    assert users.verify("sun", PASSWORD, address="10.0.0.10").name == "sun"


def test_sessions_expire_when_idle_and_after_twelve_hours(users: Users, clock: Clock, index: Index) -> None:
    users.add("zhou", Role.ARCHIVE_MANAGER, PASSWORD)
    who = users.verify("zhou", PASSWORD)
    sid, csrf = users.create_session(who)
    assert users.session(sid) == who.__class__(name="zhou", role=Role.ARCHIVE_MANAGER, via="session")
    assert users.csrf_ok(sid, csrf) and not users.csrf_ok(sid, "forged") and not users.csrf_ok("other", csrf)
    with Session(index.engine) as s:  # only digests are stored
        stored = s.scalars(select(SessionRow)).one()
    assert sid not in (stored.id_hash, stored.csrf_hash) and csrf not in (stored.id_hash, stored.csrf_hash)

    clock.advance(seconds=SESSION_IDLE.total_seconds() + 1)
    assert users.session(sid) is None
    sid, _ = users.create_session(who)
    for _ in range(int(SESSION_MAX / (SESSION_IDLE / 2))):  # kept busy, it still ends after 12 hours
        assert users.session(sid) is not None
        clock.advance(seconds=SESSION_IDLE.total_seconds() / 2)
    assert users.session(sid) is None
    assert users.session("") is None and users.session("unknown") is None


def test_sign_out_disable_and_reset_end_sessions(users: Users) -> None:
    users.add("wu", Role.LEADERSHIP, PASSWORD)
    who = users.verify("wu", PASSWORD)
    sid, _ = users.create_session(who)
    users.end_session(sid)
    assert users.session(sid) is None
    sid, _ = users.create_session(who)
    users.disable("wu")
    assert users.session(sid) is None
    users.enable("wu")
    sid, _ = users.create_session(who)
    users.reset("wu", "a brand new password")
    assert users.session(sid) is None
    with pytest.raises(SignInFailed):
        users.verify("wu", PASSWORD)
    assert users.verify("wu", "a brand new password").name == "wu"


def test_tokens_prove_a_user_until_disabled_or_reset(users: Users, index: Index) -> None:
    users.add("zheng", Role.CLERK, PASSWORD)
    token = users.create_token("zheng")
    assert users.verify_token(token) == users.verify_token(token)
    assert users.verify_token(token).via == "token" and users.get("zheng").tokens == 1
    with Session(index.engine) as s:
        assert token not in s.scalars(select(TokenRow.id_hash)).all()
    for bad in ("", "dgt_forged", token + "x"):
        with pytest.raises(SignInFailed):
            users.verify_token(bad)
    users.disable("zheng")
    with pytest.raises(SignInFailed):
        users.verify_token(token)
    users.enable("zheng")
    users.reset("zheng", "another long password")
    with pytest.raises(SignInFailed):
        users.verify_token(token)
    with pytest.raises(NotFound):
        users.create_token("nobody")


def test_unknown_users_are_not_found(users: Users) -> None:
    calls: list[Any] = [users.disable, users.enable, users.get, users.revoke_tokens]
    for call in calls:
        with pytest.raises(NotFound):
            call("nobody")
    with pytest.raises(NotFound):
        users.reset("nobody", PASSWORD)
