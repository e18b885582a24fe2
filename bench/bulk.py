"""Bulk-make an index of N documents (default 1,000,000) for the search benchmark, without OCR.

Each unit archive (分户档案) of a generated estate gets the documents a real
one holds (registration form, ID copy, purchase contract, move-in notice,
handover form, fire-safety agreement, commitment letter; sometimes a
renovation application, a lease, a power of attorney; some missing), with
realistic Chinese names (surnames by frequency), ID numbers with valid check
digits, phones, contract numbers and 200-400 characters of OCR-like text per
document. Rows go through the index's own code: field rows (HMAC, mask,
AES-GCM ciphertext) from ``Index._field_row``, search tokens from
``Index._document_tokens`` and ``Index._field_token_text``, data keys from
``wrap_key``; only the inserts are batched (``executemany`` on SQLite, ``COPY``
on PostgreSQL). Both databases get the same rows under the same archive keys,
so one pass builds both::

    python -m bench.bulk --count 1000000 --sqlite bench/out/search-1m.sqlite3 \\
        --pg postgresql+psycopg://postgres@127.0.0.1/dangan_bench_1m

The master key is ``bench/out/master.key`` (made on first use). A sample of
the values written (names, ID numbers, units, phrases) goes to
``<sqlite or db name>.queries.json`` beside it for ``bench/search.py``.

The bench's estates reuse building numbers, while the index keeps one active
archive per building-unit-room (``uq_archives_active_unit``, which only ingest's
filing relies on), so the bulk load drops that one index in its databases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from schemas.models import Extraction, FieldValue, FileKind, OcrLine, OcrPage, SourceFile
from schemas.validators import id_check_digit
from storage.crypto import DataKey, wrap_key
from storage.index import Index
from storage.keys import MasterKey
from storage.objects import ocr_key, original_key
from storage.tables import ArchiveKeyRow

OUT = Path(__file__).resolve().parent / "out"

# --------------------------------------------------------------------------- vocabularies

#: Surnames with rough relative frequencies (the most common first).
SURNAMES: list[tuple[str, float]] = [(s, w) for s, w in zip(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤",
    [7.1, 7.0, 6.7, 5.4, 4.5, 3.1, 2.2, 2.1, 2.0, 1.9, 1.8, 1.5, 1.2, 1.2, 1.1, 1.1, 1.1, 1.0, 1.0, 0.9,
     0.9, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
     0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3,
     0.3, 0.3, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2,
     0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2],
    strict=False)] + [("欧阳", 0.05), ("司马", 0.02), ("上官", 0.02), ("诸葛", 0.01)]
GIVEN = ("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国建华志强海燕"
         "雪梅晓东晓明丹宇浩然子涵欣怡梓轩一诺宇轩浩宇思远嘉怡文博天佑雨桐佳琪俊杰婷婷欣悦")
ESTATES = ("锦绣花园", "阳光家园", "翠湖苑", "金色港湾", "东方明珠城", "碧桂园", "万科城市花园", "恒大名都",
           "保利香槟国际", "龙湖春江郦城", "滨江壹号", "世纪华庭", "紫薇苑", "和平里小区", "融创御府", "中海国际社区",
           "绿地新里", "招商雍华府", "金地格林小城", "华润二十四城")
REGIONS = ("110101", "110105", "110108", "120101", "130102", "210102", "310101", "310104", "310115", "320102",
           "320505", "330102", "330106", "340102", "350102", "370102", "410102", "420102", "430102", "440103",
           "440106", "440305", "450102", "500103", "510104", "510107", "520102", "530102", "610103", "620102")
AUTHORITIES = ("北京市公安局东城分局", "上海市公安局浦东分局", "广州市公安局天河分局", "深圳市公安局南山分局",
               "成都市公安局武侯分局", "杭州市公安局西湖分局", "武汉市公安局江汉分局", "南京市公安局玄武分局")
STREETS = ("人民路", "解放路", "中山路", "建设路", "和平里街道", "朝阳北路", "长江路", "黄河路", "滨江大道", "南京东路")
CONTRACTORS = ("鑫达装饰工程有限公司", "华美装饰设计有限公司", "金螳螂家装", "东易日盛装饰", "业之峰装饰")
DEVELOPERS = ("锦绣置业有限公司", "阳光房地产开发有限公司", "万科企业股份有限公司", "保利发展控股集团",
              "龙湖地产有限公司")
#: Clauses of property-management paperwork; documents draw several.
CLAUSES = (
    "本人承诺遵守物业管理公约，按时缴纳物业服务费。", "业主应当按照约定交纳物业服务费用，逾期按日加收滞纳金。",
    "装修期间不得改动承重墙、梁柱及外墙结构。", "严禁高空抛物，违者承担相应法律责任。",
    "车辆应停放在指定车位，不得占用消防通道。", "房屋交付时水电表读数经双方确认无误。",
    "室内消防设施不得擅自拆除或改动。", "装修垃圾应装袋并运至指定地点，不得随意堆放。",
    "业主委员会依法履行职责，维护全体业主的合法权益。", "公共区域不得私搭乱建或堆放杂物。",
    "饲养宠物应当遵守有关规定，不得影响他人正常生活。", "施工时间为每日上午八时至十二时，下午二时至六时。",
    "如房屋出租，业主应将租户信息报物业服务中心备案。", "本协议一式两份，双方各执一份，自签字之日起生效。",
    "出卖人应当在约定期限内将商品房交付买受人使用。", "买受人逾期付款的，应向出卖人支付违约金。",
    "商品房的面积以房产测绘机构的实测面积为准。", "本合同未尽事宜，双方可另行签订补充协议。",
    "物业服务中心提供二十四小时安全巡逻和门岗服务。", "电梯、供水、供电等共用设施设备由物业负责日常维护。",
    "装修押金在竣工验收合格后无息退还。", "燃气管道不得私自改装，如需改动须报燃气公司审批。",
    "阳台不得封闭改作厨房或卫生间使用。", "空调外机应安装在预留位置，冷凝水须有组织排放。",
    "入住前请携带身份证原件及购房合同到物业服务中心办理手续。", "钥匙交接后房屋的保管责任转由业主承担。",
    "发现火灾隐患应立即报告物业服务中心并采取措施。", "消防安全责任人为房屋的业主或实际使用人。",
    "电动自行车不得在楼道内停放或充电。", "家庭装修应当使用符合国家标准的防火材料。",
    "委托人授权受托人代为办理收楼及相关手续。", "受托人在授权范围内所作的行为，委托人均予以承认。",
    "租赁期间承租人不得将房屋转租给第三人。", "租金按月支付，承租人应于每月五日前交纳。",
)
TITLES = {
    "owner_registration": "业主入住登记表", "id_card": "居民身份证", "purchase_contract": "商品房买卖合同",
    "move_in_notice": "入住通知书", "handover_form": "房屋交接验收表", "fire_safety_agreement": "消防安全协议书",
    "commitment_letter": "业主承诺书", "renovation_application": "装修申请表", "lease_contract": "房屋租赁合同",
    "power_of_attorney": "授权委托书",
}
#: (doc_type, chance an archive holds it)
ARCHIVE_DOCS = (("owner_registration", 0.96), ("id_card", 0.93), ("purchase_contract", 0.9),
                ("move_in_notice", 0.85), ("handover_form", 0.85), ("fire_safety_agreement", 0.8),
                ("commitment_letter", 0.8), ("renovation_application", 0.2), ("lease_contract", 0.08),
                ("power_of_attorney", 0.06))


# --------------------------------------------------------------------------- people and documents


@dataclass
class Person:
    name: str
    sex: str
    id_number: str
    phone: str
    birth: dt.date
    address: str


@dataclass
class Household:
    estate: str
    building: str
    unit: str
    room: str
    owner: Person
    archive_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class Maker:
    """Deterministic generator of households and their documents."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._surnames = [s for s, _ in SURNAMES]
        self._weights = [w for _, w in SURNAMES]
        self._contract_seq = 0
        self._used_units: set[tuple[str, str, str, str]] = set()

    def name(self) -> str:
        rng = self.rng
        given = rng.choice(GIVEN) if rng.random() < 0.35 else rng.choice(GIVEN) + rng.choice(GIVEN)
        return rng.choices(self._surnames, self._weights)[0] + given

    def person(self) -> Person:
        rng = self.rng
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 50))
        sex = rng.choice("男女")
        seq = rng.randrange(0, 500) * 2 + (1 if sex == "男" else 0)
        first17 = f"{rng.choice(REGIONS)}{birth:%Y%m%d}{seq:03d}"
        phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        address = f"{rng.choice(('北京市', '上海市', '广州市', '深圳市', '成都市', '杭州市'))}{rng.choice(STREETS)}" \
                  f"{rng.randint(1, 300)}号{rng.randint(1, 20)}栋{rng.randint(101, 2404)}室"
        return Person(self.name(), sex, first17 + id_check_digit(first17), phone, birth, address)

    def household(self) -> Household:
        rng = self.rng
        while True:
            key = (rng.choice(ESTATES), str(rng.randint(1, 36)), str(rng.randint(1, 4)),
                   f"{rng.randint(1, 33)}{rng.randint(1, 4):02d}")
            if key not in self._used_units:
                self._used_units.add(key)
                return Household(*key, owner=self.person())

    def contract_number(self, year: int) -> str:
        self._contract_seq += 1
        return self.rng.choice((f"HT-{year}-{self._contract_seq:06d}", f"GF{year}{self._contract_seq:07d}",
                                f"XS-{year}-{self._contract_seq:06d}"))

    def documents(self, h: Household, filed: dt.date) -> list[tuple[str, dict[str, str], list[str]]]:
        """(doc_type, fields, text lines) of the documents the household's archive holds."""
        rng = self.rng
        out = []
        for doc_type, chance in ARCHIVE_DOCS:
            if rng.random() < chance:
                fields, lines = self._document(doc_type, h, filed)
                out.append((doc_type, fields, lines))
        return out or [self._any(h, filed)]

    def _any(self, h: Household, filed: dt.date) -> tuple[str, dict[str, str], list[str]]:
        fields, lines = self._document("owner_registration", h, filed)
        return "owner_registration", fields, lines

    def _document(self, doc_type: str, h: Household, filed: dt.date) -> tuple[dict[str, str], list[str]]:
        rng, o = self.rng, h.owner
        unit = {"building": h.building, "unit": h.unit, "room": h.room}
        place = f"{h.estate}{h.building}栋{h.unit}单元{h.room}室"
        day = (filed - dt.timedelta(days=rng.randint(0, 900))).isoformat()
        fields: dict[str, str]
        if doc_type == "owner_registration":
            contact = self.person()
            fields = {"owner_name": o.name, "id_number": o.id_number, "phone": o.phone, **unit, "move_in_date": day,
                      "emergency_contact": contact.name, "emergency_phone": contact.phone}
            lines = [f"业主姓名：{o.name}  性别：{o.sex}", f"身份证号码：{o.id_number}", f"联系电话：{o.phone}",
                     f"房屋地址：{place}", f"入住日期：{day}", f"紧急联系人：{contact.name}  电话：{contact.phone}"]
        elif doc_type == "id_card":
            fields = {"name": o.name, "sex": o.sex, "ethnicity": "汉", "birth_date": o.birth.isoformat(),
                      "address": o.address, "id_number": o.id_number, "issuing_authority": rng.choice(AUTHORITIES),
                      "valid_from": "2015-03-01", "valid_to": "2035-03-01"}
            born = f"出生 {o.birth.year}年{o.birth.month}月{o.birth.day}日"
            lines = [f"姓名 {o.name}", f"性别 {o.sex}  民族 汉", born,
                     f"住址 {o.address}", f"公民身份号码 {o.id_number}", f"签发机关 {fields['issuing_authority']}",
                     "有效期限 2015.03.01-2035.03.01", "仅供办理入住手续使用"]
        elif doc_type == "purchase_contract":
            area = f"{rng.randint(55, 180)}.{rng.randint(0, 99):02d}"
            price = str(rng.randint(60, 600) * 10000)
            number = self.contract_number(int(day[:4]))
            fields = {"contract_number": number, "buyer_name": o.name, "buyer_id_number": o.id_number,
                      "seller_name": rng.choice(DEVELOPERS), **unit, "floor_area": area, "total_price": price,
                      "signing_date": day}
            lines = [f"合同编号：{number}", f"出卖人：{fields['seller_name']}", f"买受人：{o.name}",
                     f"证件号码：{o.id_number}", f"房屋坐落：{place}", f"建筑面积：{area}平方米",
                     f"总价款：人民币{price}元", f"签订日期：{day}"]
        elif doc_type == "lease_contract":
            tenant = self.person()
            fields = {"tenant_name": tenant.name, "tenant_id_number": tenant.id_number, "landlord_name": o.name,
                      **unit, "lease_start": day, "monthly_rent": str(rng.randint(15, 80) * 100)}
            lines = [f"出租人：{o.name}", f"承租人：{tenant.name}", f"身份证号：{tenant.id_number}",
                     f"房屋地址：{place}", f"月租金：{fields['monthly_rent']}元", f"租赁期自{day}起"]
        elif doc_type == "power_of_attorney":
            agent = self.person()
            fields = {"principal_name": o.name, "agent_name": agent.name, "agent_id_number": agent.id_number, **unit}
            lines = [f"委托人：{o.name}", f"受托人：{agent.name}", f"受托人身份证号码：{agent.id_number}",
                     f"委托事项：代为办理{place}收楼手续"]
        else:
            date_key = {"move_in_notice": "notice_date", "handover_form": "handover_date"}.get(doc_type, "signing_date")
            fields = {"owner_name": o.name, **unit, date_key: day}
            lines = [f"业主：{o.name}", f"房号：{place}", f"日期：{day}"]
            if doc_type == "handover_form":
                fields |= {"water_meter": str(rng.randint(0, 99)), "electricity_meter": str(rng.randint(0, 999))}
                lines.append(f"水表读数：{fields['water_meter']}  电表读数：{fields['electricity_meter']}")
            if doc_type == "renovation_application":
                fields |= {"contractor": rng.choice(CONTRACTORS), "start_date": day}
                lines.append(f"施工单位：{fields['contractor']}")
        lines.insert(0, TITLES[doc_type])
        length = sum(len(x) for x in lines)
        target = rng.randint(200, 400)
        clauses = rng.sample(CLAUSES, len(CLAUSES))
        while length < target and clauses:
            clause = clauses.pop()
            lines.append(clause)
            length += len(clause)
        return fields, lines


