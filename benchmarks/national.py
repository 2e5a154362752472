"""A trust of a whole country, end to end: where the time, the page faults and the memory go.

A benchmark, not a test. It runs ``scenarios/england.yaml`` (8,000 schools, about 8M students,
one year, history none) the way ``srmsim run`` does, and splits the wall clock, CPU time (user
and system; the helper processes of ``--threads 2`` separately) and minor page faults by phase: building the trust, the 39 weeks, the result
tables, writing the files. Peak RSS is the process's.

    python benchmarks/national.py                           # England, one thread
    python benchmarks/national.py --threads 2
    python benchmarks/national.py --schools 3500            # 3.5M students
    python benchmarks/national.py --memory default          # numpy's and glibc's memory defaults
    python benchmarks/national.py --policy scenarios/attendance_escalation.yaml
                                                            # England with that file's policy

Never run two of these at once on a small machine: 8M students need about 4 GB.
The end-to-end figure to quote is ``/usr/bin/time -v srmsim run scenarios/england.yaml``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Phases:
    """Wall, user, system seconds and minor page faults between calls of ``mark``."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, float, int]] = []
        self.peaks: list[float] = []
        self._last = self._now()

    @staticmethod
    def _now() -> tuple[float, float, float, int]:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return time.perf_counter(), r.ru_utime, r.ru_stime, r.ru_minflt

    def mark(self, name: str) -> None:
        now = self._now()
        self.rows.append((name, *(b - a for a, b in zip(self._last, now, strict=True))))
        self.peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
        self._last = self._now()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=None, help="override trust.n_schools")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--policy", default=None, metavar="SCENARIO",
                        help="give England the policy of this scenario file (the funder's "
                             "comparison: its events table is the run's largest)")
    parser.add_argument("--memory", choices=("srmsim", "default"), default="srmsim",
                        help="srmsim: the memory settings `srmsim` uses (srmsim.memory); "
                             "default: numpy's and glibc's own (huge pages, blocks returned)")
    args = parser.parse_args(argv)

    from srmsim.memory import keep_freed_memory
    from srmsim.model import TrustModel
    from srmsim.scenario import load_scenario

    if args.memory == "srmsim":
        keep_freed_memory()

    sc = load_scenario(ROOT / "scenarios" / "england.yaml")
    if args.schools:
        sc = sc.with_overrides({"trust.n_schools": args.schools})
    if args.policy:
        policy = load_scenario(args.policy).policy
        if policy is None:
            parser.error(f"{args.policy} has no policy")
        sc = sc.with_overrides({"policy": policy.model_dump(exclude_unset=True)},
                               source=f"england with the policy of {args.policy}")
    print(f"{sc.trust.n_schools:,} schools, "
          f"{'policy of ' + args.policy if args.policy else 'no policy'}, "
          f"{args.threads} thread(s), {args.memory} memory "
          f"settings, load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    ph = Phases()
    model = TrustModel(sc, threads=args.threads)
    n = len(model.students)
    ph.mark("build the trust")
    model.run()
    ph.mark("39 weeks")
    result = model.results(final=True)  # as `srmsim run`: the frame shares the finished table
    model.release()
    del model
    gc.collect()
    ph.mark("result tables")
    with tempfile.TemporaryDirectory() as out:
        result.write(out)
        ph.mark("write files")
    weeks = int(result.weekly["enrolled"].sum())
    events = f", {len(result.events):,} events" if result.events is not None else ""
    print(f"{n:,} students, {weeks:,} student-weeks{events}")
    print(f"{'phase':<16} {'wall s':>8} {'user s':>8} {'sys s':>7} {'faults':>9} "
          f"{'peak GiB':>9}")
    total = [0.0, 0.0, 0.0, 0]
    for (name, wall, user, sys_, faults), peak in zip(ph.rows, ph.peaks, strict=True):
        print(f"{name:<16} {wall:>8.1f} {user:>8.1f} {sys_:>7.1f} {faults:>9,} {peak:>9.2f}")
        total = [total[0] + wall, total[1] + user, total[2] + sys_, total[3] + faults]
    print(f"{'total':<16} {total[0]:>8.1f} {total[1]:>8.1f} {total[2]:>7.1f} {total[3]:>9,}")
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN)  # reaped when the model released them
    if args.threads > 1:
        print(f"helper processes (--threads > 1 on Linux): {helpers.ru_utime:.1f} s user, "
              f"{helpers.ru_stime:.1f} s sys, peak RSS {helpers.ru_maxrss / 2**20:.2f} GiB "
              "(shared student table counted in both)")
    steps = ph.rows[1]
    print(f"weeks: {steps[1] * 1e9 / weeks:.0f} ns per student-week wall, "
          f"{(steps[2] + steps[3]) * 1e9 / weeks:.0f} ns CPU")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"peak RSS {peak / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
