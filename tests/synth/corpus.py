"""Write a synthetic corpus: degraded scans in mixed formats plus ``truth.jsonl``.

Every document type appears; owner registrations, ID card copies, purchase
contracts and fire-safety agreements get double weight. Documents come in
small household groups (same owner and unit), like a real archive. The same
seed always gives the same files and truth.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from schemas.documents import DocType
from tests.synth import degrade
from tests.synth.render import FontBook, render_document
from tests.synth.templates import SynthDoc, make_document, make_household

TRUTH_FILE = "truth.jsonl"
#: Relative weight of each document type after every type has appeared once.
TYPE_WEIGHTS: dict[DocType, int] = {t: 1 for t in DocType} | {
    DocType.OWNER_REGISTRATION: 2,
    DocType.ID_CARD: 2,
    DocType.PURCHASE_CONTRACT: 2,
    DocType.FIRE_SAFETY_AGREEMENT: 2,
}
#: Single-page formats and their weights.
SINGLE_FORMATS = {"png": 25, "jpeg": 25, "pdf": 20, "tiff": 15, "webp": 7, "bmp": 8}
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "pdf": ".pdf", "tiff": ".tif", "webp": ".webp", "bmp": ".bmp"}


@dataclass(frozen=True)
class CorpusItem:
    """One generated file and its ground truth."""

    file: str
    path: Path
    doc_type: DocType
    pages: int
    fields: dict[str, str]
    degradations: list[str] = field(default_factory=list)
    title: str = ""
    profile: str = "none"
    format: str = "png"
    dpi: int = 200
    household: int = 0

    def truth_line(self) -> dict[str, object]:
        """The JSON object written to truth.jsonl."""
        return {
            "file": self.file,
            "doc_type": self.doc_type.value,
            "pages": self.pages,
            "fields": self.fields,
            "degradations": self.degradations,
            "title": self.title,
            "profile": self.profile,
            "format": self.format,
            "dpi": self.dpi,
            "household": self.household,
        }


@dataclass(frozen=True)
class Plan:
    """How one document is turned into a file."""

    fmt: str
    dpi: int
    profile: str
    steps: list[degrade.Step]
    gray: bool
    bilevel: bool
    quality: int


def doc_types(rng: random.Random, count: int) -> list[DocType]:
    """``count`` types: each type once (when count allows), the rest weighted, shuffled."""
    every = list(DocType)
    rng.shuffle(every)
    chosen = every[:count]
    types, weights = list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values())
    chosen += rng.choices(types, weights=weights, k=max(0, count - len(every)))
    rng.shuffle(chosen)
    return chosen


def plan_file(rng: random.Random, doc: SynthDoc, with_degradation: bool) -> Plan:
    """Choose format, resolution, colour mode and degradations for a document."""
    profile, steps = degrade.plan(rng) if with_degradation else ("none", [])
    multi = len(doc.pages) > 1
    if multi:
        fmt = "pdf" if rng.random() < 0.65 else "tiff"
    elif profile == "phone":
        fmt = rng.choices(["jpeg", "png", "webp", "pdf"], weights=[6, 1, 1, 2])[0]
    else:
        fmt = rng.choices(list(SINGLE_FORMATS), weights=list(SINGLE_FORMATS.values()))[0]
    dpi = rng.choices([200, 240, 300], weights=[4, 2, 3])[0]
    gray = profile != "phone" and (not doc.color or profile == "photocopy" or rng.random() < 0.5)
    if fmt == "bmp":
        dpi, gray = 200, True
    bilevel = fmt == "tiff" and profile in {"clean", "flatbed", "none"} and rng.random() < 0.4
    return Plan(fmt, dpi, profile, steps, gray or bilevel, bilevel, rng.randint(80, 92))


def _page_steps(rng: random.Random, plan: Plan) -> list[degrade.Step]:
    """The document's steps with small per-page jitter, plus a rare page rotation."""
    steps = [
        s if s.name == "phone_photo" else degrade.Step(s.name, min(1.0, max(0.0, s.severity + rng.uniform(-0.1, 0.1))))
        for s in plan.steps
    ]
    if plan.profile != "none":
        turn = degrade.orientation(rng)
        if turn:
            steps.append(turn)
    return steps


