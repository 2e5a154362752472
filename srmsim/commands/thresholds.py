"""``srmsim thresholds PATH --score COL --outcome COL``: threshold table, curves and fairness plots.

PATH is a CSV or Parquet file, or a run directory holding ``students.parquet``. Writes
``thresholds.csv`` (and with ``--by`` ``thresholds_by_group.csv`` and ``fairness_gaps.csv``),
``roc.png``, ``pr.png`` and with ``--by`` ``fairness.png`` into ``--out`` (default: a
``thresholds/`` folder next to the input), and prints the rows an analyst looks at first: the
missing-row counts, AUC with its cluster-bootstrap interval, the best-F1 threshold, the threshold
at capacity, the cost-minimising threshold, and the largest group gaps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from srmsim.errors import DataError, SrmsimError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "thresholds",
        help="threshold table, ROC/PR curves and fairness plots for a score and an outcome",
        description="Tabulate flags, precision, recall and group gaps for every threshold of a "
        "score, with ROC/PR curves bootstrapped over schools. PATH is a CSV or Parquet file, or "
        "a run directory containing students.parquet.",
    )
    p.add_argument("path", help="CSV / Parquet file or run directory with students.parquet")
    p.add_argument("--score", required=True, help="score column, e.g. attendance_rate")
    p.add_argument("--outcome", required=True, help="boolean or 0/1 outcome column")
    p.add_argument("--direction", choices=["below", "above"], default="below",
                   help="flag score < t (below, default) or score > t (above)")
    p.add_argument("--by", nargs="+", action="extend", default=[], metavar="COL",
                   help="group columns for fairness, e.g. --by fsm sen sex")
    p.add_argument("--thresholds", nargs="+", type=float, default=None, metavar="T",
                   help="thresholds to tabulate (default: distinct values or percentiles)")
    p.add_argument("--cluster", default="school",
                   help="column whose clusters the bootstrap resamples (default school; "
                   "'none' resamples rows)")
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap replicates (default 200)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--capacity", type=int, default=None, metavar="N",
                   help="cases staff can take in total")
    p.add_argument("--staff-minutes", type=float, default=None, metavar="M",
                   help="staff minutes available (with --minutes-per-case)")
    p.add_argument("--minutes-per-case", type=float, default=None, metavar="C",
                   help="staff minutes one case needs")
    p.add_argument("--cost-per-case", type=float, default=0.0, help="cost of one case")
    p.add_argument("--cost-missed", type=float, default=None,
                   help="cost of missing a student who reaches the outcome")
    p.add_argument("--cost-needless", type=float, default=None,
                   help="cost of a needless intervention")
    p.add_argument("--out", default=None, help="output directory (default: <input>/thresholds)")
    p.set_defaults(func=run)


def load_frame(path: str | Path) -> tuple[pd.DataFrame, Path]:
    """Read a CSV / Parquet file or a run directory's students.parquet; return it and its folder."""
    path = Path(path)
    if path.is_dir():
        target = path / "students.parquet"
        if not target.exists():
            found = sorted(p.name for p in path.iterdir())[:10]
            raise DataError(f"{path}: run directory has no students.parquet (found {found})")
        base = path
    elif path.exists():
        target = path
        base = path.parent
    else:
        raise DataError(f"{path}: no such file or directory")
    suffix = target.suffix.lower()
    try:
        if suffix == ".csv":
            df = pd.read_csv(target)
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(target)
        else:
            raise DataError(f"{target}: expected a .csv or .parquet file, got '{suffix}'")
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - any reader failure is a user-facing data error
        raise DataError(f"{target}: cannot read ({type(err).__name__}: {err})") from err
    return df, base


