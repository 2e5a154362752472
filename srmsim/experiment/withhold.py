"""What an experiment on real records (``population.records``) leaves out of its effects.

Why: every run of such an experiment copies the same pupils, and its effects printed a share
beside the trust's students ("Severe absence 0.6%" and "students in the trust (mean per run)
690": 4 students a run; effects.csv's ``mean_variant 0.005797...`` is 8/1380 over 2 runs). The
rule is a trial's on records (:func:`srmsim.trial.groups.withhold_small_groups`, its threshold
test :func:`srmsim.trial.groups.under_threshold`), applied to what an experiment keeps of a run (each
outcome's value and the run's students, not the students themselves): a share of students is
withheld where the students counted in it, or not counted, are under 10 per run on average
(the attacker's reckoning: the share times the students); a rate per student (referrals or
actions per 100 students, incidents per student, a user-defined mean of a whole-number score)
is withheld where the count it gives (the rate times the students) is under 10 per run; staff
hours and cost (a fixed price per action a week, summed) where the actions they are of, or
the action-weeks, or the actions or weeks of any one priced kind of action (two kinds priced
differently: the hours and the cost give each kind's weeks), are under 10 per run
(:func:`priced`); a user-defined share or mean of ``count()`` where the conditions the study
counts split the pupils into a part of 1 to 9, or a condition is met or unmet by under 10
(:func:`small_parts`: two such values differenced give a part); the inner share of a nested
pair published beside its outer (severe absence beside persistent absence: the difference
times the pupils is those between, :data:`srmsim.experiment.parts.NESTED`) where the pair's
parts are so few; a trust or group of under 10 students withholds every value. A row
is withheld where its variant's value or its baseline's is (the difference and the other mean
give it back). A simulated experiment is never passed through here: its effects are
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from srmsim.experiment.outcomes import (
    ACTION_WEEKS,
    ACTIONS,
    KIND_LEAST,
    RESOURCES,
    Outcome,
    get_outcome,
)
from srmsim.experiment.parts import BETWEEN_EMPTY, BETWEEN_FEWEST, EMPTY, FEWEST, nested_inner

#: the verdict of a withheld row (its numbers are empty in effects.csv, ``low`` when printed)
WITHHELD = "withheld"
#: how a withheld number prints (docs/privacy.md's symbols, as the run report shows them)
LOW = "low"
#: the columns of an effects row that a withheld row leaves empty
NUMBERS = ("mean_variant", "mean_baseline", "difference", "ci_low", "ci_high", "half_width",
           "relative_change", "relative_low", "relative_high", "sd_paired",
           "variance_reduction")
#: the one note a table with withheld rows prints
NOTE = ("a value shown as low is withheld: the trust is built from real pupil records "
        "(population.records), and under 10 students per run (on average) are counted in "
        "that share, or not counted in it, or in its group, or that rate per student gives "
        "under 10 referrals, actions or incidents a run, or the staff hours or cost are of "
        "under 10 actions a run, or of under 10 weeks of action a run (in all, or of one "
        "kind of action), or that user-defined count, or that share beside the share it "
        "is part of (severe beside persistent absence), gives under 10 "
        "pupils (or of a number an older "
        "srmsim did not keep), so the value "
        "would give their number away (docs/privacy.md)")

#: what the note adds when a share of referrals (:func:`referral_share`) is withheld
REFERRAL_NOTE = ("; a share of referrals (the oracle match, the share explored) is withheld "
                 "whole: how many referrals it is of is not kept")

#: built-in shares of one group's students (not the trust's), by that group's label
GROUP_SHARES = {"persistent_absence_fsm": "FSM"}

#: a rate per student by its scale: times the students and this factor, it is a count per run
#: (referrals per 100 students: 39.7 of 690 students is 274 referrals)
PER_STUDENT = {"per100": 0.01, "count": 1.0}

#: outcomes that are 0 in a variant without a policy, as everyone knows (nobody is served,
#: referred or given an action): a 0 there stays
POLICY_COUNTS = frozenset({"students_served", "referrals", "interventions"})


def referral_share(name: str) -> bool:
    """Whether outcome (or learning-curve measure) ``name`` is a share of a run's referrals
    given a choice (the oracle match, the share explored), not of its students: how many
    referrals a run made is not kept, and a share of a few gives its count away (0.4285714286
    is 3 of 7), so on records it is withheld whole."""
    return name.startswith("oracle_match") or name == "explore_share"


def student_share(o: Outcome) -> bool:
    """Whether ``o``'s values are shares of students (attendance is a share of sessions)."""
    return o.scale == "share" and o.name != "attendance"


