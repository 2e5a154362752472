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

Runs of the same rows side by side are covered too: every threshold is a cut of one family
drawn from the score alone (:func:`base_cuts`, between two scores, so ``--direction below``
and ``above`` flag exact complements), the outcome's grid is chosen among them from both
ends of the pupils' order towards its middle whatever the direction (so a score read the other
way round, absence for attendance, gets the same cuts), and each ``by`` column's groups are
on the column's own grid, chosen among the outcome's (so it does not depend on the other
columns given). Given thresholds are published only where they flag the pupils a cut does
(:func:`choose_grid`).

Beside `data summary` and `calibrate` of the same pupils, which count them at the DfE cut-offs
(attendance at most 90% or 50%), no cut is published a few pupils from such a count
(:func:`fence_plan`, :func:`clear_of_fences`).

A ``by`` column with a group too small for any band (fewer than ``2 * min_count`` students with,
or without, the outcome) is withheld whole: dropping only that group would leave it as the total
minus the others; so is one whose groups no threshold of the outcome's grid splits into bands
of ``min_count``.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> df = pd.DataFrame({"att": rng.uniform(0.6, 1, 400), "left": rng.uniform(size=400) < .3})
>>> grid, withheld = protected_grid(df, "att", "left", min_count=10)
>>> t = threshold_table(df, "att", "left", thresholds=grid)
>>> int(t[["tp", "fp", "fn", "tn"]].min().min()) >= 10
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from srmsim.errors import DataError
from srmsim.privacy import DEFAULT_THRESHOLD
from srmsim.risk._columns import group_numbers, outcome_values, require_columns, score_values
from srmsim.risk.thresholds import _by_columns, _threshold_values, threshold_table
from srmsim.stats._checks import MAX_COUNT, whole_number


def _units(table: pd.DataFrame) -> list[pd.DataFrame]:
    """The separate count series in a threshold table: overall, or one per (by, group)."""
    if "by" not in table.columns:
        return [table]
    return [g for _, g in table.groupby(["by", "group"], sort=True)]


def _keep(units: list[pd.DataFrame], thresholds: np.ndarray, min_count: int) -> np.ndarray:
    """The thresholds kept so that every band holds ``min_count`` positives and negatives in
    every unit: greedy from the lowest threshold up to the middle of the pupils and from the
    highest down to it (:func:`_meet`), keeping one when every unit has gained at least
    ``min_count`` of each since the last kept."""
    order = np.sort(thresholds)
    cums, totals = [], []
    for u in units:
        s = u.set_index("threshold").reindex(order)
        n_pos = float(u["n_pos"].iloc[0])
        cums += [s["tp"].to_numpy(float), s["fp"].to_numpy(float)]
        totals += [n_pos, float(u["n"].iloc[0]) - n_pos]
    if not cums or not order.size:
        return order[:0]
    return order[_from_both_ends(np.array(cums), np.array(totals), min_count)]


def _from_both_ends(cum: np.ndarray, total: np.ndarray, least: float) -> np.ndarray:
    """Indices of the candidate cuts (columns of ``cum``: running totals below each, one row
    per count, of ``total`` each) that keep every band at least ``least`` in every row:
    greedy from the lowest cut up to the middle of the pupils and from the highest down to
    it, the middle settled by :func:`_meet`. The outcome's and each column's grids
    (positives and negatives per group) and the base cuts (pupils) are all chosen so."""
    flagged, rows = cum.sum(axis=0), float(total.sum())
    lower = _kept_from_lowest(cum[:, 2 * flagged <= rows], least)
    top = (total[:, None] - cum)[:, ::-1]  # the same counts read from the highest cut
    upper = cum.shape[1] - 1 - _kept_from_lowest(top[:, 2 * flagged[::-1] >= rows],
                                                 least)[::-1]

    def misfit(lo: np.ndarray, hi: np.ndarray) -> str | None:
        below = cum[:, lo[-1]] if lo.size else np.zeros(len(cum))
        above = cum[:, hi[0]] if hi.size else total
        if (lo.size and hi.size and lo[-1] == hi[0]) or np.all(above - below >= least):
            return None
        return _nearer_middle(flagged[lo[-1]] if lo.size else None,
                              flagged[hi[0]] if hi.size else None, rows)

    return _meet(lower, upper, misfit)


