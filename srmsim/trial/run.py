"""Running a trial: per replication a trial run and its counterfactual, on any executor.

Replication r (seed ``trial.seeds()[r]``):

1. randomise (from the replication seed), then run the scenario with the policy, letting it refer
   only students the assignment makes eligible (``PolicyEngine.set_eligibility``);
2. run the same scenario with the same seed and no policy: by common random numbers every
   student's outcome there is exactly their untreated outcome in (1). Control-arm students are
   never referred, so their outcomes are identical in both runs (the tests check it), and staff
   capacity, per school or pooled, only ever serves the treated arm;
3. analyse (1) alone as the trust would, and compare with the truth from (1) - (2).

The truth is the effect *in this trial*. Where staff capacity binds, treated students compete
only with each other (half the queue of a full roll-out), so a student-randomised trial can show
a larger effect per student than the policy would have trust-wide; compare with an experiment
(``srmsim experiment``) of the policy for everyone when that matters.

Executors as for experiments (``workers=1`` in process, ``workers=N`` local processes, a Dask
``scheduler``): each replication depends only on the trial and its seed, so the rows are the same
whichever runs them. Replications go out in batches worth about a second each.
"""

from __future__ import annotations

import math
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srmsim import executors
from srmsim.argtypes import MAX_SEED
from srmsim.errors import DataError, ScenarioError, SrmsimError
from srmsim.stats._checks import whole_number
from srmsim.trial.spec import MAX_REPLICATIONS, Trial, check_bootstrap

#: columns of trial_runs.csv, in order
RUN_COLUMNS = [
    "replication", "seed", "estimate", "se", "ci_low", "ci_high", "p_value", "df",
    "true_effect", "true_effect_served", "covered", "rejected", "naive", "naive_truth", "n",
    "n_treated", "n_control", "n_clusters", "n_missing", "n_truth_missing", "n_served",
    "n_naive", "baseline_changed", "error", "outcome_sd",
]
#: columns an older srmsim's stored rows lack (NaN when read): the outcome's SD without the
#: policy among the students analysed, for the standardised MDES
OPTIONAL_RUN_COLUMNS = ("outcome_sd",)
TARGET_TASK_SECONDS = 1.0
STUDENT_WEEKS_PER_SECOND = 3e6  # conservative engine speed, for batch sizing only


@dataclass
class Replication:
    """One replication in full: its row and the data behind it (for notebooks and tests)."""

    replication: int
    seed: int
    row: dict[str, Any]
    students: pd.DataFrame  # one row per student: arm, flagged, served, measures in both runs
    analysed: pd.DataFrame  # the rows the analysis used (students, or student-periods)
    result: Any  # the srmsim.stats result object
    trial_students: pd.DataFrame  # students.parquet of the trial run
    counterfactual_students: pd.DataFrame  # ... and of the counterfactual run
    screening_week: int | None = None
    panel: pd.DataFrame | None = field(default=None, repr=False)
    #: the treated arm's outcomes, cost and reach in both runs, by group (for the report)
    groups: pd.DataFrame | None = field(default=None, repr=False)
    #: the trial's analysis within each subgroup and its interaction tests
    #: (:func:`srmsim.trial.subgroups.subgroup_estimates`); None for a stepped wedge
    subgroups: pd.DataFrame | None = field(default=None, repr=False)


def _drive(model: Any, hooks: dict[int, list[Callable[[Any, int], None]]]) -> None:
    """Run every week, calling ``hook(model, week)`` right after the weeks that have one."""
    while not model.done:
        week = model.week_index
        model.step()
        for hook in hooks.get(week, ()):
            hook(model, week)


def _panel_hooks(hooks: dict[int, list], config: Any, periods: int) -> Any:
    """A stepped-wedge panel recorder, hooked onto the weeks it snapshots."""
    from srmsim.trial.analyse import PanelRecorder

    rec = PanelRecorder(config.outcome, config.randomise.step_weeks, periods)
    for w in rec.weeks():
        hooks.setdefault(w, []).append(rec)
    return rec


