"""Review of what the earlier reviews of running and storing experiments left open (see the
"Left" of test_runner_store_mutation_review and test_commands_mutation_review): each test here
pins code that a mutant of it survived every test with, or a defect found on the way.

Reviewed: srmsim.experiment.runner (trust_weeks, with_backlog, the sequential manifest of a
session), srmsim.store.RunStore._read_run, srmsim.executors._execute_local and local_processes,
ExperimentResult.scenario, and the experiment/trial/optimise commands' printed counts and
--workers checks. Expected values are the model's own school rows, counts of the files written,
optuna's study, or counted by hand; never the code under test's output pasted in.

Mutations tried: 21, each run against this file (-k the test of its item; the earlier reviews
had run the first six against the existing files and seen them survive). Survived: 5. Killed
by the tests here: 16 - trust_weeks keeping the stream rows (notna), or dropping enrolled from its totals;
the run file's replication check removed (a Morris design, seeds: common); _execute_local not
cancelling its queued tasks when storing raises; the scenario digest check removed; the
experiment command printing the file's replications instead of the stopping rule's; optimise
printing the front's size as its candidates (and the trials' as its front; a summary counting
the front), the re-evaluation's replications as the search's and the reverse; --workers checks
removed from trial or optimise, or ``< 1`` made ``< 0``; and the two halves of the fix below.
Equivalent: 3 - trust_weeks without its stream filter (the stream rows have no school figures:
their columns are prefixed requests_, and a sum skips their NaN); with_backlog's outer merge
made left (schools and streams run the same weeks); local_processes' shutdown without
cancel_futures (_execute_local has cancelled what it handed over, and keeps the rest in its own
queue). Left: 2 - ResultsStore.complete without its stopped-is-null test (the runner here also
needs ``stopped`` to be text to keep a decision; not run against test_sequential_store_review
for time) and _execute_local's BrokenProcessPool mapping (a killed worker: not re-run here).
Not tried: optimise's "could not be scored" note (needs a candidate whose runs all fail).

Defect found and fixed (no simulated number changes): a finished ``sequential:`` experiment run
again (which only re-reads its runs) and interrupted with Ctrl-C left its manifest with
``stopped: null``, so every later analysis refused the finished results as "did not finish",
and an interrupted session could also rewrite its ``replications`` with a count part way through
its re-decision. The runner keeps a decided manifest's ``stopped`` and ``replications`` unless
the session finishes (test_ctrl_c_in_a_rerun_of_a_finished_sequential_experiment_...).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import tiny_policy_scenario

from srmsim import executors
from srmsim.cli import main
from srmsim.errors import SrmsimError
from srmsim.experiment import load_experiment, run_experiment
from srmsim.experiment.compare import load_runs_and_failures
from srmsim.experiment.result import ExperimentResult
from srmsim.experiment.store import ResultsStore

TRUST = {"n_schools": 2, "students_per_year_group": 20, "size_cv": 0.0}
DESK = {"desk": {"arrivals": {"per_week": 5}, "backlog": 10,
                 "steps": [{"name": "check", "role": "clerk", "minutes": 60}],
                 "staff": {"clerk": {"staff": 1}}}}


def _experiment(tmp: Path, scenario: dict | None = None, replications: int | None = 2,
                **extra) -> Path:
    """Two variants (no policy, the tiny policy) of a 2-school trust of 20 a year group."""
    scenario = scenario or tiny_policy_scenario(trust=TRUST)
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(scenario))
    exp = {"name": "tiny_left", "scenario": "tiny.yaml", "baseline": "none",
           "replications": replications, "seed": 11, "outcomes": ["attendance"],
           "variants": {"none": {"policy": None}, "texts": {}}, **extra}
    if replications is None:  # a design that sets them
        del exp["replications"]
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


# --- 1. the trust's weeks of a scenario with request streams ---------------------------------

def test_the_weekly_detail_sums_the_schools_rows_not_the_request_streams(tmp_path):
    """A trust with schools and a request stream: each run's weekly detail holds one row per
    run week (39 in a year), the schools' totals as the model's own school rows sum them, and
    the stream's backlog beside them. Summing the stream's rows instead gave zeros in every
    week (the stream rows have no enrolment, sessions or staff)."""
    from srmsim.model import TrustModel

    scenario = tiny_policy_scenario(trust=TRUST, requests=DESK)
    path = _experiment(tmp_path, scenario)
    exp = load_experiment(path)
    out = tmp_path / "out"
    run_experiment(exp, out, workers=1, progress=False)
    weekly = ResultsStore(out).load_detail("weekly")
    assert weekly is not None
    cols = ["enrolled", "sessions_possible", "sessions_attended"]
    for variant in ("none", "texts"):
        for rep, seed in enumerate(exp.seeds(2)):
            model = TrustModel(exp.scenario_for(variant, rep), seed=seed)
            model.run()
            res = model.results()
            schools = res.weekly[res.weekly["school"].notna()]
            want = schools.groupby("run_week")[cols].sum()
            got = weekly[(weekly["variant"] == variant) & (weekly["replication"] == rep)]
            got = got.set_index("run_week").sort_index()
            assert list(got.index) == list(range(39))  # one row a run week, none twice
            # 2 schools x 5 year groups x 20 pupils, none withdrawn in a year of this trust
            assert (got["enrolled"] == 200).all()
            pd.testing.assert_frame_equal(got[cols].astype(float), want.astype(float),
                                          check_names=False)
            backlog = res.requests_weekly.set_index("run_week")["in_system"]
            assert (got["backlog:desk"] == backlog).all()


# --- 2. the run file's replication under a design whose replications share a seed ------------

def test_a_run_file_copied_to_another_replication_is_refused_under_common_seeds(tmp_path):
    """A Morris design runs every point with one seed (seeds: common), so a run file copied
    over another replication's has the right seed, variant and hash: only its replication
    column tells it is not that replication's (whose parameter draw differs)."""
    path = _experiment(tmp_path, replications=None, uncertain={"population.fsm_rate": [0.1, 0.4]},
                       design={"method": "morris", "n": 2, "levels": 4})
    exp = load_experiment(path)
    assert len(set(exp.seeds())) == 1  # the premise: one seed for every replication
    out = tmp_path / "out"
    run_experiment(exp, out, workers=1, progress=False)
    load_runs_and_failures(out)  # as run: read
    runs = out / "runs" / "texts"
    shutil.copy(runs / "rep-00000.parquet", runs / "rep-00001.parquet")
    with pytest.raises(SrmsimError, match=r"texts/rep-00001\.parquet: not the run its name says"):
        load_runs_and_failures(out)


