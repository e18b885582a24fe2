"""Classification and field extraction from OCR lines (ocr/classify.py, ocr/extract.py).

OCR output is built from text here (no engine needed): one text line per row,
cells separated by `` | `` become separate boxes on that row, like an engine
that puts a table's label and value in different boxes.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from ocr.classify import classify
from ocr.extract import build_rows, extract
from schemas.documents import DOC_FIELDS, DOC_LABELS, DocType
from schemas.models import OcrLine, OcrPage
from schemas.validators import id_check_digit

CHAR_W, LINE_H, PITCH, LEFT, COL_W = 20, 28, 48, 100, 440


def make_id(area: str, birth: str, seq: int) -> str:
    """A valid 18-character ID number."""
    first17 = f"{area}{birth}{seq:03d}"
    return first17 + id_check_digit(first17)


OWNER_ID = make_id("440305", "19900307", 123)  # male
AGENT_ID = make_id("110101", "19851122", 456)  # female
TENANT_ID = make_id("310104", "19920101", 77)  # male
LANDLORD_ID = make_id("510107", "19700505", 88)  # female


def page(text: str, index: int = 0, confidence: float = 0.95) -> OcrPage:
    """OCR page from text: a line per row; `` | `` splits a row into boxes in table columns."""
    lines: list[OcrLine] = []
    for r, raw in enumerate(text.strip("\n").split("\n")):
        y0 = 80 + r * PITCH
        for col, cell in enumerate(raw.split(" | ")):
            stripped = cell.strip()
            if stripped:
                x0 = LEFT + col * COL_W + (len(cell) - len(cell.lstrip())) * CHAR_W
                box = (x0, y0, x0 + len(stripped) * CHAR_W, y0 + LINE_H)
                lines.append(OcrLine(text=stripped, box=box, confidence=confidence))
    return OcrPage(index=index, engine="test", width=2480, height=3508, lines=tuple(lines))


def values(doc_type: DocType, *texts: str) -> dict[str, str]:
    """Extracted field values of a document made of ``texts`` (one page each)."""
    pages = [page(t, i) for i, t in enumerate(texts)]
    return {name: f.value for name, f in extract(doc_type, pages).fields.items()}


# ----------------------------------------------------------------------- owner registration

REGISTRATION = f"""
翠湖花园物业服务中心
业主入住登记表
小区名称：翠湖花园
业主姓名：王伟 | 性别：男
身份证号码：{OWNER_ID} | 联系电话：13812345678
房号：3栋2单元1201室 | 入住日期：2019年10月18日
工作单位：深圳市博雅科技有限公司
紧急联系人：李娜 | 紧急联系电话：139 1234 5678
家庭成员情况：
姓名 | 与业主关系 | 出生年月 | 工作单位
张敏 | 配偶 | 1991年5月 | 学生
业主签名： | 填表日期：2019.10.17
"""

REGISTRATION_FIELDS = {
    "owner_name": "王伟", "id_number": OWNER_ID, "phone": "13812345678", "building": "3", "unit": "2",
    "room": "1201", "move_in_date": "2019-10-18", "emergency_contact": "李娜",
    "emergency_phone": "13912345678",
}


def test_owner_registration_kv_rows() -> None:
    assert values(DocType.OWNER_REGISTRATION, REGISTRATION) == REGISTRATION_FIELDS


def test_owner_registration_table_cells_and_separate_unit_cells() -> None:
    text = f"""
业主档案表
姓名 | 陈静 | 性别 | 女
证件号码 | {AGENT_ID} | 手机号码 | 15987654321
楼栋 | A | 单元 | 1
房间号 | 302 | 入住时间 | 2020/03/05
紧急联络人 | 刘强 | 联系人电话 | 0755-86123456
备注 |
"""
    assert values(DocType.OWNER_REGISTRATION, text) == {
        "owner_name": "陈静", "id_number": AGENT_ID, "phone": "15987654321", "building": "A", "unit": "1",
        "room": "302", "move_in_date": "2020-03-05", "emergency_contact": "刘强",
        "emergency_phone": "0755-86123456",
    }


def test_owner_registration_one_box_per_row_like_the_engines() -> None:
    """Engines join a row's pieces with one space into one line: labels still split it."""
    joined = "\n".join(line.replace(" | ", " ") for line in REGISTRATION.strip().split("\n"))
    assert values(DocType.OWNER_REGISTRATION, joined.replace("：", "")) == REGISTRATION_FIELDS


