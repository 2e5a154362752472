"""A Dask cluster's workers are sized before a study runs on them.

Local studies were checked against this machine's memory; on a cluster (``--scheduler``)
nothing was: a run bigger than every worker's ``memory_limit`` was killed by the worker's
nanny, retried on the next worker and killed again, and the study ended in a ``KilledWorker``
traceback minutes later, with its results folder started; a worker with 4 threads ran 4 runs at
once in one process, whatever its limit. Now the study's largest run (the estimate of the local
check, :func:`srmsim.memory.run_bytes`) is checked against the workers before anything is
written, each worker gets no more runs at a time than its memory holds, and a worker that dies
anyway ends the study with a short message (exit 2), the runs stored before it kept.

Real clusters: ``LocalCluster(processes=False)`` where the workers' memory is only read (its
memory manager, which would measure this whole test process against a small limit, is
switched off), processes where the workers' memory must be their own or a worker must really
be killed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import tiny_policy_scenario

from srmsim import executors, memory
from srmsim.cli import main
from srmsim.errors import SrmsimError
from srmsim.experiment import load_runs
from srmsim.model import _run_size, run_cohort_sizes
from srmsim.scenario import scenario_from_dict

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

MB = 2**20
#: a worker of an in-process cluster measures the whole test process against its limit: it
#: would pause (no task runs) or spill; the tests read its limit, nothing else
NO_MEMORY_MANAGER = {"distributed.worker.memory.pause": False,
                     "distributed.worker.memory.terminate": False,
                     "distributed.worker.memory.target": False,
                     "distributed.worker.memory.spill": False}


@pytest.fixture(autouse=True)
def process_size(monkeypatch) -> None:
    """Workers that are threads of this process report its size: the test process's (hundreds
    of MiB, more as the suite goes on) where a worker process would report its own. They report
    :data:`~srmsim.memory.BASE_BYTES` here, as if Dask and srmsim took no more than the
    estimate counts; a test that needs another figure sets its own (workers that are processes
    of their own measure themselves)."""
    from srmsim import dask_workers

    monkeypatch.setattr(dask_workers, "process_bytes", lambda: memory.BASE_BYTES)
    monkeypatch.setattr(dask_workers, "_BASELINE", 0)


def in_process(n_workers: int, threads: int, limit: int | str) -> distributed.LocalCluster:
    """A cluster of threads in this process whose workers report ``limit`` (bytes, 0: none)."""
    return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=threads,
                                    processes=False, dashboard_address=None, memory_limit=limit)


def estimate(scenario: dict, seed: int) -> int:
    """What the study's check estimates a run of ``scenario`` needs."""
    sc = scenario_from_dict(scenario, "test")
    return memory.run_bytes(*_run_size(sc, run_cohort_sizes(sc, seed)))


def write_experiment(tmp: Path, big: dict | None = None, replications: int = 2) -> Path:
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(tiny_policy_scenario()))
    exp = {"name": "tiny_exp", "scenario": "tiny.yaml", "baseline": "none",
           "replications": replications, "seed": 7, "outcomes": ["attendance", "staff_hours"],
           "variants": {"none": {"policy": None}, "texts": {}, **({"big": big} if big else {})}}
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


# ------------------------------------------------------------------ refused before anything


