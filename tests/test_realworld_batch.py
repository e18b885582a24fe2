"""Every real-world sample through one ``dangan ingest`` batch.

Each file ends stored, or quarantined with a specific reason; nothing hangs
(every external program runs under a timeout) and the batch completes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e import run_dangan

pytestmark = pytest.mark.integration

#: Files that must be refused, with the reason code.
REFUSED = {
    "ocrmypdf__invalid.pdf": "corrupt",
    "paperless__password-is-test.pdf": "encrypted_pdf",
    "ocrmypdf__linn.txt": "unsupported_type",
    "SOURCES.md": "unsupported_type",
}


def test_every_realworld_file_is_stored_or_quarantined(tmp_path: Path, realworld_dir: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    files = sorted(p for p in realworld_dir.iterdir() if p.is_file())
    for f in files:
        shutil.copy(f, inbox / f.name)
    r = run_dangan(["ingest", str(inbox), "--quiet"], {"DANGAN_HOME": str(tmp_path / "home")}, timeout=1500)
    assert r.code == 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr

    done = tmp_path / "done" / "inbox"
    quarantine = tmp_path / "quarantine" / "inbox"
    for f in files:
        if f.name in REFUSED:
            reason = (quarantine / f"{f.name}.reason.txt").read_text(encoding="utf-8")
            assert reason.startswith(REFUSED[f.name] + ": "), f"{f.name}: {reason}"
            assert (quarantine / f.name).read_bytes() == f.read_bytes()
        else:
            assert (done / f.name).read_bytes() == f.read_bytes(), f"{f.name} was not stored"
    assert not list(inbox.iterdir())
