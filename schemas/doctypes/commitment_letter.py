"""承诺书 / 物业管理公约: the owner's commitment to the estate's rules."""

from __future__ import annotations

from schemas.doctypes.base import DocSpec, Person, unit_fields
from schemas.doctypes.common import OWNER_NAME, SIGNING_DATE

building, unit, room = unit_fields()

SPEC = DocSpec(
    name="commitment_letter",
    label="承诺书",
    order=9,
    titles=("承诺书", "物业管理公约", "业主公约", "临时管理规约", "管理规约", "业主承诺书"),
    title_words=(("承诺", 3.0), ("公约", 3.0), ("规约", 3.0)),
    body_words=(
        ("承诺", 2.0), ("本人承诺", 2.0), ("郑重承诺", 2.0), ("承诺人", 2.0), ("遵守", 1.0), ("公约", 1.0),
        ("规约", 1.0), ("本公约", 2.0), ("物业服务费", 0.5), ("违章搭建", 1.0), ("高空抛物", 1.0),
        ("物业管理条例", 1.0), ("饲养宠物", 1.0), ("公共部位", 1.0),
    ),
    fields=(OWNER_NAME, building, unit, room, SIGNING_DATE),
    people=(Person("owner", "owner_name"),),
)
