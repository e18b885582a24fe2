"""Broken and hostile drop-folder inputs for the fuzz tests, generated at test time (never committed).

``write_fuzz_set`` fills a drop folder with one file per case: truncated and
bit-flipped PDF/TIFF/JPEG/PNG, headers claiming huge dimensions, page bombs
(thousands of PDF pages, hundreds of TIFF frames, a TIFF whose pages loop),
PDFs with JavaScript or form fields, zero-byte files, hostile names (newline,
very long, leading dash, Unicode tricks, bytes that are not UTF-8, Rich
markup, ID numbers and phones), links (loop, dangling, to a file or folder
outside the drop folder) and a named pipe. Each case says which outcomes are
acceptable: ``stored`` or specific quarantine codes; ``None`` allows any
outcome but ``internal_error``.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct
import subprocess
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pikepdf
from PIL import Image, ImageDraw, ImageFont

from tests import e2e

#: ID numbers and phones written into file names; none may appear in full anywhere dangan writes or prints.
NAME_SECRETS = ("110105199003071234", "13800138000", "11010519900307123X", "13912345678")
ID_NAME = f"王伟_{NAME_SECRETS[0]}_{NAME_SECRETS[1]}.png"
ID_NAME_EMPTY = f"李娜_{NAME_SECRETS[2]}_{NAME_SECRETS[3]}.pdf"

STORED = frozenset({"stored"})


@dataclass(frozen=True)
class FuzzCase:
    """One generated input and the outcomes it may end with."""

    path: Path
    #: The class of bad input it belongs to (the numbers are reported per family).
    family: str
    #: ``stored`` or quarantine codes it may end with; None: anything but internal_error.
    expect: frozenset[str] | None


# --- valid pages ------------------------------------------------------------------------


@cache
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from tests.synth.render import FontBook, FontsMissing

    try:
        return FontBook().get("sans", False, px)[0]
    except FontsMissing:
        return ImageFont.load_default()


def scan_page(label: str, size: tuple[int, int] = (1000, 700)) -> Image.Image:
    """A small white page with a few printed lines; ``label`` makes its bytes unique."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    for row, text in enumerate(("业主入住登记表", f"编号 {label}", "3 栋 2 单元 1201 室")):
        draw.text((80, 80 + row * 120), text, fill=0, font=_font(48))
    return page


def pdf_bytes(pages: list[Image.Image]) -> bytes:
    """Pages as an image-only PDF at 150 dpi."""
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=150)
    return out.getvalue()


def tiff_bytes(pages: list[Image.Image], compression: str = "tiff_lzw") -> bytes:
    """Pages as a multi-page TIFF."""
    out = io.BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=pages[1:], compression=compression, dpi=(150, 150))
    return out.getvalue()


def image_bytes(page: Image.Image, fmt: str) -> bytes:
    """One page as JPEG or PNG."""
    out = io.BytesIO()
    page.save(out, fmt, dpi=(150, 150), **({"quality": 85} if fmt == "JPEG" else {}))
    return out.getvalue()


# --- broken bytes -----------------------------------------------------------------------------


def bit_flips(data: bytes, rng: random.Random, flips: int) -> bytes:
    """``data`` with ``flips`` random bits flipped after its first 32 bytes (the type stays recognisable)."""
    out = bytearray(data)
    for _ in range(flips):
        pos = rng.randrange(32, len(out))
        out[pos] ^= 1 << rng.randrange(8)
    return bytes(out)


def huge_jpeg(width: int, height: int) -> bytes:
    """A small JPEG whose frame header is patched to claim ``width`` x ``height``."""
    data = bytearray(image_bytes(scan_page("huge"), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def huge_tiff(width: int, height: int) -> bytes:
    """An uncompressed 1-bit TIFF claiming ``width`` x ``height`` with one short strip."""
    strip = b"\xff" * 64
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 1), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 0), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, len(strip))]
    ifd_at = 8
    data_at = ifd_at + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = data_at if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    return b"II*\x00" + struct.pack("<I", ifd_at) + ifd + struct.pack("<I", 0) + strip


def looping_tiff() -> bytes:
    """A two-page TIFF whose second page points back to the first: the page chain never ends."""
    data = bytearray(tiff_bytes([scan_page("loop-1"), scan_page("loop-2")]))
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first:first + 2])[0]
    second_at = first + 2 + 12 * count
    second = struct.unpack("<I", data[second_at:second_at + 4])[0]
    count2 = struct.unpack("<H", data[second:second + 2])[0]
    end = second + 2 + 12 * count2
    data[end:end + 4] = struct.pack("<I", first)
    return bytes(data)


