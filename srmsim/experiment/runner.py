"""Running an experiment's variant x replication runs on an executor.

Executors (one interface, results identical whatever is chosen, because each run depends only on
its scenario and seed):

- ``workers=1``: in this process;
- ``workers=N``: a local process pool (forked from a fork server that has imported srmsim,
  or spawned where there is none: :mod:`srmsim.executors`);
- ``scheduler="tcp://host:8786"`` (or a ``distributed.Client``): a Dask cluster (``dask`` extra).

Runs are sent in batches so that each task is worth sending (measured here: a Dask task costs
about 1.7 ms, a process-pool round trip more), and each finished run is stored at once.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from srmsim import executors
from srmsim.experiment.spec import Experiment, SequentialConfig
from srmsim.experiment.store import STOPPED_KEY, ResultsStore
from srmsim.store import BEYOND_PREFIX

if TYPE_CHECKING:
    from srmsim.scenario import Scenario

TARGET_TASK_SECONDS = 1.0
STUDENT_WEEKS_PER_SECOND = 3e6  # conservative engine speed, for batch sizing only


@dataclass(frozen=True)
class RunTask:
    variant: str
    replication: int
    seed: int
    #: the resolved scenario, validated: workers need nothing but this. Sent as the object
    #: (pickled by process pools and Dask: ~0.1 ms), not as YAML text, whose writing and
    #: reading (10-35 ms) was 15% of a small run when every run has its own scenario
    scenario: Scenario
    outcomes: tuple[str, ...]
    definitions: tuple[dict[str, Any], ...] = ()  # the experiment's user-defined outcomes
    #: some variant's trust is built from records: the run keeps what withholding reads
    private: bool = False


def run_one(task: RunTask) -> dict[str, Any]:
    """Run one replication of one variant; never raises (errors are returned as data).

    The row's ``_timing`` (process id, start and end in epoch seconds, the run's CPU seconds)
    is for the benchmarks; it is never stored."""

    from srmsim.experiment.custom import build_outcomes
    from srmsim.experiment.outcomes import (
        OUTCOMES,
        Cohort,
        measure,
        measure_groups,
        run_kind_counts,
        withholding_counts,
    )
    from srmsim.model import TrustModel

    started, cpu0 = time.time(), time.process_time()
    t0 = time.perf_counter()
    row: dict[str, Any] = {"variant": task.variant, "replication": task.replication,
                           "seed": task.seed}
    try:
        # a copy: nothing a run might change in its scenario can reach the next run
        scenario = task.scenario.model_copy(deep=True)
        model = TrustModel(scenario, seed=task.seed)
        model.run()
        result = model.results()
        model.release()
        custom = build_outcomes(list(task.definitions))
        outcomes = [custom.get(o) or OUTCOMES[o] for o in task.outcomes]
        row.update(measure(result, outcomes))
        # (before the groups are measured: each call says of its own value)
        row.update({f"{BEYOND_PREFIX}{o.name}": True for o in outcomes
                    if getattr(o.measure, "beyond", False)})
        row["students"] = len(result.students)
        # what withholding reads; each kind's count only on records (the events joined)
        private = task.private or bool(scenario.population.records)
        kinds = run_kind_counts(result) if private else None
        row.update(withholding_counts(Cohort.of(result), outcomes,
                                      result.summary.get("dearest_week"), kinds))
        row["error"] = ""
        row["_groups"] = measure_groups(result, outcomes, kinds)
        row["_weekly"] = with_backlog(trust_weeks(result.weekly), result.requests_weekly)
    except Exception as err:  # a failed run is recorded, not fatal
        row["error"] = f"{type(err).__name__}: {err}"
        row["traceback"] = traceback.format_exc(limit=5)
    row["runtime_seconds"] = time.perf_counter() - t0
    row["_timing"] = (os.getpid(), started, time.time(), time.process_time() - cpu0)
    return row


WEEKLY_TOTALS = ("enrolled", "sessions_possible", "sessions_attended", "flags", "referrals",
                 "active_cases", "queue_length", "staff_minutes_used", "staff_minutes_available")


def trust_weeks(weekly: pd.DataFrame) -> pd.DataFrame:
    """The trust's totals per run week (queues, staff minutes, sessions): the report's year.
    Only the schools' rows count (request streams have rows of their own)."""
    if "stream" in weekly.columns:
        weekly = weekly[weekly["stream"].isna()]
    cols = [c for c in WEEKLY_TOTALS if c in weekly.columns]
    if weekly.empty:
        return pd.DataFrame(columns=["run_week", *cols])
    return weekly.groupby("run_week", sort=True)[cols].sum().reset_index()