def test_a_run_no_worker_can_hold_is_refused_before_anything_is_written(tmp_path, capsys):
    """400,000 students (about 303 MiB) on workers limited to 250 MB: the workers, past 80% of
    their limit once srmsim was imported, paused, and the study, its results folder started,
    never finished (a worker that took the run would have been killed by its nanny). Now exit
    2 at once, naming the variant, the figure and the largest worker's room; no folder."""
    path = write_experiment(tmp_path, big={"trust.n_schools": 2000})
    need = estimate({**tiny_policy_scenario(), "trust": {
        "n_schools": 2000, "students_per_year_group": 40, "size_cv": 0.0}}, 7)
    assert 250e6 < need < memory.available_bytes()  # this machine could hold it: not its check
    out = tmp_path / "out"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     memory_limit="250MB", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            # whether a run's modules fit under each worker's pause share (80% of 250 MB) as
            # it stands: how much a worker holds before srmsim differs between Pythons and
            # library versions (Python 3.13 with pandas 3.1.2 had room, 3.11 not)
            def fit() -> bool:
                from srmsim import dask_workers  # (light: the run's modules are not imported)

                return dask_workers.process_bytes() + dask_workers.IMPORT_BYTES <= 0.8 * 250e6

            fits = client.run(fit)
        capsys.readouterr()
        status = main(["experiment", str(path), "--out", str(out), "--quiet",
                       "--scheduler", cluster.scheduler_address])
        with distributed.Client(cluster) as client:
            imported = client.run(lambda: "srmsim.model" in __import__("sys").modules)
    err = capsys.readouterr().err
    assert status == 2, err
    assert not out.exists()
    assert "Traceback" not in err
    # where a run's modules would take a worker past its pause share they are not imported
    # there (a worker paused by them would stay paused), their size estimated with them;
    # where they fit, the worker imports them and measures itself
    assert imported == fits
    assert "its process holds " in err and " before any run (Python, Dask, srmsim)" in err
    assert (f"no worker of the Dask cluster can hold a run of about {memory.amount(need)}"
            in err)
    # Dask pauses a worker at 80% of its limit: it starts no run until its memory falls back
    assert (f"the largest of its 2 workers has {memory.amount(0.8 * 250e6)} (80% of its memory "
            f"limit, {memory.amount(250e6)}, where Dask pauses or ends it)") in err
    assert "the run: experiment 'tiny_exp': variant 'big', about 400,000 students" in err
    assert "dask worker --memory-limit" in err and "nothing was run or written" in err


def test_a_trial_too_big_for_every_worker_is_refused_too(tmp_path):
    """The trial's entry point makes the same check (its scenario named), from Python."""
    from srmsim.trial import load_trial, run_trial

    trial_path = Path(__file__).resolve().parents[1] / "experiments" / "trial_reading.yaml"
    trial = load_trial(trial_path, {"trust.n_schools": 2000})
    with dask.config.set(NO_MEMORY_MANAGER), in_process(1, 1, "200MB") as cluster, \
            pytest.raises(memory.RunTooBigError, match=r"no worker of the Dask cluster") as err:
        run_trial(trial, replications=2, scheduler=cluster.scheduler_address,
                  progress=False, out=tmp_path / "trial")
    assert f"trial {trial.name!r}: scenario" in str(err.value)
    assert not (tmp_path / "trial").exists()


def big_lever_optimisation(tmp: Path, high: int = 2000, **changes):
    """The shipped optimisation on the small scenario, with a lever up to ``high`` schools."""
    from srmsim.explore.optimise import load_optimisation

    root = Path(__file__).resolve().parents[1]
    spec = yaml.safe_load((root / "experiments" / "optimise_attendance.yaml").read_text())
    spec["scenario"] = str(root / "scenarios" / "attendance_escalation_small.yaml")
    spec["levers"]["trust.n_schools"] = {"low": 3, "high": high, "integer": True}
    spec.update(changes)
    path = tmp / "opt.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_optimisation(path)


@pytest.mark.parametrize("entry", ["optimise", "search"])
def test_an_optimisation_too_big_for_every_worker_is_refused_too(tmp_path, entry):
    """The optimisation's entry points too: a lever's high end (2,000 schools) is its largest.
    ``search`` from Python is sized as ``optimise`` is: it made no check, and its runs went to
    the cluster's workers as many at once as their threads (the nanny killing each too big)."""
    from srmsim.explore import optimise as module

    opt = big_lever_optimisation(tmp_path)
    with dask.config.set(NO_MEMORY_MANAGER), in_process(1, 1, "200MB") as cluster, \
            pytest.raises(memory.RunTooBigError, match=r"no worker of the Dask cluster") as err:
        getattr(module, entry)(opt, tmp_path / "opt", scheduler=cluster.scheduler_address,
                               progress=False)
    assert "the run: optimisation 'optimise_attendance': variant " in str(err.value)
    assert "trust.n_schools = 2,000" in str(err.value)
    assert f"the largest of its 1 worker has {memory.amount(200e6)} (its memory limit)" in str(
        err.value)
    assert not (tmp_path / "opt").exists()


