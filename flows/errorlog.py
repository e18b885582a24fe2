"""The error log: full tracebacks go to ``DANGAN_HOME/logs/errors.log`` under a short id.

Users see one line naming the id; whoever supports them finds the traceback
by it. The log is private to the home's owner (0600, folder 0700): tracebacks
may quote values of the documents being read.
"""

from __future__ import annotations

import os
import secrets
import traceback
from datetime import UTC, datetime
from pathlib import Path

from schemas.errors import UnexpectedError


def error_log_path(home: Path) -> Path:
    """Where the error log of the archive at ``home`` lives."""
    return home / "logs" / "errors.log"


def record_error(error: BaseException, home: Path, *, context: str = "") -> str:
    """Append ``error``'s traceback to the error log; returns its id (e.g. ``E7F3A9C2``).

    Never raises: when the log cannot be written (disk full, read-only home),
    the id is still returned and the traceback is lost rather than hiding the
    original error behind a second one.
    """
    error_id = "E" + secrets.token_hex(4).upper()
    log = error_log_path(home)
    try:
        log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(f"--- {error_id} {datetime.now(UTC).isoformat()} {type(error).__name__}"
                    f"{' ' + context if context else ''}\n")
            f.write("".join(traceback.format_exception(error)))
    except OSError:
        pass
    return error_id


def unexpected(error: BaseException, home: Path, *, context: str = "") -> UnexpectedError:
    """Record a bug met while handling one file and return the user-facing error for its quarantine reason."""
    error_id = record_error(error, home, context=context)
    return UnexpectedError(f"unexpected {type(error).__name__} while reading the file; it was set aside. "
                           f"Please report error {error_id} (in {error_log_path(home)}).")
