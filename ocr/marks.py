"""Marks on a page that are not its text: red seals and thumbprints, scanner marks, page-number stamps.

Image side (called by :func:`ocr.preprocess.preprocess`):

* :func:`separate_red_ink` takes seals (印章), thumbprints (手印) and red stamps
  off a colour page before it turns gray, so that a seal stamped over a date
  no longer hides the digits, and keeps the red ink as a layer of its own.
* :func:`find_seals` and :func:`unwrap_seal` locate round and oval seals in
  that layer and cut the text along the upper arc out as a level strip for the
  engine's ``recognize_crops``; :func:`seal_text` cleans what was read into the
  company name.
* :func:`paint_out_margin_marks` and :func:`suppress_creases` remove punch
  holes and staple shadows at the margins, and long faint fold lines.

OCR side: :func:`add_margin_text` reads small header and footer text the
page OCR missed, and :func:`clean_page` drops words that are marks (tick glyphs, specks
at the margins) and turns page-number marks ("第 3 页 共 8 页", "- 3 -",
"3/8", a numbering-machine stamp in a corner) into ``page_number`` /
``page_total``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ocr.grid import MM_PER_INCH, shrink
from schemas.models import Box, OcrLine, OcrPage, OcrWord, SealText

if TYPE_CHECKING:
    from ocr.engines import OcrEngine
    from schemas.models import PageImage


# --- red ink ---

#: Resolution of the copy red ink is looked for on (by halving: 75 dpi for a 300-dpi page).
RED_ANALYSIS_DPI = 90
#: Highest resolution of the red-ink layer kept for reading seals.
RED_LAYER_DPI = 200
#: Redness (white-balanced red minus the larger of green and blue, 8-bit levels) where
#: red ink starts and where it is certain. JPEG chroma noise on black text stays below the first.
RED_LOW, RED_HIGH = 30, 70
#: Least red ink (mm²) in a group for the group to count: chroma specks are smaller.
RED_MIN_AREA_MM2 = 1.5
#: A red group is taken off the OCR page when both its sides are at least this long (mm)...
STAMP_MIN_MM = 8.0
#: ... and its longer side at most this (a red-printed form or a red heading line stays).
STAMP_MAX_MM = 70.0
#: Size of the paper-colour estimate's window (mm): wider than any seal or thumbprint.
PAPER_WINDOW_MM = 30.0


@dataclass(frozen=True)
class RedInk:
    """Red ink separated from a page.

    ``layer`` is gray: 255 where there is no red ink, darker where there is
    (full-strength seal ink is about 0), at ``scale`` times the page's size.
    """

    layer: np.ndarray
    scale: float


def separate_red_ink(image: np.ndarray, dpi: int) -> tuple[np.ndarray, RedInk | None]:
    """Gray page for OCR with seals, thumbprints and red stamps taken out, and the red ink as a layer.

    Red is told by colour after white-balancing against the paper (yellowed
    paper, photocopy tints and a phone's warm cast do not look red). Inside a
    stamp the gray value comes from the red channel, in which red ink is nearly
    paper-white and black or blue ink stays dark, so text under a seal stays
    readable. Red groups that are not stamp-sized (a red heading, a red-printed
    form) keep their ordinary gray. A gray page (2-D) comes back unchanged with
    ``None``: a gray photocopy of a seal cannot be told from black ink by colour.
    """
    if image.ndim == 2 or image.shape[2] == 1:
        return (image if image.ndim == 2 else image[:, :, 0]), None
    bgr = image[:, :, :3] if image.shape[2] == 4 else image
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape
    small, scale = shrink(bgr, RED_ANALYSIS_DPI / max(dpi, 1))
    paper = paper_colour(small, _odd(round(PAPER_WINDOW_MM * dpi * scale / MM_PER_INCH)))
    red = redness(small, paper)
    boxes = stamp_boxes(red > RED_LOW, dpi=dpi * scale)
    if not boxes:
        return gray, None
    layer_scale = min(1.0, RED_LAYER_DPI / max(dpi, 1))
    layer = np.full((max(1, round(height * layer_scale)), max(1, round(width * layer_scale))), 255, np.uint8)
    out = gray.copy()
    pad = max(2, round(dpi / MM_PER_INCH))
    for x0, y0, x1, y1 in boxes:
        # Analysis boxes to page pixels, one millimetre wider (anti-aliased edges).
        px0, py0 = max(0, int(x0 / scale) - pad), max(0, int(y0 / scale) - pad)
        px1, py1 = min(width, math.ceil(x1 / scale) + pad), min(height, math.ceil(y1 / scale) + pad)
        tile_paper = paper[min(paper.shape[0] - 1, (y0 + y1) // 2), min(paper.shape[1] - 1, (x0 + x1) // 2)]
        tile, ink = _lift_red(bgr[py0:py1, px0:px1], gray[py0:py1, px0:px1], tile_paper, dpi)
        out[py0:py1, px0:px1] = tile
        lx0, ly0 = round(px0 * layer_scale), round(py0 * layer_scale)
        lx1, ly1 = lx0 + max(1, round((px1 - px0) * layer_scale)), ly0 + max(1, round((py1 - py0) * layer_scale))
        lx1, ly1 = min(lx1, layer.shape[1]), min(ly1, layer.shape[0])
        layer[ly0:ly1, lx0:lx1] = np.minimum(
            layer[ly0:ly1, lx0:lx1], cv2.resize(ink, (lx1 - lx0, ly1 - ly0), interpolation=cv2.INTER_AREA)
        )
    return out, RedInk(layer=layer, scale=layer_scale)


def paper_colour(bgr: np.ndarray, window: int) -> np.ndarray:
    """Per-pixel paper colour (float32 BGR): each channel's brightest level nearby, smoothed.

    Estimated on a copy 8 times smaller with a ``window`` (pixels of ``bgr``)
    of a few centimetres: wider than a seal or a thumbprint, which therefore
    do not tint the paper estimate.
    """
    height, width = bgr.shape[:2]
    factor = 8
    tiny = cv2.resize(bgr, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(window // factor), _odd(window // factor)))
    bg = cv2.morphologyEx(tiny, cv2.MORPH_CLOSE, k)
    bg = cv2.blur(bg, (3, 3))
    return cv2.resize(bg, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def redness(bgr: np.ndarray, paper: np.ndarray | Sequence[float]) -> np.ndarray:
    """White-balanced red minus the larger of green and blue (float32, 8-bit levels; black and blue < 0).

    Dividing by the paper's colour makes yellowed paper and tinted copies
    neutral; pink seal ink still shows, blue and black ink do not.
    """
    paper_arr = np.maximum(np.asarray(paper, np.float32), 1.0)
    balanced = bgr.astype(np.float32) * (255.0 / paper_arr)
    return balanced[..., 2] - np.maximum(balanced[..., 0], balanced[..., 1])


def stamp_boxes(mask: np.ndarray, *, dpi: float) -> list[Box]:
    """Boxes (in ``mask`` pixels) of red groups the size of a seal, thumbprint or stamp.

    Pieces of ink closer than about 2 mm join one group; a group needs
    ``RED_MIN_AREA_MM2`` of ink, both sides of at least ``STAMP_MIN_MM`` and a
    longer side of at most ``STAMP_MAX_MM``.
    """
    px_per_mm = dpi / MM_PER_INCH
    close = _odd(round(2.0 * px_per_mm))
    joined = cv2.morphologyEx(mask.astype(np.uint8) * 255, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    boxes: list[Box] = []
    min_area = RED_MIN_AREA_MM2 * px_per_mm**2
    for i in range(1, count):
        x, y, w, h, _area = (int(v) for v in stats[i])
        if min(w, h) < STAMP_MIN_MM * px_per_mm or max(w, h) > STAMP_MAX_MM * px_per_mm:
            continue
        ink = int(np.count_nonzero(mask[y : y + h, x : x + w] & (labels[y : y + h, x : x + w] == i)))
        if ink >= min_area:
            boxes.append((x, y, x + w, y + h))
    # A seal's star or text may be a group of its own inside the ring's box.
    return [b for b in boxes if not any(o != b and _inside(b, o) for o in boxes)]


def _lift_red(bgr: np.ndarray, gray: np.ndarray, paper: np.ndarray, dpi: int) -> tuple[np.ndarray, np.ndarray]:
    """Gray tile with red ink lifted to paper, and the tile's red ink (0 = full-strength ink, 255 = none).

    Red ink multiplies onto the page, so dividing the red channel by the ink's
    own red transmission brings seal pixels back to paper and leaves black or
    blue strokes under the seal as dark as they were.
    """
    red = redness(bgr, paper)
    alpha = np.clip((red - RED_LOW) / (RED_HIGH - RED_LOW), 0.0, 1.0)
    strong = red > RED_HIGH
    r_norm = bgr[..., 2].astype(np.float32) * (255.0 / max(float(paper[2]), 1.0))
    transmission = float(np.median(r_norm[strong])) / 255.0 if strong.any() else 1.0
    lifted = np.minimum(r_norm / min(1.0, max(0.6, transmission)), 255.0)
    # Back to the tile's own gray scale (paper level), so no seam shows at the tile's edge.
    paper_gray = float(0.114 * paper[0] + 0.587 * paper[1] + 0.299 * paper[2])
    lifted *= paper_gray / 255.0
    # Widen by a fraction of a millimetre: anti-aliased and JPEG-smeared edges of the ink are red too.
    grow = _odd(round(dpi / 100))
    wide = cv2.dilate(alpha, np.ones((grow, grow), np.uint8))
    tile = gray.astype(np.float32) + wide * (lifted - gray.astype(np.float32))
    # Thin strokes lose colour to blur and JPEG first: three quarters of the typical redness counts as full ink.
    ink_strength = 0.75 * float(np.median(red[strong])) if strong.any() else RED_HIGH
    ink = (255.0 - np.clip(red / max(ink_strength, RED_HIGH) * 255.0, 0.0, 255.0)).astype(np.uint8)
    return np.clip(tile, 0, 255).astype(np.uint8), _fill_occluded(ink, gray < 0.6 * paper_gray, dpi)


def _fill_occluded(ink: np.ndarray, dark: np.ndarray, dpi: int) -> np.ndarray:
    """Guess the red ink under black strokes that cross it: where red surrounds a dark pixel on both sides.

    A gray opening (min then max filter) a little wider than a pen stroke fills
    the narrow white cuts black text leaves in red strokes and nothing else;
    it is applied only where the page is dark, so red ink is never invented on paper.
    """
    k = _odd(round(0.6 * dpi / MM_PER_INCH))
    opened = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
    return np.where(dark, np.minimum(ink, opened), ink)


# --- seals ---

#: Diameter range of company seals (mm); official round seals are 38-50 mm, oval ones 45 x 30.
SEAL_MIN_MM, SEAL_MAX_MM = 28.0, 60.0
#: Share of directions around a seal in which its ring must show ink.
RING_COVERAGE = 0.6
#: Largest share of a seal's inside covered by ink (a thumbprint is nearly solid).
SEAL_MAX_FILL = 0.45
#: Band of a seal's radius holding the text along its rim (fractions of the ring's radius).
TEXT_BAND = (0.5, 0.93)
#: Least gap (degrees) in the rim's ink that separates the rim text from other marks.
MIN_TEXT_GAP = 10.0
#: Longest rim text (degrees): names take at most about 260 degrees of the rim.
MAX_TEXT_ARC = 290.0


@dataclass(frozen=True)
class Seal:
    """A round or oval seal: centre, semi-axes and the angle of the first axis (degrees), in layer pixels."""

    centre: tuple[float, float]
    axes: tuple[float, float]
    angle: float

    def radius_towards(self, phi: np.ndarray) -> np.ndarray:
        """Distance from the centre to the ring in image directions ``phi`` (radians, clockwise from +x)."""
        a, b = self.axes
        rel = phi - math.radians(self.angle)
        return a * b / np.sqrt((b * np.cos(rel)) ** 2 + (a * np.sin(rel)) ** 2)

    def box(self, scale: float = 1.0) -> Box:
        """Bounding box of the ring, divided by ``scale`` (layer pixels to page pixels)."""
        phi = np.linspace(0, 2 * math.pi, 72, endpoint=False)
        r = self.radius_towards(phi)
        xs, ys = self.centre[0] + r * np.cos(phi), self.centre[1] + r * np.sin(phi)
        return (int(xs.min() / scale), int(ys.min() / scale),
                math.ceil(xs.max() / scale), math.ceil(ys.max() / scale))


def find_seals(layer: np.ndarray, *, dpi: float) -> list[Seal]:
    """Round and oval seals in a red-ink layer (``dpi`` is the layer's resolution).

    A seal is a ring of ``SEAL_MIN_MM`` to ``SEAL_MAX_MM`` across: an ellipse
    fitted to the hull of a red group must have ink along at least
    ``RING_COVERAGE`` of its rim (text crossing the ring leaves gaps), and its
    inside must be mostly paper, which rules out thumbprints (solid, ridged
    blobs) as well as their smaller size. Groups are found on a copy a quarter
    the size; rings are fitted at full size.
    """
    px_per_mm = dpi / MM_PER_INCH
    seals = []
    for x0, y0, x1, y1 in _ink_groups(layer, px_per_mm, min_mm=SEAL_MIN_MM * 0.6, max_mm=SEAL_MAX_MM * 1.1):
        mask = (layer[y0:y1, x0:x1] < 128).astype(np.uint8)
        close = _odd(round(3.0 * px_per_mm))
        joined = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
        if count < 2:
            continue
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        seal = _fit_ring(mask & (labels == biggest), (x0, y0), px_per_mm)
        if seal is not None:
            seals.append(seal)
    return seals


def _ink_groups(layer: np.ndarray, px_per_mm: float, *, min_mm: float, max_mm: float) -> list[Box]:
    """Boxes (layer pixels, with a 2 mm margin) of ink groups whose sides lie between ``min_mm`` and ``max_mm``."""
    factor = 4
    # Every fourth pixel is enough to see a ring a millimetre wide, and ten times faster than averaging.
    mask = (layer[factor // 2 :: factor, factor // 2 :: factor] < 160).astype(np.uint8)
    close = _odd(round(3.0 * px_per_mm / factor))
    joined = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
    contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    margin = round(2 * px_per_mm)
    height, width = layer.shape[:2]
    boxes = []
    for contour in contours:
        x, y, w, h = (v * factor for v in cv2.boundingRect(contour))
        if min(w, h) >= min_mm * px_per_mm and max(w, h) <= max_mm * px_per_mm:
            boxes.append((max(0, x - margin), max(0, y - margin),
                          min(width, x + w + margin), min(height, y + h + margin)))
    return boxes


def _fit_ring(piece: np.ndarray, origin: tuple[int, int], px_per_mm: float) -> Seal | None:
    """The seal whose ring is the outline of ``piece`` (a group's ink), or None when it is no ring."""
    points = cv2.findNonZero(piece)
    if points is None or len(points) < 20:
        return None
    hull = cv2.convexHull(points)
    if len(hull) < 5:
        return None
    (cx, cy), (d1, d2), angle = cv2.fitEllipse(hull)
    if not (SEAL_MIN_MM * px_per_mm <= max(d1, d2) <= SEAL_MAX_MM * px_per_mm and min(d1, d2) >= 0.55 * max(d1, d2)):
        return None
    seal = Seal((cx + origin[0], cy + origin[1]), (d1 / 2, d2 / 2), angle)
    local = Seal((cx, cy), seal.axes, angle)
    if _ring_coverage(piece, local) < RING_COVERAGE or _inner_fill(piece, local) > SEAL_MAX_FILL:
        return None
    return seal


def _polar_samples(seal: Seal, angles: int, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample coordinates (x, y) of shape (len(radii), angles) at fractions ``radii`` of the ring."""
    phi = np.linspace(0, 2 * math.pi, angles, endpoint=False)
    r = seal.radius_towards(phi)[None, :] * radii[:, None]
    return seal.centre[0] + r * np.cos(phi), seal.centre[1] + r * np.sin(phi)


def _sample(mask: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Mask values at sample points (0 outside the mask)."""
    xi, yi = np.round(xs).astype(int), np.round(ys).astype(int)
    inside = (xi >= 0) & (yi >= 0) & (xi < mask.shape[1]) & (yi < mask.shape[0])
    out = np.zeros(xs.shape, bool)
    out[inside] = mask[yi[inside], xi[inside]] > 0
    return out


def _ring_coverage(mask: np.ndarray, seal: Seal) -> float:
    """Share of 120 directions in which the rim (0.88 to 1.02 of the radius) holds ink."""
    xs, ys = _polar_samples(seal, 120, np.linspace(0.88, 1.02, 8))
    return float(_sample(mask, xs, ys).any(axis=0).mean())


def _inner_fill(mask: np.ndarray, seal: Seal) -> float:
    """Share of the inside (up to 0.85 of the radius) covered by ink."""
    xs, ys = _polar_samples(seal, 90, np.linspace(0.05, 0.85, 12))
    return float(_sample(mask, xs, ys).mean())


def unwrap_seal(layer: np.ndarray, seal: Seal) -> np.ndarray:
    """The text along a seal's rim as a level strip: dark text on white, reading left to right, upright.

    Characters on a seal stand on the rim with their tops outwards, so an
    unwrapping that runs clockwise with the outer radius at the top makes them
    upright. The strip starts and ends in the widest gap of the rim text (at
    the bottom of an upright seal; a turned seal turns with it) and is trimmed
    to the ink.
    """
    inner, outer = TEXT_BAND
    mean_r = float(np.mean(seal.axes))
    start, span = _text_arc(layer, seal)
    width = max(16, round(span * mean_r * (inner + outer) / 2))
    height = max(8, round((outer - inner) * mean_r))
    phi = start + span * (np.arange(width, dtype=np.float32) + 0.5) / width
    frac = outer - (outer - inner) * (np.arange(height, dtype=np.float32) + 0.5) / height
    r = seal.radius_towards(phi)[None, :] * frac[:, None]
    map_x = (seal.centre[0] + r * np.cos(phi)[None, :]).astype(np.float32)
    map_y = (seal.centre[1] + r * np.sin(phi)[None, :]).astype(np.float32)
    strip = cv2.remap(layer, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    return _trim(_main_run(strip), pad=max(4, height // 6))


def _text_arc(layer: np.ndarray, seal: Seal) -> tuple[float, float]:
    """Start angle and span (radians, clockwise) of the rim text.

    Gaps of at least ``MIN_TEXT_GAP`` degrees with no ink cut the rim into
    arcs; the rim text is the arc at the top (a seal is stamped roughly
    upright), or the longest arc when the top is empty. An arc longer than
    ``MAX_TEXT_ARC`` runs on into a code along the bottom (the digits of a
    registered seal); the upper ``MAX_TEXT_ARC`` is taken then. Only the outer part of
    the text band is looked at: a label at the bottom (合同专用章) reaches into
    the inner part.
    """
    xs, ys = _polar_samples(seal, 360, np.linspace(0.7, TEXT_BAND[1], 8))
    profile = _sample(layer < 192, xs, ys).mean(axis=0)
    profile = np.convolve(np.concatenate([profile[-3:], profile, profile[:3]]), np.ones(7) / 7, "valid")
    arcs = _ink_arcs(profile < 0.02, min_gap=round(MIN_TEXT_GAP))
    if not arcs:
        return 0.0, 2 * math.pi
    top = 270  # image angles run clockwise from +x, so straight up is 270 degrees
    on_top = [arc for arc in arcs if (top - arc[0]) % 360 < arc[1]]
    first, length = on_top[0] if on_top else max(arcs, key=lambda arc: arc[1])
    start = float(first)
    if length > MAX_TEXT_ARC:
        # No gap between the name and a code or label at the bottom: take the upper part, upright.
        start, length = top - MAX_TEXT_ARC / 2, round(MAX_TEXT_ARC)
    return math.radians(start - 3), math.radians(min(360, length + 6))


def _ink_arcs(empty: np.ndarray, *, min_gap: int) -> list[tuple[int, int]]:
    """(start, length) in degrees of the arcs between runs of at least ``min_gap`` empty degrees."""
    n = len(empty)
    if empty.all():
        return []
    shift = int(np.argmin(empty))  # start the walk on ink, so no run wraps around the seam
    flags = np.roll(empty, -shift)
    cuts = []
    i = 0
    while i < n:
        if flags[i]:
            j = i
            while j < n and flags[j]:
                j += 1
            if j - i >= min_gap:
                cuts.append((i, j))
            i = j
        else:
            i += 1
    if not cuts:
        return [(shift, n)]
    ends = [end for _, end in cuts]
    starts = [start for start, _ in cuts[1:]] + [cuts[0][0] + n]
    return [((end + shift) % n, nxt - end) for end, nxt in zip(ends, starts, strict=True)]


def _main_run(strip: np.ndarray) -> np.ndarray:
    """Blank out ink at the ends of a strip that stands apart from the evenly spaced rim text.

    Characters on a rim are evenly spaced; the ends of a bottom label that
    reach the rim sit beyond a gap several times wider. The run of ink with the
    most ink between such gaps is kept.
    """
    height = strip.shape[0]
    cols = np.flatnonzero((strip < 160).any(axis=0))
    if len(cols) < 2:
        return strip
    steps = np.diff(cols)
    gaps = steps[steps > max(2, height // 10)]  # gaps between characters, not inside one
    if not len(gaps):
        return strip
    limit = max(3.0 * float(np.median(gaps)), 0.5 * height)
    cuts = np.flatnonzero(steps > limit)
    if not len(cuts):
        return strip
    bounds = [cols[0], *(cols[c + 1] for c in cuts)], [*(cols[c] for c in cuts), cols[-1]]
    ink = (strip < 160).sum(axis=0)
    best = max(zip(*bounds, strict=True), key=lambda b: int(ink[b[0] : b[1] + 1].sum()))
    out = np.full_like(strip, 255)
    out[:, best[0] : best[1] + 1] = strip[:, best[0] : best[1] + 1]
    return out


def _trim(strip: np.ndarray, *, pad: int) -> np.ndarray:
    """Cut a strip to its ink plus ``pad`` white pixels on each side."""
    ink = strip < 160
    cols, rows = np.flatnonzero(ink.any(axis=0)), np.flatnonzero(ink.any(axis=1))
    if not len(cols):
        return strip
    x0, x1 = max(0, cols[0] - pad), min(strip.shape[1], cols[-1] + 1 + pad)
    y0, y1 = max(0, rows[0] - pad), min(strip.shape[0], rows[-1] + 1 + pad)
    return strip[y0:y1, x0:x1]


# --- seals on gray pages ---

#: Resolution rings are looked for at on a gray page (by halving: 75 dpi for a 300-dpi page).
GRAY_SEAL_DPI = 70
#: Seal ink on a gray page is lifted when its ring is at least this light (8-bit levels; black
#: print stays below about 60 after normalising), and then everything lighter than the ring's
#: gray less ``GRAY_SEAL_CONTRAST`` inside the ring is taken for seal ink.
GRAY_SEAL_LIGHT, GRAY_SEAL_CONTRAST = 100, 45


@dataclass(frozen=True)
class GraySeal:
    """A seal found by its ring on a gray page: the ring (page pixels) and the gray of its ink.

    ``lift`` is the level above which ink inside the ring is the seal's (lighter
    than the black print crossing it); None when the seal is as dark as print.
    """

    seal: Seal
    ink: float
    lift: float | None


def find_gray_seals(gray: np.ndarray, dpi: int) -> list[GraySeal]:
    """Round seals on a normalised gray page, found by the shape of their ring.

    Colour cannot tell a seal from print on a gray photocopy, but the ring of
    ``SEAL_MIN_MM`` to ``SEAL_MAX_MM`` does (a Hough circle search on a small
    copy), and red ink copies to a mid gray, lighter than black print: such a
    seal can be lifted off the page like a red one. Oval seals are not looked
    for on gray pages.
    """
    small, scale = shrink(gray, GRAY_SEAL_DPI / max(dpi, 1))
    px_per_mm = dpi * scale / MM_PER_INCH
    circles = cv2.HoughCircles(
        cv2.GaussianBlur(small, (3, 3), 0), cv2.HOUGH_GRADIENT_ALT, dp=1.5, minDist=SEAL_MIN_MM / 2 * px_per_mm,
        param1=150, param2=0.75, minRadius=round(SEAL_MIN_MM / 2 * px_per_mm),
        maxRadius=round(SEAL_MAX_MM / 2 * px_per_mm),
    )
    found: list[GraySeal] = []
    for cx, cy, r in [] if circles is None else sorted(circles[0].tolist(), key=lambda c: -c[2]):
        if any(math.hypot(cx / scale - g.seal.centre[0], cy / scale - g.seal.centre[1]) < g.seal.axes[0]
               for g in found):
            continue  # the inner ring of a double-ringed seal
        checked = _gray_seal(gray, Seal((cx / scale, cy / scale), (r / scale, r / scale), 0.0))
        if checked is not None:
            found.append(checked)
    return found


def _gray_seal(gray: np.ndarray, seal: Seal) -> GraySeal | None:
    """The seal and the gray of its ring when the rim is inked all round, or None (no seal there)."""
    ink = (gray < 200).astype(np.uint8)
    if _ring_coverage(ink, seal) < RING_COVERAGE or _inner_fill(ink, seal) > SEAL_MAX_FILL:
        return None
    xs, ys = _polar_samples(seal, 180, np.linspace(0.9, 1.0, 6))
    xi = np.clip(np.round(xs).astype(int), 0, gray.shape[1] - 1)
    yi = np.clip(np.round(ys).astype(int), 0, gray.shape[0] - 1)
    ring = gray[yi, xi]
    level = float(np.median(ring[ring < 200]))
    return GraySeal(seal, level, level - GRAY_SEAL_CONTRAST if level >= GRAY_SEAL_LIGHT else None)


def lift_gray_seal(gray: np.ndarray, found: GraySeal, dpi: int) -> tuple[np.ndarray, np.ndarray, Seal]:
    """Lift a gray seal's ink to paper (print under it stays), and give its ink as a layer to unwrap.

    Returns the page (a copy when anything was lifted), the seal's ink layer
    (a square around it: 0 = seal ink, 255 = none) and the seal in that
    layer's pixels. A seal as dark as print stays on the page; its layer then
    holds the print crossing it as well.
    """
    seal = found.seal
    r = max(seal.axes)
    x0, y0 = max(0, int(seal.centre[0] - 1.1 * r)), max(0, int(seal.centre[1] - 1.1 * r))
    x1 = min(gray.shape[1], math.ceil(seal.centre[0] + 1.1 * r))
    y1 = min(gray.shape[0], math.ceil(seal.centre[1] + 1.1 * r))
    tile = gray[y0:y1, x0:x1]
    local = Seal((seal.centre[0] - x0, seal.centre[1] - y0), seal.axes, seal.angle)
    inside = np.zeros(tile.shape, np.uint8)
    cv2.circle(inside, (round(local.centre[0]), round(local.centre[1])), round(1.06 * r), 1, -1)
    lift = found.lift if found.lift is not None else -1.0
    seal_ink = (inside > 0) & (tile > lift) & (tile < 235)
    strength = np.clip((235.0 - tile.astype(np.float32)) / max(20.0, 235.0 - found.ink), 0.0, 1.0)
    layer = np.where(seal_ink, 255 - (strength * 255).astype(np.uint8), 255).astype(np.uint8)
    if found.lift is None:
        return gray, layer, local
    layer = _fill_occluded(layer, (inside > 0) & (tile <= lift), dpi)
    out = gray.copy()
    out[y0:y1, x0:x1][seal_ink] = 255
    return out, layer, local


#: Endings of an organisation's name on a seal; anything read after the last one is a stray mark.
_NAME_ENDINGS = (
    "有限责任公司", "有限公司", "分公司", "公司", "服务中心", "中心", "管理处", "委员会", "服务部", "办事处",
)
#: Characters kept in a seal's name: Chinese, and brackets around a branch's name.
_SEAL_CHARS = re.compile(r"[\u3400-\u9fff（）()]")


def seal_text(word: OcrWord, box: Box, *, min_confidence: float = 0.5) -> SealText | None:
    """The organisation's name read along a seal, cleaned; None when nothing name-like was read.

    Keeps the piece (between wide gaps) that holds a name ending (有限公司,
    中心 ...), its Chinese characters (and brackets: 分公司 names use them),
    and cuts what follows the last name ending. A name needs four characters and
    ``min_confidence``.
    """
    pieces = unicodedata.normalize("NFKC", word.text).split()
    # A wide gap on the rim (read as a space) sets the name apart from label characters at its ends.
    named = [p for p in pieces if any(e in p for e in _NAME_ENDINGS)]
    piece = max(named or pieces or [""], key=len)
    text = "".join(_SEAL_CHARS.findall(piece))
    text = text.replace("(", "（").replace(")", "）").strip("（）")
    ends = [text.rfind(e) + len(e) for e in _NAME_ENDINGS if e in text]
    if ends:
        text = text[: max(ends)]
    if len(text) < 4 or word.confidence < min_confidence:
        return None
    return SealText(text=text, box=box, confidence=word.confidence)


def read_seals(page: PageImage, engine: OcrEngine) -> tuple[SealText, ...]:
    """Read the seal strips of a preprocessed page with the engine and clean them into names."""
    if not page.seal_strips:
        return ()
    words = engine.recognize_crops(list(page.seal_strips))
    found = (seal_text(word, box) for word, box in zip(words, page.seal_boxes, strict=True))
    return tuple(seal for seal in found if seal is not None)


# --- scanner and paper marks on the image ---

#: Punch holes: diameter range (mm; ISO 838 holes are 6 mm) and how far from an edge their centres lie.
HOLE_MM = (4.0, 9.0)
HOLE_EDGE_MM = 20.0
#: Staple shadows: length range and greatest width (mm), within this distance of a corner.
STAPLE_MM = (7.0, 16.0, 2.2)
STAPLE_CORNER_MM = 35.0
#: Longer side of the small copy scanner marks are looked for on (about 85 dpi for A4).
MARKS_SIDE = 1000
#: Creases: least length (mm) of a fold line, and the gray levels it lies between (lighter than print).
CREASE_MM = 80.0
CREASE_LEVELS = (150, 235)
#: Gaps (mm) a crease may have where it crosses text, and the share of its length that must be thin.
CREASE_GAP_MM, CREASE_COVERAGE = 3.0, 0.6


def paint_out_margin_marks(gray: np.ndarray, dpi: int) -> np.ndarray:
    """Paint punch holes (round, near an edge) and staple shadows (short bars near a corner) white.

    Works on a normalised page (paper white): marks are found on a copy of
    about 85 dpi and painted at full size. A mark must stand alone (no other
    ink within 3 mm), so letters of a heading near the edge are never taken
    for one.
    """
    small, scale = shrink(gray, MARKS_SIDE / max(gray.shape[:2]))
    px_per_mm = dpi * scale / MM_PER_INCH
    mask = (small < 128).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = gray
    for contour in contours:
        shape = _margin_mark(contour, mask, px_per_mm)
        if shape is None:
            continue
        if out is gray:
            out = gray.copy()
        grow = round(0.8 * px_per_mm / scale)
        if shape == "hole":
            (cx, cy), r = cv2.minEnclosingCircle(contour)
            cv2.circle(out, (round(cx / scale), round(cy / scale)), round(r / scale) + grow, 255, -1)
        else:
            x, y, w, h = cv2.boundingRect(contour)
            cv2.rectangle(out, (round(x / scale) - grow, round(y / scale) - grow),
                          (round((x + w) / scale) + grow, round((y + h) / scale) + grow), 255, -1)
    return out


def _margin_mark(contour: np.ndarray, mask: np.ndarray, px_per_mm: float) -> str | None:
    """``"hole"``, ``"staple"`` or None for one dark blob of the small copy's ink ``mask``."""
    height, width = mask.shape[:2]
    x, y, w, h = cv2.boundingRect(contour)
    if max(w, h) > STAPLE_MM[1] * px_per_mm or max(w, h) < HOLE_MM[0] * px_per_mm:
        return None
    edge = min(x, y, width - x - w, height - y - h) / px_per_mm
    corner = max(min(x, width - x - w), min(y, height - y - h)) / px_per_mm
    if edge > HOLE_EDGE_MM and corner > STAPLE_CORNER_MM:
        return None
    ink = int(np.count_nonzero(mask[y : y + h, x : x + w]))
    if not _stands_alone(mask, (x, y, x + w, y + h), ink, round(3 * px_per_mm)):
        return None
    (_, _), r = cv2.minEnclosingCircle(contour)
    lo, hi = (d * px_per_mm / 2 for d in HOLE_MM)
    if edge <= HOLE_EDGE_MM and lo <= r <= hi and ink >= 0.8 * math.pi * r * r:
        return "hole"
    (_, _), (a, b), _ = cv2.minAreaRect(contour)
    long, short = max(a, b) / px_per_mm, min(a, b) / px_per_mm
    if corner <= STAPLE_CORNER_MM and STAPLE_MM[0] <= long <= STAPLE_MM[1] and short <= STAPLE_MM[2] \
            and ink >= 0.5 * a * b:
        return "staple"
    return None


def _stands_alone(mask: np.ndarray, box: Box, ink: int, margin: int) -> bool:
    """Whether the ink around a box (``margin`` pixels wide) is next to nothing compared with the box's own."""
    x0, y0, x1, y1 = box
    around = mask[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin]
    return int(np.count_nonzero(around)) - ink <= 0.05 * ink


def suppress_creases(gray: np.ndarray, dpi: int) -> np.ndarray:
    """Lighten long, faint, thin fold lines (creases) running across the page, along or across it.

    A crease is a row (or column) of the page at least ``CREASE_MM`` long that
    is not paper, is thin (paper a millimetre to either side) and is light:
    its median gray lies above ``CREASE_LEVELS[0]``, so printed rules and
    faded text lines (which are thick) are left alone. Only pixels lighter
    than print are painted, so a crease through text leaves the strokes.
    """
    small, scale = shrink(gray, MARKS_SIDE / max(gray.shape[:2]))
    px_per_mm = dpi * scale / MM_PER_INCH
    out = gray
    for axis in (0, 1):
        view = small if axis == 0 else small.T
        for index, lo, hi in _crease_runs(view, px_per_mm):
            if out is gray:
                out = gray.copy()
            target = out if axis == 0 else out.T
            r0, r1 = math.floor(index / scale) - 1, math.ceil((index + 1) / scale) + 1
            band = target[max(0, r0) : r1, math.floor(lo / scale) : math.ceil((hi + 1) / scale)]
            band[band >= CREASE_LEVELS[0]] = 255
    return out


def _crease_runs(small: np.ndarray, px_per_mm: float) -> list[tuple[int, int, int]]:
    """(row, first column, last column) of crease runs along the rows of a small copy.

    A run may cross text (gaps up to ``CREASE_GAP_MM``) but must be thin along
    most of its length (``CREASE_COVERAGE``): the horizontal strokes of a
    faded text line are thin too, but far apart.
    """
    length = CREASE_MM * px_per_mm
    away = max(2, round(px_per_mm))
    ink = small < CREASE_LEVELS[1]
    # Thin: paper a millimetre above and below (a text line or a shaded band is thick).
    thin = np.zeros_like(ink)
    thin[away:-away] = ink[away:-away] & ~ink[: -2 * away] & ~ink[2 * away :]
    band = thin.copy()
    band[1:-1] |= thin[:-2] | thin[2:]  # a crease a pixel off straight
    runs = []
    for row in np.flatnonzero(band.sum(axis=1) >= CREASE_COVERAGE * length):
        cols = np.flatnonzero(band[row])
        breaks = np.flatnonzero(np.diff(cols) > CREASE_GAP_MM * px_per_mm)
        for s, e in zip(np.r_[0, breaks + 1], np.r_[breaks, len(cols) - 1], strict=True):
            lo, hi = int(cols[s]), int(cols[e])
            if hi - lo + 1 < length or (e - s + 1) < CREASE_COVERAGE * (hi - lo + 1):
                continue
            levels = small[max(0, row - 1) : row + 2, cols[s : e + 1]].min(axis=0)
            # Neighbouring rows join the band; only rows the crease itself runs along are painted.
            if np.median(levels) >= CREASE_LEVELS[0] and thin[row, lo : hi + 1].mean() >= 0.5 * CREASE_COVERAGE:
                runs.append((int(row), lo, hi))
    return runs


# --- marks in the OCR result ---

#: Tick glyphs (and their usual misreadings) that are marks when they stand alone.
TICKS = frozenset("√✓✔☑Vv")
#: Characters a speck, a hole's rim or a scanner border is read as.
JUNK = frozenset("|Il1!.,:;'\"`~-_^*·•°()[]{}<>/\\=+oO0。，、；：·")
#: Page zones (share of the height) where page numbers are printed or stamped.
PAGE_NUMBER_ZONE = 0.12
#: Margin (share of the shorter side) where isolated specks are dropped.
MARGIN_ZONE = 0.06
#: Small header and footer text: resolution looked at, ink joined within (mm), height range and
#: greatest width (mm) of a piece, and most pieces read per page.
MARK_DPI = 150
MARK_JOIN_MM = 2.5
MARK_HEIGHT_MM = (1.2, 7.0)
MARK_WIDTH_MM = 60.0
MAX_MARGIN_PIECES = 8

_PAGE_MARKS = (
    re.compile(r"第(\d{1,3})页[,，/、]?(?:共(\d{1,3})页)?"),
    re.compile(r"共(\d{1,3})页[,，/、]?第(\d{1,3})页"),
    re.compile(r"[-—–一－~]{1,2}(\d{1,3})[-—–一－~]{1,2}"),
    re.compile(r"(\d{1,3})/(\d{1,3})"),
    re.compile(r"(?i)(?:page|p\.?)(\d{1,3})(?:of(\d{1,3}))?"),
)
_STAMP_NUMBER = re.compile(r"[-—–一－~·]*(?:No\.?|№)?0*(\d{1,7})[-—–一－~·]*")


def margin_text_boxes(gray: np.ndarray, dpi: int) -> list[Box]:
    """Boxes (page pixels) of small, separate pieces of text in the top and bottom ``PAGE_NUMBER_ZONE``.

    Page numbers are often printed small and alone ("- 3 -" in 8-point type)
    where a page detector tuned for body text does not see them. Ink within
    ``MARK_JOIN_MM`` joins one piece; a piece must be text-sized
    (``MARK_HEIGHT_MM``, at most ``MARK_WIDTH_MM`` wide).
    """
    small, scale = shrink(gray, MARK_DPI / max(dpi, 1))
    px_per_mm = dpi * scale / MM_PER_INCH
    height = small.shape[0]
    zone = round(PAGE_NUMBER_ZONE * height)
    boxes: list[Box] = []
    for top in (0, height - zone):
        band = small[top : top + zone]
        join = max(3, round(MARK_JOIN_MM * px_per_mm))
        ink = cv2.dilate((band < 180).astype(np.uint8), np.ones((max(1, join // 3), join), np.uint8))
        contours, _ = cv2.findContours(ink, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            if MARK_HEIGHT_MM[0] * px_per_mm <= h <= MARK_HEIGHT_MM[1] * px_per_mm and w <= MARK_WIDTH_MM * px_per_mm:
                pad = px_per_mm
                boxes.append((max(0, int((x - pad) / scale)), max(0, int((top + y - pad) / scale)),
                              min(gray.shape[1], math.ceil((x + w + pad) / scale)),
                              min(gray.shape[0], math.ceil((top + y + h + pad) / scale))))
    return boxes


def add_margin_text(result: OcrPage, page: PageImage, engine: OcrEngine) -> OcrPage:
    """Add the small header and footer text the page OCR missed, read as single lines.

    Pieces found by :func:`margin_text_boxes` that no OCR line overlaps are
    read with the engine's ``recognize_crops`` (cheap: no detection) and added
    as lines, so that :func:`clean_page` can read a page number from them.
    """
    if page.blank or page.image.ndim != 2:
        return result
    boxes = [b for b in margin_text_boxes(page.image, page.dpi) if not any(_overlap(b, ln.box) for ln in result.lines)]
    if not boxes:
        return result
    crops = [page.image[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes[:MAX_MARGIN_PIECES]]
    words = engine.recognize_crops(crops)
    added = [OcrLine(text=w.text, box=b, confidence=w.confidence,
                     words=(w.model_copy(update={"box": b}),))
             for w, b in zip(words, boxes, strict=False) if w.text and w.confidence >= 0.5]
    if not added:
        return result
    lines = sorted((*result.lines, *added), key=lambda ln: (ln.box[1] + ln.box[3], ln.box[0]))
    return result.model_copy(update={"lines": tuple(lines)})


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def clean_page(page: OcrPage) -> OcrPage:
    """Drop words that are marks and read the page-number mark.

    * Page-number marks in the top or bottom ``PAGE_NUMBER_ZONE`` ("第 3 页 共
      8 页", "共8页 第3页", "- 3 -", "3/8", "Page 3 of 8") set ``page_number``
      / ``page_total`` and leave the text; a number standing alone in a
      corner (a numbering-machine stamp) leaves the text without setting them.
    * A tick glyph standing alone is dropped, unless it sits just before or
      after a short option word (☑男: the extractor reads ticked boxes).
    * Specks read as one or two marks (``|``, ``.``, ``'``) alone on their line
      in the page's margins are dropped.

    Pure function: returns a new page; lines without marks are kept as they are.
    """
    number, total = page.page_number, page.page_total
    lines = []
    for line in page.lines:
        words = list(line.words) or [OcrWord(text=line.text, box=line.box, confidence=line.confidence)]
        kept = list(words)
        found = _page_mark(kept, page) if number is None else None
        if found is not None:
            (start, stop), number, total = found
            del kept[start:stop]
        kept = [w for k, w in enumerate(kept) if not _is_mark(kept, k, page)]
        if len(kept) == len(words):
            lines.append(line)
        elif kept:
            lines.append(_line(kept))
    return page.model_copy(update={"lines": tuple(lines), "page_number": number, "page_total": total})


def _page_mark(words: list[OcrWord], page: OcrPage) -> tuple[tuple[int, int], int | None, int | None] | None:
    """(word range, number, total) of a page-number mark on one line, or None.

    A numbering-machine stamp in a corner counts pages across a whole batch
    (000123, 000124 ...), not within a document: it is taken off the text but
    gives no page number (a running count would glue documents together).
    """
    zone = PAGE_NUMBER_ZONE * page.height
    for start in range(len(words)):
        if zone < words[start].box[3] and words[start].box[1] < page.height - zone:
            continue
        for stop in range(min(len(words), start + 4), start, -1):
            found = _page_numbers(_squeeze("".join(w.text for w in words[start:stop])))
            if found is not None:
                return (start, stop), *found
    if len(words) == 1 and _in_corner(words[0].box, page):
        match = _STAMP_NUMBER.fullmatch(_squeeze(words[0].text))
        if match and int(match.group(1)) > 0:
            return (0, 1), None, None
    return None


def _page_numbers(text: str) -> tuple[int, int | None] | None:
    """(number, total) when ``text`` is a whole page-number mark."""
    for k, pattern in enumerate(_PAGE_MARKS):
        match = pattern.fullmatch(text)
        if not match:
            continue
        groups = [int(g) if g else None for g in match.groups()] + [None]
        number, total = (groups[1], groups[0]) if k == 1 else (groups[0], groups[1])
        if number and (total is None or number <= total):
            return number, total
    return None


def _is_mark(words: list[OcrWord], k: int, page: OcrPage) -> bool:
    """Whether word ``k`` of a line is a stray tick or a speck at the margin."""
    word = words[k]
    text = word.text.strip()
    if text and all(ch in TICKS for ch in text) and len(text) <= 2:
        height = max(1, word.box[3] - word.box[1])
        for other in (words[k - 1] if k else None, words[k + 1] if k + 1 < len(words) else None):
            if other is None:
                continue
            gap = max(other.box[0] - word.box[2], word.box[0] - other.box[2])
            if gap <= 1.5 * height and 0 < len(other.text.strip()) <= 6:
                return False
        return True
    if len(words) == 1 and len(text) <= 2 and all(ch in JUNK for ch in text):
        return _in_margin(word.box, page)
    return False


def _in_corner(box: Box, page: OcrPage) -> bool:
    """Whether a box lies in the top or bottom zone and in the outer quarter (or centre strip at the bottom)."""
    zone = PAGE_NUMBER_ZONE * page.height
    vertical = box[3] <= zone or box[1] >= page.height - zone
    cx = (box[0] + box[2]) / 2
    return vertical and (cx <= 0.3 * page.width or cx >= 0.7 * page.width
                         or (box[1] >= page.height - zone and abs(cx - page.width / 2) <= 0.1 * page.width))


def _in_margin(box: Box, page: OcrPage) -> bool:
    margin = MARGIN_ZONE * min(page.width, page.height)
    return box[0] < margin or box[1] < margin or box[2] > page.width - margin or box[3] > page.height - margin


def _line(words: list[OcrWord]) -> OcrLine:
    """A line rebuilt from its remaining words (text joined by one space, as the engines do)."""
    weights = [max(1, len(w.text)) for w in words]
    confidence = sum(wt * w.confidence for wt, w in zip(weights, words, strict=True)) / sum(weights)
    box = (min(w.box[0] for w in words), min(w.box[1] for w in words),
           max(w.box[2] for w in words), max(w.box[3] for w in words))
    return OcrLine(text=" ".join(w.text for w in words), box=box, confidence=confidence, words=tuple(words))


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


# --- helpers ---


def _inside(inner: Box, outer: Box) -> bool:
    return inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def _odd(n: int) -> int:
    return max(3, n | 1)


# --- lines written across the page at a slant (ID-copy purpose lines) ---

#: Words of the line written across a copy to state its purpose ("仅供…使用，再复印无效").
_PURPOSE = re.compile(r"仅供|仅限|仅用|使用|无效|复印|办理|用于|存档|专用|手续|他用")
#: A word whose slope differs this much (degrees) from the page's print runs across it.
OVERLAY_SLANT = 5.0
#: Characters a piece must hold to count as part of a written line (not a tick or a flourish).
OVERLAY_MIN_CHARS = 2


def find_overlay_words(result: OcrPage) -> list[OcrWord]:
    """Words that run at a slant of their own across the page's level print."""
    words = [w for line in result.lines for w in line.words]
    if not words:
        return []
    level = float(np.median([w.angle for w in words]))
    return [w for w in words if abs(w.angle - level) >= OVERLAY_SLANT and len(_squeeze(w.text)) >= OVERLAY_MIN_CHARS]


def read_overlays(result: OcrPage, page: PageImage, engine: OcrEngine) -> OcrPage:
    """Read a line written across the page at a slant as one line, and take its pieces out of ``lines``.

    The slanted pieces the page OCR found (often only parts of the line, where
    it crossed print) give the line's slope and position; a band along that line
    over the width of the print it crosses is levelled and read whole.
    """
    slanted = find_overlay_words(result)
    if not slanted or page.image.ndim != 2:
        return result
    strip = _overlay_strip(page.image, slanted, result)
    if strip is None:
        return result
    (word,) = engine.recognize_crops([strip])
    pieces = "".join(w.text for w in slanted)
    if not (_PURPOSE.search(word.text) or _PURPOSE.search(pieces)):
        return result  # slanted print (a card lying crooked), not a line written across it
    ids = {id(w) for w in slanted}
    lines = []
    for line in result.lines:
        kept = [w for w in line.words if id(w) not in ids]
        if len(kept) == len(line.words):
            lines.append(line)
        elif kept:
            lines.append(_line(kept))
    x0, y0 = min(w.box[0] for w in slanted), min(w.box[1] for w in slanted)
    x1, y1 = max(w.box[2] for w in slanted), max(w.box[3] for w in slanted)
    overlay = word.model_copy(update={"box": (x0, y0, x1, y1), "angle": float(np.median([w.angle for w in slanted]))})
    return result.model_copy(update={"lines": tuple(lines), "overlays": (*result.overlays, overlay)})


def _overlay_strip(gray: np.ndarray, slanted: Sequence[OcrWord], result: OcrPage) -> np.ndarray | None:
    """The band along the slanted line, levelled, over the width of the print it crosses."""
    angle = float(np.median([w.angle for w in slanted]))
    slope = -math.tan(math.radians(angle))  # image y grows downwards
    centres = np.array([((w.box[0] + w.box[2]) / 2, (w.box[1] + w.box[3]) / 2) for w in slanted], float)
    if len(slanted) >= 2 and np.ptp(centres[:, 0]) > 0:  # pieces far apart give the line better than their slopes
        slope = float(np.polyfit(centres[:, 0], centres[:, 1], 1)[0])
        angle = -math.degrees(math.atan(slope))
    offset = float(np.median(centres[:, 1] - slope * centres[:, 0]))
    # a slanted piece's box is taller than its text by its length times the slope
    heights = [max(8.0, (w.box[3] - w.box[1]) - abs(slope) * (w.box[2] - w.box[0])) for w in slanted]
    band = 0.7 * float(np.median(heights))
    crossed = [w for line in result.lines for w in line.words
               if abs((w.box[1] + w.box[3]) / 2 - (offset + slope * (w.box[0] + w.box[2]) / 2)) < 3 * band]
    xs = [w.box[0] for w in [*crossed, *slanted]] + [w.box[2] for w in [*crossed, *slanted]]
    x0, x1 = max(0, min(xs) - band), min(gray.shape[1] - 1, max(xs) + band)
    if x1 - x0 < 4 * band:
        return None
    cx = (x0 + x1) / 2
    cy = offset + slope * cx
    # turn the page about a point on the line so the line runs level, then cut the band out
    matrix = cv2.getRotationMatrix2D((cx, cy), -angle, 1.0)
    if abs(angle) > 60:
        return None  # not a line written across level print
    length = (x1 - x0) / math.cos(math.radians(angle))
    w, h = round(float(length)), round(float(2 * band))  # the text's height and a little
    if not (8 <= h <= 0.25 * gray.shape[0] and 8 <= w <= 2 * max(gray.shape)):
        return None
    matrix[0, 2] += w / 2 - cx
    matrix[1, 2] += h / 2 - cy
    try:
        strip = cv2.warpAffine(gray, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=255)
    except cv2.error:
        return None
    return strip if strip.size else None
