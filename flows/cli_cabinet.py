"""``dangan coversheets``: print cover sheets for digitising a whole cabinet (see :mod:`ocr.coversheet`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from schemas.errors import ExitCode
from schemas.settings import Settings
from web.access import Action


def register(sub: Any) -> None:
    """Add ``dangan coversheets (--unit B-U-R | --from-csv FILE | --patch-t) -o FILE.pdf``."""
    p = sub.add_parser(
        "coversheets",
        help="print cabinet cover sheets (QR code + 小区/楼栋/单元/房号) to put on top of each folder before scanning",
        description="Print A4 cover sheets as a PDF. Put one on top of each owner folder (or document) and "
                    "scan the whole cabinet as one batch: each sheet's QR code names the unit (and document "
                    "type) of the pages after it, up to the next sheet.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--unit", help="one unit: building-unit-room, e.g. 3-2-1201 or 3栋2单元1201室")
    what.add_argument("--from-csv", type=Path, metavar="FILE",
                      help="a cabinet's units, one per row: estate,building,unit,room[,doc_type,pages] "
                           "(printed in building / unit / room order)")
    what.add_argument("--patch-t", action="store_true",
                      help="print a PATCH-T separator sheet (cuts the batch, no unit) instead")
    p.add_argument("--estate", help="estate (小区) name; with --from-csv, for rows that leave it empty")
    p.add_argument("--type", dest="doc_type", metavar="DOC_TYPE",
                   help="document type the sheet announces (e.g. id_card or 居民身份证复印件); default: the "
                        "whole owner folder")
    p.add_argument("--pages", type=int,
                   help="pages with content expected after the sheet (compared with the pages found)")
    p.add_argument("--batch", help="print run id (default: today's date and four random characters)")
    p.add_argument("-o", "--output", type=Path, required=True, help="PDF file to write")
    p.set_defaults(handler=cmd_coversheets, actions=(Action.INGEST,))


def cmd_coversheets(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """Print the sheets asked for; nothing in the archive is read or changed."""
    from ocr.coversheet_print import (
        PRINT_DPI,
        SheetRequestError,
        batch_id,
        print_cover_sheets,
        render_patch_t_sheet,
        sheet_for_unit,
        sheets_from_csv,
        write_pdf,
    )

    if args.patch_t:
        if args.estate or args.doc_type or args.pages or args.batch:
            raise SheetRequestError("--patch-t prints a separator sheet only; leave out --estate, --type, "
                                    "--pages and --batch")
        write_pdf([render_patch_t_sheet(PRINT_DPI)], args.output, PRINT_DPI)
        print(f"wrote 1 PATCH-T separator sheet to {args.output}")
        return ExitCode.OK
    if args.pages is not None and args.pages < 1:
        raise SheetRequestError(f"--pages must be at least 1, not {args.pages}")
    batch = batch_id(args.batch)
    if args.from_csv is not None:
        if args.doc_type or args.pages:
            raise SheetRequestError("with --from-csv, give document types and page counts in the file's "
                                    "doc_type and pages columns")
        sheets = sheets_from_csv(args.from_csv, batch=batch, estate=args.estate)
    else:
        sheets = [sheet_for_unit(args.unit, batch=batch, estate=args.estate, doc_type=args.doc_type,
                                 pages=args.pages)]
    count = print_cover_sheets(sheets, args.output)
    units = len({(s.estate, s.building, s.unit, s.room) for s in sheets})
    print(f"wrote {count} cover sheet(s) for {units} unit(s) to {args.output} (print run {batch}); print on "
          "one side, put each on top of its folder and scan the whole pile as one batch")
    return ExitCode.OK
