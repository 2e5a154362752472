"""Real-data inputs left open by helpers 227 and 233 (helper 237, 2026-12-07).

``srmsim thresholds`` numbered the rows of a CSV mixing LF and lone CR line ends 2, 3, ... past
its blank lines; a score of '-nan' was refused as "text" with no word of what a missing cell may
be written as; a scenario's ``population.records`` file's own errors did not begin with the key;
import took a column of pupils' names mapped to student_id as ids; and a Parquet file whose
footer understates its data (one long text repeated: a few kB on disk, megabytes decoded) passed
the memory check and was then decoded whole. On the way: a file rejected whole printed its row
count beside the summary's hidden one, and ``thresholds --by name`` printed pupils' first names.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd
import pytest

from srmsim.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from conftest import cli_refuses as fails  # noqa: E402
from test_risk_cli import students  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "default.yaml"
ARGS = ["--score", "attendance_rate", "--outcome", "withdrawn", "--n-boot", "40"]




def editor_line(text: str, marker: str) -> int:
    """The line of ``text`` holding ``marker`` as an editor numbers it (LF, CR-LF and a lone
    CR each end a line)."""
    lines = io.StringIO(text, newline="").readlines()
    return next(k + 1 for k, line in enumerate(lines) if marker in line)


# ------------------------------------------------------------ 1. mixed line ends
#: line ends of the rows, in turn: LF, a lone CR, a blank line of each, CR-LF, LF then CR
ENDS = ["\n", "\r", "\n\n", "\r\r", "\r\n", "\n\r"]


def mixed(lines: list[str]) -> str:
    """``lines`` joined with every kind of line end and blank lines between them."""
    return "".join(line + ENDS[k % len(ENDS)] for k, line in enumerate(lines))


def test_csv_shape_counts_every_line_end_of_a_mixed_file(tmp_path, monkeypatch):
    """The larger of the LF and CR counts was taken as the lines: fewer than the file has."""
    from srmsim.data import readers

    text = mixed(["a,b"] + [f"{k},x" for k in range(30)])
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode())
    lines = len(io.StringIO(text, newline="").readlines())
    assert readers.csv_shape(path) == (lines, 31)
    monkeypatch.setattr(readers, "_BLOCK_BYTES", 7)  # a CR-LF split between two blocks
    assert readers.csv_shape(path) == (lines, 31)


def lf_with_one_lone_cr(rows: list[str]) -> str:
    """``rows`` ending in LF but one (row 50) in a lone CR, with a blank line above row 100:
    as many line ends as the larger of the LF and CR counts less one, which thresholds took
    for one line a row (and so numbered every row below the blank line one too early)."""
    ends = ["\n"] * len(rows)
    ends[50] = "\r"
    ends[99] = "\n\n"
    return "".join(row + end for row, end in zip(rows, ends, strict=True))


@pytest.mark.parametrize("join", [mixed, lf_with_one_lone_cr])
def test_thresholds_names_the_row_of_a_mixed_file_as_an_editor_shows_it(tmp_path, capsys,
                                                                         join):
    df = students()
    rows = df.to_csv(index=False, lineterminator="\n").splitlines()
    head, tail = rows[200].rsplit(",", 2)[0], rows[200].rsplit(",", 1)[1]
    rows[200] = f"{head},-nan,{tail}"
    text = join(rows)
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode())
    line = editor_line(text, ",-nan,")
    assert line > 201  # the blank lines above it are rows too
    fails(capsys, ["thresholds", str(path), *ARGS], contains=f"row {line} holds text")


def _export_rows(marker_row: int) -> list[str]:
    rows = ["student_id,school,year_group,age_months"]
    rows += [f"P{k:03d},S1,7,140" for k in range(140)]
    rows[marker_row] = f"P{marker_row - 1:03d},S1,zz,140"
    return rows


@pytest.mark.parametrize("join", [mixed, lf_with_one_lone_cr])
@pytest.mark.parametrize("command", ["validate", "import"])
def test_import_and_validate_name_the_row_of_a_mixed_file_as_an_editor_shows_it(
        tmp_path, command, join):
    text = join(_export_rows(120))
    path = tmp_path / "students.csv"
    path.write_bytes(text.encode())
    out = tmp_path / "out"
    assert main(["data", command, str(path), "--out", str(out)]) == 2
    rejects = pd.read_csv(out / "rejects.csv")
    assert rejects["row"].tolist() == [editor_line(text, ",zz,")]


# ------------------------------------------------------------ 2. '-nan' and the missing words
def test_a_score_of_minus_nan_is_refused_naming_the_words_that_mean_missing(tmp_path, capsys):
    from srmsim.data.mapping import DEFAULT_MISSING

    df = students().astype({"attendance_rate": object})
    df.loc[7, "attendance_rate"] = "-nan"
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    err = fails(capsys, ["thresholds", str(path), *ARGS], contains="row 9 holds text")
    words = ", ".join(w for w in DEFAULT_MISSING if w)
    assert f"a missing score is an empty cell or one of {words}" in err, err
    assert "-nan" not in err  # real data: the cell is not shown
    df = students().astype({"withdrawn": object})
    df.loc[7, "withdrawn"] = "-nan"
    df.to_csv(path, index=False)
    err = fails(capsys, ["thresholds", str(path), *ARGS], contains="row 9 holds another value")
    assert f"a missing outcome is an empty cell or one of {words}" in " ".join(err.split()), err


# ------------------------------------------------------------ 3. population.records' errors
def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


RECORDS_FAULTS = {
    "no_school.csv": ("student_id,year_group\nS1,7\n", "need a 'school' column"),
    "bad_value.csv": ("student_id,school,fsm\nS1,A,maybe\n", "fsm is not true or false"),
    "names.csv": ("student,school\nAlice Smith,A\nBob Jones,A\n", "holds a name or a label"),
    "ragged.csv": ("student_id,school\nS1,A,x\n", "3 cells but the header has 2"),
    "empty.csv": ("student_id,school\n", "no student records"),
    "broken.parquet": ("PAR1 not parquet", "student records, a damaged Parquet file: it starts as one but "
                                         "its end is missing"),
}


@pytest.mark.parametrize("name", sorted(RECORDS_FAULTS))
def test_every_records_error_begins_with_the_key(tmp_path, capsys, name):
    text, what = RECORDS_FAULTS[name]
    path = _write(tmp_path / name, text)
    err = fails(capsys, ["run", str(SCENARIO), "--set", f"population.records={path}", "--out",
                         str(tmp_path / "out")], contains=what)
    assert err.startswith(f"srmsim: error: population.records: {path}: "), err
    assert not (tmp_path / "out").exists()


def test_a_records_error_in_a_study_names_the_variant_and_the_key_once(tmp_path, capsys):
    import yaml

    path = _write(tmp_path / "no_school.csv", RECORDS_FAULTS["no_school.csv"][0])
    study = tmp_path / "e.yaml"
    study.write_text(yaml.safe_dump({
        "name": "e", "scenario": str(SCENARIO), "baseline": "a", "replications": 2,
        "variants": {"a": {"trust.n_schools": 2}, "b": {"population.records": str(path)}}}))
    err = fails(capsys, ["experiment", str(study), "--out", str(tmp_path / "out")],
                contains=f"variant 'b': population.records: {path}: student records need")
    assert err.count("population.records:") == 1, err


# ------------------------------------------------------------ 4. names beside or as ids
NAMES = [f"{a} {b}" for a in ("Alice", "Bob", "Carol", "Dan", "Eve")
         for b in ("Smith", "Jones", "Brown", "Patel")]


def _pupils(path: Path, names_column: str = "student") -> Path:
    rows = ["student_id," + names_column + ",school,year_group,age_months"]
    rows += [f"P{k:03d},{name},S1,7,140" for k, name in enumerate(NAMES)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _no_name_in(folder: Path) -> None:
    for f in folder.iterdir():
        data = f.read_bytes()
        if f.suffix == ".parquet":
            data = pd.read_parquet(f).to_csv().encode()
        assert not any(n.encode() in data for n in NAMES), f


@pytest.mark.parametrize("column", ["Student", "Pupil"])
def test_a_column_of_names_mapped_as_the_id_is_refused_by_column_never_by_name(
        tmp_path, capsys, column):
    path = _pupils(tmp_path / "pupils.csv", column)
    mapping = _write(tmp_path / "m.yaml", "students:\n  files: ['pupils*']\n"
                     f"  columns: {{{column}: student_id}}\n  ignore: [student_id]\n")
    out = tmp_path / "out"
    assert main(["data", "import", str(path), "--mapping", str(mapping), "--out", str(out),
                 "--show", "5"]) == 2
    printed = capsys.readouterr()
    assert f"column '{column}' (student_id) holds pupils' names, not ids, from row 2" in (
        printed.out), printed.out
    assert not any(n in printed.out + printed.err for n in NAMES)
    assert not (out / "students.parquet").exists()
    rejects = pd.read_csv(out / "rejects.csv")
    assert set(rejects["rule"]) == {"names_as_ids"}
    _no_name_in(out)


def test_ids_of_letters_alone_and_a_names_column_beside_the_ids_are_imported_without_names(
        tmp_path, capsys):
    """Codes of letters ('a', 'KXB') are ids; a names column beside student_id is not
    imported (it is not in the mapping), so no name reaches the dataset."""
    path = _pupils(tmp_path / "students.csv")
    out = tmp_path / "out"
    assert main(["data", "import", str(path), "--out", str(out)]) == 0
    assert "column 'student' is not in the mapping and not imported" in capsys.readouterr().out
    _no_name_in(out)
    letters = tmp_path / "letters" / "students.csv"
    letters.parent.mkdir()
    letters.write_text("student_id,school,year_group,age_months\na,S1,7,140\nKXB,S1,7,141\n")
    assert main(["data", "import", str(letters), "--out", str(tmp_path / "out2")]) == 0


# ------------------------------------------------------------ 5. a footer that understates
def _understated(path: Path, rows: int = 3000, width: int = 20_000) -> Path:
    """A Parquet file of pupils each with one long note, the same text in every row: written
    dictionary-encoded, a few kB on disk and in the footer's sizes, ``rows * width`` bytes
    decoded (60 MB by default)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = students(n_schools=5, n=rows // 5)
    note = pa.array(["x" * width]).dictionary_encode().take(pa.array([0] * len(df)))
    table = pa.table({"student_id": [f"P{k:05d}" for k in range(len(df))],
                      "school": ("S" + df["school"].astype(str)).tolist(),
                      "year_group": [7] * len(df), "age_months": [140] * len(df),
                      "attendance_rate": df["attendance_rate"], "withdrawn": df["withdrawn"],
                      "notes": note.cast(pa.string())})
    pq.write_table(table, path, row_group_size=500, store_schema=False)
    meta = pq.ParquetFile(path).metadata
    declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    assert path.stat().st_size < 200_000 and declared < 2_000_000  # the footer's word
    return path


@pytest.fixture
def little_memory(monkeypatch):
    """30 MB free: the footer's sizes fit, the decoded notes (60 MB) do not."""
    import srmsim.memory

    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 30_000_000)


