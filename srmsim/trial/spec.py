"""Trial files: which policy is tested, how it is randomised, what is measured and how analysed.

A trial file (YAML, in ``experiments/``) is validated like a scenario: unknown keys are errors and
every problem names the file and the key path, e.g.
``experiments/t.yaml: randomise.steps: only used when randomise.unit is stepped_wedge``.

Defaults follow what a trial statistician would pre-register for each design, so a file needs to
state only the policy, the unit and the outcome:

- ``students``: complete randomisation within schools (``block: school``), OLS with school fixed
  effects and HC1 standard errors. Why not cluster-robust: treatment varies *within* schools, so
  the design-based variance is the heteroskedasticity-robust one with block effects (Abadie et al.
  2023); clustering on a dozen schools would throw away df and widen intervals for nothing.
- ``schools``: OLS with cluster-robust SEs (a mixed model or GEE on request): students in one
  school share the school's treatment, so schools are the units. ``se: auto`` (the default)
  picks by the number of schools analysed: below 30, CR2 (bias-reduced) with each effect's
  Bell-McCaffrey df, because CR1 with t(G - 1) under-covers with few schools (a 95% interval
  covered about 93% with 8 schools, ICC 0.2); from 30, CR1 with t(G - 1). ``se: cluster`` (CR1)
  or ``se: cr2`` fixes the choice.
- ``stepped_wedge``: schools cross over in random order, one group every ``step_weeks``; the
  analysis is on a student-by-period panel: Callaway-Sant'Anna group-time effects with
  not-yet-treated schools as controls and a school-cluster bootstrap (``group_time``, the
  default), or two-way fixed effects (``twfe``, ``did_twfe``; CR2 with Bell-McCaffrey df below
  30 schools, as ``se: auto``: CR1 with t(G - 1) rejected a true 0 in 13% of wedges of 4
  schools), or a mixed model with period fixed
  effects and a school random intercept (``mixed``, Hussey & Hughes). Why not TWFE by default:
  a policy's effect builds up after a school starts (referrals wait for the next half-term
  review, effects accrue), and TWFE then uses already-treated schools as controls; in
  ``experiments/trial_stepped_wedge.yaml`` (100 replications) it recovers about a fifth of the
  true effect and its 95% CI (CR2) covers the truth in 59% of replications, while ``group_time`` is
  unbiased (bias 0.0001, Monte-Carlo SE 0.0004) with 97% coverage. The all-treated last period informs TWFE and the mixed model but not
  ``group_time`` (no not-yet-treated school is left).

``population: flagged`` analyses only the students the policy's trigger flags at its *first*
evaluation (the screening week). Why only then: later flags of treated students depend on their
treatment (a student helped in autumn is less often flagged in spring), so "ever flagged" is a
post-treatment selection that biases the comparison; at the first evaluation nobody has been
treated yet, so the flag is a baseline characteristic, as in a trial that screens, then randomises.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from srmsim.argtypes import MAX_SEED
from srmsim.errors import ScenarioError
from srmsim.labels import FileName, Label, Prose, StrictModel, agree, given_percent, plural
from srmsim.rng import replication_seeds
from srmsim.scenario import (
    Scenario,
    _problems,
    deep_merge,
    expand_dotted,
    load_scenario,
    plain_value,
    read_yaml,
    scenario_from_dict,
)
from srmsim.yamlio import refuse_empty

UNITS = ("students", "schools", "stepped_wedge")
#: what the header's standard errors mean, in words a teacher can read (:meth:`Trial.se_gloss`)
_GLOSS = {
    "cr2": ("CR2 means the margin of error allows for pupils in the same school being alike, "
            "with a correction so that it is not too small when there are few schools; "
            "Bell-McCaffrey df is the matching allowance for few schools, which widens the "
            "interval"),
    "cluster": ("CR1 means the margin of error allows for pupils in the same school being "
                "alike; with few schools it comes out too small"),
    "hc1": ("HC1 means the margin of error treats pupils as independent but lets some "
            "pupils' results vary more than others'"),
    "classical": ("classical means the margin of error treats pupils as independent, with "
                  "every pupil's result varying by the same amount"),
    "gee_hc1": ("hc1 with GEE means the margin of error allows for pupils in the same school "
                "being alike, with a correction for few schools (Mancl-DeRouen)"),
    "gee_classical": ("classical with GEE means the margin of error comes from the model of "
                      "how alike pupils in a school are, and is too small if that model is "
                      "wrong"),
    "mixed": ("classical with a mixed model means the margin of error comes from the model's "
              "school effect (how alike pupils in a school are)"),
}
NEVER = 10**9  # eligibility week meaning "never referred"
#: most replications one trial runs (the file's ``replications``, ``run_trial(replications=)``)
MAX_REPLICATIONS = 100_000
#: most bootstrap draws of one trial, ``analysis.n_boot x replications`` (group_time): each
#: allowed alone (100,000 x 100,000) they made 10**10 draws, 1-2e-8 s of CPU each per school
#: (measured): 25 minutes of bootstrap for 12 schools, 7 hours for 120. At this limit, 15 s and
#: 4 minutes; memory stays bounded (did's draws are made in chunks); the defaults (199 x
#: 100,000) and every n_boot with up to 1,000 replications fit.
MAX_BOOT_DRAWS = 10**8
#: smallest significance level a trial may use (see AnalysisConfig.alpha)
MIN_ALPHA = 1e-10

#: students.parquet columns that cannot be an outcome, baseline or naive column
_NOT_MEASURES = {"uid", "school", "sex", "status"}

#: outcomes of a stepped-wedge trial: one value per student and period (period = step_weeks)
PANEL_OUTCOMES: dict[str, str] = {
    "attendance_rate": "share of the period's possible sessions attended",
    "persistent_absent": "missed 10% or more of the period's sessions (0/1)",
    "reading_gap_end": "reading gap (months) at the last reading test up to the period's end",
    "assessment": "last termly assessment score up to the period's end (SD units)",
    "attainment": "attainment at the period's end (SD units)",
}

#: allowed analysis methods per randomisation unit, first = default
Method = Literal["ols", "gee", "mixed", "twfe", "group_time"]
METHODS: dict[str, tuple[Method, ...]] = {
    "students": ("ols", "gee", "mixed"),
    "schools": ("ols", "gee", "mixed"),
    "stepped_wedge": ("group_time", "twfe", "mixed"),
}


def student_measures() -> dict[str, str]:
    """Numeric or yes/no columns of students.parquet, with their dtype, usable as measures."""
    from srmsim.results import student_frame
    from srmsim.students import StudentTable

    frame = student_frame(StudentTable(0))
    return {c: str(frame[c].dtype) for c in frame.columns if c not in _NOT_MEASURES}



#: the registry outcome that measures a students column a trial can analyse
COLUMN_OUTCOMES = {"attendance_rate": "attendance", "persistent_absent": "persistent_absence",
                   "reading_gap_end": "reading_gap_end", "attainment": "attainment"}


def outcome_label(column: str) -> str:
    """A trial outcome (a students column) as a reader knows it: the label of the outcome
    that measures it (``Reading gap``, ``Attendance``), else the column's name. The design
    line read "outcome reading_gap_end", a column name where the label exists."""
    from srmsim.experiment.outcomes import OUTCOMES

    name = COLUMN_OUTCOMES.get(column)
    return OUTCOMES[name].label if name else column

class _Strict(StrictModel):
    pass


class RandomiseConfig(_Strict):
    """Who is randomised and how. Unset keys get the unit's defaults (see the module doc)."""

    unit: Literal["students", "schools", "stepped_wedge"]
    share_treated: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None
    block: Literal["school", "none"] | None = None
    steps: Annotated[int, Field(ge=1, le=100)] | None = None
    step_weeks: Annotated[int, Field(ge=1, le=390)] | None = None


