"""Target moments of a trust's records, measured identically on data and on simulated runs.

Why two stages: :func:`student_measures` reduces the two schema tables to one row per student
(school, FSM, sessions, an attainment score, a reading gap) following a :class:`MomentSpec` that
is fixed *from the data* (which weeks, which term's assessment, which reading test), and
:func:`compute_moments` turns those rows into moments. A simulated run is exported to the same
tables (:mod:`srmsim.calibrate.export`) and measured with the same spec, so data and simulation
are measured by the same code on the same weeks and terms; and the bootstrap resamples the
per-student rows cheaply.

The moments (:data:`MOMENTS`):

- ``attendance``: sessions attended / possible over all students (pooled);
- ``persistent_absence`` (overall, ``_fsm``, ``_non_fsm``) and ``severe_absence``: share of
  students missing at least 10% / 50% of their possible sessions (whole-session arithmetic, so
  exactly 10% counts);
- ``attendance_p10``, ``_p25``, ``_p50``: quantiles of the students' attendance rates;
- ``attendance_icc`` and ``attainment_icc``: between-school ICC by the one-way ANOVA estimator
  for unequal school sizes, *not* truncated at zero (truncation would make the objective flat
  near zero between-school variance);
- ``attainment_attendance_slope``: OLS slope of the standardised attainment score (assessment or
  exam; standardised so the school's scale does not matter) on attendance, per 10 points;
- ``reading_gap_mean`` and ``reading_gap_sd``: reading age minus age at the test, in months.

Ages at a test are the student's ``age_months`` (at the dataset's reference date) plus the months
from the reference date to the test, on srmsim's calendar: the reference date is taken to be the
first day of the autumn term, term *p* ends after week 13, 25, 38 (+39 per later year) and week
*w* after *w* weeks; half a month is added because ages are in completed months (an age band
from anonymise counts at its midpoint). For real data set the import's ``reference_date`` to
the first day of the autumn term.
A moment the data cannot give (no sessions, no scores, one school, no reading ages...) is NaN and
listed in ``MomentSpec.skipped`` with the reason.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from srmsim import calendar
from srmsim.errors import DataError
from srmsim.labels import agree

WEEK_MONTHS = 12.0 / calendar.WEEKS_PER_YEAR
TERMS_PER_YEAR = len(calendar.TERM_ENDS)


@dataclass(frozen=True)
class MomentDef:
    """A moment: its name, what it measures, and the floor on its standard error.

    ``se_floor`` stops a moment that happens not to vary in a small sample (no severe absence at
    all) from getting an infinite weight; it is a fixed number, not one pupil's share, so in
    a small trust it can weigh an event-free share far above its resolution (the floors and
    that caveat are in docs/guides/trust.md).
    """

    name: str
    description: str
    se_floor: float
    rate: bool = False  # a share of students (a count over a count): suppressed on small counts
    share: bool = False  # a proportion from 0 to 1 (sessions or students): printed as a percentage
    unit: str = ""  # what a value of any other moment is in, printed after it


MOMENTS: tuple[MomentDef, ...] = (
    MomentDef("attendance", "sessions attended / sessions possible", 0.002, share=True),
    MomentDef("persistent_absence", "share missing 10%+ of sessions", 0.005, rate=True,
              share=True),
    MomentDef("persistent_absence_fsm", "share missing 10%+, FSM students", 0.01, rate=True,
              share=True),
    MomentDef("persistent_absence_non_fsm", "share missing 10%+, non-FSM students", 0.005,
              rate=True, share=True),
    MomentDef("severe_absence", "share missing 50%+ of sessions", 0.003, rate=True, share=True),
    MomentDef("attendance_p10", "10th percentile of student attendance", 0.003, share=True),
    MomentDef("attendance_p25", "25th percentile of student attendance", 0.003, share=True),
    MomentDef("attendance_p50", "median student attendance", 0.003, share=True),
    MomentDef("attendance_icc", "between-school ICC of student attendance", 0.01),
    MomentDef("attainment_icc", "between-school ICC of attainment", 0.01),
    MomentDef("attainment_attendance_slope", "SD of attainment per 10 points of attendance",
              0.02, unit="SD"),
    MomentDef("reading_gap_mean", "mean reading age minus age (months)", 0.25, unit="months"),
    MomentDef("reading_gap_sd", "SD of reading age minus age (months)", 0.25, unit="months"),
)
MOMENT_NAMES: tuple[str, ...] = tuple(m.name for m in MOMENTS)
_INDEX = {name: i for i, name in enumerate(MOMENT_NAMES)}
_ATTENDANCE = MOMENT_NAMES[:9]


def moment_def(name: str) -> MomentDef:
    return MOMENTS[_INDEX[name]]


def elapsed_months_at_test(period_type: str, period: int) -> float:
    """Months from the reference date (first day of the autumn term) to a test in a period."""
    if period_type == "week":
        return period * WEEK_MONTHS
    year, term = divmod(int(period) - 1, TERMS_PER_YEAR)
    return (year * calendar.WEEKS_PER_YEAR + calendar.TERM_ENDS[term] + 1) * WEEK_MONTHS


@dataclass
class MomentSpec:
    """How records are measured: fixed once from the data, then applied to simulated runs too.

    - ``attendance_type``/``attendance_periods``: the rows whose sessions are summed (week rows
      when there are any, else term rows);
    - ``attainment_field``/``attainment_period``: the score used for the attainment ICC and
      slope: the term with the most assessment scores (latest on ties), else the exam score;
    - ``reading_type``/``reading_period``: the term (else week) with the most reading ages
      (latest on ties); ``reading_elapsed_months`` is the age added to ``age_months`` at that
      test;
    - ``skipped``: moments the data cannot give, with the reason.
    """

    attendance_type: str | None = None
    attendance_periods: tuple[int, ...] = ()
    attainment_field: str | None = None
    attainment_period: int | None = None
    reading_type: str | None = None
    reading_period: int | None = None
    reading_elapsed_months: float | None = None
    schools: int = 0
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def available(self) -> list[str]:
        return [m for m in MOMENT_NAMES if m not in self.skipped]

    @property
    def weeks_needed(self) -> int:
        """Weeks a simulation must run to cover every period the spec reads."""
        reads: list[tuple[str, int]] = []
        if self.attendance_type and self.attendance_periods:
            reads.append((self.attendance_type, max(self.attendance_periods)))
        if self.attainment_field == "assessment_score" and self.attainment_period:
            reads.append(("term", self.attainment_period))
        elif self.attainment_field == "exam_score":
            reads.append(("term", TERMS_PER_YEAR))  # exams are sat at the end of a year
        if self.reading_type and self.reading_period:
            reads.append((self.reading_type, self.reading_period))
        weeks = 1
        for ptype, period in reads:
            if ptype == "week":
                weeks = max(weeks, period)
            else:
                years = (period - 1) // TERMS_PER_YEAR + 1
                weeks = max(weeks, years * calendar.WEEKS_PER_YEAR)
        return weeks

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["attendance_periods"] = _ranges(self.attendance_periods)
        return d

    @classmethod
    def from_data(cls, students: pd.DataFrame, observations: pd.DataFrame) -> MomentSpec:
        """Choose what to measure from what the data hold; say what cannot be measured."""
        _require(students, ("student_id", "school"), "students")
        _require(observations, ("student_id", "period_type", "period"), "observations")
        spec = cls(schools=int(students["school"].nunique()))
        skip = spec.skipped
        obs = observations
        ptype = obs["period_type"].astype("str")
        kind, rows = attendance_rows(obs)
        if kind is not None:
            spec.attendance_type = kind
            spec.attendance_periods = tuple(sorted(int(p) for p in
                                                   obs.loc[rows, "period"].unique()))
        else:
            for m in _ATTENDANCE:
                skip[m] = "no sessions_possible/sessions_attended in the observations"
            skip["attainment_attendance_slope"] = "no attendance in the observations"

        if "fsm" not in students.columns or students["fsm"].isna().all():
            for m in ("persistent_absence_fsm", "persistent_absence_non_fsm"):
                skip.setdefault(m, "no fsm in the students table")
        else:
            fsm = students["fsm"].dropna().astype(bool)
            if not fsm.any():
                skip.setdefault("persistent_absence_fsm", "no FSM students")
            if fsm.all():
                skip.setdefault("persistent_absence_non_fsm", "no non-FSM students")

        term = ptype == "term"
        if "assessment_score" in obs.columns and (term & obs["assessment_score"].notna()).any():
            spec.attainment_field = "assessment_score"
            spec.attainment_period = _busiest(obs.loc[term & obs["assessment_score"].notna(),
                                                      "period"])
        elif "exam_score" in obs.columns and obs["exam_score"].notna().any():
            spec.attainment_field = "exam_score"
        else:
            skip["attainment_icc"] = "no assessment_score (term rows) or exam_score"
            skip.setdefault("attainment_attendance_slope",
                            "no assessment_score (term rows) or exam_score")
        if spec.schools < 3:
            for m in ("attendance_icc", "attainment_icc"):
                skip.setdefault(m, f"needs at least 3 schools (the data have {spec.schools})")

        ages = _student_age(students)
        if "reading_age_months" not in obs.columns or obs["reading_age_months"].isna().all():
            reason = "no reading_age_months in the observations"
        elif np.isnan(ages).all():
            reason = "no age_months in the students table"
        else:
            has = obs["reading_age_months"].notna()
            kind = "term" if (has & term).any() else "week"
            if kind == "week":  # simulated trusts test reading on a year's first week only
                first = (_num(obs["period"]) - 1) % calendar.WEEKS_PER_YEAR \
                    == calendar.READING_TEST_WEEKS[0]
                has &= first
            reason = "" if (has & (ptype == kind)).any() else (
                "reading ages only on week rows other than a school year's first week (the "
                "simulation tests reading in the first week of each year and at each term's "
                "end; give them on those week rows or on term rows)")
            if not reason:
                spec.reading_type = kind
                spec.reading_period = _busiest(obs.loc[has & (ptype == kind), "period"])
                spec.reading_elapsed_months = elapsed_months_at_test(kind, spec.reading_period)
        if reason:
            skip["reading_gap_mean"] = skip["reading_gap_sd"] = reason
        return spec


def _ranges(periods: tuple[int, ...]) -> str:
    """``(1, 2, 3, 5)`` -> ``"1-3,5"``, for reports."""
    out: list[str] = []
    run: list[int] = []
    for p in periods:
        if run and p == run[-1] + 1:
            run.append(p)
        else:
            if run:
                out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = [p]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def _busiest(periods: pd.Series) -> int:
    """The period with the most rows; the latest on ties."""
    counts = periods.astype("int64").value_counts()
    best = counts.max()
    return int(max(counts.index[counts == best]))


def _require(frame: pd.DataFrame, cols: tuple[str, ...], table: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(f"{table} table: missing {agree(len(missing), 'column')} {missing}")


def _student_age(students: pd.DataFrame) -> np.ndarray:
    """Expected exact age in months at the reference date.

    ``age_months`` counts completed months, on average half a month short of the exact age, so
    half a month is added; if anonymise generalised it into a band (``age_months_min``/``_max``,
    inclusive whole months), the band's midpoint is used.
    """
    if "age_months" in students.columns and students["age_months"].notna().any():
        return pd.to_numeric(students["age_months"], errors="coerce").to_numpy(
            float, na_value=np.nan) + 0.5
    if {"age_months_min", "age_months_max"} <= set(students.columns):
        lo = pd.to_numeric(students["age_months_min"], errors="coerce").to_numpy(float,
                                                                                 na_value=np.nan)
        hi = pd.to_numeric(students["age_months_max"], errors="coerce").to_numpy(float,
                                                                                 na_value=np.nan)
        return (lo + hi + 1) / 2  # inclusive bounds of whole months: midpoint of the band
    return np.full(len(students), np.nan)


def attendance_rows(observations: pd.DataFrame) -> tuple[str | None, pd.Series]:
    """The kind of period attendance is measured over (weekly rows if any hold sessions, else
    termly: a pupil's weeks and terms are the same sessions, counted once) and the rows of that
    kind holding both session counts. ``srmsim data summary`` measures attendance over the same
    rows as the calibration targets: two commands counting pupils with sessions, or persistently
    absent, over different rows would print counts whose difference is a handful of pupils."""
    obs = observations
    ptype = obs["period_type"].astype("str")
    with_sessions = (obs.get("sessions_possible", pd.Series(dtype=float)).notna()
                     & obs.get("sessions_attended", pd.Series(dtype=float)).notna())
    with_sessions = with_sessions.reindex(obs.index, fill_value=False)
    for kind in ("week", "term"):
        rows = with_sessions & (ptype == kind)
        if rows.any():
            return kind, rows
    return None, with_sessions & False


def _num(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(float, na_value=np.nan)


def student_measures(students: pd.DataFrame, observations: pd.DataFrame,
                     spec: MomentSpec) -> pd.DataFrame:
    """One row per student: school, fsm (1/0/NaN), sessions, attainment score, reading gap."""
    _require(students, ("student_id", "school"), "students")
    sid = pd.Index(students["student_id"].astype("str"))
    if sid.has_duplicates:  # the id itself is never shown: it may be a real pupil's
        row = int(np.flatnonzero(sid.duplicated())[0]) + 1
        raise DataError(f"students table: student_id appears more than once, first repeat at "
                        f"row {row} (its value is withheld)")
    obs = observations
    code = sid.get_indexer(obs["student_id"].astype("str"))
    if (code < 0).any():  # neither the id (it may be a real pupil's) nor a small count
        row = int(np.flatnonzero(code < 0)[0]) + 1
        raise DataError(f"observations table: student_id at row {row} (and perhaps others) is "
                        "not in the students table (its value is withheld)")
    n = len(sid)
    ptype = obs["period_type"].astype("str").to_numpy()
    period = _num(obs["period"])
    out = pd.DataFrame({"student_id": sid.to_numpy(),
                        "school": students["school"].astype("str").to_numpy()})
    out["fsm"] = (students["fsm"].astype("float64").to_numpy() if "fsm" in students.columns
                  else np.nan)

    possible: np.ndarray = np.zeros(n)
    attended: np.ndarray = np.zeros(n)
    if spec.attendance_type is not None:
        rows = ((ptype == spec.attendance_type) & np.isin(period, spec.attendance_periods))
        p, a = _num(obs["sessions_possible"]), _num(obs["sessions_attended"])
        rows &= ~np.isnan(p) & ~np.isnan(a)
        possible = np.bincount(code[rows], p[rows], minlength=n)
        attended = np.bincount(code[rows], a[rows], minlength=n)
    out["possible"] = possible
    out["attended"] = attended

    attain = np.full(n, np.nan)
    if spec.attainment_field == "assessment_score":
        rows = (ptype == "term") & (period == spec.attainment_period)
        values = _num(obs["assessment_score"])
        rows &= ~np.isnan(values)
        attain[code[rows]] = values[rows]
    elif spec.attainment_field == "exam_score":
        values = _num(obs["exam_score"])
        rows = np.flatnonzero(~np.isnan(values))
        rows = rows[np.argsort(-period[rows], kind="stable")]  # earliest exam wins below
        attain[code[rows]] = values[rows]
    out["attainment"] = attain

    gap = np.full(n, np.nan)
    if spec.reading_type is not None:
        rows = (ptype == spec.reading_type) & (period == spec.reading_period)
        values = _num(obs["reading_age_months"])
        rows &= ~np.isnan(values)
        age = _student_age(students) + float(spec.reading_elapsed_months or 0.0)
        gap[code[rows]] = values[rows] - age[code[rows]]
    out["reading_gap"] = gap
    return out


# --------------------------------------------------------------------------------------------
# the moments, on arrays (fast enough to bootstrap)


def _icc(values: np.ndarray, groups: np.ndarray) -> float:
    """One-way ANOVA ICC for unequal group sizes, not truncated at zero; undefined (NaN) when
    every value is the same (rounding in the group means made 60 rates of 0.7 an ICC of 0.90)."""
    n_total = len(values)
    k = np.bincount(groups).astype(float)
    used = k > 0
    a = int(used.sum())
    if a < 2 or n_total - a < 1 or not np.ptp(values) > 0:
        return float("nan")
    means = np.bincount(groups, values)[used] / k[used]
    grand = values.mean()
    msb = float((k[used] * (means - grand) ** 2).sum() / (a - 1))
    full_means = np.zeros(len(k))
    full_means[used] = means
    msw = float(((values - full_means[groups]) ** 2).sum() / (n_total - a))
    n0 = (n_total - (k[used] ** 2).sum() / n_total) / (a - 1)
    between = (msb - msw) / n0
    total = between + msw
    return float(between / total) if total > 0 else float("nan")


@dataclass
class _Arrays:
    school: np.ndarray  # int codes
    fsm: np.ndarray  # 1.0 / 0.0 / NaN
    possible: np.ndarray
    attended: np.ndarray
    attainment: np.ndarray
    reading_gap: np.ndarray

    @classmethod
    def of(cls, measures: pd.DataFrame) -> _Arrays:
        codes, _ = pd.factorize(measures["school"].astype("str"))
        return cls(codes.astype(np.int64), _num(measures["fsm"]), _num(measures["possible"]),
                   _num(measures["attended"]), _num(measures["attainment"]),
                   _num(measures["reading_gap"]))

    def take(self, idx: np.ndarray) -> _Arrays:
        return _Arrays(self.school[idx], self.fsm[idx], self.possible[idx], self.attended[idx],
                       self.attainment[idx], self.reading_gap[idx])


def _vector(m: _Arrays, skipped: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                        np.ndarray]:
    """Moment values, the students each is based on (n), and events for rates (else NaN)."""
    skipped = skipped or {}
    val = np.full(len(MOMENTS), np.nan)
    n = np.zeros(len(MOMENTS))
    events = np.full(len(MOMENTS), np.nan)

    def put(name: str, value: float, count: float, ev: float = np.nan) -> None:
        if name not in skipped:
            i = _INDEX[name]
            val[i], n[i], events[i] = value, count, ev

    has = m.possible > 0
    rate = np.full(len(m.possible), np.nan)
    rate[has] = m.attended[has] / m.possible[has]
    if has.any():
        missed = m.possible - m.attended
        pa = has & (missed * 10 >= m.possible)  # whole sessions: exactly 10% counts
        severe = has & (missed * 2 >= m.possible)
        k = int(has.sum())
        put("attendance", m.attended[has].sum() / m.possible[has].sum(), k)
        put("persistent_absence", pa.sum() / k, k, pa.sum())
        put("severe_absence", severe.sum() / k, k, severe.sum())
        for label, group in (("fsm", m.fsm == 1), ("non_fsm", m.fsm == 0)):
            g = has & group
            if g.any():
                put(f"persistent_absence_{label}", pa[g].sum() / g.sum(), g.sum(), pa[g].sum())
        q = np.quantile(rate[has], [0.10, 0.25, 0.50])
        for name, v in zip(("attendance_p10", "attendance_p25", "attendance_p50"), q,
                           strict=True):
            put(name, v, k)
        put("attendance_icc", _icc(rate[has], m.school[has]), k)
    ok = ~np.isnan(m.attainment)
    if ok.sum() > 2:
        put("attainment_icc", _icc(m.attainment[ok], m.school[ok]), ok.sum())
        both = ok & has
        if both.sum() > 2:
            z = m.attainment[both]
            x = 10 * rate[both]
            vx, sz = x.var(), z.std()
            # a constant score has no SD to standardise by; a constant rate's variance can be
            # rounding (3e-30 for 0.8333...), which gave a slope of noise: tested on the values
            if np.ptp(x) > 0 and np.ptp(z) > 0:
                z = (z - z.mean()) / sz
                put("attainment_attendance_slope", float(((x - x.mean()) * z).mean() / vx),
                    both.sum())
    g = m.reading_gap[~np.isnan(m.reading_gap)]
    if len(g) > 1:
        put("reading_gap_mean", float(g.mean()), len(g))
        put("reading_gap_sd", float(g.std(ddof=1)), len(g))
    return val, n, events


#: why a moment the spec reads came out undefined (NaN) on the data
UNDEFINED = {
    "attendance_icc": "no variation to split between schools (every student's attendance rate "
                      "is the same, or no school has two students with sessions)",
    "attainment_icc": "no variation to split between schools (every student's score is the "
                      "same, or no school has two students with a score)",
    "attainment_attendance_slope": "no slope: the score or the attendance rate does not vary "
                                   "among the students with both",
    "reading_gap_mean": "fewer than two students with a reading age",
    "reading_gap_sd": "fewer than two students with a reading age",
}


def skip_undefined(spec: MomentSpec, values: np.ndarray,
                   keep: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Skip, with the reason, the moments the spec reads but the data leave undefined (NaN),
    except those in ``keep`` (withheld on real records, where a reason could give a count
    away); returns their names. A NaN target has nothing to fit: without a reason in
    ``spec.skipped`` a default calibration refused the whole dataset with "no value"."""
    undefined = [m for m in spec.available
                 if m not in keep and np.isnan(values[_INDEX[m]])]
    for m in undefined:
        spec.skipped[m] = "undefined on these data: " + UNDEFINED.get(
            m, "no student to measure it on")
    return undefined


def moment_values(measures: pd.DataFrame, spec: MomentSpec) -> np.ndarray:
    """The moments as an array in :data:`MOMENTS` order (NaN where skipped)."""
    return _vector(_Arrays.of(measures), spec.skipped)[0]


def moments_table(measures: pd.DataFrame, spec: MomentSpec) -> pd.DataFrame:
    """Moment, value, n (students it is based on), events (for shares), description."""
    val, n, events = _vector(_Arrays.of(measures), spec.skipped)
    return pd.DataFrame({
        "moment": list(MOMENT_NAMES), "value": val, "n": n.astype(np.int64),
        "events": pd.array([None if np.isnan(e) else int(e) for e in events], dtype="Int64"),
        "description": [m.description for m in MOMENTS],
        "skipped": [spec.skipped.get(m, "") for m in MOMENT_NAMES],
    })


def moment_counts(measures: pd.DataFrame) -> pd.DataFrame:
    """The students every moment is based on (``n``) and, for shares, counted (``events``),
    for every moment whether or not the spec skips it: the true counts a disclosure audit
    needs (:mod:`srmsim.calibrate.disclosure`). Not for printing."""
    val, n, events = _vector(_Arrays.of(measures))
    return pd.DataFrame({"moment": list(MOMENT_NAMES), "n": n.astype(np.int64),
                         "events": np.where(np.isnan(events), 0, events).astype(np.int64),
                         "rate": [m.rate for m in MOMENTS], "value": val})


def compute_moments(students: pd.DataFrame, observations: pd.DataFrame,
                    spec: MomentSpec | None = None) -> pd.DataFrame:
    """The moments table of records in the schema (a spec from the data unless given)."""
    spec = MomentSpec.from_data(students, observations) if spec is None else spec
    return moments_table(student_measures(students, observations, spec), spec)


def bootstrap_moments(measures: pd.DataFrame, spec: MomentSpec, n_boot: int = 200,
                      seed: int = 0, method: str = "auto") -> tuple[np.ndarray, str]:
    """Bootstrap replicates of the moments, shape ``(n_boot, len(MOMENTS))``, and the method.

    ``schools``: resample whole schools (the right unit when students cluster in schools, and
    needed for the ICCs); ``students``: resample students within each school (keeps every
    school; used by ``auto`` with fewer than 10 schools, where a school bootstrap has too few
    distinct resamples). The students' bootstrap measures the sampling of pupils within these
    schools only, so it leaves out the between-school variation a simulated trust redraws (on
    srmsim's default trust of 4 schools its SEs were 0.56 of the SD across trusts for the
    attendance, 0.31 for the reading gap's mean). The replicates' spread is a school
    bootstrap's plug-in variance, (G - 1) / G of the sampling variance for G schools:
    :func:`bootstrap_scale` is the factor that corrects it.

    In a school bootstrap of 10 or more schools, a moment whose students are in one or two of
    them (:func:`few_school_moments`: FSM recorded in a school or two only) is taken from a
    students' bootstrap drawn alongside: resampling whole schools, the FSM share of pupils all
    in one school is that school's share in every replicate, and its SE was the 0.01 floor
    where its SD across datasets was 0.24 (the students' bootstrap: 0.16). From 3 schools on
    the school bootstrap is kept: with FSM in 3 (5) of 12 schools its SE was 0.112 (0.094)
    against an SD of 0.116 (0.106), the students' 0.077 (0.060), and it keeps the moment's
    correlation with the others (an independent draw has none).
    """
    from srmsim.stats._checks import MAX_REPEATS, whole_number

    # as calibrate() checks them: 2.5 and '5' raised a TypeError, True ran as 1, 10**12 asked
    # for 95 TiB, and seed=-1 or 2.5 failed inside numpy
    n_boot = whole_number(n_boot, "n_boot", 2, MAX_REPEATS)
    seed = whole_number(seed, "seed", 0, 2**63 - 1)
    arr = _Arrays.of(measures)
    n_schools = int(arr.school.max()) + 1 if len(arr.school) else 0
    if method == "auto":
        method = "schools" if n_schools >= 10 else "students"
    if method not in ("schools", "students"):
        raise DataError(f"bootstrap method {method!r}: expected auto, schools or students")
    rng = np.random.default_rng(seed)
    # each school's rows in order, from one sort (a mask of every row for each school took
    # schools x pupils)
    members = np.split(np.argsort(arr.school, kind="stable"),
                       np.cumsum(np.bincount(arr.school))[:-1]) if n_schools else []
    few = _few_schools(arr, method)
    reps = np.full((n_boot, len(MOMENTS)), np.nan)

    def pupils() -> _Arrays:
        return arr.take(np.concatenate([rows[rng.integers(0, len(rows), len(rows))]
                                        for rows in members]))

    for b in range(n_boot):
        if method == "schools":
            pick = rng.integers(0, n_schools, n_schools)
            idx = np.concatenate([members[s] for s in pick])
            sample = arr.take(idx)
            sample.school = np.repeat(np.arange(n_schools), [len(members[s]) for s in pick])
            reps[b] = _vector(sample, spec.skipped)[0]
            if few.any():
                reps[b, few] = _vector(pupils(), spec.skipped)[0][few]
        else:
            reps[b] = _vector(pupils(), spec.skipped)[0]
    return reps, method


#: in a school bootstrap, a moment whose students are in fewer schools than this is
#: bootstrapped as students within those schools (one school: constant; two: three values)
FEW_SCHOOLS = 3


def _moment_schools(m: _Arrays) -> np.ndarray:
    """The schools each moment's students are in (the students :func:`_vector` counts)."""
    has = m.possible > 0
    ok = ~np.isnan(m.attainment)
    masks = {name: has for name in _ATTENDANCE}
    masks["persistent_absence_fsm"] = has & (m.fsm == 1)
    masks["persistent_absence_non_fsm"] = has & (m.fsm == 0)
    masks["attainment_icc"] = ok
    masks["attainment_attendance_slope"] = ok & has
    masks["reading_gap_mean"] = masks["reading_gap_sd"] = ~np.isnan(m.reading_gap)
    return np.array([len(np.unique(m.school[masks[name]])) for name in MOMENT_NAMES])


def _few_schools(m: _Arrays, method: str) -> np.ndarray:
    """Which moments a school bootstrap of 10 or more schools takes from a students' one:
    those whose students are in fewer than :data:`FEW_SCHOOLS` schools."""
    n_schools = len(np.unique(m.school))
    if method != "schools" or n_schools < 10:
        return np.zeros(len(MOMENTS), dtype=bool)
    return _moment_schools(m) < FEW_SCHOOLS


def few_school_moments(measures: pd.DataFrame, method: str) -> list[str]:
    """The moments a bootstrap by ``method`` (``schools`` or ``students``, as resolved by
    :func:`bootstrap_moments`) resamples as students within fixed schools although the trust
    is resampled by school: their students are in one or two schools."""
    few = _few_schools(_Arrays.of(measures), method)
    return [name for name, f in zip(MOMENT_NAMES, few, strict=True) if f]


def bootstrap_scale(measures: pd.DataFrame, method: str) -> np.ndarray:
    """The factor each moment's bootstrap SD is multiplied by to estimate its sampling SE:
    sqrt(G / (G - 1)) for a school bootstrap of G schools, 1 for the students' one (and for the
    moments a school bootstrap takes from a students' one, :func:`few_school_moments`).

    Resampling G schools with replacement gives a mean of school totals the plug-in variance
    s^2 / G with divisor G, (G - 1) / G of the unbiased s^2 / G (the CR1 / jackknife factor):
    on srmsim trusts of 12 schools the bootstrap SEs were 0.94-0.95 of the SD across trusts
    (0.95 expected at 10 schools). Within a school of n pupils the students' bootstrap has
    the same (n - 1) / n, negligible for schools of 20 or more, so it is left alone.
    """
    ones = np.ones(len(MOMENTS))
    if method != "schools":
        return ones
    arr = _Arrays.of(measures)
    g = len(np.unique(arr.school))
    scale = math.sqrt(g / (g - 1)) if g > 1 else 1.0
    return np.where(_few_schools(arr, method), 1.0, scale * ones)


def floored_se(reps: np.ndarray, scale: float | np.ndarray = 1.0) -> np.ndarray:
    """Standard deviation of bootstrap replicates times ``scale`` (:func:`bootstrap_scale`),
    floored at each ``MomentDef.se_floor``."""
    with warnings.catch_warnings():  # a moment skipped in every replicate is all-NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        se = np.nanstd(reps, axis=0, ddof=1) * scale
    floors = np.array([m.se_floor for m in MOMENTS])
    return np.where(np.isnan(se), floors, np.maximum(se, floors))


def bootstrap_se(measures: pd.DataFrame, spec: MomentSpec, n_boot: int = 200, seed: int = 0,
                 method: str = "auto") -> tuple[np.ndarray, str]:
    """Sampling SE of each moment (see :func:`bootstrap_moments`), floored, and the method."""
    reps, method = bootstrap_moments(measures, spec, n_boot, seed, method)
    return floored_se(reps, bootstrap_scale(measures, method)), method


def moments_from_run(result: Any, spec: MomentSpec | None = None) -> pd.DataFrame:
    """The same moments straight from a run's students table (``students.parquet`` quantities).

    Valid for a run whose whole span is what the spec reads: attendance over every week, the
    last assessment, the last reading test (a one-year run without withdrawals, as calibration
    uses). It exists to check that the export and the measurement are faithful to the run: the
    two agree up to the export's rounding (ages in completed months, scores to 0.1).
    """
    st = result.students
    measures = pd.DataFrame({
        "student_id": st["uid"].astype(str), "school": st["school"].astype(str),
        "fsm": st["fsm"].astype(float), "possible": st["sessions_possible"].astype(float),
        "attended": st["sessions_attended"].astype(float),
        "attainment": st["assessment"].astype(float),
        "reading_gap": st["reading_gap_end"].astype(float),
    })
    if spec is None:
        spec = MomentSpec(attendance_type="week", attainment_field="assessment_score",
                          reading_type="term", schools=int(st["school"].nunique()))
    return moments_table(measures, spec)
