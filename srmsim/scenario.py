"""Scenario files: YAML in, a validated :class:`Scenario` out.

Every key has a default, so a scenario states only what differs from the built-in English
secondary trust. Validation is strict (unknown keys are errors, since a misspelt key silently
ignored would run the wrong experiment) and every problem is reported with the file and the key
path, e.g. ``scenarios/x.yaml: population.fsm_rate: must be <= 1 (got 1.4)``.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from srmsim.admin.config import Name as StreamName
from srmsim.admin.config import RequestStream
from srmsim.argtypes import MAX_SEED
from srmsim.errors import ScenarioError
from srmsim.labels import (
    Label,
    OneLine,
    Prose,
    StrictModel,
    check_distinct,
    excerpt,
    file_name_problem,
    printable,
)
from srmsim.policy.config import PolicyConfig

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0, le=1e6)]
#: an unbounded-looking shift (logit, SD or months): bounded so a typo (1e300) is reported
Shift = Annotated[float, Field(ge=-1000.0, le=1000.0)]


#: Longest simulation a scenario may ask for, in school years.
MAX_YEARS = 50

class _Strict(StrictModel):
    # strict: `n_schools: true` or `fsm_rate: "0.3"` are mistakes to report, not to coerce;
    # StrictModel: unknown keys are errors and every float must be finite
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True,
                              allow_inf_nan=False)


class TrustConfig(_Strict):
    """The schools of the trust and their size."""

    name: OneLine = Field("Synthetic trust", max_length=200)
    n_schools: int = Field(10, ge=0, le=100_000)
    students_per_year_group: int = Field(180, ge=1, le=5_000, description="mean cohort size")
    # not Shift: its annotated -1000..1000 overrode this Field's bounds (-0.5 and 999 passed)
    size_cv: Annotated[float, Field(ge=0.0, le=2.0)] = Field(
        0.3, description="coefficient of variation of sizes")
    year_groups: list[int] = Field(default_factory=lambda: [7, 8, 9, 10, 11])

    @field_validator("year_groups")
    @classmethod
    def _years(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("needs at least one year group")
        if any(y < 1 or y > 14 for y in v):
            raise ValueError("year groups must be between 1 and 14")
        if sorted(set(v)) != v or v != list(range(v[0], v[-1] + 1)):
            raise ValueError("year groups must be consecutive and ascending, e.g. [7, 8, 9, 10, 11]")
        return v


class PopulationConfig(_Strict):
    """Who the students are. Defaults follow England's secondary schools (docs/model.md).

    ``records``: an imported dataset (``srmsim data import``) or a students table in the record
    schema. Then the schools, their sizes and each student's sex, FSM, SEN, EAL and prior
    attainment are resampled from it within schools, and ``trust.n_schools`` and
    ``trust.students_per_year_group`` are taken from the data.
    """

    records: str | None = None
    fsm_rate: Fraction = 0.24

    @field_validator("records")
    @classmethod
    def _records_name(cls, v: str | None) -> str | None:
        problem = None if v is None else file_name_problem(v)
        if problem:
            raise ValueError(problem)
        return v
    fsm_school_sd: NonNeg = Field(0.6, description="between-school SD of FSM rate, logit scale")
    sen_rate: Fraction = 0.14
    eal_rate: Fraction = 0.17
    male_share: Fraction = 0.51
    attainment_icc: Fraction = Field(0.18, description="school share of attainment variance")
    fsm_attainment_gap: Shift = -0.45
    sen_attainment_gap: Shift = -0.7
    eal_attainment_gap: Shift = -0.05
    fsm_engagement_gap: Shift = -0.45
    sen_engagement_gap: Shift = -0.3
    engagement_school_sd: NonNeg = 0.15
    # above -0.5: three latents pairwise correlated at r have a correlation matrix only for
    # r > -1/2 (from -0.5 on, the draw's Cholesky factor raised LinAlgError, a traceback)
    latent_correlation: Annotated[float, Field(gt=-0.5, le=0.95)] = Field(
        0.4, description="correlation of engagement, attainment and wellbeing within a student"
    )
    reading_gap_mean: Shift = Field(-3.0, description="mean reading age minus age, months")
    reading_gap_per_sd: NonNeg = Field(14.0, description="months of reading gap per SD attainment")
    reading_gap_sd: NonNeg = Field(13.0, description="residual SD of the reading gap, months")


class DynamicsConfig(_Strict):
    """How the weekly profile evolves. Calibrated to England (docs/model.md; tests check the moments)."""

    absence_logit: Shift = Field(-4.1, description="weekly absence logit of an average student")
    absence_engagement: NonNeg = Field(1.7, description="logit change per SD of engagement")
    absence_wellbeing: NonNeg = Field(0.25, description="logit change per SD of wellbeing")
    absence_school_sd: NonNeg = Field(0.15, description="between-school SD of absence, logit")
    absence_week_sd: NonNeg = Field(0.4, description="week-to-week noise of absence, logit")
    seasonality: NonNeg = Field(1.0, description="scale of the autumn/winter absence peak")
    engagement_persistence: Fraction = Field(0.97, description="weekly AR(1) coefficient")
    engagement_shock_sd: NonNeg = Field(0.45, description="SD of the transient engagement part")
    wellbeing_persistence: Fraction = 0.95
    wellbeing_shock_sd: NonNeg = 0.5
    attainment_attendance: NonNeg = Field(
        0.035, description="SD of attainment gained per week per unit attendance above 0.93"
    )
    attainment_engagement: NonNeg = Field(
        0.004, description="weekly attainment drift per SD of engagement above the usual level")
    attainment_reversion: Fraction = Field(
        0.01, description="weekly fade of attainment gains and losses toward the entry level")
    attainment_noise_sd: NonNeg = 0.01
    reading_growth_per_sd: NonNeg = Field(0.12, description="extra reading months/month per SD")
    reading_test_sd: NonNeg = Field(6.0, description="measurement error of a reading test, months")
    assessment_sd: NonNeg = Field(0.35, description="measurement error of an assessment, SD")
    exam_sd: NonNeg = Field(0.3, description="measurement error of the final exam, SD")
    incident_rate: NonNeg = Field(0.05, description="behaviour incidents per week, average")
    incident_engagement: NonNeg = 0.8
    male_incident_ratio: Annotated[float, Field(gt=0.0, le=100.0)] = Field(
        1.8, description="incident rate of boys over girls (0 would make log-rates undefined)")
    login_logit: Shift = Field(0.2, description="daily LMS login logit of an average student")
    login_engagement: NonNeg = 1.0
    assignments_per_week: int = Field(3, ge=0, le=20)
    on_time_logit: Shift = 1.6
    on_time_engagement: NonNeg = 1.0
    withdrawal_years: list[int] = Field(
        default_factory=lambda: [12, 13], description="year groups with a withdrawal hazard"
    )

    @field_validator("withdrawal_years")
    @classmethod
    def _withdrawal_years(cls, v: list[int]) -> list[int]:
        # as trust.year_groups and a rule's years: -5 and 2**70 were kept as given
        if any(y < 1 or y > 14 for y in v):
            raise ValueError("year groups must be between 1 and 14")
        if len(set(v)) < len(v):
            raise ValueError("a year group is given more than once")
        return v
    withdrawal_annual: Fraction = Field(
        0.08, description="share of students in withdrawal years who withdraw within a year")
    withdrawal_engagement: NonNeg = 0.9


class OutputConfig(_Strict):
    """What a run records.

    ``history``: per-student weekly history kept for ``model.student(uid)``: ``all``, ``none``,
    about a number of students sampled at random (each with chance that number over the
    students, stable by uid), or ``auto`` (all up to 20,000
    students, else a sample of 1,000), so memory stays bounded at scale.
    """

    history: Literal["auto", "all", "none"] | Annotated[int, Field(ge=0)] = "auto"


class Scenario(_Strict):
    """A complete, validated scenario."""

    name: Label = "default"
    description: Prose = Field("", max_length=10_000)
    seed: int = Field(20240901, ge=0, le=MAX_SEED)
    years: int = Field(1, ge=1, le=MAX_YEARS)
    trust: TrustConfig = Field(default_factory=TrustConfig)
    population: PopulationConfig = Field(default_factory=PopulationConfig)
    dynamics: DynamicsConfig = Field(default_factory=DynamicsConfig)
    outputs: OutputConfig = Field(default_factory=OutputConfig)
    policy: PolicyConfig | None = None
    requests: dict[StreamName, RequestStream] = Field(
        default_factory=dict, description="administrative request streams (srmsim.admin)")

    @model_validator(mode="after")
    def _streams_fit(self) -> Scenario:
        check_distinct(self.requests, "request stream")  # labels of requests_weekly.parquet
        if self.trust.n_schools == 0 and not self.requests:
            raise ValueError("trust.n_schools is 0: a trust with no schools needs request streams "
                             "(requests:)")
        pool = self.policy.staff.pool if self.policy is not None else {}
        for name, stream in self.requests.items():
            for role, group in stream.staff.items():
                if group.from_pool and pool.get(role, 0.0) <= 0:
                    raise ValueError(f"requests.{name}.staff.{role}: from_pool needs minutes of "
                                     f"{role!r} in policy.staff.pool")
        return self

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump()  # python mode: keeps int keys (staff.per_school) as ints
        if self.policy is None:
            data.pop("policy")
        if not self.requests:
            data.pop("requests")  # so scenarios without streams keep their digests
        return data

    def to_yaml(self) -> str:
        from srmsim.yamlio import dump_yaml

        return dump_yaml(self.to_dict())

    def digest(self) -> str:
        """Hash of the fully resolved scenario: two runs with equal digests are the same run."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def with_overrides(self, overrides: dict[str, Any], source: str = "overrides",
                       base_dir: str | Path | None = None) -> Scenario:
        """This scenario with dotted-key ``overrides``; ``base_dir``: the folder of the file
        that holds them, which a relative input file they name is read from (as a scenario's
        own are from the scenario's folder), never the current folder."""
        changes = expand_overrides(overrides, source, base_dir)
        base = self.to_dict()
        try:
            scenario = scenario_from_dict(deep_merge(base, changes), source)
        except ScenarioError as err:
            raise ScenarioError(err.source, _name_new_entries(err.problems, base)) from None
        _check_parameters_read(changes, self, scenario, source)
        _check_new_actions_used(changes, self, scenario, source)
        return scenario


