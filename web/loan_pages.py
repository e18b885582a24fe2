"""The 借阅 pages: request a loan of an archive, decide requests, record returns (:mod:`rules.loans`).

One page, ``/loans``: the request form and one's own loans for those who
borrow; the register with approve, refuse and return buttons for those who
keep it. Its forms post here and come back to it with a notice. A document
refused for lack of a loan offers the same request form (``web.views``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from rules.loans import Loan, LoanRegister, local_time, parse_due
from schemas.errors import InvalidRequest, NotFound
from web.access import Action
from web.labels import ROLE_LABELS
from web.service import unit_from_form
from web.views import _local as local_path
from web.views import identity_of, page, service_of

router = APIRouter(include_in_schema=False)

#: Which part of the register the page shows.
_SHOWS = {"open": "待处理", "overdue": "逾期未还", "all": "全部"}
#: What the notice says after a form was sent.
_DONE = {"requested": "已提交借阅申请，等待档案管理员审批。", "approved": "已批准。", "refused": "已拒绝。",
         "returned": "已登记归还，借阅结束。"}


def _register(request: Request) -> LoanRegister:
    return LoanRegister(service_of(request).index, identity_of(request))


@router.get("/loans")
def loans_page(request: Request, show: str = "open", unit: str = "", estate: str = "", purpose: str = "",
               done: str = "", loan: int | None = None, next: str = "") -> Response:
    """借阅: the request form and one's own loans; the register for those who keep it."""
    return _loans_page(request, show=show, form={"unit": unit, "estate": estate, "purpose": purpose, "paper": False},
                       notice=_DONE.get(done, ""), loan=loan, next=local_path(next) if next else "")


def _loans_page(request: Request, *, show: str = "open", form: dict[str, object], notice: str = "",
                loan: int | None = None, next: str = "", error: str | None = None, status_code: int = 200) -> Response:
    service, me = service_of(request), identity_of(request)
    register = _register(request)
    show = show if show in _SHOWS else "open"
    mine: list[Loan] = register.list_loans(mine=True, limit=50) if service.may(me, Action.REQUEST_LOAN) else []
    listed: list[Loan] | None = None
    if service.may(me, Action.VIEW_LOANS):
        listed = register.list_loans(open_only=show == "open", overdue_only=show == "overdue")
    if not service.may(me, Action.REQUEST_LOAN) and listed is None:
        service.require(me, Action.VIEW_LOANS)  # neither: refused (audited) with the words of the register
    return page(request, "loans.html", status_code=status_code, mine=mine, listed=listed, show=show, shows=_SHOWS,
                form=form, notice=notice, loan=loan, next=next, error=error,
                may_decide=service.may(me, Action.DECIDE_LOAN), local_time=local_time, role_labels=ROLE_LABELS)


@router.post("/loans")
def request_loan(request: Request, purpose: Annotated[str, Form()], unit: Annotated[str, Form()] = "",
                 estate: Annotated[str, Form()] = "", archive_id: Annotated[str, Form()] = "",
                 paper: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:
    """Send a request; the page comes back with its number, or with what was wrong."""
    try:
        target = unit_from_form(unit) if unit.strip() else None
        made = _register(request).request(purpose, unit=target, estate=estate.strip() or None,
                                          archive_id=archive_id or None, paper=bool(paper))
    except (InvalidRequest, NotFound) as e:
        return _loans_page(request, form={"unit": unit, "estate": estate, "purpose": purpose, "paper": bool(paper)},
                           next=local_path(next) if next else "", error=e.message, status_code=400)
    return _back(made, "requested", next=next)


@router.post("/loans/{loan_id}/approve")
def approve_loan(request: Request, loan_id: int, until: Annotated[str, Form()] = "") -> Response:
    """Approve a request (until the time given, else the end of today)."""
    return _decided(request, lambda r: r.approve(loan_id, until=parse_due(until) if until.strip() else None),
                    "approved")


@router.post("/loans/{loan_id}/refuse")
def refuse_loan(request: Request, loan_id: int, reason: Annotated[str, Form()] = "") -> Response:
    """Refuse a request with the reason."""
    return _decided(request, lambda r: r.refuse(loan_id, reason=reason), "refused")


@router.post("/loans/{loan_id}/return")
def return_loan(request: Request, loan_id: int) -> Response:
    """Record a return (one's own loan, or any for those who keep the register)."""
    return _decided(request, lambda r: r.return_loan(loan_id), "returned")


def _decided(request: Request, act: Callable[[LoanRegister], Loan], done: str) -> Response:
    try:
        loan = act(_register(request))
    except (InvalidRequest, NotFound) as e:
        return _loans_page(request, form={"unit": "", "estate": "", "purpose": "", "paper": False}, error=e.message,
                           status_code=400)
    return _back(loan, done)


def _back(loan: Loan, done: str, *, next: str = "") -> Response:
    query = {"done": done, "loan": str(loan.id)} | ({"next": local_path(next)} if next else {})
    return RedirectResponse(f"/loans?{urlencode(query)}", status_code=303)
