"""Document-type specs: the registry, the rules of a type, cards read by their layout."""

from __future__ import annotations

from ocr.extract import extract
from ocr.idcard import card_fields, looks_like_card_back, looks_like_card_front
from schemas.doctypes import LEXICON, SPECS, spec_of
from schemas.doctypes.money import figures_match_words, total_matches_unit_price
from schemas.documents import DOC_FIELDS, SENSITIVE_FIELDS, DocType
from schemas.models import OcrLine, OcrPage
from schemas.validators import amount_in_words, normalize_ethnicity


def test_every_design_type_has_a_spec_and_the_lexicon_is_consistent() -> None:
    assert set(SPECS) >= {t.value for t in DocType} and list(SPECS)[-1] == "other"
    assert DOC_FIELDS["owner_registration"][:3] == ("owner_name", "id_number", "phone")
    assert "total_price_words" not in DOC_FIELDS["purchase_contract"], "check-only values are not exported"
    assert SENSITIVE_FIELDS >= {"id_number", "buyer_id_number", "phone", "address"}
    assert LEXICON["商品房买卖合同"].key == "stop" and LEXICON["买受人"].key == "party:buyer"
    assert spec_of("no such type").name == "other"


def test_money_printed_twice_must_agree() -> None:
    check = figures_match_words("total_price", "total_price_words")
    assert check({"total_price": "6832000", "total_price_words": "6832000"}) == {}
    assert "大写" in check({"total_price": "6832000", "total_price_words": "6382000"})["total_price"]
    product = total_matches_unit_price("total_price", "unit_price", "floor_area")
    assert product({"total_price": "6832000", "unit_price": "120664", "floor_area": "56.62"}) == {}
    assert product({"total_price": "6832000", "unit_price": "120664", "floor_area": "65.62"})
    assert amount_in_words("人民币陆佰捌拾叁万贰仟元整") == "6832000" and amount_in_words("一二三") is None


def test_contract_whose_words_disagree_with_its_figures_is_flagged() -> None:
    lines = ["商品房买卖合同", "出卖人：某某房地产开发有限公司", "买受人：王伟",
             "总价款：人民币6832000元（大写：陆佰叁拾捌万贰仟元整）"]
    page = OcrPage(index=0, engine="test", width=2480, height=3508, lines=tuple(
        OcrLine(text=t, box=(200, 200 + 80 * i, 2200, 250 + 80 * i), confidence=0.99) for i, t in enumerate(lines)))
    price = extract("purchase_contract", [page]).fields["total_price"]
    assert price.value == "6832000" and not price.valid and "大写" in (price.issue or "")


def test_a_card_whose_labels_faded_is_read_by_its_layout() -> None:
    front = ["武芳倩", "女 蒙古", "1973年9月18日", "浙江省杭州市西湖区", "人民路368号", "330106197309181746"]
    back = ["中华人民共和国", "居民身份证", "杭州市公安局西湖区分局", "2015.03.02-2035.03.02"]
    page = OcrPage(index=0, engine="test", width=2480, height=3508, lines=tuple(
        OcrLine(text=t, box=(600, 300 + 60 * i, 1800, 340 + 60 * i), confidence=0.95)
        for i, t in enumerate(front + back)))
    read = {k: v.value for k, v in card_fields([page]).items()}
    assert read == {"name": "武芳倩", "ethnicity": "蒙古", "address": "浙江省杭州市西湖区人民路368号",
                    "issuing_authority": "杭州市公安局西湖区分局", "valid_from": "2015-03-02",
                    "valid_to": "2035-03-02"}
    assert looks_like_card_front("\n".join(front)) and looks_like_card_back("\n".join(back))
    assert not looks_like_card_front("买受人：王伟\n总价款：6832000元")
    assert normalize_ethnicity("民放汉") == "汉" and normalize_ethnicity("蒙古族") == "蒙古"
    assert normalize_ethnicity("火星") is None
