"""Cabinet cover sheets and PATCH-T separator sheets in scanned batches.

A clerk digitising a whole cabinet prints one cover sheet per owner folder (or
per document) with ``dangan coversheets``, puts it on top of the folder and
scans the whole pile as one batch. This module reads those sheets back and
cuts a batch at them.

The sheet (printed by :mod:`ocr.coversheet_print`) carries:

* a black band across the top with the title 档案封面 in white: a shape
  ordinary documents do not have, found even when the QR code is damaged;
* a large QR code (ISO 18004, error correction level Q) holding the payload
  (:meth:`CoverSheet.payload`)::

      DANGAN/1;e=阳光花园;b=3;u=2;r=1201;t=id_card;p=4;batch=20250301-K7F3;n=3/40

  ``DANGAN/<format version>`` first, then ``key=value`` fields separated by
  ``;``: ``e`` estate, ``b`` building, ``u`` unit, ``r`` room, ``t`` document
  type (a name of :data:`schemas.documents.DOC_TYPES`), ``p`` expected pages
  (pages with content: blank backs are not counted), ``batch`` the print
  run's id, ``n`` the sheet's number in the print run and the run's size.
  Optional fields are left out. Values are UTF-8; ``%``, ``;`` and ``=``
  inside a value are percent-encoded. Readers ignore keys they do not know,
  so a field can be added without a new version; a reader refuses a higher
  version than its own;
* the same fields as large labelled text (小区, 楼栋, 单元, 房号, 文件类型,
  页数, 批次), for people and for OCR (:func:`sheet_from_text`) when the QR
  code cannot be read.

PATCH-T sheets (Kodak patch code "T", transfer patch) are the separator
sheets office scanners know: parallel black bars narrow, wide, narrow, wide
(0.08 in = 2.03 mm and 0.20 in = 5.08 mm) with narrow (2.03 mm) spaces,
bars at least 0.75 in long. Read from the other end the pattern is Patch 3
(wide, narrow, wide, narrow); a page's feed direction is not known after
scanning, so both count as a separator.

Every page of a batch passes through :func:`classify_sheet`, so an ordinary
page must be dismissed cheaply: one small copy of the page (longer side
1000 px), one threshold, one contour pass and one connected-components pass.
Only a page showing large QR finder patterns, the title band or patch bars
goes on to QR decoding.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ocr.preprocess import is_blank, small_copy, to_gray
from schemas.documents import DOC_LABELS, DOC_TYPES
from schemas.models import PageImage, UnitRef
from schemas.validators import to_halfwidth

#: Version of the QR payload format written by this code; a reader refuses higher versions.
FORMAT_VERSION = 1
#: First part of every payload, followed by ``/<version>``.
PAYLOAD_MAGIC = "DANGAN"
#: Title printed in the sheet's black band.
SHEET_TITLE = "档案封面"
#: Chinese labels of the printed fields (the order they are printed in).
LABELS: dict[str, str] = {
    "estate": "小区",
    "building": "楼栋",
    "unit": "单元",
    "room": "房号",
    "doc_type": "文件类型",
    "pages": "页数",
    "batch": "批次",
}

#: Geometry of the printed sheet (millimetres on A4), shared with the printer.
PAGE_MM = (210.0, 297.0)
BAND_MM = (15.0, 15.0, 195.0, 40.0)  # x0, y0, x1, y1 of the black title band
QR_MM = 72.0  # side of the QR code without its quiet zone
#: PATCH-T bar and space widths (mm): narrow, wide, narrow, wide with narrow spaces.
PATCH_NARROW_MM = 2.03
PATCH_WIDE_MM = 5.08
PATCH_T_BARS = (PATCH_NARROW_MM, PATCH_WIDE_MM, PATCH_NARROW_MM, PATCH_WIDE_MM)

#: What a print run id (``batch``) may look like.
BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
_PART_RE = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff-]{1,16}$")

# Analysis copy and the sizes (mm) that make a mark plausible.
_SIDE = 1000
_FINDER_MM = (5.5, 16.0)  # 7 modules of the printed code: about 10 mm; documents' own QR codes are smaller
_BAND_SHORT_MM = (14.0, 40.0)
_BAND_LONG_MM = 100.0
_BAR_SHORT_MM = (1.0, 8.0)
_BAR_LONG_MM = 18.0
#: Module size (pixels) the QR crop is scaled to before decoding.
_MODULE_PX = 6.0


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CoverSheet(_Frozen):
    """What one cover sheet says: the owner folder (or document) that follows it in the batch."""

    version: int = FORMAT_VERSION
    estate: str | None = None
    building: str
    unit: str
    room: str
    #: A name of :data:`schemas.documents.DOC_TYPES`, or None for a whole owner folder.
    doc_type: str | None = None
    #: Pages with content expected after the sheet (blank backs not counted), or None.
    pages: int | None = Field(default=None, ge=1, le=9999)
    batch: str
    #: Number of the sheet in its print run and the run's size (``n=3/40``), when printed.
    seq: int | None = Field(default=None, ge=1)
    of: int | None = Field(default=None, ge=1)
    #: Things a reader noticed but could live with (a document type this dangan does not know ...).
    warnings: tuple[str, ...] = ()

    @field_validator("building", "unit", "room")
    @classmethod
    def _unit_part(cls, value: str) -> str:
        value = to_halfwidth(value).strip().upper()
        if not _PART_RE.match(value):
            raise ValueError(f"'{value}' is not a building, unit or room number (digits, letters, at most 16)")
        return value

    @field_validator("estate")
    @classmethod
    def _estate(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = " ".join(value.split())
        if len(value) > 40:
            raise ValueError("the estate name is longer than 40 characters")
        return value or None

    @field_validator("doc_type")
    @classmethod
    def _doc_type(cls, value: str | None) -> str | None:
        if value is not None and value not in DOC_TYPES:
            raise ValueError(f"unknown document type '{value}' (one of: {', '.join(DOC_TYPES)})")
        return value

    @field_validator("batch")
    @classmethod
    def _batch(cls, value: str) -> str:
        if not BATCH_ID.match(value):
            raise ValueError(f"batch id '{value}' must be 1 to 32 letters, digits or '-'")
        return value

    @property
    def unit_ref(self) -> UnitRef:
        """Building / unit / room as a :class:`UnitRef`."""
        return UnitRef(building=self.building, unit=self.unit, room=self.room)

    @property
    def doc_label(self) -> str | None:
        """Chinese label of the document type (身份证复印件 ...), if the sheet names one."""
        return DOC_LABELS.get(self.doc_type) if self.doc_type else None

    def describe(self) -> str:
        """Short plain description for reports: ``阳光花园 3-2-1201 id_card``."""
        parts = [p for p in (self.estate, str(self.unit_ref), self.doc_type) if p]
        return " ".join(parts)

    def payload(self) -> str:
        """The text the sheet's QR code holds (format in the module docstring)."""
        fields: list[tuple[str, str | None]] = [
            ("e", self.estate), ("b", self.building), ("u", self.unit), ("r", self.room),
            ("t", self.doc_type), ("p", str(self.pages) if self.pages else None), ("batch", self.batch),
            ("n", f"{self.seq}/{self.of}" if self.seq and self.of else (str(self.seq) if self.seq else None)),
        ]
        body = ";".join(f"{k}={_escape(v)}" for k, v in fields if v is not None)
        return f"{PAYLOAD_MAGIC}/{self.version};{body}"

    @classmethod
    def from_payload(cls, text: str) -> CoverSheet:
        """Parse a payload; raises :class:`SheetPayloadError` when it is not a readable dangan payload."""
        head, _, body = text.strip().partition(";")
        magic, _, version_text = head.partition("/")
        if magic != PAYLOAD_MAGIC:
            raise SheetPayloadError("not a dangan cover sheet", foreign=True)
        if not version_text.isdigit():
            raise SheetPayloadError(f"damaged payload header '{head[:20]}'")
        version = int(version_text)
        if version > FORMAT_VERSION:
            raise SheetPayloadError(f"printed by a newer dangan (sheet format {version}, this one reads "
                                    f"up to {FORMAT_VERSION}); update dangan or read the printed text")
        fields: dict[str, str] = {}
        for item in body.split(";"):
            key, sep, value = item.partition("=")
            if sep:
                fields[key.strip()] = unquote(value)
        missing = [LABELS[name] for key, name in (("b", "building"), ("u", "unit"), ("r", "room"), ("batch", "batch"))
                   if not fields.get(key)]
        if missing:
            raise SheetPayloadError(f"the payload lacks {', '.join(missing)}")
        warnings: list[str] = []
        doc_type = fields.get("t") or None
        if doc_type is not None and doc_type not in DOC_TYPES:
            warnings.append(f"the sheet names document type '{doc_type}', unknown to this dangan; ignored")
            doc_type = None
        seq, of = _parse_seq(fields.get("n"))
        try:
            return cls(version=version, estate=fields.get("e") or None, building=fields["b"], unit=fields["u"],
                       room=fields["r"], doc_type=doc_type, pages=_int_or_none(fields.get("p")),
                       batch=fields["batch"], seq=seq, of=of, warnings=tuple(warnings))
        except ValueError as e:
            raise SheetPayloadError(f"the payload holds a bad value ({_first_error(e)})") from e


