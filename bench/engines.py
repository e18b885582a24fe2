"""PP-OCR model sets compared through the engine adapter: handwritten fields, whole pages, speed.

    .venv/bin/python -m bench.engines hand            # handwritten field crops, every model set
    .venv/bin/python -m bench.engines pages           # synthetic corpus pages, every model set
    .venv/bin/python -m bench.engines speed           # engine seconds per page, model sets in turn
    .venv/bin/python -m bench.engines table           # markdown tables from the result files
    .venv/bin/python -m bench.engines all             # the three in turn

* ``hand``: field values (names, dates, phones, ID numbers, unit numbers,
  amounts) written with ``tests/synth/handwriting.py`` at character heights of
  150, 200 and 300 dpi, read with ``recognize_crops``; exact match per kind
  and character error rate.
* ``pages``: the single-document corpus (``python -m tests.synth OUT --count
  30 --seed 23``) read page by page as ingest does (rasterise, preprocess with
  the engine's orientation, recognise) in a fresh process. Reported:
  share of truth values found verbatim in the text (recall proxy), field exact
  match after classification and extraction, seconds per page and pages/min
  for one engine on 1 and 2 ONNX threads and for two 1-thread engines on two
  threads of one process (as ingest runs), peak RSS of that process.

Results go to ``bench/out/engines/`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.accuracy import score
from ocr.engine_rapid import RapidOcrEngine
from ocr.pipeline import understand_document
from schemas.models import OcrPage

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out" / "engines"
MODEL_SETS = ["ppocr-v4", "ppocr-v5", "ppocr-v6-small", "ppocr-v6-tiny"]
KINDS = ["name", "date", "phone", "id_number", "unit", "amount"]
#: Scan resolutions the crops stand for; a handwritten character is about 5 mm tall on a form.
DPIS = (150, 200, 300)
CHAR_MM = 5.0
#: Fields whose truth values are too short to tell anything when found in the text.
SKIP_RECALL = {"building", "unit", "sex", "ethnicity"}


# --- handwritten field values ---


def field_value(kind: str, rng: random.Random) -> str:
    """A random value of one kind, written the way people fill in forms."""
    from tests.synth import fake

    if kind == "name":
        return fake.person_name(rng, rng.random() < 0.5)
    if kind == "date":
        d = fake.rand_date(rng, date(1990, 1, 1), date(2025, 12, 31))
        return rng.choice([f"{d.year}年{d.month}月{d.day}日", f"{d.year}.{d.month}.{d.day}", f"{d:%Y-%m-%d}"])
    if kind == "phone":
        return fake.phone_number(rng)
    if kind == "id_number":
        birth = fake.rand_date(rng, date(1950, 1, 1), date(2005, 12, 31))
        return fake.make_id_number(rng, rng.choice(["110101", "330106", "440304", "510104"]), birth, rng.random() < 0.5)
    if kind == "unit":
        u = fake.make_unit(rng)
        return rng.choice([f"{u.building}栋{u.unit}单元{u.room}", f"{u.building}-{u.unit}-{u.room}",
                           f"{u.building}号楼{u.unit}单元{u.room}室"])
    if kind == "amount":
        n = rng.choice([rng.randint(500, 9999), rng.randint(10_000, 9_000_000)])
        return rng.choice([str(n), f"{n}元", f"{n}.00"])
    raise ValueError(kind)


@dataclass(frozen=True)
class Crop:
    """One handwritten field value and its image."""

    kind: str
    dpi: int
    text: str
    holdout: bool
    image: np.ndarray


def handwritten_crops(per_cell: int, seed: int) -> list[Crop]:
    """``per_cell`` crops per kind and resolution; every fifth by a held-out hand."""
    from tests.synth.handwriting import render_handwriting

    rng = random.Random(seed)
    crops = []
    for kind in KINDS:
        for dpi in DPIS:
            for n in range(per_cell):
                text = field_value(kind, rng)
                holdout = n % 5 == 4
                height = round(CHAR_MM * dpi / 25.4)
                image = render_handwriting(text, height_px=height, seed=rng.randrange(1 << 30),
                                           holdout=holdout)
                crops.append(Crop(kind, dpi, text, holdout, cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)))
    return crops


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def run_hand(models: Sequence[str], per_cell: int, seed: int) -> dict[str, Any]:
    """Read every crop with every model set (1 ONNX thread); exact match and CER per kind."""
    crops = handwritten_crops(per_cell, seed)
    print(f"{len(crops)} handwritten crops", file=sys.stderr)
    results: dict[str, Any] = {"crops": len(crops), "per_cell": per_cell, "seed": seed, "models": {}}
    for name in models:
        engine = RapidOcrEngine(models=name, threads=1)
        engine.recognize_crops([c.image for c in crops[:: len(crops) // 6 or 1]])  # warm-up, untimed
        start = time.perf_counter()
        words = engine.recognize_crops([c.image for c in crops])
        seconds = time.perf_counter() - start
        cells: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # right, total, edits, chars
        misses = []
        for crop, word in zip(crops, words, strict=True):
            got = word.text.replace(" ", "")
            edits = edit_distance(got, crop.text)
            keys = [crop.kind, f"dpi{crop.dpi}", "holdout" if crop.holdout else "ordinary", "all"]
            for key in keys:
                cell = cells[key]
                cell[0] += got == crop.text
                cell[1] += 1
                cell[2] += edits
                cell[3] += len(crop.text)
            if got != crop.text and len(misses) < 12:
                misses.append(f"{crop.kind}@{crop.dpi}: {crop.text} -> {got}")
        results["models"][name] = {
            "ms_per_crop": 1000 * seconds / len(crops),
            "exact": {k: v[0] / v[1] for k, v in cells.items()},
            "cer": {k: v[2] / v[3] for k, v in cells.items()},
            "misses": misses,
        }
        print(f"{name}: {100 * cells['all'][0] / cells['all'][1]:.1f}% exact, "
              f"CER {100 * cells['all'][2] / cells['all'][3]:.2f}%, {1000 * seconds / len(crops):.0f} ms/crop",
              file=sys.stderr)
    return results


# --- whole pages ---


def _reader(models: str, workers: int, threads: int, files: list[str], results: Any) -> None:
    """One ingest process as production runs it: ``workers`` threads, each with its own engine.

    Sends the OCR pages and time of every file, the wall time after the
    engines were built, and the process's peak RSS.
    """
    from ocr.load import preflight
    from ocr.pipeline import read_document
    from schemas.settings import Settings

    settings = Settings()
    engines: queue.Queue[RapidOcrEngine] = queue.Queue()
    for _ in range(workers):
        engines.put(RapidOcrEngine(models=models, threads=threads))

    def read(path: str, workdir: Path) -> dict[str, Any]:
        engine = engines.get()
        try:
            start = time.perf_counter()
            pages = read_document(preflight(Path(path), settings), engine=engine, settings=settings, workdir=workdir)
            return {"file": Path(path).name, "seconds": time.perf_counter() - start, "pages": pages}
        finally:
            engines.put(engine)

    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp, ThreadPoolExecutor(workers) as pool:
        start, cpu = time.perf_counter(), time.process_time()
        docs = list(pool.map(lambda f: read(f, Path(tmp)), files))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    results.put({"docs": docs, "wall": wall, "cpu": cpu,
                 "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def read_corpus(files: Sequence[Path], models: str, *, workers: int, threads: int) -> dict[str, Any]:
    """Read the files in a fresh process with ``workers`` engines of ``threads`` ONNX threads."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    order = [str(f) for f in sorted(files, key=lambda p: -p.stat().st_size)]  # big files first: threads end together
    proc = ctx.Process(target=_reader, args=(models, workers, threads, order, results))
    proc.start()
    out = results.get()
    proc.join()
    docs = {d["file"]: d for d in out["docs"]}
    pages = sum(len(d["pages"]) for d in docs.values())
    return {"docs": docs, "pages": pages, "wall": out["wall"], "rss_mb": out["rss_mb"],
            "pages_per_min": 60 * pages / out["wall"], "s_per_page": sum(d["seconds"] for d in docs.values()) / pages,
            "cpu_s_per_page": out["cpu"] / pages}


