"""Combined rules as a score: "at least k of these risk factors" without ``eval``.

A trust's early-warning rule is often a count of flags (attendance below 90%, a behaviour
incident, reading two years behind). :func:`count_score` turns named conditions into that count,
so the same threshold, curve and capacity tools work on it: "count >= k" is the flag
``count > k - 0.5`` with ``direction="above"`` (the default threshold grid uses the distinct
counts, so the row at threshold ``k`` means "count >= k + 1").
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from srmsim.errors import RuleError
from srmsim.labels import excerpt
from srmsim.risk._columns import require_columns

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}

Condition = tuple[str, str, object]


def condition_flags(
    df: pd.DataFrame, conditions: Mapping[str, Condition], missing: str = "nan"
) -> pd.DataFrame:
    """One column per named condition: 1.0 if met, 0.0 if not, NaN where its column is missing.

    ``conditions`` maps a name to ``(column, operator, value)`` with an operator among
    ``< <= > >= == !=``. ``missing="false"`` counts a missing value as "condition not met"
    instead (only when you decide that, e.g. "no incident recorded" means none). ``value`` must
    not be missing (NaN, None); a true/false column may be compared with ``"True"``/``"False"``
    as well as with the booleans (the labels threshold tables give it), but not with other text.
    """
    if missing not in ("nan", "false"):
        raise RuleError(f"missing must be 'nan' or 'false', got {missing!r}")
    if not isinstance(conditions, Mapping):
        raise RuleError("conditions must map a name to (column, operator, value), got "
                        f"{type(conditions).__name__}")
    if not conditions:
        raise RuleError("count_score needs at least one condition")
    out = {}
    for name, cond in conditions.items():
        if not (isinstance(cond, tuple | list) and len(cond) == 3):
            raise RuleError(
                f"condition '{name}': expected (column, operator, value), got {excerpt(cond)}"
            )
        column, op, value = cond
        if op not in OPERATORS:
            raise RuleError(
                f"condition '{name}': unknown operator {excerpt(op)}; use one of {', '.join(OPERATORS)}"
            )
        require_columns(df, [column], f"condition '{name}'")
        s = df[column]
        isna = s.isna().to_numpy()
        value = _comparison_value(name, column, s, op, value)
        try:
            met = OPERATORS[op](s, value)
            if isinstance(met.dtype, pd.BooleanDtype):  # a nullable column: NA where missing
                met = met.fillna(False)
            met = np.asarray(met, dtype=bool)
        except TypeError as err:
            raise RuleError(
                f"condition '{name}': cannot compare column '{column}' ({s.dtype}) {op} {value!r}"
            ) from err
        vals = met.astype(float)
        vals[isna] = np.nan if missing == "nan" else 0.0
        out[name] = vals
    return pd.DataFrame(out, index=df.index)


_BOOL_TEXT = {"True": True, "False": False}


def _is_boolean(s: pd.Series) -> bool:
    """A true/false column: bool, nullable boolean, or an object column of booleans and blanks
    (what a bool column with a missing value becomes)."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return True
    if s.dtype != object:
        return False
    present = s.dropna()
    return present.size > 0 and all(isinstance(v, bool | np.bool_) for v in present)


def _comparison_value(name: str, column: str, s: pd.Series, op: str, value: object) -> object:
    """The value a condition compares with, checked against the column.

    A missing value (None, NaN) is refused: every comparison with it is false, so the condition
    would silently hold for nobody. A boolean column compared with the text ``"True"`` or
    ``"False"`` (how :func:`srmsim.risk.threshold_table` labels its groups) compares with the
    boolean; any other text against a number or true/false column is refused, as pandas would
    answer "not equal" for every row.
    """
    if value is None or value is pd.NA or value is pd.NaT or (
            isinstance(value, float | np.floating) and np.isnan(value)):
        raise RuleError(
            f"condition '{name}': comparing column '{column}' {op} {value!r} (a missing value) "
            "holds for no row; use missing='false' to treat missing values as not met"
        )
    if np.ndim(cast(Any, value)) != 0:  # a list was compared element by element, or raised
        raise RuleError(f"condition '{name}': compare column '{column}' with one value, not "
                        f"{value!r}")
    if isinstance(value, str):
        if _is_boolean(s):
            if value not in _BOOL_TEXT:
                raise RuleError(f"condition '{name}': column '{column}' is true/false; compare "
                                f"it with True or False, not {value!r}")
            return _BOOL_TEXT[value]
        if pd.api.types.is_numeric_dtype(s.dtype):
            raise RuleError(f"condition '{name}': column '{column}' holds {s.dtype} values; "
                            f"compare it with a number, not the text {value!r}")
        if op not in ("==", "!=") and (s.dtype == object or isinstance(s.dtype, pd.StringDtype)):
            # text is ordered letter by letter: year groups read as text, "year >= '10'",
            # held for years 7, 8 and 9 too ("7" > "10")
            raise RuleError(f"condition '{name}': column '{column}' holds text, which {op} "
                            "would order letter by letter ('7' comes after '10'); convert the "
                            "column to numbers, or compare with == or !=")
    return value


def count_score(
    df: pd.DataFrame, conditions: Mapping[str, Condition], missing: str = "nan"
) -> pd.Series:
    """Number of conditions met per row: a risk-factor count to use with ``direction="above"``.

    A row with any condition's column missing gets NaN (so threshold tools count it as a missing
    score) unless ``missing="false"``.

    >>> df = pd.DataFrame({"att": [0.85, 0.97], "incidents": [2, 0]})
    >>> count_score(df, {"low_att": ("att", "<", 0.9), "behaviour": ("incidents", ">=", 1)}).tolist()
    [2.0, 0.0]
    """
    flags = condition_flags(df, conditions, missing=missing)
    total = flags.sum(axis=1, skipna=False)
    total.name = "risk_count"
    return total
