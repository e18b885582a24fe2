"""Normalisers and validators of field values (schemas/validators.py)."""

from __future__ import annotations

import pytest

from schemas.models import UnitRef
from schemas.validators import (
    check_id_number,
    cn_numeral_to_int,
    find_dates,
    id_check_digit,
    id_number_birth_date,
    id_number_sex,
    mask_address,
    mask_id_number,
    mask_phone,
    normalize_date,
    normalize_decimal,
    normalize_id_number,
    normalize_phone,
    normalize_sex,
    parse_unit_parts,
    parse_unit_ref,
)

# The GB 11643 standard's own example, with the X check character: born 1949-12-31, female.
ID_X = "11010519491231002X"
ID_MALE = "440305199003071236"  # born 1990-03-07, 17th digit 3 (male)
ID_FEMALE = "310104198511224568"  # born 1985-11-22, 17th digit 6 (female)
ID_LEAP = "110101200002290026"  # born on 2000-02-29


# --- ID numbers ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [ID_X, ID_MALE, ID_FEMALE, ID_LEAP])
def test_valid_id_numbers_have_no_issues(value: str) -> None:
    assert check_id_number(value) == []


def test_check_digit_x() -> None:
    assert id_check_digit(ID_X[:17]) == "X"
    assert id_check_digit(ID_MALE[:17]) == "6"


@pytest.mark.parametrize("last", ["0", "1", "5", "9"])
def test_wrong_checksum_is_reported(last: str) -> None:
    issues = check_id_number(ID_MALE[:17] + last)
    assert issues == ["ID number checksum fails"]


def test_wrong_x_check_digit() -> None:
    assert "ID number checksum fails" in check_id_number(ID_MALE[:17] + "X")


def test_single_digit_swap_is_caught() -> None:
    swapped = ID_MALE[:15] + ID_MALE[16] + ID_MALE[15] + ID_MALE[17:]
    assert swapped != ID_MALE
    assert "ID number checksum fails" in check_id_number(swapped)


def test_impossible_birth_date() -> None:
    first17 = "44030519900230123"  # 30 February
    issues = check_id_number(first17 + id_check_digit(first17))
    assert issues == ["ID number birth date is not a valid date"]


def test_bad_area_code() -> None:
    first17 = "99030519900307123"
    issues = check_id_number(first17 + id_check_digit(first17))
    assert issues == ["ID number area code is not valid"]


def test_bad_shape() -> None:
    assert check_id_number("4403051990030712") == ["ID number must be 17 digits and a digit or X"]
    assert check_id_number("44030519900307X236") != []


def test_printed_birth_date_and_sex_cross_check() -> None:
    assert check_id_number(ID_MALE, birth_date="1990年3月7日", sex="男") == []
    assert check_id_number(ID_X, birth_date="1949.12.31", sex="女") == []
    issues = check_id_number(ID_MALE, birth_date="1990-03-08", sex="女")
    assert "ID number birth date does not match the printed birth date" in issues
    assert "ID number sex digit does not match the printed sex" in issues


def test_issues_never_contain_the_number() -> None:
    for issue in check_id_number(ID_MALE[:17] + "0", birth_date="2000-01-01", sex="女"):
        assert ID_MALE[:6] not in issue and "1990" not in issue


def test_birth_date_and_sex_from_id() -> None:
    assert id_number_birth_date(ID_X) == "1949-12-31"
    assert id_number_birth_date(ID_LEAP) == "2000-02-29"
    assert id_number_sex(ID_MALE) == "男"
    assert id_number_sex(ID_FEMALE) == "女"
    assert id_number_sex(ID_X) == "女"
    assert id_number_sex("123") is None
    assert id_number_birth_date("bogus") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (ID_MALE, ID_MALE),
        ("11010519491231002x", ID_X),
        ("110105 1949 1231 002X", ID_X),
        ("４４０３０５１９９００３０７１２３６", ID_MALE),
        ("44O3O5l99OO3O7I236", ID_MALE),  # O/o -> 0, l/I -> 1
        ("44D305199003O7|236", ID_MALE),  # D -> 0, | -> 1
        ("4403051990030712S6", "440305199003071256"),  # S -> 5 (then checksum decides)
        ("B40305199003071236", "840305199003071236"),
        ("Z4030519900307123G", "240305199003071236"),
    ],
)
def test_normalize_id_number(raw: str, expected: str) -> None:
    assert normalize_id_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", None, "4403051990030712", "4403051990030712367", "4403X5199003071236", "身份证号440305199003071236",
     "440305********1236"],
)
def test_normalize_id_number_rejects(raw: str | None) -> None:
    assert normalize_id_number(raw) is None


# --- dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["2019年10月18日", "2019年 10 月 18 日", "2019.10.18", "2019-10-18", "2019/10/18", "20191018",
     "２０１９年１０月１８日", "2019一10一18", "2O19年1O月l8日", "签订日期：2019年10月18日", "2019. 10. 18",
     "二〇一九年十月十八日", "2019—10—18"],
)
def test_normalize_date_forms(raw: str) -> None:
    assert normalize_date(raw) == "2019-10-18"


def test_normalize_date_single_digits() -> None:
    assert normalize_date("2019年 10 月 8 日") == "2019-10-08"
    assert normalize_date("2020年2月9日") == "2020-02-09"
    assert normalize_date("2020年2月29日") == "2020-02-29"


@pytest.mark.parametrize("raw", ["2019年2月30日", "2019-13-01", "2019.00.10", "1850年1月1日", "20191332",
                                 "2019年10月", "", None, "无"])
