"""The nightly drop-folder ingest: the flow that the deployment in ``infra/prefect.yaml`` runs on a schedule.

It ingests the configured drop folders (``DANGAN_DROP_FOLDERS`` in the
worker's environment, or the ``folders`` parameter) through the same code
path as ``dangan ingest`` (:func:`flows.runner.run_ingest`): the archive
lock, the key check, and the ``ingest`` flow, here as a subflow. It runs
against the Prefect server the worker uses (``PREFECT_API_URL``) and never
starts a server of its own. Settings, secrets included, come from the worker's
``DANGAN_*`` environment, never from parameters, so none is written to
Prefect's database. A run acts as the local operator of the worker's
``DANGAN_HOME`` (the OS account that owns it and its master key).

How a run ends:

* every file stored, already archived or quarantined with a reason: Completed;
* a failure that time may mend (another ingest holds the archive, the object
  store or index was down, a scanner was still writing, a drop folder is
  missing, e.g. an unmounted share): Failed, and Prefect runs it again
  (:data:`RETRIES` times, :data:`RETRY_DELAY_SECONDS` apart; each run only
  finds the files the last one left);
* a failure no retry mends (a setting, the master key, wrong S3 keys, a full
  disk, a bug): Failed at once, without retries.

Either way, when ``DANGAN_AUDIT_ANCHOR`` is set, the audit log's head is
anchored there (:func:`anchor_audit_log`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from prefect import State, flow, get_run_logger
from prefect.states import Failed

from flows.context import RunControl
from flows.summary import IngestSummary
from schemas.errors import DanganError, ExitCode, IngestBusy
from schemas.settings import Settings, load_settings

#: Times Prefect runs a failed nightly ingest again (only failures that time may mend).
RETRIES = 2
#: Seconds between those runs.
RETRY_DELAY_SECONDS = 900
#: Loggers whose levels the command-line machinery raises; the nightly run keeps its own log at INFO.
_RUN_LOGGERS = ("prefect", "prefect.flow_runs", "prefect.task_runs")


class NightlyFailed(RuntimeError):
    """The nightly ingest did not finish its work; ``retryable`` says whether running it again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@flow(name="nightly-ingest", retries=RETRIES, retry_delay_seconds=RETRY_DELAY_SECONDS, persist_result=False,
      log_prints=False)
def nightly(folders: list[str] | None = None, keep: bool = False) -> dict[str, int] | State[Any]:
    """Ingest the drop folders (default: ``DANGAN_DROP_FOLDERS``); returns the batch's counts.

    ``keep`` leaves the sources in place (refused ones are copied to
    quarantine/), as ``dangan ingest --keep`` does. A run that did not finish
    its work ends Failed with the reason as its message (no traceback: the
    reason says what to do).
    """
    logger = get_run_logger()
    try:
        summary = run_nightly(folders, keep=keep, log=logger.info)
    except NightlyFailed as e:
        logger.error(e.message)
        if not e.retryable:
            _no_more_retries()
        return Failed(message=e.message)
    return summary.counts()


def run_nightly(folders: list[str] | None, *, keep: bool, log: Callable[[str], None]) -> IngestSummary:
    """Ingest ``folders`` (or the configured drop folders) once; NightlyFailed unless every file was settled."""
    try:
        settings = acting_as_local_operator(load_settings())
    except DanganError as e:
        raise NightlyFailed(e.message, retryable=False) from None
    _require_server()
    chosen = _drop_folders(folders, settings)
    present = [p for p in chosen if p.is_dir()]
    missing = [p for p in chosen if not p.is_dir()]
    control = RunControl()
    log(f"ingesting {', '.join(str(p) for p in present) or 'no folder'} into the archive in {settings.home}")
    try:
        with _own_log_levels():
            summary = _run(present, settings=settings, keep=keep, control=control)
    except IngestBusy as e:
        raise NightlyFailed(f"{e.message} (Prefect runs it again while retries are left.)", retryable=True) from None
    except DanganError as e:
        raise NightlyFailed(e.message, retryable=e.retryable) from None
    except Exception as e:  # noqa: BLE001 - a bug: another attempt would meet it again
        from flows.errorlog import error_log_path, record_error

        error_id = record_error(e, settings.home, context="nightly ingest")
        raise NightlyFailed(f"internal error {error_id} ({type(e).__name__}); the details are in "
                            f"{error_log_path(settings.home)}. Please report the error id.", retryable=False) from None
    finally:
        anchor_audit_log(settings)
    for line in _summary_lines(summary):
        log(line)
    code = control.exit_code(summary)
    if code != ExitCode.OK:
        halted = control.halted_by
        reason = halted.message if halted is not None else "some files could not be handled now"
        raise NightlyFailed(f"{reason} (exit code {int(code)}); the files not handled wait in the drop folder.",
                            retryable=code == ExitCode.INCOMPLETE)
    if missing:
        raise NightlyFailed(f"drop folder(s) not found: {', '.join(str(p) for p in missing)}. Is the share "
                            "mounted? (Prefect runs it again while retries are left.)", retryable=True)
    return summary


