"""The threshold test of withholding on real records: the whole audit against its primary rule.

A benchmark, not a test. :func:`srmsim.trial.groups.under_threshold` (which counts are under
10) is asked many times a table by :mod:`srmsim.experiment.withhold` and
:func:`srmsim.trial.groups.withhold_small_groups`. Until 2026-12-07 it built a one-column table
and ran the whole :func:`srmsim.privacy.suppression_masks` audit (about 14 ms a call); it now
applies the audit's primary rule alone (a column with no total has no secondary cells). Both
sides give the same cells (checked here; tests/test_privacy253.py checks the cases). The sides
alternate, round after round; the best microseconds a call of each are printed, with the ratio.

    python benchmarks/withhold.py
    python benchmarks/withhold.py --calls 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def audit(values: np.ndarray, threshold: int) -> np.ndarray:
    """The cells as the test found them before: the whole audit of a one-column table."""
    from srmsim.privacy import suppression_masks

    cells = pd.DataFrame({"count": np.asarray(values, dtype=float)})
    primary, _ = suppression_masks(cells, ["count"], threshold, total_row=None,
                                   total_column=None)
    return primary["count"].to_numpy(dtype=bool, copy=True)


def main() -> None:
    from srmsim.trial.groups import under_threshold

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="calls a side a round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = [np.where(rng.random(k) < 0.1, np.nan, rng.integers(0, 30, k).astype(float))
             for k in rng.integers(1, 6, args.calls)]
    for v in cases:
        assert np.array_equal(audit(v, 10), under_threshold(v, 10)), v
    best = {"audit": np.inf, "primary rule": np.inf}
    for r in range(args.rounds):
        for name, fn in (("audit", audit), ("primary rule", under_threshold)):
            t0 = time.perf_counter()
            for v in cases:
                fn(v, 10)
            per_call = (time.perf_counter() - t0) / len(cases) * 1e6
            best[name] = min(best[name], per_call)
            print(f"round {r + 1}  {name:<13} {per_call:10.1f} µs a call")
    print(f"best: audit {best['audit']:.1f} µs a call, primary rule "
          f"{best['primary rule']:.1f} µs a call ({best['audit'] / best['primary rule']:.0f}x)")


if __name__ == "__main__":
    main()
