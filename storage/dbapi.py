"""A DB-API connection (sqlite3 or psycopg) with SQL written once for both: the index's driver-level queries.

The search (:mod:`storage.searchsql`) and the audit chain (:mod:`storage.auditlog`) run their SQL
through it, in a long-running process on a raw connection of the index's engine and in a cold
``dangan search`` without SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any


class Db:
    """A DB-API connection and its dialect (``sqlite`` or ``postgresql``); SQL takes ``:name`` parameters."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self.connection = connection
        self.dialect = dialect

    def _sql(self, sql: str) -> str:
        return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql) if self.dialect == "postgresql" else sql

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(self._sql(sql), dict(params or {}))
            return [tuple(r) for r in cursor.fetchall()]
        finally:
            cursor.close()

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(self._sql(sql), dict(params or {}))
        finally:
            cursor.close()

    def commit(self) -> None:
        """Commit (a no-op on a SQLite connection in autocommit mode)."""
        self.connection.commit()

    def timestamp(self, at: dt.datetime) -> Any:
        """A UTC time as the ``DateTime`` columns hold it (SQLite: the text SQLAlchemy writes)."""
        if self.dialect == "sqlite":
            return at.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        return at


def in_list(name: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """``(:name_0, :name_1, ...)`` with the values put into ``params``."""
    keys = []
    for i, value in enumerate(values):
        params[f"{name}_{i}"] = value
        keys.append(f":{name}_{i}")
    return "(" + ", ".join(keys) + ")"