def unknown_base(definitions: object) -> frozenset[str]:
    """The user-defined outcomes (a manifest's ``outcome_definitions``) whose students cannot
    be known from what an experiment keeps: a count or sum (of students, perhaps), a
    statistic of the students ``where`` picks (one school's 6), a mean that gives a count
    (:func:`count_rates`) of a score some students have no value of (``first_flag_week``,
    missing for those never referred: the mean is over the others, how many not kept), or a
    percentile of what actions cost (``staff_minutes``, ``cost``: one or two pupils' spending,
    a price a week times their weeks of action, and the weight between them places where
    the spending starts, so how many pupils were given any), or of a whole-number score or a
    multiple of one plus a constant (``interventions``, ``incidents / 2``, ``count(a, b)``:
    the 90th of 20 pupils, 18 of them 0 and two 1, is 0.1 of the way from 0 to 1, which
    places the zeros' end; several percentiles pin it): withheld whole on records."""
    if not isinstance(definitions, list):
        return frozenset()
    return frozenset(str(d.get("name")) for d in definitions if isinstance(d, dict) and (
        d.get("statistic") in ("count", "sum") or d.get("where") or d.get("minus_where"))) \
        | _custom_rates(definitions)[1]


def custom_counts(definitions: object) -> frozenset[str]:
    """The user-defined outcomes that count conditions over every pupil (a ``share``, a
    ``mean`` of ``count()``): withheld where the parts their conditions make are few
    (:func:`small_parts`)."""
    return _custom_rates(definitions)[4]


def custom_priced(definitions: object) -> frozenset[str]:
    """The user-defined means of what actions cost (an expression reading ``staff_minutes``
    or ``cost``): their mean times the students is the trust's staff time or cost, so they
    are withheld as staff hours and cost are (:func:`priced`)."""
    return _custom_rates(definitions)[2]


def custom_shares(definitions: object) -> frozenset[str]:
    """The user-defined shares of the trust's students (statistic ``share``, whatever their
    scale prints, or a ``mean`` of ``count()`` of one condition, 1 or 0 a student)."""
    if not isinstance(definitions, list):
        return frozenset()
    return frozenset(str(d.get("name")) for d in definitions
                     if isinstance(d, dict) and d.get("statistic") == "share") \
        | _custom_rates(definitions)[3]


#: how a rate's value gives a count: ``(factor, offset)``, the count per run being the value
#: less ``offset``, times the students and ``factor``
Line = tuple[float, float]


def count_rates(definitions: object) -> dict[str, tuple[Line, ...]]:
    """Each user-defined outcome's ways (:data:`Line`) from its value to a count per run (none:
    it is not a rate per student): a ``mean`` printed per 100 students (factor 0.01) or per
    student (1), or the mean of a constant multiple of a whole-number score plus a constant
    (``incidents``: 1; ``incidents / 2``: factor 2; ``3 * referrals + 1``: offset 1, factor
    1/3), and of ``count()`` of several conditions also its complement (``count(a, b)``:
    offset 2, the conditions not met). A ``percentile`` is not a rate; a statistic with
    ``where`` is withheld whole (:func:`unknown_base`)."""
    return _custom_rates(definitions)[0]


