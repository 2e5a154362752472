"""Tests for the risk-rule language: exact results, rejections, and property tests against an
independent scalar reference evaluator."""

from __future__ import annotations

import ast
import builtins
import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import srmsim.policy.rules as rules_module
from srmsim.errors import DataError, RuleError, SrmsimError
from srmsim.policy.rules import (
    MAX_DEPTH,
    MAX_RULE_LENGTH,
    ArrayContext,
    FieldSpec,
    Rule,
    Vocabulary,
    describe_vocabulary,
    evaluate_rules,
    parse_rule,
    parse_rules,
)

# ---------------------------------------------------------------------------------------------
# A small vocabulary and a dict-backed context that counts how often it is asked for data.

VOCAB = Vocabulary(
    fields={
        "x": FieldSpec("number", "a float field that may hold NaN"),
        "y": FieldSpec("number", "another float field"),
        "k": FieldSpec("number", "an integer field"),
        "flag": FieldSpec("bool", "a true/false field"),
        "other": FieldSpec("bool", "another true/false field"),
    },
    windows={
        "w": FieldSpec("number", "a numeric measure over the last n weeks"),
        "absent": FieldSpec("bool", "absent at least once in the last n weeks"),
    },
    parameters={"t": 0.5, "m": 2, "on": True, "span": 3},
    max_window=13,
)


class CountingContext:
    """Dict-backed RuleContext that records every call, to prove evaluation is vectorised."""

    def __init__(self, fields, windows=None, parameters=None):
        self.fields = fields
        self.windows = windows or {}
        self.parameters = dict(VOCAB.parameters) if parameters is None else parameters
        self.calls: dict[tuple, int] = {}

    def _count(self, key):
        self.calls[key] = self.calls.get(key, 0) + 1

    def field(self, name):
        self._count(("field", name))
        return self.fields[name]

    def window(self, name, n):
        self._count(("window", name, n))
        return self.windows[(name, n)]

    def parameter(self, name):
        self._count(("parameter", name))
        return self.parameters[name]


NAN = float("nan")


def ctx_of(**fields):
    windows = fields.pop("windows", {})
    parameters = fields.pop("parameters", None)
    return CountingContext(
        {k: np.asarray(v) for k, v in fields.items()},
        {k: np.asarray(v) for k, v in windows.items()},
        parameters,
    )


def run(text: str, ctx, size=None) -> list[bool]:
    result = parse_rule("r", text, VOCAB).evaluate(ctx, size)
    assert result.dtype == np.bool_
    return result.tolist()


# ---------------------------------------------------------------------------------------------
# Exact results on hand-built arrays


X = [0.1, 0.5, 0.9, NAN]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x < 0.5", [True, False, False, False]),
        ("x <= 0.5", [True, True, False, False]),
        ("x > 0.5", [False, False, True, False]),
        ("x >= 0.5", [False, True, True, False]),
        ("x == 0.5", [False, True, False, False]),
        ("x != 0.5", [True, False, True, True]),  # NaN != anything is true (IEEE)
        ("not (x >= 0.5)", [True, False, False, True]),  # ...so is "not >=" on NaN
        ("0.1 < x <= 0.9", [False, True, True, False]),  # chained
        ("0.1 <= x < 0.9 != 0.5", [True, True, False, False]),
        ("x < t", [True, False, False, False]),  # parameter
    ],
)
def test_comparisons(text, expected):
    assert run(text, ctx_of(x=X)) == expected


def test_logic_and_precedence():
    ctx = ctx_of(flag=[True, True, False, False], other=[True, False, True, False])
    assert run("flag and other", ctx) == [True, False, False, False]
    assert run("flag or other", ctx) == [True, True, True, False]
    assert run("not flag", ctx) == [False, False, True, True]
    # `not` binds tighter than `and`, `and` tighter than `or`.
    assert run("not flag and other", ctx) == [False, False, True, False]
    assert run("not (flag and other)", ctx) == [False, True, True, True]
    assert run("flag or other and false", ctx) == [True, True, False, False]
    assert run("(flag or other) and false", ctx) == [False] * 4
    assert run("flag == other", ctx) == [True, False, False, True]
    assert run("flag != True", ctx) == [False, False, True, True]
    assert run("flag and on", ctx) == [True, True, False, False]


def test_arithmetic_and_precedence():
    ctx = ctx_of(x=[1.0, 2.0, 3.0], y=[4.0, 0.0, -1.0], k=np.array([1, 2, 3]))
    assert run("1 + 2 * x == 2 * x + 1", ctx) == [True] * 3
    assert run("1 + 2 * x == 3", ctx) == [True, False, False]  # not (1 + 2) * x
    assert run("x - y - 1 == (x - y) - 1", ctx) == [True] * 3
    assert run("x - y - 1 == -4", ctx) == [True, False, False]  # left associative
    assert run("x / y * 4 == 1", ctx) == [True, False, False]
    assert run("-x * 2 == -2", ctx) == [True, False, False]
    assert run("-(x - 5) > 3", ctx) == [True, False, False]
    assert run("+x == x", ctx) == [True] * 3
    assert run("k / 2 == 1.5", ctx) == [False, False, True]  # true division on integers
    assert run("abs(y) == 1", ctx) == [False, False, True]
    assert run("min(x, y, 2) == y", ctx) == [False, True, True]
    assert run("max(x, y) == 3", ctx) == [False, False, True]


