"""Threshold tables: what a flag "score below t" would catch, miss and cost, per threshold and group.

An analyst choosing "attendance below what?" needs, for each candidate threshold, how many
students are flagged and how many of the students who go on to the outcome are among them, and
whether that differs by group (FSM, SEN, sex, school). The table is plain counts and ratios so it
can be checked by hand; undefined ratios (0/0) are NaN, never 0.

Semantics are strict: ``direction="below"`` flags ``score < threshold`` and ``"above"`` flags
``score > threshold``. A count rule "at least k risk factors" is ``count > k - 0.5`` with
``direction="above"`` (see :func:`srmsim.risk.count_score`).

The result is a DataFrame; ``.attrs`` carries ``n_used``, ``n_missing_score``,
``n_missing_outcome`` (rows missing either are counted there and left out of every count), plus
``score``, ``outcome``, ``direction`` and ``by``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from srmsim.errors import DataError
from srmsim.labels import excerpt, percent, points, rounded, yes_no
from srmsim.privacy import DEFAULT_THRESHOLD
from srmsim.risk._columns import (
    check_direction,
    complete_pairs,
    group_numbers,
    outcome_values,
    require_columns,
    require_rows_used,
    risk_array,
    score_values,
)
from srmsim.stats._checks import MAX_COUNT, finite_number, whole_number

#: a threshold of at most this many significant digits prints as it is (a recorded score:
#: ``105.55``, ``0.9125``); a longer one (a percentile between two scores) is shortened
SHORT_THRESHOLD_DIGITS = 5

MAX_DISTINCT_GRID = 101
"""Scores with at most this many distinct values get every value as a threshold; else quantiles."""

TABLE_COLUMNS = [
    "threshold", "n", "n_pos", "flagged", "flag_rate", "tp", "fp", "fn", "tn",
    "sensitivity", "specificity", "precision", "npv", "f1",
]


def threshold_text(t: float, score: np.ndarray | None = None, direction: str = "below") -> str:
    """A threshold as a reader can read and type it back: as thresholds.csv holds it when it has
    at most :data:`SHORT_THRESHOLD_DIGITS` significant digits, else to the fewest digits (at
    least 3, and every digit before the point; rounded, or else cut towards the students it
    does not flag: :func:`_cut_toward`) that flag exactly the students of ``score`` that ``t``
    flags, so the line printed with it stays true and ``--thresholds`` given it
    gives the same row; 8 digits when no ``score`` is given (real data: the published value
    itself). Why: `srmsim thresholds` printed ``threshold -0.47983035``, a percentile between
    two scores that no analyst reads to 8 digits."""
    t = float(t)
    exact = f"{t:.8g}"
    figures = exact.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    if score is None or len(figures) <= SHORT_THRESHOLD_DIGITS or not np.isfinite(t) or t == 0:
        return exact
    from srmsim.risk.capacity import flag

    flagged = flag(score, t, direction)
    for digits in range(max(3, int(np.floor(np.log10(abs(t)))) + 1), 8):
        for text in (rounded(t, f".{digits}g"), _cut_toward(t, digits, direction)):
            if np.array_equal(flag(score, float(text), direction), flagged):
                return text
    return exact


def _cut_toward(t: float, digits: int, direction: str) -> str:
    """``t`` to ``digits`` significant digits cut towards the students it does not flag (down
    for "below", up for "above"): a threshold at a recorded score (a school's 59/70 =
    0.84285714 that fills its places) flags the same students from any number between it and
    the next score on that side, which rounding never reaches (0.843 flags 59/70 too); cut,
    0.8428 does. Notebook 05 printed such thresholds to 6 digits."""
    from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

    exact = Decimal(repr(t))
    step = Decimal(1).scaleb(exact.adjusted() - digits + 1)
    cut = exact.quantize(step, rounding=ROUND_FLOOR if direction == "below" else ROUND_CEILING)
    return rounded(float(cut), f".{digits}g")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den == 0: an undefined rate is not a zero rate."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def default_thresholds(score: np.ndarray) -> np.ndarray:
    """Every distinct score value if there are at most 101, else the 0, 1, ..., 100th percentiles.

    Distinct values make a count or a rounded rate exact; percentiles keep a continuous score's
    table readable (about 101 rows) while still spanning the whole range.
    """
    score = risk_array(score, "score")  # text or infinities: a DataError, not numpy's
    score = score[~np.isnan(score)]
    if score.size == 0:
        return np.array([], dtype=float)
    uniq = np.unique(score)
    if uniq.size <= MAX_DISTINCT_GRID:
        return uniq
    return np.unique(np.quantile(score, np.linspace(0.0, 1.0, MAX_DISTINCT_GRID)))


def confusion_at(
    score: np.ndarray, y: np.ndarray, thresholds: np.ndarray, direction: str
) -> pd.DataFrame:
    """Counts and ratios at each threshold for complete (score, 0/1 outcome) arrays.

    Vectorised with sorted arrays and ``searchsorted`` so a 100-row table over a million students
    costs two sorts. ``y`` holds 0/1 outcomes (or booleans); missing scores or outcomes are
    refused (leave those rows out first), as are thresholds that are not numbers.
    """
    check_direction(direction)
    score, y = complete_pairs(score, y, "score")
    return _confusion(score, y, _threshold_values(thresholds), direction)


def _confusion(score: np.ndarray, y: np.ndarray, t: np.ndarray, direction: str) -> pd.DataFrame:
    """:func:`confusion_at` for checked input: complete float arrays, numeric thresholds (two
    sorts: for one group quicker than :func:`_flag_counts`, benchmarks/thresholds.py)."""
    n = score.size
    all_sorted = np.sort(score)
    pos_sorted = np.sort(score[y == 1])
    n_pos = pos_sorted.size
    if direction == "below":
        flagged = np.searchsorted(all_sorted, t, side="left")
        tp = np.searchsorted(pos_sorted, t, side="left")
    else:
        flagged = n - np.searchsorted(all_sorted, t, side="right")
        tp = n_pos - np.searchsorted(pos_sorted, t, side="right")
    return pd.DataFrame(_counts_and_rates(t, np.full(t.size, n), np.full(t.size, n_pos),
                                          flagged, tp))


def _flag_counts(score: np.ndarray, t: np.ndarray, direction: str,
                 group: np.ndarray | None = None, n_groups: int = 1
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Each group's rows (``group``: each row's number from 0; None: one group), and how many
    of them each threshold flags (groups x thresholds, in the order of ``t``).

    Counted without sorting the rows: each score's place among the sorted thresholds (how many
    it passes) is looked up, the rows are counted by (group, place), and a threshold flags the
    running total of the places on its side. Why: a protected table of real data is built by
    group a dozen times on the same 2M pupils, and each sorted (group, score) keys again;
    counts are whole numbers, so the table is the same."""
    order = np.argsort(t, kind="stable")
    ts = t[order]
    k = ts.size
    # below flags score < t: the thresholds at or below a score do not flag it, the rest do;
    # above flags score > t: the thresholds below a score flag it
    place = np.searchsorted(ts, score, side="right" if direction == "below" else "left")
    cell = place if group is None else group * (k + 1) + place
    counts = np.bincount(cell, minlength=n_groups * (k + 1)).reshape(n_groups, k + 1)
    sizes = counts.sum(axis=1)
    running = np.cumsum(counts, axis=1)[:, :k]  # rows placed at or before each threshold
    flagged = running if direction == "below" else sizes[:, None] - running
    out = np.empty_like(flagged)
    out[:, order] = flagged
    return sizes, out


