"""numpy's sort of the staff queue's keys, with and without its AVX-512 code: a machine check.

A benchmark, not a test. The policy engine orders each week's queue with one ``np.sort`` of
packed ``uint64`` keys (:func:`srmsim.policy.engine.queue_order`). numpy picks its sort's SIMD
code when it is imported; on some machines (the AMD EPYC VM of 2026-12-06) its AVX-512 sort
is several times slower than its AVX2 one, which makes a policy's week slower there than the
same code on another machine. This script times the sort of random keys at queue sizes in
child processes started alternately with numpy's defaults and with AVX-512 turned off
(``NPY_DISABLE_CPU_FEATURES``, read by numpy at import), and prints ns a key and the ratio.
The engine cannot choose per call: the environment variable changes every numpy function of
the process (see benchmarks/README.md for what that did to a whole run).

    python benchmarks/sort_keys.py
    python benchmarks/sort_keys.py --sizes 1000 8000 19000 100000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_name  # noqa: E402

#: numpy's CPU features that select its AVX-512 sort (numpy >= 2.0 names)
NO_AVX512 = "X86_V4 AVX512_ICL AVX512_SPR"


def _child(sizes: list[int]) -> None:
    """Time ``np.sort`` of random ``uint64`` keys at each size; print JSON (ns a key)."""
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    out = {}
    for n in sizes:
        keys = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
        reps = max(3, 2_000_000 // n)
        best = best_cpu = float("inf")
        for _ in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(reps):
                np.sort(keys)
            best = min(best, (time.perf_counter() - t0) / reps)
            best_cpu = min(best_cpu, (time.process_time() - c0) / reps)
        out[str(n)] = [best / n * 1e9, best_cpu / n * 1e9]
    print(json.dumps(out))


def _run(sizes: list[int], disable: bool) -> dict[str, list[float]]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("NPY_DISABLE_CPU_FEATURES", None)
    if disable:
        env["NPY_DISABLE_CPU_FEATURES"] = NO_AVX512
    cmd = [sys.executable, __file__, "--child", *map(str, sizes)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 8_000, 19_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", type=int, nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    import numpy as np

    print(f"np.sort of uint64 keys on {cpu_name()}, numpy {np.__version__}: best of each side "
          f"over {args.rounds} alternating rounds (child processes)")
    best = {False: {}, True: {}}
    for _ in range(args.rounds):
        for disable in (False, True):
            for n, (wall, cpu) in _run(args.sizes, disable).items():
                old = best[disable].get(n, (float("inf"), float("inf")))
                best[disable][n] = (min(old[0], wall), min(old[1], cpu))
    print(f"{'keys':>9}  {'default ns/key':>14}  {'no AVX-512 ns/key':>17}  "
          f"{'ratio (wall)':>12}  {'ratio (CPU)':>11}")
    for n in map(str, args.sizes):
        (w0, c0), (w1, c1) = best[False][n], best[True][n]
        print(f"{int(n):>9,}  {w0:>14.1f}  {w1:>17.1f}  {w0 / w1:>11.2f}x  {c0 / c1:>10.2f}x")
    print("ratio = default / without AVX-512: above 1, numpy's default sort is the slower here")


if __name__ == "__main__":
    main()
