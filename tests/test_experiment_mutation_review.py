"""Mutation review of policy comparisons: the numbers a researcher reads when comparing policies
over replications with common random numbers (srmsim.experiment.compare, outcomes, result,
learning and srmsim.stats.simpower). Each test here kills mutations of those decisions that the
other test files let survive; every expected number comes from scipy or a closed form written
out below, not from the code under test."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from test_experiment import write_experiment

from srmsim import calendar, stats
from srmsim.errors import SrmsimError
from srmsim.experiment import load_experiment, run_experiment
from srmsim.experiment.compare import compare_frame, effects_display, failed_note, load_runs
from srmsim.experiment.custom import build_outcomes
from srmsim.experiment.learning import learning_curve, learning_outcomes
from srmsim.experiment.outcomes import Cohort, format_difference, format_relative, format_value
from srmsim.experiment.result import ExperimentResult

#: the 97.5% point of the standard normal (the Wilson interval's z at 95%)
Z_975 = 1.959963984540054


def _wilson(k: int, n: int, z: float = Z_975) -> tuple[float, float]:
    """Wilson's score interval, written out (Wilson 1927; Agresti and Coull 1998, eq. 2)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


# ------------------------------------------------------------------ the printed effects table
def test_printed_table_puts_each_number_in_its_own_column():
    """The printed table's baseline and variant means, and its interval's low and high ends,
    are each in their own column (a swap of either pair printed a plausible table, and the
    only test of a printed row looked for its numbers anywhere in the row)."""
    base = np.array([0.90, 0.91, 0.92, 0.93])
    var = np.array([0.95, 0.93, 0.94, 0.96])
    runs = pd.DataFrame({"variant": ["b"] * 4 + ["v"] * 4, "replication": [0, 1, 2, 3] * 2,
                         "attendance": np.r_[base, var]})
    row = effects_display(compare_frame(runs, "b", ["attendance"])).iloc[0]
    d = var - base
    lo, hi = sps.t.interval(0.95, 3, loc=d.mean(), scale=sps.sem(d))
    assert 0 < lo < hi
    assert row["mean_baseline"] == f"{100 * base.mean():.1f}%" == "91.5%"
    assert row["mean_variant"] == f"{100 * var.mean():.1f}%" == "94.5%"
    assert row["difference"] == "+3.00 pp"
    assert row["ci_low"] == f"+{100 * lo:.2f} pp"
    assert row["ci_high"] == f"+{100 * hi:.2f} pp"
    assert row["verdict"] == "better"


def test_a_negative_replication_number_is_refused():
    """Replications are numbered from 0: a -1 (a hand-edited table) is named, not paired."""
    runs = pd.DataFrame({"variant": ["b", "b", "v", "v"], "replication": [-1, 1, -1, 1],
                         "attendance": [0.9, 0.91, 0.92, 0.95]})
    with pytest.raises(SrmsimError, match="replication -1 .*not a whole number from 0"):
        compare_frame(runs, "b", ["attendance"])


@pytest.mark.parametrize("value,scale,text", [
    (0.0, "share", "±0.00 pp"),            # no change is neither + nor -
    (0.1, "months", "+0.10 months"),       # 0.1 already shows two significant digits
    (0.0046, "months", "+0.0046 months"),  # a small difference keeps two significant digits
    (0.4, "money", "+£0.40"),              # pence below £10, always two of them
    (5.5, "money", "+£5.50"),              # ... not "+£5.5"
    (5.0, "money", "+£5"),                 # ... but none in whole pounds, as £15's: not £5.00
    (12.6, "money", "+£13"),               # whole pounds from £10
    (-12.5, "requests", "-12.5 requests"),  # a mean over replications below 100
    (-1746.0, "requests", "-1,746 requests"),
])
def test_differences_print_with_their_sign_unit_and_significant_digits(value, scale, text):
    """How a difference prints in the effects table: the sign, the unit, and decimals enough
    for two significant digits (a difference of £0.40 once read "+£0")."""
    assert format_difference(value, scale) == text


