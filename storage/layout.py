"""The index's layout: its versions, recorded in ``index_meta``, and how it keeps times.

No SQLAlchemy here: a cold search reads them through the database driver.
"""

from __future__ import annotations

import datetime as dt

SCHEMA_VERSION = "2"
"""Version 2: files hold documents (a whole-folder scan is several documents)."""

#: Version of the search index layout; index_meta ``search_layout`` records the one an index holds.
SEARCH_LAYOUT = "3"
"""Layout 2: one ``search_docs`` row per document (layout 1: one ``search_tokens`` row per token).
Layout 3: the same rows, archives also indexed by building, unit and room."""


def as_utc(at: dt.datetime) -> dt.datetime:
    """A time read back from the index as an aware UTC time (SQLite returns naive times; they were written as UTC)."""
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)
