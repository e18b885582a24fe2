"""The ingest flow: scans in drop folders become encrypted objects and index rows.

Per file, in this order (each step is a plain function in ocr/ or storage/):

1. preflight      ocr.load.preflight          real type, SHA-256, refuse bad input
2. recognise      Vault.find_by_sha256        already stored? then only settle it
3. read           ocr.pipeline.read_document  rasterise -> OpenCV clean-up (seals, marks, cells) -> OCR
4. understand     ocr.pipeline.understand     split into documents -> classify -> extract -> re-read doubtful
                                              fields -> cross-check documents -> settle confidence
                  storage.unitpath            the unit the drop-folder path names wins over the pages' reading;
                                              the path or a cover sheet names the estate (小区) to file under
5. store + index  Vault.store_file            seal (AES-256-GCM) -> object store -> one SQL transaction
6. settle         storage.dropfolder          done/ after the commit, or quarantine/ with a reason

Only I/O steps retry (object store, index), and only errors that say they
are retryable. Bad input is quarantined with its reason and the batch goes
on; a failing outside system (store, index, disk) leaves the file in the
drop folder and stops the batch from beginning further files. A source
that vanished (another process took it) is skipped quietly. One ingest runs
per archive home at a time (``flows.services.HomeLock``). No task persists
results: they see decrypted bytes and OCR text.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import Task, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.futures import PrefectFuture
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.context import RunControl, current_control, current_home_lock, current_reporter, current_settings
from flows.errorlog import error_log_path, record_error, unexpected
from flows.services import HomeLock, Services, check_room, disk_failure, open_services
from flows.sheets import SheetChain, chain_context, current_chain
from flows.summary import FileOutcome, IngestSummary
from ocr.coversheet import CoverSheet
from ocr.heap import give_back_free_memory
from ocr.load import preflight
from ocr.pipeline import FileReading, ScannedFile, scan_file, understand_file
from rules.reconcile import batch_archive_gaps
from schemas.errors import (
    ConfigError,
    DanganError,
    EngineError,
    EngineUnavailable,
    IndexUnavailable,
    IngestInterrupted,
    InputRejected,
    OrchestrationError,
    StorageError,
)
from schemas.models import Extraction, OcrPage, SourceFile, UnitRef, ValueSource
from schemas.settings import Settings
from storage.auditlog import anchor_after_batch
from storage.dropfolder import Destinations, DropItem, discover, quarantine, settle_done
from storage.names import safe_name
from storage.unitpath import apply_unit_hint, filed_unit, sheet_hint

#: Seconds an OCR program's failure waits for a Ctrl-C to be seen: the terminal sends SIGINT to the
#: programs too, and a program stopped that way says nothing about the file.
_SIGNAL_GRACE = 0.5
#: Pauses before the attempts to close the run record (the index may be restarting).
_FINISH_RETRY_DELAYS = (1.0, 4.0)


def retry_if_retryable(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect's retry condition: retry only errors that say they are retryable, and none once stopping.

    Wrong S3 keys, a full disk or a bug fail at once instead of after every
    retry delay.
    """
    try:
        state.result()
    except DanganError as e:
        return e.retryable and not current_control().stopping
    except Exception:  # noqa: BLE001 - a bug: another attempt would meet it again
        return False
    return False


_IO_RETRIES: dict[str, Any] = {"retries": 3, "retry_delay_seconds": [1, 4, 10],
                               "retry_condition_fn": retry_if_retryable}


@task(name="read-file", cache_policy=NO_CACHE, persist_result=False)
def read_pages(source: SourceFile, services: Services, workdir: Path) -> ScannedFile:
    """Rasterise, preprocess and OCR every page of one file, its pages in parallel on the engines of the run."""
    return scan_file(source, engines=services.engines, settings=services.settings, workdir=workdir)


@task(name="understand-file", cache_policy=NO_CACHE, persist_result=False)
def understand_pages(scanned: ScannedFile, services: Services, lead: CoverSheet | None = None) -> FileReading:
    """Cut a read file at its cover sheets (``lead``: a sheet file before it), find its documents, read their fields."""
    return understand_file(scanned, settings=services.settings, rereaders=services.engines.rereaders(), lead=lead)


@task(name="find-archived", cache_policy=NO_CACHE, persist_result=False, **_IO_RETRIES)
def find_archived(sha256: str, services: Services) -> list[str]:
    """Ids of the archived documents of the file with these bytes; empty when it is new (I/O, retried)."""
    return services.vault.find_by_sha256(sha256)


