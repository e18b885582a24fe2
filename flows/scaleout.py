"""Scale-out: one ingest batch read by the workers of a Dask cluster, all against one object store and one index.

``dangan ingest`` runs :func:`ingest_cluster` instead of the ingest flow when
``DANGAN_DASK_ADDRESS`` (a running scheduler, ``tcp://host:8786``) or
``DANGAN_DASK_WORKERS`` (a LocalCluster of that many single-threaded worker
processes on this machine) is set. The flow runs on the coordinator:

* it takes the archive's lock, lists the files, opens the run record and
  writes the quality report exactly as :func:`flows.ingest.ingest` does;
* it hands each file to the cluster as one Prefect task
  (:func:`ingest_on_worker`, through prefect-dask's ``DaskTaskRunner``) whose
  arguments are only the file (``DropItem``), the run id, where handled
  sources go (``Destinations``) and the file's place in the batch; nothing
  unpicklable and no setting travels. A few files per worker thread are in flight at
  a time, so a stop or a failing outside system (store, index) begins no
  further file, as in the one-machine flow; a file on a worker asks the
  coordinator's run control before it stores anything, so a stop (Ctrl-C)
  lets the stores under way finish and lets no other begin;
* it gathers the files' outcomes into the batch summary.

Each worker process opens its own services once (vault with the index
engine, object store and keys, OCR engine) from its own environment
(``load_settings()``: every machine has its own ``DANGAN_*`` settings and
master-key source pointing at the same S3 server and PostgreSQL) and runs the
same per-file step as the one-machine flow (``flows.ingest.ingest_file``). One
OCR engine per worker thread, one CPU thread per engine. A worker plugin
(:class:`IngestWorkerPlugin`) holds the thread limits and closes the services
when the worker shuts down.

Files of the batch with the same bytes (a scan copied twice into the drop
folder) never meet on two workers at once: the later one begins when the
earlier one has ended, finds it archived and ends as ``duplicate``. Cover sheets
scanned as files of their own lead the files after them as in the one-machine
flow: the batch's one sheet chain stays with the coordinator, and the workers
tell it what each file is and ask it which sheet leads a file.

Drop folders (and ``done/``, ``quarantine/``) must be on a file system every
worker sees under the same path.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import socket
import stat
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed import Event, Queue, Variable, WorkerPlugin
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect_dask import DaskTaskRunner

from flows.context import (
    NullReporter,
    Reporter,
    RunControl,
    current_control,
    current_reporter,
    current_settings,
    flow_context,
)
from flows.errorlog import error_log_path, record_error
from flows.ingest import (
    batch_qa_report,
    clear_work_folder,
    home_lock,
    ingest_file,
    orchestration_failed,
    settle_sheet_files,
    work_folder,
)
from flows.services import Services, disk_failure, open_services
from flows.sheets import SheetChain, using_chain
from flows.summary import FileOutcome, IngestSummary
from ocr.coversheet import CoverSheet
from ocr.engine_factory import threads_per_worker
from rules.reconcile import batch_archive_gaps
from schemas.errors import ConfigError, DanganError, IndexUnavailable, IngestInterrupted, OrchestrationError
from schemas.settings import Settings, default_home, load_settings
from storage.dropfolder import Destinations, DropItem, discover
from storage.files import file_sha256
from storage.vault import Vault

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster, Worker
    from prefect import Flow
    from prefect.futures import PrefectFuture

#: Name of the worker plugin (one per worker; registering it again keeps the one a worker has).
PLUGIN_NAME = "dangan-ingest"
#: Files in flight per worker thread: a worker always has its next file waiting, and a stop or halt
#: leaves the rest of the batch unbegun.
IN_FLIGHT_PER_THREAD = 2
#: Longest wait for the first worker of a scheduler (``DANGAN_DASK_ADDRESS``) to be there.
WORKER_WAIT_SECONDS = 120.0
#: Pauses before the attempts to close the run record (the index may be restarting).
_FINISH_RETRY_DELAYS = (1.0, 4.0)
#: Environment of worker processes this module starts: numeric libraries keep to one thread each.
_ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "PREFECT_LOGGING_LEVEL": "WARNING"}
#: Marks the environment of a LocalCluster worker started by :func:`local_cluster`.
_LOCAL_WORKER = "DANGAN_DASK_LOCAL_WORKER"
#: Settings a coordinator does not hand to the workers it starts: about the coordinator, or who proved
#: themselves to it (a worker acts for the batch it is given, as the operator of its own process).
_COORDINATOR_ONLY = frozenset({"dask_address", "dask_workers", "workers", "ocr_threads", "user", "password",
                               "token"})


# --------------------------------------------------------------------------- the coordinator


def cluster_task_runner(settings: Settings) -> DaskTaskRunner:
    """The Dask task runner ``settings`` ask for: the scheduler at ``dask_address``, else a LocalCluster.

    The LocalCluster (:func:`local_cluster`) has ``dask_workers`` worker
    processes of one thread each and stops with the flow run.
    """
    address = (settings.dask_address or "").strip()
    if address:
        return DaskTaskRunner(address=address)
    n_workers = max(1, settings.dask_workers or 1)
    return DaskTaskRunner(cluster_class=local_cluster, cluster_kwargs={"n_workers": n_workers})  # type: ignore[arg-type]


def local_cluster(n_workers: int) -> LocalCluster:
    """A LocalCluster of ``n_workers`` single-threaded worker processes on 127.0.0.1, with the run's settings.

    The workers load their settings from their environment, which gets the
    settings of the running batch (command-line options included,
    :func:`worker_environment`); the settings travel in no Prefect or Dask object.
    They are readied at start (:func:`dask_setup`) and ignore SIGINT: a Ctrl-C at
    the terminal stops the batch through the coordinator, which lets the files
    being stored finish.
    """
    from distributed import LocalCluster

    env = {**worker_environment(current_settings()), _LOCAL_WORKER: "1"}
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address=None, silence_logs=logging.ERROR, preload=[__name__], env=env)


def cluster_flow(settings: Settings) -> Flow[..., IngestSummary]:
    """:func:`ingest_cluster` with the task runner of ``settings`` (call it as the ingest flow is called)."""
    return ingest_cluster.with_options(task_runner=cluster_task_runner(settings))  # type: ignore[arg-type]


def worker_environment(settings: Settings) -> dict[str, str]:
    """``DANGAN_*`` variables that give worker processes started here the settings of ``settings``.

    Workers load their settings from their environment; those of a LocalCluster
    get this process's (command-line options included), one thread per library.
    """
    env = dict(_ONE_THREAD_ENV)
    for name, value in settings.model_dump().items():
        if value is None or name in _COORDINATOR_ONLY:
            continue
        if name == "credentials_directory":  # systemd's variable, read without the prefix
            env["CREDENTIALS_DIRECTORY"] = str(value)
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        elif isinstance(value, tuple | list):
            value = json.dumps([str(v) for v in value])
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"DANGAN_{name.upper()}"] = str(value)
    return env


@flow(name="ingest-cluster", task_runner=DaskTaskRunner(), persist_result=False,  # type: ignore[arg-type]
      log_prints=False)
def ingest_cluster(paths: list[str], keep: bool = False) -> IngestSummary:
    """Ingest files and folders (recursive) on the workers of a Dask cluster; returns the batch summary.

    The same batch as :func:`flows.ingest.ingest` (lock, run record, outcomes,
    quality report); the files are read and stored by the cluster's workers.
    Run it with :func:`cluster_flow` (the task runner of the settings).
    """
    settings = current_settings()
    control = current_control()
    reporter = current_reporter()
    with home_lock(settings) as lock:
        clear_work_folder(settings)
        items = discover(paths)
        dest = Destinations(settings.done_dir, settings.quarantine_dir, keep=keep)
        reporter.start(len(items))
        vault = Vault.open(settings)
        try:
            vault.store.ready()
            mark = archive_mark(vault)
            client = _cluster_client(settings)
            vault.interrupt_runs(lock.stale_run_ids)
            run_id = str(uuid.uuid4())
            lock.record(run_id)  # before the record exists: a run killed now is closed by the next one
            vault.begin_run(run_id)
            control.on_stop(lambda: vault.finish_run(run_id, {}, "interrupted"))
            started = datetime.now(UTC)
            chain = SheetChain(items)
            with _BatchService(client, run_id, items, chain, control) as service:
                outcomes = _run_files(client, items, run_id, dest, mark, settings, control, reporter, service)
            outcomes = settle_sheet_files(items, outcomes, chain, dest, control)
            summary = IngestSummary.of([o for o in outcomes if o is not None])
            summary = summary.model_copy(update={"qa_report": batch_qa_report(summary, run_id, started, settings)})
            summary = batch_archive_gaps(vault, summary)  # what each archive filed into still lacks
            control.summary = summary
            if _finish_run(vault, run_id, summary):
                lock.record(None)
        finally:
            vault.close()
    return summary


def _cluster_client(settings: Settings) -> Client:
    """The flow's Dask client (connecting, or starting the LocalCluster), with the worker plugin registered."""
    context = FlowRunContext.get()
    runner = context.task_runner if context is not None else None
    if not isinstance(runner, DaskTaskRunner):
        raise OrchestrationError("the cluster ingest must run with a Dask task runner (flows.scaleout.cluster_flow)")
    where = settings.dask_address or f"a local cluster of {settings.dask_workers} worker(s)"
    for name in ("distributed", "tornado"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        client = runner.client
        client.register_plugin(IngestWorkerPlugin(), name=PLUGIN_NAME)
        client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
    except (OSError, TimeoutError) as e:
        raise OrchestrationError(f"the Dask cluster ({where}) cannot be used: {type(e).__name__}: {e}. The files "
                                 "wait in the drop folder; check DANGAN_DASK_ADDRESS and the workers, then run "
                                 "the same command again.") from e
    return client


@dataclass
class _InFlight:
    index: int
    future: PrefectFuture[FileResult]


def _run_files(client: Client, items: list[DropItem], run_id: str, dest: Destinations, mark: dict[str, str],
               settings: Settings, control: RunControl, reporter: Reporter,
               service: _BatchService) -> list[FileOutcome | None]:
    """Hand the files to the cluster, a few per worker thread at a time, and gather their outcomes in order.

    Once stopped (Ctrl-C) or halted, no further file is handed out; a stop is
    told to the workers, whose files then store nothing more. A file with the
    same bytes as an earlier one of the batch begins once that one has ended
    (:class:`_SameBytes`), so it finds it archived: a duplicate.
    """
    outcomes: list[FileOutcome | None] = [None] * len(items)
    finished: queue.Queue[Future] = queue.Queue()
    in_flight: dict[object, _InFlight] = {}
    same_bytes = _SameBytes(items)
    begun = 0
    limit = IN_FLIGHT_PER_THREAD
    while True:
        limit = _in_flight_limit(client, limit)
        while begun < len(items) and len(in_flight) < limit and not control.stopping and control.halted_by is None:
            before = same_bytes.last(items[begun])
            future = ingest_on_worker.submit(items[begun], run_id, dest, begun, mark, return_state=False,
                                             wait_for=[before] if before is not None else None)
            same_bytes.begun(items[begun], future)
            wrapped: Future = future.wrapped_future  # type: ignore[attr-defined]  # a PrefectDaskFuture
            in_flight[wrapped.key] = _InFlight(begun, future)
            wrapped.add_done_callback(finished.put)
            begun += 1
        if not in_flight:
            break
        try:
            done = finished.get(timeout=0.5)
        except queue.Empty:
            if control.stopping:
                service.tell_stop()
            continue
        entry = in_flight.pop(done.key)
        item = items[entry.index]
        try:
            outcomes[entry.index] = _collect(entry.future, item, settings, control)
        finally:
            service.ended(entry.index)
            reporter.advance(item.path.name)
    if control.stopping:
        service.tell_stop()
    for index in range(begun, len(items)):  # not begun: stopped or halted
        item = items[index]
        service.ended(index)
        error = control.halted_by or IngestInterrupted("The run was stopped before this file was begun; it stays "
                                                       "in the drop folder for the next run.")
        outcomes[index] = None if _vanished(item) else FileOutcome.failed(item, error)
        reporter.advance(item.path.name)
    return outcomes


def _in_flight_limit(client: Client, previous: int) -> int:
    """Files to keep in flight: a few per worker thread the cluster has now (``previous`` when it cannot say)."""
    try:
        threads = sum(client.nthreads().values())
    except Exception:  # noqa: BLE001 - the scheduler is away: the files in flight will say so
        return previous
    return IN_FLIGHT_PER_THREAD * max(1, threads)


class _SameBytes:
    """Files of a batch with the same bytes, read one after the other in batch order.

    Only files whose size another file of the batch shares are hashed (here,
    as they are handed out). Two workers never read the same bytes at once:
    the later file waits (a Dask dependency, holding no worker thread) for the
    earlier one and then finds it archived. In batch order, because a file
    may wait for the files before it in its folder (cover sheets scanned as
    files of their own), never for one after it.
    """

    def __init__(self, items: list[DropItem]) -> None:
        sizes = [_size(item) for item in items]
        counts = Counter(size for size in sizes if size is not None)
        self._shared = {item.path for item, size in zip(items, sizes, strict=True) if size and counts[size] > 1}
        self._last: dict[str, PrefectFuture[FileResult]] = {}
        self._digests: dict[Path, str | None] = {}

    def last(self, item: DropItem) -> PrefectFuture[FileResult] | None:
        """The latest file handed out before ``item`` with the same bytes, if any."""
        digest = self._digest(item)
        return self._last.get(digest) if digest is not None else None

    def begun(self, item: DropItem, future: PrefectFuture[FileResult]) -> None:
        """``item`` was handed out as ``future``."""
        digest = self._digest(item)
        if digest is not None:
            self._last[digest] = future

    def _digest(self, item: DropItem) -> str | None:
        if item.path not in self._shared:
            return None
        if item.path not in self._digests:
            try:
                self._digests[item.path] = file_sha256(item.path)
            except OSError:
                self._digests[item.path] = None
        return self._digests[item.path]


def _size(item: DropItem) -> int | None:
    """Size of a regular file (not a link); None for anything else or an unreadable one."""
    try:
        st = item.path.lstat()
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _collect(future: PrefectFuture[FileResult], item: DropItem, settings: Settings,
             control: RunControl) -> FileOutcome | None:
    """The outcome a worker sent back; a halting failure halts the batch. A lost worker leaves the file in place."""
    try:
        result = future.result()
    except Exception as e:  # noqa: BLE001 - the task never raises: the cluster or Prefect failed
        return orchestration_failed(e, item, settings, control, who="The Dask cluster")
    if result.halted_by is not None:
        control.halt(result.halted_by)
    return result.outcome


def _finish_run(vault: Vault, run_id: str, summary: IngestSummary) -> bool:
    """Close the run record; False when the index stayed unreachable (the next run marks it interrupted)."""
    for delay in (*_FINISH_RETRY_DELAYS, None):
        try:
            vault.finish_run(run_id, summary.counts(), summary.status)
            return True
        except IndexUnavailable:
            if delay is None:
                return False
            time.sleep(delay)
    return False


def _vanished(item: DropItem) -> bool:
    """True when the source is no longer where it was found (moved away by another process)."""
    return not item.path.is_symlink() and not item.path.exists()


def archive_mark(vault: Vault) -> dict[str, str]:
    """What makes the archive of ``vault`` itself, for a worker to check it serves the coordinator's archive.

    The master key's public id, the ids of the archive's own keys in the index
    (made at random when an index is first bound: a worker that fell back to
    a SQLite index of its own has others) and where its objects go (the S3
    bucket, or an embedded store on one machine). None of it is secret.
    """
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from storage.tables import ArchiveKeyRow

    try:
        with vault.index.engine.connect() as conn:
            rows = conn.execute(select(ArchiveKeyRow.purpose, ArchiveKeyRow.key_id).order_by(ArchiveKeyRow.purpose))
            keys = ", ".join(f"{purpose} {key_id}" for purpose, key_id in rows)
    except SQLAlchemyError as e:
        raise IndexUnavailable(f"The index could not be read ({type(e).__name__}): check that the database is "
                               "running and DANGAN_DB_URL is right.") from e
    settings = vault.settings
    store = (f"S3 bucket {settings.s3_bucket}" if settings.uses_s3
             else f"the embedded store {settings.objects_dir} on {socket.gethostname()}")
    return {"master key": vault.keys.key_id, "index": keys, "object store": store}


def _check_mark(mine: dict[str, str], coordinators: dict[str, str]) -> None:
    """ConfigError when this worker's archive is not the coordinator's (see :func:`archive_mark`)."""
    differ = [what for what in coordinators if mine.get(what) != coordinators[what]]
    if not differ:
        return
    details = "; ".join(f"{what}: {mine.get(what)!r} here, {coordinators[what]!r} on the coordinator"
                        for what in differ)
    raise ConfigError(f"the Dask worker on {socket.gethostname()} opens another archive than the coordinator "
                      f"({details}). Give every worker the coordinator's DANGAN_DB_URL, DANGAN_S3_* and master "
                      "key; the files wait in the drop folder.")


# --------------------------------------------------------------------------- coordinator <-> workers
#
# A file on a worker talks to the coordinator through the scheduler: notes go into one Dask queue
# per batch, answers come back in one Dask variable per question, and a Dask event says the batch
# was stopped. The coordinator keeps the batch's one sheet chain and run control.

_BATCH_NAME = "dangan-batch-{run_id}"
#: Seconds a worker waits for the coordinator to let it store a file (it answers at once when it runs).
_ADMIT_WAIT_SECONDS = 60.0


def _names(run_id: str) -> dict[str, str]:
    base = _BATCH_NAME.format(run_id=run_id)
    return {"queue": base, "stop": f"{base}-stop", "answer": f"{base}-answer"}


class _BatchService:
    """The coordinator's side: applies the workers' notes to the batch's sheet chain and run control.

    * ``scanned`` / ``release``: a file said what it is (a cover sheet or not);
    * ``lead``: which sheet file leads a file (answered once the files before
      it in its folder have said what they are, by the chain itself);
    * ``settle`` / ``settled``: a file is about to store, index or move its
      source, and is done with it; refused once a stop was asked for, and
      counted on the run control meanwhile, so a stop waits for it.

    A stop asked for on the coordinator is also told to the workers
    (:meth:`tell_stop`): their files begin nothing more and store nothing more.
    """

    def __init__(self, client: Client, run_id: str, items: list[DropItem], chain: SheetChain,
                 control: RunControl) -> None:
        self._client = client
        self._items = items
        self._chain = chain
        self._control = control
        self._names = _names(run_id)
        self._queue = Queue(self._names["queue"], client=client)
        self._stop = Event(self._names["stop"], client=client)
        self._stop_told = False
        self._answers: set[str] = set()
        self._settling: dict[tuple[int, str], ExitStack] = {}
        self._guard = threading.Lock()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dangan-batch-service", daemon=True)

    def __enter__(self) -> _BatchService:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        with contextlib.suppress(Exception):
            self._queue.put(["closing", -1])  # wakes the reader
        self._thread.join(timeout=10)
        with self._guard:
            names, self._answers = set(self._answers), set()
            stacks, self._settling = list(self._settling.values()), {}
        for stack in stacks:
            stack.close()
        for name in names:
            with contextlib.suppress(Exception):
                Variable(name, client=self._client).delete()
        with contextlib.suppress(Exception):
            self._stop.clear()
        with contextlib.suppress(Exception):
            self._queue.close()

    def tell_stop(self) -> None:
        """Tell the workers the batch was stopped (once)."""
        if not self._stop_told:
            self._stop_told = True
            with contextlib.suppress(Exception):
                self._stop.set()

    def ended(self, position: int) -> None:
        """The file at ``position`` ended (or its worker was lost): it leads nothing more and settles nothing."""
        self._chain.release(self._items[position])
        with self._guard:
            keys = [key for key in self._settling if key[0] == position]
            stacks = [self._settling.pop(key) for key in keys]
        for stack in stacks:
            stack.close()

    def _serve(self) -> None:
        while not self._closing.is_set():
            message = self._next()
            if message is not None:
                with contextlib.suppress(Exception):
                    self._handle(message)

    def _next(self) -> list[Any] | None:
        """The next note of a worker (waiting for it); None when the queue cannot be read."""
        try:
            return list(self._queue.get())
        except Exception:  # noqa: BLE001 - the scheduler went away: the batch's futures end on their own
            time.sleep(0.5)
            return None

    def _handle(self, message: list[Any]) -> None:
        kind, position = str(message[0]), int(message[1])
        if not 0 <= position < len(self._items):  # "closing", or not of this batch
            return
        item = self._items[position]
        if kind == "scanned":
            self._chain.scanned(item, CoverSheet.model_validate_json(message[2]) if message[2] else None)
        elif kind == "release":
            self._chain.release(item)
        elif kind == "lead" and not self._closing.is_set():
            threading.Thread(target=self._lead, args=(position, str(message[2])), name="dangan-sheet-lead",
                             daemon=True).start()
        elif kind == "settle":
            self._answer(str(message[2]), self._admit(position, str(message[3])))
        elif kind == "settled":
            with self._guard:
                stack = self._settling.pop((position, str(message[2])), None)
            if stack is not None:
                stack.close()

    def _lead(self, position: int, answer: str) -> None:
        cover = self._chain.lead(self._items[position])
        self._answer(answer, cover.model_dump_json() if cover is not None else "")

    def _admit(self, position: int, token: str) -> str:
        stack = ExitStack()
        try:
            stack.enter_context(self._control.settling())
        except IngestInterrupted:
            return "stop"
        with self._guard:
            self._settling[(position, token)] = stack
        return "go"

    def _answer(self, name: str, value: str) -> None:
        Variable(name, client=self._client).set(value)
        with self._guard:
            self._answers.add(name)


class _WorkerLink:
    """One file's line to the coordinator, from the worker reading it."""

    def __init__(self, client: Client, run_id: str, position: int) -> None:
        self._client = client
        self._names = _names(run_id)
        self.position = position
        self._stopped = False

    def note(self, *message: Any) -> None:
        """Send a note to the coordinator (OrchestrationError when the scheduler cannot take it)."""
        try:
            Queue(self._names["queue"], client=self._client).put([message[0], self.position, *message[1:]])
        except Exception as e:
            raise _lost(e) from e

    def ask(self, kind: str, *message: Any, timeout: float, secede: bool = False) -> str:
        """Ask the coordinator and wait for its answer (``secede``: out of the worker's thread pool meanwhile)."""
        answer = f"{self._names['answer']}-{uuid.uuid4().hex}"
        self.note(kind, answer, *message)
        variable = Variable(answer, client=self._client)
        left = False
        try:
            if secede:
                from distributed import secede as leave

                leave()
                left = True
            return str(variable.get(timeout=timeout))
        except Exception as e:
            raise _lost(e) from e
        finally:
            if left:
                from distributed import rejoin

                rejoin()
            with contextlib.suppress(Exception):
                variable.delete()

    def stopped(self) -> bool:
        """True once the coordinator said the batch was stopped."""
        if not self._stopped:
            with contextlib.suppress(Exception):
                self._stopped = bool(Event(self._names["stop"], client=self._client).is_set())
        return self._stopped


def _lost(error: BaseException) -> OrchestrationError:
    return OrchestrationError(f"this worker lost the coordinator of the batch ({type(error).__name__}); the file "
                              "stays in the drop folder for the next run.")


class _WorkerControl(RunControl):
    """The run control one file on a worker sees: the coordinator's stop, and its leave to store.

    Every step that stores, indexes or moves the source first asks the
    coordinator (refused once the batch was stopped) and tells it when done,
    so a stop on the coordinator waits for those steps and no others.
    """

    def __init__(self, link: _WorkerLink) -> None:
        super().__init__()
        self._link = link

    @property
    def stopping(self) -> bool:
        """True once a stop was asked for, here or on the coordinator."""
        if not self._stopping and self._link.stopped():
            self.request_stop()
        return self._stopping

    @contextmanager
    def settling(self) -> Iterator[None]:
        """Run a store, index or move step with the coordinator's leave (IngestInterrupted once it is stopping)."""
        token = uuid.uuid4().hex
        if self.stopping or self._link.ask("settle", token, timeout=_ADMIT_WAIT_SECONDS) != "go":
            self.request_stop()
            raise IngestInterrupted("The run was stopped before this file was stored; it stays in the drop "
                                    "folder for the next run.")
        try:
            with super().settling():
                yield
        finally:
            with contextlib.suppress(OrchestrationError):
                self._link.note("settled", token)


class _WorkerChain(SheetChain):
    """The batch's sheet chain as one file on a worker sees it: the chain itself is the coordinator's."""

    def __init__(self, link: _WorkerLink, *, wait: float) -> None:
        self._link = link
        self._wait = wait
        self._said = False

    def scanned(self, item: DropItem, cover: CoverSheet | None) -> None:
        """Tell the coordinator what this file is, once."""
        if not self._said:
            self._said = True
            self._link.note("scanned", cover.model_dump_json() if cover is not None else None)

    def release(self, item: DropItem) -> None:
        """Tell the coordinator that this file ended without saying what it is (it leads nothing)."""
        if not self._said:
            self._said = True
            with contextlib.suppress(OrchestrationError):  # the coordinator releases a file it hears no more of
                self._link.note("release")

    def lead(self, item: DropItem) -> CoverSheet | None:
        """The sheet file that leads this file, once the files before it have said what they are.

        Meanwhile the task leaves the worker's thread pool, so a file before
        it waiting on the same worker can run.
        """
        answer = self._link.ask("lead", timeout=self._wait, secede=True)
        return CoverSheet.model_validate_json(answer) if answer else None

    def carried_to(self, item: DropItem) -> list[Path]:
        """Known to the coordinator only."""
        return []



# --------------------------------------------------------------------------- the workers


@dataclass(frozen=True)
class FileResult:
    """What a worker sends back for one file: its outcome, and the failure that halts the batch, if any."""

    outcome: FileOutcome | None
    halted_by: DanganError | None = None


@task(name="ingest-file-on-worker", cache_policy=NO_CACHE, persist_result=False)
def ingest_on_worker(item: DropItem, run_id: str, dest: Destinations, position: int,
                     mark: dict[str, str]) -> FileResult:
    """Ingest one file in a Dask worker: the process's own services, the same per-file step as one machine.

    Never raises: a worker that cannot open its services (key, index, store)
    leaves the file in the drop folder and halts the batch. (The task is sent
    by value; everything it does lives in :func:`ingest_here`, sent by name.)
    ``position``: the file's place in the batch, for cover sheets scanned as
    files of their own (:class:`_WorkerChain`); ``mark``: the coordinator's
    archive (:func:`archive_mark`), which the worker's must be.
    """
    return ingest_here(item, run_id, dest, position, mark)


def ingest_here(item: DropItem, run_id: str, dest: Destinations, position: int,
                mark: dict[str, str]) -> FileResult:
    """The body of :func:`ingest_on_worker`, in the worker process (see there)."""
    try:
        services = _WORKER.services(_worker_threads())
        _check_mark(_WORKER.mark(), mark)
    except DanganError as e:
        return FileResult(FileOutcome.failed(item, e), e)
    except Exception as e:  # noqa: BLE001 - a bug opening the services: the file waits, the batch stops
        home = _WORKER.home or default_home()
        failure: DanganError | None = disk_failure(e, (home,))
        if failure is None:
            error_id = record_error(e, home, context="dask worker")
            failure = OrchestrationError(f"a Dask worker could not open the archive ({type(e).__name__}); the file "
                                         f"stays in the drop folder. Details: error {error_id} in "
                                         f"{error_log_path(home)} on that worker.")
        return FileResult(FileOutcome.failed(item, failure), failure)
    from distributed import get_client

    link = _WorkerLink(get_client(), run_id, position)
    control = _WorkerControl(link)
    chain = _WorkerChain(link, wait=services.settings.file_timeout)
    with flow_context(services.settings, NullReporter(), control=control), using_chain(chain):
        outcome = ingest_file.fn(item, services, run_id, dest)
    return FileResult(outcome, control.halted_by)


def _worker_threads() -> int:
    """Threads of the Dask worker running the current task (1 outside a worker)."""
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ValueError, AttributeError):
        return 1


