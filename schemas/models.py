"""Immutable values passed between pipeline steps.

SourceFile -> PageImage -> OcrPage -> Extraction -> StoredObject.
Image arrays travel in frozen dataclasses (pydantic does not hold numpy
arrays well); everything that is exported or persisted is a pydantic model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:  # only the pipeline's image dataclasses name it; the search path never loads numpy
    import numpy as np


class FileKind(StrEnum):
    """Real file type sniffed from magic bytes."""

    PDF = "pdf"
    TIFF = "tiff"
    JPEG = "jpeg"
    PNG = "png"
    BMP = "bmp"
    WEBP = "webp"


class Frozen(BaseModel):
    """Base of immutable pydantic values."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class SourceFile(Frozen):
    """An input file that passed preflight (the original, untouched)."""

    path: Path
    name: str
    size: int
    sha256: str
    kind: FileKind
    page_count: int
    #: PDF that needed a structural repair (junk before %PDF, broken xref...).
    repaired: bool = False


@dataclass(frozen=True)
class PageImage:
    """One rasterised page. ``image`` is 8-bit gray or BGR (OpenCV order)."""

    index: int
    image: np.ndarray = field(repr=False)
    dpi: int
    #: Clockwise rotation in degrees applied to make the page upright.
    rotation: int = 0
    #: Skew angle in degrees that was corrected.
    skew: float = 0.0
    blank: bool = False
    #: Cells of bordered tables, found before the ruled lines were removed for OCR.
    cells: tuple[TableCell, ...] = ()
    #: Seals separated from the page by colour: each a level strip of the seal's text (BGR or gray)
    #: and the seal's box on the page, to be read by the engine.
    seal_strips: tuple[np.ndarray, ...] = field(default=(), repr=False)
    seal_boxes: tuple[Box, ...] = ()


Box = tuple[int, int, int, int]
"""A box (x0, y0, x1, y1) in page pixels."""


class OcrWord(Frozen):
    """One recognised piece of text (a detector box) with its box and confidences.

    ``chars`` holds one confidence per character of ``text`` when the engine
    gives them (the lowest one tells more about a misread than the mean).
    """

    text: str
    box: Box
    confidence: float
    chars: tuple[float, ...] = ()
    #: Slope of the text in degrees (counter-clockwise positive) on the upright page: 0 for level
    #: print; a line written across an ID copy runs at a slant of its own.
    angle: float = 0.0

    @property
    def min_char_confidence(self) -> float:
        """Lowest character confidence (the word confidence when none are known)."""
        return min(self.chars) if self.chars else self.confidence


class OcrLine(Frozen):
    """One text row with its box (x0, y0, x1, y1) in page pixels; ``words`` left to right."""

    text: str
    box: Box
    confidence: float
    words: tuple[OcrWord, ...] = ()


class TableCell(Frozen):
    """One cell of a bordered table (grid form) found on the page by its ruled lines.

    ``row``/``col`` index the table's grid; a merged cell spans ``row_span`` x
    ``col_span`` grid positions. ``table`` numbers the tables of a page.
    """

    box: Box
    table: int
    row: int
    col: int
    row_span: int = 1
    col_span: int = 1


class SealText(Frozen):
    """The text read along a seal (印章), usually the issuing company's name."""

    text: str
    box: Box
    confidence: float


class OcrPage(Frozen):
    """OCR result of one upright page; lines in reading order."""

    index: int
    engine: str
    width: int
    height: int
    lines: tuple[OcrLine, ...] = ()
    rotation: int = 0
    skew: float = 0.0
    blank: bool = False
    #: Resolution of the page image the boxes refer to (0: unknown).
    dpi: int = 0
    #: Cells of bordered tables on the page.
    cells: tuple[TableCell, ...] = ()
    #: Seals found on the page and the text read along them.
    seals: tuple[SealText, ...] = ()
    #: Printed or stamped page number ("第 2 页 共 8 页": 2 and 8), when one was found.
    page_number: int | None = None
    page_total: int | None = None
    #: Lines written across the page at a slant of their own ("仅供办理入住使用" across an ID copy),
    #: read as whole lines and kept out of ``lines``.
    overlays: tuple[OcrWord, ...] = ()

    @property
    def text(self) -> str:
        """The page text, one OCR line per text line."""
        return "\n".join(line.text for line in self.lines)

    @property
    def mean_confidence(self) -> float:
        """Mean line confidence (0 for a page without text)."""
        if not self.lines:
            return 0.0
        return sum(line.confidence for line in self.lines) / len(self.lines)


#: Fields at or above this confidence, valid and without an issue, are stated as read; the rest go to review.
#: Chosen with the fitted confidence model (bench/calibrate.py) so that stated values are right at least
#: 99.5% of the time on corpora the model never saw (bench/RESULTS.md).
CONFIDENT = 0.98


