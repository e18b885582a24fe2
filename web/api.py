"""The JSON API under /api (published at /openapi.json): the same service, permissions and audit as the pages.

A script signs in with ``Authorization: Bearer <token>`` (``dangan user token NAME``); a browser session works
too, and then every POST needs the header ``X-CSRF-Token``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from storage.audit import AuditEntry
from storage.search import BrowseResult, SearchResult
from web.access import Identity
from web.service import ArchiveService
from web.uploads import MAX_UPLOAD_BYTES, UploadJob
from web.views import search_filters

router = APIRouter(prefix="/api", tags=["archive"])
PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}},
                                              "description": "The page as PNG, watermarked"}}


def _service(request: Request) -> ArchiveService:
    service: ArchiveService = request.app.state.service
    return service


def _me(request: Request) -> Identity:
    identity: Identity = request.state.identity
    return identity


class Me(BaseModel):
    """Who the request acts as."""

    name: str
    role: str
    unit: str | None
    via: str
    #: Every action of the permission matrix this identity may take (some only for its own unit).
    may: list[str]


class FieldOut(BaseModel):
    """A field of a document; ``value`` masked unless revealed."""

    name: str
    label: str
    value: str
    confidence: float | None
    issue: str | None
    page: int | None
    #: Where the value was read: (left, top, width, height) as fractions of its page.
    box: tuple[float, float, float, float] | None
    revealed: bool


class CorrectionOut(BaseModel):
    """A correction of a field (values masked when sensitive)."""

    id: int
    field: str
    kind: str
    old_value: str | None
    new_value: str
    actor: str
    role: str
    at: dt.datetime


class DocumentOut(BaseModel):
    """A document with its fields."""

    id: str
    doc_type: str
    label: str
    source_name: str
    unit: str | None
    status: str
    created_at: dt.datetime
    #: Page indices (0-based, in the file); fetch each at /api/documents/{id}/pages/{index}.png.
    pages: list[int]
    fields: list[FieldOut]
    corrections: list[CorrectionOut]


class CorrectionIn(BaseModel):
    """A correction: the right value, or null to accept the value read."""

    value: str | None = Field(default=None, max_length=400)


@router.get("/me")
def me(request: Request) -> Me:
    """The identity of this request and what it may do."""
    who, service = _me(request), _service(request)
    from web.access import PERMISSIONS

    return Me(name=who.name, role=str(who.role), unit=str(who.unit) if who.unit else None, via=who.via,
              may=sorted(str(a) for a in PERMISSIONS.get(who.role, frozenset())
                         if service.may(who, a, unit=who.unit)))


@router.get("/search")
def search(request: Request, q: str = "", doc_type: str = "", estate: str = "", building: str = "",
           date_from: str = "", date_to: str = "", status: str = "", limit: int = 50) -> SearchResult:
    """Search: one box (name, ID number or its last 4-6 characters, phone, unit, contract number, words) and filters."""
    filters = search_filters(doc_type=doc_type, estate=estate, building=building, date_from=date_from,
                             date_to=date_to, status=status)
    return _service(request).search(_me(request), q, filters, limit=max(1, min(limit, 200)))


@router.get("/browse")
def browse(request: Request, estate: str | None = None, building: str | None = None,
           unit: str | None = None) -> BrowseResult:
    """Browse estate → building → unit → archive."""
    return _service(request).browse(_me(request), estate=estate, building=building, unit=unit)


@router.get("/review")
def review(request: Request, limit: int = 100) -> SearchResult:
    """Documents waiting for review (status needs_review)."""
    return _service(request).review_queue(_me(request), limit=max(1, min(limit, 500)))


@router.get("/documents/{doc_id}")
def document(request: Request, doc_id: str, purpose: str, reveal: bool = False) -> DocumentOut:
    """A document's fields (masked unless ``reveal``, which needs reveal_pii); ``purpose`` is recorded."""
    doc = _service(request).document(_me(request), doc_id, purpose=purpose, reveal=reveal)
    return DocumentOut(
        id=doc.id, doc_type=doc.doc_type, label=doc.label, source_name=doc.source_name,
        unit=str(doc.unit) if doc.unit else None, status=doc.status, created_at=doc.created_at,
        pages=[p.index for p in doc.pages],
        fields=[FieldOut(name=f.name, label=f.label, value=f.value, confidence=f.confidence, issue=f.issue,
                         page=f.page, box=f.box, revealed=f.revealed) for f in doc.fields],
        corrections=[CorrectionOut(id=c.id, field=c.field, kind=c.kind, old_value=c.old_value, new_value=c.new_value,
                                   actor=c.actor, role=c.role, at=c.at) for c in doc.corrections])


