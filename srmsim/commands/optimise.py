"""``srmsim optimise FILE``: multi-objective search over policy levers, then the Pareto front."""

from __future__ import annotations

import argparse
from pathlib import Path

from srmsim.argtypes import path_argument
from srmsim.labels import plural


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("optimise", help="search policy levers for the best trade-offs",
                       description="Search the decision levers of an optimisation file (NSGA-II "
                       "or TPE, Optuna) with common random numbers, re-evaluate the Pareto front "
                       "with more replications, and write the best policy as a scenario. Writes "
                       "trials.csv, pareto.csv/.png, front_effects.csv, best_policy.yaml, report.html "
                       "(and regret.csv with uncertain: parameters) in --out.")
    p.add_argument("file", type=path_argument,
                   help="optimisation YAML (see experiments/optimise_attendance.yaml)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: all cores; 1 = in this process)")
    p.add_argument("--scheduler", default=None,
                   help="address of a Dask scheduler, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--out", type=path_argument,
                   default=None, help="output folder (default: results/<name>)")
    p.add_argument("--resume", action="store_true", help="continue a stopped search")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=optimise_cmd)


def optimise_cmd(args: argparse.Namespace) -> int:
    import os

    from srmsim.argtypes import check_workers
    from srmsim.explore.optimise import load_optimisation, optimise

    check_workers(args.workers)
    opt = load_optimisation(args.file)
    out = Path(args.out) if args.out else Path("results") / opt.name
    res = optimise(opt, out, workers=args.workers or os.cpu_count() or 1,
                   scheduler=args.scheduler, resume=args.resume, progress=not args.quiet)
    front = res["front"]
    print(f"{opt.name}: {plural(res['trials'], 'candidate')} x "
          f"{plural(opt.config.replications, 'replication')}; "
          f"Pareto front of {len(front)}:")
    print(front.drop(columns=["feasible", "pareto"]).to_string(
        index=False, float_format=lambda v: f"{v:.4g}"))
    eff = res["effects"]
    print("re-evaluated against the baseline "
          f"({opt.config.reevaluate.replications} fresh replications, 95% CI):")
    print(eff[["variant", "outcome", "mean_variant", "difference", "ci_low", "ci_high"]]
          .to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if "regret" in res:
        print("regret across the states of the world:")
        print(res["regret"].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    note = "" if res["feasible_on_reevaluation"] else " (no front policy met every constraint " \
        "again on re-evaluation)"
    print(f"best: {res['best']} {res['best_overrides']}{note}")
    from srmsim.report import write_report

    print(f"wrote {out / 'pareto.csv'}, {out / 'pareto.png'}, {out / 'front_effects.csv'}, "
          f"{out / 'best_policy.yaml'}, {write_report(out)}")
    return 0
