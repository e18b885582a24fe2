"""A small real archive for the web tests: synthetic scans put through the real ``dangan ingest``.

Two units of the estate 锦绣花园, each in its own folder (the unit comes from the
path): 3-2-1201 holds the registration form of 周敏, whose ID number is printed
with a wrong check digit (so the document needs review), and a fire-safety
agreement; 5-1-502 holds the registration form of another owner. The archive
is made once per test session (``archive_template``) and copied for each test
module, which may change it (corrections, uploads).
"""

from __future__ import annotations

import dataclasses
import random
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from schemas.documents import DocType
from tests.e2e import run_dangan
from tests.synth.fake import UnitRef
from tests.synth.render import FontBook, render_document
from tests.synth.templates import make_document, make_household

DPI = 200
ESTATE = "锦绣花园"
#: The owner of 3-2-1201: a two-character name, and the ID number as it should read.
OWNER = "周敏"
OWNER_ID = "110101199003071234"
UNIT = "3-2-1201"
OTHER_UNIT = "5-1-502"


@dataclass(frozen=True)
class WebArchive:
    """A copy of the test archive: its home (master key, index, embedded store) and what it holds."""

    home: Path
    #: The drop folder the scans were ingested from (kept: the originals to compare with).
    inbox: Path
    owner: str
    owner_id: str
    misprinted_id: str
    other_owner: str

    @property
    def env(self) -> dict[str, str]:
        """Environment for ``dangan`` commands on this archive."""
        return {"DANGAN_HOME": str(self.home), "DANGAN_SETTLE_SECONDS": "0"}


def _valid_id(first17: str) -> str:
    from schemas.validators import id_check_digit

    return first17 + id_check_digit(first17)


def _misprint(number: str) -> str:
    """The same number with a wrong check digit."""
    digits = "0123456789X"
    return number[:17] + digits[(digits.index(number[17]) + 3) % len(digits)]


def make_archive(root: Path) -> WebArchive:
    """Render the scans, ingest them with the real ``dangan ingest`` into ``root/home``; returns the archive."""
    fonts = FontBook()
    rng = random.Random(808)
    owner_id = _valid_id(OWNER_ID[:17])
    misprinted = _misprint(owner_id)
    hh = make_household(rng)
    owner = dataclasses.replace(hh.owner, name=OWNER, male=False, birth=date(1990, 3, 7), id_number=misprinted)
    hh = dataclasses.replace(hh, owner=owner, unit=UnitRef("3", "2", "1201"), estate=ESTATE)
    other = make_household(random.Random(909))
    other = dataclasses.replace(other, unit=UnitRef("5", "1", "502"), estate=ESTATE)
    inbox = root / "inbox"
    scans = {
        f"{ESTATE}/{UNIT}/登记表.png": (DocType.OWNER_REGISTRATION, hh, 11),
        f"{ESTATE}/{UNIT}/消防协议.png": (DocType.FIRE_SAFETY_AGREEMENT, hh, 12),
        f"{ESTATE}/{OTHER_UNIT}/登记表.png": (DocType.OWNER_REGISTRATION, other, 13),
    }
    for name, (doc_type, household, seed) in scans.items():
        page = render_document(make_document(doc_type, random.Random(seed), household), DPI, fonts)[0]
        path = inbox / name
        path.parent.mkdir(parents=True, exist_ok=True)
        page.convert("RGB").save(path, dpi=(DPI, DPI))
    archive = WebArchive(home=root / "home", inbox=inbox, owner=OWNER, owner_id=owner_id, misprinted_id=misprinted,
                          other_owner=other.owner.name)
    run = run_dangan(["ingest", "--keep", "--quiet", str(inbox)], archive.env)
    assert run.code == 0, run.stdout + run.stderr
    return archive


_TEMPLATE: WebArchive | None = None


def template_archive(factory: pytest.TempPathFactory) -> WebArchive:
    """The session's test archive, made at its first use (one real ingest per test session)."""
    global _TEMPLATE
    if _TEMPLATE is None or not _TEMPLATE.home.is_dir():
        _TEMPLATE = make_archive(factory.mktemp("web-archive"))
    return _TEMPLATE


def copy_archive(template: WebArchive, root: Path) -> WebArchive:
    """A private copy of an archive (its home folder: key, SQLite index, embedded store)."""
    home = root / "home"
    shutil.copytree(template.home, home, symlinks=True, ignore=shutil.ignore_patterns("prefect*", "*.sock",
                                                                                      "worker.json", "*.lock"))
    home.chmod(0o700)
    return dataclasses.replace(template, home=home)


def scan_image(seed: int, doc_type: DocType = DocType.MOVE_IN_NOTICE) -> Image.Image:
    """One more rendered page (for uploads), of a household of its own."""
    household = make_household(random.Random(seed))
    doc = make_document(doc_type, random.Random(seed), household)
    return render_document(doc, DPI, FontBook())[0].convert("RGB")