# --- 3. storing a run fails (a full disk) while local workers run ----------------------------

def test_queued_tasks_are_cancelled_when_storing_rows_raises():
    """When ``on_rows`` raises (storing a run failed), the tasks handed to the pool that have
    not started are cancelled, so the pool's shutdown waits only for those running: a full
    disk must not make the user wait for runs that cannot be stored."""
    started: list[int] = []
    release, second = threading.Event(), threading.Event()

    def fn(i: int) -> list[dict]:
        started.append(i)
        second.set() if i == 1 else None
        if i > 0:
            release.wait(10)
        return [{"i": i}]

    class Pool:  # one thread: a task waits in its queue until the one before has finished
        workers = 2
        pool = ThreadPoolExecutor(1)

        def ready(self) -> bool:
            return True

    def on_rows(rows: list[dict]) -> None:
        assert second.wait(10)  # task 1 is running, tasks 2 and 3 wait in the queue
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        executors._execute_local(Pool(), fn, [(i,) for i in range(10)], on_rows)
    release.set()
    Pool.pool.shutdown(wait=True)
    # task 0 stored (and failed), task 1 was running; tasks 2 and 3 were queued: cancelled
    assert started == [0, 1]


def _workers() -> list:
    """The live processes started by this one's children (the fork server's workers)."""
    import psutil

    return [p for p in psutil.Process().children(recursive=True)
            if p.ppid() != os.getpid() and p.status() != psutil.STATUS_ZOMBIE]


