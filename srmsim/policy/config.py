"""The ``policy`` section of a scenario: rules, actions, workflows and staff.

Shape (a teacher should be able to read it)::

    policy:
      parameters: {reading_threshold: -24}          # numbers that rules use; variants change them
      rules:
        low_reading: "reading_gap < reading_threshold"         # short form: weekly, everyone
        low_attendance:
          when: "attendance(4) < 0.9"
          cadence: half_termly                                  # weekly | half_termly | termly
          years: [7, 8, 9]                                      # optional scope
      actions:                                      # change or add to the built-in catalogue
        reading_club: {take_up: 0.8}
      workflows:
        reading_support:
          trigger: low_reading
          priority: "-reading_gap"                  # higher first; ties: stable per-student draw
          cooldown_weeks: 6
          steps:
            - {action: reading_club, weeks: 8, goal: "reading_gap >= -18"}
            - {action: parent_reading_at_home, weeks: 6, goal: "reading_gap >= -18"}
      staff:
        school: {teaching_assistant: 600}           # minutes per week, each school
        pool: {attendance_officer: 0}               # minutes per week, trust-wide pool
        mode: school_first                          # school_first | pool_first | pool_only
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from srmsim.labels import Label, Prose, StrictModel, check_distinct, excerpt, plural
from srmsim.policy.rules import _parameter_value, text_problem

#: a shift of a logit, SD or months: bounded so a typo (1e300) is reported, not simulated
Shift = Annotated[float, Field(ge=-1000.0, le=1000.0)]
Cadence = Literal["weekly", "half_termly", "termly"]
#: money a week per student; bounded because the engine keeps costs in float32 (max 3.4e38), where
#: a larger figure would silently become inf
Cost = Annotated[float, Field(ge=0.0, le=1e6)]
#: one student's staff minutes a week in an action: at most the minutes in a week (float32 columns)
ActionMinutes = Annotated[float, Field(ge=0.0, le=10_080.0)]
#: a role's staff minutes a week (a school's or the pool's): as the optimiser's budget, at most 1e7
Capacity = Annotated[float, Field(ge=0.0, le=1e7)]


def _distinct_features(v: list[str]) -> list[str]:
    """A feature listed twice made every pool-model refit fail (the risk models refuse a
    repeated column: pooled_risk stayed NaN all run and the rules reading it never fired); a
    learned chooser's model read the same column twice."""
    seen: set[str] = set()
    for f in v:
        if f in seen:
            raise ValueError(f"features list {f!r} more than once; list each once")
        seen.add(f)
    return v


#: profile features a model reads (a pool model's, a learned chooser's): each named once
Features = Annotated[list[str], AfterValidator(_distinct_features)]


