"""Settings: one pydantic model, loaded once at the entry point.

Every value can be set through a ``DANGAN_*`` environment variable
(``DANGAN_DB_URL``, ``DANGAN_S3_ENDPOINT`` ...). Code below the entry point
receives a ``Settings`` object and never reads the environment itself.

The environment is read the way pydantic-settings reads it (names in any case,
values as text, values given to ``Settings(...)`` winning), by a few lines of
our own: importing pydantic-settings costs a cold ``dangan search`` more than
its whole query (bench/RESULTS.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from schemas.errors import ConfigError

OcrEngineName = Literal["rapidocr", "tesseract"]


#: Prefix of the environment variables naming settings.
ENV_PREFIX = "DANGAN_"


class Settings(BaseModel):
    """Runtime settings of dangan: ``Settings(**values)`` takes the values not given from the environment."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**environment_values(type(self)), **values})

    home: Path = Field(default_factory=lambda: default_home())
    db_url: str | None = None
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_bucket: str | None = None
    s3_secure: bool = False
    s3_region: str | None = None
    master_key_file: Path | None = None
    #: The keyring of shredding keys (storage/keyring.py): a SQLAlchemy URL (``DANGAN_KEYRING_URL``); unset: the
    #: SQLite file ``DANGAN_HOME/keyring.sqlite3``. Every host storing documents of the archive must reach it.
    keyring_url: str | None = None
    #: Command whose standard output is the master key (a KMS or vault client); see README "Keys".
    master_key_command: str | None = None
    #: systemd's credentials folder (CREDENTIALS_DIRECTORY, set for LoadCredential=); the key is
    #: read from its ``dangan-master-key`` file when there is one.
    credentials_directory: Path | None = Field(
        default=None, validation_alias=AliasChoices("credentials_directory", "CREDENTIALS_DIRECTORY"))

    #: Default OCR engine (the one that measured best in bench/RESULTS.md).
    ocr_engine: OcrEngineName = "rapidocr"
    #: Largest raster image accepted, in pixels (decompression bomb guard).
    max_pixels: int = 120_000_000
    #: PDF pages are rendered at their images' resolution, clamped to this range.
    render_dpi_max: int = 300
    render_dpi_min: int = 150
    #: Assumed resolution of an image file without DPI metadata.
    default_dpi: int = 300
    #: Largest page side in pixels handed to an OCR engine.
    max_side_px: int = 4000
    #: Seconds before an external program (tesseract, pdftoppm, qpdf) is stopped.
    program_timeout: float = 120.0
    #: Pages OCR'd in parallel (one engine each; each engine gets ``cores / workers`` threads).
    workers: int = Field(default=2, ge=1)
    #: Where the PP-OCR engine runs: ``cpu``, or ``cuda`` / ``cuda:N`` for ONNX Runtime's CUDA provider
    #: (GPU N). Without a CUDA-enabled ONNX Runtime and a GPU, the CPU is used and a warning says so.
    ocr_device: str = Field(default="cpu", pattern=r"^(cpu|cuda(:[0-9]+)?)$")
    #: CPU threads of one OCR engine; unset: the machine's cores shared among ``workers``
    #: (``ocr.engine_factory.threads_per_worker``). A Dask worker sets it to its share (one per worker thread).
    ocr_threads: int | None = Field(default=None, ge=1)
    #: Seconds a file's size and time must stay unchanged before it is taken from a drop folder
    #: (a scanner may still be writing it).
    settle_seconds: float = Field(default=5.0, ge=0)
    #: Most pages one file may have; counted before any page is drawn.
    max_pages: int = Field(default=500, ge=1)
    #: Seconds reading one page (clean-up and OCR) may take before the file is set aside.
    page_timeout: float = Field(default=300.0, gt=0)
    #: Seconds reading one whole file (every page, then its documents) may take.
    file_timeout: float = Field(default=3600.0, gt=0)

    #: Drop folders the nightly deployment ingests (``DANGAN_DROP_FOLDERS``: absolute paths separated by
    #: ``:``, or a JSON list).
    drop_folders: tuple[Path, ...] = ()

    #: ``dangan watch``: seconds between scans of the watched folders (with file events too: events can be lost).
    watch_interval: float = Field(default=10.0, gt=0)
    #: ``dangan watch``: longest a settled file waits for files still arriving with it before its batch starts.
    watch_batch_seconds: float = Field(default=30.0, ge=0)
    #: ``dangan watch``: scan only, never use file events (network shares give none for changes made elsewhere).
    watch_poll: bool = False

    #: Scale-out (``flows.scaleout``): the Dask scheduler ``dangan ingest`` hands its files to
    #: (``tcp://host:8786``); its workers run with their own ``DANGAN_*`` settings against the same
    #: object store and database.
    dask_address: str | None = None
    #: Scale-out on this machine: ``dangan ingest`` starts a Dask LocalCluster of this many
    #: single-threaded worker processes (ignored when ``dask_address`` is set).
    dask_workers: int | None = Field(default=None, ge=1)

    #: Where the audit log's head is anchored, outside the database (``DANGAN_AUDIT_ANCHOR``: an absolute
    #: file path, e.g. on another machine's share or write-once storage): one JSON line per anchor, written by
    #: ``dangan audit anchor`` and at the end of every ingest batch, checked by ``dangan audit verify``.
    audit_anchor: Path | None = None

    #: The company's completeness checklist (入档检查), a TOML file; default ``DANGAN_HOME/checklist.toml`` when it
    #: exists, else the built-in list (rules/checklist.py).
    checklist_file: Path | None = None

    #: Where stored sources go; default: ``done/`` beside the drop folder.
    done_dir: Path | None = None
    #: Where refused sources go; default: ``quarantine/`` beside the drop folder.
    quarantine_dir: Path | None = None

    #: The user a command acts as (``DANGAN_USER``); unset: the built-in local operator, when this OS
    #: account owns the archive (see ``flows.identity``).
    user: str | None = None
    #: Proof of ``user``: their password (``DANGAN_PASSWORD``) or a token from ``dangan user token``
    #: (``DANGAN_TOKEN``). The command line drops both once the user is proven.
    password: SecretStr | None = None
    token: SecretStr | None = None
    #: Name of whoever runs a batch, printed on its quality report: the command line puts the proven
    #: user's name here. The audit log records the proven identity, never this.
    actor: str = Field(default_factory=lambda: _login_name())

    @field_validator("user")
    @classmethod
    def _named_user(cls, name: str | None) -> str | None:
        return name.strip() or None if name is not None else None

    @field_validator("db_url")
    @classmethod
    def _known_database(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        dialect = url.split(":", 1)[0].split("+", 1)[0].lower()
        if dialect not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError(f"the index database must be SQLite or PostgreSQL (sqlite:///... or "
                             f"postgresql://...), not {dialect!r}")
        return url

    @field_validator("audit_anchor", mode="before")
    @classmethod
    def _absolute_anchor(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if value is not None and not Path(str(value)).is_absolute():
            raise ValueError(f"the audit anchor file must be an absolute path, not {value}")
        return value

    @field_validator("drop_folders", mode="before")
    @classmethod
    def _folder_list(cls, value: object) -> object:
        """Accept ``/a:/b`` or ``["/a", "/b"]`` from the environment; every folder must be absolute."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise ValueError("not a JSON list of folders; write /a:/b or [\"/a\", \"/b\"]") from None
            else:
                value = [part for part in text.split(os.pathsep) if part.strip()]
        if isinstance(value, list | tuple):
            relative = [str(v) for v in value if not Path(str(v)).is_absolute()]
            if relative:
                raise ValueError(f"drop folders must be absolute paths, not {', '.join(relative)}")
        return value

    @property
    def database_url(self) -> str:
        """SQLAlchemy URL of the index (SQLite file under home by default)."""
        return self.db_url or f"sqlite:///{self.home / 'index.sqlite3'}"

    @property
    def keyring_database_url(self) -> str:
        """SQLAlchemy URL of the keyring (a SQLite file beside the master key by default)."""
        return self.keyring_url or f"sqlite:///{self.home / 'keyring.sqlite3'}"

    @property
    def uses_s3(self) -> bool:
        """True when an S3 endpoint and bucket are configured."""
        return bool(self.s3_endpoint and self.s3_bucket)

    @property
    def master_key_path(self) -> Path:
        """File holding the 32-byte master key (created only by ``dangan keys init``)."""
        return self.master_key_file or self.home / "master.key"

    @property
    def objects_dir(self) -> Path:
        """Root of the embedded encrypted object store."""
        return self.home / "objects"


def environment_values(model: type[BaseModel]) -> dict[str, str]:
    """The settings the environment names, as text: ``DANGAN_<FIELD>`` in any case, or a field's own alias names.

    Values stay text; a field holding several values parses its text itself (``drop_folders``).
    """
    environ = {name.lower(): value for name, value in os.environ.items()}
    values: dict[str, str] = {}
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        names = ([str(a).lower() for a in alias.choices] if isinstance(alias, AliasChoices)
                 else [(ENV_PREFIX + name).lower()])
        found = next((environ[n] for n in names if n in environ), None)
        if found is not None:
            values[names[0] if isinstance(alias, AliasChoices) else name] = found
    return values


def default_home() -> Path:
    """``~/.dangan``: where the archive lives when DANGAN_HOME is not set."""
    return Path.home() / ".dangan"


def load_settings() -> Settings:
    """Settings from the environment; a bad value is a ConfigError naming the variable."""
    try:
        return Settings()
    except ValidationError as e:
        problems = "; ".join(
            f"DANGAN_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"invalid setting: {problems}") from None


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"
