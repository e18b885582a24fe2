"""API routes of owners' requests under PIPL (个人信息权利请求) and of the owner's copy of their data.

The same register and export as ``dangan request`` and ``dangan subject-export``
(:mod:`rules.requests`, :mod:`rules.subject_export`): the same permissions,
checked and audited there.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from rules.requests import RequestRegister, SubjectRequest
from rules.subject_export import MIN_PASSWORD_CHARS, write_subject_export
from rules.workdays import load_calendar
from web.service import unit_from_form
from web.views import identity_of, service_of

router = APIRouter(prefix="/api", tags=["owner requests"])


class RequestIn(BaseModel):
    """A request to register: the unit, what is asked, who asks, the day it reached the company."""

    unit: str = Field(description="building-unit-room, e.g. 3-2-1201 or 3栋2单元1201", max_length=64)
    kind: Literal["see", "copy", "correct", "delete"]
    requester: str = Field(max_length=128, description="the owner's name as they gave it")
    received: dt.date | None = Field(default=None, description="default: today (Asia/Shanghai)")
    estate: str | None = Field(default=None, max_length=64, description="the estate (小区), when needed")
    notes: str | None = Field(default=None, max_length=1000)


class CloseIn(BaseModel):
    """How a request ends: answered (with an optional note) or refused (with the reason)."""

    outcome: Literal["answered", "refused"]
    note: str | None = Field(default=None, max_length=1000, description="the answer, or the reason for refusing")
    #: Corrections answering a ``correct`` request (default: those made on its unit since it was received).
    corrections: list[int] = []


class SubjectExportIn(BaseModel):
    """The ZIP's password (chosen by the caller, told to the owner apart from the file) and what it answers."""

    password: str = Field(min_length=MIN_PASSWORD_CHARS, max_length=200)
    estate: str | None = Field(default=None, max_length=64)
    request: int | None = Field(default=None, description="the register's number of the request it answers")


def _register(request: Request) -> RequestRegister:
    service = service_of(request)
    return RequestRegister(service.index, identity_of(request), load_calendar(service.vault.settings.home))


@router.get("/requests")
def list_requests(request: Request, open_only: Annotated[bool, Query(alias="open")] = False, overdue: bool = False,
                  limit: int = 200) -> list[SubjectRequest]:
    """The register: newest first; ``open`` or ``overdue`` (open after the due day) ones by due day."""
    return _register(request).list_requests(open_only=open_only, overdue_only=overdue,
                                            limit=max(1, min(limit, 1000)))


@router.post("/requests", status_code=201)
def add_request(request: Request, body: RequestIn) -> SubjectRequest:
    """Register an owner's request; its due day is 5 working days after the day received."""
    return _register(request).add(unit_from_form(body.unit), kind=body.kind, requester=body.requester,
                                  received=body.received, estate=body.estate, notes=body.notes)


@router.post("/requests/{request_id}/close")
def close_request(request: Request, request_id: int, body: CloseIn) -> SubjectRequest:
    """Answer or refuse a request (a refusal needs its reason in ``note``)."""
    register = _register(request)
    if body.outcome == "refused":
        return register.close(request_id, refuse=body.note or "", corrections=body.corrections)
    return register.close(request_id, answer=body.note, corrections=body.corrections)


@router.post("/subject-export/{unit}", response_class=Response,
             responses={200: {"content": {"application/zip": {}},
                              "description": "The owner's copy: an AES-256 encrypted ZIP"}})
def subject_export(request: Request, unit: str, body: SubjectExportIn) -> Response:
    """The owner's copy of the unit's archive: originals, fields in full, corrections, audit events (audited)."""
    service = service_of(request)
    vault = service.vault.acting_as(identity_of(request))
    target = unit_from_form(unit)
    out = io.BytesIO()
    write_subject_export(vault, target, out, password=body.password, estate=body.estate, request_id=body.request)
    name = f"个人信息副本-{target}.zip"
    return Response(out.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})
