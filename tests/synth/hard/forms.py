"""Ruled and lined forms filled in by hand: owner registration, handover, renovation (several layouts each).

Each layout is a function ``(ctx) -> HardDoc``. Forms are printed in the
company's typography and filled in by the owner's hand (staff fill the office
parts). Label synonyms, column arrangements, merged cells and the position of
distracting values (填表日期 beside 入住日期, an emergency phone beside the
owner's) vary between layouts; the held-out layouts use words and shapes the
others never use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from schemas.documents import DocType
from tests.synth.fake import company, decimal_value, fmt_phone, fmt_unit, person_name, phone_number
from tests.synth.hard.common import Ctx, header, seal_over, sign
from tests.synth.hard.marks import Seal
from tests.synth.hard.sheet import Cell, HardDoc, HardPage, Sheet, date_blanks, grid, hand_date, label, val
from tests.synth.items import PT_MM, text_width

UNIT = ("building", "unit", "room")


@dataclass(frozen=True)
class Pair:
    """A label and the value written beside (or under) it."""

    label: str
    fields: tuple[str, ...]
    text: str
    wide: bool = False
    kind: str = "value"  # value | digits | options
    choices: tuple[str, ...] = ()
    chosen: int = 0


def pair(lab: str, fields: str | Sequence[str], text: str, **kw: object) -> Pair:
    """Shorthand for a value pair."""
    names = (fields,) if isinstance(fields, str) else tuple(fields)
    return Pair(lab, names, text, **kw)  # type: ignore[arg-type]


def _value_cell(p: Pair, cols: int = 1, rows: int = 1) -> Cell:
    """The value cell of a pair."""
    if p.kind == "options":
        return Cell("", p.fields, "options", cols, rows, p.choices, p.chosen)
    return Cell(p.text, p.fields, p.kind, cols, rows, align="left")


def lr_rows(pairs: Sequence[Pair], *, per_row: int, photo_rows: int = 0) -> tuple[list[float], list[list[Cell]]]:
    """Label | value cells, ``per_row`` pairs a row; wide values take the rest of their row.

    With ``photo_rows``, a photo box spans the first rows in an extra right-hand column.
    """
    total = 170.0
    photo_w = 30.0 if photo_rows else 0.0
    data_w = total - photo_w
    lab_w = 27.0 if per_row == 2 else 38.0
    val_w = (data_w - per_row * lab_w) / per_row
    col_w = [lab_w, val_w] * per_row + ([photo_w] if photo_rows else [])
    rows: list[list[Cell]] = []
    pending: list[Pair] = []

    def flush() -> None:
        if not pending:
            return
        row: list[Cell] = []
        free = per_row * 2 + (1 if photo_rows and len(rows) >= photo_rows else 0)
        for i, p in enumerate(pending):
            row.append(label(p.label))
            last = i == len(pending) - 1
            span = free - 1 if last else 1
            row.append(_value_cell(p, cols=span))
            free -= 1 + span
        if photo_rows and not rows:
            row.append(Cell("粘贴照片处" if photo_rows > 3 else "照片", kind="photo", rows=photo_rows))
        rows.append(row)
        pending.clear()

    for p in pairs:
        if p.wide:
            flush()
            pending.append(p)
            flush()
            continue
        pending.append(p)
        if len(pending) == per_row:
            flush()
    flush()
    return col_w, rows


def above_rows(pairs: Sequence[Pair], *, per_row: int) -> tuple[list[float], list[list[Cell]]]:
    """Labels in a header row, their values in the row under them; wide values span two columns."""
    col_w = [170.0 / per_row] * per_row
    rows: list[list[Cell]] = []
    heads: list[Cell] = []
    values: list[Cell] = []
    used = 0
    for p in pairs:
        span = 2 if p.wide or p.kind == "digits" else 1
        if used + span > per_row:
            heads.append(Cell(kind="blank", cols=per_row - used))
            values.append(Cell(kind="blank", cols=per_row - used))
            rows += [heads, values]
            heads, values, used = [], [], 0
        heads.append(label(p.label, cols=span))
        values.append(_value_cell(p, cols=span))
        used += span
    if heads:
        if used < per_row:
            heads.append(Cell(kind="blank", cols=per_row - used))
            values.append(Cell(kind="blank", cols=per_row - used))
        rows += [heads, values]
    return col_w, rows


def heights(rows: Sequence[Sequence[Cell]], base: float, header_h: float | None = None) -> list[float]:
    """Row heights: label-only rows (headers) lower than value rows."""
    out = []
    for row in rows:
        only_labels = all(c.kind in {"label", "blank", "section"} for c in row)
        out.append((header_h or base * 0.72) if only_labels else base)
    return out


def unit_pairs(ctx: Ctx, *, separate: bool, hand: bool = True) -> list[Pair]:
    """The unit as one value (房号) or as three cells (楼栋 / 单元 / 房号)."""
    u = ctx.hh.unit
    if separate:
        return [
            pair(ctx.pick("楼栋", "栋号", "楼号"), "building", u.building),
            pair(ctx.pick("单元", "单元号"), "unit", u.unit),
            pair(ctx.pick("房号", "室号"), "room", u.room),
        ]
    text = fmt_unit(ctx.rng, u) if hand or ctx.chance(0.5) else f"{ctx.hh.estate}{fmt_unit(ctx.rng, u)}"
    return [pair(ctx.pick("房号", "房屋编号", "所购房号"), UNIT, text)]


def sex_pair(ctx: Ctx, male: bool, *, ticks: bool) -> Pair:
    """性别 as ticked options or a written value."""
    if ticks:
        return Pair("性别", (), "", kind="options", choices=("男", "女"), chosen=0 if male else 1)
    return pair("性别", (), "男" if male else "女")


@dataclass
class FormParts:
    """Things a form layout adds after its grid."""

    extra: dict[str, set[str]] = field(default_factory=dict)

    def mark(self, fields: Sequence[str], cond: str) -> None:
        """Add ``cond`` to every field in ``fields``."""
        for f in fields:
            self.extra.setdefault(f, set()).add(cond)


def _doc(ctx: Ctx, doc_type: DocType, layout: str, pages: list, truth: dict, parts: FormParts, title: str) -> HardDoc:
    """Wrap a finished layout; ``seal_text`` is the arc text of the seals on its pages (one organisation)."""
    seals = sorted({it.text for p in pages for it in p.items if isinstance(it, Seal)})
    assert len(seals) <= 1, seals
    truth = {k: v for k, v in truth.items() if k != "seal_text"} | ({"seal_text": seals[0]} if seals else {})
    return HardDoc(
        doc_type,
        f"{doc_type.value}/{layout}",
        ctx.holdout,
        tuple(pages),
        truth,
        conditions=frozenset(ctx.conditions),
        color=ctx.chance(0.3),
        title=title,
        field_extra={k: frozenset(v) for k, v in parts.extra.items()},
    )


# ================================================================= owner_registration


def _registration_truth(ctx: Ctx) -> dict[str, str]:
    """Fields of an owner registration form."""
    h, o = ctx.hhh, ctx.hhh.owner
    u = ctx.hh.unit
    return {
        "owner_name": o.name,
        "id_number": o.id_number,
        "phone": o.phone,
        "building": u.building,
        "unit": u.unit,
        "room": u.room,
        "move_in_date": ctx.hh.move_in.isoformat(),
        "emergency_contact": h.contact,
        "emergency_phone": h.contact_phone,
    }


def _family_grid(ctx: Ctx, s: Sheet, rows_n: int) -> None:
    """家庭成员 rows: name, relation, birth month, phone (a phone the reader must not take)."""
    rows: list[list[Cell]] = [
        [Cell("家庭成员", kind="section", cols=4)],
        [label("姓名"), label("与业主关系"), label("出生年月"), label("联系电话")],
    ]
    for _ in range(rows_n):
        rows.append(
            [
                val((), person_name(ctx.rng, ctx.chance(0.5))),
                val((), ctx.pick("配偶", "子女", "父亲", "母亲")),
                val((), f"{ctx.rng.randint(1950, 2015)}.{ctx.rng.randint(1, 12)}"),
                val((), phone_number(ctx.rng) if ctx.chance(0.6) else ""),
            ]
        )
    rows += [[val((), "")] * 4 for _ in range(ctx.rng.randint(0, 2))]
    grid(s, [40, 40, 40, 50], heights(rows, 9.5), rows, writer=ctx.owner_hand)


def registration_grid(ctx: Ctx) -> HardDoc:
    """业主入住登记表: label | value grid, photo box over four rows, sex ticked, 填表日期 beside 入住日期."""
    o, h = ctx.hhh.owner, ctx.hhh
    truth = _registration_truth(ctx)
    title = ctx.pick("业主入住登记表", "业主档案登记表", "业主资料登记表")
    s = ctx.sheet()
    header(ctx, s, title)
    s.text(s.left, s.y, f"小区名称：{ctx.hh.estate}")
    s.text(s.right, s.y, f"编号：{ctx.rng.randrange(10**4):04d}", align="right")
    s.gap(5)
    w = ctx.owner_hand
    fill = ctx.hh.move_in - timedelta(days=ctx.rng.randint(1, 20))
    dates = [
        pair(ctx.pick("入住日期", "入住时间", "收楼日期"), "move_in_date", hand_date(ctx.rng, ctx.hh.move_in)),
        pair("填表日期", (), hand_date(ctx.rng, fill)),
    ]
    if ctx.chance(0.5):
        dates.reverse()
    phones = [
        pair(ctx.pick("联系电话", "手机号码"), "phone", fmt_phone(ctx.rng, o.phone)),
        pair(ctx.pick("紧急联系人电话", "紧急联系电话"), "emergency_phone", h.contact_phone),
    ]
    pairs = [
        pair(ctx.pick("业主姓名", "姓名"), "owner_name", o.name),
        sex_pair(ctx, o.male, ticks=True),
        pair(
            ctx.pick("身份证号码", "证件号码"),
            "id_number",
            o.id_number,
            wide=True,
            kind="digits" if ctx.chance(0.4) else "value",
        ),
        phones[0],
        pair("工作单位", (), company(ctx.rng, ctx.pick("科技", "贸易", "建设"))[-8:]),
        *unit_pairs(ctx, separate=ctx.chance(0.3)),
        *dates,
        pair(ctx.pick("紧急联系人", "紧急联络人"), "emergency_contact", h.contact),
        phones[1],
        pair("车牌号码", (), f"{ctx.pick('粤B', '沪A', '京N', '浙A', '川A')}{ctx.rng.randrange(10**5):05d}"),
        pair("备注", (), "", wide=True),
    ]
    col_w, rows = lr_rows(pairs, per_row=2, photo_rows=4 if ctx.chance(0.6) else 0)
    rows.insert(0, [Cell("一、业主基本情况", kind="section", cols=len(col_w))])
    grid(s, col_w, heights(rows, ctx.rng.uniform(10.5, 12.5)), rows, writer=w)
    if ctx.chance(0.3):  # the office's seal lands on the lower right of the table
        s.add(seal_over(ctx, (s.left + 110, s.y - 30, s.left + 165, s.y - 5), ctx.hh.manager, partly=False))
    s.gap(5)
    pages = []
    if ctx.chance(0.35):  # the household details continue overleaf
        pages.append(_continuation(ctx, title))
    else:
        _family_grid(ctx, s, ctx.rng.randint(1, 3))
    s.gap(7)
    s.paragraph("本人承诺以上所填信息真实有效，如有变更将及时通知物业服务中心。")
    s.gap(9)
    sign(ctx, s, s.left, ctx.pick("业主签名", "业主签字"), o.name, "owner_name", thumb=ctx.chance(0.2))
    s.text(s.left + 95, s.y, f"经办人：{person_name(ctx.rng, ctx.chance(0.5))}")
    parts = FormParts()
    parts.mark(["move_in_date"], "distractor")
    parts.mark(["phone", "emergency_phone"], "distractor")
    return _doc(ctx, DocType.OWNER_REGISTRATION, "grid_lr", [s.page(), *pages], truth, parts, title)


def _continuation(ctx: Ctx, title: str) -> HardPage:
    """Page 2 of a registration form: household members, vehicles, pets, the office's check."""
    s = ctx.sheet()
    s.text(s.left, s.y, f"{title}（续）", ctx.size + 1, bold=True)
    s.gap(8)
    _family_grid(ctx, s, ctx.rng.randint(2, 4))
    s.gap(6)
    rows = [
        [Cell("车辆及宠物", kind="section", cols=4)],
        [label("车牌号"), label("车位号"), label("宠物"), label("犬证号")],
        [
            val((), f"{ctx.pick('粤B', '沪A', '浙A', '川A')}{ctx.rng.randrange(10**5):05d}"),
            val((), f"B{ctx.rng.randint(1, 400)}"),
            val((), ctx.pick("无", "犬", "猫")),
            val((), ""),
        ],
    ]
    grid(s, [42.5] * 4, [8, 8, 11], rows, writer=ctx.owner_hand)
    s.gap(10)
    s.text(s.left, s.y, "物业审核意见：")
    s.write(ctx.staff_hand, s.left + 32, s.y, ctx.pick("资料齐全", "已核对", "同意入住"))
    s.gap(10)
    s.text(s.left + 95, s.y, f"审核人：{person_name(ctx.rng, ctx.chance(0.5))}")
    return s.page()


