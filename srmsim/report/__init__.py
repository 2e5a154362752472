"""One self-contained HTML report per result folder: ``srmsim report DIR``.

The folder's kind is recognised by its files: a run (``summary.json`` and
``students.parquet``), an experiment (``manifest.json``; with the results of ``srmsim
sensitivity`` and ``srmsim discover`` when they wrote into it), a trial (``trial.json``) or an
optimisation (``optimise.json``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from srmsim.errors import SrmsimError
from srmsim.inputs import hint_clause
from srmsim.outputs import ANALYSIS_MARKERS, analysis_kind, owner_only, result_kind, result_noun
from srmsim.results import simulation_problem, write_text

if TYPE_CHECKING:
    from srmsim.experiment.result import ExperimentResult


#: the command that writes each kind of :data:`srmsim.outputs.ANALYSIS_MARKERS` folder
_ANALYSIS_COMMANDS = {"calibration": "calibrate", "discovery": "discover",
                      "thresholds": "thresholds"}


def folder_kind(path: str | Path) -> str:
    """``run``, ``experiment``, ``trial`` or ``optimise``; a clear error for anything else."""
    path = Path(path)
    if not path.exists():
        raise SrmsimError(f"{path}: no such folder{hint_clause(path)}")
    if not path.is_dir():
        raise SrmsimError(f"{path}: is a file; give the folder a run, experiment, trial or "
                          "optimisation wrote")
    if (path / "dataset.json").is_file():  # (its import's summary.json is not a run's)
        raise SrmsimError(f"{path}: an imported dataset (dataset.json), not a result folder; "
                          "report the folder a run, experiment, trial or optimisation wrote "
                          "(`srmsim data summary` describes a dataset)")
    kind = result_kind(path)
    if kind is not None:
        return kind
    analysis = analysis_kind(path)
    if analysis is not None:  # a result to the --out check, but no page of its own
        raise SrmsimError(f"{path}: the {result_noun(analysis)} folder of `srmsim "
                          f"{_ANALYSIS_COMMANDS[analysis]}` ({ANALYSIS_MARKERS[analysis]}): its "
                          "files are its report; `srmsim report` builds pages of the folders a "
                          "run, experiment, trial or optimisation wrote")
    inside = result_folders_in(path)
    if inside:
        more = f" and {len(inside) - 3:,} more" if len(inside) > 3 else ""
        raise SrmsimError(f"{path}: not a result folder itself; the result folders in it: "
                          f"{', '.join(str(p) for p in inside[:3])}{more} (give one of them)")
    raise SrmsimError(f"{path}: not a result folder (expected manifest.json from `srmsim "
                      "experiment`, trial.json from `srmsim trial`, summary.json from "
                      "`srmsim run` or optimise.json from `srmsim optimise`)")


#: the most entries of a folder looked through for result folders inside it
_LOOK_IN = 1_000


def result_folders_in(path: Path) -> list[Path]:
    """The result folders directly inside ``path`` (``results/`` holds ``results/quickstart``),
    sorted: what `srmsim report results` most likely meant."""
    import itertools

    found = []
    try:
        with os.scandir(path) as entries:
            for entry in itertools.islice(entries, _LOOK_IN):
                if entry.is_dir(follow_symlinks=False) and not (
                        Path(entry.path) / "dataset.json").exists() \
                        and result_kind(entry.path) is not None:
                    found.append(Path(entry.path))
    except OSError:
        return []
    return sorted(found)


def build_html(path: str | Path, result: ExperimentResult | None = None) -> str:
    """The report of a result folder, as one HTML document; ``result``: the experiment folder
    already read (it is not read again)."""
    path = Path(path)
    # names in its figures are drawn as written (``$`` is not TeX): srmsim.figures.PlainFigure
    return _build_html(path, folder_kind(path), result)


def _build_html(path: Path, kind: str, result: ExperimentResult | None) -> str:
    if kind == "experiment":
        from srmsim.experiment.result import ExperimentResult
        from srmsim.report.experiment import build as build_experiment

        page = build_experiment(result if result is not None else ExperimentResult.load(path))
    elif kind == "trial":
        from srmsim.report.trial import build

        page = build(path)
    elif kind == "optimise":
        from srmsim.report.explore import build_optimise

        page = build_optimise(path)
    else:
        from srmsim.report.run import build

        page = build(path)
    return page.render()


def check_report_folder(path: str | Path, out: str | Path | None = None) -> None:
    """Refuse a result folder given as a symbolic link when report.html would be written
    through it (no ``out``), as ``--out`` refuses a link (:func:`srmsim.outputs.refuse_link`):
    the report was written into the folder the link points to, wherever it is, with no word
    of it. A study of pupil records is refused as a link even with ``out``, as
    :func:`srmsim.store.protect_records_study` says. Called before anything is read or
    written (the reading lock's file too); with ``out`` a link is read like any folder."""
    path = Path(path)
    if not path.is_symlink():
        return
    from srmsim.store import protect_records_study

    protect_records_study(path)  # a records study's link: refused (nothing changed); else False
    if out is None:
        from srmsim.labels import printable
        from srmsim.outputs import refuse_link

        if not path.exists():  # "give the folder it points to" named a missing one, or the link
            raise SrmsimError(f"{path}: is a symbolic link (to {printable(os.readlink(path))}) "
                              "that leads to no folder (it dangles, or links loop); give the "
                              "result folder itself")

        refuse_link(path, str(path), instead="the folder it points to "
                    f"({printable(os.path.realpath(path))}), or --out FILE for the report: "
                    "srmsim writes no report into a folder through a link")


def check_report_file(out: str | Path) -> None:
    """Refuse a report file ``out`` that is a folder, naming it: ``--out`` names the file to
    write, never a folder to write report.html into (docs/reports.md). Why before anything
    else: the --out nesting check judged DIR/report.html, and named it in its message, for a
    folder that was then refused."""
    if Path(out).is_dir():
        raise SrmsimError(f"--out {out}: a folder; --out names the report file to write (e.g. "
                          f"{Path(out) / 'report.html'})")


def write_report(path: str | Path, out: str | Path | None = None,
                 result: ExperimentResult | None = None) -> Path:
    """Write ``report.html`` (or ``out``) for a result folder; returns the file written."""
    check_report_folder(path, out)
    target = Path(out) if out is not None else Path(path) / "report.html"
    if out is not None:
        from srmsim.data.dataset import check_outside_datasets

        check_outside_datasets(target)
    check_report_file(target)
    if out is not None:
        from srmsim.outputs import check_replaceable
        from srmsim.report.page import GENERATOR_TAG

        check_replaceable(target, lambda head: head.startswith(b"<!DOCTYPE html>")
                          and GENERATOR_TAG.encode() in head, "a report")
    html = build_html(path, result)
    # a study of real records is kept owner-only (docs/privacy.md): so is its report, wherever
    # --out puts it, and so is the report of a run folder whose students table is not the one
    # its run wrote (real data copied in): its counts are unprotected; any other report is for
    # sharing, readable like any new file
    from srmsim.store import protect_records_study

    private = (Path(path).is_dir() and protect_records_study(path)) or owner_only(path)
    if not private and folder_kind(path) == "run":
        why = simulation_problem(Path(path))
        if why is not None:
            private = True
            print(f"the report is owner-only: {why}, so its tables and counts are treated as "
                  "real data that are not protected for publishing")
    write_text(html, target, private=private)
    if not private:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(target, 0o666 & ~umask)
    return target


def refresh_report(path: str | Path) -> None:
    """Rewrite a folder's report.html if it has one (after ``srmsim sensitivity`` or ``srmsim
    discover`` added results to it), saying so."""
    if (Path(path) / "report.html").exists():
        print(f"updated {write_report(path)}")


__all__ = ["build_html", "check_report_folder", "folder_kind",
           "refresh_report", "write_report"]