def _counts_and_rates(t: np.ndarray, n: np.ndarray, n_pos: np.ndarray, flagged: np.ndarray,
                      tp: np.ndarray) -> dict[str, np.ndarray]:
    """The columns of :data:`TABLE_COLUMNS`, one row per element of the (equal-length)
    arrays: the threshold, the rows and those with the outcome, and those it flags."""
    fp = flagged - tp
    fn = n_pos - tp
    tn = (n - n_pos) - fp
    return {
        "threshold": t,
        "n": n.astype(np.int64),
        "n_pos": n_pos.astype(np.int64),
        "flagged": flagged.astype(np.int64),
        "flag_rate": _ratio(flagged, n),
        "tp": tp.astype(np.int64),
        "fp": fp.astype(np.int64),
        "fn": fn.astype(np.int64),
        "tn": tn.astype(np.int64),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "precision": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def _confusion_by_group(col: str, group: np.ndarray, groups: list[str], score: np.ndarray,
                        y: np.ndarray, used: np.ndarray, t: np.ndarray, direction: str
                        ) -> pd.DataFrame:
    """:func:`_confusion` of each group's used rows, group after group (``groups``' order),
    with ``by``, ``group`` and ``n_missing`` in front: the same table as one call a group, made
    at once.

    Why: a call a group compared every row's label with each group's (a trust's 2,000 schools
    at 400k pupils: 800 million comparisons) and built a frame a group, 8 s in all. Here every
    group's rows are counted at once (:func:`_flag_counts`). ``group`` is each row's place in
    ``groups`` (:func:`~srmsim.risk._columns.group_numbers`)."""
    n_groups = len(groups)
    n_missing = np.bincount(group[~used], minlength=n_groups)
    g_used, s_used = group[used], score[used]
    positive = y[used] == 1
    n, flagged = _flag_counts(s_used, t, direction, g_used, n_groups)
    n_pos, tp = _flag_counts(s_used[positive], t, direction, g_used[positive], n_groups)
    each = t.size

    def per_row(a: np.ndarray) -> np.ndarray:  # a group's value on each of its rows
        return np.repeat(a, each)

    return pd.DataFrame({
        "by": col,
        "group": per_row(np.array(groups, dtype=object)),
        "n_missing": per_row(n_missing).astype(np.int64),
        **_counts_and_rates(np.tile(t, n_groups), per_row(n), per_row(n_pos), flagged.ravel(),
                            tp.ravel()),
    })


def _threshold_values(thresholds: object) -> np.ndarray:
    """Thresholds as floats, in the order given: numbers (+-inf allowed, flagging everyone or
    nobody); NaN, text and booleans refused."""
    if isinstance(thresholds, str | bytes):
        raise DataError(f"thresholds must be numbers, found {thresholds!r}")
    try:
        values = np.asarray(thresholds, dtype=object).ravel()
    except (TypeError, ValueError) as err:  # a ragged list
        raise DataError(f"thresholds must be a list of numbers ({err})") from None
    if values.size == 0:
        raise DataError("thresholds is empty; give at least one, or None for the default grid")
    t = np.empty(values.size)
    for i, v in enumerate(values):
        if isinstance(v, float | np.floating) and np.isinf(v):
            t[i] = float(v)  # +-inf: flag everyone or nobody
            continue
        try:
            t[i] = finite_number(v, "thresholds")
        except DataError:
            raise DataError(f"thresholds must be numbers (inf allowed), found {v!r}") from None
    return t


def _by_columns(by: object) -> list[Any]:
    """The ``by`` argument as a list of column names: one name or a list of names. A missing
    name (None) is refused: it named no column, and was skipped by the column check only to
    fail in pandas; a falsy single name (column ``0``) is not "no grouping"."""
    if by is None:
        return []
    if isinstance(by, str) or not isinstance(by, Sequence | np.ndarray | pd.Index):
        cols = [by]
    else:
        cols = list(by)
    for col in cols:
        if col is None:
            raise DataError(f"by must name columns, got {by!r}")
    return cols


def _thresholds_arg(thresholds: Sequence[float] | np.ndarray | None, score: np.ndarray) -> np.ndarray:
    if thresholds is None:
        return default_thresholds(score)
    return np.unique(_threshold_values(thresholds))


def threshold_table(
    df: pd.DataFrame,
    score: str,
    outcome: str,
    direction: str = "below",
    thresholds: Sequence[float] | np.ndarray | None = None,
    by: str | Sequence[str] | None = None,
    reference: Mapping[str, str] | None = None,
    protect: int | None = None,
) -> pd.DataFrame:
    """One row per threshold (and per group with ``by``): flags, confusion counts and rates.

    ``protect=10`` (a whole number from 1) is for real pupils' data: only thresholds of
    :func:`srmsim.risk.protected.choose_grid` are kept (every band of scores holds at least 10
    with and 10 without the outcome, overall, and in every group of a column on that column's
    own grid), ``by`` columns with a too-small group, or whose groups no threshold of the grid
    splits so, are left out (named in ``attrs["withheld_by"]``) and ``n_missing`` is dropped.
    Given ``thresholds`` are kept only where one flags the same pupils as a threshold of the
    grid. Rows
    left out for a missing score or outcome numbering 1 to ``protect - 1`` (overall, with or
    without the outcome, or in a group shown) are refused: see :func:`left_out_problem`.

    Without ``by``: columns ``threshold, n, n_pos, flagged, flag_rate, tp, fp, fn, tn,
    sensitivity, specificity, precision, npv, f1``.

    With ``by`` (one column name or several, each analysed on its own, not crossed): a long table
    with ``by`` (the grouping column) and ``group`` (its value as text; missing values form a
    ``"(missing)"`` group, and a real value reading ``"(missing)"`` is refused), ``n_missing`` (rows of the group left out for a missing score or
    outcome), the columns above computed within the group, and the fairness columns
    ``flag_rate_diff`` / ``sensitivity_diff`` (group minus reference: the whole population, or
    ``reference[by]`` if given) and ``flag_rate_gap`` / ``sensitivity_gap`` (max minus min
    across groups at that threshold, NaN groups ignored). :func:`group_gaps` condenses them.
    Group labels are text (``True``/``False`` become ``"True"``/``"False"``), so a reference is
    given as text too: ``reference={"fsm": "False"}``.

    >>> df = pd.DataFrame({"att": [0.8, 0.95, 0.7], "left": [True, False, False]})
    >>> threshold_table(df, "att", "left", thresholds=[0.9])[["flagged", "tp", "fp"]].iloc[0].tolist()
    [2, 1, 1]
    """
    check_direction(direction)
    if reference is not None and not isinstance(reference, Mapping):
        raise DataError(f"reference must map a by column to its reference group, e.g. "
                        f"{{'fsm': 'False'}}, got {reference!r}")
    if protect is not None:
        from srmsim.risk.protected import by_group_table, choose_grid

        protect = whole_number(protect, "protect", 1, MAX_COUNT)
        choice = choose_grid(df, score, outcome, direction, thresholds, by, min_count=protect)
        withheld = choice.too_small + choice.conflicting
        keep = [c for c in _by_columns(by) if c not in withheld]
        problem = left_out_problem(df, score, outcome, keep, protect)
        if problem:
            raise DataError(problem)
        if keep:  # each column on its own grid
            table = by_group_table(df, score, outcome, direction, choice, reference)
        else:
            table = threshold_table(df, score, outcome, direction, choice.grid, None, reference)
        if "n_missing" in table.columns:
            table = table.drop(columns="n_missing")
        table.attrs["withheld_by"] = [c for c in _by_columns(by) if c in withheld]
        table.attrs["protect"] = protect
        return table
    s = score_values(df, score)
    y = outcome_values(df, outcome)
    by_cols = _by_columns(by)
    require_columns(df, by_cols, "by")
    miss_s = np.isnan(s)
    miss_y = np.isnan(y)
    require_rows_used(score, outcome, miss_s, miss_y)
    used = ~miss_s & ~miss_y
    t = _thresholds_arg(thresholds, s[used])
    overall = _confusion(s[used], y[used], t, direction)
    if not by_cols:
        table = overall
    else:
        parts = []
        for col in by_cols:
            group, groups_found = group_numbers(df, col)  # 'a', not np.str_('a'); 2 before 10
            ref_label = None if reference is None else reference.get(col)
            if ref_label is not None and not isinstance(ref_label, str):
                # a list was looked up in a set (TypeError: unhashable); a number never matched
                raise DataError(f"reference group for column '{col}' must be one group label as "
                                f"text, got {ref_label!r}; groups: {groups_found}")
            if ref_label is not None and ref_label not in groups_found:
                raise DataError(
                    f"reference group {ref_label!r} for column '{col}' not found; groups: "
                    f"{groups_found}"
                )
            long = _confusion_by_group(col, group, groups_found, s, y, used, t, direction)
            if ref_label is None:
                ref = overall.set_index("threshold")
            else:
                ref = long[long["group"] == ref_label].set_index("threshold")
            for metric in ("flag_rate", "sensitivity"):
                long[f"{metric}_diff"] = long[metric].to_numpy() - ref[metric].reindex(
                    long["threshold"]
                ).to_numpy()
                agg = long.groupby("threshold")[metric].agg(["max", "min", "count"])
                gap = (agg["max"] - agg["min"]).where(agg["count"] >= 2)
                long[f"{metric}_gap"] = gap.reindex(long["threshold"]).to_numpy()
            parts.append(long)
        table = pd.concat(parts, ignore_index=True)
    table.attrs.update(
        {
            "score": score,
            "outcome": outcome,
            "direction": direction,
            "by": by_cols,
            "n_used": int(used.sum()),
            "n_missing_score": int(miss_s.sum()),
            "n_missing_outcome": int(miss_y.sum()),
            "n_missing_both": int((miss_s & miss_y).sum()),
        }
    )
    return table


def left_out_problem(df: pd.DataFrame, score: str, outcome: str,
                     by: str | Sequence[str] | None = None,
                     min_count: int = DEFAULT_THRESHOLD,
                     cluster: str | None = None) -> str | None:
    """Real data: why the rows left out of a table (missing the score, the outcome or both)
    cannot be published around, or None.

    A table's ``n`` is the rows used; the rows of the file (or of a group, or with the outcome)
    are printed by other commands on the same records (``srmsim data summary`` prints the
    students, and the FSM, SEN and EAL pupils, of every group), so ``total - n`` gives the rows
    left out. That count must be 0 or at least ``min_count`` overall, among the rows left out
    with the outcome (``outcome == 1``: a total of the outcome minus ``n_pos``) and without it
    (0 or missing), and the same in every group of every ``by`` column. Says which, never how
    many.

    ``cluster``: the column a bootstrap resamples, whose printed count of clusters is of those
    with a row used. It says how many clusters have every row left out, and a school's pupils
    are printed too: 15 left out, 12 of them a school that sent no score, left 3 (``bootstrap
    over 6 school clusters`` of 7). So the rows left out in such clusters and in the others
    are two groups, each 0 or at least ``min_count`` in every part.
    """
    s = score_values(df, score)
    y = outcome_values(df, outcome)
    left = np.isnan(s) | np.isnan(y)
    if not left.any():
        return None
    positive = left & (y == 1)  # NaN == 1 is False: a missing outcome is not the outcome
    parts = (left, positive, left & ~positive)
    few = f"fewer than {min_count}"

    def first_small(group: np.ndarray, n_groups: int) -> tuple[int, int] | None:
        """The first group (in order) with a part of 1 to ``min_count - 1`` rows, and the
        first such part; counted for every group at once."""
        counts = np.stack([np.bincount(group[p], minlength=n_groups) for p in parts], axis=1)
        small = (counts > 0) & (counts < min_count)
        found = np.flatnonzero(small.any(axis=1))
        return None if not found.size else (int(found[0]), int(np.flatnonzero(small[found[0]])[0]))

    units: list[tuple[str | None, np.ndarray, list[str]]] = [
        ("", np.zeros(len(df), dtype=np.int64), [""])]
    for col in _by_columns(by):
        units.append((col, *group_numbers(df, col)))
    if cluster is not None:
        codes, _ = group_numbers(df, cluster)
        empty = np.bincount(codes[~left], minlength=int(codes.max()) + 1) == 0
        if empty[codes].any():  # some cluster with no row used: its rows, and the others'
            units.append((None, (~empty[codes]).astype(np.int64), ["", ""]))
    for col, group, groups in units:
        hit = first_small(group, len(groups))
        if hit is None:
            continue
        where = f" in group {excerpt(str(groups[hit[0]]), 40)} of '{col}'" if col else ""
        why = ""
        if col is None:
            where = f" of the '{cluster}' clusters with {('no', 'a')[hit[0]]} row used"
            why = (f"\nthe bootstrap's line counts the '{cluster}' clusters with a row used, "
                   "so the rows of those with none are known (their pupils' total)")
        what = (f"{few} rows{where} are missing '{score}' or '{outcome}'",
                f"{few} rows{where} missing '{score}' have '{outcome}'",
                f"{few} rows{where} missing '{score}' or '{outcome}' do not have "
                f"'{outcome}'")[hit[1]]
        return (f"{what}: they are left out, and {few} such rows cannot be reported "
                f"without revealing their count (a total of the records minus the rows "
                f"used){why}\n"
                f"drop those rows, or fill in their '{score}' and '{outcome}', first; "
                "nothing is published")
    return None


def group_gaps(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (by, threshold): the flag-rate and sensitivity gaps and which groups span them.

    A threshold with a large ``flag_rate_gap`` flags one group far more often; a large
    ``sensitivity_gap`` means it misses more of one group's at-risk students.
    """
    require_columns(table, ["by", "group", "threshold", "flag_rate", "sensitivity"], "by-table")
    rows = []
    for (col, thr), sub in table.groupby(["by", "threshold"], sort=True):
        row: dict[str, object] = {"by": col, "threshold": thr}
        for metric in ("flag_rate", "sensitivity"):
            vals = sub[metric].to_numpy(dtype=float)
            ok = ~np.isnan(vals)
            if ok.sum() >= 2:
                hi = int(np.nanargmax(vals))
                lo = int(np.nanargmin(vals))
                row[f"{metric}_gap"] = vals[hi] - vals[lo]
                row[f"{metric}_max_group"] = sub["group"].iloc[hi]
                row[f"{metric}_min_group"] = sub["group"].iloc[lo]
            else:
                row[f"{metric}_gap"] = np.nan
                row[f"{metric}_max_group"] = None
                row[f"{metric}_min_group"] = None
        rows.append(row)
    return pd.DataFrame(rows)


def best_row(table: pd.DataFrame, metric: str = "f1") -> pd.Series:
    """The row with the highest ``metric`` (first on ties); a KeyError-free helper for reports."""
    require_columns(table, [metric], "metric")
    if not pd.api.types.is_numeric_dtype(table[metric].dtype):
        raise DataError(f"column '{metric}' (metric) holds {table[metric].dtype} values, not "
                        "rates; pass the table threshold_table returned")
    vals = table[metric].to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(vals).all():
        raise DataError(f"'{metric}' is undefined (NaN) at every threshold")
    return table.iloc[int(np.nanargmax(vals))]


#: each column of :func:`threshold_table` and :func:`group_gaps` in words, with how its values
#: read: ``count`` whole, ``share`` a percentage, ``gap`` percentage points, ``score`` 3
#: decimals (F1), ``label`` as text, ``threshold`` by :func:`threshold_text`
READABLE_COLUMNS: dict[str, tuple[str, str]] = {
    "by": ("by", "label"), "group": ("group", "label"), "threshold": ("threshold", "threshold"),
    "n": ("students", "count"), "n_missing": ("left out (missing)", "count"),
    "n_pos": ("with the outcome", "count"), "flagged": ("flagged", "count"),
    "flag_rate": ("share flagged", "share"), "tp": ("correctly flagged", "count"),
    "fp": ("flagged without the outcome", "count"), "fn": ("missed", "count"),
    "tn": ("correctly not flagged", "count"),
    "sensitivity": ("recall", "share"), "specificity": ("specificity", "share"),
    "precision": ("precision", "share"), "npv": ("negative predictive value", "share"),
    "f1": ("F1", "score"),
    "flag_rate_diff": ("share flagged minus everyone's", "gap"),
    "sensitivity_diff": ("recall minus everyone's", "gap"),
    "flag_rate_gap": ("share flagged: highest group minus lowest", "gap"),
    "sensitivity_gap": ("recall: highest group minus lowest", "gap"),
    "flag_rate_max_group": ("flagged most", "label"),
    "flag_rate_min_group": ("flagged least", "label"),
    "sensitivity_max_group": ("highest recall", "label"),
    "sensitivity_min_group": ("lowest recall", "label"),
}


def _readable(value: object, kind: str, score: np.ndarray | None, direction: str) -> str:
    if kind == "label":
        return "" if value is None or value is pd.NA else yes_no(value)
    v = float(value)  # type: ignore[arg-type]
    if not np.isfinite(v):
        return "n/a"
    if kind == "count":
        return f"{v:,.0f}"
    if kind == "share":
        return percent(v)
    if kind == "gap":
        return points(v)
    if kind == "threshold":
        return threshold_text(v, score, direction)
    return rounded(v, ".3f")


def readable_threshold_table(table: pd.DataFrame, score: np.ndarray | None = None,
                             direction: str = "below") -> pd.DataFrame:
    """A threshold table (:func:`threshold_table`, by group or not, or :func:`group_gaps`) as
    a teacher reads it: headings in words, counts whole, shares as percentages, gaps in
    percentage points (:data:`READABLE_COLUMNS`; other columns are kept as they are), each
    threshold by :func:`threshold_text` (given the ``score`` values, shortened where that flags
    the same students). Why: notebook 05 showed ``flag_rate``, ``tp``, ``fp`` and
    ``sensitivity`` as 0.123 fractions."""
    out = pd.DataFrame(index=table.index)
    for column in table.columns:
        heading, kind = READABLE_COLUMNS.get(column, (column, ""))
        out[heading] = ([_readable(v, kind, score, direction) for v in table[column]] if kind
                        else table[column])
    return out
