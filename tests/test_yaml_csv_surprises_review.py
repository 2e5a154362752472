"""What users write by accident in YAML and CSV files: YAML 1.1 surprises (``010``, ``0x1F``,
``1e3``, ``=``), tags, merge keys and alias bombs, and the CSV quirks of spreadsheet programs
(spaces and case in column names, ``;`` separators, trailing empty columns, formula cells).

The standard: a value keeps the text the user wrote, or the command stops with exit 2 and a
short message naming the file and the field, no traceback, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.yamlio import load_yaml_text

HEADER = "student_id,school,year_group,age_months,sex,fsm,sen,eal,prior_attainment"


def fails(capsys, *argv: str, contains: str = "") -> str:
    """Run the CLI in-process: exit 2, one short message naming what is wrong, no traceback."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "Traceback" not in err, err
    assert len(err) < 2000 and max(len(x) for x in err.splitlines()) < 500, err
    assert contains in err, err
    return err


def students(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


# ---------------------------------------------------------------------------------------------
# the mapping file: ids and cell values keep the text the user wrote


def test_mapping_school_ids_keep_the_digits_written(tmp_path: Path, capsys) -> None:
    """YAML 1.2 reads ``010`` as ten and ``0x1F`` as 31: a mapping's ``schools: [010, 0x1F]``
    allowed the schools '10' and '31', so every row of schools 010 and 0x1F was rejected as an
    unknown school, and ``constants: {school: 010}`` imported every pupil into school '10'."""
    csv = tmp_path / "students.csv"
    csv.write_text(students(["P1,010,7,137,M,false,false,false,81.3",
                             "P2,0x1F,7,139,F,false,false,false,108.7",
                             "P3,1e3,8,150,F,true,false,false,99"]))
    allowed = tmp_path / "allowed.yaml"
    allowed.write_text('schools: [010, 0x1F, 1e3]\nstudents: {files: ["students*"]}\n')
    assert main(["data", "validate", "--mapping", str(allowed), str(csv)]) == 0
    assert "c accepted, 0 rejected" in capsys.readouterr().out  # 3 pupils: a small count

    constant = tmp_path / "constant.yaml"
    constant.write_text('students:\n  files: ["students*"]\n  constants: {school: 010}\n'
                        '  ignore: [school]\n')
    out = tmp_path / "dataset"
    assert main(["data", "import", "--mapping", str(constant), str(csv), "--out", str(out)]) == 0
    capsys.readouterr()
    assert pd.read_parquet(out / "students.parquet")["school"].tolist() == ["010"] * 3


def test_mapping_recoded_text_keeps_its_digits_and_numbers_stay_numbers(tmp_path: Path,
                                                                       capsys) -> None:
    """A recoded id (a text field) is the text written (``007``, not 7); a recoded number is
    the number YAML 1.2 reads (``07`` is 7, ``1e2`` is 100), as before."""
    csv = tmp_path / "students.csv"
    csv.write_text(students(["P1,North,Y7,137,M,false,false,false,High",
                             "P2,North,Y8,139,F,false,false,false,Low"]))
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        'students:\n  files: ["students*"]\n'
        '  values:\n'
        '    school: {North: 007}\n'
        '    year_group: {Y7: 07, Y8: 0x8}\n'
        '    prior_attainment: {High: 1e2, Low: 9.50}\n')
    out = tmp_path / "dataset"
    assert main(["data", "import", "--mapping", str(mapping), str(csv), "--out", str(out)]) == 0
    capsys.readouterr()
    got = pd.read_parquet(out / "students.parquet")
    assert got["school"].tolist() == ["007", "007"]
    assert got["year_group"].tolist() == [7, 8]
    assert got["prior_attainment"].tolist() == [100.0, 9.5]


def test_mapping_numbers_that_are_not_numbers_are_refused_by_key(tmp_path: Path,
                                                                capsys) -> None:
    mapping = tmp_path / "map.yaml"
    mapping.write_text('students:\n  values:\n    year_group: {Y7: 1_000, Y8: .nan}\n')
    csv = tmp_path / "students.csv"
    csv.write_text(students(["P1,A,Y7,137,M,false,false,false,1"]))
    err = fails(capsys, "data", "validate", "--mapping", mapping, csv,
                contains="students.values.year_group.Y7")
    assert "students.values.year_group.Y8" in err and str(mapping) in err


def test_yaml_number_reads_text_as_the_files_do() -> None:
    from srmsim.yamlio import yaml_number

    for text in ["010", "0x1F", "0o17", "-3", "1e3", ".5", "-.inf", "2.50"]:
        assert yaml_number(text) == load_yaml_text(text), text
    for text in ["1_000", "12:30", "2024-01-01", "on", "", "0x", "1e", "[1]", "7 # seven"]:
        assert yaml_number(text) is None, text


# ---------------------------------------------------------------------------------------------
# tags, `=` and `<<`


