"""Printed results say what each figure is.

Walk-through of README and docs/ (2026-12-07) as a trust's analyst: the MDES summary printed
"interval: 0.183 to 1.075 SD" with nothing to say what the interval was (PowerUp!'s: the
confidence interval an estimate equal to the MDES would get).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_mdes_interval_says_what_it_is() -> None:
    from srmsim import stats

    text = str(stats.mdes("cluster2", rho=0.17, n=15, J=20))
    assert "  95% CI:      0.183 to 1.075 SD (of an estimate equal to the MDES)" in text, text
    assert "interval:" not in text
    one_sided = str(stats.mdes("cluster2", rho=0.17, n=15, J=20, tails=1))
    assert "  90% CI:      0.183 to 0.919 SD" in one_sided, one_sided


def test_a_runs_regret_line_names_its_unit_when_the_choosers_target_has_one() -> None:
    """`srmsim run scenarios/learning.yaml` printed "regret vs the oracle, per referral (target
    units) 1.17": the chooser's target is reading, so the unit is months of reading age."""
    from srmsim.model import run
    from srmsim.scenario import load_scenario

    small = {"trust.n_schools": 2, "trust.students_per_year_group": 40, "years": 1}
    scenario = load_scenario(ROOT / "scenarios" / "learning.yaml", small)
    rows = dict(run(scenario, seed=3).summary_table().to_numpy().tolist())
    value = rows["regret vs the oracle, per referral"]
    assert value.endswith(" months") and float(value.split()[0]) >= 0, rows
    step = "policy.workflows.reading.steps"
    steps = scenario.to_dict()["policy"]["workflows"]["reading"]["steps"]
    steps[0]["chooser"]["target"] = "engagement"  # a level effect: no unit a reader knows
    other = load_scenario(ROOT / "scenarios" / "learning.yaml", {**small, step: steps})
    rows = dict(run(other, seed=3).summary_table().to_numpy().tolist())
    assert "regret vs the oracle, per referral (target units)" in rows, rows
