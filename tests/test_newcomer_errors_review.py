"""A newcomer's commonest slips each get one line that says what to do.

Walk-through of README and docs/ (2026-12-07) as a trust's analyst and a teacher: a misspelt
key said only "check the spelling"; a key not indented under its section said the section
"should be a valid dictionary or instance of TrustConfig"; a YAML indentation slip said
"expected <block end>, but found '<block mapping start>'"; a mistyped path said "file not
found" with no clue which part was wrong; `srmsim report results` (the folder above the
results) and `srmsim compare` of a run's folder said only what they expected.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from srmsim.cli import main


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert err.startswith("srmsim: error: "), err
    return err.strip()


# ------------------------------------------------------------------ misspelt keys


@pytest.mark.parametrize("setting, key_path, meant", [
    ("trust.n_school=4", "trust.n_school", "n_schools"),
    ("population.fsm_rat=0.3", "population.fsm_rat", "fsm_rate"),
    ("polcy=null", "polcy", "policy"),
])
def test_a_misspelt_scenario_key_is_answered_with_the_key_meant(capsys, setting, key_path,
                                                                meant) -> None:
    err = _error(capsys, ["run", "--set", setting])
    assert f"{key_path}: unknown key: did you mean '{meant}'?" in err, err
    assert "file-format reference" in err


def test_a_misspelt_key_deep_in_a_policy_is_answered_too(tmp_path, capsys) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\npolicy:\n  rules: {low: 'attendance_rate < 0.9'}\n  workflows:\n"
                    "    w:\n      trigger: low\n      cooldown_week: 3\n"
                    "      steps: [{action: parent_text, weeks: 2}]\n", encoding="utf-8")
    err = _error(capsys, ["validate", str(path)])
    assert ("policy.workflows.w.cooldown_week: unknown key: did you mean 'cooldown_weeks'?"
            in err), err
    err = _error(capsys, ["run", "--set", "trust.zzz=1"])  # nothing near: as before
    assert err.endswith("trust.zzz: unknown key (check the spelling; every key is in the "
                        "documentation's file-format reference)"), err


def test_a_key_not_indented_under_its_section_names_the_section(tmp_path, capsys) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ntrust:\nn_schools: 4\n", encoding="utf-8")
    err = _error(capsys, ["validate", str(path)])
    assert "trust: is empty: give its keys indented under it" in err, err
    assert "n_schools: unknown key here: it belongs under 'trust' (trust.n_schools" in err
    assert "TrustConfig" not in err and "None" not in err
    err = _error(capsys, ["run", "--set", "absence_logit=-3"])
    assert "it belongs under 'dynamics' (dynamics.absence_logit" in err, err


def test_a_section_of_the_wrong_kind_names_no_class(tmp_path, capsys) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ntrust: 3\n", encoding="utf-8")
    err = _error(capsys, ["validate", str(path)])
    assert "trust: Input should be a mapping of keys to values (got 3)" in err, err
    assert "Config" not in err


def test_a_misspelt_experiment_key_is_answered_with_the_key_meant(tmp_path, capsys) -> None:
    (tmp_path / "e.yaml").write_text("name: e\nreplicatons: 2\nvariants: {a: {}}\n",
                                     encoding="utf-8")
    err = _error(capsys, ["experiment", str(tmp_path / "e.yaml"), "--out",
                          str(tmp_path / "o")])
    assert "replicatons: unknown key: did you mean 'replications'?" in err, err
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ YAML slips


@pytest.mark.parametrize("text, where, words", [
    ("trust:\n  n_schools: 4\n population:\n  fsm_rate: 0.3\n", "line 3, column 2",
     "this line does not line up with the lines above it"),
    ("trust:\n  n_schools: 4\n    seed: 3\n", "line 3, column 9",
     "unexpected ':' (is this line indented deeper than the one above"),
    ("trust:\n\tn_schools: 4\n", "line 2, column 1",
     "a tab character: indent YAML with spaces, not tabs"),
    ("trust:\n  n_schools: 4\n  seed\n  x: 1\n", "line 3, column 3",
     "this line has no ':'"),
    ('name: "abc\n', "line 1, column 7", "a quote opened here is never closed"),
    ("trust: {n_schools: 4\n", "line 1, column 8", "a '{' opened here is not closed"),
])
def test_yaml_slips_are_put_in_plain_words_at_the_line_to_fix(tmp_path, capsys, text, where,
                                                              words) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    err = _error(capsys, ["validate", str(path)])
    assert f"{path}: malformed YAML: {where}: {words}" in err, err
    assert "<block" not in err and "token" not in err and "scalar" not in err


# ------------------------------------------------------------------ wrong paths


@pytest.fixture
def examples(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "default.yaml").write_text("name: default\n", encoding="utf-8")
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "quickstart.yaml").write_text("name: q\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("given, meant", [
    ("scenario/default.yaml", "scenarios/default.yaml"),   # a folder misspelt
    ("scenarios/defualt.yaml", "scenarios/default.yaml"),  # a file misspelt
])
def test_a_mistyped_path_is_answered_with_the_file_meant(examples, capsys, given,
                                                         meant) -> None:
    err = _error(capsys, ["validate", given])
    assert err == f"srmsim: error: {given}: file not found (did you mean {meant}?)", err


def test_a_missing_file_names_the_folder_it_was_looked_for_in(examples, capsys) -> None:
    err = _error(capsys, ["validate", "scenarios/nothing_like_it.yaml"])
    assert err.endswith(f"file not found (the current folder is {os.getcwd()})"), err
    os.chdir(examples / "scenarios")  # the quickstart run from the wrong folder
    err = _error(capsys, ["experiment", "experiments/quickstart.yaml"])
    assert "file not found (no experiments/ folder in" in err, err
    assert "`srmsim examples DIR`" in err


# ------------------------------------------------------------------ the wrong result folder


def _result(folder: Path, marker: str) -> Path:
    folder.mkdir(parents=True)
    (folder / marker).write_text("{}", encoding="utf-8")
    return folder


def test_report_of_the_folder_above_the_results_names_them(tmp_path, capsys,
                                                           monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _result(Path("results", "quickstart"), "manifest.json")
    _result(Path("results", "reading"), "trial.json")
    Path("results", "notes").mkdir()
    err = _error(capsys, ["report", "results"])
    assert err == ("srmsim: error: results: not a result folder itself; the result folders in "
                   "it: results/quickstart, results/reading (give one of them)"), err
    err = _error(capsys, ["report", "results/quikstart"])
    assert err.endswith("no such folder (did you mean results/quickstart?)"), err
    err = _error(capsys, ["report", "."])  # nothing inside: what it expects, as before
    assert "not a result folder (expected manifest.json" in err, err


def test_compare_of_a_run_or_of_the_results_folder_says_what_to_give(tmp_path, capsys,
                                                                    monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _result(Path("out", "demo"), "summary.json")
    err = _error(capsys, ["compare", "out/demo"])
    assert ("it holds a run, which has no variants to compare (`srmsim report out/demo` "
            "describes it)") in err, err
    _result(Path("results", "quickstart"), "manifest.json")
    err = _error(capsys, ["compare", "results"])
    assert "the experiments in it: results/quickstart (give one of them)" in err, err
    Path("e.yaml").write_text("name: e\n", encoding="utf-8")
    err = _error(capsys, ["compare", "e.yaml"])
    assert "e.yaml: is a file; give the folder `srmsim experiment` wrote" in err, err
    err = _error(capsys, ["compare", "result/quickstart"])
    assert err.endswith("no such folder (did you mean results/quickstart?)"), err


@pytest.mark.parametrize("argv, given, meant, what", [
    (["data", "summary", "out/trst"], "out/trst", "out/trust", "no such folder"),
    (["calibrate", "out/trst", "--out", "fit"], "out/trst", "out/trust", "no such folder"),
    (["data", "anonymise", "out/trst", "--out", "anon", "--key-file", "k"], "out/trst",
     "out/trust", "no such folder"),
    (["thresholds", "out/dem", "--score", "s", "--outcome", "o"], "out/dem", "out/demo",
     "no such file or directory"),
    (["data", "validate", "data/studnts.csv"], "data/studnts.csv", "data/students.csv",
     "file not found"),
    (["data", "import", "data/students.csv", "data/observatons.csv", "--out", "ds"],
     "data/observatons.csv", "data/observations.csv", "file not found"),
    (["sensitivity", "results/uncertain_atendance"], "results/uncertain_atendance",
     "results/uncertain_attendance", "no such folder"),
    (["discover", "results/uncertain_atendance", "--condition", "attendance_diff < 0"],
     "results/uncertain_atendance", "results/uncertain_attendance", "no such folder"),
])
def test_every_command_answers_a_mistyped_input_with_the_one_meant(
        tmp_path, capsys, monkeypatch, argv, given, meant, what) -> None:
    """`srmsim data summary out/trus` said "not a dataset directory (expected dataset.json,
    ...)", `data validate` of a misspelt file "cannot tell which table this file holds",
    `thresholds` "no such file or directory", `sensitivity` "not an experiment results
    directory": none said the folder or file was simply mistyped."""
    monkeypatch.chdir(tmp_path)
    for folder in ("out/trust", "out/demo", "results/uncertain_attendance"):
        Path(folder).mkdir(parents=True)
    Path("data").mkdir()
    for name in ("students.csv", "observations.csv"):
        Path("data", name).write_text("student_id\n", encoding="utf-8")
    Path("data", "k").write_text(secrets.token_hex(32), encoding="utf-8")
    Path("data", "k").chmod(0o600)
    err = _error(capsys, [a.replace("k", "data/k") if a == "k" else a for a in argv])
    assert err == f"srmsim: error: {given}: {what} (did you mean {meant}?)", err
    assert not Path(given).exists() and sorted(p.name for p in Path(".").iterdir()) == [
        "data", "out", "results"]  # nothing written


