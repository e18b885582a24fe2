"""Synthetic scanned owner-archive documents with ground truth (tests, benchmarks, demo).

``templates.make_document`` lays out a document; ``render`` draws it; ``degrade``
makes it look scanned; ``corpus.generate_corpus`` writes files plus truth.jsonl.
"""

from tests.synth.corpus import CorpusItem, generate_corpus
from tests.synth.templates import TEMPLATES, SynthDoc, make_document

__all__ = ["TEMPLATES", "CorpusItem", "SynthDoc", "generate_corpus", "make_document"]