#: weekly detail column of a request stream's backlog: ``backlog:<stream>``
BACKLOG_PREFIX = "backlog:"


def with_backlog(weeks: pd.DataFrame, requests_weekly: pd.DataFrame | None) -> pd.DataFrame:
    """``weeks`` with each request stream's backlog per run week (column ``backlog:<stream>``,
    requests in the system), for the report's backlog over time; unchanged without streams."""
    if requests_weekly is None or requests_weekly.empty:
        return weeks
    backlog = requests_weekly.pivot_table(index="run_week", columns="stream", values="in_system",
                                          aggfunc="first", observed=True)
    backlog.columns = [f"{BACKLOG_PREFIX}{c}" for c in backlog.columns]
    backlog = backlog.reset_index()
    if weeks.empty:  # no schools: an administrative process only
        return backlog
    return weeks.merge(backlog, on="run_week", how="outer").sort_values(
        "run_week", kind="stable").reset_index(drop=True)


#: the fields of a row's ``_timing`` (see :func:`run_one`)
TIMING_FIELDS = ("pid", "started", "finished", "cpu_seconds")


def run_batch(tasks: list[RunTask]) -> list[dict[str, Any]]:
    """Each task's row, in order. Stopped by Ctrl-C (in a worker process, or in this one),
    it raises :class:`srmsim.executors.BatchInterrupted` with the rows of the runs it had
    finished, for the command to store (they were lost with the batch)."""
    rows: list[dict[str, Any]] = []
    for task in tasks:
        try:
            if executors.stop_asked():  # a queued batch of a stopped worker: no run
                raise SystemExit(130)
            rows.append(run_one(task))
        # (executors._stop_quietly in a worker; run_one records only Exceptions as failures)
        except (SystemExit, KeyboardInterrupt):
            raise executors.BatchInterrupted(rows) from None
    return rows


def store_rows(store: ResultsStore, rows: list[dict[str, Any]], digest: str | None = None,
               timings: list[dict[str, Any]] | None = None) -> int:
    """Store each finished run (stamped with the experiment's ``digest`` if given) or its
    failure; returns the number of failures. ``timings`` receives each run's ``_timing``, the
    seconds its storing took here and when it was stored (epoch seconds)."""
    failed = 0
    for row in rows:
        timing = row.pop("_timing", None)
        t0 = time.perf_counter()
        if digest is not None:  # on failure records too: reading checks them against it
            row["experiment_hash"] = digest
        if row.get("error"):
            failed += 1
            store.save_failure(row)
        else:
            row.pop("traceback", None)
            store.save_run(row)
        if timings is not None and timing is not None:
            timings.append(dict(zip(TIMING_FIELDS, timing, strict=True),
                                store_seconds=time.perf_counter() - t0, stored=time.time()))
    return failed


def plan(experiment: Experiment, replications: range, store: ResultsStore | None
         ) -> list[RunTask]:
    seeds = experiment.seeds()
    tasks = []
    for variant in experiment.variants:
        for rep in replications:
            if store is not None and store.has(variant, rep):
                continue
            tasks.append(RunTask(variant, rep, seeds[rep], experiment.scenario_for(variant, rep),
                                 tuple(experiment.outcomes), tuple(experiment.outcome_definitions),
                                 experiment.from_records))
    return tasks