def blank_pdf(pages: int, size: tuple[float, float] = (595, 842)) -> bytes:
    """A PDF of ``pages`` blank pages (all sharing nothing but their size)."""
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=size)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def many_frame_tiff(frames: int) -> bytes:
    """A TIFF of ``frames`` tiny pages."""
    tiny = [Image.new("1", (8, 8), 1) for _ in range(frames)]
    return tiff_bytes(tiny, compression="group4")


def pdf_with_javascript(label: str) -> bytes:
    """A scanned page whose PDF runs JavaScript when opened (it must never be run)."""
    with pikepdf.open(io.BytesIO(pdf_bytes([scan_page(label)]))) as pdf:
        action = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String(
            "app.alert('x'); this.exportDataObject({cName: 'a', nLaunch: 2});")))
        pdf.Root.OpenAction = action
        pdf.Root.Names = pikepdf.Dictionary(JavaScript=pikepdf.Dictionary(Names=pikepdf.Array(
            [pikepdf.String("run"), action])))
        pdf.pages[0].obj.AA = pikepdf.Dictionary(O=action)
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


def pdf_with_form(label: str) -> bytes:
    """A scanned page carrying an interactive form field (AcroForm) with a value of its own."""
    with pikepdf.open(io.BytesIO(pdf_bytes([scan_page(label)]))) as pdf:
        field = pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Widget, FT=pikepdf.Name.Tx,
            T=pikepdf.String("owner"), V=pikepdf.String("field value"), Rect=pikepdf.Array([50, 50, 300, 80]),
            P=pdf.pages[0].obj, F=4))
        pdf.pages[0].obj.Annots = pikepdf.Array([field])
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array([field]), NeedAppearances=True)
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


# --- the set ------------------------------------------------------------------------------------


def write_fuzz_set(inbox: Path, outside: Path, *, large: bool = False, seed: int = 7) -> list[FuzzCase]:
    """Write the fuzz set into ``inbox``; links point into ``outside`` (which the caller checksums)."""
    inbox.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    cases: list[FuzzCase] = []

    def add(name: str | bytes, data: bytes, family: str, expect: frozenset[str] | None) -> None:
        path = Path(os.fsdecode(os.path.join(os.fsencode(inbox), os.fsencode(name))))
        path.write_bytes(data)
        cases.append(FuzzCase(path, family, expect))

    originals = {
        "pdf": pdf_bytes([scan_page("p1"), scan_page("p2")]),
        "tif": tiff_bytes([scan_page("t1"), scan_page("t2")]),
        "jpg": image_bytes(scan_page("j1"), "JPEG"),
        "png": image_bytes(scan_page("n1"), "PNG"),
    }
    cuts = (0.1, 0.3, 0.5, 0.8, 0.97) if large else (0.5,)
    for ext, data in originals.items():
        for cut in cuts:
            add(f"cut_{int(cut * 100)}.{ext}", data[: int(len(data) * cut)], "truncated",
                frozenset({"truncated", "corrupt"}))
    for ext, data in originals.items():
        for flips in (1, 4, 16, 64, 256, 1024) if large else (16,):
            for k in range(6 if large else 1):
                add(f"flip_{flips}_{k}.{ext}", bit_flips(data, rng, flips), "bit_flip", None)
        if not large:
            continue
        add(f"zero.{ext}", b"", "zero_bytes", frozenset({"empty_file"}))

    too_large = frozenset({"image_too_large"})
    e2e.huge_png(inbox / "huge.png", 30_000, 30_000)
    cases.append(FuzzCase(inbox / "huge.png", "huge_dimensions", too_large))
    add("huge.jpg", huge_jpeg(60_000, 60_000), "huge_dimensions", too_large)
    add("huge.tif", huge_tiff(100_000, 100_000), "huge_dimensions", too_large)
    add("huge_page.pdf", blank_pdf(1, (14_400, 14_400)), "huge_dimensions", None)
    if large:
        e2e.huge_png(inbox / "wide.png", 200_000, 1)
        cases.append(FuzzCase(inbox / "wide.png", "huge_dimensions", None))
        add("tall.tif", huge_tiff(1, 2_000_000), "huge_dimensions", None)

    too_many = frozenset({"too_many_pages"})
    add("pages_2000.pdf", blank_pdf(2000), "page_bomb", too_many)
    add("frames_600.tif", many_frame_tiff(600), "page_bomb", too_many)
    add("pages_loop.tif", looping_tiff(), "page_bomb", None)
    if large:
        add("pages_20000.pdf", blank_pdf(20_000), "page_bomb", too_many)
        add("frames_5000.tif", many_frame_tiff(5000), "page_bomb", too_many)

    add("javascript.pdf", pdf_with_javascript("js"), "active_pdf", STORED)
    add("form.pdf", pdf_with_form("form"), "active_pdf", STORED)

    add("empty.pdf", b"", "zero_bytes", frozenset({"empty_file"}))
    add(ID_NAME_EMPTY, b"", "hostile_name", frozenset({"empty_file"}))
    hostile: list[str | bytes] = [
        "line\nbreak.png", "-rf --help.png", "档案" * 40 + ".png", "emoji 😀 \u202egnp.exe.png",
        ID_NAME, "[bold red]x[blink].png", b"not utf8 \xff\xfe.png", "tab\tcarriage\rreturn\x1b[2J.png",
    ]
    for k, name in enumerate(hostile):
        add(name, image_bytes(scan_page(f"name-{k}"), "PNG"), "hostile_name", STORED)

    _write_links(inbox, outside, cases)
    os.mkfifo(inbox / "pipe.pdf")
    cases.append(FuzzCase(inbox / "pipe.pdf", "special_file", frozenset({"unsupported_type"})))
    return cases


