"""The policy engine's shortcuts give what the general code gives, on the runs that take them.

Each shortcut applies only when a policy allows it (whole-number charges; one action per
effect half-life; no empty school), so the run that takes it is compared, table for table
and bit for bit, with the same run forced down the general path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT

from srmsim.model import TrustModel
from srmsim.policy.engine import _present
from srmsim.scenario import load_scenario

SMALL = {"years": 2, "trust.n_schools": 2}


def _run(file: str, seed: int, **forced: bool) -> tuple[TrustModel, object]:
    scenario = load_scenario(REPO_ROOT / "scenarios" / file).with_overrides(SMALL, "test")
    model = TrustModel(scenario, seed=seed)
    for name, value in forced.items():
        setattr(model.policy, name, value)
    model.run()
    return model, model.results()


@pytest.mark.parametrize("forced", [{"_charge_by_weeks": False},
                                    {"_one_action_per_life": False}])
def test_a_shortcut_gives_the_general_paths_tables(forced):
    """Minutes and cost as weeks charged x the weekly charge (whole numbers) against the
    weekly sums; the fading store's courses unsorted against sorted by call and action."""
    model, fast = _run("dropout_prevention.yaml", 11)
    assert all(getattr(model.policy, name) for name in forced)  # the run takes the shortcut
    _, general = _run("dropout_prevention.yaml", 11, **forced)
    assert (fast.events["minutes"] > 0).sum() > 100  # reviewed, left and open cases report some
    for table in ("students", "weekly", "events"):
        pd.testing.assert_frame_equal(getattr(fast, table), getattr(general, table),
                                      check_exact=True)


def test_fractional_charges_keep_the_weekly_sums():
    """A catalogue cost of 0.1 a week (parent_text) is not a whole number: its cases add up
    their minutes and cost week by week, as before."""
    scenario = load_scenario(REPO_ROOT / "scenarios" / "attendance_escalation_small.yaml")
    assert not TrustModel(scenario, seed=1).policy._charge_by_weeks


def test_flags_per_school_with_an_empty_school():
    """Counted by school slices (reduceat) and, with an empty school (where reduceat would give
    the next school's first flag), from the flagged rows; both as a plain bincount."""
    model, _ = _run("dropout_prevention.yaml", 3)
    engine, t = model.policy, model.students
    flag = np.random.default_rng(0).random(len(t)) < 0.3
    want = np.bincount(t.school[flag], minlength=len(model.schools))
    assert engine._bounds()[2]
    np.testing.assert_array_equal(engine._flagged_per_school(flag), want)
    starts = model._school_starts
    model._school_starts = np.concatenate([starts[:1], starts])  # school 0 empty
    try:
        assert not engine._bounds()[2]
        got = engine._flagged_per_school(flag)
    finally:
        model._school_starts = starts
    np.testing.assert_array_equal(got, np.r_[0, want])


@pytest.mark.parametrize("values", [[3], [2, 3, 3, 2], [0, 4, 4], [1, 0, 2]])
def test_present_is_the_distinct_values(values):
    key = np.array(values, dtype=np.int16)
    np.testing.assert_array_equal(_present(key, 5), np.unique(key))
    assert len(_present(key[:0], 5)) == 0
