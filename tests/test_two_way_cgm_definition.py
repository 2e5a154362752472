"""Two-way clustered SEs are Cameron, Gelbach & Miller's V_a + V_b - V_ab, written out by hand.

srmsim labels them "two-way cluster-robust (CGM, CR1 each)": each of the three one-way
sandwiches (by the first column, by the second, by their intersection) carries its own CR1
factor G/(G - 1) x (N - 1)/(N - k), and the t interval has min(G_a, G_b) - 1 df (Cameron,
Gelbach & Miller 2011, J. Business & Economic Statistics 29:238-249). The other tests compare
with statsmodels, whose covariance srmsim asks for; this one builds it from the definition, on
an unbalanced panel (not every school in every term, schools of unequal size).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from srmsim import stats


def panel(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for school in range(14):
        for term in range(6):
            if rng.random() < 0.2:
                continue  # this school has no pupils recorded that term
            for _ in range(int(rng.integers(2, 9))):
                rows.append((school, term))
    df = pd.DataFrame(rows, columns=["school", "term"])
    a = rng.normal(size=14)[df["school"]]
    b = rng.normal(size=6)[df["term"]]
    df["x"] = 0.5 * a + rng.normal(size=len(df))
    df["y"] = 0.3 * df["x"] + a + b + rng.normal(size=len(df))
    return df


def cr1(X: np.ndarray, e: np.ndarray, groups: np.ndarray) -> np.ndarray:
    n, k = X.shape
    labels = np.unique(groups, return_inverse=True)[1]
    G = labels.max() + 1
    scores = np.zeros((G, k))
    np.add.at(scores, labels, X * e[:, None])
    bread = np.linalg.inv(X.T @ X)
    return G / (G - 1) * (n - 1) / (n - k) * bread @ scores.T @ scores @ bread


@pytest.mark.parametrize("seed", [1, 2])
def test_two_way_se_is_cgm_with_cr1_in_each_part(seed: int) -> None:
    df = panel(seed)
    fit = stats.regress(df, "y ~ x", se="cluster", cluster=["school", "term"])
    X = np.column_stack([np.ones(len(df)), df["x"].to_numpy()])
    y = df["y"].to_numpy()
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    e = y - X @ beta
    both = df["school"].to_numpy() * 100 + df["term"].to_numpy()
    V = cr1(X, e, df["school"].to_numpy()) + cr1(X, e, df["term"].to_numpy()) - cr1(X, e, both)
    se = np.sqrt(np.diag(V))
    row = fit.coef("x")
    assert row["estimate"] == pytest.approx(beta[1], rel=1e-10)
    assert row["se"] == pytest.approx(se[1], rel=1e-9)
    assert row["df"] == 6 - 1  # the fewer clusters (6 terms) less one
    t = sps.t.ppf(0.975, 5)
    assert row["ci_low"] == pytest.approx(beta[1] - t * se[1], rel=1e-9)
    assert row["ci_high"] == pytest.approx(beta[1] + t * se[1], rel=1e-9)
