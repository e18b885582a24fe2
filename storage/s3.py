"""S3 object store through the minio SDK (MinIO in production, any S3 API).

Imported only when an S3 endpoint is configured, so the search path stays light.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error
from urllib3.exceptions import HTTPError as Urllib3Error

from schemas.errors import ConfigError, DiskFull, NotFound, StorageAuthError, StorageError
from storage.objects import check_key, check_sealed

_AUTH_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
                         "InvalidToken", "ExpiredToken"})
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})
#: Refusals that another attempt a few seconds later would meet again (not retried within a run).
_FULL_CODES = frozenset({"XMinioStorageFull", "QuotaExceeded", "XMinioAdminBucketQuotaExceeded"})


class S3ObjectStore:
    """Any S3 API through the ``minio`` SDK, with bounded timeouts and retries.

    The bucket is created on first use if missing. Every failure becomes a
    StorageError (StorageAuthError for refused credentials) naming what to check.
    """

    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str, *,
                 secure: bool = False, region: str | None = None,
                 connect_timeout: float = 5.0, read_timeout: float = 60.0, retries: int = 2) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=urllib3.Retry(total=retries, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504),
                                  raise_on_status=False),
            maxsize=10,
        )
        try:
            self._client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure,
                                 region=region, http_client=http)
        except ValueError as e:
            raise ConfigError(f"Invalid S3 endpoint {endpoint!r}: {e}. Use host:port without a scheme "
                              "(DANGAN_S3_ENDPOINT).") from e
        self._bucket_ready = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3ObjectStore(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    @contextmanager
    def _errors(self, op: str, key: str) -> Iterator[None]:
        """Map SDK and HTTP failures to NotFound / StorageAuthError / StorageError."""
        try:
            yield
        except S3Error as e:
            if e.code in _MISSING_CODES:
                raise NotFound(f"Object {key} is not in bucket {self.bucket!r}.") from e
            if e.code in _AUTH_CODES:
                raise StorageAuthError(
                    f"S3 {op} {key} refused ({e.code}) by {self.endpoint}: check DANGAN_S3_ACCESS_KEY / "
                    f"DANGAN_S3_SECRET_KEY and that they may read and write bucket {self.bucket!r}.") from e
            if e.code in _FULL_CODES:
                raise DiskFull(f"The object store {self.endpoint} is full ({e.code}) and refused {op} {key}: "
                               "free space or raise the bucket quota, then run the same command again; "
                               "the files wait in the drop folder.") from e
            raise self._failed(op, key, e.code or "S3Error") from e
        except (MinioException, Urllib3Error) as e:
            raise self._failed(op, key, type(e).__name__) from e

    def _failed(self, op: str, key: str, code: str) -> StorageError:
        return StorageError(f"S3 {op} {key} failed ({code}) at {self.endpoint}: check that the server is up "
                            f"and reachable (DANGAN_S3_ENDPOINT) and that bucket {self.bucket!r} exists.")

    def ready(self) -> None:
        """Reach the server and make sure the bucket exists."""
        self.ensure_bucket()

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet (checked once per store)."""
        if self._bucket_ready:
            return
        with self._lock:
            if self._bucket_ready:
                return
            try:
                with self._errors("bucket check", self.bucket):
                    if not self._client.bucket_exists(self.bucket):
                        self._make_bucket()
            except ValueError as e:
                raise ConfigError(f"Invalid S3 bucket name {self.bucket!r} (DANGAN_S3_BUCKET).") from e
            self._bucket_ready = True

    def _make_bucket(self) -> None:
        try:
            self._client.make_bucket(self.bucket)
        except S3Error as e:
            if e.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):  # lost a race: fine
                raise

    def put(self, key: str, data: bytes, *, metadata: dict[str, str]) -> None:
        """Upload ``data`` (multipart above 16 MiB), overwriting any previous object."""
        check_sealed(check_key(key), data)
        self.ensure_bucket()
        with self._errors("put", key):
            self._client.put_object(self.bucket, key, io.BytesIO(data), len(data),
                                    content_type="application/octet-stream", metadata=dict(metadata),
                                    part_size=16 * 1024 * 1024)

    def get(self, key: str) -> bytes:
        """Download the object."""
        self.ensure_bucket()
        with self._errors("get", check_key(key)):
            response = self._client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def metadata(self, key: str) -> dict[str, str]:
        """Return the user metadata stored with ``key``."""
        self.ensure_bucket()
        with self._errors("stat", check_key(key)):
            stat = self._client.stat_object(self.bucket, key)
        prefix = "x-amz-meta-"
        return {k[len(prefix):].lower(): v for k, v in (stat.metadata or {}).items()
                if k.lower().startswith(prefix)}

    def exists(self, key: str) -> bool:
        """Tell whether ``key`` is stored (HEAD request)."""
        try:
            self.metadata(key)
        except NotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """Remove the object (S3 delete is idempotent)."""
        self.ensure_bucket()
        with self._errors("delete", check_key(key)):
            self._client.remove_object(self.bucket, key)

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix`` (recursive)."""
        self.ensure_bucket()
        with self._errors("list", prefix):
            for obj in self._client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if obj.object_name is not None:
                    yield obj.object_name