# --------------------------------------------------------------------------- rows


TABLES: dict[str, tuple[str, ...]] = {
    "data_keys": ("dek_id", "master_key_id", "algorithm", "wrapped", "created_at"),
    "files": ("id", "sha256", "source_name", "kind", "size", "page_count", "original_key", "ocr_key", "dek_id",
              "run_id", "created_at"),
    "archives": ("id", "building", "unit", "room", "status", "opened_at", "estate"),
    "documents": ("id", "file_id", "first_page", "pages", "doc_type", "doc_type_confidence", "archive_id", "status",
                  "created_at", "unit_source"),
    "pages": ("file_id", "document_id", "index", "rotation", "skew", "blank", "engine", "mean_confidence",
              "width", "height", "line_count"),
    "fields": ("document_id", "name", "value", "value_masked", "value_hmac", "value_enc", "value_key_id",
               "confidence", "valid", "issue", "page", "box"),
    "search_docs": ("doc_no", "document_id", "text_tokens", "field_tokens"),
}


@dataclass
class Chunk:
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {t: [] for t in TABLES})
    documents: int = 0


@dataclass
class Sample:
    names: list[str] = field(default_factory=list)
    id_numbers: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    contracts: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)


def generate(index: Index, master: MasterKey, count: int, seed: int, chunk: int,
             sample: Sample) -> Iterator[Chunk]:
    """Chunks of rows for ``count`` documents, filed from 2019 on, one file and data key each."""
    maker = Maker(seed)
    run_id = str(uuid.uuid4())
    start = dt.datetime(2019, 1, 1, 8, tzinfo=dt.UTC)
    step = dt.timedelta(minutes=7 * 365 * 24 * 60 / max(count, 1))
    made = 0
    current = Chunk()
    while made < count:
        h = maker.household()
        at = start + step * made
        current.rows["archives"].append((h.archive_id, h.building, h.unit, h.room, "active", at, h.estate))
        if maker.rng.random() < 0.002 * 1_000_000 / max(count, 1000) or len(sample.names) < 20:
            sample.names.append(h.owner.name)
            sample.id_numbers.append(h.owner.id_number)
            sample.phones.append(h.owner.phone)
            sample.units.append(f"{h.estate}{h.building}栋{h.unit}单元{h.room}")
        for doc_type, values, lines in maker.documents(h, at.date()):
            if made >= count:
                break
            made += 1
            doc_at = start + step * made
            _document_rows(index, master, current, made, run_id, doc_at, h, doc_type, values, lines, maker.rng)
            if doc_type == "purchase_contract" and len(sample.contracts) < len(sample.names):
                sample.contracts.append(values["contract_number"])
            if current.documents >= chunk:
                yield current
                current = Chunk()
    if current.documents:
        yield current


