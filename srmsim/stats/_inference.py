"""Small inference helpers: t intervals, Wilson intervals, cluster sandwiches, between-within df.

Kept apart from the estimators so every method turns (estimate, se, df) into an interval and a
p-value the same way; ``df=None`` means a normal reference distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

#: below this significance level quantiles come from the upper tail (``isf``): 1 - alpha/2
#: rounds to 1 below about 1e-16, where ``ppf`` gives an infinite interval; at and above it
#: ``ppf(1 - alpha/2)`` as always (the bits of every published figure srmsim reproduces)
TAIL_ALPHA = 1e-6


def _upper(dist: Any, alpha: float, *df: Any) -> Any:
    """The two-sided upper quantile of ``dist`` (scipy's norm or t, with its ``df``)."""
    if alpha < TAIL_ALPHA:
        return dist.isf(alpha / 2, *df)
    return dist.ppf(1 - alpha / 2, *df)


def critical_value(alpha: float, df: float | None) -> float:
    """Two-sided critical value: t(1 - alpha/2, df), or normal when df is None or +inf. A NaN
    df (not estimable) gives NaN, as in :func:`wald`: the results' ``conf_int()`` read it and
    turned a missing df into a normal interval."""
    if df is None or math.isinf(df) and df > 0:
        return float(_upper(sps.norm, alpha))
    if not df > 0:  # NaN, 0 or negative: no t distribution
        return math.nan
    return float(_upper(sps.t, alpha, df))


def wald(
    estimate: np.ndarray | float, se: np.ndarray | float, df: np.ndarray | float | None,
    alpha: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CI bounds and two-sided p-value for estimate/se with t(df) (or normal) reference; ``df``
    may be one per estimate (CR2's Bell-McCaffrey df), None or +inf for the normal. A NaN df
    (not estimable) gives NaN bounds and p-value: it is not a licence to use the normal. So does
    an SE that is zero, negative or not finite: its interval would have zero width and p = 0."""
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    dof = np.asarray(math.inf if df is None else df, dtype=float)
    normal = np.isposinf(dof)
    t_df = np.where(normal, 1.0, dof)  # any finite stand-in: the normal's value is taken there
    se = np.where(np.isfinite(se) & (se > 0), se, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.abs(est / se)
        crit = np.where(normal, _upper(sps.norm, alpha), _upper(sps.t, alpha, t_df))
        p = np.where(normal, 2 * sps.norm.sf(stat), 2 * sps.t.sf(stat, t_df))
    return est - crit * se, est + crit * se, p


def wilson(successes: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a proportion: behaves near 0 and 1, unlike the Wald interval."""
    if n <= 0:
        return (math.nan, math.nan)
    z = float(_upper(sps.norm, alpha))
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    # none (all) of n: the bound is exactly 0 (1), which centre -+ half reaches only up to
    # rounding (60 of 60 gave 0.9999999999999998, printed ">99.9%" for a certain 100%)
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return (low, high)


def cluster_sandwich(
    X: np.ndarray, resid: np.ndarray, codes: np.ndarray, bread: np.ndarray, k: int
) -> np.ndarray:
    """CR1 cluster-robust covariance: bread (sum_g s_g s_g') bread * G/(G-1) * (N-1)/(N-k).

    ``X`` and ``resid`` are already weighted as the estimator needs (e.g. kernel weights in RDD);
    ``bread`` is (X'WX)^-1. This is Stata's small-sample factor, the usual choice with few schools.
    """
    scores = X * resid[:, None]
    G = int(codes.max()) + 1
    summed = np.zeros((G, X.shape[1]))
    np.add.at(summed, codes, scores)
    meat = summed.T @ summed
    n = X.shape[0]
    factor = (G / (G - 1)) * ((n - 1) / (n - k)) if G > 1 and n > k else math.nan
    return factor * bread @ meat @ bread


def between_within_df(X: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Between-within denominator df per column (SAS DDFM=BETWITHIN) for random-intercept models.

    A term constant within every cluster (a school-level treatment, the intercept) is informed by
    the G clusters: df = G - p_between. A term varying within clusters is informed by students:
    df = N - G - p_within. With a handful of schools this stops a school-level effect from being
    judged against thousands of student degrees of freedom. A df of 0 or less is returned as it
    is (not raised to 1): the term is then not identified apart from the random intercept, and
    the caller refuses it (:func:`srmsim.stats.mixed.fixed_effects_table`).
    """
    n, p = X.shape
    G = int(codes.max()) + 1
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    is_between = np.empty(p, dtype=bool)
    for j in range(p):
        col = X[order, j]
        lo = np.minimum.reduceat(col, starts)
        hi = np.maximum.reduceat(col, starts)
        # relative to the column's own size: "1 + |hi|" made a covariate in small units (prior
        # attainment / 1e13) look constant within clusters, and its df fell from N - G - p to G - p
        is_between[j] = bool(np.all(np.abs(hi - lo) <= 1e-12 * float(np.abs(col).max())))
    p_between = int(is_between.sum())
    p_within = p - p_between
    return np.where(is_between, G - p_between, n - G - p_within).astype(float)


CR2_BELOW = 30
"""Fewer clusters than this and a cluster-robust OLS analysis chosen for the user
(:func:`cluster_se_for`) is CR2 with Bell-McCaffrey df: CR1 with t(G - 1) under-covers there
(93% for a 95% interval in 400 trials of 8 schools, ICC 0.2; CR2 96%); from about 30 clusters
the two agree."""


def cluster_se_for(n_clusters: int) -> str:
    """The cluster-robust OLS ``se`` for a design with ``n_clusters`` clusters: "cr2" below
    :data:`CR2_BELOW`, else "cluster" (CR1, the figure published analyses print)."""
    return "cr2" if n_clusters < CR2_BELOW else "cluster"


#: what :func:`few_clusters_cr1_note` quotes: CR1's and CR2's coverage with few schools
CR1_MEASURED = ("95% intervals of a school-randomised effect covered the truth in 86% of "
                "simulated trials of 4 schools, 90% of 6 and 92% of 10", "94-95%")


def few_clusters_cr1_note(n_clusters: int, df: float, two_way: bool = False,
                          measured: tuple[str, str] = CR1_MEASURED) -> str:
    """The note of a CR1 analysis with fewer than :data:`CR2_BELOW` clusters ("" from there);
    ``measured``: CR1's coverage in words and CR2's in the same study.

    Why: "only 4 clusters: intervals rely on small-sample t df" read as if t(G - 1) repaired
    CR1, but its 95% intervals of a school-randomised effect covered the truth in 86% of 600
    simulated trials of 4 schools, 90% of 6 and 92% of 10 (2-5 schools an arm, 10-39 pupils
    each, ICC 0.2); CR2 with Bell-McCaffrey df covered 95%, 94% and 94%."""
    if n_clusters >= CR2_BELOW:
        return ""
    text = (f"only {n_clusters} clusters: CR1 with t({df:g}) gives intervals too narrow with "
            f"few clusters ({measured[0]})")
    if two_way:
        return text + "; two-way CR1 has no small-sample correction here: read them as too narrow"
    return text + f"; se='cr2' (CR2 with Bell-McCaffrey df) covered {measured[1]} in the same study"


#: 1 - leverage at or below this is a singular direction of I - H_gg (a dummy of the cluster
#: itself, a row that fits exactly): its adjustment is the pseudo-inverse's 0, not 1/sqrt(~0)
_SINGULAR = 1e-10


def _cr2_adjust(lam: np.ndarray) -> np.ndarray:
    """(1 - lam)^(-1/2) for the eigenvalues lam of H_gg, 0 where 1 - lam is 0 (pseudo-inverse)."""
    gap = 1.0 - np.clip(lam, 0.0, 1.0)
    return np.where(gap > _SINGULAR, 1.0 / np.sqrt(np.where(gap > _SINGULAR, gap, 1.0)), 0.0)


def cr2_sandwich(
    X: np.ndarray, resid: np.ndarray, codes: np.ndarray, terms: Sequence[int] | None = None,
    back: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """CR2 (bias-reduced linearisation) covariance of OLS and Bell-McCaffrey df per coefficient.

    Why: with few clusters CR1 is biased down and t(G - 1) does not repair it (a 95% interval
    covered about 93% with 8 schools). CR2 (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018,
    clubSandwich ``vcovCR(type="CR2")``) adjusts each cluster's residuals by
    A_g = (I - H_gg)^(-1/2), so the variance is unbiased when errors are iid (the working
    model); singular blocks (a cluster's own dummy) use the pseudo-inverse square root. The df
    of coefficient j is Satterthwaite's for c'V c under that working model (clubSandwich
    ``coef_test(test="Satterthwaite")``): (sum_g u_g'u_g)^2 / sum_gh (u_g'u_h)^2 with
    u_g = (I - H)_g' A_g X_g M e_j.

    Computed with X's thin QR factor (X = QR, H_gg = Q_g Q_g'): each cluster costs the
    eigen-decomposition of Q_g'Q_g (p x p) or of H_gg (n_g x n_g), whichever is smaller. ``X``
    must have full column rank (callers check it); ``terms`` picks the columns whose df are wanted (others are NaN).
    ``back``: a (p, p) matrix such that ``X @ back`` spans the same space better conditioned
    (:func:`~srmsim.stats.regression.centring`); the factorisation is of ``X @ back`` and the
    results are re-expressed for X's own columns (X = (X back) back^-1, so X's R^-1 is
    back R_c^-1). Returns (covariance, df).
    """
    X = np.asarray(X, dtype=float)
    resid = np.asarray(resid, dtype=float)
    p = X.shape[1]
    wanted = list(range(p)) if terms is None else list(terms)
    q, r = np.linalg.qr(X if back is None else X @ back)
    r_inv = np.linalg.solve(r, np.eye(p))  # M = (X'X)^-1 = r_inv r_inv'
    if back is not None:
        r_inv = back @ r_inv
    if int(codes.max()) + 1 == codes.size:  # every row its own cluster: HC2, without a loop
        return _hc2(q, r_inv, resid, wanted)
    scores = np.zeros((int(codes.max()) + 1, p))
    # per cluster (L, K) with w_g = A_g Q_g c~ = L c~ and zeta_g = Q_g'w_g = K w_g, from the
    # smaller of the two eigen-decompositions (at most 2 N p numbers in all)
    factors: list[tuple[np.ndarray, np.ndarray]] = []
    order = np.argsort(codes, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(codes[order])) + 1, len(order)]
    for lo, hi in zip(starts[:-1], starts[1:], strict=True):
        rows = order[lo:hi]
        qg = q[rows]
        if len(rows) < p:  # H_gg = Q_g Q_g' itself, n_g x n_g: A_g = U diag(adjust) U'
            lam, vec = np.linalg.eigh(qg @ qg.T)
            adjust = _cr2_adjust(lam)
            a_q = vec @ (adjust[:, None] * (vec.T @ qg))  # A_g Q_g
            scores[codes[rows[0]]] = a_q.T @ resid[rows]
            factors.append((a_q, qg.T))
        else:  # Q_g'Q_g = V diag(lam) V' has H_gg's non-zero eigenvalues: A_g Q_g V = Q_g V adjust
            lam, vec = np.linalg.eigh(qg.T @ qg)
            adjust = _cr2_adjust(lam)
            root = np.sqrt(np.clip(lam, 0.0, 1.0))
            scores[codes[rows[0]]] = vec @ (adjust * (vec.T @ (qg.T @ resid[rows])))
            factors.append(((root * adjust)[:, None] * vec.T, vec * root))
    cov = r_inv @ (scores.T @ scores) @ r_inv.T
    # positive semi-definite by construction: a negative variance is round-off of a 0 (a
    # cluster's own dummy, which the clusters say nothing about), and sqrt would make it NaN
    np.fill_diagonal(cov, np.maximum(np.diag(cov), 0.0))
    df = np.full(p, math.nan)
    chunk = max(1, 2**22 // (p * p))  # terms at a time: their p x p sums stay within 32 MB
    for first in range(0, len(wanted), chunk):
        cols = wanted[first:first + chunk]
        c_tilde = r_inv.T[:, cols]  # R^-T e_j: coefficient j as a contrast in Q space
        k = len(cols)
        w2_sum, zeta2_sum, w2_sq, cross = (np.zeros(k) for _ in range(4))
        zz = np.zeros((k, p, p))  # sum_g zeta_g zeta_g'
        for left, back in factors:
            w = left @ c_tilde
            w2 = (w**2).sum(axis=0)  # w_g'w_g
            zeta = back @ w  # p x k
            z2 = (zeta**2).sum(axis=0)
            w2_sum += w2
            zeta2_sum += z2
            w2_sq += w2**2
            cross += w2 * z2
            zz += np.einsum("pj,qj->jpq", zeta, zeta)
        # Gram matrix of the u_g: diag(w_g'w_g) - zeta_g'zeta_h, so its trace and squared norm
        # follow from the sums above without forming it
        trace = w2_sum - zeta2_sum
        frob = w2_sq - 2.0 * cross + np.einsum("jpq,jpq->j", zz, zz)
        with np.errstate(divide="ignore", invalid="ignore"):
            df[cols] = trace**2 / frob
    return cov, df


def _hc2(q: np.ndarray, r_inv: np.ndarray, resid: np.ndarray,
         wanted: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cr2_sandwich` when every row is its own cluster (HC2), vectorised: the loop over
    clusters cost about 0.1 ms a row, two minutes for a million rows (an RDD without clusters).
    Same formulas with H_gg = h_i: a_i = (1 - h_i)^(-1/2), w_i = a_i q_i'c~, zeta_i = q_i w_i,
    so trace = sum w_i^2 (1 - h_i) and the squared norm sum w_i^4 (1 - 2 h_i) +
    ||Q' diag(w^2) Q||_F^2."""
    h = np.einsum("ij,ij->i", q, q)
    adjust = _cr2_adjust(h)
    scores = q * (adjust * resid)[:, None]
    cov = r_inv @ (scores.T @ scores) @ r_inv.T
    np.fill_diagonal(cov, np.maximum(np.diag(cov), 0.0))
    p = q.shape[1]
    df = np.full(p, math.nan)
    chunk = max(1, 2**22 // (p * p))
    for first in range(0, len(wanted), chunk):
        cols = list(wanted[first:first + chunk])
        w2 = ((q @ r_inv.T[:, cols]) * adjust[:, None]) ** 2  # n x k
        trace = (w2 * (1.0 - h)[:, None]).sum(axis=0)
        gram = np.einsum("ip,ij,iq->jpq", q, w2, q)  # Q' diag(w^2) Q per term
        frob = (w2**2 * (1.0 - 2.0 * h)[:, None]).sum(axis=0) + np.einsum("jpq,jpq->j", gram,
                                                                           gram)
        with np.errstate(divide="ignore", invalid="ignore"):
            df[cols] = trace**2 / frob
    return cov, df


def paired_ratio_interval(difference: np.ndarray, baseline: np.ndarray,
                          t: float) -> tuple[float, float]:
    """Fieller's interval for ``mean(difference) / mean(baseline)`` from paired observations
    (a relative change: variant minus baseline over the baseline, replication by replication).

    Why Fieller and not difference-interval / baseline mean: the baseline mean is estimated
    too, from the same replications, and a ratio's sampling distribution is skewed. The set is
    every theta whose paired t statistic of ``difference - theta * baseline`` is within ``t``
    (exact under normality, whatever the correlation of the pairs): a bounded interval only
    when the baseline mean is itself clearly away from zero (``mean^2 > t^2 var / n``), else
    (nan, nan), for the ratio could then be any size (so too where an end is beyond the
    largest float). ``t`` is the t quantile of the
    difference's own interval (n - 1 degrees of freedom)."""
    d = np.asarray(difference, dtype=float)
    b = np.asarray(baseline, dtype=float)
    n = len(d)
    if n < 2 or len(b) != n or not (math.isfinite(t) and np.isfinite(d).all()
                                    and np.isfinite(b).all()):
        return (math.nan, math.nan)
    # each series on its own scale (largest size 1): divided by the baseline mean alone, the
    # differences' squares underflowed (differences 1e-160 of the baseline: an interval of no
    # width, without the estimate) or overflowed (a baseline of 1e-300: NaN); the interval of
    # the scaled ratio is the ratio's over scale_d / scale_b (t statistics do not see scales)
    scale_d = float(np.abs(d).max()) or 1.0
    scale_b = float(np.abs(b).max()) or 1.0
    d, b = d / scale_d, b / scale_b
    mean_b = float(b.mean())
    if mean_b == 0:
        return (math.nan, math.nan)
    theta = float(d.mean()) / mean_b
    # variances of the means, relative to the baseline mean (scale-free: costs in pounds and
    # shares alike)
    cov = np.cov(np.vstack([d, b]) / mean_b, ddof=1) / n
    w_dd, w_db, w_bb = float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])
    g = t * t * w_bb
    if not g < 1:  # the baseline mean is not clearly away from zero: unbounded
        return (math.nan, math.nan)
    # the residuals' variance at the estimate, from the residuals themselves (no cancellation)
    r = (d - theta * b) / mean_b
    q = float(np.var(r, ddof=1)) / n
    det = max(w_bb * w_dd - w_db * w_db, 0.0)
    root = t * math.sqrt(max(q - t * t * det, 0.0))
    centre = theta - t * t * w_db
    with np.errstate(over="ignore", under="ignore"):
        ends = np.array([centre - root, centre + root]) / (1 - g)
        ratio = scale_d / scale_b
        ends = ends * ratio if np.isfinite(ratio) and ratio >= np.finfo(float).tiny \
            else ends * scale_d / scale_b
    if not np.isfinite(ends).all():  # an end beyond the largest float
        return (math.nan, math.nan)
    return (float(ends[0]), float(ends[1]))
