"""``srmsim report DIR``: one self-contained HTML report of a run, experiment or trial folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from srmsim.argtypes import out_argument, path_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write report.html for a run, experiment, trial or optimisation folder",
        description="Write one self-contained HTML page (figures embedded, no network needed) "
        "that explains a result: what was run, the effects in units with their simulation "
        "intervals, cost and staff hours, effects by group and school, queues and staff use "
        "over the year; for trials, the estimate against the truth; sensitivity indices and "
        "scenario discovery when `srmsim sensitivity`/`srmsim discover` wrote into an "
        "experiment folder; for `srmsim optimise` folders, the Pareto front and best policy.")
    p.add_argument("dir", type=path_argument,
                   help="a folder written by `srmsim run`, `srmsim experiment`, "
                   "`srmsim trial` or `srmsim optimise`")
    p.add_argument("--out", type=out_argument,
                   default=None, help="file to write (default: DIR/report.html)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srmsim.outputs import check_out_of_results, folder_lock
    from srmsim.report import check_report_file, check_report_folder, write_report

    check_report_folder(args.dir, args.out)  # a link: before its lock file is made through it
    if args.out is not None:  # (write_report also writes into a study's staging folder)
        check_report_file(args.out)
        # in a results store (runs/, detail/, a trial's store/) it sits among the runs a resume
        # reads and checks; in another study's folder it replaces that study's report or stops
        # that folder being written again ("holds files srmsim did not write")
        check_out_of_results(args.out, args.dir, f"a file directly in {args.dir} or outside "
                             "any result folder", below_analysed=False)
    with folder_lock(args.dir, shared=True):  # not while a command writes the folder
        path = write_report(Path(args.dir), args.out)
    print(f"wrote {path}")
    return 0
