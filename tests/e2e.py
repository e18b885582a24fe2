"""Helpers for end-to-end tests that drive the real ``dangan`` command."""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from PIL import Image

from tests.synth.corpus import CorpusItem

DANGAN = Path(sys.executable).parent / "dangan"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_dangan(args: list[str], env: dict[str, str], *, timeout: float = 600) -> Result:
    """Run ``dangan ARGS`` in a subprocess with ``env`` added to the environment.

    Before an ``ingest`` into a home without a master key, the key is made
    the way an operator's ``dangan keys init`` makes it (see :func:`ensure_master_key`).
    """
    full_env = {**os.environ, **env}
    full_env.pop("PREFECT_API_URL", None)
    if args[:1] == ["ingest"]:
        ensure_master_key(full_env)
    proc = subprocess.run([str(DANGAN), *args], env=full_env, capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def ensure_master_key(env: dict[str, str]) -> None:
    """Give a fresh test home its master key file, as the first-time setup ``dangan keys init`` does.

    Nothing happens when the key comes from a command, no test home is set, or
    the key file exists (tests of the key commands run ``dangan keys init``).
    A new test home also gets a migrated Prefect database (:func:`seed_prefect_database`).
    """
    from storage.keys import create_key_file

    if env.get("DANGAN_HOME") and env.get(FRESH_PREFECT) != "1":
        seed_prefect_database(Path(env["DANGAN_HOME"]))
    if env.get("DANGAN_MASTER_KEY_COMMAND") or not (env.get("DANGAN_MASTER_KEY_FILE") or env.get("DANGAN_HOME")):
        return  # never the operator's own home
    path = Path(env.get("DANGAN_MASTER_KEY_FILE") or Path(env["DANGAN_HOME"]) / "master.key")
    if not path.exists():
        create_key_file(path)


#: Set to "1" in a test's environment to have its home's Prefect database made by the run itself.
FRESH_PREFECT = "DANGAN_TEST_FRESH_PREFECT"
_template: list[Path] = []
_template_lock = threading.Lock()

_MAKE_TEMPLATE = """
import sys
from pathlib import Path
from flows.runner import quiet_prefect
from schemas.settings import Settings
with quiet_prefect(Settings(home=Path(sys.argv[1]))) as server:
    server.wait_ready()
"""


def seed_prefect_database(home: Path) -> None:
    """Give a new test home a copy of a Prefect database that is already migrated.

    A run's temporary Prefect server migrates a new database first (about 5 s of
    every test that ingests into a new home). The copy is made once per test
    process by starting that same server on a home of its own. A test that sets
    ``DANGAN_TEST_FRESH_PREFECT=1`` keeps the first run's own migration.
    """
    target = home / "prefect" / "prefect.db"
    if target.exists():
        return
    with _template_lock:
        if not _template:
            where = Path(tempfile.mkdtemp(prefix="dangan-prefect-template-"))
            atexit.register(shutil.rmtree, where, True)
            env = {**os.environ, "DANGAN_HOME": str(where / "home")}
            env.pop("PREFECT_API_URL", None)
            subprocess.run([sys.executable, "-c", _MAKE_TEMPLATE, str(where / "home")], env=env, check=True,
                           capture_output=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
            clean = where / "prefect.db"
            with closing(sqlite3.connect(where / "home" / "prefect" / "prefect.db")) as source, \
                    closing(sqlite3.connect(clean)) as copy:
                source.backup(copy)  # one file, whatever the write-ahead log still held
            _template.append(where)
        where = _template[0]
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.chmod(0o700)
    shutil.copyfile(where / "prefect.db", target)
    target.chmod(0o600)
    memo = where / "home" / "prefect" / "memo_store.toml"
    if memo.exists():
        shutil.copyfile(memo, target.parent / memo.name)
        (target.parent / memo.name).chmod(0o600)


def copy_scans(items: list[CorpusItem], inbox: Path) -> None:
    """Copy generated scans (not the truth file) into a drop folder."""
    inbox.mkdir(parents=True, exist_ok=True)
    for item in items:
        shutil.copy2(item.path, inbox / item.file)


def huge_png(path: Path, width: int = 30000, height: int = 30000) -> None:
    """A valid 1-bit PNG whose header claims ``width`` x ``height`` pixels (small on disk)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    raw = zlib.compress(row * 64, 9)  # only a few rows of data: the header is what matters
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def write_bad_inputs(folder: Path) -> dict[str, str]:
    """Write one file per kind of bad input; returns file name -> expected quarantine code."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.pdf").write_bytes(b"")
    pdf = io.BytesIO()
    Image.new("L", (800, 1000), 255).save(pdf, format="PDF", resolution=100)
    (folder / "truncated.pdf").write_bytes(pdf.getvalue()[: len(pdf.getvalue()) // 2])
    with pikepdf.open(io.BytesIO(pdf.getvalue())) as doc:
        doc.save(folder / "locked.pdf", encryption=pikepdf.Encryption(user="secret", owner="owner"))
    (folder / "notes.pdf").write_text("这不是PDF，是一段文本。\nplain text\n", encoding="utf-8")
    huge_png(folder / "bomb.png")
    with zipfile.ZipFile(folder / "archive.zip", "w") as z:
        z.writestr("a.txt", "hello")
    return {
        "empty.pdf": "empty_file",
        "truncated.pdf": "truncated",
        "locked.pdf": "encrypted_pdf",
        "notes.pdf": "unsupported_type",
        "bomb.png": "image_too_large",
        "archive.zip": "unsupported_type",
    }


def read_export(path: Path) -> dict[str, dict]:
    """Export lines by source_name."""
    return {d["source_name"]: d for d in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def sensitive_values(items: list[CorpusItem]) -> set[str]:
    """ID numbers and phones of the ground truth."""
    return {v for item in items for k, v in item.fields.items() if "id_number" in k or "phone" in k}


FILE_MAGICS = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"RIFF", b"BM")


def plaintext_hits(blob: bytes, secrets_: set[str], ocr_lines: set[str]) -> list[str]:
    """Which plaintext markers ``blob`` contains: file magic at the start, secrets or OCR lines anywhere."""
    hits = [f"magic {m!r}" for m in FILE_MAGICS if blob.startswith(m)]
    for s in secrets_ | ocr_lines:
        for enc in ("utf-8", "utf-16-le"):
            if s.encode(enc) in blob:
                hits.append(f"text {s[:4]}…{s[-3:]} ({enc})")
    return hits
