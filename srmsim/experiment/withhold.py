"""What an experiment on real records (``population.records``) leaves out of its effects.

Why: every run of such an experiment copies the same pupils, and its effects printed a share
beside the trust's students ("Severe absence 0.6%" and "students in the trust (mean per run)
690": 4 students a run; effects.csv's ``mean_variant 0.005797...`` is 8/1380 over 2 runs). The
rule is a trial's on records (:func:`srmsim.trial.groups.withhold_small_groups`, its threshold
test :func:`srmsim.trial.groups._under`), applied to what an experiment keeps of a run (each
outcome's value and the run's students, not the students themselves): a share of students is
withheld where the students counted in it, or not counted, are under 10 per run on average
(the attacker's reckoning: the share times the students); a trust or group of under 10
students withholds every value. A row is withheld where its variant's value or its
baseline's is (the difference and the other mean give it back). A simulated experiment is
never passed through here: its effects are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from srmsim.experiment.outcomes import Outcome, get_outcome

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
        "that share, or not counted in it, or in its group, so the value would give their "
        "number away (docs/privacy.md)")


def student_share(o: Outcome) -> bool:
    """Whether ``o``'s values are shares of students (attendance is a share of sessions)."""
    return o.scale == "share" and o.name != "attendance"


def _small(values: list[float], threshold: int) -> bool:
    from srmsim.trial.groups import _under

    # a mean per run, whole students down (9.6 is under 10); unknown: as small
    values = [float(np.floor(max(v, 0.0))) if np.isfinite(v) else 0.0 for v in values]
    return bool(_under(np.asarray(values, dtype=float), threshold).any())


def small_values(values: pd.Series, students: pd.Series | None, o: Outcome,
                 threshold: int = 10, known_zero: bool = False) -> bool:
    """Whether the runs' ``values`` of ``o`` (one per run, over ``students`` per run) would
    give a count of under ``threshold`` students per run on average. ``known_zero``: a share
    of 0 everyone knows (nobody is served without a policy) stays."""
    if students is None:  # results of an older srmsim: the students are not known
        return student_share(o)
    n = pd.to_numeric(students, errors="coerce").to_numpy(dtype=float)
    if _small([float(np.mean(n)) if len(n) else 0.0], threshold):
        return True  # a trust or group of under 10 students: none of its values
    if not student_share(o):
        return False
    share = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(share)
    if not ok.any():
        return False  # nothing measured: nothing shown
    if known_zero and (share[ok] == 0).all():
        return False
    counted = float(np.mean(share[ok] * n[ok]))
    return _small([counted, float(np.mean(n[ok])) - counted], threshold)


def withhold_effects(effects: pd.DataFrame, runs: pd.DataFrame,
                     registry: Mapping[str, Outcome] | None = None,
                     known_zero: frozenset[str] = frozenset(), threshold: int = 10
                     ) -> pd.DataFrame:
    """``effects`` (compare_frame's rows) with the rows of small counts withheld: numbers
    empty, verdict :data:`WITHHELD`. ``known_zero``: the variants without a policy."""
    if effects.empty:
        return effects
    students = runs["students"] if "students" in runs.columns else None
    small: dict[tuple[str, str], bool] = {}

    def is_small(variant: str, outcome: str) -> bool:
        key = (variant, outcome)
        if key not in small:
            rows = (runs["variant"] == variant).to_numpy()
            o = get_outcome(outcome, registry)
            small[key] = small_values(
                runs.loc[rows, outcome], None if students is None else students[rows], o,
                threshold, known_zero=variant in known_zero and outcome == "students_served")
        return small[key]

    hide = np.array([is_small(str(r.variant), str(r.outcome))
                     or is_small(str(r.baseline), str(r.outcome))
                     for r in effects[["variant", "baseline", "outcome"]].itertuples()],
                    dtype=bool)
    return _blank(effects, hide)


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
                           threshold: int = 10) -> pd.DataFrame:
    """The group effects (``group`` and effects.csv's columns) with small counts withheld by
    the trial's partition rule: a group of under 10 students withholds its partition (both
    groups of a flag, every school); a share of under 10 students counted (or not) withholds
    that outcome in its partition for that variant, and in every group when the trust's row
    is withheld (``trust_hidden``: its ``(variant, outcome)`` pairs). ``detail``: the runs'
    group rows (``group, outcome, value, students, variant, replication``)."""
    from srmsim.trial.groups import _partitions

    if effects.empty:
        return effects
    labels = effects["group"].astype(str)
    parts = _partitions(labels)
    part_of = np.full(len(effects), -1)
    for i, mask in enumerate(parts):
        part_of[mask] = i
    small: dict[tuple[str, str, str], bool] = {}
    grouped = {k: g for k, g in detail.groupby(["group", "variant", "outcome"], sort=False)}
    for (group, variant, outcome), g in grouped.items():
        small[(str(group), str(variant), str(outcome))] = small_values(
            g["value"], g["students"], get_outcome(str(outcome), registry), threshold,
            known_zero=variant in known_zero and outcome == "students_served")
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
        hide[i] = ((v, o) in trust_hidden or (baseline, o) in trust_hidden
                   or p < 0 or (p, v, o) in hidden or (p, baseline, o) in hidden)
    return _blank(effects, hide)
