"""Column checks shared by the risk tools: one place that turns bad input into a clear DataError.

Why here: every function in :mod:`srmsim.risk` takes a plain DataFrame (simulated or a school's
export), so the same mistakes (a missing column, a "yes"/"no" outcome, text in a score) must be
reported the same way, naming the column and an offending row, and never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from srmsim.errors import DataError


def require_columns(df: pd.DataFrame, columns: Iterable[str | None], what: str = "") -> None:
    """Raise a DataError naming the first requested column that the frame lacks."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
    for col in columns:
        if col is None:
            continue
        if col not in df.columns:
            role = f" ({what})" if what else ""
            shown = ", ".join(map(str, list(df.columns)[:20]))
            more = " ..." if len(df.columns) > 20 else ""
            raise DataError(f"column '{col}'{role} not found; available columns: {shown}{more}")


def _first_bad(series: pd.Series, bad: np.ndarray) -> str:
    pos = int(np.flatnonzero(bad)[0])
    value = series.iloc[pos]
    if isinstance(value, np.generic):  # 'inf', not 'np.float64(inf)'
        value = value.item()
    return f"{value!r} (row {series.index[pos]!r})"


def outcome_values(df: pd.DataFrame, column: str) -> np.ndarray:
    """The outcome as floats 1.0 / 0.0 with NaN where missing.

    Accepts bool, nullable boolean, or numbers that are 0 or 1. Anything else (text, 2, 0.5) is
    a DataError naming the column and the first offending value: a coding mistake must not be
    turned into a plausible table.
    """
    require_columns(df, [column], "outcome")
    s = df[column]
    missing = s.isna().to_numpy()
    out = np.full(len(s), np.nan)
    if pd.api.types.is_bool_dtype(s.dtype):
        ok = ~missing
        out[ok] = s.to_numpy()[ok].astype(float)
        return out
    if pd.api.types.is_numeric_dtype(s.dtype):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        bad = ~missing & ~np.isin(vals, (0.0, 1.0))
        if bad.any():
            raise DataError(
                f"column '{column}': outcome must be boolean or 0/1, found {_first_bad(s, bad)}"
            )
        out[~missing] = vals[~missing]
        return out
    if s.dtype == object:
        vals = s.to_numpy()
        for i in np.flatnonzero(~missing):
            v = vals[i]
            if isinstance(v, bool | np.bool_) or (
                isinstance(v, int | float | np.integer | np.floating) and v in (0, 1)
            ):
                out[i] = float(v)
            else:
                raise DataError(
                    f"column '{column}': outcome must be boolean or 0/1, found {v!r} "
                    f"(row {s.index[i]!r})"
                )
        return out
    bad = ~missing
    if not bad.any():
        return out
    raise DataError(
        f"column '{column}': outcome must be boolean or 0/1, found {_first_bad(s, bad)}"
    )


def score_values(df: pd.DataFrame, column: str) -> np.ndarray:
    """A score column as floats with NaN where missing; text or infinities are DataErrors."""
    require_columns(df, [column], "score")
    s = df[column]
    missing = s.isna().to_numpy()
    if pd.api.types.is_bool_dtype(s.dtype):
        out = np.full(len(s), np.nan)
        out[~missing] = s.to_numpy()[~missing].astype(float)
        return out
    if pd.api.types.is_numeric_dtype(s.dtype):
        out = s.to_numpy(dtype=float, na_value=np.nan)
    else:
        conv = pd.to_numeric(s, errors="coerce")
        bad = conv.isna().to_numpy() & ~missing
        if bad.any():
            raise DataError(f"column '{column}': score must be numeric, found {_first_bad(s, bad)}")
        out = conv.to_numpy(dtype=float, na_value=np.nan)
    inf = np.isinf(out)
    if inf.any():
        raise DataError(f"column '{column}': score must be finite, found {_first_bad(s, inf)}")
    return out


def group_labels(df: pd.DataFrame, column: str) -> np.ndarray:
    """Group labels as strings; a missing group becomes its own "(missing)" group, not a drop."""
    require_columns(df, [column], "group")
    s = df[column]
    labels = s.astype(str).to_numpy(dtype=object)
    labels[s.isna().to_numpy()] = "(missing)"
    return labels.astype(str)


def cluster_codes(df: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and labels for a cluster column; missing clusters cannot be resampled."""
    require_columns(df, [column], "cluster")
    s = df[column]
    miss = s.isna().to_numpy()
    if miss.any():
        raise DataError(
            f"column '{column}': cluster (school) is missing in {int(miss.sum())} row(s), "
            f"first at row {s.index[int(np.flatnonzero(miss)[0])]!r}; a bootstrap over clusters "
            "needs every row assigned to one"
        )
    codes, uniques = pd.factorize(s, sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def check_direction(direction: str) -> str:
    if direction not in ("below", "above"):
        raise DataError(f"direction must be 'below' or 'above', got {direction!r}")
    return direction