def test_division_by_zero_is_inf_or_nan_without_warnings():
    ctx = ctx_of(x=[1.0, 0.0, -1.0], y=[0.0, 0.0, 0.0], k=np.array([1, 0, -1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run("x / y > 1000", ctx) == [True, False, False]  # inf, NaN, -inf
        assert run("x / y != x / y", ctx) == [False, True, False]  # only 0/0 is NaN
        assert run("k / (y - y) < 0", ctx) == [False, False, True]
    for constant in ("k / 0 < 0", "1 / 0 > x"):  # inf or NaN whatever the data: a slip
        with pytest.raises(RuleError, match="divides by zero"):
            parse_rule("r", constant, VOCAB)


def test_nan_propagates_through_arithmetic_and_min_max():
    ctx = ctx_of(x=[NAN, 1.0], y=[5.0, NAN])
    assert run("x + 1 > -1000", ctx) == [False, True]
    assert run("min(x, y) < 100", ctx) == [False, False]  # unknown stays unknown
    assert run("max(x, 0) >= 0", ctx) == [False, True]
    assert run("abs(x) >= 0", ctx) == [False, True]


def test_reading_gap_example_student_without_a_test_is_not_flagged():
    vocab = Vocabulary(fields={"reading_gap": FieldSpec("number")})
    rule = parse_rule("low_reading", "reading_gap < -24", vocab)
    ctx = ArrayContext({"reading_gap": np.array([-30.0, -10.0, np.nan])})
    assert rule.evaluate(ctx).tolist() == [True, False, False]


def test_count_of_risk_factors():
    ctx = ctx_of(x=[0.1, 0.9, 0.1, NAN], flag=[True, False, True, False], k=np.array([5, 0, 0, 9]))
    assert run("count(x < 0.5, flag, k >= 3) >= 2", ctx) == [True, False, True, False]
    assert run("count(x < 0.5, flag, k >= 3) == 3", ctx) == [True, False, False, False]
    assert run("count(x < 0.5, flag, k >= 3) >= m", ctx) == [True, False, True, False]
    assert run("count(flag) == 1", ctx) == [True, False, True, False]
    assert run("count(true, flag, on) == 3", ctx) == [True, False, True, False]
    assert run("count(true, false) + x > 1", ctx) == [True, True, True, False]


def test_windows_and_window_length_parameter():
    ctx = ctx_of(
        x=[0.0, 0.0],
        windows={("w", 4): [0.95, 0.7], ("w", 3): [0.1, 0.9], ("absent", 2): [True, False]},
    )
    assert run("w(4) < 0.9", ctx) == [False, True]
    assert run("w(span) < 0.5", ctx) == [True, False]  # span = 3 weeks, fixed at parse time
    assert run("absent(2) and w(4) > 0.9", ctx) == [True, False]
    rule = parse_rule("r", "w(4) < 0.9 or w(span) > 0.5 or absent(2)", VOCAB)
    assert rule.windows == {("w", 4), ("w", 3), ("absent", 2)}
    assert rule.max_window == 4
    assert rule.parameters == {"span"}
    assert "w(span)" in rule.canonical


def test_parameters_are_read_at_evaluation_time():
    rule = parse_rule("low", "x < t", VOCAB)
    ctx = ctx_of(x=[0.2, 0.6])
    assert rule.evaluate(ctx).tolist() == [True, False]
    ctx.parameters["t"] = 0.7  # an experiment variant changes the threshold: no re-parse
    assert rule.evaluate(ctx).tolist() == [True, True]


def test_parameter_changing_kind_at_evaluation_is_an_error():
    rule = parse_rule("low", "x < t", VOCAB)
    ctx = ctx_of(x=[0.2], parameters={"t": True})
    with pytest.raises(RuleError, match=r"rule 'low'.*parameter 't'"):
        rule.evaluate(ctx)


def test_true_false_literals_and_constant_rules_need_size():
    ctx = ctx_of(flag=[True, False])
    assert run("flag or true", ctx) == [True, True]
    assert run("flag and False", ctx) == [False, False]
    rule = parse_rule("off", "false", VOCAB)
    assert rule.constant
    assert rule.evaluate(ctx, size=3).tolist() == [False] * 3
    with pytest.raises(RuleError, match="size="):
        rule.evaluate(ctx)
    assert parse_rule("all", "on", VOCAB).evaluate(ctx, size=2).tolist() == [True, True]


def test_constant_subtrees_are_folded():
    rule = parse_rule("r", "x < 2 * 3 + 1 and (1 < 2)", VOCAB)
    assert rule.canonical == "((x < 7) and true)"
    assert parse_rule("r", "0.8 <= x < 0.9", VOCAB).canonical == "(0.8 <= x < 0.9)"


def test_result_is_a_new_array_and_inputs_are_not_modified():
    flag = np.array([True, False])
    x = np.array([1.0, -2.0])
    ctx = ctx_of(flag=flag, x=x)
    result = parse_rule("r", "flag", VOCAB).evaluate(ctx)
    result[:] = False
    assert flag.tolist() == [True, False]
    parse_rule("r", "not (-x * 2 + abs(x) > 0) and not flag", VOCAB).evaluate(ctx)
    assert x.tolist() == [1.0, -2.0] and flag.tolist() == [True, False]


def test_narrow_and_unsigned_integers_do_not_wrap():
    ctx = ctx_of(k=np.array([0, 3], dtype=np.uint8))
    assert run("k - 1 < 0", ctx) == [True, False]
    ctx = ctx_of(k=np.array([100, 1], dtype=np.int8))
    assert run("k * 100 > 1000", ctx) == [True, False]


def test_bad_columns_are_data_errors_naming_the_field():
    with pytest.raises(DataError, match=r"rule 'r': field 'flag' must be true/false"):
        run("flag", ctx_of(flag=[1.0, 0.0]))
    with pytest.raises(DataError, match=r"field 'y' has 3 values but field 'x' has 2"):
        run("x < y", ctx_of(x=[1.0, 2.0], y=[1.0, 2.0, 3.0]))
    with pytest.raises(DataError, match=r"field 'x' must be numeric"):
        run("x < 1", ctx_of(x=np.array(["a", "b"])))
    with pytest.raises(DataError, match=r"one value per student"):
        run("x < 1", ctx_of(x=[[1.0], [2.0]]))
    with pytest.raises(DataError, match=r"field 'x' has 2 values but size= has 5"):
        parse_rule("r", "x < 1", VOCAB).evaluate(ctx_of(x=[1.0, 2.0]), size=5)
    with pytest.raises(DataError, match=r"no data for field 'x'"):
        parse_rule("r", "x < 1", VOCAB).evaluate(ArrayContext({}))


# ---------------------------------------------------------------------------------------------
# Rejections: the message names the rule and quotes the offending token


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("__import__('os')", "'__import__'"),
        ("().__class__", "__class__"),
        ("x.__class__", "'x.__class__'"),
        ("open('x')", "'open'"),
        ("x[0]", "'x[0]'"),
        ("lambda: 1", "'lambda: 1'"),
        ('"s" == "s"', "'\"s\"'"),
        ("b'x' == x", "b'x'"),
        ("None", "'None'"),
        ("zz < 1", "'zz'"),
        ("__builtins__", "'__builtins__'"),
        ("foo(1) < 2", "'foo'"),
        ("x.real < 1", "'x.real'"),
        ("abs(x, y) < 1", "abs() takes exactly one number"),
        ("min(x) < 1", "min() needs at least two numbers"),
        ("w(4, 5) < 1", "w() takes one argument"),
        ("w(n=4) < 1", "'n=4'"),
        ("w(0) < 1", "'0'"),
        ("w(14) < 1", "'14'"),
        ("w(4.0) < 1", "'4.0'"),
        ("w(t) < 1", "'t'"),  # a float parameter is not a window length
        ("w(x) < 1", "'x'"),
        ("w < 1", "'w' (column 1) is a windowed function"),
        ("x(4) < 1", "'x' (column 1) is a field, not a function"),
        ("count() > 1", "count() needs at least one condition"),
        ("count(x) > 1", "'x' (column 7) is a number"),
        ("count(*[flag]) > 1", "'*[flag]'"),
        ("x + 1", "'x + 1' (column 1) is a number, but a rule must be true/false"),
        ("flag + 1 > 0", "'flag' (column 1) is true/false"),
        ("not x", "'not' needs true/false, but 'x'"),
        ("x and flag", "'and' needs true/false, but 'x'"),
        ("flag < other", "'<' needs a number, but 'flag'"),
        ("flag == 1", "cannot compare 'flag'"),
        ("x % 2 == 0", "operator '%'"),
        ("x ** 2 > 1", "operator '**'"),
        ("flag & other", "use 'and'"),
        ("~flag", "use 'not'"),
        ("flag is True", "'is'"),
        ("x in y", "'in'"),
        ("x if flag else y", "'x if flag else y'"),
        ("(z := 1) > 0", "'z := 1'"),
        ("[flag][0]", "'[flag][0]'"),
        ("f'{x}' == 1", "f-strings"),
        ("1j == x", "'1j'"),
        ("(x, y) < 1", "'(x, y)'"),
        ("count(flag for flag in other) > 0", "comprehensions"),
        ("(lambda: flag)()", "cannot be called"),
        ("x.__class__.__bases__[0].__subclasses__()", "cannot be called"),
    ],
)
def test_rejections_name_rule_and_token(text, token):
    with pytest.raises(RuleError) as info:
        parse_rule("bad", text, VOCAB)
    message = str(info.value)
    assert message.startswith("rule 'bad': ")
    assert token in message
    assert info.value.exit_code == 2


def test_unknown_name_lists_functions_and_suggests():
    with pytest.raises(RuleError) as info:
        parse_rule("bad", "flg and other", VOCAB)
    message = str(info.value)
    assert "'flg' (column 1) is not a known field, parameter or function" in message
    assert "known functions: count, min, max, abs, absent, w" in message
    assert "did you mean 'flag'?" in message


def test_syntax_errors_name_the_column():
    with pytest.raises(RuleError, match=r"rule 'bad': syntax error at column 5 \(near '< 1'\)"):
        parse_rule("bad", "x < < 1", VOCAB)
    with pytest.raises(RuleError, match=r"syntax error at the end of the rule \(column 4\)"):
        parse_rule("bad", "x <", VOCAB)
    with pytest.raises(RuleError, match=r"rule 'bad': syntax error.*never closed"):
        parse_rule("bad", "(x < 1", VOCAB)
    with pytest.raises(RuleError, match=r"rule 'bad': is empty"):
        parse_rule("bad", "   ", VOCAB)


def test_non_text_rule_is_rejected():
    with pytest.raises(RuleError, match=r"rule 'flagged': is true, a true/false value alone: "
                                        r"a rule is a true/false condition"):
        parse_rule("flagged", True, VOCAB)  # YAML `flagged: true` without quotes


@pytest.mark.parametrize("text,written", [
    ("\uff58 < 0.5", "\uff58"),                 # a full-width x read as x
    ("x < 0.5 and \uff54rue", "\uff54rue"),     # a full-width t: read as the constant true
    ("\uff43ount(flag) >= 1", "\uff43ount"),    # a look-alike function name
    ("\uff57(3) > 0", "\uff57"),                # a look-alike window
    ("x < \uff54", "\uff54"),                   # a look-alike parameter
])
def test_look_alike_names_are_refused_not_read_as_the_name(text, written):
    """Python's parser reads identifiers in NFKC form: a look-alike (full-width letters, the
    "fi" ligature) silently named a field, function or true; it is an error naming it."""
    with pytest.raises(RuleError, match=f"'{written}' \\(column \\d+\\) is written with look-alike"):
        parse_rule("r", text, VOCAB)


def test_multi_line_rule_text_is_accepted():
    rule = parse_rule("r", "x < 0.5\n  and flag", VOCAB)
    assert rule.evaluate(ctx_of(x=[0.1, 0.1], flag=[True, False])).tolist() == [True, False]


def test_overlong_and_deeply_nested_rules_are_rejected():
    with pytest.raises(RuleError, match=rf"at most {MAX_RULE_LENGTH}"):
        parse_rule("bad", "x < 1 or " * 300 + "flag", VOCAB)
    with pytest.raises(RuleError, match=rf"rule 'bad': nests more than {MAX_DEPTH} levels deep"):
        parse_rule("bad", "abs(" * 60 + "x" + ")" * 60 + " < 1", VOCAB)
    with pytest.raises(RuleError, match="nests more than"):
        parse_rule("bad", "-" * 1990 + "x < 1", VOCAB)
    with pytest.raises(RuleError, match="nests more than"):
        parse_rule("bad", "not " * 490 + "flag", VOCAB)
    with pytest.raises(RuleError, match="rule 'bad': syntax error.*nested parentheses"):
        parse_rule("bad", "(" * 300 + "flag" + ")" * 300, VOCAB)
    # 50 levels is fine, and long flat rules are fine.
    parse_rule("ok", "abs(" * 48 + "x" + ")" * 48 + " < 1", VOCAB)
    parse_rule("ok", " or ".join(["x < 1"] * 150), VOCAB)


@pytest.mark.parametrize("exc", [RecursionError, MemoryError, ValueError])
def test_parser_crashes_become_rule_errors(monkeypatch, exc):
    def crash(*args, **kwargs):
        raise exc("boom")

    monkeypatch.setattr(rules_module.ast, "parse", crash)
    with pytest.raises(RuleError, match=rf"rule 'bad': cannot be parsed \({exc.__name__}"):
        parse_rule("bad", "x < 1", VOCAB)


def test_parsing_only_compiles_to_a_syntax_tree(monkeypatch):
    """The only use of compile() is ast.parse's, with the AST-only flag: nothing is executed."""
    real_compile = builtins.compile
    seen = []

    def only_ast(source, filename, mode, flags=0, *args, **kwargs):
        seen.append(flags)
        assert flags & ast.PyCF_ONLY_AST, "rule text compiled to code"
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", only_ast)
    for text in ["__import__('os').system('echo pwned')", "x < 1 and flag", "open('/etc/passwd')"]:
        try:
            parse_rule("r", text, VOCAB)
        except RuleError:
            pass
    assert seen


def test_module_source_has_no_eval_or_exec():
    source = Path(rules_module.__file__).read_text()
    tree = ast.parse(source)
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & {"eval", "exec", "compile", "__import__"}


# ---------------------------------------------------------------------------------------------
# Several rules: references, cycles, all errors at once


SCENARIO_RULES = {
    "low_reading": "reading_gap < -24",
    "low_attendance": "attendance(4) < attendance_threshold",
    "at_risk": (
        "count(attendance_rate < 0.9, incidents_term >= 3, on_time_rate(4) < 0.5,"
        " weeks_since_login >= 2, satisfaction <= 2) >= min_factors"
    ),
    "lapsed": "not enrolled or (weeks_since_login > 2 and logins(2) == 0)",
    "refer": "at_risk and not low_reading",
}
SCHOOL = Vocabulary(
    fields={
        "attendance_rate": FieldSpec("number", "share of possible sessions attended this term"),
        "incidents_term": FieldSpec("number", "behaviour incidents this term"),
        "weeks_since_login": FieldSpec("number", "weeks since the last LMS login"),
        "satisfaction": FieldSpec("number", "latest satisfaction pulse, 1-5"),
        "reading_gap": FieldSpec("number", "reading age minus age, months (NaN: not tested)"),
        "enrolled": FieldSpec("bool", "currently enrolled"),
    },
    windows={
        "attendance": FieldSpec("number", "attendance rate over the last n weeks"),
        "on_time_rate": FieldSpec("number", "share of assignments handed in on time"),
        "logins": FieldSpec("number", "LMS logins over the last n weeks"),
    },
    parameters={"attendance_threshold": 0.9, "min_factors": 2},
)


def school_context(n: int, seed: int = 0) -> CountingContext:
    rng = np.random.default_rng(seed)
    fields = {
        "attendance_rate": rng.uniform(0.6, 1.0, n),
        "incidents_term": rng.poisson(1.5, n).astype(np.int64),
        "weeks_since_login": rng.integers(0, 5, n),
        "satisfaction": rng.integers(1, 6, n).astype(np.float64),
        "reading_gap": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0, 20, n)),
        "enrolled": rng.random(n) < 0.97,
    }
    windows = {
        ("attendance", 4): rng.uniform(0.6, 1.0, n),
        ("on_time_rate", 4): rng.uniform(0, 1, n),
        ("logins", 2): rng.poisson(1.0, n).astype(np.float64),
    }
    return CountingContext(fields, windows, dict(SCHOOL.parameters))


