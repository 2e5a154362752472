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
from srmsim.labels import column_names, plural
from srmsim.stats import _checks

MISSING_GROUP = "(missing)"
"""The label of the group of rows whose group value is missing: missing values are a group of
their own (never dropped, never merged into a real group). A real value that reads the same is
refused, so the two cannot be merged."""

MAX_SEED = 2**63 - 1


def require_columns(df: pd.DataFrame, columns: Iterable[str | None], what: str = "") -> None:
    """Raise a DataError naming the first requested column that the frame lacks."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
    for col in columns:
        if col is None:
            continue
        role = f" ({what})" if what else ""
        try:
            hash(col)
        except TypeError:  # a list given for one column: pandas raised "unhashable type"
            raise DataError(f"column{role} must be one column name, got {col!r}") from None
        if col not in df.columns:
            raise DataError(f"column '{col}'{role} not found; available columns: "
                            f"{column_names(df.columns)}")
        if not df.columns.is_unique and not isinstance(df.columns.get_loc(col), int):
            # df[col] would be a frame of the copies, not a column: pandas raised deep inside
            raise DataError(f"column '{col}'{role} appears more than once; rename the copies")


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds, for messages: 13, not np.int64(13)."""
    return value.item() if isinstance(value, np.generic) else value


def _first_bad(series: pd.Series, bad: np.ndarray) -> str:
    pos = int(np.flatnonzero(bad)[0])
    return f"{_plain(series.iloc[pos])!r} (row {_plain(series.index[pos])!r})"


def outcome_values(df: pd.DataFrame, column: str) -> np.ndarray:
    """The outcome as floats 1.0 / 0.0 with NaN where missing.

    Accepts bool, nullable boolean, numbers that are 0 or 1, and text holding the words an
    import reads as true or false (:data:`srmsim.inputs.BOOL_WORDS`: an export's Y/N or
    Yes/No). Anything else (other text, 2, 0.5) is a DataError naming the column and the first
    offending value: a coding mistake must not be turned into a plausible table.
    """
    from srmsim.inputs import BOOL_WORDS

    require_columns(df, [column], "outcome")
    s = df[column]
    missing = s.isna().to_numpy()
    out = np.full(len(s), np.nan)
    if pd.api.types.is_bool_dtype(s.dtype):
        ok = ~missing
        out[ok] = s.to_numpy()[ok].astype(float)
        return out
    if pd.api.types.is_complex_dtype(s.dtype):
        if missing.all():
            return out
        raise DataError(f"column '{column}': outcome must be boolean or 0/1, found complex "
                        f"numbers such as {_first_bad(s, ~missing)}")
    if pd.api.types.is_numeric_dtype(s.dtype):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        bad = ~missing & ~np.isin(vals, (0.0, 1.0))
        if bad.any():
            raise DataError(
                f"column '{column}': outcome must be boolean or 0/1, found {_first_bad(s, bad)}"
            )
        out[~missing] = vals[~missing]
        return out
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        vals = s.to_numpy(dtype=object)
        for i in np.flatnonzero(~missing):
            v = vals[i]
            if isinstance(v, str) and v.strip().casefold() in BOOL_WORDS:
                out[i] = float(BOOL_WORDS[v.strip().casefold()])
            elif isinstance(v, bool | np.bool_) or (
                isinstance(v, int | float | np.integer | np.floating) and v in (0, 1)
            ):
                out[i] = float(v)
            else:
                raise DataError(
                    f"column '{column}': outcome must be boolean or 0/1, found {_plain(v)!r} "
                    f"(row {_plain(s.index[i])!r})"
                )
        return out
    bad = ~missing
    if not bad.any():
        return out
    if isinstance(s.dtype, pd.CategoricalDtype):  # "found 0" beside "must be 0/1" read oddly
        shown = ", ".join(repr(_plain(c)) for c in list(s.cat.categories)[:5])
        raise DataError(
            f"column '{column}': outcome must be boolean or 0/1, found category values "
            f"(categories {shown}); convert the column to true/false or numbers first")
    raise DataError(
        f"column '{column}': outcome must be boolean or 0/1, found {_first_bad(s, bad)}"
    )


