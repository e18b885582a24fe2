"""The reading half of ingest: source file -> upright pages -> OCR -> fields.

Plain functions; ``flows/ingest.py`` wraps them in Prefect tasks.

Time limits: the OCR engine runs in this process, so no program timeout
guards it. Each page is read under a watchdog (``settings.page_timeout``) and
the whole file under ``settings.file_timeout``; running out raises
EngineTimeout, and the file is set aside with code ``engine_timeout``. A page
abandoned by its watchdog stops at its next engine call.

Parallel pages: given an :class:`~ocr.engines.EngineSource` of N engines, a
file's pages are read by N threads at once, each page with an engine of its
own (ONNX Runtime and OpenCV release the interpreter lock while they work, so
threads scale like processes here without copying page images between
processes: bench/RESULTS.md). At most N pages are in memory beyond the one
being rasterised.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from ocr.agree import agree_seals, agree_within, settle_household
from ocr.classify import classify
from ocr.coversheet import CoverSheet, Sheet, UnreadableSheet, classify_sheet, sheet_from_text
from ocr.engines import EngineSource, OcrEngine, OneEngine
from ocr.extract import PARSERS, extract, finish_fields
from ocr.load import rasterise
from ocr.marks import add_margin_text, clean_page, read_overlays, read_seals
from ocr.preprocess import preprocess
from ocr.quality import PageQuality, ScanMetadata, measure_page, scan_metadata
from ocr.reread import PageStore, Reader, reread_fields
from ocr.split import split_documents
from schemas.errors import EngineTimeout
from schemas.models import Extraction, OcrPage, OcrWord, PageImage, SourceFile
from schemas.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class FileReading:
    """What reading one file gave: its pages as OCR saw them, and the documents found in them.

    ``sheets`` runs beside ``documents``: the cover sheet scanned before each
    document (None: no sheet, or one that could not be read). ``problems``
    are the batch's findings for the clerk (an unreadable sheet, a page count
    that differs from the sheet's).
    """

    pages: list[OcrPage]
    documents: list[Extraction]
    sheets: list[CoverSheet | None] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Digitisation quality of each scanned page (page index -> measurements; sheets are not measured).
    quality: dict[int, PageQuality] = field(default_factory=dict)
    #: The scanner, software and time the file itself records.
    metadata: ScanMetadata | None = None


def read_file(source: SourceFile, *, engine: OcrEngine | None = None, engines: EngineSource | None = None,
              settings: Settings, workdir: Path, rereaders: Sequence[Reader] = (),
              lead: CoverSheet | None = None) -> FileReading:
    """Read a whole file: every page (:func:`scan_file`), then its documents and fields (:func:`understand_file`).

    Raises EngineTimeout when a page or the whole file runs out of time.
    """
    scanned = scan_file(source, engine=engine, engines=engines, settings=settings, workdir=workdir)
    return understand_file(scanned, settings=settings, rereaders=rereaders, lead=lead)


@dataclass(frozen=True)
class ScannedFile:
    """A file's pages as OCR read them, with what reading them found on the way; not yet split into documents."""

    pages: list[OcrPage]
    #: Cover and separator sheets (page index -> sheet).
    sheets: dict[int, Sheet]
    #: The cleaned page images, PNG-compressed, for re-reading doubtful fields.
    store: PageStore
    quality: dict[int, PageQuality]
    metadata: ScanMetadata
    #: The monotonic time by which the whole file must be read.
    deadline: float

    @property
    def cover(self) -> CoverSheet | None:
        """The cover sheet, when the file is nothing but a cover sheet (and blank backs); else None.

        Such a file was scanned on its own, in front of the files it is for.
        """
        found = [self.sheets.get(p.index) for p in self.pages if not p.blank]
        if not found or any(not isinstance(sheet, CoverSheet) for sheet in found):
            return None
        return found[-1]  # type: ignore[return-value]  # every entry is a CoverSheet


