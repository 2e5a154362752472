"""Which calibration moments may be published from real pupils' records.

The moments table prints, for each moment, the students it is based on (``n``) and for a share
the students counted (``events``); a share printed beside its denominator gives its numerator
back, and the counts are tied to each other: the FSM and non-FSM students with sessions add up
to all students with sessions (less those whose FSM is unknown), persistent absence likewise,
severe absence is part of persistent absence, and ``n - events`` (the students *not* counted)
is a count too. So small counts are protected as for any published table
(:func:`srmsim.privacy.protect_cells`): every count under the threshold -- printed, implied by
a difference, or left out because its moment is skipped (``no FSM students`` says 0) -- must
keep a feasible range at least the threshold wide given everything printed; further counts are
hidden until it does.

The values bound counts too: the attendance (a mean of rates within [0, 1]) and its
quantiles bound how many students are at most 90% or 50% (:func:`mean_inequalities`,
:func:`quantile_bounds`), and the attainment-attendance slope caps the rates' spread
(:func:`spread_pins`); such a moment is withheld if it pins a small count whatever is hidden.

A moment is **withheld** when it is based on fewer students than the threshold, when its ``n``
is hidden and knowing it would pin a small count (its value is an exact fraction of ``n``: a
mean of whole numbers, whose digits give ``n`` back: :func:`_protect_with_values`), or when it is
a share one of whose counts is hidden (the share with either count gives the other). A withheld
moment is not used in the fit either: a parameter fitted to it, or its simulated value near the
target, would give it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from srmsim.calibrate.moments import MOMENTS
from srmsim.privacy import (
    DEFAULT_SYMBOLS,
    DEFAULT_THRESHOLD,
    Symbols,
    feasible_ranges,
    protect_cells,
)

#: moment -> (cell of its n, cell of its events or None): moments sharing a cell share a count
CELLS: dict[str, tuple[str, str | None]] = {
    "attendance": ("sessions", None),
    "persistent_absence": ("sessions", "absent"),
    "persistent_absence_fsm": ("fsm", "absent_fsm"),
    "persistent_absence_non_fsm": ("non_fsm", "absent_non_fsm"),
    "severe_absence": ("sessions", "severe"),
    "attendance_p10": ("sessions", None),
    "attendance_p25": ("sessions", None),
    "attendance_p50": ("sessions", None),
    "attendance_icc": ("sessions", None),
    "attainment_icc": ("attainment", None),
    "attainment_attendance_slope": ("both", None),
    "reading_gap_mean": ("reading", None),
    "reading_gap_sd": ("reading", None),
}
#: counts never printed but worked out by differences: protected like printed ones
DERIVED: dict[str, dict[str, int]] = {
    "not_absent": {"sessions": 1, "absent": -1},
    "not_severe": {"sessions": 1, "severe": -1},
    "not_absent_fsm": {"fsm": 1, "absent_fsm": -1},
    "not_absent_non_fsm": {"non_fsm": 1, "absent_non_fsm": -1},
    "absent_not_severe": {"absent": 1, "severe": -1},
}
#: counts of students a value is missing for (FSM unknown; sessions but no attainment score, or
#: the reverse): worked out by differences of printed counts (80 with sessions, 19 FSM and 58
#: non-FSM say 3 have no FSM), so audited like the others -- except when zero (no data missing),
#: which says nothing about anyone and is then an unknown of the identities, not audited
UNKNOWN: dict[str, dict[str, int]] = {
    "fsm_unknown": {"sessions": 1, "fsm": -1, "non_fsm": -1},
    "absent_fsm_unknown": {"absent": 1, "absent_fsm": -1, "absent_non_fsm": -1},
    "sessions_no_attainment": {"sessions": 1, "both": -1},
    "attainment_no_sessions": {"attainment": 1, "both": -1},
}
#: counts of the records other commands publish (``srmsim data summary`` prints the pupils,
#: the FSM pupils and, with ``--by fsm``, the non-FSM ones): known to an attacker holding both
#: outputs, so the audit takes them as given (kept constants, never printed here) ...
POPULATION = ("students", "fsm_all", "non_fsm_all", "fsm_unknown_all")
#: ... and the persistently absent pupils its Total row prints, counted as here (10%+ of
#: sessions missed, among the pupils with sessions): where at least the threshold the summary
#: shows it, so the attendance is judged with it known (100 pupils at 94.93% beside the
#: summary's 19 persistently absent put the severely absent at 0 to 7, while this table hid
#: its own persistent-absence share to protect them)
SUMMARY_SHOWN = ("absent",)
#: ... and the pupils a moment leaves out, worked out from them: 445 pupils in the summary and
#: ``n`` 442 for attendance here said 3 have no attendance records; audited like
#: :data:`UNKNOWN` (zero, nothing missing, is not)
LEFT_OUT: dict[str, dict[str, int]] = {
    "no_sessions": {"students": 1, "sessions": -1},
    "fsm_no_sessions": {"fsm_all": 1, "fsm": -1},
    "non_fsm_no_sessions": {"non_fsm_all": 1, "non_fsm": -1},
    "fsm_unknown_no_sessions": {"fsm_unknown_all": 1, "fsm_unknown": -1},
    "no_attainment": {"students": 1, "attainment": -1},
    "no_reading": {"students": 1, "reading": -1},
}
NOTE = "withheld: based on a count below {t}, or it would reveal one"
#: the bounds a mean attendance puts on the counts, given the quantiles published beside it
Rules = Callable[[dict[str, float]], list[dict[int, float]]]

#: attendance quantiles (numpy's linear interpolation) over the students with sessions
QUANTILES = {"attendance_p10": 0.10, "attendance_p25": 0.25, "attendance_p50": 0.50}
#: counts of students whose attendance rate is at most a cut-off: a published quantile of the
#: same students bounds each (a 10th percentile below 0.9 says at least a tenth are
#: persistently absent), so quantiles are audited with them
AT_MOST_RATE = {"absent": 0.9, "severe": 0.5}


def _lines(steps: np.ndarray) -> list[tuple[float, float]]:
    """``F(k) = steps[0] + ... + steps[k - 1]`` as lines ``(slope, intercept)``, one through
    each run of equal steps: with steps that never fall (F convex) F is their maximum, with
    steps that never rise (F concave) their minimum, at every whole k."""
    total = np.r_[0.0, np.cumsum(steps)]
    if not len(steps):
        return []
    starts = np.flatnonzero(np.r_[True, steps[1:] != steps[:-1]])
    return [(float(steps[k]), float(total[k] - steps[k] * k)) for k in starts]


def shortfall_bounds(n: int, quantiles: dict[str, float] | None = None,
                     sessions: int | None = None) -> tuple[np.ndarray, np.ndarray,
                                                           tuple[float, float, float, float]]:
    """How far short of full attendance each of ``n`` students in order (lowest rate first)
    must and can fall: ``(least, most, (severe_least, absent_least, absent_most, rest_most))``,
    ``least``/``most`` by the published ``quantiles`` and the four by the cut-offs (a severely
    absent student falls short by at least ``severe_least``, one absent but not severely by
    ``absent_least`` to ``absent_most``, any other by at most ``rest_most``).

    Why ``sessions`` (every student's sessions, one calendar of whole sessions): rates are then
    whole sessions over it, which an attacker knows from the spec's weeks and the attendance's
    digits, and every bound is a whole session: with 40 a student not persistently absent misses
    at most 3 (7.5%, not 10%), and a 10th percentile of 94.75% puts the lowest tenth at most
    92.5%. 100 students at 94.45% with that percentile have at least 1 persistently absent
    (at most 7.5% short for the lowest 10, at most 5% for the rest make only 5.25 of 5.55)."""
    if sessions:
        whole = float(sessions)
        absent_least, severe_least = -(-sessions // 10) / whole, -(-sessions // 2) / whole
        cuts = (severe_least, absent_least, severe_least - 1 / whole, absent_least - 1 / whole)
    else:
        cuts = (0.5, 0.1, 0.5, 0.1)
    order = np.arange(1, n + 1)
    least, most = np.zeros(n), np.ones(n)
    for moment, q in (quantiles or {}).items():
        if moment in QUANTILES and np.isfinite(q) and n:
            h = QUANTILES[moment] * (n - 1)
            below, above = q, q  # the rate at most q (the lowest), at least q (the others)
            if sessions:
                below = np.floor(q * sessions + 1e-9) / sessions
                above = np.ceil(q * sessions - 1e-9) / sessions
            least = np.where(order <= np.floor(h) + 1, np.maximum(least, 1.0 - below), least)
            most = np.where(order > np.ceil(h), np.minimum(most, 1.0 - above), most)
    return least, most, cuts


def mean_inequalities(pos: dict[str, int], attendance: float, values: np.ndarray,
                      quantiles: dict[str, float] | None = None,
                      sessions: int | None = None,
                      upper: float | None = None) -> list[dict[int, float]]:
    """The bounds the pooled attendance (sessions attended / possible) puts on the counts of
    students at most 90% and 50% (each entry ``{cell: coefficient}`` sums to at most zero),
    with the published attendance ``quantiles`` of the same students.

    Why: with one calendar (every student the same sessions) the attendance is the mean of the
    students' rates, so the students' shortfalls ``1 - rate`` add up to ``(1 - a) n``. A
    persistently absent student falls short by at least 10%, a severely absent one by at least
    50%, every other by less than 10%: ``0.1 absent + 0.4 severe <= (1 - a) n`` and
    ``0.4 absent + 0.5 severe >= (0.9 - a) n``. 88 students at 98.0% have at most 3 severely
    absent (2 x 0.02 x 88), whatever the table hides. A quantile says more about each student
    in order: a 10th percentile q puts the lowest tenth at most q (a shortfall of at least
    1 - q) and the others at least q, so with 100 students at 94.45% and percentiles of 94.75%,
    95% and 96.25% the shortfalls of the 50 lowest already add up to 2.2 of the 5.55, and at
    most 7 can be severely absent (the attendance alone said 11, the 10th percentile 10) and
    at least 1 persistently absent. The shortfall each student in order must and can have,
    summed, is convex in the two counts (concave for what it can have), so it is a few linear
    bounds (the two above when no quantile is published; a constant term goes on the
    ``unit`` cell, a kept 1), in whole sessions with ``sessions`` (:func:`shortfall_bounds`).
    A bound the records break (students of unequal sessions) is left out: an attacker assuming
    one calendar is then wrong. ``upper``: where the attendance is known only to a range
    (``srmsim data summary`` prints it to 0.1 point), ``attendance`` is its least and
    ``upper`` its greatest value: each bound is taken at the end that makes it loosest."""
    if not np.isfinite(attendance):
        return []
    top = attendance if upper is None else upper
    n = int(values[pos["sessions"]])
    least, most, (severe_least, absent_least, absent_most, rest_most) = shortfall_bounds(
        n, quantiles, sessions)
    # least shortfall: sum of max(severe_least, least) over the severe, max(absent_least,
    # least) over the other absent, least over the rest = sum(least) + W(severe) + U(absent),
    # W and U convex
    w_lines = _lines(np.maximum(severe_least, least) - np.maximum(absent_least, least))
    u_lines = _lines(np.maximum(absent_least, least) - least)
    # greatest: min(1, most), min(absent_most, most), min(rest_most, most)
    # = rest_most n - spare + P(severe) + R(absent), P and R concave
    p_lines = _lines(np.minimum(1.0, most) - np.minimum(absent_most, most))
    r_lines = _lines(np.minimum(absent_most, most) - np.minimum(rest_most, most))
    spare = float((rest_most - np.minimum(rest_most, most)).sum())
    rows = []
    for (ws, wi) in w_lines or [(severe_least - absent_least, 0.0)]:
        for (us, ui) in u_lines or [(absent_least, 0.0)]:
            rows.append({pos["severe"]: ws, pos["absent"]: us,
                         pos["sessions"]: -(1.0 - attendance),
                         pos["unit"]: float(least.sum()) + wi + ui})
    for (ps, pi) in p_lines or [(1.0 - absent_most, 0.0)]:
        for (rs, ri) in r_lines or [(absent_most - rest_most, 0.0)]:
            rows.append({pos["severe"]: -ps, pos["absent"]: -rs,
                         pos["sessions"]: 1.0 - top - rest_most,
                         pos["unit"]: spare - pi - ri})
    rows = [{c: k for c, k in r.items() if k != 0.0 or c != pos["unit"]} for r in rows]
    return [r for r in rows if sum(k * values[c] for c, k in r.items()) <= 1e-9 * max(
        1.0, values[pos["sessions"]])]


SLOPE = "attainment_attendance_slope"


def least_variance(lo: np.ndarray, hi: np.ndarray,
                   total: float | tuple[float, float] | None = None) -> float:
    """The least (population) variance of values each within ``[lo, hi]`` (summing to
    ``total`` if given, or to a sum within it if a ``(least, greatest)`` pair; ``inf`` if
    they cannot): the values are ``clip(c, lo, hi)`` for one ``c``, found by bisection on
    their sum (or on the slope of ``sum dist(c, [lo, hi])^2``). Why a pair: a mean printed
    rounded (the summary's, to 0.1 point) is known only to a range, and the least variance is
    convex in the sum, so over a range it is at the sum nearest the unconstrained one's."""
    if len(lo) == 0:
        return 0.0
    if isinstance(total, tuple):
        free = float(np.clip(_centre(lo, hi, None), lo, hi).sum())
        nearest = min(max(free, total[0]), total[1])
        return least_variance(lo, hi, None if nearest == free else nearest)
    if total is not None and not lo.sum() - 1e-9 <= total <= hi.sum() + 1e-9:
        return float("inf")
    return float(np.clip(_centre(lo, hi, total), lo, hi).var())


def _centre(lo: np.ndarray, hi: np.ndarray, total: float | None) -> float:
    """The ``c`` of :func:`least_variance`."""
    a, b = float(lo.min()), float(hi.max())
    for _ in range(60):
        c = (a + b) / 2
        x = np.clip(c, lo, hi)
        if (x.sum() < total) if total is not None else ((c - x).sum() < 0):
            a = c
        else:
            b = c
    return (a + b) / 2


def spread_pins(n: int, absent: int, severe: int, attendance: float,
                quantiles: dict[str, float], ceiling: float,
                ranges: dict[str, tuple[float, float]], threshold: int,
                sessions: int | None = None, upper: float | None = None) -> bool:
    """Whether a ceiling on the variance of the ``n`` students' attendance rates, with the
    attendance (their mean, one calendar) and the ``quantiles``, pins a count under the
    threshold of students at most 90% or 50% (or a remainder) to a range narrower than it.

    Why: the attainment-attendance slope is a correlation over the SD of the rates (the score
    is standardised), so ``SD <= 1 / |slope|``: 100 pupils at 94.35% with a slope of 1.04
    (SD per 10 points) cannot have more than 4 below 50% (each adds to the variance) although
    the attendance and its percentiles allow 10. Sound, not exact: the pairs (absent, severe)
    within the threshold of the true ones and within ``ranges`` (what the table's other counts
    leave each hidden one; a shown one is left out) are tried, and a pair is possible if the
    rates in order can take it within the ceiling (:func:`least_variance`); a count is pinned
    if the possible pairs span less than the threshold of it. ``ceiling``: over the ``n``
    students (the slope's, over ``m`` of them, times ``m / n``: the ``m`` of ``n`` values
    closest to their mean vary at most ``n / m`` times as much). Where the true counts fail
    that with the mean (unequal sessions), the mean is not used; where they fail even without
    it, this says it pins. ``upper``: the mean is known only to ``[attendance, upper]`` (the
    summary's, printed to 0.1 point, where this table withholds its own)."""
    order = np.arange(1, n + 1)
    least, most, (severe_least, absent_least, absent_most, rest_most) = shortfall_bounds(
        n, quantiles, sessions)
    q_lo, q_hi = 1.0 - most, 1.0 - least  # the rates the quantiles leave each in order

    def possible(a: int, s: int, total: float | tuple[float, float] | None) -> bool:
        if not 0 <= s <= a <= n:
            return False
        lo = np.maximum(q_lo, np.where(order <= s, 0.0, np.where(
            order <= a, 1.0 - absent_most, 1.0 - rest_most)))
        hi = np.minimum(q_hi, np.where(order <= s, 1.0 - severe_least, np.where(
            order <= a, 1.0 - absent_least, 1.0)))
        return bool((lo <= hi + 1e-12).all()) and least_variance(lo, hi, total) <= ceiling

    total: float | tuple[float, float] | None = None
    if np.isfinite(attendance):
        total = attendance * n if upper is None else (attendance * n, upper * n)
    if not possible(absent, severe, total):
        total = None
        if not possible(absent, severe, total):
            return True
    (a_lo, a_hi), (s_lo, s_hi) = (ranges.get(c, (v, v)) for c, v in (("absent", absent),
                                                                        ("severe", severe)))
    found = [(a, s) for a in range(int(max(a_lo, absent - threshold)),
                                   int(min(a_hi, absent + threshold)) + 1)
             for s in range(int(max(s_lo, severe - threshold)),
                            int(min(s_hi, severe + threshold, a)) + 1)
             if possible(a, s, total)]
    a, s = np.array(found).T
    counts = [(absent, a, "absent" in ranges), (n - absent, n - a, "absent" in ranges),
              (severe, s, "severe" in ranges), (n - severe, n - s, "severe" in ranges),
              (absent - severe, a - s, bool(ranges))]
    return any(hidden and true < threshold and seen.max() - seen.min() < threshold
               for true, seen, hidden in counts)


def quantile_bounds(n: int, quantiles: dict[str, float], sessions: int | None = None,
                    counts: dict[str, float] | None = None
                    ) -> dict[str, list[tuple[str, int, int]]]:
    """For each count of :data:`AT_MOST_RATE`, the (moment, least, greatest) it is pinned to by
    each quantile of ``n`` students: with ``h = p (n - 1) = f + w``, numpy's quantile is
    ``(1 - w) r_f + w r_c`` of the rates in order (``c = f + 1``, or ``f`` when ``w = 0``), so
    ``r_f <= q <= r_c``: a quantile at most the cut-off puts the ``f + 1`` lowest rates at or
    below it; one above it leaves at most ``c`` students there. With ``sessions`` (whole
    sessions of one calendar) the rates are whole sessions: the lowest are at most the session
    below the quantile, the others at least the one above, so a quantile between two sessions
    either side of a cut-off gives both bounds (a 10th percentile of 91.25% of 40 sessions,
    between 36 and 37, says exactly ``floor(h) + 1`` are persistently absent).

    ``counts`` (the true counts at most each cut-off, for deciding what to withhold only): the
    weight ``w`` is used too. As a rate is within [0, 1], ``r_f >= (q - w) / (1 - w)`` and
    ``r_c <= q / w``: a quantile at most the cut-off puts ``c + 1`` at or below it where even
    ``r_c`` must be, one above it at most ``f`` where even ``r_f`` must be above. And where the
    other count is known, the weights tie the two rates: with 18 of 100 students
    persistently absent, ``r_10 <= 0.9``, and a 10th percentile of 90% (``0.1 r_9 + 0.9 r_10``)
    puts ``r_9`` at 90% too: at most 9 are severely absent, where ``r_10 >= 0.9`` said 10. Such
    a bound holds only where its premise does, so it is given where the true count meets it
    (an attacker who knows the count gets it; one who does not gets less)."""
    out: dict[str, list[tuple[str, int, int]]] = {c: [] for c in AT_MOST_RATE}

    def down(x: float) -> float:  # the greatest rate at most x
        return float(np.floor(x * sessions + 1e-9) / sessions) if sessions else x

    def up(x: float) -> float:  # the least rate at least x
        return float(np.ceil(x * sessions - 1e-9) / sessions) if sessions else x

    def above(t: float) -> float:  # the least rate a student above the cut-off t can have
        return float((np.floor(t * sessions + 1e-9) + 1) / sessions) if sessions else t

    for moment, q in quantiles.items():
        if moment not in QUANTILES or not np.isfinite(q) or n < 1:
            continue
        h = QUANTILES[moment] * (n - 1)
        f = int(np.floor(h))
        w = h - f
        c = f + 1 if w > 0 else f
        for cell, cut in AT_MOST_RATE.items():
            f_lo, f_hi, c_lo, c_hi = 0.0, q, q, 1.0  # r_f and r_c
            if w > 0 and counts is not None:
                f_lo, c_hi = max(0.0, (q - w) / (1 - w)), min(1.0, q / w)
                for other, t in AT_MOST_RATE.items():
                    if other == cell:
                        continue
                    if counts[other] >= c + 1:  # r_c <= t
                        f_lo = max(f_lo, (q - w * down(t)) / (1 - w))
                    if counts[other] <= f:  # r_f > t
                        c_hi = min(c_hi, (q - (1 - w) * above(t)) / w)
            f_lo, f_hi, c_lo, c_hi = up(f_lo), down(f_hi), up(c_lo), down(c_hi)
            lo = c + 1 if c_hi <= cut else f + 1 if f_hi <= cut else 0
            hi = f if f_lo > cut else c if c_lo > cut else n
            out[cell].append((moment, lo, min(hi, n)))
    return out


def _narrow(values: dict[str, float], n: int, quantiles: dict[str, float],
            threshold: int, sessions: int | None = None,
            known: frozenset[str] = frozenset()) -> tuple[float, set[str]]:
    """The narrowest range the quantiles alone give a small count (of students at most a
    cut-off, its remainder, or absent-but-not-severe), and the quantiles giving its ends;
    the counts in ``known`` (printed by another command) at their values."""
    bounds = quantile_bounds(n, quantiles, sessions, counts=values)
    rng = {c: (max([lo for _, lo, _ in b], default=0), min([hi for _, _, hi in b], default=n))
           for c, b in bounds.items()}
    for c in known & set(rng):
        rng[c] = (int(values[c]), int(values[c]))
    (a_lo, a_hi), (s_lo, s_hi) = rng["absent"], rng["severe"]
    s_hi = min(s_hi, a_hi)  # the severely absent are some of the absent
    checks = [(values["absent"], a_hi - a_lo, ["absent"]),
              (n - values["absent"], a_hi - a_lo, ["absent"]),
              (values["severe"], s_hi - s_lo, ["severe"]),
              (n - values["severe"], s_hi - s_lo, ["severe"]),
              (values["absent"] - values["severe"], a_hi - s_lo - max(0, a_lo - s_hi),
               ["absent", "severe"])]
    width, ends = np.inf, set()
    for v, w, cells in checks:
        if v < threshold and w < threshold and not set(cells) <= known:
            width = min(width, w)
            for c in set(cells) - known:
                lo_c, hi_c = rng[c]
                ends |= {m for m, lo_m, hi_m in bounds[c]
                         if (lo_m > 0 and lo_m == lo_c) or (hi_m < n and hi_m == hi_c)}
    return width, ends


def _safe_quantiles(values: dict[str, float], n: int, quantiles: dict[str, float],
                    threshold: int, sessions: int | None = None,
                    known: frozenset[str] = frozenset()) -> set[str]:
    """The quantiles to withhold so that they alone (with the ``known`` counts another command
    prints) pin no small count to a range narrower than the threshold: one at a time, the
    quantile giving a too-narrow range an end whose removal widens the narrowest range most."""
    withheld: set[str] = set()
    while True:
        left = {m: q for m, q in quantiles.items() if m not in withheld}
        width, ends = _narrow(values, n, left, threshold, sessions, known)
        if not ends:
            return withheld
        best = max(sorted(ends, key=list(QUANTILES).index), key=lambda m: _narrow(
            values, n, {k: q for k, q in left.items() if k != m}, threshold, sessions,
            known)[0])
        withheld.add(best)


@dataclass(frozen=True)
class Withheld:
    """The result of the audit: moments withheld, and (moment, column) counts shown as ``c``."""

    moments: frozenset[str] = frozenset()
    counts: frozenset[tuple[str, str]] = frozenset()
    threshold: int = DEFAULT_THRESHOLD
    symbols: Symbols = DEFAULT_SYMBOLS
    #: the records' counts the audit took as known (:func:`population_counts`), for a re-audit
    population: tuple[tuple[str, int], ...] = ()
    #: every student's sessions, where all have the same whole number (:func:`one_calendar`)
    sessions: int | None = None

    def note(self, moment: str) -> str:
        return NOTE.format(t=self.threshold) if moment in self.moments else ""


def population_counts(measures: pd.DataFrame) -> dict[str, int]:
    """The counts of :data:`POPULATION` in the per-student measures
    (:func:`~srmsim.calibrate.moments.student_measures`: one row per pupil of the records)."""
    fsm = pd.to_numeric(measures["fsm"], errors="coerce")
    students, yes, no = len(measures), int((fsm == 1).sum()), int((fsm == 0).sum())
    return {"students": students, "fsm_all": yes, "non_fsm_all": no,
            "fsm_unknown_all": students - yes - no}


def summary_mean(attendance: float) -> tuple[float, float]:
    """The range ``srmsim data summary``'s Total row gives the attendance: it prints the same
    mean (:func:`srmsim.data.describe.describe`, sessions attended / possible over the same
    rows) as a percentage to 1 decimal, so a reader knows it to +-0.05 point; at a rounding
    tie, where the two commands' sums could round apart, the value itself (stricter)."""
    pct = 100.0 * attendance
    shown = round(pct, 1)
    if abs(pct - shown) > 0.05 - 1e-6:
        return attendance, attendance
    return (shown - 0.05) / 100.0, (shown + 0.05) / 100.0


def one_calendar(measures: pd.DataFrame) -> int | None:
    """Every student's sessions where all students with sessions have the same whole number
    of them, attended in whole sessions (rates are then whole sessions over it); else None."""
    possible = pd.to_numeric(measures["possible"], errors="coerce").to_numpy(float)
    attended = pd.to_numeric(measures["attended"], errors="coerce").to_numpy(float)
    has = possible > 0
    values = np.unique(possible[has])
    whole = np.all(np.mod(np.r_[possible[has], attended[has]], 1) == 0)
    return int(values[0]) if len(values) == 1 and whole else None


def protect_moments(counts: pd.DataFrame, published: Iterable[str],
                    threshold: int = DEFAULT_THRESHOLD,
                    population: dict[str, int] | None = None,
                    sessions: int | None = None) -> Withheld:
    """Audit the moments table's counts (``counts``: ``moment, n, events`` of every moment, as
    :func:`~srmsim.calibrate.moments.moment_counts` gives) for the moments in ``published``.

    ``population`` (:func:`population_counts`): the records' pupils, FSM and non-FSM pupils,
    which ``srmsim data summary`` prints; the pupils a moment leaves out (no attendance
    records, no score, no reading age) are then counts too, audited with the others, and the
    attendance is judged with the summary's persistently absent pupils known
    (:data:`SUMMARY_SHOWN`); where it is withheld, the quantiles are judged beside the mean
    the summary prints to 0.1 point (:func:`summary_mean`).
    ``sessions`` (:func:`one_calendar`): every student's sessions, whole, where all have the
    same; the attendance's and quantiles' bounds are then in whole sessions.
    """
    published = [m for m in published if m in CELLS]
    population = {k: int(v) for k, v in (population or {}).items() if k in POPULATION}
    if population and set(population) != set(POPULATION):
        raise ValueError(f"population: give all of {', '.join(POPULATION)}")
    left_out = LEFT_OUT if population else {}
    by_name = counts.set_index("moment")
    quantiles = {m: float(pd.to_numeric(pd.Series([by_name.loc[m, "value"]]),
                                        errors="coerce").iloc[0])
                 for m in QUANTILES if m in published and "value" in by_name.columns}
    base = list(dict.fromkeys(c for pair in CELLS.values() for c in pair if c is not None))
    names = [*base, *DERIVED, *UNKNOWN, *population, *left_out]
    pos = {c: i for i, c in enumerate(names)}
    values = np.zeros(len(names))
    for cell, count in population.items():
        values[pos[cell]] = count
    for moment, (n_cell, e_cell) in CELLS.items():
        if moment in by_name.index:
            values[pos[n_cell]] = max(values[pos[n_cell]], float(by_name.loc[moment, "n"]))
            if e_cell is not None:
                ev = pd.to_numeric(pd.Series([by_name.loc[moment, "events"]]), errors="coerce")
                values[pos[e_cell]] = max(values[pos[e_cell]], float(ev.fillna(0).iloc[0]))
    equations = []
    for cell, parts in {**DERIVED, **UNKNOWN, **left_out}.items():
        values[pos[cell]] = sum(k * values[pos[p]] for p, k in parts.items())
        equations.append({pos[cell]: 1.0, **{pos[p]: -float(k) for p, k in parts.items()}})
    inequalities = [{pos["absent_fsm_unknown"]: 1.0, pos["fsm_unknown"]: -1.0},
                    {pos["both"]: 1.0, pos["attainment"]: -1.0},
                    {pos["both"]: 1.0, pos["sessions"]: -1.0}]
    if population:  # a score without sessions is one of the pupils without sessions, ...
        inequalities += [{pos["attainment_no_sessions"]: 1.0, pos["no_sessions"]: -1.0},
                         {pos["sessions_no_attainment"]: 1.0, pos["no_attainment"]: -1.0}]
    structural = list(inequalities)  # (the values' bounds join below)
    shown = np.zeros(len(names), dtype=bool)
    for m in published:
        n_cell, e_cell = CELLS[m]
        shown[pos[n_cell]] = True
        if e_cell is not None:
            shown[pos[e_cell]] = True
    n_sessions = int(values[pos["sessions"]])
    # the summary's own counts are known whatever this table hides: the quantiles, the
    # attendance and the slope are judged with them (the cells' audit only knows what it shows)
    by_summary = frozenset(c for c in SUMMARY_SHOWN
                           if population and values[pos[c]] >= threshold)

    by_quantile = _safe_quantiles({c: values[pos[c]] for c in AT_MOST_RATE}, n_sessions,
                                  quantiles, threshold, sessions, by_summary)
    # the records' counts other commands print are known: shown, and not hidden here
    keep = np.array([c in population for c in names])
    shown |= keep
    pos["unit"] = len(names)  # the constant term of a bound: a kept (known) 1
    names.append("unit")
    values, keep, shown = np.r_[values, 1.0], np.r_[keep, True], np.r_[shown, True]
    small = values < threshold
    free = np.array([(c in UNKNOWN or c in left_out) and values[i] == 0
                     for i, c in enumerate(names)])

    def bracket(qs: dict[str, float]) -> list[dict[int, float]]:
        """The published quantiles' bounds on the counts at most 90% and 50%."""
        return [{pos[cell]: sign, pos["unit"]: -sign * bound}
                for cell, bounds in quantile_bounds(n_sessions, qs, sessions).items()
                for _, lo, hi in bounds for bound, sign in ((lo, -1.0), (hi, 1.0))]

    published_quantiles = {m: q for m, q in quantiles.items() if m not in by_quantile}
    by_mean = False
    attendance = np.nan
    if "attendance" in published and "value" in by_name.columns:
        attendance = float(pd.to_numeric(pd.Series([by_name.loc["attendance", "value"]]),
                                         errors="coerce").iloc[0])
    audited = small & ~keep & ~free
    # the bounds the mean attendance a reader knows puts on the counts: this table's, or where
    # it is withheld, the summary's (None: no mean is known)
    def own(qs: dict[str, float]) -> list[dict[int, float]]:
        return mean_inequalities(pos, attendance, values, qs, sessions)

    mean_rules: Rules | None = own if np.isfinite(attendance) else None
    mean_range = (attendance, attendance)  # the least and greatest mean a reader knows
    if np.isfinite(attendance) and audited.any():
        # what the attendance gives with every other count hidden: hiding cannot widen it,
        # so a small count it pins (that the known counts and the quantiles alone leave wide)
        # withholds the attendance itself, as a quantile is withheld; and if it pins one only
        # with the quantiles (each of which says how far short of full attendance the lowest
        # students fall), quantiles are withheld until it pins none, the attendance kept
        # the summary's own counts are known whatever this table hides
        known = keep | np.array([c in by_summary for c in names])
        # ... and the students with sessions: the attendance's digits give them (an exact
        # fraction of them: :func:`_protect_with_values`), so its bounds are judged with them
        known[pos["sessions"]] |= not small[pos["sessions"]]

        def pinned(rules: list[dict[int, float]]) -> np.ndarray:
            lo, hi = feasible_ranges(values, ~known, equations, rules,
                                     cells=np.flatnonzero(audited), free=free,
                                     enough=threshold)
            return audited & (hi - lo < threshold)

        def pins(qs: dict[str, float], mean: Rules = own) -> int:
            rules = [*inequalities, *bracket(qs)]
            more = mean(qs)
            return int((pinned([*rules, *more]) & ~pinned(rules)).sum()) if more else 0

        by_mean = pins({}) > 0
        if by_mean:
            mean_rules = None
        if by_mean and population:
            # the summary prints the same mean to 0.1 point (:func:`summary_mean`) where it
            # alone pins nothing: the quantiles are judged beside it
            s_lo, s_hi = summary_mean(attendance)

            def printed(qs: dict[str, float]) -> list[dict[int, float]]:
                return mean_inequalities(pos, s_lo, values, qs, sessions, upper=s_hi)

            if not pins({}, printed):
                mean_rules, mean_range = printed, (s_lo, s_hi)
        if mean_rules is not None and published_quantiles and pins(published_quantiles,
                                                                   mean_rules):
            # the most quantiles (the lower ones first) the attendance pins nothing with
            rule: Rules = mean_rules
            keep_q = next(set(kept) for size in range(len(published_quantiles) - 1, -1, -1)
                          for kept in combinations(published_quantiles, size)
                          if not pins({m: published_quantiles[m] for m in kept}, rule))
            by_quantile |= set(published_quantiles) - keep_q
            published_quantiles = {m: q for m, q in published_quantiles.items()
                                   if m in keep_q}
    inequalities += bracket(published_quantiles)
    if mean_rules is not None:
        inequalities += mean_rules(published_quantiles)
    primary = (shown & small & ~keep) | ~shown
    priority = np.array([1.0 if c == "sessions" else 0.0 for c in names])
    withheld, hidden_counts = set(by_quantile) | ({"attendance"} if by_mean else set()), set()
    # the n of a moment whose value is printed is known: kept shown where that pins no small
    # count (:func:`_protect_with_values`), else its moments are withheld below
    value_cells = [pos[c] for c in VALUE_CELL_ORDER if not small[pos[c]] and any(
        CELLS[m] == (c, None) and m not in withheld for m in published)]
    hidden = _protect_with_values(
        values, primary, equations, inequalities, structural, threshold, priority, free, keep,
        keep | np.array([c in by_summary for c in names]), audited, value_cells)
    for m in published:
        n_cell, e_cell = CELLS[m]
        if hidden[pos[n_cell]]:
            hidden_counts.add((m, "n"))
        if e_cell is not None and hidden[pos[e_cell]]:
            hidden_counts.add((m, "events"))
        if small[pos[n_cell]] or (e_cell is None and hidden[pos[n_cell]]) or (
                e_cell is not None and (hidden[pos[n_cell]] or hidden[pos[e_cell]])):
            withheld.add(m)
    slope = np.nan
    if SLOPE in published and SLOPE not in withheld and "value" in by_name.columns:
        slope = float(pd.to_numeric(pd.Series([by_name.loc[SLOPE, "value"]]),
                                    errors="coerce").iloc[0])
    at_most = [pos[c] for c in ("absent", "severe", "not_absent", "not_severe",
                                "absent_not_severe")]
    if np.isfinite(slope) and slope != 0 and n_sessions and (audited & hidden)[at_most].any():
        # the slope bounds the spread of the attendance rates: with their mean and quantiles,
        # that bounds how many sit far below it
        # what the summary prints is known however this table hides it (its persistently
        # absent pupils: exact, not the range this table's own counts leave them)
        unknown = hidden & ~np.array([c in by_summary for c in names])
        lo, hi = feasible_ranges(values, unknown, equations, inequalities,
                                 cells=[pos[c] for c in AT_MOST_RATE], free=free)
        ranges = {c: (float(lo[pos[c]]), float(hi[pos[c]])) for c in AT_MOST_RATE
                  if unknown[pos[c]]}
        ceiling = values[pos["both"]] / n_sessions / (100.0 * slope ** 2)
        least_mean, most_mean = mean_range if mean_rules is not None else (np.nan, np.nan)
        if spread_pins(n_sessions, int(values[pos["absent"]]), int(values[pos["severe"]]),
                       least_mean, published_quantiles, ceiling, ranges, threshold, sessions,
                       upper=most_mean):
            withheld.add(SLOPE)
    return Withheld(frozenset(withheld), frozenset(hidden_counts), threshold,
                    population=tuple(population.items()), sessions=sessions)


#: the n cells a published moment's value gives back, in the order they are kept if they can
#: be (the students with sessions first: the attendance moments inform most parameters)
VALUE_CELL_ORDER = ("sessions", "reading", "attainment", "both")


def _protect_with_values(values: np.ndarray, primary: np.ndarray,
                         equations: list[dict[int, float]], inequalities: list[dict[int, float]],
                         structural: list[dict[int, float]],
                         threshold: int, priority: np.ndarray, free: np.ndarray,
                         keep: np.ndarray, known: np.ndarray, audited: np.ndarray,
                         value_cells: list[int]) -> np.ndarray:
    """The cells to hide, with as many of ``value_cells`` (in order) kept shown as can be: the
    n of the moments whose values are printed, which those values give back.

    Why: a moment's value is an exact fraction of its n (a mean of whole numbers: the
    attendance, the reading gap's mean and SD, a quantile's interpolation), and its digits
    gave a hidden n back: 115 of 120 pupils with a reading age, and with it the 5 without,
    which the n had been hidden for (a probe, 2026-12-06). So the suppression takes those n as
    known; where, known, they pin a small count whatever else is hidden, the last of them is
    dropped and tried again, and a moment whose n ends hidden is withheld by the caller.
    A small count may not be left narrower than ``threshold``, or than the known counts leave
    it by the identities alone (``structural``: not the values' bounds, which are drawn with
    the true n) with the zeros of ``free`` (nothing missing, which says nothing about anyone)
    known too: the summary's 6 FSM pupils, all with sessions, are the 6 FSM pupils with sessions
    however the attendance's n is printed."""
    def hide(keep_k: np.ndarray) -> np.ndarray:
        first = primary & ~keep_k
        return first | protect_cells(values, first, equations, inequalities, threshold,
                                     priority=priority, free=free, keep=keep_k)

    cells = np.flatnonzero(audited)
    if value_cells and len(cells):
        lo, hi = feasible_ranges(values, ~known & ~free, equations, structural, cells=cells,
                                 enough=threshold)
        need = np.minimum(hi - lo, threshold)
    for k in range(len(value_cells), 0, -1):
        keep_k = keep.copy()
        keep_k[value_cells[:k]] = True
        hidden = hide(keep_k)
        check = audited & hidden & ~(known | keep_k)
        if not check.any():
            return hidden
        lo, hi = feasible_ranges(values, hidden & ~(known | keep_k), equations, inequalities,
                                 cells=np.flatnonzero(check), free=free, enough=threshold)
        if np.all((hi - lo)[check] >= need[check]):
            return hidden
    return hide(keep)


VALUE_COLUMNS = ("target", "simulated", "difference", "se", "tolerance", "within")


def apply(fit: pd.DataFrame, withheld: Withheld) -> pd.DataFrame:
    """The moments table to print or write: hidden counts ``c``, a withheld moment's target and
    difference ``low`` and its other values ``x``, and a ``note`` saying which were withheld."""
    sym = withheld.symbols
    out = fit.copy().astype({c: "object" for c in fit.columns if c != "moment"})
    rate = {m.name: m.rate for m in MOMENTS}
    for i, m in zip(out.index, out["moment"], strict=True):
        for col in ("n", "events"):
            if col not in out.columns:
                continue
            if col == "events" and not rate.get(m, False):
                out.at[i, col] = sym.withheld
            elif (m, col) in withheld.counts:
                out.at[i, col] = sym.confidential
            else:
                out.at[i, col] = str(int(fit.at[i, col]))
        if m in withheld.moments:
            for col in VALUE_COLUMNS:
                if col in out.columns:
                    out.at[i, col] = sym.low if col in ("target", "difference") \
                        else sym.withheld
    out["note"] = [withheld.note(m) for m in out["moment"]]
    return out


__all__ = ["CELLS", "LEFT_OUT", "NOTE", "POPULATION", "SUMMARY_SHOWN", "Withheld", "apply",
           "one_calendar", "population_counts", "protect_moments"]