def _finish(img: np.ndarray, plan: Plan) -> Image.Image:
    """Convert a degraded array to the file's colour mode."""
    pil = Image.fromarray(img)
    if plan.gray and pil.mode != "L":
        pil = pil.convert("L")
    if plan.bilevel:
        pil = pil.point(lambda v: 255 if v > 150 else 0).convert("1")
    return pil


def save_pages(pages: list[Image.Image], path: Path, fmt: str, dpi: int, quality: int = 88) -> None:
    """Write pages as one file; multi-page only for PDF and TIFF."""
    if fmt == "pdf":
        pages[0].save(path, "PDF", save_all=True, append_images=pages[1:], resolution=float(dpi))
    elif fmt == "tiff":
        compression = "group4" if pages[0].mode == "1" else "tiff_lzw"
        pages[0].save(path, "TIFF", save_all=True, append_images=pages[1:], compression=compression, dpi=(dpi, dpi))
    elif fmt == "jpeg":
        pages[0].save(path, "JPEG", quality=quality, dpi=(dpi, dpi))
    elif fmt == "png":
        pages[0].save(path, "PNG", dpi=(dpi, dpi), compress_level=1)
    elif fmt == "webp":
        pages[0].save(path, "WEBP", quality=quality, method=2)
    else:
        pages[0].save(path, "BMP", dpi=(dpi, dpi))


def _file_name(index: int, plan: Plan) -> str:
    """A drop-folder-like file name that does not reveal the document type."""
    ext = EXTENSIONS[plan.fmt]
    if plan.profile == "phone" and plan.fmt in {"jpeg", "webp", "png"}:
        return f"IMG_{index:04d}{ext}"
    prefix = ("scan_", "扫描件", "doc")[index % 3]
    return f"{prefix}{index:04d}{ext}"


def build_item(
    index: int, doc: SynthDoc, plan: Plan, out_dir: Path, seed: int, fonts: FontBook, household: int
) -> CorpusItem:
    """Render, degrade and save one document."""
    rng = random.Random(f"{seed}:pages:{index}")
    nprng = np.random.default_rng([seed, index])
    images, notes = [], []
    dpi = plan.dpi
    for n, page in enumerate(render_document(doc, plan.dpi, fonts), 1):
        scan, page_notes = degrade.apply(degrade.Scan(np.asarray(page), plan.dpi), _page_steps(rng, plan), nprng)
        dpi = scan.dpi
        images.append(_finish(scan.image, plan))
        notes += [f"p{n} {note}" if len(doc.pages) > 1 else note for note in page_notes]
    name = _file_name(index, plan)
    save_pages(images, out_dir / name, plan.fmt, dpi, plan.quality)
    return CorpusItem(
        name,
        out_dir / name,
        doc.doc_type,
        len(images),
        dict(doc.truth),
        notes,
        doc.title,
        plan.profile,
        plan.fmt,
        dpi,
        household,
    )


def _remove_previous(out_dir: Path) -> None:
    """Delete the files of an earlier corpus in ``out_dir`` (only those its truth.jsonl names)."""
    truth = out_dir / TRUTH_FILE
    if not truth.is_file():
        return
    for line in truth.read_text(encoding="utf-8").splitlines():
        if line.strip():
            name = json.loads(line).get("file", "")
            target = out_dir / Path(name).name
            if name and target.is_file():
                target.unlink()
    truth.unlink()


def generate_corpus(out_dir: Path, count: int, seed: int = 0, *, degrade: bool = True) -> list[CorpusItem]:
    """Write ``count`` synthetic documents and ``truth.jsonl`` into ``out_dir``; deterministic per seed."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_previous(out_dir)
    rng = random.Random(f"corpus:{seed}")
    fonts = FontBook()
    items: list[CorpusItem] = []
    household, left_in_household, hh = -1, 0, None
    for index, doc_type in enumerate(doc_types(rng, count), 1):
        if left_in_household <= 0:
            household += 1
            left_in_household = rng.randint(2, 6)
            hh = make_household(random.Random(f"{seed}:household:{household}"))
        left_in_household -= 1
        doc_rng = random.Random(f"{seed}:doc:{index}")
        doc = make_document(doc_type, doc_rng, hh)
        plan = plan_file(doc_rng, doc, degrade)
        items.append(build_item(index, doc, plan, out_dir, seed, fonts, household))
    lines = [json.dumps(item.truth_line(), ensure_ascii=False) for item in items]
    (out_dir / TRUTH_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return items
