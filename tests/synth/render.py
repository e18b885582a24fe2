"""Draw synthetic pages with Pillow at a chosen DPI (A4), using CJK fonts from Debian packages."""

from __future__ import annotations

import math
import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont

from tests.synth.items import (
    PAGE_H,
    PAGE_W,
    Color,
    Ellipse,
    Item,
    Line,
    Page,
    Rect,
    Scribble,
    Stamp,
    SynthDoc,
    Text,
)

FONT_PACKAGES = "fonts-noto-cjk (or fonts-wqy-zenhei / fonts-wqy-microhei)"
#: Preferred font files per (family, bold), by file name; the first one installed wins.
FONT_PREFERENCE: dict[tuple[str, bool], tuple[str, ...]] = {
    ("sans", False): ("NotoSansCJK-Regular.ttc", "wqy-microhei.ttc", "wqy-zenhei.ttc"),
    ("sans", True): ("NotoSansCJK-Bold.ttc", "NotoSansCJK-Black.ttc"),
    ("serif", False): ("NotoSerifCJK-Regular.ttc", "NotoSansCJK-Regular.ttc", "wqy-zenhei.ttc"),
    ("serif", True): ("NotoSerifCJK-Bold.ttc", "NotoSansCJK-Bold.ttc"),
    ("hei", False): ("wqy-zenhei.ttc", "wqy-microhei.ttc", "NotoSansCJK-Regular.ttc"),
    ("hei", True): ("NotoSansCJK-Bold.ttc",),
}


class FontsMissing(RuntimeError):
    """No Chinese font is installed."""


def find_cjk_fonts(timeout: float = 20.0) -> list[Path]:
    """Font files covering Chinese, as listed by ``fc-list :lang=zh file``."""
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=timeout, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise FontsMissing(f"cannot list fonts with fc-list (install fontconfig and {FONT_PACKAGES})") from e
    files = [Path(line.split(":")[0].strip()) for line in out.splitlines() if line.strip()]
    files = [f for f in files if f.suffix.lower() in {".ttc", ".ttf", ".otf"} and f.is_file()]
    if not files:
        raise FontsMissing(f"no Chinese font found by fc-list; install the Debian package {FONT_PACKAGES}")
    return sorted(files)


def _sc_index(path: Path) -> int:
    """Face index of the Simplified Chinese face in a collection (0 when not a Noto CJK .ttc)."""
    if "CJK" not in path.name or path.suffix.lower() != ".ttc":
        return 0
    for i in range(10):
        try:
            name = ImageFont.truetype(str(path), 10, index=i).getname()[0]
        except OSError:
            break
        if name.endswith(" SC"):
            return i
    return 0


@dataclass
class FontBook:
    """Resolves (family, bold, pixel size) to a loaded font; caches per instance."""

    files: list[Path] = field(default_factory=find_cjk_fonts)
    _cache: dict[tuple[str, bool, int], tuple[ImageFont.FreeTypeFont, bool]] = field(default_factory=dict)
    _paths: dict[tuple[str, bool], tuple[Path, int, bool]] = field(default_factory=dict)

    def _resolve(self, family: str, bold: bool) -> tuple[Path, int, bool]:
        """(file, face index, needs synthetic bold)."""
        key = (family, bold)
        if key not in self._paths:
            by_name = {f.name: f for f in self.files}
            choice = next((by_name[n] for n in FONT_PREFERENCE.get(key, ()) if n in by_name), None)
            fake_bold = False
            if choice is None and bold:
                choice, _, _ = self._resolve(family, False)
                fake_bold = True
            if choice is None:
                choice = self.files[0]
            self._paths[key] = (choice, _sc_index(choice), fake_bold)
        return self._paths[key]

    def get(self, family: str, bold: bool, px: int) -> tuple[ImageFont.FreeTypeFont, bool]:
        """A font of ``px`` pixels and whether to embolden it with a stroke."""
        key = (family, bold, px)
        if key not in self._cache:
            path, index, fake_bold = self._resolve(family, bold)
            self._cache[key] = (ImageFont.truetype(str(path), px, index=index), fake_bold)
        return self._cache[key]


@dataclass(frozen=True)
class Canvas:
    """Millimetre-to-pixel mapping of one page."""

    dpi: int

    def px(self, mm: float) -> float:
        """Millimetres to pixels."""
        return mm * self.dpi / 25.4

    def pt(self, pt: float) -> int:
        """Points to whole pixels."""
        return max(6, round(pt * self.dpi / 72))

    def width(self, mm: float) -> int:
        """A stroke width in whole pixels (at least 1)."""
        return max(1, round(self.px(mm)))


def render_page(page: Page, dpi: int, fonts: FontBook, *, color: bool = True) -> Image.Image:
    """Draw one A4 page; RGB when ``color`` else 8-bit gray."""
    cv = Canvas(dpi)
    size = (round(cv.px(PAGE_W)), round(cv.px(PAGE_H)))
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    stamps: list[Stamp] = []
    for item in page.items:
        if isinstance(item, Stamp):
            stamps.append(item)
        else:
            _draw_item(draw, item, cv, fonts)
    for st in stamps:
        img = _overlay_stamp(img, st, cv, fonts)
    return img if color else img.convert("L")


def render_document(doc: SynthDoc, dpi: int, fonts: FontBook) -> list[Image.Image]:
    """All pages of a document."""
    return [render_page(p, dpi, fonts, color=doc.color) for p in doc.pages]


