"""PP-OCR engine: PaddleOCR's PP-OCR models on ONNX Runtime, driven by :mod:`ocr.ppocr_onnx`.

The models ship inside registry wheels (:mod:`ocr.ppocr_models`); nothing is
downloaded. The generation is chosen with ``models`` (``"ppocr-v4"``,
``"ppocr-v5"``, ``"ppocr-v6-small"``, ``"ppocr-v6-tiny"`` or a
``"DET+REC"`` mix, optionally ``">REREAD"``: see :mod:`ocr.ppocr_models`).
A page is read in three steps:

* detection on a copy of about ``det_dpi`` (85 dpi: fast, and large enough
  for 8-pt text),
* recognition on crops cut from the full-resolution page, decoded with a
  probability per character; with a re-read model, each line holding a
  character below ``reread_below`` is read again by it and its reading kept,
* the 0/180 angle classifier only for page orientation (pages reach
  :meth:`RapidOcrEngine.recognize` upright, after preprocessing).

Thread safety: the driver keeps no per-call state and ONNX Runtime sessions
may run in parallel, so one engine may be shared by threads. For parallel
pages on several cores, still give each worker process its own engine with
one thread (that is how ingest runs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from ocr.engines import Piece, clip_box, merge_rows, shrink_to
from ocr.ppocr_models import ANGLE_CLASSIFIER, model_set
from ocr.ppocr_onnx import AngleClassifier, LineReading, TextDetector, TextRecognizer, crop_quad
from ocr.preprocess import to_bgr
from schemas.errors import EngineError
from schemas.models import OcrPage, OcrWord, PageImage

#: The model set used when none is named: PP-OCRv6 tiny detects and reads, PP-OCRv6 small re-reads
#: doubtful lines. On handwritten field values it reads as well as v6 small alone and faster than
#: PP-OCRv4 (bench/RESULTS.md, "OCR models on handwritten fields").
DEFAULT_MODELS = "ppocr-v6-tiny>ppocr-v6-small"
#: A detected box is "tall" or "wide" when one side exceeds the other by this factor.
ELONGATED = 1.5
#: Boxes (the longest first) whose orientation the classifier votes on.
ORIENTATION_VOTERS = 24


class RapidOcrEngine:
    """OCR with PP-OCR models (ONNX Runtime on the CPU)."""

    name = "rapidocr"

    def __init__(
        self,
        *,
        models: str = DEFAULT_MODELS,
        threads: int = 1,
        device: str = "cpu",
        max_side_px: int = 4000,
        det_dpi: int = 85,
        det_max_side: int = 1600,
        det_min_side: int = 960,
        orientation_side: int = 640,
        text_score: float = 0.5,
        reread_below: float = 0.9,
    ) -> None:
        self.models = model_set(models)
        self._detector = TextDetector(self.models.det, threads=threads, device=device)
        self._recognizer = TextRecognizer(self.models.rec, threads=threads, device=device)
        reread = self.models.reread
        self._rereader = TextRecognizer(reread, threads=threads, device=device) if reread is not None else None
        self.reread_below = reread_below
        self._classifier = AngleClassifier(ANGLE_CLASSIFIER, threads=threads, device=device)
        self.max_side_px = max_side_px
        self.det_dpi = det_dpi
        self.det_max_side = det_max_side
        self.det_min_side = det_min_side
        self.orientation_side = orientation_side
        self.text_score = text_score

    # --- OcrEngine ---

    def recognize(self, page: PageImage) -> OcrPage:
        """Recognise an upright page; one line per text row (see :mod:`ocr.engines`)."""
        height, width = page.image.shape[:2]
        work, work_scale = shrink_to(to_bgr(page.image), self.max_side_px)
        longest = max(work.shape[:2])
        det_scale = min(1.0, self.det_dpi / max(1.0, page.dpi * work_scale), self.det_max_side / longest)
        # Small photos with a guessed DPI must not shrink below what the detector needs to see text.
        det_scale = max(det_scale, min(1.0, self.det_min_side / longest))
        det_image, _ = shrink_to(work, round(longest * det_scale))
        quads = self._detector(det_image)
        quads = quads * np.array(
            [work.shape[1] / det_image.shape[1], work.shape[0] / det_image.shape[0]], np.float32
        )
        readings = self._read_quads(work, quads)
        pieces = [
            Piece(r.text, clip_box(_quad_box(quad / work_scale), width, height), r.confidence, r.chars,
                  _quad_angle(quad))
            for quad, r in zip(quads, readings, strict=True)
            if r.confidence >= self.text_score and r.text
        ]
        return OcrPage(
            index=page.index, engine=self.name, width=width, height=height, dpi=page.dpi,
            lines=merge_rows(pieces), rotation=page.rotation, skew=page.skew, blank=page.blank,
        )

    def detect_orientation(self, image: np.ndarray) -> int:
        """Clockwise rotation that makes the image upright.

        Text lines are detected on a small copy. When most elongated boxes run
        vertically the page lies on its side (90 or 270), otherwise it is 0 or
        180. The longest lines are then cut out level (after turning a sideways
        page a quarter-turn clockwise) and the angle classifier votes on
        whether they read upright or upside down. Returns 0 when no text line
        is found.
        """
        small = to_bgr(shrink_to(image, self.orientation_side)[0])
        voters, sideways = _orientation_voters(self._detector(small))
        if not voters:
            return 0
        source = to_bgr(shrink_to(image, 2 * self.orientation_side)[0])
        factor = source.shape[1] / small.shape[1]
        rects = [r * factor for r in voters]
        if sideways:
            rects = [_turn_points_clockwise(r, source.shape[0]) for r in rects]
            source = cv2.rotate(source, cv2.ROTATE_90_CLOCKWISE)
        labels = self._classifier([_level_crop(source, r) for r in rects])
        upside_down = sum(score for label, score in labels if label == "180")
        upright = sum(score for label, score in labels if label == "0")
        if sideways:
            return 270 if upside_down > upright else 90
        return 180 if upside_down > upright else 0

    def recognize_crops(self, crops: Sequence[np.ndarray]) -> list[OcrWord]:
        """Read each levelled crop as one text line, with a confidence per character."""
        return [
            OcrWord(text=r.text, box=(0, 0, c.shape[1], c.shape[0]), confidence=r.confidence, chars=r.chars)
            for r, c in zip(self.read_crops(crops), crops, strict=True)
        ]

    # --- beyond the protocol ---

    def read_crops(self, crops: Sequence[np.ndarray]) -> list[LineReading]:
        """Read levelled single-line crops, keeping the two best characters at each position.

        For re-reads that vote: ``reading.alternatives[i]`` holds the character
        read at position ``i`` and its runner-up, each with its probability.
        An empty crop reads as empty text.
        """
        readings = [LineReading("", (), ())] * len(crops)
        usable = [i for i, c in enumerate(crops) if c.size and min(c.shape[:2]) > 0]
        if usable:
            for i, reading in zip(usable, self._recognize([to_bgr(crops[i]) for i in usable]), strict=True):
                readings[i] = reading
        return readings

    # --- steps ---

    def _read_quads(self, bgr: np.ndarray, quads: np.ndarray) -> list[LineReading]:
        if not len(quads):
            return []
        try:
            crops = [crop_quad(bgr, q) for q in quads]
        except (cv2.error, ValueError) as e:
            raise EngineError("PP-OCR could not cut out the text lines") from e
        return self._recognize(crops)

    def _recognize(self, crops: list[np.ndarray]) -> list[LineReading]:
        readings = self._recognizer(crops)
        if self._rereader is None:
            return readings
        doubtful = [i for i, r in enumerate(readings) if not r.chars or min(r.chars) < self.reread_below]
        if doubtful:
            for i, reading in zip(doubtful, self._rereader([crops[i] for i in doubtful]), strict=True):
                readings[i] = reading
        return readings


def _quad_angle(quad: np.ndarray) -> float:
    """Slope (degrees, counter-clockwise positive) of the long side of a detected text region."""
    direction, long, short = _long_edge(cv2.boxPoints(cv2.minAreaRect(np.asarray(quad, np.float32))))
    if long < ELONGATED * short:
        return 0.0  # one or two characters: no reliable slope
    angle = -math.degrees(math.atan2(float(direction[1]), float(direction[0])))
    return (angle + 90.0) % 180.0 - 90.0


def _quad_box(quad: np.ndarray) -> tuple[float, float, float, float]:
    xs, ys = quad[:, 0], quad[:, 1]
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def _long_edge(rect: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Direction vector of the long side of a rectangle, and the long and short side lengths."""
    first, second = rect[1] - rect[0], rect[2] - rect[1]
    a, b = float(np.linalg.norm(first)), float(np.linalg.norm(second))
    return (first, a, b) if a >= b else (second, b, a)


