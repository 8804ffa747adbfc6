"""Matching source column headers to a portfolio kind's fields."""
from __future__ import annotations

from dataclasses import dataclass

from workers.portfolios.base import PortfolioKind


def normalise_header(name: str) -> str:
    """Case-folded header with surrounding spaces stripped and ``' '``/``'-'`` read as ``'_'``.

    >>> normalise_header("  PD 12m ")
    'pd_12m'
    """
    return str(name).replace("\ufeff", "").strip().lower().replace(" ", "_").replace("-", "_")


def accepted_names(kind: PortfolioKind) -> dict[str, str]:
    """Normalised header -> field name, for every field name and alias of ``kind``."""
    out: dict[str, str] = {}
    for f in kind.fields:
        for name in (f.name, *f.aliases):
            out.setdefault(normalise_header(name), f.name)
    return out


@dataclass(frozen=True)
class ColumnMatch:
    """The outcome of matching a header row against a kind."""

    mapping: dict[str, str]  # source header -> field, in source order
    source_index: dict[str, int]  # field -> position of its column in the source
    unknown: list[str]  # source headers that match no field
    missing: list[str]  # required fields with no column
    duplicates: list[tuple[str, list[str]]]  # (field, [source headers]) claimed by several columns


def match_columns(headers: list[str], kind: PortfolioKind) -> ColumnMatch:
    """Match source headers to fields case-insensitively, with the fields' aliases.

    A column named exactly like the field wins over an alias when both are
    present is *not* assumed: two columns for one field are reported as a
    duplicate and the first one is used.
    """
    names = accepted_names(kind)
    mapping: dict[str, str] = {}
    source_index: dict[str, int] = {}
    claimed: dict[str, list[str]] = {}
    unknown: list[str] = []
    for i, header in enumerate(headers):
        field = names.get(normalise_header(header))
        if field is None:
            unknown.append(str(header))
            continue
        claimed.setdefault(field, []).append(str(header))
        if field not in source_index:
            source_index[field] = i
            mapping[str(header)] = field
    missing = [f.name for f in kind.fields if f.required and f.name not in source_index]
    duplicates = [(f, hs) for f, hs in claimed.items() if len(hs) > 1]
    return ColumnMatch(mapping, source_index, unknown, missing, duplicates)
