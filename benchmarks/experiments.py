"""Experiment throughput: runs per minute with 1 and 2 local workers, and the Dask overhead.

A benchmark, not a test: it prints figures to record in ``benchmarks/README.md``. Every figure
and ratio in its table is measured in the same invocation, on the same experiment, so the ratios
are not mixed from different moments of a busy machine.

    python benchmarks/experiments.py                        # the full quickstart (120 runs)
    python benchmarks/experiments.py --replications 8       # a quicker look (32 runs)
    python benchmarks/experiments.py --no-dask              # local executors only
    python benchmarks/experiments.py --json bench.json      # also keep the figures as JSON

What is measured (``experiments/quickstart.yaml`` by default, with ``--replications`` replacing
its replication count; any ``sequential:`` section is dropped so the number of runs is fixed):

- ``in-process``: ``run_experiment(workers=1)``; srmsim and Mesa are imported beforehand, so this
  is the runs alone;
- ``local processes``: ``run_experiment(workers=2)``, a process pool whose workers are forked
  from a fork server that imports srmsim (spawned where there is none); the server is stopped
  before each measurement, so the time includes starting it and its imports, as in a fresh
  ``srmsim experiment`` command;
- ``dask``: a ``distributed.LocalCluster(n_workers=2, threads_per_worker=1)``; cluster and client
  start-up is timed on its own, then ``run_experiment(scheduler=client)`` (which includes the
  workers' first import of srmsim, as for the process pool).

Every executor is measured ``--rounds`` times (default 2) in alternating order (in-process,
local, dask, then dask, local, in-process), so that a machine growing busier or quieter during
the benchmark weighs on every executor alike; the table gives the means.

Scaling efficiency is ``rate(2 workers) / (2 * rate(1 worker))``: 1.0 is perfect. Two columns
help read it: ``s per run`` is the mean time of one run inside its worker (it grows when workers
compete for the cores), and ``not in runs s`` is the wall-clock time not spent running
(``run s - sum of run times / workers``: pool start-up, imports in the workers, storing results,
a worker idle at the end). ``CPU s`` is the CPU time of this process and its worker processes
over the measurement (for Dask from cluster start to shutdown, because a worker's CPU time is
only counted once it has exited): if it stays close to the in-process figure while the wall
clock grows, the workers were waiting for a core, not doing extra work. The Dask
overhead is its run time over the local process pool's, minus 1. Each executor writes its own
results store in a temporary directory (removed at the end unless ``--keep``), and the script
checks that all executors produced identical outcomes (each run depends only on its scenario and
seed, whatever executes it).

A second table says where the workers' time went, from each run's timing record (which process
ran it, when, its CPU seconds, the process's CPU seconds before it; never stored), summed over
workers and per run: before the first run (pool start, imports, planning), in runs, between
runs (results sent back, next task), idle at the end (waiting for others' last runs), after the
last store (pool shutdown, manifest); the CPU seconds in runs, of the parent outside runs, and
of every other process outside runs (fork server and imports; Dask's scheduler and nannies); the
CPU efficiency, CPU seconds in runs / all CPU seconds used; the parent's seconds storing runs. The bytes pickled across the process boundary per run (task, and
result row with its detail frames) are measured on one run.

BLAS/OpenMP threads are set to 1 before numpy is imported, here and (by inheritance) in every
worker, so that two workers on two cores do not also fight over BLAS threads.
"""

from __future__ import annotations

import os

# Before numpy is imported anywhere (workers inherit the environment).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Measure the srmsim of this checkout, whatever copy is installed: here, in the workers (which
# get this process's sys.path) and in the machine ceiling's processes (PYTHONPATH).
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
DEFAULT_EXPERIMENT = ROOT / "experiments" / "quickstart.yaml"


