"""Digitisation quality of scanned pages, after DA/T 31-2017 (纸质档案数字化规范).

Each page of an ingest batch is measured once by :func:`measure_page`; each
file's process metadata (scanner, software, time, stated resolution and
colour mode) is read by :func:`scan_metadata`. The batch's QA report
(:mod:`flows.qa_report`) shows both to an archive clerk.

What is checked, and the rule behind it (the rules of DA/T 31-2017 as they
are commonly applied, stated plainly):

* resolution: general documents are scanned at no less than 200 dpi (300 dpi
  advised where the text is small, dense or faint). A page below
  :data:`MIN_DPI` is flagged; a page whose resolution is unknown is flagged
  for a person to check the scanner setting;
* skew: a crooked scan is straightened so that no skew is visible. The
  pipeline deskews every page before OCR; the skew still measurable after
  that correction (:data:`MAX_RESIDUAL_SKEW`) is flagged. The skew of the scan
  itself is noted: the archived original keeps it (only the OCR copy is
  straightened);
* completeness: the whole sheet is captured. Ink that touches an edge of the
  image and runs on inward (text cut through, table rules running off) means
  the scan cut the paper off there;
* blank pages: reported (blank backs of duplex scans are normal). A page
  with no line of text but some marks (specks, a punch hole, a lone
  signature or stamp) is flagged: the pipeline files it as blank, so a person
  should make sure nothing was lost;
* colour: pages with red headings, seals or colour pictures are to be
  scanned in colour (24-bit). The page's own colour mode is measured; the
  file's scan mode comes from :func:`scan_metadata`.

Every measurement runs on one small copy of the page (longer side about
:data:`ocr.preprocess.ANALYSIS_SIDE`, made by halving only) with the
pipeline's own blank test and skew search: about 20 ms for a 300-dpi A4 page
and 30 ms for a 200-dpi one, on one core.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import pikepdf
from PIL import Image, ImageSequence
from pydantic import BaseModel, ConfigDict, Field, computed_field

from ocr.grid import shrink
from ocr.preprocess import ANALYSIS_SIDE, deskew, estimate_skew, flatten, ink_mask, is_blank, rotate, to_gray
from ocr.programs import run_program
from schemas.errors import DanganError

Edge = Literal["top", "bottom", "left", "right"]
ColourMode = Literal["colour", "gray", "bitonal"]
Severity = Literal["flag", "note"]

#: Least resolution of a general document scan (dpi).
MIN_DPI = 200.0
#: Largest skew (degrees) allowed to remain after the pipeline's deskew.
MAX_RESIDUAL_SKEW = 1.0
#: Residual skews searched after a deskew, in degrees either way (the pipeline searched 15).
RESIDUAL_SEARCH = 5.0
#: A scan crooked by more than this (degrees) is noted even when the pipeline straightened it.
SCAN_SKEW_NOTE = 1.0
#: Ink reaching this far (mm) inward from an image edge, and touching the edge, is content cut off.
EDGE_DEPTH_MM = 2.0
#: Ink lying along an edge within this distance (mm) of it, and much longer than deep, is a border.
EDGE_STRIP_MM = 8.0
#: A page whose typical level (8-bit) is below this is no paper: a failed scan.
DARK_PAPER = 100
#: Marks smaller than this (mm, longer side) are dust and scanner noise, not content.
MIN_MARK_MM = 0.7
#: Page edges ignored when looking for marks on a blank page (share of each side): scanner borders.
BLANK_EDGE_SHARE = 0.02

EDGE_LABELS: dict[Edge, str] = {"top": "上", "bottom": "下", "left": "左", "right": "右"}
COLOUR_LABELS: dict[ColourMode, str] = {"colour": "彩色", "gray": "灰度", "bitonal": "黑白二值"}

#: Resolutions a file may state and still be believed (dpi), and the largest page side (inches)
#: a stated resolution may imply: phone photos often state 72 dpi for 4000 pixels.
_PLAUSIBLE_DPI = (50.0, 1200.0)
_MAX_PLAUSIBLE_SIDE_IN = 24.0
#: A PDF page's main image covers at least this share of the page (as in ocr.load).
_MAIN_IMAGE_SHARE = 0.2
#: Colour: pixels whose channels spread by more than this, on more than this share of the page.
_COLOUR_SPREAD = 32
_COLOUR_SHARE = 0.0005
#: Bitonal: fewer than this share of pixels are neither near black nor near white.
_BITONAL_MIDTONES = 0.005
#: Scanner backing: darker than the paper by this many 8-bit levels.
_BACKING_CONTRAST = 25
#: Seconds allowed for listing a PDF's images.
_PDFIMAGES_TIMEOUT = 60.0
#: At most this many frames of a TIFF are looked at for their resolution.
_MAX_FRAMES = 5000


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class QualityIssue(_Frozen):
    """One finding on a page: a stable code, ``flag`` (a person must look) or ``note``, and Chinese text."""

    code: Literal[
        "low_resolution", "unknown_resolution", "residual_skew", "scan_skew",
        "cut_edge", "near_blank", "blank", "bitonal", "dark_page",
    ]
    severity: Severity
    message: str


class PageQuality(_Frozen):
    """Digitisation quality of one page, as :func:`measure_page` measured it."""

    #: Resolution of the page as scanned (dpi); None when unknown.
    dpi: float | None
    low_resolution: bool
    width_px: int
    height_px: int
    #: Colour mode of the page image: colour content, gray, or black and white only.
    colour_mode: ColourMode
    #: Skew of the page as scanned (degrees, counter-clockwise positive); None on blank and dark pages.
    scan_skew_deg: float | None = None
    #: Skew the pipeline corrected (degrees), as given to :func:`measure_page`.
    deskew_deg: float | None = None
    #: Skew still measurable after that correction (degrees); None on blank and dark pages.
    residual_skew_deg: float | None = None
    #: Image edges that cut content off, in the order top, bottom, left, right (upright page).
    cut_edges: list[Edge] = Field(default_factory=list)
    #: No visible mark at all: paper and scanner noise.
    blank: bool = False
    #: No line of text, but some marks: specks, a punch hole, a lone signature or stamp.
    near_blank: bool = False
    #: Share of the page covered by ink (0..1), on the analysis copy.
    ink_share: float = 0.0
    issues: list[QualityIssue] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def flagged(self) -> bool:
        """True when a person must look at the page (any issue of severity ``flag``)."""
        return any(issue.severity == "flag" for issue in self.issues)


class ScanMetadata(_Frozen):
    """Process metadata of one scanned file, as far as the file records it. Empty fields: not recorded."""

    #: The file's kind as read: "pdf", "tiff", "jpeg", "png", ... ("" when unreadable).
    kind: str = ""
    #: PDF Producer and Creator (the scanning or conversion software).
    producer: str = ""
    creator: str = ""
    #: Scanner or camera maker and model (TIFF / EXIF Make and Model).
    make: str = ""
    model: str = ""
    #: Software tag of TIFF / EXIF / PNG.
    software: str = ""
    #: When the file says it was made (PDF CreationDate, EXIF DateTimeOriginal or DateTime, TIFF DateTime).
    created: datetime | None = None
    #: Resolution the file states for each page (dpi), None where it states none that is believable.
    page_dpi: list[float | None] = Field(default_factory=list)
    #: Colour modes of the scanned images in the file (distinct, in page order): "24 位彩色", "8 位灰度" ...
    colour_modes: list[str] = Field(default_factory=list)

    @property
    def device(self) -> str:
        """The scanner as a person would name it: make and model, else the creating software."""
        model = self.model
        if self.make and not model.lower().startswith(self.make.lower()):
            model = f"{self.make} {model}".strip()
        return model or self.creator or self.software or self.producer

    @property
    def program(self) -> str:
        """The software that wrote the file (software tag, PDF producer / creator), without repeats."""
        seen: list[str] = []
        for value in (self.software, self.creator, self.producer):
            if value and value not in seen:
                seen.append(value)
        return " / ".join(seen)


# --- pages ---------------------------------------------------------------------------------------


def measure_page(
    image: np.ndarray, *, dpi: float | None, deskew_angle: float | None = None, rotation: int = 0,
) -> PageQuality:
    """Measure one page as scanned: resolution, skew left after deskew, cut-off edges, blankness, colour.

    ``image`` is the page as rasterised (:func:`ocr.load.rasterise`: 8-bit gray
    or BGR), before the pipeline's clean-up. ``dpi`` is the resolution the page
    was scanned at (prefer the file's own statement, :attr:`ScanMetadata.page_dpi`;
    None when unknown). ``rotation`` is the clockwise quarter turn the pipeline
    applied to make the page upright and ``deskew_angle`` the skew it then
    corrected (``PageImage.rotation`` and ``PageImage.skew`` after
    :func:`ocr.preprocess.preprocess`; None when the page is not deskewed):
    the residual skew is measured on the small copy turned and straightened the
    same way, and edges are named on the upright page.
    """
    if dpi is not None and not (math.isfinite(dpi) and dpi > 0):
        dpi = None
    height, width = image.shape[:2]
    # Halving only (OpenCV's fast path): the copy's longer side ends between 0.75 and 1.5 times ANALYSIS_SIDE.
    small, _ = shrink(image, ANALYSIS_SIDE / max(height, width))
    colour_mode = _colour_mode(image, small)
    gray = rotate(to_gray(small), rotation)
    flat = flatten(gray, kernel=max(3, max(gray.shape) // 40 | 1))
    # Millimetres to pixels of the analysis copy: from the resolution, else as if the page were A4.
    px_per_mm = (max(flat.shape) / max(height, width)) * dpi / 25.4 if dpi else max(flat.shape) / 297.0

    mask = ink_mask(flat)
    # A page darker than any paper (open lid, failed exposure) holds no ink the tests can see: not "blank".
    dark = float(np.median(gray[:: max(1, gray.shape[0] // 100), :: max(1, gray.shape[1] // 100)])) < DARK_PAPER
    no_text = is_blank(flat) and not dark
    marks = _marks(mask, px_per_mm) if no_text else -1
    blank, near_blank = no_text and marks == 0, no_text and marks > 0

    scan_skew = residual = None
    if not (no_text or dark):
        if deskew_angle:
            # What is left after the correction is small unless the correction failed: a narrower search.
            residual = estimate_skew(deskew(flat, deskew_angle), max_angle=RESIDUAL_SEARCH)
            scan_skew = round(deskew_angle + residual, 2)
        else:
            residual = scan_skew = estimate_skew(flat)
    cut = _cut_edges(mask, gray, px_per_mm)
    low = dpi is not None and dpi < MIN_DPI
    issues = _issues(dpi=dpi, low=low, scan_skew=scan_skew, deskew_angle=deskew_angle, residual=residual,
                     cut=cut, blank=blank, near_blank=near_blank, colour_mode=colour_mode, dark=dark)
    return PageQuality(
        dpi=round(float(dpi), 1) if dpi else None, low_resolution=low, width_px=width, height_px=height,
        colour_mode=colour_mode, scan_skew_deg=scan_skew, deskew_deg=deskew_angle, residual_skew_deg=residual,
        cut_edges=cut, blank=blank, near_blank=near_blank,
        ink_share=round(float(np.count_nonzero(mask)) / max(mask.size, 1), 5), issues=issues,
    )


def _colour_mode(image: np.ndarray, small: np.ndarray) -> ColourMode:
    """Colour when the page holds colour, bitonal when its pixels are all near black or white, else gray."""
    if small.ndim == 3 and small.shape[2] >= 3:
        b, g, r = cv2.split(small)[:3]
        spread = cv2.subtract(cv2.max(cv2.max(b, g), r), cv2.min(cv2.min(b, g), r))
        if np.count_nonzero(spread > _COLOUR_SPREAD) > _COLOUR_SHARE * spread.size:
            return "colour"
        gray = image[::5, ::5, 0] if image.ndim == 3 else image[::5, ::5]
    else:
        gray = image[::5, ::5]
    # Bitonal is judged on full-resolution pixels: any downscale invents grays along every stroke.
    midtones = np.count_nonzero((gray > 16) & (gray < 239))
    return "bitonal" if midtones < _BITONAL_MIDTONES * gray.size else "gray"


def _marks(mask: np.ndarray, px_per_mm: float) -> int:
    """Marks larger than dust on a page without text (outside the scanner-border strips)."""
    height, width = mask.shape
    my, mx = round(height * BLANK_EDGE_SHARE), round(width * BLANK_EDGE_SHARE)
    inner = mask[my : height - my, mx : width - mx]
    _, _, stats, _ = cv2.connectedComponentsWithStats(inner, connectivity=8)
    sides = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT])
    return int(np.count_nonzero(sides >= max(2.0, MIN_MARK_MM * px_per_mm)))


def _cut_edges(mask: np.ndarray, gray: np.ndarray, px_per_mm: float) -> list[Edge]:
    """Edges of the image where ink touches the border and runs on inward: the paper went on past them.

    ``mask`` is the ink of the flattened analysis copy, ``gray`` the same copy
    before flattening. A connected piece of ink counts when it touches the
    outermost pixels of an edge and reaches at least :data:`EDGE_DEPTH_MM`
    inward. Not counted:

    * ink inside the scanner's backing where it shows past a crooked or
      small sheet (dark areas wider than any stroke, reaching the border);
    * a strip lying along an edge, within :data:`EDGE_STRIP_MM` of it and much
      longer than deep (a scanner or photocopier border, the thin end of the
      backing's wedge), also where it runs into a corner;
    * a large solid dark area.
    """
    height, width = mask.shape
    if not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()):
        return []  # nothing touches the border: the usual case, and cheap
    mask = cv2.bitwise_and(mask, cv2.bitwise_not(_backing(gray, px_per_mm)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return []
    w, h, area = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    min_depth = max(3.0, EDGE_DEPTH_MM * px_per_mm)
    # Per edge: the labels of its outermost pixels and how deep every piece reaches inward from it.
    edges: dict[Edge, tuple[np.ndarray, np.ndarray]] = {
        "top": (labels[0, :], h),
        "bottom": (labels[height - 1, :], h),
        "left": (labels[:, 0], w),
        "right": (labels[:, width - 1], w),
    }
    contacts = {edge: np.bincount(border, minlength=count) for edge, (border, _) in edges.items()}
    ignored = (area >= (10 * px_per_mm) ** 2) & (area >= 0.4 * w * h)  # solid dark areas
    # Lying along an edge, close to it: a border, whatever corner it runs into.
    strip = EDGE_STRIP_MM * px_per_mm
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    near_top_or_bottom = (y0 + h <= strip) | (y0 >= height - strip)
    near_left_or_right = (x0 + w <= strip) | (x0 >= width - strip)
    ignored |= (near_top_or_bottom & (w >= 3 * h)) | (near_left_or_right & (h >= 3 * w))
    cut: list[Edge] = []
    for edge, (_, depth) in edges.items():
        hit = (contacts[edge] > 0) & (depth >= min_depth) & ~ignored
        hit[0] = False  # label 0 is the paper
        if np.any(hit):
            cut.append(edge)
    return cut


def _backing(gray: np.ndarray, px_per_mm: float) -> np.ndarray:
    """Mask of the scanner backing showing on the page: dark areas wider than strokes that reach the border."""
    sample = gray[:: max(1, gray.shape[0] // 200), :: max(1, gray.shape[1] // 200)]
    paper = float(np.median(sample))
    dark = np.where(gray < paper - _BACKING_CONTRAST, 255, 0).astype(np.uint8)
    size = max(3, round(2.5 * px_per_mm)) | 1
    wide = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(wide, connectivity=8)
    if count <= 1:
        return wide
    height, width = gray.shape
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    x1, y1 = x0 + stats[:, cv2.CC_STAT_WIDTH], y0 + stats[:, cv2.CC_STAT_HEIGHT]
    outer = (x0 <= 0) | (y0 <= 0) | (x1 >= width) | (y1 >= height)
    outer[0] = False
    backing = np.where(outer[labels], 255, 0).astype(np.uint8)
    # Grown by the opening's size, so the thin ends of a wedge and its blurred rim go with it.
    return cv2.dilate(backing, cv2.getStructuringElement(cv2.MORPH_RECT, (size + 2, size + 2)))


def _issues(
    *, dpi: float | None, low: bool, scan_skew: float | None, deskew_angle: float | None,
    residual: float | None, cut: list[Edge], blank: bool, near_blank: bool, colour_mode: ColourMode, dark: bool,
) -> list[QualityIssue]:
    issues: list[QualityIssue] = []
    if dark:
        issues.append(QualityIssue(
            code="dark_page", severity="flag",
            message="页面整体过暗（扫描盖板未盖好或曝光不足），请重新扫描",
        ))
    if dpi is None:
        issues.append(QualityIssue(
            code="unknown_resolution", severity="flag",
            message=f"文件未记录扫描分辨率，请核对扫描设置（应不低于 {MIN_DPI:.0f} dpi）",
        ))
    elif low:
        issues.append(QualityIssue(
            code="low_resolution", severity="flag",
            message=f"分辨率 {dpi:.0f} dpi，低于 {MIN_DPI:.0f} dpi，请重新扫描（文字小或模糊时用 300 dpi）",
        ))
    if residual is not None and abs(residual) > MAX_RESIDUAL_SKEW:
        issues.append(QualityIssue(
            code="residual_skew", severity="flag",
            message=f"纠偏后仍倾斜 {abs(residual):.1f}°（不应超过 {MAX_RESIDUAL_SKEW:g}°），请核对或重新扫描",
        ))
    elif deskew_angle and scan_skew is not None and abs(scan_skew) > SCAN_SKEW_NOTE:
        issues.append(QualityIssue(
            code="scan_skew", severity="note",
            message=f"扫描件倾斜 {abs(scan_skew):.1f}°，识别前已自动纠偏（存档原件未改动）",
        ))
    if cut:
        sides = "、".join(EDGE_LABELS[e] for e in cut)
        issues.append(QualityIssue(
            code="cut_edge", severity="flag",
            message=f"{sides}边内容被裁切（文字或表格线延伸出图像边缘），请核对原件是否扫描完整",
        ))
    if near_blank:
        issues.append(QualityIssue(
            code="near_blank", severity="flag",
            message="近空白页：没有成行文字，只有零星痕迹（污点、装订孔、签名或印章），请确认没有漏掉内容",
        ))
    elif blank:
        issues.append(QualityIssue(code="blank", severity="note", message="空白页"))
    if colour_mode == "bitonal" and not (blank or dark):
        issues.append(QualityIssue(
            code="bitonal", severity="note",
            message="黑白二值图像：有红头、印章或照片的页面应彩色扫描",
        ))
    return issues


# --- files ---------------------------------------------------------------------------------------

_EXIF_MAKE, _EXIF_MODEL, _EXIF_SOFTWARE, _EXIF_DATETIME = 271, 272, 305, 306
_EXIF_IFD = 0x8769
_EXIF_DATETIME_ORIGINAL = 36867
_PIL_KINDS = {"TIFF": "tiff", "JPEG": "jpeg", "PNG": "png", "BMP": "bmp", "WEBP": "webp", "MPO": "jpeg"}
_PIL_COLOUR = {
    "1": "1 位黑白", "L": "8 位灰度", "LA": "8 位灰度", "I;16": "16 位灰度", "I;16B": "16 位灰度",
    "I;16L": "16 位灰度", "I": "32 位灰度", "F": "32 位灰度", "P": "8 位调色板", "PA": "8 位调色板",
    "RGB": "24 位彩色", "RGBA": "24 位彩色", "RGBX": "24 位彩色", "YCbCr": "24 位彩色", "CMYK": "32 位彩色 (CMYK)",
    "LAB": "24 位彩色",
}
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8", b"II*\x00", b"MM\x00*", b"BM", b"RIFF")
_PDF_DATE = re.compile(
    r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(?:([Zz+\-])(\d{2})?'?(\d{2})?'?)?"
)


def scan_metadata(path: Path) -> ScanMetadata:
    """Read a scanned file's process metadata: scanner, software, creation time, resolution, colour mode.

    PDFs: Producer, Creator and CreationDate of the document information (XMP
    where that is empty), the EXIF Make / Model of a JPEG image inside where
    present, and per page the resolution and colour of its main image (as
    poppler's ``pdfimages`` lists them). TIFF: Make, Model, Software,
    DateTime tags and each frame's resolution. JPEG: EXIF Make, Model,
    Software, DateTimeOriginal. Never raises: a file that cannot be read gives
    empty fields.
    """
    try:
        with path.open("rb") as f:
            head = f.read(1024)
        # A PDF may start after some junk (readers look in the first kilobyte); images never hold the marker.
        if b"%PDF-" in head and not head.startswith(_IMAGE_MAGIC):
            return _pdf_metadata(path)
        return _image_metadata(path)
    except Exception:  # noqa: BLE001 - metadata is best effort: a damaged file still gets its report line
        return ScanMetadata()


def _pdf_metadata(path: Path) -> ScanMetadata:
    producer = creator = created_text = ""
    make = model = ""
    sizes: list[tuple[float, float]] = []
    with pikepdf.open(path) as pdf:
        info = pdf.docinfo
        producer, creator = _pdf_text(info.get("/Producer")), _pdf_text(info.get("/Creator"))
        created_text = _pdf_text(info.get("/CreationDate"))
        if not (producer and creator and created_text):
            xmp = _xmp(pdf)
            producer = producer or xmp.get("pdf:Producer", "")
            creator = creator or xmp.get("xmp:CreatorTool", "")
            created_text = created_text or xmp.get("xmp:CreateDate", "")
        for page in pdf.pages:
            sizes.append(_page_inches(page))
        if pdf.pages:
            make, model = _embedded_jpeg_camera(pdf.pages[0])
    page_dpi, colours = _pdf_images(path, sizes)
    created = _parse_pdf_date(created_text) or _parse_iso(created_text)
    return ScanMetadata(kind="pdf", producer=producer, creator=creator, make=make, model=model,
                        created=created, page_dpi=page_dpi, colour_modes=colours)


def _pdf_text(value: object) -> str:
    if value is None:
        return ""
    try:
        return _clean(str(value))
    except (ValueError, UnicodeError, TypeError):
        return ""


def _xmp(pdf: pikepdf.Pdf) -> dict[str, str]:
    try:
        meta = pdf.open_metadata()
        return {key: _clean(str(meta.get(key, "") or "")) for key in ("pdf:Producer", "xmp:CreatorTool",
                                                                       "xmp:CreateDate")}
    except Exception:  # noqa: BLE001 - broken XMP is common and never matters
        return {}


def _page_inches(page: pikepdf.Page) -> tuple[float, float]:
    try:
        x0, y0, x1, y1 = (float(v) for v in page.cropbox)
        unit = float(page.obj.get("/UserUnit", 1))
        return abs(x1 - x0) * unit / 72.0, abs(y1 - y0) * unit / 72.0
    except (ValueError, TypeError, KeyError, AttributeError, pikepdf.PdfError):
        return 0.0, 0.0


def _embedded_jpeg_camera(page: pikepdf.Page) -> tuple[str, str]:
    """Make and model from the EXIF of the first JPEG image drawn on a page (scanners rarely write one)."""
    try:
        for image in list(page.get_images().values())[:4]:
            if image.get("/Filter") != pikepdf.Name.DCTDecode:
                continue
            with Image.open(BytesIO(image.read_raw_bytes())) as im:  # the header only: nothing is decoded
                exif = im.getexif()
                make, model = _clean(str(exif.get(_EXIF_MAKE, ""))), _clean(str(exif.get(_EXIF_MODEL, "")))
                if make or model:
                    return make, model
    except Exception:  # noqa: BLE001 - a broken embedded image must not cost the file's other metadata
        return "", ""
    return "", ""


def _pdf_images(path: Path, sizes: list[tuple[float, float]]) -> tuple[list[float | None], list[str]]:
    """Per page the resolution of its main image (None: no scanned image), and the images' colour modes."""
    page_dpi: list[float | None] = [None] * len(sizes)
    try:
        result = run_program(["pdfimages", "-list", str(path)], timeout=_PDFIMAGES_TIMEOUT,
                             purpose="listing the images of the PDF")
    except DanganError:
        return page_dpi, []
    if not result.ok:
        return page_dpi, []
    colours: list[str] = []
    best: dict[int, float] = {}
    for page_no, width, height, colour, comps, bpc, x_ppi, y_ppi in _pdfimages_rows(result.stdout):
        if not 1 <= page_no <= len(sizes):
            continue
        page_w, page_h = sizes[page_no - 1]
        covered = (width / x_ppi) * (height / y_ppi)
        if covered < _MAIN_IMAGE_SHARE * page_w * page_h:
            continue
        # The lower of the two: a fax at 204 x 98 dpi is a 98-dpi scan down the page.
        best[page_no] = max(best.get(page_no, 0.0), min(x_ppi, y_ppi))
        mode = _pdf_colour(colour, comps, bpc)
        if mode not in colours:
            colours.append(mode)
    for page_no, value in best.items():
        page_dpi[page_no - 1] = round(value, 1)
    return page_dpi, colours


def _pdfimages_rows(output: bytes) -> Iterator[tuple[int, int, int, str, int, int, float, float]]:
    """Rows of ``pdfimages -list``: page, width, height, color, comp, bpc, x-ppi, y-ppi (masks skipped)."""
    for line in output.decode("utf-8", "replace").splitlines():
        cols = line.split()
        if len(cols) < 14 or not cols[0].isdigit() or cols[2] not in ("image", "stencil"):
            continue
        try:
            row = (int(cols[0]), int(cols[3]), int(cols[4]), cols[5], int(cols[6]), int(cols[7]),
                   float(cols[12]), float(cols[13]))
        except ValueError:
            continue
        if row[1] > 0 and row[2] > 0 and all(math.isfinite(v) and v > 0 for v in row[6:]):
            yield row


def _pdf_colour(colour: str, comps: int, bpc: int) -> str:
    if comps == 1 and bpc == 1:
        return "1 位黑白"
    if colour == "index":
        return f"{bpc} 位调色板"
    if comps == 1:
        return f"{bpc} 位灰度"
    return f"{comps * bpc} 位彩色" + (" (CMYK)" if comps == 4 else "")


def _image_metadata(path: Path) -> ScanMetadata:
    with Image.open(path) as im:
        kind = _PIL_KINDS.get(im.format or "", (im.format or "").lower())
        exif = im.getexif()
        make, model = _clean(str(exif.get(_EXIF_MAKE, ""))), _clean(str(exif.get(_EXIF_MODEL, "")))
        software = _clean(str(exif.get(_EXIF_SOFTWARE, "") or im.info.get("Software", "") or ""))
        original = ""
        try:
            original = str(exif.get_ifd(_EXIF_IFD).get(_EXIF_DATETIME_ORIGINAL, "") or "")
        except (KeyError, ValueError, TypeError, OSError):
            original = ""
        created = (_parse_exif_date(original) or _parse_exif_date(str(exif.get(_EXIF_DATETIME, "") or ""))
                   or _parse_iso(str(im.info.get("Creation Time", "") or "")))
        page_dpi: list[float | None] = []
        colours: list[str] = []
        frames = ImageSequence.Iterator(im) if kind == "tiff" else iter([im])
        for count, frame in enumerate(frames):
            if count >= _MAX_FRAMES:
                break
            page_dpi.append(_stated_dpi(frame.info.get("dpi"), frame.size))
            mode = _PIL_COLOUR.get(frame.mode, frame.mode)
            if mode not in colours:
                colours.append(mode)
    return ScanMetadata(kind=kind, make=make, model=model, software=software, created=created,
                        page_dpi=page_dpi, colour_modes=colours)


def _stated_dpi(value: object, size: tuple[int, int]) -> float | None:
    """The resolution an image file states, when believable (not a 72-dpi placeholder on a photo)."""
    try:
        x_dpi, y_dpi = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    low, high = _PLAUSIBLE_DPI
    if not (low <= x_dpi <= high and low <= y_dpi <= high):
        return None
    if max(size[0] / x_dpi, size[1] / y_dpi) > _MAX_PLAUSIBLE_SIDE_IN:
        return None
    return round(min(x_dpi, y_dpi), 1)


def _clean(text: str) -> str:
    """A metadata string on one line, without NULs and padding, at most 200 characters."""
    text = " ".join(text.replace("\x00", " ").split())
    return text[:200]


def _parse_pdf_date(text: str) -> datetime | None:
    """A PDF date (``D:20240301120000+08'00'``) as an aware or naive datetime; None when it is not one."""
    match = _PDF_DATE.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, sign, tz_h, tz_m = match.groups()
    try:
        moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                          int(second or 0))
        if sign in ("Z", "z"):
            return moment.replace(tzinfo=UTC)
        if sign:
            offset = timedelta(hours=int(tz_h or 0), minutes=int(tz_m or 0))
            return moment.replace(tzinfo=timezone(offset if sign == "+" else -offset))
        return moment
    except ValueError:
        return None


def _parse_exif_date(text: str) -> datetime | None:
    try:
        return datetime.strptime(text.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _parse_iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None
