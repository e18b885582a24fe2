"""Ingest benchmark: field accuracy, classification, pages per minute and peak memory.

Generates a degraded synthetic corpus, then, in the same run:
  * ``dangan ingest`` with each OCR engine (whole pipeline: preflight, OCR,
    extraction, encryption, storage, index), fields read back by ``dangan export --reveal``;
  * the baseline ``ocrmypdf -l chi_sim+eng --rotate-pages --deskew --jobs 2``
    per file, its sidecar text put through the same classifier and extractor.

    .venv/bin/python -m bench.run --count 120 --seed 11 --out bench/out
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from PIL import Image

from bench.accuracy import Score, score
from ocr.pipeline import understand_document
from schemas.models import OcrLine, OcrPage

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


@dataclass
class Run:
    """One measured run."""

    name: str
    seconds: float
    pages: int
    peak_rss_mb: float
    score: Score
    failures: int = 0

    @property
    def pages_per_minute(self) -> float:
        return 60 * self.pages / self.seconds if self.seconds else 0.0


class PeakRss:
    """Polls the summed RSS of a process tree."""

    def __init__(self, pid: int) -> None:
        self.peak = 0
        self._proc = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self._proc, *self._proc.children(recursive=True)]
                self.peak = max(self.peak, sum(_rss(p) for p in procs))
            except psutil.Error:
                pass
            self._stop.wait(0.1)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def _rss(p: psutil.Process) -> int:
    try:
        return p.memory_info().rss
    except psutil.Error:
        return 0


def measured(cmd: list[str], env: dict[str, str], timeout: float, *,
             log: Path | None = None) -> tuple[float, float, int]:
    """Run ``cmd``; returns (seconds, peak MB of the process tree, exit code).

    Standard error goes to ``log`` when given, else its tail is echoed on failure.
    """
    start = time.perf_counter()
    with open(log, "wb") if log else contextlib.nullcontext() as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=sink or subprocess.PIPE)
        rss = PeakRss(proc.pid)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            _, err = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode and err:
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    return seconds, rss.stop(), proc.returncode


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Stop a timed-out command and its children (a helper server would outlive it otherwise)."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        children = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    proc.kill()


def truth_lines(corpus: Path) -> list[dict]:
    return [json.loads(line) for line in (corpus / "truth.jsonl").read_text(encoding="utf-8").splitlines() if line]


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.iterdir() if p.is_file() and p.name != "truth.jsonl")


def init_archive(env: dict[str, str]) -> None:
    """First-time setup of a fresh home: ``dangan keys init`` makes its master key."""
    subprocess.run([str(VENV_BIN / "dangan"), "keys", "init"], env=env, check=True, timeout=120,
                   capture_output=True)


def run_dangan(engine: str, corpus: Path, work: Path, truth: list[dict]) -> Run:
    inbox = work / "inbox"
    shutil.rmtree(work, ignore_errors=True)
    inbox.mkdir(parents=True)
    for f in corpus_files(corpus):
        shutil.copy2(f, inbox / f.name)
    env = {**os.environ, "DANGAN_HOME": str(work / "home"), "DANGAN_OCR_ENGINE": engine}
    env.pop("DANGAN_MASTER_KEY_FILE", None)
    env.pop("DANGAN_MASTER_KEY_COMMAND", None)
    init_archive(env)
    seconds, peak, code = measured([str(VENV_BIN / "dangan"), "ingest", str(inbox), "--keep", "--quiet"],
                                   env, timeout=4 * 3600)
    export = work / "export.jsonl"
    subprocess.run([str(VENV_BIN / "dangan"), "export", "--jsonl", str(export), "--reveal"], env=env,
                   check=True, timeout=600, capture_output=True)
    results = {}
    for line in export.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        results[doc["source_name"]] = doc
    pages = sum(t["pages"] for t in truth)
    return Run(f"dangan ({engine})", seconds, pages, peak, score(truth, results), failures=int(code != 0))


def _ocrmypdf_input(f: Path, tmp: Path) -> Path:
    """img2pdf (inside OCRmyPDF) takes PDF, TIFF, PNG, JPEG; others are converted first, untimed."""
    if f.suffix.lower() in {".pdf", ".tif", ".tiff", ".png", ".jpg", ".jpeg"}:
        return f
    out = tmp / (f.stem + ".png")
    with Image.open(f) as im:
        im.save(out, dpi=im.info.get("dpi", (300, 300)))
    return out


def sidecar_pages(text: str) -> list[OcrPage]:
    """OCRmyPDF's sidecar text as pages of lines (form feed between pages)."""
    pages = []
    for i, page_text in enumerate(text.split("\f")):
        lines = [ln.strip() for ln in page_text.splitlines() if ln.strip()]
        pages.append(OcrPage(index=i, engine="ocrmypdf", width=2480, height=3508, lines=tuple(
            OcrLine(text=ln, box=(0, 40 * n, 2000, 40 * n + 30), confidence=0.9) for n, ln in enumerate(lines))))
    return [p for p in pages if p.lines] or pages[:1]


