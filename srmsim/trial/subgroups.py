"""Subgroup estimates of a trial: would the trial see that the policy works for some students
and not others?

Each replication analyses every subgroup (FSM or not, SEN or not, EAL or not, female or male,
and each year group) with the trial's own pre-registered analysis restricted to the subgroup's rows
(:func:`srmsim.trial.analyse.fit_arms`: the same method, standard errors, clustering, school
fixed effects and baseline), next to the subgroup's true effect (mean over its analysed
treated-arm students of trial minus counterfactual outcome, as the trial's own truth). The
evidence of a *difference* between two subgroups is the test of interaction, not one subgroup
being significant and the other not: the trial's model on all analysed rows with the subgroup
and arm x subgroup added, whose arm x subgroup coefficient is the difference in effect (first
level minus second), with the analysis's own SE and df. Year group has several levels, so its
interaction row is the joint Wald test that the effect is the same in every year group (arm x
year group, one term a year group but the first, in the same model; F form, Hotelling's for
cluster-robust standard errors and for a mixed model, whose test reads the school-robust
covariance of its estimates, see :func:`joint_wald`): a p-value, no one difference. Subgroup
analyses are exploratory.

A subgroup of a student-randomised trial analysed with HC1 (the default) that has fewer than
:data:`SMALL_ARM` students in an arm is fitted with HC2 and each contrast's Bell-McCaffrey df
instead, and so is its factor's interaction test (its note says so): HC1 with N - k df is too
narrow when an arm is small beside the rest. An explicit ``se: cluster`` (CR1) is kept where
``se: auto`` would take CR2 (a subgroup of fewer than 30 schools), as the trial's own analysis
keeps it, and a note under the table says it is too narrow there (:func:`cr1_caveat`).

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
from srmsim.labels import agree, given_percent, p_text, percent_of_runs, plural
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
#: the factor of several levels: the students column of year groups (levels ``Year 7``, ...)
YEAR = "year_group"
#: below this many analysed students in an arm of a subgroup, HC1 gives way to HC2 with
#: Bell-McCaffrey df (see :func:`_small_sample_se`)
SMALL_ARM = 30
#: the level name of a factor's interaction row (for year group, its joint test)
DIFFERENCE = "difference"
#: columns of one replication's subgroup rows (trial_subgroups.csv adds ``replication``)
COLUMNS = ["factor", "level", "estimate", "se", "ci_low", "ci_high", "p_value", "df",
           "true_effect", "covered", "n_treated", "n_control", "n_clusters", "status", "note"]
ESTIMATED = "estimated"
_LABELS = {column: (first, second) for column, first, second in FACTORS}
CAVEAT = ("Subgroup analyses are exploratory: with many subgroups some look significant by\n"
          "chance. The evidence that the effect differs between two subgroups is the interaction\n"
          "test (the 'minus' rows; for year groups the joint test), not one subgroup's interval\n"
          "excluding zero while the other's does not.")
#: the name of the year groups' interaction row
YEAR_TEST = "year groups differ (joint test)"


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
         covariates: tuple[str, ...] = (), se: str | None = None
         ) -> tuple[dict[str, Any], str]:
    """The trial's analysis on ``data`` (``se``: standard errors in place of the file's):
    the effect row and the warnings it gave, as a note."""
    from srmsim.trial.analyse import fit_arms

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit_arms(trial, data, treatment, covariates, **({"se": se} if se else {}))
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


def _year_levels(trial: Trial, values: pd.Series) -> list[tuple[str, np.ndarray]]:
    """The year-group levels of the analysed rows (``values``: their year group), each with
    its rows: every year group of the trust (so a replication with none of one still has its
    row, too few) and any other the rows hold, in order; none with fewer than two. From real
    records, the year groups the records hold (the same pupils every replication): the
    scenario's list may name more, and a year group of none would withhold them all."""
    years = values.to_numpy()
    known = set() if trial.from_records else {int(y) for y in trial.scenario.trust.year_groups}
    present = {int(y) for y in pd.unique(values.dropna())}
    levels = sorted(known | present)
    if len(levels) < 2:  # one year group is the whole trial: nothing to compare
        return []
    return [(year_label(y), years == y) for y in levels]


