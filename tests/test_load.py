"""Preflight and rasterisation: every bad input gets its own typed error; good inputs become pages.

Inputs are generated at test time (Pillow, pikepdf); the real-world samples
are read in place and never modified.
"""

from __future__ import annotations

import io
import os
import re
import resource
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw

from ocr import load
from ocr.load import (
    PlacedImage,
    choose_pdf_dpi,
    file_sha256,
    parse_pdfimages_list,
    preflight,
    rasterise,
    sniff_kind,
)
from ocr.programs import run_program
from schemas.errors import (
    CorruptFile,
    DanglingLink,
    EmptyFile,
    EncryptedPdf,
    EngineTimeout,
    EngineUnavailable,
    ImageTooLarge,
    InputRejected,
    LinkLoop,
    LinkOutside,
    LinkRefused,
    NoPages,
    SourceChanged,
    StillBeingWritten,
    TooManyPages,
    TruncatedFile,
    UnsupportedType,
)
from schemas.models import FileKind, PageImage, SourceFile
from schemas.settings import Settings
from tests.fuzz import blank_pdf


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", program_timeout=60, settle_seconds=0)


def _pages(path: Path, settings: Settings, workdir: Path) -> tuple[SourceFile, list[PageImage]]:
    source = preflight(path, settings)
    return source, list(rasterise(source, settings, workdir))


def _text_page(label: str, size: tuple[int, int] = (850, 1100), box_at: int = 0) -> Image.Image:
    """A white page with a black box whose height position encodes the page number."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    draw.text((100, 80), label, fill=0)
    top = 150 + box_at * 250
    draw.rectangle((100, top, 700, top + 150), fill=0)
    return page


def _pdf_bytes(pages: int = 3) -> bytes:
    images = [_text_page(f"page {i + 1}", box_at=i) for i in range(pages)]
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=100)
    return out.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    """A structurally valid, tiny PNG whose header claims ``width`` x ``height`` 1-bit pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def _box_row(page: PageImage) -> int:
    """Row of the first mostly-black line of a gray page (where the page-number box starts)."""
    dark = (page.image < 64).mean(axis=1) > 0.4
    return int(np.argmax(dark))


# --- type sniffing and identity ------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n", FileKind.PDF),
        (b"\xef\xbb\xbf%PDF-1.4\n", FileKind.PDF),
        (b"JUNK" * 50 + b"%PDF-1.5", FileKind.PDF),
        (b"II*\x00\x08\x00\x00\x00", FileKind.TIFF),
        (b"MM\x00*\x00\x00\x00\x08", FileKind.TIFF),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", FileKind.JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00", FileKind.PNG),
        (b"BM" + b"\x00" * 12 + struct.pack("<I", 40) + b"\x00" * 8, FileKind.BMP),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", FileKind.WEBP),
        (b"BMW service report\n", None),
        (b"hello, this is text", None),
        (b"PK\x03\x04", None),
        (b"", None),
    ],
)
def test_sniff_kind_uses_magic_bytes(head: bytes, kind: FileKind | None) -> None:
    assert sniff_kind(head) == kind


