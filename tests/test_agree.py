"""Agreement across documents: cross-checks of people, seals against printed names, one household per folder."""

from __future__ import annotations

from ocr.agree import agree_seal, agree_within, edit_distance, printed_org_names, settle_household
from schemas.models import Extraction, FieldValue, OcrLine, OcrPage

ID_A = "110105199003071239"  # checksum-valid
ID_B = "440305199003071236"


def field(name: str, value: str, conf: float = 0.9) -> FieldValue:
    return FieldValue(name=name, value=value, confidence=conf, evidence={"ocr": conf, "how": 1.0})


def doc(doc_type: str, first: int, **values: str) -> Extraction:
    return Extraction(doc_type=doc_type, doc_type_confidence=0.9, page_indices=(first,),
                      fields={k: field(k, v) for k, v in values.items()})


def test_same_id_number_with_two_names_is_flagged_on_both() -> None:
    reg = doc("owner_registration", 0, owner_name="王伟", id_number=ID_A)
    card = doc("id_card", 1, name="王玮", id_number=ID_A)
    reg2, card2 = agree_within([reg, card])
    assert reg2.fields["owner_name"].issue and card2.fields["name"].issue
    assert "disagrees" in (card2.fields["name"].issue or "") and "业主入住登记表" in (card2.fields["name"].issue or "")
    assert reg2.fields["id_number"].evidence == {**(reg.fields["id_number"].evidence or {}), "agree": 1.0}


def test_same_name_with_two_valid_numbers_is_flagged_on_both() -> None:
    reg = doc("owner_registration", 0, owner_name="王伟", id_number=ID_A)
    contract = doc("purchase_contract", 2, buyer_name="王伟", buyer_id_number=ID_B)
    reg2, contract2 = agree_within([reg, contract])
    assert reg2.fields["id_number"].issue and contract2.fields["buyer_id_number"].issue


def test_agreeing_documents_are_only_more_certain() -> None:
    reg = doc("owner_registration", 0, owner_name="王伟", id_number=ID_A)
    card = doc("id_card", 1, name="王伟", id_number=ID_A)
    for ex in agree_within([reg, card]):
        assert all(f.issue is None and (f.evidence or {}).get("agree", 0) > 0 for f in ex.fields.values()
                   if f.name in {"owner_name", "name", "id_number"})


def test_seal_reading_a_character_off_is_the_printed_name() -> None:
    page = OcrPage(index=0, engine="test", width=2480, height=3508, lines=(
        OcrLine(text="深圳市鸿泰物业服务有限公司  表号：WY-04", box=(100, 100, 1500, 150), confidence=0.99),))
    names = printed_org_names([page])
    assert names == {"深圳市鸿泰物业服务有限公司": 1}
    read = field("seal_text", "深圳市鹤泰物业服务有限公司", 0.8)
    mended = agree_seal(read, names)
    assert mended.value == "深圳市鸿泰物业服务有限公司" and (mended.evidence or {}).get("replaced") == 1.0
    stranger = field("seal_text", "杭州市东方房地产开发有限公司", 0.8)
    assert agree_seal(stranger, names) is stranger
    assert edit_distance("abc", "abd") == 1 and edit_distance("", "ab") == 2


def test_household_mends_near_misses_and_fills_gaps() -> None:
    unit = {"building": "3", "unit": "2", "room": "1201"}
    docs = [
        doc("owner_registration", 0, owner_name="李倩", id_number=ID_A, **unit),
        doc("purchase_contract", 1, buyer_name="李倩", buyer_id_number=ID_A, **unit),
        doc("handover_form", 5, owner_name="李债", building="3", unit="2", room="1207"),
        doc("commitment_letter", 6, owner_name="李倩"),
        doc("handover_form", 7, owner_name="张三", building="9", unit="1", room="0101"),  # another unit: left
    ]
    out = settle_household(docs)
    assert out[2].fields["owner_name"].value == "李倩" and out[2].fields["room"].value == "1201"
    assert {p: out[3].fields[p].value for p in unit} == unit
    assert (out[3].fields["room"].evidence or {}).get("derived") == 1.0
    assert out[4].fields["owner_name"].value == "张三" and out[4].fields["room"].value == "0101"
