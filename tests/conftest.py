"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.s3server", "tests.pgdb"]

REPO = Path(__file__).resolve().parent.parent
REALWORLD = REPO.parent / "shared" / "realworld"


@pytest.fixture(scope="session")
def realworld_dir() -> Path:
    """Folder of real-world scans and broken files (read-only, never copied into the repo)."""
    if not REALWORLD.is_dir():
        pytest.skip(f"real-world samples not present: {REALWORLD} (they live in ../shared/realworld beside the repo)")
    return REALWORLD