def _custom_rates(definitions: object) -> tuple[dict[str, tuple[Line, ...]], frozenset[str],
                                                frozenset[str], frozenset[str], frozenset[str]]:
    """:func:`count_rates`, the means among them over the students with a value, whose
    number is not kept (:meth:`srmsim.experiment.custom.CustomOutcome.every_student`), with
    the percentiles of what actions cost (:func:`unknown_base`), the
    means of what actions cost (:func:`custom_priced`), the means that are shares of the
    students (:func:`custom_shares`) and those that count conditions (:func:`custom_counts`)."""
    if not isinstance(definitions, list):
        return {}, frozenset(), frozenset(), frozenset(), frozenset()
    from srmsim.errors import RuleError
    from srmsim.experiment.custom import CustomOutcome, CustomOutcomeConfig

    out: dict[str, tuple[Line, ...]] = {}
    partial: set[str] = set()
    spent: set[str] = set()
    shares: set[str] = set()
    counting: set[str] = set()
    for d in definitions:
        if not isinstance(d, dict):
            continue
        try:
            config = CustomOutcomeConfig.model_validate(d)
            rule = CustomOutcome(config)
        except (ValueError, RuleError):  # (a definition the registry could not build): a count
            out[str(d.get("name"))] = ((1.0, 0.0),)
            continue
        if rule.conditions():
            counting.add(config.name)
        lines: list[Line] = []
        if config.statistic == "mean" and not config.where:
            if config.scale in PER_STUDENT:
                lines.append((PER_STUDENT[config.scale], 0.0))
            line = rule.count_line()
            if line is not None:
                lines.append((1.0 / line[0], line[1]))
            if rule.of.conditions_counted > 1:  # count(a, b): the conditions not met too
                lines.append((1.0, float(rule.of.conditions_counted)))
            if lines and not rule.every_student():
                partial.add(config.name)
            if set(rule.of.fields) & PRICE_FIELDS:
                spent.add(config.name)
            if rule.of.indicator:
                shares.add(config.name)
        elif config.statistic == "percentile" and (
                set(rule.of.fields) & PRICE_FIELDS or rule.whole_numbers()
                or rule.count_line() is not None):
            # one pupil's spending, or one or two pupils' whole-number score, interpolated:
            # the weight between them says where the zeros end (withheld whole: unknown_base)
            partial.add(config.name)
        out[config.name] = tuple(lines)
    return out, frozenset(partial), frozenset(spent), frozenset(shares), frozenset(counting)


def rate_lines(o: Outcome, rates: Mapping[str, tuple[Line, ...]]) -> tuple[Line, ...]:
    """``o``'s ways from a value to a count per run: a user-defined outcome's from ``rates``
    (:func:`count_rates`), a built-in's from its scale."""
    if o.name in rates:
        return rates[o.name]
    return ((PER_STUDENT[o.scale], 0.0),) if o.scale in PER_STUDENT else ()


def _small(values: list[float], threshold: int) -> bool:
    from srmsim.trial.groups import under_threshold

    # a mean per run, whole students down (9.6 is under 10); unknown: as small
    values = [float(np.floor(max(v, 0.0))) if np.isfinite(v) else 0.0 for v in values]
    return bool(under_threshold(np.asarray(values, dtype=float), threshold).any())


def small_values(values: pd.Series, students: pd.Series | None, o: Outcome,
                 threshold: int = 10, known_zero: bool = False, share: bool = False,
                 per_student: tuple[Line, ...] = ()) -> bool:
    """Whether the runs' ``values`` of ``o`` (one per run, over ``students`` per run) would
    give a count of under ``threshold`` students per run on average. ``known_zero``: a value
    of 0 everyone knows (nobody is served without a policy) stays; ``share``: ``o`` is a
    share of students whatever its scale; ``per_student``: ``o`` is a rate per student whose
    value (less each line's offset) times the students and its factor is a count (referrals,
    actions, incidents), small under ``threshold`` a run by any line (:func:`rate_lines`)."""
    share_of_students = share or student_share(o)
    lines = () if share_of_students else per_student
    if students is None:  # results of an older srmsim: the students are not known
        return share_of_students or bool(lines)
    n = pd.to_numeric(students, errors="coerce").to_numpy(dtype=float)
    if _small([float(np.mean(n)) if len(n) else 0.0], threshold):
        return True  # a trust or group of under 10 students: none of its values
    if not share_of_students and not lines:
        return False
    shares = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(shares)
    if not ok.any():
        return False  # nothing measured: nothing shown
    if known_zero and (shares[ok] == 0).all():
        return False
    if lines:  # a count of events: the count itself, of either sign
        return _small([abs(float(np.mean((shares[ok] - offset) * n[ok])) * factor)
                       for factor, offset in lines], threshold)
    counted = float(np.mean(shares[ok] * n[ok]))
    return _small([counted, float(np.mean(n[ok])) - counted], threshold)


