"""Score extracted fields and document types against the generator's ground truth."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass
class Tally:
    """Right and total counts."""

    right: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        self.right += int(ok)
        self.total += 1

    @property
    def rate(self) -> float:
        return self.right / self.total if self.total else float("nan")

    def cell(self) -> str:
        return f"{100 * self.rate:.1f}% ({self.right}/{self.total})" if self.total else "-"


@dataclass
class Score:
    """Accuracy of one engine over one corpus."""

    fields: Tally = field(default_factory=Tally)
    classification: Tally = field(default_factory=Tally)
    by_type: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_field: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    type_right: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    extra_fields: int = 0
    missing_docs: int = 0
    errors: list[str] = field(default_factory=list)


def score(truth: Iterable[Mapping], results: Mapping[str, Mapping]) -> Score:
    """Compare ``results`` (file name -> {"doc_type", "fields"}) with the truth lines."""
    s = Score()
    for t in truth:
        name, doc_type, want = t["file"], t["doc_type"], t["fields"]
        got = results.get(name)
        if got is None:
            s.missing_docs += 1
            got = {"doc_type": None, "fields": {}}
        s.classification.add(got["doc_type"] == doc_type)
        s.type_right[doc_type].add(got["doc_type"] == doc_type)
        have = got.get("fields") or {}
        for key, value in want.items():
            ok = have.get(key) == value
            s.fields.add(ok)
            s.by_type[doc_type].add(ok)
            s.by_field[key].add(ok)
            if not ok and len(s.errors) < 40:
                want_text, got_text = _redact(key, value), _redact(key, have.get(key))
                s.errors.append(f"{name} {doc_type}.{key}: want {want_text!r} got {got_text!r}")
        s.extra_fields += sum(1 for k in have if k not in want)
    return s


def _redact(key: str, value: object) -> object:
    """Synthetic data only, but keep the habit: show ID numbers and phones partly."""
    if isinstance(value, str) and ("id_number" in key or "phone" in key) and len(value) > 7:
        return value[:3] + "…" + value[-4:]
    return value
