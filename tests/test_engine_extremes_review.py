"""Scenarios at the edges of what validation accepts: each must run and give outputs that keep
the documented invariants, or be refused at validation with the field named.

Found by an attack review of the engine at the schema's bounds (tiny trusts, rates 0 and 1,
extreme dynamics, policies and request streams): these are the values that failed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import srmsim
from srmsim import calendar
from srmsim.dynamics import withdrawal_logit
from srmsim.errors import ScenarioError
from srmsim.scenario import scenario_from_dict

TINY = {"n_schools": 2, "students_per_year_group": 15}


@pytest.mark.parametrize("r", [-0.5, -0.7, -0.95])
def test_a_latent_correlation_with_no_correlation_matrix_is_refused(r: float) -> None:
    """Three latents pairwise correlated at r have a correlation matrix only for r > -1/2: the
    schema took -0.95 and the run died in the population draw (numpy LinAlgError traceback)."""
    with pytest.raises(ScenarioError, match=r"population\.latent_correlation.*-0\.5"):
        scenario_from_dict({"trust": TINY, "population": {"latent_correlation": r}})


def test_a_latent_correlation_just_above_the_limit_runs() -> None:
    scenario = scenario_from_dict({"trust": TINY, "outputs": {"history": "none"},
                                   "population": {"latent_correlation": -0.499}})
    students = srmsim.run(scenario).students
    assert len(students) > 0
    assert np.isfinite(students["attainment"]).all()


def _achieved(c: float, slope: float, e: np.ndarray) -> float:
    h = 1.0 / (1.0 + np.exp(-(c - slope * e)))
    return float(np.mean(1.0 - (1.0 - h) ** calendar.WEEKS_PER_YEAR))


@pytest.mark.parametrize(("annual", "slope"), [(1.0, 1e6), (0.5, 1e6), (1e-20, 0.9),
                                               (0.08, 100.0)])
def test_the_withdrawal_intercept_is_found_for_any_accepted_share_and_slope(
        annual: float, slope: float) -> None:
    """The intercept was sought only in [-30, 30]: a steep engagement slope (the schema allows
    1e6), or a share as small as 1e-20, has its root outside, and brentq raised "f(a) and f(b)
    must have different signs" when the model was built (a traceback from `srmsim run`)."""
    e = np.random.default_rng(1).normal(0.0, 0.6, 500)
    c = withdrawal_logit(annual, slope, e)
    assert c is not None and np.isfinite(c)
    with np.errstate(over="ignore"):
        assert _achieved(c, slope, e) == pytest.approx(annual, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("dynamics", [
    {"withdrawal_annual": 1.0, "withdrawal_engagement": 1e6},
    {"withdrawal_annual": 1e-20},
])
def test_a_run_with_an_extreme_withdrawal_hazard_runs(dynamics: dict) -> None:
    scenario = scenario_from_dict({"trust": {**TINY, "year_groups": [12, 13]},
                                   "outputs": {"history": "none"}, "dynamics": dynamics})
    result = srmsim.run(scenario)
    students = result.students
    withdrawn = students["status"] == "withdrawn"
    assert (students["withdrawn"].astype(bool) == withdrawn).all()
    assert int(result.weekly["withdrawals"].sum()) == int(withdrawn.sum())
    if dynamics["withdrawal_annual"] == 1.0:
        assert withdrawn.any()
    assert (students["sessions_attended"] <= students["sessions_possible"]).all()


def test_a_catalogue_action_made_automated_with_staff_minutes_is_told_plainly() -> None:
    """``automated: true`` on a catalogue action that has staff minutes: the message carried
    pydantic's internal "Value error, " prefix, unlike every other scenario error."""
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict({"trust": TINY, "policy": {
            "rules": {"r": "enrolled"}, "actions": {"parent_meeting": {"automated": True}},
            "workflows": {"w": {"trigger": "r", "steps": [{"action": "parent_meeting"}]}},
            "staff": {"school": {"pastoral": 60}}}})
    message = str(err.value)
    assert "policy.actions.parent_meeting: an automated action uses no staff minutes" in message
    assert "Value error" not in message


def test_a_huge_between_school_spread_runs_without_overflow_warnings() -> None:
    """``fsm_school_sd`` up to 1e6 is accepted; a school's FSM rate is then 0 or 1, but the
    logistic printed "RuntimeWarning: overflow encountered in exp" on the way."""
    scenario = scenario_from_dict({"trust": TINY, "outputs": {"history": "none"},
                                   "population": {"fsm_school_sd": 1e6}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        students = srmsim.run(scenario).students
    assert students["fsm"].isin([True, False]).all()
    assert np.isfinite(students["attendance_rate"]).all()
