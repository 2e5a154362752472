"""``srmsim optimise FILE``: multi-objective search over policy levers, then the Pareto front."""

from __future__ import annotations

import argparse
from pathlib import Path

from srmsim.argtypes import out_argument, path_argument, whole_argument
from srmsim.labels import agree, plural


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("optimise", help="search policy levers for the best trade-offs",
                       description="Search the decision levers of an optimisation file (NSGA-II "
                       "or TPE: Optuna's search algorithms) with common random numbers (the same "
                       "simulated students and events for every policy tried), re-evaluate the "
                       "Pareto front (the policies no other beats on every objective) with more "
                       "replications, and write the best policy as a scenario. Writes "
                       "trials.csv, pareto.csv/.png, front_effects.csv, best_policy.yaml, report.html "
                       "(and, with uncertain: parameters, regret.csv: how far each front policy "
                       "falls short of the best in each state of the world) in --out.")
    p.add_argument("file", type=path_argument,
                   help="optimisation YAML (see experiments/optimise_attendance.yaml)")
    p.add_argument("--workers", type=whole_argument, default=None,
                   help="local worker processes (default: all cores; 1 = in this process)")
    p.add_argument("--scheduler", default=None,
                   help="address of a Dask scheduler, to run on a cluster of computers, "
                   "e.g. tcp://127.0.0.1:8786 (default: this computer)")
    p.add_argument("--out", type=out_argument,
                   default=None, help="output folder (default: results/<name>)")
    p.add_argument("--resume", action="store_true", help="continue a stopped search")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=optimise_cmd)


def optimise_cmd(args: argparse.Namespace) -> int:
    import os

    from srmsim.argtypes import check_workers
    from srmsim.experiment.compare import format_effects, text_table
    from srmsim.experiment.outcomes import get_outcome
    from srmsim.experiment.withhold import NOTE
    from srmsim.explore.optimise import load_optimisation, optimise
    from srmsim.outputs import check_out_of_results
    from srmsim.report.explore import (
        REGRET_COLUMNS,
        front_levers,
        front_note,
        front_table,
        lever_text,
        lever_units,
        reevaluated_policies,
        regret_display,
        regret_state_notes,
        search_registry,
        short_names,
    )

    check_workers(args.workers)
    from srmsim.commands import check_file_kind, check_resume_folder

    check_file_kind(args.file, "optimisation")
    opt = load_optimisation(args.file)
    out = Path(args.out) if args.out else Path("results") / opt.name
    check_out_of_results(out)  # never nested in another study's folder
    check_resume_folder(out, args.resume)
    res = optimise(opt, out, workers=args.workers or os.cpu_count() or 1,
                   scheduler=args.scheduler, resume=args.resume, progress=not args.quiet)
    front = res["front"]
    for note in res.get("notes", []):
        print(f"note: {note}")
    if res["unscored"]:  # left out of trials.csv: say which and why
        print(f"note: {plural(len(res['unscored']), 'candidate')} could not be scored and "
              f"{agree(len(res['unscored']), 'is', 'are')} left out: "
              + "; ".join(res["unscored"][:5]))
    print(f"{opt.name}: {plural(res['trials'], 'candidate')} x "
          f"{plural(opt.config.replications, 'replication')}; "
          f"Pareto front of {len(front)}:")
    objectives = list(opt.config.objectives)
    levers = front_levers(front, objectives)
    registry = search_registry(opt.base.policy)  # regret in its choosers' unit
    shown, raw = front_table(front, objectives, levers, lever_units(levers, opt.base.policy),
                             registry)
    print(text_table(shown, right=set(shown.columns) - {"candidate"}))
    front_withheld = front_note(front, objectives)  # a search of real records: why a value is low
    if front_withheld:
        print(f"note: {front_withheld}")
    renamed = [f"{short} = {key}" for key, short in short_names(levers).items() if key != short]
    if renamed:
        print("levers: " + "; ".join(renamed))
    which = reevaluated_policies(res["effects"], len(front), objectives, registry)
    print(f"re-evaluated against the baseline ({which + '; ' if which else ''}"
          f"{plural(opt.config.reevaluate.replications, 'fresh replication')}):")
    print(format_effects(res["effects"], registry, file="front_effects.csv"))
    if "regret" in res:
        print("regret across the states of the world:")
        withheld = opt.from_records and bool(
            res["regret"][["mean_regret", "p90_regret", "max_regret"]].isna().any().any())
        print(text_table(regret_display(res["regret"], opt.from_records, registry),
                         right=set(REGRET_COLUMNS)))
        if withheld:
            print(f"note: {NOTE}")
        for line in regret_state_notes(res["regret"], opt.config.reevaluate.replications):
            print(line)
    note = "" if res["feasible_on_reevaluation"] else " (no front policy met every constraint " \
        "again on re-evaluation)"
    units = lever_units(list(res["best_overrides"]), opt.base.policy)
    chosen = "; ".join(f"{key} = {lever_text(v, units[key])}" + (f" ({units[key]})" if units[key] else "")
                       for key, v in res["best_overrides"].items())
    target = get_outcome(opt.config.choose or objectives[0], registry).label.lower()
    print(f"{best_heading(target, bool(opt.config.constraints), res['feasible_on_reevaluation'])}"
          f": {res['best']}: {chosen}{note}")
    from srmsim.report import write_report

    written = ["trials.csv", "pareto.csv", "pareto.png", "front_effects.csv",
               *(["regret.csv"] if "regret" in res else []), "best_policy.yaml"]
    print(f"wrote {', '.join(str(out / name) for name in written)}, {write_report(out)}")
    return 0


def best_heading(target: str, constraints: bool, feasible: bool) -> str:
    """What the best policy is best by: ``target`` (an outcome's label) on re-evaluation, and
    within the constraints only when there are some and a front policy met them again (the line
    said "within the constraints" beside "no front policy met every constraint again")."""
    within = ", within the constraints" if constraints and feasible else ""
    return f"best (the best {target} on re-evaluation{within})"
