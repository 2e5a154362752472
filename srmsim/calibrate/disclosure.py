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

A moment is **withheld** when it is based on fewer students than the threshold, or when it is a
share one of whose counts is hidden (the share with either count gives the other). A withheld
moment is not used in the fit either: a parameter fitted to it, or its simulated value near the
target, would give it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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

#: attendance quantiles (numpy's linear interpolation) over the students with sessions
QUANTILES = {"attendance_p10": 0.10, "attendance_p25": 0.25, "attendance_p50": 0.50}
#: counts of students whose attendance rate is at most a cut-off: a published quantile of the
#: same students bounds each (a 10th percentile below 0.9 says at least a tenth are
#: persistently absent), so quantiles are audited with them
AT_MOST_RATE = {"absent": 0.9, "severe": 0.5}


def mean_inequalities(pos: dict[str, int], attendance: float,
                      values: np.ndarray) -> list[dict[int, float]]:
    """The bounds the pooled attendance (sessions attended / possible) puts on the counts of
    students at most 90% and 50% (each entry ``{cell: coefficient}`` sums to at most zero).

    Why: with one calendar (every student the same sessions) the attendance is the mean of the
    students' rates, and a persistently absent student attends at most 90%, a severely absent
    one at most 50%, every other student more. So ``0.1 absent + 0.4 severe <= (1 - a) n`` and
    ``0.4 absent + 0.5 severe >= (0.9 - a) n``: 88 students at 98.0% have at most 3 severely
    absent (2 x 0.02 x 88), whatever the table hides. An inequality the records break (students
    of unequal sessions) is left out: an attacker assuming one calendar is then wrong."""
    if not np.isfinite(attendance):
        return []
    rows = [{pos["absent"]: 0.1, pos["severe"]: 0.4, pos["sessions"]: -(1.0 - attendance)},
            {pos["absent"]: -0.4, pos["severe"]: -0.5, pos["sessions"]: 0.9 - attendance}]
    return [r for r in rows if sum(k * values[c] for c, k in r.items()) <= 1e-9 * max(
        1.0, values[pos["sessions"]])]


def quantile_bounds(n: int, quantiles: dict[str, float]) -> dict[str, list[tuple[str, int, int]]]:
    """For each count of :data:`AT_MOST_RATE`, the (moment, least, greatest) it is pinned to by
    each quantile of ``n`` students: with ``h = p (n - 1)``, a quantile at most the cut-off
    puts the ``floor(h) + 1`` lowest rates at or below it; one above it leaves at most
    ``ceil(h)`` students there."""
    out: dict[str, list[tuple[str, int, int]]] = {c: [] for c in AT_MOST_RATE}
    for moment, q in quantiles.items():
        if moment not in QUANTILES or not np.isfinite(q) or n < 1:
            continue
        h = QUANTILES[moment] * (n - 1)
        for cell, cut in AT_MOST_RATE.items():
            out[cell].append((moment, int(np.floor(h)) + 1, n) if q <= cut
                             else (moment, 0, int(np.ceil(h))))
    return out


def _narrow(values: dict[str, float], n: int, quantiles: dict[str, float],
            threshold: int) -> tuple[float, set[str]]:
    """The narrowest range the quantiles alone give a small count (of students at most a
    cut-off, its remainder, or absent-but-not-severe), and the quantiles giving its ends."""
    bounds = quantile_bounds(n, quantiles)
    rng = {c: (max([lo for _, lo, _ in b], default=0), min([hi for _, _, hi in b], default=n))
           for c, b in bounds.items()}
    (a_lo, a_hi), (s_lo, s_hi) = rng["absent"], rng["severe"]
    checks = [(values["absent"], a_hi - a_lo, ["absent"]),
              (n - values["absent"], a_hi - a_lo, ["absent"]),
              (values["severe"], s_hi - s_lo, ["severe"]),
              (n - values["severe"], s_hi - s_lo, ["severe"]),
              (values["absent"] - values["severe"], a_hi - s_lo - max(0, a_lo - s_hi),
               ["absent", "severe"])]
    width, ends = np.inf, set()
    for v, w, cells in checks:
        if v < threshold and w < threshold:
            width = min(width, w)
            for c in cells:
                lo_c, hi_c = rng[c]
                ends |= {m for m, lo_m, hi_m in bounds[c]
                         if (lo_m > 0 and lo_m == lo_c) or (hi_m < n and hi_m == hi_c)}
    return width, ends


def _safe_quantiles(values: dict[str, float], n: int, quantiles: dict[str, float],
                    threshold: int) -> set[str]:
    """The quantiles to withhold so that they alone pin no small count to a range narrower
    than the threshold: one at a time, the quantile giving a too-narrow range an end whose
    removal widens the narrowest range most."""
    withheld: set[str] = set()
    while True:
        left = {m: q for m, q in quantiles.items() if m not in withheld}
        width, ends = _narrow(values, n, left, threshold)
        if not ends:
            return withheld
        best = max(sorted(ends, key=list(QUANTILES).index), key=lambda m: _narrow(
            values, n, {k: q for k, q in left.items() if k != m}, threshold)[0])
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

    def note(self, moment: str) -> str:
        return NOTE.format(t=self.threshold) if moment in self.moments else ""