def test_levels_and_relative_changes_print_with_significant_digits():
    """A level of money below £10 prints its pence; a relative change keeps two significant
    digits however small (+0.0040%, not +0.0%) and says ± for none."""
    assert format_value(-0.4, "money") == "-£0.40"
    assert format_value(0.915, "share") == "91.5%"
    assert format_relative(0.00004) == "+0.0040%"
    assert format_relative(-0.25) == "-25.0%"
    assert format_relative(0.0) == "±0.0%"


def test_the_failed_runs_note_names_every_failed_run_in_order():
    """The note an analysis prints names every run it leaves out (up to ``shown``), sorted, and
    counts the rest: a run dropped from it would pass the replications off as all planned."""
    failures = [{"variant": "b", "replication": 3}, {"variant": "a", "replication": 1},
                {"variant": "b", "replication": 0}]
    assert failed_note(failures, Path("f")) == (
        "note: 3 failed runs are left out of this analysis: 'a' replication 1, 'b' "
        "replication 0, 'b' replication 3 (errors in f)")
    assert failed_note(failures, Path("f"), shown=1).endswith(
        "'a' replication 1 and 2 more (errors in f)")


def test_the_result_header_counts_the_fewest_replications_of_a_variant():
    """``ExperimentResult.replications`` (the header "2 variants x N replications") is the
    fewest a variant has, not the most: with a failed run the header must not claim more."""
    runs = pd.DataFrame({"variant": ["base"] * 4 + ["v"] * 3,
                         "replication": [0, 1, 2, 3, 0, 2, 3],
                         "attendance": [0.9, 0.91, 0.92, 0.93, 0.95, 0.93, 0.96]})
    res = ExperimentResult(Path("x"), runs, {"baseline": "base", "outcomes": ["attendance"],
                                             "variants": {"base": "", "v": ""}})
    assert res.replications == 3
    assert res.effects.iloc[0]["replications"] == 3


def test_a_result_at_another_level_says_so_in_its_table_and_forest_plot():
    """``ExperimentResult(level=0.9)`` computes 90% intervals: its printed table and forest
    plot said "95% simulation interval" over them."""
    base = np.array([0.90, 0.91, 0.92, 0.93])
    var = np.array([0.95, 0.93, 0.94, 0.96])
    runs = pd.DataFrame({"variant": ["base"] * 4 + ["v"] * 4, "replication": [0, 1, 2, 3] * 2,
                         "attendance": np.r_[base, var]})
    res = ExperimentResult(Path("x"), runs, {"baseline": "base", "outcomes": ["attendance"],
                                             "variants": {"base": "", "v": ""}}, level=0.9)
    d = var - base
    lo, _ = sps.t.interval(0.9, 3, loc=d.mean(), scale=sps.sem(d))
    assert res.effects.iloc[0]["ci_low"] == pytest.approx(lo, rel=1e-12)
    assert "90% interval: the simulation interval" in res.summary()
    assert "95%" not in res.summary()
    assert "with 90% simulation intervals" in res.forest._suptitle.get_text()
    default = ExperimentResult(Path("x"), runs, res.manifest)
    assert "95% interval: the simulation interval" in default.summary()
    # the HTML report too: its note, headline sentences, table caption and forest plot
    from srmsim.report.experiment import build

    html = build(res).render()
    assert "95%" not in html
    assert html.count("90% simulation interval") >= 4
    assert "95% simulation interval" in build(default).render()


