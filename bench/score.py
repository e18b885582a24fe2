"""Score dangan's documents against the hard corpus's truth (one truth line per document).

A truth document is *found* when dangan made a document of exactly its pages
(same file, same page set). Fields of a document that was not found count as
missed. Confidence is judged on the fields dangan stated: a field is *stated
confidently* when it is not listed in the document's ``issues``; a value is
*wrong* when it differs from the truth or the truth has no such field; a wrong
value is *caught* when it is in ``issues`` or its document is ``needs_review``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.accuracy import Tally

#: Free-text fields compared without spaces and punctuation.
LOOSE_FIELDS = frozenset({"copy_purpose", "seal_text"})
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def load_truth(corpus: Path) -> list[dict[str, Any]]:
    """The corpus's truth lines (one per document); single-document corpora get their page list."""
    lines = (corpus / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    truth = [json.loads(line) for line in lines if line.strip()]
    for t in truth:
        if "page_indices" not in t and "pages" in t:
            t.setdefault("first_page", 0)
            t["page_indices"] = list(range(t["pages"]))
    return truth


def same_value(name: str, want: str | None, got: str | None) -> bool:
    """Whether ``got`` is the truth ``want`` (free text compared without spaces and punctuation)."""
    if want is None or got is None:
        return want == got
    if name in LOOSE_FIELDS:
        return _PUNCT.sub("", want) == _PUNCT.sub("", got)
    return want == got


@dataclass
class HardScore:
    """Accuracy and honesty of one run over a hard corpus."""

    documents: Tally = field(default_factory=Tally)
    folder_documents: Tally = field(default_factory=Tally)
    classification: Tally = field(default_factory=Tally)
    fields: Tally = field(default_factory=Tally)
    by_type: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    type_right: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_field: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_condition: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_split: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    #: Of the fields stated confidently, how many are exactly right.
    confident: Tally = field(default_factory=Tally)
    #: Of the wrong values, how many are flagged (field in issues or document needs_review).
    caught: Tally = field(default_factory=Tally)
    #: Of the wrong values, how many have the field itself in issues.
    caught_field: Tally = field(default_factory=Tally)
    #: Paper inconsistencies the truth says must be flagged, and how many were.
    flags: Tally = field(default_factory=Tally)
    #: Right values listed in issues: by a rule (invalid: false alarm) or as uncertain (review load).
    right_flagged_invalid: int = 0
    right_flagged_uncertain: int = 0
    right_flagged_disagree: int = 0
    right_values: int = 0
    extra_documents: int = 0
    misses: list[str] = field(default_factory=list)
    confident_wrong: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for a terminal."""
        lines = [
            f"documents found      {self.documents.cell()}  (inside folder files {self.folder_documents.cell()}; "
            f"{self.extra_documents} extra)",
            f"classification       {self.classification.cell()}",
            f"fields exact         {self.fields.cell()}",
            f"confident & right    {self.confident.cell()}",
            f"wrong values caught  {self.caught.cell()} (field itself flagged {self.caught_field.cell()})",
            f"paper flags caught   {self.flags.cell()}",
            f"right values flagged {self.right_flagged_invalid} as invalid, {self.right_flagged_disagree} as "
            f"disagreeing, {self.right_flagged_uncertain} as uncertain, of {self.right_values}",
        ]
        lines.append("by split: " + ", ".join(f"{k} {v.cell()}" for k, v in sorted(self.by_split.items())))
        lines.append("by condition:")
        lines += [f"  {k:<16} {v.cell()}" for k, v in sorted(self.by_condition.items())]
        lines.append("by type (fields; classification):")
        lines += [f"  {k:<24} {v.cell()}; {self.type_right[k].cell()}" for k, v in sorted(self.by_type.items())]
        lines.append("by field:")
        lines += [f"  {k:<20} {v.cell()}" for k, v in sorted(self.by_field.items())]
        if self.confident_wrong:
            lines.append("confident but wrong:")
            lines += [f"  {m}" for m in self.confident_wrong[:25]]
        return "\n".join(lines)


def _key(file: str, pages: Iterable[int]) -> tuple[str, frozenset[int]]:
    return file, frozenset(pages)


def score_hard(truth: list[Mapping[str, Any]], results: list[Mapping[str, Any]]) -> HardScore:
    """Compare dangan's documents (export lines with ``page_indices`` or ``first_page``/``pages``) to the truth."""
    s = HardScore()
    got: dict[tuple[str, frozenset[int]], Mapping[str, Any]] = {}
    for r in results:
        pages = r.get("page_indices") or range(r.get("first_page", 0), r.get("first_page", 0) + r["pages"])
        got[_key(r["source_name"], pages)] = r
    matched: set[tuple[str, frozenset[int]]] = set()
    for t in truth:
        key = _key(t["file"], t["page_indices"])
        doc = got.get(key)
        folder = "folder" in t.get("conditions", [])
        s.documents.add(doc is not None)
        if folder:
            s.folder_documents.add(doc is not None)
        if doc is not None:
            matched.add(key)
        _score_document(s, t, doc)
    s.extra_documents = sum(1 for k in got if k not in matched)
    return s


def _score_document(s: HardScore, t: Mapping[str, Any], doc: Mapping[str, Any] | None) -> None:
    name, doc_type = f"{t['file']}@{t['first_page']}", t["doc_type"]
    right_type = doc is not None and doc["doc_type"] == doc_type
    s.classification.add(right_type)
    s.type_right[doc_type].add(right_type)
    have: Mapping[str, str] = doc["fields"] if doc else {}
    issues: Mapping[str, str] = (doc or {}).get("issues") or {}
    review = bool(doc) and doc.get("status") == "needs_review"  # type: ignore[union-attr]
    split = "holdout" if t.get("holdout") else "dev"
    conditions = set(t.get("conditions", []))
    for key, want in t["fields"].items():
        ok = same_value(key, want, have.get(key))
        s.fields.add(ok)
        s.by_type[doc_type].add(ok)
        s.by_field[key].add(ok)
        s.by_split[split].add(ok)
        for cond in conditions | set(t.get("field_conditions", {}).get(key, [])):
            s.by_condition[cond].add(ok)
        if not ok and len(s.misses) < 400:
            s.misses.append(f"{name} {doc_type}.{key}: want {_redact(key, want)!r} got "
                            f"{_redact(key, have.get(key))!r}{' [flagged]' if key in issues else ''}")
    for key in t.get("flags") or {}:
        s.flags.add(key in issues)
    if doc is None or doc_type == "other":
        return  # the truth of an "other" paper lists no fields: nothing to judge its values against
    for key, value in have.items():
        ok = same_value(key, t["fields"].get(key), value)
        stated = key not in issues
        if stated:
            s.confident.add(ok)
            if not ok and len(s.confident_wrong) < 200:
                s.confident_wrong.append(f"{name} {doc_type}.{key}: want {_redact(key, t['fields'].get(key))!r} "
                                         f"got {_redact(key, value)!r} conf {doc.get('confidence', {}).get(key)}")
        if ok:
            s.right_values += 1
            if not stated and key not in (t.get("flags") or {}):
                if issues[key].startswith("uncertain"):
                    s.right_flagged_uncertain += 1
                elif issues[key].startswith("disagrees"):
                    s.right_flagged_disagree += 1
                else:
                    s.right_flagged_invalid += 1
        else:
            s.caught.add(not stated or review)
            s.caught_field.add(not stated)


def _redact(key: str, value: object) -> object:
    """Synthetic data only, but keep the habit: show ID numbers and phones partly."""
    if isinstance(value, str) and ("id_number" in key or "phone" in key) and len(value) > 7:
        return value[:3] + "…" + value[-4:]
    return value
