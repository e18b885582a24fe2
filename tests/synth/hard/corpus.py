"""Write a hard corpus: whole owner folders in one file plus single documents, with per-document truth.

``generate_hard_corpus(out_dir, count, seed)`` plans every file in this process
(layouts, marks, scan profile, blank pages; all seeded per file), renders the
files in worker processes, and writes ``truth.jsonl`` (one line per document)
and ``files.jsonl`` (one line per file). The same seed gives the same bytes,
whatever the number of workers.
"""

from __future__ import annotations

import json
import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from schemas.documents import DocType
from tests.synth.hard.common import HardHousehold, make_hard_household
from tests.synth.hard.layouts import make_hard_document
from tests.synth.hard.marks import NUMBERER_INKS, Crease, PageStamp, PunchHoles, Staple
from tests.synth.hard.scan import Profile, blank_back, paint, plan_profile, save_file, scan_page
from tests.synth.hard.sheet import CONDITIONS, HardDoc, HardPage, page_field_conditions
from tests.synth.render import FontBook

TRUTH_FILE = "truth.jsonl"
FILES_FILE = "files.jsonl"
EXTENSIONS = {"pdf": ".pdf", "tiff": ".tif", "png": ".png", "jpeg": ".jpg"}
#: Document types of single-document files and their weights.
SINGLE_WEIGHTS: dict[DocType, float] = {
    DocType.ID_CARD: 3,
    DocType.PURCHASE_CONTRACT: 2,
    DocType.LEASE_CONTRACT: 2,
    DocType.OWNER_REGISTRATION: 2,
    DocType.HANDOVER_FORM: 2,
    DocType.RENOVATION_APPLICATION: 1,
    DocType.MOVE_IN_NOTICE: 1.2,
    DocType.FIRE_SAFETY_AGREEMENT: 1,
    DocType.COMMITMENT_LETTER: 1,
    DocType.POWER_OF_ATTORNEY: 2,
}
#: Letter-like documents that are often folded for posting or handing out.
FOLDED_TYPES = {
    DocType.MOVE_IN_NOTICE,
    DocType.FIRE_SAFETY_AGREEMENT,
    DocType.COMMITMENT_LETTER,
    DocType.POWER_OF_ATTORNEY,
}


@dataclass(frozen=True)
class HardItem:
    """One document of the hard corpus: where it is and its truth."""

    file: str
    path: Path
    first_page: int
    page_indices: tuple[int, ...]
    doc_type: DocType
    fields: dict[str, str]
    flags: dict[str, str]
    conditions: tuple[str, ...]
    field_conditions: dict[str, list[str]]
    layout: str
    holdout: bool
    profile: str
    format: str
    dpi: int
    household: int

    @property
    def pages(self) -> int:
        """Number of non-blank pages of the document."""
        return len(self.page_indices)

    def truth_line(self) -> dict[str, object]:
        """The JSON object written to truth.jsonl."""
        return {
            "file": self.file,
            "first_page": self.first_page,
            "page_indices": list(self.page_indices),
            "pages": self.pages,
            "doc_type": self.doc_type.value,
            "fields": self.fields,
            "flags": self.flags,
            "conditions": list(self.conditions),
            "field_conditions": self.field_conditions,
            "layout": self.layout,
            "holdout": self.holdout,
            "profile": self.profile,
            "format": self.format,
            "dpi": self.dpi,
            "household": self.household,
        }


@dataclass
class FilePlan:
    """A file to render: its page sequence (a document page, or None for a blank back) and scan settings."""

    index: int
    name: str
    fmt: str
    profile: Profile
    quality: int
    folder: bool
    docs: list[tuple[HardDoc, int]] = field(default_factory=list)  # (document, household)
    sequence: list[tuple[int, int] | None] = field(default_factory=list)  # (doc index, page index) or blank
    marks: dict[tuple[int, int], list] = field(default_factory=dict)
    mark_conds: dict[tuple[int, int], set[str]] = field(default_factory=dict)

    def page(self, key: tuple[int, int]) -> HardPage:
        """A document page with this file's marks added."""
        doc, _ = self.docs[key[0]]
        p = doc.pages[key[1]]
        extra = self.marks.get(key, [])
        return HardPage((*p.items, *extra), p.spots, p.conditions | self.mark_conds.get(key, set()))


