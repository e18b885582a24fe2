"""A thin PP-OCR driver on ONNX Runtime: DB text detection, CTC recognition, 0/180 angle classification.

Only ``onnxruntime``, OpenCV and NumPy are used; the model files come from
installed wheels (:mod:`ocr.ppocr_models`). Pre- and post-processing follow
PaddleOCR's inference code:

* detection: the image resized to multiples of 32, normalised, the
  probability map thresholded, each region's minimum-area rectangle scored
  and widened ("unclipped") by ``area * ratio / perimeter`` on every side;
* recognition: crops scaled to 48 px high, batched by aspect ratio, the
  per-frame class probabilities decoded greedily (argmax per frame, repeats
  collapsed, blanks dropped) keeping each character's probability and its
  runner-up.

Thread safety: ONNX Runtime sessions may be run from several threads at once
and these classes keep no per-call state, so one instance may serve parallel
threads.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from ocr.ppocr_models import DetModel, PackageFile, RecModel, read_dictionary
from schemas.errors import EngineError, EngineUnavailable

log = logging.getLogger(__name__)

#: Exceptions ONNX Runtime raises (its own classes derive from ``Exception`` directly).
ORT_ERRORS: tuple[type[Exception], ...] = tuple(
    cls for name in ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoModel", "NoSuchFile",
                     "NotImplemented", "RuntimeException", "EPFail", "EngineError", "NotFound")
    if isinstance(cls := getattr(ort_state, name, None), type)
)
#: What a model that cannot be loaded raises.
LOAD_ERRORS: tuple[type[Exception], ...] = (*ORT_ERRORS, OSError)
#: What a failed inference or image operation raises.
RUN_ERRORS: tuple[type[Exception], ...] = (*ORT_ERRORS, cv2.error, ValueError, RuntimeError, IndexError)

#: Detector regions whose short side is below this (map pixels) are noise.
MIN_REGION = 3
#: Most regions taken from one probability map.
MAX_REGIONS = 1000
#: A cut-out line this much taller than wide is vertical text: it is turned to read left to right.
TALL_CROP = 1.5


def execution_providers(device: str, available: Sequence[str] | None = None) -> list[str | tuple[str, dict[str, str]]]:
    """ONNX Runtime providers for ``device`` (``cpu``, ``cuda``, ``cuda:N``), the CPU always last.

    ``cuda`` without ONNX Runtime's CUDA provider installed (the
    ``onnxruntime-gpu`` build) runs on the CPU, with a warning once.
    """
    if not device.startswith("cuda"):
        return ["CPUExecutionProvider"]
    offered = ort.get_available_providers() if available is None else list(available)
    if "CUDAExecutionProvider" not in offered:
        _warn_no_cuda(device)
        return ["CPUExecutionProvider"]
    _, _, number = device.partition(":")
    return [("CUDAExecutionProvider", {"device_id": number or "0"}), "CPUExecutionProvider"]


@cache
def _warn_no_cuda(device: str) -> None:
    log.warning("DANGAN_OCR_DEVICE=%s, but this ONNX Runtime has no CUDA provider (install onnxruntime-gpu "
                "and a CUDA driver); OCR runs on the CPU", device)


def open_session(model: PackageFile | Path, *, threads: int, device: str = "cpu") -> ort.InferenceSession:
    """An ONNX Runtime session on ``device``; ``EngineUnavailable`` when the file is missing or not a model."""
    path = model if isinstance(model, Path) else model.locate()
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Without the arena, memory of a large page goes back once the page is done (pages vary in size).
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=execution_providers(device))
    except LOAD_ERRORS as e:
        raise EngineUnavailable(f"the OCR model {path.name} could not be loaded; reinstall its package") from e


def _run(session: ort.InferenceSession, batch: np.ndarray, what: str) -> np.ndarray:
    try:
        return np.asarray(session.run(None, {session.get_inputs()[0].name: batch})[0])
    except RUN_ERRORS as e:
        raise EngineError(f"PP-OCR {what} failed") from e


# --- detection ---


class TextDetector:
    """DB text detector: quadrilaterals of the text lines of a BGR image."""

    def __init__(self, model: DetModel, *, threads: int = 1, max_side: int = 4000, device: str = "cpu") -> None:
        self.model = model
        self.max_side = max_side
        self._session = open_session(model.onnx, threads=threads, device=device)
        mean, std = model.norm
        self._mean = np.array(mean, np.float32).reshape(1, 1, 3)
        self._std = np.array(std, np.float32).reshape(1, 1, 3)
        _run(self._session, np.zeros((1, 3, 64, 64), np.float32), "text detection")  # fails early when broken

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        """Text quads ``(N, 4, 2)`` in image pixels, corners top-left, top-right, bottom-right, bottom-left."""
        height, width = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        size_w = max(32, round(width * scale / 32) * 32)
        size_h = max(32, round(height * scale / 32) * 32)
        try:
            resized = cv2.resize(bgr, (size_w, size_h))
        except cv2.error as e:
            raise EngineError("PP-OCR text detection could not resize the image") from e
        blob = ((resized.astype(np.float32) / 255.0 - self._mean) / self._std).transpose(2, 0, 1)[np.newaxis]
        probability = _run(self._session, np.ascontiguousarray(blob), "text detection")[0, 0]
        quads = self._regions(probability)
        if not len(quads):
            return np.zeros((0, 4, 2), np.float32)
        quads *= np.array([width / size_w, height / size_h], np.float32)
        quads[..., 0] = np.clip(quads[..., 0], 0, width - 1)
        quads[..., 1] = np.clip(quads[..., 1], 0, height - 1)
        keep = [i for i, q in enumerate(quads) if _side(q, 0, 1) > MIN_REGION and _side(q, 0, 3) > MIN_REGION]
        return quads[keep]

    def _regions(self, probability: np.ndarray) -> np.ndarray:
        mask: np.ndarray = (probability > self.model.thresh).astype(np.uint8)
        if self.model.dilate:
            mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        quads = []
        for contour in contours[:MAX_REGIONS]:
            (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
            if min(w, h) < MIN_REGION:
                continue
            if _region_score(probability, cv2.boxPoints(((cx, cy), (w, h), angle))) < self.model.box_thresh:
                continue
            # PaddleOCR offsets the rectangle with pyclipper and takes the minimum-area rectangle of the
            # rounded result: that is the rectangle grown by the offset distance on every side.
            grow = w * h * self.model.unclip_ratio / (2 * (w + h))
            w, h = w + 2 * grow, h + 2 * grow
            if min(w, h) < MIN_REGION + 2:
                continue
            quads.append(order_corners(cv2.boxPoints(((cx, cy), (w, h), angle))))
        return np.array(quads, np.float32).reshape(-1, 4, 2)


def _region_score(probability: np.ndarray, corners: np.ndarray) -> float:
    """Mean probability inside a rectangle (PaddleOCR's "fast" box score)."""
    h, w = probability.shape
    x0 = int(np.clip(np.floor(corners[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(corners[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(corners[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(corners[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [(corners - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(probability[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def order_corners(points: np.ndarray) -> np.ndarray:
    """Four corners ordered top-left, top-right, bottom-right, bottom-left."""
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], np.float32)


def _side(quad: np.ndarray, a: int, b: int) -> float:
    return float(np.linalg.norm(quad[a] - quad[b]))


def crop_quad(bgr: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Cut a detected quad out of the image as a level strip (vertical text turned to read across)."""
    width = max(1, int(max(_side(quad, 0, 1), _side(quad, 2, 3))))
    height = max(1, int(max(_side(quad, 0, 3), _side(quad, 1, 2))))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    strip = cv2.warpPerspective(bgr, matrix, (width, height), flags=cv2.INTER_CUBIC,
                                borderMode=cv2.BORDER_REPLICATE)
    return np.rot90(strip) if height >= TALL_CROP * width else strip


# --- recognition ---


@dataclass(frozen=True)
class LineReading:
    """What the recogniser read on one line crop.

    ``chars`` holds the probability of each character of ``text``;
    ``alternatives`` holds, per character, the best two characters the model
    considered at that point with their probabilities (the first is the
    character read), for re-reads that vote.
    """

    text: str
    chars: tuple[float, ...]
    alternatives: tuple[tuple[tuple[str, float], ...], ...]

    @property
    def confidence(self) -> float:
        """Mean character probability (0 when nothing was read)."""
        return sum(self.chars) / len(self.chars) if self.chars else 0.0


class TextRecognizer:
    """CTC line recogniser (PP-OCR SVTR/LCNet) with greedy decoding and per-character probabilities."""

    def __init__(self, model: RecModel, *, threads: int = 1, batch_size: int = 6, device: str = "cpu") -> None:
        self.model = model
        self.batch_size = batch_size
        self._session = open_session(model.onnx, threads=threads, device=device)
        self._classes = ["", *self._characters(), " "]  # blank first, space last, as PaddleOCR trains them
        probe = _run(self._session, np.zeros((1, 3, model.height, model.min_width), np.float32), "text recognition")
        if probe.ndim != 3 or probe.shape[2] != len(self._classes):
            raise EngineUnavailable(
                f"the dictionary of {model.name} does not fit its recognition model "
                f"({len(self._classes)} classes for {probe.shape[-1]} outputs); reinstall its package"
            )
        # Some exports end in a softmax, some in raw scores.
        self._softmax = not np.allclose(probe[0].sum(axis=-1), 1.0, atol=1e-3)

    def _characters(self) -> list[str]:
        if self.model.dictionary is not None:
            return read_dictionary(self.model.dictionary.locate())
        meta = self._session.get_modelmeta().custom_metadata_map.get("character")
        if not meta:
            raise EngineUnavailable(f"the recognition model {self.model.name} carries no character list")
        return meta.split("\n")

    def __call__(self, crops: Sequence[np.ndarray]) -> list[LineReading]:
        """Read each BGR line crop; results in the order of ``crops``."""
        ratios = [c.shape[1] / max(1, c.shape[0]) for c in crops]
        order = np.argsort(ratios, kind="stable")  # similar widths batch with little padding
        results: list[LineReading | None] = [None] * len(crops)
        for start in range(0, len(crops), self.batch_size):
            chunk = [int(i) for i in order[start : start + self.batch_size]]
            scores = _run(self._session, self._batch([crops[i] for i in chunk]), "text recognition")
            probs = _softmax(scores) if self._softmax else scores
            for i, frame_probs in zip(chunk, probs, strict=True):
                results[i] = decode_ctc(frame_probs, self._classes)
        return [r if r is not None else LineReading("", (), ()) for r in results]

    def _batch(self, crops: list[np.ndarray]) -> np.ndarray:
        height = self.model.height
        ratio = max([self.model.min_width / height] + [c.shape[1] / max(1, c.shape[0]) for c in crops])
        width = int(height * ratio)
        batch = np.zeros((len(crops), 3, height, width), np.float32)
        for n, crop in enumerate(crops):
            w = min(width, math.ceil(height * crop.shape[1] / max(1, crop.shape[0])))
            try:
                resized = cv2.resize(crop, (max(1, w), height))
            except cv2.error as e:
                raise EngineError("PP-OCR text recognition could not resize a line") from e
            batch[n, :, :, : resized.shape[1]] = (resized.astype(np.float32).transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
        return batch

def decode_ctc(probs: np.ndarray, classes: Sequence[str]) -> LineReading:
    """Greedy CTC decoding of one line's ``(frames, classes)`` probabilities; class 0 is the blank.

    The best class of each frame is taken, runs of the same class collapse
    into one character and blanks are dropped. A character's probability is
    the highest its class reached over its run; its runner-up is the best
    other non-blank class at that frame. Spaces at either end are dropped.
    """
    best = probs.argmax(axis=1)
    starts = np.flatnonzero(np.r_[True, best[1:] != best[:-1]])
    ends = np.r_[starts[1:], len(best)]
    peaks = [s + int(probs[s:e, best[s]].argmax()) for s, e in zip(starts, ends, strict=True) if best[s] != 0]
    if not peaks:
        return LineReading("", (), ())
    at_peaks = probs[peaks].copy()
    at_peaks[:, 0] = -1.0  # the blank is never an alternative character
    top2 = np.argsort(-at_peaks, axis=1)[:, :2]
    alternatives = [
        tuple((classes[c], float(row[c])) for c in cs) for row, cs in zip(at_peaks, top2, strict=True)
    ]
    text = "".join(a[0][0] for a in alternatives)
    lead, tail = len(text) - len(text.lstrip()), len(text.rstrip())
    kept = alternatives[lead:tail] if tail > lead else []
    return LineReading(text=text.strip(), chars=tuple(a[0][1] for a in kept), alternatives=tuple(kept))


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


# --- angle classification ---


class AngleClassifier:
    """Tells whether text-line crops read upright (``"0"``) or upside down (``"180"``)."""

    labels = ("0", "180")

    def __init__(self, model: PackageFile, *, threads: int = 1, batch_size: int = 6,
                 device: str = "cpu") -> None:
        self.batch_size = batch_size
        self._session = open_session(model, threads=threads, device=device)

    def __call__(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """Label and probability for each BGR crop, in order."""
        out: list[tuple[str, float]] = []
        for start in range(0, len(crops), self.batch_size):
            batch = np.stack([_cls_input(c) for c in crops[start : start + self.batch_size]])
            probs = _run(self._session, batch, "angle classification")
            out.extend((self.labels[int(p.argmax())], float(p.max())) for p in probs)
        return out


def _cls_input(crop: np.ndarray, height: int = 48, width: int = 192) -> np.ndarray:
    w = min(width, math.ceil(height * crop.shape[1] / max(1, crop.shape[0])))
    resized = cv2.resize(crop, (max(1, w), height)).astype(np.float32)
    padded = np.zeros((3, height, width), np.float32)
    padded[:, :, : resized.shape[1]] = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    return padded
