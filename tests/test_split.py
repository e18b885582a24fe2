"""Documents inside files: where a whole-folder scan is cut into documents."""

from __future__ import annotations

from ocr.split import split_documents
from schemas.models import OcrLine, OcrPage


def page(index: int, *lines: str, number: int | None = None, total: int | None = None,
         blank: bool = False) -> OcrPage:
    ocr_lines = tuple(OcrLine(text=t, box=(200, 150 + 70 * i, 2200, 200 + 70 * i), confidence=0.95)
                      for i, t in enumerate(lines))
    return OcrPage(index=index, engine="test", width=2480, height=3508, lines=() if blank else ocr_lines,
                   blank=blank, page_number=number, page_total=total)


CLAUSES = [f"第{n}条 买受人应当按照约定支付房款，出卖人应当按期交付该商品房。" for n in "一二三四五六七八"]
CARD_FRONT = ("姓名 王伟", "性别 男 民族 汉", "出生 1990年3月7日", "住址 北京市东城区和平里1号",
              "公民身份号码 110105199003071234")
CARD_BACK = ("中华人民共和国", "居民身份证", "签发机关 北京市公安局东城分局", "有效期限 2010.01.01-2030.01.01")


def test_owner_folder_is_cut_at_titles_and_blank_pages_dropped() -> None:
    pages = [
        page(0, "业主入住登记表", "业主姓名：王伟", "入住日期：2019年10月18日"),
        page(1, blank=True),
        page(2, *CARD_FRONT, *CARD_BACK),
        page(3, "商品房买卖合同", "出卖人：某某房地产开发有限公司", "买受人：王伟", *CLAUSES[:2], number=1, total=3),
        page(4, *CLAUSES[2:5], number=2, total=3),
        page(5, blank=True),
        page(6, *CLAUSES[5:], "出卖人（签章）：", "买受人（签字）：", number=3, total=3),
        page(7, "消防安全协议书", "甲方：某某物业服务有限公司", "乙方（业主）：王伟"),
        page(8, "承诺书", "本人承诺遵守临时管理规约。"),
    ]
    assert split_documents(pages) == [(0,), (2,), (3, 4, 6), (7,), (8,)]


def test_continuation_page_mentioning_another_title_stays_in_its_contract() -> None:
    pages = [page(0, "商品房买卖合同", *CLAUSES[:3]),
             page(1, "第十条 物业管理。买受人同意遵守前期物业服务合同及临时管理规约。", *CLAUSES[3:])]
    assert split_documents(pages) == [(0, 1)]


def test_page_numbering_restart_starts_a_new_document() -> None:
    pages = [page(0, *CLAUSES[:3], number=1, total=2), page(1, *CLAUSES[3:5], number=2, total=2),
             page(2, *CLAUSES[5:], number=1, total=1)]
    assert split_documents(pages) == [(0, 1), (2,)]


def test_continued_table_joins_the_form_before() -> None:
    pages = [page(0, "业主入住登记表", "业主姓名：王伟"), page(1, "业主入住登记表（续）", "家庭成员情况")]
    assert split_documents(pages) == [(0, 1)]


def test_each_id_copy_is_a_document_but_a_back_after_its_front_joins_it() -> None:
    pages = [page(0, *CARD_FRONT), page(1, *CARD_BACK), page(2, *CARD_FRONT, *CARD_BACK),
             page(3, "身份证复印件", *CARD_FRONT)]
    assert split_documents(pages) == [(0, 1), (2,), (3,)]


def test_contract_page_quoting_card_labels_is_not_an_id_copy() -> None:
    party = ["买受人：王伟", "证件类型：居民身份证", "公民身份号码：110105199003071234", "住址：北京市东城区和平里1号",
             "姓名 性别 民族 出生", *CLAUSES]
    pages = [page(0, "商品房买卖合同", "出卖人：某某房地产开发有限公司"), page(1, *party)]
    assert split_documents(pages) == [(0, 1)]


def test_untitled_page_of_another_type_starts_a_document() -> None:
    notice_body = ["请您于2019年10月18日前来办理入住手续，特此通知。", "办理入住时请携带身份证原件。",
                   "收楼手续在物业服务中心办理。", "交付使用后请按时缴纳物业服务费。"]
    pages = [page(0, "消防安全协议书", "甲方：物业", "乙方：王伟", "消防通道不得堆放杂物。"),
             page(1, *notice_body)]
    assert split_documents(pages) == [(0,), (1,)]


def test_blank_file_is_one_document() -> None:
    assert split_documents([page(0, blank=True), page(1, blank=True)]) == [(0, 1)]
