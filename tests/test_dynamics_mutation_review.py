"""Mutation review of the student simulation: the generated population (srmsim.population),
the weekly dynamics (srmsim.dynamics, and its compiled twin srmsim.kernels), the student table
(srmsim.students) and the helper processes that run a week's blocks (srmsim.week_processes).

Every expected number is a closed form of the scenario's parameters (a binomial or Poisson
expectation of the table's own latents, a log-normal's moments, a logit-normal mean by
quadrature, an OLS regression recovering the documented equations of docs/model.md section 5)
or a count made by hand from each week's observations; tolerances are sampling errors
(a few, for rounded or clipped quantities, are fixed bounds). All runs
are of at most 20,000 students, so they take the numpy week (the compiled week of
srmsim.kernels runs only from 20,000 students and 15 million student-weeks); every mutation
of a step that the compiled week also runs was made in both weeks (or in what both read, as
``week_constants``), so that tests/test_week_kernel.py's bit-identity checks could not be what
killed it.

Mutations tried: 82 (population 27, dynamics and kernels 41, students 8, week_processes 6),
each alone, against tests/test_calibration.py and tests/test_engine.py, plus
tests/test_week_kernel.py (dynamics, students) or tests/test_blocks.py (week_processes).
Killed by those: 39. Survived: 43, of which 37 are killed by the tests below, 5 are
equivalent and 1 is left. One defect was found and fixed: the share of FSM and EAL students
was not the stated ``fsm_rate`` / ``eal_rate`` (25.5% and 20.9% for 24% and 17%) because the
schools' logit-scale intercept was the stated rate's logit, which is the median school's rate
(srmsim.population.share_logit now solves for the mean).

Survivors the other files missed, now killed here: the log-normal cohort sizes (sigma = cv,
mean correction sign), the floor of one student, the EAL school spread, the school engagement
effect, the male share, the SEN rescaling, EAL drawn at the FSM rate, the wellbeing SEN gap,
the age spread, prior attainment's noise, the transients' starting SD, the school absence
effect, the cohort layout, the AR(1) innovation and persistence, the weekly absence noise, the
incident model (male ratio, log of the rate, engagement sign), logins out of 5 days and their
engagement sign, the on-time logit, reading growth (on the week's attainment, one month a
month), the length of a week in months, ageing, a withdrawal's exit week, the year's and the
term's totals, the rolling slot and what it holds, the first reading gap, the term of the
attendance column, the exam's error, the withdrawal intercept's 39 weeks, and the intake's
place in the table's school order.

Equivalent mutants, and why:
- generation in blocks from ``n >= block_rows`` instead of ``>``: a block of all the rows
  gives the same table (every draw is keyed by uid).
- ``sorted_by_school``'s in-order check ``uid[1:] >= uid[:-1]`` -> ``>`` within a school: a
  table's uids are all different.
- ``concat`` dropping the other table's rolling buffers: it is only ever an intake's, whose
  buffers are all zero when generated.
- ``sit_exams`` on ``year_group >= final_year``: no student on roll is ever above the final
  year (leavers are removed before the year groups move up).
- the shared block's column alignment 64 -> 8 bytes: every dtype's alignment is still met;
  only cache-line placement (speed) changes.

Left: in ``WeekHelpers.run``, granting helpers blocks while ``front <= back`` (not ``<``)
runs one block twice, but only when the helpers' first grants reach the front block (three
or more cores with as few blocks as grants); this machine has two cores, so no test here can
reach it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from srmsim import calendar
from srmsim.dynamics import WEEK_MONTHS, withdrawal_logit
from srmsim.model import TrustModel
from srmsim.population import NATIONAL_RATES, cohort_layout, generate_schools
from srmsim.rng import CRN
from srmsim.scenario import Scenario
from srmsim.students import ENROLLED, WINDOW, WITHDRAWN, StudentTable

#: 4,000 schools of five students in one year group: 20,000 students whose school-level
#: draws (FSM and EAL rates, attainment, engagement, absence) are averaged over many schools
MANY_SMALL = {"n_schools": 4000, "students_per_year_group": 5, "size_cv": 0.0, "year_groups": [7]}


def scenario(trust: dict | None = None, population: dict | None = None,
             dynamics: dict | None = None, **top) -> Scenario:
    return Scenario(trust=trust or MANY_SMALL, population=population or {},
                    dynamics=dynamics or {}, outputs={"history": "none"}, **top)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def logit_normal_moments(p: float, sd: float) -> tuple[float, float]:
    """Mean and variance over schools of a school's rate ``sigmoid(c + sd z)``, z standard
    normal, where ``c`` is the intercept whose mean rate is ``p`` (found here by quadrature)."""
    def moment(c: float, k: int) -> float:
        return integrate.quad(lambda z: stats.norm.pdf(z) * sigmoid(c + sd * z) ** k, -12, 12)[0]

    from scipy.optimize import brentq

    c = brentq(lambda c: moment(c, 1) - p, -30, 30) if sd > 0 else math.log(p / (1 - p))
    m1, m2 = moment(c, 1), moment(c, 2)
    return m1, m2 - m1 ** 2


def within(observed: float, expected: float, se: float, z: float = 4.5) -> None:
    assert abs(observed - expected) < z * se, (observed, expected, se)


# ------------------------------------------------------------------------------ schools
def test_cohort_sizes_are_log_normal_with_the_stated_mean_and_cv() -> None:
    """log(size) is normal with SD sqrt(log(1 + cv^2)) and mean log(mean) - SD^2 / 2."""
    sc = scenario(trust={"n_schools": 4000, "students_per_year_group": 1000, "size_cv": 1.0})
    size = generate_schools(sc, CRN(5)).cohort_size.astype(float)
    sigma = math.sqrt(math.log(2.0))
    log_size = np.log(size)
    within(log_size.std(ddof=1), sigma, sigma / math.sqrt(2 * 4000))
    within(log_size.mean(), math.log(1000) - sigma ** 2 / 2, sigma / math.sqrt(4000))
    within(size.mean(), 1000.0, size.std() / math.sqrt(4000))


def test_a_school_has_at_least_one_student_a_year_group_and_each_its_own_size() -> None:
    sc = scenario(trust={"n_schools": 500, "students_per_year_group": 1, "size_cv": 2.0,
                         "year_groups": [7, 8, 9]})
    schools = generate_schools(sc, CRN(1))
    assert schools.cohort_size.min() == 1
    school, year = cohort_layout(schools, [7, 8, 9])
    for y in (7, 8, 9):
        counts = np.bincount(school[year == y], minlength=len(schools))
        assert np.array_equal(counts, schools.cohort_size)


# ------------------------------------------------------------------------------ students
@pytest.fixture(scope="module")
def shares() -> StudentTable:
    """Default England population, but a school engagement SD of 0.5 (0.15 is too small to
    tell from none with five students a school)."""
    return TrustModel(scenario(population={"engagement_school_sd": 0.5}), seed=3).students


def test_male_share_is_the_stated_one(shares: StudentTable) -> None:
    p, n = 0.51, len(shares)
    within(shares.sex.mean(), p, math.sqrt(p * (1 - p) / n))
    t = TrustModel(scenario(population={"male_share": 0.3}), seed=3).students
    within(t.sex.mean(), 0.3, math.sqrt(0.3 * 0.7 / n))  # 1 is male (students.SEX_NAMES)


@pytest.mark.parametrize("trait, rate, sd", [("fsm", 0.24, 0.6), ("eal", 0.17, 1.0)])
def test_fsm_and_eal_shares_are_the_stated_rates_with_the_stated_school_spread(
        shares: StudentTable, trait: str, rate: float, sd: float) -> None:
    """The share of students is ``population.fsm_rate`` (``eal_rate``), not the rate of a
    median school: schools' rates vary on the logit scale (SD ``fsm_school_sd``, 1 for EAL),
    and the average of a logit-normal rate is above its median's rate."""
    values = getattr(shares, trait).astype(float)
    per_school = np.bincount(shares.school, weights=values) / 5
    mean, var_between = logit_normal_moments(rate, sd)
    # a school's share of 5: its rate's spread plus binomial noise, E[p (1 - p)] / 5
    var_school = var_between + (mean - mean ** 2 - var_between) / 5
    within(values.mean(), rate, math.sqrt(var_school / 4000))
    # the spread of the schools' shares recovers the logit-scale SD
    within(per_school.var(ddof=1), var_school, var_school * math.sqrt(2 / 4000) * 1.5)