def replicate(trial: Trial, replication: int, seed: int | None = None,
              subgroups: bool = True) -> Replication:
    """Run and analyse one replication (``seed`` defaults to the trial's seed for it);
    ``subgroups=False`` leaves out the subgroup estimates (:mod:`srmsim.trial.subgroups`),
    which nothing else depends on."""
    from srmsim.experiment.outcomes import student_kind_counts
    from srmsim.model import TrustModel
    from srmsim.policy.compiled import compile_policy
    from srmsim.results import student_frame
    from srmsim.trial.analyse import (
        CF,
        estimate,
        panel_data,
        screen_flags,
        screening_week,
        student_data,
        truths,
    )
    from srmsim.trial.assign import SteppedWedgeAssignment, make_assignment
    from srmsim.trial.groups import group_truths, withhold_small_groups
    from srmsim.trial.subgroups import subgroup_estimates

    replication = whole_number(replication, "replication", 0, MAX_REPLICATIONS - 1)
    if seed is None:
        seed = trial.seeds(replication + 1)[replication]
    seed = whole_number(seed, "seed", 0, MAX_SEED)
    c = trial.config
    quiet = {"outputs.history": "none"}  # the trial reads no weekly history
    scenario = trial.scenario.with_overrides(quiet, trial.source)
    counterfactual = trial.counterfactual().with_overrides(quiet, trial.source)
    if scenario.policy is None:  # Trial validation requires one; checked for the type checker
        raise SrmsimError(f"{trial.source}: the trial's scenario has no policy")
    policy = compile_policy(scenario.policy, trial.source)
    sw = c.randomise.unit == "stepped_wedge"
    steps = c.randomise.steps
    if sw and steps is None:
        raise SrmsimError(f"{trial.source}: randomise.steps is unresolved")
    periods = (steps + 1) if sw and steps is not None else 0

    model = TrustModel(scenario, seed=seed)
    assignment = make_assignment(trial, seed, len(model.schools))
    if model.policy is None:  # pragma: no cover - the scenario has a policy (checked above)
        raise AssertionError("the trial model has no policy engine")
    model.policy.set_eligibility(assignment.eligible_from)
    hooks: dict[int, list] = {}
    rec_trial = _panel_hooks(hooks, c, periods) if sw else None
    _drive(model, hooks)
    trial_students = student_frame(model.all_students())
    uid = trial_students["uid"].to_numpy()
    school = trial_students["school"].to_numpy()
    if not assignment.known(uid).all():  # pragma: no cover - every student passes the policy
        raise AssertionError("some students were never randomised")
    treated = assignment.treated(uid, school)
    dearest_week = dict(model.policy.dearest_week)
    # each student's actions and weeks of each priced kind (only read from records)
    kinds = student_kind_counts(
        pd.DataFrame({"student": model.policy.pseudonym_column(uid)}), model.policy.events(),
        model.policy.week_prices) if trial.from_records else None
    model.release()

    cf_model = TrustModel(counterfactual, seed=seed)
    hooks = {}
    flagged: list[np.ndarray] = []
    week0 = None
    if c.population == "flagged":
        week0 = screening_week(policy, cf_model.n_weeks)

        def screen(m: TrustModel, w: int) -> None:
            flags = screen_flags(m, policy, w)
            if not flags.any():  # the analysis said "data has no rows", a year later
                raise DataError(f"the policy's trigger flagged no student at the screening "
                                f"week (week {w}), so the trial's population (flagged) is "
                                "empty: check the trigger's rule and parameters")
            flagged.append(flags)

        hooks.setdefault(week0, []).append(screen)
    rec_cf = _panel_hooks(hooks, c, periods) if sw else None
    _drive(cf_model, hooks)
    cf_students = student_frame(cf_model.all_students())
    cf_model.release()

    students = student_data(trial, trial_students, cf_students, treated,
                            flagged[0] if flagged else None)
    panel = None
    if sw:
        if rec_trial is None or rec_cf is None or not isinstance(
                assignment, SteppedWedgeAssignment):  # pragma: no cover - sw implies all three
            raise AssertionError("stepped-wedge run without its panel recorders or assignment")
        panel = panel_data(trial, rec_trial.panel(), rec_cf.panel(), assignment.start_period,
                           students)
        analysis = estimate(trial, panel, seed)
    else:
        analysis = estimate(trial, students, seed)
    row: dict[str, Any] = {"replication": replication, "seed": seed, **analysis.row}
    row.update(truths(trial, analysis.data, students))
    row["covered"] = bool(row["ci_low"] <= row["true_effect"] <= row["ci_high"])
    row["rejected"] = bool(row["p_value"] < c.analysis.alpha)
    row["error"] = ""
    row["outcome_sd"] = _outcome_sd(analysis.data[c.outcome + CF], trial.from_records)
    row = {k: row.get(k, _missing(k)) for k in RUN_COLUMNS}
    groups = group_truths(trial_students, cf_students, treated)
    if trial.from_records:  # nothing written or printed may give a count under 10
        row = withhold_small_counts(row, int(np.count_nonzero(treated)))
        used = None if sw else np.isin(uid, analysis.data["uid"].to_numpy())
        groups = withhold_small_groups(groups, trial_students, cf_students, treated, used,
                                       all_analysed_ok=c.population == "all",
                                       dearest_week=dearest_week, kinds=kinds)
    return Replication(replication, seed, row, students, analysis.data, analysis.result,
                       trial_students, cf_students, week0, panel, groups,
                       subgroup_estimates(trial, analysis.data, trial_students)
                       if subgroups else None)


