"""The outcome registry: what each per-run outcome measures, in what unit, and which way is better.

One registry serves everything that shows an outcome: the CLI effects table, ``effects.csv``,
the Python API, the forest plot, the HTML report and the dashboard. Adding an outcome is one
:class:`Outcome` entry in :data:`OUTCOMES`; its ``scale`` decides how its numbers print:

=========  ===========================  =======================  ===========================
scale      a level prints as            a difference prints         relative change shown
=========  ===========================  ==========================  ===========================
share      ``93.1%``                    ``+0.52 pp``                yes (a positive ratio)
months     ``-3.2 months``              ``+0.41 months``            no (a gap can be negative)
sd         ``0.012 SD``                 ``+0.012 SD``               no (an interval scale)
hours      ``4,790 h``                  ``+4,790 h``                yes
money      ``£167,500``                 ``+£167,500``               yes
per100     ``12.3 per 100 students``    ``+1.20 per 100 students``  yes
count      ``2.31 per student``         ``+0.120 per student``      yes
weeks      ``2.10 weeks``               ``+0.40 weeks``             yes
days       ``87.1 days``                ``-86.1 days``              yes
requests   ``2,212 requests``           ``-1,746 requests``         yes
per_week   ``64.2 per week``            ``+43.0 per week``          yes
number     ``2.310``                    ``+0.120``                  no
=========  ===========================  ==========================  ===========================

``days``, ``requests`` and ``per_week`` are the scales of the request-stream outcomes. A level
or a difference that would read 0 at these decimals keeps two significant digits (``0.040
months``, ``+0.0037 months``: :func:`significant_decimals`), but a share's level, which stays
at 0.1%.

Every measure reads a :class:`Cohort` (the students of a run, or a subgroup of them, and their
workflow events), so the same definition gives the effect for FSM students or one school.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from srmsim.experiment.parts import (
    BETWEEN_EMPTY,
    BETWEEN_FEWEST,
    EMPTY,
    FEWEST,
    between,
    counted_conditions,
    parts,
)

__all__ = ["ACTIONS", "ACTION_WEEKS", "COLUMN_SCALES", "Cohort", "GROUPS", "KIND_LEAST",
           "OUTCOMES", "Outcome", "RESOURCES", "SCALES", "WITHHOLDING", "action_weeks",
           "actions_started", "columns_read", "format_difference", "format_relative",
           "format_value", "get_outcome", "group_cohorts", "measure", "measure_groups",
           "significant_decimals", "student_action_weeks", "withholding_counts"]

Scale = Literal["share", "months", "sd", "hours", "money", "per100", "count", "weeks", "days",
                "requests", "per_week", "number"]
Better = Literal["higher", "lower"] | None
SCALES: tuple[str, ...] = ("share", "months", "sd", "hours", "money", "per100", "count", "weeks",
                           "days", "requests", "per_week", "number")
#: scales on which "relative change" (difference / baseline) means something: positive ratios
RATIO_SCALES = frozenset({"share", "hours", "money", "per100", "count", "weeks", "days",
                          "requests", "per_week"})
#: the unit of an outcome's raw values (effects.csv); shares print as % and their differences
#: in percentage points (see DIFFERENCE_UNIT)
UNIT_TEXT = {"share": "share (0 to 1)", "months": "months", "sd": "SD", "hours": "hours",
             "money": "£", "per100": "per 100 students", "count": "per student",
             "weeks": "weeks", "days": "days", "requests": "requests",
             "per_week": "per week", "number": ""}
DIFFERENCE_UNIT = {**UNIT_TEXT, "share": "percentage points"}


@dataclass(frozen=True)
class Cohort:
    """The students a measure reads (one row each) and the workflow events that name them."""

    students: pd.DataFrame
    events: pd.DataFrame | None = None
    #: the whole run, for trust-level measures (request streams); None for subgroups
    result: Any = None
    #: columns derived from these students, each computed once however many measures read it
    #: (the columns custom outcomes read: 8 groups x 4 outcomes rebuilt them 32 times a run)
    derived: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, result: Any) -> Cohort:
        """A run's whole trust (``result`` is a :class:`srmsim.results.RunResult`)."""
        return cls(result.students, result.events, result)

    def subset(self, mask: np.ndarray | pd.Series) -> Cohort:
        """The students where ``mask`` is true, and only their events."""
        students = self.students[np.asarray(mask, dtype=bool)]
        events = self.events
        if events is not None and "student" in students.columns and "student" in events.columns:
            events = events[events["student"].isin(students["student"])]
        return Cohort(students, events)

    @cached_property
    def attending(self) -> pd.DataFrame:
        """Students with at least one possible session: the denominator of absence measures."""
        return self.students[self.students["sessions_possible"] > 0]


