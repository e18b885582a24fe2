"""Letters and short agreements: move-in notice, fire-safety agreement, commitment letter, power of attorney.

Names are often only in a handwritten signature (under a thumbprint), dates in
handwritten blanks under the company seal, and a second date (a receipt, a
form date) sits close to the one that matters.
"""

from __future__ import annotations

from datetime import date, timedelta

from schemas.documents import DocType
from tests.synth.fake import fmt_phone, fmt_unit, fmt_unit_prose
from tests.synth.hard.common import Ctx, header, seal_over, sign, thumbprint_over
from tests.synth.hard.flow import Flow, run
from tests.synth.hard.forms import UNIT, FormParts, _doc, above_rows, heights, lr_rows, pair
from tests.synth.hard.sheet import Cell, HardDoc, Sheet, date_blanks, grid, hand_date, label, val
from tests.synth.items import PT_MM, Line, text_width
from tests.synth.templates import FIRE_CLAUSES


def _unit_truth(ctx: Ctx) -> dict[str, str]:
    """building / unit / room."""
    u = ctx.hh.unit
    return {"building": u.building, "unit": u.unit, "room": u.room}


def _cn_date(d: date) -> str:
    """2019年10月18日."""
    return f"{d.year}年{d.month}月{d.day}日"


def _sealed_date(
    ctx: Ctx, s: Sheet, x: float, d: date, field: str | tuple[str, ...], *, org: str, printed: bool = True
) -> None:
    """The organisation's name and a date with its seal stamped over the date."""
    s.text(x, s.y, org)
    s.gap(9)
    if printed:
        box = s.value(field, x + 6, s.y, _cn_date(d) if ctx.chance(0.7) else f"{d:%Y.%m.%d}")
    else:
        end = date_blanks(s, x + 4, s.y, d, field, ctx.staff_hand)
        box = (x + 4, s.y - 3, end, s.y + 3)
    s.add(seal_over(ctx, box, ctx.hh.manager))


# ================================================================= move_in_notice


def _notice_doc(ctx: Ctx, layout: str, pages: list, notice: date, title: str) -> HardDoc:
    """Truth of a move-in notice (its receipt or confirmation date sits near the notice date)."""
    parts = FormParts()
    parts.mark(["notice_date"], "distractor")
    truth = {"owner_name": ctx.hhh.owner.name, **_unit_truth(ctx), "notice_date": notice.isoformat()}
    return _doc(ctx, DocType.MOVE_IN_NOTICE, layout, pages, truth, parts, title)


def _notice_dates(ctx: Ctx) -> tuple[date, date, date, date]:
    """Notice date, handover window start and end, receipt date."""
    notice = ctx.hh.move_in - timedelta(days=ctx.rng.randint(10, 40))
    frm = notice + timedelta(days=ctx.rng.randint(7, 20))
    to = frm + timedelta(days=ctx.rng.randint(10, 30))
    return notice, frm, to, notice + timedelta(days=ctx.rng.randint(2, 9))


def _notice_body(ctx: Ctx, flow: Flow, frm: date, to: date, unit_run: list) -> None:
    """The letter text: the unit, the handover window, what to bring."""
    flow.para(
        [
            "您好！您所购买的",
            ctx.hh.estate,
            *unit_run,
            "已竣工验收合格，具备交付使用条件。现通知您于",
            _cn_date(frm),
            "至",
            _cn_date(to),
            "期间，携带本通知书及相关资料到物业服务中心办理入住手续。",
        ]
    )
    flow.para(
        [
            "办理入住手续时请携带：一、本入住通知书；二、商品房买卖合同；三、业主身份证原件及复印件；"
            "四、委托他人办理的，须提供委托书及受托人身份证。"
        ]
    )
    flow.para(["逾期未办理入住手续的，视为您已接收该房屋，物业服务费自本通知规定的期限届满之次日起计收。特此通知。"])


