"""A trial's randomisation of students within schools: every school at once, against a school
at a time.

A benchmark, not a test. A trial that randomises students within schools (``unit: students``,
``block: school``) allocates each replication's students when they are first seen. As shipped,
every school's students are ordered by their draws in one sort and the first
``treated_count(size)`` of each school are treated; the other side is how it was done before
2026-12-06: for each school, a pass over every student to find its own, then a sort of them.
Both sides give the same arms (checked here; tests/test_trial_assign_blocks.py checks ties in
the draws). The sides alternate in this one process, round after round; wall and CPU seconds
are printed per round, with the ratio of the best times.

    python benchmarks/trial_assign.py                        # 1M students in 1,000 schools
    python benchmarks/trial_assign.py --students 3000000 --schools 3000 --rounds 3
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sides import alternate  # noqa: E402  (benchmarks/, this script's folder)

from srmsim.trial.assign import StudentAssignment  # noqa: E402
from srmsim.trial.spec import treated_count  # noqa: E402

SHARE = 0.5


class SchoolAtATime(StudentAssignment):
    """The allocation as it was before: for each school, a pass over every new student to find
    its own, then a sort of them by their draws (the rest of the bookkeeping as shipped)."""

    def _assign(self, uid: np.ndarray, school: np.ndarray) -> None:
        u = self._crn.uniform("trial.assign.students", 0, uid)
        groups = school if self.block == "school" else np.zeros(len(uid), dtype=np.int64)
        arm = np.zeros(len(uid), dtype=bool)
        for g in np.unique(groups):
            idx = np.flatnonzero(groups == g)
            order = idx[np.argsort(u[idx], kind="stable")]
            arm[order[:treated_count(len(idx), self.share)]] = True
        all_uid = np.concatenate([self._uid, uid])
        all_arm = np.concatenate([self._arm, arm])
        order = np.argsort(all_uid, kind="stable")
        self._uid, self._arm = all_uid[order], all_arm[order]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=1_000_000)
    ap.add_argument("--schools", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    uid = rng.permutation(args.students).astype(np.int64)
    school = rng.integers(0, args.schools, args.students)
    print(f"{args.students:,} students in {len(np.unique(school)):,} schools, half treated in "
          "each")
    arms, best = alternate(
        {"every school at once": lambda: StudentAssignment(7, SHARE, "school").treated(uid, school),
         "a school at a time": lambda: SchoolAtATime(7, SHARE, "school").treated(uid, school)},
        args.rounds)
    same = bool(np.array_equal(arms["every school at once"], arms["a school at a time"]))
    print(f"same arms: {same}; treated: {int(arms['every school at once'].sum()):,}")
    print(f"best wall: {best[0]:.2f} s vs {best[1]:.2f} s: x{best[1] / best[0]:.1f}")


if __name__ == "__main__":
    main()
