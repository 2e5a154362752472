"""GEE's cluster-robust SE is Mancl & DeRouen's bias-reduced sandwich, written out by hand.

Until now the only checks were that srmsim's SE equals statsmodels' ``cov_type="bias_reduced"``
(the very call srmsim makes) and a slow coverage study; here the variance is built from its
definition (Mancl & DeRouen 2001, Biometrics 57:126-134) for a Gaussian GEE with an
exchangeable working correlation, on unequal schools with a covariate:

    B = sum_g X_g' V_g^-1 X_g,  H_g = X_g B^-1 X_g' V_g^-1,
    V = B^-1 [sum_g X_g' V_g^-1 (I - H_g)^-1 r_g r_g' (I - H_g)'^-1 V_g^-1 X_g] B^-1,

with V_g = (1 - a) I + a 11' (the scale cancels). The plain (Liang-Zeger) sandwich, without
(I - H_g)^-1, is smaller: the correction is what srmsim reports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from srmsim import stats


def unequal_schools(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(6, 30, 9)
    school = np.repeat(np.arange(9), sizes)
    arm = np.where(np.isin(school, rng.permutation(9)[:4]), "mentor", "control")
    prior = rng.normal(size=school.size)
    u = rng.normal(0, 0.5, 9)[school]
    y = 0.3 * (arm == "mentor") + 0.6 * prior + u + rng.normal(size=school.size)
    return pd.DataFrame({"score": y, "arm": arm, "school": school, "prior": prior})


def mancl_derouen(X: np.ndarray, y: np.ndarray, groups: np.ndarray, beta: np.ndarray,
                  alpha: float, corrected: bool = True) -> np.ndarray:
    """The GEE sandwich by its definition (identity link, exchangeable correlation)."""
    blocks = []
    for g in np.unique(groups):
        sel = groups == g
        m = int(sel.sum())
        V = (1 - alpha) * np.eye(m) + alpha * np.ones((m, m))
        blocks.append((X[sel], y[sel] - X[sel] @ beta, np.linalg.inv(V)))
    bread = sum(Xg.T @ Vi @ Xg for Xg, _, Vi in blocks)
    B_inv = np.linalg.inv(bread)
    meat = np.zeros_like(bread)
    for Xg, rg, Vi in blocks:
        if corrected:
            H = Xg @ B_inv @ Xg.T @ Vi
            rg = np.linalg.solve(np.eye(len(rg)) - H, rg)
        s = Xg.T @ Vi @ rg
        meat += np.outer(s, s)
    return B_inv @ meat @ B_inv


@pytest.mark.parametrize("seed", [3, 11])
def test_the_gee_se_is_the_bias_reduced_sandwich_by_its_definition(seed: int) -> None:
    df = unequal_schools(seed)
    est = stats.estimate_effect(df, "score", "arm", "control", covariates=["prior"],
                                cluster="school", method="gee")
    X = np.column_stack([np.ones(len(df)), (df["arm"] == "mentor").to_numpy(float),
                         df["prior"].to_numpy()])
    y = df["score"].to_numpy()
    # the fitted coefficients and working correlation (the sandwich is what is checked)
    fit = sm.GEE(y, X, groups=df["school"].to_numpy(),
                 cov_struct=sm.cov_struct.Exchangeable()).fit(maxiter=200, ctol=1e-10)
    alpha = float(fit.model.cov_struct.dep_params)
    beta = np.asarray(fit.params)
    assert 0 < alpha < 1  # a real school effect: the working correlation is not trivial
    assert est.effect()["estimate"] == pytest.approx(beta[1], rel=1e-6)
    md = np.sqrt(np.diag(mancl_derouen(X, y, df["school"].to_numpy(), beta, alpha)))
    plain = np.sqrt(np.diag(mancl_derouen(X, y, df["school"].to_numpy(), beta, alpha,
                                          corrected=False)))
    assert est.effect()["se"] == pytest.approx(md[1], rel=1e-5)
    assert md[1] > 1.05 * plain[1]  # the correction matters at 9 schools
    # and its interval uses t with G - 1 = 8 df
    assert est.effect()["df"] == 8
