"""``dangan keys``: first-time setup, check and rotation of the master key.

``keys init`` is the only command that makes a master key. Every other
command refuses to run without the archive's own key (see :mod:`storage.keys`).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from schemas.errors import ArchiveExists, ExitCode
from schemas.settings import Settings
from web.access import Action


def register(sub: Any) -> None:
    """Add ``dangan keys init|check|rotate``."""
    keys = sub.add_parser("keys", help="master key: first-time setup, check, rotation")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)

    init = keys_sub.add_parser("init", help="create the master key of a new archive (refuses if one exists)")
    init.set_defaults(handler=cmd_init, actions=(Action.MANAGE_KEYS,))

    check = keys_sub.add_parser("check", help="check that the master key opens this archive")
    check.set_defaults(handler=cmd_check, actions=(Action.MANAGE_KEYS,))

    rotate = keys_sub.add_parser("rotate", help="re-wrap every key under a new master key; the old one stops working")
    rotate.add_argument("--new-key-out", type=Path, metavar="FILE",
                        help="where to write the new key when the key comes from a credential or a command")
    rotate.set_defaults(handler=cmd_rotate, actions=(Action.MANAGE_KEYS,))


def cmd_init(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Create the master key (or adopt the one a credential or command gives) for a new, empty archive."""
    from sqlalchemy.orm import Session

    from storage.index import Index
    from storage.keys import MasterKey, archive_master_key_id, create_key_file, key_source
    from storage.stores import make_object_store

    source = key_source(settings)
    if source.is_file and source.exists():
        raise ArchiveExists(f"A master key already exists at {source.path}; `dangan keys init` never replaces "
                            "a key. Use `dangan keys check` to see whether it opens the archive.")
    candidate = MasterKey.generate() if source.is_file else source.load()
    with closing(Index(settings.database_url, candidate)) as index:
        index.create_schema()
        if index.holds_data():
            with Session(index.engine) as s:
                locked_by = archive_master_key_id(s)
            raise ArchiveExists(
                "The index already holds an archive"
                f"{f' (locked by master key {locked_by})' if locked_by else ''}: put that archive's key back "
                "from your key backup instead of making a new one, or point DANGAN_DB_URL / DANGAN_HOME at a "
                "new, empty archive.")
    store = make_object_store(settings)
    if next(iter(store.list("")), None) is not None:
        raise ArchiveExists(f"The object store ({store!r}) already holds archive objects: put that archive's "
                            "key back instead of making a new one, or use a new, empty bucket or home.")
    if source.is_file:
        assert source.path is not None
        candidate = create_key_file(source.path)
    with closing(Index(settings.database_url, candidate)) as index:
        index.unlock()  # the index records which key is the archive's
    if source.is_file:
        print(f"created master key {candidate.key_id} in {source.path} (mode 0600)")
        print("Copy this file now to a safe offline place (two copies, kept apart). Without it nothing in the "
              "archive can be read, and dangan never makes a new key in its place.")
    else:
        print(f"this archive is now locked by master key {candidate.key_id} from {source.describe()}")
    return ExitCode.OK


def cmd_check(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Open the archive with its key and say so (exit 6 when the key is missing, wrong or exposed)."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from storage.keys import key_source
    from storage.tables import DataKeyRow
    from storage.vault import Vault

    source = key_source(settings)
    with closing(Vault.open(settings, identity=args.identity)) as vault, Session(vault.index.engine) as s:
        key_id = vault.keys.key_id
        live = s.scalar(select(func.count()).select_from(DataKeyRow).where(DataKeyRow.wrapped.is_not(None)))
    print(f"master key {key_id} from {source.describe()} opens this archive ({live or 0} data key(s) wrapped by it)")
    return ExitCode.OK


def cmd_rotate(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Re-wrap every data key and archive key under a new master key; objects are not touched."""
    from storage.keys import key_source, rotate
    from storage.vault import Vault

    source = key_source(settings)
    with closing(Vault.open(settings, identity=args.identity)) as vault:
        done = rotate(source, vault.index, vault.keys, new_key_out=args.new_key_out)
    print(f"rotated: {done.data_keys} data key(s) and {done.archive_keys} archive key(s) re-wrapped under master "
          f"key {done.new_key_id} (was {done.old_key_id}); no object was rewritten")
    if source.is_file:
        print(f"{done.new_key_file} now holds only the new key; the old key no longer opens the archive.")
    else:
        print(f"The new key is in {done.new_key_file} (mode 0600). The archive now opens ONLY with it: put it "
              f"where the key comes from ({source.describe()}) now, then delete the file. Until then run dangan "
              f"with DANGAN_MASTER_KEY_FILE={done.new_key_file} (and DANGAN_MASTER_KEY_COMMAND unset).",
              file=sys.stdout)
    print("Copy the new key to your offline key backup and to every host that runs dangan on this archive, "
          "then take a new `dangan backup`: backups made before now open only with the old key.")
    return ExitCode.OK
