"""Run the ingest flow from the command line: one run per archive, a private Prefect server, clean stops.

* One ingest per archive home: :class:`flows.services.HomeLock` is taken
  before anything else, so a second run is refused (exit code 11) instead of
  racing the first over the drop folder or Prefect's database migration.
* Without ``PREFECT_API_URL`` the run starts its own temporary Prefect server
  (the same uvicorn app Prefect's ephemeral mode starts) as a child that the
  kernel kills when this process dies, even by SIGKILL (``PR_SET_PDEATHSIG``):
  no server is left behind. Its state goes under ``DANGAN_HOME/prefect``, its
  output to ``server.log`` there, and Prefect's chatter stays below WARNING.
  A configured Prefect server (``PREFECT_API_URL``) is used as it is.
* The first SIGINT or SIGTERM stops the batch: no new file is begun, the
  stores under way finish (nothing is half stored), one line is printed and
  the process exits with 130 without waiting for the OCR under way. A second
  one exits at once: storing is idempotent and content-addressed, so a file
  cut short is simply done again by the next run.
* Everything the run writes under DANGAN_HOME is private to its owner
  (umask 0o077, home 0700; modes of an older home are tightened).
* When a warm worker (``dangan worker``, :mod:`flows.worker`) runs for the
  archive, the batch is handed to it instead: it has Prefect and the OCR
  pipeline loaded, takes the same lock, and reports progress, the summary and
  the outcome back, so the command prints the same and exits the same.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flows.context import Reporter, RunControl, flow_context
from flows.errorlog import record_error
from flows.process import private_home, quiet_loggers
from flows.signals import stop_on_signals
from flows.summary import IngestSummary
from schemas.errors import DanganError, OrchestrationError
from schemas.settings import Settings

#: Longest wait for the temporary Prefect server to answer.
SERVER_START_TIMEOUT = 90.0
#: Run in the child before it becomes the server: die with the parent (PR_SET_PDEATHSIG = 1, SIGKILL), and
#: give up if the parent already died in between (then the child was handed to another parent).
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)\n"
    "except (OSError, AttributeError):\n"
    "    pass  # not Linux: the server is stopped on the way out instead\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


def run_ingest(paths: list[str], *, settings: Settings, keep: bool, reporter: Reporter | None = None,
               control: RunControl | None = None, warm: bool = True) -> IngestSummary:
    """Run the ingest flow over ``paths`` with ``settings``; returns its summary.

    ``control`` (optional) lets the caller learn how the batch ended
    (:meth:`RunControl.exit_code`). Raises IngestBusy when another ingest holds
    the archive, DiskFull when the disk under DANGAN_HOME has no room.
    ``warm``: hand the batch to the archive's warm worker when one runs (the
    command line); False runs it in this process whatever runs beside it (the
    warm worker itself, the nightly deployment).
    """
    control = control or RunControl()
    if warm:
        from flows.worker_client import submit

        summary = submit(paths, settings=settings, keep=keep, reporter=reporter, control=control)
        if summary is not None:
            return summary
    return _run_here(paths, settings=settings, keep=keep, reporter=reporter, control=control)


def _run_here(paths: list[str], *, settings: Settings, keep: bool, reporter: Reporter | None,
              control: RunControl) -> IngestSummary:
    """Run the batch in this process: the lock, the archive check, Prefect (a temporary server if none is set)."""
    from flows.services import HomeLock, check_room, disk_failure

    previous_umask = os.umask(0o077)
    try:
        private_home(settings.home)
        check_room(settings.home)
        check_archive(settings)
        with HomeLock.acquire(settings.home) as lock, stop_on_signals(control), \
                quiet_prefect(settings) as server:
            from prefect.task_runners import ThreadPoolTaskRunner  # loaded while the server starts

            from flows.ingest import ingest

            quiet_loggers()
            if settings.dask_address or settings.dask_workers:  # scale-out over a Dask cluster
                from flows.scaleout import cluster_flow

                flow = cluster_flow(settings)
            else:
                runner: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(max_workers=max(1, settings.workers))
                flow = ingest.with_options(task_runner=runner)  # type: ignore[arg-type]  # Prefect's generic
            with server.ready() if server else contextlib.nullcontext(), \
                    flow_context(settings, reporter, control=control, home_lock=lock):
                try:
                    return flow(paths=paths, keep=keep)
                except DanganError:
                    raise
                except Exception as e:
                    if control.summary is not None:  # every file was settled; only Prefect's bookkeeping failed
                        record_error(e, settings.home, context="ingest")
                        return control.summary
                    disk = disk_failure(e, (settings.home,))
                    if disk is None:
                        raise
                    raise disk from e
    finally:
        os.umask(previous_umask)


# --------------------------------------------------------------------------- a private home


@contextmanager
def quiet_prefect(settings: Settings) -> Iterator[PrefectServer | None]:
    """Prefect settings for a command-line process: private home and server, no analytics, warnings only.

    Yields the temporary server as soon as it is launched (None when a Prefect
    server is configured): run flows inside its :meth:`PrefectServer.ready`,
    after loading what can load while it starts.
    """
    from prefect.settings import get_current_settings, temporary_settings

    home = settings.home / "prefect"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    defaults = {
        "home": home,
        "server.database.connection_url": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "server.analytics_enabled": False,
        "server.ephemeral.enabled": True,
        "server.ephemeral.startup_timeout_seconds": 90,
        "logging.to_api.enabled": False,
    }
    quiet_loggers()
    with temporary_settings(set_defaults=defaults), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if get_current_settings().api.url:  # a configured Prefect server
            yield None
            return
        env = get_current_settings().to_environment_variables(exclude_unset=True)
        with PrefectServer(home, env) as server:
            yield server


class PrefectServer:
    """A temporary Prefect API server on 127.0.0.1 that cannot outlive this process.

    The same app Prefect's ephemeral mode starts
    (``prefect.server.api.server.SubprocessASGIServer``), started the same way,
    but as a child with ``PR_SET_PDEATHSIG``: the kernel kills it when the thread
    that started it dies, however it dies. It runs in its own session, so a
    Ctrl-C at the terminal reaches dangan, which stops the batch, and not the
    server the batch still talks to. Start it from the thread that lives for
    the whole run (the main thread of the command line).
    """

    def __init__(self, home: Path, prefect_env: dict[str, str], *,
                 timeout: float = SERVER_START_TIMEOUT) -> None:
        self.home = home
        self.log_path = home / "server.log"
        self._env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                     "PREFECT__SERVER_FINAL": "1", **prefect_env}
        self._timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def api_url(self) -> str:
        """The server's API URL (``PREFECT_API_URL``)."""
        return f"http://127.0.0.1:{self.port}/api"

    def __enter__(self) -> PrefectServer:
        self.launch()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextmanager
    def ready(self) -> Iterator[None]:
        """Wait until the server answers, then point Prefect at it for the block."""
        from prefect.settings import temporary_settings

        self.wait_ready()
        with temporary_settings(updates={"api.url": self.api_url}):
            yield

    def launch(self) -> None:
        """Start the server process on a free port (it answers a few seconds later: :meth:`wait_ready`)."""
        import prefect

        app_dir = str(Path(prefect.__file__).resolve().parent.parent)
        self.port = _free_port()
        uvicorn = ["-m", "uvicorn", "--app-dir", app_dir, "--factory", "prefect.server.api.server:create_app",
                   "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), *uvicorn], env=self._env,
                stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, start_new_session=True)
        finally:
            os.close(fd)

    def wait_ready(self) -> None:
        """Wait until the server answers (OrchestrationError when it does not start in time)."""
        deadline = time.monotonic() + self._timeout
        for _ in range(5):  # another process may take the chosen port first: uvicorn then exits with 3
            if self._wait_healthy(deadline):
                return
            if self.process is None or self.process.poll() != 3 or time.monotonic() > deadline:
                break
            self.launch()
        self.stop()
        raise OrchestrationError(f"The temporary Prefect server did not start (see {self.log_path}); the files "
                                 "wait in the drop folder. Run the same command again.")

    def _wait_healthy(self, deadline: float) -> bool:
        if self.process is None:
            return False
        url = f"{self.api_url}/health"
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(OSError, urllib.error.URLError):
                with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - our own loopback server
                    if r.status == 200:
                        return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """Stop the server: SIGTERM, up to 5 s, then SIGKILL."""
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- stopping


def check_archive(settings: Settings) -> None:
    """Open and close the archive once, before Prefect starts.

    A missing or wrong master key, a bad database or an unreachable index stops
    the run in a second, not after the server's start.
    """
    from storage.vault import Vault

    Vault.open(settings).close()