def _orientation_voters(quads: np.ndarray) -> tuple[list[np.ndarray], bool]:
    """Rectangles of the longest elongated boxes of the majority direction, and whether they run vertically.

    Each detector quad is replaced by its minimum-area rectangle: the detector's
    corner order is not reliable for tall, tilted boxes.
    """
    vertical: list[tuple[float, np.ndarray]] = []
    horizontal: list[tuple[float, np.ndarray]] = []
    for quad in quads:
        rect = cv2.boxPoints(cv2.minAreaRect(np.asarray(quad, np.float32)))
        direction, long, short = _long_edge(rect)
        if long <= ELONGATED * short:
            continue  # a square-ish box tells nothing about the direction of the text
        (vertical if abs(direction[1]) > abs(direction[0]) else horizontal).append((long, rect))
    sideways = len(vertical) > len(horizontal)
    chosen = sorted(vertical if sideways else horizontal, key=lambda item: -item[0])[:ORIENTATION_VOTERS]
    return [rect for _, rect in chosen], sideways


def _turn_points_clockwise(points: np.ndarray, height: int) -> np.ndarray:
    """Where points land when their image (``height`` rows) is turned 90 degrees clockwise."""
    return np.stack([height - 1 - points[:, 1], points[:, 0]], axis=1).astype(np.float32)


def _level_crop(bgr: np.ndarray, rect: np.ndarray) -> np.ndarray:
    """Cut out a roughly horizontal rectangle as a level strip, left end first."""
    corners = rect[np.argsort(rect[:, 0])]
    left = corners[:2][np.argsort(corners[:2, 1])]
    right = corners[2:][np.argsort(corners[2:, 1])]
    top_left, bottom_left, top_right, bottom_right = left[0], left[1], right[0], right[1]
    width = max(1, round(float(np.linalg.norm(top_right - top_left))))
    height = max(1, round(float(np.linalg.norm(bottom_left - top_left))))
    src = np.array([top_left, top_right, bottom_right, bottom_left], np.float32)
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(
        bgr, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