@dataclass(frozen=True)
class Outcome:
    """One outcome: how it is measured from a run, how it is named and printed.

    ``better``: "higher", "lower" or None (neither: an input such as cost, or a count of
    activity). ``gain``: what one unit of improvement is, per student, for cost-effectiveness
    (e.g. "student lifted out of persistent absence"); None when no such unit makes sense.
    """

    name: str
    label: str
    scale: Scale
    better: Better
    measure: Callable[[Cohort], float] = field(repr=False)
    description: str = ""
    gain: str | None = None
    relative: bool = True  # False for a gap between groups, whose baseline can be near zero
    #: the students columns the measure reads (None: it may read any); subgroups then carry
    #: only these, which keeps measuring every group of every run cheap. A measure that reads
    #: the workflow events names "student", the column they join the students on: subgroups
    #: carry their students' events only then
    columns: tuple[str, ...] | None = None

    @property
    def unit(self) -> str:
        return UNIT_TEXT[self.scale]

    @property
    def difference_unit(self) -> str:
        """The unit differences print in: percentage points for shares."""
        return DIFFERENCE_UNIT[self.scale]

    @property
    def ratio(self) -> bool:
        """True when a relative change (difference / baseline) is meaningful."""
        return self.relative and self.scale in RATIO_SCALES

    def heading(self) -> str:
        """``label (unit of differences)`` for difference axes and tables."""
        unit = self.difference_unit
        return f"{self.label} ({unit})" if unit else self.label

    def __call__(self, cohort: Cohort) -> float:
        return float(self.measure(cohort))

    # ------------------------------------------------------------------------ formatting
    def format_value(self, value: float) -> str:
        """A level in plain notation with its unit: ``93.1%``, ``4,790 h``, ``£167,500``."""
        return format_value(value, self.scale)

    def format_difference(self, value: float) -> str:
        """A difference with its sign and unit: ``+0.52 pp``, ``-£1,200``, ``+0.41 months``."""
        return format_difference(value, self.scale)

    def verdict(self, ci_low: float, ci_high: float) -> str:
        """``better``, ``worse`` or ``no clear change`` (the interval straddles zero); for
        outcomes with no better direction, ``higher``, ``lower`` or ``no clear change``."""
        if not (math.isfinite(ci_low) and math.isfinite(ci_high)) or ci_low <= 0 <= ci_high:
            return "no clear change"
        up = ci_low > 0
        if self.better is None:
            return "higher" if up else "lower"
        return "better" if up == (self.better == "higher") else "worse"


#: from this size a number prints as ``1.235 × 10^17``: plain digits beyond a float's 15-17
#: significant ones are noise (1e300 printed as 301 digits)
HUGE = 1e15


def _plain(value: float, decimals: int) -> str:
    return _power_of_ten(value, 4) if abs(value) >= HUGE else f"{value:,.{decimals}f}"


def _power_of_ten(value: float, digits: int) -> str:
    """``value`` as ``m × 10^e`` with ``digits`` significant digits: 1.235 × 10^17."""
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')} × 10^{int(exponent)}"


#: a level's decimals and unit on each scale but shares, money and requests: more decimals
#: for a small one, as a difference has (:func:`_difference_digits`)
LEVEL_FORMATS = {"hours": (0, " h"), "months": (1, " months"), "sd": (3, " SD"),
                 "per100": (1, " per 100 students"), "count": (2, " per student"),
                 "weeks": (2, " weeks"), "days": (1, " days"), "per_week": (1, " per week")}


def format_value(value: float, scale: str) -> str:
    """A level of an outcome on ``scale`` in plain notation (never ``1.675e+05``), a small one
    with two significant digits as a difference has them (a regret of 0.04 months printed
    ``0.0 months``, read as no regret); a share to 0.1% (the rounding the privacy checks of
    records assume)."""
    if value is None or not math.isfinite(value):
        return "–"
    if scale == "share":
        return f"{_plain(100 * value, 1)}%"
    if scale == "money":
        return f"-£{_pounds(-value)}" if value < 0 else f"£{_pounds(value)}"
    if scale == "requests":  # a mean over replications: 12.5 requests, 2,212 requests
        return f"{_plain(value, 0 if abs(value) >= 100 else 1)} requests"
    base, unit = LEVEL_FORMATS.get(scale, (3, ""))
    return f"{'-' if value < 0 else ''}{_difference_digits(abs(value), base)}{unit}"


