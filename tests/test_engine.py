"""The simulation engine: Mesa structure, the weekly step, outputs, multi-year runs and CRN.

Common random numbers are the property the whole project leans on (paired policy comparisons),
so they are tested end to end here: same seed, same bytes; one student removed or treated, every
other student's trajectory unchanged, to the last bit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest

import srmsim
from srmsim import calendar
from srmsim.dynamics import WeekObservation, record_week
from srmsim.errors import SrmsimError
from srmsim.model import HISTORY_AUTO_SAMPLE, PoolAgent, SchoolAgent, TrustModel
from srmsim.results import RunResult
from srmsim.scenario import Scenario
from srmsim.students import StudentTable, in_year_groups

REQUIRED_STUDENT_COLUMNS = [
    "uid", "school", "year_group", "fsm", "sen", "sex", "attendance_rate", "persistent_absent",
    "severe_absent", "reading_gap_start", "reading_gap_end", "attainment", "withdrawn",
]
REQUIRED_WEEKLY_COLUMNS = [
    "run_week", "year", "week", "school", "enrolled", "sessions_possible", "sessions_attended",
    "attendance_rate", "incidents", "lms_logins", "assignments_set", "assignments_on_time",
    "withdrawals",
]

Factory = Callable[..., Scenario]


def run_model(scenario: Scenario, seed: int | None = None) -> TrustModel:
    model = TrustModel(scenario, seed=seed)
    model.run()
    return model


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- structure
def test_trust_is_a_mesa_model_with_school_and_pool_agents(make_small_scenario: Factory) -> None:
    model = TrustModel(make_small_scenario({"trust.n_schools": 4}), seed=1)
    assert isinstance(model, mesa.Model)
    schools = list(model.agents_by_type[SchoolAgent])
    pools = list(model.agents_by_type[PoolAgent])
    assert len(schools) == 4 and len(pools) == 1
    # Students are columns, not agents: the model holds exactly the schools and the pool.
    assert len(model.agents) == 5
    assert all(isinstance(a, mesa.Agent) for a in model.agents)
    assert model.PLAN == ("latents", "observe", "record", "tests", "policy", "requests", "report",
                          "year_end")


def test_each_school_agent_owns_a_slice_of_the_student_table(make_small_scenario: Factory) -> None:
    model = TrustModel(make_small_scenario({"trust.n_schools": 5}), seed=2)
    t = model.students
    assert np.all(np.diff(t.school) >= 0)  # sorted by school
    covered = 0
    for agent in model.schools:
        rows = t.school[agent.students]
        assert len(rows) > 0 and np.all(rows == agent.index)
        covered += len(rows)
    assert covered == len(t)
    assert len(np.unique(t.uid)) == len(t)


def test_population_profile_fields(make_small_scenario: Factory) -> None:
    model = TrustModel(make_small_scenario({"trust.n_schools": 6}), seed=3)
    t = model.students
    for year in (7, 11):
        age = t.age_months[t.year_group == year]
        # In September Year 7 are 11 (132-143 months), Year 11 are 15.
        assert age.min() >= (year + 4) * 12 and age.max() < (year + 5) * 12
    assert set(np.unique(t.sex)) == {0, 1}
    assert t.fsm.dtype == bool and t.sen.dtype == bool and t.eal.dtype == bool
    assert np.isfinite(t.prior_attainment).all() and np.isfinite(t.reading_age).all()
    assert np.all(t.status == 0) and np.all(t.exit_step == -1)


def test_one_step_is_one_school_week(make_small_scenario: Factory) -> None:
    scenario = make_small_scenario()
    model = TrustModel(scenario, seed=4)
    assert model.n_weeks == calendar.WEEKS_PER_YEAR == 39
    model.step()
    assert model.week_index == 1
    weekly = model.weekly()
    assert len(weekly) == scenario.trust.n_schools
    assert (weekly["sessions_possible"] == 10 * weekly["enrolled"]).all()
    model.run()
    assert model.done and model.week_index == 39
    with pytest.raises(SrmsimError, match="finished"):
        model.step()


def test_terms_tests_and_assessments_follow_the_calendar(make_small_scenario: Factory) -> None:
    model = run_model(make_small_scenario(), seed=5)
    h = model.history()
    assert h["week"].min() == 0 and h["week"].max() == 38
    # Reading tests at week 0 and each term's end: the recorded gap changes only then.
    changed = h.sort_values(["uid", "run_week"]).groupby("uid")["reading_gap"].diff().fillna(0) != 0
    assert set(h.loc[changed, "week"]) <= set(calendar.READING_TEST_WEEKS)
    assert h.loc[h["week"] == 0, "reading_gap"].notna().all()
    # Assessments and the satisfaction pulse start at the end of the autumn term.
    assert h.loc[h["week"] < 13, "assessment"].isna().all()
    assert h.loc[h["week"] >= 13, "assessment"].notna().all()
    pulse = h.loc[h["week"] >= 13, "satisfaction"]
    assert pulse.between(1, 5).all() and (pulse == pulse.round()).all()
    # Three terms: term totals were reset at weeks 14 and 26.
    t = model.students
    assert t.term_possible.max() == 10 * (39 - 26)
    assert t.year_possible.max() == 390


# ----------------------------------------------------------------------------- outputs
def test_students_output_has_required_columns_and_consistent_flags(
    make_small_scenario: Factory,
) -> None:
    result = srmsim.run(make_small_scenario(), seed=6)
    s = result.students
    assert set(REQUIRED_STUDENT_COLUMNS) <= set(s.columns)
    assert s["uid"].is_unique and s["uid"].is_monotonic_increasing
    assert s["attendance_rate"].between(0, 1).all()
    # whole sessions: exactly 10% missed (39 of 390) is persistent absence
    missed = s["sessions_possible"] - s["sessions_attended"]
    assert (s["persistent_absent"] == (10 * missed >= s["sessions_possible"])).all()
    assert (s["severe_absent"] == (2 * missed >= s["sessions_possible"])).all()
    assert set(s["sex"]) == {"F", "M"}
    assert s["reading_gap_start"].notna().all() and s["reading_gap_end"].notna().all()
    assert s["year_group"].between(7, 11).all()
    assert not s["withdrawn"].any()  # no withdrawal hazard in Years 7-11


def test_absence_flags_whole_sessions_no_sessions_and_counts_past_32_bit_tenfold() -> None:
    from srmsim.results import absence_flags

    possible = np.array([390, 390, 0, 10, 10, 300_000_000, 300_000_000], dtype=np.int32)
    attended = np.array([351, 352, 0, 5, 6, 270_000_000, 270_000_001], dtype=np.int32)
    persistent, severe = absence_flags(possible, attended)
    # 39 of 390 missed is exactly 10%; 38 is not; no session is neither; 5 of 10 is severe;
    # 30,000,000 of 300,000,000 is 10% (ten times it overflows 32 bits: counted in 64)
    assert persistent.tolist() == [True, False, False, True, True, True, False]
    assert severe.tolist() == [False, False, False, True, False, False, False]


def test_weekly_output_adds_up_to_the_student_totals(make_small_scenario: Factory) -> None:
    result = srmsim.run(make_small_scenario({"trust.n_schools": 4}), seed=7)
    w, s = result.weekly, result.students
    assert set(REQUIRED_WEEKLY_COLUMNS) <= set(w.columns)
    assert len(w) == 4 * 39
    assert (w.groupby("school").size() == 39).all()
    by_school = w.groupby("school")[["sessions_attended", "sessions_possible", "incidents",
                                     "lms_logins", "assignments_on_time"]].sum()
    students = s.groupby("school")[["sessions_attended", "sessions_possible", "incidents",
                                    "lms_logins", "assignments_on_time"]].sum()
    pd.testing.assert_frame_equal(by_school, students, check_dtype=False, check_names=False,
                                  check_index_type=False)
    enrolled = s.groupby("school").size()
    assert (w.groupby("school")["enrolled"].max() == enrolled).all()
    rate = w["sessions_attended"] / w["sessions_possible"]
    np.testing.assert_allclose(w["attendance_rate"], rate)


def test_weekly_totals_are_the_same_whatever_the_blocks(make_small_scenario: Factory) -> None:
    """Schools split between blocks (and blocks on threads) add up to the one-block totals."""
    scenario = make_small_scenario({"trust.n_schools": 5, "years": 2})
    one = TrustModel(scenario, seed=8, block_rows=1 << 30)
    one.run()
    split = TrustModel(scenario, seed=8, threads=2, block_rows=97)
    split.run()
    pd.testing.assert_frame_equal(one.weekly(), split.weekly())
    assert split.weekly()["withdrawals"].sum() == one.weekly()["withdrawals"].sum()


def test_results_are_a_snapshot_that_a_model_running_on_leaves_alone(
    make_small_scenario: Factory,
) -> None:
    model = TrustModel(make_small_scenario(), seed=9)
    for _ in range(3):
        model.step()
    students = model.results().students
    before = students.copy(deep=True)
    for _ in range(3):
        model.step()
    pd.testing.assert_frame_equal(students, before)
    assert not model.results().students.equals(before)


def test_summary_headline_matches_the_students_table(make_small_scenario: Factory) -> None:
    result = srmsim.run(make_small_scenario(), seed=8)
    s, summary = result.students, result.summary
    assert summary["students"] == len(s)
    assert summary["seed"] == 8
    assert summary["scenario_hash"] == result.scenario.digest()
    assert summary["attendance"] == pytest.approx(
        s["sessions_attended"].sum() / s["sessions_possible"].sum())
    assert summary["persistent_absence_fsm"] == pytest.approx(
        s.loc[s["fsm"], "persistent_absent"].mean())
    assert summary["reading_gap_end"] == pytest.approx(s["reading_gap_end"].mean(), abs=1e-4)
    table = result.summary_table()
    assert "persistent absence, FSM" in set(table["measure"])


def test_run_accepts_a_path_an_object_or_nothing(default_scenario_path: Path) -> None:
    small = Scenario(trust={"n_schools": 2, "students_per_year_group": 5})
    assert isinstance(srmsim.run(small, seed=1), RunResult)
    by_path = srmsim.run(default_scenario_path, seed=1)
    assert by_path.summary["scenario"] == "default" and by_path.summary["schools"] == 10
    model = TrustModel(Scenario(seed=123, trust={"n_schools": 1, "students_per_year_group": 5}))
    assert model.seed == 123  # the scenario's seed unless one is given


# ----------------------------------------------------------------------------- history
def test_one_students_history_is_one_call_away(make_small_scenario: Factory) -> None:
    model = run_model(make_small_scenario(), seed=9)
    students = model.results().students
    uid = int(students["uid"].iloc[17])
    one = model.student(uid)
    assert isinstance(one, pd.DataFrame)
    assert len(one) == 39 and list(one["week"]) == list(range(39))
    assert (one["uid"] == uid).all()
    row = students.set_index("uid").loc[uid]
    assert one["attended"].sum() == row["sessions_attended"]
    assert one["possible"].sum() == row["sessions_possible"]
    assert one["attainment"].iloc[-1] == pytest.approx(row["attainment"])
    for column in ("engagement", "wellbeing", "reading_age", "reading_gap", "assessment"):
        assert column in one.columns



def test_history_counts_survive_ordinary_arithmetic(make_small_scenario: Factory) -> None:
    """A teacher's ``100 * attended / possible`` must not overflow silently."""
    h = run_model(make_small_scenario(), seed=9).history()
    percent = 100 * h["attended"] / h["possible"]
    assert percent.between(0, 100).all()