def run_ocrmypdf(corpus: Path, work: Path, truth: list[dict]) -> Run:
    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    inputs = [(f.name, _ocrmypdf_input(f, work / "in")) for f in corpus_files(corpus)]
    results, failures, total, peak = {}, 0, 0.0, 0.0
    for name, src in inputs:
        side = work / f"{name}.txt"
        cmd = [str(VENV_BIN / "ocrmypdf"), "-q", "-l", "chi_sim+eng", "--rotate-pages", "--deskew", "--jobs", "2",
               "--sidecar", str(side), str(src), str(work / f"{name}.pdf")]
        if src.suffix.lower() != ".pdf":
            cmd[1:1] = ["--image-dpi", "300"]
        seconds, rss, code = measured(cmd, dict(os.environ), timeout=1800)
        total += seconds
        peak = max(peak, rss)
        if code or not side.exists():
            failures += 1
            continue
        extraction = understand_document(sidecar_pages(side.read_text(encoding="utf-8")))
        results[name] = {"doc_type": extraction.doc_type,
                         "fields": {k: v.value for k, v in extraction.fields.items()}}
    pages = sum(t["pages"] for t in truth)
    return Run("OCRmyPDF baseline", total, pages, peak, score(truth, results), failures=failures)


def report(runs: list[Run], args: argparse.Namespace, truth: list[dict]) -> str:
    out = [f"Corpus: {len(truth)} documents, {sum(t['pages'] for t in truth)} pages, seed {args.seed} "
           f"(`python -m bench.run --count {args.count} --seed {args.seed}`).", "",
           "| run | pages/min | wall s | peak RSS MB | field exact match | classification | failed files |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in runs:
        out.append(f"| {r.name} | {r.pages_per_minute:.1f} | {r.seconds:.0f} | {r.peak_rss_mb:.0f} | "
                   f"{r.score.fields.cell()} | {r.score.classification.cell()} | {r.failures} |")
    doc_types = sorted({t["doc_type"] for t in truth})
    out += ["", "Per document type (fields exact match; classification):", "",
            "| doc_type | " + " | ".join(r.name for r in runs) + " |", "| --- |" + " ---: |" * len(runs)]
    for dt in doc_types:
        cells = [f"{r.score.by_type[dt].cell()}; {r.score.type_right[dt].cell()}" for r in runs]
        out.append(f"| {dt} | " + " | ".join(cells) + " |")
    names = sorted({k for t in truth for k in t["fields"]})
    out += ["", "Per field (exact match):", "", "| field | " + " | ".join(r.name for r in runs) + " |",
            "| --- |" + " ---: |" * len(runs)]
    for n in names:
        out.append(f"| {n} | " + " | ".join(r.score.by_field[n].cell() for r in runs) + " |")
    for r in runs:
        if r.score.errors:
            out += ["", f"First misses of {r.name}:", "", *[f"- {e}" for e in r.score.errors[:15]]]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--engines", default="rapidocr,tesseract")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    from tests.synth import generate_corpus

    corpus = args.out / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    generate_corpus(corpus, args.count, seed=args.seed)
    truth = truth_lines(corpus)
    runs = [run_dangan(e, corpus, args.out / f"dangan-{e}", truth) for e in args.engines.split(",") if e]
    if not args.no_baseline:
        runs.append(run_ocrmypdf(corpus, args.out / "ocrmypdf", truth))
    text = report(runs, args, truth)
    (args.out / "report.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
