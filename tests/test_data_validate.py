"""Validation: each kind of bad file gives the right rule, row, column and value; nothing vanishes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fakes import fake_export, mapping, write_export  # noqa: E402

from srmsim.data import load_mapping, parse_mapping, validate_files, validate_frames  # noqa: E402
from srmsim.data.mapping import MappingError  # noqa: E402
from srmsim.errors import DataError, SrmsimError  # noqa: E402


def run(tmp_path: Path, st: pd.DataFrame | None, ob: pd.DataFrame | None, mp: dict | None = None,
        **kw):
    paths = write_export(tmp_path, st, ob, mp, **kw)
    files = {t: [paths[t]] for t in ("students", "observations") if t in paths}
    res = validate_files(files, load_mapping(paths["mapping"]))
    assert res.rows_read == res.accepted + res.rejected  # nothing vanishes
    for f in res.summary["files"]:
        assert f["rows_read"] == f["accepted"] + f["rejected"]
    return res, paths


def only(res, rule: str) -> pd.DataFrame:
    got = res.rejects[res.rejects["rule"] == rule]
    assert len(got), f"no {rule} in\n{res.rejects.to_string()}"
    return got


def test_wrong_type_reports_file_row_source_column_and_value(tmp_path: Path) -> None:
    st, ob = fake_export()
    st.loc[4, "NC Year"] = "7a"
    res, paths = run(tmp_path, st, ob)
    r = only(res, "wrong_type").iloc[0]
    assert (r["file"], r["row"], r["column"], r["field"], r["value"]) == (
        str(paths["students"]), 6, "NC Year", "year_group", "7a")
    assert "whole number" in r["message"]
    assert res.summary["tables"]["students"]["rejected"] == 1
    # the student's observations go too, and say why
    linked = only(res, "unknown_student")
    assert set(linked["value"]) == {st.loc[4, "Pupil Ref"]}
    assert (linked["message"].str.contains("was rejected")).all()


def test_missing_required_column_rejects_whole_file(tmp_path: Path) -> None:
    st, ob = fake_export()
    res, _ = run(tmp_path, st.drop(columns=["NC Year"]), ob)
    r = only(res, "missing_required_column")
    assert len(r) == 1 and pd.isna(r.iloc[0]["row"])
    assert r.iloc[0]["column"] == "NC Year" and r.iloc[0]["field"] == "year_group"
    assert "every row of the file rejected" in r.iloc[0]["message"]  # (no count: printed)
    assert res.summary["tables"]["students"] == {"rows_read": len(st), "accepted": 0,
                                                 "rejected": len(st)}
    assert res.summary["by_rule"]["missing_required_column"] == len(st)


def test_one_of_date_of_birth_or_age(tmp_path: Path) -> None:
    st, ob = fake_export()
    res, _ = run(tmp_path, st.drop(columns=["D.O.B."]), ob)
    r = only(res, "missing_required_column").iloc[0]
    assert "date_of_birth or age_months" in r["message"]
    st.loc[2, "D.O.B."] = ""
    res, _ = run(tmp_path, st, ob)
    r = only(res, "missing_value").iloc[0]
    assert r["row"] == 4 and "date_of_birth or age_months" in r["message"]


@pytest.mark.parametrize(("column", "value", "rule", "field"), [
    ("NC Year", "14", "out_of_range", "year_group"),
    ("NC Year", "", "missing_value", "year_group"),
    ("Gender", "Q", "unknown_category", "sex"),
    ("FSM?", "maybe", "unknown_category", "fsm"),
    ("KS2", "1,5", "wrong_type", "prior_attainment"),
    ("KS2", "inf", "wrong_type", "prior_attainment"),
    ("KS2", "1e300", "out_of_range", "prior_attainment"),  # once zeroed every standardised score
    ("D.O.B.", "31/02/2013", "wrong_type", "date_of_birth"),
    ("D.O.B.", "03/03/2023", "impossible_age", "date_of_birth"),
    ("D.O.B.", "03/03/1990", "impossible_age", "date_of_birth"),
    ("D.O.B.", "03/03/2030", "impossible_age", "date_of_birth"),
    ("School Code", "WEST", "unknown_school", "school"),
])
@pytest.mark.once
def test_student_cell_rules(tmp_path: Path, column: str, value: str, rule: str,
                            field: str) -> None:
    st, ob = fake_export()
    st.loc[10, column] = value
    res, _ = run(tmp_path, st, ob)
    rej = res.rejects[res.rejects["table"] == "students"]
    assert list(rej["rule"]) == [rule], rej.to_string()
    r = rej.iloc[0]
    assert (r["row"], r["column"], r["field"], r["value"]) == (12, column, field, value)
    assert res.summary["tables"]["students"]["rejected"] == 1


@pytest.mark.once
@pytest.mark.parametrize("bad_id", ["P1\n2", "\x1b[2J", "P1\u20282", "P1\x7f", "P1\x852",
                                    "P\u202e12", "P1\x1f2", "P1\t2"])
def test_identifiers_with_control_characters_are_rejected_unshown(tmp_path: Path,
                                                                   bad_id: str) -> None:
    """Ids such as 'A\\n12' or an ANSI escape were imported: they flowed into pseudonyms,
    reports and terminals. Rejected by file, column and row; neither the id nor the character
    is shown. Free text may hold line breaks."""
    from srmsim.data.importer import mask_identifiers

    st, ob = fake_export()
    st.loc[10, "Pupil Ref"] = bad_id
    st.loc[11, "School Code"] = "NORTH" + bad_id + "X"
    st.loc[12, "Notes"] = "line one\nline two"
    ob.loc[3, "Pupil Ref"] = "Q" + bad_id
    res, paths = run(tmp_path, st, ob)
    rej = only(res, "control_character")
    assert [(r.table, r.row, r.column, r.field) for r in rej.itertuples()] == [
        ("students", 12, "Pupil Ref", "student_id"), ("students", 13, "School Code", "school"),
        ("observations", 5, "Pupil Ref", "student_id")]
    assert (rej["value"] == "").all() and rej["message"].str.contains("character U+", regex=False).all()
    assert res.summary["tables"]["students"]["rejected"] == 2
    shown = mask_identifiers(res).rejects.to_csv()
    assert bad_id not in shown and bad_id.strip() not in shown
    assert not res.students["student_id"].str.contains("[\x00-\x1f\x7f-\x9f]").any()


def test_the_printed_report_escapes_control_characters(tmp_path: Path) -> None:
    """A cell such as '7\\x1b[2J' was printed raw by the reject report: the terminal showing it
    was cleared (or retitled, or worse). Shown escaped; rejects.csv keeps the cell as typed."""
    from srmsim.data.validate import format_report

    st, ob = fake_export()
    st.loc[10, "NC Year"] = "7\x1b[2J"
    st.loc[11, "Gender"] = "Girl\u2028\x9b31m"
    res, _ = run(tmp_path, st, ob)
    text = format_report(res, max_rejects=20)  # (listed: as --show 20 asks)
    assert "'7\\x1b[2J'" in text and "Girl\\u2028\\x9b31m" in text
    assert not any(ch in text for ch in "\x1b\x9b\u2028")


def test_age_months_out_of_range_is_impossible_age(tmp_path: Path) -> None:
    st, ob = fake_export()
    st = st.drop(columns=["D.O.B."]).assign(Age=["150"] * len(st))
    st.loc[3, "Age"] = "20"
    mp = mapping()
    mp["students"]["columns"].pop("D.O.B.")
    mp["students"]["columns"]["Age"] = "age_months"
    res, _ = run(tmp_path, st, ob, mp)
    r = only(res, "impossible_age").iloc[0]
    assert (r["row"], r["column"], r["value"]) == (5, "Age", "20")


def test_duplicate_student_ids_report_every_copy(tmp_path: Path) -> None:
    st, ob = fake_export()
    st = pd.concat([st, st.iloc[[7, 7]]], ignore_index=True)  # three copies of row 9
    res, _ = run(tmp_path, st, ob)
    dup = only(res, "duplicate_student_id")
    assert sorted(dup["row"]) == [9, len(st), len(st) + 1]
    assert dup["message"].str.contains("appears 3 times").all()
    assert dup["message"].str.contains(f"rows 9, {len(st)}, {len(st) + 1}").all()


@pytest.mark.parametrize(("column", "value", "rule"), [
    ("Att", "11", "attended_exceeds_possible"),
    ("HW On Time", "9", "on_time_exceeds_set"),
    ("Poss", "20", "out_of_range"),
    ("Mood", "6", "out_of_range"),
    ("Incidents", "-1", "out_of_range"),
    ("Pupil Ref", "P9999", "unknown_student"),
    ("School Code", "SOUTH_OR_NORTH", "unknown_school"),
])
@pytest.mark.once
def test_observation_rules(tmp_path: Path, column: str, value: str, rule: str) -> None:
    st, ob = fake_export()
    ob.loc[20, column] = value
    res, _ = run(tmp_path, st, ob)
    rej = res.rejects[res.rejects["table"] == "observations"]
    assert rule in set(rej["rule"]), rej.to_string()
    assert set(rej["row"]) == {22}
    r = rej[rej["rule"] == rule].iloc[0]
    assert r["row"] == 22


def test_observation_at_another_school_than_the_students(tmp_path: Path) -> None:
    st, ob = fake_export()
    sid = ob.loc[5, "Pupil Ref"]
    home = st.set_index("Pupil Ref").loc[sid, "School Code"]
    ob.loc[5, "School Code"] = "EAST"
    res, _ = run(tmp_path, st, ob)
    r = only(res, "unknown_school").iloc[0]
    assert r["row"] == 7 and r["value"] == "EAST" and home in r["message"]


def test_duplicate_observations(tmp_path: Path) -> None:
    st, ob = fake_export()
    ob = pd.concat([ob, ob.iloc[[3]]], ignore_index=True)
    res, _ = run(tmp_path, st, ob)
    dup = only(res, "duplicate_observation")
    assert sorted(dup["row"]) == [5, len(ob) + 1]


def test_bad_encoding_reports_byte_offset_and_line(tmp_path: Path) -> None:
    st, ob = fake_export()
    st.loc[6, "Notes"] = "CAFE_MARK"
    paths = write_export(tmp_path, st, ob)
    data = paths["students"].read_bytes()
    data = data.replace(b"CAFE_MARK", "caf\xe9 visit".encode("latin-1"))
    paths["students"].write_bytes(data)
    offset = data.index(b"\xe9")
    line = data[:offset].count(b"\n") + 1
    res = validate_files({"students": [paths["students"]],
                          "observations": [paths["observations"]]}, load_mapping(paths["mapping"]))
    r = only(res, "bad_encoding").iloc[0]
    assert (r["row"], r["column"], r["field"]) == (8, "Notes", "notes")
    assert r["value"] == "caf\\xe9 visit"
    assert f"byte offset {offset}" in r["message"] and f"line {line}" in r["message"]
    assert res.summary["tables"]["students"]["rejected"] == 1


def test_declared_encoding_is_used(tmp_path: Path) -> None:
    st, ob = fake_export()
    st.loc[2, "Full Name"] = "Zoë Müller"
    mp = mapping()
    mp["encoding"] = "cp1252"
    res, _ = run(tmp_path, st, ob, mp, encoding="cp1252")
    assert res.ok
    assert res.students.loc[2, "name"] == "Zoë Müller"


def test_ragged_rows_blank_rows_and_quoted_newlines(tmp_path: Path) -> None:
    st, ob = fake_export(n_students=5, n_weeks=1)
    paths = write_export(tmp_path, st, ob)
    lines = paths["students"].read_text().splitlines()
    lines[2] = lines[2] + ",extra"  # file row 3 has one cell too many
    lines.insert(4, ",,,,,,,,,,,,")  # a blank row (row 5)
    # a quoted line break inside the notes of the next student (one row, two lines)
    lines[5] = lines[5].rsplit(",", 2)[0] + ',"line one\nline two",' + lines[5].rsplit(",", 1)[1]
    paths["students"].write_text("\n".join(lines) + "\n")
    res = validate_files({"students": [paths["students"]]}, load_mapping(paths["mapping"]))
    rej = res.rejects
    assert list(rej["rule"]) == ["wrong_field_count"] and rej.iloc[0]["row"] == 3
    f = res.summary["files"][0]
    assert f["blank_rows_skipped"] == 1 and f["rows_read"] == 5 and f["accepted"] == 4
    assert res.students.loc[res.students["student_id"] == "P1003", "notes"].item() == \
        "line one\nline two"
    assert "no students file" not in " ".join(res.summary["notes"])


def test_a_parquet_export_of_bytes_is_refused_not_read_as_their_repr(tmp_path: Path) -> None:
    """A binary id column was imported as the text "b'P1000'": every id silently changed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    st, _ = fake_export()
    tab = pa.Table.from_pandas(st, preserve_index=False)
    i = tab.schema.get_field_index("Pupil Ref")
    path = tmp_path / "trust_pupils.parquet"
    pq.write_table(tab.set_column(i, "Pupil Ref", tab.column(i).cast(pa.binary())), path)
    with pytest.raises(DataError, match="column 'Pupil Ref' holds bytes"):
        validate_files({"students": [path]}, parse_mapping(mapping()))


