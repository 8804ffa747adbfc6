"""Registry of job kinds: the core looks kinds up here, by the name a request gives."""
from __future__ import annotations

import importlib

from workers.kinds.base import JobKind

_KINDS: dict[str, JobKind] = {}

# Modules that register the shipped kinds when imported.
SHIPPED_KIND_MODULES = (
    "workers.kinds.ecl",
    "workers.kinds.bel",
    "workers.kinds.actuarial_values",
    "workers.kinds.mortality",
    "workers.kinds.scr",
    "workers.kinds.ifrs17",
    "workers.kinds.montecarlo",
)


def register(kind: JobKind) -> JobKind:
    _KINDS[kind.name] = kind
    return kind


def load_shipped() -> None:
    """Import every shipped kind module that exists (kinds arrive one issue at a time)."""
    for module in SHIPPED_KIND_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def get(name: str) -> JobKind | None:
    return _KINDS.get(name)


def names() -> list[str]:
    return sorted(_KINDS)