def expected_school(ctx: CountingContext) -> dict[str, np.ndarray]:
    f, w = ctx.fields, ctx.windows
    at_risk = (
        (f["attendance_rate"] < 0.9).astype(int)
        + (f["incidents_term"] >= 3)
        + (w[("on_time_rate", 4)] < 0.5)
        + (f["weeks_since_login"] >= 2)
        + (f["satisfaction"] <= 2)
    ) >= 2
    low_reading = f["reading_gap"] < -24
    return {
        "low_reading": low_reading,
        "low_attendance": w[("attendance", 4)] < 0.9,
        "at_risk": at_risk,
        "lapsed": ~f["enrolled"] | ((f["weeks_since_login"] > 2) & (w[("logins", 2)] == 0)),
        "refer": at_risk & ~low_reading,
    }


def test_scenario_rules_with_references():
    rules = parse_rules(SCENARIO_RULES, SCHOOL)
    assert list(rules) == list(SCENARIO_RULES)
    refer = rules["refer"]
    assert refer.references == {"at_risk", "low_reading"}
    assert "reading_gap" in refer.fields and ("on_time_rate", 4) in refer.windows
    assert refer.parameters == {"min_factors"}
    ctx = school_context(500)
    got = evaluate_rules(rules, ctx)
    for name, want in expected_school(ctx).items():
        np.testing.assert_array_equal(got[name], want, err_msg=name)
    # Each column is fetched once, even though "refer" re-uses two other rules.
    assert all(v == 1 for k, v in ctx.calls.items() if k[0] != "parameter")
    np.testing.assert_array_equal(refer.evaluate(school_context(500)), got["refer"])