def _variants(key: str, value: str) -> list[str]:
    """Ways a truth value may be printed (dates and amounts have several)."""
    out = [value]
    if len(value) == 10 and value[4] == "-" and value[7] == "-":
        y, m, d = value.split("-")
        out += [f"{y}年{int(m)}月{int(d)}日", f"{y}年{m}月{d}日", f"{y}.{m}.{d}", f"{y}/{m}/{d}"]
    if value.isdigit() and key not in {"phone", "emergency_phone"} and len(value) > 3:
        out.append(f"{int(value):,}")
    return out


def recall_proxy(truth: Sequence[dict[str, Any]], docs: dict[str, Any]) -> dict[str, Any]:
    """Truth values found verbatim (in one of their printed forms) in their document's text.

    Counted over all fields (``found``/``total``) and over the handwritten
    ones the hard corpus marks (``hw_found``/``hw_total``).
    """
    tally = dict.fromkeys(("found", "total", "hw_found", "hw_total"), 0)
    misses = []
    for t in truth:
        pages: list[OcrPage] = docs[t["file"]]["pages"]
        # Lines joined: an address or a company name may wrap onto the next line.
        text = "".join(line.text for p in pages for line in p.lines).replace(" ", "")
        for key, value in t["fields"].items():
            if key in SKIP_RECALL or len(value) < 2:
                continue
            hit = any(v in text or v in text.replace("-", "") for v in _variants(key, value))
            handwritten = "handwritten" in t.get("field_conditions", {}).get(key, ())
            tally["total"] += 1
            tally["found"] += hit
            tally["hw_total"] += handwritten
            tally["hw_found"] += hit and handwritten
            if not hit and len(misses) < 10:
                misses.append(f"{t['file']} {key}={value}{' (handwritten)' if handwritten else ''}")
    return {**tally, "recall_misses": misses}


