"""Preflight and rasterisation of scanned inputs (PDF, TIFF, JPEG, PNG, BMP, WebP).

``preflight`` checks a file without changing it and returns a ``SourceFile``,
or raises an ``InputRejected`` subclass whose message says what is wrong and
what the clerk should do. ``rasterise`` then yields one ``PageImage`` per page,
one at a time, so memory stays bounded by the largest page.

Pages come out as 8-bit arrays: 2-D gray when the page has no colour (the
usual case for scans), 3-channel BGR when it has (red seals, highlighter),
so that preprocessing may use colour and OCR engines may drop it.
Messages never contain the file name: names may hold ID numbers. The name
kept in ``SourceFile.name`` (stored in the index, exported, shown) has its ID
numbers and phones masked (:func:`storage.names.safe_name`).

Preflight takes a file only once it has stopped changing (``settle_seconds``),
never follows a link, and counts pages against ``max_pages`` before any page
is drawn.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import math
import os
import stat
import struct
import time
import warnings
import zipfile
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import pikepdf
from PIL import Image, ImageOps, ImageSequence

from ocr.programs import run_program
from schemas.errors import (
    CorruptFile,
    DanglingLink,
    EmptyFile,
    EncryptedPdf,
    ImageTooLarge,
    InputRejected,
    LinkLoop,
    LinkOutside,
    NoPages,
    NotFound,
    SourceChanged,
    StillBeingWritten,
    TooManyPages,
    TruncatedFile,
    UnsupportedType,
)
from schemas.models import FileKind, PageImage, SourceFile
from schemas.settings import Settings
from storage.files import file_sha256
from storage.names import safe_name

# Pillow warns about images above its own pixel limit and about damaged metadata. Ours
# (``settings.max_pixels``) is checked on every frame and a damaged file is refused with its reason,
# so these warnings would only reach the clerk's console as noise.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
# qpdf's notes on a damaged PDF reach Python's logging through pikepdf at ERROR level; preflight reads
# them through ``pdf.get_warnings()`` and the file's quarantine reason says what is wrong.
logging.getLogger("pikepdf").setLevel(logging.CRITICAL)


def _mute_libtiff() -> None:
    """Stop Pillow's libtiff from printing its complaints about a damaged TIFF on standard error.

    Pillow raises the same failures as exceptions, which become the file's
    quarantine reason; the printed lines would only break the console output.
    Uses libtiff's documented ``TIFFSetErrorHandler(NULL)``; where the library
    cannot be found (not Linux), the messages stay.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            libraries = {line.split()[-1] for line in maps if "libtiff" in line.rsplit("/", 1)[-1]}
        for library in libraries:
            libtiff = ctypes.CDLL(library)
            for setter in (libtiff.TIFFSetErrorHandler, libtiff.TIFFSetWarningHandler):
                setter.restype = ctypes.c_void_p
                setter.argtypes = [ctypes.c_void_p]
                setter(None)
    except (OSError, AttributeError):
        pass


_mute_libtiff()

#: Bytes read to sniff the type; a PDF header may sit anywhere in them (BOM, junk).
_SNIFF_BYTES = 1024
#: A PDF must end with %%EOF within this many bytes (as Acrobat requires).
_PDF_TAIL_BYTES = 1024
#: Largest rendered PDF page in pixels, whatever the settings allow.
PAGE_PIXEL_CAP = 40_000_000
#: Image-file DPI outside this range is treated as missing.
_PLAUSIBLE_DPI = (50.0, 1200.0)
#: A stated DPI that makes the image longer than this (inches) is a camera placeholder (72/96).
_MAX_PLAUSIBLE_SIDE_IN = 24.0
#: A PDF image covering at least this share of the page sets the page's render DPI.
_MAIN_IMAGE_SHARE = 0.2
#: Pixels whose channels differ by more than this count as coloured.
_COLOUR_SPREAD = 32
#: Share of coloured pixels above which a page is kept in colour.
_COLOUR_SHARE = 0.0005

