"""房屋租赁合同 / 租户档案: a lease, or a tenant's registration."""

from __future__ import annotations

from collections.abc import Mapping

from schemas.doctypes.base import DocSpec, FieldSpec, Person, labels, src, unit_fields
from schemas.doctypes.money import figures_match_words

building, unit, room = unit_fields()


def lease_in_order(values: Mapping[str, str]) -> dict[str, str]:
    """A lease cannot end before it starts."""
    start, end = values.get("lease_start"), values.get("lease_end")
    if start and end and end <= start:
        return {"lease_end": "the lease ends before it starts"}
    return {}


SPEC = DocSpec(
    name="lease_contract",
    label="房屋租赁合同",
    order=4,
    titles=(
        "房屋租赁合同", "租赁合同", "租房合同", "租户档案", "租户登记表", "房屋出租合同", "租户信息登记表",
        "租户信息表", "住房租赁合同",
    ),
    title_words=(("租赁", 3.0), ("租户", 3.0), ("出租", 3.0), ("租房", 3.0), ("承租", 3.0)),
    body_words=(
        ("出租方", 3.0), ("承租方", 3.0), ("出租人", 3.0), ("承租人", 3.0), ("租金", 2.0), ("租赁期限", 2.0),
        ("押金", 1.0), ("租期", 1.0), ("租户", 2.0),
    ),
    labels={
        **labels("party:landlord", "出租方", "出租人", weak=True),
        **labels("party:tenant", "承租方", "承租人", "租户", weak=True),
        **labels("party:tenant", "租户姓名", "承租人姓名"),
        **labels("lease_period", "租赁期限", "租赁期", "租期", "租赁时间"),
        **labels("lease_start", "起租日期", "租赁起始日期", "租期开始", "起始日期", "租赁开始日期"),
        **labels("lease_end", "终止日期", "租赁终止日期", "到期日期", "租期结束", "租赁结束日期"),
        **labels("monthly_rent", "月租金", "每月租金", "租金标准", "月租", "租金/月", "租金(元/月)", "月租金(元)",
                 "月租金额", "每月租金(元)"),
        **labels("monthly_rent", "租金", weak=True),
    },
    fields=(
        FieldSpec("tenant_name", "party", (src("party:tenant", "party"), src("party:b", "party"))),
        FieldSpec("tenant_id_number", "id", (src("id_number", "id", "tenant", "b"),), fallback="id_anywhere"),
        FieldSpec("landlord_name", "party", (
            src("party:landlord", "party"), src("party:a", "party"), src("owner_name", "party"),
        )),
        building, unit, room,
        FieldSpec("lease_start", "date", (src("lease_start", "date"), src("lease_period", "range_start"))),
        FieldSpec("lease_end", "date", (src("lease_end", "date"), src("lease_period", "range_end"))),
        FieldSpec("monthly_rent", "decimal", (src("monthly_rent", "decimal"),)),
        FieldSpec("monthly_rent_words", "decimal", (src("monthly_rent", "amount_words"),), export=False),
    ),
    people=(Person("tenant", "tenant_name", "tenant_id_number"), Person("landlord", "landlord_name")),
    checks=(lease_in_order, figures_match_words("monthly_rent", "monthly_rent_words")),
)
