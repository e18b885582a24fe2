"""Helpers for the crash, outage and life-cycle drills that drive the real ``dangan ingest``.

Tiny one-page scans keep each run short (Tesseract reads one in about a
second); the checks say what "nothing lost, nothing leaked, nothing twice"
means for an archive home after a drill.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from schemas.settings import Settings
from storage.vault import Vault
from tests.e2e import DANGAN, ensure_master_key
from tests.synth.render import find_cjk_fonts

#: Folder holding the fault-injecting ``sitecustomize`` (put it on PYTHONPATH with DANGAN_FAULT set).
FAULTS = Path(__file__).resolve().parent / "faults"


def tiny_scans(folder: Path, count: int, *, start: int = 0) -> list[Path]:
    """Write ``count`` small one-page registration-form scans (PNG, each with its own bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    font = ImageFont.truetype(str(find_cjk_fonts()[0]), 28)
    paths = []
    for i in range(start, start + count):
        img = Image.new("L", (640, 240), 255)
        draw = ImageDraw.Draw(img)
        draw.text((60, 40), "业主入住登记表", font=font, fill=0)
        draw.text((60, 120), f"姓名：王伟{i}  房号：3-2-{1200 + i}", font=font, fill=0)
        path = folder / f"scan{i:03d}.png"
        img.save(path, dpi=(200, 200))
        paths.append(path)
    return paths


#: Drop folder, its done/ folder, the quarantine folder, the archive home, and the inputs (sha256 -> name).
Layout = tuple[Path, Path, Path, Path, dict[str, str]]


def drop_layout(tmp_path: Path, count: int) -> Layout:
    """A drop folder ``scans/inbox`` with ``count`` tiny scans, where they will go, and a home beside it."""
    inbox = tmp_path / "scans" / "inbox"
    scans = tiny_scans(inbox, count)
    return (inbox, tmp_path / "scans" / "done" / "inbox", tmp_path / "scans" / "quarantine", tmp_path / "home",
            {sha256_of(p): p.name for p in scans})


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ingest_env(home: Path, **more: str) -> dict[str, str]:
    """The environment of a ``dangan`` run on ``home`` (with its master key made, as ``keys init`` does)."""
    env = {**os.environ, "DANGAN_HOME": str(home), "DANGAN_OCR_ENGINE": "tesseract", **more}
    env.pop("PREFECT_API_URL", None)
    ensure_master_key(env)
    return env


def start_ingest(inbox: Path, env: dict[str, str], *args: str, new_session: bool = False) -> subprocess.Popen[str]:
    """Start ``dangan ingest INBOX --quiet ARGS`` (output captured)."""
    return subprocess.Popen([str(DANGAN), "ingest", str(inbox), "--quiet", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=new_session)


@dataclass
class Finished:
    """How a ``dangan`` run ended."""

    code: int
    stdout: str
    stderr: str
    seconds: float


def run_ingest_cli(inbox: Path, env: dict[str, str], *args: str, timeout: float = 600) -> Finished:
    """Run ``dangan ingest INBOX --quiet ARGS`` to its end."""
    started = time.monotonic()
    proc = subprocess.run([str(DANGAN), "ingest", str(inbox), "--quiet", *args], env=env, text=True,
                          capture_output=True, timeout=timeout)
    return Finished(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


# --------------------------------------------------------------------------- processes


def _proc_bytes(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def _pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            yield int(entry)


def _state_and_parent(pid: int) -> tuple[str, int, int]:
    """(state, parent pid, start time) from /proc/PID/stat; ('', 0, 0) when gone."""
    raw = _proc_bytes(pid, "stat").decode(errors="replace")
    if not raw:
        return "", 0, 0
    fields = raw[raw.rfind(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def _command(pid: int) -> str:
    return _proc_bytes(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace")[:200]


def processes_naming(path: Path) -> list[str]:
    """Live processes whose environment or command line names ``path`` (``"pid: command"``)."""
    needle = str(path).encode()
    found = []
    for pid in _pids():
        state, _, _ = _state_and_parent(pid)
        if state in ("", "Z", "X"):
            continue
        cmdline = _proc_bytes(pid, "cmdline")
        if needle in cmdline or needle in _proc_bytes(pid, "environ"):
            found.append(f"{pid}: {_command(pid)}")
    return found


def descendants(pid: int) -> dict[int, int]:
    """Every process below ``pid`` now, with its start time (so a reused pid is not mistaken for it)."""
    children: dict[int, list[tuple[int, int]]] = {}
    for p in _pids():
        state, parent, started = _state_and_parent(p)
        if state:
            children.setdefault(parent, []).append((p, started))
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        for child, started in children.get(todo.pop(), []):
            if child not in found:
                found[child] = started
                todo.append(child)
    return found


def still_alive(snapshot: dict[int, int]) -> list[int]:
    """Those of ``snapshot`` (from :func:`descendants`) still running (not zombies)."""
    alive = []
    for pid, started in snapshot.items():
        state, _, now_started = _state_and_parent(pid)
        if state not in ("", "Z", "X") and now_started == started:
            alive.append(pid)
    return alive


def wait_until(predicate: object, timeout: float, step: float = 0.1) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` seconds passed."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def left_behind(home: Path, snapshot: dict[int, int], *, timeout: float = 5.0) -> list[str]:
    """What is still running ``timeout`` seconds after a kill: processes naming ``home``, or from ``snapshot``."""
    wait_until(lambda: not processes_naming(home) and not still_alive(snapshot), timeout)
    survivors = processes_naming(home)
    survivors += [f"{pid}: {_command(pid)}" for pid in still_alive(snapshot)]
    return sorted(set(survivors))


def kill_all(snapshot: dict[int, int]) -> None:
    """SIGKILL what is left of ``snapshot`` (clean-up after a failed check)."""
    for pid in still_alive(snapshot):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# --------------------------------------------------------------------------- the archive after a drill


def private_violations(home: Path) -> list[str]:
    """Files and folders under ``home`` that group or others may access."""
    bad = []
    for path in [home, *home.rglob("*")]:
        mode = path.lstat().st_mode
        if mode & 0o077 and not path.is_symlink():
            bad.append(f"{oct(mode & 0o777)} {path.relative_to(home.parent)}")
    return bad


def check_exactly_once(home: Path, inputs: dict[str, str], *, inbox: Path, done: Path,
                       quarantine: Path, settings: Settings | None = None) -> None:
    """Every input (sha256 -> file name) stored once, indexed once, decrypting to its SHA-256, moved to done/.

    Nothing is left in the drop folder or quarantined, and the object store
    holds exactly the objects the index refers to (no orphans).
    """
    assert sorted(p.name for p in done.iterdir()) == sorted(inputs.values()), "done/ does not hold every input once"
    assert not [p for p in inbox.rglob("*") if p.is_file()], "a source was left in the drop folder"
    assert not quarantine.exists() or not any(quarantine.rglob("*")), "something was quarantined"
    with closing(Vault.open(settings or Settings(home=home))) as vault:
        docs = list(vault.index.iter_documents())
        assert sorted(d.sha256 for d in docs) == sorted(inputs), "an input is missing or indexed twice"
        for d in docs:
            assert hashlib.sha256(vault.read_original(d.id)).hexdigest() == d.sha256
            assert vault.read_ocr(d.id), "OCR result missing"
        referenced = vault.index.object_keys()
        stored = set(vault.store.list(""))
    assert stored == referenced, f"orphan or missing objects: {sorted(stored ^ referenced)}"
    assert len(referenced) == 2 * len(inputs)


def run_statuses(home: Path, settings: Settings | None = None) -> list[str]:
    """Status of every ingest-run record, oldest first."""
    from sqlalchemy import create_engine, text

    engine = create_engine((settings or Settings(home=home)).database_url)
    try:
        with engine.connect() as c:
            return [r[0] for r in c.execute(text("SELECT status FROM ingest_runs ORDER BY started_at"))]
    finally:
        engine.dispose()