_PIL_FORMAT = {
    FileKind.TIFF: "TIFF",
    FileKind.JPEG: "JPEG",
    FileKind.PNG: "PNG",
    FileKind.BMP: "BMP",
    FileKind.WEBP: "WEBP",
}
#: Errors Pillow raises for unreadable image data.
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError)
#: Errors pikepdf raises for unreadable PDF structure.
_PDF_ERRORS = (pikepdf.PdfError, ValueError, KeyError, TypeError, AttributeError, RuntimeError)
_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}
_SCAN_ADVICE = "scan the paper to PDF, TIFF, JPEG or PNG and add that file instead"


# --- identity and type -------------------------------------------------------


def sniff_kind(head: bytes) -> FileKind | None:
    """Return the supported type shown by a file's first bytes, or None (never uses the extension)."""
    if head.startswith(b"\xff\xd8\xff"):
        return FileKind.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileKind.PNG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return FileKind.TIFF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FileKind.WEBP
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return FileKind.BMP
    if b"%PDF-" in head[:_SNIFF_BYTES]:
        return FileKind.PDF
    return None


def describe_unsupported(head: bytes, path: Path) -> str:
    """Explain in one line what an unsupported file looks like and what to do."""
    what, advice = _looks_like(head, path)
    return f"unsupported file type: this looks like {what}, not a scan; {advice}"


