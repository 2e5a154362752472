"""Mutation review of the real-data import checks (srmsim.data.validate, mapping and readers):
the rules that accept or reject a school's export row by row, the reject report (file, row,
field, value, rule) and the mapping file's checks. Each test here kills mutations of those
decisions that the other import test files let survive; every expected row number, age and
period is worked out by hand from the CSV text written in the test.

Mutations tried: 56 (validate 37, mapping 11, readers 8), each alone, against
tests/test_data_validate.py, test_data_import.py, test_import_messy_review.py,
test_import_surprises_review.py, test_realdata_review.py and test_yaml_csv_surprises_review.py
(-x, -n 0). Killed by those: 25. Survived: 31, of which 30 are killed by the tests below and 1
is equivalent; survivors left: 0. No defect was found.

Survivors killed here: range limits (age_months 36/300 and a date of birth at both limits,
14 weekly sessions, 2**53 exactly), a fraction in a whole-number field, '1e400' read as
infinity, the completed-month rule of an age, the period-as-given key and the period-type
requirement of the duplicate check, times of day on a period start, the ten-row listing of
copies and its file names, terms numbered from 1 and weeks from the earliest start, counts per
rule by row, the report's "... and N more", a given age kept beside a date of birth, one report
for a huge value past a maximum, no input files, a short row of empty cells being blank, the
row number of a NUL byte below a blank line, an empty cell under custom missing_values, and the
mapping's checks (duplicate school ids, true as a school id, two columns alike but for case, a
duplicate source value, whole floats as integer text, an encoding that is not text, a bad date
format). A few tests also pin limits the other files already guard (attended == possible,
on_time == set, the empty school, recoded values in any case, a file given twice, a repeated
header in another case), so each rule is tested at its limit in one place.

Equivalent mutants, and why:
- ``max(by_rule.get(rule, 0), n)`` -> ``n`` (file-level rules per file): the file-level rules
  (missing_required_column, duplicate_column) are never reported on a row, so the row-level
  count they are compared with is 0, and a second file-level fault of the same rule has the
  same n (every row of the file).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from srmsim.data import parse_mapping, validate_files
from srmsim.data.mapping import MappingError

ST_HEAD = "student_id,school,year_group,age_months"
OB_HEAD = "student_id,school,period_type,period,sessions_possible,sessions_attended"


def _check(tmp_path: Path, students: str, observations: str | None = None,
           mapping: dict | None = None):
    """Validate CSV text written to students.csv (and observations.csv) under ``mapping``."""
    st = tmp_path / "students.csv"
    st.write_text(students, encoding="utf-8")
    files = {"students": [st]}
    if observations is not None:
        ob = tmp_path / "observations.csv"
        ob.write_text(observations, encoding="utf-8")
        files["observations"] = [ob]
    res = validate_files(files, parse_mapping(mapping or {}, source="m.yaml"))
    assert res.rows_read == res.accepted + res.rejected  # nothing vanishes
    return res


def _rejects(res, rule: str) -> list[tuple]:
    """(file name, row, field, value) of each reject under ``rule``."""
    got = res.rejects[res.rejects["rule"] == rule]
    return [(Path(f).name, None if pd.isna(r) else int(r), fl, v)
            for f, r, fl, v in zip(got["file"], got["row"], got["field"], got["value"],
                                   strict=True)]


def _students(*rows: str) -> str:
    return "\n".join([ST_HEAD, *rows]) + "\n"


# ------------------------------------------------------------------ numbers at their limits
def test_whole_number_at_2_to_53_is_refused_and_just_below_it_is_range_checked(tmp_path):
    """A count of exactly 2**53 is no longer exact (2**53 + 1 reads as it): refused with
    out_of_range naming the row; 2**53 - 1 passes the size check and meets the field's range."""
    obs = "\n".join([
        "student_id,school,period_type,period,sessions_possible,sessions_attended,incidents",
        "A1,S,week,1,10,8,9007199254740992",
        "A1,S,week,2,10,8,9007199254740991",
        "A1,S,week,3,10,8,0"]) + "\n"
    res = _check(tmp_path, _students("A1,S,7,140"), obs)
    assert _rejects(res, "out_of_range") == [
        ("observations.csv", 2, "incidents", "9007199254740992")]
    assert "2**53" in res.rejects["message"].iloc[0]
    assert len(res.observations) == 2


