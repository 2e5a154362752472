"""Engine throughput and memory: student-weeks per second at 10k, 100k and 1M students.

A benchmark, not a test: it prints figures to record in ``benchmarks/README.md``. Each
measurement runs in a fresh child process pinned to one core with BLAS/OpenMP threads at 1, so the
figures are single-core and one size's memory does not leak into the next one's peak.

    python benchmarks/engine.py                          # 10k, 100k, 1M students, no policy
    python benchmarks/engine.py --sizes 10000 100000     # a subset
    python benchmarks/engine.py --scenarios scenarios/x.yaml scenarios/y.yaml
                                                         # also with policies: ratio to without
    python benchmarks/engine.py --profile 100000         # cProfile of one run, top functions
    python benchmarks/engine.py --choosers scenarios/learning.yaml
                                                         # learned vs fixed chooser at 100k
    python benchmarks/engine.py --scaling 100000 8000000 # cost per student-week, 8M vs 100k,
                                                         # alternating in one process

Sizes are trusts of ``n_schools x 200 students x 5 year groups`` (Years 7-11, equal sizes), one
school year, history ``none``. Reported: generation time, step-loop time (best of ``--repeat``),
student-weeks/s over the step loop (wall clock, and per CPU second of this process, which is what
to read on a shared machine) and including generation, engine state bytes per student
(``model.students.nbytes() / len(model.students)``), peak RSS growth per student
(``resource.getrusage``) and the tracemalloc peak per student over the first weeks.
"""

from __future__ import annotations

import os

# Before numpy is imported anywhere: one thread, so the figure is single-core throughput.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

# Measure the srmsim of this checkout, whatever copy is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
COHORT = 200  # students per year group per school
YEAR_GROUPS = [7, 8, 9, 10, 11]
TARGET = 5_000_000  # student-weeks/s required at 100k students (issue 2)


# ----------------------------------------------------------------------------- one measurement
def bench_scenario(size: int, path: str | None = None, policy: bool = True):
    """The scenario measured at ``size`` students: the built-in default, or a scenario file.

    A scenario file keeps everything (its policy, its schools' year groups and cohort size, so
    its staff still fit its schools) except the number of schools, the history and the number of
    years, so runs with and without a policy differ only by the policy.
    """
    from srmsim.scenario import Scenario, load_scenario

    base = Scenario(name="bench") if path is None else load_scenario(path)
    cohort = COHORT if path is None else base.trust.students_per_year_group
    years = YEAR_GROUPS if path is None else base.trust.year_groups
    n_schools = max(1, round(size / (cohort * len(years))))
    overrides: dict[str, Any] = {
        "years": 1,
        "trust.n_schools": n_schools,
        "trust.students_per_year_group": cohort,
        "trust.size_cv": 0.0,
        "trust.year_groups": years,
        "outputs.history": "none",
    }
    if not policy:
        overrides["policy"] = None
    return base.with_overrides(overrides, source=path or "benchmark")


def _pin_to_one_core(threads: int = 1) -> None:
    """Pin to one core (to ``threads`` cores for a threaded run)."""
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(cores[-threads:]))


#: how each week is split (``--threads``, ``--block-rows``); never changes the results
ENGINE: dict[str, int] = {}


def _peak_rss_bytes() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports kB


