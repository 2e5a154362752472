"""Mutation review of in-silico trials (srmsim/trial: assign, analyse, groups, spec).

Counts: 105 mutations tried (17 of assign.py, 46 of analyse.py, 36 of spec.py, 6 of
groups.py), one at a time on a copy outside the repository, each against the existing trial
tests (test_trial.py without its three executor/CLI-subprocess tests, test_trial_review.py,
test_trial_hostile_review.py, test_trial_null_claim.py; spec.py mutants against the
validation tests of those files and test_spec_fuzz_validation.py). 43 were killed by them and
62 survived. Of the survivors, 57 are killed by this file, 4 are equivalent and 1 revealed a
defect, now fixed:

- defect: ``>`` for ``>=`` in the stepped-wedge panel's persistent absence survived because
  the float test it mutated was already wrong: 1 - 117/130 is 0.0999..., so a period with
  exactly 10% of sessions missed was not persistent absence (students.parquet counts it by
  whole sessions). The panel now counts whole sessions as well
  (test_panel_persistent_absence_counts_exactly_ten_percent_missed).
- equivalent: ``self._arm[pos].copy()`` without ``.copy()`` (fancy indexing already copies);
  the school randomisation drawn under the wedge's decision name (another stream of the same
  hash, as independent of the simulation; nothing promises which schools a seed picks);
  ``n_schools < steps`` for ``n_schools < max(steps, 2)`` (steps below 2 are refused before
  check_schools runs); ``aggfunc="mean"`` for ``"first"`` in truth_effects (one value per
  replication, group and outcome).

Survivors the new tests kill, by kind: assignment (trust-wide randomisation where the file
said within schools; 1 - share treated; the lowest uids treated instead of random ones; a
later intake re-randomising everyone; draws by list position instead of uid; an unsorted
lookup table; wedge groups in school-number order or referring a week late; eligibility from
week 1; a too-small trust not refused at build time); estimates (complete cases by any
instead of all columns; n_missing, n_treated, df, alpha, the baseline and the school fixed
effects dropped or altered; block: none given school effects; GEE and the mixed model of a
school trial left without their school cluster; TWFE's df and alpha; the wedge mixed model
without period effects; group_time's df and seed); truths (the wedge truth weighted by
students or including the all-treated period; the served truth over everyone; missing-truth
and served counts; the naive comparison outside the population, missing its pre-measure
filter, or against the counterfactual pre); the panel (period ends, students off roll,
cumulative instead of period sessions, the reading gap's sign, a new uid matched to an old
one); screening (only the last due trigger's flags); validation (share 0 or 1, alpha 0.5,
steps over 100, the weeks and bootstrap limits, wedge defaults, GEE's sandwich, a seed of 0,
built blocks of the whole trust, wedge-only refusals, a records trial's payload); and the
treated arm's truths (control students included, the counterfactual column, the level, the
paired direction, the mean group size).

Every expected number here is worked out from the design (exact counts of a complete
randomisation), a least-squares fit or a sandwich written out with numpy, or a truth built
into synthetic data; none is read back from the code under test.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from test_trial_review import SCENARIOS, _trial  # the trial review's small trial

from srmsim.errors import ScenarioError, SrmsimError
from srmsim.trial import trial_from_dict
from srmsim.trial.analyse import (
    CF,
    PanelRecorder,
    estimate,
    panel_data,
    student_data,
    truths,
)
from srmsim.trial.assign import (
    SchoolAssignment,
    SteppedWedgeAssignment,
    StudentAssignment,
    make_assignment,
)
from srmsim.trial.spec import NEVER, treated_count


# ------------------------------------------------------------------ assignment
def _roll(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """300 students of three schools of unequal size, handed over in a shuffled order."""
    rng = np.random.default_rng(seed)
    uid = np.arange(1000, 1300, dtype=np.int64)
    school = np.repeat([0, 1, 2], [120, 101, 79])
    order = rng.permutation(len(uid))
    return uid[order], school[order]


def test_students_are_randomised_within_each_school_to_the_exact_count():
    """block: school treats exactly round-half-up(share x n) of each school, picked at random
    (not the lowest uids), reproducibly by seed and whatever order the students come in."""
    uid, school = _roll()
    a = StudentAssignment(7, 0.3, "school")
    t = a.treated(uid, school)
    for s, n in ((0, 120), (1, 101), (2, 79)):
        assert int(t[school == s].sum()) == treated_count(n, 0.3)
        lowest = np.sort(uid[school == s])[:treated_count(n, 0.3)]
        assert not np.array_equal(np.sort(uid[(school == s) & t]), lowest)
    assert np.array_equal(StudentAssignment(7, 0.3, "school").treated(uid, school), t)
    assert not np.array_equal(StudentAssignment(8, 0.3, "school").treated(uid, school), t)
    # the draw belongs to the student (uid), not to the position in the list handed over
    back = uid[::-1], school[::-1]
    assert np.array_equal(StudentAssignment(7, 0.3, "school").treated(*back), t[::-1])
    assert np.array_equal(a.eligible_from(uid, school), np.where(t, 0, NEVER))
    assert a.known(uid).all() and not a.known(np.array([5, 2000])).any()


def test_students_randomised_across_the_trust_are_one_block():
    uid, school = _roll(1)
    t = StudentAssignment(7, 0.3, "none").treated(uid, school)
    assert int(t.sum()) == treated_count(300, 0.3) == 90
    # across the trust a school's count is left to chance: with these seeds at least one
    # school is off its own within-school count
    assert any(int(t[school == s].sum()) != treated_count(n, 0.3)
               for s, n in ((0, 120), (1, 101), (2, 79)))


def test_a_later_intake_is_its_own_block_and_earlier_students_keep_their_arm():
    uid, school = _roll(2)
    a = StudentAssignment(4, 0.5, "school")
    first = a.treated(uid, school)
    new_uid = np.arange(5000, 5030, dtype=np.int64)[::-1]  # new uids, unsorted
    new_school = np.repeat([0, 1, 2], [13, 10, 7])
    both = a.treated(np.r_[new_uid, uid], np.r_[new_school, school])
    assert np.array_equal(both[30:], first)  # nobody already randomised changes arm
    for s, n in ((0, 13), (1, 10), (2, 7)):
        assert int(both[:30][new_school == s].sum()) == treated_count(n, 0.5)
    assert np.array_equal(a.treated(uid, school), first)  # and asking again changes nothing


def test_school_assignment_refers_from_the_first_week():
    a = SchoolAssignment(5, 0.5, 10)
    school = np.repeat(np.arange(10), 3)
    want = np.where(a.school_treated[school], 0, NEVER)
    assert np.array_equal(a.eligible_from(np.arange(30), school), want)
    assert int(a.school_treated.sum()) == 5


@pytest.mark.parametrize("n_schools,steps", [(7, 3), (12, 5), (6, 6), (13, 4)])
def test_stepped_wedge_groups_are_as_equal_as_possible_and_start_in_turn(n_schools, steps):
    """Groups 1..steps (period 0 is everyone's control period), sizes floor or ceil of
    n / steps; group k may refer from week k x step_weeks."""
    a = SteppedWedgeAssignment(9, steps, 13, n_schools)
    sizes = np.bincount(a.start_period, minlength=steps + 1)
    assert sizes[0] == 0 and sizes.sum() == n_schools
    small, extra = divmod(n_schools, steps)
    assert sorted(sizes[1:].tolist()) == [small] * (steps - extra) + [small + 1] * extra
    assert np.array_equal(a.start_week, a.start_period * 13)
    school = np.arange(n_schools)
    assert np.array_equal(a.eligible_from(school, school), a.start_period * 13)
    # the order is random: some seed puts the schools in another order than school numbers
    orders = {tuple(SteppedWedgeAssignment(s, steps, 13, n_schools).start_period)
              for s in range(5)}
    assert len(orders) > 1


def test_make_assignment_refuses_a_trust_too_small_for_the_design():
    """A trust from records has its school count only once built: 3 schools at share 0.5
    leave 1 in an arm (2 + 1), which make_assignment must refuse, not run."""
    t = _trial()
    with pytest.raises(SrmsimError, match="at least 2 schools in each arm"):
        make_assignment(t, 1, 3)
    assert isinstance(make_assignment(t, 1, 4), SchoolAssignment)


# ------------------------------------------------------------------ estimates by hand
def _students(n_schools: int, per_school: int, effect: float, seed: int,
              shock_sd: float = 0.0) -> pd.DataFrame:
    """Students of a trial as :func:`estimate` reads them, with a known effect and baseline."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(n_schools), per_school)
    arm = np.where(rng.permutation(len(school)) % 2 == 0, "treated", "control")
    base = rng.normal(0, 1, len(school))
    y = (0.2 * school + 0.5 * base + effect * (arm == "treated")
         + rng.normal(0, shock_sd, n_schools)[school] + rng.normal(0, 0.3, len(school)))
    return pd.DataFrame({"school": school, "arm": arm, "attendance_rate": y,
                         "prior_attainment": base, "in_population": True})


def _ols(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    M = np.linalg.inv(X.T @ X)
    b = M @ X.T @ y
    return b, M, y - X @ b


def test_students_trial_is_ols_with_school_effects_baseline_and_hc1_by_hand():
    """The default analysis of a students trial blocked by school: OLS of the outcome on the
    arm, the baseline and school dummies, HC1 SE, t(n - k); the interval at the file's alpha.
    Rows missing the outcome or the baseline are left out and counted."""
    t = _trial(randomise={"unit": "students"}, baseline="prior_attainment",
               analysis={"alpha": 0.1})
    data = _students(4, 30, effect=0.4, seed=1)
    data.loc[3, "attendance_rate"] = np.nan
    data.loc[[7, 8], "prior_attainment"] = np.nan
    got = estimate(t, data, seed=1).row
    d = data.dropna()
    y = d["attendance_rate"].to_numpy()
    X = np.column_stack([np.ones(len(d)), (d["arm"] == "treated").to_numpy(float),
                         d["prior_attainment"].to_numpy(),
                         *[(d["school"] == s).to_numpy(float) for s in (1, 2, 3)]])
    b, M, e = _ols(X, y)
    n, k = X.shape
    V = n / (n - k) * M @ (X.T * e**2) @ X @ M
    se = math.sqrt(V[1, 1])
    assert got["estimate"] == pytest.approx(b[1], rel=1e-9)
    assert got["se"] == pytest.approx(se, rel=1e-9)
    assert got["df"] == n - k
    half = sps.t.ppf(0.95, n - k) * se
    assert got["ci_low"] == pytest.approx(b[1] - half, rel=1e-9)
    assert got["ci_high"] == pytest.approx(b[1] + half, rel=1e-9)
    assert got["p_value"] == pytest.approx(2 * sps.t.sf(abs(b[1] / se), n - k), rel=1e-6)
    treated = (d["arm"] == "treated").to_numpy()
    assert (got["n"], got["n_missing"]) == (117, 3)
    assert (got["n_treated"], got["n_control"]) == (int(treated.sum()), int((~treated).sum()))
    assert got["n_clusters"] == 4


def test_students_trial_across_the_trust_has_no_school_effects():
    """block: none: the students were randomised as one block, so no school dummies."""
    t = _trial(randomise={"unit": "students", "block": "none"})
    data = _students(4, 30, effect=0.4, seed=2)
    got = estimate(t, data, seed=1).row
    y = data["attendance_rate"].to_numpy()
    X = np.column_stack([np.ones(len(y)), (data["arm"] == "treated").to_numpy(float)])
    b, M, e = _ols(X, y)
    assert got["estimate"] == pytest.approx(b[1], rel=1e-9)
    assert got["df"] == len(y) - 2


def test_only_the_screened_population_is_analysed():
    t = _trial(randomise={"unit": "students"})
    data = _students(4, 30, effect=0.4, seed=3)
    data["in_population"] = np.arange(len(data)) % 3 != 0
    got = estimate(t, data, seed=1).row
    pop = data[data["in_population"]]
    assert got["n"] == len(pop) == 80
    alone = estimate(t, pop.reset_index(drop=True), seed=1).row
    assert got["estimate"] == alone["estimate"]


def _cr1(X: np.ndarray, y: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    b, M, e = _ols(X, y)
    meat = np.zeros((X.shape[1], X.shape[1]))
    for k in np.unique(g):
        s = X[g == k].T @ e[g == k]
        meat += np.outer(s, s)
    G, (n, p) = len(np.unique(g)), X.shape
    V = G / (G - 1) * (n - 1) / (n - p) * M @ meat @ M
    return b[1], math.sqrt(V[1, 1])


def test_school_trial_with_30_schools_is_cr1_with_g_minus_1_df():
    """se: auto decides by the schools analysed (30 here: CR1 with t(29)), not the students."""
    t = _trial(overrides={"trust.n_schools": 30, "trust.students_per_year_group": 15})
    rng = np.random.default_rng(5)
    data = _students(30, 8, effect=0.0, seed=5, shock_sd=0.3)
    treated_schools = rng.permutation(30)[:15]
    data["arm"] = np.where(np.isin(data["school"], treated_schools), "treated", "control")
    data.loc[data["arm"] == "treated", "attendance_rate"] += 0.25
    got = estimate(t, data, seed=1).row
    X = np.column_stack([np.ones(len(data)), (data["arm"] == "treated").to_numpy(float)])
    b, se = _cr1(X, data["attendance_rate"].to_numpy(), data["school"].to_numpy())
    assert got["estimate"] == pytest.approx(b, rel=1e-9)
    assert got["se"] == pytest.approx(se, rel=1e-9)
    assert got["df"] == 29
    assert got["n_clusters"] == 30


# ------------------------------------------------------------------ the stepped-wedge panel
def _snapshot(uid, school, possible, attended, **more) -> SimpleNamespace:
    table = SimpleNamespace(uid=np.asarray(uid, np.int64), school=np.asarray(school),
                            possible=np.asarray(possible), attended=np.asarray(attended),
                            **{k: np.asarray(v, float) for k, v in more.items()})
    return SimpleNamespace(all_students=lambda: table)


def _record(outcome: str, snaps: list[SimpleNamespace]) -> pd.DataFrame:
    rec = PanelRecorder(outcome, step_weeks=10, periods=len(snaps))
    assert rec.weeks() == [10 * (p + 1) - 1 for p in range(len(snaps))]  # each period's last
    for week, snap in zip(rec.weeks(), snaps, strict=True):
        rec(snap, week)
    return rec.panel()


def test_panel_attendance_is_each_period_s_own_and_only_students_on_roll():
    """Sessions are cumulative in the model: a period's rate is its own attended / possible,
    and a student without sessions in a period (left, or not yet joined) has no row in it.
    Uids arrive in any order."""
    snaps = [_snapshot([3, 1, 5], [0, 0, 1], [20, 20, 20], [18, 20, 10]),
             _snapshot([5, 3, 1, 4], [1, 0, 0, 1], [40, 20, 40, 20], [30, 18, 21, 19])]
    panel = _record("attendance_rate", snaps).sort_values(["period", "uid"])
    got = {(int(r.period), int(r.uid)): r.attendance_rate for r in panel.itertuples()}
    # uid 3 left after period 0; uid 4 joined in period 1 (its uid between 3 and 5)
    assert got == {(0, 1): 1.0, (0, 3): 0.9, (0, 5): 0.5,
                   (1, 1): 1 / 20, (1, 4): 19 / 20, (1, 5): 1.0}
    assert panel.loc[panel["uid"] == 4, "school"].tolist() == [1]


def test_panel_persistent_absence_counts_exactly_ten_percent_missed():
    """DfE: missing 10% or more of the possible sessions. 18 of 20 attended is exactly 10%
    missed (students.parquet counts it, by whole sessions); 1 - 18/20 in floats is
    0.0999..., so the panel left such periods out of persistent absence."""
    possible = [[20, 20, 130, 1000], [40, 40, 260, 1390]]
    attended = [[18, 19, 117, 901], [37, 36, 234, 1252]]
    # missed in period 0: 2 of 20 (10%), 1 of 20 (5%), 13 of 130 (10%), 99 of 1000 (9.9%);
    # in period 1: 1 of 20 (5%), 3 of 20 (15%), 13 of 130 (10%), 39 of 390 (10%)
    snaps = [_snapshot([1, 2, 3, 4], [0, 0, 1, 1], p, a) for p, a in zip(possible, attended, strict=True)]
    panel = _record("persistent_absent", snaps).sort_values(["period", "uid"])
    assert panel["persistent_absent"].tolist() == [1.0, 0.0, 1.0, 0.0,
                                                   0.0, 1.0, 1.0, 1.0]


def test_panel_level_outcomes_are_their_values_at_the_period_end():
    snaps = [_snapshot([1, 2], [0, 1], [10, 10], [10, 10], reading_obs=[100, 90],
                       reading_obs_age=[96, 99])]
    panel = _record("reading_gap_end", snaps)
    assert panel["reading_gap_end"].tolist() == [4.0, -9.0]  # ahead 4 months, behind 9


# ------------------------------------------------------------------ truths
def _truth_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Eight students of a students trial (uids 0-7), with every number set by hand."""
    students = pd.DataFrame({
        "uid": range(8), "school": [0, 0, 0, 0, 1, 1, 1, 1],
        "arm": ["treated"] * 3 + ["control"] * 2 + ["treated"] * 2 + ["control"],
        "served": [True, True, False, False, False, True, False, False],
        "in_population": [True, True, True, True, True, False, True, True],
        "attendance_rate": [0.9, 0.8, 0.7, 0.6, 0.5, 0.95, np.nan, 0.4],
        "attendance_rate" + CF: [0.85, 0.7, 0.7, 0.6, 0.5, 0.9, 0.8, 0.4],
        "prior_attainment": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        "prior_attainment" + CF: [0.1, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        "attendance_autumn": [0.7, 0.6, 0.5, 0.5, 0.5, 0.8, 0.6, 0.4],
        # the autumn term is partly after the policy started: uid 0's moved (0.65 untreated)
        "attendance_autumn" + CF: [0.65, 0.6, 0.5, 0.5, 0.5, 0.8, 0.6, 0.4],
        "attendance_summer": [0.95, 0.9, 0.6, 0.5, 0.5, 0.99, 0.7, 0.4],
        "attendance_summer" + CF: [0.8, 0.85, 0.6, 0.5, 0.5, 0.9, 0.7, 0.4],
    })
    analysed = students[students["in_population"]].reset_index(drop=True)
    return analysed, students


def test_truths_of_a_students_trial_by_hand():
    t = _trial(randomise={"unit": "students"}, baseline="prior_attainment",
               naive={"pre": "attendance_autumn", "post": "attendance_summer"})
    analysed, students = _truth_frames()
    got = truths(t, analysed, students)
    # treated and analysed: uids 0, 1, 2, 6 (5 is out of the population); 6 has no outcome
    assert got["true_effect"] == pytest.approx((0.05 + 0.1 + 0.0) / 3)
    assert got["true_effect_served"] == pytest.approx((0.05 + 0.1) / 2)  # uids 0, 1
    assert got["n_truth_missing"] == 1
    assert got["n_served"] == 3  # served treated students, analysed or not: 0, 1, 5
    assert got["baseline_changed"] == 1  # uid 1's baseline moved (treatment before baseline)
    # the naive before/after: served, treated and in the population: uids 0 and 1
    assert got["n_naive"] == 2
    assert got["naive"] == pytest.approx(((0.95 - 0.7) + (0.9 - 0.6)) / 2)
    assert got["naive_truth"] == pytest.approx(((0.95 - 0.8) + (0.9 - 0.85)) / 2)


def test_naive_leaves_out_students_missing_the_pre_measure():
    t = _trial(randomise={"unit": "students"},
               naive={"pre": "attendance_autumn", "post": "attendance_summer"})
    analysed, students = _truth_frames()
    students.loc[0, "attendance_autumn"] = np.nan
    got = truths(t, analysed, students)
    assert got["n_naive"] == 1
    assert got["naive"] == pytest.approx(0.9 - 0.6)
    assert got["naive_truth"] == pytest.approx(0.9 - 0.85)


def test_stepped_wedge_truth_is_the_mean_of_school_period_means_before_the_last_period():
    """Each treated school-period counts once (a school of 3 students as much as one of 1),
    and the last period, when no school is left untreated, is not part of the truth."""
    t = _trial(randomise={"unit": "stepped_wedge", "steps": 2, "step_weeks": 9})
    rows = [  # school, period, effect of each treated student
        (0, 1, [1.0, 1.0, 1.0]), (1, 1, [4.0]),          # period 1: schools 0 and 1 cross
        (0, 2, [9.0]), (1, 2, [9.0]), (2, 2, [9.0]),     # period 2: everyone, left out
    ]
    recs = [{"school": s, "period": p, "arm": "treated", "served": True, "uid": 10 * s + i,
             "attendance_rate": 0.5 + e, "attendance_rate" + CF: 0.5}
            for s, p, effects in rows for i, e in enumerate(effects)]
    recs.append({"school": 2, "period": 1, "arm": "control", "served": False, "uid": 20,
                 "attendance_rate": 0.1, "attendance_rate" + CF: 0.1})
    analysed = pd.DataFrame(recs)
    students = pd.DataFrame({"uid": [0, 1, 2, 10, 20], "arm": "treated", "served": True,
                             "in_population": True})
    got = truths(t, analysed, students)
    assert got["true_effect"] == pytest.approx((1.0 + 4.0) / 2)
    assert got["true_effect_served"] == pytest.approx((1.0 + 4.0) / 2)


def test_panel_rows_are_treated_from_the_school_s_start_period():
    t = _trial(randomise={"unit": "stepped_wedge", "steps": 2, "step_weeks": 9})
    panel = pd.DataFrame({"uid": [1, 1, 1, 2, 2, 2], "school": [0, 0, 0, 1, 1, 1],
                          "period": [0, 1, 2] * 2, "attendance_rate": 0.9})
    students = pd.DataFrame({"uid": [1, 2], "flagged": False, "served": [True, False],
                             "in_population": True})
    data = panel_data(t, panel, panel.assign(attendance_rate=0.8), np.array([1, 2]), students)
    assert data["arm"].tolist() == ["control", "treated", "treated",
                                    "control", "control", "treated"]
    assert data["start_period"].tolist() == [1, 1, 1, 2, 2, 2]
    assert (data["attendance_rate" + CF] == 0.8).all()
    assert data["served"].tolist() == [True] * 3 + [False] * 3


# ------------------------------------------------------------------ stepped-wedge analyses
def _wedge_panel(effect: float, noise: float, seed: int) -> pd.DataFrame:
    """8 schools crossing over in 4 groups of 2 (periods 1-4), 5 students a school-period,
    outcome = school + period trend + effect once treated (+ noise)."""
    rng = np.random.default_rng(seed)
    start = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    recs = []
    for s in range(8):
        for p in range(5):
            for i in range(5):
                treated = p >= start[s]
                recs.append({"uid": 100 * s + i, "school": s, "period": p,
                             "start_period": start[s], "arm": "treated" if treated else "control",
                             "attendance_rate": 0.1 * s + 0.5 * p + effect * treated
                             + noise * rng.normal(), "in_population": True})
    return pd.DataFrame(recs)


def _wedge(method: str, alpha: float = 0.05):
    return _trial(randomise={"unit": "stepped_wedge", "steps": 4, "step_weeks": 7},
                  overrides={"trust.n_schools": 8, "trust.students_per_year_group": 15},
                  analysis={"method": method, "alpha": alpha})


def test_twfe_is_least_squares_with_school_and_period_effects_and_g_minus_1_df():
    data = _wedge_panel(effect=0.3, noise=0.2, seed=1)
    got = estimate(_wedge("twfe", alpha=0.1), data, seed=1).row
    X = np.column_stack([(data["arm"] == "treated").to_numpy(float),
                         *[(data["school"] == s).to_numpy(float) for s in range(8)],
                         *[(data["period"] == p).to_numpy(float) for p in range(1, 5)]])
    b, _, _ = _ols(X, data["attendance_rate"].to_numpy())
    assert got["estimate"] == pytest.approx(b[0], rel=1e-9)
    # 8 schools, fewer than 30: CR2 with the Bell-McCaffrey df, no longer CR1 with G - 1 = 7
    # (tests/test_trial_small_clusters_review.py)
    from srmsim import stats

    cr2 = stats.did_twfe(data, "attendance_rate", "school", "period", "start_period", se="cr2")
    assert got["df"] == cr2.df != 7 and got["se"] == cr2.se
    half = sps.t.ppf(0.95, got["df"]) * got["se"]  # the file's alpha 0.1
    assert got["ci_high"] - got["ci_low"] == pytest.approx(2 * half, rel=1e-9)
    assert (got["n"], got["n_clusters"]) == (200, 8)


def test_mixed_wedge_model_adjusts_for_the_period():
    """Outcomes rise 0.5 a period and more schools are treated each period: without period
    effects the trend is taken for the effect (about 1.3 here, for a true 0.3)."""
    data = _wedge_panel(effect=0.3, noise=0.05, seed=2)
    got = estimate(_wedge("mixed"), data, seed=1).row
    assert got["estimate"] == pytest.approx(0.3, abs=0.03)
    assert got["ci_low"] < 0.3 < got["ci_high"]


def test_group_time_recovers_a_constant_effect_with_not_yet_treated_controls():
    """No school is never treated: the controls are those not yet crossed over."""
    data = _wedge_panel(effect=0.3, noise=0.05, seed=3)
    an = estimate(_wedge("group_time"), data, seed=4)
    got = an.row
    assert got["estimate"] == pytest.approx(0.3, abs=0.03)
    assert got["ci_low"] < got["estimate"] < got["ci_high"]
    assert got["ci_high"] - got["estimate"] == pytest.approx(got["estimate"] - got["ci_low"])
    assert math.isfinite(got["df"]) and got["df"] > 0
    half = sps.t.ppf(0.975, got["df"]) * got["se"]
    assert got["ci_high"] - got["ci_low"] == pytest.approx(2 * half, rel=1e-6)
    assert an.result.seed == 4  # the replication's seed drives the event-study band


# ------------------------------------------------------------------ the trial file
@pytest.mark.parametrize("randomise,want", [
    ({"unit": "students"}, (0.5, "school", None, None, "ols", "hc1")),
    ({"unit": "schools"}, (0.5, None, None, None, "ols", "auto")),
    ({"unit": "stepped_wedge", "steps": 2}, (None, None, 2, 13, "group_time", None)),
])
def test_each_design_gets_its_documented_defaults(randomise, want):
    t = _trial(randomise=randomise)
    r, a = t.config.randomise, t.config.analysis
    assert (r.share_treated, r.block, r.steps, r.step_weeks, a.method, a.se) == want


@pytest.mark.parametrize("analysis,se", [({"se": "cluster"}, "hc1"), ({"se": "auto"}, "hc1"),
                                         ({}, "hc1"), ({"se": "classical"}, "classical")])
def test_gee_takes_its_own_sandwich_for_cluster_and_auto(analysis, se):
    """The GEE robust SE is already cluster-robust: cluster and auto both mean its sandwich."""
    assert _trial(analysis={"method": "gee", **analysis}).config.analysis.se == se


BAD = [
    ({"randomise": {"unit": "schools", "share_treated": 0.0}},
     "randomise.share_treated: Input should be greater than 0"),
    ({"randomise": {"unit": "schools", "share_treated": 1.0}},
     "randomise.share_treated: Input should be less than 1"),
    ({"analysis": {"alpha": 0.5}}, "analysis.alpha"),
    ({"analysis": {"method": "mixed", "se": "auto"}}, "analysis.se: a mixed model"),
    ({"analysis": {"method": "gee", "se": "cr2"}}, "analysis.se: cr2 is for method ols"),
    ({"analysis": {"method": "ols", "n_boot": 99}}, "analysis.n_boot: only used by"),
    ({"baseline": "attendance_rate"}, "baseline: 'attendance_rate' is the outcome itself"),
    ({"baseline": "nonsense"}, "baseline: 'nonsense' is not a numeric column"),
    ({"naive": {"pre": "attendance_rate", "post": "attendance_rate"}},
     "naive.post: 'attendance_rate' is also naive.pre"),
    ({"randomise": {"unit": "stepped_wedge", "steps": 2, "share_treated": 0.5}},
     "randomise.share_treated: not used by a stepped wedge"),
    ({"randomise": {"unit": "stepped_wedge", "steps": 2}, "baseline": "prior_attainment"},
     "baseline: not used by a stepped wedge"),
    ({"randomise": {"unit": "stepped_wedge", "steps": 2}, "outcome": "prior_attainment"},
     "outcome: 'prior_attainment' cannot be measured per period"),
    ({"randomise": {"unit": "stepped_wedge", "steps": 101, "step_weeks": 1}},
     "randomise.steps: Input should be less than or equal to 100"),
    # 3 steps of 10 weeks need 40 weeks (a control period first); a year has 39
    ({"randomise": {"unit": "stepped_wedge", "steps": 3, "step_weeks": 10}},
     "randomise.step_weeks: 3 steps of 10 weeks need 40 weeks"),
    # schools randomised in a trust of 3: 2 treated, 1 control (refused at load)
    ({"overrides": {"trust.n_schools": 3}}, "at least 2 schools in each arm"),
    # 0.9 of a school's intake of 3 rounds to 3 treated, none in control
    ({"randomise": {"unit": "students", "share_treated": 0.9},
      "overrides": {"trust.students_per_year_group": 3, "years": 2}},
     "0.9 of an average school's September intake"),
    ({"randomise": {"unit": "students", "share_treated": 0.05},
      "overrides": {"trust.students_per_year_group": 1}},
     "0.05 of an average school's roll at the start"),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m for _, m in BAD])
def test_a_bad_trial_is_refused_by_key(change, message):
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(".", r"\.")):
        _trial(**change)


@pytest.mark.parametrize("change", [
    # exactly a year: a control period, then 2 periods of 13 weeks
    {"randomise": {"unit": "stepped_wedge", "steps": 2, "step_weeks": 13}},
    # 1,000 draws x 100,000 replications is the limit itself
    {"analysis": {"n_boot": 1000}, "replications": 100_000,
     "randomise": {"unit": "stepped_wedge", "steps": 2}},
    # intakes are blocks only in a run of more than one year: 0.9 of a roll of 15 is 14
    {"randomise": {"unit": "students", "share_treated": 0.9},
     "overrides": {"trust.students_per_year_group": 3}},
    # across the trust the block is all 6 schools: 0.1 of 6 x 5 students is 3 treated
    {"randomise": {"unit": "students", "share_treated": 0.1, "block": "none"},
     "overrides": {"trust.n_schools": 6, "trust.students_per_year_group": 1}},
])
def test_a_design_on_the_limit_is_accepted(change):
    _trial(**change)


def test_built_blocks_are_each_school_or_the_whole_trust():
    """A trust from records: 0.1 of schools of 3 students treats nobody in any school, but 1
    of the 9 across the trust."""
    from srmsim.trial.spec import check_built_blocks

    school = _trial(randomise={"unit": "students", "share_treated": 0.1}).config
    trust = _trial(randomise={"unit": "students", "share_treated": 0.1, "block": "none"},
                   overrides={"trust.n_schools": 6, "trust.students_per_year_group": 5}).config
    assert check_built_blocks(trust, [3, 3, 3], 1, 1) == []
    [(key, what)] = check_built_blocks(school, [3, 3, 3], 1, 1)
    assert key == "randomise.share_treated" and "3 of the 3 schools" in what


def test_a_trial_seed_of_0_is_its_seed():
    t = _trial(seed=0)
    assert t.root_seed == 0
    assert t.seeds(2) == _trial(seed=0).seeds(2) != _trial(seed=None).seeds(2)


def test_description_names_cr2_for_a_trust_below_30_schools():
    assert "auto: CR2 with Bell-McCaffrey df (6 schools, fewer than 30" in _trial().describe()
    t30 = _trial(overrides={"trust.n_schools": 30, "trust.students_per_year_group": 15})
    assert "auto: CR1 with t(G - 1) (30 schools; CR2 below 30)" in t30.describe()


# ------------------------------------------------------------------ the treated arm's truths
def test_truth_effects_pair_the_trial_with_its_counterfactual_at_the_level_asked():
    """Paired over replications: difference = mean(trial - counterfactual), its interval
    t(0.95, R - 1) x sd / sqrt(R) at level 0.9; students is the group's mean size."""
    from srmsim.trial.groups import ALL, WITH, WITHOUT, truth_effects

    trial, cf, n = np.array([0.9, 0.8, 0.7]), np.array([0.85, 0.78, 0.6]), [10, 20, 45]
    groups = pd.DataFrame({"replication": [0, 1, 2], "group": ALL, "outcome": "attendance",
                           "trial": trial, "counterfactual": cf, "students": n})
    row = truth_effects(groups, level=0.9).iloc[0]
    d = trial - cf
    half = sps.t.ppf(0.95, 2) * d.std(ddof=1) / math.sqrt(3)
    assert (row["variant"], row["baseline"]) == (WITH, WITHOUT)
    assert row["difference"] == pytest.approx(d.mean())
    assert (row["mean_variant"], row["mean_baseline"]) == pytest.approx((0.8, cf.mean()))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert row["students"] == pytest.approx(25.0)


def test_group_truths_measure_the_treated_arm_in_both_runs():
    """The treated arm only (its size), measured once in the trial run (some served) and
    once in the counterfactual (nobody served: no policy)."""
    from srmsim.trial import replicate
    from srmsim.trial.groups import ALL

    t = trial_from_dict({
        "name": "tiny", "scenario": "reading_age.yaml",
        "overrides": {"trust.n_schools": 2, "trust.students_per_year_group": 12},
        "randomise": {"unit": "students"}, "outcome": "reading_gap_end", "replications": 1,
        "seed": 11}, "tiny", SCENARIOS)
    rep = replicate(t, 0)
    g = rep.groups.set_index(["group", "outcome"])
    treated = int((rep.students["arm"] == "treated").sum())
    assert 0 < treated < len(rep.students)
    assert g.loc[(ALL, "students_served"), "students"] == treated
    assert g.loc[(ALL, "students_served"), "trial"] > 0
    assert g.loc[(ALL, "students_served"), "counterfactual"] == 0
    assert g.loc[(ALL, "cost"), "counterfactual"] == 0 < g.loc[(ALL, "cost"), "trial"]


def test_student_data_marks_arm_screening_and_service_from_the_runs():
    """served = had an intervention in the trial run; with population: flagged only the
    screened students are in the population; each measure is kept from both runs."""
    t = _trial(randomise={"unit": "students"}, population="flagged",
               baseline="prior_attainment")
    runs = pd.DataFrame({"uid": [4, 7, 9, 12], "school": [0, 0, 1, 1],
                         "interventions": [0, 2, 1, 0], "attendance_rate": [0.9, 0.8, 0.7, 0.6],
                         "prior_attainment": [0.1, 0.2, 0.3, 0.4]})
    cf = runs.assign(interventions=0, attendance_rate=[0.9, 0.75, 0.6, 0.6])
    data = student_data(t, runs, cf, np.array([False, True, True, False]), np.array([7, 12]))
    assert data["arm"].tolist() == ["control", "treated", "treated", "control"]
    assert data["served"].tolist() == [False, True, True, False]
    assert data["flagged"].tolist() == data["in_population"].tolist() == [False, True,
                                                                           False, True]
    assert data["attendance_rate" + CF].tolist() == [0.9, 0.75, 0.6, 0.6]
    assert data["prior_attainment" + CF].tolist() == [0.1, 0.2, 0.3, 0.4]
    everyone = _trial(randomise={"unit": "students"})
    assert student_data(everyone, runs, cf, np.ones(4, bool), None)["in_population"].all()


def test_a_records_trial_sent_to_a_worker_keeps_its_identity(tmp_path):
    """A worker rebuilds the trial from its payload: the records' SHA-256 goes with it, so
    the rebuilt trial is the same trial (digest) as the one the store was opened for."""
    from conftest import two_school_records

    from srmsim.trial.spec import Trial

    records = two_school_records(tmp_path)
    t = trial_from_dict({
        "name": "t", "scenario": "reading_age.yaml",
        "overrides": {"trust.students_per_year_group": 40, "population.records": str(records)},
        "randomise": {"unit": "students"}, "outcome": "reading_gap_end", "replications": 1,
        "seed": 3}, "rec", SCENARIOS)
    assert t.input_files
    back = Trial.from_payload(t.to_payload())
    assert back.input_files == t.input_files and back.digest() == t.digest()


@pytest.mark.parametrize("analysis", [{"method": "gee"}, {"method": "mixed"},
                                      {"method": "gee", "se": "classical"}])
def test_school_trial_models_schools_with_gee_and_the_mixed_model(analysis):
    """GEE and the mixed model take the school as their cluster (whatever the se): the
    interval is about the 16 schools' shocks, far wider than one over 160 students."""
    t = _trial(analysis=analysis,
               overrides={"trust.n_schools": 16, "trust.students_per_year_group": 15})
    data = _students(16, 10, effect=0.0, seed=6, shock_sd=0.5)
    data["arm"] = np.where(data["school"] % 2 == 0, "treated", "control")
    data.loc[data["arm"] == "treated", "attendance_rate"] += 0.3
    got = estimate(t, data, seed=1).row
    naive = estimate(_trial(randomise={"unit": "students", "block": "none"}), data, seed=1).row
    assert got["n_clusters"] == 16
    assert got["se"] > 2 * naive["se"]
    assert got["ci_low"] < 0.3 < got["ci_high"]


def test_screening_flags_every_student_any_due_trigger_flags(monkeypatch):
    """Two workflows whose triggers run in the screening week: the screened population is
    the union of their flags (the shipped scenarios evaluate one trigger in that week)."""
    import srmsim.trial.analyse as analyse

    class Table(SimpleNamespace):
        def __len__(self) -> int:
            return len(self.uid)

    flags = {"a": np.array([True, False, False, False]),
             "b": np.array([False, False, True, False])}
    policy = SimpleNamespace(due_triggers=lambda week: ["a", "b"],
                             config=SimpleNamespace(parameters={}), rules={"a": 0, "b": 0},
                             trigger_flags=lambda due, values, t: {k: flags[k] for k in due})
    monkeypatch.setattr(analyse, "evaluate_rules", lambda rules, ctx, n: {})
    model = SimpleNamespace(students=Table(uid=np.array([13, 11, 12, 10])))
    assert analyse.screen_flags(model, policy, 3).tolist() == [12, 13]
