"""The ``dangan`` command line.

Exceptions become exit codes here and nowhere else: each error class carries
its own (``schemas.errors.ExitCode``). The search
path (search, show, export) never imports Prefect, so it answers at once;
only ``ingest`` loads the flow machinery.

Every command names the actions of the permission matrix it takes (its
parser's ``actions``: a tuple of ``web.access.Action``, or a function of the
parsed arguments giving one); ``main`` proves who runs it and asks the matrix
before the command's handler runs (see :mod:`flows.identity`). The handler
finds the proven identity in ``args.identity``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from schemas.documents import DOC_LABELS, DOC_TYPES
from schemas.errors import DanganError, ExitCode
from schemas.settings import Settings, default_home, load_settings
from web.access import Action

if TYPE_CHECKING:
    from schemas.models import UnitRef
    from storage.search import DocumentSummary
    from storage.vault import Vault


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dangan`` console command.

    Every failure ends here as one line on standard error and the exit code its
    error class carries (``schemas.errors.ExitCode``); a bug's traceback goes to
    the error log under an id the line names.
    """
    args = _parser(_command_named(sys.argv[1:] if argv is None else argv)).parse_args(argv)
    settings: Settings | None = None
    try:
        settings = load_settings()
        settings = _authorized(args, settings)
        return int(args.handler(args, settings))
    except DanganError as e:
        _say(e.message)
        return int(e.exit_code)
    except KeyboardInterrupt:
        _say("interrupted; run the same command again to finish the batch")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:  # the reader of our output went away (``| head``)
        _silence_stdout()
        return int(ExitCode.OK)
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, the traceback in the log
        from flows.errorlog import error_log_path, record_error

        home = settings.home if settings else default_home()
        error_id = record_error(e, home, context=" ".join(sys.argv[1:2]))
        _say(f"internal error {error_id} ({type(e).__name__}); the details are in {error_log_path(home)}. "
             "Please report the error id.")
        return int(ExitCode.INTERNAL)


def _authorized(args: argparse.Namespace, settings: Settings) -> Settings:
    """Prove who runs the command and check its actions; the settings it runs with (no password or token left)."""
    from flows.identity import authorize, command_actions, sign_in, terminal_prompt

    identity = sign_in(settings, prompt=terminal_prompt())
    authorize(settings, identity, command_actions(args))
    args.identity = identity
    return settings.model_copy(update={"password": None, "token": None, "actor": identity.name})


def _say(message: str) -> None:
    """One line on standard error, whatever the message holds (a file name with a newline stays one line)."""
    from storage.names import one_line

    text = one_line(str(message))
    try:
        print(f"dangan: {text}", file=sys.stderr, flush=True)
    except (BrokenPipeError, OSError):
        pass


def _command_named(argv: Sequence[str]) -> str | None:
    """The command a command line names first (None: an option comes first)."""
    return argv[0] if argv and not argv[0].startswith("-") else None


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; for ``command`` defined here, without the other modules' commands.

    Building every command's parser costs a cold ``dangan search`` more than its query; a command
    line naming a command defined here needs no other (any other line gets them all, for its help
    and its errors).
    """
    parser = argparse.ArgumentParser(prog="dangan", description="Owner archive (业主档案) digitiser and search.")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="OCR, encrypt, store and index scans (files and folders)")
    ingest.add_argument("paths", nargs="+", type=Path)
    ingest.add_argument("--keep", action="store_true", help="leave sources in place instead of moving to done/")
    ingest.add_argument("--engine", choices=["rapidocr", "tesseract"], help="OCR engine (default from settings)")
    ingest.add_argument("--workers", type=int, help="documents read in parallel")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.add_argument("--report", type=Path, help="also write the batch summary as JSON to this file")
    ingest.set_defaults(handler=_cmd_ingest, actions=(Action.INGEST,))

    search = sub.add_parser(
        "search", help="find documents by name, ID number (or its last 4-6 digits), phone, unit, contract or words",
        description="QUERY is read like the search page's box: 王伟, an ID number or its last 4-6 digits, a phone, "
                    "3-2-1201 / 3栋2单元1201 / 3号楼1201室, HT-2023-0012, words of the text; several parts must all "
                    "match. It may also hold filters: 身份证, 待审核, 2023-05, 小区:锦绣花园.")
    search.add_argument("query", nargs="?", default="")
    search.add_argument("--type", dest="doc_type", choices=list(DOC_TYPES))
    search.add_argument("--unit", help="building-unit-room, e.g. 3-2-1201")
    search.add_argument("--estate", help="only archives of this estate (小区)")
    search.add_argument("--status", choices=["indexed", "needs_review"])
    search.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="filed on or after this day")
    search.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="filed on or before this day")
    search.add_argument("--limit", type=int, default=50)
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=_cmd_search, actions=(Action.SEARCH,))

    show = sub.add_parser("show", help="show one document's fields (masked unless --reveal)")
    show.add_argument("document_id")
    show.add_argument("--reveal", action="store_true",
                      help="show ID numbers and phones (audited; leadership and archive managers only)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_cmd_show, actions=_revealing(Action.VIEW_DOCUMENT))

    download = sub.add_parser("download", help="decrypt one document's original scan into a file (audited)")
    download.add_argument("document_id")
    download.add_argument("-o", "--output", type=Path, required=True, help="file to write ('-' for standard output)")
    download.set_defaults(handler=_cmd_download, actions=(Action.DOWNLOAD_ORIGINAL,))

    export = sub.add_parser("export", help="export every document as JSON lines")
    export.add_argument("--jsonl", type=Path, required=True, help="output file ('-' for standard output)")
    export.add_argument("--reveal", action="store_true", help="include full ID numbers and phones (audited)")
    export.set_defaults(handler=_cmd_export, actions=_revealing(Action.EXPORT))

    if command in sub.choices:
        return parser
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _revealing(action: Action) -> Callable[[argparse.Namespace], tuple[Action, ...]]:
    """``action``, and ``reveal_pii`` too when the command is given ``--reveal``."""
    return lambda args: (action, Action.REVEAL_PII) if args.reveal else (action,)


#: Modules that add their own sub-commands: each has ``register(sub)``, adding parsers whose
#: ``handler(args, settings) -> ExitCode`` runs the command and whose ``actions`` name what it does
#: (see the module docstring). They must not import Prefect at module level.
_COMMAND_MODULES: tuple[str, ...] = ("flows.cli_keys", "flows.cli_backup", "flows.cli_gc", "flows.cli_cabinet",
                                     "flows.cli_watch", "flows.cli_worker", "flows.cli_runs", "flows.cli_user",
                                     "flows.cli_audit", "flows.cli_serve", "flows.cli_reconcile",
                                     "flows.cli_requests", "flows.cli_loans", "flows.cli_catalogue",
                                     "flows.cli_archive", "flows.cli_retention")


# --- ingest -------------------------------------------------------------------


def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> ExitCode:
    import os

    from flows.console import ProgressBar, print_summary
    from flows.context import RunControl
    from flows.runner import run_ingest

    os.umask(0o077)  # the index, Prefect's state and the logs under DANGAN_HOME are private to their owner
    overrides = {k: v for k, v in (("ocr_engine", args.engine), ("workers", args.workers)) if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        print(f"dangan: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return ExitCode.USAGE
    control = RunControl()
    with ProgressBar(enabled=not args.quiet and sys.stderr.isatty()) as bar:
        summary = run_ingest([str(p) for p in args.paths], settings=settings, keep=args.keep, reporter=bar,
                             control=control)
    print_summary(summary)
    if args.report:
        args.report.write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    return control.exit_code(summary)


# --- search path: no Prefect below this line -----------------------------------


def _open_vault(args: argparse.Namespace, settings: Settings) -> Vault:
    """The archive, acting as the command's proven identity."""
    from storage.vault import Vault

    return Vault.open(settings, identity=args.identity)


def _cmd_search(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from schemas.validators import parse_unit_ref

    unit = None
    if args.unit:
        unit = parse_unit_ref(args.unit)
        if unit is None:
            print(f"dangan: --unit {args.unit!r} is not building-unit-room, e.g. 3-2-1201", file=sys.stderr)
            return ExitCode.USAGE
    query = _search_query(args)
    if query is None:
        return ExitCode.USAGE
    hits = _quick_search(args, settings, query, unit)
    if hits is None:
        with closing(_open_vault(args, settings)) as vault:
            hits = vault.search(query, doc_type=args.doc_type, unit=unit, limit=args.limit)
    if args.json:
        _dump_json([h.model_dump(mode="json") for h in hits], sys.stdout)
        return ExitCode.OK
    if not hits:
        print("no documents found")
        return ExitCode.OK
    for h in hits:
        label = DOC_LABELS.get(h.doc_type, h.doc_type)
        unit_text = f"{h.estate} {h.unit}" if h.estate and h.unit else str(h.unit) if h.unit else "-"
        matched = ", ".join(f"{m.kind}:{m.text}" for m in h.matched)
        print(f"{h.id}  {label:<10}  {unit_text:<16}  {h.status:<12}  {h.source_name}"
              + (f"  [{matched}]" if matched else ""))
    print(f"{len(hits)} document(s)")
    return ExitCode.OK


def _quick_search(args: argparse.Namespace, settings: Settings, query: str,
                  unit: UnitRef | None) -> list[DocumentSummary] | None:
    """The search through the database driver alone (storage/searchsql.py); None: the index needs the full open."""
    from storage.keys import key_source
    from storage.searchsql import open_reader

    reader = open_reader(settings, key_source(settings).load)
    if reader is None:
        return None
    try:
        return reader.search(args.identity, query, doc_type=args.doc_type, unit=unit, limit=args.limit)
    finally:
        reader.close()


def _search_query(args: argparse.Namespace) -> str | None:
    """The query with the filter options written the way the box takes them (None: a bad date, said)."""
    import datetime as dt

    extra = []
    if args.estate:
        extra.append(f"小区:{args.estate.replace(' ', '')}")
    if args.status:
        extra.append(f"状态:{args.status}")
    if args.date_from or args.date_to:
        days = []
        for given in (args.date_from, args.date_to):
            try:
                days.append(dt.date.fromisoformat(given) if given else None)
            except ValueError:
                print(f"dangan: {given!r} is not a day, e.g. 2023-05-01", file=sys.stderr)
                return None
        first, last = days[0] or dt.date(1900, 1, 1), days[1] or dt.date(2999, 12, 31)
        extra.append(f"日期:{first.isoformat()}~{last.isoformat()}")
    return " ".join([args.query, *extra]).strip()


def _cmd_show(args: argparse.Namespace, settings: Settings) -> ExitCode:
    with closing(_open_vault(args, settings)) as vault:
        record = vault.export_record(args.document_id, reveal=args.reveal)
    if args.json:
        _dump_json(record, sys.stdout)
        return ExitCode.OK
    label = DOC_LABELS.get(record["doc_type"], record["doc_type"])
    print(f"{record['id']}  {label} ({record['doc_type']})  {record['source_name']}")
    unit = record.get("unit") or {}
    pages = record.get("page_indices") or []
    where = f" (page {pages[0] + 1}-{pages[-1] + 1} of the file)" if pages and pages[0] > 0 else ""
    source = _UNIT_SOURCES.get(record.get("unit_source") or "", "")
    print(f"  unit: {'-'.join(unit.get(k, '?') for k in ('building', 'unit', 'room')) if unit else '-'}{source}"
          f"   pages: {record['pages']}{where}   status: {record['status']}")
    for name, value in record["fields"].items():
        conf = record["confidence"].get(name)
        flag = f"  !! {record['issues'][name]}" if name in record["issues"] else ""
        print(f"  {name:<20} {value:<28} {conf if conf is not None else ''}{flag}")
    return ExitCode.OK


#: How ``show`` says where a document's unit came from.
_UNIT_SOURCES = {"path": " (from the folder path)", "ocr": " (read from the page)",
                 "cover_sheet": " (from the cover sheet)",
                 "id_number": " (filed by ID number to the archive of its owner)"}


def _cmd_download(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from storage.names import safe_name

    with closing(_open_vault(args, settings)) as vault:
        if str(args.output) == "-":
            sys.stdout.buffer.write(vault.read_original(args.document_id))
            sys.stdout.flush()
            return ExitCode.OK
        data = vault.read_original(args.document_id)
    _write_private(args.output, lambda out: out.write(data), binary=True, what="the original")
    print(f"wrote the original of {args.document_id} to {safe_name(str(args.output))} ({len(data)} bytes)",
          file=sys.stderr)
    return ExitCode.OK


def _cmd_export(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from storage.names import safe_name

    with closing(_open_vault(args, settings)) as vault:
        if str(args.jsonl) == "-":
            try:
                count = vault.export_jsonl(sys.stdout, reveal=args.reveal)
            except BrokenPipeError:
                # The reader stopped early (``| head``): nothing more leaves, the audit log says so.
                _silence_stdout()
                return ExitCode.OK
        else:
            count = _export_to_file(vault, args.jsonl, reveal=args.reveal)
    print(f"exported {count} document(s) to {safe_name(str(args.jsonl))}", file=sys.stderr)
    return ExitCode.OK


def _export_to_file(vault: Vault, path: Path, *, reveal: bool) -> int:
    """Write the export to ``path`` through a private (0600) temporary file, replaced atomically."""
    return _write_private(path, lambda out: vault.export_jsonl(out, reveal=reveal), binary=False, what="the export")


def _write_private(path: Path, write: Callable[[Any], int], *, binary: bool, what: str) -> int:
    """Write ``path`` through a private (0600) temporary file, replaced atomically; ``write``'s result."""
    import os

    from schemas.errors import OutputUnwritable
    from storage.names import safe_name

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an old temporary file keeps its mode otherwise
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as out:
            result = write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputUnwritable(f"cannot write {what} to {safe_name(str(path))}: "
                               f"{e.strerror or type(e).__name__}") from None
    return result


def _silence_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def _dump_json(value: object, out: TextIO) -> None:
    json.dump(value, out, ensure_ascii=False, indent=2)
    out.write("\n")


if __name__ == "__main__":
    sys.exit(main())