def _receipt(ctx: Ctx, s: Sheet, received: date) -> None:
    """A tear-off 回执 with the owner's signature and a 签收日期 (a date the reader must not take)."""
    s.gap(8)
    s.add(Line(s.left - 5, s.y, s.right + 5, s.y, 0.3, (120, 120, 120)))
    s.text((s.left + s.right) / 2, s.y, "  ✂ 沿此线剪下  ", 8, align="center", color=(120, 120, 120))
    s.gap(9)
    s.title("回  执", 13, after=3)
    s.paragraph("本人已收到入住通知书，并将按通知要求办理入住手续。")
    s.gap(8)
    sign(ctx, s, s.left, "签收人", ctx.hhh.owner.name, "owner_name")
    s.text(s.left + 90, s.y, "签收日期：")
    s.write(ctx.owner_hand, s.left + 112, s.y, hand_date(ctx.rng, received))


def notice_letter(ctx: Ctx) -> HardDoc:
    """入住通知书: printed salutation, seal over the notice date, a signed receipt below."""
    notice, frm, to, received = _notice_dates(ctx)
    o = ctx.hhh.owner
    title = ctx.pick("入住通知书", "业主入住通知书", "交房入住通知书")
    flow = Flow(ctx)
    header(ctx, flow.s, title)
    hon = "先生" if o.male else "女士"
    flow.para(["尊敬的", run(o.name, "owner_name"), ctx.rng.choice((hon, "先生/女士")), "："], indent=0)
    _notice_body(ctx, flow, frm, to, [run(fmt_unit_prose(ctx.rng, ctx.hh.unit), UNIT)])
    s = flow.s
    s.gap(8)
    _sealed_date(ctx, s, s.right - 70, notice, "notice_date", org=f"{ctx.hh.estate}物业服务中心")
    _receipt(ctx, s, received)
    return _notice_doc(ctx, "letter_receipt", flow.pages(), notice, title)


def notice_blanks(ctx: Ctx) -> HardDoc:
    """Printed notice with the owner's name and unit handwritten into blanks by staff."""
    notice, frm, to, received = _notice_dates(ctx)
    o, u = ctx.hhh.owner, ctx.hh.unit
    w = ctx.staff_hand
    title = ctx.pick("入住通知书", "收楼通知书")
    flow = Flow(ctx)
    header(ctx, flow.s, title)
    flow.para([run(o.name, "owner_name", writer=w, min_w=30), "先生/女士："], indent=0)
    unit_run = [
        run(u.building, "building", writer=w, min_w=10),
        "栋",
        run(u.unit, "unit", writer=w, min_w=9),
        "单元",
        run(u.room, "room", writer=w, min_w=14),
        "室",
    ]
    _notice_body(ctx, flow, frm, to, unit_run)
    s = flow.s
    s.gap(10)
    _sealed_date(ctx, s, s.right - 70, notice, "notice_date", org=ctx.hh.manager[-12:], printed=ctx.chance(0.5))
    if ctx.chance(0.6):
        _receipt(ctx, s, received)
    return _notice_doc(ctx, "letter_blanks", flow.pages(), notice, title)


def notice_table(ctx: Ctx) -> HardDoc:
    """入住通知单: a small ruled form (owner, unit, notice date, window, 签收), two per page sometimes."""
    notice, frm, to, received = _notice_dates(ctx)
    o, u = ctx.hhh.owner, ctx.hh.unit
    title = ctx.pick("入住通知单", "收楼通知单")
    s = ctx.sheet()
    header(ctx, s, title)
    rows = [
        [label("业主姓名"), val("owner_name", o.name), label("房号"), val(UNIT, f"{u.building}栋{u.unit}单元{u.room}")],
        [
            label("签收日期"),
            val((), hand_date(ctx.rng, received)),
            label("通知日期"),
            val("notice_date", hand_date(ctx.rng, notice)),
        ],
        [label("办理时间"), val((), f"{frm:%m月%d日}至{to:%m月%d日}", cols=3)],
        [
            label("携带资料"),
            Cell("", (), "options", cols=3, choices=("身份证", "购房合同", "委托书", "印章"), chosen=0),
        ],
        [label("业主签收"), val((), "", cols=3)],
    ]
    if ctx.chance(0.5):
        rows[1] = [rows[1][2], rows[1][3], rows[1][0], rows[1][1]]
    row_h = ctx.rng.uniform(11, 13)
    grid(s, [28, 57, 28, 57], row_h, rows, writer=ctx.staff_hand)
    s.write(ctx.owner_hand, s.left + 32, s.y - row_h / 2, o.name)  # the owner signs in the last row
    s.gap(8)
    s.paragraph("请业主在规定时间内办理入住手续，逾期视为已收楼。")
    s.gap(10)
    box = s.text(s.right - 60, s.y, f"{ctx.hh.estate}物业服务中心")
    s.add(seal_over(ctx, box, ctx.hh.manager))
    return _notice_doc(ctx, "slip_grid", [s.page()], notice, title)


