"""Hostile-input sweep 244 of the real-data commands (`srmsim thresholds`, a scenario's
`population.records`, `srmsim data import`): what earlier sweeps left open. Each case is
refused with a short error naming the file and row (exit 2, nothing written), or read as
`srmsim data import` reads the same file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from srmsim.cli import main
from srmsim.commands.thresholds import load_frame
from srmsim.errors import DataError

sys.path.insert(0, str(Path(__file__).parent))
from conftest import cli_refuses  # noqa: E402
from test_risk_cli import students  # noqa: E402

ARGS = ["--score", "attendance_rate", "--outcome", "withdrawn", "--n-boot", "40"]


def _lines(tmp_path: Path, change, name: str = "export.csv") -> Path:
    """A school's export (real data, 720 pupils) with its fifth data line (row 6) changed."""
    lines = students().to_csv(index=False).splitlines()
    lines[5] = change(lines[5])
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("change", "says"), [
    # the school left out: every later value one column left (the score read from fsm's
    # column, the outcome from sex's) -- pandas read it without a word
    (lambda line: ",".join(line.split(",")[:1] + line.split(",")[2:]),
     "row 6 has 5 cells but the header has 6"),
    # the last cell left out: the outcome silently missing
    (lambda line: line.rsplit(",", 1)[0], "row 6 has 5 cells but the header has 6"),
    # a NUL inside the school: a school of its own (one more bootstrap cluster, of 1 pupil)
    (lambda line: line.replace(",", ",\x00", 1), "row 6, column 'school': holds a NUL byte"),
    # a value past the header on a row below the first: was pandas' "cannot read
    # (ParserError: Error tokenizing data. C error: Expected 6 fields in line 6, saw 7)"
    (lambda line: line + ",9", "row 6 has a value beyond the header's 6 columns"),
], ids=["school-left-out", "outcome-left-out", "nul-byte", "value-beyond"])
def test_thresholds_refuses_short_rows_and_nul_bytes_as_import_does(tmp_path: Path, capsys,
                                                                    change, says):
    path = _lines(tmp_path, change)
    with pytest.raises(DataError, match=r"row 6\b") as err:
        load_frame(path)
    assert says in str(err.value) and "0.9" not in str(err.value)  # no cell shown
    out = tmp_path / "out"
    cli_refuses(capsys, ["thresholds", str(path), *ARGS, "--out", str(out)], says)
    assert not out.exists()


def test_thresholds_still_reads_blank_lines_and_empty_cells(tmp_path: Path):
    """A blank line, a line of spaces and an empty cell (its comma kept) are no short row,
    and a row ending in an empty cell past the header is read as import reads it (pandas
    stopped at it: "Expected 6 fields in line 9, saw 7")."""
    path = _lines(tmp_path, lambda line: "\n   \n" + ",".join(line.split(",")[:4]) + ",,")
    lines = path.read_text().splitlines()
    lines[9] += ","
    path.write_text("\n".join(lines) + "\n")
    frame, _ = load_frame(path)
    assert len(frame) == 720 and frame.index[4] == 8  # rows numbered past the blank lines
    assert frame.loc[8, ["attendance_rate", "withdrawn"]].isna().all()
    assert frame["attendance_rate"].isna().sum() == 1
    assert list(frame.columns) == list(students().columns)
    assert frame.loc[10].tolist() == students().iloc[6].tolist()  # the trailing comma's row


RECORDS_HEADER = "student_id,school,year_group,age_months,sex,fsm,sen,eal,prior_attainment"


@pytest.mark.parametrize("bad", [3, 12])
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_records_errors_withhold_a_count_under_10_and_number_parquet_rows_as_import(
        tmp_path: Path, bad: int, kind: str):
    """"fsm is not true or false: 3 rows" gave 3 pupils, where `data validate` prints `c`; and
    a Parquet file's first row was "row 1", where import and thresholds call it row 2."""
    import pandas as pd

    from srmsim.records import read_student_records

    rows = [f"P{i:03d},S{i % 2},7,140,{'FM'[i % 2]},{'maybe' if i < bad else 'false'},false,"
            f"false,{90 + i}" for i in range(40)]
    path = tmp_path / "pupils.csv"
    path.write_text("\n".join([RECORDS_HEADER, *rows]) + "\n", encoding="utf-8")
    if kind == "parquet":
        parquet = tmp_path / "pupils.parquet"
        pd.read_csv(path, dtype=str).to_parquet(parquet, index=False)
        path = parquet
    with pytest.raises(DataError) as err:
        read_student_records(path)
    many = "12 rows" if bad == 12 else "fewer than 10 rows"
    assert str(err.value) == (f"{path}: fsm is not true or false: {many}, first row 2 "
                              "('maybe'); correct the records file")


