"""What one ingest batch did, per file and in total."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas.errors import DanganError
from schemas.models import Extraction, OcrPage, SourceFile
from storage.dropfolder import DropItem

Outcome = Literal["stored", "duplicate", "quarantined", "failed"]


class FileOutcome(BaseModel):
    """The result for one input file. Holds no field values (no PII in summaries)."""

    model_config = ConfigDict(frozen=True)

    path: str
    name: str
    outcome: Outcome
    document_id: str | None = None
    doc_type: str | None = None
    pages: int = 0
    reason: str | None = None
    reason_code: str | None = None
    flagged_fields: tuple[str, ...] = ()

    @classmethod
    def stored(
        cls, item: DropItem, doc_id: str, source: SourceFile, pages: Sequence[OcrPage], extraction: Extraction
    ) -> FileOutcome:
        """A new document was stored and indexed."""
        flagged = tuple(sorted(n for n, f in extraction.fields.items() if not f.valid))
        return cls(path=str(item.path), name=item.path.name, outcome="stored", document_id=doc_id,
                   doc_type=extraction.doc_type, pages=len(pages), flagged_fields=flagged)

    @classmethod
    def duplicate(cls, item: DropItem, doc_id: str, source: SourceFile) -> FileOutcome:
        """The same bytes were already archived; nothing stored twice."""
        return cls(path=str(item.path), name=item.path.name, outcome="duplicate", document_id=doc_id,
                   pages=source.page_count)

    @classmethod
    def quarantined(cls, item: DropItem, error: DanganError) -> FileOutcome:
        """Refused and set aside with its reason."""
        return cls(path=str(item.path), name=item.path.name, outcome="quarantined",
                   reason=error.message, reason_code=error.code)

    @classmethod
    def failed(cls, item: DropItem, error: DanganError) -> FileOutcome:
        """An outside system failed; the file stays in the drop folder for the next run."""
        return cls(path=str(item.path), name=item.path.name, outcome="failed",
                   reason=error.message, reason_code=error.code)


class IngestSummary(BaseModel):
    """Totals of one batch."""

    model_config = ConfigDict(frozen=True)

    files: tuple[FileOutcome, ...]

    @classmethod
    def of(cls, outcomes: Sequence[FileOutcome]) -> IngestSummary:
        """Summarise the outcomes of a batch."""
        return cls(files=tuple(outcomes))

    def count(self, outcome: Outcome) -> int:
        """Number of files with ``outcome``."""
        return sum(1 for f in self.files if f.outcome == outcome)

    @property
    def pages(self) -> int:
        """Pages of newly stored documents."""
        return sum(f.pages for f in self.files if f.outcome == "stored")

    @property
    def status(self) -> Literal["completed", "incomplete"]:
        """``completed`` when every file was stored, recognised or quarantined."""
        return "incomplete" if self.count("failed") else "completed"

    def counts(self) -> dict[str, int]:
        """Totals for the ingest-run record."""
        by_outcome = Counter(f.outcome for f in self.files)
        return {"files": len(self.files), "pages": self.pages,
                **{k: by_outcome.get(k, 0) for k in ("stored", "duplicate", "quarantined", "failed")}}
