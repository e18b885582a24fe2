"""Hard benchmark: real-looking owner-archive scans read end to end by ``dangan ingest``.

One run covers three corpora:
  * ``dev``: the hard corpus (whole owner folders scanned into one file,
    handwriting, seals, grid forms, true-size ID copies, faxes ...) in the
    layouts the reader was developed on;
  * ``holdout``: the same kinds of paper in held-out layouts and hands;
  * ``single``: bench/run.py's single-document corpus, for continuity.

For each, ``dangan ingest --keep --quiet`` reads the folder with a fresh
DANGAN_HOME (wall time; pages/min over every page of the files, blank ones
included; peak RSS of the process tree), ``dangan export --reveal`` gives its
documents, and ``bench.score.score_hard`` scores them. OCRmyPDF reads the
single-document corpus in the same run for the throughput comparison.
``report.md`` (ready for bench/RESULTS.md) and ``report.json`` go to ``--out``.

    .venv/bin/python -m bench.hard                     # full run: more than an hour on 2 cores
    .venv/bin/python -m bench.hard --count 12 --holdout-count 6 --single-count 6 --no-baseline
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

from bench.accuracy import Score, Tally, score
from bench.run import REPO, VENV_BIN, Run, init_archive, measured, run_ocrmypdf
from bench.score import HardScore, load_truth, score_hard
from tests.synth.hard import CONDITIONS, FILES_FILE, TRUTH_FILE

CORPORA = ("dev", "holdout", "single")
DEFAULT_OUT = REPO / "bench" / "out" / "hard"
DANGAN = VENV_BIN / "dangan"
INGEST_TIMEOUT = 8 * 3600.0
EXPORT_TIMEOUT = 3600.0
#: Skew from which the hard corpus names a page ``skew`` (tests/synth/hard/scan.py, conditions_of).
SKEW_CONDITION_DEG = 1.0
_SKEW_NOTE = re.compile(r"skew\(([+-]?\d+(?:\.\d+)?)deg")
T = TypeVar("T")


@dataclass(frozen=True)
class Corpus:
    """A generated corpus: truth lines in the hard corpus's shape, its files and all their pages."""

    name: str
    path: Path
    truth: tuple[Mapping[str, Any], ...]
    files: tuple[str, ...]
    pages: int
    recipe: str
    #: bench/run.py's truth lines (single-document corpus only), for the old score and the baseline.
    legacy_truth: tuple[Mapping[str, Any], ...] = ()
    generated_seconds: float | None = None


@dataclass(frozen=True)
class CorpusRun:
    """dangan's measured run over one corpus and its scores."""

    corpus: Corpus
    seconds: float
    peak_rss_mb: float
    exit_code: int
    score: HardScore
    legacy: Score | None
    documents_out: int
    needs_review: int
    failed_files: int
    problems: tuple[str, ...]

    @property
    def pages_per_minute(self) -> float:
        """All pages of the corpus files per minute of wall time."""
        return 60 * self.corpus.pages / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Outcome:
    """Everything one benchmark run measured."""

    machine: dict[str, Any]
    command: str
    engine: str
    runs: tuple[CorpusRun, ...]
    baseline: Run | None
    problems: tuple[str, ...]
    load_average: tuple[float, float]


# ------------------------------------------------------------------ corpora