def _looks_like(head: bytes, path: Path) -> tuple[str, str]:
    office = "print or export it to PDF and add the PDF instead"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(path), office
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "an old Microsoft Office document (.doc/.xls)", office
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image", "save it as PNG or JPEG and add it again"
    if head[4:8] == b"ftyp":
        if head[8:12] in (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"hevc", b"avif"):
            advice = "export it as JPEG (iPhone: Camera > Formats > Most Compatible)"
            return "an HEIC/AVIF phone photo", advice
        return "a video or MP4-family file", _SCAN_ADVICE
    if head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        return "a JPEG 2000 image", "save it as PNG or JPEG and add it again"
    if head.startswith((b"Rar!", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b")):
        return "a compressed archive (RAR/7z/gzip)", "unpack it and add the scans inside"
    if head.startswith(b"{\\rtf"):
        return "a rich-text document (.rtf)", office
    if head.startswith(b"%!PS"):
        return "a PostScript file", "convert it to PDF and add the PDF instead"
    if _is_text(head):
        return _text_kind(head), _SCAN_ADVICE
    return "unknown binary data", _SCAN_ADVICE


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return "a damaged ZIP archive"
    top = {name.split("/", 1)[0] for name in names}
    if "word" in top:
        return "a Word document (.docx)"
    if "xl" in top:
        return "an Excel workbook (.xlsx)"
    if "ppt" in top:
        return "a PowerPoint presentation (.pptx)"
    if "OFD.xml" in top:
        return "an OFD e-document (such as an e-invoice)"
    if "mimetype" in top:
        return "an OpenDocument file (.odt/.ods)"
    return "a ZIP archive"


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return head.startswith((b"\xff\xfe", b"\xfe\xff"))  # UTF-16 text has NULs
    for encoding in ("utf-8", "gb18030"):
        try:
            head.decode(encoding)
        except UnicodeDecodeError as e:
            if e.start >= len(head) - 4:  # a character cut at the end of the sniffed bytes
                return True
            continue
        return True
    return False


def _text_kind(head: bytes) -> str:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return "a web page (HTML)"
    if b"<svg" in start:
        return "an SVG drawing"
    if start.startswith(b"<?xml"):
        return "an XML file"
    return "plain text"


# --- preflight ---------------------------------------------------------------


def preflight(path: Path, settings: Settings) -> SourceFile:
    """Check an input file without changing it; return what later steps need to know.

    Raises EmptyFile, UnsupportedType, EncryptedPdf, TruncatedFile, CorruptFile,
    ImageTooLarge, TooManyPages, NoPages or a LinkRefused subclass (all
    InputRejected) with a message for the clerk; StillBeingWritten or
    SourceChanged (the file stays for the next run) when it is still changing.
    """
    before = _settled_signature(path, settings.settle_seconds)
    try:
        source = _check_file(path, settings)
    except TruncatedFile as e:
        if _signature(path) != before:
            raise _changed_while_read() from e
        raise
    if _signature(path) != before:
        raise _changed_while_read()
    return source


def _check_file(path: Path, settings: Settings) -> SourceFile:
    size, head = _read_head(path)
    if size == 0:
        raise EmptyFile("the file is empty (0 bytes); scan the paper again or copy the file again")
    kind = sniff_kind(head)
    if kind is None:
        raise UnsupportedType(describe_unsupported(head, path))
    if kind is FileKind.PDF:
        page_count, repaired = _preflight_pdf(path, head, settings)
    else:
        page_count, repaired = _preflight_image(path, kind, settings), False
    if page_count < 1:
        raise NoPages(f"the {kind.value.upper()} file has no pages; scan the paper again")
    return SourceFile(
        path=path, name=safe_name(path.name), size=size, sha256=file_sha256(path),
        kind=kind, page_count=page_count, repaired=repaired,
    )


# --- is it a settled, regular file? --------------------------------------------

#: What identifies one state of a file's bytes: size, modification and change time (nanoseconds).
Signature = tuple[int, int, int]


def _settled_signature(path: Path, settle_seconds: float) -> Signature:
    """The file's signature once it has not changed for ``settle_seconds``; waits at most that long.

    The change time (ctime) counts too: a copy that keeps the original's
    modification time still moves it. A file that changes while we wait raises
    StillBeingWritten and stays in the drop folder for the next run.
    """
    first = _regular_file_signature(path)
    age = time.time() - max(first[1], first[2]) / 1e9
    if age >= settle_seconds:
        return first
    time.sleep(min(settle_seconds, settle_seconds - age))
    if _signature(path) != first:
        raise StillBeingWritten(
            f"the file is still being written (its size or time changed within the last {settle_seconds:g} s); "
            "the next run takes it"
        )
    return first


def _regular_file_signature(path: Path) -> Signature:
    """Signature of a regular file; links, folders, pipes and devices are refused, never opened or followed."""
    try:
        info = os.lstat(path)
    except FileNotFoundError as e:
        raise NotFound("the file disappeared before it could be read; check the drop folder") from e
    except OSError as e:
        raise InputRejected("the file cannot be read (no permission or a disk error); ask IT to check it") from e
    if stat.S_ISLNK(info.st_mode):
        raise _refused_link(path)
    if stat.S_ISDIR(info.st_mode):
        raise UnsupportedType("this is a folder, not a file; add the files inside it")
    if not stat.S_ISREG(info.st_mode):
        raise UnsupportedType("this is not a file but a pipe, socket or device; " + _SCAN_ADVICE)
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns


def _refused_link(path: Path) -> InputRejected:
    """The reason a link is not followed (checking where it leads reads nothing behind it)."""
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return LinkLoop("this is a link that points back to itself (a loop); it was not followed; "
                            "delete the link and copy the scan itself into the drop folder")
        return DanglingLink("this is a link to a file that no longer exists; it was not followed; "
                            "delete the link and copy the scan itself into the drop folder")
    return LinkOutside("this is a link to a file or folder outside the drop folder; links are never followed, "
                       "so nothing was read; copy the scan itself into the drop folder")


def _signature(path: Path) -> Signature | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns


def _changed_while_read() -> SourceChanged:
    return SourceChanged("the file changed while it was being read (a scanner or a copy is still writing it); "
                         "the next run takes it")


# --- preflight by type ---------------------------------------------------------


def _read_head(path: Path) -> tuple[int, bytes]:
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            return size, f.read(_SNIFF_BYTES)
    except FileNotFoundError as e:
        raise NotFound("the file disappeared before it could be read; check the drop folder") from e
    except IsADirectoryError as e:
        raise UnsupportedType("this is a folder, not a file; add the files inside it") from e
    except OSError as e:
        raise InputRejected(
            "the file cannot be read (no permission or a disk error); ask IT to check it"
        ) from e


def _preflight_pdf(path: Path, head: bytes, settings: Settings) -> tuple[int, bool]:
    """Page count and whether the PDF needed a structural repair."""
    complete = _pdf_has_eof(path)
    try:
        with pikepdf.open(path) as pdf:
            page_count = len(pdf.pages)
            _check_page_count(page_count, settings)
            for page in pdf.pages:
                _page_size_inches(page)
            damaged = bool(pdf.get_warnings())
    except pikepdf.PasswordError as e:
        raise EncryptedPdf(
            "the PDF is password protected; remove the password (or ask the sender for an "
            "unprotected copy) and add it again"
        ) from e
    except _PDF_ERRORS as e:
        raise _broken_pdf(complete) from e
    if damaged and not complete:
        raise _broken_pdf(complete)
    return page_count, damaged or not head.startswith(b"%PDF-")


def _check_page_count(pages: int, settings: Settings, *, at_least: bool = False) -> None:
    if pages > settings.max_pages:
        count = f"more than {settings.max_pages}" if at_least else str(pages)
        raise TooManyPages(
            f"the file has {count} pages, above the limit of {settings.max_pages} pages per file; "
            "split it into smaller files (one owner archive each) and add them again"
        )


def _pdf_has_eof(path: Path) -> bool:
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - _PDF_TAIL_BYTES))
        return b"%%EOF" in f.read()