def _kept_from_lowest(cum: np.ndarray, least: float) -> np.ndarray:
    """Indices of the columns of ``cum`` (running totals, one row per count) kept greedily
    from the first: each the first where every row has gained at least ``least`` since the
    last kept (each row's first such column found by bisection: the base cuts' candidates
    are every distinct score)."""
    kept: list[int] = []
    last = np.zeros(len(cum))
    while True:
        i = max(int(np.searchsorted(row, start + least, side="left"))
                for row, start in zip(cum, last, strict=True))
        if i >= cum.shape[1]:
            return np.array(kept, dtype=int)
        kept.append(i)
        last = cum[:, i]


def _nearer_middle(lower: float | None, upper: float | None, rows: float) -> str:
    """Which of two cuts either side of the middle of ``rows`` pupils (``flagged`` of each,
    None for no cut) is nearer to it: ``"both"`` when they are as near, so that the choice
    is the same read from either end."""
    if lower is None or upper is None:
        return "upper" if lower is None else "lower"
    gap = (rows - 2 * lower) - (2 * upper - rows)
    return "both" if gap == 0 else ("upper" if gap > 0 else "lower")


def _meet(lower: np.ndarray, upper: np.ndarray,
          misfit: Callable[[np.ndarray, np.ndarray], str | None]) -> np.ndarray:
    """The cuts chosen from the lowest score up to the middle of the pupils (``lower``) and
    from the highest down to it (``upper``, both ascending), together: while the cuts either
    side of the middle do not fit, the side ``misfit`` names is dropped (``"both"``, or one).

    Why from both ends: a grid chosen from the lowest score alone cut the pupils at different
    places when the same pupils were scored the other way round (attendance, and absence as
    1 minus it), and the two tables side by side differed by bands of 3 to 9 pupils. Chosen
    from both ends towards the middle, with the middle settled the same way from either
    end, the two scores get the same cuts (each the other's in reverse)."""
    while (lower.size or upper.size) and (side := misfit(lower, upper)) is not None:
        # the side named, or the other when the named one has no cut left
        drop_lower = lower.size > 0 and (side != "upper" or not upper.size)
        drop_upper = upper.size > 0 and (side != "lower" or not lower.size)
        lower = lower[:-1] if drop_lower else lower
        upper = upper[1:] if drop_upper else upper
    return np.union1d(lower, upper)


class Fence(NamedTuple):
    """A cut-off other commands count the same pupils at: ``value``, and whether they count the
    scores at or below it (attendance of at most 90%) or at or above it (absence of 10% or
    more, whose complement a threshold table's ``flagged`` is)."""

    value: float
    at_or_below: bool


#: the DfE cut-offs `data summary` and `calibrate` count pupils at (persistently absent:
#: attendance at most 90%; severely absent: at most 50%), read off an attendance share or an
#: absence share (at least 10%, at least 50%), for a score within [0, 1]
SHARE_FENCES = (Fence(0.9, True), Fence(0.5, True), Fence(0.1, False), Fence(0.5, False))
#: the same for a score in percent (within [0, 100], not within [0, 1])
PERCENT_FENCES = tuple(Fence(100 * f.value, f.at_or_below) for f in SHARE_FENCES)
#: the quantiles of the pupils' attendance `calibrate` prints
#: (:data:`srmsim.calibrate.disclosure.QUANTILES`)
QUANTILE_FENCES = (0.1, 0.25, 0.5)


#: how far float error may put a share (x 100 a percentage) from its true value: a score
#: within it of a fence is at the fence, one within it of [0, 1] is within [0, 1]
FLOAT_SLACK = 1e-9


class FencePlan(NamedTuple):
    """The fences of one score, and how far a pupil's true value may lie from the value
    printed (``tol``; :func:`fence_plan`)."""

    fences: tuple[Fence, ...]
    tol: float
    #: the quantiles `calibrate` prints of the same pupils' attendance (fenced by rank, from
    #: the bottom for attendance and from the top for absence); of all the pupils only, so no
    #: group's table is fenced at them
    quantiles: tuple[float, ...] = ()


