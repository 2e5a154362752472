"""Mutation review of calibration (srmsim/calibrate: moments.py, msm.py, export.py).

Counts: 97 mutations tried (40 of moments.py, 39 of msm.py, 18 of export.py), one at a time
on a copy outside the repository, each against the existing calibrate tests
(test_calibrate.py, test_calibration.py, test_calibrate_msm_review.py,
test_calibrate_fuzz_inputs.py; -x, -n 0, slow ones deselected). 35 were killed by them (one,
the cap on replications + max_evals instead of x, only by hanging until pytest's timeout) and
62 survived. Of the survivors, 57 are killed by this file, 4 are equivalent, 1 is left; no
defect was found:

- equivalent: the exam's read as term 1 instead of term 3 in ``weeks_needed`` (both in the
  first year: 39 weeks either way); the Jacobian divided by +step where the step was taken
  backwards (a column's sign flip: the sandwich's diagonal is unchanged, V -> S V S, and
  ``unidentified`` reads absolute weights); Nelder-Mead's first simplex stepping up from a
  start near the upper bound (scipy 1.17 brings points outside the bounds back inside; a test
  below checks a start at the bound still moves); ``withdrawn`` as status != enrolled instead
  of == withdrawn (a leaver has no history rows after leaving, so no week row is "left").
- left: taking least_squares' own Jacobian even when the best point is not its final one
  (differs only when a finite-difference probe beats the final iterate, and then by the
  Jacobian's change over 2% of the range; a linear simulator cannot show it).

Survivors the new tests kill, by kind: moments by hand (pooled attendance, not the mean of
rates; the quantile levels; FSM groups' denominators and a student with no FSM record; the
slope per 10 points, its z-score and OLS form; the reading SD's n - 1; ICC of unequal schools
with n0 and of two schools; attainment needing three scores; no slope without varying
attendance; sessions only where both counts are given); the spec (months to a week's test;
weeks needed by term; fewer than three schools; no FSM students; weekly over termly sessions;
the busiest term, latest on ties; period ranges; the earliest exam; age plus half a month, a
band's midpoint); the bootstrap (schools from exactly 10; every school drawn; a school drawn
twice kept as two; each school's size kept; the SD with n - 1, floored; n_boot >= 2; SE
halving with four times the students); MSM (the estimate of a linear simulator and the
sandwich (1 + 1/R) B J'CJ B in the parameters' units: correlation, 1 + 1/R, the ranges, a
backward step at the upper bound, no ridge, a weakly identified parameter's finite SE;
tolerance 2 se sqrt(1 + 1/R) and "within"; the reported objective; the upper bound flag;
the start clipped into narrowed bounds; the max_evals budget; fewer moments than parameters;
a parameter whose moments were not chosen; replications x max_evals; years rounded up and
MAX_YEARS; consecutive year groups; prior attainment from half the records and only when it
can be standardised; an empty FSM group of real records withheld, not named; the simulator
averaging its seeds and counting runs; crn_seeds' minimum; unscale clamping; the moments'
correlation with too few replicates, a constant moment and partial rows); the export (no
week rows after withdrawal, term rows only when enrolled; --out a file; --set without a
key).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_calibrate import SAMPLE, import_csvs

from srmsim.calibrate import calibrate
from srmsim.calibrate.moments import (
    MOMENT_NAMES,
    MomentSpec,
    bootstrap_moments,
    floored_se,
    moment_values,
    student_measures,
)
from srmsim.calibrate.msm import KNOWN, Simulator
from srmsim.data import read_dataset

pytestmark = pytest.mark.xdist_group("calibrate")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """data/sample imported as the README shows (445 students, four schools)."""
    return import_csvs(SAMPLE, tmp_path_factory.mktemp("sample") / "imported")


def _targets(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The data's moments and their bootstrap replicates, as calibrate() measures them."""
    ds = read_dataset(data)
    spec = MomentSpec.from_data(ds.students, ds.observations)
    measures = student_measures(ds.students, ds.observations, spec)
    reps, _ = bootstrap_moments(measures, spec, n_boot=200, seed=0)
    return moment_values(measures, spec), reps


# ------------------------------------------------------------- the MSM estimate and its SE
# A linear "simulator" (m(theta) = target + A (theta - truth) on the moments used) replaces the
# simulation: the fit must land on the truth and the standard errors are the GMM sandwich,
# written here in the parameters' own units with W = diag(1 / se^2) and the moments'
# covariance D C D (D = diag(se), C their bootstrap correlation), times 1 + 1/R for R
# simulated replications (Gourieroux, Monfort and Renault 1993; McFadden 1989):
#     V = (1 + 1/R) (A'WA)^-1 A'W (D C D) W A (A'WA)^-1.
USED = ["attendance", "persistent_absence", "reading_gap_mean"]
PARAMS = ["dynamics.absence_logit", "population.reading_gap_mean"]
SLOPES = np.array([[0.030, 0.0010],    # attendance per unit of each parameter
                   [-0.080, 0.0005],   # persistent absence
                   [0.200, 1.0000]])   # reading gap mean


