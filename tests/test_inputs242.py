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
