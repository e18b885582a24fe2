"""Printing text PDFs for the archive room (catalogues, folder labels) with reportlab and an embedded Chinese font.

The cabinet cover sheets (:mod:`ocr.coversheet_print`) are images, because
they are scanned back; a catalogue and its labels are text, so that they stay
sharp, small and searchable: the font is embedded as a subset with a
ToUnicode map (copying or extracting the text gives the Chinese back).

reportlab embeds TrueType outlines only. The Noto CJK collections that the
cover sheets are drawn with hold PostScript (CFF) outlines, which it refuses;
WenQuanYi Zen Hei (Debian package ``fonts-wqy-zenhei``) is TrueType and is
used first, then any other installed Chinese TrueType font fontconfig lists.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas

from ocr import coversheet_print
from ocr.coversheet_print import FontsMissing
from rules.workdays import COMPANY_TZ

#: The Debian package whose font the catalogue and labels are printed with.
FONT_PACKAGE = "fonts-wqy-zenhei"
#: Name the font is registered under with reportlab.
FONT = "DanganCJK"
#: Preferred TrueType fonts (file, face index in a collection); the first one installed is used.
_PREFERRED = (("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
              ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0))
#: Page size in points.
PAGE = A4
#: Characters every printed font must have (a font without them prints boxes).
_NEEDED = "档案目录第页共楼栋单元房号封存"


@cache
def cjk_font() -> tuple[Path, int]:
    """The Chinese TrueType font (file, face index) registered as :data:`FONT`; FontsMissing when none is installed."""
    for path, index in [*((Path(p), i) for p, i in _PREFERRED), *((p, 0) for p in coversheet_print.listed_fonts())]:
        if path.suffix.lower() not in {".ttf", ".ttc"} or not path.is_file():
            continue
        try:
            font = TTFont(FONT, str(path), subfontIndex=index)
        except (TTFError, OSError):
            continue  # PostScript outlines (Noto CJK), or a damaged file
        if all(ord(c) in font.face.charToGlyph for c in _NEEDED):
            pdfmetrics.registerFont(font)
            return path, index
    raise FontsMissing(f"no Chinese TrueType font is installed to print the catalogue and labels with; install the "
                       f"Debian package {FONT_PACKAGE} (bootstrap.sh does)")


def today() -> dt.date:
    """Today in the company's time zone (the date printed on a catalogue)."""
    return dt.datetime.now(COMPANY_TZ).date()


def china_date(value: dt.datetime | None) -> str:
    """A stored UTC time as the company's date, ``YYYY-MM-DD`` (empty for None)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(COMPANY_TZ).date().isoformat()


class Sheet:
    """A canvas drawn in millimetres from the top left, in the Chinese font."""

    def __init__(self, canvas: Canvas) -> None:
        self.c = canvas

    def text(self, x: float, y: float, text: str, size: float, *, max_mm: float | None = None,
             align: str = "left", bold: bool = False, white: bool = False) -> None:
        """Draw ``text`` (``size`` points) with its baseline ``y`` mm from the top; shrunk to fit ``max_mm``."""
        if max_mm is not None:
            width = pdfmetrics.stringWidth(text, FONT, size)
            if width > max_mm * mm:
                size = max(4.0, size * max_mm * mm / width)
        c = self.c
        c.saveState()
        c.setFillGray(1 if white else 0)
        t = c.beginText()
        t.setFont(FONT, size)
        if bold:  # the font has no bold face: outline the glyphs as well as filling them
            c.setStrokeGray(1 if white else 0)
            c.setLineWidth(size * 0.035)
            t.setTextRenderMode(2)
        width = pdfmetrics.stringWidth(text, FONT, size)
        left = {"left": x * mm, "center": x * mm - width / 2, "right": x * mm - width}[align]
        t.setTextOrigin(left, PAGE[1] - y * mm)
        t.textOut(text)
        c.drawText(t)
        c.restoreState()

    def rect(self, x: float, y: float, w: float, h: float, *, fill: float | None = None, line: float = 0.3,
             stroke: float = 0, dash: tuple[float, float] | None = None) -> None:
        """A rectangle (mm, top left and size); ``fill`` a grey level, ``stroke`` the line's grey level."""
        c = self.c
        c.saveState()
        c.setLineWidth(line)
        c.setStrokeGray(stroke)
        if dash:
            c.setDash(dash[0], dash[1])
        if fill is not None:
            c.setFillGray(fill)
        c.rect(x * mm, PAGE[1] - (y + h) * mm, w * mm, h * mm, stroke=1 if line else 0,
               fill=1 if fill is not None else 0)
        c.restoreState()

    def line(self, x0: float, y0: float, x1: float, y1: float, *, width: float = 0.3) -> None:
        """A straight line between two points (mm from the top left)."""
        self.c.saveState()
        self.c.setLineWidth(width)
        self.c.line(x0 * mm, PAGE[1] - y0 * mm, x1 * mm, PAGE[1] - y1 * mm)
        self.c.restoreState()


def render_pdf(title: str, draw: Callable[[Canvas], int]) -> tuple[bytes, int]:
    """A PDF (A4) drawn by ``draw`` in the Chinese font, and its page count (what ``draw`` returns).

    FontsMissing before anything is drawn when no Chinese TrueType font is installed.
    """
    cjk_font()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=PAGE, initialFontName=FONT, initialFontSize=10, pageCompression=1,
                    invariant=False)
    canvas.setTitle(title)
    canvas.setAuthor("dangan")
    canvas.setCreator("dangan")
    pages = draw(canvas)
    canvas.save()
    return buffer.getvalue(), pages
