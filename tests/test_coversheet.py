"""Cabinet cover sheets: printed, scanned (degraded), read back; PATCH-T sheets; batches cut at sheets."""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest

from flows import cli
from ocr import coversheet_print
from ocr.coversheet import (
    PAGE_MM,
    QR_MM,
    CoverSheet,
    PatchSheet,
    SheetPayloadError,
    UnreadableSheet,
    batch_problems,
    classify_sheet,
    is_patch_t,
    read_cover_sheet,
    sheet_from_text,
    split_batch,
)
from ocr.coversheet_print import (
    FontsMissing,
    SheetRequestError,
    print_cover_sheets,
    render_cover_sheet,
    render_patch_t_sheet,
    sheet_for_unit,
    sheet_text_lines,
    sheets_from_csv,
)
from schemas.documents import DOC_LABELS, DocType
from schemas.errors import ExitCode
from schemas.models import PageImage, UnitRef
from tests.synth.hard.scan import blank_back
from tests.synth.render import FontBook, render_document
from tests.synth.templates import make_document

SHEET = CoverSheet(estate="阳光花园小区", building="3", unit="2", room="1201", doc_type="purchase_contract",
                   pages=12, batch="20250301-K7F3", seq=7, of=40)


# --- scanning simulation -------------------------------------------------------------------------


def rasterise(pdf: Path, dpi: int, out: Path) -> list[np.ndarray]:
    """Render every page of a PDF to 8-bit gray with pdftoppm, as a scanner's driver would deliver it."""
    prefix = out / f"page{dpi}"
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf), str(prefix)], check=True, timeout=60)
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(out.glob(f"page{dpi}-*.png"))]


def skew(img: np.ndarray, degrees: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))


def turn(img: np.ndarray, degrees: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(img, -degrees // 90))


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def fax(img: np.ndarray) -> np.ndarray:
    """Fax-like: blurred a little, then hard black and white at a fixed level."""
    gray = cv2.GaussianBlur(img, (3, 3), 0)
    return np.where(gray < 150, 0, 255).astype(np.uint8)


def noise(img: np.ndarray, sd: float = 10.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(np.float32) + rng.normal(0, sd, img.shape), 0, 255).astype(np.uint8)


def as_array(image) -> np.ndarray:
    return np.array(image.convert("L"))


def mm(value: float, img: np.ndarray) -> int:
    """Millimetres on an upright A4 page image to pixels."""
    return round(value * img.shape[1] / PAGE_MM[0])


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[int, np.ndarray]:
    """The printed sheet, rasterised from its PDF at 150, 200 and 300 dpi."""
    out = tmp_path_factory.mktemp("sheets")
    pdf = out / "sheet.pdf"
    assert print_cover_sheets([SHEET], pdf) == 1
    return {dpi: rasterise(pdf, dpi, out)[0] for dpi in (150, 200, 300)}


@pytest.fixture(scope="module")
def documents() -> list[np.ndarray]:
    """First pages of a few synthetic owner-archive documents at 300 dpi (BGR, as the loader gives colour)."""
    fonts = FontBook()
    pages = []
    for n, doc_type in enumerate((DocType.OWNER_REGISTRATION, DocType.ID_CARD, DocType.PURCHASE_CONTRACT,
                                  DocType.HANDOVER_FORM)):
        doc = make_document(doc_type, random.Random(40 + n))
        rgb = np.asarray(render_document(doc, 300, fonts)[0])
        pages.append(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb)
    return pages


# --- the payload ------------------------------------------------------------------------------------------


def test_payload_round_trip_with_awkward_estate_name() -> None:
    sheet = SHEET.model_copy(update={"estate": "金色家园;二期=东%区"})
    text = sheet.payload()
    assert text.startswith("DANGAN/1;")
    assert CoverSheet.from_payload(text) == sheet
    bare = CoverSheet(building="A", unit="1", room="0301", batch="B1")
    assert bare.payload() == "DANGAN/1;b=A;u=1;r=0301;batch=B1"
    assert CoverSheet.from_payload(bare.payload()) == bare


def test_payload_of_a_newer_format_or_another_program_is_refused() -> None:
    with pytest.raises(SheetPayloadError, match="newer dangan"):
        CoverSheet.from_payload("DANGAN/2;b=3;u=2;r=1201;batch=X")
    with pytest.raises(SheetPayloadError) as foreign:
        CoverSheet.from_payload("https://fapiao.example/verify?code=123")
    assert foreign.value.foreign
    with pytest.raises(SheetPayloadError, match="lacks"):
        CoverSheet.from_payload("DANGAN/1;b=3;u=2;batch=X")
    # unknown keys are ignored; an unknown document type is dropped with a warning
    sheet = CoverSheet.from_payload("DANGAN/1;b=3;u=2;r=1201;t=garage_lease;batch=X;colour=red")
    assert sheet.doc_type is None and sheet.warnings


# --- reading scanned sheets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpi", "angle", "rotation", "damage"),
    [
        (150, 3.0, 180, "jpeg40+fax"),
        (150, -5.0, 90, "jpeg40"),
        (200, 2.0, 270, "fax"),
        (300, -3.0, 0, "noise+jpeg40"),
        (300, 4.5, 180, "fax+jpeg40"),
    ],
)
def test_scanned_sheet_reads_back_exactly(
    scans: dict[int, np.ndarray], dpi: int, angle: float, rotation: int, damage: str
) -> None:
    page = turn(skew(scans[dpi], angle), rotation)
    if "noise" in damage:
        page = noise(page)
    if "fax" in damage:
        page = fax(page)
    if "jpeg40" in damage:
        page = jpeg(page, 40)
    assert read_cover_sheet(page) == SHEET
    assert read_cover_sheet(cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)) == SHEET


