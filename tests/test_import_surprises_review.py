"""What users get wrong when importing, and what a kill leaves behind.

- A header row repeated in the middle of an export (two exports joined with ``cat``) stops the
  import with one line naming the file and the row (header = row 1), exit 2, nothing written;
  a row is a repeat only if every cell equals the header's (trimmed, in any case).
- A number written with a decimal comma ("93,5") is rejected with a hint saying so, never
  converted; a ``;``-separated file is still refused by its separator.
- ``write_atomic``'s temporaries carry a marker (``.<name>.srmsim-tmp-<8>``); the next
  exclusive holder of a results folder removes those a kill left there and in its subfolders,
  never a look-alike, a symbolic link or what it points to, and a run into a folder holding one
  gives the very files of a run into a new folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from srmsim.cli import main
from srmsim.data.mapping import identity_mapping
from srmsim.data.readers import read_raw
from srmsim.data.validate import validate_files
from srmsim.errors import DataError
from srmsim.outputs import LOCK_NAME, folder_lock, remove_stale_temporaries, write_atomic
from srmsim.records import read_student_records

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
HEADER = "student_id,school,year_group,age_months,sex,fsm,sen,eal,prior_attainment"


def export(first: int, n: int) -> str:
    """A students export of ``n`` valid pupils (ids from ``first``), header included."""
    rows = [f"P{i:05d},S01,{7 + i % 5},{140 + i % 12},{'MF'[i % 2]},false,false,false,"
            f"{90 + i % 20}.5" for i in range(first, first + n)]
    return "\n".join([HEADER, *rows]) + "\n"


def one_error(capsys, argv: list[str]) -> str:
    """The CLI exits 2 with one line on stderr and no traceback; that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


# ---------------------------------------------------------------------------------------------
# 1. a header repeated in the middle of a file


def test_two_exports_joined_with_cat_are_refused_naming_the_row(tmp_path, capsys):
    a, b = export(0, 1202), export(5000, 30)
    joined = tmp_path / "pupils.csv"
    joined.write_text(a + b)  # what `cat a.csv b.csv > pupils.csv` makes
    # by hand: the header is line 1, a's 1,202 pupils lines 2-1,203, b's header line 1,204
    assert joined.read_text().splitlines()[1203] == HEADER
    out = tmp_path / "imported"
    err = one_error(capsys, ["data", "import", "--students", str(joined), "--out", str(out)])
    assert err == (f"srmsim: error: {joined}: row 1,204 repeats the header: two exports "
                   "joined? remove it")
    assert not out.exists()  # nothing written: no dataset, no reject report
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pupils.csv"]
    report = tmp_path / "report"
    err = one_error(capsys, ["data", "validate", "--students", str(joined), "--out", str(report)])
    assert "row 1,204 repeats the header" in err and not report.exists()
    # a single export is imported whole, so it was the repeat that was refused
    single = tmp_path / "single" / "pupils.csv"
    single.parent.mkdir()
    single.write_text(a)
    assert main(["data", "import", "--students", str(single), "--out", str(out)]) == 0
    assert len(pd.read_parquet(out / "students.parquet")) == 1202


def test_a_repeat_is_found_in_any_case_with_spaces_and_counted_as_a_spreadsheet_does(tmp_path):
    """Row numbers count records, not lines: a quoted note over two lines is one row."""
    header = HEADER + ",notes"
    lines = [header,
             'P1,S01,7,140,M,false,false,false,90,"met parents\non Monday"',  # row 2, lines 2-3
             "P2,S01,7,140,F,false,false,false,91,",                          # row 3, line 4
             "  STUDENT_ID , School,YEAR_GROUP,Age_Months,SEX,fsm,Sen,EAL,Prior_Attainment, NOTES",
             "P3,S01,7,140,F,false,false,false,92,"]
    path = tmp_path / "pupils.csv"
    path.write_text("\r\n".join(lines) + "\r\n")
    with pytest.raises(DataError, match=r"pupils\.csv: row 4 repeats the header: two exports "
                                        r"joined\? remove it$"):
        read_raw(path)


def test_three_exports_name_the_first_repeat_and_count_the_others(tmp_path):
    path = tmp_path / "pupils.csv"
    path.write_text(export(0, 3) + export(10, 2) + export(20, 1))
    # rows: header 1, pupils 2-4, header 5, pupils 6-7, header 8, pupil 9
    with pytest.raises(DataError, match=r"row 5 repeats the header \(and 1 later row\)"):
        read_raw(path)


