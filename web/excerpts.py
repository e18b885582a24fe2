"""Excerpts of the hits' text on a search result (摘录): read from the object store a few at a time, in parallel.

A hit's excerpt is cut from its document's sealed OCR text
(:meth:`storage.vault.Vault.page_texts`, decrypted in memory only) around the
words of the query (:mod:`storage.excerpt`), ID numbers and phones masked. The
reads go through the vault acting as the person who searched, so each is
checked like viewing the document; they are not audited as views (the search
is, with the number of excerpts it showed). A small pool of threads, shared by
all requests, reads the hits of a page at once; a hit whose text cannot be
read, or is not read in :data:`EXCERPT_WAIT` seconds, is shown without an
excerpt, and the reason is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from schemas.errors import DanganError
from storage.excerpt import Excerpt, Term, excerpt_terms, make_excerpt
from storage.index import DocumentDetail
from storage.search import ArchiveGroup, DocumentHit, SearchResult, understand
from storage.vault import Vault

#: Threads reading excerpts, for all requests together (the S3 client keeps 10 connections).
EXCERPT_WORKERS = 8
#: Seconds a result waits for its excerpts; a hit whose text is not read by then is shown without one.
EXCERPT_WAIT = 3.0

_log = logging.getLogger(__name__)


class HitView(DocumentHit):
    """A document found, with an excerpt of its text around the words of the query (None: none to show)."""

    excerpt: Excerpt | None = None


class GroupView(ArchiveGroup):
    """The hits of one unit archive, with their excerpts."""

    documents: tuple[HitView, ...]


class SearchPage(SearchResult):
    """A search result as the page and the API show it: each hit with its excerpt."""

    groups: tuple[GroupView, ...]

    @classmethod
    def of(cls, result: SearchResult, excerpts: Mapping[str, Excerpt]) -> SearchPage:
        """``result`` with the excerpts of its hits (by document id)."""
        groups = tuple(GroupView(**{**dict(group), "documents": tuple(
            HitView(**dict(hit), excerpt=excerpts.get(hit.id)) for hit in group.documents)})
            for group in result.groups)
        return cls(**{**dict(result), "groups": groups})


class Excerpts:
    """Reads the excerpts of a result's hits with a bounded pool of threads."""

    def __init__(self, *, workers: int = EXCERPT_WORKERS, wait_seconds: float = EXCERPT_WAIT) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="excerpt")
        self._wait = wait_seconds

    def close(self) -> None:
        """Stop the threads (reads under way finish; none waits to begin)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def of_hits(self, vault: Vault, query: str, doc_ids: Sequence[str]) -> dict[str, Excerpt]:
        """The excerpts of the documents ``doc_ids`` for ``query``, read as ``vault``'s identity (by document id).

        Documents in whose text no word of the query is found have none; so
        does a document whose text could not be read (logged).
        """
        terms = excerpt_terms(understand(query))
        if not terms or not doc_ids:
            return {}
        try:  # one read for the page of hits, not one per hit
            details = vault.index.get_documents(doc_ids)
        except DanganError as e:
            _log.warning("no excerpts: the hits could not be read: %s", e.message)
            return {}
        futures: dict[Future[Excerpt | None], str] = {
            self._pool.submit(_excerpt, vault, doc_id, terms, details.get(doc_id)): doc_id
            for doc_id in dict.fromkeys(doc_ids)}
        done, late = wait(futures, timeout=self._wait)
        for future in late:
            future.cancel()
            _log.warning("no excerpt of document %s: its text was not read within %.1f s", futures[future],
                         self._wait)
        out: dict[str, Excerpt] = {}
        for future in done:
            doc_id = futures[future]
            try:
                excerpt = future.result()
            except (DanganError, ValueError) as e:  # ValueError: a stored OCR result that no longer parses
                _log.warning("no excerpt of document %s: %s: %s", doc_id, type(e).__name__,
                             e.message if isinstance(e, DanganError) else "its OCR result cannot be read")
                continue
            if excerpt is not None:
                out[doc_id] = excerpt
        return out


def _excerpt(vault: Vault, doc_id: str, terms: Sequence[Term], detail: DocumentDetail | None) -> Excerpt | None:
    return make_excerpt(vault.page_texts(doc_id, detail), terms)
