"""The contract of a portfolio kind: the typed record a portfolio version holds.

One module per kind (``loans``, ``policies``, ``mortality_data``) builds a
:class:`PortfolioKind`. It drives upload validation, inline-input validation,
the typed table rows are COPY'd into, and the dtypes job kinds receive.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Field:
    name: str
    dtype: str  # "str" | "float" | "int" | "bool"
    required: bool = True
    default: object = None  # used when the column is absent or the cell empty (None: stays empty)
    nullable: bool = False  # empty allowed (float/int empties load as NaN)
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    choices: tuple | None = None
    max_length: int | None = None
    aliases: tuple[str, ...] = ()

    @property
    def sql_type(self) -> str:
        return {"str": "text", "float": "float8", "int": "int8", "bool": "bool"}[self.dtype]


@dataclass(frozen=True)
class PortfolioKind:
    name: str  # "loans"
    table: str  # typed PostgreSQL table, e.g. "portfolio_loans"
    key_fields: tuple[str, ...]  # unique together within a version, e.g. ("loan_id",)
    fields: tuple[Field, ...] = field(default_factory=tuple)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)
