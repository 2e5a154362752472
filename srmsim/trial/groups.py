"""What a trial's policy cost and whom it helped, from the simulator's truth.

Each replication runs the trial (policy for the treated arm) and its counterfactual (same seed, no
policy), so for every treated-arm student both outcomes are known. :func:`group_truths` measures
the treated arm in both runs, by FSM/SEN/EAL and school, with the outcome registry; over
replications :func:`truth_effects` turns that into paired effects with 95% simulation intervals,
exactly as an experiment compares a variant with its baseline (:mod:`srmsim.experiment.compare`).

The treated arm is every student the assignment allowed the policy to refer, whether or not the
trial's analysis includes them (a screened population is a subset); the cost is what the trial
run spent, all of it on that arm (control students are never referred), so cost per unit of an
outcome sets the whole cost against the whole gain.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from srmsim.experiment.outcomes import OUTCOMES, Cohort, Outcome, measure, measure_groups

#: outcomes measured in both runs of every replication (the last three are resources and reach)
TRUTH_OUTCOMES = ("attendance", "persistent_absence", "reading_gap_end", "reading_behind_2y",
                  "attainment", "students_served", "staff_hours", "cost")


def _mean_student_attendance(c: Cohort) -> float:
    """Mean over students with sessions of each one's share attended: the trial's ITT on
    attendance_rate averages students, so the rows printed beside it do too (the registry's
    pooled share weights a full-year student over a mid-year joiner, and differs from it)."""
    s = c.attending
    if not len(s):
        return float("nan")
    return float((s["sessions_attended"].to_numpy(dtype=float)
                  / s["sessions_possible"].to_numpy(dtype=float)).mean())


#: the trial's attendance: each student's rate, averaged (not the experiments' pooled share)
ATTENDANCE = Outcome("attendance", "Attendance (mean of students' rates)", "share", "higher",
                     _mean_student_attendance,
                     "mean over students of each one's share of possible sessions attended, as "
                     "the trial's effect on attendance_rate averages them",
                     columns=("sessions_possible", "sessions_attended"))


def truth_outcome(name: str) -> Outcome:
    """The entry a trial's group rows measure ``name`` with: the registry's, but attendance
    as the mean of students' rates (:data:`ATTENDANCE`)."""
    return ATTENDANCE if name == "attendance" else OUTCOMES[name]


#: the treated arm as a whole, the trial's "trust" row
ALL = "all treated-arm students"
#: names of the two runs, as variant and baseline of the effects table
WITH, WITHOUT = "with the policy", "without the policy"
COLUMNS = ["group", "outcome", "trial", "counterfactual", "students"]


def group_truths(trial_students: pd.DataFrame, cf_students: pd.DataFrame,
                 treated: np.ndarray) -> pd.DataFrame:
    """One replication: each outcome of the treated arm in the trial run and the counterfactual,
    for the whole arm and by FSM/SEN/EAL and school (rows ``group, outcome, trial,
    counterfactual, students``). Both frames hold the same students in the same order."""
    treated = np.asarray(treated, dtype=bool)
    frames = []
    for column, students in (("trial", trial_students), ("counterfactual", cf_students)):
        run = SimpleNamespace(students=students[treated], events=None)
        entries = [truth_outcome(o) for o in TRUTH_OUTCOMES]
        whole = measure(run, entries, Cohort(run.students))
        rows = pd.DataFrame({"group": ALL, "outcome": list(whole), "value": list(whole.values()),
                             "students": len(run.students)})
        groups = measure_groups(run, entries)
        frames.append(pd.concat([rows, groups], ignore_index=True)
                      .rename(columns={"value": column}))
    out = frames[0].copy()
    out["counterfactual"] = frames[1]["counterfactual"].to_numpy()
    return out[COLUMNS]


def collect(rows: list[dict[str, Any]], key: str = "_groups",
            columns: list[str] = COLUMNS) -> pd.DataFrame | None:
    """The ``key`` tables (of ``columns``) of finished replication rows, one long table with a
    ``replication`` column; None when no row carries one."""
    frames = [r[key].assign(replication=r["replication"]) for r in rows
              if isinstance(r.get(key), pd.DataFrame)]
    if not frames:
        return None
    out = pd.concat(frames, ignore_index=True)
    return out[["replication", *columns]].sort_values(["replication"], kind="stable"
                                                      ).reset_index(drop=True)


def truth_effects(groups: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Paired effects (trial minus counterfactual) over replications, per group: the columns of
    ``effects.csv`` with a leading ``group`` column; ``students`` is the group's mean size."""
    from srmsim.experiment.compare import compare_frame

    frames = []
    for group, g in groups.groupby("group", sort=False):
        wide = {}
        for name, column in ((WITH, "trial"), (WITHOUT, "counterfactual")):
            w = g.pivot_table(index="replication", columns="outcome", values=column,
                              aggfunc="first", dropna=False).reset_index()
            w.insert(0, "variant", name)
            wide[name] = w
        runs = pd.concat(wide.values(), ignore_index=True)
        outcomes = [o for o in TRUTH_OUTCOMES if o in runs.columns]
        eff = compare_frame(runs, WITHOUT, outcomes, level, order=[WITHOUT, WITH])
        eff.insert(0, "group", group)
        eff["students"] = float(g.groupby("replication")["students"].first().mean())
        frames.append(eff)
    return pd.concat(frames, ignore_index=True)
