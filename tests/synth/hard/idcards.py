"""ID card copies as clerks make them: both sides at true size (85.6 x 54 mm) on one A4 page.

Sides are stacked, side by side, or lying crooked; sometimes front and back are
on two consecutive pages (one document of two pages). An overlay line is
written by hand or stamped across the card (仅供…使用，再复印无效), crossing the
printed fields; truth ``copy_purpose`` is that text exactly as written.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from schemas.documents import DocType
from tests.synth.fake import Person, validity
from tests.synth.handwriting import text_extent
from tests.synth.hard.common import Ctx
from tests.synth.hard.forms import FormParts, _doc
from tests.synth.hard.marks import SEAL_RED, InkStamp
from tests.synth.hard.sheet import Box, Group, HardDoc, HardPage, Sheet, Spot, overlaps
from tests.synth.items import PAGE_W, PT_MM, Rect, text_width
from tests.synth.templates import _card_back, _card_front

CARD_W, CARD_H = 85.6, 54.0
STAMP_BLUE = (40, 60, 160)


def purposes(ctx: Ctx, tenant: bool) -> list[str]:
    """Overlay texts clerks write or stamp across an ID copy."""
    estate, short = ctx.hh.estate, ctx.hh.manager.replace(ctx.hh.city, "")[:8]
    if tenant:
        return [
            f"仅供{estate}租赁登记使用",
            "仅供办理房屋租赁登记使用，再复印无效",
            f"此复印件仅用于{estate}出租屋登记",
        ]
    return [
        f"仅供{estate}物业办理入住手续使用，再复印无效",
        f"此复印件仅供办理{estate}收楼手续使用",
        f"仅限{short}存档使用 他用无效",
        "本复印件仅用于办理入住手续，再复印无效",
        f"仅供{estate}物业登记使用",
    ]


def id_truth(p: Person, start: date, end: date, *, back: bool, purpose: str) -> dict[str, str]:
    """Card fields (back side fields only when the back is copied) and the overlay text."""
    out = {
        "name": p.name,
        "sex": p.sex,
        "ethnicity": p.ethnicity,
        "birth_date": p.birth.isoformat(),
        "address": p.address,
        "id_number": p.id_number,
    }
    if back:
        out |= {"issuing_authority": p.authority, "valid_from": start.isoformat(), "valid_to": end.isoformat()}
    return out | {"copy_purpose": purpose}


def _front_spots(p: Person, ox: float, oy: float) -> list[Spot]:
    """Where each front field sits (unrotated card at true size)."""
    val = 3.3 / PT_MM

    def box(x: float, y: float, text: str, size: float = val) -> Box:
        return (ox + x, oy + y - 2.2, ox + x + text_width(text, size), oy + y + 2.2)

    birth = f"{p.birth.year} 年 {p.birth.month} 月 {p.birth.day} 日"
    return [
        Spot(("name",), box(15, 9, p.name)),
        Spot(("sex",), box(15, 16, p.sex)),
        Spot(("ethnicity",), box(37, 16, p.ethnicity)),
        Spot(("birth_date",), box(15, 23, birth)),
        Spot(("address",), (ox + 15, oy + 27.5, ox + 55, oy + 41)),
        Spot(("id_number",), box(25, 47.5, p.id_number, 3.6 / PT_MM)),
    ]


def _back_spots(p: Person, start: date, end: date, ox: float, oy: float) -> list[Spot]:
    """Where each back field sits."""
    val = 3.3 / PT_MM
    period = f"{start:%Y.%m.%d}-{end:%Y.%m.%d}"
    return [
        Spot(("issuing_authority",), (ox + 28, oy + 37.8, ox + 28 + text_width(p.authority, val), oy + 42.2)),
        Spot(("valid_from", "valid_to"), (ox + 28, oy + 44.8, ox + 28 + text_width(period, val), oy + 49.2)),
    ]


def _place_side(s: Sheet, items: list, spots: list[Spot], ox: float, oy: float, angle: float) -> Box:
    """Put one card side on the sheet (turned by ``angle``); returns its box."""
    box = (ox, oy, ox + CARD_W, oy + CARD_H)
    if angle:
        s.add(Group(tuple(items), box, angle))
    else:
        s.add(*items)
    conds = {"id_true_size", *(["rotated"] if abs(angle) >= 2.5 else [])}
    s.spots.extend(replace(sp, conditions=sp.conditions | conds) for sp in spots)
    return box


def _overlay(ctx: Ctx, s: Sheet, card: Box, text: str, *, stamped: bool) -> None:
    """The 仅供…使用 line across a card, handwritten or stamped; marks the fields it crosses."""
    cx, cy = (card[0] + card[2]) / 2, card[1] + CARD_H * ctx.rng.uniform(0.35, 0.7)
    angle = ctx.rng.uniform(-18, 18)
    if stamped:
        lines = (text,) if len(text) <= 13 else _split(text)
        size = ctx.rng.uniform(3.4, 4.2)
        st = InkStamp(cx, cy, lines, size, ctx.seed(), angle, ctx.chance(0.7), ctx.rng.choice((SEAL_RED, STAMP_BLUE)))
        s.add(st)
        obox = st.box()
        conds = {"overlay_line"}
    else:
        w = ctx.owner_hand
        size = min(4.6, 80 / max(1.0, text_extent(text, 1.0, w.hand)))
        obox = s.write(w, cx, cy, text, size=size, align="center", angle=angle)
        conds = {"overlay_line", "handwritten"}
    s.spot("copy_purpose", obox, conds)
    band = (obox[0], obox[1] - 3, obox[2], obox[3] + 3)
    for i, sp in enumerate(s.spots[:-1]):
        if "copy_purpose" not in sp.fields and overlaps(sp.box, band, 0.2):
            s.spots[i] = replace(sp, conditions=sp.conditions | {"overlay_line"})


def _split(text: str) -> tuple[str, str]:
    """Two stamp lines, broken at the comma or the middle."""
    for sep in ("，", " "):
        if sep in text:
            a, b = text.split(sep, 1)
            return a + ("，" if sep == "，" else ""), b
    half = len(text) // 2
    return text[:half], text[half:]


def _person(ctx: Ctx) -> tuple[Person, bool]:
    """Whose card: the document's subject (owner, co-owner or tenant)."""
    subject = ctx.subject if isinstance(ctx.subject, Person) else ctx.hhh.owner
    tenant = ctx.hhh.lease is not None and subject is ctx.hhh.lease.tenant
    return subject, tenant


