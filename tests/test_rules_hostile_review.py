"""Regression tests from a review of the rule language against hostile and edge-case input:
each one failed (silently wrong value or wrong refusal) before its fix in srmsim/policy/rules.py."""

from __future__ import annotations

import numpy as np
import pytest

from srmsim.errors import RuleError
from srmsim.policy.compiled import compile_policy
from srmsim.policy.config import PolicyConfig
from srmsim.policy.rules import (
    ArrayContext,
    FieldSpec,
    Vocabulary,
    evaluate_rules,
    parse_rule,
    parse_rules,
    parse_score,
)

VOCAB = Vocabulary(
    fields={"x": FieldSpec("number"), "flag": FieldSpec("bool"), "other": FieldSpec("bool")},
    windows={"w": FieldSpec("number")},
    parameters={"span": 3},
)


def test_a_comment_ends_at_its_line_and_does_not_swallow_the_rest_of_the_rule():
    # a YAML block scalar with a comment line: joining the lines made "and other" a comment
    text = "x < 1  # low\nand other"
    ctx = ArrayContext({"x": np.array([0.0, 0.0, 2.0]), "other": np.array([True, False, True])})
    rule = parse_rule("r", text, VOCAB)
    assert rule.canonical == "((x < 1) and other)"
    assert rule.evaluate(ctx).tolist() == [True, False, False]
    assert parse_rules({"r": text}, VOCAB)["r"].fields == {"x", "other"}
    with pytest.raises(RuleError, match=r"rule 'r': is empty"):
        parse_rule("r", "# nothing but a comment", VOCAB)


def test_column_of_an_error_after_a_comment_is_still_right():
    with pytest.raises(RuleError, match=r"'zz' \(column 19\)"):
        parse_rule("r", "x < 1 # é note\nor zz", VOCAB)


@pytest.mark.parametrize("text", ["x > 4294967296 * 4294967296",
                                  "x > 0 - 4294967296 * -4294967296"])
def test_constant_integer_overflow_is_refused_not_wrapped_to_a_small_number(text):
    # int64 wrapped 2**32 * 2**32 to 0 without a warning: the rule read "x > 0"
    with pytest.raises(RuleError, match=r"rule 'r': a constant part of the rule works out beyond"):
        parse_rule("r", text, VOCAB)


def test_constant_float_overflow_message_does_not_speak_of_integers():
    with pytest.raises(RuleError, match=r"overflows \(too large a number\)"):
        parse_rule("r", "x > 1e308 * 10", VOCAB)


def test_integer_arithmetic_does_not_wrap_around():
    big = np.array([1024, 3, -5, 0], dtype=np.int64)
    ctx = ArrayContext({"x": big})
    # 1024 * 2**53 = 2**63 wrapped to -2**63 in int64
    assert parse_rule("r", "x * 9007199254740992 > 0", VOCAB).evaluate(ctx).tolist() == [
        True, True, False, False]
    got = parse_score("s", "x * 9007199254740992", VOCAB).evaluate(ctx)
    assert got.tolist() == [2.0**63, 3 * 2.0**53, -5 * 2.0**53, 0.0]
    assert not np.signbit(got[3])  # an integer zero stays +0
    near = ArrayContext({"x": np.array([2**62, 1], dtype=np.int64)})
    assert parse_rule("r", "x + x > 0", VOCAB).evaluate(near).tolist() == [True, True]
    # no overflow: exact integers, as before (2**53 + 1 is not a float64)
    exact = ArrayContext({"x": np.array([2**53, 0], dtype=np.int64)})
    assert parse_rule("r", "x + 1 > 9007199254740992", VOCAB).evaluate(exact).tolist() == [
        True, False]


def test_whole_number_float_parameter_is_a_window_length():
    # a scenario's parameters are floats: YAML `weeks: 4` arrived as 4.0 and was refused
    vocab = VOCAB.with_parameters({"weeks": 4.0})
    rule = parse_rule("r", "w(weeks) < 0.9", vocab)
    assert rule.windows == {("w", 4)}
    assert rule.canonical == "(w(weeks) < 0.9)"
    with pytest.raises(RuleError, match=r"'half' \(column 3\) is 0.5, but w\(\) takes"):
        parse_rule("r", "w(half) < 0.9", VOCAB.with_parameters({"half": 0.5}))


