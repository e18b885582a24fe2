"""Marks a real archive page collects: seals, thumbprints, ticks, punch holes, staples, folds, page stamps.

Every mark is a frozen item in millimetres (like ``items.py``) with a seed, and
is painted into an RGB uint8 page array by ``paint_mark``. Inks multiply what
is already on the paper (a seal over text leaves the text readable but red);
holes and staples cover it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from tests.synth.handwriting import PEN_BLUE, ink_on
from tests.synth.items import Color
from tests.synth.render import FontBook

SEAL_RED: Color = (214, 38, 46)
PAD_RED: Color = (196, 34, 44)
NUMBERER_INKS: tuple[Color, ...] = ((40, 50, 150), (30, 30, 40), (110, 40, 120), (190, 40, 50))


@dataclass(frozen=True)
class Seal:
    """A round company seal (公章): ring, name along the upper arc, star, optional label and code."""

    cx: float
    cy: float
    r: float
    text: str
    seed: int
    label: str = ""
    code: str = ""
    angle: float = 0.0
    double_ring: bool = False
    color: Color = SEAL_RED

    def box(self) -> tuple[float, float, float, float]:
        """Bounding box in mm."""
        return (self.cx - self.r, self.cy - self.r, self.cx + self.r, self.cy + self.r)


@dataclass(frozen=True)
class Thumbprint:
    """A red fingerprint (手印) from an ink pad: ridged ellipse, uneven ink."""

    cx: float
    cy: float
    w: float
    h: float
    seed: int
    angle: float = 0.0
    color: Color = PAD_RED

    def box(self) -> tuple[float, float, float, float]:
        """Bounding box in mm."""
        return (self.cx - self.w / 2, self.cy - self.h / 2, self.cx + self.w / 2, self.cy + self.h / 2)


@dataclass(frozen=True)
class Tick:
    """A hand-drawn tick: ``check`` (✓), ``root`` (√) or ``cross`` (×), centred at (cx, cy)."""

    cx: float
    cy: float
    size: float
    seed: int
    kind: str = "check"
    color: Color = PEN_BLUE

    def box(self) -> tuple[float, float, float, float]:
        """Bounding box in mm."""
        s = self.size / 2
        return (self.cx - s, self.cy - s, self.cx + s, self.cy + s)


@dataclass(frozen=True)
class PunchHoles:
    """Filing holes along the left (``edge="left"``) or top margin; dark when the scanner lid is dark."""

    edge: str
    count: int
    seed: int
    dark: bool = True


@dataclass(frozen=True)
class Staple:
    """A staple (or the two holes and shadow of a removed one) in the top-left corner."""

    x: float
    y: float
    angle: float
    seed: int
    removed: bool = False


@dataclass(frozen=True)
class Crease:
    """A fold line across the page through (x0, y0)-(x1, y1) in mm."""

    x0: float
    y0: float
    x1: float
    y1: float
    seed: int
    strength: float = 0.5


@dataclass(frozen=True)
class PageStamp:
    """A page-number stamp: numbering-machine digits (``000123``) or a boxed ``第 3 页``."""

    x: float
    y: float
    text: str
    seed: int
    boxed: bool = False
    color: Color = NUMBERER_INKS[0]


@dataclass(frozen=True)
class InkStamp:
    """A rubber stamp of one or more text lines (optionally framed), e.g. 仅供办理入住手续使用 再复印无效."""

    cx: float
    cy: float
    lines: tuple[str, ...]
    size: float
    seed: int
    angle: float = 0.0
    framed: bool = True
    color: Color = SEAL_RED

    def box(self) -> tuple[float, float, float, float]:
        """Approximate bounding box in mm (unrotated)."""
        w = max(len(t) for t in self.lines) * self.size * 1.05 + 4
        h = len(self.lines) * self.size * 1.5 + 3
        return (self.cx - w / 2, self.cy - h / 2, self.cx + w / 2, self.cy + h / 2)


Mark = Seal | Thumbprint | Tick | PunchHoles | Staple | Crease | PageStamp | InkStamp


# ------------------------------------------------------------------ helpers


def _noise(shape: tuple[int, int], cell: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise in [-1, 1] with features about ``cell`` pixels wide."""
    h, w = shape
    cell = max(cell, 2.0)
    coarse = rng.uniform(-1, 1, (max(2, round(h / cell) + 1), max(2, round(w / cell) + 1))).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _uneven_ink(mask: np.ndarray, rng: np.random.Generator, px_per_mm: float, lo: float = 0.45) -> np.ndarray:
    """Stamp ink: patchy density and a few starved spots."""
    field = (_noise(mask.shape, 6 * px_per_mm, rng) + 1) / 2
    fine = (_noise(mask.shape, 0.6 * px_per_mm, rng) + 1) / 2
    density = lo + (1 - lo) * np.clip(field * 0.7 + fine * 0.5, 0, 1)
    return np.clip(mask * density, 0, 1).astype(np.float32)