def year_label(year: int) -> str:
    """A year group as its level is labelled: ``Year 7``."""
    return f"Year {year}"


def _small_sample_se(trial: Trial, treated: np.ndarray) -> str | None:
    """The standard errors a subgroup's fit uses in place of the file's, or None for the
    file's: a student-randomised OLS with HC1 whose subgroup has fewer than
    :data:`SMALL_ARM` students in an arm gets HC2 with each contrast's Bell-McCaffrey df,
    because HC1 with N - k df runs narrow there (see :data:`SMALL_ARM`)."""
    a = trial.config.analysis
    if a.method != "ols" or a.se != "hc1":
        return None
    if min(int(treated.sum()), int((~treated).sum())) < SMALL_ARM:
        return "hc2"
    return None


def _level_row(trial: Trial, column: str, label: str, mask: np.ndarray,
               analysed: pd.DataFrame, arm_treated: np.ndarray, school: np.ndarray,
               effect: pd.Series) -> tuple[dict[str, Any], str | None]:
    """One level's row (its own analysis, truth and coverage) and the SE it was fitted with
    in place of the file's (None: the file's)."""
    treated, schools = arm_treated[mask], school[mask]
    counts = {"n_treated": float(treated.sum()), "n_control": float((~treated).sum()),
              "n_clusters": float(np.unique(schools).size)}
    why = _too_few(trial, treated, schools)
    row = _blank(column, label, why or ESTIMATED)
    row.update(counts)
    se = _small_sample_se(trial, treated) if why is None else None
    if why is None:
        try:
            fit, note = _fit(trial, analysed[mask].reset_index(drop=True), se=se)
        except Exception as err:  # noqa: BLE001 - see _not_estimable
            row["status"] = _not_estimable(err)
        else:
            if _cr1_kept(trial, schools):
                note = "; ".join(filter(None, [CR1_KEPT, note]))
            row.update(fit, note=_with_se_note(note, se),
                       true_effect=_truth(effect, mask & arm_treated))
            row["covered"] = bool(row["ci_low"] <= row["true_effect"] <= row["ci_high"])
    return row, se


#: the note of a subgroup fitted with CR1 because the trial file asks for it (``se: cluster``)
#: where ``se: auto`` would fit CR2 (:func:`_cr1_kept`)
CR1_KEPT = "CR1 as the trial file asks (se: cluster), though se: auto would use CR2 here"


def _cr1_kept(trial: Trial, schools: np.ndarray) -> bool:
    """Whether a subgroup of these schools is fitted with CR1 only because the file says
    ``se: cluster``: se: auto would take CR2 with Bell-McCaffrey df there (fewer than
    :data:`~srmsim.stats._inference.CR2_BELOW` schools), since CR1 with t(G - 1) runs narrow
    with few schools. The user's explicit choice is kept, as the trial's own analysis keeps
    it (its header says it is too narrow), and said under the table (:func:`cr1_caveat`)."""
    from srmsim.stats._inference import cluster_se_for

    a = trial.config.analysis
    return (a.method == "ols" and a.se == "cluster"
            and cluster_se_for(int(np.unique(schools).size)) == "cr2")


def cr1_caveat(table: pd.DataFrame | None) -> str:
    """The plain note printed under the subgroup table when subgroups were fitted with an
    explicit CR1 where se: auto would have used CR2 ("" otherwise): the header's warning is
    about the whole trial, and a subgroup has fewer students and schools still."""
    if table is None or "note" not in table.columns:
        return ""
    # (as text first: a column of no note is float NaN, which fillna("") will refuse)
    kept = table[table["note"].astype(object).fillna("").astype(str).str.contains(CR1_KEPT,
                                                                             regex=False)]
    if kept.empty:
        return ""
    from srmsim.stats._inference import CR2_BELOW

    groups = kept[["factor", "level"]].drop_duplicates()
    return (f"Note: {plural(len(groups), 'subgroup')} of fewer than {CR2_BELOW} schools "
            f"{agree(len(groups), 'was', 'were')} fitted with CR1 because the trial file asks "
            "for se: cluster. CR1's intervals are too narrow in groups that small (they cover "
            "the truth less often than they claim); se: auto would fit them with CR2 and "
            "Bell-McCaffrey df.")


