"""Unit archives and the people they name through the API and the archive page (:mod:`rules.people`).

The same register as ``dangan archive show`` and ``dangan person``, with the
same permissions, loans and audit (checked there). ``reveal=true`` shows full
names, ID numbers and phones to roles that may, audited.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rules.loans import LoanRequired, local_time
from rules.people import ArchiveRecord, PeopleRegister, PersonRecord
from web.access import Action
from web.service import unit_from_form
from web.views import identity_of, page, service_of

router = APIRouter(prefix="/api", tags=["archives and people"])
pages = APIRouter(include_in_schema=False)


def _register(request: Request) -> PeopleRegister:
    return PeopleRegister(service_of(request).index, identity_of(request))


@router.get("/archives/{archive_id}")
def archive_by_id(request: Request, archive_id: str, reveal: bool = False) -> ArchiveRecord:
    """One unit archive: place, status, current owners, people with roles, documents (masked unless ``reveal``)."""
    return _register(request).archive(archive_id=archive_id, reveal=reveal)


@router.get("/archives")
def archive_by_unit(request: Request, unit: str, estate: str | None = None, reveal: bool = False) -> ArchiveRecord:
    """The active archive of ``unit`` (any common form: 3-2-1201, 3栋2单元1201), of ``estate`` when named."""
    return _register(request).archive(unit=unit_from_form(unit), estate=estate, reveal=reveal)


@router.get("/people")
def people(request: Request, id_number: str | None = None, name: str | None = None,
           reveal: bool = False) -> list[PersonRecord]:
    """The archives and documents a person appears in: by ``id_number`` (exactly) or by ``name`` (audited)."""
    return _register(request).find(id_number=id_number, name=name, reveal=reveal)


@pages.get("/archives/{archive_id}")
def archive_page(request: Request, archive_id: str, reveal: bool = False) -> Response:
    """档案: the archive's place and status, its current owners, the people it names, its documents."""
    me = identity_of(request)
    try:
        record = _register(request).archive(archive_id=archive_id, reveal=reveal)
    except LoanRequired as e:  # refused (audited): offer the request of a loan of the archive
        return page(request, "loan_needed.html", status_code=403, message=e.message, archive_id=e.archive_id,
                    place=e.place, purpose="查阅档案", next=f"/archives/{archive_id}")
    unit = unit_from_form(f"{record.building}-{record.unit}-{record.room}")
    return page(request, "archive.html", a=record, local_time=local_time,
                may_reveal=service_of(request).may(me, Action.REVEAL_PII, unit=unit),
                reveal_q=urlencode({"reveal": "true"}))