def _check_parameters_read(changes: dict[str, Any], base: Scenario, scenario: Scenario,
                           source: str) -> None:
    """A policy parameter the overrides (``--set``, a variant, a lever) add to the base's must
    be read by some rule, goal or priority of the resulting policy: a misspelt one
    (``policy.parameters.attendance_treshold``) changed nothing, silently. The base's own
    parameters may be set whatever reads them (the dashboard sends them all back; validate
    notes a file's unread ones)."""
    policy = changes.get("policy")
    given = policy.get("parameters") if isinstance(policy, dict) else None
    if not isinstance(given, dict) or not given or scenario.policy is None or base.policy is None:
        return  # (an uncertain parameter drawn for a variant without a policy: it has none)
    added = [name for name in given if name not in base.policy.parameters]
    if not added:
        return
    from srmsim.policy.compiled import compile_policy

    read = compile_policy(scenario.policy, source).parameters_read()
    unread = [name for name in added if name not in read]
    if unread:
        raise ScenarioError(source, [(f"policy.parameters.{name}",
                                      "no rule, goal or priority of the policy reads this "
                                      "parameter, so setting it changes nothing (a misspelt "
                                      "name?)") for name in unread])


#: what one entry of a mapping of named entries is called, by the mapping's key path
ENTRY_NOUNS = {"policy.workflows": "workflow", "policy.rules": "rule",
               "policy.actions": "action", "requests": "request stream"}


