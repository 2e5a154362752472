"""Thresholds set by staff capacity or by costs, the two ways a school actually picks one.

Capacity: a workflow needs ``minutes_per_case`` staff minutes and the school has
``staff_minutes_available``, so it can take ``floor(available / per_case)`` cases. The threshold
at capacity is the one that flags as many students as possible without exceeding that. With
untied scores it flags exactly the capacity; when students tie at the boundary the whole tie
group is left out (a threshold cannot flag half of a tie), so ``flagged`` may be below capacity,
and ``n_boundary_ties`` / ``spare_capacity`` say by how much. It never exceeds capacity.

Cost: with a cost for each missed student (fn) and each needless intervention (fp), the
cost-minimising threshold is searched over every distinct cut point; equal costs go to the
threshold that flags fewer students.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from srmsim.errors import DataError, SrmsimError
from srmsim.risk._columns import check_direction, outcome_values, score_values
from srmsim.risk.curves import _points, _prepare


def capacity_in_cases(
    capacity_cases: int | None = None,
    staff_minutes_available: float | None = None,
    minutes_per_case: float | None = None,
) -> int:
    """Cases staff can take: given directly, or whole cases that fit in the minutes available."""
    if capacity_cases is not None:
        if staff_minutes_available is not None or minutes_per_case is not None:
            raise SrmsimError(
                "give either capacity_cases or staff_minutes_available with minutes_per_case, "
                "not both"
            )
        if capacity_cases < 0 or int(capacity_cases) != capacity_cases:
            raise SrmsimError(f"capacity_cases must be a whole number >= 0, got {capacity_cases}")
        return int(capacity_cases)
    if staff_minutes_available is None or minutes_per_case is None:
        raise SrmsimError(
            "capacity needs capacity_cases, or both staff_minutes_available and minutes_per_case"
        )
    if not (math.isfinite(minutes_per_case) and math.isfinite(staff_minutes_available)):
        raise SrmsimError("staff_minutes_available and minutes_per_case must be finite numbers, "
                          f"got {staff_minutes_available} and {minutes_per_case}")
    if minutes_per_case <= 0:
        raise SrmsimError(f"minutes_per_case must be positive, got {minutes_per_case}")
    if staff_minutes_available < 0:
        raise SrmsimError(
            f"staff_minutes_available must be >= 0, got {staff_minutes_available}"
        )
    return int(math.floor(staff_minutes_available / minutes_per_case + 1e-9))


def threshold_for_top(score: np.ndarray, k: int, direction: str) -> float:
    """The strict threshold flagging the most rows possible, at most ``k``, among ``score``.

    ``below``: the (k+1)-th smallest score t flags ``score < t``, which is at most k rows and is
    exactly k unless that score is tied with the k-th. ``k >= n`` gives ``inf`` (flag all).
    """
    check_direction(direction)
    score = np.asarray(score, dtype=float)
    n = score.size
    if k >= n:
        return np.inf if direction == "below" else -np.inf
    s = np.sort(score) if direction == "below" else -np.sort(-score)
    return float(s[k])


def flag(score: np.ndarray, threshold: float, direction: str) -> np.ndarray:
    """Boolean flags with the strict semantics used everywhere in :mod:`srmsim.risk`."""
    check_direction(direction)
    score = np.asarray(score, dtype=float)
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


def _used(df: pd.DataFrame, score: str, outcome: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    s = score_values(df, score)
    y = outcome_values(df, outcome)
    used = ~np.isnan(s) & ~np.isnan(y)
    return s[used], y[used], int(np.isnan(s).sum()), int(np.isnan(y).sum())


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
    if not math.isfinite(cost_per_case) or cost_per_case < 0:
        raise SrmsimError(f"cost_per_case must be a finite number >= 0, got {cost_per_case}")
    cap = capacity_in_cases(capacity_cases, staff_minutes_available, minutes_per_case)
    s, y, miss_s, miss_y = _used(df, score, outcome)
    t = threshold_for_top(s, cap, direction)
    flags = flag(s, t, direction)
    flagged = int(flags.sum())
    tp = int((flags & (y == 1)).sum())
    n_pos = int((y == 1).sum())
    ties = int((s == t).sum()) if flagged < cap and np.isfinite(t) else 0
    return CapacityResult(
        threshold=float(t),
        capacity_cases=cap,
        flagged=flagged,
        tp=tp,
        fp=flagged - tp,
        precision=tp / flagged if flagged else np.nan,
        recall=tp / n_pos if n_pos else np.nan,
        cost=flagged * float(cost_per_case),
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
    if not (math.isfinite(cost_missed) and math.isfinite(cost_needless)) or (
            cost_missed < 0 or cost_needless < 0):
        raise SrmsimError("cost_missed and cost_needless must be finite numbers >= 0")
    s, y, _, _ = _used(df, score, outcome)
    prep = _prepare(s, y, direction)
    tp, fp = _points(prep)
    n_pos = tp[-1]
    fn = n_pos - tp
    flagged = tp + fp
    cost = fn * cost_missed + fp * cost_needless
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
    if capacity_cases is not None:
        allowed = flagged <= capacity_in_cases(capacity_cases)
    if not allowed.any():
        raise DataError("no threshold fits the capacity")
    masked = np.where(allowed, cost, np.inf)
    i = int(np.argmin(masked))  # flagged increases along the points: first minimum flags fewest
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