def fence_plan(score: np.ndarray) -> FencePlan:
    """The fences a score's published cuts must keep clear of (:func:`clear_of_fences`).

    Why: `data summary` prints the pupils at or below 90% attendance; a threshold of 0.895 on
    the attendance rate beside it gave the 3 pupils at exactly 90% (88 - 85). Which scores are
    attendance is not known, so every score within [0, 1] gets the share fences and every
    other within [0, 100] the percent ones (a risk score loses a little resolution near them).
    A score rounded to d decimals (0.87, 0.9, 0.93) was some true rate within half a step of
    each value (``tol``); unrounded scores are exact up to float error (90% computed as
    0.9 * 100 is 90.00000000000001).

    `calibrate` prints the same pupils' attendance quantiles to full precision beside their
    number, and numpy's linear quantile of 213 distinct rates has 22 pupils at or below its
    10th percentile: a threshold of 0.79 flagging 21 beside it gave the 1 pupil between. So
    a share or a percentage is fenced at those ranks too (:data:`QUANTILE_FENCES`)."""
    s = np.asarray(score, dtype=float)
    s = s[~np.isnan(s)]
    # float error may leave a share a step outside [0, 1] (a full attendance summed over
    # terms is 1.0000000000000002, its absence -2.2e-16): still a share, still fenced
    if not s.size or s.min() < -FLOAT_SLACK * 100:
        return FencePlan((), 0.0)
    share = bool(s.min() >= -FLOAT_SLACK and s.max() <= 1 + FLOAT_SLACK)
    if not share and s.max() > 100 * (1 + FLOAT_SLACK):
        return FencePlan((), 0.0)
    fences = SHARE_FENCES if share else PERCENT_FENCES
    tol = FLOAT_SLACK * (1.0 if share else 100.0)
    # the coarsest rounding that holds every score; shares of 0 and 1 only are flags
    for decimals in range(0, 7 if share else 5):
        scaled = s * 10.0 ** decimals
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            if decimals or not share:
                tol = 0.5 * 10.0 ** -decimals
            break
    return FencePlan(fences, tol, QUANTILE_FENCES)


def clear_of_fences(score: np.ndarray, cuts: np.ndarray, plan: FencePlan,
                    min_count: int) -> np.ndarray:
    """Which ``cuts`` (between scores: ``score < cut`` flags) leave at least ``min_count`` of
    these pupils between themselves and each fence of ``plan``. Then a published ``flagged``
    (or ``n - flagged``) beside another command's count at the fence differs from it by at
    least ``min_count`` pupils. So does it from the pupils at or below each of its
    quantiles (:func:`quantile_counts`), or it is that count, known from ``n`` anyway.

    Why a score at a fence leaves the count unknown even when the others are exact: it may be
    a rate rounded to the fence from either side. 5 pupils at 280 of 310 sessions (90.3%)
    exported as 0.9 among exact rates k/190 made the pupils at or below 0.9 93, beside the
    summary's 88; an exact 171/190 is the same number. The count at the fence then lies
    between the pupils below it and those up to it (for an absence share counted at or above
    it, its complement does), and every cut keeps ``min_count`` clear of both.

    Why not even a cut flagging exactly the pupils at or below a fence: those are a count
    other commands may hide. `data summary --by school` hid school A's 40 persistently absent
    (and B's 5) beside the Total's 45; `thresholds` on school A's pupils published 0.9
    flagging the 40, and 45 - 40 gave B's 5."""
    cuts = np.asarray(cuts, dtype=float)
    ok = np.ones(cuts.size, dtype=bool)
    if not plan.fences or not cuts.size:
        return ok
    s = np.sort(np.asarray(score, dtype=float))
    s = s[~np.isnan(s)]
    flagged = np.searchsorted(s, cuts, side="left")
    for least, most in _fence_spans(s, plan):
        ok &= (flagged <= least - min_count) | (flagged >= most + min_count)
    for p in plan.quantiles if s.size else ():
        for least, most in quantile_counts(s, p):
            ok &= (flagged <= least - min_count) | (flagged >= most + min_count) \
                | ((flagged == least) & (least == most))
    return ok