def _absent_prefix(path: str, base: dict[str, Any]) -> tuple[str, str, Any] | None:
    """The first part of the key path ``path`` (``policy.workflows.nosuch.trigger``) that the
    scenario ``base`` lacks (``policy.workflows.nosuch``), with the key path above it and the
    value there (the mapping that lacks it, or None), or None when ``base`` has it all."""
    node: Any = base
    parts = path.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict):
            return None
        key = _key_in(node, part)
        if key not in node or node[key] is None:
            return ".".join(parts[:i + 1]), ".".join(parts[:i]), node if key not in node else None
        node = node[key]
    return None


def _name_new_entries(problems: list[tuple[str, str]], base: dict[str, Any]
                      ) -> list[tuple[str, str]]:
    """Problems of overrides that set part of an entry the scenario lacks, named as that.

    ``policy.workflows.nosuch.cooldown_weeks`` (a lever, a variant, an uncertain parameter,
    ``--set``) makes a new workflow holding only a cooldown, and was refused as
    "policy.workflows.nosuch.trigger: Field required": the missing fields of an entry nobody
    meant to add. The entry is named instead, with the ones the scenario has."""
    missing: dict[str, list[str]] = {}
    where: dict[str, tuple[str, Any]] = {}
    others = []
    for path, message in problems:
        found = _absent_prefix(path, base) if message == "Field required" else None
        # (a section the scenario leaves out, `policy` of one without a policy, is found in
        # the top level, "", and named as a null one: it was "trigger: Field required")
        if found is None or found[0] == path or "[" in found[0] or (
                isinstance(found[2], dict) and found[1] not in ENTRY_NOUNS and found[1] != ""):
            others.append((path, message))  # (a list's item, a section's own key: as it is)
            continue
        entry, parent, value = found
        missing.setdefault(entry, []).append(path[len(entry) + 1:])
        where[entry] = (parent, value)
    out = []
    for entry, fields in missing.items():
        parent, value = where[entry]
        name = entry.rpartition(".")[2]
        noun = ENTRY_NOUNS.get(parent)
        need = f"a new one needs {' and '.join(fields)} as well"
        if isinstance(value, dict) and noun is not None:  # (else: a section that is null)
            has = sorted(value, key=str)
            listed = (", ".join(printable(str(k)[:40]) for k in has[:12])
                      + (f" and {len(has) - 12} more" if len(has) > 12 else "")) if has else ""
            out.append((entry, f"the scenario has no {noun} {excerpt(name)} "
                        f"({f'its {noun}s: {listed}' if listed else f'it has no {noun}s'}; "
                        f"a misspelt name?): {need}"))
        else:  # `policy: null` (a variant without a policy), or no such mapping at all
            out.append((entry, f"the scenario has no {entry} ({entry}: null or not given), so "
                        f"this would make one with only what it sets: {need}"))
    return others + out


