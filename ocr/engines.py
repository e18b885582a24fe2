"""OCR engines: the protocol every engine meets, the factory, and line layout helpers.

Two engines implement :class:`OcrEngine`:

* ``tesseract`` (:mod:`ocr.engine_tesseract`): Tesseract 5, ``chi_sim+eng``, run as a
  subprocess with a timeout.
* ``rapidocr`` (:mod:`ocr.engine_rapid`): PaddleOCR's PP-OCR models (v4, v5, v6) on
  ONNX Runtime, in process; the models ship in wheels.

Line contract (both engines): an :class:`~schemas.models.OcrPage` holds one
:class:`~schemas.models.OcrLine` per *text row*. Pieces of text that sit on the
same row (a form label and its value in the next table cell, or fragments the
detector split) are merged into one line, left to right, joined by a single
space: ``"业主姓名 王伟 性别 男"``. Inside a piece, Chinese characters are never
separated by spaces. An extractor can therefore look for a label and read the
value that follows it on the same line. Lines are in reading order: rows top to
bottom, and within a row left to right.

Engines are expensive to create (the PP-OCR engine loads four ONNX models): create one
per process with :func:`make_engine` and reuse it for every page.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from itertools import pairwise
from statistics import median
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from schemas.models import OcrLine, OcrPage, OcrWord, PageImage

Box = tuple[int, int, int, int]

#: Share of the smaller height two pieces must overlap vertically to share a row.
ROW_OVERLAP = 0.5


@runtime_checkable
class OcrEngine(Protocol):
    """What every OCR engine offers.

    An engine MUST return lines in reading order with boxes ``(x0, y0, x1, y1)``
    inside the page (page pixels of the image it was given) and confidences in
    0..1. It MUST raise only :class:`~schemas.errors.EngineError` subclasses:
    ``EngineTimeout`` when it ran out of time, ``EngineUnavailable`` when it is
    not installed, ``EngineError`` for any other failure. An engine MAY be
    shared by threads (Tesseract runs them in parallel, RapidOCR one at a time);
    for parallel pages give each worker process its own engine.
    """

    name: str

    def recognize(self, page: PageImage) -> OcrPage:
        """Recognise the text of an upright page."""
        ...

    def detect_orientation(self, image: np.ndarray) -> int:
        """Clockwise degrees (0, 90, 180, 270) the image must be rotated to be upright."""
        ...

    def recognize_crops(self, crops: Sequence[np.ndarray]) -> list[OcrWord]:
        """Read single text lines already cut out and levelled (seal text, a field re-read).

        Returns one word per crop, in order; its box is the whole crop. An
        empty text means nothing was read.
        """
        ...


class EngineSource(Protocol):
    """Where the pages of a file get their engine: ``size`` engines, each lent to one page at a time.

    A file's pages are read by as many threads as there are engines: each
    engine runs with ``cores / size`` threads (:func:`ocr.engine_factory.threads_per_worker`),
    so together they never ask for more cores than the machine has.
    """

    @property
    def size(self) -> int:
        """How many engines may work at once."""
        ...

    def borrow(self) -> AbstractContextManager[OcrEngine]:
        """An engine for the block, waiting until one is free."""
        ...


class OneEngine:
    """A single engine as an :class:`EngineSource`: pages are read one after the other."""

    size = 1

    def __init__(self, engine: OcrEngine) -> None:
        self.engine = engine

    @contextmanager
    def borrow(self) -> Iterator[OcrEngine]:
        """The engine."""
        yield self.engine


# --- layout helpers shared by the engines ---


@dataclass(frozen=True)
class Piece:
    """A recognised piece of text (a word, a detector box or an engine line) before row merging."""

    text: str
    box: Box
    confidence: float
    #: Per-character confidences, when the engine gives them.
    chars: tuple[float, ...] = ()
    #: Slope of the text in degrees (counter-clockwise positive).
    angle: float = 0.0

    def word(self) -> OcrWord:
        """The piece as an OCR result word."""
        return OcrWord(text=self.text.strip(), box=self.box, confidence=min(1.0, max(0.0, self.confidence)),
                       chars=self.chars if len(self.chars) == len(self.text.strip()) else (),
                       angle=round(self.angle, 1))


def is_cjk(char: str) -> bool:
    """Tell whether a character is Chinese or CJK / full-width punctuation."""
    code = ord(char)
    return (
        0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x3000 <= code <= 0x303F  # CJK symbols and punctuation
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x20000 <= code <= 0x2FA1F  # extensions B.. and supplement
    )


def join_words(words: Sequence[Piece], *, gap_factor: float = 1.5) -> str:
    """Join the words of one engine line.

    A space separates two words when neither side of the join is Chinese
    (``"management rules"``), or when the gap between them is wider than
    ``gap_factor`` times the line height (a visible gap, such as between a form
    label and its value). ``"3" "栋" "2" "单元"`` becomes ``"3栋2单元"``.
    """
    if not words:
        return ""
    height = median(w.box[3] - w.box[1] for w in words)
    out = [words[0].text]
    for prev, word in pairwise(words):
        gap = word.box[0] - prev.box[2]
        latin_join = not is_cjk(prev.text[-1]) and not is_cjk(word.text[0])
        out.append(" " if latin_join or gap > gap_factor * height else "")
        out.append(word.text)
    return "".join(out)


def union_box(boxes: Iterable[Box]) -> Box:
    """Smallest box holding all boxes."""
    x0s, y0s, x1s, y1s = zip(*boxes, strict=True)
    return min(x0s), min(y0s), max(x1s), max(y1s)


def group_rows(pieces: Iterable[Piece]) -> list[list[Piece]]:
    """Group pieces into text rows, rows top to bottom, pieces in a row left to right.

    A piece joins a row when it overlaps the row's first piece vertically by at
    least ``ROW_OVERLAP`` of the smaller of the two heights.
    """
    rows: list[list[Piece]] = []
    for piece in sorted(pieces, key=lambda p: (p.box[1] + p.box[3], p.box[0])):
        row = _find_row(rows, piece)
        if row is None:
            rows.append([piece])
        else:
            row.append(piece)
    rows.sort(key=lambda r: median(p.box[1] + p.box[3] for p in r))
    return [sorted(r, key=lambda p: p.box[0]) for r in rows]


def _find_row(rows: list[list[Piece]], piece: Piece) -> list[Piece] | None:
    # Only recent rows can overlap: pieces arrive sorted by vertical centre.
    for row in reversed(rows[-4:]):
        seed = row[0].box
        overlap = min(seed[3], piece.box[3]) - max(seed[1], piece.box[1])
        smaller = min(seed[3] - seed[1], piece.box[3] - piece.box[1])
        if smaller > 0 and overlap >= ROW_OVERLAP * smaller:
            return row
    return None


def merge_rows(pieces: Iterable[Piece]) -> tuple[OcrLine, ...]:
    """Merge pieces into one :class:`OcrLine` per text row, in reading order.

    Pieces of a row are joined by one space; the line confidence is the mean of
    the pieces' confidences weighted by their text length.
    """
    lines = []
    for row in group_rows(p for p in pieces if p.text.strip()):
        weights = [max(1, len(p.text)) for p in row]
        confidence = sum(w * p.confidence for w, p in zip(weights, row, strict=True)) / sum(weights)
        lines.append(
            OcrLine(
                text=" ".join(p.text.strip() for p in row),
                box=union_box(p.box for p in row),
                confidence=min(1.0, max(0.0, confidence)),
                words=tuple(p.word() for p in row),
            )
        )
    return tuple(lines)


def clip_box(box: Sequence[float], width: int, height: int) -> Box:
    """Round a box to integers and clip it to the page."""
    x0, y0, x1, y1 = (round(v) for v in box)
    x0, x1 = max(0, min(x0, width)), max(0, min(x1, width))
    y0, y1 = max(0, min(y0, height)), max(0, min(y1, height))
    return x0, y0, max(x0, x1), max(y0, y1)


def shrink_to(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most ``max_side``; returns the image and the scale used."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale
