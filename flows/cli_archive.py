"""``dangan archive show`` and ``dangan person``: unit archives and the people they name (:mod:`rules.people`).

``archive show UNIT`` prints one unit archive: estate / building / unit /
room, status, opened and closed, its current owners, the people its
documents name with their roles, and its documents (values masked;
``--reveal`` shows them in full, audited, for roles that may). ``person
ID_NUMBER`` (or ``--name NAME``) lists the archives and documents a person
appears in; the lookup is audited, the ID number never written down.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any

from schemas.errors import ExitCode, InvalidRequest
from schemas.settings import Settings
from schemas.validators import require_unit_ref
from web.access import Action

if TYPE_CHECKING:
    from rules.people import ArchiveRecord, PeopleRegister, PersonEntry, PersonRecord


def register(sub: Any) -> None:
    """Add ``dangan archive show`` and ``dangan person``."""
    archive = sub.add_parser("archive", help="unit archives as records: place, owners, people, documents")
    archive_sub = archive.add_subparsers(dest="archive_command", required=True)
    show = archive_sub.add_parser(
        "show", help="one unit archive: place, status, current owners, people with roles, documents",
        description="Names, ID numbers and phones are masked; --reveal shows them (audited; leadership and "
                    "archive managers). Clerks, auditors and police or courts need an approved loan of the archive.")
    show.add_argument("unit", help="building-unit-room in any common form: 3-2-1201, 3栋2单元1201, 三栋二单元1201")
    show.add_argument("--estate", help="the estate (小区), when the unit number is in more than one")
    show.add_argument("--reveal", action="store_true", help="full names, ID numbers and phones (audited)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show, actions=_revealing(Action.VIEW_DOCUMENT))

    person = sub.add_parser("person", help="the archives and documents a person appears in (by ID number or name)",
                            description="An ID number is looked up exactly (through its keyed hash); a name may "
                                        "belong to several people, listed apart. The lookup is audited.")
    person.add_argument("id_number", nargs="?", help="the person's ID number (18 characters)")
    person.add_argument("--name", help="look up by name instead")
    person.add_argument("--reveal", action="store_true", help="full names, ID numbers and phones (audited)")
    person.add_argument("--json", action="store_true")
    person.set_defaults(handler=cmd_person, actions=_revealing(Action.FIND_PERSON))


def _revealing(action: Action) -> Any:
    return lambda args: (action, Action.REVEAL_PII) if args.reveal else (action,)


def cmd_show(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Print one unit archive."""
    with _register(args, settings) as people:
        record = people.archive(unit=require_unit_ref(args.unit), estate=args.estate, reveal=args.reveal)
    if args.json:
        _dump(record.model_dump(mode="json"))
        return ExitCode.OK
    for line in archive_lines(record):
        print(line)
    return ExitCode.OK


def cmd_person(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Print where a person appears."""
    if (args.id_number is None) == (args.name is None):
        raise InvalidRequest("Give the person's ID number, or --name NAME.")
    with _register(args, settings) as people:
        found = people.find(id_number=args.id_number, name=args.name, reveal=args.reveal)
    if args.json:
        _dump([p.model_dump(mode="json") for p in found])
        return ExitCode.OK
    if not found:
        print("no one with that " + ("ID number" if args.id_number else "name") + " is named on an archived document")
        return ExitCode.OK
    for record in found:
        for line in person_lines(record):
            print(line)
    return ExitCode.OK


# --- printing ----------------------------------------------------------------------------------------------


def archive_lines(record: ArchiveRecord) -> list[str]:
    """The archive as the command prints it."""
    from rules.loans import local_time

    status = {"active": "active (在管)", "set_aside": "set aside (已封存)"}.get(record.status, record.status)
    lines = [f"archive {record.id}",
             f"  place:    {record.estate or '(no estate)'}  {record.building}栋 {record.unit}单元 {record.room}",
             f"  status:   {status}   opened {local_time(record.opened_at)}"
             + (f"   closed {local_time(record.closed_at)}" if record.closed_at else "")]
    owners = ", ".join(_person(p) for p in record.current_owners) or "- (no owner registration or purchase " \
                                                                     "contract names one)"
    lines.append(f"  current owner(s) (现业主): {owners}")
    lines.append(f"  people ({len(record.people)}):")
    for p in record.people:
        lines.append(f"    {'/'.join(p.role_labels):<16} {_person(p)}  ({len(p.documents)} document(s))")
    lines.append(f"  documents ({len(record.documents)}):")
    for d in record.documents:
        how = "  filed by ID number to the archive of its owner" if d.unit_source == "id_number" else ""
        lines.append(f"    {d.id}  {d.label:<12} {d.status:<13} filed {local_time(d.created_at)}{how}")
    return lines


def person_lines(record: PersonRecord) -> list[str]:
    """A person found, as the command prints them."""
    who = record.name + (f"  {record.id_number}" if record.id_number else "") + \
        (f"  {record.phone}" if record.phone else "")
    lines = [f"person {who}"]
    for place in record.archives:
        where = place.place or "(filed in no archive)"
        state = f" [{place.status}]" if place.status and place.status != "active" else ""
        lines.append(f"  {where}{state}  as {', '.join(place.roles)}")
        for d in place.documents:
            lines.append(f"    {d.id}  {d.label}  {d.status}")
    return lines


def _person(p: PersonEntry) -> str:
    text = p.name + (f" {p.id_number}" if p.id_number else "") + (f" {p.phone}" if p.phone else "")
    return text + (" (ID number unsure)" if p.id_unsure and not p.linked_by_id else "")


def _dump(value: object) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


@contextmanager
def _register(args: argparse.Namespace, settings: Settings) -> Iterator[PeopleRegister]:
    from rules.people import PeopleRegister
    from storage.vault import Vault

    with closing(Vault.open(settings, identity=args.identity)) as vault:
        yield PeopleRegister(vault.index, args.identity)