def _linear_simulator(monkeypatch, target: np.ndarray, truth: dict[str, float],
                      slopes: np.ndarray = SLOPES, offsets: dict[str, float] | None = None
                      ) -> None:
    idx = [MOMENT_NAMES.index(m) for m in USED]
    shift = np.zeros(len(MOMENT_NAMES))
    for m, d in (offsets or {}).items():
        shift[MOMENT_NAMES.index(m)] = d

    def moments(self, values: dict[str, float]) -> np.ndarray:
        out = target.copy() + shift
        step = np.array([values[p] - truth[p] for p in PARAMS])
        out[idx] = target[idx] + slopes @ step
        return out

    monkeypatch.setattr(Simulator, "moments", moments)


def _sandwich(se: np.ndarray, corr: np.ndarray, replications: int,
              slopes: np.ndarray = SLOPES) -> np.ndarray:
    w = np.diag(1 / se**2)
    sigma = np.diag(se) @ corr @ np.diag(se)
    bread = np.linalg.inv(slopes.T @ w @ slopes)
    v = (1 + 1 / replications) * bread @ slopes.T @ w @ sigma @ w @ slopes @ bread
    return np.sqrt(np.diag(v))


@pytest.mark.parametrize("method,replications", [("least_squares", 2), ("nelder-mead", 5)])
def test_estimates_and_standard_errors_are_the_msm_sandwich(sample, monkeypatch, method,
                                                            replications) -> None:
    """The estimate is the truth of a linear simulator, and the SEs are the sandwich above:
    the correlation of the moments, the 1 + 1/R simulation noise and the parameters' ranges
    all enter. The reading gap's truth sits near its upper bound (12), so its Jacobian column
    is taken by a backward step."""
    target, reps = _targets(sample)
    truth = {"dynamics.absence_logit": -3.3, "population.reading_gap_mean": 11.8}
    # two moments not fitted miss their targets by 0.9 and 1.1 of their tolerance
    tol_of = {m: 2 * floored_se(reps)[MOMENT_NAMES.index(m)] * math.sqrt(1 + 1 / replications)
              for m in ("attendance_p25", "attendance_p50")}
    _linear_simulator(monkeypatch, target, truth, offsets={
        "attendance_p25": 0.9 * tol_of["attendance_p25"],
        "attendance_p50": -1.1 * tol_of["attendance_p50"]})
    fit = calibrate(sample, params=PARAMS, moments=USED, replications=replications,
                    max_evals=400, method=method, n_boot=200)
    est = fit.estimates.set_index("parameter")
    for p in PARAMS:
        lo, hi = KNOWN[p][:2]
        assert est.loc[p, "estimate"] == pytest.approx(truth[p], abs=0.01 * (hi - lo)), p
    idx = [MOMENT_NAMES.index(m) for m in USED]
    se = floored_se(reps)[idx]
    assert np.allclose(fit.fit.set_index("moment").loc[USED, "se"], se, rtol=1e-12)
    ok = reps[:, idx]
    corr = np.corrcoef(ok[~np.isnan(ok).any(axis=1)], rowvar=False)
    assert abs(corr[0, 1]) > 0.5  # attendance and persistent absence move together
    expected = _sandwich(se, corr, replications)
    assert np.allclose(est.loc[PARAMS, "se"], expected, rtol=1e-6), (est["se"], expected)
    # not the same as treating the moments as independent
    assert not np.allclose(expected, _sandwich(se, np.eye(3), replications), rtol=1e-3)
    # each moment's tolerance: twice the SE of data minus a mean of R simulations
    table = fit.fit.set_index("moment")
    tol = 2 * table["se"] * math.sqrt(1 + 1 / replications)
    assert np.allclose(table["tolerance"], tol)
    assert (table["within"] == (table["difference"].abs() <= tol)).all()
    assert table.loc[USED, "within"].all() and list(table.index[table["used"]]) == USED
    assert table.loc["attendance_p25", "within"] and not table.loc["attendance_p50", "within"]
    assert fit.optimiser["replications"] == replications


# ------------------------------------------------------------- moments of a dataset by hand
def _measures(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"student_id": [f"p{i}" for i in range(n)], "school": ["x"] * n, "fsm": np.nan,
            "possible": 0.0, "attended": 0.0, "attainment": np.nan, "reading_gap": np.nan}
    base.update(cols)
    return pd.DataFrame(base)


