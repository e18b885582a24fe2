"""Who runs a command, and whether they may: the command line's side of the permission matrix.

``DANGAN_USER`` names a user of the archive; ``DANGAN_PASSWORD`` proves it,
or ``DANGAN_TOKEN`` (a token from ``dangan user token``, which also names its
user on its own), or a password typed at a prompt when standard input is a
terminal. A wrong or missing proof stops the command (exit 4) and the refusal
is audited.

With no user named, the OS account running the command acts as the built-in
local operator, but only when it owns ``DANGAN_HOME`` and can read the master
key: it could read everything anyway. It is audited as ``local:<login name>``.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from schemas.errors import AccessDenied, ConfigError, DanganError, SignInFailed
from schemas.settings import Settings
from web.access import Action, Identity, local_operator, os_login, require

if TYPE_CHECKING:
    from storage.index import Index

#: Reads a password from the person at the terminal (``getpass.getpass``); None when nobody can answer.
Prompt = Callable[[str], str]


def sign_in(settings: Settings, *, prompt: Prompt | None = None) -> Identity:
    """The identity a command acts as (see the module docstring); AccessDenied, audited, when it is not proven."""
    if settings.user is None and settings.token is None:
        if settings.password is not None:
            raise ConfigError("DANGAN_PASSWORD is set but DANGAN_USER is not: name the user the password is for.")
        return local_operator_of(settings)
    with _users_index(settings) as index:
        from web.users import Users

        users = Users.of_index(index)
        if settings.token is not None:
            identity = users.verify_token(settings.token.get_secret_value())
            if settings.user is not None and settings.user != identity.name:
                _refuse(index, settings.user, "the token belongs to another user")
            return identity
        assert settings.user is not None
        if settings.password is not None:
            return users.verify(settings.user, settings.password.get_secret_value())
        if prompt is None:
            _refuse(index, settings.user, "no password given")
        assert prompt is not None
        return users.verify(settings.user, prompt(f"password for {settings.user}: "))


def authorize(settings: Settings, identity: Identity, actions: Sequence[Action]) -> None:
    """Return when ``identity`` may take every one of ``actions``; otherwise audit the refusal and raise.

    An owner is checked for their own unit here; which unit a document is filed
    under is known only once it is read, and the archive (``storage.vault``)
    checks it then.
    """
    with _auditor(settings) as audit:
        for action in actions:
            require(identity, action, audit, unit=identity.unit)


def command_actions(args: Any) -> tuple[Action, ...]:
    """The actions a parsed command takes: its parser's ``actions`` (a tuple, or a function of the arguments).

    A command that names none is a bug, and runs for nobody.
    """
    spec = getattr(args, "actions", None)
    if spec is None:
        raise RuntimeError(f"the command {getattr(args, 'command', '?')!r} names no action of the permission matrix")
    return tuple(spec(args) if callable(spec) else spec)


def local_operator_of(settings: Settings) -> Identity:
    """The local operator, when the OS account running this owns ``DANGAN_HOME`` and can read the master key.

    A key that does not exist yet (before ``dangan keys init``) does not stop
    this: without it nothing can be read. A key from DANGAN_MASTER_KEY_COMMAND
    is the command's to give or refuse.
    """
    login = os_login()
    problem = _not_owner(settings, os.geteuid())
    if problem:
        with _auditor(settings, best_effort=True) as audit:
            audit(f"local:{login}", "local_operator", "sign_in", document_id=None,
                  detail={"outcome": "refused", "reason": "not the archive's OS account"})
        raise AccessDenied(f"No user is named (DANGAN_USER) and the OS account {login} may not act as the local "
                           f"operator: {problem}. Name a user with DANGAN_USER and prove it with DANGAN_PASSWORD "
                           "or DANGAN_TOKEN, or run the command as the account that owns the archive.")
    return local_operator(login)


def terminal_prompt() -> Prompt | None:
    """``getpass.getpass`` when standard input is a terminal, else None (no one to ask)."""
    import sys

    try:
        return getpass.getpass if sys.stdin is not None and sys.stdin.isatty() else None
    except (AttributeError, ValueError):
        return None


def _not_owner(settings: Settings, uid: int) -> str:
    """Why the account ``uid`` is not the archive's own ('' when it is).

    A key file or credential that this account may not read, or that is not
    private to it, stops here with the key's own error (exit 6).
    """
    from storage.keys import key_source

    home = settings.home
    try:
        owner = home.stat().st_uid
    except FileNotFoundError:
        owner = uid  # a new archive: whoever makes it owns it
    except OSError as e:
        return f"DANGAN_HOME {home} cannot be looked at ({e.strerror})"
    if owner != uid:
        return f"DANGAN_HOME {home} belongs to user id {owner}, not to this account (user id {uid})"
    source = key_source(settings)
    if source.kind != "command" and source.path is not None and os.path.lexists(source.path):
        source.load()
    return ""


def _refuse(index: Index, name: str, reason: str) -> None:
    index.audit(name[:128], "", "sign_in", detail={"outcome": "refused", "reason": reason})
    raise SignInFailed(f"sign-in refused for {name}: {reason}. Give the password in DANGAN_PASSWORD (or a token in "
                       "DANGAN_TOKEN), or run the command in a terminal to be asked for it.")


@contextmanager
def _users_index(settings: Settings) -> Iterator[Index]:
    """The archive's index, opened with its master key (every command needs the key: it is checked first)."""
    from storage.index import Index
    from storage.keys import key_source

    index = Index(settings.database_url, key_source(settings).load())
    try:
        index.create_schema()
        yield index
    finally:
        index.close()


@contextmanager
def _auditor(settings: Settings, *, best_effort: bool = False) -> Iterator[Callable[..., None]]:
    """An ``Index.audit`` that opens the index only when something is written (a refusal)."""
    with ExitStack() as stack:
        opened: list[Index] = []

        def audit(*args: Any, **kwargs: Any) -> None:
            try:
                if not opened:
                    opened.append(stack.enter_context(_users_index(settings)))
                opened[0].audit(*args, **kwargs)
            except DanganError:
                if not best_effort:
                    raise

        yield audit
