"""Scenario files: defaults, strict validation with clear messages, overrides and digests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from srmsim.cli import main
from srmsim.errors import ScenarioError, SrmsimError
from srmsim.scenario import (
    Scenario,
    default_scenario,
    expand_dotted,
    load_scenario,
    scenario_from_dict,
)


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- defaults
def test_default_file_is_the_built_in_default(default_scenario_path: Path) -> None:
    loaded = load_scenario(default_scenario_path)
    built_in = default_scenario()
    assert loaded.trust == built_in.trust
    assert loaded.population == built_in.population
    assert loaded.dynamics == built_in.dynamics
    assert (loaded.seed, loaded.years, loaded.policy) == (built_in.seed, built_in.years, None)


def test_default_values_describe_an_english_secondary_trust() -> None:
    s = Scenario()
    assert s.trust.n_schools == 10
    assert s.trust.year_groups == [7, 8, 9, 10, 11]
    assert s.years == 1
    assert s.population.fsm_rate == pytest.approx(0.24)
    assert s.population.attainment_icc == pytest.approx(0.18)
    assert s.dynamics.withdrawal_years == [12, 13]
    assert s.outputs.history == "auto"
    assert s.policy is None


# an empty file (or only comments) is refused as truncated: tests/test_left_alone_fixes.py
@pytest.mark.parametrize("text", ["{}\n", "{}  # no key differs\n"])
def test_empty_scenario_is_all_defaults(tmp_path: Path, text: str) -> None:
    assert load_scenario(write(tmp_path, text)).digest() == Scenario().digest()


def test_a_scenario_states_only_what_differs(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, "population:\n  fsm_rate: 0.4\ntrust:\n  n_schools: 3\n"))
    assert s.population.fsm_rate == pytest.approx(0.4)
    assert s.trust.n_schools == 3
    # Everything else keeps its default.
    assert s.population.sen_rate == Scenario().population.sen_rate
    assert s.trust.year_groups == [7, 8, 9, 10, 11]
    assert s.dynamics == Scenario().dynamics


# ----------------------------------------------------------------------------- errors
BAD = [
    # (YAML text, key path the message must name, fragment of what is wrong)
    ("colour: red\n", "colour", "unknown key"),
    ("population:\n  fsm_rat: 0.3\n", "population.fsm_rat", "unknown key"),
    ("dynamics:\n  absence_logit: 1\n  seasonalty: 2\n", "dynamics.seasonalty", "unknown key"),
    ("trust:\n  n_schools: ten\n", "trust.n_schools", "integer"),
    ("trust:\n  n_schools: 3.5\n", "trust.n_schools", "integer"),
    ("trust: [1, 2]\n", "trust", "a mapping of keys to values"),
    ("dynamics:\n  withdrawal_years: 12\n", "dynamics.withdrawal_years", "list"),
    ("population:\n  fsm_rate: 1.4\n", "population.fsm_rate", "1.4"),
    ("population:\n  sen_rate: -0.1\n", "population.sen_rate", "-0.1"),
    ("years: 0\n", "years", "greater than or equal to 1"),
    ("seed: -5\n", "seed", "greater than or equal to 0"),
    ("trust:\n  year_groups: [7, 9, 10]\n", "trust.year_groups", "consecutive"),
    ("trust:\n  year_groups: [9, 8, 7]\n", "trust.year_groups", "consecutive"),
    ("trust:\n  year_groups: []\n", "trust.year_groups", "at least one"),
    ("trust:\n  year_groups: [0, 1]\n", "trust.year_groups", "between 1 and 14"),
    ("outputs:\n  history: some\n", "outputs.history", "'auto', 'all' or 'none'"),
]


def test_an_unknown_key_points_where_the_keys_are_listed(tmp_path: Path) -> None:
    """The README lists no keys; the documentation's file-format reference lists them all."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, "trust:\n  zzz: 3\n"))
    assert str(info.value).endswith("trust.zzz: unknown key (check the spelling; every key "
                                    "is in the documentation's file-format reference)")
    with pytest.raises(ScenarioError) as info:  # a near miss is answered with the key meant
        load_scenario(write(tmp_path, "trust:\n  n_schoolz: 3\n"))
    assert str(info.value).endswith("trust.n_schoolz: unknown key: did you mean 'n_schools'? "
                                    "(every key is in the documentation's file-format "
                                    "reference)")


