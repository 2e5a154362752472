"""The last tables a newcomer could not read (helper 251): each fix's readable form, and a
check that fails on the unreadable one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from srmsim.scenario import load_scenario

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_an_optimisation_prints_a_regret_objective_in_its_choosers_unit() -> None:
    """`srmsim optimise` printed a regret objective bare (``0.412``, headed "target units, e.g.
    reading months"): its front, regret and best-policy tables now take the search's registry,
    regret in months of reading age for choosers that target reading."""
    from srmsim.report.explore import front_table, regret_display, search_registry

    registry = search_registry(load_scenario(REPO_ROOT / "scenarios" / "learning.yaml").policy)
    front = pd.DataFrame({"trial": [3], "feasible": [True], "pareto": [True],
                          "policy.parameters.x": [0.5], "regret": [0.41234]})
    shown, raw = front_table(front, ["regret"], ["policy.parameters.x"], None, registry)
    assert shown.iloc[0, -1] == "0.4 months", shown
    assert list(raw.columns) == [shown.columns[-1]] and "target units" not in shown.columns[-1]
    bare, _ = front_table(front, ["regret"], ["policy.parameters.x"])  # the unreadable form
    assert bare.iloc[0, -1] == "0.412"
    reg = pd.DataFrame({"policy": ["a"], "objective": ["regret"], "mean_regret": [0.2],
                        "p90_regret": [0.3], "max_regret": [0.5]})
    assert list(regret_display(reg, False, registry).iloc[0, 2:]) == [
        "0.20 months", "0.30 months", "0.50 months"]
    # no chooser (or no known policy): no unit is claimed
    assert search_registry(None) == {}
    assert search_registry(load_scenario(REPO_ROOT / "scenarios" / "default.yaml").policy) == {}
