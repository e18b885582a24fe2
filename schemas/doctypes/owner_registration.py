"""业主入住登记表 / 业主档案表: the owner's registration form."""

from __future__ import annotations

from schemas.doctypes.base import DocSpec, FieldSpec, Person, labels, src, unit_fields
from schemas.doctypes.common import OWNER_CONTEXTS

building, unit, room = unit_fields()

SPEC = DocSpec(
    name="owner_registration",
    label="业主入住登记表",
    order=1,
    titles=(
        "业主入住登记表", "业主档案表", "业主登记表", "业主信息登记表", "业主资料登记表", "住户登记表",
        "业主入伙登记表", "业主档案", "业主信息表", "入住登记表", "业主资料卡", "业主登记卡", "业主信息卡",
    ),
    title_words=(
        ("业主", 1.0), ("住户", 1.0), ("登记", 1.0), ("档案", 1.5), ("入住登记", 2.0), ("入伙登记", 2.0), ("信息", 0.5),
        ("资料卡", 1.5),
    ),
    body_words=(
        ("业主姓名", 1.5), ("入住日期", 2.0), ("入住时间", 2.0), ("紧急联系人", 2.0), ("紧急联络人", 2.0),
        ("工作单位", 1.0), ("家庭成员", 1.0), ("与业主关系", 1.0), ("车牌号", 1.0), ("入住人数", 1.0),
        ("登记", 0.5),
    ),
    labels={
        **labels("emergency_contact", "紧急联系人姓名", "紧急联系人", "紧急联络人", "紧急联系人名称"),
        **labels("emergency_contact", "联系人", weak=True),
        **labels("emergency_phone", "紧急联系人电话", "紧急联系电话", "紧急电话", "紧急联络电话",
                 "紧急联络人电话", "联系人电话", "紧急联系人手机", "紧急联系人联系电话"),
        **labels("move_in_date", "入住日期", "入住时间", "入伙日期", "入伙时间"),
    },
    fields=(
        FieldSpec("owner_name", "name", (src("owner_name", "name"), src("name", "name", *OWNER_CONTEXTS))),
        FieldSpec("id_number", "id", (src("id_number", "id", *OWNER_CONTEXTS),), fallback="id_anywhere"),
        FieldSpec("phone", "phone", (src("phone", "phone", *OWNER_CONTEXTS),)),
        building, unit, room,
        FieldSpec("move_in_date", "date", (src("move_in_date", "date"), src("handover_date", "date"))),
        FieldSpec("emergency_contact", "name", (
            src("emergency_contact", "name"), src("name", "name", "emergency"),
        )),
        FieldSpec("emergency_phone", "phone", (
            src("emergency_phone", "phone"), src("phone", "phone", "emergency"),
        )),
    ),
    people=(Person("owner", "owner_name", "id_number"),),
)
