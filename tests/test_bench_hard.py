"""bench/hard.py without OCR: report tables from scored fake documents, single-corpus truth, environment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.accuracy import Score, Tally, score
from bench.hard import (
    Corpus,
    CorpusRun,
    Outcome,
    dangan_env,
    first_documents,
    prepare,
    render_report,
    report_json,
    single_conditions,
    single_truth_as_hard,
)
from bench.run import Run
from bench.score import score_hard

MACHINE = {"cores": 2, "logical_cpus": 2, "ram_gib": 23.5, "cpu": "Test CPU", "python": "3.11.9",
           "system": "Linux x86_64"}

#: One folder file with two documents (pages 0-1 and 3; page 2 a blank back) and one single file.
TRUTH: list[Mapping[str, Any]] = [
    {"file": "scan_0001.pdf", "first_page": 0, "page_indices": [0, 1], "doc_type": "owner_registration",
     "fields": {"owner_name": "周红", "room": "1201"}, "flags": {}, "conditions": ["folder", "handwritten"],
     "field_conditions": {"room": ["seal_over_text"]}, "holdout": False},
    {"file": "scan_0001.pdf", "first_page": 3, "page_indices": [3], "doc_type": "id_card",
     "fields": {"name": "周红", "id_number": "330106198406023840"}, "flags": {},
     "conditions": ["folder", "id_true_size"], "field_conditions": {}, "holdout": False},
    {"file": "IMG_0002.jpg", "first_page": 0, "page_indices": [0], "doc_type": "lease_contract",
     "fields": {"tenant_name": "孔静芳", "monthly_rent": "3200"}, "flags": {"lease_end": "before start"},
     "conditions": ["phone"], "field_conditions": {}, "holdout": False},
]
#: dangan found the registration (room confidently wrong) and the lease (rent flagged), missed the ID card.
EXPORT: list[Mapping[str, Any]] = [
    {"source_name": "scan_0001.pdf", "first_page": 0, "page_indices": [0, 1], "pages": 2,
     "doc_type": "owner_registration", "fields": {"owner_name": "周红", "room": "1207"},
     "confidence": {"room": 0.93}, "issues": {}, "status": "indexed"},
    {"source_name": "scan_0001.pdf", "first_page": 3, "page_indices": [3, 4], "pages": 2, "doc_type": "id_card",
     "fields": {"name": "周红"}, "confidence": {}, "issues": {}, "status": "indexed"},
    {"source_name": "IMG_0002.jpg", "first_page": 0, "page_indices": [0], "pages": 1,
     "doc_type": "lease_contract", "fields": {"tenant_name": "孔静芳", "monthly_rent": "3280"},
     "confidence": {}, "issues": {"monthly_rent": "uncertain: low confidence", "lease_end": "invalid: order"},
     "status": "needs_review"},
]


def _outcome(baseline: Run | None = None) -> Outcome:
    corpus = Corpus("dev", Path("corpus"), tuple(TRUTH), ("scan_0001.pdf", "IMG_0002.jpg"), 6,
                    "python -m tests.synth corpus --hard --count 3 --seed 1", generated_seconds=12.0)
    dev = CorpusRun(corpus, seconds=60.0, peak_rss_mb=1500.4, exit_code=3, score=score_hard(TRUTH, EXPORT),
                    legacy=None, documents_out=3, needs_review=1, failed_files=1,
                    problems=("bad.pdf: quarantined (truncated): the file is cut short",))
    single = CorpusRun(Corpus("single", Path("s"), tuple(TRUTH[2:]), ("IMG_0002.jpg",), 1, "recipe",
                              legacy_truth=tuple(TRUTH[2:])),
                       30.0, 900.0, 0, score_hard(TRUTH[2:], EXPORT[2:]),
                       score(TRUTH[2:], first_documents(EXPORT[2:])), 1, 1, 0, ())
    return Outcome(MACHINE, "python -m bench.hard --count 3", "rapidocr", (dev, single), baseline, (),
                   (1.5, 2.0))


def _row(text: str, first_cell: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if ln.startswith(f"| {first_cell} |"))
    return [c.strip() for c in line.strip("|").split(" | ")]


def test_headline_row_is_computed_from_the_score() -> None:
    text = render_report(_outcome())
    row = _row(text, "dev")
    assert row[:6] == ["dev", "3", "6", "2", "6.0", "1500"]
    # Found: the registration and the lease (the ID card's pages differ); in folders 1 of 2; 1 extra.
    assert row[6] == "66.7% (2/3), 1 extra (in folders 50.0% (1/2))"
    assert row[7] == "66.7% (2/3)"  # classification: the unfound ID card counts as wrong
    assert row[8] == "33.3% (2/6)"  # owner_name and tenant_name
    assert row[9] == "66.7% (2/3)"  # stated confidently: owner_name, room (wrong), tenant_name
    assert row[10] == "50.0% (1/2)"  # wrong: room (not caught), monthly_rent (caught)
    assert row[11] == "100.0% (1/1)"  # the lease's paper flag is in issues
    assert row[12] == "0 / 0 of 2"
    assert row[13] == "33.3% (1/3)"


def test_condition_type_and_field_tables() -> None:
    text = render_report(_outcome())
    assert _row(text, "folder") == ["folder", "25.0% (1/4)", "-"]
    assert _row(text, "seal_over_text") == ["seal_over_text", "0.0% (0/1)", "-"]
    assert _row(text, "phone") == ["phone", "50.0% (1/2)", "50.0% (1/2)"]
    assert _row(text, "id_card") == ["id_card", "0.0% (0/2); 0.0% (0/1)", "-; -"]
    assert _row(text, "room") == ["room", "0.0% (0/1)", "-"]
    lines = text.splitlines()
    order = ["### Fields exact by condition", "### By document type (fields exact; classification)",
             "### By field (exact)", "### Throughput against OCRmyPDF (single-document corpus)", "### Problems"]
    assert [lines.index(h) for h in order] == sorted(lines.index(h) for h in order)
    assert "- dev: bad.pdf: quarantined (truncated): the file is cut short" in lines
    assert any("owner_registration.room: want '1201' got '1207'" in ln for ln in lines)


def test_throughput_against_baseline() -> None:
    base = Run("OCRmyPDF baseline", seconds=30.0, pages=1, peak_rss_mb=400.0, score=Score())
    text = render_report(_outcome(base))
    assert _row(text, "dangan (rapidocr)")[1:4] == ["1", "30", "2.0"]
    assert _row(text, "dangan (rapidocr)")[5] == "50.0% (1/2)"  # the old score, for continuity
    assert "dangan reads 2.0 pages/min, 1.0x OCRmyPDF's 2.0." in text
    assert "OCRmyPDF was not run" in render_report(_outcome())


def test_report_json_holds_every_tally() -> None:
    data = json.loads(json.dumps(report_json(_outcome()), allow_nan=False))
    dev = data["corpora"]["dev"]
    assert dev["score"]["fields"] == {"right": 2, "total": 6, "rate": 2 / 6}
    assert dev["score"]["by_condition"]["folder"]["total"] == 4
    assert dev["score"]["extra_documents"] == 1
    assert data["corpora"]["single"]["legacy_score"]["fields"]["right"] == 1
    assert dev["pages_per_minute"] == 6.0


def test_single_truth_in_hard_shape() -> None:
    line = {"file": "a.pdf", "doc_type": "id_card", "pages": 2, "fields": {}, "profile": "phone", "dpi": 146,
            "degradations": ["p1 phone_photo(dpi=146,shift=2.8%)", "p1 skew(+1.3deg)", "p2 skew(-0.4deg)",
                             "p2 rotate90"]}
    hard = single_truth_as_hard([line])[0]
    assert hard["first_page"] == 0 and hard["page_indices"] == [0, 1]
    assert hard["conditions"] == ["low_dpi", "phone", "skew", "rotated"]
    calm = {**line, "profile": "flatbed", "dpi": 300, "degradations": ["skew(+0.9deg)", "noise"]}
    assert single_conditions(calm) == []


def test_dangan_env_drops_callers_settings() -> None:
    env = dangan_env(Path("home"), {"PATH": "/bin", "DANGAN_DB_URL": "postgresql://x", "PREFECT_API_URL": "u"})
    assert env == {"PATH": "/bin", "DANGAN_HOME": "home"}


def test_tally_of_nothing_is_a_dash() -> None:
    assert Tally().cell() == "-"


def test_reuse_reads_a_corpus_written_with_the_same_recipe(tmp_path: Path) -> None:
    recipe = {"kind": "hard", "count": 3, "seed": 1, "holdout": False}
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev.corpus.json").write_text(json.dumps(recipe), encoding="utf-8")
    (tmp_path / "dev" / "truth.jsonl").write_text("".join(json.dumps(t) + "\n" for t in TRUTH), encoding="utf-8")
    (tmp_path / "dev" / "files.jsonl").write_text(
        json.dumps({"file": "scan_0001.pdf", "pages": 5}) + "\n" + json.dumps({"file": "IMG_0002.jpg", "pages": 1}),
        encoding="utf-8")
    corpus = prepare("dev", tmp_path, recipe, reuse=True)
    assert corpus.generated_seconds is None  # nothing was generated
    assert (corpus.pages, corpus.files, len(corpus.truth)) == (6, ("scan_0001.pdf", "IMG_0002.jpg"), 3)
    assert corpus.recipe.endswith("--hard --count 3 --seed 1")


def test_baseline_failures_are_problems_and_an_empty_condition_table_says_so() -> None:
    base = Run("OCRmyPDF baseline", seconds=30.0, pages=1, peak_rss_mb=400.0, score=Score(), failures=2)
    text = render_report(_outcome(base))
    assert "- OCRmyPDF failed on 2 file(s) (their fields count as missed)" in text.splitlines()
    bare = Outcome(MACHINE, "cmd", "rapidocr", (), None, ("dev: corpus: OSError: disk full",), (1.0, 1.0))
    text = render_report(bare)
    assert "No document of these corpora has a named condition." in text
    assert "- dev: corpus: OSError: disk full" in text.splitlines()
