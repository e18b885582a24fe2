"""Long contracts: purchase contracts of 6-12 pages and leases of 3-6 pages (several layouts each).

Parties and their ID numbers are on page 1, the unit, areas and prices in the
middle pages, the signing date and seals at the end, page numbers at the foot.
Prices are printed in figures and in capitals (大写) and unit price x area is
printed where real contracts print it. About one contract in ten is
inconsistent on paper (capitals differ from figures, or unit price x area
differs from the total); its truth ``flags`` name the field and the reason.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from schemas.documents import DocType
from tests.synth.fake import fmt_phone, fmt_unit_prose, upper_rmb
from tests.synth.hard.common import (
    FOOTER_STYLES,
    Ctx,
    add_footers,
    amount_words,
    seal_over,
    sign,
    thumbprint_over,
)
from tests.synth.hard.flow import Flow, Part, run
from tests.synth.hard.forms import FormParts, _doc, above_rows, heights, pair
from tests.synth.hard.marks import Seal
from tests.synth.hard.sheet import Cell, HardDoc, HardPage, Sheet, date_blanks, grid, hand_date, label, val
from tests.synth.items import PAGE_W, Line, Rect, text_width

UNIT = ("building", "unit", "room")

FLAG_WORDS = "amount in words differs from figures"
FLAG_PRODUCT = "unit price x area differs from total"

PURCHASE_POOL = (
    "出卖人应当在交付该商品房时向买受人提供《住宅质量保证书》和《住宅使用说明书》，并按照其承诺承担保修责任。",
    "该商品房交付时，出卖人应当出示建设工程竣工验收备案证明文件、房屋测绘报告及其他有关证明文件，买受人有权查验。",
    "买受人逾期付款的，按照逾期时间分别处理：逾期在30日之内的，自约定付款期限届满之次日起至实际支付之日止，"
    "买受人按日计算向出卖人支付逾期应付款万分之二的违约金。",
    "逾期超过30日后，出卖人有权解除合同。出卖人解除合同的，买受人按照累计应付款的3%向出卖人支付违约金。",
    "出卖人应当按照国家有关工程勘察、设计、施工、监理等规定和标准组织建设，保证该商品房的主体结构质量合格。",
    "该商品房室内空气质量应符合国家有关标准。交付时空气质量经检测不符合标准的，买受人有权单方解除合同。",
    "出卖人承诺该商品房具备下列交付条件：供水、排水、供电、燃气、通讯、有线电视等配套设施已经接通并达到使用条件。",
    "该商品房所在小区的道路、绿化、路灯、公共停车场等公共配套设施已按规划要求建成，并满足使用功能要求。",
    "因出卖人原因，买受人未能在约定期限内取得该商品房的不动产权证书的，双方同意按照下列方式处理：买受人有权退房，"
    "出卖人应当自退房通知送达之日起30日内退还买受人已付全部房款。",
    "买受人同意由出卖人代为办理该商品房的不动产登记手续，买受人应当按照有关规定配合提供相关资料并缴纳税费。",
    "商品房交付使用后，买受人认为主体结构质量不合格的，可以依照有关规定委托工程质量检测机构重新核验。",
    "该商品房的建筑区划内，下列设施归全体业主共有：物业服务用房、小区道路、绿地、公共场所、公用设施等。",
    "该商品房的专项维修资金由买受人按照有关规定交存，交存标准为每平方米建筑面积人民币若干元，由出卖人代收代缴。",
    "出卖人不得擅自变更已经与买受人约定的该商品房结构形式、户型、空间尺寸、朝向，确需变更的应书面征得买受人同意。",
    "规划行政主管部门批准的规划变更导致该商品房结构形式、户型、空间尺寸、朝向变化的，出卖人应当在变更确立之日起"
    "10日内书面通知买受人。",
    "买受人应当在收到规划变更通知之日起15日内作出是否退房的书面答复，逾期未作书面答复的，视为同意规划变更。",
    "出卖人保证该商品房没有产权纠纷，因出卖人原因造成该商品房不能办理产权登记或发生债权债务纠纷的，由出卖人承担责任。",
    "出卖人保证已清除该商品房上原有的抵押权，在本合同签订前未将该商品房抵押给第三人。",
    "因不可抗力不能按照约定交付该商品房的，出卖人可以免除部分或全部违约责任，但应当在不可抗力发生之日起30日内"
    "书面告知买受人。",
    "本合同履行期间，双方任何一方发出的通知应以书面形式，按照本合同首页载明的通讯地址送达对方。",
    "买受人的房屋仅作住宅使用，买受人使用期间不得擅自改变该商品房的建筑主体结构、承重结构和用途。",
    "买受人购买的该商品房的建筑区划内的车位、车库的权属由双方另行约定，本合同不作约定。",
    "出卖人依法选聘的前期物业服务企业的服务内容、服务标准及收费标准以前期物业服务合同为准，买受人已详细阅读。",
    "买受人已详细阅读前期物业服务合同和临时管理规约，同意由出卖人依法选聘的物业服务企业提供前期物业服务。",
    "本合同未尽事项，可由双方约定后签订补充协议。补充协议与本合同具有同等法律效力，但不得减轻或免除出卖人的责任。",
    "出卖人应当向买受人提供该商品房的预售许可证、土地使用权证明文件及经批准的规划设计图，买受人已经查验。",
    "该商品房的保修期自交付之日起计算，屋面防水工程、有防水要求的卫生间和外墙面的防渗漏为5年，电气管线、给排水"
    "管道、设备安装为2年，装修工程为2年。",
    "在保修期内发生的属于保修范围的质量问题，出卖人应当自接到买受人通知之日起及时履行保修义务，出卖人不及时"
    "履行保修义务的，买受人可以自行或委托他人进行维修，维修费用由出卖人承担。",
    "因买受人使用不当造成的损坏或因不可抗力造成的损坏，出卖人不承担保修责任，但可协助维修，维修费用由买受人承担。",
    "出卖人应当按照国家和地方有关规定缴纳该商品房交付前的税费，买受人按照国家和地方有关规定缴纳应由买受人承担的税费。",
    "该商品房所在楼宇的屋面使用权归全体业主共有，外墙面使用权由全体业主共同行使，任何一方不得擅自占用。",
    "双方同意，本合同项下的商品房交付时，应当已取得燃气、供电、供水等部门出具的验收合格文件。",
)

LEASE_POOL = (
    "租赁期间，水费、电费、燃气费、物业服务费、网络费及有线电视费等由乙方承担，乙方应按时足额缴纳。",
    "乙方应合理使用房屋及其附属设施，不得擅自改变房屋结构和用途，不得利用房屋从事违法活动，不得损害公共利益。",
    "租赁期间，因乙方使用不当造成房屋或设施损坏的，乙方应负责修复或赔偿；因自然损耗造成的损坏由甲方负责维修。",
    "乙方不得将房屋转租、转借他人使用。乙方应遵守小区物业管理规定，做好防火、防盗、防水等安全工作。",
    "租赁期满，乙方应按时退还房屋；乙方需继续承租的，应提前30日书面通知甲方，经甲方同意后重新签订合同。",
    "任何一方违反本合同约定的，应向守约方支付相当于一个月租金的违约金；给对方造成损失的，还应赔偿损失。",
    "甲方应保证出租房屋权属清楚、无共有人异议，若发生与甲方有关的产权纠纷，由甲方负责处理，给乙方造成损失的由甲方赔偿。",
    "租赁期间，甲方需要对房屋进行检查、维修的，应提前3日通知乙方，乙方应予以配合。",
    "乙方如需对房屋进行装修或增设附属设施的，应事先征得甲方书面同意，租赁期满时乙方可以拆除或折价归甲方所有。",
    "租赁期间，甲方转让该房屋的，应提前30日书面通知乙方，乙方在同等条件下享有优先购买权。",
    "因不可抗力导致房屋毁损、灭失，致使本合同不能继续履行的，本合同自行终止，双方互不承担责任。",
    "乙方逾期支付租金超过15日的，甲方有权解除合同，收回房屋，并要求乙方支付欠付的租金及违约金。",
    "押金在租赁期满或合同解除后，乙方结清全部费用并交还房屋及钥匙后，甲方应在3日内无息退还乙方。",
    "乙方应配合社区及公安机关做好流动人口登记和出租屋管理工作，如实登记居住人员信息。",
    "本合同在履行中发生争议，由甲乙双方协商解决；协商不成的，任何一方均可向房屋所在地人民法院起诉。",
    "本合同未尽事宜，甲乙双方可另行签订补充协议，补充协议与本合同具有同等法律效力。",
    "本合同一式两份，甲乙双方各执一份，自双方签字之日起生效。",
    "甲方应保证房屋及其附属设施处于正常可使用和安全的状态，对房屋进行检查、养护时应提前通知乙方。",
    "房屋及附属设施出现妨碍安全、正常使用的损坏或故障时，乙方应及时通知甲方，甲方应在接到通知后3日内进行维修。",
    "乙方应爱护房屋及附属设施，不得擅自拆改、扩建或增加用途，确需改变的应取得甲方书面同意。",
    "租赁期间，乙方可以在不影响房屋结构安全的前提下对房屋进行简单装饰，但退租时应恢复原状。",
    "租赁期间，乙方应遵守国家和本市有关居住房屋使用和管理的规定，不得从事群租、违法经营等活动。",
    "乙方有下列情形之一的，甲方有权单方解除合同，收回房屋：擅自转租的；利用房屋从事违法活动的；拖欠租金累计达一个月以上的。",
    "甲方有下列情形之一的，乙方有权单方解除合同：未按时交付房屋的；交付的房屋不符合合同约定严重影响乙方使用的。",
    "租赁期满或合同解除后，乙方应在3日内搬离并返还房屋，逾期不返还的，每逾期一日按日租金的两倍支付房屋占用费。",
    "乙方返还房屋时，应结清其应当承担的各项费用，并与甲方共同对房屋及设施进行验收。",
    "甲乙双方确认本合同首部载明的通讯地址为有效送达地址，一方变更地址的，应在变更后3日内书面通知对方。",
    "租赁期间如遇政府征收、拆迁等情形，本合同自然终止，补偿款按国家有关规定办理，双方互不承担违约责任。",
)


def cn_num(n: int) -> str:
    """Chinese numeral for 1..199."""
    digits = "零一二三四五六七八九"
    if n >= 100:
        rest = n - 100
        return "一百" + ("" if not rest else ("零" + digits[rest] if rest < 10 else "一" + cn_num(rest)))
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


class Articles:
    """Numbered clauses (第N条) drawn from a pool without repeats until it runs out."""

    def __init__(self, ctx: Ctx, pool: tuple[str, ...], start: int = 1):
        self.n = start
        self.pool = list(pool)
        ctx.rng.shuffle(self.pool)
        self.i = 0

    def lead(self) -> str:
        """The next article's lead (第十二条) and advance."""
        text = f"第{cn_num(self.n)}条 "
        self.n += 1
        return text

    def filler(self, flow: Flow, blanks: float = 0.0) -> None:
        """One boilerplate article, followed with chance ``blanks`` by ruled lines left for 补充约定."""
        text = self.pool[self.i % len(self.pool)]
        self.i += 1
        flow.para([self.lead() + text], indent=0)
        if flow.ctx.rng.random() < blanks:
            flow.blank_lines(flow.ctx.rng.randint(1, 3), label="补充约定：")


