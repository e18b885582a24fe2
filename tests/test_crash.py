"""Crash safety: ``dangan ingest`` killed with SIGKILL mid-batch, again and again, then rerun.

Every input must end stored and indexed exactly once, its original
decryptable and byte-identical, nothing quarantined, nothing stored twice.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from schemas.settings import Settings
from storage.vault import Vault
from tests.e2e import DANGAN, copy_scans, run_dangan
from tests.synth.corpus import generate_corpus

pytestmark = pytest.mark.integration


def _objects(home: Path) -> list[Path]:
    root = home / "objects"
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
            and not p.name.endswith(".meta.json")]


def _kill_when(cmd: list[str], env: dict[str, str], trigger: Callable[[], bool], timeout: float = 300) -> bool:
    """Start ``cmd`` in its own process group; SIGKILL the group once ``trigger()`` holds.

    Returns False when the run finished before the trigger fired.
    """
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            if trigger():
                os.killpg(proc.pid, signal.SIGKILL)
                return True
            time.sleep(0.01)
        raise AssertionError("ingest neither finished nor reached the kill point in time")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_sigkill_mid_batch_then_rerun(tmp_path: Path) -> None:
    corpus = generate_corpus(tmp_path / "corpus", 6, seed=5)
    inbox = tmp_path / "scans" / "inbox"
    copy_scans(corpus, inbox)
    done = tmp_path / "scans" / "done" / "inbox"
    home = tmp_path / "home"
    env = {**os.environ, "DANGAN_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    cmd = [str(DANGAN), "ingest", str(inbox), "--quiet"]

    def count_done() -> int:
        return len(list(done.iterdir())) if done.exists() else 0

    kills = 0
    # 1: as soon as an object is written (between object store and index commit)
    # 2: as soon as one more source reaches done/ (between files; others mid-OCR)
    # 3 and 4: the same again, further into the batch
    for _ in range(2):
        n = len(_objects(home))
        kills += _kill_when(cmd, env, lambda n=n: len(_objects(home)) > n)
        d = count_done()
        kills += _kill_when(cmd, env, lambda d=d: count_done() > d)
    assert kills >= 3, "the batch finished before it could be killed"

    r = run_dangan(["ingest", str(inbox)], {"DANGAN_HOME": str(home)})
    assert r.code == 0, r.stderr

    assert sorted(p.name for p in done.iterdir()) == sorted(i.file for i in corpus)
    assert not list(inbox.rglob("*.*")), "a source was left in the drop folder"
    assert not (tmp_path / "scans" / "quarantine").exists()
    vault = Vault.open(Settings(home=home))
    try:
        docs = list(vault.index.iter_documents())
        by_sha = {hashlib.sha256(i.path.read_bytes()).hexdigest(): i for i in corpus}
        assert sorted(d.sha256 for d in docs) == sorted(by_sha), "a document is missing or indexed twice"
        for d in docs:
            assert hashlib.sha256(vault.read_original(d.id)).hexdigest() == d.sha256
            assert vault.read_ocr(d.id), "OCR result missing"
    finally:
        vault.close()
    assert len(_objects(home)) == 2 * len(corpus), "an object was stored twice or is missing"