def registration_above(ctx: Ctx) -> HardDoc:
    """业主信息登记表: labels in a header row, handwritten values under them; address across columns."""
    o, h = ctx.hhh.owner, ctx.hhh
    truth = _registration_truth(ctx)
    title = ctx.pick("业主信息登记表", "住户登记表", "业主入住登记表")
    s = ctx.sheet()
    header(ctx, s, title)
    s.gap(2)
    w = ctx.owner_hand
    u = ctx.hh.unit
    fill = ctx.hh.move_in - timedelta(days=ctx.rng.randint(0, 12))
    first = [
        pair(ctx.pick("户主姓名", "业主姓名"), "owner_name", o.name),
        sex_pair(ctx, o.male, ticks=ctx.chance(0.5)),
        pair("民族", (), o.ethnicity),
        pair(ctx.pick("联系电话", "本人电话"), "phone", o.phone),
    ]
    second = [
        pair(ctx.pick("身份证号码", "证件号码"), "id_number", o.id_number, wide=True),
        pair("楼栋", "building", u.building),
        pair("单元-房号", ("unit", "room"), f"{u.unit}-{u.room}"),
    ]
    third = [
        pair(ctx.pick("入住日期", "入住时间"), "move_in_date", hand_date(ctx.rng, ctx.hh.move_in)),
        pair("登记日期", (), hand_date(ctx.rng, fill)),
        pair(ctx.pick("紧急联系人", "联系人"), "emergency_contact", h.contact),
        pair(ctx.pick("联系人电话", "紧急电话"), "emergency_phone", h.contact_phone),
    ]
    if ctx.chance(0.5):
        third = [third[2], third[3], third[1], third[0]]
    col_w, rows = above_rows([*first, *second, *third], per_row=4)
    rows.insert(0, [Cell("业主基本信息", kind="section", cols=4)])
    rows.append([label("户籍地址"), val((), o.address, cols=3)])
    grid(s, col_w, heights(rows, ctx.rng.uniform(11, 13)), rows, writer=w)
    s.gap(6)
    _family_grid(ctx, s, ctx.rng.randint(1, 4))
    s.gap(6)
    rows = [
        [Cell("车辆信息", kind="section", cols=4)],
        [label("车牌号"), label("车型"), label("颜色"), label("车位号")],
        [
            val((), f"{ctx.pick('粤B', '沪A', '浙A')}{ctx.rng.randrange(10**5):05d}"),
            val((), ctx.pick("轿车", "SUV")),
            val((), ctx.pick("白", "黑", "银灰")),
            val((), f"B{ctx.rng.randint(1, 400)}"),
        ],
    ]
    grid(s, [42.5] * 4, [8, 8, 10], rows, writer=w)
    s.gap(9)
    sign(ctx, s, s.left, "业主（签字）", o.name, "owner_name", thumb=ctx.chance(0.3))
    s.text(s.left + 100, s.y, f"物业接待人：{person_name(ctx.rng, ctx.chance(0.5))}")
    parts = FormParts()
    parts.mark(["move_in_date"], "distractor")
    parts.mark(["emergency_phone", "phone"], "distractor")
    return _doc(ctx, DocType.OWNER_REGISTRATION, "grid_above", [s.page()], truth, parts, title)


