"""The permission matrix through the command line: every command as every role, against a real archive.

Users of every role live in a real index; each command runs in-process
(``flows.cli.main``) as one of them, proven with DANGAN_USER and
DANGAN_PASSWORD, or as the local operator (no user named). It either works,
or is refused with exit 4, a message saying who may, and an audit entry of
the refusal. The table of commands is in ``tests/access_matrix.py``.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from flows import cli
from schemas.errors import ExitCode
from schemas.settings import Settings
from storage.audit import AuditEntry
from storage.vault import Vault
from tests.access_matrix import (
    CLI_TRIES,
    OTHER_UNIT,
    OWN_UNIT,
    PASSWORD,
    USERS,
    WEB_ONLY,
    ArchiveUnderTest,
    CliTry,
    lend_to_borrowers,
)
from tests.e2e import DANGAN, ensure_master_key
from tests.test_index import make_doc
from web.access import PERMISSIONS, USER_ROLES, Action, Role, allowed, local_operator
from web.users import Users

ROLES = (*USER_ROLES, Role.LOCAL_OPERATOR)


# --------------------------------------------------------------------------- the archive


def _store(vault: Vault, seed: int, owner: str, unit: object, folder: Path, run_id: str) -> str:
    """Store a small file as a real sealed original with one document filed under ``unit``."""
    doc = make_doc(seed, owner=owner)
    path = folder / f"scan_{seed}.pdf"
    path.write_bytes(f"%PDF-1.4 scan {seed} of {owner}\n".encode() * 20)
    data = path.read_bytes()
    source = doc.source.model_copy(update={"path": path, "sha256": hashlib.sha256(data).hexdigest(),
                                           "size": len(data)})
    extraction = doc.extraction.model_copy(update={"page_indices": (0,)})
    return vault.store_file(source=source, pages=list(doc.pages), documents=[extraction], run_id=run_id,
                            unit=unit, unit_source="path")[0]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveUnderTest:
    """A home with a master key, a user of every role and two documents (the owner's, another unit's)."""
    root = tmp_path_factory.mktemp("access")
    home = root / "home"
    ensure_master_key({"DANGAN_HOME": str(home)})
    scans = root / "scans"
    scans.mkdir()
    with closing(Vault.open(Settings(home=home))) as vault:
        run_id = vault.begin_run()
        own = _store(vault, 1, "王伟", OWN_UNIT, scans, run_id)
        other = _store(vault, 2, "王伟", OTHER_UNIT, scans, run_id)
        vault.finish_run(run_id, {"stored": 2}, "completed")
        users = Users.of_index(vault.index)
        for role, name in USERS.items():
            users.add(name, role, PASSWORD, unit=OWN_UNIT if role is Role.OWNER else None)
        lend_to_borrowers(vault.index, (OWN_UNIT, OTHER_UNIT))  # the matrix alone: loans in tests/test_loans.py
    work = root / "work"
    work.mkdir()
    return ArchiveUnderTest(home=home, own_doc=own, other_doc=other, work=work)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, archive: ArchiveUnderTest) -> Iterator[pytest.MonkeyPatch]:
    """The process environment with no dangan setting but the archive's home."""
    for name in list(os.environ):
        if name.startswith("DANGAN_") or name in ("CREDENTIALS_DIRECTORY", "PREFECT_API_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DANGAN_HOME", str(archive.home))
    yield monkeypatch


def _audit_since(home: Path, after: int) -> list[AuditEntry]:
    with closing(Vault.open(Settings(home=home))) as vault:
        return [e for e in vault.index.audit_entries(limit=500) if e.id > after]


def _last_audit_id(home: Path) -> int:
    with closing(Vault.open(Settings(home=home))) as vault:
        entries = vault.index.audit_entries(limit=1)
    return entries[0].id if entries else 0


