"""In-silico trials: exact counterfactuals, unbiasedness, coverage, nominal type I error, the naive
pre-post estimate fooled by regression to the mean, clear errors, and executor independence.

Fast versions use a trust of a few hundred students and 30-40 replications with binomial or
Monte-Carlo tolerances; ``@pytest.mark.slow`` versions run the same studies with more replications.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps

from srmsim.cli import main
from srmsim.errors import ScenarioError, SrmsimError
from srmsim.trial import load_trial, replicate, run_trial, trial_from_dict

# one worker builds this module's result fixtures once (they would be built on each worker)
pytestmark = pytest.mark.xdist_group("trial")

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"

TINY = {"trust.n_schools": 4, "trust.students_per_year_group": 80}
ZERO_READING = {  # every action of the reading workflow does nothing at all
    "policy.actions.reading_club.effect": {"reading": 0.0, "attainment": 0.0, "engagement": 0.0},
    "policy.actions.parent_reading_at_home.effect": {"reading": 0.0, "attainment": 0.0},
    "policy.actions.extra_teacher_support.effect": {"reading": 0.0, "attainment": 0.0},
}


def reading_trial(replications: int = 30, seed: int = 11, **changes) -> dict:
    """A students-randomised reading trial on the reading_age scenario (a plain mapping)."""
    spec = {
        "name": "reading_test",
        "scenario": "reading_age.yaml",
        "overrides": dict(TINY),
        "randomise": {"unit": "students"},
        "outcome": "reading_gap_end",
        "baseline": "reading_gap_start",
        "population": "flagged",
        "naive": {"pre": "reading_gap_start", "post": "reading_gap_end"},
        "replications": replications,
        "seed": seed,
    }
    for key, value in changes.items():
        spec[key] = value
    return spec


def make(spec: dict, overrides: dict | None = None):
    return trial_from_dict(spec, "test-trial", SCENARIOS, overrides=overrides)


def cluster_trial(replications: int = 30, seed: int = 5) -> dict:
    return {
        "name": "cluster_test",
        "scenario": "trust_attendance_service.yaml",  # school staff first, then a pooled team
        "overrides": {"trust.n_schools": 12, "trust.students_per_year_group": 16},
        "randomise": {"unit": "schools"},
        "outcome": "attendance_rate",
        "baseline": "prior_attainment",
        "naive": {"pre": "attendance_autumn", "post": "attendance_summer"},
        "replications": replications,
        "seed": seed,
    }


def wedge_trial(replications: int = 4, seed: int = 3, method: str = "group_time") -> dict:
    return {
        "name": "wedge_test",
        "scenario": "attendance_escalation.yaml",
        "overrides": {"trust.n_schools": 6, "trust.students_per_year_group": 20},
        "randomise": {"unit": "stepped_wedge", "steps": 3, "step_weeks": 9},
        "outcome": "attendance_rate",
        "analysis": {"method": method, "n_boot": 60} if method == "group_time"
        else {"method": method},
        "replications": replications,
        "seed": seed,
    }


def binomial_upper(n: int, p: float, tail: float = 0.001) -> int:
    """The largest count still plausible under Binomial(n, p) at the given upper-tail level."""
    return int(sps.binom.isf(tail, n, p))


@pytest.fixture(scope="module")
def reading_result():
    return run_trial(make(reading_trial(25)), subgroups=False)


@pytest.fixture(scope="module")
def zero_effect_result():
    return run_trial(make(reading_trial(40, seed=23), overrides=ZERO_READING), subgroups=False)


# ------------------------------------------------------------------ exact counterfactuals
def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    differ = []
    for col in a.columns:
        x, y = a[col].to_numpy(), b[col].to_numpy()
        if x.dtype.kind == "f":
            same = np.array_equal(x, y, equal_nan=True)
        else:
            same = bool((a[col].astype(str).to_numpy() == b[col].astype(str).to_numpy()).all())
        if not same:
            differ.append(col)
    return differ


@pytest.mark.parametrize("spec", [reading_trial(1), cluster_trial(1)],
                         ids=["students_school_staff", "schools_with_pool_staff"])
def test_control_arm_outcomes_are_identical_to_the_counterfactual(spec) -> None:
    rep = replicate(make(spec), 0, subgroups=False)
    control = (rep.students["arm"] == "control").to_numpy()
    assert 0 < control.sum() < len(control)
    a = rep.trial_students[control].reset_index(drop=True)
    b = rep.counterfactual_students[control].reset_index(drop=True)
    assert _frames_equal(a, b) == []  # every column, bit for bit
    assert (a["interventions"] == 0).all()
    treated = ~control
    y = spec["outcome"]
    moved = rep.trial_students.loc[treated, y] != rep.counterfactual_students.loc[treated, y]
    assert moved.any()  # ... while the policy did change treated students


def test_stepped_wedge_periods_before_crossover_match_the_counterfactual() -> None:
    rep = replicate(make(wedge_trial(1)), 0)
    panel = rep.panel
    assert set(panel["period"]) == {0, 1, 2, 3}
    assert sorted(panel.groupby("school")["start_period"].first().value_counts()) == [2, 2, 2]
    before = panel[panel["arm"] == "control"]
    assert np.array_equal(before["attendance_rate"], before["attendance_rate_counterfactual"])
    after = panel[panel["arm"] == "treated"]
    assert (after["attendance_rate"] != after["attendance_rate_counterfactual"]).any()
    # period 0 is everyone's control period
    assert (panel.loc[panel["period"] == 0, "arm"] == "control").all()


def test_screening_flags_are_the_engine_flags_at_its_first_evaluation() -> None:
    """population: flagged uses exactly whom the engine refers at the trigger's first run."""
    from srmsim.model import TrustModel
    from srmsim.policy.compiled import compile_policy
    from srmsim.trial.analyse import screen_flags, screening_week
    from srmsim.trial.run import _drive

    trial = make(cluster_trial(1))
    sc = trial.scenario
    policy = compile_policy(sc.policy)
    week = screening_week(policy, 39)
    assert week == 6  # half-termly rule: end of the first half-term
    model = TrustModel(sc, seed=8)
    model.run()
    events = model.policy.events()
    engine = set(events.loc[(events["event"] == "flagged") & (events["run_week"] == week),
                            "student"])
    cf = TrustModel(trial.counterfactual(), seed=8)
    got: list[np.ndarray] = []
    _drive(cf, {week: [lambda m, w: got.append(screen_flags(m, policy, w))]})
    assert len(got[0]) > 0
    assert set(model.policy.pseudonyms(got[0])) == engine


