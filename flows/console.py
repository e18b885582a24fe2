"""Console output of ``dangan ingest``: a progress bar and the batch summary."""

from __future__ import annotations

import sys
import threading
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows.summary import IngestSummary
from storage.names import escape_controls, safe_name


class ProgressBar:
    """A progress bar on standard error that the flow advances once per file."""

    def __init__(self, *, enabled: bool) -> None:
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[name]}"), console=Console(file=sys.stderr), disable=not enabled,
        )
        self._task = self._progress.add_task("ingest", total=None, name="")

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def start(self, total: int) -> None:
        """The batch holds ``total`` files."""
        with self._lock:
            self._progress.update(self._task, total=total)

    def advance(self, name: str) -> None:
        """One more file handled."""
        with self._lock:
            self._progress.update(self._task, advance=1, name=_plain(safe_name(name)))


def print_summary(summary: IngestSummary, console: Console | None = None) -> None:
    """Print the batch totals, then every quarantined or failed file with its reason."""
    out = console or Console(highlight=False, soft_wrap=True)
    out.print(
        f"{len(summary.files)} file(s): {summary.count('stored')} stored ({summary.documents} documents, "
        f"{summary.pages} pages), {summary.count('duplicate')} already archived, "
        f"{summary.count('quarantined')} quarantined, {summary.count('failed')} failed"
        + (f", {summary.count('sheet')} cover sheet file(s)" if summary.count("sheet") else "")
    )
    if summary.documents_to_review:
        out.print(f"{summary.documents_to_review} document(s) need review (fields flagged below)")
    if summary.qa_report:
        out.print(f"  report       digitisation quality: {_plain(summary.qa_report)}")
    for lack in summary.archive_gaps:
        out.print(f"  incomplete   {_plain(lack.place)}: 缺 {'、'.join(lack.missing)}")
    for f in summary.files:
        name, reason = _plain(f.name), _plain(f.reason or "")
        if f.outcome == "quarantined":
            out.print(f"  quarantined  {name}: {reason}")
        elif f.outcome == "failed":
            out.print(f"  failed       {name}: {reason} (left in place; run again)")
            continue
        if len(f.documents) > 1:
            parts = ", ".join(f"{d.doc_type} p{d.first_page + 1}" for d in f.documents)
            out.print(f"  split        {name}: {len(f.documents)} documents ({parts})")
        for note in f.notes:
            out.print(f"  sheet        {name}: {_plain(note)}")
        for d in f.documents:
            if d.flagged_fields:
                where = f" (page {d.first_page + 1})" if len(f.documents) > 1 else ""
                out.print(f"  check        {name}{where}: {', '.join(d.flagged_fields)} flagged for review")


def _plain(text: str) -> str:
    """Text printed as it is: controls escaped (one line), no Rich markup (``[red]`` in a file name stays text)."""
    return escape(escape_controls(text))