def score_values(df: pd.DataFrame, column: str) -> np.ndarray:
    """A score column as floats with NaN where missing; text or infinities are DataErrors."""
    require_columns(df, [column], "score")
    s = df[column]
    _refuse_non_real(s, column, "score")
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
        if pd.api.types.is_complex_dtype(conv.dtype):
            raise DataError(f"column '{column}': score holds complex numbers; a real number "
                            "is needed")
        out = conv.to_numpy(dtype=float, na_value=np.nan)
    inf = np.isinf(out)
    if inf.any():
        raise DataError(f"column '{column}': score must be finite, found {_first_bad(s, inf)}")
    return out


def _refuse_non_real(s: pd.Series, column: str, role: str) -> None:
    """Complex numbers, dates and durations are not scores: numpy would drop the imaginary part
    or count nanoseconds since 1970 without a word."""
    dtype = s.dtype
    if pd.api.types.is_complex_dtype(dtype):
        raise DataError(f"column '{column}': {role} holds complex numbers; a real number is needed")
    if (pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)
            or isinstance(dtype, pd.PeriodDtype)):
        raise DataError(f"column '{column}': {role} holds {dtype} values (dates or durations); "
                        "convert them to a number first (e.g. days)")


def group_labels(df: pd.DataFrame, column: str) -> np.ndarray:
    """Group labels as strings; missing values form their own ``"(missing)"`` group, not a drop.

    A real value that reads ``"(missing)"`` is refused: it would be merged with the missing rows.
    """
    codes, text = _label_codes(df, column)
    return text[codes]


def group_numbers(df: pd.DataFrame, column: str) -> tuple[np.ndarray, list[str]]:
    """Each row's group as its place in :func:`group_order` of :func:`group_labels`, and those
    groups: the labels made text once per distinct value, never row by row.

    Why: ``srmsim thresholds --by`` counted each column's groups a dozen times, and each time
    made 2M pupils' labels text, found the distinct ones and numbered the rows by hashing the
    text again: 4.6 s of a 29 s run. The checks are :func:`group_labels`' (the same errors)."""
    codes, text = _label_codes(df, column)
    groups = group_order(text)
    index = {g: i for i, g in enumerate(groups)}
    place = np.array([index[str(g)] for g in text], dtype=np.int64)
    return place[codes], groups


def _label_codes(df: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code and the distinct labels' text (``text[codes]`` is
    :func:`group_labels`), after its checks."""
    require_columns(df, [column], "group")
    s = df[column]
    isna = s.isna().to_numpy()
    refuse_mixed_kinds(s, column)
    if _one_text_per_value(s.dtype):
        return _labels_of_distinct_values(s, column, isna)
    labels = _without_negative_zero(s).astype(str).to_numpy(dtype=object)
    clash = ~isna & (labels == MISSING_GROUP)
    if clash.any():
        raise _named_like_missing(column, s.index[int(np.flatnonzero(clash)[0])])
    labels[isna] = MISSING_GROUP
    codes, text = pd.factorize(labels)  # text: 1 and 1.0 of objects are two labels here
    return codes.astype(np.int64), np.asarray(text, dtype=object).astype(str)


def _without_negative_zero(s: pd.Series) -> pd.Series:
    """-0.0 made 0.0: the same number, which read as text ("-0.0", as ``np.round`` of a small
    negative number gives it) made a group of its own beside "0.0", with gaps between the two."""
    if pd.api.types.is_float_dtype(s.dtype):
        return s + 0.0  # (-0.0 + 0.0 is 0.0; NaN and NA stay missing)
    if s.dtype == object:
        zero = np.fromiter((isinstance(v, float | np.floating) and v == 0 for v in s),
                           dtype=bool, count=len(s))
        if zero.any():
            return s.mask(zero, 0.0)
    return s


def _named_like_missing(column: str, row: object) -> DataError:
    return DataError(f"column '{column}': the value {MISSING_GROUP!r} (row {_plain(row)!r}) is "
                     "the label srmsim.risk gives to missing values, so the two would merge; "
                     "rename it, or blank it if it means missing")


def _one_text_per_value(dtype: object) -> bool:
    """Whether values that compare equal always read as the same text: whole numbers, true or
    false, and pandas text. Not floats (-0.0 and 0.0 are one value, two texts) nor Python
    objects (1 and 1.0), which :func:`group_labels` converts row by row."""
    if isinstance(dtype, np.dtype):
        return dtype.kind in "biu"
    return isinstance(dtype, pd.StringDtype | pd.BooleanDtype) or (
        isinstance(dtype, pd.api.extensions.ExtensionDtype)
        and pd.api.types.is_integer_dtype(dtype))


def _labels_of_distinct_values(s: pd.Series, column: str, isna: np.ndarray
                               ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_label_codes` for a column of :func:`_one_text_per_value`: each distinct value
    made text once (2M pupils' school numbers: 0.35 s row by row, 0.03 s here; ``srmsim
    thresholds --by`` reads a column's labels a dozen times)."""
    codes, uniques = pd.factorize(s)  # missing values: code -1
    text = pd.Series(uniques).astype(str).to_numpy(dtype=object)
    clash = np.flatnonzero(text == MISSING_GROUP)
    if clash.size:
        raise _named_like_missing(column, s.index[int(np.flatnonzero(codes == clash[0])[0])])
    if isna.any():
        text = np.append(text, MISSING_GROUP)  # (code -1: the last)
        codes = np.where(codes < 0, text.size - 1, codes)
    return np.asarray(codes, dtype=np.int64), text.astype(str)


