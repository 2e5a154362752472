"""Outcomes an experiment file defines: a statistic of a students column or expression, in a group.

Written in the experiment's ``outcomes:`` list next to built-in names::

    outcomes:
      - attendance
      - name: attendance_fsm
        label: Attendance of FSM students
        statistic: mean            # mean | share | percentile | count | sum
        of: attendance_rate        # an expression over students.parquet columns
        where: fsm                 # optional: which students (a true/false expression)
        scale: share               # how it prints (see srmsim.experiment.outcomes)
        better: higher             # higher | lower | (omit: neither)
      - name: fsm_gap_pa
        label: FSM gap in persistent absence
        statistic: share
        of: persistent_absent
        where: fsm
        minus_where: not fsm       # the value for `where` minus the value for these students
        scale: share
        better: lower
      - name: reading_of_weak_readers
        label: Reading gap of students 2+ years behind in September
        statistic: mean
        of: reading_gap_end
        where: reading_gap_start < -24   # the September test's low readers
        scale: months
        better: higher

Expressions use the rule language of :mod:`srmsim.policy.rules` (parsed, never evaluated as
Python). Names: every numeric or true/false column of ``students.parquet``, plus ``male``,
``flagged`` (referred to any workflow), ``first_flag_week`` (week of the first referral, NaN if
never) and ``served`` (received any action).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from srmsim.errors import RuleError
from srmsim.experiment.outcomes import OUTCOMES, Cohort, Outcome
from srmsim.experiment.store import RUN_COLUMNS, run_column
from srmsim.labels import StrictModel, control_character
from srmsim.policy.rules import ArrayContext, FieldSpec, Rule, Vocabulary, parse_rule, parse_score
from srmsim.store import LARGEST_VALUE

STATISTICS = ("mean", "share", "percentile", "count", "sum")
#: fields derived from a run's events, added to the students columns
DERIVED: dict[str, FieldSpec] = {
    "male": FieldSpec("bool", "the student is male"),
    "flagged": FieldSpec("bool", "referred (flagged) to any workflow during the run"),
    "first_flag_week": FieldSpec("number", "run week of the first referral (NaN if never)"),
    "served": FieldSpec("bool", "received at least one action"),
}


class CustomOutcomeConfig(StrictModel):
    """One user-defined outcome in an experiment file."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
    label: Annotated[str, Field(max_length=200)] = ""
    statistic: Literal["mean", "share", "percentile", "count", "sum"]
    of: Annotated[str, Field(min_length=1, max_length=2000)]
    where: Annotated[str, Field(max_length=2000)] | None = None
    minus_where: Annotated[str, Field(max_length=2000)] | None = None
    q: Annotated[float, Field(ge=0, le=100)] | None = None
    scale: Literal["share", "months", "sd", "hours", "money", "per100", "count", "weeks",
                   "number"] = "number"
    better: Literal["higher", "lower"] | None = None
    description: Annotated[str, Field(max_length=1000)] = ""

    @field_validator("name")
    @classmethod
    def _not_builtin(cls, v: str) -> str:
        if v in OUTCOMES:
            raise ValueError(f"{v!r} is a built-in outcome; list it by name or choose another name")
        if run_column(v):
            raise ValueError(f"{v!r} is the name of a column every run row has already "
                             f"({', '.join(RUN_COLUMNS)}); choose another name")
        return v

    @field_validator("label")
    @classmethod
    def _one_printable_line(cls, v: str) -> str:
        """A label heads a table row and a figure panel: a control character in it (``\\x1b[2J``,
        a newline, a bidirectional override) drove the terminal `srmsim experiment` printed to
        and matplotlib's warnings about it."""
        bad = control_character(v)
        if bad:
            raise ValueError(f"the label holds the control character {bad}; write it as one "
                             "line of plain text")
        if v and not v.strip():  # an outcome row with no name in the table and the figure
            raise ValueError("the label is blank; give words, or leave it out (the name is "
                             "used)")
        if v.strip().casefold() in _builtin_labels():
            raise ValueError(f"the label {v!r} is a built-in outcome's: the two rows would read "
                             "alike; give another")
        return v

    def scale_problem(self) -> str | None:
        """Why the scale cannot print this statistic (None if it can): a count of 35
        students printed as "3,500.0%" (share) or "35 per student". Checked in experiment files
        only, so that results stored before the check are still read."""
        if self.statistic == "count" and self.scale != "number":
            return (f"statistic count is a number of students: give scale: number (the "
                    f"default), not {self.scale}")
        return None

    @property
    def shown_label(self) -> str:
        """What tables and figures call the outcome: its label, else its name in words."""
        return self.label or self.name.replace("_", " ")