def test_pupils_email_addresses_are_no_ids_in_import_records_or_thresholds(tmp_path: Path,
                                                                           capsys):
    """An export's pupil email (or login) column mapped as the student id was imported, and
    read as records and by thresholds, as ids: each names its pupil. Refused as names are,
    naming the column and row, never an address."""
    import pandas as pd

    from srmsim.data.dataset import email_addresses
    from srmsim.records import read_student_records

    rows = [f"pupil.{i}@school.example.org,S{i % 2},7,140,{'FM'[i % 2]},false,false,false,"
            f"{90 + i}" for i in range(12)]
    path = tmp_path / "pupils.csv"
    path.write_text("\n".join([RECORDS_HEADER, *rows]) + "\n", encoding="utf-8")
    out = tmp_path / "ds"
    assert main(["data", "import", "--students", str(path), "--out", str(out)]) == 2
    printed = capsys.readouterr()
    assert ("names_as_ids: column 'student_id' (student_id) holds pupils' email addresses, "
            "not ids, from row 2 (not shown)") in printed.out
    assert "@" not in printed.out + printed.err and not (out / "students.parquet").exists()
    with pytest.raises(DataError, match="row 2 holds an email address") as err:
        read_student_records(path)
    assert "@" not in str(err.value).replace(str(path), "")
    # thresholds: the pupils' emails under an export's own id column name
    table = students().rename(columns={"uid": "Student"})
    table["Student"] = [f"p{i}@school.example.org" for i in range(len(table))]
    table.to_csv(tmp_path / "export.csv", index=False)
    err_text = cli_refuses(capsys, ["thresholds", str(tmp_path / "export.csv"), *ARGS, "--out",
                                    str(tmp_path / "t")], "row 2 holds an email address")
    assert "@" not in err_text.replace(str(tmp_path), "") and not (tmp_path / "t").exists()
    # a code with an @ inside is no address: ids of a school's own are still ids
    assert not email_addresses(pd.Series(["P@1", "x@y", "a.b@c"])).any()


