"""A whole owner folder scanned into one PDF, end to end through the real ``dangan`` command.

The folder holds a registration form, ID copies, a long purchase contract with
handwriting, seals and page stamps, agreements and blank duplex backs. It must
come out as the same documents (page for page), each with its type, sharing the
file's name and SHA-256, with its first page and page list, and the console
summary must count documents as well as files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bench.score import same_value
from tests.e2e import run_dangan
from tests.synth.hard import generate_hard_corpus

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("folder")
    generate_hard_corpus(out, count=7, seed=11, folders=1, workers=1)
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    return out, truth


def test_owner_folder_becomes_its_documents(folder: tuple[Path, list[dict]], tmp_path: Path) -> None:
    corpus, truth = folder
    (name,) = {t["file"] for t in truth}
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / name).write_bytes((corpus / name).read_bytes())
    env = {"DANGAN_HOME": str(tmp_path / "home")}
    result = run_dangan(["ingest", str(inbox), "--quiet"], env)
    assert result.code == 0, result.stderr
    assert f"1 stored ({len(truth)} documents" in result.stdout
    assert "split" in result.stdout and name in result.stdout
    export = tmp_path / "export.jsonl"
    assert run_dangan(["export", "--jsonl", str(export), "--reveal"], env).code == 0
    docs = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    sha = hashlib.sha256((corpus / name).read_bytes()).hexdigest()
    assert {d["source_name"] for d in docs} == {name} and {d["sha256"] for d in docs} == {sha}
    got = {tuple(d["page_indices"]): d for d in docs}
    assert sorted(got) == sorted(tuple(t["page_indices"]) for t in truth)
    blank = set(range(max(max(t["page_indices"]) for t in truth) + 1)) - {i for t in truth for i in t["page_indices"]}
    assert blank and not blank & {i for d in docs for i in d["page_indices"]}, "blank backs belong to no document"
    right = total = 0
    for t in truth:
        doc = got[tuple(t["page_indices"])]
        assert doc["doc_type"] == t["doc_type"], t["page_indices"]
        assert doc["first_page"] == t["first_page"] and doc["pages"] == len(t["page_indices"])
        for key, want in t["fields"].items():
            total += 1
            right += same_value(key, want, doc["fields"].get(key))
        for key, value in doc["fields"].items():  # a value stated without an issue must be right
            if key not in doc["issues"]:
                assert same_value(key, t["fields"].get(key), value), (t["doc_type"], key)
    assert right >= 0.85 * total, f"only {right}/{total} fields right"
