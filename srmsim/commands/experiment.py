"""``srmsim experiment FILE`` and ``srmsim compare DIR``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from srmsim.argtypes import check_workers, out_argument, path_argument, whole_argument
from srmsim.errors import SrmsimError
from srmsim.labels import plural
from srmsim.settings import add_set_argument, parse_settings

if TYPE_CHECKING:
    from srmsim.experiment.spec import Experiment


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="run policy variants x replications",
                       description="Run every variant x replication of an experiment file with "
                       "common random numbers (replication i of every variant has the same seed: "
                       "the same students and events, so a difference is the policy's), store each "
                       "run, then print the paired effects.")
    p.add_argument("file", type=path_argument, help="experiment YAML (see experiments/)")
    p.add_argument("--workers", type=whole_argument, default=None,
                   help="local worker processes (default: all cores; 1 = in this process)")
    p.add_argument("--scheduler", default=None,
                   help="address of a Dask scheduler, to run on a cluster of computers, "
                   "e.g. tcp://127.0.0.1:8786 (default: this computer)")
    p.add_argument("--out", type=out_argument,
                   default=None, help="results directory (default: results/<name>)")
    p.add_argument("--resume", action="store_true", help="run only the runs not yet stored")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-report", action="store_true", help="do not write report.html")
    add_set_argument(p)
    p.set_defaults(func=run_experiment_cmd)

    c = sub.add_parser("compare", help="paired effects of an experiment's results",
                       description="Effects of each variant against the baseline: means, paired "
                       "difference with its 95% simulation interval, relative change, and in "
                       "effects.csv the variance reduction of common random numbers (the same "
                       "seeds in every variant: how many times smaller pairing made the "
                       "difference's variance). Writes "
                       "effects.csv and forest.png in DIR; against another --baseline B, "
                       "effects-vs-B.csv and forest-vs-B.png beside them.")
    c.add_argument("dir", type=path_argument,
                   help="results directory written by `srmsim experiment`")
    c.add_argument("--baseline", default=None, help="baseline variant (default: the file's; another writes "
                   "effects-vs-B.csv and forest-vs-B.png)")
    c.add_argument("--report", action="store_true", help="also write report.html")
    c.set_defaults(func=compare_cmd)


def against_names(baseline: str) -> list[str]:
    """The files of a comparison against another baseline than the experiment's own."""
    return [f"effects-vs-{baseline}.csv", f"forest-vs-{baseline}.png"]


def _report(out: Path, baseline: str | None = None, html: bool = True,
            runs_added: bool = False) -> None:
    """effects.csv, forest.png and report.html against the experiment's baseline, or
    effects-vs-B.csv and forest-vs-B.png against another (``baseline``), swapped in as a set
    once all are written; a report.html or comparison older than runs added in this session
    is removed."""
    from srmsim.outputs import folder_lock

    with folder_lock(out):  # read and written by one command at a time
        _write_report(out, baseline, html, runs_added)


def _write_report(out: Path, baseline: str | None, html: bool, runs_added: bool) -> None:
    """:func:`_report` once it holds the results folder's lock.

    Why another baseline's effects go beside the experiment's, not over them: effects.csv
    rewritten against it left report.html (and its forest plot and tables) stating effects
    against the experiment's own baseline, one folder saying two things; and the report,
    rewritten by ``srmsim report``, a resume or a sensitivity analysis, is always against
    the experiment's own. Each file now says one baseline in its name or content."""
    from srmsim.experiment.compare import forest_plot, format_effects
    from srmsim.experiment.learning import report_learning
    from srmsim.experiment.result import ExperimentResult
    from srmsim.figures import save_png
    from srmsim.outputs import replace_files, write_csv

    res = ExperimentResult.load(out)  # read once: effects, figure, report and curve share it
    registry = res.registry
    other = baseline is not None and baseline != res.baseline
    own_baseline = not other and bool(res.outcomes)
    effects = res.effects if own_baseline else res.compare(baseline)
    wanted_html, html = html, html and not other
    if other:
        assert baseline is not None  # (a variant with runs: compare_loaded checked it)
        names = against_names(baseline)
        effects_name, forest_name = names
    else:
        names = ["effects.csv", "forest.png"] + (["report.html"] if html or runs_added else [])
        effects_name, forest_name = "effects.csv", "forest.png"
        if runs_added:  # comparisons against other baselines of fewer runs
            names += [name for variant in res.variants for name in against_names(variant)]
    with replace_files(out, names) as stage:
        write_csv(effects, stage / effects_name, float_format="%.10g")
        if own_baseline:  # rendered once, embedded again in the report
            save_png(res.forest_png, stage / forest_name)
        else:
            forest_plot(effects, stage / forest_name, registry)
        if html:
            from srmsim.report import write_report

            write_report(out, stage / "report.html", result=res)
    print(format_effects(effects, registry, manifest=res.manifest, file=effects_name))
    print("wrote " + ", ".join(str(out / name) for name in names if (out / name).exists()))
    if other:  # the folder's own files are left as they are, and say so
        kept = [n for n in ("effects.csv", "forest.png", "report.html") if (out / n).exists()]
        if kept:
            print(f"note: {', '.join(kept)} in {out} stay against the experiment's own "
                  f"baseline ({res.baseline})")
    if wanted_html and not html:  # --report with another --baseline: say why there is none
        print(f"note: report.html is written against the experiment's own baseline "
              f"({res.baseline}), not {baseline}; run `srmsim compare {out} --report` for it")
    curve = report_learning(out, res.runs, res.level, res.chooser_target(), res.oracle_variants(),
                            res.from_records)
    if curve:
        print()
        print(curve)


