"""Helper 242: small input leftovers (resume into a missing folder, the student id column's
names, import's wording for a missing number, every grid value of a lever as a divisor)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import cli_refuses


def _command(kind: str, tmp: Path) -> list[str]:
    if kind == "experiment":
        from test_experiment import write_experiment

        return ["experiment", str(write_experiment(tmp, replications=2))]
    if kind == "optimise":
        from test_explore import small_front_file

        return ["optimise", str(small_front_file(tmp))]
    from test_trial_resume import write_trial

    return ["trial", str(write_trial(tmp, 2))]


@pytest.mark.parametrize("kind", ["experiment", "optimise", "trial"])
def test_resume_into_a_folder_that_does_not_exist_is_refused(kind, tmp_path, capsys):
    """`--out results/typo --resume` started a fresh study, silently: the user asked for their
    earlier runs. Refused in one line, nothing written."""
    argv = _command(kind, tmp_path)
    out = tmp_path / "results" / "typo"
    before = sorted(tmp_path.rglob("*"))
    err = cli_refuses(capsys, [*argv, "--out", str(out), "--resume", "--quiet", "--workers",
                               "1"],
                      contains=f"{out}: no such folder to resume; leave out --resume to start "
                               "a new study there")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists()
    assert sorted(tmp_path.rglob("*")) == before


# --------------------------------------------------- 2. a column headed 'Pupil' is the id
@pytest.mark.parametrize("column", ["pupil", "Pupil"])
def test_a_pupil_twice_under_a_pupil_column_is_refused_by_thresholds(tmp_path, capsys, column):
    """'Student' and 'Pupil ID' were taken as the id, 'Pupil' was not: each row counted as a
    student, so a pupil listed twice counted twice (on real data, toward the 10)."""
    from test_risk_cli import students

    df = students(n_schools=3).rename(columns={"uid": column})
    df = pd.concat([df, df.iloc[[7]]], ignore_index=True)
    path = tmp_path / "twice.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "out"
    cli_refuses(capsys, ["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                         "withdrawn", "--out", str(out)],
                contains=f"twice.csv: column '{column}' (student id) repeats: row "
                         f"{len(df) + 1} has the id of row 9")
    assert not out.exists()


def test_a_pupil_twice_under_a_pupil_column_is_refused_as_population_records(tmp_path):
    from test_records_id_columns import _pupils

    from srmsim.errors import DataError
    from srmsim.records import read_student_records

    pupils = _pupils("Pupil")
    path = tmp_path / "records.csv"
    pd.concat([pupils, pupils.iloc[[4]]]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"column 'Pupil' \(student id\) repeats: row 32 has "
                                        r"the id of row 6"):
        read_student_records(path)


def test_import_names_the_column_that_is_the_id_elsewhere(tmp_path, capsys):
    """Without a mapping, a students file with 'Pupil' for its ids said only that the column
    was not imported (and student_id missing), while thresholds and records took it as the
    id: the note now says to map it."""
    from srmsim.cli import main

    path = tmp_path / "students.csv"
    path.write_text("Pupil,school,year_group,age_months\n"
                    + "".join(f"P{i},S1,7,140\n" for i in range(12)))
    assert main(["data", "import", str(path), "--out", str(tmp_path / "out")]) == 2
    printed = capsys.readouterr().out
    assert ("column 'Pupil' is by its name the student id (as thresholds and "
            "population.records take it): map it to student_id in a --mapping file "
            "(students: {columns: {'Pupil': student_id}})") in printed, printed


# ----------------------------------------- 3. import's wrong type names the missing words
def test_import_says_how_a_missing_number_is_written(tmp_path, capsys):
    """'-nan' in a number field (missing to pandas, text here) was refused as "exam_score must
    be a number" alone; thresholds says what a missing cell may be: now import does too, with
    the mapping's own words."""
    from srmsim.cli import main

    (tmp_path / "students.csv").write_text(
        "student_id,school,year_group,age_months\n"
        + "".join(f"S{i},A,7,140\n" for i in range(12)))
    (tmp_path / "observations.csv").write_text(
        "student_id,school,period_type,period,sessions_possible,sessions_attended,exam_score\n"
        + "".join(f"S{i},A,week,1,10,9,{'-nan' if i == 3 else '50.5' if i == 4 else 50}\n"
                  for i in range(12)))
    (tmp_path / "m.yaml").write_text("missing_values: ['', 'x']\nstudents: {files: "
                                     "['students*']}\nobservations: {files: ['observ*']}\n")
    for mapping, words in (([], "NA, N/A, n/a, NULL, null, NaN, nan, None, #N/A"),
                           (["--mapping", str(tmp_path / "m.yaml")], "x")):
        out = tmp_path / f"out{len(mapping)}"
        assert main(["data", "import", str(tmp_path / "students.csv"),
                     str(tmp_path / "observations.csv"), "--out", str(out), "--show", "5",
                     *mapping]) == 2
        printed = capsys.readouterr().out
        assert ("exam_score '-nan' -- wrong_type: exam_score must be a number; a missing value "
                f"is an empty cell or one of {words}\n") in printed, printed
        assert not (out / "observations.parquet").exists()