def _page_faults() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure(size: int, path: str | None, policy: bool, repeat: int, trace: bool) -> dict[str, Any]:
    """Build and run one trust; time generation and the step loop; measure memory."""
    import gc
    import time
    import tracemalloc

    from srmsim import kernels
    from srmsim.calendar import WEEKS_PER_YEAR
    from srmsim.model import TrustModel

    _pin_to_one_core(ENGINE.get("threads", 1))
    scenario = bench_scenario(size, path, policy)
    # Warm up imports and caches on a tiny trust so they do not count as the run's memory.
    TrustModel(bench_scenario(1_000, path, policy), seed=0).step()
    # Load the compiled week now if the run will use it (once a process: 0.7-1.1 s, which
    # inside a one-year run of 1M students would add about 25 ns to each student-week); its
    # time is reported on its own, as `load s`.
    load = time.perf_counter()
    trust = scenario.trust  # size_cv 0: every school exactly its cohorts
    students = trust.n_schools * trust.students_per_year_group * len(trust.year_groups)
    compiled = kernels.week_kernel(students, students * scenario.years * WEEKS_PER_YEAR) is not None
    load_s = time.perf_counter() - load if compiled else 0.0
    gc.collect()
    rss0 = _peak_rss_bytes()

    best_gen = best_steps = best_cpu = float("inf")
    for i in range(repeat):
        t0 = time.perf_counter()
        model = TrustModel(scenario, seed=1 + i, **ENGINE)
        t1, c1 = time.perf_counter(), time.process_time()
        flt1 = _page_faults()
        model.run()
        t2, c2 = time.perf_counter(), time.process_time()
        if i == 0:
            faults = _page_faults() - flt1
        best_gen, best_steps = min(best_gen, t1 - t0), min(best_steps, t2 - t1)
        best_cpu = min(best_cpu, c2 - c1)
        if i == 0:
            rss_peak = _peak_rss_bytes()
            n = len(model.students)
            student_weeks = int(model.weekly()["enrolled"].sum())
            state = model.students.nbytes()
        model.release()
        del model
        gc.collect()

    out = {
        "size": size, "scenario": path or "default (no policy)", "policy": policy,
        "students": n, "student_weeks": student_weeks,
        "generate_s": best_gen, "steps_s": best_steps, "load_compiled_s": load_s,
        "compiled_week": compiled,
        "sw_per_s": student_weeks / best_steps,
        "steps_cpu_s": best_cpu,
        "sw_per_cpu_s": student_weeks / best_cpu,
        "sw_per_s_with_generation": student_weeks / (best_steps + best_gen),
        "state_bytes_per_student": state / n,
        "rss_bytes_per_student": (rss_peak - rss0) / n,
        "page_faults_per_week": faults / max(model_weeks(scenario), 1),
        **ENGINE,
    }
    if trace:
        # Separate pass: tracemalloc slows allocation, so it never overlaps the timing.
        tracemalloc.start()
        model = TrustModel(scenario, seed=1)
        for _ in range(3):
            model.step()
        out["traced_peak_bytes_per_student"] = tracemalloc.get_traced_memory()[1] / n
        tracemalloc.stop()
    return out


def model_weeks(scenario) -> int:
    from srmsim import calendar

    return scenario.years * calendar.WEEKS_PER_YEAR


def _engine_args() -> list[str]:
    return [a for k, v in ENGINE.items() for a in (f"--{k.replace('_', '-')}", str(v))]


