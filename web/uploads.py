"""Uploads from the front desk (上传): one scan or phone photo into a unit's archive, through the same ingest.

Each upload is a job with a private folder ``DANGAN_HOME/uploads/<job>/`` (0700):
the file is written into ``inbox/<estate>/<building-unit-room>/`` there, so the
unit comes from the folder path exactly as for a scanner's drop folder
(:mod:`storage.unitpath`), and ``dangan ingest --keep`` runs over that inbox in
a child process: the same flow, the same checks, the same quarantine, handed
to the warm worker when one runs. The ingest acts as the service's own OS
account (the local operator, who holds the master key); the person who
uploaded is in the service's audit rows of the upload.

When the ingest ends, the uploaded file is deleted (the archive holds it
encrypted, or the job's ``quarantine/`` holds it with its reason) and the
job's ``report.json`` (the batch summary, no field values) tells the page
what became of it. Jobs older than :data:`KEEP_JOBS_FOR` are removed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from schemas.errors import InvalidRequest, NotFound
from schemas.models import UnitRef
from storage.files import atomic_write
from storage.names import safe_name

#: Largest upload accepted (a phone photo is a few MB; a long contract scanned as PDF some tens).
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
#: File endings an upload may have (the ingest sniffs the real type from the bytes).
UPLOAD_SUFFIXES = frozenset({".pdf", ".tif", ".tiff", ".jpg", ".jpeg", ".png", ".bmp", ".webp"})
#: Seconds one upload's ingest may take before it is stopped.
INGEST_TIMEOUT = 3600.0
#: How often a busy archive (another ingest running) is tried again, and how long between tries.
BUSY_RETRIES, BUSY_WAIT = 20, 15.0
#: Finished jobs (their reports and quarantined files) are removed after this long.
KEEP_JOBS_FOR = dt.timedelta(days=7)
#: Exit code of ``dangan ingest`` when another run holds the archive (schemas.errors.ExitCode.BUSY).
_BUSY = 11

State = Literal["queued", "running", "done", "failed"]
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class UploadJob:
    """One upload and what became of it (no field values: the page shows the documents by their ids)."""

    id: str
    user: str
    unit: str
    estate: str | None
    name: str
    size: int
    created_at: str
    state: State = "queued"
    #: ``stored``, ``duplicate``, ``quarantined`` or ``failed`` for the file; and the documents it gave.
    outcome: str | None = None
    documents: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    finished_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The job as JSON (the job file and the API)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


Runner = Callable[[list[str], Mapping[str, str], float], "subprocess.CompletedProcess[bytes]"]


def _run(args: list[str], env: Mapping[str, str], timeout: float) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, env=dict(env), capture_output=True, timeout=timeout, check=False)


class Uploads:
    """The upload jobs of one archive home; each runs in a thread of its own."""

    def __init__(self, home: Path, *, env: Mapping[str, str] | None = None, runner: Runner = _run,
                 on_finished: Callable[[UploadJob], None] | None = None) -> None:
        self.root = home / "uploads"
        self._env = dict(env if env is not None else os.environ)
        self._env["DANGAN_HOME"] = str(home)
        self._run = runner
        self._on_finished = on_finished
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}

    def start(self, *, user: str, unit: UnitRef, estate: str | None, name: str, data: bytes) -> UploadJob:
        """Write the file into a new job's inbox under its unit and start its ingest; returns the job."""
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise InvalidRequest("Upload a scan or photo: PDF, TIFF, JPEG, PNG, BMP or WebP.")
        if not data:
            raise InvalidRequest("The file is empty; choose the scan again.")
        if len(data) > MAX_UPLOAD_BYTES:
            raise InvalidRequest(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it.")
        self._prune()
        job = UploadJob(id=uuid.uuid4().hex, user=user, unit=str(unit), estate=_folder_name(estate),
                        name=safe_name(Path(name).name), size=len(data),
                        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        folder = self._inbox(job) / (job.estate or "") / str(unit)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        stored_name = f"upload-{job.id[:8]}{suffix}"  # the person's file name is kept in the job, not the path
        atomic_write(folder / stored_name, data)
        self._save(job)
        thread = threading.Thread(target=self._ingest, args=(job,), name=f"dangan-upload-{job.id[:8]}", daemon=True)
        with self._lock:
            self._threads[job.id] = thread
        thread.start()
        return job

    def get(self, job_id: str) -> UploadJob:
        """The job with this id; NotFound when there is none."""
        if not _JOB_ID.fullmatch(job_id or ""):
            raise NotFound("No such upload.")
        path = self.root / job_id / "job.json"
        try:
            return UploadJob(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            raise NotFound("No such upload (finished uploads are kept for a week).") from None

    def wait(self, job_id: str, timeout: float | None = None) -> UploadJob:
        """Wait for a job's ingest to end (tests, scripts); returns the job."""
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
        return self.get(job_id)

    # --- the ingest -------------------------------------------------------------------------------------

    def _inbox(self, job: UploadJob) -> Path:
        return self.root / job.id / "inbox"

    def _ingest(self, job: UploadJob) -> None:
        job.state = "running"
        self._save(job)
        report = self.root / job.id / "report.json"
        args = [sys.executable, "-m", "flows.cli", "ingest", "--keep", "--quiet", "--report", str(report),
                str(self._inbox(job))]
        env = {k: v for k, v in self._env.items() if k not in ("DANGAN_USER", "DANGAN_PASSWORD", "DANGAN_TOKEN")}
        env["DANGAN_SETTLE_SECONDS"] = "0"  # written whole before the ingest starts
        try:
            for _ in range(BUSY_RETRIES):
                done = self._run(args, env, INGEST_TIMEOUT)
                if done.returncode != _BUSY:
                    break
                time.sleep(BUSY_WAIT)
            self._read_report(job, report, done)
        except (OSError, subprocess.SubprocessError) as e:
            job.state, job.reason = "failed", f"the ingest could not run ({type(e).__name__}); upload the file again"
        finally:
            shutil.rmtree(self._inbox(job), ignore_errors=True)  # stored encrypted, or kept in quarantine/
            job.finished_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            self._save(job)
            with self._lock:
                self._threads.pop(job.id, None)
            if self._on_finished is not None:
                self._on_finished(job)

    def _read_report(self, job: UploadJob, report: Path, done: subprocess.CompletedProcess[bytes]) -> None:
        try:
            summary = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()
            job.state = "failed"
            job.reason = (message[-1] if message else f"the ingest ended with code {done.returncode}")[:500]
            return
        files = summary.get("files") or []
        if not files:
            job.state, job.reason = "failed", "the ingest did not take the file; upload it again"
            return
        first = files[0]
        job.outcome = first.get("outcome")
        job.reason = first.get("reason")
        ids = list(first.get("document_ids") or [])
        job.documents = [{"id": d["document_id"], "doc_type": d["doc_type"], "pages": d["pages"],
                          "flagged_fields": list(d.get("flagged_fields") or [])} for d in first.get("documents") or []]
        job.documents += [{"id": i, "doc_type": None, "pages": None, "flagged_fields": []} for i in ids]
        job.state = "done" if job.outcome in ("stored", "duplicate", "quarantined") else "failed"

    # --- bookkeeping ------------------------------------------------------------------------------------

    def _save(self, job: UploadJob) -> None:
        folder = self.root / job.id
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        atomic_write(folder / "job.json", json.dumps(job.as_dict(), ensure_ascii=False).encode("utf-8"))

    def _prune(self) -> None:
        if not self.root.is_dir():
            return
        cutoff = time.time() - KEEP_JOBS_FOR.total_seconds()
        for folder in self.root.iterdir():
            try:
                if _JOB_ID.fullmatch(folder.name) and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue


def _folder_name(estate: str | None) -> str | None:
    """An estate name usable as one folder name (the path's first folder names the estate), or None."""
    if not estate:
        return None
    name = re.sub(r"[\\/\x00-\x1f]", "", estate).strip().strip(".")
    return name[:64] or None
