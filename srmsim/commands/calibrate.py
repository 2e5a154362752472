"""``srmsim calibrate DATA_DIR --out DIR``: fit the simulator to a trust's imported records."""

from __future__ import annotations

import argparse
import sys

from srmsim.argtypes import out_argument, path_argument, seed_argument, whole_argument
from srmsim.errors import SrmsimError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate", help="fit simulator parameters to an imported dataset (simulated moments)",
        description="Fit dynamics and population parameters so that simulated trusts, built "
                    "by resampling the dataset's students within their schools, match the "
                    "data's moments (summary figures: attendance distribution, persistent "
                    "absence by FSM (free school meals), between-school ICCs (intraclass "
                    "correlation: the share of the spread that lies between schools), "
                    "attendance-attainment slope, reading gap). Writes "
                    "fit_moments.csv, fit_parameters.csv, fit.json and calibrated.yaml.")
    p.add_argument("data", type=path_argument, metavar="DATA_DIR",
                   help="dataset directory written by 'srmsim data import' (or 'anonymise')")
    p.add_argument("--out", type=out_argument,
                   required=True, metavar="DIR", help="where the report goes")
    p.add_argument("--scenario", type=path_argument, default=None, metavar="BASE",
                   help="base scenario YAML (default: the built-in default)")
    p.add_argument("--params", default=None, metavar="P[=LO:HI],...",
                   help="parameters to fit, comma-separated, optional bounds, e.g. "
                        "dynamics.absence_logit=-5:-3,population.reading_gap_mean "
                        "(default: every identifiable one of absence_logit, "
                        "absence_engagement, absence_school_sd, attainment_icc, "
                        "reading_gap_mean, reading_gap_sd, attainment_attendance)")
    p.add_argument("--moments", default=None, metavar="M1,M2",
                   help="moments to match (default: all the data give)")
    p.add_argument("--seed", type=seed_argument, default=None,
                   help="root seed of the common random numbers (the same simulated students "
                   "and events for every parameter set tried; default: the scenario's)")
    p.add_argument("--replications", type=whole_argument, default=2, metavar="R",
                   help="simulated trusts per evaluation (default 2)")
    p.add_argument("--max-evals", type=whole_argument, default=80, metavar="N",
                   help="most parameter sets to simulate (default 80)")
    p.add_argument("--method", default="least_squares", choices=("least_squares", "nelder-mead"),
                   help="optimiser (default least_squares)")
    p.add_argument("--ignore-prior-attainment", action="store_true",
                   help="draw starting attainment from population.attainment_icc instead of "
                        "the records' prior attainment (needed to fit attainment_icc)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srmsim.calibrate.msm import calibrate

    if args.seed is not None and args.seed < 0:
        raise SrmsimError("--seed must be a non-negative integer")
    from srmsim.stats._checks import MAX_COUNT, whole_number

    # the flags' own names: the fit's check said "replications=0", "max_evals=0"
    whole_number(args.replications, "--replications", 1, MAX_COUNT)
    whole_number(args.max_evals, "--max-evals", 1, MAX_COUNT)
    moments = (None if args.moments is None else
               [m.strip() for m in args.moments.split(",") if m.strip()])
    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.scenario is not None:  # an experiment's keys were listed as unknown ones
        from srmsim.commands import check_file_kind

        check_file_kind(args.scenario, "scenario")
    from srmsim.outputs import check_out_of_results

    check_out_of_results(args.out)  # never nested in another study's folder
    result = calibrate(args.data, scenario=args.scenario, params=args.params, seed=args.seed,
                       replications=args.replications, max_evals=args.max_evals,
                       method=args.method, moments=moments,
                       ignore_prior_attainment=args.ignore_prior_attainment, out=args.out,
                       progress=progress)
    print(result.format())
    print(f"\nwrote {args.out}/fit_moments.csv, fit_parameters.csv, fit.json, calibrated.yaml")
    return 0