def test_a_fraction_in_a_whole_number_field_is_wrong_type(tmp_path):
    """7.5 in year_group is not a year group (it was rounded to 8 and accepted)."""
    res = _check(tmp_path, _students("A1,S,7.5,140", "A2,S,7.0,140"))
    assert _rejects(res, "wrong_type") == [("students.csv", 2, "year_group", "7.5")]
    assert list(res.students["student_id"]) == ["A2"]
    assert res.students["year_group"].tolist() == [7]


def test_fourteen_sessions_in_a_week_accepted_fifteen_rejected(tmp_path):
    obs = OB_HEAD + "\nA1,S,week,1,14,14\nA1,S,week,2,15,15\nA1,S,term,1,15,15\n"
    res = _check(tmp_path, _students("A1,S,7,140"), obs)
    assert _rejects(res, "out_of_range") == [("observations.csv", 3, "sessions_possible", "15")]
    assert sorted(res.observations["period"].tolist()) == [1, 1]


def test_attended_equal_to_possible_and_on_time_equal_to_set_are_accepted(tmp_path):
    obs = ("student_id,school,period_type,period,sessions_possible,sessions_attended,"
           "assignments_set,assignments_on_time\n"
           "A1,S,week,1,10,10,4,4\nA1,S,week,2,10,11,4,4\nA1,S,week,3,10,10,4,5\n")
    res = _check(tmp_path, _students("A1,S,7,140"), obs)
    assert _rejects(res, "attended_exceeds_possible") == [
        ("observations.csv", 3, "sessions_attended", "11")]
    assert _rejects(res, "on_time_exceeds_set") == [
        ("observations.csv", 4, "assignments_on_time", "5")]
    assert res.observations["period"].tolist() == [1]


# ------------------------------------------------------------------ ages at their limits
def test_age_months_at_both_limits_accepted_one_past_rejected(tmp_path):
    res = _check(tmp_path, _students("A1,S,1,36", "A2,S,13,300", "A3,S,1,35", "A4,S,13,301"))
    assert _rejects(res, "impossible_age") == [
        ("students.csv", 4, "age_months", "35"), ("students.csv", 5, "age_months", "301")]
    assert sorted(res.students["student_id"]) == ["A1", "A2"]


def test_age_from_date_of_birth_at_both_limits(tmp_path):
    """At 2024-09-01 a pupil born 2021-09-01 is 36 months (accepted), one born 2021-09-02 is
    35 (rejected: the 36th month completes on the 2nd); born 1999-09-01 or 1999-08-02 is 300
    months (accepted), 1999-08-01 is 301 (rejected)."""
    csv = ("student_id,school,year_group,date_of_birth\n"
           "A1,S,1,2021-09-01\nA2,S,1,2021-09-02\nA3,S,13,1999-09-01\nA4,S,13,1999-08-01\n"
           "A5,S,13,1999-08-02\n")
    res = _check(tmp_path, csv, mapping={"reference_date": "2024-09-01"})
    assert _rejects(res, "impossible_age") == [
        ("students.csv", 3, "date_of_birth", "2021-09-02"),
        ("students.csv", 5, "date_of_birth", "1999-08-01")]
    ages = dict(zip(res.students["student_id"], res.students["age_months"], strict=True))
    assert ages == {"A1": 36, "A3": 300, "A5": 300}


