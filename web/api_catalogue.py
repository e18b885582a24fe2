"""API routes printing archives' catalogues (档案目录) and folder labels as A4 PDFs (:mod:`rules.catalogue`).

The same selection, permission (``print_catalogue``) and audit as ``dangan
catalogue`` and ``dangan labels``. The browse page links here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rules.catalogue import Kind, Selection, print_catalogues
from web.service import unit_from_form
from web.views import identity_of, service_of

router = APIRouter(prefix="/api", tags=["catalogue"])
PDF: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}},
                                              "description": "An A4 PDF in cabinet order"}}


def _pdf(request: Request, selection: Selection, kind: Kind, name: str) -> Response:
    vault = service_of(request).vault.acting_as(identity_of(request))
    printout = print_catalogues(vault, selection, kind)
    headers = {"Content-Disposition": f"inline; filename=\"{kind}.pdf\"; filename*=UTF-8''{quote(name)}",
               "X-Archives": str(len(printout.archives)), "X-Pages": str(printout.pages)}
    return Response(printout.pdf, media_type="application/pdf", headers=headers)


def _selection(estate: str | None, building: str | None, unit: str | None, room: str | None, unit_ref: str | None,
               include_set_aside: bool) -> Selection:
    if unit_ref:
        return Selection.of_unit(unit_from_form(unit_ref), estate=estate, include_set_aside=include_set_aside)
    return Selection(estate=estate, building=building or None, unit=unit or None, room=room or None,
                     include_set_aside=include_set_aside)


@router.get("/catalogue.pdf", response_class=Response, responses=PDF)
def catalogue(request: Request, estate: str | None = None, building: str | None = None, unit: str | None = None,
              room: str | None = None, unit_ref: str | None = None, include_set_aside: bool = False) -> Response:
    """The catalogue (档案目录) of the selected archives: all active ones, or an estate's, building's, unit's.

    ``unit`` is the unit (单元) number as in browse; ``unit_ref`` one whole unit (``3-2-1201``); an empty
    ``estate`` selects the archives filed under no estate (browse's 未填小区).
    """
    selection = _selection(estate, building, unit, room, unit_ref, include_set_aside)
    return _pdf(request, selection, "catalogue", "档案目录.pdf")


@router.get("/archives/{archive_id}/catalogue.pdf", response_class=Response, responses=PDF)
def archive_catalogue(request: Request, archive_id: str) -> Response:
    """The catalogue of one archive (active or set aside)."""
    return _pdf(request, Selection(archive_id=archive_id, include_set_aside=True), "catalogue", "档案目录.pdf")


@router.get("/labels.pdf", response_class=Response, responses=PDF)
def labels(request: Request, estate: str | None = None, building: str | None = None, unit: str | None = None,
           room: str | None = None, unit_ref: str | None = None, include_set_aside: bool = False) -> Response:
    """Folder labels (档案盒标签, 90 × 50 mm, ten a sheet) of the selected archives, same selection as the catalogue."""
    selection = _selection(estate, building, unit, room, unit_ref, include_set_aside)
    return _pdf(request, selection, "labels", "档案盒标签.pdf")


@router.get("/archives/{archive_id}/labels.pdf", response_class=Response, responses=PDF)
def archive_labels(request: Request, archive_id: str) -> Response:
    """The folder label of one archive (active or set aside)."""
    return _pdf(request, Selection(archive_id=archive_id, include_set_aside=True), "labels", "档案盒标签.pdf")