def _with_se_note(note: str, se: str | None) -> str:
    """The fit's warnings, after the word that HC2 stood in for HC1 where it did."""
    if se != "hc2":
        return note
    said = (f"HC2 with Bell-McCaffrey df in place of HC1: an arm of fewer than {SMALL_ARM} "
            "students, where HC1's interval runs narrow")
    return "; ".join(filter(None, [said, note]))


def _difference(trial: Trial, column: str, levels: list[dict[str, Any]], is_first: np.ndarray,
                analysed: pd.DataFrame, arm_treated: np.ndarray, se: str | None
                ) -> dict[str, Any]:
    """A two-level factor's interaction row: arm x subgroup in the trial's model."""
    diff = _blank(column, DIFFERENCE, ESTIMATED)
    data = analysed.assign(
        _subgroup=is_first.astype(float),
        _treated=arm_treated.astype(float),
        _interaction=np.where(is_first & arm_treated, "treated", "control"))
    try:
        fit, note = _fit(trial, data.reset_index(drop=True), "_interaction",
                         ("_treated", "_subgroup"), se=se)
    except Exception as err:  # noqa: BLE001 - see _not_estimable
        diff["status"] = _not_estimable(err)
    else:
        truth = levels[0]["true_effect"] - levels[1]["true_effect"]
        diff.update(fit, note=_with_se_note(note, se), true_effect=truth,
                    covered=bool(fit["ci_low"] <= truth <= fit["ci_high"]))
    return diff


def _joint(trial: Trial, column: str, levels: list[tuple[str, np.ndarray]],
           analysed: pd.DataFrame, arm_treated: np.ndarray, se: str | None) -> dict[str, Any]:
    """A factor of several levels (year group): the joint Wald test that the effect is the
    same in every level, arm x level in the trial's model on every analysed row, as its
    interaction row (p-value and the F test's denominator df; no estimate, interval or truth:
    there is no one difference)."""
    from srmsim.trial.analyse import fit_arms

    row = _blank(column, DIFFERENCE, ESTIMATED)
    label = np.full(len(analysed), levels[0][0], dtype=object)
    for name, mask in levels[1:]:
        label[mask] = name
    # arm x level for each level but the first: its coefficient is that level's effect minus
    # the first's, and all are 0 when the effect is the same in every level
    dummies = {f"_level{i}": mask.astype(float) for i, (_, mask) in enumerate(levels[1:], 1)}
    data = analysed.assign(_treated=arm_treated.astype(float), **dummies,
                           _interaction=np.where(arm_treated & (label != levels[0][0]), label,
                                                 "control"))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = fit_arms(trial, data.reset_index(drop=True), "_interaction",
                           ("_treated", *dummies), **({"se": se} if se else {}))
            robust = trial.config.analysis.method == "mixed"
            p_value, df, stat, q = joint_wald(est, [f"_interaction[{n}]" for n, _ in levels[1:]],
                                              school_robust=robust)
    except Exception as err:  # noqa: BLE001 - see _not_estimable
        row["status"] = _not_estimable(err)
        return row
    kind = ("school-robust (CR2) covariance of the mixed model's estimates, Hotelling's F"
            if robust else est.se_type)
    said = (f"joint Wald test of arm x {column.replace('_', ' ')} ({q} interaction terms, "
            f"{kind}): F({q}, {df:.4g}) = {stat:.4g}")
    note = "; ".join(filter(None, [said, *dict.fromkeys(str(w.message) for w in caught)]))
    row.update(p_value=p_value, df=df, note=_with_se_note(note, se))
    return row


