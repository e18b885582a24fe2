"""Scale-out: one ingest on the workers of a Dask cluster, against one PostgreSQL and one S3 server.

Real everything: Dask LocalClusters of two single-threaded worker processes,
PostgreSQL on 127.0.0.1:5432, SeaweedFS S3, RapidOCR, encryption. One test
drives ``dangan ingest`` with ``DANGAN_DASK_WORKERS=2`` (the command starts the
cluster); the other hands the batch to a running scheduler
(``DANGAN_DASK_ADDRESS``) whose workers have their own home and key file, as
other machines would.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ocr.coversheet_print import render_cover_sheet, sheet_for_unit
from schemas.documents import DocType
from schemas.settings import Settings
from storage.objects import ocr_key, original_key
from tests.e2e import ensure_master_key, run_dangan
from tests.synth.render import FontBook, render_document
from tests.synth.templates import make_document

pytestmark = pytest.mark.integration

DPI = 200
TYPES = (DocType.OWNER_REGISTRATION, DocType.FIRE_SAFETY_AGREEMENT, DocType.MOVE_IN_NOTICE)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three one-page scans of different documents (PNG, 200 dpi)."""
    folder = tmp_path_factory.mktemp("pages")
    fonts = FontBook()
    paths = []
    for seed, doc_type in enumerate(TYPES):
        path = folder / f"scan-{seed + 1}.png"
        image = render_document(make_document(doc_type, random.Random(40 + seed)), DPI, fonts)[0].convert("RGB")
        image.save(path, dpi=(DPI, DPI))
        paths.append(path)
    return paths


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stack_env(pg_url: str, s3_server, bucket: str) -> dict[str, str]:
    return {"DANGAN_DB_URL": pg_url, "DANGAN_S3_ENDPOINT": s3_server.endpoint,
            "DANGAN_S3_ACCESS_KEY": s3_server.access_key, "DANGAN_S3_SECRET_KEY": s3_server.secret_key,
            "DANGAN_S3_BUCKET": bucket, "DANGAN_SETTLE_SECONDS": "0"}


def _indexed(pg_url: str) -> tuple[list[str], int, list[tuple[str, dict]]]:
    """SHA-256 of every indexed file, the number of documents, and (status, counts) of every run."""
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            shas = [row[0] for row in conn.execute(text("SELECT sha256 FROM files"))]
            documents = conn.execute(text("SELECT count(*) FROM documents")).scalar_one()
            runs = [(row[0], row[1]) for row in conn.execute(text("SELECT status, counts FROM ingest_runs"))]
    finally:
        engine.dispose()
    return shas, int(documents), [(s, c if isinstance(c, dict) else json.loads(c)) for s, c in runs]


def _objects(s3_server, bucket: str) -> list[str]:
    return sorted(o.object_name for o in s3_server.client().list_objects(bucket, recursive=True))


