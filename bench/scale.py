"""Throughput on a 300-page cabinet batch: the bare OCR engine, ``dangan ingest``, a Dask cluster of 1 and 2 workers.

One run, one batch, on this machine (each measurement alone on it):

* bare engine: PP-OCR's ``recognize`` on every page of the batch, already
  rasterised (rasterising is not counted), in the engine's best arrangement
  on this machine: one engine using every core, or one single-threaded
  engine per core reading pages side by side. Only the engine works here: no
  clean-up, no sheets, no fields, no storing.
* ``dangan ingest``: the whole command on the batch folder (Prefect's
  temporary server, preflight, rasterising, clean-up, OCR, splitting,
  fields, encryption, index), with its default settings (pages of a file in
  parallel, one single-threaded engine per core) and with one engine using
  every core; peak memory of the command's process tree.
* Dask: the same batch through a LocalCluster of 1 and of 2 single-threaded
  worker processes (``bench.cluster``), peak memory per worker.

The batch: cabinet files (one long PDF each, 200 dpi) of owner folders behind
cover sheets, documents of several types, some blank backs of duplex scans.

    .venv/bin/python -m bench.scale --pages 300
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DANGAN = Path(sys.executable).parent / "dangan"
DPI = 200
#: Pages per cabinet file (the last file takes what is left).
FILE_PAGES = 50


def make_batch(folder: Path, pages: int, seed: int) -> dict[str, int]:
    """Write a cabinet batch of ``pages`` pages into ``folder``; the count of each kind of page."""
    import numpy as np
    from PIL import Image

    from ocr.coversheet_print import render_cover_sheet, sheet_for_unit
    from schemas.documents import DocType
    from tests.synth.hard.scan import blank_back
    from tests.synth.render import FontBook, render_document
    from tests.synth.templates import make_document, make_household

    kinds = (DocType.OWNER_REGISTRATION, DocType.MOVE_IN_NOTICE, DocType.FIRE_SAFETY_AGREEMENT,
             DocType.HANDOVER_FORM, DocType.COMMITMENT_LETTER, DocType.ID_CARD)
    fonts = FontBook()
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {"content": 0, "sheet": 0, "blank": 0}
    file_no = 0
    while sum(counts.values()) < pages:
        file_no += 1
        images: list[Image.Image] = []
        room = min(FILE_PAGES, pages - sum(counts.values()))
        while len(images) < room:
            hh = make_household(rng)
            unit = f"{hh.unit.building}-{hh.unit.unit}-{hh.unit.room}"
            images.append(render_cover_sheet(sheet_for_unit(unit, batch="BENCH"), DPI).convert("RGB"))
            counts["sheet"] += 1
            for doc_type in rng.sample(kinds, 4):
                if len(images) >= room:
                    break
                page = render_document(make_document(doc_type, random.Random(rng.random()), hh), DPI,
                                       fonts)[0].convert("RGB")
                images.append(page)
                counts["content"] += 1
                if len(images) < room and rng.random() < 0.15:
                    gray = np.asarray(page.convert("L"))
                    images.append(Image.fromarray(blank_back(gray, gray.shape, noise)).convert("RGB"))
                    counts["blank"] += 1
        images[0].save(folder / f"cabinet-{file_no:02d}.pdf", save_all=True, append_images=images[1:],
                       resolution=DPI)
    return counts


def rasterised(folder: Path, home: Path) -> list[Any]:
    """Every page of the batch as the ingest rasterises it (PageImage), in order."""
    from ocr.load import preflight, rasterise
    from schemas.settings import Settings

    settings = Settings(home=home, settle_seconds=0)
    pages = []
    for path in sorted(folder.glob("*.pdf")):
        work = home / "raster"
        work.mkdir(parents=True, exist_ok=True)
        pages.extend(rasterise(preflight(path, settings), settings, work))
    return pages


def bare_engine(pages: Sequence[Any], engines: int, threads: int) -> float:
    """Seconds for ``engines`` PP-OCR engines of ``threads`` threads each to recognise every page."""
    from ocr.engine_factory import limit_opencv_threads
    from ocr.engine_rapid import RapidOcrEngine

    limit_opencv_threads(threads)
    pool = [RapidOcrEngine(threads=threads) for _ in range(engines)]
    free = list(pool)
    guard = threading.Lock()

    def read(page: Any) -> None:
        with guard:
            engine = free.pop()
        try:
            engine.recognize(page)
        finally:
            with guard:
                free.append(engine)

    pool[0].recognize(pages[0])  # first call pays for lazy set-up
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=engines) as ex:
        list(ex.map(read, pages))
    return time.perf_counter() - started


def timed_ingest(folder: Path, env: dict[str, str]) -> tuple[float, int, str]:
    """Seconds of ``dangan ingest FOLDER``, peak RSS of its process tree (bytes), and its summary line."""
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen([str(DANGAN), "ingest", str(folder), "--quiet"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak = _watch_peak(proc.pid, lambda: proc.poll() is not None, psutil)
    out, err = proc.communicate()
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"ingest failed ({proc.returncode}): {out} {err}")
    return took, peak, out.strip().splitlines()[0] if out.strip() else ""


def _watch_peak(pid: int, done: Callable[[], bool], psutil: Any) -> int:
    """Largest summed RSS of ``pid`` and its children, sampled every 0.2 s until ``done()``."""
    peak = 0
    while not done():
        try:
            root = psutil.Process(pid)
            total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
            peak = max(peak, total)
        except psutil.Error:
            pass
        time.sleep(0.2)
    return peak


def fresh_home(base: Path, name: str) -> Path:
    """An empty archive home with a master key."""
    from storage.keys import create_key_file

    home = base / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True, mode=0o700)
    create_key_file(home / "master.key")
    return home


def copy_batch(batch: Path, to: Path) -> Path:
    """A copy of the batch folder (an ingest moves its files to done/)."""
    shutil.rmtree(to, ignore_errors=True)
    shutil.copytree(batch, to)
    return to


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--seed", type=int, default=300)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "scale")
    parser.add_argument("--skip", nargs="*", default=[], choices=["bare", "ingest", "dask"])
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    batch = args.out / "batch"
    if not batch.exists():
        counts = make_batch(batch, args.pages, args.seed)
        (args.out / "batch.json").write_text(json.dumps(counts))
    counts = json.loads((args.out / "batch.json").read_text())
    cores = os.cpu_count() or 1
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DANGAN_"))}
    result: dict[str, Any] = {
        "machine": f"{cores} cores, {_memory_gib()} GiB, {platform.machine()}, Python {platform.python_version()}",
        "batch": counts, "pages": sum(counts.values()), "load_average_before": round(os.getloadavg()[0], 2),
    }
    pages = result["pages"]

    def per_min(seconds: float) -> float:
        return round(pages / seconds * 60, 1)

    if "bare" not in args.skip:
        images = rasterised(batch, args.out / "raster-home")
        result["bare"] = {}
        for engines, threads in ((1, cores), (cores, 1)):
            took = bare_engine(images, engines, threads)
            result["bare"][f"{engines}x{threads}"] = {"seconds": round(took, 1), "pages_per_min": per_min(took)}
            print(f"bare engine {engines} engine(s) x {threads} thread(s): {took:.1f} s, {per_min(took)} pages/min",
                  flush=True)
        del images
    if "ingest" not in args.skip:
        result["ingest"] = {}
        for workers in (cores, 1):
            home = fresh_home(args.out, f"home-ingest-{workers}")
            env = {**base_env, "DANGAN_HOME": str(home), "DANGAN_SETTLE_SECONDS": "0",
                   "DANGAN_WORKERS": str(workers)}
            took, peak, line = timed_ingest(copy_batch(batch, args.out / f"in-{workers}"), env)
            result["ingest"][f"workers={workers}"] = {"seconds": round(took, 1), "pages_per_min": per_min(took),
                                                      "peak_rss_mib": round(peak / 2**20), "summary": line}
            print(f"dangan ingest, DANGAN_WORKERS={workers}: {took:.1f} s, {per_min(took)} pages/min, "
                  f"peak {peak / 2**20:.0f} MiB; {line}", flush=True)
    if "dask" not in args.skip:
        from bench.cluster import run_cluster_batch

        result["dask"] = {}
        for workers in (1, 2):
            home = fresh_home(args.out, f"home-dask-{workers}")
            env = {**base_env, "DANGAN_HOME": str(home), "DANGAN_SETTLE_SECONDS": "0"}
            folder = copy_batch(batch, args.out / f"dask-in-{workers}")
            got = run_cluster_batch(sorted(folder.glob("*.pdf")), workers, env)
            result["dask"][str(workers)] = got
            print(f"dask LocalCluster, {workers} single-threaded worker(s): {json.dumps(got)}", flush=True)
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    (args.out / "scale.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def _memory_gib() -> int:
    try:
        with open("/proc/meminfo") as f:
            return round(int(f.readline().split()[1]) / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
