"""Pages drawn for the viewer from originals in memory: same geometry as ingest's, watermark, painted-over boxes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from ocr.preprocess import deskew_matrix, rotate
from schemas.errors import CorruptFile, NotFound
from web.render import (
    PageGeometry,
    Watermark,
    band_height,
    box_fractions,
    crop_box,
    draw_page,
    redact,
    watermarked_png,
)


def _scan(width: int = 850, height: int = 1100) -> Image.Image:
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((100, 100, 300, 160), fill="black")  # a dark mark near the top left
    return page


def _pdf(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PDF", resolution=100)
    return out.getvalue()


def _dark_centre(image: np.ndarray) -> tuple[float, float]:
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ys, xs = np.nonzero(gray < 100)
    return float(xs.mean()) / gray.shape[1], float(ys.mean()) / gray.shape[0]


@pytest.mark.parametrize(("rotation", "skew"), [(0, 0.0), (90, 0.0), (180, 3.0), (270, -2.0)])
def test_a_pdf_page_is_drawn_as_ingest_straightened_it(rotation: int, skew: float) -> None:
    scan = _scan()
    reference = rotate(cv2.cvtColor(np.asarray(scan), cv2.COLOR_RGB2GRAY), rotation)
    if skew:
        matrix, size = deskew_matrix(reference.shape, skew)
        reference = cv2.warpAffine(reference, matrix, size, borderValue=255)
    geometry = PageGeometry(rotation=rotation, skew=skew, width=reference.shape[1], height=reference.shape[0])
    drawn = draw_page(_pdf(scan), "pdf", 0, geometry, side=800)
    assert abs(drawn.shape[1] / drawn.shape[0] - geometry.width / geometry.height) < 0.02
    ref_x, ref_y = _dark_centre(reference)
    x, y = _dark_centre(drawn)
    assert abs(x - ref_x) < 0.02 and abs(y - ref_y) < 0.02  # a box of the reading lands on the same spot


def test_an_image_original_is_drawn_with_its_exif_turn(tmp_path: Path) -> None:
    photo = _scan(600, 400)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    out = io.BytesIO()
    photo.save(out, format="JPEG", exif=exif.tobytes())
    geometry = PageGeometry(rotation=0, skew=0.0, width=400, height=600)
    drawn = draw_page(out.getvalue(), "jpeg", 0, geometry)
    assert drawn.shape[:2] == (600, 400)
    with pytest.raises(NotFound):
        draw_page(out.getvalue(), "jpeg", 1, geometry)
    with pytest.raises(CorruptFile):
        draw_page(b"not an image", "png", 0, geometry)


def test_a_damaged_pdf_is_repaired_in_memory_and_nothing_is_written(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    damaged = b"junk before the header\n" + _pdf(_scan())
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir("/tmp"))
    drawn = draw_page(damaged, "pdf", 0, PageGeometry(0, 0.0, 850, 1100), side=400)
    assert abs(drawn.shape[0] - 400) <= 8  # the resolution is a whole number of dpi
    assert not list(tmp_path.iterdir())
    assert {n for n in set(os.listdir("/tmp")) - before if "pdf" in n.lower() or n.endswith(".png")} == set()


def test_the_watermark_is_burned_in_and_a_band_names_viewer_time_and_purpose() -> None:
    page = np.full((1100, 850, 3), 255, np.uint8)
    png = watermarked_png(page, Watermark(viewer="qiantai", at="2025-01-02 10:00", purpose="业务办理"))
    marked = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)
    assert marked.shape[:2] == (1100 + band_height(850), 850)
    tint = (marked[:1100, :, 0] - marked[:1100, :, 1]) > 25
    assert 0.01 < tint.mean() < 0.5  # readable through, but everywhere
    band = marked[1100:]
    assert ((band[..., 0] > 120) & (band[..., 1] < 90)).sum() > 100


def test_painted_boxes_and_crops_follow_the_page_geometry() -> None:
    geometry = PageGeometry(rotation=0, skew=0.0, width=1700, height=2200)
    page = np.full((1100, 850, 3), 255, np.uint8)  # drawn at half the reading's size
    hidden = redact(page, [(200, 400, 600, 460)], geometry)
    assert (hidden[205:225, 110:290] == 150).all()
    assert (hidden[300:320, 110:290] == 255).all()
    crop = crop_box(page, (200, 400, 600, 460), geometry)
    assert crop.shape[0] < 100 and crop.shape[1] > 200
    left, top, width, height = box_fractions((200, 400, 600, 460), geometry)
    assert (round(left, 3), round(top, 3), round(width, 3), round(height, 3)) == (0.118, 0.182, 0.235, 0.027)