@pytest.mark.parametrize(("column", "says"), [
    (lambda pa, t: pa.array([[s] for s in t["sex"]]), "column 'sex' holds nested values"),
    (lambda pa, t: pa.array([{"a": s} for s in t["sex"]]), "column 'sex' holds nested values"),
    (lambda pa, t: pa.array([s.encode() for s in t["sex"]], pa.binary()),
     "column 'sex' holds bytes (binary), not text"),
], ids=["list", "struct", "bytes"])
def test_thresholds_refuses_parquet_columns_import_refuses(tmp_path: Path, capsys, column, says):
    """A nested column was "cannot read (ArrowNotImplementedError: Unsupported cast ...)" and
    one of bytes was read as the text "b'F'": the one check import and records apply."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(students(), preserve_index=False)
    table = table.set_column(table.schema.get_field_index("sex"), "sex",
                             column(pa, table.to_pydict()))
    path = tmp_path / "export.parquet"
    pq.write_table(table, path)
    cli_refuses(capsys, ["thresholds", str(path), *ARGS, "--out", str(tmp_path / "t")],
                f"{path}: {says}")
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_utf8_export_read_with_a_utf16_mapping_is_named_so(tmp_path: Path, capsys,
                                                            encoding: str):
    """A mapping kept from an old "Unicode text" export (UTF-16) read a new UTF-8 one as one
    line of CJK characters: "has column names but no rows", no word of the encoding. A real
    UTF-16 export still reads."""
    rows = [f"P{i:03d},S{i % 2},7,140,{'FM'[i % 2]},false,false,false,{90 + i}"
            for i in range(12)]
    text = "\n".join([RECORDS_HEADER, *rows]) + "\n"
    path = tmp_path / "pupils.csv"
    path.write_text(text, encoding="utf-8")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(f"encoding: {encoding}\n", encoding="utf-8")
    argv = ["data", "validate", "--mapping", str(mapping), "--students", str(path)]
    err = cli_refuses(capsys, argv, f"{path}: the file is not {encoding} (it holds no NUL byte")
    assert "set 'encoding: utf-8' in the mapping" in err
    path.write_bytes(text.encode(encoding))
    assert main(argv) == 0
    assert "12 rows read, 12 accepted, 0 rejected" in capsys.readouterr().out


def test_a_table_in_another_format_than_its_name_says_is_named_so(tmp_path: Path, capsys):
    """A Parquet file named .csv was "probably UTF-16" to import and records (NULs in its
    "header"); an Excel workbook or a .txt CSV given as records was "Parquet magic bytes not
    found in footer"."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "pupils.csv"
    pq.write_table(pa.table({"student_id": ["P1"], "school": ["S1"]}), parquet)
    workbook = tmp_path / "pupils.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + bytes(60))  # a zip archive, as a workbook is
    text = tmp_path / "pupils.txt"
    text.write_text(RECORDS_HEADER + "\nP1,S1,7,140,F,false,false,false,90\n")
    cases = [(parquet, "a Parquet file named .csv; name it .parquet"),
             (workbook, "an Excel workbook: records are read from a .csv or .parquet file"),
             (text, "not a Parquet file, and not named .csv")]
    for path, says in cases:
        scenario = tmp_path / "s.yaml"
        scenario.write_text(f"name: s\npopulation:\n  records: {path.name}\n")
        cli_refuses(capsys, ["validate", str(scenario)], f"population.records: {path}: {says}")
    cli_refuses(capsys, ["data", "validate", "--students", str(parquet)],
                f"{parquet}: a Parquet file named .csv; name it .parquet")
    named = tmp_path / "book.csv"
    named.write_bytes(workbook.read_bytes())
    cli_refuses(capsys, ["data", "validate", "--students", str(named)],
                f"{named}: a zip archive (an Excel workbook?) named .csv")


def test_a_windows_1252_export_is_named_so_even_when_its_rejects_are_not_listed(tmp_path: Path,
                                                                               capsys):
    """Excel's "CSV (Comma delimited)" writes Windows-1252: three pupils named 'Zoë' were
    three `bad_encoding` rejects ("byte 0xeb ... is not valid utf-8"), the list not printed
    (a count under 10), with no word of what to change. A UTF-8 file with one stray byte is
    no Windows file: no such note."""
    from srmsim.records import read_student_records

    rows = [f"P{i:03d},S{i % 2},7,140,{'FM'[i % 2]},false,false,false,{90 + i},"
            f"{'Zoë' if i < 3 else 'Bob'}" for i in range(12)]
    path = tmp_path / "pupils.csv"
    path.write_bytes(("\n".join([RECORDS_HEADER + ",name", *rows]) + "\n").encode("cp1252"))
    assert main(["data", "validate", "--students", str(path)]) == 2
    out = capsys.readouterr().out
    assert "violations not listed" in out
    assert (f"note: {path}: the file is Windows-1252 (cp1252) text, not UTF-8, as Excel's 'CSV "
            "(Comma delimited)' saves one: save it as 'CSV UTF-8 (Comma delimited)', or set "
            "'encoding: cp1252' in the mapping") in out
    records = tmp_path / "records.csv"
    records.write_bytes(path.read_bytes())
    with pytest.raises(DataError, match=r"save it as 'CSV UTF-8 \(Comma delimited\)'$"):
        read_student_records(records)
    # UTF-8 with one byte of another encoding: the rest of its accents are UTF-8
    data = path.read_bytes().replace(b"Zo\xeb", "Zoë".encode())
    path.write_bytes(data.replace(b"Bob", b"B\xf6b", 1))
    assert main(["data", "validate", "--students", str(path)]) == 2
    out = capsys.readouterr().out
    assert "bad_encoding" in out and "Windows-1252" not in out