def test_a_search_called_directly_holds_runs_back_as_optimise_does(tmp_path, monkeypatch):
    """Where a worker's limit holds one run of the search's largest, its two threads get one
    run at a time (a warning says so: ``search`` returns the study, not notes), and ``optimise``
    sizes its search once, not again inside it."""
    from srmsim.explore import optimise as module
    from srmsim.model import size_study

    opt = big_lever_optimisation(tmp_path, high=4, replications=1,
                                 search={"sampler": "nsga2", "trials": 2, "batch": 2})
    need = module._size(opt, 1, None).need
    held: list[tuple[int, str]] = []
    evaluate = module._evaluate

    def seen(*args):  # what the search's runs are sized by, where they are sent
        held.append(executors._RUN_NEED.get())
        return evaluate(*args)

    monkeypatch.setattr(module, "_evaluate", seen)
    with dask.config.set(NO_MEMORY_MANAGER), \
            in_process(1, 2, need + (need - memory.BASE_BYTES) // 2) as cluster, \
            pytest.warns(UserWarning, match=r"srmsim: the Dask cluster's 1 worker has 2 threads, "
                         r"and their memory holds 1 run of about"):
        study = module.search(opt, tmp_path / "opt", scheduler=cluster.scheduler_address,
                              progress=False, max_batches=1)
    assert len(study.trials) == 2
    assert held == [(need, module._size(opt, 1, None).what)]

    class Stop(Exception):
        """Raised at the search's first batch: the search is sized by then."""

    def stop(*args):
        raise Stop

    sized: list[str] = []
    monkeypatch.setattr("srmsim.model.size_study",
                        lambda *a, **k: sized.append(a[2]) or size_study(*a, **k))
    monkeypatch.setattr(module, "_evaluate", stop)
    with pytest.raises(Stop):
        module.optimise(opt, tmp_path / "again", progress=False)
    assert sized == ["optimisation 'optimise_attendance': variant"]


def test_a_cluster_is_checked_against_its_workers_not_this_machine(monkeypatch, tmp_path):
    """A run bigger than this machine's memory but within the workers' limits runs on the
    cluster: it was refused against the memory of the machine that only stores the results.
    (This process is told it has half a run's memory; the workers, processes of their own,
    have their real memory and a limit that holds the run.)"""
    path = write_experiment(tmp_path)
    need = estimate(tiny_policy_scenario(), 7)
    monkeypatch.setattr(memory, "available_bytes", lambda: need // 2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  memory_limit=4 * need, dashboard_address=None) as cluster:
        assert main(["experiment", str(path), "--out", str(tmp_path / "out"), "--quiet",
                     "--scheduler", cluster.scheduler_address]) == 0
    assert len(load_runs(tmp_path / "out")[0]) == 4
    # locally, as before, refused
    assert main(["experiment", str(path), "--out", str(tmp_path / "here"), "--quiet",
                 "--workers", "1"]) == 2


# ------------------------------------------------------------ no more at once than fit


ACTIVE: dict[str, int] = {}
PEAK: dict[str, int] = {}
LOCK = threading.Lock()


def one_run(i: int) -> list[dict]:
    """A task that holds its worker for a moment, counting the tasks running on it at once
    (the cluster's workers are threads of this process, so they share these counters)."""
    where = distributed.get_worker().address
    with LOCK:
        ACTIVE[where] = ACTIVE.get(where, 0) + 1
        PEAK[where] = max(PEAK.get(where, 0), ACTIVE[where])
    time.sleep(0.15)
    with LOCK:
        ACTIVE[where] -= 1
    return [{"task": i, "worker": where}]


def run_tasks(client, n: int, need: int) -> list[dict]:
    ACTIVE.clear()
    PEAK.clear()
    rows: list[dict] = []
    with executors.runs_need(need, "a test run"):
        executors.execute(one_run, [(i,) for i in range(n)], 1, client, rows.extend)
    return rows


def test_each_worker_gets_no_more_runs_at_once_than_its_limit_holds():
    """4 threads and a limit that holds 2 runs besides the interpreter: 4 ran at once."""
    each = 100 * MB
    need = memory.BASE_BYTES + each
    with dask.config.set(NO_MEMORY_MANAGER), \
            in_process(1, 4, memory.BASE_BYTES + 2 * each + each // 2) as cluster, \
            distributed.Client(cluster) as client:
        note = executors.check_cluster_fits(client, need, "a test run")
        rows = run_tasks(client, 10, need)
        assert sorted(r["task"] for r in rows) == list(range(10))  # each once, none lost
        assert max(PEAK.values()) == 2, PEAK
        # with room for all four threads: Dask's own placement, all at once
        free = run_tasks(client, 8, memory.BASE_BYTES + each // 4)
        assert len(free) == 8 and max(PEAK.values()) == 4, PEAK
    assert note == (f"the Dask cluster's 1 worker has 4 threads, and their memory holds 2 "
                    f"runs of about {memory.amount(need)} at once (more with a policy's cases)"
                    ": each worker gets no more runs at a time than its memory holds (the "
                    "same results)")


def test_a_worker_too_small_for_one_run_gets_none():
    """A cluster of a small worker and a big one: the runs go to the big one only (they were
    spread over both, and those on the small one killed)."""
    from distributed import Scheduler, SpecCluster, Worker

    each = 100 * MB
    need = memory.BASE_BYTES + each

    def worker(limit: int) -> dict:
        return {"cls": Worker, "options": {"nthreads": 3, "memory_limit": limit}}

    with dask.config.set(NO_MEMORY_MANAGER), SpecCluster(
            scheduler={"cls": Scheduler, "options": {"dashboard_address": None}},
            workers={"small": worker(need - MB), "big": worker(memory.BASE_BYTES + 2 * each)},
    ) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        big = next(a for a, w in client.scheduler_info()["workers"].items()
                   if w["name"] == "big")
        note = executors.check_cluster_fits(client, need, "a test run")
        rows = run_tasks(client, 8, need)
    assert sorted(r["task"] for r in rows) == list(range(8))
    assert {r["worker"] for r in rows} == {big}
    assert PEAK == {big: 2}
    assert "2 workers have 6 threads, and their memory holds 2 runs" in note
    assert note.endswith("; 1 with room for none get no runs")


def test_a_worker_is_sized_by_where_dask_pauses_it(monkeypatch):
    """Dask pauses a worker past a share of its limit (80% by default, set on the worker):
    paused, it starts no run until its memory falls back, which memory a process keeps for
    reuse does not. A 4 GiB worker that pauses at half holds 2 runs of 1 GiB, not 3 (its
    machine has room for more)."""
    monkeypatch.setattr(memory, "available_bytes", lambda: 64 * 2**30)
    config = {**NO_MEMORY_MANAGER, "distributed.worker.memory.pause": 0.5}
    with dask.config.set(config), in_process(1, 4, 4 * 2**30) as cluster, \
            distributed.Client(cluster) as client:
        (worker,) = executors.dask_workers(client)
        need = memory.BASE_BYTES + 900 * MB
        assert (worker.limit, worker.alone) == (4 * 2**30, 2 * 2**30)
        assert executors.dask_slots([worker], need) == {worker.address: 2}
        with dask.config.set({"distributed.worker.memory.pause": False,
                              "distributed.worker.memory.terminate": 0.95}):
            (worker,) = executors.dask_workers(client)  # (the worker reads its config now)
        assert worker.alone == int(0.95 * 4 * 2**30)
        assert executors.dask_slots([worker], need) == {worker.address: 4}


def test_workers_without_a_limit_share_their_machines_available_memory(monkeypatch):
    """Workers with no memory_limit (0) are sized by the memory their machine reports available
    (less the interpreter each already holds), shared by that machine's workers; with too
    little for one run the study is refused, saying so. They were not checked at all."""
    each = 100 * MB
    need = memory.BASE_BYTES + each
    with dask.config.set(NO_MEMORY_MANAGER), in_process(2, 2, 0) as cluster, \
            distributed.Client(cluster) as client:
        # the workers are threads of this process: they report what this lambda says
        monkeypatch.setattr(memory, "available_bytes", lambda: 3 * each + each // 2)
        workers = executors.dask_workers(client)
        assert [w.limit for w in workers] == [0, 0]
        assert executors.dask_slots(workers, need) == dict.fromkeys(
            [w.address for w in workers], 2) | {workers[1].address: 1}
        assert "have 4 threads, and their memory holds 3 runs" in executors.check_cluster_fits(
            client, need, "a test run")
        monkeypatch.setattr(memory, "available_bytes", lambda: each // 2)
        with pytest.raises(memory.RunTooBigError) as err:
            executors.check_cluster_fits(client, need, "experiment 'x': variant 'v'")
        # a worker that cannot say (srmsim missing there, say): not checked, its threads
        monkeypatch.setattr(memory, "available_bytes", lambda: 1 / 0)
        workers = executors.dask_workers(client)
        assert [w.alone for w in workers] == [None, None]
        assert executors.check_cluster_fits(client, need, "a test run") == ""
    assert ("no memory limit: the memory available on its machine, and its own interpreter "
            "and libraries" in str(err.value))
    assert "the run: experiment 'x': variant 'v'" in str(err.value)


def test_a_limit_above_what_its_machine_has_is_capped_by_it(monkeypatch):
    """A worker's memory_limit is no room where its machine has less: two workers each limited
    to the machine's whole memory (LocalCluster's default gives each its share of it; Dask
    itself ignores a limit above the machine's memory), were sized at their limits, and runs
    beyond what the machine had were killed by the kernel, not refused. Now the machine's
    available memory is shared among its workers, limited or not, as for workers without one."""
    from distributed.system import MEMORY_LIMIT

    each = 100 * MB
    need = memory.BASE_BYTES + each
    with dask.config.set(NO_MEMORY_MANAGER), in_process(2, 2, MEMORY_LIMIT) as cluster, \
            distributed.Client(cluster) as client:
        monkeypatch.setattr(memory, "available_bytes", lambda: 3 * each + each // 2)
        workers = executors.dask_workers(client)
        assert [w.limit for w in workers] == [MEMORY_LIMIT] * 2
        assert [w.alone for w in workers] == [memory.BASE_BYTES + 3 * each + each // 2] * 2
        assert executors.dask_slots(workers, need) == {workers[0].address: 2,
                                                       workers[1].address: 1}
        assert "have 4 threads, and their memory holds 3 runs" in executors.check_cluster_fits(
            client, need, "a test run")
        monkeypatch.setattr(memory, "available_bytes", lambda: each // 2)
        with pytest.raises(memory.RunTooBigError) as err:
            executors.check_cluster_fits(client, need, "experiment 'x': variant 'v'")
    assert (f"the largest of its 2 workers has {memory.amount(memory.BASE_BYTES + each // 2)} "
            f"(its memory limit, {memory.amount(MEMORY_LIMIT)}, is more than its machine has: "
            "the memory available there, and its own interpreter and libraries)") in str(
        err.value)


def test_memory_a_worker_holds_beyond_its_baseline_is_its_to_use(monkeypatch):
    """Memory a worker's process holds beyond what it held before any run (runs in progress,
    memory freed and kept for reuse) is not available to the machine, but is the worker's: a
    look at the workers during a study counted it as gone, and gave fewer runs (or refused the
    study) as runs held memory. Workers that are threads of one process count it once."""
    from srmsim import dask_workers

    each = 100 * MB
    need = memory.BASE_BYTES + each
    with dask.config.set(NO_MEMORY_MANAGER), in_process(2, 2, 0) as cluster, \
            distributed.Client(cluster) as client:
        monkeypatch.setattr(memory, "available_bytes", lambda: each // 2)
        with pytest.raises(memory.RunTooBigError):  # the baseline, measured before any run
            executors.check_cluster_fits(client, need, "a test run")
        monkeypatch.setattr(dask_workers, "process_bytes", lambda: memory.BASE_BYTES + 2 * each)
        workers = executors.dask_workers(client)
    assert [w.base for w in workers] == [memory.BASE_BYTES] * 2
    assert [w.machine for w in workers] == [2 * each + each // 2] * 2
    assert sum(executors.dask_slots(workers, need).values()) == 2


def test_a_worker_is_sized_with_what_its_own_process_holds_before_any_run():
    """A Dask worker's process holds Dask's libraries as well as a run's: measured on the
    worker (a real process), more than the estimate's BASE_BYTES, and a limit with room for a
    run beside BASE_BYTES but not beside the worker's own is refused, saying so. Memory a run
    freed and the worker keeps for reuse is not counted as its baseline (it is the worker's to
    use again): the least figure seen while it ran nothing stands."""
    def imported() -> bool:
        import sys

        return all(name in sys.modules for name in executors.RUN_MODULES)

    def resident() -> int:  # (this process's dask_workers.process_bytes is the fixture's)
        import psutil

        return psutil.Process().memory_info().rss

    def churn(mb: int) -> list[dict]:
        import numpy as np

        blocks = [np.ones(25 * 2**20 // 8) for _ in range(mb // 25)]  # heap blocks, written
        return [{"mb": sum(b.nbytes for b in blocks) // 2**20}]  # freed, kept for reuse

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  memory_limit="2GB", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        (worker,) = executors.dask_workers(client)
        assert all(client.run(imported).values())  # as its first run would
        # between the estimate's own process and the worker's: fits the one, not the other
        each = worker.pause - (memory.BASE_BYTES + worker.base) // 2
        assert worker.base > memory.BASE_BYTES and worker.room == worker.pause - worker.base
        with pytest.raises(memory.RunTooBigError) as err:
            executors.check_cluster_fits(client, memory.BASE_BYTES + each, "a test run")
        rows: list[dict] = []
        executors.execute(churn, [(300,)], 1, client, rows.extend)
        (after,) = executors.dask_workers(client)
        grown = client.run(resident)[worker.address]
    assert rows == [{"mb": 300}]
    assert str(err.value).splitlines()[1] == (
        f"its process holds {memory.amount(worker.base)} before any run (Python, Dask, srmsim) "
        f"and a run needs {memory.amount(each)} more")
    assert grown > worker.base + 250 * MB  # kept for reuse (a limit of 2 GB: not given back)
    assert after.base == worker.base


def test_an_experiment_held_back_on_the_cluster_gives_the_same_results(tmp_path, capsys):
    """The note is printed, and the results are those of one local worker."""
    path = write_experiment(tmp_path, replications=3)
    need = estimate(tiny_policy_scenario(), 7)
    extra = need - memory.BASE_BYTES
    assert main(["experiment", str(path), "--out", str(tmp_path / "local"), "--quiet",
                 "--workers", "1"]) == 0
    with dask.config.set(NO_MEMORY_MANAGER), \
            in_process(1, 2, memory.BASE_BYTES + extra + extra // 2) as cluster:
        capsys.readouterr()
        assert main(["experiment", str(path), "--out", str(tmp_path / "dask"), "--quiet",
                     "--scheduler", cluster.scheduler_address]) == 0
    out = capsys.readouterr().out
    assert "note: the Dask cluster's 1 worker has 2 threads, and their memory holds 1 run of" in out
    assert ((tmp_path / "local" / "effects.csv").read_bytes()
            == (tmp_path / "dask" / "effects.csv").read_bytes())
    runs = [load_runs(tmp_path / o)[0].drop(columns="runtime_seconds") for o in ("local", "dask")]
    pd.testing.assert_frame_equal(runs[0], runs[1])


# ------------------------------------------------------------------ a worker killed anyway


def test_a_worker_killed_for_memory_ends_the_study_with_a_short_message():
    """A task that takes more than its worker's limit is killed by the nanny: that was a
    ``KilledWorker`` traceback (after minutes of retries); now a short SrmsimError saying what
    happened and to resume, the rows of the tasks finished before it delivered (stored)."""

    def task(mb: int) -> list[dict]:
        import time as clock

        if mb:
            clock.sleep(0.5)  # the small tasks first
            held = b"x" * (mb * 2**20)  # every page written
            clock.sleep(10)
            return [{"held": len(held)}]
        return [{"mb": mb}]

    rows: list[dict] = []
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                     memory_limit="400MB", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, \
            pytest.raises(SrmsimError) as err:
        executors.execute(task, [(0,), (0,), (800,)], 1, client, rows.extend)
    assert rows == [{"mb": 0}, {"mb": 0}]
    first, second = str(err.value).splitlines()
    assert first.startswith("a Dask worker died running this study's runs (the last to try "
                            "them: tcp://")
    assert "most likely for memory" in first
    assert second.startswith("Runs finished before it are kept: run the same command again "
                             "with --resume")
    assert max(len(line) for line in (first, second)) <= 300


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kills a process with SIGKILL")
def test_the_command_ends_with_a_short_message_when_a_worker_is_killed_and_resumes(
        tmp_path, capsys, monkeypatch):
    """The real command, its worker's process killed (SIGKILL, as the kernel's out-of-memory
    killer sends) while it runs the study's runs: exit 2, a short message and no traceback, the
    runs finished before it stored; ``--resume`` on the cluster, its worker back, gives the
    results of an uninterrupted run. (Dask gives up on a task at the first death here,
    ``allowed-failures`` 0: a run too big for its worker is killed on each retry.)"""
    from srmsim.experiment.store import ResultsStore

    path = write_experiment(tmp_path, replications=4)
    whole, out = tmp_path / "whole", tmp_path / "out"
    assert main(["experiment", str(path), "--out", str(whole), "--quiet", "--workers", "1"]) == 0
    save = ResultsStore.save_run
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())

        def save_and_kill(store: ResultsStore, row: dict) -> None:
            save(store, row)
            if pids:  # the worker's process, once: its first run is stored
                os.kill(pids.pop(), signal.SIGKILL)

        monkeypatch.setattr(ResultsStore, "save_run", save_and_kill)
        capsys.readouterr()
        status = main(["experiment", str(path), "--out", str(out), "--quiet",
                       "--scheduler", cluster.scheduler_address])
        err = capsys.readouterr().err
        monkeypatch.setattr(ResultsStore, "save_run", save)
        stored = ResultsStore(out).load()
        client.wait_for_workers(1)  # its nanny starts another
        assert main(["experiment", str(path), "--out", str(out), "--quiet", "--resume",
                     "--scheduler", cluster.scheduler_address]) == 0
    assert status == 2, err
    assert "Traceback" not in err
    first, second = err.strip().splitlines()
    assert first.startswith("srmsim: error: a Dask worker died running this study's runs (the "
                            "last to try them: tcp://")
    assert second.startswith("Runs finished before it are kept: run the same command again "
                             "with --resume")
    runs = {o: load_runs(o)[0].drop(columns="runtime_seconds") for o in (whole, out)}
    assert 1 <= len(stored) < len(runs[whole]) == 8
    key = ["variant", "replication"]
    before = stored.drop(columns="runtime_seconds").set_index(key).sort_index()
    # those stored before the worker died are the uninterrupted run's
    pd.testing.assert_frame_equal(before, runs[whole].set_index(key).loc[before.index])
    pd.testing.assert_frame_equal(runs[whole], runs[out])
    assert (whole / "effects.csv").read_bytes() == (out / "effects.csv").read_bytes()


def test_runs_cancelled_on_the_cluster_end_the_study_with_a_short_message():
    """The scheduler restarted, or another client cancelled the study's tasks: that was a
    ``FutureCancelledError`` traceback; now a short SrmsimError, the finished rows delivered."""

    def slow(i: int) -> list[dict]:
        time.sleep(0.3)
        return [{"task": i}]

    rows: list[dict] = []
    with in_process(1, 1, 0) as cluster, distributed.Client(cluster) as client:

        def on_rows(batch: list[dict]) -> None:
            rows.extend(batch)
            if len(rows) == 1:  # another client's cancel, as the cluster's owner might
                with distributed.Client(cluster.scheduler_address) as other:
                    other.cancel([distributed.Future(k, other) for k in client.futures],
                                 force=True)

        with pytest.raises(SrmsimError) as err:
            executors.execute(slow, [(i,) for i in range(4)], 1, client, on_rows)
    assert rows == [{"task": 0}]
    first, second = str(err.value).splitlines()
    assert first.startswith("the Dask cluster cancelled this study's runs (reason: ")
    assert second.startswith("Runs finished before it are kept: run the same command again")


def test_a_worker_paused_for_memory_resumes_after_a_run():
    """srmsim's workers keep freed memory for reuse (srmsim.memory.keep_freed_memory); a Dask
    worker with a memory limit pauses past 80% of it and starts no task until its process
    shrinks, which kept memory never did: after one run that peaked there (500 MB on a 700 MB
    worker) the worker stayed paused at 564 MiB and the study never finished. Now a worker with
    a limit gives freed memory back after each task, resumes, and runs the rest."""

    def peak(mb: int) -> list[dict]:
        import time as clock

        import numpy as np

        blocks = [np.ones(25 * 2**20 // 8) for _ in range(mb // 25)]  # heap blocks, written
        clock.sleep(0.5)  # long enough for the worker's memory monitor to pause it
        return [{"mb": sum(b.nbytes for b in blocks) // 2**20}]

    rows: list[dict] = []
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  memory_limit="700MB", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        study = threading.Thread(target=executors.execute, daemon=True,
                                 args=(peak, [(500,), (500,), (500,)], 1, client, rows.extend))
        study.start()
        study.join(40)
        finished = not study.is_alive()
        status = client.run(lambda dask_worker: str(dask_worker.status))
    assert finished, f"the study never finished: the worker is {status}"
    assert rows == [{"mb": 500}] * 3