def _blit(rgb: np.ndarray, alpha: np.ndarray, color: Color, x0: int, y0: int) -> None:
    """Multiply ink ``alpha`` of ``color`` onto ``rgb`` at (x0, y0), clipped to the page."""
    h, w = alpha.shape
    H, W = rgb.shape[:2]
    ax0, ay0 = max(0, -x0), max(0, -y0)
    bx0, by0 = max(0, x0), max(0, y0)
    bx1, by1 = min(W, x0 + w), min(H, y0 + h)
    if bx0 >= bx1 or by0 >= by1:
        return
    a = alpha[ay0 : ay0 + by1 - by0, ax0 : ax0 + bx1 - bx0]
    rgb[by0:by1, bx0:bx1] = ink_on(rgb[by0:by1, bx0:bx1], a, color)


def _rotate(mask: np.ndarray, angle: float) -> np.ndarray:
    """Rotate a square-ish mask about its centre (degrees, counter-clockwise), same size."""
    h, w = mask.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)


# ------------------------------------------------------------------ seals


def _seal_mask(seal: Seal, px_per_mm: float, fonts: FontBook) -> np.ndarray:
    """Coverage of a seal on a square canvas (before ink unevenness)."""
    r = seal.r * px_per_mm
    side = int(2 * r + 8)
    c = side / 2
    img = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(img)
    ring = max(2, round(seal.r * 0.06 * px_per_mm))
    draw.ellipse((c - r, c - r, c + r, c + r), outline=255, width=ring)
    if seal.double_ring:
        ri = r - ring * 2.2
        draw.ellipse((c - ri, c - ri, c + ri, c + ri), outline=255, width=max(1, ring // 3))
    star, _ = fonts.get("sans", False, max(8, int(r * 0.72)))
    draw.text((c, c), "★", font=star, fill=255, anchor="mm")
    if seal.label:
        lab, fake_bold = fonts.get("serif", True, max(6, int(r * 0.2)))
        draw.text((c, c + r * 0.56), seal.label, font=lab, fill=255, anchor="mm", stroke_width=int(fake_bold))
    text_r = r * (0.7 if seal.double_ring else 0.76)
    _arc(
        img,
        seal.text,
        c,
        text_r,
        min(r * 0.3, 0.92 * text_r * math.radians(_span(seal.text)) / len(seal.text)),
        _span(seal.text),
        fonts,
        top=True,
    )
    if seal.code:
        _arc(img, seal.code, c, r * 0.84, r * 0.1, min(110.0, 7.0 * len(seal.code)), fonts, top=False)
    return np.asarray(img, np.float32) / 255.0


def _span(text: str) -> float:
    """Degrees of arc the name takes: longer names wrap further round the seal."""
    return min(250.0, 17.0 * len(text) + 40)


def _arc(
    img: Image.Image, text: str, c: float, radius: float, px: float, span: float, fonts: FontBook, *, top: bool
) -> None:
    """Characters along the upper (or lower) arc, upright relative to the centre."""
    font, _ = fonts.get("serif", True, max(6, int(px)))
    size = int(px * 2) + 2
    for i, ch in enumerate(text):
        frac = (i + 0.5) / len(text)
        ang = (-90 - span / 2 + span * frac) if top else (90 + span / 2 - span * frac)
        glyph = Image.new("L", (size, size), 0)
        ImageDraw.Draw(glyph).text((size / 2, size / 2), ch, font=font, fill=255, anchor="mm")
        rot = -(ang + 90) if top else -(ang - 90)
        glyph = glyph.rotate(rot, resample=Image.Resampling.BILINEAR)
        gx = c + radius * math.cos(math.radians(ang)) - size / 2
        gy = c + radius * math.sin(math.radians(ang)) - size / 2
        img.paste(255, (int(gx), int(gy)), glyph)


def paint_seal(rgb: np.ndarray, seal: Seal, dpi: int, fonts: FontBook) -> None:
    """Stamp ``seal`` onto the page (multiplied, uneven ink, slightly rotated)."""
    ppm = dpi / 25.4
    rng = np.random.default_rng([seal.seed, 11])
    mask = _rotate(_seal_mask(seal, ppm, fonts), seal.angle)
    mask = _uneven_ink(mask, rng, ppm, lo=0.5)
    h, w = mask.shape
    _blit(rgb, mask * 0.92, seal.color, round(seal.cx * ppm - w / 2), round(seal.cy * ppm - h / 2))


# ------------------------------------------------------------------ thumbprints


def paint_thumbprint(rgb: np.ndarray, tp: Thumbprint, dpi: int) -> None:
    """Press a red fingerprint: whorl or loop ridges inside an uneven ellipse."""
    ppm = dpi / 25.4
    rng = np.random.default_rng([tp.seed, 13])
    w, h = max(8, round(tp.w * ppm)), max(8, round(tp.h * ppm))
    side = int(max(w, h) * 1.2)
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    cx, cy = side / 2 + rng.uniform(-0.1, 0.1) * w, side / 2 + rng.uniform(-0.05, 0.15) * h
    dx, dy = (xs - cx) / (w / 2), (ys - cy) / (h / 2)
    warp = _noise((side, side), side / 4, rng) * 0.18
    if rng.random() < 0.5:  # whorl: rings around a core
        d = np.sqrt(dx**2 + (dy * 1.1) ** 2) + warp
    else:  # loop: ridges bending round the core, running off one side
        d = np.sqrt(dx**2 + np.maximum(dy, 0) ** 2 * 1.3) + 0.35 * np.clip(-dy, 0, None) + warp
    period = 0.48 * ppm / (w / 2)
    ridges = 0.5 + 0.5 * np.sin(2 * np.pi * d / period)
    envelope = np.clip((1.0 - np.sqrt(((xs - side / 2) / (w / 2)) ** 2 + ((ys - side / 2) / (h / 2)) ** 2)) * 5, 0, 1)
    edge = _noise((side, side), side / 6, rng) * 0.25
    envelope = np.clip(envelope + edge * (envelope < 1), 0, 1)
    mask = np.clip((ridges - 0.35) * 1.8, 0, 1) * envelope
    mask = _uneven_ink(mask.astype(np.float32), rng, ppm, lo=0.35)
    mask = _rotate(mask, tp.angle)
    _blit(rgb, mask * 0.85, tp.color, round(tp.cx * ppm - side / 2), round(tp.cy * ppm - side / 2))


# ------------------------------------------------------------------ ticks


def paint_tick(rgb: np.ndarray, tick: Tick, dpi: int) -> None:
    """Draw a quick pen tick with a wobble and a lighter end stroke."""
    ppm = dpi / 25.4
    rng = np.random.default_rng([tick.seed, 17])
    s = tick.size * ppm
    if tick.kind == "root":
        shape = [(-0.5, 0.05), (-0.35, -0.05), (-0.1, 0.45), (0.25, -0.5), (0.6, -0.5)]
    elif tick.kind == "cross":
        shape = [(-0.4, -0.4), (0.4, 0.4), None, (0.4, -0.4), (-0.4, 0.4)]
    else:
        shape = [(-0.45, 0.0), (-0.12, 0.42), (0.5, -0.55)]
    pad = int(s * 0.4) + 4
    side = int(s) + 2 * pad
    canvas = np.zeros((side, side), np.uint8)
    strokes: list[list[tuple[int, int]]] = [[]]
    for p in shape:
        if p is None:
            strokes.append([])
            continue
        x = side / 2 + (p[0] + rng.normal(0, 0.05)) * s
        y = side / 2 + (p[1] + rng.normal(0, 0.05)) * s
        strokes[-1].append((round(x * 4), round(y * 4)))
    width = max(1, round(0.42 * ppm))
    for st in strokes:
        pts = np.array(st, np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [pts], False, 255, width, cv2.LINE_AA, shift=2)
    mask = canvas.astype(np.float32) / 255.0 * float(rng.uniform(0.8, 1.0))
    _blit(rgb, mask, tick.color, round(tick.cx * ppm - side / 2), round(tick.cy * ppm - side / 2))


# ------------------------------------------------------------------ paper marks


def paint_punch_holes(rgb: np.ndarray, holes: PunchHoles, dpi: int) -> None:
    """Two holes 80 mm apart (or four at 80 mm pitch) centred on the left or top margin."""
    ppm = dpi / 25.4
    rng = np.random.default_rng([holes.seed, 19])
    H, W = rgb.shape[:2]
    r = 3.0 * ppm
    along = H if holes.edge == "left" else W
    pitch = 80 * ppm
    mid = along / 2 + rng.uniform(-4, 4) * ppm
    offsets = (-0.5, 0.5) if holes.count == 2 else (-1.5, -0.5, 0.5, 1.5)
    margin = rng.uniform(9, 13) * ppm
    for k in offsets:
        pos = mid + k * pitch
        cx, cy = (margin, pos) if holes.edge == "left" else (pos, margin)
        cx, cy = round(cx), round(cy)
        if holes.dark:
            shade = int(rng.integers(15, 70))
            cv2.circle(rgb, (cx, cy), int(r), (shade, shade, shade), -1, cv2.LINE_AA)
        else:
            cv2.circle(rgb, (cx, cy), int(r), (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(rgb, (cx, cy), int(r), (150, 150, 150), max(1, int(0.2 * ppm)), cv2.LINE_AA)


def paint_staple(rgb: np.ndarray, st: Staple, dpi: int) -> None:
    """A metal staple with its shadow, or the two holes a removed staple leaves."""
    ppm = dpi / 25.4
    rng = np.random.default_rng([st.seed, 23])
    length = 12.5 * ppm
    a = math.radians(st.angle)
    cx, cy = st.x * ppm, st.y * ppm
    ex, ey = math.cos(a) * length / 2, math.sin(a) * length / 2
    p0 = (int(cx - ex), int(cy - ey))
    p1 = (int(cx + ex), int(cy + ey))
    if st.removed:
        for p in (p0, p1):
            cv2.circle(rgb, p, max(1, int(0.35 * ppm)), (70, 70, 70), -1, cv2.LINE_AA)
        return
    shadow = np.zeros(rgb.shape[:2], np.float32)
    off = (int(0.6 * ppm), int(0.8 * ppm))
    cv2.line(shadow, (p0[0] + off[0], p0[1] + off[1]), (p1[0] + off[0], p1[1] + off[1]), 1.0, max(2, int(1.4 * ppm)))
    shadow = cv2.GaussianBlur(shadow, (0, 0), 0.8 * ppm)
    H, W = rgb.shape[:2]
    x0, y0 = max(0, min(p0[0], p1[0]) - int(4 * ppm)), max(0, min(p0[1], p1[1]) - int(4 * ppm))
    x1, y1 = min(W, max(p0[0], p1[0]) + int(5 * ppm)), min(H, max(p0[1], p1[1]) + int(5 * ppm))
    region = rgb[y0:y1, x0:x1].astype(np.float32)
    region *= (1 - 0.45 * shadow[y0:y1, x0:x1])[..., None]
    rgb[y0:y1, x0:x1] = region.astype(np.uint8)
    grey = int(rng.integers(60, 110))
    cv2.line(rgb, p0, p1, (grey, grey, grey + 8), max(2, int(0.7 * ppm)), cv2.LINE_AA)
    cv2.line(rgb, p0, p1, (grey + 90, grey + 90, grey + 95), max(1, int(0.2 * ppm)), cv2.LINE_AA)


def paint_crease(rgb: np.ndarray, cr: Crease, dpi: int) -> None:
    """A fold: ink rubbed light right on the line, a shadow on one side and a highlight on the other."""
    ppm = dpi / 25.4
    rng = np.random.default_rng([cr.seed, 29])
    H, W = rgb.shape[:2]
    x0, y0, x1, y1 = (v * ppm for v in (cr.x0, cr.y0, cr.x1, cr.y1))
    nx, ny = y1 - y0, -(x1 - x0)
    norm = math.hypot(nx, ny) or 1.0
    nx, ny = nx / norm, ny / norm
    sl = slice(None)
    ys, xs = np.mgrid[0:H:4, 0:W:4].astype(np.float32)
    d = ((xs - x0) * nx + (ys - y0) * ny) / ppm  # signed distance in mm, on a coarse grid
    wobble = _noise(d.shape, 40 * ppm / 4, rng) * 0.4
    d = d + wobble
    shade = 1.0 - cr.strength * 0.22 * np.exp(-(((d - 0.8) / 1.6) ** 2)) * (d > 0)
    shade += cr.strength * 0.06 * np.exp(-(((d + 1.0) / 1.5) ** 2)) * (d < 0)
    rub = cr.strength * 0.55 * np.exp(-((d / 0.35) ** 2))
    shade = cv2.resize(shade.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)[sl]
    rub = cv2.resize(rub.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    img = rgb.astype(np.float32)
    img = img + (255 - img) * rub[..., None]
    img = img * shade[..., None]
    rgb[:] = np.clip(img, 0, 255).astype(np.uint8)


def paint_page_stamp(rgb: np.ndarray, ps: PageStamp, dpi: int, fonts: FontBook) -> None:
    """A numbering-machine number or a boxed page stamp, in uneven ink, slightly rotated."""
    ppm = dpi / 25.4
    rng = np.random.default_rng([ps.seed, 31])
    px = max(8, round((3.6 if not ps.boxed else 4.2) * ppm))
    font, _ = fonts.get("sans", True, px)
    w = int(font.getlength(ps.text)) + px
    h = int(px * 1.8)
    img = Image.new("L", (w + 2 * px, h + px), 0)
    draw = ImageDraw.Draw(img)
    draw.text((px + w / 2, (h + px) / 2), ps.text, font=font, fill=255, anchor="mm")
    if ps.boxed:
        draw.rectangle((px * 0.6, px * 0.5, w + px * 1.4, h + px * 0.5), outline=255, width=max(1, px // 8))
    mask = np.asarray(img, np.float32) / 255.0
    mask = _rotate(mask, float(rng.normal(0, 1.5)))
    mask = _uneven_ink(mask, rng, ppm, lo=0.4)
    mh, mw = mask.shape
    _blit(rgb, mask * 0.9, ps.color, round(ps.x * ppm - mw / 2), round(ps.y * ppm - mh / 2))


def paint_ink_stamp(rgb: np.ndarray, st: InkStamp, dpi: int, fonts: FontBook) -> None:
    """A text stamp: lines of bold text in a frame, uneven ink, rotated."""
    ppm = dpi / 25.4
    rng = np.random.default_rng([st.seed, 37])
    px = max(8, round(st.size * ppm))
    font, _ = fonts.get("hei", True, px)
    widths = [font.getlength(t) for t in st.lines]
    w = int(max(widths)) + 2 * px
    h = int(len(st.lines) * px * 1.45) + px
    img = Image.new("L", (w + px, h + px), 0)
    draw = ImageDraw.Draw(img)
    for i, t in enumerate(st.lines):
        draw.text(((w + px) / 2, px + (i + 0.5) * px * 1.45), t, font=font, fill=255, anchor="mm")
    if st.framed:
        draw.rectangle((px * 0.5, px * 0.45, w + px * 0.5, h + px * 0.3), outline=255, width=max(2, px // 7))
    mask = np.asarray(img, np.float32) / 255.0
    side = int(max(mask.shape) * 1.1)
    pad = np.zeros((side, side), np.float32)
    oy, ox = (side - mask.shape[0]) // 2, (side - mask.shape[1]) // 2
    pad[oy : oy + mask.shape[0], ox : ox + mask.shape[1]] = mask
    pad = _uneven_ink(_rotate(pad, st.angle), rng, ppm, lo=0.35)
    _blit(rgb, pad * 0.9, st.color, round(st.cx * ppm - side / 2), round(st.cy * ppm - side / 2))


def paint_mark(rgb: np.ndarray, mark: Mark, dpi: int, fonts: FontBook) -> None:
    """Paint any mark into the RGB page in place."""
    if isinstance(mark, Seal):
        paint_seal(rgb, mark, dpi, fonts)
    elif isinstance(mark, Thumbprint):
        paint_thumbprint(rgb, mark, dpi)
    elif isinstance(mark, Tick):
        paint_tick(rgb, mark, dpi)
    elif isinstance(mark, PunchHoles):
        paint_punch_holes(rgb, mark, dpi)
    elif isinstance(mark, Staple):
        paint_staple(rgb, mark, dpi)
    elif isinstance(mark, Crease):
        paint_crease(rgb, mark, dpi)
    elif isinstance(mark, InkStamp):
        paint_ink_stamp(rgb, mark, dpi, fonts)
    else:
        paint_page_stamp(rgb, mark, dpi, fonts)
