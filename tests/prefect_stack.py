"""A real Prefect stack for tests and benchmarks: ``prefect server start`` and ``prefect worker start`` processes.

Everything runs on 127.0.0.1 with its own PREFECT_HOME under a temporary
folder, and every process is started in its own session so that stopping it
stops what it started too (the worker's flow-run processes).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFECT = Path(sys.executable).parent / "prefect"
REPO = Path(__file__).resolve().parent.parent
#: States a flow run ends in.
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(prefect_home: Path, **more: str) -> dict[str, str]:
    """The environment of a Prefect process of this stack (no outside profile, no analytics)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_UI_ENABLED": "false", "PREFECT_CLI_COLORS": "false", "PREFECT_CLI_WRAP_LINES": "false",
                "COLUMNS": "200"})
    env.update(more)
    return env


@dataclass
class PrefectStack:
    """A Prefect server on a free port and the processes started against it."""

    root: Path
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def env(self, **more: str) -> dict[str, str]:
        return base_env(self.root / "prefect-client", PREFECT_API_URL=self.api_url, **more)

    def start_server(self, timeout: float = 120) -> None:
        """``prefect server start`` (no scheduler: scheduled runs are not wanted in a test) until healthy."""
        (self.root / "prefect-server").mkdir(parents=True, exist_ok=True)
        env = base_env(self.root / "prefect-server")
        self._start([str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(self.port),
                     "--no-scheduler", "--no-ui"], env, self.root / "server.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[0].poll() is not None:
                raise RuntimeError(f"prefect server exited: {(self.root / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.3)
        raise RuntimeError("prefect server did not answer in time")

    def cli(self, *args: str, env: dict[str, str] | None = None, cwd: Path = REPO,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run a ``prefect`` command against this server."""
        return subprocess.run([str(PREFECT), *args], env=env or self.env(), cwd=cwd, capture_output=True,
                              text=True, timeout=timeout)

    def start_worker(self, pool: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """``prefect worker start --pool POOL`` with ``env`` (which names this server)."""
        return self._start([str(PREFECT), "worker", "start", "--pool", pool, "--limit", "1"], env, log)

    def _start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> int | None:
        """SIGTERM ``proc`` (as systemd or an operator stops it); its exit code, None if it did not exit in time."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        return proc.returncode

    def kill_leftovers(self) -> None:
        """Clean-up after a failed check: SIGKILL every process group this stack started, and the flow-run
        processes its workers started in sessions of their own (their environment names this stack's folder)."""
        for proc in reversed(self.processes):
            _signal_group(proc.pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait()
        for pid in _naming(self.root):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    # --- the API, read with plain HTTP

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.api_url}{path}", timeout=10) as r:
            return json.loads(r.read())

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(f"{self.api_url}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())

    def flow_run(self, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/flow_runs/{run_id}"))

    def wait_for_run(self, run_id: str, timeout: float, *, until: set[str] = FINAL_STATES,
                     name: str | None = None) -> dict[str, Any]:
        """Poll the flow run until its state type is in ``until`` (or its state name is ``name``)."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            run = self.flow_run(run_id)
            state = run.get("state") or {}
            if state.get("type") in until or (name is not None and state.get("name") == name):
                return run
            time.sleep(0.5)
        raise AssertionError(f"flow run {run_id} still {(run.get('state') or {}).get('name')} after {timeout} s")

    def run_logs(self, run_id: str) -> list[str]:
        logs = self.post("/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC"})
        return [str(entry.get("message", "")) for entry in logs]


def run_id_from(output: str) -> str:
    """The flow run id that ``prefect deployment run`` printed."""
    found = re.search(r"UUID:\s*([0-9a-f-]{36})", output) or re.search(r"([0-9a-f]{8}-[0-9a-f-]{27})", output)
    if not found:
        raise AssertionError(f"no flow run id in: {output}")
    return found.group(1)


def _naming(folder: Path) -> list[int]:
    """Pids of live processes whose environment or command line names ``folder``."""
    needle = str(folder).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if needle in Path(f"/proc/{entry}/environ").read_bytes() or \
                    needle in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return found


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
