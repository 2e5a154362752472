"""The minimum detectable effect size (MDES) a trial's design has, and its analytic power at the
simulated true effect, from the simulation itself.

Known truths: a two-arm trial of n students (difference of two means, SD 1) has SE
sqrt(4 / n) and df n - 2, so its MDES is PowerUp!'s ``mdes("individual", n=n)``; a design whose
true effect is its MDES rejects 80% of the time; the noncentral-t power at the true effect
agrees with the simulated rejection rate. The synthetic trials here are those textbook designs
drawn directly (thousands of replications in milliseconds); the simulator's own trials check
the rows are what the simulation's estimates, df and counterfactual outcomes give, and are
printed, written and reported.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from srmsim import stats
from srmsim.errors import DataError
from srmsim.stats._inference import wilson
from srmsim.stats.designs import mdes_from_se, power_from_se
from srmsim.trial import run_trial, trial_from_dict
from srmsim.trial.report import (
    ANALYTIC_POWER,
    MDES_SD,
    format_summary,
    summarise,
    summary_units,
)
from srmsim.trial.run import RUN_COLUMNS

pytestmark = pytest.mark.xdist_group("trial")

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
MDES_ROW = "MDES (80% power, two-sided p < 0.05)"


def two_arm_runs(effect: float, n: int = 100, reps: int = 4000, seed: int = 1,
                 sd: float = 1.0) -> pd.DataFrame:
    """``reps`` replications of a two-arm trial of ``n`` students (n/2 an arm, outcome SD
    ``sd``) analysed by the pooled two-sample t test, as trial_runs.csv rows."""
    rng = np.random.default_rng(seed)
    half = n // 2
    control = rng.normal(0.0, sd, (reps, half))
    treated_untreated = rng.normal(0.0, sd, (reps, half))  # the treated arm without the policy
    treated = treated_untreated + effect
    est = treated.mean(1) - control.mean(1)
    pooled = np.sqrt((treated.var(1, ddof=1) + control.var(1, ddof=1)) / 2)
    se = pooled * math.sqrt(2 / half)
    df = float(n - 2)
    t1 = sps.t.isf(0.025, df)
    p = 2 * sps.t.sf(np.abs(est / se), df)
    untreated = np.concatenate([control, treated_untreated], axis=1)
    rows = pd.DataFrame({c: 0.0 for c in RUN_COLUMNS}, index=range(reps))
    rows = rows.assign(
        replication=np.arange(reps), seed=np.arange(reps), estimate=est, se=se,
        ci_low=est - t1 * se, ci_high=est + t1 * se, p_value=p, df=df, true_effect=effect,
        true_effect_served=effect, covered=(est - t1 * se <= effect) & (effect <= est + t1 * se),
        rejected=p < 0.05, naive=np.nan, naive_truth=np.nan, error="",
        outcome_sd=untreated.std(1, ddof=1))
    return rows[RUN_COLUMNS]


def rows_of(summary: pd.DataFrame) -> pd.DataFrame:
    return summary.set_index("measure")


# ------------------------------------------------------------------ known truth
def test_mdes_of_a_two_arm_trial_is_the_textbook_value() -> None:
    """100 students, SD 1: SE 0.2, df 98, MDES (t(.975, 98) + t(.8, 98)) x 0.2 = 0.566 SD,
    PowerUp!'s IRA figure; the simulation's MDES (from 4,000 replications' estimates) matches
    it within its Monte-Carlo interval, in the outcome's unit and in SDs."""
    textbook = (sps.t.isf(0.025, 98) + sps.t.ppf(0.8, 98)) * math.sqrt(1 / 50 + 1 / 50)
    assert stats.mdes("individual", n=100).mdes == pytest.approx(textbook, rel=1e-12)
    for sd in (1.0, 7.5):  # in the outcome's unit, and standardised by its SD
        s = rows_of(summarise(two_arm_runs(0.0, sd=sd)))
        row, z = s.loc[MDES_ROW], s.loc[MDES_SD]
        assert row["ci_low"] < textbook * sd < row["ci_high"]
        assert row["value"] == pytest.approx(textbook * sd, rel=0.04)  # MC SE of an SD: 1.1%
        assert z["ci_low"] < textbook < z["ci_high"]
        assert z["value"] == pytest.approx(textbook, rel=0.04)
        assert "df 98 (median)" in row["note"] and "4000 replications" in row["note"]


def test_a_large_df_is_written_out_in_the_mdes_note() -> None:
    """A trial of 1,312 students has df 1,310: the note says so in plain figures, not in the
    scientific notation of a format's three significant figures ("1.31e+03")."""
    row = rows_of(summarise(two_arm_runs(0.0, n=1312, reps=200))).loc[MDES_ROW]
    assert "df 1,310 (median)" in row["note"], row["note"]


def test_a_true_effect_of_the_mdes_is_detected_80_percent_of_the_time() -> None:
    """Draw the design once at no effect to read its MDES, then again with that MDES as the true
    effect: the t test rejects about 80% (Wilson interval), and the analytic power at it is 80%."""
    mdes = rows_of(summarise(two_arm_runs(0.0, seed=2))).loc[MDES_ROW, "value"]
    s = rows_of(summarise(two_arm_runs(mdes, seed=3)))
    rej = s.loc["rejection rate (p < 0.05)"]
    assert rej["ci_low"] < 0.8 < rej["ci_high"], rej
    power = s.loc[ANALYTIC_POWER]
    assert power["ci_low"] < 0.8 < power["ci_high"]
    assert power["value"] == pytest.approx(0.8, abs=0.03)


@pytest.mark.parametrize("effect", [0.0, 0.2, 0.35, 0.6])
def test_analytic_power_agrees_with_the_simulated_rejection_rate(effect: float) -> None:
    """At no effect the analytic power is the test's size, 5%; elsewhere the noncentral t at
    the true effect lies in the Wilson interval of the rejections."""
    s = rows_of(summarise(two_arm_runs(effect, reps=3000, seed=4)))
    rej, power = s.loc["rejection rate (p < 0.05)"], s.loc[ANALYTIC_POWER]
    assert rej["ci_low"] < power["value"] < rej["ci_high"], (rej, power)
    if effect == 0:
        assert power["value"] == pytest.approx(0.05, abs=1e-12)
    assert power["value"] == pytest.approx(
        stats.power("individual", effect, n=100).power, abs=0.03)


def test_the_se_is_the_spread_of_the_estimates_not_the_reported_se() -> None:
    """An analysis whose reported SEs run at half the estimates' spread rejects too often; the
    MDES stays the design's (from the spread), so the analytic power shows the real one."""
    runs = two_arm_runs(0.0, seed=5)
    honest = rows_of(summarise(runs)).loc[MDES_ROW, "value"]
    runs["se"] = runs["se"] / 2
    assert rows_of(summarise(runs)).loc[MDES_ROW, "value"] == honest


def test_a_true_effect_that_varies_between_replications_does_not_widen_the_mdes() -> None:
    """Where each replication's true effect differs (other students flagged and served), the
    estimates spread with it; the estimator's error does not, and the MDES is the error's
    (trial_reading.yaml: SD of the estimates 0.97 months, of their errors 0.45)."""
    runs = two_arm_runs(0.0, seed=6)
    shift = np.random.default_rng(7).normal(0.5, 0.4, len(runs))
    moved = runs.assign(estimate=runs["estimate"] + shift, true_effect=shift)
    honest = rows_of(summarise(runs)).loc[MDES_ROW, "value"]
    assert rows_of(summarise(moved)).loc[MDES_ROW, "value"] == pytest.approx(honest, rel=1e-9)
    assert float(np.std(moved["estimate"], ddof=1)) > 1.3 * float(np.std(runs["estimate"],
                                                                        ddof=1))


# ------------------------------------------------------------------ the formula, reused
def test_mdes_and_power_from_se_are_powerups_formula() -> None:
    r = stats.mdes("cluster2", rho=0.17, n=15, J=20)
    assert mdes_from_se(r.se, r.df) == pytest.approx(r.mdes, rel=1e-12)
    p = stats.power("cluster2", 0.25, rho=0.2, n=20, J=40)
    assert power_from_se(0.25, p.se, p.df) == pytest.approx(p.power, rel=1e-12)
    # a normal reference (df inf): z(.975) + z(.8) = 2.8016 SEs
    assert mdes_from_se(1.0, math.inf) == pytest.approx(2.8016, abs=1e-4)
    assert power_from_se(2.8016, 1.0, math.inf) == pytest.approx(0.8, abs=1e-4)
    for se, df in ((0.0, 10.0), (-1.0, 10.0), (1.0, math.nan), (1.0, 0.0), (math.inf, 5.0)):
        with pytest.raises(DataError):
            mdes_from_se(se, df)


def test_rows_sit_after_the_rejection_rate_with_units() -> None:
    s = summarise(two_arm_runs(0.3, reps=50))
    measures = list(s["measure"])
    at = measures.index("rejection rate (p < 0.05)")
    assert measures[at + 1: at + 4] == [MDES_ROW, MDES_SD, ANALYTIC_POWER]
    units = dict(zip(measures, summary_units(s, "share"), strict=True))
    assert units[MDES_ROW] == "share (0 to 1)"
    assert units[MDES_SD] == "outcome standard deviations"
    assert units[ANALYTIC_POWER] == "probability (0 to 1)"
    printed = format_summary(s, "share")
    line = next(x for x in printed.splitlines() if x.startswith("MDES (80%"))
    assert re.search(r"MDES \(80% power, two-sided p < 0.05\) +\d+(\.\d+)? pp", line), line


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the RMSE row's
def test_without_variation_or_df_the_rows_say_why() -> None:
    runs = two_arm_runs(0.3, reps=20)
    flat = runs.assign(estimate=1.0, true_effect=0.5)
    s = rows_of(summarise(flat))
    assert math.isnan(s.loc[MDES_ROW, "value"])
    assert s.loc[MDES_ROW, "note"] == "not computable: the estimates' errors do not vary"
    s = rows_of(summarise(runs.assign(df=np.nan)))
    assert s.loc[ANALYTIC_POWER, "note"] == "not computable: no replication recorded its df"
    # errors too large for double precision, an alpha past its quantiles: said, not raised
    s = rows_of(summarise(runs.assign(estimate=1e300 * np.arange(20.0), true_effect=0.0)))
    assert s.loc[MDES_ROW, "note"] == "not computable: the estimates' errors overflow"
    # (the runs as analysed at that alpha: no p-value is below it)
    s = rows_of(summarise(runs.assign(estimate=runs["estimate"] * 1e153, df=2.0,
                                      rejected=runs["p_value"] < 1e-320),
                          alpha=1e-320))  # t(1 - alpha/2, 2) = 1e160: MDES 1e313
    assert s.loc[ANALYTIC_POWER, "note"].startswith("not computable: the MDES cannot be")
    # an older srmsim's rows have no outcome SD: no standardised row, the others as before
    s = rows_of(summarise(runs.drop(columns="outcome_sd")))
    assert MDES_SD not in s.index and math.isfinite(s.loc[MDES_ROW, "value"])


def test_median_df_is_used() -> None:
    """Bell-McCaffrey df differ by replication: the median, not the mean, of them."""
    runs = two_arm_runs(0.0, reps=200)
    runs["df"] = np.where(np.arange(200) % 4 == 0, 2.0, 40.0)  # mean 30.5, median 40
    s = rows_of(summarise(runs))
    sd = float(np.std(runs["estimate"] - runs["true_effect"], ddof=1))
    assert s.loc[MDES_ROW, "value"] == pytest.approx(mdes_from_se(sd, 40.0), rel=1e-12)


# ------------------------------------------------------------------ the simulator's trials
def cluster_spec(replications: int = 6) -> dict:
    return {
        "name": "cluster_mdes",
        "scenario": "attendance_escalation.yaml",
        "overrides": {"trust.n_schools": 8, "trust.students_per_year_group": 16},
        "randomise": {"unit": "schools"},
        "outcome": "attendance_rate",
        "baseline": "prior_attainment",
        "replications": replications,
        "seed": 17,
    }


@pytest.fixture(scope="module")
def cluster_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("mdes") / "trial"
    trial = trial_from_dict(cluster_spec(), "test-trial", SCENARIOS)
    return run_trial(trial, out=out, report=True, subgroups=False), out


@pytest.mark.once
def test_a_simulated_trial_reports_its_mdes_from_its_own_replications(cluster_result) -> None:
    result, out = cluster_result
    runs = result.runs
    assert runs["outcome_sd"].notna().all() and (runs["outcome_sd"] > 0).all()
    s = rows_of(result.summary)
    sd = float(np.std(runs["estimate"] - runs["true_effect"], ddof=1))
    assert sd == pytest.approx(s.loc["SD of (estimate - truth)", "value"], rel=1e-12)
    df = float(np.median(runs["df"]))
    assert s.loc[MDES_ROW, "value"] == pytest.approx(mdes_from_se(sd, df), rel=1e-12)
    assert s.loc[MDES_SD, "value"] == pytest.approx(
        s.loc[MDES_ROW, "value"] / runs["outcome_sd"].mean(), rel=1e-12)
    assert s.loc[ANALYTIC_POWER, "value"] == pytest.approx(
        power_from_se(float(runs["true_effect"].mean()), sd, df), rel=1e-12)
    assert "MDES (80% power" in str(result)
    written = pd.read_csv(out / "trial_summary.csv").set_index("measure")
    assert written.loc[MDES_SD, "unit"] == "outcome standard deviations"
    assert written.loc[MDES_ROW, "value"] == pytest.approx(s.loc[MDES_ROW, "value"], rel=1e-9)
    assert "outcome_sd" in pd.read_csv(out / "trial_runs.csv").columns
    html = (out / "report.html").read_text()
    assert "minimum detectable effect" in html and "analytic power" in html


def test_outcome_sd_is_the_counterfactual_outcomes_sd_among_those_analysed() -> None:
    from srmsim.trial import replicate

    trial = trial_from_dict(cluster_spec(), "test-trial", SCENARIOS)
    rep = replicate(trial, 0, subgroups=False)
    y = rep.analysed["attendance_rate_counterfactual"].dropna()
    assert rep.row["outcome_sd"] == pytest.approx(float(y.std(ddof=1)), rel=1e-12)
    # not the trial run's outcomes (the treated arm's moved)
    assert rep.row["outcome_sd"] != pytest.approx(
        float(rep.analysed["attendance_rate"].std(ddof=1)), rel=1e-12)


def test_an_older_stores_rows_without_outcome_sd_still_resume() -> None:
    from srmsim.trial.store import row_problem

    runs = two_arm_runs(0.3, reps=1)
    assert row_problem(runs.drop(columns="outcome_sd"), 0.05) is None
    assert "not a finite number" in row_problem(runs.assign(outcome_sd=math.inf), 0.05)
    assert "below 0" in row_problem(runs.assign(outcome_sd=-1.0), 0.05)


def reading_at_its_mdes(replications: int):
    """trial_reading_null.yaml (4 schools of 80 a year group, students randomised within
    schools, screened) with its reading workflow's effects at 0.255 of the catalogue's: a true
    effect of about +3.3 months, about this design's MDES (3.16 months over 400 replications)."""
    import yaml

    spec = yaml.safe_load((REPO / "experiments" / "trial_reading_null.yaml").read_text())
    for action, reading in (("reading_club", 6.0), ("parent_reading_at_home", 4.0),
                            ("extra_teacher_support", 3.0)):
        spec["overrides"][f"policy.actions.{action}.effect"] = {"reading": 0.255 * reading,
                                                                "attainment": 0.0}
    spec["replications"] = replications
    return run_trial(trial_from_dict(spec, "test-trial", REPO / "experiments"), subgroups=False)


def check_at_mdes(result, within: float | None = None) -> None:
    s = rows_of(result.summary)
    truth, mdes = s.loc["mean true effect (ITT)", "value"], s.loc[MDES_ROW]
    assert mdes["ci_low"] < truth < mdes["ci_high"], (truth, mdes)  # the design at its MDES
    rej, power = s.loc["rejection rate (p < 0.05)"], s.loc[ANALYTIC_POWER]
    assert rej["ci_low"] < 0.8 < rej["ci_high"], rej
    assert rej["ci_low"] < power["value"] < rej["ci_high"], (rej, power)
    if within is not None:
        assert abs(rej["value"] - 0.8) < within


@pytest.mark.once
def test_a_simulated_trial_at_its_mdes_rejects_about_80_percent() -> None:
    """60 replications (76.7%, Wilson 64.6-85.6%; the slow version runs 400)."""
    check_at_mdes(reading_at_its_mdes(60))


@pytest.mark.slow
def test_a_simulated_trial_at_its_mdes_rejects_80_percent_over_400_replications() -> None:
    """Seed 23, 400 replications: true +3.28 months, MDES 3.16 (2.95-3.39); rejected 81.2%
    (77.1-84.8%), analytic power 82.8%."""
    check_at_mdes(reading_at_its_mdes(400), within=0.05)


@pytest.mark.slow
def test_shipped_cluster_trial_analytic_power_is_in_its_rejection_interval() -> None:
    """The shipped 20-school attendance trial, 100 replications: the noncentral-t power at its
    true effect lies in the Wilson interval of the simulated rejections, and its MDES is
    several times the true effect."""
    from srmsim.trial import load_trial

    result = run_trial(load_trial(REPO / "experiments" / "trial_attendance_cluster.yaml"),
                       subgroups=False)
    s = rows_of(result.summary)
    rej, power = s.loc["rejection rate (p < 0.05)"], s.loc[ANALYTIC_POWER]
    assert rej["ci_low"] < power["value"] < rej["ci_high"]
    assert s.loc[MDES_ROW, "value"] > 3 * s.loc["mean true effect (ITT)", "value"]
    k = int(round(rej["value"] * 100))
    assert wilson(k, 100) == pytest.approx((rej["ci_low"], rej["ci_high"]))