def test_unmapped_columns_are_reported_not_silently_dropped(tmp_path: Path) -> None:
    st, ob = fake_export()
    res, _ = run(tmp_path, st.assign(Tutor="Mr X"), ob)
    f = res.summary["files"][0]
    assert f["unmapped_columns"] == ["Tutor"] and f["ignored_columns"] == ["Form"]
    assert any("'Tutor'" in n for n in res.summary["notes"])


def test_header_names_match_ignoring_case_and_spaces(tmp_path: Path) -> None:
    st, ob = fake_export()
    st = st.rename(columns={"NC Year": "  nc   YEAR ", "Gender": "GENDER"})
    res, _ = run(tmp_path, st, ob)
    assert res.ok
    assert res.summary["files"][0]["columns"]["year_group"] == "nc   YEAR"


def test_excel_and_parquet_inputs(tmp_path: Path) -> None:
    st, ob = fake_export(n_students=12, n_weeks=2)
    st.loc[3, "NC Year"] = "X"
    for suffix in (".xlsx", ".parquet"):
        d = tmp_path / suffix[1:]
        d.mkdir()
        res, _ = run(d, st, ob, suffix=suffix)
        r = only(res, "wrong_type").iloc[0]
        assert (r["row"], r["column"], r["value"]) == (5, "NC Year", "X")
        assert res.accepted == len(st) - 1 + len(ob) - 2