def _anova_icc(values, groups) -> float:
    """Donner (1986): (MSB - MSW) / (MSB + (n0 - 1) MSW), n0 the adjusted mean group size."""
    by: dict = {}
    for v, g in zip(values, groups, strict=True):
        by.setdefault(g, []).append(float(v))
    n_total, a = len(values), len(by)
    grand = sum(values) / n_total
    msb = sum(len(v) * (sum(v) / len(v) - grand) ** 2 for v in by.values()) / (a - 1)
    msw = sum(sum((x - sum(v) / len(v)) ** 2 for x in v) for v in by.values()) / (n_total - a)
    n0 = (n_total - sum(len(v) ** 2 for v in by.values()) / n_total) / (a - 1)
    return (msb - msw) / (msb + (n0 - 1) * msw)


SPEC_ALL = dict(attendance_type="week", attendance_periods=(1,), schools=3,
                attainment_field="assessment_score", reading_type="term")


def test_every_moment_of_a_small_dataset_by_hand() -> None:
    """Six students in three schools of unequal size, the last with no sessions (not counted)
    and one with no FSM record (in neither FSM group)."""
    m = _measures(school=["x", "x", "x", "y", "y", "z"], fsm=[1, 0, 1, 0, np.nan, 0],
                  possible=[100.0, 100, 50, 200, 10, 0], attended=[95.0, 90, 20, 150, 10, 0],
                  attainment=[1.0, 2, 0, 3, 5, np.nan],
                  reading_gap=[-6.0, 2, 10, np.nan, np.nan, 2])
    v = dict(zip(MOMENT_NAMES, moment_values(m, MomentSpec(**SPEC_ALL)), strict=True))
    rate = np.array([0.95, 0.90, 0.40, 0.75, 1.0])
    assert v["attendance"] == pytest.approx(365 / 460)  # pooled sessions, not mean of rates
    # missed 5, 10, 30, 50, 0: 10%+ for students 1, 2, 3; 50%+ for student 2
    assert v["persistent_absence"] == pytest.approx(3 / 5)
    assert v["severe_absence"] == pytest.approx(1 / 5)
    assert v["persistent_absence_fsm"] == pytest.approx(1 / 2)  # students 0 and 2
    assert v["persistent_absence_non_fsm"] == pytest.approx(1.0)  # 1 and 3, not 4 (no record)
    # linear-interpolation quantiles of 0.40, 0.75, 0.90, 0.95, 1.00
    assert v["attendance_p10"] == pytest.approx(0.40 + 0.4 * 0.35)
    assert v["attendance_p25"] == pytest.approx(0.75)
    assert v["attendance_p50"] == pytest.approx(0.90)
    assert v["attendance_icc"] == pytest.approx(_anova_icc(rate, list("xxxyy")))
    assert v["attainment_icc"] == pytest.approx(_anova_icc([1, 2, 0, 3, 5], list("xxxyy")))
    a = np.array([1.0, 2, 0, 3, 5])
    ols = np.polyfit(10 * rate, (a - a.mean()) / a.std(), 1)[0]  # z-score per 10 points
    assert v["attainment_attendance_slope"] == pytest.approx(ols)
    assert v["reading_gap_mean"] == pytest.approx(2.0)
    assert v["reading_gap_sd"] == pytest.approx(math.sqrt(128 / 3))  # sample SD of -6, 2, 10, 2


def test_icc_of_unequal_schools_and_of_two_schools() -> None:
    """Unequal sizes use n0, not the mean school size; two schools are enough."""
    from srmsim.calibrate.moments import _icc

    y = np.array([1.0, 2, 4, 3, 5, 9, 8, 7, 6, 0, 1])
    g = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2])
    assert _icc(y, g) == pytest.approx(_anova_icc(y, g))
    assert _icc(y[:9], g[:9]) == pytest.approx(_anova_icc(y[:9], g[:9]))


def test_the_slope_needs_attendance_that_varies() -> None:
    m = _measures(school=list("xxyyzz"), possible=[10.0] * 6, attended=[9.0] * 6,
                  attainment=[1.0, 2, 3, 4, 5, 7])
    from srmsim.calibrate.moments import moments_table

    table = moments_table(m, MomentSpec(**SPEC_ALL)).set_index("moment")
    assert math.isnan(table.loc["attainment_attendance_slope", "value"])
    assert table.loc["attainment_attendance_slope", "n"] == 0  # measured on no one
    assert table.loc["attendance", "value"] == 0.9


def test_sessions_are_summed_only_where_both_counts_are_given() -> None:
    st = pd.DataFrame({"student_id": ["a", "b"], "school": ["x", "x"]})
    ob = pd.DataFrame({"student_id": ["a", "a", "b", "b"], "period_type": "week",
                       "period": [1, 2, 1, 2], "sessions_possible": [10.0, 10, 10, 10],
                       "sessions_attended": [8.0, np.nan, 10, 9]})
    spec = MomentSpec.from_data(st, ob)
    assert spec.attendance_periods == (1, 2)
    meas = student_measures(st, ob, spec)
    assert list(meas["possible"]) == [10.0, 20.0] and list(meas["attended"]) == [8.0, 19.0]