def test_history_unknown_student_is_a_clear_error(make_small_scenario: Factory) -> None:
    model = run_model(make_small_scenario(), seed=10)
    with pytest.raises(SrmsimError, match="no student with uid 999999"):
        model.student(999999)


def test_history_none_keeps_no_history(make_small_scenario: Factory) -> None:
    model = run_model(make_small_scenario({"outputs.history": "none"}), seed=11)
    assert model.history().empty
    assert model.results().history.empty
    with pytest.raises(SrmsimError, match="outputs.history"):
        model.student(0)


def test_history_sample_is_bounded_and_stable(make_small_scenario: Factory) -> None:
    scenario = make_small_scenario({"trust.n_schools": 10, "outputs.history": 60})
    model = run_model(scenario, seed=12)
    h = model.history()
    tracked = h["uid"].unique()
    assert 30 <= len(tracked) <= 100  # about 60 of ~500, sampled by a stable per-uid draw
    assert (h.groupby("uid").size() == 39).all()
    again = run_model(scenario, seed=12).history()
    np.testing.assert_array_equal(tracked, again["uid"].unique())
    untracked = int(np.setdiff1d(model.students.uid, tracked)[0])
    with pytest.raises(SrmsimError, match="history: all"):
        model.student(untracked)


def test_auto_history_samples_large_runs() -> None:
    scenario = Scenario(trust={"n_schools": 30, "students_per_year_group": 160, "size_cv": 0.0})
    model = TrustModel(scenario, seed=13)
    assert len(model.students) > 20_000
    model.step()
    n_tracked = model.history()["uid"].nunique()
    assert 0.8 * HISTORY_AUTO_SAMPLE <= n_tracked <= 1.2 * HISTORY_AUTO_SAMPLE


