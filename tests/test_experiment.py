"""Experiments: determinism across executors, durable resume, known effects, clear errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import tiny_policy_scenario

import srmsim
from srmsim.cli import main
from srmsim.errors import ScenarioError, SrmsimError
from srmsim.experiment import compare, load_experiment, run_experiment

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = tiny_policy_scenario(
    trust={"n_schools": 2, "students_per_year_group": 40, "size_cv": 0.0})


def write_experiment(tmp: Path, replications: int = 4, **extra) -> Path:
    (tmp / "scenarios").mkdir(exist_ok=True)
    (tmp / "scenarios" / "tiny.yaml").write_text(yaml.safe_dump(SCENARIO))
    exp = {
        "name": "tiny_exp",
        "scenario": "scenarios/tiny.yaml",
        "baseline": "none",
        "replications": replications,
        "seed": 7,
        "outcomes": ["attendance", "persistent_absence", "staff_hours"],
        "variants": {"none": {"policy": None}, "texts": {}, "more_staff":
                     {"policy.staff.school.pastoral": 900}},
        **extra,
    }
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def effects_bytes(out: Path) -> bytes:
    return (out / "effects.csv").read_bytes()


def test_effects_identical_for_one_and_two_workers_and_dask(tmp_path):
    exp = write_experiment(tmp_path, replications=2)  # 6 runs, each executor splits them
    outs = {}
    for label, args in [("w1", ["--workers", "1"]), ("w2", ["--workers", "2"])]:
        out = tmp_path / label
        assert main(["experiment", str(exp), "--out", str(out), "--quiet", *args]) == 0
        outs[label] = out
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        out = tmp_path / "dask"
        assert main(["experiment", str(exp), "--out", str(out), "--quiet",
                     "--scheduler", cluster.scheduler_address]) == 0
        outs["dask"] = out
    assert effects_bytes(outs["w1"]) == effects_bytes(outs["w2"]) == effects_bytes(outs["dask"])
    runs = [srmsim.experiment.load_runs(o)[0].drop(columns="runtime_seconds") for o in
            outs.values()]
    pd.testing.assert_frame_equal(runs[0], runs[1])
    pd.testing.assert_frame_equal(runs[0], runs[2])
    assert not any(c.startswith("_") for c in runs[0].columns)  # timing records stay in memory
    # every stored file but the run rows (which hold their runtime) is the same bytes
    stored = [{f.relative_to(o): f.read_bytes() for f in o.glob("detail/*/*.parquet")}
              for o in outs.values()]
    assert len(stored[0]) == 2 * 6 and stored[0] == stored[1] == stored[2]
    # the same numbers from Python
    from_python = srmsim.compare(outs["w1"])
    from_csv = pd.read_csv(outs["w1"] / "effects.csv")
    np.testing.assert_allclose(from_python["difference"], from_csv["difference"], rtol=1e-9)
    assert (outs["w1"] / "forest.png").stat().st_size > 1000


def test_batches_inside_local_processes_share_one_pool():
    """A search's batches run on the same worker processes (a pool per batch would start them,
    and their imports, every time); the pool is closed when the block ends."""
    from srmsim import executors

    def pids() -> set[int]:
        seen: list[int] = []
        executors.execute(os.getpid, [()] * 4, 2, None, seen.append)
        return set(seen)

    with executors.local_processes(2):
        shared = executors._POOLS[2]
        _wait_until_up(shared)  # so that no task runs in this process
        pool = shared.pool
        first = pids()
        workers = set(pool._processes)
        second = pids()
        assert first | second <= workers == set(pool._processes)
        assert os.getpid() not in workers
    assert not executors._POOLS and not pool._processes


def _task_and_pid(i: int) -> list[dict]:
    time.sleep(0.2 if i < 3 else 0.0)
    return [{"task": i, "pid": os.getpid()}]


def test_while_the_workers_start_this_process_runs_tasks_itself(monkeypatch):
    """Workers still starting (a fork server's imports, 1-2 s): this process runs tasks, one at
    a time, each once, rather than idle; once they are up it hands the rest over."""
    from srmsim import executors

    up_at = time.monotonic() + 0.5  # "up" after half a second: two or three tasks here
    monkeypatch.setattr(executors._Workers, "ready", lambda self: time.monotonic() > up_at)
    rows: list[dict] = []
    executors.execute(_task_and_pid, [(i,) for i in range(9)], 2, None, rows.extend)
    assert sorted(r["task"] for r in rows) == list(range(9))
    here = [r["task"] for r in rows if r["pid"] == os.getpid()]
    assert here == list(range(len(here))) and 1 <= len(here) <= 5
    assert len({r["pid"] for r in rows}) > 1
    rows.clear()
    with executors.local_processes(2):  # a real pool: its workers come up on their own
        executors.execute(_task_and_pid, [(i,) for i in range(40)], 2, None, rows.extend)
        assert executors._POOLS[2].ready()
    assert sorted(r["task"] for r in rows) == list(range(40))


def test_chunks_keep_the_order_and_shrink_to_single_tasks():
    from srmsim.executors import batches

    for n, size, workers in [(120, 6, 2), (7, 6, 2), (50, 4, 3), (1, 5, 8), (0, 3, 2)]:
        chunks = batches(list(range(n)), size, workers)
        assert [t for c in chunks for t in c] == list(range(n))
        assert all(1 <= len(c) <= size for c in chunks)
        assert [len(c) for c in chunks] == sorted((len(c) for c in chunks), reverse=True)
        assert not chunks or len(chunks[-1]) == 1  # no worker waits on a long last chunk
    assert [len(c) for c in batches(list(range(120)), 6, 2)][:17] == [6] * 17


def test_workers_get_one_blas_thread_and_the_parent_keeps_its_environment(monkeypatch):
    """Two workers on two cores must not each start a BLAS thread per core."""
    from srmsim import executors

    monkeypatch.delenv("VECLIB_MAXIMUM_THREADS", raising=False)
    seen: list[str | None] = []
    with executors.local_processes(2):
        _wait_until_up(executors._POOLS[2])  # (until then this process runs the tasks)
        executors.execute(os.getenv, [("VECLIB_MAXIMUM_THREADS",)] * 2, 2, None, seen.append)
    assert seen == ["1", "1"]
    assert "VECLIB_MAXIMUM_THREADS" not in os.environ


def _wait_until_up(workers) -> None:
    deadline = time.monotonic() + 60
    while not workers.ready() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.once
def test_replication_seeds_are_shared_by_variants(tmp_path):
    exp = load_experiment(write_experiment(tmp_path))
    out = tmp_path / "o"
    run_experiment(exp, out, workers=1, progress=False)
    runs, manifest = srmsim.experiment.load_runs(out)
    seeds = runs.pivot(index="replication", columns="variant", values="seed")
    assert (seeds.nunique(axis=1) == 1).all()
    assert seeds.iloc[:, 0].nunique() == 4
    assert manifest["seeds"][:4] == seeds["none"].tolist()
    assert {"numpy", "mesa", "srmsim"} <= set(manifest["versions"])
    assert manifest["sessions"][0]["runs"] == 12


def test_killed_run_resumes_to_the_same_result(tmp_path):
    exp = write_experiment(tmp_path, replications=4)
    full = tmp_path / "full"
    assert main(["experiment", str(exp), "--out", str(full), "--quiet", "--workers", "1"]) == 0
    part = tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "srmsim.cli", "experiment", str(exp),
                             "--out", str(part), "--quiet", "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if len(list(part.glob("runs/*/*.parquet"))) >= 5:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p: p.read_bytes() for p in part.glob("runs/*/*.parquet")}
    assert 5 <= len(before) < 12, "the kill should land part way through"
    # temp files may remain (write_atomic's ".<name>.<random>", half written); never read:
    # one is left beside a run still to do, with half a finished run's bytes in it
    done = {(p.parent.name, p.name) for p in before}
    variant, missing = next((v, f"rep-{r:05d}.parquet") for r in range(4)
                            for v in ("none", "texts", "more_staff") if (v, f"rep-{r:05d}.parquet")
                            not in done)
    half = next(iter(before.values()))
    (part / "runs" / variant).mkdir(parents=True, exist_ok=True)
    (part / "runs" / variant / f".{missing}.k1lled_").write_bytes(half[: len(half) // 2])
    # without --resume the directory is refused rather than mixed
    assert main(["experiment", str(exp), "--out", str(part), "--quiet", "--workers", "1"]) == 2
    assert main(["experiment", str(exp), "--out", str(part), "--quiet", "--workers", "1",
                 "--resume"]) == 0
    after = {p: p.read_bytes() for p in part.glob("runs/*/*.parquet")}
    assert all(after[p] == b for p, b in before.items()), "a finished run was redone or lost"
    assert len(after) == 12
    assert effects_bytes(part) == effects_bytes(full)
    manifest = srmsim.experiment.load_runs(part)[1]
    assert manifest["sessions"][-1]["runs"] == 12 - len(before)


def test_workers_end_when_their_parent_is_killed(tmp_path):
    """kill -9 of an experiment on 2 workers leaves no process behind (each would otherwise
    finish its task for no one and then wait for ever); resuming is tested above."""
    import psutil

    exp = write_experiment(tmp_path, replications=10)
    part = tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "srmsim.cli", "experiment", str(exp),
                             "--out", str(part), "--quiet", "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(part.glob("runs/*/*.parquet")):
        time.sleep(0.05)
    helpers = psutil.Process(proc.pid).children(recursive=True)  # fork server, workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert helpers and len(list(part.glob("runs/*/*.parquet"))) < 30, "kill part way through"
    _, alive = psutil.wait_procs(helpers, timeout=15)
    assert not alive, [p.cmdline()[-1][:80] for p in alive]


def test_a_killed_worker_gives_a_short_error_and_resume_finishes(tmp_path):
    """kill -9 of one worker (as the kernel's out-of-memory killer would): the command stops
    with a short error saying what to do (exit 2, no traceback), keeps the finished runs, and
    --resume completes the experiment."""
    import psutil

    exp = write_experiment(tmp_path, replications=10)
    part = tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "srmsim.cli", "experiment", str(exp),
                             "--out", str(part), "--quiet", "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    def busy(p: psutil.Process) -> float:  # a worker, not the fork server's brief probe
        try:
            return p.cpu_times().user if p.status() != psutil.STATUS_ZOMBIE else -1.0
        except psutil.NoSuchProcess:
            return -1.0

    def worker(p: psutil.Process) -> bool:  # the fork server's children, busy
        try:  # (a process listed a moment ago may be gone before it is asked its parent)
            return p.ppid() != proc.pid and busy(p) > 0.05
        except psutil.NoSuchProcess:
            return False

    deadline = time.time() + 120
    workers: list = []
    while time.time() < deadline:  # (the command runs the first runs itself until they are up)
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True) if worker(p)]
        if len(workers) == 2 and list(part.glob("runs/*/*.parquet")):
            break
        time.sleep(0.05)
    assert workers, "no worker found"
    max(workers, key=busy).kill()
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 2, err
    assert "worker process died" in err and "--resume" in err
    assert "Traceback" not in err
    # which worker, and how: SIGKILL, as the out-of-memory killer's
    assert re.search(r"worker \d+ was killed by signal 9, SIGKILL: the kernel's out-of-memory "
                     r"killer sends it", err), err
    kept = len(list(part.glob("runs/*/*.parquet")))
    assert 0 < kept < 30, "the kill should land part way through"
    assert main(["experiment", str(exp), "--out", str(part), "--quiet", "--workers", "2",
                 "--resume"]) == 0
    assert len(list(part.glob("runs/*/*.parquet"))) == 30


@pytest.mark.once
def test_resume_refuses_a_changed_experiment(tmp_path, capsys):
    exp = write_experiment(tmp_path, replications=2)
    out = tmp_path / "o"
    assert main(["experiment", str(exp), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    data = yaml.safe_load(exp.read_text())
    data["variants"]["more_staff"] = {"policy.staff.school.pastoral": 1200}
    exp.write_text(yaml.safe_dump(data))
    assert main(["experiment", str(exp), "--out", str(out), "--quiet", "--resume"]) == 2
    assert "has changed" in capsys.readouterr().err


@pytest.mark.once
def test_resume_without_the_set_values_gives_the_command_that_continues(tmp_path, capsys):
    """Resuming an experiment run with --set but without them is refused (its hash differs);
    the refusal gives the command with the recorded --set values, and that command resumes."""
    import shlex

    exp = write_experiment(tmp_path, replications=2)
    out = tmp_path / "o"
    setting = ["--set", "trust.students_per_year_group=25"]
    assert main(["experiment", str(exp), "--out", str(out), "--quiet", "--workers", "1",
                 *setting]) == 0
    assert main(["experiment", str(exp), "--out", str(out), "--quiet", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "has changed" in err and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("  to continue those results, run: srmsim experiment "), err
    command = shlex.split(last.split("run: ", 1)[1])
    assert command[-2:] == ["--set", "trust.students_per_year_group=25"]
    assert main([*command[1:], "--quiet", "--workers", "1", "--no-report"]) == 0


@pytest.mark.once
def test_known_effect_is_covered_and_crn_reduces_variance(tmp_path):
    """Everyone gets an automated action worth +0.2 SD of attainment over its course, taken up
    with probability 0.5, and gains do not fade: the true effect on mean attainment is 0.1."""
    scenario = {"name": "known", "trust": {"n_schools": 3, "students_per_year_group": 60},
                "outputs": {"history": "none"}, "dynamics": {"attainment_reversion": 0.0},
                "policy": {"rules": {"everyone": "enrolled"},
                           "actions": {"boost": {"automated": True, "take_up": 0.5, "weeks": 4,
                                                 "effect": {"attainment": 0.2}}},
                           "workflows": {"w": {"trigger": "everyone", "cooldown_weeks": 100,
                                               "steps": [{"action": "boost", "goal": "true"}]}}}}
    (tmp_path / "known.yaml").write_text(yaml.safe_dump(scenario))
    exp = {"name": "known", "scenario": "known.yaml", "baseline": "off", "replications": 20,
           "outcomes": ["attainment", "attendance"],
           "variants": {"off": {"policy": None}, "on": {}}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    out = tmp_path / "o"
    run_experiment(load_experiment(path), out, workers=1, progress=False)
    eff = compare(out).set_index("outcome")
    att = eff.loc["attainment"]
    assert att["ci_low"] <= 0.1 <= att["ci_high"]
    assert att["ci_high"] - att["ci_low"] < 0.02
    # the action touches attainment only: attendance is identical, run by run
    assert eff.loc["attendance", "difference"] == 0
    assert att["variance_reduction"] > 10


@pytest.mark.parametrize("change,where", [
    ({"variants": {"none": {"policy": None}, "x": {"populaton.fsm_rate": 0.3}}}, "variants.x"),
    ({"baseline": "nobody"}, "baseline"),
    ({"replications": 0}, "replications"),
    ({"outcomes": ["happiness"]}, "happiness"),
    ({"uncertain": {"population.fsm_rate": [0.5, 0.1]}}, "uncertain"),
])
def test_bad_experiment_files_give_clear_errors(tmp_path, capsys, change, where):
    path = write_experiment(tmp_path)
    data = yaml.safe_load(path.read_text())
    data.update(change)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as err:
        load_experiment(path)
    assert str(path) in str(err.value) and where in str(err.value)
    assert main(["experiment", str(path), "--out", str(tmp_path / "o")]) == 2
    assert main(["validate", str(path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.once
def test_failed_run_is_recorded_and_others_finish(tmp_path, monkeypatch, capsys):
    from srmsim import model as model_module

    original = model_module.TrustModel.run

    def flaky(self, progress=None):
        if self.config.policy is not None and self.config.policy.staff.school.get(
                "pastoral") == 900 and self.seed % 2 == 0:
            raise RuntimeError("boom")
        return original(self, progress)

    monkeypatch.setattr(model_module.TrustModel, "run", flaky)
    exp = write_experiment(tmp_path)
    out = tmp_path / "o"
    assert main(["experiment", str(exp), "--out", str(out), "--quiet", "--workers", "1"]) == 1
    text = capsys.readouterr().out
    failures = list(out.glob("failures/more_staff/*.json"))
    assert failures and "boom" in text and "seed" in text
    assert len(list(out.glob("runs/none/*.parquet"))) == 4
    # one shape of record, stamped with the experiment's hash, and listed in the manifest: what
    # reading checks a failure record against (a hand-made one for a deleted run is refused)
    manifest = json.loads((out / "manifest.json").read_text())
    record = json.loads(failures[0].read_text())
    assert set(record) == {"variant", "replication", "seed", "error", "traceback",
                           "runtime_seconds", "experiment_hash"}
    assert record["experiment_hash"] == manifest["experiment_hash"]
    assert sorted(manifest["failed"]) == sorted(
        ["more_staff", int(f.stem.removeprefix("rep-"))] for f in failures)
    # the analysis says which runs it leaves out, every time it reads the folder
    assert main(["compare", str(out)]) == 0
    text = capsys.readouterr().out
    said = ("1 failed run is" if len(failures) == 1 else f"{len(failures)} failed runs are")
    assert f"note: {said} left out of this analysis" in text
    effects = pd.read_csv(out / "effects.csv")
    assert set(effects.loc[effects["variant"] == "more_staff", "replications"]) == {
        4 - len(failures)}


def test_uncertain_parameters_are_latin_hypercube_and_shared(tmp_path):
    path = write_experiment(tmp_path, replications=10,
                            uncertain={"policy.actions.parent_text.take_up": [0.2, 0.9]})
    exp = load_experiment(path)
    draws = [d["policy.actions.parent_text.take_up"] for d in exp.parameter_draws()[:10]]
    # one draw in each tenth of the range: a Latin hypercube
    bins = np.floor((np.array(draws) - 0.2) / 0.07).astype(int)
    assert sorted(bins) == list(range(10))
    sc = exp.scenario_for("texts", 3)
    assert sc.policy.actions["parent_text"].take_up == pytest.approx(draws[3])


@pytest.mark.once
def test_sequential_stopping(tmp_path):
    path = write_experiment(tmp_path, replications=3, sequential={
        "half_width": {"attendance": 1e-9}, "max_replications": 7, "batch": 2})
    summary = run_experiment(load_experiment(path), tmp_path / "o", workers=1, progress=False)
    assert summary["replications"] == 7 and summary["stopped"] == "max_replications reached"
    path = write_experiment(tmp_path, replications=3, sequential={
        "half_width": {"attendance": 1.0}, "max_replications": 7, "batch": 2,
        "min_replications": 3})  # allowed to stop on its first round
    summary = run_experiment(load_experiment(path), tmp_path / "o2", workers=1, progress=False)
    assert summary["replications"] == 3 and summary["stopped"] == "half-width target met"


@pytest.mark.once
def test_sequential_stopping_on_a_user_defined_outcome(tmp_path):
    """The stopping rule reads a user-defined outcome by its name (it once crashed: the
    outcome registry was keyed by the definition, which is not hashable)."""
    low = {"name": "low_attenders", "statistic": "count", "of": "attendance_rate < 0.85",
           "scale": "number", "better": "lower"}
    path = write_experiment(tmp_path, replications=2, outcomes=["attendance", low], sequential={
        "half_width": {"low_attenders": 1e-9}, "max_replications": 4, "batch": 2})
    exp = load_experiment(path)
    assert set(exp.outcome_registry()) == {"attendance", "low_attenders"}
    summary = run_experiment(exp, tmp_path / "o", workers=1, progress=False)
    assert summary["replications"] == 4 and summary["stopped"] == "max_replications reached"
    assert "low_attenders" in set(srmsim.compare(tmp_path / "o")["outcome"])


@pytest.mark.once
def test_sequential_stopping_never_calls_an_undefined_outcome_met(tmp_path):
    """An outcome with no value in any run (the mean over no students) has no half-width: the
    target was read as met and the experiment stopped at once."""
    nobody = {"name": "nobody", "statistic": "mean", "of": "attendance_rate",
              "where": "attendance_rate < -1", "scale": "share"}
    path = write_experiment(tmp_path, replications=2, outcomes=["attendance", nobody],
                            sequential={"half_width": {"nobody": 0.5}, "max_replications": 4,
                                        "batch": 2})
    summary = run_experiment(load_experiment(path), tmp_path / "o", workers=1, progress=False)
    assert summary["replications"] == 4 and summary["stopped"] == "max_replications reached"


def test_quickstart_experiment_is_valid():
    exp = load_experiment(ROOT / "experiments" / "quickstart.yaml")
    assert exp.baseline == "no_policy" and len(exp.variants) == 4
    assert exp.variants["no_policy"].policy is None
    assert not exp.variants["reading_support"].policy.workflows["attendance"].enabled
    shutil.rmtree(ROOT / "results" / "never", ignore_errors=True)


def test_workers_drop_finished_models(make_small_scenario):
    """A released model is freed at once, whatever Mesa keeps in its registries."""
    import gc
    import weakref

    from srmsim.model import TrustModel

    model = TrustModel(make_small_scenario(), seed=1)
    model.run()
    model.results()
    model.release()
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


@pytest.mark.once
def test_running_a_finished_experiment_again_only_reports(tmp_path, capsys):
    exp = write_experiment(tmp_path, replications=2)
    out = tmp_path / "o"
    assert main(["experiment", str(exp), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    first = effects_bytes(out)
    capsys.readouterr()
    assert main(["experiment", str(exp), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    assert "0 runs" in capsys.readouterr().out
    assert effects_bytes(out) == first


def _runs_table(reps: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"variant": np.repeat(["base", "v1"], reps),
                         "replication": np.tile(np.arange(reps), 2),
                         "persistent_absence": rng.uniform(0.1, 0.2, 2 * reps)})


def test_compare_matches_a_paired_t_interval_and_ignores_row_order():
    from scipy import stats as sps

    runs = _runs_table(reps=7)
    for level in (0.8, 0.99):
        eff = compare(runs.sample(frac=1, random_state=1), "base", ["persistent_absence"],
                      level=level).iloc[0]
        d = (runs["persistent_absence"].iloc[7:].to_numpy()
             - runs["persistent_absence"].iloc[:7].to_numpy())
        half = sps.t.ppf(0.5 + level / 2, 6) * d.std(ddof=1) / np.sqrt(7)
        assert eff["difference"] == pytest.approx(d.mean(), rel=1e-12)
        assert eff["ci_low"] == pytest.approx(d.mean() - half, rel=1e-12)
        assert eff["replications"] == 7


def test_a_variant_with_fewer_than_two_paired_replications_gets_no_verdict():
    """One replication (the others failed) has no interval: not 'no clear change'."""
    from srmsim.experiment.compare import compare_frame

    runs = pd.DataFrame({"variant": ["a"] * 3 + ["b", "c", "c"], "replication": [0, 1, 2, 0, 1, 2],
                         "seed": [1, 2, 3, 1, 2, 3],
                         "attendance": [0.90, 0.91, 0.92, 0.95, 0.93, 0.94]})
    eff = compare_frame(runs, "a", ["attendance"]).set_index("variant")
    assert eff.loc["b", "verdict"] == "one run: no interval"
    assert eff.loc["b", "replications"] == 1
    assert np.isnan(eff.loc["b", "ci_low"])
    assert eff.loc["c", "verdict"] in ("better", "worse", "no clear change")
    assert eff.loc["c", "replications"] == 2


@pytest.mark.parametrize("damage,message", [
    (lambda r: r.assign(persistent_absence=r["persistent_absence"].where(r.index != 3, np.inf)),
     "variant 'base' replication 3 is infinite"),  # was dropped: 9 replications, no word
    (lambda r: r.assign(persistent_absence=r["persistent_absence"] * 1e300), "too large"),
    (lambda r: pd.concat([r, r.iloc[[12]]]), "'v1' replication 2 appears 2 times"),  # ValueError
    (lambda r: pd.concat([r, r[["persistent_absence"]]], axis=1),
     r"column \[.persistent_absence.\] appears more than once"),  # read as 20 replications
    (lambda r: r.assign(variant=r["variant"].where(r.index != 0, None)), "no variant name"),
    (lambda r: r.assign(replication=r["replication"].where(r.index != 12, np.nan)),
     "replication nan .* not a whole number"),
    (lambda r: r.assign(persistent_absence=r["persistent_absence"].astype(object)
                        .where(r.index != 4, "n/a")), "is not a number \\('n/a'\\)"),
    (lambda r: pd.concat([r.astype({"replication": object}),
                          r.iloc[[12]].assign(replication="2")]),
     "'v1' replication 2 appears 2 times"),  # 2 and "2": once accepted as two runs
    (lambda r: r.assign(replication=r["replication"].astype(float).where(r.index != 12, 1e30)),
     "not a whole number from 0 to"),
])
def test_compare_refuses_tables_that_would_give_wrong_effects(damage, message):
    from srmsim.errors import SrmsimError

    with pytest.raises(SrmsimError, match=message):
        compare(damage(_runs_table()), "base", ["persistent_absence"])


def test_compare_pairs_replications_by_number_whatever_their_type():
    """Two CSV files concatenated, one read as text: "3" is replication 3 (it once paired
    with nothing and gave 'not measured')."""
    runs = _runs_table()
    mixed = runs.astype({"replication": object})
    text = mixed["variant"] != "base"
    mixed.loc[text, "replication"] = mixed.loc[text, "replication"].map(str)
    cols = ["variant", "replications", "difference", "ci_low", "ci_high", "verdict"]
    pd.testing.assert_frame_equal(compare(mixed, "base", ["persistent_absence"])[cols],
                                  compare(runs, "base", ["persistent_absence"])[cols])


@pytest.mark.parametrize("level", [1.5, float("nan"), 0])
def test_compare_level_must_be_a_probability(level):
    from srmsim.errors import SrmsimError

    with pytest.raises(SrmsimError, match="level="):  # was an all-NaN interval
        compare(_runs_table(), "base", ["persistent_absence"], level=level)


@pytest.mark.parametrize("workers", [0, -1, 10**6])
def test_api_workers_are_checked_before_anything_is_written(tmp_path, workers):
    """The CLI checked --workers, the API did not: run_experiment(workers=10**6) started a pool
    of a million processes (and 0 or -1 meant every core)."""
    exp = load_experiment(write_experiment(tmp_path))
    out = tmp_path / "o"
    with pytest.raises(SrmsimError, match="--workers"):
        run_experiment(exp, out, workers=workers, progress=False)
    assert not out.exists()


def test_printed_effects_name_rows_computed_on_fewer_replications():
    """A replication whose outcome is undefined (NaN: an empty group) is left out of that row's
    mean and interval; the printed table said nothing (the count was only in effects.csv)."""
    from srmsim.experiment.compare import compare_frame, format_effects

    runs = pd.DataFrame({"variant": ["a"] * 4 + ["b"] * 4, "replication": [0, 1, 2, 3] * 2,
                         "attendance": [0.90, 0.91, 0.92, 0.93, 0.95, 0.93, 0.94, 0.96],
                         "cost": [1.0, 2.0, 3.0, 4.0, 2.0, np.nan, np.nan, 5.0]})
    eff = compare_frame(runs, "a", ["attendance", "cost"])
    text = format_effects(eff)
    assert "'b' Cost" in text and "2 of 4 replications" in text
    assert "Attendance" not in text.split("note:", 1)[1]
    full = format_effects(compare_frame(runs, "a", ["attendance"]))
    assert "note:" not in full
