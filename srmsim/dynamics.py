"""Weekly student dynamics, vectorised over the whole trust.

Each function updates the :class:`~srmsim.students.StudentTable` in place for one week. The
model calls them in the documented step order (see :mod:`srmsim.model`). All randomness comes from
:class:`~srmsim.rng.CRN` keyed by (decision, run week, uid), in float32 where precision allows.
"""

from __future__ import annotations

import functools

import numpy as np

from srmsim import calendar
from srmsim.rng import CRN, binomial_inv, poisson_inv
from srmsim.scenario import DynamicsConfig
from srmsim.students import ENROLLED, LEFT, WINDOW, WITHDRAWN, StudentTable, in_year_groups

F32 = np.float32
WEEK_MONTHS = F32(12.0 / calendar.WEEKS_PER_YEAR)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out = np.negative(x)
    with np.errstate(over="ignore"):  # exp -> inf gives 1 / inf = 0, the right limit
        np.exp(out, out=out)
    out += F32(1.0)
    np.reciprocal(out, out=out)
    return out


def advance_latents(t: StudentTable, d: DynamicsConfig, crn: CRN, step: int) -> None:
    """AR(1) transient parts of engagement and wellbeing: persistence plus a weekly shock."""
    z_e, z_w = crn.normal2("latent.shock", step, t.uid)
    phi_e, phi_w = F32(d.engagement_persistence), F32(d.wellbeing_persistence)
    t.engagement_ar *= phi_e
    t.engagement_ar += F32(d.engagement_shock_sd * np.sqrt(1 - d.engagement_persistence**2)) * z_e
    t.wellbeing_ar *= phi_w
    t.wellbeing_ar += F32(d.wellbeing_shock_sd * np.sqrt(1 - d.wellbeing_persistence**2)) * z_w


class WeekObservation:
    """What the school's MIS and LMS record for one week, one element per student."""

    __slots__ = ("possible", "attended", "incidents", "logins", "set", "on_time", "withdrew")

    def __init__(self, possible, attended, incidents, logins, set_, on_time, withdrew):
        self.possible = possible
        self.attended = attended
        self.incidents = incidents
        self.logins = logins
        self.set = set_
        self.on_time = on_time
        self.withdrew = withdrew

    #: dtype of each field, as :func:`observe_week` makes them
    DTYPES = {"possible": np.int8, "attended": np.int8, "incidents": np.int16,
              "logins": np.int8, "set": np.int8, "on_time": np.int8, "withdrew": np.bool_}

    @classmethod
    def empty(cls, n: int) -> WeekObservation:
        """A whole table's week, filled block by block with :meth:`put` (allocated once per
        layout and reused every week)."""
        return cls(*(np.zeros(n, dtype=dt) for dt in cls.DTYPES.values()))

    def put(self, rows: slice, part: WeekObservation) -> None:
        for name in self.__slots__:
            getattr(self, name)[rows] = getattr(part, name)


def week_rows(
    t: StudentTable, d: DynamicsConfig, crn: CRN, step: int, week: int,
    withdrawal_logit: float | None, obs: WeekObservation, rows: slice,
) -> bool:
    """The per-student part of one week (latents, observation, records) for ``rows`` only;
    whether it ran compiled (the block's other passes then run compiled too).

    Every step is elementwise and every draw keyed by uid, so running the table block by block
    (or blocks on threads) gives the same bits as one pass over the whole table. The week runs
    as compiled passes (:mod:`srmsim.kernels.week`) on a large table where numba is installed
    (``pip install 'srmsim[fast]'``), else as numpy passes (:func:`week_rows_numpy`); both give
    the same bits (``SRMSIM_WEEK`` in the environment chooses, see :mod:`srmsim.kernels`).
    """
    from srmsim import kernels

    compiled = kernels.week_kernel(len(t)) is not None
    run = week_rows_compiled if compiled else week_rows_numpy
    run(t, d, crn, step, week, withdrawal_logit, obs, rows)
    return compiled


