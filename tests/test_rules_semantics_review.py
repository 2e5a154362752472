"""Regression tests from a review of the rule language's semantics and its error messages on
hostile scenario files: each failed before its fix (srmsim/policy/compiled.py, rules.py)."""

from __future__ import annotations

import pytest

from srmsim.cli import main
from srmsim.errors import ScenarioError
from srmsim.policy.compiled import compile_policy
from srmsim.policy.config import PolicyConfig


def _policy(**sections) -> PolicyConfig:
    return PolicyConfig.model_validate({"rules": {"low": "attendance_rate < 0.9"}, **sections})


@pytest.mark.parametrize("name, says", [
    ("fsm", "parameter 'fsm' has the same name as a field or window"),
    ("count", "parameter name 'count' is reserved"),
    ("and", "parameter name 'and' is reserved"),
    ("pooled_risk", "has the same name as a field or window"),
    ("a.b", "is not a valid name"),
])
def test_a_parameter_a_rule_cannot_use_is_refused_naming_the_file_and_key(name, says):
    # it was a bare "invalid rule vocabulary: ..." naming neither the file nor the key path
    with pytest.raises(ScenarioError) as err:
        compile_policy(_policy(parameters={name: 1}), "s.yaml")
    assert str(err.value).startswith(f"s.yaml: policy.parameters.{name}: ")
    assert says in str(err.value)


def test_validate_names_the_file_of_a_parameter_named_like_a_field(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("policy:\n  parameters: {fsm: 1}\n"
                    "  rules: {low: 'attendance_rate < 0.9'}\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: policy.parameters.fsm: parameter 'fsm'" in err
    assert "Traceback" not in err


def test_a_goal_using_an_invalid_rule_says_so_not_that_the_rule_is_unknown():
    # the goal read "'at_risk' (column 5) is not a known field, parameter or function", and a
    # priority using only valid rules was refused the same way, because a broken rule left
    # the goals no rules at all
    config = PolicyConfig.model_validate({
        "rules": {"late": "on_time_rate(4) < 0.6", "at_risk": "count(late) >= __bad"},
        "workflows": {"dropout": {
            "trigger": "at_risk", "priority": "count(late)",
            "steps": [{"action": "interview", "goal": "not at_risk"}]}},
        "staff": {"school": {"pastoral": 450}},
    })
    with pytest.raises(ScenarioError) as err:
        compile_policy(config, "s.yaml")
    problems = dict(err.value.problems)
    assert set(problems) == {"policy.rules.at_risk", "policy.workflows.dropout.steps[0].goal"}
    assert problems["policy.workflows.dropout.steps[0].goal"] == (
        "rule 'dropout_step1_goal': 'at_risk' (column 5) is a rule that is invalid "
        "(see its own error)")
