"""Paint hard pages and scan them the way a cabinet gets scanned: one profile per file, small per-page drift.

Profiles (``plan_profile``):

===========  ===============================================================
flatbed      240 or 300 dpi, colour or grey, skew up to ~2 deg, sensor noise
lowres       150-200 dpi grey, noise, sometimes blur or JPEG
photocopy    a grey photocopy scanned at 200-300 dpi (``degrade.photocopy``), skew
fax          bilevel: 204x196 dpi (fine), or 204x98 (standard) kept as is or
             stretched to square pixels; heavy threshold, streaks, dropped lines
phone        a phone photo of the page (``degrade.phone_photo``), 130-170 dpi
===========  ===============================================================

Any profile may be scanned crooked (skew 2-6 deg) or have pages fed sideways
or upside down (``rotated``).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from tests.synth import degrade
from tests.synth.handwriting import Handwriting, draw_handwriting
from tests.synth.hard.marks import (
    Crease,
    InkStamp,
    PageStamp,
    PunchHoles,
    Seal,
    Staple,
    Thumbprint,
    Tick,
    paint_mark,
)
from tests.synth.hard.sheet import Group, HardPage
from tests.synth.items import Ellipse, Item, Line, Page, Rect, Text
from tests.synth.render import Canvas, FontBook, _draw_item, render_page

#: Fixed PDF time stamps keep files byte-identical per seed.
PDF_TIME = time.gmtime(1_700_000_000)


@dataclass(frozen=True)
class Profile:
    """How one file is scanned."""

    name: str
    dpi: int
    mode: str  # RGB | L | 1
    steps: tuple[degrade.Step, ...]
    skew: float = 0.0  # degrees, whole file (per page jitter is added)
    fax: str = ""  # "" | fine | standard | stretched
    rotate_p: float = 0.0  # chance that a page is fed sideways or upside down

    @property
    def ydpi(self) -> int:
        """Vertical resolution (98 for a standard-mode fax kept as is)."""
        return {"standard": 98, "fine": 196, "stretched": 196}.get(self.fax, self.dpi)


def plan_profile(rng: random.Random, *, multi_page: bool, weights: dict[str, float] | None = None) -> Profile:
    """Pick a scan profile for a file."""
    w = weights or {"flatbed": 4, "lowres": 3, "photocopy": 3, "fax": 1.2, "phone": 1.5}
    name = rng.choices(list(w), weights=list(w.values()))[0]
    u = rng.uniform
    skew = u(0.2, 1.8) * rng.choice((-1, 1))
    if rng.random() < 0.2:
        skew = u(2.0, 5.5) * rng.choice((-1, 1))
    rotate_p = 0.08 if rng.random() < 0.3 else 0.0
    if name == "flatbed":
        mode = "RGB" if rng.random() < 0.5 else "L"
        return Profile(
            name, rng.choice((240, 300)), mode, (degrade.Step("noise", u(0, 0.15)),), skew, rotate_p=rotate_p
        )
    if name == "lowres":
        steps = [degrade.Step("noise", u(0, 0.3))]
        if rng.random() < 0.4:
            steps.append(degrade.Step("blur", u(0, 0.5)))
        if rng.random() < 0.4:
            steps.append(degrade.Step("jpeg", u(0, 0.6)))
        mode = "L" if rng.random() < 0.8 else "RGB"
        return Profile(name, rng.choice((150, 160, 180, 200)), mode, tuple(steps), skew, rotate_p=rotate_p)
    if name == "photocopy":
        dpi = rng.choice((200, 240, 300))
        return Profile(name, dpi, "L", (degrade.Step("photocopy", u(0.2, 1.0)),), skew, rotate_p=rotate_p)
    if name == "fax":
        fax = rng.choice(("fine", "standard", "stretched"))
        return Profile(name, 204, "1", (), skew * 0.6, fax=fax, rotate_p=rotate_p)
    sev = u(0.1, 0.9)
    return Profile(name, 200, "RGB", (degrade.Step("phone_photo", sev), degrade.Step("jpeg", u(0, 0.6))), 0.0)


def conditions_of(profile: Profile, dpi: int, page_skew: float, rotated: bool) -> set[str]:
    """Condition names of one scanned page (``dpi`` as scanned)."""
    out = set()
    if profile.name == "fax":
        out.add("fax")
        if profile.fax != "fine":
            out.add("low_dpi")
    elif dpi <= 200:
        out.add("low_dpi")
    if profile.name in {"photocopy", "phone"}:
        out.add(profile.name)
    if abs(page_skew) >= 1.0:
        out.add("skew")
    if rotated:
        out.add("rotated")
    return out


# ------------------------------------------------------------------ painting


PRINT_TYPES = (Handwriting, Seal, Thumbprint, Tick, PunchHoles, Staple, Crease, PageStamp, InkStamp, Group)


def paint_group(rgb: np.ndarray, g: Group, dpi: int, fonts: FontBook) -> None:
    """Draw a group on its own canvas, turn it, and lay it on the page (darker wins, like a copy)."""
    cv = Canvas(dpi)
    x0, y0, x1, y1 = g.box
    w, h = round(cv.px(x1 - x0)), round(cv.px(y1 - y0))
    layer = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(layer)
    for it in g.items:
        _draw_item(draw, _shift(it, -x0, -y0), cv, fonts)
    arr = np.asarray(layer)
    side = int(math.hypot(w, h)) + 4
    pad = np.full((side, side, 3), 255, np.uint8)
    oy, ox = (side - h) // 2, (side - w) // 2
    pad[oy : oy + h, ox : ox + w] = arr
    m = cv2.getRotationMatrix2D((side / 2, side / 2), g.angle, 1.0)
    pad = cv2.warpAffine(pad, m, (side, side), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))
    cx, cy = cv.px((x0 + x1) / 2), cv.px((y0 + y1) / 2)
    px0, py0 = round(cx - side / 2), round(cy - side / 2)
    H, W = rgb.shape[:2]
    ax0, ay0, ax1, ay1 = max(0, px0), max(0, py0), min(W, px0 + side), min(H, py0 + side)
    if ax0 < ax1 and ay0 < ay1:
        region = rgb[ay0:ay1, ax0:ax1]
        np.minimum(region, pad[ay0 - py0 : ay1 - py0, ax0 - px0 : ax1 - px0], out=region)


def _shift(it: Item, dx: float, dy: float) -> Item:
    """An item moved by (dx, dy) mm."""
    if isinstance(it, Text):
        return replace(it, x=it.x + dx, y=it.y + dy)
    if isinstance(it, Line | Rect | Ellipse):
        return replace(it, x0=it.x0 + dx, y0=it.y0 + dy, x1=it.x1 + dx, y1=it.y1 + dy)
    raise TypeError(f"cannot move {type(it).__name__} in a group")


def paint(page: HardPage, dpi: int, fonts: FontBook) -> np.ndarray:
    """Draw a page at ``dpi``: print, handwriting and ticks, inks, then folds, holes and staples."""
    printed = tuple(it for it in page.items if not isinstance(it, PRINT_TYPES))
    rgb = np.array(render_page(Page(printed), dpi, fonts, color=True))
    for it in page.items:
        if isinstance(it, Group):
            paint_group(rgb, it, dpi, fonts)
    for it in page.items:
        if isinstance(it, Handwriting):
            draw_handwriting(rgb, it, dpi)
        elif isinstance(it, Tick):
            paint_mark(rgb, it, dpi, fonts)
    for kind in ((Seal, Thumbprint, PageStamp, InkStamp), (Crease,), (PunchHoles, Staple)):
        for it in page.items:
            if isinstance(it, kind):
                paint_mark(rgb, it, dpi, fonts)
    return rgb


def blank_back(front: np.ndarray | None, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The back of a duplex sheet: paper, faint mirrored show-through of the front, scanner dust."""
    h, w = shape
    paper = np.full((h, w), rng.uniform(238, 250), np.float32)
    if front is not None:
        g = front if front.ndim == 2 else cv2.cvtColor(front, cv2.COLOR_RGB2GRAY)
        g = cv2.resize(g, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        ink = cv2.GaussianBlur(255.0 - g[:, ::-1], (0, 0), max(1.0, w / 900))
        paper -= ink * rng.uniform(0.04, 0.09)
    paper += rng.standard_normal((h, w)).astype(np.float32) * rng.uniform(1.5, 4)
    n = int(rng.integers(5, 40))
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    paper[ys, xs] = rng.uniform(60, 160, n)
    return np.clip(paper, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ scanning


def _rotate_deg(img: np.ndarray, angle: float, fill: int) -> np.ndarray:
    """Rotate about the centre keeping the page size (a crooked feed)."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    border = (fill, fill, fill) if img.ndim == 3 else (fill,)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def fax(img: np.ndarray, dpi: int, mode: str, rng: np.random.Generator) -> np.ndarray:
    """A received fax: 204 dpi across, 98 or 196 down, hard threshold, streaks and dropped lines."""
    g = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    h, w = g.shape
    nw = round(w * 204 / dpi)
    nh = round(h * (98 if mode in {"standard", "stretched"} else 196) / dpi)
    g = cv2.resize(g, (nw, nh), interpolation=cv2.INTER_AREA).astype(np.float32)
    g += rng.standard_normal(g.shape).astype(np.float32) * rng.uniform(8, 22)
    thr = rng.uniform(115, 165)
    out = np.where(g > thr, 255, 0).astype(np.uint8)
    for _ in range(int(rng.integers(0, 4))):  # dirty scan head: thin vertical streaks
        x = int(rng.integers(0, nw))
        out[:, x : x + int(rng.integers(1, 3))] = 0
    for _ in range(int(rng.integers(2, 12))):  # dropped or repeated lines
        y = int(rng.integers(1, nh - 3))
        k = int(rng.integers(1, 3))
        out[y : y + k] = 255 if rng.random() < 0.6 else out[y - 1 : y - 1 + k]
    if mode == "stretched":
        out = np.repeat(out, 2, axis=0)
    return out


def scan_page(
    rgb: np.ndarray, profile: Profile, rng: random.Random, nprng: np.random.Generator
) -> tuple[Image.Image, int, set[str], list[str]]:
    """Degrade one painted page; returns the image, its resolution, its conditions and notes."""
    page_skew = profile.skew + rng.uniform(-0.4, 0.4) if profile.skew else 0.0
    img = rgb if profile.mode == "RGB" or profile.name == "phone" else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    notes = []
    if page_skew:
        img = _rotate_deg(img, page_skew, 255 if rng.random() < 0.7 else int(rng.uniform(150, 200)))
        notes.append(f"skew({page_skew:+.1f}deg)")
    steps = [
        s if s.name == "phone_photo" else replace(s, severity=min(1.0, max(0.0, s.severity + rng.uniform(-0.08, 0.08))))
        for s in profile.steps
    ]
    scan, more = degrade.apply(degrade.Scan(np.ascontiguousarray(img), profile.dpi), steps, nprng)
    img = scan.image
    notes += more
    if profile.name == "fax":
        img = fax(img, profile.dpi, profile.fax, nprng)
        notes.append(f"fax({profile.fax})")
    rotated = rng.random() < profile.rotate_p
    if rotated:
        k = rng.choice((1, 2, 2, 3))
        img = np.ascontiguousarray(np.rot90(img, k=-k))
        notes.append(f"rotate{90 * k}")
    pil = Image.fromarray(img)
    if profile.mode == "1":
        pil = pil.convert("1", dither=Image.Dither.NONE)
    elif profile.mode == "L" and pil.mode != "L":
        pil = pil.convert("L")
    dpi = profile.dpi if profile.name == "fax" else scan.dpi
    return pil, dpi, conditions_of(profile, dpi, page_skew, rotated), notes


def save_file(pages: list[Image.Image], path: Path, fmt: str, dpi: tuple[int, int], quality: int) -> None:
    """Write pages as one file; PDF time stamps are fixed so the same seed gives the same bytes."""
    if fmt == "pdf":
        # Bilevel pages go in as CCITT G4, which takes no quality setting.
        extra = {} if pages[0].mode == "1" else {"quality": quality}
        pages[0].save(
            path,
            "PDF",
            save_all=True,
            append_images=pages[1:],
            dpi=dpi,
            creationDate=PDF_TIME,
            modDate=PDF_TIME,
            **extra,
        )
    elif fmt == "tiff":
        # Scanners write JPEG-in-TIFF for grey and colour pages (LZW would be ten times larger on noisy scans).
        extra = {"compression": "group4"} if pages[0].mode == "1" else {"compression": "jpeg", "quality": quality}
        pages[0].save(path, "TIFF", save_all=True, append_images=pages[1:], dpi=dpi, **extra)
    elif fmt == "jpeg":
        pages[0].save(path, "JPEG", quality=quality, dpi=dpi)
    else:
        pages[0].save(path, "PNG", dpi=dpi, compress_level=1)