def _copy(ctx: Ctx, layout: str, arrange: str, *, two_pages: bool = False, frame: bool = False) -> HardDoc:
    """Lay out an ID copy: ``arrange`` is stacked | side | crooked."""
    p, tenant = _person(ctx)
    start, end = validity(ctx.rng, p.birth)
    back = two_pages or ctx.chance(0.9)
    purpose = ctx.rng.choice(purposes(ctx, tenant))
    stamped = ctx.chance(0.4)
    s = ctx.sheet()
    title = ctx.pick("居民身份证复印件", "身份证复印件", "", "")
    if frame:
        _frame(ctx, s)
    elif title:
        s.title(title, 15, after=4)
    y = s.y + ctx.rng.uniform(6, 25)
    if arrange == "side":
        gap = ctx.rng.uniform(5, 12)
        ox = (PAGE_W - 2 * CARD_W - gap) / 2 + ctx.rng.uniform(-3, 3)
        positions = [(ox, y, 0.0), (ox + CARD_W + gap, y + ctx.rng.uniform(-4, 4), 0.0)]
    elif arrange == "crooked":
        positions = [
            (ctx.rng.uniform(25, 95), y, ctx.rng.uniform(-6, 6)),
            (ctx.rng.uniform(25, 95), y + CARD_H + ctx.rng.uniform(18, 40), ctx.rng.uniform(-6, 6)),
        ]
    else:
        ox = (PAGE_W - CARD_W) / 2 + ctx.rng.uniform(-15, 15)
        positions = [(ox, y, 0.0), (ox + ctx.rng.uniform(-4, 4), y + CARD_H + ctx.rng.uniform(10, 30), 0.0)]
    front_first = ctx.chance(0.85)
    fpos, bpos = positions if front_first else positions[::-1]
    pages: list[HardPage] = []
    cards = [_place_side(s, _card_front(p, fpos[0], fpos[1], 1.0), _front_spots(p, fpos[0], fpos[1]), *fpos)]
    if two_pages:
        _overlay(ctx, s, cards[0], purpose, stamped=stamped)
        pages.append(s.page())
        s = ctx.sheet()
        bpos = (fpos[0] + ctx.rng.uniform(-8, 8), fpos[1] + ctx.rng.uniform(-8, 8), fpos[2])
        ctx.conditions.add("id_two_pages")
    if back:
        items = _card_back(p, start, end, bpos[0], bpos[1], 1.0)
        cards.append(_place_side(s, items, _back_spots(p, start, end, bpos[0], bpos[1]), *bpos))
    if two_pages:
        if ctx.chance(0.6):
            _overlay_again(ctx, s, cards[-1], purpose, stamped)
    else:
        target = cards[0] if not back or ctx.chance(0.6) else cards[-1]
        _overlay(ctx, s, target, purpose, stamped=stamped)
    s.y = max(c[3] for c in cards[-1:]) + 12
    if ctx.chance(0.5):
        s.text(s.left + 85, min(s.y, 270), "本人签字：")
        s.write(ctx.owner_hand, s.left + 107, min(s.y, 270), p.name)
    pages.append(s.page())
    ctx.conditions.add("id_true_size")
    truth = id_truth(p, start, end, back=back, purpose=purpose)
    doc = _doc(ctx, DocType.ID_CARD, layout, pages, truth, FormParts(), title or "居民身份证复印件")
    return replace(doc, flags={}, color=ctx.chance(0.2))