@task(name="store-and-index", cache_policy=NO_CACHE, persist_result=False, **_IO_RETRIES)
def store_and_index(
    source: SourceFile, pages: list[OcrPage], documents: list[Extraction], services: Services, run_id: str,
    filed: list[tuple[UnitRef | None, ValueSource]] | None = None,
) -> list[str]:
    """Seal and store the original and OCR result, then commit the index rows of its documents (I/O, retried).

    ``filed``: each document's unit (with its estate) and where it came from
    (:func:`storage.unitpath.filed_unit`); without it, the unit each names itself.
    """
    if current_control().stopping:  # a retry that was waiting when the run was stopped
        raise IngestInterrupted("The run was stopped before this file was stored; it stays in the drop "
                                "folder for the next run.")
    needed = 2 * source.size if not services.settings.uses_s3 else 0  # sealed original + OCR result
    check_room(services.settings.home, needed)
    return services.vault.store_file(source=source, pages=pages, documents=documents, run_id=run_id, filed=filed)


@task(name="ingest-file", cache_policy=NO_CACHE, persist_result=False)
def ingest_file(item: DropItem, services: Services, run_id: str, dest: Destinations) -> FileOutcome | None:
    """Take one file from the drop folder to stored-and-indexed, or quarantined, or left for the next run.

    Returns None when the source vanished before it was handled (another
    process took it): it is skipped quietly, never quarantined.
    """
    control = current_control()
    try:
        if control.stopping:
            raise IngestInterrupted("The run was stopped before this file was begun; it stays in the drop "
                                    "folder for the next run.")
        if control.halted_by is not None:
            return FileOutcome.failed(item, control.halted_by)
        if _vanished(item):
            return None
        return _archive_file(item, services, run_id, dest, control)
    except DanganError as e:
        return _after_failure(item, e, e, services, dest, control)
    except Exception as e:  # noqa: BLE001 - one bad file must never stop the batch
        return _after_failure(item, None, e, services, dest, control)
    finally:
        chain = current_chain()
        if chain is not None:
            chain.release(item)
        give_back_free_memory()
        current_reporter().advance(item.path.name)


def _archive_file(item: DropItem, services: Services, run_id: str, dest: Destinations,
                  control: RunControl) -> FileOutcome:
    source = preflight(item.path, services.settings)
    chain = current_chain()
    # A file waiting for a copy of its own bytes says it leads nothing first: the copy, once done, may be
    # waiting in the sheet chain for this very file (the copy says what the bytes are anyway).
    with services.locks.hold(source.sha256, before_waiting=(lambda: chain.release(item)) if chain else None):
        existing = find_archived(source.sha256, services)
        if existing:
            with control.settling():
                _settle_done(item, dest)
            return FileOutcome.duplicate(item, existing, source)
        with tempfile.TemporaryDirectory(prefix="file-", dir=work_folder(services.settings)) as tmp:
            scanned = read_pages(source, services, Path(tmp))
        if chain is not None and scanned.cover is not None:
            chain.scanned(item, scanned.cover)
            return FileOutcome.sheet(item, scanned.cover, source)  # settled at the end of the batch
        if chain is not None:
            chain.scanned(item, None)
        reading = understand_pages(scanned, services, chain.lead(item) if chain is not None else None)
        # A document behind a cover sheet is filed by the sheet; any other by its drop-folder path and its fields.
        hints = [sheet_hint(sheet) if sheet is not None else item.unit_hint for sheet in reading.sheets]
        documents = [apply_unit_hint([d], h)[0] for d, h in zip(reading.documents, hints, strict=True)]
        filed = [filed_unit(d, h) for d, h in zip(documents, hints, strict=True)]
        with control.settling():  # a stop waits for this: stored, indexed and moved, or none of it begun
            doc_ids = store_and_index(source, reading.pages, documents, services, run_id, filed)
            _settle_done(item, dest)
    return FileOutcome.stored(item, doc_ids, source, reading.pages, documents, reading.problems,
                              reading.quality, reading.metadata)


