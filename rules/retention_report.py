"""The retention list as a report for the archive room (保管期限到期清单): HTML and CSV.

The ``retention-due`` deployment (:mod:`flows.retention`) and ``dangan retention
list --report FOLDER`` write it: every set-aside archive of a former owner with
the day its retention ends, those due for destruction first (retention passed,
no legal hold), then those held, then those due within :data:`SOON_DAYS` days.
Nothing is destroyed by it: a destruction is requested and approved by people
(:mod:`rules.destruction`). No name, ID number or phone is in it.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from collections.abc import Sequence
from pathlib import Path

from rules.retention import SetAside
from rules.workdays import COMPANY_TZ
from schemas.models import place_text
from storage.files import atomic_write

#: Archives whose retention ends within this many days are listed as coming up.
SOON_DAYS = 90


def due_lines(rows: Sequence[SetAside], now: dt.datetime) -> tuple[list[SetAside], list[SetAside], list[SetAside]]:
    """(due for destruction, held, due within :data:`SOON_DAYS`) of the set-aside archives ``rows``."""
    set_aside = [r for r in rows if r.status == "set_aside"]
    soon = now + dt.timedelta(days=SOON_DAYS)
    due = [r for r in set_aside if r.due]
    held = [r for r in set_aside if r.held]
    coming = [r for r in set_aside if not r.due and not r.held and r.retention_until is not None
              and r.retention_until <= soon]
    return due, held, coming


def _day(at: dt.datetime | None) -> str:
    return at.astimezone(COMPANY_TZ).date().isoformat() if at else ""


def report_csv(rows: Sequence[SetAside], now: dt.datetime) -> str:
    """One line per listed archive: 类别, 小区, 单元, 封存日期, 保管期满, 文件数, 档案编号."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["类别", "小区", "楼栋-单元-房号", "封存日期", "保管期满", "文件数", "档案编号"])
    due, held, coming = due_lines(rows, now)
    for kind, listed in (("到期待销毁", due), ("法律保全中", held), (f"{SOON_DAYS}天内到期", coming)):
        for r in listed:
            writer.writerow([kind, r.estate or "", r.unit, _day(r.set_aside_at), _day(r.retention_until), r.documents,
                             r.archive_id])
    return out.getvalue()


def report_html(rows: Sequence[SetAside], now: dt.datetime) -> str:
    """A self-contained page (no scripts, no outside addresses)."""
    e = html.escape
    due, held, coming = due_lines(rows, now)

    def table(listed: Sequence[SetAside], empty: str) -> str:
        if not listed:
            return f"<p class=ok>{e(empty)}</p>"
        body = "".join(f"<tr><td>{e(place_text(r.estate, r.unit))}</td><td>{_day(r.set_aside_at)}</td>"
                       f"<td>{_day(r.retention_until)}</td><td>{r.documents}</td>"
                       f"<td><code>{e(r.archive_id)}</code></td></tr>" for r in listed)
        return ("<table><tr><th>档案</th><th>封存日期</th><th>保管期满</th><th>文件数</th><th>档案编号</th></tr>"
                f"{body}</table>")

    when = now.astimezone(COMPANY_TZ).strftime("%Y-%m-%d %H:%M")
    kept = sum(1 for r in rows if r.status == "set_aside")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>保管期限到期清单 {e(when)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px 8px;text-align:left}}.bad{{color:#b00}}.ok{{color:#070}}</style>
</head><body>
<h1>保管期限到期清单</h1>
<p>生成时间：{e(when)}（北京时间）。封存的原业主档案 {kept} 份，其中保管期满待销毁 {len(due)} 份，
法律保全中 {len(held)} 份，{SOON_DAYS} 天内到期 {len(coming)} 份。</p>
<p>销毁须由档案管理员申请、另一名档案管理员批准（dangan destroy request / approve），本清单不销毁任何档案。</p>
<h2 class={"bad" if due else "ok"}>保管期满、可申请销毁</h2>
{table(due, "没有保管期满的档案。")}
<h2>法律保全中（不得销毁）</h2>
{table(held, "没有法律保全中的档案。")}
<h2>{SOON_DAYS} 天内到期</h2>
{table(coming, f"{SOON_DAYS} 天内没有到期的档案。")}
</body></html>
"""


def write_reports(rows: Sequence[SetAside], folder: Path, now: dt.datetime) -> tuple[Path, Path]:
    """Write ``retention-YYYY-MM-DD.html`` and ``.csv`` (China date, CSV with a BOM for Excel) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"retention-{now.astimezone(COMPANY_TZ):%Y-%m-%d}"
    html_path, csv_path = folder / f"{stem}.html", folder / f"{stem}.csv"
    atomic_write(html_path, report_html(rows, now).encode("utf-8"))
    atomic_write(csv_path, ("\ufeff" + report_csv(rows, now)).encode("utf-8"))
    return html_path, csv_path


def summary_line(rows: Sequence[SetAside], now: dt.datetime) -> str:
    """One line for logs and the console."""
    due, held, coming = due_lines(rows, now)
    return (f"retention: {sum(1 for r in rows if r.status == 'set_aside')} set-aside archive(s), {len(due)} due for "
            f"destruction, {len(held)} under legal hold, {len(coming)} due within {SOON_DAYS} days")
