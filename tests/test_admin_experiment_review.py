"""Review of request streams (srmsim.admin) and experiments: defects found by hostile inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from srmsim.errors import ScenarioError
from srmsim.experiment.spec import experiment_from_dict

SCENARIO = {
    "name": "desk", "seed": 1, "years": 1, "trust": {"n_schools": 0},
    "requests": {"s1": {
        "arrivals": {"per_week": 20}, "deadline_days": 10,
        "steps": [{"name": "a", "role": "clerk", "minutes": 60}],
        "staff": {"clerk": {"staff": 1}}}},
}


def _experiment(tmp_path: Path, **extra) -> dict:
    (tmp_path / "desk.yaml").write_text(yaml.safe_dump(SCENARIO))
    return {"name": "e", "scenario": "desk.yaml", "baseline": "paper", "replications": 2,
            "outcomes": ["request_throughput"],
            "variants": {"paper": {}, "more": {"requests.s1.staff.clerk.staff": 2}}, **extra}


def test_a_variant_or_set_seed_that_the_replication_seeds_replace_is_refused(tmp_path: Path
                                                                             ) -> None:
    # every run takes its replication's seed (common random numbers), so a variant's seed was
    # ignored while its saved scenario claimed it: the variant ran on the baseline's numbers
    data = _experiment(tmp_path)
    data["variants"]["reseeded"] = {"seed": 3}
    with pytest.raises(ScenarioError, match=r"variants\.reseeded\.seed: .*change nothing"):
        experiment_from_dict(data, "e.yaml", tmp_path)
    # --set seed=... with the experiment's own seed: likewise replaced in every run
    with pytest.raises(ScenarioError, match=r"--set seed: .*change nothing"):
        experiment_from_dict(_experiment(tmp_path, seed=7), "e.yaml", tmp_path, {"seed": 99})
    # without the experiment's seed, the scenario's (so --set seed) is the root seed: it counts
    exp = experiment_from_dict(_experiment(tmp_path), "e.yaml", tmp_path, {"seed": 99})
    assert exp.root_seed == 99


@pytest.mark.parametrize(("text", "says"), [
    ("day\nTrue\n", r"row 2: day must be a finite number >= 0 \(got 'True'\)"),  # was day 1
    ("day,day\n1,500\n", r"needs one 'day' column"),  # the first of the two was taken
    ("day\n1,5\n", r"Expected 1 columns, got 2"),  # a decimal comma: was day 5
])
def test_arrivals_files_pandas_misread_are_refused(tmp_path: Path, text: str, says: str
                                                   ) -> None:
    from srmsim.admin.desk import read_arrival_days
    from srmsim.errors import SrmsimError

    path = tmp_path / "arrivals.csv"
    path.write_text(text)
    with pytest.raises(SrmsimError, match=says):
        read_arrival_days(path)
    path.write_text("\ufeffday\n 2.5 \n1\n")  # a BOM and spaces still read
    assert read_arrival_days(path).tolist() == [1.0, 2.5]


def _arrivals_experiment(tmp_path: Path, arrivals: str) -> dict:
    """An experiment (as a dict) of one request stream reading ``arrivals.csv`` (``arrivals``
    its text), with its scenario written beside it."""
    (tmp_path / "arrivals.csv").write_text(arrivals)
    scenario = {**SCENARIO, "requests": {"s1": {**SCENARIO["requests"]["s1"],
                                                "arrivals": {"file": "arrivals.csv"}}}}
    (tmp_path / "desk.yaml").write_text(yaml.safe_dump(scenario))
    return {"name": "e", "scenario": "desk.yaml", "baseline": "paper", "replications": 2,
            "outcomes": ["request_throughput"], "variants": {"paper": {}}}


def test_an_experiment_with_a_bad_arrivals_file_is_refused_before_any_run(tmp_path: Path
                                                                          ) -> None:
    # the file was read only inside each run: every run failed in turn and the results folder
    # was left holding a manifest and the failures
    data = _arrivals_experiment(tmp_path, "day\n1\nsoon\n")
    with pytest.raises(ScenarioError, match=r"variants\.paper\.requests\.s1\.arrivals\.file: "
                                            r".*arrivals\.csv: row 3: day must be"):
        experiment_from_dict(data, "e.yaml", tmp_path)
    (tmp_path / "arrivals.csv").write_text("day\n1\n3.5\n")
    assert experiment_from_dict(data, "e.yaml", tmp_path).variants["paper"].requests


def test_an_arrivals_file_edited_between_runs_changes_the_experiment_hash(tmp_path: Path
                                                                         ) -> None:
    # the hash covered the file's path, not what it holds: --resume after an edit mixed runs
    # of two arrival streams into one effects table, without a word
    data = _arrivals_experiment(tmp_path, "day\n1\n3.5\n")
    before = experiment_from_dict(data, "e.yaml", tmp_path).digest()
    assert experiment_from_dict(data, "e.yaml", tmp_path).digest() == before
    (tmp_path / "arrivals.csv").write_text("day\n1\n3.5\n4\n")
    assert experiment_from_dict(data, "e.yaml", tmp_path).digest() != before


@pytest.mark.parametrize("address", ["nonsense", "", "file:///etc/passwd"])
def test_a_scheduler_address_that_is_none_is_a_clear_error_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], address: str) -> None:
    # a ValueError traceback from distributed, after the results folder had been started
    pytest.importorskip("distributed")
    from srmsim.cli import main

    (tmp_path / "e.yaml").write_text(yaml.safe_dump(_experiment(tmp_path)))
    out = tmp_path / "out"
    assert main(["experiment", str(tmp_path / "e.yaml"), "--out", str(out), "--quiet",
                 "--no-report", "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert "is not a Dask scheduler's address" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("command, file", [
    ("trial", "trial_stepped_wedge.yaml"), ("optimise", "optimise_attendance.yaml")])
def test_trial_and_optimise_refuse_a_bad_scheduler_before_writing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, file: str) -> None:
    # trial made its store/ and optimise its study before the address was tried
    pytest.importorskip("distributed")
    from srmsim.cli import main

    out = tmp_path / "out"
    experiments = Path(__file__).resolve().parents[1] / "experiments"
    assert main([command, str(experiments / file), "--out", str(out), "--quiet",
                 "--scheduler", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert "is not a Dask scheduler's address" in err and "Traceback" not in err
    assert not out.exists()


def test_littles_law_gap_checks_its_arguments_as_the_other_formulas_do() -> None:
    from srmsim.admin.theory import littles_law_gap
    from srmsim.errors import SrmsimError

    # a negative rate and time made lambda W positive: a gap of 0, "the law holds"
    with pytest.raises(SrmsimError, match="arrival_rate=-1 must be non-negative"):
        littles_law_gap(1, -1, -1)
    for bad in (float("nan"), "1", True):  # NaN out, a TypeError, 1.0
        with pytest.raises(SrmsimError, match="mean_in_system="):
            littles_law_gap(bad, 1.0, 1.0)
    assert littles_law_gap(5.0, 1e200, 1e200) == -1.0  # lambda W overflowed: NaN
    assert littles_law_gap(2.5, 1.0, 2.0) == pytest.approx(0.25)


def test_request_outcomes_of_variants_without_streams_are_refused(tmp_path: Path) -> None:
    # every run was simulated, then each request outcome printed as "not measured"
    (tmp_path / "schools.yaml").write_text(yaml.safe_dump(
        {"name": "schools", "seed": 1, "trust": {"n_schools": 1}}))
    data = {"name": "e", "scenario": "schools.yaml", "baseline": "paper", "replications": 2,
            "outcomes": ["attendance", "request_throughput"],
            "variants": {"paper": {}, "desk": {"requests": SCENARIO["requests"]}}}
    with pytest.raises(ScenarioError, match=r"outcomes: request_throughput measures request "
                                            r"streams, and variant paper has none"):
        experiment_from_dict(data, "e.yaml", tmp_path)
    data["outcomes"] = ["attendance"]  # the schools' outcomes still compare the two
    assert experiment_from_dict(data, "e.yaml", tmp_path).variants["desk"].requests


@pytest.mark.parametrize("outcome", ["regret", "regret_t1", "oracle_match_fsm", "explore_share"])
def test_choice_outcomes_with_no_variant_choosing_are_refused(tmp_path: Path, outcome) -> None:
    """regret_t1 of an experiment where no step chooses among candidate actions: every run was
    simulated to print "not measured". A baseline of no policy beside a variant that chooses
    stays allowed (it reads "not measured" beside the others)."""
    import shutil

    shutil.copy(Path(__file__).parents[1] / "scenarios" / "learning.yaml", tmp_path)
    (tmp_path / "schools.yaml").write_text(yaml.safe_dump(
        {"name": "schools", "seed": 1, "trust": {"n_schools": 1}}))
    data = {"name": "e", "scenario": "schools.yaml", "baseline": "none", "replications": 2,
            "outcomes": ["attendance", outcome], "variants": {"none": {}, "also": {}}}
    with pytest.raises(ScenarioError, match=rf"outcomes: {outcome} measures the choices of a "
                                            r"step among candidate actions, and no variant"):
        experiment_from_dict(data, "e.yaml", tmp_path)
    data.update(scenario="learning.yaml", variants={"none": {"policy": None}, "learned": {}})
    assert experiment_from_dict(data, "e.yaml", tmp_path).outcomes[-1] == outcome


def test_arrivals_after_the_run_are_said_not_dropped_silently(tmp_path: Path, capsys) -> None:
    """An arrivals file of days 1, 400 and 10000 on a one-year run (273 days) made one
    arrival, exit 0, and said nothing of the other two."""
    from srmsim.cli import main

    (tmp_path / "days.csv").write_text("day\n1\n400\n10000\n")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "name": "s", "years": 1, "trust": {"n_schools": 0},
        "requests": {"cert": {"arrivals": {"file": "days.csv"}, "steps": [
            {"name": "intake", "role": "clerk", "minutes": 30}],
            "staff": {"clerk": {"staff": 1}}}}}))
    assert main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert ("note: request stream cert: 2 arrivals of its arrivals file fall on day 273 or "
            "later, after the run ends, and were not simulated") in out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["requests"]["cert"]["arrivals"] == 1
    assert summary["requests"]["cert"]["arrivals_after_run"] == 2
    (tmp_path / "days.csv").write_text("day\n1\n400\n")  # one: its verbs agree
    assert main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o1"), "--quiet"]) == 0
    assert ("note: request stream cert: 1 arrival of its arrivals file falls on day 273 or "
            "later, after the run ends, and was not simulated") in capsys.readouterr().out
    (tmp_path / "days.csv").write_text("day\n1\n2\n")  # all within: no note, no key
    assert main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o2"), "--quiet"]) == 0
    assert "note:" not in capsys.readouterr().out
    assert "arrivals_after_run" not in json.loads(
        (tmp_path / "o2" / "summary.json").read_text())["requests"]["cert"]


def test_requests_still_queued_at_the_end_cancel_nothing_when_collected(tmp_path: Path,
                                                                       monkeypatch) -> None:
    """200,000 requests queued for one clerk: the run wrote its files in 5 s and the process
    took a minute more to exit, each queued request's generator cancelling its request (a
    search of the queue) as it was collected. They now leave the queue alone."""
    import gc

    import simpy.resources.base as base

    from srmsim.model import TrustModel
    from srmsim.scenario import scenario_from_dict

    (tmp_path / "days.csv").write_text("day\n" + "1\n" * 2000)
    sc = scenario_from_dict({
        "name": "s", "years": 1, "trust": {"n_schools": 0},
        "requests": {"cert": {"arrivals": {"file": str(tmp_path / "days.csv")}, "steps": [
            {"name": "intake", "role": "clerk", "minutes": 600}],
            "staff": {"clerk": {"staff": 1}}}}}, "s.yaml")
    cancelled = []
    real = base.Put.cancel
    monkeypatch.setattr(base.Put, "cancel", lambda self: (cancelled.append(self.triggered),
                                                           real(self)))
    model = TrustModel(sc)
    model.run()
    assert model.results().summary["requests"]["cert"]["open_at_end"] > 1000
    model.release()  # as a worker does (Mesa < 3.4 keeps a model alive otherwise)
    del model
    gc.collect()
    assert cancelled.count(False) == 0