def test_owner_registration_noisy_ocr() -> None:
    noisy_id = OWNER_ID.replace("0", "O").replace("1", "l")
    text = f"""
业 主 入 住 登 记 表
业主姓名.王 伟 | 性别:男
身份证号码 {noisy_id[:6]} {noisy_id[6:]} | 联系电话：l38 l234 5678
房 号：3栋2单元12O1室 | 入住日期 2019 年 10 月 18 日
紧急联系人 李娜 | 紧急联系电话：+86 139-1234-5678
"""
    got = values(DocType.OWNER_REGISTRATION, text)
    assert got == REGISTRATION_FIELDS


def test_labels_with_one_misread_character() -> None:
    text = f"""
业主入住登记表
业主娃名：王伟 | 性别：男
身份正号码：{OWNER_ID}
联系电舌：13812345678 | 紧急联系入：李娜
"""
    assert values(DocType.OWNER_REGISTRATION, text) == {
        "owner_name": "王伟", "id_number": OWNER_ID, "phone": "13812345678", "emergency_contact": "李娜",
    }


def test_ambiguous_misread_label_is_ignored() -> None:
    # "承X人" could be 承租人 (tenant) or 承诺人 (the owner of a commitment letter)
    assert "tenant_name" not in values(DocType.LEASE_CONTRACT, "房屋租赁合同\n承乙人：刘强")


def test_label_and_value_in_separate_boxes_with_value_on_next_line() -> None:
    text = """
业主入住登记表
业主姓名：
王伟
房屋坐落：
翠湖花园3栋2单元1201室
"""
    got = values(DocType.OWNER_REGISTRATION, text)
    assert got == {"owner_name": "王伟", "building": "3", "unit": "2", "room": "1201"}


def test_blank_fill_in_fields_give_no_phantom_values() -> None:
    text = """
业主入住登记表
业主姓名：________ | 性别：____
身份证号码：__________________
联系电话：
紧急联系人： | 紧急联系电话：
入住日期：    年    月    日
备注
"""
    assert values(DocType.OWNER_REGISTRATION, text) == {}


@pytest.mark.parametrize(("printed", "expected"), [
    ("John Smith", "John Smith"), ("JOHN SMITH", "JOHN SMITH"), ("阿依古丽·买买提", "阿依古丽·买买提"),
    ("王伟（签字）", "王伟"), ("欧阳娜娜", "欧阳娜娜"),
    ("WE", None), ("Ar 5", None), ("业主", None), ("请用正楷填写本表内容", None), ("王", None),
])
def test_name_values(printed: str, expected: str | None) -> None:
    assert values(DocType.OWNER_REGISTRATION, f"业主入住登记表\n业主姓名：{printed}").get("owner_name") == expected


def test_invalid_id_number_is_kept_and_flagged() -> None:
    wrong = OWNER_ID[:17] + ("0" if OWNER_ID[17] != "0" else "1")
    ex = extract(DocType.OWNER_REGISTRATION, [page(REGISTRATION.replace(OWNER_ID, wrong))])
    field = ex.fields["id_number"]
    assert field.value == wrong and field.valid is False
    assert field.issue == "ID number checksum fails"
    assert ex.has_invalid_fields
    assert wrong not in (field.issue or "")


def test_valid_id_is_preferred_among_candidates() -> None:
    wrong = OWNER_ID[:17] + ("0" if OWNER_ID[17] != "0" else "1")
    text = REGISTRATION.replace(f"身份证号码：{OWNER_ID}", f"身份证号码：{wrong} {OWNER_ID}")
    field = extract(DocType.OWNER_REGISTRATION, [page(text)]).fields["id_number"]
    assert field.value == OWNER_ID and field.valid