class UnreadableSheet(_Frozen):
    """A page that is clearly a cover sheet but whose QR code could not be read.

    The batch is still cut here; the caller may OCR the page and try
    :func:`sheet_from_text`, or fall back to its own document split.
    """

    reason: str
    #: QR finder patterns were seen (the code is there but damaged), as opposed to only the title band.
    qr_seen: bool = False


class PatchSheet(_Frozen):
    """A PATCH-T separator sheet: the batch is cut here, with no unit information."""

    kind: Literal["patch_t"] = "patch_t"


Sheet = CoverSheet | UnreadableSheet | PatchSheet


class SheetPayloadError(ValueError):
    """A QR payload that is not (or no longer) a readable dangan cover sheet."""

    def __init__(self, message: str, *, foreign: bool = False) -> None:
        super().__init__(message)
        self.foreign = foreign


# --- reading one page ---------------------------------------------------------------------


def read_cover_sheet(image: np.ndarray) -> CoverSheet | UnreadableSheet | None:
    """Read a cover sheet from a page image (8-bit gray or BGR, any of the four orientations).

    Returns the sheet when its QR code decodes to a dangan payload,
    :class:`UnreadableSheet` when the page clearly is a cover sheet (its title
    band, or large QR finder patterns) but the code cannot be read, and None
    for any other page (quickly: see the module docstring).
    """
    sheet = classify_sheet(image, patch=False)
    return None if isinstance(sheet, PatchSheet) else sheet