@lru_cache(maxsize=1)
def _builtin_labels() -> frozenset[str]:
    return frozenset(o.label.strip().casefold() for o in OUTCOMES.values())


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """Names an outcome expression may use: students.parquet columns and the derived fields."""
    from srmsim.results import student_frame
    from srmsim.students import StudentTable

    frame = student_frame(StudentTable(0))
    fields: dict[str, FieldSpec] = {}
    for col in frame.columns:
        kind = frame[col].dtype.kind
        if kind == "b":
            fields[col] = FieldSpec("bool", "students.parquet column")
        elif kind in "iuf":
            fields[col] = FieldSpec("number", "students.parquet column")
    fields.update(DERIVED)
    return Vocabulary(fields)


@lru_cache(maxsize=1)
def whole_number_fields() -> frozenset[str]:
    """The fields every value of which is a whole number: the students.parquet columns of
    integers (incidents, sessions, logins, weeks) and the week of the first referral."""
    from srmsim.results import student_frame
    from srmsim.students import StudentTable

    frame = student_frame(StudentTable(0))
    return frozenset(str(c) for c in frame.columns if frame[c].dtype.kind in "iu") | {
        "first_flag_week"}


@lru_cache(maxsize=1)
def complete_fields() -> frozenset[str]:
    """The fields no student is ever without: the columns of integers (the week of the first
    referral is missing for a student never referred) and every true/false field."""
    return (whole_number_fields() - {"first_flag_week"}) | frozenset(
        name for name, spec in vocabulary().fields.items() if spec.kind == "bool")


def _column(cohort: Cohort, name: str) -> np.ndarray | None:
    """One field of the rule language over the cohort's students (None: the run has no data
    for it), computed once per cohort."""
    if name in cohort.derived:
        return cohort.derived[name]
    s = cohort.students
    col: np.ndarray | None = None
    if name == "male" and "male" in s.columns:
        col = s["male"].to_numpy(dtype=bool)
    elif name == "male" and "sex" in s.columns:
        col = (s["sex"] == "M").to_numpy()
    elif name == "served" and "interventions" in s.columns:
        col = (s["interventions"] > 0).to_numpy()
    elif name in ("first_flag_week", "flagged"):  # both from one pass over the events
        first = np.full(len(s), np.nan)
        ev = cohort.events
        if ev is not None and "student" in s.columns and len(ev):
            flags = ev[ev["event"] == "flagged"].groupby("student", observed=True)["run_week"].min()
            first = s["student"].map(flags).to_numpy(dtype=float)
        cohort.derived["first_flag_week"], cohort.derived["flagged"] = first, np.isfinite(first)
        return cohort.derived[name]
    elif name in s.columns and name in vocabulary().fields:
        col = s[name].to_numpy(dtype=bool if vocabulary().fields[name].kind == "bool" else float)
    if col is not None:
        cohort.derived[name] = col
    return col


def _columns(cohort: Cohort, names: Iterable[str]) -> dict[str, np.ndarray]:
    """The fields ``names`` that the cohort has data for."""
    cols = {name: _column(cohort, name) for name in names}
    return {name: col for name, col in cols.items() if col is not None}


def condition_values(rule: Rule, cohort: Cohort) -> np.ndarray:
    """Whether each of ``cohort``'s students meets condition ``rule`` (a field the run has no
    data for: nobody)."""
    n = len(cohort.students)
    return np.asarray(rule.evaluate(ArrayContext(_columns(cohort, rule.fields)), n), dtype=bool)


