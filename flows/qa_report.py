"""The digitisation quality report of one ingest batch (数字化质量检查报告), for an archive clerk.

:func:`write_qa_report` writes two files into a folder:

* ``qa-<batch>.html``: one self-contained page (inline CSS, no scripts, no
  outside assets) with Chinese headings: the batch, its operator and time,
  summary counts, the scanners that made the files, the page-count check
  against the cover sheets, the acceptance sample for a person to check, and
  one row per page (flagged rows highlighted), and the rules checked;
* ``qa-<batch>.csv``: one row per page, UTF-8 with a byte-order mark (so
  Excel shows the Chinese), a Chinese header row. The columns, by stable key
  (:data:`CSV_COLUMNS`), in this order:

  ======================  ===============  ==================================================
  key                     header           value
  ======================  ===============  ==================================================
  ``position``            序号             position of the page in the batch, from 1
  ``file``                文件             file name (ID numbers and phones masked)
  ``page``                页码             page in its file, from 1
  ``dpi``                 分辨率(dpi)      scan resolution; empty when unknown
  ``low_resolution``      分辨率不足       是 / 否 (below 200 dpi)
  ``colour_mode``         色彩             彩色 / 灰度 / 黑白二值
  ``scan_skew_deg``       原始倾斜(°)      skew of the scan, counter-clockwise positive; empty on blank pages
  ``residual_skew_deg``   纠偏后倾斜(°)    skew left after the pipeline's deskew; empty on blank pages
  ``cut_edges``           裁切             edges cutting content off: 上、下、左、右; empty when none
  ``blank``               空白页           是 / 否
  ``near_blank``          近空白页         是 / 否 (no text, a few marks)
  ``flagged``             需复核           是 / 否 (a person must look at the page)
  ``in_sample``           抽检             是 / 否 (in the acceptance sample)
  ``issues``              问题             the page's findings, separated by "；"
  ======================  ===============  ==================================================

File names are shown through :func:`storage.names.safe_name` (ID numbers and
phone numbers masked, control characters escaped), and every value in the
HTML is escaped, so a file name can hold anything. Text cells of the CSV that
a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``) are prefixed with an apostrophe.

The acceptance sample (:func:`choose_sample`) holds every flagged page and
a random draw of the other pages, seeded by the batch id (the same batch
always gives the same sample): at least :data:`SAMPLE_SHARE` of the batch's
pages (DA/T 31-2017 asks for an acceptance sample of no less than 5 %) and
at least :data:`SAMPLE_MIN_PAGES`.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import math
import os
import random
import re
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ocr.coversheet import Segment
from ocr.quality import COLOUR_LABELS, EDGE_LABELS, MAX_RESIDUAL_SKEW, MIN_DPI, PageQuality, ScanMetadata
from schemas.documents import DOC_LABELS
from storage.names import safe_name

#: Share of a batch's pages drawn at random for the acceptance check, besides every flagged page.
SAMPLE_SHARE = 0.05
#: ... and at least this many pages (all of them in a smaller batch).
SAMPLE_MIN_PAGES = 10

#: CSV columns: stable key and Chinese header.
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("position", "序号"),
    ("file", "文件"),
    ("page", "页码"),
    ("dpi", "分辨率(dpi)"),
    ("low_resolution", "分辨率不足"),
    ("colour_mode", "色彩"),
    ("scan_skew_deg", "原始倾斜(°)"),
    ("residual_skew_deg", "纠偏后倾斜(°)"),
    ("cut_edges", "裁切"),
    ("blank", "空白页"),
    ("near_blank", "近空白页"),
    ("flagged", "需复核"),
    ("in_sample", "抽检"),
    ("issues", "问题"),
)

_PROBLEM_LABELS = {
    "unreadable_sheet": "封面无法识别",
    "page_count": "页数不符",
    "empty_segment": "封面后没有页面",
    "sheet_warning": "封面提示",
    "sheet_order": "封面顺序",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class QaPage(_Model):
    """One page of the batch and its measured quality."""

    #: Position of the page in the batch, from 0 (the order pages were scanned and read).
    position: int
    #: Name of the file the page belongs to, as given (masked when shown).
    file: str
    #: Page in its file, from 0.
    page: int
    quality: PageQuality


class QaFile(_Model):
    """One input file of the batch."""

    #: File name as given (masked when shown).
    name: str
    pages: int
    metadata: ScanMetadata = Field(default_factory=ScanMetadata)


class QaProblem(_Model):
    """Something in the batch a person must see: an unreadable cover sheet, a page count that does not match."""

    #: Position in the batch the problem is at, from 0 (None: the batch as a whole).
    page: int | None = None
    #: Short Chinese kind ("封面无法识别"); empty when the message says it all.
    kind: str = ""
    message: str


class QaSegment(_Model):
    """A run of pages under one cover sheet (or before the first), with its expected and actual page counts."""

    #: What the sheet names, e.g. "阳光花园 3-2-1201 身份证复印件".
    label: str
    #: Position of the cover sheet in the batch, from 0 (None: no sheet).
    sheet_page: int | None = None
    #: Pages with content the cover sheet announces (None: not stated).
    expected_pages: int | None = None
    #: Pages with content found (blank pages not counted).
    actual_pages: int
    problems: list[QaProblem] = Field(default_factory=list)

    @property
    def matches(self) -> bool | None:
        """True when the counts agree, False when not, None when the sheet states no count."""
        return None if self.expected_pages is None else self.expected_pages == self.actual_pages


class QaBatch(_Model):
    """Everything the QA report of one ingest batch shows."""

    batch_id: str
    started: datetime
    finished: datetime | None = None
    #: Who scanned or ran the batch (the acting user).
    operator: str = ""
    files: list[QaFile] = Field(default_factory=list)
    #: Every page of the batch, in batch order.
    pages: list[QaPage] = Field(default_factory=list)
    segments: list[QaSegment] = Field(default_factory=list)
    #: Problems of the batch as a whole or of its cover sheets (beyond those of the segments).
    problems: list[QaProblem] = Field(default_factory=list)
    #: Positions of the acceptance sample; None: :func:`choose_sample` picks them.
    sample: list[int] | None = None

    def sample_positions(self) -> list[int]:
        """The acceptance sample: as given, else :func:`choose_sample` with the default rule."""
        return sorted(self.sample) if self.sample is not None else choose_sample(self.pages, self.batch_id)


# --- sample ------------------------------------------------------------------------------------


def choose_sample(
    pages: Sequence[QaPage], batch_id: str, *, minimum: int = SAMPLE_MIN_PAGES, share: float = SAMPLE_SHARE,
) -> list[int]:
    """Positions of the pages a person checks: every flagged page, plus a reproducible random draw.

    The draw takes ``max(minimum, ceil(share * len(pages)))`` of the pages that
    are not flagged (all of them when there are fewer), pages with content
    before blank ones, seeded by ``batch_id``: the same batch gives the same
    sample on every run and machine. Returned sorted.
    """
    flagged = {p.position for p in pages if p.quality.flagged}
    others = sorted((p for p in pages if p.position not in flagged), key=lambda p: p.position)
    size = min(len(others), max(minimum, math.ceil(share * len(pages))))
    seed = int.from_bytes(hashlib.sha256(batch_id.encode("utf-8", "surrogatepass")).digest()[:8])
    rng = random.Random(seed)  # noqa: S311 - a reproducible draw, not a secret
    content = [p.position for p in others if not (p.quality.blank or p.quality.near_blank)]
    blank = [p.position for p in others if p.quality.blank or p.quality.near_blank]
    drawn = rng.sample(content, min(size, len(content)))
    drawn += rng.sample(blank, size - len(drawn))
    return sorted(flagged.union(drawn))


# --- segments from the cover-sheet split -------------------------------------------------------


def segments_from_split(segments: Iterable[Segment]) -> list[QaSegment]:
    """The report's view of a batch cut at cover sheets (:func:`ocr.coversheet.split_batch`)."""
    out = []
    for seg in segments:
        if seg.opened_by == "cover_sheet":
            parts = [seg.estate or "", str(seg.unit) if seg.unit else "",
                     DOC_LABELS.get(seg.doc_type, seg.doc_type) if seg.doc_type else ""]
            label = " ".join(p for p in parts if p) or "封面"
        else:
            label = {"start": "第一张封面之前的页", "patch_t": "分隔页之后",
                     "unreadable_sheet": "无法识别的封面之后"}[seg.opened_by]
        problems = [QaProblem(page=p.page, kind=_PROBLEM_LABELS.get(p.code, ""), message=p.message)
                    for p in seg.problems]
        out.append(QaSegment(label=label, sheet_page=seg.sheet_page, expected_pages=seg.expected_pages,
                             actual_pages=len(seg.pages), problems=problems))
    return out


