"""A hard synthetic corpus: whole owner folders, long contracts, handwriting, seals, ID copies, faxes.

``generate_hard_corpus(out_dir, count, seed, folders=..., holdout=...)`` writes
the files plus ``truth.jsonl`` (one line per document) and ``files.jsonl`` (one
line per file); see ``corpus.py``.
"""

from tests.synth.hard.corpus import FILES_FILE, TRUTH_FILE, HardItem, generate_hard_corpus
from tests.synth.hard.sheet import CONDITIONS

__all__ = ["CONDITIONS", "FILES_FILE", "TRUTH_FILE", "HardItem", "generate_hard_corpus"]
