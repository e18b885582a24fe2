"""API routes of the borrowing register (借阅登记): the same register as ``dangan loan`` (:mod:`rules.loans`).

The same permissions, checked and audited there. Times in answers are UTC
(ISO 8601); a due time given to ``approve`` is ``YYYY-MM-DD HH:MM`` in China
time unless it carries its offset.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from rules.loans import Loan, LoanRegister, parse_due
from web.service import unit_from_form
from web.views import identity_of, service_of

router = APIRouter(prefix="/api", tags=["borrowing register"])


class LoanIn(BaseModel):
    """A request to borrow an archive: the unit (and estate) or the archive's id, and why."""

    unit: str | None = Field(default=None, max_length=64, description="building-unit-room, e.g. 3-2-1201")
    estate: str | None = Field(default=None, max_length=64, description="the estate (小区), when needed")
    archive_id: str | None = Field(default=None, max_length=36, description="instead of unit: the archive's id")
    purpose: str = Field(max_length=200, description="why (查阅目的), 2 to 60 characters")
    paper: bool = Field(default=False, description="the paper folder leaves the archive room too")


class ApproveIn(BaseModel):
    """When access ends (default: the end of today, China time)."""

    until: str | None = Field(default=None, max_length=40, description="YYYY-MM-DD HH:MM, China time")


class RefuseIn(BaseModel):
    """Why the loan is refused (the borrower sees it)."""

    reason: str = Field(max_length=200)


def _register(request: Request) -> LoanRegister:
    return LoanRegister(service_of(request).index, identity_of(request))


@router.get("/loans")
def list_loans(request: Request, open_only: Annotated[bool, Query(alias="open")] = False, overdue: bool = False,
               mine: bool = False, limit: int = 200) -> list[Loan]:
    """The register, newest first: all, ``open`` or ``overdue`` loans, or ``mine``.

    ``open``: waiting for a decision, in effect, or paper not back; ``overdue``: paper not back after the due
    time; ``mine``: one's own loans (any borrower; the whole register needs view_loans).
    """
    return _register(request).list_loans(open_only=open_only, overdue_only=overdue, mine=mine,
                                         limit=max(1, min(limit, 1000)))


@router.post("/loans", status_code=201)
def request_loan(request: Request, body: LoanIn) -> Loan:
    """Ask to borrow a unit's archive; an archive manager approves or refuses it."""
    unit = unit_from_form(body.unit) if body.unit else None
    return _register(request).request(body.purpose, unit=unit, estate=body.estate, archive_id=body.archive_id,
                                      paper=body.paper)


@router.post("/loans/{loan_id}/approve")
def approve_loan(request: Request, loan_id: int, body: ApproveIn | None = None) -> Loan:
    """Approve a requested loan, until ``until`` or the end of today (China time)."""
    until = parse_due(body.until) if body and body.until else None
    return _register(request).approve(loan_id, until=until)


@router.post("/loans/{loan_id}/refuse")
def refuse_loan(request: Request, loan_id: int, body: RefuseIn) -> Loan:
    """Refuse a requested loan, with the reason."""
    return _register(request).refuse(loan_id, reason=body.reason)


@router.post("/loans/{loan_id}/return")
def return_loan(request: Request, loan_id: int) -> Loan:
    """End a loan now: one's own without paper, or (roles that decide loans) any, once a paper folder is back."""
    return _register(request).return_loan(loan_id)
