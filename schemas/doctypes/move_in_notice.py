"""入住通知书: the notice telling the owner to come and take over the unit."""

from __future__ import annotations

from schemas.doctypes.base import DocSpec, FieldSpec, Person, labels, src, unit_fields
from schemas.doctypes.common import OWNER_NAME

building, unit, room = unit_fields()

SPEC = DocSpec(
    name="move_in_notice",
    label="入住通知书",
    order=5,
    titles=("入住通知书", "入伙通知书", "收楼通知书", "交房通知书", "入住通知"),
    title_words=(("通知", 1.0), ("入住", 1.5), ("入伙", 1.5), ("交房", 1.5), ("收楼", 1.5)),
    body_words=(
        ("入住手续", 2.5), ("办理入住", 2.5), ("特此通知", 2.0), ("通知书", 1.0), ("交付使用", 1.0),
        ("收楼手续", 1.5),
    ),
    labels={
        **labels("notice_date", "通知日期", "发出日期", "发文日期"),
        **labels("receipt_date", "签收日期", "签收时间", "回执日期", "收到日期", "接收日期"),
    },
    fields=(
        OWNER_NAME,
        building, unit, room,
        FieldSpec("notice_date", "date", (src("notice_date", "date"), src("date", "date")),
                  fallback="standalone_date"),
    ),
    people=(Person("owner", "owner_name"),),
)