def _broken_pdf(complete: bool) -> InputRejected:
    if not complete:
        return TruncatedFile(
            "the PDF is incomplete (its end is missing, e.g. an interrupted copy or scan); "
            "copy or scan it again"
        )
    return CorruptFile("the PDF is damaged beyond repair; scan the paper again or ask for a new copy")


def _preflight_image(path: Path, kind: FileKind, settings: Settings) -> int:
    """Frame count after checking every frame's size (header only) and that its data decodes."""
    if kind is FileKind.TIFF:
        _check_page_count(_tiff_page_count(path, settings.max_pages + 1), settings, at_least=True)
    with _open_image(path, kind) as im:
        try:
            frames = int(getattr(im, "n_frames", 1)) if kind is FileKind.TIFF else 1
            _check_page_count(frames, settings)
            for index in range(frames):
                im.seek(index)
                _check_pixels(im.size, settings)
                if kind is FileKind.JPEG:  # decode at 1/8 scale: reads all data, allocates little
                    im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
                im.load()
        except Image.DecompressionBombError as e:
            raise _pixel_bomb() from e
        except _PIL_ERRORS as e:
            raise _damaged_image(path, kind) from e
    return frames


def _check_pixels(size: tuple[int, int], settings: Settings) -> None:
    width, height = size
    if width * height > settings.max_pixels:
        raise ImageTooLarge(
            f"the image is {width} x {height} pixels ({width * height / 1e6:.0f} MP), above the "
            f"{settings.max_pixels / 1e6:.0f} MP limit; scan at 300 dpi or lower and add it again"
        )


@contextmanager
def _open_image(path: Path, kind: FileKind) -> Iterator[Image.Image]:
    """Open an image lazily (header only) as exactly the sniffed format."""
    try:
        im = Image.open(path, formats=[_PIL_FORMAT[kind]])
    except Image.DecompressionBombError as e:
        raise _pixel_bomb() from e
    except _PIL_ERRORS as e:
        raise _damaged_image(path, kind) from e
    with im:
        yield im


def _pixel_bomb() -> ImageTooLarge:
    return ImageTooLarge(
        "the image header claims a size far above the pixel limit (a decompression bomb or an "
        "extreme scan resolution); scan at 300 dpi or lower and add it again"
    )


def _damaged_image(path: Path, kind: FileKind) -> InputRejected:
    label = kind.value.upper()
    if _image_ends_early(path, kind):
        return TruncatedFile(
            f"the {label} image is incomplete (its data ends early, e.g. an interrupted copy); "
            "copy or scan it again"
        )
    return CorruptFile(f"the {label} image is damaged and cannot be decoded; scan the paper again")


