"""Small-cluster review of in-silico trials: honest intervals with few schools.

Coverage studies (500 simulated zero-effect trials per design, 4-10 schools of 20-40 pupils a
year group) found the stepped wedge's ``twfe`` analysis, CR1 with t(G - 1), rejecting a true
effect of 0 in 13% of trials of 4 schools and 10% of 6: its interval was too narrow. It now
uses CR2 with the Bell-McCaffrey df below 30 schools, as a school-randomised trial's
``se: auto`` does, and CR1 with t(G - 1) from 30 (unchanged there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from srmsim import stats
from srmsim.errors import SrmsimError
from srmsim.stats._inference import cr2_sandwich
from srmsim.trial import replicate, trial_from_dict

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _wedge(rng: np.random.Generator, schools: int = 4, periods: int = 4,
           mean_n: float = 12.0) -> pd.DataFrame:
    """A stepped wedge of unequal schools, no effect: school level, school-period shock,
    pupil noise; schools cross over at periods 1, 2, 3 in random order."""
    start = rng.permutation(np.resize([1, 2, 3], schools))
    sizes = np.maximum(2, rng.poisson(mean_n * rng.lognormal(0, 0.6, schools)))
    school = np.repeat(np.arange(schools), sizes * periods)
    period = np.concatenate([np.repeat(np.arange(periods), n) for n in sizes])
    y = (rng.normal(0, 1, schools)[school] + 0.2 * period
         + rng.normal(0, 0.3, (schools, periods))[school, period]
         + rng.normal(0, 1, school.size))
    return pd.DataFrame({"school": school, "period": period, "start": start[school], "y": y})


def _full_design_cr2(df: pd.DataFrame, unit: str, cluster: str) -> tuple[float, float, float]:
    """CR2 of the TWFE coefficient from the dummy regression itself (a column per unit)."""
    D = (df["period"] >= df["start"]).to_numpy(float)
    units = pd.factorize(df[unit])[0]
    periods = pd.factorize(df["period"], sort=True)[0]
    X = np.column_stack([D, np.eye(units.max() + 1)[units],
                         np.eye(periods.max() + 1)[periods][:, 1:]])
    y = df["y"].to_numpy()
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    cov, dfs = cr2_sandwich(X, y - X @ beta, pd.factorize(df[cluster])[0], [0])
    return float(beta[0]), float(np.sqrt(cov[0, 0])), float(dfs[0])


@pytest.mark.parametrize("units", ["school", "pupil"])
def test_twfe_cr2_is_the_dummy_regressions_cr2(units: str) -> None:
    """se="cr2" computes CR2 on the design with unit means removed; with unit effects nested
    in the clusters that is the full dummy design's CR2 and Bell-McCaffrey df (Pustejovsky &
    Tipton 2018), for school units and for pupil units within school clusters alike."""
    rng = np.random.default_rng(7)
    df = _wedge(rng, schools=6, mean_n=5)
    if units == "pupil":  # each pupil in every period, clustered by school
        df["pupil"] = df.groupby(["school", "period"]).cumcount() + 100 * df["school"]
    df = df.sample(frac=0.85, random_state=1).reset_index(drop=True)  # unbalanced
    res = stats.did_twfe(df, "y", units, "period", "start", cluster="school", se="cr2")
    est, se, dof = _full_design_cr2(df, units, "school")
    assert res.estimate == pytest.approx(est, rel=1e-9)
    assert res.se == pytest.approx(se, rel=1e-9)
    assert res.df == pytest.approx(dof, rel=1e-9)
    assert res.df != 5 and res.se_type == "cr2"
    assert "CR2 cluster-robust SE, t with Bell-McCaffrey" in res.summary()
    cr1 = stats.did_twfe(df, "y", units, "period", "start", cluster="school")
    assert cr1.df == 5 and cr1.se_type == "cluster" and "CR1" in cr1.summary()
    with pytest.raises(SrmsimError, match="se='cr3' is not one of"):
        stats.did_twfe(df, "y", units, "period", "start", se="cr3")


@pytest.mark.once
def test_twfe_cr2_holds_the_level_where_cr1_over_rejects() -> None:
    """200 stepped wedges of 4 unequal schools with no effect: CR1 with t(G - 1) rejects about
    14% at the 5% level (the defect), CR2 with Bell-McCaffrey df about 5%."""
    rng = np.random.default_rng(20261205)
    n = 200
    cr1 = cr2 = 0
    for _ in range(n):
        df = _wedge(rng)
        cr1 += stats.did_twfe(df, "y", "school", "period", "start").p_value < 0.05
        cr2 += stats.did_twfe(df, "y", "school", "period", "start", se="cr2").p_value < 0.05
    assert cr2 <= int(sps.binom.isf(0.001, n, 0.05))
    assert cr2 < cr1


def _wedge_trial(schools: int) -> dict:
    return {
        "name": "wedge_twfe",
        "scenario": "attendance_escalation.yaml",
        "overrides": {"trust.n_schools": schools, "trust.students_per_year_group": 20,
                      "trust.year_groups": [7]},
        "randomise": {"unit": "stepped_wedge", "steps": 2, "step_weeks": 13},
        "outcome": "attendance_rate",
        "analysis": {"method": "twfe"},
        "replications": 2,
        "seed": 3,
    }


def test_stepped_wedge_twfe_trial_uses_cr2_below_30_schools() -> None:
    trial = trial_from_dict(_wedge_trial(4), "t", SCENARIOS)
    assert "analysis twfe, se auto: CR2 with Bell-McCaffrey df (4 schools" in trial.describe()
    rep = replicate(trial, 0)
    cr2 = stats.did_twfe(rep.analysed, "attendance_rate", "school", "period", "start_period",
                         se="cr2")
    assert rep.row["df"] == cr2.df != 3
    assert rep.row["se"] == cr2.se and rep.row["ci_low"] == cr2.ci_low
    many = trial_from_dict(_wedge_trial(30), "t", SCENARIOS)
    assert "se auto: CR1 with t(G - 1) (30 schools" in many.describe()


def test_file_chosen_intervals_that_are_too_narrow_with_few_schools_say_so() -> None:
    """A school-randomised trial whose file picks CR1 (se: cluster) or GEE's model-based
    variance (se: classical) with fewer than 30 schools: each rejected a true 0 in 10-15% of
    zero-effect trials of 4-6 schools, and the trial printed only "se cluster"; its description
    (printed by srmsim trial, kept in trial.json) now says the interval is too narrow. The
    defaults and 30 schools are as before."""
    def trial(schools: int, analysis: dict) -> str:
        spec = _wedge_trial(schools) | {"randomise": {"unit": "schools"}, "analysis": analysis}
        return trial_from_dict(spec, "t", SCENARIOS).describe()

    cr1 = trial(6, {"method": "ols", "se": "cluster"})
    assert "se cluster (CR1 with t(G - 1): its interval is too narrow with few schools, " \
        "6 schools here; it rejected a true 0 in 15% of trials of 4 schools" in cr1
    gee = trial(8, {"method": "gee", "se": "classical"})
    assert "se classical (GEE model-based with t(G - 1): its interval is too narrow" in gee
    assert trial(30, {"method": "ols", "se": "cluster"}).endswith("analysis ols, se cluster")
    assert trial(30, {"method": "gee", "se": "classical"}).endswith("se classical")
    assert trial(6, {"method": "gee"}).endswith("analysis gee, se hc1")
    assert "se auto: CR2 with Bell-McCaffrey df (6 schools" in trial(6, {})


@pytest.mark.slow  # 300 zero-effect stepped wedges, a few minutes
def test_stepped_wedge_twfe_trial_of_4_schools_holds_its_level() -> None:
    """The study behind the fix, through run_trial: 4 schools of unequal size, no effect; CR1
    with t(G - 1) rejected about 13%, CR2 with Bell-McCaffrey df about 5%."""
    spec = _wedge_trial(4) | {
        "scenario": "reading_age.yaml", "outcome": "reading_gap_end", "replications": 300,
        "overrides": {"trust.n_schools": 4, "trust.students_per_year_group": 30,
                      "trust.year_groups": [7], "trust.size_cv": 0.5,
                      "policy.actions.reading_club.effect":
                          {"reading": 0.0, "attainment": 0.0, "engagement": 0.0},
                      "policy.actions.parent_reading_at_home.effect":
                          {"reading": 0.0, "attainment": 0.0},
                      "policy.actions.extra_teacher_support.effect":
                          {"reading": 0.0, "attainment": 0.0}}}
    from srmsim.trial import run_trial

    runs = run_trial(trial_from_dict(spec, "t", SCENARIOS), workers=1).runs
    assert (runs["true_effect"] == 0).all() and len(runs) == 300
    assert int(runs["rejected"].sum()) <= int(sps.binom.isf(0.001, 300, 0.05))