@pytest.mark.once
def test_assignment_is_balanced_within_schools_and_reproducible() -> None:
    trial = make(reading_trial(2))
    a, b = replicate(trial, 0, subgroups=False), replicate(trial, 0, subgroups=False)
    pd.testing.assert_frame_equal(a.students, b.students)
    assert a.row == b.row
    per_school = a.students.groupby("school")["arm"].apply(lambda s: (s == "treated").mean())
    assert np.allclose(per_school, 0.5, atol=0.02)
    other = replicate(trial, 1, subgroups=False)
    assert not np.array_equal(a.students["arm"], other.students["arm"])


# ------------------------------------------------------------------ statistical behaviour
@pytest.mark.once
def test_students_trial_is_unbiased_and_covers_the_truth(reading_result) -> None:
    runs = reading_result.runs
    assert (runs["error"] == "").all()
    err = runs["estimate"] - runs["true_effect"]
    assert runs["true_effect"].mean() > 3  # months of reading age among screened students
    assert abs(err.mean()) < 4 * err.std(ddof=1) / np.sqrt(len(err))
    covered = int(runs["covered"].sum())
    assert covered >= len(runs) - binomial_upper(len(runs), 0.05)  # at most 5 misses of 25
    assert reading_result.measure("rejection rate") == 1.0


