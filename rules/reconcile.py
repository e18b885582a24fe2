"""Monthly reconciliation (每月校对): every archive against the checklist, every stored object against its hash.

:func:`reconcile` walks the index once: each active unit archive's holdings
against the company's checklist (:mod:`rules.checklist`), and, unless asked
not to, each archived file's two objects in the object store: the original
must exist and decrypt to the SHA-256 the index recorded, the OCR result must
exist and pass authentication. Plain bytes stay in memory, one file at a time.
:func:`write_reports` writes what it found as an HTML page for the archive
room and a CSV file for a spreadsheet (UTF-8 with BOM, so Excel reads the
Chinese), both under ``DANGAN_HOME/reports`` unless another folder is given.

``dangan reconcile`` runs it (:mod:`flows.cli_reconcile`), and the monthly
deployment in ``infra/prefect.yaml`` (:mod:`flows.monthly`).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from rules.checklist import Checklist, Gap
from rules.workdays import COMPANY_TZ
from schemas.errors import DanganError, IntegrityError, KeyDestroyed, NotFound
from storage.files import atomic_write
from storage.index import Index
from storage.objects import ObjectStore, load_sealed
from storage.search import natural_key
from storage.tables import ArchiveRow, DocumentRow, FileRow

if TYPE_CHECKING:
    from flows.summary import IngestSummary
    from storage.vault import Vault

_log = logging.getLogger(__name__)

Problem = Literal["missing", "altered", "wrong_sha256", "unreadable"]

#: How a report names each problem, for clerks.
PROBLEM_LABELS: dict[str, str] = {
    "missing": "对象缺失（存储中找不到）",
    "altered": "校验失败（密文被改动或损坏）",
    "wrong_sha256": "校验失败（解密后的 SHA-256 与登记不符）",
    "unreadable": "无法读取（存储或密钥出错）",
}


class ArchiveGaps(BaseModel):
    """One unit archive that lacks documents."""

    model_config = ConfigDict(frozen=True)

    archive_id: str
    estate: str | None
    building: str
    unit: str
    room: str
    documents: int
    gaps: tuple[Gap, ...]

    @property
    def place(self) -> str:
        """``锦绣花园 3栋2单元1201``."""
        place = f"{self.building}栋{self.unit}单元{self.room}"
        return f"{self.estate} {place}" if self.estate else place


class ObjectProblem(BaseModel):
    """A stored object that is not as the index recorded it."""

    model_config = ConfigDict(frozen=True)

    file_id: str
    source_name: str
    key: str
    problem: Problem
    detail: str = ""


class ReconcileReport(BaseModel):
    """What one reconciliation found."""

    model_config = ConfigDict(frozen=True)

    started_at: dt.datetime
    finished_at: dt.datetime
    archives: int
    incomplete: tuple[ArchiveGaps, ...]
    #: None when the objects were not checked.
    files: int | None
    objects: int | None
    problems: tuple[ObjectProblem, ...]
    #: Files whose data key was destroyed (their objects cannot be read by design).
    destroyed: int = 0
    #: Owners' requests (PIPL) still open after their due day (rules/requests.py).
    overdue_requests: int = 0
    #: Paper loans of the borrowing register not back after their due time (rules/loans.py).
    overdue_loans: int = 0

    @property
    def complete(self) -> int:
        """Archives lacking nothing."""
        return self.archives - len(self.incomplete)

    @property
    def intact(self) -> bool:
        """Every object checked is as recorded."""
        return not self.problems


def archive_gaps(index: Index, checklist: Checklist, archive_ids: set[str] | None = None) -> list[ArchiveGaps]:
    """Active archives (all, or those of ``archive_ids``) lacking documents, in estate/building/unit/room order."""
    holdings: dict[str, dict[str, int]] = {}
    archive_stmt = select(ArchiveRow).where(ArchiveRow.status == "active")
    count_stmt = (select(DocumentRow.archive_id, DocumentRow.doc_type, func.count())
                  .where(DocumentRow.archive_id.is_not(None)).group_by(DocumentRow.archive_id, DocumentRow.doc_type))
    if archive_ids is not None:
        if not archive_ids:
            return []
        archive_stmt = archive_stmt.where(ArchiveRow.id.in_(sorted(archive_ids)))
        count_stmt = count_stmt.where(DocumentRow.archive_id.in_(sorted(archive_ids)))
    with index.engine.connect() as c:
        archives = list(c.execute(archive_stmt.with_only_columns(
            ArchiveRow.id, ArchiveRow.estate, ArchiveRow.building, ArchiveRow.unit, ArchiveRow.room)))
        for archive_id, doc_type, n in c.execute(count_stmt):
            holdings.setdefault(str(archive_id), {})[doc_type] = int(n)
    out = []
    for archive_id, estate, building, unit, room in archives:
        held = holdings.get(archive_id, {})
        gaps = checklist.gaps(held)
        if gaps:
            out.append(ArchiveGaps(archive_id=archive_id, estate=estate, building=building, unit=unit, room=room,
                                   documents=sum(held.values()), gaps=gaps))
    out.sort(key=lambda a: (natural_key(a.estate), natural_key(a.building), natural_key(a.unit),
                            natural_key(a.room)))
    return out


def batch_archive_gaps(vault: Vault, summary: IngestSummary) -> IngestSummary:
    """``summary`` with what each archive its stored documents went into still lacks (入档检查 at ingest).

    Best effort: a checklist file that cannot be read or an index that fails here is logged and the
    summary returned as it was (the batch itself is done).
    """
    from flows.summary import ArchiveLack
    from rules.checklist import load_checklist

    doc_ids = [d.document_id for f in summary.files if f.outcome == "stored" for d in f.documents]
    if not doc_ids:
        return summary
    try:
        with vault.index.engine.connect() as c:
            archive_ids = {str(a) for (a,) in c.execute(select(DocumentRow.archive_id).where(
                DocumentRow.id.in_(doc_ids), DocumentRow.archive_id.is_not(None)))}
        gaps = archive_gaps(vault.index, load_checklist(vault.settings), archive_ids)
    except DanganError as e:
        _log.warning("the completeness of this batch's archives was not checked: %s", e.message)
        return summary
    lacks = tuple(ArchiveLack(archive_id=a.archive_id, place=a.place, missing=tuple(g.label for g in a.gaps))
                  for a in gaps)
    return summary.model_copy(update={"archive_gaps": lacks})


def count_active_archives(index: Index) -> int:
    """How many unit archives are active."""
    with index.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(ArchiveRow)
                             .where(ArchiveRow.status == "active")).scalar_one())


def _files(index: Index, batch: int = 500) -> Iterator[tuple[str, str, str, str, str, str]]:
    """(id, source name, sha256, original key, OCR key, data key id) of every archived file, in batches."""
    after = ""
    while True:
        with index.engine.connect() as c:
            rows = list(c.execute(select(FileRow.id, FileRow.source_name, FileRow.sha256, FileRow.original_key,
                                         FileRow.ocr_key, FileRow.dek_id)
                                  .where(FileRow.id > after).order_by(FileRow.id).limit(batch)))
        yield from ((str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5])) for r in rows)
        if len(rows) < batch:
            return
        after = rows[-1][0]


def check_objects(index: Index, store: ObjectStore,
                  progress: Callable[[int], None] | None = None) -> tuple[int, int, list[ObjectProblem], int]:
    """(files, objects checked, problems, files whose key was destroyed)."""
    files = objects = destroyed = 0
    problems: list[ObjectProblem] = []
    for file_id, name, sha, original, ocr, dek_id in _files(index):
        files += 1
        try:
            dek = index.data_key(dek_id)
        except KeyDestroyed:
            destroyed += 1
            continue
        except NotFound:
            problems.append(ObjectProblem(file_id=file_id, source_name=name, key=original, problem="unreadable",
                                          detail=f"the index has no data key {dek_id}"))
            continue
        for key, expected in ((original, sha), (ocr, None)):
            objects += 1
            problem = _check_one(store, key, dek, expected)
            if problem is not None:
                problems.append(ObjectProblem(file_id=file_id, source_name=name, key=key, problem=problem[0],
                                              detail=problem[1]))
        if progress is not None:
            progress(files)
    return files, objects, problems, destroyed


def _check_one(store: ObjectStore, key: str, dek: object, sha256: str | None) -> tuple[Problem, str] | None:
    try:
        if not store.exists(key):
            return "missing", ""
        data = load_sealed(store, key, dek)  # type: ignore[arg-type]
    except IntegrityError as e:
        return "altered", e.message
    except DanganError as e:
        return "unreadable", e.message
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            return "wrong_sha256", f"recorded {sha256[:12]}…, decrypted {actual[:12]}…"
    return None


def reconcile(index: Index, store: ObjectStore, checklist: Checklist, *, objects: bool = True,
              progress: Callable[[int], None] | None = None) -> ReconcileReport:
    """Check every active archive for completeness and (with ``objects``) every stored object for integrity."""
    started = dt.datetime.now(dt.UTC)
    incomplete = archive_gaps(index, checklist)
    archives = count_active_archives(index)
    files = checked = None
    problems: list[ObjectProblem] = []
    destroyed = 0
    if objects:
        files, checked, problems, destroyed = check_objects(index, store, progress)
    return ReconcileReport(started_at=started, finished_at=dt.datetime.now(dt.UTC), archives=archives,
                           incomplete=tuple(incomplete), files=files, objects=checked, problems=tuple(problems),
                           destroyed=destroyed)


# --------------------------------------------------------------------------- reports


def summary_lines(report: ReconcileReport, html_path: Path, csv_path: Path) -> list[str]:
    """What ``dangan reconcile`` prints and the monthly run logs: the totals, the first gaps, every problem."""
    lines = [f"{report.archives} archive(s): {report.complete} complete, {len(report.incomplete)} lacking documents"]
    lines += [f"  {a.place}: 缺 {'、'.join(g.label for g in a.gaps)}" for a in report.incomplete[:20]]
    if len(report.incomplete) > 20:
        lines.append(f"  ... and {len(report.incomplete) - 20} more (see the report)")
    if report.files is None:
        lines.append("stored objects: not checked (--no-objects)")
    else:
        skipped = f", {report.destroyed} destroyed file(s) skipped" if report.destroyed else ""
        lines.append(f"stored objects: {report.objects} of {report.files} file(s) checked, "
                     f"{len(report.problems)} problem(s){skipped}")
        lines += [f"  {p.source_name}: {p.problem} {p.detail}".rstrip() for p in report.problems]
    if report.overdue_requests:
        lines.append(f"owners' requests overdue: {report.overdue_requests} (dangan request list --overdue)")
    if report.overdue_loans:
        lines.append(f"paper loans overdue: {report.overdue_loans} (dangan loan list --overdue)")
    return [*lines, f"report: {html_path}", f"        {csv_path}"]


_CSV_HEAD = ["类别", "小区", "楼栋", "单元", "房号", "缺少的材料 / 问题", "文件", "说明"]


def report_csv(report: ReconcileReport) -> str:
    """The gaps and problems, one per row (for a spreadsheet)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_HEAD)
    for a in report.incomplete:
        for gap in a.gaps:
            writer.writerow(["缺件", a.estate or "", a.building, a.unit, a.room, gap.label, "", ""])
    for p in report.problems:
        writer.writerow(["完整性", "", "", "", "", PROBLEM_LABELS[p.problem], p.source_name, p.detail])
    return out.getvalue()


