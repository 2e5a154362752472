"""``srmsim trial FILE``: run an in-silico trial and report bias, coverage, power and naive bias."""

from __future__ import annotations

import argparse
from pathlib import Path

from srmsim.argtypes import check_workers, out_argument, path_argument, whole_argument
from srmsim.labels import plural
from srmsim.settings import add_set_argument, parse_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trial", help="run an in-silico randomised trial of a policy",
        description="Randomise a policy inside the simulation (students, schools or a stepped "
        "wedge: schools start the policy in turns), analyse each replication as the trust would, "
        "and compare the estimate with the true effect from a counterfactual run with the same "
        "seed. Prints bias, CI coverage (how often the confidence interval holds the true "
        "effect), power (how often the trial finds an effect) and the naive pre-post "
        "(before-after) estimate; writes trial_runs.csv, trial_summary.csv, "
        "trial.png and trial.json in --out, and keeps each finished replication in --out/store "
        "so that --resume continues a trial that was stopped.")
    p.add_argument("file", type=path_argument, help="trial YAML (see experiments/trial_*.yaml)")
    p.add_argument("--replications", type=whole_argument, default=None,
                   help="number of replications (default: the file's)")
    p.add_argument("--workers", type=whole_argument, default=None,
                   help="local worker processes (default: all cores; 1 = in this process)")
    p.add_argument("--scheduler", default=None,
                   help="address of a Dask scheduler, to run on a cluster of computers, "
                   "e.g. tcp://127.0.0.1:8786 (default: this computer)")
    p.add_argument("--out", type=out_argument,
                   default=None, help="output directory (default: results/<name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue a stopped trial in --out: run only the replications not stored")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-report", action="store_true", help="do not write report.html")
    p.add_argument("--no-subgroups", action="store_true",
                   help="skip the subgroup estimates (FSM, SEN, EAL, sex, year group and their "
                   "interaction tests: the trial's analysis 18 more times a replication with 5 "
                   "year groups); a stopped trial "
                   "resumes with the choice it began with")
    add_set_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srmsim.stats._checks import whole_number
    from srmsim.trial import load_trial, run_trial
    from srmsim.trial.spec import MAX_REPLICATIONS

    check_workers(args.workers)
    if args.replications is not None:  # the flag's own error, not one blamed on the file
        whole_number(args.replications, "--replications", 1, MAX_REPLICATIONS)
    from srmsim.commands import check_file_kind

    check_file_kind(args.file, "trial")
    settings = parse_settings(args.settings)
    from srmsim.settings import refuse_study_keys
    from srmsim.trial.spec import TrialConfig

    refuse_study_keys(settings, TrialConfig, "trial",
                      {"replications": "use --replications N"})
    trial = load_trial(args.file, overrides=settings or None,
                       replications=args.replications)
    for note in trial.notes():
        print(f"note: {note}")
    out = Path(args.out) if args.out else Path("results") / trial.name
    from srmsim.commands import check_resume_folder
    from srmsim.outputs import check_out_of_results

    check_out_of_results(out)  # never nested in another study's folder
    check_resume_folder(out, args.resume)
    result = run_trial(trial, workers=args.workers, scheduler=args.scheduler,
                       progress=not args.quiet, out=out, resume=args.resume,
                       report=not args.no_report, subgroups=not args.no_subgroups)
    print(trial.describe())
    gloss = trial.se_gloss()
    if gloss:
        print(f"  ({gloss})")
    for note in result.notes:
        print(f"note: {note}")
    earlier = f" ({result.stored} stored by an earlier session)" if result.stored else ""
    ran = len(result.runs) - result.stored
    print(f"{plural(ran, 'replication')} in {result.seconds:.1f} s{earlier}")
    print(result.table())
    print()
    print(result.subgroup_table())
    written = [out / "trial_runs.csv", out / "trial_summary.csv", out / "trial.png"]
    if result.subgroups is not None:  # (their summary only when a replication finished)
        written += [out / name for name in ("trial_subgroups.csv", "trial_subgroup_summary.csv")
                    if (out / name).is_file()]
    if not args.no_report:
        written.append(out / "report.html")
    print("wrote " + ", ".join(str(p) for p in written))
    if result.failures:
        print(f"{plural(len(result.failures), 'replication')} failed:")
        for f in result.failures:
            print(f"  replication {f['replication']} (seed {f['seed']}): {f['error']}")
        return 1
    return 0
