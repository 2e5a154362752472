"""Coarsening of pooled records for privacy: generalised numeric fields, rare categories merged.

Why in the risk package: "what does privacy cost?" is a question about targeting, so the value of
pooling is computed twice, on exact and on coarsened records. This is deliberately small: numeric
fields become the midpoint of a band (so models keep treating them as numbers) and categories
held by fewer than ``min_count`` training records become ``other_label``. Full anonymisation
(k-anonymity, pseudonyms, suppression of small cells in published tables) lives elsewhere.

A spec is a :class:`CoarsenSpec` or a dict with the same keys::

    {"bands": {"attendance_rate": 0.05,                 # band width
               "reading_gap_start": [-60, -24, -12, 0, 60]},  # explicit edges
     "categories": ["sex", "ethnicity"], "min_count": 10}

With explicit edges a value outside them is a DataError (it would otherwise be silently
misfiled); the last band includes its upper edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from srmsim.errors import DataError
from srmsim.labels import agree
from srmsim.risk._columns import refuse_mixed_kinds, require_columns
from srmsim.stats._checks import MAX_COUNT, finite_number, whole_number


@dataclass
class CoarsenSpec:
    """How to coarsen: numeric band widths or edges, categorical columns, rare-category cut-off."""

    bands: dict[str, float | Sequence[float]] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    min_count: int = 10
    other_label: str = "Other"

    @classmethod
    def from_any(cls, spec: CoarsenSpec | Mapping[str, Any]) -> CoarsenSpec:
        if isinstance(spec, CoarsenSpec):
            return spec
        if not isinstance(spec, Mapping):
            raise DataError(f"coarsen spec must be a CoarsenSpec or a dict, got {type(spec).__name__}")
        unknown = set(spec) - {"bands", "categories", "min_count", "other_label"}
        if unknown:
            raise DataError(f"coarsen spec: unknown {agree(len(unknown), 'key')} {sorted(unknown)}")
        bands = spec.get("bands", {})
        if not isinstance(bands, Mapping):
            raise DataError(f"coarsen spec: bands must map columns to a width or edges, got "
                            f"{bands!r}")
        categories = spec.get("categories", [])
        if isinstance(categories, str) or not isinstance(categories, Sequence):
            raise DataError(f"coarsen spec: categories must be a list of columns, got "
                            f"{categories!r}")
        out = cls(
            bands=dict(bands),
            categories=list(categories),
            min_count=spec.get("min_count", 10),
            other_label=str(spec.get("other_label", "Other")),
        )
        return out.checked()

    def checked(self) -> CoarsenSpec:
        """This spec, after checking every width, edge list and the cut-off (else DataError)."""
        self.min_count = whole_number(self.min_count, "coarsen spec: min_count", 0, MAX_COUNT)
        for col, band in self.bands.items():
            _check_band(band, col)
        both = [c for c in self.categories if c in self.bands]
        if both:  # the categories step read the raw values: the bands were silently undone
            raise DataError(f"coarsen spec: column {both[0]!r} is in both bands and categories; "
                            "a column is banded (numbers) or merged (categories), not both")
        return self


def _check_band(band: object, column: str) -> float | np.ndarray:
    """A band width (a finite positive number) or edges (two or more increasing finite numbers)."""
    if isinstance(band, str | bytes) or not isinstance(band, Sequence | np.ndarray):
        width = finite_number(band, f"coarsen spec: bands.{column}")
        if not width > 0:
            raise DataError(f"coarsen spec: bands.{column}: width must be positive, got {band!r}")
        return width
    edges = np.array([finite_number(e, f"coarsen spec: bands.{column} edge")
                      for e in np.ravel(np.asarray(band, dtype=object))])
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise DataError(
            f"coarsen spec: bands.{column}: edges must be at least two increasing numbers"
        )
    return edges


class Coarsener:
    """Fit on the pooled training records (which categories are common), then transform any rows."""

    def __init__(self, spec: CoarsenSpec | Mapping[str, object]):
        self.spec = CoarsenSpec.from_any(spec)
        if isinstance(spec, CoarsenSpec):
            self.spec.checked()

    def fit(self, df: pd.DataFrame) -> Coarsener:
        require_columns(df, list(self.spec.bands) + self.spec.categories, "coarsen")
        self.kept_: dict[str, set[str]] = {}
        for col in self.spec.categories:
            refuse_mixed_kinds(df[col], col, "categories")
            counts = df[col].dropna().astype(str).value_counts()
            self.kept_[col] = set(counts[counts >= self.spec.min_count].index)
        return self

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "kept_"):
            raise DataError("Coarsener: call fit() before transform()")
        require_columns(df, list(self.spec.bands) + self.spec.categories, "coarsen")
        out = df.copy()
        for col, band in self.spec.bands.items():
            out[col] = generalise(df[col], band, col)
        for col in self.spec.categories:
            s = df[col]
            refuse_mixed_kinds(s, col, "categories")
            text = s.astype(str)
            merged = text.where(text.isin(self.kept_[col]), self.spec.other_label)
            out[col] = merged.mask(s.isna().to_numpy())
        return out

    def fit_transform(self, df: pd.DataFrame) -> pd.DataFrame:
        return self.fit(df).transform(df)


#: relative distance from a band edge (in units of the width) within which a value is taken to
#: lie on it: a few units in the last place, the error of dividing by a decimal width
EDGE_TOLERANCE = 64 * np.finfo(float).eps


def generalise(values: pd.Series, band: float | Sequence[float], column: str = "") -> pd.Series:
    """Replace each number by the midpoint of its band (width, or explicit edges).

    A width must be a finite positive number giving finite bands for the values: a width so
    small that ``value / width`` overflows (or an infinite value) is a DataError, never NaN/inf.
    """
    column = column or str(values.name)
    checked = _check_band(band, column)
    try:
        v = pd.to_numeric(values, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
        i = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
        raise DataError(f"column '{column}': coarsening bands need numbers, found "
                        f"{values.iloc[i]!r} (row {values.index[i]!r})") from None
    ok = ~np.isnan(v)
    if isinstance(checked, float):
        w = checked
        with np.errstate(over="ignore", invalid="ignore"):
            q = v / w
            # a value on an edge starts the band above it, as with explicit edges: 0.3 / 0.1 is
            # 2.9999999999999996 in floating point, and floor() filed 0.3 in [0.2, 0.3)
            nearest = np.round(q)
            on_edge = np.abs(q - nearest) <= EDGE_TOLERANCE * np.abs(nearest)
            mid = np.where(on_edge, nearest, np.floor(q)) * w + w / 2.0
        broken = ok & ~np.isfinite(mid)
        if broken.any():
            i = int(np.flatnonzero(broken)[0])
            raise DataError(
                f"column '{column}': value {float(v[i])!r} (row {values.index[i]!r}) has no finite "
                f"band of width {w!r}; use a wider band (or fix an infinite value)"
            )
    else:
        edges = checked
        outside = ok & ((v < edges[0]) | (v > edges[-1]))
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise DataError(
                f"column '{column}': value {float(v[i])!r} (row {values.index[i]!r}) is outside the "
                f"coarsening edges {edges[0]}..{edges[-1]}"
            )
        idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, edges.size - 2)
        with np.errstate(over="ignore"):
            mids = edges[:-1] / 2.0 + edges[1:] / 2.0
        mid = np.where(ok, mids[idx], np.nan)
    return pd.Series(mid, index=values.index, name=values.name)