def week_constants(d: DynamicsConfig, week: int, withdrawal_logit: float | None) -> np.ndarray:
    """The float32 constants of one week's pass, as :func:`advance_latents` and
    :func:`observe_week` round them, in the order of :mod:`srmsim.kernels.week`'s ``P_*``."""
    return np.array([
        d.engagement_persistence,
        F32(d.engagement_shock_sd * np.sqrt(1 - d.engagement_persistence**2)),
        d.wellbeing_persistence,
        F32(d.wellbeing_shock_sd * np.sqrt(1 - d.wellbeing_persistence**2)),
        calendar.SEASON[week] * d.seasonality,
        d.absence_engagement, d.absence_wellbeing, d.absence_week_sd,
        np.log(max(d.incident_rate, 1e-9)), d.incident_engagement, np.log(d.male_incident_ratio),
        d.login_logit, d.login_engagement, d.on_time_logit, d.on_time_engagement,
        1.0 / calendar.SESSIONS_PER_WEEK, d.attainment_attendance, 0.93,
        d.attainment_engagement, d.attainment_noise_sd, d.attainment_reversion,
        d.reading_growth_per_sd, WEEK_MONTHS,
        0.0 if withdrawal_logit is None else withdrawal_logit, d.withdrawal_engagement,
    ], dtype=np.float64).astype(F32)


#: decisions whose keys the compiled week takes, in the order of its ``K_*``
WEEK_DECISIONS = ("latent.shock", "week.noise", "week.absence", "week.lms", "week.withdrawal")


def week_rows_compiled(
    t: StudentTable, d: DynamicsConfig, crn: CRN, step: int, week: int,
    withdrawal_logit: float | None, obs: WeekObservation, rows: slice,
) -> None:
    """:func:`week_rows` as compiled passes over the rows (:mod:`srmsim.kernels.week`)."""
    from srmsim import kernels
    from srmsim.kernels.week import week_pass as kernel

    keys = np.array([crn.key(name, step) for name in WEEK_DECISIONS], dtype=np.uint64)
    years = _year_lookup(tuple(d.withdrawal_years))
    slot = step % WINDOW
    col = [getattr(t, name)[rows] for name in kernels.WEEK_COLUMNS]
    buf = [getattr(t, name)[slot, rows] for name in kernels.WEEK_BUFFERS]
    out = [getattr(obs, name)[rows] for name in WeekObservation.__slots__]
    kernel(week_constants(d, week, withdrawal_logit), keys, calendar.SESSIONS_PER_WEEK,
           d.assignments_per_week, step, withdrawal_logit is not None, years, *col, *buf, *out)


@functools.lru_cache(maxsize=16)
def _year_lookup(years: tuple[int, ...]) -> np.ndarray:
    """``lookup[year + 128]``: whether an int8 year group is one of ``years`` (built once, not
    in every block of every week; the kernel only reads it)."""
    return in_year_groups(np.arange(-128, 128, dtype=np.int8), years)


def week_rows_numpy(
    t: StudentTable, d: DynamicsConfig, crn: CRN, step: int, week: int,
    withdrawal_logit: float | None, obs: WeekObservation, rows: slice,
) -> None:
    """:func:`week_rows` as numpy passes over the rows: ``t.take(rows)`` of a slice is a table
    of views, so the updates land in ``t``; the rows' observations are copied into ``obs``."""
    part = t.take(rows)
    advance_latents(part, d, crn, step)
    seen = observe_week(part, d, crn, step, week, withdrawal_logit)
    record_week(part, seen, step)
    obs.put(rows, seen)


#: the weekly report's totals by school, in this order, summed block by block in the week's
#: pass: students on roll (after the week's withdrawals), then the week's observations
OBSERVED = ("possible", "attended", "incidents", "logins", "set", "on_time", "withdrew")
TOTALLED = ("enrolled", *OBSERVED)


def week_block(
    t: StudentTable, d: DynamicsConfig, crn: CRN, step: int, week: int,
    withdrawal_logit: float | None, obs: WeekObservation, school_starts: np.ndarray,
    school_sizes: np.ndarray, reading: bool, term_end: bool, rows: slice,
) -> tuple[int, np.ndarray]:
    """One block's whole week: :func:`week_rows`, its schools' totals (while the block is in
    cache) and the week's tests. Returns :func:`block_totals`; the same function runs in the
    model's process, on its threads and in its helper processes. Compiled passes where
    :func:`week_rows` runs them, else numpy passes: the same bits either way."""
    compiled = week_rows(t, d, crn, step, week, withdrawal_logit, obs, rows)
    first, part = block_totals(t, obs, school_starts, school_sizes, rows, compiled)
    if reading:  # after the block's week: each student's order of steps as before
        reading_test(t, d, crn, step, rows, compiled)
    if term_end:
        term_assessments(t, d, crn, step, rows, compiled)
    return first, part


