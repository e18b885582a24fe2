"""Excerpts of OCR text around the words of a query (storage/excerpt.py): what is marked, masked and cut."""

from __future__ import annotations

import re

import pytest

from storage.excerpt import EXCERPT_CHARS, Excerpt, excerpt_terms, make_excerpt
from storage.search import understand

FORM = ("北京市尚品物业服务有限公司\n业主档案表\n小区名称：锦绣花园\n业主 周敏 性别 女\n"
        "身份证号码 110101199003071236 联系方式 151 5091 9384\n房号 3栋2单元1201室 入住日期 2017年06月28日\n"
        "合同编号 HT-2023-0012 总价 6832000 面积 56.62")


def excerpt(query: str, *texts: str) -> Excerpt | None:
    return make_excerpt(list(enumerate(texts)), excerpt_terms(understand(query)))


def marked(found: Excerpt | None) -> list[str]:
    assert found is not None
    return [p.text for s in found.snippets for p in s.pieces if p.mark]


def shown(found: Excerpt | None) -> str:
    assert found is not None
    return " ".join(s.text for s in found.snippets)


def test_a_name_and_a_unit_are_marked_as_the_form_prints_them() -> None:
    found = excerpt("周敏 3-2-1201", FORM)
    assert marked(found) == ["周敏", "3栋2单元1201室"]
    assert found is not None and len(found.snippets) == 1
    assert len(shown(found)) <= EXCERPT_CHARS + 18
    assert marked(excerpt("3号楼2单元1201", "房号：3-2-1201")) == ["3-2-1201"]
    assert marked(excerpt("3号楼1201室", "3幢2单元1201号")) == ["3幢2单元1201"]
    assert excerpt("3-2-1201", "13栋2单元1201室 3栋2单元12010") is None  # another building, another room


@pytest.mark.parametrize(("text", "hidden", "kept"), [
    ("身份证 110101199003071236 周敏", "110101199003071236", "110101********1236"),
    ("身份证 1101 0119 9003 0712 36 周敏", "0119 9003", "110101********1236"),
    ("身份证 11010119900307123X 周敏", "11010119900307123X", "110101********123X"),
    ("身份证 110101900307123 周敏", "110101900307123", "110101*****7123"),
    ("电话 +86 138 1234 5678 周敏", "1234", "+86 1**"),
    ("电话 010-87654321 周敏", "87654321", "010-****4321"),
    ("账号 6222020200112233445 周敏", "0200112233", "622************3445"),
    ("身份证 １１０１０１１９９００３０７１２３６ 周敏", "１９９００３０７", "110101********1236"),
])
def test_numbers_are_masked_whoever_reads(text: str, hidden: str, kept: str) -> None:
    text_shown = shown(excerpt("周敏", text))
    assert hidden not in text_shown and kept in text_shown


def test_dates_amounts_and_contract_numbers_stay_as_read() -> None:
    text_shown = shown(excerpt("HT-2023-0012", FORM))
    assert "HT-2023-0012" in text_shown and "6832000" in text_shown and "56.62" in text_shown
    assert "2017年06月28日" in shown(excerpt("入住日期", FORM))


def test_a_cut_never_splits_a_number_and_says_where_the_text_goes_on() -> None:
    text = "甲" * 60 + " 业主 周敏 " + "乙" * 70 + " 身份证 110101199003071236 以下略" + "丙" * 50
    found = excerpt("周敏", text)
    assert found is not None
    (snippet,) = found.snippets
    assert snippet.cut_before and snippet.cut_after
    assert not re.search(r"\d{5}", snippet.text)  # the number is whole and masked, or not there at all
    edge = "丁" * 80 + " 周敏 证号 " + "110101199003071236"
    (tail,) = excerpt("周敏", edge).snippets  # type: ignore[union-attr]
    assert tail.text.endswith("110101********1236") and not tail.cut_after


def test_words_found_apart_get_a_snippet_each_and_pages_are_named() -> None:
    first = "消防安全协议书 " + "甲" * 150
    second = "严禁在楼道内为电动车充电"
    found = excerpt("消防 电动车", first, second)
    assert found is not None and [s.number for s in found.snippets] == [1, 2]
    assert marked(found) == ["消防", "电动车"]
    assert all(len(s.text) <= EXCERPT_CHARS // 2 + 4 for s in found.snippets)


def test_spacing_case_and_full_width_letters_of_the_text_do_not_hide_a_word() -> None:
    assert marked(excerpt("周敏", "业主 周 敏 性别")) == ["周 敏"]
    assert marked(excerpt("no.674662", "编号：ＮＯ.674662")) == ["ＮＯ.674662"]
    assert excerpt("No", "Notice 通知") is None  # a word, not a piece of one


def test_nothing_to_mark_gives_no_excerpt() -> None:
    assert excerpt("周敏", "王伟 110101199003071236") is None
    assert excerpt_terms(understand("110101199003071236")) == ()  # an ID number is masked, never marked
    assert excerpt_terms(understand("1236")) == ()  # nor its tail
    assert excerpt_terms(understand("13812345678")) == ()
    assert excerpt("", FORM) is None


def test_markup_in_the_text_is_plain_text_in_the_pieces() -> None:
    found = excerpt("周敏", "<script>alert(1)</script> 周敏 <b>x</b>")
    assert found is not None
    pieces = found.snippets[0].pieces
    assert [p.mark for p in pieces] == [False, True, False]
    assert pieces[0].text == "<script>alert(1)</script> " and pieces[2].text == " <b>x</b>"