def test_parse_rule_may_refer_to_already_parsed_rules():
    base = parse_rule("low", "x < 0.5", VOCAB)
    both = parse_rule("both", "low and flag", VOCAB, rules={"low": base})
    assert both.fields == {"x", "flag"}
    assert both.evaluate(ctx_of(x=[0.1, 0.1], flag=[True, False])).tolist() == [True, False]


def test_reference_cycles_are_errors():
    with pytest.raises(RuleError) as info:
        parse_rules({"a": "b and flag", "b": "c or flag", "c": "a", "ok": "flag"}, VOCAB)
    message = str(info.value)
    assert "refers to itself through a -> b -> c -> a" in message
    assert {name for name, _ in info.value.problems} == {"a", "b", "c"}
    with pytest.raises(RuleError, match="'a' .* refers to the rule itself"):
        parse_rules({"a": "a or flag"}, VOCAB)


@pytest.mark.once
def test_thousands_of_rules_parse_in_linear_time(monkeypatch):
    """A policy of 8,000 rules took 90 s to load (each rule copied every rule's name), a chain
    listed last-first one pass per rule, and 8,000 unknown names a minute of "did you mean".
    Checked by what the work is made of, not by the clock: every rule is compiled once against
    one shared set of names, each rule object is built once, and only the first problems get a
    "did you mean" (difflib over every name for each)."""
    import difflib

    import srmsim.policy.rules as rules_module

    seen_names: list[int] = []
    compile_rule = rules_module._compile

    def counted_compile(name, text, vocab, rule_names, *args, **kwargs):
        seen_names.append(id(rule_names))
        return compile_rule(name, text, vocab, rule_names, *args, **kwargs)

    built = [0]
    make_rule = rules_module.Rule.__init__

    def counted_rule(self, *args, **kwargs):
        built[0] += 1
        make_rule(self, *args, **kwargs)

    suggestions = [0]
    close_matches = difflib.get_close_matches

    def counted_matches(*args, **kwargs):
        suggestions[0] += 1
        return close_matches(*args, **kwargs)

    monkeypatch.setattr(rules_module, "_compile", counted_compile)
    monkeypatch.setattr(rules_module.Rule, "__init__", counted_rule)
    monkeypatch.setattr(difflib, "get_close_matches", counted_matches)
    n = 8000
    chain = {f"r{i}": f"r{i + 1} and x < {i + 1}" for i in range(n)} | {f"r{n}": "flag"}
    rules = parse_rules(chain, VOCAB)
    assert len(seen_names) == n + 1 and len(set(seen_names)) == 1  # one set of names, shared
    assert built[0] == n + 1  # each rule built once, the chain in one pass
    assert list(rules) == list(chain) and rules["r0"].references == {"r1"}
    ctx = ctx_of(x=[0.5, 0.5, 9000.0], flag=[True, False, True])
    assert rules["r0"].evaluate(ctx).tolist() == [True, False, False]
    with pytest.raises(RuleError) as info:
        parse_rules({**chain, f"r{n}": "zz"} | {f"u{i}": "yy < 1" for i in range(n)}, VOCAB)
    assert suggestions[0] <= rules_module._MAX_SUGGESTED_PROBLEMS  # not one per bad rule
    assert len(info.value.problems) == 2 * n + 1
    problems = dict(info.value.problems)
    assert "refers to rule 'r1', which is invalid" in problems["r0"]
    assert "did you mean 'y'?" in problems["u0"] and "did you mean" not in problems["u7999"]


def test_parse_rules_reports_every_problem_at_once():
    with pytest.raises(RuleError) as info:
        parse_rules(
            {
                "good": "x < 1",
                "bad_name": "zz < 1",
                "bad_type": "x + 1",
                "uses_bad": "bad_name or good",
                "x": "flag",  # a rule may not shadow a field
                "not valid": "flag",
            },
            VOCAB,
        )
    err = info.value
    names = [name for name, _ in err.problems]
    assert names == ["bad_name", "bad_type", "uses_bad", "x", "not valid"]
    message = str(err)
    assert message.startswith("5 invalid rules:")
    assert "rule 'bad_name': 'zz'" in message
    assert "rule 'bad_type': 'x + 1'" in message
    assert "rule 'uses_bad': refers to rule 'bad_name', which is invalid" in message
    assert "rule 'x': has the same name as a field" in message
    assert "rule 'not valid': rule name 'not valid' is not a valid name" in message
    assert isinstance(err, SrmsimError)