def notice_holdout(ctx: Ctx) -> HardDoc:
    """入伙通知书 (held out): 业户 / 物业地址 wording, 发文日期 at the top right, receipt first."""
    notice, frm, to, received = _notice_dates(ctx)
    o, u = ctx.hhh.owner, ctx.hh.unit
    title = "入伙通知书"
    s = ctx.sheet()
    s.title(title, 20, after=2)
    s.text(s.right - 55, s.y, "发文日期：")
    box = s.value("notice_date", s.right - 33, s.y, f"{notice:%Y.%m.%d}")
    s.add(seal_over(ctx, box, ctx.hh.manager, partly=False))
    s.gap(10)
    s.text(s.left, s.y, "业户：")
    s.value("owner_name", s.left + 14, s.y, o.name)
    s.gap(9)
    s.text(s.left, s.y, "物业地址：")
    s.value(UNIT, s.left + 23, s.y, f"{ctx.hh.estate}{u.building}座{u.unit}单元{u.room}")
    s.gap(10)
    s.paragraph(
        f"贵户所购物业已具备入伙条件，请于{_cn_date(frm)}至{_cn_date(to)}期间到客户服务中心办理入伙手续。"
        "办理时请携带本通知书、身份证明及购房合同。"
    )
    s.gap(6)
    s.text(s.left, s.y, "业户确认：本人已知悉上述入伙事宜。")
    s.gap(9)
    sign(ctx, s, s.left, "业户签名", o.name, "owner_name", thumb=ctx.chance(0.4))
    s.text(s.left + 90, s.y, f"确认日期：{hand_date(ctx.rng, received)}")
    return _notice_doc(ctx, "holdout_ruhuo", [s.page()], notice, title)


# ================================================================= fire_safety_agreement


def _fire_truth(ctx: Ctx) -> dict[str, str]:
    """Fields of a fire-safety agreement (signed on move-in day)."""
    return {
        "owner_name": ctx.hhh.owner.name,
        **_unit_truth(ctx),
        "signing_date": ctx.hh.move_in.isoformat(),
        "seal_text": ctx.hh.manager,
    }


def _clauses(s: Sheet, texts: tuple[str, ...], style: str) -> None:
    """Numbered clauses."""
    for i, t in enumerate(texts, 1):
        lead = f"{i}．" if style == "dot" else f"第{'一二三四五六七八九十'[i - 1]}条 " if style == "cn" else f"（{i}）"
        s.paragraph(lead + t, indent=0 if style == "cn" else 2)
        s.gap(1)


def _two_party_signatures(ctx: Ctx, s: Sheet, d: date, *, owner_label: str, name_field: bool, date_hand: bool) -> None:
    """甲方 seal over its name and the date; 乙方 handwritten signature with a thumbprint."""
    s.gap(10)
    y0 = s.y
    s.text(s.left, s.y, "甲方（盖章）：")
    sign(ctx, s, s.left + 90, owner_label, ctx.hhh.owner.name, "owner_name", thumb=ctx.chance(0.6), primary=name_field)
    s.gap(9)
    nbox = s.text(s.left, s.y, ctx.hh.manager, s.size - 1)
    s.gap(12)
    s.text(s.left + 90, s.y, ctx.pick("日期：", "签订日期："))
    x = s.left + 90 + text_width("签订日期：", s.size)
    if date_hand:
        end = date_blanks(s, x, s.y, d, "signing_date", ctx.owner_hand)
        dbox = (x, s.y - 3, end, s.y + 3)
    else:
        dbox = s.value("signing_date", x, s.y, _cn_date(d))
    s.text(s.left, s.y, f"日期：{_cn_date(d)}" if ctx.chance(0.5) else "日期：")
    s.add(seal_over(ctx, (nbox[0], y0, nbox[2], nbox[3]) if ctx.chance(0.4) else dbox, ctx.hh.manager))


