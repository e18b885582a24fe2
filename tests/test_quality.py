"""Digitisation quality per page (ocr.quality) and the batch QA report (flows.qa_report)."""

from __future__ import annotations

import csv
import io
import random
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest
from PIL import Image

from flows.qa_report import (
    CSV_COLUMNS,
    SAMPLE_MIN_PAGES,
    QaBatch,
    QaFile,
    QaPage,
    QaProblem,
    QaSegment,
    choose_sample,
    segments_from_split,
    write_qa_report,
)
from ocr.coversheet import BatchProblem, Segment
from ocr.preprocess import estimate_skew
from ocr.quality import PageQuality, measure_page, scan_metadata
from schemas.models import UnitRef
from tests.synth.hard.scan import blank_back
from tests.synth.render import FontBook, render_document
from tests.synth.templates import make_document

MM_300 = 300 / 25.4
ID_NUMBER = "110105199003071234"
HEADINGS = ("数字化质量检查报告", "批次", "页数", "分辨率", "倾斜", "裁切", "空白页", "页数核对", "抽检样本",
            "扫描设备", "操作员")


def render_form(dpi: int, seed: int = 3) -> np.ndarray:
    """An owner registration form (title, bordered table, text, signature) as a BGR scan."""
    doc = make_document("owner_registration", random.Random(seed))
    page = render_document(doc, dpi, FontBook())[0]
    return cv2.cvtColor(np.asarray(page.convert("RGB")), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def form300() -> np.ndarray:
    return render_form(300)


@pytest.fixture(scope="module")
def gray300(form300: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(form300, cv2.COLOR_BGR2GRAY)


def tilt(gray: np.ndarray, degrees: float, backing: int = 255) -> np.ndarray:
    """The page fed crooked: content turned ``degrees`` counter-clockwise, uncovered corners ``backing``."""
    height, width = gray.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(gray, matrix, (width, height), borderValue=backing)


def paper(height: int = 3508, width: int = 2480, seed: int = 0) -> np.ndarray:
    """Plain paper with scanner noise."""
    rng = np.random.default_rng(seed)
    return np.clip(246 + rng.normal(0, 3, (height, width)), 0, 255).astype(np.uint8)


def grid_page(right_end: int) -> np.ndarray:
    """A numpy form: a ruled table from 25 mm to ``right_end`` px and blocks of 'text' in its cells."""
    page = paper()
    left, top = round(25 * MM_300), round(40 * MM_300)
    rows = [top + i * round(12 * MM_300) for i in range(12)]
    for y in rows:
        cv2.line(page, (left, y), (right_end, y), 30, 3)
    for x in range(left, right_end + 1, round(40 * MM_300)):
        cv2.line(page, (x, rows[0]), (x, rows[-1]), 30, 3)
    for y in rows[:-1]:
        for x in range(left + 20, right_end - 60, 70):
            cv2.rectangle(page, (x, y + 40), (x + 45, y + 85), 40, -1)
    return page


def codes(quality: PageQuality) -> set[str]:
    return {issue.code for issue in quality.issues}


# --- resolution ----------------------------------------------------------------------------------


def test_150_dpi_page_is_flagged_low_resolution() -> None:
    quality = measure_page(render_form(150), dpi=150)
    assert quality.low_resolution and quality.flagged
    assert "low_resolution" in codes(quality)
    assert any("150 dpi" in issue.message for issue in quality.issues)


def test_clean_300_dpi_page_is_not_flagged(form300: np.ndarray) -> None:
    quality = measure_page(form300, dpi=300)
    assert not quality.low_resolution
    assert quality.cut_edges == []
    assert not quality.blank and not quality.near_blank
    assert abs(quality.residual_skew_deg or 0.0) < 0.3
    assert not quality.flagged, quality.issues
    assert (quality.width_px, quality.height_px) == (2480, 3508)


def test_unknown_resolution_is_flagged_for_a_person(gray300: np.ndarray) -> None:
    quality = measure_page(gray300, dpi=None)
    assert quality.dpi is None and not quality.low_resolution
    assert "unknown_resolution" in codes(quality) and quality.flagged


# --- skew ----------------------------------------------------------------------------------------


def test_page_left_3_degrees_crooked_after_deskew_shows_residual_skew(gray300: np.ndarray) -> None:
    crooked = tilt(gray300, 3.0)
    quality = measure_page(crooked, dpi=300, deskew_angle=0.0)
    assert quality.residual_skew_deg is not None and abs(quality.residual_skew_deg - 3.0) < 0.3
    assert "residual_skew" in codes(quality) and quality.flagged


def test_skew_the_pipeline_corrected_is_only_noted(gray300: np.ndarray) -> None:
    crooked = tilt(gray300, 3.0)
    corrected = estimate_skew(crooked)  # what preprocess() finds and undoes
    quality = measure_page(crooked, dpi=300, deskew_angle=corrected)
    assert abs(quality.residual_skew_deg or 0.0) < 0.5
    assert quality.scan_skew_deg is not None and abs(quality.scan_skew_deg - 3.0) < 0.3
    assert "scan_skew" in codes(quality) and "residual_skew" not in codes(quality)
    assert not quality.flagged


# --- cut-off edges -------------------------------------------------------------------------------


def test_text_and_table_running_off_the_right_edge_is_cut_right(gray300: np.ndarray) -> None:
    cropped = np.ascontiguousarray(gray300[:, : round(gray300.shape[1] * 0.8)])
    quality = measure_page(cropped, dpi=300)
    assert quality.cut_edges == ["right"]
    assert "cut_edge" in codes(quality) and quality.flagged
    assert any("右边" in issue.message for issue in quality.issues)


def test_ruled_table_past_the_edge_is_cut_and_within_margins_is_not() -> None:
    inside = measure_page(grid_page(right_end=2480 - round(25 * MM_300)), dpi=300)
    assert inside.cut_edges == [] and not inside.flagged
    outside = measure_page(grid_page(right_end=2480 + 200), dpi=300)
    assert outside.cut_edges == ["right"]


def test_cut_edges_are_named_on_the_upright_page(gray300: np.ndarray) -> None:
    cropped = np.ascontiguousarray(gray300[:, : round(gray300.shape[1] * 0.8)])
    sideways = cv2.rotate(cropped, cv2.ROTATE_90_CLOCKWISE)  # fed sideways; the pipeline turns it back by 270
    assert measure_page(sideways, dpi=300, rotation=270).cut_edges == ["right"]


def test_crooked_sheet_on_grey_backing_and_scanner_border_are_not_cut(gray300: np.ndarray) -> None:
    crooked = tilt(gray300, 2.5, backing=170)
    assert measure_page(crooked, dpi=300, deskew_angle=estimate_skew(crooked)).cut_edges == []
    bordered = gray300.copy()
    bordered[:, :12] = 20  # a dark line along the left edge from the scanner
    bordered[-40:, :] = (bordered[-40:, :] * 0.5).astype(np.uint8)  # a photocopier's dark band at the bottom
    assert measure_page(bordered, dpi=300).cut_edges == []


# --- blank pages ---------------------------------------------------------------------------------


def test_blank_back_of_a_duplex_sheet_is_blank_and_not_flagged(gray300: np.ndarray) -> None:
    back = blank_back(gray300, (3508, 2480), np.random.default_rng(4))  # show-through and dust
    quality = measure_page(back, dpi=300)
    assert quality.blank and not quality.near_blank
    assert codes(quality) == {"blank"} and not quality.flagged
    assert quality.scan_skew_deg is None and quality.cut_edges == []


def test_page_with_a_few_specks_and_a_punch_hole_is_near_blank() -> None:
    page = paper()
    for x, y in ((600, 900), (1800, 2500), (1200, 3000)):
        cv2.circle(page, (x, y), 8, 70, -1)  # specks about 1.4 mm
    for y in (1100, 2400):
        cv2.circle(page, (round(12 * MM_300), y), round(3 * MM_300), 35, -1)  # punch holes, dark backing behind
    quality = measure_page(page, dpi=300)
    assert quality.near_blank and not quality.blank
    assert "near_blank" in codes(quality) and quality.flagged


def test_page_with_a_few_specks_only_is_near_blank_but_plain_paper_is_blank() -> None:
    assert measure_page(paper(), dpi=300).blank
    specks = paper()
    for x, y in ((500, 700), (2000, 1500), (900, 3100), (1500, 2200)):
        cv2.circle(specks, (x, y), 7, 80, -1)
    assert measure_page(specks, dpi=300).near_blank


def test_a_black_page_is_a_failed_scan_not_a_blank_one() -> None:
    quality = measure_page(np.full((3508, 2480), 12, np.uint8), dpi=300)
    assert not quality.blank and not quality.near_blank
    assert codes(quality) == {"dark_page"} and quality.flagged


# --- colour --------------------------------------------------------------------------------------


def test_colour_gray_and_bitonal_pages(gray300: np.ndarray) -> None:
    colour = cv2.cvtColor(gray300, cv2.COLOR_GRAY2BGR)
    cv2.circle(colour, (1800, 2900), 180, (40, 40, 210), 12)  # a red seal
    assert measure_page(colour, dpi=300).colour_mode == "colour"
    assert measure_page(gray300, dpi=300).colour_mode == "gray"
    bitonal = np.where(gray300 < 160, 0, 255).astype(np.uint8)
    quality = measure_page(bitonal, dpi=300)
    assert quality.colour_mode == "bitonal" and "bitonal" in codes(quality) and not quality.flagged


# --- metadata ------------------------------------------------------------------------------------


def test_pdf_metadata_producer_creator_time_and_resolution(tmp_path: Path, gray300: np.ndarray) -> None:
    path = tmp_path / "scan.pdf"
    Image.fromarray(gray300).save(path, resolution=300.0)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        pdf.docinfo["/Producer"] = "Canon iR-ADV C5535 III"
        pdf.docinfo["/Creator"] = "Canon ScanFront"
        pdf.docinfo["/CreationDate"] = "D:20240301120502+08'00'"
        pdf.save(path)
    meta = scan_metadata(path)
    assert meta.kind == "pdf"
    assert meta.producer == "Canon iR-ADV C5535 III" and meta.creator == "Canon ScanFront"
    assert meta.created is not None and meta.created.isoformat() == "2024-03-01T12:05:02+08:00"
    assert meta.page_dpi == [300.0]
    assert meta.colour_modes == ["8 位灰度"]
    assert meta.device == "Canon ScanFront"


def test_tiff_metadata_make_model_software_and_each_frame(tmp_path: Path, gray300: np.ndarray) -> None:
    path = tmp_path / "scan.tif"
    small = Image.fromarray(gray300).resize((1240, 1754))
    tags = {271: "FUJITSU", 272: "fi-7160", 305: "PaperStream Capture 3.2", 306: "2024:03:01 09:30:00"}
    small.save(path, save_all=True, append_images=[small.copy()], dpi=(150, 150), tiffinfo=tags,
               compression="tiff_lzw")
    meta = scan_metadata(path)
    assert meta.kind == "tiff"
    assert (meta.make, meta.model, meta.software) == ("FUJITSU", "fi-7160", "PaperStream Capture 3.2")
    assert meta.device == "FUJITSU fi-7160"
    assert meta.created == datetime(2024, 3, 1, 9, 30)
    assert meta.page_dpi == [150.0, 150.0]


def test_jpeg_exif_make_model_and_a_placeholder_resolution(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[271], exif[272] = "HUAWEI", "P40"
    Image.new("RGB", (3000, 4000), (240, 240, 240)).save(path, exif=exif, dpi=(72, 72))
    meta = scan_metadata(path)
    assert (meta.kind, meta.make, meta.model) == ("jpeg", "HUAWEI", "P40")
    assert meta.page_dpi == [None]  # 72 dpi over 4000 px would be a 55-inch page: not believed
    assert meta.colour_modes == ["24 位彩色"]


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the corrupt TIFF
@pytest.mark.parametrize("content", [b"", b"%PDF-1.7\n%broken", b"II*\x00garbage", b"\xff\xd8\xff\xe0junk", b"hello"])
def test_metadata_of_odd_files_is_empty_and_never_raises(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "odd.bin"
    path.write_bytes(content)
    meta = scan_metadata(path)
    assert meta.make == meta.model == meta.software == meta.producer == ""
    assert meta.created is None


def test_metadata_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert scan_metadata(tmp_path / "gone.pdf").kind == ""


# --- the report ----------------------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.flag_rows = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr" and ("class", "flag") in attrs:
            self.flag_rows += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def qualities(gray300: np.ndarray) -> dict[str, PageQuality]:
    return {
        "good": measure_page(gray300, dpi=300),
        "low": measure_page(gray300, dpi=150),
        "cut": measure_page(np.ascontiguousarray(gray300[:, :1900]), dpi=300),
        "blank": measure_page(paper(), dpi=300),
    }


HOSTILE = f'<script>alert("x")</script>王伟_{ID_NUMBER}_13800138000.pdf'


def make_batch(qualities: dict[str, PageQuality], pages: int = 40) -> QaBatch:
    kinds = ["good"] * pages
    kinds[3], kinds[17], kinds[25], kinds[30] = "low", "cut", "blank", "blank"
    files = [QaFile(name=HOSTILE, pages=20), QaFile(name="=HYPERLINK(\"x\").tif", pages=pages - 20)]
    qa_pages = [
        QaPage(position=i, file=files[0].name if i < 20 else files[1].name, page=i % 20, quality=qualities[k])
        for i, k in enumerate(kinds)
    ]
    segments = [
        QaSegment(label="阳光花园 3-2-1201 业主入住登记表", sheet_page=0, expected_pages=4, actual_pages=4),
        QaSegment(label="3-2-1202 身份证复印件", sheet_page=10, expected_pages=2, actual_pages=3),
    ]
    problems = [QaProblem(page=20, kind="封面无法识别", message="unreadable cover sheet at page 21: no QR code")]
    return QaBatch(batch_id="20250301-K7F3", started=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
                   finished=datetime(2025, 3, 1, 9, 40, tzinfo=UTC), operator="张三 <clerk>", files=files,
                   pages=qa_pages, segments=segments, problems=problems)


def test_html_report_parses_has_the_headings_and_escapes_and_masks(
    tmp_path: Path, qualities: dict[str, PageQuality],
) -> None:
    batch = make_batch(qualities)
    html_path, csv_path = write_qa_report(batch, tmp_path / "reports")
    assert html_path.name == "qa-20250301-K7F3.html" and csv_path.name == "qa-20250301-K7F3.csv"
    raw = html_path.read_text("utf-8")
    parser = _Collector()
    parser.feed(raw)
    parser.close()
    text = "".join(parser.text)
    for heading in HEADINGS:
        assert heading in text, heading
    assert "script" not in parser.tags  # the hostile name stayed text
    assert "&lt;script&gt;" in raw and "<script>" not in raw
    assert ID_NUMBER not in raw and "13800138000" not in raw
    assert "110105********1234" in text and "138****8000" in text
    assert "张三 <clerk>" in text  # the operator, escaped and shown
    assert parser.flag_rows >= 4  # flagged pages, the page-count mismatch, the unreadable sheet
    assert "不符" in text and "封面无法识别" in text
    assert "http" not in raw.lower() and "<link" not in raw and "src=" not in raw  # self-contained


def test_csv_report_has_a_bom_a_chinese_header_and_one_row_per_page(
    tmp_path: Path, qualities: dict[str, PageQuality],
) -> None:
    batch = make_batch(qualities)
    _, csv_path = write_qa_report(batch, tmp_path)
    data = csv_path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [header for _, header in CSV_COLUMNS]
    assert len(rows) == 1 + len(batch.pages)
    column = {key: i for i, (key, _) in enumerate(CSV_COLUMNS)}
    first = rows[1]
    assert ID_NUMBER not in data.decode("utf-8-sig") and "110105********1234" in first[column["file"]]
    assert rows[21][column["file"]].startswith("'=")  # never a formula in Excel
    assert rows[4][column["low_resolution"]] == "是" and rows[4][column["flagged"]] == "是"
    assert rows[18][column["cut_edges"]] == "右"
    assert rows[26][column["blank"]] == "是"
    assert sum(row[column["in_sample"]] == "是" for row in rows[1:]) == len(batch.sample_positions())


def test_sample_is_reproducible_holds_every_flagged_page_and_enough_pages(qualities: dict[str, PageQuality]) -> None:
    batch = make_batch(qualities, pages=400)
    flagged = {p.position for p in batch.pages if p.quality.flagged}
    first = choose_sample(batch.pages, batch.batch_id)
    assert first == choose_sample(batch.pages, batch.batch_id)
    assert first == choose_sample(list(reversed(batch.pages)), batch.batch_id)
    assert first != choose_sample(batch.pages, "20250302-AAAA")
    assert flagged <= set(first)
    assert len(set(first) - flagged) >= max(SAMPLE_MIN_PAGES, 0.05 * len(batch.pages))
    small = make_batch(qualities, pages=32)
    assert len(choose_sample(small.pages, small.batch_id)) >= SAMPLE_MIN_PAGES


def test_segments_from_the_cover_sheet_split() -> None:
    problem = BatchProblem(code="page_count", page=5, message="cover sheet at page 6: expected 4 page(s), got 3")
    split = [
        Segment(pages=(0, 1), opened_by="start"),
        Segment(pages=(6, 7, 8), opened_by="cover_sheet", sheet_page=5, unit=UnitRef(building="3", unit="2",
                room="1201"), estate="阳光花园", doc_type="id_card", expected_pages=4, problems=(problem,)),
    ]
    first, second = segments_from_split(split)
    assert first.expected_pages is None and first.matches is None and first.actual_pages == 2
    assert second.label.startswith("阳光花园 3-2-1201") and second.matches is False
    assert second.problems[0].kind == "页数不符" and second.problems[0].page == 5


# --- cost ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dpi", [200, 300])
def test_measure_page_cost(dpi: int, form300: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    page = cv2.cvtColor(form300, cv2.COLOR_BGR2GRAY)
    if dpi != 300:
        page = cv2.resize(page, None, fx=dpi / 300, fy=dpi / 300, interpolation=cv2.INTER_AREA)
    assert not measure_page(page, dpi=dpi).flagged
    times = []
    for _ in range(5):
        start = time.perf_counter()
        measure_page(page, dpi=dpi, deskew_angle=1.5)
        times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2] * 1000
    with capsys.disabled():
        print(f"\nmeasure_page, A4 gray at {dpi} dpi: {median:.1f} ms per page (median of 5)")
    assert median < 250  # well under 50 ms on an idle core; generous for a shared machine