def _document_rows(index: Index, master: MasterKey, out: Chunk, doc_no: int, run_id: str, at: dt.datetime,
                   h: Household, doc_type: str, values: dict[str, str], lines: list[str],
                   rng: random.Random) -> None:
    sha = hashlib.sha256(os.urandom(16)).hexdigest()
    wrapped = wrap_key(DataKey.generate(master), master)
    file_id, doc_id = str(uuid.uuid4()), str(uuid.uuid4())
    name = f"scan_{doc_no:07d}.pdf"
    pages = 3 if doc_type in ("purchase_contract", "lease_contract") else 1
    out.rows["data_keys"].append((wrapped.dek_id, wrapped.master_key_id, wrapped.algorithm, wrapped.wrapped, at))
    out.rows["files"].append((file_id, sha, name, "pdf", rng.randint(80_000, 900_000), pages, original_key(sha),
                              ocr_key(sha), wrapped.dek_id, run_id, at))
    status = "needs_review" if rng.random() < 0.08 else "indexed"
    out.rows["documents"].append((doc_id, file_id, 0, pages, doc_type, round(rng.uniform(0.8, 0.99), 3),
                                  h.archive_id, status, at, "path"))
    per_page = max(1, len(lines) // pages)
    ocr_pages = []
    for i in range(pages):
        page_lines = lines[i * per_page:(i + 1) * per_page] if i < pages - 1 else lines[i * per_page:]
        ocr_pages.append(OcrPage(index=i, engine="rapidocr", width=2480, height=3508, lines=tuple(
            OcrLine(text=t, box=(120, 160 + 90 * j, 2300, 230 + 90 * j), confidence=0.95)
            for j, t in enumerate(page_lines))))
        out.rows["pages"].append((file_id, doc_id, i, 0, 0.0, False, "rapidocr", round(rng.uniform(0.85, 0.99), 3),
                                  2480, 3508, len(page_lines)))
    for f in values.items():
        row = index._field_row(doc_id, FieldValue(name=f[0], value=f[1], confidence=0.95))
        out.rows["fields"].append(tuple(row[c] for c in TABLES["fields"]))
    source = SourceFile(path=Path(name), name=name, size=1, sha256=sha, kind=FileKind.PDF, page_count=pages)
    extraction = Extraction(doc_type=doc_type, doc_type_confidence=0.9, fields={})
    text_tokens = " ".join(sorted(index._document_tokens(source, extraction, ocr_pages)))
    field_tokens = index._field_token_text(
        list(values.items()), {"building": h.building, "unit": h.unit, "room": h.room}, h.estate)
    out.rows["search_docs"].append((doc_no, doc_id, text_tokens, field_tokens))
    out.documents += 1


# --------------------------------------------------------------------------- writers


class SqliteWriter:
    """executemany into a SQLite index file (FTS kept by its triggers), one transaction per chunk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=OFF", "foreign_keys=OFF", "cache_size=-1000000"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("DROP INDEX IF EXISTS uq_archives_active_unit")

    def write(self, chunk: Chunk) -> None:
        self.conn.execute("BEGIN")
        for table, columns in TABLES.items():
            rows = [tuple(_sqlite_value(v) for v in r) for r in chunk.rows[table]]
            cols = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" for _ in columns)
            self.conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
        self.conn.execute("COMMIT")

    def finish(self) -> None:
        self.conn.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, list):
        return json.dumps(v)
    return v


class PgWriter:
    """COPY into a PostgreSQL index; secondary indexes are dropped for the load and built after it."""

    def __init__(self, url: str) -> None:
        import psycopg

        parsed = make_url(url)
        self.conn = psycopg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                                    dbname=parsed.database, autocommit=True)
        self.conn.execute("SET maintenance_work_mem = '2GB'")
        self.conn.execute("SET synchronous_commit = off")
        rows = self.conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND i.tablename = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            (list(TABLES),)).fetchall()
        self.indexes = [(name, ddl) for name, ddl in rows if name != "uq_archives_active_unit"]
        for name, _ in rows:
            self.conn.execute(f'DROP INDEX IF EXISTS "{name}"')

    def write(self, chunk: Chunk) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            for table, columns in TABLES.items():
                cols = ", ".join(f'"{c}"' for c in columns)
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    if table == "search_docs":  # text[] columns (storage.tables.TokenList)
                        for no, doc_id, text_tokens, field_tokens in chunk.rows[table]:
                            copy.write_row((no, doc_id, text_tokens.split(), field_tokens.split()))
                        continue
                    for row in chunk.rows[table]:
                        copy.write_row(tuple(json.dumps(v) if isinstance(v, list) else v for v in row))

    def finish(self) -> None:
        for name, ddl in self.indexes:
            started = time.perf_counter()
            self.conn.execute(ddl)
            print(f"  postgresql: {name} built in {time.perf_counter() - started:.0f} s", flush=True)
        self.conn.execute("SELECT setval(pg_get_serial_sequence('search_docs', 'doc_no'), "
                          "(SELECT max(doc_no) FROM search_docs))")
        for table in TABLES:
            self.conn.execute(f"VACUUM ANALYZE {table}")
        self.conn.close()


# --------------------------------------------------------------------------- main


def prepare(sqlite_path: Path | None, pg_url: str | None, master: MasterKey) -> tuple[Index, list[Any]]:
    """Fresh indexes sharing one set of archive keys (so one pass of tokens serves both)."""
    indexes: list[Index] = []
    if sqlite_path is not None:
        for p in sqlite_path.parent.glob(sqlite_path.name + "*"):
            p.unlink()
        indexes.append(Index(f"sqlite:///{sqlite_path}", master))
    if pg_url is not None:
        _recreate_pg_database(pg_url)
        indexes.append(Index(pg_url, master))
    for index in indexes:
        index.create_schema()
    first = indexes[0]
    first.unlock()
    with Session(first.engine) as s:
        keys = [{c.name: getattr(r, c.name) for c in ArchiveKeyRow.__table__.columns}
                for r in s.scalars(select(ArchiveKeyRow))]
    for other in indexes[1:]:
        with Session(other.engine) as s, s.begin():
            s.execute(insert(ArchiveKeyRow), keys)
        other.unlock()
    writers: list[Any] = []
    if sqlite_path is not None:
        writers.append(SqliteWriter(sqlite_path))
    if pg_url is not None:
        writers.append(PgWriter(pg_url))
    for index in indexes:
        index.close()
    return first, writers


def _recreate_pg_database(url: str) -> None:
    import psycopg

    parsed = make_url(url)
    with psycopg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username, dbname="postgres",
                         autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{parsed.database}"')


def main(argv: Sequence[str] | None = None) -> int:
    """Build the bench indexes; prints progress and the build times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--sqlite", type=Path, help="SQLite index file to (re)create")
    parser.add_argument("--pg", help="PostgreSQL URL of a database to (re)create")
    parser.add_argument("--key", type=Path, default=OUT / "master.key")
    args = parser.parse_args(argv)
    if args.sqlite is None and args.pg is None:
        parser.error("give --sqlite and/or --pg")
    OUT.mkdir(parents=True, exist_ok=True)
    master = MasterKey.load_or_create(args.key)
    index, writers = prepare(args.sqlite, args.pg, master)
    sample = Sample()
    started = time.perf_counter()
    spent = {type(w).__name__: 0.0 for w in writers}
    written = 0
    for chunk in generate(index, master, args.count, args.seed, args.chunk, sample):
        for writer in writers:
            t0 = time.perf_counter()
            writer.write(chunk)
            spent[type(writer).__name__] += time.perf_counter() - t0
        written += chunk.documents
        elapsed = time.perf_counter() - started
        print(f"{written:>9,} documents  {elapsed:6.0f} s  ({written / elapsed:,.0f}/s; writes "
              + ", ".join(f"{k} {v:.0f} s" for k, v in spent.items()) + ")", flush=True)
    for writer in writers:
        t0 = time.perf_counter()
        writer.finish()
        spent[type(writer).__name__] += time.perf_counter() - t0
    total = time.perf_counter() - started
    report = {"count": written, "seed": args.seed, "seconds": round(total), "write_seconds": spent,
              "sqlite": str(args.sqlite) if args.sqlite else None, "pg": args.pg,
              "queries": sample.__dict__, "built_at": dt.datetime.now(dt.UTC).isoformat()}
    target = queries_path(args.sqlite, args.pg)
    target.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"built {written:,} documents in {total:.0f} s; queries in {target}")
    return 0


def queries_path(sqlite_path: Path | None, pg_url: str | None) -> Path:
    """Where the build's sample of values is kept."""
    stem = sqlite_path.name if sqlite_path is not None else str(make_url(pg_url or "").database)
    return OUT / f"{stem}.queries.json"


if __name__ == "__main__":
    sys.exit(main())
