"""Object stores: the embedded local store and S3 against a real SeaweedFS server."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.errors import NotFound, PlaintextRefused, StorageAuthError, StorageError
from schemas.settings import Settings
from storage.crypto import DataKey, read_header
from storage.keys import MasterKey
from storage.objects import (
    LocalObjectStore,
    ObjectStore,
    load_sealed,
    ocr_key,
    original_key,
    store_sealed,
)
from storage.s3 import S3ObjectStore
from storage.stores import make_object_store
from tests.s3server import SeaweedServer, free_ports

SHA_A = "ab" + "0" * 62
SHA_B = "cd" + "1" * 62
SECRETS = ("王伟", "11010519491231002X", "13812345678")
PLAINTEXT = f"业主姓名 {SECRETS[0]} 身份证 {SECRETS[1]} 电话 {SECRETS[2]}".encode() * 20


@pytest.fixture
def master(tmp_path: Path) -> MasterKey:
    return MasterKey.load_or_create(tmp_path / "master.key")


def _bucket() -> str:
    return f"dangan-test-{secrets.token_hex(4)}"


def _s3(server: SeaweedServer, bucket: str | None = None, **kw: float) -> S3ObjectStore:
    return S3ObjectStore(server.endpoint, server.access_key, server.secret_key, bucket or _bucket(), **kw)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    return _s3(request.getfixturevalue("s3_server"))


# --------------------------------------------------------------------------- both stores


def test_keys_are_content_addressed() -> None:
    assert original_key(SHA_A) == f"originals/ab/{SHA_A}"
    assert ocr_key(SHA_B) == f"ocr/cd/{SHA_B}.json"
    with pytest.raises(ValueError, match="sha256"):
        original_key("../../etc/passwd")


def test_put_get_exists_list_delete(store: ObjectStore, master: MasterKey) -> None:
    dek = DataKey.generate(master)
    stored = store_sealed(store, original_key(SHA_A), PLAINTEXT, dek, metadata={"kind": "pdf"})
    store_sealed(store, ocr_key(SHA_A), b'{"pages": []}', dek)
    store_sealed(store, original_key(SHA_B), b"other", dek)
    assert stored.key == original_key(SHA_A)
    assert stored.key_id == dek.dek_id
    assert stored.size == len(store.get(original_key(SHA_A)))

    assert store.exists(original_key(SHA_A))
    assert not store.exists(original_key("ef" * 32))
    assert load_sealed(store, original_key(SHA_A), dek) == PLAINTEXT
    assert sorted(store.list("originals/")) == sorted([original_key(SHA_A), original_key(SHA_B)])
    assert list(store.list("ocr/")) == [ocr_key(SHA_A)]
    assert list(store.list("originals/ab/")) == [original_key(SHA_A)]
    assert list(store.list("nothing/")) == []
    assert store.metadata(original_key(SHA_A))["kind"] == "pdf"  # type: ignore[attr-defined]

    store.delete(original_key(SHA_A))
    store.delete(original_key(SHA_A))  # deleting twice is fine
    assert not store.exists(original_key(SHA_A))
    with pytest.raises(NotFound):
        store.get(original_key(SHA_A))
    assert sorted(store.list("")) == sorted([ocr_key(SHA_A), original_key(SHA_B)])


def test_overwrite_is_idempotent(store: ObjectStore, master: MasterKey) -> None:
    dek = DataKey.generate(master)
    key = original_key(SHA_A)
    store_sealed(store, key, b"first version", dek)
    store_sealed(store, key, PLAINTEXT, dek)
    store_sealed(store, key, PLAINTEXT, dek)
    assert load_sealed(store, key, dek) == PLAINTEXT
    assert list(store.list("")) == [key]


def test_plaintext_is_refused(store: ObjectStore) -> None:
    with pytest.raises(PlaintextRefused):
        store.put(original_key(SHA_A), PLAINTEXT, metadata={})
    assert not store.exists(original_key(SHA_A))


@pytest.mark.parametrize("key", ["../escape", "/abs/path", "a//b", "x/.hidden", "x/y.meta.json", ""])
def test_bad_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        store.put(key, b"DGNE" + b"\0" * 60, metadata={})


# --------------------------------------------------------------------------- local store


def test_local_crash_during_write_leaves_old_object_and_no_partial_file(
    tmp_path: Path, master: MasterKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    dek = DataKey.generate(master)
    key = original_key(SHA_A)
    store_sealed(store, key, b"old content", dek)

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StorageError):
        store_sealed(store, key, PLAINTEXT, dek)
    monkeypatch.undo()
    assert load_sealed(store, key, dek) == b"old content"
    files = sorted(p.name for p in (tmp_path / "objects").rglob("*") if p.is_file())
    assert files == [SHA_A, SHA_A + ".meta.json"]  # no temp file left behind


def test_local_store_hides_leftover_temp_files(tmp_path: Path, master: MasterKey) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store_sealed(store, original_key(SHA_A), PLAINTEXT, DataKey.generate(master))
    leftover = tmp_path / "objects" / "originals" / "ab" / ".tmp-deadbeef"
    leftover.write_bytes(b"DGNE partial")
    assert list(store.list("")) == [original_key(SHA_A)]


def test_local_files_are_private_and_sealed(tmp_path: Path, master: MasterKey) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store_sealed(store, original_key(SHA_A), PLAINTEXT, DataKey.generate(master))
    for path in (tmp_path / "objects").rglob("*"):
        if path.is_file():
            assert path.stat().st_mode & 0o077 == 0
            for secret in SECRETS:
                assert secret.encode() not in path.read_bytes()


def test_make_object_store_picks_local_without_s3(tmp_path: Path) -> None:
    store = make_object_store(Settings(home=tmp_path))
    assert isinstance(store, LocalObjectStore)
    assert store.root == tmp_path / "objects"


# --------------------------------------------------------------------------- S3 failures


@pytest.mark.integration
def test_make_object_store_picks_s3(s3_server: SeaweedServer, master: MasterKey, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, s3_endpoint=s3_server.endpoint, s3_access_key=s3_server.access_key,
                        s3_secret_key=s3_server.secret_key, s3_bucket=_bucket())
    store = make_object_store(settings)
    assert isinstance(store, S3ObjectStore)
    dek = DataKey.generate(master)
    store_sealed(store, original_key(SHA_A), PLAINTEXT, dek)
    assert load_sealed(store, original_key(SHA_A), dek) == PLAINTEXT


@pytest.mark.integration
@pytest.mark.parametrize("which", ["secret", "access"])
def test_wrong_credentials_fail_fast(s3_server: SeaweedServer, master: MasterKey, which: str) -> None:
    access = "nobody" if which == "access" else s3_server.access_key
    secret = "wrong-secret" if which == "secret" else s3_server.secret_key
    store = S3ObjectStore(s3_server.endpoint, access, secret, _bucket())
    started = time.monotonic()
    with pytest.raises(StorageAuthError) as info:
        store_sealed(store, original_key(SHA_A), PLAINTEXT, DataKey.generate(master))
    assert time.monotonic() - started < 5
    assert not info.value.retryable
    assert "DANGAN_S3_ACCESS_KEY" in info.value.message
    assert secret not in info.value.message


@pytest.mark.integration
def test_unused_port_fails_within_seconds(master: MasterKey) -> None:
    (port,) = free_ports(1)
    store = S3ObjectStore(f"127.0.0.1:{port}", "key", "secret", _bucket())
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        store_sealed(store, original_key(SHA_A), PLAINTEXT, DataKey.generate(master))
    assert time.monotonic() - started < 5
    assert info.value.retryable
    assert "DANGAN_S3_ENDPOINT" in info.value.message
    with pytest.raises(StorageError):
        store.get(original_key(SHA_A))


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (a hung S3 endpoint)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    sock.close()


@pytest.mark.integration
def test_hung_server_times_out(silent_server: str, master: MasterKey) -> None:
    store = S3ObjectStore(silent_server, "key", "secret", _bucket(), read_timeout=1.0, retries=1)
    started = time.monotonic()
    with pytest.raises(StorageError):
        store_sealed(store, original_key(SHA_A), PLAINTEXT, DataKey.generate(master))
    assert time.monotonic() - started < 10


@pytest.mark.integration
@pytest.mark.slow
def test_stopped_server_fails_within_seconds(tmp_path: Path, master: MasterKey) -> None:
    from tests.s3server import find_weed

    weed = find_weed()
    if weed is None:
        pytest.skip("SeaweedFS `weed` not found")
    server = SeaweedServer(weed=weed, workdir=tmp_path / "seaweed")
    server.start()
    store = _s3(server)
    dek = DataKey.generate(master)
    store_sealed(store, original_key(SHA_A), PLAINTEXT, dek)
    server.stop()
    started = time.monotonic()
    with pytest.raises(StorageError):
        store.get(original_key(SHA_A))
    with pytest.raises(StorageError):
        store_sealed(store, original_key(SHA_B), PLAINTEXT, dek)
    assert time.monotonic() - started < 10


# --------------------------------------------------------------------------- what the bucket holds


@pytest.mark.integration
def test_bucket_holds_no_plaintext(s3_server: SeaweedServer, master: MasterKey) -> None:
    bucket = _bucket()
    store = _s3(s3_server, bucket)
    dek = DataKey.generate(master)
    store_sealed(store, original_key(SHA_A), PLAINTEXT, dek, metadata={"source-kind": "pdf"})
    store_sealed(store, ocr_key(SHA_A), PLAINTEXT.decode().encode("utf-8"), dek)

    raw = s3_server.client()  # straight to the server, around our store
    names = [o.object_name for o in raw.list_objects(bucket, recursive=True)]
    assert sorted(names) == sorted([original_key(SHA_A), ocr_key(SHA_A)])
    for name in names:
        response = raw.get_object(bucket, name)
        try:
            body = response.read()
        finally:
            response.close()
            response.release_conn()
        assert body.startswith(b"DGNE")
        assert read_header(body).dek_id == dek.dek_id
        stat = raw.stat_object(bucket, name)
        visible = body + repr(stat.metadata).encode()
        for secret in SECRETS:
            assert secret.encode() not in visible
            assert secret.encode("utf-16-le") not in visible


@pytest.mark.integration
def test_s3_timings(s3_server: SeaweedServer, master: MasterKey) -> None:
    """Measure put/get of 1 MB sealed objects (printed with -s; a sanity bound only)."""
    store = _s3(s3_server)
    dek = DataKey.generate(master)
    payload = os.urandom(1024 * 1024)
    n = 20
    keys = [original_key(f"{i:02x}" + "e" * 62) for i in range(n)]
    started = time.perf_counter()
    for key in keys:
        store_sealed(store, key, payload, dek)
    put_s = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for key in keys:
        assert load_sealed(store, key, dek) == payload
    get_s = (time.perf_counter() - started) / n
    print(f"\nS3 (SeaweedFS) 1 MiB sealed: put {put_s * 1000:.1f} ms, get+open {get_s * 1000:.1f} ms")
    assert put_s < 2 and get_s < 2


@pytest.mark.integration
@pytest.mark.slow
def test_large_original_multipart(s3_server: SeaweedServer, master: MasterKey) -> None:
    """A 50 MB original goes up in 16 MiB parts and comes back intact."""
    store = _s3(s3_server)
    dek = DataKey.generate(master)
    payload = os.urandom(50 * 1024 * 1024)
    started = time.perf_counter()
    store_sealed(store, original_key(SHA_A), payload, dek)
    put_s = time.perf_counter() - started
    started = time.perf_counter()
    assert load_sealed(store, original_key(SHA_A), dek) == payload
    print(f"\nS3 50 MiB sealed: put {put_s:.2f} s, get+open {time.perf_counter() - started:.2f} s")
