"""Messy school exports (a helper's probe, 2026-12-06): a UTF-8 file read with a one-byte
encoding is refused, not misread.

`encoding: cp1252` kept in a mapping for an old export, given the school's new UTF-8 export,
stored 'José Müller' as 'JosÃ© MÃ¼ller' and '£5' as 'Â£5' with nothing rejected (the decoder
reads any byte). A real cp1252 file still imports as it did.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from srmsim.cli import main

TEXT = "Adno,School,Year,Age,Name\n1,S,7,140,José Müller\n2,S,7,140,Ann £5\n"


def _mapping(tmp_path: Path, encoding: str) -> Path:
    path = tmp_path / "map.yaml"
    path.write_text(f"encoding: {encoding}\nstudents: {{files: [\"*pupils*\"], columns: "
                    "{Adno: student_id, School: school, Year: year_group, Age: age_months, "
                    "Name: name}}\n")
    return path


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "iso-8859-15", "windows-1252"])
def test_a_utf8_export_read_as_a_one_byte_encoding_is_refused(tmp_path: Path, capsys,
                                                               encoding: str) -> None:
    (tmp_path / "pupils.csv").write_bytes(TEXT.encode("utf-8"))
    assert main(["data", "import", str(tmp_path / "pupils.csv"), "--mapping",
                 str(_mapping(tmp_path, encoding)), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "the file is UTF-8" in err and "set 'encoding: utf-8'" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_real_cp1252_export_still_imports(tmp_path: Path, capsys) -> None:
    (tmp_path / "pupils.csv").write_bytes(TEXT.encode("cp1252"))
    assert main(["data", "import", str(tmp_path / "pupils.csv"), "--mapping",
                 str(_mapping(tmp_path, "cp1252")), "--out", str(tmp_path / "out")]) == 0
    names = pd.read_parquet(tmp_path / "out" / "students.parquet")["name"].tolist()
    assert names == ["José Müller", "Ann £5"]


def test_an_age_a_year_or_more_from_its_date_of_birth_is_rejected(tmp_path: Path,
                                                                 capsys) -> None:
    """A row with date of birth 2013-02-01 (139 months at 2024-09-01) and age_months 200
    imported with 200; an age of the export's own day (145) is still kept as given."""
    (tmp_path / "students.csv").write_text(
        "student_id,school,year_group,date_of_birth,age_months\n"
        "z1,S,7,2013-02-01,200\nz2,S,7,2013-02-01,145\nz3,S,7,2013-02-01,\n")
    (tmp_path / "map.yaml").write_text("reference_date: 2024-09-01\n")
    out = tmp_path / "out"
    assert main(["data", "import", "--students", str(tmp_path / "students.csv"), "--mapping",
                 str(tmp_path / "map.yaml"), "--out", str(out), "--allow-rejects",
                 "--show", "20"]) == 0  # (listed: their count is c)
    printed = capsys.readouterr().out
    assert "students.csv:2 age_months '200' -- impossible_age" in printed
    assert "139" not in printed  # the birth's own age (its month) is not shown
    kept = pd.read_parquet(out / "students.parquet").set_index("student_id")["age_months"]
    assert kept.to_dict() == {"z2": 145, "z3": 139}


def test_dates_of_birth_without_a_mapping_say_how_to_give_the_reference_date(
        tmp_path: Path, capsys) -> None:
    """It said "<schema names>: reference_date: needed ...", naming no file to edit."""
    (tmp_path / "students.csv").write_text("student_id,school,year_group,date_of_birth\n"
                                           "z1,S,7,2013-02-01\n")
    assert main(["data", "validate", str(tmp_path / "students.csv")]) == 2
    err = capsys.readouterr().err
    assert "<schema names>" not in err and "reference_date: 2024-09-01" in err
    assert "--mapping FILE" in err


@pytest.mark.parametrize("title", ["Pupil List - Northfield Academy,,,,", "Pupil List",
                                   "Report,run 06/12/2026,,,"])
def test_a_title_row_above_the_column_names_is_named(tmp_path: Path, capsys,
                                                     title: str) -> None:
    """Each required column was reported missing and every row rejected (or "N cells but the
    header has 1"), with no word of the title row above the names."""
    (tmp_path / "pupils.csv").write_text(title + "\n" + TEXT)
    (tmp_path / "map.yaml").write_text(
        'students: {files: ["*pupils*"], columns: {Adno: student_id, School: school, '
        "Year: year_group, Age: age_months, Name: name}}\n")
    assert main(["data", "validate", "--students", str(tmp_path / "pupils.csv"), "--mapping",
                 str(tmp_path / "map.yaml")]) == 2
    err = capsys.readouterr().err
    assert "delete the title" in err and "Traceback" not in err, err
    assert "José" not in err