@pytest.mark.once
def test_cluster_trial_with_pooled_staff_covers_the_truth() -> None:
    result = run_trial(make(cluster_trial(16)), subgroups=False)
    runs = result.runs
    assert (runs["error"] == "").all()
    # 12 schools: se auto is CR2 with each replication's Bell-McCaffrey df, below CR1's J - 1
    assert (runs["n_clusters"] == 12).all() and runs["df"].between(6, 11, inclusive="neither").all()
    err = runs["estimate"] - runs["true_effect"]
    assert abs(err.mean()) < 4 * err.std(ddof=1) / np.sqrt(len(err))
    assert int(runs["covered"].sum()) >= len(runs) - binomial_upper(len(runs), 0.05)


def test_cluster_se_is_cr2_below_30_schools_unless_the_file_names_one() -> None:
    """With fewer than 30 schools CR1 with t(J - 1) under-covers (93% for a 95% interval with
    8 schools): the default (se auto) analyses with CR2 and Bell-McCaffrey df, says so in the
    trial's description, and a file that names se: cluster keeps CR1 with t(J - 1)."""
    auto = make(cluster_trial(1))
    assert auto.config.analysis.se == "auto"
    assert "se auto: CR2 with Bell-McCaffrey df (12 schools, fewer than 30" in auto.describe()
    cr2_row = replicate(auto, 0, subgroups=False).row
    assert 6 < cr2_row["df"] < 11
    named = make(cluster_trial(1) | {"analysis": {"se": "cluster"}})
    assert "analysis ols, se cluster (CR1 with t(G - 1): its interval is too narrow with few " \
        "schools, 12 schools here" in named.describe()
    cr1_row = replicate(named, 0, subgroups=False).row
    assert cr1_row["df"] == 11 and cr1_row["estimate"] == cr2_row["estimate"]
    assert cr1_row["se"] < cr2_row["se"]
    explicit = replicate(make(cluster_trial(1) | {"analysis": {"se": "cr2"}}), 0,
                         subgroups=False).row
    assert explicit["df"] == cr2_row["df"] and explicit["se"] == cr2_row["se"]
    many = make(cluster_trial(1) | {"overrides": {"trust.n_schools": 30,
                                                  "trust.students_per_year_group": 16}})
    assert "se auto: CR1 with t(G - 1) (30 schools; CR2 below 30)" in many.describe()


@pytest.mark.slow  # a long study: its faster siblings run by default (CI's budget)
def test_zero_effect_policy_rejects_at_about_the_nominal_rate(zero_effect_result) -> None:
    runs = zero_effect_result.runs
    assert (runs["error"] == "").all()
    assert (runs["true_effect"] == 0).all()  # a policy that does nothing changes nothing
    assert runs["n_served"].min() > 0  # ... although it served students
    rejected = int(runs["rejected"].sum())
    assert rejected <= binomial_upper(len(runs), 0.05)  # <= 7 of 40 (P < 0.001 under 5%)
    est = runs["estimate"]
    assert abs(est.mean()) < 3.5 * est.std(ddof=1) / np.sqrt(len(est))
    assert "type I error" in zero_effect_result.summary.set_index("measure").loc[
        "rejection rate (p < 0.05)", "note"]


def test_naive_pre_post_is_fooled_where_the_randomised_estimate_is_not(zero_effect_result) -> None:
    runs = zero_effect_result.runs
    naive = runs["naive"]
    mcse = naive.std(ddof=1) / np.sqrt(len(naive))
    # students picked for a low, noisy September test score "improve" with no help at all
    assert naive.mean() > 6 * mcse
    assert (runs["naive_truth"] == 0).all()
    est = runs["estimate"]
    assert abs(est.mean()) < 3.5 * est.std(ddof=1) / np.sqrt(len(est))
    assert abs(naive.mean()) > 3 * abs(est.mean())