def test_a_workbook_too_large_for_the_memory_free_is_refused_before_it_is_parsed(
        tmp_path: Path, capsys, monkeypatch):
    """A CSV and a Parquet file are sized against the memory free before they are read; a
    workbook was parsed whole (a 650 kB .xlsx of 142 MiB of sheet XML took 740 MB)."""
    openpyxl = pytest.importorskip("openpyxl")
    import srmsim.memory

    book = openpyxl.Workbook()
    for row in [RECORDS_HEADER.split(","),
                *[[f"P{i}", "S1", 7, 140, "F", "false", "false", "false", 90] for i in range(12)]]:
        book.active.append(row)
    path = tmp_path / "pupils.xlsx"
    book.save(path)
    argv = ["data", "validate", "--students", str(path)]
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 2_000)
    cli_refuses(capsys, argv, f"{path}: its sheets unpack to ")
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 2**30)
    assert main(argv) == 0  # the same workbook with room for it


@pytest.mark.parametrize(("first", "says"), [
    ("period_start\n2204-09-09", "weeks reach week 9,"),  # a mistyped year, 2204 for 2024
    ("period_start\n1902-09-08", "weeks reach week 6,"),  # early: every other row far from it
    ("period\n99999999", "weeks reach week 99,999,999"),
    ("period_start\n2024-07-14", None),  # a real week before the others: no note
])
def test_a_period_far_from_the_others_is_noted(tmp_path: Path, capsys, first: str, says):
    column, value = first.split("\n")
    students_csv = tmp_path / "students.csv"
    students_csv.write_text("\n".join([RECORDS_HEADER, *[
        f"P{i:03d},S1,7,140,F,false,false,false,90" for i in range(12)]]) + "\n")
    rows = [f"P{i:03d},S1,week,{'2024-09-09' if column == 'period_start' else 1},10,9"
            for i in range(12)]
    rows[0] = rows[0].replace(",2024-09-09," if column == "period_start" else ",1,",
                              f",{value},")
    obs = tmp_path / "observations.csv"
    obs.write_text(f"student_id,school,period_type,{column},sessions_possible,"
                   "sessions_attended\n" + "\n".join(rows) + "\n")
    assert main(["data", "validate", str(students_csv), str(obs)]) == 0
    out = capsys.readouterr().out
    if says is None:
        assert "school years" not in out
    else:
        assert f"note: {says}" in out and "more than 50 school years" in out, out


def test_a_file_without_its_header_row_names_no_pupil(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """An export saved without its header row: its first pupil's row was read as the column
    names, and the note on columns not in the mapping printed 'Alice Smith'. With nothing of
    that row mapped and a cell that may name a pupil, the names are not shown; a real header
    with one unmapped column ('Legal Surname' beside a mapped UPN) is still listed."""
    headless = tmp_path / "s.csv"
    headless.write_text("Alice Smith,NFD,F,Y,N\nBob Jones,NFD,M,N,N\n")
    assert main(["data", "validate", "--students", str(headless)]) == 2
    out = capsys.readouterr()
    assert "Alice" not in out.out + out.err and "5 columns not in the mapping" in out.out
    assert "without a header row" in out.out
    named = tmp_path / "t.csv"
    named.write_text("Legal Surname,UPN\nSmith,A123456789012\n")
    main(["data", "validate", "--students", str(named)])
    assert "column 'Legal Surname' is not in the mapping" in capsys.readouterr().out


def test_an_outcome_coded_y_n_reads_as_import_reads_it(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A school's MIS writes flags as Y/N or Yes/No, which `srmsim data import` reads as
    true/false; `srmsim thresholds` refused the same column as not boolean. It now reads the
    import's words (any case): the same table as true/false gives, and other text is still
    refused by row."""
    df = students()
    tables = {}
    for name, words in (("tf", {True: "true", False: "false"}),
                        ("yn", {True: "Y", False: "no"})):
        path = tmp_path / f"{name}.csv"
        df.assign(withdrawn=df["withdrawn"].map(words)).to_csv(path, index=False)
        out = tmp_path / f"out_{name}"
        assert main(["thresholds", str(path), *ARGS, "--out", str(out)]) == 0
        tables[name] = (out / "thresholds.csv").read_text()
    assert tables["tf"] == tables["yn"]
    bad = tmp_path / "maybe.csv"
    df.assign(withdrawn=df["withdrawn"].map({True: "yes", False: "maybe"})).to_csv(bad,
                                                                                  index=False)
    cli_refuses(capsys, ["thresholds", str(bad), *ARGS, "--out", str(tmp_path / "x")],
                "outcome must be boolean or 0/1 (true/false, yes/no, y/n or 1/0); row "
                f"{int((~df['withdrawn']).to_numpy().argmax()) + 2} holds another value")