#: the standard errors whose joint test takes the clusters' Hotelling form (:func:`joint_wald`)
_CLUSTERED = ("cluster-robust (CR1)", "GEE robust sandwich (Mancl-DeRouen bias-reduced)",
              "GEE model-based (naive)")


def joint_wald(est: Any, terms: list[str], school_robust: bool = False
               ) -> tuple[float, float, float, int]:
    """The F form of the Wald test that every one of ``terms`` (coefficients of
    :func:`srmsim.stats.estimate_effect`'s fit ``est``) is 0, W from statsmodels'
    ``wald_test`` with the covariance of the fit's own standard errors: (p-value, denominator
    df, F, numerator df q).

    The df are the fit's own for one coefficient: N - k for classical and HC1 standard
    errors, the smallest of the terms' Bell-McCaffrey df for HC2, the smallest between-within
    df of a mixed model. With standard errors from G schools (CR1, CR2, GEE) W / q against
    F(q, G - 1), the project's cluster df, rejected a true "no difference" between 5 year
    groups in 18% (CR1, 200 simulated trials of 12 schools) and 17% (CR2, 300): the q
    contrasts' covariance from 12 schools is itself noisy. So W is read as Hotelling's T^2 on
    G - 1 df, F = W (G - q) / ((G - 1) q) against F(q, G - q) (one term: the t test on
    G - 1 df squared), which rejected 6.5% and 6.7% of the same trials
    (tests/test_trial_year_subgroups229.py); it needs more schools than terms.

    ``school_robust`` (a mixed model): W from the school-robust CR2 covariance of the mixed
    model's estimates (:func:`srmsim.stats.mixed.cluster_robust_covariance`), in the same
    Hotelling form. The model-based covariance trusts that the school intercept is all a
    school's students share; with school x year shocks (SD 0.3 beside pupils' 1) it rejected
    a true "no difference" in 28.5% of those 200 trials of 12 schools randomised, and 8.5% of
    200 student-randomised trials of 6 schools; the robust form 6.5% and 4.0%
    (tests/test_trial_joint234.py).
    """
    from scipy import stats as sps

    from srmsim.stats.regression import CR2_TYPE

    names = list(est.terms)
    fit = est.result
    q = len(terms)
    if school_robust:
        from srmsim.stats.mixed import cluster_robust_covariance

        at = [names.index(term) for term in terms]
        b = np.asarray(fit.fe_params, dtype=float)[at]
        cov = cluster_robust_covariance(fit)[np.ix_(at, at)]
        wald = float(b @ np.linalg.solve(cov, b))
    else:
        r = np.zeros((q, len(np.asarray(fit.params))))
        for i, term in enumerate(terms):
            r[i, names.index(term)] = 1.0
        wald = float(np.squeeze(fit.wald_test(r, use_f=False, scalar=True).statistic))
    if est.n_clusters and (school_robust or est.se_type == CR2_TYPE
                           or est.se_type in _CLUSTERED):
        g = int(est.n_clusters)
        if g - q < 1:
            raise SrmsimError(f"the joint test of {q} terms needs more than {q} schools "
                              f"({g} analysed): the schools' covariance of the terms is "
                              "singular")
        stat, df = wald * (g - q) / ((g - 1) * q), float(g - q)
    else:
        stat, df = wald / q, float(np.min(est.table["df"].to_numpy(dtype=float)))
    if not (math.isfinite(stat) and stat >= 0 and df > 0):
        raise SrmsimError(f"the joint Wald test is not defined here (F {stat:g}, df {df:g})")
    p = float(sps.f.sf(stat, q, df)) if math.isfinite(df) else float(sps.chi2.sf(stat * q, q))
    return p, df, stat, q