def around_fences(score: np.ndarray, cuts: np.ndarray, plan: FencePlan,
                  min_count: int) -> np.ndarray:
    """``cuts`` (sorted) without those that would leave the nearest cuts either side of a
    fence fewer than ``3 * min_count`` of these pupils apart: for a fence below the middle of
    the pupils, each cut above it too near the one below it is dropped, from the lowest up;
    for one above the middle the same from the highest down (:func:`_meet`), so that a score
    read the other way round (absence for attendance) loses the same cuts.

    Why: the cuts either side keep ``min_count`` from the fence's count (:func:`clear_of_fences`),
    and that rule is public, so the count lies from the lower one's ``flagged`` plus
    ``min_count`` to the upper one's minus ``min_count``: cuts 20 apart pinned it. A count
    another command hides (a school's persistently absent beside a Total) is then known to
    within at least ``min_count``."""
    cuts = np.sort(np.asarray(cuts, dtype=float))
    if not plan.fences or cuts.size < 2:
        return cuts
    s = np.sort(np.asarray(score, dtype=float))
    s = s[~np.isnan(s)]
    rows = s.size
    spans = _fence_spans(s, plan)
    flagged = np.searchsorted(s, cuts, side="left")
    lower = np.flatnonzero(_kept_around(flagged, spans, min_count) & (2 * flagged <= rows))
    # read from the highest: each pupil's rank from the top, the spans turned round
    top = rows - flagged[::-1]
    turned = sorted((rows - most, rows - least) for least, most in spans)
    upper = cuts.size - 1 - np.flatnonzero(_kept_around(top, turned, min_count)
                                           & (2 * top <= rows))[::-1]

    def misfit(lo: np.ndarray, hi: np.ndarray) -> str | None:
        kept = flagged[np.union1d(lo, hi)]
        sides = set()  # every fence's at once: the same whichever end is read first
        for least, most in spans:
            below, above = kept[kept <= least], kept[kept >= most]
            if below.size and above.size and above[0] - below[-1] < 3 * min_count:
                middle = least + most - rows
                sides |= {"lower", "upper"} if middle == 0 else \
                    {"upper" if middle < 0 else "lower"}
        return None if not sides else ("both" if len(sides) == 2 else sides.pop())

    return cuts[_meet(lower, upper, misfit)]


def _fence_spans(s: np.ndarray, plan: FencePlan) -> list[tuple[int, int]]:
    """Each fence's pupils as (least, most): the sorted scores ``s`` certainly below it, and
    those up to it (float error and rounding, ``plan.tol``), in the pupils' order."""
    spans = {(int(np.searchsorted(s, f.value - plan.tol, side="left")),
              int(np.searchsorted(s, f.value + plan.tol, side="right"))) for f in plan.fences}
    return sorted(spans)


def _kept_around(flagged: np.ndarray, spans: list[tuple[int, int]], min_count: int
                 ) -> np.ndarray:
    """Which cuts (``flagged``, ascending) stay when, fence by fence from the lowest, each cut
    above a fence too near the last one below it (``3 * min_count``) is dropped."""
    keep = np.ones(flagged.size, dtype=bool)
    for least, most in spans:
        below = np.flatnonzero(keep & (flagged <= least))
        if not below.size:
            continue
        lower = flagged[below[-1]]
        for j in np.flatnonzero(keep & (flagged >= most)):
            if flagged[j] - lower >= 3 * min_count:
                break
            keep[j] = False
    return keep


def quantile_counts(s: np.ndarray, p: float) -> list[tuple[int, int]]:
    """How many of the sorted scores ``s`` lie below the pupils an attacker knows to be at or
    below numpy's linear ``p`` quantile of their rates (a range: least, most), when the
    scores rise with the rates (the rates, rounded, or in percent) and when they fall (an
    absence share, whose highest those pupils are).

    Why ranks, not values: the quantile of ``n`` distinct rates lies between the ``k``-th and
    the next (``k = floor(p (n - 1))``, from 0), so ``k + 1`` pupils attend at most that,
    known from ``n`` alone; rates tied there make it more, but then unknown. A score that
    rises with the rate orders the pupils the same (rounding ties some, never reorders), so
    a cut between two scores flags the lowest pupils by rate, and ``flagged - (k + 1)`` lie
    between it and the quantile. ``p (n - 1)`` a float step from a whole number is read both
    ways (numpy works it out in floats)."""
    n = s.size
    h = p * (n - 1)
    k_lo = min(max(int(np.floor(h - 1e-9)), 0), n - 1)
    k_hi = min(max(int(np.floor(h + 1e-9)), 0), n - 1)
    return [(k_lo + 1, k_hi + 1), (n - k_hi - 1, n - k_lo - 1)]