@pytest.mark.parametrize("value, tag", [
    ("!!binary aGVsbG8=", "!!binary"),
    ("!!set {a, b}", "!!set"),
    ("!!omap [a: 1]", "!!omap"),
    ("!!pairs [a: 1]", "!!pairs"),
    ("!!timestamp 2024-01-01", "!!timestamp"),
    ("!!python/object:os.system {}", "!!python/object:os.system"),
    ("!!python/name:os.system", "!!python/name:os.system"),
    ("!custom x", "!custom"),
    ("!<tag:example.com,2024:x> y", "tag:example.com,2024:x"),
])
def test_tags_beyond_plain_values_are_refused_by_name(tmp_path: Path, capsys, value: str,
                                                      tag: str) -> None:
    """``!!binary`` made bytes and ``!!set`` a set: a mapping's ``constants: {school: !!binary
    TkZE}`` imported every pupil into the school "b'NFD'"; in a scenario the message spoke of
    ``b'hello'``. Every tag but the plain ones (str, int, float, bool, null, seq, map) is
    refused with its name, line and column, wherever it stands."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: x\ndescription: {value}\n")
    err = fails(capsys, "validate", scenario, contains=f"tag {tag}")
    assert "line 2, column 14" in err


def test_a_binary_constant_in_a_mapping_is_refused(tmp_path: Path, capsys) -> None:
    mapping = tmp_path / "map.yaml"
    mapping.write_text('students:\n  files: ["students*"]\n  constants: {school: !!binary TkZE}\n')
    csv = tmp_path / "students.csv"
    csv.write_text(students(["P1,A,7,137,M,false,false,false,1"]))
    out = tmp_path / "dataset"
    fails(capsys, "data", "import", "--mapping", mapping, csv, "--out", out,
          contains="tag !!binary")
    assert not out.exists()


def test_plain_tags_still_work(tmp_path: Path, capsys) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: !!str 010\nseed: !!int 7\ntrust: !!map {n_schools: 2}\n"
                        "population: {fsm_rate: !!float 0.25}\n")
    assert main(["validate", str(scenario)]) == 0
    assert "valid scenario '010'" in capsys.readouterr().out


def test_an_equals_sign_and_a_lone_merge_sign_are_text(tmp_path: Path, capsys) -> None:
    """YAML 1.1's "value" type made a plain ``=`` unreadable ("could not determine a
    constructor for the tag 'tag:yaml.org,2002:value'"), so did ``<<`` as a value: both are
    text in YAML 1.2, as in srmsim's other readers."""
    assert load_yaml_text("a: =\nb: [=, <<]\nc: <<\n") == {"a": "=", "b": ["=", "<<"], "c": "<<"}
    mapping = tmp_path / "map.yaml"
    mapping.write_text('missing_values: ["", =]\nstudents: {files: ["students*"]}\n')
    csv = tmp_path / "students.csv"
    csv.write_text(students(["P1,A,7,137,M,false,false,false,="]))
    assert main(["data", "validate", "--mapping", str(mapping), str(csv)]) == 0
    assert "c accepted, 0 rejected" in capsys.readouterr().out  # 1 pupil: a small count


