"""``dangan gc``: list, and with ``--delete`` remove, stored objects no index row refers to.

Such orphans come from runs killed between storing a file's objects and
committing its rows, and from destroyed documents. Listing is the default;
nothing younger than the grace period (24 hours unless ``--grace-hours``)
is ever deleted, so collecting cannot race an ingest running now.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from contextlib import closing
from typing import Any

from schemas.errors import ExitCode
from schemas.settings import Settings
from web.access import Action


def register(sub: Any) -> None:
    """Add ``dangan gc [--delete] [--grace-hours H] [--json]``."""
    gc = sub.add_parser("gc", help="list (or --delete) stored objects that no index row refers to")
    gc.add_argument("--delete", action="store_true", help="delete them (default: only list them)")
    gc.add_argument("--grace-hours", type=float, default=24.0, metavar="H",
                    help="never touch objects younger than H hours (default 24)")
    gc.add_argument("--json", action="store_true", help="print the orphans as JSON")
    gc.set_defaults(handler=cmd_gc, actions=(Action.GC,))


def cmd_gc(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """List or delete orphan objects of the archive."""
    from storage.gc import delete_orphans, find_orphans
    from storage.vault import Vault

    if args.grace_hours < 0:
        print("dangan: --grace-hours cannot be negative", file=sys.stderr)
        return ExitCode.USAGE
    with closing(Vault.open(settings, identity=args.identity)) as vault:
        referenced = vault.index.object_keys()  # first: whatever is written after this is young
        report = find_orphans(vault.store, referenced, grace=dt.timedelta(hours=args.grace_hours))
        deleted = delete_orphans(vault.store, report.collectable) if args.delete else 0
        if args.delete:
            vault.audit("gc", detail={"deleted": deleted, "kept_young": len(report.kept)})
    if args.json:
        json.dump({"orphans": [_row(o) for o in report.collectable], "kept": [_row(o) for o in report.kept],
                   "deleted": deleted}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return ExitCode.OK
    for orphan in report.collectable:
        print(f"{'deleted' if args.delete else 'orphan'}  {orphan.kind:<6}  {orphan.size or 0:>10}  {orphan.key}")
    size = f"{report.collectable_bytes / 1_000_000:.1f} MB"
    kept = (f"; {len(report.kept)} younger than {args.grace_hours:g} h kept" if report.kept else "")
    if args.delete:
        print(f"deleted {deleted} orphan object(s) ({size}){kept}")
    elif report.collectable:
        print(f"{len(report.collectable)} orphan object(s) ({size}) no index row refers to{kept}. "
              "Run `dangan gc --delete` to delete them.")
    else:
        print(f"no orphan objects{kept}")
    return ExitCode.OK


def _row(orphan: Any) -> dict[str, Any]:
    return {"key": orphan.key, "kind": orphan.kind, "size": orphan.size,
            "modified": orphan.modified.isoformat() if orphan.modified else None}
