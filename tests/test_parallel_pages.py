"""Pages of one file read in parallel: order kept, engines never shared, a hung page still times out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from flows.services import EnginePool
from ocr.engine_factory import threads_per_worker
from ocr.engines import OcrEngine
from ocr.pipeline import read_document, read_file
from ocr.ppocr_onnx import execution_providers
from schemas.errors import EngineTimeout
from schemas.models import FileKind, OcrLine, OcrPage, OcrWord, PageImage, SourceFile
from schemas.settings import Settings
from tests.fuzz import scan_page, tiff_bytes


class CountingEngine:
    """Reads every page as its own index after ``delay`` s; counts how many pages it holds at once."""

    name = "counting"

    def __init__(self, delay: float, hang_on: int | None = None) -> None:
        self.delay = delay
        self.hang_on = hang_on
        self.busy = 0
        self.most_busy = 0
        self._lock = threading.Lock()
        self.release = threading.Event()

    def detect_orientation(self, image: np.ndarray) -> int:
        return 0

    def recognize(self, page: PageImage) -> OcrPage:
        with self._lock:
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        try:
            if page.index == self.hang_on:
                self.release.wait(30)
            time.sleep(self.delay)
        finally:
            with self._lock:
                self.busy -= 1
        height, width = page.image.shape[:2]
        line = OcrLine(text=f"业主入住登记表 {page.index + 1}", box=(10, 10, 200, 40), confidence=0.99)
        return OcrPage(index=page.index, engine=self.name, width=width, height=height, lines=(line,))

    def recognize_crops(self, crops: Sequence[np.ndarray]) -> list[OcrWord]:
        return [OcrWord(text="", box=(0, 0, 1, 1), confidence=0.0) for _ in crops]


class Pool:
    """An engine source over the given engines (as flows.services.EnginePool lends them)."""

    def __init__(self, engines: list[CountingEngine]) -> None:
        self._free = list(engines)
        self._cond = threading.Condition()
        self.size = len(engines)

    @contextmanager
    def borrow(self) -> Iterator[OcrEngine]:
        with self._cond:
            self._cond.wait_for(lambda: bool(self._free))
            engine = self._free.pop()
        try:
            yield engine
        finally:
            with self._cond:
                self._free.append(engine)
                self._cond.notify()


def _tiff(tmp_path: Path, pages: int) -> SourceFile:
    path = tmp_path / "batch.tif"
    path.write_bytes(tiff_bytes([scan_page(f"p{i}") for i in range(pages)]))
    return SourceFile(path=path, name=path.name, size=path.stat().st_size, sha256="0" * 64, kind=FileKind.TIFF,
                      page_count=pages)


def test_pages_read_in_parallel_come_back_in_order_one_page_per_engine(tmp_path: Path) -> None:
    engines = [CountingEngine(0.2), CountingEngine(0.2)]
    settings = Settings(home=tmp_path / "h", page_timeout=30, file_timeout=120)
    pages = read_document(_tiff(tmp_path, 8), engines=Pool(engines), settings=settings, workdir=tmp_path / "w")
    assert [p.index for p in pages] == list(range(8))
    assert [p.lines[0].text for p in pages] == [f"业主入住登记表 {i + 1}" for i in range(8)]
    assert all(e.most_busy == 1 for e in engines)  # an engine never holds two pages
    assert all(e.busy == 0 for e in engines)


def test_a_hung_page_among_parallel_pages_times_out_and_frees_the_rest(tmp_path: Path) -> None:
    hung = CountingEngine(0.0, hang_on=2)
    engines = [hung, CountingEngine(0.0, hang_on=2)]
    settings = Settings(home=tmp_path / "h", page_timeout=3, file_timeout=60)
    start = time.monotonic()
    try:
        with pytest.raises(EngineTimeout, match=r"page \d took longer than 3 s"):
            read_file(_tiff(tmp_path, 6), engines=Pool(engines), settings=settings, workdir=tmp_path / "w")
    finally:
        for e in engines:
            e.release.set()
    assert time.monotonic() - start < 30


def test_engines_share_the_cores_and_opencv_is_held_to_the_same_share() -> None:
    import cv2

    assert threads_per_worker(2, cpus=2) == 1
    assert threads_per_worker(1, cpus=8) == 8
    assert threads_per_worker(16, cpus=2) == 1
    pool = EnginePool(Settings(workers=2, ocr_engine="tesseract"))
    assert pool.size == 2
    assert cv2.getNumThreads() == threads_per_worker(2)


def test_ocr_device_cuda_uses_the_cuda_provider_only_where_there_is_one() -> None:
    assert execution_providers("cpu") == ["CPUExecutionProvider"]
    assert execution_providers("cuda", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert execution_providers("cuda:1", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        ("CUDAExecutionProvider", {"device_id": "1"}), "CPUExecutionProvider"]
    with pytest.raises(ValueError, match="ocr_device"):
        Settings(ocr_device="gpu")


@pytest.mark.integration
def test_real_engines_in_parallel_read_what_one_engine_reads(tmp_path: Path) -> None:
    """PP-OCR on this machine (no GPU): DANGAN_OCR_DEVICE=cuda falls back to the CPU and reads the same."""
    from ocr.engine_rapid import RapidOcrEngine

    source = _tiff(tmp_path, 3)
    settings = Settings(home=tmp_path / "h", workers=2, ocr_device="cuda")
    one = read_document(source, engine=RapidOcrEngine(), settings=settings, workdir=tmp_path / "w1")
    pool = EnginePool(settings)
    two = read_document(source, engines=pool, settings=settings, workdir=tmp_path / "w2")
    assert [[line.text for line in p.lines] for p in two] == [[line.text for line in p.lines] for p in one]
    assert any(p.lines for p in two)


def test_two_copies_of_one_file_never_wait_on_each_other_through_the_sheet_chain(tmp_path: Path) -> None:
    """The later copy holds the bytes' lock and waits to learn what the earlier file is; the earlier one,
    finding the lock held, says it leads nothing before it waits, so both end."""
    from flows.services import ShaLocks
    from flows.sheets import SheetChain
    from storage.dropfolder import DropItem

    first, second = DropItem(tmp_path / "a.pdf", tmp_path), DropItem(tmp_path / "b.pdf", tmp_path)
    chain, locks = SheetChain([first, second]), ShaLocks()
    holding, done = threading.Event(), []

    def later_copy() -> None:
        with locks.hold("same"):
            holding.set()
            chain.scanned(second, None)
            done.append(chain.lead(second))

    def earlier_copy() -> None:
        holding.wait(5)
        with locks.hold("same", before_waiting=lambda: chain.release(first)):
            done.append("earlier")

    threads = [threading.Thread(target=later_copy, daemon=True), threading.Thread(target=earlier_copy, daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert sorted(map(str, done)) == ["None", "earlier"]