# ------------------------------------------------------------------ planning


def folder_documents(rng: random.Random, hhh: HardHousehold) -> list[tuple[DocType, object]]:
    """One household's documents in archive order: some missing, the order varying a little."""
    o = hhh.owner
    plan: list[tuple[DocType, object]] = [(DocType.OWNER_REGISTRATION, None), (DocType.ID_CARD, o)]
    if hhh.co_owner is not None:
        plan.append((DocType.ID_CARD, hhh.co_owner))
    plan += [
        (DocType.PURCHASE_CONTRACT, None),
        (DocType.MOVE_IN_NOTICE, None),
        (DocType.HANDOVER_FORM, None),
        (DocType.FIRE_SAFETY_AGREEMENT, None),
        (DocType.COMMITMENT_LETTER, None),
    ]
    if rng.random() < 0.5:
        plan.append((DocType.RENOVATION_APPLICATION, None))
    if hhh.agent is not None:
        plan.insert(rng.randint(3, len(plan)), (DocType.POWER_OF_ATTORNEY, None))
    if hhh.lease is not None:
        plan += [(DocType.LEASE_CONTRACT, None), (DocType.ID_CARD, hhh.lease.tenant)]
    if rng.random() < 0.25:
        plan.insert(rng.randint(1, len(plan)), (DocType.OTHER, None))
    kept = [d for i, d in enumerate(plan) if rng.random() > (0.05 if i < 2 else 0.13)]
    for i in range(len(kept) - 1):
        if rng.random() < 0.15:
            kept[i], kept[i + 1] = kept[i + 1], kept[i]
    return kept or plan[:1]


def _name(index: int, fmt: str, profile: Profile) -> str:
    """A drop-folder file name that reveals neither type nor owner."""
    ext = EXTENSIONS[fmt]
    if profile.name == "phone" and fmt in {"jpeg", "png"}:
        return f"IMG_{20240000 + index * 7:08d}{ext}"
    prefix = ("scan_", "扫描件", "SCAN")[index % 3]
    return f"{prefix}{index:04d}{ext}"


def _folder_format(rng: random.Random, profile: Profile) -> str:
    """PDF mostly, TIFF sometimes (faxes mostly TIFF)."""
    if profile.name == "fax":
        return "tiff" if rng.random() < 0.7 else "pdf"
    return "pdf" if rng.random() < 0.75 else "tiff"


def _single_format(rng: random.Random, profile: Profile, pages: int) -> str:
    """Multi-page: PDF or TIFF; one page: any of the usual formats."""
    if pages > 1 or profile.name == "fax":
        return _folder_format(rng, profile)
    if profile.name == "phone":
        return rng.choices(["jpeg", "png", "pdf"], weights=[6, 1, 2])[0]
    return rng.choices(["png", "jpeg", "pdf", "tiff"], weights=[3, 3, 3, 2])[0]