def registration_lines(ctx: Ctx) -> HardDoc:
    """业主档案表 printed as lines to fill in: underlined values, ID in 18 digit boxes, date in blanks."""
    o, h = ctx.hhh.owner, ctx.hhh
    truth = _registration_truth(ctx)
    title = ctx.pick("业主档案表", "业主资料卡", "业主入住登记表")
    s = ctx.sheet()
    header(ctx, s, title)
    w = ctx.owner_hand
    s.gap(4)
    pitch = ctx.rng.uniform(12, 14)
    mid = s.left + 88
    s.labelled(s.left, ctx.pick("业主姓名", "姓　　名"), "owner_name", o.name, writer=w, underline_to=mid - 6)
    s.text(mid, s.y, "性别：")
    s.options(mid + 13, s.y, ("男", "女"), 0 if o.male else 1, (), w)
    s.gap(pitch)
    s.text(s.left, s.y, ctx.pick("身份证号码：", "证件号码："))
    s.digit_boxes(s.left + 28, s.y, "id_number", o.id_number, w, cell=ctx.rng.uniform(5.6, 6.6))
    s.gap(pitch)
    s.labelled(
        s.left,
        ctx.pick("房屋坐落", "房号"),
        UNIT,
        f"{ctx.hh.estate}{fmt_unit(ctx.rng, ctx.hh.unit)}" if ctx.chance(0.4) else fmt_unit(ctx.rng, ctx.hh.unit),
        writer=w,
        underline_to=s.right,
    )
    s.gap(pitch)
    phone_first = ctx.chance(0.5)
    a = ("手机", "phone", o.phone)
    b = ("紧急联系人电话", "emergency_phone", h.contact_phone)
    for i, (lab, f, v) in enumerate((a, b) if phone_first else (b, a)):
        s.labelled(s.left + i * 88, lab, f, v, writer=w, underline_to=s.left + i * 88 + 80)
    s.gap(pitch)
    s.labelled(
        s.left, ctx.pick("紧急联系人", "紧急联络人"), "emergency_contact", h.contact, writer=w, underline_to=mid - 6
    )
    s.labelled(mid, "与业主关系", (), ctx.pick("配偶", "父亲", "母亲", "朋友", "子女"), writer=w, underline_to=s.right)
    s.gap(pitch)
    dates = [
        (ctx.pick("入住日期", "入伙日期", "入住时间"), "move_in_date", ctx.hh.move_in),
        ("填表日期", (), ctx.hh.move_in - timedelta(days=ctx.rng.randint(0, 10))),
    ]
    if ctx.chance(0.5):
        dates.reverse()
    for lab, f, d in dates:
        s.text(s.left, s.y, f"{lab}：")
        date_blanks(s, s.left + text_width(lab + "：", s.size) + 2, s.y, d, f, w)
        s.gap(pitch)
    s.text(s.left, s.y, "家庭常住人员：")
    members = "、".join(person_name(ctx.rng, ctx.chance(0.5)) for _ in range(ctx.rng.randint(1, 3)))
    s.write(w, s.left + 32, s.y, members)
    s.hline(s.left + 30, s.right, s.y + s.size * PT_MM * 0.75)
    s.gap(pitch + 4)
    s.paragraph(
        "以上信息仅用于物业管理服务，本物业服务中心负责保密。业主信息如有变动，请及时到物业服务中心办理变更手续。",
        size=s.size - 1,
    )
    s.gap(10)
    sign(ctx, s, s.left + 90, "业主签名", o.name, "owner_name", thumb=ctx.chance(0.35))
    parts = FormParts()
    parts.mark(["move_in_date"], "distractor")
    parts.mark(["phone", "emergency_phone"], "distractor")
    return _doc(ctx, DocType.OWNER_REGISTRATION, "lines", [s.page()], truth, parts, title)


