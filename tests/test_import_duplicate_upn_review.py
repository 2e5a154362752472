"""One pupil under two student ids, told by the UPN (found probing imports, 2026-12-07).

The student id is what import keys pupils by; a UPN is one pupil's own number nationally. Two
schools' exports both listing a pupil who moved (or is dual-registered), with ids prefixed per
school as data/README.md asks, were imported as two pupils, silently.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from srmsim.cli import main

SAMPLE = Path(__file__).parents[1] / "data/sample/students.csv"


def _pupils(n: int = 30) -> pd.DataFrame:
    pupils = pd.read_csv(SAMPLE, dtype=str).head(n)
    pupils["upn"] = [f"A{100000000000 + i:012d}" for i in range(n)]
    return pupils


def test_one_upn_under_two_student_ids_is_rejected_naming_both_rows(tmp_path: Path, capsys):
    pupils = _pupils()
    again = pupils.iloc[[4]].assign(student_id="X99999")
    again["upn"] = " " + again["upn"].str.lower()  # as another system writes it
    pd.concat([pupils, again]).to_csv(tmp_path / "students.csv", index=False)
    out = tmp_path / "ds"
    assert main(["data", "import", "--students", str(tmp_path / "students.csv"),
                 "--out", str(out), "--show", "20"]) == 2  # (listed: their count is c)
    printed = capsys.readouterr().out
    assert "duplicate_upn: c rows" in printed
    assert ("students.csv:6 upn '(withheld)' -- duplicate_upn: the same upn is on rows with "
            "other student ids (rows 6, 32 of students.csv): one pupil listed twice?") in printed
    assert "A100000000004" not in printed and not (out / "students.parquet").exists()


def test_upns_missing_or_repeated_under_one_id_are_not_this_rule(tmp_path: Path, capsys):
    """Missing UPNs are not one pupil; a row repeated whole is a duplicate_student_id."""
    pupils = _pupils()
    pupils.loc[[3, 8], "upn"] = ""
    pupils.loc[[10, 11, 12], "upn"] = "UNKNOWN"  # a placeholder is no pupil's number
    pupils.to_csv(tmp_path / "students.csv", index=False)
    assert main(["data", "validate", "--students", str(tmp_path / "students.csv")]) == 0
    pd.concat([pupils, pupils.iloc[[5]]]).to_csv(tmp_path / "students.csv", index=False)
    assert main(["data", "validate", "--students", str(tmp_path / "students.csv")]) == 2
    printed = capsys.readouterr().out
    assert "duplicate_student_id: c rows" in printed and "duplicate_upn" not in printed


def test_a_records_file_keyed_by_upn_refuses_a_pupil_twice(tmp_path: Path) -> None:
    """A scenario's records CSV with UPNs and no student_id counted a pupil listed twice
    (once in each of two schools' rows) as two pupils."""
    import pytest

    from srmsim.errors import DataError
    from srmsim.records import read_student_records

    pupils = _pupils().drop(columns=["student_id"])
    pupils.loc[[1, 2], "upn"] = "TBC"  # a placeholder is no pupil's number
    path = tmp_path / "records.csv"
    pupils.to_csv(path, index=False)
    assert len(read_student_records(path)) == 30
    again = pupils.iloc[[4]].assign(school="S02")
    pd.concat([pupils, again]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"records\.csv: upn repeats: row 32 has the upn of row "
                                        r"6; each row must be one pupil") as err:
        read_student_records(path)
    assert "A100000000004" not in str(err.value)