# ----------------------------------------------------------------------------- setup
def prepare(source: Path, replications: int, workdir: Path):
    """The experiment as run: ``source`` with its replications replaced, saved in ``workdir``.

    The copy keeps every variant and outcome; the scenario path is made absolute so the copy can
    live anywhere. A ``sequential:`` section is dropped: it would change the number of runs.
    """
    from srmsim.experiment import load_experiment
    from srmsim.scenario import read_yaml

    data = read_yaml(source)
    if not isinstance(data, dict) or "scenario" not in data:
        raise SystemExit(f"{source}: not an experiment file (no scenario: key)")
    data["replications"] = replications
    data["scenario"] = str((source.parent / data["scenario"]).resolve())
    dropped = data.pop("sequential", None) is not None
    path = workdir / "experiment.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    experiment = load_experiment(path)
    if dropped:
        print(f"note: dropped the sequential: section of {source} (fixed number of runs)")
    return experiment


def warm_up() -> None:
    """Import srmsim's engine in this process so the in-process figure is the runs alone."""
    from srmsim.model import TrustModel
    from srmsim.scenario import Scenario

    TrustModel(Scenario(trust={"n_schools": 1, "students_per_year_group": 10}), seed=0).step()


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process, and of its finished (waited-for) child processes."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def timed_run(experiment, out: Path, **executor: Any) -> dict[str, Any]:
    """Run the whole experiment into ``out``; wall-clock seconds, runs, per-run seconds, and
    each run's timing record (where and when it ran, its CPU, the parent's storing)."""
    import pandas as pd

    from srmsim.experiment import run_experiment
    from srmsim.experiment.compare import load_runs

    timings: list[dict[str, Any]] = []
    (p0, c0), e0 = cpu_seconds(), time.time()
    t0 = time.perf_counter()
    summary = run_experiment(experiment, out, progress=False, timings=timings, **executor)
    seconds = time.perf_counter() - t0
    p1, c1 = cpu_seconds()  # a process pool's workers have exited (and count) by now
    cpu = p1 - p0 + c1 - c0
    if summary["failures"]:
        first = summary["failures"][0]
        raise SystemExit(f"{len(summary['failures'])} run(s) failed, e.g. {first['variant']} "
                         f"replication {first['replication']}: {first['error']}")
    runs, _ = load_runs(out)
    run_seconds = pd.to_numeric(runs["runtime_seconds"])
    return {"seconds": seconds, "cpu_seconds": cpu, "parent_cpu_seconds": p1 - p0,
            "runs": int(summary["runs"]), "mean_run_seconds": float(run_seconds.mean()),
            "total_run_seconds": float(run_seconds.sum()), "table": runs,
            "breakdown": breakdown(timings, e0, e0 + seconds)}


def stop_fork_server() -> None:
    """Stop (and wait for) the fork server local workers come from, if it runs: the next pool
    starts cold, as in a fresh ``srmsim experiment`` command, and the CPU time of the server and
    of the workers it forked (its children, not ours) is counted in ours once it has exited."""
    import multiprocessing.forkserver

    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)  # CPython's private API, there since 3.8
    if stop is not None:
        stop()


def cold_run(experiment, out: Path, workers: int) -> dict[str, Any]:
    """The experiment on ``workers`` local processes from a cold start (see stop_fork_server),
    with the CPU time of every process it used."""
    stop_fork_server()
    c0 = sum(cpu_seconds())
    result = timed_run(experiment, out, workers=workers)
    stop_fork_server()
    return result | {"cpu_seconds": sum(cpu_seconds()) - c0}