class _Strict(StrictModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class RuleConfig(_Strict):
    when: str = Field(description="a boolean expression over profile fields")
    cadence: Cadence = "weekly"
    # an empty list is refused, not read as "unset": `schools: []` (a variant switching a rule
    # off, say) would otherwise flag students in every school
    years: list[int] | None = Field(None, min_length=1,
                                    description="year groups the rule looks at (all if unset)")
    schools: list[int] | None = Field(None, min_length=1,
                                      description="school indices (all if unset)")

    @field_validator("years", "schools")
    @classmethod
    def _each_once(cls, v: list[int] | None, info: ValidationInfo) -> list[int] | None:
        """As ``dynamics.withdrawal_years``: `schools: [0, 0]` (or 50,000 zeros) was kept."""
        if v is not None and len(set(v)) < len(v):
            what = "a year group" if info.field_name == "years" else "a school"
            raise ValueError(f"{what} is given more than once")
        return v


class EffectConfig(_Strict):
    """What an action does while a student receives it (and, fading, afterwards)."""

    absence: Shift = Field(0.0, description="shift of the weekly absence logit (negative helps)")
    engagement: Shift = Field(0.0, description="engagement shift, SD")
    wellbeing: Shift = Field(0.0, description="wellbeing shift, SD")
    incidents: Shift = Field(0.0, description="log-rate shift of behaviour incidents")
    attainment: Shift = Field(0.0, description="attainment gained over a full course, SD")
    reading: Shift = Field(0.0, description="reading age gained over a full course, months")
    onset_weeks: Annotated[int, Field(ge=0, le=39)] = 1
    # bounded like the shifts: 1e300 would never fade (a typo simulated as a permanent effect)
    # and 5e-324 overflows 1 / half-life
    half_life_weeks: Annotated[float, Field(ge=0.01, le=10_000)] = 6.0

    @field_validator("onset_weeks", mode="before")
    @classmethod
    def _whole_weeks(cls, v: object) -> object:
        """A scenario's effect values arrive as floats (``onset_weeks: 2`` as 2.0): a whole one
        is its number of weeks (it was refused as "not a valid integer"); 2.5 still is."""
        return int(v) if isinstance(v, float) and v.is_integer() else v


Finite = Annotated[float, Field(allow_inf_nan=False)]


class ModifierConfig(_Strict):
    """How an action's effect scales with one student field: the effect is multiplied by
    ``max(0, 1 + per_unit * (value - center))`` (summed over the action's modifiers)."""

    per_unit: Annotated[float, Field(allow_inf_nan=False, ge=-100, le=100)]
    center: Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)] = 0.0


def _short_modifiers(v: object) -> object:
    """A modifier may be just its slope: ``modifiers: {eal: 0.5}`` (centre 0)."""
    if isinstance(v, dict):
        return {k: {"per_unit": m} if isinstance(m, int | float) and not isinstance(m, bool)
                else m for k, m in v.items()}
    return v


class ActionConfig(_Strict):
    description: Prose = ""
    effect: EffectConfig = Field(default_factory=EffectConfig)
    modifiers: dict[str, ModifierConfig] = Field(
        default_factory=dict, max_length=16,
        description="effect modifiers by student field (see srmsim.policy.heterogeneity)")
    take_up: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    cost_per_week: Cost = 0.0
    staff_minutes: dict[Label, ActionMinutes] = Field(default_factory=dict)
    automated: bool = False
    weeks: Annotated[int, Field(ge=1, le=78)] = 6
    source: str = ""

    _short = field_validator("modifiers", mode="before")(classmethod(
        lambda cls, v: _short_modifiers(v)))

    @model_validator(mode="after")
    def _automated(self) -> ActionConfig:
        if self.automated and any(v > 0 for v in self.staff_minutes.values()):
            raise ValueError("an automated action uses no staff minutes")
        return self


class ActionOverride(_Strict):
    """Partial action for the scenario: unspecified fields keep the catalogue's values."""

    description: Prose | None = None
    # floats, as always (the scenario's hash reads them: 6 and 6.0 must hash alike); EffectConfig
    # takes a whole-number float as onset_weeks
    effect: dict[str, float] | None = None
    modifiers: dict[str, ModifierConfig] | None = Field(None, max_length=16)
    take_up: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    cost_per_week: Cost | None = None
    staff_minutes: dict[Label, ActionMinutes] | None = None
    automated: bool | None = None
    weeks: Annotated[int, Field(ge=1, le=78)] | None = None
    source: str | None = None

    _short = field_validator("modifiers", mode="before")(classmethod(
        lambda cls, v: _short_modifiers(v)))


EffectTarget = Literal["reading", "attainment", "absence", "engagement", "wellbeing", "incidents"]
EFFECT_TARGETS: tuple[str, ...] = get_args(EffectTarget)


