"""The monthly reconciliation (每月校对): the flow the ``monthly-reconcile`` deployment in ``infra/prefect.yaml`` runs.

It checks every unit archive against the company's checklist and every
stored object against its recorded SHA-256 (:mod:`rules.reconcile`), and
writes the HTML and CSV report to ``DANGAN_HOME/reports`` (or the
``folder`` parameter). Settings come from the worker's ``DANGAN_*``
environment; the run acts as the local operator of the worker's
``DANGAN_HOME``, like the nightly ingest. A missing or altered object makes
the run Failed, so it shows in Prefect's UI and notifications; archives that
lack documents do not (they are the report's business).
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from prefect import flow, get_run_logger

from schemas.settings import load_settings


class IntegrityProblems(RuntimeError):
    """Stored objects are missing or altered: the report names them."""


@flow(name="monthly-reconcile", persist_result=False, log_prints=False)
def monthly_reconcile(folder: str | None = None, objects: bool = True) -> dict[str, object]:
    """Reconcile the archive and write the report; Failed when a stored object is missing or altered."""
    from flows.identity import local_operator_of
    from rules.reconcile import run_reconcile, summary_lines
    from storage.vault import Vault

    logger = get_run_logger()
    settings = load_settings()
    identity = local_operator_of(settings)
    with closing(Vault.open(settings, identity=identity)) as vault:
        report, (html_path, csv_path) = run_reconcile(vault, Path(folder) if folder else settings.home / "reports",
                                                      objects=objects)
    for line in summary_lines(report, html_path, csv_path):
        logger.info("%s", line)
    if report.problems:
        raise IntegrityProblems(f"{len(report.problems)} stored object(s) are missing or altered; see {html_path}")
    return {"archives": report.archives, "incomplete": len(report.incomplete), "objects": report.objects,
            "problems": 0, "html": str(html_path), "csv": str(csv_path)}
