"""The pages (页面): sign-in, 检索, 浏览, 文件, 复核, 上传. Server-rendered; every action goes through the service."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from rules.loans import LOAN_ROLES, LoanRequired, loan_refusal
from schemas.documents import DOC_TYPES
from schemas.errors import InvalidRequest, SignInFailed
from storage.search import QueryFilters, SearchResult
from web.access import Action, Identity
from web.excerpts import SearchPage
from web.labels import PURPOSES, ROLE_LABELS, STATUS_LABELS, doc_label, field_label
from web.service import ArchiveService, check_purpose
from web.session import (
    check_login_csrf,
    csrf_token,
    end_session,
    login_csrf,
    set_login_csrf,
    start_session,
)
from web.uploads import MAX_UPLOAD_BYTES

router = APIRouter(include_in_schema=False)


def service_of(request: Request) -> ArchiveService:
    """The app's archive service."""
    service: ArchiveService = request.app.state.service
    return service


def identity_of(request: Request) -> Identity:
    """Who the request acts as (set by the app's gatekeeper before any page or API call runs)."""
    identity: Identity = request.state.identity
    return identity


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with what every page needs: who is signed in, the CSRF token, the menu."""
    me: Identity | None = getattr(request.state, "identity", None)
    service = service_of(request)
    may = {a.value: bool(me and service.may(me, a)) for a in Action}
    base = {"me": me, "role_label": ROLE_LABELS.get(str(me.role), str(me.role)) if me else "",
            "csrf": csrf_token(request), "may": may, "borrows": bool(me and me.role in LOAN_ROLES),
            "doc_label": doc_label, "field_label": field_label,
            "status_labels": STATUS_LABELS, "doc_types": [t for t in DOC_TYPES if t != "other"] + ["other"]}
    templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(request, template, {**base, **context},
                                                        status_code=status_code)
    return response


# --- sign-in --------------------------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str = "/search") -> Response:
    """The sign-in form (登录)."""
    token = login_csrf(request)
    response = page(request, "login.html", next=_local(next), login_token=token, error=None)
    set_login_csrf(response, request, token)
    return response


@router.post("/login")
def login(request: Request, name: Annotated[str, Form()], password: Annotated[str, Form()],
          login_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/search") -> Response:
    """Check the password (throttled by name and address), open a session, go on to ``next``."""
    users = request.app.state.users
    try:
        check_login_csrf(request, login_token)
        identity = users.verify(name.strip(), password, address=request.client.host if request.client else None)
    except SignInFailed as e:
        token = login_csrf(request)
        status = 429 if e.code == "sign_in_throttled" else 401
        response = page(request, "login.html", status_code=status, next=_local(next), login_token=token,
                        error=e.message, name=name)
        set_login_csrf(response, request, token)
        return response
    session_id, csrf = users.create_session(identity)
    service_of(request).audit(identity, "sign_in", detail={"address": request.client.host if request.client else None})
    redirect = RedirectResponse(_local(next), status_code=303)
    start_session(redirect, request, session_id, csrf)
    return redirect


@router.post("/logout")
def logout(request: Request) -> Response:
    """Sign out: the session ends at once."""
    from web.session import SESSION_COOKIE

    request.app.state.users.end_session(request.cookies.get(SESSION_COOKIE, ""))
    service_of(request).audit(identity_of(request), "sign_out")
    response = RedirectResponse("/login", status_code=303)
    end_session(response)
    return response


def _local(target: str) -> str:
    """Only a path of this site may follow sign-in (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/search"


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Health check for the service manager and the proxy (answers without a session; says nothing else)."""
    return {"status": "ok"}


# --- search and browse ----------------------------------------------------------------------------------


@router.get("/")
def home() -> Response:
    """The search page is the home page."""
    return RedirectResponse("/search", status_code=303)


@router.get("/search")
def search_page(request: Request, q: str = "", doc_type: str = "", estate: str = "", building: str = "",
                date_from: str = "", date_to: str = "", status: str = "") -> Response:
    """检索: one box and filters; results grouped by unit archive."""
    filters = search_filters(doc_type=doc_type, estate=estate, building=building, date_from=date_from,
                             date_to=date_to, status=status)
    asked = bool(q.strip()) or filters != QueryFilters()
    result: SearchPage | None = None
    if asked:
        result = service_of(request).search(identity_of(request), q, filters)
    form = {"q": q, "doc_type": doc_type, "estate": estate, "building": building, "date_from": date_from,
            "date_to": date_to, "status": status}
    return page(request, "search.html", form=form, result=result,
                highlights=_highlights(result) if result else {}, understood=_understood(result))


#: How the page names the ways a part of the query was read.
_KIND_LABELS = {"name": "姓名", "id_number": "身份证号", "id_tail": "身份证号尾号", "phone": "电话", "unit": "房号",
                "contract": "合同编号", "estate": "小区", "text": "正文文字"}


def _understood(result: SearchResult | None) -> list[tuple[str, str]]:
    """Each part of the query as read: what was typed (masked) and the ways it may match, in Chinese."""
    parts = []
    for readings in result.understood if result else ():
        if not readings:
            continue
        kinds = dict.fromkeys(_KIND_LABELS.get(kind, kind) for kind, _ in readings)
        parts.append((readings[0][1], "或".join(kinds)))
    return parts


def search_filters(*, doc_type: str = "", estate: str = "", building: str = "", date_from: str = "",
                   date_to: str = "", status: str = "") -> QueryFilters:
    """The page's filter controls as the index takes them (empty controls filter nothing)."""
    if doc_type and doc_type not in DOC_TYPES:
        raise InvalidRequest(f"Unknown document type {doc_type!r}.")
    if status and status not in STATUS_LABELS:
        raise InvalidRequest(f"Unknown status {status!r}.")
    return QueryFilters(doc_types=(doc_type,) if doc_type else None, estate=estate.strip() or None,
                        building=building.strip() or None, date_from=_date(date_from), date_to=_date(date_to),
                        status=status or None)


def _date(text: str) -> dt.date | None:
    if not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequest(f"{text!r} is not a date (YYYY-MM-DD).") from None


def _highlights(result: SearchResult) -> dict[str, dict[str, str]]:
    """Per document, the fields whose values matched (to mark them) and the words to mark in a snippet."""
    marks: dict[str, dict[str, str]] = {}
    for group in result.groups:
        for hit in group.documents:
            marks[hit.id] = {name: term.text for term in hit.matched for name in term.fields}
    return marks


@router.get("/browse")
def browse_page(request: Request, estate: str | None = None, building: str | None = None,
                unit: str | None = None) -> Response:
    """浏览: estate → building → unit → archive."""
    result = service_of(request).browse(identity_of(request), estate=estate, building=building, unit=unit)
    return page(request, "browse.html", result=result, quote=quote)


# --- one document ---------------------------------------------------------------------------------------


@router.get("/documents/{doc_id}")
def document_page(request: Request, doc_id: str, purpose: str = "", purpose_other: str = "",
                  reveal: bool = False) -> Response:
    """文件: asks the purpose first; then the pages, drawn from the original, and the fields beside them."""
    purpose = purpose_other.strip() if purpose == "其他" else purpose
    if not purpose:
        return page(request, "purpose.html", doc_id=doc_id, purposes=PURPOSES, action=f"/documents/{doc_id}",
                    error=None)
    try:
        purpose = check_purpose(purpose)
    except InvalidRequest as e:
        return page(request, "purpose.html", status_code=400, doc_id=doc_id, purposes=PURPOSES,
                    action=f"/documents/{doc_id}", error=e.message)
    service, me = service_of(request), identity_of(request)
    try:
        doc = service.document(me, doc_id, purpose=purpose, reveal=reveal)
    except LoanRequired as e:  # refused (audited): offer the request of a loan of its archive, for this purpose
        return page(request, "loan_needed.html", status_code=403, message=e.message, archive_id=e.archive_id,
                    place=e.place, purpose=purpose, next=f"/documents/{doc_id}?{urlencode({'purpose': purpose})}")
    return page(request, "document.html", doc=doc, purpose=purpose, q=urlencode({"purpose": purpose}),
                may_print=service.may_print(me, unit=doc.unit),
                may_download=service.may(me, Action.DOWNLOAD_ORIGINAL, unit=doc.unit),
                may_reveal=service.may(me, Action.REVEAL_PII, unit=doc.unit),
                may_correct=service.may(me, Action.CORRECT_FIELD, unit=doc.unit))


@router.get("/documents/{doc_id}/original")
def original(request: Request, doc_id: str, purpose: str = "") -> Response:
    """下载原件: only for roles that may (audited with the purpose)."""
    found = service_of(request).original(identity_of(request), doc_id, purpose=purpose)
    return Response(found.data, media_type=found.media_type,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.name)}"})