def test_a_full_disk_while_storing_stops_the_experiment_cleanly(tmp_path, capsys, monkeypatch):
    """``srmsim experiment --workers 2`` on a disk that fills up after the first stored run:
    exit 2 with one line naming the file and the cause, no worker process left running, only
    whole runs stored (the analysis refuses the unfinished folder, naming a missing run), and
    --resume finishes with the outcomes an uninterrupted run gives."""
    path = _experiment(tmp_path, replications=4)
    original = ResultsStore.save_run
    stored: list[tuple[str, int]] = []

    def save_run(self, row):
        if stored:
            raise OSError(errno.ENOSPC, "No space left on device",
                          str(self.run_path(row["variant"], row["replication"])))
        original(self, row)
        stored.append((row["variant"], row["replication"]))

    out = tmp_path / "out"
    argv = ["experiment", str(path), "--out", str(out), "--workers", "2", "--quiet",
            "--no-report"]
    assert not _workers()
    with monkeypatch.context() as m:
        m.setattr(ResultsStore, "save_run", save_run)
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "rep-0000" in err
    assert len(err.strip().splitlines()) == 1
    # the pool's workers (children of the fork server, which is kept with the resource tracker
    # for later pools) have ended
    deadline = time.time() + 10
    while True:
        left = _workers()
        if not left or time.time() > deadline:
            break
        time.sleep(0.1)
    assert not left, left
    assert len(list(out.glob("runs/*/*.parquet"))) == 1
    with pytest.raises(SrmsimError, match="missing"):
        load_runs_and_failures(out)
    assert main([*argv, "--resume"]) == 0
    whole = tmp_path / "whole"
    run_experiment(load_experiment(path), whole, workers=1, progress=False)
    keys = ["variant", "replication", "seed", "attendance"]
    pd.testing.assert_frame_equal(load_runs_and_failures(out)[0][keys],
                                  load_runs_and_failures(whole)[0][keys])


# --- 4. a results folder's scenario edited by hand --------------------------------------------

def test_a_hand_edited_scenario_of_a_variant_is_refused_naming_it(tmp_path, capsys):
    """scenarios/<variant>.yaml describes the variant in the report: edited (staff minutes
    changed), it would describe a policy the runs did not have."""
    path = _experiment(tmp_path)
    out = tmp_path / "out"
    run_experiment(load_experiment(path), out, workers=1, progress=False)
    res = ExperimentResult.load(out)
    assert res.scenario("texts").policy.staff.school["pastoral"] == 300
    file = out / "scenarios" / "texts.yaml"
    text = file.read_text()
    assert "pastoral: 300" in text
    file.write_text(text.replace("pastoral: 300", "pastoral: 900"))
    with pytest.raises(SrmsimError, match=r"scenarios/texts\.yaml: not the scenario variant "
                                          r"'texts' ran"):
        ExperimentResult.load(out).scenario("texts")
    # the folder is refused whole, by compare as by the report (helper 226: compare, which
    # does not describe the variants, printed and wrote the effects of such a folder)
    for command in ("report", "compare"):
        assert main([command, str(out)]) == 2
        assert "texts.yaml: not the scenario" in capsys.readouterr().err
    # deleted, it was read as a folder from an srmsim that saved no scenarios: the report
    # silently left out what the variant did
    file.unlink()
    with pytest.raises(SrmsimError, match=r"scenarios/texts\.yaml: missing"):
        ExperimentResult.load(out).scenario("texts")
    assert main(["report", str(out)]) == 2
    assert "texts.yaml: missing" in capsys.readouterr().err


# --- 5. Ctrl-C while a finished sequential experiment is run again ---------------------------

SEQUENTIAL = {"half_width": {"attendance": 1e-12}, "max_replications": 4, "batch": 2}


