"""What every dangan process that runs the pipeline does to itself: a private home, quiet loggers."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

#: Mode bits no file or folder under DANGAN_HOME may have.
_GROUP_OTHER = 0o077


def private_home(home: Path) -> None:
    """Create DANGAN_HOME 0700 and take group and other access away from what an older run left open.

    Only the home itself and the run's own state are touched (index, logs,
    Prefect's state, the lock), only when this user owns them, and links are
    never followed. The embedded store writes 0600 files in 0700 folders itself.
    """
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(home)
    for name in ("index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm", "ingest.lock", "master.key",
                 "objects"):
        _tighten(home / name)
    for name in ("logs", "prefect", "work"):
        top = home / name
        if not _tighten(top):
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            for entry in (*dirnames, *filenames):
                _tighten(Path(dirpath) / entry)


def _tighten(path: Path) -> bool:
    """Drop group and other bits of ``path`` when it is ours and not a link; True for an existing folder."""
    try:
        st = path.lstat()
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid():
        return False
    if st.st_mode & _GROUP_OTHER:
        with contextlib.suppress(OSError):
            path.chmod(stat.S_IMODE(st.st_mode) & ~_GROUP_OTHER)
    return stat.S_ISDIR(st.st_mode)


# --------------------------------------------------------------------------- Prefect, quietly


def quiet_loggers() -> None:
    """Hold Prefect's and its libraries' loggers at WARNING, run-failure tracebacks and urllib3 at CRITICAL.

    Failures reach the user through the batch summary and the CLI's one-line
    errors, not as Prefect's run-failure tracebacks; an unreachable S3 server
    is one line there, not urllib3's warning per retry. Call it again after
    loading Prefect's flow machinery, which sets its logging up anew. Levels
    stay raised after the run: Prefect logs its shutdown at process exit.
    """
    for name in ("prefect", "httpx", "uvicorn", "docket", "websockets"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("prefect.flow_runs", "prefect.task_runs", "urllib3"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