def test_a_number_too_large_for_a_float_is_wrong_type_not_infinity(tmp_path):
    """'1e400' matches the number pattern but reads as infinity: it must be refused as not a
    number, never imported as inf (nor reported as merely out of range); a finite 1e300 is
    out of assessment_score's range (within +-1,000,000)."""
    obs = OB_HEAD + ",assessment_score\nA1,S,week,1,10,8,1e400\nA1,S,week,2,10,8,-1e400\n" \
        "A1,S,week,3,10,8,1e300\n"
    res = _check(tmp_path, _students("A1,S,7,140"), obs)
    assert _rejects(res, "wrong_type") == [
        ("observations.csv", 2, "assessment_score", "1e400"),
        ("observations.csv", 3, "assessment_score", "-1e400")]
    assert _rejects(res, "out_of_range") == [
        ("observations.csv", 4, "assessment_score", "1e300")]
    assert res.observations["assessment_score"].tolist() == []


# ------------------------------------------------------------------ duplicates: every copy
def test_every_copy_of_a_duplicate_student_is_rejected_and_listed(tmp_path):
    res = _check(tmp_path, _students("A1,S,7,140", "B2,S,7,140", "A1,S,8,150"))
    assert _rejects(res, "duplicate_student_id") == [
        ("students.csv", 2, "student_id", "A1"), ("students.csv", 4, "student_id", "A1")]
    msgs = set(res.rejects["message"])
    assert msgs == {"student_id appears 2 times (rows 2, 4 of students.csv)"}
    assert res.students["student_id"].tolist() == ["B2"]


def test_every_copy_of_a_duplicate_observation_is_rejected(tmp_path):
    obs = OB_HEAD + "\nA1,S,week,1,10,8\nA1,S,week,1,10,9\nA1,S,term,1,10,9\n"
    res = _check(tmp_path, _students("A1,S,7,140"), obs)
    assert [r[:3] for r in _rejects(res, "duplicate_observation")] == [
        ("observations.csv", 2, "student_id"), ("observations.csv", 3, "student_id")]
    assert "week 1 (rows 2, 3 of observations.csv)" in res.rejects["message"].iloc[0]
    assert res.observations["period_type"].tolist() == ["term"]


def test_a_listing_of_copies_shows_ten_rows_then_an_ellipsis(tmp_path):
    rows = [f"A1,S,7,{140 + i}" for i in range(11)]
    res = _check(tmp_path, _students(*rows))
    assert set(res.rejects["message"]) == {
        "student_id appears 11 times (rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 ... of students.csv)"}
    res = _check(tmp_path, _students(*rows[:10]))
    assert set(res.rejects["message"]) == {
        "student_id appears 10 times (rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 of students.csv)"}


def test_a_period_given_as_a_number_and_one_as_a_date_are_not_duplicates(tmp_path):
    """Two rows for week 1, one by number and one by start date, are keyed by the period as
    given; a row with a number and a date is keyed by its number only."""
    obs = ("student_id,school,period_type,period,period_start,sessions_possible,"
           "sessions_attended\n"
           "A1,S,week,1,2024-09-02,10,8\nA1,S,week,1,2024-09-09,10,8\n"
           "A1,S,week,,2024-09-16,10,8\nA1,S,week,,2024-09-16,10,7\n")
    res = _check(tmp_path, _students("A1,S,7,140"), obs)
    assert [r[1] for r in _rejects(res, "duplicate_observation")] == [2, 3, 4, 5]
    assert "week 1 (rows 2, 3 of observations.csv)" in res.rejects["message"].iloc[0]
    assert "week starting 2024-09-16, numbered 3 (rows 4, 5" in res.rejects["message"].iloc[2]


def test_a_row_with_a_missing_period_type_is_not_a_duplicate(tmp_path):
    """Rows whose period type is empty are rejected for that, not also as copies of each
    other (two reasons for one fault)."""
    obs = OB_HEAD + "\nA1,S,,1,10,8\nA1,S,,1,10,8\n"
    res = _check(tmp_path, _students("A1,S,7,140"), obs)
    assert sorted(set(res.rejects["rule"])) == ["missing_value"]
    assert _rejects(res, "missing_value") == [("observations.csv", 2, "period_type", ""),
                                              ("observations.csv", 3, "period_type", "")]


