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

from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from srmsim.experiment.outcomes import (
    OUTCOMES,
    RESOURCES,
    Cohort,
    Outcome,
    fewest_of_a_kind,
    measure,
    measure_groups,
    student_action_weeks,
)

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
#: the numbers of a group row, any of which real records may withhold
NUMBERS = ("trial", "counterfactual", "students")
#: the column naming a row's numbers withheld from real records ("trial counterfactual
#: students", "" for none): a blank it does not name was not measured. It says no more than
#: the blank itself (that the value is not shown), only why. trial_groups.csv of an older
#: srmsim has none: its blanks are all withheld from records, the report's reading then.
WITHHELD_COLUMN = "withheld"
#: the group detail's columns, as a replication keeps them and trial_groups.csv writes them
DETAIL_COLUMNS = [*COLUMNS, WITHHELD_COLUMN]


def withheld_text(marked: pd.DataFrame) -> list[str]:
    """Each row's :data:`WITHHELD_COLUMN`: the names of its :data:`NUMBERS` ``marked`` (a
    boolean frame of those columns) as withheld, space-separated."""
    return [" ".join(c for c, hit in zip(NUMBERS, row, strict=True) if hit)
            for row in marked[list(NUMBERS)].to_numpy(dtype=bool)]


def withheld_cells(table: pd.DataFrame, records: bool = True) -> pd.DataFrame:
    """Which of ``table``'s :data:`NUMBERS` were withheld, by its :data:`WITHHELD_COLUMN`; a
    table without it (an older srmsim's) on ``records``: every blank, as withheld."""
    if WITHHELD_COLUMN not in table.columns:
        blank = table[list(NUMBERS)].isna()
        return blank if records else blank & False
    words = table[WITHHELD_COLUMN].astype(object).where(table[WITHHELD_COLUMN].notna(), "")
    names = words.astype(str).str.split()
    return pd.DataFrame({c: names.map(lambda n, c=c: c in n).astype(bool) for c in NUMBERS},
                        index=table.index)


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
    out[WITHHELD_COLUMN] = ""  # a simulated trial withholds nothing
    return out[DETAIL_COLUMNS]


#: the outcomes of :data:`TRUTH_OUTCOMES` that are shares of students, with whom each is a
#: share of (its denominator) and who counts (its numerator), as the registry measures them
SHARE_OUTCOMES: dict[str, tuple[Callable[[pd.DataFrame], np.ndarray],
                                Callable[[pd.DataFrame], np.ndarray]]] = {
    "persistent_absence": (lambda s: (s["sessions_possible"] > 0).to_numpy(),
                           lambda s: s["persistent_absent"].to_numpy(dtype=bool)),
    "reading_behind_2y": (lambda s: s["reading_gap_end"].notna().to_numpy(),
                          lambda s: (s["reading_gap_end"] < -24).to_numpy()),
    "students_served": (lambda s: np.ones(len(s), dtype=bool),
                        lambda s: (s["interventions"] > 0).to_numpy()),
    # not among a trial's group rows; a run report from records shows them (srmsim.report.run)
    "severe_absence": (lambda s: (s["sessions_possible"] > 0).to_numpy(),
                       lambda s: s["severe_absent"].to_numpy(dtype=bool)),
    "withdrawal": (lambda s: np.ones(len(s), dtype=bool),
                   lambda s: s["withdrawn"].to_numpy(dtype=bool)),
}


#: outcomes a run report from records shows that are a rate per student, not a share: the
#: column holding each student's count, and the factor from a count per student to the value
#: (actions started per 100 students): the rate times the group's students is a count
RATE_OUTCOMES: dict[str, tuple[str, float]] = {"interventions": ("interventions", 100.0),
                                               "incidents": ("incidents", 1.0)}


def group_masks(students: pd.DataFrame) -> dict[str, np.ndarray]:
    """The rows of ``students`` in each group of :func:`group_truths`, by its label."""
    from srmsim.experiment.outcomes import GROUPS

    out = {ALL: np.ones(len(students), dtype=bool)}
    for column, yes, no in GROUPS:
        flag = students[column].to_numpy(dtype=bool)
        out[yes], out[no] = flag, ~flag
    school = students["school"].to_numpy()
    for k in np.unique(school):
        out[f"school {int(k)}"] = school == k
    return out


def partitions(groups: pd.Series) -> list[np.ndarray]:
    """The group rows' partitions of the treated arm, as masks over ``groups``: each flag's two
    groups (FSM and not FSM, ...), and the schools together (they add up to the arm)."""
    from srmsim.experiment.outcomes import GROUPS

    labels = groups.astype(str)
    out = [labels.isin([yes, no]).to_numpy() for _, yes, no in GROUPS]
    out.append(labels.str.startswith("school ").to_numpy())
    return out


