"""Labels and identifiers in real-data inputs (helper 233, 2026-12-07).

``srmsim thresholds`` kept padded labels (' F ' beside 'F', ' S1' beside 'S1') as groups and
schools of their own where ``srmsim data import`` trims every cell; it read a Parquet file whole
with no memory check; a scenario's records took a ``student`` column of names as the pupils'
ids; a ``population.records`` path that does not exist was refused without naming the key; and
``srmsim report LINK`` of a simulated run wrote report.html through the link.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.commands.thresholds import load_frame

sys.path.insert(0, str(Path(__file__).parent))
from conftest import cli_refuses as fails  # noqa: E402
from test_risk_cli import students  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "students.csv"
ARGS = ["--score", "attendance_rate", "--outcome", "withdrawn", "--n-boot", "40"]




def padded() -> pd.DataFrame:
    """A school's export whose sex and school cells are written with and without spaces."""
    df = students()
    df["school"] = "S" + df["school"].astype(str)
    odd = df.index % 2 == 1
    df.loc[odd, "sex"] = " " + df.loc[odd, "sex"] + " "
    df.loc[odd, "school"] = " " + df.loc[odd, "school"]
    return df


# ------------------------------------------------------------ 1. padded labels
def test_padded_labels_are_one_group_and_one_school_as_import_reads_them(tmp_path, capsys):
    path = tmp_path / "export.csv"
    padded().to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(["thresholds", str(path), *ARGS, "--by", "sex", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    groups = pd.read_csv(out / "thresholds_by_group.csv", keep_default_na=False)["group"]
    assert set(groups) == {"F", "M"}
    assert "bootstrap over 6 school clusters" in printed, printed  # not 12
    # the groups import reads from the same file
    from srmsim.data.mapping import DEFAULT_MISSING
    from srmsim.data.readers import read_raw

    raw = read_raw(path, missing_values=DEFAULT_MISSING)
    assert set(raw.frame[raw.header.index("sex")]) == {"F", "M"}
    assert raw.frame[raw.header.index("school")].nunique() == 6


def test_padded_labels_and_column_names_in_parquet_are_trimmed(tmp_path):
    df = padded().rename(columns={"sex": " sex "})
    df["sex_cat"] = df[" sex "].astype("category")  # a dictionary column, ' F ' a category
    path = tmp_path / "export.parquet"
    df.to_parquet(path, index=False)
    frame, _ = load_frame(path)
    assert "sex" in frame.columns and " sex " not in frame.columns
    assert set(frame["sex"]) == {"F", "M"} and set(frame["sex_cat"]) == {"F", "M"}
    assert frame["school"].nunique() == 6
    assert frame["attendance_rate"].tolist() == df["attendance_rate"].tolist()


# ------------------------------------------------------------ 2. a Parquet file too large
def test_a_parquet_file_too_large_for_memory_is_refused_before_it_is_read(tmp_path, capsys,
                                                                        monkeypatch):
    import srmsim.memory

    path = tmp_path / "export.parquet"
    students().to_parquet(path, index=False)
    frame, _ = load_frame(path)  # with the machine's memory it is read
    assert len(frame) == 720
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 20_000)

    def never(*args, **kwargs):
        raise AssertionError("read before the memory check")

    monkeypatch.setattr(pd, "read_parquet", never)
    monkeypatch.setattr(Path, "read_bytes", never)
    out = tmp_path / "out"
    err = fails(capsys, ["thresholds", str(path), *ARGS, "--out", str(out)],
                contains=f"{path}: ")
    assert "720 rows of 6 columns (from its footer)" in err, err
    assert "of memory and 0 MiB is free" in err and not out.exists()


# ------------------------------------------------------------ 3. names as records' ids
@pytest.mark.parametrize("column", ["student", "id", "student_id"])
def test_a_records_id_column_of_names_is_refused_by_column_and_row(tmp_path, capsys, column):
    records = pd.read_csv(SAMPLE, dtype=str).rename(columns={"student_id": column})
    records.loc[5, column] = "Alice Smith"
    path = tmp_path / "records.csv"
    records.to_csv(path, index=False)
    out = tmp_path / "out"
    err = fails(capsys, ["run", str(REPO / "scenarios" / "default.yaml"), "--set",
                         f"population.records={path}", "--out", str(out)],
                contains=f"{path}: column '{column}' is taken as the student id (by its name), "
                         "but row 7 holds a name or a label")
    assert "Alice" not in err and not out.exists()


def test_records_ids_with_digits_still_build_a_trust(tmp_path):
    from srmsim.records import read_student_records

    records = pd.read_csv(SAMPLE, dtype=str).rename(columns={"student_id": "student"})
    path = tmp_path / "records.csv"
    records.to_csv(path, index=False)
    assert len(read_student_records(path)) == len(records)


# ------------------------------------------------------------ 4. records that do not exist
def test_a_missing_records_path_is_named_by_its_key(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "records.csv").write_text("student_id,school\nP1,S1\n")
    err = fails(capsys, ["run", str(REPO / "scenarios" / "default.yaml"), "--set",
                         "population.records=missing"],
                contains=f"population.records: {tmp_path / 'missing'}: no such file or folder")
    assert not (tmp_path / "out").exists()
    err = fails(capsys, ["run", str(REPO / "scenarios" / "default.yaml"), "--set",
                         "population.records=record.csv"],
                contains=f"population.records: {tmp_path / 'record.csv'}: no such file or "
                         f"folder (did you mean {tmp_path / 'records.csv'}?)")
    assert err.count("population.records") == 1


# ------------------------------------------------------------ 5. report through a link
@pytest.fixture(scope="module")
def simulated_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run233") / "run"
    assert main(["run", str(REPO / "scenarios" / "default.yaml"), "--set", "years=1",
                 "--set", "trust.n_schools=2", "--out", str(out), "--quiet"]) == 0
    return out


def test_report_of_a_linked_simulated_run_is_refused_and_writes_nothing(simulated_run,
                                                                       tmp_path, capsys):
    link = tmp_path / "run-link"
    link.symlink_to(simulated_run)
    before = sorted(p.name for p in simulated_run.iterdir())
    err = fails(capsys, ["report", str(link)], contains=f"{link}: is a symbolic link (to ")
    assert f"give the folder it points to ({simulated_run.resolve()}), or --out FILE" in err
    assert sorted(p.name for p in simulated_run.iterdir()) == before  # no report.html, no lock file
    # with --out the link is only read; the folder itself is reported as usual
    report = tmp_path / "r.html"
    assert main(["report", str(link), "--out", str(report)]) == 0 and report.is_file()
    assert sorted(p.name for p in simulated_run.iterdir()) == before
    assert main(["report", str(simulated_run)]) == 0
    assert (simulated_run / "report.html").is_file()
