"""An owner's copy of their data (个人信息副本): one AES-256 encrypted ZIP of a unit's archive.

It holds every original scan of the unit's active archive, byte for byte as
filed (decrypted from the object store in memory, one file at a time), and
the data the archive holds about the person: each document's fields with
ID numbers and phones in full (it is the subject's own data), the corrections
with their history (sensitive old and new values masked, as the correction
history keeps them; the current values are in the fields), and the audit
events about those documents. A README.txt in Chinese says what is inside.

Every entry is encrypted as it is written (WinZip AES-256, which 7-Zip and
most archivers other than Windows' own open); nothing of it is written
anywhere in plain. The caller gives the stream: the command line a private
temporary file beside the target, renamed once complete; the service memory.

The export needs ``subject_export`` on the unit (a refusal is audited) and is
audited as ONE ``subject_export`` event naming the unit, the request it
answers (if given) and the counts, written before the ZIP is handed over;
an export that stops half-way is recorded as stopped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, BinaryIO

import pyzipper
from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.requests import KIND_LABELS, SubjectRequest, read_request, unit_archive
from rules.workdays import COMPANY_TZ
from schemas.errors import IntegrityError, InvalidRequest, NotFound
from schemas.models import UnitRef, estate_name
from storage.corrections import Correction, Corrections
from storage.index import DocumentDetail, db_errors
from storage.objects import load_sealed
from storage.tables import DocumentRow
from storage.vault import Vault
from web.access import Action, require
from web.labels import doc_label, field_label

#: Shortest password accepted for the ZIP (a generated one is longer).
MIN_PASSWORD_CHARS = 12
#: Characters of a generated password: letters and digits that cannot be mistaken for one another.
_PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105 - not a password


@dataclass(frozen=True)
class ExportSummary:
    """What a subject export holds."""

    unit: str
    estate: str | None
    documents: int
    originals: int
    request_id: int | None


def generate_password() -> str:
    """A new ZIP password: 4 groups of 5 unambiguous letters and digits (about 116 bits)."""
    groups = ("".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(5)) for _ in range(4))
    return "-".join(groups)


def check_password(password: str) -> str:
    """The password as given; InvalidRequest when it is too short to protect the owner's data."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidRequest(f"The ZIP password must have at least {MIN_PASSWORD_CHARS} characters; "
                             "give none to have one made.")
    return password


def write_subject_export(vault: Vault, unit: UnitRef, out: BinaryIO, *, password: str, estate: str | None = None,
                         request_id: int | None = None) -> ExportSummary:
    """Write the encrypted ZIP of the archive of ``unit`` (of ``estate``) to ``out`` (seekable), as ``vault.identity``.

    NotFound when the unit has no active archive or it holds no document;
    with ``request_id``, that request must be in the register and concern
    this unit.
    """
    who = vault.identity
    require(who, Action.SUBJECT_EXPORT, vault.index.audit, unit=unit)
    password = check_password(password)
    request = _request(vault, unit, estate, request_id)
    archive_id, estate, doc_ids = _documents(vault, unit, estate if estate or request is None else request.estate)
    detail: dict[str, Any] = {"unit": str(unit), "estate": estate, "archive": archive_id, "request": request_id}
    try:
        originals = _write_zip(vault, out, password, doc_ids, unit, estate, request)
    except BaseException as e:
        vault.audit("subject_export", detail={**detail, "outcome": f"stopped ({type(e).__name__})"})
        raise
    vault.audit("subject_export", detail={**detail, "documents": len(doc_ids), "originals": originals,
                                          "outcome": "completed"})
    return ExportSummary(unit=str(unit), estate=estate, documents=len(doc_ids), originals=originals,
                         request_id=request_id)


def _request(vault: Vault, unit: UnitRef, estate: str | None, request_id: int | None) -> SubjectRequest | None:
    """The request the export answers (it must be of ``unit`` and ``estate``), or None."""
    if request_id is None:
        return None
    request = read_request(vault.index, request_id)
    estate = estate_name(estate)
    if request.unit != str(unit) or (estate and request.estate and estate != request.estate):
        raise InvalidRequest(f"Request {request_id} is about unit {request.unit}, not {unit}.")
    return request


def _documents(vault: Vault, unit: UnitRef, estate: str | None) -> tuple[str, str | None, list[str]]:
    """The unit's active archive (id, estate) and its document ids in filing order; NotFound when empty."""
    with db_errors("read an archive"), Session(vault.index.engine) as s:
        archive = unit_archive(s, unit, estate, required=True)
        assert archive is not None
        doc_ids = list(s.scalars(select(DocumentRow.id).where(DocumentRow.archive_id == archive.id)
                                 .order_by(DocumentRow.created_at, DocumentRow.file_id, DocumentRow.first_page)))
    if not doc_ids:
        raise NotFound(f"The archive of unit {unit} holds no document.")
    return archive.id, archive.estate, doc_ids


