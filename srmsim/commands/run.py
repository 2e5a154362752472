"""``srmsim run SCENARIO [--seed N] [--out DIR]``: one run of a scenario."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from srmsim.argtypes import out_argument, path_argument, seed_argument, whole_argument
from srmsim.labels import agree, plural
from srmsim.settings import add_set_argument, parse_settings

if TYPE_CHECKING:  # pydantic loads only when a command runs
    from srmsim.scenario import Scenario


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run one scenario and write its outputs",
                       description="Run a scenario for its school years and write students."
                       "parquet, weekly.parquet, summary.json and the resolved scenario.")
    p.add_argument("scenario", type=path_argument, nargs="?", default=None,
                   help="scenario YAML (default: the built-in default trust)")
    p.add_argument("--seed", type=seed_argument, default=None, help="override the scenario's seed")
    p.add_argument("--out", type=out_argument,
                   default=None, help="output directory (default: out/<scenario name>)")
    p.add_argument("--threads", type=whole_argument, default=1, metavar="N",
                   help="cores for each week's per-student passes: N-1 helper processes "
                   "sharing the student table on Linux, threads elsewhere (results are "
                   "identical whatever N; helps from about a million students; default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")
    add_set_argument(p)
    p.add_argument("--report", action="store_true",
                   help="also write report.html (the run's year in pictures)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.threads > 1:  # their start-up overlaps this command's imports and checks
        from srmsim.blocks import check_threads
        from srmsim.week_processes import start_ahead, stop_ahead

        start_ahead(check_threads(args.threads) - 1)  # no more than the cores
        try:
            return _run(args)
        finally:
            stop_ahead()  # those the run did not take (a small trust, a refused input)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from srmsim.scenario import NO_FILE_HINT, default_scenario, load_scenario

    if args.scenario is not None:
        from srmsim.commands import check_file_kind

        check_file_kind(args.scenario, "scenario")
    scenario = (default_scenario() if args.scenario is None
                else load_scenario(args.scenario, empty_hint=NO_FILE_HINT))
    settings = parse_settings(args.settings)
    if args.seed is not None and "seed" in settings:  # one of them was silently ignored
        from srmsim.errors import SrmsimError

        raise SrmsimError("the seed is given twice (--seed and --set seed=); give it once")
    if settings:
        source = f"{args.scenario or 'default scenario'} (--set)"
        scenario = scenario.with_overrides(settings, source)
        _refuse_idle_policy_settings(settings, scenario, source)
    if args.seed is not None and args.seed < 0:
        from srmsim.errors import SrmsimError

        raise SrmsimError("--seed must be a non-negative integer")
    if args.threads < 1:
        from srmsim.errors import SrmsimError

        raise SrmsimError("--threads must be a positive integer")
    if scenario.requests:  # each problem under its key, as `srmsim validate` names it
        from srmsim.experiment.spec import check_scenario_arrival_files

        check_scenario_arrival_files(scenario, str(args.scenario or "default scenario"))
    out = Path(args.out) if args.out else Path("out") / scenario.name
    from srmsim.outputs import check_out, check_out_of_results, holds_only
    from srmsim.records import check_out_of_records
    from srmsim.results import RUN_FILES, RUN_MARKERS

    check_out_of_records(out, [scenario])  # the reason first: never among the records
    check_out_of_results(out)  # never nested in another study's folder
    check_out(out, holds_only(RUN_MARKERS, RUN_FILES))  # refused now, not after the run
    from srmsim.outputs import folder_lock

    with folder_lock(out):  # from the start, as experiment and trial: two runs into one
        # folder both ran and the last one's files won (a helper's race probe)
        return _run_into(args, scenario, out)


def _refuse_idle_policy_settings(settings: dict[str, object], scenario: Scenario,
                                 source: str) -> None:
    """``--set policy.rules.x=...`` on a scenario whose policy enables no workflow (or that has
    no policy, when the setting makes one holding only the rule) ran, and the rule flagged no
    one, without a word: refused, as `srmsim validate` notes such a policy."""
    if scenario.policy is None or not scenario.policy.acts_on_no_one():
        return
    from srmsim.policy.config import WORKFLOW_ONLY_KEYS

    idle = [key for key in settings if key.startswith(WORKFLOW_ONLY_KEYS)]
    if idle:
        from srmsim.errors import ScenarioError

        raise ScenarioError(source, [(key, "the policy enables no workflow, so this changes "
                                      "nothing (a rule alone refers no student): enable or add "
                                      "a workflow (policy.workflows) that uses it")
                                     for key in idle])


def _run_into(args: argparse.Namespace, scenario: Scenario, out: Path) -> int:
    """The run, its printed summary and report, written into ``out`` (whose lock is held)."""
    from srmsim.model import run as run_scenario  # after the checks: a bad input fails quickly

    result = run_scenario(scenario, seed=args.seed, out=out, progress=not args.quiet,
                          threads=args.threads)
    if not args.quiet:
        s = result.summary
        print(f"{scenario.name}: {plural(s['schools'], 'school')}, {plural(s['weeks'], 'week')}, "
              f"seed {s['seed']}, "
              f"{s['runtime_seconds']:.2f} s")
        if s.get("from_records"):  # its pupil count is the records' school sizes, rounded
            print(f"the summary is not printed: the trust is built from real records "
                  f"(population.records); it is in {out / 'summary.json'}, readable by you "
                  "alone")
        else:
            print(result.summary_table().to_string(index=False))
    for name, stream in (result.summary.get("requests") or {}).items():
        if stream.get("arrivals_after_run"):
            after = stream["arrivals_after_run"]  # "1 arrival ... fall ... were": agreed
            print(f"note: request stream {name}: {plural(after, 'arrival')} of its arrivals file "
                  f"{agree(after, 'falls', 'fall')} on day {result.summary['weeks'] * 7} or "
                  f"later, after the run ends, and {agree(after, 'was', 'were')} not simulated")
    if args.report:
        from srmsim.report import write_report

        del result  # the report reads the files: the run's tables need not stay in memory too
        write_report(out)
    print(f"wrote {out}/")
    return 0