def settle_sheet_files(items: list[DropItem], outcomes: list[FileOutcome | None], chain: SheetChain,
                       dest: Destinations, control: RunControl) -> list[FileOutcome | None]:
    """Move each cover-sheet file to done/ once every file it was carried to is settled; else leave it.

    A sheet file left in the drop folder leads the same files again in the
    next run (they are still after it in its folder).
    """
    by_path = {item.path: o for item, o in zip(items, outcomes, strict=True) if o is not None}
    settled: list[FileOutcome | None] = []
    for item, outcome in zip(items, outcomes, strict=True):
        if outcome is None or outcome.outcome != "sheet":
            settled.append(outcome)
            continue
        carried = chain.carried_to(item)
        waiting = [p for p in carried if p not in by_path or by_path[p].outcome == "failed"]
        if not carried:
            note = "no file after it in this batch; it stays in the drop folder for the files that follow it"
        elif waiting:
            note = (f"carried to {len(carried)} file(s); {len(waiting)} of them stay in the drop folder, and so "
                    "does the sheet, for the next run")
        else:
            note = f"carried to the {len(carried)} file(s) after it"
            try:
                with control.settling():
                    _settle_done(item, dest)
            except IngestInterrupted:
                note += "; the run was stopped before the sheet was moved to done/"
            except OSError as e:
                note += f"; it could not be moved to done/ ({type(e).__name__}) and stays in the drop folder"
        settled.append(outcome.model_copy(update={"notes": (*outcome.notes, note)}))
    return settled


def _settle_done(item: DropItem, dest: Destinations) -> None:
    """Move a handled source to done/; a source another process already took is fine (it is archived)."""
    try:
        settle_done(item, dest)
    except FileNotFoundError:
        if not _vanished(item):
            raise


def _after_failure(item: DropItem, error: DanganError | None, raised: BaseException, services: Services,
                   dest: Destinations, control: RunControl) -> FileOutcome | None:
    """Decide where a file that failed goes: skipped (vanished), left in place (outside failure) or quarantined."""
    settings = services.settings
    if _vanished(item):
        return None
    disk = disk_failure(raised, (settings.home,))
    if disk is not None:
        control.halt(disk)
        return FileOutcome.failed(item, disk)
    if error is not None and not is_fault_of_file(error):  # an outside system or a setting: the file waits
        if halts_batch(error):
            control.halt(error)
        return FileOutcome.failed(item, error)
    if isinstance(error, EngineError) and control.wait_for_stop(_SIGNAL_GRACE):
        return FileOutcome.failed(item, IngestInterrupted("The run was stopped while this file was read; it "
                                                          "stays in the drop folder for the next run."))
    refusal = error if error is not None else unexpected(raised, settings.home, context=safe_name(item.path.name))
    try:
        with control.settling():
            quarantine(item, f"{refusal.code}: {refusal.message}", dest)
    except IngestInterrupted as stopped:
        return FileOutcome.failed(item, stopped)
    except OSError as e:
        if _vanished(item):
            return None
        failure = disk_failure(e, (item.path.parent,)) or unexpected(
            e, settings.home, context=safe_name(item.path.name))
        return FileOutcome.failed(item, failure)
    return FileOutcome.quarantined(item, refusal)


def work_folder(settings: Settings) -> Path:
    """Where files are rasterised while they are read: ``DANGAN_HOME/work`` (0700), not the shared /tmp.

    Page images are the plaintext of the scans: a run killed mid-file leaves
    them in a private folder, which the next run empties before it begins.
    """
    return settings.home / "work"


def clear_work_folder(settings: Settings) -> None:
    """Remove what killed runs left in the work folder (called holding the archive's ingest lock)."""
    folder = work_folder(settings)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _vanished(item: DropItem) -> bool:
    """True when the source is no longer where it was found (moved away by another process)."""
    return not item.path.is_symlink() and not item.path.exists()


def is_fault_of_file(error: DanganError) -> bool:
    """Bad input, or an OCR program that failed or hung on this file: quarantine it."""
    return isinstance(error, InputRejected) or (
        isinstance(error, EngineError) and not isinstance(error, EngineUnavailable))


def halts_batch(error: DanganError) -> bool:
    """An outside failure that the next files would meet too: the store, the index, a setting, a missing engine.

    Retryable ones come here only after their retries ran out.
    """
    return isinstance(error, StorageError | IndexUnavailable | ConfigError | EngineUnavailable | OrchestrationError)


@flow(name="ingest", task_runner=ThreadPoolTaskRunner(max_workers=2),  # type: ignore[arg-type]  # Prefect's generic
      persist_result=False, log_prints=False)
