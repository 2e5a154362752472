"""Mutation review of a run's result tables and headline figures (srmsim.results: the students
table, ``absence_flags``, ``headline``, the printed summary rows), of the words and units they
are printed with (srmsim.labels) and of the school calendar (srmsim.calendar).

Mutations tried: 67 (results 44, labels 13, calendar 10), each alone. Those of results and
calendar against tests/test_engine.py, test_outputs.py, test_levels_and_integer_levers_review.py,
test_run_outputs_semantics_review.py, test_summary_json_strict_review.py, test_cli_run.py and
test_run_files.py (calendar also test_experiment_mutation_review.py); those of labels against
test_cli_run.py, test_reports_tidy.py, test_summary_json_strict_review.py,
test_privacy_figures.py and test_stats_estimators.py. Killed by those: 29 (results 19, labels
8, calendar 2). Survived: 38 (results 25, labels 5, calendar 8), of which 33 are killed by
the tests below and 5 are equivalent.
Survivors left: the 5 equivalent ones. One defect found and fixed: a mean reading gap or a
gap in points that rounds to zero printed with a minus ("-0.0 months", "-0.0 pp").

Survivors killed by the tests below include: the flags of a row past the first 65,536-row slice
compared with the first slice's attendance; 300,000,000 sessions all missed counted in 32 bits
(the existing test's "ten times it overflows" case missed only 30,000,000, which fits); the
reading gap's sign; sex codes swapped; on-time rate over sessions; the non-FSM rate over
everyone; severe absence counted from the persistent flag; staff hours in 3,600ths; median for
mean attainment; the start gap reported as the end one; the printed severe, staff-hours, cost
and percentage rows; the policy rows without a policy; a deadline met by none hidden; the
header's counts; the cut of a text of exactly the limit; given_percent's digits;
over_replications' arguments; every calendar mutant.

Equivalent mutants, and why:
- absence_flags slice of 1 << 3 rows instead of 1 << 16: the slice size is for memory only.
- ``np.nanmean`` -> ``np.mean`` in headline's mean: it is given a pandas Series, whose mean
  skips NaN either way.
- the session total without ``where=with_sessions``: a student with no session adds 0.
- the uid order check ``>`` -> ``>=``: uids are unique.
- absence_flags without promoting to at least int32: a narrower input whose tenfold could
  overflow is promoted to int64 by the overflow check anyway.

Every expected number below is worked out by hand from a students table written here row by row
(a :class:`StudentTable` of a few pupils), from the DfE definitions (persistent absence: 10% or
more of possible sessions missed; severe: 50% or more) or from the calendar's documented terms
and half-terms; none is the code under test's output pasted in.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from srmsim import calendar
from srmsim.labels import (
    agree,
    cut,
    given_percent,
    over_replications,
    percent,
    percent_level,
    percent_of_runs,
    plural,
    points,
    rounded,
)
from srmsim.results import absence_flags, format_summary, headline, student_frame, summary_rows
from srmsim.students import LEFT, WITHDRAWN, StudentTable

# uid, possible, attended, fsm: what the DfE flags are, worked out by hand
#   a 390/351  FSM   39 missed = 10.0% exactly: persistent, not severe
#   b 390/352  -     38 missed =  9.7%: neither
#   c   0/0    FSM   no session: neither, and in no denominator
#   d 390/195  -    195 missed = 50.0% exactly: persistent and severe
#   e 390/196  FSM  194 missed = 49.7%: persistent, not severe
#   f 200/200  -      0 missed: neither
#   g   0/0    -     no session
ROWS = [  # uid, possible, attended, fsm
    (17, 390, 351, True), (12, 390, 352, False), (30, 0, 0, True), (11, 390, 195, False),
    (25, 390, 196, True), (40, 200, 200, False), (19, 0, 0, False)]


def hand_table() -> StudentTable:
    """The seven pupils of ROWS, in the (unsorted) uid order above, with the other columns a
    headline reads set to values whose totals and means are easy to work out."""
    t = StudentTable(len(ROWS))
    t.uid[:] = [r[0] for r in ROWS]
    t.possible[:] = [r[1] for r in ROWS]
    t.attended[:] = [r[2] for r in ROWS]
    t.fsm[:] = [r[3] for r in ROWS]
    t.sex[:] = [0, 1, 0, 1, 0, 1, 0]
    t.age_months[:] = 140.26
    t.status[:] = 0
    t.status[1] = WITHDRAWN  # uid 12
    t.status[5] = LEFT  # uid 40 left (sat the exam): not a withdrawal
    # reading: tested reading age minus age at the test (negative = behind); uid 12 never tested
    t.reading_obs[:] = [130, np.nan, 150, 140, 120, 160, 150]
    t.reading_obs_age[:] = [140, np.nan, 146, 140, 130, 150, 147]
    t.reading_gap_start[:] = [-12, np.nan, 2, 0, -8, 6, 5]
    t.attainment[:] = [0, 0, 0, 0, 0, 0, 3.5]
    t.set_total[:] = [4, 4, 0, 8, 4, 4, 0]
    t.on_time_total[:] = [3, 4, 0, 2, 1, 4, 0]
    t.interventions[:] = [2, 0, 0, 1, 3, 0, 0]
    t.staff_minutes[:] = [90, 0, 0, 30, 120, 0, 0]
    t.cost[:] = [100, 0, 0, 250.5, 49.5, 0, 0]
    return t


# ------------------------------------------------------------------------- the students table
def test_students_table_is_in_uid_order_with_each_pupils_own_figures() -> None:
    s = student_frame(hand_table())
    assert s["uid"].tolist() == [11, 12, 17, 19, 25, 30, 40]
    row = s.set_index("uid")
    # the rows moved with their uid: sessions, flags, rates and words of each pupil
    assert row["sessions_possible"].to_dict() == {11: 390, 12: 390, 17: 390, 19: 0, 25: 390,
                                                  30: 0, 40: 200}
    assert row["persistent_absent"].to_dict() == {11: True, 12: False, 17: True, 19: False,
                                                  25: True, 30: False, 40: False}
    assert row["severe_absent"].to_dict() == {11: True, 12: False, 17: False, 19: False,
                                              25: False, 30: False, 40: False}
    assert row.loc[17, "attendance_rate"] == pytest.approx(0.9)
    assert row.loc[11, "attendance_rate"] == pytest.approx(0.5)
    # no possible session: no attendance rate (not 0% or 100%)
    assert row.loc[[19, 30], "attendance_rate"].isna().all()
    # on time: handed in on time / set (3 of 4, 2 of 8); nothing set: no rate
    assert row.loc[17, "on_time_rate"] == pytest.approx(0.75)
    assert row.loc[11, "on_time_rate"] == pytest.approx(0.25)
    assert math.isnan(row.loc[19, "on_time_rate"])
    assert row["sex"].astype(str).to_dict() == {11: "M", 12: "M", 17: "F", 19: "F", 25: "F",
                                                30: "F", 40: "M"}
    assert row["status"].astype(str).to_dict()[12] == "withdrawn"
    assert row["withdrawn"].to_dict() == {11: False, 12: True, 17: False, 19: False, 25: False,
                                          30: False, 40: False}
    # reading age 130 months at 140 months of age: 10 months behind, negative
    assert row.loc[17, "reading_gap_end"] == pytest.approx(-10)
    assert row.loc[25, "reading_gap_end"] == pytest.approx(-10)
    assert row.loc[40, "reading_gap_end"] == pytest.approx(10)
    assert math.isnan(row.loc[12, "reading_gap_end"])
    np.testing.assert_allclose(row["age_months"], 140.3, atol=1e-4)  # rounded to 0.1 month


# ------------------------------------------------------------------------------ the headline
def test_headline_is_the_count_made_by_hand_from_the_students_table() -> None:
    h = headline(student_frame(hand_table()))
    assert h["students"] == 7
    # pupils with sessions: a, b, d, e, f (c and g have none and are in no denominator)
    assert h["attendance"] == pytest.approx((351 + 352 + 195 + 196 + 200) / (4 * 390 + 200))
    assert h["persistent_absence"] == pytest.approx(3 / 5)  # a, d, e
    assert h["persistent_absence_fsm"] == pytest.approx(2 / 2)  # a, e (c: no session)
    assert h["persistent_absence_non_fsm"] == pytest.approx(1 / 3)  # d of b, d, f
    assert h["severe_absence"] == pytest.approx(1 / 5)  # d
    # means over the pupils tested (uid 12 never was)
    assert h["reading_gap_start"] == pytest.approx((-12 + 2 + 0 - 8 + 6 + 5) / 6)
    assert h["reading_gap_end"] == pytest.approx((-10 + 4 + 0 - 10 + 10 + 3) / 6)
    assert h["mean_attainment"] == pytest.approx(3.5 / 7)
    assert h["withdrawals"] == 1  # uid 12; uid 40 left, which is no withdrawal
    assert h["interventions"] == 6
    assert h["staff_hours"] == pytest.approx(240 / 60)
    assert h["cost"] == pytest.approx(400.0)


def test_headline_rates_with_no_denominator_are_missing_not_zero() -> None:
    t = hand_table()
    t.possible[t.fsm] = 0  # no FSM pupil has a session
    t.attended[t.fsm] = 0
    h = headline(student_frame(t))
    assert math.isnan(h["persistent_absence_fsm"])
    assert h["persistent_absence_non_fsm"] == pytest.approx(1 / 3)
    t.possible[:] = 0  # nobody has a session (a model not yet run)
    t.attended[:] = 0
    t.reading_obs[:] = np.nan
    t.reading_gap_start[:] = np.nan
    h = headline(student_frame(t))
    for key in ("attendance", "persistent_absence", "persistent_absence_fsm",
                "persistent_absence_non_fsm", "severe_absence", "reading_gap_start",
                "reading_gap_end"):
        assert math.isnan(h[key]), key


def test_absence_flags_past_the_first_slice_of_rows() -> None:
    """The flags are worked out 65,536 rows at a time: the rows of a later slice are each
    compared with their own sessions."""
    n = 70_001
    possible = np.full(n, 390, dtype=np.int32)
    attended = np.full(n, 390, dtype=np.int32)
    attended[:65_536] = 100  # the first slice all severe
    attended[-1] = 351  # the last pupil: exactly 10%
    persistent, severe = absence_flags(possible, attended)
    assert persistent[:65_536].all() and severe[:65_536].all()
    assert not persistent[65_536:-1].any() and not severe[65_536:].any()
    assert persistent[-1]


def test_absence_flags_when_ten_times_the_sessions_missed_passes_32_bits() -> None:
    """300,000,000 sessions all missed: ten times that overflows a 32-bit integer (the flags are
    then counted in 64 bits); 29,999,999 missed of 300,000,000 is just under 10%."""
    possible = np.array([300_000_000, 300_000_000, 300_000_000], dtype=np.int32)
    attended = np.array([0, 270_000_001, 150_000_000], dtype=np.int32)
    persistent, severe = absence_flags(possible, attended)
    assert persistent.tolist() == [True, False, True]
    assert severe.tolist() == [True, False, True]


# ------------------------------------------------------------------------- printed, with units
SUMMARY = {"scenario": "trust", "schools": 1, "weeks": 39, "seed": 7, "students": 2400,
           "attendance": 0.9137, "persistent_absence": 0.2041,
           "persistent_absence_fsm": 0.3162, "persistent_absence_non_fsm": 0.1487,
           "severe_absence": 0.0123, "reading_gap_start": -3.24, "reading_gap_end": -1.96,
           "withdrawals": 12, "interventions": 0, "staff_hours": 1234.56, "cost": 98765.4}


def test_summary_rows_print_each_figure_as_a_rounded_percentage_or_unit() -> None:
    rows = dict(summary_rows({**SUMMARY, "interventions": 3}, policy=True))
    assert rows == {
        "students": "2,400 students",
        "attendance": "91.4%",
        "persistent absence, all (missed 10%+ of sessions)": "20.4%",
        "persistent absence, FSM": "31.6%",
        "persistent absence, non-FSM": "14.9%",
        "severe absence (missed 50%+ of sessions)": "1.2%",
        "mean reading gap (below 0 = behind), start -> end": "-3.2 -> -2.0 months",
        "withdrawals": "12 students",
        "interventions started": "3 interventions",
        "staff hours": "1,235 h",
        "cost": "£98,765",
    }
    # no policy: no intervention, staff or cost row; a missing figure is n/a, never nan
    rows = dict(summary_rows({**SUMMARY, "reading_gap_end": math.nan,
                              "persistent_absence_fsm": None}, policy=False))
    assert "staff hours" not in rows and "cost" not in rows
    assert rows["mean reading gap (below 0 = behind), start -> end"] == "-3.2 -> n/a months"
    assert rows["persistent absence, FSM"] == "n/a"
    assert summary_rows({"students": 0}, policy=True) == []


def test_a_gap_that_rounds_to_zero_prints_without_a_minus() -> None:
    """A mean reading gap of -0.04 months printed "-0.0 months" and a gap of -0.0004 between
    two shares "-0.0 pp": a sign on a zero reads as a real (if small) deficit."""
    rows = dict(summary_rows({**SUMMARY, "reading_gap_start": -0.04,
                              "reading_gap_end": -0.06}, policy=False))
    assert rows["mean reading gap (below 0 = behind), start -> end"] == "0.0 -> -0.1 months"
    assert points(-0.0004) == "0.0 pp" and points(-0.0006) == "-0.1 pp"
    assert points(-0.00004, 2) == "0.00 pp"


def test_format_summary_heads_the_table_with_counted_words() -> None:
    text = format_summary(SUMMARY)
    assert text.splitlines()[0] == "run of trust: 1 school, 39 weeks, seed 7"
    # no intervention started: the policy rows are left out unless asked for
    assert "staff hours" not in text
    assert "staff hours" in format_summary(SUMMARY, policy=True)
    assert format_summary({**SUMMARY, "schools": 3, "weeks": 1}).splitlines()[0] == \
        "run of trust: 3 schools, 1 week, seed 7"


def test_request_rows_say_days_a_week_and_a_deadline_met_by_none() -> None:
    from srmsim.results import request_rows

    r = {"backlog_start": 1200, "arrivals": 35, "completed": 30, "dropped": 2, "open_at_end": 3,
         "median_days": 4.25, "p90_days": None, "p99_days": 12.0, "throughput_per_week": 7.5,
         "within_deadline": 0.0, "deadline_days": 20.0, "utilisation_clerk": 0.8125}
    rows = dict(request_rows("sar", r))
    assert rows == {
        "sar: requests (backlog at start + arrivals)": "1,200 + 35",
        "sar: completed / dropped / open at end": "30 / 2 / 3",
        "sar: waiting time median / 90th / 99th percentile": "4.2 days / - / 12.0 days",
        "sar: throughput": "7.5 requests a week",
        "sar: completed within 20 days": "0.0%",  # none in time is a figure, not left out
        "sar: staff utilisation (clerk)": "81.2%",
    }


# --------------------------------------------------------------------------------- labels
def test_percent_and_points_round_to_the_stated_decimals() -> None:
    assert percent(0.1734) == "17.3%"
    assert percent(0.5) == "50.0%"
    assert percent(0.1236, 2) == "12.36%"
    assert [percent(x) for x in (None, math.nan, math.inf, -math.inf)] == ["n/a"] * 4
    assert points(0.012) == "1.2 pp"
    assert points(-0.0256, 2) == "-2.56 pp"
    assert points(math.nan) == "n/a"
    assert percent_level(0.95) == "95%" and percent_level(0.995) == "99.5%"
    assert given_percent(0.975) == "97.5%" and given_percent(0.12345) == "12.345%"
    assert given_percent(0.5) == "50%"


def test_percent_of_runs_reads_0_and_100_only_when_exact() -> None:
    assert percent_of_runs(0.0) == "0%" and percent_of_runs(1.0) == "100%"
    assert percent_of_runs(0.004) == "<1%" and percent_of_runs(0.996) == ">99%"
    assert percent_of_runs(0.0004, 1) == "<0.1%" and percent_of_runs(0.9996, 1) == ">99.9%"
    assert percent_of_runs(0.0, 1) == "0.0%" and percent_of_runs(1.0, 1) == "100.0%"
    assert percent_of_runs(0.37) == "37%"


def test_counts_cuts_and_negative_zero() -> None:
    assert (plural(1, "replication"), plural(0, "replication")) == ("1 replication",
                                                                     "0 replications")
    assert agree(2, "has", "have") == "have"
    assert over_replications(5, 8) == "over 5 of 8 replications"
    assert over_replications(1, 1) == "over 1 of 1 replication"
    assert cut("a" * 60) == "a" * 60
    assert cut("a" * 61) == "a" * 60 + "... (61 characters)"
    assert rounded(-0.0004, ".2f") == "0.00" and rounded(-0.004, ".2f") == "0.00"
    assert rounded(-0.006, ".2f") == "-0.01" and rounded(-math.inf, ".2f") == "-inf"


# -------------------------------------------------------------------------------- calendar
def test_terms_and_half_terms_of_each_week() -> None:
    # autumn 0-13, spring 14-25, summer 26-38; half-terms start at 0, 7, 14, 20, 26, 32
    terms = [calendar.term_of(w) for w in range(calendar.WEEKS_PER_YEAR)]
    assert terms == [0] * 14 + [1] * 12 + [2] * 13
    halves = [calendar.half_term_of(w) for w in range(calendar.WEEKS_PER_YEAR)]
    assert halves == [0] * 7 + [1] * 7 + [2] * 6 + [3] * 6 + [4] * 6 + [5] * 7
    weeks = range(calendar.WEEKS_PER_YEAR)
    assert [w for w in weeks if calendar.is_term_end(w)] == [13, 25, 38]
    assert [w for w in weeks if calendar.is_half_term_end(w)] == [6, 13, 19, 25, 31, 38]
    assert [w for w in weeks if calendar.is_due("termly", w)] == [13, 25, 38]
    assert [w for w in weeks if calendar.is_due("half_termly", w)] == [6, 13, 19, 25, 31, 38]
    assert all(calendar.is_due("weekly", w) for w in weeks)
    assert calendar.READING_TEST_WEEKS == (0, 13, 25, 38)  # a September baseline, then terms


def test_run_term_counts_terms_across_years() -> None:
    run_weeks = np.array([0, 13, 14, 25, 26, 38, 39, 52, 53, 65, 77, 78])
    assert calendar.run_term(run_weeks).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6]


def test_season_is_relative_to_the_years_average() -> None:
    """The seasonal absence profile is centred (the year's average absence is the model's
    own), lowest at the start of autumn and highest at the end of the autumn term."""
    assert calendar.SEASON.shape == (calendar.WEEKS_PER_YEAR,)
    assert abs(calendar.SEASON.mean()) < 1e-12
    assert int(np.argmin(calendar.SEASON)) == 0
    assert int(np.argmax(calendar.SEASON)) == 13
