"""pytest plugin: a fresh PostgreSQL database per test (``pg_url``).

Connects to the server on 127.0.0.1:5432 as ``postgres`` (trust auth on dev
and CI machines), creates ``dangan_test_<random>``, yields its SQLAlchemy URL
and drops it afterwards. Skips with the reason when the server is unreachable.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_ADMIN_DB = "postgres"


def _admin_connect():
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_ADMIN_DB,
                           connect_timeout=3, autocommit=True)


@contextmanager
def fresh_database() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database, dropped on leaving (skips when unreachable)."""
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed")
    try:
        admin = _admin_connect()
    except psycopg.Error as e:
        pytest.skip(f"PostgreSQL unreachable at {PG_HOST}:{PG_PORT} as {PG_USER}: {type(e).__name__}")
    name = f"dangan_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with _admin_connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database (dropped after the test)."""
    with fresh_database() as url:
        yield url