def _image_ends_early(path: Path, kind: FileKind) -> bool:
    """Tell whether the file's own structure says bytes are missing at its end."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(64)
        f.seek(max(0, size - 64))
        tail = f.read()
    if kind is FileKind.JPEG:
        return not tail.rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9")
    if kind is FileKind.PNG:
        return b"IEND" not in tail
    if kind is FileKind.WEBP:
        return int.from_bytes(head[4:8], "little") + 8 > size
    if kind is FileKind.BMP:
        return int.from_bytes(head[2:6], "little") > size or int.from_bytes(head[10:14], "little") >= size
    return _tiff_ends_early(path, head, size)


def _tiff_ends_early(path: Path, head: bytes, size: int) -> bool:
    return _tiff_ifd_chain_ends_early(path, head, size) or _tiff_strips_end_early(path, size)


def _tiff_ifd_chain_ends_early(path: Path, head: bytes, size: int) -> bool:
    """Walk the chain of image directories (one per page); True when one lies past the end."""
    return _walk_tiff_ifds(path, head, size, limit=100_000)[1]


def _tiff_page_count(path: Path, limit: int) -> int:
    """Image directories (pages) in a TIFF's chain, counting no further than ``limit`` (header reads only)."""
    with path.open("rb") as f:
        head = f.read(16)
    return _walk_tiff_ifds(path, head, path.stat().st_size, limit=limit)[0]


def _walk_tiff_ifds(path: Path, head: bytes, size: int, *, limit: int) -> tuple[int, bool]:
    """Directories found (at most ``limit``; a loop ends the walk) and whether one lies past the end."""
    order: Literal["little", "big"] = "little" if head[:2] == b"II" else "big"
    big = head[2:4] in (b"+\x00", b"\x00+")
    count_size, entry_size, offset_size = (8, 20, 8) if big else (2, 12, 4)
    offset = int.from_bytes(head[8:16] if big else head[4:8], order)
    seen: set[int] = set()
    with path.open("rb") as f:
        while offset and offset not in seen and len(seen) < limit:
            seen.add(offset)
            if offset >= size:
                return len(seen), True
            f.seek(offset)
            entries = f.read(count_size)
            f.seek(offset + count_size + int.from_bytes(entries, order) * entry_size)
            following = f.read(offset_size)
            if len(entries) < count_size or len(following) < offset_size:
                return len(seen), True
            offset = int.from_bytes(following, order)
    return len(seen), False


def _tiff_strips_end_early(path: Path, size: int) -> bool:
    """Tell whether a page's image strips or tiles point past the end of the file."""
    try:
        with Image.open(path, formats=["TIFF"]) as im:
            for frame in ImageSequence.Iterator(im):
                tags = getattr(frame, "tag_v2", {})
                offsets = tags.get(273) or tags.get(324) or ()
                counts = tags.get(279) or tags.get(325) or ()
                if any(o + c > size for o, c in zip(offsets, counts, strict=False)):
                    return True
    except _PIL_ERRORS:
        return False
    return False


# --- rasterise ---------------------------------------------------------------


def rasterise(source: SourceFile, settings: Settings, workdir: Path) -> Generator[PageImage, None, None]:
    """Yield the pages of a preflighted file in order, one at a time, as 8-bit gray or BGR arrays.

    ``PageImage.index`` starts at 0; ``PageImage.dpi`` is the effective resolution
    of the returned array. A repaired PDF is drawn from a repaired copy written
    into ``workdir`` (removed again at the end); the original is only read.
    """
    if source.kind is FileKind.PDF:
        yield from _rasterise_pdf(source, settings, workdir)
    else:
        yield from _rasterise_image(source, settings)


# PDF


@dataclass(frozen=True)
class PlacedImage:
    """An image drawn on a PDF page: pixel size and resolution as placed (from pdfimages)."""

    width: int
    height: int
    x_ppi: float
    y_ppi: float

    @property
    def area_in2(self) -> float:
        """Area covered on the page, in square inches."""
        return (self.width / self.x_ppi) * (self.height / self.y_ppi)


def choose_pdf_dpi(
    page_in: tuple[float, float], images: list[PlacedImage] | tuple[PlacedImage, ...], settings: Settings,
) -> int:
    """Render resolution of one PDF page.

    The resolution of the page's main images (those covering a fifth of the page
    or more; text-only pages use the maximum), clamped to the configured range,
    then lowered so the page stays within ``max_side_px`` and the pixel caps.
    """
    width_in, height_in = (max(side, 0.01) for side in page_in)
    area = width_in * height_in
    main = [im for im in images if im.area_in2 >= _MAIN_IMAGE_SHARE * area]
    native = max((max(im.x_ppi, im.y_ppi) for im in main), default=float(settings.render_dpi_max))
    dpi = min(max(native, settings.render_dpi_min), settings.render_dpi_max)
    side_cap = settings.max_side_px / max(width_in, height_in)
    pixel_cap = math.sqrt(min(PAGE_PIXEL_CAP, settings.max_pixels) / area)
    return max(1, int(min(dpi, side_cap, pixel_cap)))