def significant_decimals(a: float, base: int, most: int = 6) -> int:
    """``base`` decimals, or more until a small non-zero number shows two significant digits
    (0.0046 months, not 0.00 months)."""
    d = base
    while 0 < a < 10 ** (1 - d) and d < most:
        d += 1
    return d


def _pounds(a: float) -> str:
    """An amount of money >= 0: whole pounds from £10, pence below (a difference of £0.40 read
    "+£0", as if there were none) unless it is whole pounds (``£8``, as ``£15`` beside it: the
    catalogue printed ``£8.00`` over ``£15``), a power of ten below a millionth of a pound."""
    d = significant_decimals(a, 0)
    if 0 < a < 0.5 * 10 ** -d:
        return _power_of_ten(a, 2)
    decimals = max(d, 2) if d else 0
    if decimals and round(a, decimals) == round(a):
        decimals = 0
    return _plain(a, decimals)


def format_difference(value: float, scale: str) -> str:
    """A difference on ``scale`` with an explicit sign and unit; shares in percentage points."""
    if value is None or not math.isfinite(value):
        return "–"
    sign = "+" if value > 0 else "-" if value < 0 else "±"
    a = abs(value)
    if scale == "share":
        return f"{sign}{_difference_digits(100 * a, 2)} pp"
    if scale == "money":
        return f"{sign}£{_pounds(a)}"
    base, unit = {"hours": (0, " h"), "months": (2, " months"),
                  "sd": (3, " SD"), "per100": (2, " per 100 students"), "count": (3, " per student"),
                  "weeks": (2, " weeks"), "days": (1, " days"), "per_week": (1, " per week"),
                  "requests": (0 if a >= 100 else 1, " requests")}.get(scale, (3, ""))
    return f"{sign}{_difference_digits(a, base)}{unit}"


def _difference_digits(a: float, base: int) -> str:
    """A difference's size ``a`` with ``base`` decimals, more for a small one, and as a power
    of ten where six decimals would still read 0.000000 (a real difference, not none)."""
    decimals = significant_decimals(a, base)
    if 0 < a < 0.5 * 10 ** -decimals:
        return _power_of_ten(a, 2)
    return _plain(a, decimals)


def format_relative(value: float) -> str:
    """A relative change as a signed percentage, or a dash when it is not meaningful."""
    if value is None or not math.isfinite(value):
        return "–"
    a = 100 * abs(value)
    sign = "+" if value > 0 else "-" if value < 0 else "±"
    return f"{sign}{_plain(a, significant_decimals(a, 1))}%"


# ---------------------------------------------------------------------------- measures
def _nanmean(col: str) -> Callable[[Cohort], float]:
    def f(c: Cohort) -> float:
        x = c.students[col].to_numpy(dtype=float)
        return float(np.nanmean(x)) if np.isfinite(x).any() else math.nan

    return f


def _share(col: str) -> Callable[[Cohort], float]:
    def f(c: Cohort) -> float:
        s = c.attending
        return float(s[col].mean()) if len(s) else math.nan

    return f


def _group_share(col: str, group: str) -> Callable[[Cohort], float]:
    def f(c: Cohort) -> float:
        s = c.attending
        s = s[s[group].to_numpy(dtype=bool)]
        return float(s[col].mean()) if len(s) else math.nan

    return f


def _attendance(c: Cohort) -> float:
    s = c.students
    possible = float(s["sessions_possible"].sum())
    return float(s["sessions_attended"].sum()) / possible if possible > 0 else math.nan


def _per_student(values: float, c: Cohort) -> float:
    return values / len(c.students) if len(c.students) else math.nan


def _referrals(c: Cohort) -> float:
    if c.events is None:  # no workflow events: no referrals (none of nobody is unmeasured)
        return 100 * _per_student(0.0, c)
    return 100 * _per_student(float((c.events["event"] == "flagged").sum()), c)


def _served(c: Cohort) -> pd.Series:
    return c.students["interventions"] > 0