def recipes(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """How each corpus is generated (also the key for ``--reuse``)."""
    return {
        "dev": {"kind": "hard", "count": args.count, "seed": args.seed, "holdout": False},
        "holdout": {"kind": "hard", "count": args.holdout_count, "seed": args.holdout_seed, "holdout": True},
        "single": {"kind": "single", "count": args.single_count, "seed": args.single_seed},
    }


def recipe_command(path: Path, recipe: Mapping[str, Any]) -> str:
    """The command that writes the same corpus."""
    hard = " --hard" if recipe["kind"] == "hard" else ""
    held = " --holdout" if recipe.get("holdout") else ""
    return f"python -m tests.synth {shown(path)}{hard} --count {recipe['count']} --seed {recipe['seed']}{held}"


def prepare(name: str, out: Path, recipe: dict[str, Any], *, reuse: bool) -> Corpus:
    """Generate corpus ``name`` under ``out`` (or reuse one written with the same recipe)."""
    path, marker = out / name, out / f"{name}.corpus.json"
    same = marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == recipe
    seconds = None
    if not (reuse and same and (path / TRUTH_FILE).is_file()):
        print(f"[bench.hard] generating {name}: {recipe_command(path, recipe)}", file=sys.stderr)
        start = time.perf_counter()
        generate(path, recipe)
        seconds = time.perf_counter() - start
        marker.write_text(json.dumps(recipe), encoding="utf-8")
    return load_corpus(name, path, recipe, seconds)


def generate(path: Path, recipe: Mapping[str, Any]) -> None:
    """Write a fresh corpus into ``path``."""
    shutil.rmtree(path, ignore_errors=True)
    if recipe["kind"] == "hard":
        from tests.synth.hard import generate_hard_corpus

        generate_hard_corpus(path, recipe["count"], recipe["seed"], holdout=recipe["holdout"])
    else:
        from tests.synth import generate_corpus

        generate_corpus(path, recipe["count"], seed=recipe["seed"])


def load_corpus(name: str, path: Path, recipe: Mapping[str, Any], seconds: float | None = None) -> Corpus:
    """Read a corpus's truth; the single-document corpus's lines are put in the hard corpus's shape."""
    command = recipe_command(path, recipe)
    if recipe["kind"] == "hard":
        listing = [json.loads(ln) for ln in (path / FILES_FILE).read_text(encoding="utf-8").splitlines() if ln.strip()]
        return Corpus(name, path, tuple(load_truth(path)), tuple(f["file"] for f in listing),
                      sum(f["pages"] for f in listing), command, generated_seconds=seconds)
    legacy = load_truth(path)
    return Corpus(name, path, tuple(single_truth_as_hard(legacy)), tuple(t["file"] for t in legacy),
                  sum(t["pages"] for t in legacy), command, tuple(legacy), seconds)


def single_truth_as_hard(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Single-document truth lines as hard ones: the document is the whole file, scan conditions named alike."""
    return [{**t, "first_page": 0, "page_indices": list(range(t["pages"])), "flags": {},
             "conditions": single_conditions(t), "field_conditions": {}, "holdout": False} for t in lines]


def single_conditions(t: Mapping[str, Any]) -> list[str]:
    """The hard corpus's scan condition names that fit a single-document truth line (profile, dpi, steps)."""
    found = set()
    if t.get("profile") in {"photocopy", "phone"}:
        found.add(t["profile"])
    if 0 < t.get("dpi", 300) <= 200:
        found.add("low_dpi")
    for note in t.get("degradations", []):
        step = note.split()[-1]  # multi-page notes start with the page: "p2 skew(-1.3deg)"
        if step.startswith("rotate"):
            found.add("rotated")
        m = _SKEW_NOTE.match(step)
        if m and abs(float(m.group(1))) >= SKEW_CONDITION_DEG:
            found.add("skew")
    return [c for c in CONDITIONS if c in found]


# ------------------------------------------------------------------ running dangan


def dangan_env(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a dangan command: its own home, none of the caller's dangan settings (the local operator).

    Dropping the caller's DANGAN_* and PREFECT_API_URL keeps a configured database, bucket or
    Prefect server out of the measurement.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not k.startswith("DANGAN_") and k != "PREFECT_API_URL"}
    env.update(DANGAN_HOME=str(home))
    return env


def run_corpus(corpus: Corpus, work: Path, engine: str | None) -> CorpusRun:
    """Ingest the corpus with a fresh home, export its documents with --reveal and score them."""
    shutil.rmtree(work, ignore_errors=True)
    inbox = work / "inbox"
    inbox.mkdir(parents=True)
    for name in corpus.files:
        _link(corpus.path / name, inbox / name)
    env = dangan_env(work / "home")
    init_archive(env)
    cmd = [str(DANGAN), "ingest", str(inbox), "--keep", "--quiet", "--report", str(work / "summary.json")]
    cmd += ["--engine", engine] if engine else []
    print(f"[bench.hard] ingesting {corpus.name}: {len(corpus.files)} files, {corpus.pages} pages", file=sys.stderr)
    seconds, peak, code = measured(cmd, env, INGEST_TIMEOUT, log=work / "ingest.log")
    problems, failed = ingest_problems(code, seconds, work)
    lines, export_problem = export_documents(env, work / "export.jsonl")
    problems += [export_problem] if export_problem else []
    legacy = score(corpus.legacy_truth, first_documents(lines)) if corpus.legacy_truth else None
    review = sum(1 for d in lines if d.get("status") == "needs_review")
    return CorpusRun(corpus, seconds, peak, code, score_hard(list(corpus.truth), lines), legacy,
                     len(lines), review, failed, tuple(problems))


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system: copy
        shutil.copy2(src, dst)


def ingest_problems(code: int, seconds: float, work: Path) -> tuple[list[str], int]:
    """What went wrong in an ingest (exit code, files quarantined or failed); and the count of such files."""
    problems = []
    if code:
        why = "timed out" if seconds >= INGEST_TIMEOUT else f"exited with code {code}"
        tail = _tail(work / "ingest.log")
        problems.append(f"ingest {why}" + (f": {tail}" if tail else ""))
    summary = work / "summary.json"
    if not summary.is_file():
        return [*problems, "ingest wrote no summary"], 0
    bad = [f for f in json.loads(summary.read_text(encoding="utf-8"))["files"]
           if f["outcome"] in {"quarantined", "failed"}]
    problems += [f"{f['name']}: {f['outcome']} ({f.get('reason_code')}): {f.get('reason')}" for f in bad]
    return problems, len(bad)


def _tail(log: Path, lines: int = 3) -> str:
    if not log.is_file():
        return ""
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return " / ".join(ln.strip() for ln in [ln for ln in text if ln.strip()][-lines:])


def export_documents(env: dict[str, str], path: Path) -> tuple[list[Mapping[str, Any]], str | None]:
    """``dangan export --jsonl PATH --reveal``: every document, or none and the reason."""
    cmd = [str(DANGAN), "export", "--jsonl", str(path), "--reveal"]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=EXPORT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [], f"export failed: {e}"
    if proc.returncode:
        return [], f"export exited with code {proc.returncode}: {proc.stderr.strip()[-500:]}"
    text = path.read_text(encoding="utf-8")
    return [json.loads(ln) for ln in text.splitlines() if ln.strip()], None


def first_documents(lines: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Per file, its first document (the old one-document-per-file score)."""
    out: dict[str, Mapping[str, Any]] = {}
    for d in lines:
        seen = out.get(d["source_name"])
        if seen is None or d.get("first_page", 0) < seen.get("first_page", 0):
            out[d["source_name"]] = d
    return out


def attempt(what: str, problems: list[str], step: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run one stage of the benchmark; a stage that breaks is reported and the others go on."""
    try:
        return step(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - whatever broke belongs in the report, not in a traceback alone
        traceback.print_exc()
        problems.append(f"{what}: {type(e).__name__}: {e}")
        return None


# ------------------------------------------------------------------ machine and command


def machine() -> dict[str, Any]:
    """Cores, RAM and CPU model of this machine."""
    return {"cores": psutil.cpu_count(logical=False) or psutil.cpu_count() or 0,
            "logical_cpus": psutil.cpu_count() or 0,
            "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu": _cpu_model(), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.machine()}"}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def shown(path: Path) -> str:
    """A path as the report shows it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def command_line(args: argparse.Namespace) -> str:
    """The command that repeats this run."""
    parts = ["python -m bench.hard"]
    if args.out.resolve() != DEFAULT_OUT:
        parts.append(f"--out {shown(args.out)}")
    parts += [f"--count {args.count}", f"--seed {args.seed}", f"--holdout-count {args.holdout_count}",
              f"--holdout-seed {args.holdout_seed}", f"--single-count {args.single_count}",
              f"--single-seed {args.single_seed}"]
    parts += [f"--engine {args.engine}"] if args.engine else []
    parts += ["--no-baseline"] if args.no_baseline else []
    parts += ["--reuse"] if args.reuse else []
    parts += [f"--only {o}" for o in args.only or []]
    return " ".join(parts)


# ------------------------------------------------------------------ report


def render_report(o: Outcome) -> str:
    """The markdown report: headline, per condition, type and field, throughput, problems, error lists."""
    out = [*_preamble(o), "", *_headline(o.runs), "", *_definitions(), ""]
    out += [*_per_condition(o.runs), "", *_per_type(o.runs), "", *_per_field(o.runs), ""]
    out += [*_throughput(o), "", *_problems(o), ""]
    dev = next((r for r in o.runs if r.corpus.name == "dev"), None)
    if dev is not None:
        out += _listing("dev corpus: first 25 fields stated confidently but wrong", dev.score.confident_wrong[:25])
        out += _listing("dev corpus: first 40 misses", dev.score.misses[:40])
    return "\n".join(out).rstrip() + "\n"


def _preamble(o: Outcome) -> list[str]:
    m = o.machine
    out = ["## Hard corpus: whole-folder scans, handwriting, seals (bench/hard.py)", "",
           f"Machine: {m['cores']} cores ({m['logical_cpus']} logical), {m['ram_gib']} GiB RAM, {m['cpu']}; "
           f"{m['system']}, Python {m['python']}. Load average {o.load_average[0]:.1f} at the start, "
           f"{o.load_average[1]:.1f} at the end.", "",
           f"Command: `{o.command}` (engine: {o.engine}).", "", "Corpora:", ""]
    for r in o.runs:
        made = (f"generated in {r.corpus.generated_seconds:.0f} s" if r.corpus.generated_seconds is not None
                else "reused")
        out.append(f"- {r.corpus.name}: `{r.corpus.recipe}` ({made})")
    return out


HEADLINE = ("corpus", "documents", "pages", "files", "pages/min", "peak RSS MB",
            "documents found (in folder files)", "classification", "field exact", "confident & right",
            "wrong values caught", "paper flags caught", "right values flagged invalid / uncertain",
            "needs_review share of documents")


def _headline(runs: Sequence[CorpusRun]) -> list[str]:
    rows = [_table_head(HEADLINE, right_from=1)]
    for r in runs:
        s = r.score
        found = s.documents.cell() + (f", {s.extra_documents} extra" if s.extra_documents else "")
        if s.folder_documents.total:
            found += f" (in folders {s.folder_documents.cell()})"
        flagged = f"{s.right_flagged_invalid} / {s.right_flagged_uncertain} of {s.right_values}"
        cells = [r.corpus.name, str(len(r.corpus.truth)), str(r.corpus.pages), str(len(r.corpus.files)),
                 f"{r.pages_per_minute:.1f}", f"{r.peak_rss_mb:.0f}", found, s.classification.cell(),
                 s.fields.cell(), s.confident.cell(), s.caught.cell(), s.flags.cell(), flagged,
                 Tally(r.needs_review, r.documents_out).cell()]
        rows.append(_row(cells))
    return rows


def _definitions() -> list[str]:
    return ["A document is found when dangan made a document of exactly its pages (same file, same pages); "
            "fields of a document not found count as missed. *Confident & right*: of the values dangan stated "
            "without listing them in `issues`, the share exactly right. *Wrong values caught*: of the wrong "
            "values, the share listed in `issues` or in a `needs_review` document. *Paper flags caught*: "
            "inconsistencies printed on the paper that the truth says must be flagged. *Right values flagged*: "
            "right values listed in `issues` by a rule (invalid) or as uncertain, of all right values. "
            "Pages/min counts every page of the files, blank backs included, over the wall time of "
            "`dangan ingest` (Prefect's start included); peak RSS sums the whole process tree."]


def _columns(runs: Sequence[CorpusRun]) -> list[str]:
    return [r.corpus.name for r in runs]


def _cell(tallies: Mapping[str, Tally], key: str) -> str:
    return tallies[key].cell() if key in tallies else "-"


def _per_condition(runs: Sequence[CorpusRun]) -> list[str]:
    seen = {c for r in runs for c in r.score.by_condition}
    names = [c for c in CONDITIONS if c in seen] + sorted(seen - set(CONDITIONS))
    out = ["### Fields exact by condition", ""]
    if not names:
        return [*out, "No document of these corpora has a named condition."]
    out.append(_table_head(["condition", *_columns(runs)], right_from=1))
    return out + [_row([c, *(_cell(r.score.by_condition, c) for r in runs)]) for c in names]


def _per_type(runs: Sequence[CorpusRun]) -> list[str]:
    names = sorted({k for r in runs for k in (*r.score.by_type, *r.score.type_right)})
    out = ["### By document type (fields exact; classification)", "",
           _table_head(["doc_type", *_columns(runs)], right_from=1)]
    out += [_row([k, *(f"{_cell(r.score.by_type, k)}; {_cell(r.score.type_right, k)}" for r in runs)])
            for k in names]
    return out


def _per_field(runs: Sequence[CorpusRun]) -> list[str]:
    names = sorted({k for r in runs for k in r.score.by_field})
    out = ["### By field (exact)", "", _table_head(["field", *_columns(runs)], right_from=1)]
    out += [_row([k, *(_cell(r.score.by_field, k) for r in runs)]) for k in names]
    return out


def _throughput(o: Outcome) -> list[str]:
    out = ["### Throughput against OCRmyPDF (single-document corpus)", ""]
    single = next((r for r in o.runs if r.corpus.name == "single"), None)
    if single is None:
        return [*out, "The single-document corpus was not run."]
    b = o.baseline
    out += [_table_head(["run", "pages", "wall s", "pages/min", "peak RSS MB", "field exact (old score)",
                         "classification (old score)", "failed files"], right_from=1)]
    legacy = single.legacy or Score()
    out.append(_row([f"dangan ({o.engine})", str(single.corpus.pages), f"{single.seconds:.0f}",
                     f"{single.pages_per_minute:.1f}", f"{single.peak_rss_mb:.0f}", legacy.fields.cell(),
                     legacy.classification.cell(), str(single.failed_files)]))
    if b is None:
        return [*out, "", "OCRmyPDF was not run (`--no-baseline` or it failed; see problems)."]
    out.append(_row([b.name, str(b.pages), f"{b.seconds:.0f}", f"{b.pages_per_minute:.1f}",
                     f"{b.peak_rss_mb:.0f}", b.score.fields.cell(), b.score.classification.cell(),
                     str(b.failures)]))
    if b.pages_per_minute:
        out += ["", f"dangan reads {single.pages_per_minute:.1f} pages/min, "
                    f"{single.pages_per_minute / b.pages_per_minute:.1f}x OCRmyPDF's {b.pages_per_minute:.1f}."]
    return out


def _problems(o: Outcome) -> list[str]:
    found = [*o.problems, *(f"{r.corpus.name}: {p}" for r in o.runs for p in r.problems)]
    if o.baseline is not None and o.baseline.failures:
        found.append(f"OCRmyPDF failed on {o.baseline.failures} file(s) (their fields count as missed)")
    out = ["### Problems", ""]
    if not found:
        return [*out, "None: every file was stored and every command exited 0."]
    out += [f"- {p}" for p in found[:60]]
    return out + ([f"- ... and {len(found) - 60} more (report.json)"] if len(found) > 60 else [])


def _listing(title: str, items: Sequence[str]) -> list[str]:
    return [f"### {title}", "", *([f"- {i}" for i in items] or ["None."]), ""]


def _table_head(names: Sequence[str], *, right_from: int) -> str:
    rule = ["---" if i < right_from else "---:" for i in range(len(names))]
    return _row(names) + "\n" + _row(rule)


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


# ------------------------------------------------------------------ report.json


def report_json(o: Outcome) -> dict[str, Any]:
    """Every number of the run as plain JSON values."""
    return {"machine": o.machine, "command": o.command, "engine": o.engine,
            "load_average": list(o.load_average), "problems": list(o.problems),
            "corpora": {r.corpus.name: _run_json(r) for r in o.runs},
            "baseline": None if o.baseline is None else {
                "name": o.baseline.name, "seconds": o.baseline.seconds, "pages": o.baseline.pages,
                "pages_per_minute": o.baseline.pages_per_minute, "peak_rss_mb": o.baseline.peak_rss_mb,
                "failures": o.baseline.failures, "score": plain(o.baseline.score)}}


def _run_json(r: CorpusRun) -> dict[str, Any]:
    c = r.corpus
    return {"recipe": c.recipe, "documents": len(c.truth), "pages": c.pages, "files": len(c.files),
            "generated_seconds": c.generated_seconds, "seconds": r.seconds,
            "pages_per_minute": r.pages_per_minute, "peak_rss_mb": r.peak_rss_mb, "exit_code": r.exit_code,
            "documents_out": r.documents_out, "needs_review": r.needs_review, "failed_files": r.failed_files,
            "problems": list(r.problems), "score": plain(r.score),
            "legacy_score": None if r.legacy is None else plain(r.legacy)}


def plain(value: Any) -> Any:
    """Tallies, scores, dicts and lists as JSON values (a rate of nothing is null)."""
    if isinstance(value, Tally):
        return {"right": value.right, "total": value.total, "rate": None if not value.total else value.rate}
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------ entry point


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.hard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="corpora, work folders and the report")
    p.add_argument("--count", type=int, default=200, help="documents of the dev-layout hard corpus")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--holdout-count", type=int, default=60, help="documents of the held-out-layout corpus")
    p.add_argument("--holdout-seed", type=int, default=6)
    p.add_argument("--single-count", type=int, default=100, help="documents of the single-document corpus")
    p.add_argument("--single-seed", type=int, default=23)
    p.add_argument("--engine", choices=["rapidocr", "tesseract"], help="OCR engine (default: dangan's)")
    p.add_argument("--no-baseline", action="store_true", help="skip OCRmyPDF")
    p.add_argument("--reuse", action="store_true", help="reuse corpora written before with the same recipe")
    p.add_argument("--only", action="append", choices=CORPORA, help="run only this corpus (repeatable)")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> Outcome:
    """Generate, ingest, export and score every selected corpus; then the baseline."""
    load_start = os.getloadavg()[0]
    problems: list[str] = []
    runs: list[CorpusRun] = []
    selected = [c for c in CORPORA if not args.only or c in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    for name in selected:
        corpus = attempt(f"{name}: corpus", problems, prepare, name, args.out, recipes(args)[name], reuse=args.reuse)
        if corpus is not None:
            done = attempt(f"{name}: run", problems, run_corpus, corpus, args.out / f"work-{name}", args.engine)
            runs += [done] if done is not None else []
    baseline = None
    single = next((r.corpus for r in runs if r.corpus.name == "single"), None)
    if single is not None and not args.no_baseline:
        print("[bench.hard] OCRmyPDF baseline on the single-document corpus", file=sys.stderr)
        baseline = attempt("OCRmyPDF baseline", problems, run_ocrmypdf, single.path, args.out / "work-ocrmypdf",
                           [dict(t) for t in single.legacy_truth])
    engine = args.engine or _default_engine()
    return Outcome(machine(), command_line(args), engine, tuple(runs), baseline, tuple(problems),
                   (load_start, os.getloadavg()[0]))


def _default_engine() -> str:
    from schemas.settings import Settings

    return str(Settings.model_fields["ocr_engine"].default)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, write report.md and report.json, print the report."""
    args = parse_args(argv)
    outcome = run(args)
    text = render_report(outcome)
    (args.out / "report.md").write_text(text, encoding="utf-8")
    (args.out / "report.json").write_text(json.dumps(report_json(outcome), ensure_ascii=False, indent=1,
                                                     allow_nan=False), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