def test_import_refuses_an_understating_parquet_file_after_one_batch(tmp_path, capsys,
                                                                     little_memory):
    path = _understated(tmp_path / "students.parquet")
    out = tmp_path / "out"
    err = fails(capsys, ["data", "import", str(path), "--out", str(out)],
                contains=f"{path}: its first 1,024 rows decode to ")
    assert "for all 3,000 rows)" in err and "of memory and 29 MiB is free" in err, err
    assert not out.exists()
    err = fails(capsys, ["data", "validate", str(path)], contains="its first 1,024 rows decode")


def test_thresholds_refuses_an_understating_parquet_file(tmp_path, capsys, little_memory):
    path = _understated(tmp_path / "export.parquet")
    out = tmp_path / "out"
    fails(capsys, ["thresholds", str(path), *ARGS, "--out", str(out)],
          contains=f"{path}: its first 1,024 rows decode to ")
    assert not out.exists()


def test_records_refuse_an_understating_parquet_file(tmp_path, capsys, little_memory):
    path = _understated(tmp_path / "records.parquet")
    fails(capsys, ["run", str(SCENARIO), "--set", f"population.records={path}", "--out",
                   str(tmp_path / "out")],
          contains=f"population.records: {path}: its first 1,024 rows decode to ")


def test_an_understating_parquet_file_is_read_where_memory_allows(tmp_path):
    """With the machine's memory the same file is read, every row and cell as written."""
    from srmsim.commands.thresholds import load_frame
    from srmsim.data.readers import read_raw

    path = _understated(tmp_path / "export.parquet", rows=1500, width=2_000)
    raw = read_raw(path)
    assert raw.n_rows == 1500 and raw.header[-1] == "notes"
    assert raw.frame[6].str.len().eq(2_000).all()
    assert raw.frame[0].tolist() == [f"P{k:05d}" for k in range(1500)]
    frame, _ = load_frame(path)
    assert len(frame) == 1500 and frame.index[0] == 2