# ----------------------------------------------------------------------------- CRN
def test_same_seed_gives_byte_identical_files(make_small_scenario: Factory, tmp_path: Path) -> None:
    scenario = make_small_scenario({"years": 2})
    a = srmsim.run(scenario, seed=21, out=tmp_path / "a")
    b = srmsim.run(scenario, seed=21, out=tmp_path / "b")
    pd.testing.assert_frame_equal(a.students, b.students)
    pd.testing.assert_frame_equal(a.weekly, b.weekly)
    pd.testing.assert_frame_equal(a.history, b.history)
    for name in ("students.parquet", "weekly.parquet", "history.parquet", "scenario.yaml"):
        assert sha256(tmp_path / "a" / name) == sha256(tmp_path / "b" / name), name
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "students.parquet"),
                                  pd.read_parquet(tmp_path / "b" / "students.parquet"))


def test_different_seeds_differ(make_small_scenario: Factory, tmp_path: Path) -> None:
    scenario = make_small_scenario()
    a = srmsim.run(scenario, seed=22, out=tmp_path / "a")
    b = srmsim.run(scenario, seed=23, out=tmp_path / "b")
    assert not a.students.equals(b.students)
    assert not a.weekly["sessions_attended"].equals(b.weekly["sessions_attended"])
    # School sizes are drawn too, so compare the students both runs have.
    both = a.students.merge(b.students, on="uid", suffixes=("_a", "_b"))
    assert len(both) > 100
    assert (both["attainment_a"] != both["attainment_b"]).mean() > 0.99
    assert (both["fsm_a"] != both["fsm_b"]).any()
    assert sha256(tmp_path / "a" / "students.parquet") != sha256(tmp_path / "b" / "students.parquet")