def _inconsistency(ctx: Ctx) -> str:
    """'' (consistent, mostly), 'words' or 'product' (about one contract in ten)."""
    r = ctx.rng.random()
    return "" if r >= 0.1 else "words" if r < 0.05 else "product"


def _printed_total(ctx: Ctx, kind: str) -> int:
    """The total printed on the contract (off the product when ``kind == 'product'``)."""
    total = ctx.hhh.purchase.total
    if kind == "product":
        return total + ctx.rng.choice((-1, 1)) * ctx.rng.randint(3, 60) * 1000
    return total


def _signature_page(
    ctx: Ctx, flow: Flow, signed: date, *, hand: bool, seller: str, buyer_label: str, seller_label: str
) -> None:
    """Seller seal over the seller's name and date, buyer signature (often with a thumbprint), signing date."""
    o = ctx.hhh.owner
    w = ctx.staff_hand if hand else None

    def draw(s: Sheet) -> None:
        s.gap(10)
        y0 = s.y
        s.text(s.left, s.y, f"{seller_label}（签章）：")
        s.text(s.left + 90, s.y, f"{buyer_label}（签章）：")
        s.gap(11)
        nbox = s.text(s.left, s.y, seller, s.size - 0.5)
        sign(ctx, s, s.left + 90, buyer_label, o.name, "buyer_name", writer=ctx.owner_hand, thumb=ctx.chance(0.6))
        s.gap(11)
        s.text(s.left, s.y, f"法定代表人：{ctx.hhh.purchase.legal_rep}")
        s.text(s.left + 90, s.y, "委托代理人：")
        s.gap(11)
        s.text(s.left, s.y, f"委托代理人：{ctx.hhh.purchase.agent.name}")
        s.gap(13)
        lab = ctx.pick("签订日期", "签订时间", "签约日期")
        s.text(s.left, s.y, f"{lab}：")
        x = s.left + text_width(f"{lab}：", s.size) + 1
        if w is not None:
            dbox_end = date_blanks(s, x, s.y, signed, "signing_date", w)
            dbox = (x, s.y - 3, dbox_end, s.y + 3)
        else:
            dbox = s.value("signing_date", x, s.y, _date_text(ctx, signed))
        s.text(s.left + 100, s.y, f"签订地点：{ctx.hh.city}")
        target = dbox if ctx.chance(0.7) else (nbox[0], y0, nbox[2], nbox[3])
        s.add(seal_over(ctx, target, seller, "合同专用章" if ctx.chance(0.6) else ""))

    flow.block(80, draw)