@pytest.mark.slow
def test_students_trial_operating_characteristics_over_200_replications() -> None:
    result = run_trial(make(reading_trial(200, seed=101)), workers=2, subgroups=False)
    runs = result.runs
    err = runs["estimate"] - runs["true_effect"]
    assert abs(err.mean()) < 3 * err.std(ddof=1) / np.sqrt(len(err))
    coverage = runs["covered"].mean()
    assert 0.91 <= coverage <= 0.99


@pytest.mark.slow
def test_zero_effect_type_one_error_over_400_replications() -> None:
    result = run_trial(make(reading_trial(400, seed=303), overrides=ZERO_READING), workers=2,
                       subgroups=False)
    k = int(result.runs["rejected"].sum())
    lo, hi = sps.binom.ppf(0.001, 400, 0.05), sps.binom.isf(0.001, 400, 0.05)
    assert lo <= k <= hi


@pytest.mark.slow
def test_cluster_trial_coverage_over_200_replications() -> None:
    result = run_trial(make(cluster_trial(200, seed=9)), workers=2, subgroups=False)
    assert 0.88 <= result.runs["covered"].mean() <= 0.99


@pytest.mark.slow
def test_stepped_wedge_group_time_is_unbiased_where_twfe_is_not() -> None:
    bigger = {"trust.n_schools": 12, "trust.students_per_year_group": 40}
    gt = run_trial(make(wedge_trial(60, method="group_time") | {"analysis": {"n_boot": 199}},
                        overrides=bigger), workers=2).runs
    tw = run_trial(make(wedge_trial(60, method="twfe"), overrides=bigger), workers=2).runs
    e_gt, e_tw = gt["estimate"] - gt["true_effect"], tw["estimate"] - tw["true_effect"]
    assert abs(e_gt.mean()) < 3 * e_gt.std(ddof=1) / np.sqrt(len(e_gt))
    assert e_tw.mean() < -3 * e_tw.std(ddof=1) / np.sqrt(len(e_tw))  # TWFE misses the build-up


@pytest.mark.once
def test_stepped_wedge_runs_all_three_analyses() -> None:
    for method in ("group_time", "twfe", "mixed"):
        rep = replicate(make(wedge_trial(1, method=method)), 0)
        row = rep.row
        assert row["error"] == ""
        assert row["n_clusters"] == 6
        assert np.isfinite(row["estimate"]) and row["se"] > 0
        assert row["ci_low"] < row["estimate"] < row["ci_high"]
        assert row["true_effect"] > 0


# ------------------------------------------------------------------ outputs and executors
def test_results_are_identical_whatever_the_executor(reading_result, tmp_path) -> None:
    """Two local processes give the rows one process gave, byte for byte in the CSVs; asking
    for fewer replications gives a prefix of the same rows (seeds do not depend on the count)."""
    from srmsim.trial import TrialResult, summarise
    from srmsim.trial.report import truth_population

    two = run_trial(make(reading_trial(25)), replications=3, workers=2, subgroups=False)
    one_runs = reading_result.runs.iloc[:3].reset_index(drop=True)
    pd.testing.assert_frame_equal(one_runs, two.runs)
    one = TrialResult(two.trial, one_runs,
                      summarise(one_runs, population=truth_population(two.trial.config)))
    one.write(tmp_path / "a")
    two.write(tmp_path / "b")
    for name in ("trial_runs.csv", "trial_summary.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_dask_scheduler_gives_the_same_rows(reading_result) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        dask = run_trial(make(reading_trial(25)), replications=2,
                         scheduler=cluster.scheduler_address, subgroups=False)
    pd.testing.assert_frame_equal(reading_result.runs.iloc[:2].reset_index(drop=True), dask.runs)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels, on a 2-row fit