def _write_zip(vault: Vault, out: BinaryIO, password: str, doc_ids: list[str], unit: UnitRef, estate: str | None,
               request: SubjectRequest | None) -> int:
    """Write the entries (originals first, one at a time; then the data and the README); the originals' count."""
    index = vault.index
    corrections = Corrections.open(index, vault.keys)
    records: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # file SHA-256 -> its name in the ZIP
    with pyzipper.AESZipFile(out, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(password.encode("utf-8"))
        zf.setencryption(pyzipper.WZ_AES, nbits=256)
        for doc_id in doc_ids:
            detail = index.get_document(doc_id)
            if detail.sha256 not in names:
                names[detail.sha256] = f"originals/{len(names) + 1:02d}{_extension(detail)}"
                zf.writestr(names[detail.sha256], _original(vault, detail), compress_type=pyzipper.ZIP_STORED)
            records.append(_record(vault, detail, names[detail.sha256], corrections.for_document(doc_id)))
        now = dt.datetime.now(COMPANY_TZ)
        data = {"exported_at": now.isoformat(timespec="seconds"), "unit": unit.model_dump(), "estate": estate,
                "request": request.model_dump(mode="json") if request else None, "documents": records}
        zf.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        zf.writestr("data.txt", "\n".join(_readable(records)) + "\n")
        zf.writestr("README.txt", readme(unit, estate, request, now, vault.identity.name, len(records), len(names)))
    return len(names)


def _original(vault: Vault, detail: DocumentDetail) -> bytes:
    """The decrypted original, checked against the SHA-256 the index recorded."""
    data = load_sealed(vault.store, detail.original_key, vault.index.data_key(detail.dek_id))
    if hashlib.sha256(data).hexdigest() != detail.sha256:
        raise IntegrityError(f"The original of document {detail.id} does not match its recorded SHA-256; "
                             "run dangan reconcile and restore it from a backup.")
    return data


def _record(vault: Vault, detail: DocumentDetail, original: str, history: list[Correction]) -> dict[str, Any]:
    """A document's export line with its fields revealed, its correction history and its audit events."""
    record = detail.export_record(vault.index.reveal_fields(detail.id))
    record.update(
        label=doc_label(detail.doc_type), original=original,
        filed_at=detail.created_at.astimezone(COMPANY_TZ).isoformat(timespec="seconds"),
        corrections=[{"id": c.id, "field": c.field, "kind": c.kind, "old_value": c.old_value,
                      "new_value": c.new_value, "by": c.actor, "role": c.role,
                      "at": c.at.astimezone(COMPANY_TZ).isoformat(timespec="seconds")} for c in history],
        audit=[{"at": e.at.astimezone(COMPANY_TZ).isoformat(timespec="seconds"), "actor": e.actor, "role": e.role,
                "action": e.action, "detail": e.detail}
               for e in reversed(vault.index.audit_entries(document_id=detail.id, limit=100_000))])
    return record


def _readable(records: list[dict[str, Any]]) -> Iterator[str]:
    """``data.json`` in words a person reads (Chinese labels)."""
    for n, r in enumerate(records, 1):
        yield f"{n}. {r['label']}（原件：{r['original']}，原文件名：{r['source_name']}，入档：{r['filed_at'][:10]}）"
        for name, value in r["fields"].items():
            yield f"   {field_label(name)}：{value}"
        for c in r["corrections"]:
            change = f"{c['old_value'] or '（空）'} → {c['new_value']}" if c["kind"] == "corrected" else "确认无误"
            yield f"   更正记录 {c['at'][:16]} {field_label(c['field'])}：{change}（{c['by']}）"
        for e in r["audit"]:
            yield f"   操作记录 {e['at'][:16]} {e['actor']}（{e['role']}）{e['action']}"
        yield ""


def readme(unit: UnitRef, estate: str | None, request: SubjectRequest | None, now: dt.datetime, by: str,
           documents: int, originals: int) -> str:
    """The README.txt of the ZIP, in Chinese."""
    place = f"{estate + ' ' if estate else ''}{unit.building}栋{unit.unit}单元{unit.room}室"
    asked = (f"请求编号：{request.id}（{KIND_LABELS.get(request.kind, request.kind)}，{request.received_on} 收到）\n"
             if request else "")
    return f"""业主个人信息副本
================

本压缩包是物业公司档案室按《中华人民共和国个人信息保护法》，应业主本人的请求，
从本户档案中导出的全部关于您的个人信息。

房屋：{place}
{asked}导出时间：{now.strftime('%Y-%m-%d %H:%M')}（北京时间）
经办人：{by}

包含内容
--------
1. originals/ 文件夹：本户档案中的每一份原始扫描件，共 {originals} 个文件，
   与入档时的文件逐字节相同（原文件名见 data.json 中的 source_name）。
2. data.json：档案中关于您的数据（机器可读，UTF-8 编码），共 {documents} 份文件：
   - 每份文件识别出的各项信息（身份证号码、电话等为完整值，因为这是您本人的信息）；
   - 人工更正与确认记录及其历史（谁、何时、哪一项、原值与新值）；
   - 对这些文件的查阅、下载、更正等操作记录（审计日志）。
3. data.txt：与 data.json 内容相同，便于直接阅读。
4. README.txt：本说明。

说明
----
- 更正记录中身份证号码、电话等敏感信息的原值与新值以部分隐藏的形式显示；
  更正后的完整值见各文件的信息项。
- 操作记录中可能出现的身份证号码与电话已部分隐藏。
- 本压缩包以 AES-256 加密，密码另行告知。Windows 自带的解压功能无法打开，
  请使用 7-Zip 等支持 AES 加密的解压软件。
- 如发现信息有误，可向物业档案室申请更正；我们将在 5 个工作日内答复。
"""


def _extension(detail: DocumentDetail) -> str:
    """The original's file extension (``.pdf``): entry names are not encrypted, so they carry nothing else.

    A scan's own name may hold the owner's name or ID number; it is kept in
    ``data.json`` (``source_name``), inside the encryption.
    """
    suffix = PurePosixPath(detail.source_name.replace("\\", "/")).suffix.lower()
    if 1 < len(suffix) <= 6 and suffix[1:].isascii() and suffix[1:].isalnum():
        return suffix
    return f".{detail.kind}" if detail.kind.isascii() and detail.kind.isalnum() else ""