#: the students columns of what each student's actions cost (a price per action, summed)
PRICE_FIELDS = frozenset({"staff_minutes", "cost"})

#: the learning loop's gains per 100 staff hours of the whole trust: not a count (a gain over
#: hours), but undefined where no hour was spent, which says no action was started
PER_HOUR = frozenset({"reading_per_100h", "attainment_per_100h", "attendance_per_100h"})


def priced(name: str) -> bool:
    """Whether outcome ``name`` is a fixed price times a run's actions, or per 100 of its staff
    hours (:data:`PER_HOUR`): staff hours and cost are a price per action summed over the
    actions (the policy's catalogue, ``srmsim rules --actions``), so with one kind of action
    the hours over one action's give how many. Withheld where the actions are under 10 a
    run (:func:`small_actions`)."""
    return name in RESOURCES or name in PER_HOUR


def hours_unknown(name: str) -> bool:
    """Whether ``name`` is a learning gain per 100 staff hours of a group or a term
    (``reading_per_100h_fsm``, ``_t2``): the actions of those hours are not kept, and a value
    that is undefined says there were none, so on records it is withheld whole."""
    return "_per_100h_" in name


def small_actions(actions: pd.Series | None, values: pd.Series, threshold: int = 10,
                  known_zero: bool = False, weeks: pd.Series | None = None,
                  kinds: pd.Series | None = None) -> bool:
    """Whether a priced outcome's ``values`` (:func:`priced`, one per run) are of under
    ``threshold`` ``actions`` per run on average (the run rows' or group rows' count,
    :data:`srmsim.experiment.outcomes.ACTIONS`), or of under ``threshold`` action-weeks
    (``weeks``, :func:`srmsim.experiment.outcomes.action_weeks`: the hours over a week's
    price), or of under ``threshold`` actions or weeks of some one priced kind of action
    (``kinds``, :data:`srmsim.experiment.outcomes.KIND_LEAST`: with two kinds priced
    differently the hours and the cost give each kind's weeks); any None (results of an
    older srmsim, which did not keep it): withheld. ``known_zero``: a variant without a
    policy, whose 0 hours and cost (no action) everyone knows."""
    if actions is None or weeks is None or kinds is None:
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        return not (known_zero and ((v == 0) | np.isnan(v)).all())
    a = pd.to_numeric(actions, errors="coerce").to_numpy(dtype=float)
    if known_zero and len(a) and (a == 0).all():
        return False
    w = pd.to_numeric(weeks, errors="coerce").to_numpy(dtype=float)
    k = pd.to_numeric(kinds, errors="coerce").to_numpy(dtype=float)
    # each run's fewest of a kind, averaged: at most the average of any one kind's
    return _small([float(np.mean(x)) if len(x) else 0.0 for x in (a, w, k)], threshold)


def small_parts(fewest: pd.Series | None, empty: pd.Series | None,
                threshold: int = 10) -> bool:
    """Whether a count-like user-defined outcome (:func:`custom_counts`) is of few pupils by
    the parts its study's conditions make (:mod:`srmsim.experiment.parts`), over its runs
    (or a group's rows): the fewest of a condition, not of it, or of a part not empty under
    ``threshold`` on average (each run's fewest averaged: at most any one part's average), or
    a part empty in some runs and not in others; not kept (an older srmsim): withheld."""
    if fewest is None or empty is None:
        return True
    f = pd.to_numeric(fewest, errors="coerce").to_numpy(dtype=float)
    e = pd.to_numeric(empty, errors="coerce").to_numpy(dtype=float)
    if not len(f) or not np.isfinite(e).all() or len(np.unique(e)) > 1:
        return True
    return _small([float(np.mean(f))], threshold)