def _weeks_waited(c: Cohort) -> float:
    """Mean weeks queued per student served: undefined (NaN, as every mean over nobody here)
    when nobody was served, e.g. under no policy; 0 would read as "no waiting" and make every
    policy's wait a change for the worse against it."""
    served = _served(c)
    return float(c.students.loc[served, "weeks_waited"].mean()) if served.any() else math.nan


def _mean_of(expr: Callable[[pd.DataFrame], pd.Series]) -> Callable[[Cohort], float]:
    def f(c: Cohort) -> float:
        return float(expr(c.students).mean()) if len(c.students) else math.nan

    return f


def _entry(name: str, label: str, scale: Scale, better: Better, measure: Callable[[Cohort], float],
           description: str, gain: str | None = None, *, columns: tuple[str, ...] = ()
           ) -> tuple[str, Outcome]:
    return name, Outcome(name, label, scale, better, measure, description, gain,
                         columns=columns or None)


#: name -> Outcome: the built-in outcomes an experiment can list
#: the columns the explore tools put beside each outcome ``x``: ``x_diff`` (the paired difference
#: from the baseline) and ``x_baseline``; no outcome of an experiment may be named like them
DERIVED_SUFFIXES = ("_diff", "_baseline")

OUTCOMES: dict[str, Outcome] = dict([
    _entry("attendance", "Attendance", "share", "higher", _attendance,
           "share of possible sessions attended, trust-wide",
           columns=("sessions_possible", "sessions_attended")),
    _entry("persistent_absence", "Persistent absence", "share", "lower",
           _share("persistent_absent"), "share of students missing 10%+ of sessions",
           "student lifted out of persistent absence",
           columns=("sessions_possible", "persistent_absent")),
    _entry("persistent_absence_fsm", "Persistent absence, FSM students", "share", "lower",
           _group_share("persistent_absent", "fsm"), "persistent absence among FSM students",
           "FSM student lifted out of persistent absence",
           columns=("sessions_possible", "persistent_absent", "fsm")),
    _entry("severe_absence", "Severe absence", "share", "lower", _share("severe_absent"),
           "share of students missing 50%+ of sessions", "student lifted out of severe absence",
           columns=("sessions_possible", "severe_absent")),
    _entry("reading_gap_end", "Reading gap", "months", "higher", _nanmean("reading_gap_end"),
           "mean reading age minus age at the last reading test (negative = behind)",
           "month of reading age (one student, one month)",
           columns=("reading_gap_end",)),
    _entry("reading_behind_2y", "Two or more years behind in reading", "share", "lower",
           # of the students with a reading test: one never tested is not "not behind"
           _mean_of(lambda s: (s["reading_gap_end"] < -24).astype(float)
                    .where(s["reading_gap_end"].notna())),
           "share of students whose last reading gap is below -24 months (of those tested)",
           "student brought within two years of their reading age",
           columns=("reading_gap_end",)),
    _entry("attainment", "Attainment", "sd", "higher", _nanmean("attainment"),
           "mean attainment, in SD units of the trust's attainment",
           columns=("attainment",)),
    _entry("exam_score", "Exam score", "sd", "higher", _nanmean("exam_score"),
           "mean exam score of leavers, SD units",
           columns=("exam_score",)),
    _entry("withdrawal", "Withdrawal", "share", "lower", _mean_of(lambda s: s["withdrawn"]),
           "share of students who withdrew", "withdrawal prevented",
           columns=("withdrawn",)),
    _entry("incidents", "Behaviour incidents", "count", "lower", _nanmean("incidents"),
           "behaviour incidents per student", "behaviour incident prevented",
           columns=("incidents",)),
    _entry("referrals", "Referrals", "per100", None, _referrals,
           "referrals to a workflow (flags) per 100 students; a student referred again "
           "counts again",
           columns=("student",)),
    _entry("interventions", "Actions started", "per100", None,
           _mean_of(lambda s: 100 * s["interventions"]), "actions started per 100 students",
           columns=("interventions",)),
    _entry("students_served", "Students served", "share", None,
           _mean_of(lambda s: s["interventions"] > 0),
           "share of students who received any action",
           columns=("interventions",)),
    _entry("weeks_waited", "Weeks waited", "weeks", "lower", _weeks_waited,
           "mean weeks queued per student served",
           columns=("interventions", "weeks_waited")),
    _entry("staff_hours", "Staff hours", "hours", None,
           lambda c: float(c.students["staff_minutes"].sum()) / 60.0,
           "staff hours spent on actions, trust-wide",
           columns=("staff_minutes",)),
    _entry("cost", "Cost", "money", None, lambda c: float(c.students["cost"].sum()),
           "cost of actions, trust-wide (£)",
           columns=("cost",)),
])

