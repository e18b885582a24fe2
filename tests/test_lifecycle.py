"""An ingest run's life: one at a time per archive, stopped by signals, killed, retried, private.

The end-to-end tests drive the real ``dangan ingest`` (Tesseract on tiny
scans, a real temporary Prefect server) and look at what is left: files,
index rows, objects, processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prefect.states import Failed

from flows.context import RunControl
from flows.ingest import find_archived, retry_if_retryable, store_and_index
from flows.runner import private_home
from flows.services import HomeLock
from schemas.errors import (
    DiskFull,
    ExitCode,
    IndexUnavailable,
    IngestBusy,
    IngestInterrupted,
    StorageAuthError,
    StorageError,
)
from tests.drills import (
    FAULTS,
    Layout,
    check_exactly_once,
    descendants,
    drop_layout,
    ingest_env,
    kill_all,
    left_behind,
    private_violations,
    run_ingest_cli,
    run_statuses,
    sha256_of,
    start_ingest,
    wait_until,
)

# --------------------------------------------------------------------------- fast, in-process


def test_second_lock_holder_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    with HomeLock.acquire(tmp_path / "home"):
        with pytest.raises(IngestBusy) as refused:
            HomeLock.acquire(tmp_path / "home")
    assert f"another ingest is running (pid {os.getpid()})" in refused.value.message
    assert refused.value.exit_code == ExitCode.BUSY == 11
    with HomeLock.acquire(tmp_path / "home"):  # released: free again
        pass


def test_lock_hands_a_dead_holders_open_runs_to_the_next_holder(tmp_path: Path) -> None:
    lock = HomeLock.acquire(tmp_path)
    lock.record("run-1")
    lock.release()  # as if killed: the run was never closed
    again = HomeLock.acquire(tmp_path)
    assert again.stale_run_ids == ["run-1"]
    again.release()  # killed again before closing it: still handed on
    third = HomeLock.acquire(tmp_path)
    assert third.stale_run_ids == ["run-1"]
    third.record("run-2")
    third.record(None)  # finished properly
    third.release()
    with HomeLock.acquire(tmp_path) as last:
        assert last.stale_run_ids == []
    assert json.loads((tmp_path / "ingest.lock").read_text())["pid"] == os.getpid()


def test_only_retryable_errors_are_retried() -> None:
    for task in (store_and_index, find_archived):
        assert task.retry_condition_fn is retry_if_retryable and task.retries == 3
    assert retry_if_retryable(store_and_index, None, Failed(data=StorageError("down"))) is True  # type: ignore[arg-type]
    assert retry_if_retryable(store_and_index, None, Failed(data=IndexUnavailable("restarting"))) is True  # type: ignore[arg-type]
    for error in (StorageAuthError("wrong keys"), DiskFull("full"), ValueError("a bug")):
        assert retry_if_retryable(store_and_index, None, Failed(data=error)) is False  # type: ignore[arg-type]


def test_run_control_stops_new_stores_and_waits_for_those_under_way() -> None:
    control = RunControl()
    with control.settling():
        assert control.request_stop() is True
        assert control.request_stop() is False  # the second signal
        assert control.wait_settled(0.05) is False  # a store is still under way
    assert control.wait_settled(0.05) is True
    with pytest.raises(IngestInterrupted), control.settling():
        pass


def test_private_home_tightens_an_older_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    (home / "prefect" / "storage").mkdir(parents=True)
    for name in ("index.sqlite3", "logs/errors.log", "prefect/prefect.db", "prefect/storage/result"):
        (home / name).write_text("x")
        (home / name).chmod(0o644)
    for folder in (home, home / "logs", home / "prefect", home / "prefect" / "storage"):
        folder.chmod(0o755)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not ours to change")
    outside.chmod(0o644)
    (home / "prefect" / "link").symlink_to(outside)
    private_home(home)
    assert private_violations(home) == []
    assert outside.stat().st_mode & 0o777 == 0o644, "a link was followed"


# --------------------------------------------------------------------------- the real command



def _lock_record(home: Path) -> dict[str, object]:
    try:
        return dict(json.loads((home / "ingest.lock").read_text() or "{}"))
    except (OSError, ValueError):
        return {}


def _no_noise(stderr: str) -> None:
    for word in ("Traceback", "prefect", "Prefect", "urllib3", "Warning", "Error"):
        assert word not in stderr, stderr


@pytest.mark.integration
def test_second_ingest_is_refused_while_one_runs_and_the_home_is_private(tmp_path: Path) -> None:
    inbox, done, quarantine, home, inputs = drop_layout(tmp_path, 4)
    env = ingest_env(home)
    first = start_ingest(inbox, env)
    try:
        assert wait_until(lambda: _lock_record(home).get("pid") == first.pid, 60), "the first run never locked"
        second = run_ingest_cli(inbox, env, timeout=60)
        assert second.code == ExitCode.BUSY, second.stderr
        assert f"another ingest is running (pid {first.pid})" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        _no_noise(second.stderr)
        _out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine)
    assert private_violations(home) == [], "the home is readable by others"


@pytest.mark.integration
def test_source_taken_by_another_process_is_skipped_quietly(tmp_path: Path) -> None:
    inbox, done, quarantine, home, inputs = drop_layout(tmp_path, 3)
    away = tmp_path / "taken"
    env = ingest_env(home, PYTHONPATH=str(FAULTS), DANGAN_FAULT="vanish:scan001.png", DANGAN_FAULT_AWAY=str(away))
    r = run_ingest_cli(inbox, env)
    assert r.code == 0, r.stdout + r.stderr
    assert "2 file(s): 2 stored" in r.stdout, r.stdout
    _no_noise(r.stderr)
    assert not quarantine.exists(), "a source another process took was quarantined"
    assert sorted(p.name for p in done.iterdir()) == ["scan000.png", "scan002.png"]
    assert sha256_of(away / "scan001.png") in inputs, "the taken file was changed"


@pytest.mark.integration
def test_sigkill_leaves_no_process_and_the_next_run_closes_the_record(tmp_path: Path) -> None:
    inbox, done, quarantine, home, inputs = drop_layout(tmp_path, 3)
    env = ingest_env(home)
    proc = start_ingest(inbox, env)
    snapshot: dict[int, int] = {}
    try:
        assert wait_until(lambda: bool(_lock_record(home).get("runs")), 120), "the run never began"
        snapshot = descendants(proc.pid)
        assert snapshot, "no temporary Prefect server runs under dangan"
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, as `kill -9 PID` does
        proc.communicate(timeout=30)
        assert left_behind(home, snapshot, timeout=10) == []
    finally:
        kill_all(snapshot)
        if proc.poll() is None:
            proc.kill()
    assert run_statuses(home) == ["running"]
    r = run_ingest_cli(inbox, env)
    assert r.code == 0, r.stderr
    assert run_statuses(home) == ["interrupted", "completed"]
    check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine)
    assert not any((home / "work").iterdir()), "a killed run's page images were left behind"


def _stop_while_storing(tmp_path: Path, files: int, store_seconds: int,
                        stop: Callable[[subprocess.Popen[str]], None],
                        *, new_session: bool = False) -> tuple[Layout, int, str, float]:
    """Run an ingest whose stores are slow; once the first store began, ``stop(process)``.

    Returns the layout, the exit code, standard error and the seconds from the
    stop to the exit; checks no process of the run was left behind.
    """
    layout = drop_layout(tmp_path, files)
    mark = tmp_path / "store-began"
    env = ingest_env(layout[3], PYTHONPATH=str(FAULTS), DANGAN_FAULT=f"slow-store:{store_seconds}",
                     DANGAN_FAULT_MARK=str(mark))
    proc = start_ingest(layout[0], env, "--workers", "1", new_session=new_session)
    snapshot: dict[int, int] = {}
    try:
        assert wait_until(mark.exists, 180), "no store began"
        snapshot = descendants(proc.pid)
        stop(proc)
        stopped = time.monotonic()
        _out, err = proc.communicate(timeout=60)
        took = time.monotonic() - stopped
        assert left_behind(layout[3], snapshot, timeout=10) == []
    finally:
        kill_all(snapshot)
        if proc.poll() is None:
            proc.kill()
    return layout, proc.returncode, err, took


@pytest.mark.integration
def test_ctrl_c_lets_the_store_under_way_finish_then_stops_quietly(tmp_path: Path) -> None:
    def ctrl_c(proc: subprocess.Popen[str]) -> None:
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group

    (inbox, done, quarantine, home, inputs), code, err, took = _stop_while_storing(
        tmp_path, 5, 3, ctrl_c, new_session=True)
    assert code == ExitCode.INTERRUPTED, err
    assert took < 15, f"stopping took {took:.1f} s"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("dangan: interrupted"), err
    _no_noise(err)
    stored = {p.name for p in done.iterdir()}
    assert stored == {"scan000.png"}, "the file being stored did not finish, or more files were begun"
    assert {p.name for p in inbox.iterdir()} == set(inputs.values()) - stored, "a source is neither here nor there"
    assert not quarantine.exists()
    assert run_statuses(home) == ["interrupted"]
    r = run_ingest_cli(inbox, ingest_env(home))
    assert r.code == 0, r.stderr
    check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine)


@pytest.mark.integration
def test_second_signal_exits_at_once_and_nothing_is_lost(tmp_path: Path) -> None:
    def sigterm_twice(proc: subprocess.Popen[str]) -> None:
        proc.send_signal(signal.SIGTERM)  # as `kill PID` does
        time.sleep(1)
        assert proc.poll() is None, "the first signal did not wait for the store under way"
        proc.send_signal(signal.SIGTERM)

    (inbox, done, quarantine, home, inputs), code, err, took = _stop_while_storing(tmp_path, 3, 60, sigterm_twice)
    assert code == ExitCode.INTERRUPTED, err
    assert took < 2, f"the second signal took {took:.1f} s"
    assert "stopped at once" in err, err
    _no_noise(err)
    assert not quarantine.exists() and not done.exists()
    r = run_ingest_cli(inbox, ingest_env(home))
    assert r.code == 0, r.stderr
    check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine)
