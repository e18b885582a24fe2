"""Document-type specs (one module per type) and the registry built from them.

Adding a type is one file in this package defining ``SPEC = DocSpec(...)``:
the registry finds it, the classifier learns its titles and body words, the
reader learns its labels and fields, exports and the index learn its keys.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from types import MappingProxyType

from schemas.doctypes import common
from schemas.doctypes.base import DocSpec, FieldSpec, Label

_NOT_SPECS = frozenset({"base", "common", "money"})


def _load_specs() -> dict[str, DocSpec]:
    specs: list[DocSpec] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_SPECS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, DocSpec):
            raise TypeError(f"schemas/doctypes/{info.name}.py must define SPEC = DocSpec(...)")
        specs.append(spec)
    specs.sort(key=lambda s: (s.order, s.name))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"two document-type specs share a name: {names}")
    return {s.name: s for s in specs}


def _lexicon(specs: Mapping[str, DocSpec]) -> dict[str, Label]:
    """Every label any type prints; titles of four or more characters end the value before them."""
    lexicon: dict[str, Label] = dict(common.LABELS)
    for spec in specs.values():
        for text, label in spec.labels.items():
            if lexicon.get(text, label) != label:
                raise ValueError(f"label {text!r} means {lexicon[text].key} and {label.key} ({spec.name})")
            lexicon[text] = label
    for spec in specs.values():
        for title in spec.titles:
            if len(title) >= 4:
                lexicon.setdefault(title, Label("stop"))
    return lexicon


#: Every document type, in listing order (``other`` last).
SPECS: Mapping[str, DocSpec] = MappingProxyType(_load_specs())
#: Every printed label of every type -> its meaning.
LEXICON: Mapping[str, Label] = MappingProxyType(_lexicon(SPECS))
#: Label keys that set whose section of a document the reader is in.
CONTEXT_OF_KEY = common.CONTEXT_OF_KEY
#: The ``other`` type: what a document is when no type fits.
OTHER = SPECS["other"]


def spec_of(doc_type: str) -> DocSpec:
    """The spec of ``doc_type`` (``other`` for an unknown name)."""
    return SPECS.get(doc_type, OTHER)


def fields_of_kind(*kinds: str) -> frozenset[str]:
    """Names of all fields, over every type, whose kind is one of ``kinds``."""
    return frozenset(f.name for s in SPECS.values() for f in s.fields if f.kind in kinds)


__all__ = ["CONTEXT_OF_KEY", "LEXICON", "OTHER", "SPECS", "DocSpec", "FieldSpec", "Label", "fields_of_kind",
           "spec_of"]