def _kind(kind: type) -> str:
    """What a group value of this type is, for :func:`_refuse_mixed_kinds`."""
    if issubclass(kind, bool | np.bool_):
        return "true/false"
    if issubclass(kind, int | np.integer):
        return "whole numbers"
    if issubclass(kind, float | np.floating):
        return "decimal numbers"
    if issubclass(kind, str):
        return "text"
    return kind.__name__


def refuse_mixed_kinds(s: pd.Series, column: str, what: str = "group labels") -> None:
    """Refuse a column of Python objects (or categories) mixing text, numbers and true/false:
    as text ``1`` and ``"1"`` (or ``True`` and ``"True"``) were one group (or category),
    silently merged. Names the rows, not the values (the column may be real data)."""
    if not (s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype)):
        return  # one numpy or pandas type: one kind of value
    isna = s.isna().to_numpy()
    types = [type(v) for v in s.to_numpy(dtype=object)[~isna]]
    kind_of = {t: _kind(t) for t in set(types)}
    if len(set(kind_of.values())) < 2:
        return
    first = pd.Series([kind_of[t] for t in types], dtype=object).drop_duplicates()
    rows = s.index[np.flatnonzero(~isna)]
    (i, a), (j, b) = list(first.items())[:2]
    raise DataError(f"column '{column}': {what} mix {a} (row {_plain(rows[i])!r}) and {b} "
                    f"(row {_plain(rows[j])!r}): read as text, 1 and '1' are one label; give the "
                    "column one type")


def _order_key(label: str) -> tuple:
    """Numbers by value (2 before 10), then text, then the missing rows' group."""
    if label == MISSING_GROUP:
        return (2, 0.0, label)
    try:
        number = float(label)
    except ValueError:
        return (1, 0.0, label)
    return (0, number, label) if np.isfinite(number) else (1, 0.0, label)


def group_order(labels: Iterable[str]) -> list[str]:
    """The distinct group labels in reading order: numbers by value, so year 2 comes before
    year 10 (as text "10" sorted first), then text, then ``"(missing)"``.

    An array of labels (a row each) is made distinct first, by pandas' hash table: a Python
    set of 8M students' labels took 1.8 s of a national thresholds table."""
    if isinstance(labels, np.ndarray | pd.Series | pd.Index):
        labels = pd.unique(np.asarray(labels, dtype=object).ravel())
    return sorted({str(g) for g in labels}, key=_order_key)


def group_codes(groups: object, n: int, name: str = "groups") -> np.ndarray:
    """Integer codes for an array of group labels (one per row); missing labels (NaN, None) form
    one group of their own, as :func:`group_labels` makes them, never dropped. Codes are not
    text, so a real label ``"(missing)"`` stays apart from the missing rows here."""
    if isinstance(groups, pd.Series | pd.Index):
        values = groups.to_numpy(dtype=object)
    else:
        try:
            values = np.asarray(groups, dtype=object)
        except (TypeError, ValueError) as err:  # a ragged list
            raise DataError(f"{name} must hold one label per row ({err})") from None
    if values.ndim != 1 or values.size != n:
        raise DataError(f"{name} must hold one label per row ({n}), got shape {values.shape}")
    codes = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)[0]
    return np.asarray(codes, dtype=np.int64)


