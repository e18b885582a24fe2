"""其他: anything that is none of the known types (kept, searchable, no fields required)."""

from __future__ import annotations

from schemas.doctypes.base import DocSpec

SPEC = DocSpec(name="other", label="其他", order=99)