def test_typed_excel_cells(tmp_path: Path) -> None:
    """Excel holds real dates and numbers; they parse like their text."""
    st, ob = fake_export(n_students=6, n_weeks=1)
    st["D.O.B."] = pd.to_datetime(st["D.O.B."], format="%d/%m/%Y")
    st["NC Year"] = st["NC Year"].astype(int)
    res, _ = run(tmp_path, st, ob, suffix=".xlsx")
    assert res.ok, res.rejects.to_string()
    assert res.students["date_of_birth"].notna().all()


def test_a_workbook_with_two_filled_sheets_is_refused(tmp_path: Path) -> None:
    """Only one sheet used to be read, silently; an empty extra sheet is still fine."""
    from srmsim.data.readers import read_raw

    st, ob = fake_export(n_students=6, n_weeks=1)
    two = tmp_path / "two.xlsx"
    with pd.ExcelWriter(two) as book:
        st.to_excel(book, sheet_name="Pupils", index=False)
        ob.to_excel(book, sheet_name="Attendance", index=False)
        pd.DataFrame().to_excel(book, sheet_name="Notes", index=False)
    with pytest.raises(DataError, match=r"2 sheets hold data \('Pupils', 'Attendance'\)"):
        read_raw(two)
    one = tmp_path / "one.xlsx"
    with pd.ExcelWriter(one) as book:
        pd.DataFrame().to_excel(book, sheet_name="Cover", index=False)
        st.to_excel(book, sheet_name="Pupils", index=False)
    assert read_raw(one).n_rows == len(st)