def scan_file(source: SourceFile, *, engine: OcrEngine | None = None, engines: EngineSource | None = None,
              settings: Settings, workdir: Path) -> ScannedFile:
    """Rasterise, clean and OCR every page of a file (in parallel with ``engines``), measuring each scan."""
    deadline = time.monotonic() + settings.file_timeout
    store = PageStore()
    sheets: dict[int, Sheet] = {}
    metadata = scan_metadata(source.path)
    quality: dict[int, PageQuality] = {}
    pages = read_document(source, engine=engine, engines=engines, settings=settings, workdir=workdir, store=store,
                          deadline=deadline, sheets=sheets, probe=QualityProbe(quality, metadata.page_dpi))
    return ScannedFile(pages, sheets, store, quality, metadata, deadline)


def understand_file(scanned: ScannedFile, *, settings: Settings, rereaders: Sequence[Reader] = (),
                    lead: CoverSheet | None = None) -> FileReading:
    """Cut a scanned file at its sheets and read its documents: types, fields, re-reads, cross-checks.

    Doubtful fields are re-read from the page images by ``rereaders``.
    ``lead``: a cover sheet scanned as a file of its own before this one; the
    file's first pages are filed as if it had been scanned in front of them.
    """
    deadline, pages = scanned.deadline, scanned.pages
    limited = [_reader_until(reader, deadline, settings.file_timeout) for reader in rereaders]
    segments, problems = sheet_segments(pages, scanned.sheets, lead=lead)
    if not any(p for s in segments for p in s.pages if not p.blank):
        # Nothing but sheets and blank pages: the file is read as it is, never dropped silently.
        segments = [Segment(lead, pages)]
    found: list[tuple[Extraction, CoverSheet | None]] = run_with_time_limit(
        lambda: understand_segments(segments, store=scanned.store, rereaders=limited), deadline,
        what=f"reading the file took longer than {settings.file_timeout:g} s")
    return FileReading(pages, [d for d, _ in found], [s for _, s in found], problems, scanned.quality,
                       scanned.metadata)


@dataclass(frozen=True)
class QualityProbe:
    """Measures each scanned page's digitisation quality as it is read (resolution as the file states it)."""

    found: dict[int, PageQuality]
    stated_dpi: Sequence[float | None]

    def measure(self, raw: PageImage, page: PageImage) -> None:
        """Measure ``raw`` (as scanned) knowing how ``page`` was turned and straightened."""
        dpi = self.stated_dpi[raw.index] if raw.index < len(self.stated_dpi) else None
        self.found[raw.index] = measure_page(raw.image, dpi=dpi, deskew_angle=page.skew, rotation=page.rotation)


def read_document(source: SourceFile, *, engine: OcrEngine | None = None, engines: EngineSource | None = None,
                  settings: Settings, workdir: Path, store: PageStore | None = None, deadline: float | None = None,
                  sheets: dict[int, Sheet] | None = None, probe: QualityProbe | None = None) -> list[OcrPage]:
    """Rasterise, clean and OCR every page of ``source``, in page order.

    Pages go to the engines of ``engines`` as they free up (one page per
    engine at a time), or to ``engine`` one after the other. Each page gets
    ``settings.page_timeout`` seconds from when its engine starts on it, all
    of them together ``settings.file_timeout`` (or until the monotonic
    ``deadline``). Cover and separator sheets found on the way go to
    ``sheets`` (page index -> sheet); page images to ``store``.
    """
    if engines is None:
        if engine is None:
            raise TypeError("read_document needs an engine or an engine source")
        engines = OneEngine(engine)
    file_deadline = deadline if deadline is not None else time.monotonic() + settings.file_timeout

    def read(raw: PageImage) -> OcrPage:
        with engines.borrow() as lent:
            page_deadline = min(file_deadline, time.monotonic() + settings.page_timeout)
            what = (f"page {raw.index + 1} took longer than {settings.page_timeout:g} s to read"
                    if page_deadline < file_deadline else
                    f"reading the file took longer than {settings.file_timeout:g} s (at page {raw.index + 1})")
            guarded = DeadlineEngine(lent, page_deadline, what)
            return run_with_time_limit(partial(_read_raw_page, raw, guarded, store, sheets, probe), page_deadline,
                                       what=what, on_timeout=guarded.cancel)

    raws = rasterise(source, settings, workdir)
    if engines.size <= 1:
        with closing(raws):
            return [read(raw) for raw in raws]
    return list(_in_parallel(read, raws, engines.size))