def block_totals(t: StudentTable, obs: WeekObservation, school_starts: np.ndarray,
                 school_sizes: np.ndarray, rows: slice,
                 compiled: bool = False) -> tuple[int, np.ndarray]:
    """The :data:`TOTALLED` fields over one block's rows, by school: (index of the block's
    first school, int64 array (fields, schools in the block)). A school split between blocks
    gets a part from each; integer sums, so the order never matters. Nothing after the blocks'
    pass changes a student's status before the report. ``compiled``: in one compiled pass
    (:func:`srmsim.kernels.week.school_totals`) rather than a ``reduceat`` a field."""
    lo, hi = rows.start, rows.stop
    if hi <= lo:
        return 0, np.zeros((len(TOTALLED), 0), dtype=np.int64)
    first = int(np.searchsorted(school_starts, lo, side="right")) - 1
    last = int(np.searchsorted(school_starts, hi - 1, side="right")) - 1
    local = np.maximum(school_starts[first:last + 1], lo) - lo
    if compiled:
        from srmsim.kernels.week import school_totals

        part = np.empty((len(TOTALLED), last - first + 1), dtype=np.int64)
        school_totals(local, t.status[lo:hi], obs.possible[lo:hi], obs.attended[lo:hi],
                      obs.incidents[lo:hi], obs.logins[lo:hi], obs.set[lo:hi],
                      obs.on_time[lo:hi], obs.withdrew[lo:hi], part)
        return first, part
    fields = [t.status[lo:hi] == ENROLLED, *(getattr(obs, name)[lo:hi] for name in OBSERVED)]
    part = np.empty((len(fields), last - first + 1), dtype=np.int64)
    for f, values in enumerate(fields):
        part[f] = np.add.reduceat(values, local, dtype=np.int64)
    part[:, school_sizes[first:last + 1] == 0] = 0  # reduceat's value for an empty one
    return first, part


def absence_probability(d: DynamicsConfig, week: int, static: np.ndarray,
                        engagement: np.ndarray, wellbeing: np.ndarray,
                        eff_absence: np.ndarray | np.float32, z_abs: np.ndarray) -> np.ndarray:
    """A week's probability of missing each session; the policy engine also calls it to count
    the attendance actions add (the same week with their effects taken out)."""
    logit: np.ndarray = static + F32(calendar.SEASON[week] * d.seasonality)
    logit = logit - F32(d.absence_engagement) * engagement
    logit -= F32(d.absence_wellbeing) * wellbeing
    logit += eff_absence
    logit += F32(d.absence_week_sd) * z_abs
    return _sigmoid(logit)