# --- review ---------------------------------------------------------------------------------------------


@router.get("/review")
def review_queue(request: Request, saved: str = "") -> Response:
    """复核: the documents waiting for a person's check (``saved``: the field whose correction finished one)."""
    result = service_of(request).review_queue(identity_of(request))
    return page(request, "review.html", result=result, saved=saved)


@router.get("/review/{doc_id}")
def review_page(request: Request, doc_id: str, purpose: str = "复核更正", saved: str = "") -> Response:
    """One document's flagged values: where each was read, and a box to accept or type the right value."""
    service, me = service_of(request), identity_of(request)
    service.require(me, Action.REVIEW)
    doc = service.document(me, doc_id, purpose=purpose)
    return page(request, "review_doc.html", doc=doc, purpose=purpose, q=urlencode({"purpose": purpose}),
                saved=saved, may_correct=service.may(me, Action.CORRECT_FIELD, unit=doc.unit),
                may_reveal=service.may(me, Action.REVEAL_PII, unit=doc.unit), error=None)


@router.post("/review/{doc_id}")
def review_save(request: Request, doc_id: str, field: Annotated[str, Form()], decision: Annotated[str, Form()],
                value: Annotated[str, Form()] = "", purpose: Annotated[str, Form()] = "复核更正") -> Response:
    """Accept the value read (``decision=accept``) or save the value typed (``decision=correct``)."""
    service, me = service_of(request), identity_of(request)
    if decision not in ("accept", "correct"):
        raise InvalidRequest("Choose to accept the value or to save the one typed.")
    try:
        service.correct(me, doc_id, field, None if decision == "accept" else value)
    except InvalidRequest as e:
        doc = service.document(me, doc_id, purpose=purpose)
        return page(request, "review_doc.html", status_code=400, doc=doc, purpose=purpose,
                    q=urlencode({"purpose": purpose}), saved="", error=e.message,
                    may_correct=True, may_reveal=service.may(me, Action.REVEAL_PII, unit=doc.unit))
    target = f"/review/{doc_id}?{urlencode({'purpose': purpose, 'saved': field})}"
    if loan_refusal(service.index, me, Action.VIEW_DOCUMENT, doc_id) is not None:
        target = f"/review?{urlencode({'saved': field})}"  # reviewed: opening it again needs a loan (rules/loans.py)
    return RedirectResponse(target, status_code=303)


