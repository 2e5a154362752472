"""Hostile real-data inputs found by probing the data commands and the readers of pupil tables
(2026-12-07). Each case was reproduced first.

- A table of pupils with no id column (a scenario's ``population.records`` CSV, a
  ``thresholds`` export) appended to itself was read as twice the pupils, silently: every
  school twice its size in a run, every band of a threshold table twice its count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.errors import DataError
from srmsim.records import read_student_records


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err


def _pupils(n: int = 90, seed: int = 1) -> pd.DataFrame:
    """A records table without ids: school, year group, FSM (rows alike by chance abound)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"school": rng.choice(["A", "B", "C"], n),
                         "year_group": rng.choice([7, 8, 9], n),
                         "fsm": rng.choice(["true", "false"], n)})


def _export(n: int = 360, seed: int = 2) -> pd.DataFrame:
    """An analyst's export without ids: school, attendance (3 decimals), 0/1 outcome."""
    rng = np.random.default_rng(seed)
    attendance = np.round(rng.uniform(0.6, 1.0, n), 3)
    return pd.DataFrame({"school": rng.choice(list("ABCDEF"), n), "attendance_rate": attendance,
                         "withdrawn": (rng.random(n) < (1 - attendance) * 1.5).astype(int)})


# ------------------------------------------------ a table without ids appended to itself
def test_records_without_ids_appended_to_themselves_are_refused(tmp_path: Path, capsys):
    """`population.records: pupils.csv` (school, year_group, fsm; no student_id) written twice
    into one file ran with every school twice its size."""
    one = _pupils()
    path = tmp_path / "pupils.csv"
    pd.concat([one, one]).to_csv(path, index=False)
    (tmp_path / "s.yaml").write_text("name: s\npopulation:\n  records: pupils.csv\n")
    out = tmp_path / "run"
    err = _error(capsys, ["run", str(tmp_path / "s.yaml"), "--out", str(out), "--quiet"])
    assert "pupils.csv: rows 92-181 repeat rows 2-91 cell for cell (the file appended" in err
    assert "add a student_id column if they are different pupils" in err
    assert not out.exists()
    one.to_csv(path, index=False)  # the file once: read as it is
    assert len(read_student_records(path)) == 90


def test_records_repeated_three_times_and_around_a_blank_line_are_named_by_file_rows(
        tmp_path: Path) -> None:
    path = tmp_path / "pupils.csv"
    path.write_text("school,year_group,fsm\nA,7,true\n\nB,8,false\nA,7,true\nB,8,false\n"
                    "A,7,true\nB,8,false\n")
    with pytest.raises(DataError, match=r"rows 5-8 repeat rows 2-4 cell for cell, 2 times over"):
        read_student_records(path)


def test_records_with_ids_or_rows_alike_by_chance_are_not_taken_for_a_copy(tmp_path: Path):
    """Only a whole table repeating itself is refused: rows alike by chance (the same school,
    year and FSM), every row alike, or a copy with ids that tell the pupils apart, are read."""
    path = tmp_path / "pupils.csv"
    alike = pd.DataFrame({"school": ["A"] * 12, "year_group": [7] * 12, "fsm": ["true"] * 12})
    alike.to_csv(path, index=False)
    assert len(read_student_records(path)) == 12
    one = _pupils(40)
    twice = pd.concat([one, one], ignore_index=True)
    twice.insert(0, "student_id", [f"P{i}" for i in range(80)])
    twice.to_csv(path, index=False)
    assert len(read_student_records(path)) == 80
    chance = pd.concat([one, one.iloc[:39]], ignore_index=True)  # not the whole table twice
    chance.to_csv(path, index=False)
    assert len(read_student_records(path)) == 79


def test_repeated_block_finds_the_smallest_block() -> None:
    from srmsim.data.dataset import repeated_block

    one = _pupils(30)
    assert repeated_block(pd.concat([one] * 4)) == (30, 4)
    assert repeated_block(one) is None
    assert repeated_block(one.iloc[:1]) is None
    nested = pd.DataFrame({"a": [[1], [2], [1], [2]]})  # unhashable cells: compared as text
    assert repeated_block(nested) == (2, 2)


