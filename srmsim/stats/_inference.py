"""Small inference helpers: t intervals, Wilson intervals, cluster sandwiches, between-within df.

Kept apart from the estimators so every method turns (estimate, se, df) into an interval and a
p-value the same way; ``df=None`` means a normal reference distribution.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps


def critical_value(alpha: float, df: float | None) -> float:
    """Two-sided critical value: t(1 - alpha/2, df), or normal when df is None/infinite."""
    if df is None or not math.isfinite(df):
        return float(sps.norm.ppf(1 - alpha / 2))
    return float(sps.t.ppf(1 - alpha / 2, df))


def wald(
    estimate: np.ndarray | float, se: np.ndarray | float, df: float | None, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CI bounds and two-sided p-value for estimate/se with t(df) (or normal) reference."""
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    crit = critical_value(alpha, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    if df is None or not math.isfinite(df):
        p = 2 * sps.norm.sf(np.abs(stat))
    else:
        p = 2 * sps.t.sf(np.abs(stat), df)
    return est - crit * se, est + crit * se, p


def wilson(successes: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a proportion: behaves near 0 and 1, unlike the Wald interval."""
    if n <= 0:
        return (math.nan, math.nan)
    z = float(sps.norm.ppf(1 - alpha / 2))
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


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
