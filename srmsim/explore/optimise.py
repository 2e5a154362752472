"""Policy optimisation: which thresholds, cadences and staff split do most for the hours we have?

An optimisation file names the decision levers (scenario keys and their ranges or choices, and a
staff budget split between roles), the objectives (outcomes to maximise or minimise) and
constraints (outcome bounds). Optuna's NSGA-II (Deb et al. 2002) or TPE (Bergstra et al. 2011)
proposes candidates in batches; each candidate is run over the same replications (same seeds and,
with ``uncertain:``, the same states of the world: common random numbers) on the experiment
executors, and every run is stored. The Optuna study lives in ``study.db`` (SQLite) beside the runs,
and each batch's sampler is seeded from the batch's index, so a killed search resumes where it
stopped and gives the same candidates as one that was never interrupted.

Then the Pareto front is re-evaluated on fresh replications with confidence intervals of its
effects against the baseline, the chosen policy is written as a runnable scenario, and (with
``uncertain:``) each front policy's regret in each state of the world is reported.

Example (``experiments/optimise_attendance.yaml``)::

    name: optimise_attendance
    scenario: ../scenarios/attendance_escalation.yaml
    overrides: {trust.n_schools: 4}    # fixed changes to the scenario, baseline included
    replications: 4                    # per candidate during the search
    seed: 11
    levers:
      policy.parameters.attendance_threshold: {low: 0.85, high: 0.95}
      policy.workflows.attendance.cooldown_weeks: {low: 2, high: 12, integer: true}
      policy.rules.low_attendance.cadence: {choices: [weekly, half_termly, termly]}
    budget:                            # staff minutes per week per school, split between roles
      total: 1080
      roles: {pastoral: policy.staff.school.pastoral,
              attendance_officer: policy.staff.school.attendance_officer}
    objectives: {attendance: maximise, staff_hours: minimise}
    constraints: {staff_hours: {max: 400}}
    search: {sampler: nsga2, trials: 48, batch: 8}
    reevaluate: {replications: 20, front_max: 6}
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from srmsim import executors
from srmsim.argtypes import MAX_SEED, max_workers
from srmsim.errors import ScenarioError, SrmsimError
from srmsim.experiment.outcomes import OUTCOMES, RATIO_SCALES
from srmsim.experiment.runner import batch_size, plan, run_batch, store_rows
from srmsim.experiment.spec import (
    _SHADOWED,
    Experiment,
    ExperimentConfig,
    _leaf_keys,
    check_learning_installed,
    check_uncertain,
    shadowed_keys,
    sizing_keys,
    unknown_outcomes,
)
from srmsim.experiment.store import ResultsStore
from srmsim.explore import require
from srmsim.explore.design import MAX_RUNS
from srmsim.labels import (
    FileName,
    Label,
    Prose,
    Range,
    StrictModel,
    check_distinct,
    check_room_for,
    excerpt,
    plural,
    printable,
)
from srmsim.outputs import (
    check_out,
    csv_text,
    folder_lock,
    json_dumps,
    make_dir,
    replace_files,
    restrict_tree,
)
from srmsim.results import write_text
from srmsim.scenario import (
    Scenario,
    _problems,
    dotted_key_problem,
    expand_dotted,
    expand_overrides,
    load_scenario,
    plain_value,
    read_yaml,
    result_neutral,
)
from srmsim.stats._checks import whole_number
from srmsim.store import only_hidden, read_json
from srmsim.yamlio import dump_yaml, refuse_empty

if TYPE_CHECKING:
    from srmsim.model import StudySize

Finite = Annotated[float, Field(allow_inf_nan=False)]
BASELINE = "baseline"
#: names derived from the optimisation's: the front's experiment and the chosen policy's scenario
DERIVED_NAMES = ("_front", "_best")


def _room_for_derived_names(name: str) -> str:
    """``<name>_front`` (front_experiment.yaml) and ``<name>_best`` (best_policy.yaml) must be
    valid names too, or the files the search writes could not be read back."""
    return check_room_for(name, DERIVED_NAMES)


#: the optimisation's name: a label (it becomes results/<name>), short enough for its suffixes
OptimisationName = Annotated[Label, AfterValidator(_room_for_derived_names)]
#: what a finished search writes in --out (beside study.db, search/ and front/)
RESULT_FILES = ("trials.csv", "pareto.csv", "pareto.png", "front_effects.csv", "best_policy.yaml",
                "regret.csv")


#: the most grid points a lever's step may make (Optuna's decimal arithmetic fails far beyond)
MAX_LEVER_STEPS = 1_000_000
#: most values of a policy parameter lever's grid each built as a scenario before the search
#: (about 2 ms each): beyond it only the lever's ends and 0 are, and a note says so
MAX_GRID_CHECKED = 2_000
#: the most choices of all levers together: the search checks each choice as a scenario of its
#: own before it starts (every one must be valid), 2-4 ms each, so 90 levers of 100 choices
#: passed validate after 39 s; 1,000 is a few seconds, and more than a search of at most
#: MAX_TRIALS candidates can try with any care
MAX_CHOICES = 1_000
#: the narrowest lever range: the smallest normal float (narrower ones broke TPE's arithmetic)
MIN_LEVER_WIDTH = sys.float_info.min


class Lever(StrictModel):
    """A decision lever: a numeric range (``low``/``high``, optional ``integer``/``step``) or a
    list of ``choices``."""

    low: Finite | None = None
    high: Finite | None = None
    integer: bool = False
    step: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    # whole numbers within 2**53: a float parameter holds them exactly (and a 10,000-digit
    # one failed in json.dumps with Python's own message)
    choices: list[bool | Annotated[int, Field(ge=-2**53, le=2**53)] | Finite | str] | None = Field(
        None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _check(self) -> Lever:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.integer or self.step:
                raise ValueError("give either choices or low/high, not both")
            if len(self.choices) < 2:  # as low == high is refused: a lever that never moves
                raise ValueError("needs at least 2 choices: with one the lever never changes "
                                 "(set the key in overrides instead)")
            if len({json.dumps(c) for c in self.choices}) != len(self.choices):
                raise ValueError("choices must be distinct")
            if len(set(self.choices)) != len(self.choices):  # Optuna finds a choice by ==
                raise ValueError("choices must differ as values: true equals 1, false 0 and 1.0 "
                                 "equals 1, so the search could never propose the later one")
        else:
            if self.low is None or self.high is None or not self.low < self.high:
                raise ValueError("needs low < high (or choices)")
            # Optuna draws within high - low: an overflowing width (-1e308 to 1e308) met numpy's
            # OverflowError and a subnormal one TPE's "nan is invalid", as tracebacks mid-search
            if not MIN_LEVER_WIDTH <= self.high - self.low < math.inf:
                raise ValueError(f"high - low ({self.high:g} - {self.low:g}) must be a finite "
                                 f"width of at least {MIN_LEVER_WIDTH:g}")
            if self.integer and (self.low != int(self.low) or self.high != int(self.high)):
                raise ValueError("an integer lever needs whole-number low and high")
            if self.step is not None:
                if self.integer and self.step != int(self.step):
                    raise ValueError(f"an integer lever needs a whole-number step (got {self.step})")
                # the search would silently cut the range to a multiple of the step (Optuna
                # replaces high), or collapse it to low when the step exceeds it
                steps = (self.high - self.low) / self.step
                if steps > MAX_LEVER_STEPS:  # 1e-30 once passed validate and crashed Optuna
                    raise ValueError(f"step {self.step:g} cuts high - low into {steps:.3g} "
                                     f"steps; at most {MAX_LEVER_STEPS:,} (or leave step out "
                                     "for a continuous lever)")
                if steps < 1 or abs(steps - round(steps)) > 1e-9 * max(1.0, steps):
                    raise ValueError(f"step {self.step:g} must divide high - low "
                                     f"({self.high - self.low:g}) into whole steps")
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` of a numeric lever (``_check`` sets both unless there are choices)."""
        if self.low is None or self.high is None:
            raise ValueError("a lever with choices has no low and high")
        return self.low, self.high