def test_qr_damaged_by_a_black_bar_is_an_unreadable_sheet(scans: dict[int, np.ndarray]) -> None:
    page = scans[200].copy()
    qr_x0 = PAGE_MM[0] - 15.0 - QR_MM
    # a thick black bar (a strip of tape, a marker) across the middle of the code
    page[mm(50 + QR_MM * 0.3, page) : mm(50 + QR_MM * 0.7, page), mm(qr_x0 - 5, page) : mm(PAGE_MM[0] - 5, page)] = 0
    result = read_cover_sheet(jpeg(turn(page, 180), 60))
    assert isinstance(result, UnreadableSheet)
    assert result.qr_seen


def test_sheet_with_its_code_torn_off_is_still_a_sheet(scans: dict[int, np.ndarray]) -> None:
    page = scans[150].copy()
    qr_x0 = PAGE_MM[0] - 15.0 - QR_MM
    page[mm(45, page) : mm(50 + QR_MM + 5, page), mm(qr_x0 - 6, page) : mm(PAGE_MM[0] - 8, page)] = 255
    result = read_cover_sheet(page)
    assert isinstance(result, UnreadableSheet)
    assert not result.qr_seen


def test_normal_pages_are_not_sheets_and_cost_little(documents: list[np.ndarray]) -> None:
    costs: dict[int, list[float]] = {200: [], 300: []}
    for page in documents:
        for dpi in (300, 200):
            image = page if dpi == 300 else cv2.resize(page, None, fx=2 / 3, fy=2 / 3, interpolation=cv2.INTER_AREA)
            for variant in (image, jpeg(turn(image, 90), 50)):
                start = time.perf_counter()
                assert classify_sheet(variant) is None
                costs[dpi].append(time.perf_counter() - start)
    medians = {dpi: 1000 * float(np.median(v)) for dpi, v in costs.items()}
    print(f"classify_sheet on a normal page: median {medians[200]:.1f} ms at 200 dpi, {medians[300]:.1f} ms at 300 dpi")
    assert max(medians.values()) < 150  # about 10 ms on one core; generous for a busy machine


def test_text_only_fallback_reads_the_printed_fields() -> None:
    text = "档案封面\n" + "\n".join(f"{label}：{value}" for label, value in sheet_text_lines(SHEET))
    sheet = sheet_from_text(text)
    assert sheet is not None
    assert (sheet.estate, sheet.unit_ref, sheet.doc_type, sheet.pages, sheet.batch) == (
        SHEET.estate, SHEET.unit_ref, SHEET.doc_type, SHEET.pages, SHEET.batch)
    assert sheet_from_text("业主入住登记表\n楼栋：3\n单元：2") is None


# --- PATCH-T ------------------------------------------------------------------------------------------------


def _patch_page(widths_mm: tuple[float, ...], dpi: int = 200) -> np.ndarray:
    """A page with one patch pattern (bars of the given widths, 2.03 mm spaces), bars 80 mm long."""
    px = dpi / 25.4
    page = np.full((round(297 * px), round(210 * px)), 255, np.uint8)
    x = 60.0
    for width in widths_mm:
        page[round(40 * px) : round(120 * px), round(x * px) : round((x + width) * px)] = 0
        x += width + 2.03
    return page


def test_patch_t_sheet_is_found_in_any_orientation() -> None:
    page = as_array(render_patch_t_sheet(200))
    for rotation in (0, 90, 180, 270):
        scanned = jpeg(turn(skew(page, 2.5), rotation), 45)
        assert is_patch_t(scanned)
        assert classify_sheet(scanned) == PatchSheet()
        assert read_cover_sheet(scanned) is None  # not a cover sheet
    assert is_patch_t(fax(as_array(render_patch_t_sheet(150))))
    # a single short patch as printed on a label, and other patch codes
    assert is_patch_t(_patch_page((2.03, 5.08, 2.03, 5.08)))
    assert not is_patch_t(_patch_page((5.08, 2.03, 2.03, 5.08)))  # Patch 2
    assert not is_patch_t(_patch_page((5.08, 5.08, 2.03, 2.03)))  # Patch 1