def test_vocabulary_validation():
    with pytest.raises(RuleError, match=r"field name 'count' is reserved"):
        Vocabulary(fields={"count": FieldSpec("number")})
    with pytest.raises(RuleError, match=r"parameter 'x' has the same name"):
        Vocabulary(fields={"x": FieldSpec("number")}, parameters={"x": 1})
    with pytest.raises(RuleError, match=r"parameter 'p': must be a number or true/false, got str"):
        Vocabulary(fields={}, parameters={"p": "0.9"})
    with pytest.raises(RuleError, match=r"parameter 'p': must be a finite number"):
        Vocabulary(fields={}, parameters={"p": float("nan")})
    with pytest.raises(RuleError, match=r"must not start with '__'"):
        Vocabulary(fields={"__x": FieldSpec("number")})
    with pytest.raises(RuleError, match=r"field kind must be 'number' or 'bool'"):
        FieldSpec("text")
    with pytest.raises(RuleError, match=r"max_window must be at least 1"):
        Vocabulary(fields={}, max_window=0)
    vocab = Vocabulary(fields={}, parameters={"p": np.float32(0.5), "q": np.int64(3)})
    assert vocab.parameters == {"p": 0.5, "q": 3}
    assert type(vocab.parameters["q"]) is int
    assert vocab.with_parameters({"p": 0.7}).parameters == {"p": 0.7, "q": 3}


def test_describe_vocabulary_mentions_everything():
    text = describe_vocabulary(SCHOOL)
    for name in [*SCHOOL.fields, *SCHOOL.parameters, "attendance(n)", "count(", "NaN"]:
        assert name in text
    assert "1 to 13" in text


def test_rules_pickle_for_worker_processes():
    rules = parse_rules(SCENARIO_RULES, SCHOOL)
    copy = pickle.loads(pickle.dumps(rules))
    assert isinstance(copy["refer"], Rule)
    ctx = school_context(50)
    np.testing.assert_array_equal(copy["refer"].evaluate(ctx), rules["refer"].evaluate(ctx))


def test_evaluation_on_a_million_students_is_vectorised():
    n = 1_000_000
    ctx = school_context(n, seed=1)
    rules = parse_rules(SCENARIO_RULES, SCHOOL)
    got = rules["at_risk"].evaluate(ctx)
    assert got.shape == (n,)
    np.testing.assert_array_equal(got, expected_school(ctx)["at_risk"])
    # One call per column and per parameter for the whole million, never one per student.
    assert ctx.calls == {
        ("field", "attendance_rate"): 1,
        ("field", "incidents_term"): 1,
        ("field", "weeks_since_login"): 1,
        ("field", "satisfaction"): 1,
        ("window", "on_time_rate", 4): 1,
        ("parameter", "min_factors"): 1,
    }


# ---------------------------------------------------------------------------------------------
# Property tests: random well-typed trees against an independent scalar reference evaluator.
#
# A tree is a tuple: ("num", v) ("bool", b) ("field", name) ("win", name, n) ("param", name)
# ("neg", e) ("abs", e) ("arith", op, l, r) ("minmax", op, [args]) ("count", [args])
# ("cmp", [ops], [operands]) ("not", e) ("logic", op, [args]).

NUM_FIELDS = ["x", "y", "k"]
BOOL_FIELDS = ["flag", "other"]
NUM_WINDOWS = [("w", 1), ("w", 3)]
BOOL_WINDOWS = [("absent", 2)]
N = 9
POOL = [NAN, 0.0, -0.0, 0.5, 1.0, 2.0, -3.0, 2.5, math.inf, -math.inf]


def kind(tree) -> str:
    tag = tree[0]
    if tag in ("num", "neg", "abs", "arith", "minmax", "count"):
        return "number"
    if tag == "field":
        return "bool" if tree[1] in BOOL_FIELDS else "number"
    if tag == "win":
        return "bool" if tree[1] == "absent" else "number"
    if tag == "param":
        return "bool" if tree[1] == "on" else "number"
    return "bool"


NUM_LEAVES = st.one_of(
    st.integers(0, 9).map(lambda v: ("num", v)),
    st.floats(-100, 100, allow_nan=False).map(lambda v: ("num", v)),
    st.sampled_from(NUM_FIELDS).map(lambda f: ("field", f)),
    st.sampled_from(NUM_WINDOWS).map(lambda w: ("win", *w)),
    st.sampled_from(["t", "m"]).map(lambda p: ("param", p)),
)
BOOL_LEAVES = st.one_of(
    st.booleans().map(lambda b: ("bool", b)),
    st.sampled_from(BOOL_FIELDS).map(lambda f: ("field", f)),
    st.sampled_from(BOOL_WINDOWS).map(lambda w: ("win", *w)),
    st.just(("param", "on")),
)
ORDERING = ["<", "<=", ">", ">="]
EQUALITY = ["==", "!="]


def as_num(draw, tree):
    """Coerce a drawn subtree to a number (count of a condition) so every tree is well typed."""
    if kind(tree) == "number":
        return tree
    return ("count", [tree, *draw(st.lists(BOOL_LEAVES, max_size=1))])


def as_bool(draw, tree):
    """Coerce a drawn subtree to true/false by comparing it with a random leaf."""
    if kind(tree) == "bool":
        return tree
    op = draw(st.sampled_from(ORDERING + EQUALITY))
    other = draw(NUM_LEAVES)
    return ("cmp", [op], [tree, other] if draw(st.booleans()) else [other, tree])


TAGS = ["neg", "abs", "arith", "arith", "arith", "minmax", "count", "cmp", "cmp", "not", "logic"]


def extend(children):
    @st.composite
    def compound(draw):
        tag = draw(st.sampled_from(TAGS))
        num = lambda: as_num(draw, draw(children))  # noqa: E731
        boolean = lambda: as_bool(draw, draw(children))  # noqa: E731
        if tag in ("neg", "abs"):
            return (tag, num())
        if tag == "arith":
            return ("arith", draw(st.sampled_from("+-*/")), num(), num())
        if tag == "minmax":
            return (
                "minmax",
                draw(st.sampled_from(["min", "max"])),
                [num() for _ in range(draw(st.integers(2, 3)))],
            )
        if tag == "count":
            return ("count", [boolean() for _ in range(draw(st.integers(1, 3)))])
        if tag == "not":
            return ("not", boolean())
        if tag == "logic":
            return (
                "logic",
                draw(st.sampled_from(["and", "or"])),
                [boolean() for _ in range(draw(st.integers(2, 3)))],
            )
        ops = draw(st.lists(st.sampled_from(ORDERING + EQUALITY), min_size=1, max_size=2))
        first = draw(children)
        if all(op in EQUALITY for op in ops) and kind(first) == "bool":
            return ("cmp", ops, [first] + [boolean() for _ in ops])
        return ("cmp", ops, [as_num(draw, first)] + [num() for _ in ops])

    return compound()


@st.composite
def well_typed_rules(draw):
    tree = draw(st.recursive(st.one_of(NUM_LEAVES, BOOL_LEAVES), extend, max_leaves=12))
    return as_bool(draw, tree)


trees = well_typed_rules()


