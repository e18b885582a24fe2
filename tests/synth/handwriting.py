"""Handwritten-looking text: Chinese and Latin handwriting fonts, distorted per character like a pen.

A *hand* is one writer: a Chinese font, a Latin/digit font, a slant, a size and
spacing habit. Every character is drawn from the font, then slanted, rotated,
scaled and elastically bent on its own, sits on a drifting baseline, and gets
ballpoint ink: thinner than the font's strokes, uneven pressure, a few skips.

Fonts come from Debian packages (see ``FONT_PACKAGES``). Held-out hands use
fonts that ordinary hands never use, so a benchmark can report reading on a
writer nobody tuned against.

``render_handwriting`` returns a PIL image (for OCR crop benchmarks);
``Handwriting`` is a page item (millimetres, like ``items.py``) drawn by
``draw_handwriting``.
"""

from __future__ import annotations

import functools
import math
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tests.synth.items import Color, is_wide

FONT_PACKAGES = (
    "fonts-lxgw-wenkai fonts-arphic-ukai fonts-arphic-gkai00mp fonts-seto "
    "fonts-dkg-handwriting fonts-bwht fonts-humor-sans"
)
#: Ballpoint ink colours.
PEN_BLUE: Color = (28, 48, 150)
PEN_BLACK: Color = (38, 38, 46)
PEN_COLORS: tuple[Color, ...] = (PEN_BLUE, PEN_BLUE, (20, 40, 115), PEN_BLACK)

#: Chinese handwriting-like font files by key (file names as installed by the Debian packages).
CJK_FONTS = {
    "wenkai": "LXGWWenKai-Regular.ttf",
    "wenkai-light": "LXGWWenKai-Light.ttf",
    "ukai": "ukai.ttc",
    "seto": "setofont.ttf",
    "gkai": "gkai00mp.ttf",
}
#: Latin and digit handwriting fonts by key.
LATIN_FONTS = {
    "dkg": "dkg.ttf",
    "dkg-italic": "dkgIt.ttf",
    "bwht-create": "BecauseWeCreate-Regular.otf",
    "bwht-learn": "BecauseWeLearn-Regular.otf",
    "bwht-mentor": "BecauseWeMentor-Regular.otf",
    "humor": "Humor-Sans.ttf",
}
#: Chinese font for characters a hand's own font lacks (setofont has few simplified forms).
FALLBACK_CJK = "wenkai"
#: Fonts used only by held-out hands.
HOLDOUT_FONTS = frozenset({"gkai", "humor"})


class HandwritingFontsMissing(RuntimeError):
    """A handwriting font file is not installed."""


@dataclass(frozen=True)
class Hand:
    """One writer's habits."""

    name: str
    cjk: str
    latin: str
    #: Horizontal shear (positive leans right), typical of the writer.
    slant: float
    #: Digits and Latin letters relative to the Chinese character size.
    latin_scale: float
    #: Advance between characters relative to their width.
    spacing: float
    #: Stroke thinning (0: font weight .. 1: thin ballpoint line).
    thin: float
    holdout: bool = False


def _hands() -> dict[str, Hand]:
    """Every hand: each Chinese font with each Latin font, habits fixed per pair."""
    out: dict[str, Hand] = {}
    for ck in CJK_FONTS:
        for lk in LATIN_FONTS:
            held = ck in HOLDOUT_FONTS or lk in HOLDOUT_FONTS
            if held and not (ck in HOLDOUT_FONTS and lk in HOLDOUT_FONTS):
                continue  # held-out hands use held-out fonts for both scripts
            r = random.Random(f"hand:{ck}:{lk}")
            name = f"{ck}+{lk}"
            out[name] = Hand(
                name,
                ck,
                lk,
                slant=r.uniform(-0.05, 0.22),
                latin_scale=r.uniform(0.95, 1.15),
                spacing=r.uniform(0.9, 1.08),
                thin=r.uniform(0.3, 0.8),
                holdout=held,
            )
    return out


#: Every hand by name.
HANDS: dict[str, Hand] = _hands()


def hand_names(*, holdout: bool = False) -> list[str]:
    """Names of the ordinary hands, or (``holdout=True``) of the held-out ones."""
    return sorted(n for n, h in HANDS.items() if h.holdout == holdout)


