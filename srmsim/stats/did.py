"""Difference-in-differences for staggered roll-out across schools.

Two estimators, because they answer differently when effects vary:

* :func:`did_twfe` - the classic two-way fixed effects regression y ~ D + unit FE + time FE with
  cluster-robust SEs. With staggered adoption and effects that grow or differ by cohort it is
  biased (already-treated schools act as controls; Goodman-Bacon 2021), sometimes of the wrong
  sign. It is here because readers expect it, and to show that bias.
* :func:`did_group_time` - Callaway & Sant'Anna (2021) group-time effects without covariates:
  ATT(g, t) is a 2x2 DiD of cohort g (units first treated in period g) against never-treated or
  not-yet-treated units, between period t and the base period. They are aggregated to event time
  (an event-study table and plot) and to one overall ATT, weighting cohorts by their size.
  Written directly on numpy (no external DiD package). Inference: each ATT(g, t) and aggregate
  is linear in unit-level influence functions (those of the estimated cohort shares included,
  as in Callaway & Sant'Anna 2021 and R's ``did``), summed by cluster (the unit, or a coarser
  cluster column). Small-cluster correction: each arm's part is scaled by sqrt(G/(G-1)) (with
  units as clusters this is Welch's unbiased two-sample variance), and intervals use t with
  Satterthwaite degrees of freedom over the arms (a cell's treated cohort and its pooled
  comparison group; an aggregate's cohorts and never-treated; an arm of one cluster leaves the
  estimate without df, so without interval). With 10-20 units per cohort this covers 95%
  (measured: 94-96% over 300 simulated panels; normal intervals from the earlier cluster
  bootstrap covered 93%). Simultaneous (sup-t) bands over event times come
  from a seeded multiplier bootstrap with Mammen (1993) weights drawn per cluster.

Data: one row per unit and period, or one row per student with ``unit`` a school (outcomes are
then averaged to unit-period cells first, so each school counts once per period). ``time`` is
numeric; ``first_treated``/``treated_from`` holds the first treated period of the unit, and a
missing or infinite value means never treated. Event time counts observed periods, so gaps in the
period labels (e.g. years) do not distort it. Unbalanced panels: each ATT(g, t) uses the units
observed in both of its periods, and the cohort shares count every unit (R's ``did`` instead
keeps only units seen in every period, or with ``allow_unbalanced_panel`` treats the rows as
repeated cross-sections). With ``control="notyet"`` and no never-treated unit, cells without a
not-yet-treated control are skipped: the post-treatment cells and aggregates are those of R's
``did``, which drops the periods from the last cohort's start and uses that cohort as never
treated; the last cohort's own pre-period cells are reported too. ``anticipation`` follows R's
``did`` (in the units of ``time``); see :func:`did_group_time`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from srmsim.argtypes import MAX_SEED
from srmsim.errors import DataError, EstimationError
from srmsim.figures import new_figure, save
from srmsim.labels import agree, given_percent, p_text, plural

from . import _checks as ck
from ._inference import cr2_sandwich, critical_value, few_clusters_cr1_note, wald

_BOOT_CHUNK = 10_000  # draws made at a time, so memory stays at chunk x clusters
_ROUND_OFF = 1e-10  # relative size below which a standard error is round-off, not evidence


def _constant_within_unit(data: pd.DataFrame, col: str, what: str, unit: str,
                          why: str = "") -> None:
    """A column that describes a unit (its first treated period, its cluster) must not vary
    within the unit."""
    spread = data.groupby("_u", sort=False)[col].nunique()
    if (spread > 1).any():
        bad = list(spread[spread > 1].index[:5])
        raise DataError(f"{what} must be constant within each unit of {unit!r}{why}; it varies "
                        f"within {agree(len(bad), 'unit')} {', '.join(map(repr, bad))}")


def _prepare(
    df: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    cluster: str | None,
    role_first: str,
) -> tuple[pd.DataFrame, ck.MissingReport, list[str]]:
    ck.one_cluster(cluster, "difference-in-differences")
    ck.require_frame(df)
    ck.single_columns({"outcome": outcome, "unit": unit, "time": time, role_first: first_treated})
    ck.require_columns(
        df,
        {"outcome": outcome, "unit": unit, "time": time, role_first: first_treated,
         "cluster": cluster},
    )
    ck.numeric_column(df, outcome, "outcome")
    ck.require_some_values(df, outcome, "outcome")
    ck.numeric_column(df, time, "time")
    ck.numeric_column(df, first_treated, role_first)
    cols = [outcome, unit, time, *([cluster] if cluster and cluster != unit else [])]
    data, missing = ck.drop_incomplete(df, cols, carry=[first_treated])
    notes: list[str] = []
    g_values = ck.numeric_column(data, first_treated, role_first).to_numpy()
    if np.any(np.isneginf(g_values)):
        raise DataError(
            f"{role_first} column {first_treated!r} holds -inf: blank or +inf means never "
            "treated; -inf (treated forever?) is ambiguous, give the first treated period"
        )
    ck.require_variation(ck.numeric_column(data, outcome, "outcome").to_numpy(), outcome)
    data = data.assign(
        _y=ck.numeric_column(data, outcome, "outcome"),
        _t=ck.numeric_column(data, time, "time"),
        _g=ck.numeric_column(data, first_treated, role_first).fillna(np.inf),
        _u=ck.labels(data[unit]),
    )
    _constant_within_unit(data, "_g", f"{role_first} column {first_treated!r}", unit)
    if cluster and cluster != unit:
        data = data.assign(_c=ck.labels(data[cluster]))
        _constant_within_unit(data, "_c", f"cluster column {cluster!r}", unit,
                              " (units are resampled whole)")
    else:
        data = data.assign(_c=data["_u"])
    # one canonical row order: sums, cluster codes and the bootstrap's per-cluster weights must
    # not depend on how the caller's table happens to be sorted (same data + seed = same band)
    data = data.sort_values(["_u", "_t", "_y"], kind="stable").reset_index(drop=True)
    return data, missing, notes


# --------------------------------------------------------------------------------------------
# Two-way fixed effects


def _absorb(M: np.ndarray, a: np.ndarray, b: np.ndarray, tol: float = 1e-11) -> np.ndarray:
    """Remove unit and time means by alternating projections (exact for unbalanced panels too).

    Each column's mean goes first (a constant lies in the unit effects' span, so the result is
    the same), and each column stops on its own spread: the rule was on the largest value of
    any column, so an outcome of 1e9 + y stopped the projections 1e-2 short, and the SE moved
    by 6e-6 of itself (2e-5 with CR2) where the data's own rounding moves it by nothing."""
    M = np.array(M, dtype=float, copy=True)
    M -= M.mean(axis=0)
    ca, cb = np.bincount(a).astype(float), np.bincount(b).astype(float)
    scale = np.abs(M).max(axis=0)
    scale[scale == 0] = 1.0
    for _ in range(10_000):
        for codes, counts in ((a, ca), (b, cb)):
            means = np.stack(
                [np.bincount(codes, weights=M[:, j], minlength=counts.size) for j in range(M.shape[1])],
                axis=1,
            ) / counts[:, None]
            M -= means[codes]
        resid_a = np.stack(
            [np.bincount(a, weights=M[:, j], minlength=ca.size) for j in range(M.shape[1])], axis=1
        ) / ca[:, None]
        if np.all(np.abs(resid_a).max(axis=0) < tol * scale):
            return M
    raise EstimationError("two-way fixed effects did not converge (alternating projections)")