def test_id_number_found_without_label() -> None:
    text = f"""
业主入住登记表
业主姓名：王伟
{OWNER_ID}
"""
    ex = extract(DocType.OWNER_REGISTRATION, [page(text)])
    assert ex.fields["id_number"].value == OWNER_ID
    assert ex.fields["id_number"].confidence < ex.fields["owner_name"].confidence


def test_no_empty_strings_and_confidences_in_range() -> None:
    ex = extract(DocType.OWNER_REGISTRATION, [page(REGISTRATION, confidence=0.8)])
    sure = extract(DocType.OWNER_REGISTRATION, [page(REGISTRATION, confidence=0.99)])
    for name, f in ex.fields.items():
        assert f.value and f.name == name
        assert 0 < f.confidence <= sure.fields[name].confidence <= 1, "a worse reading is never surer"
    assert list(ex.fields) == [n for n in DOC_FIELDS[DocType.OWNER_REGISTRATION] if n in ex.fields]
    assert str(ex.unit_ref) == "3-2-1201"


# --------------------------------------------------------------------------------- ID card

ID_FRONT = f"""
居民身份证复印件（正反面）
姓名 | 王伟
性别 | 男 | 民族 | 汉
出生 | 1990 年 3 月 7 日
住址 | 广东省深圳市南山区幸福小区
 | 12栋3单元1502号
公民身份号码 | {OWNER_ID}
"""
ID_BACK = """
中华人民共和国
居 民 身 份 证
签发机关 | 深圳市公安局南山分局
有效期限 | 2015.01.08-2035.01.08
"""
ID_FIELDS = {
    "name": "王伟", "sex": "男", "ethnicity": "汉", "birth_date": "1990-03-07",
    "address": "广东省深圳市南山区幸福小区12栋3单元1502号", "id_number": OWNER_ID,
    "issuing_authority": "深圳市公安局南山分局", "valid_from": "2015-01-08", "valid_to": "2035-01-08",
}


def test_id_card_front_and_back() -> None:
    assert values(DocType.ID_CARD, ID_FRONT + ID_BACK) == ID_FIELDS
    assert values(DocType.ID_CARD, ID_BACK + ID_FRONT) == ID_FIELDS


def test_id_card_engine_style_rows() -> None:
    text = (ID_FRONT + ID_BACK).replace(" | ", " ").replace("     12栋", "    12栋")
    got = values(DocType.ID_CARD, text.replace("性别 男 民族 汉", "性别男 民族汉"))
    assert got == ID_FIELDS


def test_id_card_address_stops_at_an_unlabelled_id_row() -> None:
    text = ID_FRONT.replace("公民身份号码 |", "公民喘份Sm |").replace(" | 12栋3单元1502号", " | 12栋3单元1502号| \\")
    got = values(DocType.ID_CARD, text)
    assert got["address"] == ID_FIELDS["address"]
    assert got["id_number"] == OWNER_ID


def test_id_card_sex_and_birth_mismatch_flagged() -> None:
    ex = extract(DocType.ID_CARD, [page(ID_FRONT.replace("| 男 |", "| 女 |").replace("3 月 7", "3 月 8"))])
    field = ex.fields["id_number"]
    assert not field.valid
    assert "sex" in (field.issue or "") and "birth date" in (field.issue or "")


def test_ticked_sex_box() -> None:
    got = values(DocType.ID_CARD, f"性别：□男 ☑女\n公民身份号码：{AGENT_ID}")
    assert got["sex"] == "女"


def test_id_card_birth_and_sex_filled_from_id_when_unreadable() -> None:
    text = ID_FRONT.replace("出生 | 1990 年 3 月 7 日", "出生 | 199O 牛 ? 丹").replace("| 男 |", "| |")
    ex = extract(DocType.ID_CARD, [page(text)])
    assert ex.fields["birth_date"].value == "1990-03-07"
    assert ex.fields["sex"].value == "男"
    assert ex.fields["birth_date"].confidence <= ex.fields["id_number"].confidence


