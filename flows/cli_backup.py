"""``dangan backup`` and ``dangan restore``: encrypted, verifiable backups (see :mod:`storage.backup`)."""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from schemas.errors import ExitCode, IntegrityError
from schemas.settings import Settings
from web.access import Action


def register(sub: Any) -> None:
    """Add ``dangan backup DEST [--verify]`` and ``dangan restore SRC [--verify-only]``."""
    backup = sub.add_parser("backup", help="back up the index (encrypted) and the sealed objects into a folder")
    backup.add_argument("dest", type=Path, help="backup folder (objects already in it are not copied again)")
    backup.add_argument("--verify", action="store_true", help="only check the backup in DEST, change nothing")
    backup.set_defaults(handler=cmd_backup, actions=(Action.BACKUP_RESTORE,))

    restore = sub.add_parser("restore", help="restore a backup into a new, empty archive (same master key)")
    restore.add_argument("src", type=Path, help="backup folder written by `dangan backup`")
    restore.add_argument("--verify-only", action="store_true", help="only check the backup, change nothing")
    restore.set_defaults(handler=cmd_restore, actions=(Action.BACKUP_RESTORE,))


def cmd_backup(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Write (or with --verify, check) a backup."""
    if args.verify:
        return _verify(args.dest, settings)
    from storage.backup import backup
    from storage.vault import Vault

    with closing(Vault.open(settings, identity=args.identity)) as vault:
        report = backup(vault.index, vault.store, vault.keys, args.dest)
        vault.audit("backup", detail={"backup_id": report.backup_id, "objects": report.objects,
                                      "copied": report.copied, "documents": report.rows.get("documents", 0)})
    print(f"backup {report.backup_id} written to {args.dest}: {report.rows.get('documents', 0)} document(s), "
          f"{sum(report.rows.values())} index row(s), {report.objects} object(s) "
          f"({report.copied} copied, {report.objects - report.copied} already there)")
    if report.unknown_tables:
        print(f"dangan: warning: tables not backed up (unknown to this dangan): {', '.join(report.unknown_tables)}",
              file=sys.stderr)
    if report.missing:
        raise IntegrityError(f"The backup was written, but {len(report.missing)} object(s) the index refers to are "
                             f"missing from the object store or changed while the backup ran (first: "
                             f"{report.missing[0]}); run the backup again, and if it says so again, those "
                             "documents cannot be restored from any backup.")
    return ExitCode.OK


def cmd_restore(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Restore a backup into an empty archive (or with --verify-only, check it)."""
    if args.verify_only:
        return _verify(args.src, settings)
    from storage.backup import restore
    from storage.keys import key_source
    from storage.vault import Vault

    report = restore(args.src, settings, key_source(settings).load())
    with closing(Vault.open(settings, identity=args.identity)) as vault:
        vault.audit("restore", detail={"backup_id": report.backup_id, "objects": report.objects,
                                       "documents": report.rows.get("documents", 0)})
    print(f"{'finished restoring' if report.resumed else 'restored'} backup {report.backup_id} into "
          f"{settings.home}: {report.rows.get('documents', 0)} document(s), {report.objects} object(s)")
    return ExitCode.OK


def _verify(folder: Path, settings: Settings) -> ExitCode:
    from storage.backup import verify
    from storage.keys import key_source

    report = verify(folder, key_source(settings).load())
    print(f"backup {report.backup_id} of {report.created_at} is intact: {report.rows.get('documents', 0)} "
          f"document(s), {report.objects} object(s), every file matches its SHA-256 and the manifest "
          f"authenticates under master key {report.master_key_id}")
    return ExitCode.OK