def test_times_of_day_on_period_starts_do_not_make_two_periods(tmp_path):
    """'2024-09-02T08:00:00' and '2024-09-02T13:00:00' start the same week: a duplicate."""
    obs = ("student_id,school,period_type,period_start,sessions_possible,sessions_attended\n"
           "A1,S,week,2024-09-02T08:00:00,10,8\nA1,S,week,2024-09-02T13:00:00,10,8\n"
           "A1,S,week,2024-09-09T08:00:00,10,8\n")
    res = _check(tmp_path, _students("A1,S,7,140"), obs)
    assert [r[1] for r in _rejects(res, "duplicate_observation")] == [2, 3]
    assert res.observations["period_start"].tolist() == [pd.Timestamp("2024-09-09")]


# ------------------------------------------------------------------ periods from start dates
def test_weeks_and_terms_numbered_from_one(tmp_path):
    obs = ("student_id,school,period_type,period_start,sessions_possible,sessions_attended\n"
           "A1,S,week,2024-09-02,10,8\nA1,S,week,2024-09-16,10,8\nA2,S,week,2024-09-04,10,8\n"
           "A1,S,term,2025-01-06,100,80\nA1,S,term,2024-09-02,100,80\n")
    res = _check(tmp_path, _students("A1,S,7,140", "A2,S,7,140"), obs)
    got = res.observations.set_index(res.observations["period_start"].dt.strftime("%m-%d")
                                     + res.observations["period_type"])["period"].to_dict()
    # 2024-09-04 is two days into week 1; 09-16 is two weeks after 09-02: week 3
    assert got == {"09-02week": 1, "09-16week": 3, "09-04week": 1, "01-06term": 2,
                   "09-02term": 1}
    assert res.summary["period_origin"] == {"week": "2024-09-02", "term": "2024-09-02"}


def test_weeks_are_calendar_weeks_from_the_monday_of_the_first(tmp_path):
    """A term starting on a Wednesday (4 September 2024) and the Monday after it were weeks
    1 and 1 (days counted from the Wednesday), every later week one too low, and the dataset
    written was refused by its own reader as holding a duplicate; now weeks 1, 2, 3."""
    obs = ("student_id,school,period_type,period_start,sessions_possible,sessions_attended\n"
           "A1,S,week,2024-09-04,6,6\nA1,S,week,2024-09-09,10,2\nA1,S,week,2024-09-16,10,10\n")
    res = _check(tmp_path, _students("A1,S,7,140"), obs)
    assert not len(res.rejects)
    assert res.observations["period"].tolist() == [1, 2, 3]
    assert res.summary["period_origin"] == {"week": "2024-09-02"}  # that week's Monday


@pytest.mark.parametrize("rows", [
    "A1,S,week,,2024-09-02,10,8\nA1,S,week,,2024-09-04,10,8\n",  # two dates of one week
    "A1,S,week,1,,10,8\nA1,S,week,,2024-09-03,10,8\n",  # a number and a date of week 1
])
def test_rows_of_one_week_are_duplicates_however_the_week_is_given(tmp_path, rows):
    obs = ("student_id,school,period_type,period,period_start,sessions_possible,"
           "sessions_attended\n" + rows)
    res = _check(tmp_path, _students("A1,S,7,140"), obs)
    assert [r[1] for r in _rejects(res, "duplicate_observation")] == [2, 3]
    assert "(rows 2, 3 of observations.csv)" in res.rejects["message"].iloc[0]


# ------------------------------------------------------------------ counts and the report
def test_by_rule_counts_rows_not_violations(tmp_path):
    """A row out of range in two fields is one row rejected for out_of_range, not two."""
    res = _check(tmp_path, _students("A1,S,14,140", "A2,S,7,140"),
                 OB_HEAD + ",satisfaction\nA1,S,week,1,500,500,9\nA2,S,week,1,10,8,3\n")
    assert [r[:3] for r in _rejects(res, "out_of_range")] == [
        ("students.csv", 2, "year_group"), ("observations.csv", 2, "sessions_possible"),
        ("observations.csv", 2, "sessions_attended"), ("observations.csv", 2, "satisfaction")]
    f_obs = [f for f in res.summary["files"] if f["table"] == "observations"][0]
    assert f_obs["by_rule"]["out_of_range"] == 1
    assert res.summary["by_rule"]["out_of_range"] == 2