def test_a_failing_replication_is_recorded_not_fatal(tmp_path, capsys) -> None:
    """An analysis that cannot run (no screened student in one arm) fails that replication
    with its reason; the command reports it and exits 1."""
    spec = reading_trial(2) | {"overrides": {"trust.n_schools": 1,
                                             "trust.students_per_year_group": 2}}
    spec["scenario"] = str(SCENARIOS / "reading_age.yaml")
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["trial", str(path), "--workers", "1", "--out", str(tmp_path / "o"),
                 "--quiet"]) == 1
    printed = capsys.readouterr().out
    assert "2 replications failed:" in printed and "DataError" in printed
    runs = pd.read_csv(tmp_path / "o" / "trial_runs.csv")
    assert (runs["error"].str.len() > 0).all()
    assert (tmp_path / "o" / "trial_failures.json").is_file()


@pytest.mark.once
def test_summary_reports_monte_carlo_uncertainty(reading_result) -> None:
    s = reading_result.summary.set_index("measure")
    runs = reading_result.runs
    assert s.loc["replications", "value"] == 25
    bias = s.loc["bias (estimate - truth)"]
    assert bias["value"] == pytest.approx((runs["estimate"] - runs["true_effect"]).mean())
    assert bias["ci_low"] < bias["value"] < bias["ci_high"]
    cov = s.loc["coverage of the 95% CI"]
    assert cov["value"] == pytest.approx(runs["covered"].mean())
    assert cov["ci_low"] <= cov["value"] <= cov["ci_high"] <= 1
    assert "naive bias (naive - its truth)" in s.index
    n = len(runs)
    assert bias["mcse"] == pytest.approx((runs["estimate"] - runs["true_effect"]).std() / n**0.5)


def test_replications_without_a_ci_are_left_out_of_coverage_and_power() -> None:
    """A stepped wedge whose cohorts have one school each gives no SE: its replications were
    counted as CIs that missed the truth, printing 'coverage 0.0%' for CIs never computed. Rates
    and nominal levels print as percentages ('nominal 0.95' was printed)."""
    from srmsim.trial.report import format_summary, summarise
    from srmsim.trial.run import RUN_COLUMNS

    def runs(ci: list[float]) -> pd.DataFrame:
        rows = [{c: 0.0 for c in RUN_COLUMNS} | {
            "replication": i, "estimate": 1.0, "true_effect": 1.0, "ci_low": lo,
            "ci_high": lo + 2, "p_value": 0.01 if np.isfinite(lo) else np.nan,
            "covered": bool(lo <= 1.0 <= lo + 2), "rejected": bool(np.isfinite(lo)),
            "naive": np.nan, "error": ""} for i, lo in enumerate(ci)]
        return pd.DataFrame(rows, columns=RUN_COLUMNS)

    s = summarise(runs([0.0, 0.5, np.nan, np.nan, np.nan]), alpha=0.025).set_index("measure")
    cov, rej = s.loc["coverage of the 97.5% CI"], s.loc["rejection rate (p < 0.025)"]
    assert cov["value"] == 1.0 and rej["value"] == 1.0
    assert cov["note"] == ("2 of 2, Wilson CI; nominal 97.5%; 3 replications without a CI "
                           "left out")
    assert rej["note"].endswith("power; 3 replications without a p-value left out")
    none = summarise(runs([np.nan, np.nan]))
    printed = format_summary(none, "share")
    line = next(x for x in printed.splitlines() if x.startswith("coverage of the 95% CI"))
    assert re.fullmatch(r"coverage of the 95% CI +– +no replication's analysis gave a CI; "
                        r"nominal 95%", line.rstrip()), line
    assert "0.0%" not in printed and "nan" not in printed and "0.95" not in printed
    from srmsim.report.trial import headline

    assert "No replication's analysis gave a confidence interval (see trial_runs.csv)." in \
        headline(none, "share")
    said = headline(summarise(runs([0.0, 0.5, 0.5]), alpha=0.025), "share")
    assert "The 97.5% confidence interval covered the truth in 100% of replications " \
        "(Monte-Carlo interval 44% to 100%)." in said, said


