"""Cover sheets scanned as files of their own, carried over to the files after them in a batch.

A clerk scanning a cabinet on a scanner that writes one file per document
(or per press of the button) puts a cover sheet in front of each owner folder;
the sheet then arrives as a file of its own. Within one drop folder (files in
name order, as scanners number them), such a sheet file gives its unit to every
later file up to the next sheet file, and its document type and page count to
the file right after it.

Files are read in parallel: each file says what it is as soon as its pages
are read (:meth:`SheetChain.scanned`), and waits for the files before it in
its folder only before its documents are filed (:meth:`SheetChain.lead`).
Files begin in batch order, so every file waited for is already under way.

A sheet file is not archived (it holds no document of the owner). It moves to
``done/`` once every file it was carried to is settled; when no file followed
it in this batch, or one of them was left in the drop folder, it stays there
too, so the next run files them the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from ocr.coversheet import CoverSheet
from storage.dropfolder import DropItem


@dataclass
class _Entry:
    folder: Path
    seen: threading.Event = field(default_factory=threading.Event)
    cover: CoverSheet | None = None
    #: Paths of the later files this sheet file was carried to.
    carried_to: list[Path] = field(default_factory=list)


class SheetChain:
    """Which sheet file, if any, leads each file of a batch (thread-safe)."""

    def __init__(self, items: Sequence[DropItem]) -> None:
        self._order = [item.path for item in items]
        self._entries = {item.path: _Entry(folder=item.path.parent) for item in items}
        self._guard = threading.Lock()

    def scanned(self, item: DropItem, cover: CoverSheet | None) -> None:
        """``item``'s pages are read: ``cover`` is its sheet when it is nothing but a cover sheet."""
        entry = self._entries.get(item.path)
        if entry is None or entry.seen.is_set():
            return
        entry.cover = cover
        entry.seen.set()

    def release(self, item: DropItem) -> None:
        """``item`` ended without saying (refused, failed, a duplicate): it leads nothing."""
        entry = self._entries.get(item.path)
        if entry is not None:
            entry.seen.set()

    def lead(self, item: DropItem) -> CoverSheet | None:
        """The sheet file that leads ``item``, waiting for the files before it in its folder to say what they are.

        The sheet's document type and page count apply only to the file right
        after it; later files get its unit alone.
        """
        entry = self._entries.get(item.path)
        if entry is None:
            return None
        position = self._order.index(item.path)
        earlier = [p for p in reversed(self._order[:position]) if self._entries[p].folder == entry.folder]
        for distance, path in enumerate(earlier):
            before = self._entries[path]
            before.seen.wait()
            if before.cover is None:
                continue
            with self._guard:
                before.carried_to.append(item.path)
            if distance == 0:
                return before.cover
            return before.cover.model_copy(update={"doc_type": None, "pages": None})
        return None

    def carried_to(self, item: DropItem) -> list[Path]:
        """The files the sheet file ``item`` was carried to."""
        entry = self._entries.get(item.path)
        with self._guard:
            return list(entry.carried_to) if entry is not None else []


_chain: ContextVar[SheetChain | None] = ContextVar("dangan_sheet_chain", default=None)


def current_chain() -> SheetChain | None:
    """The sheet chain of the batch being ingested, if it carries sheet files over."""
    return _chain.get()


@contextmanager
def chain_context(items: Sequence[DropItem]) -> Iterator[SheetChain]:
    """Carry sheet files over between ``items`` for the block (tasks submitted inside it see the chain)."""
    chain = SheetChain(items)
    with using_chain(chain):
        yield chain


@contextmanager
def using_chain(chain: SheetChain) -> Iterator[None]:
    """Make ``chain`` the one :func:`current_chain` gives for the block (a worker's view of the batch's chain)."""
    token = _chain.set(chain)
    try:
        yield
    finally:
        _chain.reset(token)