def fire_clauses(ctx: Ctx) -> HardDoc:
    """消防安全协议书: the owner's name only in the handwritten 乙方 signature, the date in blanks."""
    title = ctx.pick("消防安全协议书", "消防安全责任书", "住户消防安全协议")
    s = ctx.sheet()
    header(ctx, s, title)
    s.text(s.left, s.y, f"甲方：{ctx.hh.manager}")
    s.gap(8)
    s.text(s.left, s.y, "乙方（业主）：")
    s.hline(s.left + 28, s.left + 80, s.y + s.size * PT_MM * 0.75)
    s.text(s.left + 88, s.y, "房号：")
    s.value(UNIT, s.left + 101, s.y, fmt_unit(ctx.rng, ctx.hh.unit), writer=ctx.owner_hand)
    s.hline(s.left + 100, s.right, s.y + s.size * PT_MM * 0.75)
    s.gap(9)
    s.paragraph(
        "为贯彻“预防为主、防消结合”的消防工作方针，落实消防安全责任制，根据《中华人民共和国消防法》，甲乙双方签订本协议。"
    )
    s.gap(2)
    _clauses(s, FIRE_CLAUSES, ctx.rng.choice(("dot", "paren")))
    _two_party_signatures(ctx, s, ctx.hh.move_in, owner_label="乙方（签字）", name_field=True, date_hand=True)
    return _doc(ctx, DocType.FIRE_SAFETY_AGREEMENT, "clauses_signed", [s.page()], _fire_truth(ctx), FormParts(), title)


def fire_header_grid(ctx: Ctx) -> HardDoc:
    """消防安全责任书 with a filled-in header table (owner, unit, phone) above the clauses."""
    o, u = ctx.hhh.owner, ctx.hh.unit
    title = ctx.pick("消防安全责任书", "消防安全协议书")
    s = ctx.sheet()
    header(ctx, s, title)
    pairs = [
        pair(ctx.pick("业主姓名", "责任人"), "owner_name", o.name),
        pair("联系电话", (), o.phone),
        pair("楼栋", "building", u.building),
        pair("单元", "unit", u.unit),
        pair("房号", "room", u.room),
        pair("签订日期", "signing_date", hand_date(ctx.rng, ctx.hh.move_in)),
    ]
    col_w, rows = above_rows(pairs, per_row=3) if ctx.chance(0.5) else lr_rows(pairs, per_row=2)
    grid(s, col_w, heights(rows, 11.5, 8.5), rows, writer=ctx.owner_hand)
    s.gap(6)
    _clauses(s, FIRE_CLAUSES, "cn")
    s.gap(8)
    box = s.text(s.left, s.y, f"甲方：{ctx.hh.manager}")
    s.add(seal_over(ctx, box, ctx.hh.manager))
    s.gap(14)
    sign(ctx, s, s.left, "乙方签字", o.name, "owner_name", thumb=ctx.chance(0.5))
    return _doc(ctx, DocType.FIRE_SAFETY_AGREEMENT, "header_grid", [s.page()], _fire_truth(ctx), FormParts(), title)


def fire_typed(ctx: Ctx) -> HardDoc:
    """住户消防安全协议: typed parties and date, the manager's seal over the typed date."""
    o = ctx.hhh.owner
    title = ctx.pick("住户消防安全协议", "消防安全协议书")
    s = ctx.sheet()
    header(ctx, s, title)
    s.labelled(s.left, "甲方", (), ctx.hh.manager)
    s.gap(8)
    box = s.labelled(s.left, ctx.pick("乙方", "乙方（业主）"), "owner_name", o.name)
    if ctx.chance(0.4):
        s.add(thumbprint_over(ctx, box))
    s.labelled(s.left + 80, "房屋", UNIT, ctx.hh.estate + fmt_unit_prose(ctx.rng, ctx.hh.unit))
    s.gap(9)
    _clauses(s, FIRE_CLAUSES, "dot")
    _two_party_signatures(ctx, s, ctx.hh.move_in, owner_label="乙方（签字）", name_field=False, date_hand=False)
    return _doc(ctx, DocType.FIRE_SAFETY_AGREEMENT, "typed_parties", [s.page()], _fire_truth(ctx), FormParts(), title)