def test_power_among_analysed_trials_also_says_it_over_all_run() -> None:
    """A replication whose design could not be estimated (an arm's flagged pupils in one
    school) is left out of the power, 3 of 8; over the 12 trials run it was 3 of 12, which
    the summary did not say."""
    from srmsim.trial.report import summarise
    from srmsim.trial.run import RUN_COLUMNS

    rows = [{c: 0.0 for c in RUN_COLUMNS} | {
        "replication": i, "estimate": 1.0, "true_effect": 1.0, "ci_low": 0.0, "ci_high": 2.0,
        "p_value": 0.01 if i < 3 else 0.4, "covered": True, "rejected": i < 3, "naive": np.nan,
        "error": "" if i < 8 else "not estimable"} for i in range(12)]
    s = summarise(pd.DataFrame(rows, columns=RUN_COLUMNS)).set_index("measure")
    rej = s.loc["rejection rate (p < 0.05)"]
    assert rej["value"] == 3 / 8
    assert rej["note"] == ("3 of 8, Wilson CI; power; 3 of all 12 run (25.0%) counting the 4 "
                           "failed as finding nothing")
    rows = [r | {"true_effect": 0.0} for r in rows]  # a null trial: type I error as it was
    s = summarise(pd.DataFrame(rows, columns=RUN_COLUMNS)).set_index("measure")
    assert "of all 12 run" not in s.loc["rejection rate (p < 0.05)", "note"]


def test_means_over_fewer_replications_say_so() -> None:
    """A replication whose policy served nobody has no true effect among served students: the
    mean was taken over the others and printed beside 'replications 4' without a word."""
    from srmsim.trial.report import summarise
    from srmsim.trial.run import RUN_COLUMNS

    rows = [{c: 0.0 for c in RUN_COLUMNS} | {
        "replication": i, "estimate": 1.0 + i, "true_effect": 1.0, "ci_low": 0.0, "ci_high": 2.0,
        "p_value": 0.01, "covered": True, "rejected": True, "naive": np.nan, "error": "",
        "true_effect_served": served} for i, served in enumerate([2.0, np.nan, 4.0, np.nan])]
    s = summarise(pd.DataFrame(rows, columns=RUN_COLUMNS)).set_index("measure")
    served = s.loc["mean true effect among served"]
    assert served["value"] == 3.0 and served["note"] == "over 2 of 4 replications (the others " \
        "have no value)"
    assert s.loc["mean estimate", "note"] == ""
    assert s.loc["mean true effect (ITT)", "note"] == "treated arm: trial minus counterfactual"
    rows[1]["true_effect"] = np.nan  # no truth: neither covered nor missed
    rows[1]["covered"] = False
    s = summarise(pd.DataFrame(rows, columns=RUN_COLUMNS)).set_index("measure")
    cov = s.loc["coverage of the 95% CI"]
    assert cov["value"] == 1.0 and cov["note"].endswith(
        "1 replication without a CI and a true effect left out")


def test_printed_monte_carlo_se_is_in_the_outcome_unit(reading_result) -> None:
    """The note said 'MCSE 0.000895' (a raw fraction) beside an estimate of '+0.76 pp'."""
    from srmsim.trial.report import format_summary

    summary = reading_result.summary.copy()
    summary["value"] = summary["value"] / 100  # as if a share: the SEs too
    summary["mcse"] = summary["mcse"] / 100
    row = summary.set_index("measure").loc["bias (estimate - truth)"]
    (line,) = [x for x in format_summary(summary, "share").splitlines()
               if x.startswith("bias (estimate - truth)")]
    shown = re.search(r"Monte-Carlo SE (\d+\.\d+) pp$", line)
    assert "MCSE" not in line and shown, line
    assert float(shown[1]) == pytest.approx(100 * row["mcse"], rel=0.1)  # percentage points
    months = format_summary(reading_result.summary, "months")
    assert "Monte-Carlo SE " in months and " months" in months.split("Monte-Carlo SE ")[1]