#: the scenario keys that hold a role's staff minutes a week (what a budget's roles split):
#: a role written to another key (``dynamics.absence_logit``) was searched as "91.6 minutes"
BUDGET_KEYS = re.compile(r"policy\.staff\.(school|pool)\.[^.]+"
                         r"|policy\.staff\.per_school\.[^.]+\.[^.]+")


class Budget(StrictModel):
    """Staff minutes a week (``total``) split between roles, each written to a scenario key."""

    total: Annotated[float, Field(gt=0, le=1e7, allow_inf_nan=False)]
    roles: dict[Label, str] = Field(min_length=2, max_length=20)  # they name trials.csv columns

    @model_validator(mode="after")
    def _check(self) -> Budget:
        for role, key in self.roles.items():  # else blamed on the levers, without the role
            problem = dotted_key_problem(key)
            if problem:
                raise ValueError(f"roles.{role}: {excerpt(key)} {problem}")
            if not BUDGET_KEYS.fullmatch(key):
                raise ValueError(f"roles.{role}: {excerpt(key)} is not a role's staff minutes a "
                                 "week (policy.staff.school.<role>, policy.staff.pool.<role> or "
                                 "policy.staff.per_school.<school>.<role>), which a budget splits")
        dup = sorted(k for k, n in Counter(self.roles.values()).items() if n > 1)  # linear
        if dup:  # the later role's minutes would overwrite the earlier one's
            raise ValueError(f"roles write the same scenario key more than once: {dup}")
        return self


