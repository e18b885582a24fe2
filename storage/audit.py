"""Audit log entries (审计日志): who did what to which document, without personal data.

Details are scrubbed before they are written: anything shaped like an ID
number or a phone number is masked, so a careless caller cannot leak one
into the log. How the log is chained and verified: :mod:`storage.auditlog`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas.lazyre import LazyPattern
from schemas.validators import mask_id_number, mask_phone

_ID_LIKE = LazyPattern(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])|(?<!\d)\d{15}(?!\d)")
_PHONE_LIKE = LazyPattern(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)"
                           r"|(?<!\d)0\d{2,3}-\d{7,8}(?!\d)")


class AuditEntry(BaseModel):
    """One event of the audit log: who, in which role, did what, to which document, when, why, how it ended.

    ``prev_hash`` and ``hash`` link it into the log's hash chain (:mod:`storage.auditlog`).
    """

    model_config = ConfigDict(frozen=True)

    id: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    document_id: str | None = None
    detail: dict[str, Any] | None = None
    purpose: str | None = None
    outcome: str | None = None
    prev_hash: str | None = None
    hash: str | None = None


def scrub_text(text: str) -> str:
    """Mask every ID-number-like and phone-like run in ``text``."""
    text = _ID_LIKE.sub(lambda m: mask_id_number(m.group(0)), text)
    return _PHONE_LIKE.sub(lambda m: mask_phone(m.group(0)), text)


def scrub_detail(detail: Any) -> Any:
    """Return a copy of ``detail`` (nested dicts, lists, strings) with ID numbers and phones masked."""
    if isinstance(detail, str):
        return scrub_text(detail)
    if isinstance(detail, dict):
        return {str(k): scrub_detail(v) for k, v in detail.items()}
    if isinstance(detail, list | tuple | set | frozenset):
        return [scrub_detail(v) for v in detail]
    if detail is None or isinstance(detail, bool | float):
        return detail
    if isinstance(detail, int):
        masked = scrub_text(str(detail))
        return detail if masked == str(detail) else masked
    return scrub_text(str(detail))