def subgroup_estimates(trial: Trial, analysed: pd.DataFrame,
                       students: pd.DataFrame) -> pd.DataFrame | None:
    """One replication's subgroup rows (:data:`COLUMNS`): each level of each factor, then its
    difference (for year group, the joint test); None for a stepped wedge. ``analysed``: the
    rows the trial's analysis used (with ``uid``, ``arm`` and both runs' outcome);
    ``students``: students.parquet of the trial run (without a ``year_group`` column, as a
    table made by hand may be, no year-group rows)."""
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
    factors: list[tuple[str, list[tuple[str, np.ndarray]]]] = []
    for column, first, second in FACTORS:
        is_first = _first_level(column, info[column].reindex(uids))
        factors.append((column, [(first, is_first), (second, ~is_first)]))
    if YEAR in info.columns:
        years = _year_levels(trial, info[YEAR].reindex(uids))
        if years:
            factors.append((YEAR, years))
    out: list[dict[str, Any]] = []
    for column, masks in factors:
        fitted = [_level_row(trial, column, label, mask, analysed, arm_treated, school, effect)
                  for label, mask in masks]
        levels = [r for r, _ in fitted]
        # the interaction's variance rests on the smallest cells: HC2 there if any level took it
        se = next((s for _, s in fitted if s), None)
        if not all(r["status"] == ESTIMATED for r in levels):
            diff = _blank(column, DIFFERENCE, "not tested: a group is not estimated")
        elif len(masks) == 2 and column != YEAR:
            diff = _difference(trial, column, levels, masks[0][1], analysed, arm_treated, se)
        else:
            diff = _joint(trial, column, masks, analysed, arm_treated, se)
        if trial.from_records and any(r["status"] != ESTIMATED for r in levels):
            # the other groups' counts (or their df, or their p-values with their estimates
            # and SEs, which give the df) and the trial's total give this one's by
            # subtraction: from real records, a factor with a group too few shows no group
            for r in levels:
                if r["status"] == ESTIMATED:
                    r["status"] = ("not shown: another group of it is too few, and from real "
                                   "records its size would follow from the others'")
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
        # a joint test has no estimate nor interval: its coverage is none, not 0%
        spanned = done[np.isfinite(done["estimate"].to_numpy(dtype=float))]
        k_ci = len(spanned)
        covered = int(spanned["covered"].astype(bool).sum())
        cov_lo, cov_hi = wilson(covered, k_ci)
        rows = {"factor": factor, "level": level, "replications_estimated": k,
                "true_effect": float(done["true_effect"].mean()) if k else math.nan,
                "estimate": float(done["estimate"].mean()) if k else math.nan,
                "mean_ci_low": float(done["ci_low"].mean()) if k else math.nan,
                "mean_ci_high": float(done["ci_high"].mean()) if k else math.nan,
                "coverage": covered / k_ci if k_ci else math.nan, "coverage_low": cov_lo,
                "coverage_high": cov_hi, "rejected": math.nan, "rejected_low": math.nan,
                "rejected_high": math.nan,
                "p_value": float(done["p_value"].iloc[0]) if k == 1 else math.nan}
        if level == DIFFERENCE and k:
            hits = int((done["p_value"].to_numpy(dtype=float) < alpha).sum())
            lo, hi = wilson(hits, k)
            rows.update(rejected=hits / k, rejected_low=lo, rejected_high=hi)
        out.append(rows)
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


#: the size (points) of a row's words in the subgroup figure (the joint test's rejection rate)
WORDS_PT = 9


