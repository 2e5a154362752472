"""``srmsim thresholds`` on hostile tables: missing words, padded missing words, blank lines,
files too large for memory, an id column of names, a results folder of another kind, and (in
``srmsim data import``) placeholder dates. Each is refused or read as ``data import`` reads the
same file, with a short message naming the file, column and row, exit status 2 and nothing
written."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.commands.thresholds import load_frame
from srmsim.data.mapping import DEFAULT_MISSING

sys.path.insert(0, str(Path(__file__).parent))
from test_risk_cli import students  # noqa: E402

ARGS = ["--score", "attendance_rate", "--outcome", "withdrawn", "--n-boot", "40"]
#: what pandas reads as missing and ``data import`` does not (it refuses them in a number)
PANDAS_ONLY = ["-nan", "#NA", "<NA>", "1.#IND", "-NaN", "#N/A N/A", "-1.#QNAN"]


def export(tmp_path: Path, column: str, value: str, rows: slice = slice(0, 12),
           name: str = "export.csv") -> Path:
    """A school's export (real data) with ``value`` written in ``column`` of ``rows``."""
    df = students().astype({column: object})
    df.loc[df.index[rows], column] = value
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("word", [w for w in DEFAULT_MISSING if w])
def test_import_missing_words_are_missing(tmp_path: Path, word: str):
    frame, _ = load_frame(export(tmp_path, "attendance_rate", word))
    assert frame["attendance_rate"].dtype == float
    assert int(frame["attendance_rate"].isna().sum()) == 12


