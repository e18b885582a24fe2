"""One adapter for external command-line programs (pdftoppm, pdfimages, qpdf ...).

Every call has an explicit timeout; failures become typed errors. The caller
decides what a non-zero exit status means, because each program uses its own
codes (pdftoppm: 1 = cannot open, 3 = permissions ...).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from schemas.errors import EngineTimeout, EngineUnavailable


@dataclass(frozen=True)
class ProgramResult:
    """Exit status and captured output of one finished program run."""

    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        """True when the program exited with status 0."""
        return self.returncode == 0


def run_program(args: Sequence[str], *, timeout: float, purpose: str, stdin: bytes | None = None,
                env: Mapping[str, str] | None = None) -> ProgramResult:
    """Run ``args`` without a shell, capture its output, stop it after ``timeout`` seconds.

    ``purpose`` names the work in plain words ("rendering page 3") for error messages.
    ``stdin`` is fed to the program; ``env`` replaces the inherited environment.
    Raises EngineUnavailable when the program cannot be started and EngineTimeout
    when it does not finish in time (the process is killed first).
    """
    try:
        done = subprocess.run(list(args), input=stdin, capture_output=True, timeout=timeout,
                              env=dict(env) if env is not None else None, check=False)
    except OSError as e:
        raise EngineUnavailable(
            f"{args[0]} is not installed, so {purpose} is impossible; ask IT to install it"
        ) from e
    except subprocess.TimeoutExpired as e:
        raise EngineTimeout(
            f"{purpose} took longer than {timeout:g} s and was stopped; try again later or split the file"
        ) from e
    return ProgramResult(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr)
