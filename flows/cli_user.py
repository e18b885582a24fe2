"""``dangan user``: the people who may use the archive, their roles, passwords and script tokens.

Every sub-command needs ``manage_users`` (leadership, archive managers, the
local operator) and is audited. A password is read from standard input
(``--password-stdin``), never from the command line, where other users of the
machine could see it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any

from schemas.errors import ExitCode, InvalidRequest
from schemas.settings import Settings
from web.access import USER_ROLES, Action

if TYPE_CHECKING:
    from web.users import Users

_MANAGE = (Action.MANAGE_USERS,)


def register(sub: Any) -> None:
    """Add ``dangan user add|disable|enable|reset|list|token``."""
    user = sub.add_parser("user", help="users of the archive: add, disable, enable, reset, list, token")
    user_sub = user.add_subparsers(dest="user_command", required=True)

    add = user_sub.add_parser("add", help="add a user with a role (the password from standard input)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[str(r) for r in USER_ROLES])
    add.add_argument("--unit", help="an owner's unit, e.g. 3-2-1201 or 3栋2单元1201 (owners only)")
    add.add_argument("--estate", help="the owner's estate (小区), when the archive holds several estates")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(handler=cmd_add, actions=_MANAGE)

    for name, handler, text in (("disable", cmd_disable, "stop a user from signing in (their sessions end)"),
                                ("enable", cmd_enable, "let a disabled user sign in again")):
        p = user_sub.add_parser(name, help=text)
        p.add_argument("name")
        p.set_defaults(handler=handler, actions=_MANAGE)

    reset = user_sub.add_parser("reset", help="give a user a new password (their sessions and tokens end)")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    reset.set_defaults(handler=cmd_reset, actions=_MANAGE)

    listing = user_sub.add_parser("list", help="list the users, their roles and whether they may sign in")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list, actions=_MANAGE)

    token = user_sub.add_parser("token", help="make a token a script proves the user with (DANGAN_TOKEN)")
    token.add_argument("name")
    token.add_argument("--revoke", action="store_true", help="revoke every token of the user instead")
    token.set_defaults(handler=cmd_token, actions=_MANAGE)


def cmd_add(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Add a user."""
    from schemas.models import estate_name
    from schemas.validators import parse_unit_ref

    unit = None
    if args.unit:
        unit = parse_unit_ref(args.unit)
        if unit is None:
            raise InvalidRequest(f"--unit {args.unit!r} is not building-unit-room, e.g. 3-2-1201")
        if args.estate:
            unit = unit.model_copy(update={"estate": estate_name(args.estate)})
    elif args.estate:
        raise InvalidRequest("--estate goes with an owner's --unit")
    password = _password(args)
    with _users(args, settings) as (users, audit):
        info = users.add(args.name, args.role, password, unit=unit)
        audit("user_add", detail={"user": info.name, "role": str(info.role),
                                  **({"unit": str(info.unit)} if info.unit else {})})
    place = f"{info.unit.estate} {info.unit}" if info.unit and info.unit.estate else info.unit
    print(f"added {info.name} ({info.role}{f', unit {place}' if info.unit else ''})")
    return ExitCode.OK


def cmd_disable(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Disable a user."""
    with _users(args, settings) as (users, audit):
        users.disable(args.name)
        audit("user_disable", detail={"user": args.name})
    print(f"{args.name} may no longer sign in; their sessions have ended")
    return ExitCode.OK


def cmd_enable(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Enable a disabled user."""
    with _users(args, settings) as (users, audit):
        users.enable(args.name)
        audit("user_enable", detail={"user": args.name})
    print(f"{args.name} may sign in again")
    return ExitCode.OK


def cmd_reset(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Set a new password."""
    password = _password(args)
    with _users(args, settings) as (users, audit):
        users.reset(args.name, password)
        audit("user_reset", detail={"user": args.name})
    print(f"{args.name} has a new password; their sessions and script tokens have ended")
    return ExitCode.OK


def cmd_list(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """List the users."""
    with _users(args, settings) as (users, _):
        rows = users.list()
    if args.json:
        json.dump([{"name": u.name, "role": str(u.role), "unit": str(u.unit) if u.unit else None,
                    "disabled": u.disabled, "created_at": u.created_at.isoformat(timespec="seconds"),
                    "last_sign_in_at": u.last_sign_in_at.isoformat(timespec="seconds") if u.last_sign_in_at
                    else None, "tokens": u.tokens} for u in rows], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return ExitCode.OK
    if not rows:
        print("no users yet; add one with: dangan user add NAME --role ROLE --password-stdin")
        return ExitCode.OK
    for u in rows:
        last = u.last_sign_in_at.strftime("%Y-%m-%d %H:%M") if u.last_sign_in_at else "never"
        print(f"{u.name:<20} {u.role:<18} {str(u.unit) if u.unit else '-':<12} "
              f"{'disabled' if u.disabled else 'active':<8}  last sign-in {last}  tokens {u.tokens}")
    print(f"{len(rows)} user(s)")
    return ExitCode.OK


def cmd_token(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Make (or revoke) a user's script tokens."""
    with _users(args, settings) as (users, audit):
        if args.revoke:
            count = users.revoke_tokens(args.name)
            audit("user_token_revoke", detail={"user": args.name, "tokens": count})
            print(f"revoked {count} token(s) of {args.name}")
            return ExitCode.OK
        token = users.create_token(args.name)
        audit("user_token", detail={"user": args.name})
    print(token)
    print(f"This token proves {args.name} (DANGAN_TOKEN=...) until it is revoked or their password is reset; "
          "it is shown only now: keep it like a password.", file=sys.stderr)
    return ExitCode.OK


def _password(args: argparse.Namespace) -> str:
    """The new password: the first line of standard input (nothing else is accepted)."""
    if not args.password_stdin:
        raise InvalidRequest("give the password on standard input with --password-stdin "
                             "(e.g. from a password manager), never on the command line")
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise InvalidRequest("no password on standard input")
    return password


@contextmanager
def _users(args: argparse.Namespace, settings: Settings) -> Iterator[tuple[Users, Callable[..., None]]]:
    """The archive's users, and its audit call under the command's identity."""
    from storage.vault import Vault
    from web.users import Users

    with closing(Vault.open(settings, identity=args.identity)) as vault:
        yield Users.of_index(vault.index), vault.audit