def fire_holdout(ctx: Ctx) -> HardDoc:
    """防火安全责任书 (held out): 责任人 / 房间号 / 签订时间, signatures in a ruled box at the bottom."""
    o, u = ctx.hhh.owner, ctx.hh.unit
    title = "防火安全责任书"
    s = ctx.sheet()
    s.title(title, 20, after=6)
    s.paragraph("为加强住宅小区防火安全管理，明确防火安全责任，特制定本责任书，责任人应认真履行以下职责：")
    _clauses(s, FIRE_CLAUSES[:6], "paren")
    s.gap(6)
    rows = [
        [label("责任人"), val("owner_name", o.name), label("房间号"), val(UNIT, f"{u.building}-{u.unit}-{u.room}")],
        [label("签订时间"), val("signing_date", hand_date(ctx.rng, ctx.hh.move_in)), label("管理单位"), val((), "")],
    ]
    grid(s, [28, 57, 28, 57], 13, rows, writer=ctx.owner_hand)
    s.add(seal_over(ctx, (s.left + 113, s.y - 13, s.left + 170, s.y), ctx.hh.manager, partly=False))
    return _doc(
        ctx, DocType.FIRE_SAFETY_AGREEMENT, "holdout_responsibility", [s.page()], _fire_truth(ctx), FormParts(), title
    )


# ================================================================= commitment_letter


def _commit_truth(ctx: Ctx, sealed: bool) -> dict[str, str]:
    """Fields of a commitment letter."""
    out = {"owner_name": ctx.hhh.owner.name, **_unit_truth(ctx), "signing_date": ctx.hh.move_in.isoformat()}
    if sealed:
        out["seal_text"] = ctx.hh.manager
    return out


PLEDGES = (
    "遵守国家法律法规及小区管理规约，服从物业服务中心的管理。",
    "按时足额缴纳物业服务费及其他相关费用。",
    "不在公共区域堆放杂物，不高空抛物，不饲养烈性犬只。",
    "装修前向物业服务中心申报，按规定施工，不破坏房屋承重结构。",
    "如违反上述承诺，愿承担相应的法律责任和经济责任。",
)


def commit_blanks(ctx: Ctx) -> HardDoc:
    """承诺书: 本人____，系____栋____单元____室业主 … all handwritten into blanks; date in blanks."""
    o, u = ctx.hhh.owner, ctx.hh.unit
    w = ctx.owner_hand
    title = ctx.pick("承诺书", "业主承诺书")
    flow = Flow(ctx)
    header(ctx, flow.s, title)
    flow.para(
        [
            "本人",
            run(o.name, "owner_name", writer=w, min_w=28),
            "，系",
            ctx.hh.estate,
            run(u.building, "building", writer=w, min_w=10),
            "栋",
            run(u.unit, "unit", writer=w, min_w=9),
            "单元",
            run(u.room, "room", writer=w, min_w=14),
            "室业主，为共同营造安全、整洁、文明的居住环境，现郑重承诺如下：",
        ]
    )
    s = flow.s
    _clauses(s, PLEDGES, "dot")
    s.gap(10)
    sign(ctx, s, s.left + 80, "承诺人（签字）", o.name, "owner_name", thumb=ctx.chance(0.5))
    s.gap(12)
    s.text(s.left + 80, s.y, "日期：")
    date_blanks(s, s.left + 94, s.y, ctx.hh.move_in, "signing_date", w)
    return _doc(
        ctx, DocType.COMMITMENT_LETTER, "pledge_blanks", flow.pages(), _commit_truth(ctx, False), FormParts(), title
    )