def _fmt(x: float, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    return f"{x:.1%}" if pct else f"{x:.3f}"


def _describe_row(row: pd.Series) -> str:
    return (
        f"threshold {row['threshold']:.4g}: flags {int(row['flagged'])} "
        f"({_fmt(row['flag_rate'], True)}), tp {int(row['tp'])}, fp {int(row['fp'])}, "
        f"precision {_fmt(row['precision'])}, recall {_fmt(row['sensitivity'])}, "
        f"F1 {_fmt(row['f1'])}"
    )


def run(args: argparse.Namespace) -> int:
    from srmsim import risk
    from srmsim.risk import plots

    df, base = load_frame(args.path)
    label = f"{args.path}"
    cap_given = args.capacity is not None or args.staff_minutes is not None or (
        args.minutes_per_case is not None
    )
    if (args.cost_missed is None) != (args.cost_needless is None):
        raise SrmsimError("give both --cost-missed and --cost-needless, or neither")
    if args.n_boot < 1:
        raise SrmsimError("--n-boot must be at least 1")
    cluster = None if args.cluster.lower() == "none" else args.cluster
    cluster_note = ""
    if cluster is not None and cluster not in df.columns:
        if args.cluster != "school":
            raise DataError(f"{label}: cluster column '{cluster}' not found")
        cluster = None
        cluster_note = " (no 'school' column: bootstrap resamples students)"

    table = risk.threshold_table(df, args.score, args.outcome, args.direction, args.thresholds)
    a = table.attrs
    op = "<" if args.direction == "below" else ">"
    print(f"{label}: flag {args.score} {op} t, outcome {args.outcome}")
    print(f"rows: {len(df)}; used {a['n_used']}; missing score {a['n_missing_score']}; "
          f"missing outcome {a['n_missing_outcome']} (missing rows are left out of every count)")
    if a["n_used"] == 0:
        raise DataError(f"{label}: no row has both '{args.score}' and '{args.outcome}'")

    out = Path(args.out) if args.out else base / "thresholds"
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "thresholds.csv"]
    table.to_csv(written[0], index=False)

    n_pos = int(table["n_pos"].iloc[0])
    prevalence = n_pos / a["n_used"]
    print(f"outcome rate {_fmt(prevalence, True)} ({n_pos} of {a['n_used']})")
    if 0 < n_pos < a["n_used"]:
        bands = risk.bootstrap_curves(df, args.score, args.outcome, args.direction,
                                      cluster=cluster, n_boot=args.n_boot, seed=args.seed)
        print(bands.summary() + cluster_note)
        written.append(plots.plot_roc(bands, out / "roc.png", f"ROC: {args.score} {op} t"))
        written.append(plots.plot_pr(bands, out / "pr.png", prevalence,
                                     f"Precision-recall: {args.score} {op} t"))
    else:
        print("only one outcome value present: no ROC / PR curves")
    if table["f1"].notna().any():
        print("best F1: " + _describe_row(risk.best_row(table, "f1")))

    if cap_given:
        cap = risk.threshold_at_capacity(
            df, args.score, args.outcome, args.direction, capacity_cases=args.capacity,
            staff_minutes_available=args.staff_minutes, minutes_per_case=args.minutes_per_case,
            cost_per_case=args.cost_per_case)
        line = (f"at capacity {cap.capacity_cases}: threshold {cap.threshold:.4g} flags "
                f"{cap.flagged}, precision {_fmt(cap.precision)}, recall {_fmt(cap.recall)}, "
                f"cost {cap.cost:.2f}")
        if cap.staff_minutes is not None:
            line += f", staff minutes {cap.staff_minutes:.0f}"
        if cap.spare_capacity:
            line += (f"; {cap.spare_capacity} place(s) unused because {cap.n_boundary_ties} "
                     "student(s) tie at the boundary")
        print(line)
    if args.cost_missed is not None:
        cm = risk.cost_minimising_threshold(df, args.score, args.outcome, args.direction,
                                            args.cost_missed, args.cost_needless)
        print(f"cost-minimising (missed {args.cost_missed:g}, needless {args.cost_needless:g}): "
              f"threshold {cm.threshold:.4g} flags {cm.flagged}, cost {cm.cost:.2f}, "
              f"precision {_fmt(cm.precision)}, recall {_fmt(cm.recall)}")

    if args.by:
        by_table = risk.threshold_table(df, args.score, args.outcome, args.direction,
                                        args.thresholds, by=args.by)
        gaps = risk.group_gaps(by_table)
        p1 = out / "thresholds_by_group.csv"
        p2 = out / "fairness_gaps.csv"
        by_table.to_csv(p1, index=False)
        gaps.to_csv(p2, index=False)
        written += [p1, p2, plots.plot_fairness(by_table, out / "fairness.png")]
        ref_t = (risk.best_row(table, "f1")["threshold"] if table["f1"].notna().any()
                 else float(table["threshold"].median()))
        for col in args.by:
            sub = by_table[(by_table["by"] == col) & (by_table["threshold"] == ref_t)]
            parts = ", ".join(
                f"{g}: flag {_fmt(fr, True)} recall {_fmt(se)} (n {int(n)}, missing {int(m)})"
                for g, fr, se, n, m in sub[["group", "flag_rate", "sensitivity", "n",
                                            "n_missing"]].itertuples(index=False)
            )
            gap_fr = sub["flag_rate_gap"].iloc[0] if len(sub) else np.nan
            gap_se = sub["sensitivity_gap"].iloc[0] if len(sub) else np.nan
            print(f"by {col} at threshold {ref_t:.4g}: {parts}; gaps: flag rate "
                  f"{_fmt(gap_fr)}, recall {_fmt(gap_se)}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