class Bound(StrictModel):
    min: Finite | None = None
    max: Finite | None = None

    @model_validator(mode="after")
    def _check(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the bounds (<= 0: met; Optuna's constraint value). A
        mean over replications each exactly on a bound can miss it by rounding (three runs of
        0.2 average 0.20000000000000004): within 1e-12 of the bound, relatively, it is on it."""
        gaps = ([] if self.min is None else [(self.min, self.min - value)]) + (
            [] if self.max is None else [(self.max, value - self.max)])
        return max((gap if gap > 1e-12 * max(abs(edge), abs(value)) else min(gap, 0.0)
                    for edge, gap in gaps), default=-np.inf)


#: the most candidates a search may have: Optuna keeps each in study.db and its own work took
#: 0.15-0.3 s a candidate on the project's machine (2026-12-07) before any run, so 100,000
#: (allowed before) spent 4-8 hours on bookkeeping alone, without a word of warning
MAX_TRIALS = 10_000


class Search(StrictModel):
    sampler: Literal["nsga2", "tpe"] | None = None
    trials: Annotated[int, Field(ge=1)] = 48
    batch: Annotated[int, Field(ge=2, le=1000)] = 8

    @field_validator("trials")
    @classmethod
    def _at_most(cls, trials: int) -> int:
        if trials > MAX_TRIALS:
            raise ValueError(f"{trials:,} candidates, more than the {MAX_TRIALS:,} a search may "
                             "have (Optuna's own work on each candidate, before its runs, adds "
                             "up to hours)")
        return trials


class Reevaluate(StrictModel):
    replications: Annotated[int, Field(ge=2, le=100_000)] = 20
    front_max: Annotated[int, Field(ge=1, le=100)] = 8
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None


class OptimiseConfig(StrictModel):
    name: OptimisationName = "optimise"
    description: Prose = Field("", max_length=10_000)  # as an experiment's: the report shows it
    scenario: FileName
    overrides: dict[str, Any] = Field(default_factory=dict)
    replications: Annotated[int, Field(ge=1, le=10_000)] = 4
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None
    levers: dict[str, Lever] = Field(default_factory=dict, max_length=100)
    budget: Budget | None = None
    objectives: dict[str, Literal["maximise", "minimise"]] = Field(min_length=1, max_length=10)
    constraints: dict[str, Bound] = Field(default_factory=dict)
    choose: str | None = None
    baseline: dict[str, Any] | None = Field(default_factory=lambda: {"policy": None})
    uncertain: dict[str, Range] = Field(default_factory=dict)
    search: Search = Field(default_factory=Search)
    reevaluate: Reevaluate = Field(default_factory=Reevaluate)

    @field_validator("budget", "baseline", mode="before")
    @classmethod
    def _not_empty(cls, value: Any, info: Any) -> Any:
        """``budget:`` or ``baseline:`` written with nothing under it (its lines commented out,
        say): a null budget was no budget and a null baseline the scenario with its policy,
        where leaving the key out means no policy, both silently."""
        if value is None:
            raise ValueError("is empty (null): " + (
                "give total and roles, or leave budget out" if info.field_name == "budget"
                else "give its overrides ({} for the scenario as it is), or leave baseline out "
                "to compare with no policy"))
        return value

    @model_validator(mode="after")
    def _check(self) -> OptimiseConfig:
        if not self.levers and self.budget is None:
            raise ValueError("name at least one lever (levers:) or a budget to split")
        # each names a column of trials.csv and the front
        check_distinct([*self.levers, *(self.budget.roles if self.budget else ())],
                       "lever and budget role")
        check_distinct(self.uncertain, "uncertain parameter")
        search, front = self.runs()
        if search + front > MAX_RUNS:
            raise ValueError(f"{search + front:,} runs, more than {MAX_RUNS:,}: "
                             f"{self.plan()}; lower search.trials, replications or "
                             "reevaluate")
        for what, names in (("objectives", self.objectives), ("constraints", self.constraints)):
            unknown = [o for o in names if o not in OUTCOMES]
            if unknown:
                raise ValueError(f"{what}: {unknown_outcomes(unknown, custom=False)}")
        for name, bound in self.constraints.items():
            # each bound valid alone: `attendance: {min: 2}` (a share) or `staff_hours:
            # {max: -1}` left every candidate infeasible, found only after the whole search
            scale = OUTCOMES[name].scale
            if scale == "share" and bound.min is not None and bound.min > 1:
                side, limit, key, given = "above", 1, "min", bound.min
            elif scale in RATIO_SCALES and bound.max is not None and bound.max < 0:
                side, limit, key, given = "below", 0, "max", bound.max
            else:
                continue
            what = f"{name}, a share (0 to 1)," if scale == "share" else name
            raise ValueError(f"constraints: {name} {{{key}: {given:g}}}: {what} is never "
                             f"{side} {limit}, so this can never be met: every candidate would "
                             "be infeasible")
        if self.choose is not None and self.choose not in self.objectives:
            raise ValueError(f"choose: {self.choose!r} is not among the objectives")
        choices = sum(len(lever.choices) for lever in self.levers.values()
                      if lever.choices is not None)
        if choices > MAX_CHOICES:
            raise ValueError(f"levers: {choices:,} choices in all, more than the "
                             f"{MAX_CHOICES:,} a search may have (each is checked as a "
                             "scenario before the search starts, a few ms each); give fewer "
                             "choices, or a numeric lever low and high instead")
        files = [k for k in self.levers if _names_a_file(k)]
        if files:  # read from the current folder, and a trust of records made no folder private
            raise ValueError(f"levers: {files[0]} names an input file: a search does not choose "
                             "between pupils' records or arrivals files (set it in overrides)")
        if self.budget and set(self.budget.roles.values()) & set(self.levers):
            raise ValueError("a budget role's key is also a lever")
        for key, (low, high) in self.uncertain.items():
            if not low < high:
                raise ValueError(f"uncertain.{key}: range [{low}, {high}] must have low < high")
        return self

    def runs(self) -> tuple[int, int]:
        """The runs of the search (every candidate's replications and the baseline's) and of
        the front's re-evaluation at most (``front_max`` policies and the baseline)."""
        policies = min(self.reevaluate.front_max, self.search.trials)
        return ((self.search.trials + 1) * self.replications,
                (policies + 1) * self.reevaluate.replications)

    def plan(self) -> str:
        """What the search will run, in words: validate prints it, and a file over the
        limit is told it (100,000 candidates passed validate and ran for hours unannounced)."""
        search, front = self.runs()
        policies = min(self.reevaluate.front_max, self.search.trials)
        return (f"{search:,} search runs ({plural(self.search.trials, 'candidate')} and the "
                f"baseline x {plural(self.replications, 'replication')}), then at most "
                f"{front:,} to re-evaluate the front ({plural(policies, 'policy', 'policies')} "
                f"and the baseline x {plural(self.reevaluate.replications, 'replication')})")

    def searched_keys(self) -> dict[str, str]:
        """Scenario keys each candidate sets, with what sets them (a lever, a budget role)."""
        keys = {k: "a lever" for k in self.levers}
        if self.budget:
            keys.update({k: f"budget role {r}" for r, k in self.budget.roles.items()})
        return keys


def _names_a_file(key: str) -> bool:
    """``population.records`` or a request stream's ``arrivals.file``: a scenario key whose
    value is an input file (:func:`srmsim.scenario.expand_overrides` resolves them)."""
    parts = key.split(".")
    return parts[:2] == ["population", "records"] or (
        parts[0] == "requests" and parts[2:4] == ["arrivals", "file"])


def _overridden(config: OptimiseConfig, source: str) -> list[tuple[str, str]]:
    """Overrides of a key a lever or budget role also sets (the same key, or one above or below
    it): every candidate's value would replace the override, so it would change nothing, or the
    search would explore a key the file also fixes."""
    searched = config.searched_keys()
    try:
        overridden = _leaf_keys(expand_dotted(config.overrides, source))
    except ScenarioError as err:  # named as the scenario's own check of them names them
        raise ScenarioError(source, [(f"overrides: {p}" if p else "overrides", m)
                                     for p, m in err.problems]) from None
    problems = []
    for key in overridden:
        for lever, what in searched.items():
            if key == lever or lever.startswith(key + ".") or key.startswith(lever + "."):
                problems.append((f"overrides.{key}", f"{lever} is also set by {what}: each "
                                 "candidate's value would replace the override; remove one"))
    return problems


def _shadowed(config: OptimiseConfig, source: str) -> list[tuple[str, str]]:
    """Levers, budget roles, overrides and baseline keys that are also uncertain: each
    replication's draw would replace the value, so the search or the setting did nothing."""
    unc = config.uncertain
    if not unc:
        return []
    problems = [(f"levers.{k}", _SHADOWED) for k in config.levers if k in unc]
    if config.budget:
        problems += [(f"budget.roles.{r}", _SHADOWED) for r, k in config.budget.roles.items()
                     if k in unc]
    problems += [(f"overrides.{k}", _SHADOWED) for k in shadowed_keys(config.overrides, unc,
                                                                       source)]
    problems += [(f"baseline.{k}", _SHADOWED) for k in shadowed_keys(config.baseline, unc,
                                                                      source)]
    return problems


def _changing_nothing(config: OptimiseConfig) -> list[tuple[str, str]]:
    """Levers over a key no simulation reads (:func:`srmsim.scenario.result_neutral`: the
    scenario's name, a description, ``outputs``): every candidate would score alike, and the
    search ran its trials comparing one policy with itself."""
    return [(f"levers.{key}", f"is {what}: it changes no result, so every candidate would "
             "score alike; search a key the simulation reads (a policy parameter, staff "
             "minutes, an action's take_up...)")
            for key in config.levers for what in [result_neutral(key)] if what]


def _seed_ignored(config: OptimiseConfig, source: str) -> list[tuple[str, str]]:
    """A seed the runs would not use: the replications' seeds come from the search's seed (its
    ``seed:``, else the scenario's), so a lever, the baseline or, beside ``seed:``, the
    overrides setting one changed nothing (overrides' ``seed: 5`` was recorded in
    base_scenario.yaml while every run used ``seed: 11``'s)."""
    why = ("the search's replication seeds (from its seed:, else the scenario's) replace the "
           "scenario's seed in every run: this seed would change nothing; set the "
           "optimisation's seed: instead")
    problems = [(f"levers.{k}", why) for k in config.levers if k == "seed"]
    if config.baseline and "seed" in expand_dotted(config.baseline, source):
        problems.append(("baseline.seed", why))
    if config.seed is not None and "seed" in expand_dotted(config.overrides, source):
        problems.append(("overrides.seed", why))
    return problems


#: where a continuous lever is checked inside its range: a point no whole number is (a fraction
#: of the width that is not a simple one)
_INNER = 0.381966


def _inner_values(lever: Lever) -> list[float | int]:
    """Values inside a numeric lever's range the search may propose that its ends do not stand
    for, checked before the search starts: 0 where it is on the lever's grid (a rule dividing by
    the parameter, ``1 / k``, is refused at 0), and a value between whole numbers where the
    lever is not whole-numbered (a window's length, ``attendance(k)``, must be whole). Both
    passed validate and failed the first batch that drew them, minutes into the search."""
    low, high = lever.bounds
    if lever.integer or lever.step is not None:
        step = lever.step or 1.0
        out: list[float | int] = []
        steps_to_zero = -low / step
        if low < 0 < high and abs(steps_to_zero - round(steps_to_zero)) <= 1e-9 * max(
                1.0, steps_to_zero):
            out.append(0 if lever.integer else 0.0)
        if not lever.integer and low + step < high:
            out.append(low + step)  # the grid's second value: 2.5 of {low: 2, step: 0.5}
        return out
    return [low + (high - low) * _INNER]


def _lever_hint(lever: Lever | None, message: str) -> str:
    """A lever's value refused by its scenario key, with the lever's setting that fits the key:
    a range over a whole-number key (``cooldown_weeks: {low: 2, high: 12}``) was told only
    "Input should be a valid integer (got 2.0)", a range over a true/false one "a valid
    boolean (got 0.0)"."""
    if lever is None or lever.choices is not None:
        return message
    if message.startswith("Input should be a valid integer") and not lever.integer:
        return f"{message}: the key takes whole numbers, so give the lever integer: true"
    if message.startswith("Input should be a valid boolean"):
        return f"{message}: the key is true or false, so give the lever choices: [true, false]"
    return message


def _file_key(path: str) -> str:
    """An experiment's key path as the optimisation file names it: its baseline variant is
    ``baseline``, its candidates are the levers' values, and its outcomes the objectives and
    constraints (an outcome no candidate can measure was blamed on "outcomes:")."""
    if path == "outcomes":
        return "objectives and constraints"
    for prefix, key in (("variants.baseline", "baseline"), ("variants.candidate-", "levers")):
        if path.startswith(prefix):
            rest = path[len(prefix):]
            if key == "levers":
                rest = rest.partition(".")[2]
                return f"levers: {rest}" if rest else "levers"
            return key + rest
    return path


class Optimisation:
    """A validated optimisation file with its base scenario."""

    def __init__(self, config: OptimiseConfig, base: Scenario, scenario_path: Path, source: str):
        self.config, self.base, self.scenario_path, self.source = config, base, scenario_path, source
        self.name = config.name
        example = self._example_params()
        #: what the checks before the search left out (a parameter lever's grid too long)
        self.notes: list[str] = []
        for params in [*self._extreme_params(), *self._grid_params(example)]:
            # every lever value must be a valid scenario
            try:
                self.scenario(self.overrides(params))
            except ScenarioError as err:
                # which lever's value did it, when the problem is found elsewhere (a rule)
                moved = [k for k in config.levers if params[k] != example[k]]
                at = (f" (the search may propose {moved[0]} = {params[moved[0]]!r})"
                      if len(moved) == 1 else "")
                raise ScenarioError(source, [(f"levers: {p}" if p else "levers",
                                              _lever_hint(config.levers.get(p), m)
                                              + ("" if p in config.levers else at))
                                             for p, m in err.problems]) from None
        if config.baseline is not None:
            try:
                self.scenario(config.baseline)
            except ScenarioError as err:
                raise ScenarioError(source, [(f"baseline: {p}" if p else "baseline", m)
                                             for p, m in err.problems]) from None
        check_uncertain(config.uncertain, {"baseline": self.scenario(config.baseline or {})},
                        source)
        # the scenario's own learned chooser: named as the scenario's, not as a lever's (the
        # candidates' check below said "levers: policy.workflows...")
        check_learning_installed({"scenario": self.base}, source, key="scenario: ")
        # the runs' own checks (arrival files, records, memory-free ones) before anything is
        # written: they failed at the first batch, after optimise.json and study.db were
        # written, and validate called the file valid
        candidates = {f"candidate-{i}": self.overrides(params)
                      for i, params in enumerate(self._extreme_params())}
        try:
            self.experiment(candidates, 1, self.root_seed)
        except ScenarioError as err:
            raise ScenarioError(source, [(_file_key(p), m) for p, m in err.problems]) from None

    @property
    def from_records(self) -> bool:
        """The trust is built from real pupil records: the search's folder is owner-only."""
        return bool(self.base.population.records)

    @property
    def outcomes(self) -> list[str]:
        return list(dict.fromkeys([*self.config.objectives, *self.config.constraints]))

    @property
    def root_seed(self) -> int:
        return self.config.seed if self.config.seed is not None else self.base.seed

    @property
    def front_seed(self) -> int:
        """Root seed of the front's re-evaluation: fresh replications, the search's seed + 1
        (wrapped to 0 after 2**63 - 1), unless ``reevaluate.seed`` is given."""
        seed = self.config.reevaluate.seed
        return seed if seed is not None else (self.root_seed + 1) % (MAX_SEED + 1)

    @property
    def sampler_name(self) -> str:
        return self.config.search.sampler or ("nsga2" if len(self.config.objectives) > 1 else "tpe")

    def digest(self) -> str:
        data = {"config": self.config.model_dump(mode="json"), "base": self.base.digest()}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def _example_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for key, lever in self.config.levers.items():
            params[key] = lever.choices[0] if lever.choices is not None else (
                int(lever.bounds[0]) if lever.integer else lever.low)
        if self.config.budget:
            for role in list(self.config.budget.roles)[:-1]:
                params[f"budget.{role}"] = 0.5
        return params

    def _extreme_params(self) -> list[dict[str, Any]]:
        """The example candidate, then each lever at its other values (the high end, every
        choice) and the whole budget on each role: what the search may propose, checked
        before it starts rather than candidate by candidate."""
        example = self._example_params()
        out = [example]
        for key, lever in self.config.levers.items():
            values = lever.choices[1:] if lever.choices is not None else [
                int(lever.bounds[1]) if lever.integer else lever.high, *_inner_values(lever)]
            out += [{**example, key: v} for v in values]
        if self.config.budget:
            roles = list(self.config.budget.roles)[:-1]
            for first in range(len(roles) + 1):  # all to role `first` (the last: all shares 0)
                out.append({**example, **{f"budget.{r}": float(i == first)
                                          for i, r in enumerate(roles)}})
        return out

    def _grid_params(self, example: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The example candidate with each policy parameter lever's every grid value (integer
        or stepped), in order. Why: a rule dividing by ``k - 3`` is refused at k = 3 only,
        which a lever from 0 to 6 passed (its ends and 0 were checked) and the search's first
        batch to draw 3 failed. A grid over :data:`MAX_GRID_CHECKED` values is left out, with
        a note; only parameters are read by rules' arithmetic. The budget is the levers'
        together (fifty levers of 1,000 values each built 50,000 scenarios, minutes of start)."""
        left = MAX_GRID_CHECKED
        for key, lever in self.config.levers.items():
            if lever.choices is not None or not (lever.integer or lever.step is not None) \
                    or not key.startswith("policy.parameters."):
                continue
            low, high = lever.bounds
            step = lever.step or 1.0
            n = round((high - low) / step) + 1
            if n > left:
                self.notes.append(
                    f"levers: {key}: its grid holds {n:,} values, more than the "
                    f"{MAX_GRID_CHECKED:,} checked one by one (for all levers together): only "
                    "its ends (and 0) were checked, so a value at which a rule divides by zero "
                    "stops the search")
                continue
            left -= n
            for i in range(n):  # as Optuna makes them: low + i * step
                yield {**example, key: int(low) + i * int(step) if lever.integer
                       else low + i * step}

    def sized_scenarios(self) -> dict[str, Scenario]:
        """The scenarios whose runs' memory the search must check: the baseline, each lever at
        its ends (:meth:`_extreme_params`), every numeric lever at its high end at once (a trust
        of ``n_schools`` x ``students_per_year_group`` at both highs is the largest the search
        may propose), and each with the uncertain parameters that size the trust at either end
        of their ranges."""
        found = {BASELINE: self.scenario(self.config.baseline or {})}
        highs = {k: int(lever.bounds[1]) if lever.integer else lever.high
                 for k, lever in self.config.levers.items() if lever.choices is None}
        corner = {**self._example_params(), **highs}
        for params in [*self._extreme_params(), corner]:
            try:
                found[f"with {_lever_values(params)}"] = self.scenario(self.overrides(params))
            except ScenarioError:  # levers at their highs together may not make a scenario
                continue
        sizing = {k: self.config.uncertain[k] for k in sizing_keys(self.config.uncertain)}
        if not sizing:
            return found
        out = dict(found)
        for name, sc in found.items():
            for end, values in (("low", {k: r[0] for k, r in sizing.items()}),
                                ("high", {k: r[1] for k, r in sizing.items()})):
                out[f"{name}, uncertain {', '.join(sizing)} at the {end} end"] = (
                    sc.with_overrides(values, self.source))
        return out

    def suggest(self, trial: Any) -> None:
        """Ask Optuna for each lever's value (the trial keeps them as its params)."""
        for key, lever in self.config.levers.items():
            if lever.choices is not None:
                trial.suggest_categorical(key, lever.choices)
            elif lever.integer:
                trial.suggest_int(key, int(lever.bounds[0]), int(lever.bounds[1]),
                                  step=int(lever.step or 1))
            else:
                trial.suggest_float(key, lever.low, lever.high, step=lever.step)
        if self.config.budget:  # stick-breaking: share of what is left, role by role
            for role in list(self.config.budget.roles)[:-1]:
                trial.suggest_float(f"budget.{role}", 0.0, 1.0)

    def overrides(self, params: dict[str, Any]) -> dict[str, Any]:
        """Scenario overrides (dotted keys) from a candidate's lever values."""
        out = {k: v for k, v in params.items() if not k.startswith("budget.")}
        budget = self.config.budget
        if budget:
            left = budget.total
            roles = list(budget.roles)
            for role in roles[:-1]:
                minutes = round(left * float(params[f"budget.{role}"]), 1)
                out[budget.roles[role]] = minutes
                left -= minutes
            out[budget.roles[roles[-1]]] = round(max(left, 0.0), 1)
        return out

    def scenario(self, overrides: dict[str, Any]) -> Scenario:
        return self.base.with_overrides(overrides, self.source)

    def experiment(self, variants: Mapping[str, dict[str, Any] | None], replications: int,
                   seed: int, scenario: str | None = None) -> Experiment:
        """The experiment machinery's view: candidates as variants, shared seeds and draws."""
        config = ExperimentConfig(
            name=self.name, scenario=scenario or str(self.scenario_path), baseline=BASELINE,
            variants={BASELINE: self.config.baseline or {}, **variants},
            replications=replications, seed=seed, outcomes=list(self.outcomes),
            uncertain=self.config.uncertain)
        return Experiment(config, self.base, self.source)


def optimisation_from_dict(data: Any, source: str, base_dir: Path) -> Optimisation:
    if not isinstance(data, dict):
        raise ScenarioError(source, "an optimisation file must be a mapping of keys to values")
    data = plain_value(data)
    try:
        config = OptimiseConfig.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(source, [(p, m.removeprefix("Value error, "))
                                     for p, m in _problems(err, model=OptimiseConfig)]) from None
    problems = _shadowed(config, source) + _overridden(config, source) \
        + _seed_ignored(config, source) + _changing_nothing(config)
    if problems:
        raise ScenarioError(source, problems)
    if config.baseline:
        # a file the baseline names (population.records, arrivals.file) is relative to this
        # file, as the overrides' and an experiment's variants' are: not to the current folder
        try:
            resolved = expand_overrides(config.baseline, source, base_dir)
        except ScenarioError as err:
            raise ScenarioError(source, [(f"baseline.{p}" if p else "baseline", m)
                                         for p, m in err.problems]) from None
        if resolved != expand_dotted(config.baseline, source):
            # else kept as given: a search's identity (its hash) is unchanged
            config = config.model_copy(update={"baseline": resolved})
    path = (base_dir / config.scenario).resolve()
    try:  # the file alone first: a problem of its own is not blamed on the overrides
        base = load_scenario(path)
    except ScenarioError as err:
        raise ScenarioError(source, [("scenario", str(err))]) from None
    try:
        base = (base.with_overrides(config.overrides, str(path), base_dir=base_dir)
                if config.overrides else base)
    except ScenarioError as err:
        if err.source != str(path):
            raise
        raise ScenarioError(source, [(f"overrides: {p}" if p else "overrides", m)
                                     for p, m in err.problems]) from None
    return Optimisation(config, base, path, source)


def load_optimisation(path: str | Path) -> Optimisation:
    """Load and validate an optimisation file; the scenario path is relative to it."""
    path = Path(path)
    data = refuse_empty(read_yaml(path), str(path), "optimisation")
    return optimisation_from_dict(data, str(path), path.parent)


# ---------------------------------------------------------------------------------------------
# The search


def _study(opt: Optimisation, out: Path, resume: bool) -> Any:
    optuna = require("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    marker = out / "optimise.json"
    digest = opt.digest()
    if marker.exists():
        old = read_json(marker)
        if not isinstance(old, dict):
            raise SrmsimError(f"{marker}: not an srmsim optimisation record (hand-edited or "
                              "corrupt); choose another --out")
        if old.get("hash") != digest:
            raise SrmsimError(f"{out} holds another optimisation, or {opt.source} (or the scenario "
                              "file it names) has changed "
                              f"since (hash {old.get('hash')} there, {digest} now); choose "
                              "another --out")
        if not resume and not old.get("finished"):
            raise SrmsimError(f"{out} already holds an unfinished search; use --resume to "
                              "continue it or choose another --out")
        _refuse_lost_study(out)
    else:  # a new search: never among other files, which its results would overwrite
        check_out(out, only_hidden)
        out.mkdir(parents=True, exist_ok=True)
    if opt.from_records:  # before anything is added: the study and search store within it
        make_dir(out, private=True)
        restrict_tree(out)
    if not marker.exists():
        write_text(json_dumps({"name": opt.name, "hash": digest, "source": opt.source,
                               "created": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=2) + "\n",
                   marker)
    directions = ["maximize" if d == "maximise" else "minimize"
                  for d in opt.config.objectives.values()]
    store = out / "study.db"
    try:
        return optuna.create_study(storage=f"sqlite:///{store.resolve()}",
                                   study_name=opt.name, directions=directions,
                                   load_if_exists=True)
    except (sqlite3.Error, OSError, require("sqlalchemy.exc").SQLAlchemyError) as err:
        # a truncated or overwritten file met sqlalchemy's DatabaseError as a traceback
        why = str(getattr(err, "orig", None) or err).splitlines()[0][:120]
        raise SrmsimError(f"{store}: not a search store srmsim can read ({why}); choose "
                          "another --out, or delete the folder to start the search again") \
            from None


def _refuse_lost_study(out: Path) -> None:
    """Refuse a search whose runs are stored but whose ``study.db`` is gone. Why: a new, empty
    study was made in its place and the search asked its candidates again, taking each stored
    run of ``trial-NNNNN`` (stored by name) as the new candidate's, whatever its levers, and
    said nothing: exit 0 on a search rebuilt from a record that was lost. (With no run stored,
    a session killed before its study was made, the study is made now: nothing is lost.)"""
    store = out / "study.db"
    if not store.exists() and ResultsStore(out / "search").holds_runs():
        raise SrmsimError(f"{store}: missing, but the search's runs are stored in "
                          f"{out / 'search'} (study.db records which levers each candidate "
                          "had: without it they cannot be told apart)\n  restore study.db, or "
                          "choose another --out (or delete the folder) to search again")


def _sampler(opt: Optimisation, batch_index: int) -> Any:
    """A sampler seeded by the batch index: resumed searches propose what fresh ones would."""
    optuna = require("optuna")
    seed = int(np.random.SeedSequence([opt.root_seed, batch_index]).generate_state(1)[0])
    if opt.sampler_name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=opt.config.search.batch, seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=opt.config.search.batch)


def _variant(number: int) -> str:
    return f"trial-{number:05d}"


def _evaluate(opt: Optimisation, store: ResultsStore, trials: list[Any], workers: int,
              scheduler: Any) -> pd.DataFrame:
    """Run each trial's candidate over the search replications; the runs table of the batch."""
    variants = {_variant(t.number): opt.overrides(t.params) for t in trials}
    exp = opt.experiment(variants, opt.config.replications, opt.root_seed)
    tasks = plan(exp, range(exp.replications), store)

    n_workers = executors.slots(workers, scheduler)
    size = batch_size(exp, len(tasks), n_workers)
    executors.execute(run_batch, [(b,) for b in executors.batches(tasks, size, n_workers)],
                      workers, scheduler, lambda rows: store_rows(store, rows))
    return store.load()


#: a failed candidate's user attribute: why it could not be scored
UNSCORED = "unscored"


def _unscored(arm: pd.DataFrame, outcomes: list[str]) -> str | None:
    """Why a candidate's runs cannot score it: an objective or constraint missing (NaN) or
    infinite in a replication. A mean skipping it compared candidates over different states of
    the world, and a constraint never measured had a violation of -inf: counted as met."""
    bad = ~np.isfinite(arm[outcomes].astype(float).to_numpy())
    if not bad.any():
        return None
    row, col = np.argwhere(bad)[0]
    return (f"outcome {outcomes[col]!r} is missing or infinite in replication "
            f"{arm['replication'].iloc[row]}")


def _tell(opt: Optimisation, study: Any, trials: list[Any], runs: pd.DataFrame) -> None:
    from optuna.trial import Trial, TrialState

    reps = opt.config.replications
    for t in sorted(trials, key=lambda t: t.number):
        arm = runs[runs["variant"] == _variant(t.number)]
        if len(arm) < reps:  # a run failed: the candidate cannot be scored
            study.tell(t.number, state=TrialState.FAIL)
            continue
        trial = t if isinstance(t, Trial) else Trial(study, t._trial_id)
        reason = _unscored(arm, opt.outcomes)
        if reason:
            trial.set_user_attr(UNSCORED, reason)
            study.tell(t.number, state=TrialState.FAIL)
            continue
        means = arm[opt.outcomes].astype(float).mean()
        for outcome, bound in opt.config.constraints.items():
            trial.set_constraint(outcome, bound.violation(float(means[outcome])))
        study.tell(t.number, [float(means[o]) for o in opt.config.objectives])


def _complete_batch(opt: Optimisation, study: Any, left: list[Any], index: int,
                    total: int) -> None:
    """Finish asking for batch ``index`` as an uninterrupted session would have.

    A session stopped while asking for a batch leaves some of its candidates not yet asked for,
    or one without all its levers. No run of the batch has started then (runs start once every
    candidate is asked for), but asking for the rest with a fresh sampler would draw them from the
    start of its random stream, not where the stopped session had got to: other candidates, and
    every later batch different. The batch is asked for again in a copy of the study holding the
    batches before it, with the batch's sampler, and the candidates missing from the real study
    are added from it, each whole in one write; a candidate missing levers gets the copy's values
    for them and its sampler's records (those it has are kept)."""
    optuna = require("optuna")
    from optuna.trial import TrialState

    size = opt.config.search.batch
    first = index * size
    count = min(size, total - first)
    names = [t.number for t in left]
    if names != list(range(first, first + len(left))) or len(left) > count:
        return  # not a batch this version asks for: finish it as it is
    full = _searched_names(opt)
    if len(left) == count and all(set(t.params) == full for t in left):
        return  # every candidate asked for with every lever: nothing to redo
    before = [t for t in study.get_trials(deepcopy=True) if t.number < first]
    copy = optuna.create_study(directions=study.directions, sampler=_sampler(opt, index))
    copy.add_trials(before)
    for _ in range(count):
        opt.suggest(copy.ask())
    replayed = [t for t in copy.get_trials(deepcopy=True) if t.number >= first]
    for trial, again in zip(left, replayed, strict=False):
        if any(again.params.get(k) != v for k, v in trial.params.items()):
            return  # asked for by another sampler (an older srmsim): finish it as it is
        storage = study._storage
        for key, value in again.system_attrs.items():  # NSGA-II's generation of the candidate
            if key not in trial.system_attrs:
                storage.set_trial_system_attr(trial._trial_id, key, value)
        for name, dist in again.distributions.items():
            if name not in trial.params:
                storage.set_trial_param(trial._trial_id, name,
                                        dist.to_internal_repr(again.params[name]), dist)
    for again in replayed[len(left):]:
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.RUNNING, params=again.params, distributions=again.distributions,
            system_attrs=again.system_attrs))


def _searched_names(opt: Optimisation) -> set[str]:
    """The names of a candidate's params: its levers and the budget's stick-breaking shares."""
    names = set(opt.config.levers)
    if opt.config.budget:
        names |= {f"budget.{role}" for role in list(opt.config.budget.roles)[:-1]}
    return names


def _size(opt: Optimisation, workers: int, scheduler: Any) -> StudySize:
    """The optimisation's memory check (:func:`srmsim.model.size_study`), before the study, the
    search store or a process: a baseline too big for memory failed run by run, then the search
    stopped on "no finished runs", leaving study.db and failures. Its largest run is the largest
    any candidate can make; as many local workers as can each hold one at once, or, on a Dask
    cluster, its workers' memory (and each worker no more runs at a time than it holds,
    :func:`srmsim.executors.runs_need`)."""
    from srmsim.model import size_study
    from srmsim.rng import replication_seeds

    return size_study(opt.sized_scenarios(), replication_seeds(opt.root_seed, 1)[0],
                      f"optimisation {opt.name!r}: variant", workers,
                      local=scheduler is None, cluster=scheduler)


@executors.connects_scheduler
def search(opt: Optimisation, out: str | os.PathLike, workers: int = 1, scheduler: Any = None,
           resume: bool = False, progress: bool = True, max_batches: int | None = None) -> Any:
    """Run (or resume) the search; returns the Optuna study. ``max_batches`` stops early.

    Sized as :func:`optimise` is (:func:`_size`): called directly, it ran every candidate with
    no memory check, a cluster's workers given as many runs at once as their threads. A note
    (fewer local workers than asked, or a cluster's workers given fewer runs at once than
    their threads) is a warning: the study is what it returns."""
    workers = whole_number(workers, "workers", 1, max_workers(), " (4 a core on this machine)")
    size = _size(opt, workers, scheduler)
    if size.note:
        import warnings

        warnings.warn(f"srmsim: {size.note}", stacklevel=2)
    # one writer of the folder at a time, as optimise (two searches into one study.db at once
    # interleaved their batches)
    with folder_lock(out), executors.runs_need(size.need, size.what):
        return _search(opt, Path(out), size.workers, scheduler, resume, progress, max_batches)


def _search(opt: Optimisation, out: Path, workers: int, scheduler: Any, resume: bool,
            progress: bool, max_batches: int | None) -> Any:
    """:func:`search` once sized (:func:`optimise` sizes the search and the front once)."""
    from optuna.trial import Trial, TrialState

    from srmsim.records import check_out_of_records

    check_out_of_records(out, [opt.base])  # before the study is made there
    study = _study(opt, out, resume)
    store = ResultsStore(out / "search")
    total = opt.config.search.trials
    batches_run = 0
    bar = None
    if progress:
        from srmsim.progress import progress_bar

        bar = progress_bar(total=total, unit="candidate", desc="search")
    try:
        with executors.local_processes(workers if scheduler is None else 1, executors.RUN_MODULES):
            while max_batches is None or batches_run < max_batches:
                existing = study.get_trials(deepcopy=False)
                left = [t for t in existing if t.state == TrialState.RUNNING]
                if left:  # a batch a killed session asked for: finish it (runs already stored stay)
                    index = left[0].number // opt.config.search.batch
                    _complete_batch(opt, study, left, index, total)
                    study.sampler = _sampler(opt, index)
                    left = [t for t in study.get_trials(deepcopy=False)
                            if t.state == TrialState.RUNNING]
                    pending = [Trial(study, t._trial_id) for t in left]
                    for trial in pending:
                        opt.suggest(trial)  # keeps the values it has; draws any it had not got yet
                else:
                    if len(existing) >= total:
                        break
                    study.sampler = _sampler(opt, len(existing) // opt.config.search.batch)
                    pending = []
                    for _ in range(min(opt.config.search.batch, total - len(existing))):
                        trial = study.ask()
                        opt.suggest(trial)
                        pending.append(trial)
                runs = _evaluate(opt, store, pending, workers, scheduler)
                _tell(opt, study, pending, runs)
                batches_run += 1
                if bar is not None:  # (update, not refresh: a log's bar is redrawn seldom)
                    bar.update(len(study.get_trials(deepcopy=False)) - bar.n)
    finally:
        if bar is not None:
            bar.close()
    return study


# ---------------------------------------------------------------------------------------------
# Results


def trials_table(opt: Optimisation, study: Any) -> pd.DataFrame:
    """One row per finished candidate: lever values, objective means, feasibility, front."""
    from optuna.trial import TrialState

    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        row: dict[str, Any] = {"trial": t.number}
        row.update(opt.overrides(t.params))
        row.update(dict(zip(opt.config.objectives, t.values, strict=True)))
        cons = {k.removeprefix("constraints:"): v for k, v in t.system_attrs.items()
                if k.startswith("constraints:")}
        row["feasible"] = all(v <= 0 for v in cons.values())
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        unscored = [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
                    if UNSCORED in t.user_attrs]
        if unscored:
            first = unscored[0]
            raise SrmsimError(f"no candidate could be scored: {len(unscored)} of them lack an "
                              f"objective or constraint (candidate {_candidate(first)}: "
                              f"{first.user_attrs[UNSCORED]}); choose outcomes every run "
                              "measures")
        raise SrmsimError("no candidate has finished: run the search first")
    levers = [c for c in table.columns if c not in ("trial", "feasible", *opt.config.objectives)]
    # NSGA-II may propose a candidate again: the front lists each policy once
    table["pareto"] = _pareto(opt, table) & ~table.duplicated(subset=levers)
    return table


def shown_candidates(opt: Optimisation, table: pd.DataFrame, store: ResultsStore,
                     definitions: object = None) -> pd.DataFrame:
    """:func:`trials_table` as a search of real records may show it: each candidate's mean
    of an objective that gives a count of under 10 students per run empty (the rule of
    :func:`srmsim.experiment.withhold.withhold_candidates`, on the search's runs in
    ``store``; ``definitions``: the user-defined outcomes); the front is chosen from the
    means themselves, before."""
    from srmsim.experiment.withhold import GROUP_SHARES, withhold_candidates

    runs = store.load()
    objectives = list(opt.config.objectives)
    return withhold_candidates(
        table, [_variant(int(t)) for t in table["trial"]], runs, objectives,
        definitions=definitions, detail=store.load_detail("groups", runs)
        if set(GROUP_SHARES) & set(objectives) else None)


def unscored_notes(study: Any) -> list[str]:
    """One line per candidate left out of trials.csv because its runs could not score it,
    naming its lever values (the candidate's number alone did not say which policy failed)."""
    from optuna.trial import TrialState

    return [f"{_candidate(t)}: {t.user_attrs[UNSCORED]}"
            for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            if UNSCORED in t.user_attrs]


def _candidate(trial: Any) -> str:
    """``trial-00002 (policy.actions.boost.take_up = 0.45)``: a candidate and its levers."""
    levers = _lever_values(trial.params)
    return f"{_variant(trial.number)} ({levers})" if levers else _variant(trial.number)


def _lever_values(params: Mapping[str, Any]) -> str:
    """``policy.actions.boost.take_up = 0.45, trust.n_schools = 40``: lever values to print."""
    from srmsim.labels import key_unit
    from srmsim.report.explore import lever_text

    return ", ".join(f"{printable(k)} = {lever_text(v, key_unit(k))}" for k, v in params.items())


def _pareto(opt: Optimisation, table: pd.DataFrame) -> np.ndarray:
    """Feasible candidates that no other feasible candidate beats on every objective."""
    signs = np.array([1.0 if d == "maximise" else -1.0 for d in opt.config.objectives.values()])
    values = table[list(opt.config.objectives)].to_numpy(dtype=float) * signs
    feasible = table["feasible"].to_numpy()
    front = np.zeros(len(table), dtype=bool)
    for i in np.flatnonzero(feasible):
        others = values[feasible]
        dominated = np.any(np.all(others >= values[i], axis=1) & np.any(others > values[i], axis=1))
        front[i] = not dominated
    return front


def pareto_plot(opt: Optimisation, table: pd.DataFrame, path: str | Path | None = None):
    """The first two objectives of every candidate, the Pareto front joined up (one objective:
    its value by candidate)."""
    from srmsim.figures import new_figure, save

    names = list(opt.config.objectives)
    # each objective by its label, in its unit, as the front's table shows it: the axes were
    # "attendance (maximise)" from 0.938 to 0.944 and "staff_hours (minimise)" with no unit
    scale = {n: 100.0 if OUTCOMES[n].scale == "share" else 1.0 for n in names}
    table = table.assign(**{n: table[n].astype(float) * scale[n] for n in names})

    def axis_label(name: str) -> str:
        o = OUTCOMES[name]
        unit = "%" if o.scale == "share" else o.unit
        return f"{o.label} ({unit + ', ' if unit else ''}{opt.config.objectives[name]})"

    fig, ax = new_figure(5.8, 4.2)
    feas, front = table["feasible"], table["pareto"]
    if len(names) >= 2:
        x, y = names[0], names[1]
        ax.scatter(table.loc[feas, x], table.loc[feas, y], s=14, color="grey", label="candidate")
        ax.scatter(table.loc[~feas, x], table.loc[~feas, y], s=14, marker="x", color="lightgrey",
                   label="breaks a constraint")
        f = table[front].sort_values(x)
        ax.plot(f[x], f[y], "o-", color="tab:red", label="Pareto front")
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(y))
    else:
        x = names[0]
        ax.scatter(table["trial"], table[x], s=14, c=np.where(feas, "grey", "lightgrey"))
        best = table[front]
        ax.scatter(best["trial"], best[x], s=60, color="tab:red", label="best")
        ax.set_xlabel("candidate")
        ax.set_ylabel(axis_label(x))
    ax.legend(fontsize=8)
    ax.set_title(opt.name, fontsize=9, loc="left")
    fig.tight_layout()
    save(fig, path)
    return fig


def choose_best(opt: Optimisation, runs: pd.DataFrame) -> tuple[str, bool, list[str]]:
    """The re-evaluated front policy best on ``choose`` among those that meet the constraints
    again (among all, if none does); whether it meets them; and a note for each policy whose
    re-evaluation lacks an objective or constraint in some replication, which is not chosen (a
    mean skipping the gap was over other states of the world than the rest's)."""
    return choose_among(runs, dict(opt.config.objectives), dict(opt.config.constraints),
                        opt.config.choose or list(opt.config.objectives)[0])


def choose_among(runs: pd.DataFrame, objectives: Mapping[str, str],
                 constraints: Mapping[str, Bound], target: str) -> tuple[str, bool, list[str]]:
    """:func:`choose_best` from the front's runs and what optimise.json records, so a report
    can tell the best policy it names is the one these runs choose."""
    outcomes = list(dict.fromkeys([*objectives, *constraints]))
    means, notes = {}, []
    for variant, arm in runs[runs["variant"] != BASELINE].groupby("variant"):
        reason = _unscored(arm, outcomes)
        if reason:
            notes.append(f"{variant} on re-evaluation: {reason}")
        else:
            means[variant] = arm[outcomes].astype(float).mean()
    if not means:
        raise SrmsimError(f"no front policy could be scored on re-evaluation ({notes[0]}); "
                          "choose outcomes every run measures")
    table = pd.DataFrame(means).T
    ok = pd.Series(True, index=table.index)
    for outcome, bound in constraints.items():
        ok &= table[outcome].map(bound.violation) <= 0
    pool = table[ok] if ok.any() else table
    best = (pool[target].idxmax() if objectives[target] == "maximise"
            else pool[target].idxmin())
    return str(best), bool(ok.any()), notes


def _spread(front: pd.DataFrame, opt: Optimisation, k: int) -> pd.DataFrame:
    """At most k front policies, spread along the first objective."""
    if len(front) <= k:
        return front
    f = front.sort_values(list(opt.config.objectives)[0]).reset_index(drop=True)
    return f.iloc[np.unique(np.linspace(0, len(f) - 1, k).round().astype(int))]


def regret(opt: Optimisation, runs: pd.DataFrame) -> pd.DataFrame:
    """Each policy's regret in each state of the world (replication): how far it falls short of
    the best re-evaluated policy in that state, per objective; mean, 90th percentile and max.

    Only the states where every policy's objective was measured count (``states``): where one
    policy's value is missing, which policy is best there is unknown, and skipping just that
    policy's gap would average each policy over different states."""
    rows = []
    policies = runs[runs["variant"] != BASELINE]
    for outcome, direction in opt.config.objectives.items():
        wide = policies.pivot(index="replication", columns="variant", values=outcome).astype(float)
        wide = wide[np.isfinite(wide).all(axis=1)]
        best = wide.max(axis=1) if direction == "maximise" else wide.min(axis=1)
        gap = (best.to_numpy()[:, None] - wide) if direction == "maximise" else (
            wide - best.to_numpy()[:, None])
        for variant in wide.columns:
            r = gap[variant]
            rows.append({"policy": variant, "objective": outcome, "states": len(r),
                         "mean_regret": r.mean(), "p90_regret": r.quantile(0.9),
                         "max_regret": r.max()})
    return pd.DataFrame(rows)


def _described(opt: Optimisation, best: str, overrides: dict[str, Any], feasible: bool
               ) -> dict[str, Any]:
    """What the search was and what it chose, for the folder's report (``optimise.json``)."""
    c = opt.config
    return {"description": c.description, "objectives": dict(c.objectives),
            "constraints": {k: b.model_dump(exclude_none=True) for k, b in c.constraints.items()},
            "choose": c.choose or list(c.objectives)[0],
            "levers": list(opt.overrides(opt._example_params())),
            "replications": c.replications, "reevaluate_replications": c.reevaluate.replications,
            "sampler": opt.sampler_name, "uncertain": {k: list(v) for k, v in c.uncertain.items()},
            "best": best, "best_overrides": overrides, "feasible_on_reevaluation": feasible}


@executors.connects_scheduler
def optimise(opt: Optimisation | str | Path, out: str | os.PathLike, workers: int = 1,
             scheduler: Any = None, resume: bool = False, progress: bool = True
             ) -> dict[str, Any]:
    """Search, then re-evaluate the front on fresh replications and write everything to ``out``:
    trials.csv, pareto.csv/.png, front_effects.csv, best_policy.yaml (and regret.csv)."""
    # workers=10000 forked 10,000 processes; a pool starts them all at once
    workers = whole_number(workers, "workers", 1, max_workers(), " (4 a core on this machine)")
    if not isinstance(opt, Optimisation):
        opt = load_optimisation(opt)
    out = Path(out)
    size = _size(opt, workers, scheduler)  # once: the search inside is not sized again
    workers = size.workers
    # one pool for the search and the front; one writer of the folder at a time
    with (folder_lock(out),
          executors.local_processes(workers if scheduler is None else 1, executors.RUN_MODULES),
          executors.runs_need(size.need, size.what)):
        res = _optimise(opt, out, workers, scheduler, resume, progress)
    res["notes"] = [*opt.notes, *([size.note] if size.note else [])]
    return res


def _optimise(opt: Optimisation, out: Path, workers: int, scheduler: Any, resume: bool,
              progress: bool) -> dict[str, Any]:
    from srmsim.experiment.compare import compare_frame
    from srmsim.experiment.runner import run_experiment

    study = _search(opt, out, workers, scheduler, resume, progress, None)
    table = trials_table(opt, study)
    front = table[table["pareto"]]
    if front.empty:
        raise SrmsimError("no candidate meets the constraints: loosen them or widen the levers")

    chosen = _spread(front, opt, opt.config.reevaluate.front_max)
    variants = {_variant(int(r["trial"])): opt.overrides(study.trials[int(r["trial"])].params)
                for _, r in chosen.iterrows()}
    re = opt.config.reevaluate
    seed = opt.front_seed
    # the front as an ordinary experiment file, runnable by `srmsim experiment` as it is
    write_text(opt.base.to_yaml(), out / "base_scenario.yaml")
    exp = opt.experiment(variants, re.replications, seed, scenario="base_scenario.yaml")
    spec = {"name": f"{opt.name}_front", "scenario": "base_scenario.yaml",
            "baseline": BASELINE, "replications": re.replications, "seed": seed,
            "outcomes": opt.outcomes, "variants": exp.config.variants}
    if opt.config.uncertain:
        spec["uncertain"] = {k: list(v) for k, v in opt.config.uncertain.items()}
    write_text(dump_yaml(spec), out / "front_experiment.yaml")
    exp.source = str(out / "front_experiment.yaml")
    front_dir = out / "front"
    run_experiment(exp, front_dir, workers=workers, scheduler=scheduler, resume=True,
                   progress=progress)
    runs = ResultsStore(front_dir).load()
    effects = compare_frame(runs, BASELINE, opt.outcomes)
    if opt.from_records:  # front_effects.csv and its printed table: no count under 10
        from srmsim.experiment.withhold import GROUP_SHARES, withhold_effects

        effects = withhold_effects(
            effects, runs, known_zero=frozenset(v for v, s in exp.variants.items()
                                                if s.policy is None),
            definitions=exp.outcome_definitions,
            detail=ResultsStore(front_dir).load_detail("groups", runs)
            if set(GROUP_SHARES) & set(opt.outcomes) else None)

    best, feasible, unscored = choose_best(opt, runs)
    target = opt.config.choose or list(opt.config.objectives)[0]
    best_overrides = variants[best]
    scenario = opt.scenario(best_overrides).model_copy(update={
        "name": f"{opt.name}_best", "description": f"{best} of {opt.name}: best {target} "
        f"among the re-evaluated Pareto front" + ("" if feasible else
                                                  " (none met every constraint again)")})
    header = "".join(f"# {k}: {v}\n" for k, v in best_overrides.items())
    shown = table
    if opt.from_records:  # trials.csv, pareto.csv/.png and the printed front: as effects
        shown = shown_candidates(opt, table, ResultsStore(out / "search"),
                                 exp.outcome_definitions)
    summary = {"trials": len(table), "front": shown[shown["pareto"]], "effects": effects,
               "best": best,
               "best_overrides": best_overrides, "feasible_on_reevaluation": feasible,
               "study": study, "unscored": unscored_notes(study) + unscored}
    if opt.config.uncertain:
        summary["regret"] = regret(opt, runs)
        if opt.from_records:
            from srmsim.experiment.withhold import GROUP_SHARES, withhold_regret

            summary["regret"] = withhold_regret(
                summary["regret"], runs, definitions=exp.outcome_definitions,
                detail=ResultsStore(front_dir).load_detail("groups", runs)
                if set(GROUP_SHARES) & set(opt.config.objectives) else None)
    # the results, swapped in as a set once all are written (none of a failed session's)
    with replace_files(out, RESULT_FILES) as stage:
        write_text(csv_text(shown, float_format="%.8g"), stage / "trials.csv")
        write_text(csv_text(summary["front"], float_format="%.8g"), stage / "pareto.csv")
        pareto_plot(opt, shown, stage / "pareto.png")
        write_text(csv_text(effects, float_format="%.8g"), stage / "front_effects.csv")
        write_text(f"# Found by `srmsim optimise {opt.source}` ({best}). Levers:\n{header}"
                   + scenario.to_yaml(), stage / "best_policy.yaml")
        if "regret" in summary:
            write_text(csv_text(summary["regret"], float_format="%.8g"),
                       stage / "regret.csv")
    done = read_json(out / "optimise.json")
    done["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    done.update(_described(opt, best, best_overrides, feasible))
    write_text(json_dumps(done, indent=2) + "\n", out / "optimise.json")
    if opt.from_records:  # the files written since the search began (study.db, ...) too
        restrict_tree(out)
    return summary
