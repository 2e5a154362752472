"""A column listed under a mapping's `ignore` is not imported, even when its name is a field's.

Found 2026-12-06 (a helper's probe of messy exports): `ignore: [Name, Notes, Postcode]` left
columns named like the schema's `name`, `notes` and `postcode` fields to map themselves, so a
pupil's name, a safeguarding note and a postcode were stored in students.parquet; and two
columns called Notes, both ignored, rejected the whole file as mapping one field twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from srmsim.cli import main

MAPPING = ('students: {files: ["*pupils*"], columns: {Adno: student_id, School: school, '
           'Year: year_group, Age: age_months}, ignore: [Name, Notes, Postcode]}\n')


def _import(tmp_path: Path, text: str) -> tuple[int, Path]:
    (tmp_path / "pupils.csv").write_text(text)
    (tmp_path / "map.yaml").write_text(MAPPING)
    out = tmp_path / "out"
    status = main(["data", "import", str(tmp_path / "pupils.csv"), "--mapping",
                   str(tmp_path / "map.yaml"), "--out", str(out)])
    return status, out


def test_ignored_columns_named_like_fields_are_not_stored(tmp_path: Path, capsys) -> None:
    status, out = _import(tmp_path, "Adno,School,Year,Age,Name,Notes,Postcode\n"
                                    "1,NFD,7,140,Amy Smith,safeguarding: CP plan,ZZ99 1AA\n")
    assert status == 0
    students = pd.read_parquet(out / "students.parquet")
    for column in ("name", "notes", "postcode"):
        assert students[column].isna().all(), column
    stored = b"".join(p.read_bytes() for p in out.iterdir())
    for secret in (b"Amy Smith", b"CP plan", b"ZZ99"):
        assert secret not in stored
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(summary["files"][0]["ignored_columns"]) == ["Name", "Notes", "Postcode"]


def test_two_ignored_columns_of_one_name_do_not_reject_the_file(tmp_path: Path) -> None:
    status, out = _import(tmp_path, "Adno,School,Year,Age,Notes,Notes\n1,S,7,140,a,b\n"
                                    "2,S,7,140,,\n")
    assert status == 0
    assert len(pd.read_parquet(out / "students.parquet")) == 2
