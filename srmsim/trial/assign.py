"""Randomisation: who may be referred by the tested policy, and from which run week.

Each assignment is a pure function of the replication seed (drawn with :class:`srmsim.rng.CRN`
under its own decision name, so it is independent of every draw of the simulation itself) and is
handed to :meth:`srmsim.policy.engine.PolicyEngine.set_eligibility`, which applies it to the
students on roll and to every later intake.

Complete randomisation, not coin flips: a block of n units gets exactly ``round(share * n)``
treated (half up), so arms are as balanced as the block allows, as in a real trial's allocation
list. Units are ordered by a per-unit uniform draw and the first ones are treated.
"""

from __future__ import annotations

import numpy as np

from srmsim.errors import SrmsimError
from srmsim.rng import CRN
from srmsim.trial.spec import NEVER, Trial, check_schools, treated_count


class StudentAssignment:
    """Students randomised within schools (``block="school"``) or across the trust (``"none"``).

    Students who join later (a September intake in a multi-year run) are randomised when first
    seen, as a block of their own (within each school, or across the trust with ``"none"``), so
    earlier assignments never change.
    """

    def __init__(self, seed: int, share: float, block: str):
        self._crn = CRN(seed)
        self.share = share
        self.block = block
        self._uid = np.zeros(0, dtype=np.int64)  # sorted
        self._arm = np.zeros(0, dtype=bool)

    def _lookup(self, uid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.minimum(np.searchsorted(self._uid, uid), max(len(self._uid) - 1, 0))
        found = (self._uid[pos] == uid) if len(self._uid) else np.zeros(len(uid), dtype=bool)
        return pos, found

    def _assign(self, uid: np.ndarray, school: np.ndarray) -> None:
        u = self._crn.uniform("trial.assign.students", 0, uid)
        groups = school if self.block == "school" else np.zeros(len(uid), dtype=np.int64)
        # every block at once: by block, then draw (equal draws by position: lexsort is
        # stable), and the first treated_count(size) of each block treated (a pass over every
        # student for each block grew with blocks x students: benchmarks/trial_assign.py)
        order = np.lexsort((u, groups))
        ranked = groups[order]
        starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1]))) \
            if len(order) else np.zeros(0, dtype=np.int64)
        sizes = np.diff(np.append(starts, len(order)))
        quota = np.array([treated_count(int(k), self.share) for k in sizes], dtype=np.int64)
        place = np.arange(len(order)) - np.repeat(starts, sizes)  # within the block
        arm = np.zeros(len(uid), dtype=bool)
        arm[order[place < np.repeat(quota, sizes)]] = True
        all_uid = np.concatenate([self._uid, uid])
        all_arm = np.concatenate([self._arm, arm])
        order = np.argsort(all_uid, kind="stable")
        self._uid, self._arm = all_uid[order], all_arm[order]

    def treated(self, uid: np.ndarray, school: np.ndarray) -> np.ndarray:
        uid = np.asarray(uid, dtype=np.int64)
        school = np.asarray(school)
        _, found = self._lookup(uid)
        if not found.all():
            new = ~found
            self._assign(uid[new], school[new])
        pos, _ = self._lookup(uid)
        return self._arm[pos].copy()

    def known(self, uid: np.ndarray) -> np.ndarray:
        """Whether each student has been randomised (was ever on roll while the policy ran)."""
        return self._lookup(np.asarray(uid, dtype=np.int64))[1]

    def eligible_from(self, uid: np.ndarray, school: np.ndarray) -> np.ndarray:
        return np.where(self.treated(uid, school), 0, NEVER).astype(np.int64)


class SchoolAssignment:
    """Schools randomised: every student of a treated school (now or later) may be referred."""

    def __init__(self, seed: int, share: float, n_schools: int):
        u = CRN(seed).uniform("trial.assign.schools", 0, np.arange(n_schools))
        order = np.argsort(u, kind="stable")
        self.school_treated = np.zeros(n_schools, dtype=bool)
        self.school_treated[order[:treated_count(n_schools, share)]] = True

    def treated(self, uid: np.ndarray, school: np.ndarray) -> np.ndarray:
        return self.school_treated[np.asarray(school)]

    def known(self, uid: np.ndarray) -> np.ndarray:
        return np.ones(len(uid), dtype=bool)

    def eligible_from(self, uid: np.ndarray, school: np.ndarray) -> np.ndarray:
        return np.where(self.treated(uid, school), 0, NEVER).astype(np.int64)


class SteppedWedgeAssignment:
    """Schools in random order split into ``steps`` groups as equal as possible; group k
    (1..steps) may refer from run week ``k * step_weeks``. Period 0 is everyone's control period.
    """

    def __init__(self, seed: int, steps: int, step_weeks: int, n_schools: int):
        u = CRN(seed).uniform("trial.assign.wedge", 0, np.arange(n_schools))
        order = np.argsort(u, kind="stable")
        self.start_period = np.empty(n_schools, dtype=np.int64)
        self.start_period[order] = np.arange(n_schools) * steps // n_schools + 1
        self.step_weeks = step_weeks
        self.start_week = self.start_period * step_weeks

    def treated(self, uid: np.ndarray, school: np.ndarray) -> np.ndarray:
        """Ever treated: every school is, in a stepped wedge."""
        return np.ones(len(np.asarray(uid)), dtype=bool)

    def known(self, uid: np.ndarray) -> np.ndarray:
        return np.ones(len(uid), dtype=bool)

    def eligible_from(self, uid: np.ndarray, school: np.ndarray) -> np.ndarray:
        return self.start_week[np.asarray(school)].astype(np.int64)


Assignment = StudentAssignment | SchoolAssignment | SteppedWedgeAssignment


def make_assignment(trial: Trial, seed: int, n_schools: int) -> Assignment:
    """The assignment of one replication, for a trust of ``n_schools`` schools."""
    r = trial.config.randomise
    problems = check_schools(trial.config, n_schools)
    if problems:
        key, what = problems[0]
        raise SrmsimError(f"{trial.source}: {key}: {what}")
    # Trial loading resolves the design's defaults; the checks narrow the optional fields
    if r.unit == "students":
        if r.share_treated is None or r.block is None:
            raise SrmsimError(f"{trial.source}: randomise.share_treated/block are unresolved")
        return StudentAssignment(seed, r.share_treated, r.block)
    if r.unit == "schools":
        if r.share_treated is None:
            raise SrmsimError(f"{trial.source}: randomise.share_treated is unresolved")
        return SchoolAssignment(seed, r.share_treated, n_schools)
    if r.steps is None or r.step_weeks is None:
        raise SrmsimError(f"{trial.source}: randomise.steps/step_weeks are unresolved")
    return SteppedWedgeAssignment(seed, r.steps, r.step_weeks, n_schools)