#: the counts of a replication's row other than its arms' (which decide whether it is shown)
INCIDENTAL_COUNTS = ("n_missing", "n_truth_missing", "n_served", "n_naive", "baseline_changed")


class ArmTooFew(DataError):
    """A replication from real records with an arm too few to show; its message quotes the
    threshold, no count."""


def withhold_small_counts(row: dict[str, Any], arm: int, threshold: int = 10
                          ) -> dict[str, Any]:
    """A replication's row safe to write from real records (``arm``: the treated arm's
    students, whose size trial_groups.csv gives).

    An arm of fewer than ``threshold`` analysed students fails the replication (its estimate's
    df, or its p-value with the estimate and SE, and the other arm's count give the arm's size
    back, as its own count does): the trial's analysis is withheld as a subgroup too few is
    (:mod:`srmsim.trial.subgroups`). Every other count under ``threshold`` (zero included) is
    left blank (NaN), and so is one whose remainder is (the treated students not served, of
    the arm; those with a true effect, of the treated analysed; those whose baseline the policy
    left alone, of all analysed), found by :func:`srmsim.privacy.suppression_masks` with the
    arms' counts as published."""
    from srmsim.privacy import suppression_masks

    arms = pd.DataFrame({c: [float(row[c])] for c in ("n_treated", "n_control")})
    primary, _ = suppression_masks(arms, list(arms.columns), threshold, total_row=None,
                                   total_column=None)
    if primary.to_numpy().any():
        raise ArmTooFew(f"an arm has fewer than {threshold} analysed students: from real "
                        "records the replication's analysis and counts are not shown (each "
                        "would give the arm's size)")
    shown = ["n", "n_treated", "arm"]
    cells = pd.DataFrame({**{c: [float(row[c])] for c in ("n", "n_treated")},
                          "arm": [float(arm)],
                          **{c: [float(row[c])] for c in INCIDENTAL_COUNTS}})
    parts = {"n_served": "arm", "n_truth_missing": "n_treated", "baseline_changed": "n"}
    primary, secondary = suppression_masks(
        cells, list(cells.columns), threshold, total_row=None, total_column=None,
        subsets=parts, complements=list(parts),
        published=np.array([[c in shown for c in cells.columns]]))
    hidden = primary | secondary
    return {**row, **{c: math.nan for c in INCIDENTAL_COUNTS if bool(hidden[c].iloc[0])}}


def _outcome_sd(counterfactual: pd.Series, from_records: bool = False,
                threshold: int = 10) -> float:
    """The outcome's SD without the policy (its counterfactual values) over the rows analysed,
    both arms: the SD a standardised effect size divides by, untouched by the treatment. From
    real records, the SD of an outcome of two values (0/1: ``sqrt(n / (n - 1) p (1 - p))``)
    with the students analysed gives how many have each (0.106164 of 615: 7 severely absent),
    and an SD of 0 says none differs, so it is withheld (NaN) where the students of a value, or
    of the other, are under ``threshold``, by the trial's threshold test."""
    from srmsim.trial.groups import under_threshold

    y = counterfactual.to_numpy(dtype=float, na_value=np.nan)
    y = y[np.isfinite(y)]
    if len(y) <= 1:
        return math.nan
    values, counts = np.unique(y, return_counts=True)
    if from_records and len(values) <= 2 and under_threshold(
            np.append(counts, 0.0)[:2].astype(float), threshold).any():
        return math.nan
    return float(np.std(y, ddof=1))


def _missing(column: str) -> Any:
    return 0 if column.startswith("n_") or column == "baseline_changed" else math.nan


def _failed_row(replication: int, seed: int, err: BaseException) -> dict[str, Any]:
    row = {k: _missing(k) for k in RUN_COLUMNS}
    row.update(replication=replication, seed=seed, covered=False, rejected=False,
               error=f"{type(err).__name__}: {err}")
    return row