def dask_run(experiment, out: Path, workers: int) -> dict[str, Any]:
    """Start a LocalCluster (timed on its own), run the experiment on it, shut it down."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - the dask extra is missing
        raise SystemExit("the Dask measurement needs the dask extra: pip install "
                         "'srmsim[dask]' (or run with --no-dask)") from err

    logging.getLogger("distributed").setLevel(logging.ERROR)
    c0 = sum(cpu_seconds())
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    startup = time.perf_counter() - t0
    try:
        result = timed_run(experiment, out, scheduler=client)
    finally:
        t1 = time.perf_counter()
        client.close()
        cluster.close()
        shutdown = time.perf_counter() - t1
    # The workers' CPU time is only counted once they have exited: start-up to shutdown.
    return result | {"startup_seconds": startup, "shutdown_seconds": shutdown,
                     "cpu_seconds": sum(cpu_seconds()) - c0}


# ----------------------------------------------------------------------------- where time goes
def breakdown(timings: list[dict[str, Any]], start: float, end: float) -> dict[str, Any]:
    """Where each worker's wall clock went between the call (``start``, epoch s) and the return
    (``end``), summed over workers: before its first run (process start, imports, the parent's
    planning, the first task's transfer), in runs, between runs (results sent back, the next
    task fetched), idle at the end (from its last run to the last run stored: others' last
    runs), after the last store (pool shutdown, manifest); with the runs' CPU seconds and the
    parent's seconds storing runs."""
    by_worker: dict[int, list[dict[str, Any]]] = {}
    for t in timings:
        by_worker.setdefault(t["pid"], []).append(t)
    out = dict.fromkeys(("before_first_run", "runs", "between_runs", "idle_at_end",
                         "runs_cpu", "store"), 0.0)
    # runs this process made while its local workers started (srmsim.executors): in the runs'
    # time and CPU, but this process is not one of the workers
    here = by_worker.pop(os.getpid(), []) if len(by_worker) > 1 else []
    out["runs"] += sum(t["finished"] - t["started"] for t in here)
    out["runs_cpu"] += sum(t["cpu_seconds"] for t in here)
    out["runs_here"] = len(here)
    out["runs_here_cpu"] = sum(t["cpu_seconds"] for t in here)
    last_stored = max((t["stored"] for t in timings), default=end)
    for runs in by_worker.values():
        runs.sort(key=lambda t: t["started"])
        out["before_first_run"] += runs[0]["started"] - start
        out["runs"] += sum(t["finished"] - t["started"] for t in runs)
        out["runs_cpu"] += sum(t["cpu_seconds"] for t in runs)
        out["between_runs"] += sum(b["started"] - a["finished"]
                                   for a, b in itertools.pairwise(runs))
        out["idle_at_end"] += last_stored - runs[-1]["finished"]
    out["after_last_store"] = (end - last_stored) * len(by_worker)
    out["store"] = sum(t["store_seconds"] for t in timings)
    out["workers"] = len(by_worker)
    out["runs_n"] = len(timings)
    return out


def transfer_cost(experiment) -> dict[str, float]:
    """What crosses the process boundary for one run, measured on one run here: the pickled
    task and result row (with its group and weekly detail frames), and the seconds to pickle
    and unpickle each."""
    import pickle

    from srmsim.experiment.runner import plan, run_one

    task = plan(experiment, range(1), None)[0]
    row = run_one(task)

    def round_trip(obj: Any) -> tuple[int, float]:
        t0 = time.perf_counter()
        for _ in range(20):
            data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.loads(data)
        return len(data), (time.perf_counter() - t0) / 20

    task_bytes, task_s = round_trip(task)
    row_bytes, row_s = round_trip(row)
    return {"task_bytes": task_bytes, "task_seconds": task_s, "result_bytes": row_bytes,
            "result_seconds": row_s}


