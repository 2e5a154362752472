"""``srmsim sensitivity DIR``: Sobol or Morris indices of an experiment run with a design."""

from __future__ import annotations

import argparse
from pathlib import Path

from srmsim.argtypes import path_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sensitivity", help="which uncertain parameters drive each outcome",
                       description="Sobol first-order and total indices (design: sobol; the "
                       "share of an outcome's variance a parameter explains alone, and with its "
                       "interactions) or Morris mu* and sigma (design: morris; the mean size of "
                       "a parameter's effects, and how much they vary: interactions or curvature) "
                       "of every outcome, per variant and per paired "
                       "difference from the baseline, with confidence intervals. Writes "
                       "sensitivity.csv and sensitivity.png in DIR, and updates DIR/report.html.")
    p.add_argument("dir", type=path_argument,
                   help="results directory of `srmsim experiment` with a design")
    p.add_argument("--outcome", action="append", default=None,
                   help="an outcome to analyse (repeatable; default: all measured)")
    p.add_argument("--variant", action="append", default=None,
                   help="a variant to analyse (repeatable; default: all)")
    p.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals, a share (default 0.95)")
    p.set_defaults(func=sensitivity_cmd)


#: how sensitivity.csv writes its numbers, the level among them
LEVEL_FORMAT = "%.6g"


def sensitivity_cmd(args: argparse.Namespace) -> int:
    from srmsim.errors import SrmsimError
    from srmsim.outputs import folder_lock
    from srmsim.records import check_results_out_of_records

    if not 0.5 <= args.level < 1:
        raise SrmsimError("--level must be between 0.5 and 1")
    if float(LEVEL_FORMAT % args.level) != args.level:
        # sensitivity.csv holds it to 6 digits: 0.9999999999 was written as 1, a file the
        # report then refused, and with it every later report of the folder
        raise SrmsimError(f"--level {args.level!r}: give at most 6 significant digits, below "
                          "1 (sensitivity.csv records the level to 6)")
    out = Path(args.dir)
    if not out.exists():  # before the lock, which would make the folder while it holds it
        from srmsim.inputs import hint_clause

        raise SrmsimError(f"{out}: no such folder{hint_clause(out)}")
    # a results folder moved among its records: sensitivity writes into it
    check_results_out_of_records(out, out, what="the experiment folder")
    with folder_lock(out):  # read and written by one command at a time
        return _sensitivity(out, args)


def _sensitivity(out: Path, args: argparse.Namespace) -> int:
    """:func:`sensitivity_cmd` once it holds the experiment folder's lock."""
    from srmsim.explore.sensitivity import (
        PAIRS_FILE,
        format_pairs,
        format_sensitivity,
        sensitivity,
        sensitivity_plot,
    )
    from srmsim.outputs import csv_text, replace_files
    from srmsim.results import write_text

    table = sensitivity(out, outcomes=args.outcome, variants=args.variant, level=args.level)
    pairs = table.attrs.get("pairs")
    written = ["sensitivity.csv", "sensitivity.png", *([PAIRS_FILE] if pairs is not None else [])]
    with replace_files(out, ["sensitivity.csv", "sensitivity.png", PAIRS_FILE]) as stage:
        write_text(csv_text(table, float_format=LEVEL_FORMAT), stage / "sensitivity.csv")
        sensitivity_plot(table, stage / "sensitivity.png")
        if pairs is not None:
            write_text(csv_text(pairs, float_format=LEVEL_FORMAT), stage / PAIRS_FILE)
    registry = _registry(out)
    print(format_sensitivity(table, registry))
    skipped = table.attrs.get("not_measured") or []
    if skipped:
        from srmsim.experiment.outcomes import get_outcome

        print("note: not measured in any run, so left out: " + "; ".join(
            f"{target}: {get_outcome(outcome, registry).label}" for target, outcome in skipped))
    if pairs is not None:
        print("\n" + format_pairs(pairs))
    print(f"wrote {', '.join(str(out / name) for name in written)}")
    from srmsim.report import refresh_report

    refresh_report(out)
    return 0


def _registry(out: Path) -> dict:
    """The experiment's outcomes (built-in and its own), read back from its manifest, which
    :func:`~srmsim.explore.sensitivity.sensitivity` has just checked."""
    import json

    from srmsim.experiment.compare import registry_of

    where = out / "manifest.json"
    return registry_of(json.loads(where.read_text(encoding="utf-8")), where)
