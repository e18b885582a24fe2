"""Fit the field-confidence model (ocr/confidence.json) on development corpora read by the dev loop.

    .venv/bin/python -m bench.calibrate bench/out/hard-dev [more corpora] [--write]

Every value dangan stated on a document it found is a sample: its evidence
(see ocr/confidence.py) and whether it was exactly right. A logistic model
with one intercept per kind of value and shared weights is fitted by Newton's
method with a small L2 penalty. Fit on development corpora only; the benchmark
(bench.hard) measures the model on corpora it never saw.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.devloop import read_corpus
from bench.score import load_truth, same_value
from ocr.confidence import FEATURES, GROUP_OF_KIND, GROUPS, features
from schemas.doctypes import spec_of
from schemas.documents import SEAL_FIELD

MODEL = Path(__file__).resolve().parent.parent / "ocr" / "confidence.json"


def samples(corpus: Path) -> tuple[list[str], list[dict[str, float]], list[int]]:
    """(group, features, right) of every stated value on a found document."""
    truth = {(t["file"], tuple(t["page_indices"])): t for t in load_truth(corpus)}
    groups, xs, ys = [], [], []
    for name, ex in read_corpus(corpus):
        t = truth.get((name, ex.page_indices))
        if t is None:
            continue
        spec = spec_of(ex.doc_type)
        for field_name, value in ex.fields.items():
            fspec = spec.field_spec(field_name)
            kind = "seal" if field_name == SEAL_FIELD else (fspec.kind if fspec else "text")
            groups.append(GROUP_OF_KIND.get(kind, "text"))
            xs.append(features(value.evidence or {}, valid=value.valid, length=len(value.value)))
            ys.append(int(same_value(field_name, t["fields"].get(field_name), value.value)))
    return groups, xs, ys


def fit(groups: list[str], xs: list[dict[str, float]], ys: list[int], l2: float = 0.3) -> dict[str, object]:
    """Newton's method on the penalised log-likelihood."""
    cols = [f"group:{g}" for g in GROUPS] + list(FEATURES)
    x = np.array([[1.0 if g == grp else 0.0 for grp in GROUPS] + [row[f] for f in FEATURES]
                  for g, row in zip(groups, xs, strict=True)])
    y = np.array(ys, float)
    w = np.zeros(len(cols))
    penalty = np.full(len(cols), l2)
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return {"intercept": {g: round(float(w[i]), 4) for i, g in enumerate(GROUPS)},
            "weights": {f: round(float(w[len(GROUPS) + i]), 4) for i, f in enumerate(FEATURES)},
            "samples": len(ys), "right": int(y.sum())}


def thresholds(groups: list[str], xs: list[dict[str, float]], ys: list[int], model: dict[str, object]) -> None:
    """Print, per threshold, the share of values stated and how many of those are right."""
    weights, intercept = model["weights"], model["intercept"]
    probs = []
    for g, x in zip(groups, xs, strict=True):
        z = intercept[g] + sum(weights[k] * v for k, v in x.items())  # type: ignore[index]
        p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
        probs.append(min(p, 0.5) if x["invalid"] or x["rule"] or x["disagree"] else p)
    p_arr, y_arr = np.array(probs), np.array(ys)
    wrong = (y_arr == 0).sum()
    for t in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99):
        stated = p_arr >= t
        right = int((y_arr[stated] == 1).sum())
        caught = int(((y_arr == 0) & ~stated).sum())
        print(f"threshold {t:.2f}: stated {stated.mean():6.1%}  right {right / max(1, stated.sum()):7.2%}  "
              f"wrong caught {caught / max(1, wrong):6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpora", type=Path, nargs="+")
    parser.add_argument("--write", action="store_true", help="write ocr/confidence.json")
    args = parser.parse_args()
    groups, xs, ys = [], [], []
    for corpus in args.corpora:
        g, x, y = samples(corpus)
        groups += g
        xs += x
        ys += y
    model = fit(groups, xs, ys)
    print(json.dumps(model, indent=2, ensure_ascii=False))
    thresholds(groups, xs, ys, model)
    if args.write:
        MODEL.write_text(json.dumps(model, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {MODEL}")


if __name__ == "__main__":
    main()
