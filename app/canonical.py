"""Canonical JSON and hashes: the same content always gives the same digest."""
from __future__ import annotations

import hashlib
import json
import math


def _clean(o):
    if hasattr(o, "item") and not isinstance(o, (list, dict)):  # numpy scalars
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def dumps(obj, sort: bool = True) -> str:
    """JSON with NaN/inf as null and numpy scalars as Python numbers; sorted keys for hashing."""
    return json.dumps(_clean(obj), sort_keys=sort, separators=(",", ":"), ensure_ascii=True, default=str)


def sha256_json(obj) -> str:
    return hashlib.sha256(dumps(obj).encode()).hexdigest()
