"""Per-run outcome measures that experiments compare: one number per run each."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from srmsim.results import RunResult


def _mean(col: str) -> Callable[[RunResult], float]:
    return lambda r: float(np.nanmean(r.students[col].to_numpy(dtype=float)))


def _share(col: str) -> Callable[[RunResult], float]:
    def f(r: RunResult) -> float:
        s = r.students[r.students["sessions_possible"] > 0]
        return float(s[col].mean())

    return f


def _group_share(col: str, group: str) -> Callable[[RunResult], float]:
    def f(r: RunResult) -> float:
        s = r.students[(r.students["sessions_possible"] > 0) & r.students[group]]
        return float(s[col].mean()) if len(s) else float("nan")

    return f


def _served(r: RunResult) -> pd.Series:
    return r.students["interventions"] > 0


#: name -> (description, function of a run's results)
OUTCOMES: dict[str, tuple[str, Callable[[RunResult], float]]] = {
    "attendance": ("share of possible sessions attended, trust-wide",
                   lambda r: r.summary["attendance"]),
    "persistent_absence": ("share of students missing 10%+ of sessions", _share("persistent_absent")),
    "persistent_absence_fsm": ("persistent absence among FSM students",
                               _group_share("persistent_absent", "fsm")),
    "severe_absence": ("share of students missing 50%+ of sessions", _share("severe_absent")),
    "reading_gap_end": ("mean reading gap at the last test, months", _mean("reading_gap_end")),
    "reading_behind_2y": ("share of students whose last reading gap is below -24 months",
                          lambda r: float((r.students["reading_gap_end"] < -24).mean())),
    "attainment": ("mean attainment, SD units", _mean("attainment")),
    "exam_score": ("mean exam score of leavers, SD units", _mean("exam_score")),
    "withdrawal": ("share of students who withdrew", lambda r: float(r.students["withdrawn"].mean())),
    "incidents": ("behaviour incidents per student", _mean("incidents")),
    "referrals": ("students referred to a workflow (flagged) per 100 students",
                  lambda r: 100 * float((r.events["event"] == "flagged").sum())
                  / max(len(r.students), 1) if r.events is not None else 0.0),
    "interventions": ("actions started per 100 students",
                      lambda r: 100 * float(r.students["interventions"].mean())),
    "students_served": ("share of students who received any action",
                        lambda r: float(_served(r).mean())),
    "weeks_waited": ("mean weeks queued per student served",
                     lambda r: float(r.students.loc[_served(r), "weeks_waited"].mean())
                     if _served(r).any() else 0.0),
    "staff_hours": ("staff hours used, trust-wide", lambda r: r.summary["staff_hours"]),
    "cost": ("cost of actions, trust-wide", lambda r: r.summary["cost"]),
}


def _learning() -> None:
    """The learning loop's outcomes (regret, oracle match, gains per staff hour, by term)."""
    from srmsim.experiment.learning import learning_outcomes

    OUTCOMES.update(learning_outcomes())


_learning()


def measure(result: RunResult, names: list[str]) -> dict[str, float]:
    return {name: OUTCOMES[name][1](result) for name in names}
