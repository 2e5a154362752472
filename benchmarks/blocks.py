"""Block size and threads for one large run: the weeks alone, settings alternating.

A benchmark, not a test. Each setting (block rows x threads) builds the trust in a fresh child
process and steps it for ``--weeks`` weeks; the settings take turns, round after round, so a
machine that speeds up or slows down moves every setting alike. Printed per setting: wall and
CPU seconds of the weeks in each round (the helper processes' too), the best, and the ratio of each setting's best wall time
to the first setting's. The results never depend on these settings (tests/test_blocks.py).

    python benchmarks/blocks.py                                  # England, 1 vs 2 cores
    python benchmarks/blocks.py --rows 65536 131072 262144 524288 --threads 1 2
    python benchmarks/blocks.py --schools 1000 --rounds 5        # 1M students

Never run two of these at once on a small machine: 8M students need about 3 GB.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(schools: int | None, rows: int, threads: int, weeks: int) -> dict[str, float]:
    """Build the trust, then time ``weeks`` weeks (wall and this process's CPU)."""
    from srmsim.memory import keep_freed_memory
    from srmsim.model import TrustModel
    from srmsim.scenario import load_scenario

    keep_freed_memory()  # as the `srmsim` command does
    sc = load_scenario(ROOT / "scenarios" / "england.yaml")
    if schools:
        sc = sc.with_overrides({"trust.n_schools": schools})
    model = TrustModel(sc, threads=threads, block_rows=rows)
    helpers = model._helpers.pids if model._helpers is not None else []
    wall, cpu, other = time.perf_counter(), time.process_time(), _cpu_of(helpers)
    for _ in range(weeks):
        model.step()
    return {"students": len(model.students), "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu + _cpu_of(helpers) - other}


def _cpu_of(pids: list[int]) -> float:
    """CPU seconds used so far by the run's helper processes (Linux /proc)."""
    ticks = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(") ", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=None, help="override trust.n_schools")
    parser.add_argument("--rows", type=int, nargs="+", default=[1 << 16])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        schools, rows, threads, weeks = args.child
        print(json.dumps(child(schools or None, rows, threads, weeks)))
        return 0

    settings = [(r, t) for t in args.threads for r in args.rows]
    print(f"load average {os.getloadavg()[0]:.1f}; {args.weeks} weeks per run, "
          f"{args.rounds} rounds, settings alternating", flush=True)
    seen: dict[tuple[int, int], list[dict[str, float]]] = {s: [] for s in settings}
    for _ in range(args.rounds):
        for rows, threads in settings:
            out = subprocess.run([sys.executable, __file__, "--child", str(args.schools or 0),
                                  str(rows), str(threads), str(args.weeks)],
                                 capture_output=True, text=True, check=True)
            seen[(rows, threads)].append(json.loads(out.stdout.strip().splitlines()[-1]))
    students = next(iter(seen.values()))[0]["students"]
    print(f"{students:,.0f} students")
    print(f"{'rows':>9} {'threads':>7}  {'wall s by round':<26} {'cpu s by round':<26} "
          f"{'best wall':>9} {'vs first':>8}")
    first = min(r["wall"] for r in seen[settings[0]])
    for (rows, threads), runs in seen.items():
        best = min(r["wall"] for r in runs)
        walls = " ".join(f"{r['wall']:.2f}" for r in runs)
        cpus = " ".join(f"{r['cpu']:.2f}" for r in runs)
        print(f"{rows:>9,} {threads:>7}  {walls:<26} {cpus:<26} {best:>9.2f} "
              f"{first / best:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