def test_masked_id_number_is_not_extracted() -> None:
    ex = extract(DocType.ID_CARD, [page("姓名 | 王伟\n公民身份号码 | 440305********1236")])
    assert "id_number" not in ex.fields


# ----------------------------------------------------------------------------- contracts

PURCHASE_P1 = f"""
合同编号：HT2019035210
商品房买卖合同（预售）
出卖人：深圳市万和房地产开发有限公司
通讯地址：深圳市人民路88号
统一社会信用代码：91440300MA5F0X1Y2Z
法定代表人：赵刚 | 联系电话：0755-86123456
买受人：王伟 | 国籍：中国
证件类型：居民身份证 | 证件号码：{OWNER_ID}
通讯地址：广东省深圳市南山区幸福小区12栋3单元1502号
第三条 商品房基本情况。买受人购买的商品房位于翠湖花园3栋2单元1201室，所在楼层为第12层。该商品房合同约定建筑
面积共56.62㎡，其中套内建筑面积45.30平方米。
第四条 计价方式与价款。按照建筑面积计算，该商品房单价为每平方米人民币120664.00元，总
价款为人民币（大写）陆佰捌拾叁万贰仟元整（小写：¥6,832,000.00元）。
"""
PURCHASE_P2 = """
第七条 面积差异处理。实测建筑面积与合同约定建筑面积发生误差的，误差比绝对值在3%以内（含3%）的部分据实结算。
出卖人（签章）： | 买受人（签章）：
法定代表人：赵刚 | 买受人：王伟
签订日期：2018年6月1日 | 签订地点：深圳市
"""


def test_purchase_contract() -> None:
    assert values(DocType.PURCHASE_CONTRACT, PURCHASE_P1, PURCHASE_P2) == {
        "contract_number": "HT2019035210", "buyer_name": "王伟", "buyer_id_number": OWNER_ID,
        "seller_name": "深圳市万和房地产开发有限公司", "building": "3", "unit": "2", "room": "1201",
        "floor_area": "56.62", "total_price": "6832000", "signing_date": "2018-06-01",
    }


def test_purchase_contract_noisy_contract_number_and_buyer_id_context() -> None:
    p1 = PURCHASE_P1.replace("HT2019035210", "HT2O19O3521O").replace(f"证件号码：{OWNER_ID}", "证件号码：")
    p1 = p1.replace("通讯地址：广东", f"{OWNER_ID}\n通讯地址：广东")
    got = values(DocType.PURCHASE_CONTRACT, p1, PURCHASE_P2)
    assert got["contract_number"] == "HT2019035210"
    assert got["buyer_id_number"] == OWNER_ID


LEASE_FIELDS = {
    "tenant_name": "刘强", "tenant_id_number": TENANT_ID, "landlord_name": "陈静", "building": "3",
    "unit": "2", "room": "1201", "lease_start": "2020-01-01", "lease_end": "2021-12-31",
    "monthly_rent": "3500",
}


def test_lease_contract() -> None:
    text = f"""
房屋租赁合同
出租方（甲方）：陈静 | 联系电话：13600001111
身份证号码：{LANDLORD_ID}
承租方（乙方）：刘强 | 联系电话：13700002222
证件号码：{TENANT_ID}
第一条 房屋基本情况。甲方将坐落于翠湖花园3栋2单元1201室的房屋出租给乙方居住使用，建筑面积56.62平方米。
第二条 租赁期限。租赁期自2020年1月1日起至
2021年12月31日止，共计24个月。
第三条 租金及支付方式。每月租金人民币3500元（大写：叁仟伍佰元整），按月支付；押金人民币7000元。
"""
    assert values(DocType.LEASE_CONTRACT, text) == LEASE_FIELDS


def test_tenant_file_table() -> None:
    text = f"""
租户信息登记表
租户姓名 | 刘强 | 性别 | 男
证件号码 | {TENANT_ID} | 联系电话 | 13700002222
房屋编号 | 3-2-1201
出租人 | 陈静 | 业主电话 | 13600001111
租赁期限 | 2020.01.01 至 2021.12.31
租金（月） | ¥3,500.00
"""
    assert values(DocType.LEASE_CONTRACT, text) == LEASE_FIELDS