def is_patch_t(image: np.ndarray) -> bool:
    """Tell whether a page is a PATCH-T separator sheet (in any orientation)."""
    return _patch_t(_find_marks(image))


def classify_sheet(image: np.ndarray, *, patch: bool = True) -> Sheet | None:
    """Cover sheet, unreadable cover sheet, PATCH-T sheet (with ``patch``), or None for any other page."""
    marks = _find_marks(image)
    qr_seen = marks.finder_group is not None
    if not qr_seen and not marks.band:
        return PatchSheet() if patch and _patch_t(marks) else None
    text = _decode(marks)
    if text is not None:
        try:
            return CoverSheet.from_payload(text)
        except SheetPayloadError as e:
            if e.foreign and not marks.band:
                return None  # a document carrying a large QR code of its own
            reason = "its QR code holds something else" if e.foreign else str(e)
            return UnreadableSheet(reason=reason, qr_seen=True)
    if not marks.band and patch and _patch_t(marks):
        return PatchSheet()
    if qr_seen:
        return UnreadableSheet(reason="its QR code is damaged or cannot be decoded", qr_seen=True)
    return UnreadableSheet(reason="its title band is there but the QR code is missing or unreadable")


@dataclass(frozen=True)
class _Finder:
    x: float
    y: float
    size: float


@dataclass(frozen=True)
class _Marks:
    """What the cheap pass found on the analysis copy of a page."""

    gray: np.ndarray  # the full page, 8-bit gray
    scale: float  # analysis copy pixels per page pixel
    ppm: float  # analysis copy pixels per millimetre (the page taken as A4 in either orientation)
    finders: tuple[_Finder, ...]
    finder_group: tuple[_Finder, ...] | None  # two or three finders of one code
    band: bool
    bars: tuple[tuple[tuple[float, float], tuple[float, float], float], ...]  # rotated rects of patch-like bars


def _find_marks(image: np.ndarray) -> _Marks:
    gray = to_gray(image)
    small = small_copy(gray, _SIDE)
    scale = small.shape[0] / gray.shape[0]
    ppm = min(small.shape[:2]) / PAGE_MM[0]
    ink = _ink(small)
    finders = _finders(ink, ppm)
    band, bars = _long_shapes(ink, ppm)
    return _Marks(gray, scale, ppm, finders, _finder_group(finders), band, bars)


