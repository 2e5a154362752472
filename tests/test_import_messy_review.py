"""Messy real exports (MIS / LMS) read as the school wrote them: Parquet ids kept digit for digit,
Excel error cells reported, byte-order marks of any UTF encoding handled."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from srmsim.data.mapping import identity_mapping, parse_mapping
from srmsim.data.readers import read_raw
from srmsim.data.validate import validate_files
from srmsim.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def _students_csv(n: int = 12) -> str:
    lines = ["student_id,school,year_group,age_months"]
    lines += [f"S{i:03d},A,7,{140 + i}" for i in range(n)]
    return "\n".join(lines) + "\n"


def _cli(*args: object) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "srmsim", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_parquet_id_column_with_a_gap_keeps_every_digit(tmp_path: Path) -> None:
    """pandas read an int64 column holding a missing value as floats: pupil 9007199254740993
    was imported as 9007199254740992 (and 2**62 + 1 as 2**62), silently another pupil."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    big = [2**53 + 1, 2**62 + 1]
    tab = pa.table({"student_id": pa.array([big[0], None, big[1], 12], pa.int64()),
                    "school": ["A"] * 4, "year_group": pa.array([7, None, 7, 8], pa.int64()),
                    "age_months": [150] * 4})
    path = tmp_path / "students.parquet"
    pq.write_table(tab, path)
    raw = read_raw(path)
    assert raw.frame[0].tolist()[:1] + raw.frame[0].tolist()[2:] == [str(b) for b in big] + ["12"]
    res = validate_files({"students": [path]}, identity_mapping())
    assert set(res.students["student_id"]) == {str(big[0]), str(big[1]), "12"}
    assert res.students.set_index("student_id").loc["12", "year_group"] == 8


def test_a_pandas_parquet_index_without_a_name_is_still_left_out(tmp_path: Path) -> None:
    path = tmp_path / "students.parquet"
    frame = pd.DataFrame({"student_id": ["S1", "S2"], "school": ["A", "A"],
                          "year_group": [7, 8], "age_months": [150, 160]}, index=[5, 9])
    frame.to_parquet(path)
    raw = read_raw(path)
    assert raw.header == ["student_id", "school", "year_group", "age_months"]
    assert raw.frame[2].tolist() == ["7", "8"]


def test_an_excel_error_cell_is_a_reject_not_a_missing_value(tmp_path: Path) -> None:
    """pandas turns '#DIV/0!' into no value: a broken formula in an optional column was
    imported as "not recorded"; the same export saved as CSV is a wrong_type reject."""
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["student_id", "school", "period_type", "period", "sessions_possible",
                  "sessions_attended"])
    for i in range(12):
        sheet.append([f"S{i}", "A", "week", 1, 10, "#DIV/0!" if i == 3 else 9])
    path = tmp_path / "observations.xlsx"
    book.save(path)
    res = validate_files({"observations": [path]}, identity_mapping())
    rej = res.rejects
    assert len(rej) == 1
    assert (rej.loc[0, "row"], rej.loc[0, "field"], rej.loc[0, "value"], rej.loc[0, "rule"]) == \
        (5, "sessions_attended", "#DIV/0!", "wrong_type")
    assert res.accepted == 11 and "S3" not in set(res.observations["student_id"])


def test_excel_rows_are_numbered_and_trimmed_as_before(tmp_path: Path) -> None:
    """Reading with openpyxl keeps what pandas did: a blank row inside is counted, trailing
    empty cells and rows are not columns or rows, text like 'NA' is kept as typed."""
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["student_id", "school", "year_group", "age_months"])
    sheet.append(["S1", "A", 7, 150.0])
    sheet.append([])
    sheet.append(["S2", "A", "NA", 151])
    sheet.cell(row=10, column=6, value=None)
    path = tmp_path / "students.xlsx"
    book.save(path)
    raw = read_raw(path)
    assert raw.header == ["student_id", "school", "year_group", "age_months"]
    assert raw.rows.tolist() == [2, 4] and raw.blank_rows == 1
    assert raw.frame.values.tolist() == [["S1", "A", "7", "150"], ["S2", "A", "NA", "151"]]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_a_utf16_export_with_a_byte_order_mark_is_read(tmp_path: Path, encoding: str) -> None:
    """Excel's "Unicode text" is UTF-16 LE with a byte-order mark: declared as utf-16-le the
    mark stayed in the first column name and 'student_id' was "not found"."""
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE,
           "utf-32-le": codecs.BOM_UTF32_LE}[encoding]
    path = tmp_path / "students.csv"
    path.write_bytes(bom + _students_csv().encode(encoding))
    mapping = parse_mapping({"encoding": encoding, "students": {"files": ["students*"]}})
    res = validate_files({"students": [path]}, mapping)
    assert res.ok and res.accepted == 12
    assert read_raw(path, encoding).header[0] == "student_id"


def test_a_utf8_export_declared_cp1252_is_a_clear_error(tmp_path: Path) -> None:
    """Read as cp1252 a UTF-8 byte-order mark became 'ï»¿student_id': every row was rejected
    for a missing column the file has."""
    data = tmp_path / "data"
    data.mkdir()
    path = data / "students.csv"
    path.write_bytes(_students_csv().encode("utf-8-sig"))
    mapping = tmp_path / "m.yaml"
    mapping.write_text("encoding: cp1252\nstudents:\n  files: ['students*']\n")
    out = tmp_path / "out"
    r = _cli("data", "import", path, "--mapping", mapping, "--out", out)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "byte-order mark" in r.stderr and str(path) in r.stderr and "utf-8" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("text", ["\nstudent_id,school,year_group,age_months\nS1,A,7,150\n",
                                  ",,,\nstudent_id,school,year_group,age_months\nS1,A,7,150\n"])
def test_an_empty_header_row_is_a_clear_error(tmp_path: Path, text: str) -> None:
    """Blank lines above the column names gave a header of no columns: each row was rejected
    with '4 cells but the header has 0' and four 'missing' columns that are in the file."""
    data = tmp_path / "data"
    data.mkdir()
    path = data / "students.csv"
    path.write_text(text)
    out = tmp_path / "out"
    r = _cli("data", "import", path, "--out", out)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert f"{path}: row 1, the header, is empty" in r.stderr
    assert not out.exists()


def test_an_excel_sheet_whose_first_row_is_empty_is_a_clear_error(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.cell(row=3, column=1, value="student_id")
    sheet.cell(row=4, column=1, value="S1")
    path = tmp_path / "students.xlsx"
    book.save(path)
    with pytest.raises(DataError, match="row 1, the header, is empty"):
        read_raw(path)


@pytest.mark.parametrize("sep, name", [(";", "semicolons"), ("\t", "tabs")])
def test_a_csv_separated_by_semicolons_or_tabs_is_named_as_such(tmp_path: Path, sep: str,
                                                                name: str) -> None:
    """European Excel saves CSV with semicolons (and Excel's Unicode text with tabs): every row
    was rejected for four missing columns, with no word of the separator."""
    path = tmp_path / "students.csv"
    path.write_text(_students_csv().replace(",", sep), encoding="utf-8")
    out = tmp_path / "out"
    r = _cli("data", "import", path, "--out", out)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert f"separated by {name}" in r.stderr and str(path) in r.stderr
    assert not out.exists()
    path.write_text(_students_csv(), encoding="utf-8")  # the same export with commas is read
    assert read_raw(path).header == ["student_id", "school", "year_group", "age_months"]
