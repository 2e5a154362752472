"""From two runs (trial and counterfactual) to one replication's row: estimate, truth, naive.

The estimate uses the trial run's data alone, as the trust would see it, through the same
:mod:`srmsim.stats` functions a real trial's export would go through. The truth uses what only a
simulator knows: each student's outcome in the counterfactual run (same seed, no policy), which
by common random numbers is exactly what that student would have had untreated.

Estimands, stated once:

- ``true_effect``: mean over the analysed treated-arm students of trial minus counterfactual
  outcome: the sample effect of being *assigned* (intention to treat), whether or not the policy
  reached the student. By randomisation its expectation equals what the trial's comparison of
  arms estimates. In a stepped wedge it is the mean over treated school-periods of the
  school-period's mean effect (each school counts once a period, as in the group-time
  estimator), over the periods in which some school is still untreated: in the last period every
  school is treated, so nothing in the data identifies that period's effect unless the effect is
  assumed constant over time.
- ``true_effect_served``: the same among treated-arm students the policy actually served.
- ``naive``: mean(post - pre) among treated-arm students of the analysed population who were
  served, the before/after a school runs on "its" students. With ``population: flagged`` these
  are the students picked by the screening test, so ``pre`` should be that test. Its own truth, ``naive_truth``, is the effect of the policy on
  ``post`` among those same students; ``naive - naive_truth`` is what regression to the mean and
  everything else that changes over the year add.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from srmsim import calendar
from srmsim.errors import EstimationError, SrmsimError
from srmsim.labels import agree
from srmsim.policy.compiled import CompiledPolicy
from srmsim.policy.profile import ProfileContext
from srmsim.policy.rules import evaluate_rules
from srmsim.results import absence_flags
from srmsim.trial.spec import Trial

CF = "_counterfactual"


# ------------------------------------------------------------------------------- screening
def screening_week(policy: CompiledPolicy, n_weeks: int) -> int:
    """The first run week in which any workflow's trigger is evaluated: nobody is treated yet."""
    for step in range(n_weeks):
        if policy.due_triggers(step % calendar.WEEKS_PER_YEAR):
            return step
    raise ValueError("no trigger is ever evaluated")  # pragma: no cover - cadences cover a year


class _AsOfWeek:
    """The model as the rules saw it during ``week`` (the model has already moved one week on)."""

    def __init__(self, model: Any, week: int):
        self.students = model.students
        self.week_index = week


def screen_flags(model: Any, policy: CompiledPolicy, week: int) -> np.ndarray:
    """uids of the students the policy's triggers flag in ``week``, as the engine would.

    Call it right after ``model.step()`` ran that week, on a run without the policy (nothing
    after the weekly tests changes a profile field then), so the flags are pre-treatment.
    """
    t = model.students
    due = policy.due_triggers(week % calendar.WEEKS_PER_YEAR)
    # _AsOfWeek is a read-only stand-in with the model's attributes that ProfileContext reads
    ctx = ProfileContext(cast(Any, _AsOfWeek(model, week)), policy.config.parameters)
    values = evaluate_rules({n: policy.rules[n] for n in due}, ctx, len(t))
    any_flag = np.zeros(len(t), dtype=bool)
    for f in policy.trigger_flags(due, values, t).values():
        any_flag |= f
    return np.sort(t.uid[any_flag])


