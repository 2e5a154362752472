"""Mutation review of how experiments are executed and stored (srmsim.executors,
srmsim.dask_workers, srmsim.experiment.runner, srmsim.experiment.store with srmsim.store's
RunStore, srmsim.experiment.result). Each test here kills mutations that the existing tests
(test_experiment, test_trial, test_trial_resume, test_report's damaged folders, test_input_safety,
test_stores_review, ...) let survive; every expected value is counted by hand or recomputed
from the model directly, not read from the code under test.

Mutations tried: 44 (seeds, plan and storing in the runner; the local, serial and Dask
executors and their chunking; the store's whole-experiment, failure-record and run-file checks;
the result's replications, students and weeks; the Dask memory plugin). Against the existing
tests (test_experiment, test_experiment_mutation_review, test_outputs_mutation_review,
test_stores_review, test_trial_resume, test_report's damaged folders, test_input_safety,
test_memory; -x, -n 0): 35 run, 23 killed, 12 survived. Killed by the tests here: 14 (6 of
those survivors: each replication's own uncertain draw, replications 0 in the manifest, a
failure record past the last seed, the session's failure count, the resumed sequential
decision, a run file's edited seed; and 8 run against these tests only, for time: the failure
record's error type, the sequential cut at max_replications, the manifest's replications, a
finished experiment run again, the session's run count, the result's replications, students
and weeks). Equivalent: 3 - run_one's deep copy of the scenario (the model never changes it:
every executor's runs stay bit-identical without it), floor for ceil in the chunk size
(scheduling only: a run depends on its scenario and seed alone), ResultsStore.complete without
its hash test (reopen refuses another experiment's hash anyway; its run timed out). Left: 4 -
trust_weeks keeping the request streams' rows instead of the schools' (only scenarios with
request streams; test_report's requests experiment was not in the set run); the run file's
replication check (the seed check refuses a copied file too, except under a design with
common_seed, where every replication has one seed); not cancelling queued local tasks when
storing a run raises (the pool's shutdown then waits for them); and, not run for time, the
scenario digest check in ExperimentResult.scenario.

Found besides: a manifest whose baseline was edited to another variant was read with every
effect the wrong way round, and one with an outcome taken off its list lost it, silently
(fixed: reading checks both against the experiment settings its hash covers)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import tiny_policy_scenario

from srmsim.errors import SrmsimError
from srmsim.experiment import load_experiment, run_experiment
from srmsim.experiment.compare import load_runs, load_runs_and_failures

TAKE_UP = "policy.actions.parent_text.take_up"


def _experiment(tmp: Path, replications: int = 3, **extra) -> Path:
    """Two variants (no policy, the tiny policy) of a 2-school trust of 25 a year group."""
    scenario = tiny_policy_scenario(trust={"n_schools": 2, "students_per_year_group": 25,
                                           "size_cv": 0.0})
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(scenario))
    exp = {"name": "tiny_exp", "scenario": "tiny.yaml", "baseline": "none",
           "replications": replications, "seed": 11,
           "outcomes": ["attendance", "persistent_absence"],
           "variants": {"none": {"policy": None}, "texts": {}}, **extra}
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished experiment of 2 variants x 3 replications (copied by each test)."""
    tmp = tmp_path_factory.mktemp("finished")
    out = tmp / "out"
    run_experiment(load_experiment(_experiment(tmp)), out, workers=1, progress=False)
    return out


