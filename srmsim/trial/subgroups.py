"""Subgroup estimates of a trial: would the trial see that the policy works for some students
and not others?

Each replication analyses every subgroup (FSM or not, SEN or not, EAL or not, female or male)
with the trial's own pre-registered analysis restricted to the subgroup's rows
(:func:`srmsim.trial.analyse.fit_arms`: the same method, standard errors, clustering, school
fixed effects and baseline), next to the subgroup's true effect (mean over its analysed
treated-arm students of trial minus counterfactual outcome, as the trial's own truth). The
evidence of a *difference* between two subgroups is the test of interaction, not one subgroup
being significant and the other not: the trial's model on all analysed rows with the subgroup
and arm x subgroup added, whose arm x subgroup coefficient is the difference in effect (first
level minus second), with the analysis's own SE and df. Subgroup analyses are exploratory.

A subgroup with fewer than :data:`MIN_PER_ARM` analysed students in an arm, or (schools
randomised) fewer than 2 schools in an arm, is reported as too few, not estimated; with a trust
from real records neither group of such a factor is shown (no count, estimate, df or p-value:
with the trial's total each would give the small group's size), so nothing written gives a
count under 10 by any arithmetic. Stepped-wedge trials have no subgroup estimates (their
group-time analysis has no interaction test).

Nothing here draws a random number, so the trial's results are unchanged and the same seed
gives the same subgroup rows whatever runs them.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from srmsim.errors import SrmsimError
from srmsim.experiment.outcomes import format_difference
from srmsim.labels import given_percent, p_text, percent_of_runs
from srmsim.stats._inference import wilson
from srmsim.trial import groups
from srmsim.trial.spec import Trial

#: fewest analysed students of a subgroup in each arm for it to be estimated (and printed)
MIN_PER_ARM = 10
#: subgroup factors: students column, the label of its first level (True, or code "F"), the
#: label of the second; the interaction is first minus second
FACTORS: tuple[tuple[str, str, str], ...] = (
    ("fsm", "FSM", "not FSM"), ("sen", "SEN", "not SEN"), ("eal", "EAL", "not EAL"),
    ("sex", "female", "male"))
#: the level name of a factor's interaction row
DIFFERENCE = "difference"
#: columns of one replication's subgroup rows (trial_subgroups.csv adds ``replication``)
COLUMNS = ["factor", "level", "estimate", "se", "ci_low", "ci_high", "p_value", "df",
           "true_effect", "covered", "n_treated", "n_control", "n_clusters", "status", "note"]
ESTIMATED = "estimated"
_LABELS = {column: (first, second) for column, first, second in FACTORS}
CAVEAT = ("Subgroup analyses are exploratory: with many subgroups some look significant by\n"
          "chance. The evidence that the effect differs between two subgroups is the interaction\n"
          "test (the 'minus' rows), not one subgroup's interval excluding zero while the\n"
          "other's does not.")


def _first_level(column: str, values: pd.Series) -> np.ndarray:
    """Whether each student is in the factor's first level (FSM, SEN, EAL; female)."""
    if column == "sex":
        return (values.astype(str) == "F").to_numpy()
    return values.to_numpy(dtype=bool)


def _blank(factor: str, level: str, status: str) -> dict[str, Any]:
    row: dict[str, Any] = {c: math.nan for c in COLUMNS}
    row.update(factor=factor, level=level, covered=False, status=status, note="")
    return row