# ------------------------------------------------------------------------------- panel
class PanelRecorder:
    """Snapshots at the end of each stepped-wedge period, turned into a student-period panel.

    Attendance is the period's own (sessions attended / possible within the period); level
    outcomes (reading gap, assessment, attainment) are their values at the period's end. A
    student is in a period's rows when they had sessions in it (on roll).
    """

    def __init__(self, outcome: str, step_weeks: int, periods: int):
        self.outcome = outcome
        self.ends = [(p + 1) * step_weeks - 1 for p in range(periods)]
        self.snapshots: list[dict[str, np.ndarray]] = []

    def weeks(self) -> list[int]:
        return list(self.ends)

    def __call__(self, model: Any, week: int) -> None:
        t = model.all_students()
        snap = {"uid": t.uid.copy(), "school": t.school.copy(),
                "possible": t.possible.astype(np.int64), "attended": t.attended.astype(np.int64)}
        if self.outcome == "reading_gap_end":
            snap["value"] = (t.reading_obs - t.reading_obs_age).astype(np.float64)
        elif self.outcome in ("assessment", "attainment"):
            snap["value"] = getattr(t, self.outcome).astype(np.float64)
        order = np.argsort(snap["uid"], kind="stable")
        self.snapshots.append({k: v[order] for k, v in snap.items()})

    def panel(self) -> pd.DataFrame:
        frames = []
        prev_uid = np.zeros(0, dtype=np.int64)
        prev_pos = prev_att = np.zeros(0, dtype=np.int64)
        for period, s in enumerate(self.snapshots):
            pos = np.searchsorted(prev_uid, s["uid"])
            pos = np.minimum(pos, max(len(prev_uid) - 1, 0))
            seen = (prev_uid[pos] == s["uid"]) if len(prev_uid) else np.zeros(len(s["uid"]), bool)
            d_pos = s["possible"] - np.where(seen, prev_pos[pos] if len(prev_pos) else 0, 0)
            d_att = s["attended"] - np.where(seen, prev_att[pos] if len(prev_att) else 0, 0)
            on_roll = d_pos > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                rate = d_att / d_pos
            if self.outcome == "attendance_rate":
                y = rate
            elif self.outcome == "persistent_absent":
                # whole sessions, as students.parquet counts them: 13 missed of 130 is exactly
                # 10%, where 1 - 117/130 in floats is 0.0999... and was not persistent absence
                y = absence_flags(d_pos, d_att)[0].astype(np.float64)
            else:
                y = s["value"]
            frames.append(pd.DataFrame({"uid": s["uid"][on_roll], "school": s["school"][on_roll],
                                        "period": period, self.outcome: y[on_roll]}))
            prev_uid, prev_pos, prev_att = s["uid"], s["possible"], s["attended"]
        return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------- data
