"""Results read back: damaged folders named, not drawn; arithmetic the data does not decide.

Found by probing experiments, discovery, optimisation and trial reports (2026-12-06): a
discovery condition that divides by zero was judged by IEEE rules (x / -0.0 = -inf), a custom
outcome left infinite values out of its mean, and hand-edited result files were reported as
they read (an estimate outside its interval stopped the trial report with a traceback).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report_mutation_review import _discovery  # the same discovery folder

from srmsim.errors import DataError, SrmsimError
from srmsim.experiment.custom import CustomOutcome, CustomOutcomeConfig
from srmsim.explore.discovery import condition_cases
from srmsim.report import explore as rexpl
from srmsim.report.page import Page


# ------------------------------------------------------------ discovery conditions
def test_a_condition_that_divides_by_zero_is_refused_naming_the_runs():
    table = pd.DataFrame({"cost_diff": [100.0, 50.0, 80.0, 0.0],
                          "gain_diff": [-0.01, 0.0, -0.02, 0.0]}, index=[0, 1, 2, 3])
    for condition in ("cost_diff / (-gain_diff * 100) > 2000",
                      "cost_diff / (0 - gain_diff * 100) > 2000",
                      "not (cost_diff / gain_diff >= 0)"):
        with pytest.raises(DataError, match=r"the condition divides by zero or overflows in 2 "
                                            r"replications \(replications 1, 3\)"):
            condition_cases(table, condition)
    # the same question without the division: judged on the data in every run
    got = condition_cases(table, "cost_diff > -2000 * gain_diff * 100")
    assert got.tolist() == [False, True, False, False]
    with pytest.raises(DataError, match="overflows in 1 replication"):
        condition_cases(pd.DataFrame({"x": [1e300, 1.0]}), "x * x > 1")


# ------------------------------------------------------------ custom outcomes
def test_an_infinite_value_makes_a_custom_mean_not_measured():
    """interventions / weeks_waited: 24 of 41 students infinite were left out of the mean."""
    outcome = CustomOutcome(CustomOutcomeConfig.model_validate(
        {"name": "ratio", "statistic": "mean", "of": "interventions / weeks_waited"}))
    values = np.array([1.0, 3.0, np.inf, np.nan])
    assert math.isnan(outcome._statistic(values, np.ones(4, dtype=bool)))
    assert outcome._statistic(values, np.array([True, True, False, True])) == 2.0  # NaN: missing
    pct = CustomOutcome(CustomOutcomeConfig.model_validate(
        {"name": "p", "statistic": "percentile", "q": 50, "of": "attendance_rate"}))
    assert math.isnan(pct._statistic(np.array([0.5, -np.inf]), np.ones(2, dtype=bool)))


# ------------------------------------------------------------ damaged result folders
@pytest.mark.parametrize(("runs", "cases"), [(40, 99), (16, 99), (40, 9), (41, 10)])
def test_discovery_counts_other_than_the_whole_spaces_are_refused(tmp_path, runs, cases):
    """'it holds in 99 of 16 runs (619%)' was printed from an edited discovery.json."""
    _discovery(tmp_path, runs, cases)
    with pytest.raises(SrmsimError, match=rf"discovery.json: its {cases} cases of {runs} runs "
                                          "are not those of prim_trajectory.csv's first box"):
        rexpl.discovery_section(Page("t"), tmp_path)
    shutil.rmtree(tmp_path / "discovery")
    _discovery(tmp_path, 40, 10)
    page = Page("t")
    rexpl.discovery_section(page, tmp_path)
    assert "it holds in 10 of 40 runs" in "".join(page.parts)


def _optimise(folder: Path) -> None:
    folder.mkdir()
    (folder / "optimise.json").write_text(json.dumps({
        "name": "o", "finished": "2026-01-01", "objectives": {"attendance": "maximise"},
        "levers": ["policy.parameters.t"], "replications": 2, "reevaluate_replications": 2}))
    pd.DataFrame({"trial": [0, 1, 2], "policy.parameters.t": [0.85, 0.9, 0.95],
                  "attendance": [0.92, 0.93, 0.91], "feasible": [True, True, True],
                  "pareto": [False, True, False]}).to_csv(folder / "trials.csv", index=False)
    pd.DataFrame({"trial": [1], "policy.parameters.t": [0.9], "attendance": [0.93],
                  "feasible": [True], "pareto": [True]}).to_csv(folder / "pareto.csv",
                                                                 index=False)


@pytest.mark.parametrize(("column", "value"), [("attendance", 0.99), ("feasible", False),
                                               ("trial", 2)])
def test_a_pareto_front_other_than_trials_csvs_is_refused(tmp_path, column, value):
    _optimise(tmp_path / "o")
    assert "Pareto" in rexpl.build_optimise(tmp_path / "o").render()
    front = pd.read_csv(tmp_path / "o" / "pareto.csv")
    front[column] = [value]
    front.to_csv(tmp_path / "o" / "pareto.csv", index=False)
    with pytest.raises(SrmsimError, match="pareto.csv: not the rows trials.csv marks as the "
                                          "front"):
        rexpl.build_optimise(tmp_path / "o")



def test_a_front_of_whole_numbers_beside_fractions_in_trials_csv_is_accepted(tmp_path):
    """A front whose hours are all whole (591) read from pareto.csv as "591" and the same row
    of trials.csv, beside 610.5, as "591.0": optimise wrote every file, then its report
    refused them as differing, and exited 2 (found by a probe, 2026-12-06)."""
    folder = tmp_path / "o"
    _optimise(folder)
    trials = pd.read_csv(folder / "trials.csv")
    trials["staff_hours"] = [610.5, 591.0, 600.25]
    trials["chooser"] = ["a", "b", "a"]  # a lever of text
    trials.to_csv(folder / "trials.csv", index=False)
    front = pd.read_csv(folder / "pareto.csv")
    front["staff_hours"] = [591]  # as optimise wrote it: "591"
    front["chooser"] = ["b"]
    front.to_csv(folder / "pareto.csv", index=False)
    assert ",591,b\n" in (folder / "pareto.csv").read_text()
    assert "Pareto" in rexpl.build_optimise(folder).render()
    for column, value in (("staff_hours", 591.5), ("chooser", "a")):  # still told apart
        edited = front.copy()
        edited[column] = [value]
        edited.to_csv(folder / "pareto.csv", index=False)
        with pytest.raises(SrmsimError, match="pareto.csv: not the rows trials.csv marks"):
            rexpl.build_optimise(folder)

def test_an_infeasible_candidate_on_the_front_is_refused(tmp_path):
    _optimise(tmp_path / "o")
    for name in ("trials.csv", "pareto.csv"):  # both edited alike
        table = pd.read_csv(tmp_path / "o" / name)
        table.loc[table["trial"] == 1, "feasible"] = False
        table.to_csv(tmp_path / "o" / name, index=False)
    with pytest.raises(SrmsimError, match="trials.csv: an infeasible candidate is marked as on "
                                          "the front"):
        rexpl.build_optimise(tmp_path / "o")


def test_a_trial_replication_outside_its_interval_is_named(tmp_path):
    from srmsim.report.trial import _check_intervals

    runs = pd.DataFrame({"estimate": [0.5, 100.0, np.nan], "ci_low": [0.1, -6.3, 0.0],
                         "ci_high": [0.9, 8.2, 1.0]})
    with pytest.raises(SrmsimError, match=r"trial_runs.csv: row 3: estimate 100 is outside its "
                                          r"interval \[-6.3, 8.2\]"):
        _check_intervals(runs, tmp_path / "trial_runs.csv")
    _check_intervals(runs.drop(index=1), tmp_path / "trial_runs.csv")  # NaN: a failed run


# ------------------------------------------------------------ labels and a missing file
@pytest.mark.parametrize(("label", "words"), [("   ", "the label is blank"),
                                              ("Attendance", "is a built-in outcome's"),
                                              ("attendance ", "is a built-in outcome's")])
def test_a_custom_label_blank_or_a_built_in_outcomes_is_refused(label, words):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=words):
        CustomOutcomeConfig.model_validate({"name": "x", "statistic": "mean",
                                            "of": "attendance_rate", "label": label})
    assert CustomOutcomeConfig.model_validate(
        {"name": "x", "statistic": "mean", "of": "attendance_rate",
         "label": "Attendance of the flagged"}).label == "Attendance of the flagged"


def test_a_missing_parameters_csv_is_named(tmp_path, monkeypatch):
    from srmsim.explore import tables

    monkeypatch.setattr(tables, "load_runs", lambda path: (pd.DataFrame(),
                                                           {"uncertain": {"p": [0, 1]}}))
    with pytest.raises(SrmsimError, match=r"parameters.csv: missing, though the experiment has "
                                          "uncertain: parameters"):
        tables.Explored(tmp_path)
    monkeypatch.setattr(tables, "load_runs", lambda path: (pd.DataFrame(), {}))
    with pytest.raises(SrmsimError, match="has no uncertain: parameters to explore"):
        tables.Explored(tmp_path)


# ------------------------------------------------------------ the printed Morris table
def test_the_printed_morris_table_reads_in_each_outcomes_unit():
    """mu* of attendance printed 0.0197 (a raw share) where the report shows 1.97 pp."""
    from srmsim.experiment.outcomes import OUTCOMES
    from srmsim.explore.sensitivity import format_sensitivity

    morris = pd.DataFrame({"target": ["on"] * 2, "variant": ["on"] * 2,
                           "outcome": ["attendance", "cost"], "parameter": ["a", "a"],
                           "method": ["morris"] * 2, "mu_star": [0.0197, 1234.5],
                           "mu_star_conf": [0.002, 10.0], "sigma": [0.001, np.nan]})
    text = format_sensitivity(morris, dict(OUTCOMES))
    table = text.split("\n\n")[1]
    assert "1.97 pp" in table and "0.20 pp" in table and "0.10 pp" in table
    assert OUTCOMES["cost"].format_difference(1234.5).lstrip("+") in table
    assert "0.0197" not in table
    assert "0.0197" in format_sensitivity(morris).split("\n\n")[1]  # without: as computed


@pytest.mark.parametrize("scale", ["number", "hours", "money", "share", "count", "months",
                                   "requests"])
def test_huge_and_tiny_numbers_print_as_powers_of_ten(scale):
    """A custom sum of 7e149 printed as 150 digits (and 1e300 in pareto.csv as 301); a
    difference of 3e-9 as +0.000000, as if there were none."""
    from srmsim.experiment.outcomes import format_difference, format_value

    huge, tiny = format_value(7e149, scale), format_difference(3e-9, scale)
    assert "× 10^" in huge and len(huge) < 30, huge
    assert "× 10^" in tiny and tiny.startswith("+"), tiny
    assert not re.search(r"\d{5}", huge + tiny)
    assert format_difference(-1e300, scale).startswith("-")
    # ordinary numbers as before
    assert "× 10^" not in format_value(12345.6, scale) + format_difference(0.4, scale)
    assert format_difference(0.0, scale).startswith("±")
