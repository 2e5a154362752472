"""Threshold tables by group: every group counted at once, against one count a group.

A benchmark, not a test. ``threshold_table(..., by="school")`` (and ``srmsim thresholds --by
school``) for a trust of many schools: the table as shipped sorts (group, score rank) keys once
and counts every group's flags with one ``searchsorted``; the other side counts each group on
its own with ``confusion_at``, as the table did before, finding each group's rows by comparing
every row's label with the group's. Both sides give the same table (checked here; the cases are
tested in tests/test_thresholds_by_group.py). The sides alternate in this one process, round
after round; wall and CPU seconds are printed per round, with the ratio of the best times,
then the protected table of real pupils' data (``protect=10``), which builds it more than once,
and the check of the rows such a table leaves out (``left_out_problem``), every group at once
against a mask of every row a group, as it was before 2026-12-06.

``--counting`` (added 2026-12-06) times instead the two counts ``srmsim thresholds`` on real
data repeats on every row: a table's flags by school, counted by each score's place among the
thresholds (``_flag_counts``) against sorted (school, score rank) keys as before; and the curves' bootstrap
over schools, a (tie group x school) table weighted by each replicate's draws
(``ClusterTable``) against each replicate's running totals over every row as before. Both
sides give the same numbers to the bit (checked here).

    python benchmarks/thresholds.py                          # 400,000 pupils in 2,000 schools
    python benchmarks/thresholds.py --pupils 50000 --schools 250 --rounds 3
    python benchmarks/thresholds.py --counting --pupils 2000000 --schools 800
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

from sides import alternate  # noqa: E402  (benchmarks/, this script's folder)

from srmsim.labels import excerpt  # noqa: E402
from srmsim.risk import confusion_at, threshold_table  # noqa: E402
from srmsim.risk._cluster_table import ClusterTable  # noqa: E402
from srmsim.risk._columns import group_labels, group_order  # noqa: E402
from srmsim.risk.curves import _points, _prepare, bootstrap_draws  # noqa: E402
from srmsim.risk.thresholds import _flag_counts, left_out_problem  # noqa: E402


def pupils(n: int, schools: int, seed: int = 1) -> pd.DataFrame:
    """Attendance rates (a fortieth of them missing), who went on to be persistently absent
    (about a tenth), and a school each."""
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


def left_out_a_mask_a_group(df: pd.DataFrame, min_count: int) -> str | None:
    """The left-out check by school the way it was made before: a mask of every row for each
    group (all built first), then the three kinds of left-out rows counted in each."""
    s = df["attendance"].to_numpy(dtype=float)
    y = df["absent"].to_numpy(dtype=float)
    left = np.isnan(s) | np.isnan(y)
    positive = left & (y == 1)
    labels = group_labels(df, "school")
    units = [("", np.ones(len(df), dtype=bool))]
    units += [(f" in group {excerpt(g, 40)} of 'school'", labels == g)
              for g in group_order(labels)]
    for where, rows in units:
        for part in (left, positive, left & ~positive):
            if 0 < int((part & rows).sum()) < min_count:
                return where
    return None


def flags_by_sorting(score: np.ndarray, group: np.ndarray, n_groups: int,
                     t: np.ndarray) -> np.ndarray:
    """The flags of ``score < t`` by group as the table counted them before 2026-12-06: a key
    of each row's group and score rank, the keys sorted, then one ``searchsorted``."""
    values = np.unique(np.concatenate([score, t]))
    width = values.size
    keys = np.sort(group * width + np.searchsorted(values, score))
    probe = np.arange(n_groups)[:, None] * width + np.searchsorted(values, t)[None, :]
    sizes = np.bincount(group, minlength=n_groups)
    return np.searchsorted(keys, probe, side="left") - (np.cumsum(sizes) - sizes)[:, None]


def bootstrap_by_rows(prep, codes: np.ndarray, n_clusters: int, n_boot: int) -> list:
    """Each replicate's (tp, fp) as the curves counted them before: every row weighted by its
    school's draws, then running totals over every row."""
    return [_points(prep, draws[codes]) for draws in bootstrap_draws(n_clusters, n_boot, 0)]


def bootstrap_by_table(prep, codes: np.ndarray, n_clusters: int, n_boot: int) -> list:
    """The same from the (tie group x school) table counted once."""
    table = ClusterTable(prep.y, prep.ends, codes, n_clusters)
    return [table.points(draws) for draws in bootstrap_draws(n_clusters, n_boot, 0)]