# --- splitting a batch ----------------------------------------------------------------------------------------


def test_batch_is_cut_at_sheets_with_blank_backs_dropped(documents: list[np.ndarray]) -> None:
    rng = np.random.default_rng(5)
    dpi = 150

    def doc(n: int) -> np.ndarray:
        return cv2.resize(documents[n % len(documents)], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)

    def sheet_page(sheet: CoverSheet, angle: float = 0.0, rotation: int = 0) -> np.ndarray:
        return jpeg(turn(skew(as_array(render_cover_sheet(sheet, dpi)), angle), rotation), 60)

    def back(front: np.ndarray) -> np.ndarray:
        return blank_back(front, front.shape[:2], rng)

    a = SHEET.model_copy(update={"building": "3", "room": "1201", "doc_type": None, "pages": 3, "seq": 1, "of": 4})
    b = SHEET.model_copy(update={"building": "3", "room": "1202", "doc_type": "id_card", "pages": 2, "seq": 2,
                                 "of": 4})
    c = SHEET.model_copy(update={"building": "10", "unit": "1", "room": "101", "doc_type": None, "pages": 2,
                                 "seq": 4, "of": 4})
    damaged = sheet_page(SHEET.model_copy(update={"room": "1301", "seq": 3}))
    h = damaged.shape[0] / PAGE_MM[1]
    damaged[round(50 * h + QR_MM * 0.25 * h) : round(50 * h + QR_MM * 0.75 * h), damaged.shape[1] // 2 :] = 0
    patch = jpeg(as_array(render_patch_t_sheet(dpi)), 60)
    sa, sb, sc = sheet_page(a, 2.0), sheet_page(b, -3.0, 180), sheet_page(c, 1.0, 90)

    batch: list[np.ndarray | PageImage] = [
        doc(0), doc(1),                                   # 0-1: before any sheet
        sa, back(sa), doc(2), back(doc(2)), doc(3), doc(0), back(doc(0)),  # 2-8: a, 3 pages
        sb, back(sb), doc(1),                             # 9-11: b expects 2, gets 1
        patch, back(patch), doc(2), doc(3),               # 12-15: PATCH-T, 2 pages
        damaged, back(damaged), doc(0), back(doc(0)), doc(1),  # 16-20: unreadable sheet, 2 pages
        sc, doc(2), back(doc(2)), doc(3), back(doc(3)),   # 21-25: c, 2 pages
    ]
    batch[22] = PageImage(index=0, image=batch[22], dpi=dpi)  # a new file starts here
    segments = split_batch(batch)

    summary = [(s.opened_by, s.sheet_page, s.unit, s.doc_type, s.expected_pages, s.pages) for s in segments]
    assert summary == [
        ("start", None, None, None, None, (0, 1)),
        ("cover_sheet", 2, UnitRef(building="3", unit="2", room="1201"), None, 3, (4, 6, 7)),
        ("cover_sheet", 9, UnitRef(building="3", unit="2", room="1202"), "id_card", 2, (11,)),
        ("patch_t", 12, None, None, None, (14, 15)),
        ("unreadable_sheet", 16, None, None, None, (18, 20)),
        ("cover_sheet", 21, UnitRef(building="10", unit="1", room="101"), None, 2, (22, 24)),
    ]
    assert segments[1].blank_pages == (3, 5, 8)
    assert segments[1].estate == "阳光花园小区"
    problems = batch_problems(segments)
    assert [(p.code, p.page) for p in problems] == [("page_count", 9), ("unreadable_sheet", 16)]
    assert "expected 2 page(s), got 1" in problems[0].message
    assert "page 17" in problems[1].message


def test_batch_without_sheets_is_one_segment_and_sheet_order_gaps_are_reported() -> None:
    blank = np.full((400, 300), 250, np.uint8)
    assert [s.pages for s in split_batch([blank, blank])] == [()]
    one = as_array(render_cover_sheet(SHEET.model_copy(update={"seq": 1}), 100))
    five = as_array(render_cover_sheet(SHEET.model_copy(update={"room": "1205", "seq": 5}), 100))
    segments = split_batch([one, five])
    codes = [p.code for p in batch_problems(segments)]
    assert codes == ["empty_segment", "empty_segment", "sheet_order"]
    assert "sheet(s) 2 to 4 are not in this batch" in batch_problems(segments)[-1].message


# --- printing ---------------------------------------------------------------------------------------------------


def test_csv_rows_print_in_natural_building_unit_room_order(tmp_path: Path) -> None:
    csv_file = tmp_path / "units.csv"
    csv_file.write_text(
        "estate,building,unit,room,doc_type,pages\n"
        "阳光花园,10,1,101,,\n"
        "阳光花园,2,1,1201,居民身份证复印件,2\n"
        "阳光花园,2,1,302,,\n"
        ",2,10,101,,\n"
        "# a comment\n"
        "阳光花园,2,2,101,,\n",
        encoding="utf-8-sig",
    )
    sheets = sheets_from_csv(csv_file, batch="B7", estate="阳光花园")
    assert [str(s.unit_ref) for s in sheets] == ["2-1-302", "2-1-1201", "2-2-101", "2-10-101", "10-1-101"]
    assert [s.seq for s in sheets] == [1, 2, 3, 4, 5] and {s.of for s in sheets} == {5}
    assert sheets[1].doc_type == "id_card" and sheets[1].pages == 2
    assert all(s.estate == "阳光花园" for s in sheets)

    positional = tmp_path / "gbk.csv"
    positional.write_bytes("阳光花园,3,2,1201\n阳光花园,3,2,201\n".encode("gb18030"))
    assert [s.room for s in sheets_from_csv(positional, batch="B7")] == ["201", "1201"]


def test_bad_csv_rows_are_named_by_line(tmp_path: Path) -> None:
    csv_file = tmp_path / "units.csv"
    csv_file.write_text(
        "estate,building,unit,room,doc_type,pages\n"
        "阳光花园,3,2,1201,,\n"
        "阳光花园,,2,1202,,\n"
        "阳光花园,3,2,1203,idcard,\n"
        "阳光花园,3,2,1204,,two\n"
        "阳光花园,3,2\n"
        "阳光花园,3,2,1201,,\n",
        encoding="utf-8",
    )
    with pytest.raises(SheetRequestError) as e:
        sheets_from_csv(csv_file, batch="B7")
    message = e.value.message
    for expected in ("line 3: building is empty", "line 4: unknown document type 'idcard'",
                     "line 5: pages must be a whole number", "line 6: expected at least 4 columns",
                     "line 7: repeats line 2"):
        assert expected in message
    assert e.value.exit_code == ExitCode.USAGE


def test_unit_and_type_are_checked() -> None:
    with pytest.raises(SheetRequestError, match="not a unit"):
        sheet_for_unit("3-2", batch="B1")
    with pytest.raises(SheetRequestError, match="unknown document type"):
        sheet_for_unit("3-2-1201", batch="B1", doc_type="passport")
    sheet = sheet_for_unit("3栋2单元1201室", batch="B1", doc_type=DOC_LABELS["id_card"])
    assert str(sheet.unit_ref) == "3-2-1201" and sheet.doc_type == "id_card"


def test_missing_fonts_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coversheet_print, "listed_fonts", list)
    monkeypatch.setattr(coversheet_print, "_FONT_DIRS", ())
    coversheet_print.cjk_font.cache_clear()
    try:
        with pytest.raises(FontsMissing, match="fonts-noto-cjk"):
            coversheet_print.cjk_font()
    finally:
        coversheet_print.cjk_font.cache_clear()