# ------------------------------------------------------------- the spec: what is read, when
def test_the_reading_gap_on_week_one_matches_the_simulated_gap() -> None:
    """Reading ages on a week row are compared with the age at the end of that week: on the
    export of a run the measured gap is the run's own gap at week 1, up to rounding."""
    from test_calibrate import small_scenario

    from srmsim.calibrate.export import records_from_run
    from srmsim.calibrate.moments import elapsed_months_at_test
    from srmsim.model import TrustModel

    model = TrustModel(small_scenario(), seed=5)
    model.run()
    result = model.results()
    model.release()
    students, obs = records_from_run(result)
    spec = MomentSpec(reading_type="week", reading_period=1,
                      reading_elapsed_months=elapsed_months_at_test("week", 1))
    measured = student_measures(students, obs, spec)["reading_gap"]
    hist = result.history
    simulated = hist.loc[hist["run_week"] == 0, "reading_gap"]
    assert measured.notna().sum() == len(simulated) > 100
    assert measured.mean() == pytest.approx(simulated.mean(), abs=0.1)


def test_months_to_a_test_and_weeks_a_simulation_needs() -> None:
    from srmsim.calibrate.moments import elapsed_months_at_test

    month = 12 / 39
    assert elapsed_months_at_test("week", 1) == pytest.approx(month)
    assert elapsed_months_at_test("term", 1) == pytest.approx(14 * month)  # after week 13
    assert elapsed_months_at_test("term", 6) == pytest.approx((39 + 39) * month)
    assert MomentSpec(attendance_type="term", attendance_periods=(1, 2, 3)).weeks_needed == 39
    assert MomentSpec(attendance_type="term", attendance_periods=(3, 4)).weeks_needed == 78
    assert MomentSpec(reading_type="term", reading_period=6).weeks_needed == 78
    assert MomentSpec(attendance_type="week", attendance_periods=(1, 40)).weeks_needed == 40


def _records(n_schools: int = 3, fsm=(True, False), **obs_cols):
    st = pd.DataFrame({"student_id": [f"p{i}" for i in range(2 * n_schools)],
                       "school": [f"s{i // 2}" for i in range(2 * n_schools)],
                       "fsm": list(fsm) * n_schools, "age_months": 140})
    ob = pd.DataFrame({"student_id": st["student_id"], "period_type": "week", "period": 1,
                       "sessions_possible": 10.0, "sessions_attended": 9.0})
    return st, ob


def test_the_spec_chooses_rows_and_skips_with_reasons() -> None:
    st, ob = _records(n_schools=2)
    spec = MomentSpec.from_data(st, ob)
    assert "at least 3 schools (the data have 2)" in spec.skipped["attendance_icc"]
    st3, ob3 = _records(fsm=(False, False))
    assert MomentSpec.from_data(st3, ob3).skipped["persistent_absence_fsm"] == "no FSM students"
    # weekly sessions are preferred to termly ones (never both: the same sessions)
    term = ob3.assign(period_type="term", sessions_possible=100.0, sessions_attended=50.0)
    spec = MomentSpec.from_data(st3, pd.concat([ob3, term], ignore_index=True))
    assert spec.attendance_type == "week"
    # reading ages: term rows are preferred to week-one rows; the busiest term, latest on ties
    reading = pd.concat([
        ob3.assign(reading_age_months=150.0),
        ob3.assign(period_type="term", period=1, reading_age_months=150.0),
        ob3.assign(period_type="term", period=2, reading_age_months=150.0)], ignore_index=True)
    spec = MomentSpec.from_data(st3, reading)
    assert (spec.reading_type, spec.reading_period) == ("term", 2)
    assert MomentSpec(attendance_periods=(1, 2, 3, 5, 7, 8)).to_dict()["attendance_periods"] \
        == "1-3,5,7-8"


def test_the_earliest_exam_and_the_age_at_the_test() -> None:
    """A student with two exam scores is measured on the earlier; a reading age is compared
    with the age in completed months plus half a month (a band: its midpoint) plus the months
    to the test."""
    from srmsim.calibrate.moments import elapsed_months_at_test

    st = pd.DataFrame({"student_id": ["a", "b"], "school": "x", "age_months": [140, 150]})
    ob = pd.DataFrame({"student_id": ["a", "a", "b"], "period_type": "term",
                       "period": [6, 3, 3], "exam_score": [120.0, 90.0, 100.0],
                       "reading_age_months": [np.nan, 160.0, 170.0]})
    spec = MomentSpec.from_data(st, ob)
    assert spec.attainment_field == "exam_score" and spec.reading_period == 3
    meas = student_measures(st, ob, spec)
    assert list(meas["attainment"]) == [90.0, 100.0]
    to_test = elapsed_months_at_test("term", 3)
    assert np.allclose(meas["reading_gap"], [160 - 140.5 - to_test, 170 - 150.5 - to_test])
    banded = st.drop(columns="age_months").assign(age_months_min=[140, 144],
                                                  age_months_max=[143, 155])
    meas = student_measures(banded, ob, spec)  # exact ages 140-144 and 144-156 months
    assert np.allclose(meas["reading_gap"], [160 - 142 - to_test, 170 - 150 - to_test])


