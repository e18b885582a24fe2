"""Choosing the object store: the factory, apart from the ``ObjectStore`` protocol and its implementations."""

from __future__ import annotations

from schemas.errors import ConfigError
from schemas.settings import Settings
from storage.objects import LocalObjectStore, ObjectStore


def make_object_store(settings: Settings) -> ObjectStore:
    """Return the S3 store when an endpoint and bucket are configured, else the embedded local store."""
    if not settings.uses_s3:
        return LocalObjectStore(settings.objects_dir)
    if not settings.s3_access_key or settings.s3_secret_key is None:
        raise ConfigError("DANGAN_S3_ENDPOINT is set but DANGAN_S3_ACCESS_KEY or DANGAN_S3_SECRET_KEY "
                          "is missing; set both.")
    from storage.s3 import S3ObjectStore

    return S3ObjectStore(str(settings.s3_endpoint), settings.s3_access_key,
                         settings.s3_secret_key.get_secret_value(), str(settings.s3_bucket),
                         secure=settings.s3_secure, region=settings.s3_region)