def _in_parallel(read: Callable[[PageImage], OcrPage], raws: Generator[PageImage, None, None],
                 width: int) -> Iterator[OcrPage]:
    """``read`` every page of ``raws`` on ``width`` threads; results in page order, at most ``width`` pending.

    The first failure stops the rest: pages not begun are cancelled, and the
    error is raised once the pages under way have ended (each is bounded by
    its own deadline).
    """
    pending: deque[Future[OcrPage]] = deque()
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="dangan-pages") as pool, closing(raws):
        try:
            for raw in raws:
                if len(pending) >= width:
                    yield pending.popleft().result()
                pending.append(pool.submit(contextvars.copy_context().run, read, raw))
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _read_raw_page(raw: PageImage, engine: OcrEngine, store: PageStore | None,
                   sheets: dict[int, Sheet] | None = None, probe: QualityProbe | None = None) -> OcrPage:
    sheet = classify_sheet(raw.image) if sheets is not None else None
    if sheets is not None and sheet is not None:
        sheets[raw.index] = sheet
    page = preprocess(raw, engine=engine)
    if probe is not None and sheet is None:
        probe.measure(raw, page)
    if store is not None:
        store.put(page)
    return read_page(page, engine=engine)


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
    return [d for d, _ in understand_segments([Segment(None, list(pages))], store=store, rereaders=rereaders)]


@dataclass(frozen=True)
class Segment:
    """Pages of a file between two sheets, with the cover sheet that opened them (None: none, or unreadable)."""

    sheet: CoverSheet | None
    pages: list[OcrPage]


def sheet_segments(pages: Sequence[OcrPage], sheets: dict[int, Sheet], *,
                   lead: CoverSheet | None = None) -> tuple[list[Segment], list[str]]:
    """Cut a file's pages at its cover and separator sheets; the sheets themselves belong to no document.

    ``lead``: the sheet the pages before the file's first sheet are filed
    under (a cover sheet scanned as a file of its own before this file).

    A sheet whose QR code cannot be read is tried through its printed text;
    failing that, the pages after it are split by their page types and the
    sheet is listed as a problem. A sheet that states a page count is
    checked against the pages with content after it.
    """
    segments = [Segment(lead, [])]
    problems: list[str] = []
    for page in pages:
        found = sheets.get(page.index)
        if found is None:
            segments[-1].pages.append(page)
            continue
        if isinstance(found, UnreadableSheet):
            read = sheet_from_text("\n".join(line.text for line in page.lines))
            if read is None:
                problems.append(f"page {page.index + 1}: a cover sheet that could not be read ({found.reason}); "
                                "the pages after it were split by their page types")
            else:
                problems.append(f"page {page.index + 1}: the cover sheet's code could not be read ({found.reason}); "
                                f"its printed unit {read.building}-{read.unit}-{read.room} was used: check it")
            found = read
        segments.append(Segment(found if isinstance(found, CoverSheet) else None, []))
    for segment in segments:
        content = sum(1 for p in segment.pages if not p.blank)
        if segment.sheet is not None and segment.sheet.pages is not None and content != segment.sheet.pages:
            first = segment.pages[0].index + 1 if segment.pages else None
            problems.append(f"the cover sheet of {segment.sheet.building}-{segment.sheet.unit}-{segment.sheet.room}"
                            f"{f' (before page {first})' if first else ''} says {segment.sheet.pages} page(s); "
                            f"{content} were scanned")
    return [s for s in segments if s.pages], problems


