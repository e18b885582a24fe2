"""Pages drawn from the decrypted original, in memory only, with the viewer's watermark burned in (水印).

The original arrives decrypted as bytes and never touches the disk: a PDF page
is drawn by poppler's ``pdftoppm`` reading the PDF from its standard input and
writing the PNG to its standard output (poppler keeps a PDF read from stdin in
memory); an image file is decoded by Pillow from memory. The page is then
turned and straightened exactly as ingest did before reading it (the
rotation and skew the index recorded), so the boxes of the extracted fields,
which are in the pixels of that straightened page, fall on the same places;
they are given as fractions of the page (:func:`box_fractions`).

The watermark (viewer, time, purpose) is drawn into the pixels of every page
and crop before it is encoded, so a screenshot or a saved image carries it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import pikepdf
from PIL import Image, ImageDraw, ImageFont, ImageOps, ImageSequence

from ocr.coversheet_print import FontsMissing, cjk_font
from ocr.preprocess import deskew_matrix, rotate
from ocr.programs import run_program
from schemas.errors import CorruptFile, NotFound
from schemas.models import FileKind

#: Longer side (pixels) of a page as the document page shows it.
PAGE_SIDE = 1600
#: Longer side a page is drawn at before a field is cut out of it for review (small print stays legible).
CROP_PAGE_SIDE = 2600
#: Height of the band below a page that names viewer, time and purpose, as a share of the page's width.
BAND_SHARE = 0.03
#: Margin around a field's box in a crop, in units of the box's height.
CROP_PAD = 0.6
#: A line of text is about this tall (pixels) on an A4 page 1654 pixels wide (200 dpi): margins of tall boxes.
CROP_LINE_PX = 60
#: Seconds ``pdftoppm`` may take for one page.
DRAW_TIMEOUT = 60.0


@dataclass(frozen=True)
class PageGeometry:
    """How ingest saw a page: the turn and skew it corrected and the size of the straightened page."""

    rotation: int
    skew: float
    width: int
    height: int


@dataclass(frozen=True)
class Watermark:
    """What every drawn page carries: who looks, when, and why (查阅目的)."""

    viewer: str
    at: str
    purpose: str

    @property
    def line(self) -> str:
        """One line of the watermark."""
        return f"{self.viewer} · {self.at} · {self.purpose}"


def box_fractions(box: Sequence[int], geometry: PageGeometry) -> tuple[float, float, float, float]:
    """A field's box as fractions (left, top, width, height) of its straightened page, for outlining it."""
    x0, y0, x1, y1 = box
    w, h = max(1, geometry.width), max(1, geometry.height)
    left, top = max(0.0, x0 / w), max(0.0, y0 / h)
    return left, top, max(0.0, min(1.0, x1 / w) - left), max(0.0, min(1.0, y1 / h) - top)


def draw_page(original: bytes, kind: str, index: int, geometry: PageGeometry, *, side: int = PAGE_SIDE) -> np.ndarray:
    """Page ``index`` (0-based) of a decrypted original, upright and straightened as ingest read it (BGR)."""
    if kind == FileKind.PDF:
        image = _pdf_page(original, index, side)
    else:
        image = _image_page(original, index, side)
    image = rotate(image, geometry.rotation)
    if abs(geometry.skew) >= 0.1:
        matrix, size = deskew_matrix(image.shape, geometry.skew)
        image = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=(255, 255, 255))
    return _fit(image, side)


def redact(image: np.ndarray, boxes: Sequence[Sequence[int]], geometry: PageGeometry) -> np.ndarray:
    """``image`` with every box (in the straightened page's pixels) painted over: ID numbers and phones hidden."""
    out = image.copy()
    sx, sy = out.shape[1] / max(1, geometry.width), out.shape[0] / max(1, geometry.height)
    for x0, y0, x1, y1 in boxes:
        pad = max(2, round((y1 - y0) * sy * 0.1))
        cv2.rectangle(out, (math.floor(x0 * sx) - pad, math.floor(y0 * sy) - pad),
                      (math.ceil(x1 * sx) + pad, math.ceil(y1 * sy) + pad), (150, 150, 150), thickness=-1)
    return out


def crop_box(page: np.ndarray, box: Sequence[int], geometry: PageGeometry, *, pad: float = CROP_PAD) -> np.ndarray:
    """The region of a field's ``box`` (in the straightened page's pixels) cut from ``page`` with a margin.

    The margin is measured in text heights (a tall box, such as a seal, gets no more than a line's worth)
    and is wider left and right, so the label printed before the value is in the crop too.
    """
    sx, sy = page.shape[1] / max(1, geometry.width), page.shape[0] / max(1, geometry.height)
    x0, y0, x1, y1 = box
    line = min(max(1, y1 - y0), CROP_LINE_PX * geometry.width / 1654)
    margin_y, margin_x = pad * line, 3 * pad * line
    left, top = max(0, math.floor((x0 - margin_x) * sx)), max(0, math.floor((y0 - margin_y) * sy))
    right = min(page.shape[1], math.ceil((x1 + margin_x) * sx))
    bottom = min(page.shape[0], math.ceil((y1 + margin_y) * sy))
    if right - left < 4 or bottom - top < 4:
        raise NotFound("The place this value was read from lies outside its page.")
    crop = page[top:bottom, left:right].copy()
    # Outline the value itself inside the margin.
    cv2.rectangle(crop, (round(x0 * sx) - left, round(y0 * sy) - top), (round(x1 * sx) - left, round(y1 * sy) - top),
                  (0, 0, 220), max(1, round(line * sy / 25)))
    return crop