def measure_in_child(size: int, path: str | None, policy: bool, repeat: int,
                     trace: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(size), "--repeat", str(repeat),
           *_engine_args()]
    if path:
        cmd += ["--child-scenario", path]
    if not policy:
        cmd += ["--child-no-policy"]
    if not trace:
        cmd += ["--no-trace"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed for size {size} ({path}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- with policies
def timed_run(scenario, seed: int):
    """Build and run one trust; the model, and the step loop's wall-clock and CPU seconds."""
    import time

    from srmsim.model import TrustModel

    model = TrustModel(scenario, seed=seed, **ENGINE)
    t1, c1 = time.perf_counter(), time.process_time()
    model.run()
    return model, time.perf_counter() - t1, time.process_time() - c1


def measure_pair(size: int, path: str, repeat: int) -> dict[str, Any]:
    """The scenario with and without its policy, run alternately in one process (with, without,
    with, ...; the same seeds), so a machine that speeds up or slows down during the measurement
    moves both sides alike. Best of ``repeat`` each, and the spread of the pairs' ratios."""

    from srmsim.model import TrustModel

    _pin_to_one_core()
    scenarios = {True: bench_scenario(size, path, True), False: bench_scenario(size, path, False)}
    for policy in scenarios:  # warm up imports and caches
        TrustModel(bench_scenario(1_000, path, policy), seed=0).step()
    best = {True: float("inf"), False: float("inf")}
    best_cpu = dict(best)
    pair_ratios: list[float] = []
    student_weeks: dict[bool, int] = {}
    n = 0
    for i in range(repeat):
        steps = {}
        for policy, scenario in scenarios.items():
            model, wall, cpu = timed_run(scenario, 1 + i)
            steps[policy] = wall
            best[policy] = min(best[policy], wall)
            best_cpu[policy] = min(best_cpu[policy], cpu)
            if i == 0:
                n = len(model.students)
                student_weeks[policy] = int(model.weekly()["enrolled"].sum())
            model.release()
        pair_ratios.append(steps[False] / steps[True])
    rate = {p: student_weeks[p] / best[p] for p in best}
    cpu_rate = {p: student_weeks[p] / best_cpu[p] for p in best}
    return {"size": size, "scenario": path, "students": n,
            "sw_per_s": rate[True], "sw_per_s_without_policy": rate[False],
            "ratio": rate[True] / rate[False], "cpu_ratio": cpu_rate[True] / cpu_rate[False],
            "pair_ratio_min": min(pair_ratios), "pair_ratio_max": max(pair_ratios)}


def policy_ratios(paths: list[str], sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    """Each scenario with its policy and with ``policy: null``, at each size: throughput ratio.

    The ratio is of student-weeks per second (best with the policy / best without). Pass the
    scenarios with ``--scenarios``; one without a policy gives a ratio of about 1, a check on
    the noise of the measurement.
    """
    rows = []
    for path in paths:
        for size in sizes:
            cmd = [sys.executable, __file__, "--child-pair", str(size), "--child-scenario", path,
                   "--repeat", str(repeat), *_engine_args()]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"benchmark child failed for {path} at {size}:\n{proc.stderr}")
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


# ----------------------------------------------------------------------------- scaling
SCALING_TARGET = 1.3  # issue 15: a student-week at 8M costs at most 1.3x one at 100k


def measure_scaling(small: int, large: int, repeat: int) -> dict[str, Any]:
    """The same trust at two sizes, run alternately in one process pinned to one core (small,
    large, small, ...; the same seeds), so load that comes and goes on the machine moves both
    alike: best nanoseconds per student-week of each (step loop, wall clock and CPU time) and
    each round's CPU ratio (its spread is the noise)."""
    from srmsim.model import TrustModel

    _pin_to_one_core(ENGINE.get("threads", 1))
    scenarios = {size: bench_scenario(size) for size in (small, large)}
    TrustModel(bench_scenario(1_000), seed=0).step()  # warm up imports and caches
    wall = {size: float("inf") for size in scenarios}
    cpu = dict(wall)
    rounds: list[float] = []
    for i in range(repeat):
        this = {}
        for size, scenario in scenarios.items():
            model, w, c = timed_run(scenario, 1 + i)
            weeks = int(model.weekly()["enrolled"].sum())
            model.release()
            del model
            wall[size] = min(wall[size], w / weeks * 1e9)
            cpu[size] = min(cpu[size], c / weeks * 1e9)
            this[size] = c / weeks
        rounds.append(this[large] / this[small])
    return {"small": small, "large": large, "ns_wall": wall, "ns_cpu": cpu,
            "ratio_wall": wall[large] / wall[small], "ratio_cpu": cpu[large] / cpu[small],
            "round_ratios_cpu": rounds}


def scaling(small: int, large: int, repeat: int) -> int:
    """Print what a student-week costs at ``large`` students against ``small``."""
    print(f"cost per student-week, {large:,} vs {small:,} students, alternating in one process "
          f"on {machine()}; one core; load average before: {os.getloadavg()[0]:.2f}")
    cmd = [sys.executable, __file__, "--child-scaling", str(small), str(large),
           "--repeat", str(repeat), *_engine_args()]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{proc.stderr}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    for size in (small, large):
        print(f"  {size:>11,} students: {r['ns_wall'][str(size)]:6.1f} ns wall, "
              f"{r['ns_cpu'][str(size)]:6.1f} ns CPU per student-week (best of {repeat})")
    spread = ", ".join(f"{x:.2f}" for x in r["round_ratios_cpu"])
    verdict = "meets" if r["ratio_cpu"] <= SCALING_TARGET else "MISSES"
    print(f"  {large:,} / {small:,}: x{r['ratio_wall']:.2f} wall, x{r['ratio_cpu']:.2f} CPU "
          f"(rounds: {spread}): {verdict} the x{SCALING_TARGET} target")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


# ----------------------------------------------------------------------------- choosers
def with_fixed_choosers(scenario):
    """The scenario with every step's chooser replaced by ``kind: fixed`` (its candidates,
    modifiers and staff unchanged), so it differs from the original only by how actions are
    chosen."""
    overrides = {}
    for name, wf in (scenario.policy.workflows if scenario.policy else {}).items():
        steps = [st.model_dump(exclude_none=True) for st in wf.steps]
        if any(st.get("candidates") for st in steps):
            for st in steps:
                if st.get("candidates"):
                    st["chooser"] = {"kind": "fixed"}
            overrides[f"policy.workflows.{name}.steps"] = steps
    if not overrides:
        raise SystemExit("--choosers: the scenario has no step with candidate actions")
    return scenario.with_overrides(overrides)


def measure_choosers(size: int, path: str, repeat: int, years: int) -> dict[str, Any]:
    """The scenario as written (its learned chooser), with fixed choosers, and without its
    policy, run in turn in one process (learned, fixed, none, learned, ...; the same seeds), so
    load that comes and goes on the machine moves all three alike. Best of ``repeat`` of each,
    wall clock and CPU time; the ratios of each round too (their spread is the noise)."""

    from srmsim.model import TrustModel

    _pin_to_one_core()
    learned = bench_scenario(size, path, True).with_overrides({"years": years})
    sides = {"learned": learned, "fixed": with_fixed_choosers(learned),
             "none": bench_scenario(size, path, False).with_overrides({"years": years})}
    for policy in (True, False):  # warm up imports (scikit-learn at the first refit) and caches
        TrustModel(bench_scenario(1_000, path, policy), seed=0).run()
    wall = {k: float("inf") for k in sides}
    cpu = dict(wall)
    rounds: list[dict[str, float]] = []
    n = 0
    for i in range(repeat):
        this = {}
        for side, scenario in sides.items():
            model, w, c = timed_run(scenario, 1 + i)
            wall[side], cpu[side] = min(wall[side], w), min(cpu[side], c)
            this[side] = c
            n = len(model.students)
            model.release()
        rounds.append(this)

    def policy_share(t: dict[str, float]) -> float:
        """The learned policy's own time over the fixed one's (run time less the engine's)."""
        return (t["learned"] - t["none"]) / max(t["fixed"] - t["none"], 1e-9)

    return {"size": size, "scenario": path, "students": n, "years": years,
            "wall_s": wall, "cpu_s": cpu,
            "ratio_wall": wall["learned"] / wall["fixed"],
            "ratio_cpu": cpu["learned"] / cpu["fixed"],
            "policy_ratio_cpu": policy_share(cpu),
            "round_ratios_cpu": [r["learned"] / r["fixed"] for r in rounds],
            "round_policy_ratios_cpu": [policy_share(r) for r in rounds]}


def chooser_ratios(paths: list[str], sizes: list[int], repeat: int, years: int) -> int:
    """Print, per scenario and size, the learned chooser's run time against fixed choosers."""
    print(f"learned vs fixed chooser on {machine()}; one core; {years} school year(s); "
          f"load average before: {os.getloadavg()[0]:.2f}")
    for path in paths:
        for size in sizes:
            cmd = [sys.executable, __file__, "--child-choosers", str(size), "--child-scenario",
                   path, "--repeat", str(repeat), "--years", str(years), *_engine_args()]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"benchmark child failed for {path} at {size}:\n{proc.stderr}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            w, c = r["wall_s"], r["cpu_s"]
            print(f"  {path} at {r['students']:,} students, best of {repeat}:")
            for side in ("learned", "fixed", "none"):
                print(f"    {side + (' (no policy)' if side == 'none' else ' chooser'):<22} "
                      f"{w[side]:7.2f} s wall {c[side]:7.2f} s CPU")
            spread = ", ".join(f"{x:.2f}" for x in r["round_ratios_cpu"])
            policy = ", ".join(f"{x:.2f}" for x in r["round_policy_ratios_cpu"])
            verdict = "within" if r["ratio_cpu"] <= 2 else "OVER"
            print(f"    run time, learned / fixed: x{r['ratio_wall']:.2f} wall, "
                  f"x{r['ratio_cpu']:.2f} CPU (rounds: {spread}): {verdict} the 2x target")
            print(f"    the policy's own time (run less no policy), learned / fixed: "
                  f"x{r['policy_ratio_cpu']:.2f} CPU (rounds: {policy})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


# ----------------------------------------------------------------------------- profile
def profile(size: int, path: str | None, top: int) -> None:
    """cProfile one run (step loop only) of ``path`` (the first ``--scenarios``; the default
    trust without one) and print the functions that take the time. A small run first loads
    the imports and, with ``SRMSIM_WEEK=compiled``, the compiled week, outside the profile."""
    import cProfile
    import pstats

    from srmsim.model import TrustModel

    _pin_to_one_core()
    TrustModel(bench_scenario(1_000, path), seed=0).step()
    model = TrustModel(bench_scenario(size, path), seed=1)
    profiler = cProfile.Profile()
    profiler.enable()
    model.run()
    profiler.disable()
    print(f"cProfile: {path or 'default (no policy)'}, {len(model.students):,} students, one "
          "year, step loop only")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


# ----------------------------------------------------------------------------- report
def machine() -> str:
    import numpy as np
    from machine import cpu_name

    return (f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()},"
            f" numpy {np.__version__}")


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (f"{'students':>10} {'load s':>6} {'gen s':>7} {'steps s':>8} {'M sw/s':>8} "
              f"{'M sw/cpu-s':>11} "
              f"{'M sw/s+gen':>11} {'state B/st':>11} {'RSS B/st':>9} {'traced B/st':>12} "
              f"{'faults/wk':>10}")
    print(header)
    print("-" * len(header))
    for r in rows:
        traced = r.get("traced_peak_bytes_per_student")
        load = f"{r['load_compiled_s']:.2f}" if r.get("compiled_week") else "-"
        print(f"{r['students']:>10,} {load:>6} {r['generate_s']:>7.2f} {r['steps_s']:>8.2f} "
              f"{r['sw_per_s'] / 1e6:>8.2f} {r['sw_per_cpu_s'] / 1e6:>11.2f} "
              f"{r['sw_per_s_with_generation'] / 1e6:>11.2f} "
              f"{r['state_bytes_per_student']:>11.0f} {r['rss_bytes_per_student']:>9.0f} "
              f"{traced if traced is None else round(traced):>12} "
              f"{r.get('page_faults_per_week', float('nan')):>10.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--repeat", type=int, default=3,
                        help="best of N step loops (1M students: always 1)")
    parser.add_argument("--scenarios", nargs="*", default=[],
                        help="scenario files with a policy: section, measured with and without")
    parser.add_argument("--policy-sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--profile", type=int, metavar="STUDENTS", default=None,
                        help="cProfile one run of the first --scenarios (or the default trust)")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per run (srmsim run --threads); default 1, one core")
    parser.add_argument("--block-rows", type=int, default=None,
                        help="students per block of the week's passes (default: srmsim's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-scenario", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-no-policy", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-pair", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--choosers", nargs="+", default=[], metavar="SCENARIO",
                        help="scenarios with a learned chooser: run time against fixed choosers "
                        "and without the policy, at --policy-sizes (only this is measured)")
    parser.add_argument("--years", type=int, default=1, help="school years (--choosers)")
    parser.add_argument("--child-choosers", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--scaling", type=int, nargs=2, metavar=("SMALL", "LARGE"), default=None,
                        help="cost per student-week at LARGE vs SMALL students, alternating")
    parser.add_argument("--child-scaling", type=int, nargs=2, default=None,
                        help=argparse.SUPPRESS)
    parser.add_argument("--no-trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key in ("threads", "block_rows"):
        if getattr(args, key) is not None:
            ENGINE[key] = getattr(args, key)

    if any(v is not None for v in (args.child, args.child_pair, args.child_choosers,
                                   args.child_scaling)):
        from srmsim.memory import keep_freed_memory

        keep_freed_memory()  # measure the engine as the srmsim command runs it
    if args.child is not None:
        row = measure(args.child, args.child_scenario, not args.child_no_policy, args.repeat,
                      trace=not args.no_trace)
        print(json.dumps(row))
        return 0
    if args.child_pair is not None:
        print(json.dumps(measure_pair(args.child_pair, args.child_scenario, args.repeat)))
        return 0
    if args.child_choosers is not None:
        print(json.dumps(measure_choosers(args.child_choosers, args.child_scenario, args.repeat,
                                          args.years)))
        return 0
    if args.child_scaling is not None:
        print(json.dumps(measure_scaling(*args.child_scaling, args.repeat)))
        return 0
    if args.scaling is not None:
        return scaling(*args.scaling, args.repeat)
    if args.profile is not None:
        profile(args.profile, args.scenarios[0] if args.scenarios else None, args.top)
        return 0
    if args.choosers:
        return chooser_ratios(args.choosers, args.policy_sizes, args.repeat, args.years)

    cores = ENGINE.get("threads", 1)
    print(f"srmsim engine benchmark on {machine()}; {cores} core(s), one school year, "
          f"history none")
    print(f"load average before the run: {os.getloadavg()[0]:.2f} (other work on the machine "
          "slows the wall-clock figures; M sw/cpu-s counts only this process's CPU time)")
    rows = [measure_in_child(size, None, True, 1 if size > 1_000_000 else args.repeat, True)
            for size in args.sizes]
    print_table(rows)
    by_size = {r["size"]: r for r in rows}
    sizes = sorted(by_size)
    for small, big in zip(sizes, sizes[1:], strict=False):
        ratio = by_size[big]["sw_per_s"] / by_size[small]["sw_per_s"]
        cpu_ratio = by_size[big]["sw_per_cpu_s"] / by_size[small]["sw_per_cpu_s"]
        print(f"throughput {big:,} vs {small:,} students: x{ratio:.2f} wall, "
              f"x{cpu_ratio:.2f} CPU time")
    if 100_000 in by_size:
        for key, clock in (("sw_per_s", "wall clock"), ("sw_per_cpu_s", "CPU time")):
            rate = by_size[100_000][key]
            verdict = "meets" if rate >= TARGET else "MISSES"
            print(f"at 100,000 students ({clock}): {rate / 1e6:.2f} M student-weeks/s {verdict} "
                  f"the {TARGET / 1e6:.0f} M/s target (aim 10 M/s)")
    worst_state = max(r["state_bytes_per_student"] for r in rows)
    print(f"engine state: {worst_state:.0f} bytes per student "
          f"({'under' if worst_state < 400 else 'OVER'} the 400-byte limit)")

    policy_rows = policy_ratios(args.scenarios, args.policy_sizes, args.repeat)
    if policy_rows:
        print("\nwith policies (throughput with the policy / the same scenario without it):")
        for r in policy_rows:
            print(f"  {r['scenario']:<40} {r['students']:>10,} students: "
                  f"{r['sw_per_s'] / 1e6:6.2f} vs {r['sw_per_s_without_policy'] / 1e6:6.2f} "
                  f"M sw/s, ratio {r['ratio']:.2f} (CPU time: {r['cpu_ratio']:.2f}; "
                  f"pairs {r['pair_ratio_min']:.2f}-{r['pair_ratio_max']:.2f})")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows,
                                         "policy_rows": policy_rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
