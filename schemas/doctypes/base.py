"""The shape of a document-type spec: everything one type of document needs, in one place.

A spec (one module per type in this package) says how the type is recognised
(printed titles, body words), which labels its forms print, which fields it
exports and where each field's value comes from, who the people on it are
(for agreement across an archive), and which rules its values must satisfy.
The reader in ``ocr/`` is generic and reads these specs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

#: How a value is parsed (see ``ocr.extract.PARSERS``).
ParseKind = Literal[
    "name", "party", "id", "phone", "date", "range_start", "range_end", "decimal", "meter", "sex",
    "ethnicity", "address", "text", "code", "amount_words", "name_before",
]
#: What a field holds, which decides its export format and whether it is sensitive.
ValueKind = Literal[
    "name", "party", "id", "phone", "date", "decimal", "meter", "sex", "ethnicity", "address", "text",
    "code", "unit_part",
]
#: Fallbacks tried when no label gave a value.
Fallback = Literal["id_anywhere", "standalone_date", "overlay", "card"]


@dataclass(frozen=True)
class Label:
    """A printed label: its semantic key and how strictly it must look like a label.

    A *weak* label (short words that also occur inside values and prose) counts
    only when followed by a colon, or when it starts a cell/phrase and is
    followed by a space, a cell break or the end of the row.
    """

    key: str
    weak: bool = False
    #: Regex the text right after the label must not match (``民族`` in ``民族路``).
    not_before: str = ""


def labels(key: str, *texts: str, weak: bool = False, not_before: str = "") -> dict[str, Label]:
    """Synonyms sharing one key."""
    return {t: Label(key, weak, not_before) for t in texts}


@dataclass(frozen=True)
class Source:
    """Values of label ``key`` (in one of ``contexts``; None: any) parsed as ``parse``."""

    key: str
    parse: ParseKind
    contexts: frozenset[str | None] | None = None


def src(key: str, parse: ParseKind, *contexts: str | None) -> Source:
    """Shorthand: a source restricted to ``contexts`` when any are given."""
    return Source(key, parse, frozenset(contexts) if contexts else None)


@dataclass(frozen=True)
class FieldSpec:
    """One export field: its kind and where its value comes from, best source first."""

    name: str
    kind: ValueKind
    sources: tuple[Source, ...] = ()
    fallback: Fallback | None = None
    #: False for values read only to check others (the 大写 amount, the unit price): never exported.
    export: bool = True

    @property
    def sensitive(self) -> bool:
        """ID numbers, phones and addresses are never stored or shown in plain text."""
        return self.kind in ("id", "phone", "address")


def unit_fields() -> tuple[FieldSpec, ...]:
    """Building / unit / room (楼栋 / 单元 / 房号), found by the generic unit reader."""
    return tuple(FieldSpec(name, "unit_part") for name in ("building", "unit", "room"))


@dataclass(frozen=True)
class Person:
    """A person a document names, for agreement across an archive: their name and ID number fields."""

    role: str
    name_field: str
    id_field: str | None = None


#: A rule over a document's values: returns {field: reason} for the fields it flags.
Check = Callable[[Mapping[str, str]], dict[str, str]]
#: Values that follow from others (birth date and sex from an ID number): returns {field: value}.
Derive = Callable[[Mapping[str, str]], dict[str, str]]


@dataclass(frozen=True)
class DocSpec:
    """Everything about one document type."""

    #: The export value (``doc_type``), e.g. ``purchase_contract``.
    name: str
    #: Chinese label for clerks (商品房买卖合同).
    label: str
    #: Position in listings and in tie-breaks.
    order: int
    #: Printed titles; longer titles win over titles they contain.
    titles: tuple[str, ...] = ()
    #: Words that make a printed title one of this type when the title itself is not listed
    #: ("装修报建登记表": 装修), with weights; the type whose words weigh most wins.
    title_words: tuple[tuple[str, float], ...] = ()
    #: Words typical of the body, with weights; each counts once per document.
    body_words: tuple[tuple[str, float], ...] = ()
    #: Label synonyms this type's forms print (the reader's lexicon is the union over all types).
    labels: Mapping[str, Label] = field(default_factory=dict)
    #: Export fields in export order.
    fields: tuple[FieldSpec, ...] = ()
    #: People named on the document (agreement across the archive).
    people: tuple[Person, ...] = ()
    #: Rules over the values inside one document.
    checks: tuple[Check, ...] = ()
    #: Values that follow from others, filled in when the page did not show them legibly.
    derive: tuple[Derive, ...] = ()
    #: Whether the document may run over several pages (continuation pages without a title join it).
    multi_page: bool = True
    #: Whether each page showing this type's marks is a document of its own (ID copies).
    page_per_document: bool = False

    @property
    def export_keys(self) -> tuple[str, ...]:
        """Field names in export order."""
        return tuple(f.name for f in self.fields if f.export)

    def field_spec(self, name: str) -> FieldSpec | None:
        """The spec of field ``name``, if this type has it."""
        return next((f for f in self.fields if f.name == name), None)