def withhold_effects(effects: pd.DataFrame, runs: pd.DataFrame,
                     registry: Mapping[str, Outcome] | None = None,
                     known_zero: frozenset[str] = frozenset(), threshold: int = 10,
                     definitions: object = None, detail: pd.DataFrame | None = None
                     ) -> pd.DataFrame:
    """``effects`` (compare_frame's rows) with the rows of small counts withheld: numbers
    empty, verdict :data:`WITHHELD`. ``known_zero``: the variants without a policy;
    ``definitions``: the user-defined outcomes (:func:`unknown_base`); ``detail``: the runs'
    group rows, whose group sizes a share of a group's students (:data:`GROUP_SHARES`) is
    a share of (without them such a share is withheld)."""
    if effects.empty:
        return effects
    is_small = small_test(runs, registry, known_zero, threshold, definitions, detail)
    hide = np.array([is_small(str(r.variant), str(r.outcome))
                     or is_small(str(r.baseline), str(r.outcome))
                     for r in effects[["variant", "baseline", "outcome"]].itertuples()],
                    dtype=bool)
    return _blank(effects, hide)


def withhold_blank(effects: pd.DataFrame, marked: np.ndarray | None = None) -> pd.DataFrame:
    """``effects`` computed from files that blank what they withhold (a trial's
    trial_groups.csv from real records), each row without a difference marked
    :data:`WITHHELD`: the trial report showed such a row "not measured", where an
    experiment's report shows ``low``. ``marked``: the rows whose blanks the file says were
    withheld (the others stay "not measured"); None, a file that does not say: every one."""
    if effects.empty:
        return effects
    blank = effects["difference"].isna().to_numpy()
    return _blank(effects, blank if marked is None else blank & np.asarray(marked, dtype=bool))


def small_test(runs: pd.DataFrame, registry: Mapping[str, Outcome] | None,
                known_zero: frozenset[str], threshold: int, definitions: object,
                detail: pd.DataFrame | None) -> Callable[[str, str], bool]:
    """Whether a variant's value of an outcome, over its ``runs``, gives a count of under
    ``threshold`` students (:func:`small_values`; the arguments as :func:`withhold_effects`'s)."""
    students = runs["students"] if "students" in runs.columns else None
    actions = runs[ACTIONS] if ACTIONS in runs.columns else None
    weeks = runs[ACTION_WEEKS] if ACTION_WEEKS in runs.columns else None
    kinds = runs[KIND_LEAST] if KIND_LEAST in runs.columns else None
    fewest = runs[FEWEST] if FEWEST in runs.columns else None
    empty = runs[EMPTY] if EMPTY in runs.columns else None
    nested = nested_inner(runs.columns)
    pair_fewest = runs[BETWEEN_FEWEST] if BETWEEN_FEWEST in runs.columns else None
    pair_empty = runs[BETWEEN_EMPTY] if BETWEEN_EMPTY in runs.columns else None
    counting = custom_counts(definitions)
    whole, shares = unknown_base(definitions), custom_shares(definitions)
    rates, spent = count_rates(definitions), custom_priced(definitions)
    small: dict[tuple[str, str], bool] = {}

    def base(rows: np.ndarray, outcome: str) -> pd.Series | None:
        if outcome not in GROUP_SHARES:
            return None if students is None else students[rows]
        if detail is None:
            return None
        g = detail[detail["group"] == GROUP_SHARES[outcome]]
        size = g.groupby(["variant", "replication"])["students"].first()
        keys = pd.MultiIndex.from_frame(runs.loc[rows, ["variant", "replication"]])
        return pd.Series(size.reindex(keys).to_numpy(dtype=float))  # NaN: unknown, small

    def is_small(variant: str, outcome: str) -> bool:
        key = (variant, outcome)
        if key not in small:
            rows = (runs["variant"] == variant).to_numpy()
            o = get_outcome(outcome, registry)
            n = base(rows, outcome)
            values = runs.loc[rows, outcome].reset_index(drop=True)
            small[key] = outcome in whole or referral_share(outcome) \
                or hours_unknown(outcome) \
                or (outcome in GROUP_SHARES and n is None) \
                or small_values(values, None if n is None else n.reset_index(drop=True), o,
                                threshold, known_zero=variant in known_zero
                                and outcome in POLICY_COUNTS,
                                share=outcome in shares, per_student=rate_lines(o, rates)) \
                or ((priced(outcome) or outcome in spent) and small_actions(
                    None if actions is None else actions[rows], values, threshold,
                    known_zero=variant in known_zero,
                    weeks=None if weeks is None else weeks[rows],
                    kinds=None if kinds is None else kinds[rows])) \
                or (outcome in counting and small_parts(
                    None if fewest is None else fewest[rows],
                    None if empty is None else empty[rows], threshold)) \
                or (outcome in nested and small_parts(
                    None if pair_fewest is None else pair_fewest[rows],
                    None if pair_empty is None else pair_empty[rows], threshold))
        return small[key]

    return is_small