def test_a_workbook_unpacking_past_the_limit_is_refused(tmp_path: Path, monkeypatch) -> None:
    from srmsim.data import readers

    st, _ = fake_export(n_students=6, n_weeks=1)
    path = tmp_path / "big.xlsx"
    st.to_excel(path, index=False)
    monkeypatch.setattr(readers, "MAX_EXCEL_BYTES", 1000)
    with pytest.raises(DataError, match="unpacks to .* export the sheet as CSV or Parquet"):
        readers.read_raw(path)
    (tmp_path / "fake.xlsx").write_bytes(b"PK not really a zip")
    with pytest.raises(DataError, match="not a readable Excel file"):
        readers.read_raw(tmp_path / "fake.xlsx")


def test_reference_date_needed_with_dates_of_birth(tmp_path: Path) -> None:
    st, ob = fake_export()
    mp = mapping()
    del mp["reference_date"]
    with pytest.raises(MappingError, match="reference_date"):
        run(tmp_path, st, ob, mp)


def test_period_is_derived_from_week_start_dates(tmp_path: Path) -> None:
    st, ob = fake_export(n_students=4, n_weeks=3)
    starts = {"1": "02/09/2024", "2": "09/09/2024", "3": "30/09/2024"}  # a 2-week gap
    ob["Week Start"] = ob["Week"].map(starts)
    ob = ob.drop(columns=["Week"])
    mp = mapping()
    mp["observations"]["columns"].pop("Week")
    mp["observations"]["columns"]["Week Start"] = "period_start"
    mp["observations"]["date_formats"] = {"period_start": "%d/%m/%Y"}
    res, _ = run(tmp_path, st, ob, mp)
    assert res.ok
    assert sorted(res.observations["period"].unique()) == [1, 2, 5]
    assert res.summary["period_origin"] == {"week": "2024-09-02"}
    # the printed note: plain words, not the dict's repr "{'week': '2024-09-02'}"
    (note,) = [n for n in res.summary["notes"] if "period" in n]
    assert note == "period numbered from period_start: week 1 starts 2024-09-02"