def registration_holdout(ctx: Ctx) -> HardDoc:
    """业主资料卡 (held out): one tall two-column table, unit first, 产权人 / 入伙日期 / 联络人 wording."""
    o, h = ctx.hhh.owner, ctx.hhh
    u = ctx.hh.unit
    truth = _registration_truth(ctx)
    title = ctx.pick("产权人资料卡", "住户资料卡")
    s = ctx.sheet()
    s.title(title, 18, after=2)
    s.text(s.right, s.y, f"卡号：{ctx.rng.randrange(10**5):05d}", 9.5, align="right")
    s.gap(5)
    w = ctx.owner_hand
    card = ctx.hh.move_in - timedelta(days=ctx.rng.randint(0, 8))
    rows = [
        [label("物业地址"), val((), ctx.hh.estate, cols=3)],
        [label("幢"), val("building", u.building), label("单元/室"), val(("unit", "room"), f"{u.unit}/{u.room}")],
        [
            label("填卡日期"),
            val((), hand_date(ctx.rng, card)),
            label("入伙日期"),
            val("move_in_date", hand_date(ctx.rng, ctx.hh.move_in)),
        ],
        [Cell("产权人", kind="section", cols=4)],
        [label("产权人姓名"), val("owner_name", o.name), label("出生年月"), val((), f"{o.birth.year}.{o.birth.month}")],
        [label("有效证件号"), Cell(o.id_number, ("id_number",), "digits", cols=3, align="left")],
        [label("移动电话"), val("phone", o.phone), label("固定电话"), val((), "")],
        [Cell("紧急情况联络", kind="section", cols=4)],
        [
            label("联络人"),
            val("emergency_contact", h.contact),
            label("联络电话"),
            val("emergency_phone", h.contact_phone),
        ],
        [label("服务需求"), Cell("", (), "options", cols=3, choices=("保洁", "维修", "家政", "无"), chosen=3)],
        [label("物业意见"), val((), "", cols=3)],
    ]
    grid(s, [30, 55, 28, 57], heights(rows, ctx.rng.uniform(11, 13), 8), rows, writer=w)
    s.gap(10)
    sign(ctx, s, s.left, "产权人签章", o.name, "owner_name", thumb=ctx.chance(0.5))
    box = s.text(s.left + 100, s.y, f"受理：{ctx.hh.estate}客服中心")
    if ctx.chance(0.5):
        s.add(seal_over(ctx, box, ctx.hh.manager))
    parts = FormParts()
    parts.mark(["move_in_date"], "distractor")
    return _doc(ctx, DocType.OWNER_REGISTRATION, "holdout_card", [s.page()], truth, parts, title)


# ================================================================= handover_form


def _handover_truth(ctx: Ctx, water: str, power: str) -> dict[str, str]:
    """Fields of a handover form."""
    u = ctx.hh.unit
    return {
        "owner_name": ctx.hhh.owner.name,
        "building": u.building,
        "unit": u.unit,
        "room": u.room,
        "handover_date": ctx.hh.move_in.isoformat(),
        "water_meter": water,
        "electricity_meter": power,
    }


