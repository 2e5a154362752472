"""Helper 245: a newcomer's walk and a hostile sweep of scenario files (an action's errors in
the scenario's own words, the trial's "wrote" line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli_refuses, tiny_policy_scenario

from srmsim.cli import main
from srmsim.yamlio import dump_yaml


def _scenario_with_action(tmp: Path, action: dict) -> Path:
    data = tiny_policy_scenario()
    data["policy"]["actions"] = {"club": action}
    data["policy"]["workflows"]["attendance"]["steps"] = [{"action": "club", "weeks": 3}]
    path = tmp / "s.yaml"
    path.write_text(dump_yaml(data))
    return path


@pytest.mark.parametrize(("action", "said"), [
    # pydantic's "Extra inputs are not permitted": no word of the key meant
    ({"effect": {"readin": 3.0}}, "policy.actions.club.effect.readin: unknown key: did you "
                                  "mean 'reading'?"),
    # its bound without the value given
    ({"effect": {"reading": 1e300}}, "policy.actions.club.effect.reading: Input should be less "
                                     "than or equal to 1000 (got 1e+300)"),
    # a key that does not exist, given a non-finite value: the key is what is wrong
    ({"cost_per_wek": float("nan")}, "policy.actions.club.cost_per_wek: unknown key: did you "
                                     "mean 'cost_per_week'?"),
    # a check of the whole action still names the action
    ({"automated": True, "staff_minutes": {"pastoral": 5}},
     "policy.actions.club: an automated action uses no staff minutes"),
])
def test_an_action_error_is_in_the_scenario_words(tmp_path, capsys, action, said):
    """A new action's (or a catalogue action's changed) fields were checked with pydantic's raw
    messages: `effect: {readin: 3}` was "Extra inputs are not permitted" where every other key
    of a scenario says "unknown key: did you mean 'reading'?"."""
    path = _scenario_with_action(tmp_path, action)
    for command in ("validate", "run"):
        argv = [command, str(path)] + (["--out", str(tmp_path / "o"), "--quiet"]
                                       if command == "run" else [])
        err = cli_refuses(capsys, argv, contains=f"{path}: {said}")
        assert "Extra inputs" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("text", "said"), [
    ("scenario: s.yaml\nrandomize: {unit: students}\noutcome: attendance\n",
     "'randomize' is not a key: did you mean 'randomise'? (it makes this a trial file)"),
    ("scenario: s.yaml\nbaseline: a\nvariant: {a: {}, b: {}}\n",
     "'variant' is not a key: did you mean 'variants'? (it makes this an experiment file)"),
    ("scenario: s.yaml\nbaseline: a\n",
     "has 'scenario:', the key by which a study names its scenario, but none of 'variants:'"),
])
def test_a_study_file_without_its_kind_is_not_read_as_a_scenario(tmp_path, capsys, text, said):
    """A trial written with `randomize:` (or an experiment with `variant:`) has none of the keys
    that tell a study's kind, so `srmsim validate` and `run` read it as a scenario and listed
    `scenario`, `randomize` and `outcome` as unknown keys: the one key misspelt was not named."""
    (tmp_path / "s.yaml").write_text("name: s\n")
    study = tmp_path / "study.yaml"
    study.write_text("name: study\n" + text)
    for argv in (["validate", str(study)], ["run", str(study), "--out", str(tmp_path / "o")]):
        err = cli_refuses(capsys, argv, contains=f"{study}: {said}")
        assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


#: each kind of study of a learned-chooser scenario ``s.yaml``, and the scenario's key its
#: refusal names
LEARNED_STUDIES = {
    "experiment": ({"name": "e", "scenario": "s.yaml", "baseline": "none", "replications": 2,
                    "outcomes": ["attendance"],
                    "variants": {"none": {"policy": None}, "learned": {}}},
                   "variants.learned.policy"),
    "trial": ({"name": "t", "scenario": "s.yaml", "randomise": {"unit": "schools"},
               "outcome": "attendance_rate", "replications": 2,
               "overrides": {"trust.n_schools": 4}}, "scenario: policy"),
    "optimise": ({"name": "o", "scenario": "s.yaml", "replications": 1,
                  "levers": {"policy.parameters.attendance_threshold": {"low": 0.85,
                                                                        "high": 0.95}},
                  "objectives": {"attendance": "maximise"}, "search": {"trials": 2, "batch": 2},
                  "reevaluate": {"replications": 2, "front_max": 1}}, "scenario: policy"),
}


@pytest.mark.parametrize("command", list(LEARNED_STUDIES))
def test_a_learned_chooser_without_scikit_learn_is_refused_before_the_study(
        tmp_path, capsys, monkeypatch, command):
    """Without scikit-learn (a `[notebooks]`-only install did not have it), every run of a
    variant with a learned chooser failed in turn, and the experiment stopped with "6 runs
    failed (errors in failures/)" and a results folder of failures; each of a trial's
    replications failed too ("2 failed (see trial_runs.csv, column error)"), and an
    optimisation named the scenario's chooser as a lever's ("levers: policy.workflows...").
    Each is refused at once by the experiment's check, naming the step; nothing written."""
    import importlib.util

    data = tiny_policy_scenario()
    data["policy"]["rules"]["low_attendance"]["cadence"] = "termly"
    data["policy"]["workflows"]["attendance"]["steps"] = [{
        "candidates": ["parent_text", "parent_meeting"], "weeks": 3,
        "chooser": {"kind": "learned", "measure": "attendance_rate", "target": "absence",
                    "features": ["fsm", "attendance_rate"]}}]
    (tmp_path / "s.yaml").write_text(dump_yaml(data))
    spec, key = LEARNED_STUDIES[command]
    study = tmp_path / f"{command}.yaml"
    study.write_text(dump_yaml(spec))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "sklearn" else real(name, *a))
    out = tmp_path / "o"
    said = (f"{study}: {key}.workflows.attendance.steps[0].chooser: a learned chooser needs "
            "scikit-learn")
    err = cli_refuses(capsys, [command, str(study), "--out", str(out), "--quiet",
                               "--workers", "1"], contains=said)
    assert len(err.strip().splitlines()) == 1 and "levers" not in err, err
    assert not out.exists()
    cli_refuses(capsys, ["validate", str(study)], contains=said)
    monkeypatch.setattr(importlib.util, "find_spec", real)  # installed: the file is valid
    assert main(["validate", str(study)]) == 0