def _date_text(ctx: Ctx, d: date) -> str:
    """A printed date in contract style."""
    return ctx.rng.choice((f"{d.year}年{d.month}月{d.day}日", f"{d.year} 年 {d.month} 月 {d.day} 日", f"{d:%Y-%m-%d}"))


def _riding_seals(ctx: Ctx, pages: list[HardPage], org: str) -> list[HardPage]:
    """骑缝章: a slice of the seller's seal on the right edge of every page."""
    cy = ctx.rng.uniform(120, 190)
    out = []
    for i, p in enumerate(pages):
        sl = Seal(PAGE_W + 20 - (i % 3) * 3.2 - 4.5, cy + ctx.rng.uniform(-3, 3), 20, org, ctx.seed())
        out.append(HardPage((*p.items, sl), p.spots, p.conditions))
    return out


# ================================================================= attachments

NOTES = (
    "本合同文本为示范文本，双方当事人可以结合具体情况选择使用。",
    "签订本合同前，出卖人应当向买受人出示有关权属证书或证明文件。",
    "出卖人应当就合同重大事项对买受人尽到提示义务，买受人应当审慎签订合同。",
    "本合同文本中相关条款后留有空白行，供双方自行约定或补充约定。",
    "双方当事人在履行合同中发生争议的，可以选择向仲裁委员会申请仲裁，也可以依法向人民法院提起诉讼。",
    "本合同条款由住房和城乡建设部和国家工商行政管理总局负责解释。",
    "对合同文本中【】中选择内容，以划√方式选定；对于实际情况未发生或双方当事人不作约定时，应在空格部位打×。",
    "出卖人与买受人可以针对本合同文本中没有约定或者约定不明确的内容，根据具体情况在相关条款后的空白行中进行补充约定。",
)
TERMS = (
    "商品房预售：是指房地产开发企业将正在建设中的取得《商品房预售许可证》的商品房预先出售给买受人，"
    "并由买受人支付定金或房价款的行为。",
    "法定代理人：是指依照法律规定直接取得代理权的人。",
    "套内建筑面积：是指成套房屋的套内建筑面积，由套内使用面积、套内墙体面积、套内阳台建筑面积三部分组成。",
    "房屋的建筑面积：是指房屋外墙（柱）勒脚以上各层的外围水平投影面积，包括阳台、挑廊、地下室、室外楼梯等。",
    "不可抗力：是指不能预见、不能避免并不能克服的客观情况。",
)
FINISHES = (
    ("外墙", "真石漆、面砖"),
    ("内墙", "腻子找平，乳胶漆"),
    ("顶棚", "腻子找平"),
    ("室内地面", "水泥砂浆找平"),
    ("门", "钢制防盗入户门"),
    ("窗", "断桥铝合金中空玻璃窗"),
    ("厨房", "墙地砖，预留燃气接口"),
    ("卫生间", "防水处理，墙地砖"),
    ("阳台", "防水处理"),
    ("电梯", "品牌电梯，每单元两部"),
    ("管道", "PPR给水管，PVC排水管"),
    ("供电", "分户计量，每户容量8kW"),
    ("通讯", "光纤入户"),
)


def _notes(ctx: Ctx, flow: Flow) -> None:
    """说明 (and sometimes 专业术语解释) on pages of their own after the parties."""
    flow.new_page()
    flow.heading("说  明", ctx.size + 4, center=True, before=4)
    for i, t in enumerate(NOTES, 1):
        flow.para([f"{i}．{t}"], gap=2.5)
    if ctx.chance(0.6):
        flow.heading("专业术语解释", center=True, before=6)
        for t in TERMS:
            flow.para([t], gap=2.0)
    flow.new_page()


def _floor_plan(ctx: Ctx, flow: Flow) -> None:
    """附件一：房屋平面图 — rooms, walls and dimensions drawn on a page of its own."""
    flow.new_page()
    s = flow.s
    s.text(s.left, s.y, "附件一：房屋平面图（应当标明方位）", bold=True)
    s.gap(14)
    x0, y0 = s.left + 15, s.y + 10
    w, h = 135.0, ctx.rng.uniform(95, 125)
    s.add(Rect(x0, y0, x0 + w, y0 + h, 1.2))
    cut_x = x0 + w * ctx.rng.uniform(0.45, 0.6)
    cut_y = y0 + h * ctx.rng.uniform(0.4, 0.6)
    mid_x = cut_x + (x0 + w - cut_x) / 2
    s.add(Line(cut_x, y0, cut_x, y0 + h, 0.9), Line(x0, cut_y, x0 + w, cut_y, 0.9))
    s.add(Line(x0 + w * 0.25, cut_y, x0 + w * 0.25, y0 + h, 0.9), Line(mid_x, y0, mid_x, cut_y, 0.9))
    rooms = ["客厅", "主卧", "次卧", "厨房", "卫生间", "餐厅", "阳台", "书房"]
    ctx.rng.shuffle(rooms)
    centres = [
        ((x0 + cut_x) / 2, (y0 + cut_y) / 2),
        ((cut_x + mid_x) / 2, (y0 + cut_y) / 2),
        ((mid_x + x0 + w) / 2, (y0 + cut_y) / 2),
        ((x0 + x0 + w * 0.25) / 2, (cut_y + y0 + h) / 2),
        ((x0 + w * 0.25 + x0 + w) / 2, (cut_y + y0 + h) / 2),
    ]
    for (cx, cy), name in zip(centres, rooms, strict=False):
        s.text(cx, cy, name, s.size - 1, align="center")
    for i in range(4):
        dim = ctx.rng.choice((2400, 2700, 3000, 3300, 3600, 3900, 4200, 4500))
        s.text(x0 + w * (i + 0.5) / 4, y0 - 5, str(dim), 8, align="center")
    s.add(Line(x0, y0 - 2.5, x0 + w, y0 - 2.5, 0.2))
    s.text(x0 + w + 10, y0 + 5, "N", 12, bold=True, align="center")
    s.add(Line(x0 + w + 10, y0 + 9, x0 + w + 10, y0 + 24, 0.5))
    s.y = y0 + h + 14
    u = ctx.hh.unit
    s.text(s.left, s.y, f"房号：{u.building}-{u.unit}-{u.room}    户型：{ctx.pick('三室两厅', '两室一厅', '四室两厅')}")
    s.gap(10)


