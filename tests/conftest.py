"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.s3server", "tests.pgdb"]

REPO = Path(__file__).resolve().parent.parent
REALWORLD = REPO.parent / "shared" / "realworld"

#: Test files that take minutes in a full run, longest first. pytest-xdist hands whole files to its
#: workers in collection order (``--no-loadscope-reorder`` in pyproject.toml); giving out the long ones
#: first lets the two workers finish together, where by default they went last and one worker ran them
#: alone at the end.
LONG_FILES = ("test_fuzz.py", "test_crash.py", "test_access.py", "test_outage.py", "test_lifecycle.py",
              "test_ingest_e2e.py", "test_access_api.py", "test_web.py", "test_worker.py", "test_deploy.py",
              "test_scaleout.py", "test_folder_e2e.py", "test_cabinet_e2e.py", "test_people.py", "test_watch.py",
              "test_estate.py", "test_reconcile.py", "test_backup.py", "test_loans.py", "test_requests.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long files first (see :data:`LONG_FILES`); every other file after them, in its usual order."""
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def realworld_dir() -> Path:
    """Folder of real-world scans and broken files (read-only, never copied into the repo)."""
    if not REALWORLD.is_dir():
        pytest.skip(f"real-world samples not present: {REALWORLD} (they live in ../shared/realworld beside the repo)")
    return REALWORLD