def ensure_corpus(out: Path, count: int, seed: int, *, hard: bool = False) -> Path:
    """The synthetic single-document corpus (or the hard one, one document per file), generated once."""
    corpus = out / f"{'hard' if hard else 'corpus'}-{count}-{seed}"
    extra = ["--hard", "--folders", "0", "--workers", "1"] if hard else []
    if not (corpus / "truth.jsonl").exists():
        subprocess.run([sys.executable, "-m", "tests.synth", str(corpus), "--count", str(count), "--seed", str(seed),
                        *extra], check=True, cwd=REPO, timeout=1800)
    return corpus


MODES = {"1x1": (1, 1), "1x2": (1, 2), "2x1": (2, 1)}  # engines (threads of one process) x ONNX threads


def run_pages(models: Sequence[str], count: int, seed: int, modes: Sequence[str], *, hard: bool = False
              ) -> dict[str, Any]:
    """Read the corpus with every model set in every mode; accuracy from the first mode."""
    corpus = ensure_corpus(OUT, count, seed, hard=hard)
    truth = [json.loads(line) for line in (corpus / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    files = [corpus / t["file"] for t in truth]
    results: dict[str, Any] = {"count": count, "seed": seed, "hard": hard, "models": {}}
    for name in models:
        entry: dict[str, Any] = {}
        for mode in modes:
            workers, threads = MODES[mode]
            run = read_corpus(files, name, workers=workers, threads=threads)
            entry[mode] = {k: run[k] for k in ("pages", "wall", "rss_mb", "pages_per_min", "s_per_page",
                                               "cpu_s_per_page")}
            entry[mode]["load_avg_1min"] = os.getloadavg()[0]  # others' jobs on the machine skew the times
            print(f"{name} {mode}: {run['pages_per_min']:.1f} pages/min, {run['s_per_page']:.2f} s/page, "
                  f"{run['cpu_s_per_page']:.2f} CPU s/page, {run['rss_mb']:.0f} MB, "
                  f"load {entry[mode]['load_avg_1min']:.1f}", file=sys.stderr)
            if "found" not in entry:
                recall = recall_proxy(truth, run["docs"])
                extracted = {
                    f: {"doc_type": str((e := understand_document(d["pages"])).doc_type),
                        "fields": {k: v.value for k, v in e.fields.items()}}
                    for f, d in run["docs"].items()
                }
                s = score(truth, extracted)
                entry.update(recall, fields_right=s.fields.right, fields_total=s.fields.total,
                             field_errors=s.errors[:10], classified=s.classification.rate)
                hw = f", handwritten {recall['hw_found']}/{recall['hw_total']}" if recall["hw_total"] else ""
                print(f"  recall {recall['found']}/{recall['total']}{hw}, fields {s.fields.cell()}", file=sys.stderr)
        results["models"][name] = entry
    return results


# --- interleaved speed ---


def run_speed(models: Sequence[str], count: int, seed: int, threads: int) -> dict[str, Any]:
    """Seconds per page of each model set, measured page by page in turn so all see the same machine load.

    Each page is rasterised once; then every engine (in rotating order)
    preprocesses it (its orientation detection included) and recognises it.
    Wall and CPU seconds of that work are summed per engine.
    """
    from ocr.load import preflight, rasterise
    from ocr.preprocess import preprocess
    from schemas.settings import Settings

    corpus = ensure_corpus(OUT, count, seed)
    files = sorted(p for p in corpus.iterdir() if p.name != "truth.jsonl")
    settings = Settings()
    engines = {m: RapidOcrEngine(models=m, threads=threads) for m in models}
    wall, cpu = dict.fromkeys(models, 0.0), dict.fromkeys(models, 0.0)
    pages = 0
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        for path in files:
            for raw in rasterise(preflight(path, settings), settings, Path(tmp)):
                turn = pages % len(models)
                for name in [*models[turn:], *models[:turn]]:
                    t0, c0 = time.perf_counter(), time.process_time()
                    engines[name].recognize(preprocess(raw, engine=engines[name]))
                    wall[name] += time.perf_counter() - t0
                    cpu[name] += time.process_time() - c0
                pages += 1
    out = {m: {"s_per_page": wall[m] / pages, "cpu_s_per_page": cpu[m] / pages} for m in models}
    for m, v in out.items():
        print(f"{m} {threads} thread(s): {v['s_per_page']:.2f} s/page, {v['cpu_s_per_page']:.2f} CPU s/page",
              file=sys.stderr)
    return {"count": count, "seed": seed, "threads": threads, "pages": pages, "load_avg_1min": os.getloadavg()[0],
            "models": out}


# --- table ---


def _pct(right: float | None, total: float | None = 1) -> str:
    return "-" if right is None or not total else f"{100 * right / total:.1f}"


def _parts(name: str) -> tuple[str, str]:
    """Detector and recogniser columns of a model set name."""
    from ocr.ppocr_models import model_set

    ms = model_set(name)
    return ms.det.name, ms.rec.name + (f", re-read by {ms.reread.name}" if ms.reread else "")


def _hand_key(name: str) -> str:
    """The handwriting result that applies: crops skip detection, so only the recognisers count."""
    from ocr.ppocr_models import model_set

    ms = model_set(name)
    return ms.rec.name + (f">{ms.reread.name}" if ms.reread else "")


def table(results: dict[str, dict[str, Any]]) -> str:
    """The comparison tables (markdown): accuracy and throughput per model set, then speed details."""
    hand, pages, hard = (results.get(k, {}).get("models", {}) for k in ("hand", "pages", "hard"))
    speed = {1: results.get("speed-1", {}).get("models", {})}
    names = list(dict.fromkeys([*pages, *hard, *speed[1]]))
    out = ["| model set | det | rec | pages/min | peak RSS MB | " + " | ".join(f"hw {k} %" for k in KINDS)
           + " | hw all % (CER %) | printed-field recall % | fields exact % | hard: handwritten-field recall % |",
           "| --- | --- | --- |" + " ---: |" * (len(KINDS) + 6)]
    for name in names:
        p, h, x = pages.get(name, {}), hand.get(_hand_key(name), {}), hard.get(name, {})
        ex = h.get("exact", {})
        rss = max((p[m]["rss_mb"] for m in MODES if m in p), default=None)
        out.append("| " + " | ".join([
            name, *_parts(name), f"{p['2x1']['pages_per_min']:.1f}" if "2x1" in p else "-",
            f"{rss:.0f}" if rss else "-", *(_pct(ex.get(k)) for k in KINDS),
            f"{_pct(ex.get('all'))} ({_pct(h.get('cer', {}).get('all'))})" if h else "-",
            _pct(p.get("found"), p.get("total")), _pct(p.get("fields_right"), p.get("fields_total")),
            _pct(x.get("hw_found"), x.get("hw_total")),
        ]) + " |")
    out += ["", "| model set | engine CPU s/page, 1 thread | engine s/page, 1 thread "
            "| read pages/min: 1 engine x 2 threads | 2 engines x 1 thread | hw ms/crop |",
            "| --- |" + " ---: |" * 5]
    for name in names:
        p, h, s1 = pages.get(name, {}), hand.get(_hand_key(name), {}), speed[1].get(name, {})
        out.append("| " + " | ".join([
            name, f"{s1['cpu_s_per_page']:.2f}" if s1 else "-", f"{s1['s_per_page']:.2f}" if s1 else "-",
            *(f"{p[m]['pages_per_min']:.1f} (load {p[m]['load_avg_1min']:.1f})" if m in p else "-"
              for m in ("1x2", "2x1")),
            f"{h['ms_per_crop']:.0f}" if h else "-",
        ]) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engines", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["hand", "pages", "speed", "table", "all"])
    parser.add_argument("--threads", type=int, default=1, help="speed: ONNX threads per engine")
    parser.add_argument("--hard", action="store_true", help="pages: the hard corpus (handwriting, seals, grids)")
    parser.add_argument("--models", default=",".join(MODEL_SETS), help="comma-separated model sets")
    parser.add_argument("--per-cell", type=int, default=20, help="handwritten crops per kind and dpi")
    parser.add_argument("--hand-seed", type=int, default=5)
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--modes", default="1x1,1x2,2x1", help="workers x threads, e.g. 1x1,2x1")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    models = [m for m in args.models.split(",") if m]
    hand_file, pages_file = OUT / "hand.json", OUT / ("hard.json" if args.hard else "pages.json")
    if args.what in ("hand", "all"):
        _merge(hand_file, run_hand(models, args.per_cell, args.hand_seed))
    if args.what in ("pages", "all"):
        modes = [m for m in args.modes.split(",") if m]
        _merge(pages_file, run_pages(models, args.count, args.seed, modes, hard=args.hard))
    if args.what == "speed":
        result = run_speed(models, args.count, args.seed, args.threads)
        (OUT / f"speed-{args.threads}.json").write_text(json.dumps(result, indent=1))
    results = {f.stem: json.loads(f.read_text()) for f in OUT.glob("*.json")}
    print(table(results))
    return 0


def _merge(path: Path, new: dict[str, Any]) -> None:
    """Write results, keeping model sets measured by earlier runs with the same corpus."""
    old = json.loads(path.read_text()) if path.exists() else {}
    same = all(old.get(k) == new.get(k) for k in new if k != "models")
    models = dict(old.get("models", {})) if same else {}
    for name, entry in new["models"].items():
        kept = models.get(name, {})
        # A timed mode measured again keeps its faster run: other jobs on the machine only ever slow it down.
        faster = {m: kept[m] for m in MODES if m in kept and m in entry
                  and kept[m]["pages_per_min"] > entry[m]["pages_per_min"]}
        models[name] = {**kept, **entry, **faster}
    path.write_text(json.dumps({**new, "models": models}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    sys.exit(main())