@pytest.mark.parametrize("row", [
    "P9,S01,7,140,F,false,false,false,notes",          # one text cell equals a column name
    "student_id,school,year_group,age_months,sex,fsm,sen,eal,",  # all but one empty cell
    "student_id,school,year_group,age_months,sex,fsm,sen,eal,prior",  # all but one cell
])
def test_a_row_that_is_not_the_whole_header_is_data_as_before(tmp_path, row):
    header = HEADER.replace("prior_attainment", "notes")
    path = tmp_path / "pupils.csv"
    path.write_text("\n".join([header, "P1,S01,7,140,M,false,false,false,hello", row]) + "\n")
    result = validate_files({"students": [path]}, identity_mapping())
    assert result.rows_read == 2  # read, not refused
    if row.startswith("P9"):  # a pupil whose note is the word "notes": imported
        assert result.accepted == 2
        assert result.students.set_index("student_id").loc["P9", "notes"] == "notes"
    else:  # the near-header is rejected cell by cell, as any bad row is
        assert result.accepted == 1
        assert set(result.rejects["row"]) == {3}
        assert "wrong_type" in set(result.rejects["rule"])


def test_a_repeated_header_in_excel_parquet_and_records_files(tmp_path):
    names = HEADER.split(",")
    rows = [["P1", "S01", 7, 140, "M", False, False, False, 90.5], names,
            ["P2", "S01", 8, 150, "F", True, False, False, 99.0]]
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    for r in [names, *rows]:
        sheet.append(r)
    book.save(tmp_path / "pupils.xlsx")
    with pytest.raises(DataError, match=r"pupils\.xlsx: row 3 repeats the header"):
        read_raw(tmp_path / "pupils.xlsx")
    text = pd.DataFrame([[str(v) for v in r] for r in rows], columns=names)
    text.to_parquet(tmp_path / "pupils.parquet")  # rows numbered as in a CSV with its header
    with pytest.raises(DataError, match=r"pupils\.parquet: row 3 repeats the header"):
        read_raw(tmp_path / "pupils.parquet")
    records = tmp_path / "records.csv"  # a scenario's population.records
    records.write_text(export(0, 4) + export(10, 1))
    with pytest.raises(DataError, match=r"records\.csv: row 6 repeats the header"):
        read_student_records(records)


# ---------------------------------------------------------------------------------------------
# 2. decimal commas


DECIMAL_HINT = "prior_attainment must be a number; it uses a decimal comma: export with a " \
               "decimal point"


#: a cell that is no number, told how a missing one is written (helper 242)
NOT_A_NUMBER = ("prior_attainment must be a number; a missing value is an empty cell or one of "
                "NA, N/A, n/a, NULL, null, NaN, nan, None, #N/A")


def rejects_by_row(result) -> dict[int, str]:
    rej = result.rejects
    return dict(zip(rej["row"].astype(int), rej["message"], strict=True))


def test_decimal_comma_cells_are_rejected_with_a_hint_and_never_converted(tmp_path):
    path = tmp_path / "pupils.csv"
    path.write_text("\n".join([HEADER,
                               'P1,S01,7,140,M,false,false,false,"93,5"',
                               'P2,S01,7,140,F,false,false,false,"101,25"',
                               'P3,S01,7,140,F,false,false,false,"1,250"',  # 1.25 in this file
                               "P4,S01,7,140,F,false,false,false,7a",
                               "P5,S01,7,140,F,false,false,false,95.5"]) + "\n")
    result = validate_files({"students": [path]}, identity_mapping())
    assert rejects_by_row(result) == {2: DECIMAL_HINT, 3: DECIMAL_HINT, 4: DECIMAL_HINT,
                                      5: NOT_A_NUMBER}
    assert set(result.rejects["rule"]) == {"wrong_type"}
    # only P5 (a decimal point) is imported; 93,5 became neither 93.5 nor 935
    assert result.students["student_id"].tolist() == ["P5"]
    assert result.students["prior_attainment"].tolist() == [95.5]