def _meters(ctx: Ctx) -> tuple[str, str, str]:
    """Water, electricity and gas readings."""
    return (
        decimal_value(ctx.rng, 0.5, 60, ctx.rng.choice((0, 1, 2))),
        decimal_value(ctx.rng, 1, 400, ctx.rng.choice((0, 1, 2))),
        decimal_value(ctx.rng, 0.1, 9, ctx.rng.choice((1, 2))),
    )


def _checklist(ctx: Ctx, s: Sheet, *, columns: bool) -> None:
    """验收项目 rows with ticks (in 合格/不合格 columns, or written in one column)."""
    items = ("入户门", "门窗及玻璃", "墙面", "地面", "天花", "厨房", "卫生间", "给排水", "强弱电", "对讲门铃")
    chosen = ctx.rng.sample(items, ctx.rng.randint(6, len(items)))
    if columns:
        rows: list[list[Cell]] = [[label("验收项目"), label("合格"), label("不合格"), label("整改意见")]]
        for it in chosen:
            bad = ctx.chance(0.12)
            rows.append([label(it), Cell(kind="blank"), Cell(kind="blank"), val((), "漏水" if bad else "")])
        top = s.y
        grid(s, [40, 25, 25, 80], [9] + [8.2] * (len(rows) - 1), rows, writer=ctx.staff_hand)
        from tests.synth.hard.marks import Tick

        for i, _ in enumerate(chosen):
            col = 40 + 25 * (1 if ctx.rng.random() > 0.12 else 2) - 12.5
            cy = top + 9 + 8.2 * i + 4.1
            s.add(Tick(s.left + col, cy, 4.5, ctx.seed(), ctx.pick("check", "root"), ctx.staff_hand.color))
    else:
        rows = [[label("验收项目"), label("验收情况"), label("备注")]]
        for it in chosen:
            rows.append([label(it), val((), ctx.pick("√ 合格", "√", "合格", "完好")), val((), "")])
        grid(s, [40, 60, 70], [9] + [8.2] * (len(rows) - 1), rows, writer=ctx.staff_hand)


def handover_grid(ctx: Ctx) -> HardDoc:
    """房屋交接验收表: owner/unit/date grid, a meter table (gas beside water/electricity), a ticked checklist."""
    water, power, gas = _meters(ctx)
    truth = _handover_truth(ctx, water, power)
    title = ctx.pick("房屋交接验收表", "收楼验收表", "房屋交付验收单")
    s = ctx.sheet()
    header(ctx, s, title)
    w = ctx.owner_hand
    o = ctx.hhh.owner
    recheck = ctx.hh.move_in + timedelta(days=ctx.rng.randint(5, 30))
    pairs = [
        pair(ctx.pick("业主姓名", "业主"), "owner_name", o.name),
        pair("联系电话", (), fmt_phone(ctx.rng, o.phone)),
        *unit_pairs(ctx, separate=ctx.chance(0.3)),
        pair(ctx.pick("交接日期", "收楼日期", "交房日期"), "handover_date", hand_date(ctx.rng, ctx.hh.move_in)),
        pair("钥匙数量", (), f"{ctx.rng.randint(2, 6)}把"),
    ]
    col_w, rows = lr_rows(pairs, per_row=2)
    grid(s, col_w, ctx.rng.uniform(10.5, 12), rows, writer=w)
    s.gap(5)
    wunit, punit = ctx.pick("吨", "m³", "立方"), ctx.pick("度", "kWh")
    meter_rows = [
        [Cell("水电气表底数", kind="section", cols=4)],
        [label("表具"), label("表号"), label("底数"), label("单位")],
        [label("水表"), val((), f"{ctx.rng.randrange(10**8):08d}"), val("water_meter", water), label(wunit)],
        [label("电表"), val((), f"{ctx.rng.randrange(10**10):010d}"), val("electricity_meter", power), label(punit)],
        [label("燃气表"), val((), f"{ctx.rng.randrange(10**8):08d}"), val((), gas), label("m³")],
    ]
    if ctx.chance(0.5):
        meter_rows[2], meter_rows[4] = meter_rows[4], meter_rows[2]
    grid(s, [34, 56, 48, 32], [8, 8, 10.5, 10.5, 10.5], meter_rows, writer=ctx.staff_hand if ctx.chance(0.5) else w)
    if ctx.chance(0.3):  # stamped over the readings
        s.add(seal_over(ctx, (s.left + 90, s.y - 25, s.left + 140, s.y - 5), ctx.hh.manager, partly=False))
    s.gap(5)
    _checklist(ctx, s, columns=ctx.chance(0.6))
    s.gap(6)
    s.paragraph(
        "以上房屋及设施经双方现场验收，确认无误。整改项目复查日期：" + hand_date(ctx.rng, recheck) + "。",
        size=s.size - 0.5,
    )
    s.gap(9)
    sign(ctx, s, s.left, ctx.pick("业主签字", "业主（签字）"), o.name, "owner_name", thumb=ctx.chance(0.3))
    box = s.text(s.left + 95, s.y, f"物业验收人：{person_name(ctx.rng, ctx.chance(0.5))}")
    if ctx.chance(0.4):
        s.add(seal_over(ctx, box, ctx.hh.manager))
    parts = FormParts()
    parts.mark(["water_meter", "electricity_meter"], "distractor")
    return _doc(ctx, DocType.HANDOVER_FORM, "grid_meters", [s.page()], truth, parts, title)