@pytest.mark.once
def test_cli_writes_table_csvs_and_plot(tmp_path, capsys) -> None:
    path = tmp_path / "trial.yaml"
    spec = reading_trial(2)
    spec["scenario"] = str(SCENARIOS / "reading_age.yaml")
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    status = main(["trial", str(path), "--workers", "1", "--out", str(out), "--quiet",
                   "--no-subgroups"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "coverage of the 95% CI" in printed and "naive" in printed
    runs = pd.read_csv(out / "trial_runs.csv")
    assert len(runs) == 2 and {"estimate", "true_effect", "naive", "covered"} <= set(runs)
    summary = pd.read_csv(out / "trial_summary.csv")
    assert "bias (estimate - truth)" in set(summary["measure"])
    assert (out / "trial.png").stat().st_size > 10_000
    assert (out / "trial.json").is_file()


def test_cli_as_a_subprocess_with_replications_flag(tmp_path) -> None:
    path = tmp_path / "trial.yaml"
    spec = reading_trial(50)
    spec["scenario"] = str(SCENARIOS / "reading_age.yaml")
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "srmsim.cli", "trial", str(path),
                           "--replications", "1", "--workers", "1", "--out", str(out),
                           "--quiet"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(out / "trial_runs.csv")) == 1
    assert "coverage of the 95% CI" in proc.stdout


def test_cli_reports_a_bad_trial_file_naming_the_file_and_key(tmp_path, capsys) -> None:
    """One problem: the file, then the key and problem whole (on the same line, or below the
    file when the two would not fit on one: the problem here lists the columns it could be)."""
    bad = tmp_path / "bad.yaml"
    spec = reading_trial(2) | {"outcome": "happiness"}
    spec["scenario"] = str(SCENARIOS / "reading_age.yaml")
    bad.write_text(yaml.safe_dump(spec))
    assert main(["trial", str(bad)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"{re.escape(str(bad))}:(\n  | )outcome: 'happiness' is not a numeric "
                     r"column of students\.parquet", err), err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["trial_reading", "trial_attendance_cluster",
                                  "trial_stepped_wedge"])
def test_shipped_trial_files_are_valid(name) -> None:
    trial = load_trial(REPO / "experiments" / f"{name}.yaml")
    assert trial.replications >= 100
    design = trial.describe()
    assert "stepped wedge" in design or "(50% treated" in design, design
    assert trial.scenario.policy is not None
    assert trial.name == name


# ------------------------------------------------------------------ bad trial files
BAD = [
    ({"randomise": {"unit": "classes"}}, "randomise.unit"),
    ({"outcome": "happiness"}, "outcome: 'happiness' is not a numeric column"),
    ({"baseline": "sex"}, "baseline: 'sex' is not a numeric column"),
    ({"naive": {"pre": "reading_gap_start"}}, "naive.post"),
    ({"randomise": {"unit": "students", "steps": 3}}, "randomise.steps: only used"),
    ({"randomise": {"unit": "schools", "block": "school"}}, "randomise.block"),
    ({"randomise": {"unit": "stepped_wedge"}}, "randomise.steps: required"),
    ({"randomise": {"unit": "stepped_wedge", "steps": 3, "step_weeks": 13}},
     "need 52 weeks"),
    ({"randomise": {"unit": "stepped_wedge", "steps": 2}, "outcome": "exam_score",
      "baseline": None}, "cannot be measured per period"),
    ({"randomise": {"unit": "schools"}, "overrides": {"trust.n_schools": 3}},
     "at least 2 schools in each arm"),
    ({"analysis": {"method": "twfe"}}, "analysis.method: 'twfe' does not fit"),
    ({"analysis": {"method": "mixed", "se": "cluster"}}, "analysis.se"),
    ({"analysis": {"method": "mixed", "se": "auto"}}, "analysis.se: a mixed model"),
    ({"analysis": {"method": "gee", "se": "cr2"}}, "analysis.se: cr2 is for method ols"),
    ({"analysis": {"se": "cr3"}}, "analysis.se"),
    ({"analysis": {"alpha": 0.7}}, "analysis.alpha"),
    ({"replications": 0}, "replications"),
    ({"colour": "blue"}, "colour: unknown key"),
    ({"scenario": "nowhere.yaml"}, "file not found"),
    ({"overrides": {"trust.n_schoolz": 3}}, "overrides.trust.n_schoolz: unknown key"),
    ({"overrides": {"policy": None}}, "has no policy"),
    # a share that rounds to no treated (or no control) student in a block of students
    # randomised together: every replication had a single arm and failed
    ({"randomise": {"unit": "students", "share_treated": 1e-9}},
     "randomise.share_treated: 1e-09 of an average school's roll at the start (400 students) "
     "is 0 treated"),
    ({"randomise": {"unit": "students", "share_treated": 0.999999}}, "400 treated and 0 control"),
    ({"randomise": {"unit": "students", "share_treated": 1e-4, "block": "none"}},
     "of the trust's roll at the start (1,600 students) is 0 treated"),
    ({"randomise": {"unit": "students", "share_treated": 0.005},
      "overrides": {**TINY, "years": 2}}, "September intake (80 students) is 0 treated"),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m for _, m in BAD])
