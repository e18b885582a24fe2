"""委托书 (收楼委托): the owner authorises an agent, e.g. to take over the unit."""

from __future__ import annotations

from schemas.doctypes.base import DocSpec, FieldSpec, Person, labels, src, unit_fields

building, unit, room = unit_fields()

SPEC = DocSpec(
    name="power_of_attorney",
    label="委托书",
    order=10,
    titles=("委托书", "授权委托书", "收楼委托书", "委托授权书"),
    title_words=(("委托", 3.5), ("授权", 3.0)),
    body_words=(
        ("委托人", 3.0), ("受托人", 3.0), ("代为办理", 2.0), ("委托事项", 2.0), ("委托期限", 1.5),
        ("授权", 1.0), ("代理人", 1.0), ("全权代表", 2.0), ("转委托", 1.0),
    ),
    labels={
        **labels("party:principal", "委托人", "委托方", weak=True),
        **labels("party:agent", "受托人", "受托方", "被委托人", "代理人", weak=True),
    },
    fields=(
        FieldSpec("principal_name", "party", (src("party:principal", "party"), src("party:a", "party"))),
        FieldSpec("agent_name", "party", (src("party:agent", "party"), src("party:b", "party"))),
        FieldSpec("agent_id_number", "id", (src("id_number", "id", "agent", "b"),), fallback="id_anywhere"),
        building, unit, room,
    ),
    people=(Person("principal", "principal_name"), Person("agent", "agent_name", "agent_id_number")),
)