def test_report_with_exactly_the_shown_number_of_rejects_says_no_more(tmp_path):
    from srmsim.data import format_report

    res = _check(tmp_path, _students("A1,S,14,140", "A2,S,15,140", "A3,S,7,140"))
    assert len(res.rejects) == 2
    text = format_report(res, max_rejects=2)
    assert "more (see rejects.csv)" not in text
    assert "students.csv:2 year_group '14' -- out_of_range" in text
    assert "students.csv:3 year_group '15' -- out_of_range" in text
    # how many more is not said when few (2 rejects: a small count of pupils)
    assert "... and more (see rejects.csv)" in format_report(res, max_rejects=1)


def test_an_empty_school_is_missing_not_also_unknown(tmp_path):
    res = _check(tmp_path, _students("A1,,7,140", "A2,S,7,140", "A3,T,7,140"),
                 mapping={"schools": ["S"]})
    assert _rejects(res, "missing_value") == [("students.csv", 2, "school", "")]
    assert _rejects(res, "unknown_school") == [("students.csv", 4, "school", "T")]


def test_a_recoded_id_or_number_matches_in_any_case(tmp_path):
    """values: {year_group: {Y7: 7}} reads 'y7' too, as categories do."""
    res = _check(tmp_path, _students("A1,S,y7,140", "A2,S,Y7,140", "A3,S,Y8,140"),
                 mapping={"students": {"values": {"year_group": {"Y7": "7"},
                                                  "school": {"north": "N"}}}})
    assert _rejects(res, "wrong_type") == [("students.csv", 4, "year_group", "Y8")]
    assert res.students["year_group"].tolist() == [7, 7]
    res = _check(tmp_path, _students("A1,North,7,140"),
                 mapping={"students": {"values": {"school": {"north": "N"}}}})
    assert res.students["school"].tolist() == ["N"]


def test_an_observation_of_an_unknown_student_is_not_said_to_be_rejected(tmp_path):
    res = _check(tmp_path, _students("A1,S,7,140", "A1,S,7,141"),
                 OB_HEAD + "\nA1,S,week,1,10,8\nZ9,S,week,1,10,8\n")
    got = res.rejects[res.rejects["rule"] == "unknown_student"]
    assert dict(zip(got["value"], got["message"], strict=True)) == {
        "A1": "this student's row in the students table was rejected",
        "Z9": "student_id is not in the students table"}


def test_frames_rows_are_numbered_as_in_a_file(tmp_path):
    """validate_frames numbers the first row 2, as a file's first data row (header = 1)."""
    from srmsim.data import validate_frames

    st = pd.DataFrame({"student_id": ["A1", "A2"], "school": ["S", "S"], "year_group": [7, 14],
                       "age_months": [140, 140]})
    res = validate_frames(st)
    assert res.rejects[["row", "field", "rule"]].values.tolist() == [
        [3, "year_group", "out_of_range"]]


# ------------------------------------------------------------------ the mapping file
@pytest.mark.parametrize(("raw", "key", "words"), [
    ({"schools": ["S1", "S2", " S1"]}, "schools", "twice"),
    ({"schools": ["S1", True]}, "schools[1]", "true/false"),
    ({"students": {"columns": {"Pupil Ref": "student_id", "pupil  REF": "upn"}}},
     'students.columns."pupil  REF"', "same column"),
    ({"students": {"values": {"prior_attainment": {"high": ".inf"}}}},
     "students.values.prior_attainment.high", "finite number"),
    ({"students": {"values": {"prior_attainment": {"high": float("nan")}}}},
     "students.values.prior_attainment.high", "finite number"),
    ({"students": {"values": {"fsm": {True: True}}}}, "students.values.fsm.True", "quote it"),
    ({"students": {"constants": {"school": "  "}}}, "students.constants.school", "not be empty"),
    ({"students": {"values": {"sex": {"Girl": "F", "GIRL": "F"}}}},
     "students.values.sex.GIRL", "same source value"),
])
def test_mapping_mistakes_name_the_key(raw, key, words):
    with pytest.raises(MappingError) as err:
        parse_mapping(raw, source="m.yaml")
    text = str(err.value)
    assert "m.yaml" in text and key in text and words in text


