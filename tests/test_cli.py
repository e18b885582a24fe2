"""The command line's contract for failures: one line, the documented exit code, nothing leaked.

Each test here drives the real ``dangan`` command (or its ``main``) against a
real archive home with documents recorded in its index.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import create_model

from flows import cli
from schemas.errors import ExitCode
from schemas.settings import Settings, environment_values
from storage.vault import Vault
from tests.e2e import DANGAN, run_dangan
from tests.test_index import make_doc

DOCS = 300  # enough JSON lines to overflow a pipe's buffer


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive home with a master key and ``DOCS`` documents in its index."""
    home = tmp_path_factory.mktemp("cli") / "home"
    assert run_dangan(["keys", "init"], {"DANGAN_HOME": str(home)}).code == 0
    with closing(Vault.open(Settings(home=home))) as vault:
        run_id = vault.begin_run()
        for seed in range(DOCS):
            make_doc(seed, owner=f"王{'伟芳娜敏静丽强磊军洋'[seed % 10]}").record(vault.index, vault.keys, run_id)
        vault.finish_run(run_id, {"stored": DOCS}, "completed")
    return home


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return {"DANGAN_HOME": str(home)}  # the test's OS account owns the home: the local operator


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def _audit(home: Path) -> list[tuple[str, dict]]:
    with closing(Vault.open(Settings(home=home))) as vault:
        return [(e.action, e.detail or {}) for e in reversed(vault.index.audit_entries())]


def test_database_of_another_kind_is_a_setting_error(env: dict[str, str]) -> None:
    result = run_dangan(["search", "王伟"], {**env, "DANGAN_DB_URL": "mysql://x"})
    assert result.code == ExitCode.CONFIG
    assert "DANGAN_DB_URL" in _one_line(result.stderr)


def test_bad_setting_names_its_variable(env: dict[str, str]) -> None:
    result = run_dangan(["search", "王伟"], {**env, "DANGAN_WORKERS": "many"})
    assert result.code == ExitCode.CONFIG
    assert "DANGAN_WORKERS" in _one_line(result.stderr)


def test_export_where_it_cannot_be_written(env: dict[str, str]) -> None:
    result = run_dangan(["export", "--jsonl", "/proc/nope/x.jsonl"], env)
    assert result.code == ExitCode.STORAGE
    assert "cannot write the export" in _one_line(result.stderr)


@pytest.mark.parametrize("reveal", [False, True])
def test_export_files_are_private(env: dict[str, str], tmp_path: Path, reveal: bool) -> None:
    out = tmp_path / "export.jsonl"
    out.write_text("old\n")
    out.chmod(0o644)  # an older export lying there must not lend its mode
    result = run_dangan(["export", "--jsonl", str(out), *(["--reveal"] if reveal else [])], env)
    assert result.code == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(out.read_text(encoding="utf-8").splitlines()) == DOCS
    assert not list(tmp_path.glob(".*.tmp"))


def test_revealed_export_into_a_closed_pipe(env: dict[str, str], home: Path) -> None:
    """``dangan export --jsonl - --reveal | head -1``: quiet, exit 0, and the audit log says how far it went."""
    before = len(_audit(home))
    proc = subprocess.Popen([str(DANGAN), "export", "--jsonl", "-", "--reveal"], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what ``head -1`` does
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, stderr
    assert first.startswith(b"{")
    assert "Traceback" not in stderr and "Exception" not in stderr, stderr
    rows = [detail for action, detail in _audit(home)[before:] if action == "export"]
    assert [r["outcome"] for r in rows] == ["started", "stopped (BrokenPipeError)"]
    assert rows[0]["revealed"] is True and 0 < rows[1]["documents"] < DOCS


def test_a_bug_is_one_line_with_an_id_and_its_traceback_in_the_log(
        env: dict[str, str], home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*_: object) -> ExitCode:
        raise ValueError("boom in search")

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(cli, "_cmd_search", broken)
    assert cli.main(["search", "王伟"]) == ExitCode.INTERNAL
    line = _one_line(capsys.readouterr().err)
    assert "invalid setting" not in line and "internal error E" in line
    error_id = line.split("internal error ", 1)[1].split()[0]
    log = home / "logs" / "errors.log"
    text = log.read_text(encoding="utf-8")
    assert error_id in text and "ValueError: boom in search" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_every_error_class_has_a_documented_exit_code() -> None:
    import schemas.errors as errors

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {int(code)} |" in readme, f"exit code {int(code)} ({code.name}) is not in the README"

    def subclasses(cls: type) -> Iterator[type]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    for cls in subclasses(errors.DanganError):
        assert isinstance(cls.exit_code, ExitCode), cls


# --------------------------------------------------------------------------- settings from the environment

#: Environments the settings must read as pydantic-settings reads them (names in any case, aliases, empty values).
_ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"DANGAN_HOME": "/srv/archive", "DANGAN_DB_URL": "postgresql://db/dangan", "DANGAN_WORKERS": "3",
     "DANGAN_S3_SECRET_KEY": "s3cret", "DANGAN_S3_SECURE": "true", "DANGAN_OCR_ENGINE": "tesseract"},
    {"dangan_home": "/lower/case", "Dangan_Settle_Seconds": "2.5", "DANGAN_DROP_FOLDERS": "/in/a:/in/b",
     "CREDENTIALS_DIRECTORY": "/run/credentials/dangan.service", "DANGAN_NOT_A_SETTING": "x"},
    {"DANGAN_DB_URL": "", "DANGAN_USER": "  ", "DANGAN_AUDIT_ANCHOR": "", "DANGAN_DROP_FOLDERS": '["/in/json"]',
     "credentials_directory": "/lower/credentials", "DANGAN_CREDENTIALS_DIRECTORY": "/not/this/one"},
]


@pytest.mark.parametrize("environment", _ENVIRONMENTS)
def test_settings_read_the_environment_as_pydantic_settings_does(environment: dict[str, str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import Field
    from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

    class Reference(BaseSettings):
        """The same fields, read by pydantic-settings: every value as the text the environment gives."""

        model_config = SettingsConfigDict(env_prefix="DANGAN_", extra="ignore")

    fields = {name: (Annotated[str | None, NoDecode],
                     Field(default=None, validation_alias=info.validation_alias))
              for name, info in Settings.model_fields.items()}
    reference = create_model("ReferenceSettings", __base__=Reference, **fields)  # type: ignore[call-overload]
    for name in [n for n in os.environ if n.upper().startswith("DANGAN_") or n.upper() == "CREDENTIALS_DIRECTORY"]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    expected = {k: v for k, v in reference().model_dump().items() if v is not None}
    assert environment_values(Settings) == expected
    assert Settings(home=Path("/given")).home == Path("/given")  # values given win over the environment
    if "home" in expected:
        assert Settings().home == Path(expected["home"])
