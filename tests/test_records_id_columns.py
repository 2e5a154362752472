"""A scenario's population.records file whose id column is headed as school exports head it
('Student ID', 'Pupil ID'): a pupil listed twice was counted as two pupils, silently, where a
``student_id`` column refused the copy (found reviewing records files, 2026-12-07)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.errors import DataError
from srmsim.records import read_student_records

SAMPLE = Path(__file__).parents[1] / "data/sample/students.csv"


def _pupils(column: str, n: int = 30) -> pd.DataFrame:
    return pd.read_csv(SAMPLE, dtype=str).head(n).rename(columns={"student_id": column})


@pytest.mark.parametrize("column", ["Student ID", "Pupil ID", " student id", "ID"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_pupil_twice_under_an_export_id_column_is_refused(tmp_path: Path, column, suffix):
    pupils = _pupils(column)
    path = tmp_path / f"records{suffix}"
    write = pupils.to_csv if suffix == ".csv" else pupils.to_parquet
    write(path, index=False)
    assert len(read_student_records(path)) == 30  # distinct ids: accepted
    again = pupils.iloc[[4]].assign(school="S02")  # one pupil in two schools' rows
    write = pd.concat([pupils, again]).to_csv if suffix == ".csv" else \
        pd.concat([pupils, again]).to_parquet
    write(path, index=False)
    with pytest.raises(DataError) as err:
        read_student_records(path)
    shown = column.strip() if suffix == ".csv" else column  # a CSV's header is trimmed
    assert str(err.value) == (
        f"{path}: column '{shown}' (student id) repeats: row 32 has the id of row 6; each row "
        "must be one student, counted once (remove the copy)")
    assert "P00004" not in str(err.value)  # rows named, never the id


def test_a_scenario_built_from_such_records_is_refused_by_validate(tmp_path: Path, capsys):
    pupils = _pupils("Student ID")
    pd.concat([pupils, pupils.iloc[[4]]]).to_csv(tmp_path / "records.csv", index=False)
    (tmp_path / "s.yaml").write_text("name: from_records\npopulation:\n  records: records.csv\n")
    assert main(["validate", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert "column 'Student ID' (student id) repeats: row 32 has the id of row 6" in err
    assert "Traceback" not in err


def test_blank_ids_are_no_one_and_a_repeated_block_names_the_id_column(tmp_path: Path):
    """A missing id is not a repeat; a file appended to itself is told by its ids (the
    'no id column' message was wrong for a file that has one)."""
    pupils = _pupils("Student ID")
    pupils.loc[[3, 8], "Student ID"] = ""
    pupils.to_csv(tmp_path / "r.csv", index=False)
    assert len(read_student_records(tmp_path / "r.csv")) == 30
    pd.concat([pupils, pupils]).to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(DataError, match=r"column 'Student ID' \(student id\) repeats: row 32 "
                                        r"has the id of row 2;"):
        read_student_records(tmp_path / "r.csv")
