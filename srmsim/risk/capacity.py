"""Thresholds set by staff capacity or by costs, the two ways a school actually picks one.

Capacity: a workflow needs ``minutes_per_case`` staff minutes and the school has
``staff_minutes_available``, so it can take ``floor(available / per_case)`` cases. The threshold
at capacity is the one that flags as many students as possible without exceeding that. With
untied scores it flags exactly the capacity; when students tie at the boundary the whole tie
group is left out (a threshold cannot flag half of a tie), so ``flagged`` may be below capacity,
and ``n_boundary_ties`` / ``spare_capacity`` say by how much. It never exceeds capacity.

Cost: with a cost for each missed student (fn) and each needless intervention (fp), the
cost-minimising threshold is searched over every distinct cut point; equal costs (equal up to
rounding: within 1e-12 of each other) go to the threshold that flags fewer students. Only the
ratio of the two costs matters: the choice is made on the costs divided by the larger one, so
multiplying both by the same factor never changes it.
A total cost (at any candidate threshold, or ``flagged * cost_per_case``) beyond the
floating-point range is refused: express costs in larger units.

Counts (``capacity_cases``, and the cases that fit in the minutes available) are whole numbers
up to ``2**53``; costs and minutes are finite numbers, text and booleans refused.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from srmsim.errors import DataError, SrmsimError
from srmsim.labels import percent
from srmsim.risk._columns import (
    check_direction,
    complete_risks,
    outcome_values,
    require_rows_used,
    risk_array,
    score_values,
)
from srmsim.risk.curves import _points, _prepare
from srmsim.stats._checks import MAX_COUNT, finite_number, whole_number


def capacity_in_cases(
    capacity_cases: int | None = None,
    staff_minutes_available: float | None = None,
    minutes_per_case: float | None = None,
) -> int:
    """Cases staff can take: given directly, or whole cases that fit in the minutes available.

    Either way a whole number from 0 to ``2**53``.
    """
    if capacity_cases is not None:
        if staff_minutes_available is not None or minutes_per_case is not None:
            raise SrmsimError(
                "give either capacity_cases or staff_minutes_available with minutes_per_case, "
                "not both"
            )
        return whole_number(capacity_cases, "capacity_cases", 0, MAX_COUNT)
    if staff_minutes_available is None or minutes_per_case is None:
        raise SrmsimError(
            "capacity needs capacity_cases, or both staff_minutes_available and minutes_per_case"
        )
    available = finite_number(staff_minutes_available, "staff_minutes_available")
    per_case = finite_number(minutes_per_case, "minutes_per_case")
    if per_case <= 0:
        raise SrmsimError(f"minutes_per_case must be positive, got {minutes_per_case}")
    if available < 0:
        raise SrmsimError(
            f"staff_minutes_available must be >= 0, got {staff_minutes_available}"
        )
    cases = available / per_case + 1e-9
    if not cases <= MAX_COUNT:  # inf when the quotient overflows
        raise SrmsimError(
            f"staff_minutes_available={staff_minutes_available!r} / minutes_per_case="
            f"{minutes_per_case!r} is more than 2**53 cases; check the units of the two"
        )
    return int(math.floor(cases))


def threshold_for_top(score: np.ndarray, k: int, direction: str) -> float:
    """The strict threshold flagging the most rows possible, at most ``k``, among ``score``.

    ``below``: the (k+1)-th smallest score t flags ``score < t``, which is at most k rows and is
    exactly k unless that score is tied with the k-th. ``k >= n`` gives ``inf`` (flag all).
    """
    check_direction(direction)
    return _top_threshold(complete_risks(score, "score"),
                          whole_number(k, "k", 0, MAX_COUNT), direction)


def _top_threshold(score: np.ndarray, k: int, direction: str) -> float:
    """:func:`threshold_for_top` for checked input: complete float scores and ``k >= 0``."""
    n = score.size
    if k >= n:
        return np.inf if direction == "below" else -np.inf
    s = np.sort(score) if direction == "below" else -np.sort(-score)
    return float(s[k])


def flag(score: np.ndarray, threshold: float, direction: str) -> np.ndarray:
    """Boolean flags with the strict semantics used everywhere in :mod:`srmsim.risk`."""
    check_direction(direction)
    real = isinstance(threshold, numbers.Real) and not isinstance(threshold, bool | np.bool_)
    if not real or math.isnan(threshold):
        raise DataError(f"threshold={threshold!r} must be a number (inf flags everyone or nobody)")
    # text or infinite scores: a DataError naming the argument; a missing score (NaN) is
    # never flagged, as threshold_at_capacity leaves such rows out
    score = risk_array(score, "score")
    return score < threshold if direction == "below" else score > threshold


@dataclass
class CapacityResult:
    """The threshold that fills capacity, and what it catches there."""

    threshold: float
    capacity_cases: int
    flagged: int
    tp: int
    fp: int
    precision: float
    recall: float
    cost: float
    staff_minutes: float | None
    spare_capacity: int
    n_boundary_ties: int
    n_used: int
    n_missing_score: int
    n_missing_outcome: int

    def as_dict(self) -> dict[str, float | int | None]:
        return dict(self.__dict__)

    def __str__(self) -> str:
        spare = f"; {self.spare_capacity:,} places unused" if self.spare_capacity else ""
        return (f"threshold {self.threshold:.8g} flags {self.flagged:,} of "
                f"{self.n_used:,} students (capacity {self.capacity_cases:,}): {self.tp:,} with "
                f"the outcome, precision {percent(self.precision)}, recall "
                f"{percent(self.recall)}{spare}")


def _used(df: pd.DataFrame, score: str, outcome: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    s = score_values(df, score)
    y = outcome_values(df, outcome)
    miss_s, miss_y = np.isnan(s), np.isnan(y)
    require_rows_used(score, outcome, miss_s, miss_y)
    used = ~miss_s & ~miss_y
    return s[used], y[used], int(miss_s.sum()), int(miss_y.sum())


def threshold_at_capacity(
    df: pd.DataFrame,
    score: str,
    outcome: str,
    direction: str = "below",
    capacity_cases: int | None = None,
    staff_minutes_available: float | None = None,
    minutes_per_case: float | None = None,
    cost_per_case: float = 0.0,
) -> CapacityResult:
    """Threshold that fills (never exceeds) capacity, with precision, recall and cost there.

    Rows missing the score or outcome are counted in the result and not flagged.
    """
    per_case_cost = finite_number(cost_per_case, "cost_per_case")
    if per_case_cost < 0:
        raise SrmsimError(f"cost_per_case must be a finite number >= 0, got {cost_per_case}")
    cap = capacity_in_cases(capacity_cases, staff_minutes_available, minutes_per_case)
    s, y, miss_s, miss_y = _used(df, score, outcome)
    t = _top_threshold(s, cap, direction)
    flags = flag(s, t, direction)
    flagged = int(flags.sum())
    tp = int((flags & (y == 1)).sum())
    n_pos = int((y == 1).sum())
    ties = int((s == t).sum()) if flagged < cap and np.isfinite(t) else 0
    cost = flagged * per_case_cost
    if not math.isfinite(cost):
        raise SrmsimError(
            f"the cost of {flagged} cases at cost_per_case={cost_per_case!r} is beyond the "
            "floating-point range; express the cost in larger units"
        )
    return CapacityResult(
        threshold=float(t),
        capacity_cases=cap,
        flagged=flagged,
        tp=tp,
        fp=flagged - tp,
        precision=tp / flagged if flagged else np.nan,
        recall=tp / n_pos if n_pos else np.nan,
        cost=cost,
        staff_minutes=None if minutes_per_case is None else flagged * float(minutes_per_case),
        spare_capacity=cap - flagged,
        n_boundary_ties=ties,
        n_used=int(s.size),
        n_missing_score=miss_s,
        n_missing_outcome=miss_y,
    )


@dataclass
class CostResult:
    """The cost-minimising threshold and the cost at every candidate threshold (``table``)."""

    threshold: float
    cost: float
    flagged: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    table: pd.DataFrame

    def __str__(self) -> str:
        """The chosen threshold, not the table of every candidate (its repr printed it all)."""
        return (f"threshold {self.threshold:.8g}: cost {self.cost:,.2f} (in the units of the "
                f"costs given), flags {self.flagged:,}: {self.tp:,} with the outcome, "
                f"{self.fp:,} without, {self.fn:,} missed; precision "
                f"{percent(self.precision)}, recall {percent(self.recall)}")


def cost_minimising_threshold(
    df: pd.DataFrame,
    score: str,
    outcome: str,
    direction: str = "below",
    cost_missed: float = 1.0,
    cost_needless: float = 1.0,
    capacity_cases: int | None = None,
) -> CostResult:
    """Threshold minimising ``fn * cost_missed + fp * cost_needless`` (optionally within capacity).

    Every distinct cut point is a candidate, from "flag nobody" to "flag everyone".
    """
    missed = finite_number(cost_missed, "cost_missed")
    needless = finite_number(cost_needless, "cost_needless")
    if missed < 0 or needless < 0:
        raise SrmsimError("cost_missed and cost_needless must be finite numbers >= 0, got "
                          f"{cost_missed!r} and {cost_needless!r}")
    cap = None if capacity_cases is None else capacity_in_cases(capacity_cases)
    s, y, _, _ = _used(df, score, outcome)
    prep = _prepare(s, y, direction)
    tp, fp = _points(prep)
    n_pos = tp[-1]
    fn = n_pos - tp
    flagged = tp + fp
    # the choice depends on the ratio of the costs only: made on costs relative to the larger
    # one (at most 1, so never overflowing), it is the same for (1, 2) as for (1e300, 2e300)
    scale = max(missed, needless)
    relative = fn * (missed / scale) + fp * (needless / scale) if scale > 0 else 0.0 * fn
    with np.errstate(over="ignore", invalid="ignore"):
        cost = fn * missed + fp * needless
    if not np.all(np.isfinite(cost)):
        worst = int(np.flatnonzero(~np.isfinite(cost))[0])
        raise SrmsimError(
            f"cost_missed={cost_missed!r} and cost_needless={cost_needless!r} give a total cost "
            f"beyond the floating-point range ({int(fn[worst])} missed and {int(fp[worst])} "
            "needless cases at one threshold); express the costs in larger units"
        )
    table = pd.DataFrame(
        {
            "threshold": prep.thresholds,
            "flagged": flagged.astype(np.int64),
            "tp": tp.astype(np.int64),
            "fp": fp.astype(np.int64),
            "fn": fn.astype(np.int64),
            "cost": cost,
        }
    )
    allowed = np.ones(cost.size, dtype=bool)
    if cap is not None:
        allowed = flagged <= cap
    if not allowed.any():
        raise DataError("no threshold fits the capacity")
    masked = np.where(allowed, relative, np.inf)
    # equal costs differ here by the rounding of the relative costs (7 missed at 7/25 = 7 and
    # 25 needless at 25/25 came out 7.000000000000001 and 7.0), so equal means within 1e-12;
    # flagged increases along the points: the first of the equal minima flags fewest
    best = masked.min()
    i = int(np.flatnonzero(masked <= best + 1e-12 * best)[0])
    return CostResult(
        threshold=float(prep.thresholds[i]),
        cost=float(cost[i]),
        flagged=int(flagged[i]),
        tp=int(tp[i]),
        fp=int(fp[i]),
        fn=int(fn[i]),
        precision=float(tp[i] / flagged[i]) if flagged[i] else np.nan,
        recall=float(tp[i] / n_pos) if n_pos else np.nan,
        table=table,
    )