def _numbers_withheld(row: dict[str, Any], err: BaseException) -> dict[str, Any]:
    """A failed replication's row from real records with every number of its error's message
    written ``#`` (in ``error`` and at the end of the traceback, which keeps its frames but not
    the messages of the exceptions it was raised from): a message can quote a count of the
    rows or students it refused ("data has 5 rows"), printed and written beside the others."""
    import re

    if isinstance(err, ArmTooFew):
        return row
    message = str(err)
    withheld = re.sub(r"\d+", "#", message)
    note = "" if withheld == message else \
        " (numbers withheld: the trust is built from real records)"
    error = f"{type(err).__name__}: {withheld}{note}"
    frames = "".join(traceback.format_tb(err.__traceback__, limit=6))
    return {**row, "error": error,
            "traceback": f"Traceback (most recent call last):\n{frames}{error}\n"}


#: what a worker process imports before its first replication
WORKER_MODULES = ("srmsim.model", "srmsim.trial.run")


def _run_batch(payload: dict[str, Any], batch: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Worker entry point: rebuild the trial from plain data and run some replications.

    A replication that raises (an estimator refusing an unsound fit, say) becomes a row with
    ``error`` set, so one bad draw does not lose the others.
    """
    trial = Trial.from_payload(payload)
    subgroups = bool(payload.get("subgroups", True))
    rows = []
    for replication, seed in batch:
        try:
            rep = replicate(trial, replication, seed, subgroups)
            # the group detail travels beside the row (as an experiment run's detail does)
            rows.append({**rep.row, "_groups": rep.groups, "_subgroups": rep.subgroups})
        except Exception as err:  # recorded, reported, and counted as a failure
            row = _failed_row(replication, seed, err)
            row["traceback"] = traceback.format_exc(limit=6)
            if trial.from_records:
                row = _numbers_withheld(row, err)
            rows.append(row)
    return rows


def batch_size(trial: Trial, n_tasks: int, workers: int) -> int:
    sc = trial.scenario
    students = sc.trust.n_schools * sc.trust.students_per_year_group * len(sc.trust.year_groups)
    seconds = 2 * students * 39 * sc.years / STUDENT_WEEKS_PER_SECOND + 0.05  # two runs each
    return executors.batch_size(seconds, n_tasks, workers, TARGET_TASK_SECONDS)


def execute(payload: dict[str, Any], batches: list[list[tuple[int, int]]], workers: int,
            scheduler: Any, on_rows: Callable[[list[dict[str, Any]]], None]) -> None:
    """Run batches of replications on the shared executors (:mod:`srmsim.executors`)."""
    executors.execute(_run_batch, [(payload, b) for b in batches], workers, scheduler, on_rows,
                      preload=WORKER_MODULES)


def check_population(trial: Trial) -> None:
    """The design's checks that need the trust's school sizes, which a trust from real records
    (``population.records``) has only once they are read: made once, before any replication,
    rather than failing every one of them ("only one arm")."""
    from srmsim.records import RecordPopulation
    from srmsim.rng import CRN
    from srmsim.trial.spec import check_built_blocks, check_schools

    sc = trial.scenario
    if not sc.population.records:  # the static checks of spec.py knew the sizes
        return
    profiles = RecordPopulation.from_path(sc.population.records).schools(sc, CRN(0))
    sizes = [int(c) for c in profiles.cohort_size]
    problems = (check_schools(trial.config, len(sizes))
                + check_built_blocks(trial.config, sizes, len(sc.trust.year_groups), sc.years))
    if problems:
        raise ScenarioError(trial.source, problems)


@executors.connects_scheduler
def run_trial(trial: Trial, replications: int | None = None, workers: int | None = 1,
              scheduler: Any = None, progress: bool = False, out: str | Path | None = None,
              resume: bool = False, report: bool = False, subgroups: bool = True):
    """Run every replication and summarise them; returns a :class:`TrialResult`.

    ``workers``: local processes (1 = in this process, None = all cores); ``scheduler``: a Dask
    scheduler address or ``distributed.Client``. Same trial and seed, same rows, whatever runs
    them.

    ``out``: keep each finished replication in ``out/store`` as it finishes
    (:mod:`srmsim.trial.store`), then write the trial's files there (and ``report.html`` if
    ``report``), the folder replaced whole. ``resume`` continues an unfinished trial in ``out``
    with the replications not stored yet; the files are the same bytes as an uninterrupted run's.

    ``subgroups=False`` (``--no-subgroups``) skips the subgroup estimates, which fit the
    trial's analysis 18 more times a replication (5 year groups); a stored trial keeps the choice it began
    with (its manifest's), so a resumed one writes the same files.
    """
    n = trial.replications if replications is None else whole_number(
        replications, "replications", 1, MAX_REPLICATIONS)  # 0 ran the file's count
    if n != trial.replications:  # the count run is part of the trial (its hash, trial.json)
        trial = replace(trial, config=trial.config.model_copy(update={"replications": n}))
        too_many = check_bootstrap(trial.config)  # the file's n_boot fitted its replications
        if too_many:
            raise ScenarioError(trial.source, too_many)
    from srmsim.argtypes import check_workers

    check_workers(workers)  # the API as the CLI: 1 .. 4 a core (10,000 forked 10,000)
    workers = workers or os.cpu_count() or 1
    check_population(trial)  # before the store or a replication: each would fail alike
    from srmsim.model import size_study

    # so is a trust too big for memory (checked with the first replication's school sizes;
    # the trial and its counterfactual run one after the other, each as big as the other)
    # and as many local workers as can each hold a run at once (on a Dask cluster: its
    # workers' memory, and each worker no more runs at a time than it holds)
    size = size_study({trial.scenario.name: trial.scenario.with_overrides(
        {"outputs.history": "none"}, trial.source)}, trial.seeds(1)[0],
        f"trial {trial.name!r}: scenario", workers, local=scheduler is None, cluster=scheduler)
    workers = size.workers
    with executors.runs_need(size.need, size.what):
        if out is None:
            result = _run_trial(trial, n, workers, scheduler, progress, None, resume, report,
                                subgroups)
        else:
            from srmsim.outputs import folder_lock
            from srmsim.records import check_out_of_records

            check_out_of_records(out, [trial.scenario])
            with folder_lock(out):  # one writer at a time; a killed one's staging folders go
                result = _run_trial(trial, n, workers, scheduler, progress, out, resume, report,
                                    subgroups)
    result.notes = [size.note] if size.note else []
    return result


def _run_trial(trial: Trial, n: int, workers: int, scheduler: Any, progress: bool,
               out: str | Path | None, resume: bool, report: bool,
               subgroups: bool = True) -> Any:
    """:func:`run_trial` once it holds the output folder's lock (if it has one)."""
    from srmsim.trial.groups import collect
    from srmsim.trial.report import TrialResult, summarise, truth_population
    from srmsim.trial.store import TrialStore

    store = TrialStore.of(out) if out is not None else None
    manifest = store.start(trial, n, resume, subgroups) if store is not None else None
    if store is not None:  # a stored trial keeps its first session's choice
        subgroups = store.keeps_subgroups()
    seeds = trial.seeds(n)
    done = set(store.stored(n)) if store is not None else set()
    tasks = [(r, s) for r, s in enumerate(seeds) if r not in done]
    n_workers = executors.slots(workers, scheduler)
    size = batch_size(trial, len(tasks), n_workers)
    rows: list[dict[str, Any]] = []
    bar = None
    if progress and tasks:
        from srmsim.progress import progress_bar

        bar = progress_bar(total=len(tasks), unit="replication", desc=trial.name, smoothing=0.1)

    def on_rows(batch_rows: list[dict[str, Any]]) -> None:
        if store is not None:
            for row in batch_rows:
                store.save(row, trial.digest())
        rows.extend(batch_rows)
        if bar is not None:
            bar.update(len(batch_rows))

    t0 = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    ending: BaseException | None = None
    try:
        execute({**trial.to_payload(), "subgroups": subgroups},
                executors.batches(tasks, size, n_workers), workers, scheduler, on_rows)
    except BaseException as err:  # reported as it is, not hidden by the manifest's error
        ending = err
        raise
    finally:
        if bar is not None:
            bar.close()
        if store is not None and manifest is not None:
            manifest.setdefault("sessions", []).append({
                "started": started, "seconds": round(time.perf_counter() - t0, 3),
                "replications_run": len(rows), "workers": workers,
                "executor": "dask" if scheduler is not None else
                ("local-processes" if workers > 1 else "in-process")})
            store.end_session(manifest, ending)
    seconds = time.perf_counter() - t0
    if store is not None:  # uninterrupted or resumed, the same rows from the same files
        rows = store.rows(trial, n)
    failures = [r for r in rows if r.get("error")]
    runs = pd.DataFrame([{k: r.get(k, math.nan) if k in OPTIONAL_RUN_COLUMNS else r[k]
                          for k in RUN_COLUMNS} for r in rows], columns=RUN_COLUMNS)
    runs = runs.sort_values("replication", kind="stable").reset_index(drop=True)
    summary = summarise(runs, trial.config.analysis.alpha, truth_population(trial.config))
    from srmsim.trial.subgroups import collect as collect_subgroups

    result = TrialResult(trial, runs, summary, seconds=seconds, failures=failures,
                         stored=len(done), groups=collect(rows),
                         subgroups=collect_subgroups(rows))
    if out is not None:
        result.write(out, html=report)
    return result
