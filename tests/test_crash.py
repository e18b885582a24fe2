"""Crash drill: ``dangan ingest`` killed with SIGKILL at random points, again and again, then run again.

Only the dangan process itself is killed (``kill -9 PID``), never its process
group: the temporary Prefect server must die with it. After the drill every
input must be stored once, indexed once and decrypt to its SHA-256; the
store holds no object the index does not refer to (``dangan gc`` collects
the temp files of writes cut short); no process of the runs is left; every
input is in the drop folder or in done/, none in quarantine; every killed
run's record is closed as interrupted.

Each kill costs a run's start-up (about 10 s on 2 cores: the temporary
Prefect server), so the CI version kills 8 times, every kind of kill point
at least once; the ``slow`` version kills 30 times. Only kills while files
are still waiting count.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from schemas.errors import ExitCode
from storage.files import TMP_PREFIX
from storage.gc import delete_orphans, find_orphans
from storage.objects import LocalObjectStore
from tests.drills import (
    check_exactly_once,
    descendants,
    drop_layout,
    ingest_env,
    kill_all,
    left_behind,
    run_ingest_cli,
    run_statuses,
    start_ingest,
)
from tests.e2e import DANGAN


def _objects(home: Path) -> list[Path]:
    root = home / "objects"
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
            and not p.name.endswith(".meta.json")]


def _temp_files(home: Path) -> list[Path]:
    root = home / "objects"
    return [p for p in root.rglob(f"{TMP_PREFIX}*")] if root.exists() else []


def _lock_runs(home: Path) -> list[str]:
    try:
        return list(json.loads((home / "ingest.lock").read_text() or "{}").get("runs") or [])
    except (OSError, ValueError):
        return []


@dataclass
class Drill:
    """What a crash drill did."""

    kills: int = 0
    #: Kills after the last file had left the drop folder (not counted in ``kills``).
    idle_kills: int = 0
    finished_runs: int = 0
    points: dict[str, int] = field(default_factory=dict)
    left_behind: list[str] = field(default_factory=list)


def _kill_at(point: str, rng: random.Random, home: Path, done: Path) -> Callable[[float], bool]:
    """A trigger ``f(seconds since start) -> kill now?`` for one kind of kill point."""
    if point == "any time":
        at = rng.uniform(0.2, 14.0)
        return lambda t: t >= at
    if point == "while files are read":
        delay = rng.uniform(0.0, 4.0)
        began: list[float] = []

        def reading(t: float) -> bool:
            if not began and _lock_runs(home):
                began.append(t)
            return bool(began) and t >= began[0] + delay
        return reading
    if point == "between store and commit":
        n = len(_objects(home)) + len(_temp_files(home))
        return lambda t: len(_objects(home)) + len(_temp_files(home)) > n
    n_done = len(list(done.iterdir())) if done.exists() else 0
    return lambda t: (len(list(done.iterdir())) if done.exists() else 0) > n_done  # "after a file settled"


POINTS = ("any time", "while files are read", "between store and commit", "after a file settled")
WEIGHTS = (3, 4, 2, 1)


def _crash_drill(tmp_path: Path, *, kills: int, files: int, seed: int) -> Drill:
    inbox, done, quarantine, home, inputs = drop_layout(tmp_path, files)
    env = ingest_env(home)
    rng = random.Random(seed)
    drill = Drill()
    while drill.kills < kills:
        assert any(inbox.iterdir()), f"the batch was done after {drill.kills} kills: give the drill more files"
        point = POINTS[drill.kills] if drill.kills < len(POINTS) else rng.choices(POINTS, WEIGHTS)[0]
        trigger = _kill_at(point, rng, home, done)
        proc = start_ingest(inbox, env, "--workers", "2")
        started = time.monotonic()
        snapshot: dict[int, int] = {}
        next_look = started
        try:
            while proc.poll() is None and not trigger(time.monotonic() - started):
                if time.monotonic() >= next_look:  # children that came and went are checked too
                    snapshot.update(descendants(proc.pid))
                    next_look = time.monotonic() + 0.5
                time.sleep(0.02)
                assert time.monotonic() - started < 300, "a run neither finished nor reached its kill point"
            if proc.poll() is None:
                work_left = any(inbox.iterdir())  # a kill counts only while the batch still has work
                snapshot.update(descendants(proc.pid))
                os.kill(proc.pid, signal.SIGKILL)  # dangan only, as `kill -9 PID` does
                drill.kills += work_left
                drill.idle_kills += not work_left
                drill.points[point] = drill.points.get(point, 0) + work_left
            else:
                drill.finished_runs += 1
            proc.communicate(timeout=60)
            drill.left_behind += left_behind(home, snapshot, timeout=10)
        finally:
            kill_all(snapshot)
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    r = run_ingest_cli(inbox, env)
    assert r.code == ExitCode.OK, r.stdout + r.stderr
    assert drill.left_behind == [], f"processes outlived a killed run: {drill.left_behind}"
    check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine)
    assert "running" not in run_statuses(home), "a killed run's record was never closed"
    assert not any((home / "work").iterdir()), "page images of a killed run were left behind"

    # Writes cut short leave hidden temp files; `dangan gc` lists them and, past the grace period, deletes them.
    listed = subprocess.run([str(DANGAN), "gc", "--json", "--grace-hours", "0"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    report = json.loads(listed.stdout)
    assert {o["kind"] for o in report["orphans"]} <= {"temp"}, f"orphan objects: {report['orphans']}"
    deleted = subprocess.run([str(DANGAN), "gc", "--delete", "--grace-hours", "0"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert deleted.returncode == 0, deleted.stderr
    assert _temp_files(home) == []
    check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine)
    return drill


@pytest.mark.integration
def test_sigkill_at_random_points_then_rerun(tmp_path: Path) -> None:
    """The CI drill: 8 kills (each kind of kill point at least once) over 12 files, about 2-3 minutes."""
    drill = _crash_drill(tmp_path, kills=8, files=12, seed=5)
    print(drill)
    assert drill.kills >= 8
    assert set(drill.points) == set(POINTS), f"some kill points were never hit: {drill.points}"


@pytest.mark.slow
@pytest.mark.integration
def test_sigkill_drill_long(tmp_path: Path) -> None:
    """The full drill: 30 kills over 30 files (about 5-8 minutes on 2 cores)."""
    drill = _crash_drill(tmp_path, kills=30, files=30, seed=11)
    print(drill)
    assert drill.kills >= 30
    assert set(drill.points) == set(POINTS), f"some kill points were never hit: {drill.points}"


def test_gc_collects_only_orphans_past_the_grace_period(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    blob = b"DGNE" + os.urandom(32)
    for key in ("originals/aa/kept", "originals/bb/orphan-old", "originals/cc/orphan-new"):
        store.put(key, blob, metadata={})
    temp = store.root / "originals" / "aa" / f"{TMP_PREFIX}left-by-a-kill"
    temp.write_bytes(blob)
    hour_ago = time.time() - 3600
    for path in (store.root / "originals/bb/orphan-old", temp):
        os.utime(path, (hour_ago, hour_ago))

    report = find_orphans(store, {"originals/aa/kept"}, grace=dt.timedelta(minutes=30))
    assert sorted(o.key for o in report.collectable) == ["originals/aa/.tmp-left-by-a-kill", "originals/bb/orphan-old"]
    assert [o.key for o in report.kept] == ["originals/cc/orphan-new"], "a young object is never collected"
    assert delete_orphans(store, report.collectable) == 2
    assert sorted(store.list("")) == ["originals/aa/kept", "originals/cc/orphan-new"]
    assert not temp.exists() and not (store.root / "originals/bb/orphan-old.meta.json").exists()
    with pytest.raises(ValueError):
        find_orphans(store, set(), grace=dt.timedelta(hours=-1))