def batch_size(experiment: Experiment, n_tasks: int, workers: int) -> int:
    sc = experiment.base
    students = sc.trust.n_schools * sc.trust.students_per_year_group * len(sc.trust.year_groups)
    seconds = students * 39 * sc.years / STUDENT_WEEKS_PER_SECOND + 0.05
    return executors.batch_size(seconds, n_tasks, workers, TARGET_TASK_SECONDS)


class _Progress:
    def __init__(self, total: int, enabled: bool):
        self.failures = 0
        self.bar = None
        if enabled and total:
            from srmsim.progress import progress_bar

            self.bar = progress_bar(total=total, unit="run", desc="runs", smoothing=0.1)

    def update(self, rows: list[dict[str, Any]]) -> None:
        self.failures += sum(1 for r in rows if r.get("error"))
        if self.bar is not None:
            self.bar.set_postfix(failures=self.failures, refresh=False)  # shown by update()
            self.bar.update(len(rows))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def sequential_step(effects: pd.DataFrame, seq: SequentialConfig, n_reps: int
                    ) -> tuple[str | None, int]:
    """The stopping rule's decision on the effects of the first ``n_reps`` replications: why it
    stops (and ``n_reps``), or ``None`` and how many replications to run before it decides
    again. A met target stops it only from ``seq.min_replications`` (``max_replications`` if
    lower): on fewer, a half-width is too noisy an estimate to stop on (see
    :class:`~srmsim.experiment.spec.SequentialConfig`), so the next round goes there at once.
    A half-width of 0 (every paired difference the same) never meets a target."""
    floor = min(seq.min_replications, seq.max_replications)
    wide = effects[effects["outcome"].isin(list(seq.half_width))]
    # a half-width that is not a number (an outcome undefined in every run) is no interval at
    # all, so not within its target; nor is one of 0 (every paired difference the same), which
    # measures no precision: a rare difference (6% of replications) is 0 in all 10 of 54% of
    # experiments, and stopping there, 95% intervals held the expected difference in 48.5%
    # (running on until the differences vary: 94%). A variant that cannot change a targeted
    # outcome so runs to max_replications
    target = wide["outcome"].map(seq.half_width)
    too_wide = wide[~((wide["half_width"] <= target) & (wide["half_width"] > 0))]
    if too_wide.empty and n_reps >= floor:
        return "half-width target met", n_reps
    if n_reps >= seq.max_replications:
        return "max_replications reached", n_reps
    return None, min(max(n_reps + seq.batch, floor), seq.max_replications)