def test_group_effects_keep_a_replication_where_another_outcome_is_undefined():
    """Within a group, a replication with one outcome undefined (weeks waited with nobody in
    the group served) is left out of that outcome's effect only: the other outcomes keep it."""
    att = {("base", 0): 0.90, ("base", 1): 0.92, ("base", 2): 0.91,
           ("v", 0): 0.93, ("v", 1): 0.94, ("v", 2): 0.95}
    waited = {("base", 0): 2.0, ("base", 1): 3.0, ("base", 2): 2.5,
              ("v", 0): np.nan, ("v", 1): 2.0, ("v", 2): 2.2}
    detail = pd.DataFrame([{"group": "FSM", "variant": v, "replication": r, "outcome": o,
                            "value": values[v, r]}
                           for o, values in (("attendance", att), ("weeks_waited", waited))
                           for v, r in values])
    runs = pd.DataFrame({"variant": ["base"] * 3 + ["v"] * 3, "replication": [0, 1, 2] * 2,
                         "attendance": [0.9] * 6, "weeks_waited": [1.0] * 6})
    res = ExperimentResult(Path("x"), runs, {"baseline": "base",
                                             "outcomes": ["attendance", "weeks_waited"],
                                             "variants": {"base": "", "v": ""}})
    res._detail = lambda kind: detail if kind == "groups" else None  # type: ignore[method-assign]
    eff = res.group_effects.set_index("outcome")
    assert eff.loc["attendance", "replications"] == 3
    assert eff.loc["attendance", "difference"] == pytest.approx(0.03, rel=1e-9)
    assert eff.loc["weeks_waited", "replications"] == 2
    assert eff.loc["weeks_waited", "difference"] == pytest.approx(((2.0 - 3.0) + (2.2 - 2.5)) / 2)


def test_a_custom_sum_over_a_group_with_no_finite_value_is_unmeasured():
    """A user-defined ``sum`` skips undefined values; over a group whose every value is
    undefined it is NaN (unmeasured, left out of the paired effect), not 0, while over an empty
    group it is 0 (nothing to add up), as pandas' ``sum(min_count=1)`` and ``sum()`` give."""
    s = pd.DataFrame({"student": np.arange(4), "fsm": [True, True, False, False],
                      "attendance_rate": [0.9, 0.8, 0.95, 0.7],
                      "reading_gap_end": [np.nan, np.nan, 1.0, 2.0]})
    defs = {"in_fsm": "fsm", "not_fsm": "not fsm", "nobody": "attendance_rate > 2"}
    registry = build_outcomes([{"name": k, "statistic": "sum", "of": "reading_gap_end",
                                "where": where} for k, where in defs.items()])
    cohort = Cohort(s)
    gap = s["reading_gap_end"]
    assert math.isnan(registry["in_fsm"](cohort)) and math.isnan(gap[s.fsm].sum(min_count=1))
    assert registry["not_fsm"](cohort) == gap[~s.fsm].sum() == 3.0
    assert registry["nobody"](cohort) == gap[s.attendance_rate > 2].sum() == 0.0


def test_effects_rows_follow_the_experiment_files_variant_order():
    """The effects table lists variants in the experiment file's order (the manifest's), not
    alphabetically nor by first appearance in the runs table (which a bare table uses)."""
    runs = pd.DataFrame({"variant": np.repeat(["zeta", "base", "alpha"], 3),
                         "replication": [0, 1, 2] * 3,
                         "attendance": [0.90, 0.92, 0.91, 0.90, 0.91, 0.92, 0.93, 0.92, 0.94]})
    res = ExperimentResult(Path("x"), runs, {"baseline": "base", "outcomes": ["attendance"],
                                             "variants": {"base": "", "alpha": "",
                                                          "zeta": ""}})
    assert list(res.effects["variant"]) == ["alpha", "zeta"]
    # a bare runs table: the order the variants first appear in
    assert list(compare_frame(runs, "base", ["attendance"])["variant"]) == ["zeta", "alpha"]


def test_variance_reduction_is_the_unpaired_over_the_paired_variance():
    """The variance-reduction factor is (var(variant) + var(baseline)) / var(variant -
    baseline), every variance with n - 1 (the module docstring's formula): with n = 3 a
    ddof slip changes it by 3/2."""
    base = np.array([1.0, 2.0, 4.0])
    var = np.array([1.4, 2.5, 4.3])
    runs = pd.DataFrame({"variant": ["b"] * 3 + ["v"] * 3, "replication": [0, 1, 2] * 2,
                         "y": np.r_[base, var]})
    row = compare_frame(runs, "b", ["y"]).iloc[0]
    d = var - base  # 0.4, 0.5, 0.3: mean 0.4, variance 0.01
    unpaired = np.var(base, ddof=1) + np.var(var, ddof=1)
    assert row["sd_paired"] == pytest.approx(0.1, rel=1e-12)
    assert row["variance_reduction"] == pytest.approx(unpaired / 0.01, rel=1e-9)
    assert row["half_width"] == pytest.approx(sps.t.ppf(0.975, 2) * 0.1 / math.sqrt(3),
                                              rel=1e-12)
    assert d.mean() == pytest.approx(row["difference"], rel=1e-12)