def counting(df: pd.DataFrame, rounds: int, n_boot: int) -> None:
    """``--counting``: a table's flags, and the curves' bootstrap, both ways."""
    used = df["attendance"].notna().to_numpy()
    s = df["attendance"].to_numpy(dtype=float)[used]
    y = df["absent"].to_numpy(dtype=float)[used]
    t = threshold_table(df, "attendance", "absent")["threshold"].to_numpy()
    school = pd.factorize(df["school"].to_numpy()[used], sort=True)[0].astype(np.int64)
    n_schools = int(school.max()) + 1
    print(f"{s.size:,} pupils with a score, {t.size} thresholds, flags of score < t by "
          "school, 10 tables")
    found, best = alternate(
        {"flags: place among thresholds":
         lambda: [_flag_counts(s, t, "below", school, n_schools)[1] for _ in range(10)],
         "flags: sorted keys": lambda: [flags_by_sorting(s, school, n_schools, t)
                                        for _ in range(10)]},
        rounds)
    same = all(np.array_equal(a, b) for a, b in zip(*found.values(), strict=True))
    print(f"same flags: {same}; best wall: {best[0]:.2f} s vs {best[1]:.2f} s: "
          f"x{best[1] / best[0]:.1f}")
    # real data: the curves are of the score in its ~100 published bands (banded here by the
    # thresholds), resampled by school
    band = np.searchsorted(t, s, side="right").astype(float)
    prep = _prepare(band, y, "below")
    codes = pd.factorize(df["school"].to_numpy()[used], sort=True)[0].astype(np.int64)
    n_clusters = int(codes.max()) + 1
    sorted_codes = codes[prep.order]
    print(f"bootstrap over {n_clusters:,} schools, {prep.ends.size} bands, {n_boot} replicates")
    found, best = alternate(
        {"bootstrap: band x school table":
         lambda: bootstrap_by_table(prep, sorted_codes, n_clusters, n_boot),
         "bootstrap: every row a replicate":
         lambda: bootstrap_by_rows(prep, sorted_codes, n_clusters, n_boot)}, rounds)
    same = all(np.array_equal(a, b) for pa, pb in zip(*found.values(), strict=True)
               for a, b in zip(pa, pb, strict=True))
    print(f"same totals to the bit: {same}; best wall: {best[0]:.2f} s vs {best[1]:.2f} s: "
          f"x{best[1] / best[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pupils", type=int, default=400_000)
    ap.add_argument("--schools", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--counting", action="store_true",
                    help="time a table's flags and the curves' bootstrap, both ways")
    ap.add_argument("--n-boot", type=int, default=200, help="replicates with --counting")
    args = ap.parse_args()
    df = pupils(args.pupils, args.schools)
    if args.counting:
        counting(df, args.rounds, args.n_boot)
        return
    print(f"{len(df):,} pupils, {df['school'].nunique():,} schools, by school, "
          "attendance below each of the default thresholds")

    def at_once() -> pd.DataFrame:
        return threshold_table(df, "attendance", "absent", "below", by="school")

    tables, best = alternate({"every group at once": at_once,
                              "one count a group": lambda: one_count_a_group(df, "below")},
                             args.rounds)
    at, each = tables["every group at once"], tables["one count a group"]
    same = at[each.columns].equals(each)
    print(f"same counts and rates: {same}; rows: {len(each):,}")
    print(f"best wall: {best[0]:.2f} s vs {best[1]:.2f} s: x{best[1] / best[0]:.1f}")
    # real pupils' data: the table keeps only thresholds with 10 pupils either side in every
    # group, which builds the by-school table more than once
    w, c = time.perf_counter(), time.process_time()
    kept = threshold_table(df, "attendance", "absent", "below", by="school", protect=10)
    w, c = time.perf_counter() - w, time.process_time() - c
    print(f"with protect=10 (as for real pupils' data): {w:.2f} s wall, {c:.2f} s CPU, "
          f"{len(kept):,} rows kept")
    # the check of the rows such a table leaves out, by school: every group at once against a
    # mask a group (a fortieth of the pupils have no attendance rate: schools with 1-9 such)
    found, best = alternate(
        {"left out, every group at once":
         lambda: left_out_problem(df, "attendance", "absent", "school", 10),
         "left out, a mask a group": lambda: left_out_a_mask_a_group(df, 10)}, args.rounds)
    message = found["left out, every group at once"]
    where = found["left out, a mask a group"]
    same = isinstance(message, str) and where is not None and \
        message.startswith(f"fewer than 10 rows{where} ")
    print(f"same group refused: {same}; best wall: {best[0]:.2f} s vs {best[1]:.2f} s: "
          f"x{best[1] / best[0]:.1f}")


if __name__ == "__main__":
    main()
