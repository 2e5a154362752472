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
from srmsim.risk._columns import require_columns


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
            raise DataError(f"coarsen spec: unknown key(s) {sorted(unknown)}")
        out = cls(
            bands=dict(spec.get("bands", {})),
            categories=list(spec.get("categories", [])),
            min_count=int(spec.get("min_count", 10)),
            other_label=str(spec.get("other_label", "Other")),
        )
        for col, band in out.bands.items():
            if np.isscalar(band):
                # np.isscalar's TypeGuard replaces the declared type with one including str/complex
                if not float(band) > 0:  # type: ignore[arg-type]
                    raise DataError(f"coarsen spec: bands.{col}: width must be positive")
            else:
                edges = np.asarray(band, dtype=float)
                if edges.size < 2 or np.any(np.diff(edges) <= 0):
                    raise DataError(
                        f"coarsen spec: bands.{col}: edges must be at least two increasing numbers"
                    )
        return out


class Coarsener:
    """Fit on the pooled training records (which categories are common), then transform any rows."""

    def __init__(self, spec: CoarsenSpec | Mapping[str, object]):
        self.spec = CoarsenSpec.from_any(spec)

    def fit(self, df: pd.DataFrame) -> Coarsener:
        require_columns(df, list(self.spec.bands) + self.spec.categories, "coarsen")
        self.kept_: dict[str, set[str]] = {}
        for col in self.spec.categories:
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
            text = s.astype(str)
            merged = text.where(text.isin(self.kept_[col]), self.spec.other_label)
            out[col] = merged.mask(s.isna().to_numpy())
        return out

    def fit_transform(self, df: pd.DataFrame) -> pd.DataFrame:
        return self.fit(df).transform(df)


def generalise(values: pd.Series, band: float | Sequence[float], column: str = "") -> pd.Series:
    """Replace each number by the midpoint of its band (width, or explicit edges)."""
    v = pd.to_numeric(values, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    if np.isscalar(band):
        w = float(band)  # type: ignore[arg-type]  # np.isscalar's TypeGuard loses float
        mid = np.floor(v / w) * w + w / 2.0
    else:
        edges = np.asarray(band, dtype=float)
        ok = ~np.isnan(v)
        outside = ok & ((v < edges[0]) | (v > edges[-1]))
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise DataError(
                f"column '{column}': value {v[i]!r} (row {values.index[i]!r}) is outside the "
                f"coarsening edges {edges[0]}..{edges[-1]}"
            )
        idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, edges.size - 2)
        mids = (edges[:-1] + edges[1:]) / 2.0
        mid = np.where(ok, mids[idx], np.nan)
    return pd.Series(mid, index=values.index, name=values.name)