@pytest.mark.parametrize("text,key_path,what", BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_values_name_file_key_path_and_problem(
    tmp_path: Path, text: str, key_path: str, what: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert err.source == str(path)
    assert [p for p, _ in err.problems] == [key_path]
    message = str(err)
    assert message.startswith(f"{path}: {key_path}: ")
    assert what in message
    assert err.exit_code == 2


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, "population:\n  fsm_rate: 3\ntrust:\n  n_schools: -1\nfoo: 1\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    paths = {p for p, _ in info.value.problems}
    assert paths == {"population.fsm_rate", "trust.n_schools", "foo"}
    message = str(info.value)
    assert str(path) in message
    for p in paths:
        assert f"  {p}: " in message


@pytest.mark.parametrize(
    "text,what",
    [
        ("trust:\n  n_schools: [\n", "malformed YAML: line 3"),
        ("a: b: c\n", "malformed YAML: line 1"),
        ("\tseed: 1\n", "malformed YAML"),
        ("- 1\n- 2\n", "a scenario must be a mapping"),
        ("just a string\n", "a scenario must be a mapping"),
    ],
)
def test_malformed_files_name_the_file(tmp_path: Path, text: str, what: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: ")
    assert what in str(info.value)


def test_missing_file_directory_and_binary_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="nope.yaml: file not found"):
        load_scenario(tmp_path / "nope.yaml")
    with pytest.raises(ScenarioError, match="is a directory"):
        load_scenario(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"seed: \xff\xfe\n")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(binary)


def test_scenario_errors_are_srmsim_errors() -> None:
    with pytest.raises(SrmsimError):
        scenario_from_dict({"years": "many"}, "inline")
    with pytest.raises(ScenarioError, match="inline: years"):
        scenario_from_dict({"years": "many"}, "inline")


# ----------------------------------------------------------------------------- CLI
def test_validate_reports_a_valid_scenario(default_scenario_path: Path, capsys) -> None:
    assert main(["validate", str(default_scenario_path)]) == 0
    out = capsys.readouterr().out
    assert "valid scenario 'default'" in out and "10 schools" in out


def test_validate_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, "population:\n  fsm_rate: 1.4\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith(f"srmsim: error: {path}: population.fsm_rate: ")
    assert "less than or equal to 1" in err and "1.4" in err


@pytest.mark.parametrize(
    "command,text,fragment",
    [("validate", "trust:\n  n_schools: ten\n", "trust.n_schools"),
     ("run", "a: [\n", "malformed YAML")],
)
@pytest.mark.once
def test_cli_errors_exit_2_without_traceback(
    tmp_path: Path, command: str, text: str, fragment: str
) -> None:
    """Through a real process: stderr is the one-line message, never a traceback."""
    path = write(tmp_path, text)
    args = [sys.executable, "-m", "srmsim.cli", command, str(path)]
    if command == "run":
        args += ["--out", str(tmp_path / "out")]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(path) in proc.stderr and fragment in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(
    "text,fragment",
    [("trust:\n  n_schools: ten\n", "trust.n_schools: Input should be a valid integer"),
     ("a: [\n", "malformed YAML: line 2"),
     (None, "file not found")],
)
def test_cli_errors_exit_2_in_process(
    tmp_path: Path, capsys, command: str, text: str | None, fragment: str
) -> None:
    path = write(tmp_path, text) if text is not None else tmp_path / "missing.yaml"
    args = [command, str(path)] + (["--out", str(tmp_path / "out"), "--quiet"]
                                   if command == "run" else [])
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"srmsim: error: {path}: ")
    assert fragment in lines[0]
    assert captured.out == ""
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- overrides
def test_dotted_overrides_apply_on_load(default_scenario_path: Path) -> None:
    s = load_scenario(default_scenario_path,
                      {"population.fsm_rate": 0.3, "trust.n_schools": 4, "seed": 9})
    assert s.population.fsm_rate == pytest.approx(0.3)
    assert s.trust.n_schools == 4
    assert s.trust.students_per_year_group == 180  # a sibling key kept
    assert s.seed == 9


def test_nested_and_dotted_overrides_merge() -> None:
    merged = expand_dotted({"trust": {"n_schools": 2}, "trust.size_cv": 0.0})
    assert merged == {"trust": {"n_schools": 2, "size_cv": 0.0}}
    s = Scenario().with_overrides({"trust": {"n_schools": 2}, "trust.size_cv": 0.0})
    assert (s.trust.n_schools, s.trust.size_cv, s.trust.students_per_year_group) == (2, 0.0, 180)


def test_numpy_numbers_are_the_numbers_they_hold() -> None:
    """A sweep over np.arange gives np.int64 values: strict validation refused them as not
    integers. A numpy bool is still no number, and a numpy NaN still no finite number."""
    import numpy as np

    from srmsim.experiment.spec import experiment_from_dict
    from srmsim.trial.spec import trial_from_dict

    s = Scenario().with_overrides({"trust.n_schools": np.int64(3),
                                   "trust.year_groups": np.arange(7, 10),
                                   "population.fsm_rate": np.float32(0.25)})
    assert (s.trust.n_schools, s.trust.year_groups) == (3, [7, 8, 9])
    assert type(s.trust.n_schools) is int and s.population.fsm_rate == 0.25
    assert scenario_from_dict({"trust": {"n_schools": np.uint8(2)}}).trust.n_schools == 2
    with pytest.raises(ScenarioError, match="n_schools: Input should be a valid integer"):
        Scenario().with_overrides({"trust.n_schools": np.bool_(True)})
    with pytest.raises(ScenarioError, match="fsm_rate: is not a finite number but NaN"):
        Scenario().with_overrides({"population.fsm_rate": np.float64("nan")})
    experiments = Path(__file__).resolve().parents[1] / "experiments"
    quick = yaml.safe_load((experiments / "quickstart.yaml").read_text())
    quick["replications"] = np.int64(2)
    quick["variants"]["both"] = {"trust.n_schools": np.int64(2)}
    exp = experiment_from_dict(quick, "<e>", experiments)
    assert exp.replications == 2
    trial = yaml.safe_load((experiments / "trial_reading.yaml").read_text())
    trial["replications"] = np.int16(3)
    assert trial_from_dict(trial, "<t>", experiments).replications == 3


def test_invalid_override_names_its_key_path() -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario().with_overrides({"population.fsm_rate": 2.0})
    assert info.value.source == "overrides"
    assert [p for p, _ in info.value.problems] == ["population.fsm_rate"]
    with pytest.raises(ScenarioError, match="population.fsm_rat: unknown key"):
        Scenario().with_overrides({"population.fsm_rat": 0.2})


def test_conflicting_overrides_are_an_error() -> None:
    with pytest.raises(ScenarioError, match="trust.n_schools: conflicts"):
        expand_dotted({"trust": 3, "trust.n_schools": 2})



def test_conflicting_overrides_are_an_error_in_either_order() -> None:
    with pytest.raises(ScenarioError, match="trust: is given twice"):
        expand_dotted({"trust.n_schools": 2, "trust": 3})



@pytest.mark.parametrize("overrides", [
    {"trust.n_schools": 3, "trust": {"n_schools": 4}},
    {"trust": {"n_schools": 4}, "trust.n_schools": 3},
    {"policy.parameters.x": 1, "policy": {"parameters": {"x": 2}}},
])
def test_one_setting_given_dotted_and_nested_is_refused_not_won_by_the_later(overrides) -> None:
    """An experiment variant once ran with whichever of the two came later, without a word."""
    with pytest.raises(ScenarioError, match=r"\.(n_schools|x): is given twice \(dotted and nested\)"):
        expand_dotted(overrides)


def test_a_boolean_is_not_a_number_of_schools(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="trust.n_schools"):
        load_scenario(write(tmp_path, "trust:\n  n_schools: true\n"))


def test_scenario_objects_are_not_changed_by_overrides() -> None:
    base = Scenario()
    base.with_overrides({"trust.n_schools": 2})
    assert base.trust.n_schools == 10


# ----------------------------------------------------------------------------- digest
def test_digest_is_stable_and_tracks_content() -> None:
    a = Scenario()
    assert a.digest() == Scenario().digest()
    assert len(a.digest()) == 16
    assert a.with_overrides({"population.fsm_rate": 0.25}).digest() != a.digest()
    assert a.with_overrides({"seed": 2}).digest() != a.digest()
    # Stating a default explicitly, or in another key order, is the same scenario.
    assert scenario_from_dict({"trust": {"size_cv": 0.3, "n_schools": 10}}).digest() == a.digest()


def test_digest_is_the_same_in_another_process() -> None:
    code = ("from srmsim.scenario import Scenario; "
            "print(Scenario(trust={'n_schools': 3}).digest())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert proc.stdout.strip() == Scenario(trust={"n_schools": 3}).digest()


def test_resolved_yaml_round_trips_to_the_same_digest(tmp_path: Path) -> None:
    s = Scenario().with_overrides({"trust.n_schools": 3, "population.fsm_rate": 0.31,
                                   "dynamics.withdrawal_years": [11], "outputs.history": 25})
    text = s.to_yaml()
    assert "policy" not in yaml.safe_load(text)  # no policy: not written at all
    again = load_scenario(write(tmp_path, text))
    assert again == s
    assert again.digest() == s.digest()


@pytest.mark.parametrize("history, message", [
    (-1, "outputs.history: Input should be greater than or equal to 0 (got -1)"),
    ("weekly", "outputs.history: Input should be 'auto', 'all' or 'none' or a valid integer "
               "(got 'weekly')"),
])
def test_a_union_error_names_the_problem_of_the_branch_the_value_was_meant_for(history, message):
    """pydantic reports every branch of a union: -1 for history (a word or a count) was told
    only "Input should be 'auto', 'all' or 'none'", the word branch's complaint; a value of
    no branch's type is told every branch's expectation in one line."""
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict({"outputs": {"history": history}}, "s.yaml")
    assert err.value.problems == [("outputs.history", message.split(": ", 1)[1])]


@pytest.mark.parametrize(
    "raw,where,code",
    [(b"\x00\x01\x02", "line 1, column 1", "U+0000"),  # a binary file
     (b"name: x\ntrust:\n  n_schools: 2\x07\n", "line 3, column 15", "U+0007"),
     (b"name: x\r\ntrust:\r\n  n_schools: \x1b2\r\n", "line 3, column 14", "U+001B")],
)
def test_control_character_is_placed_in_one_line(tmp_path: Path, capsys, raw: bytes,
                                                 where: str, code: str) -> None:
    """A character YAML does not allow is reported at its line and column, on one line (not
    PyYAML's second line about a "<unicode string>" position)."""
    path = tmp_path / "scenario.yaml"
    path.write_bytes(raw)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unicode string" not in err
    assert err == (f"srmsim: error: {path}: malformed YAML: {where}: the character {code} is "
                   "not allowed in YAML text")
