"""A date field given as a timestamp with a time zone (found probing imports, 2026-12-07)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from srmsim.cli import main
from srmsim.records import read_student_records


# ------------------------------------------------ a date of birth stored with a time zone
def test_a_zoned_timestamp_for_a_date_is_rejected_saying_why(tmp_path: Path, capsys) -> None:
    """A Parquet date of birth stored as a UTC timestamp (a London midnight in summer is 23:00
    the day before) was rejected as "a date ... (a time after it ... is ignored)": it was
    not ignored, and the user was told the wrong thing to fix."""
    sample = pd.read_csv(Path(__file__).parents[1] / "data/sample/students.csv", dtype=str)
    pupils = sample.head(20).drop(columns=["age_months"])
    dob = pd.Series(pd.to_datetime(["2012-06-30"] * 20)).dt.tz_localize("Europe/London")
    pupils["date_of_birth"] = dob.dt.tz_convert("UTC")
    pupils.to_parquet(tmp_path / "students.parquet")
    (tmp_path / "map.yaml").write_text("reference_date: 2024-09-01\n")
    out = tmp_path / "ds"
    assert main(["data", "import", "--students", str(tmp_path / "students.parquet"),
                 "--mapping", str(tmp_path / "map.yaml"), "--out", str(out)]) == 2
    printed = capsys.readouterr().out
    assert ("date_of_birth is a date and time with a time zone, whose day depends on the zone: "
            "export the date alone (YYYY-MM-DD)") in printed
    assert "2012-06-29" not in printed and "is ignored" not in printed
    pupils["date_of_birth"] = dob  # the zone's own midnight: its date
    pupils.to_parquet(tmp_path / "students.parquet")
    assert main(["data", "import", "--students", str(tmp_path / "students.parquet"),
                 "--mapping", str(tmp_path / "map.yaml"), "--out", str(out)]) == 0
    assert read_student_records(out)["age_months"].eq(146).all()
