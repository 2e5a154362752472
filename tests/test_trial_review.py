"""In-silico trials, correct in general: each randomisation unit analysed at its own level,
degenerate designs refused before any replication runs, a replication that leaves a school
arm with one school reported as not estimable, and honest labels for extreme significance
levels. Reference numbers come from formulas computed here, not from srmsim."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import linalg as sla
from scipy import stats as sps

from srmsim.errors import EstimationError, ScenarioError
from srmsim.trial import replicate, trial_from_dict
from srmsim.trial.analyse import estimate
from srmsim.trial.report import summarise
from srmsim.trial.run import RUN_COLUMNS

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _spec(**changes) -> dict:
    spec = {
        "name": "sweep",
        "scenario": "attendance_escalation.yaml",
        "overrides": {"trust.n_schools": 6, "trust.students_per_year_group": 15},
        "randomise": {"unit": "schools"},
        "outcome": "attendance_rate",
        "replications": 2,
        "seed": 3,
    }
    spec.update(changes)
    return spec


def _trial(**changes):
    return trial_from_dict(_spec(**changes), "sweep-trial", SCENARIOS)


# ------------------------------------------------------------------ analysed at the right level
@pytest.mark.parametrize("se", ["hc1", "classical"])
def test_school_randomised_trial_refuses_student_level_standard_errors(se):
    """Schools are the units: an OLS SE over independent students (768 df, SE 0.0064 where
    CR2 gave 0.0106 on the same replication) must not be an option of a cluster trial."""
    with pytest.raises(ScenarioError, match=r"analysis\.se: .*schools are randomised"):
        _trial(analysis={"method": "ols", "se": se})


@pytest.mark.parametrize("analysis, kept", [
    ({"se": "auto"}, ("ols", "auto")), ({"se": "cluster"}, ("ols", "cluster")),
    ({"se": "cr2"}, ("ols", "cr2")),
    # GEE (exchangeable within schools) and the mixed model (a school intercept) model schools
    ({"method": "gee", "se": "classical"}, ("gee", "classical")),
    ({"method": "mixed"}, ("mixed", "classical"))])
def test_school_randomised_trial_keeps_cluster_level_analyses(analysis, kept):
    # (was `se is not None`, which validation makes true of every trial it accepts)
    a = _trial(analysis=analysis).config.analysis
    assert (a.method, a.se) == kept


def test_student_randomised_trial_still_takes_hc1_and_classical():
    for se in ("hc1", "classical"):
        t = _trial(randomise={"unit": "students"}, analysis={"se": se})
        assert t.config.analysis.se == se


# ------------------------------------------------------------------ degenerate designs
def test_stepped_wedge_of_one_step_is_refused_before_running():
    """One step moves every school at once: treatment is the second period itself, so every
    replication failed (group_time: no controls; twfe, mixed: not identified) after running."""
    for method in ("group_time", "twfe", "mixed"):
        with pytest.raises(ScenarioError, match=r"randomise\.steps: 1 step moves every school"):
            _trial(randomise={"unit": "stepped_wedge", "steps": 1, "step_weeks": 9},
                   analysis={"method": method})
    t = _trial(randomise={"unit": "stepped_wedge", "steps": 2, "step_weeks": 9})
    assert t.config.randomise.steps == 2


def test_stepped_wedge_with_a_group_of_one_school_is_refused_for_group_time():
    """5 schools in 3 steps leave a group of one school: every replication's group_time
    estimate had no SE (and so no coverage) after running. twfe and mixed still take it; 6
    schools in 3 steps (groups of 2) run."""
    wedge = {"unit": "stepped_wedge", "steps": 3, "step_weeks": 9}
    small = {"trust.n_schools": 5, "trust.students_per_year_group": 15}
    with pytest.raises(ScenarioError, match=r"randomise\.steps: analysis group_time .* 5 "
                       r"schools in 3 steps leave a group of one; use at most 2 steps, or "
                       r"analysis\.method twfe or mixed"):
        _trial(randomise=wedge, overrides=small)
    with pytest.raises(ScenarioError, match="use a trust of at least 4 schools"):
        _trial(randomise={**wedge, "steps": 2}, overrides={**small, "trust.n_schools": 3})
    for method in ("twfe", "mixed"):
        assert _trial(randomise=wedge, overrides=small,
                      analysis={"method": method}).config.analysis.method == method
    assert _trial(randomise=wedge).config.randomise.steps == 3  # 6 schools


def _school_data(treated_schools: list[int], n_schools: int = 5, seed: int = 0) -> pd.DataFrame:
    """Students of a school-randomised trial as :func:`estimate` reads them."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(n_schools), 12)
    shock = rng.normal(0, 0.03, n_schools)[school]
    arm = np.where(np.isin(school, treated_schools), "treated", "control")
    y = 0.9 + 0.01 * (arm == "treated") + shock + rng.normal(0, 0.02, len(school))
    return pd.DataFrame({"school": school, "arm": arm, "attendance_rate": y,
                         "in_population": True})


@pytest.mark.parametrize("analysis", [{"se": "auto"}, {"se": "cluster"}, {"se": "cr2"},
                                      {"method": "mixed"}])
