"""The retention list (保管期限到期清单): the flow the ``retention-due`` deployment in ``infra/prefect.yaml`` runs.

Former owners' archives set aside at an owner change are kept for three
years (:mod:`rules.retention`). Every month this flow lists what is due for
destruction (retention passed, no legal hold), what is held and what comes up
within 90 days, and writes the HTML and CSV list to ``DANGAN_HOME/reports`` (or
the ``folder`` parameter). It destroys nothing: destruction needs an archive
manager's request and another's approval (``dangan destroy``). Settings come
from the worker's ``DANGAN_*`` environment; the run acts as the local operator
of the worker's ``DANGAN_HOME`` and reading the list is audited.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from prefect import flow, get_run_logger

from schemas.settings import load_settings


@flow(name="retention-due", persist_result=False, log_prints=False)
def retention_due(folder: str | None = None) -> dict[str, object]:
    """Write the retention list; returns the counts and the report's paths."""
    from flows.identity import local_operator_of
    from rules.retention import Retention
    from rules.retention_report import due_lines, summary_line, write_reports
    from storage.tables import utcnow
    from storage.vault import Vault

    logger = get_run_logger()
    settings = load_settings()
    now = utcnow()
    with closing(Vault.open(settings, identity=local_operator_of(settings))) as vault:
        rows = Retention.open(vault.index, vault.identity).set_aside(now=now)
    html_path, csv_path = write_reports(rows, Path(folder) if folder else settings.home / "reports", now)
    due, held, coming = due_lines(rows, now)
    logger.info("%s", summary_line(rows, now))
    for r in due:
        logger.info("due: %s%s, kept until %s (archive %s)", f"{r.estate} " if r.estate else "", r.unit,
                    r.retention_until.date() if r.retention_until else "?", r.archive_id)
    logger.info("report: %s and %s", html_path, csv_path)
    return {"due": len(due), "held": len(held), "soon": len(coming), "html": str(html_path), "csv": str(csv_path)}
