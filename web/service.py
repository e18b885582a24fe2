"""What the archive service does for one signed-in person (服务层): the pages and the API both call this.

Every method names the :class:`~web.access.Action` it takes and asks
:func:`web.access.require` first, with the index's audit log, so a refusal is
audited and raised as ``AccessDenied`` before anything is read; what is done is
audited under the person's name and role. An owner's listings are limited to
their own unit (:func:`web.access.unit_scope`), and their document actions to
documents filed under it.

Pages are drawn from the decrypted original in memory (:mod:`web.render`),
with the viewer, the time and the purpose (查阅目的) burned in; the purpose is
asked before a document opens and recorded in every audit row of the viewing.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from rules.loans import require_loan
from schemas.documents import SENSITIVE_FIELDS
from schemas.errors import InvalidRequest, NotFound
from schemas.models import CONFIDENT, OcrPage, UnitRef, estate_name
from schemas.validators import parse_unit_ref
from storage.audit import AuditEntry, scrub_text
from storage.corrections import Correction, Corrections
from storage.index import DocumentDetail, PageInfo
from storage.objects import load_sealed
from storage.search import BrowseResult, QueryFilters, SearchResult
from storage.vault import Vault
from web.access import Action, Identity, Role, allowed, require, same_unit, unit_scope
from web.excerpts import Excerpts, SearchPage
from web.labels import UNIT_SOURCE_LABELS, doc_label, field_label
from web.render import (
    BAND_SHARE,
    CROP_PAGE_SIDE,
    PageGeometry,
    Watermark,
    box_fractions,
    crop_box,
    draw_page,
    redact,
    watermarked_png,
)
from web.uploads import UploadJob, Uploads

#: Time zone of the times shown and burned into watermarks (the company's).
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
#: A purpose (查阅目的) has at least this many characters and at most the second.
PURPOSE_CHARS = (2, 60)
#: Most documents a search returns.
SEARCH_LIMIT = 100


def unit_from_form(text: str) -> UnitRef:
    """The unit a form or an API call names; InvalidRequest when it names no whole unit."""
    unit = parse_unit_ref(text)
    if unit is None:
        raise InvalidRequest("Name the unit as building-unit-room (e.g. 3-2-1201 or 3栋2单元1201).")
    return unit


def check_purpose(purpose: str | None) -> str:
    """A viewing purpose as recorded: one line, 2-60 characters; InvalidRequest otherwise."""
    text = " ".join((purpose or "").split())
    low, high = PURPOSE_CHARS
    if not low <= len(text) <= high:
        raise InvalidRequest(f"State the purpose of viewing (查阅目的) in {low} to {high} characters.")
    return text


@dataclass(frozen=True)
class FieldView:
    """One extracted field as the document page shows it."""

    name: str
    label: str
    value: str
    confidence: float | None
    #: Why a person must check it (None: stated as read).
    issue: str | None
    #: Page index in the file and the box as fractions (left, top, width, height) of that page.
    page: int | None
    box: tuple[float, float, float, float] | None
    revealed: bool

    @property
    def flagged(self) -> bool:
        """Whether the value needs a person's check (复核)."""
        return self.issue is not None


@dataclass(frozen=True)
class PageView:
    """One page of a document: its index in the file and its shape."""

    index: int
    number: int
    aspect: float


@dataclass(frozen=True)
class DocumentView:
    """A document as its page shows it (values masked unless revealed)."""

    id: str
    doc_type: str
    label: str
    source_name: str
    unit: UnitRef | None
    estate: str | None
    unit_source: str | None
    status: str
    created_at: dt.datetime
    pages: tuple[PageView, ...]
    fields: tuple[FieldView, ...]
    corrections: tuple[Correction, ...]
    revealed: bool

    @property
    def flagged(self) -> tuple[FieldView, ...]:
        """The fields a person must check."""
        return tuple(f for f in self.fields if f.flagged)

    @property
    def unit_source_label(self) -> str:
        """Where the unit came from, in Chinese."""
        return UNIT_SOURCE_LABELS.get(self.unit_source or "", "")


@dataclass(frozen=True)
class Original:
    """A decrypted original for download."""

    data: bytes
    name: str
    media_type: str


_MEDIA_TYPES = {"pdf": "application/pdf", "tiff": "image/tiff", "jpeg": "image/jpeg", "png": "image/png",
                "bmp": "image/bmp", "webp": "image/webp"}


