"""The compiled week (srmsim.kernels.week) gives the numpy passes' bits, to the last one.

Two checks: random tables with hostile values (NaN and infinite effects, extreme logits,
counters at their type's limit, every status and year group) through one week both ways, and
whole runs of shipped policy scenarios both ways, on one thread and on two cores.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT

pytest.importorskip("numba")

from srmsim import dynamics, kernels  # noqa: E402
from srmsim.model import TrustModel  # noqa: E402
from srmsim.rng import CRN  # noqa: E402
from srmsim.scenario import DynamicsConfig, load_scenario  # noqa: E402
from srmsim.students import BUFFERS, COLUMNS, WINDOW, StudentTable  # noqa: E402

pytestmark = pytest.mark.skipif(
    kernels.week_kernel() is None, reason="SRMSIM_WEEK=numpy: the compiled week is switched off")


def _hostile_table(n: int, seed: int) -> StudentTable:
    rng = np.random.default_rng(seed)
    t = StudentTable(n)
    t.uid[:] = rng.permutation(np.arange(n, dtype=np.int64) * 7919 + 3)
    t.status[:] = rng.choice([0, 0, 0, 1, 2], n)
    t.year_group[:] = rng.integers(-128, 128, n)
    t.year_group[: n // 2] = rng.integers(7, 14, n // 2)
    t.sex[:] = rng.integers(0, 2, n)
    for name in ("engagement_base", "engagement_ar", "wellbeing_base", "wellbeing_ar",
                 "attainment", "attainment_anchor", "absence_static"):
        getattr(t, name)[:] = rng.normal(0, 1.5, n)
    t.absence_static[:] += -3.5
    t.reading_age[:] = rng.normal(140, 20, n)
    t.age_months[:] = rng.normal(150, 15, n)
    for name in ("eff_engagement", "eff_wellbeing", "eff_absence", "eff_incidents"):
        col = getattr(t, name)
        col[:] = rng.normal(0, 2, n)
        bad = rng.random(n) < 0.02
        col[bad] = rng.choice(np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 88.7, -88.7,
                                        104.0], dtype=np.float32), int(bad.sum()))
    # counters at their type's limit wrap the same way
    t.year_possible[: n // 10] = np.iinfo(np.int16).max - 3
    t.possible[: n // 10] = np.iinfo(np.int32).max - 5
    t.last_login_step[:] = rng.integers(-1, 30, n)
    for b in BUFFERS:
        getattr(t, b)[:] = rng.integers(-5, 20, (WINDOW, n))
    return t


def _copy(t: StudentTable) -> StudentTable:
    return t.take(np.arange(len(t)))


def _same_table(a: StudentTable, b: StudentTable) -> None:
    for c in COLUMNS:
        x, y = getattr(a, c.name), getattr(b, c.name)
        assert x.tobytes() == y.tobytes(), c.name
    for name in BUFFERS:
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


@pytest.mark.parametrize("overrides", [
    {},
    {"assignments_per_week": 0, "withdrawal_annual": 0.0},
    {"assignments_per_week": 1, "incident_rate": 3.0, "withdrawal_years": [-128, 127, 7]},
    {"assignments_per_week": 2, "absence_week_sd": 5.0, "login_logit": -30.0,
     "withdrawal_years": list(range(-300, 300))},
    {"assignments_per_week": 20, "on_time_logit": 40.0, "male_incident_ratio": 100.0,
     "incident_rate": 0.0, "seasonality": 0.0},
])
def test_one_week_of_a_hostile_table_is_the_same_both_ways(overrides: dict) -> None:
    # year groups beyond 1-14 (a scenario refuses them) set without validation: the kernel's
    # lookup of them must still agree with the numpy passes'
    years = {k: v for k, v in overrides.items() if k == "withdrawal_years"}
    d = DynamicsConfig(**{k: v for k, v in overrides.items() if k not in years}).model_copy(
        update=years)
    crn = CRN(seed=77)
    table = _hostile_table(5_000, seed=len(overrides))
    logit = None if d.withdrawal_annual == 0 else 1.5  # a high hazard: many withdraw
    for step, week in ((0, 0), (13, 13), (38, 38), (500, 20)):
        a, b = _copy(table), _copy(table)
        obs_a = dynamics.WeekObservation.empty(len(table))
        obs_b = dynamics.WeekObservation.empty(len(table))
        rows = slice(0, len(table))
        dynamics.week_rows_numpy(a, d, crn, step, week, logit, obs_a, rows)
        dynamics.week_rows_compiled(b, d, crn, step, week, logit, obs_b, rows)
        _same_table(a, b)
        for name in dynamics.WeekObservation.__slots__:
            assert getattr(obs_a, name).tobytes() == getattr(obs_b, name).tobytes(), name
        assert obs_a.withdrew.any() == (logit is not None and d.withdrawal_years != [])
        # and the week did something: the tables moved
        assert not np.array_equal(a.engagement_ar, table.engagement_ar)


def test_a_week_with_nobody_at_risk_of_withdrawing_skips_the_hazard_alike() -> None:
    d, crn = DynamicsConfig(withdrawal_years=[12, 13]), CRN(seed=12)
    table = _hostile_table(3_000, seed=6)
    table.year_group[:] = np.arange(3_000) % 5 + 7  # Years 7-11 only
    a, b = _copy(table), _copy(table)
    obs_a = dynamics.WeekObservation.empty(len(table))
    obs_b = dynamics.WeekObservation.empty(len(table))
    dynamics.week_rows_numpy(a, d, crn, 6, 6, 2.0, obs_a, slice(0, 3000))
    dynamics.week_rows_compiled(b, d, crn, 6, 6, 2.0, obs_b, slice(0, 3000))
    _same_table(a, b)
    assert not obs_b.withdrew.any() and obs_b.attended.any()
    # and with the same table in Year 12, the hazard (a high one) withdraws students alike
    table.year_group[:] = 12
    a, b = _copy(table), _copy(table)
    dynamics.week_rows_numpy(a, d, crn, 6, 6, 2.0, obs_a, slice(0, 3000))
    dynamics.week_rows_compiled(b, d, crn, 6, 6, 2.0, obs_b, slice(0, 3000))
    _same_table(a, b)
    assert obs_b.withdrew.sum() > 100
    np.testing.assert_array_equal(obs_a.withdrew, obs_b.withdrew)


def test_a_block_of_rows_changes_only_its_rows() -> None:
    d, crn = DynamicsConfig(), CRN(seed=3)
    table = _hostile_table(3_000, seed=9)
    a, b = _copy(table), _copy(table)
    obs_a = dynamics.WeekObservation.empty(len(table))
    obs_b = dynamics.WeekObservation.empty(len(table))
    for rows in (slice(0, 1000), slice(1000, 1001), slice(1001, 3000), slice(5, 5)):
        dynamics.week_rows_numpy(a, d, crn, 4, 4, 0.5, obs_a, rows)
        dynamics.week_rows_compiled(b, d, crn, 4, 4, 0.5, obs_b, rows)
    _same_table(a, b)


def _run_tables(name: str, overrides: dict, seed: int, threads: int = 1) -> dict[str, pd.DataFrame]:
    scenario = load_scenario(REPO_ROOT / "scenarios" / name).with_overrides(overrides, name)
    model = TrustModel(scenario, seed=seed, threads=threads, block_rows=700)
    try:
        model.run()
        res = model.results()
        return {"students": res.students, "weekly": res.weekly, "events": res.events}
    finally:
        model.release()


@pytest.mark.parametrize("name, overrides", [
    ("dropout_prevention.yaml", {"years": 2, "trust.n_schools": 2}),
    ("pooling.yaml", {"trust.n_schools": 3, "trust.students_per_year_group": 60}),
])
def test_whole_runs_are_the_same_with_the_numpy_week(name: str, overrides: dict,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernels.ENV_WEEK, "compiled")  # small runs: "auto" would take numpy
    compiled = _run_tables(name, overrides, seed=11)
    monkeypatch.setenv(kernels.ENV_WEEK, "numpy")
    assert kernels.week_kernel() is None
    plain = _run_tables(name, overrides, seed=11)
    for key in plain:
        pd.testing.assert_frame_equal(compiled[key], plain[key], check_exact=True)


def test_two_cores_compiled_equal_one_core_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    overrides = {"trust.n_schools": 6, "trust.students_per_year_group": 60}
    monkeypatch.setenv(kernels.ENV_WEEK, "compiled")  # the helper processes inherit it
    two = _run_tables("dropout_prevention.yaml", overrides, seed=5, threads=2)
    monkeypatch.setenv(kernels.ENV_WEEK, "numpy")
    one = _run_tables("dropout_prevention.yaml", overrides, seed=5)
    for key in one:
        pd.testing.assert_frame_equal(two[key], one[key], check_exact=True)


def test_auto_runs_the_compiled_week_on_large_tables_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kernels.ENV_WEEK, raising=False)
    monkeypatch.setattr(kernels, "_kernel", None)
    monkeypatch.setattr(kernels, "_tried", False)  # not loaded yet in this process
    # a table given alone is taken to run one school year
    year = -(-kernels.COMPILED_MIN_STUDENT_WEEKS // 39)
    assert kernels.week_kernel(year - 1) is None
    # a run too short to pay for loading them, however large its table
    assert kernels.week_kernel(10**6, kernels.COMPILED_MIN_STUDENT_WEEKS - 1) is None
    # a long run of a smaller table, but not a table under LOADED_MIN_STUDENTS
    assert kernels.week_kernel(kernels.LOADED_MIN_STUDENTS - 1, 10**9) is None
    assert not kernels._tried  # and none of them loaded it
    assert kernels.week_kernel(kernels.LOADED_MIN_STUDENTS, 10**9) is not None
    assert kernels.week_kernel(year) is not None
    # loaded: smaller tables use it too, down to LOADED_MIN_STUDENTS
    assert kernels.week_kernel(kernels.LOADED_MIN_STUDENTS) is not None
    assert kernels.week_kernel(kernels.LOADED_MIN_STUDENTS - 1) is None
    monkeypatch.setenv(kernels.ENV_WEEK, " Compiled ")
    assert kernels.week_kernel(10) is not None
    monkeypatch.setenv(kernels.ENV_WEEK, "numpy")
    assert kernels.week_kernel(10**7) is None


def test_a_thread_asking_while_the_kernels_load_waits_for_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper process preloads the kernels on a thread while it shares the run's table; its
    first block, asking meanwhile, must get the loaded kernels (or the same failure), never
    "not loaded": in compiled mode that was an error with no reason."""
    import importlib
    import threading
    import time

    real_import = importlib.import_module
    loads: list[str] = []

    def slow(name: str, *args, **kwargs):
        if name == "srmsim.kernels.week":
            loads.append(name)
            time.sleep(0.3)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", slow)
    monkeypatch.setattr(kernels, "_kernel", None)
    monkeypatch.setattr(kernels, "_tried", False)
    monkeypatch.setattr(kernels, "_failure", "")
    monkeypatch.setenv(kernels.ENV_WEEK, "compiled")
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(kernels.week_kernel(10)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
        time.sleep(0.02)
    for thread in threads:
        thread.join()
    assert len(got) == 4 and all(k is not None for k in got) and len(set(map(id, got))) == 1
    assert loads == ["srmsim.kernels.week"]  # loaded once


def _kernels_fail_to_import(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """The next load of the kernels in this process raises ``error`` (the state is restored
    after the test)."""
    import importlib

    real_import = importlib.import_module

    def failing(name: str, *args, **kwargs):
        if name == "srmsim.kernels.week":
            raise error
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", failing)
    monkeypatch.setattr(kernels, "_kernel", None)
    monkeypatch.setattr(kernels, "_tried", False)
    monkeypatch.setattr(kernels, "_failure", "")


def test_a_bad_setting_or_a_missing_numba_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from srmsim.errors import SrmsimError

    monkeypatch.setenv(kernels.ENV_WEEK, "../fast")
    with pytest.raises(SrmsimError, match="SRMSIM_WEEK must be auto, numpy or compiled"):
        kernels.week_kernel(10)
    _kernels_fail_to_import(monkeypatch, ImportError("No module named 'numba'"))
    monkeypatch.setenv(kernels.ENV_WEEK, "auto")
    assert kernels.week_kernel(10**7) is None  # auto falls back to the numpy passes, quietly
    monkeypatch.setenv(kernels.ENV_WEEK, "compiled")
    with pytest.raises(SrmsimError, match=r"needs numba.*pip install 'srmsim\[fast\]'"):
        kernels.week_kernel(10)


def test_kernels_that_fail_to_compile_fall_back_with_a_warning(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from srmsim.errors import SrmsimError

    _kernels_fail_to_import(
        monkeypatch, RuntimeError("cannot cache function 'draws': no locator available"))
    monkeypatch.setenv(kernels.ENV_WEEK, "auto")
    with pytest.warns(RuntimeWarning, match="failed to load.*no locator available"):
        assert kernels.week_kernel(10**7) is None
    monkeypatch.setenv(kernels.ENV_WEEK, "compiled")
    with pytest.raises(SrmsimError, match="compiled week failed to load"):
        kernels.week_kernel(10)
    # a run long enough to load them still runs, on the numpy passes
    monkeypatch.setenv(kernels.ENV_WEEK, "auto")
    monkeypatch.setattr(kernels, "LOADED_MIN_STUDENTS", 100)
    monkeypatch.setattr(kernels, "COMPILED_MIN_STUDENT_WEEKS", 100)
    scenario = load_scenario(REPO_ROOT / "scenarios" / "default.yaml").with_overrides(
        {"trust.n_schools": 1, "trust.students_per_year_group": 30}, "t")
    model = TrustModel(scenario, seed=1)
    model.step()
    assert model.students.possible.sum() > 0


@pytest.mark.parametrize("n", [3, 5, 10, 20])
def test_binomial_draws_at_the_edges_of_every_count_equal_numpy(n: int) -> None:
    """Uniforms on, and one float32 step either side of, each count's CDF (where the last bit of
    ``q ** n`` decides): the bounded powers give numpy's counts, falling back to numpy's power
    exactly there."""
    from srmsim.kernels import week
    from srmsim.rng import binomial_inv

    assert week.power_bracket_holds()
    rng = np.random.default_rng(n)
    p = np.concatenate([rng.uniform(1e-6, 1, 3000), np.geomspace(1e-7, 0.999, 1000),
                        [0.0, 1.0, np.nan, 0.5, 1e-6, 1 - 1e-6]]).astype(np.float32)
    # every CDF value of every p, as binomial_inv's own arithmetic makes it
    clipped = np.clip(p, np.float32(1e-6), np.float32(1 - 1e-6))
    q = 1 - clipped
    ratio = clipped / q  # as binomial_inv and the kernel's binomial_starts take them
    pmf = q ** n
    cdfs = [pmf.copy()]
    for i in range(n - 1):
        pmf = pmf * ((n - i) / (i + 1)) * ratio
        cdfs.append(cdfs[-1] + pmf)
    edges = np.concatenate(cdfs)
    u = np.concatenate([edges, np.nextafter(edges, np.float32(0)),
                        np.nextafter(edges, np.float32(1))]).astype(np.float32)
    u = np.clip(np.nan_to_num(u, nan=0.5), np.float32(2**-24), np.float32(1 - 2**-24))
    pp = np.tile(p, 3 * n)
    want = binomial_inv(u, n, pp)
    qq = np.tile(q, 3 * n)
    got = np.empty(len(u), dtype=np.int8)
    week.binomial_draws(u, n, np.tile(ratio, 3 * n).astype(np.float32), qq,
                        np.ones(len(u), dtype=np.bool_), got)
    np.testing.assert_array_equal(got, want)
    # the bounds do leave some draws open here, which numpy's power then settles
    ratio3 = np.tile(ratio, 3 * n).astype(np.float32)
    lo, hi = np.empty_like(qq), np.empty_like(qq)
    week.power_bracket(qq, n, lo, hi)
    k_lo, k_hi = np.empty_like(got), np.empty_like(got)
    everyone = np.ones(len(u), dtype=np.bool_)
    week.binomial_counts(u, n, ratio3, lo.copy(), everyone, k_lo)
    week.binomial_counts(u, n, ratio3, hi, everyone, k_hi)
    assert (k_lo != k_hi).sum() > 0
    assert ((k_lo >= want) & (want >= k_hi)).all()
    # the lower bound alone leaves open every draw the two bounds disagree on, and more
    k, unsettled = np.empty_like(got), np.empty(len(u), dtype=np.bool_)
    week.lower_counts(u, n, ratio3, lo, everyone, k, unsettled)
    np.testing.assert_array_equal(k, k_lo)
    assert unsettled[k_lo != k_hi].all()
    assert (k[~unsettled] == want[~unsettled]).all()


@pytest.mark.parametrize("seed", [1, 2])
def test_binomial_draws_on_every_kind_of_probability_equal_numpy(seed: int) -> None:
    """Random sizes and probabilities across (0, 1), crowded at both ends, with NaN and the
    clip's edges, half the uniforms within 3e-4 (relative) of a CDF value, some students off
    roll: every count is numpy's. Such uniforms crowd the margin the lower bound alone settles
    outside of (:func:`srmsim.kernels.week.lower_counts`)."""
    from srmsim.kernels import week
    from srmsim.rng import binomial_inv

    rng = np.random.default_rng(seed)
    for kind in range(8):
        n, m = int(rng.integers(3, 21)), 40_000
        p = [rng.uniform(0, 1, m), np.exp(rng.uniform(np.log(1e-7), 0, m)),
             1 - np.exp(rng.uniform(np.log(1e-7), 0, m)),
             rng.choice([0.0, 1.0, np.nan, 1e-6, 1 - 1e-6, 0.5, 0.999, 0.9999], m)][kind % 4]
        p = p.astype(np.float32)
        clipped = np.clip(p, np.float32(1e-6), np.float32(1 - 1e-6))
        q = 1 - clipped
        ratio = (clipped / q).astype(np.float32)
        pmf = q ** n
        cdf = pmf.copy()
        step = rng.integers(0, n, m)
        edge = np.where(step == 0, cdf, np.nan)
        for i in range(n - 1):
            pmf = pmf * np.float32((n - i) / (i + 1)) * ratio
            cdf = cdf + pmf
            edge = np.where(step == i + 1, cdf, edge)
        near = (rng.random(m) < 0.5) & np.isfinite(edge)
        jitter = (1 + rng.uniform(-3e-4, 3e-4, m)).astype(np.float32)
        u = np.where(near, np.clip(edge * jitter, 2**-24, 1 - 2**-24),
                     rng.random(m, dtype=np.float32)).astype(np.float32)
        on_roll = rng.random(m) < 0.97
        got = np.empty(m, dtype=np.int8)
        week.binomial_draws(u, n, ratio, q, on_roll, got)
        np.testing.assert_array_equal(got, np.where(on_roll, binomial_inv(u, n, p), 0))
        if kind == 0:  # uniforms at random: nearly every draw settled without numpy's power
            lo, k, unsettled = np.empty_like(q), np.empty_like(got), np.empty(m, dtype=np.bool_)
            week.power_bracket(q, n, lo, np.empty_like(q))
            clear = ~near & (lo >= week.SETTLE_MIN_FIRST)  # lower: open once anything counts
            week.lower_counts(u, n, ratio, lo, on_roll, k, unsettled)
            assert unsettled[clear].mean() < 5e-3


def test_a_machine_whose_power_is_off_takes_numpy_power_everywhere(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from srmsim.kernels import week

    monkeypatch.setattr(week, "_BRACKET", [False])
    d, crn = DynamicsConfig(), CRN(seed=8)
    table = _hostile_table(2_000, seed=4)
    a, b = _copy(table), _copy(table)
    obs_a = dynamics.WeekObservation.empty(len(table))
    obs_b = dynamics.WeekObservation.empty(len(table))
    dynamics.week_rows_numpy(a, d, crn, 2, 2, None, obs_a, slice(0, 2000))
    dynamics.week_rows_compiled(b, d, crn, 2, 2, None, obs_b, slice(0, 2000))
    _same_table(a, b)


def test_school_totals_equal_reduceat_over_every_kind_of_block() -> None:
    """The compiled schools' totals are the reduceat ones: empty schools (at the start, inside
    and at the end), schools split between blocks, blocks of one row, counts at their type's
    limits and students off roll."""
    rng = np.random.default_rng(21)
    sizes = rng.integers(0, 40, 60)
    sizes[[0, 7, 8, 59]] = 0
    n = int(sizes.sum())
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    t = _hostile_table(n, seed=3)
    obs = dynamics.WeekObservation.empty(n)
    for name in dynamics.OBSERVED:
        col = getattr(obs, name)
        info = np.iinfo(col.dtype) if col.dtype != np.bool_ else None
        col[:] = (rng.random(n) < 0.5) if info is None else rng.integers(info.min, info.max, n,
                                                                          endpoint=True)
    cuts = sorted({0, n, *rng.integers(0, n, 12).tolist(), int(starts[10]), int(starts[10]) + 1})
    for lo, hi in itertools.pairwise(cuts):
        rows = slice(lo, hi)
        first_a, part_a = dynamics.block_totals(t, obs, starts, sizes, rows, compiled=False)
        first_b, part_b = dynamics.block_totals(t, obs, starts, sizes, rows, compiled=True)
        assert first_a == first_b
        np.testing.assert_array_equal(part_a, part_b)
    # and the whole table as one block: every school's totals
    first, part = dynamics.block_totals(t, obs, starts, sizes, slice(0, n), compiled=True)
    whole = np.zeros((len(dynamics.TOTALLED), len(sizes)), dtype=np.int64)
    whole[:, first:first + part.shape[1]] = part  # the empty schools at either end: none here
    school = np.repeat(np.arange(len(sizes)), sizes)
    np.testing.assert_array_equal(whole[3], np.bincount(school, obs.incidents.astype(np.int64),
                                                        len(sizes)))
    np.testing.assert_array_equal(whole[0], np.bincount(school, t.status == 0, len(sizes)))


def _term_table(n: int, seed: int) -> StudentTable:
    """A hostile table for the tests' passes: never-tested and tested students, terms with no,
    negative and wrapped session counts, non-finite attainment and latents."""
    rng = np.random.default_rng(seed)
    t = _hostile_table(n, seed)
    t.reading_gap_start[:] = np.where(rng.random(n) < 0.5, np.nan, rng.normal(-5, 10, n))
    t.term_possible[:] = rng.choice([0, 0, 1, 30, 60, -3, 32767], n)
    t.term_attended[:] = rng.integers(-5, 61, n)
    for name in ("attainment", "wellbeing_ar", "engagement_base", "reading_age", "age_months"):
        col = getattr(t, name)
        col[rng.random(n) < 0.01] = rng.choice(np.array([np.nan, np.inf, -np.inf, 3e38],
                                                        dtype=np.float32))
    return t


@pytest.mark.parametrize("step", [0, 13, 25, 38, 77])
def test_the_reading_test_and_term_assessments_are_the_same_both_ways(step: int) -> None:
    d = DynamicsConfig(reading_test_sd=7.5, assessment_sd=0.4)
    crn = CRN(seed=step + 1)
    table = _term_table(6_000, seed=step)
    a, b = _copy(table), _copy(table)
    for rows in (slice(0, 2500), slice(2500, 2501), slice(2501, 6000), slice(9, 9)):
        dynamics.reading_test(a, d, crn, step, rows, compiled=False)
        dynamics.reading_test(b, d, crn, step, rows, compiled=True)
        dynamics.term_assessments(a, d, crn, step, rows, compiled=False)
        dynamics.term_assessments(b, d, crn, step, rows, compiled=True)
    _same_table(a, b)
    # and they did their work: tested students, new first gaps, assessments, every pulse level
    on_roll = table.status == 0
    assert not np.array_equal(a.reading_obs[on_roll], table.reading_obs[on_roll], equal_nan=True)
    assert np.isnan(table.reading_gap_start[on_roll]).any()
    assert np.isnan(b.reading_gap_start[on_roll]).sum() < np.isnan(
        table.reading_gap_start[on_roll]).sum()
    assert set(np.unique(b.satisfaction[on_roll & np.isfinite(b.satisfaction)])) == {1, 2, 3, 4, 5}


def test_the_satisfaction_pulse_rounds_half_to_even_like_numpy() -> None:
    """Pulses exactly halfway between levels (0.5 to 5.5), with no noise (``log u`` = 0), round
    as numpy's ``round`` does."""
    from srmsim.kernels import assessments

    f32 = np.float32
    pulses = np.arange(-1.5, 7.0, 0.5)
    well = np.empty(len(pulses), dtype=f32)
    for j, target in enumerate(pulses):  # a wellbeing whose float32 pulse is exactly the target
        w = f32((target - 3.0) / 0.9)
        for _ in range(200):
            if f32(3.0) + f32(0.9) * w == target:
                break
            w = np.nextafter(w, f32(np.inf) if f32(3.0) + f32(0.9) * w < target else f32(-np.inf))
        well[j] = w
    assert np.array_equal(f32(3.0) + f32(0.9) * well, pulses.astype(f32))
    n = len(pulses)
    zeros = np.zeros(n, dtype=f32)
    got = np.full(n, np.nan, dtype=f32)
    assessments.record_term(f32(0.5), zeros, np.ones(n, dtype=f32), zeros, np.zeros(n, np.int8),
                            np.zeros(n, np.int16), np.zeros(n, np.int16), zeros.copy(), zeros,
                            well, zeros, zeros, zeros, zeros, zeros, zeros.copy(), got)
    want = np.clip(np.round(pulses.astype(f32)), 1, 5)
    np.testing.assert_array_equal(got, want)
    assert list(got[pulses == 2.5]) == [2.0] and list(got[pulses == 3.5]) == [4.0]
