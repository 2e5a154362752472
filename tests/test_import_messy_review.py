"""Messy real exports (MIS / LMS) read as the school wrote them: Parquet ids kept digit for digit,
Excel error cells reported, byte-order marks of any UTF encoding handled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from srmsim.data.mapping import identity_mapping
from srmsim.data.readers import read_raw
from srmsim.data.validate import validate_files

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