def test_dangan_ingest_on_a_local_cluster_of_two_workers(tmp_path: Path, pages: list[Path], pg_url: str,
                                                         s3_server) -> None:
    """``DANGAN_DASK_WORKERS=2``: every file archived exactly once; a second copy of a scan is a duplicate;
    a cover sheet scanned as a file of its own leads the files after it."""
    inbox = tmp_path / "scans" / "inbox"
    inbox.mkdir(parents=True)
    for path in pages:
        shutil.copy2(path, inbox / path.name)
    shutil.copy2(pages[0], inbox / "scan-1-again.png")  # the same bytes twice
    sheet = render_cover_sheet(sheet_for_unit("3-2-1201", batch="T1"), DPI).convert("RGB")
    sheet.save(inbox / "scan-2-sheet.png", dpi=(DPI, DPI))  # a cover sheet of its own: leads scan-2 and scan-3
    bucket = "dangan-scaleout"
    env = {"DANGAN_HOME": str(tmp_path / "home"), "DANGAN_DASK_WORKERS": "2", **_stack_env(pg_url, s3_server, bucket)}
    report = tmp_path / "summary.json"

    run = run_dangan(["ingest", str(inbox), "--report", str(report)], env, timeout=300)

    assert run.code == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    files = {f["name"]: f for f in json.loads(report.read_text(encoding="utf-8"))["files"]}
    assert sorted(f["outcome"] for f in files.values()) == ["duplicate", "sheet", "stored", "stored", "stored"], files
    # The same bytes are read in batch order, one copy after the other: the second finds the first archived.
    stored, duplicate = files["scan-1-again.png"], files["scan-1.png"]
    assert (stored["outcome"], duplicate["outcome"]) == ("stored", "duplicate")
    assert duplicate["document_ids"] == [d["document_id"] for d in stored["documents"]]

    done = tmp_path / "scans" / "done" / "inbox"
    assert sorted(p.name for p in done.iterdir()) == sorted(files)
    assert not any(inbox.iterdir())
    assert not (tmp_path / "scans" / "quarantine").exists()

    shas, documents, runs = _indexed(pg_url)
    assert sorted(shas) == sorted(_sha(p) for p in pages)  # each file once in the index ...
    assert documents == len(pages)
    assert _objects(s3_server, bucket) == sorted(  # ... and once in the store (original + OCR result)
        key for sha in shas for key in (original_key(sha), ocr_key(sha)))
    ((status, counts),) = runs
    assert status == "completed"
    assert (counts["stored"], counts["duplicate"], counts["sheet"], counts["failed"]) == (3, 1, 1, 0)
    assert list((tmp_path / "home" / "reports").glob("qa-*.html")), "no quality report"

    # The sheet file was carried over to the files after it, across the workers, and moved to done/ after them.
    export = tmp_path / "export.jsonl"
    assert run_dangan(["export", "--jsonl", str(export)], env).code == 0
    records = {r["source_name"]: r for r in map(json.loads, export.read_text(encoding="utf-8").splitlines())}
    assert sorted(records) == ["scan-1-again.png", "scan-2.png", "scan-3.png"]
    for name in ("scan-2.png", "scan-3.png"):
        assert records[name]["unit"] == {"building": "3", "unit": "2", "room": "1201"}, records[name]
        assert records[name]["unit_source"] == "cover_sheet"
    assert records["scan-1-again.png"]["unit_source"] != "cover_sheet"


@pytest.fixture
def worker_machine(tmp_path: Path, pg_url: str, s3_server) -> Iterator[tuple[dict[str, str], Path]]:
    """The environment of a worker 'machine': its own home, a copy of the archive's key file, and the
    archive's keyring in a PostgreSQL database every host reaches (as several hosts must share it)."""
    from tests.pgdb import fresh_database

    home = tmp_path / "coordinator-home"
    with fresh_database() as keyring_url:
        env = {"DANGAN_HOME": str(home), "DANGAN_KEYRING_URL": keyring_url,
               **_stack_env(pg_url, s3_server, "dangan-scaleout-address")}
        ensure_master_key(env)
        worker_key = tmp_path / "worker-key" / "master.key"
        worker_key.parent.mkdir(mode=0o700)
        shutil.copy2(home / "master.key", worker_key)
        worker_key.chmod(0o600)
        worker_env = {**env, "DANGAN_HOME": str(tmp_path / "worker-home"), "DANGAN_MASTER_KEY_FILE": str(worker_key)}
        yield env, worker_env