class ChooserConfig(_Strict):
    """How a step with ``candidates`` picks the action for each referral (see docs/learning.md).

    ``fixed``: the step's ``action``; ``random``: uniform over the candidates; ``rule``: the
    first candidate whose ``rules`` expression is true (else the step's ``action``); ``learned``:
    the largest predicted gain in ``measure`` per staff minute, from past cases, with a share
    ``exploration`` allocated at random (or, with ``exploration: thompson``, by Thompson sampling
    from the model's posterior); ``oracle``: the simulator's true best (a benchmark that no real
    trust has; it reads the truth).
    """

    kind: Literal["fixed", "random", "rule", "learned", "oracle"] = "fixed"
    target: EffectTarget = Field(
        "reading", description="the effect whose true expected gain defines the oracle and regret")
    rules: dict[str, str] = Field(default_factory=dict, max_length=32)
    measure: str | None = Field(None, description="numeric expression whose change over the "
                                "step is the gain the learned chooser learns")
    features: Features = Field(default_factory=list, max_length=32)
    data: Literal["own", "pooled"] = "pooled"
    refit: Literal["termly", "half_termly"] = "termly"
    exploration: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | Literal[
        "thompson"] = Field(0.1, description="learned: share of referrals allocated at random, "
                            "or 'thompson' to choose on gains sampled from the model's posterior")
    min_cases: Annotated[int, Field(ge=2, le=100_000)] = 20
    history_terms: Annotated[int, Field(ge=1, le=100)] = 9

    @model_validator(mode="after")
    def _learned(self) -> ChooserConfig:
        if self.kind == "learned" and (self.measure is None or not self.features):
            raise ValueError("a learned chooser needs a measure and features")
        if self.kind == "rule" and not self.rules:
            raise ValueError("a rule chooser needs rules: {action: expression}")
        return self


class StepConfig(_Strict):
    action: Label | None = Field(None, description="the action (with candidates: the fixed one)")
    candidates: list[Label] | None = Field(None, min_length=2, max_length=16)
    chooser: ChooserConfig | None = None
    weeks: Annotated[int, Field(ge=1, le=78)] | None = Field(
        None, description="duration before the review (default: the action's; with "
        "candidates, the fixed action's, whichever is chosen)"
    )
    goal: str | None = Field(None, description="boolean expression checked at the review")

    @model_validator(mode="after")
    def _choice(self) -> StepConfig:
        if self.candidates is None:
            if self.action is None:
                raise ValueError("a step needs an action (or candidates)")
            if self.chooser is not None:
                raise ValueError("a chooser needs candidates")
            return self
        if len(set(self.candidates)) != len(self.candidates):
            raise ValueError("candidates must be distinct")
        if self.action is None:
            self.action = self.candidates[0]
        elif self.action not in self.candidates:
            raise ValueError(f"action {self.action!r} is not among the candidates")
        if self.chooser is None:
            self.chooser = ChooserConfig()
        unknown = [a for a in self.chooser.rules if a not in self.candidates]
        if unknown:
            raise ValueError(f"chooser.rules name actions that are not candidates: {unknown}")
        return self


class WorkflowConfig(_Strict):
    trigger: Label = Field(description="name of the rule that refers a student")
    steps: list[StepConfig] = Field(min_length=1)
    priority: str | None = Field(None, description="numeric expression, higher is served first")
    cooldown_weeks: Annotated[int, Field(ge=0, le=200)] = 6
    leave_queue_when_clear: bool = Field(
        True, description="a student still waiting for the first step leaves the queue when the "
        "trigger no longer flags them (closed as 'cleared')")
    enabled: bool = True


#: how ``per_school`` reads a key as a school index (text keys from YAML and ``--set`` too)
_SCHOOL_INDEX: TypeAdapter[int] = TypeAdapter(int)


