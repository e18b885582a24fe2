"""Document types of an owner archive (业主档案) and their fields.

The table follows DESIGN.md; export keys are the field names listed here.
"""

from __future__ import annotations

from enum import StrEnum


class DocType(StrEnum):
    """The kinds of document an owner archive holds."""

    OWNER_REGISTRATION = "owner_registration"
    ID_CARD = "id_card"
    PURCHASE_CONTRACT = "purchase_contract"
    LEASE_CONTRACT = "lease_contract"
    MOVE_IN_NOTICE = "move_in_notice"
    HANDOVER_FORM = "handover_form"
    RENOVATION_APPLICATION = "renovation_application"
    FIRE_SAFETY_AGREEMENT = "fire_safety_agreement"
    COMMITMENT_LETTER = "commitment_letter"
    POWER_OF_ATTORNEY = "power_of_attorney"
    OTHER = "other"


#: Chinese label printed on the paper form (used in reports for clerks).
DOC_LABELS: dict[DocType, str] = {
    DocType.OWNER_REGISTRATION: "业主入住登记表",
    DocType.ID_CARD: "居民身份证复印件",
    DocType.PURCHASE_CONTRACT: "商品房买卖合同",
    DocType.LEASE_CONTRACT: "房屋租赁合同",
    DocType.MOVE_IN_NOTICE: "入住通知书",
    DocType.HANDOVER_FORM: "房屋交接验收表",
    DocType.RENOVATION_APPLICATION: "装修申请表",
    DocType.FIRE_SAFETY_AGREEMENT: "消防安全协议书",
    DocType.COMMITMENT_LETTER: "承诺书",
    DocType.POWER_OF_ATTORNEY: "委托书",
    DocType.OTHER: "其他",
}

#: Export keys per document type (DESIGN.md). A field not found is absent.
DOC_FIELDS: dict[DocType, tuple[str, ...]] = {
    DocType.OWNER_REGISTRATION: (
        "owner_name", "id_number", "phone", "building", "unit", "room",
        "move_in_date", "emergency_contact", "emergency_phone",
    ),
    DocType.ID_CARD: (
        "name", "sex", "ethnicity", "birth_date", "address", "id_number",
        "issuing_authority", "valid_from", "valid_to",
    ),
    DocType.PURCHASE_CONTRACT: (
        "contract_number", "buyer_name", "buyer_id_number", "seller_name",
        "building", "unit", "room", "floor_area", "total_price", "signing_date",
    ),
    DocType.LEASE_CONTRACT: (
        "tenant_name", "tenant_id_number", "landlord_name", "building", "unit",
        "room", "lease_start", "lease_end", "monthly_rent",
    ),
    DocType.MOVE_IN_NOTICE: ("owner_name", "building", "unit", "room", "notice_date"),
    DocType.HANDOVER_FORM: (
        "owner_name", "building", "unit", "room", "handover_date",
        "water_meter", "electricity_meter",
    ),
    DocType.RENOVATION_APPLICATION: (
        "owner_name", "building", "unit", "room", "contractor", "start_date", "end_date",
    ),
    DocType.FIRE_SAFETY_AGREEMENT: ("owner_name", "building", "unit", "room", "signing_date"),
    DocType.COMMITMENT_LETTER: ("owner_name", "building", "unit", "room", "signing_date"),
    DocType.POWER_OF_ATTORNEY: (
        "principal_name", "agent_name", "agent_id_number", "building", "unit", "room",
    ),
    DocType.OTHER: (),
}

#: Fields holding a resident ID number (居民身份证号码).
ID_NUMBER_FIELDS = frozenset({"id_number", "buyer_id_number", "tenant_id_number", "agent_id_number"})
#: Fields holding a phone number.
PHONE_FIELDS = frozenset({"phone", "emergency_phone"})
#: Fields holding a home address.
ADDRESS_FIELDS = frozenset({"address"})
#: Fields never stored or shown in plain text: HMAC + masked + encrypted.
SENSITIVE_FIELDS = ID_NUMBER_FIELDS | PHONE_FIELDS | ADDRESS_FIELDS
#: Fields holding a date (YYYY-MM-DD in every export).
DATE_FIELDS = frozenset({
    "move_in_date", "birth_date", "valid_from", "valid_to", "signing_date",
    "lease_start", "lease_end", "notice_date", "handover_date", "start_date", "end_date",
})
#: Fields holding money or an area (plain decimal strings, no units).
DECIMAL_FIELDS = frozenset({"floor_area", "total_price", "monthly_rent", "water_meter", "electricity_meter"})
#: The unit reference (building / unit / room) of an archive.
UNIT_FIELDS = ("building", "unit", "room")

#: What a complete owner archive holds; used by completeness checks.
REQUIRED_FOR_ARCHIVE: tuple[DocType, ...] = (
    DocType.OWNER_REGISTRATION,
    DocType.ID_CARD,
    DocType.PURCHASE_CONTRACT,
)