def test_ctrl_c_in_a_rerun_of_a_finished_sequential_experiment_leaves_it_finished(
        tmp_path, monkeypatch):
    """Run again once finished, a sequential experiment only re-reads its runs; interrupted
    then (Ctrl-C), its manifest said the stopping rule had not decided (stopped: null), and
    the analysis refused the finished results as "did not finish". The decision stands."""
    compare = sys.modules["srmsim.experiment.compare"]  # the package's name is a function

    path = _experiment(tmp_path, sequential=SEQUENTIAL)
    out = tmp_path / "out"
    run_experiment(load_experiment(path), out, workers=1, progress=False)
    before = _manifest(out)
    assert before["stopped"] == "max_replications reached" and before["replications"] == 4
    runs_before = load_runs_and_failures(out)[0]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(compare, "compare_frame", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_experiment(load_experiment(path), out, workers=1, progress=False)
    after = _manifest(out)
    assert after["stopped"] == before["stopped"]
    assert after["replications"] == before["replications"]
    pd.testing.assert_frame_equal(load_runs_and_failures(out)[0], runs_before)
    # and run again, it is still finished: nothing run, the same decision
    summary = run_experiment(load_experiment(path), out, workers=1, progress=False)
    assert summary["runs"] == 0 and summary["replications"] == 4
    assert _manifest(out)["stopped"] == "max_replications reached"


# --- 6. the commands' printed counts and --workers --------------------------------------------

def test_experiment_prints_the_replications_its_stopping_rule_kept(tmp_path, capsys):
    """A sequential experiment of 2 replications first that its rule takes to 4: the command
    says 4 replications (what manifest.json and runs/ hold), not the file's 2."""
    path = _experiment(tmp_path, sequential=SEQUENTIAL)
    out = tmp_path / "out"
    assert main(["experiment", str(path), "--out", str(out), "--workers", "1", "--quiet",
                 "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert len(list((out / "runs" / "texts").glob("*.parquet"))) == 4
    assert _manifest(out)["replications"] == 4
    assert "tiny_left: 2 variants x 4 replications, 8 runs" in printed


@pytest.mark.parametrize("command", ["trial", "optimise"])
@pytest.mark.parametrize("workers,says", [
    ("0", "--workers must be at least 1"), ("-1", "--workers must be at least 1"),
    ("1000000", "--workers 1000000: at most"), ("two", "'two' is not a whole number")])
def test_workers_of_trial_and_optimise_are_checked_first(tmp_path, capsys, command, workers,
                                                        says):
    """--workers 0, -1, a million or a word: a one-line error and exit 2, before the study
    file is read (here it does not even exist) and nothing written."""
    out = tmp_path / "out"
    argv = [command, str(tmp_path / "missing.yaml"), "--out", str(out), "--workers", workers]
    if workers == "two":  # argparse's own error: exit 2 with the usage
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    else:
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err
    assert "Traceback" not in err and not out.exists()


OPT_SCENARIO = {"name": "tiny", "trust": TRUST, "outputs": {"history": "none"},
                "policy": tiny_policy_scenario()["policy"]}


def test_optimise_prints_the_counts_its_files_hold(tmp_path, capsys):
    """What `srmsim optimise` prints: the candidates searched (trials.csv's rows and the study's
    finished trials), the replications each ran (the search store's run files per candidate),
    the Pareto front (pareto.csv's rows) and the fresh replications of its re-evaluation (the
    front experiment's manifest)."""
    import optuna

    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(OPT_SCENARIO))
    spec = {"name": "tiny_opt", "scenario": "tiny.yaml", "replications": 2, "seed": 5,
            "levers": {"policy.parameters.attendance_threshold": {"low": 0.8, "high": 0.98}},
            "objectives": {"attendance": "maximise"},  # one: a front smaller than the trials
            "search": {"trials": 4, "batch": 2}, "reevaluate": {"replications": 3,
                                                                 "front_max": 2}}
    path = tmp_path / "opt.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp_path / "out"
    assert main(["optimise", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    trials = pd.read_csv(out / "trials.csv")
    front = pd.read_csv(out / "pareto.csv")
    study = optuna.load_study(study_name="tiny_opt", storage=f"sqlite:///{out / 'study.db'}")
    complete = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
    assert len(trials) == len(complete) == 4
    assert 1 <= len(front) < 4 and front["pareto"].all()
    per_candidate = {len(list(d.glob("*.parquet"))) for d in (out / "search" / "runs").iterdir()
                     if d.name.startswith("trial-")}
    assert per_candidate == {2}
    assert (f"tiny_opt: {len(trials)} candidates x 2 replications; Pareto front of "
            f"{len(front)}:") in printed
    assert json.loads((out / "front" / "manifest.json").read_text())["replications"] == 3
    assert "re-evaluated against the baseline (3 fresh replications):" in printed
