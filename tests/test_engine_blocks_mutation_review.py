"""Mutation review of the engine's orchestration: srmsim/blocks.py (blocks, threads),
srmsim/memory.py (the memory estimate and what is free), srmsim/week_processes.py (helper
processes), srmsim/kernels (the compiled twins of the numpy week and tests), srmsim/model.py
(step order, weekly totals by school, term and year ends) and srmsim/students.py. The tests
here check the weekly per-school totals against sums made by hand from the students' own run
totals (an empty school in the middle and at the end, a school of one, schools split between
blocks) on one block, threads, helper processes and the compiled week, with every column equal
to the plain run's; the calendar's turns read back from the weekly history; the memory
estimate term by term from its documented constants; and what each memory limit leaves.

Mutations tried: 80 (blocks 9, memory 12, model 23, week_processes 7, kernels/__init__ 3,
kernels/week 15, kernels/assessments 4, students 7), each alone.
Existing tests run per mutant: tests/test_blocks.py, test_engine.py, test_policy_digests.py,
test_backends_determinism_review.py (+ test_dynamics_mutation_review.py, test_outputs.py,
test_run_files.py, test_run_outputs_semantics_review.py, test_model_doc.py,
test_results_mutation_review.py for the first 9 blocks mutants); memory mutants against
test_memory.py, test_export_memory.py, test_study_upfront_review.py,
test_requests_identifiers_review.py, test_engine.py, test_resource_limits_more_review.py (and
two more for M1-M4); compiled-kernel mutants against tests/test_week_kernel.py.
Killed by those: 45 (two memory mutants, a loosened check, made a test run away: stopped by
hand, counted killed). Survived: 35, of which 22 are killed by the tests below and 12 are
equivalent; left: 0 (the last one since found equivalent, below). No defect was found: results
are bit-identical (no source changed). Since: ``StudentTable.put``, which nothing called, was
removed with its test (one of the 22).

Equivalent mutants, and why:
- BlockRunner.map: one block sent to the thread pool instead of run here: the same call.
- BlockRunner.blocks(0) -> no block instead of one empty block: there are no rows to run.
- week_processes: no 64-byte alignment of the shared columns (numpy and numba read unaligned
  arrays alike; speed only); granting blocks while collecting the last answers (the loop only
  ends when every block is granted, so nothing is left to grant).
- kernels.week.on_roll counting students off roll as at risk: it only decides whether the
  hazard's exp row is computed; a withdrawal still needs the student on roll. Likewise
  ``withdrawal and at_risk > 0`` -> ``withdrawal``.
- w_incidents capped at 126 instead of 127: a week's incidents are at most 30 (the Poisson
  inversion stops at _POISSON_KMAX), so the cap never bites.
- binomial_draws taking the bracket path for n = 2: numpy's ``q ** 2`` is the correctly
  rounded square, which is the float64 square rounded to float32, inside the bracket.
- the withdrawal draw ``u < h`` -> ``u <= h``: u is an odd multiple of 2**-54 and h a float32;
  they are equal only for u below 2**-30 and h exactly that value.
- the reading test's uniform ``+ 0.5`` -> ``+ 0.25`` (in 53 bits): moves u by 2**-55, below a
  float32 normal's resolution except for u under about 2**-29 (one draw in 5e8).
- StudentTable.sorted_by_school: ``>=`` -> ``>`` between uids of one school (a table's uids
  all differ); a stable argsort by school instead of (school, uid): rows always arrive in uid
  order within a school
  (the first table's uids run in layout order, each intake's above every earlier uid).
- model.all_students putting the students still here before those who left (listed as left
  at first): ``results.student_frame`` sorts a table not in uid order by uid, so
  students.parquet is in uid order either way (docs/outputs.md; the year-end test checks it).
Survivors left: none.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import small_scenario

from srmsim import blocks as blocks_module
from srmsim import calendar, kernels, memory
from srmsim import model as model_module
from srmsim.blocks import BlockRunner, check_threads
from srmsim.errors import SrmsimError
from srmsim.model import TrustModel
from srmsim.results import student_frame
from srmsim.students import BUFFERS, COLUMNS, ENROLLED, LEFT, WITHDRAWN
from srmsim.week_processes import processes_available

#: the weekly report's totals and the cumulative student column each one adds to
_TOTALS = {"sessions_possible": "possible", "sessions_attended": "attended",
           "incidents": "incidents", "lms_logins": "logins", "assignments_set": "set_total",
           "assignments_on_time": "on_time_total"}
_SNAP = ("school", "status", "exit_step", *_TOTALS.values())


def _snapshot(model: TrustModel) -> dict[str, np.ndarray]:
    """Every student seen so far (still here or gone), by uid order."""
    t = model.all_students()
    order = np.argsort(t.uid)
    return {"uid": t.uid[order], **{c: getattr(t, c)[order].copy() for c in _SNAP}}


def _odd_trust(mode: str, monkeypatch: pytest.MonkeyPatch) -> TrustModel:
    """Five schools in Years 11-13 (withdrawals in 12-13): schools 1 and 4 (the last) emptied,
    school 2 cut to one student, the others split between blocks of 37 rows; run as ``mode``
    says."""
    monkeypatch.setenv("SRMSIM_WEEK", "compiled" if mode == "compiled" else "numpy")
    if mode == "compiled" and kernels.week_kernel() is None:
        pytest.skip("numba is not installed")
    if mode == "threads":
        monkeypatch.setattr(model_module, "processes_available", lambda: False)
    if mode in ("threads", "processes") and check_threads(2) < 2:
        pytest.skip("needs two cores")
    if mode == "processes" and not processes_available():
        pytest.skip("helper processes need Linux")
    sc = small_scenario({"years": 2, "trust.n_schools": 5, "trust.students_per_year_group": 40,
                         "trust.year_groups": [11, 12, 13],
                         "dynamics.withdrawal_annual": 0.6})
    threads = 1 if mode in ("one block", "compiled") else 2
    model = TrustModel(sc, seed=23, threads=threads,
                       block_rows=10**9 if mode == "one block" else 37)
    if mode == "processes":
        assert model._helpers is not None
    t = model.students
    two = np.flatnonzero(t.school == 2)
    keep = (t.school != 1) & (t.school != 4) & ((t.school != 2) | (np.arange(len(t)) == two[0]))
    model.students = t.take(np.flatnonzero(keep))
    model._layout_changed()
    return model


@pytest.mark.parametrize("mode", ["one block", "threads", "processes", "compiled"])
def test_weekly_totals_by_school_are_the_students_own_sums(mode, monkeypatch) -> None:
    """Each week's row of each school is what its students' run totals grew by that week, the
    students on roll before the week less the week's withdrawals, and the withdrawals those
    whose exit is that week: with an empty school, a school of one, a school split between
    blocks, across a year end (leavers, an intake that refills the empty school)."""
    model = _odd_trust(mode, monkeypatch)
    schools = len(model.schools)
    seen = {"empty": False, "one": False, "withdrew": False}
    try:
        for step in range(calendar.WEEKS_PER_YEAR + 3):
            before = _snapshot(model)
            model.step()
            after = _snapshot(model)
            row = model._weekly[-1]
            n = len(before["uid"])
            assert np.array_equal(after["uid"][:n], before["uid"])  # new uids come after
            school = before["school"]
            for name, col in _TOTALS.items():
                grew = after[col][:n].astype(np.int64) - before[col]
                np.testing.assert_array_equal(row[name], np.bincount(school, grew, schools),
                                              err_msg=f"{mode} week {step} {name}")
            withdrew = (after["status"][:n] == WITHDRAWN) & (after["exit_step"][:n] == step)
            assert not (withdrew & (before["status"] != ENROLLED)).any()
            np.testing.assert_array_equal(row["withdrawals"],
                                          np.bincount(school[withdrew], minlength=schools))
            on_roll = (before["status"] == ENROLLED) & ~withdrew
            np.testing.assert_array_equal(row["enrolled"],
                                          np.bincount(school[on_roll], minlength=schools))
            seen["empty"] |= row["enrolled"][1] == row["enrolled"][4] == 0
            seen["one"] |= row["enrolled"][2] == 1
            seen["withdrew"] |= row["withdrawals"].sum() > 0
            np.testing.assert_array_equal(row["school"], np.arange(schools))
            assert (row["run_week"] == step).all() and (row["week"] == step % 39).all()
            assert (row["year"] == step // 39).all()
    finally:
        model.release()
    assert all(seen.values()), seen
    weekly = model.weekly()  # a school week without sessions has no attendance rate
    none = weekly["sessions_possible"] == 0
    assert none.any() and weekly.loc[none, "attendance_rate"].isna().all()
    np.testing.assert_array_equal(weekly.loc[~none, "attendance_rate"],
                                  weekly.loc[~none, "sessions_attended"]
                                  / weekly.loc[~none, "sessions_possible"])
    # the intake of the second year refilled schools 1 and 4
    assert (model._weekly[-1]["enrolled"][[1, 4]] > 0).all()
    if mode != "one block":  # and every column is the plain run's, to the bit
        plain = _odd_trust("one block", monkeypatch)
        for _ in range(model.week_index):
            plain.step()
        for c in COLUMNS:
            got, want = getattr(model.all_students(), c.name), getattr(plain.all_students(), c.name)
            assert got.tobytes() == want.tobytes(), (mode, c.name)
        for b in BUFFERS:
            assert getattr(model.students, b).tobytes() == getattr(plain.students, b).tobytes()


def _calendar_run() -> tuple[TrustModel, object]:
    sc = small_scenario({"years": 2, "trust.n_schools": 2, "trust.students_per_year_group": 30,
                         "trust.year_groups": [11, 12, 13],
                         "dynamics.withdrawal_annual": 0.5})
    model = TrustModel(sc, seed=31)
    model.run()
    return model, model.history()


def test_terms_and_years_turn_on_their_weeks() -> None:
    """Term rates, year and term counters, the reading test, the term's assessments and the
    move up a year happen on the calendar's weeks, read back from the weekly history."""
    model, hist = _calendar_run()
    wpy = calendar.WEEKS_PER_YEAR
    h = hist.sort_values(["uid", "run_week"])
    same_uid = h["uid"].to_numpy()[1:] == h["uid"].to_numpy()[:-1]
    week_after = h["run_week"].to_numpy()[1:]
    on_roll = (h["status"].to_numpy()[1:] == "enrolled")

    def weeks_where_changed(col: str) -> set[int]:
        v = h[col].to_numpy()
        changed = same_uid & on_roll & ~((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1])))
        return set((week_after[changed] % wpy).tolist())

    assert weeks_where_changed("assessment") == set(calendar.TERM_ENDS)
    assert weeks_where_changed("reading_gap") == set(calendar.READING_TEST_WEEKS)
    first = h[(h["run_week"] == 0) & (h["status"] == "enrolled")]
    assert len(first) and not first["reading_gap"].isna().any()
    assert h.loc[h["run_week"] == 0, "assessment"].isna().all()
    # year groups move up between the last week of a year and the first of the next, only
    yg = h["year_group"].to_numpy()
    moved = same_uid & (yg[1:] != yg[:-1])
    assert set(week_after[moved].tolist()) == {wpy}
    assert (yg[1:][moved] - yg[:-1][moved] == 1).all()

    # the latest year's term rates and the year's counters, summed by hand from the history
    t = model.students
    y2 = h[h["run_week"] >= wpy]
    for term, (lo, hi) in zip(calendar.TERM_NAMES, [(0, 13), (14, 25), (26, 38)], strict=True):
        part = y2[(y2["week"] >= lo) & (y2["week"] <= hi)].groupby("uid")[
            ["attended", "possible"]].sum()
        part = part.reindex(t.uid).fillna(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            want = (part["attended"] / part["possible"]).to_numpy(np.float32)
        want[part["possible"].to_numpy() == 0] = np.nan  # no session that term: no rate
        np.testing.assert_array_equal(getattr(t, f"attendance_{term}"), want, err_msg=term)
    year = y2.groupby("uid")[["attended", "possible"]].sum().reindex(t.uid).fillna(0)
    np.testing.assert_array_equal(t.year_possible, year["possible"].to_numpy())
    np.testing.assert_array_equal(t.year_attended, year["attended"].to_numpy())
    summer = y2[y2["week"] >= 26].groupby("uid")[["attended", "possible"]].sum()
    summer = summer.reindex(t.uid).fillna(0)
    np.testing.assert_array_equal(t.term_possible, summer["possible"].to_numpy())
    np.testing.assert_array_equal(t.term_attended, summer["attended"].to_numpy())
    # someone who withdrew in the second autumn has no spring or summer rate from year one
    gone = (t.status == WITHDRAWN) & (t.exit_step >= wpy) & (t.exit_step < wpy + 14)
    gone &= t.entry_step == 0
    assert gone.any()
    assert np.isnan(t.attendance_spring[gone]).all() and np.isnan(t.attendance_summer[gone]).all()


def test_the_year_end_moves_leavers_out_and_the_intake_in_once() -> None:
    """After week 38 the final year sits the exam and leaves (exit week 38), the intake joins
    in week 39 in the first year group; after the last year's exams nobody moves up."""
    model, _ = _calendar_run()
    wpy, last = calendar.WEEKS_PER_YEAR, model.n_weeks - 1
    every = model.all_students()
    left = every.status == LEFT
    assert set(every.exit_step[left].tolist()) == {wpy - 1, last}
    assert np.isfinite(every.exam_score[left]).all()
    assert np.isnan(every.exam_score[~left]).all()
    assert set(every.entry_step.tolist()) == {0, wpy}
    intake = every.entry_step == wpy
    assert intake.sum() == int(model.school_profiles.cohort_size.sum())
    # the intake joined Year 11 and, its year being the run's last, is still in it
    assert set(every.year_group[intake].tolist()) == {11}
    assert set(every.year_group[every.entry_step == 0].tolist()) == {12, 13}
    # the last year's leavers are still in the final year group, and nobody joined after it
    assert set(every.year_group[left & (every.exit_step == last)].tolist()) == {13}
    assert len(every) == len(np.unique(every.uid)) == model.next_uid
    # students.parquet's rows: in uid order, as docs/outputs.md says, though the model keeps
    # those who left or withdrew (at a year end) apart from those still here
    assert not (np.diff(every.uid) > 0).all()
    assert (np.diff(student_frame(every)["uid"].to_numpy()) > 0).all()


def test_threads_are_capped_at_the_cores_this_process_may_use(monkeypatch) -> None:
    monkeypatch.setattr(blocks_module.os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert check_threads(8) == 3 and check_threads(2) == 2 and check_threads(1) == 1
    assert BlockRunner(16, block_rows=10).threads == 3


@pytest.mark.parametrize("bad", [0, -5, 2.0, False])
def test_a_block_size_that_is_not_a_positive_integer_is_refused(bad) -> None:
    with pytest.raises(SrmsimError, match="block_rows must be a positive integer"):
        BlockRunner(1, block_rows=bad)
    with pytest.raises(SrmsimError, match="block_rows"):
        TrustModel(small_scenario(), seed=1, block_rows=bad)


def test_blocks_are_the_fewest_that_fit_and_one_per_thread_from_the_threshold() -> None:
    """One thread: ceil(n / block_rows) blocks, all but the last of one size, the last short
    by less than one row a block. Two
    threads from 2 * MIN_ROWS_PER_THREAD rows: a multiple of two (no idle thread)."""
    one = BlockRunner(1, block_rows=1000)
    for n in (1, 999, 1000, 1001, 2999, 3001, 70_001):
        sizes = [b.stop - b.start for b in one.blocks(n)]
        assert len(sizes) == -(-n // 1000), n
        assert len(set(sizes[:-1])) <= 1 and 0 <= sizes[0] - sizes[-1] < len(sizes), n
        assert max(sizes) <= 1000 and sum(sizes) == n and one.blocks(n)[-1].stop == n, n
    two = BlockRunner(2, block_rows=10**6)
    if two.threads == 2:
        edge = 2 * blocks_module.MIN_ROWS_PER_THREAD
        assert len(two.blocks(edge)) == 2
        assert len(two.blocks(edge - 1)) == 1  # below it one thread is faster
        assert len(BlockRunner(2, block_rows=edge // 3).blocks(edge)) == 4


def test_a_closed_runner_runs_again_on_new_threads() -> None:
    runner = BlockRunner(2, block_rows=10)
    if runner.threads < 2:
        pytest.skip("needs two cores")
    first = sum(runner.map(lambda rows: rows.stop - rows.start, 95))
    runner.close()
    assert runner._pool is None
    assert sum(runner.map(lambda rows: rows.stop - rows.start, 95)) == first == 95
    runner.close()


# ----------------------------------------------------------------------------- memory
GIB, MIB = 2**30, 2**20


def test_memory_amounts_read_as_people_read_them() -> None:
    assert memory.amount(GIB) == "1.0 GiB"
    assert memory.amount(GIB - 1) == "1,024 MiB"
    assert memory.amount(5 * MIB) == "5 MiB"
    assert memory.amount(2500 * MIB) == "2.4 GiB"


def _need(students: int, history: int, requests: int, steps: int) -> int:
    """The documented estimate, term by term: a base, then per student, per student-week
    of history, per request and per request step."""
    return 150 * MIB + 400 * students + 200 * history + 1900 * requests + 200 * steps


@pytest.mark.parametrize(("students", "history", "requests", "steps"), [
    (1_000_000, 0, 0, 0), (100_000, 3_000_000, 0, 0), (0, 0, 200_000, 600_000),
    (2_000_000, 1_000_000, 50_000, 50_000)])
def test_a_run_is_refused_exactly_when_its_estimate_exceeds_what_is_free(
        students, history, requests, steps, monkeypatch) -> None:
    need = _need(students, history, requests, steps)
    monkeypatch.setattr(memory, "available_bytes", lambda: need)
    memory.check_run_fits(students, history, "this run", requests, steps)  # fits exactly
    monkeypatch.setattr(memory, "available_bytes", lambda: need - 1)
    with pytest.raises(memory.RunTooBigError) as err:
        memory.check_run_fits(students, history, "this run", requests, steps)
    text = str(err.value)
    assert f"that needs about {need / GIB:,.1f} GiB of memory, and {(need - 1) / GIB:,.1f} GiB" \
        in text
    assert (f"about {students:,} students" in text) == (students > 0)
    assert ("student-weeks of history" in text) == (200 * history > 400 * students)
    assert (f"about {requests:,} requests" in text) == (requests > 0)
    monkeypatch.setattr(memory, "available_bytes", lambda: None)  # the system does not say
    memory.check_run_fits(students, history, "this run", requests, steps)


def test_the_run_weighs_every_year_its_history_and_its_requests(monkeypatch) -> None:
    """What a run passes to the check: the first year's cohorts plus one new cohort a later
    year; its history's student-weeks over every year; its requests at the season's peak."""
    from srmsim.scenario import scenario_from_dict

    sc = scenario_from_dict({
        "years": 3, "trust": {"n_schools": 3, "students_per_year_group": 20},
        "outputs": {"history": "all"},
        "requests": {"desk": {"arrivals": {"per_week": 10, "seasonality": {"amplitude": 0.4}},
                              "backlog": 7, "staff": {"clerk": {"staff": 1}},
                              "steps": [{"name": "a", "role": "clerk", "minutes": 30},
                                        {"name": "b", "role": "clerk", "minutes": 5}]}}},
        "test")
    got = []
    monkeypatch.setattr(model_module, "check_run_fits", lambda *a: got.append(a))
    cohort = model_module.run_cohort_sizes(sc, 5)
    students = model_module.check_scenario_fits(sc, cohort, "x")
    cohorts = int(cohort.sum())
    assert students == cohorts * (5 + 3 - 1)
    requests = 7 + 10 * 1.4 * 3 * 39
    assert got == [(students, students * 3 * 39, "x", int(requests), int(requests * 2))]


def _fake_files(files: dict[str, str]):
    real = open

    def fake(path, *args, **kwargs):
        if path in files:
            return io.StringIO(files[path])
        if path.startswith(("/proc/", "/sys/")):
            raise FileNotFoundError(path)
        return real(path, *args, **kwargs)
    return fake


@pytest.mark.parametrize(("files", "address_space", "want"), [
    ({"/proc/meminfo": "MemTotal: 9 kB\nMemAvailable:    8000000 kB\n"}, None, 8_192_000_000),
    ({"/proc/meminfo": "MemAvailable: 8000000 kB\n", "/sys/fs/cgroup/memory.max": "4294967296\n",
      "/sys/fs/cgroup/memory.current": "1073741824\n"}, None, 3 * GIB),
    ({"/proc/meminfo": "MemAvailable: 1000 kB\n", "/sys/fs/cgroup/memory.max": "4294967296\n",
      "/sys/fs/cgroup/memory.current": "0\n"}, None, 1_024_000),
    ({"/proc/meminfo": "MemAvailable: 8000000 kB\n", "/sys/fs/cgroup/memory.max": "max\n",
      "/sys/fs/cgroup/memory.current": "1073741824\n"}, None, 8_192_000_000),
    ({"/proc/meminfo": "MemAvailable: 8000000 kB\n",
      "/proc/self/status": "Name: x\nVmSize:   500000 kB\n"}, 2 * GIB, 2 * GIB - 512_000_000),
    ({"/proc/meminfo": "MemAvailable: 800 kB\n",
      "/proc/self/status": "VmSize:   500000 kB\n"}, 2 * GIB, 819_200),
])
def test_the_memory_available_is_the_least_of_what_each_limit_leaves(
        files, address_space, want, monkeypatch) -> None:
    import resource

    monkeypatch.setattr(memory, "open", _fake_files(files), raising=False)
    limit = resource.RLIM_INFINITY if address_space is None else address_space
    monkeypatch.setattr(resource, "getrlimit", lambda what: (limit, limit))
    assert memory.available_bytes() == want


# ----------------------------------------------------------------------------- compiled twins
def test_a_term_without_sessions_keeps_its_rate_both_ways() -> None:
    """The term's rate is written only where the term had sessions: a student with none keeps
    the rate already there (numpy's masked copy), compiled or not."""
    pytest.importorskip("numba")
    from srmsim.dynamics import term_assessments
    from srmsim.rng import CRN
    from srmsim.scenario import DynamicsConfig
    from srmsim.students import StudentTable

    n = 400
    rng = np.random.default_rng(8)
    base = StudentTable(n)
    base.uid[:] = np.arange(n) * 13 + 1
    base.status[:] = rng.choice([0, 1, 2], n)
    base.term_possible[:] = np.where(np.arange(n) % 3 == 0, 0, 60)
    base.term_attended[:] = rng.integers(0, 61, n) * (base.term_possible > 0)
    base.attendance_spring[:] = rng.random(n).astype(np.float32)  # an earlier value
    tables = []
    for compiled in (False, True):
        t = base.take(np.arange(n))
        term_assessments(t, DynamicsConfig(), CRN(4), 14 + 11, slice(0, n), compiled=compiled)
        tables.append(t)
    none = base.term_possible == 0
    for t in tables:
        np.testing.assert_array_equal(t.attendance_spring[none], base.attendance_spring[none])
        np.testing.assert_array_equal(
            t.attendance_spring[~none],
            (base.term_attended[~none] / base.term_possible[~none]).astype(np.float32))
        assert np.isnan(t.attendance_autumn).all() and np.isnan(t.attendance_summer).all()


def test_history_auto_keeps_everyone_up_to_its_limit_then_a_thousand() -> None:
    sc = small_scenario({"outputs.history": "auto"})
    assert model_module.history_share(sc, 20_000) == 1.0
    assert model_module.history_share(sc, 20_001) == 1_000 / 20_001
    assert model_module.history_share(small_scenario({"outputs.history": 500}), 400) == 1.0
    assert model_module.history_share(small_scenario({"outputs.history": 500}), 2_000) == 0.25


def test_a_tables_bytes_count_every_column_and_its_weekly_buffers() -> None:
    """50 columns (uid 8 bytes, school 4, ...) and six int8 buffers of 14 weeks a student."""
    from srmsim.students import WINDOW, StudentTable

    per_student = sum(np.dtype(c.dtype).itemsize for c in COLUMNS) + len(BUFFERS) * WINDOW
    assert len(BUFFERS) * WINDOW == 84
    for n in (0, 1, 1000):
        assert StudentTable(n).nbytes() == n * per_student


def test_sorted_by_school_is_the_table_itself_only_when_in_school_then_uid_order() -> None:
    """The in-order check (one pass, not a sort) against the sort it stands for, on small
    tables of every kind: in order, out of order by school or by uid within a school, ties."""
    from srmsim.students import StudentTable

    rng = np.random.default_rng(7)
    for _ in range(2000):
        n = int(rng.integers(0, 9))
        t = StudentTable(n)
        t.school[:] = rng.integers(0, 3, n)
        t.uid[:] = rng.integers(0, 4, n)
        order = np.lexsort((t.uid, t.school))
        out = t.sorted_by_school()
        assert np.array_equal(out.uid, t.uid[order])
        assert np.array_equal(out.school, t.school[order])
        assert (out is t) == bool(np.all(order[1:] > order[:-1]))