def test_random_corruption_every_bad_row_rejected_nothing_vanishes(tmp_path: Path) -> None:
    st, ob = fake_export(seed=11, n_students=200, n_weeks=3)
    rng = np.random.default_rng(5)
    bad_rows = rng.choice(len(ob), 40, replace=False)
    kinds = rng.integers(0, 4, 40)
    for r, k in zip(bad_rows, kinds, strict=True):
        if k == 0:
            ob.loc[r, "Att"] = "12"
        elif k == 1:
            ob.loc[r, "Poss"] = "ten"
        elif k == 2:
            ob.loc[r, "Mood"] = "0"
        else:
            ob.loc[r, "Pupil Ref"] = "NOBODY"
    res, _ = run(tmp_path, st, ob)
    rej = res.rejects[res.rejects["table"] == "observations"]
    assert set(rej["row"]) == set((bad_rows + 2).tolist())
    assert res.summary["tables"]["observations"]["rejected"] == 40
    assert len(res.observations) == len(ob) - 40


@pytest.mark.once
def test_large_export_is_vectorised(tmp_path: Path) -> None:
    """120,000 observation rows validate in one pass (no timing asserted, only the counts)."""
    n, weeks = 4000, 30
    rng = np.random.default_rng(2)
    st = pd.DataFrame({"student_id": [f"S{i}" for i in range(n)],
                       "school": rng.choice(["A", "B", "C"], n),
                       "year_group": rng.integers(7, 12, n), "age_months": 150})
    ob = pd.DataFrame({"student_id": np.repeat(st["student_id"], weeks).to_numpy(),
                       "school": np.repeat(st["school"], weeks).to_numpy(),
                       "period_type": "week", "period": np.tile(np.arange(1, weeks + 1), n),
                       "sessions_possible": 10,
                       "sessions_attended": rng.integers(0, 11, n * weeks)})
    ob.loc[777, "sessions_attended"] = 11
    res = validate_frames(st, ob)
    assert res.rows_read == n + n * weeks
    assert res.rejected == 1 and res.rejects.iloc[0]["row"] == 779