def test_a_mistyped_records_folder_in_a_scenario_is_answered_with_the_one_meant(
        tmp_path, capsys) -> None:
    """`population: {records: out/trst}` said "out/trst/students.parquet: no student records
    here (expected an imported dataset directory ...)"."""
    (tmp_path / "out" / "trust").mkdir(parents=True)
    (tmp_path / "s.yaml").write_text("name: s\npopulation:\n  records: out/trst\n",
                                     encoding="utf-8")
    err = _error(capsys, ["validate", str(tmp_path / "s.yaml")])
    assert err.endswith(f"population.records: {tmp_path / 'out' / 'trst'}: no such file or "
                        f"folder (did you mean {tmp_path / 'out' / 'trust'}?)"), err


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command, file, said", [
    (["run"], "experiments/quickstart.yaml",
     "an experiment file (it has 'variants:'), not a scenario: run it with `srmsim experiment"),
    (["experiment", "--workers", "1"], "scenarios/default.yaml",
     "a scenario file (it has 'years:'), not an experiment: run it with `srmsim run"),
    (["trial", "--workers", "1"], "experiments/quickstart.yaml",
     "an experiment file (it has 'variants:'), not a trial: run it with `srmsim experiment"),
    (["experiment", "--workers", "1"], "experiments/trial_reading.yaml",
     "a trial file (it has 'randomise:'), not an experiment: run it with `srmsim trial"),
    (["run"], "experiments/optimise_attendance.yaml",
     "an optimisation file (it has 'objectives:'), not a scenario: run it with `srmsim optimise"),
    (["optimise", "--workers", "1"], "experiments/quickstart.yaml",
     "an experiment file (it has 'variants:'), not an optimisation: run it with `srmsim "
     "experiment"),
])
def test_a_study_file_given_to_the_wrong_command_names_the_right_one(
        tmp_path, capsys, monkeypatch, command, file, said) -> None:
    """`srmsim run experiments/quickstart.yaml` listed five "unknown key (check the spelling;
    ...)" lines, one per experiment key; `srmsim experiment scenarios/default.yaml` three
    "Field required" and two "unknown key"."""
    monkeypatch.chdir(tmp_path)
    path = ROOT / file
    err = _error(capsys, [command[0], str(path), *command[1:]])
    assert err == f"srmsim: error: {path}: {said} {path}`", err
    assert list(tmp_path.iterdir()) == []  # nothing run, nothing written