def _numeric(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def student_data(trial: Trial, trial_students: pd.DataFrame, cf_students: pd.DataFrame,
                 treated: np.ndarray, flagged: np.ndarray | None) -> pd.DataFrame:
    """One row per student: arm, screening flag, served, and each measure in both runs."""
    c = trial.config
    uid = trial_students["uid"].to_numpy()
    if not np.array_equal(uid, cf_students["uid"].to_numpy()):
        raise AssertionError("trial and counterfactual runs hold different students")
    data = pd.DataFrame({
        "uid": uid,
        "school": trial_students["school"].to_numpy(),
        "arm": np.where(treated, "treated", "control"),
        "flagged": np.isin(uid, flagged) if flagged is not None else np.zeros(len(uid), bool),
        "served": trial_students["interventions"].to_numpy() > 0,
    })
    columns = [c.outcome]
    if c.baseline:
        columns.append(c.baseline)
    if c.naive is not None:
        columns += [c.naive.pre, c.naive.post]
    for col in dict.fromkeys(columns):
        data[col] = _numeric(trial_students[col])
        data[col + CF] = _numeric(cf_students[col])
    in_population = data["flagged"] if c.population == "flagged" else True
    data["in_population"] = in_population
    return data


def panel_data(trial: Trial, panel_trial: pd.DataFrame, panel_cf: pd.DataFrame,
               start_period: np.ndarray, students: pd.DataFrame) -> pd.DataFrame:
    """Student-period rows of a stepped wedge with treatment status and both runs' outcome."""
    y = trial.config.outcome
    cf = panel_cf[["uid", "period", y]].rename(columns={y: y + CF})
    data = panel_trial.merge(cf, on=["uid", "period"], how="left", validate="one_to_one")
    data["start_period"] = start_period[data["school"].to_numpy()]
    data["arm"] = np.where(data["period"] >= data["start_period"], "treated", "control")
    info = students.set_index("uid")[["flagged", "served", "in_population"]]
    data = data.join(info, on="uid")
    return data


# ------------------------------------------------------------------------------- estimate
@dataclass
class Analysis:
    """The analysed rows and the fit, for one replication."""

    data: pd.DataFrame
    result: Any
    row: dict[str, Any]


def _effect_row(est: Any) -> dict[str, Any]:
    e = est.effect()
    return {"estimate": float(e["estimate"]), "se": float(e["se"]), "ci_low": float(e["ci_low"]),
            "ci_high": float(e["ci_high"]), "p_value": float(e["p_value"]), "df": float(e["df"])}


def _require_two_schools_per_arm(analysed: pd.DataFrame, population: str) -> None:
    """Refuse a school-randomised comparison with one school in an arm once the population
    and missing outcomes are taken out (randomisation put 2+ in each): that school's own
    shock cannot be told from the effect, and the cluster-robust SE of the arm was returned
    from the other arm's spread alone (0.03 months for an effect of 9.6), with only a warning
    the replication's row never showed."""
    schools = analysed.groupby("arm")["school"].nunique()
    lone = [arm for arm in ("treated", "control") if schools.get(arm, 0) == 1]
    if lone:
        whom = ("students in the population (flagged)" if population == "flagged"
                else "students with the outcome measured")
        raise EstimationError(
            f"not estimable: the {' and the '.join(lone)} "
            f"{agree(len(lone), 'arm has', 'arms have')} {whom} in a single school, so that "
            "school's own shock cannot be told from the effect and no cluster-robust standard "
            "error exists; schools are the units of this trial and each arm needs 2 or more")


def fit_arms(trial: Trial, analysed: pd.DataFrame, treatment: str = "arm",
             covariates: tuple[str, ...] = (), se: str | None = None) -> Any:
    """The pre-registered comparison of a student- or school-randomised trial on ``analysed``
    (method, standard errors, clustering, school fixed effects and baseline as the trial file
    resolves them): the main analysis, and the same one on a subgroup's rows
    (:mod:`srmsim.trial.subgroups`), so a subgroup is analysed exactly as the trial is.
    ``covariates`` are added after the baseline (a subgroup's interaction model); ``se``
    replaces the file's standard errors (a small subgroup's HC2 in place of HC1)."""
    from srmsim import stats

    c, a = trial.config, trial.config.analysis
    blocked = c.randomise.unit == "students" and c.randomise.block == "school"
    if a.method is None or a.se is None:  # resolved from the design when the trial loads
        raise SrmsimError(f"{trial.source}: analysis.method and analysis.se are unresolved")
    se = a.se if se is None else se
    if se == "auto":  # by the schools this replication analyses (see trial.spec)
        from srmsim.stats._inference import cluster_se_for

        se = cluster_se_for(int(analysed["school"].nunique()))
    cluster = "school" if (a.method != "ols" or se in ("cluster", "cr2")) else None
    fixed = "school" if blocked and a.method == "ols" else None
    return stats.estimate_effect(analysed, c.outcome, treatment, "control", cluster=cluster,
                                 covariates=([c.baseline] if c.baseline else []) + list(covariates),
                                 fixed_effects=fixed, method=a.method, se=se, alpha=a.alpha)


def estimate(trial: Trial, data: pd.DataFrame, seed: int) -> Analysis:
    """Analyse the trial as pre-registered; ``data`` from :func:`student_data` or the panel."""
    from srmsim import stats

    c, a = trial.config, trial.config.analysis
    y = c.outcome
    pop = data[data["in_population"]]
    needed = [y] + ([c.baseline] if c.baseline else [])
    complete = pop[needed].notna().all(axis=1).to_numpy()
    analysed = pop[complete].reset_index(drop=True)
    row: dict[str, Any] = {"n_missing": int((~complete).sum())}
    if c.randomise.unit == "schools":
        _require_two_schools_per_arm(analysed, c.population)
    res: Any  # the fit of whichever estimator the design uses (Analysis.result)
    if c.randomise.unit == "stepped_wedge":
        if a.method == "twfe":
            from srmsim.stats._inference import cluster_se_for

            # as se: auto for schools: CR1 with t(G - 1) rejected a true 0 in 13% of stepped
            # wedges of 4 schools (10% of 6), CR2 with Bell-McCaffrey df below 30 schools
            res = stats.did_twfe(analysed, y, unit="school", time="period",
                                 treated_from="start_period", cluster="school", alpha=a.alpha,
                                 se=cluster_se_for(int(analysed["school"].nunique())))
            row.update(estimate=res.estimate, se=res.se, ci_low=res.ci_low, ci_high=res.ci_high,
                       p_value=res.p_value, df=res.df)
        elif a.method == "group_time":
            with warnings.catch_warnings():
                # bootstrap draws that lose a cohort give empty means; did_group_time notes it
                warnings.filterwarnings("ignore", r"(Mean of empty slice|All-NaN slice)",
                                        RuntimeWarning)
                res = stats.did_group_time(analysed, y, unit="school", time="period",
                                           first_treated="start_period", control="notyet",
                                           n_boot=a.n_boot, seed=seed, alpha=a.alpha)
            o = res.overall
            row.update(estimate=float(o["estimate"]), se=float(o["se"]),
                       ci_low=float(o["ci_low"]), ci_high=float(o["ci_high"]),
                       p_value=float(o["p_value"]), df=float(o["df"]))
        else:
            res = stats.estimate_effect(analysed, y, "arm", "control", cluster="school",
                                        fixed_effects="period", method="mixed",
                                        se="classical", alpha=a.alpha)
            row.update(_effect_row(res))
    else:
        res = fit_arms(trial, analysed)
        row.update(_effect_row(res))
    treated = analysed["arm"] == "treated"
    row.update(n=int(len(analysed)), n_treated=int(treated.sum()),
               n_control=int((~treated).sum()), n_clusters=int(analysed["school"].nunique()))
    return Analysis(analysed, res, row)


def _cell_mean(rows: pd.DataFrame, diff: pd.Series) -> float:
    """Mean over school-periods of the school-period mean effect (each school once a period)."""
    ok = diff.notna().to_numpy()
    if not ok.any():
        return math.nan
    cells = diff[ok].groupby([rows["school"][ok], rows["period"][ok]]).mean()
    return float(cells.mean())


def truths(trial: Trial, analysed: pd.DataFrame, students: pd.DataFrame) -> dict[str, Any]:
    """The true effects of this replication, and the naive before/after with its own truth."""
    c = trial.config
    y = c.outcome
    tr = analysed[analysed["arm"] == "treated"]
    if c.randomise.unit == "stepped_wedge":
        tr = tr[tr["period"] < c.randomise.steps]  # periods with a not-yet-treated school
    diff = tr[y] - tr[y + CF]
    served = tr["served"].to_numpy()
    if c.randomise.unit == "stepped_wedge":
        true, true_served = _cell_mean(tr, diff), _cell_mean(tr[served], diff[served])
    else:
        true = float(diff.mean()) if diff.notna().any() else math.nan
        true_served = float(diff[served].mean()) if diff[served].notna().any() else math.nan
    out: dict[str, Any] = {
        "true_effect": true,
        "true_effect_served": true_served,
        "n_truth_missing": int(diff.isna().sum()),
        "n_served": int(students.loc[(students["arm"] == "treated") & students["served"],
                                     "uid"].nunique()),
    }
    if c.baseline:
        b = analysed[c.baseline] != analysed[c.baseline + CF]
        out["baseline_changed"] = int(b.sum())
    out.update(naive=math.nan, naive_truth=math.nan, n_naive=0)
    if c.naive is not None:
        pre, post = c.naive.pre, c.naive.post
        nv = students[(students["arm"] == "treated") & students["served"]
                      & students["in_population"]]
        ok = nv[[pre, post, post + CF]].notna().all(axis=1)
        nv = nv[ok]
        if len(nv):
            out.update(naive=float((nv[post] - nv[pre]).mean()),
                       naive_truth=float((nv[post] - nv[post + CF]).mean()), n_naive=int(len(nv)))
    return out
