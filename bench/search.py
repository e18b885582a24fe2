"""Search latency, index size and a cold ``dangan search`` on a bulk-made index (see ``bench/bulk.py``).

For each kind of query (a name, a full ID number, the last 4 digits of an ID
number, a unit, a 4-character phrase; also a phone and a contract number) it
times ``Index.search_archives`` (what the search page calls: the query
understood, matched, grouped by archive, masked values, matched terms and
completeness) over distinct values taken from the documents the build made,
after a short warm-up, and reports p50 / p95 / max. Then the index's bytes per
document, and the wall time of cold ``dangan search`` processes on that index::

    python -m bench.search --sqlite bench/out/search-1m.sqlite3 \\
        --pg postgresql+psycopg://postgres@127.0.0.1/dangan_bench_1m

The results go to standard output as a Markdown table and to
``bench/out/search-results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.bulk import CLAUSES, OUT, queries_path
from storage.index import Index
from storage.keys import MasterKey

REPO = Path(__file__).resolve().parent.parent
DANGAN = REPO / ".venv" / "bin" / "dangan"


def query_sets(sample: dict[str, list[str]], count: int, seed: int) -> dict[str, list[str]]:
    """Distinct query values per kind, from the values the build wrote."""
    rng = random.Random(seed)

    def pick(values: list[str]) -> list[str]:
        values = list(dict.fromkeys(values))
        rng.shuffle(values)
        return values[:count]

    units = pick(sample["units"])
    phrases: list[str] = []
    while len(phrases) < count:
        clause = re.sub(r"[，。、；：]", "", rng.choice(CLAUSES))
        start = rng.randrange(0, len(clause) - 3)
        phrases.append(clause[start:start + 4])
    return {
        "name": pick(sample["names"]),
        "id_number": pick(sample["id_numbers"]),
        "id_tail4": [v[-4:] for v in pick(sample["id_numbers"])],
        "unit": [re.sub(r"^\D+", "", u) for u in units],  # 3栋2单元1201: every estate's such unit
        "estate_unit": units,  # 锦绣花园3栋2单元1201
        "phrase4": phrases,
        "phone": pick(sample["phones"]),
        "contract": pick(sample["contracts"]),
    }


def time_queries(index: Index, queries: dict[str, list[str]], warmup: int) -> dict[str, dict[str, float]]:
    """p50 / p95 / max milliseconds and mean hits per kind."""
    out: dict[str, dict[str, float]] = {}
    for kind, values in queries.items():
        for value in values[:warmup]:
            index.search_archives(value)
        times, hits = [], []
        for value in values:
            started = time.perf_counter()
            result = index.search_archives(value)
            times.append((time.perf_counter() - started) * 1000)
            hits.append(result.count)
        times.sort()
        out[kind] = {"n": len(times), "p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))],
                     "max": times[-1], "hits": statistics.mean(hits)}
    return out


def time_browse(index: Index, rounds: int) -> dict[str, float]:
    """p50 / p95 / max milliseconds of one step of estate → building → unit → archive (random paths)."""
    rng = random.Random(3)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        estates = index.browse().items
        estate = rng.choice(estates).value
        buildings = index.browse(estate=estate).items
        building = rng.choice(buildings).value
        units = index.browse(estate=estate, building=building).items
        index.browse(estate=estate, building=building, unit=rng.choice(units).value)
        times.append((time.perf_counter() - started) * 1000 / 4)
    times.sort()
    return {"n": rounds, "p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))],
            "max": times[-1], "hits": 0.0}


def index_bytes(index: Index, url: str) -> dict[str, int]:
    """Bytes the index takes on disk, in total and per table (PostgreSQL: with indexes and TOAST)."""
    if index.dialect == "sqlite":
        path = Path(index.engine.url.database or "")
        total = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.suffix != ".json")
        with index.engine.connect() as c:
            try:
                rows = c.exec_driver_sql("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").all()
            except Exception:  # noqa: BLE001 - dbstat is optional in SQLite builds
                rows = []
        return {"total": total, **{str(n): int(b) for n, b in rows}}
    with index.engine.connect() as c:
        rows = c.exec_driver_sql(
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relkind = 'r' "
            "AND relnamespace = 'public'::regnamespace").all()
    sizes = {str(n): int(b) for n, b in rows}
    return {"total": sum(sizes.values()), **sizes}


def cold_cli(url: str, key: Path, queries: Sequence[str], runs: int, dangan: Path = DANGAN) -> dict[str, Any]:
    """Wall seconds of fresh ``dangan search`` processes (median, p95) and what they import.

    ``dangan`` is the command to time (another checkout's, for a baseline); the import trace is of
    the Python beside it.
    """
    return cold_clis(url, key, queries, runs, [dangan])[0]


def cold_clis(url: str, key: Path, queries: Sequence[str], runs: int, commands: Sequence[Path]) -> list[dict[str, Any]]:
    """:func:`cold_cli` of several commands, their runs taken in turn (so that each sees the same load)."""
    home = Path(tempfile.mkdtemp(prefix="dangan-bench-"))
    try:
        os.chmod(home, 0o700)
        shutil.copy(key, home / "master.key")
        os.chmod(home / "master.key", 0o600)
        env = {**os.environ, "DANGAN_HOME": str(home), "DANGAN_DB_URL": url}
        env.pop("DANGAN_USER", None)
        for dangan in commands:
            subprocess.run([str(dangan), "search", queries[0]], env=env, capture_output=True, check=True)
        walls: list[list[float]] = [[] for _ in commands]
        for i in range(runs):
            for dangan, times in zip(commands, walls, strict=True):
                started = time.perf_counter()
                proc = subprocess.run([str(dangan), "search", queries[i % len(queries)]], env=env,
                                      capture_output=True, text=True)
                times.append(time.perf_counter() - started)
                if proc.returncode != 0:
                    raise RuntimeError(proc.stderr)
        out = []
        for dangan, times in zip(commands, walls, strict=True):
            python = dangan.parent / "python"
            trace = subprocess.run([str(python), "-X", "importtime", "-m", "flows.cli", "search", queries[0]],
                                   env=env, capture_output=True, text=True, cwd=dangan.parent.parent.parent)
            modules = {line.split("|")[-1].strip().split(".")[0] for line in trace.stderr.splitlines() if "|" in line}
            heavy = sorted(m for m in modules if m in {
                "prefect", "cv2", "onnxruntime", "numpy", "rapidocr", "PIL", "fastapi", "starlette", "uvicorn",
                "jinja2", "dask", "pytesseract", "sqlalchemy", "pydantic_settings", "psycopg"})
            times.sort()
            out.append({"runs": runs, "median": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))],
                        "heavy_imports": heavy})
        return out
    finally:
        shutil.rmtree(home, ignore_errors=True)


def cli_only(args: argparse.Namespace, urls: Sequence[tuple[str, str]], queries: dict[str, list[str]]) -> int:
    """``--cli-only``: the cold command of this checkout and the baseline's, in turn, on the index as built."""
    commands = [DANGAN, *([args.baseline_dangan] if args.baseline_dangan else [])]
    results: dict[str, Any] = {}
    for name, url in urls:
        timed = cold_clis(url, args.key, queries["name"], args.cli_runs, commands)
        results[name] = {"cli_seconds": timed[0], "baseline_cli_seconds": timed[1] if len(timed) > 1 else None}
        for label, r in (("this checkout", timed[0]), *((("baseline", timed[1]),) if len(timed) > 1 else ())):
            print(f"- {name}: {label}: cold `dangan search` {r['median']:.2f} s median, {r['p95']:.2f} s p95 over "
                  f"{r['runs']} runs; heavy imports: {', '.join(r['heavy_imports']) or 'none'}", flush=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark on the given indexes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", type=Path)
    parser.add_argument("--pg")
    parser.add_argument("--queries", type=Path, help="the build's sample (default: beside the SQLite file)")
    parser.add_argument("--count", type=int, default=200, help="distinct values per kind of query")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--cli-runs", type=int, default=10)
    parser.add_argument("--key", type=Path, default=OUT / "master.key")
    parser.add_argument("--baseline-dangan", type=Path,
                        help="another checkout's .venv/bin/dangan: its cold search is timed in the same run")
    parser.add_argument("--out", type=Path, default=OUT / "search-results.json")
    parser.add_argument("--cli-only", action="store_true",
                        help="time only the cold command (and the baseline's, in turn), on the index as built")
    args = parser.parse_args(argv)
    build = json.loads((args.queries or queries_path(args.sqlite, args.pg)).read_text(encoding="utf-8"))
    documents = int(build["count"])
    queries = query_sets(build["queries"], args.count, seed=5)
    master = MasterKey.load_or_create(args.key)
    results: dict[str, Any] = {"documents": documents, "count": args.count}
    urls = [("sqlite", f"sqlite:///{args.sqlite.resolve()}")] if args.sqlite else []
    urls += [("postgresql", args.pg)] if args.pg else []
    if args.cli_only:
        return cli_only(args, urls, queries)
    for name, url in urls:
        # The baseline first: the index as the build left it (a newer dangan may upgrade it when it opens it).
        baseline = (cold_cli(url, args.key, queries["name"], args.cli_runs, args.baseline_dangan)
                    if args.baseline_dangan else None)
        index = Index(url, master)
        index.create_schema()  # as every dangan command opens it: an index made by an older dangan is upgraded
        index.unlock()
        started = time.perf_counter()
        latency = time_queries(index, queries, args.warmup)
        latency["browse"] = time_browse(index, max(10, args.count // 10))
        sizes = index_bytes(index, url)
        index.close()
        cli = cold_cli(url, args.key, queries["name"], args.cli_runs)
        results[name] = {"latency_ms": latency, "bytes": sizes, "bytes_per_document": sizes["total"] / documents,
                         "cli_seconds": cli, "baseline_cli_seconds": baseline,
                         "wall_seconds": time.perf_counter() - started}
        print(f"{name}: done in {time.perf_counter() - started:.0f} s", flush=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    print(table(results, [n for n, _ in urls]))
    return 0


LABELS = {"name": "name (2-4 characters)", "id_number": "full ID number", "id_tail4": "last 4 digits of an ID number",
          "unit": "unit (3栋2单元1201, any estate)", "estate_unit": "estate + unit (锦绣花园3栋2单元1201)",
          "phrase4": "4-character phrase of the text", "phone": "mobile phone", "contract": "contract number",
          "browse": "browse: one step of estate → building → unit → archive"}


def table(results: dict[str, Any], names: list[str]) -> str:
    """The Markdown table of RESULTS.md."""
    head = "| query | " + " | ".join(f"{n} p50 ms | {n} p95 ms | {n} max ms" for n in names) + " | mean hits |"
    lines = [head, "| --- |" + " ---: |" * (3 * len(names) + 1)]
    for kind, label in LABELS.items():
        cells = []
        for n in names:
            r = results[n]["latency_ms"][kind]
            cells.append(f"{r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f}")
        hits = results[names[0]]["latency_ms"][kind]["hits"]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {hits:.1f} |")
    lines.append("")
    for n in names:
        r = results[n]
        cli = r["cli_seconds"]
        lines.append(f"- {n}: {r['bytes_per_document']:,.0f} index bytes per document "
                     f"({r['bytes']['total'] / 2**30:.2f} GiB); cold `dangan search` {cli['median']:.2f} s median, "
                     f"{cli['p95']:.2f} s p95 over {cli['runs']} runs; heavy imports: "
                     f"{', '.join(cli['heavy_imports']) or 'none'}")
        if r.get("baseline_cli_seconds"):
            base = r["baseline_cli_seconds"]
            lines.append(f"- {n}: baseline cold `dangan search` {base['median']:.2f} s median, {base['p95']:.2f} s "
                         f"p95; heavy imports: {', '.join(base['heavy_imports']) or 'none'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