def observe_week(
    t: StudentTable, d: DynamicsConfig, crn: CRN, step: int, week: int,
    withdrawal_logit: float | None,
) -> WeekObservation:
    """Sessions attended, incidents, LMS logins and assignments; then attainment, reading, age."""
    enrolled = t.status == ENROLLED
    engagement = t.engagement()
    wellbeing = t.wellbeing()
    z_abs, z_att = crn.normal2("week.noise", step, t.uid)
    u_abs, u_inc = crn.uniform2("week.absence", step, t.uid)
    u_log, u_set = crn.uniform2("week.lms", step, t.uid)

    p_absent = absence_probability(d, week, t.absence_static, engagement, wellbeing,
                                   t.eff_absence, z_abs)
    missed = binomial_inv(u_abs, calendar.SESSIONS_PER_WEEK, p_absent)
    possible = np.where(enrolled, np.int8(calendar.SESSIONS_PER_WEEK), np.int8(0))
    attended = (possible - missed) * enrolled

    log_rate = F32(np.log(max(d.incident_rate, 1e-9))) - F32(d.incident_engagement) * engagement
    log_rate += F32(np.log(d.male_incident_ratio)) * t.sex
    log_rate += t.eff_incidents
    # a rate of e**9 a week already gives poisson_inv's cap on every draw; a larger one would
    # overflow to inf and turn the draws into NaN comparisons (fewer incidents, not the cap)
    np.minimum(log_rate, F32(9.0), out=log_rate)
    incidents = poisson_inv(u_inc, np.exp(log_rate)) * enrolled

    logins = binomial_inv(u_log, 5, _sigmoid(F32(d.login_logit) + F32(d.login_engagement) * engagement))
    logins = logins * enrolled
    n_set = d.assignments_per_week
    set_ = np.where(enrolled, np.int8(n_set), np.int8(0))
    p_on_time = _sigmoid(F32(d.on_time_logit) + F32(d.on_time_engagement) * engagement)
    on_time = binomial_inv(u_set, n_set, p_on_time) * enrolled if n_set else set_

    # Attainment grows with attendance (DfE: 95-100% attenders are ~1.9x as likely to pass).
    rate = attended.astype(F32) * F32(1.0 / calendar.SESSIONS_PER_WEEK)
    gain = F32(d.attainment_attendance) * (rate - F32(0.93))
    # engagement above or below the student's own usual level (incl. action effects) moves
    # attainment; the stable part is already in the student's attainment level
    gain += F32(d.attainment_engagement) * (engagement - t.engagement_base)
    gain += F32(d.attainment_noise_sd) * z_att
    # deviations from the entry level fade slowly (also the fade-out of action effects), so
    # persistent attenders and absentees spread apart only so far over a multi-year run
    gain -= F32(d.attainment_reversion) * (t.attainment - t.attainment_anchor)
    t.attainment += gain * enrolled
    # Reading age grows a month a month for an average reader, faster for stronger students.
    t.reading_age += WEEK_MONTHS * (F32(1.0) + F32(d.reading_growth_per_sd) * t.attainment)
    t.age_months += WEEK_MONTHS

    withdrew = np.zeros(len(t), dtype=bool)
    if withdrawal_logit is not None:
        at_risk = enrolled & in_year_groups(t.year_group, d.withdrawal_years)
        if at_risk.any():
            idx = np.flatnonzero(at_risk)
            u = crn.uniform("week.withdrawal", step, t.uid[idx])
            h = _sigmoid(F32(withdrawal_logit) - F32(d.withdrawal_engagement) * engagement[idx])
            out = idx[u < h]
            t.status[out] = WITHDRAWN
            t.exit_step[out] = step
            withdrew[out] = True
    return WeekObservation(possible, attended, incidents, logins, set_, on_time, withdrew)


def _mark_week(last: np.ndarray, happened: np.ndarray, step: int) -> None:
    """``last = step`` where ``happened``, as ``last += (step - last) * happened``: exact in the
    integer column, and about twenty times faster than a masked copy (``np.copyto(where=)``)."""
    gap = last.dtype.type(step) - last
    gap *= happened
    last += gap


def record_week(t: StudentTable, obs: WeekObservation, step: int) -> None:
    """Add the week to the run, year and term totals and to the rolling buffers."""
    t.possible += obs.possible
    t.attended += obs.attended
    t.incidents += obs.incidents
    t.logins += obs.logins
    t.set_total += obs.set
    t.on_time_total += obs.on_time
    t.year_possible += obs.possible
    t.year_attended += obs.attended
    t.term_possible += obs.possible
    t.term_attended += obs.attended
    t.term_incidents += obs.incidents
    _mark_week(t.last_login_step, obs.logins > 0, step)
    _mark_week(t.last_incident_step, obs.incidents > 0, step)
    slot = step % WINDOW
    t.w_possible[slot] = obs.possible
    t.w_attended[slot] = obs.attended
    t.w_incidents[slot] = np.minimum(obs.incidents, 127)
    t.w_logins[slot] = obs.logins
    t.w_set[slot] = obs.set
    t.w_on_time[slot] = obs.on_time


def reading_test(t: StudentTable, d: DynamicsConfig, crn: CRN, step: int,
                 rows: slice = slice(None), compiled: bool = False) -> None:
    """A standardised reading test: a noisy reading age, as a school would record it.

    For ``rows`` only (in place: a slice of the table is a table of views), so the model runs it
    in the week's blocks, on their threads; every step is elementwise and keyed by uid.
    ``compiled``: as :func:`srmsim.kernels.assessments.reading_test`, with the same bits."""
    part = t.take(rows)
    if compiled:
        from srmsim.kernels import assessments

        assessments.reading_test(crn.key("test.reading", step), F32(d.reading_test_sd),
                                 part.uid, part.status, part.reading_age, part.age_months,
                                 part.reading_obs, part.reading_obs_age, part.reading_gap_start)
        return
    enrolled = part.status == ENROLLED
    z = crn.normal("test.reading", step, part.uid).astype(F32)
    np.copyto(part.reading_obs, part.reading_age + F32(d.reading_test_sd) * z, where=enrolled)
    np.copyto(part.reading_obs_age, part.age_months, where=enrolled)
    first = enrolled & np.isnan(part.reading_gap_start)
    part.reading_gap_start[first] = (part.reading_obs - part.reading_obs_age)[first]


