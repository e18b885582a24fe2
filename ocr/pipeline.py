"""The reading half of ingest: source file -> upright pages -> OCR -> fields.

Plain functions; ``flows/ingest.py`` wraps them in Prefect tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ocr.agree import agree_seals, agree_within, settle_household
from ocr.classify import classify
from ocr.engines import OcrEngine
from ocr.extract import PARSERS, extract, finish_fields
from ocr.load import rasterise
from ocr.marks import add_margin_text, clean_page, read_overlays, read_seals
from ocr.preprocess import preprocess
from ocr.reread import PageStore, Reader, reread_fields
from ocr.split import split_documents
from schemas.models import Extraction, OcrPage, PageImage, SourceFile
from schemas.settings import Settings


@dataclass(frozen=True)
class FileReading:
    """What reading one file gave: its pages as OCR saw them, and the documents found in them."""

    pages: list[OcrPage]
    documents: list[Extraction]


def read_file(source: SourceFile, *, engine: OcrEngine, settings: Settings, workdir: Path,
              rereaders: Sequence[Reader] = ()) -> FileReading:
    """Read a whole file: every page (one in memory at a time), then its documents and their fields.

    Doubtful fields are re-read from the page images by ``rereaders`` (the
    images are kept PNG-compressed in memory until the file is done).
    """
    store = PageStore()
    pages = read_document(source, engine=engine, settings=settings, workdir=workdir, store=store)
    return FileReading(pages, understand(pages, store=store, rereaders=rereaders))


def read_document(source: SourceFile, *, engine: OcrEngine, settings: Settings, workdir: Path,
                  store: PageStore | None = None) -> list[OcrPage]:
    """Rasterise, clean and OCR every page of ``source``, one page in memory at a time (kept in ``store``)."""
    pages: list[OcrPage] = []
    for raw in rasterise(source, settings, workdir):
        page = preprocess(raw, engine=engine)
        if store is not None:
            store.put(page)
        pages.append(read_page(page, engine=engine))
    return pages


def read_page(page: PageImage, *, engine: OcrEngine) -> OcrPage:
    """OCR one preprocessed page: its text, the text of its seals, its table cells, its page number."""
    if page.blank:
        return _blank_page(page.index, engine.name, page)
    read = engine.recognize(page)
    read = read.model_copy(update={"dpi": page.dpi, "cells": page.cells, "seals": read_seals(page, engine)})
    return clean_page(add_margin_text(read_overlays(read, page, engine), page, engine))


def understand(pages: Sequence[OcrPage], *, store: PageStore | None = None,
               rereaders: Sequence[Reader] = ()) -> list[Extraction]:
    """Split a file's pages into documents and read each: type, fields, re-reads, cross-checks, confidence.

    Doubtful fields are re-read from ``store`` by ``rereaders``; the documents
    are then checked against each other (the same person must read the same).
    """
    by_index = {p.index: p for p in pages}
    documents = []
    for indices in split_documents(pages):
        doc_pages = [by_index[i] for i in indices]
        doc_type, confidence = classify(doc_pages)
        raw = extract(doc_type, doc_pages, doc_type_confidence=confidence, finish=False)
        if store is not None and rereaders:
            raw = reread_fields(raw, store, rereaders, PARSERS)
        documents.append(raw)
    documents = settle_household(agree_seals(documents, pages)) if len(documents) > 1 else \
        agree_seals(documents, pages)
    return [finish_fields(d) for d in agree_within(documents)]


def understand_document(pages: Sequence[OcrPage]) -> Extraction:
    """Classify one document and extract the fields of its type (no splitting, no re-reading)."""
    doc_type, confidence = classify(pages)
    return extract(doc_type, pages, doc_type_confidence=confidence)


def _blank_page(index: int, engine_name: str, page: PageImage) -> OcrPage:
    height, width = page.image.shape[:2]
    return OcrPage(
        index=index, engine=engine_name, width=width, height=height,
        rotation=page.rotation, skew=page.skew, blank=True, dpi=page.dpi,
    )