def test_power_of_attorney_agent_id_is_not_the_principal_id() -> None:
    text = f"""
收楼委托书
委托人（业主）：王伟 | 身份证号码：{OWNER_ID}
受托人：陈静 | 身份证号码：{AGENT_ID}
受托人联系电话：15987654321
本人王伟系翠湖花园3号楼2单元1201号房的业主，因工作原因不能亲自办理收楼手续，现委托陈静全权代表本人办理。
委托人（签字）： | 受托人（签字）：
"""
    assert values(DocType.POWER_OF_ATTORNEY, text) == {
        "principal_name": "王伟", "agent_name": "陈静", "agent_id_number": AGENT_ID,
        "building": "3", "unit": "2", "room": "1201",
    }


# --------------------------------------------------------------------------- letters and forms


def test_move_in_notice() -> None:
    text = """
入住通知书
尊敬的王伟先生：
您好！您所购买的翠湖花园3栋2单元1201室已竣工验收合格，现通知您于2019年11月1日至2019年11月20日期间
办理入住手续。三、业主身份证原件及复印件；
特此通知。
深圳市万和物业服务有限公司
2019年10月18日
"""
    assert values(DocType.MOVE_IN_NOTICE, text) == {
        "owner_name": "王伟", "building": "3", "unit": "2", "room": "1201", "notice_date": "2019-10-18",
    }


def test_move_in_notice_date_after_the_company_name() -> None:
    text = """
入住通知书
尊敬的王伟女士：
您所购买的翠湖花园3栋2单元1201室已具备交付使用条件，请于2019年11月1日前办理入住手续。
深圳市万和物业服务有限公司    2019年10月18日
"""
    assert values(DocType.MOVE_IN_NOTICE, text)["notice_date"] == "2019-10-18"


def test_handover_form_meter_table() -> None:
    text = """
水电表底数确认单
业主 | 王伟 | 联系电话 | 13812345678
房屋编号 | 12幢4单元1304室 | 交接日期 | 2024年1月28日
表具名称 | 表号 | 底数 | 单位
水表 | 22568032 | 33.5 | 吨
电表 | 7115285514 | 345 | kWh
燃气表 | 87000307 | 6.4 | m³
业主（签字）： | 物业经办人：白博林
"""
    assert values(DocType.HANDOVER_FORM, text) == {
        "owner_name": "王伟", "building": "12", "unit": "4", "room": "1304", "handover_date": "2024-01-28",
        "water_meter": "33.5", "electricity_meter": "345",
    }


def test_handover_form_meter_pairs() -> None:
    text = """
收楼单
业主姓名：王伟 | 联系电话：13812345678
楼栋：5 | 单元：3 | 房号：1303
收楼日期：2015/10/08 | 水表读数：34.0吨
电表底数：82.7kWh | 燃气表底数：1.2m³
日期：2015.10.08
"""
    assert values(DocType.HANDOVER_FORM, text) == {
        "owner_name": "王伟", "building": "5", "unit": "3", "room": "1303", "handover_date": "2015-10-08",
        "water_meter": "34", "electricity_meter": "82.7",
    }


def test_renovation_application_period() -> None:
    text = """
装修申请表
申请人 | 王伟 | 联系电话 | 13812345678
房号 | 3栋2单元1201室
施工单位 | 深圳市名匠装饰工程有限公司
施工负责人 | 李强 | 负责人电话 | 13500001111
装修期限 | 2019年11月1日 至 2019年12月31日
装修押金 | 2000元
申请人承诺：严格遵守《装饰装修管理规定》，按批准的内容和时间施工。
申请人签字： | 申请日期：2019-10-25
"""
    assert values(DocType.RENOVATION_APPLICATION, text) == {
        "owner_name": "王伟", "building": "3", "unit": "2", "room": "1201",
        "contractor": "深圳市名匠装饰工程有限公司", "start_date": "2019-11-01", "end_date": "2019-12-31",
    }