# ------------------------------------------------------------- the bootstrap
def test_bootstrap_method_switches_at_ten_schools() -> None:
    for schools, method in ((9, "students"), (10, "schools")):
        m = _measures(school=[f"s{i % schools}" for i in range(3 * schools)],
                      possible=[10.0] * (3 * schools), attended=[9.0] * (3 * schools))
        assert bootstrap_moments(m, MomentSpec(**SPEC_ALL), n_boot=2)[1] == method


def test_a_school_bootstrap_draws_every_school_and_keeps_repeats_apart() -> None:
    """Ten identical schools of two students attending 50% and 100%: every resample's ICC is
    exactly -1 when each drawn school is its own group (a school drawn twice merged into one
    group gave another value); the last school, alone at lower attendance elsewhere, is drawn."""
    n = 10
    m = _measures(school=[f"s{i // 2}" for i in range(2 * n)], possible=[10.0] * (2 * n),
                  attended=[5.0, 10.0] * n)
    reps, method = bootstrap_moments(m, MomentSpec(**SPEC_ALL), n_boot=50, seed=3)
    icc = reps[:, MOMENT_NAMES.index("attendance_icc")]
    assert method == "schools" and np.allclose(icc, -1.0)
    m.loc[m["school"] == "s9", "attended"] = 2.0
    reps, _ = bootstrap_moments(m, MomentSpec(**SPEC_ALL), n_boot=100, seed=3)
    att = reps[:, MOMENT_NAMES.index("attendance")]
    assert (att < 0.75).mean() > 0.3  # P(school s9 drawn) = 1 - 0.9**10 = 0.65


def test_a_student_bootstrap_keeps_each_schools_size() -> None:
    """Three schools of three: every resample's share is a count over 9 students."""
    m = _measures(school=list("xxxyyyzzz"), possible=[10.0] * 9,
                  attended=[5.0, 10, 10, 5, 10, 10, 10, 10, 5])
    reps, method = bootstrap_moments(m, MomentSpec(**SPEC_ALL), n_boot=60, seed=1)
    pa = reps[:, MOMENT_NAMES.index("persistent_absence")] * 9
    assert method == "students" and np.allclose(pa, np.round(pa))
    assert len(np.unique(np.round(pa))) > 2


def test_bootstrap_se_is_the_sample_sd_floored_and_scales_with_the_sample() -> None:
    from srmsim.calibrate.moments import MOMENTS
    from srmsim.errors import SrmsimError

    k = len(MOMENTS)
    reps = np.tile(np.array([[0.0], [1.0], [2.0], [3.0]]), (1, k))
    reps[:, 1] = 0.5  # a moment that does not vary gets its floor
    reps[:, 2] = np.nan  # nor one never measured
    se = floored_se(reps)
    floors = np.array([d.se_floor for d in MOMENTS])
    assert se[0] == pytest.approx(math.sqrt(5 / 3))  # SD of 0..3 with n - 1
    assert se[1] == floors[1] and se[2] == floors[2]
    with pytest.raises(SrmsimError, match="n_boot"):
        bootstrap_moments(_measures(possible=[1.0, 1.0], attended=[1.0, 0.0]),
                          MomentSpec(**SPEC_ALL), n_boot=1)
    # a reading gap's SE is sd / sqrt(n): four times the students, half the SE
    rng = np.random.default_rng(4)
    ses = []
    for n in (400, 1600):
        m = _measures(school=[f"s{i % 12}" for i in range(n)], reading_gap=rng.normal(0, 10, n))
        ses.append(floored_se(bootstrap_moments(m, MomentSpec(**SPEC_ALL), 400, 2)[0]))
    i = MOMENT_NAMES.index("reading_gap_mean")
    assert ses[0][i] == pytest.approx(10 / 20, rel=0.15)
    assert ses[0][i] / ses[1][i] == pytest.approx(2.0, rel=0.2)