def _run_as(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], role: Role,
            argv: list[str]) -> tuple[int, str, str]:
    """Run ``dangan ARGV`` in this process as the user of ``role`` (the local operator: no user named)."""
    if role is Role.LOCAL_OPERATOR:
        env.delenv("DANGAN_USER", raising=False)
        env.delenv("DANGAN_PASSWORD", raising=False)
    else:
        env.setenv("DANGAN_USER", USERS[role])
        env.setenv("DANGAN_PASSWORD", PASSWORD)
    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _actor(role: Role) -> str:
    return local_operator().name if role is Role.LOCAL_OPERATOR else USERS[role]


# --------------------------------------------------------------------------- the matrix itself


def test_every_action_is_tried_somewhere() -> None:
    tried = {a for t in CLI_TRIES for a in t.actions} | set(WEB_ONLY)
    assert tried == set(Action), f"not tried anywhere: {set(Action) - tried}"


def test_the_matrix_says_what_the_company_rules_say() -> None:
    who_may = {a: {r for r in Role if a in PERMISSIONS[r]} for a in Action}
    # Nobody but leadership and archive managers sees full ID numbers and phones (and the key holder).
    assert who_may[Action.REVEAL_PII] == {Role.LEADERSHIP, Role.ARCHIVE_MANAGER, Role.LOCAL_OPERATOR}
    # Police and courts view, never take copies.
    external = PERMISSIONS[Role.EXTERNAL_AUTHORITY]
    assert {Action.VIEW_DOCUMENT, Action.VIEW_PAGE_IMAGE} <= external
    assert not external & {Action.DOWNLOAD_ORIGINAL, Action.EXPORT, Action.REVEAL_PII, Action.CORRECT_FIELD}
    # Keys, backups and clean-up belong to the account holding the master key.
    for action in (Action.MANAGE_KEYS, Action.BACKUP_RESTORE, Action.GC, Action.SERVE):
        assert who_may[action] == {Role.LOCAL_OPERATOR}
    assert who_may[Action.MANAGE_USERS] == {Role.LEADERSHIP, Role.ARCHIVE_MANAGER, Role.LOCAL_OPERATOR}
    # A person is looked up across archives by the staff who file and check, never by owners or police and courts.
    assert who_may[Action.FIND_PERSON] == {Role.LEADERSHIP, Role.ARCHIVE_MANAGER, Role.CLERK, Role.AUDITOR,
                                           Role.LOCAL_OPERATOR}
    assert PERMISSIONS[Role.LOCAL_OPERATOR] == frozenset(Action)
    assert Role.LOCAL_OPERATOR not in USER_ROLES


def test_an_owner_acts_only_on_their_own_unit() -> None:
    from web.access import Identity

    owner = Identity(name="yezhu", role=Role.OWNER, unit=OWN_UNIT)
    assert allowed(owner, Action.VIEW_DOCUMENT, unit=OWN_UNIT)
    assert allowed(owner, Action.DOWNLOAD_ORIGINAL, unit=OWN_UNIT)
    assert not allowed(owner, Action.VIEW_DOCUMENT, unit=OTHER_UNIT)
    assert not allowed(owner, Action.VIEW_DOCUMENT)  # a document filed under no unit
    assert allowed(owner, Action.SEARCH)  # limited to their unit by the caller (web.access.unit_scope)
    assert not allowed(Identity(name="x", role=Role.OWNER), Action.SEARCH)  # an owner without a unit: nothing


# --------------------------------------------------------------------------- every command as every role


@pytest.mark.parametrize(("role", "attempt"), [pytest.param(r, t, id=f"{r}-{t.name}") for r in ROLES
                                               for t in CLI_TRIES])