def _check_new_actions_used(changes: dict[str, Any], base: Scenario, scenario: Scenario,
                            source: str) -> None:
    """An action the overrides add (in neither the scenario nor the catalogue) must be used
    by a workflow step: ``policy.actions.parent_txt.take_up`` (a misspelt lever or uncertain
    parameter) made a new action nobody runs, and every run was the same, silently."""
    policy = changes.get("policy")
    given = policy.get("actions") if isinstance(policy, dict) else None
    if not isinstance(given, dict) or not given or scenario.policy is None or base.policy is None:
        # (an uncertain action's draw for a variant without a policy: it has no workflows, and
        # the variants with one are checked)
        return
    from srmsim.policy.actions import CATALOGUE

    known = set(CATALOGUE) | set(base.policy.actions)
    used = scenario.policy.actions_used()
    unused = [name for name in given if name not in known and name not in used]
    if unused:
        actions = sorted(used)
        raise ScenarioError(source, [(f"policy.actions.{name}", (
            f"no action {excerpt(str(name))} in the scenario or the catalogue, and no workflow "
            f"step uses it, so this changes nothing (the steps use: {', '.join(actions) or 'none'}"
            "; a misspelt name?)"))
            for name in unused])


def expand_overrides(overrides: dict[str, Any], source: str = "overrides",
                     base_dir: str | Path | None = None) -> dict[str, Any]:
    """Dotted-key ``overrides`` expanded (:func:`expand_dotted`), with the relative input files
    they name (``population.records``, a request stream's ``arrivals.file``) read from
    ``base_dir``, the folder of the file that holds them (None: left as given). The one way a
    trial's or optimisation's overrides, an experiment's variants and an optimisation's
    baseline are read."""
    changes = expand_dotted(overrides, source)
    return changes if base_dir is None else _resolve_records(changes, Path(base_dir))


#: nesting of overrides once their dotted keys are expanded (as yamlio's MAX_DEPTH for files):
#: a key of 5,000 dotted parts was a RecursionError traceback
MAX_OVERRIDE_DEPTH = 64


#: what is wrong with a dotted key that has an empty name in it (``../x``, ``a..b``, ``x.``)
DOTTED_KEY_PROBLEM = ("is not a key path: names joined by single dots, none empty (such as "
                      "policy.parameters.attendance_threshold)")


def dotted_key_problem(key: str) -> str | None:
    """Why ``key`` cannot be a dotted key path (an empty name in it), or None."""
    return DOTTED_KEY_PROBLEM if "" in str(key).split(".") else None


def result_neutral(key: str) -> str | None:
    """What the scenario key ``key`` (dotted) is, in words, if no simulation reads it for a
    result: a label (the scenario's name, a description, an action's cited source) or what a
    run records for inspection (``outputs``, which no outcome reads); else None. Why: a lever
    or an experiment's variant over such a key compared a policy with itself, and the search or
    the effects table said nothing of it."""
    parts = str(key).split(".")
    if parts == ["name"]:
        return "the scenario's name, a label"
    if parts == ["description"] or (len(parts) == 3 and parts[0] == "requests"
                                     and parts[2] == "description"):
        return "a description"
    if len(parts) == 4 and parts[:2] == ["policy", "actions"] and parts[3] in ("description",
                                                                               "source"):
        return f"an action's {parts[3]}, a text"
    if parts[0] == "outputs":
        return "what a run records for inspection (outputs), which no outcome reads"
    return None