def _ink(small: np.ndarray) -> np.ndarray:
    """Binary mask (255 = ink) of the analysis copy: a global threshold between paper and print."""
    sample = small[:: max(1, small.shape[0] // 150), :: max(1, small.shape[1] // 150)]
    paper = float(np.percentile(sample, 90))
    otsu, _ = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    threshold = float(np.clip(otsu, 60.0, max(61.0, paper - 40.0)))
    return np.where(small < threshold, 255, 0).astype(np.uint8)


def _finders(ink: np.ndarray, ppm: float) -> tuple[_Finder, ...]:
    """QR finder patterns of the printed sheet's size: a solid square in a hole in a square ring."""
    contours, hierarchy = cv2.findContours(ink, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return ()
    h = hierarchy[0]
    child = h[:, 2]
    has_child = child >= 0
    grand = np.where(has_child, h[np.maximum(child, 0), 2], -1)
    candidates = np.nonzero(grand >= 0)[0]
    lo, hi = _FINDER_MM[0] * ppm, _FINDER_MM[1] * ppm
    found: list[_Finder] = []
    for i in candidates.tolist():
        x, y, w, hh = cv2.boundingRect(contours[i])
        side = max(w, hh)
        if not lo <= side <= hi or not 0.6 <= w / max(hh, 1) <= 1.66:
            continue
        hole, g = int(child[i]), int(grand[i])
        if h[g, 2] >= 0 or h[g, 0] >= 0 or h[g, 1] >= 0:  # the centre is one solid blob, alone in the hole
            continue
        # Areas of a finder, in modules: outer square 49, its hole 25, the centre 9 (a 国 or 回 fails here).
        outer = cv2.contourArea(contours[i])
        inner = cv2.contourArea(contours[hole])
        centre = cv2.contourArea(contours[g])
        if outer <= 0 or not 0.08 <= centre / outer <= 0.35 or not 0.25 <= inner / outer <= 0.7:
            continue
        hull = cv2.contourArea(cv2.convexHull(contours[g]))
        if hull <= 0 or centre / hull < 0.85 or outer / max(w * hh, 1) < 0.8:
            continue
        m = cv2.moments(contours[g])
        if m["m00"] <= 0:
            continue
        cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
        if abs(cx - (x + w / 2)) > 0.15 * side or abs(cy - (y + hh / 2)) > 0.15 * side:
            continue
        found.append(_Finder(x + w / 2, y + hh / 2, float(side)))
    return tuple(found)


def _finder_group(finders: Sequence[_Finder]) -> tuple[_Finder, ...] | None:
    """Two or three finders that can belong to one QR code: alike in size, 2 to 10 finder sizes apart."""
    best: tuple[_Finder, ...] | None = None
    for i, a in enumerate(finders):
        group = [a]
        for b in finders[i + 1:]:
            size = (a.size + b.size) / 2
            dist = float(np.hypot(a.x - b.x, a.y - b.y))
            if abs(a.size - b.size) <= 0.3 * size and 2.0 * size <= dist <= 10.0 * size * 1.42:
                group.append(b)
        if len(group) >= 2 and (best is None or len(group) > len(best)):
            best = tuple(group[:3])
    return best


def _long_shapes(
    ink: np.ndarray, ppm: float
) -> tuple[bool, tuple[tuple[tuple[float, float], tuple[float, float], float], ...]]:
    """The title band (a solid black bar about 25 mm by 180 mm) and patch-code-like bars on the analysis copy."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if count <= 1:
        return False, ()
    w, h, area = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    long_enough = (np.maximum(w, h) >= _BAR_LONG_MM * ppm * 0.9) & (area >= (_BAR_LONG_MM * _BAR_SHORT_MM[0]) * ppm**2)
    band = False
    bars = []
    for i in np.nonzero(long_enough)[0] + 1:
        x, y, bw, bh = stats[i, :4]
        points = cv2.findNonZero((labels[y : y + bh, x : x + bw] == i).astype(np.uint8))
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(points)
        short, long = min(rw, rh) / ppm, max(rw, rh) / ppm
        fill = float(stats[i, cv2.CC_STAT_AREA]) / max(rw * rh, 1.0)
        if (_BAND_SHORT_MM[0] <= short <= _BAND_SHORT_MM[1] and long >= _BAND_LONG_MM
                and 3.0 <= long / short <= 14.0 and fill >= 0.5):
            band = True
        elif _BAR_SHORT_MM[0] <= short <= _BAR_SHORT_MM[1] and long >= _BAR_LONG_MM and fill >= 0.75:
            bars.append(((float(cx + x), float(cy + y)), (float(rw), float(rh)), float(angle)))
    return band, tuple(bars)


def _patch_t(marks: _Marks) -> bool:
    """Four parallel bars side by side, narrow-wide-narrow-wide (or reversed), with narrow spaces."""
    if len(marks.bars) < 4:
        return False
    # Direction across the bars for each bar: the unit vector along the rect's shorter side.
    items = []
    for (cx, cy), (rw, rh), angle in marks.bars:
        theta = np.deg2rad(angle if rw <= rh else angle + 90.0)
        items.append((cx, cy, min(rw, rh), max(rw, rh), np.cos(theta), np.sin(theta)))
    for ref in items:
        nx, ny = ref[4], ref[5]
        # bars parallel to this one (direction within 5 degrees either way)
        group = [it for it in items if abs(it[4] * nx + it[5] * ny) >= np.cos(np.deg2rad(5.0))]
        if len(group) < 4:
            continue
        along = sorted(group, key=lambda it: it[0] * nx + it[1] * ny)
        pos = [it[0] * nx + it[1] * ny for it in along]
        widths = [it[2] for it in along]
        for k in range(len(along) - 3):
            if _is_patch_t_window(pos[k : k + 4], widths[k : k + 4], marks.ppm):
                return True
    return False


def _is_patch_t_window(pos: Sequence[float], widths: Sequence[float], ppm: float) -> bool:
    narrow = min(widths)
    wide = [w >= 1.7 * narrow for w in widths]
    if wide not in ([False, True, False, True], [True, False, True, False]):
        return False
    wides = [w for w, is_wide in zip(widths, wide, strict=True) if is_wide]
    if max(wides) > 4.0 * narrow or not 1.0 * ppm <= narrow <= 3.6 * ppm:
        return False
    for a in range(3):
        gap = (pos[a + 1] - pos[a]) - (widths[a] + widths[a + 1]) / 2
        if not 0.3 * narrow <= gap <= 2.2 * narrow:
            return False
    return True


# --- QR decoding ----------------------------------------------------------------------------

_local = threading.local()


def _detectors() -> tuple[cv2.QRCodeDetector, cv2.QRCodeDetectorAruco]:
    """One pair of QR detectors per thread (OpenCV detectors keep state between calls)."""
    pair = getattr(_local, "detectors", None)
    if pair is None:
        pair = (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco())
        _local.detectors = pair
    return pair


def _decode(marks: _Marks) -> str | None:
    """Decode the QR code near the finders (or anywhere on the page when only the band was seen)."""
    gray = marks.gray
    height, width = gray.shape[:2]
    group = marks.finder_group
    if group is not None:
        module = float(np.mean([f.size for f in group])) / 7.0 / marks.scale  # page pixels per module
        xs = [f.x / marks.scale for f in group]
        ys = [f.y / marks.scale for f in group]
        reach = (12.0 if len(group) == 3 else 60.0) * module
        x0, x1 = max(0, int(min(xs) - reach)), min(width, int(max(xs) + reach))
        y0, y1 = max(0, int(min(ys) - reach)), min(height, int(max(ys) + reach))
        crop = gray[y0:y1, x0:x1]
    else:
        module = QR_MM / 53.0 * marks.ppm / marks.scale  # the printed code: versions 6 to 9 at 72 mm
        crop = gray
    factor = min(1.0, _MODULE_PX / max(module, 1e-6))
    for attempt in _attempts(crop, factor):
        text = _try_decode(attempt)
        if text:
            return text
    return None


def _attempts(crop: np.ndarray, factor: float) -> Iterable[np.ndarray]:
    """The crop at about six pixels per module, then binarised, then at full resolution."""
    scaled = crop if factor >= 0.95 else cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    yield scaled
    _, binary = cv2.threshold(cv2.GaussianBlur(scaled, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    yield binary
    if factor < 0.95 and crop.size <= 4_000_000:
        yield crop


def _try_decode(image: np.ndarray) -> str | None:
    for detector in _detectors():
        try:
            text, _points, _ = detector.detectAndDecode(image)
        except cv2.error:
            continue
        if text:
            return str(text)
    return None


# --- OCR fallback ------------------------------------------------------------------------------

_LABEL_LINE = re.compile(r"(小区|楼栋|单元|房号|文件类型|页数|批次)\s*[:：]?\s*(.+)")


def sheet_from_text(text: str) -> CoverSheet | None:
    """Rebuild a sheet from the OCR text of its printed fields (``楼栋：3`` ...), when its QR code failed.

    Returns None unless building, unit, room and batch are all read. The
    document type may be printed as its Chinese label or its name.
    """
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = to_halfwidth(raw).strip()
        m = _LABEL_LINE.match(line)
        if m and m.group(1) not in values:
            values[m.group(1)] = m.group(2).strip()
    needed = ("楼栋", "单元", "房号", "批次")
    if any(not values.get(k) for k in needed):
        return None
    doc_type = _doc_type_from_text(values.get("文件类型", ""))
    pages_m = re.match(r"(\d+)", values.get("页数", ""))
    batch_m = re.match(r"([A-Za-z0-9-]+)", values["批次"])
    try:
        return CoverSheet(estate=values.get("小区") or None, building=values["楼栋"].split()[0],
                          unit=values["单元"].split()[0], room=values["房号"].split()[0], doc_type=doc_type,
                          pages=int(pages_m.group(1)) if pages_m else None,
                          batch=batch_m.group(1) if batch_m else "", warnings=("read from the printed text",))
    except ValueError:
        return None


def _doc_type_from_text(value: str) -> str | None:
    for name in DOC_TYPES:
        if name in value:
            return name
    for name, label in DOC_LABELS.items():
        if label and label in value:
            return name
    return None


# --- splitting a batch -------------------------------------------------------------------------


class BatchProblem(_Frozen):
    """Something the batch report must show a person."""

    code: Literal["unreadable_sheet", "page_count", "empty_segment", "sheet_warning", "sheet_order"]
    #: 0-based position of the page in the batch (the message names it 1-based, as people count).
    page: int | None = None
    message: str


class Segment(_Frozen):
    """A run of pages of a batch between separator sheets, sheets and blank pages dropped."""

    #: 0-based positions in the batch (the pages as given to :func:`split_batch`, in order).
    pages: tuple[int, ...]
    #: Blank pages dropped from this segment (blank backs of duplex scans).
    blank_pages: tuple[int, ...] = ()
    #: What opened the segment: the batch's start, a cover sheet, an unreadable cover sheet or a PATCH-T sheet.
    opened_by: Literal["start", "cover_sheet", "unreadable_sheet", "patch_t"]
    #: Position of that sheet in the batch (None for the start).
    sheet_page: int | None = None
    sheet: CoverSheet | None = None
    unit: UnitRef | None = None
    estate: str | None = None
    doc_type: str | None = None
    expected_pages: int | None = None
    problems: tuple[BatchProblem, ...] = ()


def split_batch(pages: Iterable[PageImage | np.ndarray]) -> list[Segment]:
    """Cut a scanned batch at cover sheets and PATCH-T sheets.

    ``pages`` are the batch's page images in scanning order (the pages of
    several files one after another, or of one long file): ``PageImage`` or
    bare 8-bit gray / BGR arrays. The sheets themselves and blank pages
    (:func:`ocr.preprocess.is_blank`) are dropped. Pages before the first
    sheet form a segment opened by ``"start"`` (left out when there are none).
    Each segment carries the unit, estate, document type and expected page
    count of its sheet (None where unknown) and the problems the batch report
    should list: an unreadable sheet, a page count other than the sheet's, a
    sheet followed by no page, sheets of one print run out of order.
    """
    segments: list[_Open] = [_Open("start", None, None)]
    for position, page in enumerate(pages):
        image = page.image if isinstance(page, PageImage) else page
        sheet = classify_sheet(image)
        if sheet is not None:
            segments.append(_Open.for_sheet(sheet, position))
        elif (isinstance(page, PageImage) and page.blank) or is_blank(to_gray(image)):
            segments[-1].blank.append(position)
        else:
            segments[-1].pages.append(position)
    if not segments[0].pages and len(segments) > 1:
        first = segments.pop(0)
        segments[0].blank[:0] = first.blank
    finished = [s.finish() for s in segments]
    return _with_order_problems(finished)


def batch_problems(segments: Iterable[Segment]) -> list[BatchProblem]:
    """Every problem of a split batch, in page order."""
    problems = [p for s in segments for p in s.problems]
    return sorted(problems, key=lambda p: (p.page is None, p.page or 0))


@dataclass
class _Open:
    opened_by: Literal["start", "cover_sheet", "unreadable_sheet", "patch_t"]
    sheet_page: int | None
    sheet: Sheet | None
    pages: list[int] = field(default_factory=list)
    blank: list[int] = field(default_factory=list)

    @classmethod
    def for_sheet(cls, sheet: Sheet, position: int) -> _Open:
        kind: Literal["cover_sheet", "unreadable_sheet", "patch_t"] = (
            "cover_sheet" if isinstance(sheet, CoverSheet)
            else "unreadable_sheet" if isinstance(sheet, UnreadableSheet) else "patch_t")
        return cls(kind, position, sheet)

    def finish(self) -> Segment:
        problems: list[BatchProblem] = []
        cover = self.sheet if isinstance(self.sheet, CoverSheet) else None
        where = f"page {self.sheet_page + 1}" if self.sheet_page is not None else ""
        if isinstance(self.sheet, UnreadableSheet):
            problems.append(BatchProblem(code="unreadable_sheet", page=self.sheet_page,
                                         message=f"unreadable cover sheet at {where}: {self.sheet.reason}; the "
                                                 "pages after it have no unit from a sheet"))
        if cover is not None:
            problems += [BatchProblem(code="sheet_warning", page=self.sheet_page,
                                      message=f"cover sheet at {where} ({cover.describe()}): {w}")
                         for w in cover.warnings]
            if cover.pages is not None and cover.pages != len(self.pages) and self.pages:
                problems.append(BatchProblem(
                    code="page_count", page=self.sheet_page,
                    message=f"cover sheet at {where} ({cover.describe()}): expected {cover.pages} page(s), "
                            f"got {len(self.pages)}"))
        if self.sheet is not None and not isinstance(self.sheet, PatchSheet) and not self.pages:
            label = cover.describe() if cover is not None else "unreadable"
            problems.append(BatchProblem(code="empty_segment", page=self.sheet_page,
                                         message=f"cover sheet at {where} ({label}) is followed by no page"))
        return Segment(
            pages=tuple(self.pages), blank_pages=tuple(self.blank), opened_by=self.opened_by,
            sheet_page=self.sheet_page, sheet=cover, unit=cover.unit_ref if cover else None,
            estate=cover.estate if cover else None, doc_type=cover.doc_type if cover else None,
            expected_pages=cover.pages if cover else None, problems=tuple(problems),
        )


def _with_order_problems(segments: list[Segment]) -> list[Segment]:
    """Note sheets of one print run that come out of order or with a gap (a folder left out or misplaced)."""
    last: dict[str, tuple[int, int]] = {}
    out = []
    for seg in segments:
        sheet, page = seg.sheet, seg.sheet_page
        if seg.opened_by == "unreadable_sheet":
            last.clear()  # it may be the sheet that seems missing
        if sheet is not None and sheet.seq is not None and page is not None:
            previous = last.get(sheet.batch)
            if previous is not None and sheet.seq != previous[0] + 1:
                before, before_page = previous
                what = (f"sheet(s) {before + 1} to {sheet.seq - 1} are not in this batch" if sheet.seq > before + 1
                        else "it is out of order")
                problem = BatchProblem(
                    code="sheet_order", page=page,
                    message=f"cover sheet at page {page + 1} is sheet {sheet.seq} of print run {sheet.batch} and "
                            f"follows sheet {before} (page {before_page + 1}): {what}")
                seg = seg.model_copy(update={"problems": (*seg.problems, problem)})
            last[sheet.batch] = (sheet.seq, page)
        out.append(seg)
    return out


# --- helpers ----------------------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("%", "%25").replace(";", "%3B").replace("=", "%3D")


def _int_or_none(value: str | None) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise SheetPayloadError(f"the page count '{value}' is not a number")
    return int(value)


def _parse_seq(value: str | None) -> tuple[int | None, int | None]:
    if not value:
        return None, None
    n, _, total = value.partition("/")
    if not n.isdigit() or (total and not total.isdigit()):
        return None, None
    return int(n), (int(total) if total else None)


def _first_error(e: ValueError) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg', '')}"
    return str(e)