def print_breakdown(rows: list[dict[str, Any]], transfer: dict[str, float]) -> None:
    """Where the wall clock (summed over workers) and the CPU time went, per experiment and per
    run."""
    print("\nwhere the time went (wall s summed over workers; CPU s; then per run in ms):")
    header = (f"{'executor':<18} {'before 1st run':>14} {'runs':>7} {'between':>7} "
              f"{'idle at end':>11} {'shutdown':>8} {'| CPU: runs':>10} {'parent other':>12} "
              f"{'other procs':>13} {'efficiency':>10} {'| storing':>9}")
    print(header)
    print("-" * len(header))
    for r in rows:
        b = r["breakdown"]
        parent = (r["cpu_seconds"] - b["runs_cpu"] if r["workers"] == 1 else
                  r["parent_cpu_seconds"] - b["runs_here_cpu"])
        workers = r["cpu_seconds"] - b["runs_cpu"] - parent
        for label, k in ((r["executor"], 1.0), ("  per run, ms", 1e3 / max(b["runs_n"], 1))):
            eff = f"{b['runs_cpu'] / r['cpu_seconds']:>10.2f}" if k == 1.0 else " " * 10
            print(f"{label:<18} {b['before_first_run'] * k:>14.2f} {b['runs'] * k:>7.2f} "
                  f"{b['between_runs'] * k:>7.2f} {b['idle_at_end'] * k:>11.2f} "
                  f"{b['after_last_store'] * k:>8.2f} {b['runs_cpu'] * k:>10.2f} "
                  f"{parent * k:>12.2f} {workers * k:>13.2f} {eff} {b['store'] * k:>9.2f}")
    for r in rows:
        if r["breakdown"]["runs_here"]:
            print(f"{r['executor']}: {r['breakdown']['runs_here']:.0f} run(s) ran in this process "
                  "while the workers started (counted in runs, not as a worker)")
    print("CPU: runs = CPU s inside runs; parent other = the parent's CPU s outside runs (plan, "
          "receive, store, manifest); other procs = every other process's CPU s outside runs "
          "(fork server and its imports, workers between runs; for Dask its scheduler and "
          "nannies); efficiency = runs / all CPU s used. storing = the parent's wall s writing "
          "runs.")
    print(f"pickled per run: task {transfer['task_bytes']:,} bytes "
          f"({transfer['task_seconds'] * 1e3:.2f} ms to pickle and unpickle), result row with its "
          f"detail frames {transfer['result_bytes']:,} bytes "
          f"({transfer['result_seconds'] * 1e3:.2f} ms)")


# ----------------------------------------------------------------------------- checks, report
def same_outcomes(a, b, outcomes: list[str]) -> bool:
    """True if two runs tables hold the same outcome for every variant x replication."""
    key = ["variant", "replication"]
    left = a.sort_values(key).reset_index(drop=True)[key + ["seed"] + outcomes]
    right = b.sort_values(key).reset_index(drop=True)[key + ["seed"] + outcomes]
    return left.equals(right)


def machine() -> dict[str, Any]:
    from machine import cpu_name, usable_cores

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "usable_cores": usable_cores(),
            "python": platform.python_version()}