def test_a_comma_that_may_be_a_thousands_separator_names_both(tmp_path):
    """'1,250.5' and '1,250,000' can only be thousands separators, so the column's '1,250' is
    not called a decimal comma; each file's column is judged on its own."""
    obs = tmp_path / "pupils_b.csv"
    obs.write_text("\n".join([HEADER,
                              'Q1,S01,7,140,M,false,false,false,"1,250.5"',
                              'Q2,S01,7,140,F,false,false,false,"1,250"',
                              'Q3,S01,7,140,F,false,false,false,"1,5,0"']) + "\n")
    dec = tmp_path / "pupils_a.csv"
    dec.write_text(HEADER + '\nP1,S01,7,140,M,false,false,false,"93,5"\n')
    result = validate_files({"students": [dec, obs]}, identity_mapping())
    rej = result.rejects.set_index(["file", "row"])["message"]
    both = ("prior_attainment must be a number; it holds a comma (a thousands separator or a "
            "decimal comma): export plain numbers with a decimal point")
    assert rej[(str(dec), 2)] == DECIMAL_HINT
    assert rej[(str(obs), 2)] == both and rej[(str(obs), 3)] == both
    assert rej[(str(obs), 4)] == NOT_A_NUMBER  # no number at all
    assert result.accepted == 0


