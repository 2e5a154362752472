"""Hostile scenario, experiment, trial and optimisation inputs through the CLI: each gets a
clean exit 2 with a short message and no traceback, and nothing the command did not write is
overwritten or lost."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import tiny_policy_scenario

from srmsim.cli import main

REPO = Path(__file__).resolve().parents[1]
SCENARIO = tiny_policy_scenario(seed=3,
                                trust={"n_schools": 1, "students_per_year_group": 30})


def write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False),
                    encoding="utf-8")
    return path


def fails(capsys, *argv: str, contains: str = "") -> str:
    """Run the CLI in-process; it must exit 2 with one short message and no traceback."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "Traceback" not in err, err
    assert len(err) < 2000 and max(len(x) for x in err.splitlines()) < 500
    assert contains in err, err
    return err


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return write(tmp_path / "tiny.yaml", SCENARIO)


def _study_files(kind: str, scenario_name: str) -> dict[str, object]:
    if kind == "experiment":
        return {"name": "e", "scenario": scenario_name, "baseline": "a", "replications": 2,
                "variants": {"a": {}}}
    if kind == "trial":
        return {"name": "t", "scenario": scenario_name, "outcome": "attendance",
                "randomise": {"unit": "students", "share_treated": 0.5}, "replications": 1}
    return {"name": "o", "scenario": scenario_name, "replications": 1,
            "levers": {"policy.parameters.attendance_threshold": {"low": 0.8, "high": 0.9}},
            "objectives": {"attendance": "maximise"}}


@pytest.mark.parametrize("kind", ["experiment", "trial", "optimise"])
@pytest.mark.parametrize("name,says", [("tiny.yaml\0", "U+0000"), ("tiny.yaml\n", "U+000A"),
                                       ("", "cannot be empty")])
def test_a_scenario_path_with_a_nul_or_control_character_is_a_clean_error(
        tmp_path, capsys, scenario, kind, name, says):
    # a NUL in `scenario:` reached Path.resolve(): "ValueError: embedded null byte", a traceback
    study = write(tmp_path / f"{kind}.yaml", _study_files(kind, name))
    fails(capsys, "validate", str(study), contains="scenario: ")
    assert says in fails(capsys, "validate", str(study))
    out = tmp_path / "out"
    fails(capsys, kind, str(study), "--out", str(out), "--workers", "1", "--quiet")
    assert not out.exists()


def test_optimise_never_writes_into_a_folder_of_other_files(tmp_path, capsys, scenario):
    # `srmsim optimise --out FOLDER` wrote its study and results into any folder: a user's own
    # trials.csv or report.html there was overwritten
    study = write(tmp_path / "opt.yaml", {
        **_study_files("optimise", "tiny.yaml"), "search": {"trials": 2, "batch": 2},
        "reevaluate": {"replications": 2, "front_max": 1}})
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "trials.csv").write_text("my own table\n")
    (mine / "notes.txt").write_text("notes\n")
    fails(capsys, "optimise", str(study), "--out", str(mine), "--workers", "1", "--quiet",
          contains="holds files this command did not write there (notes.txt, trials.csv)")
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt", "trials.csv"]
    assert (mine / "trials.csv").read_text() == "my own table\n"
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    fails(capsys, "optimise", str(study), "--out", str(a_file), "--workers", "1", "--quiet",
          contains="not a directory")
    assert a_file.read_text() == "x"


@pytest.mark.parametrize("scenario_file,says", [
    ("missing.yaml", "scenario: "),
    ("broken.yaml", "scenario: "),
])
def test_optimise_names_its_scenario_not_the_overrides_for_a_problem_of_the_file(
        tmp_path, capsys, scenario, scenario_file, says):
    # a missing or invalid scenario file was reported as "o.yaml: overrides: file not found",
    # blaming a key the file may not even have
    write(tmp_path / "broken.yaml", {"trust": {"n_schools": -1}})
    study = write(tmp_path / "o.yaml", _study_files("optimise", scenario_file))
    err = fails(capsys, "validate", str(study), contains=f"o.yaml: {says}")
    assert "overrides" not in err and scenario_file in err
    # a problem the overrides make is still theirs
    study = write(tmp_path / "o.yaml", {**_study_files("optimise", "tiny.yaml"),
                                        "overrides": {"trust.n_schools": -1}})
    fails(capsys, "validate", str(study), contains="o.yaml: overrides: trust.n_schools")


