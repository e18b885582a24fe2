"""Tesseract 5 adapter (``chi_sim+eng``): the only place that runs the ``tesseract`` program.

Tesseract runs as a child process that reads the page from stdin and writes
TSV to stdout, so page images (personal data) never touch a temporary file.
Every run has a timeout. The child gets a minimal environment holding
``OMP_THREAD_LIMIT``: with OpenMP left at its default Tesseract ran five times
slower on our 2-core machines (4.8 s against 1.0 s per A4 page), which is why
this adapter calls the program itself instead of going through pytesseract
(pytesseract can only pass the parent's environment, and would need
``os.environ`` changed).

Thread safety: a ``TesseractEngine`` holds no mutable state; one instance may be
used from several threads at once (each call is its own process).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ocr.engines import Piece, clip_box, join_words, merge_rows, shrink_to, union_box
from ocr.preprocess import remove_rule_lines, to_gray
from ocr.programs import run_program
from schemas.errors import EngineError, EngineTimeout, EngineUnavailable
from schemas.models import OcrPage, OcrWord, PageImage

log = logging.getLogger(__name__)

#: Longer side of the copy given to orientation detection (about A4 at 150 dpi).
OSD_MAX_SIDE = 1800


class TesseractEngine:
    """OCR with Tesseract (``chi_sim+eng``).

    ``psm`` 6 (one uniform block) measured best on forms: with 3 and 4 Tesseract
    split table columns into separate blocks and misread the large title.
    Table rules are removed before OCR (they made Tesseract drop whole rows).
    """

    name = "tesseract"

    def __init__(
        self,
        *,
        lang: str = "chi_sim+eng",
        psm: int = 6,
        timeout: float = 120.0,
        threads: int = 1,
        max_side_px: int = 4000,
        min_osd_confidence: float = 1.5,
        executable: str = "tesseract",
        tessdata_dir: Path | None = None,
    ) -> None:
        self.lang = lang
        self.psm = psm
        self.timeout = timeout
        self.max_side_px = max_side_px
        self.min_osd_confidence = min_osd_confidence
        self._executable = executable
        self._tessdata = ["--tessdata-dir", str(tessdata_dir)] if tessdata_dir else []
        self._env = _child_env(threads)
        self._check_languages()

    # --- OcrEngine ---

    def recognize(self, page: PageImage) -> OcrPage:
        """Recognise an upright page; one line per text row (see :mod:`ocr.engines`)."""
        gray = remove_rule_lines(to_gray(page.image))
        small, scale = shrink_to(gray, self.max_side_px)
        dpi = max(70, round(page.dpi * scale))
        tsv = self._run(small, ["-l", self.lang, "--psm", str(self.psm), "--dpi", str(dpi), "tsv"])
        height, width = gray.shape[:2]
        pieces = [
            Piece(line.text, clip_box([v / scale for v in line.box], width, height), line.confidence)
            for line in _tsv_lines(tsv)
        ]
        return OcrPage(
            index=page.index, engine=self.name, width=width, height=height,
            lines=merge_rows(pieces), rotation=page.rotation, skew=page.skew, blank=page.blank,
        )

    def detect_orientation(self, image: np.ndarray) -> int:
        """Clockwise rotation that makes the image upright, from Tesseract OSD (``--psm 0``).

        Returns 0 when OSD finds too little text or is not confident enough.
        """
        small, _ = shrink_to(to_gray(image), OSD_MAX_SIDE)
        try:
            out = self._run(small, ["-l", "osd", "--psm", "0"])
        except (EngineTimeout, EngineUnavailable):
            raise
        except EngineError as e:
            # OSD exits non-zero when the page has too few characters; the osd
            # language was checked at start-up, so treat this as "no evidence".
            log.debug("tesseract OSD gave no orientation: %s", e)
            return 0
        rotate, confidence = _parse_osd(out)
        return rotate if confidence >= self.min_osd_confidence else 0

    def recognize_crops(self, crops: Sequence[np.ndarray]) -> list[OcrWord]:
        """Read each crop as one text line (``--psm 7``)."""
        words = []
        for crop in crops:
            gray = to_gray(crop)
            tsv = self._run(gray, ["-l", self.lang, "--psm", "7", "tsv"])
            pieces = _tsv_lines(tsv)
            text = " ".join(p.text for p in pieces)
            conf = min((p.confidence for p in pieces), default=0.0)
            words.append(OcrWord(text=text, box=(0, 0, gray.shape[1], gray.shape[0]), confidence=conf))
        return words

    # --- the program ---

    def _run(self, gray: np.ndarray, args: Sequence[str]) -> str:
        ok, png = cv2.imencode(".png", gray, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise EngineError("could not encode the page image for tesseract")
        return self._call(["stdin", "stdout", *self._tessdata, *args], png.tobytes())

    def _call(self, args: Sequence[str], stdin: bytes = b"") -> str:
        done = run_program([self._executable, *args], timeout=self.timeout, purpose="reading the page with tesseract",
                           stdin=stdin, env=self._env)
        if not done.ok:
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise EngineError(f"tesseract failed with exit status {done.returncode}: {detail[0][:200]}")
        return done.stdout.decode("utf-8", "replace")

    def _check_languages(self) -> None:
        listed = self._call([*self._tessdata, "--list-langs"]).split()
        missing = [lang for lang in [*self.lang.split("+"), "osd"] if lang not in listed]
        if missing:
            raise EngineUnavailable(
                f"tesseract language data missing: {', '.join(missing)}; "
                "install tesseract-ocr-chi-sim and tesseract-ocr-osd"
            )


def _child_env(threads: int) -> dict[str, str]:
    """Environment of the tesseract child: just enough to run, nothing of ours leaks to it."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "OMP_THREAD_LIMIT": str(max(1, threads))}
    if "TESSDATA_PREFIX" in os.environ:
        env["TESSDATA_PREFIX"] = os.environ["TESSDATA_PREFIX"]
    return env


def _tsv_lines(tsv: str) -> list[Piece]:
    """Tesseract TSV -> one piece per Tesseract line (words joined, see :func:`join_words`)."""
    lines: dict[tuple[int, int, int], list[Piece]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text:
            continue
        conf = float(row["conf"])
        if conf < 0:
            continue
        x, y, w, h = (int(row[k]) for k in ("left", "top", "width", "height"))
        key = (int(row["block_num"]), int(row["par_num"]), int(row["line_num"]))
        lines.setdefault(key, []).append(Piece(text, (x, y, x + w, y + h), min(1.0, conf / 100)))
    pieces = []
    for words in lines.values():
        ordered = sorted(words, key=lambda p: p.box[0])
        confidence = sum(w.confidence for w in words) / len(words)
        pieces.append(Piece(join_words(ordered), union_box(w.box for w in ordered), confidence))
    return pieces


def _parse_osd(out: str) -> tuple[int, float]:
    """``Rotate:`` and ``Orientation confidence:`` from Tesseract's OSD report."""
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in out.splitlines())
        if value
    )
    try:
        rotate = int(fields["Rotate"]) % 360
        confidence = float(fields["Orientation confidence"])
    except (KeyError, ValueError) as e:
        raise EngineError("tesseract OSD returned an unreadable report") from e
    if rotate not in (0, 90, 180, 270):
        raise EngineError(f"tesseract OSD returned an unexpected rotation {rotate}")
    return rotate, confidence