def run_experiment_cmd(args: argparse.Namespace) -> int:
    check_workers(args.workers)
    if args.out is None:  # results/<name>: known once the file is read
        return _load_and_run(args)
    from srmsim.commands import check_resume_folder
    from srmsim.outputs import check_out_of_results, folder_lock

    check_out_of_results(args.out)  # never nested in another study's folder
    check_resume_folder(Path(args.out), args.resume)  # before the lock makes the folder
    # held from the start (importing and reading the experiment took 3.5 s), so a compare or
    # report of the folder meanwhile is told it is in use, not "no such folder"
    with folder_lock(Path(args.out)):
        return _load_and_run(args)


def _load_and_run(args: argparse.Namespace) -> int:
    """:func:`run_experiment_cmd` once its workers are checked."""
    if args.scheduler is None and (args.workers or os.cpu_count() or 1) > 1:
        from srmsim import executors

        executors.start_server(executors.RUN_MODULES)  # the workers' imports overlap ours
    from srmsim.commands import check_file_kind
    from srmsim.experiment.spec import ExperimentConfig, load_experiment
    from srmsim.outputs import folder_lock
    from srmsim.settings import refuse_study_keys

    check_file_kind(args.file, "experiment")
    settings = parse_settings(args.settings)
    refuse_study_keys(settings, ExperimentConfig, "experiment")
    exp = load_experiment(args.file, settings)
    out = Path(args.out) if args.out else Path("results") / exp.name
    if args.out is None:  # (a given --out is checked before its lock)
        from srmsim.commands import check_resume_folder
        from srmsim.outputs import check_out_of_results

        check_out_of_results(out)
        check_resume_folder(out, args.resume)
    with folder_lock(out):  # runs and report by this command alone
        return _run_and_report(exp, out, args)


def _run_and_report(exp: Experiment, out: Path, args: argparse.Namespace) -> int:
    """:func:`run_experiment_cmd` once it holds the results folder's lock."""
    from srmsim.experiment.runner import run_experiment

    summary = run_experiment(exp, out, workers=args.workers, scheduler=args.scheduler,
                             resume=args.resume, progress=not args.quiet)
    # the runner's reason is "replications" for a fixed design, which printed as a bare
    # "(replications)"; a sequential rule's reason says why it stopped
    design = exp.config.design
    if design is not None and design.fixed_size:  # the design's points, not replications
        per_variant = design.runs_in_words(f"{summary['replications']:,}")
        why = "the design's points"
    else:
        per_variant = plural(summary['replications'], 'replication')
        why = (f"stopped: {summary['stopped']}" if exp.config.sequential is not None
               else "a fixed number of replications")
    earlier = (f"{summary['stored']:,} stored by an earlier session; "
               if summary.get("stored") else "")  # as `srmsim trial` says it
    print(f"{exp.name}: {plural(len(exp.variants), 'variant')} x {per_variant}, "
          f"{plural(summary['runs'], 'run')} in {summary['seconds']:.1f} s ({earlier}{why})")
    for note in summary.get("notes", []):
        print(f"note: {note}")
    failures = summary["failures"]
    if failures:  # before the analysis, which refuses when they leave a variant too few runs
        print(f"{plural(len(failures), 'run')} failed (details in {out / 'failures'}):")
        for f in failures:
            print(f"  {f['variant']} replication {f['replication']} (seed {f['seed']}): "
                  f"{f['error']}")
    _report(out, html=not args.no_report, runs_added=summary["runs"] > 0)
    return 1 if failures else 0


def compare_cmd(args: argparse.Namespace) -> int:
    out = Path(args.dir)
    if args.baseline is not None and not args.baseline.strip():  # '' read as the file's
        raise SrmsimError("--baseline: empty; give a variant's name, or leave it out for the "
                          "experiment's own baseline")
    from srmsim.experiment.compare import not_an_experiment
    from srmsim.outputs import folder_lock
    from srmsim.store import protect_records_study

    if not out.is_dir():  # (the lock would make a folder misspelt)
        raise SrmsimError(not_an_experiment(out))
    # the lock first: an experiment holds it from before its manifest is written until its
    # report is, so one still starting is named ("in use by srmsim experiment ...; wait"),
    # not called "not an experiment results directory"; and a folder that is a symbolic link
    # is refused before anything in it is changed
    with folder_lock(out):
        if not (out / "manifest.json").exists():
            raise SrmsimError(not_an_experiment(out))
        protect_records_study(out)  # a copy opened up is closed again before anything is added
        _report(out, args.baseline, html=args.report)
    return 0