# -- rendering -----------------------------------------------------------------------------

LEVEL = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7}
ATOM = 8


def level(tree) -> int:
    tag = tree[0]
    if tag == "num":
        return LEVEL["neg"] if math.copysign(1, tree[1]) < 0 else ATOM
    if tag == "logic":
        return LEVEL[tree[1]]
    if tag == "arith":
        return LEVEL[tree[1]]
    if tag in ("not", "cmp", "neg"):
        return LEVEL[tag]
    return ATOM


def render(tree, minimal: bool, spelling: int = 0) -> str:
    """Text for a tree: fully parenthesised, or with only the parentheses precedence needs."""

    def sub(child, min_level):
        text = render(child, minimal, spelling)
        if not minimal:
            return text if level(child) == ATOM else f"({text})"
        return f"({text})" if level(child) < min_level else text

    tag = tree[0]
    if tag == "num":
        return repr(tree[1])
    if tag == "bool":
        return [["false", "true"], ["False", "True"]][spelling % 2][tree[1]]
    if tag in ("field", "param"):
        return tree[1]
    if tag == "win":
        return f"{tree[1]}({tree[2]})"
    if tag == "neg":
        return "-" + sub(tree[1], LEVEL["neg"])
    if tag == "abs":
        return f"abs({render(tree[1], minimal, spelling)})"
    if tag in ("minmax", "count"):
        name = tree[1] if tag == "minmax" else "count"
        args = tree[2] if tag == "minmax" else tree[1]
        return f"{name}(" + ", ".join(render(a, minimal, spelling) for a in args) + ")"
    if tag == "arith":
        op, left, right = tree[1:]
        return f"{sub(left, LEVEL[op])} {op} {sub(right, LEVEL[op] + 1)}"
    if tag == "cmp":
        ops, operands = tree[1:]
        parts = [sub(operands[0], LEVEL["cmp"] + 1)]
        for op, operand in zip(ops, operands[1:], strict=True):
            parts += [op, sub(operand, LEVEL["cmp"] + 1)]
        return " ".join(parts)
    if tag == "not":
        return "not " + sub(tree[1], LEVEL["not"])
    if tag == "logic":
        op, args = tree[1:]
        return f" {op} ".join(sub(a, LEVEL[op] + 1) for a in args)
    raise AssertionError(tag)


# -- reference evaluator: plain Python scalars, one student at a time -----------------------


def ref_div(a, b):
    a, b = float(a), float(b)
    if b == 0:
        if a == 0 or math.isnan(a):
            return NAN
        return math.copysign(math.inf, a) * math.copysign(1, b)
    return a / b


def ref_min_max(op, values):
    acc = values[0]
    for v in values[1:]:
        if math.isnan(acc) or math.isnan(v):
            acc = NAN
        else:  # like numpy, a tie returns the later operand (matters only for the sign of 0)
            acc = (acc if acc < v else v) if op == "min" else (acc if acc > v else v)
    return acc


def ref_compare(op, a, b):
    return {
        "<": lambda: a < b,
        "<=": lambda: a <= b,
        ">": lambda: a > b,
        ">=": lambda: a >= b,
        "==": lambda: a == b,
        "!=": lambda: a != b,
    }[op]()


def reference(tree, data, i):
    tag = tree[0]
    if tag in ("num", "bool"):
        return tree[1]
    if tag == "field":
        return data["fields"][tree[1]][i].item()
    if tag == "win":
        return data["windows"][(tree[1], tree[2])][i].item()
    if tag == "param":
        return data["parameters"][tree[1]]
    if tag == "neg":
        return -reference(tree[1], data, i)
    if tag == "abs":
        return abs(reference(tree[1], data, i))
    if tag == "arith":
        op, a, b = tree[1], reference(tree[2], data, i), reference(tree[3], data, i)
        if op == "/":
            return ref_div(a, b)
        return {"+": a + b, "-": a - b, "*": a * b}[op]
    if tag == "minmax":
        return ref_min_max(tree[1], [reference(a, data, i) for a in tree[2]])
    if tag == "count":
        return sum(1 for a in tree[1] if reference(a, data, i))
    if tag == "cmp":
        values = [reference(o, data, i) for o in tree[2]]
        return all(
            ref_compare(op, a, b) for op, a, b in zip(tree[1], values, values[1:], strict=False)
        )
    if tag == "not":
        return not reference(tree[1], data, i)
    if tag == "logic":
        results = [reference(a, data, i) for a in tree[2]]
        return all(results) if tree[1] == "and" else any(results)
    raise AssertionError(tag)


@st.composite
def datasets(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)

    def numbers():
        values = rng.choice(np.array(POOL), N)
        mask = rng.random(N) < 0.4
        values[mask] = np.round(rng.normal(0, 5, mask.sum()), 2)
        return values

    fields = {
        "x": numbers(),
        "y": numbers(),
        "k": rng.integers(0, 6, N),
        "flag": rng.random(N) < 0.5,
        "other": rng.random(N) < 0.5,
    }
    windows = {("w", 1): numbers(), ("w", 3): numbers(), ("absent", 2): rng.random(N) < 0.5}
    parameters = {
        "t": draw(st.sampled_from([0.5, -1.0, 2.5])),
        "m": draw(st.integers(0, 3)),
        "on": draw(st.booleans()),
        "span": 3,
    }
    return {"fields": fields, "windows": windows, "parameters": parameters}


def context_for(data) -> CountingContext:
    return CountingContext(data["fields"], data["windows"], data["parameters"])


def constant_part(tree):
    """The value of a subtree of number leaves alone, as the parser folds it (float64; an
    overflow raises FloatingPointError), or None where it reads the students' data. Every
    subtree is visited, so an overflow anywhere in the tree raises."""
    tag = tree[0]
    if tag == "num":
        return np.float64(tree[1])
    if tag == "bool":
        return None
    parts = [c for c in tree[1:] if isinstance(c, tuple)]
    parts += [c for group in tree[1:] if isinstance(group, list) for c in group
              if isinstance(c, tuple)]
    values = [constant_part(c) for c in parts]
    if tag not in ("neg", "abs", "arith", "minmax") or any(v is None for v in values):
        return None
    with np.errstate(all="ignore", over="raise"):
        if tag == "neg":
            return -values[0]
        if tag == "abs":
            return abs(values[0])
        if tag == "minmax":
            return np.float64(ref_min_max(tree[1], [float(v) for v in values]))
        a, b = values
        return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[tree[1]](a, b)


def constant_overflows(tree) -> bool:
    try:
        constant_part(tree)
    except FloatingPointError:
        return True
    return False


def _subtrees(tree) -> list:
    parts = [c for c in tree[1:] if isinstance(c, tuple)]
    return parts + [c for group in tree[1:] if isinstance(group, list) for c in group
                    if isinstance(c, tuple)]


def reads_no_data(tree) -> bool:
    """Whether a subtree is made of constants alone (the parser folds it to its value)."""
    return tree[0] not in ("field", "win", "param") and all(map(reads_no_data, _subtrees(tree)))