def test_renovation_pledge_parties_in_brackets() -> None:
    text = """
装修责任书
甲方：深圳市万和物业服务有限公司
乙方（业主）：王伟 | 房屋编号：3-2-1201
丙方（施工单位）：深圳市名匠装饰工程有限公司
一、乙方房屋装修期限自2019年11月1日起至2019年12月31日止，如需延期须向甲方书面申请。
甲方（盖章）： | 乙方（签字）： | 丙方（盖章）：
"""
    assert values(DocType.RENOVATION_APPLICATION, text) == {
        "owner_name": "王伟", "building": "3", "unit": "2", "room": "1201",
        "contractor": "深圳市名匠装饰工程有限公司", "start_date": "2019-11-01", "end_date": "2019-12-31",
    }


@pytest.mark.parametrize("owner_label", ["乙方（业主）", "乙方", "业主姓名"])
def test_fire_safety_agreement(owner_label: str) -> None:
    text = f"""
消防安全协议书
甲方：深圳市万和物业服务有限公司
{owner_label}：王伟 | 楼栋：3 | 单元：2 | 房号：1201
1. 乙方是其房屋的消防安全责任人，应自觉遵守消防法律法规。
2. 乙方不得占用、堵塞疏散通道和安全出口。
甲方（盖章）： | 乙方（签字）：王伟
签订日期：2019年10月18日
"""
    assert values(DocType.FIRE_SAFETY_AGREEMENT, text) == {
        "owner_name": "王伟", "building": "3", "unit": "2", "room": "1201", "signing_date": "2019-10-18",
    }


def test_commitment_letter_signature_name_and_date() -> None:
    text = """
物业管理公约
第一条 业主应按时缴纳物业服务费。
第三条 业主饲养宠物应遵守有关规定。
业主（签字）：王伟 | 房号：3栋2单元1201室
日期：二〇一九年十月十八日
"""
    assert values(DocType.COMMITMENT_LETTER, text) == {
        "owner_name": "王伟", "building": "3", "unit": "2", "room": "1201", "signing_date": "2019-10-18",
    }


def test_other_documents_have_no_fields() -> None:
    text = "关于翠湖花园停水的通知\n各位业主、住户：\n定于2019年10月18日暂停供水。\n特此通知。"
    assert classify([page(text)])[0] == DocType.OTHER
    ex = extract(DocType.OTHER, [page(text)])
    assert ex.fields == {} and ex.doc_type == DocType.OTHER


def test_garbage_input_never_crashes() -> None:
    rng = random.Random(7)
    alphabet = "业主姓名身份证号码：:0123456789X栋单元室-一 年月日|_()（）￥,.\t\u3000\u200b"
    for _ in range(30):
        lines = []
        for _ in range(rng.randint(0, 12)):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
            x0, y0 = rng.randint(0, 500), rng.randint(0, 500)
            box = (x0, y0, x0 + rng.randint(0, 300), y0 + rng.randint(0, 40))
            lines.append(OcrLine(text=text, box=box, confidence=rng.random()))
        pages = [OcrPage(index=0, engine="t", width=800, height=600, lines=tuple(lines))]
        classify(pages)
        for doc_type in DocType:
            for f in extract(doc_type, pages).fields.values():
                assert f.value and 0 <= f.confidence <= 1


def test_rows_group_boxes_on_the_same_line() -> None:
    lines = (
        OcrLine(text="联系电话：13812345678", box=(900, 102, 1300, 128), confidence=0.9),
        OcrLine(text="业主姓名：王伟", box=(100, 100, 400, 130), confidence=0.9),
        OcrLine(text="入住日期：2019-10-18", box=(100, 160, 500, 190), confidence=0.9),
    )
    rows = build_rows([OcrPage(index=0, engine="t", width=2000, height=3000, lines=lines)])
    assert [r.text for r in rows] == ["业主姓名:王伟\t联系电话:13812345678", "入住日期:2019-10-18"]


# ---------------------------------------------------------------------------- classification

@pytest.mark.parametrize("doc_type", [t for t in DocType if t != DocType.OTHER])
def test_classify_titles(doc_type: DocType) -> None:
    text = f"深圳市万和物业服务有限公司\n{DOC_LABELS[doc_type]}\n姓名：王伟"
    got, confidence = classify([page(text)])
    assert got == doc_type and 0.5 <= confidence <= 1