def test_cli_writes_a_pdf_with_one_page_per_sheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DANGAN_HOME", str(tmp_path / "home"))
    csv_file = tmp_path / "cabinet.csv"
    csv_file.write_text("estate,building,unit,room\n" + "".join(f"阳光花园,3,2,{r}\n" for r in (1202, 201, 1201)),
                        encoding="utf-8")
    out = tmp_path / "sheets.pdf"
    assert cli.main(["coversheets", "--from-csv", str(csv_file), "--batch", "CAB-1", "-o", str(out)]) == 0
    assert "wrote 3 cover sheet(s)" in capsys.readouterr().out
    with pikepdf.open(out) as pdf:
        assert len(pdf.pages) == 3
        width, height = (float(v) for v in pdf.pages[0].mediabox[2:])
        assert abs(width - 595.3) < 1 and abs(height - 841.9) < 1  # A4
    first = rasterise(out, 150, tmp_path)[0]
    sheet = read_cover_sheet(first)
    assert isinstance(sheet, CoverSheet)
    assert (sheet.room, sheet.seq, sheet.of, sheet.batch) == ("201", 1, 3, "CAB-1")

    single = tmp_path / "one.pdf"
    assert cli.main(["coversheets", "--unit", "3-2-1201", "--estate", "阳光花园", "--type", "id_card",
                     "--pages", "2", "-o", str(single)]) == 0
    with pikepdf.open(single) as pdf:
        assert len(pdf.pages) == 1
    assert cli.main(["coversheets", "--unit", "3-2-1201", "--type", "passport", "-o", str(single)]) == ExitCode.USAGE
    assert "unknown document type" in capsys.readouterr().err
    assert cli.main(["coversheets", "--patch-t", "-o", str(tmp_path / "patch.pdf")]) == 0
