"""Reader development loop: OCR a corpus once, then re-run splitting, classification and extraction fast.

    .venv/bin/python -m bench.devloop ocr  bench/out/hard-dev          # read every page once (cached)
    .venv/bin/python -m bench.devloop eval bench/out/hard-dev [--show 40]

The OCR result of each file is cached beside the corpus (``.ocr/<file>.json``);
``eval`` reads only the cache, so a change to ocr/split.py, ocr/classify.py or
ocr/extract.py is measured in seconds. The full pipeline is measured by
``bench.hard`` through the real ``dangan ingest``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.score import HardScore, load_truth, score_hard
from ocr.engine_factory import make_engine
from ocr.engines import OcrEngine
from ocr.load import preflight
from ocr.pipeline import read_document, understand
from ocr.reread import PageStore
from schemas.models import Extraction, OcrPage
from schemas.settings import Settings

_ENGINE = None


def _engine(engine: str, settings: Settings) -> OcrEngine:
    """``rapidocr``, ``tesseract``, or ``rapidocr:MODELS`` (a PP-OCR model set, e.g. rapidocr:ppocr-v6-small)."""
    name, _, models = engine.partition(":")
    if models:
        from ocr.engine_rapid import RapidOcrEngine

        return RapidOcrEngine(models=models, threads=1)
    return make_engine(name, settings)  # type: ignore[arg-type]


def _read(path: str, cache: str, engine: str) -> str:
    global _ENGINE
    settings = Settings(workers=2)  # type: ignore[call-arg]
    if _ENGINE is None:
        _ENGINE = _engine(engine, settings)
    source = preflight(Path(path), settings)
    store = PageStore()
    with tempfile.TemporaryDirectory() as tmp:
        pages = read_document(source, engine=_ENGINE, settings=settings, workdir=Path(tmp), store=store)
    Path(cache).write_text(json.dumps([p.model_dump(mode="json") for p in pages], ensure_ascii=False),
                           encoding="utf-8")
    images = Path(cache[: -len(".json")] + ".pages")
    images.mkdir(exist_ok=True)
    for index, png in store._png.items():
        (images / f"{index}.png").write_bytes(png)
    return path


def ocr(corpus: Path, engine: str, workers: int, force: bool) -> None:
    """Read every file of the corpus into the cache."""
    cache = corpus / ".ocr"
    cache.mkdir(exist_ok=True)
    files = sorted({t["file"] for t in load_truth(corpus)})
    todo = [(str(corpus / f), str(cache / f"{f}.json")) for f in files
            if force or not (cache / f"{f}.json").exists()]
    with ProcessPoolExecutor(workers) as pool:
        for n, done in enumerate(pool.map(_read, *zip(*todo, strict=True), [engine] * len(todo)), 1):
            print(f"[{n}/{len(todo)}] {Path(done).name}", file=sys.stderr)


def read_cache(corpus: Path, *, legacy_stamps: bool = True) -> dict[str, tuple[list[OcrPage], PageStore]]:
    """Cached OCR pages and page images per file name."""
    out = {}
    for path in sorted((corpus / ".ocr").glob("*.json")):
        pages = [OcrPage.model_validate(p) for p in json.loads(path.read_text(encoding="utf-8"))]
        if legacy_stamps:  # caches read before stamps stopped giving page numbers
            pages = [p.model_copy(update={"page_number": None}) if p.page_total is None else p for p in pages]
        store = PageStore()
        for png in path.with_suffix(".pages").glob("*.png"):
            store._png[int(png.stem)] = png.read_bytes()
        out[path.name[:-5]] = (pages, store)
    return out


def read_corpus(corpus: Path, engine: str = "rapidocr", reread: bool = True) -> list[tuple[str, Extraction]]:
    """Split, classify and extract every cached file: (file name, document) pairs."""
    settings = Settings(workers=2)  # type: ignore[call-arg]
    readers = [_engine(engine, settings).recognize_crops] if reread else []
    out = []
    for name, (pages, store) in read_cache(corpus).items():
        out += [(name, ex) for ex in understand(pages, store=store, rereaders=readers)]
    return out


def evaluate(corpus: Path, engine: str = "rapidocr", reread: bool = True) -> HardScore:
    """Split, classify and extract every cached file and score it against the truth."""
    return score_documents(corpus, read_corpus(corpus, engine, reread))


def score_documents(corpus: Path, documents: list[tuple[str, Extraction]]) -> HardScore:
    """Score (file name, document) pairs against the corpus truth."""
    results = [{
        "source_name": name, "first_page": ex.first_page, "page_indices": list(ex.page_indices),
        "doc_type": ex.doc_type, "fields": {k: v.value for k, v in ex.fields.items()},
        "confidence": {k: v.confidence for k, v in ex.fields.items()},
        "issues": {k: v.issue or "review" for k, v in ex.fields.items() if v.needs_review},
        "status": "needs_review" if ex.flagged_fields else "indexed",
    } for name, ex in documents]
    return score_hard(load_truth(corpus), results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["ocr", "eval"])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--engine", default="rapidocr")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--show", type=int, default=30)
    parser.add_argument("--no-reread", action="store_true")
    args = parser.parse_args()
    if args.step == "ocr":
        ocr(args.corpus, args.engine, args.workers, args.force)
        return
    result = evaluate(args.corpus, args.engine, not args.no_reread)
    print(result.summary())
    for line in result.misses[: args.show]:
        print(" ", line)


if __name__ == "__main__":
    main()