@pytest.mark.parametrize("alpha", [1e-300, 1e-17])
def test_a_trial_alpha_too_small_for_a_finite_interval_is_refused_before_running(
        tmp_path, capsys, scenario, alpha):
    # 1 - alpha/2 rounded to 1: every interval was infinite, and after the run the trial
    # refused its own stored row as "hand-edited or corrupt", telling the user to delete it
    study = write(tmp_path / "t.yaml", {**_study_files("trial", "tiny.yaml"),
                                        "analysis": {"alpha": alpha}})
    out = tmp_path / "out"
    fails(capsys, "trial", str(study), "--out", str(out), "--workers", "1", "--quiet",
          contains="analysis.alpha")
    assert not out.exists()


HUGE_HEX = "0x" + "f" * 9_000  # YAML 1.2 hex: about 10,800 decimal digits, past Python's 4,300


@pytest.mark.parametrize("text", [f"trust: {{n_schools: {HUGE_HEX}}}\n", f"seed: {HUGE_HEX}\n",
                                  f"trust: {{size_cv: {HUGE_HEX}}}\n"])
def test_a_whole_number_too_long_to_print_is_a_clean_error(tmp_path, capsys, text):
    # the message quoted the value with repr(): "ValueError: Exceeds the limit (4300 digits)
    # for integer string conversion", a traceback
    err = fails(capsys, "validate", str(write(tmp_path / "s.yaml", text)),
                contains="a whole number of about 10,837 digits")
    assert "Exceeds the limit" not in err


def test_a_set_value_too_long_to_print_is_a_clean_error(capsys, scenario, tmp_path):
    out = tmp_path / "out"
    fails(capsys, "run", str(scenario), "--set", f"trust.n_schools={HUGE_HEX}", "--out",
          str(out), "--quiet", contains="trust.n_schools: Input should be less than")
    assert not out.exists()


def test_a_lone_surrogate_in_any_yaml_text_is_refused_before_anything_runs(tmp_path, capsys,
                                                                           scenario):
    # YAML's "\ud800" escape gave a text no UTF-8 file can hold: as a file name it was a
    # UnicodeEncodeError traceback, in a rule's comment the run finished and writing its
    # report crashed
    cases = {
        "records.yaml": 'population: {records: "\\ud800.parquet"}\n',
        "experiment.yaml": 'name: x\nscenario: "\\udc80"\nbaseline: a\nvariants: {a: {}}\n',
        "key.yaml": 'policy: {parameters: {"\\ud800": 1}}\n',
    }
    for name, text in cases.items():
        fails(capsys, "validate", str(write(tmp_path / name, text)), contains="surrogate")
    data = {**SCENARIO, "policy": {**SCENARIO["policy"], "rules": {"low_attendance": {
        "when": "attendance_rate < attendance_threshold # \ud800"}}}}
    path = tmp_path / "comment.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")  # PyYAML writes it as "\uD800"
    out = tmp_path / "out"
    fails(capsys, "run", str(path), "--out", str(out), "--quiet", "--report",
          contains="comment.yaml: malformed YAML: line")
    assert not out.exists()


def test_report_of_a_summary_edited_to_hold_a_lone_surrogate_is_a_clean_error(tmp_path, capsys,
                                                                            scenario):
    # json reads "\ud800" as a lone surrogate: writing report.html quoting it was a
    # UnicodeEncodeError traceback
    run = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    summary = run / "summary.json"
    summary.write_text(summary.read_text().replace('"scenario": "tiny"',
                                                   '"scenario": "ti\\ud800ny"'))
    fails(capsys, "report", str(run), contains="summary.json: unreadable (holds U+D800")
    assert not (run / "report.html").exists()


def test_report_out_never_replaces_a_device_or_pipe(tmp_path, capsys, scenario):
    # `srmsim report DIR --out /dev/null` renamed the report onto /dev/null: run as root, the
    # device became a regular file; a named pipe was replaced the same way
    import os
    import stat

    run = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    fails(capsys, "report", str(run), "--out", str(pipe), contains="device, pipe or socket")
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert not (run / "report.html").exists()


@pytest.mark.parametrize("choice, says", [(HUGE_HEX, "a whole number of about 10,837 digits"),
                                          (".nan", "finite number"), (".inf", "finite number")])
def test_a_lever_choice_no_parameter_can_hold_is_refused_by_name(tmp_path, capsys, scenario,
                                                                 choice, says):
    """Choices become float parameters: a 10,000-digit whole number failed in json.dumps with
    Python's "Exceeds the limit (4300 digits)", and NaN or infinity passed into the search."""
    data = _study_files("optimise", scenario.name)
    text = yaml.safe_dump(data, sort_keys=False).replace(
        "low: 0.8\n    high: 0.9", f"choices: [0.85, {choice}]")
    assert "choices" in text
    err = fails(capsys, "validate", str(write(tmp_path / "o.yaml", text)),
                contains="levers.policy.parameters.attendance_threshold.choices[1]")
    assert says in err and "Exceeds the limit" not in err
