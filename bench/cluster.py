"""Throughput of ``dangan ingest`` on a Dask LocalCluster of single-threaded worker processes.

:func:`run_cluster_batch` runs the real command with ``DANGAN_DASK_WORKERS=N``
(``--keep``: the sources stay where they are) and samples, every 0.2 s, the
resident memory of each Dask worker process it starts.

    .venv/bin/python -m bench.cluster FOLDER --workers 2          # a fresh temporary archive
    .venv/bin/python -m bench.cluster FOLDER --workers 2 --home H  # the archive in H (master key needed)

Without ``--home`` the archive is a new one in a temporary folder (embedded
store and SQLite unless ``DANGAN_DB_URL`` / ``DANGAN_S3_*`` are set).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DANGAN = Path(sys.executable).parent / "dangan"
#: Seconds between two samples of the workers' memory.
SAMPLE_SECONDS = 0.2
#: Markers in the command line of a process started by multiprocessing (how Dask's nanny starts its worker).
_WORKER_MARKS = ("spawn_main", "--multiprocessing-fork")


def run_cluster_batch(paths: list[Path], workers: int, env: dict[str, str]) -> dict[str, Any]:
    """Ingest ``paths`` through a LocalCluster of ``workers`` single-threaded workers; the measurements.

    ``env`` is the whole environment of the command (``DANGAN_HOME`` with its
    master key, any ``DANGAN_*`` settings); ``DANGAN_DASK_WORKERS`` is set here.
    Returns ``pages`` (of the stored files), ``seconds`` (wall time of the whole
    command: Prefect's server, the cluster, the models, the batch),
    ``pages_per_min``, ``batch_seconds`` and ``batch_pages_per_min`` (from the
    run record: the batch alone, once the cluster is up; whole seconds),
    ``worker_peak_rss_bytes`` (one entry per worker process,
    in the order they started), ``coordinator_peak_rss_bytes`` (the command's
    own process) and the summary's ``counts``. Raises RuntimeError when the
    command fails.
    """
    import psutil

    with tempfile.TemporaryDirectory(prefix="dangan-cluster-bench-") as tmp:
        report = Path(tmp) / "summary.json"
        run_env = {k: v for k, v in env.items() if k != "DANGAN_DASK_ADDRESS"}
        run_env["DANGAN_DASK_WORKERS"] = str(workers)
        command = [str(DANGAN), "ingest", *(str(p) for p in paths), "--keep", "--quiet", "--report", str(report)]
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        worker_peaks, coordinator_peak = _sample(proc, psutil)
        out, err = proc.communicate()
        seconds = time.perf_counter() - started
        if proc.returncode != 0 or not report.exists():
            raise RuntimeError(f"dangan ingest on the cluster failed ({proc.returncode}): {out.strip()} {err.strip()}")
        summary = json.loads(report.read_text(encoding="utf-8"))
    batch_seconds = _run_seconds(run_env)
    files = summary["files"]
    pages = sum(f["pages"] for f in files if f["outcome"] == "stored")
    counts: dict[str, int] = {}
    for f in files:
        counts[f["outcome"]] = counts.get(f["outcome"], 0) + 1
    return {
        "workers": workers,
        "files": len(files),
        "pages": pages,
        "seconds": round(seconds, 1),
        "pages_per_min": round(pages / seconds * 60, 1) if seconds > 0 else 0.0,
        "batch_seconds": batch_seconds,
        "batch_pages_per_min": round(pages / batch_seconds * 60, 1) if batch_seconds else None,
        "worker_peak_rss_bytes": worker_peaks,
        "coordinator_peak_rss_bytes": coordinator_peak,
        "counts": counts,
    }


def _run_seconds(env: dict[str, str]) -> int | None:
    """Seconds between the start and the end of the archive's latest run record (``dangan runs``)."""
    from datetime import datetime

    proc = subprocess.run([str(DANGAN), "runs", "--json"], env=env, capture_output=True, text=True, check=False)
    try:
        latest = json.loads(proc.stdout)[0]
        took = datetime.fromisoformat(latest["finished"]) - datetime.fromisoformat(latest["started"])
    except (ValueError, IndexError, KeyError, TypeError):
        return None
    return max(1, round(took.total_seconds()))


def _sample(proc: subprocess.Popen[str], psutil: Any) -> tuple[list[int], int]:
    """Peak RSS of each worker process below ``proc`` (in start order) and of ``proc`` itself, until it ends."""
    peaks: dict[tuple[int, float], int] = {}  # (pid, start time): a pid reused by another process counts apart
    own = 0
    while proc.poll() is None:
        try:
            root = psutil.Process(proc.pid)
            own = max(own, root.memory_info().rss)
            children = root.children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            try:
                if not any(mark in part for part in child.cmdline() for mark in _WORKER_MARKS):
                    continue
                key = (child.pid, child.create_time())
                peaks[key] = max(peaks.get(key, 0), child.memory_info().rss)
            except psutil.Error:
                continue
        time.sleep(SAMPLE_SECONDS)
    return [peaks[key] for key in sorted(peaks, key=lambda k: k[1])], own


def _fresh_home(base: Path) -> Path:
    from storage.keys import create_key_file

    home = base / "home"
    home.mkdir(mode=0o700)
    create_key_file(home / "master.key")
    return home


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="folder of scans (read recursively; left where they are)")
    parser.add_argument("--workers", type=int, default=2, help="single-threaded Dask worker processes")
    parser.add_argument("--home", type=Path, help="archive home to ingest into (default: a fresh temporary one)")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"not a folder: {args.folder}")
    env = dict(os.environ)
    env.setdefault("DANGAN_SETTLE_SECONDS", "0")
    with tempfile.TemporaryDirectory(prefix="dangan-cluster-home-") as tmp:
        env["DANGAN_HOME"] = str(args.home) if args.home else str(_fresh_home(Path(tmp)))
        result = run_cluster_batch([args.folder], args.workers, env)
    mib = [round(b / 2**20) for b in result["worker_peak_rss_bytes"]]
    print(f"{result['pages']} pages in {result['seconds']} s: {result['pages_per_min']} pages/min on "
          f"{args.workers} worker(s); worker peak RSS {mib} MiB", file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