def _run_outcome(name: str, label: str, scale: Scale, better: Better, description: str,
                 fn: Callable[[Any], float], relative: bool) -> Outcome:
    """An outcome measured on the whole run (request streams, the learning loop's regret): it
    reads the run's result; for student subgroups it is NaN."""
    def measure(c: Cohort) -> float:
        return fn(c.result) if c.result is not None else math.nan

    return Outcome(name, label, scale, better, measure, description, columns=("student",),
                   relative=relative)


def _whole_run(entries: Mapping[str, tuple[str, Callable[[Any], float]]],
               kinds: Mapping[str, tuple[Scale, Better]], default: tuple[Scale, Better]
               ) -> dict[str, Outcome]:
    """Whole-run outcomes labelled by their description."""
    return {name: _run_outcome(name, description[:1].upper() + description[1:],
                               *kinds.get(name, default), description, fn, relative=False)
            for name, (description, fn) in entries.items()}


def _register_whole_run_outcomes() -> None:
    from srmsim.admin.measures import REQUEST_OUTCOMES
    from srmsim.experiment.learning import GAIN_SCALES, learning_outcomes

    # waits, backlogs and throughput are positive: a relative change means something
    OUTCOMES.update({name: _run_outcome(name, label, cast(Scale, scale), cast(Better, better),
                                        description, fn, relative=True)
                     for name, (label, scale, better, description, fn)
                     in REQUEST_OUTCOMES.items()})
    learning = learning_outcomes()
    kinds: dict[str, tuple[Scale, Better]] = {}
    for name in learning:
        if name.startswith("oracle_match"):
            kinds[name] = ("share", "higher")
        elif "_per_100h" in name:  # in the unit of what was added: 12.3 months
            kinds[name] = (cast(Scale, GAIN_SCALES[name.split("_per_100h")[0]]), "higher")
        elif name == "explore_share":
            kinds[name] = ("share", None)
    OUTCOMES.update(_whole_run(learning, kinds, ("number", "lower")))


_register_whole_run_outcomes()

#: scale of students.parquet columns (trial outcomes, panels); any other column: "number"
COLUMN_SCALES = {"attendance_rate": "share", "attendance_autumn": "share",
                 "attendance_spring": "share", "attendance_summer": "share",
                 "persistent_absent": "share", "severe_absent": "share", "withdrawn": "share",
                 "on_time_rate": "share", "reading_gap_end": "months",
                 "reading_gap_start": "months", "attainment": "sd", "assessment": "sd",
                 "exam_score": "sd", "incidents": "count", "weeks_waited": "weeks"}

#: outcomes that are resources spent: the report sets every other outcome against them
RESOURCES = ("cost", "staff_hours")

#: the run row's (and each group row's) count of the actions started for its students
ACTIONS = "actions_started"


def actions_started(students: pd.DataFrame) -> float:
    """The actions started for ``students`` (NaN where the column is not kept). Why: staff
    hours and cost are a fixed price per action summed over the actions (the policy's
    catalogue), so hours over a single action's hours give back how many; on real records
    they are withheld where these are few (:mod:`srmsim.experiment.withhold`)."""
    if "interventions" not in students.columns:
        return math.nan
    return float(students["interventions"].to_numpy(dtype=float).sum())


#: the run row's (and each group row's) action-weeks the staff hours and cost are of, at least
ACTION_WEEKS = "action_weeks"


def action_weeks(students: pd.DataFrame, dearest: Mapping[str, float] | None) -> float:
    """The fewest weeks of action ``students``' staff minutes and cost can be of
    (:func:`student_action_weeks`, summed; NaN where not known). Why: an action is charged a
    price a week, so staff hours over one week's price give action-weeks, under 10 though 10
    or more actions started late in the year; on real records staff hours and cost are
    withheld where these are under 10 too (:mod:`srmsim.experiment.withhold`)."""
    # to the microweek: float32 minutes summed must not make 10 weeks 9.9999
    return float(np.round(np.sum(student_action_weeks(students, dearest)), 6))


