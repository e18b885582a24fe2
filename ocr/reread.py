"""Re-reading doubtful fields (复核): cut the field out of its page again and let readers vote.

A field whose characters the page reading was unsure of (or that failed a
check) is cut out of the preprocessed page, enlarged, and read again by each
re-reader (another PP-OCR recogniser, Tesseract); each reading is parsed the
way the field was. The original reading and the re-readings vote:

* all readings give the value: it stands, more certain (``reread`` +1);
* a majority gives another value: that value replaces it, with the vote as
  evidence (``reread`` +0.5, ``replaced`` 1);
* no majority: the field is doubtful (``reread`` -1).

Page images are kept as PNG in memory while a file is read (:class:`PageStore`),
never written to disk.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from schemas.models import Box, Extraction, FieldValue, OcrWord, PageImage

#: Fields whose weakest character is below this (or that failed a check) are re-read.
REREAD_BELOW = 0.97
#: Height (px) crops are enlarged to before reading: PP-OCR reads at 48 px, Tesseract likes ~40 px letters.
CROP_HEIGHT = 64
#: Margin around the field's box, in units of its height.
PAD = 0.25
#: Crops taller than this many text heights hold several lines (a wrapped address): not re-read.
MAX_LINES = 1.8

Parser = Callable[[str], object]
Reader = Callable[[Sequence[np.ndarray]], list[OcrWord]]


@dataclass
class PageStore:
    """The preprocessed (upright, deskewed, cleaned) page images of one file, PNG-compressed in memory."""

    _png: dict[int, bytes] = field(default_factory=dict)

    def put(self, page: PageImage) -> None:
        """Keep a page (blank pages are not kept)."""
        if page.blank:
            return
        ok, png = cv2.imencode(".png", page.image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if ok:
            self._png[page.index] = png.tobytes()

    def crop(self, index: int, box: Box, *, pad: float = PAD) -> np.ndarray | None:
        """The region ``box`` of page ``index`` with a margin, or None when the page is not kept."""
        data = self._png.get(index)
        if data is None:
            return None
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            return None
        x0, y0, x1, y1 = box
        margin = round(pad * max(1, y1 - y0))
        h, w = image.shape[:2]
        x0, y0, x1, y1 = max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return None
        return image[y0:y1, x0:x1].copy()

    def __len__(self) -> int:
        return len(self._png)


def enlarge(crop: np.ndarray, height: int = CROP_HEIGHT) -> np.ndarray:
    """Scale a crop up (never down) to about ``height`` pixels."""
    scale = height / max(1, crop.shape[0])
    if scale <= 1.0:
        return crop
    size = (max(1, round(crop.shape[1] * scale)), height)
    return cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)


def needs_reread(value: FieldValue) -> bool:
    """Whether a field is doubtful enough to be read again (and can be: it has a place and a parser)."""
    if value.box is None or value.page is None or not value.read_as:
        return False
    evidence = value.evidence or {}
    if evidence.get("derived"):
        return False
    return not value.valid or evidence.get("ocr", 1.0) < REREAD_BELOW


def reread_fields(extraction: Extraction, store: PageStore, readers: Sequence[Reader],
                  parsers: Mapping[str, Callable[[str], object | None]]) -> Extraction:
    """Re-read the doubtful fields of a document and apply the votes (see the module docstring)."""
    extraction = recover_unread(extraction, store, readers, parsers)
    todo = [(name, value) for name, value in extraction.fields.items() if needs_reread(value)]
    if not todo or not readers:
        return extraction
    crops, names = [], []
    for name, value in todo:
        assert value.box is not None and value.page is not None
        crop = store.crop(value.page, value.box)
        line_height = (value.evidence or {}).get("line_height", 0.0)
        if crop is None or (line_height and crop.shape[0] > MAX_LINES * line_height * (1 + 2 * PAD)):
            continue
        crops.append(enlarge(crop))
        names.append(name)
    if not crops:
        return extraction
    readings = [reader(crops) for reader in readers]
    fields = dict(extraction.fields)
    for k, name in enumerate(names):
        value = fields[name]
        parse = parsers[value.read_as or ""]
        votes = [_parsed_value(parse(r[k].text)) for r in readings]
        fields[name] = vote(value, votes)
    return extraction.model_copy(update={"fields": fields})


def _parsed_value(parsed: object | None) -> str | None:
    """The value of a parser's result (``ocr.extract.Parsed``), when it is a valid one."""
    if parsed is None or getattr(parsed, "issue", None):
        return None
    return str(getattr(parsed, "value", ""))or None


def vote(value: FieldValue, readings: Sequence[str | None]) -> FieldValue:
    """Apply the re-readings of a field: confirm it, replace it by a majority, or mark it doubtful."""
    evidence = dict(value.evidence or {})
    ballots = Counter(r for r in readings if r)
    ballots[value.value] += 1 if value.valid else 0
    total = len(readings) + 1
    winner, count = ballots.most_common(1)[0] if ballots else (value.value, 0)
    if winner == value.value and count == total:
        evidence["reread"] = 1.0
        return value.model_copy(update={"evidence": evidence})
    if winner != value.value and count > total / 2:
        evidence.update(reread=0.5, replaced=1.0)
        return value.model_copy(update={"value": winner, "valid": True, "issue": None, "evidence": evidence})
    evidence["reread"] = 0.0 if count > total / 2 else -1.0
    return value.model_copy(update={"evidence": evidence})


def recover_unread(extraction: Extraction, store: PageStore, readers: Sequence[Reader],
                   parsers: Mapping[str, Callable[[str], object | None]]) -> Extraction:
    """Read again, from the page image, labelled values the page reading could not parse.

    A small handwritten digit on an underline ("2023年_6_月23日") is often lost
    by text detection; the value's place is known from its label, so the place
    is cut out and read as one line. A value two readers agree on, or that one
    reader gives when it is the only one, is kept with that evidence.
    """
    if not extraction.unread or not readers:
        return extraction
    names, crops = [], []
    for name, place in extraction.unread.items():
        if name in extraction.fields or place.parse not in parsers:
            continue
        crop = store.crop(place.page, place.box)
        if crop is not None:
            names.append(name)
            crops.append(enlarge(crop))
    if not crops:
        return extraction
    readings = [reader(crops) for reader in readers]
    fields = dict(extraction.fields)
    for k, name in enumerate(names):
        place = extraction.unread[name]
        votes = [(_parsed_value(parsers[place.parse](r[k].text)), r[k]) for r in readings]
        values = Counter(v for v, _ in votes if v)
        if not values:
            continue
        value, count = values.most_common(1)[0]
        if count < len(readers) and len(readers) > 1:
            continue  # the readers disagree: better no value than a guess
        word = next(w for v, w in votes if v == value)
        evidence = {"ocr": word.min_char_confidence, "how": 1.0, "reread": 1.0 if count > 1 else 0.5,
                    "recovered": 1.0}
        fields[name] = FieldValue(name=name, value=value, confidence=word.confidence, page=place.page,
                                  box=place.box, evidence=evidence, read_as=place.parse)
    return extraction.model_copy(update={"fields": fields})

