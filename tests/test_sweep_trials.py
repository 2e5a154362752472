"""In-silico trials, correct in general: each randomisation unit analysed at its own level,
degenerate designs refused before any replication runs, a replication that leaves a school
arm with one school reported as not estimable, and honest labels for extreme significance
levels. Reference numbers come from formulas computed here, not from srmsim."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats as sps

from srmsim.errors import ScenarioError
from srmsim.trial import trial_from_dict

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


@pytest.mark.parametrize("analysis", [{"se": "auto"}, {"se": "cluster"}, {"se": "cr2"},
                                      {"method": "gee", "se": "classical"},
                                      {"method": "mixed"}])
def test_school_randomised_trial_keeps_cluster_level_analyses(analysis):
    assert _trial(analysis=analysis).config.analysis.se is not None


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