class AnalysisConfig(_Strict):
    method: Method | None = None
    se: Literal["classical", "hc1", "cluster", "cr2", "auto"] | None = None
    # from 1e-10: below ~1e-16, 1 - alpha/2 rounds to 1 and the interval is infinite (the
    # trial then refused its own stored row as corrupt, after running)
    alpha: Annotated[float, Field(ge=MIN_ALPHA, lt=0.5)] = 0.05
    n_boot: Annotated[int, Field(ge=50, le=100_000)] = 199


class NaiveConfig(_Strict):
    """The before/after comparison a school runs on the students it served."""

    pre: str
    post: str


class TrialConfig(_Strict):
    name: Label = "trial"
    description: Prose = Field("", max_length=10_000)
    scenario: FileName
    overrides: dict[str, Any] = Field(default_factory=dict)
    randomise: RandomiseConfig
    outcome: str
    baseline: str | None = None
    population: Literal["all", "flagged"] = "all"
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    naive: NaiveConfig | None = None
    replications: Annotated[int, Field(ge=1, le=MAX_REPLICATIONS)] = 100
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None


def _resolve(cfg: TrialConfig, scenario: Scenario) -> list[tuple[str, str]]:
    """Fill unit-specific defaults into ``cfg`` in place; return every problem with its key."""
    problems: list[tuple[str, str]] = []
    r, a = cfg.randomise, cfg.analysis
    unit = r.unit
    if unit == "stepped_wedge":
        if r.share_treated is not None:
            problems.append(("randomise.share_treated", "not used by a stepped wedge: every "
                             "school is treated in the end; set steps and step_weeks instead"))
        if r.steps is None:
            problems.append(("randomise.steps", "required for a stepped wedge (the number of "
                             "groups of schools that cross over, one after another)"))
        elif r.steps < 2:  # every analysis fails: treatment is the period itself
            problems.append(("randomise.steps", "1 step moves every school over at once, so "
                             "the effect cannot be told from the change between the two "
                             "periods (no school is still a control); use 2 or more steps"))
        r.step_weeks = r.step_weeks or 13
    else:
        for key in ("steps", "step_weeks"):
            if getattr(r, key) is not None:
                problems.append((f"randomise.{key}", "only used when randomise.unit is "
                                 "stepped_wedge"))
        r.share_treated = 0.5 if r.share_treated is None else r.share_treated
    if unit == "students":
        r.block = r.block or "school"
    elif r.block is not None:
        problems.append(("randomise.block", f"only used when randomise.unit is students (with "
                         f"unit {unit} the schools themselves are randomised)"))
    allowed = METHODS[unit]
    if a.method is None:
        a.method = allowed[0]
    elif a.method not in allowed:
        problems.append(("analysis.method", f"{a.method!r} does not fit randomise.unit {unit}; "
                         f"use one of: {', '.join(allowed)}"))
    if unit == "stepped_wedge":
        if a.se is not None:
            problems.append(("analysis.se", "not used by stepped-wedge analyses (they cluster by "
                             "school, or model schools as random effects)"))
    elif a.method == "mixed":
        if a.se in ("cluster", "hc1", "cr2", "auto"):
            problems.append(("analysis.se", "a mixed model has model-based standard errors; use "
                             "se: classical, or method: gee / ols for robust ones"))
        a.se = "classical"
    elif a.method == "gee":
        if a.se == "cr2":
            problems.append(("analysis.se", "cr2 is for method ols: the GEE robust sandwich is "
                             "already bias-reduced (Mancl-DeRouen); use se: hc1 or cluster"))
        if a.se in ("cluster", "auto"):
            a.se = "hc1"  # the GEE sandwich is already cluster-robust
        a.se = a.se or "hc1"
    elif a.se is None:
        a.se = "auto" if unit == "schools" else "hc1"
    elif unit == "schools" and a.se in ("classical", "hc1"):
        # schools are the units: an SE over independent students is too small by the design
        # effect (a 95% interval from 768 df that should have about 4)
        problems.append(("analysis.se", f"{a.se} treats students as independent, but schools "
                         "are randomised and every student of a school shares its treatment, "
                         "so its intervals are far too narrow; use auto, cluster or cr2 (or "
                         "method mixed / gee)"))

    measures = student_measures()
    known = ", ".join(sorted(measures))
    if unit == "stepped_wedge":
        if cfg.outcome not in PANEL_OUTCOMES:
            problems.append(("outcome", f"{cfg.outcome!r} cannot be measured per period; a "
                             f"stepped wedge can use: {', '.join(PANEL_OUTCOMES)}"))
        if cfg.baseline is not None:
            problems.append(("baseline", "not used by a stepped wedge: school and period effects "
                             "(or the school random effect) adjust for baseline differences"))
    elif cfg.outcome not in measures:
        problems.append(("outcome", f"{cfg.outcome!r} is not a numeric column of "
                         f"students.parquet; known: {known}"))
    if cfg.baseline is not None and unit != "stepped_wedge" and cfg.baseline not in measures:
        problems.append(("baseline", f"{cfg.baseline!r} is not a numeric column of "
                         f"students.parquet; known: {known}"))
    if cfg.baseline is not None and cfg.baseline == cfg.outcome and unit != "stepped_wedge":
        problems.append(("baseline", f"{cfg.baseline!r} is the outcome itself: adjusting for it "
                         "leaves no effect to estimate; use a measure taken before treatment "
                         "(e.g. reading_gap_start)"))
    if cfg.naive is not None and cfg.naive.pre == cfg.naive.post:
        problems.append(("naive.post", f"{cfg.naive.post!r} is also naive.pre: a before/after "
                         "comparison of a column with itself is always 0"))
    if "n_boot" in a.model_fields_set and a.method != "group_time":
        problems.append(("analysis.n_boot", f"only used by analysis.method group_time (the "
                         f"school-cluster bootstrap), not {a.method}"))
    problems += check_bootstrap(cfg)
    if cfg.naive is not None:
        for key in ("pre", "post"):
            col = getattr(cfg.naive, key)
            if col not in measures:
                problems.append((f"naive.{key}", f"{col!r} is not a numeric column of "
                                 f"students.parquet; known: {known}"))
        from srmsim.experiment.outcomes import COLUMN_SCALES, UNIT_TEXT

        # post - pre of a share and a reading gap in months is no change in anything
        pre, post = (COLUMN_SCALES.get(getattr(cfg.naive, k)) for k in ("pre", "post"))
        if pre and post and pre != post:
            problems.append(("naive.pre", f"{cfg.naive.pre!r} is in {UNIT_TEXT[pre]} but "
                             f"naive.post {cfg.naive.post!r} in {UNIT_TEXT[post]}: the naive "
                             "check is post minus pre, so both must be in one unit"))

    policy = scenario.policy
    if policy is None:
        problems.append(("scenario", f"{cfg.scenario} has no policy (after overrides): a trial "
                         "needs a policy to test"))
        return problems
    enabled = [w for w, wf in policy.workflows.items() if wf.enabled]
    if not enabled:
        problems.append(("scenario", f"{cfg.scenario}: every workflow is disabled, so nobody "
                         "could be treated"))
    if cfg.population == "flagged":
        from srmsim.policy.compiled import compile_policy

        compiled = compile_policy(policy)
        pooled = sorted({wf.trigger for wf in compiled.workflows
                         if "pooled_risk" in compiled.rules[wf.trigger].fields})
        if pooled:
            problems.append(("population", f"flagged needs triggers that schools can evaluate "
                             f"at baseline; {', '.join(pooled)} "
                             f"{agree(len(pooled), 'reads', 'read')} "
                             "pooled_risk, which "
                             "exists only after the pool's first refit"))
    weeks = scenario.years * 39
    if unit == "stepped_wedge" and r.steps is not None and r.step_weeks is not None:
        need = (r.steps + 1) * r.step_weeks
        if need > weeks:
            problems.append(("randomise.step_weeks", f"{plural(r.steps, 'step')} of "
                             f"{plural(r.step_weeks, 'week')} need {need} weeks (a control "
                             "period, then one period per step) but the scenario runs "
                             f"{weeks} weeks ({plural(scenario.years, 'year')}); "
                             "shorten the steps or set overrides.years"))
    if not scenario.population.records:
        n_schools = scenario.trust.n_schools
        problems += check_schools(cfg, n_schools)
        problems += check_strata(cfg, scenario)
    return problems