def _blank(effects: pd.DataFrame, hide: np.ndarray) -> pd.DataFrame:
    if not hide.any():
        return effects
    out = effects.copy()
    out.loc[hide, list(NUMBERS)] = np.nan
    out["verdict"] = out["verdict"].astype(object)
    out.loc[hide, "verdict"] = WITHHELD
    out.attrs.update(effects.attrs)
    return out


def withhold_group_effects(effects: pd.DataFrame, detail: pd.DataFrame, baseline: str,
                           registry: Mapping[str, Outcome] | None = None,
                           known_zero: frozenset[str] = frozenset(),
                           trust_hidden: frozenset[tuple[str, str]] = frozenset(),
                           threshold: int = 10, definitions: object = None) -> pd.DataFrame:
    """The group effects (``group`` and effects.csv's columns) with small counts withheld by
    the trial's partition rule: a group of under 10 students withholds its partition (both
    groups of a flag, every school); a share of under 10 students counted (or not) withholds
    that outcome in its partition for that variant, and in every group when the trust's row
    is withheld (``trust_hidden``: its ``(variant, outcome)`` pairs). ``detail``: the runs'
    group rows (``group, outcome, value, students, variant, replication``). A share of a
    group's students (:data:`GROUP_SHARES`) or a user-defined outcome of unknown students
    (:func:`unknown_base`) is withheld in every group: its students there are not known."""
    from srmsim.trial.groups import partitions

    if effects.empty:
        return effects
    labels = effects["group"].astype(str)
    parts = partitions(labels)
    part_of = np.full(len(effects), -1)
    for i, mask in enumerate(parts):
        part_of[mask] = i
    whole = unknown_base(definitions) | frozenset(GROUP_SHARES)
    shares, rates = custom_shares(definitions), count_rates(definitions)
    spent, counting = custom_priced(definitions), custom_counts(definitions)
    nested = nested_inner(set(detail["outcome"].astype(str)))
    small: dict[tuple[str, str, str], bool] = {}
    grouped = {k: g for k, g in detail.groupby(["group", "variant", "outcome"], sort=False)}
    for (group, variant, outcome), g in grouped.items():
        entry = get_outcome(str(outcome), registry)
        small[(str(group), str(variant), str(outcome))] = small_values(
            g["value"], g["students"], entry, threshold,
            known_zero=variant in known_zero and outcome in POLICY_COUNTS,
            share=outcome in shares, per_student=rate_lines(entry, rates)) or (
            (priced(str(outcome)) or outcome in spent) and small_actions(
                g[ACTIONS] if ACTIONS in g.columns else None, g["value"], threshold,
                known_zero=variant in known_zero,
                weeks=g[ACTION_WEEKS] if ACTION_WEEKS in g.columns else None,
                kinds=g[KIND_LEAST] if KIND_LEAST in g.columns else None)) or (
            outcome in counting and small_parts(g.get(FEWEST), g.get(EMPTY), threshold)) or (
            outcome in nested and small_parts(g.get(BETWEEN_FEWEST), g.get(BETWEEN_EMPTY),
                                              threshold))
    # which (partition, variant, outcome) are withheld; a group of few students: all of them
    hidden: set[tuple[int, str, str]] = set()
    group_part = dict(zip(labels, part_of, strict=True))
    for (group, variant, outcome), s in small.items():
        p = group_part.get(group, -1)
        if s and p >= 0:
            hidden.add((p, variant, outcome))
    hide = np.zeros(len(effects), dtype=bool)
    for i, r in enumerate(effects[["variant", "outcome"]].itertuples(index=False)):
        p = part_of[i]
        v, o = str(r.variant), str(r.outcome)
        hide[i] = ((v, o) in trust_hidden or o in whole or referral_share(o) or hours_unknown(o)
                   or p < 0 or (p, v, o) in hidden or (p, baseline, o) in hidden)
    return _blank(effects, hide)


