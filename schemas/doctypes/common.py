"""Labels shared by many document types: people, ID numbers, phones, parties, the unit, dates, stops."""

from __future__ import annotations

from schemas.doctypes.base import FieldSpec, Label, labels, src

#: Text after ``民族`` that makes it part of a place name (民族路), not a label.
PLACE_SUFFIX = r"(?:路|街|大道|大街|村|乡|镇|小区|花园|中学|小学|学院|大学|医院|宾馆|饭店|广场|东|西|南|北)"

LABELS: dict[str, Label] = {
    # --- people
    **labels("owner_name", "业主姓名", "业主名称", "业主名字", "户主姓名", "房主姓名", "产权人姓名",
             "产权人", "申请人姓名", "申请人", "承诺人", "业主签名", "业主签字", "申请人签字",
             "申请人签名", "承诺人签字"),
    **labels("owner_name", "业主", weak=True),
    **labels("greeting", "尊敬的"),
    **labels("honorific", "先生/女士", "女士/先生", "先生(女士)", "女士(先生)", "先生、女士", "先生/小姐"),
    **labels("name", "姓名", "名字"),
    **labels("id_number", "身份证号码", "身份证号", "公民身份号码", "公民身份证号码", "身份证件号码",
             "证件号码", "证件号", "身份号码", "身份证件号"),
    **labels("id_number", "身份证", weak=True),
    **labels("phone", "联系电话", "手机号码", "手机号", "电话号码", "移动电话", "联系方式", "联系手机",
             "手机"),
    **labels("phone", "电话", weak=True),
    # --- people acting for a party: what follows them is theirs, not the party's
    **labels("party:agent", "委托代理人"),
    **labels("party:rep", "法定代表人", "法定代表"),
    # --- generic parties of agreements
    **labels("party:a", "甲方", weak=True),
    **labels("party:b", "乙方", weak=True),
    **labels("party:c", "丙方", weak=True),
    # --- the unit (楼栋 / 单元 / 房号)
    **labels("location", "房屋编号", "单元房号", "房屋地址", "房屋坐落", "房屋座落", "房屋位置",
             "物业地址", "房产地址", "房屋门牌号", "门牌号", "所购房屋", "房屋所在地", "装修地址",
             "装修房号", "坐落", "座落", "房号", "住房地址", "租赁房屋地址", "房屋坐落地址"),
    **labels("building", "楼栋号", "楼栋", "栋号", "楼号", "幢号", "楼宇号", weak=True),
    **labels("unit_room", "单元-房号", "单元/房号", "单元—房号", "单元-室号", "单元/室号"),
    **labels("unit", "单元号", "单元", weak=True),
    **labels("room", "室号", "房间号", "房间", weak=True),
    # --- dates
    **labels("signing_date", "签订日期", "签约日期", "签署日期", "签订时间", "签约时间", "签字日期",
             "签署时间"),
    **labels("date", "日期", weak=True),
    # --- money
    **labels("unit_price", "单价", "每平方米单价", "房屋单价"),
    # --- labels that only end the value before them
    **labels("section", "家庭成员情况", "家庭成员"),
    **labels("stop", "国籍", "证件类型", "统一社会信用代码", "签订地点",
             "工作单位", "车牌号码", "车牌号", "备注", "经办人", "物业经办人", "填表日期", "登记日期",
             "申请日期", "小区名称", "项目名称", "与业主关系", "出生年月", "业主电话", "居住人数",
             "入住人数", "施工负责人", "负责人电话", "装修押金", "垃圾清运费", "押金", "燃气表底数",
             "燃气表", "钥匙", "表具名称", "表号", "验收项目", "验收情况", "审批意见", "装修内容",
             "套内建筑面积", "分摊共有建筑面积", "用途", "所在楼层", "楼层", "盖章", "签章",
             "申请人承诺", "本人签字", "租户签字", "收款人", "交款单位", "收款事由", "收款日期",
             "收款单位", "年龄", "职业", "籍贯", "学历", "婚姻状况", "邮编", "邮政编码", "电子邮箱",
             "户型", "房屋类型", "房屋用途", "产权证号", "房产证号", "车位号", "受托人联系电话",
             "委托期限", "委托事项", "物业服务中心", "付款方式", "签发日期", "出租方联系电话"),
    **labels("stop", "签字", "签名", "单位", "底数", "读数", "时间", weak=True),
}

#: Keys that set the context (whose section of the document we are in).
CONTEXT_OF_KEY: dict[str, str | None] = {
    "owner_name": "owner", "greeting": "owner", "honorific": "owner", "emergency_contact": "emergency",
    "section": "family",
}

_OWNER_CTX = (None, "owner")

#: The owner's name on notices, forms and letters: a labelled name, 乙方, a greeting, a bare 姓名.
OWNER_NAME = FieldSpec("owner_name", "name", (
    src("owner_name", "name"), src("party:b", "name"), src("greeting", "name"), src("honorific", "name_before"),
    src("name", "name", *_OWNER_CTX),
))
#: A signing date, or the date under the signatures of a letter.
SIGNING_DATE = FieldSpec("signing_date", "date", (src("signing_date", "date"), src("date", "date")),
                         fallback="standalone_date")
OWNER_CONTEXTS = _OWNER_CTX