@dataclass(frozen=True)
class DidEstimate:
    """A single DiD coefficient with its cluster-robust inference."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float
    n: int
    n_units: int
    n_clusters: int
    n_treated_units: int
    alpha: float
    missing: ck.MissingReport
    notes: tuple[str, ...] = ()
    #: the cluster-robust variance: "cluster" (CR1, t with G - 1 df) or "cr2" (CR2 with its
    #: Bell-McCaffrey df)
    se_type: str = "cluster"

    def summary(self) -> str:
        kind = ("CR2 cluster-robust SE, t with Bell-McCaffrey" if self.se_type == "cr2"
                else "CR1 cluster-robust SE, t with")
        lines = [
            f"Two-way fixed effects DiD (unit and period fixed effects, {kind} {self.df:g} df)",
            f"  estimate {self.estimate:.4f} (SE {self.se:.4f}), {given_percent(1 - self.alpha)} CI "
            f"{self.ci_low:.4f} to {self.ci_high:.4f}, p = {self.p_value:.4g}",
            f"  {plural(self.n_units, 'unit')} ({self.n_treated_units} ever treated), "
            f"{plural(self.n_clusters, 'cluster')}; rows: {self.missing.describe()}",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


#: CR1's and CR2's coverage with few schools, as the note of did_twfe(se="cluster") quotes it:
#: 500 simulated panels each (schools adopting in periods 1-3 of 4, 15-34 pupils a school-period,
#: school and school-period shocks, a constant effect)
TWFE_CR1_MEASURED = ("95% intervals of a staggered-adoption effect covered the truth in 86% of "
                     "simulated panels of 4 schools and 93% of 6", "96%")


def did_twfe(
    df: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treated_from: str,
    *,
    cluster: str | None = None,
    alpha: float = 0.05,
    se: str = "cluster",
) -> DidEstimate:
    """Static TWFE: y_it = a_i + b_t + beta D_it + e, D_it = 1 once t >= treated_from.

    Clustered by ``cluster`` (default: the unit). ``se="cluster"``: CR1 with the unit effects
    not counted in k (they are nested in clusters); t with G - 1 df. With few clusters that
    interval is too narrow (a stepped wedge of 4 schools with no effect rejected 13% of the
    time at the 5% level, 6 schools 10%), so ``se="cr2"`` gives CR2 (bias-reduced) with the
    Bell-McCaffrey df, as :func:`estimate_effect` does: computed on the design after removing
    the unit means (exact for unit effects nested in the clusters, Pustejovsky & Tipton 2018).
    Biased under staggered, heterogeneous effects: compare with :func:`did_group_time`.

    Several rows per unit and period (students within a school unit, say) are kept and each
    row weighs the same, so a cell with more rows weighs more (a note says so);
    :func:`did_group_time` averages each cell first. Units seen in a single period and periods
    seen in a single unit are dropped first, repeatedly (noted; reghdfe's singletons): their own
    effect fits them, so they leave the estimate unchanged but counted as clusters in CR1.

    The treated unit-periods, or the untreated ones from the first treated period on (the
    comparison), in a single cluster are refused for CR1 and CR2 alike: their intervals covered
    55% (see :func:`_refuse_lone_cluster_sides`).
    """
    alpha = ck.check_alpha(alpha)
    ck.check_choice(se, ("cluster", "cr2"), "se")
    data, missing, notes = _prepare(df, outcome, unit, time, treated_from, cluster, "treated_from")
    data, n_alone = _drop_lone_cells(data, unit, time, notes)
    if n_alone:
        missing = dataclasses.replace(missing, n_used=len(data), singletons=n_alone)
    u = pd.factorize(data["_u"])[0]
    t = pd.factorize(data["_t"])[0]
    c = pd.factorize(data["_c"])[0]
    cells = data.groupby(["_u", "_t"]).ngroups
    if cells < len(data):
        notes.append(f"{len(data)} rows in {cells} unit-period cells: each row weighs the same, "
                     "so a cell with more rows weighs more")
    D = (data["_t"].to_numpy() >= data["_g"].to_numpy()).astype(float)
    if D.min() == D.max():
        raise DataError(
            f"treated_from column {treated_from!r}: every row is {'treated' if D[0] else 'untreated'}"
            "; DiD needs treated and untreated unit-periods"
        )
    M = _absorb(np.column_stack([data["_y"].to_numpy(), D]), u, t)
    yt, dt = M[:, 0], M[:, 1]
    sxx = float(dt @ dt)
    if sxx < 1e-10 * len(dt):
        raise EstimationError(
            "treatment does not vary once unit and period effects are removed (e.g. every unit "
            "starts in the same period and none is never treated); DiD is not identified"
        )
    beta = float(dt @ yt) / sxx
    e = yt - beta * dt
    G, N, T = int(c.max()) + 1, len(e), int(t.max()) + 1
    n_units = int(u.max()) + 1
    _require_twfe_residuals(e, data["_y"].to_numpy(), n_units, T)
    if G < 2:
        raise EstimationError("cluster-robust SEs need at least 2 clusters; found 1")
    # the unit effects are not counted in k: _prepare requires each unit in one cluster, so they
    # are nested in the clusters (CR1 as Stata's xtreg, fe vce(cluster) and R's fixest, whose
    # K keeps the intercept: treatment + T - 1 period effects + 1)
    k = 1 + (T - 1) + 1
    scores = np.bincount(c, weights=dt * e, minlength=G)
    var = float(scores @ scores) / sxx**2 * (G / (G - 1)) * ((N - 1) / max(N - k, 1))
    model_var = float(e @ e) / sxx / max(N - n_units - T, 1)
    if var <= _ROUND_OFF**2 * model_var:
        raise EstimationError(
            f"did_twfe: the cluster-robust variance is zero up to round-off: the {G} clusters' "
            "scores cancel (with two units they always do), so no standard error can be "
            "estimated; more units (clusters) are needed"
        )
    _refuse_lone_cluster_sides(D, data["_t"].to_numpy(), c, cluster or unit, se)
    df_t = float(G - 1)
    if se == "cr2":
        var, df_t = _twfe_cr2(D, e, u, t, c)
    else:  # the default: say when its interval is too narrow (it said nothing)
        cr1 = few_clusters_cr1_note(G, df_t, measured=TWFE_CR1_MEASURED)
        if cr1:
            notes.append(cr1)
    se_twfe = math.sqrt(var)
    lo, hi, p = (float(v) for v in wald(beta, se_twfe, df_t, alpha))
    # units treated in a period they are observed in: a first treated period after the panel
    # (9999 for "never", or 0 as R's did codes it) is no treated unit
    treated_periods = np.bincount(u, weights=D, minlength=n_units)
    ever = treated_periods > 0
    always = ever & (treated_periods == np.bincount(u, minlength=n_units))
    before = data["_g"].to_numpy() < data["_t"].min()
    if np.any(always) and before.any():
        notes.append(
            f"{plural(int(always.sum()), 'unit')} {agree(int(always.sum()), 'is', 'are')} treated "
            f"in every period observed, {int(np.unique(u[before]).size)} of them with "
            f"{treated_from!r} before the first period (e.g. {data['_g'].to_numpy()[before][0]:g}): "
            "their unit effects absorb it, so they weigh on the estimate only as controls; if "
            "that value means never treated (R's did uses 0), blank it instead")
    return DidEstimate(
        estimate=beta,
        se=se_twfe,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        df=df_t,
        n=N,
        n_units=n_units,
        n_clusters=G,
        n_treated_units=int(ever.sum()),
        alpha=alpha,
        missing=missing,
        notes=tuple(notes),
        se_type=se,
    )


def _refuse_lone_cluster_sides(D: np.ndarray, t: np.ndarray, c: np.ndarray, cluster: str,
                              se: str) -> None:
    """did_twfe's CR1 and CR2 when the treated unit-periods, or the untreated ones from the
    first treated period on (the comparison the effect rests on), lie in a single cluster:
    refused through :func:`~srmsim.stats._checks.refuse_arms_in_one_cluster`.

    Why: that cluster's own period shocks are in the estimate whole but not in the sandwich.
    With 8 schools of 3 classes (school x period SD 0.5, class and pupil SD 1, 6 periods, effect
    1), the treated classes in one school covered 55.3% (CR1) and 55.7% (CR2) of 300 simulated
    panels, and so did the never-treated classes in one school with every treated class starting
    in the same period. Never-treated units in one cluster beside staggered starts (schools
    starting in periods 2, 3 and 4) are not refused: the not-yet-treated schools are
    comparisons too, and the intervals covered 93.7% (CR1) and 97.0% (CR2). It was only warned
    (of one treated cluster)."""
    comparison = (D == 0) & (t >= t[D > 0].min())
    ck.refuse_arms_in_one_cluster(
        {"the treated unit-periods lie": D > 0,
         "the untreated unit-periods from the first treated period on lie": comparison},
        c, [cluster], f"did_twfe with {'CR2' if se == 'cr2' else 'CR1'} cluster-robust SEs",
        " (with one such cluster the estimate is descriptive only)")


def _drop_lone_cells(data: pd.DataFrame, unit: str, time: str,
                     notes: list[str]) -> tuple[pd.DataFrame, int]:
    """Drop units seen in a single period and periods seen in a single unit, repeatedly.

    Why: their unit (or period) effect fits them whole, so once the effects are removed their
    treatment is 0 and they carry nothing on the effect (the estimate is unchanged), yet each
    such unit counted as a cluster in CR1's G/(G - 1) and t(G - 1) df: 8 units panelled over 5
    periods plus 20 units seen once gave t(27) and an interval 19% narrower than the 8 units
    alone (t(7)). As reghdfe's singletons, and as estimate_effect drops them; CR2's
    Bell-McCaffrey df never counted them. With several rows per cell, the rows of such a cell."""
    n_start = len(data)
    while len(data):
        periods_per_unit = data.groupby("_u")["_t"].transform("nunique")
        units_per_period = data.groupby("_t")["_u"].transform("nunique")
        keep = (periods_per_unit > 1) & (units_per_period > 1)
        if keep.all():
            break
        data = data.loc[keep.to_numpy()].reset_index(drop=True)
    dropped = n_start - len(data)
    if not len(data):
        raise DataError(
            f"did_twfe: no unit of {unit!r} is seen in two periods of {time!r} alongside another "
            "unit (after dropping units seen once and periods with one unit, repeatedly, none "
            "is left); DiD compares units' changes over time")
    if dropped:
        notes.append(
            f"{plural(dropped, 'row')} of units seen in a single period of {time!r} (or of "
            f"periods with a single unit of {unit!r}) dropped, repeatedly: their own unit or "
            "period effect fits them, so they carry nothing on the effect, but would count as "
            "clusters in the CR1 variance and its t(G - 1) df (reghdfe's singletons)")
    return data, dropped


def _twfe_cr2(D: np.ndarray, e: np.ndarray, u: np.ndarray, t: np.ndarray,
              c: np.ndarray) -> tuple[float, float]:
    """CR2 variance of the TWFE coefficient and its Bell-McCaffrey df.

    The design is the treatment ``D`` and the period dummies, each with its unit means removed:
    the unit effects are nested in the clusters, so leaving them out of the adjustment gives
    the full dummy design's CR2 (Pustejovsky & Tipton 2018, Theorem 2) without a column per
    unit (a panel of students as units stays small). ``e`` are the TWFE residuals, which the
    regression on this design reproduces (Frisch-Waugh-Lovell)."""
    from scipy.linalg import qr

    T = int(t.max()) + 1
    Z = np.column_stack([D, np.eye(T)[t][:, 1:]])
    counts = np.bincount(u).astype(float)
    means = np.stack([np.bincount(u, weights=Z[:, j]) for j in range(Z.shape[1])], axis=1)
    Z -= means[u] / counts[u, None]
    # a period seen only by units observed in that period alone has no column left: keep the
    # independent period columns (the treatment is identified, checked by the caller)
    if Z.shape[1] > 1:
        _, r, piv = qr(Z[:, 1:], mode="economic", pivoting=True)
        diag = np.abs(np.diag(r))
        keep = np.sort(piv[: int((diag > 1e-10 * max(diag.max(), 1e-300)).sum())]) + 1
        Z = Z[:, np.r_[0, keep]]
    cov, df = cr2_sandwich(Z, e, c, terms=[0])
    if not (math.isfinite(df[0]) and df[0] > 0):
        raise EstimationError(
            "did_twfe: the CR2 standard error and Bell-McCaffrey df of the treatment are not "
            "defined (once each cluster's own fit is taken out no cluster's residuals inform "
            "them); more clusters are needed")
    return float(cov[0, 0]), float(df[0])


def _require_twfe_residuals(e: np.ndarray, y: np.ndarray, n_units: int, n_periods: int) -> None:
    """No residual, no standard error: a 2 x 2 DiD (one row per cell) uses every row for its
    unit, period and treatment terms, and a noiseless panel is reproduced exactly."""
    try:
        ck.require_residual_variation(e, y, "did_twfe")
    except EstimationError:
        if e.size <= n_units + n_periods:
            raise EstimationError(
                f"did_twfe: {e.size} rows for {n_units} unit and {n_periods} period effects plus "
                "the treatment: the model reproduces the outcome exactly and no residual is left, "
                "so no standard error can be estimated (a 2 x 2 DiD is a point estimate only); "
                "more units are needed"
            ) from None
        raise


# --------------------------------------------------------------------------------------------
# Callaway-Sant'Anna group-time effects


@dataclass
class _Cells:
    """ATT(g,t) cell definitions over a unit x period matrix of cell means."""

    cohort: list[float]
    period: list[float]
    event: list[int]
    delta: np.ndarray  # cells x units, outcome change (0 where undefined)
    treated: np.ndarray  # cells x units, 0/1
    control: np.ndarray  # cells x units, 0/1


def _cluster_counts(member: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Number of clusters with at least one member, per row of a rows x units 0/1 matrix."""
    return ((member @ onehot) > 0).sum(axis=1)


def _small_cluster_factor(g: np.ndarray) -> np.ndarray:
    """sqrt(G / (G - 1)) per arm: undoes the (G - 1)/G shrinkage of a variance around a mean
    estimated from G clusters (with units as clusters this is Welch's unbiased two-sample
    variance). NaN for a single cluster, whose variance cannot be estimated."""
    g = np.asarray(g, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(g > 1, np.sqrt(g / (g - 1)), np.nan)


def _cell_influence(cells: _Cells, onehot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ATT(g,t) per cell and its influence function (cells x units), small-cluster corrected.

    ATT = mean of the change over treated units - mean over controls, so unit i contributes
    (change_i - mean_T) / n_T if treated and -(change_i - mean_C) / n_C if a control; the sum of
    squared cluster totals is the variance. Each arm is scaled by sqrt(G_arm / (G_arm - 1)).
    """
    T, C, D = cells.treated, cells.control, cells.delta
    n_t, n_c = T.sum(axis=1), C.sum(axis=1)
    m_t = (T * D).sum(axis=1) / n_t
    m_c = (C * D).sum(axis=1) / n_c
    f_t = _small_cluster_factor(_cluster_counts(T, onehot))
    f_c = _small_cluster_factor(_cluster_counts(C, onehot))
    psi = (T * (D - m_t[:, None]) * (f_t / n_t)[:, None]
           - C * (D - m_c[:, None]) * (f_c / n_c)[:, None])
    return m_t - m_c, psi


def _aggregate(att, psi, cell_cohort, select, share, indicator) -> tuple[float, np.ndarray]:
    """Cohort-share weighted mean of selected cells and its influence function (per unit).

    As in Callaway & Sant'Anna (2021) the cohort shares are estimated, so their own influence
    (indicator - share) enters too: the estimand is the population-weighted ATT.
    """
    w = share[cell_cohort] * select
    total = w.sum()
    est = float((w * att).sum() / total)
    infl = (w[select] / total) @ psi[select]  # a cell it leaves out (a NaN row) does not enter
    d_share = np.zeros(share.size)
    np.add.at(d_share, cell_cohort[select], (att[select] - est) / total)
    return est, infl + d_share @ indicator


def _variance_and_df(infl: np.ndarray, clusters: np.ndarray, arms: np.ndarray) -> tuple[float, float]:
    """Cluster-robust variance of a linear estimator and its Satterthwaite degrees of freedom.

    Units fall into arms (their cohort, or never treated); the variance is a sum of arm parts,
    each estimated from G_arm clusters with G_arm - 1 df, so df = V^2 / sum(V_a^2 / (G_a - 1))
    (Welch's t, generalised). Capped at G - 1, G the clusters of the arms that carry variance:
    units left out (or outside a cell) add nothing to it, and clusters of their own lifted
    the cap (12 left-out units in 6 districts of their own took t(9) to t(15)).
    """
    G = int(clusters.max()) + 1
    totals = np.bincount(clusters, weights=infl, minlength=G)
    var = float(totals @ totals)
    if not np.isfinite(var):
        return math.nan, math.nan
    key = arms * G + clusters
    part = np.bincount(key, weights=infl, minlength=(int(arms.max()) + 1) * G).reshape(-1, G)
    present = np.bincount(key, minlength=part.size).reshape(-1, G) > 0
    v_arm, g_arm = (part**2).sum(axis=1), present.sum(axis=1)
    used = v_arm > 1e-14 * max(var, 1e-300)
    if (g_arm[used] < 2).any() or var <= 0:
        return var, math.nan
    df = float(sum(v_arm[used]) ** 2 / (v_arm[used] ** 2 / (g_arm[used] - 1)).sum())
    g_used = int(present[used].any(axis=0).sum())
    return var, min(df, float(g_used - 1))


def _warn_few_treated_clusters(cohort_member, onehot, cohort_periods, notes) -> None:
    """One treated cluster: its own shock and the effect cannot be told apart (no SE exists)."""
    per_cohort = _cluster_counts(cohort_member, onehot)
    lone = [f"{p:g}" for p, k in zip(cohort_periods, per_cohort, strict=True) if k < 2]
    treated_total = int(((cohort_member.sum(axis=0) @ onehot) > 0).sum())
    if treated_total < 2:
        ck.warn(f"only {treated_total} treated cluster: its effect cannot be told apart from its "
                "own shocks and no standard error exists; the estimates are descriptive", notes)
    elif lone:
        ck.warn(f"{agree(len(lone), 'cohort')} first treated in {', '.join(lone)} "
                f"{agree(len(lone), 'has', 'have')} a single cluster: their "
                "ATT(g, t) have no standard error, and neither has any aggregate they enter",
                notes)


def _require_within_arm_variation(cells: _Cells, y: np.ndarray) -> None:
    """Every ATT(g, t) SE rests on how units' changes spread around their arm's mean change; if
    none do (a noiseless panel) the SEs are round-off (1e-16, p = 1e-49), so refuse. With one
    unit in every arm there is no spread at any data: say so, not that the fit is exact."""
    T, C, D = cells.treated, cells.control, cells.delta
    if (T.sum(axis=1) < 2).all() and (C.sum(axis=1) < 2).all():  # no spread, whatever the data
        cohorts = list(dict.fromkeys(cells.cohort))
        raise EstimationError(
            "did_group_time: every group-time effect compares a single treated unit with a "
            f"single control unit ({agree(len(cohorts), 'cohort')} first treated in "
            f"{', '.join(f'{c:g}' for c in cohorts)}), so no unit's change can spread around "
            "its arm's mean and no standard error exists; more units are needed in each cohort "
            "and among the controls")
    m_t = (T * D).sum(axis=1) / T.sum(axis=1)
    m_c = (C * D).sum(axis=1) / C.sum(axis=1)
    spread = T * (D - m_t[:, None]) + C * (D - m_c[:, None])
    ck.require_residual_variation(spread[(T + C) > 0], y, "did_group_time")


def _sup_t(rng: np.random.Generator, n_boot: int, infl: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Largest |t| over event times per multiplier draw; drawn in chunks so memory stays at
    chunk x clusters (same draws, in the same order, as one big matrix)."""
    out = np.empty(n_boot)
    for start in range(0, n_boot, _BOOT_CHUNK):
        V = _mammen(rng, min(_BOOT_CHUNK, n_boot - start), infl.shape[1])
        out[start:start + V.shape[0]] = np.abs(V @ infl.T / se).max(axis=1)
    return out


def _mammen(rng: np.random.Generator, n_boot: int, n_clusters: int) -> np.ndarray:
    """Mammen (1993) two-point multiplier weights: mean 0, variance 1, third moment 1."""
    root5 = math.sqrt(5.0)
    low = rng.random((n_boot, n_clusters)) < (root5 + 1) / (2 * root5)
    return np.where(low, -(root5 - 1) / 2, (root5 + 1) / 2)


def _round_off_slack(periods: np.ndarray, anticipation: float) -> float:
    """Allowance for round-off when period labels plus ``anticipation`` are compared with first
    treated values: in binary 0.7 + 0.1 < 0.8, so with periods in tenths and anticipation 0.1
    the 0.8 cohort took 0.7, its own anticipation period, as its base. 1e-9 of the labels'
    scale, kept well below the smallest gap between periods; none without anticipation (the
    labels are then compared as they are, as the cohorts are formed)."""
    if not anticipation:
        return 0.0
    slack = 1e-9 * max(float(np.abs(periods).max()), float(anticipation))
    if periods.size > 1:
        slack = min(slack, 1e-3 * float(np.diff(periods).min()))
    return slack


@dataclass
class GroupTimeResult:
    """Callaway-Sant'Anna group-time effects, their event-study aggregation and overall ATT."""

    att_gt: pd.DataFrame
    event_study: pd.DataFrame
    overall: pd.Series
    aggregates: pd.DataFrame
    control: str
    base_period: str
    n_boot: int
    seed: int
    alpha: float
    n_units: int
    n_clusters: int
    missing: ck.MissingReport
    outcome: str
    notes: list[str] = field(default_factory=list)
    anticipation: float = 0.0

    def summary(self) -> str:
        o = self.overall
        lines = [
            f"Group-time DiD (Callaway-Sant'Anna) for {self.outcome!r}: control = "
            f"{self.control} units, base period = {self.base_period}"
            + (f", anticipation = {self.anticipation:g}" if self.anticipation else ""),
            f"  {plural(self.n_units, 'unit')}, {plural(self.n_clusters, 'cluster')}; SEs from "
            "influence functions "
            "(small-cluster corrected), t with Satterthwaite df; band: multiplier bootstrap, "
            f"{self.n_boot} Mammen draws (seed {self.seed})",
            f"  rows: {self.missing.describe()}",
            f"  overall ATT {o['estimate']:.4f} (SE {o['se']:.4f}), "
            f"{given_percent(1 - self.alpha)} CI {o['ci_low']:.4f} to {o['ci_high']:.4f}, "
            f"p = {o['p_value']:.4g}",
            "  event study:",
            self.event_study.to_string(index=False, float_format=lambda v: f"{v:.4f}",
                                      formatters={"p_value": p_text}),
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def plot(self, path: str | Path | None = None, *, title: str | None = None):
        """Event-study figure: estimates with pointwise CIs and the simultaneous band."""
        es = self.event_study
        fig, ax = new_figure()
        pre = es["event_time"] < 0
        for mask, colour, label in ((pre, "tab:grey", "before"), (~pre, "tab:blue", "after")):
            part = es[mask]
            if part.empty:
                continue
            ax.fill_between(
                part["event_time"], part["band_low"], part["band_high"], color=colour, alpha=0.15,
                linewidth=0,
            )
            ax.errorbar(
                part["event_time"],
                part["estimate"],
                yerr=[part["estimate"] - part["ci_low"], part["ci_high"] - part["estimate"]],
                fmt="o",
                color=colour,
                capsize=3,
                label=f"{label} treatment",
            )
        ax.axhline(0, color="black", linewidth=0.8)
        ax.axvline(-0.5, color="black", linewidth=0.8, linestyle="--")
        ax.set_xlabel("periods since first treated (event time)")
        ax.set_ylabel(f"ATT on {self.outcome}")
        level = given_percent(1 - self.alpha)
        ax.set_title(title or f"Event study ({self.control} controls): {level} CI and band")
        ax.legend(loc="best")
        save(fig, path)
        return fig


def did_group_time(
    df: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    control: str = "never",
    cluster: str | None = None,
    *,
    base_period: str = "varying",
    anticipation: float = 0,
    n_boot: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
) -> GroupTimeResult:
    """Callaway-Sant'Anna ATT(g, t), event-study table and overall ATT (cohort-size weights).

    ``control="never"`` compares with never-treated units; ``"notyet"`` with units not treated
    by period t (nor by the base period), never-treated included. ``base_period="varying"``
    compares pre-periods with the period before (as R's ``did``); ``"universal"`` uses the period
    before treatment for every ATT(g, t). Units treated in the first observed period have no
    pre-period and are left out (noted); units first treated after the last period count as
    never treated (noted).

    ``anticipation`` (R's ``did`` argument, in the units of ``time``): units may respond this
    long before they are first treated, so a cohort first treated in g is compared with its last
    period t with t + anticipation < g (the base of its post-treatment effects), a not-yet-treated
    control must be untreated beyond the later of its two periods plus ``anticipation``, units
    first treated by the first period plus ``anticipation`` are left out, and only those first
    treated after the last period plus ``anticipation`` count as never treated (those within it
    of the last period have no post-treatment period and are no never-treated control; with
    ``control="notyet"``, as in R, they are controls in the cells that end more than
    ``anticipation`` before their first treated period). Effects between g - anticipation and g
    stay pre-treatment cells (event time < 0) and do not enter the overall ATT, as in R's
    ``did``. These rules read each unit's own first treated value, also when it falls in a
    period with no rows (its cohort, that of the next observed period, takes its base from its
    earliest unit).

    Event-study columns: event_time, estimate, se, ci_low, ci_high, p_value, df, band_low,
    band_high (simultaneous sup-t band over event times), n_cohorts. ``n_boot`` and ``seed``
    set the multiplier bootstrap behind the band; SEs and pointwise intervals are analytic.
    A cohort with a single cluster has no SE (a :class:`StatsWarning` says so), nor has an
    effect whose arms' changes do not vary (its SE would be round-off). That is decided per
    group-time cell, not refused for the whole call as :func:`did_twfe` refuses a lone treated
    or comparison cluster: a cell whose cohort, or whose control group, lies in one cluster gets
    a NaN SE (its arm's sqrt(G/(G - 1)) is undefined), and so does every aggregate it enters;
    the other cohorts' cells and aggregates keep theirs, and they cover. With 8 schools of 3
    classes (school x period SD 0.5), cohort 2 in 4 schools, cohort 4 the classes of one school
    and 3 never-treated schools, cohort 2's cells covered 96.4% (never-treated controls) and
    95.8% (not yet treated) of 1,200, its event times 2-3 94-98% of 300, while cohort 4's cells,
    event times 0-1 and the overall ATT had none. An aggregate's arms follow the cells' rule
    (units that are controls in its cells and treated in none are one arm): an event time of one
    cell has that cell's SE, df and interval, and an aggregate with an arm of one cluster has no
    SE, as such a cell has none. With the never-treated classes in one
    school and ``control="notyet"``, the cells with a not-yet-treated school among their
    controls covered 95.4% of 900 (the rest had no SE). Refusing would throw those away, and a
    NaN cannot be read as a precise estimate. ``n_boot`` is 50 to
    ``MAX_REPEATS`` (100,000, the cap on every repetition count: 10**9 draws once asked for 60
    GiB of weights, and the Monte-Carlo error of the band's 95% quantile is already about 1% at
    10,000); ``seed`` a whole number from 0 to 2**63 - 1.
    """
    ck.check_choice(control, ("never", "notyet"), "control")
    ck.check_choice(base_period, ("varying", "universal"), "base_period")
    alpha = ck.check_alpha(alpha)
    anticipation = ck.finite_number(anticipation, "anticipation")
    if anticipation < 0:
        raise DataError(f"anticipation={anticipation:g} must be 0 or more: how long before their "
                        "first treated period units may already respond")
    n_boot = ck.whole_number(n_boot, "n_boot", 50, ck.MAX_REPEATS, " (more draws do not "
                             "sharpen the band's quantile, only cost time and memory)")
    seed = ck.whole_number(seed, "seed", 0, MAX_SEED)
    data, missing, notes = _prepare(df, outcome, unit, time, first_treated, cluster, "first_treated")
    cells_mean = data.groupby(["_u", "_t"], sort=True)["_y"].mean()
    if len(cells_mean) < len(data):
        notes.append(
            f"{len(data)} rows averaged to {len(cells_mean)} unit-period cells (each unit "
            "counts once per period)"
        )
    units = list(dict.fromkeys(data["_u"]))
    periods = np.sort(data["_t"].unique())
    wide = cells_mean.unstack("_t").reindex(index=units, columns=periods)
    Y = wide.to_numpy(dtype=float)  # units x periods, NaN where unobserved
    g_unit = data.groupby("_u", sort=False)["_g"].first().reindex(units).to_numpy()
    c_unit = data.groupby("_u", sort=False)["_c"].first().reindex(units)
    c_codes = pd.factorize(c_unit)[0]
    n_clusters = int(c_codes.max()) + 1
    g_idx = np.where(np.isfinite(g_unit), np.searchsorted(periods, g_unit, side="left"), np.inf)
    inside = g_idx < len(periods)  # first treated by the last period (between two: the next)
    ahead = f" (anticipation {anticipation:g})" if anticipation else ""
    reach = anticipation + _round_off_slack(periods, anticipation)
    # the anticipation rules read each unit's own first treated value, not the observed period
    # its cohort counts from: with a year missing, units first treated in it respond (with
    # anticipation 1) in the year before, which is then no clean base or control period
    early = inside & (g_unit <= periods[0] + reach)  # R's did: g <= first + anticipation
    if early.any():
        when = (f"by the first observed period plus the anticipation ({periods[0]:g} + "
                f"{anticipation:g} = {periods[0] + anticipation:g})"
                if anticipation else "from the first observed period")
        notes.append(
            f"{plural(early.sum(), 'unit')} treated {when} "
            f"{agree(int(early.sum()), 'has', 'have')} no pre-period and "
            f"{agree(int(early.sum()), 'is', 'are')} left out"
        )
        before = np.isfinite(g_unit) & (g_unit < periods[0])
        if before.any():
            notes.append(
                f"{int(before.sum())} of them have {first_treated!r} before the first period "
                f"{periods[0]:g} (e.g. {g_unit[before][0]:g}); if that value means never treated "
                "(R's did uses 0), blank it instead"
            )
    last = float(periods[-1])
    late = np.isfinite(g_unit) & ~inside & (g_unit > last + reach)
    if late.any():
        notes.append(f"{plural(late.sum(), 'unit')} first treated after the last period{ahead} "
                     f"{agree(int(late.sum()), 'counts', 'count')} as never")
    # first treated after the last period but within the anticipation of it: no post-treatment
    # period (no effect to estimate, no cohort) and they may respond by the last periods, so
    # never a never-treated control; as R's did, a not-yet-treated control in the cells that
    # end more than the anticipation before their first treated period
    pending = np.isfinite(g_unit) & ~inside & ~late
    if pending.any():
        n_pend = int(pending.sum())
        head = (f"{plural(n_pend, 'unit')} first treated after the last period {last:g} but "
                f"within the anticipation ({anticipation:g}) of it")
        if control == "never":
            notes.append(f"{head} {agree(n_pend, 'is', 'are')} left out: "
                         f"{agree(n_pend, 'it', 'they')} may respond already and "
                         f"{agree(n_pend, 'has', 'have')} no treated period")
        else:
            notes.append(f"{head} {agree(n_pend, 'has', 'have')} no treated period and may "
                         "respond already: not-yet-treated controls only in the cells ending "
                         "more than the anticipation before that first treated period (as R's "
                         "did), never as never treated")
    g_idx = np.where(inside, g_idx, np.inf)
    between = inside & ~early & ~np.isin(g_unit, periods)
    if between.any():  # their cohort's label and event times are those of the next period
        first = int(np.flatnonzero(between)[0])
        notes.append(
            f"{plural(between.sum(), 'unit')} first treated in a period with no rows (e.g. "
            f"{g_unit[first]:g}) {agree(int(between.sum()), 'is', 'are')} counted from the next "
            f"observed period ({periods[int(g_idx[first])]:g}) and join the cohort of that "
            "period; event times count observed periods")
    usable = ~early & ~(pending & (control == "never"))
    never = np.isinf(g_idx) & usable & ~pending
    if control == "never" and not never.any():
        hint = ""
        if np.any(np.isfinite(g_unit) & (g_unit < periods[0])):
            hint = (f" ({first_treated!r} has values before the first period {periods[0]:g}, "
                    "e.g. 0: if they mean never treated, as in R's did, blank them)")
        if pending.any():  # e.g. never treated coded as the period after the panel
            n_pend = int(pending.sum())
            hint += (f" ({plural(n_pend, 'unit')} first treated after the last period "
                     f"{last:g}, e.g. in {g_unit[pending][0]:g}, {agree(n_pend, 'is', 'are')} "
                     f"within the anticipation ({anticipation:g}) of it and may respond "
                     f"already, so only values after {last + anticipation:g} count as never "
                     f"treated; if {agree(n_pend, 'that value means', 'those values mean')} "
                     "never treated, blank them)")
        raise DataError(
            f"control='never' but no unit in {unit!r} is never treated{hint}; use "
            "control='notyet'"
        )
    cohorts = sorted({int(k) for k in g_idx[usable & np.isfinite(g_idx)]})
    if not cohorts:
        if early.any():  # treated units exist, but none has a period before its treatment
            raise DataError(
                f"first_treated column {first_treated!r}: every treated unit "
                f"({plural(int(early.sum()), 'unit')}) is treated from the first observed "
                f"period {periods[0]:g}{ahead} or before, so none has a pre-treatment period to "
                "compare with and no group-time effect exists"
                + ("; if a value before the first period means never treated (R's did uses "
                   "0), blank it" if np.any(early & (g_unit < periods[0])) else ""))
        raise DataError(f"first_treated column {first_treated!r}: no unit is ever treated in the data")

    cohort_key, period_key, event_key, deltas, treat_rows, ctrl_rows = [], [], [], [], [], []
    cell_cohort_list: list[int] = []
    skipped = 0
    for k_g in cohorts:
        in_g = usable & (g_idx == k_g)
        # the base of its post-treatment effects: the last period t with t + anticipation < g,
        # for the earliest first treated value among its units (those in a period with no rows
        # join it; with anticipation 0 this is the period before periods[k_g])
        k_pre = int(np.count_nonzero(periods + reach < g_unit[in_g].min())) - 1
        for k_t in range(len(periods)):
            if k_t >= k_g or base_period == "universal":
                k_b = k_pre
            else:
                k_b = k_t - 1
            if k_b < 0 or k_t == k_b:
                continue
            diff = Y[:, k_t] - Y[:, k_b]
            ok = np.isfinite(diff)
            if control == "never":
                ctrl = never & ok
            else:
                # untreated (and not yet responding) in both periods of the cell
                ctrl = (usable & ok & (g_unit > periods[max(k_t, k_b)] + reach)
                        & (g_idx != k_g))
            trt = in_g & ok
            if not trt.any() or not ctrl.any():
                skipped += 1
                continue
            cell_cohort_list.append(cohorts.index(k_g))
            cohort_key.append(float(periods[k_g]))
            period_key.append(float(periods[k_t]))
            event_key.append(k_t - k_g)
            deltas.append(np.where(ok, diff, 0.0))
            treat_rows.append(trt.astype(float))
            ctrl_rows.append(ctrl.astype(float))
    if skipped:
        notes.append(f"{plural(skipped, 'group-time cell')} had no treated or no control units "
                     f"and {agree(skipped, 'is', 'are')} skipped")
    if not cohort_key:
        raise EstimationError("no group-time effect is estimable: no cohort has usable controls")
    cells = _Cells(
        cohort_key, period_key, event_key, np.array(deltas), np.array(treat_rows), np.array(ctrl_rows)
    )
    cohort_member = np.array([usable & (g_idx == k) for k in cohorts], dtype=float)  # cohorts x U
    cell_cohort = np.array(cell_cohort_list)
    onehot = np.zeros((len(units), n_clusters))
    onehot[np.arange(len(units)), c_codes] = 1.0
    _warn_few_treated_clusters(cohort_member, onehot, [periods[k] for k in cohorts], notes)

    y_all = data["_y"].to_numpy()
    _require_within_arm_variation(cells, y_all)
    att, psi = _cell_influence(cells, onehot)
    share = cohort_member.sum(axis=1) / usable.sum()
    # influence of the estimated cohort shares: (1{unit in cohort} - share) / N
    indicator = (cohort_member - share[:, None]) * usable[None, :] / usable.sum()
    arms = np.where(np.isfinite(g_idx),
                    np.searchsorted(cohorts, np.where(np.isfinite(g_idx), g_idx, 0)), len(cohorts))
    arms = np.where(usable, arms, len(cohorts) + 1)  # left-out units: their own (empty) arm
    ev = np.array(event_key)
    event_times = np.unique(ev)

    scale = float(np.abs(y_all - y_all.mean()).max())
    round_off: list[float] = []
    no_df: list[float] = []

    def infer(est: float, infl: np.ndarray, unit_arms: np.ndarray = arms) -> dict[str, float]:
        var, dof = _variance_and_df(infl, c_codes, unit_arms)
        se = math.sqrt(var) if var >= 0 else math.nan
        if se <= _ROUND_OFF * scale:  # no spread within its arms: no SE, not a 1e-16 one
            round_off.append(est)
            se = math.nan
        elif math.isfinite(se) and not math.isfinite(dof):
            # an arm of one cluster: its part of the variance cannot be estimated, so no SE, as
            # a cell's (sqrt(G/(G - 1)) is undefined there); an SE without df or interval was
            # given and read as a precise estimate beside cells that had all three
            no_df.append(est)
            se = math.nan
        lo, hi, p = (float(v) for v in wald(est, se, dof, alpha))
        if not math.isfinite(se):
            lo = hi = p = math.nan
        return {"estimate": est, "se": se, "ci_low": lo, "ci_high": hi, "p_value": p, "df": dof}

    # a cell's own arms are its treated cohort and its control group as a whole (the control
    # mean is pooled over never- and not-yet-treated units); an aggregate's are the units' cohorts
    cell_arms = np.where(cells.treated > 0, 0, np.where(cells.control > 0, 1, 2))
    cell_rows = [infer(float(att[k]), psi[k], cell_arms[k]) for k in range(att.size)]
    lone_control = int((_cluster_counts(cells.control, onehot) < 2).sum())
    if lone_control:
        ck.warn(f"{plural(lone_control, 'group-time effect')} "
                f"{agree(lone_control, 'has', 'have')} a single control cluster: no standard "
                "error exists for them, nor for any aggregate they enter", notes)
    att_gt = pd.DataFrame(
        {
            "group": cohort_key,
            "time": period_key,
            "event_time": event_key,
            "att": att,
            **{c: [r[c] for r in cell_rows] for c in ("se", "ci_low", "ci_high", "p_value", "df")},
            "n_treated": cells.treated.sum(axis=1).astype(int),
            "n_control": cells.control.sum(axis=1).astype(int),
        }
    )
    pooled = len(cohorts)  # the never treated's arm, and the pooled controls'

    def aggregate_arms(select: np.ndarray) -> np.ndarray:
        """An aggregate's arms by the cells' rule: units that are controls in its cells and
        treated in none are one control arm, as in each cell (not yet treated cohorts beside
        the never treated); the others their cohort. With never-treated controls this is the
        units' cohorts; with not-yet-treated ones an event time of one cell had that cell's
        SE but no df (the never treated, one school, counted as an arm of its own)."""
        control = (cells.control[select] > 0).any(axis=0) & ~(cells.treated[select] > 0).any(axis=0)
        return np.where(control, pooled, arms)

    es_rows, es_infl_rows = [], []
    for e in event_times:
        est, infl = _aggregate(att, psi, cell_cohort, ev == e, share, indicator)
        es_rows.append(infer(est, infl, aggregate_arms(ev == e)))
        es_infl_rows.append(infl)
    es_infl = np.array(es_infl_rows)  # event times x units
    event_study = pd.DataFrame(es_rows)
    event_study.insert(0, "event_time", event_times.astype(int))

    # simultaneous band: multiplier bootstrap of the sup-t statistic over event times
    rng = np.random.default_rng(seed)
    cluster_infl = es_infl @ onehot  # event times x clusters
    se_es = event_study["se"].to_numpy()
    df_es = event_study["df"].to_numpy(dtype=float)
    ok = np.isfinite(se_es) & (se_es > 0) & np.isfinite(df_es)  # the event times with an interval
    band_crit = math.nan
    # the band's quantile, 1 - alpha of the draws, lies beyond the largest one with fewer than
    # 1/alpha draws: np.quantile then gives the largest, and the band is too narrow for its level
    # (as the risk curves' percentile intervals need min_replicates)
    fewest = math.ceil(1 / Decimal(repr(alpha)))
    if ok.any() and n_boot < fewest:
        ck.warn(f"n_boot={n_boot:,} draws are too few for a simultaneous band at alpha="
                f"{alpha:g}: its quantile needs at least {fewest:,} (1/alpha), so that a draw "
                "lies beyond it; no band is given (NaN), the pointwise intervals stand", notes)
    elif ok.any():
        tmax = _sup_t(rng, n_boot, cluster_infl[ok], se_es[ok])
        q = float(np.quantile(tmax, 1 - alpha))
        df_min = float(df_es[ok].min())
        # the bootstrap quantile is on the normal scale; the same tail probability on t(df)
        band_crit = float(sps.t.ppf(sps.norm.cdf(q), df_min))
        # a sup over event times is at least each one's |t|: a quantile below the pointwise
        # critical value is Monte-Carlo error or the lumpy multiplier law of few clusters
        # (one event time, 21 units: a band 61% of the pointwise interval's width); as R's did
        pointwise = critical_value(alpha, df_min)
        if band_crit < pointwise:
            ck.warn(f"the simultaneous band's bootstrap critical value ({band_crit:.3g}) fell "
                    f"below the pointwise one ({pointwise:.3g}), which a band over "
                    f"{plural(int(ok.sum()), 'event time')} cannot be: the band is given as the "
                    "pointwise intervals (as R's did does); more draws (n_boot) or clusters "
                    "sharpen it", notes)
            band_crit = pointwise
    half = np.where(ok, band_crit * se_es, math.nan)
    event_study["band_low"] = event_study["estimate"] - half
    event_study["band_high"] = event_study["estimate"] + half
    event_study["n_cohorts"] = [
        len({cohort_key[i] for i in np.flatnonzero(ev == e)}) for e in event_times
    ]

    post = ev >= 0
    rows = []
    if post.any():
        est, infl = _aggregate(att, psi, cell_cohort, post, share, indicator)
        rows.append({"aggregate": "simple", **infer(est, infl, aggregate_arms(post))})
        post_e = event_times >= 0
        dyn_infl = es_infl[post_e].mean(axis=0)
        rows.append({"aggregate": "dynamic",
                     **infer(float(event_study["estimate"].to_numpy()[post_e].mean()), dyn_infl,
                             aggregate_arms(post))})
    else:
        notes.append("no post-treatment cell is estimable: no overall ATT")
        nan = dict.fromkeys(("estimate", "se", "ci_low", "ci_high", "p_value", "df"), math.nan)
        rows += [{"aggregate": "simple", **nan}, {"aggregate": "dynamic", **nan}]
    if no_df:
        ck.warn(f"{plural(len(no_df), 'effect or aggregate', 'effects or aggregates')} "
                f"{agree(len(no_df), 'rests', 'rest')} on an arm (a cohort, or the controls "
                "treated in none of its cells) with a single cluster: that arm's part of the "
                "variance cannot be estimated from one cluster, so no standard error, interval, "
                "p-value or band is given (as for a cell whose cohort or controls lie in one "
                "cluster); more clusters are needed in that arm", notes)
    if round_off:
        ck.warn(f"{plural(len(round_off), 'effect or aggregate', 'effects or aggregates')} "
                f"{agree(len(round_off), 'has', 'have')} no variation within their "
                "treated and control arms: their standard error is zero up to round-off and is "
                "reported as missing (NaN)", notes)
    aggregates = pd.DataFrame(rows).set_index("aggregate")
    overall = aggregates.loc["simple"].copy()
    overall.name = "overall ATT"
    notes = list(dict.fromkeys(notes))
    return GroupTimeResult(
        att_gt=att_gt,
        event_study=event_study,
        overall=overall,
        aggregates=aggregates,
        control=control,
        base_period=base_period,
        n_boot=n_boot,
        seed=seed,
        alpha=alpha,
        n_units=int(usable.sum()),
        n_clusters=int(np.unique(c_codes[usable]).size),  # of the units used
        missing=missing,
        outcome=outcome,
        notes=notes,
        anticipation=anticipation,
    )