def report_html(report: ReconcileReport) -> str:
    """A self-contained page for the archive room (no scripts, no outside addresses)."""
    e = html.escape
    when = report.started_at.astimezone(COMPANY_TZ).strftime("%Y-%m-%d %H:%M")
    rows = "".join(
        f"<tr><td>{e(a.place)}</td><td>{a.documents}</td><td>{e('、'.join(g.label for g in a.gaps))}</td></tr>"
        for a in report.incomplete)
    problems = "".join(
        f"<tr><td>{e(p.source_name)}</td><td>{e(PROBLEM_LABELS[p.problem])}</td><td>{e(p.detail)}</td></tr>"
        for p in report.problems)
    if report.files is None:
        integrity = "<p>本次未校验存储对象（--no-objects）。</p>"
    elif report.problems:
        integrity = (f"<p class=bad>共校验 {report.files} 个文件、{report.objects} 个对象，发现 "
                     f"{len(report.problems)} 个问题：</p><table><tr><th>文件</th><th>问题</th><th>说明</th></tr>"
                     f"{problems}</table>")
    else:
        integrity = (f"<p class=ok>共校验 {report.files} 个文件、{report.objects} 个对象，全部完好"
                     f"（解密后与登记的 SHA-256 一致）。</p>")
    destroyed = f"<p>另有 {report.destroyed} 个文件已按规定销毁，不再校验。</p>" if report.destroyed else ""
    requests = (f"<p class=bad>逾期未答复的个人信息权利请求：{report.overdue_requests} 件"
                "（dangan request list --overdue）。</p>" if report.overdue_requests
                else "<p class=ok>没有逾期未答复的个人信息权利请求。</p>")
    loans = (f"<p class=bad>逾期未归还的借阅（纸质档案）：{report.overdue_loans} 件（dangan loan list --overdue）。</p>"
             if report.overdue_loans else "<p class=ok>没有逾期未归还的借阅。</p>")
    gaps = (f"<table><tr><th>档案</th><th>现有材料</th><th>缺少</th></tr>{rows}</table>"
            if report.incomplete else "<p class=ok>所有档案材料齐全。</p>")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>档案校对报告 {e(when)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px 8px;text-align:left}}.bad{{color:#b00}}.ok{{color:#070}}</style>
</head><body>
<h1>档案校对报告</h1>
<p>校对时间：{e(when)}（北京时间）。在用档案 {report.archives} 份，齐全 {report.complete} 份，缺件
{len(report.incomplete)} 份。</p>
<h2>入档检查：缺件清单</h2>
{gaps}
<h2>存储完整性</h2>
{integrity}{destroyed}
<h2>业主个人信息权利请求</h2>
{requests}
<h2>借阅登记</h2>
{loans}
</body></html>
"""


def write_reports(report: ReconcileReport, folder: Path) -> tuple[Path, Path]:
    """Write ``reconcile-YYYY-MM-DD.html`` and ``.csv`` (China date) into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"reconcile-{report.started_at.astimezone(COMPANY_TZ):%Y-%m-%d}"
    html_path, csv_path = folder / f"{stem}.html", folder / f"{stem}.csv"
    atomic_write(html_path, report_html(report).encode("utf-8"))
    atomic_write(csv_path, ("\ufeff" + report_csv(report)).encode("utf-8"))
    return html_path, csv_path


def run_reconcile(vault: Vault, folder: Path, *, objects: bool = True) -> tuple[ReconcileReport, tuple[Path, Path]]:
    """Reconcile the vault's archive with the company's checklist, write the reports, audit it.

    The vault's identity must be allowed to reconcile (checked here too, so every caller is covered).
    """
    from rules.checklist import load_checklist
    from rules.loans import LoanRegister
    from rules.requests import RequestRegister
    from rules.workdays import load_calendar
    from web.access import Action, require

    require(vault.identity, Action.RECONCILE, vault.index.audit)
    report = reconcile(vault.index, vault.store, load_checklist(vault.settings), objects=objects)
    register = RequestRegister.open(vault.index, vault.identity, load_calendar(vault.settings.home))
    loans = LoanRegister.open(vault.index, vault.identity)
    report = report.model_copy(update={"overdue_requests": register.overdue_count(),
                                       "overdue_loans": loans.overdue_count()})
    paths = write_reports(report, folder)
    vault.audit("reconcile", detail={"archives": report.archives, "incomplete": len(report.incomplete),
                                     "objects": report.objects, "problems": len(report.problems),
                                     "overdue_requests": report.overdue_requests,
                                     "overdue_loans": report.overdue_loans,
                                     "outcome": "intact" if report.intact else "problems"})
    return report, paths