def term_assessments(t: StudentTable, d: DynamicsConfig, crn: CRN, step: int,
                     rows: slice = slice(None), compiled: bool = False) -> None:
    """End of term: assessment score, satisfaction pulse (1-5) and the term's attendance (for
    ``rows`` only, in place, as :func:`reading_test`; ``compiled`` as
    :func:`srmsim.kernels.assessments.term_assessments`, with the same bits)."""
    part = t.take(rows)
    term = calendar.TERM_NAMES[calendar.term_of(step % calendar.WEEKS_PER_YEAR)]
    if compiled:
        from srmsim.kernels import assessments

        assessments.term_assessments(
            crn.key("test.term", step), F32(d.assessment_sd), part.uid, part.status,
            part.term_attended, part.term_possible, getattr(part, f"attendance_{term}"),
            part.attainment, part.wellbeing_base, part.wellbeing_ar, part.eff_wellbeing,
            part.engagement_base, part.engagement_ar, part.eff_engagement, part.assessment,
            part.satisfaction)
        return
    enrolled = part.status == ENROLLED
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = (part.term_attended / part.term_possible).astype(F32)
    column = getattr(part, f"attendance_{term}")
    column[part.term_possible > 0] = rate[part.term_possible > 0]
    z_a, z_s = crn.normal2("test.term", step, part.uid)
    np.copyto(part.assessment, part.attainment + F32(d.assessment_sd) * z_a, where=enrolled)
    pulse = F32(3.0) + F32(0.9) * part.wellbeing() + F32(0.3) * part.engagement() + F32(0.6) * z_s
    np.copyto(part.satisfaction, np.clip(np.round(pulse), 1, 5), where=enrolled)


def reset_term(t: StudentTable) -> None:
    t.term_possible[:] = 0
    t.term_attended[:] = 0
    t.term_incidents[:] = 0


def sit_exams(t: StudentTable, d: DynamicsConfig, crn: CRN, step: int, final_year: int) -> None:
    """Leavers in the final year group sit the exam and leave."""
    leaving = (t.status == ENROLLED) & (t.year_group == final_year)
    if leaving.any():
        idx = np.flatnonzero(leaving)
        z = crn.normal("exam", step, t.uid[idx]).astype(F32)
        t.exam_score[idx] = t.attainment[idx] + F32(d.exam_sd) * z
        t.status[idx] = LEFT
        t.exit_step[idx] = step


def withdrawal_logit(annual: float, slope: float, engagement: np.ndarray) -> float | None:
    """Weekly withdrawal logit intercept that makes the average student's chance of
    withdrawing within a year equal ``annual`` over the given engagement distribution.

    Solved once from the starting population (the same in every policy variant, so common
    random numbers hold); with ``slope`` 0 it is the plain weekly hazard.
    """
    if annual <= 0 or len(engagement) == 0:
        return None
    from scipy.optimize import brentq

    e = np.asarray(engagement, dtype=np.float64)
    weeks = calendar.WEEKS_PER_YEAR

    def excess(c: float) -> float:
        with np.errstate(over="ignore"):  # exp(800) is inf: a hazard of 0, as meant
            h = 1.0 / (1.0 + np.exp(-(c - slope * e)))
        return float(np.mean(1.0 - (1.0 - h) ** weeks)) - annual

    lo, hi = -30.0, 30.0
    if excess(lo) > 0 or excess(hi) < 0:
        # a steep slope (or a share of 1, or a tiny one) out of reach of +-30: widen until every
        # student's logit is beyond +-40 (a hazard of 1, or 0, in float64), which brackets any
        # share in (0, 1]; the usual bracket is kept first so ordinary runs are unchanged
        z = slope * e  # (a slope of either sign)
        lo = min(lo, float(z.min()) - 800.0)
        hi = max(hi, float(z.max()) + 40.0)
    return float(brentq(excess, lo, hi, xtol=1e-10))
