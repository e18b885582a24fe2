"""商品房买卖合同: the purchase contract (often 6-12 pages)."""

from __future__ import annotations

from schemas.doctypes.base import DocSpec, FieldSpec, Person, labels, src, unit_fields
from schemas.doctypes.money import figures_match_words, total_matches_unit_price

building, unit, room = unit_fields()

SPEC = DocSpec(
    name="purchase_contract",
    label="商品房买卖合同",
    order=3,
    titles=("商品房买卖合同", "商品房预售合同", "商品房现售合同", "房屋买卖合同", "购房合同"),
    title_words=(("买卖", 3.0), ("购房", 3.0), ("预售", 2.0), ("现售", 2.0), ("商品房", 2.0)),
    body_words=(
        ("出卖人", 3.0), ("买受人", 3.0), ("商品房", 2.0), ("预售许可", 2.0), ("总价款", 2.0),
        ("建筑面积", 1.0), ("合同编号", 1.0), ("付款方式", 1.0),
    ),
    labels={
        **labels("party:seller", "出卖人", "卖方", "出售方", "售房方", weak=True),
        **labels("party:buyer", "买受人", "买方", "购买方", "购房方", "购房人", weak=True),
        **labels("contract_number", "合同编号", "合同号", "合同编码"),
        **labels("contract_number", "编号", weak=True),
        **labels("floor_area", "建筑面积", "房屋面积", "房屋建筑面积", "产权面积"),
        **labels("floor_area", "面积", weak=True),
        **labels("total_price", "总价款", "总价", "房屋总价", "合同总价", "总金额", "成交价", "总房款", "购房款"),
    },
    fields=(
        FieldSpec("contract_number", "code", (src("contract_number", "code"),)),
        FieldSpec("buyer_name", "party", (src("party:buyer", "party"), src("party:b", "party"))),
        FieldSpec("buyer_id_number", "id", (src("id_number", "id", "buyer", "b"),), fallback="id_anywhere"),
        FieldSpec("seller_name", "party", (src("party:seller", "party"), src("party:a", "party"))),
        building, unit, room,
        FieldSpec("floor_area", "decimal", (src("floor_area", "decimal"),)),
        FieldSpec("total_price", "decimal", (src("total_price", "decimal"),)),
        FieldSpec("signing_date", "date", (src("signing_date", "date"), src("date", "date"))),
        FieldSpec("total_price_words", "decimal", (src("total_price", "amount_words"),), export=False),
        FieldSpec("unit_price", "decimal", (src("unit_price", "decimal"),), export=False),
    ),
    people=(Person("buyer", "buyer_name", "buyer_id_number"),),
    checks=(
        figures_match_words("total_price", "total_price_words"),
        total_matches_unit_price("total_price", "unit_price", "floor_area"),
    ),
)
