"""API routes of owner change, retention, holds and destruction (:mod:`rules.retention`, :mod:`rules.destruction`).

The same rules as ``dangan owner-change``, ``retention``, ``hold`` and
``destroy``; permissions checked and refusals audited there.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from rules.destruction import Destruction, DestructionRecord, DestructionRequest
from rules.retention import Hold, OwnerChange, Retention, SetAside
from web.service import unit_from_form
from web.views import identity_of, service_of

router = APIRouter(prefix="/api", tags=["retention and destruction"])


class OwnerChangeIn(BaseModel):
    """The unit whose owner changed, and when."""

    unit: str = Field(max_length=64, description="building-unit-room, e.g. 3-2-1201")
    estate: str | None = Field(default=None, max_length=64)
    date: dt.date | None = Field(default=None, description="the day of the change (default: today, China time)")
    note: str | None = Field(default=None, max_length=200)


class TargetIn(BaseModel):
    """An archive (its id, or a unit: its set-aside archive) and why."""

    archive: str = Field(max_length=64, description="the archive's id, or building-unit-room")
    estate: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=200)


def _retention(request: Request) -> Retention:
    return Retention.open(service_of(request).index, identity_of(request))


def _destruction(request: Request) -> Destruction:
    service = service_of(request)
    return Destruction.open(service.index, service.vault.store, identity_of(request))


@router.post("/owner-change", status_code=201)
def owner_change(request: Request, body: OwnerChangeIn) -> OwnerChange:
    """Set the unit's archive aside (kept 3 years) and open one for the new owner."""
    return _retention(request).owner_change(unit_from_form(body.unit), estate=body.estate, on=body.date,
                                            note=body.note)


@router.get("/retention")
def retention_list(request: Request, due: bool = False) -> list[SetAside]:
    """Set-aside archives, retention end first (``due``: retention passed and no legal hold)."""
    return _retention(request).set_aside(due_only=due)


@router.post("/holds", status_code=201)
def place_hold(request: Request, body: TargetIn) -> Hold:
    """Place a legal hold on an archive."""
    return _retention(request).place_hold(body.archive, reason=body.reason, estate=body.estate)


@router.post("/holds/{hold_id}/release")
def release_hold(request: Request, hold_id: int) -> Hold:
    """Release a legal hold."""
    return _retention(request).release_hold(hold_id)


@router.post("/destructions", status_code=201)
def request_destruction(request: Request, body: TargetIn) -> DestructionRequest:
    """Ask to destroy a set-aside archive."""
    return _destruction(request).request(body.archive, reason=body.reason, estate=body.estate)


@router.post("/destructions/{request_id}/approve")
def approve_destruction(request: Request, request_id: int) -> DestructionRecord:
    """Approve (another archive manager) and carry out a destruction; its record."""
    return _destruction(request).approve(request_id)


@router.get("/destructions")
def destruction_records(request: Request) -> list[DestructionRecord]:
    """The destruction records, newest first."""
    return _destruction(request).records()
