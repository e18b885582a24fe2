"""OpenCV page preprocessing before OCR: one plain function per step.

:func:`preprocess` runs the steps in order::

    separate_red_ink -> is_blank -> orientation (engine) -> estimate_skew / deskew
      -> normalize_background -> punch holes, staples -> seal strips -> table cells -> creases

Red seals and thumbprints come off colour pages before anything turns gray
(:mod:`ocr.marks`); on gray pages seals are found by their rings and lifted
when their gray is lighter than print. Table cells are found on the
straightened page (:mod:`ocr.grid`). Analysis runs on small copies, so a 300-dpi A4 page takes
well under a quarter of a second here, OCR calls excluded. Pages are never
hard binarised: PP-OCRv4 reads the gray page better than a thresholded one.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ocr.grid import find_cells, shrink
from ocr.marks import (
    RedInk,
    Seal,
    find_gray_seals,
    find_seals,
    lift_gray_seal,
    paint_out_margin_marks,
    separate_red_ink,
    suppress_creases,
    unwrap_seal,
)
from schemas.models import Box, PageImage

if TYPE_CHECKING:
    from ocr.engines import OcrEngine

#: Longer side of the small copies used to analyse a page (about 85 dpi for A4).
ANALYSIS_SIDE = 1000
#: Skew angles searched, in degrees either way.
MAX_SKEW = 15.0
#: Skews smaller than this are left alone (rotating blurs the page for nothing).
MIN_SKEW = 0.1
#: Least darkening below the paper (8-bit levels) that counts as ink on an analysis copy.
MIN_INK_CONTRAST = 40
#: ... and in units of the paper's noise, for grainy scans.
INK_NOISE_FACTOR = 5.0
#: Pages below this resolution are not median-filtered.
MIN_DENOISE_DPI = 200

_ROTATE_CODES = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


def preprocess(page: PageImage, *, engine: OcrEngine) -> PageImage:
    """Make a page ready for OCR: gray, upright, straight, even background, marks off; find tables and seals.

    Returns a new page with ``rotation`` (clockwise degrees applied), ``skew``
    (degrees corrected, counter-clockwise positive), ``blank``, ``cells``
    (bordered tables) and ``seal_strips`` / ``seal_boxes`` (red seals, each
    cut out as a level strip of its rim text) set. A blank page is returned in
    gray, otherwise untouched.
    """
    image = page.image if page.image.dtype == np.uint8 else to_gray(page.image)
    gray, red = separate_red_ink(image, page.dpi)
    flat = analysis_copy(gray)  # one small copy for the blank test and the skew search
    if _is_blank(flat):
        return replace(page, image=gray, blank=True)
    rotation = engine.detect_orientation(gray)
    source_shape = gray.shape[:2]
    gray = rotate(gray, rotation)
    skew = _skew(rotate(flat, rotation))
    gray = deskew(gray, skew)
    # A 3x3 median thins strokes of low-resolution pages more than it helps.
    gray = normalize_background(gray, denoise=page.dpi >= MIN_DENOISE_DPI)
    gray = paint_out_margin_marks(gray, page.dpi)
    if red is not None:
        strips, boxes = seal_strips(red, source_shape, rotation=rotation, skew=skew, dpi=page.dpi)
    else:
        gray, strips, boxes = gray_seal_strips(gray, page.dpi)
    cells = find_cells(gray, page.dpi)
    # After the cells: a light gray rule is thin and faint like a crease.
    gray = suppress_creases(gray, page.dpi)
    return replace(
        page, image=gray, rotation=(page.rotation + rotation) % 360, skew=skew, blank=False,
        cells=cells, seal_strips=strips, seal_boxes=boxes,
    )


def seal_strips(
    red: RedInk | None, shape: tuple[int, ...], *, rotation: int, skew: float, dpi: int
) -> tuple[tuple[np.ndarray, ...], tuple[Box, ...]]:
    """Level strips of the seals' rim text and the seals' boxes on the upright, deskewed page.

    Seals are found on the red-ink layer as it came off the page; only a small
    square around each is turned upright (rotation, then skew), so the whole
    layer is never rotated.
    """
    if red is None:
        return (), ()
    layer_dpi = dpi * red.scale
    strips, boxes = [], []
    for seal in find_seals(red.layer, dpi=layer_dpi):
        square = _square_around(red.layer, seal)
        square = deskew(rotate(square, rotation), skew)
        upright = min(find_seals(square, dpi=layer_dpi), default=None, key=lambda s: _distance_to_centre(s, square))
        if upright is None:
            continue
        strips.append(unwrap_seal(square, upright))
        cx, cy = seal.centre[0] / red.scale, seal.centre[1] / red.scale
        px, py = transform_point((cx, cy), shape, rotation=rotation, skew=skew)
        x0, y0, x1, y1 = upright.box()
        half_w, half_h = (x1 - x0) / 2 / red.scale, (y1 - y0) / 2 / red.scale
        boxes.append((round(px - half_w), round(py - half_h), round(px + half_w), round(py + half_h)))
    return tuple(strips), tuple(boxes)


def gray_seal_strips(gray: np.ndarray, dpi: int) -> tuple[np.ndarray, tuple[np.ndarray, ...], tuple[Box, ...]]:
    """Seals of a gray page found by their rings: the page with the lighter ones lifted, strips and boxes."""
    strips, boxes = [], []
    for found in find_gray_seals(gray, dpi):
        gray, layer, local = lift_gray_seal(gray, found, dpi)
        strips.append(unwrap_seal(layer, local))
        boxes.append(found.seal.box())
    return gray, tuple(strips), tuple(boxes)


def _square_around(layer: np.ndarray, seal: Seal) -> np.ndarray:
    """A white-padded square of the layer centred on the seal, with room to turn it."""
    half = int(1.2 * max(seal.axes)) + 4
    cx, cy = round(seal.centre[0]), round(seal.centre[1])
    square = np.full((2 * half + 1, 2 * half + 1), 255, np.uint8)
    x0, y0 = max(0, cx - half), max(0, cy - half)
    x1, y1 = min(layer.shape[1], cx + half + 1), min(layer.shape[0], cy + half + 1)
    square[y0 - (cy - half) : y1 - (cy - half), x0 - (cx - half) : x1 - (cx - half)] = layer[y0:y1, x0:x1]
    return square


def _distance_to_centre(seal: Seal, square: np.ndarray) -> float:
    return math.hypot(seal.centre[0] - square.shape[1] / 2, seal.centre[1] - square.shape[0] / 2)


def transform_point(
    point: tuple[float, float], shape: tuple[int, ...], *, rotation: int, skew: float
) -> tuple[float, float]:
    """Where a point of the page as it came in lands after :func:`rotate` and :func:`deskew`."""
    x, y = point
    height, width = shape[:2]
    rotation %= 360
    if rotation == 90:
        x, y, height, width = height - 1 - y, x, width, height
    elif rotation == 180:
        x, y = width - 1 - x, height - 1 - y
    elif rotation == 270:
        x, y, height, width = y, width - 1 - x, width, height
    if abs(skew) < MIN_SKEW:
        return x, y
    matrix, _ = deskew_matrix((height, width), skew)
    new_x, new_y = matrix @ np.array([x, y, 1.0])
    return float(new_x), float(new_y)


# --- steps ---


def to_gray(image: np.ndarray) -> np.ndarray:
    """8-bit single-channel copy of a gray, BGR or BGRA image."""
    if image.dtype != np.uint8:
        low, high = float(image.min()), float(image.max())
        image = ((image - low) * (255.0 / max(high - low, 1e-9))).astype(np.uint8)
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """3-channel 8-bit BGR version of a gray, BGR or BGRA image (8-bit BGR comes back as is)."""
    if image.ndim == 3 and image.dtype == np.uint8 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.dtype == np.uint8 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return cv2.cvtColor(to_gray(image), cv2.COLOR_GRAY2BGR)


def background(gray: np.ndarray, *, kernel: int) -> np.ndarray:
    """Estimate the paper background: a gray closing wider than any character, lightly smoothed.

    Closing (max then min filter) wipes out text but keeps the edges of large
    areas, so a shaded sheet next to a white border does not leave a dark band
    along the border (which would look like a text line to the skew search).
    """
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (kernel, kernel))
    bg = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, k)
    small = _odd(kernel // 4)
    return cv2.blur(bg, (small, small))


def flatten(gray: np.ndarray, *, kernel: int) -> np.ndarray:
    """Divide by the background: paper becomes white, shading and photocopy gray disappear."""
    bg = background(gray, kernel=kernel)
    return cv2.divide(gray, np.maximum(bg, 1), scale=255)


def analysis_copy(gray: np.ndarray, side: int = ANALYSIS_SIDE) -> np.ndarray:
    """Small (longer side at most ``side``), background-flattened copy of a page for blank and skew analysis."""
    small = small_copy(gray, side)
    return flatten(small, kernel=_odd(max(small.shape) // 40))


def small_copy(gray: np.ndarray, side: int = ANALYSIS_SIDE) -> np.ndarray:
    """Copy whose longer side is at most ``side`` (averaged: grain shrinks with it); fast on large pages.

    Halving first (OpenCV's fast 2:1 path) leaves a last resize of at most 1.5:1.
    """
    small, _ = shrink(gray, side / max(gray.shape[:2]))
    height, width = small.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return small
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(small, size, interpolation=cv2.INTER_AREA)


def ink_mask(flat: np.ndarray) -> np.ndarray:
    """Binary mask (255 = ink) of a flattened page.

    Ink is what lies clearly below the paper level: by ``MIN_INK_CONTRAST``
    levels, or by ``INK_NOISE_FACTOR`` times the paper's noise when that is
    more. Faded and photocopied text stays ink; grain and shading do not.
    """
    sample = flat[:: max(1, flat.shape[0] // 200), :: max(1, flat.shape[1] // 200)]
    paper = float(np.median(sample))
    noise = 1.4826 * float(np.median(np.abs(sample - paper)))
    threshold = paper - max(MIN_INK_CONTRAST, INK_NOISE_FACTOR * noise)
    return np.where(flat < threshold, 255, 0).astype(np.uint8)


def is_blank(gray: np.ndarray, *, min_row_marks: int = 5) -> bool:
    """Tell whether a page holds no text: white or shaded paper, scanner noise, a few specks.

    Text shows as marks of character size (about 1.3 to 15 mm on A4) standing
    side by side on a row. A page is blank when no row holds ``min_row_marks``
    such marks. Page edges (2 %) are ignored: scanner borders live there.
    """
    return _is_blank(analysis_copy(gray), min_row_marks=min_row_marks)


def _is_blank(flat: np.ndarray, *, min_row_marks: int = 5) -> bool:
    mask = ink_mask(flat)
    height, width = mask.shape
    side = max(height, width)
    my, mx = round(height * 0.02), round(width * 0.02)
    mask = mask[my : height - my, mx : width - mx]
    _, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    hs, ws, areas = stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_AREA]
    marks = (hs >= 0.0045 * side) & (hs <= 0.05 * side) & (ws <= 0.3 * side) & (areas >= 4)
    if marks.sum() < min_row_marks:
        return True
    centres_y = centroids[1:, 1][marks]
    row = max(2.0, float(np.median(hs[marks])))
    per_row = np.bincount((centres_y / row).astype(int))
    if len(per_row) > 1:  # a text row can straddle two bins
        per_row = per_row[:-1] + per_row[1:]
    return int(per_row.max()) < min_row_marks


def rotate(gray: np.ndarray, degrees: int) -> np.ndarray:
    """Rotate clockwise by 0, 90, 180 or 270 degrees."""
    degrees %= 360
    if degrees == 0:
        return gray
    if degrees not in _ROTATE_CODES:
        raise ValueError(f"rotation must be a multiple of 90 degrees, not {degrees}")
    return cv2.rotate(gray, _ROTATE_CODES[degrees])


def estimate_skew(gray: np.ndarray, *, max_angle: float = MAX_SKEW) -> float:
    """Skew of the text lines in degrees (counter-clockwise positive), within ``max_angle``.

    Projection-profile search on the ink of a small copy: the angle at which
    ink piles up into the sharpest horizontal rows wins. Coarse search in 0.5
    degree steps, then 0.05 degree steps around the best. Returns 0.0 when the
    page holds too little ink to tell.
    """
    return _skew(analysis_copy(gray), max_angle=max_angle)


def _skew(flat: np.ndarray, *, max_angle: float = MAX_SKEW) -> float:
    mask = ink_mask(flat)
    ys, xs = np.nonzero(mask)
    if len(xs) < 200:
        return 0.0
    if len(xs) > 60_000:
        pick = np.random.default_rng(0).choice(len(xs), 60_000, replace=False)
        xs, ys = xs[pick], ys[pick]
    xs = xs.astype(np.float32) - mask.shape[1] / 2
    ys = ys.astype(np.float32)
    coarse = np.arange(-max_angle, max_angle + 0.25, 0.5)
    best = _best_angle(xs, ys, coarse)
    fine = np.arange(best - 0.5, best + 0.5001, 0.05)
    angle = round(float(_best_angle(xs, ys, fine)), 2)
    return angle if abs(angle) >= MIN_SKEW else 0.0


def _best_angle(xs: np.ndarray, ys: np.ndarray, angles: np.ndarray) -> float:
    scores = []
    for angle in angles:
        rad = math.radians(float(angle))
        rows = ys * math.cos(rad) + xs * math.sin(rad)
        hist = np.bincount((rows - rows.min()).astype(np.int64))
        scores.append(float(np.dot(hist, hist)))
    return float(angles[int(np.argmax(scores))])


def deskew(gray: np.ndarray, skew: float) -> np.ndarray:
    """Rotate by ``-skew`` degrees about the centre, growing the canvas; new corners are white."""
    if abs(skew) < MIN_SKEW:
        return gray
    matrix, size = deskew_matrix(gray.shape, skew)
    return cv2.warpAffine(
        gray, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255,
    )


def deskew_matrix(shape: tuple[int, ...], skew: float) -> tuple[np.ndarray, tuple[int, int]]:
    """The affine matrix :func:`deskew` applies to an image of ``shape``, and the (width, height) it makes."""
    height, width = shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), -skew, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = math.ceil(height * sin + width * cos), math.ceil(height * cos + width * sin)
    matrix[0, 2] += (new_w - width) / 2
    matrix[1, 2] += (new_h - height) / 2
    return matrix, (new_w, new_h)


def normalize_background(gray: np.ndarray, *, denoise: bool = True) -> np.ndarray:
    """Even out shading and photocopy gray, then (``denoise``) remove salt-and-pepper specks.

    The background is estimated on a small copy (fast) and divided out at full
    size; a 3x3 median removes isolated specks. No hard threshold. Without this
    step Tesseract read none of the fields of a shaded page.
    """
    height, width = gray.shape[:2]
    small = small_copy(gray)
    bg = np.maximum(background(small, kernel=_odd(max(small.shape) // 40)), 1)
    # The max filter rides on the noise peaks; the median of the flattened copy
    # (mostly paper) tells how far, and the division corrects for it.
    paper = float(np.median(cv2.divide(small, bg, scale=255)))
    bg = cv2.resize(bg, (width, height), interpolation=cv2.INTER_LINEAR)
    flat = cv2.divide(gray, bg, scale=255 * 255 / max(paper, 128.0))
    return cv2.medianBlur(flat, 3) if denoise else flat


def remove_rule_lines(gray: np.ndarray) -> np.ndarray:
    """Paint long horizontal and vertical rules (form table borders) white.

    Rules are ink runs longer than 1/25 of the page's shorter side, far longer
    than any character stroke. Tesseract drops whole table rows when the rules
    stay; PP-OCRv4 does not need this.
    """
    bw = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
    length = max(30, min(gray.shape[:2]) // 25)
    horizontal = cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
    vertical = cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, length)))
    rules = cv2.dilate(cv2.bitwise_or(horizontal, vertical), np.ones((3, 3), np.uint8))
    out = gray.copy()
    out[rules > 0] = 255
    return out


def _odd(n: int) -> int:
    return max(3, n | 1)
