"""The policy engine's count of running cases, kept up to date as cases start and end, is the
count of the case table's running cases at every point it is read.

Staff minutes already committed each week come from that count (``_measure_use``, ``apply``,
the learned chooser's free minutes): a start or an end it missed would hand out minutes twice
or leave them unused, so the count is checked against a fresh one after every week, across a
year end (leavers and the new intake), with pool cases, declines and a learned chooser.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO_ROOT

from srmsim.model import TrustModel
from srmsim.policy.engine import ACTIVE
from srmsim.scenario import load_scenario

RUNS = {
    "dropout_prevention": ("dropout_prevention.yaml", {"years": 2, "trust.n_schools": 2}),
    "pooling": ("pooling.yaml", {"years": 2, "trust.n_schools": 3,
                                 "trust.students_per_year_group": 60}),
    "trust_attendance_service": ("trust_attendance_service.yaml", {"trust.n_schools": 3}),
    "learning": ("learning.yaml", {"trust.n_schools": 3}),
    "attendance_escalation_small": ("attendance_escalation_small.yaml", {"years": 2}),
}


def _recount(engine) -> np.ndarray:
    c = engine.cases
    n = len(engine.school_capacity) * 2 * len(engine.minutes)
    return np.bincount(c.slot[c.status == ACTIVE], minlength=n)


@pytest.mark.parametrize("run", sorted(RUNS))
def test_running_counts_match_the_case_table_every_week(run):
    file, overrides = RUNS[run]
    scenario = load_scenario(REPO_ROOT / "scenarios" / file).with_overrides(overrides, "test")
    model = TrustModel(scenario, seed=4)
    engine = model.policy
    started = 0
    while not model.done:
        model.step()
        counts = engine._running_counts()
        assert np.array_equal(counts.ravel(), _recount(engine)), f"week {model.week_index}"
        started += int(counts.sum())
    assert started > 0  # cases ran: the check compared something



def test_running_counts_are_recounted_when_the_table_drops_running_cases():
    """A new layout drops the cases of students no longer in the table, running or not: the
    kept count is then recounted, not carried on with the dropped cases in it."""
    scenario = load_scenario(REPO_ROOT / "scenarios" / "dropout_prevention.yaml").with_overrides(
        {"trust.n_schools": 2}, "test")
    model = TrustModel(scenario, seed=4)
    engine = model.policy
    for _ in range(12):
        model.step()
    c = engine.cases
    gone = c.row[c.status == ACTIVE][:3]  # three students with a running case leave the table
    assert len(gone) == 3
    before = int(engine._running_counts().sum())
    model.students = model.students.take(np.setdiff1d(np.arange(len(model.students)), gone))
    model._layout_changed()
    assert np.array_equal(engine._running_counts().ravel(), _recount(engine))
    assert int(engine._running_counts().sum()) == before - 3