def test_mapping_errors_name_the_file_and_key(tmp_path: Path) -> None:
    bad = mapping()
    bad["students"]["columns"]["Gender"] = "gender"
    bad["students"]["values"]["fsm"] = {True: True}
    bad["observations"]["date_formats"] = {"sessions_possible": "%d"}
    bad["colour"] = "blue"
    bad["encoding"] = "klingon-8"
    with pytest.raises(MappingError) as err:
        parse_mapping(bad, source="trust.yaml")
    text = str(err.value)
    assert "trust.yaml" in text
    assert 'students.columns."Gender": unknown students field \'gender\'' in text
    assert "students.values.fsm.True" in text and "quote it" in text
    assert "observations.date_formats.sessions_possible" in text
    assert "colour: unknown key" in text and "unknown encoding 'klingon-8'" in text
    assert isinstance(err.value, SrmsimError) and err.value.exit_code == 2


@pytest.mark.parametrize("school", ["../x", "a/b", "/etc/passwd", ".", "..", "", " ",
                                    "C:\\x", "NOR\nTH", "a b", -5, 1.5])
def test_mapping_school_ids_must_be_labels(school: object) -> None:
    """School ids may become file or folder names: one that looks like a path (or is empty,
    or holds a control character) is refused with the key named."""
    bad = mapping()
    bad["schools"] = ["NORTH", school]
    with pytest.raises(MappingError, match=r"schools\[1\].*must be a name"):
        parse_mapping(bad, source="trust.yaml")
    good = mapping()
    good["schools"] = ["NORTH", 123456, "St.Marys-2"]
    assert parse_mapping(good).schools == ["NORTH", "123456", "St.Marys-2"]


def test_mapping_file_problems(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="file not found"):
        load_mapping(tmp_path / "nope.yaml")
    p = tmp_path / "m.yaml"
    p.write_text("students: [1, 2\n")
    # where the '[' opened, not the end of the file where PyYAML noticed it
    with pytest.raises(MappingError, match=r"malformed YAML: line 1, column 11: a '\[' opened "
                                           "here is not closed"):
        load_mapping(p)


def test_files_are_assigned_to_tables_by_pattern(tmp_path: Path) -> None:
    from srmsim.data import assign_tables

    m = parse_mapping(mapping())
    out = assign_tables([tmp_path / "Trust_PUPILS_2024.csv", tmp_path / "weekly.csv"], m)
    assert [p.name for p in out["students"]] == ["Trust_PUPILS_2024.csv"]
    (tmp_path / "other.csv").write_text("a\n", encoding="utf-8")
    with pytest.raises(DataError, match="matches no 'files' pattern"):
        assign_tables([tmp_path / "other.csv"], m)
    with pytest.raises(DataError, match="others.csv: file not found"):  # a typo: said so
        assign_tables([tmp_path / "others.csv"], m)
    with pytest.raises(DataError, match="given twice"):
        assign_tables([tmp_path / "weekly.csv"], m, observations=[tmp_path / "weekly.csv"])


def test_two_columns_mapping_to_one_field_reject_the_file(tmp_path: Path) -> None:
    st, ob = fake_export(n_students=5, n_weeks=1)
    st.insert(3, "nc year ", st["NC Year"])  # the same column name, once spaces/case go
    res, _ = run(tmp_path, st, ob)
    r = only(res, "duplicate_column").iloc[0]
    assert pd.isna(r["row"]) and r["field"] == "year_group" and "every row of the file" in r["message"]
    assert res.summary["tables"]["students"]["accepted"] == 0


def test_observations_only_are_validated_with_a_note(tmp_path: Path) -> None:
    st, ob = fake_export(n_students=5, n_weeks=2)
    res, _ = run(tmp_path, None, ob)
    assert res.ok and res.accepted == 10
    assert "observations were not checked against students" in " ".join(res.summary["notes"])


def test_utf16_file_declared_as_utf8_is_a_clear_error(tmp_path: Path) -> None:
    st, ob = fake_export(n_students=5, n_weeks=1)
    paths = write_export(tmp_path, st, ob)
    paths["students"].write_bytes(st.to_csv(index=False).encode("utf-16"))
    with pytest.raises(DataError, match="UTF-16 text .*byte-order mark.*not UTF-8"):
        validate_files({"students": [paths["students"]]}, load_mapping(paths["mapping"]))
    mp = mapping()
    mp["encoding"] = "utf-16"
    res, _ = run(tmp_path, st, ob, mp, encoding="utf-16")
    assert res.ok