def test_relative_change_needs_a_positive_baseline_mean():
    """A relative change divides by the baseline's mean over the paired replications, and only
    when that mean is positive: on a negative baseline (money saved, written as a negative
    cost) its sign would say the opposite of the difference."""
    runs = pd.DataFrame({"variant": ["b", "b", "v", "v"], "replication": [0, 1, 0, 1],
                         "cost": [10.0, 12.0, 15.0, 18.0]})
    row = compare_frame(runs, "b", ["cost"]).iloc[0]
    assert row["relative_change"] == pytest.approx(5.5 / 11.0, rel=1e-12)
    negative = runs.assign(cost=-runs["cost"])
    assert math.isnan(compare_frame(negative, "b", ["cost"]).iloc[0]["relative_change"])


@pytest.fixture(scope="module")
def sequential_dir(tmp_path_factory) -> tuple[Path, dict]:
    """A small experiment with sequential stopping: 3 replications, batches of 2, at most 6,
    one outcome's target met at once and the other's never."""
    tmp = tmp_path_factory.mktemp("sequential")
    path = write_experiment(tmp, replications=3, sequential={
        "half_width": {"attendance": 1.0, "persistent_absence": 1e-12},
        "max_replications": 6, "batch": 2})
    summary = run_experiment(load_experiment(path), tmp / "o", workers=1, progress=False)
    return tmp / "o", summary


@pytest.mark.once
def test_sequential_stopping_waits_for_every_outcome_and_stops_at_the_maximum(sequential_dir):
    """Sequential stopping adds replications until every listed outcome's half-width is within
    its target (one outcome met is not enough), and never beyond max_replications: batches of
    2 from 3 reach 5, then 6, not 7."""
    out, summary = sequential_dir
    assert summary["replications"] == 6 and summary["stopped"] == "max_replications reached"
    runs, manifest = load_runs(out)
    effects = compare_frame(runs, manifest["baseline"], manifest["outcomes"])
    assert set(effects["replications"]) == {6}


@pytest.mark.once
def test_a_results_folder_without_its_last_replication_is_refused(sequential_dir, tmp_path):
    """Every planned run is stored or recorded as failed, the last replication too: a folder
    with replication 5 of a variant deleted would otherwise compare 5 replications as if they
    were all the experiment ran."""
    out = tmp_path / "o"
    shutil.copytree(sequential_dir[0], out)
    (out / "runs" / "texts" / "rep-00005.parquet").unlink()
    with pytest.raises(SrmsimError, match=r"1 of 18 runs is missing, first .*rep-00005"):
        load_runs(out)


# ------------------------------------------------------------------ the learning curve
def test_learning_outcomes_are_means_over_a_runs_decisions_and_terms():
    """Regret is the mean (not the median) over the run's decisions, term by term (term k of
    the run is ``regret_t<k+1>``), and gains per 100 staff hours in a term count the pooled
    staff's minutes as well as the schools' (written out: 100 h = 6,000 minutes)."""
    weeks = np.array([0, 1])
    assert calendar.run_term(weeks).tolist() == [0, 0]
    decisions = pd.DataFrame({"term": [0, 0, 1, 1, 1], "regret": [0.0, 0.9, 0.3, 0.3, 3.0]})
    weekly = pd.DataFrame({"run_week": weeks, "staff_minutes_used": [60.0, 60.0],
                           "pool_minutes_used": [30.0, 30.0], "reading_delivered": [1.0, 2.0]})
    run = SimpleNamespace(decisions=decisions, weekly=weekly)
    outcomes = learning_outcomes()
    assert outcomes["regret"][1](run) == pytest.approx(0.9, rel=1e-12)
    assert outcomes["regret_t1"][1](run) == pytest.approx(0.45, rel=1e-12)
    assert outcomes["regret_t2"][1](run) == pytest.approx(1.2, rel=1e-12)
    assert math.isnan(outcomes["regret_t3"][1](run))
    assert outcomes["reading_per_100h_t1"][1](run) == pytest.approx(6000 * 3.0 / 180.0)


