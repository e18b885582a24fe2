"""Scan-like degradations of rendered pages, each a small function with a severity in [0, 1].

Severity ranges (kept so that a human reads every field at a glance and a
good OCR engine such as PP-OCRv4 still reads the values):

=============  ==============================================================
skew           rotation 0.3 deg (sev 0) .. 7 deg (sev 1), random sign; white or grey border
rotate90/180/270  the page turned clockwise by a quarter / half / three quarters (no severity)
blur           gaussian sigma 0.4 .. 1.4 px at 300 dpi (scaled with dpi)
noise          gaussian std 3 .. 15 grey levels + salt-and-pepper 0.03 % .. 0.23 % of pixels
jpeg           JPEG re-encode at quality 60 (sev 0) .. 30 (sev 1)
photocopy      grey: background 245 .. 210, illumination falloff 5 .. 20 %, dark band 1 .. 5 mm at
               one edge, toner speckle 0.01 % .. 0.06 % of pixels
phone_photo    resample to 170 .. 130 dpi, perspective corner shift 1 .. 4 % of the page, table
               around the page, light falloff 8 .. 25 %, warm colour cast, slight blur
low_contrast   ink lifted to grey 45 .. 100, paper lowered to 250 .. 230
=============  ==============================================================

Profiles (``plan``) combine at most three of these per page.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Scan:
    """A page image (uint8 gray HxW or RGB HxWx3) and its resolution."""

    image: np.ndarray
    dpi: int


@dataclass(frozen=True)
class Step:
    """One planned degradation."""

    name: str
    severity: float = 0.0


Degrader = Callable[[Scan, float, np.random.Generator], tuple[Scan, str]]


def _gray(img: np.ndarray) -> np.ndarray:
    """Gray copy of an RGB or gray image."""
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img


def _paper_fill(img: np.ndarray, value: int | tuple[int, int, int]) -> tuple[int, ...]:
    """A border value suited to the image's channel count."""
    if isinstance(value, int):
        value = (value, value, value)
    return tuple(int(v) for v in value) if img.ndim == 3 else (int(value[0]),)


def skew(scan: Scan, sev: float, rng: np.random.Generator) -> tuple[Scan, str]:
    """Rotate by 0.3..7 degrees about the centre; the uncovered corners are white or scanner grey."""
    angle = float((0.3 + 6.7 * sev) * rng.choice([-1, 1]))
    h, w = scan.image.shape[:2]
    grey = rng.random() < 0.4
    border = int(rng.integers(150, 200)) if grey else 255
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    out = cv2.warpAffine(
        scan.image,
        m,
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=_paper_fill(scan.image, border),
    )
    return Scan(out, scan.dpi), f"skew({angle:+.1f}deg{',grey' if grey else ''})"


def _rotator(quarter_turns: int) -> Degrader:
    """A clockwise rotation by ``quarter_turns`` * 90 degrees."""

    def rotate(scan: Scan, sev: float, rng: np.random.Generator) -> tuple[Scan, str]:
        out = np.ascontiguousarray(np.rot90(scan.image, k=-quarter_turns))
        return Scan(out, scan.dpi), f"rotate{90 * quarter_turns}"

    return rotate


def blur(scan: Scan, sev: float, rng: np.random.Generator) -> tuple[Scan, str]:
    """Gaussian blur, sigma 0.4..1.4 px at 300 dpi."""
    sigma = (0.4 + 1.0 * sev) * scan.dpi / 300
    return Scan(cv2.GaussianBlur(scan.image, (0, 0), sigma), scan.dpi), f"blur(sigma={sigma:.2f}px)"