def commit_covenant(ctx: Ctx) -> HardDoc:
    """物业管理公约 with a signature table at the end (业主签名 | 房号 | 签署日期)."""
    o, u = ctx.hhh.owner, ctx.hh.unit
    title = ctx.pick("物业管理公约", "业主公约", "临时管理规约签署页")
    s = ctx.sheet()
    header(ctx, s, title)
    s.paragraph(
        f"为维护{ctx.hh.estate}全体业主和物业使用人的合法权益，维护公共环境和秩序，根据《物业管理条例》制定本公约。"
    )
    _clauses(
        s,
        (
            "业主应按时缴纳物业服务费，不得以任何理由拒交或拖欠。",
            "业主不得擅自改变房屋结构、外观和用途，不得违章搭建，不得占用公共部位。",
            "业主饲养宠物应遵守有关规定，外出时应牵绳并及时清理粪便。",
            "业主应遵守小区车辆管理规定，按指定位置停放车辆。",
            "业主转让或出租房屋时，应将本公约作为合同附件，并告知物业服务企业。",
        ),
        "cn",
    )
    s.gap(6)
    rows = [
        [label("业主签名"), label("房号"), label("签署日期"), label("联系电话")],
        [
            val("owner_name", o.name),
            val(UNIT, f"{u.building}-{u.unit}-{u.room}"),
            val("signing_date", hand_date(ctx.rng, ctx.hh.move_in)),
            val((), o.phone),
        ],
    ]
    grid(s, [42.5] * 4, [9, 14], rows, writer=ctx.owner_hand)
    sealed = ctx.chance(0.5)
    if sealed:
        s.gap(10)
        box = s.text(s.right - 60, s.y, "物业服务中心（盖章）")
        s.add(seal_over(ctx, box, ctx.hh.manager))
    return _doc(
        ctx, DocType.COMMITMENT_LETTER, "covenant_table", [s.page()], _commit_truth(ctx, sealed), FormParts(), title
    )


def commit_typed(ctx: Ctx) -> HardDoc:
    """业主承诺书 typed for the owner (name and unit printed), signed by hand with a thumbprint, date handwritten."""
    o = ctx.hhh.owner
    title = ctx.pick("业主承诺书", "承诺书", "文明居住承诺书")
    s = ctx.sheet()
    header(ctx, s, title)
    box = s.labelled(s.left, "承诺人", "owner_name", o.name)
    if ctx.chance(0.4):
        s.add(thumbprint_over(ctx, box))
    s.labelled(s.left + 70, "房号", UNIT, fmt_unit(ctx.rng, ctx.hh.unit))
    s.gap(10)
    s.paragraph(f"本人作为{ctx.hh.estate}业主，自愿作出如下承诺：")
    _clauses(s, PLEDGES, "paren")
    s.gap(12)
    box = sign(ctx, s, s.left + 80, "承诺人签字", o.name, "owner_name", thumb=True)
    s.gap(12)
    s.text(s.left + 80, s.y, "日期：")
    s.value("signing_date", s.left + 96, s.y, hand_date(ctx.rng, ctx.hh.move_in), writer=ctx.owner_hand)
    sealed = ctx.chance(0.3)
    if sealed:
        s.add(seal_over(ctx, (box[0] - 60, box[1], box[2] - 60, box[3]), ctx.hh.manager))
    return _doc(
        ctx, DocType.COMMITMENT_LETTER, "typed_thumb", [s.page()], _commit_truth(ctx, sealed), FormParts(), title
    )


def commit_holdout(ctx: Ctx) -> HardDoc:
    """守约承诺函 (held out): 立诺人 / 物业坐落 / 立诺日期 in a closing block."""
    o, u = ctx.hhh.owner, ctx.hh.unit
    title = "守约承诺函"
    s = ctx.sheet()
    s.title(title, 20, after=6)
    s.text(s.left, s.y, f"致{ctx.hh.estate}客户服务中心：")
    s.gap(8)
    s.paragraph("本人已认真阅读并理解《临时管理规约》及《前期物业服务合同》的全部内容，承诺遵守并履行以下义务：")
    _clauses(s, PLEDGES, "cn")
    s.gap(10)
    for lab, f, v in (
        ("立诺人", "owner_name", o.name),
        ("物业坐落", UNIT, f"{u.building}幢{u.unit}单元{u.room}室"),
        ("立诺日期", "signing_date", hand_date(ctx.rng, ctx.hh.move_in)),
    ):
        s.labelled(s.left + 85, lab, f, v, writer=ctx.owner_hand, underline_to=s.right)
        s.gap(11)
    return _doc(
        ctx,
        DocType.COMMITMENT_LETTER,
        "holdout_pledge_letter",
        [s.page()],
        _commit_truth(ctx, False),
        FormParts(),
        title,
    )


