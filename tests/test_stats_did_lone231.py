"""did_twfe with the treated units, or the units it compares them with, in a single cluster.

Its CR1 and CR2 intervals covered 55% (nominal 95%) of simulated panels there: that cluster's
period shocks are in the estimate whole but not in the sandwich. It was only warned (of one
treated cluster; nothing at all of one comparison cluster); now refused through
refuse_arms_in_one_cluster, naming the side and the clustering column. did_group_time already
gives such effects no SE (cell by cell), so it is unchanged.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from srmsim import stats
from srmsim.errors import EstimationError, ScenarioError
from srmsim.trial import trial_from_dict


def _classes(first_by_school: dict[int, float], seed: int = 0, schools: int = 8,
             per_school: int = 3, periods: int = 6) -> pd.DataFrame:
    """Classes (units) within schools (clusters), a school x period shock, effect 1."""
    rng = np.random.default_rng(seed)
    shock = rng.normal(0, 0.5, size=(schools, periods))
    rows = []
    for s in range(schools):
        g = first_by_school.get(s, np.nan)
        for k in range(per_school):
            level = rng.normal()
            for t in range(periods):
                y = level + shock[s, t] + 0.1 * t + 1.0 * (t >= g) + rng.normal()
                rows.append((f"s{s}", f"s{s}c{k}", t, g, y))
    return pd.DataFrame(rows, columns=["school", "class", "t", "g", "y"])


@pytest.mark.parametrize("se", ["cluster", "cr2"])
def test_twfe_refuses_treated_classes_in_one_school(se):
    panel = _classes({0: 3.0})  # three treated classes, all in school s0
    with pytest.raises(EstimationError, match=f"did_twfe with {'CR2' if se == 'cr2' else 'CR1'} "
                       "cluster-robust SEs: the treated unit-periods lie in a single cluster of "
                       "'school'.*at least two clusters in every arm"):
        stats.did_twfe(panel, "y", "class", "t", "g", cluster="school", se=se)
    # the same classes in two schools: estimated, no warning of a lone cluster
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = stats.did_twfe(_classes({0: 3.0, 1: 3.0}), "y", "class", "t", "g",
                             cluster="school", se=se)
    assert np.isfinite(fit.se) and fit.se > 0
    assert not [w for w in caught if "single cluster" in str(w.message)
                or "treated cluster" in str(w.message)]


@pytest.mark.parametrize("se", ["cluster", "cr2"])
def test_twfe_refuses_the_comparison_in_one_school_when_adoption_is_common(se):
    """Never-treated classes all in one school, every other school starting in period 3: the
    effect is that school's change against the rest (covered 55%, like one treated school)."""
    common = _classes({s: 3.0 for s in range(1, 8)})
    with pytest.raises(EstimationError, match="the untreated unit-periods from the first "
                       "treated period on lie in a single cluster of 'school'"):
        stats.did_twfe(common, "y", "class", "t", "g", cluster="school", se=se)
    # staggered starts: the not-yet-treated schools are comparisons too (covered 94-97%)
    staggered = _classes({s: float(2 + s % 3) for s in range(1, 8)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CR1's few-clusters note
        fit = stats.did_twfe(staggered, "y", "class", "t", "g", cluster="school", se=se)
    assert np.isfinite(fit.se) and fit.se > 0


def test_twfe_clustered_by_unit_refuses_one_treated_unit_naming_the_unit_column():
    """The default clustering is the unit: one treated school among 12 (MacKinnon & Webb's
    case) was warned and given a CR1 interval."""
    rng = np.random.default_rng(3)
    rows = [(f"S{s}", t, 4.0 if s == 0 else np.nan, rng.normal() + 0.5 * (s == 0 and t >= 4))
            for s in range(12) for t in range(1, 7)]
    panel = pd.DataFrame(rows, columns=["school", "term", "first", "y"])
    for se in ("cluster", "cr2"):
        with pytest.raises(EstimationError, match="treated unit-periods lie in a single cluster "
                           "of 'school'"):
            stats.did_twfe(panel, "y", "school", "term", "first", se=se)


SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _wedge(n_schools: int, steps: int, method: str = "twfe") -> dict:
    return {"name": "wedge", "scenario": "attendance_escalation.yaml",
            "overrides": {"trust.n_schools": n_schools, "trust.students_per_year_group": 15},
            "randomise": {"unit": "stepped_wedge", "steps": steps, "step_weeks": 9},
            "outcome": "attendance_rate", "analysis": {"method": method},
            "replications": 2, "seed": 3}


def test_a_twfe_wedge_with_one_school_not_yet_crossed_is_refused_before_running():
    """3 schools in 2 steps: 2 cross first and 1 is their comparison, so now every
    replication's did_twfe is refused; validation says so instead of running them all."""
    with pytest.raises(ScenarioError, match=r"randomise\.steps: analysis twfe .* 3 schools in 2 "
                       r"steps leave 1 school not yet crossed.*use 3 steps or a trust of at least "
                       r"4 schools, or analysis\.method mixed"):
        trial_from_dict(_wedge(3, 2), "wedge-trial", SCENARIOS)
    # group_time refuses 3 schools in 2 steps too; its message no longer offers twfe there
    with pytest.raises(ScenarioError, match=r"analysis\.method mixed\b") as err:
        trial_from_dict(_wedge(3, 2, "group_time"), "wedge-trial", SCENARIOS)
    assert "twfe" not in str(err.value)
    for n, steps in ((3, 3), (4, 2)):  # 2 schools not yet crossed: runs
        assert trial_from_dict(_wedge(n, steps), "wedge-trial", SCENARIOS).config.randomise.steps \
            == steps


def test_cli_validate_refuses_the_wedge_with_exit_2_and_no_traceback(tmp_path):
    spec = tmp_path / "wedge.yaml"
    spec.write_text(yaml.safe_dump({**_wedge(3, 2), "scenario": str(SCENARIOS /
                                                                    "attendance_escalation.yaml")}))
    proc = subprocess.run([sys.executable, "-m", "srmsim", "validate", str(spec)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "1 school not yet crossed" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