def handover_confirm(ctx: Ctx) -> HardDoc:
    """水电表底数确认单: one header row of labels over one row of handwritten readings, twice per page."""
    water, power, gas = _meters(ctx)
    truth = _handover_truth(ctx, water, power)
    title = ctx.pick("水电表底数确认单", "水电气表读数确认单")
    s = ctx.sheet()
    header(ctx, s, title)
    w = ctx.staff_hand
    u = ctx.hh.unit
    o = ctx.hhh.owner
    cells_a = [
        pair("房号", UNIT, f"{u.building}-{u.unit}-{u.room}"),
        pair(ctx.pick("业主", "业主姓名"), "owner_name", o.name),
        pair(ctx.pick("抄表日期", "确认日期", "交接日期"), "handover_date", hand_date(ctx.rng, ctx.hh.move_in)),
    ]
    cells_b = [
        pair(ctx.pick("水表底数(吨)", "冷水表读数"), "water_meter", water),
        pair("燃气表底数", (), gas),
        pair(ctx.pick("电表底数(度)", "电表读数"), "electricity_meter", power),
    ]
    if ctx.chance(0.5):
        cells_b = [cells_b[2], cells_b[0], cells_b[1]]
    col_w, rows = above_rows([*cells_a, *cells_b], per_row=3)
    grid(s, col_w, heights(rows, 13, 9), rows, writer=w)
    s.gap(8)
    s.paragraph("业主确认以上表具读数无误，自确认之日起产生的水、电、燃气费用由业主承担。")
    s.gap(10)
    sign(ctx, s, s.left, "业主确认签字", o.name, "owner_name", thumb=ctx.chance(0.4))
    s.text(s.left + 95, s.y, f"抄表人：{person_name(ctx.rng, ctx.chance(0.5))}")
    s.gap(16)
    s.text(s.left, s.y, "钥匙移交：")
    s.options(s.left + 24, s.y, ("入户门", "信箱", "电表箱", "门禁卡"), ctx.rng.randrange(4), (), ctx.staff_hand)
    parts = FormParts()
    parts.mark(["water_meter", "electricity_meter"], "distractor")
    return _doc(ctx, DocType.HANDOVER_FORM, "confirm_above", [s.page()], truth, parts, title)


def handover_lines(ctx: Ctx) -> HardDoc:
    """收楼单: printed sentences with blanks; readings and the date handwritten on the underlines."""
    water, power, gas = _meters(ctx)
    truth = _handover_truth(ctx, water, power)
    title = ctx.pick("收楼单", "房屋交接书", "收楼确认书")
    s = ctx.sheet()
    header(ctx, s, title)
    w = ctx.owner_hand
    o = ctx.hhh.owner
    s.gap(4)
    s.labelled(s.left, "业主", "owner_name", o.name, writer=w, underline_to=s.left + 70)
    s.labelled(s.left + 90, "房号", UNIT, fmt_unit(ctx.rng, ctx.hh.unit), writer=w, underline_to=s.right)
    s.gap(13)
    s.paragraph(f"本人已于下列日期在{ctx.hh.estate}物业服务中心办理收楼手续，领取钥匙并对房屋进行了验收：", indent=0)
    s.gap(4)
    s.text(s.left + 8, s.y, ctx.pick("收楼日期：", "交接日期："))
    date_blanks(s, s.left + 32, s.y, ctx.hh.move_in, "handover_date", w)
    s.gap(13)
    em = s.size * PT_MM
    for lab, f, v, unit in (
        ("水表读数", "water_meter", water, ctx.pick("吨", "m³")),
        ("电表读数", "electricity_meter", power, "度"),
        ("燃气表读数", (), gas, "m³"),
    ):
        x = s.left + 8
        s.text(x, s.y, f"{lab}：")
        x += text_width(f"{lab}：", s.size) + 1
        s.hline(x, x + 32, s.y + em * 0.75)
        s.value(f, x + 4, s.y, v, writer=ctx.staff_hand)
        s.text(x + 34, s.y, unit)
        s.gap(11)
    s.gap(2)
    s.paragraph("房屋存在问题：", indent=0)
    s.write(w, s.left + 30, s.y - 4, ctx.pick("无", "卫生间墙砖空鼓", "次卧窗户关不严", "无明显问题"))
    s.hline(s.left + 28, s.right, s.y - 4 + em * 0.75)
    s.gap(6)
    s.paragraph("业主自收楼之日起承担物业服务费，房屋存在的质量问题按保修规定处理。", size=s.size - 0.5)
    s.gap(12)
    sign(ctx, s, s.left, "业主签名", o.name, "owner_name", thumb=ctx.chance(0.5))
    s.gap(12)
    box = s.text(s.left + 90, s.y, f"{ctx.hh.estate}物业服务中心")
    s.add(seal_over(ctx, box, ctx.hh.manager))
    parts = FormParts()
    parts.mark(["water_meter", "electricity_meter"], "distractor")
    return _doc(ctx, DocType.HANDOVER_FORM, "lines_blanks", [s.page()], truth, parts, title)


def handover_holdout(ctx: Ctx) -> HardDoc:
    """房屋移交确认书 (held out): meters as columns, 接房人 / 移交日期 wording, readings with decimals."""
    water, power, gas = _meters(ctx)
    truth = _handover_truth(ctx, water, power)
    title = "房屋移交确认书"
    s = ctx.sheet()
    s.title(title, 19, after=4)
    w = ctx.owner_hand
    u = ctx.hh.unit
    o = ctx.hhh.owner
    rows = [
        [
            label("移交房屋"),
            val(UNIT, f"{u.building}幢{u.unit}单元{u.room}", cols=2),
            label("接房人"),
            val("owner_name", o.name),
        ],
        [
            label("移交日期"),
            val("handover_date", hand_date(ctx.rng, ctx.hh.move_in), cols=2),
            label("陪同人员"),
            val((), person_name(ctx.rng, ctx.chance(0.5))),
        ],
        [Cell("计量表具", kind="section", cols=5)],
        [label("项目"), label("冷水表"), label("电度表"), label("天然气表"), label("热水表")],
        [label("读数"), val("water_meter", water), val("electricity_meter", power), val((), gas), val((), "/")],
        [
            label("表号"),
            val((), f"{ctx.rng.randrange(10**6):06d}"),
            val((), f"{ctx.rng.randrange(10**8):08d}"),
            val((), f"{ctx.rng.randrange(10**6):06d}"),
            val((), ""),
        ],
    ]
    grid(s, [30, 35, 35, 35, 35], heights(rows, 12, 8.5), rows, writer=w)
    s.gap(6)
    _checklist(ctx, s, columns=True)
    s.gap(10)
    sign(ctx, s, s.left, "接房人签字", o.name, "owner_name", thumb=True)
    box = s.text(s.left + 100, s.y, "移交单位（章）")
    s.add(seal_over(ctx, box, ctx.hh.manager, partly=False))
    parts = FormParts()
    parts.mark(["water_meter", "electricity_meter"], "distractor")
    return _doc(ctx, DocType.HANDOVER_FORM, "holdout_transfer", [s.page()], truth, parts, title)