def check_bootstrap(cfg: TrialConfig) -> list[tuple[str, str]]:
    """The problem of a group_time trial whose bootstrap draws, ``analysis.n_boot x
    replications``, exceed :data:`MAX_BOOT_DRAWS` (none for other methods: no bootstrap)."""
    n_boot, n = cfg.analysis.n_boot, cfg.replications
    if cfg.analysis.method != "group_time" or n_boot * n <= MAX_BOOT_DRAWS:
        return []
    return [("analysis.n_boot", f"{n_boot:,} draws x replications {n:,} = {n_boot * n:,} "
             f"bootstrap draws, more than {MAX_BOOT_DRAWS:,}; use fewer draws "
             "(199 to 999 is usual) or fewer replications")]


def check_strata(cfg: TrialConfig, scenario: Scenario) -> list[tuple[str, str]]:
    """Problems with ``share_treated`` for the students randomised together (a block): a share
    that rounds to no treated (1e-9) or no control student in a block of the scenario's average
    size. Such a block adds nothing to the comparison, and when every block is alike the trial
    has a single arm and every replication fails. Blocks as in :func:`check_built_blocks`;
    school sizes vary around the average (``trust.size_cv``), so this is decided for the
    average school, as a trial's sample-size calculation would be."""
    r, trust = cfg.randomise, scenario.trust
    if r.unit != "students" or r.share_treated is None:
        return []
    if trust.n_schools == 0:
        return [("randomise.share_treated", "the trust has no schools, so no students to "
                 "randomise")]
    schools = trust.n_schools if r.block == "none" else 1
    cohort = schools * trust.students_per_year_group
    bad = _single_arm_blocks([cohort], r.share_treated, len(trust.year_groups), scenario.years)
    if not bad:
        return []
    block = bad[0]
    what = ("roll at the start" if block == cohort * len(trust.year_groups)
            else "September intake")
    where = "the trust's" if r.block == "none" else "an average school's"
    n_t = treated_count(block, r.share_treated)
    # a block of one student can never hold both arms: no share helps (it read "use a share
    # from 0.5 to below 0.5")
    remedy = (f"use a share from {0.5 / block:.3g} to below {1 - 0.5 / block:.6g}, or more "
              "students" if block > 1 else "more students are needed")
    return [("randomise.share_treated", f"{r.share_treated:g} of {where} {what} "
             f"({plural(block, 'student')}) is {n_t} treated and {block - n_t} control: each "
             f"block of students randomised together needs both arms; {remedy} "
             "(trust.students_per_year_group)")]