def test_scenario_window_length_parameter_from_yaml():
    config = PolicyConfig.model_validate({
        "parameters": {"weeks": 4},
        "rules": {"low": "attendance(weeks) < 0.9"},
    })
    policy = compile_policy(config, "s.yaml")
    assert policy.rules["low"].windows == {("attendance", 4)}


def test_goals_and_priorities_of_a_workflow_named_with_a_dash_compile():
    # a workflow label may hold '-'; its goal was parsed as rule 'attendance-v2_step1_goal' and
    # refused as "not a valid name"
    config = PolicyConfig.model_validate({
        "rules": {"low": "attendance_rate < 0.9"},
        "workflows": {"attendance-v2": {
            "trigger": "low", "priority": "-attendance(4)",
            "steps": [{"action": "parent_text", "goal": "attendance(3) >= 0.9"}]}},
    })
    policy = compile_policy(config, "s.yaml")
    assert policy.workflows[0].steps[0].goal.canonical == "(attendance(3) >= 0.9)"


def test_a_priority_may_use_the_rule_its_label_is_named_like():
    # the priority of workflow "wf" is labelled "wf_priority"; a rule of that name is not "itself"
    rules = parse_rules({"wf_priority": "x > 1"}, VOCAB)
    score = parse_score("wf_priority", "count(wf_priority) * 2", VOCAB, rules=rules)
    ctx = ArrayContext({"x": np.array([0.0, 2.0])})
    assert score.evaluate(ctx).tolist() == [0.0, 2.0]
    with pytest.raises(RuleError, match=r"refers to the rule itself"):
        parse_rules({"a": "a and flag"}, VOCAB)  # within a scenario's rules it still is


def test_counts_of_the_same_text_with_different_window_lengths_are_not_shared():
    a = parse_rule("a", "count(w(span) > 0.5) >= 1", VOCAB)
    b = parse_rule("b", "count(w(span) > 0.5) >= 1", VOCAB.with_parameters({"span": 4}))
    ctx = ArrayContext({}, {("w", 3): np.array([0.9, 0.1]), ("w", 4): np.array([0.1, 0.9])})
    got = evaluate_rules({"a": a, "b": b}, ctx, 2)
    assert got["a"].tolist() == [True, False]
    assert got["b"].tolist() == [False, True]



@pytest.mark.parametrize("value", [2**53 + 1, -(2**53) - 1, 10**30, np.int64(2**53 + 1),
                                   np.uint64(2**63)])
def test_a_whole_number_parameter_beyond_2_53_is_refused_not_rounded(value):
    # pydantic's float | bool field turned 2**53 + 1 into the float 2**53, which rules then
    # compared with, without a word; 2**53 itself is exact and stays
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="parameter 'k' is beyond 2\\*\\*53"):
        PolicyConfig.model_validate({"parameters": {"k": value}})
    assert PolicyConfig.model_validate({"parameters": {"k": 2**53}}).parameters["k"] == 2**53


@pytest.mark.parametrize("text", ["x < 1e-400", "x < -0.5e-999", "x >= 1_0e-500",
                                  "x < 1e-200 * 1e-200", "x < 1e-200 / 1e200"])
def test_a_number_below_every_float_is_refused_not_read_as_zero(text):
    # 1e400 was refused as not finite, 1e-400 quietly became 0
    with pytest.raises(RuleError, match=r"is too small: it reads as 0|works out below every "
                       r"float \(it reads as 0\)"):
        parse_rule("r", text, VOCAB)


@pytest.mark.parametrize("text", ["x < 0.0", "x < 0e5", "x < 00.000", "x < 1e-310",
                                  "x < 0 * 1e-200", "x < 1e-100 * 1e-100"])
def test_zero_written_any_way_and_tiny_numbers_are_numbers(text):
    parse_rule("r", text, VOCAB)