def result_settings(scenario: Scenario) -> dict[str, Any]:
    """``scenario`` as plain data without the keys :func:`result_neutral` names: two scenarios
    with equal result settings give the same results from the same seed."""
    def kept(tree: dict[Any, Any], prefix: str) -> dict[Any, Any]:
        return {k: kept(v, f"{prefix}{k}.") if isinstance(v, dict) else v
                for k, v in tree.items() if result_neutral(f"{prefix}{k}") is None}

    return kept(scenario.to_dict(), "")


def expand_dotted(overrides: dict[str, Any], source: str = "overrides",
                  _depth: int = 0) -> dict[str, Any]:
    """``{"policy.parameters.x": 1}`` -> ``{"policy": {"parameters": {"x": 1}}}``; a problem
    is a ScenarioError naming ``source``."""
    if not isinstance(overrides, dict):
        raise ScenarioError(source, f"expected a mapping of keys to values, got "
                            f"{type(overrides).__name__} {excerpt(overrides)}")
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        parts = str(key).split(".")
        problem = dotted_key_problem(str(key))  # ('../x': the check named an empty key)
        if problem:
            raise ScenarioError(source, [(excerpt(str(key)), problem)])
        if _depth + len(parts) > MAX_OVERRIDE_DEPTH:
            raise ScenarioError(source, [(excerpt(str(key)), "nested deeper than "
                                          f"{MAX_OVERRIDE_DEPTH} levels")])
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ScenarioError(source, [(key, "conflicts with another override")])
        last = parts[-1]
        below = _depth + len(parts)
        if isinstance(value, dict) and isinstance(node.get(last), dict):
            _merge_disjoint(node[last], expand_dotted(value, source, below), source, str(key))
        elif last in node:  # `trust.n_schools: 3` beside `trust: {n_schools: 4}`: which one?
            raise ScenarioError(source, [(key, "is given twice (dotted and nested)")])
        else:
            node[last] = (expand_dotted(value, source, below) if isinstance(value, dict)
                          else plain_value(value))
    return out


def _merge_disjoint(into: dict[str, Any], extra: dict[str, Any], source: str, key: str) -> None:
    """``extra``'s keys added to ``into`` in place; a setting both give is refused, not
    silently won by the later one."""
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge_disjoint(into[k], v, source, f"{key}.{k}")
        elif k in into:
            raise ScenarioError(source, [(f"{key}.{k}", "is given twice (dotted and nested)")])
        else:
            into[k] = v