def _overlay_again(ctx: Ctx, s: Sheet, card: Box, text: str, stamped: bool) -> None:
    """The same overlay on the second page (the clerk marks both copies)."""
    cx, cy = (card[0] + card[2]) / 2, card[1] + CARD_H * 0.5
    if stamped:
        s.add(InkStamp(cx, cy, _split(text) if len(text) > 13 else (text,), 3.8, ctx.seed(), ctx.rng.uniform(-15, 15)))
    else:
        s.write(ctx.owner_hand, cx, cy, text, size=4.0, align="center", angle=ctx.rng.uniform(-15, 15))


def _frame(ctx: Ctx, s: Sheet) -> None:
    """身份证复印件粘贴处: a printed sheet with a frame the copies are laid into (held-out layout)."""
    s.title("身份证明文件粘贴单", 16, after=3)
    s.text(s.left, s.y, "（正反面复印，复印件须清晰）", 9.5, color=(90, 90, 90))
    s.gap(6)
    s.add(Rect(s.left, s.y, s.right, s.y + 170, 0.5))
    s.text(s.left + 3, s.y + 5, "粘贴处", 9, color=(120, 120, 120))


def id_stacked(ctx: Ctx) -> HardDoc:
    """Front above back, centred, at true size."""
    return _copy(ctx, "stacked", "stacked")


def id_side_by_side(ctx: Ctx) -> HardDoc:
    """Front and back side by side across the page."""
    return _copy(ctx, "side_by_side", "side")


def id_crooked(ctx: Ctx) -> HardDoc:
    """Both sides lying a few degrees crooked, placed by hand on the copier glass."""
    return _copy(ctx, "crooked", "crooked")


def id_two_pages(ctx: Ctx) -> HardDoc:
    """Front on one page, back on the next: one document of two pages."""
    return _copy(ctx, "two_pages", ctx.rng.choice(("stacked", "crooked")), two_pages=True)


def id_holdout(ctx: Ctx) -> HardDoc:
    """身份证明文件粘贴单 (held out): the copies inside a printed frame, overlay stamped or written."""
    return _copy(ctx, "holdout_frame", ctx.rng.choice(("side", "crooked")), frame=True)