def _write_links(inbox: Path, outside: Path, cases: list[FuzzCase]) -> None:
    """Links out of the drop folder, a loop and a dangling one; ``outside`` gets real scans to be tempted by."""
    (outside / "folder").mkdir(parents=True, exist_ok=True)
    (outside / "secret.pdf").write_bytes(pdf_bytes([scan_page("outside")]))
    (outside / "folder" / "other.png").write_bytes(image_bytes(scan_page("outside-2"), "PNG"))
    links = {
        "link_loop.pdf": ("link_loop.pdf", "link_loop"),
        "link_dangling.pdf": (str(outside / "missing.pdf"), "dangling_link"),
        "link_outside.pdf": (os.path.relpath(outside / "secret.pdf", inbox), "link_outside"),
        "link_folder": (str(outside / "folder"), "link_outside"),
    }
    for name, (target, code) in links.items():
        (inbox / name).symlink_to(target)
        cases.append(FuzzCase(inbox / name, "link", frozenset({code})))


# --- measuring a run --------------------------------------------------------------------------


@dataclass(frozen=True)
class MeasuredRun:
    """Exit code, output and peak memory (the largest resident set of the process and its children)."""

    code: int
    stdout: str
    stderr: str
    peak_rss_mb: float
    seconds: float


def run_measured(args: list[str], env: dict[str, str], work: Path, *, timeout: float) -> MeasuredRun:
    """Run ``dangan ARGS``; returns its output and peak RSS (from wait4). Killed after ``timeout`` s."""
    full_env = {**os.environ, **env}
    full_env.pop("PREFECT_API_URL", None)
    make_key = getattr(e2e, "ensure_master_key", None)  # a new archive's key, as `dangan keys init` makes it
    if args[:1] == ["ingest"] and make_key is not None:
        make_key(full_env)
    out, err = work / "stdout.txt", work / "stderr.txt"
    start = time.monotonic()
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen([str(e2e.DANGAN), *args], env=full_env, stdout=o, stderr=e)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    return MeasuredRun(proc.returncode, out.read_text("utf-8", "replace"), err.read_text("utf-8", "replace"),
                       usage.ru_maxrss / 1024, time.monotonic() - start)


def tree_state(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry below ``root`` (links not followed): kind, size, times and content hash."""
    state: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            if path.is_symlink():
                state[str(path.relative_to(root))] = ("link", os.readlink(path))
            elif path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                state[str(path.relative_to(root))] = ("file", info.st_size, info.st_mtime_ns, info.st_mode, digest)
            else:
                state[str(path.relative_to(root))] = ("other", info.st_mode, info.st_mtime_ns)
    return state


#: Access time given to files that must never be read (reading one moves it on a relatime mount).
UNREAD_ATIME = 1_000_000


def arm_atimes(root: Path) -> None:
    """Set an old access time on every file below ``root``; any read afterwards shows in :func:`files_read`."""
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.utime(path, ns=(UNREAD_ATIME * 10**9, path.stat().st_mtime_ns))


def files_read(root: Path) -> list[str]:
    """Files below ``root`` read since :func:`arm_atimes` (empty on a mount that keeps no access times)."""
    return sorted(str(p) for p in root.rglob("*")
                  if p.is_file() and not p.is_symlink() and p.stat().st_atime_ns != UNREAD_ATIME * 10**9)