def acting_as_local_operator(settings: Settings) -> Settings:
    """The worker's settings, acting as the local operator of its DANGAN_HOME (AccessDenied if it is not its owner).

    A deployment acts for the account that runs its worker, never for a user named in its environment.
    """
    from flows.identity import local_operator_of

    identity = local_operator_of(settings)
    return settings.model_copy(update={"user": None, "password": None, "token": None, "actor": identity.name})


def anchor_audit_log(settings: Settings) -> None:
    """Anchor the audit chain's head in DANGAN_AUDIT_ANCHOR, whether or not the batch worked (never raises).

    A batch anchors at its end too; an unchanged head is not written twice.
    """
    from storage.auditlog import anchor_after_batch
    from storage.vault import Vault

    def write(path: Path) -> object:
        with closing(Vault.open(settings)) as vault:
            return vault.index.anchor_audit(path)

    anchor_after_batch(write, settings.audit_anchor)


def _run(folders: list[Path], *, settings: Settings, keep: bool, control: RunControl) -> IngestSummary:
    from flows.runner import run_ingest

    return run_ingest([str(p) for p in folders], settings=settings, keep=keep, control=control, warm=False)


def _drop_folders(folders: list[str] | None, settings: Settings) -> list[Path]:
    chosen = [Path(f) for f in folders] if folders else list(settings.drop_folders)
    if not chosen:
        raise NightlyFailed("no drop folder to ingest: set DANGAN_DROP_FOLDERS in the worker's environment or "
                            "give the deployment's folders parameter.", retryable=False)
    relative = [str(p) for p in chosen if not p.is_absolute()]
    if relative:
        raise NightlyFailed(f"drop folders must be absolute paths, not {', '.join(relative)}.", retryable=False)
    return chosen


def _require_server() -> None:
    """The nightly flow runs under a Prefect server (a deployment's worker sets PREFECT_API_URL)."""
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        raise NightlyFailed("the nightly ingest runs from its deployment, under a Prefect server (PREFECT_API_URL "
                            "is not set); on the command line use `dangan ingest FOLDER`.", retryable=False)


@contextmanager
def _own_log_levels() -> Iterator[None]:
    """Let the ingest quieten Prefect's loggers for its run, then give the nightly run its log back."""
    levels = {name: logging.getLogger(name).level for name in _RUN_LOGGERS}
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _summary_lines(summary: IngestSummary) -> list[str]:
    """The summary ``dangan ingest`` prints, as lines for the run's log (names masked, no field values)."""
    from rich.console import Console

    from flows.console import print_summary

    out = io.StringIO()
    print_summary(summary, Console(file=out, highlight=False, soft_wrap=True, color_system=None))
    return [line for line in out.getvalue().splitlines() if line.strip()]


def _no_more_retries() -> None:
    """Tell Prefect not to retry this run: what failed would fail again."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    policy = context.flow_run.empirical_policy.model_copy(update={"retries": 0})
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(context.flow_run.id, empirical_policy=policy)
    except Exception:  # noqa: BLE001 - then Prefect retries it, which is only slower
        logging.getLogger(__name__).warning("could not turn this run's retries off; Prefect may retry it")