class CustomOutcome:
    """A parsed user-defined outcome: evaluates its statistic over a cohort of students."""

    def __init__(self, config: CustomOutcomeConfig):
        c = self.config = config
        vocab = vocabulary()
        if c.statistic == "percentile" and c.q is None:
            raise RuleError("statistic percentile needs q (0 to 100), e.g. q: 10")
        if c.statistic != "percentile" and c.q is not None:
            raise RuleError("q is only used with statistic: percentile")
        if c.minus_where is not None and c.where is None:
            raise RuleError("minus_where needs where (the group it is subtracted from)")
        if c.statistic in ("share", "count"):
            self.of: Rule = _parse("of", parse_rule, c.of, vocab)
        else:
            self.of = _parse("of", parse_score, c.of, vocab)
        self.where = _parse("where", parse_rule, c.where, vocab) if c.where else None
        self.minus = (_parse("minus_where", parse_rule, c.minus_where, vocab)
                      if c.minus_where else None)
        #: the fields its expressions read: only these are taken from the students table
        self.fields = sorted({f for rule in (self.of, self.where, self.minus)
                              if rule is not None for f in rule.fields})
        self.beyond = False

    def whole_numbers(self) -> bool:
        """Whether ``of`` is a whole number for every student (counts, weeks, ``count()``):
        its mean times the students is then a count (:func:`whole_number_fields`)."""
        return self.of.whole_numbers(whole_number_fields())

    def count_line(self) -> tuple[float, float] | None:
        """``(a, b)`` where ``of`` is ``a`` times a whole number plus ``b`` for every student
        (``incidents / 2``: its mean, less ``b``, over ``a``, times the students is a count);
        None otherwise (:meth:`srmsim.policy.rules.Rule.linear_whole`)."""
        return self.of.linear_whole(whole_number_fields())

    def every_student(self) -> bool:
        """Whether ``of`` has a value for every student: a mean leaves out those without
        (a ``reading_gap_end`` never tested, 0 / 0), so only then is it over all of them."""
        return self.of.never_missing(complete_fields())

    def conditions(self) -> list[Rule]:
        """The conditions whose pupils this outcome's value counts over every student: a
        ``share`` of one, or a ``mean`` of ``count()`` of some (none with ``where``, which is
        withheld whole). Why: their partition's parts must not be few on records
        (:mod:`srmsim.experiment.parts`)."""
        c = self.config
        if c.where or c.statistic not in ("share", "mean"):
            return []
        if c.statistic == "share":
            return [self.of]
        if not self.of.conditions_counted:
            return []
        vocab = vocabulary()
        return [_parse("of", parse_rule, text, vocab) for text in self.of.counted]

    def _statistic(self, values: np.ndarray, mask: np.ndarray) -> float:
        v = values[mask]
        stat = self.config.statistic
        if stat in ("share", "count"):
            return float(v.sum()) if stat == "count" else (float(v.mean()) if len(v) else math.nan)
        in_group = len(v)
        if np.isinf(v).any():  # (a division by zero): not measured, as a group of only such
            # values is; left out as missing values are, 24 of 41 moved the mean without a word
            return math.nan
        v = v[np.isfinite(v)]
        if stat == "sum":  # an empty group sums to 0; a group of only non-finite values is unmeasured
            return float(v.sum()) if len(v) or not in_group else math.nan
        if not len(v):
            return math.nan
        if stat == "mean":
            return float(v.mean())
        if self.config.q is None:  # __init__ checks that a percentile has q
            raise RuleError("statistic percentile needs q (0 to 100), e.g. q: 10")
        return float(np.percentile(v, self.config.q))

    def __call__(self, cohort: Cohort) -> float:
        n = len(cohort.students)
        ctx = ArrayContext(_columns(cohort, self.fields))
        values = self.of.evaluate(ctx, n)
        mask = self.where.evaluate(ctx, n) if self.where else np.ones(n, dtype=bool)
        value = self._statistic(values, mask)
        if self.minus is not None:
            value -= self._statistic(values, self.minus.evaluate(ctx, n))
        #: whether the last value was beyond +-LARGEST_VALUE (the run row says so: "not
        #: measured" alone gave no reason)
        self.beyond = not math.isnan(value) and not abs(value) <= LARGEST_VALUE
        if self.beyond:  # infinite to every analysis (its square overflows), as an overflow
            # to inf is: stored, it was refused as a corrupt run file
            return math.nan
        return value

    def outcome(self) -> Outcome:
        c = self.config
        label = c.shown_label
        text = f"{c.statistic}{f' (q={c.q:g})' if c.q is not None else ''} of {c.of}"
        if c.where:
            text += f" where {c.where}"
        if c.minus_where:
            text += f", minus the same where {c.minus_where}"
        fields = set(self.of.fields)
        for rule in (self.where, self.minus):
            if rule is not None:
                fields |= set(rule.fields)
        # derived names read these columns (and the run's events)
        derived = {"male": {"sex"}, "served": {"interventions"}, "flagged": {"student"},
                   "first_flag_week": {"student"}}
        columns = {f for f in fields if f not in DERIVED}
        for f in fields & set(derived):
            columns |= derived[f]
        return Outcome(c.name, label, c.scale, c.better, self, c.description or text,
                       relative=c.minus_where is None, columns=tuple(sorted(columns)))


def _parse(key: str, parser: Any, text: str, vocab: Vocabulary) -> Rule:
    try:
        return parser(key, text, vocab)
    except RuleError as err:
        raise RuleError(str(err).replace(f"rule {key!r}: ", "").replace(f"score {key!r}: ", "")
                        ) from None


def build_outcomes(definitions: list[dict[str, Any]]) -> dict[str, Outcome]:
    """name -> Outcome for validated custom definitions (as stored in a manifest)."""
    out = {}
    for d in definitions:
        config = CustomOutcomeConfig.model_validate(d)
        out[config.name] = CustomOutcome(config).outcome()
    return out


__all__ = ["DERIVED", "STATISTICS", "CustomOutcome", "CustomOutcomeConfig", "build_outcomes",
           "vocabulary"]
