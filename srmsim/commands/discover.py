"""``srmsim discover DIR --condition "..."``: where in the uncertain space a condition holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from srmsim.argtypes import out_argument, path_argument, whole_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("discover", help="scenario discovery: where does a condition hold",
                       description="Find the ranges of the uncertain parameters where a condition "
                       "on a variant's outcomes holds (PRIM, the patient rule induction method: "
                       "it narrows the ranges step by step to a box where the condition mostly "
                       "holds; with a classification tree (CART) as a second view). In the "
                       "condition, x is the variant's outcome, x_diff its "
                       "paired difference from the baseline, x_baseline the baseline's. Writes "
                       "prim_trajectory.csv/.png, prim_box.csv, cart_leaves.csv and discovery.json; "
                       "by default in DIR/discovery, and then updates DIR/report.html.")
    p.add_argument("dir", type=path_argument,
                   help="results directory of `srmsim experiment` with uncertain: "
                   "parameters")
    p.add_argument("--condition", required=True,
                   help='e.g. "attendance_diff < 0.002" (rule language, see `srmsim rules`)')
    p.add_argument("--variant", default=None,
                   help="variant whose outcomes the condition reads (default: the only one "
                   "besides the baseline)")
    p.add_argument("--box", type=whole_argument, default=None,
                   help="box of the peeling trajectory to report (default: the last)")
    p.add_argument("--min-density", type=float, default=None,
                   help="report the box of highest coverage (share of all the runs where the "
                   "condition holds that fall in the box) with at least this density (share "
                   "of the box's runs where it holds)")
    p.add_argument("--peel-alpha", type=float, default=0.05,
                   help="share of the box's runs each step peels off one end of a "
                   "parameter's range (default 0.05)")
    p.add_argument("--mass-min", type=float, default=0.05,
                   help="stop peeling before the box holds less than this share of the runs "
                   "(default 0.05)")
    p.add_argument("--out", type=out_argument,
                   default=None, help="output folder (default: DIR/discovery)")
    p.set_defaults(func=discover_cmd)


def discover_cmd(args: argparse.Namespace) -> int:
    from srmsim.explore.prim import check_options
    from srmsim.outputs import check_out_of_results, folder_lock
    from srmsim.records import check_results_out_of_records

    check_options(args.peel_alpha, mass_min=args.mass_min, options=True)  # before any reading
    out = Path(args.out) if args.out else Path(args.dir) / "discovery"
    check_results_out_of_records(out, args.dir)  # never among the study's records
    default = Path(args.dir) / "discovery"
    check_out_of_results(out, args.dir, f"no --out (the discovery goes in {default}, where its "
                         "report reads it) or a folder outside any other result folder", own="discovery")
    with folder_lock(args.dir, shared=True):  # not while a command writes the study
        return _discover(args, out)


def _discover(args: argparse.Namespace, out: Path) -> int:
    """:func:`discover_cmd` once no other command writes the experiment folder."""
    from srmsim.experiment.compare import text_table
    from srmsim.explore.discovery import discover, write_discovery
    from srmsim.report.explore import HOLDS_IN, leaves_display

    found = discover(args.dir, args.condition, variant=args.variant, peel_alpha=args.peel_alpha,
                     mass_min=args.mass_min, box=args.box, min_density=args.min_density)
    paths = write_discovery(found, out, args.dir)
    print(found.summary())
    print("classification tree leaves (densest first):")
    print(text_table(leaves_display(found.cart), right={"leaf", "runs", HOLDS_IN, "coverage",
                                                         "density"}))
    print("wrote " + ", ".join(str(p) for p in paths))
    if out == Path(args.dir) / "discovery":  # where the experiment's report looks for them
        from srmsim.report import refresh_report

        refresh_report(Path(args.dir))
    return 0