def test_validate_prints_at_most_twenty_notes(tmp_path, capsys):
    """A policy of 30,000 parameters no rule reads printed 30,000 "note:" lines: the first 20
    now, then how many more."""
    data = tiny_policy_scenario()
    data["policy"]["parameters"].update({f"unread{i}": i for i in range(25)})
    path = tmp_path / "s.yaml"
    path.write_text(dump_yaml(data))
    assert main(["validate", str(path)]) == 0
    notes = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("note:")]
    assert len(notes) == 21, notes
    assert notes[0] == ("note: policy.parameters.unread0 is read by no rule, goal, priority or "
                        "chooser (a misspelt name?)")
    assert notes[-1] == "note: ... and 5 more notes like these"


@pytest.mark.parametrize(("key", "value", "said"), [
    ("schools", [0, 0], "a school is given more than once"),
    ("years", [8, 9, 8], "a year group is given more than once")])
def test_a_rules_school_or_year_group_is_given_once(tmp_path, capsys, key, value, said):
    """`dynamics.withdrawal_years` and `trust.year_groups` refuse a repeat; a rule's `schools:
    [0, 0]` (or 50,000 zeros, parsed and kept) and `years` did not."""
    data = tiny_policy_scenario()
    data["policy"]["rules"]["low_attendance"][key] = value
    path = tmp_path / "s.yaml"
    path.write_text(dump_yaml(data))
    cli_refuses(capsys, ["validate", str(path)],
                contains=f"{path}: policy.rules.low_attendance.{key}: {said}")


@pytest.mark.parametrize(("text", "path", "said"), [
    ("name: t\ntrust.n_schools: 4\n", "trust.n_schools",
     "(trust: then n_schools: indented under it)"),
    ("name: t\npolicy.workflows.w.enabled: false\n", "policy.workflows.w.enabled",
     "(policy: then workflows:, w:, enabled: each indented under the one before)"),
])
def test_a_dotted_key_in_a_file_is_told_to_be_nested(tmp_path, capsys, text, path, said):
    """`trust.n_schools: 4` written in a scenario file as --set and an experiment's variants
    write it was "trust.n_schools: unknown key (check the spelling ...)": the spelling was
    right. A dotted key that is no key (`trust.n_shools`) is still unknown."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text)
    cli_refuses(capsys, ["validate", str(scenario)],
                contains=f"{scenario}: {path}: dotted keys are for --set and an experiment's "
                         f"variants: elsewhere in a file, nest the names {said}")
    scenario.write_text("name: t\ntrust.n_shools: 4\n")
    cli_refuses(capsys, ["validate", str(scenario)],
                contains=f"{scenario}: trust.n_shools: unknown key")


@pytest.mark.parametrize(("text", "path"), [
    ('name: t\n"": 1\n', "''"), ('name: t\ntrust: {"": 1}\n', "trust.''"),
    ('name: t\n"trust ": {n_schools: 2}\n', "'trust '")])
def test_an_empty_or_spaced_key_is_shown_in_quotes(tmp_path, capsys, text, path):
    """An empty key was "s.yaml: unknown key" (no key named) or "trust.: unknown key", and
    `"trust "` showed as "trust : ...", its space unseen."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text)
    cli_refuses(capsys, ["validate", str(scenario)], contains=f"{scenario}: {path}: unknown key")


def test_an_arrivals_file_counts_in_the_size_checks_before_runs(tmp_path, capsys, monkeypatch):
    """The size of a run counted a request stream's `per_week` arrivals, not its arrivals
    file's: `srmsim validate` called a scenario whose file holds more requests than memory
    does valid with no warning, and an experiment started, each run then refused in turn."""
    import srmsim.memory as memory

    days = tmp_path / "days.csv"
    days.write_text("day\n" + "".join(f"{d % 270}\n" for d in sorted(range(2000))))
    (tmp_path / "s.yaml").write_text(dump_yaml({
        "name": "c", "trust": {"n_schools": 0}, "requests": {"cert": {
            "arrivals": {"file": "days.csv"}, "steps": [
                {"name": "intake", "role": "clerk", "minutes": 30}],
            "staff": {"clerk": {"staff": 1}}}}}))
    have = memory.run_bytes(0, 0, 100, 100)  # room for 100 requests, not 2,000
    monkeypatch.setattr(memory, "available_bytes", lambda: have)
    assert main(["validate", str(tmp_path / "s.yaml")]) == 0
    assert "warning: too big for this machine: scenario 'c' simulates about 2,000 requests" \
        in capsys.readouterr().out
    study = tmp_path / "e.yaml"
    study.write_text(dump_yaml({"name": "e", "scenario": "s.yaml", "baseline": "a",
                                "replications": 2, "outcomes": ["request_throughput"],
                                "variants": {"a": {}, "b": {}}}))
    out = tmp_path / "o"
    cli_refuses(capsys, ["experiment", str(study), "--out", str(out), "--quiet", "--workers",
                         "1"], contains="simulates about 2,000 requests")
    assert not out.exists()
