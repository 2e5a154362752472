"""Helper 245: a newcomer's walk and a hostile sweep of scenario files (an action's errors in
the scenario's own words, the trial's "wrote" line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli_refuses, tiny_policy_scenario

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