def noise(scan: Scan, sev: float, rng: np.random.Generator) -> tuple[Scan, str]:
    """Gaussian sensor noise plus sparse salt-and-pepper dots."""
    std = 3 + 12 * sev
    img = scan.image
    field = (rng.standard_normal(img.shape[:2], dtype=np.float32) * std).astype(np.int16)
    if img.ndim == 3:
        field = cv2.merge([field, field, field])
    out = cv2.add(img.astype(np.int16), field, dtype=cv2.CV_8U)
    frac = 0.0003 + 0.002 * sev
    n = int(frac * out.shape[0] * out.shape[1])
    ys = rng.integers(0, out.shape[0], n)
    xs = rng.integers(0, out.shape[1], n)
    dots = np.where(rng.random(n) < 0.5, 0, 255).astype(np.uint8)
    out[ys, xs] = dots if out.ndim == 2 else dots[:, None]
    return Scan(out, scan.dpi), f"noise(std={std:.0f},sp={frac * 100:.2f}%)"


def jpeg(scan: Scan, sev: float, rng: np.random.Generator) -> tuple[Scan, str]:
    """Re-encode as JPEG at quality 60..30 (blocking and ringing artefacts)."""
    quality = round(60 - 30 * sev)
    img = scan.image if scan.image.ndim == 2 else cv2.cvtColor(scan.image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return scan, "jpeg(failed)"
    flag = cv2.IMREAD_GRAYSCALE if scan.image.ndim == 2 else cv2.IMREAD_COLOR
    out = cv2.imdecode(buf, flag)
    if out.ndim == 3:
        out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
    return Scan(out, scan.dpi), f"jpeg(q={quality})"


def _gradient(h: int, w: int, falloff: float, rng: np.random.Generator) -> np.ndarray:
    """A multiplicative light field: 1.0 on one side falling to 1 - falloff on the other."""
    theta = rng.uniform(0, 2 * np.pi)
    ys = np.linspace(-0.5, 0.5, 64, dtype=np.float32)[:, None]
    xs = np.linspace(-0.5, 0.5, 64, dtype=np.float32)[None, :]
    ramp = np.cos(theta) * xs + np.sin(theta) * ys
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    small = (1.0 - falloff * ramp).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _shade(img: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Multiply a uint8 image (gray or RGB) by a float light field, saturating."""
    if img.ndim == 3:
        light = cv2.merge([light, light, light])
    return cv2.multiply(img, light, dtype=cv2.CV_8U)


def photocopy(scan: Scan, sev: float, rng: np.random.Generator) -> tuple[Scan, str]:
    """Grey photocopy: darker paper, uneven illumination, a dark edge band, toner speckle."""
    img = _gray(scan.image)
    h, w = img.shape
    paper = 245 - 35 * sev
    img = _shade(img, _gradient(h, w, 0.05 + 0.15 * sev, rng) * np.float32(paper / 255.0))
    band = max(2, int((1 + 4 * sev) * scan.dpi / 25.4 * rng.uniform(0.6, 1.0)))
    edge = int(rng.integers(4))
    shade = np.linspace(0.35, 1.0, band, dtype=np.float32)
    if edge == 0:
        img[:, :band] = (img[:, :band] * shade[None, :]).astype(np.uint8)
    elif edge == 1:
        img[:, w - band :] = (img[:, w - band :] * shade[::-1][None, :]).astype(np.uint8)
    elif edge == 2:
        img[:band, :] = (img[:band, :] * shade[:, None]).astype(np.uint8)
    else:
        img[h - band :, :] = (img[h - band :, :] * shade[::-1][:, None]).astype(np.uint8)
    n = int((0.0001 + 0.0005 * sev) * h * w)
    ys, xs = rng.integers(0, h - 2, n), rng.integers(0, w - 2, n)
    dark = rng.uniform(40, 120, n).astype(np.uint8)
    img[ys, xs] = dark
    img[ys + 1, xs] = dark
    img[ys, xs + 1] = dark
    out = img
    return Scan(out, scan.dpi), f"photocopy(paper={paper:.0f},edge={edge})"


def phone_photo(scan: Scan, sev: float, rng: np.random.Generator) -> tuple[Scan, str]:
    """Phone photo of the page on a table: ~150 dpi, perspective, light falloff, warm cast."""
    img = scan.image if scan.image.ndim == 3 else cv2.cvtColor(scan.image, cv2.COLOR_GRAY2RGB)
    dpi = round(170 - 40 * sev)
    h0, w0 = img.shape[:2]
    w, h = round(w0 * dpi / scan.dpi), round(h0 * dpi / scan.dpi)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    shift = (0.01 + 0.03 * sev) * min(w, h)
    inset = 0.02 * min(w, h)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32(
        [
            [inset + rng.uniform(0, shift), inset + rng.uniform(0, shift)],
            [w - inset - rng.uniform(0, shift), inset + rng.uniform(0, shift)],
            [w - inset - rng.uniform(0, shift), h - inset - rng.uniform(0, shift)],
            [inset + rng.uniform(0, shift), h - inset - rng.uniform(0, shift)],
        ]
    )
    table = tuple(int(v) for v in rng.integers(60, 120, 3))
    m = cv2.getPerspectiveTransform(src, dst)
    img = cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=table)
    light = _gradient(h, w, 0.08 + 0.17 * sev, rng)
    out = cv2.multiply(img, cv2.merge([light, light * 0.97, light * 0.9]), dtype=cv2.CV_8U)
    out = cv2.GaussianBlur(out, (0, 0), 0.5)
    return Scan(out, dpi), f"phone_photo(dpi={dpi},shift={shift / min(w, h) * 100:.1f}%)"


def low_contrast(scan: Scan, sev: float, rng: np.random.Generator) -> tuple[Scan, str]:
    """Faded print: ink lifted towards grey, paper slightly darker."""
    lo, hi = 45 + 55 * sev, 250 - 20 * sev
    out = cv2.convertScaleAbs(scan.image, alpha=(hi - lo) / 255.0, beta=lo)
    return Scan(out, scan.dpi), f"low_contrast(ink>={lo:.0f},paper={hi:.0f})"


#: Every degradation by name.
DEGRADATIONS: dict[str, Degrader] = {
    "skew": skew,
    "rotate90": _rotator(1),
    "rotate180": _rotator(2),
    "rotate270": _rotator(3),
    "blur": blur,
    "noise": noise,
    "jpeg": jpeg,
    "photocopy": photocopy,
    "phone_photo": phone_photo,
    "low_contrast": low_contrast,
}

#: Profile name -> weight; see ``plan``.
PROFILES = {"clean": 1, "flatbed": 4, "photocopy": 4, "phone": 2, "faded": 1}


def plan(rng: random.Random) -> tuple[str, list[Step]]:
    """Pick a realistic profile and its steps (at most three, severities bounded)."""
    profile = rng.choices(list(PROFILES), weights=list(PROFILES.values()))[0]
    u = rng.uniform
    steps: list[Step]
    if profile == "clean":
        steps = [Step("noise", u(0.0, 0.2))] if rng.random() < 0.5 else []
    elif profile == "flatbed":
        steps = [Step("skew", u(0.0, 0.8)), Step("noise", u(0.0, 0.5))]
        if rng.random() < 0.4:
            steps.append(Step("blur", u(0.0, 0.6)))
    elif profile == "photocopy":
        steps = [Step("photocopy", u(0.2, 1.0)), Step("skew", u(0.0, 1.0))]
        if rng.random() < 0.4:
            steps.append(Step("jpeg", u(0.0, 0.8)))
    elif profile == "phone":
        steps = [Step("phone_photo", u(0.1, 1.0)), Step("jpeg", u(0.0, 0.7))]
    else:
        steps = [Step("low_contrast", u(0.2, 1.0)), Step("blur", u(0.0, 0.5))]
    return profile, steps


def orientation(rng: random.Random) -> Step | None:
    """Rarely, a page fed upside down or sideways."""
    r = rng.random()
    if r < 0.06:
        return Step("rotate180")
    if r < 0.09:
        return Step("rotate90")
    if r < 0.12:
        return Step("rotate270")
    return None


def apply(scan: Scan, steps: list[Step], rng: np.random.Generator) -> tuple[Scan, list[str]]:
    """Apply ``steps`` in order; return the degraded scan and a description of each step."""
    notes = []
    for step in steps:
        scan, note = DEGRADATIONS[step.name](scan, step.severity, rng)
        notes.append(note)
    return scan, notes
