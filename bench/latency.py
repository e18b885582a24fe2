"""One-page latency: ``dangan ingest`` of a single page, cold, warm (through ``dangan worker``), and the bare engine.

In one run, on one realistic page (a synthetic owner-registration form scanned
at office resolution), each repetition with a page of its own bytes (so it is
never "already archived"):

* bare engine: the OCR engine's own time for the page (every call into the
  engine while the page is read), and the whole in-process reading of the
  page (rasterise, OpenCV clean-up, OCR, classification, extraction), both
  with a warm engine in this process;
* cold: ``dangan ingest PAGE`` with no worker running (it starts Prefect's
  temporary server, loads Prefect and the models);
* warm: ``dangan ingest PAGE`` while ``dangan worker`` runs for the archive;
* optionally (``--process-worker``) the nightly path: a run of the deployment in
  infra/prefect.yaml by ``prefect worker start`` (a fresh Python process per
  flow run), from ``prefect deployment run`` to the run's completion.

    .venv/bin/python -m bench.latency --reps 5 --process-worker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
DANGAN = Path(sys.executable).parent / "dangan"


class TimedEngine:
    """Wraps an OCR engine and adds up the seconds spent inside it."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._engine, name)
        if name in ("recognize", "recognize_crops", "detect_orientation") and callable(value):
            return self._timed(value)
        return value

    def _timed(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return call


def one_page(out: Path, seed: int) -> Path:
    """A single-page, degraded registration form from the synthetic generator (PNG at its scan DPI)."""
    from tests.synth.corpus import generate_corpus

    items = generate_corpus(out / "corpus", 12, seed=seed)
    pages = [i for i in items if i.pages == 1 and i.doc_type.value == "owner_registration"] or \
            [i for i in items if i.pages == 1]
    item = pages[0]
    with Image.open(item.path) as img:
        img.load()
        page = img.convert("RGB")
    target = out / "page.png"
    page.save(target, dpi=(item.dpi, item.dpi))
    return target


def variant(page: Path, folder: Path, n: int) -> Path:
    """``page`` with one pixel changed (new bytes, same reading), written into a fresh ``folder``."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with Image.open(page) as img:
        img.load()
        dpi = img.info.get("dpi", (300, 300))
        copy = img.copy()
    copy.putpixel((0, 0), (n % 256, (n // 256) % 256, 255))
    target = folder / f"page{n:03d}.png"
    copy.save(target, dpi=dpi)
    return target


def bare_engine(page: Path, home: Path, reps: int, engine_name: str) -> tuple[list[float], list[float]]:
    """(engine seconds, whole reading seconds) per repetition, with a warm engine in this process."""
    from ocr.engine_factory import make_engine
    from ocr.load import preflight
    from ocr.pipeline import read_file
    from schemas.settings import Settings

    settings = Settings(home=home, ocr_engine=engine_name, settle_seconds=0)  # type: ignore[arg-type]
    engine = make_engine(settings.ocr_engine, settings)
    engine_times, read_times = [], []
    for n in range(reps + 1):  # the first one warms the engine up and is not counted
        with tempfile.TemporaryDirectory() as tmp:
            source = preflight(variant(page, Path(tmp) / "in", 10_000 + n), settings)
            timed = TimedEngine(engine)
            started = time.perf_counter()
            read_file(source, engine=timed, settings=settings, workdir=Path(tmp),  # type: ignore[arg-type]
                      rereaders=[timed.recognize_crops])
            took = time.perf_counter() - started
        if n:
            engine_times.append(timed.seconds)
            read_times.append(took)
    return engine_times, read_times


def timed_ingest(folder: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    r = subprocess.run([str(DANGAN), "ingest", str(folder), "--quiet"], env=env, capture_output=True, text=True,
                       timeout=600)
    took = time.perf_counter() - started
    if r.returncode != 0 or "1 stored" not in r.stdout:
        raise RuntimeError(f"ingest failed ({r.returncode}): {r.stdout} {r.stderr}")
    return took


def cold(page: Path, work: Path, env: dict[str, str], reps: int) -> list[float]:
    return [timed_ingest(variant(page, work / "cold-in", 20_000 + n).parent, env) for n in range(reps)]


def warm(page: Path, work: Path, env: dict[str, str], reps: int) -> tuple[list[float], float]:
    """Per-repetition seconds with ``dangan worker`` running, and the seconds the worker took to be ready."""
    log = work / "worker.log"
    started = time.perf_counter()
    with open(log, "wb") as out:
        worker = subprocess.Popen([str(DANGAN), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        while b"ready in" not in log.read_bytes():
            if worker.poll() is not None:
                raise RuntimeError(f"the worker did not start: {log.read_text()}")
            time.sleep(0.1)
        ready = time.perf_counter() - started
        times = [timed_ingest(variant(page, work / "warm-in", 30_000 + n).parent, env) for n in range(reps)]
        if log.read_text().count("batch from pid") != reps:
            raise RuntimeError("not every batch went through the worker")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    return times, ready


def process_worker(page: Path, work: Path, env: dict[str, str], reps: int) -> list[float]:
    """Seconds from ``prefect deployment run`` to the completed run, on a process worker (one page each)."""
    from tests.prefect_stack import PrefectStack, run_id_from

    stack = PrefectStack(work / "stack")
    (work / "stack").mkdir(parents=True, exist_ok=True)
    inbox = work / "nightly-in"
    try:
        stack.start_server()
        for args in (("work-pool", "create", "dangan-scans", "--type", "process"),
                     ("deploy", "--prefect-file", "infra/prefect.yaml", "--all", "--no-prompt")):
            r = stack.cli(*args)
            if r.returncode:
                raise RuntimeError(r.stdout + r.stderr)
        dangan_env = {k: v for k, v in env.items() if k.startswith("DANGAN_")}
        stack.start_worker("dangan-scans", stack.env(**dangan_env, DANGAN_DROP_FOLDERS=str(inbox),
                                                     PREFECT_WORKER_QUERY_SECONDS="1",
                                                     PREFECT_WORKER_PREFETCH_SECONDS="1"), work / "pw.log")
        times = []
        for n in range(reps):
            variant(page, inbox, 40_000 + n)
            started = time.perf_counter()
            r = stack.cli("deployment", "run", "nightly-ingest/nightly-drop-folders")
            run = stack.wait_for_run(run_id_from(r.stdout), 600)
            times.append(time.perf_counter() - started)
            if run["state"]["type"] != "COMPLETED":
                raise RuntimeError(f"nightly run ended {run['state']}")
        for proc in stack.processes[::-1]:
            stack.stop(proc)
        return times
    finally:
        stack.kill_leftovers()


def _fmt(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="warm and bare repetitions (cold: max(2, reps // 2))")
    parser.add_argument("--engine", default="rapidocr", choices=["rapidocr", "tesseract"])
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "latency")
    parser.add_argument("--process-worker", action="store_true", help="also time the nightly deployment's path")
    args = parser.parse_args(argv)

    from storage.keys import create_key_file

    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    home = args.out / "home"
    home.mkdir(mode=0o700)
    create_key_file(home / "master.key")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DANGAN_"))}
    env.update({"DANGAN_HOME": str(home), "DANGAN_OCR_ENGINE": args.engine, "DANGAN_SETTLE_SECONDS": "0"})
    page = one_page(args.out, args.seed)
    with Image.open(page) as img:
        size, dpi = img.size, img.info.get("dpi", (0, 0))
    load_before = os.getloadavg()[0]

    engine_s, read_s = bare_engine(page, home, args.reps, args.engine)
    cold_s = cold(page, args.out, env, max(2, args.reps // 2))
    warm_s, ready_s = warm(page, args.out, env, args.reps)
    nightly_s = process_worker(page, args.out, env, max(2, args.reps // 2)) if args.process_worker else []

    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {_memory_gib()} GiB, {platform.machine()}, Python "
                   f"{platform.python_version()}",
        "engine": args.engine, "page": {"pixels": list(size), "dpi": [round(float(d)) for d in dpi]},
        "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
        "bare_engine_s": engine_s, "bare_read_s": read_s, "cold_s": cold_s, "warm_s": warm_s,
        "worker_ready_s": ready_s, "process_worker_s": nightly_s,
    }
    (args.out / "latency.json").write_text(json.dumps(result, indent=2))
    overhead = statistics.median(warm_s) - statistics.median(engine_s)
    print(f"machine: {result['machine']}; engine {args.engine}; page {size[0]}x{size[1]} px at {dpi[0]:.0f} dpi; "
          f"load average {load_before:.2f} before, {result['load_average_after']:.2f} after")
    print("| run | median s | runs (s) |")
    print("| --- | ---: | --- |")
    rows = [("bare engine: OCR engine's own time for the page", engine_s),
            ("bare engine: whole reading of the page in-process", read_s),
            ("`dangan ingest`, cold (temporary Prefect server)", cold_s),
            ("`dangan ingest`, warm (`dangan worker` running)", warm_s)]
    if nightly_s:
        rows.append(("nightly deployment run on a process worker", nightly_s))
    for name, values in rows:
        print(f"| {name} | {_fmt(values)} | {', '.join(f'{v:.2f}' for v in values)} |")
    print(f"warm minus the engine's own time: {overhead:.2f} s (goal: at most 3 s); the worker was ready after "
          f"{ready_s:.1f} s")
    return 0


def _memory_gib() -> int:
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        return round(kib / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