# ================================================================= power_of_attorney


def _poa_truth(ctx: Ctx) -> dict[str, str]:
    """Fields of a power of attorney (the household's agent)."""
    a = ctx.hhh.agent
    assert a is not None
    return {
        "principal_name": ctx.hhh.owner.name,
        "agent_name": a.name,
        "agent_id_number": a.id_number,
        **_unit_truth(ctx),
    }


def _poa_text(ctx: Ctx) -> str:
    """What the agent may do."""
    return (
        "全权代表本人办理上述房屋的收楼验收、签署相关文件、领取钥匙及缴纳相关费用等事宜。"
        "受托人在办理上述事项过程中所签署的有关文件，本人均予以承认。受托人无转委托权。"
    )


def poa_typed(ctx: Ctx) -> HardDoc:
    """委托书: typed principal and agent with both ID numbers, signatures with thumbprints."""
    o, a = ctx.hhh.owner, ctx.hhh.agent
    assert a is not None
    title = ctx.pick("委托书", "授权委托书", "收楼委托书")
    s = ctx.sheet()
    header(ctx, s, title)
    s.labelled(s.left, ctx.pick("委托人", "委托人（业主）"), "principal_name", o.name)
    s.labelled(s.left + 75, "身份证号码", (), o.id_number)
    s.gap(9)
    s.labelled(s.left, "受托人", "agent_name", a.name)
    s.labelled(s.left + 75, "身份证号码", "agent_id_number", a.id_number)
    s.gap(9)
    s.labelled(s.left, "受托人电话", (), fmt_phone(ctx.rng, a.phone))
    s.gap(9)
    s.labelled(s.left, ctx.pick("房屋坐落", "委托事项房屋"), UNIT, ctx.hh.estate + fmt_unit_prose(ctx.rng, ctx.hh.unit))
    s.gap(9)
    s.paragraph("委托人系上述房屋的业主，因工作原因不能亲自办理收楼手续，现委托受托人" + _poa_text(ctx))
    frm = ctx.hh.move_in - timedelta(days=ctx.rng.randint(1, 10))
    s.paragraph(f"委托期限：自{_cn_date(frm)}至{_cn_date(frm + timedelta(days=60))}止。")
    s.gap(12)
    sign(ctx, s, s.left, "委托人（签字）", o.name, "principal_name", thumb=ctx.chance(0.6))
    sign(ctx, s, s.left + 90, "受托人（签字）", a.name, "agent_name", writer=ctx.staff_hand, thumb=ctx.chance(0.6))
    s.gap(12)
    s.text(s.left + 90, s.y, f"日期：{hand_date(ctx.rng, frm)}")
    parts = FormParts()
    parts.mark(["agent_id_number"], "distractor")
    return _doc(ctx, DocType.POWER_OF_ATTORNEY, "typed_parties", [s.page()], _poa_truth(ctx), parts, title)


def poa_grid(ctx: Ctx) -> HardDoc:
    """授权委托书 with a ruled table: one row per person (name | ID | phone), handwritten."""
    o, a = ctx.hhh.owner, ctx.hhh.agent
    assert a is not None
    u = ctx.hh.unit
    title = ctx.pick("授权委托书", "委托书")
    s = ctx.sheet()
    header(ctx, s, title)
    rows = [
        [label(""), label("姓名"), label("身份证号码"), label("联系电话")],
        [label("委托人"), val("principal_name", o.name), val((), o.id_number), val((), o.phone)],
        [label("受托人"), val("agent_name", a.name), val("agent_id_number", a.id_number), val((), a.phone)],
        [label("房屋"), val(UNIT, f"{ctx.hh.estate}{u.building}栋{u.unit}单元{u.room}室", cols=3)],
    ]
    if ctx.chance(0.4):
        rows[1], rows[2] = rows[2], rows[1]
    grid(s, [24, 36, 62, 48], [9, 13, 13, 13], rows, writer=ctx.owner_hand)
    s.gap(8)
    s.paragraph("委托人因故不能亲自办理，特委托上述受托人" + _poa_text(ctx))
    s.gap(12)
    sign(ctx, s, s.left, "委托人签字", o.name, "principal_name", thumb=True)
    sign(ctx, s, s.left + 90, "受托人签字", a.name, "agent_name", writer=ctx.staff_hand, thumb=ctx.chance(0.5))
    s.gap(12)
    s.text(s.left, s.y, f"日期：{hand_date(ctx.rng, ctx.hh.move_in - timedelta(days=3))}")
    parts = FormParts()
    parts.mark(["agent_id_number"], "distractor")
    return _doc(ctx, DocType.POWER_OF_ATTORNEY, "person_rows", [s.page()], _poa_truth(ctx), parts, title)