def _decoration_table(ctx: Ctx, flow: Flow) -> None:
    """附件: 装饰、设备标准 — a two-column table of finishes."""
    heading = ctx.pick("附件二：装饰、设备标准", "附件：交付装修标准")

    def draw(sh: Sheet) -> None:
        sh.gap(6)
        sh.text(sh.left, sh.y, heading, bold=True)
        sh.gap(7)
        rows = [[label("部位"), label("装饰、设备标准")]] + [[label(a), val((), b)] for a, b in FINISHES]
        grid(sh, [40, 126], 9, rows, writer=None)
        sh.gap(5)

    flow.block(9 * (len(FINISHES) + 1) + 19, draw)


def _payment_schedule(ctx: Ctx, flow: Flow) -> None:
    """附件: 付款计划 — instalments (amounts the reader must not take as the total)."""
    total = ctx.hhh.purchase.total
    down = total * 3 // 10
    signed = ctx.hhh.purchase.signed
    heading = ctx.pick("附件三：付款计划", "附件：房价款付款明细")

    def draw(sh: Sheet) -> None:
        sh.gap(6)
        sh.text(sh.left, sh.y, heading, bold=True)
        sh.gap(7)
        rows = [
            [label("期数"), label("付款时间"), label("金额（元）"), label("备注")],
            [label("首期"), val((), _date_text(ctx, signed)), val((), str(down)), val((), "含定金")],
            [
                label("按揭"),
                val((), _date_text(ctx, signed + timedelta(days=30))),
                val((), str(total - down)),
                val((), "银行放款"),
            ],
        ]
        grid(sh, [25, 50, 45, 46], 10, rows, writer=None)
        sh.gap(5)

    flow.block(53, draw)


def _tail(
    ctx: Ctx, flow: Flow, arts: Articles, target: int, *, hand: bool, buyer_label: str, seller_label: str
) -> None:
    """Signatures, attachments towards ``target`` pages, then a signed 补充协议 that ends the contract."""
    signed = ctx.hhh.purchase.signed
    labels = {"buyer_label": buyer_label, "seller_label": seller_label}
    _fill(flow, arts, target - 3, 80, limit=len(PURCHASE_POOL), blanks=0.4)
    _signature_page(ctx, flow, signed, hand=hand, seller=ctx.hh.developer, **labels)
    for add in (_floor_plan, _decoration_table, _payment_schedule):
        if len(flow.sheets) >= target - 1:
            break
        add(ctx, flow)
    flow.new_page()
    flow.heading("补充协议", ctx.size + 4, center=True, before=2)
    supplement = Articles(ctx, PURCHASE_POOL)
    for _ in range(ctx.rng.randint(2, 5)):
        if flow.room() < 110:
            break
        supplement.filler(flow)
    _signature_page(ctx, flow, signed, hand=hand, seller=ctx.hh.developer, **labels)


# ================================================================= purchase contracts


def _purchase_truth(ctx: Ctx, total: int) -> dict[str, str]:
    """Fields of a purchase contract (``total`` as printed in figures)."""
    p, u, o = ctx.hhh.purchase, ctx.hh.unit, ctx.hhh.owner
    return {
        "contract_number": p.number,
        "buyer_name": o.name,
        "buyer_id_number": o.id_number,
        "seller_name": ctx.hh.developer,
        "building": u.building,
        "unit": u.unit,
        "room": u.room,
        "floor_area": p.area,
        "total_price": str(total),
        "signing_date": p.signed.isoformat(),
    }


def _parties(ctx: Ctx, flow: Flow, *, seller_label: str, buyer_label: str, hand: bool) -> None:
    """Seller (credit code, legal representative, agent with ID number) and buyer blocks on page 1."""
    p, o = ctx.hhh.purchase, ctx.hhh.owner
    w = ctx.staff_hand if hand else None
    flow.para([f"{seller_label}：", run(ctx.hh.developer, "seller_name", underline=hand)], indent=0)
    flow.para(
        [f"通讯地址：{ctx.hh.city}{ctx.pick('建设路', '科技园路', '中山路')}{ctx.rng.randint(1, 999)}号"], indent=0
    )
    flow.para([f"统一社会信用代码：{p.credit_code}"], indent=0)
    flow.para(
        [f"法定代表人：{p.legal_rep}    联系电话：0{ctx.rng.randint(20, 999)}-{ctx.rng.randrange(10**7, 10**8)}"],
        indent=0,
    )
    flow.para([f"委托代理人：{p.agent.name}    身份证号码：{p.agent.id_number}"], indent=0)
    flow.s.gap(3)
    flow.para([f"{buyer_label}：", run(o.name, "buyer_name", writer=w, underline=not hand), "    国籍：中国"], indent=0)
    if ctx.chance(0.3):  # the buyer pressed a thumbprint on their name
        flow.s.add(thumbprint_over(ctx, flow.s.spots[-1].box))
    flow.para(
        ["证件类型：居民身份证  证件号码：", run(o.id_number, "buyer_id_number", writer=w, underline=not hand)],
        indent=0,
    )
    co = ctx.hhh.co_owner
    if co is not None:
        flow.para([f"共同买受人：{co.name}    证件号码：{co.id_number}"], indent=0)
    flow.para([f"通讯地址：{o.address}"], indent=0)
    flow.para([f"联系电话：{fmt_phone(ctx.rng, o.phone)}"], indent=0)


def _unit_and_area(ctx: Ctx, flow: Flow, arts: Articles, *, hand: bool) -> None:
    """第N条: location (unit), floor and areas."""
    p, u = ctx.hhh.purchase, ctx.hh.unit
    w = ctx.staff_hand if hand else None
    shared = f"{float(p.area) - float(p.inner_area):.2f}"
    if hand:
        unit_parts: list[Part] = [
            run(u.building, "building", writer=w, min_w=12),
            "栋",
            run(u.unit, "unit", writer=w, min_w=10),
            "单元",
            run(u.room, "room", writer=w, min_w=14),
            "号房",
        ]
    else:
        unit_parts = [run(fmt_unit_prose(ctx.rng, u), UNIT, underline=ctx.chance(0.5))]
    flow.para(
        [
            arts.lead() + "买受人购买的商品房（以下简称该商品房）为本合同附件一房屋平面图中的第",
            *unit_parts,
            f"，位于{ctx.hh.estate}，所在楼层为第{u.room[:-2]}层，用途为住宅，结构为钢筋混凝土结构。",
        ],
        indent=0,
    )
    flow.para(
        [
            arts.lead() + "该商品房合同约定建筑面积共",
            run(p.area, "floor_area", writer=w, underline=not hand, min_w=18),
            "平方米，其中套内建筑面积",
            run(p.inner_area, writer=w, underline=not hand, min_w=18),
            "平方米，分摊共有建筑面积",
            run(shared, writer=w, underline=not hand, min_w=16),
            "平方米。",
        ],
        indent=0,
    )


