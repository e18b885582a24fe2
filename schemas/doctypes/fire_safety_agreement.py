"""消防安全协议书: the owner's fire-safety agreement with the management company."""

from __future__ import annotations

from schemas.doctypes.base import DocSpec, Person, unit_fields
from schemas.doctypes.common import OWNER_NAME, SIGNING_DATE

building, unit, room = unit_fields()

SPEC = DocSpec(
    name="fire_safety_agreement",
    label="消防安全协议书",
    order=8,
    titles=("消防安全协议书", "消防安全责任书", "消防安全协议", "消防安全承诺书", "防火安全协议书"),
    title_words=(("消防", 4.0), ("防火", 4.0)),
    body_words=(
        ("消防", 3.0), ("消防安全", 2.0), ("防火", 1.5), ("灭火器", 1.5), ("消防通道", 1.0), ("易燃易爆", 1.0),
        ("火灾", 1.0), ("火情", 1.0), ("消防设施", 1.5), ("消防法", 1.5), ("疏散通道", 1.0), ("安全出口", 1.0),
        ("私拉乱接", 1.0), ("119", 1.0),
    ),
    fields=(OWNER_NAME, building, unit, room, SIGNING_DATE),
    people=(Person("owner", "owner_name"),),
)
