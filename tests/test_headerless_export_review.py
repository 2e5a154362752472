"""An export without its header row: its first pupil's record is not printed as column names.

Found 2026-12-06 (a helper's privacy probe): the first data row of a header-less CSV was read
as the column names, and `data validate`'s note on unmapped columns printed them (a UPN,
admission number, surname, forename, date of birth and sex); `thresholds` printed them as the
"available columns" (UPN, name, date of birth, postcode).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.errors import DataError
from srmsim.labels import column_names, header_holds_values

ROOT = Path(__file__).resolve().parents[1]
PUPILS = ROOT / "data" / "examples" / "trust_pupils_export.csv"
MAPPING = ROOT / "data" / "mapping_example.yaml"
FIRST_PUPIL = ("X80120007007", "Evans", "Finley", "08/05/2013")


def _headerless(tmp_path: Path) -> Path:
    lines = PUPILS.read_bytes().splitlines(keepends=True)
    path = tmp_path / "pupils.csv"
    path.write_bytes(b"".join(lines[1:21]))
    return path


@pytest.mark.parametrize("command", ["validate", "import"])
@pytest.mark.parametrize("mapped", [True, False])
def test_validate_and_import_do_not_print_the_first_row_as_names(tmp_path: Path, capsys,
                                                                 command: str, mapped: bool):
    path = _headerless(tmp_path)
    first = path.read_text(encoding="latin-1").splitlines()[0]
    assert all(value in first for value in FIRST_PUPIL)  # the row the names were taken from
    args = ["data", command, "--students", str(path)]
    args += ["--mapping", str(MAPPING)] if mapped else []
    args += ["--out", str(tmp_path / "out")] if command == "import" else []
    assert main(args) == 2
    out, err = capsys.readouterr()
    for value in FIRST_PUPIL:
        assert value not in out + err, value
    assert "a file without a header row?" in out


def test_thresholds_does_not_list_a_pupil_as_the_available_columns(tmp_path: Path, capsys):
    rows = ["X80120007007,Finley Evans,08/05/2013,ZZ99 7AU,0.93,0"]
    rows += [f"X80120000{i},Name {i},01/01/2013,ZZ1 1ZZ,0.{i},{i % 2}" for i in range(10, 70)]
    path = tmp_path / "export.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--out", str(tmp_path / "t")]) == 2
    out, err = capsys.readouterr()
    assert "(score) not found" in err and "a file without a header row?" in err
    for value in ("X80120007007", "Finley", "08/05/2013", "ZZ99 7AU", "0.93"):
        assert value not in out + err, value
    # the library's column check says the same
    from srmsim.risk._columns import require_columns

    with pytest.raises(DataError, match="a file without a header row") as err_info:
        require_columns(pd.read_csv(path), ["attendance_rate"], "score")
    assert "Finley" not in str(err_info.value)


@pytest.mark.parametrize("names, values", [
    (["X80120007007", "Finley Evans", "Female"], True),  # a UPN
    (["1001", "Evans", "Finley"], True),  # an admission number
    (["Evans", "08/05/2013"], True), (["Evans", "2013-05-08"], True),  # a date of birth
    (["Evans", "ZZ99 7AU"], True), (["Evans", "N1 9GU"], True),  # a postcode
    (["Evans", "0.93"], True), (["Evans", "93%"], True), (["Evans", "-1.5e3"], True),
    (["Evans", "07700900123"], True),  # a phone number
    (["Pupil Ref", "UPN", "D.O.B.", "KS2 Scaled Score", "ks2_2019", "week 1"], False),
    (["attendance_rate", "withdrawn", "Y7", "FSM6"], False),
    ([0, 1, 2], False),  # a frame's positions (read with header=None): no value of a pupil
])
def test_a_header_holding_values_is_known(names, values):
    assert header_holds_values(names) is values
    shown = column_names(names)
    assert ("a file without a header row?" in shown) is values
    if values:
        assert not any(str(n) in shown for n in names if str(n) not in ("Evans",))