def student_action_weeks(students: pd.DataFrame, dearest: Mapping[str, float] | None
                         ) -> np.ndarray:
    """Each student's fewest weeks of action: their staff minutes and their cost, each over a
    week of the dearest action the policy uses (``dearest``: the run summary's
    ``dearest_week``), the fewer of the two; a week of any action gives at least as many.
    NaN where the columns are not kept, or ``dearest`` is not and something was spent; 0
    where nothing is priced or measured (no hour or pound then gives a count)."""
    spent = [c for c in ("staff_minutes", "cost") if c in students.columns]
    if len(spent) < 2:
        return np.full(len(students), np.nan)
    totals = {c: students[c].to_numpy(dtype=float) for c in spent}
    if dearest is None:  # a run without a policy: nothing charged, else not known
        nothing = not any(np.nansum(v) for v in totals.values())
        return np.full(len(students), 0.0 if nothing else np.nan)
    # (a column blank for every student was never measured: it gives nothing away)
    bounds = [np.nan_to_num(totals[c]) / float(dearest[c]) for c in spent
              if float(dearest.get(c, 0.0)) > 0 and np.isfinite(totals[c]).any()]
    if not bounds:
        return np.zeros(len(students))
    return np.minimum.reduce(bounds)


#: the run row's (and each group row's) fewest actions started, or weeks of action, of any one
#: priced kind the policy's workflows use (:func:`student_kind_counts`)
KIND_LEAST = "fewest_of_a_kind"
#: the columns of a run row and of each group row that only withholding on records reads
#: (:func:`withholding_counts`), in this order
WITHHOLDING = (ACTIONS, ACTION_WEEKS, KIND_LEAST, FEWEST, EMPTY, BETWEEN_FEWEST, BETWEEN_EMPTY)

#: the events that end a course of action, with the minutes and cost charged to it
COURSE_ENDS = ("reviewed", "closed", "open_at_end")


def student_kind_counts(students: pd.DataFrame, events: pd.DataFrame | None,
                        prices: Mapping[str, Mapping[str, float]] | None) -> np.ndarray:
    """Each student's actions started and weeks of action of each priced kind of action
    (``prices``: a week of each, the run summary's ``week_prices``), as columns ``2k`` and
    ``2k + 1`` of kind ``k``; a matrix of NaN where not known (no prices kept, or no events
    of a run with a policy). Why: a policy with two kinds priced differently (a meeting at 30
    minutes and £20 a week, a visit at 60 and £30) spends hours and cost from which each
    kind's weeks follow (two sums, two unknowns), under 10 of one kind though 10 or more in
    all; on real records spending is withheld where any kind's are under 10
    (:func:`fewest_of_a_kind`)."""
    n = len(students)
    if prices is None:
        return np.full((n, 1), np.nan)
    kinds = list(prices)
    out = np.zeros((n, 2 * len(kinds)))
    if not kinds:
        return out
    needed = {"student", "event", "action", "minutes", "cost"}
    if events is None or "student" not in students.columns \
            or not needed <= set(events.columns):  # (a table cut or edited: not known)
        return np.full((n, 2 * len(kinds)), np.nan)
    if not len(events):
        return out
    row = _rows_of(students["student"], events["student"])
    action = events["action"].astype(str).to_numpy()
    event = events["event"].astype(str).to_numpy()
    minutes = pd.to_numeric(events["minutes"], errors="coerce").to_numpy(dtype=float)
    cost = pd.to_numeric(events["cost"], errors="coerce").to_numpy(dtype=float)
    ends = np.isin(event, COURSE_ENDS)
    for k, name in enumerate(kinds):
        m, c = float(prices[name]["staff_minutes"]), float(prices[name]["cost"])
        of = (action == name) & (row >= 0)
        started = of & (event == "started")
        np.add.at(out[:, 2 * k], row[started], 1.0)
        spent = of & ends
        weeks = minutes[spent] / m if m > 0 else cost[spent] / c
        np.add.at(out[:, 2 * k + 1], row[spent], np.nan_to_num(weeks, nan=np.inf))
    return out


def fewest_of_a_kind(counts: np.ndarray, rows: np.ndarray | None = None) -> float:
    """The fewest actions started or weeks of action of any one priced kind over ``rows`` of
    :func:`student_kind_counts`' matrix (all rows: None); 0 where no kind is priced, NaN
    where not known."""
    part = counts if rows is None else counts[rows]
    if counts.shape[1] == 0:
        return 0.0
    # to the microweek: float minutes summed must not make 10 weeks 9.9999
    totals = np.round(part.sum(axis=0), 6)
    return float(totals.min()) if np.isfinite(totals).all() else math.nan


