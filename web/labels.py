"""Chinese words the pages show for field names, statuses, roles and purposes (页面用语)."""

from __future__ import annotations

from functools import cache

from schemas.documents import DOC_LABELS

#: Field labels as a clerk reads them on the forms.
_FIELD_LABELS = {
    "owner_name": "业主姓名", "name": "姓名", "id_number": "身份证号码", "phone": "联系电话",
    "building": "楼栋", "unit": "单元", "room": "房号", "move_in_date": "入住日期",
    "emergency_contact": "紧急联系人", "emergency_phone": "紧急联系电话", "sex": "性别", "ethnicity": "民族",
    "birth_date": "出生日期", "address": "住址", "issuing_authority": "签发机关", "valid_from": "有效期起",
    "valid_to": "有效期止", "contract_number": "合同编号", "buyer_name": "买受人", "buyer_id_number": "买受人证件号码",
    "seller_name": "出卖人", "floor_area": "建筑面积", "total_price": "总价款", "total_price_words": "总价款(大写)",
    "unit_price": "单价", "signing_date": "签订日期", "tenant_name": "承租人", "tenant_id_number": "承租人证件号码",
    "landlord_name": "出租人", "lease_start": "起租日期", "lease_end": "终止日期", "monthly_rent": "月租金",
    "monthly_rent_words": "月租金(大写)", "notice_date": "通知日期", "handover_date": "交接日期",
    "water_meter": "水表底数", "electricity_meter": "电表底数", "contractor": "施工单位", "start_date": "开工日期",
    "end_date": "完工日期", "principal_name": "委托人", "agent_name": "受托人", "agent_id_number": "受托人证件号码",
    "seal_text": "印章文字", "copy_purpose": "复印件用途",
}

STATUS_LABELS = {"indexed": "已入库", "needs_review": "待复核"}

ROLE_LABELS = {
    "leadership": "公司领导", "archive_manager": "档案管理员", "clerk": "前台/客服", "auditor": "审计",
    "external_authority": "外部机关(公安/法院)", "owner": "业主", "local_operator": "本机管理员",
}

UNIT_SOURCE_LABELS = {"path": "来自上传/扫描文件夹", "ocr": "从页面识别", "cover_sheet": "来自封面页",
                      "id_number": "按身份证号归入本人档案"}

#: The purposes (查阅目的) a viewer picks from before a document opens; any other may be typed.
PURPOSES = ("业务办理", "业主查询", "档案整理", "复核更正", "审计检查", "执法调查")


@cache
def field_label(name: str) -> str:
    """The Chinese label of a field (the first printed label the reader knows, else the name)."""
    if name in _FIELD_LABELS:
        return _FIELD_LABELS[name]
    from schemas.doctypes import LEXICON

    for text, label in LEXICON.items():
        if label.key == name:
            return text
    return name


def doc_label(doc_type: str) -> str:
    """The Chinese name of a document type."""
    return DOC_LABELS.get(doc_type, doc_type)