def _rasterise_pdf(source: SourceFile, settings: Settings, workdir: Path) -> Iterator[PageImage]:
    workdir.mkdir(parents=True, exist_ok=True)
    repaired = workdir / f"{source.sha256[:16]}_repaired.pdf"
    try:
        pdf_path = repaired if source.repaired else source.path
        sizes = _pdf_page_sizes(source.path, repaired if source.repaired else None)
        placed = _pdf_images(pdf_path, settings)
        for index, page_in in enumerate(sizes):
            dpi = choose_pdf_dpi(page_in, placed.get(index + 1, ()), settings)
            image = _render_pdf_page(pdf_path, index + 1, dpi, settings)
            image, dpi = _square_and_fit(image, (dpi, dpi), settings.max_side_px)
            yield PageImage(index=index, image=_gray_if_neutral(image), dpi=dpi)
    finally:
        repaired.unlink(missing_ok=True)


def _pdf_page_sizes(original: Path, repaired_copy: Path | None) -> list[tuple[float, float]]:
    """Page sizes in inches; writes the repaired copy when one is asked for."""
    try:
        with pikepdf.open(original) as pdf:
            if repaired_copy is not None:
                pdf.save(repaired_copy)
            return [_page_size_inches(page) for page in pdf.pages]
    except pikepdf.PasswordError as e:
        raise EncryptedPdf("the PDF is password protected; remove the password and add it again") from e
    except _PDF_ERRORS as e:
        raise CorruptFile("the PDF could not be repaired for drawing; scan the paper again") from e


def _page_size_inches(page: pikepdf.Page) -> tuple[float, float]:
    """Visible (crop box) size of a page in inches; raises when the box is unreadable."""
    x0, y0, x1, y1 = (float(v) for v in page.cropbox)
    unit = float(page.obj.get("/UserUnit", 1))
    return abs(x1 - x0) * unit / 72.0, abs(y1 - y0) * unit / 72.0


def _pdf_images(pdf_path: Path, settings: Settings) -> dict[int, list[PlacedImage]]:
    """Images drawn on each page (1-based page number), as listed by poppler's pdfimages."""
    result = run_program(
        ["pdfimages", "-list", str(pdf_path)],
        timeout=settings.program_timeout, purpose="listing the images of the PDF",
    )
    if not result.ok:  # no resolution hints: pages render at the maximum DPI
        return {}
    return parse_pdfimages_list(result.stdout.decode("utf-8", "replace"))


def parse_pdfimages_list(text: str) -> dict[int, list[PlacedImage]]:
    """Parse ``pdfimages -list`` output into placed images per page; masks are skipped."""
    pages: dict[int, list[PlacedImage]] = {}
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 14 or not cols[0].isdigit() or cols[2] not in ("image", "stencil"):
            continue
        try:
            placed = PlacedImage(int(cols[3]), int(cols[4]), float(cols[12]), float(cols[13]))
        except ValueError:
            continue
        if min(placed.width, placed.height) > 0 and all(
            math.isfinite(p) and p > 0 for p in (placed.x_ppi, placed.y_ppi)
        ):
            pages.setdefault(int(cols[0]), []).append(placed)
    return pages