def plain_value(value: Any, _depth: int = 0) -> Any:
    """numpy scalars and arrays (also inside mappings and lists) as the Python numbers and lists
    they hold: a value swept over ``np.arange(2, 10)`` is the whole number it looks like (strict
    validation refused ``np.int64(2)`` as not an integer). A numpy bool stays a bool, so it is
    still no number. Past 64 levels the value is left as it is, for validation to judge."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if _depth > MAX_OVERRIDE_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: plain_value(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v, _depth + 1) for v in value]
    return value


def _key_in(base: dict[Any, Any], key: Any) -> Any:
    """The key of ``base`` that ``key`` names: itself, or the whole number its text spells (and
    back). ``--set policy.staff.per_school.1.teacher=300`` gives the text "1" where the file's
    key is the number 1: beside it, the override replaced school 1's whole entry (its other
    roles back to the defaults) instead of merging into it."""
    if key in base or isinstance(key, bool):
        return key
    if isinstance(key, str) and key.isascii() and key.isdigit() and str(int(key)) == key:
        other: Any = int(key)
    elif isinstance(key, int):
        other = str(key)
    else:
        return key
    return other if other in base and not isinstance(other, bool) else key


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; ``None`` removes a key (e.g. ``policy: null``)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        key = _key_in(out, key)
        if value is None:
            out[key] = None
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ("function-after", "function-before", "function-wrap", "int", "str",
                      "literal['auto','all','none']", "constrained-int", "dict[str,any]"):
            continue
        else:
            text = str(item)
            if not text or text != text.strip():  # `"": 1` was "trust.: unknown key"
                text = repr(text)
            parts.append(("." if parts else "") + text)
    return "".join(parts)


#: how pydantic names a union's branch in an error's location (besides a model's class name)
_BRANCH_NAMES = frozenset({"str", "int", "float", "bool", "bytes", "none", "list", "dict", "date",
                           "datetime", "decimal", "any", "is-instance", "json-or-python"})
_BRANCH_PREFIXES = ("constrained-", "function-", "literal[", "list[", "dict[", "nullable[",
                    "tagged-union[", "union[", "tuple[", "set[", "lax-or-strict[")
#: error types that say only "the input is not of this branch's type"
_MISMATCH_TYPES = frozenset({"literal_error", "enum", "is_instance_of", "none_required",
                             "model_attributes_type", "dataclass_type"})


def _model_names() -> set[str]:
    """Class names of every pydantic model loaded: a union of models names its branches so."""
    names, todo = set(), [BaseModel]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__name__ not in names:
                names.add(sub.__name__)
                todo.append(sub)
    return names


def _union_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The errors that concern the input, of every union it failed: pydantic reports each
    branch's, so an outcome given as a mapping was also told "Input should be a valid string".
    A branch whose only error is that the input is not of its type is left out when another
    branch took the input's type (its errors are the real problems); when none did, the branches'
    expectations are joined into one message ("a valid string or a valid dictionary")."""
    models = _model_names()

    def branch(item: Any) -> bool:
        return isinstance(item, str) and (item in _BRANCH_NAMES or item in models
                                          or item.startswith(_BRANCH_PREFIXES))

    def mismatch(e: dict[str, Any], depth: int) -> bool:
        return len(e["loc"]) == depth and (e["type"].endswith(("_type", "_parsing"))
                                           or e["type"] in _MISMATCH_TYPES)

    while True:  # each pass removes a union's branch names from the locations: it ends
        sites: dict[tuple[Any, ...], dict[str, list[dict[str, Any]]]] = {}
        for e in errors:
            at = next((k for k, item in enumerate(e["loc"]) if branch(item)), None)
            if at is not None:
                sites.setdefault(e["loc"][:at], {}).setdefault(e["loc"][at], []).append(e)
        site = next((s for s, branches in sites.items() if len(branches) > 1), None)
        if site is None:
            return errors
        n, branches = len(site), sites[site]
        taken = [b for b in branches.values() if not all(mismatch(e, n + 1) for e in b)]
        if taken:
            kept = [{**e, "loc": e["loc"][:n] + e["loc"][n + 1:]} for b in taken for e in b]
        else:
            first, *rest = [e for b in branches.values() for e in b]
            msg = " or ".join([first["msg"], *(e["msg"].removeprefix("Input should be ")
                                                for e in rest)])
            kept = [{**first, "loc": site, "msg": msg}]
        of_site = {id(e) for b in branches.values() for e in b}
        out: list[dict[str, Any]] = []
        for e in errors:  # the union's errors where its first one was
            if id(e) not in of_site:
                out.append(e)
            elif kept:
                out, kept = out + kept, []
        errors = out


