"""The warm pipeline: ``dangan worker`` keeps Prefect and the OCR pipeline loaded, ``dangan ingest`` hands it batches.

The end-to-end tests start the real ``dangan worker`` on a temporary home
(Tesseract on tiny scans), drive the real ``dangan ingest`` against it, and
look at what is left: files, index rows, processes, the worker's log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flows.context import RunControl
from flows.summary import FileOutcome, IngestSummary
from flows.worker_client import (
    _as_given,
    error_payload,
    read_state,
    rebuild_error,
    settings_payload,
    submit,
)
from schemas.errors import DiskFull, ExitCode, IngestBusy, StorageError, WrongMasterKey
from schemas.settings import Settings
from tests.drills import (
    FAULTS,
    check_exactly_once,
    descendants,
    drop_layout,
    ingest_env,
    kill_all,
    left_behind,
    run_ingest_cli,
    start_ingest,
    tiny_scans,
    wait_until,
)
from tests.e2e import DANGAN

# --------------------------------------------------------------------------- fast, in-process


def test_errors_cross_the_socket_with_their_class_and_exit_code() -> None:
    for error in (IngestBusy("busy (pid 7)"), WrongMasterKey("wrong key"), DiskFull("full"), StorageError("down")):
        again = rebuild_error(json.loads(json.dumps(error_payload(error))))
        assert type(again) is type(error) and again.message == error.message
        assert again.exit_code == error.exit_code and again.retryable == error.retryable
    odd = rebuild_error({"code": "from-a-newer-worker", "message": "m", "exit_code": 7, "retryable": True})
    assert odd.exit_code == ExitCode.STORAGE and odd.retryable


def test_settings_travel_whole_and_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(home=tmp_path / "home", s3_secret_key="s3cret", done_dir=Path("done"),  # type: ignore[arg-type]
                        db_url="sqlite:///index.db", drop_folders=(tmp_path / "in",))
    payload = json.loads(json.dumps(settings_payload(settings)))
    monkeypatch.setenv("DANGAN_S3_SECRET_KEY", "the worker's own")  # the worker's environment does not leak in
    again = Settings.model_validate(payload)
    assert again.s3_secret_key is not None and again.s3_secret_key.get_secret_value() == "s3cret"
    assert again.done_dir == tmp_path / "done" and again.db_url == f"sqlite:///{tmp_path}/index.db"
    assert again.drop_folders == (tmp_path / "in",) and again.home == tmp_path / "home"


def test_summary_paths_are_written_as_the_user_gave_them(tmp_path: Path) -> None:
    def outcome(path: str) -> FileOutcome:
        return FileOutcome(path=path, name=Path(path).name, outcome="stored")

    summary = IngestSummary.of([outcome(f"{tmp_path}/inbox/a.png"), outcome("/elsewhere/b.png")])
    again = _as_given(summary, ["inbox", "/elsewhere"], [f"{tmp_path}/inbox", "/elsewhere"])
    assert [f.path for f in again.files] == ["inbox/a.png", "/elsewhere/b.png"]


def test_no_worker_means_the_command_runs_the_batch_itself(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert submit(["x"], settings=Settings(home=home), keep=False, reporter=None, control=RunControl()) is None
    (home / "worker.json").write_text(json.dumps({"pid": 2 ** 22 + 7, "home": str(home), "socket": "s",
                                                  "api_url": "u", "started": "t"}))
    (home / "worker.json").chmod(0o600)
    assert read_state(home) is not None
    assert submit(["x"], settings=Settings(home=home), keep=False, reporter=None, control=RunControl()) is None
    (home / "worker.json").chmod(0o644)  # readable by others: not trusted
    assert read_state(home) is None


# --------------------------------------------------------------------------- the real commands


@contextmanager
def warm_worker(home: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``dangan worker`` for ``home`` and wait until it serves; kill it (and its server) if a check failed."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(DANGAN), "worker"], env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
    snapshot: dict[int, int] = {}
    try:
        ready = wait_until(lambda: b"ready in" in log.read_bytes() or proc.poll() is not None, 180, step=0.2)
        assert ready and proc.poll() is None, f"the worker did not start: {log.read_text()}"
        snapshot = descendants(proc.pid)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all(snapshot)


def children_seen(proc: subprocess.Popen[str]) -> tuple[str, str, list[str]]:
    """Wait for ``proc`` to end, noting the command line of every process that ran below it meanwhile."""
    seen: dict[int, str] = {}
    while proc.poll() is None:
        for pid in descendants(proc.pid):
            try:  # read again each time: a child caught between fork and exec still shows its parent's
                line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                line = ""
            if line or pid not in seen:
                seen[pid] = line
        time.sleep(0.02)
    out, err = proc.communicate()
    return out, err, list(seen.values())


def ingest_runs_in_prefect(api_url: str) -> int:
    """Flow runs of the ``ingest`` flow the Prefect server at ``api_url`` has recorded."""
    body = json.dumps({"flows": {"name": {"any_": ["ingest"]}}}).encode()
    request = urllib.request.Request(f"{api_url}/flow_runs/count", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as r:
        return int(json.loads(r.read()))


@pytest.mark.integration
def test_ingest_goes_through_the_warm_worker_and_falls_back_when_it_is_gone(tmp_path: Path) -> None:
    from flows.services import HomeLock

    inbox, done, quarantine, home, inputs = drop_layout(tmp_path, 1)
    env = ingest_env(home, DANGAN_SETTLE_SECONDS="0")
    log = tmp_path / "worker.log"
    with warm_worker(home, env, log) as worker:
        state = read_state(home)
        assert state is not None and state.pid == worker.pid
        assert (home / "worker.json").stat().st_mode & 0o777 == 0o600
        assert (home / "worker.sock").stat().st_mode & 0o077 == 0
        status = subprocess.run([str(DANGAN), "worker", "--status"], env=env, capture_output=True, text=True)
        assert status.returncode == 0 and f"pid {worker.pid}" in status.stdout, status.stdout + status.stderr

        # The worker holds the archive lock only while a batch runs: now it is free.
        with HomeLock.acquire(home):
            busy = run_ingest_cli(inbox, env, timeout=60)
        assert busy.code == ExitCode.BUSY, busy.stdout + busy.stderr
        assert busy.stderr.strip() == (f"dangan: another ingest is running (pid {os.getpid()}) on the archive in "
                                       f"{home}; wait until it has finished, then run this command again.")

        started = time.monotonic()
        proc = start_ingest(inbox, env)
        out, err, below = children_seen(proc)
        took = time.monotonic() - started
        assert proc.returncode == 0, out + err
        assert err == "", err
        assert out.splitlines()[0] == "1 file(s): 1 stored (1 documents, 1 pages), 0 already archived, " \
                                      "0 quarantined, 0 failed", out
        assert not [c for c in below if "uvicorn" in c or "prefect" in c], f"a server was started: {below}"
        assert f"batch from pid {proc.pid}: 1 file(s), 1 stored" in log.read_text(), log.read_text()
        assert ingest_runs_in_prefect(state.api_url) == 1, "the worker's Prefect server has no record of the run"
        assert took < 30, f"a one-page ingest through the warm worker took {took:.1f} s"
        check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine)

        snapshot = descendants(worker.pid)
        assert any(b"uvicorn" in Path(f"/proc/{p}/cmdline").read_bytes() for p in snapshot), "no Prefect server"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, log.read_text()
        assert left_behind(home, snapshot, timeout=10) == []
    assert not (home / "worker.json").exists() and not (home / "worker.sock").exists()
    assert log.read_text().rstrip().endswith("dangan worker: stopped"), log.read_text()

    # Without the worker: the command starts its own temporary server, as before.
    more = {p.name: p for p in tiny_scans(inbox, 1, start=1)}
    proc = start_ingest(inbox, env)
    out, err, below = children_seen(proc)
    assert proc.returncode == 0, out + err
    assert out.startswith("1 file(s): 1 stored"), out
    assert [c for c in below if "uvicorn" in c], "no temporary Prefect server was started without the worker"
    assert sorted(p.name for p in done.iterdir()) == sorted([*inputs.values(), *more])


@pytest.mark.integration
def test_ctrl_c_and_sigterm_stop_the_batch_in_the_worker_and_nothing_is_lost(tmp_path: Path) -> None:
    from flows.services import HomeLock

    inbox, done, quarantine, home, inputs = drop_layout(tmp_path, 4)
    mark = tmp_path / "store-began"
    env = ingest_env(home, DANGAN_SETTLE_SECONDS="0")
    slow = {**env, "PYTHONPATH": str(FAULTS), "DANGAN_FAULT": "slow-store:3", "DANGAN_FAULT_MARK": str(mark)}
    log = tmp_path / "worker.log"
    with warm_worker(home, slow, log) as worker:
        # Ctrl-C at the terminal: the store under way finishes, no new file begins, exit 130 as usual.
        proc = start_ingest(inbox, env, "--workers", "1", new_session=True)
        assert wait_until(mark.exists, 120), "no store began"
        os.killpg(proc.pid, signal.SIGINT)
        stopped = time.monotonic()
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == ExitCode.INTERRUPTED, err
        assert time.monotonic() - stopped < 15
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("dangan: interrupted"), err
        assert sorted(p.name for p in done.iterdir()) == ["scan000.png"]

        def lock_free() -> bool:
            try:
                HomeLock.acquire(home).release()
            except IngestBusy:
                return False
            return True

        assert wait_until(lock_free, 60), "the worker kept the archive lock after the batch"
        assert worker.poll() is None, "the worker died with its client's batch"

        # SIGTERM to the worker mid-batch: the same clean stop; the command is told and exits 130.
        mark.unlink()
        proc = start_ingest(inbox, env, "--workers", "1")
        assert wait_until(mark.exists, 120), "no store began"
        snapshot = descendants(worker.pid)
        worker.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == ExitCode.INTERRUPTED, err
        assert "the warm worker was stopped" in err and len(err.strip().splitlines()) == 1, err
        assert worker.wait(timeout=30) == 0, log.read_text()
        assert left_behind(home, snapshot, timeout=10) == []
        assert len(list(done.iterdir())) == 2, "the file being stored did not finish, or more were begun"

    # The next run (no worker: a run of its own) finishes the batch; nothing lost, nothing twice.
    r = run_ingest_cli(inbox, env)
    assert r.code == 0, r.stdout + r.stderr
    check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine)
