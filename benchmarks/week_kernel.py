"""The week's compiled passes against its numpy passes, alternating in one process.

    python benchmarks/week_kernel.py                          # 100k and 1M students
    python benchmarks/week_kernel.py --sizes 100000 --weeks 8 --rounds 5
    python benchmarks/week_kernel.py --outside --sizes 1000000 --rounds 6

One model per size (no policy, history none, one core); each round runs ``--weeks`` weeks with
``SRMSIM_WEEK=compiled`` and as many with ``SRMSIM_WEEK=numpy``, the side that goes first
alternating between rounds, and prints wall and CPU nanoseconds per student-week of each side
(best round) and their ratio. Both sides give the same bits (tests/test_week_kernel.py), so the
model's state stays a fair input for either. The first compiled week (loading or compiling the
kernels) runs before the rounds and is reported on its own.

``--outside``: both sides run the compiled week; one runs the rest of each block's pass (the
schools' totals, the reading test, the term's assessments) compiled too, the other as numpy
passes. Each round runs a whole school year of a fresh model a side (the tests fall in 7 of
its 39 weeks), sides alternating, and the per-round ratio of CPU times is printed as well.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

# Measure the srmsim of this checkout, whatever copy is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srmsim import kernels  # noqa: E402
from srmsim.model import TrustModel  # noqa: E402
from srmsim.scenario import Scenario  # noqa: E402


def _weeks(model: TrustModel, mode: str, weeks: int) -> tuple[float, float]:
    os.environ[kernels.ENV_WEEK] = mode
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(weeks):
        model.step()
    return time.perf_counter() - wall, time.process_time() - cpu


def _year_outside(size: int, compiled: bool) -> tuple[float, float, int, int]:
    """One school year of a fresh model on the compiled week, the block's other passes compiled
    or not; wall and CPU seconds of the step loop, the student-weeks and the students."""
    from srmsim import dynamics

    def numpy_outside(t, d, crn, step, week, wlogit, obs, starts, sizes, reading, term_end, rows):
        dynamics.week_rows_compiled(t, d, crn, step, week, wlogit, obs, rows)
        first, part = dynamics.block_totals(t, obs, starts, sizes, rows, compiled=False)
        if reading:
            dynamics.reading_test(t, d, crn, step, rows, compiled=False)
        if term_end:
            dynamics.term_assessments(t, d, crn, step, rows, compiled=False)
        return first, part

    scenario = Scenario(trust={"n_schools": max(1, round(size / 1000)), "size_cv": 0.0,
                               "students_per_year_group": 200}, outputs={"history": "none"})
    model = TrustModel(scenario, seed=1)
    block, dynamics.week_block = dynamics.week_block, (
        dynamics.week_block if compiled else numpy_outside)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        model.run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return wall, cpu, int(model.weekly()["enrolled"].sum()), len(model.students)
    finally:
        dynamics.week_block = block
        model.release()


def outside(sizes: list[int], rounds: int) -> None:
    """``--outside``: the block's other passes compiled against numpy, whole years alternating."""
    os.environ[kernels.ENV_WEEK] = "compiled"
    print(f"one core; compiled week; each round a school year a side, sides alternating; load "
          f"average before: {os.getloadavg()[0]:.2f}")
    print(f"{'students':>10} {'outside':>9} {'ns/sw wall':>11} {'ns/sw CPU':>10}  (best round)")
    for size in sizes:
        best = {"compiled": [float("inf")] * 2, "numpy": [float("inf")] * 2}
        ratios = []
        n = size
        for r in range(rounds):
            cpu = {}
            for side in (("compiled", "numpy") if r % 2 == 0 else ("numpy", "compiled")):
                wall, cpu[side], sw, n = _year_outside(size, side == "compiled")
                per = [wall / sw * 1e9, cpu[side] / sw * 1e9]
                best[side] = [min(best[side][0], per[0]), min(best[side][1], per[1])]
            ratios.append(cpu["numpy"] / cpu["compiled"])
        for side in ("numpy", "compiled"):
            print(f"{n:>10,} {side:>9} {best[side][0]:>11.1f} {best[side][1]:>10.1f}")
        ratios.sort()
        print(f"{'':>10} {'x faster':>9} {best['numpy'][0] / best['compiled'][0]:>11.2f} "
              f"{best['numpy'][1] / best['compiled'][1]:>10.2f}  CPU per round: "
              f"{', '.join(f'{x:.2f}' for x in ratios)} (median {ratios[len(ratios) // 2]:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--weeks", type=int, default=4, help="weeks per side per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--outside", action="store_true",
                        help="the block's totals and tests compiled against numpy, within the "
                             "compiled week (whole years)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    if kernels.week_kernel() is None:
        raise SystemExit("the compiled week needs numba: pip install 'srmsim[fast]'")
    if args.outside:
        outside(args.sizes, args.rounds)
        return
    print(f"one core; each round {args.weeks} weeks a side, sides alternating; load average "
          f"before: {os.getloadavg()[0]:.2f}")
    print(f"{'students':>10} {'side':>9} {'ns/sw wall':>11} {'ns/sw CPU':>10}  first compiled week")
    for size in args.sizes:
        schools = max(1, round(size / 1000))
        scenario = Scenario(trust={"n_schools": schools, "students_per_year_group": 200},
                            outputs={"history": "none"}, years=1 + args.rounds * 2 * args.weeks // 39)
        model = TrustModel(scenario, seed=1)
        n = len(model.students)
        first, _ = _weeks(model, "compiled", 1)
        best = {"compiled": [float("inf")] * 2, "numpy": [float("inf")] * 2}
        for r in range(args.rounds):
            order = ("compiled", "numpy") if r % 2 == 0 else ("numpy", "compiled")
            for mode in order:
                wall, cpu = _weeks(model, mode, args.weeks)
                best[mode] = [min(best[mode][0], wall), min(best[mode][1], cpu)]
        per = {m: [v / (n * args.weeks) * 1e9 for v in best[m]] for m in best}
        for mode in ("numpy", "compiled"):
            extra = f"  {first:.2f} s" if mode == "compiled" else ""
            print(f"{n:>10,} {mode:>9} {per[mode][0]:>11.1f} {per[mode][1]:>10.1f}{extra}")
        print(f"{'':>10} {'x faster':>9} {per['numpy'][0] / per['compiled'][0]:>11.2f} "
              f"{per['numpy'][1] / per['compiled'][1]:>10.2f}")
        model.release()


if __name__ == "__main__":
    main()
