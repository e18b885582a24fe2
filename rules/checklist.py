"""What a unit archive must hold (入档检查): the completeness checklist.

The default follows the company's rules: an owner archive (业主档案) holds the
owner registration form, a copy of the owner's ID card, the purchase contract,
the move-in notice, the handover form, the fire-safety agreement and the
commitment letter. When the unit is let (the archive holds a lease contract),
the tenant's papers are required too: the lease and a copy of the tenant's ID
card, i.e. two ID card copies in all.

A company with other rules writes them to ``DANGAN_HOME/checklist.toml`` (or
the file the setting ``DANGAN_CHECKLIST_FILE`` names)::

    # document type = how many the archive must hold
    [required]
    owner_registration = 1
    id_card = 1
    purchase_contract = 1

    # also required when the archive holds a lease contract
    [when_let]
    lease_contract = 1
    id_card = 2

A type name must be one of the document types (``schemas/documents.py``); a
wrong name or count stops the command that reads the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from schemas.documents import DOC_LABELS, DOC_TYPES
from schemas.errors import ConfigError

if TYPE_CHECKING:
    from schemas.settings import Settings

#: The type whose presence means the unit is let.
LEASE = "lease_contract"

DEFAULT_REQUIRED: dict[str, int] = {
    "owner_registration": 1, "id_card": 1, "purchase_contract": 1, "move_in_notice": 1, "handover_form": 1,
    "fire_safety_agreement": 1, "commitment_letter": 1,
}
DEFAULT_WHEN_LET: dict[str, int] = {"lease_contract": 1, "id_card": 2}


class Gap(BaseModel):
    """One thing an archive lacks: ``needed`` documents of ``doc_type``, of which it holds ``held``."""

    model_config = ConfigDict(frozen=True)

    doc_type: str
    needed: int
    held: int

    @property
    def label(self) -> str:
        """``消防安全协议`` or ``身份证（2份，现有1份）``."""
        name = DOC_LABELS.get(self.doc_type, self.doc_type)
        return name if self.needed == 1 else f"{name}（{self.needed}份，现有{self.held}份）"


class Checklist(BaseModel):
    """Required document types (with counts) of every archive, and of an archive whose unit is let."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    required: dict[str, int] = DEFAULT_REQUIRED
    when_let: dict[str, int] = DEFAULT_WHEN_LET

    @field_validator("required", "when_let")
    @classmethod
    def _known(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(DOC_TYPES))
        if unknown:
            raise ValueError(f"unknown document type(s) {', '.join(unknown)}; known: {', '.join(DOC_TYPES)}")
        bad = sorted(k for k, n in value.items() if not isinstance(n, int) or n < 1)
        if bad:
            raise ValueError(f"the count of {', '.join(bad)} must be a whole number of at least 1")
        return value

    def needed(self, holdings: Mapping[str, int]) -> dict[str, int]:
        """How many of each type an archive holding ``holdings`` (type -> count) must hold."""
        need = dict(self.required)
        if holdings.get(LEASE, 0) > 0:
            for doc_type, n in self.when_let.items():
                need[doc_type] = max(need.get(doc_type, 0), n)
        return need

    def gaps(self, holdings: Mapping[str, int]) -> tuple[Gap, ...]:
        """What an archive holding ``holdings`` lacks, in the checklist's order."""
        return tuple(Gap(doc_type=t, needed=n, held=holdings.get(t, 0))
                     for t, n in self.needed(holdings).items() if holdings.get(t, 0) < n)


def checklist_path(settings: Settings) -> Path:
    """Where the company's checklist is read from."""
    return settings.checklist_file or settings.home / "checklist.toml"


def load_checklist(settings: Settings) -> Checklist:
    """The company's checklist (the default when there is no file); ConfigError for a bad file."""
    path = checklist_path(settings)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if settings.checklist_file is not None:
            raise ConfigError(f"DANGAN_CHECKLIST_FILE names {path}, which does not exist.") from None
        return Checklist()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"The checklist {path} cannot be read: {e}") from e
    try:
        return Checklist.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"The checklist {path} is wrong at {where}: {first['msg']}") from None