def test_file_sha256_streams_large_file(tmp_path: Path) -> None:
    import hashlib

    data = np.random.default_rng(1).bytes(3 * (1 << 20) + 17)
    path = _write(tmp_path / "blob.bin", data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


# --- bad inputs: one typed error each --------------------------------------------


def test_zero_byte_file_is_empty(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(EmptyFile, match="empty"):
        preflight(_write(tmp_path / "scan.pdf", b""), settings)


def test_pdf_cut_in_half_is_truncated(tmp_path: Path, settings: Settings) -> None:
    data = _pdf_bytes()
    with pytest.raises(TruncatedFile, match="incomplete"):
        preflight(_write(tmp_path / "half.pdf", data[: len(data) // 2]), settings)


def test_pdf_without_structure_is_corrupt(tmp_path: Path, settings: Settings) -> None:
    path = _write(tmp_path / "bad.pdf", b"%PDF-1.4\nthis is not a pdf body\n%%EOF\n")
    with pytest.raises(CorruptFile, match="damaged"):
        preflight(path, settings)


def test_password_protected_pdf_is_refused(tmp_path: Path, settings: Settings) -> None:
    out = tmp_path / "locked.pdf"
    with pikepdf.open(io.BytesIO(_pdf_bytes(1))) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(user="secret", owner="secret"))
    with pytest.raises(EncryptedPdf, match="password protected"):
        preflight(out, settings)


def test_owner_password_only_pdf_is_accepted(tmp_path: Path, settings: Settings) -> None:
    """Permission-only encryption (empty open password) does not stop reading."""
    out = tmp_path / "restricted.pdf"
    with pikepdf.open(io.BytesIO(_pdf_bytes(1))) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(user="", owner="owner-secret"))
    source, pages = _pages(out, settings, tmp_path / "work")
    assert source.page_count == 1 and len(pages) == 1


def test_realworld_password_pdf_is_refused(realworld_dir: Path, settings: Settings) -> None:
    with pytest.raises(EncryptedPdf) as err:
        preflight(realworld_dir / "paperless__password-is-test.pdf", settings)
    assert "remove the password" in err.value.message


def test_text_file_named_pdf_is_unsupported(tmp_path: Path, settings: Settings) -> None:
    path = _write(tmp_path / "contract.pdf", "业主入住登记表\nowner list\n".encode())
    with pytest.raises(UnsupportedType, match="plain text"):
        preflight(path, settings)


def test_docx_is_unsupported_and_named(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "letter.pdf"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    with pytest.raises(UnsupportedType, match=r"Word document \(\.docx\)"):
        preflight(path, settings)


def test_zip_and_unknown_binary_are_unsupported(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "scans.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.txt", "x")
    with pytest.raises(UnsupportedType, match="ZIP archive"):
        preflight(path, settings)
    with pytest.raises(UnsupportedType, match="unknown binary"):
        preflight(_write(tmp_path / "x.jpg", bytes(range(256)) * 4), settings)


def test_huge_png_header_is_refused_without_decoding(tmp_path: Path, settings: Settings) -> None:
    path = _write(tmp_path / "bomb.png", _png_header_only(30000, 30000))
    assert path.stat().st_size < 1024
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge):
        preflight(path, settings)
    assert time.perf_counter() - started < 2


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pixel_limit_is_checked_before_decoding(tmp_path: Path) -> None:
    """The IDAT holds 64 bytes for 100 MP: decoding would fail, so ImageTooLarge proves the header check."""
    path = _write(tmp_path / "big.png", _png_header_only(10000, 10000))
    small_limit = Settings(home=tmp_path / "h", max_pixels=50_000_000, settle_seconds=0)
    with pytest.raises(ImageTooLarge, match=r"10000 x 10000 pixels \(100 MP\), above the 50 MP limit"):
        preflight(path, small_limit)
    with pytest.raises(CorruptFile):  # within the limit, the missing pixel data is found on decoding
        preflight(path, Settings(home=tmp_path / "h", settle_seconds=0))


def test_truncated_jpeg_is_truncated(tmp_path: Path, settings: Settings) -> None:
    noise = (np.random.default_rng(0).random((600, 800, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    with pytest.raises(TruncatedFile, match="JPEG image is incomplete"):
        preflight(_write(tmp_path / "photo.jpg", data[: int(len(data) * 0.6)]), settings)


def test_truncated_png_is_truncated(tmp_path: Path, settings: Settings) -> None:
    noise = (np.random.default_rng(2).random((400, 500)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG")
    data = buf.getvalue()
    with pytest.raises(TruncatedFile, match="PNG image is incomplete"):
        preflight(_write(tmp_path / "a.png", data[: len(data) // 2]), settings)


@pytest.mark.parametrize("compression", [None, "tiff_lzw", "group4"])
@pytest.mark.parametrize("keep", [0.3, 0.7, 0.99])
def test_truncated_multipage_tiff_is_truncated(
    compression: str | None, keep: float, tmp_path: Path, settings: Settings
) -> None:
    """Cut inside any page: its strips or the next page's directory lie past the end."""
    rng = np.random.default_rng(3)
    frames = [Image.fromarray((rng.random((300, 300)) * 255).astype(np.uint8)) for _ in range(3)]
    if compression == "group4":
        frames = [f.convert("1") for f in frames]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:], compression=compression)
    data = buf.getvalue()
    with pytest.raises(TruncatedFile, match="TIFF image is incomplete"):
        preflight(_write(tmp_path / "batch.tif", data[: int(len(data) * keep)]), settings)


def test_pdf_without_pages_has_no_pages(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "empty.pdf"
    with pikepdf.new() as pdf:
        pdf.save(path)
    with pytest.raises(NoPages, match="no pages"):
        preflight(path, settings)


def test_realworld_invalid_pdf_is_corrupt(realworld_dir: Path, settings: Settings) -> None:
    with pytest.raises(CorruptFile):
        preflight(realworld_dir / "ocrmypdf__invalid.pdf", settings)


# --- good inputs ---------------------------------------------------------------------


def test_pdf_pages_come_out_in_order(tmp_path: Path, settings: Settings) -> None:
    source, pages = _pages(_write(tmp_path / "three.pdf", _pdf_bytes(3)), settings, tmp_path / "w")
    assert (source.kind, source.page_count, source.repaired) == (FileKind.PDF, 3, False)
    assert [p.index for p in pages] == [0, 1, 2]
    rows = [_box_row(p) for p in pages]
    assert rows == sorted(rows) and len(set(rows)) == 3
    # Pillow draws each page as one 100-dpi image: clamped up to render_dpi_min (150).
    assert pages[0].image.shape == (1650, 1275) and pages[0].dpi == 150


def test_multipage_tiff_count_and_order(tmp_path: Path, settings: Settings) -> None:
    frames = [_text_page(f"frame {i}", box_at=i) for i in range(3)]
    path = tmp_path / "batch.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:], dpi=(200, 200), compression="tiff_lzw")
    source, pages = _pages(path, settings, tmp_path / "w")
    assert (source.kind, source.page_count) == (FileKind.TIFF, 3)
    assert [p.index for p in pages] == [0, 1, 2]
    assert all(p.dpi == 200 and p.image.shape == (1100, 850) for p in pages)
    rows = [_box_row(p) for p in pages]
    assert rows == [150, 400, 650]


def test_rgba_png_is_flattened_onto_white(tmp_path: Path, settings: Settings) -> None:
    rgba = np.zeros((300, 400, 4), np.uint8)  # fully transparent black ...
    rgba[100:200, 100:300] = (0, 0, 0, 255)  # ... around an opaque black box
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    (page,) = _pages(path, settings, tmp_path / "w")[1]
    assert page.image.ndim == 2
    assert page.image[10, 10] == 255 and page.image[150, 200] == 0


def test_gray_alpha_is_flattened_onto_white(tmp_path: Path, settings: Settings) -> None:
    la = np.zeros((100, 100, 2), np.uint8)
    la[40:60, 40:60] = (0, 255)
    path = tmp_path / "la.png"
    Image.fromarray(la, "LA").save(path)
    (page,) = _pages(path, settings, tmp_path / "w")[1]
    assert page.image[0, 0] == 255 and page.image[50, 50] == 0


def test_cmyk_jpeg_is_not_inverted(realworld_dir: Path, settings: Settings, tmp_path: Path) -> None:
    """baiona_cmyk.jpg and baiona_alpha.png are the same light map; an inverted decode is dark."""
    (cmyk,) = _pages(realworld_dir / "ocrmypdf__baiona_cmyk.jpg", settings, tmp_path)[1]
    (reference,) = _pages(realworld_dir / "ocrmypdf__baiona_alpha.png", settings, tmp_path)[1]
    assert cmyk.image.dtype == np.uint8 and cmyk.image.shape[:2] == reference.image.shape[:2]
    assert cmyk.image.mean() > 200
    assert abs(float(cmyk.image.mean()) - float(reference.image.mean())) < 10


def test_png_named_jpg_is_png(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "scan.jpg"
    _text_page("png inside").save(path, "PNG")
    source, pages = _pages(path, settings, tmp_path / "w")
    assert source.kind is FileKind.PNG and len(pages) == 1


def test_realworld_png_named_jpg(realworld_dir: Path, settings: Settings) -> None:
    assert preflight(realworld_dir / "paddleocr__test.jpg", settings).kind is FileKind.PNG


def test_bom_pdf_is_read(tmp_path: Path, settings: Settings) -> None:
    path = _write(tmp_path / "bom.pdf", b"\xef\xbb\xbf" + _pdf_bytes(2))
    source, pages = _pages(path, settings, tmp_path / "w")
    assert source.page_count == 2 and len(pages) == 2


def test_junk_prefix_pdf_is_repaired_from_a_copy(
    realworld_dir: Path, settings: Settings, tmp_path: Path
) -> None:
    original = realworld_dir / "paperless__invalid_pdf.pdf"
    before = file_sha256(original)
    workdir = tmp_path / "work"
    source, pages = _pages(original, settings, workdir)
    assert source.repaired and source.page_count == 2 and len(pages) == 2
    assert source.sha256 == before == file_sha256(original)
    assert list(workdir.iterdir()) == []  # the repaired copy does not outlive the pages


def test_broken_xref_pdf_is_repaired(tmp_path: Path, settings: Settings) -> None:
    data = re.sub(rb"startxref\s+\d+", b"startxref\n12345", _pdf_bytes(2))
    source, pages = _pages(_write(tmp_path / "xref.pdf", data), settings, tmp_path / "w")
    assert source.repaired and len(pages) == 2
    assert (tmp_path / "xref.pdf").read_bytes() == data


def test_non_square_dpi_is_resampled_to_square(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "fax.tif"
    Image.new("L", (400, 200), 255).save(path, dpi=(200, 100))
    (page,) = _pages(path, settings, tmp_path / "w")[1]
    assert page.image.shape == (400, 400) and page.dpi == 200


@pytest.mark.parametrize("dpi", [None, (10, 10), (5000, 5000), (72, 72)])
def test_missing_or_implausible_dpi_uses_default(dpi: tuple[int, int] | None, tmp_path: Path) -> None:
    """72 dpi on a 4000-px photo would mean a 55-inch page: a camera placeholder."""
    path = tmp_path / "page.png"
    Image.new("L", (4000, 300), 255).save(path, **({"dpi": dpi} if dpi else {}))
    config = Settings(home=tmp_path, default_dpi=300, max_side_px=8000, settle_seconds=0)
    (page,) = _pages(path, config, tmp_path / "w")[1]
    assert page.dpi == 300 and page.image.shape == (300, 4000)


def test_long_side_is_capped_and_dpi_follows(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("L", (6000, 3000), 255).save(path, dpi=(600, 600))
    config = Settings(home=tmp_path, max_side_px=3000, settle_seconds=0)
    (page,) = _pages(path, config, tmp_path / "w")[1]
    assert page.image.shape == (1500, 3000) and page.dpi == 300


def test_exif_orientation_is_applied(tmp_path: Path, settings: Settings) -> None:
    img = Image.new("RGB", (300, 100), "white")
    exif = img.getexif()
    exif[0x0112] = 6  # stored sideways; the camera says "rotate 90° clockwise"
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, dpi=(200, 100))
    (page,) = _pages(path, settings, tmp_path / "w")[1]
    # Upright it is 100 px (1 in) wide, 300 px (1.5 in) tall; squared at 200 dpi: 200 x 300.
    assert page.image.shape == (300, 200) and page.dpi == 200


def test_colour_is_kept_only_when_present(tmp_path: Path, settings: Settings) -> None:
    gray_rgb = tmp_path / "gray.png"
    Image.new("RGB", (200, 200), (200, 200, 200)).save(gray_rgb)
    seal = Image.new("RGB", (200, 200), "white")
    ImageDraw.Draw(seal).ellipse((50, 50, 150, 150), outline=(220, 0, 0), width=8)
    seal_path = tmp_path / "seal.png"
    seal.save(seal_path)
    assert _pages(gray_rgb, settings, tmp_path)[1][0].image.ndim == 2
    colour = _pages(seal_path, settings, tmp_path)[1][0].image
    assert colour.shape == (200, 200, 3) and tuple(colour[100, 54]) == (0, 0, 220)  # BGR order


# --- PDF resolution choice --------------------------------------------------------


def test_choose_pdf_dpi_rules() -> None:
    config = Settings(home=Path("unused"))
    page_letter = (8.5, 11.0)
    scan = PlacedImage(2550, 3300, 300, 300)
    assert choose_pdf_dpi(page_letter, [scan], config) == 300
    assert choose_pdf_dpi(page_letter, [PlacedImage(1275, 1650, 150, 150)], config) == 150
    assert choose_pdf_dpi(page_letter, [PlacedImage(612, 792, 72, 72)], config) == 150  # clamped up
    assert choose_pdf_dpi(page_letter, [], config) == 300  # text-only page
    assert choose_pdf_dpi(page_letter, [PlacedImage(100, 100, 72, 72)], config) == 300  # a small logo
    assert choose_pdf_dpi((120 / 72, 85.92 / 72), [PlacedImage(4000, 2864, 2400, 2400)], config) == 300
    assert choose_pdf_dpi((5.0, 4.0), [PlacedImage(1000, 400, 200, 100)], config) == 200
    assert choose_pdf_dpi((30.0, 30.0), [PlacedImage(9000, 9000, 300, 300)], config) == 133
    assert choose_pdf_dpi((8400 / 72, 8400 / 72), [PlacedImage(35000, 35000, 300, 300)], config) == 34
    roomy = Settings(home=Path("unused"), max_side_px=100_000)
    assert choose_pdf_dpi((30.0, 30.0), [scan], roomy) == int((40e6 / 900) ** 0.5)  # page pixel cap


def test_parse_pdfimages_list() -> None:
    text = (
        "page   num  type   width height color comp bpc  enc interp  object ID x-ppi y-ppi size ratio\n"
        "--------------------------------------------------------------------------------------------\n"
        "   1     0 image    1000   400  rgb     3   8  image  no         5  0   200   100 7.9K 0.7%\n"
        "   1     1 smask    1000   400  gray    1   8  image  no         6  0   200   100  400B 0.1%\n"
        "   3     2 stencil  2550  3300  -       1   1  jbig2  no         9  0   300   300 40K 3.9%\n"
    )
    assert parse_pdfimages_list(text) == {
        1: [PlacedImage(1000, 400, 200.0, 100.0)],
        3: [PlacedImage(2550, 3300, 300.0, 300.0)],
    }


# --- external programs -----------------------------------------------------------


def test_program_timeout_and_missing_program() -> None:
    with pytest.raises(EngineTimeout, match=r"took longer than 0\.2 s"):
        run_program(["sleep", "5"], timeout=0.2, purpose="waiting")
    with pytest.raises(EngineUnavailable):
        run_program(["dangan-no-such-program"], timeout=5, purpose="testing")


def test_render_timeout_is_engine_timeout(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.pdf", _pdf_bytes(1))
    impatient = Settings(home=tmp_path, program_timeout=0.001, settle_seconds=0)
    source = preflight(path, impatient)
    with pytest.raises(EngineTimeout):
        list(rasterise(source, impatient, tmp_path / "w"))


# --- every real-world sample --------------------------------------------------------

#: file -> page count, or the InputRejected subclass it must raise.
REALWORLD_EXPECTED: dict[str, int | type[InputRejected]] = {
    "SOURCES.md": UnsupportedType,
    "ocrmypdf__2400dpi.pdf": 1,
    "ocrmypdf__aspect.pdf": 1,
    "ocrmypdf__baiona_alpha.png": 1,
    "ocrmypdf__baiona_cmyk.jpg": 1,
    "ocrmypdf__cardinal.pdf": 4,
    "ocrmypdf__ccitt.pdf": 1,
    "ocrmypdf__enormous.pdf": 1,
    "ocrmypdf__epson.pdf": 1,
    "ocrmypdf__graph_ocred.pdf": 1,
    "ocrmypdf__hugemono.pdf": 1,
    "ocrmypdf__invalid.pdf": CorruptFile,
    "ocrmypdf__jbig2.pdf": 1,
    "ocrmypdf__kcs.pdf": 1,
    "ocrmypdf__lichtenstein.pdf": 1,
    "ocrmypdf__linn.txt": UnsupportedType,
    "ocrmypdf__multipage.pdf": 6,
    "ocrmypdf__rotated_skew.pdf": 1,
    "ocrmypdf__skew.pdf": 1,
    "ocrmypdf__typewriter.png": 1,
    "paddleocr__00006737.jpg": 1,
    "paddleocr__00015504.jpg": 1,
    "paddleocr__00018069.jpg": 1,
    "paddleocr__00056221.jpg": 1,
    "paddleocr__00057937.jpg": 1,
    "paddleocr__00059985.jpg": 1,
    "paddleocr__00111002.jpg": 1,
    "paddleocr__cmb_demo.jpg": 1,
    "paddleocr__det_180.jpg": 1,
    "paddleocr__doc.jpg": 1,
    "paddleocr__test.jpg": 1,
    "paperless__barcode-fax-image.pdf": 3,
    "paperless__invalid_pdf.pdf": 2,
    "paperless__password-is-test.pdf": EncryptedPdf,
    "paperless__patch-code-t-middle-alpha.tiff": 3,
    "paperless__patch-code-t-middle.pdf": 3,
    "paperless__patch-code-t-qr.pdf": 1,
    "paperless__patch-code-t.pdf": 1,
    "paperless__several-patcht-codes.pdf": 7,
    "paperless__simple.tiff": 1,
    "paperless__split-by-asn-2.pdf": 12,
    "paperless__test_with_bom.pdf": 2,
}
_MiB = 1024  # ru_maxrss is in KiB on Linux


@pytest.mark.integration
def test_every_realworld_file_is_listed(realworld_dir: Path) -> None:
    present = {p.name for p in realworld_dir.iterdir() if p.is_file()}
    assert present == set(REALWORLD_EXPECTED)


@pytest.mark.integration
@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(REALWORLD_EXPECTED))
def test_realworld_file(name: str, realworld_dir: Path, settings: Settings, tmp_path: Path) -> None:
    path = realworld_dir / name
    expected = REALWORLD_EXPECTED[name]
    before = file_sha256(path)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if isinstance(expected, int):
        source, pages = _pages(path, settings, tmp_path / "work")
        assert source.page_count == expected == len(pages)
        assert [p.index for p in pages] == list(range(expected))
        for page in pages:
            assert page.image.dtype == np.uint8 and page.image.ndim in (2, 3)
            assert page.image.ndim == 2 or page.image.shape[2] == 3
            assert 16 <= min(page.image.shape[:2]) and max(page.image.shape[:2]) <= settings.max_side_px
            assert 1 <= page.dpi <= settings.render_dpi_max or source.kind is not FileKind.PDF
    else:
        with pytest.raises(expected) as err:
            _pages(path, settings, tmp_path / "work")
        assert err.value.message and "\n" not in err.value.message
    assert time.perf_counter() - started < 60
    assert file_sha256(path) == before
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / _MiB
    assert grown_mib < 1024  # pdftoppm runs out of process; its own peak was 56 MB on hugemono.pdf


@pytest.mark.parametrize(
    ("mode", "fmt", "options"),
    [
        ("RGB", "BMP", {}),
        ("RGB", "WEBP", {"lossless": True}),
        ("1", "TIFF", {"compression": "group4"}),
        ("I;16", "PNG", {}),
        ("P", "PNG", {"transparency": 0}),
        ("CMYK", "JPEG", {"quality": 95}),
    ],
)
def test_other_modes_and_formats_decode(
    mode: str, fmt: str, options: dict[str, object], tmp_path: Path, settings: Settings
) -> None:
    """Each becomes an 8-bit page whose dark box sits where it was drawn, on a light page."""
    base = _text_page("x", size=(400, 600))
    img = base.convert(mode) if mode not in ("I;16", "P") else base
    if mode == "I;16":
        img = Image.fromarray(np.asarray(base).astype(np.uint16) * 257)
    if mode == "P":
        img = base.convert("P")
        options = {"transparency": 255}  # the white background becomes transparent: flattened to white
    path = tmp_path / f"page.{fmt.lower()}"
    img.save(path, fmt, **options)
    source, (page,) = _pages(path, settings, tmp_path / "w")
    assert source.kind.value == fmt.lower()
    gray = page.image if page.image.ndim == 2 else page.image.mean(axis=2)
    assert page.image.dtype == np.uint8 and page.image.shape[:2] == (600, 400)
    assert gray[10, 10] > 240 and gray[200, 300] < 30


# --- files still being written ----------------------------------------------------


def _keep_growing(path: Path, stop: threading.Event, every: float = 0.05) -> threading.Thread:
    """Append a few bytes to ``path`` every ``every`` seconds until ``stop`` is set (a scanner still writing)."""
    def grow() -> None:
        while not stop.wait(every):
            with path.open("ab") as f:
                f.write(b"\x00" * 64)
    thread = threading.Thread(target=grow, daemon=True)
    thread.start()
    return thread


def test_a_file_still_growing_is_left_for_the_next_run(tmp_path: Path) -> None:
    data = _pdf_bytes(2)
    path = _write(tmp_path / "scanning.pdf", data[: len(data) // 2])
    stop = threading.Event()
    writer = _keep_growing(path, stop)
    try:
        with pytest.raises(StillBeingWritten, match="still being written") as caught:
            preflight(path, Settings(home=tmp_path / "h", settle_seconds=0.5))
    finally:
        stop.set()
        writer.join()
    assert caught.value.retryable and not isinstance(caught.value, InputRejected)
    assert caught.value.code == "still_being_written"


def test_a_fresh_file_is_taken_once_it_settled(tmp_path: Path) -> None:
    path = _write(tmp_path / "fresh.pdf", _pdf_bytes(1))
    start = time.monotonic()
    source = preflight(path, Settings(home=tmp_path / "h", settle_seconds=0.4))
    assert source.page_count == 1 and time.monotonic() - start >= 0.3


def test_an_old_file_is_taken_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path / "old.pdf", _pdf_bytes(1))
    old = time.time() - 3600
    os.utime(path, (old, old))  # ctime still moves: wait for that instead
    time.sleep(0.3)
    start = time.monotonic()
    preflight(path, Settings(home=tmp_path / "h", settle_seconds=0.25))
    assert time.monotonic() - start < 0.25


def test_a_truncated_file_that_changed_while_read_is_source_changed(
        tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _pdf_bytes(2)
    path = _write(tmp_path / "half.pdf", data[: len(data) // 2])
    real = load._preflight_pdf

    def written_meanwhile(p: Path, head: bytes, s: Settings) -> tuple[int, bool]:
        try:
            return real(p, head, s)
        finally:
            with p.open("ab") as f:  # the scanner wrote more while preflight read the first half
                f.write(b"more")

    monkeypatch.setattr(load, "_preflight_pdf", written_meanwhile)
    with pytest.raises(SourceChanged) as caught:
        preflight(path, settings)
    assert not isinstance(caught.value, TruncatedFile) and caught.value.retryable


# --- links, pipes -------------------------------------------------------------------


def test_links_are_refused_without_reading_their_target(tmp_path: Path, settings: Settings) -> None:
    outside = _write(tmp_path / "outside.pdf", _pdf_bytes(1))
    (tmp_path / "out.pdf").symlink_to(outside)
    (tmp_path / "loop.pdf").symlink_to("loop.pdf")
    (tmp_path / "gone.pdf").symlink_to(tmp_path / "nothing.pdf")
    (tmp_path / "folder").symlink_to(tmp_path, target_is_directory=True)
    read_before = outside.stat().st_atime_ns
    expected = {"out.pdf": LinkOutside, "loop.pdf": LinkLoop, "gone.pdf": DanglingLink, "folder": LinkOutside}
    for name, error in expected.items():
        with pytest.raises(error) as caught:
            preflight(tmp_path / name, settings)
        assert isinstance(caught.value, LinkRefused) and isinstance(caught.value, InputRejected)
    assert outside.stat().st_atime_ns == read_before


def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path, settings: Settings) -> None:
    os.mkfifo(tmp_path / "pipe.pdf")
    with pytest.raises(UnsupportedType, match="pipe"):
        preflight(tmp_path / "pipe.pdf", settings)


# --- page bombs, pixel bombs, names ------------------------------------------------------


def test_a_pdf_of_2000_blank_pages_is_refused_before_drawing(tmp_path: Path, settings: Settings) -> None:
    path = _write(tmp_path / "blank.pdf", blank_pdf(2000))
    start = time.monotonic()
    with pytest.raises(TooManyPages, match="2000 pages, above the limit of 500") as caught:
        preflight(path, settings)
    assert caught.value.code == "too_many_pages" and time.monotonic() - start < 10


def test_page_limit_is_a_setting(tmp_path: Path, settings: Settings) -> None:
    path = _write(tmp_path / "three.pdf", _pdf_bytes(3))
    assert preflight(path, settings.model_copy(update={"max_pages": 3})).page_count == 3
    with pytest.raises(TooManyPages):
        preflight(path, settings.model_copy(update={"max_pages": 2}))


def test_a_tiff_with_too_many_frames_is_refused(tmp_path: Path, settings: Settings) -> None:
    frames = [Image.new("1", (8, 8), 1) for _ in range(40)]
    out = io.BytesIO()
    frames[0].save(out, "TIFF", save_all=True, append_images=frames[1:])
    path = _write(tmp_path / "many.tif", out.getvalue())
    assert preflight(path, settings.model_copy(update={"max_pages": 40})).page_count == 40
    with pytest.raises(TooManyPages, match="more than 39 pages"):
        preflight(path, settings.model_copy(update={"max_pages": 39}))


def test_pillow_warnings_never_reach_the_console(tmp_path: Path) -> None:
    """Neither Pillow's DecompressionBombWarning (a 100 MP image is within max_pixels but above Pillow's
    own limit) nor libtiff's complaints about a damaged TIFF are printed."""
    Image.new("1", (10_000, 10_000), 1).save(tmp_path / "big.png")
    pages = [_text_page(f"page {i}") for i in range(2)]
    out = io.BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=pages[1:], compression="tiff_lzw")
    _write(tmp_path / "cut.tif", out.getvalue()[: len(out.getvalue()) // 2])
    code = ("import sys; from pathlib import Path; from ocr.load import preflight; "
            "from schemas.errors import InputRejected; from schemas.settings import Settings\n"
            "for name in ('big.png', 'cut.tif'):\n"
            "    try:\n"
            "        print(preflight(Path(sys.argv[1]) / name, Settings(home=Path(sys.argv[2]), "
            "settle_seconds=0)).page_count)\n"
            "    except InputRejected as e:\n"
            "        print(e.code)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(tmp_path / "h")],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert proc.stdout.split() == ["1", "truncated"], proc.stderr
    assert proc.stderr == ""


def test_source_name_is_masked_and_printable(tmp_path: Path, settings: Settings) -> None:
    path = _write(tmp_path / "王伟_110105199003071234_13800138000\n.pdf", _pdf_bytes(1))
    source = preflight(path, settings)
    assert source.name == "王伟_110105********1234_138****8000\\n.pdf"
    assert source.path == path