def test_thresholds_export_without_ids_appended_to_itself_is_refused(tmp_path: Path, capsys):
    """`cat` of an export without its header made every band count twice (on real data a
    band of 5 and 5 passed the threshold of 10), silently."""
    one = _export()
    path = tmp_path / "export.csv"
    pd.concat([one, one]).to_csv(path, index=False)
    out = tmp_path / "th"
    err = _error(capsys, ["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                          "withdrawn", "--n-boot", "40", "--out", str(out)])
    assert "export.csv: rows 362-721 repeat rows 2-361 cell for cell" in err
    assert not out.exists()


def test_thresholds_without_ids_says_repeats_are_not_checked(tmp_path: Path, capsys):
    path = tmp_path / "export.csv"
    _export().to_csv(path, index=False)
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--n-boot", "40", "--out", str(tmp_path / "th")]) == 0
    out = capsys.readouterr().out
    from srmsim.data.mapping import STUDENT_ID_COLUMNS

    assert f"export.csv: no student id column ({', '.join(STUDENT_ID_COLUMNS)}): each row is " \
           "taken as one student, and a student listed twice cannot be found" in out
    assert "pupil," in out  # (a column headed 'Pupil' is an id too: helper 242)


@pytest.mark.parametrize("column", ["UPN", " Student ID ", "Pupil_ID"])
def test_thresholds_finds_an_id_column_named_as_exports_name_it(tmp_path: Path, capsys,
                                                                column: str):
    """An id column named 'UPN' or 'Student ID' was not taken for one: a pupil twice passed."""
    df = _export()
    df.insert(0, column, [f"P{i:04d}" for i in range(len(df))])
    df = pd.concat([df, df.iloc[[7]]], ignore_index=True)
    path = tmp_path / "twice.csv"
    df.to_csv(path, index=False)
    err = _error(capsys, ["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                          "withdrawn", "--n-boot", "40", "--out", str(tmp_path / "th")])
    # named as import names it: trimmed (helper 233)
    assert f"column '{column.strip()}' (student id) repeats: row {len(df) + 1} has the id of " \
           "row 9" in err


# ------------------------------------------- identifiers where a breakdown's labels belong
def _import_students(tmp_path: Path, school) -> Path:
    sample = pd.read_csv(Path(__file__).parents[1] / "data/sample/students.csv", dtype=str)
    pupils = sample.head(60).copy()
    pupils["school"] = [school(i, sid) for i, sid in enumerate(pupils["student_id"])]
    pupils.to_csv(tmp_path / "students.csv", index=False)
    ds = tmp_path / "ds"
    assert main(["data", "import", str(tmp_path / "students.csv"), "--out", str(ds)]) == 0
    return ds


@pytest.mark.parametrize("school", [lambda i, sid: sid,  # the pupil id in the school column
                                    lambda i, sid: f"{['Alice', 'Bob', 'Chloe'][i % 3]} "
                                                   f"Smith{i}"])  # the pupils' names
def test_a_school_column_of_pupils_ids_or_names_is_not_published(tmp_path: Path, capsys,
                                                                school) -> None:
    """A school column holding the pupils' ids or names (a shifted export, a wrong mapping)
    was published as one row a pupil, labelled by the name, counts hidden but names shown."""
    ds = _import_students(tmp_path, school)
    assert "note: most school values are each one pupil's own: a name or pupil id in the " \
           "school column?" in capsys.readouterr().out  # said at import already
    err = _error(capsys, ["data", "summary", str(ds), "--out", str(tmp_path / "s.csv")])
    assert "--by school: most of its values are each one pupil's own" in err
    assert "P000" not in err and "Smith" not in err
    assert not (tmp_path / "s.csv").exists() and not (ds / "published.json").exists()


def test_a_few_tiny_schools_are_still_groups(tmp_path: Path, capsys) -> None:
    """Schools of one pupil among real schools (a small provision) are groups, shown as c."""
    ds = _import_students(tmp_path, lambda i, sid: f"T{i}" if i < 9 else "MAIN")
    assert "one pupil's own" not in capsys.readouterr().out
    assert main(["data", "summary", str(ds)]) == 0
    out = capsys.readouterr().out
    assert "MAIN" in out and "T8" in out


# ------------------------------------------------ thresholds: two columns of one name
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_thresholds_columns_one_name_in_another_case_are_refused(tmp_path: Path, capsys,
                                                                 suffix: str) -> None:
    """'withdrawn' and 'Withdrawn': --outcome withdrawn silently read one of the two (import
    and a records file take them for one column)."""
    df = _export()
    df["Withdrawn"] = 1 - df["withdrawn"]
    path = tmp_path / f"export{suffix}"
    df.to_csv(path, index=False) if suffix == ".csv" else df.to_parquet(path)
    err = _error(capsys, ["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                          "withdrawn", "--n-boot", "40", "--out", str(tmp_path / "th")])
    assert "column names 'withdrawn' and 'Withdrawn' are one name once case and spaces are " \
           "ignored" in err
    assert not (tmp_path / "th").exists()


def test_thresholds_export_with_its_header_again_below_is_named(tmp_path: Path, capsys):
    """`cat a.csv b.csv`: the second header was reported as a score holding text at its row,
    with no word of why (import and a records file say the header is repeated)."""
    a, b = _export(seed=3), _export(seed=4)
    path = tmp_path / "joined.csv"
    path.write_text(a.to_csv(index=False) + b.to_csv(index=False))
    err = _error(capsys, ["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                          "withdrawn", "--n-boot", "40", "--out", str(tmp_path / "th")])
    assert "joined.csv: row 362 repeats the header: two exports joined? remove it" in err
    one_cell = a.astype({"school": object})
    one_cell.loc[5, "school"] = "school"  # a cell equal to its column's name is data
    one_cell.to_csv(path, index=False)
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--n-boot", "40", "--out", str(tmp_path / "th")]) == 0



# ------------------------------------------------ a dataset written inside another's folder
def test_no_dataset_or_report_is_written_inside_a_dataset_folder(tmp_path: Path, capsys):
    """`data import --out DS/sub` (and `rdataset`, `validate --out`) wrote inside the private
    folder DS, after which `data import ... --out DS --overwrite` was refused: "holds files
    srmsim did not write there"."""
    sample = Path(__file__).parents[1] / "data/sample/students.csv"
    ds = tmp_path / "ds"
    assert main(["data", "import", "--students", str(sample), "--out", str(ds)]) == 0
    before = sorted(p.name for p in ds.iterdir())
    for argv in (["data", "import", "--students", str(sample), "--out", str(ds / "sub")],
                 ["data", "validate", "--students", str(sample), "--out", str(ds / "rep")],
                 ["data", "rdataset", "nlme", "MathAchieve", "--out", str(ds / "hsb")]):
        err = _error(capsys, argv)
        assert f"inside the dataset folder {ds}" in err
    assert sorted(p.name for p in ds.iterdir()) == before
    assert main(["data", "import", "--students", str(sample), "--out", str(ds),
                 "--overwrite"]) == 0