def get_outcome(name: str, custom: Mapping[str, Outcome] | None = None) -> Outcome:
    """The registry entry of ``name``; an unknown name (a column of an old results folder)
    gets a plain entry so it still prints."""
    if custom and name in custom:
        return custom[name]
    if name in OUTCOMES:
        return OUTCOMES[name]
    return Outcome(name, name.replace("_", " "), "number", None, lambda c: math.nan)


def measure(result: Any, outcomes: Sequence[str | Outcome], cohort: Cohort | None = None
            ) -> dict[str, float]:
    """Each outcome of one run (``result``: a RunResult), over ``cohort`` if given."""
    cohort = cohort if cohort is not None else Cohort.of(result)
    out = {}
    for o in outcomes:
        entry = OUTCOMES[o] if isinstance(o, str) else o
        with np.errstate(all="ignore"):
            out[entry.name] = entry(cohort)
    return out


#: subgroups every experiment run is also measured in: (column, label when true, when false)
GROUPS = (("fsm", "FSM", "not FSM"), ("sen", "SEN", "not SEN"), ("eal", "EAL", "not EAL"))


def columns_read(outcomes: Sequence[str | Outcome]) -> set[str] | None:
    """The students columns ``outcomes`` read (None: any, an outcome that does not say): the
    ``columns`` of :func:`group_cohorts`, so that each group copies only those."""
    entries = [OUTCOMES[o] if isinstance(o, str) else o for o in outcomes]
    if any(o.columns is None for o in entries):
        return None
    return {c for o in entries for c in o.columns or ()}


def group_cohorts(result: Any, columns: set[str] | None = None, schools: bool = True
                  ) -> dict[str, Cohort]:
    """The run's students split by FSM, SEN, EAL and (``schools``) school: label -> cohort.

    ``columns``: the students columns the measures read (None: all). Students are renamed by
    row number (in their events too) before splitting, so each split is a cheap integer
    selection rather than a string match of pseudonyms.
    """
    s = result.students
    if columns is not None:
        keep = {"student", "school", "sex", *(g for g, _, _ in GROUPS), *columns}
        s = s[[c for c in s.columns if c in keep]]
    s = s.copy(deep=False)
    # events only for outcomes that read them (they name the "student" column they join on)
    events = result.events if columns is None or "student" in columns else None
    pos = None
    if events is not None and "student" in s.columns:
        pos = _rows_of(s["student"], events["student"])
        listed = pos >= 0
        pos = pos[listed]
        events = pd.DataFrame({"run_week": events["run_week"].to_numpy()[listed],
                               "event": events["event"].array[listed], "student": pos})
        s["student"] = np.arange(len(s))
    if "sex" in s.columns:  # the one text column a measure reads: as a flag, cheap to select
        s["male"] = (s["sex"] == "M").to_numpy()
        s = s.drop(columns=["sex"])

    def part(mask: np.ndarray) -> Cohort:
        ev = events if events is None or pos is None else events[mask[pos]]
        return Cohort(s[mask], ev)

    out: dict[str, Cohort] = {}
    for col, yes, no in GROUPS:
        flag = s[col].to_numpy(dtype=bool)
        out[yes] = part(flag)
        out[no] = part(~flag)
    # the schools: each school's rows (and its students' events) as one slice of a stable sort
    # by school, in their order in the table: the rows of a mask per school, at the cost of one
    # sort rather than a pass over every row and event for each school (8,000 passes over 8M
    # students and 25M events for England)
    if not schools:
        return out
    school = s["school"].to_numpy()
    schools_here = np.unique(school)
    rows, starts = _by_value(school, schools_here)
    if events is not None and pos is not None:
        ev_rows, ev_starts = _by_value(school[pos], schools_here)
    for i, k in enumerate(schools_here):
        cohort = s.iloc[rows[starts[i]:starts[i + 1]]]
        ev = events
        if events is not None and pos is not None:
            ev = events.iloc[ev_rows[ev_starts[i]:ev_starts[i + 1]]]
        out[f"school {int(k)}"] = Cohort(cohort, ev)
    return out