def worker_settings(threads: int) -> Settings:
    """The settings of a Dask worker process: its own environment, one OCR engine per worker thread.

    Each engine gets one CPU thread (``threads_per_worker`` of the worker's
    threads over as many CPUs); ``DANGAN_OCR_THREADS`` in the worker's
    environment overrides that.
    """
    settings = load_settings()
    ocr_threads = settings.ocr_threads or threads_per_worker(threads, cpus=threads)
    return settings.model_copy(update={"workers": threads, "ocr_threads": ocr_threads, "dask_address": None,
                                       "dask_workers": None})


class _WorkerServices:
    """The services of this worker process: opened on first use, kept for every later file, closed at shutdown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stack: ExitStack | None = None
        self._services: Services | None = None
        self._mark: dict[str, str] | None = None
        self.home: Path | None = None

    def services(self, threads: int) -> Services:
        """The open services (opening them from the worker's settings the first time)."""
        with self._lock:
            if self._services is None:
                settings = worker_settings(threads)
                self.home = settings.home
                _prepare_home(settings)
                stack = ExitStack()
                try:
                    self._services = stack.enter_context(open_services(settings))
                except BaseException:
                    stack.close()
                    raise
                self._stack = stack
                atexit.register(self.close)
            return self._services

    def mark(self) -> dict[str, str]:
        """The archive the open services serve (:func:`archive_mark`), read once."""
        with self._lock:
            if self._services is None:
                raise OrchestrationError("the worker's services are not open")
            if self._mark is None:
                self._mark = archive_mark(self._services.vault)
            return self._mark

    def close(self) -> None:
        """Close the services (the index engine's connections); they are opened again when needed."""
        with self._lock:
            stack, self._stack, self._services, self._mark = self._stack, None, None, None
        if stack is not None:
            with contextlib.suppress(Exception):
                stack.close()


_WORKER = _WorkerServices()


def _prepare_home(settings: Settings) -> None:
    """The worker's home (0700) and work folder; page images a killed worker left there long ago are removed.

    Worker processes of one machine may share the home: only what is older
    than the longest a file may take to read is taken away.
    """
    import shutil

    from flows.process import private_home

    private_home(settings.home)
    folder = work_folder(settings)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    cutoff = time.time() - settings.file_timeout - 600
    for entry in folder.iterdir():
        with contextlib.suppress(OSError):
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def limit_worker_threads(threads: int = 1) -> None:
    """Hold numeric libraries and OpenCV of this process to ``threads`` threads each (a Dask worker's share)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    import cv2

    cv2.setNumThreads(max(1, threads))


def prepare_worker(threads: int) -> None:
    """Ready this Dask worker process for ingest (``threads``: the worker's threads, one OCR engine each).

    One thread per library, umask 0077, quiet loggers, and the services opened
    in the background, so the first file does not wait for the OCR models (a
    failure to open them is met again, and reported, by the first file).
    """
    from flows.process import quiet_loggers

    os.umask(0o077)
    limit_worker_threads(1)
    quiet_loggers()
    if os.environ.get(_LOCAL_WORKER) == "1" and threading.current_thread() is threading.main_thread():
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator in the same terminal stops the batch
    threading.Thread(target=_open_quietly, args=(threads,), name="dangan-open-services", daemon=True).start()


def _open_quietly(threads: int) -> None:
    with contextlib.suppress(Exception):
        _WORKER.services(threads)


class IngestWorkerPlugin(WorkerPlugin):
    """Readies a Dask worker process for ingest (:func:`prepare_worker`) and closes its services at shutdown.

    The coordinator registers it at the start of every batch; the scheduler
    keeps it for the workers that join later, and a worker that has it keeps
    it (``idempotent``). Without it, the services are closed at process exit.
    """

    name = PLUGIN_NAME
    idempotent = True

    def setup(self, worker: Worker) -> None:
        """Ready the worker (see :func:`prepare_worker`)."""
        prepare_worker(max(1, int(worker.state.nthreads)))

    def teardown(self, worker: Worker) -> None:
        """Close this process's services."""
        _WORKER.close()


def dask_setup(worker: Worker) -> None:
    """``dask worker --preload flows.scaleout``: ready the worker at its start, before the first batch."""
    prepare_worker(max(1, int(worker.state.nthreads)))