@router.get("/documents/{doc_id}/pages/{index}.png", responses=PNG, response_class=Response)
def page_image(request: Request, doc_id: str, index: int, purpose: str) -> Response:
    """Page ``index`` of the document's file, drawn from the original with the viewer's watermark."""
    return Response(_service(request).page_png(_me(request), doc_id, index, purpose=purpose),
                    media_type="image/png")


@router.get("/documents/{doc_id}/fields/{field}/crop.png", responses=PNG, response_class=Response)
def field_crop(request: Request, doc_id: str, field: str, purpose: str) -> Response:
    """Where a field's value was read, cut from its page (for review), watermarked."""
    return Response(_service(request).crop_png(_me(request), doc_id, field, purpose=purpose),
                    media_type="image/png")


@router.get("/documents/{doc_id}/original", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "The original file"}},
            )
def original(request: Request, doc_id: str, purpose: str) -> Response:
    """The decrypted original, for roles that may download it (audited)."""
    found = _service(request).original(_me(request), doc_id, purpose=purpose)
    return Response(found.data, media_type=found.media_type,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.name)}"})


@router.post("/documents/{doc_id}/fields/{field}")
def correct(request: Request, doc_id: str, field: str, body: CorrectionIn) -> CorrectionOut:
    """Correct a field (``value``) or accept the value read (``value`` null); the index changes at once."""
    c = _service(request).correct(_me(request), doc_id, field, body.value)
    return CorrectionOut(id=c.id, field=c.field, kind=c.kind, old_value=c.old_value, new_value=c.new_value,
                         actor=c.actor, role=c.role, at=c.at)


@router.get("/audit")
def audit_log(request: Request, document_id: str | None = None, limit: int = 200) -> list[AuditEntry]:
    """The newest audit entries, optionally of one document (roles that may read the audit log)."""
    return _service(request).audit_log(_me(request), document_id=document_id, limit=max(1, min(limit, 5000)))


@router.get("/export", response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {}}, "description": "One JSON object per line"}})
def export(request: Request, reveal: bool = False) -> Response:
    """Every document as JSON lines (DESIGN.md export; ``reveal`` needs reveal_pii; audited)."""
    text = _service(request).export_jsonl(_me(request), reveal=reveal)
    return Response(text, media_type="application/x-ndjson",
                    headers={"Content-Disposition": "attachment; filename=dangan-export.jsonl"})


@router.post("/uploads", status_code=202)
async def upload(request: Request, file: UploadFile, unit: Annotated[str, Form()],
                 estate: Annotated[str, Form()] = "") -> dict[str, Any]:
    """Upload a scan into a unit's archive (``unit`` like 3-2-1201); the ingest runs in the background."""
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    job = _service(request).upload(_me(request), unit_text=unit, estate=estate.strip() or None,
                                   name=file.filename or "scan", data=data)
    return job.as_dict()


@router.get("/uploads/{job_id}")
def upload_job(request: Request, job_id: str) -> dict[str, Any]:
    """An upload's state and outcome (``state``: queued, running, done, failed)."""
    job: UploadJob = _service(request).upload_job(_me(request), job_id)
    return job.as_dict()