def _fit(trial: Trial, data: pd.DataFrame, treatment: str = "arm",
         covariates: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    """The trial's analysis on ``data``: the effect row and the warnings it gave, as a note."""
    from srmsim.trial.analyse import fit_arms

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit_arms(trial, data, treatment, covariates)
    e = res.effect()
    row = {k: float(e[k]) for k in ("estimate", "se", "ci_low", "ci_high", "p_value", "df")}
    return row, "; ".join(dict.fromkeys(str(w.message) for w in caught))


def _truth(effect: pd.Series, treated: np.ndarray) -> float:
    """Mean over the treated-arm rows of trial minus counterfactual outcome (``effect``, that
    difference for every analysed row, taken once a replication)."""
    diff = effect[treated].dropna()
    return float(diff.mean()) if len(diff) else math.nan


def _not_estimable(err: Exception) -> str:
    """A subgroup fit that failed, as its row's status: any failure (an estimator's refusal,
    a singular fit inside statsmodels) stays in the subgroup's row, so a subgroup never turns
    the trial's replication, and so its main result, into a failure."""
    if isinstance(err, SrmsimError):
        return f"not estimable: {err}"
    return f"not estimable: {type(err).__name__}: {err}"


def _too_few(trial: Trial, treated: np.ndarray, school: np.ndarray) -> str | None:
    """Why a subgroup is not estimated, or None (``treated``, ``school``: its rows' arm and
    school, as arrays: this runs for every subgroup of every replication)."""
    if min(int(treated.sum()), int((~treated).sum())) < MIN_PER_ARM:
        return f"too few students (under {MIN_PER_ARM} in an arm)"
    if trial.unit == "schools":
        if min(np.unique(school[treated]).size, np.unique(school[~treated]).size) < 2:
            return "too few schools (under 2 in an arm)"
    return None


def subgroup_estimates(trial: Trial, analysed: pd.DataFrame,
                       students: pd.DataFrame) -> pd.DataFrame | None:
    """One replication's subgroup rows (:data:`COLUMNS`): each level of each factor, then its
    difference; None for a stepped wedge. ``analysed``: the rows the trial's analysis used (with
    ``uid``, ``arm`` and both runs' outcome); ``students``: students.parquet of the trial run."""
    if trial.unit == "stepped_wedge":
        return None
    from srmsim.trial.analyse import CF

    y = trial.config.outcome
    info = students.set_index("uid")
    # only the columns the analysis and the truth read (the fits take each column's checks)
    keep = ["uid", "school", "arm", y, y + CF, *([trial.config.baseline]
                                                 if trial.config.baseline else [])]
    analysed = analysed[list(dict.fromkeys(keep))]
    # what every subgroup reads, taken once a replication (the fits still check their rows)
    arm_treated = (analysed["arm"] == "treated").to_numpy(dtype=bool)
    school = analysed["school"].to_numpy()
    effect = analysed[y] - analysed[y + CF]
    uids = analysed["uid"].to_numpy()
    out: list[dict[str, Any]] = []
    for column, first, second in FACTORS:
        is_first = _first_level(column, info[column].reindex(uids))
        levels = []
        for label, mask in ((first, is_first), (second, ~is_first)):
            treated, schools = arm_treated[mask], school[mask]
            counts = {"n_treated": float(treated.sum()), "n_control": float((~treated).sum()),
                      "n_clusters": float(np.unique(schools).size)}
            why = _too_few(trial, treated, schools)
            row = _blank(column, label, why or ESTIMATED)
            row.update(counts)
            if why is None:
                try:
                    fit, note = _fit(trial, analysed[mask].reset_index(drop=True))
                except Exception as err:  # noqa: BLE001 - see _not_estimable
                    row["status"] = _not_estimable(err)
                else:
                    row.update(fit, note=note, true_effect=_truth(effect, mask & arm_treated))
                    row["covered"] = bool(row["ci_low"] <= row["true_effect"] <= row["ci_high"])
            levels.append(row)
        diff = _blank(column, DIFFERENCE, ESTIMATED)
        if all(r["status"] == ESTIMATED for r in levels):
            data = analysed.assign(
                _subgroup=is_first.astype(float),
                _treated=arm_treated.astype(float),
                _interaction=np.where(is_first & arm_treated, "treated", "control"))
            try:
                fit, note = _fit(trial, data.reset_index(drop=True), "_interaction",
                                 ("_treated", "_subgroup"))
            except Exception as err:  # noqa: BLE001 - see _not_estimable
                diff["status"] = _not_estimable(err)
            else:
                truth = levels[0]["true_effect"] - levels[1]["true_effect"]
                diff.update(fit, note=note, true_effect=truth,
                            covered=bool(fit["ci_low"] <= truth <= fit["ci_high"]))
        else:
            diff["status"] = "not tested: a group is not estimated"
        if trial.from_records and any(r["status"] != ESTIMATED for r in levels):
            # the other group's count (or its df, or its p-value with its estimate and SE,
            # which give the df) and the trial's total give this one's by subtraction: from
            # real records, a factor with a group too few shows neither group
            for r in levels:
                if r["status"] == ESTIMATED:
                    r["status"] = ("not shown: the other group is too few, and from real "
                                   "records its size would follow from this one's")
                r.update({c: math.nan for c in COLUMNS if c not in ("factor", "level", "status",
                                                                     "covered", "note")},
                         covered=False, note="")
        out += [*levels, diff]
    return pd.DataFrame(out, columns=COLUMNS)


def collect(rows: list[dict[str, Any]]) -> pd.DataFrame | None:
    """The ``_subgroups`` tables of finished replication rows, one long table with a
    ``replication`` column; None when no row carries one."""
    return groups.collect(rows, "_subgroups", COLUMNS)


SUMMARY_COLUMNS = ["factor", "level", "replications_estimated", "true_effect", "estimate",
                   "mean_ci_low", "mean_ci_high", "coverage", "coverage_low", "coverage_high", "rejected", "rejected_low",
                   "rejected_high", "p_value"]


def summarise_subgroups(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Over replications, per factor and level: in how many it was estimated, the mean true
    effect and mean estimate, the share of intervals covering the truth with its Wilson
    interval, and for the difference rows the share of replications whose interaction test
    rejected at ``alpha`` (its power, or its false-positive rate where the effect does not
    differ), with a lone replication's p-value."""
    out = []
    for (factor, level), g in table.groupby(["factor", "level"], sort=False):
        done = g[g["status"] == ESTIMATED]
        k = len(done)
        covered = int(done["covered"].astype(bool).sum())
        cov_lo, cov_hi = wilson(covered, k)
        rows = {"factor": factor, "level": level, "replications_estimated": k,
                "true_effect": float(done["true_effect"].mean()) if k else math.nan,
                "estimate": float(done["estimate"].mean()) if k else math.nan,
                "mean_ci_low": float(done["ci_low"].mean()) if k else math.nan,
                "mean_ci_high": float(done["ci_high"].mean()) if k else math.nan,
                "coverage": covered / k if k else math.nan, "coverage_low": cov_lo,
                "coverage_high": cov_hi, "rejected": math.nan, "rejected_low": math.nan,
                "rejected_high": math.nan,
                "p_value": float(done["p_value"].iloc[0]) if k == 1 else math.nan}
        if level == DIFFERENCE and k:
            hits = int((done["p_value"].to_numpy(dtype=float) < alpha).sum())
            lo, hi = wilson(hits, k)
            rows.update(rejected=hits / k, rejected_low=lo, rejected_high=hi)
        out.append(rows)
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def plot_subgroups(summary: pd.DataFrame, scale: str = "number", level: str = "95%") -> Any:
    """Each subgroup's and each interaction's mean estimate with its mean interval (the
    typical interval one trial reports) against its mean true effect, over replications."""
    from srmsim.experiment.outcomes import DIFFERENCE_UNIT
    from srmsim.figures import effect_rows, new_figure

    factor = 100.0 if scale == "share" else 1.0  # shares' effects in percentage points
    rows = list(summary.itertuples(index=False))
    fig, ax = new_figure(7, 0.32 * len(rows) + 1.2)
    points: list[tuple[float, float, float, float, str, str]] = []
    for i, r in enumerate(rows):
        y = float(len(rows) - 1 - i)
        diff = r.level == DIFFERENCE
        colour = "tab:purple" if diff else "tab:blue"
        words = "too few in every replication" if not r.replications_estimated else ""
        points.append((r.estimate * factor, y, r.mean_ci_low * factor, r.mean_ci_high * factor,
                       colour, words))
        if math.isfinite(r.true_effect):
            ax.plot([r.true_effect * factor], [y], "k|", ms=12, mew=2)
    effect_rows(ax, points)
    labels = [f"{_LABELS[r.factor][0]} minus {_LABELS[r.factor][1]}"
              if r.level == DIFFERENCE and r.factor in _LABELS else str(r.level) for r in rows]
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels[::-1], fontsize=8)
    ax.axvline(0, color="grey", lw=0.8)
    unit = DIFFERENCE_UNIT.get(scale, "")
    ax.set_xlabel(f"effect ({unit})" if unit else "effect")
    from matplotlib.lines import Line2D

    ax.legend(handles=[
        Line2D([], [], color="black", marker="|", ls="", ms=10, mew=2,
               label="true effect (mean)"),
        Line2D([], [], color="tab:blue", marker="o", label=f"estimate (mean), {level} CI "
               "(mean ends)"),
        Line2D([], [], color="tab:purple", marker="o", label="interaction (difference)")],
        fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def _rate(value: float, low: float, high: float) -> str:
    if not math.isfinite(value):
        return ""
    return f"{percent_of_runs(value)} ({percent_of_runs(low)} to {percent_of_runs(high)})"


def subgroup_display(summary: pd.DataFrame, replications: int, scale: str = "number",
                     alpha: float = 0.05) -> pd.DataFrame:
    """The subgroup summary as text: effects in the outcome's unit (``scale``), rates as
    percentages of the replications with their Monte-Carlo (Wilson) intervals."""
    level = given_percent(1 - alpha)
    rows = []
    for r in summary.itertuples(index=False):
        k = int(r.replications_estimated)
        diff = r.level == DIFFERENCE
        name = f"{_LABELS[r.factor][0]} minus {_LABELS[r.factor][1]} (interaction)" \
            if diff and r.factor in _LABELS else str(r.level)
        if k == 0:
            status = "too few in every replication" if not diff else "not tested"
            rows.append([name, "", "", "", "", status])
            continue
        if diff:
            test = (f"p = {p_text(r.p_value)}" if replications == 1 else
                    f"p < {alpha:g} in {_rate(r.rejected, r.rejected_low, r.rejected_high)}")
        else:
            test = ""
        done = "" if k == replications else f"estimated in {k} of {replications}"
        rows.append([name, format_difference(r.true_effect, scale),
                     format_difference(r.estimate, scale),
                     _rate(r.coverage, r.coverage_low, r.coverage_high), test, done])
    return pd.DataFrame(rows, columns=["subgroup", "true effect", "estimate",
                                       f"{level} CI covers truth", "interaction test", "note"])


def format_subgroups(summary: pd.DataFrame, replications: int, scale: str = "number",
                     alpha: float = 0.05) -> str:
    """The subgroup table `srmsim trial` prints, under its caveat."""
    from srmsim.experiment.compare import text_table

    shown = subgroup_display(summary, replications, scale, alpha)
    many = "mean over replications; " if replications > 1 else ""
    return (f"Subgroups ({many}coverage with its Monte-Carlo interval).\n{CAVEAT}\n"
            + text_table(shown, right={"true effect", "estimate"}))