@functools.cache
def _font_files() -> dict[str, Path]:
    """Installed font files by base name (from ``fc-list``)."""
    try:
        out = subprocess.run(["fc-list", ":", "file"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise HandwritingFontsMissing(f"cannot list fonts with fc-list (install {FONT_PACKAGES})") from e
    files = (Path(line.split(":")[0].strip()) for line in out.splitlines() if line.strip())
    return {f.name: f for f in files if f.is_file()}


@functools.cache
def _font(file_name: str, px: int) -> ImageFont.FreeTypeFont:
    """A loaded font of ``px`` pixels."""
    path = _font_files().get(file_name)
    if path is None:
        raise HandwritingFontsMissing(f"font {file_name} not installed; install the Debian packages {FONT_PACKAGES}")
    return ImageFont.truetype(str(path), px)


@functools.cache
def _has_glyph(file_name: str, ch: str) -> bool:
    """Whether the font draws ``ch`` with ink, and not as its missing-glyph box."""
    font = _font(file_name, 40)
    missing = font.getmask("\U0010fffd")
    mask = font.getmask(ch)
    inked = any(bytes(mask))  # some fonts map characters they lack to empty glyphs
    return inked and (mask.size != missing.size or bytes(mask) != bytes(missing))


def _pick_hand(rng: random.Random, font: str | None, holdout: bool) -> Hand:
    """The named hand, or one drawn from the ordinary (or held-out) hands."""
    if font is not None:
        if font not in HANDS:
            raise KeyError(f"unknown hand {font!r}; choose from {sorted(HANDS)}")
        return HANDS[font]
    return HANDS[rng.choice(hand_names(holdout=holdout))]


# ------------------------------------------------------------------ one glyph


def _smooth_field(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise in about [-1, 1] whose features are about ``sigma`` pixels wide."""
    h, w = shape
    sigma = max(sigma, 3.0)  # finer noise looks like crayon on paper, not ballpoint
    gh, gw = max(2, round(h / sigma) + 1), max(2, round(w / sigma) + 1)
    coarse = rng.uniform(-1.0, 1.0, (gh, gw)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _glyph_mask(ch: str, file_name: str, px: int) -> tuple[np.ndarray, float, float, int]:
    """Coverage of one character with a margin, the pen-start column, the baseline row and the advance."""
    font = _font(file_name, px)
    x0, y0, x1, y1 = font.getbbox(ch, anchor="ls")
    m = max(4, px // 4)
    w, h = max(1, x1 - x0) + 2 * m, max(1, y1 - y0) + 2 * m
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).text((m - x0, m - y0), ch, font=font, fill=255, anchor="ls")
    # Some handwriting fonts draw digits wider than their advance; a writer does not overlap them.
    adv = max(1, round(font.getlength(ch)), x1 + max(1, px // 10))
    return np.asarray(img, dtype=np.float32) / 255.0, float(m - x0), float(m - y0), adv


@functools.cache
def _digit_scale(file_name: str) -> float:
    """Factor that brings the font's digit height to 0.78 em, so every Latin hand writes digits alike."""
    font = _font(file_name, 100)
    heights = [font.getbbox(d, anchor="ls") for d in "0123456789"]
    mean = sum(b[3] - b[1] for b in heights) / len(heights)
    return 78.0 / max(20.0, mean)


def _pen_glyph(
    ch: str, hand: Hand, px: int, rng: np.random.Generator, ink: float
) -> tuple[np.ndarray, float, float, int]:
    """A distorted, pen-inked glyph: (alpha, pen-start column, baseline row, advance)."""
    use_latin = not is_wide(ch) and _has_glyph(LATIN_FONTS[hand.latin], ch)
    file_name = LATIN_FONTS[hand.latin] if use_latin else CJK_FONTS[hand.cjk]
    if not use_latin and not _has_glyph(file_name, ch):
        file_name = CJK_FONTS[FALLBACK_CJK]
    scale = hand.latin_scale * _digit_scale(file_name) if use_latin else 1.0
    size = px * scale * float(rng.uniform(0.9, 1.1))
    mask, ox, base, adv = _glyph_mask(ch, file_name, max(6, round(size)))
    # Affine about the glyph's centre: slant, small rotation, size wobble.
    h, w = mask.shape
    cx, cy = w / 2, h / 2
    shear = hand.slant + float(rng.normal(0, 0.05))
    angle = math.radians(float(rng.normal(0, 2.2)))
    sx, sy = float(rng.uniform(0.93, 1.07)), float(rng.uniform(0.93, 1.07))
    ca, sa = math.cos(angle), math.sin(angle)
    a = np.array([[ca * sx, -sa * sy + shear * sy], [sa * sx, ca * sy]], np.float32)
    t = np.array([cx, cy], np.float32) - a @ np.array([cx, cy], np.float32)
    mask = cv2.warpAffine(mask, np.hstack([a, t[:, None]]), (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    # Elastic bend at two scales: the pen never follows the font's outline exactly,
    # and the strokes of a Chinese character wander more than a digit's.
    amp = size * (0.045 if is_wide(ch) else 0.03)
    dx = _smooth_field((h, w), size * 0.3, rng) * amp + _smooth_field((h, w), size * 0.08, rng) * amp * 0.4
    dy = _smooth_field((h, w), size * 0.3, rng) * amp + _smooth_field((h, w), size * 0.08, rng) * amp * 0.4
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mask = cv2.remap(mask, gx + dx, gy + dy, cv2.INTER_LINEAR, borderValue=0)
    mask = _ballpoint(mask, hand, size, rng, ink)
    return mask, ox, base, adv


def _ballpoint(mask: np.ndarray, hand: Hand, size: float, rng: np.random.Generator, ink: float) -> np.ndarray:
    """Thin strokes with uneven pressure, lighter ink and a few skips."""
    k = max(1, round(size * 0.045 * hand.thin))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    thin = cv2.erode(mask, kernel)
    # Very small glyphs lose whole strokes to erosion; keep them at font weight there.
    if thin.sum() < 0.35 * mask.sum():
        thin = mask
    thick = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    pressure = (_smooth_field(mask.shape, size * 0.25, rng) + 1.0) / 2.0
    heavy = pressure > 0.72
    out = np.where(heavy, np.maximum(mask, thick * 0.8), np.where(pressure < 0.4, thin, mask * 0.6 + thin * 0.4))
    density = ink * (0.72 + 0.28 * (_smooth_field(mask.shape, size * 0.12, rng) + 1.0) / 2.0)
    skips = _smooth_field(mask.shape, size * 0.1, rng) > 0.8
    density = np.where(skips, density * 0.45, density)
    return np.clip(out * density, 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------ a line


def handwriting_mask(
    text: str, *, height_px: int, seed: int, font: str | None = None, holdout: bool = False
) -> tuple[np.ndarray, int]:
    """Ink coverage (float32 HxW in [0, 1]) of handwritten ``text`` and the row of its nominal baseline.

    ``height_px`` is the size of a Chinese character; digits follow the hand's
    own proportion. ``font`` names a hand (see ``hand_names``); without it the
    seed picks an ordinary hand, or a held-out one when ``holdout``.
    """
    rng = random.Random(f"hand:{seed}")
    nprng = np.random.default_rng([seed, 7919])
    hand = _pick_hand(rng, font, holdout)
    scale = 1 if height_px >= 48 else 2  # small text is drawn large, then reduced, to keep strokes smooth
    px = max(8, height_px * scale)
    ink = float(nprng.uniform(0.85, 1.0))
    pieces = []
    x = float(px) * 0.2
    drift = float(nprng.normal(0, 0.025))  # the line rises or falls
    wander_phase = float(nprng.uniform(0, 2 * math.pi))
    for ch in text:
        if ch == " ":
            x += px * 0.35 * hand.spacing
            continue
        mask, ox, base, adv = _pen_glyph(ch, hand, px, nprng, ink)
        dy = drift * x + px * 0.05 * math.sin(x / (px * 2.6) + wander_phase) + float(nprng.normal(0, px * 0.03))
        pieces.append((mask, ox, base, x, dy))
        step = adv * hand.spacing * float(nprng.uniform(0.9, 1.06))
        x += step if is_wide(ch) else step * 0.95
    width = int(x + px * 0.6)
    top_room = round(px * 1.25)
    height = round(px * 1.75)
    canvas = np.zeros((height, max(width, 1)), np.float32)
    for mask, ox, base, gx, dy in pieces:
        _max_paste(canvas, mask, round(gx - ox), round(top_room + dy - base))
    if scale > 1:
        canvas = cv2.resize(canvas, (max(1, width // scale), max(1, height // scale)), interpolation=cv2.INTER_AREA)
    return canvas, round(top_room / scale)


def _max_paste(canvas: np.ndarray, patch: np.ndarray, ox: int, oy: int) -> None:
    """Overlay ``patch`` at (ox, oy) keeping the darker ink, clipped to the canvas."""
    h, w = canvas.shape
    ph, pw = patch.shape
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = min(ox + pw, w), min(oy + ph, h)
    if x0 >= x1 or y0 >= y1:
        return
    region = canvas[y0:y1, x0:x1]
    np.maximum(region, patch[y0 - oy : y1 - oy, x0 - ox : x1 - ox], out=region)


def render_handwriting(
    text: str,
    *,
    height_px: int,
    seed: int,
    font: str | None = None,
    color: Color = PEN_BLUE,
    holdout: bool = False,
) -> Image.Image:
    """``text`` handwritten in ballpoint ``color`` on white paper, as an RGB image cropped to the ink.

    A few pixels of margin are kept around the ink. Same arguments, same pixels.
    """
    alpha, _ = handwriting_mask(text, height_px=height_px, seed=seed, font=font, holdout=holdout)
    ys, xs = np.nonzero(alpha > 0.02)
    if len(xs):
        m = max(2, height_px // 8)
        alpha = alpha[max(0, ys.min() - m) : ys.max() + m + 1, max(0, xs.min() - m) : xs.max() + m + 1]
    return Image.fromarray(ink_on(np.full((*alpha.shape, 3), 255, np.uint8), alpha, color))


def ink_on(rgb: np.ndarray, alpha: np.ndarray, color: Color) -> np.ndarray:
    """Multiply ink of ``color`` with coverage ``alpha`` onto an RGB uint8 region."""
    a = alpha[..., None]
    ink = np.asarray(color, np.float32)[None, None, :] / 255.0
    out = rgb.astype(np.float32) * (1.0 - a + a * ink)
    return np.clip(out, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ page item


@dataclass(frozen=True)
class Handwriting:
    """Handwritten text on a page: ``x`` its left edge (or centre), ``y`` its baseline, sizes in mm."""

    x: float
    y: float
    text: str
    size: float
    seed: int
    hand: str
    color: Color = PEN_BLUE
    align: str = "left"
    #: Degrees counter-clockwise about the middle of the written line.
    angle: float = 0.0


def draw_handwriting(rgb: np.ndarray, item: Handwriting, dpi: int) -> None:
    """Write ``item`` into an RGB uint8 page array in place (ink multiplies what is printed)."""
    px_per_mm = dpi / 25.4
    alpha, base = handwriting_mask(
        item.text, height_px=max(6, round(item.size * px_per_mm)), seed=item.seed, font=item.hand
    )
    h, w = alpha.shape
    if item.align == "center":
        cols = np.nonzero(alpha.max(axis=0) > 0.05)[0]
        mid = (cols[0] + cols[-1]) / 2 if len(cols) else w / 2
        ox = round(item.x * px_per_mm - mid)
    else:
        ox = round(item.x * px_per_mm) - round(h * 0.12)
    oy = round(item.y * px_per_mm) - base
    if item.angle:
        alpha, (ox, oy) = _rotated(alpha, item.angle, ox, oy)
        h, w = alpha.shape
    H, W = rgb.shape[:2]
    x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + w, W), min(oy + h, H)
    if x0 >= x1 or y0 >= y1:
        return
    a = alpha[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    rgb[y0:y1, x0:x1] = ink_on(rgb[y0:y1, x0:x1], a, item.color)


def _rotated(alpha: np.ndarray, angle: float, ox: int, oy: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Rotate a mask about its centre on an enlarged canvas; the new top-left keeps the centre in place."""
    h, w = alpha.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos) + 2, int(h * cos + w * sin) + 2
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(alpha, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)
    return out, (round(ox + w / 2 - nw / 2), round(oy + h / 2 - nh / 2))


def text_extent(text: str, size: float, hand: str) -> float:
    """Rough width in mm of ``text`` handwritten at ``size`` mm (for layout)."""
    h = HANDS[hand]
    total = 0.0
    for ch in text:
        if ch == " ":
            total += 0.35
        elif is_wide(ch):
            total += 1.0 * h.spacing
        else:
            total += 0.55 * h.latin_scale * h.spacing
    return total * size
