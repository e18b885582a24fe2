"""The encrypted archive as one object: keys, object store and index together.

Callers (flows, CLI, the service) use this; it seals before anything leaves
the process, acts as one identity (``web.access.Identity``), asks the
permission matrix before every read, and writes the audit log for every
view, download and export under that identity's name and role.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, TextIO

from schemas.errors import SourceChanged, WrongMasterKey
from schemas.models import Extraction, OcrPage, SourceFile, StoredObject, UnitRef, ValueSource
from schemas.settings import Settings
from storage.crypto import DataKey, WrappedKey, wrap_key
from storage.index import DocumentDetail, DocumentSummary, Index
from storage.keyring import Keyring
from storage.keys import MasterKey, finish_rotation, key_source
from storage.objects import ObjectStore, load_sealed, ocr_key, original_key, store_sealed
from storage.search import Needs
from storage.shred import ShreddingKek
from storage.stores import make_object_store
from web.access import Action, Identity, local_operator, require, unit_scope


class Vault:
    """Keys + object store + index of one archive, acting as one identity.

    Without an identity it acts as the local operator of the OS account
    running it: whoever holds the master key can read everything anyway. The
    command line and the service always name the identity they proved.
    """

    def __init__(self, settings: Settings, keys: MasterKey, store: ObjectStore, index: Index,
                 identity: Identity | None = None) -> None:
        self.settings = settings
        self.keys = keys
        self.store = store
        self.index = index
        self.identity = identity or local_operator()
        self._owns_index = True

    @classmethod
    def open(cls, settings: Settings, *, identity: Identity | None = None) -> Vault:
        """Open the archive described by ``settings`` with its master key, acting as ``identity``; never creates a key.

        A missing, unreadable, exposed or wrong master key stops here with a
        ConfigError (exit 6): the key is made only by ``dangan keys init``. A
        key rotation interrupted after the index was re-wrapped is finished
        here (the new key beside the key file replaces it).
        """
        source = key_source(settings)
        keys = source.load()
        retired: MasterKey | None = None
        index = Index(settings.database_url, keys)
        try:
            index.create_schema()
            index.unlock()
        except WrongMasterKey:
            newer = source.load_pending()
            if newer is None or not index.unlocks(newer):
                index.close()
                raise
            index.close()
            assert source.path is not None
            finish_rotation(source.path, newer)
            retired, keys = keys, newer
            index = Index(settings.database_url, keys)
            index.unlock()
        except BaseException:
            index.close()
            raise
        try:
            keyring = open_keyring(settings, index)
            if retired is not None:
                keyring.retire(retired.key_id)  # the copies under the key the interrupted rotation replaced
        except BaseException:
            index.close()
            raise
        index.needs = checklist_needs(settings)
        return cls(settings, keys, make_object_store(settings), index, identity)

    def acting_as(self, identity: Identity) -> Vault:
        """The same archive (keys, store and index shared) acting as ``identity``, e.g. one request's user.

        Closing the returned vault leaves the shared index open: close the one you opened.
        """
        vault = Vault(self.settings, self.keys, self.store, self.index, identity)
        vault._owns_index = False
        return vault

    def close(self) -> None:
        """Release database connections (of a vault from :meth:`open`; one from :meth:`acting_as` shares them)."""
        if self._owns_index:
            self.index.close()
            if self.index.keyring is not None:
                self.index.keyring.close()

    # --- ingest -------------------------------------------------------------

    def find_by_sha256(self, sha256: str) -> list[str]:
        """Ids of the archived documents of the file with these exact bytes (empty: not archived)."""
        return self.index.find_by_sha256(sha256)

    def begin_run(self, run_id: str | None = None) -> str:
        """Open an ingest-run record (with ``run_id``, or a new id); returns its id."""
        return self.index.begin_run(run_id)

    def interrupt_runs(self, run_ids: Sequence[str]) -> int:
        """Close the records of runs whose process died while they were ``running`` as ``interrupted``."""
        return self.index.interrupt_runs(run_ids)

    def finish_run(self, run_id: str, counts: dict[str, int], status: str) -> None:
        """Close an ingest-run record with its totals."""
        self.index.finish_run(run_id, counts, status)

    def store_file(self, *, source: SourceFile, pages: Sequence[OcrPage], documents: Sequence[Extraction],
                   run_id: str, unit: UnitRef | None = None, unit_source: ValueSource = "path",
                   filed: Sequence[tuple[UnitRef | None, ValueSource]] | None = None) -> list[str]:
        """Seal and store the original and its OCR result, then index its documents in one transaction.

        With ``unit`` (the unit the drop-folder path names, ``unit_source``
        ``path``) every document is filed under it, whatever its pages read;
        ``filed`` names each document's own unit and source (a cover sheet).
        Safe to repeat after a crash: objects are content-addressed and the
        index insert is idempotent on the SHA-256. Returns the document ids.
        """
        data = source.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != source.sha256:
            raise SourceChanged("The file changed while it was being read (is the scanner still writing?); "
                                "it stays in the drop folder for the next run.")
        ocr_json = _ocr_json(pages)
        dek = DataKey.generate(self.keys)
        wrapped = self._wrap(dek)  # its keyring entry is stored (durably) before anything is sealed with it
        original, ocr = self._put(source.sha256, data, ocr_json, dek, source)
        by_index = {p.index: p for p in pages}
        statuses = [document_status(d, [by_index[i] for i in d.page_indices if i in by_index]) for d in documents]
        doc_ids = self.index.record_file(source=source, documents=documents, pages=pages, original=original,
                                         ocr=ocr, data_key=wrapped, run_id=run_id,
                                         statuses=statuses, unit=unit, unit_source=unit_source, filed=filed)
        stored_dek = self.index.file_data_key_id(source.sha256)
        if stored_dek is not None and stored_dek != dek.dek_id:  # another process archived it first: use its key
            self._put(source.sha256, data, ocr_json, self.index.data_key(stored_dek), source)
            if wrapped.keyring_id is not None and self.index.keyring is not None:
                self.index.keyring.destroy([wrapped.keyring_id])  # ours protects nothing
        return doc_ids

    def _wrap(self, dek: DataKey) -> WrappedKey:
        """``dek`` wrapped by the master key and a new keyring entry (the master key alone without a keyring)."""
        keyring = self.index.keyring
        if keyring is None:
            return wrap_key(dek, self.keys)
        entry_id, secret = keyring.new_entry(self.keys)
        return replace(wrap_key(dek, ShreddingKek(self.keys, entry_id, secret)), keyring_id=entry_id)

    def store_document(self, *, source: SourceFile, pages: Sequence[OcrPage], extraction: Extraction,
                       run_id: str) -> str:
        """Store a file holding one document made of all its pages (see :meth:`store_file`)."""
        if not extraction.page_indices:
            extraction = extraction.model_copy(update={"page_indices": tuple(p.index for p in pages)})
        return self.store_file(source=source, pages=pages, documents=[extraction], run_id=run_id)[0]

    def _put(self, sha: str, data: bytes, ocr_json: bytes, dek: DataKey,
             source: SourceFile) -> tuple[StoredObject, StoredObject]:
        meta = {"kind": source.kind.value}
        return (store_sealed(self.store, original_key(sha), data, dek, metadata=meta),
                store_sealed(self.store, ocr_key(sha), ocr_json, dek))

    # --- read path ----------------------------------------------------------

    def search(self, query: str, *, doc_type: str | None = None, unit: UnitRef | None = None,
               limit: int = 50) -> list[DocumentSummary]:
        """Find documents; the query itself is not written to the audit log (it may be an ID number).

        An owner finds only their own unit's documents (another ``unit`` is refused).
        """
        scope = unit_scope(self.identity)
        self._require(Action.SEARCH, unit=unit or scope)
        unit = unit or scope
        hits = self.index.search(query, doc_type=doc_type, unit=unit, limit=limit)
        self.audit("search", detail={"hits": len(hits), "doc_type": doc_type, "unit": str(unit) if unit else None})
        return hits

    def export_record(self, doc_id: str, *, reveal: bool = False) -> dict[str, Any]:
        """One document as a DESIGN.md export line (audited as a view; ``reveal`` needs ``reveal_pii``)."""
        detail = self.index.get_document(doc_id)
        self._require(Action.VIEW_DOCUMENT, unit=detail.unit, document_id=doc_id)
        if reveal:
            self._require(Action.REVEAL_PII, unit=detail.unit, document_id=doc_id)
        record = detail.export_record(self.index.reveal_fields(doc_id) if reveal else None)
        self.audit("reveal" if reveal else "view", document_id=doc_id)
        return record

    def export_jsonl(self, out: TextIO, *, reveal: bool = False) -> int:
        """Write every document as one JSON line; returns the count.

        The audit row is written before the first line leaves, and a second
        row records the outcome (completed, or how it stopped: a closed pipe,
        a full disk), so an export cut short is still on record.
        """
        self._require(Action.EXPORT)
        if reveal:
            self._require(Action.REVEAL_PII)
        self.audit("export", detail={"revealed": reveal, "outcome": "started"})
        count = 0
        try:
            for detail in self.index.iter_documents():
                record = detail.export_record(self.index.reveal_fields(detail.id) if reveal else None)
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
            out.flush()
        except BaseException as e:
            self.audit("export", detail={"documents": count, "revealed": reveal,
                                         "outcome": f"stopped ({type(e).__name__})"})
            raise
        self.audit("export", detail={"documents": count, "revealed": reveal, "outcome": "completed"})
        return count

    def read_original(self, doc_id: str) -> bytes:
        """Decrypt the original scan (audited as a download)."""
        detail = self.index.get_document(doc_id)
        self._require(Action.DOWNLOAD_ORIGINAL, unit=detail.unit, document_id=doc_id)
        data = load_sealed(self.store, detail.original_key, self.index.data_key(detail.dek_id))
        self.audit("download", document_id=doc_id)
        return data

    def read_ocr(self, doc_id: str) -> list[OcrPage]:
        """Decrypt the stored OCR result (audited as a view)."""
        detail = self.index.get_document(doc_id)
        self._require(Action.VIEW_DOCUMENT, unit=detail.unit, document_id=doc_id)
        raw = load_sealed(self.store, detail.ocr_key, self.index.data_key(detail.dek_id))
        self.audit("view_ocr", document_id=doc_id)
        return [OcrPage.model_validate(p) for p in json.loads(raw)]

    def page_texts(self, doc_id: str, detail: DocumentDetail | None = None) -> list[tuple[int, str]]:
        """The OCR text of each of the document's pages as ``(index in its file, text)``, decrypted in memory only.

        Checked like viewing the document (``view_document`` on its unit; a
        refusal is audited). Not audited as a view: it is for the short, masked
        excerpts a search result shows, and the search itself is audited.
        ``detail``: the document as already read (:meth:`Index.get_documents` reads a page of hits at once).
        """
        if detail is None or detail.id != doc_id:
            detail = self.index.get_document(doc_id)
        # A search hit's masked excerpt is part of searching: no loan of the archive is needed (rules/loans.py).
        self._require(Action.VIEW_DOCUMENT, unit=detail.unit, document_id=doc_id, loan=False)
        raw = load_sealed(self.store, detail.ocr_key, self.index.data_key(detail.dek_id))
        wanted = {p.index for p in detail.page_info} or set(range(detail.first_page,
                                                                   detail.first_page + detail.pages))
        pages = [OcrPage.model_validate(p) for p in json.loads(raw) if p.get("index") in wanted]
        return [(p.index, p.text) for p in sorted(pages, key=lambda p: p.index)]

    def _require(self, action: Action, *, unit: UnitRef | None = None, document_id: str | None = None,
                 loan: bool = True) -> None:
        """The permission matrix, then (for a document, unless ``loan`` is False) the borrowing register."""
        require(self.identity, action, self.index.audit, unit=unit, document_id=document_id)
        if document_id is not None and loan:
            from rules.loans import require_loan

            require_loan(self.index, self.identity, action, document_id)

    def audit(self, action: str, *, document_id: str | None = None, detail: dict[str, Any] | None = None) -> None:
        """Record ``action`` in the audit log under the acting identity's name and role."""
        self.index.audit(self.identity.name, str(self.identity.role), action, document_id=document_id,
                         detail=detail)



