"""The reading half of ingest: source file -> upright pages -> OCR -> fields.

Plain functions; ``flows/ingest.py`` wraps them in Prefect tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ocr.classify import classify
from ocr.engines import OcrEngine
from ocr.extract import extract
from ocr.load import rasterise
from ocr.preprocess import preprocess
from ocr.split import split_documents
from schemas.models import Extraction, OcrPage, PageImage, SourceFile
from schemas.settings import Settings


def read_document(source: SourceFile, *, engine: OcrEngine, settings: Settings, workdir: Path) -> list[OcrPage]:
    """Rasterise, clean and OCR every page of ``source``, one page in memory at a time."""
    pages: list[OcrPage] = []
    for raw in rasterise(source, settings, workdir):
        page = preprocess(raw, engine=engine)
        pages.append(_blank_page(page.index, engine.name, page) if page.blank else engine.recognize(page))
    return pages


def understand(pages: Sequence[OcrPage]) -> list[Extraction]:
    """Split a file's pages into documents, then classify each and extract the fields of its type."""
    by_index = {p.index: p for p in pages}
    documents = []
    for indices in split_documents(pages):
        doc_pages = [by_index[i] for i in indices]
        documents.append(understand_document(doc_pages))
    return documents


def understand_document(pages: Sequence[OcrPage]) -> Extraction:
    """Classify one document and extract the fields of its type."""
    doc_type, confidence = classify(pages)
    extraction = extract(doc_type, pages, doc_type_confidence=confidence)
    return extraction.model_copy(update={"page_indices": tuple(p.index for p in pages)})


def _blank_page(index: int, engine_name: str, page: PageImage) -> OcrPage:
    height, width = page.image.shape[:2]
    return OcrPage(
        index=index, engine=engine_name, width=width, height=height,
        rotation=page.rotation, skew=page.skew, blank=True,
    )