def test_a_fraction_in_a_whole_number_field_is_not_told_of_missing_words(tmp_path, capsys):
    from srmsim.cli import main

    (tmp_path / "students.csv").write_text(
        "student_id,school,year_group,age_months\n"
        + "".join(f"S{i},A,7,{'140.5' if i == 2 else 140}\n" for i in range(12)))
    assert main(["data", "import", str(tmp_path / "students.csv"), "--out",
                 str(tmp_path / "out"), "--show", "5"]) == 2
    printed = capsys.readouterr().out
    assert "wrong_type: age_months must be a whole number\n" in printed, printed


# ------------------------------------ 4. every value of a parameter lever's grid is checked
DIVISOR = ("name: div\ntrust: {{n_schools: 1, students_per_year_group: 20}}\npolicy:\n"
           "  parameters: {{k: 0}}\n  rules:\n    low: \"attendance(4) < 1 / ({divisor})\"\n"
           "  workflows:\n    w:\n      trigger: low\n"
           "      steps:\n        - {{action: parent_text, weeks: 6}}\n")
OPTIMISATION = ("name: o\nscenario: div.yaml\nreplications: 1\nseed: 1\nlevers:\n"
                "  policy.parameters.k: {lever}\n"
                "objectives: {{attendance: maximise, staff_hours: minimise}}\n"
                "search: {{sampler: nsga2, trials: 6, batch: 3}}\n"
                "reevaluate: {{replications: 2, front_max: 2}}\n")


def _optimisation(tmp: Path, divisor: str, lever: str) -> Path:
    (tmp / "div.yaml").write_text(DIVISOR.format(divisor=divisor))
    path = tmp / "o.yaml"
    path.write_text(OPTIMISATION.format(lever=lever))
    return path


@pytest.mark.parametrize("divisor, lever, value", [
    ("k - 3", "{low: 0, high: 6, integer: true}", "3"),
    ("k - 4", "{low: 0, high: 6, integer: true, step: 2}", "4"),
    ("k - 0.75", "{low: 0, high: 1, step: 0.25}", "0.75"),
])
def test_a_grid_value_that_divides_by_zero_is_refused_by_validate(tmp_path, capsys, divisor,
                                                                  lever, value):
    """Only 0 and the ends were checked: `1 / (k - 3)` with k from 0 to 6 passed validate and
    failed the first batch that drew 3. The first such value is refused, naming the lever,
    the value and the rule."""
    pytest.importorskip("optuna")
    path = _optimisation(tmp_path, divisor, lever)
    err = cli_refuses(capsys, ["validate", str(path)],
                      contains=f"levers: policy.rules.low: rule 'low': '1 / ({divisor})'")
    assert "divides by zero" in err
    assert f"(the search may propose policy.parameters.k = {value})" in err


def test_a_grid_that_never_divides_by_zero_passes_and_a_long_one_is_noted(tmp_path, capsys):
    pytest.importorskip("optuna")
    from srmsim.cli import main
    from srmsim.explore.optimise import MAX_GRID_CHECKED

    path = _optimisation(tmp_path, "k - 3.5", "{low: 0, high: 6, integer: true}")
    assert main(["validate", str(path)]) == 0
    assert "note:" not in capsys.readouterr().out
    path = _optimisation(tmp_path, "k - 3", f"{{low: 0, high: {MAX_GRID_CHECKED}, "
                                            "integer: true}")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert (f"note: levers: policy.parameters.k: its grid holds {MAX_GRID_CHECKED + 1:,} "
            f"values, more than the {MAX_GRID_CHECKED:,} checked one by one") in out


def test_the_grid_budget_is_the_levers_together(tmp_path, capsys, monkeypatch):
    """Each lever had its own 2,000 values: fifty levers of 1,000 built 50,000 scenarios before
    the search. The budget is shared: a second lever past what the first left is noted."""
    pytest.importorskip("optuna")
    from srmsim.cli import main
    from srmsim.explore import optimise

    monkeypatch.setattr(optimise, "MAX_GRID_CHECKED", 10)
    (tmp_path / "div.yaml").write_text(DIVISOR.format(divisor="k + j + 1").replace(
        "parameters: {k: 0}", "parameters: {k: 0, j: 0}"))
    path = tmp_path / "o.yaml"
    path.write_text(OPTIMISATION.format(lever="{low: 0, high: 6, integer: true}").replace(
        "objectives:", "  policy.parameters.j: {low: 0, high: 6, integer: true}\nobjectives:"))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "note: levers: policy.parameters.k:" not in out  # 7 values: within the 10
    assert ("note: levers: policy.parameters.j: its grid holds 7 values, more than the 10 "
            "checked one by one (for all levers together)") in out, out