@pytest.mark.parametrize("years", [1, 2])
def test_removing_one_student_leaves_everyone_else_unchanged(
    make_small_scenario: Factory, years: int
) -> None:
    scenario = make_small_scenario({"years": years, "trust.n_schools": 4})
    full = TrustModel(scenario, seed=24)
    reduced = TrustModel(scenario, seed=24)
    removed = int(reduced.students.uid[len(reduced.students) // 2])
    removed_school = int(reduced.students.school[len(reduced.students) // 2])
    reduced.students = reduced.students.take(reduced.students.uid != removed)
    reduced._layout_changed()
    full.run()
    reduced.run()

    a, b = full.results(), reduced.results()
    keep = a.students["uid"] != removed
    assert keep.sum() == len(b.students) == len(a.students) - 1
    pd.testing.assert_frame_equal(a.students[keep].reset_index(drop=True), b.students)
    ha = a.history[a.history["uid"] != removed].reset_index(drop=True)
    pd.testing.assert_frame_equal(ha, b.history.reset_index(drop=True))
    # Weekly school totals: only the removed student's school changes.
    other = a.weekly["school"] != removed_school
    pd.testing.assert_frame_equal(a.weekly[other].reset_index(drop=True),
                                  b.weekly[b.weekly["school"] != removed_school]
                                  .reset_index(drop=True))
    assert (a.weekly.loc[~other, "enrolled"].to_numpy()
            - b.weekly.loc[b.weekly["school"] == removed_school, "enrolled"].to_numpy()).max() == 1


def test_treating_one_student_changes_only_that_student(make_small_scenario: Factory) -> None:
    """The paired-comparison property: a policy acting on one student moves nobody else."""
    scenario = make_small_scenario()
    control, treated = TrustModel(scenario, seed=25), TrustModel(scenario, seed=25)
    row = 40
    uid = int(treated.students.uid[row])
    treated.students.eff_absence[row] = 2.0  # a big push towards absence, held all year
    control.run()
    treated.run()
    a, b = control.results().students, treated.results().students
    others = a["uid"] != uid
    pd.testing.assert_frame_equal(a[others], b[others])
    rate_a = a.loc[~others, "attendance_rate"].item()
    rate_b = b.loc[~others, "attendance_rate"].item()
    assert rate_b < rate_a - 0.1


# ----------------------------------------------------------------------------- years
def test_multi_year_run_moves_year_groups_up_and_renews_the_roll(
    make_small_scenario: Factory,
) -> None:
    scenario = make_small_scenario({"years": 3, "trust.n_schools": 4})
    model = TrustModel(scenario, seed=26)
    initial = len(model.students)
    initial_uids = set(model.students.uid.tolist())
    y7_uid = int(model.students.uid[model.students.year_group == 7][0])
    model.run()
    result = model.results()
    s, w = result.students, result.weekly

    assert len(w) == 3 * 39 * 4 and w["run_week"].max() == 3 * 39 - 1
    # The roll is stable: each September as many join Year 7 as left Year 11.
    roll = w[w["week"] == 0].groupby("year")["enrolled"].sum()
    assert roll.nunique() == 1 and roll.iloc[0] == initial

    # A Year 7 student is in Years 7, 8 and 9 in the three years.
    h = model.student(y7_uid)
    assert h.groupby("year")["year_group"].unique().map(list).tolist() == [[7], [8], [9]]

    # Leavers leave from Year 11 with an exam score, at the end of each year.
    left = s[s["status"] == "left"]
    assert (left["year_group"] == 11).all()
    assert left["exam_score"].notna().all()
    assert set(left["exit_week"]) == {38, 77, 116}
    assert s.loc[s["status"] != "left", "exam_score"].isna().all()
    assert np.corrcoef(left["exam_score"], left["attainment"])[0, 1] > 0.9

    # The intake is new students with new uids who join in Year 7.
    intake = s[~s["uid"].isin(initial_uids)]
    assert len(intake) == 2 * (initial // 5)
    assert intake["uid"].min() == initial and intake["uid"].is_unique
    assert set(intake["entry_week"]) == {39, 78}
    entry_year = intake["entry_week"] // 39
    assert ((intake["year_group"] - 7) == (2 - entry_year)).all()
    assert s["uid"].is_unique


def test_default_trust_roll_is_stable_year_to_year(default_scenario_path: Path) -> None:
    scenario = srmsim.load_scenario(default_scenario_path, {"years": 3, "outputs.history": "none"})
    model = run_model(scenario)
    w = model.weekly()
    roll = w[w["week"] == 0].groupby("year")["enrolled"].sum()
    assert len(roll) == 3 and roll.nunique() == 1
    by_year_group = model.results().students.query("status == 'enrolled'")["year_group"]
    assert sorted(by_year_group.unique()) == [7, 8, 9, 10]  # Year 11 left at the end


def test_progress_display_does_not_change_the_run(make_small_scenario: Factory) -> None:
    quiet, shown = TrustModel(make_small_scenario(), seed=30), TrustModel(
        make_small_scenario(), seed=30, progress=True)
    quiet.run()
    shown.run()
    pd.testing.assert_frame_equal(quiet.results().students, shown.results().students)


def test_withdrawal_only_in_withdrawal_years(make_small_scenario: Factory) -> None:
    scenario = make_small_scenario({"trust.n_schools": 10, "trust.year_groups": [11, 12],
                                    "dynamics.withdrawal_annual": 0.3})
    model = run_model(scenario, seed=27)
    s = model.results().students
    assert not s.loc[s["year_group"] == 11, "withdrawn"].any()
    gone = s[s["withdrawn"]]
    assert len(gone) > 10 and (gone["year_group"] == 12).all()
    assert (gone["status"] == "withdrawn").all() and (gone["exit_week"] >= 0).all()
    assert gone["exam_score"].isna().all()
    # After withdrawing, no more sessions are possible for the student.
    h = model.history()
    for uid, exit_week in gone[["uid", "exit_week"]].head(5).itertuples(index=False):
        after = h[(h["uid"] == uid) & (h["run_week"] > exit_week)]
        assert (after["possible"] == 0).all() and (after["status"] == "withdrawn").all()
    assert model.weekly()["withdrawals"].sum() == len(gone)


@pytest.mark.parametrize("years", [[12, 13], [13, 12, 12], [7], [1, 14], [9, 7, 8, 11], [5, 9],
                                   [], [200], [-300, 0], [126, 127, 128], [-129, -128]])
def test_in_year_groups_is_isin(years: list[int]) -> None:
    """The weekly year-group test (two comparisons for a run of years) answers as np.isin does,
    also for years outside int8's range and for gaps."""
    year_group = np.arange(-128, 128, dtype=np.int8)
    np.testing.assert_array_equal(in_year_groups(year_group, years), np.isin(year_group, years))


def test_record_week_keeps_the_last_week_of_a_login_and_an_incident() -> None:
    """The last login/incident week moves to this week only for students who had one; "never"
    (-1) and earlier weeks stay as they were."""
    t = StudentTable(4)
    t.last_login_step[:] = [-1, -1, 3, 3]
    t.last_incident_step[:] = [5, -1, -1, 5]
    obs = WeekObservation.empty(4)
    for name, dtype in WeekObservation.DTYPES.items():
        getattr(obs, name)[:] = np.zeros(4, dtype=dtype)
    obs.logins[:] = [0, 2, 0, 1]
    obs.incidents[:] = [1, 0, 0, 3]
    record_week(t, obs, 9)
    assert t.last_login_step.tolist() == [-1, 9, 3, 9]
    assert t.last_incident_step.tolist() == [9, -1, -1, 9]


def test_no_withdrawal_when_the_rate_is_zero(make_small_scenario: Factory) -> None:
    scenario = make_small_scenario({"trust.year_groups": [12, 13],
                                    "dynamics.withdrawal_annual": 0.0})
    assert srmsim.run(scenario, seed=28).summary["withdrawals"] == 0


def test_release_drops_the_agents(make_small_scenario: Factory) -> None:
    model = TrustModel(make_small_scenario(), seed=29)
    model.release()
    assert len(model.agents) == 0


def test_student_table_declares_exactly_its_columns() -> None:
    """The type declarations on StudentTable are the columns and buffers it creates."""
    from srmsim.students import BUFFERS, COLUMNS, StudentTable

    declared = set(StudentTable.__annotations__)
    assert declared == {c.name for c in COLUMNS} | set(BUFFERS)