def divides_by_constant_zero(tree) -> bool:
    """Whether some division's divisor is a constant 0 (``x / (1 - 1)``, ``1 / count(false)``):
    the parser refuses it, as its value is infinite or NaN whatever the data."""
    if tree[0] == "arith" and tree[1] == "/" and reads_no_data(tree[3]) \
            and reference(tree[3], None, 0) == 0:
        return True
    return any(map(divides_by_constant_zero, _subtrees(tree)))


def constant_underflows(tree) -> bool:
    """Whether a product or quotient of two nonzero constants works out as 0 (``1e-200 *
    1e-200``): the parser refuses it, as it refuses ``1e-400``."""
    if tree[0] == "arith" and tree[1] in "*/" and reads_no_data(tree[2]) \
            and reads_no_data(tree[3]):
        a, b = reference(tree[2], None, 0), reference(tree[3], None, 0)
        if a != 0 and b != 0 and (a * b if tree[1] == "*" else ref_div(a, b)) == 0:
            return True
    return any(map(constant_underflows, _subtrees(tree)))


def check_tree(tree, data, spelling: int) -> None:
    """(a) both renderings of a random tree evaluate like the reference evaluator, without
    touching the inputs; (c) the parsed rule's canonical text parses back to the same rule.
    A tree whose constant part overflows (2 / 1.1e-308) or that divides by a constant 0 is
    refused, as the parser must."""
    if constant_overflows(tree) or divides_by_constant_zero(tree) or constant_underflows(tree):
        for minimal in (False, True):
            with pytest.raises(RuleError, match="a constant part of the rule (overflows|works "
                                                "out below every float)|divides by zero"):
                parse_rule("r", render(tree, minimal, spelling), VOCAB)
        return
    snapshot = {k: v.copy() for k, v in data["fields"].items()}
    want = [bool(reference(tree, data, i)) for i in range(N)]
    rules = [parse_rule("r", render(tree, minimal, spelling), VOCAB) for minimal in (False, True)]
    for rule in rules:
        assert rule.evaluate(context_for(data), size=N).tolist() == want, rule.text
    for name, values in snapshot.items():  # in-place buffer reuse never touches inputs
        np.testing.assert_array_equal(data["fields"][name], values)
    rule = rules[1]
    again = parse_rule("r", rule.canonical, VOCAB)
    assert again.canonical == rule.canonical
    assert (again.fields, again.windows, again.parameters) == (
        rule.fields,
        rule.windows,
        rule.parameters,
    )
    assert again.evaluate(context_for(data), size=N).tolist() == want


@pytest.mark.once
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, data=datasets(), spelling=st.integers(0, 1))
def test_property_random_rules_match_reference_and_round_trip(tree, data, spelling):
    check_tree(tree, data, spelling)


@pytest.mark.slow
@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, data=datasets(), spelling=st.integers(0, 1))
def test_property_random_rules_match_reference_many(tree, data, spelling):
    check_tree(tree, data, spelling)


def _parse_or_rule_error(text: str) -> None:
    try:
        rule = parse_rule("fuzz", text, VOCAB)
    except RuleError as err:
        assert str(err).startswith("rule 'fuzz': ")
        return
    result = rule.evaluate(FUZZ_CONTEXT, size=N)
    assert result.dtype == np.bool_ and result.shape == (N,)


FUZZ_CONTEXT = CountingContext(
    {
        "x": np.linspace(-2, 2, N),
        "y": np.full(N, np.nan),
        "k": np.arange(N),
        "flag": np.arange(N) % 2 == 0,
        "other": np.arange(N) % 3 == 0,
    },
    {(w, n): np.linspace(0, 1, N) for w in ("w",) for n in range(1, 14)}
    | {("absent", n): np.arange(N) % 2 == 1 for n in range(1, 14)},
)

TOKENS = [
    "x", "y", "k", "flag", "other", "w", "absent", "t", "m", "on", "span", "count", "min",
    "max", "abs", "true", "False", "__import__", "__class__", "os", "open", "lambda", "if",
    "else", "for", "in", "is", "not", "and", "or", "(", ")", "[", "]", "{", "}", ",", ".", ":",
    "=", ":=", "<", "<=", ">", ">=", "==", "!=", "+", "-", "*", "/", "%", "**", "~", "&", "|",
    "'s'", '"s"', "0", "1", "4", "2.5", "1e400", "99999999999999999999", " ", "\n", "\\", "@",
    "*", "...", "#", "f'", "j", "\x00",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_property_arbitrary_text_parses_or_raises_rule_error(text):
    _parse_or_rule_error(text)


@pytest.mark.once
@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join))
def test_property_token_soup_parses_or_raises_rule_error(text):
    _parse_or_rule_error(text)


# ---------------------------------------------------------------------------------------------
# Scores: numeric expressions (workflow priorities) in the same language


def test_scores_evaluate_to_float64():
    ctx = ctx_of(x=[1.0, NAN, -2.0], k=np.array([3, 0, 1]), flag=[True, False, True])
    low = parse_rule("low", "x < 0", VOCAB)
    score = rules_module.parse_score(
        "priority", "-x + count(flag, low) * k", VOCAB, rules={"low": low}
    )
    assert score.kind == "number" and low.kind == "bool"
    got = score.evaluate(ctx)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [2.0, NAN, 4.0])
    by_count = rules_module.parse_score("p", "count(flag)", VOCAB).evaluate(ctx)
    assert by_count.dtype == np.float64 and by_count.tolist() == [1.0, 0.0, 1.0]
    constant = rules_module.parse_score("p", "-5 * 2", VOCAB).evaluate(ctx, size=3)
    assert constant.dtype == np.float64 and constant.tolist() == [-10.0] * 3
    # A bare integer field comes back as a new float array.
    k = rules_module.parse_score("p", "k", VOCAB).evaluate(ctx)
    assert k.dtype == np.float64 and k.tolist() == [3.0, 0.0, 1.0]
    with pytest.raises(RuleError, match=r"score 'p': 'x < 1' \(column 1\) is true/false"):
        rules_module.parse_score("p", "x < 1", VOCAB)


def test_a_rule_may_compare_an_already_parsed_score():
    score = rules_module.parse_score("need", "abs(x) * 2", VOCAB)
    rule = parse_rule("urgent", "need > 3", VOCAB, rules={"need": score})
    assert rule.evaluate(ctx_of(x=[1.0, -2.0])).tolist() == [False, True]
    with pytest.raises(RuleError, match=r"'and' needs true/false, but 'need'"):
        parse_rule("bad", "need and flag", VOCAB, rules={"need": score})


def test_count_is_narrow_but_arithmetic_on_it_does_not_wrap():
    ctx = ctx_of(flag=[True, False, True, True], x=[0.1, 0.9, 0.2, 0.7])
    assert run("count(flag, x < 0.5) * 100 == 200", ctx) == [True, False, True, False]
    assert run("count(flag, x < 0.5) - 300 == -298", ctx) == [True, False, True, False]
    assert run("count(flag) * 1000000000000 > 999999999999", ctx) == [True, False, True, True]
    assert run("-count(flag, flag) == -2", ctx) == [True, False, True, True]
    assert run("max(count(flag), 1000) == 1000", ctx) == [True] * 4
    assert run("count(flag, x < 0.5) >= 100000", ctx) == [False] * 4
    score = rules_module.parse_score("s", "count(flag, x < 0.5) * 64 + 100", VOCAB)
    assert score.evaluate(ctx).tolist() == [228.0, 100.0, 228.0, 164.0]


