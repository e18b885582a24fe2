"""Nothing lost, nothing leaked: broken and hostile inputs through the real ``dangan ingest``.

Every input ends stored or quarantined with a specific reason (never
``internal_error``), nothing hangs (the in-process OCR engine runs under page
and file time limits), memory stays bounded, and nothing outside the drop
folder is read, moved or written. The fuzz set is generated at test time
(``tests/fuzz.py``); the real-world samples are read in place.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ocr.pipeline import DeadlineEngine, read_document, read_file
from schemas.errors import EngineTimeout
from schemas.models import FileKind, OcrLine, OcrPage, OcrWord, PageImage, SourceFile
from schemas.settings import Settings
from storage.names import safe_name
from tests.e2e import run_dangan
from tests.fuzz import (
    ID_NAME,
    ID_NAME_EMPTY,
    NAME_SECRETS,
    FuzzCase,
    MeasuredRun,
    arm_atimes,
    files_read,
    image_bytes,
    pdf_bytes,
    run_measured,
    scan_page,
    tiff_bytes,
    tree_state,
    write_fuzz_set,
)

# --- time limits of the in-process OCR engine --------------------------------------------


class SlowEngine:
    """An OCR engine whose page reading blocks until released (or takes ``delay`` seconds)."""

    name = "slow"

    def __init__(self, delay: float | None = None) -> None:
        self.delay = delay
        self.release = threading.Event()
        self.calls: list[str] = []

    def detect_orientation(self, image: np.ndarray) -> int:
        self.calls.append("orientation")
        return 0

    def recognize(self, page: PageImage) -> OcrPage:
        self.calls.append("recognize")
        if self.delay is None:
            self.release.wait(60)
        else:
            time.sleep(self.delay)
        height, width = page.image.shape[:2]
        line = OcrLine(text="业主入住登记表", box=(10, 10, 200, 40), confidence=0.99)
        return OcrPage(index=page.index, engine=self.name, width=width, height=height, lines=(line,))

    def recognize_crops(self, crops: Sequence[np.ndarray]) -> list[OcrWord]:
        self.calls.append("crops")
        return [OcrWord(text="", box=(0, 0, 1, 1), confidence=0.0) for _ in crops]


def _source(path: Path, kind: FileKind, pages: int) -> SourceFile:
    return SourceFile(path=path, name=path.name, size=path.stat().st_size, sha256="0" * 64, kind=kind,
                      page_count=pages)


def test_a_hung_page_becomes_engine_timeout(tmp_path: Path) -> None:
    path = tmp_path / "scan.png"
    path.write_bytes(image_bytes(scan_page("hang"), "PNG"))
    engine = SlowEngine()
    settings = Settings(home=tmp_path / "h", page_timeout=0.5)
    start = time.monotonic()
    try:
        with pytest.raises(EngineTimeout, match=r"page 1 took longer than 0\.5 s") as caught:
            read_file(_source(path, FileKind.PNG, 1), engine=engine, settings=settings, workdir=tmp_path / "w")
    finally:
        engine.release.set()
    assert time.monotonic() - start < 5
    assert caught.value.code == "engine_timeout"


def test_a_slow_file_runs_out_of_its_time(tmp_path: Path) -> None:
    path = tmp_path / "batch.tif"
    path.write_bytes(tiff_bytes([scan_page(f"p{i}") for i in range(4)]))
    settings = Settings(home=tmp_path / "h", page_timeout=30, file_timeout=0.8)
    engine = SlowEngine(delay=0.4)
    with pytest.raises(EngineTimeout, match=r"reading the file took longer than 0\.8 s"):
        read_document(_source(path, FileKind.TIFF, 4), engine=engine, settings=settings, workdir=tmp_path / "w")
    assert engine.calls.count("recognize") < 4


def test_an_abandoned_page_makes_no_further_engine_calls(tmp_path: Path) -> None:
    engine = SlowEngine(delay=0)
    guarded = DeadlineEngine(engine, time.monotonic() + 60, "page 1 took too long")
    assert guarded.detect_orientation(np.zeros((4, 4), np.uint8)) == 0
    guarded.cancel()
    with pytest.raises(EngineTimeout):
        guarded.recognize_crops([np.zeros((4, 4), np.uint8)])
    assert engine.calls == ["orientation"]


def test_pages_within_their_time_are_read(tmp_path: Path) -> None:
    path = tmp_path / "two.pdf"
    path.write_bytes(pdf_bytes([scan_page("a"), scan_page("b")]))
    settings = Settings(home=tmp_path / "h", page_timeout=20, file_timeout=60)
    reading = read_file(_source(path, FileKind.PDF, 2), engine=SlowEngine(delay=0), settings=settings,
                        workdir=tmp_path / "w")
    assert [p.index for p in reading.pages] == [0, 1]


# --- one real batch: links, a file still being written, ID numbers in names ----------------


@dataclass(frozen=True)
class DropRun:
    """Two runs over one drop folder: while a scanner writes, and after it finished."""

    root: Path
    first: MeasuredRun
    second: MeasuredRun
    outside_before: dict[str, tuple[object, ...]]
    outside_after: dict[str, tuple[object, ...]]
    read_outside: list[str]
    export: str


def _keep_writing(path: Path, stop: threading.Event) -> threading.Thread:
    """A scanner still writing ``path``: a few bytes every 0.2 s."""
    def write() -> None:
        while not stop.wait(0.2):
            with path.open("ab") as f:
                f.write(b"\x00" * 512)
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def drop_run(tmp_path_factory: pytest.TempPathFactory) -> DropRun:
    root = tmp_path_factory.mktemp("drop")
    inbox, outside = root / "scans" / "inbox", root / "outside"
    (inbox / "sub").mkdir(parents=True)
    (outside / "folder").mkdir(parents=True)
    (outside / "secret.pdf").write_bytes(pdf_bytes([scan_page("outside")]))
    (outside / "folder" / "other.png").write_bytes(image_bytes(scan_page("outside-2"), "PNG"))
    (inbox / "scan_0001.png").write_bytes(image_bytes(scan_page("0001"), "PNG"))
    (inbox / ID_NAME).write_bytes(image_bytes(scan_page("owner"), "PNG"))
    (inbox / ID_NAME_EMPTY).write_bytes(b"")
    (inbox / "loop.pdf").symlink_to("loop.pdf")
    (inbox / "gone.pdf").symlink_to(root / "nowhere.pdf")
    (inbox / "secret.pdf").symlink_to("../../outside/secret.pdf")
    (inbox / "folder").symlink_to(outside / "folder", target_is_directory=True)
    (inbox / "sub" / "up").symlink_to("..", target_is_directory=True)
    (inbox / "sub" / "scan.pdf.part").write_bytes(b"%PDF-1.4 half")
    complete = pdf_bytes([scan_page("scanner")])
    growing = inbox / "scanning.pdf"
    growing.write_bytes(complete[: len(complete) // 2])
    before = tree_state(outside)
    arm_atimes(outside)
    env = {"DANGAN_HOME": str(root / "home"), "DANGAN_SETTLE_SECONDS": "2"}
    stop = threading.Event()
    writer = _keep_writing(growing, stop)
    try:
        first = run_measured(["ingest", str(inbox), "--quiet"], env, _work(root, "first"), timeout=600)
    finally:
        stop.set()
        writer.join()
    growing.write_bytes(complete)  # the scanner finished
    time.sleep(2.5)
    second = run_measured(["ingest", str(inbox), "--quiet"], env, _work(root, "second"), timeout=600)
    export_file = root / "export.jsonl"
    assert run_dangan(["export", "--jsonl", str(export_file)], env).code == 0
    read = files_read(outside)  # before tree_state reads them itself
    return DropRun(root, first, second, before, tree_state(outside), read, export_file.read_text(encoding="utf-8"))


def _work(root: Path, name: str) -> Path:
    (root / name).mkdir()
    return root / name


def test_links_are_set_aside_once_with_their_reason(drop_run: DropRun) -> None:
    first, second = drop_run.first, drop_run.second
    assert "Traceback" not in first.stderr and "internal error" not in first.stderr, first.stderr
    quarantine = drop_run.root / "scans" / "quarantine" / "inbox"
    for name, code in {"loop.pdf": "link_loop", "gone.pdf": "dangling_link", "secret.pdf": "link_outside",
                       "folder": "link_outside"}.items():
        assert f"  quarantined  {name}: " in first.stdout
        reason = (quarantine / f"{name}.reason.txt").read_text(encoding="utf-8")
        assert reason.startswith(f"{code}: ") and len(reason.splitlines()) == 1, reason
        assert (quarantine / name).is_symlink(), f"{name}: the link itself is set aside"
        assert name not in second.stdout, f"{name} reported again"
    assert drop_run.outside_after == drop_run.outside_before
    assert drop_run.read_outside == []
    assert (drop_run.root / "scans" / "inbox" / "sub" / "up").is_symlink()  # a link inside: left alone
    assert (drop_run.root / "scans" / "inbox" / "sub" / "scan.pdf.part").exists()


def test_a_file_still_being_written_waits_for_the_next_run(drop_run: DropRun) -> None:
    first, second = drop_run.first, drop_run.second
    assert first.code == 3, first.stdout + first.stderr  # some files left for the next run
    assert "  failed       scanning.pdf: the file is still being written" in first.stdout
    quarantine = drop_run.root / "scans" / "quarantine" / "inbox"
    assert not (quarantine / "scanning.pdf").exists()
    assert second.code == 0, second.stdout + second.stderr
    assert "1 file(s): 1 stored" in second.stdout
    assert (drop_run.root / "scans" / "done" / "inbox" / "scanning.pdf").exists()


def test_id_numbers_and_phones_in_names_are_never_stored_or_shown(drop_run: DropRun) -> None:
    root = drop_run.root
    done, quarantine = root / "scans" / "done" / "inbox", root / "scans" / "quarantine" / "inbox"
    assert (done / ID_NAME).exists() and (quarantine / ID_NAME_EMPTY).exists()  # originals keep their names
    assert safe_name(ID_NAME) in drop_run.export and safe_name(ID_NAME) in drop_run.first.stdout
    assert safe_name(ID_NAME_EMPTY) in drop_run.first.stdout
    written = [drop_run.first.stdout, drop_run.first.stderr, drop_run.second.stdout, drop_run.export]
    written += [p.read_text(encoding="utf-8") for p in quarantine.glob("*.reason.txt")]
    index = b"".join(p.read_bytes() for p in (root / "home").glob("index.sqlite3*"))
    logs = b"".join(p.read_bytes() for p in (root / "home" / "logs").glob("*")) if (root / "home" / "logs").exists() \
        else b""
    for secret in NAME_SECRETS:
        assert not any(secret in text for text in written), secret
        assert secret.encode() not in index and secret.encode() not in logs, secret


# --- fuzz: generated set plus the real-world samples, through one run -----------------------


#: Real-world samples that must be refused, with their reason code; every other one is stored.
REALWORLD_REFUSED = {
    "ocrmypdf__invalid.pdf": "corrupt",
    "paperless__password-is-test.pdf": "encrypted_pdf",
    "ocrmypdf__linn.txt": "unsupported_type",
    "SOURCES.md": "unsupported_type",
}
#: Peak resident memory allowed for a whole batch (OCR models included), in MB.
PEAK_RSS_MB = 3000


def _run_fuzz(root: Path, realworld: Path | None, *, large: bool) -> dict[str, object]:
    """Ingest the fuzz set (and the real-world samples, in place with --keep); check every outcome."""
    inbox, outside = root / "drop" / "inbox", root / "outside"
    cases = write_fuzz_set(inbox, outside, large=large)
    real_files = sorted(p for p in realworld.rglob("*") if p.is_file()) if realworld else []
    real_before = {p: _sha(p) for p in real_files}
    outside_before = tree_state(outside)
    arm_atimes(outside)
    report = root / "report.json"
    env = {"DANGAN_HOME": str(root / "home"), "DANGAN_QUARANTINE_DIR": str(root / "quarantine"),
           "DANGAN_SETTLE_SECONDS": "1", "DANGAN_PAGE_TIMEOUT": "120", "DANGAN_FILE_TIMEOUT": "600"}
    paths = [str(inbox)] + ([str(realworld)] if realworld else [])
    run = run_measured(["ingest", *paths, "--keep", "--quiet", "--report", str(report)], env, root,
                       timeout=3000 if large else 1500)
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-3000:]
    noise = ("Traceback", "Warning", "TIFF", "Decode", "ERROR")  # tracebacks, warnings, libtiff's and qpdf's notes
    assert not any(word in run.stderr for word in noise), run.stderr[-3000:]
    outcomes = {f["path"]: f for f in json.loads(report.read_text(encoding="utf-8"))["files"]}

    expected: list[tuple[FuzzCase, str]] = [(c, safe_name(str(c.path))) for c in cases]
    expected += [(FuzzCase(p, "realworld", frozenset({REALWORLD_REFUSED.get(p.name, "stored")})
                           if p.parent == realworld else frozenset({"unsupported_type"})), str(p))
                 for p in real_files]
    tally: Counter[tuple[str, str]] = Counter()
    for case, shown in expected:
        got = outcomes.pop(shown, None)
        assert got is not None, f"{shown!r} missing from the batch"
        result = got["outcome"] if got["outcome"] in ("stored", "duplicate") else got["reason_code"]
        assert got["outcome"] in ("stored", "duplicate", "quarantined"), f"{shown!r}: {got}"
        assert result != "internal_error", f"{shown!r}: {got['reason']}"
        assert case.expect is None or result in case.expect, f"{shown!r}: {result} ({got['reason']})"
        tally[(case.family, result)] += 1
    assert not outcomes, f"unexpected files in the batch: {list(outcomes)}"

    assert files_read(outside) == [], "a file outside the drop folder was read"
    assert tree_state(outside) == outside_before, "the folder beside the drop folder changed"
    assert {p: _sha(p) for p in real_files} == real_before, "a real-world sample changed"
    _assert_no_secrets(root, run)
    assert run.peak_rss_mb < PEAK_RSS_MB, f"peak RSS {run.peak_rss_mb:.0f} MB"
    lines = run.stdout.splitlines()
    assert all(ln.startswith(("  quarantined  ", "  split  ", "  check  ", "  sheet  ", "  report  ", "  incomplete  "))
               for ln in lines[1:]
               if not ln.endswith("need review (fields flagged below)")), run.stdout

    numbers = {"inputs": len(expected), "generated": len(cases), "realworld": len(real_files),
               "peak_rss_mb": round(run.peak_rss_mb), "seconds": round(run.seconds),
               "outcomes": {f"{family}: {result}": n for (family, result), n in sorted(tally.items())}}
    (root / "fuzz-numbers.json").write_text(json.dumps(numbers, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps(numbers, ensure_ascii=False, indent=2))
    return numbers


def _assert_no_secrets(root: Path, run: MeasuredRun) -> None:
    """No ID number or phone of a file name in the output, report, export, index, logs or reason files."""
    env = {"DANGAN_HOME": str(root / "home")}
    export = root / "export.jsonl"
    assert run_dangan(["export", "--jsonl", str(export)], env).code == 0
    texts = [run.stdout, run.stderr, (root / "report.json").read_text(encoding="utf-8"),
             export.read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in (root / "quarantine").rglob("*.reason.txt")]
    blobs = [p.read_bytes() for p in (root / "home").glob("index.sqlite3*")]
    blobs += [p.read_bytes() for p in (root / "home" / "logs").rglob("*") if p.is_file()]
    for secret in NAME_SECRETS:
        assert not any(secret in t for t in texts), secret
        assert not any(secret.encode() in b for b in blobs), secret
    assert safe_name(ID_NAME) in texts[3]


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.integration
def test_fuzz_set_and_realworld_samples_end_stored_or_quarantined(tmp_path: Path) -> None:
    from tests.conftest import REALWORLD

    realworld = REALWORLD if REALWORLD.is_dir() else None
    numbers = _run_fuzz(tmp_path, realworld, large=False)
    if realworld is None:
        pytest.skip(f"generated set passed ({numbers['inputs']} inputs); real-world samples not present: "
                    f"{REALWORLD} (they live in ../shared/realworld beside the repository)")


@pytest.mark.slow
@pytest.mark.integration
def test_large_fuzz_set_ends_stored_or_quarantined(tmp_path: Path) -> None:
    _run_fuzz(tmp_path, None, large=True)