def watermarked_png(image: np.ndarray, mark: Watermark) -> bytes:
    """``image`` with the watermark drawn into its pixels and a band below naming viewer, time and purpose (PNG)."""
    rgb = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).convert("RGBA")
    w, h = rgb.size
    overlay = Image.new("RGBA", rgb.size, (0, 0, 0, 0))
    _tile(overlay, mark, w, h)
    marked = Image.alpha_composite(rgb, overlay).convert("RGB")
    band = band_height(w)
    out = Image.new("RGB", (w, h + band), (255, 255, 255))
    out.paste(marked, (0, 0))
    _banner(out, mark, band, h)
    buf = io.BytesIO()
    out.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


# --- drawing the original -------------------------------------------------------------------------------


def _pdf_page(original: bytes, index: int, side: int) -> np.ndarray:
    try:
        with pikepdf.open(io.BytesIO(original)) as pdf:
            if not 0 <= index < len(pdf.pages):
                raise NotFound(f"The original has no page {index + 1}.")
            page = pdf.pages[index]
            x0, y0, x1, y1 = (float(v) for v in page.cropbox)
            unit = float(page.obj.get("/UserUnit", 1))
    except pikepdf.PdfError as e:
        raise CorruptFile("the stored original cannot be opened as a PDF any more") from e
    longest_in = max(abs(x1 - x0), abs(y1 - y0)) * unit / 72.0
    dpi = max(20, min(600, round(side / max(longest_in, 0.5))))
    image = _pdftoppm(original, index, dpi)
    if image is None:  # a damaged PDF that ingest drew from a repaired copy: repair it the same way, in memory
        repaired = io.BytesIO()
        with pikepdf.open(io.BytesIO(original)) as pdf:
            pdf.save(repaired)
        image = _pdftoppm(repaired.getvalue(), index, dpi)
    if image is None:
        raise CorruptFile(f"page {index + 1} of the stored original cannot be drawn")
    return image


def _pdftoppm(pdf: bytes, index: int, dpi: int) -> np.ndarray | None:
    """One page drawn by pdftoppm, the PDF on its standard input and the PNG on its standard output."""
    result = run_program(["pdftoppm", "-r", str(dpi), "-f", str(index + 1), "-l", str(index + 1), "-cropbox",
                          "-png", "-"], stdin=pdf, timeout=DRAW_TIMEOUT,
                         purpose=f"drawing page {index + 1} for the viewer")
    if not result.ok or not result.stdout:
        return None
    image: np.ndarray | None = cv2.imdecode(np.frombuffer(result.stdout, np.uint8), cv2.IMREAD_COLOR)
    return image


def _image_page(original: bytes, index: int, side: int) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(original)) as im:
            for i, frame in enumerate(ImageSequence.Iterator(im)):
                if i == index:
                    upright = ImageOps.exif_transpose(frame).convert("RGB")
                    upright.thumbnail((side * 2, side * 2))
                    return cv2.cvtColor(np.asarray(upright), cv2.COLOR_RGB2BGR)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise CorruptFile("the stored original cannot be decoded as an image any more") from e
    raise NotFound(f"The original has no page {index + 1}.")


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    scale = side / max(image.shape[:2])
    if scale >= 1.0:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


# --- the watermark --------------------------------------------------------------------------------------


@cache
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        f = cjk_font()
    except FontsMissing:  # the page is still marked, in Latin letters only
        return ImageFont.load_default(px)
    return ImageFont.truetype(str(f.path), px, index=f.index)


def _tile(overlay: Image.Image, mark: Watermark, w: int, h: int) -> None:
    """The watermark line repeated in rows across the page at 30 degrees, faint enough to read the page through."""
    px = max(14, round(min(w, h) / 36))
    font = _font(px)
    side = math.ceil(math.hypot(w, h))
    sheet = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(sheet)
    left, _, right, _ = draw.textbbox((0, 0), mark.line, font=font)
    step_x, step_y = int(right - left) + px * 4, px * 7
    for row, y in enumerate(range(0, side, step_y)):
        for x in range(-(row % 2) * step_x // 2, side, step_x):
            draw.text((x, y), mark.line, font=font, fill=(200, 30, 30, 64))
    sheet = sheet.rotate(30, resample=Image.Resampling.BICUBIC)
    x0, y0 = (side - w) // 2, (side - h) // 2
    overlay.alpha_composite(sheet.crop((x0, y0, x0 + w, y0 + h)))


def band_height(width: int) -> int:
    """Height of the band below an image of ``width`` pixels (a share of the width; at least 24 pixels)."""
    return max(24, round(width * BAND_SHARE))


def _banner(out: Image.Image, mark: Watermark, band: int, top: int) -> None:
    """A plain line in the band below the page: 查阅人, time and purpose, readable at a glance."""
    text = f"查阅人 {mark.viewer}  时间 {mark.at}  目的 {mark.purpose}"
    px = max(8, band // 2)
    probe = ImageDraw.Draw(out)
    while px > 8 and probe.textlength(text, font=_font(px)) > out.width - px:
        px -= 1  # a narrow crop: a smaller font, the whole line
    ImageDraw.Draw(out).text((px // 2, top + (band - px) // 2), text, font=_font(px), fill=(170, 20, 20))
