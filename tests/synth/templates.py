"""Layouts of the synthetic owner-archive documents, one per doc_type, with ground truth.

``make_document(doc_type, rng)`` returns a :class:`SynthDoc`: pages of drawable
items (see ``items.py``) and ``truth`` holding the DESIGN.md export values of
every field printed on the document (absent fields are absent).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from schemas.documents import DocType
from tests.synth.fake import (
    CITIES,
    ESTATES,
    STREETS,
    Household,
    Person,
    UnitRef,
    add_years,
    company,
    contract_number,
    decimal_value,
    fmt_area,
    fmt_date,
    fmt_money,
    fmt_phone,
    fmt_unit,
    fmt_unit_prose,
    make_person,
    make_unit,
    person_name,
    phone_number,
    rand_date,
    upper_rmb,
    validity,
)
from tests.synth.items import (
    BLACK,
    CARD_LABEL,
    INK_BLUE,
    PAGE_W,
    PT_MM,
    Color,
    Ellipse,
    Family,
    Keep,
    Line,
    Page,
    PageBuilder,
    Rect,
    Scribble,
    Segment,
    Stamp,
    SynthDoc,
    Text,
    text_width,
    wrap,
)

__all__ = ["TEMPLATES", "Household", "SynthDoc", "make_document", "make_household"]

GRAY: Color = (90, 90, 90)


# The fire-safety agreement's model clauses (消防安全协议), shared with the hard corpus.
FIRE_CLAUSES = (
    "乙方是其房屋的消防安全责任人，应自觉遵守消防法律法规及小区消防安全管理规定。",
    "乙方不得占用、堵塞疏散通道和安全出口，不得在楼道、楼梯间堆放杂物或停放电动自行车。",
    "乙方不得在室内存放易燃易爆危险物品，严禁私拉乱接电线，严禁在楼道内为电动车充电。",
    "乙方装修时不得擅自改动、损坏消防设施和器材，不得使用易燃装修材料。",
    "甲方负责小区公共区域消防设施的日常维护和检查，定期组织消防安全宣传和演练。",
    "发生火情时，乙方应立即拨打119报警并通知甲方，积极配合扑救和疏散工作。",
    "本协议一式两份，甲乙双方各执一份，自签订之日起生效。",
)


def make_household(rng: random.Random) -> Household:
    """An owner, their unit and the estate's companies; shared by an archive's documents."""
    city = rng.choice(CITIES)
    return Household(
        owner=make_person(rng),
        unit=make_unit(rng),
        estate=rng.choice(ESTATES),
        city=city,
        manager=company(rng, rng.choice(("物业服务", "物业管理")), city),
        developer=company(rng, "房地产开发", city),
        move_in=rand_date(rng, date(2012, 1, 1), date(2024, 6, 28)),
    )


@dataclass
class Ctx:
    """Per-document choices: randomness, household, typography."""

    rng: random.Random
    hh: Household
    family: Family
    size: float
    sep: str
    value_color: Color

    def builder(self) -> PageBuilder:
        """A fresh page builder in this document's typography."""
        return PageBuilder(family=self.family, size=self.size)

    def date(self, d: date, *, prose: bool = False) -> str:
        """A date printed in one of the mixed formats."""
        return fmt_date(self.rng, d, prose=prose)

    def pick(self, *options: str) -> str:
        """One of several label synonyms."""
        return self.rng.choice(options)

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self.rng.random() < p


def unit_truth(u: UnitRef) -> dict[str, str]:
    """Ground truth of the unit reference."""
    return {"building": u.building, "unit": u.unit, "room": u.room}


def unit_pairs(ctx: Ctx, *, combined: bool = False) -> list[tuple[str, str]]:
    """Label-value pairs naming the unit: one combined 房号, an address, or (unless combined) three cells."""
    u, r = ctx.hh.unit, ctx.rng.random()
    if r < 0.25 and not combined:
        return [
            (ctx.pick("楼栋", "栋号", "楼号"), u.building),
            (ctx.pick("单元", "单元号"), u.unit),
            (ctx.pick("房号", "室号", "房间号"), u.room),
        ]
    if r < 0.45:
        return [(ctx.pick("房屋地址", "房屋坐落"), ctx.hh.estate + fmt_unit_prose(ctx.rng, u))]
    return [(ctx.pick("房号", "房屋编号", "单元房号"), fmt_unit(ctx.rng, u))]


# ----------------------------------------------------------------- shared parts


def header(ctx: Ctx, b: PageBuilder, title: str) -> None:
    """Company / estate header line, then the centred bold title."""
    if ctx.chance(0.75):
        left = ctx.hh.manager if ctx.chance(0.6) else f"{ctx.hh.estate}物业服务中心"
        b.text(b.left, b.y, left, 9.5, color=GRAY)
        if ctx.chance(0.5):
            b.text(b.right, b.y, f"编号：No.{ctx.rng.randrange(10**6):06d}", 9, align="right", color=GRAY)
        b.add(Line(b.left, b.y + 3.2, b.right, b.y + 3.2, 0.25, GRAY))
        b.gap(8)
    shown = " ".join(title) if len(title) <= 4 and ctx.chance(0.5) else title
    b.centered(shown, ctx.rng.uniform(17, 21), after=6)


def signature(
    b: PageBuilder, x: float, label: str, rng: random.Random, name: str = "", size: float | None = None
) -> None:
    """``label`` followed by an optional printed name and a pen scribble."""
    b.text(x, b.y, label + ("" if label.endswith("：") else "："), size)
    lx = x + text_width(label + "：", size or b.size) + 1
    if name:
        b.text(lx, b.y, name, size)
        lx += text_width(name, size or b.size) + 2
    b.add(Scribble(lx, b.y - 4, rng.uniform(16, 26), 8, rng.randrange(1 << 30)))


def stamp(ctx: Ctx, cx: float, cy: float, name: str, label: str = "") -> Stamp:
    """A company seal centred at (cx, cy)."""
    return Stamp(cx + ctx.rng.uniform(-3, 3), cy + ctx.rng.uniform(-3, 3), ctx.rng.uniform(17, 20), name, label)


def clauses(ctx: Ctx, b: PageBuilder, texts: list[str], start: int = 1, numbered: str = "cn") -> None:
    """Numbered boilerplate paragraphs."""
    for i, t in enumerate(texts, start):
        lead = f"第{cn_num(i)}条 " if numbered == "cn" else f"{i}. " if numbered == "dot" else f"{cn_num(i)}、"
        b.paragraph([lead + t], indent_chars=0 if numbered == "cn" else 2)
        b.gap(1.2)


def cn_num(n: int) -> str:
    """Chinese numeral for 1..99 (clause numbers)."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


def office_phone(ctx: Ctx) -> str:
    """A landline such as 0755-86123456."""
    code = {"深圳市": "0755", "上海市": "021", "北京市": "010", "杭州市": "0571", "成都市": "028"}
    return f"{code.get(ctx.hh.city, '027')}-{ctx.rng.randint(5, 8)}{ctx.rng.randrange(10**7):07d}"


def street_address(ctx: Ctx) -> str:
    """A business address in the estate's city."""
    return f"{ctx.hh.city}{ctx.rng.choice(STREETS)}{ctx.rng.randint(1, 999)}号"


