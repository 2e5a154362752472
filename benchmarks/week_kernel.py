"""The week's compiled passes against its numpy passes, alternating in one process.

    python benchmarks/week_kernel.py                          # 100k and 1M students
    python benchmarks/week_kernel.py --sizes 100000 --weeks 8 --rounds 5

One model per size (no policy, history none, one core); each round runs ``--weeks`` weeks with
``SRMSIM_WEEK=compiled`` and as many with ``SRMSIM_WEEK=numpy``, the side that goes first
alternating between rounds, and prints wall and CPU nanoseconds per student-week of each side
(best round) and their ratio. Both sides give the same bits (tests/test_week_kernel.py), so the
model's state stays a fair input for either. The first compiled week (loading or compiling the
kernels) runs before the rounds and is reported on its own.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

from srmsim import kernels  # noqa: E402
from srmsim.model import TrustModel  # noqa: E402
from srmsim.scenario import Scenario  # noqa: E402


def _weeks(model: TrustModel, mode: str, weeks: int) -> tuple[float, float]:
    os.environ[kernels.ENV_WEEK] = mode
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(weeks):
        model.step()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--weeks", type=int, default=4, help="weeks per side per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    if kernels.week_kernel() is None:
        raise SystemExit("the compiled week needs numba: pip install 'srmsim[fast]'")
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