def test_merge_keys_are_honoured_and_a_merge_bomb_is_refused(tmp_path: Path, capsys) -> None:
    """A merge key reads the mapping it names (no silent override: see test_input_safety);
    merges that nest aliases are counted like any alias, so a merge bomb is refused by the
    expansion limit, not by running out of memory."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text("trust:\n  <<: {n_schools: 3}\n  students_per_year_group: 20\n")
    assert main(["validate", str(scenario)]) == 0
    assert "3 schools" in capsys.readouterr().out
    lines = ["a0: &a0 {k: 1}"] + [
        f"a{i}: &a{i} {{<<: [*a{i - 1}], x{i}: [*a{i - 1}, *a{i - 1}]}}" for i in range(1, 30)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    fails(capsys, "validate", bomb, contains="expands (through aliases) to more than")


# ---------------------------------------------------------------------------------------------
# population.records as a CSV file saved by a spreadsheet


def _records(path: Path, header: str, sep: str = ",", tail: str = "") -> Path:
    rows = [header.replace(",", sep)]  # ``tail`` ends each data row
    for i in range(40):
        cells = [f"P{i}", "AB"[i % 2], str(7 + i % 5), "140", "MF"[i % 2],
                 "true" if i % 3 == 0 else "false", "false", "true" if i % 4 == 0 else "false",
                 f"{90 + i % 20}.5"]
        rows.append(sep.join(cells) + tail)
    path.write_text("\r\n".join(rows) + "\r\n")
    return path


def _run(tmp_path: Path, records: Path, name: str) -> int:
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(f"name: x\nyears: 1\noutputs: {{history: none}}\n"
                        f"population: {{records: {records}}}\n")
    return main(["run", str(scenario), "--out", str(tmp_path / f"run_{name}")])


def test_records_column_names_match_ignoring_spaces_and_case(tmp_path: Path, capsys) -> None:
    """``population.records`` read its CSV with the names exactly as written: a column ' FSM'
    (a space after the comma, Excel's capitals) was silently not the fsm column, and every
    student's FSM was unknown. Names now match as an import matches them (trimmed, any case),
    so the run is the run of the same file with plain names."""
    plain = _records(tmp_path / "plain.csv", HEADER)
    excel = _records(tmp_path / "excel.csv", " Student_ID, School,Year_Group, age_months, SEX,"
                     " FSM ,SEN,EAL,Prior_Attainment,,", tail=",,")
    assert _run(tmp_path, plain, "plain") == 0
    assert _run(tmp_path, excel, "excel") == 0
    capsys.readouterr()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "run_plain" / "students.parquet"),
                                  pd.read_parquet(tmp_path / "run_excel" / "students.parquet"))


def test_records_rows_ending_with_a_comma_are_read_as_without(tmp_path: Path, capsys) -> None:
    """A comma ending each data row (and not the header) is an empty last cell, not a value:
    the records are those of the same file without it (pandas shifted every value a column)."""
    plain = _records(tmp_path / "plain.csv", HEADER)
    trailing = _records(tmp_path / "trailing.csv", HEADER, tail=",")
    assert _run(tmp_path, plain, "plain") == 0
    assert _run(tmp_path, trailing, "trailing") == 0
    capsys.readouterr()
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "run_plain" / "students.parquet"),
        pd.read_parquet(tmp_path / "run_trailing" / "students.parquet"))


@pytest.mark.parametrize("header, sep, tail, message", [
    (HEADER.replace(",fsm,", ",fsm,FSM ,"), ",", "", "'fsm' and 'FSM' are one column"),
    (HEADER, ";", "", "separated by semicolons"),
    (HEADER + ",", ",", ",x", "column 10 has values but no name"),
    (HEADER, ",", ",x", "row 2: 10 cells but the header has 9"),  # pandas shifted the values
])
def test_records_columns_that_cannot_be_read_are_refused(tmp_path: Path, capsys, header: str,
                                                         sep: str, tail: str,
                                                         message: str) -> None:
    if "FSM " in header:  # one more cell per row for the second fsm column
        records = tmp_path / "r.csv"
        records.write_text(header + "\nP1,A,7,140,M,true,false,false,false,90\n")
    else:
        records = _records(tmp_path / "r.csv", header, sep, tail)
    assert _run(tmp_path, records, "r") == 2
    err = capsys.readouterr().err
    assert message in err and str(records) in err and "Traceback" not in err, err
    assert not (tmp_path / "run_r").exists()


# ---------------------------------------------------------------------------------------------
# formula-looking cells written back into CSV


def test_formula_cells_from_an_export_are_written_as_text(tmp_path: Path, capsys) -> None:
    """Ids are kept as written (``=HYPERLINK(...)`` is a pupil's id as far as srmsim knows),
    but every CSV srmsim writes starts such a cell with a quote, so a spreadsheet shows it
    instead of running it."""
    csv = tmp_path / "students.csv"
    csv.write_text(students(['"=HYPERLINK(""http://x"",""y"")",@SUM(1),7,137,M,false,false,'
                             'false,81.3', "+cmd,-2+3,7,139,F,false,false,false,108.7"]))
    out = tmp_path / "dataset"
    assert main(["data", "import", str(csv), "--out", str(out)]) == 0
    table = tmp_path / "summary.csv"
    assert main(["data", "summary", str(out), "--by", "school", "--out", str(table)]) == 0
    capsys.readouterr()
    cells = [line.split(",")[0] for line in table.read_text().splitlines()[1:]]
    assert cells[:2] == ['"\'-2+3"', '"\'@SUM(1)"'], cells


def test_a_number_where_text_is_expected_says_to_quote_it(tmp_path, capsys):
    """`name: 010` was told "Input should be a valid string (got 10)": an error, but showing a
    number the user never wrote, with no word of the quotes that make it text."""
    from srmsim.cli import main

    (tmp_path / "s.yaml").write_text("name: 010\n")
    assert main(["validate", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert "name: Input should be a valid string" in err and "put it in quotes" in err


def test_parquet_records_match_column_names_as_csv_records_do(tmp_path):
    """A Parquet records file's ' FSM' column was silently not the fsm column (the CSV reader
    matched names trimmed and in any case; the Parquet one did not)."""
    import pandas as pd

    from srmsim.errors import DataError
    from srmsim.records import read_student_records

    pd.DataFrame({"School": ["A", "B"], " FSM": [True, False]}).to_parquet(tmp_path / "r.parquet")
    df = read_student_records(tmp_path / "r.parquet")
    assert {"school", "fsm"} <= set(df.columns) and df["fsm"].tolist() == [True, False]
    pd.DataFrame({"school": ["A"], "fsm": [True], "FSM ": [False]}).to_parquet(tmp_path / "d.parquet")
    with pytest.raises(DataError, match="are one column once case and spaces are ignored"):
        read_student_records(tmp_path / "d.parquet")