# ================================================================= renovation_application


def _renovation_truth(ctx: Ctx) -> dict[str, str]:
    """Fields of a renovation application."""
    u = ctx.hh.unit
    start, end = ctx.hhh.renovation
    return {
        "owner_name": ctx.hhh.owner.name,
        "building": u.building,
        "unit": u.unit,
        "room": u.room,
        "contractor": ctx.hhh.contractor,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
    }


def _approval(ctx: Ctx, s: Sheet, applied: date) -> None:
    """物业审批意见 with the manager's seal over the approval date."""
    s.text(s.left, s.y, "物业服务中心审批意见：")
    s.write(ctx.staff_hand, s.left + 48, s.y, ctx.pick("同意", "同意施工", "同意，请按规定施工"))
    s.gap(10)
    box = s.text(s.left + 100, s.y, f"日期：{hand_date(ctx.rng, applied + timedelta(days=ctx.rng.randint(1, 3)))}")
    s.add(seal_over(ctx, box, ctx.hh.manager))


def renovation_grid(ctx: Ctx) -> HardDoc:
    """装修申请表: label | value grid with contractor, works period and 申请日期 (distractor)."""
    truth = _renovation_truth(ctx)
    start, end = ctx.hhh.renovation
    applied = start - timedelta(days=ctx.rng.randint(2, 9))
    title = ctx.pick("装修申请表", "房屋装修申请表", "装修施工申请表")
    s = ctx.sheet()
    header(ctx, s, title)
    o = ctx.hhh.owner
    dates = [
        pair(ctx.pick("开工日期", "计划开工日期"), "start_date", hand_date(ctx.rng, start)),
        pair(ctx.pick("完工日期", "竣工日期", "预计完工日期"), "end_date", hand_date(ctx.rng, end)),
    ]
    pairs = [
        pair(ctx.pick("申请人", "业主姓名"), "owner_name", o.name),
        pair("联系电话", (), fmt_phone(ctx.rng, o.phone)),
        *unit_pairs(ctx, separate=ctx.chance(0.3)),
        pair(ctx.pick("装修单位", "施工单位"), "contractor", ctx.hhh.contractor, wide=True),
        pair("施工负责人", (), person_name(ctx.rng, True)),
        pair("负责人电话", (), phone_number(ctx.rng)),
        *dates,
        pair("申请日期", (), hand_date(ctx.rng, applied)),
        pair("装修押金", (), f"{ctx.rng.choice((1000, 2000, 3000))}元"),
    ]
    col_w, rows = lr_rows(pairs, per_row=2)
    rows.append([label("装修内容"), val((), ctx.pick("墙面刷漆、铺地板、厨卫改造", "吊顶、墙面、橱柜安装"), cols=3)])
    grid(s, col_w, ctx.rng.uniform(10.5, 12.5), rows, writer=ctx.owner_hand)
    s.gap(6)
    s.paragraph(
        "申请人承诺：严格遵守《住宅室内装饰装修管理办法》及本小区装修管理规定，不拆改承重结构，不改变外立面，"
        "施工时间为每日8:00-12:00、14:00-18:00，装修垃圾袋装后运至指定地点。"
    )
    s.gap(9)
    sign(ctx, s, s.left, "申请人签字", o.name, "owner_name", thumb=ctx.chance(0.2))
    s.gap(12)
    _approval(ctx, s, applied)
    parts = FormParts()
    parts.mark(["start_date"], "distractor")
    return _doc(ctx, DocType.RENOVATION_APPLICATION, "grid_lr", [s.page()], truth, parts, title)


def renovation_period(ctx: Ctx) -> HardDoc:
    """装修登记表: header-above grid, then 装修期限 自 ____年__月__日 至 ____年__月__日 handwritten."""
    truth = _renovation_truth(ctx)
    start, end = ctx.hhh.renovation
    applied = start - timedelta(days=ctx.rng.randint(2, 9))
    title = ctx.pick("装修登记表", "装修报建登记表")
    s = ctx.sheet()
    header(ctx, s, title)
    o = ctx.hhh.owner
    u = ctx.hh.unit
    pairs = [
        pair("业主", "owner_name", o.name),
        pair("楼栋", "building", u.building),
        pair("单元", "unit", u.unit),
        pair("房号", "room", u.room),
        pair(ctx.pick("施工单位", "装修公司"), "contractor", ctx.hhh.contractor, wide=True),
        pair("现场负责人", (), person_name(ctx.rng, True)),
        pair("登记日期", (), hand_date(ctx.rng, applied)),
    ]
    col_w, rows = above_rows(pairs, per_row=4)
    grid(s, col_w, heights(rows, 12, 8.5), rows, writer=ctx.owner_hand)
    s.gap(9)
    s.text(s.left, s.y, "装修期限：自")
    x = date_blanks(s, s.left + 27, s.y, start, "start_date", ctx.owner_hand)
    s.text(x + 1, s.y, "起")
    s.gap(11)
    s.text(s.left + 17, s.y, "至")
    x = date_blanks(s, s.left + 27, s.y, end, "end_date", ctx.owner_hand)
    s.text(x + 1, s.y, "止")
    s.gap(10)
    s.text(s.left, s.y, "装修项目：")
    s.options(
        s.left + 22, s.y, ("水电改造", "墙面", "地面", "吊顶", "门窗", "其他"), ctx.rng.randrange(6), (), ctx.owner_hand
    )
    s.gap(10)
    s.paragraph("业主及施工单位保证遵守装修管理规定，如有违反，愿接受物业服务中心的处理并承担相应责任。")
    s.gap(10)
    sign(ctx, s, s.left, "业主签字", o.name, "owner_name", thumb=ctx.chance(0.3))
    s.text(s.left + 95, s.y, "施工单位负责人：")
    s.gap(14)
    _approval(ctx, s, applied)
    parts = FormParts()
    parts.mark(["start_date"], "distractor")
    return _doc(ctx, DocType.RENOVATION_APPLICATION, "grid_period", [s.page()], truth, parts, title)


