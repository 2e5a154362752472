"""Design matrices with explicit coding, so a fitted risk model applies to new schools' records.

Why explicit: a model fitted on one term's records must code the next term's records exactly the
same way. Categorical fields (``sex`` as "F"/"M", R factors read as strings) get one dummy per
level except a reference level, which is set explicitly (``reference_levels={"sex": "F"}``) or,
if not given, is the first level in sorted order and recorded in ``reference_levels_``.
Numeric fields are centred and scaled by the training mean and SD so a ridge penalty treats them
alike. A category never seen in training is an error naming the column and value, not a guess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from srmsim.errors import DataError
from srmsim.risk._columns import _refuse_non_real, refuse_mixed_kinds, require_columns
from srmsim.stats._checks import LARGEST_VALUE, _listing, require_finite


def _numeric_values(s: pd.Series, column: str) -> np.ndarray:
    """A numeric feature as floats (NaN where missing). Infinite values, and values beyond
    +-1e150 whose squares overflow the feature's variance (leaving a coefficient of 0 without a
    word), are DataErrors naming the column and row, as are complex numbers."""
    if pd.api.types.is_complex_dtype(s.dtype):
        raise DataError(f"column '{column}': feature holds complex numbers; a real number is "
                        "needed")
    values = s.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        if (np.abs(values) > LARGEST_VALUE).any():  # inf too; NaN compares False
            require_finite(s.to_frame(column), [column])  # names the column and row
    return values


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(s.dtype) or (
        pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype)
    )


#: rows per block when the columns are copied into the design matrix: a block's rows stay in cache
ROWS_PER_BLOCK = 8192


def _column_stack(cols: Sequence[np.ndarray]) -> np.ndarray:
    """``np.column_stack(cols)`` (C-ordered, float64), filled a block of rows at a time so that
    each row's cache line is written while it is in cache: a whole-column copy is a strided pass
    over the entire matrix per column, and stacking then transposing allocates it twice."""
    n = len(cols[0])
    X = np.empty((n, len(cols)))
    for start in range(0, n, ROWS_PER_BLOCK):
        block = X[start:start + ROWS_PER_BLOCK]
        for j, col in enumerate(cols):
            block[:, j] = col[start:start + ROWS_PER_BLOCK]
    return X


class UnseenCategoryError(DataError):
    """A category a fitted design never saw in training (``column`` names the feature).

    Why a class of its own: its message quotes the value and row (what the user needs to find
    it in their own file), while a summary of many fits (``value_of_pooling``'s failure
    examples) must say which column without the value, which can identify a pupil."""

    def __init__(self, message: str, column: str):
        super().__init__(message)
        self.column = column


class FeatureDesign:
    """Learns a coding from training rows; ``transform`` returns ``[1, numeric..., dummies...]``."""

    def __init__(
        self, features: Sequence[str], reference_levels: Mapping[str, object] | None = None
    ):
        if isinstance(features, str):
            features = [features]
        if not isinstance(features, Sequence | pd.Index | np.ndarray):
            raise DataError(f"features must be a list of column names, got "
                            f"{type(features).__name__}")
        self.features = list(features)
        twice = sorted(str(f) for f, k in Counter(self.features).items() if k > 1)  # linear
        if twice:  # each copy got its own design column: an exactly collinear design
            raise DataError(f"features list {_listing(twice)} more than once")
        if reference_levels is not None and not isinstance(reference_levels, Mapping):
            raise DataError(f"reference_levels must map feature names to their reference "
                            f"level, got {type(reference_levels).__name__}")
        self.reference_levels = dict(reference_levels or {})
        unknown = set(self.reference_levels) - set(self.features)
        if unknown:
            raise DataError(f"reference_levels given for non-features: {sorted(unknown)}")

    def fit(self, df: pd.DataFrame) -> FeatureDesign:
        require_columns(df, self.features, "feature")
        self.numeric_: dict[str, tuple[float, float]] = {}
        self.levels_: dict[str, list[str]] = {}
        self.reference_levels_: dict[str, str] = {}
        names = ["intercept"]
        for f in self.features:
            s = df[f]
            _refuse_non_real(s, f, "feature")  # dates were taken as one category per day
            if _is_numeric(s):
                if f in self.reference_levels:  # it was ignored without a word
                    raise DataError(f"column '{f}': a reference level was given, but the "
                                    "feature is numeric (only categories have one)")
                v = _numeric_values(s, f)
                mean = float(np.nanmean(v)) if np.isfinite(v).any() else 0.0
                sd = float(np.nanstd(v)) if np.isfinite(v).sum() > 1 else 0.0
                self.numeric_[f] = (mean, sd if sd > 0 else 1.0)
                names.append(f)
            else:
                refuse_mixed_kinds(s, f, "categories")
                levels = sorted({str(x) for x in s.dropna().tolist()})
                if not levels:
                    raise DataError(f"column '{f}': no non-missing values to learn categories from")
                ref = self.reference_levels.get(f)
                ref = levels[0] if ref is None else str(ref)
                if ref not in levels:
                    raise DataError(
                        f"column '{f}': reference level {ref!r} not in the data; levels: {levels}"
                    )
                self.levels_[f] = [lv for lv in levels if lv != ref]
                self.reference_levels_[f] = ref
                names.extend(f"{f}[{lv}]" for lv in self.levels_[f])
        self.column_names_ = names
        return self

    def missing_mask(self, df: pd.DataFrame) -> np.ndarray:
        """Rows with any feature missing."""
        require_columns(df, self.features, "feature")
        mask = np.zeros(len(df), dtype=bool)
        for f in self.features:
            mask |= df[f].isna().to_numpy()
        return mask

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Design matrix; rows with a missing feature are all-NaN (the caller decides)."""
        require_columns(df, self.features, "feature")
        n = len(df)
        cols = [np.ones(n)]
        missing = np.zeros(n, dtype=bool)
        for f in self.features:
            s = df[f]
            if f in self.numeric_:
                if not _is_numeric(s):
                    raise DataError(f"column '{f}': numeric in training, now {s.dtype}")
                mean, sd = self.numeric_[f]
                values = _numeric_values(s, f)
                missing |= np.isnan(values)  # as s.isna(): missing values are NaN here
                cols.append((values - mean) / sd)
            else:
                isna = s.isna().to_numpy()
                missing |= isna
                refuse_mixed_kinds(s, f, "categories")
                text = s.astype(str).to_numpy(dtype=object)
                known = set(self.levels_[f]) | {self.reference_levels_[f]}
                bad = ~isna & ~np.isin(text, list(known))
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    row = s.index[i].item() if isinstance(s.index[i], np.generic) else s.index[i]
                    raise UnseenCategoryError(
                        f"column '{f}': category {text[i]!r} (row {row!r}) was not in the "
                        f"training data; known: {_listing(sorted(known))}", f)
                for lv in self.levels_[f]:
                    d = (text == lv).astype(float)
                    d[isna] = np.nan
                    cols.append(d)
        X = _column_stack(cols)
        if missing.any():
            X[missing] = np.nan
        return X
