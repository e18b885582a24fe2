"""One error hierarchy for dangan.

Every error carries a stable ``code`` (used in quarantine reasons and the
error log), the process ``exit_code`` the command line returns for it, a
``retryable`` flag (used only by flows to decide on retries) and a
user-facing message that says what is wrong and what to do. Code never
classifies an error by matching its message text.

``ExitCode`` is the one list of the command line's exit codes; the README
lists the same.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of ``dangan`` (documented in the README)."""

    OK = 0
    INTERNAL = 1  # a bug: the one-line message names the error id in the error log
    USAGE = 2
    INCOMPLETE = 3  # some files could not be handled and stay in the drop folder for the next run
    ACCESS_DENIED = 4
    NOT_FOUND = 5
    CONFIG = 6  # settings, master key, database URL
    STORAGE = 7  # object store, local disk
    INDEX = 8  # the SQL index
    BAD_INPUT = 9
    INTEGRITY = 10  # stored data failed authentication
    BUSY = 11  # another run holds the lock
    AUDIT_BROKEN = 12  # ``dangan audit verify``: the audit log's hash chain is broken
    INTERRUPTED = 130


class DanganError(Exception):
    """Base of all dangan errors."""

    code: str = "error"
    exit_code: ExitCode = ExitCode.INTERNAL
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- bad input: never retried, the file is quarantined with the message ---


class InputRejected(DanganError):
    """The input file cannot be archived as it is; it goes to quarantine."""

    code = "rejected"
    exit_code = ExitCode.BAD_INPUT


class EmptyFile(InputRejected):
    """Zero-byte file."""

    code = "empty_file"


class TruncatedFile(InputRejected):
    """The file ends before its structure is complete."""

    code = "truncated"


class CorruptFile(InputRejected):
    """The file's structure is damaged beyond repair."""

    code = "corrupt"


class EncryptedPdf(InputRejected):
    """Password-protected PDF; passwords are never guessed."""

    code = "encrypted_pdf"


class UnsupportedType(InputRejected):
    """Not one of the supported formats (PDF, TIFF, JPEG, PNG, BMP, WebP)."""

    code = "unsupported_type"


class ImageTooLarge(InputRejected):
    """Pixel count above the configured limit (decompression bomb guard)."""

    code = "image_too_large"


class NoPages(InputRejected):
    """The document has no page left to archive."""

    code = "no_pages"


# --- outside systems: may be retried by flows ---


class EngineError(DanganError):
    """An OCR engine or external program failed."""

    code = "engine_error"
    retryable = True


class EngineTimeout(EngineError):
    """An external program did not finish within its timeout."""

    code = "engine_timeout"


class EngineUnavailable(EngineError):
    """An OCR engine or program is not installed."""

    code = "engine_unavailable"
    retryable = False


class StorageError(DanganError):
    """The object store refused or failed an operation."""

    code = "storage_error"
    exit_code = ExitCode.STORAGE
    retryable = True


class StorageAuthError(StorageError):
    """The object store refused the credentials or the bucket policy (not retried)."""

    code = "storage_auth"
    retryable = False


class PlaintextRefused(StorageError):
    """A caller tried to store bytes that are not a sealed blob (a bug, never retried)."""

    code = "plaintext_refused"
    retryable = False


class IndexUnavailable(DanganError):
    """The SQL index could not be reached or written."""

    code = "index_error"
    exit_code = ExitCode.INDEX
    retryable = True


class IntegrityError(DanganError):
    """Stored data failed authentication (wrong key, tampering, destroyed key)."""

    code = "integrity_error"
    exit_code = ExitCode.INTEGRITY


class KeyDestroyed(IntegrityError):
    """The data key of this object was destroyed (crypto-shredded)."""

    code = "key_destroyed"


class ConfigError(DanganError):
    """Settings are missing or inconsistent."""

    code = "config_error"
    exit_code = ExitCode.CONFIG


class AccessDenied(DanganError):
    """The acting role may not do this."""

    code = "access_denied"
    exit_code = ExitCode.ACCESS_DENIED


class NotFound(DanganError):
    """The asked-for document or archive does not exist."""

    code = "not_found"
    exit_code = ExitCode.NOT_FOUND