def test_whole_number_fields_and_excel_text_cells_get_the_hint(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    sheet.append(["P1", "S01", "7,0", 140, "M", "false", "false", "false", "93,5"])
    book.save(tmp_path / "pupils.xlsx")
    result = validate_files({"students": [tmp_path / "pupils.xlsx"]}, identity_mapping())
    rej = result.rejects.set_index("field")["message"]
    assert rej["year_group"] == ("year_group must be a whole number; it uses a decimal comma: "
                                 "export with a decimal point")
    assert rej["prior_attainment"] == DECIMAL_HINT


def test_a_semicolon_file_with_decimal_commas_is_refused_by_its_separator(tmp_path, capsys):
    path = tmp_path / "pupils.csv"
    path.write_text(HEADER.replace(",", ";") + "\nP1;S01;7;140;M;false;false;false;93,5\n")
    err = one_error(capsys, ["data", "validate", "--students", str(path)])
    assert "the header is one column holding semicolons" in err and "decimal" not in err
    with pytest.raises(DataError, match="one column holding semicolons"):
        read_student_records(path)


def test_records_files_name_the_decimal_comma(tmp_path):
    path = tmp_path / "records.csv"
    path.write_text("\n".join([HEADER, "P1,S01,7,140,M,false,false,false,90",
                               'P2,S01,7,140,F,false,false,false,"93,5"']) + "\n")
    with pytest.raises(DataError) as err:
        read_student_records(path)
    assert str(err.value) == (f"{path}: prior_attainment is not a number: fewer than 10 rows, first row 3 "
                              "('93,5'); it uses a decimal comma: export with a decimal point")
    path.write_text("\n".join([HEADER, "P1,S01,7,140,M,false,false,false,9O"]) + "\n")
    with pytest.raises(DataError, match=r"first row 2 \('9O'\); correct the records file$"):
        read_student_records(path)


# ---------------------------------------------------------------------------------------------
# 3. temporaries a kill leaves behind


STALE = ".summary.json.srmsim-tmp-k1lled00"
#: a process killed in the middle of write_atomic: it prints the temporary's path
KILLED_WRITE = """
import sys, time
from srmsim.outputs import write_atomic
def write(tmp):
    with open(tmp, "wb") as fh:
        fh.write(b"half a run")
        fh.flush()
        print(tmp, flush=True)
        time.sleep(120)
write_atomic(sys.argv[1], write)
"""


def test_write_atomic_names_its_temporary_with_the_marker(tmp_path):
    seen = []

    def write(tmp: str) -> None:
        seen.append(Path(tmp))
        Path(tmp).write_text("done")

    write_atomic(tmp_path / "runs" / "summary.json", write)
    assert seen[0].parent == tmp_path / "runs"
    assert seen[0].name.startswith(".summary.json.srmsim-tmp-")
    assert len(seen[0].name) == len(".summary.json.srmsim-tmp-") + 8  # mkstemp's 8 characters
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["summary.json"]


def test_the_next_writer_removes_a_killed_writes_temporary_and_nothing_else(tmp_path):
    study, outside = tmp_path / "study", tmp_path / "outside"
    (study / "runs" / "none").mkdir(parents=True)
    outside.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITE,
                             str(study / "runs" / "none" / "rep-00001.parquet")],
                            env=ENV, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    left = Path(proc.stdout.readline().strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert left.read_bytes() == b"half a run"  # what the kill leaves: never read, never removed
    stale = [left, study / STALE]
    (study / STALE).write_text("{")
    keep = {  # look-alikes and places the tidying must not touch
        study / ".summary.json.k1lled00": "an older srmsim's temporary: no marker",
        study / "notes.srmsim-tmp-abcd1234": "a user's file, not hidden",
        study / ".notes.srmsim-tmp-mine": "a user's file: no random ending",
        study / ".notes.srmsim-tmp-abcd12345": "a user's file: nine characters",
        study / "runs" / ".git" / ".x.srmsim-tmp-abcd1234": "inside a hidden folder",
        study / "nested" / ".y.srmsim-tmp-abcd1234": "in a results folder with its own lock",
        study / "nested" / LOCK_NAME: "",
        outside / ".z.srmsim-tmp-abcd1234": "reached only through a link",
        outside / "target": "a link's target",
    }
    for path, text in keep.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (study / ".link.srmsim-tmp-abcd1234").symlink_to(outside / "target")
    (study / "runs" / "linked").symlink_to(outside, target_is_directory=True)
    (study / ".d.srmsim-tmp-abcd1234").mkdir()  # a folder so named
    with folder_lock(study, shared=True):  # a reader removes nothing
        pass
    assert all(p.exists() for p in stale)
    with folder_lock(study):
        pass
    assert not any(p.exists() for p in stale)
    assert {p: p.read_text() for p in keep} == keep
    assert (study / ".link.srmsim-tmp-abcd1234").is_symlink()
    assert (study / ".d.srmsim-tmp-abcd1234").is_dir()
    assert sorted(p.name for p in (study / "runs").iterdir()) == [".git", "linked", "none"]
    # and the function alone says what it removed: only files that carry the marker
    (study / STALE).write_text("{")
    assert remove_stale_temporaries(study) == [study / STALE]


def timings_dropped(path: Path) -> dict:
    data = json.loads(path.read_text())
    data.pop("runtime_seconds"), data.pop("student_weeks_per_second")
    return data


def test_a_run_into_a_folder_with_a_stale_temporary_writes_the_same_files(tmp_path, capsys):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump({
        "name": "s", "trust": {"n_schools": 2, "students_per_year_group": 8},
        "outputs": {"history": "none"}}))
    fresh, again = tmp_path / "fresh", tmp_path / "again"
    assert main(["run", str(scenario), "--out", str(fresh), "--quiet"]) == 0
    assert main(["run", str(scenario), "--out", str(again), "--quiet"]) == 0
    (again / STALE).write_text("{")  # a killed run's half-written summary
    assert main(["run", str(scenario), "--out", str(again), "--quiet"]) == 0
    names = sorted(p.name for p in fresh.iterdir())
    assert sorted(p.name for p in again.iterdir()) == names and STALE not in names
    for name in names:
        if name == "summary.json":  # the run's speed differs from run to run
            assert timings_dropped(again / name) == timings_dropped(fresh / name)
        else:
            assert (again / name).read_bytes() == (fresh / name).read_bytes(), name


def test_an_experiment_compare_tidies_its_store_and_keeps_its_results(tmp_path, capsys):
    from test_experiment import write_experiment

    exp = write_experiment(tmp_path, replications=2)
    out = tmp_path / "study"
    assert main(["experiment", str(exp), "--out", str(out), "--quiet", "--workers", "1",
                 "--no-report"]) == 0
    effects = (out / "effects.csv").read_bytes()
    runs = {p: p.read_bytes() for p in out.glob("runs/*/*.parquet")}
    stale = out / "runs" / "none" / ".rep-00001.parquet.srmsim-tmp-k1lled00"
    stale.write_bytes(b"half a run")
    mine = out / "runs" / "none" / "rep-00001.parquet.bak"  # the user's own copy
    shutil.copy(out / "runs" / "none" / "rep-00001.parquet", mine)
    assert main(["compare", str(out)]) == 0
    assert not stale.exists() and mine.exists()
    assert (out / "effects.csv").read_bytes() == effects
    assert {p: p.read_bytes() for p in out.glob("runs/*/*.parquet")} == runs