def _members(tp: Any) -> list[Any]:
    """The types a field's annotation allows (``X | None`` is X and None)."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(tp) for m in _members(a)]
    return [tp]


def _models_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[type[BaseModel]]:
    """The models of the mapping at ``loc`` (a pydantic error's location, union branch names
    included) below ``model``, or ``[]`` where the walk loses its way."""

    def step(tp: Any, item: Any) -> Any:
        for m in _members(tp):
            origin = typing.get_origin(m)
            if isinstance(m, type) and issubclass(m, BaseModel):
                if item == m.__name__:
                    return m
                for name, f in m.model_fields.items():
                    if item in (name, f.alias):
                        return f.annotation
            elif origin is dict and isinstance(item, str):
                return typing.get_args(m)[1]
            elif origin in (list, tuple) and isinstance(item, int):
                return typing.get_args(m)[0]
        return tp if isinstance(item, str) and (item in _BRANCH_NAMES or "[" in item
                                                or "-" in item) else None

    tp: Any = model
    for item in loc:
        tp = step(tp, item)
        if tp is None:
            return []
    return [m for m in _members(tp) if isinstance(m, type) and issubclass(m, BaseModel)]


def _unknown_key(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """The message for a key the model does not have at ``loc``: the closest key allowed there
    (``n_school`` -> ``n_schools``), or the mapping one level down that has it (``n_schools``
    not indented under ``trust:``), else a plea to check the spelling."""
    key, parent = (loc[-1], loc[:-1]) if loc else ("", ())
    if model is not None and isinstance(key, str) and "." in key.strip("."):
        # `trust.n_schools: 4` in a file: "trust.n_schools: unknown key" named a key that is
        # one, written as --set and an experiment's variants write it
        *outer, last = key.split(".")
        if any(last in (n, f.alias) for m in _models_at(model, (*parent, *outer))
               for n, f in m.model_fields.items()):
            names = [f"{n}:" for n in (*outer, last)]
            how = (f"{names[0]} then {names[1]} indented under it" if len(names) == 2 else
                   f"{names[0]} then {', '.join(names[1:])} each indented under the one before")
            return ("dotted keys are for --set and an experiment's variants: elsewhere in a "
                    f"file, nest the names ({how})")
    models = _models_at(model, parent) if model is not None and isinstance(key, str) else []
    fields = {(f.alias or name): name for m in models for name, f in m.model_fields.items()}
    close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.75)
    if close:
        return (f"unknown key: did you mean {close[0]!r}? (every key is in the documentation's "
                "file-format reference)")
    if model is not None:
        owners = [k for k in fields
                  if any(key in (n, f.alias) for m in _models_at(model, (*parent, fields[k]))
                         for n, f in m.model_fields.items())]
        if owners:
            where = _format_loc((*parent, owners[0], key))
            return (f"unknown key here: it belongs under {owners[0]!r} ({where}; in a file, "
                    f"indented under '{owners[0]}:')")
    return ("unknown key (check the spelling; every key is in the documentation's "
            "file-format reference)")


_MODEL_TYPE = re.compile(r"a valid dictionary or instance of [A-Za-z_]\w*")


#: a non-finite number where a number is expected (YAML reads 1e400 as infinity)
NOT_FINITE_INF = ("is not a finite number but {}infinity (YAML reads .inf, and numbers beyond "
                  "1.8e308 such as 1e400, as infinity)")
NOT_FINITE_NAN = "is not a finite number but NaN, not a number (YAML reads .nan so)"


def _problems(err: ValidationError, prefix: str = "",
              model: type[BaseModel] | None = None) -> list[tuple[str, str]]:
    """``(key path, message)`` for each of pydantic's errors, in plain words; ``model``, the
    model validated, lets a misspelt key be answered with the key meant."""
    problems: dict[str, str] = {}
    for e in _union_errors([dict(e) for e in err.errors(include_url=False)]):
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and "[" in x and "]" in x))
        path = _format_loc(loc)
        path = f"{prefix}.{path}" if prefix and path else (prefix or path)
        msg = e["msg"].removeprefix("Value error, ")
        # "a valid dictionary or instance of TrustConfig": the class's name says nothing to
        # someone writing a file (also inside a union's merged message)
        msg = _MODEL_TYPE.sub("a mapping of keys to values", msg)
        given = e.get("input")
        if e["type"] == "extra_forbidden":  # first: `cost: .nan` is a key that does not exist
            msg = _unknown_key(model, tuple(e["loc"]))
        elif isinstance(given, float) and not math.isfinite(given):
            # 1e400 was "Input should be a finite number (got inf)", or for a whole number
            # "a valid integer (got inf)": neither said where an inf the file never wrote came from
            msg = NOT_FINITE_NAN if given != given else NOT_FINITE_INF.format(
                "-" if given < 0 else "")
        elif e["type"] == "model_type" and e.get("input") is None:
            # `trust:` with its keys not indented under it: "instance of TrustConfig (got None)"
            msg = ("is empty: give its keys indented under it (with spaces), or leave it out")
        elif e["type"] == "list_type" and isinstance(e.get("input"), dict) and e["input"] \
                and all(str(k).isdigit() for k in e["input"]):
            # `--set trust.year_groups.0=9` answered "Input should be a valid list"
            msg = (f"a list is given whole, not item by item ({path}.0=...): give every "
                   f"item, {path}=[...]")
        elif ("input" in e and e["type"] not in ("missing", "value_error")
              and not isinstance(e["input"], dict)):
            msg = f"{msg} (got {excerpt(e['input'])})"
            if e["type"] == "string_type" and isinstance(e["input"], int | float) \
                    and not isinstance(e["input"], bool):
                # YAML read a number: `name: 010` is ten; the text written needs quotes
                msg += "; YAML read a number there: to give text, put it in quotes"
        problems.setdefault(path, msg)
    return list(problems.items())


def scenario_from_dict(data: Any, source: str = "<scenario>") -> Scenario:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(source, "a scenario must be a mapping of keys to values")
    try:
        scenario = Scenario.model_validate(plain_value(data))
    except ValidationError as err:
        raise ScenarioError(source, _problems(err, model=Scenario)) from None
    if scenario.policy is not None:
        from srmsim.policy.compiled import compile_policy

        compile_policy(scenario.policy, source)  # rules, actions and workflows, with key paths
        _check_school_indices(scenario, source)
        _check_rule_years(scenario, source)
    return scenario


def named_schools(scenario: Scenario) -> list[tuple[str, list[int]]]:
    """The school indices the policy names, by key path (rules' ``schools``,
    ``staff.per_school``): each must be a school of the trust."""
    policy = scenario.policy
    if policy is None:  # no policy, no school indices
        return []
    lists = [(f"policy.rules.{k}.schools", r.schools or []) for k, r in policy.rules.items()]
    lists.append(("policy.staff.per_school", list(policy.staff.per_school)))
    return lists


def _check_school_indices(scenario: Scenario, source: str) -> None:
    """School indices in the policy must name schools of the trust (0 .. n_schools - 1)."""
    n = None if scenario.population.records else scenario.trust.n_schools
    problems = []
    for path, schools in named_schools(scenario):
        bad = [s for s in schools if s < 0 or (n is not None and s >= n)]
        if bad:
            problems.append((path, f"school indices {bad[:5]} are not schools of the trust "
                             f"(0 to {n - 1 if n else 'n_schools - 1'})"))
    if problems:
        raise ScenarioError(source, problems)


def _check_rule_years(scenario: Scenario, source: str) -> None:
    """A rule's ``years`` must be year groups of the trust: a rule scoped to none of them
    flagged nobody and its workflows were a silent no-op (as a school index beyond the trust
    is refused)."""
    assert scenario.policy is not None
    groups = scenario.trust.year_groups
    problems = []
    for name, rule in scenario.policy.rules.items():
        bad = [y for y in rule.years or [] if y not in groups]
        if bad:
            problems.append((f"policy.rules.{name}.years",
                             f"year groups {bad[:5]} are not year groups of the trust "
                             f"({groups[0]} to {groups[-1]}, trust.year_groups)"))
    if problems:
        raise ScenarioError(source, problems)


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file with srmsim's bounded loader; every problem is a ScenarioError."""
    from srmsim.yamlio import read_yaml_file

    return read_yaml_file(path)


