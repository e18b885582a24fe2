"""The JSON API under /api (published at /openapi.json): the same service, permissions and audit as the pages.

A script signs in with ``Authorization: Bearer <token>`` (``dangan user token NAME``); a browser session works
too, and then every POST needs the header ``X-CSRF-Token``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from storage.audit import AuditEntry
from storage.auditlog import ChainReport
from storage.corrections import Correction
from storage.search import BrowseResult, SearchResult
from web.access import Action
from web.excerpts import SearchPage
from web.service import DocumentView
from web.uploads import MAX_UPLOAD_BYTES, UploadJob
from web.views import identity_of, search_filters, service_of

router = APIRouter(prefix="/api", tags=["archive"])
PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}},
                                              "description": "The page as PNG, watermarked"}}


class Me(BaseModel):
    """Who the request acts as."""

    name: str
    role: str
    unit: str | None
    via: str
    #: Every action of the permission matrix this identity may take (some only for its own unit).
    may: list[str]


class CorrectionIn(BaseModel):
    """A correction: the right value, or null to accept the value read."""

    value: str | None = Field(default=None, max_length=400)


@router.get("/me")
def me(request: Request) -> Me:
    """The identity of this request and what it may do."""
    who, service = identity_of(request), service_of(request)
    from web.access import PERMISSIONS

    return Me(name=who.name, role=str(who.role), unit=str(who.unit) if who.unit else None, via=who.via,
              may=sorted(str(a) for a in PERMISSIONS.get(who.role, frozenset())
                         if service.may(who, a, unit=who.unit)))


@router.get("/search")
def search(request: Request, q: str = "", doc_type: str = "", estate: str = "", building: str = "",
           date_from: str = "", date_to: str = "", status: str = "", limit: int = 50) -> SearchPage:
    """Search: one box (name, ID number or its last 4-6 characters, phone, unit, contract number, words) and filters.

    Each document found carries ``excerpt``: one or two snippets of its text around the words of the query,
    as ``pieces`` (``mark`` true for a word of the query), ID numbers and phones masked; null when no word
    of the query is in its text.
    """
    filters = search_filters(doc_type=doc_type, estate=estate, building=building, date_from=date_from,
                             date_to=date_to, status=status)
    return service_of(request).search(identity_of(request), q, filters, limit=max(1, min(limit, 200)))


@router.get("/browse")
def browse(request: Request, estate: str | None = None, building: str | None = None,
           unit: str | None = None) -> BrowseResult:
    """Browse estate → building → unit → archive."""
    return service_of(request).browse(identity_of(request), estate=estate, building=building, unit=unit)


@router.get("/review")
def review(request: Request, limit: int = 100) -> SearchResult:
    """Documents waiting for review (status needs_review)."""
    return service_of(request).review_queue(identity_of(request), limit=max(1, min(limit, 500)))


@router.get("/documents/{doc_id}")
def document(request: Request, doc_id: str, purpose: str, reveal: bool = False) -> DocumentView:
    """A document's fields (masked unless ``reveal``, which needs reveal_pii); ``purpose`` is recorded.

    Each field's ``box`` is where its value was read, as (left, top, width, height) shares of the page
    image ``/api/documents/{id}/pages/{index}.png`` (whose ``index`` is the field's ``page``).
    """
    return service_of(request).document(identity_of(request), doc_id, purpose=purpose, reveal=reveal)


@router.get("/documents/{doc_id}/pages/{index}.png", responses=PNG, response_class=Response)
def page_image(request: Request, doc_id: str, index: int, purpose: str) -> Response:
    """Page ``index`` of the document's file, drawn from the original with the viewer's watermark."""
    return Response(service_of(request).page_png(identity_of(request), doc_id, index, purpose=purpose),
                    media_type="image/png")


@router.get("/documents/{doc_id}/fields/{field}/crop.png", responses=PNG, response_class=Response)
def field_crop(request: Request, doc_id: str, field: str, purpose: str) -> Response:
    """Where a field's value was read, cut from its page (for review), watermarked."""
    return Response(service_of(request).crop_png(identity_of(request), doc_id, field, purpose=purpose),
                    media_type="image/png")


@router.get("/documents/{doc_id}/original", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "The original file"}},
            )
def original(request: Request, doc_id: str, purpose: str) -> Response:
    """The decrypted original, for roles that may download it (audited)."""
    found = service_of(request).original(identity_of(request), doc_id, purpose=purpose)
    return Response(found.data, media_type=found.media_type,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.name)}"})


@router.post("/documents/{doc_id}/fields/{field}")
def correct(request: Request, doc_id: str, field: str, body: CorrectionIn) -> Correction:
    """Correct a field (``value``) or accept the value read (``value`` null); the index changes at once."""
    return service_of(request).correct(identity_of(request), doc_id, field, body.value)


@router.get("/audit")
def audit_log(request: Request, document_id: str | None = None, limit: int = 200) -> list[AuditEntry]:
    """The newest audit entries, optionally of one document (roles that may read the audit log)."""
    return service_of(request).audit_log(identity_of(request), document_id=document_id, limit=max(1, min(limit, 5000)))


@router.get("/audit/verify")
def audit_verify(request: Request) -> ChainReport:
    """Walk the audit log's hash chain and check its anchors: ``intact``, or its first bad event (audited)."""
    who, service = identity_of(request), service_of(request)
    service.require(who, Action.VERIFY_AUDIT)
    report = service.index.verify_audit(service.vault.settings.audit_anchor)
    service.audit(who, str(Action.VERIFY_AUDIT), detail=report.audit_detail())
    return report


@router.get("/export", response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {}}, "description": "One JSON object per line"}})
def export(request: Request, reveal: bool = False) -> Response:
    """Every document as JSON lines (DESIGN.md export; ``reveal`` needs reveal_pii; audited)."""
    text = service_of(request).export_jsonl(identity_of(request), reveal=reveal)
    return Response(text, media_type="application/x-ndjson",
                    headers={"Content-Disposition": "attachment; filename=dangan-export.jsonl"})


@router.post("/uploads", status_code=202)
async def upload(request: Request, file: UploadFile, unit: Annotated[str, Form()],
                 estate: Annotated[str, Form()] = "") -> dict[str, Any]:
    """Upload a scan into a unit's archive (``unit`` like 3-2-1201); the ingest runs in the background."""
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    job = service_of(request).upload(identity_of(request), unit_text=unit, estate=estate.strip() or None,
                                   name=file.filename or "scan", data=data)
    return job.as_dict()


@router.get("/uploads/{job_id}")
def upload_job(request: Request, job_id: str) -> dict[str, Any]:
    """An upload's state and outcome (``state``: queued, running, done, failed)."""
    job: UploadJob = service_of(request).upload_job(identity_of(request), job_id)
    return job.as_dict()
