"""A cell that identifies a pupil is not echoed because its column is plain data.

Found 2026-12-06 (a helper's privacy probe): an export whose columns shifted put a date of
birth in year_group and a name in sex; `srmsim run` on such population.records printed
"year_group is not a number: 1 row, first row 3 ('2013-05-08')", and `data validate`'s
printed reject list showed year_group 'X80120007007' and sex 'Jane Doe', because those
fields' values are shown as non-identifying data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from srmsim.cli import main
from srmsim.labels import value_may_identify

HEADER = "student_id,school,year_group,age_months,sex,fsm"


@pytest.mark.parametrize("row, secret", [
    ("1002,S1,2013-05-08,140,F,false", "2013-05-08"),  # a date of birth in year_group
    ("1003,S1,7,140,Finley Evans,false", "Finley Evans"),  # a name in sex
    ("1004,S1,X80120007007,140,F,false", "X80120007007"),  # a UPN in year_group
    ("1005,S1,7,140,F,AB1 2CD", "AB1 2CD"),  # a postcode in fsm
])
def test_records_errors_do_not_echo_an_identifying_cell(tmp_path: Path, capsys, row: str,
                                                        secret: str) -> None:
    (tmp_path / "recs.csv").write_text(f"{HEADER}\n1001,S1,7,140,F,false\n{row}\n")
    (tmp_path / "sc.yaml").write_text("name: r\nyears: 1\npopulation:\n  records: recs.csv\n")
    assert main(["run", str(tmp_path / "sc.yaml"), "--out", str(tmp_path / "r1")]) == 2
    out, err = capsys.readouterr()
    assert secret not in out + err and "first row 3" in err and "Traceback" not in err


@pytest.mark.parametrize("row, secret", [
    ("P2,S1,X80120007007,140,F,N,N,N,100", "X80120007007"),
    ("P2,S1,7,140,Jane Doe,N,N,N,100", "Jane Doe"),
    ("P2,S1,7,140,F,AB1 2CD,N,N,100", "AB1 2CD"),
    ("P2,S1,7,140,F,N,N,N,2013-05-08", "2013-05-08"),
])
def test_validate_rejects_do_not_echo_an_identifying_cell(tmp_path: Path, capsys, row: str,
                                                          secret: str) -> None:
    (tmp_path / "pupils.csv").write_text(
        "student_id,school,year_group,age_months,sex,fsm,sen,eal,prior_attainment\n"
        "P1,S1,7,140,F,N,N,N,100\n" + row + "\n")
    assert main(["data", "validate", "--students", str(tmp_path / "pupils.csv"),
                 "--out", str(tmp_path / "rep"), "--show", "20"]) == 2  # (c: listed if asked)
    out, err = capsys.readouterr()
    assert secret not in out + err and "(withheld)" in out
    assert secret not in (tmp_path / "rep" / "rejects.csv").read_text()


def test_plain_values_are_still_shown(tmp_path: Path, capsys) -> None:
    (tmp_path / "recs.csv").write_text(f"{HEADER}\n1001,S1,7,140,F,false\n1002,S1,Y7,140,F,false\n")
    (tmp_path / "sc.yaml").write_text("name: r\nyears: 1\npopulation:\n  records: recs.csv\n")
    assert main(["run", str(tmp_path / "sc.yaml"), "--out", str(tmp_path / "r1")]) == 2
    assert "('Y7')" in capsys.readouterr().err  # what to fix, where nothing identifies
    for plain in ("Female", "F", "7", "Y7", "250.5", "true", "EHCP"):
        assert not value_may_identify(plain), plain