def mean_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of each figure (and of each breakdown figure) over the rounds."""
    out: dict[str, Any] = {}
    for key, value in results[0].items():
        if isinstance(value, dict):
            out[key] = mean_of([r[key] for r in results])
        else:
            out[key] = sum(r[key] for r in results) / len(results)
    return out


def print_table(rows: list[dict[str, Any]], base_rate: float) -> None:
    header = (f"{'executor':<18} {'workers':>7} {'runs':>5} {'start-up s':>10} {'run s':>8} "
              f"{'runs/min':>9} {'x 1 worker':>10} {'efficiency':>10} {'s per run':>9} "
              f"{'not in runs s':>13} {'CPU s':>7}")
    print(header)
    print("-" * len(header))
    for r in rows:
        startup = f"{r['startup_seconds']:.2f}" if "startup_seconds" in r else "-"
        speedup = r["runs_per_minute"] / base_rate
        print(f"{r['executor']:<18} {r['workers']:>7} {r['runs']:>5} {startup:>10} "
              f"{r['seconds']:>8.2f} {r['runs_per_minute']:>9.1f} {speedup:>10.2f} "
              f"{speedup / r['workers']:>10.2f} {r['mean_run_seconds']:>9.2f} "
              f"{r['seconds'] - r['total_run_seconds'] / r['workers']:>13.2f} "
              f"{r['cpu_seconds']:>7.1f}")


CEILING_SCRIPT = """
import sys, time
from srmsim.model import run
from srmsim.scenario import load_scenario
scenario = load_scenario(sys.argv[1])
run(scenario, seed=0)  # warm
t0, c0 = time.perf_counter(), time.process_time()
for seed in range(1, int(sys.argv[2]) + 1):
    run(scenario, seed=seed)
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def machine_ceiling(scenario: Path, runs: int, rounds: int = 2) -> dict[str, float]:
    """What two cores give to perfectly parallel work on this machine: the same ``runs``
    simulation runs in one process alone, then in two independent processes at once (no
    executor, nothing shared), alternating (alone, pair, pair, alone, ...). The ceiling is
    ``2 x time alone / time of each of the pair``: below 2 when two runs at once slow each
    other (shared caches and memory bandwidth, or virtual cores that share a physical one)."""
    import subprocess

    def together(n: int) -> list[tuple[float, float]]:
        procs = [subprocess.Popen([sys.executable, "-c", CEILING_SCRIPT, str(scenario),
                                   str(runs)], stdout=subprocess.PIPE, text=True)
                 for _ in range(n)]
        out = [p.communicate()[0].split() for p in procs]
        return [(float(w), float(c)) for w, c in out]

    alone, pair = [], []
    for r in range(rounds):
        for n in ((1, 2) if r % 2 == 0 else (2, 1)):
            (alone if n == 1 else pair).extend(together(n))
    wall_alone = sum(w for w, _ in alone) / len(alone)
    wall_pair = sum(w for w, _ in pair) / len(pair)
    cpu_alone = sum(c for _, c in alone) / len(alone)
    cpu_pair = sum(c for _, c in pair) / len(pair)
    return {"runs": runs, "wall_alone": wall_alone, "wall_pair": wall_pair,
            "cpu_alone": cpu_alone, "cpu_pair": cpu_pair, "ceiling": 2 * wall_alone / wall_pair}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", type=Path, default=DEFAULT_EXPERIMENT,
                        help="experiment YAML (default: experiments/quickstart.yaml)")
    parser.add_argument("--replications", type=int, default=30,
                        help="replications per variant (default 30, the quickstart's own: the "
                             "README's main job; with 8, 32 runs of 0.15 s hardly pay for the "
                             "workers' 2 s of start-up and give x1.5 where 120 give x1.8)")
    parser.add_argument("--workers", type=int, default=2,
                        help="workers of the local process pool and the Dask cluster (default 2)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask measurement")
    parser.add_argument("--rounds", type=int, default=2,
                        help="measure every executor this many times, in alternating order "
                             "(ABC CBA ...), and report the means (default 2)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the results stores in this directory instead of a temp dir")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    parser.add_argument("--ceiling-runs", type=int, default=20,
                        help="runs per process of the machine-ceiling measurement (0: skip)")
    args = parser.parse_args(argv)
    if args.replications < 2:
        parser.error("--replications must be at least 2")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.workers < 2:
        parser.error("--workers must be at least 2 (1 worker is always measured)")

    from srmsim.memory import keep_freed_memory

    keep_freed_memory()  # as the srmsim command does; forked workers inherit it
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="srmsim-bench-experiments-"))
    try:
        experiment = prepare(args.experiment.resolve(), args.replications, workdir)
        n_runs = len(experiment.variants) * experiment.replications
        info = machine()
        base = experiment.base
        students = (base.trust.n_schools * base.trust.students_per_year_group
                    * len(base.trust.year_groups))
        print(f"srmsim experiment benchmark on {info['cpu']}, {info['cores']} cores "
              f"({info['usable_cores']} usable), Python {info['python']}")
        print(f"experiment {experiment.name}: {len(experiment.variants)} variants x "
              f"{experiment.replications} replications = {n_runs} runs of ~{students:,} students "
              f"x {base.years * 39} weeks")
        load_before = os.getloadavg()
        print(f"load average before: {load_before[0]:.2f} (1 min), {load_before[1]:.2f} (5 min)")

        warm_up()
        rows: list[dict[str, Any]] = []
        tables = {}
        measured = [("in-process", 1, lambda out: timed_run(experiment, out, workers=1)),
                    ("local processes", args.workers,
                     lambda out: cold_run(experiment, out, args.workers))]
        if not args.no_dask:
            measured.append(("dask LocalCluster", args.workers,
                             lambda out: dask_run(experiment, out, args.workers)))
        results: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in measured}
        for round_ in range(args.rounds):  # ABC, then CBA: drift of a busy machine cancels
            for name, _, run in measured[::-1] if round_ % 2 else measured:
                out = workdir / f"{name.replace(' ', '_')}-{round_}"
                result = run(out)
                tables[name] = result.pop("table")
                results[name].append(result)
                print(f"  {name}: {result['runs']} runs in {result['seconds']:.1f} s", flush=True)
                if args.keep is None:
                    shutil.rmtree(out, ignore_errors=True)
        for name, workers, _ in measured:
            result = mean_of(results[name])
            result.update(executor=name, workers=workers,
                          runs_per_minute=result["runs"] / result["seconds"] * 60)
            rows.append(result)
        load_after = os.getloadavg()

        print()
        base_rate = rows[0]["runs_per_minute"]
        print_table(rows, base_rate)
        by_name = {r["executor"]: r for r in rows}
        local = by_name["local processes"]
        efficiency = local["runs_per_minute"] / (args.workers * base_rate)
        print(f"\nscaling efficiency, {args.workers} local workers: rate({args.workers}) / "
              f"({args.workers} x rate(1)) = {efficiency:.2f}")
        transfer = transfer_cost(experiment)
        print_breakdown(rows, transfer)
        figures: dict[str, Any] = {"scaling_efficiency": efficiency, "transfer": transfer,
                                   "cpu_efficiency": {r["executor"]: r["breakdown"]["runs_cpu"]
                                                      / r["cpu_seconds"] for r in rows}}
        if "dask LocalCluster" in by_name:
            dask = by_name["dask LocalCluster"]
            overhead = dask["seconds"] / local["seconds"] - 1
            with_startup = (dask["seconds"] + dask["startup_seconds"]) / local["seconds"] - 1
            print(f"Dask LocalCluster start-up (cluster + client): {dask['startup_seconds']:.2f} s;"
                  f" shutdown {dask['shutdown_seconds']:.2f} s")
            print(f"Dask run vs {args.workers} local processes: {dask['seconds']:.2f} s vs "
                  f"{local['seconds']:.2f} s, overhead {overhead:+.1%} "
                  f"({with_startup:+.1%} including start-up)")
            figures |= {"dask_overhead": overhead, "dask_overhead_with_startup": with_startup}
        if args.ceiling_runs > 0:
            base_file = workdir / "ceiling.yaml"
            base_file.write_text(experiment.base.to_yaml(), encoding="utf-8")
            ceiling = machine_ceiling(base_file, args.ceiling_runs)
            local_speedup = local["runs_per_minute"] / base_rate
            print(f"machine ceiling ({args.ceiling_runs} runs of the base scenario per process): "
                  f"alone {ceiling['wall_alone']:.2f} s ({ceiling['cpu_alone']:.2f} CPU s), "
                  f"two at once {ceiling['wall_pair']:.2f} s each "
                  f"({ceiling['cpu_pair']:.2f} CPU s): two cores give at most "
                  f"x{ceiling['ceiling']:.2f} to perfectly parallel runs; "
                  f"{args.workers} local workers reach x{local_speedup:.2f}, "
                  f"{local_speedup / ceiling['ceiling']:.0%} of that")
            figures["machine_ceiling"] = ceiling
        outcomes = experiment.outcomes
        reference = tables["in-process"]
        identical = {name: same_outcomes(reference, t, outcomes) for name, t in tables.items()}
        print("outcomes identical across executors: "
              + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in identical.items()))
        print(f"load average after: {load_after[0]:.2f} (1 min); a load above "
              f"{info['usable_cores']} means other work competed for the cores during the run")
        if args.json:
            args.json.write_text(json.dumps({
                "machine": info, "experiment": str(args.experiment), "runs": n_runs,
                "replications": experiment.replications, "load_before": load_before,
                "load_after": load_after, "rows": rows, "figures": figures,
                "identical_outcomes": identical,
            }, indent=2) + "\n")
        return 0 if all(identical.values()) else 1
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
