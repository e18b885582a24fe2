"""收楼单 / 房屋交接验收表 / 水电表底数确认单: the handover of the unit, with meter readings."""

from __future__ import annotations

from schemas.doctypes.base import DocSpec, FieldSpec, Person, labels, src, unit_fields
from schemas.doctypes.common import OWNER_NAME

building, unit, room = unit_fields()

SPEC = DocSpec(
    name="handover_form",
    label="房屋交接验收表",
    order=6,
    titles=(
        "收楼单", "房屋交接验收表", "水电表底数确认单", "房屋交接单", "收楼确认书", "房屋验收交接表",
        "交房验收表", "收楼验收表", "房屋交接书",
    ),
    title_words=(
        ("交接", 3.0), ("交付", 2.0), ("验收", 2.0), ("收楼", 1.5), ("水电", 2.0), ("读数", 2.5), ("底数", 2.5),
        ("抄表", 2.5), ("钥匙", 2.0), ("交房", 2.0),
    ),
    body_words=(
        ("水表", 2.0), ("电表", 2.0), ("燃气表", 1.0), ("底数", 1.5), ("读数", 1.0), ("交接", 1.5),
        ("验收", 1.0), ("钥匙", 1.0), ("收楼", 1.0),
    ),
    labels={
        **labels("handover_date", "交接日期", "收楼日期", "交房日期", "验收日期", "交付日期", "交接时间",
                 "收楼时间", "抄表日期", "确认日期"),
        **labels("water_meter", "水表底数", "水表读数", "水表示数", "水表起数"),
        **labels("water_meter", "水表", weak=True),
        **labels("electricity_meter", "电表底数", "电表读数", "电表示数", "电表起数"),
        **labels("electricity_meter", "电表", weak=True),
    },
    fields=(
        OWNER_NAME,
        building, unit, room,
        FieldSpec("handover_date", "date", (
            src("handover_date", "date"), src("move_in_date", "date"), src("date", "date"),
        )),
        FieldSpec("water_meter", "meter", (src("water_meter", "meter"),)),
        FieldSpec("electricity_meter", "meter", (src("electricity_meter", "meter"),)),
    ),
    people=(Person("owner", "owner_name"),),
)