def ingest(paths: list[str], keep: bool = False) -> IngestSummary:
    """Ingest files and folders (recursive) into the archive; returns the batch summary.

    Pages of different files are read in parallel by the flow's task runner
    (``ingest.with_options(task_runner=...)`` sets the worker count).
    """
    settings = current_settings()
    control = current_control()
    with home_lock(settings) as lock:
        clear_work_folder(settings)
        items = discover(paths)  # strings: a ``/./`` in a file's path marks its drop folder
        dest = Destinations(settings.done_dir, settings.quarantine_dir, keep=keep)
        current_reporter().start(len(items))
        with open_services(settings) as services:
            services.vault.interrupt_runs(lock.stale_run_ids)
            run_id = str(uuid.uuid4())
            lock.record(run_id)  # before the record exists: a run killed now is closed by the next one
            services.vault.begin_run(run_id)
            control.on_stop(lambda: services.vault.finish_run(run_id, {}, "interrupted"))
            started = datetime.now(UTC)
            with chain_context(items) as chain:
                futures = [ingest_file.submit(item, services, run_id, dest) for item in items]
                outcomes = [_outcome(f, item, settings, control) for f, item in zip(futures, items, strict=True)]
            outcomes = settle_sheet_files(items, outcomes, chain, dest, control)
            summary = IngestSummary.of([o for o in outcomes if o is not None])
            summary = summary.model_copy(update={"qa_report": batch_qa_report(summary, run_id, started, settings)})
            summary = batch_archive_gaps(services.vault, summary)  # what each archive filed into still lacks
            control.summary = summary
            if _finish_run(services, run_id, summary):
                lock.record(None)
            anchor_after_batch(services.vault.index.anchor_audit, settings.audit_anchor)  # the audit chain's head
    return summary


@contextmanager
def home_lock(settings: Settings) -> Iterator[HomeLock]:
    """The lock the caller already holds (the command line takes it before Prefect starts), else our own."""
    held = current_home_lock()
    if held is not None:
        yield held
        return
    with HomeLock.acquire(settings.home) as lock:
        yield lock


def _outcome(future: PrefectFuture[FileOutcome | None], item: DropItem, settings: Settings,
             control: RunControl) -> FileOutcome | None:
    """The file's outcome; when Prefect itself failed on the file, it is left in place for the next run."""
    try:
        return future.result()
    except Exception as e:  # noqa: BLE001 - our task never raises: this is the orchestration failing
        return orchestration_failed(e, item, settings, control, who="Prefect")


def orchestration_failed(e: Exception, item: DropItem, settings: Settings, control: RunControl, *,
                         who: str) -> FileOutcome:
    """``who`` (Prefect, the cluster) failed on a file: the batch halts and the file stays in the drop folder."""
    failure: DanganError | None = disk_failure(e, (settings.home,))
    if failure is None:
        error_id = record_error(e, settings.home, context=safe_name(item.path.name))
        failure = OrchestrationError(f"{who} failed while handling this file ({type(e).__name__}); it stays in the "
                                     f"drop folder. Details: error {error_id} in {error_log_path(settings.home)}.")
    control.halt(failure)
    return FileOutcome.failed(item, failure)


def _finish_run(services: Services, run_id: str, summary: IngestSummary) -> bool:
    """Close the run record; False when the index stayed unreachable (the next run marks it interrupted)."""
    for delay in (*_FINISH_RETRY_DELAYS, None):
        try:
            services.vault.finish_run(run_id, summary.counts(), summary.status)
            return True
        except IndexUnavailable:
            if delay is None:
                return False
            time.sleep(delay)
    return False


def batch_qa_report(summary: IngestSummary, run_id: str, started: datetime, settings: Settings) -> str | None:
    """Write the batch's digitisation quality report (HTML and CSV) under DANGAN_HOME/reports; its HTML path.

    Only stored files have measured pages; a batch without any writes none. A
    report that cannot be written is logged, never a reason to fail the batch.
    """
    from flows.qa_report import QaBatch, QaFile, QaPage, QaProblem, batch_id_of, reports_folder, write_qa_report

    stored = [f for f in summary.files if f.quality]
    if not stored:
        return None
    pages: list[QaPage] = []
    for f in stored:
        for index, quality in f.quality:
            pages.append(QaPage(position=len(pages), file=f.name, page=index, quality=quality))
    files = [QaFile(name=f.name, pages=f.pages, **({"metadata": f.scan} if f.scan else {})) for f in stored]
    problems = [QaProblem(kind="cover_sheet", message=f"{f.name}: {note}")
                for f in summary.files if f in stored or f.outcome == "sheet" for note in f.notes]
    batch = QaBatch(batch_id=batch_id_of(run_id), started=started, finished=datetime.now(UTC),
                    operator=settings.actor, files=files, pages=pages, problems=problems)
    try:
        html, _ = write_qa_report(batch, reports_folder(settings.home))
    except OSError as e:
        record_error(e, settings.home, context="qa report")
        return None
    return str(html)
