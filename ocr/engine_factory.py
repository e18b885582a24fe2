"""Making OCR engines: the factory, apart from the ``OcrEngine`` protocol the engines implement."""

from __future__ import annotations

import os

import cv2

from ocr.engines import OcrEngine
from ocr.heap import limit_arenas
from schemas.settings import OcrEngineName, Settings


def make_engine(name: OcrEngineName, settings: Settings) -> OcrEngine:
    """Create the named engine, configured from settings.

    Call once per process and reuse the engine: creation checks the installation
    (and for RapidOCR loads the models). Raises ``EngineUnavailable`` when the
    engine cannot run here.
    """
    threads = settings.ocr_threads or threads_per_worker(settings.workers)
    limit_opencv_threads(threads)
    limit_arenas()
    if name == "tesseract":
        from ocr.engine_tesseract import TesseractEngine

        return TesseractEngine(
            timeout=settings.program_timeout, threads=threads, max_side_px=settings.max_side_px
        )
    if name == "rapidocr":
        from ocr.engine_rapid import RapidOcrEngine

        return RapidOcrEngine(threads=threads, device=settings.ocr_device, max_side_px=settings.max_side_px)
    raise ValueError(f"unknown OCR engine {name!r}")


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """CPU threads one engine may use when ``workers`` pages are OCR'd in parallel."""
    total = cpus or os.cpu_count() or 1
    return max(1, total // max(1, workers))


def limit_opencv_threads(threads: int) -> None:
    """Let each OpenCV call use at most ``threads`` threads (a setting of the whole process).

    Pages are cleaned up by ``workers`` threads at once; OpenCV's own default
    (every core per call) would run cores x workers threads on the cores.
    """
    cv2.setNumThreads(max(1, threads))
