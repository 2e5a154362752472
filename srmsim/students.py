"""The trust's students as one struct-of-arrays table.

Why columns and not one Mesa agent per student: the same weekly dynamics over numpy columns run
about 30x (5,000 students) to 100-140x (20,000 and more) faster (benchmarks/mesa_reference.py)
and use a few hundred bytes per student. The table is kept sorted by
school, so per-school totals are one ``np.add.reduceat`` and a school's students are a slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: weeks of weekly history kept per student for rolling windows (a term is 12-14 weeks)
WINDOW = 14

ENROLLED, WITHDRAWN, LEFT = 0, 1, 2
STATUS_NAMES = {ENROLLED: "enrolled", WITHDRAWN: "withdrawn", LEFT: "left"}
#: labels of the ``sex`` column's codes 0 and 1
SEX_NAMES = ("F", "M")


def in_year_groups(year_group: np.ndarray, years: Sequence[int]) -> np.ndarray:
    """Whether each student is in one of ``years``. A run of years (12-13, 7-11) is two
    comparisons; ``np.isin`` sorts, and this runs on every student every week."""
    wanted = sorted(set(years))
    if wanted and wanted[-1] - wanted[0] + 1 == len(wanted):
        info = np.iinfo(year_group.dtype)
        if wanted[0] > info.max or wanted[-1] < info.min:
            return np.zeros(len(year_group), dtype=bool)
        lo, hi = max(wanted[0], info.min), min(wanted[-1], info.max)
        inside = year_group >= year_group.dtype.type(lo)
        inside &= year_group <= year_group.dtype.type(hi)
        return inside
    return np.isin(year_group, wanted)


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    fill: float
    doc: str


# name, dtype, fill for new rows, description. Rolling buffers are separate (2-D).
COLUMNS: tuple[Column, ...] = tuple(
    Column(*c)
    for c in [
        ("uid", "int64", -1, "stable student id, unique across the run"),
        ("school", "int32", -1, "school index 0..n_schools-1"),
        ("year_group", "int8", 0, "National Curriculum year"),
        ("age_months", "float32", 0, "age in months now"),
        ("sex", "int8", 0, "0 female, 1 male"),
        ("fsm", "bool", 0, "eligible for free school meals (disadvantaged)"),
        ("sen", "bool", 0, "special educational needs"),
        ("eal", "bool", 0, "English as an additional language"),
        ("status", "int8", ENROLLED, "0 enrolled, 1 withdrawn, 2 left"),
        ("entry_step", "int16", 0, "run week the student joined"),
        ("exit_step", "int16", -1, "run week the student withdrew or left, -1 if still here"),
        ("prior_attainment", "float32", 0, "attainment on entry (KS2-like), SD units"),
        ("engagement_base", "float32", 0, "stable part of engagement (latent)"),
        ("engagement_ar", "float32", 0, "transient AR(1) part of engagement (latent)"),
        ("wellbeing_base", "float32", 0, "stable part of wellbeing (latent)"),
        ("wellbeing_ar", "float32", 0, "transient part of wellbeing (latent)"),
        ("attainment", "float32", 0, "latent attainment, SD units relative to the national cohort"),
        ("attainment_anchor", "float32", 0, "attainment on entry: deviations fade toward it"),
        ("absence_static", "float32", 0, "absence logit from school and fixed traits"),
        ("reading_age", "float32", 0, "true reading age, months (latent)"),
        ("reading_obs", "float32", np.nan, "last tested reading age, months"),
        ("reading_obs_age", "float32", np.nan, "age in months at the last reading test"),
        ("reading_gap_start", "float32", np.nan, "first tested reading age minus age, months"),
        ("assessment", "float32", np.nan, "last termly assessment score, SD units"),
        ("satisfaction", "float32", np.nan, "last satisfaction pulse, 1-5"),
        ("exam_score", "float32", np.nan, "final exam score on leaving, SD units"),
        ("possible", "int32", 0, "sessions possible, whole run"),
        ("attended", "int32", 0, "sessions attended, whole run"),
        ("incidents", "int32", 0, "behaviour incidents, whole run"),
        ("logins", "int32", 0, "days with an LMS login, whole run"),
        ("set_total", "int32", 0, "assignments set, whole run"),
        ("on_time_total", "int32", 0, "assignments handed in on time, whole run"),
        ("year_possible", "int16", 0, "sessions possible, this school year"),
        ("year_attended", "int16", 0, "sessions attended, this school year"),
        ("term_possible", "int16", 0, "sessions possible, this term"),
        ("term_attended", "int16", 0, "sessions attended, this term"),
        ("term_incidents", "int16", 0, "behaviour incidents, this term"),
        ("attendance_autumn", "float32", np.nan, "attendance rate, autumn term (latest year)"),
        ("attendance_spring", "float32", np.nan, "attendance rate, spring term (latest year)"),
        ("attendance_summer", "float32", np.nan, "attendance rate, summer term (latest year)"),
        ("last_login_step", "int16", -1, "run week of the last LMS login, -1 never"),
        ("last_incident_step", "int16", -1, "run week of the last incident, -1 never"),
        ("eff_absence", "float32", 0, "current action effect on the absence logit"),
        ("eff_engagement", "float32", 0, "current action effect on engagement"),
        ("eff_wellbeing", "float32", 0, "current action effect on wellbeing"),
        ("eff_incidents", "float32", 0, "current action effect on the incident log-rate"),
        ("interventions", "int16", 0, "actions started for this student"),
        ("weeks_waited", "int16", 0, "weeks spent queued for an action"),
        ("staff_minutes", "float32", 0, "staff minutes spent on this student"),
        ("cost", "float32", 0, "cost of actions for this student"),
    ]
)

#: weekly rolling buffers, shape (WINDOW, n): slot ``step % WINDOW`` holds that week's value
BUFFERS: tuple[str, ...] = ("w_possible", "w_attended", "w_incidents", "w_logins", "w_set",
                            "w_on_time")


class StudentTable:
    """All students of the trust; attribute ``t.fsm`` is the FSM column, and so on."""

    # Every column and rolling buffer, declared for type checkers; they are created from
    # COLUMNS and BUFFERS in __init__ (tests/test_engine.py checks the lists agree).
    uid: np.ndarray
    school: np.ndarray
    year_group: np.ndarray
    age_months: np.ndarray
    sex: np.ndarray
    fsm: np.ndarray
    sen: np.ndarray
    eal: np.ndarray
    status: np.ndarray
    entry_step: np.ndarray
    exit_step: np.ndarray
    prior_attainment: np.ndarray
    engagement_base: np.ndarray
    engagement_ar: np.ndarray
    wellbeing_base: np.ndarray
    wellbeing_ar: np.ndarray
    attainment: np.ndarray
    attainment_anchor: np.ndarray
    absence_static: np.ndarray
    reading_age: np.ndarray
    reading_obs: np.ndarray
    reading_obs_age: np.ndarray
    reading_gap_start: np.ndarray
    assessment: np.ndarray
    satisfaction: np.ndarray
    exam_score: np.ndarray
    possible: np.ndarray
    attended: np.ndarray
    incidents: np.ndarray
    logins: np.ndarray
    set_total: np.ndarray
    on_time_total: np.ndarray
    year_possible: np.ndarray
    year_attended: np.ndarray
    term_possible: np.ndarray
    term_attended: np.ndarray
    term_incidents: np.ndarray
    attendance_autumn: np.ndarray
    attendance_spring: np.ndarray
    attendance_summer: np.ndarray
    last_login_step: np.ndarray
    last_incident_step: np.ndarray
    eff_absence: np.ndarray
    eff_engagement: np.ndarray
    eff_wellbeing: np.ndarray
    eff_incidents: np.ndarray
    interventions: np.ndarray
    weeks_waited: np.ndarray
    staff_minutes: np.ndarray
    cost: np.ndarray
    w_possible: np.ndarray
    w_attended: np.ndarray
    w_incidents: np.ndarray
    w_logins: np.ndarray
    w_set: np.ndarray
    w_on_time: np.ndarray

    def __init__(self, n: int = 0):
        for c in COLUMNS:
            setattr(self, c.name, np.full(n, c.fill, dtype=c.dtype))
        for b in BUFFERS:
            setattr(self, b, np.zeros((WINDOW, n), dtype=np.int8))

    def __len__(self) -> int:
        return len(self.uid)

    @classmethod
    def from_columns(cls, **columns: np.ndarray) -> StudentTable:
        n = len(next(iter(columns.values())))
        t = cls(n)
        for name, values in columns.items():
            col = getattr(t, name)
            col[:] = values
        return t

    def take(self, index: np.ndarray | slice) -> StudentTable:
        """A new table with the rows at ``index`` (a boolean mask, integer positions, or a slice:
        then the columns are views)."""
        t = StudentTable.__new__(StudentTable)
        for c in COLUMNS:
            setattr(t, c.name, getattr(self, c.name)[index])
        for b in BUFFERS:
            setattr(t, b, getattr(self, b)[:, index])
        return t

    def concat(self, other: StudentTable) -> StudentTable:
        t = StudentTable.__new__(StudentTable)
        for c in COLUMNS:
            setattr(t, c.name, np.concatenate([getattr(self, c.name), getattr(other, c.name)]))
        for b in BUFFERS:
            setattr(t, b, np.concatenate([getattr(self, b), getattr(other, b)], axis=1))
        return t

    def sorted_by_school(self) -> StudentTable:
        """The table in (school, uid) order: itself when it is in that order already (a new
        trust's students are), checked in one pass rather than by sorting (a sort of England's
        8M rows took 0.17 s to find it in order)."""
        school, uid = self.school, self.uid
        later_school = school[1:] > school[:-1]
        same_school = school[1:] == school[:-1]
        if np.all(later_school | (same_school & (uid[1:] >= uid[:-1]))):
            return self
        return self.take(np.lexsort((uid, school)))

    def nbytes(self) -> int:
        return sum(getattr(self, c.name).nbytes for c in COLUMNS) + sum(
            getattr(self, b).nbytes for b in BUFFERS
        )

    def engagement(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Current engagement (stable + transient + action effects), of ``rows`` only if given."""
        return self.engagement_base[rows] + self.engagement_ar[rows] + self.eff_engagement[rows]

    def wellbeing(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        return self.wellbeing_base[rows] + self.wellbeing_ar[rows] + self.eff_wellbeing[rows]

    def enrolled(self) -> np.ndarray:
        return self.status == ENROLLED