@pytest.mark.parametrize(
    ("title", "doc_type"),
    [
        ("业 主 入 住 登 记 表", DocType.OWNER_REGISTRATION),
        ("业主入住登计表", DocType.OWNER_REGISTRATION),  # one wrong character
        ("业主入登记表", DocType.OWNER_REGISTRATION),  # one missing character
        ("商品房买实合同", DocType.PURCHASE_CONTRACT),
        ("房屋租赁合问", DocType.LEASE_CONTRACT),
        ("消防安全协仪书", DocType.FIRE_SAFETY_AGREEMENT),
        ("消防安全承诺书", DocType.FIRE_SAFETY_AGREEMENT),  # not a plain 承诺书
        ("收楼委托书", DocType.POWER_OF_ATTORNEY),  # not a 收楼单
        ("房屋交接验枚表", DocType.HANDOVER_FORM),
        ("水电表底数确认单", DocType.HANDOVER_FORM),
        ("装修竣工验收表", DocType.RENOVATION_APPLICATION),
        ("入往通知书", DocType.MOVE_IN_NOTICE),
        ("承 诺 书", DocType.COMMITMENT_LETTER),
        ("临时管理规约", DocType.COMMITMENT_LETTER),
    ],
)
def test_classify_noisy_titles(title: str, doc_type: DocType) -> None:
    assert classify([page(f"{title}\n第一条 本表由业主填写。")])[0] == doc_type


def test_classify_id_card_without_title() -> None:
    assert classify([page(ID_FRONT.split("\n", 2)[2] + ID_BACK)])[0] == DocType.ID_CARD


def test_classify_contract_body_without_title() -> None:
    body = "\n".join(PURCHASE_P1.strip().split("\n")[2:])
    assert classify([page(body)])[0] == DocType.PURCHASE_CONTRACT


@pytest.mark.parametrize(
    "text",
    ["", "温馨提示\n请勿在楼道内堆放杂物，保持消防通道畅通。", "收 据\n收款事由：装修押金\n金额：¥2,000.00",
     "Hello world\nInvoice 2019-10-18"],
)
def test_classify_other(text: str) -> None:
    pages = [page(text)] if text else [OcrPage(index=0, engine="t", width=10, height=10)]
    got, confidence = classify(pages)
    assert got == DocType.OTHER and 0 < confidence <= 1


def test_classify_empty_document() -> None:
    assert classify([])[0] == DocType.OTHER


# ------------------------------------------------------------- every synthetic template

synth = pytest.importorskip("tests.synth.templates")
items = pytest.importorskip("tests.synth.items")

_CONFUSE = {"0": "O", "1": "l", "5": "S", "8": "B"}


def _noisy(text: str, rng: random.Random) -> str:
    """OCR-like noise that keeps every value recoverable."""
    if rng.random() < 0.3:
        text = text.replace("：", rng.choice([":", ".", " ", ""]))
    if rng.random() < 0.2:
        text = text.replace("-", "一")
    if rng.random() < 0.2:
        text = re.sub(r"(?<=\d)([0158])(?=\d)",
                      lambda m: _CONFUSE[m.group(1)] if rng.random() < 0.2 else m.group(1), text)
    if rng.random() < 0.2 and len(text) > 3:
        i = rng.randrange(1, len(text))
        if re.match(r"[\u4e00-\u9fff]{2}", text[i - 1:i + 1]):
            text = text[:i] + " " + text[i:]
    return text