# ------------------------------------------------------------ 6. a file-level reject's count
def test_a_file_level_reject_does_not_print_the_file_s_row_count(tmp_path, capsys):
    """The report printed "c rows read" and, beside it, "all 3 rows of the file rejected"."""
    path = tmp_path / "students.csv"
    path.write_text("student_id,school,age_months\nP1,A,140\nP2,A,140\nP3,A,150\n")
    out = tmp_path / "out"
    assert main(["data", "validate", str(path), "--show", "5", "--out", str(out)]) == 2
    printed = capsys.readouterr().out
    assert "c rows read" in printed, printed
    assert "every row of the file rejected" in printed, printed
    assert "3 rows" not in printed and " 3 " not in printed, printed
    assert "3 rows" not in (out / "rejects.csv").read_text()


# ------------------------------------------------------------ 7. --by a column of first names
@pytest.mark.parametrize("column", ["name", "Forename", "Pupil Name", "upn"])
def test_thresholds_by_a_names_column_is_refused_by_its_name(tmp_path, capsys, column):
    """First names are shared (about 100 pupils each here), so the column was not refused as
    pupils' own values, and the table printed each name with its pupils' flag and recall."""
    firsts = ["Alice", "Bob", "Carol", "Dan", "Eve", "Fay", "Gus"]
    df = students()
    df[column] = [firsts[k % len(firsts)] for k in range(len(df))]
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "out"
    err = fails(capsys, ["thresholds", str(path), *ARGS, "--by", column, "--out", str(out)],
                contains=f"column '{column}' (--by) is by its name pupils' names or another "
                         "personal identifier")
    assert not any(name in err for name in firsts) and not out.exists()
    df = df.rename(columns={column: "tutor_group"})  # the same values as groups: published
    df.to_csv(path, index=False)
    assert main(["thresholds", str(path), *ARGS, "--by", "tutor_group"]) == 0
