"""The last tables a newcomer could not read (helper 251): each fix's readable form, and a
check that fails on the unreadable one."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from srmsim.scenario import load_scenario

sys.path.insert(0, str(Path(__file__).parent))
REPO_ROOT = Path(__file__).resolve().parents[1]


def test_an_optimisation_prints_a_regret_objective_in_its_choosers_unit() -> None:
    """`srmsim optimise` printed a regret objective bare (``0.412``, headed "target units, e.g.
    reading months"): its front, regret and best-policy tables now take the search's registry,
    regret in months of reading age for choosers that target reading."""
    from srmsim.report.explore import (
        front_table,
        reevaluated_policies,
        regret_display,
        search_registry,
    )

    registry = search_registry(load_scenario(REPO_ROOT / "scenarios" / "learning.yaml").policy)
    front = pd.DataFrame({"trial": [3], "feasible": [True], "pareto": [True],
                          "policy.parameters.x": [0.5], "regret": [0.41234]})
    shown, raw = front_table(front, ["regret"], ["policy.parameters.x"], None, registry)
    assert shown.iloc[0, -1] == "0.41 months", shown  # two significant digits
    assert list(raw.columns) == [shown.columns[-1]] and "target units" not in shown.columns[-1]
    bare, _ = front_table(front, ["regret"], ["policy.parameters.x"])  # the unreadable form
    assert bare.iloc[0, -1] == "0.412"
    reg = pd.DataFrame({"policy": ["a"], "objective": ["regret"], "mean_regret": [0.2],
                        "p90_regret": [0.3], "max_regret": [0.5]})
    assert list(regret_display(reg, False, registry).iloc[0, 2:]) == [
        "0.20 months", "0.30 months", "0.50 months"]
    assert reevaluated_policies(pd.DataFrame({"variant": ["trial-00003"]}), 3, ["regret"],
                                registry) == ("1 of the 3 front policies, spread along mean "
                                              "regret per referral against the oracle "
                                              "(reevaluate.front_max)")
    # no chooser (or no known policy): no unit is claimed
    assert search_registry(None) == {}
    assert search_registry(load_scenario(REPO_ROOT / "scenarios" / "default.yaml").policy) == {}


def test_thresholds_prints_readable_thresholds_that_give_the_same_row_back(tmp_path, capsys
                                                                          ) -> None:
    """`srmsim thresholds` printed a continuous score's thresholds to 8 digits
    (``threshold -0.84327528``). Now to the fewest digits that flag the same students, with
    one line saying thresholds.csv keeps them exactly; each printed one given back with
    --thresholds gives the row it was printed with. A recorded score (105.55) prints as it is."""
    import re

    import numpy as np
    from test_risk_cli import mark_simulated, students

    from srmsim.cli import main
    from srmsim.risk.thresholds import threshold_text

    df = students(n_schools=3)
    df["risk"] = np.random.default_rng(1).normal(size=len(df)) - 3 * (df["attendance_rate"] - 0.9)
    run = tmp_path / "run"
    run.mkdir()
    df.to_parquet(run / "students.parquet")
    mark_simulated(run)
    base = ["thresholds", str(run), "--score", "risk", "--outcome", "withdrawn", "--n-boot",
            "40", "--direction", "above"]
    assert main([*base, "--capacity", "50", "--cost-missed", "10", "--cost-needless", "1",
                 "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    printed = dict(re.findall(r"threshold (-?[\d.]+):? flags (\d+) students", out))
    assert len(printed) == 3, out  # best F1, at capacity, cost-minimising
    assert all(len(t.lstrip("-").replace(".", "").lstrip("0")) <= 5 for t in printed), printed
    assert "thresholds.csv keeps them exactly" in out
    assert main([*base, "--thresholds", *printed, "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    back = pd.read_csv(tmp_path / "b" / "thresholds.csv")
    assert {f"{t:g}": str(n) for t, n in zip(back["threshold"], back["flagged"], strict=True)} \
        == printed
    # what stays exact: a recorded score's value, an 8-digit one without the scores (real data)
    assert threshold_text(105.55, df["risk"].to_numpy()) == "105.55"
    assert threshold_text(-0.479830351) == "-0.47983035"


def test_a_trial_on_records_shows_what_it_withholds_as_the_experiment_report_does() -> None:
    """trial_groups.csv from real records blanks what it withholds; the trial report showed
    those cells "not measured" (a group's effect, its students) and "–" (cost, staff hours),
    where the experiment report shows ``low`` and ``c``. A simulated trial's blank is still
    "not measured"."""
    import numpy as np

    from srmsim.report.page import Page
    from srmsim.report.trial import resources_rows, truth_sections
    from srmsim.trial.groups import ALL, TRUTH_OUTCOMES, truth_effects

    rows = []
    for rep in (1, 2):
        for group, students in ((ALL, 200.0), ("FSM", np.nan), ("not FSM", np.nan)):
            for outcome in TRUTH_OUTCOMES:
                value = np.nan if np.isnan(students) or outcome in ("cost", "staff_hours") \
                    else 0.5 + 0.01 * rep
                rows.append({"group": group, "outcome": outcome, "trial": value,
                             "counterfactual": value if outcome != "students_served" else 0.0,
                             "students": students, "replication": rep})
    eff = truth_effects(pd.DataFrame(rows))
    for records, low, count in ((True, "low", "c"), (False, "not measured", "not measured")):
        shown, _ = resources_rows(eff[eff["group"] == ALL], records)
        table = dict(zip(shown["measure"], shown["value"], strict=True))
        assert (table["cost of actions"], table["staff hours"]) == (low, low), table
        fsm, _ = resources_rows(eff[eff["group"] == "FSM"], records)
        assert fsm["value"].iloc[0] == count
        page = Page("t")
        truth_sections(page, eff, "attendance", records=records)
        html = page.render()
        assert ("not measured" in html) != records
        assert (">low<" in html and "is withheld" in html) == records
