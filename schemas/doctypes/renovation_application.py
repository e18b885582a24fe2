"""装修申请表 / 装修责任书 / 竣工验收表: renovation application, pledge and completion check."""

from __future__ import annotations

from collections.abc import Mapping

from schemas.doctypes.base import DocSpec, FieldSpec, Person, labels, src, unit_fields
from schemas.doctypes.common import OWNER_NAME

building, unit, room = unit_fields()


def works_in_order(values: Mapping[str, str]) -> dict[str, str]:
    """Works cannot end before they start."""
    start, end = values.get("start_date"), values.get("end_date")
    if start and end and end < start:
        return {"end_date": "the works end before they start"}
    return {}


SPEC = DocSpec(
    name="renovation_application",
    label="装修申请表",
    order=7,
    titles=(
        "装修申请表", "装修责任书", "竣工验收表", "装修竣工验收表", "装修施工申请表", "装修管理协议",
        "装饰装修申请表", "装修申请书", "装修协议书",
    ),
    title_words=(("装修", 3.0), ("装饰", 3.0), ("竣工", 2.0), ("施工", 2.0), ("报建", 2.0)),
    body_words=(
        ("装修", 2.5), ("施工单位", 2.0), ("装修单位", 2.0), ("装修公司", 1.5), ("开工日期", 1.5),
        ("竣工", 1.5), ("施工", 1.0), ("装修押金", 1.0), ("承重", 1.0), ("装修期限", 1.5), ("垃圾清运", 1.0),
    ),
    labels={
        **labels("start_date", "开工日期", "计划开工日期", "开工时间", "装修开始日期", "施工开始日期"),
        **labels("end_date", "完工日期", "竣工日期", "预计完工日期", "计划完工日期", "完工时间", "竣工时间",
                 "预计竣工日期", "峻工日期", "俊工日期"),
        **labels("renovation_period", "装修期限", "施工期限", "装修期间", "装修工期", "施工工期"),
        **labels("contractor", "施工单位", "装修单位", "装修公司", "施工方", "施工队", "装饰公司",
                 "装修施工单位", "施工企业"),
    },
    fields=(
        OWNER_NAME,
        building, unit, room,
        FieldSpec("contractor", "party", (src("contractor", "party"), src("party:c", "party"))),
        FieldSpec("start_date", "date", (src("start_date", "date"), src("renovation_period", "range_start"))),
        FieldSpec("end_date", "date", (src("end_date", "date"), src("renovation_period", "range_end"))),
    ),
    people=(Person("owner", "owner_name"),),
    checks=(works_in_order,),
)
