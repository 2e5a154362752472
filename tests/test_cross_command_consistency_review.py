"""Do srmsim's commands agree with each other? A researcher's workflow, cross-checked: the
trial's printed table against its files and report, units and labels on every figure."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from srmsim.trial import run_trial, trial_from_dict

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

NAIVE_ROWS = ("mean naive pre-post", "mean true effect on post", "naive bias")


def _reading_trial_with_attendance_naive():
    """A reading trial (outcome in months) whose school checks its served students' attendance
    before and after (a share): the two parts of the table have different units."""
    spec = {
        "name": "reading_with_attendance_check",
        "scenario": "reading_age.yaml",
        "overrides": {"trust.n_schools": 2, "trust.students_per_year_group": 60},
        "randomise": {"unit": "students", "block": "school"},
        "outcome": "reading_gap_end",
        "baseline": "reading_gap_start",
        "population": "flagged",
        "analysis": {"method": "ols", "se": "hc1"},
        "naive": {"pre": "attendance_autumn", "post": "attendance_summer"},
        "replications": 3,
        "seed": 5,
    }
    return trial_from_dict(spec, "naive-unit-trial", SCENARIOS)


@pytest.fixture(scope="module")
def naive_in_another_unit(tmp_path_factory):
    result = run_trial(_reading_trial_with_attendance_naive(), workers=1, progress=False)
    out = tmp_path_factory.mktemp("trial")
    result.report(out)
    return result, out


def _lines(table: str, start: str) -> list[str]:
    return [line for line in table.splitlines() if line.startswith(start)]


def test_naive_rows_are_printed_in_the_unit_of_their_own_column(naive_in_another_unit):
    # the naive before/after of attendance (a share) was printed in the outcome's unit:
    # '+0.0046 months' for an attendance change of +0.46 percentage points
    result, _ = naive_in_another_unit
    table = result.table()
    for start in NAIVE_ROWS:
        (line,) = _lines(table, start)
        assert "months" not in line, line
        assert line.count(" pp") >= 2, line  # the value and its interval
    (estimate,) = _lines(table, "mean estimate")
    assert "months" in estimate and " pp" not in estimate
    # the printed figure is the CSV's value in percentage points
    naive = float(result.summary.loc[result.summary["measure"].str.startswith("naive bias"),
                                     "value"].iloc[0])
    (line,) = _lines(table, "naive bias")
    shown = float(re.search(r"([+-]\d+(?:\.\d+)?) pp", line).group(1))
    assert shown == pytest.approx(100 * naive, abs=0.051 if abs(100 * naive) >= 1 else 0.0051)


def test_report_gives_the_naive_rows_and_headline_their_own_unit(naive_in_another_unit):
    result, out = naive_in_another_unit
    text = (out / "report.html").read_text()
    headline = re.search(r"naive before/after comparison of the students served would be off "
                         r"by ([^<]*?)\.(?:\s|<)", text)
    assert headline and headline.group(1).endswith(" pp"), headline
    for start in NAIVE_ROWS:
        row = re.search(re.escape(start) + r".*?</tr>", text, flags=re.S)
        assert row, start
        assert "months" not in row.group(0) and " pp" in row.group(0), row.group(0)
        # the report's figure is the one `srmsim trial` printed
        (line,) = _lines(result.table(), start)
        value = re.search(r"[+-]?\d[\d.,]* pp", line).group(0)
        assert value in row.group(0)


# ------------------------------------------------------------------ shipped files agree
ROOT = Path(__file__).resolve().parents[1]


def test_notebook_04_does_not_call_the_naive_truth_the_effect_among_served():
    # notebook 04 labelled naive_truth (the effect on attendance_summer among the naive
    # comparison's students: +4.7 pp in an 8-school run) "true effect among served", the name
    # the trial table gives true_effect_served (the effect on attendance_rate: +3.4 pp)
    import json

    from srmsim.trial.report import summarise
    from srmsim.trial.run import RUN_COLUMNS

    nb = json.loads((ROOT / "notebooks" / "04_evaluate_like_a_trial.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    labels = re.findall(r'"([^"]+)":\s*r\["naive_truth"\]', code)
    assert labels, "the notebook no longer plots naive_truth: update this test"
    import pandas as pd

    row = {k: 0.0 for k in RUN_COLUMNS}
    row.update(error="", covered=True, rejected=False, p_value=1.0, naive=0.01, naive_truth=0.01)
    measures = summarise(pd.DataFrame([row, row]))["measure"].tolist()
    served = next(m for m in measures if "among served" in m)
    for label in labels:
        assert label not in served, (label, served)


def test_shipped_cluster_trial_comment_names_the_standard_errors_it_uses():
    # the file's header said "cluster-robust standard errors (t with J - 1 df)" while at its
    # 20 schools se: auto analyses with CR2 and Bell-McCaffrey df (trial.describe() says so)
    from srmsim.trial import load_trial

    path = ROOT / "experiments" / "trial_attendance_cluster.yaml"
    described = load_trial(path).describe()
    assert "CR2 with Bell-McCaffrey df" in described
    header = "".join(line for line in path.read_text().splitlines(keepends=True)
                     if line.startswith("#"))
    claims = re.sub(r"\s+", " ", header)
    assert "(t with J - 1 df)" not in claims
    assert "CR2" in claims


def test_report_says_the_group_rows_are_not_the_itt_of_a_screened_trial(naive_in_another_unit):
    # the report's 'all treated-arm students' row gave the reading gap's truth over the whole
    # treated arm (+1.8 months on a 4-school trust) beside the trial's true ITT effect among the
    # screened students (+9.6 months), both "among treated-arm students", with nothing saying
    # which population each is
    from srmsim.trial.groups import ALL, truth_effects

    result, out = naive_in_another_unit
    itt = result.measure("mean true effect (ITT)")
    eff = truth_effects(result.groups)
    whole_arm = float(eff.loc[(eff["group"] == ALL) & (eff["outcome"] == "reading_gap_end"),
                              "difference"].iloc[0])
    assert whole_arm < 0.8 * itt  # the two populations' effects really differ
    page = re.sub(r"\s+", " ", html.unescape((out / "report.html").read_text()))
    assert "screened or not" in page and "is not the trial's true effect (ITT) above" in page


def test_group_rows_caveat_names_the_design():
    from srmsim.report.trial import _groups_caveat

    assert "stepped wedge" in _groups_caveat({"randomise": {"unit": "stepped_wedge"},
                                              "population": "all"})
    assert "screened" in _groups_caveat({"randomise": {"unit": "students"},
                                         "population": "flagged"})
    # an all-students school trial's group row is its ITT population: nothing to add
    assert _groups_caveat({"randomise": {"unit": "schools"}, "population": "all"}) == ""


def test_school_trial_description_gives_the_count_randomisation_treats():
    # "schools randomised (50% treated)" for a 5-school trust whose every replication treats 3
    # of 5 (60%): the share asked for, rounded half up, is not the share treated
    from srmsim.trial import replicate

    spec = {"name": "five", "scenario": "attendance_escalation.yaml",
            "overrides": {"trust.n_schools": 5, "trust.students_per_year_group": 10},
            "randomise": {"unit": "schools", "share_treated": 0.5},
            "outcome": "attendance_rate", "replications": 1, "seed": 2}
    trial = trial_from_dict(spec, "five-trial", SCENARIOS)
    rep = replicate(trial, 0)
    treated = rep.students.loc[rep.students["arm"] == "treated", "school"].nunique()
    assert treated == 3
    assert f"{treated} of 5 schools" in trial.describe()


def test_report_says_a_share_outcome_has_its_effects_in_percentage_points(tmp_path):
    # the report's definitions read "outcome attendance_rate (share)" above a table of
    # "+0.80 pp": a share of 0 to 1 whose effects are printed in percentage points
    spec = {"name": "share", "scenario": "attendance_escalation.yaml",
            "overrides": {"trust.n_schools": 4, "trust.students_per_year_group": 10},
            "randomise": {"unit": "schools"}, "outcome": "attendance_rate",
            "replications": 2, "seed": 4}
    result = run_trial(trial_from_dict(spec, "share-trial", SCENARIOS), workers=1)
    result.report(tmp_path)
    page = re.sub(r"<[^>]+>", " ", html.unescape((tmp_path / "report.html").read_text()))
    page = re.sub(r"\s+", " ", page)
    # (by its label: the column name attendance_rate is the file's word, not the reader's)
    assert "outcome Attendance (share (0 to 1); effects in percentage points)" in page
    (line,) = _lines(result.table(), "mean estimate")
    assert " pp" in line


def test_figure_leaves_out_a_naive_check_in_another_unit(naive_in_another_unit):
    # trial.png drew the naive attendance change (a share, +0.005) on the axis of the reading
    # estimate (about +10 months), and its error beside the estimate's in one histogram
    import matplotlib.pyplot as plt

    from srmsim.trial.report import plot

    result, _ = naive_in_another_unit
    fig = result.plot()
    labels = [lab for ax in fig.axes for lab in ax.get_legend_handles_labels()[1]]
    plt.close(fig)
    assert not any("naive" in lab for lab in labels), labels
    assert "true effect (ITT)" in labels
    fig = plot(result.runs)  # the same runs, units not given: the naive figures are drawn
    labels = [lab for ax in fig.axes for lab in ax.get_legend_handles_labels()[1]]
    plt.close(fig)
    assert any("naive" in lab for lab in labels)


def test_trial_summary_csv_gives_each_rows_unit(naive_in_another_unit):
    # trial_summary.csv held 0.0046 (an attendance share) and 10.2 (months) in one column with
    # no unit anywhere in the folder but the outcome's name
    import pandas as pd

    result, out = naive_in_another_unit
    csv = pd.read_csv(out / "trial_summary.csv")
    unit = dict(zip(csv["measure"], csv["unit"], strict=True))
    assert unit["mean estimate"] == unit["bias (estimate - truth)"] == "months"
    assert unit["naive bias (naive - its truth)"] == "share (0 to 1)"
    assert unit["coverage of the 95% CI"] == "share of replications (0 to 1)"
    assert unit["replications"] == "replications"
    # the values are the summary's, unchanged
    assert csv["value"].tolist() == pytest.approx(result.summary["value"].tolist(), nan_ok=True)


# ------------------------------------------------------------------ planning: analytic power
def _power_by_integration(ncp: float, df: float, alpha: float) -> float:
    """Two-sided noncentral-t power by quadrature over the chi-square of T's denominator:
    P(|Z + ncp| > t1 sqrt(V / df)), an independent route to the same number."""
    import numpy as np
    from scipy import integrate
    from scipy import stats as sps

    t1 = sps.t.isf(alpha / 2, df)

    def f(v: float) -> float:
        s = t1 * np.sqrt(v / df)
        return (sps.norm.sf(s - ncp) + sps.norm.cdf(-s - ncp)) * sps.chi2.pdf(v, df)

    lo, hi = sps.chi2.ppf([1e-15, 1 - 1e-15], df)
    return integrate.quad(f, lo, hi, epsabs=1e-13, epsrel=1e-11, limit=200)[0]


@pytest.mark.parametrize("design, effect, params", [
    # a screened student-randomised reading trial: 140 flagged pupils in each of 4 schools
    ("blocked_individual", 0.8, {"n": 140, "J": 4, "r2_level1": 0.3, "g1": 1}),
    ("blocked_individual", -0.8, {"n": 140, "J": 4, "r2_level1": 0.3, "g1": 1}),
    ("cluster2", 1.0, {"rho": 0.05, "n": 60, "J": 40}),
    ("individual", 8.5 * (4 / 7) ** 0.5, {"n": 7}),       # ncp 8.5 on 5 df
    ("individual", 0.6, {"n": 800}),
    ("cluster2", 0.25, {"rho": 0.2, "n": 20, "J": 40}),   # a low power, both tails matter
])
def test_power_of_a_well_powered_design_is_computed_not_refused(design, effect, params):
    # scipy's nct.cdf(-t1, df, ncp) returns NaN (no warning) for ncp from about 8 on many df,
    # and power() refused such designs: "power at effect 0.8 (noncentrality 11.3137, df 551)
    # cannot be computed in double precision"
    from srmsim import stats

    res = stats.power(design, effect, **params)
    assert res.power == pytest.approx(_power_by_integration(res.ncp, res.df, 0.05), abs=1e-9)


# ------------------------------------------------------------------ experiment's summary line
@pytest.mark.parametrize("sequential, why", [
    (None, "(a fixed number of replications)"),
    ({"half_width": {"attendance": 0.5}, "max_replications": 4, "batch": 2,
      "min_replications": 2}, "(stopped: half-width target met)"),
])
def test_experiment_summary_line_says_why_it_ran_that_many(tmp_path, capsys, monkeypatch,
                                                            sequential, why):
    # a fixed-design experiment's line ended "40 runs in 1.6 s (replications)": the runner's
    # internal stopping reason, meaningless without a sequential rule
    import yaml

    from srmsim.cli import main

    monkeypatch.chdir(tmp_path)
    spec = {"name": "e", "scenario": str(SCENARIOS / "attendance_escalation.yaml"),
            "baseline": "a", "replications": 2, "seed": 4, "outcomes": ["attendance"],
            "variants": {"a": {"policy": None}, "b": {}}}
    if sequential:
        spec["sequential"] = sequential
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assert main(["experiment", "e.yaml", "--workers", "1", "--quiet", "--no-report",
                 "--set", "trust.n_schools=1", "--set", "trust.students_per_year_group=8"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(why), first
    assert "(replications)" not in first


def test_true_effect_note_names_the_population_it_averages_over(naive_in_another_unit):
    # the ITT row's note said "treated arm" for a screened trial, whose truth is over the
    # flagged treated-arm students only, and for a stepped wedge, whose truth is over treated
    # school-periods while some school is untreated
    from srmsim.trial.report import truth_population

    result, out = naive_in_another_unit
    (line,) = _lines(result.table(), "mean true effect (ITT)")
    assert "flagged treated-arm students: trial minus counterfactual" in line
    spec = {"name": "sw", "scenario": "attendance_escalation.yaml",
            "overrides": {"trust.n_schools": 4},
            "randomise": {"unit": "stepped_wedge", "steps": 2, "step_weeks": 13},
            "outcome": "attendance_rate", "analysis": {"method": "twfe"},
            "replications": 1, "seed": 1}
    sw = trial_from_dict(spec, "sw-trial", SCENARIOS)
    assert "school-periods" in truth_population(sw.config)