def _price(ctx: Ctx, flow: Flow, arts: Articles, kind: str, *, hand: bool) -> tuple[int, dict[str, str]]:
    """第N条: unit price, area, total in figures and capitals; returns the printed total and flags."""
    p = ctx.hhh.purchase
    total = _printed_total(ctx, kind)
    words = amount_words(total, ctx.rng, wrong=kind == "words")
    w = ctx.staff_hand if hand else None
    flow.para(
        [
            arts.lead() + "计价方式与价款。出卖人与买受人按照建筑面积计算该商品房价款，该商品房单价为每平方米人民币",
            run(p.unit_price, writer=w, underline=not hand, min_w=18),
            "元，建筑面积",
            run(p.area, writer=w, underline=not hand, min_w=16),
            "平方米，总价款为人民币",
            run(
                f"{total}" if hand or ctx.chance(0.5) else f"{total:,}.00",
                "total_price",
                writer=w,
                underline=not hand,
                min_w=26,
                conds=frozenset({"amount_in_words"}),
            ),
            "元（大写：",
            run(words, "total_price", writer=w, underline=not hand, conds=frozenset({"amount_in_words"})),
            "）。",
        ],
        indent=0,
    )
    flags = {}
    if kind == "words":
        flags["total_price"] = FLAG_WORDS
    elif kind == "product":
        flags["total_price"] = FLAG_PRODUCT
    return total, flags


def _payment(ctx: Ctx, flow: Flow, arts: Articles, total: int) -> None:
    """第N条: down payment and mortgage."""
    down = total * ctx.rng.choice((3, 4, 5)) // 10
    flow.para(
        [
            arts.lead() + f"付款方式及期限。买受人采取银行按揭方式付款，首期房价款人民币{down}元"
            f"（大写：{upper_rmb(down)}）应于本合同签订当日支付，"
            f"余款人民币{total - down}元由买受人向贷款机构申请按揭贷款支付。"
        ],
        indent=0,
    )


def _delivery(ctx: Ctx, flow: Flow, arts: Articles) -> None:
    """第N条: delivery date (a date the reader must not take as the signing date)."""
    d = ctx.hh.move_in - timedelta(days=ctx.rng.randint(0, 60))
    flow.para(
        [
            arts.lead() + f"交付期限。出卖人应当在{d.year}年{d.month}月{d.day}日前向买受人交付该商品房，"
            "交付时应当符合本合同约定的交付条件。"
        ],
        indent=0,
    )


def _fill(flow: Flow, arts: Articles, target_pages: int, reserve: float, limit: int = 12, blanks: float = 0.0) -> None:
    """Boilerplate articles (at most ``limit``) until a block of ``reserve`` mm would end on page ``target_pages``."""
    guard = 0
    while guard < limit:
        guard += 1
        pages = len(flow.sheets)
        if pages > target_pages or (pages == target_pages and flow.room() < reserve + 30):
            return
        arts.filler(flow, blanks)


def _finish_contract(
    ctx: Ctx,
    doc_type: DocType,
    layout: str,
    flow: Flow,
    truth: dict[str, str],
    flags: dict[str, str],
    title: str,
    *,
    seal_org: str | None,
    riding: bool,
) -> HardDoc:
    """Footers, optional riding seals, truth."""
    pages = add_footers(flow.pages(), ctx.rng.choice(FOOTER_STYLES))
    if riding and seal_org:
        pages = _riding_seals(ctx, pages, seal_org)
    if seal_org:
        truth = {**truth, "seal_text": seal_org}
    ctx.conditions.add("long_contract")
    extra = FormParts()
    if "buyer_id_number" in truth:
        extra.mark(["buyer_id_number"], "distractor")
    if "tenant_id_number" in truth:
        extra.mark(["tenant_id_number"], "distractor")
    doc = _doc(ctx, doc_type, layout, pages, truth, extra, title)
    return replace(doc, flags=flags)


def purchase_model(ctx: Ctx) -> HardDoc:
    """商品房买卖合同 on the model text (GF-2014-0171 style), typed values, 7-12 pages, riding seals."""
    return _purchase(ctx, "model_typed", hand=False, target=ctx.rng.randint(8, 12))


def purchase_handfilled(ctx: Ctx) -> HardDoc:
    """The model contract with the unit, areas, prices and parties written by hand into its blanks, 6-10 pages."""
    return _purchase(ctx, "model_handfilled", hand=True, target=ctx.rng.randint(6, 10))


def _purchase(ctx: Ctx, layout: str, *, hand: bool, target: int) -> HardDoc:
    """The model purchase contract (typed or hand-filled)."""
    p = ctx.hhh.purchase
    kind = _inconsistency(ctx)
    flow = Flow(ctx)
    s = flow.s
    s.value("contract_number", s.right - text_width(p.number, s.size), s.y, p.number)
    s.text(s.right - text_width(p.number, s.size) - 1, s.y, "合同编号：", align="right")
    s.gap(14)
    title = ctx.pick("商品房买卖合同（预售）", "商品房买卖合同（现售）", "商品房买卖合同")
    s.title(title, ctx.rng.uniform(19, 23), after=3)
    if ctx.chance(0.6):
        s.title("（示范文本）", 11, after=1)
        s.text(PAGE_W / 2, s.y, "GF—2014—0171", 10, align="center")
        s.gap(8)
    flow.heading("第一章 合同当事人", center=ctx.chance(0.5))
    _parties(ctx, flow, seller_label="出卖人", buyer_label="买受人", hand=hand)
    if ctx.chance(0.7):
        _notes(ctx, flow)
    flow.para(
        [
            "根据《中华人民共和国民法典》《中华人民共和国城市房地产管理法》《商品房销售管理办法》等法律、法规的规定，"
            "出卖人和买受人在平等、自愿、公平、协商一致的基础上就商品房买卖事项达成如下协议。"
        ]
    )
    arts = Articles(ctx, PURCHASE_POOL)
    flow.heading("第二章 商品房基本状况", center=ctx.chance(0.5))
    for _ in range(ctx.rng.randint(1, 3)):
        arts.filler(flow)
    _unit_and_area(ctx, flow, arts, hand=hand)
    flow.heading("第三章 商品房价款", center=ctx.chance(0.5))
    total, flags = _price(ctx, flow, arts, kind, hand=hand)
    _payment(ctx, flow, arts, total)
    flow.heading("第四章 商品房交付条件与交付手续", center=ctx.chance(0.5))
    _delivery(ctx, flow, arts)
    for ch in (
        "第五章 面积差异处理方式",
        "第六章 商品房质量及保修责任",
        "第七章 房屋登记",
        "第八章 前期物业管理",
        "第九章 其他事项",
    ):
        flow.heading(ch, center=ctx.chance(0.5))
        for _ in range(ctx.rng.randint(1, 3)):
            arts.filler(flow)
    _tail(ctx, flow, arts, target, hand=hand, buyer_label="买受人", seller_label="出卖人")
    truth = _purchase_truth(ctx, total)
    if kind:
        ctx.conditions.add("amount_in_words")
    return _finish_contract(
        ctx,
        DocType.PURCHASE_CONTRACT,
        layout,
        flow,
        truth,
        flags,
        title,
        seal_org=ctx.hh.developer,
        riding=not hand and ctx.chance(0.5),
    )


