"""CLI: ``python -m tests.synth OUT_DIR --count N --seed S [--clean] [--no-degrade]``."""

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
    args = parser.parse_args(argv)
    if args.clean and args.out_dir.is_dir():
        shutil.rmtree(args.out_dir)
    start = time.monotonic()
    items = generate_corpus(args.out_dir, args.count, args.seed, degrade=not args.no_degrade)
    formats = Counter(i.format for i in items)
    print(
        f"wrote {len(items)} documents ({sum(i.pages for i in items)} pages, "
        f"{len({i.doc_type for i in items})} types, {dict(sorted(formats.items()))}) "
        f"to {args.out_dir} in {time.monotonic() - start:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