def _render_pdf_page(pdf_path: Path, page_no: int, dpi: int, settings: Settings) -> np.ndarray:
    """Draw one page with pdftoppm (honours /Rotate; decodes JBIG2, CCITT, JPX)."""
    result = run_program(
        ["pdftoppm", "-r", str(dpi), "-f", str(page_no), "-l", str(page_no), "-cropbox", str(pdf_path)],
        timeout=settings.program_timeout, purpose=f"drawing page {page_no} of the PDF",
    )
    image = None
    if result.ok and result.stdout:
        image = cv2.imdecode(np.frombuffer(result.stdout, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise CorruptFile(
            f"page {page_no} of the PDF cannot be drawn (pdftoppm exit status {result.returncode}); "
            "scan the paper again"
        )
    return image


# image files


def _rasterise_image(source: SourceFile, settings: Settings) -> Iterator[PageImage]:
    with _open_image(source.path, source.kind) as im:
        frames = ImageSequence.Iterator(im) if source.kind is FileKind.TIFF else iter([im])
        index = 0
        while True:
            try:
                frame = next(frames, None)
                if frame is None:
                    return
                _check_pixels(frame.size, settings)
                page = _image_page(index, frame, settings)
            except Image.DecompressionBombError as e:
                raise _pixel_bomb() from e
            except _PIL_ERRORS as e:
                raise _damaged_image(source.path, source.kind) from e
            yield page
            index += 1


def _image_page(index: int, frame: Image.Image, settings: Settings) -> PageImage:
    """Decode one frame upright (EXIF orientation), flatten alpha onto white, square its pixels."""
    dpi_xy = _file_dpi(frame.info.get("dpi"), frame.size, settings)
    frame.load()
    if frame.getexif().get(0x0112) in (5, 6, 7, 8):  # a quarter turn swaps the axes
        dpi_xy = (dpi_xy[1], dpi_xy[0])
    upright = ImageOps.exif_transpose(frame)
    image, dpi = _square_and_fit(_to_array(upright), dpi_xy, settings.max_side_px)
    return PageImage(index=index, image=image, dpi=dpi)


def _file_dpi(info_dpi: object, size: tuple[int, int], settings: Settings) -> tuple[float, float]:
    """Return the file's (x, y) DPI, or the default when missing, implausible or a placeholder."""
    default = (float(settings.default_dpi), float(settings.default_dpi))
    try:
        x_dpi, y_dpi = (float(v) for v in info_dpi)  # type: ignore[attr-defined]
    except (TypeError, ValueError, ZeroDivisionError):
        return default
    low, high = _PLAUSIBLE_DPI
    if not (low <= x_dpi <= high and low <= y_dpi <= high):
        return default
    if max(size[0] / x_dpi, size[1] / y_dpi) > _MAX_PLAUSIBLE_SIDE_IN:
        return default
    return x_dpi, y_dpi


def _to_array(img: Image.Image) -> np.ndarray:
    """8-bit gray or BGR array of a decoded image; transparency becomes white."""
    if img.mode.startswith("I;16"):
        return (np.asarray(img, dtype=np.float32) / 257.0).round().astype(np.uint8)
    if img.mode in ("I", "F"):
        return _stretch_to_8bit(np.asarray(img, dtype=np.float32))
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        img = _flatten_on_white(img)
    if img.mode in ("1", "L"):
        return np.array(img.convert("L"))
    # Pillow decodes Adobe (inverted) CMYK JPEGs correctly before this conversion.
    bgr = cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2BGR)
    return _gray_if_neutral(bgr)


def _stretch_to_8bit(values: np.ndarray) -> np.ndarray:
    top = 255.0 if values.max() <= 255 else 65535.0 if values.max() <= 65535 else float(values.max())
    return np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)


def _flatten_on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _gray_if_neutral(image: np.ndarray) -> np.ndarray:
    """Gray copy of a BGR page without colour; BGR pages with colour are returned as they are."""
    if image.ndim == 2:
        return image
    sample = image[::4, ::4].astype(np.int16)
    spread = sample.max(axis=2) - sample.min(axis=2)
    if np.count_nonzero(spread > _COLOUR_SPREAD) > _COLOUR_SHARE * spread.size:
        return image
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _square_and_fit(image: np.ndarray, dpi_xy: tuple[float, float], max_side: int) -> tuple[np.ndarray, int]:
    """Resample to square pixels at the higher DPI, then shrink to ``max_side``; return the new DPI."""
    x_dpi, y_dpi = dpi_xy
    target = max(x_dpi, y_dpi)
    height, width = image.shape[:2]
    new_w, new_h = width * target / x_dpi, height * target / y_dpi
    scale = min(1.0, max_side / max(new_w, new_h))
    size = (max(1, round(new_w * scale)), max(1, round(new_h * scale)))
    if size != (width, height):
        shrink = size[0] * size[1] < width * height
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return image, max(1, round(target * scale))
