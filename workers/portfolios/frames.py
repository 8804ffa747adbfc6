"""Give a portfolio DataFrame the dtypes job kinds are promised (see ``base.Field``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from workers.portfolios.base import PortfolioKind


def coerce(kind: PortfolioKind, df: pd.DataFrame) -> pd.DataFrame:
    """str → Python str objects, float → float64 (NaN empty), int → int64 (float64 when nullable), bool → bool."""
    out = {}
    for f in kind.fields:
        col = df[f.name] if f.name in df.columns else pd.Series([f.default] * len(df), index=df.index)
        if f.dtype == "str":
            out[f.name] = col.astype(object).where(col.notna(), None).map(lambda v: v if v is None else str(v))
        elif f.dtype == "float":
            out[f.name] = pd.to_numeric(col, errors="raise").astype(np.float64)
        elif f.dtype == "int":
            num = pd.to_numeric(col, errors="raise")
            out[f.name] = num.astype(np.float64) if f.nullable else num.astype(np.int64)
        else:
            out[f.name] = col.astype(bool)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))