# --- writing -----------------------------------------------------------------------------------


def write_qa_report(batch: QaBatch, folder: Path) -> tuple[Path, Path]:
    """Write ``qa-<batch>.html`` and ``qa-<batch>.csv`` into ``folder`` (created if missing); return both paths.

    Each file is written to a temporary name and renamed, so a reader never
    sees half a report. Characters of the batch id that do not belong in a
    file name become ``_``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    sample = set(batch.sample_positions())
    html_path, csv_path = report_paths(folder, batch.batch_id)
    _write_atomic(html_path, render_html(batch, sample).encode("utf-8"))
    _write_atomic(csv_path, render_csv(batch, sample).encode("utf-8-sig"))
    return html_path, csv_path


def batch_id_of(run_id: str) -> str:
    """The batch id an ingest run's report carries: the first 8 characters of the run's id."""
    return run_id[:8]


def reports_folder(home: Path) -> Path:
    """Where an archive's batch reports are written."""
    return home / "reports"


def report_paths(folder: Path, batch_id: str) -> tuple[Path, Path]:
    """Where the HTML and CSV reports of ``batch_id`` lie in ``folder``."""
    stem = f"qa-{_file_part(batch_id)}"
    return folder / f"{stem}.html", folder / f"{stem}.csv"


def render_csv(batch: QaBatch, sample: set[int]) -> str:
    """The CSV text (without the byte-order mark): a Chinese header row, then one row per page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([header for _, header in CSV_COLUMNS])
    for page in batch.pages:
        row = _csv_row(page, page.position in sample)
        writer.writerow([row[key] for key, _ in CSV_COLUMNS])
    return buffer.getvalue()


def _csv_row(page: QaPage, in_sample: bool) -> dict[str, str]:
    q = page.quality
    return {
        "position": str(page.position + 1),
        "file": _cell(safe_name(page.file)),
        "page": str(page.page + 1),
        "dpi": _number(q.dpi, 0),
        "low_resolution": _yes(q.low_resolution),
        "colour_mode": COLOUR_LABELS[q.colour_mode],
        "scan_skew_deg": _number(q.scan_skew_deg, 2),
        "residual_skew_deg": _number(q.residual_skew_deg, 2),
        "cut_edges": "、".join(EDGE_LABELS[e] for e in q.cut_edges),
        "blank": _yes(q.blank),
        "near_blank": _yes(q.near_blank),
        "flagged": _yes(q.flagged),
        "in_sample": _yes(in_sample),
        "issues": _cell("；".join(safe_name(i.message) for i in q.issues)),
    }


_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:24px;color:#222;font-size:14px}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f2f2f2;white-space:nowrap}td.n{text-align:right;white-space:nowrap}
table.info th{text-align:right}
tr.flag td{background:#fde8e8}tr.note td{background:#fff8e1}tr.ok td{background:#e8f5e9}
.counts{display:flex;flex-wrap:wrap;gap:8px;padding:0;list-style:none}
.counts li{border:1px solid #ccc;border-radius:4px;padding:6px 12px;min-width:90px}
.counts li b{display:block;font-size:20px}.counts li.bad{border-color:#d33;color:#b00}
.verdict{font-weight:bold}.verdict.bad{color:#b00}.verdict.good{color:#276e2b}
.muted{color:#777}ul.rules li{margin:3px 0}.box{display:inline-block;width:1em;height:1em;border:1px solid #555;
vertical-align:middle;margin:0 2px 0 8px}
@media print{body{margin:8mm}tr{page-break-inside:avoid}h2{page-break-after:avoid}}
"""


