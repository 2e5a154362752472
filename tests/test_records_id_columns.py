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


def test_a_dataset_import_accepted_with_letter_codes_is_accepted_as_records(tmp_path: Path):
    """Pupil ids that are codes of letters alone ('KXBQZ') pass `srmsim data import` (its rule
    refuses full names, two words or more) but the dataset it wrote was then refused as
    ``population.records`` ("row 2 holds a name or a label"), by the one-word rule records
    apply to a bare file of their own. A dataset folder is judged by import's rule; a bare
    file keeps the stricter one."""
    import string
    import sys

    import numpy as np

    sys.path.insert(0, str(Path(__file__).parent))
    from test_data_fakes import fake_export, write_export

    students, observations = fake_export(seed=4, n_students=60, n_weeks=2,
                                         schools=("NORTH", "SOUTH"))
    rng = np.random.default_rng(1)
    codes = {old: "".join(rng.choice(list(string.ascii_uppercase), 6))
             for old in students["Pupil Ref"]}
    students["Pupil Ref"] = students["Pupil Ref"].map(codes)
    observations["Pupil Ref"] = observations["Pupil Ref"].map(codes)
    paths = write_export(tmp_path, students, observations)
    dataset = tmp_path / "raw"
    assert main(["data", "import", str(paths["students"]), str(paths["observations"]),
                 "--mapping", str(paths["mapping"]), "--out", str(dataset), "--show", "0"]) == 0
    assert len(read_student_records(dataset)) == 60
    table = pd.read_parquet(dataset / "students.parquet")
    assert table["student_id"].str.fullmatch("[A-Z]{6}").all()  # the codes, as imported
    bare = tmp_path / "records.parquet"  # the same table as a bare file: the one-word rule
    table.to_parquet(bare)
    with pytest.raises(DataError, match="holds a name or a label"):
        read_student_records(bare)
    named = table.assign(student_id=[f"Amy {code.title()}" for code in table["student_id"]])
    named.to_parquet(dataset / "students.parquet")  # full names in a dataset: still refused
    with pytest.raises(DataError, match="holds a name or a label"):
        read_student_records(dataset)