def plot_subgroups(summary: pd.DataFrame, scale: str = "number", level: str = "95%") -> Any:
    """Each subgroup's and each interaction's mean estimate with its mean interval (the
    typical interval one trial reports) against its mean true effect, over replications."""
    from srmsim.experiment.outcomes import DIFFERENCE_UNIT
    from srmsim.figures import effect_rows, legend_beside, new_figure

    factor = 100.0 if scale == "share" else 1.0  # shares' effects in percentage points
    rows = list(summary.itertuples(index=False))
    fig, ax = new_figure(9.5, 0.32 * len(rows) + 1.2)  # room for the legend beside
    points: list[tuple[float, float, float, float, str, str]] = []
    for i, r in enumerate(rows):
        y = float(len(rows) - 1 - i)
        diff = r.level == DIFFERENCE
        colour = "tab:purple" if diff else "tab:blue"
        words = "too few in every replication" if not r.replications_estimated else ""
        if diff and r.replications_estimated and not math.isfinite(r.estimate):
            # a joint test: no one difference to draw, its rejection rate in words
            words = (f"p = {p_text(r.p_value)}" if math.isfinite(r.p_value) else
                     f"rejected in {percent_of_runs(r.rejected)} of replications")
        points.append((r.estimate * factor, y, r.mean_ci_low * factor, r.mean_ci_high * factor,
                       colour, words))
        if math.isfinite(r.true_effect):
            ax.plot([r.true_effect * factor], [y], "k|", ms=12, mew=2)
    # the joint test's words at 9 pt, a point above the row names: at effect_rows' 7 pt they
    # were about 11 pixels high in the report, smaller than anything else in the figure
    effect_rows(ax, points, fontsize=WORDS_PT)
    labels = [_row_name(r.factor, r.level, "") for r in rows]
    ax.set_yticks(range(len(rows)))
    # half a row of room at either end: the joint test, last, has words and no point, and its
    # row sat on the bottom edge, the words struck through by the axis line
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_yticklabels(labels[::-1], fontsize=8)
    ax.axvline(0, color="grey", lw=0.8)
    unit = DIFFERENCE_UNIT.get(scale, "")
    ax.set_xlabel(f"effect ({unit})" if unit else "effect")
    from matplotlib.lines import Line2D

    legend_beside(ax, handles=[
        Line2D([], [], color="black", marker="|", ls="", ms=10, mew=2,
               label="true effect (mean)"),
        Line2D([], [], color="tab:blue", marker="o", label=f"estimate (mean), {level} CI "
               "(mean ends)"),
        Line2D([], [], color="tab:purple", marker="o", label="interaction (difference)")])
    fig.tight_layout()
    return fig


def _row_name(factor: str, level: str, interaction: str = " (interaction)") -> str:
    """A summary row's name: the level, or for an interaction row "FSM minus not FSM" (then
    ``interaction``), or the year groups' joint test."""
    if level != DIFFERENCE:
        return str(level)
    if factor == YEAR:
        return YEAR_TEST
    if factor in _LABELS:
        return f"{_LABELS[factor][0]} minus {_LABELS[factor][1]}{interaction}"
    return str(level)


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
        name = _row_name(r.factor, r.level)
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
        if diff and not math.isfinite(r.estimate):  # a joint test: no one difference
            rows.append([name, "", "", "", test, "; ".join(filter(None, [
                "F test over every year group", done]))])
            continue
        rows.append([name, format_difference(r.true_effect, scale),
                     format_difference(r.estimate, scale),
                     _rate(r.coverage, r.coverage_low, r.coverage_high), test, done])
    return pd.DataFrame(rows, columns=["subgroup", "true effect", "estimate",
                                       f"{level} CI covers truth", "interaction test", "note"])


def format_subgroups(summary: pd.DataFrame, replications: int, scale: str = "number",
                     alpha: float = 0.05, table: pd.DataFrame | None = None) -> str:
    """The subgroup table `srmsim trial` prints, under its caveat; ``table``: the
    replications' rows, whose notes say whether an explicit CR1 fitted small subgroups
    (:func:`cr1_caveat`, printed under the table)."""
    import textwrap

    from srmsim.experiment.compare import text_table

    shown = subgroup_display(summary, replications, scale, alpha)
    many = "mean over replications; " if replications > 1 else ""
    caveat = cr1_caveat(table)
    return (f"Subgroups ({many}coverage with its Monte-Carlo interval).\n{CAVEAT}\n"
            + text_table(shown, right={"true effect", "estimate"})
            + ("\n" + textwrap.fill(caveat, 90) if caveat else ""))
