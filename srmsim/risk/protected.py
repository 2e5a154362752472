"""Threshold tables from real pupils that no one can difference down to a small count.

A threshold table is a running total: ``tp`` at one threshold minus ``tp`` at the next is the
number of students with the outcome whose score lies between the two, and ``n_pos - tp`` is
``fn``. If two thresholds are one pupil apart, that pupil's outcome is printed. Hiding single
cells does not help, because every count is tied to others by these identities. So for real data
the *grid* is protected instead: thresholds are kept only where every band of scores they cut
-- below the first, between neighbours, above the last -- holds at least ``min_count`` students
with the outcome and ``min_count`` without, overall and within every group of every ``--by``
column. Then every count in the tables (``flagged``, ``tp``, ``fp``, ``fn``, ``tn``, ``n``,
``n_pos``, and every difference between printed counts, down to the band-by-outcome cells they
are built from) is at least ``min_count``, so nothing needs suppressing and nothing small can be
recovered; rates computed from them reveal nothing more.

A ``by`` column with a group too small for any band (fewer than ``2 * min_count`` students with,
or without, the outcome) is withheld whole: dropping only that group would leave it as the total
minus the others. Columns that each fit alone but together leave no threshold are withheld
too, the fewest that leave one (:func:`choose_grid`).

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> df = pd.DataFrame({"att": rng.uniform(0.6, 1, 400), "left": rng.uniform(size=400) < .3})
>>> grid, withheld = protected_grid(df, "att", "left", min_count=10)
>>> t = threshold_table(df, "att", "left", thresholds=grid)
>>> int(t[["tp", "fp", "fn", "tn"]].min().min()) >= 10
True
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import NamedTuple

import numpy as np
import pandas as pd

from srmsim.errors import DataError
from srmsim.privacy import DEFAULT_THRESHOLD
from srmsim.risk._columns import require_columns
from srmsim.risk.thresholds import _by_columns, threshold_table
from srmsim.stats._checks import MAX_COUNT, whole_number


def _units(table: pd.DataFrame) -> list[pd.DataFrame]:
    """The separate count series in a threshold table: overall, or one per (by, group)."""
    if "by" not in table.columns:
        return [table]
    return [g for _, g in table.groupby(["by", "group"], sort=True)]


def _keep(units: list[pd.DataFrame], thresholds: np.ndarray, direction: str,
          min_count: int) -> np.ndarray:
    """Greedy: walk thresholds in the order flags grow; keep one when every unit gains at least
    ``min_count`` positives and negatives since the last kept; then drop kept thresholds from
    the end until every unit has ``min_count`` of each beyond the last."""
    order = np.sort(thresholds) if direction == "below" else np.sort(thresholds)[::-1]
    series = []
    for u in units:
        s = u.set_index("threshold").reindex(order)
        n_pos = int(u["n_pos"].iloc[0])
        n_neg = int(u["n"].iloc[0]) - n_pos
        series.append((s["tp"].to_numpy(float), s["fp"].to_numpy(float), n_pos, n_neg))
    kept: list[int] = []
    last = [(0.0, 0.0) for _ in series]
    for i in range(len(order)):
        if all(tp[i] - lt >= min_count and fp[i] - lf >= min_count
               for (tp, fp, _, _), (lt, lf) in zip(series, last, strict=True)):
            kept.append(i)
            last = [(tp[i], fp[i]) for tp, fp, _, _ in series]
    while kept and not all(n_pos - tp[kept[-1]] >= min_count and n_neg - fp[kept[-1]] >= min_count
                           for tp, fp, n_pos, n_neg in series):
        kept.pop()
    return np.sort(order[kept])


#: most --by columns searched for the fewest to withhold when together they leave no threshold
#: (every subset is tried: 2**12 grids at most)
MAX_SEARCHED_COLUMNS = 12


class GridChoice(NamedTuple):
    """A protected grid and why ``by`` columns were withheld (each list in the order given)."""

    grid: np.ndarray
    #: a group with fewer than ``2 * min_count`` students with, or without, the outcome
    too_small: list
    #: each fine alone, but with the columns shown no threshold is safe for every group
    conflicting: list


def protected_grid(df: pd.DataFrame, score: str, outcome: str, direction: str = "below",
                   thresholds: Sequence[float] | np.ndarray | None = None,
                   by: str | Sequence[str] | None = None,
                   min_count: int = DEFAULT_THRESHOLD) -> tuple[np.ndarray, list[str]]:
    """The thresholds (a subset of ``thresholds`` or the default grid) safe to publish, and the
    ``by`` columns that must be withheld (see :func:`choose_grid` for why each is).

    Use the same grid for every table one report prints (overall and by group): two tables on
    different grids can be differenced against each other.
    """
    choice = choose_grid(df, score, outcome, direction, thresholds, by, min_count)
    withheld = choice.too_small + choice.conflicting
    return choice.grid, [c for c in _by_columns(by) if c in withheld]


def choose_grid(df: pd.DataFrame, score: str, outcome: str, direction: str = "below",
                thresholds: Sequence[float] | np.ndarray | None = None,
                by: str | Sequence[str] | None = None,
                min_count: int = DEFAULT_THRESHOLD) -> GridChoice:
    """:func:`protected_grid` with the reasons: a ``by`` column with a group too small for any
    band is withheld whole (dropping only that group would leave it as the total minus the
    others). Columns that each leave a grid alone can still leave none together (FSM pupils'
    scores all low, SEN pupils' all high: no one threshold cuts both groups in two); then the
    fewest columns are withheld that leave a grid (among equals, the choice publishing the most
    thresholds, then the first by column name), so the result does not depend on the order
    the columns are given in. The overall table is never given up for a column: with no
    threshold safe overall the grid is empty.

    Grids are nested from ``min_count`` 10 up, so that runs of the same records that differ
    only in ``by`` or ``min_count`` cut no overall band under 10 together: a grid with ``by``
    columns is chosen among the thresholds of the overall grid at 10, and one above 10 among
    those of the grid at 10 with the same ``by`` (whose groups' bands it then keeps whole too).
    Tables by group of runs with other ``by`` columns are not nested (docs/privacy.md)."""
    if isinstance(min_count, int | np.integer) and not isinstance(min_count, bool) \
            and min_count < 1:
        raise DataError(f"the suppression threshold must be at least 1 (got {min_count})")
    min_count = whole_number(min_count, "min_count", 1, MAX_COUNT)
    by_cols = _by_columns(by)
    overall = threshold_table(df, score, outcome, direction, thresholds)
    candidates = overall["threshold"].to_numpy(float)
    units = _units(overall)
    if min_count > DEFAULT_THRESHOLD:
        # a stricter grid is chosen among the thresholds of the grid at the least threshold,
        # so that the two runs' grids together cut no band under it: on the sample, 96.8 at
        # 10 and 97.396 at 11 held 4 SEN and 6 other pupils between them
        base = choose_grid(df, score, outcome, direction, thresholds, by, DEFAULT_THRESHOLD)
        candidates = base.grid
    elif by_cols and min_count == DEFAULT_THRESHOLD:
        # a grid by groups is chosen among the thresholds of the overall one, so that runs
        # with other --by columns (or none) publish overall tables on nested grids: on the
        # sample, 88.308 without --by and 90.46 with --by sex held 2 SEN pupils between them
        candidates = choose_grid(df, score, outcome, direction, thresholds, None,
                                 DEFAULT_THRESHOLD).grid
    too_small: list = []
    fits: dict = {}  # column -> its groups' count series, for the columns whose groups all fit
    if by_cols:
        long = threshold_table(df, score, outcome, direction, thresholds, by=by_cols)
        for col in by_cols:
            groups = _units(long[long["by"] == col])
            if all(min(int(g["n_pos"].iloc[0]), int(g["n"].iloc[0] - g["n_pos"].iloc[0]))
                   >= 2 * min_count for g in groups):
                fits[col] = groups
            else:
                too_small.append(col)

    def grid_with(cols: Sequence) -> np.ndarray:
        return _keep(units + [g for c in cols for g in fits[c]], candidates, direction,
                     min_count)

    grid = grid_with(list(fits))
    if grid.size or not fits or not grid_with([]).size:
        return GridChoice(grid, too_small, [])
    if len(fits) > MAX_SEARCHED_COLUMNS:
        raise DataError(f"the {len(fits)} --by columns together leave no threshold safe to "
                        "publish from real data, and srmsim searches at most "
                        f"{MAX_SEARCHED_COLUMNS} for which to withhold; give fewer --by columns")
    names = sorted(fits, key=repr)  # a canonical order: the given order changes nothing
    best: tuple | None = None
    for size in range(len(names) - 1, -1, -1):
        for cols in combinations(names, size):
            found = grid_with(cols)
            if found.size and (best is None or found.size > best[1].size):
                best = (cols, found)  # on a tie the first in name order stays
        if best is not None:
            break
    assert best is not None  # size 0 is the overall grid, non-empty above
    conflicting = [c for c in by_cols if c in fits and c not in best[0]]
    return GridChoice(best[1], too_small, conflicting)


def band_counts(table: pd.DataFrame, direction: str = "below") -> pd.DataFrame:
    """The cells a threshold table is the running total of: students with and without the
    outcome in each band of scores (one row per band; ``by``/``group`` kept). What an attacker
    differencing the table would obtain; a protected grid makes every one ``>= min_count``."""
    require_columns(table, ["threshold", "n", "n_pos", "tp", "fp"], "threshold table")
    if table.empty:  # its totals are read from the first row (an IndexError)
        raise DataError("threshold table has no rows: no bands to count")
    rows = []
    for u in _units(table):
        u = u.sort_values("threshold", ascending=direction == "below")
        tp = np.r_[0, u["tp"].to_numpy(), u["n_pos"].iloc[0]]
        fp = np.r_[0, u["fp"].to_numpy(), u["n"].iloc[0] - u["n_pos"].iloc[0]]
        label = {k: u[k].iloc[0] for k in ("by", "group") if k in u.columns}
        for k in range(len(tp) - 1):
            rows.append({**label, "band": k, "positives": int(tp[k + 1] - tp[k]),
                         "negatives": int(fp[k + 1] - fp[k])})
    return pd.DataFrame(rows)


def published_numbers(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A protected table with ``columns`` read back as numbers, exactly as printed: a
    suppressed cell (``c``, ``low``, ``x``) becomes NaN. What a figure from real data may
    draw is what this gives, so a figure never shows more than the published table."""
    columns = [columns] if isinstance(columns, str) else list(columns)
    require_columns(table, columns, "published table")
    out = table.copy()
    for c in columns:
        out[c] = pd.to_numeric(table[c].astype("object"), errors="coerce").astype("float64")
    return out


def published_curves(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ROC points (``threshold, fpr, tpr``) and precision-recall points (``threshold, recall,
    precision``) of a protected threshold table: one per published row whose rates are shown,
    nothing between or beyond them (a curve through every distinct score would give each
    pupil's step). ``fpr`` is ``1 - specificity`` as printed."""
    require_columns(table, ["threshold"], "published table")
    t = published_numbers(table, ["sensitivity", "specificity", "precision"])
    roc = t.dropna(subset=["sensitivity", "specificity"])
    roc = pd.DataFrame({"threshold": roc["threshold"].to_numpy(float),
                        "fpr": 1.0 - roc["specificity"].to_numpy(float),
                        "tpr": roc["sensitivity"].to_numpy(float)})
    pr = t.dropna(subset=["sensitivity", "precision"])
    pr = pd.DataFrame({"threshold": pr["threshold"].to_numpy(float),
                       "recall": pr["sensitivity"].to_numpy(float),
                       "precision": pr["precision"].to_numpy(float)})
    return (roc.sort_values(["fpr", "tpr"], kind="stable").reset_index(drop=True),
            pr.sort_values(["recall"], kind="stable").reset_index(drop=True))


__all__ = ["GridChoice", "band_counts", "choose_grid", "protected_grid", "published_curves", "published_numbers"]