def test_a_truth_beyond_a_bound_ends_at_it_and_says_so(sample, monkeypatch) -> None:
    """The reading gap's truth (20) is above its upper bound (12): the fit stops at 12 and
    flags it; a start outside narrowed bounds starts at the nearer bound."""
    target, _ = _targets(sample)
    _linear_simulator(monkeypatch, target, {"dynamics.absence_logit": -3.3,
                                            "population.reading_gap_mean": 20.0})
    fit = calibrate(sample, params=["dynamics.absence_logit=-3.5:-2.5",
                                    "population.reading_gap_mean"],
                    moments=USED, replications=1, max_evals=200, n_boot=20)
    est = fit.estimates.set_index("parameter")
    assert est.loc["dynamics.absence_logit", "start"] == -3.5  # the default -4.1, clipped
    assert est.loc["population.reading_gap_mean", "estimate"] == pytest.approx(12.0, abs=0.05)
    assert list(est["at_bound"]) == [False, True]
    assert any("reading_gap_mean ended at a bound" in n for n in fit.notes)
    # the objective reported is the sum of squared standardised differences of the moments used
    used = fit.fit.set_index("moment").loc[USED]
    objective = float((((used["simulated"] - used["target"]) / used["se"]) ** 2).sum())
    assert objective > 1 and fit.optimiser["objective"] == pytest.approx(objective)


def test_the_search_stops_at_max_evals(sample, monkeypatch) -> None:
    target, _ = _targets(sample)
    _linear_simulator(monkeypatch, target, {"dynamics.absence_logit": -3.0,
                                            "population.reading_gap_mean": 5.0})
    fit = calibrate(sample, params=PARAMS, moments=USED, replications=1, max_evals=3,
                    n_boot=20)
    assert fit.optimiser["budget_exhausted"] and fit.optimiser["evaluations"] == 3
    assert fit.optimiser["se_evaluations"] <= len(PARAMS)


def test_fewer_moments_than_parameters_is_refused(sample, monkeypatch) -> None:
    from srmsim.errors import DataError

    target, _ = _targets(sample)
    _linear_simulator(monkeypatch, target, {"dynamics.absence_logit": -3.0,
                                            "population.reading_gap_mean": 5.0})
    from srmsim.calibrate.msm import Parameter

    both = [Parameter("dynamics.absence_logit", -6.0, -2.0, ("attendance",)),
            Parameter("dynamics.absence_engagement", 0.0, 4.0, ("attendance",))]
    with pytest.raises(DataError, match="2 parameters but only 1 moments"):
        calibrate(sample, params=both, moments=["attendance"], max_evals=3, n_boot=20)


def test_records_reaching_week_40_are_simulated_for_two_years(tmp_path, monkeypatch) -> None:
    """Weeks needed are rounded up to whole school years; beyond MAX_YEARS is refused."""
    from conftest import small_record_trust

    from srmsim.data.dataset import Dataset, write_dataset
    from srmsim.errors import DataError
    from srmsim.scenario import MAX_YEARS

    monkeypatch.setattr(Simulator, "moments", lambda self, values: np.full(len(MOMENT_NAMES), 0.9))
    for last, years in ((39, 1), (40, 2), (39 * MAX_YEARS, MAX_YEARS),
                        (39 * MAX_YEARS + 1, None)):
        # 90%+ of 30 would bound a count, and so would 80% beside the 30 persistently absent
        # the summary prints (0.1 x 30 + 0.4 x severe <= 0.2 x 30: at most 7 severely absent)
        ds = small_record_trust(30, attended=lambda i, w: 6)
        obs = ds.observations.copy()
        obs.loc[obs["period"] == 3, "period"] = last
        data = tmp_path / f"w{last}"
        write_dataset(Dataset(ds.students, obs, ds.meta), data)
        kw = dict(params="dynamics.absence_logit", moments=["attendance"], max_evals=2,
                  replications=1, n_boot=20)
        if years is None:
            with pytest.raises(DataError, match=f"{MAX_YEARS + 1} school years"):
                calibrate(data, **kw)
        else:
            assert calibrate(data, **kw).optimiser["years_simulated"] == years


def test_the_simulator_averages_its_seeds_and_counts_each_run(monkeypatch) -> None:
    from srmsim.scenario import Scenario

    sim = Simulator(Scenario(), MomentSpec(), seeds=[1, 2, 6])
    monkeypatch.setattr(Simulator, "run_moments",
                        lambda self, sc, seed: np.full(len(MOMENT_NAMES), float(seed)))
    assert np.allclose(sim.moments({"dynamics.absence_logit": -4.0}), 3.0)
    assert sim.evaluations == 3


def test_parameters_need_a_range_and_consecutive_year_groups() -> None:
    from srmsim.calibrate.msm import _prior_share, _year_groups, parse_parameters
    from srmsim.errors import DataError, ScenarioError

    with pytest.raises(ScenarioError, match="must be below"):
        parse_parameters("dynamics.absence_logit=-3:-3")
    with pytest.raises(DataError, match=r"year groups \[7, 9\] are not consecutive"):
        _year_groups(pd.DataFrame({"year_group": [7, 9, 7]}), "d")
    # a prior attainment that cannot be standardised (one value) is not used at all
    assert _prior_share(pd.DataFrame({"prior_attainment": [100.0, 100.0, np.nan]})) == 0.0
    assert _prior_share(pd.DataFrame({"prior_attainment": [90.0, 100.0, np.nan, np.nan]})) \
        == 0.5