def credit_code(rng: random.Random) -> str:
    """An 18-character unified social credit code look-alike (clutter near ID numbers)."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return "91" + "".join(rng.choice(chars) for _ in range(16))


def other_person(ctx: Ctx) -> Person:
    """Someone else (tenant, agent, emergency contact)."""
    return make_person(ctx.rng)


# ----------------------------------------------------------- owner_registration


def owner_registration(ctx: Ctx) -> SynthDoc:
    """业主入住登记表 / 业主档案表: a ruled table or underlined label-value lines."""
    hh, o = ctx.hh, ctx.hh.owner
    title = ctx.pick("业主入住登记表", "业主档案表", "业主资料登记表", "业主信息登记表")
    contact = person_name(ctx.rng, ctx.chance(0.5))
    contact_phone = phone_number(ctx.rng)
    truth = {
        "owner_name": o.name,
        "id_number": o.id_number,
        "phone": o.phone,
        **unit_truth(hh.unit),
        "move_in_date": hh.move_in.isoformat(),
        "emergency_contact": contact,
        "emergency_phone": contact_phone,
    }
    pairs = [
        (ctx.pick("业主姓名", "姓名", "业主"), o.name),
        ("性别", o.sex),
        (ctx.pick("身份证号码", "身份证号", "证件号码"), o.id_number),
        (ctx.pick("联系电话", "手机号码", "联系方式"), fmt_phone(ctx.rng, o.phone)),
        *unit_pairs(ctx),
        (ctx.pick("入住日期", "入住时间"), ctx.date(hh.move_in)),
        ("工作单位", company(ctx.rng, ctx.pick("科技", "贸易", "建设", "教育咨询"))),
        (ctx.pick("紧急联系人", "紧急联络人"), contact),
        (ctx.pick("紧急联系电话", "紧急联系人电话", "联系人电话"), fmt_phone(ctx.rng, contact_phone)),
        ("车牌号码", f"{ctx.pick('粤B', '沪A', '京N', '浙A', '川A')}{ctx.rng.randrange(10**5):05d}"),
    ]
    b = ctx.builder()
    header(ctx, b, title)
    b.text(b.left, b.y, f"小区名称：{hh.estate}", b.size)
    b.gap(6)
    if ctx.chance(0.6):
        _pairs_table(ctx, b, pairs)
    else:
        for i in range(0, len(pairs), 2):
            b.kv_row(pairs[i : i + 2], sep=ctx.sep, underline=True, cols=2, value_color=ctx.value_color)
            b.gap(2)
    b.gap(6)
    _family_table(ctx, b)
    b.gap(8)
    b.paragraph(["本人承诺以上所填信息真实有效，如有变更将及时通知物业服务中心。"])
    b.gap(8)
    signature(b, b.left, ctx.pick("业主签名", "业主签字"), ctx.rng)
    b.text(b.left + 95, b.y, f"填表日期：{ctx.date(hh.move_in - timedelta(days=ctx.rng.randint(0, 3)))}")
    b.gap(10)
    b.text(b.left, b.y, f"经办人：{person_name(ctx.rng, ctx.chance(0.5))}")
    return SynthDoc(DocType.OWNER_REGISTRATION, title, (b.page(),), truth)


def _pairs_table(ctx: Ctx, b: PageBuilder, pairs: list[tuple[str, str]]) -> None:
    """Pairs in a 4-column ruled table (label, value, label, value); long values span 3 cells."""
    rows: list[list[str]] = []
    spans: dict[tuple[int, int], int] = {}
    pending: list[str] = []
    for label, value in pairs:
        if text_width(value, b.size) > 50:
            rows.append([label, value])
            spans[(len(rows) - 1, 1)] = 3
            continue
        pending += [label, value]
        if len(pending) == 4:
            rows.append(pending)
            pending = []
    if pending:
        rows.append([*pending, "", ""])
    rows.append(["备注", ""])
    spans[(len(rows) - 1, 1)] = 3
    b.table(rows, [30, 56, 30, 50], ctx.rng.uniform(10, 12.5), frozenset({0, 2}), spans, ctx.value_color)


def _family_table(ctx: Ctx, b: PageBuilder) -> None:
    """家庭成员 table: names, relation and birth month only (clutter without IDs)."""
    b.text(b.left, b.y, "家庭成员情况：", b.size, bold=True)
    b.gap(4)
    rows = [["姓名", "与业主关系", "出生年月", "工作单位"]]
    for _ in range(ctx.rng.randint(1, 3)):
        rows.append(
            [
                person_name(ctx.rng, ctx.chance(0.5)),
                ctx.pick("配偶", "子女", "父亲", "母亲"),
                f"{ctx.rng.randint(1950, 2015)}年{ctx.rng.randint(1, 12)}月",
                ctx.pick("", "学生", "退休"),
            ]
        )
    b.table(rows, [36, 36, 44, 50], 9, frozenset(), value_color=ctx.value_color)


# ----------------------------------------------------------------------- id_card


def id_card(ctx: Ctx) -> SynthDoc:
    """居民身份证复印件: front (and usually back) of a card on one A4 copy page."""
    o = ctx.hh.owner if ctx.chance(0.7) else other_person(ctx)
    start, end = validity(ctx.rng, o.birth)
    both = ctx.chance(0.9)
    truth = {
        "name": o.name,
        "sex": o.sex,
        "ethnicity": o.ethnicity,
        "birth_date": o.birth.isoformat(),
        "address": o.address,
        "id_number": o.id_number,
    }
    if both:
        truth |= {
            "issuing_authority": o.authority,
            "valid_from": start.isoformat(),
            "valid_to": end.isoformat(),
        }
    b = ctx.builder()
    title = ctx.pick("居民身份证复印件", "身份证复印件", "")
    if title:
        b.centered(title + ("（正反面）" if both and ctx.chance(0.5) else ""), 16, after=4)
    scale = ctx.rng.uniform(1.3, 1.6)
    ox = (PAGE_W - 85.6 * scale) / 2 + ctx.rng.uniform(-8, 8)
    y = b.y + ctx.rng.uniform(8, 20)
    sides = [_card_front(o, ox, y, scale)]
    if both:
        back = _card_back(o, start, end, ox + ctx.rng.uniform(-5, 5), y + 54 * scale + ctx.rng.uniform(10, 22), scale)
        sides.append(back)
        if ctx.chance(0.15):
            sides = [_card_front(o, ox, back[0].y0, scale), _card_back(o, start, end, ox, y, scale)]
    for side in sides:
        b.add(*side)
    b.y = max(it.y1 for side in sides for it in side if isinstance(it, Rect)) + 12
    note = f"此复印件仅供{ctx.hh.estate}办理入住手续使用，再复印无效。"
    b.text(b.left + 5, b.y, note, 11, color=INK_BLUE, family="hei")
    b.gap(10)
    signature(b, b.left + 80, "本人签字", ctx.rng)
    return SynthDoc(DocType.ID_CARD, title or "居民身份证复印件", (b.page(),), truth, color=ctx.chance(0.2))


def _card_text(x: float, y: float, text: str, mm: float, color: Color = BLACK, bold: bool = False) -> Text:
    """Text on a card, size given as a cap height in mm."""
    return Text(x, y, text, mm / PT_MM, bold=bold, family="hei", color=color)


def _card_front(o: Person, ox: float, oy: float, s: float) -> list:
    """The front (photo side) of an ID card at scale ``s``."""

    def at(x: float, y: float) -> tuple[float, float]:
        return ox + x * s, oy + y * s

    items: list = [Rect(ox, oy, ox + 85.6 * s, oy + 54 * s, 0.4, 3 * s, (244, 244, 240), (120, 120, 120))]
    items += [
        Rect(*at(57, 6), *at(81, 40), 0, 0, (205, 205, 205), (205, 205, 205)),
        Ellipse(*at(63, 10), *at(75, 25), 0, (150, 150, 150), (150, 150, 150)),
        Ellipse(*at(58, 26), *at(80, 52), 0, (150, 150, 150), (150, 150, 150)),
        Rect(*at(56, 40), *at(82, 53), 0, 0, (244, 244, 240), (244, 244, 240)),
    ]
    lab, val = 2.5 * s, 3.3 * s
    birth = f"{o.birth.year} 年 {o.birth.month} 月 {o.birth.day} 日"
    items += [
        _card_text(*at(5, 9), "姓名", lab, CARD_LABEL),
        _card_text(*at(15, 9), o.name, val * 1.05),
        _card_text(*at(5, 16), "性别", lab, CARD_LABEL),
        _card_text(*at(15, 16), o.sex, val),
        _card_text(*at(27, 16), "民族", lab, CARD_LABEL),
        _card_text(*at(37, 16), o.ethnicity, val),
        _card_text(*at(5, 23), "出生", lab, CARD_LABEL),
        _card_text(*at(15, 23), birth, val),
        _card_text(*at(5, 30), "住址", lab, CARD_LABEL),
    ]
    for i, line in enumerate(wrap([o.address], val / PT_MM, 39 * s)):
        items.append(_card_text(*at(15, 30 + 5.2 * i), line, val))
    items += [
        _card_text(*at(5, 47.5), "公民身份号码", lab, CARD_LABEL),
        _card_text(*at(25, 47.5), o.id_number, 3.6 * s, bold=True),
    ]
    return items


def _card_back(o: Person, start: date, end: date, ox: float, oy: float, s: float) -> list:
    """The back (emblem side) of an ID card at scale ``s``."""

    def at(x: float, y: float) -> tuple[float, float]:
        return ox + x * s, oy + y * s

    red = (190, 50, 50)
    period = f"{start:%Y.%m.%d}-{end:%Y.%m.%d}"
    return [
        Rect(ox, oy, ox + 85.6 * s, oy + 54 * s, 0.4, 3 * s, (244, 244, 240), (120, 120, 120)),
        Ellipse(*at(5, 4), *at(22, 21), 0.6 * s, None, red),
        Text(ox + 13.5 * s, oy + 12.5 * s, "★", 6 * s / PT_MM, align="center", family="hei", color=red),
        _card_text(*at(30, 11), "中华人民共和国", 4.2 * s, bold=True),
        _card_text(*at(27, 22), "居 民 身 份 证", 6.3 * s, bold=True),
        _card_text(*at(13, 40), "签发机关", 2.6 * s, CARD_LABEL),
        _card_text(*at(28, 40), o.authority, 3.3 * s),
        _card_text(*at(13, 47), "有效期限", 2.6 * s, CARD_LABEL),
        _card_text(*at(28, 47), period, 3.3 * s),
    ]


# ------------------------------------------------------------ purchase_contract


def purchase_contract(ctx: Ctx) -> SynthDoc:
    """商品房买卖合同: 2-3 pages; parties, unit, area and price on page 1, signing date last."""
    hh, o, u = ctx.hh, ctx.hh.owner, ctx.hh.unit
    signed = hh.move_in - timedelta(days=ctx.rng.randint(120, 900))
    number = contract_number(ctx.rng, signed.year)
    area = decimal_value(ctx.rng, 45, 180, 2)
    price = int(float(area) * ctx.rng.randint(18000, 120000) / 1000) * 1000
    truth = {
        "contract_number": number,
        "buyer_name": o.name,
        "buyer_id_number": o.id_number,
        "seller_name": hh.developer,
        **unit_truth(u),
        "floor_area": area,
        "total_price": str(price),
        "signing_date": signed.isoformat(),
    }
    title = ctx.pick("商品房买卖合同", "商品房买卖合同（预售）", "商品房买卖合同（现售）")
    b = ctx.builder()
    b.text(b.right, b.y, f"{ctx.pick('合同编号', '合同号')}{ctx.sep}{number}", b.size, align="right")
    b.gap(8)
    b.centered(title, ctx.rng.uniform(18, 22), after=3)
    if ctx.chance(0.4):
        b.centered("（示范文本 GF—2014—0171）", 9.5, bold=False, after=4)
    _contract_parties(ctx, b, o)
    b.paragraph(
        [
            "根据《中华人民共和国民法典》《中华人民共和国城市房地产管理法》《商品房销售管理办法》等法律、"
            "法规的规定，出卖人和买受人在平等、自愿、公平、协商一致的基础上就商品房买卖事项达成如下协议："
        ]
    )
    b.gap(2)
    _project_basis(ctx, b, signed)
    inner = f"{float(area) * ctx.rng.uniform(0.75, 0.85):.2f}"
    floor = u.room[:-2]
    texts = [
        [
            "商品房基本情况。买受人购买的商品房（以下简称该商品房）位于",
            Keep(hh.estate),
            Keep(fmt_unit_prose(ctx.rng, u)),
            f"，所在楼层为第{floor}层，用途为住宅。该商品房合同约定建筑面积共",
            Keep(fmt_area(ctx.rng, area)),
            f"，其中套内建筑面积{inner}平方米，分摊共有建筑面积{float(area) - float(inner):.2f}平方米。",
        ],
        [
            f"计价方式与价款。按照建筑面积计算，该商品房单价为每平方米人民币{price / float(area):.2f}元，总价款为",
            Keep(fmt_money(ctx.rng, price)),
            "。",
        ],
    ]
    for i, t in enumerate(texts, 3):
        b.paragraph([f"第{cn_num(i)}条 ", *t], indent_chars=0)
        b.gap(1.2)
    down = price * ctx.rng.choice((3, 4, 5)) // 10
    later = _contract_clauses(ctx, hh, down, signed)
    pages = [b.page()]
    n_pages = 2 if ctx.chance(0.5) else 3
    chunks = [later[:5] + later[-1:]] if n_pages == 2 else [later[:5], later[5:]]
    start = 5
    for k, chunk in enumerate(chunks):
        b = ctx.builder()
        b.gap(4)
        clauses(ctx, b, chunk, start)
        start += len(chunk)
        if k == len(chunks) - 1:
            _contract_signatures(ctx, b, hh, signed)
        pages.append(b.page())
    _page_numbers(pages)
    return SynthDoc(DocType.PURCHASE_CONTRACT, title, tuple(pages), truth)


def _project_basis(ctx: Ctx, b: PageBuilder, signed: date) -> None:
    """Clauses 1-2 of a purchase contract: land and pre-sale permits (numbers as clutter)."""
    year = signed.year - ctx.rng.randint(1, 3)
    land = f"{ctx.hh.city[:-1]}国用（{year}）第{ctx.rng.randrange(10**5):05d}号"
    permit = f"{ctx.hh.city[:-1]}房预售证字（{signed.year}）第{ctx.rng.randrange(10**4):04d}号"
    texts = [
        f"项目建设依据。出卖人以出让方式取得位于{ctx.hh.city}{ctx.rng.choice(STREETS)}的国有建设用地使用权，"
        f"土地使用权证号为{land}，土地用途为住宅，使用期限70年。出卖人经批准在上述地块上建设的商品房项目核准"
        f"名称为{ctx.hh.estate}。",
        f"销售依据。买受人购买的商品房已取得商品房预售许可证，预售许可证号为{permit}，"
        "商品房预售资金监管机构为中国建设银行股份有限公司。",
    ]
    for i, t in enumerate(texts, 1):
        b.paragraph([f"第{cn_num(i)}条 {t}"], indent_chars=0)
        b.gap(1.2)


def _contract_parties(ctx: Ctx, b: PageBuilder, o: Person) -> None:
    """Seller and buyer blocks of a purchase contract."""
    hh = ctx.hh
    b.gap(2)
    b.kv_row([("出卖人", hh.developer)], sep=ctx.sep)
    b.kv_row([("通讯地址", street_address(ctx))], sep=ctx.sep)
    b.kv_row([("统一社会信用代码", credit_code(ctx.rng))], sep=ctx.sep)
    b.kv_row([("法定代表人", person_name(ctx.rng, True)), ("联系电话", office_phone(ctx))], sep=ctx.sep)
    b.gap(3)
    b.kv_row([("买受人", o.name), ("国籍", "中国")], sep=ctx.sep, value_color=ctx.value_color)
    b.kv_row(
        [("证件类型", "居民身份证"), (ctx.pick("证件号码", "身份证号码"), o.id_number)],
        sep=ctx.sep,
        value_color=ctx.value_color,
    )
    b.kv_row([("通讯地址", o.address)], sep=ctx.sep, value_color=ctx.value_color)
    b.kv_row([("联系电话", fmt_phone(ctx.rng, o.phone))], sep=ctx.sep, value_color=ctx.value_color)
    b.gap(4)


def _contract_clauses(ctx: Ctx, hh: Household, down: int, signed: date) -> list[str]:
    """Boilerplate clauses 3.. of a purchase contract (payment, delivery, disputes)."""
    deliver = signed + timedelta(days=ctx.rng.randint(180, 720))
    return [
        f"付款方式及期限。买受人采取分期付款方式，首付款人民币{down}元应于本合同签订之日起七日内支付，"
        "余款由买受人申请银行按揭贷款支付。买受人未按期付款的，按照本合同约定承担违约责任。",
        f"交付期限。出卖人应当在{deliver.year}年{deliver.month}月{deliver.day}日前向买受人交付该商品房，"
        "该商品房交付时应当取得建设工程竣工验收备案证明文件及房屋测绘报告。",
        "面积差异处理。该商品房交付时，出卖人应当向买受人出示房屋测绘报告，并向买受人提供该商品房的面积实测数据。"
        "实测建筑面积与合同约定建筑面积发生误差的，误差比绝对值在3%以内（含3%）的部分，据实结算房价款。",
        "逾期交付责任。除不可抗力外，出卖人未按照本合同约定的期限交付该商品房的，按日计算向买受人支付全部房价款"
        "万分之二的违约金；逾期超过90日的，买受人有权解除合同。",
        "不动产登记。出卖人应当在该商品房交付使用之日起365日内，将办理不动产登记需由出卖人提供的资料报送"
        "不动产登记机构备案。",
        f"物业管理。出卖人依法选聘的前期物业服务企业为{hh.manager}，买受人同意遵守前期物业服务合同及临时管理规约。",
        f"争议解决方式。本合同在履行过程中发生的争议，由双方当事人协商解决；协商不成的，依法向{hh.city}人民法院起诉。",
        "保修责任。该商品房实行保修制度，保修期自交付之日起计算，屋面防水工程、有防水要求的卫生间、房间和外墙面"
        "的防渗漏保修期为5年，供热与供冷系统为2个采暖期、供冷期，电气管线、给排水管道、设备安装为2年。",
        "税费。双方应当按照国家的有关规定，向相应部门缴纳因该商品房买卖发生的税费，因预测面积与实测面积差异，"
        "导致买受人不能享受税收优惠政策而增加的税收负担，由出卖人承担。",
        "本合同自双方签字（盖章）之日起生效。本合同及附件共若干页，一式四份，出卖人、买受人各执一份，"
        "其余交有关部门备案，具有同等法律效力。",
    ]


def _contract_signatures(ctx: Ctx, b: PageBuilder, hh: Household, signed: date) -> None:
    """Seller stamp and buyer signature block with the signing date."""
    b.gap(12)
    y0 = b.y
    b.text(b.left, b.y, "出卖人（签章）：")
    b.text(b.left + 90, b.y, "买受人（签章）：")
    b.add(stamp(ctx, b.left + 45, y0 + 6, hh.developer, "合同专用章"))
    b.gap(12)
    b.text(b.left, b.y, f"法定代表人：{person_name(ctx.rng, True)}")
    signature(b, b.left + 90, "买受人", ctx.rng, hh.owner.name)
    b.gap(12)
    b.text(b.left, b.y, "委托代理人：")
    b.text(b.left + 90, b.y, "委托代理人：")
    b.gap(14)
    label = ctx.pick("签订日期", "签订时间", "签约日期")
    b.text(b.left, b.y, f"{label}：{ctx.date(signed, prose=ctx.chance(0.5))}")
    b.text(b.left + 90, b.y, f"签订地点：{hh.city}")


def _page_numbers(pages: list[Page]) -> None:
    """Add '第 i 页 共 n 页' footers in place."""
    n = len(pages)
    for i, p in enumerate(pages):
        pages[i] = Page((*p.items, Text(PAGE_W / 2, 285, f"第 {i + 1} 页 共 {n} 页", 9, align="center", color=GRAY)))


# --------------------------------------------------------------- lease_contract


def lease_contract(ctx: Ctx) -> SynthDoc:
    """房屋租赁合同 (2 pages) or a one-page 租户档案 table."""
    hh, u = ctx.hh, ctx.hh.unit
    tenant = other_person(ctx)
    start = rand_date(ctx.rng, hh.move_in, hh.move_in + timedelta(days=900))
    end = add_years(start, ctx.rng.choice((1, 1, 2, 3))) - timedelta(days=1)
    rent = ctx.rng.randrange(15, 120) * 100
    truth = {
        "tenant_name": tenant.name,
        "tenant_id_number": tenant.id_number,
        "landlord_name": hh.owner.name,
        **unit_truth(u),
        "lease_start": start.isoformat(),
        "lease_end": end.isoformat(),
        "monthly_rent": str(rent),
    }
    if ctx.chance(0.3):
        return _tenant_file(ctx, tenant, start, end, rent, truth)
    title = ctx.pick("房屋租赁合同", "房屋租赁合同书", "住房租赁合同")
    b = ctx.builder()
    header(ctx, b, title)
    landlord_label = ctx.pick("出租方（甲方）", "甲方（出租方）", "出租人")
    tenant_label = ctx.pick("承租方（乙方）", "乙方（承租方）", "承租人")
    b.kv_row([(landlord_label, hh.owner.name), ("联系电话", fmt_phone(ctx.rng, hh.owner.phone))], sep=ctx.sep)
    if ctx.chance(0.5):
        b.kv_row([("身份证号码", hh.owner.id_number)], sep=ctx.sep)
    b.gap(2)
    b.kv_row(
        [(tenant_label, tenant.name), ("联系电话", fmt_phone(ctx.rng, tenant.phone))],
        sep=ctx.sep,
        value_color=ctx.value_color,
    )
    b.kv_row([(ctx.pick("身份证号码", "证件号码"), tenant.id_number)], sep=ctx.sep, value_color=ctx.value_color)
    b.gap(4)
    b.paragraph(
        [
            "根据《中华人民共和国民法典》及有关法律、法规的规定，甲乙双方在平等、自愿、协商一致的基础上，"
            "就甲方将其合法拥有的房屋出租给乙方使用、乙方承租甲方房屋事宜，订立本合同。"
        ]
    )
    b.gap(2)
    area = decimal_value(ctx.rng, 40, 150, 2)
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    first = [
        [
            "房屋基本情况。甲方将坐落于",
            Keep(hh.estate + fmt_unit_prose(ctx.rng, u)),
            f"的房屋出租给乙方居住使用，建筑面积{area}平方米。",
        ],
        [
            "租赁期限。租赁期自",
            Keep(ctx.date(start, prose=True)),
            "起至",
            Keep(ctx.date(end, prose=True)),
            f"止，共计{months}个月。",
        ],
        [
            "租金及支付方式。",
            Keep(_rent_text(ctx, rent)),
            f"，按{ctx.pick('月', '季度')}支付；乙方应于签订本合同时向甲方支付押金人民币{rent * 2}元。",
        ],
    ]
    for i, t in enumerate(first, 1):
        b.paragraph([f"第{cn_num(i)}条 ", *t], indent_chars=0)
        b.gap(1.2)
    p1 = b.page()
    b = ctx.builder()
    b.gap(4)
    clauses(ctx, b, _lease_clauses(ctx), 4)
    b.gap(12)
    signature(b, b.left, "甲方（签字）", ctx.rng)
    signature(b, b.left + 90, "乙方（签字）", ctx.rng)
    b.gap(12)
    d = ctx.date(start - timedelta(days=ctx.rng.randint(1, 10)))
    b.text(b.left, b.y, f"日期：{d}")
    b.text(b.left + 90, b.y, f"日期：{d}")
    pages = [p1, b.page()]
    _page_numbers(pages)
    return SynthDoc(DocType.LEASE_CONTRACT, title, tuple(pages), truth)


def _rent_text(ctx: Ctx, rent: int) -> str:
    """Monthly rent as printed in a lease."""
    return ctx.rng.choice(
        (
            f"每月租金人民币{rent}元（大写：{upper_rmb(rent)}）",
            f"月租金为{rent:,}.00元",
            f"租金标准为{rent}元/月",
            f"每月租金{rent}元",
        )
    )


def _lease_clauses(ctx: Ctx) -> list[str]:
    """Boilerplate lease clauses."""
    return [
        "租赁期间，水费、电费、燃气费、物业管理费及网络费等由乙方承担，乙方应按时缴纳。",
        "乙方应合理使用房屋及其附属设施，不得擅自改变房屋结构和用途，不得利用房屋从事违法活动。",
        "租赁期间，因乙方使用不当造成房屋或设施损坏的，乙方应负责修复或赔偿。",
        "乙方不得将房屋转租或转借他人使用。乙方应遵守小区物业管理规定，做好防火、防盗等安全工作。",
        "租赁期满，乙方应按时退还房屋；乙方需继续承租的，应提前30日书面通知甲方，经甲方同意后重新签订合同。",
        "任何一方违反本合同约定的，应向守约方支付相当于一个月租金的违约金。",
        "本合同一式两份，甲乙双方各执一份，自双方签字之日起生效。",
    ]


def _tenant_file(ctx: Ctx, tenant: Person, start: date, end: date, rent: int, truth: dict[str, str]) -> SynthDoc:
    """租户档案: a one-page ruled registration table for a tenant."""
    hh = ctx.hh
    title = ctx.pick("租户档案", "租户信息登记表", "租户档案登记表")
    b = ctx.builder()
    header(ctx, b, title)
    b.gap(4)
    pairs = [
        (ctx.pick("租户姓名", "承租人"), tenant.name),
        ("性别", tenant.sex),
        (ctx.pick("身份证号码", "证件号码"), tenant.id_number),
        ("联系电话", fmt_phone(ctx.rng, tenant.phone)),
        *unit_pairs(ctx),
        (ctx.pick("业主姓名", "出租人"), hh.owner.name),
        ("业主电话", fmt_phone(ctx.rng, hh.owner.phone)),
        ("租赁期限", f"{ctx.date(start)} 至 {ctx.date(end)}"),
        (ctx.pick("月租金", "租金（月）"), ctx.rng.choice((f"{rent}元", f"{rent:,}.00元", f"¥{rent}"))),
        ("工作单位", company(ctx.rng, ctx.pick("科技", "贸易"))),
        ("居住人数", str(ctx.rng.randint(1, 4))),
    ]
    _pairs_table(ctx, b, pairs)
    b.gap(10)
    signature(b, b.left, "租户签字", ctx.rng)
    b.text(b.left + 90, b.y, f"登记日期：{ctx.date(start)}")
    return SynthDoc(DocType.LEASE_CONTRACT, title, (b.page(),), truth)


# --------------------------------------------------------------- move_in_notice


def move_in_notice(ctx: Ctx) -> SynthDoc:
    """入住通知书: a letter to the owner with the unit, a handover period and the notice date."""
    hh, o = ctx.hh, ctx.hh.owner
    notice = hh.move_in - timedelta(days=ctx.rng.randint(10, 40))
    truth = {"owner_name": o.name, **unit_truth(hh.unit), "notice_date": notice.isoformat()}
    title = ctx.pick("入住通知书", "业主入住通知书", "交房入住通知书")
    b = ctx.builder()
    header(ctx, b, title)
    b.gap(2)
    hon = "先生" if o.male else "女士"
    b.text(b.left, b.y, f"尊敬的{o.name}{ctx.rng.choice((hon, '先生/女士', ''))}：", b.size + 0.5)
    b.gap(8)
    frm = notice + timedelta(days=ctx.rng.randint(7, 20))
    to = frm + timedelta(days=ctx.rng.randint(10, 30))
    paras: list[list[Segment]] = [
        [
            "您好！您所购买的",
            Keep(hh.estate + fmt_unit_prose(ctx.rng, hh.unit)),
            "已竣工验收合格，具备交付使用条件。现通知您于",
            Keep(ctx.date(frm, prose=True)),
            "至",
            Keep(ctx.date(to, prose=True)),
            "期间，携带本通知书及相关资料到",
            Keep(hh.estate),
            "物业服务中心办理入住手续。",
        ],
        [
            "办理入住手续时请携带以下资料：一、本入住通知书；二、商品房买卖合同原件；三、业主身份证原件及复印件；"
            "四、购房发票；五、委托他人办理的，须提供经公证的委托书及受托人身份证原件。"
        ],
        [
            f"逾期未办理入住手续的，视为您已接收该房屋，自本通知规定的期限届满之日起，物业服务费由您承担。"
            f"如有疑问，请致电物业服务中心：{office_phone(ctx)}。"
        ],
        ["特此通知。"],
    ]
    for p in paras:
        b.paragraph(p)
        b.gap(2)
    b.gap(16)
    x = b.right - 62
    b.text(x, b.y, hh.manager if ctx.chance(0.6) else hh.developer, b.size)
    b.add(stamp(ctx, x + 30, b.y - 6, hh.manager))
    b.gap(18)
    b.text(x + 10, b.y, ctx.date(notice, prose=ctx.chance(0.7)))
    return SynthDoc(DocType.MOVE_IN_NOTICE, title, (b.page(),), truth)


# ---------------------------------------------------------------- handover_form


def handover_form(ctx: Ctx) -> SynthDoc:
    """收楼单 / 房屋交接验收表 / 水电表底数确认单: table with meter readings and a checklist."""
    hh, o = ctx.hh, ctx.hh.owner
    water = decimal_value(ctx.rng, 0.5, 60, ctx.rng.choice((0, 1)))
    power = decimal_value(ctx.rng, 1, 400, ctx.rng.choice((0, 1)))
    truth = {
        "owner_name": o.name,
        **unit_truth(hh.unit),
        "handover_date": hh.move_in.isoformat(),
        "water_meter": water,
        "electricity_meter": power,
    }
    title = ctx.pick("收楼单", "房屋交接验收表", "水电表底数确认单", "房屋交接书")
    b = ctx.builder()
    header(ctx, b, title)
    b.gap(2)
    wunit, punit = ctx.pick("吨", "m³", "立方米"), ctx.pick("度", "kWh")
    date_label = ctx.pick("交接日期", "收楼日期", "交房日期")
    pairs = [
        (ctx.pick("业主姓名", "业主"), o.name),
        ("联系电话", fmt_phone(ctx.rng, o.phone)),
        *unit_pairs(ctx),
        (date_label, ctx.date(hh.move_in)),
    ]
    meter_table = ctx.chance(0.35)
    if not meter_table:
        pairs += [
            (ctx.pick("水表读数", "水表底数"), f"{water}{wunit}"),
            (ctx.pick("电表读数", "电表底数"), f"{power}{punit}"),
            ("燃气表底数", f"{decimal_value(ctx.rng, 0.1, 9, 1)}m³"),
            ("钥匙", f"{ctx.rng.randint(2, 5)}把"),
        ]
    _pairs_table(ctx, b, pairs)
    b.gap(6)
    if meter_table:
        rows = [
            ["表具名称", "表号", "底数", "单位"],
            ["水表", f"{ctx.rng.randrange(10**8):08d}", water, wunit],
            ["电表", f"{ctx.rng.randrange(10**10):010d}", power, punit],
            ["燃气表", f"{ctx.rng.randrange(10**8):08d}", decimal_value(ctx.rng, 0.1, 9, 1), "m³"],
        ]
        b.table(rows, [36, 50, 44, 36], 10, frozenset({0}), value_color=ctx.value_color)
        b.gap(6)
    rows = [["验收项目", "验收情况", "备注"]]
    for item in ("入户门", "窗户及玻璃", "墙面", "地面", "天花", "厨房", "卫生间", "水电设施", "对讲门铃"):
        rows.append([item, ctx.rng.choice(("√ 合格", "√ 良好", "√ 合格", "× 需维修")), ""])
    b.table(rows, [40, 50, 76], 8.5, frozenset({0}))
    b.gap(8)
    b.paragraph(["以上房屋及设施经双方现场验收，确认无误。业主自收楼之日起承担物业服务费及水电费用。"])
    b.gap(10)
    signature(b, b.left, ctx.pick("业主签字", "业主（签字）"), ctx.rng)
    b.text(b.left + 90, b.y, f"物业经办人：{person_name(ctx.rng, ctx.chance(0.5))}")
    b.gap(10)
    b.text(b.left, b.y, f"日期：{ctx.date(hh.move_in)}")
    return SynthDoc(DocType.HANDOVER_FORM, title, (b.page(),), truth)


# ------------------------------------------------------- renovation_application


def renovation_application(ctx: Ctx) -> SynthDoc:
    """装修申请表 (ruled table) or 装修责任书 (agreement text)."""
    hh, o = ctx.hh, ctx.hh.owner
    start = hh.move_in + timedelta(days=ctx.rng.randint(3, 90))
    end = start + timedelta(days=ctx.rng.randint(30, 120))
    contractor = company(ctx.rng, "装饰工程", hh.city)
    truth = {
        "owner_name": o.name,
        **unit_truth(hh.unit),
        "contractor": contractor,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
    }
    if ctx.chance(0.35):
        return _renovation_pledge(ctx, contractor, start, end, truth)
    title = ctx.pick("装修申请表", "房屋装修申请表", "装修施工申请表")
    b = ctx.builder()
    header(ctx, b, title)
    b.gap(2)
    pairs = [
        (ctx.pick("业主姓名", "申请人"), o.name),
        ("联系电话", fmt_phone(ctx.rng, o.phone)),
        *unit_pairs(ctx),
        (ctx.pick("装修单位", "施工单位"), contractor),
        ("施工负责人", person_name(ctx.rng, True)),
        ("负责人电话", phone_number(ctx.rng)),
    ]
    if ctx.chance(0.5):
        pairs.append(("装修期限", f"{ctx.date(start)} 至 {ctx.date(end)}"))
    else:
        pairs += [
            (ctx.pick("开工日期", "计划开工日期"), ctx.date(start)),
            (ctx.pick("完工日期", "竣工日期", "预计完工日期"), ctx.date(end)),
        ]
    pairs += [
        ("装修押金", f"{ctx.rng.choice((1000, 2000, 3000))}元"),
        ("垃圾清运费", f"{ctx.rng.randint(2, 8)}00元"),
    ]
    _pairs_table(ctx, b, pairs)
    b.gap(6)
    b.text(b.left, b.y, "装修内容：", bold=True)
    b.gap(5)
    b.paragraph(
        [
            ctx.pick("客厅及卧室墙面刷乳胶漆，厨房、卫生间防水及墙地砖铺贴，", "客厅吊顶，木地板铺设，")
            + "更换室内灯具，安装橱柜及衣柜。不改动承重结构及外立面。"
        ]
    )
    b.gap(6)
    b.paragraph(
        [
            "申请人承诺：严格遵守《装饰装修管理规定》，按批准的内容和时间施工，施工时间为每日8:00-12:00、"
            "14:00-18:00，节假日不得进行产生噪音的施工。如违反规定，愿承担相应责任。"
        ]
    )
    b.gap(10)
    signature(b, b.left, "申请人签字", ctx.rng)
    b.text(b.left + 90, b.y, f"申请日期：{ctx.date(start - timedelta(days=ctx.rng.randint(2, 7)))}")
    b.gap(14)
    b.text(b.left, b.y, "物业服务中心审批意见：同意按申请内容施工。")
    b.add(stamp(ctx, b.left + 120, b.y + 2, hh.manager))
    return SynthDoc(DocType.RENOVATION_APPLICATION, title, (b.page(),), truth)


def _renovation_pledge(ctx: Ctx, contractor: str, start: date, end: date, truth: dict[str, str]) -> SynthDoc:
    """装修责任书: agreement text naming the contractor and the works period."""
    hh, o = ctx.hh, ctx.hh.owner
    title = ctx.pick("装修责任书", "装修管理责任书")
    b = ctx.builder()
    header(ctx, b, title)
    b.kv_row([("甲方", hh.manager)], sep=ctx.sep)
    b.kv_row([("乙方（业主）", o.name), *unit_pairs(ctx, combined=True)], sep=ctx.sep, value_color=ctx.value_color)
    b.kv_row([("丙方（施工单位）", contractor)], sep=ctx.sep, value_color=ctx.value_color)
    b.gap(3)
    b.paragraph(
        [
            "为加强住宅室内装饰装修管理，保证装修工程质量和安全，维护公共利益和业主的合法权益，"
            "根据《住宅室内装饰装修管理办法》，三方签订本责任书。"
        ]
    )
    b.gap(2)
    items = [
        [
            "乙方房屋装修期限自",
            Keep(ctx.date(start, prose=True)),
            "起至",
            Keep(ctx.date(end, prose=True)),
            "止，如需延期须向甲方书面申请。",
        ],
        ["装修过程中不得拆改承重墙、梁、柱，不得改变外立面，不得擅自改动燃气管道和消防设施。"],
        ["装修垃圾应袋装后堆放到指定地点，不得从楼上抛掷，不得堵塞公共通道。"],
        ["丙方施工人员须办理出入证，遵守小区管理规定，施工时间为每日8:00-12:00、14:00-18:00。"],
        ["因装修造成公共设施或他人财产损失的，由乙方和丙方承担赔偿责任。"],
    ]
    for i, t in enumerate(items, 1):
        b.paragraph([f"{cn_num(i)}、", *t])
        b.gap(1.2)
    b.gap(12)
    y0 = b.y
    b.text(b.left, b.y, "甲方（盖章）：")
    b.add(stamp(ctx, b.left + 25, y0 + 8, hh.manager))
    signature(b, b.left + 60, "乙方（签字）", ctx.rng)
    b.text(b.left + 118, b.y, "丙方（盖章）：")
    b.gap(18)
    b.text(b.left + 60, b.y, f"日期：{ctx.date(start - timedelta(days=ctx.rng.randint(2, 7)))}")
    return SynthDoc(DocType.RENOVATION_APPLICATION, title, (b.page(),), truth)


# --------------------------------------------------- fire / commitment / power of attorney


def fire_safety_agreement(ctx: Ctx) -> SynthDoc:
    """消防安全协议书 between the property company and the owner."""
    hh, o = ctx.hh, ctx.hh.owner
    truth = {"owner_name": o.name, **unit_truth(hh.unit), "signing_date": hh.move_in.isoformat()}
    title = ctx.pick("消防安全协议书", "消防安全责任书", "住户消防安全协议")
    b = ctx.builder()
    header(ctx, b, title)
    b.kv_row([("甲方", hh.manager)], sep=ctx.sep)
    b.kv_row(
        [(ctx.pick("乙方（业主）", "乙方", "业主姓名"), o.name), *unit_pairs(ctx)],
        sep=ctx.sep,
        value_color=ctx.value_color,
    )
    b.gap(3)
    b.paragraph(
        [
            "为贯彻“预防为主、防消结合”的消防工作方针，落实消防安全责任制，保障业主生命财产安全，根据"
            "《中华人民共和国消防法》等有关规定，甲乙双方签订本协议。"
        ]
    )
    b.gap(2)
    clauses(
        ctx,
        b,
        list(FIRE_CLAUSES),
        numbered=ctx.rng.choice(("dot", "cnlist")),
    )
    b.gap(10)
    y0 = b.y
    b.text(b.left, b.y, "甲方（盖章）：")
    b.add(stamp(ctx, b.left + 30, y0 + 4, hh.manager))
    signature(b, b.left + 90, ctx.pick("乙方（签字）", "业主签字"), ctx.rng, o.name if ctx.chance(0.5) else "")
    b.gap(12)
    d = ctx.date(hh.move_in, prose=ctx.chance(0.5))
    b.text(b.left + 90, b.y, f"{ctx.pick('日期', '签订日期')}：{d}")
    return SynthDoc(DocType.FIRE_SAFETY_AGREEMENT, title, (b.page(),), truth)


def commitment_letter(ctx: Ctx) -> SynthDoc:
    """承诺书 / 物业管理公约 signed by the owner."""
    hh, o = ctx.hh, ctx.hh.owner
    truth = {"owner_name": o.name, **unit_truth(hh.unit), "signing_date": hh.move_in.isoformat()}
    title = ctx.pick("承诺书", "业主承诺书", "物业管理公约", "业主公约")
    b = ctx.builder()
    header(ctx, b, title)
    if "公约" in title:
        b.paragraph(
            [
                f"为维护{hh.estate}全体业主和物业使用人的合法权益，维护公共环境和秩序，根据《物业管理条例》"
                "及有关法律、法规，制定本公约。"
            ]
        )
        b.gap(2)
        clauses(
            ctx,
            b,
            [
                "业主应按时缴纳物业服务费，不得以任何理由拒交或拖欠。",
                "业主不得擅自改变房屋结构、外观和用途，不得违章搭建，不得占用公共部位。",
                "业主饲养宠物应遵守有关规定，外出时应牵绳并及时清理粪便。",
                "业主应遵守小区车辆管理规定，按指定位置停放车辆。",
                "业主转让或出租房屋时，应将本公约作为合同附件，并告知物业服务企业。",
            ],
            numbered="cn",
        )
        b.gap(10)
        b.kv_row(
            [(ctx.pick("业主（签字）", "业主姓名"), o.name), *unit_pairs(ctx)],
            sep=ctx.sep,
            value_color=ctx.value_color,
        )
    else:
        b.kv_row([("承诺人", o.name), *unit_pairs(ctx)], sep=ctx.sep, value_color=ctx.value_color)
        b.gap(3)
        b.paragraph(
            [
                "本人系",
                Keep(hh.estate),
                "上述房屋的业主，为共同营造安全、整洁、文明的居住环境，现郑重承诺如下：",
            ]
        )
        b.gap(2)
        clauses(
            ctx,
            b,
            [
                "遵守国家法律法规及小区管理规约，服从物业服务中心的管理。",
                "按时足额缴纳物业服务费及其他相关费用。",
                "不在公共区域堆放杂物，不高空抛物，不饲养烈性犬只。",
                "装修前向物业服务中心申报，按规定施工，不破坏房屋承重结构。",
                "如违反上述承诺，愿承担相应的法律责任和经济责任。",
            ],
            numbered=ctx.rng.choice(("dot", "cnlist")),
        )
        b.gap(10)
        signature(b, b.left + 80, "承诺人（签字）", ctx.rng)
    b.gap(12)
    b.text(
        b.left + 80,
        b.y,
        f"{ctx.pick('日期', '签订日期', '签署日期')}：{ctx.date(hh.move_in, prose=ctx.chance(0.6))}",
    )
    return SynthDoc(DocType.COMMITMENT_LETTER, title, (b.page(),), truth)


def power_of_attorney(ctx: Ctx) -> SynthDoc:
    """委托书 (收楼委托): the owner authorises an agent to take over the unit."""
    hh, o = ctx.hh, ctx.hh.owner
    agent = other_person(ctx)
    truth = {
        "principal_name": o.name,
        "agent_name": agent.name,
        "agent_id_number": agent.id_number,
        **unit_truth(hh.unit),
    }
    title = ctx.pick("委托书", "授权委托书", "收楼委托书")
    b = ctx.builder()
    header(ctx, b, title)
    b.kv_row(
        [(ctx.pick("委托人", "委托人（业主）"), o.name), ("身份证号码", o.id_number)],
        sep=ctx.sep,
        value_color=ctx.value_color,
    )
    b.kv_row([("受托人", agent.name), ("身份证号码", agent.id_number)], sep=ctx.sep, value_color=ctx.value_color)
    b.kv_row([("受托人联系电话", fmt_phone(ctx.rng, agent.phone))], sep=ctx.sep, value_color=ctx.value_color)
    b.gap(4)
    b.paragraph(
        [
            "本人",
            Keep(o.name),
            "系",
            Keep(hh.estate + fmt_unit_prose(ctx.rng, hh.unit)),
            "的业主，因工作原因不能亲自办理收楼手续，现委托",
            Keep(agent.name),
            "全权代表本人办理上述房屋的收楼验收、签署相关文件、领取钥匙及缴纳相关费用等事宜。",
        ]
    )
    b.gap(2)
    b.paragraph(
        ["受托人在办理上述事项过程中所签署的有关文件，本人均予以承认，并承担相应的法律责任。受托人无转委托权。"]
    )
    b.gap(2)
    frm = hh.move_in - timedelta(days=ctx.rng.randint(1, 10))
    b.paragraph(
        [
            "委托期限：自",
            Keep(ctx.date(frm, prose=True)),
            "至",
            Keep(ctx.date(frm + timedelta(days=60), prose=True)),
            "止。",
        ]
    )
    b.gap(12)
    signature(b, b.left, "委托人（签字）", ctx.rng)
    signature(b, b.left + 90, "受托人（签字）", ctx.rng)
    b.gap(12)
    b.text(b.left + 90, b.y, f"日期：{ctx.date(frm)}")
    return SynthDoc(DocType.POWER_OF_ATTORNEY, title, (b.page(),), truth)


# ----------------------------------------------------------------------- other


def other(ctx: Ctx) -> SynthDoc:
    """A document with no fields: a water-cut notice, a fee receipt or a reminder."""
    kind = ctx.rng.randrange(3)
    b = ctx.builder()
    hh = ctx.hh
    if kind == 0:
        title = f"关于{hh.estate}{ctx.pick('停水', '停电', '电梯维保')}的通知"
        header(ctx, b, title)
        b.text(b.left, b.y, "各位业主、住户：")
        b.gap(6)
        d = hh.move_in + timedelta(days=ctx.rng.randint(10, 400))
        b.paragraph(
            [
                f"因市政管网维修，定于{ctx.date(d, prose=True)}8:00至18:00暂停供应，请各位业主提前做好准备。"
                "由此给您带来的不便，敬请谅解！如有疑问请致电" + office_phone(ctx) + "。"
            ]
        )
        b.gap(4)
        b.paragraph(["特此通知。"])
        b.gap(12)
        b.text(b.right - 60, b.y, f"{hh.estate}物业服务中心")
        b.add(stamp(ctx, b.right - 35, b.y + 3, hh.manager))
        b.gap(8)
        b.text(b.right - 50, b.y, ctx.date(d - timedelta(days=3), prose=True))
    elif kind == 1:
        title = "收 据"
        header(ctx, b, title)
        b.text(b.right, b.y, f"No.{ctx.rng.randrange(10**7):07d}", 11, align="right", color=(180, 40, 40))
        b.gap(6)
        amount = ctx.rng.randint(3, 60) * 100
        rows = [
            ["交款单位（人）", hh.owner.name],
            ["收款事由", ctx.pick("物业服务费", "装修押金", "停车费")],
            ["金额（大写）", upper_rmb(amount)],
            ["金额（小写）", f"¥{amount:,}.00"],
            ["收款日期", ctx.date(hh.move_in)],
        ]
        b.table(rows, [45, 121], 11, frozenset({0}), value_color=ctx.value_color)
        b.gap(8)
        b.text(b.left, b.y, f"收款单位：{hh.manager}")
        b.add(stamp(ctx, b.left + 60, b.y, hh.manager, "财务专用章"))
        b.text(b.left + 120, b.y, f"收款人：{person_name(ctx.rng, False)}")
        title = "收据"
    else:
        title = ctx.pick("温馨提示", "安全提示")
        header(ctx, b, title)
        b.text(b.left, b.y, "尊敬的业主：")
        b.gap(6)
        for t in (
            "近期天气干燥，请注意用火用电安全，出门前关闭燃气阀门及电源。",
            "请勿在楼道内堆放杂物，保持消防通道畅通。",
            "请勿高空抛物，共同维护小区环境卫生。",
            "如发现可疑人员，请及时联系物业服务中心。",
        ):
            b.paragraph([t])
            b.gap(2)
        b.gap(10)
        b.text(b.right - 55, b.y, f"{hh.estate}物业服务中心")
    return SynthDoc(DocType.OTHER, title, (b.page(),), {})


#: Layout function per document type.
TEMPLATES: dict[DocType, Callable[[Ctx], SynthDoc]] = {
    DocType.OWNER_REGISTRATION: owner_registration,
    DocType.ID_CARD: id_card,
    DocType.PURCHASE_CONTRACT: purchase_contract,
    DocType.LEASE_CONTRACT: lease_contract,
    DocType.MOVE_IN_NOTICE: move_in_notice,
    DocType.HANDOVER_FORM: handover_form,
    DocType.RENOVATION_APPLICATION: renovation_application,
    DocType.FIRE_SAFETY_AGREEMENT: fire_safety_agreement,
    DocType.COMMITMENT_LETTER: commitment_letter,
    DocType.POWER_OF_ATTORNEY: power_of_attorney,
    DocType.OTHER: other,
}


def make_document(doc_type: DocType, rng: random.Random, household: Household | None = None) -> SynthDoc:
    """Lay out one synthetic document of ``doc_type`` with its ground truth."""
    hh = household or make_household(rng)
    family: Family = rng.choice(("sans", "serif", "serif", "hei"))
    ctx = Ctx(
        rng=rng,
        hh=hh,
        family=family,
        size=rng.choice((10.5, 11.0, 11.5, 12.0)),
        sep="：" if rng.random() < 0.85 else ":",
        value_color=INK_BLUE if rng.random() < 0.25 else BLACK,
    )
    return TEMPLATES[doc_type](ctx)