def synth_pages(doc: object, rng: random.Random, *, one_box_per_row: bool) -> list[OcrPage]:
    """OCR pages from a synthetic document's text items (ideal detector, noisy reader)."""
    px = 10.0
    pages = []
    for index, pg in enumerate(doc.pages):  # type: ignore[attr-defined]
        boxes = []
        for it in pg.items:
            if not isinstance(it, items.Text) or not it.text.strip():
                continue
            w = items.text_width(it.text, it.size)
            x0 = it.x if it.align == "left" else it.x - w / 2 if it.align == "center" else it.x - w
            h = it.size * items.PT_MM
            boxes.append((x0, it.y - h / 2, x0 + w, it.y + h / 2, _noisy(it.text, rng)))
        lines = [OcrLine(text=t, box=(int(a * px), int(b * px), int(c * px), int(d * px)), confidence=0.9)
                 for a, b, c, d, t in (_merge_rows(boxes) if one_box_per_row else boxes)]
        pages.append(OcrPage(index=index, engine="synth", width=2100, height=2970, lines=tuple(lines)))
    return pages


def _merge_rows(boxes: list[tuple]) -> list[tuple]:
    """One box per row, pieces joined by a space (what ocr.engines.merge_rows produces)."""
    rows: list[list[tuple]] = []
    for b in sorted(boxes, key=lambda b: (b[1] + b[3]) / 2):
        if rows and abs((rows[-1][0][1] + rows[-1][0][3]) / 2 - (b[1] + b[3]) / 2) < 0.5 * (b[3] - b[1]):
            rows[-1].append(b)
        else:
            rows.append([b])
    out = []
    for row in rows:
        row.sort(key=lambda b: b[0])
        out.append((row[0][0], min(b[1] for b in row), max(b[2] for b in row), max(b[3] for b in row),
                    " ".join(b[4] for b in row)))
    return out


def test_every_field_of_every_synthetic_template() -> None:
    """~220 random documents of every type: classification and every field must be exact."""
    rng = random.Random(20240611)
    wrong: list[str] = []
    for n in range(20):
        for doc_type in synth.TEMPLATES:
            doc = synth.make_document(doc_type, rng)
            pages = synth_pages(doc, rng, one_box_per_row=n % 2 == 0)
            got_type, _ = classify(pages)
            fields = {k: v.value for k, v in extract(doc_type, pages).fields.items()}
            if got_type != doc_type:
                wrong.append(f"{doc.title}: classified as {got_type}")
            if fields != doc.truth:
                diff = sorted(k for k in set(fields) | set(doc.truth) if fields.get(k) != doc.truth.get(k))
                wrong.append(f"{doc_type} {doc.title}: {diff}")
    assert wrong == []


# ------------------------------------------------------------- real scans through the real engine


@pytest.fixture(scope="module")
def rapid_pages(realworld_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[OcrPage]]:
    """Real-world photos OCR'd once by RapidOCR (PP-OCRv4) through the ingest reading path."""
    from ocr.engine_factory import make_engine
    from ocr.load import preflight
    from ocr.pipeline import read_document
    from schemas.settings import Settings

    settings = Settings(home=tmp_path_factory.mktemp("home"), workers=1)
    engine = make_engine("rapidocr", settings)
    out = {}
    for name in ("paddleocr__00059985.jpg", "paddleocr__00056221.jpg"):
        source = preflight(realworld_dir / name, settings)
        workdir = tmp_path_factory.mktemp("work")
        out[name] = read_document(source, engine=engine, settings=settings, workdir=workdir)
    return out


@pytest.mark.integration
def test_real_blank_fill_in_form_gives_no_phantom_name(rapid_pages: dict[str, list[OcrPage]]) -> None:
    pages = rapid_pages["paddleocr__00059985.jpg"]
    assert any("姓名" in line.text for p in pages for line in p.lines)
    assert classify(pages)[0] == DocType.OTHER
    for doc_type in (DocType.OWNER_REGISTRATION, DocType.ID_CARD):
        fields = extract(doc_type, pages).fields
        assert "owner_name" not in fields and "name" not in fields


@pytest.mark.integration
def test_real_masked_id_number_is_not_taken_for_an_id(rapid_pages: dict[str, list[OcrPage]]) -> None:
    pages = rapid_pages["paddleocr__00056221.jpg"]
    assert any("****" in line.text for p in pages for line in p.lines)
    assert classify(pages)[0] == DocType.OTHER
    for doc_type in (DocType.ID_CARD, DocType.OWNER_REGISTRATION):
        assert "id_number" not in extract(doc_type, pages).fields