def _rows_of(names: pd.Series, wanted: pd.Series) -> np.ndarray:
    """Each of ``wanted``'s position among ``names`` (-1 where absent), as
    ``pd.Index(names).get_indexer(wanted)``: by Arrow's hash lookup of the texts, without a
    Python string for each (3.2M events' pseudonyms among 1M students: 0.56 s against 3.9 s).
    Names that are not all distinct, or not text, go to pandas (which refuses duplicates)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def text(column: pd.Series) -> pa.Array | None:
        try:
            array = pa.array(column.array)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            return None
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            return array.cast(pa.large_string())
        return None  # numbers, categories, mixed: compared as pandas compares them

    values, keys = text(names), text(wanted)
    if (values is not None and keys is not None
            and pc.count_distinct(values, mode="all").as_py() == len(values)):
        found = pc.index_in(keys, value_set=values).fill_null(-1)
        return found.to_numpy(zero_copy_only=False).astype(np.intp)
    return pd.Index(names).get_indexer(wanted)


def _by_value(values: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``values`` grouped by value (a stable sort: each group in table order) and
    where each of ``keys`` (ascending, every value among them) starts and ends among them:
    group i is ``positions[bounds[i]:bounds[i + 1]]``."""
    order = np.argsort(values, kind="stable")
    bounds = np.searchsorted(values[order], keys, side="left")
    return order, np.append(bounds, len(values))


def withholding_counts(cohort: Cohort, outcomes: Sequence[Outcome], dearest: Any,
                       kinds: np.ndarray | None = None,
                       rows: np.ndarray | None = None) -> dict[str, float]:
    """What withholding on records reads of ``cohort`` (a run's trust, or one group of it):
    the actions started for its students (:func:`actions_started`), the action-weeks their
    staff hours are of (:func:`action_weeks`, ``dearest``: the run summary's
    ``dearest_week``), and given the run's ``kinds`` (:func:`run_kind_counts`, a run on
    records; ``rows``: the cohort's rows of it, None for all) the fewest of a kind
    (:func:`fewest_of_a_kind`) and the parts of the conditions the ``outcomes`` count and of
    the nested shares they publish (:mod:`srmsim.experiment.parts`); NaN without ``kinds``.
    One reckoning for a run's row and its group rows."""
    private = kinds is not None
    part, empty = parts(cohort, counted_conditions(outcomes) if private else [])
    nested_part, nested_empty = between(cohort, [o.name for o in outcomes] if private else [])
    return {ACTIONS: actions_started(cohort.students),
            ACTION_WEEKS: action_weeks(cohort.students, dearest),
            KIND_LEAST: math.nan if kinds is None else fewest_of_a_kind(kinds, rows),
            FEWEST: part, EMPTY: empty, BETWEEN_FEWEST: nested_part, BETWEEN_EMPTY: nested_empty}


def measure_groups(result: Any, outcomes: Sequence[str | Outcome],
                   kinds: np.ndarray | None = None) -> pd.DataFrame:
    """Long table ``group, outcome, value, students`` and what withholding reads
    (:func:`withholding_counts`: ``actions_started, action_weeks, fewest_of_a_kind,
    fewest_in_a_part, empty_parts, fewest_between, empty_between``): every outcome in every
    subgroup; ``kinds``: the run's :func:`run_kind_counts` (a run on records), else None."""
    entries = [OUTCOMES[o] if isinstance(o, str) else o for o in outcomes]
    columns = columns_read(entries)
    # (a trial's arm, measured without a run summary, keeps only the values: COLUMNS)
    dearest = (getattr(result, "summary", None) or {}).get("dearest_week")
    everyone = result.students.index
    rows = []
    for group, cohort in group_cohorts(result, None if columns is None else columns
                                       | {"interventions", "staff_minutes", "cost"}).items():
        values = measure(result, entries, cohort)
        counts = withholding_counts(
            cohort, entries, dearest, kinds,
            None if kinds is None else everyone.get_indexer(cohort.students.index))
        for name, value in values.items():
            rows.append({"group": group, "outcome": name, "value": value,
                         "students": len(cohort.students), **counts})
    return pd.DataFrame(rows, columns=["group", "outcome", "value", "students",
                                       *WITHHOLDING])


def run_kind_counts(result: Any) -> np.ndarray:
    """:func:`student_kind_counts` of a run (``result``: a RunResult): no policy, no kinds."""
    summary = getattr(result, "summary", None) or {}
    events = getattr(result, "events", None)
    prices = summary.get("week_prices")
    if prices is None and events is None and summary.get("dearest_week") is None:
        prices = {}  # a run without a policy: nothing priced
    return student_kind_counts(result.students, events, prices)