def _resolve_records(data: Any, base: Path) -> Any:
    """Relative input files (``population.records``, a request stream's ``arrivals.file``) are
    relative to the scenario file."""
    if not isinstance(data, dict):
        return data
    data = copy.deepcopy(data)
    if isinstance(data.get("population"), dict):
        rec = data["population"].get("records")
        if isinstance(rec, str) and not file_name_problem(rec) and not Path(rec).is_absolute():
            data["population"]["records"] = str((base / rec).resolve())
    if isinstance(data.get("requests"), dict):
        for stream in data["requests"].values():
            arrivals = stream.get("arrivals") if isinstance(stream, dict) else None
            if not isinstance(arrivals, dict):
                continue
            name = arrivals.get("file")
            if isinstance(name, str) and not file_name_problem(name) \
                    and not Path(name).is_absolute():
                arrivals["file"] = str((base / name).resolve())
    return data


#: what ``srmsim run`` and ``calibrate`` say to an empty scenario file: they run the default
#: with no file (an experiment's, trial's or optimisation's ``scenario:`` key has no default)
NO_FILE_HINT = "give no file for the built-in default trust"


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None,
                  empty_hint: str = "") -> Scenario:
    """Load and validate a scenario file, applying optional dotted-key overrides.

    A file holding nothing (or only comments, or ``null``) is refused: a truncated file is not
    the built-in default trust, which is had by giving no file (``default_scenario()``), as
    ``empty_hint`` says where the caller allows no file (:data:`NO_FILE_HINT`)."""
    from srmsim.yamlio import refuse_empty

    data = refuse_empty(read_yaml(path), str(path), "scenario", empty_hint)
    from srmsim.inputs import wrong_kind

    # an experiment's `scenario:` naming a study or mapping file listed its keys as unknown
    why = wrong_kind(data, path, "scenario")
    if why is not None:
        raise ScenarioError(str(path), why)
    data = _resolve_records(data, Path(path).parent)
    if overrides:
        if data is not None and not isinstance(data, dict):
            raise ScenarioError(str(path), "a scenario must be a mapping of keys to values")
        data = deep_merge(data or {}, expand_dotted(overrides, str(path)))
    return scenario_from_dict(data, str(path))


def default_scenario() -> Scenario:
    """The built-in default: an English secondary trust of 10 schools, Years 7-11, one year."""
    return Scenario(name="default")
