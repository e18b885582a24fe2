"""Shared pieces of hard layouts: the household's people and papers, headers, seals, signatures, footers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from tests.synth.fake import (
    Household,
    Person,
    add_years,
    company,
    contract_number,
    decimal_value,
    make_person,
    person_name,
    phone_number,
    rand_date,
    upper_rmb,
)
from tests.synth.handwriting import PEN_BLACK
from tests.synth.hard.marks import Seal, Thumbprint
from tests.synth.hard.sheet import Box, HardPage, Sheet, Writer, make_writer
from tests.synth.items import PAGE_H, PAGE_W, Family, Line, Text, text_width
from tests.synth.templates import make_household

GRAY = (95, 95, 95)


@dataclass(frozen=True)
class Purchase:
    """The household's purchase contract terms (shared by every document that mentions them)."""

    number: str
    signed: date
    area: str
    inner_area: str
    unit_price: str
    total: int
    agent: Person
    credit_code: str
    legal_rep: str


@dataclass(frozen=True)
class Lease:
    """A lease of the unit to a tenant."""

    tenant: Person
    start: date
    end: date
    rent: int
    signed: date
    area: str


@dataclass(frozen=True)
class HardHousehold:
    """One archive: the owner and everyone and everything their documents mention."""

    hh: Household
    co_owner: Person | None
    contact: str
    contact_phone: str
    purchase: Purchase
    lease: Lease | None
    agent: Person | None
    contractor: str
    renovation: tuple[date, date]

    @property
    def owner(self) -> Person:
        """The owner (业主)."""
        return self.hh.owner


def make_hard_household(rng: random.Random, *, lease: bool | None = None, agent: bool | None = None) -> HardHousehold:
    """A household with a purchase, maybe a co-owner, a tenant and an agent (``True`` forces one)."""
    hh = make_household(rng)
    signed = hh.move_in - timedelta(days=rng.randint(120, 900))
    area = decimal_value(rng, 48, 180, 2)
    unit_price = rng.randint(9000, 68000)
    total = round(float(area) * unit_price)
    purchase = Purchase(
        number=contract_number(rng, signed.year),
        signed=signed,
        area=area,
        inner_area=f"{float(area) * rng.uniform(0.76, 0.86):.2f}",
        unit_price=str(unit_price),
        total=total,
        agent=make_person(rng),
        credit_code=credit_code(rng),
        legal_rep=person_name(rng, True),
    )
    want_lease = rng.random() < 0.35
    want_agent = rng.random() < 0.3
    tenancy = None
    if want_lease if lease is None else lease:
        start = rand_date(rng, hh.move_in + timedelta(days=60), hh.move_in + timedelta(days=900))
        tenancy = Lease(
            tenant=make_person(rng),
            start=start,
            end=add_years(start, rng.choice((1, 1, 2, 3))) - timedelta(days=1),
            rent=rng.randrange(15, 120) * 100,
            signed=start - timedelta(days=rng.randint(1, 10)),
            area=area,
        )
    ren_start = hh.move_in + timedelta(days=rng.randint(3, 90))
    return HardHousehold(
        hh=hh,
        co_owner=make_person(rng) if rng.random() < 0.35 else None,
        contact=person_name(rng, rng.random() < 0.5),
        contact_phone=phone_number(rng),
        purchase=purchase,
        lease=tenancy,
        agent=make_person(rng) if (want_agent if agent is None else agent) else None,
        contractor=company(rng, "装饰工程", hh.city),
        renovation=(ren_start, ren_start + timedelta(days=rng.randint(30, 120))),
    )


def credit_code(rng: random.Random) -> str:
    """An 18-character unified social credit code (统一社会信用代码) look-alike."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return "91" + "".join(rng.choice(chars) for _ in range(16))


@dataclass
class Ctx:
    """Per-document choices: randomness, household, typography, the hands filling it in."""

    rng: random.Random
    hhh: HardHousehold
    holdout: bool
    family: Family
    size: float
    owner_hand: Writer
    staff_hand: Writer
    conditions: set[str] = field(default_factory=set)
    #: Whose ID card an id_card document copies (None: the owner).
    subject: Person | None = None

    @property
    def hh(self) -> Household:
        """The base household."""
        return self.hhh.hh

    def sheet(self, **kw: object) -> Sheet:
        """A fresh page in this document's typography."""
        return Sheet(self.rng, self.family, self.size, **kw)  # type: ignore[arg-type]

    def pick(self, *options: str) -> str:
        """One of several label synonyms."""
        return self.rng.choice(options)

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self.rng.random() < p

    def seed(self) -> int:
        """A seed for a mark."""
        return self.rng.randrange(1 << 30)


def make_ctx(rng: random.Random, hhh: HardHousehold, holdout: bool) -> Ctx:
    """Typography and hands for one document."""
    owner = make_writer(rng, holdout=holdout)
    staff = make_writer(rng, holdout=holdout)
    if rng.random() < 0.5:
        staff.color = PEN_BLACK
    return Ctx(
        rng=rng,
        hhh=hhh,
        holdout=holdout,
        family=rng.choice(("sans", "serif", "serif", "hei")),
        size=rng.choice((10.5, 11.0, 11.5, 12.0)),
        owner_hand=owner,
        staff_hand=staff,
    )