def test_cli_command_as_role(role: Role, attempt: CliTry, archive: ArchiveUnderTest, env: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    may = all(a in PERMISSIONS[role] for a in attempt.actions)
    before = _last_audit_id(archive.home)
    code, _, err = _run_as(env, capsys, role, attempt.argv(archive, f"{role}-{attempt.name.replace(' ', '_')}"))
    refusals = [e for e in _audit_since(archive.home, before) if (e.detail or {}).get("outcome") == "refused"]
    if may:
        assert code == attempt.ok, err
        assert not refusals
        return
    assert code == ExitCode.ACCESS_DENIED, err
    refused = next(a for a in attempt.actions if a not in PERMISSIONS[role])
    assert f"{USERS[role]} ({role}) may not " in err, err
    assert "ask someone whose role is" in err or "only the local operator" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert [(e.actor, e.role, e.action) for e in refusals] == [(_actor(role), str(role), str(refused))]


# --------------------------------------------------------------------------- owners, proofs, DANGAN_ROLE


def test_an_owner_finds_and_opens_only_their_own_unit(archive: ArchiveUnderTest, env: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run_as(env, capsys, Role.OWNER, ["search", "王伟", "--json"])
    assert code == 0, err
    assert archive.own_doc in out and archive.other_doc not in out
    code, out, _ = _run_as(env, capsys, Role.LEADERSHIP, ["search", "王伟", "--json"])
    assert archive.own_doc in out and archive.other_doc in out

    before = _last_audit_id(archive.home)
    tries = [["show", archive.other_doc], ["download", archive.other_doc, "-o", str(archive.work / "x.pdf")],
             ["search", "王伟", "--unit", str(OTHER_UNIT)]]
    for argv in tries:
        code, _, err = _run_as(env, capsys, Role.OWNER, argv)
        assert code == ExitCode.ACCESS_DENIED and "only for their own unit (unit 3-2-1201)" in err, err
        assert "1202" not in err  # the other archive is never named
    refused = [(e.action, e.document_id) for e in _audit_since(archive.home, before)
               if (e.detail or {}).get("outcome") == "refused"]
    assert sorted(refused, key=str) == sorted([("view_document", archive.other_doc),
                                               ("download_original", archive.other_doc), ("search", None)], key=str)
    assert not (archive.work / "x.pdf").exists()


def test_a_wrong_or_missing_proof_is_refused_and_audited(archive: ArchiveUnderTest, env: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    before = _last_audit_id(archive.home)
    cases = [{"DANGAN_USER": "qiantai", "DANGAN_PASSWORD": "not the password"},
             {"DANGAN_USER": "nobody", "DANGAN_PASSWORD": PASSWORD},
             {"DANGAN_USER": "qiantai"},  # no password, and no terminal to ask at
             {"DANGAN_TOKEN": "dgt_made_up"}]
    for case in cases:
        for name in ("DANGAN_USER", "DANGAN_PASSWORD", "DANGAN_TOKEN"):
            env.delenv(name, raising=False)
        for name, value in case.items():
            env.setenv(name, value)
        capsys.readouterr()
        assert cli.main(["search", "王伟"]) == ExitCode.ACCESS_DENIED, case
        err = capsys.readouterr().err
        assert "sign-in refused" in err and PASSWORD not in err, err
    sign_ins = [e for e in _audit_since(archive.home, before) if e.action == "sign_in"]
    assert len(sign_ins) == len(cases) and all(e.detail and e.detail["outcome"] == "refused" for e in sign_ins)
    assert not [e for e in _audit_since(archive.home, before) if e.action == "search"]


def test_dangan_role_in_the_environment_gives_no_power(archive: ArchiveUnderTest) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANGAN_")}
    env.update(DANGAN_HOME=str(archive.home), DANGAN_ROLE="leadership", DANGAN_USER="qiantai",
               DANGAN_PASSWORD=PASSWORD)
    before = _last_audit_id(archive.home)
    proc = subprocess.run([str(DANGAN), "show", archive.own_doc, "--reveal"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == ExitCode.ACCESS_DENIED, proc.stderr
    assert "qiantai (clerk) may not see full ID numbers and phones" in proc.stderr
    assert [(e.actor, e.role, e.action) for e in _audit_since(archive.home, before)] == [
        ("qiantai", "clerk", "reveal_pii")]


# --------------------------------------------------------------------------- dangan user


def test_user_commands(archive: ArchiveUnderTest, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def run(role: Role, argv: list[str], stdin: str = "") -> tuple[int, str, str]:
        env.setattr(sys, "stdin", io.StringIO(stdin))
        return _run_as(env, capsys, role, argv)

    code, out, err = run(Role.ARCHIVE_MANAGER, ["user", "add", "xiaoli", "--role", "clerk", "--password-stdin"],
                         "xiaoli's password\n")
    assert code == 0 and "added xiaoli (clerk)" in out, err
    code, _, err = run(Role.CLERK, ["user", "add", "xiaozhang", "--role", "leadership", "--password-stdin"],
                       "whatever password\n")
    assert code == ExitCode.ACCESS_DENIED and "may not manage users" in err
    code, _, err = run(Role.LEADERSHIP, ["user", "add", "xiaowang", "--role", "clerk"])
    assert code == ExitCode.BAD_INPUT and "--password-stdin" in err
    code, out, err = run(Role.LOCAL_OPERATOR, ["user", "add", "zhang3", "--role", "owner", "--unit", "3栋2单元1202",
                                               "--password-stdin"], "zhang3's password\n")
    assert code == 0 and "unit 3-2-1202" in out, err

    env.setenv("DANGAN_USER", "xiaoli")  # the new user signs in
    env.setenv("DANGAN_PASSWORD", "xiaoli's password")
    assert cli.main(["search", "王伟"]) == 0
    assert run(Role.LEADERSHIP, ["user", "disable", "xiaoli"])[0] == 0
    env.setenv("DANGAN_USER", "xiaoli")
    env.setenv("DANGAN_PASSWORD", "xiaoli's password")
    assert cli.main(["search", "王伟"]) == ExitCode.ACCESS_DENIED
    assert run(Role.LEADERSHIP, ["user", "enable", "xiaoli"])[0] == 0
    assert run(Role.LEADERSHIP, ["user", "reset", "xiaoli", "--password-stdin"], "a new password!\n")[0] == 0

    code, token, err = run(Role.LEADERSHIP, ["user", "token", "xiaoli"])
    assert code == 0 and token.startswith("dgt_"), err
    for name in ("DANGAN_USER", "DANGAN_PASSWORD"):
        env.delenv(name)
    env.setenv("DANGAN_TOKEN", token.strip())
    capsys.readouterr()
    assert cli.main(["export", "--jsonl", str(archive.work / "by-token.jsonl")]) == ExitCode.ACCESS_DENIED
    assert "xiaoli (clerk) may not export" in capsys.readouterr().err
    env.setenv("DANGAN_USER", "guanliyuan")  # a token proves its own user only
    assert cli.main(["search", "王伟"]) == ExitCode.ACCESS_DENIED
    env.delenv("DANGAN_TOKEN")

    code, out, _ = run(Role.AUDITOR, ["user", "list"])
    assert code == ExitCode.ACCESS_DENIED
    code, out, _ = run(Role.ARCHIVE_MANAGER, ["user", "list"])
    assert code == 0 and "xiaoli" in out and "zhang3" in out and "3-2-1202" in out and PASSWORD not in out
    with closing(Vault.open(Settings(home=archive.home))) as vault:
        actions = [(e.actor, e.action, (e.detail or {}).get("user")) for e in vault.index.audit_entries(limit=200)]
    for done in [("guanliyuan", "user_add", "xiaoli"), ("lingdao", "user_disable", "xiaoli"),
                 ("lingdao", "user_enable", "xiaoli"), ("lingdao", "user_reset", "xiaoli"),
                 ("lingdao", "user_token", "xiaoli"), (local_operator().name, "user_add", "zhang3")]:
        assert done in actions, done


# --------------------------------------------------------------------------- the local operator


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the home to another account")
def test_only_the_account_owning_the_home_is_the_local_operator(tmp_path: Path, env: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    ensure_master_key({"DANGAN_HOME": str(home)})
    env.setenv("DANGAN_HOME", str(home))
    assert cli.main(["search", "王伟"]) == 0
    os.chown(home, 65534, 65534)  # nobody's home now
    try:
        capsys.readouterr()
        assert cli.main(["search", "王伟"]) == ExitCode.ACCESS_DENIED
        err = capsys.readouterr().err
        assert "may not act as the local operator" in err and "belongs to user id 65534" in err, err
    finally:
        os.chown(home, 0, 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the home to another account")
def test_the_nightly_deployment_acts_as_the_local_operator(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    import flows.nightly
    from schemas.settings import load_settings

    home = tmp_path / "home"
    ensure_master_key({"DANGAN_HOME": str(home)})
    env.setenv("DANGAN_HOME", str(home))
    env.setenv("DANGAN_USER", "qiantai")  # a user named in the worker's environment is not who the run acts as
    env.setenv("DANGAN_PASSWORD", PASSWORD)
    settings = flows.nightly.acting_as_local_operator(load_settings())
    assert settings.actor == local_operator().name
    assert settings.user is None and settings.password is None
    os.chown(home, 65534, 65534)
    try:
        with pytest.raises(flows.nightly.NightlyFailed) as failed:
            flows.nightly.run_nightly([str(tmp_path)], keep=False, log=lambda line: None)
        assert not failed.value.retryable and "may not act as the local operator" in failed.value.message
    finally:
        os.chown(home, 0, 0)


def test_an_owner_of_one_estate_does_not_see_the_same_unit_of_another(
        tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Two estates' 3-2-1201 are two archives: an owner added with ``--estate`` finds, opens and browses only
    theirs; an owner recorded without an estate (a company with one estate) is bound to the unit alone."""
    home = tmp_path / "home"
    ensure_master_key({"DANGAN_HOME": str(home)})
    env.setenv("DANGAN_HOME", str(home))
    scans = tmp_path / "scans"
    scans.mkdir()
    mine, theirs = (OWN_UNIT.model_copy(update={"estate": e}) for e in ("锦绣花园", "阳光花园"))
    with closing(Vault.open(Settings(home=home))) as vault:
        run_id = vault.begin_run()
        own, other = (_store(vault, seed, "王伟", unit, scans, run_id) for seed, unit in ((11, mine), (12, theirs)))
        vault.finish_run(run_id, {"stored": 2}, "completed")
        assert vault.index.get_document(own).archive_id != vault.index.get_document(other).archive_id
    for name, extra in (("yezhu_jx", ["--estate", "锦绣 花园"]), ("yezhu_any", [])):
        env.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        code = cli.main(["user", "add", name, "--role", "owner", "--unit", str(OWN_UNIT), *extra,
                         "--password-stdin"])
        assert code == 0, capsys.readouterr().err
    env.setenv("DANGAN_PASSWORD", PASSWORD)

    env.setenv("DANGAN_USER", "yezhu_jx")
    capsys.readouterr()
    assert cli.main(["search", "王伟", "--json"]) == 0
    out = capsys.readouterr().out
    assert own in out and other not in out
    assert cli.main(["show", other]) == ExitCode.ACCESS_DENIED
    assert cli.main(["show", own]) == 0
    capsys.readouterr()
    from web.access import Identity, same_unit

    jx = Identity(name="yezhu_jx", role=Role.OWNER, unit=mine)
    assert same_unit(mine, mine) and not same_unit(theirs, mine) and not allowed(jx, Action.VIEW_DOCUMENT, unit=theirs)

    env.setenv("DANGAN_USER", "yezhu_any")
    assert cli.main(["search", "王伟", "--json"]) == 0
    out = capsys.readouterr().out
    assert own in out and other in out  # no estate on record: the unit in any estate, as before estates