def purchase_summary(ctx: Ctx) -> HardDoc:
    """A developer's own contract: parties on page 1, a ruled 房屋及价款 table on page 2-3, clauses, signatures."""
    p, u = ctx.hhh.purchase, ctx.hh.unit
    kind = _inconsistency(ctx)
    total = _printed_total(ctx, kind)
    words = amount_words(total, ctx.rng, wrong=kind == "words")
    target = ctx.rng.randint(6, 9)
    flow = Flow(ctx)
    s = flow.s
    title = f"{ctx.hh.estate}商品房买卖合同"
    s.title(title, ctx.rng.uniform(18, 21), after=2)
    box = s.text(PAGE_W / 2, s.y, f"合同号：{p.number}", 10.5, align="center")
    s.spot("contract_number", (box[0] + text_width("合同号：", 10.5), box[1], box[2], box[3]))
    s.gap(8)
    _parties(ctx, flow, seller_label="出卖人（甲方）", buyer_label="买受人（乙方）", hand=False)
    arts = Articles(ctx, PURCHASE_POOL)
    for _ in range(ctx.rng.randint(3, 6)):
        arts.filler(flow)
    flow.para([arts.lead() + "乙方所购房屋的基本情况及价款详见下表："], indent=0)

    def table(sh: Sheet) -> None:
        rows = [
            [Cell("房屋基本情况及价款", kind="section", cols=4)],
            [
                label("项目名称"),
                val((), ctx.hh.estate),
                label("房号"),
                val(UNIT, f"{u.building}栋{u.unit}单元{u.room}"),
            ],
            [label("建筑面积(㎡)"), val("floor_area", p.area), label("套内面积(㎡)"), val((), p.inner_area)],
            [label("单价(元/㎡)"), val((), p.unit_price), label("总价(元)"), val("total_price", f"{total:,}.00")],
            [label("总价大写"), val("total_price", f"人民币{words}", cols=3)],
            [
                label("付款方式"),
                val((), ctx.pick("按揭付款", "一次性付款", "分期付款")),
                label("交付日期"),
                val((), _date_text(ctx, ctx.hh.move_in - timedelta(days=ctx.rng.randint(0, 40)))),
            ],
        ]
        grid(sh, [32, 53, 32, 53], [9, 11, 11, 11, 11, 11], rows, writer=None, label_size=sh.size - 1)
        sh.gap(4)

    flow.block(70, table)
    flags = (
        {"total_price": FLAG_WORDS} if kind == "words" else {"total_price": FLAG_PRODUCT} if kind == "product" else {}
    )
    for sp in flow.s.spots:
        if "total_price" in sp.fields:
            flow.s.spots[flow.s.spots.index(sp)] = replace(sp, conditions=sp.conditions | {"amount_in_words"})
    _payment(ctx, flow, arts, total)
    _delivery(ctx, flow, arts)
    for _ in range(ctx.rng.randint(4, 9)):
        arts.filler(flow)
    _tail(ctx, flow, arts, target, hand=False, buyer_label="乙方", seller_label="甲方")
    if kind:
        ctx.conditions.add("amount_in_words")
    return _finish_contract(
        ctx,
        DocType.PURCHASE_CONTRACT,
        "summary_table",
        flow,
        _purchase_truth(ctx, total),
        flags,
        title,
        seal_org=ctx.hh.developer,
        riding=ctx.chance(0.3),
    )


def purchase_holdout(ctx: Ctx) -> HardDoc:
    """房屋买卖合同 (held out): 甲方（卖方）/ 乙方（买方）, 房款合计 wording, price before the unit, 7-10 pages."""
    p, u, o = ctx.hhh.purchase, ctx.hh.unit, ctx.hhh.owner
    kind = _inconsistency(ctx)
    total = _printed_total(ctx, kind)
    words = amount_words(total, ctx.rng, wrong=kind == "words")
    target = ctx.rng.randint(7, 10)
    flow = Flow(ctx, left=25, right=185)
    s = flow.s
    title = "房屋买卖合同"
    s.title(title, 22, after=6)
    flow.para(["卖方（以下简称甲方）：", run(ctx.hh.developer, "seller_name")], indent=0)
    flow.para([f"企业代码：{p.credit_code}  经办人：{p.agent.name}（{p.agent.id_number}）"], indent=0)
    flow.para(["买方（以下简称乙方）：", run(o.name, "buyer_name")], indent=0)
    flow.para(["乙方身份证件号：", run(o.id_number, "buyer_id_number")], indent=0)
    flow.para(["本合同编号：", run(p.number, "contract_number")], indent=0)
    flow.s.gap(4)
    arts = Articles(ctx, PURCHASE_POOL)
    for _ in range(ctx.rng.randint(4, 7)):
        arts.filler(flow)
    flow.para(
        [
            arts.lead() + "房款合计为人民币（大写）",
            run(words, "total_price", conds=frozenset({"amount_in_words"})),
            "，小写￥",
            run(f"{total:,}", "total_price", conds=frozenset({"amount_in_words"})),
            "元。该价款按套内建筑面积以外的建筑面积计价，即建筑面积",
            run(p.area, "floor_area"),
            f"平方米乘以每平方米{p.unit_price}元计算。",
        ],
        indent=0,
    )
    flow.para(
        [
            arts.lead() + "甲方出售的房屋坐落于",
            run(f"{ctx.hh.estate}{u.building}号楼{u.unit}单元{u.room}室", UNIT),
            "，房屋用途为住宅。",
        ],
        indent=0,
    )
    for _ in range(ctx.rng.randint(5, 10)):
        arts.filler(flow)
    _tail(ctx, flow, arts, target, hand=False, buyer_label="乙方", seller_label="甲方")
    flags = (
        {"total_price": FLAG_WORDS} if kind == "words" else {"total_price": FLAG_PRODUCT} if kind == "product" else {}
    )
    if kind:
        ctx.conditions.add("amount_in_words")
    return _finish_contract(
        ctx,
        DocType.PURCHASE_CONTRACT,
        "holdout_buyer_seller",
        flow,
        _purchase_truth(ctx, total),
        flags,
        title,
        seal_org=ctx.hh.developer,
        riding=False,
    )


# ================================================================= lease contracts


