"""Every hard layout by document type; one per type is held out for benchmarks (``holdout=True``)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from schemas.documents import DocType
from tests.synth.fake import Person
from tests.synth.hard import contracts, forms, idcards, letters
from tests.synth.hard.common import Ctx, HardHousehold, make_ctx
from tests.synth.hard.sheet import HardDoc, HardPage
from tests.synth.templates import make_document

Layout = Callable[[Ctx], HardDoc]


@dataclass(frozen=True)
class LayoutSet:
    """The ordinary layouts of a type and its held-out one."""

    ordinary: tuple[Layout, ...]
    holdout: Layout


LAYOUTS: dict[DocType, LayoutSet] = {
    DocType.OWNER_REGISTRATION: LayoutSet(
        (forms.registration_grid, forms.registration_above, forms.registration_lines), forms.registration_holdout
    ),
    DocType.ID_CARD: LayoutSet(
        (idcards.id_stacked, idcards.id_side_by_side, idcards.id_crooked, idcards.id_two_pages), idcards.id_holdout
    ),
    DocType.PURCHASE_CONTRACT: LayoutSet(
        (contracts.purchase_model, contracts.purchase_handfilled, contracts.purchase_summary),
        contracts.purchase_holdout,
    ),
    DocType.LEASE_CONTRACT: LayoutSet(
        (contracts.lease_typed, contracts.lease_handfilled, contracts.lease_tenant_form), contracts.lease_holdout
    ),
    DocType.MOVE_IN_NOTICE: LayoutSet(
        (letters.notice_letter, letters.notice_blanks, letters.notice_table), letters.notice_holdout
    ),
    DocType.HANDOVER_FORM: LayoutSet(
        (forms.handover_grid, forms.handover_confirm, forms.handover_lines), forms.handover_holdout
    ),
    DocType.RENOVATION_APPLICATION: LayoutSet(
        (forms.renovation_grid, forms.renovation_period, forms.renovation_pledge), forms.renovation_holdout
    ),
    DocType.FIRE_SAFETY_AGREEMENT: LayoutSet(
        (letters.fire_clauses, letters.fire_header_grid, letters.fire_typed), letters.fire_holdout
    ),
    DocType.COMMITMENT_LETTER: LayoutSet(
        (letters.commit_blanks, letters.commit_covenant, letters.commit_typed), letters.commit_holdout
    ),
    DocType.POWER_OF_ATTORNEY: LayoutSet(
        (letters.poa_typed, letters.poa_grid, letters.poa_blanks), letters.poa_holdout
    ),
}


def layout_names(*, holdout: bool) -> list[str]:
    """``type/layout`` ids are known only after laying out; this lists the functions' names per type."""
    out = []
    for t, ls in LAYOUTS.items():
        fns = (ls.holdout,) if holdout else ls.ordinary
        out += [f"{t.value}:{fn.__name__}" for fn in fns]
    return out


def make_hard_document(
    doc_type: DocType,
    rng: random.Random,
    hhh: HardHousehold,
    *,
    holdout: bool,
    subject: Person | None = None,
    layout: Layout | None = None,
) -> HardDoc:
    """Lay out one document of ``doc_type`` for a household (``subject``: whose ID card)."""
    if doc_type == DocType.OTHER:
        return _other(rng, hhh, holdout)
    ctx = make_ctx(rng, hhh, holdout)
    ctx.subject = subject
    ls = LAYOUTS[doc_type]
    fn = layout or (ls.holdout if holdout else rng.choice(ls.ordinary))
    return fn(ctx)


def _other(rng: random.Random, hhh: HardHousehold, holdout: bool) -> HardDoc:
    """A fieldless paper from the classic templates (notice, receipt, reminder)."""
    doc = make_document(DocType.OTHER, rng, hhh.hh)
    pages = tuple(HardPage(p.items) for p in doc.pages)
    return HardDoc(DocType.OTHER, "other/classic", False, pages, {}, color=doc.color, title=doc.title)
