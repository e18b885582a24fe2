"""API routes of the archive rules: the reconciliation (每月校对). Same permissions and audit as the command line."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from rules.reconcile import ReconcileReport, run_reconcile
from web.views import identity_of, service_of

router = APIRouter(prefix="/api", tags=["rules"])


class ReconcileOut(BaseModel):
    """What a reconciliation found, and where its reports were written (on the service's machine)."""

    report: ReconcileReport
    html: str
    csv: str


@router.post("/reconcile")
def reconcile(request: Request, objects: bool = False) -> ReconcileOut:
    """Check every archive against the checklist (and, with ``objects``, every stored object); write the reports.

    Checking the objects reads and decrypts every stored file: on a large archive that takes long, so the
    monthly deployment does it and this call does not unless asked.
    """
    service = service_of(request)
    vault = service.vault.acting_as(identity_of(request))
    report, (html, csv) = run_reconcile(vault, vault.settings.home / "reports", objects=objects)
    return ReconcileOut(report=report, html=str(html), csv=str(csv))