def _add_marks(rng: random.Random, plan: FilePlan, *, folder: bool) -> None:
    """Punch holes, staples, folds and page-number stamps, as a cabinet collects them."""
    keys = [k for k in plan.sequence if k is not None]

    def add(key: tuple[int, int], mark: object, cond: str) -> None:
        plan.marks.setdefault(key, []).append(mark)
        plan.mark_conds.setdefault(key, set()).add(cond)

    if rng.random() < (0.55 if folder else 0.2):
        edge = "left" if rng.random() < 0.85 else "top"
        count = 2 if rng.random() < 0.8 else 4
        dark = rng.random() < 0.6
        for k in keys:
            add(k, PunchHoles(edge, count, rng.randrange(1 << 30), dark), "punch_holes")
    for di, (doc, _) in enumerate(plan.docs):
        if rng.random() < (0.25 if folder else 0.2) and doc.pages:
            x, y = rng.uniform(7, 16), rng.uniform(7, 16)
            add((di, 0), Staple(x, y, rng.uniform(-60, -20), rng.randrange(1 << 30), rng.random() < 0.3), "staple")
        if rng.random() < (0.35 if doc.doc_type in FOLDED_TYPES else 0.08):
            for pi in range(len(doc.pages)):
                for y in rng.choice(((99.0, 198.0), (148.5,), (99.0,))):
                    y0 = y + rng.uniform(-4, 4)
                    crease = Crease(-5, y0, 215, y0 + rng.uniform(-3, 3), rng.randrange(1 << 30), rng.uniform(0.3, 0.9))
                    add((di, pi), crease, "crease")
    if rng.random() < (0.45 if folder else 0.15):
        boxed = rng.random() < 0.35
        number = rng.randint(1, 900)
        ink = rng.choice(NUMBERER_INKS)
        corner = rng.choice(((186.0, 12.0), (186.0, 286.0), (24.0, 286.0)))
        for i, k in enumerate(keys):
            text = f"第 {i + 1} 页" if boxed else f"{number + i:06d}"
            x, y = corner[0] + rng.uniform(-3, 3), corner[1] + rng.uniform(-2, 2)
            add(k, PageStamp(x, y, text, rng.randrange(1 << 30), boxed, ink), "page_stamp")


def _blanks(rng: random.Random, plan: FilePlan, rate: float) -> None:
    """Insert duplex backs after some pages."""
    out: list[tuple[int, int] | None] = []
    for k in plan.sequence:
        out.append(k)
        if k is not None and rng.random() < rate:
            out.append(None)
    plan.sequence = out


def plan_folder(index: int, seed: int, household: int, holdout: bool) -> FilePlan:
    """A whole owner folder scanned into one file."""
    rng = random.Random(f"hard:{seed}:folder:{index}")
    hhh = make_hard_household(random.Random(f"hard:{seed}:household:{household}"))
    profile = plan_profile(rng, multi_page=True, weights={"flatbed": 4, "lowres": 3, "photocopy": 2.5, "fax": 1})
    fmt = _folder_format(rng, profile)
    plan = FilePlan(index, _name(index, fmt, profile), fmt, profile, rng.randint(60, 82), True)
    for di, (doc_type, subject) in enumerate(folder_documents(rng, hhh)):
        doc_rng = random.Random(f"hard:{seed}:folder:{index}:doc:{di}")
        doc = make_hard_document(doc_type, doc_rng, hhh, holdout=holdout, subject=subject)  # type: ignore[arg-type]
        plan.docs.append((doc, household))
        plan.sequence += [(di, pi) for pi in range(len(doc.pages))]
    _blanks(rng, plan, rng.choice((0.0, 0.08, 0.15, 0.3)))
    _add_marks(rng, plan, folder=True)
    return plan


def plan_single(index: int, seed: int, household: int, holdout: bool, doc_type: DocType) -> FilePlan:
    """One document in its own file."""
    rng = random.Random(f"hard:{seed}:single:{index}")
    hhh = make_hard_household(
        random.Random(f"hard:{seed}:household:{household}"),
        lease=True if doc_type == DocType.LEASE_CONTRACT else None,
        agent=True if doc_type == DocType.POWER_OF_ATTORNEY else None,
    )
    subject = None
    if doc_type == DocType.ID_CARD and rng.random() < 0.3:
        subject = hhh.co_owner or (hhh.lease.tenant if hhh.lease else None)
    doc = make_hard_document(
        doc_type, random.Random(f"hard:{seed}:single:{index}:doc"), hhh, holdout=holdout, subject=subject
    )
    profile = plan_profile(rng, multi_page=len(doc.pages) > 1)
    fmt = _single_format(rng, profile, len(doc.pages))
    plan = FilePlan(index, _name(index, fmt, profile), fmt, profile, rng.randint(62, 88), False)
    plan.docs.append((doc, household))
    plan.sequence = [(0, pi) for pi in range(len(doc.pages))]
    if len(doc.pages) > 1:
        _blanks(rng, plan, rng.choice((0.0, 0.0, 0.2)))
    _add_marks(rng, plan, folder=False)
    return plan