def test_a_school_arm_left_with_one_school_is_not_estimable(analysis):
    """Randomisation puts 2+ schools in each arm, but the analysed population (flagged
    students, measured outcomes) can leave one: CR1/CR2 then returned an SE from the other
    arm's spread alone (0.03 months for an estimate of 9.6 months) with a warning the
    replication's row never showed."""
    t = _trial(analysis=analysis)
    with pytest.raises(EstimationError, match=r"treated arm has .* in a single school"):
        estimate(t, _school_data([0]), seed=1)
    with pytest.raises(EstimationError, match=r"control arm has .* in a single school"):
        estimate(t, _school_data([0, 1, 2, 3]), seed=1)


def test_replication_whose_flagged_population_leaves_one_control_school_fails_by_name():
    """End to end: a tiny trust screened for reading; replication 8 leaves one control school."""
    t = trial_from_dict({
        "name": "sweep", "scenario": "reading_age.yaml",
        "overrides": {"trust.n_schools": 5, "trust.students_per_year_group": 3,
                      "trust.size_cv": 0.9},
        "randomise": {"unit": "schools", "share_treated": 0.5}, "outcome": "reading_gap_end",
        "population": "flagged", "replications": 30, "seed": 3, "analysis": {"se": "cluster"}},
        "sweep-trial", SCENARIOS)
    with pytest.raises(EstimationError, match="control arm has students in the population "
                       r"\(flagged\) in a single school"):
        replicate(t, 8)


def test_school_trial_analysis_is_cr2_with_bell_mccaffrey_df_computed_by_hand():
    """The default analysis of a school trial with few schools, against CR2 written out:
    A_g = (I - H_gg)^(-1/2), df = tr(G)^2 / ||G||^2 over u_g = (I - H)_g' A_g X_g M c."""
    t = _trial()
    data = _school_data([0, 2, 4], n_schools=6, seed=4)
    got = estimate(t, data, seed=1).row
    y = data["attendance_rate"].to_numpy()
    g = data["school"].to_numpy()
    X = np.column_stack([np.ones(len(y)), (data["arm"] == "treated").to_numpy(float)])
    M = np.linalg.inv(X.T @ X)
    e = y - X @ (M @ X.T @ y)
    H = X @ M @ X.T
    meat, us = np.zeros((2, 2)), []
    for k in np.unique(g):
        i = g == k
        A = np.real(sla.fractional_matrix_power(np.eye(i.sum()) - H[np.ix_(i, i)], -0.5))
        s = X[i].T @ A @ e[i]
        meat += np.outer(s, s)
        us.append((np.eye(len(y)) - H)[i, :].T @ A @ X[i] @ M @ np.array([0.0, 1.0]))
    V = M @ meat @ M
    U = np.array(us) @ np.array(us).T
    df = np.trace(U) ** 2 / np.sum(U**2)
    se = math.sqrt(V[1, 1])
    assert got["se"] == pytest.approx(se, rel=1e-9)
    assert got["df"] == pytest.approx(df, rel=1e-9)
    half = sps.t.ppf(0.975, df) * se
    assert got["ci_high"] - got["ci_low"] == pytest.approx(2 * half, rel=1e-9)


# ------------------------------------------------------------------ labels of extreme levels
def test_a_tiny_alpha_is_not_labelled_a_100_percent_interval():
    """alpha 1e-10 (the smallest a trial takes) printed 'coverage of the 100% CI, nominal
    100%': given_percent's 6 digits rounded 1 - 1e-10 up to 100."""
    runs = pd.DataFrame([{c: math.nan for c in RUN_COLUMNS} for _ in range(3)])
    runs = runs.assign(replication=range(3), seed=1, estimate=[0.1, 0.2, 0.3], se=0.1,
                       ci_low=-1.0, ci_high=1.0, p_value=0.5, true_effect=0.2,
                       covered=True, rejected=False, error="")
    measures = list(summarise(runs, 1e-10)["measure"])
    assert "coverage of the 99.99999999% CI" in measures
    assert not any("100%" in m for m in measures)
    assert "coverage of the 95% CI" in list(summarise(runs, 0.05)["measure"])


# ------------------------------------------------------------------ PowerUp! MDES by formula
@pytest.mark.parametrize("rho,n,J,p,alpha,pw", [(0.17, 15, 20, 0.5, 0.05, 0.8),
                                                (0.05, 60, 8, 0.3, 0.01, 0.9),
                                                (0.3, 4, 40, 0.75, 0.1, 0.6)])
def test_cluster2_mdes_is_the_powerup_formula(rho, n, J, p, alpha, pw):
    from srmsim.stats import mdes

    m = sps.t.ppf(1 - alpha / 2, J - 2) + sps.t.ppf(pw, J - 2)
    want = m * math.sqrt(rho / (p * (1 - p) * J) + (1 - rho) / (p * (1 - p) * J * n))
    got = mdes("cluster2", alpha=alpha, power=pw, rho=rho, n=n, J=J, p=p)
    assert got.df == J - 2
    assert got.mdes == pytest.approx(want, rel=1e-10)