def test_undefined_moments_are_skipped_with_a_reason_except_those_kept() -> None:
    """A NaN moment is skipped with its reason, unless kept (withheld on real records, where
    a reason could give a count away)."""
    from srmsim.calibrate.moments import skip_undefined

    values = np.full(len(MOMENT_NAMES), 0.5)
    values[MOMENT_NAMES.index("reading_gap_sd")] = np.nan
    values[MOMENT_NAMES.index("attendance_icc")] = np.nan
    spec = MomentSpec()
    assert skip_undefined(spec, values, keep={"reading_gap_sd"}) == ["attendance_icc"]
    assert "reading_gap_sd" not in spec.skipped
    assert spec.skipped["attendance_icc"].startswith("undefined on these data: no variation")


def test_moment_correlation_of_bootstrap_replicates() -> None:
    """Pearson correlation over the replicates with every moment measured; a moment that does
    not vary is uncorrelated with the rest (and 1 with itself); too few replicates: none."""
    from srmsim.calibrate.msm import _moment_correlation

    a = np.array([1.0, 2, 3, 4, 5, np.nan])
    b = np.array([2.0, 1, 4, 3, 6, 0])
    c = np.full(6, 0.7)
    corr = _moment_correlation(np.column_stack([a, b, c]))
    r = np.corrcoef(a[:5], b[:5])[0, 1]
    assert np.allclose(corr, [[1, r, 0], [r, 1, 0], [0, 0, 1]])
    assert np.array_equal(_moment_correlation(np.column_stack([a, b])[[0, 1, 5]]), np.eye(2))


def test_seeds_and_parameter_scaling() -> None:
    from srmsim.calibrate.msm import Parameter, crn_seeds
    from srmsim.errors import SrmsimError

    with pytest.raises(SrmsimError, match="at least 1"):
        crn_seeds(3, 0)
    assert crn_seeds(3, 3)[:2] == crn_seeds(3, 2)  # more replications add seeds
    p = Parameter("dynamics.absence_logit", -6.0, -2.0)
    assert p.scale(-5.0) == 0.25 and p.unscale(0.25) == -5.0
    assert p.unscale(1.5) == -2.0 and p.unscale(-0.5) == -6.0  # trial points are kept inside


def test_a_weakly_identified_parameter_still_gets_its_large_standard_error(sample,
                                                                          monkeypatch) -> None:
    """A reading gap that moves its moment 1000 times less (J'J's condition number about 2e6,
    far from singular) has a large but finite SE, the sandwich's."""
    target, reps = _targets(sample)
    weak = SLOPES * np.array([1.0, 1e-3])
    _linear_simulator(monkeypatch, target, {"dynamics.absence_logit": -3.3,
                                            "population.reading_gap_mean": 0.0}, weak)
    fit = calibrate(sample, params=PARAMS, moments=USED, replications=2, max_evals=100)
    idx = [MOMENT_NAMES.index(m) for m in USED]
    ok = reps[:, idx]
    corr = np.corrcoef(ok[~np.isnan(ok).any(axis=1)], rowvar=False)
    expected = _sandwich(floored_se(reps)[idx], corr, 2, weak)
    assert expected[1] > 100  # months: the moments barely say anything about it
    assert np.allclose(fit.estimates["se"], expected, rtol=1e-6)


def test_replications_times_evaluations_is_capped(sample, monkeypatch) -> None:
    """The cap is on simulated trusts, replications x max_evals (2,000 x 600 = 1.2 million),
    refused before any simulation."""
    from srmsim.errors import SrmsimError

    calls = []
    monkeypatch.setattr(Simulator, "moments", lambda self, values: calls.append(values))
    with pytest.raises(SrmsimError, match="1,200,000 simulated trusts"):
        calibrate(sample, params=PARAMS, moments=USED, replications=2000, max_evals=600)
    assert calls == []


def test_a_parameter_whose_moments_were_not_chosen_is_refused(sample, monkeypatch) -> None:
    from srmsim.errors import DataError

    target, _ = _targets(sample)
    _linear_simulator(monkeypatch, target, {"dynamics.absence_logit": -3.0,
                                            "population.reading_gap_mean": 5.0})
    with pytest.raises(DataError, match="absence_logit.*not among the moments chosen"):
        calibrate(sample, params=PARAMS, moments=["reading_gap_mean", "attendance_p50"],
                  max_evals=5, n_boot=20)