def _lease_truth(ctx: Ctx) -> dict[str, str]:
    """Fields of a lease."""
    ls = ctx.hhh.lease
    assert ls is not None
    u = ctx.hh.unit
    return {
        "tenant_name": ls.tenant.name,
        "tenant_id_number": ls.tenant.id_number,
        "landlord_name": ctx.hhh.owner.name,
        "building": u.building,
        "unit": u.unit,
        "room": u.room,
        "lease_start": ls.start.isoformat(),
        "lease_end": ls.end.isoformat(),
        "monthly_rent": str(ls.rent),
    }


def _lease_parties(ctx: Ctx, flow: Flow, *, hand: bool) -> None:
    """Landlord and tenant blocks, both with ID numbers and phones."""
    ls, o = ctx.hhh.lease, ctx.hhh.owner
    assert ls is not None
    w = ctx.owner_hand if hand else None
    t = ls.tenant
    first = [
        (
            [ctx.pick("出租方（甲方）：", "甲方（出租人）："), run(o.name, "landlord_name", writer=w, min_w=24)],
            "landlord",
        ),
        ([ctx.pick("承租方（乙方）：", "乙方（承租人）："), run(t.name, "tenant_name", writer=w, min_w=24)], "tenant"),
    ]
    for parts, who in first:
        person = o if who == "landlord" else t
        flow.para(parts, indent=0)
        if ctx.chance(0.25):  # a thumbprint pressed on the party's name
            flow.s.add(thumbprint_over(ctx, flow.s.spots[-1].box))
        fields = "tenant_id_number" if who == "tenant" else ()
        flow.para(["身份证号码：", run(person.id_number, fields, writer=w, min_w=50)], indent=0)
        flow.para(["联系电话：", run(fmt_phone(ctx.rng, person.phone), writer=w, min_w=32)], indent=0)
        flow.s.gap(2)


def _lease_body(ctx: Ctx, flow: Flow, arts: Articles, kind: str, *, hand: bool) -> dict[str, str]:
    """Premises, term and rent articles; returns flags."""
    ls, u = ctx.hhh.lease, ctx.hh.unit
    assert ls is not None
    w = ctx.owner_hand if hand else None
    flow.para(
        [
            arts.lead() + "甲方将其所有的位于",
            ctx.hh.estate,
            run(fmt_unit_prose(ctx.rng, u), UNIT, writer=w, underline=not hand),
            f"的房屋出租给乙方作居住使用，建筑面积{ls.area}平方米。",
        ],
        indent=0,
    )
    months = (ls.end.year - ls.start.year) * 12 + ls.end.month - ls.start.month + 1
    if hand:
        flow.para([arts.lead() + "租赁期限自"], indent=0)
        _blank_dates(ctx, flow, ls.start, ls.end)
    else:
        flow.para(
            [
                arts.lead() + "租赁期限自",
                run(_date_text(ctx, ls.start), "lease_start", underline=True),
                "起至",
                run(_date_text(ctx, ls.end), "lease_end", underline=True),
                f"止，共计{months}个月。",
            ],
            indent=0,
        )
    words = amount_words(ls.rent, ctx.rng, wrong=kind == "words")
    flow.para(
        [
            arts.lead() + "租金标准为每月人民币",
            run(
                str(ls.rent),
                "monthly_rent",
                writer=w,
                underline=not hand,
                min_w=18,
                conds=frozenset({"amount_in_words"}),
            ),
            "元（大写：",
            run(words, "monthly_rent", writer=w, underline=not hand, conds=frozenset({"amount_in_words"})),
            f"），按{ctx.pick('月', '季度', '半年')}支付，押金为{ctx.pick('一', '两')}个月租金。",
        ],
        indent=0,
    )
    return {"monthly_rent": FLAG_WORDS} if kind == "words" else {}


def _blank_dates(ctx: Ctx, flow: Flow, start: date, end: date) -> None:
    """自 ____年__月__日 起至 ____年__月__日 止 with handwritten numbers."""

    def draw(s: Sheet) -> None:
        s.gap(6)
        x = date_blanks(s, s.left + 8, s.y, start, "lease_start", ctx.owner_hand)
        s.text(x + 1, s.y, "起至")
        x = date_blanks(s, x + 12, s.y, end, "lease_end", ctx.owner_hand)
        s.text(x + 1, s.y, "止。")
        s.gap(8)

    flow.block(16, draw)


def _lease_signatures(ctx: Ctx, flow: Flow, signed: date, *, hand: bool, agency: str | None) -> None:
    """Both parties sign with thumbprints; an agency seal over the date when an agent arranged it."""
    ls, o = ctx.hhh.lease, ctx.hhh.owner
    assert ls is not None

    def draw(s: Sheet) -> None:
        s.gap(10)
        sign(ctx, s, s.left, "甲方（签字）", o.name, "landlord_name", writer=ctx.owner_hand, thumb=ctx.chance(0.7))
        sign(
            ctx,
            s,
            s.left + 90,
            "乙方（签字）",
            ls.tenant.name,
            "tenant_name",
            writer=ctx.staff_hand,
            thumb=ctx.chance(0.7),
        )
        s.gap(14)
        d = hand_date(ctx.rng, signed) if hand else _date_text(ctx, signed)
        box = s.text(s.left, s.y, f"签订日期：{d}")
        s.text(s.left + 90, s.y, f"签订日期：{d}")
        if agency:
            s.gap(14)
            abox = s.text(s.left, s.y, f"居间方：{agency}")
            s.add(seal_over(ctx, abox if ctx.chance(0.5) else box, agency, "业务专用章"))

    flow.block(60, draw)


def _handover_list(ctx: Ctx, flow: Flow, arts: Articles) -> None:
    """房屋交接清单: furniture and appliances with ticks and meter readings (clutter numbers)."""
    flow.para([arts.lead() + "房屋交付时，双方对房屋内设施及水电表读数确认如下："], indent=0)

    def draw(s: Sheet) -> None:
        items = ("空调", "冰箱", "洗衣机", "热水器", "电视机", "床", "衣柜", "沙发", "餐桌")
        rows = [[label("物品"), label("数量"), label("状况"), label("物品"), label("数量"), label("状况")]]
        chosen = ctx.rng.sample(items, 6)
        for i in range(0, 6, 2):
            rows.append(
                [
                    label(chosen[i]),
                    val((), str(ctx.rng.randint(1, 3))),
                    val((), "良好"),
                    label(chosen[i + 1]),
                    val((), str(ctx.rng.randint(1, 3))),
                    val((), "良好"),
                ]
            )
        rows.append(
            [
                label("水表读数"),
                val((), f"{ctx.rng.randint(10, 900)}", cols=2),
                label("电表读数"),
                val((), f"{ctx.rng.randint(100, 9000)}", cols=2),
            ]
        )
        grid(s, [28, 28, 29, 28, 28, 29], 9, rows, writer=ctx.owner_hand)
        s.gap(4)

    flow.block(55, draw)