# ------------------------------------------------------------------ headers and footers


def header(ctx: Ctx, s: Sheet, title: str, *, company_line: bool | None = None) -> None:
    """Company / estate line with a form number, then the bold title."""
    if company_line if company_line is not None else ctx.chance(0.7):
        left = ctx.hh.manager if ctx.chance(0.6) else f"{ctx.hh.estate}物业服务中心"
        s.text(s.left, s.y, left, 9.5, color=GRAY)
        if ctx.chance(0.5):
            s.text(s.right, s.y, f"表号：{ctx.pick('WY', 'KF', 'GC')}-{ctx.rng.randint(1, 40):02d}", 9, align="right")
        s.add(Line(s.left, s.y + 3.2, s.right, s.y + 3.2, 0.25, GRAY))
        s.gap(8)
    shown = " ".join(title) if len(title) <= 5 and ctx.chance(0.4) else title
    s.title(shown, ctx.rng.uniform(16, 20), after=5)


FOOTER_STYLES = ("第 {i} 页 共 {n} 页", "第{i}页/共{n}页", "- {i} -", "{i}", "共 {n} 页 第 {i} 页")


def add_footers(pages: list[HardPage], style: str) -> list[HardPage]:
    """Page numbers at the foot of every page."""
    n = len(pages)
    out = []
    for i, p in enumerate(pages, 1):
        t = Text(PAGE_W / 2, PAGE_H - 13, style.format(i=i, n=n), 9, align="center", color=GRAY)
        out.append(HardPage((*p.items, t), p.spots, p.conditions))
    return out


# ------------------------------------------------------------------ seals, signatures


def seal(ctx: Ctx, cx: float, cy: float, org: str, label: str = "") -> Seal:
    """A company seal centred near (cx, cy)."""
    code = "".join(str(ctx.rng.randrange(10)) for _ in range(13)) if ctx.chance(0.4) else ""
    return Seal(
        cx + ctx.rng.uniform(-2.5, 2.5),
        cy + ctx.rng.uniform(-2.5, 2.5),
        ctx.rng.uniform(19.0, 21.0),
        org,
        ctx.seed(),
        label,
        code,
        ctx.rng.uniform(-14, 14),
        ctx.chance(0.15),
    )


def seal_over(ctx: Ctx, box: Box, org: str, label: str = "", *, partly: bool | None = None) -> Seal:
    """A seal stamped over a value box (sometimes only half over it)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if partly if partly is not None else ctx.chance(0.25):
        cx += ctx.rng.choice((-1, 1)) * ctx.rng.uniform(14, 19)
    return seal(ctx, cx, cy, org, label)


def thumbprint_over(ctx: Ctx, box: Box) -> Thumbprint:
    """A red fingerprint pressed over (the end of) a signature."""
    cx = box[0] + (box[2] - box[0]) * ctx.rng.uniform(0.4, 0.95)
    cy = (box[1] + box[3]) / 2 + ctx.rng.uniform(-2, 2)
    return Thumbprint(cx, cy, ctx.rng.uniform(11, 14), ctx.rng.uniform(14, 18), ctx.seed(), ctx.rng.uniform(-25, 25))


def sign(
    ctx: Ctx,
    s: Sheet,
    x: float,
    label: str,
    name: str,
    fields: str | tuple[str, ...] = (),
    *,
    writer: Writer | None = None,
    thumb: bool = False,
    primary: bool = False,
) -> Box:
    """``label：`` followed by a handwritten name (the signature); optional thumbprint over it.

    The signature is a second place of ``fields`` unless ``primary`` (the name is printed nowhere else).
    """
    s.text(x, s.y, label if label.endswith(("：", ":")) else label + "：")
    vx = x + text_width(label + "：", s.size) + 2
    w = writer or ctx.owner_hand
    box = s.write(w, vx, s.y + ctx.rng.uniform(-0.8, 0.5), name, size=w.size * ctx.rng.uniform(1.0, 1.25))
    s.spot(fields, box, {"handwritten"}, primary=primary)
    if thumb:
        s.add(thumbprint_over(ctx, box))
    return box


# ------------------------------------------------------------------ amounts


def wrong_words(rng: random.Random, amount: int) -> str:
    """The capitals of an amount with one digit changed (a paper inconsistency)."""
    digits = str(amount)
    i = rng.randrange(len(digits))
    d = (int(digits[i]) + rng.randint(1, 8)) % 10
    if i == 0 and d == 0:
        d = 1
    return upper_rmb(int(digits[:i] + str(d) + digits[i + 1 :]))


def amount_words(amount: int, rng: random.Random, *, wrong: bool) -> str:
    """Capitals for ``amount``, wrong in one digit when ``wrong``."""
    return wrong_words(rng, amount) if wrong else upper_rmb(amount)
