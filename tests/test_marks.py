"""Marks that are not text: red seals and thumbprints, seal rim text, scanner marks, page-number marks."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr import marks
from ocr.engine_factory import make_engine
from ocr.engines import OcrEngine
from ocr.preprocess import to_gray
from schemas.models import OcrLine, OcrPage, OcrWord, PageImage
from schemas.settings import Settings
from tests.synth.items import Page, Stamp, Text
from tests.synth.render import FontBook, render_page
from tests.test_engines import cjk_font_file, squeeze

SEAL_NAME = "深圳市万科物业服务有限公司"
DATE = "2021年5月18日"
BLUE = (120, 40, 25)  # BGR of blue ballpoint ink
SEAL_RED = (215, 35, 40)  # RGB, as tests.synth draws seals


@pytest.fixture(scope="module")
def ppocr() -> OcrEngine:
    return make_engine("rapidocr", Settings())


@pytest.fixture(scope="module")
def fonts() -> FontBook:
    return FontBook()


def mm(dpi: int, value: float) -> int:
    return round(value * dpi / 25.4)


def bgr(image: Image.Image) -> np.ndarray:
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


def sealed_date_page(fonts: FontBook, *, dpi: int, dx: float, dy: float) -> np.ndarray:
    """A4 page: a date line with a company seal stamped over it, offset (dx, dy) mm from the date."""
    items = (
        Text(20, 40, "乙方（盖章）：", 12),
        Text(20, 80, f"签订日期：{DATE}", 12),
        Stamp(65 + dx, 80 + dy, 19, SEAL_NAME, "合同专用章"),
    )
    return bgr(render_page(Page(items), dpi, fonts))


def turned_seal_page(fonts: FontBook, *, dpi: int, degrees: float, stretch: float = 1.0) -> np.ndarray:
    """A page with black and blue text and a seal turned by ``degrees`` (stretched sideways into an oval)."""
    seal = render_page(Page((Stamp(105, 148, 19, SEAL_NAME),)), dpi, fonts)
    half = mm(dpi, 24)
    cx, cy = mm(dpi, 105), mm(dpi, 148)
    patch = bgr(seal)[cy - half : cy + half, cx - half : cx + half]
    patch = cv2.warpAffine(patch, cv2.getRotationMatrix2D((half, half), degrees, 1.0), (2 * half, 2 * half),
                           borderValue=(255, 255, 255))
    if stretch != 1.0:
        patch = cv2.resize(patch, (round(2 * half * stretch), 2 * half), interpolation=cv2.INTER_AREA)
    text = Page((Text(20, 140, "甲方：深圳市万科物业服务有限公司", 12),
                 Text(20, 152, "业主签字：王伟", 12, color=(25, 40, 120))))
    page = bgr(render_page(text, dpi, fonts)).astype(np.float32)
    h, w = patch.shape[:2]
    y0, x0 = mm(dpi, 148) - h // 2, mm(dpi, 80) - w // 2
    page[y0 : y0 + h, x0 : x0 + w] *= patch / 255.0  # ink multiplies onto the page
    return page.astype(np.uint8)


def read_seals(engine: OcrEngine, image: np.ndarray, dpi: int) -> list[str]:
    """Separate, find, unwrap and read the seals of a BGR page; the cleaned names."""
    _, red = marks.separate_red_ink(image, dpi)
    assert red is not None
    seals = marks.find_seals(red.layer, dpi=dpi * red.scale)
    words = engine.recognize_crops([marks.unwrap_seal(red.layer, s) for s in seals])
    found = (marks.seal_text(w, (0, 0, 1, 1)) for w in words)
    return [s.text for s in found if s is not None]


# --- colour separation ---


def test_gray_page_is_left_alone() -> None:
    gray = np.full((300, 200), 240, np.uint8)
    out, red = marks.separate_red_ink(gray, 200)
    assert out is gray and red is None


@pytest.mark.parametrize(("dx", "dy"), [(-10, -12), (-10, 8), (10, -5), (20, 0)])
def test_date_under_seal_reads_after_separation(ppocr: OcrEngine, fonts: FontBook, dx: float, dy: float) -> None:
    dpi = 200
    page = sealed_date_page(fonts, dpi=dpi, dx=dx, dy=dy)
    crop = (slice(mm(dpi, 50), mm(dpi, 110)), slice(0, mm(dpi, 120)))
    plain = squeeze(ppocr.recognize(PageImage(index=0, image=to_gray(page)[crop], dpi=dpi)).text)
    gray, red = marks.separate_red_ink(page, dpi)
    separated = squeeze(ppocr.recognize(PageImage(index=0, image=gray[crop], dpi=dpi)).text)
    assert red is not None
    assert DATE not in plain, "the seal hides the date in a plain gray copy"
    assert f"签订日期：{DATE}" in separated
    assert "合同专用章" not in separated and "有限公司" not in separated, "the seal's own text is gone"


def test_black_and_blue_ink_under_a_seal_stay_dark() -> None:
    dpi = 300
    page = np.full((mm(dpi, 80), mm(dpi, 80), 3), 250, np.uint8)
    cv2.rectangle(page, (mm(dpi, 10), mm(dpi, 30)), (mm(dpi, 70), mm(dpi, 31)), (20, 20, 20), -1)
    cv2.rectangle(page, (mm(dpi, 10), mm(dpi, 45)), (mm(dpi, 70), mm(dpi, 46)), BLUE, -1)
    seal = np.full_like(page, 255)
    cv2.circle(seal, (mm(dpi, 40), mm(dpi, 40)), mm(dpi, 19), SEAL_RED[::-1], mm(dpi, 1.2))
    cv2.circle(seal, (mm(dpi, 40), mm(dpi, 40)), mm(dpi, 6), SEAL_RED[::-1], -1)
    inked = (page.astype(np.float32) * seal / 255).astype(np.uint8)
    gray, red = marks.separate_red_ink(inked, dpi)
    assert red is not None
    ring = (mm(dpi, 40), mm(dpi, 40) - mm(dpi, 19))  # (x, y) on the ring, away from both strokes
    assert gray[ring[1], ring[0]] >= 230, "seal ink lifted to paper"
    assert gray[mm(dpi, 40), mm(dpi, 40) - mm(dpi, 3)] >= 230, "the seal's solid centre too"
    black = gray[mm(dpi, 30) : mm(dpi, 31), mm(dpi, 36) : mm(dpi, 44)]  # crosses the solid centre
    blue = gray[mm(dpi, 45) : mm(dpi, 46), mm(dpi, 10) : mm(dpi, 70)]  # crosses the ring twice
    assert black.max() < 80 and blue.max() < 110, "black and blue strokes stay dark, under the seal too"


@pytest.mark.parametrize("tint", ["yellowed", "warm", "jpeg"])
def test_no_red_is_found_on_tinted_pages_without_seals(fonts: FontBook, tint: str) -> None:
    dpi = 200
    items = (Text(20, 40, "业主姓名：王伟", 12), Text(20, 55, "联系电话：13812345678", 12, color=(25, 40, 120)),
             Text(20, 70, "本人承诺以上信息真实有效。", 12, color=(140, 60, 40)))
    page = bgr(render_page(Page(items), dpi, fonts)).astype(np.float32)
    if tint == "yellowed":
        page *= np.array([0.78, 0.92, 0.97])
    elif tint == "warm":  # phone photo: warm cast and light falloff
        page *= np.array([0.8, 0.9, 1.0]) * np.linspace(1.0, 0.75, page.shape[1])[None, :, None]
    image = page.clip(0, 255).astype(np.uint8)
    if tint == "jpeg":
        image = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 30])[1], cv2.IMREAD_COLOR)
    gray, red = marks.separate_red_ink(image, dpi)
    assert red is None
    assert np.array_equal(gray, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))


def test_red_heading_and_small_red_marks_keep_their_ink(fonts: FontBook) -> None:
    dpi = 200
    items = (Text(105, 30, "深圳市万科物业服务有限公司文件", 20, align="center", color=SEAL_RED),
             Text(20, 60, "正文内容", 12), Stamp(120, 150, 19, SEAL_NAME))
    page = bgr(render_page(Page(items), dpi, fonts))
    gray, red = marks.separate_red_ink(page, dpi)
    assert red is not None, "the seal is taken off"
    heading = gray[mm(dpi, 25) : mm(dpi, 35)]
    assert (heading < 128).sum() == pytest.approx((to_gray(page)[mm(dpi, 25) : mm(dpi, 35)] < 128).sum(), rel=0.05)
    seal = gray[mm(dpi, 130) : mm(dpi, 170), mm(dpi, 100) : mm(dpi, 140)]
    assert (seal < 160).sum() < 0.002 * seal.size


def test_thumbprint_comes_off_but_is_no_seal() -> None:
    dpi = 300
    page = np.full((mm(dpi, 60), mm(dpi, 60), 3), 248, np.uint8)
    cv2.putText(page, "Wang Wei", (mm(dpi, 12), mm(dpi, 32)), cv2.FONT_HERSHEY_SIMPLEX, 2.0, BLUE, 6)
    print_layer = np.full_like(page, 255)
    centre, axes = (mm(dpi, 30), mm(dpi, 30)), (mm(dpi, 7), mm(dpi, 9))
    cv2.ellipse(print_layer, centre, axes, 20, 0, 360, (60, 60, 200), -1)
    for k in range(2, 16):  # ridges: pale lines across the print
        cv2.ellipse(print_layer, centre, (k * axes[0] // 16, k * axes[1] // 16), 20, 0, 360, (170, 170, 240), 3)
    inked = (page.astype(np.float32) * print_layer / 255).astype(np.uint8)
    gray, red = marks.separate_red_ink(inked, dpi)
    assert red is not None
    assert marks.find_seals(red.layer, dpi=dpi * red.scale) == []
    blob = gray[centre[1] - axes[1] : centre[1] + axes[1], centre[0] - axes[0] : centre[0] + axes[0]]
    signature = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)[centre[1] - axes[1] : centre[1] + axes[1],
                                                       centre[0] - axes[0] : centre[0] + axes[0]]
    assert (blob < 128).sum() == pytest.approx((signature < 128).sum(), rel=0.15), "only the signature is left"


# --- seals ---


@pytest.mark.parametrize(
    ("dpi", "degrees", "stretch"),
    [(300, 0, 1.0), (200, 0, 1.0), (300, 15, 1.0), (200, -20, 1.0), (300, 0, 1.3)],
    ids=["300dpi", "200dpi", "turned-15", "turned-minus-20", "oval"],
)
def test_seal_rim_text_is_read_from_the_strip(
    ppocr: OcrEngine, fonts: FontBook, dpi: int, degrees: float, stretch: float
) -> None:
    page = turned_seal_page(fonts, dpi=dpi, degrees=degrees, stretch=stretch)
    assert read_seals(ppocr, page, dpi) == [SEAL_NAME]


def test_strip_is_level_and_reads_left_to_right(fonts: FontBook) -> None:
    dpi = 300
    _, red = marks.separate_red_ink(turned_seal_page(fonts, dpi=dpi, degrees=0), dpi)
    assert red is not None
    (seal,) = marks.find_seals(red.layer, dpi=dpi * red.scale)
    assert np.mean(seal.axes) / (dpi * red.scale / 25.4) == pytest.approx(19, abs=1)
    strip = marks.unwrap_seal(red.layer, seal)
    height, width = strip.shape
    assert width > 6 * height, "one line of text"
    ink_rows = np.flatnonzero((strip < 128).sum(axis=1) > 0.05 * width)
    assert len(ink_rows) > 0.5 * height, "characters stand on a level base line"


@pytest.mark.parametrize(
    ("read", "name"),
    [
        ("深圳市万科物业服务有限公司", SEAL_NAME),
        ("宏 深圳市万科物业服务有限公司 壹由", SEAL_NAME),  # label characters at both ends
        ("*深圳市万科物业服务有限公司由", SEAL_NAME),  # star and a stray mark
        ("深圳市万科物业服务有限公司(南山分公司)", "深圳市万科物业服务有限公司（南山分公司"),
        ("翠湖花园物业服务中心", "翠湖花园物业服务中心"),
        ("由", None),
        ("", None),
    ],
)
def test_seal_text_is_cleaned_into_the_name(read: str, name: str | None) -> None:
    seal = marks.seal_text(OcrWord(text=read, box=(0, 0, 10, 10), confidence=0.9), (5, 6, 7, 8))
    assert (seal.text if seal else None) == name
    if seal:
        assert seal.box == (5, 6, 7, 8) and seal.confidence == 0.9


def test_unsure_seal_text_is_dropped() -> None:
    assert marks.seal_text(OcrWord(text=SEAL_NAME, box=(0, 0, 1, 1), confidence=0.3), (0, 0, 1, 1)) is None


@pytest.mark.slow
def test_most_rendered_seals_are_read(ppocr: OcrEngine, fonts: FontBook) -> None:
    """Reading rate over seals turned by -20..20 degrees at 200 and 300 dpi (measured: 38 of 40 exactly)."""
    rng = np.random.default_rng(7)
    names = ["杭州市名匠物业管理有限公司", "北京市合景房地产开发有限公司", "成都市尚品装饰工程有限公司",
             "上海市锦程物业服务有限公司", "武汉市博雅房地产开发有限公司"]
    hits = total = 0
    for name in names:
        for dpi in (200, 300):
            seal = render_page(Page((Stamp(105, 148, float(rng.uniform(17, 21)), name),)), dpi, fonts)
            half = mm(dpi, 24)
            cx, cy = mm(dpi, 105), mm(dpi, 148)
            patch = bgr(seal)[cy - half : cy + half, cx - half : cx + half]
            angle = float(rng.uniform(-20, 20))
            patch = cv2.warpAffine(patch, cv2.getRotationMatrix2D((half, half), angle, 1.0), (2 * half, 2 * half),
                                   borderValue=(255, 255, 255))
            total += 1
            hits += read_seals(ppocr, patch, dpi) == [name]
    assert hits >= 0.85 * total, f"{hits} of {total} seals read exactly"


# --- seals on gray pages ---


def gray_copy(page: np.ndarray) -> np.ndarray:
    """A gray photocopy: luminance, a little grain."""
    gray = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return (gray + np.random.default_rng(5).normal(0, 4, gray.shape)).clip(0, 255).astype(np.uint8)


def test_gray_seal_is_found_by_its_ring_lifted_and_read(ppocr: OcrEngine, fonts: FontBook) -> None:
    dpi = 200
    page = gray_copy(sealed_date_page(fonts, dpi=dpi, dx=-10, dy=-12))
    (found,) = marks.find_gray_seals(page, dpi)
    assert found.seal.centre == pytest.approx((mm(dpi, 55), mm(dpi, 68)), abs=mm(dpi, 1.5))
    assert found.lift is not None, "copied red is lighter than black print"
    lifted, layer, local = marks.lift_gray_seal(page, found, dpi)
    crop = (slice(mm(dpi, 50), mm(dpi, 110)), slice(0, mm(dpi, 120)))
    plain = squeeze(ppocr.recognize(PageImage(index=0, image=page[crop], dpi=dpi)).text)
    after = squeeze(ppocr.recognize(PageImage(index=0, image=lifted[crop], dpi=dpi)).text)
    assert f"签订日期：{DATE}" in after, f"read {after!r} after lifting (before: {plain!r})"
    (word,) = ppocr.recognize_crops([marks.unwrap_seal(layer, local)])
    seal = marks.seal_text(word, found.seal.box())
    assert seal is not None and seal.text == SEAL_NAME


def test_forms_text_and_printed_circles_are_no_gray_seals() -> None:
    dpi = 200
    page = text_page(dpi, [(20, 40, "业主入住登记表"), (20, 60, "本人承诺以上信息真实有效，如有变更将及时通知。")])
    for y in (100, 112, 124, 136):
        cv2.line(page, (mm(dpi, 20), mm(dpi, y)), (mm(dpi, 190), mm(dpi, y)), 0, 2)
    for x in (20, 60, 120, 190):
        cv2.line(page, (mm(dpi, x), mm(dpi, 100)), (mm(dpi, x), mm(dpi, 136)), 0, 2)
    assert marks.find_gray_seals(page, dpi) == []
    cv2.circle(page, (mm(dpi, 105), mm(dpi, 200)), mm(dpi, 20), 0, 3)  # a printed black ring ("盖章处")
    found = marks.find_gray_seals(page, dpi)
    assert all(f.lift is None for f in found), "black print is never lifted"
    assert all(marks.lift_gray_seal(page, f, dpi)[0] is page for f in found)


# --- scanner and paper marks on the image ---


def text_page(dpi: int, lines: list[tuple[float, float, str]], pt: float = 11) -> np.ndarray:
    """A4 gray page with text at (x mm, y mm)."""
    image = Image.new("L", (mm(dpi, 210), mm(dpi, 297)), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(cjk_font_file(), round(pt * dpi / 72))
    for x, y, text in lines:
        draw.text((mm(dpi, x), mm(dpi, y)), text, font=font, fill=0)
    return np.asarray(image).copy()


def test_punch_holes_and_staples_are_painted_out_and_text_is_not() -> None:
    dpi = 300
    page = text_page(dpi, [(20, 40, "业主姓名：王伟"), (8, 150, "O 0 ●"), (25, 100, "联系电话：13812345678")])
    clean = page.copy()
    for y in (108.5, 188.5):  # ISO 838 holes: 6 mm, 80 mm apart, centre 12 mm from the edge
        cv2.circle(page, (mm(dpi, 12), mm(dpi, y)), mm(dpi, 3), 25, -1)
    cv2.line(page, (mm(dpi, 8), mm(dpi, 14)), (mm(dpi, 17), mm(dpi, 8)), 40, mm(dpi, 0.9))  # staple shadow
    out = marks.paint_out_margin_marks(page, dpi)
    assert out[mm(dpi, 108.5), mm(dpi, 12)] == 255 and out[mm(dpi, 188.5), mm(dpi, 12)] == 255
    assert out[mm(dpi, 11), mm(dpi, 12.5)] == 255
    assert np.array_equal(out[:, mm(dpi, 20) :], clean[:, mm(dpi, 20) :]), "text is untouched"
    assert np.array_equal(out[mm(dpi, 145) : mm(dpi, 160)], clean[mm(dpi, 145) : mm(dpi, 160)]), \
        "letters near the edge are no holes"
    assert marks.paint_out_margin_marks(clean, dpi) is clean


def test_faint_crease_is_suppressed_and_print_is_kept() -> None:
    dpi = 200
    page = text_page(dpi, [(20, 60, "本人承诺以上信息真实有效，如有变更将及时通知物业服务中心。")])
    cv2.line(page, (mm(dpi, 20), mm(dpi, 100)), (mm(dpi, 190), mm(dpi, 100)), 0, 2)  # printed rule
    faded = text_page(dpi, [(20, 140, "本人承诺以上信息真实有效，如有变更将及时通知物业服务中心。")])
    page = np.minimum(page, np.where(faded < 128, 190, 255).astype(np.uint8))  # faded text line
    before = page.copy()
    y_crease = mm(dpi, 62)  # a fold through the text line, and across the page
    crease = page.copy()
    crease[y_crease : y_crease + 2, :] = np.minimum(crease[y_crease : y_crease + 2, :], 205)
    out = marks.suppress_creases(crease, dpi)
    band = slice(y_crease, y_crease + 2)
    assert (out[band] >= 250).mean() > 0.8, "the crease is gone"
    assert np.array_equal(out[band] < 128, before[band] < 128), "text strokes crossing it stay"
    assert np.array_equal(out[: y_crease - 2], before[: y_crease - 2])
    assert np.array_equal(out[y_crease + 3 :], before[y_crease + 3 :]), "rule and faded text stay"


# --- marks in the OCR result ---


def ocr_page(*lines: list[tuple[str, tuple[int, int, int, int]]], width: int = 2480, height: int = 3508) -> OcrPage:
    out = []
    for words in lines:
        ws = tuple(OcrWord(text=t, box=b, confidence=0.9) for t, b in words)
        box = (min(b[0] for _, b in words), min(b[1] for _, b in words),
               max(b[2] for _, b in words), max(b[3] for _, b in words))
        out.append(OcrLine(text=" ".join(w.text for w in ws), box=box, confidence=0.9, words=ws))
    return OcrPage(index=0, engine="test", width=width, height=height, lines=tuple(out))


@pytest.mark.parametrize(
    ("words", "number", "total"),
    [
        (["第 3 页 共 8 页"], 3, 8),
        (["第3页", "共8页"], 3, 8),
        (["共8页", "第3页"], 3, 8),
        (["第 3 页"], 3, None),
        (["- 3 -"], 3, None),
        (["— 3 —"], 3, None),
        (["3/8"], 3, 8),
        (["3 / 8"], 3, 8),
        (["Page 3 of 8"], 3, 8),
        (["000123"], None, None),  # a numbering-machine stamp counts the batch, not the document
        (["No.000123"], None, None),
    ],
)
def test_page_number_marks_set_number_and_total(words: list[str], number: int, total: int | None) -> None:
    boxes = [(2000 + 150 * k, 3380, 2140 + 150 * k, 3430) for k in range(len(words))]
    page = ocr_page([("业主签字：王伟", (200, 3000, 700, 3050))], list(zip(words, boxes, strict=True)))
    out = marks.clean_page(page)
    assert (out.page_number, out.page_total) == (number, total)
    assert out.text == "业主签字：王伟"


def test_page_number_footer_keeps_the_rest_of_its_line() -> None:
    page = ocr_page([("深圳市万科物业服务有限公司", (200, 3380, 900, 3430)), ("第3页", (1100, 3380, 1250, 3430)),
                     ("共8页", (1280, 3380, 1430, 3430))])
    out = marks.clean_page(page)
    assert (out.page_number, out.page_total) == (3, 8)
    assert out.text == "深圳市万科物业服务有限公司"
    assert out.lines[0].box == (200, 3380, 900, 3430)


def test_numbers_in_the_body_are_no_page_marks() -> None:
    page = ocr_page([("3/8", (1200, 1700, 1300, 1750))],
                    [("2021", (1200, 3380, 1300, 3430)), ("年", (1310, 3380, 1350, 3430))])
    out = marks.clean_page(page)
    assert out.page_number is None and out.text == page.text


def test_stray_ticks_and_margin_specks_are_dropped() -> None:
    page = ocr_page(
        [("性别", (300, 600, 420, 650)), ("√", (460, 600, 500, 650)), ("男", (510, 600, 560, 650))],
        [("入户门", (300, 800, 450, 850)), ("V", (1500, 800, 1540, 850))],
        [("|", (15, 1500, 25, 1560))],
        [("签", (20, 1700, 70, 1750))],
    )
    out = marks.clean_page(page)
    assert out.text.split("\n") == ["性别 √ 男", "入户门", "签"]
    assert out.lines[0] is page.lines[0], "lines without marks are kept as they are"
    assert page.text.count("\n") == 3, "the input page is unchanged"


def test_small_footer_missed_by_the_page_ocr_is_read_and_gives_the_page_number(ppocr: OcrEngine) -> None:
    dpi = 200
    page = text_page(dpi, [(20, 40, "第六章 商品房质量及保修责任"), (20, 60, "出卖人承诺商品房质量符合国家标准。")])
    footer = text_page(dpi, [(101, 282, "- 3 -")], pt=7.5)
    scan = np.minimum(page, np.where(footer < 255, 150 + footer * 105 // 255, 255).astype(np.uint8))  # faint
    image = PageImage(index=0, image=scan, dpi=dpi)
    (box,) = marks.margin_text_boxes(scan, dpi)
    assert box[1] > mm(dpi, 280) and box[3] < mm(dpi, 288)
    result = ppocr.recognize(image)
    with_marks = marks.add_margin_text(result, image, ppocr)
    assert len(with_marks.lines) == len(result.lines) + (0 if "3" in result.text.split("\n")[-1] else 1)
    clean = marks.clean_page(with_marks)
    assert clean.page_number == 3 and "3" not in clean.text
    assert marks.add_margin_text(with_marks, image, ppocr) == with_marks, "text already read is not read again"


# --- cost ---


def test_separation_and_seals_are_cheap(fonts: FontBook) -> None:
    dpi = 300
    page = sealed_date_page(fonts, dpi=dpi, dx=0, dy=0)
    marks.separate_red_ink(page, dpi)
    start = time.perf_counter()
    _, red = marks.separate_red_ink(page, dpi)
    assert red is not None
    seals = marks.find_seals(red.layer, dpi=dpi * red.scale)
    strips = [marks.unwrap_seal(red.layer, s) for s in seals]
    elapsed = time.perf_counter() - start
    assert len(strips) == 1
    assert elapsed < 0.5, f"{elapsed:.2f} s (about 0.05 s on an idle core)"