def lease_typed(ctx: Ctx) -> HardDoc:
    """房屋租赁合同, typed, 3-6 pages, the landlord's ID beside the tenant's, rent in figures and capitals."""
    return _lease(ctx, "typed", hand=False)


def lease_handfilled(ctx: Ctx) -> HardDoc:
    """The printed lease form with names, ID numbers, unit, dates and rent written into the blanks."""
    return _lease(ctx, "handfilled", hand=True)


def _lease(ctx: Ctx, layout: str, *, hand: bool) -> HardDoc:
    """A long lease."""
    ls = ctx.hhh.lease
    assert ls is not None
    kind = "words" if ctx.rng.random() < 0.1 else ""
    target = ctx.rng.randint(3, 6)
    flow = Flow(ctx)
    title = ctx.pick("房屋租赁合同", "住房租赁合同", "房屋租赁合同书")
    flow.s.title(title, ctx.rng.uniform(18, 21), after=4)
    if ctx.chance(0.5):
        flow.s.text(
            flow.right, flow.s.y - 2, f"合同编号：ZL{ls.signed.year}{ctx.rng.randrange(10**5):05d}", 9.5, align="right"
        )
        flow.s.gap(4)
    _lease_parties(ctx, flow, hand=hand)
    flow.para(
        ["根据《中华人民共和国民法典》及有关规定，甲乙双方在平等、自愿、协商一致的基础上，就房屋租赁事宜达成如下协议："]
    )
    arts = Articles(ctx, LEASE_POOL)
    flags = _lease_body(ctx, flow, arts, kind, hand=hand)
    for _ in range(ctx.rng.randint(2, 5)):
        arts.filler(flow)
    _fill(flow, arts, target - 1, 60, limit=len(LEASE_POOL))
    _handover_list(ctx, flow, arts)
    _fill(flow, arts, target, 60, limit=len(LEASE_POOL))
    agency = (
        f"{ctx.hh.city}{ctx.pick('链家', '安居', '中原', '我爱我家')}房地产经纪有限公司" if ctx.chance(0.4) else None
    )
    _lease_signatures(ctx, flow, ls.signed, hand=hand, agency=agency)
    if kind:
        ctx.conditions.add("amount_in_words")
    return _finish_contract(
        ctx, DocType.LEASE_CONTRACT, layout, flow, _lease_truth(ctx), flags, title, seal_org=agency, riding=False
    )


def lease_tenant_form(ctx: Ctx) -> HardDoc:
    """租户登记表: a one-page ruled form, tenant ID in digit boxes, the landlord's ID number and phone too."""
    ls, u, o = ctx.hhh.lease, ctx.hh.unit, ctx.hhh.owner
    assert ls is not None
    t = ls.tenant
    title = ctx.pick("租户登记表", "出租屋租户信息登记表", "租户档案")
    s = ctx.sheet()
    s.title(title, 18, after=4)
    w = ctx.staff_hand
    pairs = [
        pair(ctx.pick("承租人", "租户姓名"), "tenant_name", t.name),
        pair("性别", (), t.sex),
        pair("联系电话", (), t.phone),
        pair(ctx.pick("身份证号", "证件号码"), "tenant_id_number", t.id_number, wide=True, kind="digits"),
        pair("房号", UNIT, f"{u.building}-{u.unit}-{u.room}"),
        pair(ctx.pick("出租人", "业主姓名"), "landlord_name", o.name),
        pair("业主身份证号", (), o.id_number, wide=True),
        pair("起租日期", "lease_start", hand_date(ctx.rng, ls.start)),
        pair("到期日期", "lease_end", hand_date(ctx.rng, ls.end)),
        pair(ctx.pick("月租金(元)", "租金/月"), "monthly_rent", str(ls.rent)),
        pair("居住人数", (), str(ctx.rng.randint(1, 4))),
    ]
    col_w, rows = above_rows(pairs, per_row=4)
    grid(s, col_w, heights(rows, 12, 8.5), rows, writer=w)
    s.gap(8)
    s.paragraph("承租人承诺遵守小区管理规定及治安、消防管理规定，登记信息真实有效。")
    s.gap(10)
    sign(ctx, s, s.left, "承租人签名", t.name, "tenant_name", writer=ctx.owner_hand, thumb=ctx.chance(0.5))
    box = s.text(s.left + 95, s.y, f"登记日期：{hand_date(ctx.rng, ls.signed)}")
    if ctx.chance(0.5):
        s.add(seal_over(ctx, box, ctx.hh.manager))
    parts = FormParts()
    parts.mark(["tenant_id_number"], "distractor")
    truth = _lease_truth(ctx)
    if any(isinstance(it, Seal) for it in s.items):
        truth["seal_text"] = ctx.hh.manager
    return _doc(ctx, DocType.LEASE_CONTRACT, "tenant_form", [s.page()], truth, parts, title)


def lease_holdout(ctx: Ctx) -> HardDoc:
    """房屋租赁协议 (held out): a parties table (role | name | ID | phone) and a terms table, 3-4 pages."""
    ls, u, o = ctx.hhh.lease, ctx.hh.unit, ctx.hhh.owner
    assert ls is not None
    t = ls.tenant
    flow = Flow(ctx, left=25, right=185)
    title = "房屋租赁协议"
    flow.s.title(title, 20, after=5)

    def parties(s: Sheet) -> None:
        rows = [
            [label("身份"), label("姓名"), label("证件号码"), label("电话")],
            [label("房东"), val("landlord_name", o.name), val((), o.id_number), val((), o.phone)],
            [label("租客"), val("tenant_name", t.name), val("tenant_id_number", t.id_number), val((), t.phone)],
        ]
        if ctx.chance(0.5):
            rows[1], rows[2] = rows[2], rows[1]
        grid(s, [22, 34, 58, 46], [9, 11, 11], rows, writer=None, x=s.left)
        s.gap(5)
        rows = [
            [label("出租房屋"), val(UNIT, f"{ctx.hh.estate}{u.building}幢{u.unit}单元{u.room}室", cols=3)],
            [label("租期"), val(("lease_start", "lease_end"), f"{ls.start:%Y.%m.%d} 至 {ls.end:%Y.%m.%d}", cols=3)],
            [label("月租"), val("monthly_rent", f"{ls.rent}元/月"), label("押金"), val((), f"{ls.rent * 2}元")],
        ]
        grid(s, [30, 50, 30, 50], 11, rows, writer=None, x=s.left)
        s.gap(5)

    flow.block(90, parties)
    arts = Articles(ctx, LEASE_POOL)
    _fill(flow, arts, ctx.rng.randint(3, 4), 60, limit=len(LEASE_POOL))
    _lease_signatures(ctx, flow, ls.signed, hand=False, agency=None)
    return _finish_contract(
        ctx, DocType.LEASE_CONTRACT, "holdout_tables", flow, _lease_truth(ctx), {}, title, seal_org=None, riding=False
    )