def withhold_candidates(table: pd.DataFrame, variants: list[str], runs: pd.DataFrame,
                        outcomes: list[str], registry: Mapping[str, Outcome] | None = None,
                        threshold: int = 10, definitions: object = None,
                        detail: pd.DataFrame | None = None) -> pd.DataFrame:
    """An optimisation's candidates (trials.csv: one row a candidate, ``variants`` its runs'
    variant, each of ``outcomes`` its mean over ``runs``) with each mean that gives a count of
    under ``threshold`` students per run left empty (NaN), by :func:`withhold_effects`' rule.
    Why: trials.csv, pareto.csv and the printed front showed "Severe absence 0.4%" of a
    690-student trust, 3 students a run."""
    is_small = small_test(runs, registry, frozenset(), threshold, definitions, detail)
    out = table.copy()
    for outcome in outcomes:
        hide = np.array([is_small(v, outcome) for v in variants], dtype=bool)
        if hide.any():
            out[outcome] = out[outcome].astype(float).mask(hide)
    out.attrs.update(table.attrs)
    return out


def withhold_regret(regret: pd.DataFrame, runs: pd.DataFrame,
                    registry: Mapping[str, Outcome] | None = None, threshold: int = 10,
                    definitions: object = None, detail: pd.DataFrame | None = None
                    ) -> pd.DataFrame:
    """An optimisation's regret.csv (a policy's shortfall from the best policy in each
    replication) with an objective's regrets empty wherever some front policy's value of it
    is withheld (:func:`withhold_effects`' rule over ``runs``): the best in a replication
    is any policy, and a regret is the difference of two such counts."""
    if regret.empty:
        return regret
    is_small = small_test(runs, registry, frozenset(), threshold, definitions, detail)
    policies = [str(p) for p in regret["policy"].unique()]
    hidden = {str(o) for o in regret["objective"].unique()
              if any(is_small(p, str(o)) for p in policies)}
    hide = regret["objective"].astype(str).isin(hidden).to_numpy()
    if not hide.any():
        return regret
    out = regret.copy()
    out.loc[hide, ["mean_regret", "p90_regret", "max_regret"]] = np.nan
    return out


#: the note of a learning curve whose shares of referrals are withheld
CURVE_NOTE = ("a share of referrals (or a gain per 100 staff hours) shown as low is withheld: "
              "the trust is built from real pupil records (population.records), and how many "
              "referrals each share is of is not kept (nor how many actions a term's staff "
              "hours are of), so the value could give a count of under 10 away "
              "(docs/privacy.md)")


def withhold_curve(curve: pd.DataFrame) -> pd.DataFrame:
    """A learning curve (:func:`srmsim.experiment.learning.learning_curve`) of an experiment
    on real records: each point of a share of referrals (:func:`referral_share`) has its mean
    and interval empty (the curve printed the oracle match of a term's few referrals), and so
    has each gain per 100 staff hours of a term (:func:`hours_unknown`: undefined in a term
    without an action, and the term's actions are not kept)."""
    hide = curve["measure"].astype(str).map(
        lambda m: referral_share(m) or m in PER_HOUR).to_numpy(dtype=bool)
    if not hide.any():
        return curve
    out = curve.copy()
    out.loc[hide, ["mean", "ci_low", "ci_high"]] = np.nan
    return out