def outcome_array(y: object, name: str = "y", n: int | None = None) -> np.ndarray:
    """An outcome given as an array: floats 1.0 / 0.0 (booleans accepted), NaN kept where missing.

    Any other value (2, 0.5, text) is a DataError: an outcome coded 0/2 would give an AUC above 1.
    """
    try:
        values = np.asarray(y)
    except (TypeError, ValueError) as err:  # ragged lists
        raise DataError(f"{name} must be a 1-d array of 0/1 outcomes ({err})") from None
    if values.ndim != 1:
        raise DataError(f"{name} must be a 1-d array of 0/1 outcomes, got shape {values.shape}")
    if n is not None and values.size != n:
        raise DataError(f"{name} has {values.size} values but the scores have {n}; give one "
                        "outcome per score")
    return outcome_values(pd.DataFrame({name: values}), name)


def complete_risks(risk: object, name: str = "risk") -> np.ndarray:
    """Risks or scores with none missing: a missing one would be neither flagged nor counted."""
    return complete_pairs(risk, None, name)[0]


def complete_pairs(risk: object, y: object, name: str = "risk") -> tuple[np.ndarray, np.ndarray]:
    """Risks and their 0/1 outcomes (``y`` None: risks alone), with no value missing: a missing
    one would be neither flagged nor counted, so it is refused (leave those rows out first)."""
    values = risk_array(risk, name)
    outcome = np.zeros(values.size) if y is None else outcome_array(y, "y", values.size)
    missing = np.isnan(values) | np.isnan(outcome)
    if missing.any():
        what = name if y is None else f"{name} or outcome"
        raise DataError(f"{plural(missing.sum(), 'missing value')} of {what}; leave those rows "
                        "out first")
    return values, outcome


def risk_array(risk: object, name: str = "risk") -> np.ndarray:
    """Predicted risks or scores given as an array: finite real numbers, NaN where missing."""
    try:
        values = np.asarray(risk)
    except (TypeError, ValueError) as err:
        raise DataError(f"{name} must be a 1-d array of numbers ({err})") from None
    if values.ndim != 1:
        raise DataError(f"{name} must be a 1-d array of numbers, got shape {values.shape}")
    return score_values(pd.DataFrame({name: values}), name)


def seed_value(seed: object) -> int | np.random.Generator:
    """A seed: a numpy Generator, or a whole number from 0 to 2**63 - 1."""
    if isinstance(seed, np.random.Generator):
        return seed
    return _checks.whole_number(seed, "seed", 0, MAX_SEED)


def share_value(share: object, name: str) -> float:
    """A share of students (capacity rate): a finite number from 0 to 1."""
    value = _checks.finite_number(share, name)
    if not 0.0 <= value <= 1.0:
        raise DataError(f"{name}={share!r} must be a share from 0 to 1")
    return value


def level_value(level: object) -> float:
    """A confidence level strictly between 0 and 1."""
    value = _checks.finite_number(level, "level")
    if not 0.0 < value < 1.0:
        raise DataError(f"level={level!r} must lie strictly between 0 and 1")
    return value


def sorted_labels(values: Iterable[object]) -> list[object]:
    """Distinct labels in sorted order; labels of mixed kinds (3 and "A") sort by their text."""
    unique = list(pd.unique(pd.Series(list(values), dtype=object)))
    try:
        return sorted(unique)
    except TypeError:
        return sorted(unique, key=lambda v: (str(v), type(v).__name__))


def cluster_codes(df: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and labels for a cluster column; missing clusters cannot be resampled."""
    require_columns(df, [column], "cluster")
    s = df[column]
    miss = s.isna().to_numpy()
    if miss.any():
        raise DataError(
            f"column '{column}': cluster (school) is missing in {plural(miss.sum(), 'row')}, "
            f"first at row {_plain(s.index[int(np.flatnonzero(miss)[0])])!r}; a bootstrap over "
            "clusters needs every row assigned to one"
        )
    codes, uniques = pd.factorize(s, sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def check_direction(direction: str) -> str:
    if direction not in ("below", "above"):
        raise DataError(f"direction must be 'below' or 'above', got {direction!r}")
    return direction


def require_rows_used(score: str, outcome: str, missing_score: np.ndarray,
                      missing_outcome: np.ndarray) -> None:
    """Refuse a table none of whose rows has both a score and an outcome: there is nothing to
    count, and a threshold found from no rows (inf) would flag everyone when applied."""
    if not (~missing_score & ~missing_outcome).any():
        raise DataError(
            f"no rows with both a score and an outcome: column '{score}' is missing in "
            f"{int(missing_score.sum())} and '{outcome}' in {int(missing_outcome.sum())} of the "
            f"{missing_score.size} rows")