def single_types(rng: random.Random, n: int) -> list[DocType]:
    """``n`` document types: each type once when n allows, the rest weighted."""
    every = list(SINGLE_WEIGHTS)
    rng.shuffle(every)
    chosen = every[:n]
    chosen += rng.choices(every, weights=[SINGLE_WEIGHTS[t] for t in every], k=max(0, n - len(every)))
    rng.shuffle(chosen)
    return chosen


# ------------------------------------------------------------------ rendering (worker side)


@dataclass(frozen=True)
class Rendered:
    """What the worker reports for one file: per sequence entry, the scan conditions; and the resolution."""

    conditions: list[set[str]]
    dpi: tuple[int, int]


def render_file(plan: FilePlan, out_dir: Path, seed: int) -> Rendered:
    """Paint, scan and save one file."""
    fonts = FontBook()
    rng = random.Random(f"hard:{seed}:scan:{plan.index}")
    nprng = np.random.default_rng([seed, plan.index, 99])
    images, conds = [], []
    prev: np.ndarray | None = None
    dpi = plan.profile.dpi
    for key in plan.sequence:
        if key is None:
            shape = prev.shape[:2] if prev is not None else (round(297 * dpi / 25.4), round(210 * dpi / 25.4))
            gray = blank_back(prev, shape, nprng)
            rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
        else:
            rgb = paint(plan.page(key), plan.profile.dpi, fonts)
            prev = rgb
        img, dpi, page_conds, _ = scan_page(rgb, plan.profile, rng, nprng)
        images.append(img)
        conds.append(page_conds)
    ydpi = plan.profile.ydpi if plan.profile.name == "fax" else dpi
    save_file(images, out_dir / plan.name, plan.fmt, (dpi, ydpi), plan.quality)
    return Rendered(conds, (dpi, ydpi))


def _render_job(args: tuple[FilePlan, Path, int]) -> Rendered:
    """Process-pool entry point."""
    return render_file(*args)


# ------------------------------------------------------------------ truth


def document_items(plan: FilePlan, out_dir: Path, rendered: Rendered) -> list[HardItem]:
    """Truth of every document in a rendered file."""
    items = []
    blank_at = {i for i, k in enumerate(plan.sequence) if k is None}
    for di, (doc, household) in enumerate(plan.docs):
        positions = [i for i, k in enumerate(plan.sequence) if k is not None and k[0] == di]
        primary: dict[str, set[str]] = {}
        secondary: dict[str, set[str]] = {}
        doc_conds = set(doc.conditions)
        for pos in positions:
            key = plan.sequence[pos]
            assert key is not None
            page = plan.page(key)
            page = HardPage(page.items, page.spots, page.conditions | rendered.conditions[pos])
            doc_conds |= page.conditions
            for found, first in ((primary, True), (secondary, False)):
                for f, cs in page_field_conditions(page, primary=first).items():
                    found.setdefault(f, set()).update(cs)
            doc_conds |= {c for sp in page.spots for c in sp.conditions}
        # A field's conditions are those of the places it is printed; a signature counts only when the
        # name is nowhere else.
        field_conds = {f: set(primary.get(f, secondary.get(f, set()))) for f in doc.fields}
        for cs in field_conds.values():
            doc_conds |= cs
        for f, extra in doc.field_extra.items():
            if f in field_conds:
                field_conds[f] |= extra
                doc_conds |= extra
        if plan.folder:
            doc_conds.add("folder")
        if any(p + 1 in blank_at for p in positions):
            doc_conds.add("blank_pages")
        items.append(
            HardItem(
                file=plan.name,
                path=out_dir / plan.name,
                first_page=positions[0],
                page_indices=tuple(positions),
                doc_type=doc.doc_type,
                fields=dict(doc.fields),
                flags=dict(doc.flags),
                conditions=tuple(c for c in CONDITIONS if c in doc_conds),
                field_conditions={f: [c for c in CONDITIONS if c in cs] for f, cs in field_conds.items()},
                layout=doc.layout,
                holdout=doc.holdout,
                profile=plan.profile.name + (f"-{plan.profile.fax}" if plan.profile.fax else ""),
                format=plan.fmt,
                dpi=rendered.dpi[0],
                household=household,
            )
        )
    return items