class StaffConfig(_Strict):
    school: dict[Label, Capacity] = Field(default_factory=dict)
    pool: dict[Label, Capacity] = Field(default_factory=dict)
    mode: Literal["school_first", "pool_first", "pool_only"] = "school_first"
    # keys are school indices; YAML keys are read as text, so "3" is accepted for 3
    per_school: dict[Annotated[int, Field(strict=False, ge=0)],
                     dict[Label, Capacity]] = Field(
        default_factory=dict, description="overrides of school minutes for given school indices"
    )

    @field_validator("per_school", mode="before")
    @classmethod
    def _one_entry_per_school(cls, v: object) -> object:
        """Keys that name one school (``1`` and ``"1"``, ``"01"``) are refused: read as whole
        numbers they collapsed into one entry, the last silently winning. A true/false key is
        no school index (``true`` was read as school 1)."""
        if not isinstance(v, dict):
            return v
        seen: dict[int, object] = {}
        for key in v:
            if isinstance(key, bool):
                raise ValueError(f"school index {key!r} is true/false, not a whole number")
            # digits only, as the files' reader reads numbers: '1_0' was school 10 and ' 1',
            # '1.0' and '+1' school 1, where YAML's 1_000 is text
            if not isinstance(key, int) and not (isinstance(key, str)
                                                 and re.fullmatch(r"[0-9]+", key)):
                raise ValueError(f"school index {str(key)[:40]!r} is not a whole number written "
                                 "with the digits 0-9")
            try:
                index = _SCHOOL_INDEX.validate_python(key, strict=False)
            except ValidationError:
                continue  # reported by the field's own validation
            if index in seen:
                raise ValueError(f"school {index} is given twice (as {seen[index]!r} and "
                                 f"{key!r}); give each school once")
            seen[index] = key
        return v


class PoolModelConfig(_Strict):
    """A risk model the central pool refits on pseudonymised records from member schools.

    At each refit point the schools send each enrolled student's ``features`` and the value of
    ``outcome`` (a rule) to the pool, keyed by a keyed-hash pseudonym. The model is trained on
    features from one refit point paired with the outcome at the next, then scores every student
    from their current features; rules read the score as ``pooled_risk``. ``per_school``: each
    school fits on its own records only (the pool only hosts the models), for comparison.
    """

    model: Literal["pooled", "per_school", "partially_pooled"] = "pooled"
    outcome: str = Field(description="rule giving the event to predict, observed one period on")
    features: Features = Field(min_length=1)
    refit: Literal["termly", "half_termly"] = "termly"
    min_events: Annotated[int, Field(ge=1)] = 20
    history_periods: Annotated[int, Field(ge=1, le=100)] = 6


#: the key paths of the parts of a policy that act only through its workflows (its staff
#: minutes also serve request streams, ``from_pool``): set where no workflow is enabled, they
#: change nothing (:meth:`PolicyConfig.acts_on_no_one`)
WORKFLOW_ONLY_KEYS = ("policy.rules.", "policy.parameters.", "policy.actions.",
                      "policy.pool_model.")


