"""Scenario, trial and optimisation files that ran while part of them changed nothing, or that
`validate` called valid and the run then refused (found by probing them, 2026-12-06).

Seeds a search or trial replaces, a misspelt policy parameter, a rule scoped to year groups the
trust does not have, missing input files, loose numbers and an examples copy into a folder of
other files: each is now refused before anything is written, naming the file's own key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import tiny_policy_scenario

from srmsim.cli import main
from srmsim.errors import ScenarioError
from srmsim.scenario import scenario_from_dict


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "tiny.yaml", tiny_policy_scenario(
        trust={"n_schools": 1, "students_per_year_group": 10}))


def _optimisation(tmp_path: Path, **extra) -> Path:
    data = {"name": "oo", "scenario": "tiny.yaml", "replications": 1, "seed": 11,
            "levers": {"policy.parameters.attendance_threshold": {"low": 0.85, "high": 0.96}},
            "objectives": {"attendance": "maximise", "staff_hours": "minimise"},
            "search": {"sampler": "nsga2", "trials": 2, "batch": 2},
            "reevaluate": {"replications": 2, "front_max": 1}}
    return _write(tmp_path / "opt.yaml", {**data, **extra})


# ------------------------------------------------------------ seeds the runs would not use
@pytest.mark.parametrize(("extra", "key"), [
    ({"levers": {"seed": {"low": 0, "high": 100, "integer": True}}}, "levers.seed"),
    ({"baseline": {"seed": 5}}, "baseline.seed"),
    ({"overrides": {"seed": 5}}, "overrides.seed")])
def test_an_optimisation_seed_the_search_replaces_is_refused_before_writing(
        tmp_path, capsys, scenario_file, extra, key):
    path = _optimisation(tmp_path, **extra)
    err = _error(capsys, ["validate", str(path)])
    assert f"{key}: the search's replication seeds" in err
    out = tmp_path / "out"
    err = _error(capsys, ["optimise", str(path), "--out", str(out), "--workers", "1"])
    assert key in err and not out.exists()  # optimise.json and study.db were left behind


def test_overrides_seed_without_the_search_seed_is_the_search_seed(tmp_path, capsys,
                                                                   scenario_file):
    data = yaml.safe_load(_optimisation(tmp_path, overrides={"seed": 5}).read_text())
    del data["seed"]
    path = _write(tmp_path / "opt.yaml", data)
    assert main(["validate", str(path)]) == 0


@pytest.mark.parametrize("how", ["overrides", "--set"])
def test_a_trial_seed_its_own_seed_replaces_is_refused(tmp_path, capsys, scenario_file, how):
    trial = {"name": "t", "scenario": "tiny.yaml", "randomise": {"unit": "students"},
             "outcome": "attendance_rate", "replications": 2, "seed": 3}
    if how == "overrides":
        trial["overrides"] = {"seed": 12345}
    path = _write(tmp_path / "trial.yaml", trial)
    argv = ["trial", str(path), "--out", str(tmp_path / "out"), "--workers", "1", "--no-report"]
    err = _error(capsys, argv + (["--set", "seed=777"] if how == "--set" else []))
    key = "overrides.seed" if how == "overrides" else "--set seed"
    assert f"{key}: the trial's seed: gives every replication its seed" in err
    assert not (tmp_path / "out").exists()


def test_run_refuses_a_seed_given_twice_and_seeds_not_in_digits(tmp_path, capsys):
    out = str(tmp_path / "out")
    err = _error(capsys, ["run", "--out", out, "--quiet", "--seed", "6", "--set", "seed=5"])
    assert "the seed is given twice (--seed and --set seed=)" in err
    for text in ("1_000", "\u0663", "1e3"):
        with pytest.raises(SystemExit) as stop:  # argparse's own usage error
            main(["run", "--out", out, "--quiet", "--seed", text])
        assert stop.value.code == 2
        assert "is not a whole number" in capsys.readouterr().err
    assert not Path(out).exists()


# ------------------------------------------------------------ parameters nothing reads
def test_a_misspelt_policy_parameter_override_is_named(tmp_path, capsys, scenario_file):
    out = str(tmp_path / "out")
    err = _error(capsys, ["run", str(scenario_file), "--out", out, "--quiet", "--set",
                          "policy.parameters.attendance_treshold=0.95"])
    assert "policy.parameters.attendance_treshold: no rule, goal or priority of the policy " \
           "reads this parameter" in err
    path = _optimisation(tmp_path, levers={"policy.parameters.newp": {"low": 0, "high": 1}})
    assert "levers: policy.parameters.newp: no rule" in _error(capsys, ["validate", str(path)])
    # read by a rule the same overrides add: fine
    scenario = scenario_from_dict(tiny_policy_scenario())
    changed = scenario.with_overrides({"policy.parameters.cut": 0.8,
                                       "policy.rules.low_attendance.when": "attendance_rate < cut"})
    assert changed.policy.parameters["cut"] == 0.8


def test_validate_notes_a_parameter_of_the_file_that_nothing_reads(tmp_path, capsys):
    data = tiny_policy_scenario()
    data["policy"]["parameters"]["attendance_treshold"] = 0.95
    path = _write(tmp_path / "s.yaml", data)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "note: policy.parameters.attendance_treshold is read by no rule" in out
    assert "attendance_threshold is read" not in out


def test_validate_notes_an_action_no_workflow_step_uses(tmp_path, capsys):
    """``mentorng: {take_up: 0.5}`` made a new action and left mentoring as it was: every run
    the same as without the change, and validate said nothing."""
    data = tiny_policy_scenario()
    used = data["policy"]["workflows"]["attendance"]["steps"][0]["action"]
    data["policy"]["actions"] = {used[:-1] + "x" + used[-1]: {"take_up": 0.5},
                                 "reading_club": {"take_up": 0.5}, used: {"take_up": 0.7}}
    path = _write(tmp_path / "s.yaml", data)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert (f"note: policy.actions.{used[:-1]}x{used[-1]} is a new action no workflow step "
            f"uses; did you mean {used!r}?") in out
    assert "note: policy.actions.reading_club changes a catalogue action no workflow step" in out
    assert f"policy.actions.{used} " not in out and out.count("note:") == 2


# ------------------------------------------------------------ scopes and numbers
def test_a_rule_scoped_to_year_groups_the_trust_lacks_is_refused():
    data = tiny_policy_scenario()
    data["policy"]["rules"]["low_attendance"]["years"] = [1, 7]
    with pytest.raises(ScenarioError, match=r"policy.rules.low_attendance.years: year groups "
                                            r"\[1\] are not year groups of the trust \(7 to 11"):
        scenario_from_dict(data)
    data["policy"]["rules"]["low_attendance"]["years"] = [7, 11]
    assert scenario_from_dict(data).policy.rules["low_attendance"].years == [7, 11]


@pytest.mark.parametrize("years", [[-5, 12], [1000], [2**70], [12, 12]])
def test_withdrawal_years_are_year_groups(years):
    with pytest.raises(ScenarioError, match="dynamics.withdrawal_years"):
        scenario_from_dict({"dynamics": {"withdrawal_years": years}})


@pytest.mark.parametrize("key", ["1_0", " 1", "1.0", "+1", 1.0])
def test_per_school_staff_keys_are_digits(key):
    data = tiny_policy_scenario(trust={"n_schools": 12})
    data["policy"]["staff"]["per_school"] = {key: {"pastoral": 50}}
    with pytest.raises(ScenarioError, match="is not a whole number written with the digits"):
        scenario_from_dict(data)
    data["policy"]["staff"]["per_school"] = {"10": {"pastoral": 50}}
    assert list(scenario_from_dict(data).policy.staff.per_school) == [10]


# ------------------------------------------------------------ input files and folders
def test_validate_reads_a_scenarios_arrivals_files(tmp_path, capsys):
    data = {"name": "req", "trust": {"n_schools": 0}, "requests": {"cert": {
        "arrivals": {"file": "nope.csv"}, "steps": [{"name": "intake", "role": "clerk",
                                                     "minutes": 30}],
        "staff": {"clerk": {"staff": 1}}}}}
    path = _write(tmp_path / "req.yaml", data)
    err = _error(capsys, ["validate", str(path)])
    assert (f"requests.cert.arrivals.file: {tmp_path / 'nope.csv'}: file not found (the "
            "arrivals file)") in err
    (tmp_path / "nope.csv").write_text("day\n1\n3\n")
    assert main(["validate", str(path)]) == 0


def test_examples_refuse_a_folder_of_other_files(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    err = _error(capsys, ["examples", str(mine)])
    assert "holds files other than the examples' folders (e.g. notes.txt)" in err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    (mine / "notes.txt").unlink()
    (mine / ".git").mkdir()  # hidden entries are a project's own, not in the way
    assert main(["examples", str(mine)]) == 0


@pytest.mark.parametrize("argv", [
    ["run", "--threads"], ["experiment", "e.yaml", "--workers"], ["data", "summary", "d", "--threshold"],
    ["thresholds", "f.csv", "--score", "s", "--outcome", "y", "--n-boot"],
    ["data", "anonymise", "d", "--out", "o", "--k"], ["calibrate", "d", "--max-evals"],
    ["discover", "d", "--box"], ["trial", "t.yaml", "--replications"], ["dashboard", "--port"]])
def test_whole_number_options_take_digits_only(tmp_path, capsys, argv):
    """--seed alone was narrowed to digits: the other whole-number options took Python's
    int() spellings ('1_000', an Arabic-Indic 3) as numbers."""
    for text in ("1_000", "\u0663", "1e3", "9" * 5000):
        with pytest.raises(SystemExit) as stop:  # argparse's own usage error
            main([*argv, text])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "is not a whole number" in err or "is too large" in err, err
        assert "Traceback" not in err


@pytest.mark.parametrize("setting, path", [
    ("trust.year_groups.0=9", "trust.year_groups"),
    ("policy.workflows.attendance.steps.0.weeks=5", "policy.workflows.attendance.steps")])
def test_a_list_item_set_alone_is_told_to_give_the_list(tmp_path, capsys, setting, path):
    """--set trust.year_groups.0=9 answered pydantic's "Input should be a valid list"."""
    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "attendance_escalation_small.yaml"
    err = _error(capsys, ["run", str(scenario), "--out", str(tmp_path / "o"), "--quiet",
                          "--set", setting])
    assert f"a list is given whole, not item by item ({path}.0=...)" in err, err
    assert not (tmp_path / "o").exists()