def _copy(finished: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    return out


# ------------------------------------------------------------------ what each run runs
def test_each_replication_runs_its_own_uncertain_draw_with_the_shared_seed(tmp_path):
    """Replication r of every variant runs the scenario with draw r of the uncertain
    parameters (parameters.csv) and seed r of the manifest (common random numbers). A plan that
    gave every replication draw 0 stored plausible runs that no test compared with the draws:
    here each stored run is made again by hand, from the scenario file with that draw set."""
    from srmsim.experiment.outcomes import measure
    from srmsim.model import TrustModel
    from srmsim.scenario import scenario_from_dict

    path = _experiment(tmp_path, replications=2, uncertain={TAKE_UP: [0.05, 0.95]})
    out = tmp_path / "o"
    run_experiment(load_experiment(path), out, workers=1, progress=False)
    runs, manifest = load_runs(out)
    draws = pd.read_csv(out / "parameters.csv").set_index("replication")[TAKE_UP]
    assert abs(draws[0] - draws[1]) > 0.05  # a Latin hypercube of 2: one in each half
    runs = runs.set_index(["variant", "replication"])
    for rep in (0, 1):
        assert runs.loc[("none", rep), "seed"] == runs.loc[("texts", rep), "seed"] \
            == manifest["seeds"][rep]
        data = yaml.safe_load((tmp_path / "tiny.yaml").read_text())
        data["policy"].setdefault("actions", {})["parent_text"] = {"take_up": float(draws[rep])}
        model = TrustModel(scenario_from_dict(data), seed=manifest["seeds"][rep])
        model.run()
        expected = measure(model.results(), ["attendance", "persistent_absence"])
        assert runs.loc[("texts", rep), "attendance"] == expected["attendance"]
        assert runs.loc[("texts", rep), "persistent_absence"] == expected["persistent_absence"]


def test_sequential_replications_stop_at_max_replications(tmp_path):
    """A target never met adds replications in batches up to max_replications and no further:
    2, then 2 + 3 cut to 4 (uncut, the batch ran past the manifest's 4 seeds)."""
    path = _experiment(tmp_path, replications=2, sequential={
        "half_width": {"attendance": 1e-12}, "max_replications": 4, "batch": 3})
    out = tmp_path / "o"
    summary = run_experiment(load_experiment(path), out, workers=1, progress=False)
    assert summary["replications"] == 4 and summary["stopped"] == "max_replications reached"
    assert sorted(p.name for p in out.glob("runs/texts/*.parquet")) == [
        f"rep-{r:05d}.parquet" for r in range(4)]
    assert json.loads((out / "manifest.json").read_text())["replications"] == 4


def test_a_resumed_sequential_experiment_decides_on_the_same_replications(tmp_path):
    """Killed while its second batch ran (replication 2 stored, 3 not, the manifest as its
    start wrote it), a sequential experiment resumed decides on replications 0 and 1 first, as
    the uninterrupted one did: a decision on every stored replication stopped it at once (the
    target is met with 3 replications, not with 2), with 2 replications instead of 4. The
    half-widths are worked out here with scipy's t."""
    import numpy as np
    from scipy import stats

    target = 0.008
    path = _experiment(tmp_path, replications=2, sequential={
        "half_width": {"attendance": target}, "max_replications": 4, "batch": 2})
    full = tmp_path / "full"
    summary = run_experiment(load_experiment(path), full, workers=1, progress=False)
    runs = load_runs(full)[0].pivot(index="replication", columns="variant", values="attendance")
    d = (runs["texts"] - runs["none"]).to_numpy()
    hw = {n: stats.t.ppf(0.975, n - 1) * d[:n].std(ddof=1) / np.sqrt(n) for n in (2, 3, 4)}
    assert hw[3] < target < hw[2] and hw[4] < target  # what makes the test tell them apart
    assert (summary["replications"], summary["stopped"]) == (4, "half-width target met")

    part = tmp_path / "part"
    shutil.copytree(full, part)
    for f in part.glob("*/*/rep-00003*.parquet"):
        f.unlink()
    manifest = json.loads((part / "manifest.json").read_text())
    for key in ("replications", "failed"):
        del manifest[key]
    manifest["sessions"] = []
    (part / "manifest.json").write_text(json.dumps(manifest))
    resumed = run_experiment(load_experiment(path), part, workers=1, resume=True,
                             progress=False)
    assert (resumed["replications"], resumed["stopped"]) == (4, "half-width target met")
    assert resumed["runs"] == 2  # replication 3 of each variant, once
    pd.testing.assert_frame_equal(load_runs(part)[0].drop(columns="runtime_seconds"),
                                  load_runs(full)[0].drop(columns="runtime_seconds"))


# ------------------------------------------------------------------ a run that raises
def test_a_failed_run_is_recorded_counted_and_redone_once_on_resume(tmp_path, monkeypatch):
    """One run raises: it is recorded with its error's type and message, the other runs are
    stored, and the session counts 5 runs and 1 failure. Resumed once the cause is gone (on 2
    workers), exactly that run is made, its failure record goes (and its listing in the
    manifest), the 5 stored files keep their bytes, and the store matches an uninterrupted
    serial run of the same experiment, detail file for detail file."""
    from srmsim import model as model_module

    original = model_module.TrustModel.run
    seeds = load_experiment(_experiment(tmp_path)).seeds()

    def flaky(self, progress=None):
        if self.config.policy is not None and self.seed == seeds[1]:
            raise RuntimeError("boom in texts 1")
        return original(self, progress)

    path = _experiment(tmp_path)
    out = tmp_path / "o"
    monkeypatch.setattr(model_module.TrustModel, "run", flaky)
    summary = run_experiment(load_experiment(path), out, workers=1, progress=False)
    monkeypatch.setattr(model_module.TrustModel, "run", original)

    record = json.loads((out / "failures" / "texts" / "rep-00001.json").read_text())
    assert record["error"] == "RuntimeError: boom in texts 1" and record["seed"] == seeds[1]
    assert [f["replication"] for f in summary["failures"]] == [1] and summary["runs"] == 5
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["failed"] == [["texts", 1]]
    assert (manifest["sessions"][0]["runs"], manifest["sessions"][0]["failures"]) == (5, 1)
    before = {p.relative_to(out): p.read_bytes() for p in out.glob("runs/*/*.parquet")}
    assert len(before) == 5

    summary = run_experiment(load_experiment(path), out, workers=2, resume=True, progress=False)
    assert summary["runs"] == 1 and summary["failures"] == []
    assert not list(out.glob("failures/*/*.json"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["failed"] == []
    assert (manifest["sessions"][1]["runs"], manifest["sessions"][1]["failures"]) == (1, 0)
    after = {p.relative_to(out): p.read_bytes() for p in out.glob("runs/*/*.parquet")}
    assert len(after) == 6 and all(after[p] == b for p, b in before.items())
    runs, _, failures = load_runs_and_failures(out)
    assert failures == [] and len(runs) == 6

    full = tmp_path / "full"
    run_experiment(load_experiment(path), full, workers=1, progress=False)
    detail = [{p.relative_to(o): p.read_bytes() for p in o.glob("detail/*/*.parquet")}
              for o in (out, full)]
    assert len(detail[0]) == 12 and detail[0] == detail[1]
    pd.testing.assert_frame_equal(runs.drop(columns="runtime_seconds"),
                                  load_runs(full)[0].drop(columns="runtime_seconds"))


# ------------------------------------------------------------------ a store edited by hand
def test_deleting_the_last_replication_is_refused(finished, tmp_path):
    """The last of 3 replications deleted (run and detail): the store is refused, naming it
    (only a middle one was tested, so a check of replications 0..n-2 passed)."""
    out = _copy(finished, tmp_path)
    (out / "runs" / "texts" / "rep-00002.parquet").unlink()
    for f in (out / "detail" / "texts").glob("rep-00002-*.parquet"):
        f.unlink()
    with pytest.raises(SrmsimError, match=r"1 of 6 runs is missing, first .*texts/rep-00002"):
        load_runs(out)


@pytest.mark.parametrize("replications", [0, 4, 2.5, True])
def test_a_manifest_with_another_number_of_replications_is_refused(finished, tmp_path,
                                                                   replications):
    """Replications edited to 0 (nothing promised: a deleted run went unseen), past the seeds,
    or not a whole number: refused, naming the manifest."""
    out = _copy(finished, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["replications"] = replications
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "runs" / "texts" / "rep-00000.parquet").unlink()
    with pytest.raises(SrmsimError, match="manifest.json: its replications are not a whole "
                                          "number from 1 to the number of its seeds"):
        load_runs(out)


def test_a_failure_record_past_the_last_seed_is_refused_by_name(finished, tmp_path):
    """A failure record for replication 3 of an experiment of 3 seeds (0..2), as srmsim names
    one: refused naming it, not an IndexError traceback from looking up its seed."""
    out = _copy(finished, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    record = {"variant": "texts", "replication": 3, "seed": 1, "error": "RuntimeError: x",
              "experiment_hash": manifest["experiment_hash"]}
    (out / "failures" / "texts").mkdir(parents=True)
    (out / "failures" / "texts" / "rep-00003.json").write_text(json.dumps(record))
    with pytest.raises(SrmsimError, match=r"texts/rep-00003.json: a failure record whose seed "
                                          "is not the one manifest.json gives replication 3"):
        load_runs(out)


def test_running_a_finished_experiment_again_only_reports(finished, tmp_path):
    """The same experiment into its finished folder, without --resume: nothing is run or
    rewritten (the README's command can be repeated); an unfinished one is refused."""
    out = _copy(finished, tmp_path)
    exp = load_experiment(finished.parent / "exp.yaml")
    before = {p.relative_to(out): p.read_bytes() for p in out.glob("*/*/*.parquet")}
    summary = run_experiment(exp, out, workers=1, progress=False)
    assert summary["runs"] == 0 and summary["replications"] == 3
    assert {p.relative_to(out): p.read_bytes() for p in out.glob("*/*/*.parquet")} == before
    (out / "runs" / "texts" / "rep-00002.parquet").unlink()
    with pytest.raises(SrmsimError, match="already holds unfinished results"):
        run_experiment(exp, out, workers=1, progress=False)


# ------------------------------------------------------------------ the result read back
def _set_students(out: Path, variant: str, counts: list[int]) -> None:
    for rep, n in enumerate(counts):
        path = out / "runs" / variant / f"rep-{rep:05d}.parquet"
        df = pd.read_parquet(path)
        df["students"] = n
        df.to_parquet(path)


def test_result_students_per_run_is_the_mean_of_whole_counts(finished, tmp_path):
    """students_per_run is the mean of the runs' counts (100, 110, 130: 340/3); a negative
    count (hand-edited) is refused by name."""
    from srmsim.experiment.result import ExperimentResult

    out = _copy(finished, tmp_path)
    _set_students(out, "texts", [100, 110, 130])
    assert ExperimentResult.load(out).students_per_run("texts") == pytest.approx(340 / 3)
    _set_students(out, "texts", [100, -110, 130])
    with pytest.raises(SrmsimError, match="a run's students count is '-110', not a whole"):
        ExperimentResult.load(out).students_per_run("texts")


def test_result_weeks_are_the_mean_over_replications(finished):
    """The trust's week, per variant: the mean of the replications' weekly files (their sum
    divided by 3, read here with pandas), not their median."""
    from srmsim.experiment.result import ExperimentResult

    weeks = ExperimentResult.load(finished).weeks.set_index(["variant", "run_week"])
    files = [pd.read_parquet(finished / "detail" / "texts" / f"rep-{r:05d}-weekly.parquet")
             .set_index("run_week") for r in range(3)]
    for column in ("sessions_attended", "flags", "active_cases"):
        mean = (files[0][column] + files[1][column] + files[2][column]) / 3
        got = weeks.loc["texts", column].reindex(mean.index)
        pd.testing.assert_series_equal(got, mean, check_names=False, check_dtype=False)
    assert files[0]["flags"].sum() > 0  # the policy flags students: the weeks are not all 0


def test_result_replications_are_the_fewest_a_variant_kept(finished, tmp_path):
    """With texts' replication 1 failed, the result has 2 replications (texts' 2, not the
    baseline's 3), as its summary says."""
    from srmsim.experiment.result import ExperimentResult

    out = _copy(finished, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "runs" / "texts" / "rep-00001.parquet").unlink()
    for f in (out / "detail" / "texts").glob("rep-00001-*.parquet"):
        f.unlink()
    (out / "failures" / "texts").mkdir(parents=True)
    (out / "failures" / "texts" / "rep-00001.json").write_text(json.dumps(
        {"variant": "texts", "replication": 1, "seed": manifest["seeds"][1],
         "error": "RuntimeError: boom", "experiment_hash": manifest["experiment_hash"]}))
    manifest["failed"] = [["texts", 1]]
    (out / "manifest.json").write_text(json.dumps(manifest))
    res = ExperimentResult.load(out)
    assert res.replications == 2
    assert "2 variants x 2 replications" in res.summary()


@pytest.mark.parametrize("key,value", [("baseline", "texts"), ("outcomes", ["attendance"]),
                                       ("outcomes", ["persistent_absence", "attendance"])])
def test_a_manifest_whose_baseline_or_outcomes_were_edited_is_refused(finished, tmp_path, key,
                                                                      value):
    """The baseline edited to the other variant read every effect the wrong way round (the
    difference's sign and every verdict swapped) and an outcome taken out of the list vanished
    from the analysis, both silently: the experiment's settings the manifest keeps (checked
    against its hash) give the baseline and outcomes, so each edit is refused by name."""
    from srmsim.experiment.result import ExperimentResult

    out = _copy(finished, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["baseline"] == "none"
    manifest[key] = value
    (out / "manifest.json").write_text(json.dumps(manifest))
    message = f"manifest.json: its {key} (is|are) not the experiment's"
    with pytest.raises(SrmsimError, match=message):
        load_runs(out)
    with pytest.raises(SrmsimError, match=message):
        ExperimentResult.load(out)


def test_a_run_file_with_another_seed_is_refused(finished, tmp_path):
    """A run file whose seed was edited to another whole number (the replication and hash
    left as they were): refused, naming the file and the replication whose seed it is not."""
    out = _copy(finished, tmp_path)
    path = out / "runs" / "texts" / "rep-00001.parquet"
    df = pd.read_parquet(path)
    df["seed"] = df["seed"] + 1
    df.to_parquet(path)
    with pytest.raises(SrmsimError, match=r"texts/rep-00001.parquet: its seed is not the one "
                                          "the manifest gives replication 1"):
        load_runs(out)