@pytest.mark.parametrize("word", PANDAS_ONLY)
def test_pandas_only_missing_words_are_text_as_import_reads_them(tmp_path: Path, capsys,
                                                                 word: str):
    """'-nan' was a missing score here and a rejected number in `data import`: one list."""
    path = export(tmp_path, "attendance_rate", word, rows=slice(4, 16))
    out = tmp_path / "out"
    assert main(["thresholds", str(path), *ARGS, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "column 'attendance_rate': score must be numeric; row 6 holds text" in err, err
    assert "Traceback" not in err and not out.exists()


def test_import_refuses_the_same_words(tmp_path: Path):
    """The other half of the one definition: import reads a pandas-only word as a value (a
    number it refuses) and an import missing word as missing."""
    from srmsim.data.mapping import Mapping
    from srmsim.data.validate import validate_files

    base = pd.read_csv(Path(__file__).parents[1] / "data" / "sample" / "students.csv",
                       dtype=str, keep_default_na=False).head(6)
    base.loc[1, "prior_attainment"] = "-nan"
    base.loc[2, "prior_attainment"] = "<NA>"
    base.loc[3, "prior_attainment"] = " NA "
    path = tmp_path / "students.csv"
    base.to_csv(path, index=False)
    result = validate_files({"students": [path]}, Mapping())
    assert sorted(result.rejects["row"].tolist()) == [3, 4]
    assert set(result.rejects["field"]) == {"prior_attainment"}


@pytest.mark.parametrize("word", [" NA ", "\tN/A", " null", "nan "])
def test_padded_missing_words_in_a_group_column_are_missing(tmp_path: Path, word: str):
    """' NA ' in a --by column was a group called ' NA ' (import trims it: missing)."""
    frame, _ = load_frame(export(tmp_path, "sex", word))
    assert int(frame["sex"].isna().sum()) == 12
    assert set(frame["sex"].dropna()) == {"F", "M"}


def test_padded_missing_word_in_the_cluster_column_is_a_missing_school(tmp_path: Path, capsys):
    """'\\tN/A' in the school column was a seventh school of the bootstrap."""
    path = export(tmp_path, "school", "\tN/A", rows=slice(3, 15))
    out = tmp_path / "out"
    assert main(["thresholds", str(path), *ARGS, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "column 'school': cluster (school) is missing in 12 rows, first at row 5" in err, err
    assert not out.exists()


def test_rows_are_named_as_the_file_numbers_them_after_blank_lines(tmp_path: Path, capsys):
    """pandas skips blank lines: the row named was one too early for each blank line above
    it. Named as `data import` names it (a record over two lines is one row)."""
    from srmsim.data.readers import read_raw

    df = students(n_schools=2).astype({"attendance_rate": object, "sex": object})
    df.loc[39, "attendance_rate"] = "7a"  # row 41 of the file as written
    df.loc[20, "sex"] = "F\nx"  # a quoted line break above it: one row, two lines
    lines = df.to_csv(index=False).splitlines()
    # a blank line, one of spaces and a tab, and a blank line above it, and one at the end
    text = "\n".join([*lines[:10], "", "  \t", *lines[10:30], "", *lines[30:]]) + "\n\n"
    path = tmp_path / "gaps.csv"
    path.write_text(text)
    raw = read_raw(path, missing_values=DEFAULT_MISSING)
    row = int(raw.rows[(raw.frame[4] == "7a").to_numpy()][0])  # as import names it
    assert row == 41 + 3
    out = tmp_path / "out"
    assert main(["thresholds", str(path), *ARGS, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"row {row} holds text" in err, err


def test_a_csv_too_large_for_memory_is_refused_before_it_is_read(tmp_path: Path, capsys,
                                                                 monkeypatch):
    import srmsim.memory

    path = tmp_path / "export.csv"
    students().to_csv(path, index=False)
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 20_000)

    def never(*args, **kwargs):
        raise AssertionError("read before the memory check")

    monkeypatch.setattr(pd, "read_csv", never)
    out = tmp_path / "out"
    assert main(["thresholds", str(path), *ARGS, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: " in err and "about 721 rows of 6 columns" in err, err
    assert "of memory and 0 MiB is free" in err and not out.exists()


def test_valid_file_with_no_blank_line_keeps_its_numbers(tmp_path: Path):
    """The read is the same where nothing hostile is in the file."""
    df = students()
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    frame, _ = load_frame(path)
    assert frame.index.tolist() == list(range(2, len(df) + 2))
    np.testing.assert_array_equal(frame["attendance_rate"].to_numpy(),
                                  df["attendance_rate"].to_numpy())


@pytest.mark.parametrize(("marker", "scenario", "what"), [
    ("trial.json", "scenario.yaml", "a trial's results folder (trial.json)"),
    ("optimise.json", "base_scenario.yaml", "an optimisation's results folder (optimise.json)"),
])
def test_a_trial_or_optimisation_folder_is_named_with_the_command_that_reads_it(
        tmp_path: Path, capsys, marker: str, scenario: str, what: str):
    """It printed "run directory has no students.parquet (found ['trial.json', ...])"."""
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / marker).write_text("{}")
    (folder / scenario).write_text("name: x\n")
    (folder / "trial_runs.csv").write_text("a\n1\n")
    assert main(["thresholds", str(folder), *ARGS]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: {what}, not a run's: it keeps no per-student table" in err, err
    assert f"`srmsim report {folder}` reads it" in err
    assert f"srmsim run {folder / scenario} --out DIR, then give DIR" in err
    assert "found [" not in err and not (folder / "thresholds").exists()


FIRST = ["Alice", "Ben", "Chloe", "Dev", "Ella", "Femi", "Grace", "Harry", "Isla", "Jack"]
LAST = ["Smith", "Jones", "O'Brien", "Khan", "Taylor-Brown", "Nowak"]


@pytest.mark.parametrize("names", [
    lambda i: f"{FIRST[i % 10]} {LAST[i // 10 % 6]} {LAST[i // 60 % 6]}",  # unique
    lambda i: f"{LAST[i % 6]}, {FIRST[i // 6 % 10]}",  # shared by pupils: "a repeat"
])
def test_a_student_column_of_names_is_refused(tmp_path: Path, capsys, names):
    """A column named 'student' was the id whatever it held: names passed as ids (and two
    pupils sharing one were refused as one pupil twice)."""
    df = students()
    df = df.assign(student=[names(i) for i in range(len(df))]).drop(columns="uid")
    path = tmp_path / "named.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(["thresholds", str(path), *ARGS, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert ("column 'student' is taken as the student id (by its name), but row 2 holds a name "
            "or a label") in err, err
    assert "Smith" not in err and "Alice" not in err and not out.exists()


def test_a_student_column_of_ids_and_pseudonyms_is_an_id(tmp_path: Path, capsys):
    """Ids with digits, and hex pseudonyms even where one holds no digit, are ids."""
    df = students()
    ids = [f"S{i:05d}" if i % 2 else f"{i:015x}a" for i in range(len(df))]
    ids[7] = "deadbeefcafebabe"
    df = df.assign(student=ids).drop(columns="uid")
    path = tmp_path / "ids.csv"
    df.to_csv(path, index=False)
    assert main(["thresholds", str(path), *ARGS, "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("date", ["0001-01-01", "1753-01-01", "1899-12-30", "1900-01-01",
                                  "1970-01-01", "9999-12-31"])
def test_import_refuses_placeholder_period_dates(tmp_path: Path, date: str):
    """A period_start of 0001-01-01 was imported, and week 1 of the export started then."""
    from srmsim.data.mapping import Mapping
    from srmsim.data.validate import validate_files

    sample = Path(__file__).parents[1] / "data" / "sample"
    students_csv = tmp_path / "students.csv"
    students_csv.write_bytes((sample / "students.csv").read_bytes())
    obs = pd.read_csv(sample / "observations.csv", dtype=str, keep_default_na=False).head(8)
    pupils = pd.read_csv(students_csv, dtype=str).head(8)
    obs = obs.assign(student_id=pupils["student_id"], school=pupils["school"],
                     period_type="week", period="",
                     period_start=[f"2025-09-{1 + 7 * (i % 4):02d}" for i in range(8)])
    obs["period_start"] = obs["period_start"].where(obs.index != 5, date)
    path = tmp_path / "observations.csv"
    obs.to_csv(path, index=False)
    result = validate_files({"students": [students_csv], "observations": [path]}, Mapping())
    rejects = result.rejects
    assert rejects[["row", "field", "rule"]].values.tolist() == [
        [7, "period_start", "placeholder_date"]]
    assert "period_start is a placeholder date" in rejects["message"].iloc[0]
    assert result.summary["notes"] == ["period numbered from period_start: week 1 starts "
                                       "2025-09-01"], result.summary


def test_import_keeps_real_old_and_new_dates(tmp_path: Path):
    """The first day after the placeholders, and a date in 2099, are dates."""
    from srmsim.data.validate import placeholder_dates

    dates = pd.Series([pd.Timestamp(d) if d else pd.NaT for d in (
        "1901-01-01", "1969-12-31", "1970-01-02", "2099-12-31", "", "1900-12-31",
        "1970-01-01 10:30")], dtype="datetime64[s]")
    assert placeholder_dates(dates).tolist() == [False, False, False, False, False, True, True]


def test_a_parquet_file_s_missing_words_are_missing_as_import_reads_them(tmp_path: Path):
    """Import reads a Parquet file's text with the same words as a CSV's: 'NA' in a --by
    column was a group called 'NA' here, and 'NULL' in a text score was refused."""
    df = students().astype({"sex": object})
    df["attendance_rate"] = df["attendance_rate"].astype(str)
    df.loc[:11, "sex"] = " NA "
    df.loc[12:14, "sex"] = "NA"
    df.loc[20:21, "attendance_rate"] = "NULL"
    df.loc[22, "attendance_rate"] = "-nan"  # a value, as import reads it
    path = tmp_path / "export.parquet"
    df.to_parquet(path)
    frame, _ = load_frame(path)
    assert int(frame["sex"].isna().sum()) == 15
    assert int(frame["attendance_rate"].isna().sum()) == 2
    assert frame.loc[24, "attendance_rate"] == "-nan"
    plain = students()
    plain.to_parquet(tmp_path / "plain.parquet")
    assert load_frame(tmp_path / "plain.parquet")[0].equals(
        plain.set_axis(range(2, len(plain) + 2)))


@pytest.mark.parametrize(("column", "what"), [
    ("uid", "is the student id column"),
    ("pupil_name", "holds pupils' own values"),
    ("attendance_rate", "holds pupils' own values"),
])
def test_a_by_column_of_identifiers_is_refused(tmp_path: Path, capsys, column: str, what: str):
    """`--by uid` tabulated every pupil as a group of one: identifiers where groups go."""
    df = students()
    df["pupil_name"] = [f"{FIRST[i % 10]} {LAST[i // 10 % 6]} {i}" for i in range(len(df))]
    df["attendance_band"] = df["attendance_rate"].round(1)  # the score, when its own is --by
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "out"
    score = "attendance_band" if column == "attendance_rate" else "attendance_rate"
    assert main(["thresholds", str(path), "--score", score, "--outcome", "withdrawn",
                 "--n-boot", "40", "--by", "sex", column, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"column '{column}' (--by) {what}" in err, err
    assert "not groups of pupils" in err and not out.exists()