def _draw_item(draw: ImageDraw.ImageDraw, item: Item, cv: Canvas, fonts: FontBook) -> None:
    """Dispatch one non-stamp item."""
    if isinstance(item, Text):
        _draw_text(draw, item, cv, fonts)
    elif isinstance(item, Line):
        draw.line(
            [(cv.px(item.x0), cv.px(item.y0)), (cv.px(item.x1), cv.px(item.y1))],
            fill=item.color,
            width=cv.width(item.width),
        )
    elif isinstance(item, Rect):
        box = (cv.px(item.x0), cv.px(item.y0), cv.px(item.x1), cv.px(item.y1))
        outline = item.color if item.width > 0 else None
        draw.rounded_rectangle(
            box,
            radius=cv.px(item.radius),
            fill=item.fill,
            outline=outline,
            width=cv.width(item.width) if item.width > 0 else 0,
        )
    elif isinstance(item, Ellipse):
        box = (cv.px(item.x0), cv.px(item.y0), cv.px(item.x1), cv.px(item.y1))
        draw.ellipse(
            box,
            fill=item.fill,
            outline=item.color if item.width > 0 else None,
            width=cv.width(item.width) if item.width > 0 else 0,
        )
    elif isinstance(item, Scribble):
        _draw_scribble(draw, item, cv)


_ANCHORS = {"left": "lm", "center": "mm", "right": "rm"}


def _draw_text(draw: ImageDraw.ImageDraw, t: Text, cv: Canvas, fonts: FontBook) -> None:
    """One line of text anchored at its vertical middle."""
    font, fake_bold = fonts.get(t.family, t.bold, cv.pt(t.size))
    stroke = max(1, cv.pt(t.size) // 28) if fake_bold else 0
    draw.text(
        (cv.px(t.x), cv.px(t.y)),
        t.text,
        font=font,
        fill=t.color,
        anchor=_ANCHORS[t.align],
        stroke_width=stroke,
        stroke_fill=t.color,
    )


def _draw_scribble(draw: ImageDraw.ImageDraw, s: Scribble, cv: Canvas) -> None:
    """A few connected loops imitating a handwritten signature."""
    rng = random.Random(s.seed)
    pts = []
    steps = 60
    loops = rng.uniform(2.5, 5.0)
    for i in range(steps + 1):
        t = i / steps
        x = s.x + s.w * t + s.w * 0.06 * math.sin(t * loops * 2 * math.pi + 1.3)
        y = s.y + s.h / 2 + s.h * 0.38 * math.sin(t * loops * 2 * math.pi) * (0.6 + 0.4 * math.sin(t * 7))
        pts.append((cv.px(x), cv.px(y)))
    draw.line(pts, fill=s.color, width=cv.width(0.45), joint="curve")
    y_tail = s.y + s.h * rng.uniform(0.6, 0.9)
    draw.line(
        [(cv.px(s.x + s.w * 0.1), cv.px(y_tail)), (cv.px(s.x + s.w * 1.05), cv.px(y_tail - s.h * 0.2))],
        fill=s.color,
        width=cv.width(0.4),
    )


def _overlay_stamp(img: Image.Image, st: Stamp, cv: Canvas, fonts: FontBook) -> Image.Image:
    """Multiply a red seal onto the page, the way ink overprints text."""
    r = cv.px(st.r)
    side = int(2 * r + 8)
    layer = Image.new("RGB", (side, side), (255, 255, 255))
    draw = ImageDraw.Draw(layer)
    c = side / 2
    draw.ellipse((c - r, c - r, c + r, c + r), outline=st.color, width=cv.width(st.r * 0.055))
    star, _ = fonts.get("sans", False, int(r * 0.75))
    draw.text((c, c), "★", font=star, fill=st.color, anchor="mm")
    if st.label:
        lab, _ = fonts.get("sans", False, int(r * 0.2))
        draw.text((c, c + r * 0.58), st.label, font=lab, fill=st.color, anchor="mm")
    _arc_text(layer, st.text, c, r * 0.72, r, st.color, fonts)
    x0, y0 = int(cv.px(st.cx) - c), int(cv.px(st.cy) - c)
    region = img.crop((x0, y0, x0 + side, y0 + side))
    inked = ImageChops.multiply(region, layer)
    img.paste(Image.blend(region, inked, 0.85), (x0, y0))
    return img


def _arc_text(layer: Image.Image, text: str, c: float, radius: float, r: float, color: Color, fonts: FontBook) -> None:
    """Characters along the upper arc of a seal, each rotated to face outwards."""
    span = min(260.0, 16.0 * len(text) + 40)
    per_char = radius * math.radians(span) / len(text)
    px = int(min(r * 0.3, per_char * 0.92))
    font, _ = fonts.get("sans", False, px)
    start = -90 - span / 2
    for i, ch in enumerate(text):
        ang = start + span * (i + 0.5) / len(text)
        glyph = Image.new("L", (px * 2, px * 2), 0)
        ImageDraw.Draw(glyph).text((px, px), ch, font=font, fill=255, anchor="mm")
        glyph = glyph.rotate(-(ang + 90), resample=Image.Resampling.BILINEAR)
        gx = c + radius * math.cos(math.radians(ang)) - px
        gy = c + radius * math.sin(math.radians(ang)) - px
        layer.paste(Image.new("RGB", glyph.size, color), (int(gx), int(gy)), glyph)
