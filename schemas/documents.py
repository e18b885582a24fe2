"""Document types of an owner archive (业主档案) and their fields.

The table follows DESIGN.md. Everything here is derived from the per-type
specs in :mod:`schemas.doctypes` (one module per type); ``DocType`` names the
types the design fixes, so code and tests can refer to them.
"""

from __future__ import annotations

from enum import StrEnum

from schemas.doctypes import SPECS, fields_of_kind


class DocType(StrEnum):
    """The kinds of document an owner archive holds (DESIGN.md); each has a spec in schemas/doctypes/."""

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


_missing = [t.value for t in DocType if t.value not in SPECS]
if _missing:  # pragma: no cover - a packaging error
    raise ImportError(f"no spec in schemas/doctypes/ for {_missing}")

#: Every document type name, specs included that the design does not list.
DOC_TYPES: tuple[str, ...] = tuple(SPECS)
#: Chinese label printed on the paper form (used in reports for clerks).
DOC_LABELS: dict[str, str] = {name: spec.label for name, spec in SPECS.items()}
#: Export keys per document type (DESIGN.md, plus a few more). A field not found is absent.
DOC_FIELDS: dict[str, tuple[str, ...]] = {name: spec.export_keys for name, spec in SPECS.items()}
#: Read on every type when present: the text of the document's seal (印章).
SEAL_FIELD = "seal_text"

#: Fields holding a resident ID number (居民身份证号码).
ID_NUMBER_FIELDS = fields_of_kind("id")
#: Fields holding a phone number.
PHONE_FIELDS = fields_of_kind("phone")
#: Fields holding a home address.
ADDRESS_FIELDS = fields_of_kind("address")
#: Fields never stored or shown in plain text: HMAC + masked + encrypted.
SENSITIVE_FIELDS = ID_NUMBER_FIELDS | PHONE_FIELDS | ADDRESS_FIELDS
#: Fields holding a date (YYYY-MM-DD in every export).
DATE_FIELDS = fields_of_kind("date")
#: Fields holding money or an area (plain decimal strings, no units).
DECIMAL_FIELDS = fields_of_kind("decimal", "meter")
#: The unit reference (building / unit / room) of an archive.
UNIT_FIELDS = ("building", "unit", "room")

#: What a complete owner archive holds; used by completeness checks.
REQUIRED_FOR_ARCHIVE: tuple[DocType, ...] = (
    DocType.OWNER_REGISTRATION,
    DocType.ID_CARD,
    DocType.PURCHASE_CONTRACT,
)
