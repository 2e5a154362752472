"""Synthetic "school exports" for the data tests (numpy, fixed seeds), and checks that they are clean.

Other ``test_data_*`` files import the helpers from here. The export uses messy column names and
codes, as a school's MIS would, mapped by ``MESSY_MAPPING``. Row ``i`` of a frame is row ``i + 2``
of the written file (header = row 1).
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

REF = dt.date(2024, 9, 1)

MESSY_MAPPING: dict[str, Any] = {
    "reference_date": "2024-09-01",
    "schools": ["NORTH", "SOUTH", "EAST"],
    "students": {
        "files": ["*pupils*"],
        "columns": {"Pupil Ref": "student_id", "School Code": "school", "NC Year": "year_group",
                    "D.O.B.": "date_of_birth", "Gender": "sex", "FSM?": "fsm", "SEN": "sen",
                    "EAL": "eal", "KS2": "prior_attainment", "Full Name": "name", "UPN": "upn",
                    "Notes": "notes"},
        "values": {"sex": {"Girl": "F", "Boy": "M"}, "fsm": {"Y": True, "N": False}},
        "date_formats": {"date_of_birth": "%d/%m/%Y"},
        "ignore": ["Form"],
    },
    "observations": {
        "files": ["*weekly*"],
        "constants": {"period_type": "week"},
        "columns": {"Pupil Ref": "student_id", "School Code": "school", "Week": "period",
                    "Poss": "sessions_possible", "Att": "sessions_attended",
                    "Incidents": "incidents", "HW Set": "assignments_set",
                    "HW On Time": "assignments_on_time", "Mood": "satisfaction"},
    },
}

FIRST = ["Amy", "Ben", "Cara", "Dev", "Ela", "Finn", "Gita", "Hugo", "Iris", "Jon"]


def mapping() -> dict[str, Any]:
    return copy.deepcopy(MESSY_MAPPING)


def fake_export(seed: int = 1, n_students: int = 60, n_weeks: int = 4,
                schools: tuple[str, ...] = ("NORTH", "SOUTH")) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A clean export: students and weekly observations as text, with the messy column names."""
    rng = np.random.default_rng(seed)
    n = n_students
    year = rng.integers(7, 12, n)
    born = np.array([dt.date(REF.year - int(y) - 5, 9, 1) + dt.timedelta(days=int(d))
                     for y, d in zip(year, rng.integers(0, 365, n), strict=True)])
    ids = [f"P{1000 + i}" for i in range(n)]
    school = rng.choice(list(schools), n)
    students = pd.DataFrame({
        "Pupil Ref": ids,
        "School Code": school,
        "NC Year": year.astype(str),
        "D.O.B.": [b.strftime("%d/%m/%Y") for b in born],
        "Gender": rng.choice(["Girl", "Boy"], n),
        "FSM?": rng.choice(["Y", "N"], n, p=[0.25, 0.75]),
        "SEN": rng.choice(["yes", "no"], n, p=[0.15, 0.85]),
        "EAL": rng.choice(["1", "0"], n, p=[0.2, 0.8]),
        "KS2": np.round(rng.normal(104, 6, n), 1).astype(str),
        "Full Name": [f"{FIRST[i % 10]} Testperson{i}" for i in range(n)],
        "UPN": [f"Z{900000000000 + i * 37}" for i in range(n)],
        "Notes": np.where(rng.random(n) < 0.3, "spoke to parent", ""),
        "Form": [f"{y}X" for y in year],
    })
    rows = []
    p_att = rng.beta(18, 1.5, n)
    for i in range(n):
        for w in range(1, n_weeks + 1):
            hw = int(rng.integers(1, 5))
            att = int(rng.binomial(10, p_att[i]))
            rows.append({"Pupil Ref": ids[i], "School Code": school[i], "Week": str(w),
                         "Poss": "10", "Att": str(att), "Incidents": str(int(rng.poisson(0.3))),
                         "HW Set": str(hw), "HW On Time": str(int(rng.integers(0, hw + 1))),
                         "Mood": str(int(rng.integers(1, 6)))})
    return students, pd.DataFrame(rows)


def write_export(tmp_path: Path, students: pd.DataFrame | None, obs: pd.DataFrame | None,
                 mapping_dict: dict[str, Any] | None = None, encoding: str = "utf-8",
                 suffix: str = ".csv") -> dict[str, Path]:
    """Write the export files and the mapping into ``tmp_path``; returns their paths."""
    out: dict[str, Path] = {}
    if students is not None:
        out["students"] = _write(students, tmp_path / f"trust_pupils{suffix}", encoding)
    if obs is not None:
        out["observations"] = _write(obs, tmp_path / f"weekly_obs{suffix}", encoding)
    out["mapping"] = tmp_path / "mapping.yaml"
    out["mapping"].write_text(yaml.safe_dump(mapping_dict or mapping(), sort_keys=False),
                              encoding="utf-8")
    return out


def _write(frame: pd.DataFrame, path: Path, encoding: str) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        path.write_bytes(frame.to_csv(index=False).encode(encoding))
    return path


# ------------------------------------------------------------------------------------------
# the helpers themselves


def test_fake_export_is_clean_and_deterministic(tmp_path: Path) -> None:
    from srmsim.data import load_mapping, validate_files

    st, ob = fake_export(seed=3)
    st2, ob2 = fake_export(seed=3)
    pd.testing.assert_frame_equal(st, st2)
    pd.testing.assert_frame_equal(ob, ob2)
    paths = write_export(tmp_path, st, ob)
    res = validate_files({"students": [paths["students"]], "observations": [paths["observations"]]},
                         load_mapping(paths["mapping"]))
    assert res.ok, res.rejects.to_string()
    assert res.rows_read == len(st) + len(ob) == res.accepted
    assert list(res.students["student_id"]) == list(st["Pupil Ref"])
    assert res.students["age_months"].between(36, 300).all()