def population_counts(measures: pd.DataFrame) -> dict[str, int]:
    """The counts of :data:`POPULATION` in the per-student measures
    (:func:`~srmsim.calibrate.moments.student_measures`: one row per pupil of the records)."""
    fsm = pd.to_numeric(measures["fsm"], errors="coerce")
    students, yes, no = len(measures), int((fsm == 1).sum()), int((fsm == 0).sum())
    return {"students": students, "fsm_all": yes, "non_fsm_all": no,
            "fsm_unknown_all": students - yes - no}


def protect_moments(counts: pd.DataFrame, published: Iterable[str],
                    threshold: int = DEFAULT_THRESHOLD,
                    population: dict[str, int] | None = None) -> Withheld:
    """Audit the moments table's counts (``counts``: ``moment, n, events`` of every moment, as
    :func:`~srmsim.calibrate.moments.moment_counts` gives) for the moments in ``published``.

    ``population`` (:func:`population_counts`): the records' pupils, FSM and non-FSM pupils,
    which ``srmsim data summary`` prints; the pupils a moment leaves out (no attendance
    records, no score, no reading age) are then counts too, audited with the others.
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
    shown = np.zeros(len(names), dtype=bool)
    for m in published:
        n_cell, e_cell = CELLS[m]
        shown[pos[n_cell]] = True
        if e_cell is not None:
            shown[pos[e_cell]] = True
    n_sessions = int(values[pos["sessions"]])
    by_quantile = _safe_quantiles({c: values[pos[c]] for c in AT_MOST_RATE}, n_sessions,
                                  quantiles, threshold)
    # the records' counts other commands print are known: shown, and not hidden here
    keep = np.array([c in population for c in names])
    shown |= keep
    # the published quantiles' bounds join the audit as fixed (shown, kept) constants
    for cell, bounds in quantile_bounds(n_sessions, {m: q for m, q in quantiles.items()
                                                     if m not in by_quantile}).items():
        for _, lo, hi in bounds:
            for bound, sign in ((lo, -1.0), (hi, 1.0)):
                names.append(f"bound_{len(names)}")
                values = np.r_[values, float(bound)]
                keep = np.r_[keep, True]
                inequalities.append({pos[cell]: sign, len(names) - 1: -sign})
    shown = np.r_[shown, np.ones(len(names) - len(shown), dtype=bool)]
    small = values < threshold
    free = np.array([(c in UNKNOWN or c in left_out) and values[i] == 0
                     for i, c in enumerate(names)])
    by_mean = False
    if "attendance" in published and "value" in by_name.columns:
        attendance = float(pd.to_numeric(pd.Series([by_name.loc["attendance", "value"]]),
                                         errors="coerce").iloc[0])
        rows = mean_inequalities(pos, attendance, values)
        audited = small & ~keep & ~free
        if rows and audited.any():
            # what the attendance gives with every other count hidden: hiding cannot widen
            # it, so a small count it pins (that the known counts alone leave wide) withholds
            # the attendance itself, as a quantile is withheld
            def pinned(rules: list[dict[int, float]]) -> np.ndarray:
                lo, hi = feasible_ranges(values, ~keep, equations, rules,
                                         cells=np.flatnonzero(audited), free=free,
                                         enough=threshold)
                return audited & (hi - lo < threshold)

            by_mean = bool((pinned([*inequalities, *rows]) & ~pinned(inequalities)).any())
        if not by_mean:
            inequalities += rows
    primary = (shown & small & ~keep) | ~shown
    priority = np.array([1.0 if c == "sessions" else 0.0 for c in names])
    hidden = primary | protect_cells(values, primary, equations, inequalities, threshold,
                                     priority=priority, free=free, keep=keep)
    withheld, hidden_counts = set(by_quantile) | ({"attendance"} if by_mean else set()), set()
    for m in published:
        n_cell, e_cell = CELLS[m]
        if hidden[pos[n_cell]]:
            hidden_counts.add((m, "n"))
        if e_cell is not None and hidden[pos[e_cell]]:
            hidden_counts.add((m, "events"))
        if small[pos[n_cell]] or (e_cell is not None
                                  and (hidden[pos[n_cell]] or hidden[pos[e_cell]])):
            withheld.add(m)
    return Withheld(frozenset(withheld), frozenset(hidden_counts), threshold,
                    population=tuple(population.items()))


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


__all__ = ["CELLS", "LEFT_OUT", "NOTE", "POPULATION", "Withheld", "apply", "population_counts",
           "protect_moments"]
