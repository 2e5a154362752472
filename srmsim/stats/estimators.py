"""Treatment effects on any tidy table: OLS (classical, HC1, cluster-robust), GEE, mixed models.

Why one entry point: a real trial's export and a simulated trial's student table are analysed by
the same call, so an in-silico trial is judged exactly as the real one would be. The table has
one row per student; the caller names the columns. The treatment may have two or more arms
(text, numbers or a categorical), and the reference arm is named explicitly because R-style
factors arrive as plain strings.

Degrees of freedom: classical and HC1 intervals use t with N - k df. CR2 OLS (``se="cr2"``, the
bias-reduced variance) uses each arm's Bell-McCaffrey (Satterthwaite) df, which with few schools
covers where CR1 does not (of 400 trials of 8 schools, 96% against 93%). CR1 OLS and GEE
(robust sandwich, Mancl & DeRouen 2001 bias-reduced) intervals use t with G - 1 df, G the number
of clusters: with a dozen schools the normal approximation is far too optimistic, and the plain
sandwich too small (its 95% interval covered 91% with 8 schools, the bias-reduced one 96%).
Mixed models use between-within df (G - p_between for school-level terms). Rows missing the outcome, treatment, cluster, covariates
or fixed effects are counted per column and reported, never dropped silently.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsmodels.genmod import cov_struct, families
from statsmodels.genmod.generalized_estimating_equations import GEE
from statsmodels.regression.linear_model import OLS

from srmsim.errors import DataError, EstimationError, SrmsimError
from srmsim.labels import agree, given_percent, p_text, plural

from . import _checks as ck
from ._inference import critical_value, few_clusters_cr1_note, wald
from .mixed import attempts_frame, boundary_warning, fit_mixedlm, fixed_effects_table
from .regression import (
    CENTRE_FROM,
    CR2_TYPE,
    check_cluster_arg,
    fit_clustered_ols,
    fit_cr2_ols,
    fit_ols,
    negative_cgm_cause,
    standard_errors,
)

METHODS = ("ols", "gee", "mixed")
SE_TYPES = ("classical", "hc1", "hc2", "cluster", "cr2")
HC2_TYPE = "HC2 (bias-reduced, Bell-McCaffrey df)"

TABLE_COLUMNS = [
    "arm",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "p_value",
    "n",
    "n_clusters",
    "n_reference",
    "mean_arm",
    "mean_reference",
    "df",
]


@dataclass
class EffectEstimate:
    """Effects of each non-reference arm against the reference arm, with the fit behind them.

    ``table`` has one row per non-reference arm: arm, estimate, se, ci_low, ci_high, p_value,
    n (students in the arm), n_clusters (clusters with students in the arm; missing without a
    cluster column), n_reference, mean_arm, mean_reference (raw means) and df (of the t interval).
    """

    table: pd.DataFrame
    outcome: str
    treatment: str
    reference: str
    arms: list[str]
    method: str
    se_type: str
    alpha: float
    missing: ck.MissingReport
    n_clusters: int | None
    result: object = field(repr=False)
    terms: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    attempts: pd.DataFrame | None = None

    @property
    def rows_used(self) -> int:
        return self.missing.n_used

    @property
    def rows_dropped(self) -> int:
        return self.missing.n_dropped

    @property
    def dropped_by_column(self) -> dict[str, int]:
        return dict(self.missing.by_column)

    def effect(self, arm: str | None = None) -> pd.Series:
        """The row of one arm (the only non-reference arm when there is just one)."""
        if arm is None:
            if len(self.table) != 1:
                raise SrmsimError(
                    f"several arms estimated ({', '.join(self.table['arm'])}); name the arm"
                )
            return self.table.iloc[0]
        hit = self.table[self.table["arm"] == ck.label(arm)]
        if hit.empty:
            raise SrmsimError(
                f"arm {arm!r} is not an estimated arm; arms: {', '.join(self.table['arm'])}"
            )
        return hit.iloc[0]

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Intervals indexed by arm at another level, with the same df as the table."""
        a = self.alpha if alpha is None else ck.check_alpha(alpha)
        rows = []
        for _, r in self.table.iterrows():
            crit = critical_value(a, r["df"])
            rows.append((r["arm"], r["estimate"] - crit * r["se"], r["estimate"] + crit * r["se"]))
        return pd.DataFrame(rows, columns=["arm", "ci_low", "ci_high"]).set_index("arm")

    def _shown(self) -> pd.DataFrame:
        """The table as printed: no clusters as "none", not pandas' ``<NA>`` (df is printed to
        one decimal, not "398.0000")."""
        if "n_clusters" not in self.table:
            return self.table
        return self.table.assign(n_clusters=[
            "none" if pd.isna(v) else f"{int(v):,}" for v in self.table["n_clusters"]])

    def summary(self) -> str:
        """Readable report: design, rows used and dropped, the effect table and every note."""
        cluster = f", {self.n_clusters} clusters" if self.n_clusters else ""
        lines = [
            f"Effect of {self.treatment!r} on {self.outcome!r} (reference arm {self.reference!r})",
            f"  method: {self.method}; standard errors: {self.se_type}{cluster}",
            f"  rows: {self.missing.describe()}",
            f"  {given_percent(1 - self.alpha)} confidence intervals:",
            self._shown().to_string(index=False, float_format=lambda v: f"{v:.4f}",
                                    formatters={"p_value": p_text, "df": lambda v: f"{v:.1f}"}),
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _resolve_se(method: str, se: str, cluster: str | None, notes: list[str]) -> str:
    """Turn (method, se, cluster) into the variance actually used, saying so when it differs."""
    ck.check_choice(method, METHODS, "method")
    ck.check_choice(se, SE_TYPES, "se")
    if method == "ols":
        if se in ("cluster", "cr2") and cluster is None:
            raise SrmsimError(f"se={se!r} needs cluster= (the column naming each student's school)")
        ck.refuse_cluster_ignored(cluster, se)
        return {"classical": "classical", "hc1": "HC1", "hc2": HC2_TYPE,
                "cluster": "cluster-robust (CR1)", "cr2": CR2_TYPE}[se]
    if se in ("cr2", "hc2"):
        raise SrmsimError(
            f"se={se!r} is for method='ols' (method={method!r}): GEE's robust variance is "
            "already bias-reduced (Mancl-DeRouen) and a mixed model's is model-based")
    if cluster is None:
        raise SrmsimError(f"method={method!r} needs cluster= (the grouping column, e.g. school)")
    if method == "gee":
        if se == "classical":
            return "GEE model-based (naive)"
        if se == "hc1":
            notes.append("method='gee': se='hc1' read as the GEE robust (cluster sandwich) variance")
        return "GEE robust sandwich (Mancl-DeRouen bias-reduced)"
    if se == "cluster":
        raise SrmsimError(
            "method='mixed' gives model-based standard errors (the random intercept models the "
            "clustering); cluster-robust SEs are not available for MixedLM: use method='gee' or "
            "method='ols' with se='cluster'"
        )
    if se == "hc1":
        notes.append("method='mixed': standard errors are model-based (se='hc1' does not apply)")
    return "mixed model-based"


def _ols(y, X, codes, se, terms=None, nested=0):
    """OLS fit, coefficients, SEs and the df of each coefficient's interval (``terms``: the
    columns whose CR2 df are needed; every column by default). ``nested``: columns of fixed
    effects nested in the clusters (of either dimension when two-way), left out of CR1's k
    (:func:`_nested_columns`); two-way, every CGM term carries (N - 1)/(N - k), so the factor
    rescales their sum."""
    model = OLS(y, X)
    if se in ("cr2", "hc2"):  # HC2 is CR2 with each student a cluster of their own
        res, dfs, _ = fit_cr2_ols(model, codes if se == "cr2" else np.arange(len(y)), terms)
        if se == "hc2":
            inner = getattr(res, "_results", res)
            inner.cov_type, inner.cov_kwds = "HC2", {"description": HC2_TYPE}
        ck.require_residual_variation(res.resid, y, "OLS effect model")
        return res, np.asarray(res.params, dtype=float), np.asarray(res.bse, dtype=float), dfs
    if se == "cluster":
        res, df, _ = fit_clustered_ols(model, codes)
        if nested:  # (N - 1)/(N - k) with k = the columns not nested in the clusters
            n, k = X.shape
            inner = getattr(res, "_results", res)  # before bse is read (and cached)
            inner.cov_params_default = inner.cov_params_default * ((n - k) / (n - k + nested))
    else:
        res = fit_ols(model, cov_type="HC1" if se == "hc1" else "nonrobust", use_t=True)
        df = float(res.df_resid)
    ck.require_residual_variation(res.resid, y, "OLS effect model")
    params = np.asarray(res.params, dtype=float)
    bse = standard_errors(res)  # NaN for a negative two-way variance, named by the caller
    return res, params, bse, np.full(params.size, df)


def _gee(y, X, codes, se, notes):
    G = int(codes.max()) + 1
    if G < 2:
        raise EstimationError("GEE needs at least 2 clusters; found 1")
    ck.require_fit_residuals(y, X, "GEE effect model")
    model = GEE(
        y, X, groups=codes, cov_struct=cov_struct.Exchangeable(), family=families.Gaussian()
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # the stopping rule is on the size of the coefficients' update, so it is set in the
        # outcome's units: a fixed 1e-6 stopped after one step with y in units of 1e-9 (effect
        # 0.08% off) and never converged with y in units of 1e9
        unit = float(np.std(y)) or 1.0
        # nor below the round-off of the intercept's update: y of 1e8 +- 1 (ulp 1.5e-8) never
        # met 1e-8 * sd and stopped with 'no convergence' where OLS and mixed fit it
        floor = 64 * np.finfo(float).eps * float(np.abs(y).max())
        # the plain sandwich underestimates the variance with few clusters (its 95% t(G - 1)
        # interval covered 91% with 8 schools); Mancl & DeRouen's bias-reduced one does not and
        # tends to the plain one as clusters grow
        try:
            res = model.fit(maxiter=200, ctol=max(1e-8 * unit, floor),
                            cov_type="naive" if se == "classical" else "bias_reduced")
        except np.linalg.LinAlgError:  # Mancl-DeRouen's (I - H_g)^-1 with H_g's eigenvalue 1
            raise EstimationError(
                f"GEE robust variance: a cluster alone determines a coefficient (e.g. one "
                f"cluster in an arm, {G} clusters in all), so the bias-reduced (Mancl-DeRouen) "
                "sandwich is undefined and no cluster-robust SE exists; more clusters per arm "
                "are needed") from None
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    trouble = [m for m in messages if "converge" in m.lower()]
    notes.extend(f"GEE warning: {m}" for m in messages if m not in trouble)
    params = np.asarray(res.params, dtype=float)
    bse = np.asarray(res.bse, dtype=float)
    if trouble or not (np.all(np.isfinite(params)) and np.all(np.isfinite(bse))):
        raise EstimationError(
            "GEE fit is unsound: " + ("; ".join(trouble) or "non-finite estimates or SEs")
        )
    return res, params, bse, np.full(params.size, float(G - 1))


def _refuse_indefinite_working_covariance(model: GEE, naive: np.ndarray,
                                          codes: np.ndarray) -> None:
    """GEE whose model-based variance of an arm (``naive``: the arms' model-based SEs) does not
    exist because its exchangeable correlation came out at or below -1/(m - 1), m the largest
    cluster (that cluster's working covariance is not positive definite): refused naming that
    cause. With 4 schools of 10-39 pupils (ICC 0.2) 2
    fits in 120 came out so (-0.028 with a school of 37); srmsim refused them saying "the
    clusters' residuals cancel exactly ... use a model-based standard error", neither of which
    was so (the robust SE was 0.11 and 0.19, and the model-based one NaN: the NaN made the
    round-off check fire). Fits whose model-based variance exists are left as they were."""
    rho = float(np.ravel(model.cov_struct.dep_params)[0])
    largest = int(np.bincount(codes).max())
    if not (largest > 1 and rho <= -1.0 / (largest - 1)):
        return
    if np.all(np.isfinite(naive) & (naive > 0)):
        return
    raise EstimationError(
        f"GEE's exchangeable working correlation came out at {rho:.4g}, at or below "
        f"-1/(m - 1) = {-1.0 / (largest - 1):.4g} for the largest cluster ({largest} rows): its "
        "working covariance is not positive definite and the model-based variance does not "
        "exist (a negative within-cluster correlation estimated from few clusters); use "
        "method='ols' with se='cr2' or method='mixed'")


def _refuse_lone_arm_cluster(arm_lab: np.ndarray, arms: Sequence[str], codes: np.ndarray,
                             cluster: str | None, treatment: str) -> None:
    """GEE's robust variance with an arm (the reference too) in a single cluster: refused, in
    the words OLS's cluster-robust SEs are (:func:`~srmsim.stats._checks.refuse_arms_in_one_cluster`).

    Why GEE too: besides the shock the sandwich cannot see, that cluster alone determines the
    arm's contrast, so its I - H_g in Mancl & DeRouen's (I - H_g)^-1 is singular and the
    bias-reduced sandwich does not exist. statsmodels solves the singular system anyway, and
    unless the round-off happens to be exact (LinAlgError) it returns a number that is
    round-off: 0.93, 0.25, 0.23, 0.28, 0.63, 0.16 for six panels of two schools of noise.
    (Without the bias reduction the clusters' scores cancel: an SE of 0.)"""
    ck.refuse_arms_in_one_cluster(
        {f"arm {a!r} lies": arm_lab == a for a in arms}, codes, [str(cluster)],
        f"effect of {treatment!r} with GEE's robust SEs",
        " (with one cluster in an arm GEE's bias-reduced (Mancl-DeRouen) sandwich is not even "
        "defined; method='mixed' models the cluster's shock, se='classical' gives GEE's "
        "model-based SE)")


def _refuse_lone_cluster_arms(arm_lab: np.ndarray, arms: Sequence[str], ways: np.ndarray,
                              clusters: Sequence[str], treatment: str) -> None:
    """OLS with CR1/CR2 (one- or two-way) when an arm, the reference too, lies in a single
    cluster: refused (:func:`~srmsim.stats._checks.refuse_arms_in_one_cluster` says why; GEE
    refuses the same design, the mixed model models the cluster's shock and covers).

    When the reference arm and an arm each lie in a single cluster (one-way), the effect is those
    clusters' difference: without covariates CR1 is 0 and CR2 undefined, and with a covariate the
    SE came from the covariate's small imbalance alone (2 schools of 32, SE 0.0097 against a
    school SD of 0.5, p = 0.005): said so in those words."""
    ref = arms[0]
    codes = np.asarray(ways).reshape(len(arm_lab), -1)
    masks = {a: arm_lab == a for a in arms}
    own = {a: np.unique(codes[masks[a], 0]) for a in arms}
    lone = [a for a in arms[1:] if own[a].size == 1 and not np.isin(own[a], own[ref]).all()]
    if codes.shape[1] == 1 and lone and own[ref].size == 1:
        raise EstimationError(
            f"{agree(len(lone), 'arm')} {ck._listing(lone)} and the reference arm {ref!r} each "
            f"lie in a single cluster of {clusters[0]!r}: the effect is those clusters' "
            "difference, which no cluster-robust SE can tell from their own shocks (it would "
            "come from the covariates alone); more clusters per arm are needed")
    ck.refuse_arms_in_one_cluster(
        {f"arm {a!r} lies": masks[a] for a in arms}, codes, clusters,
        f"effect of {treatment!r} with {'two-way ' if codes.shape[1] == 2 else ''}"
        "cluster-robust SEs",
        " (method='mixed' models the cluster's shock: its intervals covered 97%)")


def _check_arm_sizes(table: pd.DataFrame, ref: str, method: str, se: str) -> None:
    """Robust variances cannot see the spread of an arm with one student (its residual is 0 at
    leverage 1), so HC1 would return an SE from the other arm alone: refused, not reported, and
    so is OLS with CR1 or CR2, whose cluster sandwich misses that student's error the same way
    (an arm of one student, pure noise, got an SE of 0.08 where its SD is 1, and p = 0.0003). An
    arm (the reference too) within a single cluster is refused before the fit
    (:func:`_refuse_lone_cluster_arms`; GEE: :func:`_refuse_lone_arm_cluster`)."""
    robust = method == "ols" and se in ("hc1", "hc2", "cluster", "cr2")
    sizes = {ref: int(table["n_reference"].iloc[0]), **dict(zip(table["arm"], table["n"], strict=True))}
    lone = [a for a, n in sizes.items() if n < 2]
    if robust and lone:
        kind = {"hc1": "heteroskedasticity-robust (HC1)", "hc2": "heteroskedasticity-robust (HC2)",
                "cluster": "cluster-robust (CR1)", "cr2": "cluster-robust (CR2)"}[se]
        raise EstimationError(
            f"{agree(len(lone), 'arm')} {ck._listing(lone)} {agree(len(lone), 'has', 'have')} "
            f"a single student: a {kind} SE cannot estimate "
            f"{agree(len(lone), 'its', 'their')} variance and would be too small; use "
            "se='classical' "
            "(pooled variance) or collect more data"
        )


def _warn_hc1_small_arm(y: np.ndarray, ref_mask: np.ndarray, arms: Mapping[str, np.ndarray],
                        df_resid: float, alpha: float, notes: list[str]) -> None:
    """HC1's interval takes N - k df, but an arm much smaller than the rest has a variance
    estimated from its few students: the contrast's df are nearer Welch-Satterthwaite's. Warn
    where a t with those df puts less than 1 - alpha - 0.02 inside HC1's critical value (simulated,
    normal errors, 95%: 5 students against 300 covered 85%, 10 against 300 91%, 20 against 60
    94%, 5 against 5 and 15 against 15 95%; HC2 with Bell-McCaffrey df 95% in each)."""
    from scipy import stats as sps

    crit = float(sps.t.ppf(1 - alpha / 2, df_resid))
    v_ref = float(np.var(y[ref_mask], ddof=1)) / int(ref_mask.sum())
    short = []
    for arm, mask in arms.items():
        n = int(mask.sum())
        v_arm = float(np.var(y[mask], ddof=1)) / n
        denom = v_arm**2 / (n - 1) + v_ref**2 / (int(ref_mask.sum()) - 1)
        if not (denom > 0 and math.isfinite(denom)):
            continue
        welch = (v_arm + v_ref) ** 2 / denom
        coverage = 2 * float(sps.t.cdf(crit, welch)) - 1
        if coverage < 1 - alpha - 0.02:
            short.append(f"{ck._listing([arm])} ({plural(n, 'student')}: about "
                         f"{100 * coverage:.0f}%, Welch-Satterthwaite df {welch:.1f})")
    if short:
        ck.warn(f"HC1's {100 * (1 - alpha):g}% interval, with N - k = {df_resid:g} df, covers less "
                f"than that for {agree(len(short), 'arm')} much smaller than the rest: "
                f"{'; '.join(short)}; se='hc2' (HC2 with Bell-McCaffrey df) does not",
                notes, stacklevel=4)


def _nested_columns(data: pd.DataFrame, X: pd.DataFrame, fes: Sequence[str],
                    codes: Sequence[np.ndarray], notes: list[str]) -> int:
    """How many columns of ``X`` CR1's k leaves out: the dummies of fixed effects nested in the
    clusters (every level within one cluster, a school's own effect clustered by school), as R's
    fixest (``fixef.K = "nested"``), Stata's xtreg, fe and :func:`~srmsim.stats.did_twfe` count
    k; the intercept stays counted (fixest's K is the slopes + 1 when every fixed effect is
    nested: its own tests' ``dof.K``). Why: such effects take nothing from the clusters' scores
    (each cluster's residuals sum to zero along them), and counting them inflated
    (N - 1)/(N - k) as the clusters grew small: 20 schools of 6 students, SE 9.3% larger than
    fixest's. ``codes``: one array per clustering dimension; with two-way clustering an effect
    nested in either dimension is left out, as fixest's cpp_check_nested tests each cluster
    variable in turn (a school effect clustered by school and term). 0 when none is nested."""
    nested = [fe for fe in fes
              if any(pd.Series(c).groupby(ck.group_codes(data[fe])).nunique().max() == 1
                     for c in codes)]
    if not nested:
        return 0
    columns = sum(int(str(c).startswith(f"FE:{fe}[")) for fe in nested for c in X.columns)
    notes.append(f"fixed {agree(len(nested), 'effect')} {ck._listing(nested)} nested in the "
                 "clusters: not counted in CR1's (N - 1)/(N - k), as fixest and reghdfe")
    return columns


def _centre_far_covariates(X: pd.DataFrame, arm_terms: Sequence[str], method: str,
                           notes: list[str]) -> pd.DataFrame:
    """Covariates far from zero beside their spread, centred at their mean for GEE and the
    mixed model (noted). Why: the arms' effects and SEs do not depend on a covariate's level
    (the intercept takes it), but the fits did: a covariate of 1e5 + x stopped GEE with
    'Iteration limit reached' (its stopping rule is on the score, whose round-off grows with the
    covariate's size) and moved the mixed model's effect by 9e-4 of itself at 1e6 + x (3e-6 at
    a year such as 2010 + x). Only the intercept changes: the reference arm's mean there."""
    far = [c for c in X.columns
           if c != "Intercept" and c not in arm_terms and not str(c).startswith("FE:")
           and CENTRE_FROM < ck._parts_of_size(X[c].to_numpy(dtype=float)) < math.inf]
    if not far:
        return X
    means = X[far].mean()
    notes.append(f"{agree(len(far), 'covariate')} {ck._listing(far)} "
                 f"{agree(len(far), 'is', 'are')} far from zero beside "
                 f"{agree(len(far), 'its', 'their')} spread: centred at "
                 f"{agree(len(far), 'its mean', 'their means')} "
                 f"({', '.join(f'{m:.6g}' for m in means)}) for the {method} fit; the effects "
                 "do not change, the intercept is the reference arm's mean there")
    return X.assign(**{c: X[c] - means[c] for c in far})


def _drop_singletons(data: pd.DataFrame, fes: Sequence[str],
                     notes: list[str]) -> tuple[pd.DataFrame, int]:
    """Drop rows alone in their fixed-effect level, repeatedly (as reghdfe does by default).

    Why: such a row's own dummy fits it exactly (leverage 1, residual 0), so it says nothing about
    the effect, yet it counted as an observation in HC1's N/(N - k) and as a cluster in CR1's
    G/(G - 1) and t(G - 1): the SE and df differed from the fit without it. Dropping one row can
    leave another alone in a second fixed effect, hence the loop.
    """
    n_start = len(data)
    while len(data):
        keep = np.ones(len(data), dtype=bool)
        for fe in fes:
            codes = ck.group_codes(data[fe])
            keep &= np.bincount(codes)[codes] > 1
        if keep.all():
            break
        data = data.loc[keep].reset_index(drop=True)
    n_dropped = n_start - len(data)
    if not len(data):
        raise DataError(
            f"fixed effects {ck._listing(fes)}: every row is alone in its level (after dropping "
            "such rows repeatedly none is left); there is nothing within a level to compare")
    if n_dropped:
        notes.append(
            f"{plural(n_dropped, 'row')} alone in {agree(n_dropped, 'its', 'their')} level of "
            "fixed "
            f"{agree(len(fes), 'effect')} {ck._listing(fes)} "
            "dropped (singletons, as reghdfe does): their own dummy fits them exactly, so they "
            "carry no information on the effect but would distort robust SEs and df")
    return data, n_dropped


def estimate_effect(
    df: pd.DataFrame,
    outcome: str,
    treatment: str,
    reference: object,
    cluster: str | Sequence[str] | None = None,
    covariates: Sequence[str] = (),
    fixed_effects: str | Sequence[str] | None = None,
    method: str = "ols",
    se: str = "hc1",
    *,
    alpha: float = 0.05,
    reml: bool = True,
) -> EffectEstimate:
    """Estimate each arm's effect on ``outcome`` against ``reference``.

    Parameters: ``cluster`` names the clustering column (school); required for se="cluster"
    (CR1, t(G - 1)), se="cr2" (CR2 with Bell-McCaffrey df: the honest choice with few schools),
    method="gee" and method="mixed". se="hc2" (no cluster needed) is HC2 with Bell-McCaffrey df
    per arm, the honest choice when an arm is much smaller than the rest: the default HC1 warns
    there (its 95% interval covered 85% with 5 students against 300). ``covariates`` are adjusted for (text/categorical ones are
    dummy coded, which is noted). ``fixed_effects`` adds dummies for a column such as a block or
    school (omitted from the table); with method="ols", rows alone in their fixed-effect level are
dropped first (reghdfe's singletons; noted), and CR1 (se="cluster") leaves fixed effects
    nested in the clusters (in either column, two-way) out of k, as fixest (noted). With method="ols",
    cluster= beside an se that does not use it (hc1, the default, hc2 or classical) is refused:
    a named cluster is meant to be accounted for. ``cluster=["school", "term"]`` (OLS with
    se="cluster" only) gives two-way clustered SEs (Cameron, Gelbach & Miller 2011), each term
    with its own G/(G - 1) (fixest's ``ssc(cluster.df = "conventional")``; fixest's default
    applies G_min/(G_min - 1) to all three), with t df G_min - 1; the table's n_clusters counts the first column's clusters, while an arm within one
    cluster of either column is refused, as one-way, and "few clusters" is judged by G_min.

    >>> est = estimate_effect(df, "score", "arm", "control", cluster="school",
    ...                       se="cluster")                               # doctest: +SKIP
    >>> est.table[["arm", "estimate", "ci_low", "ci_high"]]              # doctest: +SKIP
    """
    ck.require_frame(df)
    alpha = ck.check_alpha(alpha)
    covariates = ck.as_list(covariates)
    fes = ck.as_list(fixed_effects)
    notes: list[str] = []
    clusters = check_cluster_arg(cluster)
    if len(clusters) == 2 and (method != "ols" or se != "cluster"):
        raise SrmsimError(
            f"cluster={clusters!r}: two-way clustering is available for method='ols' with "
            "se='cluster' only; GEE and mixed models take one grouping column"
        )
    cluster, second = (clusters + [None, None])[:2]
    se_type = _resolve_se(method, se, cluster, notes)
    if second:
        se_type = "two-way cluster-robust (CGM, CR1 each)"
    ck.single_columns({"outcome": outcome, "treatment": treatment})
    ck.distinct_roles({"outcome": outcome, "treatment": treatment, "covariate": covariates,
                       "fixed effect": fes})
    ck.require_columns(
        df,
        {
            "outcome": outcome,
            "treatment": treatment,
            "cluster": clusters,
            "covariate": covariates,
            "fixed effect": fes,
        },
    )
    ck.numeric_column(df, outcome, "outcome")
    ck.require_some_values(df, outcome, "outcome")
    ck.require_some_values(df, treatment, "treatment")
    # arms before dropping: clearer errors, and a category with no row at all is noted here
    before = ck.arm_order(df[treatment], reference, treatment, notes)
    needed = [outcome, treatment, *clusters, *covariates, *fes]
    data, missing = ck.drop_incomplete(df, needed)
    if fes and method == "ols":
        data, n_single = _drop_singletons(data, fes, notes)
        missing = dataclasses.replace(missing, n_used=len(data), singletons=n_single)
    try:  # (with no row dropped the arms are those found above)
        arms = (list(before) if missing.n_dropped == 0
                else ck.arm_order(data[treatment], reference, treatment))
    except DataError as err:
        raise DataError(f"after dropping rows ({missing.describe()}): {err}") from None
    ck.warn_lost_arms(before, arms, treatment, missing, notes)
    ref, others = arms[0], arms[1:]
    y = ck.numeric_column(data, outcome, "outcome").to_numpy()
    ck.require_variation(y, outcome)
    arm_lab = ck.labels(data[treatment])
    blocks = [
        pd.DataFrame({"Intercept": np.ones(len(data))}),
        pd.DataFrame({f"{treatment}[{a}]": (arm_lab == a).to_numpy(dtype=float)
                      for a in others}, index=data.index),  # ck.dummies, from arm_lab
        ck.covariate_block(data, covariates, notes),
    ]
    for fe in fes:
        present = ck.present_labels(data[fe])  # (once, not once a level)
        levels = [lev for lev in ck.natural_order(data[fe]) if lev in present]
        blocks.append(ck.dummies(data[fe], f"FE:{fe}", levels[1:]))
    X = pd.concat(blocks, axis=1)
    arm_terms = [f"{treatment}[{a}]" for a in others]
    ck.check_full_rank(X, protected=arm_terms, context=f"effect of {treatment!r}")
    if method == "ols":  # OLS is solved by pseudo-inverse; MixedLM fitted a 1e140 covariate
        # exactly and GEE stops with an error (no convergence) rather than a wrong number
        ck.require_comparable_scales(X, f"effect of {treatment!r}")
    else:
        X = _centre_far_covariates(X, arm_terms, method, notes)
    codes = ck.group_codes(data[cluster]) if cluster else None
    attempts = None
    if method == "ols":
        both = codes
        if second and codes is not None:
            second_codes = ck.group_codes(data[second])
            both = np.column_stack([codes, second_codes])
        # before the fit, whose own checks would name another cause (an SE of 0 to rounding);
        # an arm of one student is refused as such after it (_check_arm_sizes)
        if se in ("cluster", "cr2") and both is not None and arm_lab.value_counts().min() > 1:
            _refuse_lone_cluster_arms(arm_lab.to_numpy(), arms, both, clusters, treatment)
        nested = (_nested_columns(data, X, fes, [codes] + ([second_codes] if second else []),
                                  notes)
                  if se == "cluster" and codes is not None else 0)
        res, params, bse, dfs = _ols(y, X, both, se, [list(X.columns).index(t) for t in arm_terms],
                                     nested)
        if second:
            notes.append(f"two-way clustered by {cluster!r} and {second!r} "
                         f"({int(second_codes.max()) + 1} clusters); t df = fewer clusters - 1")
    elif method == "gee":
        if se != "classical" and codes is not None:
            _refuse_lone_arm_cluster(arm_lab.to_numpy(), arms, codes, cluster, treatment)
        res, params, bse, dfs = _gee(y, X, codes, se, notes)
    else:
        if codes is None:  # _resolve_se has already required cluster= for a mixed model
            raise SrmsimError("method='mixed' needs cluster= (the grouping column, e.g. school)")
        if int(codes.max()) + 1 < 2:
            raise EstimationError("mixed model needs at least 2 clusters; found 1")
        res, fit_log, chosen = fit_mixedlm(y, X, codes, reml=reml)
        fixed, dfs = fixed_effects_table(res, X, codes, alpha)
        params, bse = fixed["estimate"].to_numpy(), fixed["se"].to_numpy()
        attempts = attempts_frame(fit_log)
        notes.append(f"mixed model ({'REML' if reml else 'ML'}) fitted with optimiser {chosen}")
        boundary_warning(float(np.asarray(res.cov_re)[0, 0]), float(res.scale), notes)
        for _, a in attempts[attempts["status"] != "accepted"].iterrows():
            notes.append(f"optimiser {a['optimizer']} {a['status']}: {a['reason']}")
    idx = [list(X.columns).index(t) for t in arm_terms]
    est, ses, df_arm = params[idx], bse[idx], dfs[idx]
    if not (np.all(np.isfinite(est)) and np.all(np.isfinite(ses))):
        cause = negative_cgm_cause(res, arm_terms) if second else ""
        raise EstimationError(f"effect of {treatment!r} is not estimable (non-finite estimate or "
                              f"SE){cause}")
    if method in ("ols", "gee") and se != "classical":
        with np.errstate(invalid="ignore"):
            naive = ck.model_based_se(res)[idx]
        if method == "gee" and codes is not None:
            _refuse_indefinite_working_covariance(res.model, naive, codes)
        ck.require_informative_se(ses, naive, arm_terms, se_type, f"effect of {treatment!r}")
    rows = []
    ref_mask = (arm_lab == ref).to_numpy()
    masks = {arm: (arm_lab == arm).to_numpy() for arm in others}  # each arm's rows
    for j, arm in enumerate(others):
        mask = masks[arm]
        lo, hi, p = wald(est[j], ses[j], df_arm[j], alpha)
        rows.append(
            {
                "arm": arm,
                "estimate": float(est[j]),
                "se": float(ses[j]),
                "ci_low": float(lo),
                "ci_high": float(hi),
                "p_value": float(p),
                "n": int(mask.sum()),
                "n_clusters": len(np.unique(codes[mask])) if codes is not None else pd.NA,
                "n_reference": int(ref_mask.sum()),
                "mean_arm": float(y[mask].mean()),
                "mean_reference": float(y[ref_mask].mean()),
                "df": float(df_arm[j]),
            }
        )
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    fewest = int(codes.max()) + 1 if codes is not None else 0
    if second and codes is not None:
        # two-way: few clusters are the smaller count (the df's G), as regress() does; the
        # table's n_clusters keeps counting the first column's clusters
        fewest = min(fewest, int(second_codes.max()) + 1)
    _check_arm_sizes(table, ref, method, se)
    if method == "ols" and se == "hc1" and not second:
        _warn_hc1_small_arm(y, ref_mask, masks, float(res.df_resid), alpha, notes)
    ck.note_share_bounds(y, table["ci_low"].to_numpy(), table["ci_high"].to_numpy(), notes,
                         f"effect of {treatment!r} on {outcome!r}")
    table["n_clusters"] = table["n_clusters"].astype("Int64")
    cluster_df = not (method == "ols" and se not in ("cluster", "cr2"))  # else N - k, no clusters
    if se == "cr2" and method == "ols" and codes is not None:
        shown = ", ".join(f"{a} {d:.1f}" for a, d in zip(others, df_arm, strict=True))
        notes.append(f"{int(codes.max()) + 1} clusters: CR2 (bias-reduced) variance with "
                     f"Bell-McCaffrey t df per arm ({shown}) instead of CR1 with G - 1")
    elif se == "hc2" and method == "ols":
        shown = ", ".join(f"{a} {d:.1f}" for a, d in zip(others, df_arm, strict=True))
        notes.append(f"HC2 (bias-reduced) variance with Bell-McCaffrey t df per arm ({shown}) "
                     "instead of HC1 with N - k")
    elif method == "ols" and se == "cluster" and codes is not None:
        cr1 = few_clusters_cr1_note(fewest, float(df_arm[0]), bool(second))
        if cr1:
            notes.append(cr1)
    elif (cluster_df and codes is not None and not math.isnan(float(df_arm[0]))
            and fewest < 10):
        notes.append(f"only {fewest} clusters: intervals rely on small-sample t df")
    return EffectEstimate(
        table=table,
        outcome=outcome,
        treatment=treatment,
        reference=ref,
        arms=arms,
        method=method,
        se_type=se_type,
        alpha=alpha,
        missing=missing,
        n_clusters=int(codes.max()) + 1 if codes is not None else None,
        result=res,
        terms=list(X.columns),
        notes=notes,
        attempts=attempts,
    )
