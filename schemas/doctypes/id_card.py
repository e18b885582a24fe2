"""居民身份证复印件: a copy of a resident ID card, front and/or back."""

from __future__ import annotations

from collections.abc import Mapping

from schemas.doctypes.base import DocSpec, FieldSpec, Person, labels, src
from schemas.doctypes.common import PLACE_SUFFIX
from schemas.validators import check_id_number, id_number_birth_date, id_number_sex


def card_agrees_with_number(values: Mapping[str, str]) -> dict[str, str]:
    """The printed birth date and sex must be the ones the ID number encodes."""
    number = values.get("id_number")
    if not number or len(number) != 18:
        return {}
    issues = check_id_number(number, birth_date=values.get("birth_date"), sex=values.get("sex"))
    return {"id_number": "; ".join(issues)} if issues else {}


def from_number(values: Mapping[str, str]) -> dict[str, str]:
    """Birth date and sex encoded in a valid ID number."""
    number = values.get("id_number")
    if not number or len(number) != 18 or check_id_number(number):
        return {}
    derived = {"birth_date": id_number_birth_date(number), "sex": id_number_sex(number)}
    return {name: value for name, value in derived.items() if value}


def validity_in_order(values: Mapping[str, str]) -> dict[str, str]:
    """A card's validity period cannot end before it starts."""
    start, end = values.get("valid_from"), values.get("valid_to")
    if start and end and end != "长期" and end <= start:
        return {"valid_to": "validity period ends before it starts"}
    return {}


SPEC = DocSpec(
    name="id_card",
    label="居民身份证复印件",
    order=2,
    titles=("居民身份证复印件", "居民身份证", "身份证复印件", "中华人民共和国居民身份证"),
    title_words=(("身份证", 3.0), ("复印件", 1.0)),
    body_words=(
        ("公民身份号码", 4.0), ("签发机关", 4.0), ("有效期限", 3.0), ("民族", 1.5), ("住址", 1.5),
        ("出生", 1.0), ("性别", 0.5), ("居民身份证", 1.0),
    ),
    labels={
        **labels("sex", "性别"),
        **labels("ethnicity", "民族", not_before=PLACE_SUFFIX),
        **labels("birth_date", "出生日期", "出生"),
        **labels("address", "住址", "家庭住址", "户籍地址", "通讯地址", "联系地址", "现住址", "居住地址",
                 "户籍所在地"),
        **labels("address", "地址", weak=True),
        **labels("issuing_authority", "签发机关", "发证机关"),
        **labels("valid_period", "有效期限", "有效期"),
    },
    fields=(
        FieldSpec("name", "name", (src("name", "name"), src("owner_name", "name")), fallback="card"),
        FieldSpec("sex", "sex", (src("sex", "sex"),)),
        FieldSpec("ethnicity", "ethnicity", (src("ethnicity", "ethnicity"),), fallback="card"),
        FieldSpec("birth_date", "date", (src("birth_date", "date"),)),
        FieldSpec("address", "address", (src("address", "address"),), fallback="card"),
        FieldSpec("id_number", "id", (src("id_number", "id"),), fallback="id_anywhere"),
        FieldSpec("issuing_authority", "text", (src("issuing_authority", "text"),), fallback="card"),
        FieldSpec("valid_from", "date", (src("valid_period", "range_start"),), fallback="card"),
        FieldSpec("valid_to", "date", (src("valid_period", "range_end"),), fallback="card"),
        FieldSpec("copy_purpose", "text", fallback="overlay"),
    ),
    people=(Person("holder", "name", "id_number"),),
    checks=(card_agrees_with_number, validity_in_order),
    derive=(from_number,),
    page_per_document=True,
)