def open_keyring(settings: Settings, index: Index) -> Keyring:
    """Open the archive's keyring and bind ``index`` to it.

    Made only for an index not yet bound to a keyring (a new archive, or one
    from before the keyring); once bound, a missing keyring stops here
    (KeyringMissing, exit 6), like a missing master key.
    """
    bound = index.keyring_id()
    keyring = Keyring.open(settings.keyring_database_url, create=bound is None, keyring_id=bound)
    try:
        index.bind_keyring(keyring)
    except BaseException:
        keyring.close()
        raise
    return keyring


def document_status(extraction: Extraction, pages: Sequence[OcrPage]) -> str:
    """``needs_review`` when a field needs a person's eye or no text was read at all, else ``indexed``."""
    if extraction.flagged_fields or not any(p.lines for p in pages):
        return "needs_review"
    return "indexed"


def _ocr_json(pages: Sequence[OcrPage]) -> bytes:
    return json.dumps([p.model_dump(mode="json") for p in pages], ensure_ascii=False).encode("utf-8")


def checklist_needs(settings: Settings) -> Needs:
    """What an archive must hold by the company's checklist (``rules/checklist.py``), read on first use.

    The search and browse show each archive's completeness by it, as the ingest
    report, ``dangan reconcile`` and the catalogue do; a bad checklist file stops
    the command or request that first shows a completeness, with the file's error.
    """
    from rules.checklist import Checklist, load_checklist

    loaded: list[Checklist] = []

    def needs(holdings: Mapping[str, int]) -> Mapping[str, int]:
        if not loaded:
            loaded.append(load_checklist(settings))
        return loaded[0].needed(holdings)

    return needs