def understand_segments(segments: Sequence[Segment], *, store: PageStore | None = None,
                        rereaders: Sequence[Reader] = ()) -> list[tuple[Extraction, CoverSheet | None]]:
    """Read the documents of each segment; a sheet that names a type makes its pages one document of that type."""
    found: list[tuple[Extraction, CoverSheet | None]] = []
    pages = [p for segment in segments for p in segment.pages]
    for segment in segments:
        by_index = {p.index: p for p in segment.pages}
        sheet = segment.sheet
        if sheet is not None and sheet.doc_type is not None:
            content = tuple(p.index for p in segment.pages if not p.blank)
            groups = [content] if content else []
        else:
            groups = split_documents(segment.pages)
        for indices in groups:
            doc_pages = [by_index[i] for i in indices]
            if sheet is not None and sheet.doc_type is not None:
                doc_type, confidence = sheet.doc_type, 1.0
            else:
                doc_type, confidence = classify(doc_pages)
            raw = extract(doc_type, doc_pages, doc_type_confidence=confidence, finish=False)
            if store is not None and rereaders:
                raw = reread_fields(raw, store, rereaders, PARSERS)
            found.append((raw, sheet))
    documents = [d for d, _ in found]
    documents = settle_household(agree_seals(documents, pages)) if len(documents) > 1 else \
        agree_seals(documents, pages)
    return list(zip([finish_fields(d) for d in agree_within(documents)], [s for _, s in found], strict=True))


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


# --- time limits ------------------------------------------------------------------


def run_with_time_limit(work: Callable[[], T], deadline: float, *, what: str,
                        on_timeout: Callable[[], None] | None = None) -> T:
    """Run ``work`` in a watchdog thread until the monotonic ``deadline``; its result, or EngineTimeout.

    ``work`` cannot be killed: when time runs out it is abandoned (a daemon
    thread, so it never holds up the process's exit) after ``on_timeout``
    asked it to stop.
    """
    outcome: dict[str, object] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(work)
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread, raised there
            outcome["error"] = e

    worker = threading.Thread(target=target, name="dangan-page", daemon=True)
    if time.monotonic() >= deadline:
        raise _timeout(what)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if worker.is_alive():
        if on_timeout is not None:
            on_timeout()
        raise _timeout(what)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]  # always a BaseException
    return outcome["value"]  # type: ignore[return-value]  # set by target when no error


def _timeout(what: str) -> EngineTimeout:
    return EngineTimeout(f"{what}; the file was set aside (a page the OCR engine cannot finish); "
                         "scan it again, or split it into smaller files")


class DeadlineEngine:
    """An OCR engine that refuses further calls once its deadline passed or it was cancelled.

    The engine itself cannot be interrupted in the middle of a call; this
    stops a page abandoned by its watchdog at its next call.
    """

    def __init__(self, engine: OcrEngine, deadline: float, what: str) -> None:
        self._engine = engine
        self._deadline = deadline
        self._what = what
        self._cancelled = threading.Event()
        self.name = engine.name

    def cancel(self) -> None:
        """Refuse every further call."""
        self._cancelled.set()

    def _check(self) -> None:
        if self._cancelled.is_set() or time.monotonic() >= self._deadline:
            raise _timeout(self._what)

    def recognize(self, page: PageImage) -> OcrPage:
        """Recognise an upright page, if time is left."""
        self._check()
        return self._engine.recognize(page)

    def detect_orientation(self, image: np.ndarray) -> int:
        """Clockwise degrees to turn the image upright, if time is left."""
        self._check()
        return self._engine.detect_orientation(image)

    def recognize_crops(self, crops: Sequence[np.ndarray]) -> list[OcrWord]:
        """Read single text lines, if time is left."""
        self._check()
        return self._engine.recognize_crops(crops)


def _reader_until(reader: Reader, deadline: float, limit: float) -> Reader:
    """``reader`` that refuses to start once the file's deadline passed."""
    def read(crops: Sequence[np.ndarray]) -> list[OcrWord]:
        if time.monotonic() >= deadline:
            raise _timeout(f"reading the file took longer than {limit:g} s")
        return reader(crops)
    return read