class SourceChanged(DanganError):
    """The input file changed while it was being read (a scanner still writing)."""

    code = "source_changed"
    retryable = True


class UnexpectedError(DanganError):
    """A bug met while handling one file; the file is set aside and the batch goes on."""

    code = "internal_error"


class OutputUnwritable(DanganError):
    """A file the user asked for (an export, a report) cannot be written where they said."""

    code = "output_unwritable"
    exit_code = ExitCode.STORAGE


# --- master key and backups ---


class MasterKeyMissing(ConfigError):
    """No master key where the settings point; dangan never creates one in its place."""

    code = "master_key_missing"
    exit_code = ExitCode.CONFIG


class WrongMasterKey(ConfigError):
    """The master key does not unlock this archive or this backup."""

    code = "wrong_master_key"
    exit_code = ExitCode.CONFIG


class MasterKeyExposed(ConfigError):
    """The master key file may be read or changed by other users, or belongs to another user."""

    code = "master_key_exposed"
    exit_code = ExitCode.CONFIG


class ArchiveExists(ConfigError):
    """First-time setup (or a restore) refused: a key or an archive is already there."""

    code = "archive_exists"
    exit_code = ExitCode.CONFIG


class BackupDamaged(IntegrityError):
    """A backup failed verification: a file is missing, altered, or not made under this master key."""

    code = "backup_damaged"
    exit_code = ExitCode.INTEGRITY


# --- drop folders, page counts, time limits ---


class TooManyPages(InputRejected):
    """More pages than the configured limit (``max_pages``), found before any page is drawn."""

    code = "too_many_pages"
    exit_code = ExitCode.BAD_INPUT


class LinkRefused(InputRejected):
    """A link (symbolic link) in a drop folder: links are never followed."""

    code = "link_refused"
    exit_code = ExitCode.BAD_INPUT


class LinkLoop(LinkRefused):
    """A link that points back to itself, directly or through other links."""

    code = "link_loop"


class DanglingLink(LinkRefused):
    """A link whose target does not exist (or cannot be reached)."""

    code = "dangling_link"


class LinkOutside(LinkRefused):
    """A link to a file or folder outside the drop folder."""

    code = "link_outside"


class StillBeingWritten(SourceChanged):
    """The file's size or time changed within the settle time: a scanner or a copy is still writing it.

    The file stays in the drop folder and the next run takes it.
    """

    code = "still_being_written"
    exit_code = ExitCode.INCOMPLETE


# --- ingest runs: one at a time per archive, stopping, the local disk ---


class IngestBusy(DanganError):
    """Another ingest run holds the archive's lock: one ingest per archive home at a time."""

    code = "busy"
    exit_code = ExitCode.BUSY


class IngestInterrupted(DanganError):
    """The run was asked to stop (Ctrl-C, SIGTERM) before this file was stored; it stays in the drop folder."""

    code = "interrupted"
    exit_code = ExitCode.INTERRUPTED


class DiskUnwritable(StorageError):
    """The local disk under the archive home (or the embedded store) cannot be written: read-only or full.

    Not retried within a run (waiting seconds does not free a disk): the file
    stays in the drop folder and the next run takes it once the disk is writable.
    """

    code = "disk_unwritable"
    retryable = False


class DiskFull(DiskUnwritable):
    """No space left (or the quota is used up) on the disk under the archive home or the embedded store."""

    code = "disk_full"


class OrchestrationError(DanganError):
    """Prefect, which runs the batch, failed on a file; the file stays in the drop folder for the next run."""

    code = "orchestration_error"
    exit_code = ExitCode.INCOMPLETE
    retryable = True


# --- users, sign-in and requests to the archive service ---


class InvalidRequest(DanganError):
    """A request given directly (a user name, a role, a password too short) that cannot be carried out as given."""

    code = "invalid_request"
    exit_code = ExitCode.BAD_INPUT


class SignInFailed(AccessDenied):
    """A user name with a wrong password or token, an unknown name, or a disabled account (never said which)."""

    code = "sign_in_failed"


class SignInThrottled(AccessDenied):
    """Too many failed sign-ins for this name or address: refused for a while, whatever the password."""

    code = "sign_in_throttled"
