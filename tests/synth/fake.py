"""Deterministic fake data for Chinese property-management forms.

Every generator takes a seeded :class:`random.Random`; nothing here keeps state.
Printed forms vary (``fmt_*``); ground-truth values follow DESIGN.md formats.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾田董潘袁蔡蒋余杜叶程魏苏吕丁"
    "任卢姚沈钟姜崔谭陆范汪廖石金贾夏方邹熊白孟秦邱侯江尹薛段雷黎史陶贺毛郝顾龚邵万武钱戴严莫孔常汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛")
GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙林阳建国志文海东峰亮晨博德荣"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲燕婷雪慧莹琳颖倩洁佳欣悦梅兰红晶萍蕾薇丹琴云玉凤英春"
ETHNIC_MINOR = ("回", "满", "壮", "蒙古", "土家", "苗", "彝", "朝鲜", "藏", "维吾尔")

#: (area code, address prefix, issuing authority) from real GB/T 2260 codes.
AREAS = (
    ("110101", "北京市东城区", "北京市公安局东城分局"),
    ("110105", "北京市朝阳区", "北京市公安局朝阳分局"),
    ("310104", "上海市徐汇区", "上海市公安局徐汇分局"),
    ("310115", "上海市浦东新区", "上海市公安局浦东分局"),
    ("440305", "广东省深圳市南山区", "深圳市公安局南山分局"),
    ("440304", "广东省深圳市福田区", "深圳市公安局福田分局"),
    ("440106", "广东省广州市天河区", "广州市公安局天河区分局"),
    ("330106", "浙江省杭州市西湖区", "杭州市公安局西湖区分局"),
    ("510107", "四川省成都市武侯区", "成都市公安局武侯区分局"),
    ("420106", "湖北省武汉市武昌区", "武汉市公安局武昌区分局"),
)
STREETS = (
    "建设路",
    "人民路",
    "解放大道",
    "科技园路",
    "和平里",
    "长江路",
    "文化街",
    "中山路",
    "滨河路",
    "学府路",
)
VILLAGES = ("幸福小区", "阳光花园", "金桥村", "东湖新村", "南苑", "红星社区", "向阳街道")

CITIES = ("深圳市", "上海市", "北京市", "杭州市", "成都市", "武汉市")
BRANDS = ("万和", "鸿泰", "嘉禾", "锦程", "恒信", "安居", "博雅", "东方", "名匠", "尚品", "华庭", "合景")
ESTATES = (
    "翠湖花园",
    "阳光新城",
    "锦绣华庭",
    "碧海蓝天苑",
    "金域名都",
    "御景湾",
    "紫荆山庄",
    "滨江一号",
    "香樟园",
    "观澜雅苑",
)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_UPPER_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UPPER_UNITS = ("", "拾", "佰", "仟")
_UPPER_GROUPS = ("", "万", "亿")


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a resident ID number (GB 11643)."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def make_id_number(rng: random.Random, area: str, birth: date, male: bool) -> str:
    """An 18-digit ID number: area + birth date + sequence (odd = male) + check."""
    seq = rng.randrange(0, 500) * 2 + (1 if male else 0)
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_digit(first17)


def rand_date(rng: random.Random, start: date, end: date) -> date:
    """A uniform date in [start, end] with day <= 28 (safe for anniversaries)."""
    d = start + timedelta(days=rng.randrange((end - start).days + 1))
    return d.replace(day=min(d.day, 28))


def add_years(d: date, years: int) -> date:
    """Same calendar day ``years`` later (callers keep day <= 28)."""
    return d.replace(year=d.year + years)


def person_name(rng: random.Random, male: bool) -> str:
    """A Chinese name of 2 or 3 characters (rarely a compound surname)."""
    pool = GIVEN_MALE if male else GIVEN_FEMALE
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.02 else rng.choice(SURNAMES)
    n_given = 1 if rng.random() < 0.4 else 2
    return surname + "".join(rng.choice(pool) for _ in range(n_given))


def phone_number(rng: random.Random) -> str:
    """A mainland mobile number 1[3-9]xxxxxxxxx."""
    return "1" + str(rng.randint(3, 9)) + "".join(str(rng.randrange(10)) for _ in range(9))


@dataclass(frozen=True)
class Person:
    """A resident with a consistent ID card."""

    name: str
    male: bool
    birth: date
    ethnicity: str
    area: str
    address: str
    authority: str
    id_number: str
    phone: str

    @property
    def sex(self) -> str:
        """男 or 女."""
        return "男" if self.male else "女"


def make_person(rng: random.Random) -> Person:
    """A random adult resident (born 1950-2002) with a valid ID number."""
    male = rng.random() < 0.55
    birth = rand_date(rng, date(1950, 1, 1), date(2002, 12, 28))
    area, prefix, authority = rng.choice(AREAS)
    ethnicity = "汉" if rng.random() < 0.9 else rng.choice(ETHNIC_MINOR)
    return Person(
        name=person_name(rng, male),
        male=male,
        birth=birth,
        ethnicity=ethnicity,
        area=area,
        address=home_address(rng, prefix),
        authority=authority,
        id_number=make_id_number(rng, area, birth, male),
        phone=phone_number(rng),
    )


def home_address(rng: random.Random, prefix: str) -> str:
    """A registered-residence address (户籍地址) under an area prefix."""
    if rng.random() < 0.5:
        return f"{prefix}{rng.choice(STREETS)}{rng.randint(1, 399)}号"
    return (
        f"{prefix}{rng.choice(VILLAGES)}{rng.randint(1, 30)}栋"
        f"{rng.randint(1, 6)}单元{rng.randint(1, 30)}{rng.randint(1, 4):02d}号"
    )


def validity(rng: random.Random, birth: date) -> tuple[date, date]:
    """Issue and expiry dates of an ID card: 10 years under 26 at issue, else 20."""
    earliest = max(date(2008, 1, 1), add_years(birth, 16))
    latest = min(date(2023, 12, 28), add_years(birth, 45))
    if earliest > latest:
        earliest = latest - timedelta(days=365)
    start = rand_date(rng, earliest, latest)
    years = 10 if (start - birth).days < 26 * 365 else 20
    return start, add_years(start, years)


@dataclass(frozen=True)
class UnitRef:
    """A household unit: building (楼栋), unit (单元), room (房号)."""

    building: str
    unit: str
    room: str


def make_unit(rng: random.Random) -> UnitRef:
    """A unit reference such as building 3, unit 2, room 1201."""
    building = rng.choice("ABCDE") if rng.random() < 0.1 else str(rng.randint(1, 28))
    floor = rng.randint(1, 32)
    return UnitRef(building, str(rng.randint(1, 4)), f"{floor}{rng.randint(1, 4):02d}")


def fmt_unit(rng: random.Random, u: UnitRef) -> str:
    """The unit as printed on a form: 3栋2单元1201室 / 3号楼2单元1201 / 3-2-1201 ..."""
    b = u.building
    styles = [
        f"{b}栋{u.unit}单元{u.room}室",
        f"{b}栋{u.unit}单元{u.room}房",
        f"{b}幢{u.unit}单元{u.room}室",
        f"{b}-{u.unit}-{u.room}",
        f"{b}栋{u.unit}单元{u.room}",
        f"{b}座{u.unit}单元{u.room}室" if not b.isdigit() else f"{b}号楼{u.unit}单元{u.room}",
    ]
    return rng.choice(styles)


def fmt_unit_prose(rng: random.Random, u: UnitRef) -> str:
    """The unit as written in running text (never the dashed short form)."""
    b = u.building
    tail = rng.choice(("室", "房", "号房"))
    mid = "座" if not b.isdigit() else rng.choice(("栋", "幢", "号楼"))
    return f"{b}{mid}{u.unit}单元{u.room}{tail}"


def fmt_date(rng: random.Random, d: date, *, prose: bool = False) -> str:
    """A date as printed: 2019年10月18日 / 2019.10.18 / 2019-10-18 / 2019年 10 月 18 日."""
    cn = [
        f"{d.year}年{d.month}月{d.day}日",
        f"{d.year}年{d.month:02d}月{d.day:02d}日",
        f"{d.year} 年 {d.month} 月 {d.day} 日",
    ]
    if prose:
        return rng.choice(cn)
    return rng.choice([*cn, f"{d:%Y.%m.%d}", f"{d:%Y-%m-%d}", f"{d:%Y/%m/%d}"])


def fmt_phone(rng: random.Random, phone: str) -> str:
    """A phone as printed: mostly plain 11 digits, sometimes grouped 3-4-4."""
    r = rng.random()
    if r < 0.1:
        return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    if r < 0.15:
        return f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"
    return phone


def upper_rmb(amount: int) -> str:
    """Chinese financial capitals for a whole-yuan amount, e.g. 陆佰捌拾叁万贰仟元整."""
    if amount == 0:
        return "零元整"
    groups: list[int] = []
    while amount:
        groups.append(amount % 10000)
        amount //= 10000
    out = ""
    need_zero = False
    for gi in range(len(groups) - 1, -1, -1):
        g = groups[gi]
        if g == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or g < 1000):
            out += "零"
        out += _group_upper(g) + _UPPER_GROUPS[gi]
        need_zero = False
    return out + "元整"


def _group_upper(g: int) -> str:
    """Capitals of a 4-digit group without leading zero."""
    digits = f"{g:04d}"
    out, zero = "", False
    for i, ch in enumerate(digits):
        d = int(ch)
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += _UPPER_DIGITS[d] + _UPPER_UNITS[3 - i]
    return out


def fmt_money(rng: random.Random, amount: int, *, allow_upper: bool = True) -> str:
    """A whole-yuan amount as printed: 人民币6832000元 / 6,832,000.00元 / ¥6,832,000.00 / capitals."""
    styles = [
        f"人民币{amount}元",
        f"{amount:,}.00元",
        f"¥{amount:,}.00",
        f"{amount}元",
        f"人民币{amount:,}元",
    ]
    if allow_upper:
        styles.append(f"人民币（大写）{upper_rmb(amount)}（小写：¥{amount:,}.00元）")
        styles.append(f"{upper_rmb(amount)}（¥{amount}）")
    return rng.choice(styles)


def decimal_value(rng: random.Random, lo: float, hi: float, places: int) -> str:
    """A decimal string in [lo, hi] whose last printed digit is not 0 (no ambiguity)."""
    while True:
        v = f"{rng.uniform(lo, hi):.{places}f}"
        if places == 0 or not v.endswith("0"):
            return v


def fmt_area(rng: random.Random, area: str) -> str:
    """A floor area as printed: 56.62平方米 / 56.62㎡ / 56.62 m²."""
    return rng.choice((f"{area}平方米", f"{area}㎡", f"{area} m²", f"{area}平方米"))


def company(rng: random.Random, kind: str, city: str | None = None) -> str:
    """A company name: kind in 物业服务 / 房地产开发 / 装饰工程 ..."""
    return f"{city or rng.choice(CITIES)}{rng.choice(BRANDS)}{kind}有限公司"


def contract_number(rng: random.Random, year: int) -> str:
    """An ASCII contract number such as HT2019035210 or YS-2019-03521."""
    n = rng.randrange(1, 99999)
    return rng.choice(
        (f"HT{year}{n:06d}", f"YS-{year}-{n:05d}", f"SZ{year}A{n:05d}", f"{year}{n:07d}", f"XS{year}-{n:04d}")
    )


@dataclass(frozen=True)
class Household:
    """An owner, their unit, the estate and its companies (one archive)."""

    owner: Person
    unit: UnitRef
    estate: str
    city: str
    manager: str
    developer: str
    move_in: date
