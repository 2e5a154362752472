"""Capacity within schools and a records population's schools: every school at once, against a
school at a time.

A benchmark, not a test. ``flag_top_share`` (each school flags its own share of its riskiest
pupils: ``evaluate_risk``'s precision and recall at capacity, the pooling comparison) and a
trust built from pupil records (``population.records``: each school's rows, and the traits
each new student copies from a record of their school) work school by school. As shipped,
each sorts the rows once; the other side is how it was done before 2026-12-06: for each
school, a pass over every row to find its own. Both sides give the same flags and the same
traits (checked here; tests/test_groups_at_once.py checks ties and groups of one). The sides
alternate in this one process, round after round; wall and CPU seconds are printed per round,
with the ratio of the best times.

    python benchmarks/groups.py                              # 1M pupils in 1,000 schools
    python benchmarks/groups.py --pupils 3000000 --schools 3000 --rounds 3
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sides import alternate  # noqa: E402  (benchmarks/, this script's folder)

from srmsim.records import RecordPopulation  # noqa: E402
from srmsim.risk.capacity import _top_threshold  # noqa: E402
from srmsim.risk.models import _flag_top_share  # noqa: E402
from srmsim.rng import CRN  # noqa: E402

SHARE = 0.1


def flags_school_at_a_time(risk: np.ndarray, share: float, codes: np.ndarray) -> np.ndarray:
    """``_flag_top_share`` as it was: for each school, a mask of every row."""
    flags = np.zeros(risk.size, dtype=bool)
    for g in np.unique(codes):
        m = codes == g
        k = int(np.floor(share * m.sum() + 1e-9))
        t = _top_threshold(risk[m], k, "above")
        flags[m] = risk[m] > t
    return flags


def traits_school_at_a_time(pop: RecordPopulation, crn: CRN, uid: np.ndarray,
                            school: np.ndarray) -> np.ndarray:
    """The records each new student copies, as they were drawn before: school by school, each
    school's rows found by a mask of every record."""
    code = pop.df["_school"].to_numpy()
    u = crn.uniform("records.resample", 0, uid)
    pick = np.empty(len(uid), dtype=np.int64)
    for s in np.unique(school):
        sel = school == s
        rows = np.flatnonzero(code == s)
        pick[sel] = rows[np.minimum((u[sel] * len(rows)).astype(np.int64), len(rows) - 1)]
    return pick


def traits_as_shipped(pop: RecordPopulation, crn: CRN, uid: np.ndarray,
                      school: np.ndarray) -> np.ndarray:
    """The records as shipped, recovered from the traits drawn: each record's row number is
    planted in its ``prior_z`` (the copies' values, which the traits give times the attainment
    scale), so both sides return record rows."""
    from srmsim.population import attainment_sd
    from srmsim.scenario import PopulationConfig

    config = PopulationConfig()
    scaled = pop.traits(crn, uid, school, config)["prior_attainment"]
    return np.rint(scaled / attainment_sd(config, len(pop.school_ids))).astype(np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pupils", type=int, default=1_000_000)
    ap.add_argument("--schools", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    codes = rng.integers(0, args.schools, args.pupils)
    risk = rng.random(args.pupils)
    print(f"{args.pupils:,} pupils in {len(np.unique(codes)):,} schools; "
          f"each flags {SHARE:.0%} of its pupils")
    flags, best = alternate(
        {"every school at once": lambda: _flag_top_share(risk, SHARE, codes),
         "a school at a time": lambda: flags_school_at_a_time(risk, SHARE, codes)},
        args.rounds)
    same = bool(np.array_equal(flags["every school at once"], flags["a school at a time"]))
    print(f"capacity flags the same: {same}; flagged: {int(flags['a school at a time'].sum()):,}")
    print(f"best wall: {best[0]:.2f} s vs {best[1]:.2f} s: x{best[1] / best[0]:.1f}")

    records = pd.DataFrame({"school": [f"S{c:05d}" for c in codes]})
    pop = RecordPopulation(records)
    pop.prior_z = np.arange(args.pupils, dtype=np.float64)  # a record's row number, exactly
    school = pop.df["_school"].to_numpy()
    uid = np.arange(args.pupils, dtype=np.int64)
    crn = CRN(3)
    print(f"{args.pupils:,} new students, each copying a record of their school")
    picks, best = alternate(
        {"every school at once": lambda: traits_as_shipped(pop, crn, uid, school),
         "a school at a time": lambda: traits_school_at_a_time(pop, crn, uid, school)},
        args.rounds)
    same = bool(np.array_equal(picks["every school at once"], picks["a school at a time"]))
    print(f"records copied the same: {same}")
    print(f"best wall: {best[0]:.2f} s vs {best[1]:.2f} s: x{best[1] / best[0]:.1f}")


if __name__ == "__main__":
    main()
