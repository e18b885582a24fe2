"""Checks on money printed twice: in figures and in words (大写), or as unit price x area."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from schemas.doctypes.base import Check


def _number(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def figures_match_words(field: str, words_field: str) -> Check:
    """``field`` (in figures) must equal ``words_field`` (the same amount in 大写)."""

    def check(values: Mapping[str, str]) -> dict[str, str]:
        figures, words = _number(values.get(field)), _number(values.get(words_field))
        if figures is None or words is None or figures == words:
            return {}
        return {field: f"the amount in figures ({values[field]}) differs from the amount in words (大写, "
                       f"{values[words_field]})"}

    check.__doc__ = f"{field} in figures equals its amount in words."
    return check


def total_matches_unit_price(total_field: str, unit_price_field: str, area_field: str) -> Check:
    """``total_field`` must be ``unit_price_field`` x ``area_field`` (within the rounding of a printed price)."""

    def check(values: Mapping[str, str]) -> dict[str, str]:
        total, price, area = (_number(values.get(f)) for f in (total_field, unit_price_field, area_field))
        if total is None or price is None or area is None or area <= 0:
            return {}
        # A unit price printed to the yuan is off by at most half a yuan per square metre.
        if abs(price * area - total) <= Decimal("0.5") * area + 1:
            return {}
        return {total_field: f"the total ({values[total_field]}) is not the unit price ({values[unit_price_field]}) "
                             f"x the area ({values[area_field]})"}

    check.__doc__ = f"{total_field} equals {unit_price_field} x {area_field}."
    return check
