"""CLI: ``python -m tests.synth OUT_DIR --count N --seed S [--clean] [--no-degrade]``.

With ``--hard`` it writes the hard corpus instead (whole owner folders, long
contracts, handwriting, seals, ID copies, faxes): ``--folders F`` whole-folder
files, ``--holdout`` for the held-out layouts and hands, ``--workers W``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from tests.synth.corpus import generate_corpus


def main(argv: list[str] | None = None) -> int:
    """Generate a corpus and print a one-line summary."""
    parser = argparse.ArgumentParser(prog="python -m tests.synth", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clean", action="store_true", help="empty OUT_DIR first")
    parser.add_argument("--no-degrade", action="store_true", help="write clean renders")
    parser.add_argument("--hard", action="store_true", help="write the hard corpus (folders, handwriting, seals)")
    parser.add_argument("--folders", type=int, default=None, help="hard corpus: whole-folder files")
    parser.add_argument("--holdout", action="store_true", help="hard corpus: held-out layouts and hands only")
    parser.add_argument("--workers", type=int, default=None, help="hard corpus: rendering processes")
    args = parser.parse_args(argv)
    if args.clean and args.out_dir.is_dir():
        shutil.rmtree(args.out_dir)
    start = time.monotonic()
    if args.hard:
        return _hard(args, start)
    items = generate_corpus(args.out_dir, args.count, args.seed, degrade=not args.no_degrade)
    formats = Counter(i.format for i in items)
    print(
        f"wrote {len(items)} documents ({sum(i.pages for i in items)} pages, "
        f"{len({i.doc_type for i in items})} types, {dict(sorted(formats.items()))}) "
        f"to {args.out_dir} in {time.monotonic() - start:.1f}s"
    )
    return 0


def _hard(args: argparse.Namespace, start: float) -> int:
    """Generate the hard corpus and print a one-line summary."""
    from tests.synth.hard import generate_hard_corpus

    items = generate_hard_corpus(
        args.out_dir, args.count, args.seed, folders=args.folders, holdout=args.holdout, workers=args.workers
    )
    files = {i.file for i in items}
    folders = {i.file for i in items if "folder" in i.conditions}
    print(
        f"wrote {len(items)} documents in {len(files)} files ({len(folders)} whole folders, "
        f"{sum(i.pages for i in items)} document pages) to {args.out_dir} in {time.monotonic() - start:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