def test_a_file_in_another_encoding_than_declared_utf16_is_reported(tmp_path: Path) -> None:
    """A UTF-8 file declared UTF-16 was an IndexError traceback: bad bytes were placed on lines
    counted in the bytes, where 0x0A is no line end in UTF-16. Lines are counted in the decoded
    text; a corrupt UTF-16 file names the right row and byte."""
    st, ob = fake_export(n_students=5, n_weeks=1)
    mp = mapping()
    mp["encoding"] = "utf-16"
    paths = write_export(tmp_path, st, ob, mp)  # written as UTF-8: refused whole, so named
    with pytest.raises(DataError, match="the file is not utf-16 .*most likely UTF-8"):
        validate_files({"students": [paths["students"]]}, load_mapping(paths["mapping"]))
    data = st.to_csv(index=False).encode("utf-16")
    cut_at = data.index("Girl".encode("utf-16-le"), data.index(b"\n\x00") + 2)
    paths["students"].write_bytes(data[:cut_at] + b"\x00\xd8" + data[cut_at:])  # lone surrogate
    res = validate_files({"students": [paths["students"]]}, load_mapping(paths["mapping"]))
    bad = only(res, "bad_encoding").iloc[0]
    assert bad["row"] == 2 and f"byte offset {cut_at} (line 2)" in bad["message"]
    assert res.rejected == 1 and res.accepted == 4


def test_excel_duplicate_header_and_na_words_read_like_csv(tmp_path: Path) -> None:
    """pandas renamed a second 'school' column to 'school.1' (silently ignored) and turned
    'null' / 'nan' cells into missing values whatever the mapping's missing_values said."""
    openpyxl = pytest.importorskip("openpyxl")
    from srmsim.data.readers import read_raw

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["student_id", "school", "year_group", "age_months", "sex", "school"])
    sheet.append(["A1", "S1", 7, 140, "F", "S2"])
    sheet.append(["A2", "S1", 7, 141, "null", "S2"])
    path = tmp_path / "pupils.xlsx"
    book.save(path)
    raw = read_raw(path)
    assert raw.header == ["student_id", "school", "year_group", "age_months", "sex", "school"]
    assert raw.frame[4].tolist() == ["F", "null"]
    assert raw.rows.tolist() == [2, 3]
    res = validate_files({"students": [path]}, parse_mapping({}))
    assert only(res, "duplicate_column")["column"].tolist() == ["school"]
    assert res.accepted == 0


def test_a_nul_byte_in_a_cell_rejects_the_row(tmp_path: Path) -> None:
    """A NUL inside a data cell used to pass into the dataset (school 'S\\x001')."""
    path = tmp_path / "pupils.csv"
    path.write_bytes(b"student_id,school,year_group,age_months\n"
                     b"A1,S\x001,7,140\nA2,S1,7,141\n")
    res = validate_files({"students": [path]}, parse_mapping({}))
    got = only(res, "bad_encoding")
    assert got[["row", "column", "value"]].values.tolist() == [[2, "school", "S\\x001"]]
    assert res.students["student_id"].tolist() == ["A2"]


@pytest.mark.parametrize("value", [None, "", "  ", True, ["a"], {"a": 1}])
def test_a_text_field_recoded_to_nothing_is_refused(value) -> None:
    """`values: {school: {S1: null}}` imported the school as the text 'None', and '' as an
    empty required id."""
    with pytest.raises(MappingError, match=r"students\.values\.school\.S1: .* must be a text"):
        parse_mapping({"students": {"values": {"school": {"S1": value}}}})