@executors.connects_scheduler
def run_experiment(
    experiment: Experiment,
    out: str | os.PathLike,
    workers: int | None = None,
    scheduler: Any = None,
    resume: bool = False,
    progress: bool = True,
    timings: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run every missing variant x replication into the store at ``out``.

    With ``sequential:`` in the experiment, replications are added in batches until every CI
    half-width named there is below its target (on at least ``min_replications``), or
    ``max_replications`` is reached (:func:`sequential_step`).
    Returns a summary: runs done, failures, replications, stopping reason, and notes (fewer
    local workers than asked, where memory holds fewer runs at once).

    ``timings`` (for benchmarks/experiments.py) receives a record per run: where and when it ran
    (``_timing`` of :func:`run_one`), and the parent's seconds storing it.
    """
    from srmsim.argtypes import check_workers

    check_workers(workers)  # the API as the CLI: 1 .. 4 a core (10,000 forked 10,000)
    from srmsim.model import size_study

    # before the results folder is started: a variant too big failed run by run, leaving a
    # manifest, its scenarios and a failure record per run (the first replication's sizes);
    # on a Dask cluster, checked against its workers' memory
    workers = workers or os.cpu_count() or 1
    size = size_study(experiment.sized_scenarios(), experiment.seeds(1)[0],
                      f"experiment {experiment.name!r}: variant", workers,
                      local=scheduler is None, cluster=scheduler)
    workers = size.workers
    from srmsim.records import check_out_of_records

    check_out_of_records(Path(out), [experiment.base, *experiment.variants.values()])
    from srmsim.outputs import folder_lock

    # one writer at a time (a killed one's staging folders go); a cluster's workers each get
    # no more runs at a time than their memory holds
    with folder_lock(out), executors.runs_need(size.need, size.what):
        summary = _run_locked(experiment, out, workers, scheduler, resume, progress, timings)
    summary["notes"] = [size.note] if size.note else []
    return summary


def _run_locked(experiment: Experiment, out: str | os.PathLike, workers: int | None,
                scheduler: Any, resume: bool, progress: bool,
                timings: list[dict[str, Any]] | None) -> dict[str, Any]:
    """:func:`run_experiment` once it holds the results folder's lock."""
    from srmsim.experiment.compare import compare_frame

    store = ResultsStore(out)
    complete = store.complete(experiment)
    manifest = store.start(experiment, resume or complete)
    digest = manifest["experiment_hash"]
    workers = workers or os.cpu_count() or 1
    session = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "workers": workers,
               "executor": "dask" if scheduler is not None else
               ("local-processes" if workers > 1 else "in-process")}
    t0 = time.perf_counter()
    done = failed = 0
    seq = experiment.config.sequential
    n_reps = experiment.replications
    reason = "replications"
    finished = False
    # a finished sequential experiment run again only re-reads its runs: its decision stands,
    # even when that session is interrupted (Ctrl-C) before re-making it
    decided = complete and isinstance(manifest.get(STOPPED_KEY), str)
    if seq is not None and not decided:  # until its rule decides: a killed session leaves it so
        manifest[STOPPED_KEY] = None
        store.write_manifest(manifest)
    progress_bar = _Progress(0, False)
    ending: BaseException | None = None
    stored = 0
    try:
        tasks = plan(experiment, range(n_reps), store)
        #: runs an earlier session stored ("0 runs in 0.0 s" alone said nothing of them)
        stored = len(experiment.variants) * n_reps - len(tasks)
        # no pool (no processes to start) when every run is stored already
        pool = workers if scheduler is None and tasks else 1
        with executors.local_processes(pool, executors.RUN_MODULES):
            while True:
                progress_bar = _Progress(len(tasks), progress)

                def on_rows(rows: list[dict[str, Any]], bar: _Progress = progress_bar) -> None:
                    nonlocal done, failed
                    n_failed = store_rows(store, rows, digest, timings)
                    failed += n_failed
                    done += len(rows) - n_failed
                    bar.update(rows)

                n_workers = executors.slots(workers, scheduler)
                size = batch_size(experiment, len(tasks), n_workers)
                chunks = executors.batches(tasks, size, n_workers)
                executors.execute(run_batch, [(b,) for b in chunks], workers, scheduler, on_rows)
                progress_bar.close()
                if seq is None:
                    break
                # only the first n_reps replications decide: a resumed run may hold a few more
                # (finished before the kill), and must stop exactly where an uninterrupted one would
                runs = store.load(digest)
                runs = runs[runs["replication"] < n_reps]
                effects = compare_frame(runs, experiment.baseline, experiment.outcomes,
                                        registry=experiment.outcome_registry(),
                                        order=list(experiment.variants))
                stop, n_reps = sequential_step(effects, seq, n_reps)
                if stop is not None:
                    reason = stop
                    break
                tasks = plan(experiment, range(n_reps), store)
        finished = True
    except BaseException as err:  # reported as it is, not hidden by the manifest's error
        ending = err
        raise
    finally:
        progress_bar.close()
        session.update(finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
                       seconds=round(time.perf_counter() - t0, 3), runs=done, failures=failed,
                       replications=n_reps)
        manifest.setdefault("sessions", []).append(session)
        if finished or not decided:  # the analysis reads exactly these n_reps replications
            manifest["replications"] = n_reps
        if finished:
            manifest[STOPPED_KEY] = reason
        # the runs that failed, for reading to check the failure records against: a record
        # made or copied in for a deleted run is not one of them
        manifest["failed"] = store.failed_keys()
        store.end_session(manifest, ending)
    return {"runs": done, "failures": store.failures(), "replications": n_reps,
            "stopped": reason, "seconds": session["seconds"], "stored": stored}