def file_line(plan: FilePlan, items: list[HardItem]) -> dict[str, object]:
    """The JSON object written to files.jsonl."""
    blanks = [i for i, k in enumerate(plan.sequence) if k is None]
    conds = {c for it in items for c in it.conditions}
    if blanks:
        conds.add("blank_pages")
    return {
        "file": plan.name,
        "pages": len(plan.sequence),
        "blank_pages": blanks,
        "documents": len(items),
        "conditions": [c for c in CONDITIONS if c in conds],
    }


def _remove_previous(out_dir: Path) -> None:
    """Delete the files of an earlier hard corpus in ``out_dir`` (only those its files.jsonl names)."""
    listing = out_dir / FILES_FILE
    if listing.is_file():
        for line in listing.read_text(encoding="utf-8").splitlines():
            name = json.loads(line).get("file", "") if line.strip() else ""
            target = out_dir / Path(name).name
            if name and target.is_file():
                target.unlink()
    for f in (listing, out_dir / TRUTH_FILE):
        if f.is_file():
            f.unlink()


def generate_hard_corpus(
    out_dir: Path,
    count: int = 200,
    seed: int = 0,
    *,
    folders: int | None = None,
    holdout: bool = False,
    workers: int | None = None,
) -> list[HardItem]:
    """Write about ``count`` documents (``folders`` whole-folder files, the rest single files) into ``out_dir``.

    Also writes ``truth.jsonl`` (one line per document) and ``files.jsonl``
    (one line per file). ``holdout=True`` lays every document out in its
    type's held-out layout and writes with held-out hands. Deterministic per
    seed; ``workers`` processes render (default: up to 2).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_previous(out_dir)
    n_folders = folders if folders is not None else max(count // 10, 20 if count >= 200 else 1)
    plans: list[FilePlan] = []
    household = 0
    n_docs = 0
    for _ in range(n_folders):
        plan = plan_folder(len(plans) + 1, seed, household, holdout)
        plans.append(plan)
        household += 1
        n_docs += len(plan.docs)
    rng = random.Random(f"hard:{seed}:singles")
    for doc_type in single_types(rng, max(0, count - n_docs)):
        plans.append(plan_single(len(plans) + 1, seed, household, holdout, doc_type))
        household += 1
    jobs = [(p, out_dir, seed) for p in plans]
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    if n_workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            results = list(pool.map(_render_job, jobs))
    else:
        results = [_render_job(j) for j in jobs]
    items: list[HardItem] = []
    files = []
    for plan, rendered in zip(plans, results, strict=True):
        doc_items = document_items(plan, out_dir, rendered)
        items += doc_items
        files.append(file_line(plan, doc_items))
    (out_dir / TRUTH_FILE).write_text(
        "".join(json.dumps(i.truth_line(), ensure_ascii=False) + "\n" for i in items), encoding="utf-8"
    )
    (out_dir / FILES_FILE).write_text(
        "".join(json.dumps(f, ensure_ascii=False) + "\n" for f in files), encoding="utf-8"
    )
    return items