class ArchiveService:
    """The archive as the service's people use it; one per process, shared by all requests."""

    def __init__(self, vault: Vault, uploads: Uploads) -> None:
        self.vault = vault
        self.index = vault.index
        self.uploads = uploads
        self.corrections = Corrections.open(self.index, vault.keys)
        self.excerpts = Excerpts()

    def close(self) -> None:
        """Stop reading excerpts and close the archive (the service's last act)."""
        self.excerpts.close()
        self.vault.close()

    # --- permissions ------------------------------------------------------------------------------------

    def audit(self, who: Identity, action: str, *, document_id: str | None = None,
              detail: dict[str, Any] | None = None) -> None:
        """Record what ``who`` did (the outcome defaults to ``done``)."""
        self.index.audit(who.name, str(who.role), action, document_id=document_id,
                         detail={"outcome": "done", "via": who.via, **(detail or {})})

    def require(self, who: Identity, action: Action, *, unit: UnitRef | None = None,
                document_id: str | None = None) -> None:
        """Return when ``who`` may take ``action``; else audit the refusal and raise AccessDenied.

        On a document, a borrower's role also needs an approved loan of its archive (:mod:`rules.loans`).
        """
        require(who, action, self.index.audit, unit=unit, document_id=document_id)
        if document_id is not None:
            require_loan(self.index, who, action, document_id)

    @staticmethod
    def may(who: Identity, action: Action, *, unit: UnitRef | None = None) -> bool:
        """Whether ``who`` may take ``action`` (for showing or hiding a button; nothing is audited)."""
        return allowed(who, action, unit=unit)

    @staticmethod
    def may_print(who: Identity, *, unit: UnitRef | None = None) -> bool:
        """Whether a document's page may be printed by ``who``: only by a role that may take a copy (download).

        Police and courts (external_authority) never may; nor may a role without download. Their page
        prints as a blank sheet with a notice (the page's print style).
        """
        return who.role is not Role.EXTERNAL_AUTHORITY and allowed(who, Action.DOWNLOAD_ORIGINAL, unit=unit)

    # --- search and browse ------------------------------------------------------------------------------

    def search(self, who: Identity, query: str, filters: QueryFilters | None = None, *,
               limit: int = SEARCH_LIMIT) -> SearchPage:
        """Documents matching ``query`` and ``filters``, grouped by unit archive (an owner: their unit only).

        Each hit carries an excerpt of its text around the words of the query
        (:mod:`web.excerpts`, ID numbers and phones masked); the audit row
        counts the excerpts shown.
        """
        scope = unit_scope(who)
        self.require(who, Action.SEARCH, unit=scope)
        f = filters or QueryFilters()
        result = self.index.search_archives(query, doc_type=f.doc_types, estate=f.estate, building=f.building,
                                            unit=scope, date_from=f.date_from, date_to=f.date_to, status=f.status,
                                            limit=limit)
        excerpts = self.excerpts.of_hits(self.vault.acting_as(who), query,
                                         [hit.id for group in result.groups for hit in group.documents])
        detail: dict[str, Any] = {"hits": result.count, "excerpts": len(excerpts)}
        if filters is not None:
            detail["filters"] = filters.model_dump(mode="json", exclude_none=True)
        self.audit(who, str(Action.SEARCH), detail=detail)  # never the query: it may be an ID number
        return SearchPage.of(result, excerpts)

    def browse(self, who: Identity, *, estate: str | None = None, building: str | None = None,
               unit: str | None = None) -> BrowseResult:
        """One level of estate → building → unit → archive (an owner sees only their own archive)."""
        scope = unit_scope(who)
        self.require(who, Action.BROWSE, unit=scope)
        if estate:
            estate = estate_name(estate)  # as archives are filed by it
        if scope is not None:
            building, unit = scope.building, scope.unit
            estate = scope.estate or estate
        result = self.index.browse(estate=estate, building=building, unit=unit)
        if scope is not None:
            result = result.model_copy(update={
                "items": (), "archives": tuple(a for a in result.archives if same_unit(
                    UnitRef(building=a.building, unit=a.unit, room=a.room, estate=a.estate), scope))})
        return result

    def review_queue(self, who: Identity, *, limit: int = SEARCH_LIMIT) -> SearchResult:
        """Documents waiting for a person's check (status ``needs_review``), grouped by archive."""
        self.require(who, Action.REVIEW)
        return self.index.search_archives("", status="needs_review", unit=unit_scope(who), limit=limit)

    # --- one document -----------------------------------------------------------------------------------

    def _detail(self, who: Identity, doc_id: str, action: Action) -> DocumentDetail:
        """The document, once ``who`` may take ``action`` on it (NotFound and refusals look alike to owners)."""
        try:
            detail = self.index.get_document(doc_id)
        except NotFound:
            self.require(who, action, unit=unit_scope(who), document_id=doc_id)
            raise
        self.require(who, action, unit=detail.unit, document_id=doc_id)
        return detail

    def document(self, who: Identity, doc_id: str, *, purpose: str, reveal: bool = False) -> DocumentView:
        """Open a document for ``purpose`` (audited with it); ``reveal`` shows full ID numbers and phones."""
        purpose = check_purpose(purpose)
        detail = self._detail(who, doc_id, Action.VIEW_DOCUMENT)
        revealed: dict[str, str] = {}
        if reveal:
            self.require(who, Action.REVEAL_PII, unit=detail.unit, document_id=doc_id)
            revealed = self.index.reveal_fields(doc_id)
        self.audit(who, str(Action.REVEAL_PII if reveal else Action.VIEW_DOCUMENT), document_id=doc_id,
                   detail={"purpose": purpose})
        return self._view(detail, revealed)

    def _view(self, detail: DocumentDetail, revealed: dict[str, str]) -> DocumentView:
        geometry = {p.index: _geometry(p) for p in detail.page_info}
        # The drawn page has the watermark's band below it: outlines are placed as shares of the whole image.
        share = {p.index: p.height / (p.height + p.width * BAND_SHARE) for p in detail.page_info}
        fields = []
        for name, value in detail.fields.items():
            region = detail.regions.get(name) or {}
            page, box = region.get("page"), region.get("box")
            confidence = detail.confidence.get(name)
            issue = detail.issues.get(name)
            if issue is None and confidence is not None and confidence < CONFIDENT:
                issue = f"uncertain reading (confidence {confidence:.2f}); check it"
            fields.append(FieldView(
                name=name, label=field_label(name), value=revealed.get(name, value), confidence=confidence,
                issue=issue, page=page,
                box=_below_band(box_fractions(box, geometry[page]), share[page]) if box and page in geometry else None,
                revealed=name in revealed))
        pages = tuple(PageView(index=p.index, number=i + 1, aspect=p.height / max(1, p.width))
                      for i, p in enumerate(detail.page_info))
        return DocumentView(id=detail.id, doc_type=detail.doc_type, label=doc_label(detail.doc_type),
                            source_name=detail.source_name, unit=detail.unit, estate=getattr(detail, "estate", None),
                            unit_source=detail.unit_source, status=detail.status, created_at=detail.created_at,
                            pages=pages, fields=tuple(fields),
                            corrections=tuple(self.corrections.for_document(detail.id)), revealed=bool(revealed))

    def page_png(self, who: Identity, doc_id: str, index: int, *, purpose: str) -> bytes:
        """Page ``index`` (in the file) of a document, drawn from the original with the watermark (PNG)."""
        purpose = check_purpose(purpose)
        detail = self._detail(who, doc_id, Action.VIEW_PAGE_IMAGE)
        page = _page_of(detail, index)
        geometry = _geometry(page)
        image = draw_page(self._original(detail), detail.kind, page.index, geometry)
        if not self.may(who, Action.REVEAL_PII, unit=detail.unit):
            image = redact(image, self._secret_boxes(detail, page.index), geometry)
        self.audit(who, str(Action.VIEW_PAGE_IMAGE), document_id=doc_id, detail={"page": index, "purpose": purpose})
        return watermarked_png(image, self.watermark(who, purpose))

    def crop_png(self, who: Identity, doc_id: str, field: str, *, purpose: str) -> bytes:
        """The place a field's value was read, cut from its page with the watermark (PNG), for review."""
        purpose = check_purpose(purpose)
        detail = self._detail(who, doc_id, Action.VIEW_PAGE_IMAGE)
        region = detail.regions.get(field)
        if not region or not region.get("box"):
            raise NotFound(f"The document has no recorded place for {field}.")
        page = _page_of(detail, int(region["page"]))
        geometry = _geometry(page)
        image = draw_page(self._original(detail), detail.kind, page.index, geometry, side=CROP_PAGE_SIDE)
        if not self.may(who, Action.REVEAL_PII, unit=detail.unit):
            image = redact(image, self._secret_boxes(detail, page.index), geometry)
        crop = crop_box(image, region["box"], geometry)
        self.audit(who, str(Action.VIEW_PAGE_IMAGE), document_id=doc_id,
                   detail={"page": page.index, "field": field, "purpose": purpose})
        return watermarked_png(crop, self.watermark(who, purpose))

    def original(self, who: Identity, doc_id: str, *, purpose: str) -> Original:
        """The decrypted original file, for roles that may download it (audited with the purpose)."""
        purpose = check_purpose(purpose)
        detail = self._detail(who, doc_id, Action.DOWNLOAD_ORIGINAL)
        data = self._original(detail)
        self.audit(who, str(Action.DOWNLOAD_ORIGINAL), document_id=doc_id,
                   detail={"purpose": purpose, "bytes": len(data)})
        return Original(data=data, name=detail.source_name, media_type=_MEDIA_TYPES.get(detail.kind,
                                                                                       "application/octet-stream"))

    def correct(self, who: Identity, doc_id: str, field: str, value: str | None) -> Correction:
        """Correct (``value``) or accept (None) a field; the index changes at once (audited without values)."""
        detail = self._detail(who, doc_id, Action.CORRECT_FIELD)
        if field not in detail.fields and value is None:
            raise NotFound(f"The document has no value of {field} to accept.")
        record = self.corrections.apply(doc_id, field, value, actor=who.name, role=str(who.role))
        self.audit(who, str(Action.CORRECT_FIELD), document_id=doc_id,
                   detail={"field": field, "kind": record.kind, "correction": record.id})
        return record

    def watermark(self, who: Identity, purpose: str) -> Watermark:
        """The watermark of a page ``who`` views now for ``purpose`` (police and courts: named as such too)."""
        viewer = f"{who.name}（外部机关）" if who.role is Role.EXTERNAL_AUTHORITY else who.name
        return Watermark(viewer=viewer, at=dt.datetime.now(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"), purpose=purpose)

    def _original(self, detail: DocumentDetail) -> bytes:
        return load_sealed(self.vault.store, detail.original_key, self.index.data_key(detail.dek_id))

    def ocr_pages(self, detail: DocumentDetail) -> list[OcrPage]:
        """The stored OCR result of the document's file (decrypted; callers have checked the viewer)."""
        raw = load_sealed(self.vault.store, detail.ocr_key, self.index.data_key(detail.dek_id))
        return [OcrPage.model_validate(p) for p in json.loads(raw)]

    def _secret_boxes(self, detail: DocumentDetail, index: int) -> list[tuple[int, int, int, int]]:
        """Where a page shows an ID number or a phone: the boxes of such fields, and of OCR lines holding one."""
        boxes: list[tuple[int, int, int, int]] = [
            (int(r["box"][0]), int(r["box"][1]), int(r["box"][2]), int(r["box"][3]))
            for name, r in detail.regions.items()
                 if name in SENSITIVE_FIELDS and r.get("page") == index and r.get("box")]
        for page in self.ocr_pages(detail):
            if page.index != index:
                continue
            for line in page.lines:
                if scrub_text(re.sub(r"\s", "", line.text)) == re.sub(r"\s", "", line.text):
                    continue
                words = [w.box for w in line.words if any(c.isdigit() for c in w.text)]
                boxes.extend(words or [line.box])
        return boxes

    # --- audit and export -------------------------------------------------------------------------------

    def audit_log(self, who: Identity, *, document_id: str | None = None, limit: int = 200) -> list[AuditEntry]:
        """The newest audit entries (optionally of one document), for roles that may read the log."""
        self.require(who, Action.VIEW_AUDIT, document_id=document_id)
        entries = self.index.audit_entries(document_id=document_id, limit=limit)
        self.audit(who, str(Action.VIEW_AUDIT), document_id=document_id, detail={"entries": len(entries)})
        return entries

    def export_jsonl(self, who: Identity, *, reveal: bool = False) -> str:
        """Every document as DESIGN.md export lines (the archive's own export: checked and audited there)."""
        out = io.StringIO()
        self.vault.acting_as(who).export_jsonl(out, reveal=reveal)
        return out.getvalue()

    # --- upload -----------------------------------------------------------------------------------------

    def upload(self, who: Identity, *, unit_text: str, estate: str | None, name: str, data: bytes) -> UploadJob:
        """Put one scan into the archive of a unit through the ingest (audited with the job)."""
        unit = unit_from_form(unit_text)
        self.require(who, Action.UPLOAD, unit=unit)
        job = self.uploads.start(user=who.name, unit=unit, estate=estate, name=name, data=data)
        self.audit(who, str(Action.UPLOAD), detail={"job": job.id, "unit": str(unit), "bytes": len(data)})
        return job

    def upload_job(self, who: Identity, job_id: str) -> UploadJob:
        """An upload's progress and outcome (its uploader, or anyone who may ingest)."""
        job = self.uploads.get(job_id)
        if job.user != who.name:
            self.require(who, Action.INGEST)
        return job


def _below_band(box: tuple[float, float, float, float], share: float) -> tuple[float, float, float, float]:
    left, top, width, height = box
    return left, top * share, width, height * share


def _geometry(page: PageInfo) -> PageGeometry:
    return PageGeometry(rotation=page.rotation, skew=page.skew, width=page.width, height=page.height)


def _page_of(detail: DocumentDetail, index: int) -> PageInfo:
    for page in detail.page_info:
        if page.index == index:
            return page
    raise NotFound(f"The document has no page {index + 1} of its file.")

