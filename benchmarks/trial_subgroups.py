"""A trial's replication with and without its subgroup estimates: the code as shipped against
the code before the subgroup fits were made cheaper (2026-12-07).

A benchmark, not a test. Each replication of ``srmsim trial`` fits the trial's analysis 18 more
times for its subgroups (FSM, SEN, EAL, sex, 5 year groups and their interaction tests; the
old side has no year groups, 12 fits); most of that time was
pandas overhead in ``estimate_effect``'s checks, not the least squares. The other side is the
code of commit ``--old`` (the one before the change): its ``srmsim/stats/_checks.py``,
``srmsim/stats/estimators.py`` and ``srmsim/trial/subgroups.py``, read from git and loaded in
this process beside today's. Two measurements, each alternating old and new round after round
in this one process (wall and CPU seconds per round, ratio of the best):

1. one whole replication (both runs, the main analysis and, on the "+ subgroups" sides, the
   subgroup estimates), with and without subgroups;
2. the subgroup estimates alone, on the rows one replication analysed; both sides' tables are
   compared, on the factors both estimate (not year group, which the old side lacks), and
   must be identical (same bytes as CSV).

    python benchmarks/trial_subgroups.py                    # trial_attendance_cluster.yaml
    python benchmarks/trial_subgroups.py --trial experiments/trial_reading.yaml --rounds 5
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sides import alternate  # noqa: E402  (benchmarks/, this script's folder)

import srmsim.stats  # noqa: E402
import srmsim.trial.subgroups  # noqa: E402
from srmsim.trial import load_trial, replicate  # noqa: E402

#: the commit before the subgroup fits were made cheaper (on /work/main's history)
OLD = "89a4435f4c9d2d5980dc7b892e24fd02a070040b"


def _module(name: str, rev: str, path: str, attrs: dict[str, Any]) -> types.ModuleType:
    """``path`` as it was at ``rev``, loaded as a module of its own (``attrs``: parent-package
    attributes it imports, set to the old modules while it loads)."""
    try:
        source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{path}"], check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:  # no git, or not this history
        raise SystemExit(f"trial_subgroups.py: the old side is read from git ({rev[:10]}:{path}) "
                         "and this checkout does not have it (a shallow clone or a tarball?); "
                         "run it in a full clone of the repository, or give --old") from exc
    module = types.ModuleType(name)
    module.__file__ = f"{rev[:8]}:{path}"
    module.__package__ = path.rsplit("/", 1)[0].replace("/", ".")  # (its relative imports)
    sys.modules[name] = module  # (dataclasses look their module up while the class is made)
    saved = {k: getattr(srmsim.stats, k) for k in attrs}
    try:
        for k, v in attrs.items():
            setattr(srmsim.stats, k, v)
        exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - git's own
    finally:
        for k, v in saved.items():
            setattr(srmsim.stats, k, v)
    return module


def old_code(rev: str) -> dict[str, Any]:
    checks = _module("_old_checks", rev, "srmsim/stats/_checks.py", {})
    estimators = _module("_old_estimators", rev, "srmsim/stats/estimators.py",
                         {"_checks": checks})
    subgroups = _module("_old_subgroups", rev, "srmsim/trial/subgroups.py", {})
    return {"estimate_effect": estimators.estimate_effect,
            "subgroup_estimates": subgroups.subgroup_estimates}


@contextlib.contextmanager
def using(code: dict[str, Any] | None) -> Iterator[None]:
    """Run with the old ``estimate_effect`` and ``subgroup_estimates`` (None: today's); the
    trial code looks both up when it calls them."""
    if code is None:
        yield
        return
    saved = (srmsim.stats.estimate_effect, srmsim.trial.subgroups.subgroup_estimates)
    srmsim.stats.estimate_effect = code["estimate_effect"]
    srmsim.trial.subgroups.subgroup_estimates = code["subgroup_estimates"]
    try:
        yield
    finally:
        srmsim.stats.estimate_effect, srmsim.trial.subgroups.subgroup_estimates = saved


#: each side's best CPU seconds (the machine may be shared: wall time then says little)
CPU: dict[str, float] = {}


def cpu_timed(sides: dict[str, Any]) -> dict[str, Any]:
    """The sides, each also keeping its best CPU time in :data:`CPU`."""
    def timed(name: str, fn: Any) -> Any:
        def run() -> Any:
            start = time.process_time()
            out = fn()
            CPU[name] = min(CPU.get(name, math.inf), time.process_time() - start)
            return out
        return run
    return {name: timed(name, fn) for name, fn in sides.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trial", default=str(REPO / "experiments" /
                                                "trial_attendance_cluster.yaml"))
    parser.add_argument("--old", default=OLD, help="git revision of the old side")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    trial = load_trial(args.trial)
    old = old_code(args.old)
    print(f"{Path(args.trial).name}: one replication; old = {args.old[:10]}; BLAS on 1 thread")

    captured: dict[str, Any] = {}
    new_subgroups = srmsim.trial.subgroups.subgroup_estimates

    def capture(t: Any, analysed: Any, students: Any) -> Any:
        captured["args"] = (t, analysed, students)
        return new_subgroups(t, analysed, students)

    srmsim.trial.subgroups.subgroup_estimates = capture
    try:
        replicate(trial, 0)  # (also the imports and first-call costs, before any timing)
    finally:
        srmsim.trial.subgroups.subgroup_estimates = new_subgroups

    def rep(code: dict[str, Any] | None, subgroups: bool) -> Any:
        def run() -> Any:
            with using(code):
                return replicate(trial, 0, subgroups=subgroups)
        return run

    print("\n1. whole replication (simulation, main analysis, subgroups where said)")
    names = ["new + subgroups", "old + subgroups", "new, no subgroups", "old, no subgroups"]
    _, best = alternate(cpu_timed(dict(zip(names, [rep(None, True), rep(old, True),
                                                   rep(None, False), rep(old, False)],
                                           strict=True))), args.rounds)
    cpu = [CPU[n] for n in names]
    for what, b in (("wall", best), ("CPU", cpu)):
        print(f"best {what}: new {b[0]:.2f} s vs old {b[1]:.2f} s with subgroups "
              f"(x{b[1] / b[0]:.2f}); {b[2]:.2f} s vs {b[3]:.2f} s without; "
              f"subgroups add {b[0] - b[2]:.2f} s (new) vs {b[1] - b[3]:.2f} s (old)")

    print("\n2. subgroup estimates alone, on one replication's analysed rows (x5 a round)")
    t, analysed, students = captured["args"]

    def alone(code: dict[str, Any] | None) -> Any:
        fn = new_subgroups if code is None else code["subgroup_estimates"]

        def run() -> Any:
            with using(code):  # (the old subgroups fit with the old estimate_effect)
                for _ in range(5):
                    table = fn(t, analysed, students)
            return table
        return run

    results, best = alternate(cpu_timed({"new": alone(None), "old": alone(old)}), args.rounds)
    # the factors both sides estimate: the old side has no year-group rows (helper 229)
    new = results["new"]
    new = new[new["factor"].isin(results["old"]["factor"])].reset_index(drop=True)
    same = new.to_csv() == results["old"].to_csv()
    print(f"same subgroup table: {same}; rows: {len(new)} (of {len(results['new'])} new)")
    for what, b in (("wall", best), ("CPU", [CPU["new"], CPU["old"]])):
        print(f"best {what}: {b[0] / 5:.3f} s vs {b[1] / 5:.3f} s a replication: "
              f"x{b[1] / b[0]:.2f}")
    if not same:
        sys.exit("the two sides' subgroup tables differ")


if __name__ == "__main__":
    main()