# ---------------------------------------------------------------------------------------------
# Narrow columns are compared in their own type only where that gives the 64-bit answer


def _widened(column: np.ndarray) -> np.ndarray:
    return column.astype(np.float64 if column.dtype.kind == "f" else np.int64)


NARROW_PAIRS = [
    ("k", "2"), ("k", "0.9"), ("k", "2.5"), ("k", "40000"), ("k", "-40000"), ("k", "5.0000001"),
    ("k", "1e30"), ("k", "m"), ("k", "t"), ("x", "0.9"), ("x", "2"), ("x", "t"), ("x", "m"),
    ("x", "16777217"), ("x", "1e39"), ("x", "-0.0"), ("x", "(1 / (y - y))"), ("x", "((y - y) / (y - y))"),
    ("x", "0.1 + 0.2"), ("x", "y"), ("k", "x"), ("k", "y"), ("0.9", "x"), ("40000", "k"),
    ("k", "2.0"), ("k", "-0.0"), ("k", "f"), ("f", "k"), ("k", "g"), ("g", "k"), ("k", "h"),
]
#: VOCAB with whole numbers given as floats (as scenario parameters are), g beyond int16
WHOLE_FLOATS = {"f": 2.0, "g": 40000.0, "h": -3.0, "half": 1.5}
NARROW_VOCAB = Vocabulary(fields=VOCAB.fields, windows=VOCAB.windows,
                          parameters={**VOCAB.parameters, **WHOLE_FLOATS}, max_window=13)
NARROW_RULES = [f"{lhs} {op} {rhs}" for op in ("<", "<=", ">", ">=", "==", "!=")
                for lhs, rhs in NARROW_PAIRS] + [
    "-k > 32767", "abs(k) > 32767", "k + 1 > 32767", "k - 1 < -32768", "k * 2 > 60000",
    "min(k, x) < 0.9", "max(k, y) >= 2", "-x > -0.9", "x / k > 0.3", "0.8 <= x < 0.9",
    "count(k >= 2, x < 0.9, y <= 2) >= m",
]
NARROW_SCORES = ["k", "x", "-k", "abs(k)", "count(k >= 2, x < 0.9)", "min(k, y)"] + [
    f"k * 3 - x + {rhs}" for _, rhs in NARROW_PAIRS]


@pytest.mark.parametrize(("k_type", "x_type", "y_type"), [
    (np.int16, np.float32, np.float32), (np.int8, np.float16, np.int32),
    (np.int32, np.float32, np.int16)])
def test_narrow_columns_give_the_answers_of_64_bit_columns(k_type, x_type, y_type):
    """int8-int32 and float16/32 columns are no longer widened before a comparison: every
    comparison, chained or in arithmetic, must still give what the widened columns give."""
    rng = np.random.default_rng(5)
    info = np.iinfo(k_type)
    k = np.concatenate([[info.min, info.max, 0, -1, 1, 2, 3, 5, 6],
                        rng.integers(info.min, info.max, 200, endpoint=True)]).astype(k_type)
    special = np.array([0.9, np.float32(0.9), 2, 2.0009765625, 0.1 + 0.2, np.nan, np.inf, -np.inf,
                        -0.0, 16777216, 0.3, 5.0])
    with np.errstate(over="ignore"):  # 16777216 is inf in float16
        x = np.concatenate([special, rng.normal(0, 3, len(k) - len(special))]).astype(x_type)
    y = rng.normal(2, 2, len(k)).round(1).astype(y_type)
    params = {"t": 0.9, "m": 2, **WHOLE_FLOATS}
    narrow = ArrayContext({"k": k, "x": x, "y": y}, parameters=params)
    wide = ArrayContext({"k": _widened(k), "x": _widened(x), "y": _widened(y)}, parameters=params)
    with np.errstate(all="ignore"):
        for text in NARROW_RULES:
            rule = parse_rule("r", text, NARROW_VOCAB)
            np.testing.assert_array_equal(rule.evaluate(narrow), rule.evaluate(wide), err_msg=text)
        for text in NARROW_SCORES:
            score = rules_module.parse_score("s", text, NARROW_VOCAB)
            np.testing.assert_array_equal(score.evaluate(narrow), score.evaluate(wide), err_msg=text)


def test_a_whole_number_given_as_a_float_compares_narrow_counts_in_their_own_type():
    """Scenario parameters are floats (``min_factors: 2`` is 2.0): ``count(...) >= min_factors``
    compares the int8 counts with 2, making no widened int64 copy of them every week (the
    answers are those of 64-bit columns: the test above)."""
    ctx = ctx_of(x=[0.1, 0.9, 0.2, 0.7], flag=[True, False, False, True],
                 parameters={"m": 2.0, "half": 1.5})
    risk = parse_rules({"a": "x < 0.5", "b": "flag", "r": "count(a, b) >= m",
                        "s": "count(a, b) >= half"}, NARROW_VOCAB)
    widened = []
    real = rules_module._wide
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rules_module, "_wide", lambda v: widened.append(v) or real(v))
        out = evaluate_rules({"r": risk["r"]}, ctx)
        assert out["r"].tolist() == [True, False, False, False]
        assert not [v for v in widened if rules_module._narrow(v)]
        out = evaluate_rules({"s": risk["s"]}, ctx)  # 1.5 is no whole number: widened
        assert out["s"].tolist() == [True, False, False, False]
        assert [v for v in widened if rules_module._narrow(v)]


def test_count_shared_by_a_trigger_and_its_priority_is_counted_once():
    """``count(a, b) >= m`` and ``count(a, b)`` in one evaluation add the conditions up once;
    rule sets that use the same names for different rules are not mixed up."""
    one = parse_rules({"a": "x < 0.5", "b": "flag", "risk": "count(a, b) >= m"}, VOCAB)
    other = parse_rules({"a": "x > 0.5", "b": "flag"}, VOCAB)
    prio = rules_module.parse_score("p", "count(a, b)", VOCAB, rules=one)
    prio_other = rules_module.parse_score("q", "count(a, b)", VOCAB, rules=other)
    ctx = ctx_of(x=[0.1, 0.9, 0.2, 0.7], flag=[True, False, False, True])
    calls = []
    real = rules_module._Count._count
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rules_module._Count, "_count", lambda self, ev: calls.append(1) or real(self, ev))
        out = evaluate_rules({"risk": one["risk"], "p": prio, "q": prio_other}, ctx)
    assert len(calls) == 2  # "count(a, b)" of one rule set, and of the other
    assert out["risk"].tolist() == [True, False, False, False]
    assert out["p"].tolist() == [2.0, 0.0, 1.0, 1.0]
    assert out["q"].tolist() == [1.0, 1.0, 0.0, 2.0]
