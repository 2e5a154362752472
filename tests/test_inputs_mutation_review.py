"""Mutation review of the input-validation core: srmsim.yamlio (the bounded YAML reader),
srmsim.inputs (input-file checks, strict JSON), srmsim.argtypes (command-line types) and
srmsim.scenario (schema, ranges, key paths, overrides). Each test pins a bound from both sides
(the limit itself accepted, one past it refused) or an error path and its words (the file and
the key path named), because the existing tests check the far side of most limits only (an
alias bomb, 1000 levels, a 5 kB file) and so let off-by-one mutants live.

Defect found: ``trust.size_cv`` was typed ``Shift = Field(0.3, ge=0.0, le=2.0)``, and pydantic
kept the alias's -1000..1000 over the Field's 0..2, so -0.5 (read as 0.5: only cv**2 is used)
and 999 were accepted. Now refused; results of valid scenarios unchanged.

Mutations tried: 84 (yamlio 29, inputs 7, argtypes 12, scenario 36), each alone. Screened
against the existing tests (test_scenario.py, test_input_safety.py,
test_commands_hostile_review.py, test_yaml_csv_surprises_review.py; -x, -n 0): 57, of which
27 killed (three of them, dropping the alias-size count twice and the regular-file check, only
by hanging or expanding the alias bomb for minutes) and 30 survived; 26 of those survivors are
killed by the tests below. The other 27 mutants (mostly scenario.py) were, for lack of time,
run against this file only: 25 killed; s35 was the size_cv defect and s34 is equivalent.

Survivors left, and why:
- bool resolver given ``yes|no|on|off``: equivalent, PyYAML looks resolvers up by first
  character and only t, T, f, F are registered for booleans.
- year groups: dropping ``sorted(set(v)) != v``: equivalent, ``v == range(v[0], v[-1] + 1)``
  already means strictly ascending and consecutive.
- ``problems.setdefault(path, msg)`` -> last message wins: no input found that gives two
  errors at one path once union branches are merged.
- school indices always checked against ``trust.n_schools`` (even with ``population.records``):
  not tested here (needs an imported dataset).
- not resolving a records name that fails ``file_name_problem``: equivalent, the name is
  refused by validation either way.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest

import srmsim.argtypes as argtypes
import srmsim.inputs as inputs
import srmsim.yamlio as yamlio
from srmsim.errors import ScenarioError, SrmsimError
from srmsim.scenario import MAX_YEARS, deep_merge, expand_dotted, scenario_from_dict
from srmsim.yamlio import load_yaml_text, read_yaml_file, yaml_number


def refused(text: str, source: str = "f.yaml", **kw: object) -> str:
    with pytest.raises(ScenarioError) as err:
        load_yaml_text(text, source, **kw)  # type: ignore[arg-type]
    return str(err.value)


# ---------------------------------------------------------------------------------------------
# yamlio: limits, each from both sides


def test_exactly_max_aliases_are_read_and_one_more_is_refused() -> None:
    n = yamlio.MAX_ALIASES
    doc = "a: &x 1\nb: [" + ", ".join(["*x"] * n) + "]\n"
    assert load_yaml_text(doc)["b"] == [1] * n
    more = "a: &x 1\nb: [" + ", ".join(["*x"] * (n + 1)) + "]\n"
    assert f"more than {n} aliases" in refused(more)


def test_nesting_of_exactly_max_depth_is_read_and_one_more_level_is_refused() -> None:
    d = yamlio.MAX_DEPTH  # every node is a level, a scalar too: 63 lists around 1 are 64
    value = load_yaml_text("[" * d + "]" * d)
    for _ in range(d - 1):
        value = value[0]
    assert value == []
    assert load_yaml_text("[" * (d - 1) + "1" + "]" * (d - 1)) is not None
    assert f"nested deeper than {d} levels" in refused("[" * (d + 1) + "]" * (d + 1))
    assert f"nested deeper than {d} levels" in refused("[" * d + "1" + "]" * d)


def test_node_count_and_alias_expansion_are_counted_exactly(monkeypatch) -> None:
    # {a: &a [1, 2, 3], b: *a}: the root, keys a and b, the list and its 3 values are 7 nodes,
    # and *a expands to the 4 of the list: 11 in all, the alias reached at 10
    doc = "{a: &a [1, 2, 3], b: *a}"
    monkeypatch.setattr(yamlio, "MAX_NODES", 11)
    assert load_yaml_text(doc) == {"a": [1, 2, 3], "b": [1, 2, 3]}
    monkeypatch.setattr(yamlio, "MAX_NODES", 10)  # the alias brings 10: not past the limit
    assert refused(doc).endswith("line 1, column 1: more than 10 values")
    monkeypatch.setattr(yamlio, "MAX_NODES", 9)
    assert "expands (through aliases) to more than 9 values" in refused(doc)


def test_text_and_file_of_exactly_max_bytes_are_read_and_one_more_is_refused(
        tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(yamlio, "MAX_BYTES", 100)
    text = "a: " + "x" * 96 + "\n"  # 100 characters
    assert load_yaml_text(text) == {"a": "x" * 96}
    assert "100-character limit" in refused(text + " ")
    path = tmp_path / "s.yaml"
    path.write_bytes(text.encode())
    assert read_yaml_file(path) == {"a": "x" * 96}
    path.write_bytes((text + " ").encode())
    with pytest.raises(ScenarioError, match=r"s\.yaml: 101 bytes: larger than the 100-byte"):
        read_yaml_file(path)


# ---------------------------------------------------------------------------------------------
# yamlio: what an error says and where


def test_errors_name_the_file_and_the_line_and_column_counted_from_one() -> None:
    err = refused("a: 1\nb: 2\nc: x\x07y\n", "my/scenario.yaml")
    assert err.startswith("my/scenario.yaml: malformed YAML: line 3, column 5: the character "
                          "U+0007")
    assert "line 1, column 1: the character U+0007" in refused("\x07")
    err = refused("a: 1\nb: 2\na: 3\n", "my/scenario.yaml")
    assert err == "my/scenario.yaml: malformed YAML: line 3, column 1: duplicate key 'a'"


def test_a_long_duplicate_key_is_cut_after_60_characters_not_before() -> None:
    k60, k61 = "k" * 60, "k" * 61
    assert refused(f"{k60}: 1\n{k60}: 2\n").endswith(f"duplicate key '{k60}'")
    assert refused(f"{k61}: 1\n{k61}: 2\n").endswith(f"duplicate key '{k60}...'")


def test_a_list_as_a_key_and_keys_merged_twice_are_refused() -> None:
    assert "a mapping key must be a plain name" in refused("? [a]\n: 1\n")
    # x given by the mapping and, two merges down, by `base`
    nested = "base: &b {x: 1}\nmid: &m {<<: *b, y: 2}\ntop: {<<: *m, x: 3}\n"
    assert "duplicate key 'x' (given by the merge" in refused(nested)
    assert "duplicate key 'x' (given by the merge" in refused(
        "p: &p {x: 1}\nq: &q {x: 2}\nr: {<<: [*p, *q]}\n")
    # a merged mapping not yet read (so its own merge is not yet flattened into it)
    assert "line 2, column 13: duplicate key 'x' (given by the merge" in refused(
        "base: &b {x: 1}\ntop: {x: 3, <<: {<<: *b, y: 2}}\n")


@pytest.mark.parametrize("text, words", [
    ('a: "\\ud800"', "U+D800 is half of a surrogate pair"),
    ("a: !!binary aGk=", "the tag !!binary is not read here"),
    ("a: !!set {x: null}", "the tag !!set is not read here"),
    ("a: !!python/name:os.system x", "the tag !!python/name:os.system is not read here"),
    ("a: !mine x", "the tag !mine is not read here"),
    ("a: !!int abc", "'abc' is not a valid int"),
])
def test_surrogates_and_tags_other_than_plain_ones_are_refused(text: str, words: str) -> None:
    err = refused(text)
    assert err.startswith("f.yaml: malformed YAML: line 1, column 4: ") and words in err, err


def test_a_folder_given_as_a_yaml_file_is_named_so(tmp_path) -> None:
    with pytest.raises(ScenarioError, match="is a directory, not a YAML file"):
        read_yaml_file(tmp_path)


def test_a_mapping_merged_into_itself_is_read_not_a_crash() -> None:
    # the merge of itself brings no key; without the guard, _merged_keys recursed for ever
    value = load_yaml_text("a: &a {<<: *a}\nb: 1\n")
    assert value["b"] == 1


def test_yaml_1_2_numbers_hex_octal_infinities_and_numbers_as_text() -> None:
    assert load_yaml_text("[0x10, 0o10, 010, -.inf, .inf]") == [16, 8, 10, -np.inf, np.inf]
    assert load_yaml_text("{id: 010, x: 1e3}", numbers_as_text=True) == {"id": "010", "x": "1e3"}
    assert load_yaml_text("[on, off, yes, no]") == ["on", "off", "yes", "no"]
    assert yaml_number("0x1f") == 31 and yaml_number("1e2") == 100.0
    assert yaml_number("true") is None and yaml_number("1_000") is None


def test_read_yaml_file_raises_the_callers_error_class(tmp_path) -> None:
    from srmsim.data.mapping import MappingError

    bad = tmp_path / "m.yaml"
    bad.write_text("a: 1\na: 2\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"m\.yaml: malformed YAML: line 2, column 1: "
                       "duplicate key 'a'"):
        read_yaml_file(bad, error=MappingError)


# ---------------------------------------------------------------------------------------------
# inputs


def test_load_json_size_limit_from_both_sides_and_its_argument(tmp_path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"a": 1}', encoding="utf-8")  # 8 bytes
    assert inputs.load_json(path, max_bytes=8) == {"a": 1}
    with pytest.raises(ValueError, match="8 bytes, larger than the 7-byte limit"):
        inputs.load_json(path, max_bytes=7)


def test_load_json_refuses_duplicate_keys_surrogates_and_non_files(tmp_path) -> None:
    dup = tmp_path / "d.json"
    dup.write_text('{"baseline": 1, "baseline": 2}', encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate key 'baseline'"):
        inputs.load_json(dup)
    sur = tmp_path / "s.json"
    sur.write_text('{"name": "\\ud800"}', encoding="utf-8")
    with pytest.raises(ValueError, match="U\\+D800, half of a surrogate"):
        inputs.load_json(sur)
    assert inputs.input_file_problem(tmp_path) == "is a directory, not a file"
    assert inputs.input_file_problem(os.devnull).startswith("is not a regular file")
    assert inputs.input_file_problem(tmp_path / "none") == "file not found"
    assert inputs.input_file_problem(dup) is None


def test_whole_is_an_int_but_not_a_bool() -> None:
    assert inputs.whole(3) and inputs.whole(0)
    assert not inputs.whole(True) and not inputs.whole(3.0)


# ---------------------------------------------------------------------------------------------
# argtypes


def test_seed_bounds_from_both_sides() -> None:
    assert argtypes.MAX_SEED == 2**63 - 1
    assert argtypes.seed_argument("0") == 0
    assert argtypes.seed_argument(str(2**63 - 1)) == 2**63 - 1
    for text in ("-1", str(2**63)):
        with pytest.raises(argparse.ArgumentTypeError, match="from 0 to 2"):
            argtypes.seed_argument(text)
    with pytest.raises(argparse.ArgumentTypeError) as err:
        argtypes.seed_argument("x" * 41)
    assert str(err.value) == f"'{'x' * 40}...' is not a whole number"


def test_finite_and_non_negative_floats() -> None:
    for text in ("nan", "inf", "-inf", "1e309", "-1e309"):
        with pytest.raises(argparse.ArgumentTypeError, match="not a finite number"):
            argtypes.finite_float(text)
    assert argtypes.finite_float("-2.5") == -2.5
    assert argtypes.non_negative_float("0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError, match="is negative"):
        argtypes.non_negative_float("-1e-300")


def test_workers_bounds_from_both_sides(monkeypatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert argtypes.max_workers() == 12
    argtypes.check_workers(None)
    argtypes.check_workers(1)
    argtypes.check_workers(12)
    with pytest.raises(SrmsimError, match="at least 1"):
        argtypes.check_workers(0)
    with pytest.raises(SrmsimError, match="--workers 13: at most 12 on this machine"):
        argtypes.check_workers(13)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert argtypes.max_workers() == 4


def test_path_argument_refuses_blank_and_hidden_characters() -> None:
    assert argtypes.path_argument("out dir") == "out dir"
    for text in ("", "   ", "\t"):
        with pytest.raises(argparse.ArgumentTypeError, match="is empty"):
            argtypes.path_argument(text)
    with pytest.raises(argparse.ArgumentTypeError, match="control or invisible"):
        argtypes.path_argument("a\x01b")


# ---------------------------------------------------------------------------------------------
# scenario: ranges from both sides, key paths


def problem(data: object) -> str:
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data, "x.yaml")
    return str(err.value)


@pytest.mark.parametrize("years, ok", [([1, 2], True), ([13, 14], True), ([0, 1], False),
                                       ([14, 15], False), ([7, 9], False), ([8, 7], False),
                                       ([7, 7], False), ([], False)])
def test_year_groups_bounds_and_order(years: list[int], ok: bool) -> None:
    data = {"trust": {"year_groups": years}}
    if ok:
        assert scenario_from_dict(data).trust.year_groups == years
    else:
        assert problem(data).startswith("x.yaml: trust.year_groups: ")


@pytest.mark.parametrize("key, at_limit, past", [
    ("trust.n_schools", 100_000, 100_001),
    ("years", MAX_YEARS, MAX_YEARS + 1),
    ("seed", 2**63 - 1, 2**63),
    ("trust.size_cv", 2.0, 2.0001),  # a defect: Shift's -1000..1000 overrode 0..2
    ("trust.size_cv", 0.0, -0.5),
    ("description", "d" * 10_000, "d" * 10_001),
    ("outputs.history", 0, -1),
    ("dynamics.male_incident_ratio", 1e-9, 0.0),
])
def test_range_bounds_from_both_sides(key: str, at_limit: object, past: object) -> None:
    scenario_from_dict(expand_dotted({key: at_limit}))
    assert problem(expand_dotted({key: past})).startswith(f"x.yaml: {key}: ")


def test_no_schools_needs_streams_and_from_pool_needs_pool_minutes() -> None:
    assert "no schools needs request streams" in problem({"trust": {"n_schools": 0}})
    stream = {"arrivals": {"per_week": 1}, "steps": [{"name": "a", "role": "clerk",
                                                      "minutes": 5}],
              "staff": {"clerk": {"staff": 1, "from_pool": True}}}
    assert "requests.x.staff.clerk: from_pool needs minutes of 'clerk'" in problem(
        {"trust": {"n_schools": 0}, "requests": {"x": stream}})


def test_nan_and_infinity_are_refused_where_no_range_would_catch_them() -> None:
    assert problem({"population": {"fsm_school_sd": float("nan")}}) == (
        "x.yaml: population.fsm_school_sd: is not a finite number but NaN, not a number (YAML "
        "reads .nan so)")
    assert "dynamics.absence_logit: is not a finite number but infinity" in problem(
        {"dynamics": {"absence_logit": float("inf")}})


def test_messages_give_list_indices_and_the_value_got() -> None:
    assert problem({"trust": {"year_groups": [7, "8"]}}).startswith(
        "x.yaml: trust.year_groups[1]: Input should be a valid integer")
    assert problem({"population": {"fsm_rate": 1.4}}) == (
        "x.yaml: population.fsm_rate: Input should be less than or equal to 1 (got 1.4)")
    assert problem({"population": {"fsm_rate": "0.3"}}).startswith(
        "x.yaml: population.fsm_rate: Input should be a valid number")
    assert problem({"name": 10}).endswith("YAML read a number there: to give text, put it in "
                                          "quotes")


def test_numpy_numbers_are_the_numbers_they_hold() -> None:
    sc = scenario_from_dict({"trust": {"n_schools": np.int64(3)}, "seed": np.uint64(5)})
    assert sc.trust.n_schools == 3 and type(sc.trust.n_schools) is int and sc.seed == 5
    assert "trust.n_schools" in problem({"trust": {"n_schools": np.bool_(True)}})


def test_school_indices_are_0_to_n_schools_minus_1(tmp_path) -> None:
    def policy(schools: list[int]) -> dict:
        return {"trust": {"n_schools": 3}, "policy": {"rules": {"r": {
            "when": "absence_rate > 0.1", "schools": schools}}}}

    try:
        scenario_from_dict(policy([0, 2]))
    except ScenarioError as err:  # the rule's shape is not what this test is about
        pytest.skip(f"policy shape: {err}")
    for bad in ([3], [-1]):
        assert "policy.rules.r.schools: school indices" in problem(policy(bad))


# ---------------------------------------------------------------------------------------------
# overrides


def test_override_depth_from_both_sides_counts_dotted_and_nested_parts() -> None:
    d = 64
    expand_dotted({".".join(["k"] * d): 1})
    with pytest.raises(ScenarioError, match=f"nested deeper than {d} levels"):
        expand_dotted({".".join(["k"] * (d + 1)): 1})
    # 60 dotted parts holding a mapping of 5 more: 65
    with pytest.raises(ScenarioError, match=f"nested deeper than {d} levels"):
        expand_dotted({".".join(["k"] * 60): {"a.b.c.d.e": 1}})
    expand_dotted({".".join(["k"] * 60): {"a.b.c.d": 1}})


def test_overrides_given_twice_are_refused_with_the_key_path() -> None:
    with pytest.raises(ScenarioError, match=r"trust.n_schools: is given twice"):
        expand_dotted({"trust": {"n_schools": 4}, "trust.n_schools": 3})
    with pytest.raises(ScenarioError, match=r"policy.staff.pool.x: is given twice"):
        expand_dotted({"policy.staff": {"pool": {"x": 1}}, "policy": {"staff.pool.x": 2}})


def test_an_override_below_a_value_that_is_not_a_mapping_conflicts() -> None:
    with pytest.raises(ScenarioError, match=r"trust.n_schools: conflicts with another override"):
        expand_dotted({"trust": 3, "trust.n_schools": 2})


def test_override_input_files_are_read_from_the_folder_of_their_file(tmp_path) -> None:
    from srmsim.scenario import expand_overrides

    got = expand_overrides({"population.records": "data/x.parquet"}, "o.yaml", tmp_path)
    assert got == {"population": {"records": str((tmp_path / "data/x.parquet").resolve())}}
    assert expand_overrides({"population.records": "data/x.parquet"}) == {
        "population": {"records": "data/x.parquet"}}


def test_plain_value_leaves_values_past_64_levels_for_validation_to_judge() -> None:
    from srmsim.scenario import plain_value

    deep: list = []
    for _ in range(5000):  # deeper than Python's recursion limit: no RecursionError
        deep = [deep]
    assert plain_value(deep) is not deep and plain_value([np.int64(2)]) == [2]
    inner = plain_value(deep)
    for _ in range(66):
        inner = inner[0]
    assert inner is not None


def test_override_keys_match_a_whole_number_key_only_as_its_plain_spelling() -> None:
    base = {"per_school": {1: {"teacher": 100, "mentor": 50}}}
    merged = deep_merge(base, {"per_school": {"1": {"teacher": 300}}})
    assert merged == {"per_school": {1: {"teacher": 300, "mentor": 50}}}
    merged = deep_merge(base, {"per_school": {"01": {"teacher": 300}}})
    assert merged["per_school"] == {1: {"teacher": 100, "mentor": 50}, "01": {"teacher": 300}}
    merged = deep_merge({"x": {"True": 1}}, {"x": {True: 2}})
    assert merged["x"] == {"True": 1, True: 2}


def test_an_empty_scenario_is_the_default_and_a_list_is_refused(tmp_path) -> None:
    from srmsim.scenario import load_scenario

    assert scenario_from_dict(None).name == "default"
    listed = tmp_path / "l.yaml"
    listed.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"l\.yaml: a scenario must be a mapping"):
        load_scenario(listed, {"years": 2})