def test_normalize_date_rejects(raw: str | None) -> None:
    assert normalize_date(raw) is None


def test_find_dates_range() -> None:
    assert find_dates("2015.01.08-2035.01.08") == ["2015-01-08", "2035-01-08"]
    assert find_dates("自2020年1月1日起至2021年12月31日止") == ["2020-01-01", "2021-12-31"]
    assert find_dates("110101199003077571") == []


# --- sex ---------------------------------------------------------------------------------


def test_normalize_sex() -> None:
    assert normalize_sex("男") == "男"
    assert normalize_sex(" 女 ") == "女"
    assert normalize_sex("F") == "女"
    assert normalize_sex("男女") is None
    assert normalize_sex("□男 ☑女") == "女"
    assert normalize_sex("√男 □女") == "男"
    assert normalize_sex("") is None


# --- phones -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("l38l234S678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("手机：19912345678（本人）", "19912345678"),
        ("010-12345678", "010-12345678"),
        ("0755-1234567", "0755-1234567"),
        ("0755一1234567", "0755-1234567"),
        ("(010)12345678", "010-12345678"),
        ("01012345678", "010-12345678"),
        ("075512345678", "0755-12345678"),
    ],
)
def test_normalize_phone(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw", ["12812345678", "1381234567", "138123456789", "", None, "电话", "440305199003071236"]
)
def test_normalize_phone_rejects(raw: str | None) -> None:
    assert normalize_phone(raw) is None


# --- unit references -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["3栋2单元1201室", "3号楼2单元1201", "3幢2单元1201", "3-2-1201", "3 栋 2 单元 1201 室",
     "第3栋2单元1201室", "三栋二单元1201室", "3栋2单元1201房", "3一2一1201", "3－2－1201", "3.2-1201",
     "翠湖花园3栋2单元1201号房", "阳光新城二期3号楼2单元12层1201室",
     "3栋第2单元1201", "3栋2单元l2O1室", "3#2单元1201"],
)
def test_parse_unit_ref_forms(raw: str) -> None:
    assert parse_unit_ref(raw) == UnitRef(building="3", unit="2", room="1201")


def test_parse_unit_ref_letters_and_numerals() -> None:
    assert parse_unit_ref("A座2单元1201室") == UnitRef(building="A", unit="2", room="1201")
    assert parse_unit_ref("B-1-302") == UnitRef(building="B", unit="1", room="302")
    assert parse_unit_ref("十二栋二十一单元301") == UnitRef(building="12", unit="21", room="301")
    assert parse_unit_ref("十栋一单元101") == UnitRef(building="10", unit="1", room="101")
    assert str(parse_unit_ref("28幢4单元3204室")) == "28-4-3204"


def test_parse_unit_ref_incomplete() -> None:
    assert parse_unit_ref("3号楼1201室") is None
    assert parse_unit_parts("3号楼1201室") == {"building": "3", "room": "1201"}
    assert parse_unit_ref("1201") is None
    assert parse_unit_ref("2019-10-18") is None
    assert parse_unit_ref("") is None
    assert parse_unit_parts("人民路123号") == {}
    assert parse_unit_parts("报告时间：10-08-06 11:23", dashed=False) == {}
    assert parse_unit_parts("翠湖花园3栋2单元1201室", dashed=False) == {"building": "3", "unit": "2", "room": "1201"}


@pytest.mark.parametrize(("raw", "value"), [("三", 3), ("十", 10), ("十二", 12), ("二十", 20), ("二十一", 21),
                                            ("一百零一", 101), ("两", 2), ("一二", 12), ("x", None)])
def test_cn_numerals(raw: str, value: int | None) -> None:
    assert cn_numeral_to_int(raw) == value


# --- money and areas -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("人民币6832000元", "6832000"),
        ("6,832,000.00元", "6832000"),
        ("¥ 6832000", "6832000"),
        ("¥6,832,000.00", "6832000"),
        ("￥6832000", "6832000"),
        ("RMB 6832000", "6832000"),
        ("人民币6，832，000元", "6832000"),
        ("683.2万元", "6832000"),
        ("56.62平方米", "56.62"),
        ("56.62㎡", "56.62"),
        ("56.62 m²", "56.62"),
        ("56.60", "56.6"),
        ("100.", "100"),
        ("3500.00元/月", "3500"),
        ("1234.5 度", "1234.5"),
        ("人民币（大写）陆佰捌拾叁万贰仟元整（小写：¥6,832,000.00元）", "6832000"),
        ("陆佰捌拾叁万贰仟元整", "6832000"),
        ("壹仟零伍元整", "1005"),
        ("叁仟伍佰元整", "3500"),
        ("壹佰万元整", "1000000"),
        ("壹亿贰仟万元整", "120000000"),
        ("贰佰元伍角陆分", "200.56"),
        ("S6.62平方米", "56.62"),
    ],
)
def test_normalize_decimal(raw: str, expected: str) -> None:
    assert normalize_decimal(raw) == expected


@pytest.mark.parametrize("raw", ["", None, "元", "平方米", "整"])
def test_normalize_decimal_rejects(raw: str | None) -> None:
    assert normalize_decimal(raw) is None


# --- masking ----------------------------------------------------------------------------------


def test_masking() -> None:
    assert mask_id_number("110101199003077578") == "110101********7578"
    assert mask_id_number(ID_X) == "110105********002X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("010-12345678") == "010-****5678"
    assert mask_address("北京市东城区东华门街道38号") == "北京市东城区****"
    assert mask_address("东城区") == "东****"
    assert "1990" not in mask_id_number(ID_MALE)
