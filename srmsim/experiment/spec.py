"""Experiment files: a base scenario, named variants, replications, outcomes, uncertainty.

Example (``experiments/quickstart.yaml``)::

    name: quickstart
    scenario: ../scenarios/reading_and_attendance.yaml   # relative to this file
    baseline: no_policy
    replications: 30
    seed: 2024                      # root of np.random.SeedSequence (default: scenario seed)
    outcomes: [attendance, persistent_absence, reading_gap_end, staff_hours]
    variants:
      no_policy: {policy: null}
      reading_support: {policy.workflows.attendance.enabled: false}
      both: {}
    uncertain:                      # Latin hypercube over replications, same in every variant
      policy.actions.reading_club.effect.reading: [3, 9]
    design: {method: sobol, n: 64}  # optional: lhs (default) | sobol | morris (srmsim.explore)
    sequential:                     # optional: add replications until CIs are tight enough
      half_width: {attendance: 0.001}
      max_replications: 200
      batch: 10
      min_replications: 10          # never stops for a met target before this many
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator

from srmsim.argtypes import MAX_SEED
from srmsim.errors import RuleError, ScenarioError, SrmsimError
from srmsim.experiment.custom import CustomOutcome, CustomOutcomeConfig
from srmsim.experiment.outcomes import DERIVED_SUFFIXES, OUTCOMES, Outcome
from srmsim.explore.design import MAX_RUNS, DesignConfig
from srmsim.explore.design import sample as design_sample
from srmsim.labels import (
    FileName,
    Label,
    Prose,
    Range,
    StrictModel,
    agree,
    check_distinct,
    folded,
)
from srmsim.rng import replication_seeds
from srmsim.scenario import (
    Scenario,
    _problems,
    expand_dotted,
    expand_overrides,
    load_scenario,
    plain_value,
    read_yaml,
    result_neutral,
    result_settings,
)
from srmsim.yamlio import refuse_empty

DEFAULT_OUTCOMES = ["attendance", "persistent_absence", "reading_gap_end", "attainment",
                    "staff_hours", "cost"]


def unknown_outcomes(unknown: list[str], custom: bool = True) -> str:
    """The error for outcome names that are not srmsim's: each with the closest known name, and
    the known ones listed once each, the learning outcomes' per-group and per-term copies
    (``regret_fsm``, ``regret_t1`` ... ``regret_t15``: 90 names) summed up in a clause.
    ``custom``: where user-defined outcomes may be named too (say how)."""
    import difflib

    from srmsim.experiment.learning import GROUPS, MAX_TERMS

    def closest(name: str) -> str:
        close = difflib.get_close_matches(name, list(OUTCOMES), n=1, cutoff=0.75)
        return f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)

    suffixes = [*GROUPS, *(f"t{k + 1}" for k in range(MAX_TERMS))]
    bases = [n for n in OUTCOMES if f"{n}_t1" in OUTCOMES]
    copies = {f"{b}_{x}" for b in bases for x in suffixes}
    shown = [n for n in OUTCOMES if n not in copies]
    return (f"unknown {agree(len(unknown), 'outcome')} {', '.join(map(closest, unknown))}; "
            f"known: {', '.join(shown)}; each of {', '.join(bases)} also by group "
            f"({', '.join('_' + g for g in GROUPS)}) and by term of the run (_t1 to "
            f"_t{MAX_TERMS})"
            + (" (or define one: see docs/reports.md, user-defined outcomes)" if custom else ""))


#: the default ``sequential.min_replications``
MIN_SEQUENTIAL_REPLICATIONS = 10


class SequentialConfig(StrictModel):
    half_width: dict[str, Annotated[float, Field(gt=0)]] = Field(
        min_length=1,  # with no target, the (empty) target was "met" after the first round
        description="stop when every variant's CI half-width for these outcomes is below")
    max_replications: Annotated[int, Field(ge=2, le=100_000)] = 200
    batch: Annotated[int, Field(ge=1, le=10_000)] = 10
    #: the fewest replications the rule may stop at for a met target (max_replications if
    #: that is lower): the half-width of 2 or 3 replications is itself a noisy estimate, and an
    #: outcome of few values (a share of few students, a count) often has the same paired
    #: difference in every one of them, a half-width of 0. Stopping there, a first round of
    #: 2 stopped at once in 18-42% of experiments on such outcomes, and their 95% intervals
    #: held the true effect in 51-77% of experiments (docs/guides/researcher.md). A half-width
    #: of 0 never meets a target, on any number (:func:`srmsim.experiment.runner.sequential_step`)
    min_replications: Annotated[int, Field(ge=2, le=100_000)] = MIN_SEQUENTIAL_REPLICATIONS


class ExperimentConfig(StrictModel):
    name: Label = "experiment"
    description: Prose = Field("", max_length=10_000)
    scenario: FileName
    variants: dict[Label, dict[str, Any] | None] = Field(min_length=1)
    baseline: Label
    replications: Annotated[int, Field(ge=1, le=100_000)] = 30
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None
    outcomes: list[str | CustomOutcomeConfig] = Field(
        default_factory=lambda: list[str | CustomOutcomeConfig](DEFAULT_OUTCOMES), min_length=1)
    uncertain: dict[str, Range] = Field(default_factory=dict)
    sequential: SequentialConfig | None = None
    design: DesignConfig | None = None

    @field_validator("design", "sequential", mode="before")
    @classmethod
    def _not_empty(cls, value: Any, info: Any) -> Any:
        """``design:`` or ``sequential:`` written with nothing under it (its lines commented
        out, say) ran 30 replications of a Latin hypercube, or a fixed number of them, without
        a word: the section the file names is refused empty, as a missing one is not."""
        if value is None:
            raise ValueError(f"is empty (null): give its settings, or leave {info.field_name} "
                             "out")
        return value

    @model_validator(mode="after")
    def _check(self) -> ExperimentConfig:
        check_distinct(self.variants, "variant")  # each names a folder, runs/<variant>/
        check_distinct(self.uncertain, "uncertain parameter")  # columns of the design tables
        if self.baseline not in self.variants:
            raise ValueError(f"baseline {self.baseline!r} is not among the variants "
                             f"({', '.join(self.variants)})")
        unknown = [o for o in self.outcomes if isinstance(o, str) and o not in OUTCOMES]
        if unknown:
            raise ValueError(unknown_outcomes(unknown))
        names = [o if isinstance(o, str) else o.name for o in self.outcomes]
        # counted once (names.count for each name was quadratic: a list of 50,000 outcomes,
        # within the YAML limits, took 95 s to be refused)
        dup = sorted(n for n, k in Counter(names).items() if k > 1)
        if dup:
            raise ValueError(f"{agree(len(dup), 'outcome')} listed more than once: {dup}")
        check_distinct(names, "outcome")  # columns of runs.parquet and rows of the reports
        labels = [OUTCOMES[o].label if isinstance(o, str) else o.shown_label
                  for o in self.outcomes]
        alike = Counter(folded(label.strip()) for label in labels)
        same = sorted({label for label in labels if alike[folded(label.strip())] > 1})
        if same:  # two rows of the effects table and two panels of a figure read the same
            raise ValueError(f"outcomes labelled alike ({', '.join(map(repr, same))}): their "
                             "rows in the tables and figures could not be told apart; give "
                             "each its own label")
        derived = {n + suffix: n for n in names for suffix in DERIVED_SUFFIXES}
        clash = sorted(n for n in names if n in derived)
        if clash:  # the explore tools' x_diff / x_baseline columns would be ambiguous
            raise ValueError(f"{agree(len(clash), 'outcome')} {clash} "
                             f"{agree(len(clash), 'is', 'are')} named "
                             "like the difference or baseline "
                             f"column of outcome {derived[clash[0]]!r}; choose another name")
        for key, (low, high) in self.uncertain.items():
            if not low < high:
                raise ValueError(f"uncertain.{key}: range [{low}, {high}] must have low < high")
            if not math.isfinite(high - low):  # every draw low + u * (high - low) was inf:
                # `validate` passed it, and the run refused a scenario key it did not name
                raise ValueError(f"uncertain.{key}: range [{low}, {high}] is wider than a "
                                 "number can hold (high - low overflows); narrow it")
        if self.design is not None and self.design.fixed_size:
            if not self.uncertain:
                raise ValueError(f"design.method {self.design.method} needs uncertain parameters")
            if self.sequential or "replications" in self.model_fields_set:
                raise ValueError(f"with design.method {self.design.method} the design sets the "
                                 "runs per variant: remove replications and sequential")
        per_variant = (self.design.size(len(self.uncertain))
                       if self.design is not None and self.design.fixed_size
                       else max(self.replications,
                                self.sequential.max_replications if self.sequential else 0))
        if len(self.variants) * per_variant > MAX_RUNS:
            raise ValueError(f"{len(self.variants):,} variants x {per_variant:,} runs each is "
                             f"{len(self.variants) * per_variant:,} runs, more than "
                             f"{MAX_RUNS:,}: use fewer variants, replications or design points")
        if self.sequential:
            bad = [o for o in self.sequential.half_width if o not in names]
            if bad:
                raise ValueError(f"sequential.half_width names outcomes not in outcomes: {bad}")
            if self.replications < 2:  # one run per variant has no interval: the target was
                # "met" at once and the experiment stopped after a single replication
                raise ValueError("sequential: the first round (replications) needs at least 2 "
                                 f"replications to estimate a half-width (got {self.replications})")
            if self.replications > self.sequential.max_replications:
                default = "" if "replications" in self.model_fields_set else ", the default"
                raise ValueError(f"sequential.max_replications ({self.sequential.max_replications})"
                                 f" is below replications ({self.replications}{default}), the "
                                 "first round: raise max_replications or lower replications")
            seq = self.sequential
            if "min_replications" in seq.model_fields_set \
                    and seq.min_replications > seq.max_replications:
                # it would do nothing: the rule never runs past max_replications
                raise ValueError(f"sequential.min_replications ({seq.min_replications}) is above "
                                 f"max_replications ({seq.max_replications}): the experiment "
                                 "never runs that many; lower it or raise max_replications")
        return self


class Experiment:
    """A validated experiment: base scenario, variant scenarios, seeds and parameter draws."""

    def __init__(self, config: ExperimentConfig, base: Scenario, source: str,
                 settings: dict[str, Any] | None = None):
        self.config = config
        self.base = base
        self.source = source
        self.settings = dict(settings or {})  # --set overrides already applied to ``base``
        self.name = config.name
        self.variants: dict[str, Scenario] = {}
        for name, overrides in config.variants.items():
            try:
                self.variants[name] = base.with_overrides(overrides or {}, source)
            except ScenarioError as err:
                raise ScenarioError(source, [(f"variants.{name}.{p}" if p else f"variants.{name}",
                                              m) for p, m in err.problems]) from None
        problems = [(f"variants.{name}.{key}", _SHADOWED)
                    for name, overrides in config.variants.items()
                    for key in shadowed_keys(overrides, config.uncertain)]
        problems += [(f"--set {key}", _SHADOWED)
                     for key in shadowed_keys(self.settings, config.uncertain)]
        problems += [(f"variants.{name}.seed", _SEED_IGNORED)
                     for name, overrides in config.variants.items()
                     if "seed" in expand_dotted(overrides or {}, source)]
        if config.seed is not None and "seed" in expand_dotted(self.settings, source):
            problems.append(("--set seed", _SEED_IGNORED))
        problems += self._labels_only(source)
        if problems:
            raise ScenarioError(source, problems)
        check_uncertain(config.uncertain, self.variants, source)
        _check_uncertain_policy_acts(config.uncertain, self.variants, source)
        check_request_outcomes(self.outcomes, self.variants, source)
        check_choice_outcomes(self.outcomes, self.variants, source)
        check_learning_installed(self.variants, source)
        #: SHA-256 of each arrivals file and each trust's records, by path: the experiment's
        #: identity includes what the files hold, so --resume refuses one changed since
        self.input_files = {**check_arrival_files(self.variants, source),
                            **record_files(self.variants)}

    def _labels_only(self, source: str) -> list[tuple[str, str]]:
        """Variants that set a key no simulation reads (:func:`result_neutral`: a name, a
        description, ``outputs``) and are otherwise the scenario as given or another variant:
        they run that one again under another name. Refused, not noted: the experiment ran
        every replication and its table showed "no clear change" for what the user took for
        another policy, and a note in a long run's output is easily missed. A variant left as
        the baseline on purpose (``{}``, or the baseline's settings: a replication check) sets
        no such key and is run as before."""
        import json

        def settings(scenario: Scenario) -> str:
            return json.dumps(result_settings(scenario), sort_keys=True, default=str)

        labelled = {name: labels for name, overrides in self.config.variants.items()
                    for labels in [[k for k in _leaf_keys(expand_dotted(overrides or {}, source))
                                    if result_neutral(k)]] if labels}
        if not labelled:  # (the scenarios are not compared: most experiments set no label)
            return []
        mine = {name: settings(scenario) for name, scenario in self.variants.items()}
        as_given = settings(self.base)
        problems = []
        for name, labels in labelled.items():
            twin = next((other for other in self.variants
                         if other != name and mine[other] == mine[name]), None)
            listed = ", ".join(labels)
            verb, them = (agree(len(labels), "changes", "change"),
                          agree(len(labels), "it", "them"))
            remedy = ("set a key the simulation reads (a policy parameter, staff minutes...), "
                      f"or leave {them} out")
            if twin is not None:
                problems.append((f"variants.{name}", f"differs from variant {twin} only in "
                                 f"{listed}, which {verb} no result: it would run {twin} again "
                                 f"under another name; {remedy}"))
            elif mine[name] == as_given:
                problems.append((f"variants.{name}", "differs from the scenario as given only "
                                 f"in {listed}, which {verb} no result: it is that scenario "
                                 f"under another name ({{}} says so); {remedy}"))
        return problems

    @property
    def from_records(self) -> bool:
        """Some variant's trust is built from real pupil records: its outputs are private."""
        return any(sc.population.records for sc in (self.base, *self.variants.values()))

    @property
    def replications(self) -> int:
        design = self.config.design
        if design is not None and design.fixed_size:
            return design.size(len(self.config.uncertain))
        return self.config.replications

    @property
    def baseline(self) -> str:
        return self.config.baseline

    @property
    def outcomes(self) -> list[str]:
        """Outcome names, in the file's order (built-in and user-defined)."""
        return [o if isinstance(o, str) else o.name for o in self.config.outcomes]

    @property
    def outcome_definitions(self) -> list[dict[str, Any]]:
        """The user-defined outcomes as plain data (for workers and the manifest)."""
        return [o.model_dump(mode="json") for o in self.config.outcomes
                if isinstance(o, CustomOutcomeConfig)]

    def outcome_registry(self) -> dict[str, Outcome]:
        """name -> Outcome for every outcome of this experiment."""
        return {o if isinstance(o, str) else o.name:
                OUTCOMES[o] if isinstance(o, str) else CustomOutcome(o).outcome()
                for o in self.config.outcomes}

    @property
    def max_replications(self) -> int:
        seq = self.config.sequential
        return max(self.replications, seq.max_replications if seq else 0)

    @property
    def root_seed(self) -> int:
        return self.config.seed if self.config.seed is not None else self.base.seed

    def seeds(self, n: int | None = None) -> list[int]:
        """Replication i's seed, shared by every variant (common random numbers)."""
        n = n or self.max_replications
        if self.config.design is not None and self.config.design.common_seed:
            return replication_seeds(self.root_seed, 1) * n
        return replication_seeds(self.root_seed, n)

    def parameter_draws(self) -> list[dict[str, float]]:
        """Draws of the uncertain parameters, one per replication: by default a Latin hypercube
        (a prefix of the same design whatever the number run, so added replications extend it),
        else the points of ``design:`` (Sobol or Morris, :mod:`srmsim.explore.design`)."""
        # made once: planning asks for a run's draw run by run, and a list of n empty draws
        # made on each call (no uncertain parameters) was quadratic: 2 variants x 100,000
        # replications planned for half an hour before the first run
        if getattr(self, "_draws", None) is not None:
            return self._draws
        keys = sorted(self.config.uncertain)
        n = self.max_replications
        self._draws: list[dict[str, float]] = [{} for _ in range(n)]
        if keys:
            values = design_sample(self.config.design or DesignConfig(), self.config.uncertain,
                                   self.root_seed, n)
            self._draws = [dict(zip(keys, map(float, row), strict=True)) for row in values]
        return self._draws

    def hashed_config(self) -> dict[str, Any]:
        """The settings :meth:`digest` hashes, as plain data (kept in the results' manifest, so
        that what the analysis reads back from it can be checked against the hash)."""
        # an experiment without design: hashes as it did before designs existed
        exclude: dict[str, Any] = {"design": True} if self.config.design is None else {}
        seq = self.config.sequential
        if seq is not None and seq.min_replications == MIN_SEQUENTIAL_REPLICATIONS:
            # the default: hashes as before the setting existed (results so made resume)
            exclude["sequential"] = {"min_replications"}
        config = self.config.model_dump(mode="json", exclude=exclude or None)
        if self.input_files:  # without files: hashes as before they counted
            config["input_files"] = dict(sorted(self.input_files.items()))
        return config

    def digest(self) -> str:
        """Identity of the experiment: its settings and every variant's resolved scenario."""
        return experiment_digest(self.hashed_config(),
                                 {k: v.digest() for k, v in self.variants.items()})

    def scenario_for(self, variant: str, replication: int) -> Scenario:
        draws = self.parameter_draws()[replication]
        sc = self.variants[variant]
        return sc.with_overrides(draws, self.source) if draws else sc

    def sized_scenarios(self) -> dict[str, Scenario]:
        """The scenarios whose runs' memory a study must check: each variant's, and where an
        uncertain parameter sizes the runs (a request stream's ``arrivals.per_week``, the
        schools' ``trust.size_cv``) each replication's draw of it, so the largest is checked,
        not the first replication's (uncertain keys are real numbers: no whole-number size).

        At most :data:`SIZED_RUNS` runs are sized one by one (the first replications' draws):
        a study of 1,000,000 planned runs built a scenario for each before anything else, 80 s
        and 5 GB, and died in pydantic for memory. Past that, each variant is sized also with
        the sizing keys at both ends of their ranges, as an optimisation's search is."""
        sizing = sizing_keys(self.config.uncertain)
        draws = len(self.parameter_draws()) if sizing else 1
        reps = range(min(draws, max(1, SIZED_RUNS // len(self.variants))))
        found = {(f"{v} (replication {r + 1}: {', '.join(sizing)} drawn)" if sizing else v):
                 self.scenario_for(v, r) for v in self.variants for r in reps}
        if len(reps) < draws:
            for v, sc in self.variants.items():
                for end in (0, 1):
                    values = {k: self.config.uncertain[k][end] for k in sizing}
                    found[f"{v} ({', '.join(sizing)} at the {('low', 'high')[end]} end)"] = (
                        sc.with_overrides({**self.parameter_draws()[0], **values},
                                          self.source))
        return found


def experiment_digest(config: Any, variants: Any) -> str:
    """:meth:`Experiment.digest` of its hashed settings and its variants' scenario digests."""
    data = {"config": config, "variants": variants}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


#: the most runs of an experiment whose drawn sizes are checked one by one before it starts
#: (:meth:`Experiment.sized_scenarios`)
SIZED_RUNS = 2_000
#: the scenario sections a run's memory estimate reads (srmsim.model._size_digest)
SIZE_SECTIONS = ("trust", "years", "outputs", "requests")


def sizing_keys(uncertain: dict[str, Any]) -> list[str]:
    """The uncertain keys that change a run's size (and so its memory), in their order."""
    return [k for k in uncertain if k.split(".")[0] in SIZE_SECTIONS]


_SHADOWED = ("is also an uncertain parameter: every replication's draw would replace this value, "
             "so it would change nothing; remove it here or from uncertain")


_SEED_IGNORED = ("the experiment's replication seeds (from its seed:) replace the scenario's seed "
                 "in every run, so that every variant sees the same random numbers: this seed "
                 "would change nothing; set the experiment's seed: instead")


def _leaf_keys(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys of the values in an expanded override tree."""
    out = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        out += _leaf_keys(value, dotted + ".") if isinstance(value, dict) else [dotted]
    return out


def shadowed_keys(overrides: dict[str, Any] | None, uncertain: dict[str, Any],
                  source: str = "overrides") -> list[str]:
    """Keys ``overrides`` sets that are also ``uncertain`` keys: applied before the draws, their
    values would be silently replaced in every replication."""
    if not overrides or not uncertain:
        return []
    return [k for k in _leaf_keys(expand_dotted(overrides, source)) if k in uncertain]


def check_uncertain(uncertain: dict[str, tuple[float, float]], scenarios: dict[str, Scenario],
                    source: str) -> None:
    """Every uncertain key must be a numeric scenario key in every variant, valid at both ends
    of its range and inside it (a range beyond a key's limits failed run by run, after the
    experiment had started), and one a simulation reads (:func:`result_neutral`: draws of
    ``outputs.history`` changed no outcome, and the sensitivity study found it inert)."""
    inert = [(f"uncertain.{key}", f"is {what}: its draws would change no result; draw a key "
              "the simulation reads (a dynamics or policy parameter...)")
             for key in uncertain for what in [result_neutral(key)] if what]
    if inert:
        raise ScenarioError(source, inert)
    # variants with a policy first: a policy key's problem is told of the scenario's own
    # policy, not of a variant without one (policy: null)
    ordered = sorted(scenarios.items(), key=lambda item: item[1].policy is None)
    for key, (low, high) in uncertain.items():
        for name, sc in ordered:
            for where, value in (("", (low + high) / 2), ("low end: ", low), ("high end: ", high)):
                try:
                    sc.with_overrides({key: value}, source)
                except ScenarioError as err:
                    raise ScenarioError(source, [(f"uncertain.{key}", f"in variant {name}: {where}"
                                                  + "; ".join(_uncertain_problem(key, p, m)
                                                              for p, m in sorted(
                                                                  err.problems,
                                                                  key=lambda x: x[0] == key)))]
                                        ) from None


def _check_uncertain_policy_acts(uncertain: dict[str, tuple[float, float]],
                                 scenarios: dict[str, Scenario], source: str) -> None:
    """Uncertain policy keys (its rules, parameters, actions) need a variant whose policy
    enables a workflow: with only ``no_policy: {policy: null}`` (each valid alone) the draws
    changed nothing in any run, and the sensitivity study found them all inert."""
    from srmsim.policy.config import WORKFLOW_ONLY_KEYS

    if any(sc.policy is not None and not sc.policy.acts_on_no_one()
           for sc in scenarios.values()):
        return
    idle = [key for key in uncertain if key.startswith(WORKFLOW_ONLY_KEYS)]
    if idle:
        raise ScenarioError(source, [(f"uncertain.{key}", "no variant's policy enables a "
                                      "workflow, so its draws change nothing in any run (a "
                                      "rule alone refers no student)") for key in idle])


def _uncertain_problem(key: str, path: str, message: str) -> str:
    """One problem of an uncertain parameter's value, with its own key path when the parameter's
    does not hold it (``policy.rules.x.when`` of ``policy.workflows.w.trigger``), and a key that
    takes whole numbers explained: its draws are real numbers (``cooldown_weeks`` drawn as 2.5
    was "Input should be a valid integer")."""
    if path == key and message.startswith("Input should be a valid integer"):
        return ("takes whole numbers, and an uncertain parameter is drawn from a continuous "
                "range (" + message.removeprefix("Input should be a valid integer").strip(" ()")
                + "): give each value a variant instead")
    # (a path above the key, such as the workflow it names, is in the key already)
    return message if path == "" or key.startswith(path) else f"{path}: {message}"


def check_request_outcomes(outcomes: list[str], scenarios: dict[str, Scenario], source: str
                           ) -> None:
    """Outcomes of request streams need streams in every variant: without them every run was
    simulated to print "not measured" for them."""
    from srmsim.admin.measures import REQUEST_OUTCOMES

    wanted = [o for o in outcomes if o in REQUEST_OUTCOMES]
    bare = [name for name, sc in scenarios.items() if not sc.requests]
    if wanted and bare:
        raise ScenarioError(source, [("outcomes", f"{', '.join(wanted)} "
                                      f"{agree(len(wanted), 'measures', 'measure')} request "
                                      f"streams, and {agree(len(bare), 'variant')} "
                                      f"{', '.join(bare)} {agree(len(bare), 'has', 'have')} "
                                      "none (requests:); remove the outcome or add streams")])


def check_choice_outcomes(outcomes: list[str], scenarios: dict[str, Scenario], source: str
                          ) -> None:
    """Outcomes of a step's choices among candidate actions (regret, oracle match, explore
    share, by group and term) need such a step in some variant: with none, every run was
    simulated to print "not measured" for them (a variant without one, such as a baseline of
    no policy, reads "not measured" beside the others)."""
    from srmsim.experiment.learning import CHOICE_OUTCOMES

    wanted = [o for o in outcomes if o in CHOICE_OUTCOMES]
    chosen = any(sc.policy is not None and any(
        step.candidates for wf in sc.policy.workflows.values() for step in wf.steps)
        for sc in scenarios.values())
    if wanted and not chosen:
        raise ScenarioError(source, [("outcomes", f"{', '.join(wanted)} "
                                      f"{agree(len(wanted), 'measures', 'measure')} the choices "
                                      "of a step among candidate actions, and no variant has "
                                      "such a step (candidates: and a chooser:); remove the "
                                      "outcome or add one")])


def check_learning_installed(scenarios: dict[str, Scenario], source: str,
                             key: str = "variants.{name}.") -> None:
    """Refuse, before anything is written, variants with a learned chooser where scikit-learn
    is not installed: each of their runs failed in turn, and the study stopped with "6 runs
    failed (errors in failures/)" and a results folder of failures. The one check of an
    experiment's, a trial's and an optimisation's scenarios; ``key``: what the step's path is
    under in the study's file (``{name}``: the scenario's name in ``scenarios``)."""
    import importlib.util

    from srmsim.policy.config import LEARNING_MISSING, learned_steps

    learned = [(key.format(name=name) + path, LEARNING_MISSING)
               for name, sc in scenarios.items() for path in learned_steps(sc.policy)[:1]]
    if learned and importlib.util.find_spec("sklearn") is None:
        raise ScenarioError(source, learned[:1])


def check_arrival_files(scenarios: dict[str, Scenario], source: str) -> dict[str, str]:
    """Read every request stream's arrivals file once, before anything is written (a file that
    is no arrivals file failed every run in turn, leaving a results folder of failures), and
    return each one's SHA-256 by path."""
    from srmsim.admin.desk import read_arrival_days
    from srmsim.results import file_sha256

    hashes: dict[str, str] = {}
    for name, sc in scenarios.items():
        for stream, config in sc.requests.items():
            file = config.arrivals.file
            if file is None or file in hashes:
                continue
            try:
                read_arrival_days(Path(file))
            except SrmsimError as err:
                raise ScenarioError(source, [(f"variants.{name}.requests.{stream}.arrivals.file",
                                              str(err))]) from None
            hashes[file] = file_sha256(Path(file))
    return hashes


def check_scenario_arrival_files(scenario: Scenario, source: str) -> None:
    """One scenario's request streams' arrivals files read, as :func:`check_arrival_files`
    reads a study's, each problem under its scenario key (``requests.X.arrivals.file``): what
    `srmsim validate` and `srmsim run` say (run named only the CSV)."""
    try:
        check_arrival_files({scenario.name: scenario}, source)
    except ScenarioError as err:
        raise ScenarioError(source, [(p.removeprefix(f"variants.{scenario.name}."), m)
                                     for p, m in err.problems]) from None


def record_files(scenarios: dict[str, Scenario]) -> dict[str, str]:
    """SHA-256 of the pupil records each trust is built from (``population.records``), by
    path: the same path re-imported with other pupils is another experiment, so ``--resume``
    refuses to mix runs of the two. A file that cannot be read is left to the run's own
    error."""
    from srmsim.inputs import input_file_problem
    from srmsim.results import file_sha256

    hashes: dict[str, str] = {}
    for sc in scenarios.values():
        given = sc.population.records
        if not given or f"records:{given}" in hashes:
            continue
        path = Path(given) / "students.parquet" if Path(given).is_dir() else Path(given)
        if path.is_file() and not input_file_problem(path):
            hashes[f"records:{given}"] = file_sha256(path)
    return hashes


def experiment_from_dict(data: Any, source: str, base_dir: Path,
                         settings: dict[str, Any] | None = None) -> Experiment:
    """Validate an experiment mapping; ``settings`` (dotted scenario keys, e.g. from
    ``--set``) change the base scenario before the variants are applied."""
    if not isinstance(data, dict):
        raise ScenarioError(source, "an experiment must be a mapping of keys to values")
    data = plain_value(data)
    if isinstance(data.get("variants"), dict):
        variants = {}
        for k, v in data["variants"].items():
            try:
                # a file a variant names (population.records, arrivals.file) is relative to
                # this file, as the base scenario's are to its own: not to the current folder
                variants[k] = (expand_overrides(v, source, base_dir)
                               if isinstance(v, dict) else v)
            except ScenarioError as err:
                raise ScenarioError(source, [(f"variants.{k}.{p}" if p else f"variants.{k}", m)
                                             for p, m in err.problems]) from None
        data = {**data, "variants": variants}
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as err:
        problems = []
        for path, msg in _problems(err, model=ExperimentConfig):
            problems.append((path, msg.removeprefix("Value error, ")))
        raise ScenarioError(source, problems) from None
    for name, variant in config.variants.items():
        if variant is not None and not isinstance(variant, dict):
            raise ScenarioError(source, [(f"variants.{name}", "must be a mapping of overrides")])
    problems = []
    for i, o in enumerate(config.outcomes):
        if isinstance(o, CustomOutcomeConfig):
            try:
                CustomOutcome(o)
            except RuleError as err:
                problems.append((f"outcomes[{i}] ({o.name})", str(err)))
            else:
                problem = o.scale_problem()
                if problem:
                    problems.append((f"outcomes[{i}] ({o.name}).scale", problem))
    if problems:
        raise ScenarioError(source, problems)
    try:
        base = load_scenario((base_dir / config.scenario).resolve())
    except ScenarioError as err:  # name the key that led there, as a trial does
        raise ScenarioError(source, [("scenario", str(err))]) from None
    if settings:
        try:
            base = base.with_overrides(settings, f"{source} (--set)")
        except ScenarioError as err:
            raise ScenarioError(f"{source} (--set)", err.problems) from None
    return Experiment(config, base, source, settings)


def load_experiment(path: str | Path, settings: dict[str, Any] | None = None) -> Experiment:
    """Load and validate an experiment file; the scenario path is relative to it.
    ``settings``: dotted scenario keys applied to the base scenario (``--set``)."""
    path = Path(path)
    data = refuse_empty(read_yaml(path), str(path), "experiment")
    return experiment_from_dict(data, str(path), path.parent, settings)
