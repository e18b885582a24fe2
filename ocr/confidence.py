"""Field confidence (置信度): how likely a value is exactly right, from the evidence gathered while reading it.

Evidence (``FieldValue.evidence``): the OCR confidence of the value's weakest
character (``ocr``), how the value was found (``how``: 1.0 after a label with a
colon, less on the next row, on a signature line, by pattern), how many other
values the document offered for the field (``rivals``), re-read votes
(``reread``: +1 all agreed, -1 no majority; ``replaced``), agreement with
other documents (``agree``: number of agreeing readings, -1 disagreeing),
failed rules (``rule``) and values derived from others (``derived``).

A logistic model per kind of value turns the evidence into a probability. Its
weights are fitted on the synthetic development corpus (``python -m
bench.calibrate``) and stored in ``confidence.json`` beside this module; the
benchmark checks them on corpora they were not fitted on.
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources
from typing import Any

from schemas.doctypes.base import ValueKind

#: Groups of value kinds that share the model's intercept.
GROUP_OF_KIND: dict[str, str] = {
    "id": "id", "phone": "phone", "date": "date", "decimal": "number", "meter": "number", "name": "name",
    "party": "name", "address": "text", "text": "text", "code": "code", "ethnicity": "short", "sex": "short",
    "unit_part": "unit", "seal": "seal",
}
GROUPS = tuple(sorted(set(GROUP_OF_KIND.values())))
#: Names of the model's features, in order (see :func:`features`).
FEATURES = ("ocr_logit", "page_logit", "length", "how_log", "rivals", "agree", "disagree", "reread_ok",
            "reread_split", "replaced", "invalid", "derived", "rule")
#: A value that failed a rule is never stated with more than this confidence.
INVALID_CAP = 0.5

_DEFAULT: dict[str, Any] = {
    "intercept": dict.fromkeys(GROUPS, 0.0),
    "weights": {"ocr_logit": 1.0, "how_log": 3.0, "rivals": -0.7, "agree": 1.0, "disagree": -3.0,
                "reread_ok": 1.0, "reread_split": -2.0, "replaced": -0.5, "invalid": -3.0, "derived": 0.0,
                "rule": -3.0},
}


@cache
def parameters() -> dict[str, Any]:
    """The fitted model (``confidence.json``), or neutral defaults when it is missing."""
    try:
        text = resources.files("ocr").joinpath("confidence.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        return _DEFAULT
    return json.loads(text)


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def features(evidence: dict[str, float], *, valid: bool, length: int = 4) -> dict[str, float]:
    """The model's features from a field's evidence (and the length of its value)."""
    agree = evidence.get("agree", 0.0)
    reread = evidence.get("reread")
    return {
        "ocr_logit": _logit(evidence.get("ocr", 0.9)),
        "page_logit": _logit(evidence.get("page", 0.95)),
        "length": math.log(1 + length),
        "how_log": math.log(max(evidence.get("how", 1.0), 0.05)),
        "rivals": min(evidence.get("rivals", 0.0), 3.0),
        "agree": max(agree, 0.0),
        "disagree": 1.0 if agree < 0 else 0.0,
        "reread_ok": 1.0 if reread is not None and reread > 0 else 0.0,
        "reread_split": 1.0 if reread is not None and reread < 0 else 0.0,
        "replaced": evidence.get("replaced", 0.0),
        "invalid": 0.0 if valid else 1.0,
        "derived": evidence.get("derived", 0.0),
        "rule": 1.0 if evidence.get("rule", 0.0) < 0 else 0.0,
    }


def probability(kind: ValueKind | str, evidence: dict[str, float] | None, *, valid: bool, length: int = 4) -> float:
    """Probability that a value of ``kind`` with this evidence is exactly right."""
    params = parameters()
    group = GROUP_OF_KIND.get(kind, "text")
    x = features(evidence or {}, valid=valid, length=length)
    z = params["intercept"].get(group, 0.0) + sum(params["weights"].get(k, 0.0) * v for k, v in x.items())
    p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
    doubtful = not valid or (evidence or {}).get("agree", 0.0) < 0
    return min(p, INVALID_CAP) if doubtful else p