def test_bad_trial_files_give_clear_errors(change, message) -> None:
    spec = reading_trial(2)
    spec.update(change)
    if change.get("baseline", "") is None:
        spec.pop("baseline")
    with pytest.raises(ScenarioError) as info:
        make(spec)
    assert message in str(info.value)
    assert "test-trial" in str(info.value)  # names the file


def test_share_treated_leaving_both_arms_in_every_block_is_accepted(tmp_path, capsys) -> None:
    """The smallest and largest shares that leave a treated and a control student in a block
    of the average school's September intake (80 students) pass; one step beyond is refused, by
    `srmsim validate` too (exit 2, the key named)."""
    two_years = {**TINY, "years": 2}
    for share in (0.5 / 80, 1 - 0.5 / 80 - 1e-9):
        trial = make(reading_trial(2, randomise={"unit": "students", "share_treated": share},
                                   overrides=two_years))
        assert trial.config.randomise.share_treated == share
    spec = reading_trial(2, randomise={"unit": "students", "share_treated": 0.5 / 80 - 1e-6},
                         overrides=two_years, scenario=str(SCENARIOS / "reading_age.yaml"))
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "randomise.share_treated" in err and "Traceback" not in err
    assert main(["trial", str(path), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_unreadable_trial_file_names_the_file(tmp_path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="broken.yaml: malformed YAML"):
        load_trial(path)
    with pytest.raises(ScenarioError, match="file not found"):
        load_trial(tmp_path / "missing.yaml")
    assert main(["trial", str(tmp_path / "missing.yaml")]) == 2


def test_flagged_population_refuses_a_trigger_that_needs_the_pool_model() -> None:
    spec = reading_trial(2) | {"scenario": "pooling.yaml", "outcome": "attendance_rate",
                               "baseline": "prior_attainment", "naive": None}
    with pytest.raises(ScenarioError, match="pooled_risk"):
        make(spec)


@pytest.mark.parametrize("workers", [0, 10**6])
def test_api_workers_are_checked_before_anything_is_written(tmp_path, workers):
    out = tmp_path / "t"
    with pytest.raises(SrmsimError, match="--workers"):
        run_trial(make(reading_trial(2)), workers=workers, out=out)
    assert not out.exists()