def under_threshold(values: np.ndarray, threshold: int) -> np.ndarray:
    """Which of ``values`` (counts, NaN for none) are small, by
    :func:`srmsim.suppression_masks`' primary rule (:func:`srmsim.privacy.primary_cells`,
    zeros included), refusing a value that is no count as it does. Why not the whole audit: a
    column with no total has no secondary cells, and withholding asks this many times a table
    (14 ms a call through the audit, microseconds here: benchmarks/withhold.py)."""
    from srmsim.privacy import primary_cells, refuse_non_counts

    cells = np.array(values, dtype=float).reshape(-1)
    refuse_non_counts(cells[:, None], ["count"], range(len(cells)))
    return primary_cells(cells, threshold)


def withhold_small_groups(table: pd.DataFrame, trial_students: pd.DataFrame,
                          cf_students: pd.DataFrame, treated: np.ndarray,
                          analysed: np.ndarray | None = None, all_analysed_ok: bool = False,
                          threshold: int = 10,
                          dearest_week: Mapping[str, float] | None = None,
                          kinds: np.ndarray | None = None) -> pd.DataFrame:
    """One replication's :func:`group_truths` safe to write from real records: no count under
    ``threshold`` follows from it, or from it beside the trial's other files, by arithmetic.

    A group withheld withholds every row of its partition (both groups of a flag, every
    school), counts and outcomes alike, as the subgroup estimates do
    (:mod:`srmsim.trial.subgroups`): the other group's size (or its means beside the whole
    arm's, which weight the two) and the arm's total give the small one's. A group is
    withheld when it has fewer than ``threshold`` students (zero included) or, ``analysed``
    given (which of the trial run's students the analysis used), when the treated-arm
    students of it the analysis left out are: its size here minus its analysed treated
    students in trial_runs.csv (the whole arm) or trial_subgroups.csv (its subgroup) gives
    them (none left out is allowed with ``all_analysed_ok``, a population of every student,
    where it says only that no outcome was missing). A share (the persistently absent, those
    served) is withheld in every row of its partition, and in all rows when the whole arm's
    is, where the students with it or without it are under ``threshold``, as are those it is
    not a share of (without sessions, never tested), or where its group's students times it
    would give such a count (the attacker's reckoning); a share of 0 by construction (nobody
    is served without the policy) is known to everyone and stays. A rate per student
    (:data:`RATE_OUTCOMES`: actions per 100 students, incidents per student) is withheld the
    same way where the count it is of (the actions, the incidents) is under ``threshold``, and
    so are staff hours and cost (a price per action times the actions: with one kind of action
    the hours over one action's give how many) where the actions started are, or the weeks of
    action (a price per week: the hours over one week's give them;
    :func:`srmsim.experiment.outcomes.student_action_weeks` over ``dearest_week``, the run
    summary's: not given, they are not known, and spending is withheld); actions not kept (a
    students table without ``interventions``, or a student's blank) are unknown, withheld
    too (they were taken as many); and where the actions or weeks of some one priced kind of
    action are under ``threshold`` (two kinds priced differently: the hours and the cost give
    each kind's weeks): ``kinds``, the trial run's
    :func:`srmsim.experiment.outcomes.student_kind_counts` (a row for each of
    ``trial_students``; not given, they are not known, and spending is withheld). A share
    nested in another shown for the same group (severe absence in persistent absence,
    :data:`srmsim.experiment.parts.NESTED`: the difference gives the pupils between) is
    withheld where the pupils between, or any of the pair's parts, are 1 to 9. A group's value not
    measured where the whole arm's is (0 of its students tested) is withheld so too. Each
    row's :data:`WITHHELD_COLUMN` names the numbers withheld, so that a blank it does not name
    reads "not measured"."""
    from srmsim.experiment.parts import NESTED, between

    treated = np.asarray(treated, dtype=bool)
    out = table.copy()
    labels = out["group"].astype(str)
    whole = (labels == ALL).to_numpy()
    numbers = list(NUMBERS)
    marked = pd.DataFrame(False, index=out.index, columns=numbers)  # the cells withheld
    small = under_threshold(out["students"].to_numpy(dtype=float), threshold)
    if analysed is not None:
        masks = group_masks(trial_students[treated])
        used = np.asarray(analysed, dtype=bool)[treated]
        # a school's analysed students are printed nowhere: only the arm's and its flags'
        left = {g: float((m & ~used).sum()) for g, m in masks.items()
                if not g.startswith("school ")}
        left_out = labels.map(left).to_numpy(dtype=float)
        few = under_threshold(left_out, threshold)
        if all_analysed_ok:
            few &= left_out != 0
        small |= few
    if (small & whole).any():  # the whole arm: nothing of this replication is written
        out[numbers] = np.nan
        out[WITHHELD_COLUMN] = withheld_text(marked | True)
        return out
    for part in partitions(labels):
        if (small & part).any():
            out.loc[part, numbers] = np.nan
            marked.loc[part, numbers] = True
    for column, students in (("trial", trial_students), ("counterfactual", cf_students)):
        arm = students[treated]
        masks = group_masks(arm)
        hide = np.zeros(len(out), dtype=bool)
        for outcome, (base, hit) in SHARE_OUTCOMES.items():
            rows = (out["outcome"] == outcome).to_numpy()
            if not rows.any():
                continue
            of, yes = base(arm), hit(arm)
            share = out[column].to_numpy(dtype=float)
            size = out["students"].to_numpy(dtype=float)
            counts = []
            for i in np.flatnonzero(rows):
                m = masks.get(labels.iloc[i])
                if m is None or not np.isfinite(share[i]):
                    continue
                if column == "counterfactual" and outcome == "students_served" \
                        and share[i] == 0:
                    continue  # without the policy nobody is served: known to everyone
                k, d = float((m & of & yes).sum()), float((m & of).sum())
                guess = np.rint(share[i] * size[i])
                counts.append((i, [k, d - k, size[i] - d, guess, size[i] - guess]))
            if not counts:
                continue
            flat = np.array([c for _, cs in counts for c in cs], dtype=float)
            under = under_threshold(flat, threshold).reshape(len(counts), 5)
            # all of the group counted (all have sessions, all tested): as an export complete
            under[:, 2] &= flat.reshape(len(counts), 5)[:, 2] != 0
            for (i, _), u in zip(counts, under, strict=True):
                hide[i] |= bool(u.any())
        for inner, outer in NESTED.items():  # the outer share less the inner: those between
            rows = (out["outcome"] == inner).to_numpy()
            if not rows.any() or not (out["outcome"] == outer).any():
                continue
            for i in np.flatnonzero(rows):
                m = masks.get(labels.iloc[i])
                if m is None or not np.isfinite(out[column].iloc[i]):
                    continue
                fewest, _ = between(Cohort(arm[m]), (inner, outer))
                hide[i] |= bool(under_threshold(np.array([fewest]), threshold).any())
        for outcome, (count_column, per) in RATE_OUTCOMES.items():
            rows = (out["outcome"] == outcome).to_numpy()
            if not rows.any() or count_column not in arm.columns:
                continue
            rate = out[column].to_numpy(dtype=float)
            size = out["students"].to_numpy(dtype=float)
            each = arm[count_column].to_numpy(dtype=float)
            for i in np.flatnonzero(rows):
                m = masks.get(labels.iloc[i])
                if m is None or not np.isfinite(rate[i]):
                    continue
                if column == "counterfactual" and outcome == "interventions" and rate[i] == 0:
                    continue  # no action without the policy: known to everyone
                counts_here = [float(np.nansum(each[m])), float(np.rint(rate[i] * size[i] / per))]
                hide[i] |= bool(under_threshold(np.array(counts_here), threshold).any())
        for outcome in RESOURCES:  # a price per action times the actions: theirs counted
            rows = (out["outcome"] == outcome).to_numpy()
            if not rows.any():
                continue
            value = out[column].to_numpy(dtype=float)
            each = (arm["interventions"].to_numpy(dtype=float)
                    if "interventions" in arm.columns else None)
            weeks = student_action_weeks(arm, dearest_week)  # NaN: not known, withheld
            # each kind's actions and weeks: only the trial run's are kept (NaN: withheld)
            by_kind = (np.asarray(kinds, dtype=float)[treated]
                       if kinds is not None and column == "trial" else None)
            for i in np.flatnonzero(rows):
                m = masks.get(labels.iloc[i])
                if m is None or not np.isfinite(value[i]):
                    continue
                if column == "counterfactual" and value[i] == 0:
                    continue  # no action without the policy: known to everyone
                # a count not kept (no column, or a student's blank) is unknown: as small
                actions = float(np.sum(each[m])) if each is not None else np.nan
                w = float(np.round(np.sum(weeks[m]), 6))
                fewest = np.nan if by_kind is None else fewest_of_a_kind(by_kind, m)
                hide[i] |= not np.isfinite(actions) or not np.isfinite(w) or not np.isfinite(
                    fewest) or bool(under_threshold(
                        np.array([actions, np.floor(w), np.floor(fewest)]), threshold).any())
        # a group's value not measured where the arm's is (none of its students tested, say)
        # is a count of 0 of them: withheld with its partition, as a small count is; "not
        # measured" is left only where the whole arm's is too (nobody's)
        value = out[column].to_numpy(dtype=float)
        arm_value = dict(zip(out.loc[whole, "outcome"], value[whole], strict=True))
        measured = np.array([np.isfinite(arm_value.get(o, np.nan)) for o in out["outcome"]],
                            dtype=bool)
        hide |= ~whole & ~np.isfinite(value) & measured & ~marked[column].to_numpy()
        for outcome in out["outcome"][hide].unique():
            same = (out["outcome"] == outcome).to_numpy()
            if (hide & same & whole).any():
                out.loc[same, column] = np.nan
                marked.loc[same, column] = True
                continue
            for part in partitions(labels):
                if (hide & same & part).any():
                    out.loc[same & part, column] = np.nan
                    marked.loc[same & part, column] = True
    out[WITHHELD_COLUMN] = withheld_text(marked)
    return out


def collect(rows: list[dict[str, Any]], key: str = "_groups",
            columns: list[str] = DETAIL_COLUMNS) -> pd.DataFrame | None:
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