def test_a_whole_float_in_a_mapping_is_the_integer_text():
    """A constant or value given as 10.0 (a YAML float) is the id '10', not '10.0'."""
    m = parse_mapping({"students": {"constants": {"school": 10.0},
                                    "values": {"year_group": {7.0: 7}}}})
    assert m.tables["students"].constants == {"school": "10"}
    assert m.tables["students"].values == {"year_group": {"7": 7}}


# ------------------------------------------------------------------ what the readers report
def test_rows_keep_their_file_numbers_after_a_blank_row(tmp_path):
    """A NUL byte and a ragged row below a blank line are reported at their own line."""
    csv = ST_HEAD + "\nA1,S,7,140\n,,,\nA2,S\x001,7,140\nA3,S,7\nA4,S,7,140\n"
    res = _check(tmp_path, csv)
    assert _rejects(res, "bad_encoding") == [("students.csv", 4, "school", "S\\x001")]
    assert [r[:2] for r in _rejects(res, "wrong_field_count")] == [("students.csv", 5)]
    assert res.summary["files"][0]["blank_rows_skipped"] == 1
    assert res.students["student_id"].tolist() == ["A1", "A4"]


def test_an_undecodable_byte_is_reported_at_its_row(tmp_path):
    st = tmp_path / "students.csv"
    st.write_bytes((ST_HEAD + "\nA1,S,7,140\nA2,S\xe9,7,140\n").encode("latin-1"))
    res = validate_files({"students": [st]}, parse_mapping({}))
    assert _rejects(res, "bad_encoding") == [("students.csv", 3, "school", "S\\xe9")]
    assert res.students["student_id"].tolist() == ["A1"]


def test_a_row_with_one_cell_equal_to_a_column_name_is_data(tmp_path):
    """Only a row equal to the header in every cell is a repeated header; 'school' as a
    student id is a value (wrong, perhaps, but the user is told by rule, not refused whole)."""
    res = _check(tmp_path, _students("student_id,S,7,140", "A2,S,7,140"))
    assert res.rejected == 0 and res.students["student_id"].tolist() == ["student_id", "A2"]


def test_an_empty_cell_is_missing_whatever_the_missing_values(tmp_path):
    """missing_values: [NA] without '' still reads an empty cell (or spaces) as no value: an
    empty student id must never be accepted."""
    res = _check(tmp_path, _students(",S,7,140", "  ,S,7,140", "NA,S,7,140", "A4,S,7,140"),
                 mapping={"missing_values": ["NA"]})
    assert _rejects(res, "missing_value") == [
        ("students.csv", 2, "student_id", ""), ("students.csv", 3, "student_id", ""),
        ("students.csv", 4, "student_id", "")]
    assert res.students["student_id"].tolist() == ["A4"]