def renovation_pledge(ctx: Ctx) -> HardDoc:
    """装修责任书: agreement text with handwritten blanks for the owner, unit, contractor and period."""
    truth = _renovation_truth(ctx)
    start, end = ctx.hhh.renovation
    title = ctx.pick("装修管理责任书", "装修责任书")
    s = ctx.sheet()
    header(ctx, s, title)
    o = ctx.hhh.owner
    w = ctx.owner_hand
    s.labelled(s.left, "甲方（物业）", (), ctx.hh.manager)
    s.gap(10)
    s.labelled(s.left, "乙方（业主）", "owner_name", o.name, writer=w, underline_to=s.left + 75)
    s.labelled(s.left + 85, "房号", UNIT, fmt_unit(ctx.rng, ctx.hh.unit), writer=w, underline_to=s.right)
    s.gap(10)
    s.labelled(s.left, "丙方（施工单位）", "contractor", ctx.hhh.contractor, writer=w, underline_to=s.right)
    s.gap(9)
    s.paragraph(
        "为加强住宅室内装饰装修管理，保证装修工程质量和安全，根据《住宅室内装饰装修管理办法》，三方签订本责任书。"
    )
    s.gap(3)
    s.text(s.left, s.y, "一、装修期限自")
    x = date_blanks(s, s.left + 31, s.y, start, "start_date", w)
    s.text(x, s.y, "起至")
    s.gap(10)
    x = date_blanks(s, s.left + 8, s.y, end, "end_date", w)
    s.text(x, s.y, "止，如需延期须书面申请。")
    s.gap(8)
    for t in (
        "二、装修过程中不得拆改承重墙、梁、柱，不得改变外立面，不得擅自改动燃气管道和消防设施。",
        "三、装修垃圾应袋装后堆放到指定地点，不得从楼上抛掷，不得堵塞公共通道。",
        "四、丙方施工人员须办理出入证，遵守小区管理规定。",
        "五、因装修造成公共设施或他人财产损失的，由乙方和丙方承担赔偿责任。",
    ):
        s.paragraph(t, indent=0)
        s.gap(1.5)
    s.gap(12)
    box = s.text(s.left, s.y, "甲方（盖章）：")
    s.add(seal_over(ctx, (box[0] + 25, box[1], box[2] + 25, box[3]), ctx.hh.manager, partly=False))
    sign(ctx, s, s.left + 60, "乙方", o.name, "owner_name", thumb=ctx.chance(0.5))
    s.text(s.left + 120, s.y, "丙方（盖章）：")
    s.gap(16)
    s.text(s.left + 60, s.y, f"日期：{hand_date(ctx.rng, start - timedelta(days=ctx.rng.randint(2, 7)))}")
    parts = FormParts()
    return _doc(ctx, DocType.RENOVATION_APPLICATION, "pledge_blanks", [s.page()], truth, parts, title)


def renovation_holdout(ctx: Ctx) -> HardDoc:
    """室内装饰装修登记表 (held out): 施工队伍 / 进场日期 / 撤场日期 wording, owner and unit at the bottom."""
    truth = _renovation_truth(ctx)
    start, end = ctx.hhh.renovation
    u = ctx.hh.unit
    o = ctx.hhh.owner
    title = "室内装饰装修登记表"
    s = ctx.sheet()
    s.title(title, 18, after=4)
    w = ctx.owner_hand
    rows = [
        [Cell("施工方", kind="section", cols=4)],
        [label("施工队伍"), val("contractor", ctx.hhh.contractor, cols=3)],
        [
            label("资质等级"),
            val((), ctx.pick("贰级", "叁级", "/")),
            label("施工人数"),
            val((), str(ctx.rng.randint(2, 9))),
        ],
        [
            label("进场日期"),
            val("start_date", hand_date(ctx.rng, start)),
            label("撤场日期"),
            val("end_date", hand_date(ctx.rng, end)),
        ],
        [Cell("房屋及产权人", kind="section", cols=4)],
        [label("房屋"), val(UNIT, f"{ctx.hh.estate}{u.building}#{u.unit}-{u.room}", cols=3)],
        [label("产权人"), val("owner_name", o.name), label("联系方式"), val((), o.phone)],
        [
            label("装修项目"),
            Cell("", (), "options", cols=3, choices=("水电", "泥瓦", "木工", "油漆"), chosen=ctx.rng.randrange(4)),
        ],
    ]
    grid(s, [30, 55, 30, 55], heights(rows, 12, 8.5), rows, writer=w)
    s.gap(10)
    sign(ctx, s, s.left, "产权人", o.name, "owner_name", thumb=ctx.chance(0.5))
    s.gap(12)
    _approval(ctx, s, start - timedelta(days=3))
    return _doc(ctx, DocType.RENOVATION_APPLICATION, "holdout_register", [s.page()], truth, FormParts(), title)