#: Where a value came from: read from the page (``ocr``), named by the drop-folder path the file was found
#: under (``path``, see storage/unitpath.py), or printed on a cabinet cover sheet (``cover_sheet``).
ValueSource = Literal["ocr", "path", "cover_sheet"]


class FieldValue(Frozen):
    """One extracted field.

    ``confidence`` estimates the chance that the value is exactly right.
    ``valid`` is False when a rule says the value is wrong (a bad checksum, a
    date that does not exist, amounts that disagree, another document of the
    archive saying otherwise); ``issue`` says why a field needs a person's eye
    (invalid, or too uncertain to state). ``page`` and ``box`` say where the
    value was read (page index in the file, box in that page's pixels).
    """

    name: str
    value: str
    confidence: float
    valid: bool = True
    issue: str | None = None
    page: int | None = None
    box: Box | None = None
    #: How the value was read and checked (OCR confidence, label kind, agreement, re-read votes);
    #: input of the confidence model, never stored.
    evidence: dict[str, float] | None = Field(default=None, exclude=True)
    #: How the value was parsed (``date``, ``id``, ``range_start`` ...), so a re-read parses it alike.
    read_as: str | None = Field(default=None, exclude=True)
    #: Where the value came from; a value given by the folder path or a cover sheet wins over the page's reading.
    source: ValueSource = "ocr"

    @property
    def needs_review(self) -> bool:
        """Whether a person must check this value before it is relied on."""
        return not self.valid or self.issue is not None or self.confidence < CONFIDENT


#: Longest estate name an archive keeps (the index column's width).
MAX_ESTATE_CHARS = 64


def estate_name(value: str | None) -> str | None:
    """An estate (小区) name as archives are filed by it: without whitespace; None when nothing is left."""
    if value is None:
        return None
    return "".join(value.split()) or None


def place_text(estate: str | None, unit: str) -> str:
    """``锦绣花园 3-2-1201``: a unit after its estate (the unit alone when the estate is not known)."""
    return f"{estate} {unit}" if estate else unit


class UnitRef(Frozen):
    """Building / unit / room (楼栋 / 单元 / 房号) as printed on the document, and the estate when known.

    ``estate`` is not part of the printed unit: the drop folder or a cover
    sheet names it. A unit archive is one unit of one estate, so two
    references differing only in their estate name two archives. It is left
    out of dumps (exports and payloads keep ``{"building", "unit", "room"}``;
    they report the archive's estate beside the unit) and out of ``str()``.
    """

    building: str
    unit: str
    room: str
    estate: str | None = Field(default=None, max_length=MAX_ESTATE_CHARS, exclude=True)

    @field_validator("estate", mode="before")
    @classmethod
    def _estate(cls, value: object) -> object:
        return estate_name(value) if isinstance(value, str) else value

    def __str__(self) -> str:
        return f"{self.building}-{self.unit}-{self.room}"


class Unread(Frozen):
    """A labelled value that could not be parsed from the page reading: where it stands, how to parse it."""

    page: int
    box: Box
    parse: str


class Extraction(Frozen):
    """Classification and fields of one document."""

    #: A document type name (see schemas.doctypes).
    doc_type: str
    doc_type_confidence: float
    fields: dict[str, FieldValue] = {}
    #: Page indices (0-based, in the file) of the document's pages; blank pages are left out.
    page_indices: tuple[int, ...] = ()
    #: Fields whose label was found but whose value could not be read (re-read from the page image).
    unread: dict[str, Unread] = Field(default_factory=dict, exclude=True)

    @property
    def first_page(self) -> int:
        """Index of the document's first page in its file."""
        return min(self.page_indices, default=0)

    @property
    def unit_ref(self) -> UnitRef | None:
        """The unit reference when building, unit and room were all found."""
        parts = [self.fields.get(n) for n in ("building", "unit", "room")]
        if any(p is None for p in parts):
            return None
        b, u, r = (p.value for p in parts if p is not None)
        return UnitRef(building=b, unit=u, room=r)

    @property
    def has_invalid_fields(self) -> bool:
        """True when any field failed validation."""
        return any(not f.valid for f in self.fields.values())

    @property
    def flagged_fields(self) -> tuple[str, ...]:
        """Names of the fields a person must check."""
        return tuple(name for name, f in self.fields.items() if f.needs_review)


class StoredObject(Frozen):
    """An encrypted object in the object store."""

    key: str
    size: int
    key_id: str
    algorithm: Literal["AES-256-GCM"] = "AES-256-GCM"


DocumentStatus = Literal["indexed", "needs_review"]