#: the base family of cuts has about this many bands at most (as the old percentile grid had
#: 101 thresholds): a band holds at least ``rows / MAX_BASE_BANDS`` pupils, and at least 10
MAX_BASE_BANDS = 100


def _between(lo: float, hi: float) -> float:
    """The number with the fewest decimals strictly between two adjacent distinct scores (their
    midpoint rounded as far as it stays between): 96.85 between 96.8 and 96.9, 0.82 between
    0.812 and 0.83. A cut there flags the same pupils whether it is read as ``score < t`` or
    ``score <= t``, so ``--direction above`` counts exactly the others."""
    mid = lo + (hi - lo) / 2
    for decimals in range(-15, 18):
        v = round(mid, decimals)
        if lo < v < hi:
            return float(v)
    return float(mid) if lo < mid < hi else float(np.nextafter(lo, hi))


def base_cuts(score: np.ndarray, least: int = DEFAULT_THRESHOLD) -> np.ndarray:
    """The canonical family every published threshold of real data is drawn from: from the
    score alone (the rows used), cuts strictly between adjacent distinct scores, chosen from
    the lowest score up to the middle of the pupils and from the highest down to it so that
    every band -- below the first cut, between neighbours, above the last -- holds at least
    ``max(least, rows / MAX_BASE_BANDS)`` pupils (``least`` 10 for the command; the library's
    protection below 10 uses its own).

    Why from the score alone: ``flagged`` (and ``n``) does not depend on the outcome, so the
    grids of two outcomes drawn from one family are at least a band of 10 pupils apart; and
    a cut between two scores splits the pupils the same way for ``--direction below`` and
    ``above``. Why from both ends: a score read the other way round (absence as 1 minus
    attendance) then gets the same cuts (:func:`_meet`). No cut lies within ``least`` pupils
    of a fence other commands count pupils at (:func:`clear_of_fences`)."""
    s = np.sort(np.asarray(score, dtype=float))
    s = s[~np.isnan(s)]
    size = max(least, -(-s.size // MAX_BASE_BANDS))
    values, counts = np.unique(s, return_counts=True)
    below = np.cumsum(counts)  # pupils at or below each distinct value
    # where a number lies strictly between a value and the next: none between 0.3 and 0.1 + 0.2
    # (adjacent floats), and a cut there was a score, read differently by the two directions
    room = np.flatnonzero(values[1:] > np.nextafter(values[:-1], np.inf))
    # the pupils at or below each candidate cut (after a value with room after it)
    chosen = _from_both_ends(below[room][None, :].astype(float), np.array([float(s.size)]),
                             size) if room.size else room
    cuts = room[chosen]
    # then those too near a fence dropped (not moved: a cut placed at the first place clear
    # of a fence, min_count beyond it, gave the fence's count away to anyone who knows
    # this rule), and the cuts either side of a fence wide apart, in every grid drawn from
    # these
    found = np.array([_between(values[i], values[i + 1]) for i in cuts], dtype=float)
    plan = fence_plan(s)
    return around_fences(s, found[clear_of_fences(s, found, plan, least)], plan, least)


class GridChoice(NamedTuple):
    """The protected grids of one outcome, and why ``by`` columns were withheld (each list in
    the order given)."""

    #: the thresholds of the overall table (the given ones that flag the same pupils as a cut
    #: of the outcome's grid, when thresholds are given)
    grid: np.ndarray
    #: a group with fewer than ``2 * min_count`` students with, or without, the outcome
    too_small: list
    #: every group big enough, but no cut of the outcome's grid leaves ``min_count`` with and
    #: without the outcome in every band of every group of the column
    conflicting: list
    #: each column shown -> the thresholds of its tables by group (its own grid)
    by_grid: dict = {}
    #: given thresholds not published: they flag other pupils than every cut of the grid
    dropped: np.ndarray = np.array([])
    #: the outcome's grid of cuts (what given thresholds are matched against)
    cuts: np.ndarray = np.array([])
    #: the score's base cuts every grid is chosen among (:func:`base_cuts`)
    base: np.ndarray = np.array([])
    #: a conflicting column whose groups split those of another column shown -> that column
    #: (its tables may use only the other's thresholds, and none of them was safe for it)
    split: dict = {}


#: most by columns :func:`protected_grid` searches for the fewest to withhold when their grids
#: share no threshold (every subset is tried: 2**12 at most)
MAX_SEARCHED_COLUMNS = 12


def protected_grid(df: pd.DataFrame, score: str, outcome: str, direction: str = "below",
                   thresholds: Sequence[float] | np.ndarray | None = None,
                   by: str | Sequence[str] | None = None,
                   min_count: int = DEFAULT_THRESHOLD) -> tuple[np.ndarray, list[str]]:
    """One grid safe for the overall table and every group table of the ``by`` columns shown,
    and the ``by`` columns withheld (see :func:`choose_grid`).

    The grid is the thresholds the outcome's grid and every shown column's own grid share (so
    it is nested in the grids of every other run, as each of those is). Columns that each have
    a grid can share none (FSM pupils' scores all low, SEN pupils' all high); then the fewest
    are withheld that leave a shared threshold (among equals, the choice keeping the most
    thresholds, then the first by column name). ``srmsim thresholds`` prints each column on its
    own grid instead (:func:`choose_grid`, :func:`by_group_table`)."""
    choice = choose_grid(df, score, outcome, direction, thresholds, by, min_count)
    withheld = choice.too_small + choice.conflicting

    def shared(cols: Sequence) -> np.ndarray:
        grid = choice.grid
        for col in cols:
            grid = grid[np.isin(grid, choice.by_grid[col])]
        return grid

    names = sorted(choice.by_grid, key=repr)  # a canonical order: the given order changes nothing
    grid = shared(names)
    if not grid.size and choice.grid.size and names:
        if len(names) > MAX_SEARCHED_COLUMNS:
            raise DataError(f"the {len(names)} by columns share no threshold safe to publish "
                            f"from real data, and at most {MAX_SEARCHED_COLUMNS} are searched "
                            "for which to withhold; give fewer by columns")
        best: tuple = ((), choice.grid)
        for size in range(len(names) - 1, 0, -1):
            for cols in combinations(names, size):
                found = shared(cols)
                if found.size and (best[0] == () or found.size > best[1].size):
                    best = (cols, found)  # on a tie the first in name order stays
            if best[0]:
                break
        grid = best[1]
        withheld = withheld + [c for c in names if c not in best[0]]
    return grid, [c for c in _by_columns(by) if c in withheld]


def _grids(df: pd.DataFrame, score: str, outcome: str, by_cols: list,
           min_count: int) -> tuple[np.ndarray, dict, list, list]:
    """The outcome's grid, each column's grid, and the columns too small or with no grid: the
    same for both directions and whatever else is asked (see :func:`choose_grid`)."""
    s = score_values(df, score)
    used = ~np.isnan(s) & ~np.isnan(outcome_values(df, outcome))
    scores = s[used]  # the rows the tables count
    if min_count > DEFAULT_THRESHOLD:
        # nested: chosen among the grids at the least threshold, so that runs at two
        # thresholds together cut no band under it (on the sample, 96.8 at 10 and 97.396 at
        # 11 held 4 SEN and 6 other pupils between them)
        base, base_cols, too_small, none = _grids(df, score, outcome, by_cols,
                                                  DEFAULT_THRESHOLD)
        candidates = base
    else:
        candidates = base_cuts(scores, min_count)
        base_cols, too_small, none = {}, [], []
    plan = fence_plan(scores)
    # clear of the fences at this threshold too (the base cuts are clear at the least)
    candidates = around_fences(scores, candidates[clear_of_fences(scores, candidates, plan,
                                                                  min_count)],
                               plan, min_count)
    if not candidates.size:
        return candidates, {}, too_small, none
    overall = threshold_table(df, score, outcome, "below", candidates)
    grid = _keep([overall], candidates, min_count)
    cols: dict = {}
    for col in by_cols:
        if col in too_small or col in none:
            continue
        groups = _units(threshold_table(df, score, outcome, "below", candidates, by=[col]))
        if not all(min(int(g["n_pos"].iloc[0]), int(g["n"].iloc[0] - g["n_pos"].iloc[0]))
                   >= 2 * min_count for g in groups):
            too_small.append(col)
            continue
        # among the outcome's grid at this threshold too: a group's thresholds are the sums
        # of its column's groups, overall (a --by sex grid at 20 of its grid at 10 alone put
        # 98.45 10 pupils with the outcome from the overall grid's 100.35)
        own = base_cols[col][np.isin(base_cols[col], grid)] if min_count > DEFAULT_THRESHOLD \
            else grid
        own = _keep(groups, own, min_count) if own.size else own
        # each group's flagged pupils beside the same group's count at a fence (`data summary
        # --by fsm` prints each group's persistently absent): the cuts too near dropped
        # after the grid is chosen, not before (the first cut clear of a count, among cuts a
        # few of the group's pupils apart, gave the count to within those few), and those
        # either side kept apart (:func:`around_fences`). Each group's scores are a slice of
        # one sort (a mask a group was rows x groups at 8,000 schools); the quantiles are of
        # all the pupils only.
        codes = pd.factorize(group_numbers(df, col)[0][used])[0]
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(codes.max(initial=-1) + 2))
        in_groups = scores[order]
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            own = own[clear_of_fences(in_groups[lo:hi], own, plan._replace(quantiles=()),
                                      min_count)]
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            own = around_fences(in_groups[lo:hi], own, plan, min_count)
        if own.size:
            cols[col] = own
        else:
            none.append(col)
    return grid, cols, too_small, none


def _within_coarser(cols: dict, df: pd.DataFrame, score: str, outcome: str
                    ) -> tuple[dict, dict]:
    """Each column's grid kept only at thresholds of every shown column whose groups its own
    split (``sex_fsm``'s F-fsm and F-non are the girls of ``sex``): its groups' rows add up to
    that column's groups' rows at its thresholds, so those must be thresholds of the coarser
    grid (``--by sex sex_fsm`` of 900 pupils put 3 boys with the outcome and 3 without between
    the boys' 91.15 and the sums' 92.05). The intersection, not a new greedy choice, so the
    grid stays among the column's own grid of a run without the coarser one. Also returns, for
    each column left with no threshold, the coarser column that took its last ones."""
    if len(cols) < 2:
        return cols, {}
    s = score_values(df, score)
    used = ~np.isnan(s) & ~np.isnan(outcome_values(df, outcome))
    codes = {c: pd.factorize(group_numbers(df, c)[0][used])[0] for c in cols}
    out, split = {}, {}
    for fine, grid in cols.items():
        for coarse in cols:
            a, b = codes[coarse], codes[fine]
            if coarse == fine or a.max(initial=0) < 1:  # one group: the overall table's
                continue
            # fine splits coarse: each of its groups lies within one group of coarse
            if len(np.unique(b * (a.max() + 1) + a)) == len(np.unique(b)):
                kept = grid[np.isin(grid, cols[coarse])]
                if grid.size and not kept.size:
                    split[fine] = coarse
                grid = kept
        out[fine] = grid
    return out, split


def _matching(df: pd.DataFrame, score: str, outcome: str, direction: str,
              given: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Which given thresholds flag exactly the pupils a cut flags (the same count: the sets are
    nested), so that printing the given value shows nothing the cut's row does not."""
    s = score_values(df, score)
    y = outcome_values(df, outcome)
    s = np.sort(s[~np.isnan(s) & ~np.isnan(y)])
    # below flags score < t; above leaves score <= t unflagged
    side: Literal["left", "right"] = "left" if direction == "below" else "right"
    return np.isin(np.searchsorted(s, given, side=side), np.searchsorted(s, cuts, side="left"))


def choose_grid(df: pd.DataFrame, score: str, outcome: str, direction: str = "below",
                thresholds: Sequence[float] | np.ndarray | None = None,
                by: str | Sequence[str] | None = None,
                min_count: int = DEFAULT_THRESHOLD) -> GridChoice:
    """:func:`protected_grid` with each column's grid and the reasons columns are withheld.

    Every table of every run on the same rows is cut from one family, so that ANY set of runs
    side by side (any ``by``, ``min_count``, thresholds, direction or outcome) cuts no band
    under 10: :func:`base_cuts` from the score alone (the outcome's grids of two outcomes are
    then a band of 10 pupils apart, and a cut between two scores is read the same way by both
    directions); the outcome's grid, chosen greedily from both ends towards the middle among
    those cuts (:func:`_meet`: a score read the other way round gets the same cuts) so
    that every band holds ``min_count`` with and without the outcome (the same for both
    directions); each ``by`` column's grid among the outcome's, with the rule within its own
    groups only, so it does not depend on the other columns given (a group's tables of ``--by
    sex`` and ``--by sex fsm`` are the same). Above 10, each is chosen among its grid at 10
    (a column's among the outcome's grid above 10 too: its groups add up to everyone).

    A column with a group too small for any band is withheld whole (dropping only that group
    would leave it as the total minus the others), and so is one whose groups no cut splits
    into bands of ``min_count``. Given ``thresholds`` are published only where one flags exactly
    the pupils a cut of the table's grid flags (its row is then the cut's); the others are
    ``dropped``. The overall table is never given up for a column: with no cut safe overall
    the grid is empty."""
    if isinstance(min_count, int | np.integer) and not isinstance(min_count, bool) \
            and min_count < 1:
        raise DataError(f"the suppression threshold must be at least 1 (got {min_count})")
    min_count = whole_number(min_count, "min_count", 1, MAX_COUNT)
    by_cols = _by_columns(by)
    # the checks of a table (columns, values, thresholds; no rows with a score and an outcome)
    threshold_table(df, score, outcome, direction, thresholds, by_cols or None)
    cuts, cols, too_small, none = _grids(df, score, outcome, by_cols, min_count)
    too_small = [c for c in by_cols if c in too_small]
    none = [c for c in by_cols if c in none]
    cols, split = _within_coarser({c: cols[c] for c in by_cols if c in cols}, df, score,
                                  outcome)
    none = [c for c in by_cols if c in none or (c in cols and not cols[c].size)]
    cols = {c: g for c, g in cols.items() if g.size}
    s = score_values(df, score)
    base = base_cuts(s[~np.isnan(s) & ~np.isnan(outcome_values(df, outcome))],
                     min(min_count, DEFAULT_THRESHOLD))
    if thresholds is None:
        return GridChoice(cuts, too_small, none, cols, np.array([]), cuts, base, split)
    given = np.unique(_threshold_values(thresholds))
    on_grid = _matching(df, score, outcome, direction, given, cuts)
    cols = {c: given[_matching(df, score, outcome, direction, given, g)] for c, g in cols.items()}
    none += [c for c in by_cols if c in cols and not cols[c].size]
    cols = {c: g for c, g in cols.items() if g.size}
    return GridChoice(given[on_grid], too_small, none, cols, given[~on_grid], cuts, base, split)


def by_group_table(df: pd.DataFrame, score: str, outcome: str, direction: str,
                   choice: GridChoice, reference: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The tables by group of the columns shown, each column on its own grid (``by_grid``), as
    :func:`srmsim.risk.threshold_table` with ``by`` gives them."""
    parts = [threshold_table(df, score, outcome, direction, grid, by=[col], reference=reference)
             for col, grid in choice.by_grid.items()]
    if not parts:
        raise DataError("no --by column can be shown: every one is withheld")
    attrs = dict(parts[0].attrs)
    table = pd.concat(parts, ignore_index=True)
    table.attrs = {**attrs, "by": list(choice.by_grid)}
    return table


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


__all__ = [
    "Fence",
    "FencePlan",
    "GridChoice",
    "around_fences",
    "band_counts",
    "base_cuts",
    "by_group_table",
    "choose_grid",
    "clear_of_fences",
    "fence_plan",
    "protected_grid",
    "published_curves",
    "published_numbers",
    "quantile_counts",
]