def test_a_text_field_recoded_to_a_number_or_padded_text(tmp_path: Path) -> None:
    path = tmp_path / "pupils.csv"
    path.write_text("student_id,school,year_group,age_months\nA1,S1,7,140\nA2,S2,7,141\n")
    mp = parse_mapping({"students": {"values": {"school": {"S1": 1001, "S2": " NFD "}}}})
    res = validate_files({"students": [path]}, mp)
    assert res.students["school"].tolist() == ["1001", "NFD"]


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_constant_is_refused(value: str) -> None:
    """`constants: {school: ""}` gave every pupil an empty (required) school id."""
    with pytest.raises(MappingError, match=r"students\.constants\.school: must not be empty"):
        parse_mapping({"students": {"constants": {"school": value}}})


@pytest.mark.parametrize(("field", "value", "says"), [
    ("sex", "Female", "sex must be one of"),
    ("year_group", "seven", "year_group must be a whole number"),
    ("year_group", "15", "year_group must be"),
    ("fsm", "perhaps", "fsm must be one of"),
])
def test_a_constant_its_field_cannot_hold_is_a_mapping_error(tmp_path: Path, field: str,
                                                             value: str, says: str) -> None:
    """`constants: {sex: Female}` (not a category) rejected every row of the file, each with
    the cell's message; it is the mapping's mistake, named at its key before a file is read."""
    st, ob = fake_export()
    mp = mapping()
    source = mp["students"]["columns"]
    for src in [s for s, f in source.items() if f == field]:
        del source[src]
    mp["students"]["constants"] = {field: value}
    paths = write_export(tmp_path, st, ob, mp)
    with pytest.raises(MappingError) as err:
        validate_files({"students": [paths["students"]]}, load_mapping(paths["mapping"]))
    text = str(err.value)
    assert f"students.constants.{field}: '{value}': {says}" in text
    assert str(paths["mapping"]) in text


def test_a_constant_recoded_under_values_or_valid_is_used(tmp_path: Path) -> None:
    path = tmp_path / "pupils.csv"
    path.write_text("student_id,school,age_months\nA1,S1,140\nA2,S2,141\n")
    mp = parse_mapping({"students": {"constants": {"sex": "Girl", "year_group": "8"},
                                     "values": {"sex": {"Girl": "F"}}}})
    res = validate_files({"students": [path]}, mp)
    assert res.rejected == 0
    assert res.students["sex"].tolist() == ["F", "F"]
    assert res.students["year_group"].tolist() == [8, 8]


def test_iso_dates_with_a_time_after_t_or_a_space_are_read(tmp_path: Path) -> None:
    """"2013-02-01T10:30:00" was read and "2013-02-01 10:30" (an SQL export's date-time)
    rejected as not a date: every ISO form gives the day, the time dropped."""
    path = tmp_path / "pupils.csv"
    forms = ["2013-02-01", "2013-02-01T10:30", "2013-02-01 10:30", "2013-02-01 10:30:00",
             "2013-02-01T23:59:59", "2013-02-01T10:30:00Z", "01/02/2013"]
    rows = "".join(f"A{i},S1,7,{v}\n" for i, v in enumerate(forms))
    path.write_text("student_id,school,year_group,date_of_birth\n" + rows)
    mp = parse_mapping({"reference_date": "2024-09-01"})
    res = validate_files({"students": [path]}, mp)
    assert res.students["student_id"].tolist() == [f"A{i}" for i in range(5)]
    assert res.students["age_months"].nunique() == 1  # all the same day
    assert sorted(res.rejects["row"].tolist()) == [7, 8]  # a zone, a UK date without a format


def test_a_comma_at_the_end_of_each_data_row_is_not_a_cell(tmp_path: Path) -> None:
    """Rows ending with a comma the header does not end with were each rejected as "5 cells
    but the header has 4"; an empty last cell holds nothing. One holding a value, or two
    cells too many, are still rejected."""
    path = tmp_path / "pupils.csv"
    path.write_text("student_id,school,year_group,age_months\nA1,S1,7,140,\nA2,S1,7,141, \n"
                    "A3,S1,7,142,x\nA4,S1,7,143,,\nA5,S1,7,144\n")
    res = validate_files({"students": [path]}, parse_mapping({}))
    assert res.students["student_id"].tolist() == ["A1", "A2", "A5"]
    assert res.rejects["row"].tolist() == [4, 5]
    assert set(res.rejects["rule"]) == {"wrong_field_count"}