# --- upload ---------------------------------------------------------------------------------------------


@router.get("/upload")
def upload_form(request: Request, unit: str = "", estate: str = "") -> Response:
    """上传: a scan or phone photo into a unit's archive."""
    service_of(request).require(identity_of(request), Action.UPLOAD)
    return page(request, "upload.html", unit=unit, estate=estate, error=None, max_mb=MAX_UPLOAD_BYTES // 2**20)


@router.post("/upload")
async def upload(request: Request, file: UploadFile, unit: Annotated[str, Form()],
                 estate: Annotated[str, Form()] = "") -> Response:
    """Store the upload in the job's private folder and start its ingest; the job page shows the outcome."""
    service, me = service_of(request), identity_of(request)
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    try:
        job = service.upload(me, unit_text=unit, estate=estate.strip() or None, name=file.filename or "scan",
                             data=data)
    except InvalidRequest as e:
        return page(request, "upload.html", status_code=400, unit=unit, estate=estate, error=e.message,
                    max_mb=MAX_UPLOAD_BYTES // 2**20)
    return RedirectResponse(f"/upload/{job.id}", status_code=303)


@router.get("/upload/{job_id}")
def upload_status(request: Request, job_id: str) -> Response:
    """What became of an upload (the page refreshes itself while the ingest runs)."""
    job = service_of(request).upload_job(identity_of(request), job_id)
    return page(request, "upload_job.html", job=job)

