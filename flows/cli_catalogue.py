"""``dangan catalogue`` and ``dangan labels``: archives' catalogues (档案目录) and folder labels as A4 PDFs.

Both print the active unit archives selected (all, an estate's, a building's,
a unit's or one unit archive), in cabinet order (:mod:`rules.catalogue`);
``--include-set-aside`` adds former owners' archives. Printing is an event of
the audit log; police and courts (and owners) may not print.
"""

from __future__ import annotations

import argparse
from contextlib import closing
from pathlib import Path
from typing import Any

from schemas.errors import ExitCode, InvalidRequest
from schemas.settings import Settings
from schemas.validators import require_unit_ref
from web.access import Action


def register(sub: Any) -> None:
    """Add ``dangan catalogue`` and ``dangan labels`` (the same selection, another print)."""
    for name, help_text, description in (
            ("catalogue", "print the catalogue (档案目录) of unit archives as an A4 PDF, in cabinet order",
             "One or more pages per archive: where it is filed (as the cover sheets print it), its status, every "
             "document (type, pages, filing date, 待复核) and what the checklist says it still lacks."),
            ("labels", "print folder labels (档案盒标签) of unit archives: A4 sheets of 90 x 50 mm labels to cut",
             "Ten labels a sheet, in cabinet order: the estate, the unit in large type as the cover sheets print "
             "it, the day the archive was opened; a former owner's archive is marked 已封存.")):
        p = sub.add_parser(name, help=help_text, description=description)
        p.add_argument("unit", nargs="?", help="one unit archive: building-unit-room, e.g. 3-2-1201 or 3栋2单元1201")
        p.add_argument("--estate", help="only archives of this estate (小区)")
        p.add_argument("--building", help="only archives of this building (楼栋)")
        p.add_argument("--unit-no", metavar="U", help="with --building: only archives of this unit (单元)")
        p.add_argument("--include-set-aside", action="store_true",
                       help="also former owners' archives (set aside, 已封存)")
        p.add_argument("-o", "--out", type=Path, required=True, help="PDF file to write")
        p.set_defaults(handler=cmd_print, actions=(Action.PRINT_CATALOGUE,), kind=name)


def selection_of(args: argparse.Namespace) -> Any:
    """The archives the arguments select (:class:`rules.catalogue.Selection`)."""
    from rules.catalogue import Selection

    if args.unit:
        if args.building or args.unit_no:
            raise InvalidRequest("Name a unit archive (3-2-1201) or a building (--building, --unit-no), not both.")
        return Selection.of_unit(require_unit_ref(args.unit), estate=args.estate,
                                 include_set_aside=args.include_set_aside)
    if args.unit_no and not args.building:
        raise InvalidRequest("--unit-no needs --building (the unit 单元 of which building).")
    return Selection(estate=args.estate, building=args.building, unit=args.unit_no,
                     include_set_aside=args.include_set_aside)


def cmd_print(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Print the selected archives' catalogue or labels to ``--out``."""
    from rules.catalogue import print_catalogues
    from storage.names import safe_name
    from storage.vault import Vault

    selection = selection_of(args)
    with closing(Vault.open(settings, identity=args.identity)) as vault:
        printout = print_catalogues(vault, selection, args.kind)
    _write(args.out, printout.pdf)
    what = "catalogue" if args.kind == "catalogue" else "label sheet(s)"
    print(f"wrote the {what} of {len(printout.archives)} archive(s), {printout.pages} A4 page(s), to "
          f"{safe_name(str(args.out))}")
    return ExitCode.OK


def _write(path: Path, data: bytes) -> None:
    from schemas.errors import OutputUnwritable
    from storage.files import atomic_write
    from storage.names import safe_name

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
    except OSError as e:
        raise OutputUnwritable(f"cannot write {safe_name(str(path))}: {e.strerror or type(e).__name__}") from None
