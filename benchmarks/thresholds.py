"""Threshold tables by group: every group counted at once, against one count a group.

A benchmark, not a test. ``threshold_table(..., by="school")`` (and ``srmsim thresholds --by
school``) for a trust of many schools: the table as shipped sorts (group, score rank) keys once
and counts every group's flags with one ``searchsorted``; the other side counts each group on
its own with ``confusion_at``, as the table did before, finding each group's rows by comparing
every row's label with the group's. Both sides give the same table (checked here; the cases are
tested in tests/test_thresholds_by_group.py). The sides alternate in this one process, round
after round; wall and CPU seconds are printed per round, with the ratio of the best times,
then the protected table of real pupils' data (``protect=10``), which builds it more than once.

    python benchmarks/thresholds.py                          # 400,000 pupils in 2,000 schools
    python benchmarks/thresholds.py --pupils 50000 --schools 250 --rounds 3
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srmsim.risk import confusion_at, threshold_table  # noqa: E402
from srmsim.risk._columns import group_labels, group_order  # noqa: E402


def pupils(n: int, schools: int, seed: int = 1) -> pd.DataFrame:
    """Attendance rates (a fortieth of them missing), who went on to be persistently absent
    (a tenth), and a school each."""
    rng = np.random.default_rng(seed)
    attendance = np.round(rng.beta(18, 1.8, n), 3)
    attendance[rng.random(n) < 0.025] = np.nan
    absent = rng.random(n) < np.clip(1.6 * (1 - np.nan_to_num(attendance, nan=0.9)), 0, 1)
    return pd.DataFrame({"attendance": attendance, "absent": absent,
                         "school": rng.integers(0, schools, n)})


def one_count_a_group(df: pd.DataFrame, direction: str) -> pd.DataFrame:
    """The by-school rows (without the fairness columns) the way the table made them before:
    each group's rows found by comparing labels, then counted on their own."""
    labels = group_labels(df, "school")
    s = df["attendance"].to_numpy(dtype=float)
    y = df["absent"].to_numpy(dtype=float)
    used = ~np.isnan(s)
    t = threshold_table(df, "attendance", "absent", direction)["threshold"].to_numpy()
    parts = []
    for g in group_order(labels):
        mine = labels == g
        part = confusion_at(s[used & mine], y[used & mine], t, direction)
        part.insert(0, "n_missing", int((mine & ~used).sum()))
        part.insert(0, "group", g)
        part.insert(0, "by", "school")
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pupils", type=int, default=400_000)
    ap.add_argument("--schools", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    df = pupils(args.pupils, args.schools)
    print(f"{len(df):,} pupils, {df['school'].nunique():,} schools, by school, "
          "attendance below each of the default thresholds")

    def at_once() -> pd.DataFrame:
        return threshold_table(df, "attendance", "absent", "below", by="school")

    sides = {"every group at once": at_once,
             "one count a group": lambda: one_count_a_group(df, "below")}
    best: dict[str, float] = {}
    tables: dict[str, pd.DataFrame] = {}
    for r in range(args.rounds):
        for name, fn in (sides.items() if r % 2 == 0 else reversed(sides.items())):
            w, c = time.perf_counter(), time.process_time()
            tables[name] = fn()
            w, c = time.perf_counter() - w, time.process_time() - c
            best[name] = min(best.get(name, np.inf), w)
            print(f"round {r + 1}  {name:<20} {w:7.2f} s wall  {c:7.2f} s CPU")
    at, each = tables["every group at once"], tables["one count a group"]
    same = at[each.columns].equals(each)
    print(f"same counts and rates: {same}; rows: {len(each):,}")
    first, second = best["every group at once"], best["one count a group"]
    print(f"best wall: {first:.2f} s vs {second:.2f} s: x{second / first:.1f}")
    # real pupils' data: the table keeps only thresholds with 10 pupils either side in every
    # group, which builds the by-school table more than once
    w, c = time.perf_counter(), time.process_time()
    kept = threshold_table(df, "attendance", "absent", "below", by="school", protect=10)
    w, c = time.perf_counter() - w, time.process_time() - c
    print(f"with protect=10 (as for real pupils' data): {w:.2f} s wall, {c:.2f} s CPU, "
          f"{len(kept):,} rows kept")


if __name__ == "__main__":
    main()