def test_nelder_mead_leaves_a_start_at_the_upper_bound(sample, monkeypatch) -> None:
    """The default absence_logit (-4.1) is the upper bound of -6:-4.1: the search still
    leaves it (the first simplex steps down from it)."""
    target, _ = _targets(sample)
    _linear_simulator(monkeypatch, target, {"dynamics.absence_logit": -5.0,
                                            "population.reading_gap_mean": 5.0})
    fit = calibrate(sample, params=["dynamics.absence_logit=-6:-4.1",
                                    "population.reading_gap_mean"], moments=USED,
                    method="nelder-mead", replications=1, max_evals=300, n_boot=20)
    est = fit.estimates.set_index("parameter")["estimate"]
    assert est["dynamics.absence_logit"] == pytest.approx(-5.0, abs=0.02)
    assert est["population.reading_gap_mean"] == pytest.approx(5.0, abs=0.2)


def test_prior_attainment_for_half_the_students_is_used(tmp_path) -> None:
    """From half the records with a prior attainment the simulation starts them at it, so
    attainment_icc has almost no effect and asking to fit it is refused."""
    from conftest import small_record_trust

    from srmsim.data.dataset import Dataset, write_dataset
    from srmsim.errors import DataError

    ds = small_record_trust(40)
    st = ds.students.assign(prior_attainment=[90.0 + i if i % 2 else np.nan for i in range(40)])
    write_dataset(Dataset(st, ds.observations, ds.meta), tmp_path / "d")
    with pytest.raises(DataError, match="prior attainment for at least half of the students"):
        calibrate(tmp_path / "d", params="population.attainment_icc", max_evals=2)


@pytest.mark.parametrize("fsm", [True, False])
def test_an_empty_fsm_group_of_real_records_is_withheld_not_named(tmp_path, monkeypatch,
                                                                   fsm) -> None:
    """Every pupil FSM (or none): "no non-FSM students" would print a count of 0 from real
    records; the moment is withheld like a group of 1 to 9 instead."""
    from conftest import small_record_trust

    from srmsim.data.dataset import Dataset, write_dataset

    monkeypatch.setattr(Simulator, "moments", lambda self, values: np.full(len(MOMENT_NAMES), 0.9))
    ds = small_record_trust(40, attended=lambda i, w: 8)  # 90%+ of 40 would bound a count
    assert ds.meta["real_data"]
    write_dataset(Dataset(ds.students.assign(fsm=fsm), ds.observations, ds.meta), tmp_path / "d")
    fit = calibrate(tmp_path / "d", params="dynamics.absence_logit", moments=["attendance"],
                    max_evals=2, replications=1, n_boot=20)
    empty = "persistent_absence_non_fsm" if fsm else "persistent_absence_fsm"
    assert empty in fit.withheld.moments
    assert not any("FSM students" in note for note in fit.notes), fit.notes


# ------------------------------------------------------------- the export
def test_withdrawn_students_have_no_rows_after_they_withdrew(tmp_path) -> None:
    """Sixth formers who mostly withdraw: a student's week rows stop at the week they withdrew
    (the run keeps them in its history, with no sessions), and a term row needs them enrolled
    at the term's end."""
    from test_calibrate import small_scenario

    from srmsim.calibrate.export import records_from_run
    from srmsim.model import TrustModel

    sc = small_scenario({"trust.year_groups": [12, 13], "dynamics.withdrawal_annual": 0.9})
    model = TrustModel(sc, seed=5)
    model.run()
    result = model.results()
    model.release()
    _, obs = records_from_run(result)
    weeks = obs[obs["period_type"] == "week"]
    terms = obs[obs["period_type"] == "term"]
    assert (weeks["sessions_possible"] > 0).all()
    left = weeks[weeks["withdrawn"].astype(bool)].set_index("student_id")["period"]
    assert len(left) > 20 and left.index.is_unique
    last_week = weeks.groupby("student_id")["period"].max()
    assert (last_week.loc[left.index] == left).all()
    term_end = {1: 13, 2: 25, 3: 38}  # the run week (0-based) each term ends in
    ends = terms["period"].map(term_end)
    gone = terms["student_id"].map(left)  # the week row they withdrew on: run week + 1
    assert (ends[gone.notna()] < gone[gone.notna()] - 1).all()
    assert gone.notna().any()  # some withdrew after a term's end and keep that term's row
    enrolled = result.history.query("week in [13, 25, 38] and status == 'enrolled'")
    assert len(terms) == len(enrolled)


def test_records_are_written_into_a_directory_and_set_needs_a_key(tmp_path) -> None:
    from srmsim.calibrate.export import main as export_main
    from srmsim.calibrate.export import write_records
    from srmsim.errors import DataError

    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="exists and is not a directory"):
        write_records(pd.DataFrame(), pd.DataFrame(), tmp_path / "file")
    # its --set is the one every command reads (srmsim.settings.parse_settings)
    assert export_main(["--out", str(tmp_path / "o"), "--set", " =5"]) == 2
    assert not (tmp_path / "o").exists()
