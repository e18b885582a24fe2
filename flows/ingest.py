"""The ingest flow: scans in drop folders become encrypted objects and index rows.

Per file, in this order (each step is a plain function in ocr/ or storage/):

1. preflight      ocr.load.preflight          real type, SHA-256, refuse bad input
2. recognise      Vault.find_by_sha256        already stored? then only settle it
3. read           ocr.pipeline.read_document  rasterise -> OpenCV clean-up (seals, marks, cells) -> OCR
4. understand     ocr.pipeline.understand     split into documents -> classify -> extract -> re-read doubtful
                                              fields -> cross-check documents -> settle confidence
5. store + index  Vault.store_file            seal (AES-256-GCM) -> object store -> one SQL transaction
6. settle         storage.dropfolder          done/ after the commit, or quarantine/ with a reason

Only I/O steps retry (object store, index). Bad input is quarantined with
its reason and the batch goes on. No task persists results: they see
decrypted bytes and OCR text.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.context import current_reporter, current_settings
from flows.errorlog import unexpected
from flows.services import Services, open_services
from flows.summary import FileOutcome, IngestSummary
from ocr.load import preflight
from ocr.pipeline import FileReading, read_file
from schemas.errors import DanganError, EngineError, EngineUnavailable, InputRejected
from schemas.models import Extraction, OcrPage, SourceFile
from storage.dropfolder import Destinations, DropItem, discover, quarantine, settle_done


@task(name="read-file", cache_policy=NO_CACHE, persist_result=False)
def read_pages(source: SourceFile, services: Services, workdir: Path) -> FileReading:
    """Rasterise, preprocess and OCR one file, then find its documents and read their fields."""
    with services.engines.engine() as engine:
        return read_file(source, engine=engine, settings=services.settings, workdir=workdir,
                         rereaders=services.engines.rereaders(engine))


@task(name="store-and-index", retries=3, retry_delay_seconds=[1, 4, 10], cache_policy=NO_CACHE, persist_result=False)
def store_and_index(
    source: SourceFile, pages: list[OcrPage], documents: list[Extraction], services: Services, run_id: str
) -> list[str]:
    """Seal and store the original and OCR result, then commit the index rows of its documents (I/O, retried)."""
    return services.vault.store_file(source=source, pages=pages, documents=documents, run_id=run_id)


@task(name="ingest-file", cache_policy=NO_CACHE, persist_result=False)
def ingest_file(item: DropItem, services: Services, run_id: str, dest: Destinations) -> FileOutcome:
    """Take one file from the drop folder to stored-and-indexed, or quarantined, or left for the next run."""
    try:
        return _archive_file(item, services, run_id, dest)
    except DanganError as e:
        if not is_fault_of_file(e):  # an outside system or a setting: the file waits for the next run
            return FileOutcome.failed(item, e)
        quarantine(item, f"{e.code}: {e.message}", dest)
        return FileOutcome.quarantined(item, e)
    except Exception as e:  # noqa: BLE001 - one bad file must never stop the batch
        error = unexpected(e, services.settings.home, context=item.path.name)
        quarantine(item, f"{error.code}: {error.message}", dest)
        return FileOutcome.quarantined(item, error)
    finally:
        current_reporter().advance(item.path.name)


def _archive_file(item: DropItem, services: Services, run_id: str, dest: Destinations) -> FileOutcome:
    source = preflight(item.path, services.settings)
    with services.locks.hold(source.sha256):
        existing = services.vault.find_by_sha256(source.sha256)
        if existing:
            settle_done(item, dest)
            return FileOutcome.duplicate(item, existing, source)
        with tempfile.TemporaryDirectory(prefix="dangan-") as tmp:
            reading = read_pages(source, services, Path(tmp))
        doc_ids = store_and_index(source, reading.pages, reading.documents, services, run_id)
    settle_done(item, dest)
    return FileOutcome.stored(item, doc_ids, source, reading.pages, reading.documents)


def is_fault_of_file(error: DanganError) -> bool:
    """Bad input, or an OCR program that failed or hung on this file: quarantine it."""
    return isinstance(error, InputRejected) or (
        isinstance(error, EngineError) and not isinstance(error, EngineUnavailable))


@flow(name="ingest", task_runner=ThreadPoolTaskRunner(max_workers=2),  # type: ignore[arg-type]  # Prefect's generic
      persist_result=False, log_prints=False)
def ingest(paths: list[str], keep: bool = False) -> IngestSummary:
    """Ingest files and folders (recursive) into the archive; returns the batch summary.

    Pages of different files are read in parallel by the flow's task runner
    (``ingest.with_options(task_runner=...)`` sets the worker count).
    """
    settings = current_settings()
    items = discover(Path(p) for p in paths)
    dest = Destinations(settings.done_dir, settings.quarantine_dir, keep=keep)
    current_reporter().start(len(items))
    with open_services(settings) as services:
        run_id = services.vault.begin_run()
        futures = [ingest_file.submit(item, services, run_id, dest) for item in items]
        outcomes = [f.result() for f in futures]
        summary = IngestSummary.of(outcomes)
        services.vault.finish_run(run_id, summary.counts(), summary.status)
    return summary