def _not_yet_crossed(n_schools: int, steps: int) -> int:
    """Schools still in control when the first group crosses over (the groups are as equal as
    :class:`~srmsim.trial.assign.SteppedWedgeAssignment` makes them: the first has
    ceil(n / steps))."""
    return n_schools - -(-n_schools // steps)


def check_schools(cfg: TrialConfig, n_schools: int) -> list[tuple[str, str]]:
    """Problems with the number of schools for the design (also run once the trust is built)."""
    r = cfg.randomise
    if r.unit == "schools":
        if r.share_treated is None:  # _resolve sets it for every unit but stepped_wedge
            raise ValueError("check_schools needs a resolved trial (share_treated set)")
        n_t = treated_count(n_schools, r.share_treated)
        if min(n_t, n_schools - n_t) < 2:
            return [("randomise.share_treated", f"with {plural(n_schools, 'school')} and "
                     f"share_treated {r.share_treated}, {n_t} would be treated and "
                     f"{n_schools - n_t} not; a school-randomised trial needs at least 2 "
                     "schools in each arm")]
    if r.unit == "stepped_wedge" and r.steps is not None and n_schools < max(r.steps, 2):
        return [("randomise.steps", f"{r.steps} steps need at least {max(r.steps, 2)} schools; "
                 f"the trust has {n_schools}")]
    if (r.unit == "stepped_wedge" and r.steps is not None
            and cfg.analysis.method == "group_time" and n_schools < 2 * r.steps):
        # every group crosses over into some period with the not-yet-crossed groups as its
        # controls; a group of one school leaves that comparison, and so every replication's
        # aggregate, without a standard error (did_group_time), and the trial without coverage
        fix = (f"use at most {plural(n_schools // 2, 'step')}" if n_schools >= 4
               else "use a trust of at least 4 schools")
        return [("randomise.steps", f"analysis group_time compares each group of schools that "
                 f"crosses over with those not yet crossed, and a group of one school has no "
                 f"standard error: {n_schools} schools in {r.steps} steps leave a group of one; "
                 f"{fix}, or analysis.method "
                 f"{'twfe or ' if _not_yet_crossed(n_schools, r.steps) >= 2 else ''}mixed")]
    if (r.unit == "stepped_wedge" and r.steps is not None and cfg.analysis.method == "twfe"
            and _not_yet_crossed(n_schools, r.steps) < 2):
        # the schools not yet crossed when the first group crosses are twfe's comparison: in one
        # school, did_twfe refuses its cluster-robust SE (it covered 55%), every replication
        later = _not_yet_crossed(n_schools, r.steps)
        return [("randomise.steps", f"analysis twfe compares the schools that cross over first "
                 f"with those not yet crossed: {n_schools} schools in {r.steps} steps leave "
                 f"{plural(later, 'school')} not yet crossed, and at least 2 are needed for a "
                 "cluster-robust standard error; "
                 + ("use 3 steps or " if n_schools == 3 else "use ")
                 + "a trust of at least 4 schools, or analysis.method mixed")]
    a = cfg.analysis
    if r.unit == "students" and n_schools < 2 and (
            a.method in ("mixed", "gee") or a.se in ("auto", "cluster", "cr2")):
        # students randomised in a one-school trust (each valid alone): an analysis over
        # schools, a random effect or a cluster-robust SE, has one cluster, and every
        # replication failed after validate called the trial valid
        key, how = (("analysis.method", f"method {a.method}, which models schools as "
                     "clusters,") if a.method in ("mixed", "gee")
                    else ("analysis.se", f"se {a.se}, robust to clustering by school,"))
        return [(key, f"{how} needs at least 2 schools, and the trust has "
                 f"{plural(n_schools, 'school')}: every replication would fail; use method ols "
                 "with se: hc1 or classical, or a trust of at least 2 schools")]
    if r.unit == "students" and r.block == "none" and n_schools < 1:  # pragma: no cover
        return [("randomise.block", "the trust has no schools")]
    return []


def check_built_blocks(cfg: TrialConfig, cohort_sizes: list[int], n_year_groups: int,
                       years: int) -> list[tuple[str, str]]:
    """:func:`check_strata` on the trust as built: every block of students randomised together
    (each school's roll at the start, or the trust's with ``block: none``, and each September
    intake in a run of more than one year) needs a treated and a control student. A trust from
    real records has its school sizes only once they are read; the message names no size, as
    a count of real pupils under 10 is never printed."""
    r = cfg.randomise
    if r.unit != "students" or r.share_treated is None:
        return []
    share = r.share_treated
    cohorts = [int(sum(cohort_sizes))] if r.block == "none" else [int(c) for c in cohort_sizes]
    bad = [c for c in cohorts if _single_arm_blocks([c], share, n_year_groups, years)]
    if not bad:
        return []
    where = ("the trust's roll" if r.block == "none" else
             f"{len(bad)} of the {len(cohorts)} schools")
    return [("randomise.share_treated", f"{share:g} leaves {where} (a block of students "
             "randomised together, at the start or at a September intake) with no treated or "
             "no control student, so every replication would fail; use a share nearer 0.5"
             + ("" if r.block == "none" else ", or randomise across the trust (block: none)"))]


def _single_arm_blocks(cohorts: list[int], share: float, n_year_groups: int,
                       years: int) -> list[int]:
    """Sizes of the blocks that ``share`` leaves without a treated or a control student: each
    school's (or the trust's) roll at the start, ``cohort x n_year_groups`` students, and in a
    run of more than one year each September intake, ``cohort`` students."""
    blocks = [c * n_year_groups for c in cohorts] + (list(cohorts) if years > 1 else [])
    return [b for b in blocks if not 0 < treated_count(b, share) < b]


def treated_count(n: int, share: float) -> int:
    """Units treated out of ``n`` for a share: rounded half up, so 0.5 of 5 treats 3.

    Worked on the share as written (its shortest decimal, ``repr``), not on its binary float:
    0.35 is stored as 0.34999..., so ``0.35 * 90 + 0.5`` fell just short of 32 and 31 of 90
    schools were treated where the allocation list gives 32."""
    return int(Decimal(repr(float(share))) * n + Decimal("0.5"))


@dataclass
class Trial:
    """A validated trial: its resolved settings and the scenario (with the policy) it runs."""

    config: TrialConfig
    scenario: Scenario
    source: str
    #: the --set values merged into the file's overrides, for the resume command in messages
    settings: dict[str, Any] = field(default_factory=dict)
    #: SHA-256 of the pupil records the trust is built from (``records:<path>``), read once:
    #: the same path re-imported with other pupils is another trial, so ``--resume`` refuses
    #: to mix runs of two trusts
    input_files: dict[str, str] = field(default_factory=dict)

    @property
    def from_records(self) -> bool:
        """The trust is built from real pupil records: the trial's outputs are private."""
        return bool(self.scenario.population.records)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def unit(self) -> str:
        return self.config.randomise.unit

    @property
    def replications(self) -> int:
        return self.config.replications

    @property
    def root_seed(self) -> int:
        return self.config.seed if self.config.seed is not None else self.scenario.seed

    def seeds(self, n: int | None = None) -> list[int]:
        """Replication i's seed (``SeedSequence(root).spawn``): adding replications keeps the
        first ones unchanged."""
        return replication_seeds(self.root_seed, self.replications if n is None else n)

    def counterfactual(self) -> Scenario:
        """The same world without the policy: every student's untreated outcome."""
        return self.scenario.with_overrides({"policy": None}, self.source)

    def describe(self) -> str:
        c, r, a = self.config, self.config.randomise, self.config.analysis
        if r.unit == "students":
            design = (f"students randomised ({given_percent(r.share_treated)} treated"
                      f"{', within schools' if r.block == 'school' else ''})")
        elif r.unit == "schools":
            # the count too: 0.5 of 5 schools treats 3 (60%), which "50% treated" hid
            n = self.scenario.trust.n_schools
            count = ("" if self.from_records or r.share_treated is None else
                     f": {treated_count(n, r.share_treated)} of {plural(n, 'school')}")
            design = f"schools randomised ({given_percent(r.share_treated)} treated{count})"
        else:
            steps, weeks = r.steps or 0, r.step_weeks or 0  # set for a stepped wedge
            design = (f"stepped wedge: {plural(steps, 'group')} of schools "
                      f"{agree(steps, 'crosses', 'cross')} over every "
                      f"{agree(weeks, 'week', f'{weeks} weeks')}")
        se = f", se {self._se_shown()}" if a.se and r.unit != "stepped_wedge" else ""
        if r.unit == "stepped_wedge" and a.method == "twfe":  # chosen as se auto is
            se = f", se {self._se_shown('auto')}"
        base = f", adjusted for {c.baseline}" if c.baseline else ""
        return (f"{c.name}: {design}; outcome {outcome_label(c.outcome)} ({c.population} "
                f"students{base}); analysis {a.method}{se}")

    def notes(self) -> list[str]:
        """What a valid trial file may not mean, said when it loads (validate, trial): a naive
        check whose ``post`` is in another unit than the outcome's is reported in its own unit
        and left off the estimate's figure, which nothing said until the report."""
        from srmsim.experiment.outcomes import COLUMN_SCALES, UNIT_TEXT

        c = self.config
        if c.naive is None:
            return []
        post, outcome = (COLUMN_SCALES.get(col, "number") for col in (c.naive.post, c.outcome))
        if post == outcome:
            return []

        def unit(scale: str) -> str:
            return UNIT_TEXT.get(scale) or "a unit of its own"

        return [f"naive.post {c.naive.post!r} is in {unit(post)}, the outcome {c.outcome!r} in "
                f"{unit(outcome)}: the naive rows are printed in naive.post's unit and left off "
                "the estimate-against-truth figure"]

    def se_gloss(self) -> str:
        """The header's standard errors in plain words ("" when it names none): "se auto: CR2
        with Bell-McCaffrey df" was the whole explanation, which a teacher cannot read. Said
        after :meth:`describe` (the design trial.json records is unchanged)."""
        from srmsim.stats._inference import CR2_BELOW, cluster_se_for

        c, r, a = self.config, self.config.randomise, self.config.analysis
        se: str | None = "auto" if r.unit == "stepped_wedge" and a.method == "twfe" else a.se
        if not se or (r.unit == "stepped_wedge" and a.method != "twfe"):
            return ""
        if se == "auto":
            if self.from_records:
                return (f"{_GLOSS['cr2']} (below {CR2_BELOW} schools; from {CR2_BELOW}, "
                        f"{_GLOSS['cluster']})")
            se = cluster_se_for(self.scenario.trust.n_schools)
        if c.analysis.method == "gee":
            return _GLOSS["gee_" + se] if "gee_" + se in _GLOSS else ""
        if c.analysis.method == "mixed":
            return _GLOSS["mixed"]
        return _GLOSS.get(se, "")

    def _se_shown(self, se: str | None = None) -> str:
        """``se: auto`` as the choice it makes for this trust (the count of schools analysed
        decides in each replication; it is the trust's unless records set it). ``se``: the
        setting shown (by default the trial's analysis.se; a stepped wedge's twfe is auto)."""
        from srmsim.stats._inference import CR2_BELOW, cluster_se_for

        se = self.config.analysis.se if se is None else se
        few = self.from_records or self.scenario.trust.n_schools < CR2_BELOW
        if self.config.randomise.unit == "schools" and few:
            # chosen by the file, measured (500 zero-effect trials each, 20-40 pupils a year
            # group): too narrow with few schools, and nothing else says so when it runs
            where = (f" (fewer than {CR2_BELOW})" if self.from_records
                     else f", {plural(self.scenario.trust.n_schools, 'school')} here")
            if se == "cluster" and self.config.analysis.method == "ols":
                return (f"cluster (CR1 with t(G - 1): its interval is too narrow with few "
                        f"schools{where}; it rejected a true 0 in 15% of trials of 4 schools "
                        f"and 10% of 6; se auto uses CR2 below {CR2_BELOW})")
            if se == "classical" and self.config.analysis.method == "gee":
                return ("classical (GEE model-based with t(G - 1): its interval is too narrow "
                        f"with few schools{where}; it rejected a true 0 in 10-12% of trials of 4 "
                        "to 10 schools; the robust default, se hc1, did not)")
        if se != "auto":
            return str(se)
        if self.from_records:
            return (f"auto (CR2 with Bell-McCaffrey df below {CR2_BELOW} schools, else CR1 with "
                    "t(G - 1))")
        n = self.scenario.trust.n_schools
        if cluster_se_for(n) == "cr2":
            return (f"auto: CR2 with Bell-McCaffrey df ({plural(n, 'school')}, fewer than "
                    f"{CR2_BELOW}; CR1 from {CR2_BELOW})")
        return f"auto: CR1 with t(G - 1) ({plural(n, 'school')}; CR2 below {CR2_BELOW})"

    def to_payload(self) -> dict[str, Any]:
        """Everything a worker needs, as plain data (no file access). With the records'
        SHA-256 (``input_files``): without it the rebuilt trial's :meth:`digest` differed."""
        return {"config": self.config.model_dump(mode="json"), "scenario": self.scenario.to_dict(),
                "source": self.source, "input_files": dict(self.input_files)}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Trial:
        config = TrialConfig.model_validate(payload["config"])
        scenario = scenario_from_dict(payload["scenario"], payload["source"])
        return cls(config, scenario, payload["source"],
                   input_files=dict(payload.get("input_files") or {}))

    def digest(self) -> str:
        return trial_digest(self.config.model_dump(mode="json"), self.scenario.digest(),
                            self.input_files)


def trial_digest(settings: Any, scenario_digest: str, input_files: Any = None) -> str:
    """A trial's identity from its settings (as trial.json keeps them), its resolved
    scenario's digest and its records' SHA-256 (trial.json's ``input_files``): what
    trial.json's ``trial_hash`` records, so a report can check a folder's scenario.yaml
    against it. A trial without records hashes as before they counted."""
    data: dict[str, Any] = {"config": settings, "scenario": scenario_digest}
    if input_files:
        data["input_files"] = input_files
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def trial_from_dict(data: Any, source: str = "<trial>", base_dir: str | Path = ".",
                    overrides: dict[str, Any] | None = None,
                    replications: int | None = None) -> Trial:
    """Validate a trial mapping; ``scenario`` is relative to ``base_dir``.

    ``overrides`` (dotted scenario keys) are merged over the file's own, and ``replications``
    replaces the file's: handy in notebooks and tests (a smaller trust, fewer replications).
    """
    if not isinstance(data, dict):
        raise ScenarioError(source, "a trial must be a mapping of keys to values")
    data = plain_value(data)
    data = copy.deepcopy(data)
    if overrides:
        own = data.get("overrides") or {}
        if not isinstance(own, dict):
            raise ScenarioError(source, [("overrides", "must be a mapping of dotted scenario "
                                          "keys to values")])
        data["overrides"] = deep_merge(expand_dotted(own, source), expand_dotted(overrides, source))
    if replications is not None:
        data["replications"] = replications
    try:
        cfg = TrialConfig.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(source, [(p, m.removeprefix("Value error, "))
                                     for p, m in _problems(err, model=TrialConfig)]) from None
    if cfg.seed is not None and "seed" in expand_dotted(cfg.overrides or {}, source):
        # the replications' seeds come from the trial's own seed: this one changed nothing
        # while scenario.yaml recorded it
        given = "--set seed" if overrides and "seed" in expand_dotted(overrides, source) \
            else "overrides.seed"
        raise ScenarioError(source, [(given, "the trial's seed: gives every replication its "
                                      "seed, replacing the scenario's, so this seed would "
                                      "change nothing; set the trial's seed: instead")])
    path = (Path(base_dir) / cfg.scenario).resolve()
    try:
        base = load_scenario(path)
    except ScenarioError as err:
        raise ScenarioError(source, [("scenario", str(err))]) from None
    try:
        scenario = (base.with_overrides(cfg.overrides, source, base_dir=base_dir)
                    if cfg.overrides else base)
    except ScenarioError as err:
        raise ScenarioError(source, [(f"overrides.{p}" if p else "overrides", m)
                                     for p, m in err.problems]) from None
    problems = _resolve(cfg, scenario)
    if problems:
        raise ScenarioError(source, problems)
    from srmsim.experiment.spec import check_learning_installed, record_files

    # (each replication failed in turn: "2 failed (see trial_runs.csv, column error)")
    check_learning_installed({"trial": scenario}, source, key="scenario: ")

    return Trial(cfg, scenario, source, dict(overrides or {}), record_files({"trial": scenario}))


def load_trial(path: str | Path, overrides: dict[str, Any] | None = None,
               replications: int | None = None) -> Trial:
    """Load and validate a trial file (see :func:`trial_from_dict` for the keyword arguments)."""
    path = Path(path)
    data = refuse_empty(read_yaml(path), str(path), "trial")
    return trial_from_dict(data, str(path), path.parent, overrides=overrides,
                           replications=replications)
