"""Synthetic scanned owner-archive documents with ground truth (tests, benchmarks, demo).

``templates.make_document`` lays out a document; ``render`` draws it; ``degrade``
makes it look scanned; ``corpus.generate_corpus`` writes files plus truth.jsonl.
"""