def test_learning_curve_points_are_t_intervals_over_the_finite_replications():
    """Each learning-curve point is the mean over the replications with a value, with a t
    interval on n - 1 degrees of freedom (SD with n - 1), the count of those replications and
    of the variant's runs; terms in order (term 10 after term 2, not after term 1)."""
    nan = np.nan
    runs = pd.DataFrame({"variant": ["a"] * 4 + ["b"] * 3,
                         "regret_t1": [0.5, 0.7, 0.4, 0.6, 0.9, 1.1, 1.0],
                         "regret_t2": [0.3, nan, 0.2, 0.5, 0.8, 0.7, 1.2],
                         "regret_t10": [0.1, 0.2, 0.15, 0.05, nan, 0.6, nan]})
    for level in (0.95, 0.8):
        curve = learning_curve(runs, level=level)
        assert list(zip(curve["variant"], curve["term"], strict=True)) == [
            ("a", 1), ("a", 2), ("a", 10), ("b", 1), ("b", 2), ("b", 10)]
        for row in curve.itertuples(index=False):
            x = runs.loc[runs["variant"] == row.variant, f"regret_t{row.term}"].dropna()
            assert row.replications == len(x)
            assert row.replications_total == (runs["variant"] == row.variant).sum()
            assert row.mean == pytest.approx(x.mean(), rel=1e-12)
            if len(x) < 2:
                assert math.isnan(row.ci_low) and math.isnan(row.ci_high)
                continue
            lo, hi = sps.t.interval(level, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
            assert row.ci_low == pytest.approx(lo, rel=1e-9)
            assert row.ci_high == pytest.approx(hi, rel=1e-9)


# ------------------------------------------------------------------ power by simulation
def _data(seed: int) -> pd.DataFrame:
    return pd.DataFrame({"seed": [seed]})


def test_simulated_power_interval_is_wilsons_95_percent_whatever_alpha():
    """The Monte-Carlo interval of a power estimate is Wilson's 95% interval (as the summary
    says) over the replications analysed, also when the test's alpha is not 0.05."""
    res = stats.simulated_power(_data, lambda d: 0.01 if d["seed"].iloc[0] % 3 else 0.5,
                                n_sims=60, alpha=0.2, seed=7)
    k = res.n_rejected
    assert 0 < k < 60 and res.power == k / 60
    lo, hi = _wilson(k, 60)
    assert res.ci_low == pytest.approx(lo, rel=1e-12)
    assert res.ci_high == pytest.approx(hi, rel=1e-12)
    assert "Monte-Carlo 95% CI" in res.summary()


def test_a_p_value_of_zero_is_a_rejection_and_one_of_alpha_is_not():
    """p = 0 (an exact test, or underflow) is a probability and a rejection, not a failed
    replication; p = alpha exactly is not a rejection (reject when p < alpha, the rule the
    trial store checks its records against)."""
    res = stats.simulated_power(_data, lambda d: 0.0, n_sims=5)
    assert (res.power, res.n_failed, res.n_rejected) == (1.0, 0, 5)
    res = stats.simulated_power(_data, lambda d: 0.05, n_sims=5, alpha=0.05)
    assert (res.power, res.n_failed) == (0.0, 0)


def test_mean_estimate_leaves_out_the_failed_replications():
    """A replication whose p-value is not a probability is a failure, excluded from the power
    (as the summary says): its estimate must not enter ``mean_estimate`` either (an estimator
    that returned a diverged estimate with p = NaN biased the mean estimate)."""
    def estimate(d: pd.DataFrame) -> tuple[float, float]:
        return (1000.0, math.nan) if d["seed"].iloc[0] % 2 else (1.0, 0.01)

    res = stats.simulated_power(_data, estimate, n_sims=40, seed=3, on_error="count")
    assert 0 < res.n_failed < 40 and res.n_rejected == 40 - res.n_failed
    assert res.mean_estimate == 1.0
