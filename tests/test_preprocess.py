"""OpenCV preprocessing: blank pages, orientation, deskew and background, on rendered and real scans."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pdf2image import convert_from_path

from ocr import marks
from ocr import preprocess as pp
from ocr.engine_rapid import RapidOcrEngine
from ocr.engine_tesseract import TesseractEngine
from ocr.engines import OcrEngine
from schemas.models import PageImage
from tests.synth.items import Page, Stamp, Text
from tests.synth.render import FontBook, render_page
from tests.test_engines import FORM, ROTATE, render_lines, squeeze

LINES = [
    "业主入住登记表", *FORM, "入住日期：2021年5月18日", "紧急联系人：李娜 紧急联系电话：13987654321",
    "本人承诺以上信息真实有效，如有变更将及时通知物业服务中心。",
    "The owner agrees to the property management rules.",
]


@pytest.fixture(scope="module")
def rapid() -> RapidOcrEngine:
    return RapidOcrEngine()


@pytest.fixture(scope="module")
def form() -> np.ndarray:
    """A4 form page at 200 dpi."""
    return render_lines(LINES, dpi=200, pt=11)


class FixedOrientation:
    """Fake engine for the timing test: answers orientation instantly."""

    name = "fixed"

    def detect_orientation(self, image: np.ndarray) -> int:
        return 0


# --- degradations ---


def tilt(gray: np.ndarray, degrees: float) -> np.ndarray:
    """Turn the page content ``degrees`` counter-clockwise (as a skewed scan), white corners."""
    height, width = gray.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(gray, matrix, (width, height), borderValue=255)


def shade(gray: np.ndarray, low: float = 0.5) -> np.ndarray:
    """Photocopy-like shading: brightness falls from one corner to the other."""
    height, width = gray.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    factor = low + (1 - low) * (0.5 * xx / width + 0.5 * (1 - yy / height))
    return np.clip(gray * factor, 0, 255).astype(np.uint8)


def noise(gray: np.ndarray, sigma: float = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(gray + rng.normal(0, sigma, gray.shape), 0, 255).astype(np.uint8)


def specks(gray: np.ndarray, count: int = 8, seed: int = 1) -> np.ndarray:
    """A few dark specks of dust, 0.5-1.5 mm at 300 dpi."""
    rng = np.random.default_rng(seed)
    out = gray.copy()
    height, width = gray.shape
    for _ in range(count):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(out, centre, int(rng.integers(3, 9)), int(rng.integers(0, 80)), -1)
    return out


def salt_and_pepper(gray: np.ndarray, share: float = 0.002, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = gray.copy()
    draw = rng.random(gray.shape)
    out[draw < share / 2] = 0
    out[draw > 1 - share / 2] = 255
    return out


def blank_a4(dpi: int = 300) -> np.ndarray:
    return np.full((round(11.69 * dpi), round(8.27 * dpi)), 255, np.uint8)


# --- grayscale ---


def test_to_gray_accepts_gray_bgr_and_bgra() -> None:
    gray = np.full((10, 12), 200, np.uint8)
    assert pp.to_gray(gray) is gray
    assert pp.to_gray(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)).shape == (10, 12)
    assert pp.to_gray(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)).shape == (10, 12)
    assert pp.to_gray(gray[:, :, None]).shape == (10, 12)
    deep = pp.to_gray(np.array([[0, 1000], [2000, 4000]], np.uint16))
    assert deep.dtype == np.uint8 and deep.max() == 255 and deep.min() == 0
    assert pp.to_bgr(gray).shape == (10, 12, 3)


# --- blank pages ---


@pytest.mark.parametrize(
    "make",
    [
        lambda: blank_a4(),
        lambda: noise(blank_a4()),
        lambda: noise(shade(blank_a4(), 0.45)),
        lambda: specks(noise(shade(blank_a4()))),
        lambda: salt_and_pepper(specks(noise(blank_a4()), count=30)),
        lambda: noise((blank_a4() * 0.75).astype(np.uint8)),  # gray photocopy paper
        lambda: _with_scanner_border(noise(blank_a4())),
        lambda: cv2.resize(specks(noise(shade(blank_a4()))), None, fx=0.5, fy=0.5),  # 150 dpi
    ],
    ids=["white", "noise", "shading", "specks", "salt-pepper", "gray-paper", "scanner-border", "150dpi"],
)
def test_scanned_blank_pages_are_blank(make) -> None:
    assert pp.is_blank(make())


def _with_scanner_border(gray: np.ndarray) -> np.ndarray:
    out = gray.copy()
    out[:, :40] = 30
    out[:60, :] = 50
    return out


@pytest.mark.parametrize(
    "lines",
    [
        ["本人承诺以上信息真实有效"],
        ["业主签字：王伟", "日期：2021年5月18日"],
        ["以下空白", "业主签字：王伟", "日期：2021年5月18日"],
    ],
    ids=["one-line", "two-lines", "three-lines"],
)
def test_sparse_text_pages_are_not_blank(lines: list[str]) -> None:
    page = render_lines(lines, dpi=300, pt=10, top_in=6)
    assert not pp.is_blank(noise(shade(page)))
    assert not pp.is_blank(specks(page))
    faded = (150 + page / 255 * 85).astype(np.uint8)  # gray ink 150 on paper 235
    assert not pp.is_blank(noise(faded, 8))


def test_preprocess_marks_blank_page_and_skips_the_rest(rapid: RapidOcrEngine) -> None:
    scan = cv2.cvtColor(specks(noise(shade(blank_a4(200)))), cv2.COLOR_GRAY2BGR)
    page = PageImage(index=2, image=scan, dpi=200)
    out = pp.preprocess(page, engine=rapid)
    assert out.blank and out.rotation == 0 and out.skew == 0.0 and out.index == 2
    assert out.image.ndim == 2


# --- deskew ---


@pytest.mark.parametrize("degrees", [-10.0, -5.0, -2.5, 0.0, 5.0, 10.0])
def test_skew_is_estimated_within_0_7_degree(form: np.ndarray, degrees: float) -> None:
    skewed = noise(tilt(form, degrees))
    estimate = pp.estimate_skew(skewed)
    assert estimate == pytest.approx(degrees, abs=0.7)
    straight = pp.deskew(skewed, estimate)
    assert abs(pp.estimate_skew(straight)) <= 0.7


def test_deskew_grows_the_canvas_with_white_corners(form: np.ndarray) -> None:
    straight = pp.deskew(form, 10.0)
    assert straight.shape[0] > form.shape[0] and straight.shape[1] > form.shape[1]
    assert straight[0, 0] == 255 and straight[-1, -1] == 255
    assert pp.deskew(form, 0.05) is form


def test_skew_of_a_page_without_ink_is_zero() -> None:
    assert pp.estimate_skew(noise(blank_a4(100))) == 0.0


@pytest.mark.parametrize("degrees", [-5.0, 10.0])
def test_preprocess_straightens_skewed_page_for_ocr(
    rapid: RapidOcrEngine, form: np.ndarray, degrees: float
) -> None:
    page = PageImage(index=0, image=noise(shade(tilt(form, degrees))), dpi=200)
    out = pp.preprocess(page, engine=rapid)
    assert not out.blank and out.rotation == 0
    assert out.skew == pytest.approx(degrees, abs=0.7)
    assert abs(pp.estimate_skew(out.image)) <= 0.7
    text = squeeze(rapid.recognize(out).text)
    assert "110101199003077578" in text and "13812345678" in text


# --- orientation ---


@pytest.mark.parametrize("turned", [90, 180, 270])
def test_preprocess_turns_page_upright(rapid: RapidOcrEngine, form: np.ndarray, turned: int) -> None:
    page = PageImage(index=0, image=noise(cv2.rotate(form, ROTATE[turned])), dpi=200)
    out = pp.preprocess(page, engine=rapid)
    assert out.rotation == (360 - turned) % 360
    assert out.image.shape[:2] == form.shape[:2]
    lines = [squeeze(ln.text) for ln in rapid.recognize(out).lines]
    assert lines[0] == "业主入住登记表" and "业主姓名：王伟" in lines


def test_preprocess_keeps_rotation_already_applied(rapid: RapidOcrEngine, form: np.ndarray) -> None:
    page = PageImage(index=0, image=cv2.rotate(form, cv2.ROTATE_180), dpi=200, rotation=90)
    assert pp.preprocess(page, engine=rapid).rotation == 270


def test_upside_down_page_with_tesseract(form: np.ndarray) -> None:
    engine = TesseractEngine(timeout=60)
    page = PageImage(index=0, image=cv2.rotate(form, cv2.ROTATE_180), dpi=200)
    out = pp.preprocess(page, engine=engine)
    assert out.rotation == 180
    assert "110101199003077578" in squeeze(engine.recognize(out).text)


def test_rotate_rejects_odd_angles(form: np.ndarray) -> None:
    assert pp.rotate(form, 0) is form
    assert pp.rotate(form, 450).shape == form.shape[::-1]
    with pytest.raises(ValueError):
        pp.rotate(form, 45)


# --- background ---


def test_normalize_background_flattens_shading(form: np.ndarray) -> None:
    shaded = noise(shade(form, 0.45))
    flat = pp.normalize_background(shaded)
    paper = form == 255
    assert shaded[paper].std() > 20
    assert flat[paper].std() < 8 and np.median(flat[paper]) >= 245
    assert np.median(flat[form < 60]) < 90, "ink stays dark"


def test_normalize_background_lifts_gray_photocopy() -> None:
    copy = (70 + render_lines(FORM, dpi=200) / 255 * 130).astype(np.uint8)  # ink 70, paper 200
    flat = pp.normalize_background(copy, denoise=False)
    assert np.median(flat[copy > 190]) >= 250


def test_remove_rule_lines_keeps_the_text() -> None:
    page = render_lines(["业主姓名 王伟"], dpi=200)
    ruled = page.copy()
    cv2.rectangle(ruled, (100, 150), (1500, 300), 0, 3)
    cleaned = pp.remove_rule_lines(ruled)
    assert cleaned[150, 800] == 255 and cleaned[225, 1500] == 255, "rules are gone"
    assert (cleaned < 128).sum() == pytest.approx((page < 128).sum(), rel=0.1), "text is kept"


# --- seals and tables ---

SEAL_NAME = "深圳市万科物业服务有限公司"


def sealed_form(dpi: int) -> np.ndarray:
    """BGR A4 page: a ruled 3 x 3 table (top row merged), text, and a seal over the signature line."""
    items = [Text(20, 30, "房屋交接验收表", 18), Text(25, 56, "业主姓名", 11), Text(75, 56, "王伟", 11),
             Text(25, 68, "联系电话", 11), Text(75, 68, "13812345678", 11), Text(20, 200, "物业服务中心（盖章）：", 12)]
    page = cv2.cvtColor(np.asarray(render_page(Page((*items, Stamp(110, 200, 19, SEAL_NAME))), dpi, FontBook())),
                        cv2.COLOR_RGB2BGR)
    px = dpi / 25.4
    for y in (40, 50, 62, 74):
        cv2.line(page, (round(20 * px), round(y * px)), (round(190 * px), round(y * px)), (20, 20, 20), 2)
    for x in (20, 70, 130, 190):
        top = 40 if x in (20, 190) else 50
        cv2.line(page, (round(x * px), round(top * px)), (round(x * px), round(74 * px)), (20, 20, 20), 2)
    return page


def tilt_colour(image: np.ndarray, degrees: float) -> np.ndarray:
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), borderValue=(255, 255, 255))


def test_preprocess_finds_table_cells_and_reads_the_seal_of_a_turned_page(rapid: RapidOcrEngine) -> None:
    dpi = 200
    upright = sealed_form(dpi)
    scan = tilt_colour(cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE), 2.0)
    out = pp.preprocess(PageImage(index=0, image=scan, dpi=dpi), engine=rapid)
    assert out.rotation == 90 and out.skew == pytest.approx(2.0, abs=0.5)
    assert out.image.ndim == 2
    assert sorted((c.row, c.col, c.row_span, c.col_span) for c in out.cells) == [
        (0, 0, 1, 3), (1, 0, 1, 1), (1, 1, 1, 1), (1, 2, 1, 1), (2, 0, 1, 1), (2, 1, 1, 1), (2, 2, 1, 1)
    ]
    (box,) = out.seal_boxes
    grown = ((out.image.shape[1] - upright.shape[1]) / 2, (out.image.shape[0] - upright.shape[0]) / 2)
    centre = ((box[0] + box[2]) / 2 - grown[0], (box[1] + box[3]) / 2 - grown[1])
    assert centre == pytest.approx((110 * dpi / 25.4, 200 * dpi / 25.4), abs=3 * dpi / 25.4)
    assert (box[2] - box[0]) == pytest.approx(38 * dpi / 25.4, rel=0.1)
    assert [s.text for s in marks.read_seals(out, rapid)] == [SEAL_NAME]
    seal_area = out.image[box[1] : box[3], box[0] : box[2]]
    assert (seal_area < 128).mean() < 0.02, "the seal is off the page sent to OCR"


def test_gray_copy_of_a_sealed_form_gives_the_seal_by_its_ring(rapid: RapidOcrEngine) -> None:
    gray = cv2.cvtColor(sealed_form(200), cv2.COLOR_BGR2GRAY)
    out = pp.preprocess(PageImage(index=0, image=gray, dpi=200), engine=FixedOrientation())  # type: ignore[arg-type]
    assert len(out.cells) == 7
    assert [s.text for s in marks.read_seals(out, rapid)] == [SEAL_NAME]
    (box,) = out.seal_boxes
    assert (out.image[box[1] : box[3], box[0] : box[2]] < 128).mean() < 0.02, "the copied seal is lifted"


# --- speed ---


def test_preprocess_of_a4_300dpi_is_fast() -> None:
    page = PageImage(index=0, image=noise(shade(tilt(render_lines(LINES, dpi=300, pt=11), 3.0))), dpi=300)
    engine: OcrEngine = FixedOrientation()  # type: ignore[assignment]
    pp.preprocess(page, engine=engine)
    start = time.perf_counter()
    out = pp.preprocess(page, engine=engine)
    elapsed = time.perf_counter() - start
    assert out.skew == pytest.approx(3.0, abs=0.7)
    assert elapsed < 1.0, f"{elapsed:.2f} s (target 0.25 s on an idle core)"


def test_preprocess_of_a_sealed_colour_form_is_fast() -> None:
    page = PageImage(index=0, image=tilt_colour(sealed_form(300), 1.5), dpi=300)
    engine: OcrEngine = FixedOrientation()  # type: ignore[assignment]
    pp.preprocess(page, engine=engine)
    start = time.perf_counter()
    out = pp.preprocess(page, engine=engine)
    elapsed = time.perf_counter() - start
    assert len(out.seal_strips) == 1 and len(out.cells) == 7
    assert elapsed < 1.2, f"{elapsed:.2f} s (about 0.2 s on an idle core)"


# --- real-world scans ---


@pytest.mark.integration
def test_real_chinese_photo_upside_down_is_turned_upright(rapid: RapidOcrEngine, realworld_dir: Path) -> None:
    image = cv2.imread(str(realworld_dir / "paddleocr__det_180.jpg"))
    assert image is not None
    page = PageImage(index=0, image=image, dpi=150)
    out = pp.preprocess(page, engine=rapid)
    assert out.rotation == 180
    upright = rapid.recognize(out)
    flipped = rapid.recognize(PageImage(index=0, image=pp.rotate(out.image, 180), dpi=150))
    assert len(upright.text) > len(flipped.text) or upright.mean_confidence > flipped.mean_confidence


@pytest.mark.integration
@pytest.mark.parametrize("engine_name", ["rapidocr", "tesseract"])
def test_cardinal_pages_are_turned_upright(
    engine_name: str, rapid: RapidOcrEngine, realworld_dir: Path, tmp_path: Path
) -> None:
    engine: OcrEngine = rapid if engine_name == "rapidocr" else TesseractEngine(timeout=60)
    images = convert_from_path(realworld_dir / "ocrmypdf__cardinal.pdf", dpi=100, timeout=60,
                               output_folder=tmp_path, grayscale=True)
    assert len(images) == 4
    rotations = []
    for index, image in enumerate(images):
        out = pp.preprocess(PageImage(index=index, image=np.asarray(image), dpi=100), engine=engine)
        rotations.append(out.rotation)
        assert out.image.shape[0] > out.image.shape[1], "upright letter page is portrait"
        if engine_name == "rapidocr":  # read the heading only: the dense page takes seconds
            heading = out.image[: out.image.shape[0] // 6]
            text = rapid.recognize(PageImage(index=index, image=heading, dpi=100)).text
            assert "SequenceRecorder" in text.replace(" ", "")  # PP-OCRv4 may drop English spaces
    assert rotations == [0, 270, 180, 90]