def test_batch_handed_to_a_running_scheduler(tmp_path: Path, pages: list[Path], worker_machine,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``DANGAN_DASK_ADDRESS``: workers with their own settings; the same bytes twice end stored, then duplicate."""
    from distributed import Client, LocalCluster

    from flows.runner import run_ingest
    from flows.scaleout import PLUGIN_NAME

    env, worker_env = worker_machine
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy2(pages[1], inbox / "a.png")
    shutil.copy2(pages[1], inbox / "b.png")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      env=worker_env) as cluster, Client(cluster) as client:
        settings = Settings(dask_address=cluster.scheduler_address)
        summary = run_ingest([str(inbox)], settings=settings, keep=True, warm=False)

        assert [(f.name, f.outcome) for f in summary.files] == [("a.png", "stored"), ("b.png", "duplicate")]
        assert summary.status == "completed"
        # Each worker opened its own services from its own environment: one engine of one thread.
        opened = client.run(_worker_services)
        assert sorted(opened.values()) == [(str(tmp_path / "worker-home"), 1, 1, 1)] * 2, opened
        # ... and closes them when the plugin goes (as at the worker's shutdown).
        client.unregister_worker_plugin(PLUGIN_NAME)
        assert set(client.run(_worker_services).values()) == {None}

    shas, documents, runs = _indexed(env["DANGAN_DB_URL"])
    assert shas == [_sha(pages[1])] and documents == 1
    assert [status for status, _ in runs] == ["completed"]
    assert sorted(p.name for p in inbox.iterdir()) == ["a.png", "b.png"]  # --keep


def _worker_services() -> tuple[str, int, int | None, int] | None:
    """In a worker: (home, engines, threads per engine, OpenCV threads) of its open services, or None."""
    import cv2

    from flows.scaleout import _WORKER

    services = _WORKER._services
    if services is None:
        return None
    return (str(services.settings.home), services.settings.workers, services.settings.ocr_threads,
            cv2.getNumThreads())


def test_worker_environment_gives_the_workers_the_same_settings(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.scaleout import worker_environment
    from schemas.settings import load_settings

    settings = Settings(home=tmp_path, db_url="postgresql+psycopg://u@db/x", s3_endpoint="s3:9000",
                        s3_secret_key="sec ret", s3_bucket="b", ocr_engine="tesseract",
                        drop_folders=(tmp_path / "in",), watch_poll=True, dask_workers=3, user="clerk1",
                        password="pass word", actor="clerk1")
    env = worker_environment(settings)
    assert env["OMP_NUM_THREADS"] == "1"
    assert not any(k in env for k in ("DANGAN_DASK_WORKERS", "DANGAN_WORKERS", "DANGAN_OCR_THREADS", "DANGAN_USER",
                                      "DANGAN_PASSWORD", "DANGAN_TOKEN"))
    for key in [k for k in os.environ if k.startswith("DANGAN_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    loaded = load_settings()
    same = settings.model_copy(update={"dask_workers": None, "user": None, "password": None})
    assert loaded.model_dump(exclude={"s3_secret_key"}) == same.model_dump(exclude={"s3_secret_key"})
    assert loaded.s3_secret_key is not None and loaded.s3_secret_key.get_secret_value() == "sec ret"


@pytest.mark.slow
def test_ctrl_c_stops_the_cluster_batch_cleanly(tmp_path: Path, pages: list[Path]) -> None:
    """Ctrl-C at the terminal (SIGINT to the whole process group): no file begun after it, none quarantined,
    the run record closed as interrupted, exit 130, no worker process left."""
    import signal
    import subprocess
    import time

    import psutil

    from tests.e2e import DANGAN

    inbox = tmp_path / "scans" / "inbox"
    inbox.mkdir(parents=True)
    for n in range(4):  # eight different one-page files
        for path in pages[:2]:
            shutil.copy2(path, inbox / f"{n}-{path.name}")
            with open(inbox / f"{n}-{path.name}", "ab") as f:
                f.write(bytes([n]))  # other bytes, the same page
    home = tmp_path / "home"
    env = {**os.environ, "DANGAN_HOME": str(home), "DANGAN_DASK_WORKERS": "2", "DANGAN_SETTLE_SECONDS": "0"}
    env.pop("PREFECT_API_URL", None)
    ensure_master_key(env)
    proc = subprocess.Popen([str(DANGAN), "ingest", str(inbox)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        done = tmp_path / "scans" / "done" / "inbox"
        deadline = time.monotonic() + 240
        while not (done.exists() and any(done.iterdir())) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "the batch ended before the first file was done"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    assert proc.returncode == 130, out + err
    assert "Traceback" not in err, err
    assert not (tmp_path / "scans" / "quarantine").exists()
    handled = sorted(p.name for p in done.iterdir())
    waiting = sorted(p.name for p in inbox.iterdir())
    assert sorted(handled + waiting) == sorted(f"{n}-{p.name}" for n in range(4) for p in pages[:2])
    assert waiting, "every file was done before the stop"
    runs = run_dangan(["runs", "--json"], {"DANGAN_HOME": str(home)})
    (latest,) = json.loads(runs.stdout)
    assert latest["status"] == "interrupted", latest
    time.sleep(1)
    left = [p for p in psutil.process_iter(["pid"]) if _session(p) == proc.pid]
    assert not left, left


def _session(process) -> int | None:
    try:
        return os.getsid(process.pid)
    except OSError:
        return None


def test_a_worker_of_another_archive_is_refused() -> None:
    from flows.scaleout import _check_mark
    from schemas.errors import ConfigError

    coordinator = {"master key": "k1", "index": "field-encryption a, index-hmac b", "object store": "S3 bucket x"}
    _check_mark(dict(coordinator), coordinator)
    with pytest.raises(ConfigError, match="index"):
        _check_mark({**coordinator, "index": "field-encryption c, index-hmac d"}, coordinator)
