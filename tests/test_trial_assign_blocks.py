"""Students randomised within schools: every school's allocation made at once must be the one a
school at a time makes (its students in the order of their draws, equal draws by position,
and the first ``treated_count`` of them treated).

A pass over every student for each school grew with schools x students (3M students in 3,000
schools: 6 s a replication); all schools are now ordered in one sort."""

from __future__ import annotations

import numpy as np
import pytest

from srmsim.trial.assign import StudentAssignment
from srmsim.trial.spec import treated_count


def _school_at_a_time(u: np.ndarray, groups: np.ndarray, share: float) -> np.ndarray:
    arm = np.zeros(len(u), dtype=bool)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        order = idx[np.argsort(u[idx], kind="stable")]
        arm[order[:treated_count(len(idx), share)]] = True
    return arm


class _Draws:
    """A CRN stand-in whose uniforms are coarse, so that many students draw the same value."""

    def __init__(self, seed: int, levels: int):
        self.rng, self.levels = np.random.default_rng(seed), levels

    def uniform(self, name: str, step: int, uid: np.ndarray) -> np.ndarray:  # noqa: ARG002
        return np.floor(self.rng.random(len(uid)) * self.levels) / self.levels


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("share", [0.5, 0.35, 1 / 3, 0.0, 1.0])
@pytest.mark.parametrize("block", ["school", "none"])
def test_every_school_at_once_is_each_school_on_its_own(seed: int, share: float,
                                                        block: str) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    uid = rng.permutation(50_000)[:n].astype(np.int64)
    school = rng.integers(0, int(rng.integers(1, 25)), n)
    for levels in (2**30, 4):  # distinct draws, then many equal ones
        assignment = StudentAssignment(seed, share, block)
        assignment._crn = _Draws(seed, levels)
        u = _Draws(seed, levels).uniform("", 0, uid)
        groups = school if block == "school" else np.zeros(n, dtype=np.int64)
        treated = assignment.treated(uid, school)
        assert np.array_equal(treated, _school_at_a_time(u, groups, share))
        for g in np.unique(groups):  # exactly the share of each block, rounded half up
            assert treated[groups == g].sum() == treated_count(int((groups == g).sum()), share)


def test_a_later_intake_is_a_block_of_its_own_and_earlier_students_keep_their_arm() -> None:
    first = StudentAssignment(3, 0.5, "school")
    uid = np.arange(100, dtype=np.int64)
    school = np.repeat([0, 1], 50)
    before = first.treated(uid, school)
    later = np.arange(1000, 1030, dtype=np.int64)
    both = first.treated(np.concatenate([uid, later]), np.concatenate([school, np.zeros(30, int)]))
    assert np.array_equal(both[:100], before)
    assert both[100:].sum() == 15 and before[:50].sum() == 25 and before[50:].sum() == 25