def render_html(batch: QaBatch, sample: set[int]) -> str:
    """The report as one self-contained HTML page."""
    pages = batch.pages
    flagged = [p for p in pages if p.quality.flagged]
    mismatched = [s for s in batch.segments if s.matches is False]
    problems = [*batch.problems, *(p for s in batch.segments for p in s.problems)]
    parts = [
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>数字化质量检查报告 · 批次 {_e(batch.batch_id)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n",
        "<h1>数字化质量检查报告</h1>\n",
        _info_table(batch),
        _summary(batch, flagged, mismatched, problems, sample),
        _devices(batch.files),
        _page_count_check(batch.segments, problems),
        _sample_section(batch, sample),
        _page_table(pages, sample),
        _rules(),
        "</body>\n</html>\n",
    ]
    return "".join(parts)


def _info_table(batch: QaBatch) -> str:
    rows = [
        ("批次", _e(batch.batch_id)),
        ("操作员", _e(batch.operator) or '<span class="muted">未记录</span>'),
        ("开始时间", _e(_time(batch.started))),
        ("结束时间", _e(_time(batch.finished)) or '<span class="muted">未结束</span>'),
        ("文件数", str(len(batch.files))),
        ("页数", str(len(batch.pages))),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>\n" for k, v in rows)
    return f'<table class="info">\n{body}</table>\n'


def _summary(batch: QaBatch, flagged: list[QaPage], mismatched: list[QaSegment],
             problems: list[QaProblem], sample: set[int]) -> str:
    qs = [p.quality for p in batch.pages]
    counts = [
        ("页数", len(qs), False),
        ("需复核", len(flagged), True),
        ("分辨率不足", sum(q.low_resolution for q in qs), True),
        ("分辨率未知", sum(q.dpi is None for q in qs), True),
        ("倾斜", sum(any(i.code == "residual_skew" for i in q.issues) for q in qs), True),
        ("裁切", sum(bool(q.cut_edges) for q in qs), True),
        ("空白页", sum(q.blank for q in qs), False),
        ("近空白页", sum(q.near_blank for q in qs), True),
        ("页数不符", len(mismatched), True),
        ("封面问题", sum(p.kind == _PROBLEM_LABELS["unreadable_sheet"] for p in problems), True),
        ("抽检样本", len(sample), False),
    ]
    items = "".join(
        f'<li class="{"bad" if bad and n else ""}"><b>{n}</b>{label}</li>' for label, n, bad in counts
    )
    if flagged or mismatched or problems:
        verdict = (f'<p class="verdict bad">有 {len(flagged)} 页需复核、{len(mismatched)} 处页数不符、'
                   f"{len(problems)} 条封面或分段问题：请按下表逐项核对，必要时重新扫描。</p>")
    else:
        verdict = '<p class="verdict good">自动检查未发现问题；请完成抽检样本的人工核对。</p>'
    return f'<h2>概况</h2>\n<ul class="counts">{items}</ul>\n{verdict}\n'


def _devices(files: list[QaFile]) -> str:
    if not files:
        return '<h2>扫描设备</h2>\n<p class="muted">本批次没有文件。</p>\n'
    head = ("<tr><th>文件</th><th>页数</th><th>扫描设备</th><th>软件</th><th>色彩模式</th><th>分辨率</th>"
            "<th>生成时间</th></tr>\n")
    rows = []
    for f in files:
        meta = f.metadata
        dpis = sorted({d for d in meta.page_dpi if d is not None})
        dpi = ("、".join(f"{d:g}" for d in dpis) + " dpi") if dpis else ""
        if dpis and len(dpis) < len(meta.page_dpi):
            dpi += "（部分页未记录）"
        low = any(d < MIN_DPI for d in dpis)
        rows.append(
            f'<tr class="{"flag" if low else ""}"><td>{_e(safe_name(f.name))}</td><td class="n">{f.pages}</td>'
            f"<td>{_e(safe_name(meta.device)) or _unknown()}</td><td>{_e(safe_name(meta.program)) or _unknown()}</td>"
            f"<td>{_e('、'.join(meta.colour_modes)) or _unknown()}</td><td>{_e(dpi) or _unknown()}</td>"
            f"<td>{_e(_time(meta.created)) or _unknown()}</td></tr>\n"
        )
    return f"<h2>扫描设备</h2>\n<table>\n{head}{''.join(rows)}</table>\n"


def _page_count_check(segments: list[QaSegment], problems: list[QaProblem]) -> str:
    out = ["<h2>页数核对</h2>\n"]
    if segments:
        out.append("<table>\n<tr><th>分段</th><th>封面位置</th><th>应有页数</th><th>实有页数</th><th>结果</th></tr>\n")
        for s in segments:
            result = {True: ("ok", "一致"), False: ("flag", "不符"), None: ("", "封面未注明页数")}[s.matches]
            where = f"第 {s.sheet_page + 1} 页" if s.sheet_page is not None else ""
            expected = "" if s.expected_pages is None else str(s.expected_pages)
            out.append(
                f'<tr class="{result[0]}"><td>{_e(safe_name(s.label))}</td><td>{where}</td>'
                f'<td class="n">{expected}</td><td class="n">{s.actual_pages}</td><td>{result[1]}</td></tr>\n'
            )
        out.append("</table>\n")
    else:
        out.append('<p class="muted">本批次没有封面，未核对页数。</p>\n')
    if problems:
        out.append("<table>\n<tr><th>位置</th><th>问题</th><th>说明</th></tr>\n")
        for p in sorted(problems, key=lambda p: (p.page is None, p.page or 0)):
            where = f"第 {p.page + 1} 页" if p.page is not None else "整批"
            out.append(f'<tr class="flag"><td>{where}</td><td>{_e(p.kind)}</td>'
                       f"<td>{_e(safe_name(p.message))}</td></tr>\n")
        out.append("</table>\n")
    return "".join(out)


def _sample_section(batch: QaBatch, sample: set[int]) -> str:
    by_position = {p.position: p for p in batch.pages}
    random_count = sum(1 for pos in sample if pos in by_position and not by_position[pos].quality.flagged)
    out = [
        "<h2>抽检样本</h2>\n",
        f"<p>共 {len(sample)} 页：全部需复核的页面，另按批次号随机抽取 {random_count} 页"
        f"（不少于总页数的 {SAMPLE_SHARE:.0%}，至少 {SAMPLE_MIN_PAGES} 页，不足时全部抽取；同一批次每次抽取结果相同）。"
        "请对照原件逐页核对图像是否清晰、完整、端正，页序是否正确。</p>\n",
    ]
    if not sample:
        out.append('<p class="muted">本批次没有页面。</p>\n')
        return "".join(out)
    out.append("<table>\n<tr><th>序号</th><th>文件</th><th>页码</th><th>抽取原因</th><th>核对结果</th></tr>\n")
    for pos in sorted(sample):
        page = by_position.get(pos)
        if page is None:
            continue
        reason = "需复核：" + "；".join(i.message for i in page.quality.issues if i.severity == "flag") \
            if page.quality.flagged else "随机抽取"
        out.append(
            f'<tr class="{"flag" if page.quality.flagged else ""}"><td class="n">{pos + 1}</td>'
            f'<td>{_e(safe_name(page.file))}</td><td class="n">{page.page + 1}</td><td>{_e(reason)}</td>'
            '<td><span class="box"></span>合格<span class="box"></span>不合格</td></tr>\n'
        )
    out.append("</table>\n<p>核对人：________________　　核对日期：________________</p>\n")
    return "".join(out)


def _page_table(pages: list[QaPage], sample: set[int]) -> str:
    out = [
        "<h2>逐页检查</h2>\n<table>\n<tr><th>序号</th><th>文件</th><th>页码</th><th>分辨率</th><th>色彩</th>"
        "<th>倾斜（原始 / 纠偏后）</th><th>裁切</th><th>空白页</th><th>问题</th><th>抽检</th></tr>\n"
    ]
    for page in pages:
        q = page.quality
        css = "flag" if q.flagged else "note" if q.issues else ""
        dpi = f"{q.dpi:g} dpi" if q.dpi is not None else "未知"
        skew = ("—" if q.scan_skew_deg is None
                else f"{q.scan_skew_deg:+.1f}° / {q.residual_skew_deg or 0.0:+.1f}°")
        blank = "空白" if q.blank else "近空白" if q.near_blank else ""
        cut = "、".join(EDGE_LABELS[e] for e in q.cut_edges)
        issues = "<br>".join(_e(i.message) for i in q.issues)
        out.append(
            f'<tr class="{css}"><td class="n">{page.position + 1}</td><td>{_e(safe_name(page.file))}</td>'
            f'<td class="n">{page.page + 1}</td><td class="n">{dpi}</td><td>{COLOUR_LABELS[q.colour_mode]}</td>'
            f'<td class="n">{skew}</td><td>{cut}</td><td>{blank}</td><td>{issues}</td>'
            f"<td>{'是' if page.position in sample else ''}</td></tr>\n"
        )
    out.append("</table>\n")
    return "".join(out)


def _rules() -> str:
    rules = [
        f"分辨率：一般文书档案扫描分辨率不低于 {MIN_DPI:.0f} dpi；文字小、密或字迹不清时宜用 300 dpi。",
        "色彩：页面有红头、印章、照片或彩色插图时应采用彩色模式（24 位）扫描；纯黑白且字迹清晰的页面可用黑白或灰度。",
        f"倾斜：偏斜的图像应纠偏，纠偏后不应看出倾斜；本报告标出纠偏后仍超过 {MAX_RESIDUAL_SKEW:g}° 的页面。"
        "识别时使用纠偏后的图像，存档的原件不作改动。",
        "完整：图像应完整反映原件，文字或表格线延伸到图像边缘说明原件有部分未扫入。",
        "空白页：空白页不含内容；近空白页只有零星痕迹，系统按空白页处理，请确认没有漏掉签名、印章等内容。",
        "页数：每份文件的实扫页数应与封面（登记）所注页数一致；漏扫、重扫应补扫并注明原因。",
        f"抽检：按不低于 {SAMPLE_SHARE:.0%} 的比例随机抽检，并核对全部需复核页面。",
    ]
    items = "".join(f"<li>{_e(r)}</li>" for r in rules)
    return (
        "<h2>检查依据</h2>\n<p>参照 DA/T 31-2017《纸质档案数字化规范》的要求：</p>\n"
        f'<ul class="rules">{items}</ul>\n'
        '<p class="muted">分辨率取自文件记录的扫描分辨率；倾斜、裁切、空白页由系统自动测量，仅供核对参考。</p>\n'
    )


# --- helpers -----------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _unknown() -> str:
    return '<span class="muted">未记录</span>'


def _time(value: datetime | None) -> str:
    if value is None:
        return ""
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    offset = value.strftime("%z")
    return f"{text} UTC{offset[:3]}:{offset[3:]}" if offset else text


def _yes(value: bool) -> str:
    return "是" if value else "否"


def _number(value: float | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"


def _cell(text: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _file_part(batch_id: str) -> str:
    part = re.sub(r"[^0-9A-Za-z._-]", "_", batch_id).strip("._")[:100]
    return part or "batch"


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
