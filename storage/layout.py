"""Versions of the index's layout, recorded in ``index_meta`` (no SQLAlchemy here: a cold search reads them)."""

from __future__ import annotations

SCHEMA_VERSION = "2"
"""Version 2: files hold documents (a whole-folder scan is several documents)."""

#: Version of the search index layout; index_meta ``search_layout`` records the one an index holds.
SEARCH_LAYOUT = "3"
"""Layout 2: one ``search_docs`` row per document (layout 1: one ``search_tokens`` row per token).
Layout 3: the same rows, archives also indexed by building, unit and room."""