def test_copies_in_two_files_are_listed_by_file_name(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(_students("A1,S,7,140", "A2,S,7,140"))
    b.write_text(_students("B1,S,7,140", "A1,S,7,141"))
    res = validate_files({"students": [a, b]}, parse_mapping({}))
    assert [r[:2] for r in _rejects(res, "duplicate_student_id")] == [("a.csv", 2), ("b.csv", 3)]
    assert set(res.rejects["message"]) == {
        "student_id appears 2 times (rows 2 of a.csv; rows 3 of b.csv)"}


def test_an_unknown_student_is_not_also_at_the_wrong_school(tmp_path):
    res = _check(tmp_path, _students("A1,S,7,140"),
                 OB_HEAD + "\nZ9,T,week,1,10,8\nA1,T,week,1,10,8\n")
    assert sorted(zip(res.rejects["row"], res.rejects["rule"], strict=True)) == [
        (2, "unknown_student"), (3, "unknown_school")]
    assert "student is at school S in the students table" in set(res.rejects["message"])


def test_a_given_age_is_kept_when_a_date_of_birth_is_also_given(tmp_path):
    """age_months is derived from date_of_birth only where it is empty."""
    csv = ("student_id,school,year_group,date_of_birth,age_months\n"
           "A1,S,7,2013-01-15,140\nA2,S,7,2013-01-15,\n")
    res = _check(tmp_path, csv, mapping={"reference_date": "2024-09-01"})
    assert res.students["age_months"].tolist() == [140, 139]


def test_a_huge_count_past_a_fields_maximum_is_reported_once(tmp_path):
    obs = OB_HEAD + ",satisfaction\nA1,S,week,1,10,8,1e17\n"
    res = _check(tmp_path, _students("A1,S,7,140"), obs)
    assert _rejects(res, "out_of_range") == [("observations.csv", 2, "satisfaction", "1e17")]
    assert res.rejects["message"].tolist() == ["satisfaction must be 1 to 5"]


def test_a_file_given_twice_or_no_file_is_an_error(tmp_path):
    from srmsim.data import assign_tables
    from srmsim.errors import DataError

    st = tmp_path / "students.csv"
    st.write_text(_students("A1,S,7,140"))
    with pytest.raises(DataError, match="given twice"):
        assign_tables([], parse_mapping({}), students=[st, tmp_path / "." / "students.csv"])
    with pytest.raises(DataError, match="no input files given"):
        validate_files({"students": [], "observations": []}, parse_mapping({}))


def test_weeks_counted_from_the_earliest_week_start_even_a_numbered_one(tmp_path):
    """Week 1 is the week of the earliest start date in the import, whether that row gave its
    number or not: a row dated a week later, with no number, is week 2."""
    obs = ("student_id,school,period_type,period,period_start,sessions_possible,"
           "sessions_attended\nA1,S,week,1,2024-09-02,10,8\nA1,S,week,,2024-09-09,10,8\n")
    res = _check(tmp_path, _students("A1,S,7,140"), obs)
    assert res.observations["period"].tolist() == [1, 2]
    assert res.summary["period_origin"] == {"week": "2024-09-02"}


def test_a_repeated_header_in_another_case_is_refused(tmp_path):
    from srmsim.errors import DataError

    with pytest.raises(DataError, match="row 3 repeats the header"):
        _check(tmp_path, _students("A1,S,7,140", " STUDENT_ID ,School,Year_Group,AGE_MONTHS"))


def test_a_short_row_of_empty_cells_is_a_blank_row(tmp_path):
    """',,' in a four-column file holds nothing: skipped and counted as blank, not rejected."""
    res = _check(tmp_path, _students("A1,S,7,140", ",,", " , ", "A2,S,7"))
    assert res.summary["files"][0]["blank_rows_skipped"] == 2
    assert [r[:2] for r in _rejects(res, "wrong_field_count")] == [("students.csv", 5)]
    assert res.rows_read == 2


@pytest.mark.parametrize(("raw", "key", "words"), [
    ({"encoding": "hex"}, "encoding", "not a text encoding"),
    ({"students": {"encoding": "rot13"}}, "students.encoding", "not a text encoding"),
    ({"students": {"date_formats": {"date_of_birth": "%Q/%m"}}},
     "students.date_formats.date_of_birth", "strftime format"),
])
def test_encodings_and_date_formats_that_cannot_read_a_file_are_refused(raw, key, words):
    with pytest.raises(MappingError) as err:
        parse_mapping(raw, source="m.yaml")
    assert key in str(err.value) and words in str(err.value)


def test_file_patterns_match_in_any_case():
    m = parse_mapping({"students": {"files": ["*pupil*"]}, "observations": {"files": ["*att*"]}})
    assert m.classify("/x/PUPILS_2024.CSV") == "students"
    assert m.classify("Attendance.csv") == "observations"