def poa_blanks(ctx: Ctx) -> HardDoc:
    """收楼委托书: model text with names, ID numbers and the unit handwritten into blanks."""
    o, a = ctx.hhh.owner, ctx.hhh.agent
    assert a is not None
    u = ctx.hh.unit
    w = ctx.owner_hand
    title = ctx.pick("收楼委托书", "委托书")
    flow = Flow(ctx)
    header(ctx, flow.s, title)
    flow.para(
        [
            "委托人：",
            run(o.name, "principal_name", writer=w, min_w=28),
            "（身份证号：",
            run(o.id_number, writer=w, min_w=55),
            "）",
        ],
        indent=0,
    )
    flow.para(
        [
            "受托人：",
            run(a.name, "agent_name", writer=w, min_w=28),
            "（身份证号：",
            run(a.id_number, "agent_id_number", writer=w, min_w=55),
            "）",
        ],
        indent=0,
    )
    flow.para(
        [
            "委托人系",
            ctx.hh.estate,
            run(u.building, "building", writer=w, min_w=10),
            "栋",
            run(u.unit, "unit", writer=w, min_w=9),
            "单元",
            run(u.room, "room", writer=w, min_w=14),
            "室的业主，现委托受托人",
            _poa_text(ctx),
        ]
    )
    s = flow.s
    s.gap(12)
    sign(ctx, s, s.left, "委托人", o.name, "principal_name", thumb=True)
    sign(ctx, s, s.left + 90, "受托人", a.name, "agent_name", writer=ctx.staff_hand)
    s.gap(12)
    s.text(s.left + 90, s.y, "日期：")
    date_blanks(s, s.left + 104, s.y, ctx.hh.move_in - timedelta(days=2), (), w)
    parts = FormParts()
    parts.mark(["agent_id_number"], "distractor")
    return _doc(ctx, DocType.POWER_OF_ATTORNEY, "model_blanks", flow.pages(), _poa_truth(ctx), parts, title)


def poa_holdout(ctx: Ctx) -> HardDoc:
    """授权书 (held out): 授权人 / 被授权人, the agent's ID in digit boxes, the unit last."""
    o, a = ctx.hhh.owner, ctx.hhh.agent
    assert a is not None
    u = ctx.hh.unit
    w = ctx.owner_hand
    title = "授权书"
    s = ctx.sheet()
    s.title(title, 22, after=8)
    s.labelled(s.left, "授权人", "principal_name", o.name, writer=w, underline_to=s.left + 70)
    s.gap(12)
    s.labelled(s.left, "被授权人", "agent_name", a.name, writer=w, underline_to=s.left + 70)
    s.gap(12)
    s.text(s.left, s.y, "被授权人证件号：")
    s.digit_boxes(s.left + 36, s.y, "agent_id_number", a.id_number, w, cell=6.2)
    s.gap(14)
    s.paragraph("兹授权被授权人代为办理下列物业的交接、验收及钥匙领取手续，被授权人所签文件本人均予认可。")
    s.gap(4)
    s.labelled(s.left, "物业", UNIT, f"{ctx.hh.estate} {u.building}#{u.unit}-{u.room}", writer=w, underline_to=s.right)
    s.gap(16)
    sign(ctx, s, s.left + 80, "授权人签署", o.name, "principal_name", thumb=True)
    parts = FormParts()
    return _doc(ctx, DocType.POWER_OF_ATTORNEY, "holdout_grant", [s.page()], _poa_truth(ctx), parts, title)
