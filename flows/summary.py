"""What one ingest batch did, per file and in total."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ocr.coversheet import CoverSheet
from ocr.quality import PageQuality, ScanMetadata
from schemas.errors import DanganError
from schemas.models import Extraction, OcrPage, SourceFile
from storage.dropfolder import DropItem
from storage.names import safe_name

Outcome = Literal["stored", "duplicate", "quarantined", "failed", "sheet"]


class DocumentOutcome(BaseModel):
    """One document found in a stored file. Holds no field values (no PII in summaries)."""

    model_config = ConfigDict(frozen=True)

    document_id: str
    doc_type: str
    first_page: int
    pages: int
    flagged_fields: tuple[str, ...] = ()


class FileOutcome(BaseModel):
    """The result for one input file. Holds no field values (no PII in summaries)."""

    model_config = ConfigDict(frozen=True)

    #: Path and name of the source, ID numbers and phones masked, control characters escaped.
    path: str
    name: str
    outcome: Outcome
    #: Pages of the file (stored: read; duplicate: as counted by preflight).
    pages: int = 0
    #: The documents found in a stored file (a whole-folder scan holds several).
    documents: tuple[DocumentOutcome, ...] = ()
    #: Ids of the documents of a file archived before (duplicates).
    document_ids: tuple[str, ...] = ()
    reason: str | None = None
    reason_code: str | None = None
    #: What a clerk should know of a stored batch scan: unreadable cover sheets, page counts that differ.
    notes: tuple[str, ...] = ()
    #: Digitisation quality of each scanned page of a stored file (page index, measurements).
    quality: tuple[tuple[int, PageQuality], ...] = ()
    #: The scanner, software and time the file records.
    scan: ScanMetadata | None = None

    @property
    def document_id(self) -> str | None:
        """Id of the file's first document, if it has one."""
        ids = self.document_ids or tuple(d.document_id for d in self.documents)
        return ids[0] if ids else None

    @property
    def doc_type(self) -> str | None:
        """Type of the file's first document."""
        return self.documents[0].doc_type if self.documents else None

    @property
    def flagged_fields(self) -> tuple[str, ...]:
        """Flagged fields over the file's documents (with the type when it holds several)."""
        if len(self.documents) == 1:
            return self.documents[0].flagged_fields
        return tuple(f"{d.doc_type}.{name}" for d in self.documents for name in d.flagged_fields)

    @classmethod
    def stored(cls, item: DropItem, doc_ids: Sequence[str], source: SourceFile, pages: Sequence[OcrPage],
               extractions: Sequence[Extraction], notes: Sequence[str] = (),
               quality: dict[int, PageQuality] | None = None, scan: ScanMetadata | None = None) -> FileOutcome:
        """New documents were stored and indexed."""
        documents = tuple(
            DocumentOutcome(document_id=doc_id, doc_type=ex.doc_type, first_page=ex.first_page,
                            pages=len(ex.page_indices), flagged_fields=tuple(sorted(ex.flagged_fields)))
            for doc_id, ex in zip(doc_ids, extractions, strict=True))
        return cls(path=safe_name(str(item.path)), name=safe_name(item.path.name), outcome="stored",
                   pages=len(pages), documents=documents, notes=tuple(notes),
                   quality=tuple(sorted((quality or {}).items())), scan=scan)

    @classmethod
    def duplicate(cls, item: DropItem, doc_ids: Sequence[str], source: SourceFile) -> FileOutcome:
        """The same bytes were already archived; nothing stored twice."""
        return cls(path=safe_name(str(item.path)), name=safe_name(item.path.name), outcome="duplicate",
                   document_ids=tuple(doc_ids), pages=source.page_count)

    @classmethod
    def sheet(cls, item: DropItem, sheet: CoverSheet, source: SourceFile) -> FileOutcome:
        """A cover sheet scanned as a file of its own: it leads the files after it; nothing is archived."""
        unit = f"{sheet.building}-{sheet.unit}-{sheet.room}"
        what = f"{unit} ({sheet.doc_type})" if sheet.doc_type else unit
        return cls(path=safe_name(str(item.path)), name=safe_name(item.path.name), outcome="sheet",
                   pages=source.page_count, notes=(f"cover sheet for {what}",))

    @classmethod
    def quarantined(cls, item: DropItem, error: DanganError) -> FileOutcome:
        """Refused and set aside with its reason."""
        return cls(path=safe_name(str(item.path)), name=safe_name(item.path.name), outcome="quarantined",
                   reason=error.message, reason_code=error.code)

    @classmethod
    def failed(cls, item: DropItem, error: DanganError) -> FileOutcome:
        """An outside system failed; the file stays in the drop folder for the next run."""
        return cls(path=safe_name(str(item.path)), name=safe_name(item.path.name), outcome="failed",
                   reason=error.message, reason_code=error.code)


class ArchiveLack(BaseModel):
    """What a unit archive the batch filed documents into still lacks (入档检查)."""

    model_config = ConfigDict(frozen=True)

    archive_id: str
    #: ``锦绣花园 3栋2单元1201``.
    place: str
    #: The missing documents as a clerk names them (``消防安全协议书``, ``居民身份证复印件（2份，现有1份）``).
    missing: tuple[str, ...]


class IngestSummary(BaseModel):
    """Totals of one batch."""

    model_config = ConfigDict(frozen=True)

    files: tuple[FileOutcome, ...]
    #: The batch's digitisation quality report (HTML; the CSV lies beside it), when pages were scanned.
    qa_report: str | None = None
    #: The archives this batch filed documents into that still lack documents the checklist requires.
    archive_gaps: tuple[ArchiveLack, ...] = ()

    @classmethod
    def of(cls, outcomes: Sequence[FileOutcome]) -> IngestSummary:
        """Summarise the outcomes of a batch."""
        return cls(files=tuple(outcomes))

    def count(self, outcome: Outcome) -> int:
        """Number of files with ``outcome``."""
        return sum(1 for f in self.files if f.outcome == outcome)

    @property
    def pages(self) -> int:
        """Pages of newly stored files."""
        return sum(f.pages for f in self.files if f.outcome == "stored")

    @property
    def documents(self) -> int:
        """Documents found in newly stored files."""
        return sum(len(f.documents) for f in self.files if f.outcome == "stored")

    @property
    def documents_to_review(self) -> int:
        """Newly stored documents with a field a person must check."""
        return sum(1 for f in self.files for d in f.documents if d.flagged_fields)

    @property
    def status(self) -> Literal["completed", "incomplete"]:
        """``completed`` when every file was stored, recognised or quarantined."""
        return "incomplete" if self.count("failed") else "completed"

    def counts(self) -> dict[str, int]:
        """Totals for the ingest-run record."""
        by_outcome = Counter(f.outcome for f in self.files)
        return {"files": len(self.files), "pages": self.pages, "documents": self.documents,
                **{k: by_outcome.get(k, 0) for k in ("stored", "duplicate", "quarantined", "failed", "sheet")}}
