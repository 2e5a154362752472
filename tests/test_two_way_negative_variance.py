"""Two-way clustering with few clusters: a negative CGM variance is named as the cause.

Cameron, Gelbach & Miller's V_a + V_b - V_ab (statsmodels' two-way "cluster" covariance, R's
sandwich without an eigenvalue fix) can be negative with 3 and 4 clusters; the SE is then NaN,
and both functions said only "non-finite ... standard errors"."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.linear_model import OLS

from srmsim import stats
from srmsim.errors import EstimationError


def panel(seed: int, binary: bool) -> pd.DataFrame:
    """3 schools x 4 terms, one student each: the draws of the seeds found to give a negative
    CGM variance (checked against statsmodels below, so a change of draws fails loudly)."""
    rng = np.random.default_rng(seed)
    school, term = np.repeat(np.arange(3), 4), np.tile(np.arange(4), 3)
    if binary:
        x = (rng.random(12) < 0.5).astype(float)
        y = rng.normal(size=12)
    else:
        x = rng.normal(size=12)
        y = 0.5 * x + rng.normal(size=12)
    return pd.DataFrame({"school": school, "term": term, "x": x, "y": y,
                         "arm": np.where(x == 1, "tutoring", "none")})


def cgm_variances(df: pd.DataFrame, column: str) -> np.ndarray:
    X = np.column_stack([np.ones(len(df)), df[column].to_numpy(float)])
    res = OLS(df["y"].to_numpy(), X).fit(
        cov_type="cluster", cov_kwds={"groups": df[["school", "term"]].to_numpy(),
                                      "use_correction": True, "df_correction": True})
    return np.diag(res.cov_params())


def test_regress_names_the_negative_two_way_variance() -> None:
    df = panel(8, binary=False)
    assert cgm_variances(df, "x")[1] < 0 < cgm_variances(df, "x")[0]  # the slope's, by statsmodels
    with pytest.raises(EstimationError, match=r"non-finite estimates or standard errors: the "
                       r"two-way cluster-robust \(CGM\) variance of 'x' is negative .*cluster "
                       r"by one column"):
        stats.regress(df, "y ~ x", se="cluster", cluster=["school", "term"])
    # one way, the same data have an SE
    assert stats.regress(df, "y ~ x", se="cluster", cluster="school").coef("x")["se"] > 0


def test_estimate_effect_names_it_for_the_arm() -> None:
    df = panel(4, binary=True)
    assert cgm_variances(df, "x")[1] < 0
    with pytest.raises(EstimationError, match=r"effect of 'arm' is not estimable .*: the two-way "
                       r"cluster-robust \(CGM\) variance of 'arm\[tutoring\]' is negative"):
        stats.estimate_effect(df, "y", "arm", "none", cluster=["school", "term"], se="cluster")


def test_no_cause_is_named_where_the_variances_are_positive() -> None:
    from srmsim.stats.regression import negative_cgm_cause

    df = panel(8, binary=False)
    X = np.column_stack([np.ones(12), df["x"]])
    assert negative_cgm_cause(OLS(df["y"].to_numpy(), X).fit(), ["const", "x1"]) == ""
    fit = OLS(df["y"].to_numpy(), X).fit(
        cov_type="cluster", cov_kwds={"groups": df[["school", "term"]].to_numpy(),
                                      "use_correction": True, "df_correction": True})
    assert "'x1'" in negative_cgm_cause(fit, ["const", "x1"])
    assert negative_cgm_cause(fit, ["const"]) == ""  # the intercept's is positive here


@pytest.mark.parametrize("call", ["regress", "estimate_effect"])
def test_the_error_comes_without_numpys_sqrt_warning(call: str) -> None:
    """statsmodels' ``bse`` took the square root of the negative variance and printed
    "invalid value encountered in sqrt" above srmsim's own error, which names the cause."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(EstimationError, match="is negative"):
            if call == "regress":
                stats.regress(panel(8, binary=False), "y ~ x", se="cluster",
                              cluster=["school", "term"])
            else:
                stats.estimate_effect(panel(4, binary=True), "y", "arm", "none",
                                      cluster=["school", "term"], se="cluster")
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