class PolicyConfig(_Strict):
    parameters: dict[Label, float | bool] = Field(default_factory=dict)
    pool_model: PoolModelConfig | None = None
    rules: dict[Label, RuleConfig] = Field(default_factory=dict)
    actions: dict[Label, ActionOverride] = Field(default_factory=dict)
    workflows: dict[Label, WorkflowConfig] = Field(default_factory=dict)
    staff: StaffConfig = Field(default_factory=StaffConfig)

    def actions_used(self) -> set[str]:
        """The actions some workflow step runs or chooses among (disabled workflows too: a
        variant may enable one)."""
        return {a for wf in self.workflows.values() for step in wf.steps
                for a in [step.action, *(step.candidates or [])] if a}

    def acts_on_no_one(self) -> bool:
        """No workflow is enabled, so the policy refers and serves no student: its rules,
        parameters and actions change nothing (`srmsim validate` notes it; `srmsim run --set`
        refuses a setting of them)."""
        return not any(wf.enabled for wf in self.workflows.values())

    @model_validator(mode="after")
    def _distinct_names(self) -> PolicyConfig:
        """Names that differ only in case or by look-alike characters are refused, as for
        experiment variants: they label the events table, the report's rows and rule fields."""
        from srmsim.policy.actions import CATALOGUE

        check_distinct(self.parameters, "parameter")
        check_distinct(self.rules, "rule")
        check_distinct([*CATALOGUE, *self.actions], "action")  # a new one beside the built-ins
        check_distinct(self.workflows, "workflow")
        staff = self.staff
        # with the roles actions use: {tutor: 30, Tutor: 5} in one action, or a "Teacher" beside
        # the catalogue's "teacher", is a typo, not a second role
        used = [*(r for a in CATALOGUE.values() for r in a.staff_minutes),
                *(r for o in self.actions.values() for r in (o.staff_minutes or {}))]
        check_distinct([*staff.school, *staff.pool,
                        *(r for roles in staff.per_school.values() for r in roles), *used],
                       "staff role")
        return self

    @field_validator("parameters", mode="before")
    @classmethod
    def _exact_parameters(cls, v: object) -> object:
        """A whole number beyond 2**53 is refused before it becomes the nearest float (which
        a rule would compare with instead: 2**53 + 1 read as 2**53, without a word)."""
        if isinstance(v, dict):
            for name, value in v.items():
                if isinstance(value, numbers.Integral):  # (numpy's integers are Integral too)
                    try:  # the rules' own check of a value
                        _parameter_value(value)
                    except ValueError as err:
                        raise ValueError(f"parameter {name!r} {err}") from None
        return v

    @field_validator("rules", mode="before")
    @classmethod
    def _short_rules(cls, v: object) -> object:
        """A rule may be just its expression: ``low_reading: "reading_gap < -24"``. Any other
        value than text or a mapping (``x:`` with nothing after it, ``x: [1, 2]``), or a
        ``when:`` that is not text, is refused naming the rule and saying what a rule is: it was
        "is empty: give its keys indented under it" or "Input should be a mapping of keys to
        values"."""
        if not isinstance(v, dict):
            return v
        problems = []
        for k, r in v.items():
            if isinstance(r, dict) and "when" in r:
                r, where = r["when"], "its when: "
            elif isinstance(r, dict | RuleConfig):
                continue
            else:
                where = ""
            problem = text_problem(r)
            if problem:
                problems.append(f"rule {excerpt(k)}: {where}{problem}")
        if problems:
            more = f" (and {plural(len(problems) - 1, 'more such rule')})" if problems[1:] else ""
            raise ValueError(problems[0] + more)
        return {k: {"when": r} if isinstance(r, str) else r for k, r in v.items()}


#: the unit of regret (a difference of true expected gains, per referral) by the choosers'
#: target: (after a number, in a title); a level effect's gain (its shift x the weeks it acts:
#: absence, engagement ...) has no unit a reader would know
REGRET_UNITS = {"reading": ("months", "months of reading age"),
                "attainment": ("SD", "SD of attainment")}


def chooses_by_oracle(policy: PolicyConfig | None) -> bool:
    """Whether every choice among candidate actions in ``policy`` is the oracle's (and there is
    one): its match with the oracle is 100% by construction, not an estimate."""
    kinds = [step.chooser.kind for w in (policy.workflows.values() if policy else ())
             for step in w.steps if step.candidates and step.chooser is not None]
    return bool(kinds) and all(kind == "oracle" for kind in kinds)


#: why a learned chooser cannot run here, and what to install
LEARNING_MISSING = "a learned chooser needs scikit-learn: pip install 'srmsim[learning]'"


def learned_steps(policy: PolicyConfig | None) -> list[str]:
    """The key paths of the enabled workflows' steps that a learned chooser picks for (they
    need scikit-learn, :data:`LEARNING_MISSING`)."""
    return [f"policy.workflows.{name}.steps[{i}].chooser"
            for name, w in (policy.workflows.items() if policy else ()) if w.enabled
            for i, step in enumerate(w.steps)
            if step.candidates and step.chooser is not None and step.chooser.kind == "learned"]


def chooser_target(policies: Iterable[PolicyConfig | None]) -> str | None:
    """The one effect every chooser among candidate actions in ``policies`` targets (the unit
    regret is in), or None when there is none or they differ (regrets in different units)."""
    targets = {step.chooser.target for policy in policies if policy is not None
               for w in policy.workflows.values() for step in w.steps
               if step.candidates and step.chooser is not None}
    return targets.pop() if len(targets) == 1 else None