def test_sen_share_is_the_stated_rate_and_one_and_a_half_times_as_common_with_fsm(
        shares: StudentTable) -> None:
    sen, fsm = shares.sen, shares.fsm
    within(sen.mean(), 0.14, math.sqrt(0.14 * 0.86 / len(sen)) * 1.2)
    a, b = sen[fsm].mean(), sen[~fsm].mean()
    se = math.sqrt(a * (1 - a) / fsm.sum() / b ** 2 + a ** 2 * b * (1 - b) / (~fsm).sum() / b ** 4)
    within(a / b, 1.5, se)


def ols(y: np.ndarray, *xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients (intercept first), their standard errors and the residuals."""
    x = np.column_stack([np.ones(len(y)), *[v.astype(float) for v in xs]])
    beta, *_ = np.linalg.lstsq(x, y.astype(float), rcond=None)
    resid = y - x @ beta
    cov = resid.var(ddof=x.shape[1]) * np.linalg.inv(x.T @ x)
    return beta, np.sqrt(np.diag(cov)), resid


def school_variances(values: np.ndarray, school: np.ndarray, k: int = 5) -> tuple[float, float]:
    """One-way ANOVA with ``k`` students a school: (between-school, within-school) variance."""
    means = np.bincount(school, weights=values) / k
    within_ms = float(((values - means[school]) ** 2).sum() / (len(values) - len(means)))
    between_ms = float(k * ((means - values.mean()) ** 2).sum() / (len(means) - 1))
    return (between_ms - within_ms) / k, within_ms


def test_attainment_has_the_stated_gaps_centring_and_school_share(shares: StudentTable) -> None:
    """A = u_school + gaps - c + sqrt(1 - ICC) a, with c the gaps at England's rates: a
    regression on FSM, SEN and EAL recovers the gaps and -c, and the residual's school and
    student variances are ICC and 1 - ICC (docs/model.md section 5)."""
    t = shares
    gaps = {"fsm": -0.45, "sen": -0.7, "eal": -0.05}
    beta, se, resid = ols(t.attainment, t.fsm, t.sen, t.eal)
    design = math.sqrt(1 + 4 * 0.18)  # five students a school share its effect
    within(beta[0], -sum(gaps[k] * NATIONAL_RATES[k] for k in gaps), se[0] * design)
    for i, k in enumerate(gaps, start=1):
        within(beta[i], gaps[k], se[i] * design)
    between, within_var = school_variances(resid, t.school)
    within(within_var, 1 - 0.18, 0.82 * math.sqrt(2 / 16000))
    within(between, 0.18, 0.02)


def test_engagement_wellbeing_and_their_correlation_with_attainment(shares: StudentTable) -> None:
    """E0 = v_school + egaps + 0.85 e and W0 = 0.85 w - 0.15 SEN, with (a, e, w) correlated
    ``latent_correlation`` (0.4) pairwise."""
    t, r = shares, 0.4
    a_beta, _, a_res = ols(t.attainment, t.fsm, t.sen, t.eal)
    e_beta, e_se, e_res = ols(t.engagement_base, t.fsm, t.sen)
    within(e_beta[1], -0.45, e_se[1] * 1.2)
    within(e_beta[2], -0.3, e_se[2] * 1.2)
    between, within_var = school_variances(e_res, t.school)
    within(within_var, 0.85 ** 2, 0.85 ** 2 * math.sqrt(2 / 16000))
    within(between, 0.5 ** 2, 0.009)
    w_beta, w_se, w_res = ols(t.wellbeing_base, t.sen)
    within(w_beta[1], -0.15, w_se[1])
    within(w_res.var(), 0.85 ** 2, 0.85 ** 2 * math.sqrt(2 / 20000))
    n = len(t)
    within(np.mean(a_res * e_res), math.sqrt(1 - 0.18) * 0.85 * r, 1.2 / math.sqrt(n))
    within(np.mean(a_res * w_res), math.sqrt(1 - 0.18) * 0.85 * r, 1.2 / math.sqrt(n))
    within(np.mean(e_res * w_res), 0.85 * 0.85 * r, 1.2 / math.sqrt(n))


def test_age_reading_age_prior_attainment_and_starting_transients(shares: StudentTable) -> None:
    """Age 12 (year + 4) + 12 U months; reading age = age - 3 + 14 A + 13 z; prior attainment
    A + 0.3 z'; the transient parts start at their stationary SD (0.45 and 0.5)."""
    t, n = shares, len(shares)
    age = t.age_months.astype(float)
    assert 132 <= age.min() and age.max() < 144
    within(age.mean(), 138.0, math.sqrt(12.0 / n))
    within(age.var(), 12.0, 12.0 * math.sqrt(0.8 / n))  # uniform: var of a square is 0.8 s^4
    beta, se, resid = ols(t.reading_age - age, t.attainment)
    within(beta[0], -3.0, se[0])
    within(beta[1], 14.0, se[1])
    within(resid.std(), 13.0, 13.0 / math.sqrt(2 * n))
    noise = (t.prior_attainment - t.attainment).astype(float)
    within(noise.std(), 0.3, 0.3 / math.sqrt(2 * n))
    within(t.engagement_ar.std(), 0.45, 0.45 / math.sqrt(2 * n))
    within(t.wellbeing_ar.std(), 0.5, 0.5 / math.sqrt(2 * n))


def test_absence_logit_has_the_stated_level_and_school_spread(shares: StudentTable) -> None:
    per_school = np.bincount(shares.school, weights=shares.absence_static) / 5
    within(per_school.mean(), -4.1, 0.15 / math.sqrt(4000))
    within(per_school.std(ddof=1), 0.15, 0.15 / math.sqrt(2 * 4000))


def test_a_new_intake_enters_in_the_week_after_the_year_end() -> None:
    sc = scenario(trust={"n_schools": 3, "students_per_year_group": 10}, years=2)
    model = TrustModel(sc, seed=2)
    first = len(model.students)
    model.run()
    t = model.students
    new = t.uid >= first
    assert new.any() and np.all(t.entry_step[new] == calendar.WEEKS_PER_YEAR)
    assert np.all(t.entry_step[~new] == 0)
    # the intake joins its school's rows (the table stays sorted by school, then uid), so the
    # second year's weekly rows count each school's own students
    assert np.all(np.diff(t.school) >= 0)
    key = t.school.astype(np.int64) * (1 << 40) + t.uid
    assert np.all(np.diff(key) > 0)
    last = model.weekly().query("run_week == run_week.max()").sort_values("school")
    here = (t.status == ENROLLED) | (t.exit_step == model.week_index - 1)  # leavers sat exams
    on_roll = np.bincount(t.school[here], minlength=3)
    assert last["enrolled"].tolist() == on_roll.tolist()
    assert last["sessions_possible"].tolist() == (10 * on_roll).tolist()


# ------------------------------------------------------------------------------ one week
WEEK_TRUST = {"n_schools": 100, "students_per_year_group": 40, "size_cv": 0.0}


@pytest.fixture(scope="module")
def one_week() -> tuple[TrustModel, dict[str, np.ndarray]]:
    """20,000 students one week on, with no week-to-week absence noise (so each student's
    chance of missing a session is a closed form of the table), and the table before it."""
    model = TrustModel(scenario(trust=WEEK_TRUST, dynamics={"absence_week_sd": 0.0}), seed=4)
    t = model.students
    before = {name: getattr(t, name).copy() for name in
              ("engagement_ar", "wellbeing_ar", "reading_age", "age_months", "attainment")}
    model.step()
    return model, before


def groups_by(values: np.ndarray, k: int = 4) -> list[np.ndarray]:
    edges = np.quantile(values, np.linspace(0, 1, k + 1)[1:-1])
    label = np.searchsorted(edges, values)
    return [label == g for g in range(k)]


def test_one_weeks_counts_follow_the_documented_models(one_week) -> None:
    """Sessions missed ~ Binomial(10, sigmoid(L)), L = absence_logit + school + S(0) - 1.7 E
    - 0.25 W; incidents ~ Poisson(0.05 exp(-0.8 E) 1.8^male); days with a login ~ Binomial(5,
    sigmoid(0.2 + E)); work on time ~ Binomial(3, sigmoid(1.6 + E)) (docs/model.md section 6):
    each total, in each quarter of engagement, is its expectation within binomial or Poisson
    error, and the weekly table adds the same counts."""
    model, _ = one_week
    t = model.students
    e = t.engagement().astype(float)
    w = t.wellbeing().astype(float)
    logit = t.absence_static + calendar.SEASON[0] * 1.0 - 1.7 * e - 0.25 * w + t.eff_absence
    p_miss = sigmoid(logit)
    lam = 0.05 * np.exp(-0.8 * e + math.log(1.8) * t.sex)
    p_login = sigmoid(0.2 + e)
    p_on_time = sigmoid(1.6 + e)
    assert np.all(t.possible == 10) and np.all(t.set_total == 3)
    for rows in groups_by(e):
        missed = (t.possible - t.attended)[rows].sum()
        within(missed, 10 * p_miss[rows].sum(), math.sqrt((10 * p_miss * (1 - p_miss))[rows].sum()))
        within(t.incidents[rows].sum(), lam[rows].sum(), math.sqrt(lam[rows].sum()))
        within(t.logins[rows].sum(), 5 * p_login[rows].sum(),
               math.sqrt((5 * p_login * (1 - p_login))[rows].sum()))
        within(t.on_time_total[rows].sum(), 3 * p_on_time[rows].sum(),
               math.sqrt((3 * p_on_time * (1 - p_on_time))[rows].sum()))
    for sex in (0, 1):  # boys' rate is 1.8 times girls' at the same engagement
        rows = t.sex == sex
        within(t.incidents[rows].sum(), lam[rows].sum(), math.sqrt(lam[rows].sum()))
    weekly = model.weekly()
    for column, total in [("sessions_possible", t.possible), ("sessions_attended", t.attended),
                          ("incidents", t.incidents), ("lms_logins", t.logins),
                          ("assignments_set", t.set_total),
                          ("assignments_on_time", t.on_time_total)]:
        assert weekly[column].sum() == total.sum(), column


def test_the_transients_are_ar1_with_the_stated_persistence_and_spread(one_week) -> None:
    """x' = phi x + sd sqrt(1 - phi^2) z: the regression of x' on x has slope phi and residual
    SD sd sqrt(1 - phi^2), so the spread stays sd."""
    model, before = one_week
    t = model.students
    for name, phi, sd in [("engagement_ar", 0.97, 0.45), ("wellbeing_ar", 0.95, 0.5)]:
        beta, se, resid = ols(getattr(t, name).astype(float), before[name].astype(float))
        within(beta[1], phi, se[1])
        shock = sd * math.sqrt(1 - phi ** 2)
        within(resid.std(), shock, shock / math.sqrt(2 * len(t)))


def test_reading_age_and_age_grow_at_the_stated_rates_each_week() -> None:
    """Each week a student ages 12/39 months (a school year is 39 weeks, so a year of them is
    12 months) and reads 12/39 (1 + 0.12 A) months further, A the week's attainment."""
    model = TrustModel(scenario(trust={"n_schools": 10, "students_per_year_group": 40}), seed=6)
    t = model.students
    start_age = t.age_months.astype(float).copy()
    for _ in range(20):  # attainment has moved away from the entry level by then
        model.step()
    reading, age = t.reading_age.astype(float), t.age_months.astype(float)
    model.step()
    month = 12.0 / calendar.WEEKS_PER_YEAR
    assert float(WEEK_MONTHS) == pytest.approx(month, rel=1e-7)
    np.testing.assert_allclose(t.age_months - age, month, atol=1e-4)
    grown = month * (1 + 0.12 * t.attainment.astype(float))
    np.testing.assert_allclose(t.reading_age - reading, grown, atol=2e-4)
    assert np.abs(t.attainment - t.attainment_anchor).max() > 0.05  # the growth term's A moved
    while model.week < calendar.WEEKS_PER_YEAR - 1:
        model.step()
    model.step()  # the last week of the year: every student is 12 months older
    np.testing.assert_allclose(t.age_months - start_age, 12.0, atol=2e-3)


# ------------------------------------------------------------------------------ withdrawal
def test_the_weekly_withdrawal_intercept_gives_the_stated_annual_rate() -> None:
    """Solved so that the average student's chance of withdrawing within 39 weeks is the
    stated one: with no engagement slope the weekly hazard is 1 - (1 - annual)^(1/39)."""
    e = np.random.default_rng(0).normal(0, 1, 2000)
    c = withdrawal_logit(0.08, 0.0, e)
    assert sigmoid(c) == pytest.approx(1 - 0.92 ** (1 / 39), rel=1e-8)
    c = withdrawal_logit(0.2, 0.9, e)
    h = sigmoid(c - 0.9 * e)  # less engaged students withdraw more
    assert np.mean(1 - (1 - h) ** 39) == pytest.approx(0.2, abs=1e-8)
    assert withdrawal_logit(0.0, 0.9, e) is None


def test_withdrawal_share_exit_weeks_and_sessions_of_a_sixth_form() -> None:
    """Years 12 and 13 of 10,000 students each, withdrawal in Year 12 only at 30% a year and
    no engagement slope: a Year 12 student withdraws within the year with chance 0.3; one who
    withdrew in week w had sessions possible for weeks 0 to w (10 each) and none after, and
    exit_step w; one still on roll has exit_step -1."""
    sc = scenario(trust={"n_schools": 100, "students_per_year_group": 100, "size_cv": 0.0,
                         "year_groups": [12, 13]},
                  dynamics={"withdrawal_years": [12], "withdrawal_annual": 0.3,
                            "withdrawal_engagement": 0.0})
    model = TrustModel(sc, seed=9)
    t = model.students
    year12 = t.year_group == 12
    for step in range(calendar.WEEKS_PER_YEAR - 1):  # the last week Year 13 leaves
        was = t.status == ENROLLED
        model.step()
        gone = was & (t.status == WITHDRAWN)
        assert np.all(t.exit_step[gone] == step)
        assert np.all(t.attended <= t.possible) and np.all(t.attended >= 0)
    model.step()
    withdrawn = t.status == WITHDRAWN
    assert not withdrawn[~year12].any()
    within(withdrawn[year12].mean(), 0.3, math.sqrt(0.3 * 0.7 / year12.sum()))
    assert np.array_equal(t.possible[withdrawn], 10 * (t.exit_step[withdrawn] + 1))
    on_roll = year12 & ~withdrawn
    assert np.all(t.exit_step[on_roll] == -1) and np.all(t.possible[on_roll] == 390)
    assert np.all(t.attended <= t.possible) and np.all(t.attended >= 0)


def test_leavers_sit_the_exam_with_the_stated_error_and_leave_that_week() -> None:
    sc = scenario(trust={"n_schools": 20, "students_per_year_group": 200, "year_groups": [11]})
    model = TrustModel(sc, seed=12)
    model.run()
    t = model.students
    last = calendar.WEEKS_PER_YEAR - 1
    assert np.all(t.status != ENROLLED)
    left = t.status == 2
    assert np.all(t.exit_step[left] == last)
    error = (t.exam_score - t.attainment)[left].astype(float)
    within(error.mean(), 0.0, 0.3 / math.sqrt(left.sum()))
    within(error.std(), 0.3, 0.3 / math.sqrt(2 * left.sum()))


# ------------------------------------------------------------------------------ records
def test_term_year_and_rolling_records_add_up_the_weeks_as_they_were_observed() -> None:
    """A term and a week of the next, counted by hand from each week's observations: run,
    year and term totals, the rolling buffers' slots, the weeks of the last login and
    incident, the reading gap of the first test, the term's attendance column and the
    satisfaction pulse's 1-5 scale."""
    sc = scenario(trust={"n_schools": 4, "students_per_year_group": 100, "year_groups": [12, 13]},
                  dynamics={"withdrawal_annual": 0.6, "incident_rate": 0.3})
    model = TrustModel(sc, seed=21)
    t = model.students
    seen: list[dict[str, np.ndarray]] = []
    first_gap = None
    autumn_end = calendar.TERM_ENDS[0]
    for step in range(autumn_end + 2):
        model.step()
        seen.append({k: getattr(model._obs, k).astype(np.int64).copy()
                     for k in ("possible", "attended", "incidents", "logins")})
        if step == 0:
            first_gap = (t.reading_obs - t.reading_obs_age).copy()
            assert np.array_equal(t.reading_gap_start, first_gap, equal_nan=True)
        if step == autumn_end:
            total = {k: sum(w[k] for w in seen) for k in seen[0]}
            assert np.array_equal(t.term_possible, total["possible"])
            assert np.array_equal(t.term_attended, total["attended"])
            assert np.array_equal(t.term_incidents, total["incidents"])
            rate = t.term_attended / t.term_possible
            np.testing.assert_array_equal(t.attendance_autumn, rate.astype(np.float32))
            assert np.isnan(t.attendance_spring).all() and np.isnan(t.attendance_summer).all()
            on_roll = t.status == ENROLLED
            sat = t.satisfaction[on_roll]
            assert set(np.unique(sat)) == {1.0, 2.0, 3.0, 4.0, 5.0}
            assert np.isnan(t.satisfaction[~on_roll]).all()
            # the pulse is 3 + 0.9 W + 0.3 E + 0.6 z, rounded and kept within 1-5
            beta, _, _ = ols(sat.astype(float), t.wellbeing()[on_roll], t.engagement()[on_roll])
            assert beta[1] == pytest.approx(0.9, abs=0.15) and beta[2] == pytest.approx(0.3, abs=0.15)
            # the gap of the first test stays, whatever the later tests read
            assert np.array_equal(t.reading_gap_start, first_gap, equal_nan=True)
            assert not np.array_equal(t.reading_obs - t.reading_obs_age, first_gap, equal_nan=True)
    week14 = seen[-1]
    assert np.array_equal(t.term_possible, week14["possible"])
    assert np.array_equal(t.term_attended, week14["attended"])
    assert np.array_equal(t.term_incidents, week14["incidents"])
    total = {k: sum(w[k] for w in seen) for k in seen[0]}
    assert np.array_equal(t.year_possible, total["possible"])
    assert np.array_equal(t.year_attended, total["attended"])
    assert np.array_equal(t.possible, total["possible"])
    assert np.array_equal(t.attended, total["attended"])
    assert np.array_equal(t.incidents, total["incidents"])
    assert np.array_equal(t.logins, total["logins"])
    for step, week in enumerate(seen):
        if step > len(seen) - 1 - WINDOW:
            slot = step % WINDOW
            assert np.array_equal(t.w_possible[slot], week["possible"])
            assert np.array_equal(t.w_attended[slot], week["attended"])
            assert np.array_equal(t.w_incidents[slot], np.minimum(week["incidents"], 127))
            assert np.array_equal(t.w_logins[slot], week["logins"])
    for field, column in (("incidents", t.last_incident_step), ("logins", t.last_login_step)):
        happened = np.array([w[field] > 0 for w in seen])
        last = np.where(happened.any(axis=0),
                        len(seen) - 1 - np.argmax(happened[::-1], axis=0), -1)
        assert np.array_equal(column, last), field


def test_current_engagement_and_wellbeing_add_the_action_effects() -> None:
    t = StudentTable.from_columns(engagement_base=np.array([0.5, -1.0]),
                                  engagement_ar=np.array([0.25, 0.0]),
                                  eff_engagement=np.array([1.0, 0.0]),
                                  wellbeing_base=np.array([0.0, 2.0]),
                                  wellbeing_ar=np.array([-0.5, 0.0]),
                                  eff_wellbeing=np.array([0.75, 0.0]))
    assert t.engagement().tolist() == [1.75, -1.0]
    assert t.wellbeing().tolist() == [0.25, 2.0]
    assert t.engagement(np.array([1])).tolist() == [-1.0]
    fresh = StudentTable(1)
    assert np.isnan(fresh.reading_gap_start[0]) and fresh.exit_step[0] == -1


@pytest.mark.parametrize("week_sd", [0.0, 1.0])
def test_a_stated_absence_rate_is_recovered_with_and_without_weekly_noise(week_sd: float) -> None:
    """With absence depending on nothing but its logit (-2) and the week's noise (SD s, shared
    by the week's 10 sessions), a student misses a session with chance m = E sigmoid(-2 + s z),
    and a week's sessions missed have variance 10 E[p (1 - p)] + 100 Var(p)."""
    sc = scenario(trust=WEEK_TRUST, dynamics={
        "absence_logit": -2.0, "absence_engagement": 0.0, "absence_wellbeing": 0.0,
        "absence_school_sd": 0.0, "seasonality": 0.0, "absence_week_sd": week_sd})
    model = TrustModel(sc, seed=17)
    model.step()
    t = model.students
    def moment(k: int) -> float:
        return integrate.quad(lambda z: stats.norm.pdf(z) * sigmoid(-2 + week_sd * z) ** k,
                              -12, 12)[0]

    m1, var_p = moment(1), moment(2) - moment(1) ** 2
    missed = (t.possible - t.attended).astype(float)
    n = len(t)
    per_student = 10 * (m1 - m1 ** 2 - var_p) + 100 * var_p
    within(missed.sum() / (10 * n), m1, math.sqrt(per_student / n) / 10)
    within(missed.var(), per_student, per_student * 0.05)
